"""``vjp``: exact vector-Jacobian product of all spike times with respect to the network's parameters.

Given cotangents dL/dt for every recorded spike, ``vjp`` returns dL/dW for every connection, dL/dbias for
every population, dL/d(delay) for every connection and dL/dt for every input spike. It is exact (derived
from the implicit function theorem at each crossing and chained through resets, refractory periods and
downstream neurons; docs/theory.md) as long as no spike appears or disappears under the perturbation.

Near-grazing crossings (dV/dt at threshold close to 0) make the exact derivative huge. The exact value is the
default; ``min_slope`` is an opt-in floor on dV/dt for training, and ``Gradients.n_near_grazing`` reports how
many crossings had dV/dt < ``grazing_slope`` (whether or not clipping was on).

Route of one sample: a layered feed-forward record goes through ``_layered_vjp``, one loop over the layers from
the top, each a call of ``_kernels/backward.layer_backward``; the exact timing adjoint is that sweep without
sources, the creation/removal methods add the candidate sources of :class:`eventsnn.gradient_methods.MethodSources`.
Any other network goes through ``_network_vjp`` (``_kernels/backward_network.network_backward``, one global
reverse sweep; timing only). Each returns a ``_SampleGradients``; a batch adds them up in sample order.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn._pool import start_ranges
from eventsnn._kernels.backward import layer_backward, no_sources, scatter_rows
from eventsnn._kernels.batch import layer_backward_range, scatter_rows_columns
from eventsnn._kernels.backward_network import KIND_ARRIVAL, KIND_REFRACTORY_END, KIND_SPIKE, network_backward
from eventsnn._kernels.lif import P_REFRACTORY
from eventsnn.gradient_methods import METHODS, MethodOptions, MethodSources, make_options
from eventsnn.losses import LossResult
from eventsnn.network import Network
from eventsnn.record import Record
from eventsnn.spikes import _flat_trains

DEFAULT_GRAZING_SLOPE = 1e-3  # 1/ms: a crossing this flat moves by >= 1 ms per 1e-3 change of V
_NO_SOURCES = no_sources()  # the timing adjoint: the sweep without sources or queries
_NO_QUERIES = np.zeros(0)
# Relative share of a batch given to the thread that adds its weight gradients in place (see
# _layered_timing_in_ranges); measured on W2's hidden layer, writing the rows and adding them in later cost ~1.8x
# the in-place sweep.
IN_PLACE_SHARE = 1.6


@dataclass
class Gradients:
    """dL/d(parameters) from :func:`vjp`. Shapes match the network; summed over samples for a batch.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[k]`` = dL/dW_k, shape of the k-th connection's weight matrix.
    biases : list of float
        dL/d(bias) of each non-input population (``layer_names`` order).
    delays : list of float or ndarray
        dL/d(delay) (1/ms units of L) of each connection; scalar for scalar delays.
    input_times : dict of str to ndarray or None
        dL/dt for each input spike, aligned with ``rec.inputs[name].times`` (None for a batch).
    spike_times : list of ndarray or None
        Total dL/dt of each recorded spike (loss + downstream), one array per layer (None for a batch).
    n_near_grazing : int
        Crossings with dV/dt below ``grazing_slope``.
    """

    weights: list
    biases: list
    delays: list
    input_times: dict | None = None
    spike_times: list | None = None
    n_near_grazing: int = 0
    extra: dict = field(default_factory=dict)

    def __add__(self, other: "Gradients") -> "Gradients":
        return Gradients(
            weights=[a + b for a, b in zip(self.weights, other.weights)],
            biases=[a + b for a, b in zip(self.biases, other.biases)],
            delays=[a + b for a, b in zip(self.delays, other.delays)],
            n_near_grazing=self.n_near_grazing + other.n_near_grazing)


def vjp(net: Network, rec: Record | Sequence[Record], cotangents, *, method: str = "timing",
        min_slope: float = 0.0, grazing_slope: float = DEFAULT_GRAZING_SLOPE, n_threads: int | None = None,
        loss_fn: Callable[[Record], float] | None = None, **method_options) -> Gradients:
    """Exact gradient of a loss through the spike times of a simulated network.

    Parameters
    ----------
    net : Network
        The network that produced ``rec`` (used to check shapes; the weights stored in the record are the
        ones differentiated).
    rec : Record or list of Record
        Output of :func:`eventsnn.simulate`. For a list, gradients are summed over samples.
    cotangents : list of ndarray, or LossResult (or a list of either for a batch)
        One float64 array per non-input layer, aligned with ``rec.layers[k].times``: dL/dt of each spike. The
        creation/removal methods need the whole :class:`~eventsnn.losses.LossResult` (its creation cotangents).
    method : {"timing", "activation", "antlr", "na"}
        "timing" (default): the exact adjoint. The others add gradients through spike creation and removal
        (:mod:`eventsnn.gradient_methods`, layered networks only).
    min_slope : float
        Opt-in clipping: floor (1/ms) on dV/dt at a crossing, bounding |dt/dV| by 1/min_slope. 0 = exact.
    grazing_slope : float
        Crossings with dV/dt below this (1/ms) are counted in ``Gradients.n_near_grazing``.
    n_threads : int, optional
        Threads over samples (default: all cores); results do not depend on it, bit for bit (docs/threads.md).
    loss_fn : callable, optional
        For method="na": ``loss_fn(record) -> float`` of one sample, used to measure the exact loss change of
        flipped output spikes (otherwise it is linearised).
    **method_options
        Parameters of the method (:class:`eventsnn.gradient_methods.MethodOptions`), e.g. ``dt=0.5``,
        ``lambda_activation=0.5``, ``detach_reset=False``, ``form="event"``. Unknown names raise ValueError.

    Returns
    -------
    Gradients

    Examples
    --------
    >>> import numpy as np, eventsnn as es
    >>> net = es.Network.feedforward([1, 1], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0), weights=[np.array([[5.0]])])
    >>> rec = es.simulate(net, es.SpikeTrains([0.0], [0], 1), t_max=20.0)
    >>> g = es.vjp(net, rec, [np.ones(len(rec.layers[0]))])
    >>> bool(g.weights[0][0, 0] < 0)   # a stronger weight makes the spike earlier
    True
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
    min_slope = check.nonnegative_finite("min_slope", min_slope)
    grazing_slope = check.nonnegative_finite("grazing_slope", grazing_slope)
    check.one_of("method", method, METHODS)
    if method == "timing" and method_options:
        raise ValueError(f"method='timing' takes no method options, got {sorted(method_options)}")
    options = make_options(method, method_options) if method != "timing" else None
    if n_threads is not None:
        check.integer("n_threads", n_threads, minimum=1)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable or None, got {type(loss_fn).__name__}")
    if not isinstance(rec, Record) and (isinstance(rec, (str, bytes)) or not hasattr(rec, "__iter__")):
        raise TypeError(f"rec must be a Record or a list of Records, got {type(rec).__name__}")
    if isinstance(rec, Record):
        return _vjp_one(net, rec, _checked_loss(rec, cotangents, "cotangents", method), min_slope, grazing_slope,
                        method=method, options=options, loss_fn=loss_fn, structure=_structure(net, rec.network))
    records = list(rec)
    for b, r in enumerate(records):
        if not isinstance(r, Record):
            raise TypeError(f"rec[{b}] must be a Record, got {type(r).__name__}")
    cotangents = list(cotangents)
    if len(records) != len(cotangents):
        raise ValueError(f"got {len(records)} records but {len(cotangents)} cotangent lists")
    if not records:
        raise ValueError("rec is an empty list")
    checked = _checked_batch(records, cotangents, method)
    if checked is None:
        checked = [_checked_loss(r, c, f"cotangents[{b}]", method)
                   for b, (r, c) in enumerate(zip(records, cotangents))]
    n_threads = n_threads or os.cpu_count() or 1
    # the records of one simulate call share one network snapshot: inspect each snapshot once, not per sample
    structures: dict[int, tuple] = {}
    for r in records:
        if id(r.network) not in structures:
            structures[id(r.network)] = _structure(net, r.network)

    # one thread adds every sample's weight gradient straight into the total; parallel samples return per-arrival
    # rows, summed below in sample order. Both add the same numbers in the same order (bit-identical results).
    total = Gradients(weights=[np.zeros(c.weights.shape) for c in records[0].network.connections],
                      biases=[0.0] * len(records[0].layers),
                      delays=[np.zeros_like(c.delays) if not c.has_scalar_delay else 0.0
                              for c in records[0].network.connections])
    in_place = n_threads == 1 or len(records) == 1
    snapshot = records[0].network
    if method == "timing" and structures[id(snapshot)][0] and len(structures) == 1 \
            and all(r.t_max == records[0].t_max for r in records):
        # one thread: a single range, all of it added in place (the per-sample sweeps, in one compiled call)
        _layered_timing_in_ranges(records, checked, structures[id(snapshot)][1], min_slope, grazing_slope,
                                  1 if in_place else n_threads, total)
        return total

    def one(b: int):
        return _vjp_one(net, records[b], checked[b], min_slope, grazing_slope, single=False, method=method,
                        options=options, loss_fn=loss_fn, structure=structures[id(records[b].network)],
                        weight_totals=total.weights if in_place else None)

    if in_place:
        parts = [one(b) for b in range(len(records))]
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            parts = list(pool.map(one, range(len(records))))
    # fixed summation order (sample by sample): the thread count does not change the result
    for part in parts:
        part.add_into(total)
    return total


