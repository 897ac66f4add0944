"""The two exact adjoint kernels of a dense layer agree: per-neuron sweep vs gap-by-gap vectorised sweep.

``backward.layer_backward`` walks each neuron's events separately; ``backward_dense.layer_backward_gaps`` (used
by ``vjp``) walks the shared arrival clock once for all neurons. They share only the transposed propagator, so
agreement on random layers with every LIF variant (bias, refractory, reset_current, each tau ratio, tied
arrival times) is a check of the event placement and tie rules of the fast kernel.
"""

import numpy as np
import pytest

import eventsnn as es
from eventsnn._kernels.backward import layer_backward, scatter_rows
from eventsnn._kernels.backward_dense import layer_backward_gaps
from eventsnn._kernels.forward import layer_forward

T_MAX = 50.0


@pytest.mark.parametrize("seed", range(12))
def test_gap_kernel_equals_per_neuron_kernel(seed):
    rng = np.random.default_rng(seed)
    n_compared = 0
    for trial in range(25):
        tau_mem, tau_syn = [(10.0, 5.0), (5.0, 10.0), (7.0, 7.0), (7.3, 2.5), (2.5, 7.3)][trial % 5]
        lif = es.LIF(tau_mem=tau_mem, tau_syn=tau_syn, bias=float(rng.choice([0.0, 0.3, 1.2])),
                     refractory=float(rng.choice([0.0, 2.0])), reset_current=bool(rng.integers(2)))
        params = lif.kernel_parameters()
        n_in, n_out = int(rng.integers(1, 20)), int(rng.integers(1, 15))
        weights = rng.normal(0.5, 1.0, (n_in, n_out)) * rng.choice([1.0, 3.0])
        n = int(rng.integers(0, 60))
        times = np.sort(rng.uniform(0.0, 55.0, n))
        if trial % 3 == 0:
            times = np.round(times)  # simultaneous arrivals, and arrivals at t_max
        sources = rng.integers(0, n_in, n)
        spike_times, spike_neurons, _ = layer_forward(times, sources, weights, params, T_MAX, 1000)
        cotangents = rng.normal(size=spike_times.size)
        ref = layer_backward(times, sources, weights, params, T_MAX, spike_times, spike_neurons, cotangents, 0.0, 1e-3)
        fast = layer_backward_gaps(times, sources, weights, params, T_MAX, spike_times, spike_neurons, cotangents,
                                   0.0, 1e-3)
        for a, b in zip(ref[:3], fast[:3]):
            a, b = np.asarray(a), np.asarray(b)
            assert a.shape == b.shape
            assert np.allclose(b, a, rtol=1e-10, atol=1e-10 * (np.abs(a).max() if a.size else 1.0)), (trial, lif)
        assert ref[3] == fast[3]
        n_compared += spike_times.size
    assert n_compared > 100  # the random layers do spike: the comparison is not vacuous


