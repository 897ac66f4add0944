"""eventsnn.jax: jax.grad through make_simulate equals central finite differences (float64) and eventsnn.vjp.

Networks and perturbations are chosen so that no spike appears or disappears within the finite-difference step.
"""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eventsnn as es
from bridge_networks import feedforward_net
from bridge_networks import recurrent_net as _recurrent_net
from eventsnn.jax import Params, first_spike_times, init_params, make_simulate

jax.config.update("jax_enable_x64", True)

TIMES = np.array([[1.0, 2.0, 3.5, 4.0, np.inf], [2.5, np.inf, 0.5, 3.0, 1.2]])
NEURONS = np.array([[0, 1, 2, 3, -1], [1, -1, 0, 2, 1]])


def recurrent_net(rng) -> es.Network:
    return _recurrent_net(rng, n_inputs=4)


def smooth_loss(run, sizes):
    """A loss that looks at every spike of every layer (through sin) and at first spike times (squared)."""
    def loss(params, times):
        total = 0.0
        for (t, n), size in zip(run(params, times, jnp.asarray(NEURONS)), sizes):
            total += jnp.sum(jnp.where(jnp.isinf(t), 0.0, jnp.sin(t)))
            first = first_spike_times(t, n, size)
            total += 0.01 * jnp.sum(jnp.where(jnp.isinf(first), 0.0, first) ** 2)
        return total
    return loss


@pytest.mark.parametrize("make_net", [feedforward_net, recurrent_net])
def test_grad_equals_central_differences(make_net):
    net = make_net(np.random.default_rng(3))
    sizes = [net.populations[n].size for n in net.layer_names]
    run = make_simulate(net, 40.0, 30, n_threads=1)
    loss = jax.jit(smooth_loss(run, sizes))
    params, times = init_params(net), jnp.asarray(TIMES)
    records = es.simulate(net, [es.SpikeTrains(t[np.isfinite(t)], n[np.isfinite(t)], 4, sort=True)
                                for t, n in zip(TIMES, NEURONS)], 40.0)
    assert all(len(r.layers[-1]) > 0 for r in records)
    g_params, g_times = jax.grad(loss, argnums=(0, 1))(params, times)
    eps = 1e-6
    leaves, treedef = jax.tree_util.tree_flatten(params)
    grads = jax.tree_util.tree_leaves(g_params)
    checked = 0
    for index, (leaf, grad) in enumerate(zip(leaves, grads)):
        for position in np.ndindex(leaf.shape):
            def shifted(step, index=index, position=position):
                moved = list(leaves)
                moved[index] = leaf.at[position].add(step)
                return loss(jax.tree_util.tree_unflatten(treedef, moved), times)
            numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
            assert float(grad[position]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-6)
            checked += 1
    for b, s in zip(*np.nonzero(np.isfinite(TIMES))):
        numeric = (loss(params, times.at[b, s].add(eps)) - loss(params, times.at[b, s].add(-eps))) / (2 * eps)
        assert float(g_times[b, s]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-6)
        checked += 1
    assert checked > 40
    assert (np.asarray(g_times)[~np.isfinite(TIMES)] == 0.0).all()


def test_forward_equals_simulate_and_jit_equals_eager():
    net = feedforward_net(np.random.default_rng(4))
    run = make_simulate(net, 40.0, [20, 20], n_threads=2)
    outputs = run(init_params(net), jnp.asarray(TIMES), jnp.asarray(NEURONS))
    jitted = jax.jit(run)(init_params(net), jnp.asarray(TIMES), jnp.asarray(NEURONS))
    for b, (t, n) in enumerate(zip(TIMES, NEURONS)):
        rec = es.simulate(net, es.SpikeTrains(t[np.isfinite(t)], n[np.isfinite(t)], 4, sort=True), 40.0)
        for k, layer in enumerate(rec.layers):
            m = len(layer)
            assert np.array_equal(np.asarray(outputs[k][0][b, :m]), layer.times)
            assert np.array_equal(np.asarray(outputs[k][1][b, :m]), layer.neurons)
            assert np.isinf(np.asarray(outputs[k][0][b, m:])).all() and (np.asarray(outputs[k][1][b, m:]) == -1).all()
            assert np.array_equal(np.asarray(jitted[k][0]), np.asarray(outputs[k][0]))


