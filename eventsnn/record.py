"""What ``simulate`` returns: spikes of every population, counts, and exact V(t), I(t) on request.

A ``Record`` keeps a snapshot of the network it was produced with, so that membrane potentials and synaptic
currents can be evaluated *analytically* at any time afterwards (``membrane_potential``), and so that the
adjoint (``eventsnn.vjp``) has everything it needs without the forward pass storing anything extra: the
spikes determine the whole trajectory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels.forward import replay_neuron
from eventsnn.spikes import SpikeTrains

if TYPE_CHECKING:
    from eventsnn.network import Network


class Record:
    """Result of one simulated sample.

    Attributes
    ----------
    layers : list of SpikeTrains
        Spikes of each non-input population, in ``network.layer_names`` order (``layers[-1]`` is the output
        of a feed-forward network). Times in ms, sorted by (time, neuron).
    layer_names : list of str
    inputs : dict of str to SpikeTrains
        The input spikes that drove the sample.
    t_max : float
        Simulated window (ms); spikes are counted in [0, t_max].
    network : Network
        Snapshot of the network (weights at simulation time).
    """

    def __init__(self, layers: list[SpikeTrains], inputs: dict[str, SpikeTrains], t_max: float,
                 network: "Network") -> None:
        self.layers = layers
        self.layer_names = network.layer_names
        self.inputs = inputs
        self.t_max = t_max
        self.network = network

    @classmethod
    def _trusted(cls, layers: list[SpikeTrains], inputs: dict[str, SpikeTrains], t_max: float, network: "Network",
                 layer_names: list[str]) -> "Record":
        """A Record of ``simulate``'s own results, with ``layer_names`` (``network.layer_names``) computed once per
        batch rather than per sample; each record still gets its own list."""
        rec = cls.__new__(cls)
        rec.layers, rec.layer_names, rec.inputs, rec.t_max, rec.network = layers, list(layer_names), inputs, t_max, \
            network
        return rec

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}: {len(s)}" for n, s in zip(self.layer_names, self.layers))
        return f"Record(t_max={self.t_max} ms; spikes {parts})"

    def population(self, name: str) -> SpikeTrains:
        """Spikes of a population by name (input or neuron population)."""
        if name in self.inputs:
            return self.inputs[name]
        if name not in self.layer_names:
            raise ValueError(f"name must be a population of the record, one of "
                             f"{list(self.inputs) + self.layer_names}; got {name!r}")
        return self.layers[self.layer_names.index(name)]

    @property
    def counts(self) -> list[np.ndarray]:
        """Spike count of every neuron, one array per layer."""
        return [layer.counts() for layer in self.layers]

    @property
    def n_spikes(self) -> dict[str, int]:
        """Total number of spikes per layer."""
        return {name: len(layer) for name, layer in zip(self.layer_names, self.layers)}

    # ----------------------------------------------------------------------------------------------
    def membrane_potential(self, layer: str | int, neuron: int, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """Exact membrane potential V of one neuron at the given times (ms), evaluated analytically.

        Values are right-continuous: at a spike time the reset value is returned.
        """
        return self._state(layer, neuron, times)[0]

    def synaptic_current(self, layer: str | int, neuron: int, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """Exact synaptic current I of one neuron at the given times (ms)."""
        return self._state(layer, neuron, times)[1]

    def _state(self, layer: str | int, neuron: int, times: Sequence[float] | np.ndarray):
        name = self._layer_name(layer)
        neuron = self._neuron_index(name, neuron)
        shape = np.shape(times)  # a scalar time gives a 0-d result, an (n,) array an (n,) result
        times = check.float_array("times", times)
        flat = times.ravel()
        if flat.size and flat.min() < 0.0:
            raise ValueError(f"times must be >= 0 ms, got {flat.min()!r}")
        arrival_times, arrival_weights = self.arrivals(name, int(neuron))  # checks the record
        own = self.population(name)
        spike_times = np.ascontiguousarray(own.times[own.neurons == neuron])
        order = np.argsort(flat, kind="stable")
        params = self.network.populations[name].neuron.kernel_parameters()
        v_sorted, i_sorted = replay_neuron(arrival_times, arrival_weights, spike_times, params,
                                           np.ascontiguousarray(flat[order]))
        v, i = np.empty_like(flat), np.empty_like(flat)
        v[order], i[order] = v_sorted, i_sorted
        return v.reshape(shape), i.reshape(shape)

    def _layer_name(self, layer: str | int, arg: str = "layer") -> str:
        """Name of a neuron population given by name or by index into ``layer_names`` (negative allowed)."""
        n = len(self.layer_names)
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, (bool, np.bool_)):
            if not -n <= layer < n:
                raise ValueError(f"{arg} index must be in [{-n}, {n - 1}] ({n} neuron populations), got {layer!r}")
            return self.layer_names[layer]
        if not isinstance(layer, str):
            raise TypeError(f"{arg} must be a population name or an int index, got {type(layer).__name__} {layer!r}")
        if layer not in self.layer_names:
            raise ValueError(f"{arg} must be a neuron population, one of {self.layer_names}; got {layer!r}")
        return layer

    def _neuron_index(self, name: str, neuron: int) -> int:
        size = self.network.populations[name].size
        if not (isinstance(neuron, (int, np.integer)) and not isinstance(neuron, (bool, np.bool_))
                and 0 <= neuron < size):
            raise ValueError(f"neuron must be an index in [0, {size - 1}] of population {name!r}, got {neuron!r}")
        return int(neuron)

    def arrivals(self, name: str, neuron: int) -> tuple[np.ndarray, np.ndarray]:
        """All synaptic arrivals at one neuron: (times in ms, weights), sorted by time (stable).

        ``name`` is a neuron population (name or index into ``layer_names``); arrival times include delays.
        """
        name = self._layer_name(name, "name")
        neuron = self._neuron_index(name, neuron)
        check.record_for_kernels(self, "record")  # the arrays below index each other and feed replay_neuron
        times, weights = [], []
        for c in self.network.connections:
            if c.post != name:
                continue
            pre = self.population(c.pre)
            delays = c.delays if c.has_scalar_delay else c.delays[pre.neurons, neuron]
            times.append(pre.times + delays)
            weights.append(c.weights[pre.neurons, neuron])
        if not times:
            return np.zeros(0), np.zeros(0)
        times, weights = np.concatenate(times), np.concatenate(weights)
        order = np.argsort(times, kind="stable")
        return np.ascontiguousarray(times[order]), np.ascontiguousarray(weights[order])
