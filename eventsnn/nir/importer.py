"""NIR graph -> eventsnn network (:func:`from_nir`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import nir
import numpy as np

from eventsnn import _validation as check
from eventsnn.network import Network
from eventsnn.neuron import LIF
from eventsnn.nir.conventions import FORMAT, SPIKE_READINGS, TIME_UNITS
from eventsnn.nir.files import read
from eventsnn.nir.synapses import dense_connections, matmul, per_channel
from eventsnn.readout import LIReadout


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
        spike = str(metadata.get("spike"))
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
            return {s: matmul(rows, cols, weight[rows, cols], *parts) for s, parts in signal.items()}, \
                weight.shape[0]
        if isinstance(node, nir.Scale):
            factor = per_channel(name, "scale", node.scale, n)
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
        values = per_channel(name, field_name, values, n)
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
        v_leak = per_channel(name, "v_leak", node.v_leak, n)
        gain = per_channel(name, "r", node.r, n) * per_channel(name, "w_in", node.w_in, n)
        width = None if self.pulse_width is None else self.pulse_width * self.scale
        gain = gain * SPIKE_READINGS[self.spike](tau_syn * self.scale, width)
        threshold = 1.0
        if isinstance(node, nir.CubaLIF):
            v_reset = per_channel(name, "v_reset", node.v_reset, n)
            if np.any(v_reset != 0.0):
                raise ValueError(f"node {name!r}: v_reset = {float(v_reset[v_reset != 0][0])!r}, but eventsnn's "
                                 f"neurons start at and reset to v = 0")
            thresholds = per_channel(name, "v_threshold", node.v_threshold, n)
            if not np.all(thresholds > 0.0):
                # eventsnn's neurons start at v = 0 below a positive threshold; a threshold <= 0 would also flip
                # (or blow up) the weights of the per-neuron rescaling below
                raise ValueError(f"node {name!r}: v_threshold = {float(thresholds[~(thresholds > 0.0)][0])!r}, but "
                                 f"eventsnn's thresholds must be > 0 (neurons start at v = 0, below threshold)")
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
                for weights, delays in dense_connections(parts, self._population_size(source), n, params[post][1]):
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
        (weights, _), = dense_connections(parts, self._population_size(source), n, gain)
        return LIReadout(weights, neuron), source
