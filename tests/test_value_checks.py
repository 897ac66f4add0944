"""The one-pass value checks (``_kernels/values.py``) answer exactly what the NumPy checks they replace answer, and
the boundary checks built on them raise the same errors."""

import numpy as np
import pytest

from eventsnn import _validation as check
from eventsnn._kernels.values import all_finite, copy_within, within

SPECIAL = [np.nan, np.inf, -np.inf, 1e100, -1e100, np.nextafter(1e100, np.inf), np.nextafter(-1e100, -np.inf), 0.0,
           -0.0, -5e-324, 5e-324]


@pytest.mark.parametrize("seed", range(4))
def test_kernels_agree_with_numpy(seed, rng):
    for size in (0, 1, 7, 64, 1001):
        for _ in range(20):
            values = rng.normal(0.0, 10.0 ** rng.integers(0, 120), size)
            for _ in range(int(rng.integers(0, 3))):  # a few special values at random places
                if size:
                    values[rng.integers(0, size)] = SPECIAL[rng.integers(0, len(SPECIAL))]
            for low, high in ((-1e100, 1e100), (0.0, 1e100)):
                expected = bool(values.min() >= low and values.max() <= high) if size else True
                assert within(values, low, high) == expected
                out = np.full(size, 7.0)
                assert copy_within(values, out, low, high) == expected
                assert np.array_equal(out, values, equal_nan=True)
                assert np.array_equal(np.signbit(out), np.signbit(values))
            assert all_finite(values) == bool(np.isfinite(values).all())


@pytest.mark.parametrize("bad, nonnegative, message", [
    (np.nan, False, r"w contains a non-finite value nan at index \(2, 1\)"),
    (-np.inf, False, r"w contains a non-finite value -inf at index \(2, 1\)"),
    (2e100, False, r"w must lie in \[-1e\+100, 1e\+100\] \(larger values overflow the exact solver\), got 2e\+100 at "
                   r"index \(2, 1\)"),
    (-1.0, True, r"w must be >= 0 ms, got -1.0 at index \(2, 1\)"),
])
def test_parameter_copy_raises_what_parameter_values_raises(bad, nonnegative, message, rng):
    array = rng.uniform(0.0, 1.0, (4, 3))
    array[2, 1] = bad
    with pytest.raises(ValueError, match=message):
        check.parameter_values("w", array, nonnegative=nonnegative)
    with pytest.raises(ValueError, match=message):
        check.parameter_copy("w", array, nonnegative=nonnegative)
    array[2, 1] = 0.5
    copy = check.parameter_copy("w", array, nonnegative=nonnegative)
    assert copy.flags.c_contiguous and copy.dtype == np.float64 and np.array_equal(copy, array)
    assert not np.shares_memory(copy, array)


@pytest.mark.parametrize("array", [np.ones((3, 4))[:, ::2], np.ones(5, dtype=np.float32), np.ones((2, 2)),
                                   np.array(3.0), np.zeros((0, 4))])
def test_all_finite_of_any_array(array):
    assert check.all_finite(array)
    if array.size:
        bad = array.copy()
        bad.reshape(-1)[-1] = np.inf
        assert not check.all_finite(bad) and not check.all_finite(np.where(bad == np.inf, np.nan, bad))


def test_float_array_still_names_the_first_non_finite_entry():
    values = np.zeros((5, 4))
    values[3, 2], values[4, 0] = np.inf, np.nan
    with pytest.raises(ValueError, match=r"^x contains a non-finite value inf at index \(3, 2\)$"):
        check.float_array("x", values)
    assert check.float_array("x", [1.0, 2.0]).tolist() == [1.0, 2.0]
