"""Statistics of a sweep's report: the spread and 95 % t-interval of a point's mean over seeds, and Welch's
unequal-variance t-test between two points.

The seeds of a point are a small sample (3 to 10 runs), so the report gives the sample standard deviation
(``ddof=1``, the estimate of the spread across seeds) and Student's t-interval of the mean rather than a normal
one; two points are compared with Welch's test, which does not assume equal spreads (a penalised method's
accuracy varies more across seeds than an unpenalised one's). Both need at least two runs: one run gives a mean
and nothing else. scipy.stats gives the t quantiles and tail probabilities; tests/test_sweep_report.py checks the
results against ``scipy.stats.ttest_ind(equal_var=False)`` and a case worked by hand.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

#: confidence level of every interval in a report
CONFIDENCE = 0.95
#: two-sided p below which a difference counts as one (a "dominates" statement needs it on both metrics)
ALPHA = 0.05


def _no_infinity(name: str, values: list) -> None:
    """ValueError if ``values`` holds an infinity: no mean, spread or test is defined with one (the statistics
    module would fail with an AttributeError)."""
    for value in values:
        if math.isinf(value):
            raise ValueError(f"{name} must hold finite values or NaN, got {value!r}")


@dataclass(frozen=True)
class Summary:
    """A point's values of one metric over its seeds (NaN values, from runs whose files lack the metric, left out).

    Attributes
    ----------
    n : int
        Finite values.
    mean : float
        NaN if ``n == 0``.
    std : float
        Sample standard deviation (``ddof=1``); NaN if ``n < 2``.
    low, high : float
        The 95 % t-interval of the mean, ``mean -+ t(0.975, n - 1) std / sqrt(n)``; NaN if ``n < 2``.
    """

    n: int
    mean: float
    std: float
    low: float
    high: float


def summarise(values: Sequence[float]) -> Summary:
    """n, mean, sample std and 95 % t-interval of the mean of ``values`` (NaNs left out).

    Examples
    --------
    >>> s = summarise([0.97, 0.98, 0.99])
    >>> s.n, round(s.mean, 6), round(s.std, 6), round(s.low, 4), round(s.high, 4)
    (3, 0.98, 0.01, 0.9552, 1.0048)
    >>> summarise([0.5]).std, summarise([]).n
    (nan, 0)
    """
    finite = [float(v) for v in values if not math.isnan(v)]
    _no_infinity("values", finite)
    n = len(finite)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = statistics.fmean(finite)
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    from scipy import stats
    std = statistics.stdev(finite)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Welch:
    """Welch's t-test of ``mean(a) - mean(b)`` (:func:`welch`).

    Attributes
    ----------
    n_a, n_b : int
        Finite values of each side.
    difference : float
        ``mean(a) - mean(b)``.
    low, high : float
        Its 95 % Welch interval, ``difference -+ t(0.975, df) se``.
    t : float
        ``difference / se`` with ``se = sqrt(var_a / n_a + var_b / n_b)`` (sample variances).
    df : float
        Welch-Satterthwaite degrees of freedom.
    p : float
        Two-sided p-value.
    """

    n_a: int
    n_b: int
    difference: float
    low: float
    high: float
    t: float
    df: float
    p: float

    @property
    def testable(self) -> bool:
        """Both sides have two or more values and some spread: t, df and p are numbers."""
        return not math.isnan(self.p)


def welch(a: Sequence[float], b: Sequence[float]) -> Welch:
    """Welch's unequal-variance t-test of the means of ``a`` and ``b`` (NaNs left out), two-sided.

    With fewer than two values on a side, or no spread on either (every seed equal), the difference is given
    but the interval, t, df and p are NaN: there is nothing to test with.

    Examples
    --------
    >>> w = welch([1.0, 2.0, 3.0], [4.0, 6.0, 8.0])
    >>> w.difference, round(w.t, 4), round(w.df, 4), round(w.p, 4)
    (-4.0, -3.0984, 2.9412, 0.0548)
    >>> welch([1.0], [2.0, 3.0]).testable
    False
    """
    xs = [float(v) for v in a if not math.isnan(v)]
    ys = [float(v) for v in b if not math.isnan(v)]
    _no_infinity("a", xs)
    _no_infinity("b", ys)
    n_a, n_b = len(xs), len(ys)
    difference = statistics.fmean(xs) - statistics.fmean(ys) if n_a and n_b else math.nan
    if n_a < 2 or n_b < 2:
        return Welch(n_a, n_b, difference, math.nan, math.nan, math.nan, math.nan, math.nan)
    va, vb = statistics.variance(xs) / n_a, statistics.variance(ys) / n_b
    se = math.sqrt(va + vb)
    if se == 0.0:  # every seed of both points gave the same value: no spread to test against
        return Welch(n_a, n_b, difference, math.nan, math.nan, math.nan, math.nan, math.nan)
    from scipy import stats
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    t = difference / se
    p = float(2.0 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * se
    return Welch(n_a, n_b, difference, difference - half, difference + half, t, df, p)
