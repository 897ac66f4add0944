"""Boundary checks shared by the public layer.

Every public function validates its arguments here *before* doing any work. Each message names the
argument, shows the offending value and states what is accepted. Kernel status codes are mapped to
exceptions by :func:`raise_for_status`, from the single table :data:`STATUS_MESSAGES`, which mirrors the
constants in :mod:`eventsnn._kernels.status`.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from eventsnn._kernels import status as _status


class SpikeLimitError(RuntimeError):
    """A neuron produced more spikes than the documented cap allows (runaway activity)."""


def positive_finite(name: str, value: object) -> float:
    """Return ``value`` as float if it is a finite number > 0, else raise ValueError/TypeError."""
    number = real_number(name, value)
    if not (math.isfinite(number) and number > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def nonnegative_finite(name: str, value: object) -> float:
    number = real_number(name, value)
    if not (math.isfinite(number) and number >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def finite(name: str, value: object) -> float:
    number = real_number(name, value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def real_number(name: str, value: object) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def integer(name: str, value: object, *, minimum: int | None = None) -> int:
    """Return ``value`` as int if it is an integer (not a bool) >= ``minimum``, else raise TypeError/ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def image_shape(name: str, value: object, *, n_inputs: int | None = None, inputs: str = "input neurons"
                ) -> tuple[int, ...]:
    """``(height, width)`` or ``(planes, height, width)`` (e.g. the two polarities of an event camera) as positive
    ints, returned with the length given; with ``n_inputs``, their product must equal it (``inputs`` names what has
    that many neurons in the message)."""
    if (not isinstance(value, (tuple, list)) or len(value) not in (2, 3)
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n > 0
                       for n in value)):
        raise ValueError(f"{name} must be (height, width) or (planes, height, width) with positive ints, "
                         f"got {value!r}")
    shape = tuple(int(n) for n in value)
    size = int(np.prod(shape))
    if n_inputs is not None and size != n_inputs:
        raise ValueError(f"{name} {'x'.join(map(str, shape))} = {size} pixels does not match the {inputs}")
    return shape


def boolean(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def one_of(name: str, value: object, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value  # type: ignore[return-value]


def known_options(where: str, options: dict, allowed: Iterable[str]) -> None:
    """Reject unknown keyword options, listing the valid names."""
    allowed = tuple(allowed)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"{where} got unknown option(s) {', '.join(map(repr, unknown))}; "
                        f"valid options are {', '.join(map(repr, allowed))}")


def float_array(name: str, value: object, *, ndim: int | None = None,
                shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Convert to a C-contiguous float64 array and check rank, shape and finiteness."""
    try:
        array = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be convertible to a float64 array: {error}") from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} contains a non-finite value {array[tuple(bad)]!r} at index {tuple(bad.tolist())}")
    return array


def index_array(name: str, value: object, n: int, *, size: int | None = None) -> np.ndarray:
    """Convert to int64 and check every entry lies in [0, n) (and, if given, that there are ``size`` entries)."""
    array = np.asarray(value)
    if array.size and not (np.issubdtype(array.dtype, np.integer)
                           or (np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array)))):
        raise TypeError(f"{name} must hold integer neuron indices, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {array.shape}")
    if size is not None and array.size != size:
        raise ValueError(f"{name} must hold {size} entries, got {array.size}")
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= n:
            bad = low if low < 0 else high
            raise ValueError(f"{name} contains neuron index {bad}, outside the valid range [0, {n - 1}]")
    return array


STATUS_MESSAGES = {
    _status.SPIKE_LIMIT: ("SpikeLimitError",
                          "a neuron exceeded max_spikes_per_neuron={cap} (runaway activity?) in {where}; "
                          "raise max_spikes_per_neuron or check for runaway excitation"),
}


def raise_for_status(code: int, *, cap: int, where: str) -> None:
    """Map a kernel status code to an exception (no-op for OK)."""
    if code == _status.OK:
        return
    kind, template = STATUS_MESSAGES.get(code, ("RuntimeError", f"internal kernel error (status {code}) in {{where}}"))
    message = template.format(cap=cap, where=where)
    if kind == "SpikeLimitError":
        raise SpikeLimitError(message)
    raise RuntimeError(message)
