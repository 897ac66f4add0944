"""The Yin-Yang data set (Kriener, Göltz & Petrovici, NICE 2022), generated on the fly.

Implements the generator of ``shared/data/yinyang/SPEC.md`` so that the standard splits come out bit for bit
identical to the published arrays (``publication_data/*.npy``). Nothing is read from disk or downloaded: a
split is a pure function of its size and seed.

A sample is the float64 4-vector ``(x, y, 1 - x, 1 - y)`` with ``x, y`` in ``[0, 2 r_big)`` (``[0, 1)`` for the
standard ``r_big = 0.5``); the label is 0, 1 or 2 (the two halves and the two dots). Coordinates are unitless.
"""

from __future__ import annotations

import math

import numpy as np

from eventsnn import _validation as check

#: Standard splits: name -> (n_samples, seed), as used by the reference publications (SPEC.md section 5).
SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}

# MT19937 (RandomState) seeds are 32-bit unsigned integers.
_MAX_SEED = 2**32 - 1


def _label_scalar(x: float, y: float, r_big: float, r_small: float) -> int:
    """Label of one point (SPEC.md section 2); Python floats, because the generator calls this per candidate."""
    dx_left, dx_right, dy = x - 0.5 * r_big, x - 1.5 * r_big, y - r_big
    d_left = math.sqrt(dx_left * dx_left + dy * dy)
    d_right = math.sqrt(dx_right * dx_right + dy * dy)
    if d_right < r_small or d_left < r_small:
        return 2
    if d_right <= r_small or r_small < d_left <= 0.5 * r_big or (y > r_big and d_right > 0.5 * r_big):
        return 1
    return 0


def yinyang_label(x: np.ndarray | float, y: np.ndarray | float, r_big: float = 0.5,
                  r_small: float = 0.1) -> np.ndarray:
    """Class label (0, 1 or 2) of points ``(x, y)``, exactly as the generator assigns it.

    Only meaningful for points inside the big circle of radius ``r_big`` centred at ``(r_big, r_big)``; the
    generator never labels points outside it.

    Parameters
    ----------
    x, y : array_like of float
        Coordinates (unitless), broadcast against each other.
    r_big, r_small : float
        Radius of the big circle and of the two dots.

    Returns
    -------
    numpy.ndarray of int64
        Labels with the broadcast shape of ``x`` and ``y``.

    Examples
    --------
    >>> yinyang_label([0.75, 0.5, 0.5], [0.5, 0.9, 0.1]).tolist()
    [2, 1, 0]
    """
    r_big = check.positive_finite("r_big", r_big)
    r_small = check.positive_finite("r_small", r_small)
    x = check.float_array("x", x)
    y = check.float_array("y", y)
    dy = y - r_big
    d_left = np.sqrt((x - 0.5 * r_big) * (x - 0.5 * r_big) + dy * dy)
    d_right = np.sqrt((x - 1.5 * r_big) * (x - 1.5 * r_big) + dy * dy)
    dot = (d_right < r_small) | (d_left < r_small)
    upper = ((d_right <= r_small) | ((r_small < d_left) & (d_left <= 0.5 * r_big))
             | ((y > r_big) & (d_right > 0.5 * r_big)))
    return np.where(dot, 2, np.where(upper, 1, 0)).astype(np.int64)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    return int(value)


