"""Each loss's cotangent equals the finite difference of its value in the spike times (float64)."""

import numpy as np
import pytest

import eventsnn as es
from eventsnn import losses
from eventsnn.record import Record


def _record(rng, n_hidden=4, n_out=3, spikes_per_neuron=3, t_max=50.0):
    """A Record with random, distinct spike times (the losses only read spikes and t_max)."""
    net = es.Network.feedforward([2, n_hidden, n_out], neuron=es.LIF(),
                                 weights=[np.zeros((2, n_hidden)), np.zeros((n_hidden, n_out))])
    layers = []
    for n in (n_hidden, n_out):
        counts = rng.integers(1, spikes_per_neuron + 1, n)
        times = rng.uniform(1.0, t_max - 1.0, counts.sum())
        layers.append(es.SpikeTrains(times, np.repeat(np.arange(n), counts), n, sort=True))
    return Record(layers, {"input": es.SpikeTrains([], [], 2)}, t_max, net)


def _with_times(rec, k, times):
    layers = list(rec.layers)
    layers[k] = es.SpikeTrains.__new__(es.SpikeTrains)
    layers[k].times, layers[k].neurons, layers[k].n_neurons = times, rec.layers[k].neurons, rec.layers[k].n_neurons
    return Record(layers, rec.inputs, rec.t_max, rec.network)


def _check_fd(rec, loss_fn, h=1e-6, rtol=1e-6):
    result = loss_fn(rec)
    checked = 0
    for k, layer in enumerate(rec.layers):
        for m in range(len(layer)):
            plus, minus = layer.times.copy(), layer.times.copy()
            plus[m] += h
            minus[m] -= h
            fd = (loss_fn(_with_times(rec, k, plus)).value - loss_fn(_with_times(rec, k, minus)).value) / (2 * h)
            analytic = result.cotangents[k][m]
            # central differences of smooth functions with O(1) values: error ~ h^2 + eps/h ~ 1e-10
            assert abs(fd - analytic) <= rtol * max(abs(fd), abs(analytic)) + 1e-8, (k, m, fd, analytic)
            checked += 1
    assert checked > 0
    return result


@pytest.mark.parametrize("seed", range(5))
def test_first_spike_cross_entropy_cotangent(seed):
    rng = np.random.default_rng(seed)
    rec = _record(rng)
    result = _check_fd(rec, lambda r: losses.first_spike_cross_entropy(r, 1, tau=3.0, early_weight=0.1, early_tau=10.0))
    # only first spikes of the output layer carry a cotangent
    first = losses.first_spike_indices(rec.layers[-1])
    nonzero = np.flatnonzero(result.cotangents[-1])
    assert set(nonzero) <= set(first.tolist())
    assert not np.any(result.cotangents[0])


@pytest.mark.parametrize("seed", range(5))
def test_latency_cross_entropy_cotangent(seed):
    """ANTLR's latency loss: FD in the spike times; logits beta (t_run - t_first), silent = 0."""
    rng = np.random.default_rng(seed)
    rec = _record(rng)
    result = _check_fd(rec, lambda r: losses.latency_cross_entropy(r, 2, beta=0.3))
    t_first = np.array([rec.layers[-1].times[rec.layers[-1].neurons == j].min() for j in range(3)])
    logits = 0.3 * (rec.t_max - t_first)
    assert result.value == pytest.approx(np.log(np.exp(logits).sum()) - logits[2], rel=1e-12)
    assert set(np.flatnonzero(result.cotangents[-1])) <= set(losses.first_spike_indices(rec.layers[-1]).tolist())


