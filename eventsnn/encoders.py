"""Encoders: real-valued data -> :class:`~eventsnn.spikes.SpikeBatch` of input spikes. Times in ms.

* :func:`latency_encode`: one spike per feature above a threshold, earlier for larger values (images; the
  default is exactly the MNIST code of the W2 benchmark, ``benchmarks/w2.py``).
* :func:`yinyang_encode`: one spike per Yin-Yang coordinate, later for larger values, plus optional bias
  spikes.
* :func:`poisson_encode`: homogeneous Poisson spike trains with given rates (Hz), reproducible from a seed.
* :func:`events_encode`: event-camera streams (N-MNIST) -> one input neuron per pixel and polarity, optionally
  pooled and cut at a window end.
* :func:`jitter_times`, :func:`shift_images`: training augmentations on a spike code (time noise; image
  translations).

Every encoder is vectorised over samples and returns spikes in the canonical order ``SpikeBatch`` requires:
within a sample by time, ties by neuron index.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn.spikes import SpikeBatch

# Yin-Yang code defaults (ms), chosen for LIF neurons with tau_syn = 5 ms and tau_mem = 10 ms (see
# yinyang_encode). They equal the constants of the yinyang task in eventsnn.tasks.
YINYANG_T_EARLY = 2.0
YINYANG_T_LATE = 30.0


def _samples_by_features(name: str, values: object) -> np.ndarray:
    """float64 array of shape (n_samples, n_features); trailing dimensions (e.g. image rows, columns) flattened."""
    array = check.float_array(name, values)
    if array.ndim < 2:
        raise ValueError(f"{name} must have shape (n_samples, n_features, ...), got shape {array.shape}; "
                         f"for a single sample pass {name}[None]")
    return array.reshape(array.shape[0], -1)


def _in_unit_interval(name: str, array: np.ndarray) -> None:
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        bad = float(array.min() if array.min() < 0.0 else array.max())
        where = tuple(np.argwhere(array == bad)[0].tolist())
        raise ValueError(f"{name} must lie in [0, 1], got {bad!r} at index {where}; "
                         f"scale first (e.g. pixels / 255)")


def _check_window(lo_name: str, lo: object, hi_name: str, hi: object) -> tuple[float, float]:
    lo = check.nonnegative_finite(lo_name, lo)
    hi = check.finite(hi_name, hi)
    if not hi > lo:
        raise ValueError(f"{hi_name} must be > {lo_name} = {lo!r} ms, got {hi!r}")
    return lo, hi


def _generator(seed: int | np.random.Generator) -> np.random.Generator:
    """A Generator as given, or a fresh one seeded by an int >= 0 (the seed rule of every random encoder)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__} {seed!r}")


def _batch_from_sorted_rows(rows: np.ndarray, times: np.ndarray, neurons: np.ndarray, n_samples: int,
                            n_neurons: int) -> SpikeBatch:
    """Build a batch from spikes grouped by sample (``rows`` ascending) and, within a sample, by neuron.

    Sorting by (sample, time) with a stable sort keeps the neuron order among equal times, which is exactly
    the (time, neuron) tie rule of SpikeTrains.
    """
    order = np.lexsort((times, rows))
    return SpikeBatch(times[order], neurons[order], _offsets(rows, n_samples), n_neurons)


def _offsets(rows: np.ndarray, n_samples: int) -> np.ndarray:
    """SpikeBatch offsets of spikes grouped by ascending sample index ``rows``."""
    offsets = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_samples), out=offsets[1:])
    return offsets