def _layered_timing_in_ranges(records: list[Record], cotangents: list[list[np.ndarray]], prepared: list,
                              min_slope: float, grazing_slope: float, n_threads: int, total: Gradients) -> None:
    """The exact timing adjoint of a batch of layered records of one network on ``n_threads`` threads, added into
    ``total`` (one thread: a single range, added in place, the per-sample sweeps in one compiled call per layer).

    Layer by layer from the top, the batch is split into one contiguous range of samples per thread, each run by
    one compiled call (``_kernels/batch.layer_backward_range``, no GIL) that treats every sample exactly as
    ``_layered_vjp`` does. The first range adds its weight gradients straight into the total, as one thread would;
    the later ranges write per-arrival rows, which threads that split the columns then add into the total, each
    column receiving the samples' rows in sample order. Biases and delays are summed in sample order. The result
    is the one-thread result bit for bit (tests/test_threads.py).
    """
    snapshot = records[0].network
    t_max = records[0].t_max
    n, n_layers = len(records), len(snapshot.connections)
    # a thread beyond one per sample (or, below, per column) would have nothing to do but would still be started:
    # n_threads = 10**6 started a million threads for a batch of three (57 s, 2 GB)
    n_threads = min(n_threads, n)
    input_name = snapshot.input_names[0]
    # the spikes of every population (inputs, then each layer) of all samples in flat arrays with offsets
    flat = [_flat_trains([r.inputs[input_name] for r in records])] + \
        [_flat_trains([r.layers[k] for r in records]) for k in range(n_layers)]
    spike_cotangents = [np.concatenate([c[k] for c in cotangents]) for k in range(n_layers)]
    # the first range (in place) is cheaper per sample than the others (rows, then their scatter): give it more
    shares = np.cumsum([0.0, IN_PLACE_SHARE] + [1.0] * (n_threads - 1))
    bounds = [int(round(n * share / shares[-1])) for share in shares]
    ranges = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    in_place_stop = ranges[0][1]
    d_biases = np.zeros((n_layers, n))
    d_delays = np.zeros((n_layers, n))
    n_grazing = np.zeros((n_layers, n), dtype=np.int64)
    no_total = np.zeros((0, 0))
    for k in reversed(range(n_layers)):
        connection = snapshot.connections[k]
        pre_times, pre_neurons, pre_offsets = flat[k]
        times, neurons, offsets = flat[k + 1]
        bounds = pre_offsets.tolist()  # Python ints: cheaper slicing than numpy scalars
        delay = float(connection.delays)
        arrivals = pre_times + delay if delay else pre_times
        d_arrivals = np.zeros(arrivals.size)
        # the rows of the later ranges: one per arrival inside the window (arrivals are sorted per sample)
        inside = np.zeros(arrivals.size + 1, dtype=np.int64)
        np.cumsum(arrivals <= t_max, out=inside[1:])
        counts = inside[pre_offsets[1:]] - inside[pre_offsets[:-1]]
        counts[:in_place_stop] = 0
        row_offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=row_offsets[1:])
        rows = np.empty((row_offsets[-1], connection.weights.shape[1]))
        target = total.weights[k]
        futures, _ = start_ranges(n_threads, ranges, lambda lo, hi: layer_backward_range(
            arrivals, pre_neurons, pre_offsets, connection.weights, prepared[k], t_max, times, neurons,
            spike_cotangents[k], offsets, lo, hi, min_slope, grazing_slope, d_arrivals,
            target if lo == 0 else no_total, rows, row_offsets, d_biases[k], n_grazing[k]), caller_works=True)
        for future in futures:
            future.result()
        if rows.shape[0]:
            later = slice(in_place_stop, n + 1)
            row_index = np.concatenate([pre_neurons[bounds[b]:bounds[b] + count]
                                        for b, count in zip(range(in_place_stop, n), counts[in_place_stop:].tolist())])
            columns = rows.shape[1]
            n_split = min(n_threads, columns)
            split = [columns * t // n_split for t in range(n_split + 1)]
            starts = row_offsets[later] - row_offsets[in_place_stop]
            futures, _ = start_ranges(n_threads, list(zip(split[:-1], split[1:])),
                                      lambda c0, c1: scatter_rows_columns(target, rows, row_index, starts, c0, c1),
                                      caller_works=True)
            for future in futures:
                future.result()
        # each sample's sum as _layered_vjp takes it: ndarray.sum is np.add.reduce behind a Python layer
        d_delays[k] = [np.add.reduce(d_arrivals[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
        if k > 0:
            spike_cotangents[k - 1] += d_arrivals
    # the order in which one thread adds the samples' parts (Python floats, as float() of each entry)
    for bias_row, delay_row in zip(d_biases.T.tolist(), d_delays.T.tolist()):
        total.biases = [a + d for a, d in zip(total.biases, bias_row)]
        total.delays = [a + d for a, d in zip(total.delays, delay_row)]
    total.n_near_grazing += int(n_grazing.sum())


def _checked_loss(rec: Record, cotangents, name: str, method: str):
    """Validated cotangent arrays (timing) or a LossResult with validated arrays (other methods)."""
    if isinstance(cotangents, LossResult):
        arrays = _checked_cotangents(rec, cotangents.cotangents, name)
        return arrays if method == "timing" else _with_cotangents(cotangents, arrays)
    if method != "timing":
        raise TypeError(f"method={method!r} needs the loss as a LossResult (it carries the creation "
                        f"cotangents); got {type(cotangents).__name__} for {name}")
    return _checked_cotangents(rec, cotangents, name)


def _checked_batch(records: list[Record], cotangents: list, method: str) -> list | None:
    """What ``_checked_loss`` gives for every sample of a batch, checked a batch at a time: the records' spikes in
    one compiled pass per population (``check.records_valid``), the cotangents in one pass for finiteness. None if
    anything is not as ``simulate`` and the losses make it (the caller then checks sample by sample, which raises
    the first error in sample order)."""
    if method != "timing" and not all(isinstance(loss, LossResult) for loss in cotangents):
        return None
    if not check.records_valid(records, records[0].network):
        return None
    checked, flat = [], []
    for rec, arrays in zip(records, cotangents):
        if isinstance(arrays, LossResult):
            arrays = arrays.cotangents
        if type(arrays) is not list or len(arrays) != len(rec.layers):
            return None
        copies = []
        for array, layer in zip(arrays, rec.layers):
            # exactly a float64 vector of the right length: float_array would return it as is, so a copy is its
            # checked copy
            if type(array) is not np.ndarray or array.dtype != np.float64 or array.shape != (layer.times.size,):
                return None
            copies.append(array.copy())
        checked.append(copies)
        flat.extend(copies)
    if flat and not np.isfinite(np.concatenate(flat)).all():
        return None
    if method == "timing":
        return checked
    return [_with_cotangents(loss, arrays) for loss, arrays in zip(cotangents, checked)]


def _with_cotangents(loss: LossResult, arrays: list[np.ndarray]) -> LossResult:
    """``loss`` with its spike-time cotangents replaced by their checked copies ``arrays``."""
    return LossResult(loss.value, arrays, loss.count_cotangents, loss.silent, loss.extra, loss.creation_terms,
                      loss.readout_gradient)


def _checked_cotangents(rec: Record, cotangents: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    if not isinstance(rec, Record):
        raise TypeError(f"expected a Record, got {type(rec).__name__}")
    # a Record's attributes are public and may have been replaced since simulate made it: re-check its spikes
    # against the population sizes before kernels index with them (the network snapshot is checked in _structure)
    check.record_for_kernels(rec, name.replace("cotangents", "rec"), network=False)
    cotangents = list(cotangents)
    if len(cotangents) != len(rec.layers):
        raise ValueError(f"{name} must hold one array per layer ({len(rec.layers)}), got {len(cotangents)}")
    return [check.float_array(f"{name}[{k}]", c, shape=(len(layer),)).copy()
            for k, (c, layer) in enumerate(zip(cotangents, rec.layers))]


def _structure(net: Network, snapshot: Network) -> tuple[bool, object]:
    """What the adjoint needs of a record's network snapshot, checked against net: (True, kernel parameters per
    layer) for a layered feed-forward network, else (False, its compile_general())."""
    snapshot.validate_for_simulation()
    if [c.weights.shape for c in snapshot.connections] != [c.weights.shape for c in net.connections]:
        raise ValueError("rec was produced by a network with different connection shapes than net")
    layered = snapshot.is_layered_feedforward()
    return layered, snapshot.layer_parameters() if layered else snapshot.compile_general()


@dataclass
class _SampleGradients:
    """One sample's gradients, before :func:`vjp` adds them into its result.

    The weight gradient of connection k is in exactly one place: added by the sweep into the caller's total
    (``weight_rows[k]`` and ``weights`` None), as per-arrival rows ``weight_rows[k] = (rows, presynaptic index of
    each row)`` (summed later by ``scatter_rows``, in a fixed order), or as a dense matrix ``weights[k]`` (general
    networks).
    """

    biases: list
    delays: list
    input_times: dict
    spike_times: list
    n_near_grazing: int
    weight_rows: list | None = None
    weights: list | None = None
    n_candidates: list | None = None

    def add_into(self, total: Gradients) -> None:
        """Add this sample's gradients into a batch total (in place)."""
        for k, target in enumerate(total.weights):
            if self.weights is not None:
                target += self.weights[k]
            elif self.weight_rows is not None and self.weight_rows[k] is not None:
                scatter_rows(target, *self.weight_rows[k])
        total.biases = [a + b for a, b in zip(total.biases, self.biases)]
        total.delays = [a + b for a, b in zip(total.delays, self.delays)]
        total.n_near_grazing += self.n_near_grazing

    def as_gradients(self, weights: list) -> Gradients:
        """The result of a single sample, with ``weights`` its dense weight gradients."""
        extra = {} if self.n_candidates is None else {"n_candidates": self.n_candidates}
        return Gradients(weights=weights, biases=self.biases, delays=self.delays, input_times=self.input_times,
                         spike_times=self.spike_times, n_near_grazing=self.n_near_grazing, extra=extra)


def _vjp_one(net: Network, rec: Record, cotangents, min_slope: float, grazing_slope: float, single: bool = True,
             method: str = "timing", options: MethodOptions | None = None, loss_fn: Callable | None = None,
             structure: tuple | None = None, weight_totals: list | None = None):
    """Gradients of one sample: a :class:`Gradients` with single=True (a lone record), else a
    :class:`_SampleGradients` whose weight gradients are added into ``weight_totals`` if given (layered networks),
    else returned as rows or matrices."""
    snapshot = rec.network
    layered, prepared = structure if structure is not None else _structure(net, snapshot)
    if not layered:
        if method != "timing":
            raise ValueError(f"method={method!r} needs a layered feed-forward network (input -> layer1 -> ...); "
                             "use method='timing' for general networks")
        part = _network_vjp(snapshot, rec, cotangents, min_slope, grazing_slope, prepared)
        return part.as_gradients(part.weights) if single else part
    if single:
        # a single record gets its own dL/dW, filled in place by the sweep (a batch passes its running total
        # instead: per-sample (n_pre, n_post) matrices would cost more in page faults than the adjoint itself)
        weight_totals = [np.zeros(c.weights.shape) for c in snapshot.connections]
    sources = None if method == "timing" else \
        MethodSources(rec, cotangents, method, options, prepared, _arrivals(rec), loss_fn=loss_fn)
    spike_cotangents = cotangents if method == "timing" else cotangents.cotangents
    part = _layered_vjp(rec, spike_cotangents, prepared, min_slope, grazing_slope, weight_totals, sources)
    return part.as_gradients(weight_totals) if single else part


def _arrivals(rec: Record) -> list[np.ndarray]:
    """Arrival times (ms) at each layer of a layered record: its presynaptic spike times plus the scalar delay."""
    snapshot = rec.network
    pre_trains = [rec.inputs[snapshot.input_names[0]]] + list(rec.layers[:-1])
    arrivals = []
    for pre, connection in zip(pre_trains, snapshot.connections):
        delay = float(connection.delays)
        arrivals.append(pre.times + delay if delay else pre.times)
    return arrivals


def _layered_vjp(rec: Record, cotangents: list[np.ndarray], prepared: list, min_slope: float, grazing_slope: float,
                 weight_totals: list | None, sources: MethodSources | None = None) -> _SampleGradients:
    """The adjoint of a layered feed-forward record, layer by layer from the top (``_kernels/backward.py``).

    ``cotangents``: dL/dt of each layer's spikes (added to in place: each layer passes dL/d(arrival time) down to
    the spikes that caused the arrivals). ``sources``: the creation/removal method's candidate sources, or None
    for the exact timing adjoint (the same sweep without sources). Weight gradients are added into
    ``weight_totals`` if given, else returned as per-arrival rows.
    """
    snapshot = rec.network
    n_layers = len(snapshot.connections)
    spike_cotangents = list(cotangents)  # the checks made them copies (_checked_cotangents, _checked_batch)
    input_name = snapshot.input_names[0]
    pre_trains = [rec.inputs[input_name]] + list(rec.layers[:-1])
    arrivals = sources.arrivals if sources is not None else _arrivals(rec)
    weight_rows, d_biases, d_delays = [None] * n_layers, [0.0] * n_layers, [0.0] * n_layers
    n_grazing = 0
    d_inputs = None
    for k in reversed(range(n_layers)):
        pre, layer = pre_trains[k], rec.layers[k]
        if sources is None:
            layer_sources, query, lambda_timing, detach_reset = _NO_SOURCES, _NO_QUERIES, 1.0, False
        else:
            layer_sources, query, lambda_timing, detach_reset = sources.layer(k, spike_cotangents[k])
        d_rows, d_arr, d_b, n_g, lam_i_query, _ = layer_backward(
            arrivals[k], pre.neurons, snapshot.connections[k].weights, prepared[k], rec.t_max, layer.times,
            layer.neurons, spike_cotangents[k], layer_sources, query, lambda_timing, detach_reset, min_slope,
            grazing_slope, None if weight_totals is None else weight_totals[k])
        weight_rows[k] = None if weight_totals is not None else (d_rows, pre.neurons[:d_rows.shape[0]])
        d_biases[k], d_delays[k] = float(d_b), float(d_arr.sum())
        n_grazing += int(n_g)
        if k == 0:
            d_inputs = {input_name: d_arr}
            continue
        spike_cotangents[k - 1] += d_arr
        if sources is not None:
            sources.pass_down(k, query, lam_i_query, spike_cotangents[k - 1])
    return _SampleGradients(biases=d_biases, delays=d_delays, input_times=d_inputs, spike_times=spike_cotangents,
                            n_near_grazing=n_grazing, weight_rows=weight_rows,
                            n_candidates=None if sources is None else sources.n_candidates)


def _network_vjp(net: Network, rec: Record, cotangents: list[np.ndarray], min_slope: float, grazing_slope: float,
                 compiled) -> _SampleGradients:
    """The adjoint of one sample of a general network (``_kernels/backward_network.py``).

    ``net`` is the record's snapshot and ``compiled`` its ``compile_general()`` (shared by the samples of a
    batch). Builds the sample's event list from the record (input spikes and every population's spikes fanned
    out along the compiled synapses into arrivals, plus refractory ends), orders it as the exact reverse of the
    heap engine's processing order (docs/theory.md, section 4), runs the global reverse sweep and maps the
    per-synapse results back to the connections' layout.
    """
    c = compiled
    t_max = rec.t_max
    input_names, layer_names = net.input_names, net.layer_names
    # source events: input spikes (population by population), then neuron spikes (layer by layer)
    src_times = [rec.inputs[n].times for n in input_names] + [layer.times for layer in rec.layers]
    src_ids = [rec.inputs[n].neurons + c.source_offset[n] for n in input_names] + \
              [layer.neurons + c.source_offset[n] for n, layer in zip(layer_names, rec.layers)]
    src_time = np.concatenate(src_times) if src_times else np.zeros(0)
    src_id = np.concatenate(src_ids).astype(np.int64)
    n_input_events = sum(rec.inputs[n].times.size for n in input_names)
    spike_neuron = np.concatenate([layer.neurons + c.neuron_offset[n] for n, layer in zip(layer_names, rec.layers)]
                                  ).astype(np.int64)
    spike_time = src_time[n_input_events:]
    spike_cot = np.ascontiguousarray(np.concatenate(cotangents), dtype=np.float64)

    # arrivals: every source event along every synapse of its row, kept if it lands in the window
    fan_out = c.row_ptr[src_id + 1] - c.row_ptr[src_id]
    origin = np.repeat(np.arange(src_id.size), fan_out)
    first = np.repeat(c.row_ptr[src_id] - np.concatenate([[0], np.cumsum(fan_out)[:-1]]), fan_out)
    synapse = first + np.arange(origin.size)
    arrival_time = src_time[origin] + c.synapse_delay[synapse]
    inside = arrival_time <= t_max
    origin, synapse, arrival_time = origin[inside], synapse[inside], arrival_time[inside]

    # refractory ends inside the window
    t_ref = c.parameters[c.population_of[spike_neuron], P_REFRACTORY]
    end_time = spike_time + t_ref
    has_end = (t_ref > 0.0) & (end_time <= t_max)
    end_spike = np.flatnonzero(has_end)

    n_arr, n_spk, n_end = arrival_time.size, spike_time.size, end_spike.size
    ev_time = np.concatenate([arrival_time, spike_time, end_time[end_spike]])
    ev_kind = np.concatenate([np.full(n_arr, KIND_ARRIVAL), np.full(n_spk, KIND_SPIKE),
                              np.full(n_end, KIND_REFRACTORY_END)]).astype(np.int64)
    ev_neuron = np.concatenate([c.synapse_target[synapse], spike_neuron, spike_neuron[end_spike]]).astype(np.int64)
    ev_index = np.concatenate([synapse, np.arange(n_spk), end_spike]).astype(np.int64)
    ev_origin = np.concatenate([origin, np.zeros(n_spk + n_end, dtype=np.int64)]).astype(np.int64)
    # reverse processing order: later first; at equal times deliveries (rank 0) before neuron events (rank 1)
    rank = (ev_kind != KIND_ARRIVAL).astype(np.int64)
    order = np.lexsort((rank, -ev_time))
    d_weight, d_delay, d_source, d_bias, n_grazing = network_backward(
        np.ascontiguousarray(ev_time[order]), np.ascontiguousarray(ev_kind[order]),
        np.ascontiguousarray(ev_neuron[order]), np.ascontiguousarray(ev_index[order]),
        np.ascontiguousarray(ev_origin[order]), c.synapse_weight, c.population_of, c.parameters, spike_cot,
        n_input_events, t_max, min_slope, grazing_slope)

    # back to the network's layout: synapse_id is the position in the concatenated raveled weight matrices
    flat_w = np.zeros(c.synapse_id.size)
    flat_d = np.zeros(c.synapse_id.size)
    flat_w[c.synapse_id] = d_weight
    flat_d[c.synapse_id] = d_delay
    d_weights, d_delays = [], []
    offset = 0
    for conn in net.connections:
        size = conn.weights.size
        d_weights.append(flat_w[offset:offset + size].reshape(conn.weights.shape))
        block = flat_d[offset:offset + size].reshape(conn.weights.shape)
        d_delays.append(float(block.sum()) if conn.has_scalar_delay else block)
        offset += size
    d_biases = [float(d_bias[c.population_of == k].sum()) for k in range(len(layer_names))]
    d_inputs, start = {}, 0
    for name in input_names:
        size = rec.inputs[name].times.size
        d_inputs[name] = d_source[start:start + size].copy()
        start += size
    spike_totals, start = [], n_input_events
    for layer in rec.layers:
        spike_totals.append(d_source[start:start + len(layer)].copy())
        start += len(layer)
    return _SampleGradients(biases=d_biases, delays=d_delays, input_times=d_inputs, spike_times=spike_totals,
                            n_near_grazing=int(n_grazing), weights=d_weights)
