"""``simulate``: validate, pick the engine, run samples in parallel, wrap the results in ``Record`` objects."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Mapping, Sequence, Union

import numpy as np

from eventsnn import _validation as check
from eventsnn._pool import start_ranges
from eventsnn._kernels import status as _status
from eventsnn._kernels.batch import NOT_RUN, layer_forward_range
from eventsnn._kernels.forward import layer_forward, network_forward
from eventsnn._validation import SpikeLimitError
from eventsnn.network import Network
from eventsnn.record import Record
from eventsnn.spikes import SpikeBatch, SpikeTrains

Inputs = Union[SpikeTrains, Mapping[str, SpikeTrains]]
ENGINES = ("auto", "feedforward", "general")
DEFAULT_MAX_SPIKES_PER_NEURON = 10_000
# The work of one sample is about (its spikes) x (SPIKE_COST + the fan-out of a spiking neuron), in units of one
# delivery (an update of the target's state and a new crossing prediction): benchmarks/delivery_cost.py measures a
# spike of a 10,000-neuron bias-driven population at about 0.4 us (heap and solver) and a delivery in a 1000-neuron
# all-to-all network at about 0.17 us (2026-12-07, docs/safety.md); SPIKE_COST 5 errs on the safe side. The
# default max_spikes_per_sample keeps that product at DEFAULT_SAMPLE_WORK (about 0.5-1 s on one idle core;
# tests/test_safety_runaway.py holds the runaway examples to 5 s of CPU time); networks that legitimately need
# more pass a larger cap.
SPIKE_COST = 5
DEFAULT_SAMPLE_WORK = 5_000_000
# The default max_spikes_per_batch bounds the memory of the returned records (16 bytes per spike: 1.6 GB).
DEFAULT_MAX_SPIKES_PER_BATCH = 100_000_000
# Below this many samples a progress bar is noise; above it a user wants to see that work is happening.
PROGRESS_AUTO_MIN_SAMPLES = 5000
# Several threads share a batch as contiguous ranges of samples, claimed by the threads as they free up: several
# ranges per thread even out samples of unequal cost and a thread that starts late, and each range is one compiled
# call (no Python work per sample; a range costs ~20 us of dispatch under the GIL).
RANGES_PER_THREAD = 8
MAX_RANGE_SAMPLES = 256  # ... and no range so long that a progress bar would stall on it


def simulate(net: Network, inputs: Inputs | Sequence[Inputs] | SpikeBatch, t_max: float, *,
             engine: str = "auto", max_spikes_per_neuron: int = DEFAULT_MAX_SPIKES_PER_NEURON,
             max_spikes_per_sample: int | None = None, max_spikes_per_batch: int | None = None,
             time_budget: float | None = None, n_threads: int | None = None,
             progress: bool | None = None) -> Record | list[Record]:
    """Simulate a network exactly, event by event.

    Parameters
    ----------
    net : Network
        The network. Its weights are copied into each ``Record``.
    inputs : SpikeTrains, dict of str to SpikeTrains, or a list of either, or a SpikeBatch
        Input spikes (times in ms). A single ``SpikeTrains`` feeds the only input population; a dict maps
        input population names to spikes. A list (or ``SpikeBatch``) is a batch of samples.
    t_max : float
        End of the simulated window (ms), > 0. Spikes are counted in the closed window [0, t_max]; input
        spikes after ``t_max`` are ignored.
    engine : {"auto", "feedforward", "general"}
        "feedforward" is the layered fast path (a chain of populations with scalar delays); "general" the
        heap engine (recurrence, per-synapse delays). "auto" picks the fast path when it applies. Both give
        the same spikes (tested).
    max_spikes_per_neuron : int
        Cap on spikes per neuron and sample (default 10000). Exceeding it raises
        :class:`eventsnn.SpikeLimitError` instead of hanging or exhausting memory on runaway activity.
    max_spikes_per_sample : int, optional
        Cap on the spikes of all neuron populations together in one sample. Default
        :func:`default_max_spikes_per_sample` (from the network's size and fan-out: about 5e6 spike deliveries).
        Exceeding it raises :class:`eventsnn.SpikeLimitError`.
    max_spikes_per_batch : int, optional
        Cap on the spikes of all samples of the call together (default 1e8, 1.6 GB of records). Checked after each
        sample; exceeding it raises :class:`eventsnn.SpikeLimitError`.
    time_budget : float, optional
        Wall-clock budget (s) of the call. Checked before each sample and each layer of the feed-forward path, so it
        can be exceeded by one kernel call (itself bounded by ``max_spikes_per_sample``); exceeding it raises
        :class:`eventsnn.SpikeLimitError`. Default: none.
    n_threads : int, optional
        Threads used over samples (default: all cores). Results, and the error a cap raises, are bit-identical for
        any value (docs/threads.md).
    progress : bool, optional
        Show a progress bar; by default only for batches of at least 5000 samples.

    Returns
    -------
    Record or list of Record
        A list exactly when ``inputs`` is a list or a SpikeBatch.

    Examples
    --------
    >>> import numpy as np, eventsnn as es
    >>> net = es.Network.feedforward([2, 3, 1], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0),
    ...                              weights=[np.full((2, 3), 3.0), np.full((3, 1), 2.0)])
    >>> rec = es.simulate(net, es.SpikeTrains(times=[1.0, 2.0], neurons=[0, 1], n_neurons=2), t_max=50.0)
    >>> len(rec.layers[0]), len(rec.layers[1])
    (3, 1)
    """
    started = time.monotonic()
    if not isinstance(net, Network):
        raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
    # checked as it is now and copied in one pass: the records keep the weights of this run (the copy is what the
    # kernels read and what the value checks ran on)
    snapshot = net._validated_copy()
    t_max = check.positive_finite("t_max", t_max)
    check.one_of("engine", engine, ENGINES)
    if isinstance(max_spikes_per_neuron, (bool, np.bool_)) or not isinstance(max_spikes_per_neuron, (int, np.integer)) \
            or max_spikes_per_neuron < 1:
        raise ValueError(f"max_spikes_per_neuron must be an int >= 1, got {max_spikes_per_neuron!r}")
    max_spikes_per_neuron = check.integer("max_spikes_per_neuron", max_spikes_per_neuron, maximum=check.INT64_MAX)
    if max_spikes_per_sample is None:
        max_spikes_per_sample = default_max_spikes_per_sample(net, max_spikes_per_neuron)
    max_spikes_per_sample = check.integer("max_spikes_per_sample", max_spikes_per_sample, minimum=1,
                                          maximum=check.INT64_MAX)
    if max_spikes_per_batch is None:
        max_spikes_per_batch = DEFAULT_MAX_SPIKES_PER_BATCH
    max_spikes_per_batch = check.integer("max_spikes_per_batch", max_spikes_per_batch, minimum=1)
    if time_budget is not None:
        time_budget = check.positive_finite("time_budget", time_budget)
    if n_threads is not None and (isinstance(n_threads, (bool, np.bool_))
                                  or not isinstance(n_threads, (int, np.integer)) or n_threads < 1):
        raise ValueError(f"n_threads must be an int >= 1, got {n_threads!r}")
    if progress is not None:
        check.boolean("progress", progress)
    layered = net.is_layered_feedforward()
    if engine == "feedforward" and not layered:
        raise ValueError("engine='feedforward' needs a chain input -> layer1 -> ... with scalar delays; "
                         "use engine='general' or 'auto' for this network")
    use_fast_path = engine == "feedforward" or (engine == "auto" and layered)

    batched = isinstance(inputs, (list, tuple, SpikeBatch))
    if isinstance(inputs, SpikeBatch):  # its slices are trusted: check the flat arrays once, as they are now
        check.spike_arrays("inputs", inputs, batch=True)
    samples = list(inputs) if batched else [inputs]
    samples = _named_batch(net, samples, batched, checked=isinstance(inputs, SpikeBatch))
    limits = _Limits(max_spikes_per_neuron, max_spikes_per_sample, max_spikes_per_batch,
                     None if time_budget is None else (started + time_budget, time_budget))
    runner = _FeedforwardRunner(snapshot, t_max, limits) if use_fast_path else _GeneralRunner(snapshot, t_max, limits)

    n_threads = n_threads or os.cpu_count() or 1
    show = progress if progress is not None else len(samples) >= PROGRESS_AUTO_MIN_SAMPLES
    indices = range(len(samples))
    if n_threads == 1 or len(samples) <= 1:
        results = map(lambda b: runner(samples[b], b), indices)
        records = list(_with_progress(results, len(samples), show))
    elif use_fast_path:
        records = _feedforward_in_ranges(snapshot, samples, t_max, limits, n_threads, show)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            records = list(_with_progress(pool.map(lambda b: runner(samples[b], b), indices), len(samples), show))
    # the records' snapshot holds the checked values until someone is handed its arrays: vjp need not re-read them
    snapshot._mark_values_checked()
    return records if batched else records[0]


def sample_ranges(n_samples: int, n_threads: int) -> list[tuple[int, int]]:
    """Contiguous ranges ``[first, stop)`` that cover ``n_samples`` samples in order, as equal as possible: about
    ``RANGES_PER_THREAD`` per thread and at most ``MAX_RANGE_SAMPLES`` samples each.

    Examples
    --------
    >>> from eventsnn.simulate import sample_ranges
    >>> sample_ranges(5, 2)
    [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    >>> len(sample_ranges(1000, 2)), sample_ranges(1000, 2)[0]
    (16, (0, 62))
    """
    n_ranges = max(1, min(n_samples, max(RANGES_PER_THREAD * n_threads, -(-n_samples // MAX_RANGE_SAMPLES))))
    bounds = [n_samples * r // n_ranges for r in range(n_ranges + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _feedforward_in_ranges(net: Network, samples: list[dict[str, SpikeTrains]], t_max: float, limits: _Limits,
                           n_threads: int, show: bool) -> list[Record]:
    """The feed-forward path on several threads: layer by layer, each thread runs whole ranges of samples in one
    compiled call (``_kernels/batch.layer_forward_range``, no GIL), every sample exactly as the one-thread path runs
    it. The caps are then judged in sample order, so errors are those of one thread (a time budget aside: when it
    runs out depends on the machine)."""
    names = list(net.populations)
    parameters = net.layer_parameters()
    n = len(samples)
    first = [s[names[0]] for s in samples]
    times = np.concatenate([s.times for s in first]) if n else np.zeros(0)
    neurons = np.concatenate([s.neurons for s in first]).astype(np.int64, copy=False)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(s) for s in first], out=offsets[1:])
    ranges = sample_ranges(n, n_threads)
    left = np.full(n, limits.per_sample, dtype=np.int64)  # spikes each sample may still fire, over all layers
    stop_at = np.array([n], dtype=np.int64)  # samples after stop_at[0] need not run (batch.py)
    failed_layer = np.full(n, -1, dtype=np.int64)
    failed_code = np.zeros(n, dtype=np.int64)
    skipped_layer = np.full(n, -1, dtype=np.int64)
    fired = np.zeros(n, dtype=np.int64)
    outputs = []
    bar = _progress_bar(n * len(net.connections), show)
    for k, connection in enumerate(net.connections):
        delay = connection.delays
        arrivals = times + delay if delay else times
        if limits.deadline is not None and time.monotonic() > limits.deadline[0]:
            stop_at[0] = -1
        futures, parts = start_ranges(n_threads, ranges, lambda lo, hi: layer_forward_range(
            arrivals, neurons, offsets, lo, hi, connection.weights, parameters[k], t_max, limits.per_neuron, left,
            stop_at), caller_works=limits.deadline is None)  # else the calling thread watches the clock
        _wait(futures, limits, stop_at)
        if bar is not None:
            bar.update(int(sum(np.count_nonzero(p[3] != NOT_RUN) for p in parts)))
        times = np.concatenate([p[0] for p in parts])
        neurons = np.concatenate([p[1] for p in parts])
        counts = np.concatenate([p[2][1:] - p[2][:-1] for p in parts])  # np.diff without its Python layer
        codes = np.concatenate([p[3] for p in parts])
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        outputs.append((times, neurons, offsets))
        left -= counts
        fired += counts
        failed = (codes != _status.OK) & (codes != NOT_RUN) & (failed_layer < 0)
        failed_layer[failed], failed_code[failed] = k, codes[failed]
        skipped_layer[(codes == NOT_RUN) & (skipped_layer < 0) & (failed_layer < 0)] = k
        over = np.flatnonzero(np.cumsum(fired) > limits.per_batch)  # the batch cap is exceeded by then
        if over.size:
            stop_at[0] = min(stop_at[0], over[0])
    if bar is not None:
        bar.close()
    # the caps in sample order: a sample's first failed layer, then the batch total after it (as one thread); when
    # no sample failed and the batch stays under its cap, that is one addition
    total = int(fired.sum())
    if failed_layer.max() < 0 and skipped_layer.max() < 0 and limits.batch_spikes + total <= limits.per_batch:
        limits.add(total, f"sample {n - 1}")
    else:
        _check_caps_in_order(names, limits, failed_layer, failed_code, skipped_layer, fired)
    layer_names = net.layer_names
    per_layer = []  # the SpikeTrains of each layer, sample by sample: views of the layer's flat arrays
    for (t, j, o), connection in zip(outputs, net.connections):
        size = connection.weights.shape[1]
        o = o.tolist()  # Python ints: cheaper slicing than numpy scalars
        per_layer.append([SpikeTrains._trusted(t[lo:hi], j[lo:hi], size) for lo, hi in zip(o[:-1], o[1:])])
    return [Record._trusted(list(layers), sample, t_max, net, layer_names)
            for layers, sample in zip(zip(*per_layer), samples)]


def _check_caps_in_order(names: list[str], limits: _Limits, failed_layer: np.ndarray, failed_code: np.ndarray,
                         skipped_layer: np.ndarray, fired: np.ndarray) -> None:
    """Raise the error one thread would have raised first: sample by sample, its first failed layer (or the time
    budget, if it was skipped), then the batch total after it."""
    for b in range(fired.size):
        if failed_layer[b] >= 0:
            limits.status(int(failed_code[b]), f"population {names[failed_layer[b] + 1]!r}, sample {b}")
        if skipped_layer[b] >= 0:  # skipped without an earlier failure: the time budget ran out
            limits.check_time(f"population {names[skipped_layer[b] + 1]!r}, sample {b}")
            raise RuntimeError(f"internal error: sample {b} was not simulated")
        limits.add(int(fired[b]), f"sample {b}")


def _wait(futures: list, limits: _Limits, stop_at: np.ndarray) -> None:
    """Wait for the ranges of one layer; when the time budget runs out, tell them to skip their other samples."""
    pending = set(futures)
    while pending:
        timeout = None if limits.deadline is None or stop_at[0] < 0 else max(limits.deadline[0] - time.monotonic(),
                                                                               0.0)
        done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:  # timed out
            stop_at[0] = -1
    for future in futures:
        future.result()  # re-raises a worker's exception


def _progress_bar(total: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="simulate (samples x layers)", unit="sample")


def _with_progress(iterable, total: int, show: bool):
    if not show:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc="simulate", unit="sample")


def default_max_spikes_per_sample(net: Network, max_spikes_per_neuron: int = DEFAULT_MAX_SPIKES_PER_NEURON) -> int:
    """The default cap on spikes per sample: 5e6 / (5 + mean fan-out of the neuron populations) spikes, i.e. about
    5e6 spike deliveries (a spike costs about as much as 5 deliveries), at least 1000, and never more than
    ``n_neurons * max_spikes_per_neuron`` (where the per-neuron cap already stops a sample).

    Examples
    --------
    >>> import numpy as np, eventsnn as es
    >>> from eventsnn.simulate import default_max_spikes_per_sample
    >>> net = es.Network.feedforward([10, 1000, 10], neuron=es.LIF(), weights=[np.zeros((10, 1000)),
    ...                                                                        np.zeros((1000, 10))])
    >>> default_max_spikes_per_sample(net)  # 5e6 / (5 + 1000 x 10 synapses / 1010 neurons)
    335548
    """
    neurons = sum(p.size for p in net.populations.values() if not p.is_input)
    synapses = sum(c.weights.size for c in net.connections if not net.populations[c.pre].is_input)
    by_work = int(DEFAULT_SAMPLE_WORK / (SPIKE_COST + synapses / max(neurons, 1)))
    return int(min(neurons * int(max_spikes_per_neuron), max(by_work, 1000)))


class _Limits:
    """The caps of one ``simulate`` call, and the running total of spikes of its batch (shared by its threads)."""

    def __init__(self, per_neuron: int, per_sample: int, per_batch: int, deadline: tuple[float, float] | None):
        self.per_neuron, self.per_sample, self.per_batch, self.deadline = per_neuron, per_sample, per_batch, deadline
        self.batch_spikes = 0
        self.lock = threading.Lock()
        self.stopped: BaseException | None = None

    def check_time(self, where: str) -> None:
        if self.stopped is not None:  # another sample hit a cap: the others stop at their next check
            raise SpikeLimitError(f"stopped: {self.stopped}")
        if self.deadline is not None and time.monotonic() > self.deadline[0]:
            raise self._stop(SpikeLimitError(f"the simulation exceeded time_budget={self.deadline[1]!r} s before "
                                             f"{where}; raise time_budget or check for runaway activity"))

    def add(self, n_spikes: int, where: str) -> None:
        with self.lock:
            self.batch_spikes += n_spikes
            total = self.batch_spikes
        if total > self.per_batch:
            raise self._stop(SpikeLimitError(f"the batch exceeded max_spikes_per_batch={self.per_batch} spikes "
                                             f"({total} after {where}); raise max_spikes_per_batch or simulate "
                                             "fewer samples per call"))

    def status(self, code: int, where: str) -> None:
        if code == 0:
            return
        cap = self.per_sample if code == _status.SAMPLE_SPIKE_LIMIT else self.per_neuron
        try:
            check.raise_for_status(code, cap=cap, where=where)
        except SpikeLimitError as error:
            raise self._stop(error) from None

    def _stop(self, error: BaseException) -> BaseException:
        self.stopped = self.stopped or error
        return error


def _named_batch(net: Network, samples: list, batched: bool, checked: bool) -> list[dict[str, SpikeTrains]]:
    """Every sample as a dict input name -> SpikeTrains, checked. A batch of SpikeTrains for the only input
    population is checked in one compiled pass (``check.spike_trains_valid``); if that finds anything, or the batch
    is of another kind, each sample is checked in turn, which raises the first error in sample order."""
    names = net.input_names
    if batched and not checked and len(names) == 1 and all(type(s) is SpikeTrains for s in samples) \
            and check.spike_trains_valid(samples, net.populations[names[0]].size):
        return [{names[0]: s} for s in samples]
    return [_named_inputs(net, s, b if batched else None, checked=checked, names=names)
            for b, s in enumerate(samples)]


def _named_inputs(net: Network, sample: Inputs, index: int | None, checked: bool = False,
                  names: list[str] | None = None) -> dict[str, SpikeTrains]:
    where = "inputs" if index is None else f"inputs[{index}]"
    names = net.input_names if names is None else names
    if isinstance(sample, SpikeTrains):
        if len(names) != 1:
            raise ValueError(f"{where} is one SpikeTrains but the network has input populations {names}; "
                             "pass a dict name -> SpikeTrains")
        sample = {names[0]: sample}
    if not isinstance(sample, Mapping):
        raise TypeError(f"{where} must be a SpikeTrains or a dict of them, got {type(sample).__name__}")
    unknown = set(sample) - set(names)
    missing = set(names) - set(sample)
    if unknown or missing:
        raise ValueError(f"{where} must give spikes for exactly the input populations {names}; "
                         f"unknown {sorted(unknown)}, missing {sorted(missing)}")
    for name, spikes in sample.items():
        if not isinstance(spikes, SpikeTrains):
            raise TypeError(f"{where}[{name!r}] must be a SpikeTrains, got {type(spikes).__name__}")
        size = net.populations[name].size
        if spikes.n_neurons != size:
            raise ValueError(f"{where}[{name!r}] has n_neurons={spikes.n_neurons} but input population "
                             f"{name!r} has {size} neurons")
        if not checked:  # its arrays are public: re-check what the kernels will index with
            check.spike_arrays(f"{where}[{name!r}]", spikes)
    return dict(sample)


class _FeedforwardRunner:
    def __init__(self, net: Network, t_max: float, limits: _Limits) -> None:
        self.net, self.t_max, self.limits = net, t_max, limits
        self.parameters = net.layer_parameters()
        self.names = list(net.populations)
        self.layer_names = net.layer_names

    def __call__(self, inputs: dict[str, SpikeTrains], index: int) -> Record:
        limits = self.limits
        spikes = inputs[self.names[0]]
        layers = []
        left = limits.per_sample  # spikes the sample may still fire, over all layers
        for k, connection in enumerate(self.net.connections):
            where = f"population {self.names[k + 1]!r}, sample {index}"
            limits.check_time(where)
            arrivals = spikes.times + connection.delays if connection.delays else spikes.times
            times, neurons, code = layer_forward(arrivals, spikes.neurons, connection.weights,
                                                 self.parameters[k], self.t_max, limits.per_neuron, left)
            limits.status(code, where)
            left -= times.size
            spikes = SpikeTrains._trusted(times, neurons, connection.weights.shape[1])
            layers.append(spikes)
        limits.add(limits.per_sample - left, f"sample {index}")
        return Record._trusted(layers, inputs, self.t_max, self.net, self.layer_names)


class _GeneralRunner:
    def __init__(self, net: Network, t_max: float, limits: _Limits) -> None:
        self.net, self.t_max, self.limits = net, t_max, limits
        self.compiled = net.compile_general()
        self.layer_names = net.layer_names

    def __call__(self, inputs: dict[str, SpikeTrains], index: int) -> Record:
        c = self.compiled
        limits = self.limits
        limits.check_time(f"sample {index}")
        times = np.concatenate([inputs[n].times for n in self.net.input_names])
        sources = np.concatenate([inputs[n].neurons + c.source_offset[n] for n in self.net.input_names])
        order = np.argsort(times, kind="stable")
        out_times, out_neurons, code = network_forward(
            np.ascontiguousarray(times[order]), np.ascontiguousarray(sources[order]), c.row_ptr,
            c.synapse_target, c.synapse_weight, c.synapse_delay, c.n_input_sources, c.population_of,
            c.parameters, self.t_max, limits.per_neuron, limits.per_sample)
        if code == _status.SPIKE_LIMIT:
            worst = np.bincount(out_neurons).argmax() if out_neurons.size else 0
            name = self.net.layer_names[c.population_of[worst]]
            limits.status(code, f"population {name!r}, sample {index}")
        limits.status(code, f"sample {index}")
        limits.add(out_times.size, f"sample {index}")
        layers = []
        for k, name in enumerate(self.layer_names):
            mask = c.population_of[out_neurons] == k
            layers.append(SpikeTrains._trusted(np.ascontiguousarray(out_times[mask]),
                                               np.ascontiguousarray(out_neurons[mask] - c.neuron_offset[name]),
                                               self.net.populations[name].size))
        return Record._trusted(layers, inputs, self.t_max, self.net, self.layer_names)