def latency_encode(values: np.ndarray, t_min: float = 0.0, t_max: float = 20.0, threshold: float | None = 0.1,
                   invert: bool = True, step: float | None = None) -> SpikeBatch:
    """Latency (time-to-first-spike) code: each sufficiently bright feature fires exactly once.

    A feature with value ``p > threshold`` emits one spike at::

        t = t_min + (1 - p) * (t_max - t_min)   if invert (bright = early)
        t = t_min + p * (t_max - t_min)         otherwise

    and features with ``p <= threshold`` stay silent. With the defaults this is the code of the W2 benchmark:
    ``p = pixel / 255``, a pixel with ``p > 0.1`` fires once at ``(1 - p) * 20`` ms, so spike times lie in
    ``[0, 18)`` ms. ANTLR's code is ``t_max=24, threshold=0, step=1``: a spike at step ``floor(24 (1 - p))``.

    Parameters
    ----------
    values : array_like of float, shape (n_samples, n_features) or (n_samples, d1, d2, ...)
        Intensities in [0, 1]. Trailing dimensions are flattened in C order, so pixel ``(r, c)`` of a 28 x 28
        image becomes neuron ``28 r + c``. Converted to float64 first: to reproduce W2 bit for bit, scale
        ``uint8`` pixels as ``pixels / 255.0`` (float64), not in float32.
    t_min : float
        Time (ms) of a feature with value 1 (``invert=True``) or 0 (``invert=False``); >= 0. Default 0.
    t_max : float
        Time (ms) of a feature with value 0 (``invert=True``) or 1; > ``t_min``. Default 20.
    threshold : float or None
        Features with ``p <= threshold`` emit no spike; in [0, 1]. ``None``: every feature fires (value 0
        fires at ``t_max`` when inverted). Default 0.1.
    invert : bool
        True (default): larger values fire earlier.
    step : float or None
        Grid (ms) that a discrete-time simulator would see: each time is floored to ``t_min + k step``. ``None``
        (default): continuous times.

    Returns
    -------
    SpikeBatch
        ``n_neurons = n_features``; at most one spike per neuron and sample, sorted by (time, neuron).

    Raises
    ------
    ValueError
        On a wrong shape, non-finite or out-of-range values, ``t_min < 0``, ``t_max <= t_min``, a threshold
        outside [0, 1], or a step that is not > 0.
    TypeError
        If a time or the threshold is not a real number, or ``invert`` is not a bool.

    Examples
    --------
    >>> batch = latency_encode([[1.0, 0.05, 0.5, 0.75]])
    >>> batch[0].times.tolist(), batch[0].neurons.tolist()
    ([0.0, 5.0, 10.0], [0, 3, 2])
    >>> latency_encode([[0.25, 1.0]], t_min=1.0, t_max=9.0, threshold=None, invert=False)[0].times.tolist()
    [3.0, 9.0]
    >>> latency_encode([[1.0, 0.5, 0.01]], t_max=24.0, threshold=0.0, step=1.0)[0].times.tolist()
    [0.0, 12.0, 23.0]
    """
    values = _samples_by_features("values", values)
    _in_unit_interval("values", values)
    t_min, t_max = _check_window("t_min", t_min, "t_max", t_max)
    if threshold is not None:
        threshold = check.finite("threshold", threshold)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1] or None, got {threshold!r}")
    if not isinstance(invert, (bool, np.bool_)):
        raise TypeError(f"invert must be a bool, got {type(invert).__name__} {invert!r}")
    if step is not None:
        step = check.positive_finite("step", step)

    n_samples, n_features = values.shape
    if threshold is None:
        rows, neurons = np.divmod(np.arange(values.size, dtype=np.int64), n_features)
        p = values.ravel()
    else:
        rows, neurons = np.nonzero(values > threshold)  # row-major: grouped by sample, neurons ascending
        p = values[rows, neurons]
    scaled = (1.0 - p) if invert else p
    times = t_min + scaled * (t_max - t_min)
    if step is not None:
        times = t_min + np.floor((times - t_min) / step) * step
    return _batch_from_sorted_rows(rows.astype(np.int64), times, neurons.astype(np.int64), n_samples, n_features)


