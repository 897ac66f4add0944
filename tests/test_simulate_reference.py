"""Exactness of ``es.simulate``: random networks against the independent reference simulator (tests/reference.py).

Every comparison requires identical spike counts for every neuron and spike times within 1e-9 ms. Networks are
small (a handful of neurons, tens of ms) so that the brute-force reference stays fast; many seeds compensate.
Also: the feed-forward fast path equals the general heap engine, batches are bit-identical for any number of
threads, and the spike cap stops runaway activity with ``SpikeLimitError``.
"""

import time

import numpy as np
import pytest

import eventsnn as es
from reference import simulate_reference

TIME_TOL = 1e-9  # ms


def assert_matches_reference(net, inputs, t_max, engine="auto", rec=None):
    """Simulate with the engine and the reference; return the total number of spikes."""
    if rec is None:
        rec = es.simulate(net, inputs, t_max=t_max, engine=engine)
    ref = simulate_reference(net, inputs, t_max)
    total = 0
    for k, name in enumerate(net.layer_names):
        got, want = rec.layers[k].to_lists(), ref.spike_times(name)
        np.testing.assert_array_equal(rec.layers[k].counts(), ref.counts(name),
                                      err_msg=f"spike counts of population {name!r}")
        for j, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, rtol=0, atol=TIME_TOL, err_msg=f"spike times of {name}[{j}]")
        assert np.all(rec.layers[k].times <= t_max)
        total += len(rec.layers[k])
    return total


def random_inputs(rng, n_in, n_spikes, t_end, grid=None):
    times = rng.uniform(0.0, t_end, n_spikes)
    if grid is not None:  # many exactly simultaneous spikes
        times = np.round(times / grid) * grid
    return es.SpikeTrains(times, rng.integers(0, n_in, n_spikes), n_in, sort=True)