def test_weight_gradient_equals_vjp():
    net = feedforward_net(np.random.default_rng(5))
    run = make_simulate(net, 40.0, 20, n_threads=1)

    def loss(params):
        (t0, _), (t1, _) = run(params, jnp.asarray(TIMES), jnp.asarray(NEURONS))
        return jnp.sum(jnp.where(jnp.isinf(t1), 0.0, t1)) + jnp.sum(jnp.where(jnp.isinf(t0), 0.0, 0.5 * t0))

    g = jax.grad(loss)(init_params(net))
    trains = [es.SpikeTrains(t[np.isfinite(t)], n[np.isfinite(t)], 4, sort=True) for t, n in zip(TIMES, NEURONS)]
    records = es.simulate(net, trains, 40.0)
    expected = es.vjp(net, records, [[np.full(len(r.layers[0]), 0.5), np.ones(len(r.layers[1]))] for r in records])
    for k in range(2):
        np.testing.assert_allclose(np.asarray(g.weights[k]), expected.weights[k], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(g.biases), expected.biases, rtol=1e-12)


def test_errors():
    net = feedforward_net(np.random.default_rng(6))
    run = make_simulate(net, 40.0, 2, n_threads=1)
    params, times, neurons = init_params(net), jnp.asarray(TIMES), jnp.asarray(NEURONS)
    # found on the host, after the simulation: a JaxRuntimeError carrying eventsnn's message
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"14 spikes in population 'layer1' but max_spikes\[0\] = 2"):
        run(params, times, neurons)
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"max_spikes\[0\] = 2; raise max_spikes"):
        jax.jit(run)(params, times, neurons)
    run = make_simulate(net, 40.0, 30, n_threads=1)
    with pytest.raises(ValueError, match=r"inputs\[1\]: spike times must be >= 0 ms"):
        run(params, times.at[1, 0].set(-1.0), neurons)
    with pytest.raises(ValueError, match="neuron index 7"):
        run(params, times, neurons.at[0, 0].set(7))
    with pytest.raises(TypeError, match="floating"):
        run(params, neurons, neurons)
    with pytest.raises(TypeError, match="integer"):
        run(params, times, times)
    with pytest.raises(ValueError, match="shape"):
        run(params, times[:, :2], neurons)
    with pytest.raises(ValueError, match=r"params.weights\[1\] must have shape \(5, 3\)"):
        run(params._replace(weights=(params.weights[0], jnp.ones((3, 5)))), times, neurons)
    with pytest.raises(jax.errors.JaxRuntimeError, match=re.escape("weights[0] is not finite (at index (1, 2))")):
        run(params._replace(weights=(params.weights[0].at[1, 2].set(jnp.nan), params.weights[1])), times, neurons)
    with pytest.raises(TypeError, match="Params"):
        run({"weights": params.weights}, times, neurons)
    with pytest.raises(ValueError, match="one int or 2"):
        make_simulate(net, 40.0, [3, 3, 3])
    with pytest.raises(ValueError, match="t_max"):
        make_simulate(net, 0.0, 3)
    two_inputs = recurrent_net(np.random.default_rng(0))
    two_inputs.add_input("second", 2)
    two_inputs.connect("second", "out", np.ones((2, 2)))
    with pytest.raises(ValueError, match="one input population"):
        make_simulate(two_inputs, 40.0, 3)
    assert isinstance(init_params(net), Params)


def test_docs_example_runs():
    """The example of docs/jax.md, executed as written."""
    page = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "jax.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert blocks
    exec(compile(blocks[0], "docs/jax.md", "exec"), {})


