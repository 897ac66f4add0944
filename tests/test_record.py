"""``Record``: spikes of every population, counts, and the exact V(t), I(t) compared with closed forms.

The closed form written here (independently of the kernels) for one LIF neuron, V(0) = I(0) = 0::

    I(t) = sum_k w_k exp(-(t - a_k)/tau_syn)                    over arrivals a_k <= t (after the last reset of I)
    V(t) = I0 kappa(t - s) + b (1 - exp(-(t - s)/tau_mem)) + sum_k w_k kappa(t - a_k)    for s < a_k <= t

where s is the start of the current free segment (0, or the end of the refractory period after the last spike,
at which V = 0), I0 = I(s) and kappa(u) = tau_syn/(tau_syn - tau_mem) (exp(-u/tau_syn) - exp(-u/tau_mem)),
or (u/tau) exp(-u/tau) when tau_mem = tau_syn = tau. During the refractory period V = 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import eventsnn as es

TAUS = [(10.0, 5.0), (5.0, 10.0), (8.0, 8.0), (20.0, 5.0), (10.0, 20.0)]
TAU_IDS = [f"tm{m:g}-ts{s:g}" for m, s in TAUS]


def kappa(u, tau_mem, tau_syn):
    u = np.asarray(u, dtype=np.float64)
    if tau_mem == tau_syn:
        return (u / tau_mem) * np.exp(-u / tau_mem)
    return tau_syn / (tau_syn - tau_mem) * (np.exp(-u / tau_syn) - np.exp(-u / tau_mem))


def closed_form(t, arrival_times, arrival_weights, spike_times, lif):
    """Exact (V, I) at time t (right-continuous) of one neuron with the given arrivals and its own spikes."""
    arrival_times, arrival_weights = np.asarray(arrival_times), np.asarray(arrival_weights)
    past_spikes = [s for s in spike_times if s <= t]
    last = past_spikes[-1] if past_spikes else None

    def current(x):
        since = last if (lif.reset_current and last is not None and last <= x) else -np.inf
        keep = (arrival_times >= since) & (arrival_times <= x)
        return float(np.sum(arrival_weights[keep] * np.exp(-(x - arrival_times[keep]) / lif.tau_syn)))

    i_t = current(t)
    if last is not None and t < last + lif.refractory:
        return 0.0, i_t
    start = 0.0 if last is None else last + lif.refractory
    i0 = current(start) if last is not None else 0.0
    keep = (arrival_times > start) & (arrival_times <= t) if last is not None else arrival_times <= t
    v = (i0 * kappa(t - start, lif.tau_mem, lif.tau_syn)
         + lif.bias * (1.0 - np.exp(-(t - start) / lif.tau_mem))
         + float(np.sum(arrival_weights[keep] * kappa(t - arrival_times[keep], lif.tau_mem, lif.tau_syn))))
    return float(v), i_t


def one_neuron(lif, weights, times, neurons, t_max=80.0):
    net = es.Network.feedforward([len(weights), 1], neuron=lif, weights=[np.asarray(weights, float).reshape(-1, 1)])
    rec = es.simulate(net, es.SpikeTrains(times, neurons, len(weights), sort=True), t_max=t_max)
    return net, rec


def assert_matches_closed_form(rec, lif, query):
    arrival_times, arrival_weights = rec.arrivals(0, 0)
    spikes = rec.layers[0].times.tolist()
    v = rec.membrane_potential(0, 0, query)
    i = rec.synaptic_current(0, 0, query)
    expected = np.array([closed_form(t, arrival_times, arrival_weights, spikes, lif) for t in query])
    np.testing.assert_allclose(v, expected[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(i, expected[:, 1], rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------------------------------
# V(t), I(t) against the closed form

@pytest.mark.parametrize("tau_mem, tau_syn", TAUS, ids=TAU_IDS)
def test_single_input_psp(tau_mem, tau_syn):
    lif = es.LIF(tau_mem=tau_mem, tau_syn=tau_syn)
    w, t0 = 0.7, 3.0
    _, rec = one_neuron(lif, [w], [t0], [0])
    assert len(rec.layers[0]) == 0
    query = np.concatenate([[0.0, 1.0, t0, np.nextafter(t0, 0.0)], np.linspace(t0, 80.0, 57)])
    v = rec.membrane_potential("layer1", 0, query)
    i = rec.synaptic_current("layer1", 0, query)
    u = np.maximum(query - t0, 0.0)
    after = query >= t0
    np.testing.assert_allclose(v, np.where(after, w * kappa(u, tau_mem, tau_syn), 0.0), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(i, np.where(after, w * np.exp(-u / tau_syn), 0.0), rtol=1e-12, atol=1e-15)
    assert i[2] == pytest.approx(w, rel=1e-15)       # right-continuous: the arrival is counted at its time
    assert v[2] == 0.0 and i[3] == 0.0


@pytest.mark.parametrize("tau_mem, tau_syn", TAUS, ids=TAU_IDS)
def test_two_inputs_with_bias_below_threshold(tau_mem, tau_syn):
    lif = es.LIF(tau_mem=tau_mem, tau_syn=tau_syn, bias=0.3)
    _, rec = one_neuron(lif, [0.6, -0.4], [2.0, 7.5], [0, 1])
    assert len(rec.layers[0]) == 0
    assert_matches_closed_form(rec, lif, np.concatenate([np.linspace(0.0, 80.0, 81), [2.0, 7.5, 7.5 + 1e-9]]))


def test_peak_of_equal_time_constants():
    """tau_mem = tau_syn = tau: the PSP of a unit weight peaks at u = tau with value 1/e."""
    lif = es.LIF(tau_mem=6.0, tau_syn=6.0)
    _, rec = one_neuron(lif, [1.0], [1.0], [0])
    v = rec.membrane_potential(0, 0, [1.0 + 6.0, 1.0 + 5.9, 1.0 + 6.1])
    assert v[0] == pytest.approx(np.exp(-1.0), rel=1e-13)
    assert v[0] > v[1] and v[0] > v[2]
    assert lif.psp_peak() == pytest.approx(np.exp(-1.0), rel=1e-12)


def test_output_shape_follows_the_query_shape():
    lif = es.LIF(tau_mem=6.0, tau_syn=3.0)
    _, rec = one_neuron(lif, [1.0], [1.0], [0])
    grid = np.array([[2.0, 3.0], [4.0, 5.0]])
    assert rec.membrane_potential(0, 0, 3.0).shape == ()
    assert rec.membrane_potential(0, 0, [3.0]).shape == (1,)
    assert rec.synaptic_current(0, 0, grid).shape == (2, 2)
    assert float(rec.membrane_potential(0, 0, 3.0)) == pytest.approx(rec.membrane_potential(0, 0, grid)[0, 1],
                                                                     rel=1e-14)


@pytest.mark.parametrize("tau_mem, tau_syn", TAUS, ids=TAU_IDS)
@pytest.mark.parametrize("variant", [{}, {"refractory": 2.0}, {"reset_current": True}, {"bias": 0.2, "threshold": 0.8}],
                         ids=["plain", "refractory", "reset_current", "bias"])
def test_spiking_neuron_matches_the_closed_form(tau_mem, tau_syn, variant):
    lif = es.LIF(tau_mem=tau_mem, tau_syn=tau_syn, **variant)
    peak = lif.psp_peak()
    _, rec = one_neuron(lif, [2.5 / peak, 0.6 / peak], [1.0, 4.0, 30.0, 30.0], [0, 1, 0, 1])
    spikes = rec.layers[0].times
    assert len(spikes) >= 1
    query = np.unique(np.concatenate([np.linspace(0.0, 80.0, 161), spikes, spikes + 1e-7, spikes + 1.0,
                                      np.maximum(spikes - 1e-7, 0.0), spikes + lif.refractory]))
    assert_matches_closed_form(rec, lif, query)

    arrival_times, arrival_weights = rec.arrivals(0, 0)
    for k, t_s in enumerate(spikes):
        # right-continuous: the reset value at the spike time itself
        assert rec.membrane_potential(0, 0, [t_s])[0] == 0.0
        # the closed form of the segment that ends at t_s reaches the threshold there
        earlier = spikes[:k].tolist()
        just_before = np.nextafter(t_s, 0.0)
        v_left, _ = closed_form(just_before, arrival_times, arrival_weights, earlier, lif)
        assert v_left == pytest.approx(lif.threshold, abs=1e-9)
        i_at = rec.synaptic_current(0, 0, [t_s])[0]
        if lif.reset_current:
            assert i_at == pytest.approx(float(np.sum(arrival_weights[arrival_times == t_s])), abs=1e-15)
        else:
            assert i_at == pytest.approx(rec.synaptic_current(0, 0, [just_before])[0], rel=1e-9)
        if lif.refractory:
            held = rec.membrane_potential(0, 0, t_s + np.linspace(0.0, lif.refractory, 5, endpoint=False))
            assert np.all(held == 0.0)


def test_query_shape_and_order_are_preserved():
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    _, rec = one_neuron(lif, [8.0], [1.0, 2.0], [0, 0])
    query = np.array([[30.0, 1.5], [0.0, 12.0]])
    v = rec.membrane_potential(0, 0, query)
    i = rec.synaptic_current(0, 0, query)
    assert v.shape == i.shape == (2, 2)
    flat = rec.membrane_potential(0, 0, query.ravel())
    np.testing.assert_array_equal(v.ravel(), flat)
    np.testing.assert_array_equal(rec.membrane_potential(0, 0, [12.0, 0.0]), v[1, ::-1])
    assert rec.membrane_potential(0, 0, []).shape == (0,)
    # an int index, a negative int index and the name give the same answer
    np.testing.assert_array_equal(rec.membrane_potential(-1, 0, query), rec.membrane_potential("layer1", 0, query))


# ------------------------------------------------------------------------------------------------------------
# arrivals with delays

def test_arrivals_with_per_synapse_and_scalar_delays():
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    net = es.Network()
    net.add_input("in", 2)
    net.add_population("a", 2, lif)
    net.add_population("b", 1, lif)
    delays_in = np.array([[1.0, 4.0], [0.5, 0.0]])
    weights_in = np.array([[6.0, 0.2], [0.3, 0.1]])
    net.connect("in", "a", weights_in, delays=delays_in)
    net.connect("a", "b", np.array([[0.5], [0.25]]), delays=2.0)
    net.connect("in", "b", np.array([[0.1], [-0.2]]), delays=0.0)
    inputs = es.SpikeTrains([1.0, 2.0, 3.0], [0, 1, 0], 2)
    rec = es.simulate(net, {"in": inputs}, t_max=60.0)

    times, weights = rec.arrivals("a", 1)
    np.testing.assert_array_equal(times, [2.0, 5.0, 7.0])          # in0 at 1+4, in1 at 2+0, in0 at 3+4, sorted
    np.testing.assert_array_equal(weights, [0.1, 0.2, 0.2])
    times, weights = rec.arrivals("a", 0)
    np.testing.assert_array_equal(times, [2.0, 2.5, 4.0])
    np.testing.assert_array_equal(weights, [6.0, 0.3, 6.0])

    a_spikes = rec.population("a")
    assert len(a_spikes) > 0
    times, weights = rec.arrivals(1, 0)                            # "b" by index
    expected = sorted([(t + 2.0, [0.5, 0.25][j]) for t, j in zip(a_spikes.times, a_spikes.neurons)]
                      + [(1.0, 0.1), (2.0, -0.2), (3.0, 0.1)], key=lambda p: p[0])
    np.testing.assert_allclose(times, [p[0] for p in expected], rtol=0, atol=0)
    assert sorted(weights.tolist()) == sorted(p[1] for p in expected)
    assert np.all(np.diff(times) >= 0) and times.flags.c_contiguous

    # V of a delayed neuron is the closed form over its (delayed) arrivals
    for name, j in [("a", 0), ("a", 1), ("b", 0)]:
        arrival_times, arrival_weights = rec.arrivals(name, j)
        own = rec.population(name)
        spikes = own.times[own.neurons == j].tolist()
        query = np.linspace(0.0, 60.0, 121)
        expected = np.array([closed_form(t, arrival_times, arrival_weights, spikes, lif) for t in query])
        np.testing.assert_allclose(rec.membrane_potential(name, j, query), expected[:, 0], rtol=1e-10, atol=1e-12)


def test_arrivals_of_an_unconnected_population_are_empty():
    net = es.Network()
    net.add_input("in", 1)
    net.add_population("a", 1, es.LIF())
    net.add_population("lonely", 2, es.LIF(bias=0.5))
    net.connect("in", "a", np.ones((1, 1)))
    rec = es.simulate(net, {"in": es.SpikeTrains([1.0], [0], 1)}, t_max=10.0, engine="general")
    times, weights = rec.arrivals("lonely", 1)
    assert times.size == 0 and weights.size == 0
    # a bias alone: V = b (1 - exp(-t/tau_mem))
    assert rec.membrane_potential("lonely", 1, [10.0])[0] == pytest.approx(0.5 * (1 - np.exp(-1.0)), rel=1e-13)


# ------------------------------------------------------------------------------------------------------------
# layers, counts, population(), repr

def test_layers_counts_and_populations():
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    w1, w2 = np.full((2, 3), 3.0), np.full((3, 2), 2.0)
    w1[:, 2] = 0.0                                                  # neuron 2 of layer1 stays silent
    net = es.Network.feedforward([2, 3, 2], neuron=lif, weights=[w1, w2])
    inputs = es.SpikeTrains([1.0, 2.0, 3.0], [0, 1, 0], 2)
    rec = es.simulate(net, inputs, t_max=50.0)

    assert rec.layer_names == ["layer1", "layer2"]
    assert len(rec.layers) == 2 and all(isinstance(layer, es.SpikeTrains) for layer in rec.layers)
    assert [layer.n_neurons for layer in rec.layers] == [3, 2]
    assert rec.t_max == 50.0
    assert rec.inputs == {"input": inputs}
    counts = rec.counts
    assert [c.tolist() for c in counts] == [layer.counts().tolist() for layer in rec.layers]
    assert counts[0][2] == 0 and counts[0][0] > 0
    assert rec.n_spikes == {"layer1": len(rec.layers[0]), "layer2": len(rec.layers[1])}
    assert sum(rec.n_spikes.values()) == sum(int(c.sum()) for c in counts)
    assert rec.population("input") is rec.inputs["input"]
    assert rec.population("layer1") is rec.layers[0]
    assert rec.population("layer2") is rec.layers[1]
    for layer in rec.layers:
        assert np.all(layer.times >= 0.0) and np.all(layer.times <= rec.t_max)
        pairs = list(zip(layer.times.tolist(), layer.neurons.tolist()))
        assert pairs == sorted(pairs)
    n1, n2 = rec.n_spikes["layer1"], rec.n_spikes["layer2"]
    assert repr(rec) == f"Record(t_max=50.0 ms; spikes layer1: {n1}, layer2: {n2})"


def test_record_keeps_a_snapshot_of_the_network():
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    net = es.Network.feedforward([1, 1], neuron=lif, weights=[np.array([[8.0]])])
    rec = es.simulate(net, es.SpikeTrains([1.0], [0], 1), t_max=40.0)
    before = rec.membrane_potential(0, 0, [5.0, 20.0])
    net.set_weights([np.array([[0.5]])])
    assert rec.network is not net
    assert rec.network.weights[0][0, 0] == 8.0
    np.testing.assert_array_equal(rec.membrane_potential(0, 0, [5.0, 20.0]), before)


def test_batch_records_are_independent():
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    net = es.Network.feedforward([1, 1], neuron=lif, weights=[np.array([[8.0]])])
    batch = [es.SpikeTrains([1.0], [0], 1), es.SpikeTrains([], [], 1), es.SpikeTrains([5.0, 6.0], [0, 0], 1)]
    records = es.simulate(net, batch, t_max=40.0, n_threads=1)
    assert [r.inputs["input"] for r in records] == batch
    assert records[1].n_spikes == {"layer1": 0}
    assert records[1].membrane_potential(0, 0, [10.0])[0] == 0.0
    assert records[0].layers[0] != records[2].layers[0]