def layered(rng, sizes, neuron, mean=1.0, std=1.0, delays=None):
    """Random layered network; weights scaled by the PSP peak so that activity is similar in every regime."""
    scale = 0.25 / neuron.psp_peak()
    weights = [scale * rng.normal(mean, std, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    return es.Network.feedforward(sizes, neuron=neuron, weights=weights, delays=delays)


SEEDS = range(5)


# --------------------------------------------------------------------------------------------------------
# time-constant regimes, both engines
REGIMES = {
    "mem_twice_syn": (10.0, 5.0),
    "syn_twice_mem": (4.0, 8.0),
    "mem_four_syn": (20.0, 5.0),
    "syn_three_mem": (3.0, 9.0),
    "equal": (7.0, 7.0),
    "generic_mem_gt_syn": (13.0, 3.7),
    "generic_mem_lt_syn": (2.9, 6.1),
    "near_equal": (6.0, 6.0 * (1.0 + 1e-7)),
}


@pytest.mark.parametrize("engine", ["feedforward", "general"])
@pytest.mark.parametrize("regime", list(REGIMES))
@pytest.mark.parametrize("seed", SEEDS)
def test_tau_regimes_match_reference(seed, regime, engine, rng):
    tau_mem, tau_syn = REGIMES[regime]
    neuron = es.LIF(tau_mem=tau_mem, tau_syn=tau_syn)
    net = layered(rng, [4, 5, 3], neuron, mean=1.2, std=1.0)
    inputs = random_inputs(rng, 4, 30, 30.0)
    assert assert_matches_reference(net, inputs, 45.0, engine) > 0


# --------------------------------------------------------------------------------------------------------
# resets, refractory period, bias, reset_current
NEURONS = {
    "zero": dict(reset="zero"),
    "subtract": dict(reset="subtract"),
    "refractory": dict(refractory=2.0),
    "refractory_subtract": dict(reset="subtract", refractory=0.7),
    "bias_alone_fires": dict(bias=1.4),              # bias > threshold: periodic firing without input
    "bias_sub_threshold": dict(bias=0.6, refractory=1.0),
    "reset_current": dict(reset_current=True),
    "reset_current_refractory_bias": dict(reset_current=True, refractory=1.5, bias=0.5),
    "negative_bias": dict(bias=-0.5),
}


@pytest.mark.parametrize("engine", ["feedforward", "general"])
@pytest.mark.parametrize("kind", list(NEURONS))
@pytest.mark.parametrize("seed", SEEDS)
def test_neuron_options_match_reference(seed, kind, engine, rng):
    neuron = es.LIF(tau_mem=8.0, tau_syn=3.0, **NEURONS[kind])
    net = layered(rng, [4, 5, 3], neuron, mean=1.5, std=1.2)
    inputs = random_inputs(rng, 4, 30, 30.0)
    total = assert_matches_reference(net, inputs, 40.0, engine)
    assert total > 0
    if kind == "bias_alone_fires":
        silent = es.SpikeTrains([], [], 4)
        rec = es.simulate(net, silent, t_max=40.0, engine=engine)
        assert np.all(rec.layers[0].counts() >= 3)  # bias alone crosses threshold repeatedly
        assert_matches_reference(net, silent, 40.0, engine, rec=rec)


@pytest.mark.parametrize("seed", SEEDS)
def test_multi_spike_strong_drive(seed, rng):
    """Several spikes per neuron per input burst (strong, long-lasting current)."""
    net = layered(rng, [3, 4, 2], es.LIF(tau_mem=5.0, tau_syn=20.0), mean=3.0, std=1.0)
    inputs = random_inputs(rng, 3, 8, 20.0)
    assert_matches_reference(net, inputs, 50.0)
    rec = es.simulate(net, inputs, t_max=50.0)
    assert rec.layers[0].counts().max() >= 3


@pytest.mark.parametrize("seed", SEEDS)
def test_large_and_negative_weights(seed, rng):
    neuron = es.LIF(tau_mem=9.0, tau_syn=4.0, refractory=0.5)
    net = layered(rng, [5, 6, 3], neuron, mean=0.5, std=25.0)   # |w| up to ~1e2, half negative
    inputs = random_inputs(rng, 5, 40, 30.0)
    assert assert_matches_reference(net, inputs, 40.0, "general") > 0
    assert_matches_reference(net, inputs, 40.0, "feedforward")


@pytest.mark.parametrize("seed", SEEDS)
def test_huge_weights(seed, rng):
    """|w| ~ 1e3: crossings microseconds after an arrival, bursts limited by the refractory period."""
    neuron = es.LIF(tau_mem=10.0, tau_syn=2.0, refractory=1.0, reset=("zero", "subtract")[seed % 2])
    weights = [rng.choice([-1.0, 1.0], (3, 3), p=[0.3, 0.7]) * rng.uniform(300.0, 3000.0, (3, 3)),
               rng.normal(2.0, 2.0, (3, 2))]
    net = es.Network.feedforward([3, 3, 2], neuron=neuron, weights=weights)
    inputs = random_inputs(rng, 3, 10, 30.0)
    for engine in ("feedforward", "general"):
        assert assert_matches_reference(net, inputs, 40.0, engine) > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_simultaneous_inputs_and_inputs_at_t_max(seed, rng):
    """Inputs on a 1 ms grid (many exact ties), including spikes exactly at t_max and after it."""
    t_max = 30.0
    base = random_inputs(rng, 4, 40, t_max, grid=1.0)
    times = np.concatenate([base.times, [t_max, t_max, t_max + 1.0]])
    neurons = np.concatenate([base.neurons, [0, 1, 2]])
    inputs = es.SpikeTrains(times, neurons, 4, sort=True)
    net = layered(rng, [4, 5, 3], es.LIF(tau_mem=6.0, tau_syn=6.0), mean=1.0, std=1.0)
    for engine in ("feedforward", "general"):
        assert assert_matches_reference(net, inputs, t_max, engine) > 0


@pytest.mark.parametrize("engine", ["feedforward", "general"])
@pytest.mark.parametrize("seed", SEEDS)
def test_spike_exactly_at_window_end_is_counted(seed, engine, rng):
    """Closed window [0, t_max]: set t_max to a spike time of a free run; that spike must be counted."""
    net = layered(rng, [3, 4], es.LIF(tau_mem=10.0, tau_syn=5.0, bias=0.2), mean=1.5, std=0.5)
    inputs = random_inputs(rng, 3, 15, 20.0)
    free = es.simulate(net, inputs, t_max=40.0, engine=engine)
    assert len(free.layers[0]) > 0
    for t_end in np.unique(free.layers[0].times)[:4]:
        rec = es.simulate(net, inputs, t_max=float(t_end), engine=engine)
        expected = free.layers[0].times <= t_end
        assert len(rec.layers[0]) == expected.sum(), f"spike at t_max={t_end!r} not counted"
        np.testing.assert_array_equal(rec.layers[0].neurons, free.layers[0].neurons[expected])
        # the root is re-solved on a shorter window: equal up to the solver's few-ulp tolerance
        np.testing.assert_allclose(rec.layers[0].times, free.layers[0].times[expected], rtol=0, atol=1e-12)
        assert rec.layers[0].times[-1] <= t_end
        assert_matches_reference(net, inputs, float(t_end), engine, rec=rec)
        # just before the spike, it is not counted
        before = es.simulate(net, inputs, t_max=float(t_end) - 1e-7, engine=engine)
        assert len(before.layers[0]) == expected.sum() - np.sum(free.layers[0].times == t_end)


# --------------------------------------------------------------------------------------------------------
# general networks: several populations, recurrence, scalar and per-synapse delays
def recurrent_network(rng, delay_kind, neuron_exc, neuron_inh):
    n_in, n_exc, n_inh = 3, 5, 2
    net = es.Network()
    net.add_input("in", n_in)
    net.add_population("exc", n_exc, neuron_exc)
    net.add_population("inh", n_inh, neuron_inh)

    def delays(shape):
        if delay_kind == "zero":
            return 0.0
        if delay_kind == "scalar":
            return 0.8
        d = rng.uniform(0.0, 3.0, shape)
        d[rng.random(shape) < 0.2] = 0.0  # some zero delays
        return d

    net.connect("in", "exc", rng.normal(1.5, 1.0, (n_in, n_exc)), delays((n_in, n_exc)))
    net.connect("exc", "exc", rng.normal(0.2, 0.4, (n_exc, n_exc)), delays((n_exc, n_exc)))
    net.connect("exc", "inh", rng.normal(1.0, 0.5, (n_exc, n_inh)), delays((n_exc, n_inh)))
    net.connect("inh", "exc", -np.abs(rng.normal(2.0, 1.0, (n_inh, n_exc))), delays((n_inh, n_exc)))
    return net


@pytest.mark.parametrize("delay_kind", ["zero", "scalar", "per_synapse"])
@pytest.mark.parametrize("seed", range(6))
def test_recurrent_networks_match_reference(seed, delay_kind, rng):
    exc = es.LIF(tau_mem=10.0, tau_syn=4.0, refractory=1.0 if seed % 2 else 0.0)
    inh = es.LIF(tau_mem=5.0, tau_syn=5.0, reset_current=bool(seed % 3 == 0), bias=0.1)
    net = recurrent_network(rng, delay_kind, exc, inh)
    inputs = {"in": random_inputs(rng, 3, 20, 25.0)}
    assert assert_matches_reference(net, inputs, 35.0, "general") > 0


# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(10))
def test_feedforward_fast_path_equals_general_engine(seed, rng):
    """engine="feedforward" (layer sweep) and engine="general" (heap) give the same spikes on layered nets."""
    options = [dict(), dict(refractory=1.0), dict(bias=0.7, reset_current=True), dict(reset="subtract")]
    tau_mem, tau_syn = list(REGIMES.values())[seed % len(REGIMES)]
    neuron = es.LIF(tau_mem=tau_mem, tau_syn=tau_syn, **options[seed % len(options)])
    sizes = [6, 8, 7, 4]
    net = layered(rng, sizes, neuron, mean=0.7, std=1.0, delays=[0.0, 0.5 * (seed % 3), 1.25])
    inputs = random_inputs(rng, 6, 50, 40.0, grid=0.5 if seed % 2 else None)
    fast = es.simulate(net, inputs, t_max=60.0, engine="feedforward")
    general = es.simulate(net, inputs, t_max=60.0, engine="general")
    assert sum(len(layer) for layer in fast.layers) > 0
    # not bit-identical (the fast path propagates in a different order of operations): rounding level
    for a, b in zip(fast.layers, general.layers):
        np.testing.assert_array_equal(a.counts(), b.counts())
        for ta, tb in zip(a.to_lists(), b.to_lists()):
            np.testing.assert_allclose(ta, tb, rtol=0, atol=1e-10)


def test_batch_bit_identical_for_any_thread_count():
    rng = np.random.default_rng(7)
    net = layered(rng, [5, 6, 3], es.LIF(tau_mem=10.0, tau_syn=5.0, refractory=0.5), mean=1.0, std=1.0)
    batch = [random_inputs(rng, 5, 30, 40.0) for _ in range(8)]
    rec_net = recurrent_network(rng, "per_synapse", es.LIF(), es.LIF(tau_mem=4.0, tau_syn=4.0))
    rec_batch = [{"in": random_inputs(rng, 3, 20, 30.0)} for _ in range(8)]
    for network, samples in ((net, batch), (net, es.SpikeBatch.from_list(batch)), (rec_net, rec_batch)):
        one = es.simulate(network, samples, t_max=50.0, n_threads=1)
        two = es.simulate(network, samples, t_max=50.0, n_threads=2)
        assert len(one) == len(two) == 8
        assert sum(len(layer) for r in one for layer in r.layers) > 0
        for r1, r2 in zip(one, two):
            for a, b in zip(r1.layers, r2.layers):
                assert a == b  # SpikeTrains equality: exact times and neurons


def test_spike_cap_raises_on_runaway_recurrence():
    """All-to-all excitation with zero delays and no refractory period: runaway activity hits the cap fast."""
    net = es.Network()
    net.add_input("in", 1)
    net.add_population("exc", 4, es.LIF(tau_mem=10.0, tau_syn=5.0))
    net.connect("in", "exc", np.full((1, 4), 5.0))
    net.connect("exc", "exc", np.full((4, 4), 3.0))
    inputs = {"in": es.SpikeTrains([1.0], [0], 1)}
    es.simulate(net, inputs, t_max=2.0, max_spikes_per_neuron=1000)  # compile outside the timing
    start = time.perf_counter()
    with pytest.raises(es.SpikeLimitError, match="max_spikes_per_neuron=37"):
        es.simulate(net, inputs, t_max=1e6, max_spikes_per_neuron=37)
    assert time.perf_counter() - start < 5.0
    # the same with the layered fast path: bias far above threshold fires forever
    ff = es.Network.feedforward([1, 2], neuron=es.LIF(bias=50.0), weights=[np.zeros((1, 2))])
    with pytest.raises(es.SpikeLimitError, match="max_spikes_per_neuron=20"):
        es.simulate(ff, es.SpikeTrains([], [], 1), t_max=1e6, max_spikes_per_neuron=20, engine="feedforward")
    with pytest.raises(es.SpikeLimitError, match="max_spikes_per_neuron=20"):
        es.simulate(ff, es.SpikeTrains([], [], 1), t_max=1e6, max_spikes_per_neuron=20, engine="general")
