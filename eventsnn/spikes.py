"""Spike containers: ``SpikeTrains`` (one sample) and ``SpikeBatch`` (many samples in flat arrays).

Times are float64 milliseconds, neurons int64 indices. A ``SpikeTrains`` is always ordered by time, ties by
neuron index; this canonical order is what the engine consumes and what equality tests compare.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn._atomic import write_npz


def _canonical_order(times: np.ndarray, neurons: np.ndarray) -> np.ndarray:
    return np.lexsort((neurons, times))


class SpikeTrains:
    """Spikes of one sample: parallel arrays ``times`` (ms) and ``neurons``, sorted by (time, neuron).

    Parameters
    ----------
    times : array_like of float, shape (n_spikes,)
        Spike times (ms), finite and >= 0. Must be non-decreasing unless ``sort=True``.
    neurons : array_like of int, shape (n_spikes,)
        Neuron index of each spike, in [0, n_neurons).
    n_neurons : int
        Size of the population the spikes belong to.
    sort : bool
        If True, accept spikes in any order and sort them. Default False: unsorted times raise ValueError,
        because an unsorted input usually means a bug upstream. Ties in time are always put in neuron order.

    Examples
    --------
    >>> import eventsnn as es
    >>> s = es.SpikeTrains(times=[1.0, 2.5, 2.5], neurons=[3, 1, 0], n_neurons=4)
    >>> s.neurons.tolist(), len(s)
    ([3, 0, 1], 3)
    >>> s.counts().tolist()
    [1, 1, 0, 1]
    """

    __slots__ = ("times", "neurons", "n_neurons")

    def __init__(self, times: Sequence[float] | np.ndarray, neurons: Sequence[int] | np.ndarray,
                 n_neurons: int, *, sort: bool = False) -> None:
        n_neurons = check.integer("n_neurons", n_neurons, minimum=0)
        sort = check.boolean("sort", sort)
        times = check.float_array("times", times, ndim=1)
        neurons = check.index_array("neurons", neurons, int(n_neurons))
        if times.shape != neurons.shape:
            raise ValueError(f"times and neurons must have the same length, got {times.size} and {neurons.size}")
        if times.size and times.min() < 0.0:
            raise ValueError(f"times must be >= 0 ms, got {times.min()!r}")
        if times.size > 1:
            decreasing = np.flatnonzero(np.diff(times) < 0.0)
            if decreasing.size and not sort:
                k = int(decreasing[0])
                raise ValueError(f"times must be sorted (non-decreasing): times[{k}]={times[k]!r} > "
                                 f"times[{k + 1}]={times[k + 1]!r}; pass sort=True to sort them")
            if decreasing.size or np.any((np.diff(times) == 0.0) & (np.diff(neurons) < 0)):
                order = _canonical_order(times, neurons)
                times, neurons = times[order], neurons[order]
        self.times = times
        self.neurons = neurons
        self.n_neurons = int(n_neurons)

    @classmethod
    def _trusted(cls, times: np.ndarray, neurons: np.ndarray, n_neurons: int) -> "SpikeTrains":
        """Wrap arrays already known to be valid (float64 times >= 0 in (time, neuron) order, int64 neurons in
        range): kernel output and slices of a validated :class:`SpikeBatch`. No checks, no copies."""
        trains = cls.__new__(cls)
        trains.times, trains.neurons, trains.n_neurons = times, neurons, n_neurons
        return trains

    def __len__(self) -> int:
        return int(self.times.size)

    def __repr__(self) -> str:
        return f"SpikeTrains({len(self)} spikes, n_neurons={self.n_neurons})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpikeTrains):
            return NotImplemented
        return (self.n_neurons == other.n_neurons and np.array_equal(self.times, other.times)
                and np.array_equal(self.neurons, other.neurons))

    def counts(self) -> np.ndarray:
        """Number of spikes of each neuron, shape (n_neurons,)."""
        return np.bincount(self.neurons, minlength=self.n_neurons)

    def first_spike_times(self, missing: float = np.inf) -> np.ndarray:
        """Time (ms) of each neuron's first spike, ``missing`` for silent neurons; shape (n_neurons,)."""
        first = np.full(self.n_neurons, check.real_number("missing", missing))
        # reversed assignment leaves the earliest time (spikes are time-sorted)
        first[self.neurons[::-1]] = self.times[::-1]
        return first

    def to_lists(self) -> list[np.ndarray]:
        """Per-neuron arrays of spike times (ms)."""
        order = np.argsort(self.neurons, kind="stable")
        split = np.cumsum(self.counts())[:-1]
        return np.split(self.times[order], split) if self.n_neurons else []

    @classmethod
    def from_lists(cls, per_neuron: Sequence[Iterable[float]]) -> "SpikeTrains":
        """Build from one sequence of spike times (ms) per neuron, in any order."""
        arrays = [np.asarray(list(t), dtype=np.float64).ravel() for t in per_neuron]
        times = np.concatenate(arrays) if arrays else np.zeros(0)
        neurons = np.repeat(np.arange(len(arrays)), [a.size for a in arrays])
        return cls(times, neurons, len(arrays), sort=True)

    def to_raster(self, t_max: float, dt: float) -> np.ndarray:
        """Dense binned raster of spike counts, shape (n_neurons, ceil(t_max/dt)); bin k is [k dt, (k+1) dt).

        Binning rules: a spike at time t goes into bin ``floor(t / dt)`` (computed in float64), so a spike
        exactly on a bin edge belongs to the bin that *starts* there. The window is [0, t_max], closed like
        :func:`eventsnn.simulate`'s: a spike exactly at t_max goes into the last bin, spikes after t_max are
        dropped. If t_max is not a multiple of dt, the last bin is cut short at t_max. Hence
        ``raster.sum(axis=1)`` equals the counts of the spikes in [0, t_max].

        >>> import eventsnn as es
        >>> es.SpikeTrains([0.0, 0.5, 1.0, 2.0, 2.5], [0, 0, 0, 1, 1], 2).to_raster(t_max=2.0, dt=0.5).tolist()
        [[1, 1, 1, 0], [0, 0, 0, 1]]
        """
        t_max = check.positive_finite("t_max", t_max)
        dt = check.positive_finite("dt", dt)
        n_bins = max(int(np.ceil(t_max / dt - 1e-12)), 1)  # dt >> t_max: one bin holds the whole window
        raster = np.zeros((self.n_neurons, n_bins), dtype=np.int64)
        keep = self.times <= t_max
        bins = np.minimum((self.times[keep] / dt).astype(np.int64), n_bins - 1)
        np.add.at(raster, (self.neurons[keep], bins), 1)
        return raster

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` (.npz) atomically (temporary file + rename)."""
        write_npz(_npz_path(path), times=self.times, neurons=self.neurons, n_neurons=np.int64(self.n_neurons))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SpikeTrains":
        """Read a file written by :meth:`save` (the ``.npz`` suffix may be omitted, as in ``save``).

        A malformed file raises :class:`~eventsnn.FileFormatError` (a ValueError) naming the file
        and the field; reading is bounded by the sizes the file declares (docs/safety.md).
        """
        return _load_spike_file(cls, path, ("times", "neurons"))


class SpikeBatch:
    """Spikes of many samples of one population in flat arrays (sample b is ``[offsets[b], offsets[b+1])``).

    Indexing gives a :class:`SpikeTrains`; ``len`` is the number of samples. Encoders and data sets produce
    batches; :func:`eventsnn.simulate` accepts them wherever it accepts a list of ``SpikeTrains``.
    """

    __slots__ = ("times", "neurons", "offsets", "n_neurons")

    def __init__(self, times: np.ndarray, neurons: np.ndarray, offsets: np.ndarray, n_neurons: int) -> None:
        self.n_neurons = check.integer("n_neurons", n_neurons, minimum=0)
        self.times = check.float_array("times", times, ndim=1)
        self.neurons = check.index_array("neurons", neurons, self.n_neurons)
        self.offsets = check.integer_array("offsets", offsets, what="integer sample offsets")
        if self.times.size != self.neurons.size:
            raise ValueError(f"times and neurons must have the same length, got {self.times.size} and "
                             f"{self.neurons.size}")
        if (self.offsets.ndim != 1 or self.offsets.size < 1 or self.offsets[0] != 0
                or self.offsets[-1] != self.times.size or np.any(np.diff(self.offsets) < 0)):
            raise ValueError(f"offsets must start at 0, be non-decreasing and end at len(times)={self.times.size}, "
                             f"got {self.offsets.tolist()!r}")
        if self.times.size and self.times.min() < 0.0:
            raise ValueError(f"times must be >= 0 ms, got {self.times.min()!r}")
        # each sample sorted by (time, neuron), checked on the flat arrays at once: pairs that straddle a sample
        # boundary are exempt. Samples with ties out of neuron order are put in canonical order (as SpikeTrains).
        if self.times.size > 1:
            step = np.diff(self.times)
            within = np.ones(step.size, dtype=bool)
            boundaries = self.offsets[1:-1]
            within[boundaries[(boundaries > 0) & (boundaries < self.times.size)] - 1] = False
            decreasing = np.flatnonzero((step < 0.0) & within)
            if decreasing.size:
                b = int(np.searchsorted(self.offsets, decreasing[0], side="right") - 1)
                raise ValueError(f"times of sample {b} are not sorted")
            unordered_ties = np.flatnonzero((step == 0.0) & (np.diff(self.neurons) < 0) & within)
            if unordered_ties.size:
                self.times, self.neurons = self.times.copy(), self.neurons.copy()
                for b in np.unique(np.searchsorted(self.offsets, unordered_ties, side="right") - 1):
                    lo, hi = self.offsets[b], self.offsets[b + 1]
                    order = _canonical_order(self.times[lo:hi], self.neurons[lo:hi])
                    self.times[lo:hi] = self.times[lo:hi][order]
                    self.neurons[lo:hi] = self.neurons[lo:hi][order]

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def __getitem__(self, b: int) -> SpikeTrains:
        b = check.integer("sample index", b)
        if not -len(self) <= b < len(self):
            raise IndexError(f"sample {b} out of range for a batch of {len(self)}")
        b %= len(self)
        lo, hi = self.offsets[b], self.offsets[b + 1]
        return SpikeTrains._trusted(self.times[lo:hi], self.neurons[lo:hi], self.n_neurons)  # validated as a batch

    def __iter__(self):
        return (self[b] for b in range(len(self)))

    def __repr__(self) -> str:
        return f"SpikeBatch({len(self)} samples, {self.times.size} spikes, n_neurons={self.n_neurons})"

    @classmethod
    def from_list(cls, trains: Sequence[SpikeTrains]) -> "SpikeBatch":
        """A batch of the given samples, in order (all with the same ``n_neurons``; at least one)."""
        trains = list(trains)
        if not trains:
            raise ValueError("cannot build a SpikeBatch from an empty list")
        for b, t in enumerate(trains):
            if not isinstance(t, SpikeTrains):
                raise TypeError(f"trains[{b}] must be a SpikeTrains, got {type(t).__name__}")
        n = trains[0].n_neurons
        if any(t.n_neurons != n for t in trains):
            raise ValueError(f"all SpikeTrains of a batch must have the same n_neurons, got "
                             f"{sorted({t.n_neurons for t in trains})}")
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in trains])])
        return cls(np.concatenate([t.times for t in trains]), np.concatenate([t.neurons for t in trains]),
                   offsets, n)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "SpikeBatch":
        """A new batch with the given samples, in the given order."""
        return SpikeBatch.from_list([self[int(b)] for b in np.asarray(indices).ravel()])

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` (.npz) atomically (temporary file + rename)."""
        write_npz(_npz_path(path), times=self.times, neurons=self.neurons, offsets=self.offsets,
                      n_neurons=np.int64(self.n_neurons))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SpikeBatch":
        """Read a file written by :meth:`save` (the ``.npz`` suffix may be omitted, as in ``save``).

        A malformed file raises :class:`~eventsnn.FileFormatError` (a ValueError) naming the file
        and the field; reading is bounded by the sizes the file declares (docs/safety.md).
        """
        return _load_spike_file(cls, path, ("times", "neurons", "offsets"))


def _load_spike_file(cls, path: str | os.PathLike, names: tuple[str, ...]):
    """``cls(*arrays, n_neurons)`` from a spike file: each array checked (dtype, rank) from its header before it is
    read; the constructor's own checks (order, ranges) then fail with the file's name in the message."""
    from eventsnn._file_validation import FileFormatError, open_npz
    file = _npz_path(path)
    with open_npz(file) as data:
        arrays = [data.array(name, kinds="f" if name == "times" else "iu", ndim=1) for name in names]
        n_neurons = data.integer("n_neurons", minimum=0, maximum=np.iinfo(np.int64).max)
    try:
        return cls(*arrays, n_neurons)
    except (ValueError, TypeError) as error:
        raise FileFormatError(f"{file}: {error}") from None


def _npz_path(path: str | os.PathLike) -> str:
    """The file ``save`` writes for ``path``: np.savez appends ``.npz`` when it is missing, so load must too."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def _flat_trains(trains: Sequence["SpikeTrains"]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, neurons, offsets) of a list of SpikeTrains joined for one compiled call over a batch: sample b is
    ``[offsets[b], offsets[b + 1])``."""
    offsets = np.zeros(len(trains) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in trains], out=offsets[1:])
    times = np.concatenate([t.times for t in trains]).astype(np.float64, copy=False)
    neurons = np.concatenate([t.neurons for t in trains]).astype(np.int64, copy=False)
    return times, neurons, offsets
