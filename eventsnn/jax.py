"""JAX bridge: exact event-driven simulation as a differentiable JAX function (``jax.custom_vjp``).

:func:`make_simulate` returns ``run(params, times, neurons)``: the forward pass calls :func:`eventsnn.simulate`
on the host through ``jax.pure_callback`` (one sample per thread of the library's pool); the backward pass calls
:func:`eventsnn.vjp`, the exact adjoint, the same way. ``jax.grad``, ``jax.jit`` and optax work on it; the
gradient reaches the weights, the biases, the delays (:class:`Params`) and the input spike times. As every exact
spike-time gradient, it sees the spikes that exist, not spikes a perturbation would create or remove.

Tensor form (the same as :mod:`eventsnn.torch`, docs/jax.md): a batch of spike trains is ``times`` (batch,
n_slots), ms, ``+inf`` in padded slots, and ``neurons`` (batch, n_slots), ``-1`` in padded slots. Inputs may
list their spikes in any order. JAX needs output shapes before it runs the callback, so each layer's output
has a fixed number of slots, ``max_spikes[k]`` per sample, filled in time order then padded; a sample with
more spikes raises ValueError (raise ``max_spikes``). :func:`first_spike_times` gives the (batch, n_neurons)
first-spike form.

Precision: the engine computes in float64. Output times take the dtype of the input times; float64 needs
``jax.config.update("jax_enable_x64", True)``, without which JAX works in float32 at the boundary.
The backward pass simulates the batch once more (bit-identical to the forward pass: the engine is
deterministic) instead of keeping Python objects alive between the two passes.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from eventsnn import _validation as check
from eventsnn._padded import backward, checked_parameters, network_with, padded_arrays, trains_of_row
from eventsnn.network import Network
from eventsnn.simulate import DEFAULT_MAX_SPIKES_PER_NEURON, simulate

__all__ = ["Params", "first_spike_times", "init_params", "make_simulate"]


class Params(NamedTuple):
    """The differentiable parameters of a network (a JAX pytree).

    Attributes
    ----------
    weights : tuple of arrays
        One (n_pre, n_post) matrix per connection (``net.connections`` order).
    biases : tuple of arrays
        One scalar per non-input population (``net.layer_names`` order).
    delays : tuple of arrays
        One per connection (ms): a scalar, or (n_pre, n_post) for per-synapse delays; keep them >= 0.
    """

    weights: tuple
    biases: tuple
    delays: tuple


def init_params(net: Network) -> Params:
    """The network's weights, biases and delays as JAX arrays (float64 if ``jax_enable_x64`` is on).

    Examples
    --------
    >>> import numpy as np, eventsnn as es
    >>> from eventsnn.jax import init_params
    >>> net = es.Network.feedforward([2, 3], neuron=es.LIF(), weights=[np.ones((2, 3))])
    >>> [w.shape for w in init_params(net).weights]
    [(2, 3)]
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
    return Params(weights=tuple(jnp.asarray(c.weights) for c in net.connections),
                  biases=tuple(jnp.asarray(float(net.populations[n].neuron.bias)) for n in net.layer_names),
                  delays=tuple(jnp.asarray(np.asarray(c.delays, dtype=np.float64)) for c in net.connections))


def first_spike_times(times: jax.Array, neurons: jax.Array, n_neurons: int) -> jax.Array:
    """First spike time (ms) of every neuron, shape (batch, n_neurons), ``+inf`` for a silent neuron.

    Differentiable: each entry's gradient flows to that neuron's first spike.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from eventsnn.jax import first_spike_times
    >>> first_spike_times(jnp.array([[1.0, 2.0, jnp.inf]]), jnp.array([[2, 0, -1]]), 3).tolist()
    [[2.0, inf, 1.0]]
    """
    n_neurons = check.integer("n_neurons", n_neurons, minimum=1)
    times, neurons = jnp.asarray(times), jnp.asarray(neurons)
    rows = jnp.broadcast_to(jnp.arange(times.shape[0])[:, None], times.shape)
    columns = jnp.where(neurons >= 0, neurons, n_neurons)  # padded slots (-1) fall outside and are dropped
    # a scatter-min: memory (batch, n_neurons), not (batch, n_slots, n_neurons); equal first spikes share the gradient
    return jnp.full((times.shape[0], n_neurons), jnp.inf, dtype=times.dtype).at[rows, columns].min(times, mode="drop")


