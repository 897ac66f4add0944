"""eventsnn network -> NIR graph (:func:`to_nir`)."""

from __future__ import annotations

import json

import nir
import numpy as np

from eventsnn import _validation as check
from eventsnn.network import Network
from eventsnn.neuron import LIF
from eventsnn.nir.conventions import CONVENTIONS, FORMAT, FORMAT_VERSION, READOUT_NODE, TIME_UNITS
from eventsnn.readout import LIReadout


def to_nir(net: Network, readout: LIReadout | None = None, *, time_unit: str = "s",
           expand_delays: bool = False) -> nir.NIRGraph:
    """The network (and optional read-out) as a NIR graph.

    Parameters
    ----------
    net : Network
        Populations of :class:`eventsnn.LIF` neurons without refractory period or ``reset_current``.
    readout : LIReadout, optional
        A leaky-integrator read-out driven by the last population (``net.layer_names[-1]``); exported as node
        ``"readout"`` (``Linear`` + ``CubaLI``) feeding the graph's ``Output``.
    time_unit : {"s", "ms"}
        Unit of ``tau_mem``, ``tau_syn`` and delays in the graph. Default "s", what Norse and snnTorch read;
        jaxsnn and NIR's own parameter table use "ms".
    expand_delays : bool
        A per-synapse delay matrix that is neither constant along rows nor along columns has no NIR node. With
        True it is written exactly as a fan-out ``Linear`` (n_pre x n_post channels), one ``Delay`` per channel
        and a summing ``Linear`` (dense matrices of n_pre^2 n_post and n_pre n_post^2 entries); default False
        raises a ValueError instead.

    Returns
    -------
    nir.NIRGraph
        Node names: the population names, ``linear_<k>`` and ``delay_<k>`` for connection ``k``, ``readout`` and
        ``readout_linear``, ``output`` (one ``Output`` per population without outgoing connections, or the
        read-out). ``graph.metadata`` records the conventions (``time_unit``, ``spike``, ...).

    Raises
    ------
    ValueError
        If a population has a refractory period or ``reset_current``, a name clashes with a generated node name,
        a general per-synapse delay matrix appears without ``expand_delays``, or the read-out does not fit.

    Examples
    --------
    >>> import numpy as np, eventsnn as es
    >>> from eventsnn.nir import to_nir, from_nir
    >>> net = es.Network.feedforward([2, 3], es.LIF(tau_mem=10.0, tau_syn=5.0, bias=0.1), [np.ones((2, 3))],
    ...                              delays=[1.0])
    >>> graph = to_nir(net)
    >>> sorted(graph.nodes), float(graph.nodes["layer1"].tau_mem[0]), graph.metadata["time_unit"]
    (['delay_0', 'input', 'layer1', 'linear_0', 'output'], 0.01, 's')
    >>> from_nir(graph).network.connections[0].delays
    1.0
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
    check.one_of("time_unit", time_unit, TIME_UNITS)
    check.boolean("expand_delays", expand_delays)
    net.validate_for_simulation()
    scale = TIME_UNITS[time_unit]
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []

    def add(name: str, node: nir.NIRNode) -> None:
        if name in nodes or "/" in name:
            raise ValueError(f"cannot export: node name {name!r} is used twice or contains '/' (population names "
                             f"must differ from the generated names linear_<k>, delay_<k>, readout, output)")
        nodes[name] = node

    for pop in net.populations.values():
        if pop.is_input:
            add(pop.name, nir.Input(input_type={"input": np.array([pop.size])}))
            continue
        neuron = pop.neuron
        if neuron.refractory > 0.0:
            raise ValueError(f"population {pop.name!r}: NIR's CubaLIF has no refractory period (refractory="
                             f"{neuron.refractory} ms); export a network with refractory=0")
        if neuron.reset_current:
            raise ValueError(f"population {pop.name!r}: NIR's CubaLIF keeps the synaptic current at a spike; "
                             f"reset_current=True cannot be exported")
        add(pop.name, _neuron_node(nir.CubaLIF, neuron, pop.size, scale))
    for k, c in enumerate(net.connections):
        _add_connection(k, c, scale, expand_delays, add, edges)
    sinks = [n for n in net.layer_names if not any(c.pre == n for c in net.connections)] or [net.layer_names[-1]]
    if readout is not None:
        if not isinstance(readout, LIReadout):
            raise TypeError(f"readout must be an eventsnn.readout.LIReadout, got {type(readout).__name__}")
        last = readout.source_in(net)
        add(READOUT_NODE, _neuron_node(nir.CubaLI, readout.neuron, readout.n_classes, scale))
        add("readout_linear", nir.Linear(weight=readout.weights.T.copy()))
        edges += [(last, "readout_linear"), ("readout_linear", READOUT_NODE)]
        sinks = [READOUT_NODE]
    for name in sinks:
        out = "output" if len(sinks) == 1 else f"output_{name}"
        size = readout.n_classes if name == READOUT_NODE else net.populations[name].size
        add(out, nir.Output(output_type={"output": np.array([size])}))
        edges.append((name, out))
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "time_unit": time_unit, **CONVENTIONS,
                "eventsnn_order": json.dumps({"populations": list(net.populations),
                                              "connections": [[c.pre, c.post] for c in net.connections]})}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _neuron_node(kind: type, neuron: LIF, size: int, scale: float) -> nir.NIRNode:
    """CubaLIF / CubaLI of one population; the exact ms values ride along in the node's metadata so that the
    round trip through the graph's time unit loses no bit (see ``_Importer._exact_ms`` in
    :mod:`eventsnn.nir.importer`)."""
    def full(value: float) -> np.ndarray:
        return np.full(size, float(value))

    params = dict(tau_syn=full(neuron.tau_syn * scale), tau_mem=full(neuron.tau_mem * scale), r=full(1.0),
                  v_leak=full(neuron.bias), w_in=full(1.0),
                  metadata={"tau_mem_ms": float(neuron.tau_mem), "tau_syn_ms": float(neuron.tau_syn)})
    if kind is nir.CubaLIF:
        params.update(v_threshold=full(neuron.threshold), v_reset=full(0.0))
    return kind(**params)


def _add_connection(k: int, c, scale: float, expand_delays: bool, add, edges: list) -> None:
    n_pre, n_post = c.weights.shape
    linear, delay = f"linear_{k}", f"delay_{k}"
    delays = np.asarray(c.delays, dtype=np.float64)
    pre_delay = post_delay = None
    chain = [c.pre]
    weight = c.weights.T.copy()
    if delays.ndim == 0 or np.all(delays == delays.flat[0]):
        if float(delays.flat[0]) != 0.0:
            post_delay = np.full(n_post, float(delays.flat[0]))
    elif np.all(delays == delays[:1, :]):
        post_delay = delays[0].copy()
    elif np.all(delays == delays[:, :1]):
        pre_delay = delays[:, 0].copy()
    elif expand_delays:
        # channel q = i * n_post + j carries the spikes of pre neuron i, delayed by D[i, j], to post neuron j
        add(f"fanout_{k}", nir.Linear(weight=np.repeat(np.eye(n_pre), n_post, axis=0)))
        chain.append(f"fanout_{k}")
        pre_delay = delays.ravel().copy()
        weight = np.zeros((n_post, n_pre * n_post))
        weight[np.tile(np.arange(n_post), n_pre), np.arange(n_pre * n_post)] = c.weights.ravel()
    else:
        raise ValueError(f"connection {k} ({c.pre}->{c.post}) has per-synapse delays that are neither one per "
                         f"presynaptic nor one per postsynaptic neuron: NIR has no node for them. Pass "
                         f"expand_delays=True to write them exactly as n_pre x n_post delayed channels")
    if pre_delay is not None:
        add(delay, _delay_node(pre_delay, scale))
        chain.append(delay)
    add(linear, nir.Linear(weight=weight))
    chain.append(linear)
    if post_delay is not None:
        add(delay, _delay_node(post_delay, scale))
        chain.append(delay)
    chain.append(c.post)
    edges += list(zip(chain[:-1], chain[1:]))


def _delay_node(delays_ms: np.ndarray, scale: float) -> nir.Delay:
    return nir.Delay(delay=delays_ms * scale, metadata={"delay_ms": delays_ms.copy()})
