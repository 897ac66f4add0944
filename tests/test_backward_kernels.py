"""The layered adjoint kernel (``_kernels/backward.layer_backward``, a gap-by-gap sweep vectorised over neurons)
against the per-neuron walk of tests/oracles/adjoint_per_neuron.py (plain Python, nothing shared with the kernels).

Random layers with every LIF variant (bias, refractory, reset_current, each tau ratio, tied arrival times,
arrivals at t_max), without sources (the exact timing adjoint) and with sources and queries (the creation/removal
methods: sources at spike times, at refractory ends, inside refractory periods and at arrival times, queries at
arrival and spike times, both reset-term choices). Agreement checks the event placement and tie rules of the
fast kernel; the oracle writes the rules out once more from docs/theory.md.
"""

import numpy as np
import pytest

import eventsnn as es
from eventsnn._kernels.backward import layer_backward, no_sources, scatter_rows
from eventsnn._kernels.forward import layer_forward
from oracles.adjoint_per_neuron import layer_adjoint_per_neuron

T_MAX = 50.0
TAUS = [(10.0, 5.0), (5.0, 10.0), (7.0, 7.0), (7.3, 2.5), (2.5, 7.3)]
NO_QUERIES = np.zeros(0)
NAMES = ("d_weights", "d_arrivals", "d_bias", "n_grazing", "lam_i", "lam_v")


def _random_layer(rng, trial, max_in=20, max_out=15, max_arrivals=60):
    tau_mem, tau_syn = TAUS[trial % len(TAUS)]
    lif = es.LIF(tau_mem=tau_mem, tau_syn=tau_syn, bias=float(rng.choice([0.0, 0.3, 1.2])),
                 refractory=float(rng.choice([0.0, 2.0])), reset_current=bool(rng.integers(2)))
    n_in, n_out = int(rng.integers(1, max_in)), int(rng.integers(1, max_out))
    weights = rng.normal(0.5, 1.0, (n_in, n_out)) * rng.choice([1.0, 3.0])
    n = int(rng.integers(0, max_arrivals))
    times = np.sort(rng.uniform(0.0, 55.0, n))
    if trial % 3 == 0:
        times = np.round(times)  # simultaneous arrivals, and arrivals at t_max
    sources = rng.integers(0, n_in, n)
    spike_times, spike_neurons, _ = layer_forward(times, sources, weights, lif.kernel_parameters(), T_MAX, 1000)
    return lif, weights, times, sources, spike_times, spike_neurons


def _assert_close(ref, fast, rtol, context):
    for name, a, b in zip(NAMES, ref, fast):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        assert a.shape == b.shape, (name, context)
        scale = np.abs(a).max() if a.size else 1.0
        assert np.allclose(b, a, rtol=rtol, atol=rtol * max(scale, 1e-300)), (name, context)


@pytest.mark.parametrize("seed", range(12))
def test_timing_adjoint_equals_per_neuron_walk(seed):
    rng = np.random.default_rng(seed)
    n_compared = 0
    for trial in range(25):
        lif, weights, times, sources, spike_times, spike_neurons = _random_layer(rng, trial)
        cotangents = rng.normal(size=spike_times.size)
        ref = layer_adjoint_per_neuron(times, sources, weights, lif, T_MAX, spike_times, spike_neurons, cotangents)
        fast = layer_backward(times, sources, weights, lif.kernel_parameters(), T_MAX, spike_times, spike_neurons,
                              cotangents, no_sources(), NO_QUERIES, 1.0, False, 0.0, 1e-3)
        _assert_close(ref, fast, 1e-10, (trial, lif))
        n_compared += spike_times.size
    assert n_compared > 100  # the random layers do spike: the comparison is not vacuous


def test_min_slope_clipping_is_applied_identically():
    rng = np.random.default_rng(5)
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    weights = rng.normal(0.6, 0.8, (10, 8))
    times = np.sort(rng.uniform(0, 30, 40))
    sources = rng.integers(0, 10, 40)
    st, sn, _ = layer_forward(times, sources, weights, lif.kernel_parameters(), T_MAX, 1000)
    c = rng.normal(size=st.size)
    results = []
    for min_slope in (0.0, 0.05, 0.5):
        ref = layer_adjoint_per_neuron(times, sources, weights, lif, T_MAX, st, sn, c, min_slope=min_slope)
        fast = layer_backward(times, sources, weights, lif.kernel_parameters(), T_MAX, st, sn, c, no_sources(),
                              NO_QUERIES, 1.0, False, min_slope, 1e-3)
        _assert_close(ref, fast, 1e-10, min_slope)
        results.append(fast[0])
    assert not np.array_equal(results[0], results[2])  # the floor of 0.5 does clip some crossing


