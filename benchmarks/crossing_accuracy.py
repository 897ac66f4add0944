"""Accuracy of the threshold-crossing routes at exact integer time-constant ratios, against a 50-digit reference.

For exact tau ratios n (``--ratios``, default 3..8) in both orders (tau_mem = n tau_syn and tau_syn = n tau_mem),
random free states (V0, I0, bias, threshold, window) are drawn with a fixed seed until ``--crossings`` of them
cross threshold. Each crossing time is computed by

* the engine's route, ``eventsnn._kernels.crossing.first_crossing``, which takes the polynomial route at these
  ratios: the quadratic of docs/theory.md (6b) for n = 2, the polynomial of (6c) for n = 3..8 (the number of
  states it hands over to the general route is printed), and
* the general route, ``_first_crossing_exponential`` (decision on the extremum time, Newton on V(t); at n = 2
  seeded by the closed form of the quadratic),

and both are compared with a reference computed in mpmath at 50 significant digits from the model equations
alone (no code of ``eventsnn._kernels``): V(t) = bias + u e^{-t/tau_mem} + I0 tau_syn/(tau_mem - tau_syn)
(e^{-t/tau_mem} - e^{-t/tau_syn}), u = V0 - bias; the window is cut at the single extremum of V into monotone
pieces, the first piece whose end reaches threshold holds the first crossing, and bisection closes on it. The
float64 inputs are taken exactly (the fast time constant is a multiple of 2^-20 ms, so n tau_fast is exact and
the ratio is exactly n for the reference too).

Printed: median and largest absolute error (ms) of each route over all crossings and over the ``--worst`` crossings
where the two routes differ most, and per order of the time constants; states on which a route and the reference
decide differently (a grazing maximum) are counted and left out of the errors.

    python benchmarks/crossing_accuracy.py                 # n = 3..8: 200 crossings, 40 most different (a few seconds)
    python benchmarks/crossing_accuracy.py --ratios 2      # n = 2: the quadratic route
    python benchmarks/crossing_accuracy.py --quick         # 40 crossings, 10 most different
    python benchmarks/crossing_accuracy.py --json accuracy.json
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import statistics
import sys
from fractions import Fraction

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's eventsnn, whatever the interpreter has installed

try:
    import mpmath
except ImportError:  # pragma: no cover - a clear message instead of a traceback
    sys.exit("crossing_accuracy.py needs mpmath (pip install mpmath)")

from eventsnn._kernels.crossing import (_first_crossing_exponential, _first_crossing_polynomial,
                                        first_crossing)
from eventsnn._kernels.lif import MAX_EXACT_POWER, P_EXACT_POWER, P_KERNEL_PEAK, make_parameters

DIGITS = 50
SEED = 20261207
RATIOS = range(3, 9)  # the default; --ratios may choose any of 2..MAX_EXACT_POWER
FAST_GRID = 2.0 ** -20  # ms: tau_fast on this grid makes n * tau_fast exact in float64 for n <= 8


# ---------------------------------------------------------------------------------------------------------------
# reference (mpmath, model equations only)
def reference_crossing(v0: float, i0: float, window: float, tau_mem: float, tau_syn: float, threshold: float,
                       bias: float) -> mpmath.mpf | None:
    """First t in (0, window] (ms) with V(t) >= threshold, to DIGITS digits, or None when V stays below."""
    mp = mpmath.mp
    tm, ts, th, b = mp.mpf(tau_mem), mp.mpf(tau_syn), mp.mpf(threshold), mp.mpf(bias)
    u, i, end = mp.mpf(v0) - b, mp.mpf(i0), mp.mpf(window)
    c = i * ts / (tm - ts)

    def f(t):
        return b + u * mp.exp(-t / tm) + c * (mp.exp(-t / tm) - mp.exp(-t / ts)) - th

    # f'(t) = -(u + c)/tm e^{-t/tm} + c/ts e^{-t/ts} vanishes at most once: e^{t (1/ts - 1/tm)} = c tm / (ts (u + c))
    cuts = [mp.mpf(0)]
    ratio = c * tm / (ts * (u + c)) if u + c != 0 else mp.mpf(0)
    if ratio > 0:
        t_ext = mp.log(ratio) / (1 / ts - 1 / tm)
        if 0 < t_ext < end:
            cuts.append(t_ext)
    cuts.append(end)
    for lo, hi in zip(cuts[:-1], cuts[1:]):  # f is monotone on each piece and f(0) < 0
        if f(hi) >= 0:
            break
    else:
        return None
    while hi - lo > hi * mp.mpf(10) ** (-DIGITS + 5):  # invariant: f(lo) < 0 <= f(hi)
        mid = (lo + hi) / 2
        if f(mid) >= 0:
            hi = mid
        else:
            lo = mid
    return hi


# ---------------------------------------------------------------------------------------------------------------
def draw_state(rng: np.random.Generator, ratios: range = RATIOS) -> dict:
    """One random free state at an exact integer ratio drawn from ``ratios`` (the distribution of
    tests/test_crossing.py)."""
    n = int(rng.integers(ratios.start, ratios.stop))
    mem_slower = bool(rng.random() < 0.5)
    fast = max(round(rng.uniform(0.5, 30.0) / n / FAST_GRID), 1) * FAST_GRID
    slow = n * fast
    assert Fraction(slow) == n * Fraction(fast)
    tau_mem, tau_syn = (slow, fast) if mem_slower else (fast, slow)
    threshold = rng.uniform(0.5, 2.0)
    bias = 0.0 if rng.random() < 0.5 else rng.uniform(-1.0, 1.5 * threshold)
    v0 = threshold - (rng.uniform(1e-9, 1e-3) if rng.random() < 0.5 else rng.uniform(1e-3, 3.0))
    params = make_parameters(tau_mem, tau_syn, threshold, bias, 0.0, False)
    assert params[P_EXACT_POWER] == n
    i0 = rng.uniform(-5.0, 10.0) * threshold / params[P_KERNEL_PEAK]
    window = rng.uniform(1e-3, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, 80.0)
    return dict(n=n, order="tau_mem = n tau_syn" if mem_slower else "tau_syn = n tau_mem", tau_mem=tau_mem,
                tau_syn=tau_syn, threshold=threshold, bias=bias, v0=v0, i0=i0, window=window, params=params)


def measure(crossings: int, seed: int, ratios: range = RATIOS) -> dict:
    mpmath.mp.dps = DIGITS
    rng = np.random.default_rng(seed)
    rows, drawn, disagree = [], 0, {"engine": 0, "general": 0}
    while len(rows) < crossings:
        s = draw_state(rng, ratios)
        drawn += 1
        t_engine = first_crossing(s["v0"], s["i0"], s["window"], s["params"])
        t_general = _first_crossing_exponential(s["v0"], s["i0"], s["window"], s["params"])
        t_ref = reference_crossing(s["v0"], s["i0"], s["window"], s["tau_mem"], s["tau_syn"], s["threshold"],
                                   s["bias"])
        for name, t in (("engine", t_engine), ("general", t_general)):
            disagree[name] += (t == math.inf) != (t_ref is None)
        if t_ref is None or t_engine == math.inf or t_general == math.inf:
            continue
        rows.append(dict(n=s["n"], order=s["order"], t_ref=float(t_ref),
                         err_engine=float(abs(mpmath.mpf(t_engine) - t_ref)),
                         err_general=float(abs(mpmath.mpf(t_general) - t_ref)),
                         routes_differ=abs(t_engine - t_general),
                         handed_over=math.isnan(_first_crossing_polynomial(s["v0"], s["i0"], s["window"],
                                                                           s["params"], s["n"]))))
    return dict(rows=rows, drawn=drawn, decision_disagreements=disagree)


def summarise(rows: list[dict]) -> dict:
    return {route: {"median_ms": statistics.median(r[f"err_{route}"] for r in rows),
                    "largest_ms": max(r[f"err_{route}"] for r in rows)} for route in ("engine", "general")}


def parse_ratios(text: str) -> range:
    """``"N"`` or ``"A-B"`` (inclusive) -> the range of exact ratios; each within 2..MAX_EXACT_POWER."""
    low, _, high = text.partition("-")
    try:
        ratios = range(int(low), int(high or low) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ratios must be N or A-B (integers), got {text!r}") from None
    if not (len(ratios) and 2 <= ratios.start and ratios.stop - 1 <= MAX_EXACT_POWER):
        raise argparse.ArgumentTypeError(f"--ratios must lie in 2..{MAX_EXACT_POWER} with A <= B, got {text!r}")
    return ratios


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", type=parse_ratios, default=RATIOS, metavar="N|A-B",
                        help=f"exact tau ratios to draw from, e.g. 2 or 3-8 (default {RATIOS.start}-{RATIOS.stop - 1})")
    parser.add_argument("--crossings", type=int, default=200, help="crossings to measure (default 200)")
    parser.add_argument("--worst", type=int, default=40,
                        help="also summarise the crossings where the two routes differ most (default 40)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of the random states (default {SEED})")
    parser.add_argument("--quick", action="store_true", help="40 crossings, 10 most different")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures and every crossing here")
    args = parser.parse_args(argv)
    if args.quick:
        args.crossings, args.worst = 40, 10
    if args.crossings < 1 or not 1 <= args.worst <= args.crossings:
        parser.error("--crossings must be >= 1 and --worst in [1, --crossings]")

    # compile both routes outside the loop (cache=True kernels load from disk after the first run)
    warm = make_parameters(8.0, 2.0, 1.0, 0.0, 0.0, False)
    first_crossing(0.0, 10.0, 5.0, warm)
    _first_crossing_exponential(0.0, 10.0, 5.0, warm)
    _first_crossing_polynomial(0.0, 10.0, 5.0, warm, 4)

    result = measure(args.crossings, args.seed, args.ratios)
    rows = result["rows"]
    worst = sorted(rows, key=lambda r: r["routes_differ"], reverse=True)[:args.worst]
    groups = [(f"all {len(rows)} crossings", rows), (f"{len(worst)} where the routes differ most", worst)]
    for order in ("tau_mem = n tau_syn", "tau_syn = n tau_mem"):
        chosen = [r for r in rows if r["order"] == order]
        if chosen:
            groups.append((f"{order} ({len(chosen)})", chosen))
    summary = {label: summarise(chosen) for label, chosen in groups}

    span = f"{args.ratios.start}..{args.ratios.stop - 1}" if len(args.ratios) > 1 else f"{args.ratios.start}"
    print(f"{len(rows)} crossings from {result['drawn']} random states (seed {args.seed}), n = {span}, both orders; "
          f"reference: mpmath, {DIGITS} digits")
    print(f"decisions that differ from the reference: engine {result['decision_disagreements']['engine']}, "
          f"general route {result['decision_disagreements']['general']}")
    print(f"crossings the polynomial route handed over to the general route: "
          f"{sum(r['handed_over'] for r in rows)}")
    print(f"largest |engine - general| on a crossing: {worst[0]['routes_differ']:.2e} ms")
    header = f"{'crossings':<36} {'engine median':>14} {'engine max':>11} {'general median':>15} {'general max':>12}"
    print(header)
    print("-" * len(header))
    for label, figures in summary.items():
        e, g = figures["engine"], figures["general"]
        print(f"{label:<36} {e['median_ms']:>14.2e} {e['largest_ms']:>11.2e} {g['median_ms']:>15.2e} "
              f"{g['largest_ms']:>12.2e}")
    print("errors are |t - t_reference| in ms; engine = first_crossing (the polynomial route at these ratios)")

    out = dict(seed=args.seed, ratios=[args.ratios.start, args.ratios.stop - 1], digits=DIGITS, drawn=result["drawn"],
               decision_disagreements=result["decision_disagreements"], summary=summary, crossings=rows)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
