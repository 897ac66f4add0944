"""Results do not depend on the thread count: ``simulate`` and ``vjp`` with n_threads 1, 2 and 3 give the same
spikes, records, gradients (every method) and errors, bit for bit.

Several threads take other routes than one (``_kernels/batch.py``: ranges of samples per compiled call, weight
gradients as rows added in sample order afterwards), so each test compares them on random batches whose samples
differ in cost (empty samples, samples with delays and refractory periods, multi-spike neurons).
"""

from __future__ import annotations

import numpy as np
import pytest

import eventsnn as es
from eventsnn import losses
from eventsnn.simulate import sample_ranges

THREADS = (1, 2, 3)


def _layered(rng, sizes, neurons, scale=1.0, delays=None):
    weights = [rng.normal(0.35 * scale, 0.6 * scale, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    return es.Network.feedforward(sizes, neuron=neurons, weights=weights, delays=delays)


def _inputs(rng, n_in, n_samples, t_max=40.0):
    batch = []
    for b in range(n_samples):
        n = int(rng.integers(0, 60)) if b % 5 else 0  # every fifth sample is empty
        batch.append(es.SpikeTrains(np.sort(rng.uniform(0, t_max, n)), rng.integers(0, n_in, n), n_in, sort=True))
    return batch


def _spikes(records):
    return [a for r in records for layer in r.layers for a in (layer.times, layer.neurons)]


def _same(a, b):
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))


def _networks(rng):
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    return {
        "two layers": _layered(rng, [12, 20, 4], lif, scale=1.2),
        "three layers, refractory, delays": _layered(rng, [10, 16, 8, 3], [es.LIF(refractory=1.0), lif,
                                                                            es.LIF(tau_mem=8.0, tau_syn=2.0)],
                                                     scale=1.3, delays=[0.0, 1.5, 0.25]),
        "bias": _layered(rng, [8, 12, 3], [es.LIF(bias=0.6, tau_mem=10.0, tau_syn=5.0), lif], scale=1.0),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("engine", ["feedforward", "general"])
def test_spikes_and_records_do_not_depend_on_threads(seed, engine):
    rng = np.random.default_rng(seed)
    for name, net in _networks(rng).items():
        n_in = net.populations[net.input_names[0]].size
        batch = _inputs(rng, n_in, 11)
        runs = [es.simulate(net, batch, 40.0, engine=engine, n_threads=t) for t in THREADS]
        assert sum(len(layer) for r in runs[0] for layer in r.layers) > 50, name
        for records in runs[1:]:
            assert _same(_spikes(runs[0]), _spikes(records)), name
            for one, other in zip(runs[0], records):
                assert other.layer_names == one.layer_names and other.t_max == one.t_max
                assert all(other.inputs[k] is one.inputs[k] for k in one.inputs)
                assert all(layer.n_neurons == ref.n_neurons for layer, ref in zip(other.layers, one.layers))
                assert [c.weights.tolist() for c in other.network.connections] == \
                    [c.weights.tolist() for c in net.connections]
                # the analytic trajectory a record gives is that of the one-thread record
                assert np.array_equal(other.membrane_potential(0, 1, [5.0, 20.0, 39.0]),
                                      one.membrane_potential(0, 1, [5.0, 20.0, 39.0]))


def test_a_spike_batch_gives_the_same_records_as_a_list():
    rng = np.random.default_rng(4)
    net = _networks(rng)["two layers"]
    batch = _inputs(rng, 12, 9)
    flat = es.SpikeBatch.from_list(batch)
    one = es.simulate(net, batch, 40.0, n_threads=1)
    assert _same(_spikes(es.simulate(net, flat, 40.0, n_threads=3)), _spikes(one))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("method", ["timing", "activation", "antlr", "na"])
def test_gradients_of_every_method_do_not_depend_on_threads(seed, method):
    rng = np.random.default_rng(10 + seed)
    for name, net in _networks(rng).items():
        n_in = net.populations[net.input_names[0]].size
        records = es.simulate(net, _inputs(rng, n_in, 10), 40.0, n_threads=1)
        n_out = net.populations[net.layer_names[-1]].size
        target = es.SpikeTrains([10.0, 25.0], [0, n_out - 1], n_out)
        loss = [losses.first_spike_cross_entropy(r, b % n_out) + losses.van_rossum_distance(r, target, tau=5.0)
                for b, r in enumerate(records)]
        arg = [l.cotangents for l in loss] if method == "timing" else loss
        grads = [es.vjp(net, records, arg, method=method, n_threads=t) for t in THREADS]
        assert max(np.abs(g).max() for g in grads[0].weights) > 0, name
        for g in grads[1:]:
            assert _same(grads[0].weights, g.weights), (name, method)
            assert g.biases == grads[0].biases and g.n_near_grazing == grads[0].n_near_grazing, (name, method)
            assert all(np.array_equal(a, b) for a, b in zip(g.delays, grads[0].delays)), (name, method)


def test_timing_gradients_of_a_general_network_do_not_depend_on_threads():
    rng = np.random.default_rng(7)
    net = es.Network()
    net.add_input("in", 6)
    net.add_population("h", 10, es.LIF(tau_mem=10.0, tau_syn=5.0, refractory=0.5))
    net.connect("in", "h", rng.normal(0.6, 0.6, (6, 10)))
    net.connect("h", "h", rng.normal(0.0, 0.3, (10, 10)), delays=rng.uniform(0.5, 2.0, (10, 10)))
    records = es.simulate(net, _inputs(rng, 6, 8), 40.0, n_threads=1)
    cotangents = [[rng.normal(size=len(layer)) for layer in r.layers] for r in records]
    grads = [es.vjp(net, records, cotangents, n_threads=t) for t in THREADS]
    for g in grads[1:]:
        assert _same(grads[0].weights, g.weights) and g.biases == grads[0].biases
        assert all(np.array_equal(a, b) for a, b in zip(g.delays, grads[0].delays))


def _tonic():
    """Every neuron fires tonically from its bias: ~25 spikes per neuron in 100 ms, whatever the input."""
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0, bias=1.5)
    return es.Network.feedforward([2, 6, 3], neuron=lif, weights=[np.zeros((2, 6)), np.full((6, 3), 0.01)])


