"""PyTorch bridge: exact event-driven simulation as a differentiable torch layer.

The forward pass runs :func:`eventsnn.simulate` (one sample per thread of the library's pool) and keeps the
``Record`` of every sample; the backward pass is :func:`eventsnn.vjp`, the exact adjoint. Gradients reach the
weights, the biases and the delays (all ``nn.Parameter``\\ s of :class:`SpikingNetwork`) and the input spike
times. Like every exact spike-time gradient they are derivatives of the spike times *that exist*: a
perturbation that creates or removes a spike is not seen (docs/theory.md).

Tensor form of spike trains (docs/torch.md)
-------------------------------------------
A batch of spike trains of one population is a pair of tensors of shape ``(batch, n_slots)``:

* ``times`` (any floating dtype, ms): spike times, padded with ``+inf``;
* ``neurons`` (int64): the neuron of each spike, ``-1`` in padded slots.

Inputs may list their spikes in any order, with padding anywhere. Outputs list each sample's spikes in time
order (ties by neuron index) followed by padding; ``n_slots`` is the largest spike count in the batch.
:meth:`PaddedSpikes.first_spike_times` turns them into the ``(batch, n_neurons)`` first-spike form of
time-to-first-spike losses (``+inf`` for a silent neuron), differentiably.

Precision: the engine computes in float64 whatever the dtype at the boundary. Output times take the dtype of
the input times; each gradient takes the dtype of the tensor it belongs to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from eventsnn import _validation as check
from eventsnn._padded import backward, checked_parameters, network_with, padded_arrays, trains_of_row
from eventsnn.network import Network
from eventsnn.neuron import LIF
from eventsnn.readout import LIReadout
from eventsnn.record import Record
from eventsnn.simulate import DEFAULT_MAX_SPIKES_PER_NEURON, simulate
from eventsnn.spikes import SpikeTrains

__all__ = ["LIReadoutLayer", "PaddedSpikes", "ReadoutMaxFunction", "SimulateFunction", "SimulationSetup",
           "SpikingNetwork", "pad_spikes"]


@dataclass
class PaddedSpikes:
    """Spikes of one population for a batch, in the padded tensor form (module docstring).

    Attributes
    ----------
    times : Tensor, shape (batch, n_slots)
        Spike times (ms), ``+inf`` in padded slots. Differentiable when produced by :class:`SpikingNetwork`.
    neurons : Tensor of int64, shape (batch, n_slots)
        Neuron index of each spike, ``-1`` in padded slots.
    n_neurons : int
        Size of the population.
    trains : list of SpikeTrains, optional
        The same spikes as eventsnn objects, one per row, each in slot order (set by :func:`pad_spikes` and
        :class:`SpikingNetwork`, which read them to skip a conversion). Used only while ``times`` and ``neurons``
        are the very tensors, unmodified, that they were given with: replacing or editing a tensor in place
        makes the layers read the tensors instead.
    """

    times: torch.Tensor
    neurons: torch.Tensor
    n_neurons: int
    trains: list[SpikeTrains] | None = None
    # the tensors (and their in-place version counters) that ``trains`` describes
    _stamp: tuple | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.trains is not None:
            self._stamp = (self.times, self.neurons, self.times._version, self.neurons._version)

    def cached_trains(self) -> list[SpikeTrains] | None:
        """``trains`` if they still describe ``times`` and ``neurons`` (the same tensor objects, not edited in
        place since), else None: a stale cache must never win over the tensors."""
        if self.trains is None or self._stamp is None:
            return None
        times, neurons, times_version, neurons_version = self._stamp
        if (self.times is times and self.neurons is neurons and self.times._version == times_version
                and self.neurons._version == neurons_version):
            return self.trains
        return None

    def first_spike_times(self) -> torch.Tensor:
        """First spike time (ms) of every neuron, shape (batch, n_neurons), ``+inf`` for a silent neuron.

        Differentiable: the gradient of a neuron's entry flows to its first spike (a ``scatter_reduce`` with
        ``amin`` over the slots; padded slots go to a discarded column).

        Examples
        --------
        >>> import torch
        >>> from eventsnn.torch import PaddedSpikes
        >>> s = PaddedSpikes(torch.tensor([[1.0, 2.0, float("inf")]]), torch.tensor([[2, 0, -1]]), 3)
        >>> s.first_spike_times()
        tensor([[2., inf, 1.]])
        """
        batch = self.times.shape[0]
        columns = torch.where(self.neurons < 0, self.n_neurons, self.neurons)
        start = torch.full((batch, self.n_neurons + 1), float("inf"), dtype=self.times.dtype,
                           device=self.times.device)
        return start.scatter_reduce(1, columns, self.times, reduce="amin", include_self=True)[:, :self.n_neurons]

    def counts(self) -> torch.Tensor:
        """Number of spikes of every neuron, int64 tensor of shape (batch, n_neurons)."""
        batch = self.neurons.shape[0]
        columns = torch.where(self.neurons < 0, self.n_neurons, self.neurons)
        out = torch.zeros((batch, self.n_neurons + 1), dtype=torch.int64, device=self.neurons.device)
        return out.scatter_add_(1, columns, torch.ones_like(columns))[:, :self.n_neurons]

    def to_spike_trains(self) -> list[SpikeTrains]:
        """One :class:`eventsnn.SpikeTrains` per sample (padding dropped, spikes in canonical order)."""
        return [_trains_of_row(self.times[b], self.neurons[b], self.n_neurons, f"spikes[{b}]")[0]
                for b in range(self.times.shape[0])]


def pad_spikes(trains: Sequence[SpikeTrains], *, dtype: torch.dtype = torch.float64) -> PaddedSpikes:
    """Pack spike trains of one population (e.g. a ``SpikeBatch`` or a list of samples) into the padded form.

    Parameters
    ----------
    trains : sequence of SpikeTrains
        One per sample, all with the same ``n_neurons``. A :class:`eventsnn.SpikeBatch` works too.
    dtype : torch.dtype
        Floating dtype of ``times`` (default float64).

    Returns
    -------
    PaddedSpikes
        ``times`` of shape (len(trains), max spikes per sample), ``+inf`` padded; ``neurons`` ``-1`` padded.

    Examples
    --------
    >>> import eventsnn as es
    >>> from eventsnn.torch import pad_spikes
    >>> s = pad_spikes([es.SpikeTrains([1.0, 3.0], [0, 1], 2), es.SpikeTrains([2.0], [1], 2)])
    >>> s.times
    tensor([[1., 3.],
            [2., inf]], dtype=torch.float64)
    >>> s.neurons
    tensor([[ 0,  1],
            [ 1, -1]])
    """
    trains = list(trains)
    if not trains:
        raise ValueError("trains is empty: pass at least one SpikeTrains")
    for b, t in enumerate(trains):
        if not isinstance(t, SpikeTrains):
            raise TypeError(f"trains[{b}] must be an eventsnn.SpikeTrains, got {type(t).__name__}")
    n_neurons = trains[0].n_neurons
    for b, t in enumerate(trains):
        if t.n_neurons != n_neurons:
            raise ValueError(f"trains[{b}] has n_neurons={t.n_neurons}, trains[0] has {n_neurons}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch dtype, got {dtype!r}")
    times, neurons = padded_arrays([t.times for t in trains], [t.neurons for t in trains])
    return PaddedSpikes(torch.from_numpy(times).to(dtype), torch.from_numpy(neurons), n_neurons, trains)


def _trains_of_row(times: torch.Tensor, neurons: torch.Tensor, n_neurons: int,
                   where: str) -> tuple[SpikeTrains, np.ndarray]:
    return trains_of_row(_numpy(times), neurons.detach().cpu().numpy(), n_neurons, where)


def _check_padded(name: str, times: torch.Tensor, neurons: torch.Tensor) -> None:
    if not isinstance(times, torch.Tensor) or not times.is_floating_point():
        raise TypeError(f"{name} times must be a floating torch tensor (ms), got "
                        f"{getattr(times, 'dtype', type(times).__name__)}")
    if not isinstance(neurons, torch.Tensor) or neurons.is_floating_point() or neurons.is_complex() \
            or neurons.dtype == torch.bool:
        raise TypeError(f"{name} neurons must be an integer torch tensor, got "
                        f"{getattr(neurons, 'dtype', type(neurons).__name__)}")
    if times.ndim != 2 or neurons.shape != times.shape:
        raise ValueError(f"{name} times and neurons must both have shape (batch, n_slots), got "
                         f"{tuple(times.shape)} and {tuple(neurons.shape)}")
    if times.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one sample, got batch size 0")
    if times.device.type != "cpu" or neurons.device.type != "cpu":
        raise ValueError(f"{name} must be CPU tensors (the engine runs on the CPU), got {times.device} and "
                         f"{neurons.device}; move them with .cpu()")


@dataclass
class SimulationSetup:
    """What one call of :class:`SimulateFunction` needs besides the differentiated tensors.

    Attributes
    ----------
    net : Network
        Structure and neuron parameters; its weights, biases and delays are replaced by the tensors passed to
        the Function (it is not modified).
    t_max : float
        Simulation window (ms).
    n_threads : int or None
        Threads over samples (None: all cores).
    max_spikes_per_neuron : int
        Cap on spikes per neuron and sample (:func:`eventsnn.simulate`).
    input_trains : list of SpikeTrains, optional
        The inputs as SpikeTrains in slot order, if the caller has them (skips a conversion).
    records : list of Record
        Filled by the forward pass: one :class:`eventsnn.Record` per sample.
    """

    net: Network
    t_max: float
    n_threads: int | None = None
    max_spikes_per_neuron: int = DEFAULT_MAX_SPIKES_PER_NEURON
    input_trains: list | None = None
    records: list = dataclasses.field(default_factory=list)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """The tensor as a float64 C-ordered array (0-d stays 0-d), without a copy when it already is one. Converted in
    torch first: NumPy has no bfloat16."""
    return np.asarray(tensor.detach().cpu().to(torch.float64).numpy(), order="C")


def _checked_parameters(net: Network, params: Sequence[torch.Tensor]) -> tuple[list, list, list]:
    for k, p in enumerate(params):
        if not isinstance(p, torch.Tensor) or not p.is_floating_point() or p.device.type != "cpu":
            raise TypeError(f"parameter tensor {k} must be a floating CPU tensor, got "
                            f"{getattr(p, 'dtype', type(p).__name__)}")
    return checked_parameters(net, [_numpy(p) for p in params])


class SimulateFunction(torch.autograd.Function):
    """``torch.autograd.Function`` around :func:`eventsnn.simulate` (forward) and :func:`eventsnn.vjp` (backward).

    ``SimulateFunction.apply(setup, input_times, input_neurons, *weights, *biases, *delays)``, with ``setup`` a
    :class:`SimulationSetup`, returns, for every
    non-input population in ``net.layer_names`` order, its padded ``times`` and ``neurons`` (flattened:
    ``times_1, neurons_1, times_2, ...``). ``weights`` are one tensor per connection (shape (n_pre, n_post)),
    ``biases`` one scalar tensor per population, ``delays`` one tensor per connection (scalar, or (n_pre,
    n_post) for per-synapse delays; ms); all on the CPU. :class:`SpikingNetwork` builds ``setup`` and unpacks the
    outputs; the Function is public for users who keep the parameters elsewhere.
    """

    @staticmethod
    def forward(ctx, setup: SimulationSetup, input_times: torch.Tensor, input_neurons: torch.Tensor, *params):
        _check_padded("inputs", input_times, input_neurons)
        n_layers = len(setup.net.layer_names)
        net = network_with(setup.net, *_checked_parameters(setup.net, params))
        n_inputs = net.populations[net.input_names[0]].size
        if setup.input_trains is not None:
            rows = [(trains, np.arange(len(trains))) for trains in setup.input_trains]
        else:
            rows = [_trains_of_row(input_times[b], input_neurons[b], n_inputs, f"inputs[{b}]")
                    for b in range(input_times.shape[0])]
        records = simulate(net, [r[0] for r in rows], setup.t_max, n_threads=setup.n_threads,
                           max_spikes_per_neuron=setup.max_spikes_per_neuron, progress=False)
        setup.records[:] = records
        ctx.setup, ctx.records, ctx.input_slots = setup, records, [r[1] for r in rows]
        ctx.input_shape, ctx.param_dtypes = tuple(input_times.shape), [(p.dtype, p.shape) for p in params]
        outputs = []
        for k in range(n_layers):
            times, neurons = padded_arrays([r.layers[k].times for r in records], [r.layers[k].neurons for r in records])
            outputs += [torch.from_numpy(times).to(input_times.dtype), torch.from_numpy(neurons)]
        ctx.mark_non_differentiable(*outputs[1::2])
        ctx.input_dtype = input_times.dtype
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        grads = [None if g is None else _numpy(g) for g in grad_outputs[0::2]]
        slots = ctx.input_slots if ctx.needs_input_grad[1] else None
        total, d_inputs = backward(ctx.records, grads, slots, ctx.input_shape, ctx.setup.n_threads)
        values = list(total.weights) + list(total.biases) + list(total.delays)
        d_params = [torch.as_tensor(np.asarray(v, dtype=np.float64)).to(dtype).reshape(shape)
                    for v, (dtype, shape) in zip(values, ctx.param_dtypes)]
        d_inputs = None if d_inputs is None else torch.from_numpy(d_inputs).to(ctx.input_dtype)
        return (None, d_inputs, None, *d_params)


class SpikingNetwork(nn.Module):
    """An :class:`eventsnn.Network` as a torch module with exact gradients.

    Parameters
    ----------
    net : Network
        Structure, neuron parameters and initial weights, biases and delays (copied). It must have exactly one
        input population (the tensor form carries one population).
    t_max : float
        Simulation window (ms), > 0.
    n_threads : int, optional
        Threads over samples for the forward and backward passes (default: all cores); results do not depend on
        it.
    max_spikes_per_neuron : int
        Cap on spikes per neuron and sample (:func:`eventsnn.simulate`).

    Attributes
    ----------
    weights : nn.ParameterList
        One float64 (n_pre, n_post) matrix per connection (``net.connections`` order).
    biases : nn.ParameterList
        One float64 scalar per non-input population (``net.layer_names`` order): the constant drive of eq. 1.
    delays : nn.ParameterList
        One per connection (ms): a scalar, or (n_pre, n_post) for per-synapse delays. Keep them >= 0 (a negative
        delay raises ValueError at the next forward pass).
    records : list of Record
        The :class:`eventsnn.Record` of every sample of the last forward pass (spikes, membrane potentials).

    Examples
    --------
    >>> import numpy as np, torch, eventsnn as es
    >>> from eventsnn.torch import SpikingNetwork
    >>> net = es.Network.feedforward([2, 3], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0), weights=[np.full((2, 3), 3.0)])
    >>> model = SpikingNetwork(net, t_max=30.0, n_threads=1)
    >>> times = torch.tensor([[1.0, 2.0], [0.5, float("inf")]], dtype=torch.float64, requires_grad=True)
    >>> neurons = torch.tensor([[0, 1], [1, -1]])
    >>> (hidden,) = model(times, neurons)
    >>> hidden.first_spike_times().shape
    torch.Size([2, 3])
    >>> hidden.first_spike_times().sum().backward()
    >>> bool((model.weights[0].grad < 0).all())   # stronger weights, earlier spikes
    True
    """

    def __init__(self, net: Network, t_max: float, *, n_threads: int | None = None,
                 max_spikes_per_neuron: int = DEFAULT_MAX_SPIKES_PER_NEURON) -> None:
        super().__init__()
        if not isinstance(net, Network):
            raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
        net.validate_for_simulation()
        if len(net.input_names) != 1:
            raise ValueError(f"SpikingNetwork needs a network with one input population, got {net.input_names}")
        self.t_max = check.positive_finite("t_max", t_max)
        if n_threads is not None:
            check.integer("n_threads", n_threads, minimum=1)
        self.max_spikes_per_neuron = check.integer("max_spikes_per_neuron", max_spikes_per_neuron, minimum=1)
        self.n_threads = n_threads
        self.net = net.copy()
        self.weights = nn.ParameterList([nn.Parameter(torch.from_numpy(c.weights.copy())) for c in net.connections])
        self.biases = nn.ParameterList([nn.Parameter(torch.tensor(float(net.populations[n].neuron.bias),
                                                                  dtype=torch.float64)) for n in net.layer_names])
        self.delays = nn.ParameterList([nn.Parameter(torch.as_tensor(np.array(c.delays, dtype=np.float64)))
                                        for c in net.connections])
        self.records: list[Record] = []

    @property
    def n_inputs(self) -> int:
        return self.net.populations[self.net.input_names[0]].size

    def forward(self, times: torch.Tensor | PaddedSpikes, neurons: torch.Tensor | None = None) -> list[PaddedSpikes]:
        """Simulate a batch exactly.

        Parameters
        ----------
        times : Tensor of shape (batch, n_slots), or PaddedSpikes
            Input spike times (ms) in the padded form (module docstring), any floating dtype; or a
            :class:`PaddedSpikes` (then ``neurons`` is omitted).
        neurons : Tensor of int, shape (batch, n_slots)
            Input neuron of each slot (ignored where the time is ``+inf``).

        Returns
        -------
        list of PaddedSpikes
            One per non-input population (``net.layer_names`` order), times in the dtype of the input times.
        """
        if isinstance(times, PaddedSpikes):
            if neurons is not None:
                raise TypeError("pass either a PaddedSpikes or the tensors times and neurons, not both")
            if times.n_neurons != self.n_inputs:
                raise ValueError(f"the inputs have n_neurons={times.n_neurons} but the network has {self.n_inputs} "
                                 f"input neurons")
            trains, times, neurons = times.cached_trains(), times.times, times.neurons
        else:
            trains = None
        _check_padded("inputs", times, neurons)
        for name, p in self.named_parameters():
            if p.device.type != "cpu":
                raise ValueError(f"parameter {name} is on {p.device}; the engine runs on the CPU: keep the module "
                                 f"there (model.cpu())")
        if trains is not None and (len(trains) != times.shape[0]
                                   or any(t.n_neurons != self.n_inputs for t in trains)):
            raise ValueError(f"the inputs' trains must hold {times.shape[0]} SpikeTrains of {self.n_inputs} neurons, "
                             f"one per row of times")
        setup = SimulationSetup(self.net, self.t_max, self.n_threads, self.max_spikes_per_neuron, trains)
        outputs = SimulateFunction.apply(setup, times, neurons, *self.weights, *self.biases, *self.delays)
        self.records = setup.records
        sizes = [self.net.populations[n].size for n in self.net.layer_names]
        return [PaddedSpikes(outputs[2 * k], outputs[2 * k + 1], size, [r.layers[k] for r in self.records])
                for k, size in enumerate(sizes)]

    def extra_repr(self) -> str:
        populations = ", ".join(f"{p.name} {p.size}" for p in self.net.populations.values())
        return f"{populations}; t_max={self.t_max} ms"

    def to_network(self) -> Network:
        """The network with the module's current weights, biases and delays (an independent copy)."""
        return network_with(self.net, [_numpy(w) for w in self.weights], [float(b.detach()) for b in self.biases],
                             [_numpy(d) for d in self.delays]).copy()