def test_latency_cross_entropy_silent_neurons_and_no_spike_penalty():
    rng = np.random.default_rng(11)
    rec = _record(rng)
    out = rec.layers[-1]
    keep = out.neurons != 1  # output neuron 1 silent
    silent_rec = Record([rec.layers[0], es.SpikeTrains(out.times[keep], out.neurons[keep], 3)], rec.inputs,
                        rec.t_max, rec.network)
    t0 = silent_rec.layers[-1].times[silent_rec.layers[-1].neurons == 0].min()
    t2 = silent_rec.layers[-1].times[silent_rec.layers[-1].neurons == 2].min()
    logits = np.array([0.5 * (50.0 - t0), 0.0, 0.5 * (50.0 - t2)])
    lse = np.log(np.exp(logits).sum())
    # a silent non-label neuron: logit 0, no penalty, no creation signal
    r0 = _check_fd(silent_rec, lambda r: losses.latency_cross_entropy(r, 0, beta=0.5, lambda_nospike=0.1))
    assert r0.value == pytest.approx(lse - logits[0], rel=1e-12)
    assert r0.creation_terms[-1] is None
    # the silent neuron is the label: value + lambda_nospike, creation cotangent -lambda at every time, label only
    r1 = _check_fd(silent_rec, lambda r: losses.latency_cross_entropy(r, 1, beta=0.5, lambda_nospike=0.1))
    assert r1.value == pytest.approx(lse - 0.0 + 0.1, rel=1e-12)
    push = r1.creation_terms[-1](np.array([0.0, 7.5, 49.0]))
    np.testing.assert_array_equal(push, [[0.0, -0.1, 0.0]] * 3)


