"""One pass over the values of an array the kernels read: are they all within bounds (finite)?

NumPy's checks cost two passes (``a.min()`` and ``a.max()``) or build a boolean array (``np.isfinite(a).all()``);
on the 784 x 350 weights of a training step that is 0.1-0.2 ms per check, several times per step. Here a
comparison that is False for NaN is accumulated without a branch, so the loop vectorises; fused with a copy it
costs nothing beyond the copy. They only say yes or no: the caller finds the offending entry (and its message)
with NumPy when the answer is no.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, nogil=True)
def within(values, low, high):
    """True if ``low <= x <= high`` for every x of the 1-D array ``values`` (False if any is NaN)."""
    ok = True
    for k in range(values.size):
        x = values[k]
        ok &= (x >= low) & (x <= high)
    return ok


@njit(cache=True, nogil=True)
def copy_within(values, out, low, high):
    """Copy the 1-D array ``values`` into ``out`` (same size) and return :func:`within`'s answer, in one pass."""
    ok = True
    for k in range(values.size):
        x = values[k]
        out[k] = x
        ok &= (x >= low) & (x <= high)
    return ok


@njit(cache=True, nogil=True)
def all_finite(values):
    """True if every x of the 1-D array ``values`` is finite (|x| < inf is False for NaN and for +-inf)."""
    ok = True
    for k in range(values.size):
        ok &= abs(values[k]) < math.inf
    return ok