@pytest.mark.parametrize("seed", range(6))
def test_adjoint_with_sources_equals_per_neuron_walk(seed):
    """The creation/removal methods' sweep (sources and queries) against the oracle; adding dL/dW into a total
    in the kernel gives exactly the sums of its per-arrival rows added by ``scatter_rows``."""
    rng = np.random.default_rng(100 + seed)
    n_sources = 0
    for trial in range(10):
        lif, weights, times, sources, spike_times, spike_neurons = _random_layer(rng, trial, 15, 10, 40)
        params = lif.kernel_parameters()
        n_out = weights.shape[1]
        cotangents = rng.normal(size=spike_times.size)
        # candidates: random times plus the awkward ones (a spike time, a refractory end, an arrival time)
        cand_t = list(rng.uniform(0.0, T_MAX, 15))
        cand_j = list(rng.integers(0, n_out, 15))
        for s in range(min(spike_times.size, 4)):
            cand_t += [spike_times[s], spike_times[s] + lif.refractory, spike_times[s] + 0.5 * lif.refractory]
            cand_j += [spike_neurons[s]] * 3
        if times.size:
            cand_t.append(times[0])
            cand_j.append(int(rng.integers(n_out)))
        cand_t, cand_j = np.asarray(cand_t), np.asarray(cand_j, dtype=np.int64)
        keep = cand_t <= T_MAX
        order = np.argsort(cand_t[keep], kind="stable")
        cand_t, cand_j = cand_t[keep][order], cand_j[keep][order]
        m = cand_t.size
        cand = (cand_t, cand_j) + tuple(rng.normal(size=m) for _ in range(4))
        query = np.sort(np.concatenate([rng.uniform(0.0, 60.0, 8), times[:3], spike_times[:3]]))
        for detach in (False, True):
            lam_t = float(rng.choice([0.0, 1.0, 0.4]))
            ref = layer_adjoint_per_neuron(times, sources, weights, lif, T_MAX, spike_times, spike_neurons,
                                           cotangents, cand, query, lam_t, detach)
            args = (times, sources, weights, params, T_MAX, spike_times, spike_neurons, cotangents, cand, query,
                    lam_t, detach, 0.0, 1e-3)
            fast = layer_backward(*args, np.zeros((0, 0)))
            _assert_close(ref, fast, 1e-9, (trial, lif, detach))
            total = rng.normal(size=weights.shape)
            scattered = total.copy()
            scatter_rows(scattered, fast[0], sources[:fast[0].shape[0]])
            in_place = layer_backward(*args, total)
            assert in_place[0].shape == (0, n_out)
            assert np.array_equal(total, scattered)
            assert all(np.array_equal(a, b) for a, b in zip(fast[1:], in_place[1:]))
        n_sources += m
    assert n_sources > 100


def test_the_oracle_can_tell_a_wrong_rule():
    """A kernel result with one rule changed (the reset-term flag flipped) differs from the oracle by far more
    than the tolerance: the comparisons above can fail."""
    rng = np.random.default_rng(3)
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0, bias=0.3)
    weights = rng.normal(0.8, 0.8, (10, 6))
    times = np.sort(rng.uniform(0, 40, 50))
    sources = rng.integers(0, 10, 50)
    st, sn, _ = layer_forward(times, sources, weights, lif.kernel_parameters(), T_MAX, 1000)
    assert st.size > 5
    c = rng.normal(size=st.size)
    ref = layer_adjoint_per_neuron(times, sources, weights, lif, T_MAX, st, sn, c)
    wrong = layer_backward(times, sources, weights, lif.kernel_parameters(), T_MAX, st, sn, c, no_sources(),
                           NO_QUERIES, 1.0, True, 0.0, 1e-3)
    with pytest.raises(AssertionError):
        _assert_close(ref, wrong, 1e-10, "detached")


@pytest.mark.parametrize("taus", TAUS + [(20.0, 5.0), (3.0, 9.0)])
def test_adjoint_step_is_the_transpose_of_the_forward_step(taus):
    """lif.adjoint_propagate is the transpose of lif.propagate over the same step (A1): for any tangent (dV, dI,
    dbias) of the state before a step and any adjoint (lambda_V, lambda_I) after it, <adjoint, J tangent> =
    <J^T adjoint, tangent>, with J read off ``propagate`` (which is affine in V, I and bias)."""
    from eventsnn._kernels.lif import adjoint_propagate, decay_factors, propagate

    rng = np.random.default_rng(len(taus) + int(taus[0] * 10))
    params = es.LIF(tau_mem=taus[0], tau_syn=taus[1]).kernel_parameters()
    for dt in (0.0, 1e-3, 0.7, 5.0, 80.0):
        em, es_, kern = decay_factors(dt, params)
        origin = np.array(propagate(0.0, 0.0, em, es_, kern, 0.0))
        columns = [np.array(propagate(*point, em, es_, kern, bias)) - origin
                   for *point, bias in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))]
        jacobian = np.stack(columns, axis=1)  # rows (V, I) after, columns (V, I, bias) before
        lam = rng.normal(size=2)
        lam_v, lam_i, d_bias = adjoint_propagate(lam[0], lam[1], em, es_, kern)
        np.testing.assert_allclose([lam_v, lam_i, d_bias], jacobian.T @ lam, rtol=1e-14, atol=1e-15)
