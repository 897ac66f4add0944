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
from eventsnn._kernels.batch import first_invalid_sample as _first_invalid_sample
from eventsnn._kernels.indexing import spike_train_status as _spike_train_status
from eventsnn._kernels.values import all_finite as _all_finite
from eventsnn._kernels.values import copy_within as _copy_within
from eventsnn._kernels.values import within as _within


class SpikeLimitError(RuntimeError):
    """Simulation stopped at a documented cap on work: spikes per neuron, spikes per sample or per batch, or the
    wall-clock budget (runaway activity). The message names the cap and how to raise it."""


# Largest |weight|, |bias| and threshold accepted. The kernels compute products of currents (the crossing solver's
# discriminants, the end-point bounds), which overflow float64 once a synaptic current reaches ~1e154: a weight of
# 1e155 was reported as a spike at t_max instead of at its arrival. 1e100 leaves 54 orders of magnitude for
# currents built from many arrivals (tests/test_safety_values.py checks both sides of the bound).
MAX_ABS_PARAMETER = 1e100


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


def bounded(name: str, value: float) -> float:
    """``value`` if |value| <= MAX_ABS_PARAMETER, else ValueError (the kernels' documented range)."""
    if not abs(value) <= MAX_ABS_PARAMETER:
        raise ValueError(f"{name} must lie in [-{MAX_ABS_PARAMETER:g}, {MAX_ABS_PARAMETER:g}] (larger values overflow "
                         f"the exact solver), got {value!r}")
    return value


def real_number(name: str, value: object) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def integer(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as int if it is an integer (not a bool) in [``minimum``, ``maximum``], else raise
    TypeError/ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an int <= {maximum}, got {value!r}")
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
    """Convert to a C-contiguous float64 array and check rank, shape and finiteness (bool and complex refused:
    converting them would silently change their meaning)."""
    try:
        raw = np.asarray(value)
        if raw.dtype.kind in ("b", "c"):
            raise TypeError(f"{name} must hold real numbers, got {'bool' if raw.dtype.kind == 'b' else 'complex'} "
                            "values")
        array = np.ascontiguousarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        if str(error).startswith(name):
            raise
        raise TypeError(f"{name} must be convertible to a float64 array: {error}") from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    if not all_finite(array):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} contains a non-finite value {float(array[tuple(bad)])!r} at index "
                         f"{tuple(bad.tolist())}")
    return array


def parameter_array(name: str, value: object, *, shape: tuple[int, ...], nonnegative: bool = False) -> np.ndarray:
    """A weight or delay matrix: C-contiguous float64 of ``shape``, finite, |entries| <= MAX_ABS_PARAMETER (and >= 0
    with ``nonnegative``). Returns a new array, never the caller's, so that later writes to it cannot bypass the
    check."""
    array = float_array(name, value, shape=shape)
    array = array.copy() if np.may_share_memory(array, value) else array
    parameter_values(name, array, nonnegative=nonnegative)
    return array


def parameter_values(name: str, array: np.ndarray, *, nonnegative: bool = False) -> None:
    """Finiteness, MAX_ABS_PARAMETER and (optionally) sign of an array the kernels read: one pass when it holds."""
    if not array.size:
        return
    if _flat_float64(array) and _within(array.reshape(-1), 0.0 if nonnegative else -MAX_ABS_PARAMETER,
                                        MAX_ABS_PARAMETER):
        return
    low, high = float(array.min()), float(array.max())  # NaN propagates into both
    if low >= (0.0 if nonnegative else -MAX_ABS_PARAMETER) and high <= MAX_ABS_PARAMETER:
        return
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(np.argwhere(bad)[0].tolist())
        raise ValueError(f"{name} contains a non-finite value {float(array[where])!r} at index {where}")
    if nonnegative and low < 0.0:
        where = tuple(np.argwhere(array < 0.0)[0].tolist())
        raise ValueError(f"{name} must be >= 0 ms, got {float(array[where])!r} at index {where}")
    where = tuple(np.argwhere(np.abs(array) > MAX_ABS_PARAMETER)[0].tolist())
    raise ValueError(f"{name} must lie in [-{MAX_ABS_PARAMETER:g}, {MAX_ABS_PARAMETER:g}] (larger values overflow the "
                     f"exact solver), got {float(array[where])!r} at index {where}")