@dataclass
class _ReadoutSetup:
    neuron: LIF
    t_max: float
    trains: list            # SpikeTrains of the driving layer, one per sample
    slots: list             # slot of each spike of trains[b] in the padded row b


class ReadoutMaxFunction(torch.autograd.Function):
    """``torch.autograd.Function`` for the potential maxima of a leaky-integrator read-out
    (:class:`eventsnn.readout.LIReadout`): forward ``(setup, times, weights) -> v_max`` of shape (batch,
    n_classes); backward pulls dL/dv_max back to the driving spike times and the read-out weights, exactly as
    :func:`eventsnn.losses.vmax_cross_entropy` does. Use :class:`LIReadoutLayer`."""

    @staticmethod
    def forward(ctx, setup: _ReadoutSetup, times: torch.Tensor, weights: torch.Tensor):
        readout = LIReadout(_numpy(weights), setup.neuron)
        maxima = [readout.maxima(trains, setup.t_max) for trains in setup.trains]
        ctx.setup, ctx.readout, ctx.maxima = setup, readout, maxima
        ctx.times_shape, ctx.times_dtype, ctx.weights_dtype = tuple(times.shape), times.dtype, weights.dtype
        return torch.from_numpy(np.stack([m.values for m in maxima])).to(weights.dtype)

    @staticmethod
    def backward(ctx, grad_values):
        g = _numpy(grad_values)
        setup, readout = ctx.setup, ctx.readout
        d_times = np.zeros(ctx.times_shape)
        d_weights = np.zeros_like(readout.weights)
        for b, (trains, maxima) in enumerate(zip(setup.trains, ctx.maxima)):
            time_cot, weight_grad = readout.backward(trains, maxima, g[b])
            d_times[b, setup.slots[b]] = time_cot
            d_weights += weight_grad   # sample order: deterministic
        return None, torch.from_numpy(d_times).to(ctx.times_dtype), torch.from_numpy(d_weights).to(ctx.weights_dtype)