def make_yinyang(n_samples: int, seed: int, r_big: float = 0.5,
                 r_small: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Generate a Yin-Yang split by rejection sampling (SPEC.md, bit-exact).

    For each sample a goal class is drawn uniformly from {0, 1, 2}; points are then drawn uniformly in the
    square ``[0, 2 r_big)^2`` until one falls inside the big circle *and* has the goal class. Labels are
    therefore i.i.d. uniform (class counts are multinomial, not exactly balanced) and, given its label, a point
    is uniform over that label's region.

    Parameters
    ----------
    n_samples : int
        Number of samples, >= 1.
    seed : int
        Seed of the ``numpy.random.RandomState`` (MT19937) stream, in ``[0, 2**32 - 1]``. Different splits
        need different seeds: equal seeds give identical sets.
    r_big : float
        Radius of the big circle (unitless), > 0. Default 0.5, so coordinates lie in ``[0, 1)``.
    r_small : float
        Radius of the two dots, in ``(0, r_big / 2)`` so that every class has a region of positive area (the
        rejection loop would never end otherwise). Default 0.1.

    Returns
    -------
    samples : numpy.ndarray of float64, shape (n_samples, 4)
        Rows ``(x, y, 1 - x, 1 - y)``.
    labels : numpy.ndarray of int64, shape (n_samples,)
        Class of each sample: 0, 1 or 2.

    Raises
    ------
    TypeError
        If ``n_samples`` or ``seed`` is not an int.
    ValueError
        If ``n_samples < 1``, ``seed`` is outside ``[0, 2**32 - 1]`` or the radii are invalid.

    See Also
    --------
    load_yinyang : the standard train/validation/test splits.

    Examples
    --------
    >>> samples, labels = make_yinyang(3, seed=42)
    >>> labels.tolist()
    [2, 1, 2]
    >>> samples[0].tolist()
    [0.6803075385877797, 0.450499251969543, 0.3196924614122203, 0.549500748030457]
    """
    n_samples = _check_count("n_samples", n_samples)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    seed = _check_count("seed", seed)
    if not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**32 - 1] (a 32-bit MT19937 seed), got {seed}")
    r_big = check.positive_finite("r_big", r_big)
    r_small = check.positive_finite("r_small", r_small)
    if not r_small < 0.5 * r_big:
        raise ValueError(f"r_small must be < r_big / 2 = {0.5 * r_big!r} so that every class has a region "
                         f"of positive area, got r_small={r_small!r}")

    rng = np.random.RandomState(seed)
    side = 2.0 * r_big  # SPEC: the product 2R is formed first, then each uniform is scaled by it
    samples = np.empty((n_samples, 4), dtype=np.float64)
    labels = np.empty(n_samples, dtype=np.int64)
    # The loop is sequential by nature: the goal draw and the candidate draws interleave in one stream.
    for i in range(n_samples):
        goal = int(rng.randint(3))
        while True:
            u1, u2 = rng.rand(2)
            x, y = float(u1) * side, float(u2) * side
            dx, dy = x - r_big, y - r_big
            if math.sqrt(dx * dx + dy * dy) > r_big:
                continue
            if _label_scalar(x, y, r_big, r_small) == goal:
                break
        samples[i] = (x, y, 1.0 - x, 1.0 - y)
        labels[i] = goal
    return samples, labels


def load_yinyang(split: str) -> tuple[np.ndarray, np.ndarray]:
    """One of the standard Yin-Yang splits, generated (never read from files).

    ================  =========  ======  ======================
    split             n_samples  seed    class counts [0, 1, 2]
    ================  =========  ======  ======================
    ``"train"``       5000       42      [1681, 1702, 1617]
    ``"validation"``  1000       41      [316, 336, 348]
    ``"test"``        1000       40      [350, 316, 334]
    ================  =========  ======  ======================

    These equal the arrays the data set's authors published (``publication_data/*.npy``) bit for bit.

    Parameters
    ----------
    split : {"train", "validation", "test"}

    Returns
    -------
    samples : numpy.ndarray of float64, shape (n_samples, 4)
        Rows ``(x, y, 1 - x, 1 - y)`` with ``x, y`` in ``[0, 1)``.
    labels : numpy.ndarray of int64, shape (n_samples,)

    Raises
    ------
    ValueError
        If ``split`` is not one of the three names.

    Examples
    --------
    >>> samples, labels = load_yinyang("test")
    >>> samples.shape, labels.dtype.name
    ((1000, 4), 'int64')
    >>> import numpy as np
    >>> np.bincount(labels).tolist()
    [350, 316, 334]
    """
    check.one_of("split", split, SPLITS)
    n_samples, seed = SPLITS[split]
    return make_yinyang(n_samples, seed)