def yinyang_encode(samples: np.ndarray, t_early: float = YINYANG_T_EARLY, t_late: float = YINYANG_T_LATE,
                   bias_time: float | Sequence[float] | None = None) -> SpikeBatch:
    """Yin-Yang code: each of the 4 coordinates fires once, larger values later; optional bias spikes.

    Coordinate ``v`` of column ``k`` (neuron ``k``) fires at ``t_early + v * (t_late - t_early)`` ms. This is
    the convention of Göltz, Kriener et al. ("Fast and deep", 2021), there with ``t_early = 0.15``,
    ``t_late = 2`` in units of tau_syn. Each entry of ``bias_time`` adds one more neuron (indices 4, 5, ...)
    that fires once at that time in every sample, giving the network a constant input to build offsets from.

    The defaults (2 ms and 30 ms) suit LIF neurons with tau_syn = 5 ms and tau_mem = 10 ms, whose PSP peaks
    about 6.9 ms after its input spike: the 28 ms range spans about four PSP peak times, so different
    coordinate values give clearly different PSP timing while the whole input still falls within a 60 ms
    window; starting at 2 ms leaves room for a bias spike at 0 ms strictly before every data spike. Pass
    ``bias_time=0.0`` for the 5-input setting of the ``yinyang`` task (:mod:`eventsnn.tasks`).

    Parameters
    ----------
    samples : array_like of float, shape (n_samples, 4)
        Yin-Yang samples ``(x, y, 1 - x, 1 - y)`` in [0, 1], as from :func:`eventsnn.datasets.load_yinyang`.
    t_early : float
        Spike time (ms) of a coordinate equal to 0; >= 0. Default 2.
    t_late : float
        Spike time (ms) of a coordinate equal to 1; > ``t_early``. Default 30.
    bias_time : float, sequence of float, or None
        Time(s) (ms, >= 0) of bias spikes, one extra neuron per entry. Default None: no bias neuron.

    Returns
    -------
    SpikeBatch
        ``n_neurons = 4 + number of bias times``; one spike per neuron and sample, sorted by (time, neuron).

    Raises
    ------
    ValueError
        If ``samples`` is not (n_samples, 4), has non-finite values or values outside [0, 1], or the times are
        invalid.

    Examples
    --------
    >>> batch = yinyang_encode([[0.5, 0.25, 0.5, 0.75]], bias_time=0.0)
    >>> batch.n_neurons
    5
    >>> batch[0].times.tolist(), batch[0].neurons.tolist()
    ([0.0, 9.0, 16.0, 16.0, 23.0], [4, 1, 0, 2, 3])
    """
    samples = check.float_array("samples", samples, ndim=2)
    if samples.shape[1] != 4:
        raise ValueError(f"samples must have shape (n_samples, 4) = (x, y, 1 - x, 1 - y), got {samples.shape}")
    _in_unit_interval("samples", samples)
    t_early, t_late = _check_window("t_early", t_early, "t_late", t_late)
    if bias_time is None:
        biases = np.zeros(0)
    else:
        biases = check.float_array("bias_time", bias_time).ravel()
        if biases.size and biases.min() < 0.0:
            raise ValueError(f"bias_time must be >= 0 ms, got {float(biases.min())!r}")

    n_samples = samples.shape[0]
    n_neurons = 4 + biases.size
    times = np.concatenate([t_early + samples * (t_late - t_early),
                            np.broadcast_to(biases, (n_samples, biases.size))], axis=1)
    # stable: columns are in neuron order, so equal times stay in neuron order
    order = np.argsort(times, axis=1, kind="stable")
    neurons = np.broadcast_to(np.arange(n_neurons, dtype=np.int64), times.shape)
    return SpikeBatch(np.take_along_axis(times, order, axis=1).ravel(),
                      np.take_along_axis(neurons, order, axis=1).ravel(),
                      np.arange(n_samples + 1, dtype=np.int64) * n_neurons, n_neurons)


