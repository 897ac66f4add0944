"""``vjp``: exact vector-Jacobian product of all spike times with respect to the network's parameters.

Given cotangents dL/dt for every recorded spike, ``vjp`` returns dL/dW for every connection, dL/dbias for
every population, dL/d(delay) for every connection and dL/dt for every input spike. It is exact (derived
from the implicit function theorem at each crossing and chained through resets, refractory periods and
downstream neurons; docs/theory.md) as long as no spike appears or disappears under the perturbation.

Near-grazing crossings (dV/dt at threshold close to 0) make the exact derivative huge. The exact value is the
default; ``min_slope`` is an opt-in floor on dV/dt for training, and ``Gradients.n_near_grazing`` reports how
many crossings had dV/dt < ``grazing_slope`` (whether or not clipping was on).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels.backward import scatter_rows
from eventsnn._kernels.backward_dense import layer_backward_gaps
from eventsnn.gradient_methods import METHODS, make_options, method_vjp, require_layered
from eventsnn.losses import LossResult
from eventsnn.network import Network
from eventsnn.record import Record

DEFAULT_GRAZING_SLOPE = 1e-3  # 1/ms: a crossing this flat moves by >= 1 ms per 1e-3 change of V


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
        Threads over samples (default: all cores); results do not depend on it.
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
    checked = [_checked_loss(r, c, f"cotangents[{b}]", method) for b, (r, c) in enumerate(zip(records, cotangents))]
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

    def one(b: int):
        return _vjp_one(net, records[b], checked[b], min_slope, grazing_slope, dense=False, method=method,
                        options=options, loss_fn=loss_fn, structure=structures[id(records[b].network)],
                        weight_totals=total.weights if in_place else None)

    if in_place:
        parts = [one(b) for b in range(len(records))]
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            parts = list(pool.map(one, range(len(records))))
    # fixed summation order (sample by sample): the thread count does not change the result
    for part in parts:
        if isinstance(part, Gradients):
            total = total + part
            continue
        for k, rows in enumerate(part["weight_rows"]):
            if rows is not None:
                scatter_rows(total.weights[k], *rows)
        total.biases = [a + b for a, b in zip(total.biases, part["biases"])]
        total.delays = [a + b for a, b in zip(total.delays, part["delays"])]
        total.n_near_grazing += part["n_near_grazing"]
    return total


def _checked_loss(rec: Record, cotangents, name: str, method: str):
    """Validated cotangent arrays (timing) or a LossResult with validated arrays (other methods)."""
    if isinstance(cotangents, LossResult):
        arrays = _checked_cotangents(rec, cotangents.cotangents, name)
        if method == "timing":
            return arrays
        return LossResult(cotangents.value, arrays, cotangents.count_cotangents, cotangents.silent,
                          cotangents.extra, cotangents.creation_terms, cotangents.readout_gradient)
    if method != "timing":
        raise TypeError(f"method={method!r} needs the loss as a LossResult (it carries the creation "
                        f"cotangents); got {type(cotangents).__name__} for {name}")
    return _checked_cotangents(rec, cotangents, name)


def _checked_cotangents(rec: Record, cotangents: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    if not isinstance(rec, Record):
        raise TypeError(f"expected a Record, got {type(rec).__name__}")
    cotangents = list(cotangents)
    if len(cotangents) != len(rec.layers):
        raise ValueError(f"{name} must hold one array per layer ({len(rec.layers)}), got {len(cotangents)}")
    return [check.float_array(f"{name}[{k}]", c, shape=(len(layer),)).copy()
            for k, (c, layer) in enumerate(zip(cotangents, rec.layers))]


def _structure(net: Network, snapshot: Network) -> tuple[bool, object]:
    """What the adjoint needs of a record's network snapshot, checked against net: (True, kernel parameters per
    layer) for a layered feed-forward network, else (False, its compile_general())."""
    if [c.weights.shape for c in snapshot.connections] != [c.weights.shape for c in net.connections]:
        raise ValueError("rec was produced by a network with different connection shapes than net")
    layered = snapshot.is_layered_feedforward()
    return layered, snapshot.layer_parameters() if layered else snapshot.compile_general()


def _vjp_one(net: Network, rec: Record, cotangents, min_slope: float, grazing_slope: float, dense: bool = True,
             method: str = "timing", options=None, loss_fn=None, structure: tuple | None = None,
             weight_totals: list | None = None):
    """Gradients of one sample. With dense=False (batch use) the weight gradients are added into
    ``weight_totals`` if given, else returned as per-arrival rows (``weight_rows``: (rows, presynaptic index) or
    None per layer)."""
    snapshot = rec.network
    layered, prepared = structure if structure is not None else _structure(net, snapshot)
    if dense:
        # a single record gets its own dL/dW, filled in place by the sweep (a batch passes its running total
        # instead: per-sample (n_pre, n_post) matrices would cost more in page faults than the adjoint itself)
        weight_totals = [np.zeros(c.weights.shape) for c in snapshot.connections]
    if method != "timing":
        require_layered(layered, method)
        part = method_vjp(rec, cotangents, method, options, loss_fn=loss_fn, min_slope=min_slope,
                          grazing_slope=grazing_slope, layer_parameters=prepared, weight_totals=weight_totals)
    elif not layered:
        from eventsnn._adjoint_general import vjp_general
        return vjp_general(snapshot, rec, cotangents, min_slope, grazing_slope, compiled=prepared)
    else:
        part = _layered_timing_vjp(rec, cotangents, prepared, min_slope, grazing_slope, weight_totals)
    if not dense:
        return part
    return Gradients(weights=weight_totals, biases=part["biases"], delays=part["delays"],
                     input_times=part["input_times"], spike_times=part["spike_times"],
                     n_near_grazing=part["n_near_grazing"],
                     extra=part.get("extra", {}))


def _layered_timing_vjp(rec: Record, cotangents, prepared, min_slope: float, grazing_slope: float,
                        weight_totals: list | None = None) -> dict:
    """Exact adjoint of a layered feed-forward record, layer by layer from the top (weight gradients added into
    ``weight_totals`` if given, else per-arrival rows)."""
    snapshot = rec.network
    n_layers = len(snapshot.connections)
    weight_rows, d_biases, d_delays = [None] * n_layers, [0.0] * n_layers, [0.0] * n_layers
    spike_cotangents = list(cotangents)  # _checked_cotangents made them copies: added to in place below
    input_name = snapshot.input_names[0]
    n_grazing = 0
    d_inputs = None
    for k in reversed(range(n_layers)):
        connection = snapshot.connections[k]
        pre = rec.inputs[input_name] if k == 0 else rec.layers[k - 1]
        arrivals = pre.times + connection.delays if connection.delays else pre.times
        layer = rec.layers[k]
        d_w, d_arr, d_b, n_g = layer_backward_gaps(arrivals, pre.neurons, connection.weights, prepared[k],
                                                   rec.t_max, layer.times, layer.neurons, spike_cotangents[k],
                                                   min_slope, grazing_slope,
                                                   None if weight_totals is None else weight_totals[k])
        weight_rows[k] = None if weight_totals is not None else (d_w, pre.neurons[:d_w.shape[0]])
        d_biases[k], d_delays[k] = float(d_b), float(d_arr.sum())
        n_grazing += int(n_g)
        if k > 0:
            spike_cotangents[k - 1] += d_arr
        else:
            d_inputs = {input_name: d_arr}
    return {"weight_rows": weight_rows, "biases": d_biases, "delays": d_delays, "input_times": d_inputs,
            "spike_times": spike_cotangents, "n_near_grazing": n_grazing}
