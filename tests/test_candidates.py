"""Candidates of the creation/removal methods (``candidates.layer_candidates``, a gap-by-gap sweep over all
neurons) against per-neuron replays of the exact V(t) (``forward.replay_neuron``): grid values, the current
before each spike, and the sub-threshold maxima found by dense sampling."""

import numpy as np
import pytest

import eventsnn as es
from eventsnn._kernels.candidates import layer_candidates
from eventsnn._kernels.forward import layer_forward, replay_neuron

T_MAX = 40.0
NEURONS = [es.LIF(tau_mem=10.0, tau_syn=5.0), es.LIF(tau_mem=6.0, tau_syn=6.0, refractory=2.0),
           es.LIF(tau_mem=5.0, tau_syn=10.0, bias=0.3, reset_current=True),
           es.LIF(tau_mem=7.3, tau_syn=2.5, refractory=1.5, reset_current=True)]


def _layer(rng, lif, rounded, n_arrivals=50):
    n_in, n_out = 12, 6
    weights = rng.normal(0.4, 0.9, (n_in, n_out))
    times = np.sort(rng.uniform(0.0, 45.0, n_arrivals))
    if rounded:
        times = np.round(times)  # simultaneous arrivals, arrivals on grid points and at t_max
    sources = rng.integers(0, n_in, times.size)
    params = lif.kernel_parameters()
    spike_times, spike_neurons, _ = layer_forward(times, sources, weights, params, T_MAX, 1000)
    return times, sources, weights, params, spike_times, spike_neurons


@pytest.mark.parametrize("lif", NEURONS)
@pytest.mark.parametrize("rounded", [False, True])
def test_grid_candidates_and_removal_currents_match_per_neuron_replay(lif, rounded):
    rng = np.random.default_rng(3)
    times, sources, weights, params, st, sn = _layer(rng, lif, rounded)
    grid = np.arange(1.0, T_MAX + 0.5, 1.0)
    c_t, c_n, c_rem, c_v, c_i, *_ = layer_candidates(times, sources, weights, params, T_MAX, st, sn, grid, True)
    assert np.all(np.diff(c_t) >= 0.0)  # sorted by time, as the adjoint kernel needs them
    assert np.array_equal(c_t[c_rem], st) and np.array_equal(c_n[c_rem], sn)
    for j in range(weights.shape[1]):
        own = st[sn == j]
        w_j = weights[sources, j]
        v_g, i_g = replay_neuron(times, w_j, own, params, grid)
        mine = (~c_rem) & (c_n == j)
        order = np.argsort(c_t[mine], kind="stable")
        below = v_g < lif.threshold
        assert np.array_equal(c_t[mine][order], grid[below])
        np.testing.assert_allclose(c_v[mine][order], v_g[below], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(c_i[mine][order], i_g[below], rtol=1e-10, atol=1e-12)
        if own.size:
            _, i_before = replay_neuron(times, w_j, own, params, np.nextafter(own, -np.inf))
            np.testing.assert_allclose(c_i[c_rem][sn == j], i_before, rtol=1e-9, atol=1e-12)
    assert st.size > 3


@pytest.mark.parametrize("lif", NEURONS)
def test_near_misses_are_the_sampled_sub_threshold_maxima(lif):
    rng = np.random.default_rng(11)
    found = 0
    for trial in range(5):
        times, sources, weights, params, st, sn = _layer(rng, lif, rounded=trial == 4, n_arrivals=20)
        c_t, c_n, c_rem, c_v, c_i, _, _, c_curv = layer_candidates(times, sources, weights, params, T_MAX, st, sn,
                                                                    np.zeros(0), False)
        assert np.all(np.diff(c_t) >= 0.0)
        step = 2e-3
        samples = np.arange(step, T_MAX, step)
        for j in range(weights.shape[1]):
            own = st[sn == j]
            w_j = weights[sources, j]
            mine = (~c_rem) & (c_n == j)
            t_m, v_m = c_t[mine], c_v[mine]
            assert np.all(v_m < lif.threshold) and np.all(c_curv[mine] < 0.0)
            # each reported maximum is one: V is not larger just around it
            if t_m.size:
                v_at, _ = replay_neuron(times, w_j, own, params, t_m)
                np.testing.assert_allclose(v_at, v_m, rtol=1e-10, atol=1e-12)
            # every sampled smooth interior maximum below threshold is reported
            v, _ = replay_neuron(times, w_j, own, params, samples)
            peak = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:])) + 1
            events = np.concatenate([times, own, own + lif.refractory])
            for p in peak:
                near_event = np.any(np.abs(events - samples[p]) < 2 * step)
                if near_event or v[p] > lif.threshold - 1e-6:
                    continue
                assert t_m.size and np.min(np.abs(t_m - samples[p])) < 2 * step, (j, samples[p])
                found += 1
            if t_m.size:
                v_lo = replay_neuron(times, w_j, own, params, t_m - 1e-4)[0]
                v_hi = replay_neuron(times, w_j, own, params, t_m + 1e-4)[0]
                assert np.all(v_lo <= v_m + 1e-12) and np.all(v_hi <= v_m + 1e-12)
    assert found > 10  # most maxima sit at arrivals (kinks); the smooth ones are what is checked
