"""Spikes <-> NIR ``EventData`` (``nir.data_ir``): per-sample rows padded with index -1 and time inf."""

from __future__ import annotations

from collections.abc import Sequence

import nir
import numpy as np

from eventsnn import _validation as check
from eventsnn.nir.conventions import TIME_UNITS
from eventsnn.spikes import SpikeBatch, SpikeTrains


def to_event_data(spikes: SpikeBatch | Sequence[SpikeTrains], t_max: float, *, time_unit: str = "s"
                  ) -> nir.EventData:
    """Spikes as NIR ``EventData``: per-sample rows padded with index -1 and time inf.

    Parameters
    ----------
    spikes : SpikeBatch or sequence of SpikeTrains
        Samples of one population (times in ms).
    t_max : float
        End of the recording (ms), > 0.
    time_unit : {"s", "ms"}
        Unit of ``time`` and ``t_max`` in the result. Default "s".

    Examples
    --------
    >>> import eventsnn as es
    >>> from eventsnn.nir import to_event_data, from_event_data
    >>> data = to_event_data([es.SpikeTrains([1.0, 2.0], [1, 0], 2), es.SpikeTrains([], [], 2)], t_max=5.0)
    >>> data.idx.tolist(), data.time.tolist(), data.t_max
    ([[1, 0], [-1, -1]], [[0.001, 0.002], [inf, inf]], 0.005)
    >>> from_event_data(data, time_unit="s")[0].times.tolist()
    [1.0, 2.0]
    """
    batch = spikes if isinstance(spikes, SpikeBatch) else SpikeBatch.from_list(list(spikes))
    t_max = check.positive_finite("t_max", t_max)
    check.one_of("time_unit", time_unit, TIME_UNITS)
    scale = TIME_UNITS[time_unit]
    counts = np.diff(batch.offsets)
    width = max(int(counts.max()), 1) if counts.size else 1
    idx = np.full((len(batch), width), -1, dtype=np.int64)
    time = np.full((len(batch), width), np.inf)
    rows = np.repeat(np.arange(len(batch)), counts)
    cols = np.arange(batch.times.size) - np.repeat(batch.offsets[:-1], counts)
    idx[rows, cols] = batch.neurons
    time[rows, cols] = batch.times * scale
    return nir.EventData(idx=idx, time=time, n_neurons=batch.n_neurons, t_max=t_max * scale)


def from_event_data(data: nir.EventData, *, time_unit: str) -> SpikeBatch:
    """A ``SpikeBatch`` (times in ms) from NIR ``EventData``, whose unit of time must be stated: "s" or "ms".

    Entries with index -1 are padding and must have time inf; the others are sorted by (time, neuron).
    """
    if not isinstance(data, nir.EventData):
        raise TypeError(f"data must be a nir.EventData, got {type(data).__name__}")
    check.one_of("time_unit", time_unit, TIME_UNITS)
    idx, time = np.asarray(data.idx), np.asarray(data.time, dtype=np.float64)
    if idx.ndim != 2 or idx.shape != time.shape:
        raise ValueError(f"EventData idx and time must be 2-D of equal shape, got {idx.shape} and {time.shape}")
    valid = idx != -1
    if np.any(np.isinf(time) & valid) or np.any(~np.isinf(time) & ~valid):
        raise ValueError("EventData must mark missing events with idx -1 and time inf together")
    trains = [SpikeTrains(time[b][valid[b]] / TIME_UNITS[time_unit], idx[b][valid[b]], int(data.n_neurons),
                          sort=True) for b in range(idx.shape[0])]
    return SpikeBatch.from_list(trains)
