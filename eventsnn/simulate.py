"""``simulate``: validate, pick the engine, run samples in parallel, wrap the results in ``Record`` objects."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence, Union

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels.forward import layer_forward, network_forward
from eventsnn.network import Network
from eventsnn.record import Record
from eventsnn.spikes import SpikeBatch, SpikeTrains

Inputs = Union[SpikeTrains, Mapping[str, SpikeTrains]]
ENGINES = ("auto", "feedforward", "general")
DEFAULT_MAX_SPIKES_PER_NEURON = 10_000
# Below this many samples a progress bar is noise; above it a user wants to see that work is happening.
PROGRESS_AUTO_MIN_SAMPLES = 5000


def simulate(net: Network, inputs: Inputs | Sequence[Inputs] | SpikeBatch, t_max: float, *,
             engine: str = "auto", max_spikes_per_neuron: int = DEFAULT_MAX_SPIKES_PER_NEURON,
             n_threads: int | None = None, progress: bool | None = None) -> Record | list[Record]:
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
    n_threads : int, optional
        Threads used over samples (default: all cores). Results are bit-identical for any value.
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
    if not isinstance(net, Network):
        raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
    net.validate_for_simulation()
    t_max = check.positive_finite("t_max", t_max)
    check.one_of("engine", engine, ENGINES)
    if isinstance(max_spikes_per_neuron, (bool, np.bool_)) or not isinstance(max_spikes_per_neuron, (int, np.integer)) \
            or max_spikes_per_neuron < 1:
        raise ValueError(f"max_spikes_per_neuron must be an int >= 1, got {max_spikes_per_neuron!r}")
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
    samples = list(inputs) if batched else [inputs]
    samples = [_named_inputs(net, s, b if batched else None) for b, s in enumerate(samples)]
    snapshot = net.copy()
    runner = _FeedforwardRunner(snapshot, t_max, max_spikes_per_neuron) if use_fast_path \
        else _GeneralRunner(snapshot, t_max, max_spikes_per_neuron)

    n_threads = n_threads or os.cpu_count() or 1
    show = progress if progress is not None else len(samples) >= PROGRESS_AUTO_MIN_SAMPLES
    indices = range(len(samples))
    if n_threads == 1 or len(samples) == 1:
        results = map(lambda b: runner(samples[b], b), indices)
        records = list(_with_progress(results, len(samples), show))
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            records = list(_with_progress(pool.map(lambda b: runner(samples[b], b), indices), len(samples), show))
    return records if batched else records[0]


def _with_progress(iterable, total: int, show: bool):
    if not show:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc="simulate", unit="sample")


def _named_inputs(net: Network, sample: Inputs, index: int | None) -> dict[str, SpikeTrains]:
    where = "inputs" if index is None else f"inputs[{index}]"
    names = net.input_names
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
    return dict(sample)


class _FeedforwardRunner:
    def __init__(self, net: Network, t_max: float, cap: int) -> None:
        self.net, self.t_max, self.cap = net, t_max, cap
        self.parameters = net.layer_parameters()
        self.names = list(net.populations)

    def __call__(self, inputs: dict[str, SpikeTrains], index: int) -> Record:
        spikes = inputs[self.names[0]]
        layers = []
        for k, connection in enumerate(self.net.connections):
            arrivals = spikes.times + connection.delays if connection.delays else spikes.times
            times, neurons, code = layer_forward(arrivals, spikes.neurons, connection.weights,
                                                 self.parameters[k], self.t_max, self.cap)
            check.raise_for_status(code, cap=self.cap, where=f"population {self.names[k + 1]!r}, sample {index}")
            spikes = SpikeTrains._trusted(times, neurons, connection.weights.shape[1])
            layers.append(spikes)
        return Record(layers, inputs, self.t_max, self.net)


class _GeneralRunner:
    def __init__(self, net: Network, t_max: float, cap: int) -> None:
        self.net, self.t_max, self.cap = net, t_max, cap
        self.compiled = net.compile_general()

    def __call__(self, inputs: dict[str, SpikeTrains], index: int) -> Record:
        c = self.compiled
        times = np.concatenate([inputs[n].times for n in self.net.input_names])
        sources = np.concatenate([inputs[n].neurons + c.source_offset[n] for n in self.net.input_names])
        order = np.argsort(times, kind="stable")
        out_times, out_neurons, code = network_forward(
            np.ascontiguousarray(times[order]), np.ascontiguousarray(sources[order]), c.row_ptr,
            c.synapse_target, c.synapse_weight, c.synapse_delay, c.n_input_sources, c.population_of,
            c.parameters, self.t_max, self.cap)
        if code != 0:
            worst = np.bincount(out_neurons).argmax() if out_neurons.size else 0
            name = self.net.layer_names[c.population_of[worst]]
            check.raise_for_status(code, cap=self.cap, where=f"population {name!r}, sample {index}")
        layers = []
        for k, name in enumerate(self.net.layer_names):
            mask = c.population_of[out_neurons] == k
            layers.append(SpikeTrains._trusted(np.ascontiguousarray(out_times[mask]),
                                               np.ascontiguousarray(out_neurons[mask] - c.neuron_offset[name]),
                                               self.net.populations[name].size))
        return Record(layers, inputs, self.t_max, self.net)