def make_simulate(net: Network, t_max: float, max_spikes: int | Sequence[int], *, n_threads: int | None = None,
                  max_spikes_per_neuron: int = DEFAULT_MAX_SPIKES_PER_NEURON) -> Callable:
    """A differentiable JAX function that simulates ``net`` exactly.

    Parameters
    ----------
    net : Network
        Structure and neuron parameters (copied); it must have one input population. Its weights, biases and
        delays are only the defaults of :func:`init_params`: ``run`` takes them from ``params``.
    t_max : float
        Simulation window (ms), > 0.
    max_spikes : int or sequence of int
        Output slots per sample of each non-input population (one int for all).
    n_threads : int, optional
        Threads over samples (default: all cores); results do not depend on it.
    max_spikes_per_neuron : int
        Cap on spikes per neuron and sample (:func:`eventsnn.simulate`).

    Returns
    -------
    callable
        ``run(params: Params, times, neurons) -> tuple of (times, neurons)``, one pair per non-input population
        (``net.layer_names`` order), of shape (batch, max_spikes[k]). ``times``: input spike times (batch,
        n_slots), ms, ``+inf`` padded, any float dtype; ``neurons``: integer array of the same shape.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np, eventsnn as es
    >>> from eventsnn.jax import first_spike_times, init_params, make_simulate
    >>> net = es.Network.feedforward([2, 3], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0), weights=[np.full((2, 3), 3.0)])
    >>> run = make_simulate(net, t_max=30.0, max_spikes=4, n_threads=1)
    >>> def loss(params, times, neurons):
    ...     (out_times, out_neurons), = run(params, times, neurons)
    ...     return first_spike_times(out_times, out_neurons, 3).sum()
    >>> grads = jax.grad(loss)(init_params(net), jnp.array([[1.0, 2.0]]), jnp.array([[0, 1]]))
    >>> bool((grads.weights[0] < 0).all())   # stronger weights, earlier spikes
    True
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
    net.validate_for_simulation()
    if len(net.input_names) != 1:
        raise ValueError(f"make_simulate needs a network with one input population, got {net.input_names}")
    t_max = check.positive_finite("t_max", t_max)
    n_layers = len(net.layer_names)
    slots = list(max_spikes) if isinstance(max_spikes, (list, tuple, np.ndarray)) else [max_spikes] * n_layers
    if len(slots) != n_layers:
        raise ValueError(f"max_spikes must be one int or {n_layers} of them (one per population "
                         f"{net.layer_names}), got {len(slots)}")
    slots = [check.integer(f"max_spikes[{k}]", s, minimum=1) for k, s in enumerate(slots)]
    if n_threads is not None:
        check.integer("n_threads", n_threads, minimum=1)
    cap = check.integer("max_spikes_per_neuron", max_spikes_per_neuron, minimum=1)
    template = net.copy()
    n_inputs = template.populations[template.input_names[0]].size
    reference = init_params(template)

    def records_of(leaves, times, neurons):
        """Host side: the records of a batch and the slot of every input spike."""
        weights, biases, delays = checked_parameters(template, [np.asarray(v, dtype=np.float64) for v in leaves])
        rows = [trains_of_row(times[b], neurons[b], n_inputs, f"inputs[{b}]") for b in range(times.shape[0])]
        records = simulate(network_with(template, weights, biases, delays), [r[0] for r in rows], t_max,
                           n_threads=n_threads, max_spikes_per_neuron=cap, progress=False)
        return records, [r[1] for r in rows]

    def host_forward(times_dtype, *args):
        *leaves, times, neurons = args
        records, _ = records_of(leaves, times, neurons)
        out = []
        for k, name in enumerate(template.layer_names):
            counts = [len(r.layers[k]) for r in records]
            if max(counts) > slots[k]:
                b = int(np.argmax(counts))
                raise ValueError(f"sample {b} has {counts[b]} spikes in population {name!r} but max_spikes[{k}] = "
                                 f"{slots[k]}; raise max_spikes")
            t, n = padded_arrays([r.layers[k].times for r in records], [r.layers[k].neurons for r in records], slots[k])
            out += [t.astype(times_dtype), n.astype(np.int32)]
        return tuple(out)

    def host_backward(times_dtype, leaf_dtypes, *args):
        n_leaves = len(leaf_dtypes)
        leaves, (times, neurons), cotangents = args[:n_leaves], args[n_leaves:n_leaves + 2], args[n_leaves + 2:]
        records, input_slots = records_of(leaves, times, neurons)
        total, d_inputs = backward(records, [np.asarray(c, dtype=np.float64) for c in cotangents], input_slots,
                                   tuple(times.shape), n_threads)
        values = list(total.weights) + list(total.biases) + list(total.delays)
        grads = tuple(np.asarray(v, dtype=d).reshape(np.shape(leaf)) for v, d, leaf in zip(values, leaf_dtypes, leaves))
        return grads + (d_inputs.astype(times_dtype),)

    def leaves_of(params: Params) -> list:
        return [*params.weights, *params.biases, *params.delays]

    def call_forward(params, times, neurons):
        shapes = []
        for k in range(n_layers):
            shapes += [jax.ShapeDtypeStruct((times.shape[0], slots[k]), times.dtype),
                       jax.ShapeDtypeStruct((times.shape[0], slots[k]), jnp.int32)]
        # vmap_method "sequential": under jax.vmap the host runs once per mapped element (a batch of its own)
        out = jax.pure_callback(lambda *a: host_forward(times.dtype, *a), tuple(shapes), *leaves_of(params), times,
                                neurons, vmap_method="sequential")
        return tuple((out[2 * k], out[2 * k + 1]) for k in range(n_layers))

    @jax.custom_vjp
    def core(params, times, neurons):
        return call_forward(params, times, neurons)

    def core_fwd(params, times, neurons):
        return call_forward(params, times, neurons), (params, times, neurons)

    def core_bwd(residuals, output_cotangents):
        params, times, neurons = residuals
        leaves = leaves_of(params)
        dtypes = [leaf.dtype for leaf in leaves]
        shapes = tuple(jax.ShapeDtypeStruct(leaf.shape, leaf.dtype) for leaf in leaves) \
            + (jax.ShapeDtypeStruct(times.shape, times.dtype),)
        time_cotangents = [c[0] for c in output_cotangents]
        out = jax.pure_callback(lambda *a: host_backward(times.dtype, dtypes, *a), shapes, *leaves, times, neurons,
                                *time_cotangents, vmap_method="sequential")
        n_conn = len(params.weights)
        d_params = Params(weights=tuple(out[:n_conn]), biases=tuple(out[n_conn:n_conn + n_layers]),
                          delays=tuple(out[n_conn + n_layers:-1]))
        return d_params, out[-1], np.zeros(neurons.shape, dtype=jax.dtypes.float0)

    core.defvjp(core_fwd, core_bwd)

    def run(params: Params, times: jax.Array, neurons: jax.Array) -> tuple:
        _check_structure(params, reference)
        times, neurons = jnp.asarray(times), jnp.asarray(neurons)
        if not jnp.issubdtype(times.dtype, jnp.floating):
            raise TypeError(f"times must be a floating array (ms), got {times.dtype}")
        if not jnp.issubdtype(neurons.dtype, jnp.integer):
            raise TypeError(f"neurons must be an integer array, got {neurons.dtype}")
        if times.ndim != 2 or neurons.shape != times.shape:
            raise ValueError(f"times and neurons must both have shape (batch, n_slots), got {times.shape} and "
                             f"{neurons.shape}")
        if times.shape[0] < 1:
            raise ValueError("times must hold at least one sample, got batch size 0")
        if not isinstance(times, jax.core.Tracer) and not isinstance(neurons, jax.core.Tracer):
            # concrete inputs are checked here, before any work; traced ones on the host, where a ValueError
            # reaches the caller inside a JaxRuntimeError that carries its message
            host_times, host_neurons = np.asarray(times), np.asarray(neurons)
            for b in range(host_times.shape[0]):
                trains_of_row(host_times[b], host_neurons[b], n_inputs, f"inputs[{b}]")
        return core(params, times, neurons)

    return run


def _check_structure(params: Params, reference: Params) -> None:
    if not isinstance(params, Params):
        raise TypeError(f"params must be an eventsnn.jax.Params (see init_params), got {type(params).__name__}")
    for field in Params._fields:
        given, expected = getattr(params, field), getattr(reference, field)
        if len(given) != len(expected):
            raise ValueError(f"params.{field} must hold {len(expected)} arrays, got {len(given)}")
        for k, (g, e) in enumerate(zip(given, expected)):
            if jnp.shape(g) != e.shape:
                raise ValueError(f"params.{field}[{k}] must have shape {e.shape}, got {jnp.shape(g)}")