def poisson_encode(rates_hz: np.ndarray, duration: float, seed: int | np.random.Generator,
                   t_start: float = 0.0) -> SpikeBatch:
    """Homogeneous Poisson spike trains, one independent process per (sample, feature).

    Each count is drawn as Poisson(``rate * duration / 1000``) and the spike times are then placed uniformly
    in the window, which is the exact law of a homogeneous Poisson process (no time grid, no refractoriness).

    Parameters
    ----------
    rates_hz : array_like of float, shape (n_samples, n_features) or (n_samples, d1, d2, ...)
        Firing rates in Hz (spikes per second), finite and >= 0. Trailing dimensions are flattened.
    duration : float
        Length of the window in ms, > 0.
    seed : int or numpy.random.Generator
        An int (>= 0) seeds a fresh ``numpy.random.default_rng``: same seed, same spikes. A Generator is used
        as is and advanced.
    t_start : float
        Start of the window (ms), >= 0; spikes fall in ``[t_start, t_start + duration)``. Default 0.

    Returns
    -------
    SpikeBatch
        ``n_neurons = n_features``, sorted by (time, neuron) within each sample.

    Raises
    ------
    ValueError
        On a wrong shape, negative or non-finite rates, ``duration <= 0``, ``t_start < 0`` or a negative seed.
    TypeError
        If ``seed`` is neither an int nor a Generator, or a time is not a real number.

    Examples
    --------
    >>> batch = poisson_encode([[10.0, 0.0], [20.0, 5.0]], duration=1000.0, seed=1)
    >>> len(batch), batch.n_neurons
    (2, 2)
    >>> batch[0].counts().tolist()[1]  # a neuron at 0 Hz never fires
    0
    >>> poisson_encode([[10.0, 0.0]], 1000.0, seed=1)[0] == poisson_encode([[10.0, 0.0]], 1000.0, seed=1)[0]
    True
    """
    rates = _samples_by_features("rates_hz", rates_hz)
    if rates.size and rates.min() < 0.0:
        raise ValueError(f"rates_hz must be >= 0 Hz, got {float(rates.min())!r}")
    duration = check.positive_finite("duration", duration)
    t_start = check.nonnegative_finite("t_start", t_start)
    rng = _generator(seed)

    n_samples, n_features = rates.shape
    counts = rng.poisson(rates.ravel() * (duration / 1000.0))
    cells = np.repeat(np.arange(rates.size, dtype=np.int64), counts)
    rows, neurons = np.divmod(cells, n_features)
    times = t_start + rng.random(cells.size) * duration
    return _batch_from_sorted_rows(rows, times, neurons, n_samples, n_features)


