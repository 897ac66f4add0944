"""Network description: populations, connections, delays; compilation to flat arrays for the kernels.

A ``Network`` holds input populations (spike sources fed by the user), neuron populations (``LIF``) and
connections ``pre -> post`` with a dense weight matrix ``W[pre, post]`` (a spike of pre neuron i adds
``W[i, j]`` to the synaptic current of post neuron j) and an axonal/synaptic delay (ms, scalar or per synapse).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn.neuron import LIF

if TYPE_CHECKING:  # the read-out module imports this one
    from eventsnn.readout import LIReadout


@dataclass
class Population:
    """A named group of neurons. ``neuron`` is None for input populations (spike sources)."""

    name: str
    size: int
    neuron: LIF | None

    @property
    def is_input(self) -> bool:
        """True for an input population (spike sources without a neuron model)."""
        return self.neuron is None


class Connection:
    """Synapses ``pre -> post``: weights of shape (n_pre, n_post); delays (ms) scalar or (n_pre, n_post).

    ``weights`` and ``delays`` are validated whenever they are assigned (shape fixed at construction, finite,
    |weight| <= 1e100, delays >= 0 ms); the assigned array is copied, so later writes to it do not reach the
    network. Writes *into* the arrays (``net.weights[k][...] = ...``, what optimizers do) are allowed and
    re-checked cheaply by :func:`eventsnn.simulate` before every run.
    """

    def __init__(self, pre: str, post: str, weights: np.ndarray, delays: float | np.ndarray = 0.0) -> None:
        self.pre = pre
        self.post = post
        weights = check.float_array(f"weights of {pre}->{post}", weights, ndim=2)
        self._weights = check.parameter_array(f"weights of {pre}->{post}", weights, shape=weights.shape)
        self.delays = delays
        # True only while the values of the arrays are known to be the checked ones: set by simulate on the
        # snapshot it records (_mark_values_checked), cleared as soon as an array is handed to anyone (the getters
        # below) or replaced. Network.validate_for_simulation skips the O(synapses) value pass while it is set.
        self._values_checked = False

    @property
    def weights(self) -> np.ndarray:
        """Weight matrix, shape (n_pre, n_post): a spike of pre neuron i adds ``weights[i, j]`` to I of post j."""
        self._values_checked = False  # whoever holds the array may write into it
        return self._weights

    @weights.setter
    def weights(self, value: np.ndarray) -> None:
        self._weights = check.parameter_array(f"weights of {self.pre}->{self.post}", value, shape=self._weights.shape)
        self._values_checked = False

    @property
    def delays(self) -> float | np.ndarray:
        """Transmission delays (ms), >= 0: one float for the whole connection or an (n_pre, n_post) array."""
        self._values_checked = False  # whoever holds an array of delays may write into it
        return self._delays

    @delays.setter
    def delays(self, value: float | np.ndarray) -> None:
        name = f"delays of {self.pre}->{self.post}"
        if np.ndim(value) == 0:
            value = value[()] if isinstance(value, np.ndarray) else value  # a 0-d array is a scalar delay
            self._delays = check.bounded(name, check.nonnegative_finite(name, value))
        else:
            self._delays = check.parameter_array(name, value, shape=self._weights.shape, nonnegative=True)
        self._values_checked = False

    @property
    def has_scalar_delay(self) -> bool:
        """True if one delay (ms) serves every synapse of the connection (what the layered fast path needs)."""
        return np.ndim(self._delays) == 0

    def __getstate__(self) -> dict:
        # copying or pickling hands the arrays out: a shallow copy (copy.copy) shares them with this connection, and
        # a deep copy or an unpickled file has not been checked by simulate
        self._values_checked = False
        return dict(self.__dict__)

    def __repr__(self) -> str:
        delays = f"{self.delays} ms" if self.has_scalar_delay else f"array {self.delays.shape} ms"
        return f"Connection({self.pre!r} -> {self.post!r}, weights {self._weights.shape}, delays {delays})"


class Network:
    """A spiking network of LIF populations.

    Examples
    --------
    A feed-forward network (the common case):

    >>> import numpy as np, eventsnn as es
    >>> W1, W2 = np.full((3, 4), 0.5), np.full((4, 2), 0.8)
    >>> net = es.Network.feedforward([3, 4, 2], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0), weights=[W1, W2])
    >>> net.layer_names
    ['layer1', 'layer2']

    A general (recurrent, delayed) network:

    >>> net = es.Network()
    >>> net.add_input("in", 3)
    >>> net.add_population("exc", 4, es.LIF())
    >>> net.connect("in", "exc", np.full((3, 4), 0.8), delays=1.0)
    0
    >>> net.connect("exc", "exc", np.full((4, 4), 0.1), delays=np.full((4, 4), 2.0))
    1
    """

    def __init__(self) -> None:
        self.populations: dict[str, Population] = {}
        self.connections: list[Connection] = []

    # ----------------------------------------------------------------------------------------------
    # construction
    def add_input(self, name: str, size: int) -> None:
        """Add an input population of ``size`` spike sources."""
        self._add(name, size, None)

    def add_population(self, name: str, size: int, neuron: LIF) -> None:
        """Add a population of ``size`` neurons sharing the parameters ``neuron``."""
        if not isinstance(neuron, LIF):
            raise TypeError(f"neuron must be an eventsnn.LIF, got {type(neuron).__name__}")
        self._add(name, size, neuron)

    def _add(self, name: str, size: int, neuron: LIF | None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"population name must be a non-empty str, got {name!r}")
        if name in self.populations:
            raise ValueError(f"population name {name!r} is already used")
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"size of population {name!r} must be an int >= 1, got {size!r}")
        self.populations[name] = Population(name, int(size), neuron)

    def connect(self, pre: str, post: str, weights: np.ndarray, delays: float | np.ndarray = 0.0) -> int:
        """Connect ``pre`` to ``post``; returns the connection index k (gradients use ``g.weights[k]``).

        Parameters
        ----------
        pre, post : str
            Population names; ``post`` must not be an input population.
        weights : array_like, shape (n_pre, n_post)
            Synaptic weights (added to the post-synaptic current I at each arrival), finite, |w| <= 1e100.
        delays : float or array_like of shape (n_pre, n_post)
            Transmission delays (ms), finite, >= 0 and <= 1e100. Default 0.
        """
        for role, name in (("pre", pre), ("post", post)):
            if name not in self.populations:
                raise ValueError(f"{role} population {name!r} does not exist; known: {list(self.populations)}")
        if self.populations[post].is_input:
            raise ValueError(f"post population {post!r} is an input population and cannot receive connections")
        shape = (self.populations[pre].size, self.populations[post].size)
        weights = check.parameter_array(f"weights of {pre}->{post}", weights, shape=shape)
        self.connections.append(Connection(pre, post, weights, delays))
        return len(self.connections) - 1

    @classmethod
    def feedforward(cls, sizes: Sequence[int], neuron: LIF | Sequence[LIF], weights: Sequence[np.ndarray],
                    delays: Sequence[float] | None = None) -> "Network":
        """Layered network ``sizes[0]`` inputs -> ... -> ``sizes[-1]`` outputs.

        Parameters
        ----------
        sizes : sequence of int
            Layer sizes, inputs first (at least 2 entries).
        neuron : LIF or sequence of LIF
            Neuron parameters, shared by all layers or one per non-input layer.
        weights : sequence of arrays
            ``weights[k]`` has shape (sizes[k], sizes[k+1]).
        delays : sequence of float, optional
            One scalar delay (ms) per connection. Default all 0.

        The input population is called "input" and the others "layer1", "layer2", ...
        """
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and one layer, got {sizes!r}")
        n_layers = len(sizes) - 1
        if isinstance(neuron, LIF):
            neurons = [neuron] * n_layers
        elif isinstance(neuron, (list, tuple)):
            neurons = list(neuron)
            for k, item in enumerate(neurons):
                if not isinstance(item, LIF):
                    raise TypeError(f"neuron[{k}] must be an eventsnn.LIF, got {type(item).__name__} {item!r}")
        else:
            raise TypeError(f"neuron must be an eventsnn.LIF or a sequence of them, got {type(neuron).__name__} "
                            f"{neuron!r}")
        if len(neurons) != n_layers:
            raise ValueError(f"neuron must be one LIF or {n_layers} of them, got {len(neurons)}")
        weights = list(weights)
        if len(weights) != n_layers:
            raise ValueError(f"weights must hold {n_layers} matrices for sizes {sizes}, got {len(weights)}")
        delays = [0.0] * n_layers if delays is None else list(delays)
        if len(delays) != n_layers:
            raise ValueError(f"delays must hold {n_layers} scalars, got {len(delays)}")
        net = cls()
        net.add_input("input", sizes[0])
        names = ["input"]
        for k in range(n_layers):
            names.append(f"layer{k + 1}")
            net.add_population(names[-1], sizes[k + 1], neurons[k])
            if np.ndim(delays[k]) != 0:
                raise ValueError("Network.feedforward takes scalar delays; use Network.connect for per-synapse delays")
            net.connect(names[k], names[k + 1], weights[k], delays[k])
        return net

    # ----------------------------------------------------------------------------------------------
    # inspection
    @property
    def input_names(self) -> list[str]:
        """Input populations in the order they were added (the keys of a sample's input spikes)."""
        return [p.name for p in self.populations.values() if p.is_input]

    @property
    def layer_names(self) -> list[str]:
        """Non-input populations in the order they were added (``rec.layers[k]`` follows this order)."""
        return [p.name for p in self.populations.values() if not p.is_input]

    @property
    def weights(self) -> list[np.ndarray]:
        """The weight matrices of all connections, in connection order (views, not copies)."""
        return [c.weights for c in self.connections]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace every connection's weights (validated; shapes must match)."""
        weights = list(weights)
        if len(weights) != len(self.connections):
            raise ValueError(f"expected {len(self.connections)} weight matrices, got {len(weights)}")
        checked = [check.parameter_array(f"weights[{k}]", w, shape=c.weights.shape)
                   for k, (w, c) in enumerate(zip(weights, self.connections))]
        for c, w in zip(self.connections, checked):
            c._weights = w  # checked above, all before any is replaced
            c._values_checked = False

    def copy(self) -> "Network":
        """An independent deep copy (weights and delays copied too)."""
        return copy.deepcopy(self)

    def is_layered_feedforward(self) -> bool:
        """True if the network is one input -> layer1 -> layer2 ... chain with scalar delays."""
        names = list(self.populations)
        if len(self.input_names) != 1 or names[0] != self.input_names[0]:
            return False
        if len(self.connections) != len(names) - 1:
            return False
        return all(c.pre == names[k] and c.post == names[k + 1] and c.has_scalar_delay
                   for k, c in enumerate(self.connections))

    def validate_for_simulation(self) -> None:
        """Check everything the kernels will read, as it is now: populations, connection structure, and the
        weight and delay arrays (which may have been written in place since they were assigned). Raises
        ValueError/TypeError naming the population or connection. O(number of synapses), no copies.

        The value pass is skipped for the arrays of a network snapshot that :func:`eventsnn.simulate` checked and
        recorded and that nobody has been handed since (its ``weights``/``delays`` getters have not been called):
        their values cannot have changed. Everything else is checked every time."""
        self._checked(snapshot=False)

    def _validated_copy(self) -> "Network":
        """:meth:`validate_for_simulation`, then :meth:`copy`, in one pass: the same checks in the same order with
        the same errors, each array's values checked in the pass that copies them (so the values checked are those
        of the copy, which the kernels will read). A plain Network of
        plain populations and connections is copied field by field (a deep copy: arrays copied, the frozen LIF
        models shared); anything else (a subclass, extra attributes) by :meth:`copy`."""
        plain = type(self) is Network and vars(self).keys() == {"populations", "connections"} \
            and isinstance(self.populations, dict) and isinstance(self.connections, list) \
            and all(type(p) is Population for p in self.populations.values()) \
            and all(type(c) is Connection and vars(c).keys() == _CONNECTION_FIELDS for c in self.connections)
        if not plain:
            self.validate_for_simulation()
            return self.copy()
        return self._checked(snapshot=True)

    def _mark_values_checked(self) -> None:
        """For :func:`eventsnn.simulate` only, on the snapshot it made with :meth:`_validated_copy` and hands to its
        records: its arrays hold the checked values (simulate's own code gave them only to kernels, which never
        write them), until public code gets them through a getter."""
        for c in self.connections:
            c._values_checked = True

    def _checked(self, snapshot: bool) -> "Network | None":
        """The checks of :meth:`validate_for_simulation`; with ``snapshot``, also builds the copy of
        :meth:`_validated_copy` (only for a plain network, which the caller has established) and returns it."""
        if not isinstance(self.populations, dict) or not isinstance(self.connections, list):
            raise TypeError("net.populations must be a dict and net.connections a list")
        for name, population in self.populations.items():
            if not isinstance(population, Population) or population.name != name:
                raise TypeError(f"net.populations[{name!r}] must be the Population named {name!r}, got {population!r}")
            size = population.size
            if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"size of population {name!r} must be an int >= 1, got {size!r}")
            if population.neuron is not None and not isinstance(population.neuron, LIF):
                raise TypeError(f"neuron of population {name!r} must be an eventsnn.LIF or None, got "
                                f"{type(population.neuron).__name__}")
        if not self.layer_names:
            raise ValueError("the network has no neuron population; add one with add_population")
        if not self.input_names:
            raise ValueError("the network has no input population; add one with add_input")
        twin_net = None
        if snapshot:
            twin_net = Network()
            twin_net.populations = {name: Population(p.name, p.size, p.neuron) for name, p in self.populations.items()}
        for k, c in enumerate(self.connections):
            if not isinstance(c, Connection):
                raise TypeError(f"net.connections[{k}] must be an eventsnn.Connection, got {type(c).__name__}")
            for role, name in (("pre", c.pre), ("post", c.post)):
                if not isinstance(name, str) or name not in self.populations:
                    raise ValueError(f"net.connections[{k}].{role} is {name!r}, not a population of the network; "
                                     f"known: {list(self.populations)}")
            if self.populations[c.post].is_input:
                raise ValueError(f"net.connections[{k}].post {c.post!r} is an input population")
            shape = (self.populations[c.pre].size, self.populations[c.post].size)
            if type(c) is Connection:
                # the private arrays (what the getters return), so that checking them does not count as handing
                # them out; connections pickled by older versions have no flag
                values_checked, weights, delays = getattr(c, "_values_checked", False), c._weights, c._delays
                scalar_delay = np.ndim(delays) == 0
            else:  # a subclass: what its getters give the kernels, always checked
                values_checked, weights, delays, scalar_delay = False, c.weights, c.delays, c.has_scalar_delay
            what = f"weights of {c.pre}->{c.post}"
            check.kernel_array(what, weights, np.float64, shape)
            weights = _checked_values(what, weights, values_checked, twin_net is not None)
            what = f"delays of {c.pre}->{c.post}"
            if scalar_delay:
                check.bounded(what, check.nonnegative_finite(what, delays))
            else:
                check.kernel_array(what, delays, np.float64, shape)
                delays = _checked_values(what, delays, values_checked, twin_net is not None, nonnegative=True)
            if twin_net is not None:
                twin = Connection.__new__(Connection)
                twin.pre, twin.post, twin._weights, twin._delays, twin._values_checked = c.pre, c.post, weights, \
                    delays, False
                twin_net.connections.append(twin)
        return twin_net

    # ----------------------------------------------------------------------------------------------
    # compilation for the kernels
    def layer_parameters(self) -> np.ndarray:
        """(n_layers, N_PARAMS) float64 kernel parameters, one row per non-input population."""
        return np.stack([self.populations[n].neuron.kernel_parameters() for n in self.layer_names])

    def compile_general(self) -> "CompiledNetwork":
        """Flatten into CSR-by-source arrays for the heap engine (rows sorted by delay)."""
        inputs, layers = self.input_names, self.layer_names
        source_offset, neuron_offset = {}, {}
        n_sources = 0
        for name in inputs:
            source_offset[name] = n_sources
            n_sources += self.populations[name].size
        n_input_sources = n_sources
        n_neurons = 0
        for name in layers:
            neuron_offset[name] = n_neurons
            source_offset[name] = n_sources + n_neurons
            n_neurons += self.populations[name].size
        n_sources += n_neurons
        population_of = np.concatenate([np.full(self.populations[n].size, k, dtype=np.int64)
                                        for k, n in enumerate(layers)])
        sources, targets, weights, delays, synapse_ids = [], [], [], [], []
        synapse_offset = 0
        for c in self.connections:
            n_pre, n_post = c.weights.shape
            pre_idx, post_idx = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
            sources.append(source_offset[c.pre] + pre_idx.ravel())
            targets.append(neuron_offset[c.post] + post_idx.ravel())
            weights.append(c.weights.ravel())
            delays.append(np.broadcast_to(np.asarray(c.delays, dtype=np.float64), (n_pre, n_post)).ravel())
            synapse_ids.append(synapse_offset + np.arange(n_pre * n_post))
            synapse_offset += n_pre * n_post
        sources = np.concatenate(sources)
        delays_flat = np.concatenate(delays)
        order = np.lexsort((delays_flat, sources))  # by source, then delay (stable)
        row_ptr = np.zeros(n_sources + 1, dtype=np.int64)
        np.add.at(row_ptr, sources + 1, 1)
        return CompiledNetwork(
            n_input_sources=n_input_sources, n_neurons=n_neurons,
            source_offset=source_offset, neuron_offset=neuron_offset,
            population_of=population_of, parameters=self.layer_parameters(),
            row_ptr=np.cumsum(row_ptr),
            synapse_target=np.ascontiguousarray(np.concatenate(targets)[order]),
            synapse_weight=np.ascontiguousarray(np.concatenate(weights)[order]),
            synapse_delay=np.ascontiguousarray(delays_flat[order]),
            synapse_id=np.ascontiguousarray(np.concatenate(synapse_ids)[order]),
        )

    # ----------------------------------------------------------------------------------------------
    # files (eventsnn.saved: one self-describing .npz, no pickle)
    def save(self, path: str, readout: LIReadout | None = None) -> str:
        """Write the network (and an optional ``LIReadout``) to one ``.npz`` file atomically; returns the path.
        Read it back with :func:`eventsnn.load` (network and read-out) or :meth:`Network.load`."""
        from eventsnn.saved import save
        return save(path, self, readout)

    @classmethod
    def load(cls, path: str) -> "Network":
        """The network of a file written by :meth:`save` (its read-out, if any, via :func:`eventsnn.load`)."""
        from eventsnn.saved import load
        return load(path).network


_CONNECTION_FIELDS = {"pre", "post", "_weights", "_delays", "_values_checked"}


def _checked_values(what: str, array: np.ndarray, values_checked: bool, copy: bool, *,
                    nonnegative: bool = False) -> np.ndarray:
    """The value check of a weight or delay array (C-contiguous float64), unless ``values_checked``; with ``copy``,
    a copy of it, checked in the pass that copies it (the copy is what the kernels will read)."""
    if values_checked:
        return array.copy() if copy else array
    if copy:
        return check.parameter_copy(what, array, nonnegative=nonnegative)
    check.parameter_values(what, array, nonnegative=nonnegative)
    return array


@dataclass
class CompiledNetwork:
    """Flat arrays for the heap engine. Sources are input neurons then model neurons (global indices)."""

    n_input_sources: int
    n_neurons: int
    source_offset: dict
    neuron_offset: dict
    population_of: np.ndarray
    parameters: np.ndarray
    row_ptr: np.ndarray
    synapse_target: np.ndarray
    synapse_weight: np.ndarray
    synapse_delay: np.ndarray
    synapse_id: np.ndarray