def parameter_copy(name: str, array: np.ndarray, *, nonnegative: bool = False) -> np.ndarray:
    """A copy of a C-contiguous float64 array, checked as :func:`parameter_values` checks it (same errors), in the
    one pass that copies it."""
    out = np.empty_like(array, order="C")
    if not _copy_within(array.reshape(-1), out.reshape(-1), 0.0 if nonnegative else -MAX_ABS_PARAMETER,
                        MAX_ABS_PARAMETER):
        parameter_values(name, out, nonnegative=nonnegative)  # raises, naming the first offending entry
    return out


def all_finite(array: np.ndarray) -> bool:
    """``np.isfinite(array).all()``, in one pass without a boolean array for C-contiguous float64 arrays."""
    if _flat_float64(array):
        return bool(_all_finite(array.reshape(-1)))
    return bool(np.isfinite(array).all())


def _flat_float64(array: np.ndarray) -> bool:
    """A C-contiguous float64 ndarray: ``reshape(-1)`` is a view of it, which the one-pass kernels take."""
    return type(array) is np.ndarray and array.dtype == _FLOAT64 and array.flags.c_contiguous


def kernel_array(name: str, array: object, dtype: type, shape: tuple[int, ...]) -> None:
    """Re-check an array that public code may have replaced after validation: an ndarray of exactly ``dtype``,
    C-contiguous, of ``shape``. Cheap (no pass over the data)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != dtype or not array.flags.c_contiguous:
        raise TypeError(f"{name} must be a C-contiguous {np.dtype(dtype).name} array, got "
                        f"{'a non-contiguous ' if not array.flags.c_contiguous else ''}{array.dtype} array")
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")


def spike_arrays(name: str, spikes: object, n_neurons: int | None = None, *, batch: bool = False) -> None:
    """Re-check a SpikeTrains (or, with ``batch=True``, a SpikeBatch's flat arrays) before a kernel reads it: its
    attributes are public and may have been replaced since construction. float64 times, finite, >= 0, sorted; int64
    neurons in [0, n_neurons). O(n_spikes) vectorised passes, no copies.

    Without ``batch`` an object with ``offsets`` (a SpikeBatch put where one sample belongs, e.g. into a Record's
    layers) is refused: its ``len`` counts samples, not spikes, and its times may go down between samples, so the
    callers' length checks and the kernels' sorted-times assumption would not hold."""
    count = getattr(spikes, "n_neurons", None)
    if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)) or not 0 <= count <= INT64_MAX:
        raise TypeError(f"{name}.n_neurons must be an int in [0, 2**63 - 1], got {count!r}")
    if n_neurons is not None and count != n_neurons:
        raise ValueError(f"{name} has n_neurons={count}, expected {n_neurons}")
    times, neurons = getattr(spikes, "times", None), getattr(spikes, "neurons", None)
    size = times.size if isinstance(times, np.ndarray) else 0
    kernel_array(f"{name}.times", times, np.float64, (size,))
    kernel_array(f"{name}.neurons", neurons, np.int64, (size,))
    offsets = getattr(spikes, "offsets", None)
    if offsets is not None and not batch:
        raise TypeError(f"{name} must be a SpikeTrains of one sample, got a {type(spikes).__name__} with offsets (a "
                        "batch of samples)")
    if offsets is not None:  # a SpikeBatch: sample b is [offsets[b], offsets[b + 1])
        kernel_array(f"{name}.offsets", offsets, np.int64, (getattr(offsets, "size", 0),))
        if offsets.size < 1 or offsets[0] != 0 or offsets[-1] != size or np.any(np.diff(offsets) < 0):
            raise ValueError(f"{name}.offsets must start at 0, be non-decreasing and end at len(times)={size}")
    if not size:
        return
    if offsets is None:
        # one sample, the common case (every sample of simulate, every loss): one compiled pass, dtypes checked above
        code, index = _spike_train_status(times, neurons, count)
        if code == _status.OK:
            return
        if code == _status.NEURON_OUT_OF_RANGE:
            raise ValueError(f"{name}.neurons contains neuron index {int(neurons[index])}, outside the valid range "
                             f"[0, {count - 1}]")
        if code == _status.TIME_NOT_FINITE_OR_NEGATIVE:
            raise ValueError(f"{name}.times must be finite and >= 0 ms, got {float(times[index])!r} at index {index}")
        raise ValueError(f"{name}.times must be sorted (non-decreasing): times[{index - 1}]={float(times[index - 1])!r}"
                         f" > times[{index}]={float(times[index])!r}")
    low, high = int(neurons.min()), int(neurons.max())
    if low < 0 or high >= count:
        raise ValueError(f"{name}.neurons contains neuron index {low if low < 0 else high}, outside the valid range "
                         f"[0, {count - 1}]")
    if not np.isfinite(times).all() or times.min() < 0.0:
        raise ValueError(f"{name}.times must be finite and >= 0 ms")
    decreasing = np.diff(times) < 0.0
    if offsets is not None:  # a SpikeBatch: each sample sorted; a step across a sample boundary may go down
        inner = offsets[1:-1]
        decreasing[inner[(inner > 0) & (inner < size)] - 1] = False
    if decreasing.any():
        k = int(np.flatnonzero(decreasing)[0])
        raise ValueError(f"{name}.times must be sorted (non-decreasing): times[{k}]={float(times[k])!r} > "
                         f"times[{k + 1}]={float(times[k + 1])!r}")


def spike_trains_valid(trains: list, n_neurons: int) -> bool:
    """True if every SpikeTrains of ``trains`` passes :func:`spike_arrays` with ``n_neurons``: the checks of a
    batch in one compiled pass over its joined arrays instead of one per sample. False does not say which check
    failed: the caller then runs :func:`spike_arrays` sample by sample, for the first error and its message."""
    for spikes in trains:
        times, neurons = getattr(spikes, "times", None), getattr(spikes, "neurons", None)
        count = getattr(spikes, "n_neurons", None)
        # exact types only (the per-sample checks accept subclasses): anything unusual takes the per-sample path,
        # a batch of samples (offsets) among them
        if getattr(spikes, "offsets", None) is not None \
                or type(times) is not np.ndarray or type(neurons) is not np.ndarray or type(count) is not int \
                or count != n_neurons or times.dtype != _FLOAT64 or neurons.dtype != _INT64 or times.ndim != 1 \
                or neurons.shape != times.shape or not times.flags.c_contiguous or not neurons.flags.c_contiguous:
            return False
    if not trains:
        return True
    offsets = np.zeros(len(trains) + 1, dtype=np.int64)
    np.cumsum([spikes.times.size for spikes in trains], out=offsets[1:])
    times = np.concatenate([spikes.times for spikes in trains])
    neurons = np.concatenate([spikes.neurons for spikes in trains])
    return _first_invalid_sample(times, neurons, offsets, n_neurons) < 0


def records_valid(records: list, snapshot: object) -> bool:
    """True if every record of ``records`` passes :func:`record_for_kernels` with ``network=False`` and has the
    network snapshot ``snapshot`` (as the records of one ``simulate`` call do): the spikes of each population
    checked in one compiled pass over the batch (:func:`spike_trains_valid`). False does not say what failed:
    the caller then checks the records one by one, for the first error and its message."""
    if not callable(getattr(snapshot, "validate_for_simulation", None)):
        return False
    layer_names, input_names = snapshot.layer_names, sorted(snapshot.input_names)
    for rec in records:
        t_max, layers, inputs = getattr(rec, "t_max", None), getattr(rec, "layers", None), getattr(rec, "inputs", None)
        # exact types only (record_for_kernels accepts more): anything unusual takes the per-record path
        if getattr(rec, "network", None) is not snapshot or type(t_max) is not float or not 0.0 < t_max < math.inf \
                or type(layers) is not list or len(layers) != len(layer_names) \
                or list(getattr(rec, "layer_names", ())) != layer_names or type(inputs) is not dict \
                or sorted(inputs) != input_names:
            return False
    sizes = {name: population.size for name, population in snapshot.populations.items()}
    return all(spike_trains_valid([rec.layers[k] for rec in records], sizes[name])
               for k, name in enumerate(layer_names)) \
        and all(spike_trains_valid([rec.inputs[name] for rec in records], sizes[name]) for name in input_names)


def record_for_kernels(rec: object, name: str = "rec", *, network: bool = True) -> None:
    """Re-check a :class:`~eventsnn.Record` before kernels read it (its attributes are public and may have been
    replaced since ``simulate`` made it): its network snapshot (with ``network=True``: structure, weight and delay
    arrays, O(synapses)), ``t_max``, and every layer's and input's spikes against the population sizes (O(spikes)).
    Raises ValueError/TypeError naming the field, e.g. ``rec.layers[1].neurons``.

    The backward entry points call it once per record (with ``network=False``) after checking the snapshot once.
    """
    snapshot = getattr(rec, "network", None)
    if not callable(getattr(snapshot, "validate_for_simulation", None)):
        raise TypeError(f"{name}.network must be an eventsnn.Network, got {type(snapshot).__name__}")
    if network:
        snapshot.validate_for_simulation()
    positive_finite(f"{name}.t_max", getattr(rec, "t_max", None))
    layer_names = snapshot.layer_names
    layers = getattr(rec, "layers", None)
    if list(getattr(rec, "layer_names", ())) != layer_names or not isinstance(layers, list) \
            or len(layers) != len(layer_names):
        raise ValueError(f"{name}.layers must be a list of one SpikeTrains per neuron population {layer_names} of "
                         f"{name}.network")
    for k, (layer, spikes) in enumerate(zip(layer_names, layers)):
        spike_arrays(f"{name}.layers[{k}]", spikes, snapshot.populations[layer].size)
    inputs = getattr(rec, "inputs", None)
    if not isinstance(inputs, dict) or sorted(inputs) != sorted(snapshot.input_names):
        raise ValueError(f"{name}.inputs must be a dict of SpikeTrains for the input populations "
                         f"{snapshot.input_names}")
    for input_name, spikes in inputs.items():
        spike_arrays(f"{name}.inputs[{input_name!r}]", spikes, snapshot.populations[input_name].size)


INT64_MAX = 2**63 - 1
_FLOAT64, _INT64 = np.dtype(np.float64), np.dtype(np.int64)


def integer_array(name: str, value: object, *, what: str = "integer values") -> np.ndarray:
    """Convert to a C-contiguous int64 array: integer dtypes, or floats that are whole numbers within int64."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must hold {what}: {error}") from None
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.bool_):
            raise TypeError(f"{name} must hold {what}, got dtype {array.dtype}")
        with np.errstate(invalid="ignore"):
            whole = np.all(array == np.round(array)) and np.all(np.abs(array) < 2.0**63)
        if not whole:
            raise TypeError(f"{name} must hold {what} (whole numbers within int64), got dtype {array.dtype}")
    if array.dtype == np.uint64 and array.size and array.max() > INT64_MAX:
        raise ValueError(f"{name} holds a value above 2**63 - 1")
    return np.ascontiguousarray(array, dtype=np.int64)


def index_array(name: str, value: object, n: int, *, size: int | None = None) -> np.ndarray:
    """Convert to int64 and check every entry lies in [0, n) (and, if given, that there are ``size`` entries)."""
    array = integer_array(name, value, what="integer neuron indices")
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
                          ("a neuron exceeded max_spikes_per_neuron={cap} (runaway activity?) in {where}; "
                           "raise max_spikes_per_neuron or check for runaway excitation")),
    _status.SAMPLE_SPIKE_LIMIT: ("SpikeLimitError",
                                 ("the sample exceeded max_spikes_per_sample={cap} spikes (runaway activity?) in "
                                  "{where}; raise max_spikes_per_sample or check for runaway excitation")),
}


def raise_for_status(code: int, *, cap: int, where: str) -> None:
    """Map a kernel status code to an exception (no-op for OK); ``cap`` is the value of the cap that code names."""
    if code == _status.OK:
        return
    kind, template = STATUS_MESSAGES.get(code, ("RuntimeError", f"internal kernel error (status {code}) in {{where}}"))
    message = template.format(cap=cap, where=where)
    if kind == "SpikeLimitError":
        raise SpikeLimitError(message)
    raise RuntimeError(message)