def _error(**kwargs):
    try:
        es.simulate(**kwargs)
    except es.SpikeLimitError as error:
        return str(error)
    return None


@pytest.mark.parametrize("caps", [
    {"max_spikes_per_neuron": 5},
    {"max_spikes_per_sample": 50},
    {"max_spikes_per_batch": 700},
    {"max_spikes_per_batch": 1},
])
def test_caps_raise_the_one_thread_error(caps):
    """The one-thread run stops at the first sample (and layer) that breaks a cap; several threads run later samples
    too but must report the same sample, layer and count."""
    net = _tonic()
    batch = [es.SpikeTrains([], [], 2)] * 9
    messages = [_error(net=net, inputs=batch, t_max=100.0, n_threads=t, **caps) for t in THREADS]
    assert messages[0] is not None and "sample" in messages[0]
    assert messages[1:] == messages[:1] * (len(THREADS) - 1)


def test_the_first_failing_sample_in_order_is_reported():
    """A sample that breaks the per-neuron cap in the second layer comes before one that breaks it in the first
    layer: one thread reports the earlier sample; so must several (which run layer by layer)."""
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    net = es.Network.feedforward([1, 1, 1], neuron=lif, weights=[np.array([[3.0]]), np.array([[60.0]])])
    few = es.SpikeTrains([5.0, 20.0], [0, 0], 1)  # hidden fires twice, output more often (huge weight)
    many = es.SpikeTrains(np.arange(0.0, 40.0, 2.0), np.zeros(20, dtype=np.int64), 1)
    batch = [es.SpikeTrains([], [], 1)] * 3 + [few] + [es.SpikeTrains([], [], 1)] * 3 + [many] * 3
    one = _error(net=net, inputs=batch, t_max=50.0, n_threads=1, max_spikes_per_neuron=2)
    assert one is not None and "sample 3" in one
    for t in THREADS[1:]:
        assert _error(net=net, inputs=batch, t_max=50.0, n_threads=t, max_spikes_per_neuron=2) == one


def test_time_budget_stops_every_thread():
    rng = np.random.default_rng(5)
    net = _layered(rng, [20, 300, 10], es.LIF(tau_mem=10.0, tau_syn=5.0), scale=1.0)
    batch = _inputs(rng, 20, 2, t_max=100.0) * 40
    es.simulate(net, batch[:2], 100.0, n_threads=2)  # compiled before the budget starts
    with pytest.raises(es.SpikeLimitError, match=r"exceeded time_budget=1e-06 s before population 'layer1', "
                                                 r"sample 0"):
        es.simulate(net, batch, 100.0, n_threads=2, time_budget=1e-6)


def test_validation_errors_do_not_depend_on_threads():
    net = _networks(np.random.default_rng(0))["two layers"]
    bad = [es.SpikeTrains([1.0], [0], 12), es.SpikeTrains([1.0], [0], 11)]
    messages = []
    for t in THREADS:
        with pytest.raises(ValueError) as info:
            es.simulate(net, bad, 40.0, n_threads=t)
        messages.append(str(info.value))
    assert "inputs[1]" in messages[0] and messages == messages[:1] * len(THREADS)


@pytest.mark.parametrize("n_samples, n_threads", [(1, 2), (2, 3), (10, 2), (64, 2), (1000, 3), (5, 8)])
def test_sample_ranges_cover_the_batch_in_order(n_samples, n_threads):
    ranges = sample_ranges(n_samples, n_threads)
    assert ranges[0][0] == 0 and ranges[-1][1] == n_samples
    assert all(hi > lo for lo, hi in ranges)
    assert all(a[1] == b[0] for a, b in zip(ranges[:-1], ranges[1:]))
    sizes = [hi - lo for lo, hi in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_vjp_starts_no_more_threads_than_the_batch_has_samples():
    # the layered timing adjoint split its batch and the weight columns into n_threads parts whatever their size:
    # n_threads=1000 started about a thousand threads for three samples (a million: 57 s and 2 GB)
    import threading

    from eventsnn import _pool
    rng = np.random.default_rng(5)
    net = _layered(rng, [6, 8, 3], es.LIF(tau_mem=10.0, tau_syn=5.0), scale=3.0)
    records = es.simulate(net, _inputs(rng, 6, 4)[1:], 40.0, n_threads=1)
    cotangents = [[np.ones(len(layer)) for layer in r.layers] for r in records]
    reference = es.vjp(net, records, cotangents, n_threads=3)
    started = []
    real_start = threading.Thread.start

    def counting_start(thread):
        started.append(thread.name)
        return real_start(thread)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threading.Thread, "start", counting_start)
        patch.setattr(_pool, "_POOLS", {})  # fresh pools: every thread the call uses is started now
        many = es.vjp(net, records, cotangents, n_threads=1000)
    assert len(started) <= len(records)
    assert all(np.array_equal(a, b) for a, b in zip(many.weights, reference.weights))
    assert many.biases == reference.biases and many.delays == reference.delays