@pytest.mark.parametrize("seed", range(5))
def test_van_rossum_cotangent_and_value(seed):
    rng = np.random.default_rng(seed)
    rec = _record(rng)
    target = es.SpikeTrains(rng.uniform(0, 50, 6), rng.integers(0, 3, 6), 3, sort=True)
    result = _check_fd(rec, lambda r: losses.van_rossum_distance(r, target, tau=7.0))
    # value against a direct numerical integral of (f - g)^2 / tau
    t = np.linspace(0.0, 400.0, 400001)
    total = 0.0
    out = rec.layers[-1]
    for j in range(3):
        f = sum(np.exp(-(t - s) / 7.0) * (t >= s) for s in out.times[out.neurons == j])
        g = sum(np.exp(-(t - s) / 7.0) * (t >= s) for s in target.times[target.neurons == j])
        total += np.trapezoid((f - g) ** 2, t) / 7.0
    assert result.value == pytest.approx(total, rel=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_spike_time_mse_cotangent(seed):
    rng = np.random.default_rng(seed)
    rec = _record(rng)
    target = es.SpikeTrains(rng.uniform(0, 50, 5), rng.integers(0, 3, 5), 3, sort=True)
    result = _check_fd(rec, lambda r: losses.spike_time_mse(r, target, missing_penalty=0.5))
    # unpaired spikes show up as count cotangents
    diff = rec.layers[-1].counts() - target.counts()
    assert np.array_equal(result.count_cotangents[-1], 0.5 * np.sign(diff))


def test_count_losses_have_count_cotangents_only(rng):
    rec = _record(rng)
    ce = losses.spike_count_cross_entropy(rec, 2, scale=0.5)
    counts = rec.layers[-1].counts()
    p = np.exp(0.5 * counts) / np.exp(0.5 * counts).sum()
    assert ce.value == pytest.approx(-np.log(p[2]))
    assert np.allclose(ce.count_cotangents[-1], 0.5 * (p - np.eye(3)[2]))
    assert all(not np.any(c) for c in ce.cotangents)
    mse = losses.spike_count_mse(rec, np.ones(3))
    assert np.allclose(mse.count_cotangents[-1], counts - 1)
    reg = losses.spike_count_regularizer(rec, strength=0.1)
    assert reg.value == pytest.approx(0.1 * sum(len(l) for l in rec.layers))


def test_silent_output_gets_no_timing_gradient_but_is_reported(rng):
    rec = _record(rng)
    out = rec.layers[-1]
    keep = out.neurons != 1
    silent = _with_times(rec, 1, out.times)
    silent.layers[1] = es.SpikeTrains(out.times[keep], out.neurons[keep], 3)
    result = losses.first_spike_cross_entropy(silent, 1)
    assert result.silent.tolist() == [False, True, False]
    assert np.isfinite(result.value)


@pytest.mark.parametrize("bad", [{"tau": 0.0}, {"tau": np.nan}, {"early_weight": -1.0}, {"early_tau": 0.0}])
def test_bad_loss_parameters(rng, bad):
    with pytest.raises(ValueError):
        losses.first_spike_cross_entropy(_record(rng), 0, **bad)


def test_bad_label(rng):
    with pytest.raises(ValueError, match="label"):
        losses.first_spike_cross_entropy(_record(rng), 3)


def assert_pairs_match_dense(result, layer, rng, t_max=50.0, n_pairs=300):
    """``creation_cotangent(layer, times, neurons)`` equals the dense matrix at [arange, neurons], on random pairs
    that visit every neuron; returns the dense matrix so that callers can check it is not trivial."""
    n = result.count_cotangents[layer].size
    times = rng.uniform(0.0, t_max, n_pairs)
    neurons = rng.integers(0, n, n_pairs)
    neurons[:n] = np.arange(n)
    dense = result.creation_cotangent(layer, times)
    pairs = result.creation_cotangent(layer, times, neurons)
    assert dense.shape == (n_pairs, n) and pairs.shape == (n_pairs,)
    np.testing.assert_allclose(pairs, dense[np.arange(n_pairs), neurons], rtol=0, atol=1e-12)
    # the per-pair result must not depend on which other pairs are asked in the same call
    np.testing.assert_allclose(result.creation_cotangent(layer, times[::-1], neurons[::-1]), pairs[::-1],
                               rtol=0, atol=1e-12)
    return dense


def _silent_label_latency(rng):
    """Latency loss whose label neuron (0) is silent: its creation term is the no-spike push (asymmetric in
    the neuron index, so that a mixed-up index shows)."""
    rec = _record(rng)
    out = rec.layers[-1]
    keep = out.neurons != 0
    silent_rec = Record([rec.layers[0], es.SpikeTrains(out.times[keep], out.neurons[keep], 3)], rec.inputs,
                        rec.t_max, rec.network)
    return silent_rec, losses.latency_cross_entropy(silent_rec, 0, beta=0.5, lambda_nospike=0.1)


@pytest.mark.parametrize("seed", range(3))
def test_creation_cotangent_per_pair_latency_silent_label(seed, rng):
    _, result = _silent_label_latency(rng)
    dense = assert_pairs_match_dense(result, -1, rng)
    np.testing.assert_array_equal(np.unique(dense), [-0.1, 0.0])


@pytest.mark.parametrize("seed", range(3))
def test_creation_cotangent_per_pair_van_rossum(seed, rng):
    rec = _record(rng)
    # neuron 2 has no target spikes, neuron 0 has several: both branches of the per-neuron sum
    target = es.SpikeTrains(rng.uniform(0, 50, 6), np.array([0, 0, 0, 1, 1, 0]), 3, sort=True)
    result = losses.van_rossum_distance(rec, target, tau=7.0)
    dense = assert_pairs_match_dense(result, -1, rng)
    assert np.ptp(dense, axis=1).min() > 0.0  # the neurons differ at every time: a wrong neuron would show
    # the hidden layer has no creation term: count cotangents (zeros) only
    assert_pairs_match_dense(result, 0, rng)


@pytest.mark.parametrize("seed", range(3))
def test_creation_cotangent_per_pair_of_sums_and_scaled(seed, rng):
    rec, latency = _silent_label_latency(rng)
    target = es.SpikeTrains(rng.uniform(0, 50, 4), rng.integers(0, 3, 4), 3, sort=True)
    total = (latency + losses.van_rossum_distance(rec, target, tau=5.0)
             + losses.spike_count_cross_entropy(rec, 2, scale=0.3))  # count cotangents differ per neuron
    for result in (total, total.scaled(-2.5), latency.scaled(3.0)):
        assert_pairs_match_dense(result, -1, rng)
    # scaling acts on the per-pair value exactly as on the dense one
    times, neurons = rng.uniform(0.0, 50.0, 20), rng.integers(0, 3, 20)
    np.testing.assert_allclose(total.scaled(-2.5).creation_cotangent(-1, times, neurons),
                               -2.5 * total.creation_cotangent(-1, times, neurons), rtol=1e-15, atol=0)


@pytest.mark.parametrize("neurons, message", [
    (np.array([0, 1]), "must hold 3 entries"),
    (np.array([0, 1, 3]), "outside the valid range"),
    (np.array([0, -1, 2]), "outside the valid range"),
    (np.array([[0, 1, 2]]), "1-dimensional"),
])
def test_creation_cotangent_rejects_bad_neurons(neurons, message):
    rec, result = _silent_label_latency(np.random.default_rng(5))
    target = es.SpikeTrains([5.0], [0], 3)
    for loss in (result, result + losses.van_rossum_distance(rec, target)):
        with pytest.raises(ValueError, match=message):
            loss.creation_cotangent(-1, np.array([1.0, 2.0, 3.0]), neurons)
    with pytest.raises(ValueError, match="times must be 1-dimensional"):
        result.creation_cotangent(-1, np.ones((3, 1)), np.array([0, 1, 2]))


def test_classification_loss_table_matches_the_loss_functions():
    """Every entry of losses.CLASSIFICATION_LOSSES trains, evaluates and predicts with the function its name says,
    and the trainer's names are the table's keys."""
    from eventsnn.training import LOSSES, TrainConfig
    assert LOSSES == tuple(losses.CLASSIFICATION_LOSSES) == ("first_spike", "latency", "count", "vmax")
    rec = _record(np.random.default_rng(3))
    cfg = TrainConfig(softmax_tau=0.7, early_weight=0.2, early_tau=8.0, latency_beta=0.3, lambda_nospike=0.4)
    table = losses.CLASSIFICATION_LOSSES
    assert table["first_spike"].train(rec, 1, cfg, None).value == losses.first_spike_cross_entropy(
        rec, 1, tau=0.7, early_weight=0.2, early_tau=8.0).value
    assert table["latency"].train(rec, 2, cfg, None).value == losses.latency_cross_entropy(
        rec, 2, beta=0.3, lambda_nospike=0.4).value
    assert table["count"].train(rec, 0, cfg, None).value == losses.spike_count_mse(rec, np.array([1.0, 0.0, 0.0])).value
    assert table["first_spike"].evaluate(rec, 1, 0.7, 0.3, None) == (
        losses.first_spike_cross_entropy(rec, 1, tau=0.7).value, None)
    assert table["latency"].evaluate(rec, 2, 0.7, 0.3, None)[0] == losses.latency_cross_entropy(
        rec, 2, beta=0.3, lambda_nospike=0.0).value
    out = rec.layers[-1]
    assert table["first_spike"].predict(rec, None) == table["latency"].predict(rec, None) == int(out.neurons[0])
    assert table["count"].predict(rec, None) == int(np.argmax(out.counts())) or \
        out.counts()[table["count"].predict(rec, None)] == out.counts().max()
    assert table["vmax"].predict(rec, np.array([0.1, 2.0, -1.0])) == 1
    with pytest.raises(ValueError, match="loss='vmax' needs the readout"):
        table["vmax"].evaluate(rec, 0, 0.7, 0.3, None)
    assert [k for k, v in table.items() if v.readout] == ["vmax"]
    assert [k for k, v in table.items() if not v.silent_remedy] == ["count"]


def test_adding_losses_of_networks_with_different_layer_counts_is_refused():
    # zip dropped the layers one of the two lacked: the sum of a one-layer and a two-layer loss had one layer
    one = losses.LossResult(1.0, [np.ones(2)], [np.zeros(3)])
    two = losses.LossResult(2.0, [np.ones(2), np.ones(4)], [np.zeros(3), np.zeros(5)])
    with pytest.raises(ValueError, match="cannot add losses over 1 and 2 layers"):
        one + two
    with pytest.raises(ValueError, match="different networks"):
        two + losses.LossResult(0.0, [np.ones(2), np.ones(4)], [np.zeros(3)])
    total = two + two
    assert total.value == 4.0 and [c.tolist() for c in total.cotangents] == [[2.0, 2.0], [2.0] * 4]