# units event timestamps may come in, as milliseconds per unit
TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def events_encode(events: Sequence[np.ndarray], sensor_shape: tuple[int, int] = (34, 34), *,
                  polarity: bool = True, pool: int = 1, t_max: float | None = None,
                  time_unit: str | None = None) -> SpikeBatch:
    """Event-camera address-events (e.g. :func:`eventsnn.datasets.load_nmnist`) as input spikes.

    Every event becomes one spike at its own time (no binning): of neuron ``p * H' W' + (y // pool) W' +
    (x // pool)`` with ``polarity``, else ``(y // pool) W' + (x // pool)``, where ``H' = ceil(H / pool)`` and
    ``W' = ceil(W / pool)``. Pooling merges the events of ``pool x pool`` pixels into one input neuron (events
    at the same time stay separate spikes, so the input's total drive is kept).

    Parameters
    ----------
    events : sequence of structured arrays
        One per sample, with fields ``t`` (finite, >= 0, in ``time_unit``), ``x`` (column, 0..W-1), ``y`` (row,
        0..H-1) and ``p`` (polarity, 0 or 1, or bool).
    sensor_shape : (int, int)
        Sensor rows H and columns W. Default (34, 34), N-MNIST's.
    polarity : bool
        True (default): ON and OFF events drive separate neurons (2 H' W' inputs); False: one neuron per pixel.
    pool : int
        Side of the square pixel blocks merged into one neuron, >= 1. Default 1 (no pooling).
    t_max : float, optional
        Events after ``t_max`` ms are dropped (the window of the simulation). Default: keep every event.
    time_unit : {"us", "ms", "s"}, optional
        Unit of the field ``t``. Default None: float times are milliseconds (what
        :func:`eventsnn.datasets.load_nmnist` gives) and integer times are refused, because event cameras and
        Tonic count integer **microseconds** and reading them as ms would stretch a 0.3 s recording to 300 s.
        Microseconds become ms as ``t / 1000.0`` in float64 (as the N-MNIST reader computes them).

    Returns
    -------
    SpikeBatch
        ``n_neurons = (2 if polarity else 1) * H' * W'``, sorted by (time, neuron) within each sample.

    Raises
    ------
    ValueError
        On an empty sequence, missing fields, non-integer coordinates or polarities, coordinates outside the
        sensor, polarities other than 0/1, negative or non-finite times, integer times without ``time_unit``, a
        bad ``sensor_shape`` or ``time_unit``, ``pool < 1`` or ``t_max <= 0``.
    TypeError
        If ``events`` is a single structured array or ``polarity`` is not a bool.

    Examples
    --------
    >>> ev = np.array([(0.5, 33, 0, 1), (0.25, 1, 2, 0)], dtype=[("t", "f8"), ("x", "u1"), ("y", "u1"), ("p", "u1")])
    >>> batch = events_encode([ev])
    >>> batch.n_neurons, batch[0].times.tolist(), batch[0].neurons.tolist()
    (2312, [0.25, 0.5], [69, 1189])
    >>> events_encode([ev], polarity=False, pool=2)[0].neurons.tolist()
    [17, 16]
    >>> tonic_like = np.array([(33, 0, 500, 1)], dtype=[("x", "i8"), ("y", "i8"), ("t", "i8"), ("p", "i8")])
    >>> events_encode([tonic_like], time_unit="us")[0].times.tolist()
    [0.5]
    """
    if isinstance(events, np.ndarray) and events.dtype.names is not None:
        raise TypeError("events must be a sequence of per-sample arrays; for one sample pass [events]")
    events = list(events)
    if not events:
        raise ValueError("events must hold at least one sample")
    sensor = check.image_shape("sensor_shape", sensor_shape)
    if len(sensor) != 2:
        raise ValueError(f"sensor_shape must be (rows, columns), got {sensor_shape!r}")
    rows_px, cols_px = sensor
    pool = check.integer("pool", pool, minimum=1)
    check.boolean("polarity", polarity)
    if t_max is not None:
        t_max = check.positive_finite("t_max", t_max)
    if time_unit is not None:
        check.one_of("time_unit", time_unit, TIME_UNITS_MS)
    pooled_rows, pooled_cols = -(-rows_px // pool), -(-cols_px // pool)
    plane = pooled_rows * pooled_cols
    # sample by sample: the full N-MNIST training split holds ~250 M events, so no array spans all of them
    # before the final two (times, neurons)
    times_per_sample, neurons_per_sample = [], []
    for b, sample in enumerate(events):
        names = getattr(getattr(sample, "dtype", None), "names", None) or ()
        if not {"t", "x", "y", "p"} <= set(names):
            raise ValueError(f"events[{b}] must be a structured array with fields t, x, y, p; got fields {names}")
        for name in ("x", "y", "p"):
            kind = sample.dtype[name]
            if not (np.issubdtype(kind, np.integer) or (name == "p" and np.issubdtype(kind, np.bool_))):
                raise ValueError(f"events[{b}] field {name} must hold integers, got dtype {sample.dtype[name]}")
        if time_unit is None and not np.issubdtype(sample.dtype["t"], np.floating):
            raise ValueError(f"events[{b}] field t holds {sample.dtype['t']} timestamps but no time_unit was given: "
                             f"event cameras and Tonic count integer microseconds; pass time_unit='us' (or 'ms', "
                             f"'s')")
        times = np.asarray(sample["t"], dtype=np.float64)
        if time_unit == "us":
            times = times / 1000.0  # the N-MNIST reader's expression, so both give the same doubles
        elif time_unit == "s":
            times = times * 1000.0
        bad = np.flatnonzero(~np.isfinite(times) | (times < 0.0))
        if bad.size:
            raise ValueError(f"events[{b}] has time {float(times[bad[0]])!r} ms; times must be finite and >= 0")
        x, y, p = (sample[name].astype(np.int64) for name in ("x", "y", "p"))
        for name, values, bound in (("x", x, cols_px), ("y", y, rows_px), ("p", p, 2)):
            bad = np.flatnonzero((values < 0) | (values >= bound))
            if bad.size:
                raise ValueError(f"events[{b}] has {name} = {int(values[bad[0]])}, outside 0..{bound - 1} "
                                 f"(sensor_shape {(rows_px, cols_px)})")
        neurons = (y // pool) * pooled_cols + x // pool
        if polarity:
            neurons += p * plane
        if t_max is not None:
            keep = times <= t_max
            times, neurons = times[keep], neurons[keep]
        order = np.lexsort((neurons, times))
        times_per_sample.append(times[order])
        neurons_per_sample.append(neurons[order])
    offsets = np.zeros(len(events) + 1, dtype=np.int64)
    np.cumsum([t.size for t in times_per_sample], out=offsets[1:])
    return SpikeBatch(np.concatenate(times_per_sample), np.concatenate(neurons_per_sample), offsets,
                      (2 if polarity else 1) * plane)


def jitter_times(batch: SpikeBatch, sigma: float, seed: int | np.random.Generator, t_max: float | None = None
                 ) -> SpikeBatch:
    """The same spikes with every time moved by independent Gaussian noise (data augmentation).

    Each spike time becomes ``t + sigma * N(0, 1)``, clipped to ``[0, t_max]`` (to ``[0, inf)`` without
    ``t_max``) so that it stays a valid input time, and each sample is re-sorted into the canonical
    (time, neuron) order. Neurons and the number of spikes do not change. EventProp trains MNIST with
    ``sigma = 1 ms`` on a fresh draw every presentation.

    Parameters
    ----------
    batch : SpikeBatch
        Input spikes (ms).
    sigma : float
        Standard deviation of the time noise (ms), finite and >= 0; 0 returns an equal copy.
    seed : int or numpy.random.Generator
        An int (>= 0) seeds a fresh generator; a Generator is used as is and advanced.
    t_max : float, optional
        Upper clip (ms), > 0, e.g. the end of the simulation window.

    Returns
    -------
    SpikeBatch

    Examples
    --------
    >>> b = latency_encode([[1.0, 0.5, 0.0]])
    >>> j = jitter_times(b, 1.0, seed=0)
    >>> j[0].neurons.size == b[0].neurons.size, bool(j.times.min() >= 0.0)
    (True, True)
    """
    if not isinstance(batch, SpikeBatch):
        raise TypeError(f"batch must be a SpikeBatch, got {type(batch).__name__}")
    sigma = check.nonnegative_finite("sigma", sigma)
    if t_max is not None:
        t_max = check.positive_finite("t_max", t_max)
    rng = _generator(seed)
    times = batch.times + sigma * rng.standard_normal(batch.times.size)
    np.clip(times, 0.0, np.inf if t_max is None else t_max, out=times)
    rows = np.repeat(np.arange(len(batch), dtype=np.int64), np.diff(batch.offsets))
    order = np.lexsort((batch.neurons, times, rows))
    return SpikeBatch(times[order], batch.neurons[order], batch.offsets.copy(), batch.n_neurons)


def drop_spikes(batch: SpikeBatch, p: float, seed: int | np.random.Generator) -> SpikeBatch:
    """The same spikes with each one left out independently with probability ``p`` (input dropout).

    EventProp trains MNIST with ``p = 0.2`` on a fresh draw every epoch (``dropout_spikes`` in their
    ``src/eventprop_cpp.cpp``: one Bernoulli draw per spike). Kept spikes keep their times, neurons and order.

    Parameters
    ----------
    batch : SpikeBatch
        Input spikes (ms).
    p : float
        Drop probability in [0, 1); 0 returns an equal copy (and draws nothing).
    seed : int or numpy.random.Generator
        An int (>= 0) seeds a fresh generator; a Generator is used as is and advanced by one uniform per spike.

    Returns
    -------
    SpikeBatch

    Examples
    --------
    >>> b = latency_encode([[1.0, 0.5, 0.3], [0.9, 0.8, 0.7]])
    >>> d = drop_spikes(b, 0.5, seed=0)
    >>> len(d), d.n_neurons, bool(d.times.size <= b.times.size)
    (2, 3, True)
    >>> drop_spikes(b, 0.0, seed=0).times.tolist() == b.times.tolist()
    True
    """
    if not isinstance(batch, SpikeBatch):
        raise TypeError(f"batch must be a SpikeBatch, got {type(batch).__name__}")
    p = check.nonnegative_finite("p", p)
    if not p < 1.0:
        raise ValueError(f"p must be < 1 (a drop probability that keeps some spikes), got {p!r}")
    rng = _generator(seed)
    if p == 0.0:
        return SpikeBatch(batch.times.copy(), batch.neurons.copy(), batch.offsets.copy(), batch.n_neurons)
    keep = rng.random(batch.times.size) >= p
    rows = np.repeat(np.arange(len(batch), dtype=np.int64), np.diff(batch.offsets))[keep]
    return SpikeBatch(batch.times[keep], batch.neurons[keep], _offsets(rows, len(batch)), batch.n_neurons)


def shift_images(batch: SpikeBatch, shape: tuple[int, ...], max_shift: int,
                 seed: int | np.random.Generator) -> SpikeBatch:
    """The same spikes with each sample's image translated by a random whole number of pixels (augmentation).

    Input neuron ``k * height * width + r * width + c`` is read as pixel ``(r, c)`` of plane ``k`` of a
    ``shape = (height, width)`` image (one plane, MNIST) or ``(planes, height, width)`` image (e.g. the two
    polarities of :func:`events_encode`: ``(2, 34, 34)``).
    Each sample draws its own offsets ``dr, dc`` uniformly from ``{-max_shift, ..., max_shift}`` and every spike
    moves to pixel ``(r + dr, c + dc)`` of its plane; spikes shifted off the image are dropped (as the pixels of a
    shifted picture are). Spike times do not change. The classic translation augmentation of MNIST, applied to
    the spike code so that no image is re-encoded.

    Parameters
    ----------
    batch : SpikeBatch
        Input spikes of ``n_planes * height * width`` neurons.
    shape : tuple of int
        ``(height, width)`` in pixels, e.g. ``(28, 28)`` for MNIST, or ``(planes, height, width)``; the product
        must equal ``batch.n_neurons``.
    max_shift : int
        Largest offset in pixels, >= 0; 0 returns an equal copy.
    seed : int or numpy.random.Generator
        An int (>= 0) seeds a fresh generator; a Generator is used as is and advanced.

    Returns
    -------
    SpikeBatch

    Examples
    --------
    >>> b = latency_encode(np.eye(3).reshape(1, 9))        # the diagonal of a 3x3 image
    >>> s = shift_images(b, (3, 3), 1, seed=0)
    >>> bool(s.times.size <= b.times.size), s.n_neurons
    (True, 9)
    """
    if not isinstance(batch, SpikeBatch):
        raise TypeError(f"batch must be a SpikeBatch, got {type(batch).__name__}")
    *_, height, width = check.image_shape("shape", shape, n_inputs=batch.n_neurons,
                                          inputs=f"batch's {batch.n_neurons} input neurons")
    max_shift = check.integer("max_shift", max_shift, minimum=0)
    rng = _generator(seed)
    offsets = rng.integers(-max_shift, max_shift + 1, size=(len(batch), 2))
    rows = np.repeat(np.arange(len(batch), dtype=np.int64), np.diff(batch.offsets))
    plane, pixel = np.divmod(batch.neurons, height * width)
    r = pixel // width + offsets[rows, 0]
    c = pixel % width + offsets[rows, 1]
    keep = (r >= 0) & (r < height) & (c >= 0) & (c < width)
    # a translation adds the same offset to every kept neuron of a sample, so the (time, neuron) order holds
    # after the dropped spikes are removed: no re-sort needed
    neurons = (plane * (height * width) + r * width + c)[keep].astype(batch.neurons.dtype)
    return SpikeBatch(batch.times[keep], neurons, _offsets(rows[keep], len(batch)), batch.n_neurons)