def test_min_slope_clipping_is_applied_identically():
    rng = np.random.default_rng(5)
    params = es.LIF(tau_mem=10.0, tau_syn=5.0).kernel_parameters()
    weights = rng.normal(0.6, 0.8, (10, 8))
    times = np.sort(rng.uniform(0, 30, 40))
    sources = rng.integers(0, 10, 40)
    st, sn, _ = layer_forward(times, sources, weights, params, T_MAX, 1000)
    c = rng.normal(size=st.size)
    for min_slope in (0.0, 0.05, 0.5):
        ref = layer_backward(times, sources, weights, params, T_MAX, st, sn, c, min_slope, 1e-3)
        fast = layer_backward_gaps(times, sources, weights, params, T_MAX, st, sn, c, min_slope, 1e-3)
        assert np.allclose(fast[0], ref[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_sources_gap_kernel_equals_per_neuron_sweep(seed):
    """The creation/removal methods' kernel (gap sweep with candidate sources and queries) against the plain
    per-neuron sweep of tests/sources_reference.py, with candidates at spike times, at refractory ends, inside
    refractory periods and at arrival times, queries at arrival and spike times, both reset-term choices."""
    from eventsnn._kernels.backward_dense import layer_backward_sources
    from sources_reference import layer_backward_sources_per_neuron

    rng = np.random.default_rng(100 + seed)
    n_sources = 0
    for trial in range(10):
        tau_mem, tau_syn = [(10.0, 5.0), (5.0, 10.0), (7.0, 7.0), (7.3, 2.5), (2.5, 7.3)][trial % 5]
        lif = es.LIF(tau_mem=tau_mem, tau_syn=tau_syn, bias=float(rng.choice([0.0, 0.3])),
                     refractory=float(rng.choice([0.0, 2.0])), reset_current=bool(rng.integers(2)))
        params = lif.kernel_parameters()
        n_in, n_out = int(rng.integers(1, 15)), int(rng.integers(1, 10))
        weights = rng.normal(0.5, 1.0, (n_in, n_out)) * rng.choice([1.0, 3.0])
        n = int(rng.integers(0, 40))
        times = np.sort(rng.uniform(0.0, 55.0, n))
        if trial % 3 == 0:
            times = np.round(times)
        sources = rng.integers(0, n_in, n)
        spike_times, spike_neurons, _ = layer_forward(times, sources, weights, params, T_MAX, 1000)
        cotangents = rng.normal(size=spike_times.size)
        # candidates: random times plus the awkward ones (a spike time, a refractory end, an arrival time)
        cand_t = list(rng.uniform(0.0, T_MAX, 15))
        cand_j = list(rng.integers(0, n_out, 15))
        for s in range(min(spike_times.size, 4)):
            cand_t += [spike_times[s], spike_times[s] + lif.refractory, spike_times[s] + 0.5 * lif.refractory]
            cand_j += [spike_neurons[s]] * 3
        if n:
            cand_t.append(times[0])
            cand_j.append(int(rng.integers(n_out)))
        cand_t, cand_j = np.asarray(cand_t), np.asarray(cand_j, dtype=np.int64)
        keep = cand_t <= T_MAX
        order = np.argsort(cand_t[keep], kind="stable")
        cand_t, cand_j = cand_t[keep][order], cand_j[keep][order]
        m = cand_t.size
        gain, drive, coef_v, coef_i = (rng.normal(size=m) for _ in range(4))
        query = np.sort(np.concatenate([rng.uniform(0.0, 60.0, 8), times[:3], spike_times[:3]]))
        for detach in (False, True):
            lam_t = float(rng.choice([0.0, 1.0, 0.4]))
            args = (times, sources, weights, params, T_MAX, spike_times, spike_neurons, cotangents, cand_t, cand_j,
                    gain, drive, coef_v, coef_i, query, lam_t, detach, 0.0, 1e-3)
            ref = layer_backward_sources_per_neuron(*args)
            fast = layer_backward_sources(*args, np.zeros((0, 0)))
            # accumulating into a total adds the same rows in the order scatter_rows does: identical sums
            total = rng.normal(size=weights.shape)
            scattered = total.copy()
            scatter_rows(scattered, fast[0], sources[:fast[0].shape[0]])
            in_place = layer_backward_sources(*args, total)
            assert in_place[0].shape == (0, n_out)
            assert np.array_equal(total, scattered)
            assert all(np.array_equal(a, b) for a, b in zip(fast[1:], in_place[1:]))
            for name, a, b in zip(("d_weights", "d_arrivals", "d_bias", "n_grazing", "lam_i", "lam_v"), ref, fast):
                a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
                assert a.shape == b.shape, name
                scale = np.abs(a).max() if a.size else 1.0
                assert np.allclose(b, a, rtol=1e-9, atol=1e-9 * max(scale, 1e-300)), (name, trial, lif, detach)
        n_sources += m
    assert n_sources > 100