class LIReadoutLayer(nn.Module):
    """Non-spiking leaky-integrator read-out whose outputs are the potential maxima (EventProp's MNIST read-out,
    :class:`eventsnn.readout.LIReadout`), differentiable with respect to its weights and the driving spike times.

    Parameters
    ----------
    weights : array_like, shape (n_inputs, n_classes)
        Initial read-out weights (copied into the float64 ``nn.Parameter`` ``weight``).
    neuron : LIF
        Time constants (ms) and bias of the read-out neurons.
    t_max : float
        Window (ms) over which maxima are taken, > 0.

    Examples
    --------
    >>> import numpy as np, torch, eventsnn as es
    >>> from eventsnn.torch import LIReadoutLayer, pad_spikes
    >>> layer = LIReadoutLayer(np.array([[1.0, -1.0]]), es.LIF(tau_mem=10.0, tau_syn=5.0), t_max=50.0)
    >>> logits = layer(pad_spikes([es.SpikeTrains([1.0], [0], 1)]))
    >>> logits.detach().numpy().round(4).tolist()
    [[0.25, 0.0]]
    """

    def __init__(self, weights: np.ndarray, neuron: LIF, t_max: float) -> None:
        super().__init__()
        readout = LIReadout(weights, neuron)   # validates shape and neuron
        self.neuron = neuron
        self.t_max = check.positive_finite("t_max", t_max)
        self.weight = nn.Parameter(torch.from_numpy(readout.weights.copy()))

    def forward(self, spikes: PaddedSpikes) -> torch.Tensor:
        """Potential maxima, shape (batch, n_classes), in the dtype of ``weight``: the class logits."""
        if not isinstance(spikes, PaddedSpikes):
            raise TypeError(f"spikes must be an eventsnn.torch.PaddedSpikes, got {type(spikes).__name__}")
        n_inputs = self.weight.shape[0]
        if spikes.n_neurons != n_inputs:
            raise ValueError(f"the read-out has {n_inputs} inputs but the spikes come from {spikes.n_neurons} neurons")
        if spikes.cached_trains() is not None:   # produced by SpikingNetwork: spikes already in slot order
            trains = spikes.cached_trains()
            slots = [np.arange(len(t)) for t in trains]
        else:
            _check_padded("spikes", spikes.times, spikes.neurons)
            rows = [_trains_of_row(spikes.times[b], spikes.neurons[b], n_inputs, f"spikes[{b}]")
                    for b in range(spikes.times.shape[0])]
            trains, slots = [r[0] for r in rows], [r[1] for r in rows]
        return ReadoutMaxFunction.apply(_ReadoutSetup(self.neuron, self.t_max, trains, slots), spikes.times,
                                        self.weight)
