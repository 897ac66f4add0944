"""Leaky-integrator read-out: exact maxima, their gradients, and the loss through the spiking layers below."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import eventsnn as es
from eventsnn.losses import spike_count_regularizer, vmax_cross_entropy
from eventsnn.readout import LIReadout, init_readout_weights
from test_losses import _record, assert_pairs_match_dense

NEURONS = [es.LIF(tau_mem=10.0, tau_syn=5.0), es.LIF(tau_mem=5.0, tau_syn=5.0), es.LIF(tau_mem=4.0, tau_syn=9.0),
           es.LIF(tau_mem=20.0, tau_syn=5.0, bias=0.3)]


def _random_case(rng, n_in=6, n_out=4, n_spikes=15, t_max=40.0):
    times = np.sort(rng.uniform(0.0, 0.8 * t_max, n_spikes))
    spikes = es.SpikeTrains(times, rng.integers(0, n_in, n_spikes), n_in)
    weights = rng.normal(0.3, 1.0, (n_in, n_out))
    return spikes, weights, t_max


def _brute_force_max(readout, spikes, t_max):
    """Dense grid, then a bounded 1-d optimiser around the best grid point of each potential."""
    grid = np.linspace(0.0, t_max, 20001)
    v = readout.potentials(spikes, grid)
    best = np.empty(readout.n_classes)
    for c in range(readout.n_classes):
        i = int(np.argmax(v[:, c]))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        res = minimize_scalar(lambda t: -readout.potentials(spikes, np.array([t]))[0, c], bounds=(lo, hi),
                              method="bounded", options={"xatol": 1e-12})
        best[c] = max(v[i, c], -res.fun)
    return best


@pytest.mark.parametrize("neuron", NEURONS, ids=lambda n: f"tm{n.tau_mem}-ts{n.tau_syn}-b{n.bias}")
def test_maxima_match_brute_force(neuron):
    rng = np.random.default_rng(1)
    for _ in range(5):
        spikes, weights, t_max = _random_case(rng)
        readout = LIReadout(weights, neuron)
        m = readout.maxima(spikes, t_max)
        brute = _brute_force_max(readout, spikes, t_max)
        # attained at t*, never below the brute-force search (which can only undershoot), and close to it
        np.testing.assert_allclose(readout.potentials(spikes, m.times)[np.arange(4), np.arange(4)], m.values,
                                   rtol=0, atol=1e-12)
        assert np.all(m.values >= brute - 1e-12)
        np.testing.assert_allclose(m.values, brute, rtol=0, atol=1e-7)


def test_maximum_at_a_kink_and_at_the_window_end():
    neuron = es.LIF(tau_mem=10.0, tau_syn=5.0)
    # class 0: excitation at 0 ms, strong inhibition at 3 ms while V still rises -> maximum at the kink (3 ms)
    # class 1: excitation only, window ends at 4 ms before the PSP peak (6.93 ms) -> maximum at t_max
    readout = LIReadout(np.array([[1.0, 1.0], [-5.0, 0.0]]), neuron)
    spikes = es.SpikeTrains([0.0, 3.0], [0, 1], 2)
    m = readout.maxima(spikes, t_max=4.0)
    assert m.times[0] == 3.0 and m.kinks[0] == 1
    assert m.times[1] == 4.0 and m.kinks[1] == -1


def _fd_check(readout, spikes, t_max, g, h=1e-6):
    m = readout.maxima(spikes, t_max)
    time_cot, weight_grad = readout.backward(spikes, m, g)

    def loss(times=spikes.times, weights=readout.weights):
        r = LIReadout(weights, readout.neuron)
        return float(g @ r.maxima(es.SpikeTrains(times, spikes.neurons, spikes.n_neurons, sort=True), t_max).values)

    for s in range(len(spikes)):
        up, down = spikes.times.copy(), spikes.times.copy()
        up[s] += h
        down[s] -= h
        fd = (loss(times=up) - loss(times=down)) / (2 * h)
        assert abs(fd - time_cot[s]) <= 1e-6 * max(1.0, abs(fd)), (s, fd, time_cot[s])
    for j in range(readout.n_inputs):
        for c in range(readout.n_classes):
            up, down = readout.weights.copy(), readout.weights.copy()
            up[j, c] += h
            down[j, c] -= h
            fd = (loss(weights=up) - loss(weights=down)) / (2 * h)
            assert abs(fd - weight_grad[j, c]) <= 1e-6 * max(1.0, abs(fd)), (j, c, fd, weight_grad[j, c])


@pytest.mark.parametrize("neuron", NEURONS, ids=lambda n: f"tm{n.tau_mem}-ts{n.tau_syn}-b{n.bias}")
def test_backward_matches_finite_differences(neuron):
    rng = np.random.default_rng(2)
    for _ in range(4):
        spikes, weights, t_max = _random_case(rng)
        _fd_check(LIReadout(weights, neuron), spikes, t_max, rng.normal(size=4))


def test_backward_at_a_kink_matches_finite_differences():
    readout = LIReadout(np.array([[1.0, 1.0], [-5.0, 0.0], [0.4, -0.3]]), es.LIF(tau_mem=10.0, tau_syn=5.0))
    spikes = es.SpikeTrains([0.5, 1.5, 3.0], [0, 2, 1], 3)
    assert readout.maxima(spikes, 40.0).kinks[0] == 2
    time_cot, _ = readout.backward(spikes, readout.maxima(spikes, 40.0), np.array([1.0, 0.0]))
    assert time_cot[2] > 0.0  # moving the inhibitory spike later lets V rise further
    _fd_check(readout, spikes, 40.0, np.array([1.0, -0.7]))


def test_creation_term_is_the_potential_of_one_added_spike():
    rng = np.random.default_rng(3)
    spikes, weights, t_max = _random_case(rng)
    readout = LIReadout(weights, es.LIF(tau_mem=10.0, tau_syn=5.0))
    m = readout.maxima(spikes, t_max)
    g = rng.normal(size=4)
    query = np.array([0.5, 7.0, 19.0, 33.0])
    term = readout.creation_term(m, g)(query)
    for q, t in enumerate(query):
        for j in range(readout.n_inputs):
            single = readout.potentials(es.SpikeTrains([t], [j], readout.n_inputs), m.times)
            expected = sum(g[c] * single[c, c] for c in range(4))
            assert term[q, j] == pytest.approx(expected, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_creation_term_per_pair_matches_the_dense_term(seed, rng):
    spikes, weights, t_max = _random_case(rng, n_in=9)
    readout = LIReadout(weights, NEURONS[seed])
    m = readout.maxima(spikes, t_max)
    g = rng.normal(size=4)
    g[1] = 0.0  # a class the kernels skip
    # times before, between and after the maxima (after every t*: no class is reached, the term is 0)
    query = np.concatenate([rng.uniform(0.0, t_max, 200), m.times, [m.times.max() + 1.0]])
    neurons = rng.integers(0, readout.n_inputs, query.size)
    term = readout.creation_term(m, g)
    dense = term(query)
    pairs = term(query, neurons)
    assert pairs.shape == (query.size,)
    np.testing.assert_allclose(pairs, dense[np.arange(query.size), neurons], rtol=0, atol=1e-12)
    assert np.count_nonzero(pairs) > query.size // 2 and pairs[-1] == 0.0
    with pytest.raises(ValueError, match="must hold"):
        term(query, neurons[:-1])
    with pytest.raises(ValueError, match="outside the valid range"):
        term(query[:2], np.array([0, readout.n_inputs]))


@pytest.mark.parametrize("seed", range(3))
def test_vmax_creation_cotangent_per_pair_matches_dense(seed, rng):
    rec = _record(rng, n_hidden=4, n_out=9)
    readout = LIReadout(rng.normal(0.0, 1.0, (9, 5)), es.LIF(tau_mem=10.0, tau_syn=5.0))
    vmax = vmax_cross_entropy(rec, readout, 3)
    sparse = spike_count_regularizer(rec, strength=0.01, layers=[-1])
    for result in (vmax, vmax + sparse, (sparse + vmax).scaled(0.5)):
        dense = assert_pairs_match_dense(result, -1, rng, t_max=rec.t_max)
        assert np.ptp(dense, axis=1).max() > 0.0
    with pytest.raises(ValueError, match="outside the valid range"):
        vmax.creation_cotangent(-1, np.array([1.0]), np.array([9]))


def test_loss_gradient_through_the_spiking_layer_matches_finite_differences():
    """vmax_cross_entropy -> vjp (timing) -> hidden weights, against central differences of the whole pipeline."""
    rng = np.random.default_rng(4)
    neuron = es.LIF(tau_mem=10.0, tau_syn=5.0)
    net = es.Network.feedforward([5, 12], neuron=neuron, weights=[rng.normal(1.2, 0.8, (5, 12))])
    readout = LIReadout(rng.normal(0.0, 1.0, (12, 3)), neuron)
    inputs = es.SpikeTrains(np.sort(rng.uniform(0, 10, 8)), rng.integers(0, 5, 8), 5)

    def loss_of(weights):
        net.set_weights([weights])
        return vmax_cross_entropy(es.simulate(net, inputs, 40.0), readout, 1)

    w0 = net.weights[0].copy()
    base = loss_of(w0)
    assert len(base.extra["v_max"]) == 3 and np.isfinite(base.value)
    rec = es.simulate(net, inputs, 40.0)
    assert 3 <= len(rec.layers[0]) and rec.layers[0].counts().max() >= 2  # multi-spike hidden layer
    grad = es.vjp(net, rec, base.cotangents).weights[0]
    h = 1e-6
    checked = 0
    for i in range(5):
        for j in range(12):
            up, down = w0.copy(), w0.copy()
            up[i, j] += h
            down[i, j] -= h
            net_up = net.__class__.feedforward([5, 12], neuron=neuron, weights=[up])
            net_down = net.__class__.feedforward([5, 12], neuron=neuron, weights=[down])
            n_up = len(es.simulate(net_up, inputs, 40.0).layers[0])
            n_down = len(es.simulate(net_down, inputs, 40.0).layers[0])
            if n_up != len(rec.layers[0]) or n_down != len(rec.layers[0]):
                continue
            fd = (loss_of(up).value - loss_of(down).value) / (2 * h)
            assert abs(fd - grad[i, j]) <= 1e-5 * max(1.0, abs(fd)), (i, j, fd, grad[i, j])
            checked += 1
    assert checked >= 30
    net.set_weights([w0])


def test_bad_input_raises():
    readout = LIReadout(np.ones((3, 2)))
    with pytest.raises(ValueError, match="3 inputs"):
        readout.maxima(es.SpikeTrains([1.0], [0], 4), 10.0)
    with pytest.raises(ValueError):
        readout.maxima(es.SpikeTrains([1.0], [0], 3), -1.0)
    with pytest.raises(ValueError):
        LIReadout(np.ones(3))
    with pytest.raises(TypeError):
        LIReadout(np.ones((3, 2)), neuron="lif")
    with pytest.raises(ValueError):
        init_readout_weights(3, 2, np.random.default_rng(0), expected_spikes=0.0, neuron=es.LIF())
