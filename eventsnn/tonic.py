"""Tonic event data sets as eventsnn input spikes, in one call.

Tonic (https://tonic.readthedocs.io) gives every event data set (N-MNIST, SHD, DVS Gesture, N-Caltech101,
POKER-DVS, ...) as ``(events, target)`` pairs, where ``events`` is a structured array with fields ``x``, ``y``
(absent for one-dimensional sensors such as SHD's cochlea), ``t`` in integer **microseconds** and ``p``
(polarity; absent or constant for some sets), and the data set's ``sensor_size`` is ``(width, height,
polarities)``. :func:`from_tonic` turns such a data set into a :class:`~eventsnn.spikes.SpikeBatch` (times in ms,
one spike per event, no binning) and labels; the neuron numbering is :func:`eventsnn.encoders.events_encode`'s.

This module needs nothing from Tonic itself (it reads the arrays Tonic returns), so it imports without the
``tonic`` extra; loading a Tonic data set of course needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eventsnn import _validation as check
from eventsnn.encoders import TIME_UNITS_MS, events_encode
from eventsnn.spikes import SpikeBatch


@dataclass
class EventSamples:
    """Input spikes and labels of an event data set.

    Attributes
    ----------
    inputs : SpikeBatch
        One sample per data set item; times in ms.
    labels : numpy.ndarray of int64, shape (n_samples,)
        The items' targets.
    input_shape : tuple of int
        ``(planes, rows, columns)`` of the input neurons (planes = polarities kept), e.g. for
        ``eventsnn.training.TrainConfig(input_shape=...)`` and :func:`eventsnn.encoders.shift_images`.
    """

    inputs: SpikeBatch
    labels: np.ndarray
    input_shape: tuple[int, int, int]


def from_tonic(dataset: Any, *, n: int | None = None, sensor_size: tuple[int, ...] | None = None,
               polarity: bool = True, pool: int = 1, t_max: float | None = None,
               time_unit: str = "us") -> EventSamples:
    """Input spikes and labels from a Tonic data set (or any sequence of ``(events, label)`` pairs).

    Parameters
    ----------
    dataset : indexable of (structured array, int)
        E.g. ``tonic.datasets.NMNIST(save_to=..., train=False)``; transforms of the data set are applied by it.
    n : int, optional
        Read only the first ``n`` items. Default: all.
    sensor_size : (width, height[, polarities]), optional
        Default: ``dataset.sensor_size`` (Tonic's order: x extent first).
    polarity : bool
        True: the two polarities drive separate neurons (when the sensor has two). Default True.
    pool : int
        Side of the square pixel blocks merged into one input neuron. Default 1.
    t_max : float, optional
        Drop events after ``t_max`` ms. Default: keep all.
    time_unit : {"us", "ms", "s"}
        Unit of the events' ``t`` field. Default "us", Tonic's.

    Returns
    -------
    EventSamples

    Examples
    --------
    >>> import numpy as np
    >>> from eventsnn.tonic import from_tonic
    >>> dtype = [("x", "i8"), ("y", "i8"), ("t", "i8"), ("p", "i8")]
    >>> items = [(np.array([(1, 0, 1500, 1), (0, 0, 250, 0)], dtype=dtype), 3)]
    >>> samples = from_tonic(items, sensor_size=(2, 1, 2))
    >>> samples.inputs[0].times.tolist(), samples.inputs[0].neurons.tolist(), samples.labels.tolist()
    ([0.25, 1.5], [0, 3], [3])
    >>> samples.input_shape
    (2, 1, 2)
    """
    check.one_of("time_unit", time_unit, TIME_UNITS_MS)
    if n is not None:
        n = check.integer("n", n, minimum=1)
    if sensor_size is None:
        sensor_size = getattr(dataset, "sensor_size", None)
        if sensor_size is None:
            raise ValueError("the data set has no sensor_size attribute; pass sensor_size=(width, height, "
                             "polarities)")
    size = tuple(int(s) for s in sensor_size)
    if len(size) not in (2, 3) or min(size) < 1:
        raise ValueError(f"sensor_size must be (width, height) or (width, height, polarities) with positive "
                         f"ints, got {sensor_size!r}")
    width, height = size[0], size[1]
    planes = size[2] if len(size) == 3 else 1
    if planes > 2:
        raise ValueError(f"sensor_size has {planes} polarities; eventsnn reads at most 2")
    check.boolean("polarity", polarity)
    count = len(dataset) if n is None else min(n, len(dataset))
    events, labels = [], []
    for index in range(count):
        item = dataset[index]
        if not isinstance(item, tuple) or len(item) != 2:
            raise ValueError(f"dataset[{index}] must be an (events, label) pair, got {type(item).__name__}")
        sample, label = item
        events.append(_standard_events(sample, index))
        labels.append(check.integer(f"label of dataset[{index}]", np.asarray(label).item() if np.ndim(label) == 0
                                    else label, minimum=0))
    if not events:
        raise ValueError("the data set is empty")
    keep_polarity = polarity and planes == 2
    batch = events_encode(events, (height, width), polarity=keep_polarity, pool=pool, t_max=t_max,
                          time_unit=time_unit)
    shape = (2 if keep_polarity else 1, -(-height // pool), -(-width // pool))
    return EventSamples(batch, np.asarray(labels, dtype=np.int64), shape)


def _standard_events(sample: Any, index: int) -> np.ndarray:
    """Fields t, x, y, p of one item (y = 0 for one-dimensional sensors, p = 0 without polarity)."""
    names = getattr(getattr(sample, "dtype", None), "names", None) or ()
    missing = {"t", "x"} - set(names)
    if missing:
        raise ValueError(f"dataset[{index}] events must be a structured array with at least fields t and x; "
                         f"got fields {names}")
    out = np.empty(sample.shape[0], dtype=[("t", sample.dtype["t"]), ("x", np.int64), ("y", np.int64),
                                           ("p", np.int64)])
    out["t"] = sample["t"]
    for name in ("x", "y", "p"):
        if name not in names:
            out[name] = 0
        elif not (np.issubdtype(sample.dtype[name], np.integer) or np.issubdtype(sample.dtype[name], np.bool_)):
            raise ValueError(f"dataset[{index}] field {name} must hold integers, got dtype {sample.dtype[name]}")
        else:
            out[name] = sample[name]
    return out
