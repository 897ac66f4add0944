"""The kernels' parameter values as a tuple (``lif.parameter_tuple``, what the event loops pass per event; its
layout is checked in test_kernel_bookkeeping.py) give bit for bit the results of the ``lif.P_*`` vector (what the
backward kernels pass), in every helper the loops call; and the output and queue buffers of both forward engines
grow past their first capacity without loss."""

from __future__ import annotations

import numpy as np
import pytest

import eventsnn as es
from eventsnn._kernels.crossing import first_crossing, stays_below_threshold
from eventsnn._kernels.lif import decay_factors, parameter_tuple, state_after

# one neuron per route of the crossing solver: tau_mem = 2 tau_syn and 4 tau_syn (polynomial), tau_mem = tau_syn
# (Lambert W seed), a general ratio (Newton on V(t)), tau_syn = 2 tau_mem
NEURONS = [es.LIF(tau_mem=10.0, tau_syn=5.0), es.LIF(tau_mem=20.0, tau_syn=5.0, refractory=1.0),
           es.LIF(tau_mem=6.0, tau_syn=6.0, bias=0.3, reset_current=True),
           es.LIF(tau_mem=7.3, tau_syn=2.9, refractory=0.5), es.LIF(tau_mem=3.0, tau_syn=6.0, bias=-0.2)]


@pytest.mark.parametrize("seed", range(5))
def test_helpers_give_the_same_bits_from_tuple_and_vector(seed, rng):
    lif = NEURONS[seed]
    params = lif.kernel_parameters()
    values = parameter_tuple(params)
    crossings = 0
    for _ in range(400):
        v0 = rng.uniform(-1.0, 0.999) * lif.threshold
        i0 = rng.normal(0.0, 3.0)
        window = rng.uniform(0.0, 30.0)
        t_array = first_crossing(v0, i0, window, params)
        assert np.array_equal(first_crossing(v0, i0, window, values), t_array), (v0, i0, window)
        crossings += bool(np.isfinite(t_array))
        assert state_after(window, v0, i0, values) == state_after(window, v0, i0, params)
        assert decay_factors(window, values) == decay_factors(window, params)
        assert stays_below_threshold(v0, i0, values) == stays_below_threshold(v0, i0, params)
    assert 20 < crossings < 380  # both outcomes of the solver are exercised


@pytest.mark.parametrize("engine", ["feedforward", "general"])
def test_engines_grow_their_buffers_without_loss(engine):
    # bias-driven neurons fire far more spikes than the first output capacity (64 + inputs), and each spike of the
    # first layer queues a delivery (first capacity 16 rows) before the delay of 5 ms lets any be delivered
    net = es.Network.feedforward([1, 40, 3], neuron=es.LIF(bias=2.0), weights=[np.zeros((1, 40)),
                                 np.full((40, 3), 0.01)], delays=[0.0, 5.0])
    inputs = es.SpikeTrains([], [], 1)
    rec = es.simulate(net, inputs, 60.0, engine=engine, n_threads=1, progress=False)
    reference = es.simulate(net, inputs, 60.0, engine="general" if engine == "feedforward" else "feedforward",
                            n_threads=1, progress=False)
    hidden = rec.layers[0]
    assert len(hidden) > 64 * 4
    # the population fires in lock step: every neuron at every multiple of one period
    period = hidden.times[0]
    assert np.allclose(hidden.times, np.repeat(np.arange(1, len(hidden) // 40 + 1) * period, 40), rtol=1e-12)
    for ours, theirs in zip(rec.layers, reference.layers):
        assert np.array_equal(ours.times, theirs.times) and np.array_equal(ours.neurons, theirs.neurons)
