"""NIR (Neuromorphic Intermediate Representation) export and import, and spike data as NIR ``EventData``.

Needs the optional ``nir`` package (``pip install eventsnn[nir]``); ``import eventsnn`` does not load this module.

Mapping (docs/nir.md gives the reasons and what other frameworks do):

* a population of ``LIF`` neurons <-> ``CubaLIF`` with ``tau_mem``, ``tau_syn`` in the graph's time unit (seconds
  by default), ``r = 1``, ``v_leak = bias``, ``v_threshold = threshold``, ``v_reset = 0``, ``w_in = 1``;
* the weights ``W`` (n_pre, n_post) of a connection <-> ``Linear(weight=W.T)`` (NIR is out x in);
* a connection delay <-> ``Delay`` after the ``Linear`` (a scalar, or one per postsynaptic neuron) or before it
  (one per presynaptic neuron); a general per-synapse delay matrix only with ``expand_delays=True``;
* the leaky-integrator read-out (:class:`eventsnn.readout.LIReadout`) <-> ``Linear`` + ``CubaLI``;
* an input population <-> ``Input``; a recurrent connection <-> an edge back into the population's node.

NIR leaves two things open that change a simulation by large factors: the **unit of time** and the **size of the
jump** of the synaptic current when a spike arrives. eventsnn writes both into the graph's metadata
(``time_unit``, ``spike``) and never guesses them when it reads a graph that lacks them: pass ``time_unit=`` and
``spike=`` to :func:`from_nir`. Spike readings (a spike of weight ``w`` arriving at a node)::

    "jump"   I += w_in * w                     (Norse's LIFCell export, jaxsnn, eventsnn)
    "dirac"  I += w_in * w / tau_syn           (the literal ODE with a unit-area delta; tau_syn in the graph's unit)
    "pulse"  I += w_in * w * width / tau_syn   (a unit-height pulse of one time step ``width``: snnTorch's
                                                exporter and importer with width = 0.1 ms, Norse's importer)

Everything eventsnn's model and NIR's disagree on raises a ValueError naming the node or the feature: refractory
periods, ``reset_current``, ``v_reset != 0``, time constants that differ within a node, ``LIF``/``LI``/``IF``
nodes (no synaptic current), convolutions and pooling, ``Affine`` with a non-zero bias. Nothing is approximated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

try:
    import nir
except ImportError as error:  # an optional extra: say how to get it
    raise ImportError('eventsnn.nir needs the optional package nir: pip install "eventsnn[nir]"') from error

from eventsnn import _validation as check
from eventsnn._atomic import atomic_write
from eventsnn.network import Network
from eventsnn.neuron import LIF
from eventsnn.readout import LIReadout
from eventsnn.spikes import SpikeBatch, SpikeTrains

__all__ = ["to_nir", "from_nir", "ImportedGraph", "write", "read", "to_event_data", "from_event_data",
           "TIME_UNITS", "SPIKE_READINGS"]

FORMAT = "eventsnn-nir"
FORMAT_VERSION = 1
# graph units per ms
TIME_UNITS = {"s": 1e-3, "ms": 1.0}
# how far a spike of weight w moves I, as a factor on w_in * w: (tau_syn, pulse width), both in the graph's unit
SPIKE_READINGS = {
    "jump": lambda tau_syn, width: 1.0,
    "dirac": lambda tau_syn, width: 1.0 / tau_syn,
    "pulse": lambda tau_syn, width: width / tau_syn,
}
READOUT_NODE = "readout"
CONVENTIONS = {
    "spike": "jump: a spike of weight w adds w_in * w to the synaptic current I",
    "threshold": "a spike when v reaches v_threshold (v >= v_threshold; NIR writes v > v_threshold, which differs "
                 "only on a touch of measure zero)",
    "reset": "v := v_reset = 0 at a spike; I is kept",
    "initial_state": "v = I = 0 at t = 0",
    "refractory": "none",
    "readout": "CubaLI node 'readout': class = argmax over classes of max over t in [0, t_max] of v",
}


# ------------------------------------------------------------------------------------------------------------
# export
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
        last = net.layer_names[-1]
        if readout.n_inputs != net.populations[last].size:
            raise ValueError(f"the read-out has {readout.n_inputs} inputs but the last population {last!r} has "
                             f"{net.populations[last].size} neurons")
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
    round trip through the graph's time unit loses no bit (see ``_exact_ms``)."""
    full = lambda value: np.full(size, float(value))
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