def test_float32_boundary():
    """Without x64, JAX's float32 at the boundary: outputs and gradients in float32, the engine in float64."""
    net = feedforward_net(np.random.default_rng(11))
    with jax.enable_x64(False):
        run = make_simulate(net, 40.0, 30, n_threads=1)
        params = init_params(net)
        times = jnp.asarray(TIMES, dtype=jnp.float32)

        def loss(params, times):
            (t, n), = run(params, times, jnp.asarray(NEURONS, dtype=jnp.int32))[1:]
            return jnp.sum(jnp.where(jnp.isinf(t), 0.0, t))

        g, g_times = jax.grad(loss, argnums=(0, 1))(params, times)
        assert params.weights[0].dtype == g.weights[0].dtype == g_times.dtype == jnp.float32
    run = make_simulate(net, 40.0, 30, n_threads=1)

    def loss64(params):
        t = run(params, jnp.asarray(TIMES), jnp.asarray(NEURONS))[1][0]
        return jnp.sum(jnp.where(jnp.isinf(t), 0.0, t))

    g64 = jax.grad(loss64)(init_params(net))
    np.testing.assert_allclose(np.asarray(g.weights[1]), np.asarray(g64.weights[1]), rtol=1e-4, atol=1e-5)


def test_first_spike_times_equals_a_plain_loop_and_its_gradient_picks_the_first_spike():
    rng = np.random.default_rng(11)
    times = np.where(rng.random((5, 12)) < 0.8, np.round(rng.random((5, 12)) * 8, 1), np.inf)  # rounding: ties
    neurons = np.where(np.isfinite(times), rng.integers(0, 6, (5, 12)), -1)
    expected = np.full((5, 6), np.inf)
    for b, s in zip(*np.nonzero(neurons >= 0)):
        expected[b, neurons[b, s]] = min(expected[b, neurons[b, s]], times[b, s])
    got = first_spike_times(jnp.asarray(times), jnp.asarray(neurons), 6)
    assert np.array_equal(np.asarray(got), expected)
    weights = jnp.arange(1.0, 7.0)
    grad = jax.grad(lambda t: jnp.sum(jnp.where(jnp.isinf(first := first_spike_times(t, jnp.asarray(neurons), 6)),
                                                0.0, first) * weights))(jnp.asarray(times))
    for b, s in np.ndindex(times.shape):
        n = neurons[b, s]
        firsts = (neurons[b] == n) & (times[b] == expected[b, n]) if n >= 0 else np.zeros(12, bool)
        # a neuron's weight goes to its first spike, shared equally between equal first spikes
        assert float(grad[b, s]) == (float(weights[n]) / firsts.sum() if firsts[s] else 0.0)


def test_vmap_over_parameter_sets_equals_one_call_per_set():
    net = feedforward_net(np.random.default_rng(6))
    run = make_simulate(net, 40.0, 60, n_threads=1)
    params = init_params(net)
    scales = jnp.array([0.8, 1.0, 1.3])
    stacked = Params(weights=tuple(scales[:, None, None] * w for w in params.weights),
                     biases=tuple(jnp.broadcast_to(b, (3,)) for b in params.biases),
                     delays=tuple(jnp.broadcast_to(d, (3,) + d.shape) for d in params.delays))

    def last_layer_sum(p):
        t, _ = run(p, jnp.asarray(TIMES), jnp.asarray(NEURONS))[-1]
        return jnp.sum(jnp.where(jnp.isinf(t), 0.0, t))

    mapped = jax.vmap(last_layer_sum)(stacked)
    mapped_grads = jax.vmap(jax.grad(last_layer_sum))(stacked)
    for k, scale in enumerate(scales):
        one = Params(weights=tuple(scale * w for w in params.weights), biases=params.biases, delays=params.delays)
        assert float(mapped[k]) == float(last_layer_sum(one))
        for got, expected in zip(mapped_grads.weights, jax.grad(last_layer_sum)(one).weights):
            assert np.array_equal(np.asarray(got[k]), np.asarray(expected))
