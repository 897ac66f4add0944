"""The two exact adjoint kernels of a dense layer agree: per-neuron sweep vs gap-by-gap vectorised sweep.

``backward.layer_backward`` walks each neuron's events separately; ``backward_dense.layer_backward_gaps`` (used
by ``vjp``) walks the shared arrival clock once for all neurons. They share only the transposed propagator, so
agreement on random layers with every LIF variant (bias, refractory, reset_current, each tau ratio, tied
arrival times) is a check of the event placement and tie rules of the fast kernel.
"""

import numpy as np
import pytest

import eventsnn as es
from eventsnn._kernels.backward import layer_backward
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