# ------------------------------------------------------------------------------------------------------------
# files
def write(path: str | os.PathLike, graph: nir.NIRGraph) -> None:
    """Write ``graph`` to a ``.nir`` (HDF5) file atomically: a reader or a crash never sees half a file.

    Examples
    --------
    >>> import os, tempfile, numpy as np, eventsnn as es
    >>> from eventsnn import nir as es_nir
    >>> net = es.Network.feedforward([2, 3], es.LIF(), [np.ones((2, 3))])
    >>> path = os.path.join(tempfile.mkdtemp(), "net.nir")
    >>> es_nir.write(path, es_nir.to_nir(net))
    >>> es_nir.from_nir(path).network.layer_names
    ['layer1']
    """
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    import io
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def read(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a ``.nir`` file (any writer's); errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"NIR file {path!r} does not exist")
    try:
        return nir.read(path)
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as error:
        raise ValueError(f"{path}: not a readable NIR graph ({type(error).__name__}: {error})") from None


# ------------------------------------------------------------------------------------------------------------
# import
@dataclass
class ImportedGraph:
    """An eventsnn network built from a NIR graph.

    Attributes
    ----------
    network : Network
        Input populations (one per top-level ``Input`` node) and one ``LIF`` population per ``CubaLIF`` node, named
        after the nodes (nodes of nested graphs as ``"<graph>.<node>"``).
    readout : LIReadout or None
        The read-out built from the graph's ``CubaLI`` node, if it has one.
    readout_source : str or None
        Population whose spikes drive the read-out.
    outputs : list of str
        Populations (or ``"readout"``) that feed the graph's ``Output`` nodes.
    time_unit, spike : str
        The conventions the graph was read with.
    """

    network: Network
    readout: LIReadout | None
    readout_source: str | None
    outputs: list[str] = field(default_factory=list)
    time_unit: str = "s"
    spike: str = "jump"


class _Identity:
    """A pass-through node: the Input and Output nodes inside a nested graph, and ``Flatten``."""


_NOT_EXPRESSIBLE = {
    nir.LIF: "an LIF node has no synaptic current: a spike makes v jump, and eventsnn's model needs tau_syn > 0",
    nir.LI: "an LI node has no synaptic current: eventsnn's read-out needs a CubaLI node",
    nir.IF: "an IF node has neither leak nor synaptic current",
    nir.I: "an I node (integrator) has neither leak nor synaptic current",
    nir.Conv1d: "convolutions are not supported (write the layer as a dense Linear)",
    nir.Conv2d: "convolutions are not supported (write the layer as a dense Linear)",
    nir.SumPool2d: "pooling is not supported",
    nir.AvgPool2d: "pooling is not supported",
    nir.Threshold: "a bare Threshold has no membrane dynamics",
}
_WIRES = (nir.Linear, nir.Affine, nir.Scale, nir.Delay, nir.Flatten, _Identity)


def from_nir(graph: nir.NIRGraph | str | os.PathLike, *, time_unit: str | None = None, spike: str | None = None,
             pulse_width: float | None = None) -> ImportedGraph:
    """Build an eventsnn network from a NIR graph (or a ``.nir`` file).

    Every path of ``Linear`` / ``Affine`` (zero bias) / ``Scale`` / ``Delay`` / ``Flatten`` nodes between two
    spiking nodes becomes one synapse per (pre, post) neuron pair with the product of the weights on the path and
    the sum of its delays; pairs reached with several delays become several connections. Per-neuron ``r``,
    ``w_in`` and the spike reading scale the incoming weights; per-neuron thresholds too when ``v_leak = 0``.

    Parameters
    ----------
    graph : nir.NIRGraph, str or os.PathLike
        The graph or the path of a ``.nir`` file.
    time_unit : {"s", "ms"}, optional
        Unit of the graph's time constants and delays. Default: the graph's ``time_unit`` metadata if eventsnn
        wrote it; otherwise it must be given ("s" for Norse and snnTorch, "ms" for jaxsnn).
    spike : {"jump", "dirac", "pulse"}, optional
        How far a spike of weight ``w`` moves the synaptic current (module docstring). Default: "jump" for graphs
        eventsnn wrote; otherwise it must be given (snnTorch's graphs: "pulse" with ``pulse_width=0.1``).
    pulse_width : float, optional
        Length (ms) of one time step of the writer, for ``spike="pulse"`` only.

    Returns
    -------
    ImportedGraph

    Raises
    ------
    ValueError
        Naming the node and the feature eventsnn cannot express, or the missing convention.

    Examples
    --------
    >>> import numpy as np, nir
    >>> from eventsnn.nir import from_nir
    >>> one = lambda value: np.full(2, value)
    >>> graph = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([3])}),
    ...     "w": nir.Linear(weight=np.full((2, 3), 0.5)),
    ...     "lif": nir.CubaLIF(tau_syn=one(5e-3), tau_mem=one(1e-2), r=one(1.0), v_leak=one(0.0),
    ...                        v_threshold=one(1.0)),
    ...     "out": nir.Output(output_type={"output": np.array([2])})},
    ...     edges=[("in", "w"), ("w", "lif"), ("lif", "out")])
    >>> imported = from_nir(graph, time_unit="s", spike="jump")
    >>> imported.network.populations["lif"].neuron.tau_mem, imported.network.weights[0].shape
    (10.0, (3, 2))
    """
    if isinstance(graph, (str, os.PathLike)):
        graph = read(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph or the path of a .nir file, got {type(graph).__name__}")
    metadata = graph.metadata if isinstance(graph.metadata, dict) else {}
    ours = str(metadata.get("format", "")) == FORMAT
    if time_unit is None:
        if not ours:
            raise ValueError("the graph does not state its time unit (NIR leaves it open): pass time_unit='s' "
                             "(Norse, snnTorch) or time_unit='ms' (jaxsnn, NIR's parameter table)")
        time_unit = str(metadata.get("time_unit"))
    check.one_of("time_unit", time_unit, TIME_UNITS)
    if spike is None:
        if not ours:
            raise ValueError("the graph does not state how far a spike moves the synaptic current (NIR leaves it "
                             "open): pass spike='jump' (Norse's LIFCell, jaxsnn), spike='dirac', or spike='pulse' "
                             "with pulse_width (snnTorch: 0.1 ms); see eventsnn.nir's docstring")
        spike = "jump"
    check.one_of("spike", spike, SPIKE_READINGS)
    if (spike == "pulse") != (pulse_width is not None):
        raise ValueError(f"pulse_width (ms) is needed with spike='pulse' and only then; got spike={spike!r}, "
                         f"pulse_width={pulse_width!r}")
    if pulse_width is not None:
        pulse_width = check.positive_finite("pulse_width", pulse_width)
    return _Importer(graph, TIME_UNITS[time_unit], spike, pulse_width, metadata if ours else {}).build(
        time_unit)


def _flatten(graph: nir.NIRGraph, prefix: str = "", top: bool = True) -> tuple[dict, list]:
    """Nodes and edges with nested graphs inlined as ``<graph>.<node>``; their Input/Output become pass-throughs."""
    nodes, edges, entry, exit_ = {}, [], {}, {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = _flatten(node, full + ".", top=False)
            nodes.update(inner_nodes)
            edges += inner_edges
            ins = [n for n, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [n for n, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise ValueError(f"nested graph {full!r} must have exactly one Input and one Output node, got "
                                 f"{ins} and {outs}")
            entry[full], exit_[full] = f"{full}.{ins[0]}", f"{full}.{outs[0]}"
        elif isinstance(node, nir.Flatten) or (not top and isinstance(node, (nir.Input, nir.Output))):
            nodes[full] = _Identity()
        else:
            nodes[full] = node
    for pre, post in graph.edges:
        pre, post = prefix + str(pre), prefix + str(post)
        edges.append((exit_.get(pre, pre), entry.get(post, post)))
    return nodes, edges


class _Importer:
    """One import: signals are propagated through the wire nodes as synapse lists (target channel, source
    neuron, weight, delay in ms) per source node; a spiking node's inputs are the lists that reach it."""

    def __init__(self, graph: nir.NIRGraph, scale: float, spike: str, pulse_width: float | None,
                 ours: dict) -> None:
        self.nodes, self.edges = _flatten(graph)
        self.scale, self.spike, self.pulse_width, self.ours = scale, spike, pulse_width, ours
        for name, node in self.nodes.items():
            for kind, reason in _NOT_EXPRESSIBLE.items():
                if isinstance(node, kind):
                    raise ValueError(f"node {name!r} ({kind.__name__}): {reason}")
            if not isinstance(node, _WIRES + (nir.Input, nir.Output, nir.CubaLIF, nir.CubaLI)):
                raise ValueError(f"node {name!r}: NIR node type {type(node).__name__} is not supported")
            if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
                raise ValueError(f"node {name!r} (Affine): a non-zero bias is a constant input to the synaptic "
                                 f"current, which eventsnn's model does not have (a neuron's bias is v_leak)")
        self.pre = {name: [] for name in self.nodes}
        for pre, post in self.edges:
            if pre not in self.nodes or post not in self.nodes:
                raise ValueError(f"edge ({pre!r}, {post!r}) names a node the graph does not have")
            self.pre[post].append(pre)
        self.signals: dict[str, dict] = {}
        self.sizes: dict[str, int] = {}
        self.visiting: set[str] = set()

    # -- signals ------------------------------------------------------------------------------------------
    def _is_source(self, name: str) -> bool:
        return isinstance(self.nodes[name], (nir.Input, nir.CubaLIF, nir.CubaLI))

    def _input_of(self, name: str) -> tuple[dict, int]:
        """Sum of the signals arriving at ``name``: {source: (channel, neuron, weight, delay)} and their size."""
        if not self.pre[name]:
            raise ValueError(f"node {name!r} has no incoming edge")
        total: dict[str, list] = {}
        sizes = set()
        for pre in self.pre[name]:
            signal, size = self._output_of(pre)
            sizes.add(size)
            for source, parts in signal.items():
                total.setdefault(source, []).append(parts)
        if len(sizes) != 1:
            raise ValueError(f"node {name!r} receives signals of different sizes {sorted(sizes)}")
        merged = {s: tuple(np.concatenate(a) for a in zip(*parts)) for s, parts in total.items()}
        return merged, sizes.pop()

    def _output_of(self, name: str) -> tuple[dict, int]:
        if name in self.signals:
            return self.signals[name], self.sizes[name]
        node = self.nodes[name]
        if self._is_source(name):
            if isinstance(node, nir.CubaLI):
                raise ValueError(f"node {name!r} (CubaLI) emits no spikes; it can only feed an Output node")
            n = self._population_size(name)
            signal = {name: (np.arange(n), np.arange(n), np.ones(n), np.zeros(n))}
        elif isinstance(node, nir.Output):
            raise ValueError(f"node {name!r} (Output) cannot feed other nodes")
        else:
            if name in self.visiting:
                raise ValueError(f"node {name!r} lies on a cycle without a neuron node (only Linear/Delay/...)")
            self.visiting.add(name)
            signal, n = self._input_of(name)
            signal, n = self._wire(name, node, signal, n)
            self.visiting.discard(name)
        self.signals[name], self.sizes[name] = signal, n
        return signal, n

    def _population_size(self, name: str) -> int:
        return self._size(name, set())

    def _size(self, name: str, seen: set) -> int:
        """Number of channels a node emits: from its own parameters where they say it, else from its inputs
        (snnTorch writes scalar neuron parameters; a Flatten or pass-through has none)."""
        node = self.nodes[name]
        if isinstance(node, nir.Input):
            return int(np.prod(np.asarray(node.input_type["input"], dtype=np.int64)))
        if isinstance(node, (nir.Linear, nir.Affine)):
            return int(np.shape(node.weight)[0])
        own = {nir.CubaLIF: lambda: node.v_threshold, nir.CubaLI: lambda: node.v_leak, nir.Scale: lambda: node.scale,
               nir.Delay: lambda: node.delay}.get(type(node))
        if own is not None and np.size(own()) > 1:
            return int(np.size(own()))
        if name in seen or not self.pre[name]:
            if own is not None:
                return int(np.size(own()))
            raise ValueError(f"node {name!r}: cannot tell how many channels it has")
        return self._size(self.pre[name][0], seen | {name})

    def _wire(self, name: str, node, signal: dict, n: int) -> tuple[dict, int]:
        if isinstance(node, (nir.Linear, nir.Affine)):
            weight = np.asarray(node.weight, dtype=np.float64)
            if weight.ndim != 2 or weight.shape[1] != n:
                raise ValueError(f"node {name!r} ({type(node).__name__}): weight of shape {weight.shape} cannot "
                                 f"take an input of {n} channels")
            rows, cols = np.nonzero(weight)  # a zero entry carries nothing
            return {s: _matmul(rows, cols, weight[rows, cols], *parts) for s, parts in signal.items()}, \
                weight.shape[0]
        if isinstance(node, nir.Scale):
            factor = _per_channel(name, "scale", node.scale, n)
            out = {}
            for s, (k, i, w, d) in signal.items():
                w = w * factor[k]
                keep = w != 0.0
                out[s] = (k[keep], i[keep], w[keep], d[keep])
            return out, n
        if isinstance(node, nir.Delay):
            delay = self._exact_ms(name, "delay", node.delay, node.metadata.get("delay_ms"), n)
            if np.any(delay < 0.0):
                raise ValueError(f"node {name!r} (Delay): delays must be >= 0, got {float(delay.min())!r}")
            return {s: (k, i, w, d + delay[k]) for s, (k, i, w, d) in signal.items()}, n
        return signal, n  # pass-through

    # -- parameters ---------------------------------------------------------------------------------------
    def _exact_ms(self, name: str, field_name: str, values, exact, n: int) -> np.ndarray:
        """Graph-unit values in ms. eventsnn's exporter keeps the ms values in the node's metadata: they are used
        when they convert to exactly the stored values (so a round trip loses no bit), else the stored values
        are converted (they were edited, or another program wrote them)."""
        values = _per_channel(name, field_name, values, n)
        if exact is not None and self.ours:
            exact = np.broadcast_to(np.asarray(exact, dtype=np.float64), values.shape)
            if np.array_equal(exact * self.scale, values):
                return exact.copy()
        return values / self.scale

    def _uniform(self, name: str, field_name: str, values: np.ndarray) -> float:
        if np.any(values != values[0]):
            raise ValueError(f"node {name!r}: {field_name} differs between neurons ({float(values.min())!r} .. "
                             f"{float(values.max())!r}); eventsnn's populations share one value")
        return float(values[0])

    def _neuron(self, name: str, n: int) -> tuple[LIF, np.ndarray]:
        """The LIF of node ``name`` and the factor every incoming weight column is multiplied by."""
        node = self.nodes[name]
        meta = node.metadata if isinstance(node.metadata, dict) else {}
        tau_mem = self._uniform(name, "tau_mem", self._exact_ms(name, "tau_mem", node.tau_mem,
                                                                meta.get("tau_mem_ms"), n))
        tau_syn = self._uniform(name, "tau_syn", self._exact_ms(name, "tau_syn", node.tau_syn,
                                                                meta.get("tau_syn_ms"), n))
        v_leak = _per_channel(name, "v_leak", node.v_leak, n)
        gain = _per_channel(name, "r", node.r, n) * _per_channel(name, "w_in", node.w_in, n)
        width = None if self.pulse_width is None else self.pulse_width * self.scale
        gain = gain * SPIKE_READINGS[self.spike](tau_syn * self.scale, width)
        threshold = 1.0
        if isinstance(node, nir.CubaLIF):
            v_reset = _per_channel(name, "v_reset", node.v_reset, n)
            if np.any(v_reset != 0.0):
                raise ValueError(f"node {name!r}: v_reset = {float(v_reset[v_reset != 0][0])!r}, but eventsnn's "
                                 f"neurons start at and reset to v = 0")
            thresholds = _per_channel(name, "v_threshold", node.v_threshold, n)
            if np.all(thresholds == thresholds[0]):
                threshold = float(thresholds[0])
            elif np.all(v_leak == 0.0):
                gain = gain / thresholds  # v / threshold_j has threshold 1: exact, v is linear in the inputs
            else:
                raise ValueError(f"node {name!r}: v_threshold differs between neurons and v_leak != 0; eventsnn "
                                 f"can rescale per-neuron thresholds only without a leak potential")
        bias = self._uniform(name, "v_leak", v_leak)
        try:
            neuron = LIF(tau_mem=tau_mem, tau_syn=tau_syn, threshold=threshold, bias=bias)
        except (TypeError, ValueError) as error:
            raise ValueError(f"node {name!r}: {error}") from None
        return neuron, gain

    # -- assembly -----------------------------------------------------------------------------------------
    def build(self, time_unit: str) -> ImportedGraph:
        inputs = [n for n, v in self.nodes.items() if isinstance(v, nir.Input)]
        neurons = [n for n, v in self.nodes.items() if isinstance(v, nir.CubaLIF)]
        readouts = [n for n, v in self.nodes.items() if isinstance(v, nir.CubaLI)]
        if not inputs or not neurons:
            raise ValueError(f"the graph needs an Input node and a CubaLIF node, got inputs {inputs} and CubaLIF "
                             f"nodes {neurons}")
        if len(readouts) > 1:
            raise ValueError(f"the graph has {len(readouts)} CubaLI nodes {readouts}; eventsnn has one read-out")
        order = self._population_order(inputs, neurons)
        connections, params = [], {}
        for post in neurons:
            signal, n = self._input_of(post)
            params[post] = self._neuron(post, n)
            self.sizes[post] = n
            for source, parts in signal.items():
                for weights, delays in _dense(parts, self._population_size(source), n, params[post][1]):
                    connections.append((source, post, weights, delays))
        net = Network()
        for name in order:
            if name in inputs:
                net.add_input(name, self._population_size(name))
            else:
                net.add_population(name, self.sizes[name], params[name][0])
        rank = {name: k for k, name in enumerate(order)}
        stored = json.loads(str(self.ours.get("eventsnn_order", "{}")) or "{}").get("connections")
        pairs = [[pre, post] for pre, post, _, _ in connections]
        if stored is None or sorted(map(tuple, stored)) != sorted(map(tuple, pairs)) or len(set(map(tuple, pairs))) \
                != len(pairs):
            connections.sort(key=lambda c: (rank[c[1]], rank[c[0]]))
        else:
            connections.sort(key=lambda c: stored.index([c[0], c[1]]))
        for pre, post, weights, delays in connections:
            net.connect(pre, post, weights, delays)
        readout, readout_source = self._readout(readouts[0]) if readouts else (None, None)
        outputs = [p for name, v in self.nodes.items() if isinstance(v, nir.Output) for p in self._emitters(name)]
        return ImportedGraph(net, readout, readout_source, outputs, time_unit, self.spike)

    def _emitters(self, output: str) -> list[str]:
        """Spiking nodes (or the read-out) behind an Output node; pass-throughs are followed, weights refused."""
        found = []
        for pre in self.pre[output]:
            node = self.nodes[pre]
            if isinstance(node, _Identity):
                found += self._emitters(pre)
            elif isinstance(node, (nir.CubaLIF, nir.CubaLI, nir.Input)):
                found.append(pre)
            else:
                raise ValueError(f"Output node {output!r} is fed by {pre!r} ({type(node).__name__}): eventsnn "
                                 f"records spikes of populations, not weighted or delayed signals")
        return found

    def _population_order(self, inputs: list, neurons: list) -> list:
        stored = json.loads(str(self.ours.get("eventsnn_order", "{}")) or "{}").get("populations")
        if stored is not None and sorted(stored) == sorted(inputs + neurons):
            return list(stored)
        # breadth-first from the inputs, ties by node name; populations reached from no input come last
        successors = {name: [] for name in self.nodes}
        for pre, post in self.edges:
            successors[pre].append(post)
        seen, queue, order = set(inputs), sorted(inputs), []
        while queue:
            name = queue.pop(0)
            if name in inputs or name in neurons:
                order.append(name)
            for nxt in sorted(successors[name]):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return order + sorted(set(neurons) - set(order))

    def _readout(self, name: str) -> tuple[LIReadout, str]:
        signal, n = self._input_of(name)
        if len(signal) != 1:
            raise ValueError(f"node {name!r} (CubaLI): a read-out must be driven by exactly one population, got "
                             f"{sorted(signal)}")
        (source, parts), = signal.items()
        if isinstance(self.nodes[source], nir.Input):
            raise ValueError(f"node {name!r} (CubaLI) is driven by the input {source!r}; eventsnn's read-out reads "
                             f"a spiking population")
        if np.any(parts[3] != 0.0):
            raise ValueError(f"node {name!r} (CubaLI): eventsnn's read-out has no delays, the graph delays its input")
        neuron, gain = self._neuron(name, n)
        (weights, _), = _dense(parts, self._population_size(source), n, gain)
        return LIReadout(weights, neuron), source


def _per_channel(name: str, field_name: str, values, n: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    try:
        array = np.broadcast_to(array.reshape(-1) if array.size == n else array, (n,)).astype(np.float64)
    except ValueError:
        raise ValueError(f"node {name!r}: {field_name} of shape {np.shape(values)} does not fit {n} neurons") \
            from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"node {name!r}: {field_name} must be finite")
    return array


def _matmul(rows, cols, values, k, i, w, d):
    """Synapse lists after a linear map: entry (row, col) takes every synapse arriving on channel col to row."""
    order = np.argsort(k, kind="stable")
    k_sorted = k[order]
    lo = np.searchsorted(k_sorted, cols, side="left")
    count = np.searchsorted(k_sorted, cols, side="right") - lo
    entry = np.repeat(np.arange(rows.size), count)
    offset = np.arange(entry.size) - np.repeat(np.cumsum(count) - count, count)
    picked = order[np.repeat(lo, count) + offset]
    weight = values[entry] * w[picked]
    keep = weight != 0.0
    return rows[entry][keep], i[picked][keep], weight[keep], d[picked][keep]


def _dense(parts, n_pre: int, n_post: int, gain: np.ndarray) -> list[tuple[np.ndarray, float | np.ndarray]]:
    """Dense (weights, delays) connections from one source's synapse list: synapses of equal (pre, post, delay)
    are summed; a pair reached with several delays gets one connection per delay (ascending)."""
    post, pre, weight, delay = parts
    key = np.lexsort((delay, post, pre))
    post, pre, weight, delay = post[key], pre[key], weight[key], delay[key]
    same = np.r_[False, (pre[1:] == pre[:-1]) & (post[1:] == post[:-1]) & (delay[1:] == delay[:-1])]
    group = np.cumsum(~same) - 1
    first = np.flatnonzero(~same)
    summed = np.zeros(first.size)
    np.add.at(summed, group, weight)
    pre, post, delay = pre[first], post[first], delay[first]
    new_pair = np.r_[True, (pre[1:] != pre[:-1]) | (post[1:] != post[:-1])]
    start = np.maximum.accumulate(np.where(new_pair, np.arange(pre.size), 0))
    level = np.arange(pre.size) - start
    out = []
    for r in range(int(level.max()) + 1 if level.size else 1):
        at = level == r
        weights = np.zeros((n_pre, n_post))
        weights[pre[at], post[at]] = summed[at] * gain[post[at]]
        if np.all(delay[at] == delay[at][0]) if at.any() else True:
            delays = float(delay[at][0]) if at.any() else 0.0
        else:
            delays = np.zeros((n_pre, n_post))
            delays[pre[at], post[at]] = delay[at]
        out.append((weights, delays))
    return out


# ------------------------------------------------------------------------------------------------------------
# spike data
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
