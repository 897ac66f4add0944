"""The batch-level read-out loss (``losses.vmax_cross_entropy_batch``) equals the per-sample loss bit for bit, and
raises the per-sample loss's error, for the first bad sample in order."""

import numpy as np
import pytest

import eventsnn as es
from eventsnn import losses
from eventsnn.losses import CLASSIFICATION_LOSSES, vmax_cross_entropy, vmax_cross_entropy_batch
from eventsnn.readout import LIReadout

NEURONS = [es.LIF(tau_mem=10.0, tau_syn=5.0), es.LIF(tau_mem=5.0, tau_syn=5.0), es.LIF(tau_mem=20.0, tau_syn=5.0,
                                                                                        bias=0.3)]


def _batch(rng, n_samples=12, n_in=5, n_hidden=7, n_classes=4, neuron=NEURONS[0]):
    """Records of a two-layer network (5 -> 4 -> 7) with a read-out on its last layer; some samples have no input
    spikes at all (silent layers) and the layers have inhibitory weights (kink maxima)."""
    net = es.Network.feedforward([n_in, 4, n_hidden], neuron, [rng.normal(2.0, 1.5, (n_in, 4)),
                                                               rng.normal(2.0, 1.5, (4, n_hidden))])
    inputs = []
    for b in range(n_samples):
        n = 0 if b % 4 == 1 else int(rng.integers(1, 12))
        inputs.append(es.SpikeTrains(np.sort(rng.uniform(0.0, 25.0, n)), rng.integers(0, n_in, n), n_in))
    records = es.simulate(net, inputs, 40.0, n_threads=1)
    readout = LIReadout(rng.normal(0.0, 1.0, (n_hidden, n_classes)), neuron)
    labels = [int(y) for y in rng.integers(0, n_classes, n_samples)]
    return records, readout, labels


def _assert_same(batch, single, rng):
    assert type(batch.value) is type(single.value) and batch.value == single.value
    for a, b in zip(batch.cotangents + batch.count_cotangents, single.cotangents + single.count_cotangents,
                    strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    assert np.array_equal(batch.silent, single.silent) and batch.silent.dtype == single.silent.dtype
    assert np.array_equal(batch.extra["v_max"], single.extra["v_max"]) and set(batch.extra) == set(single.extra)
    assert np.array_equal(batch.readout_gradient, single.readout_gradient)
    assert batch.readout_gradient.shape == single.readout_gradient.shape
    query = np.sort(rng.uniform(0.0, 40.0, 9))
    for term_b, term_s in zip(batch.creation_terms, single.creation_terms, strict=True):
        assert (term_b is None) == (term_s is None)
        if term_b is not None:
            assert np.array_equal(term_b(query), term_s(query))
            neurons = rng.integers(0, 7, query.size)
            assert np.array_equal(term_b(query, neurons), term_s(query, neurons))


@pytest.mark.parametrize("seed", range(6))
def test_batch_equals_per_sample_bit_for_bit(seed, rng, monkeypatch):
    records, readout, labels = _batch(rng, neuron=NEURONS[seed % len(NEURONS)])
    layer = -1 if seed % 2 else "layer2"
    with monkeypatch.context() as patch:  # valid records never take the per-sample path
        patch.setattr(losses, "vmax_cross_entropy", None)
        batch = vmax_cross_entropy_batch(records, readout, labels, layer=layer)
    assert any(len(r.layers[1]) == 0 for r in records) and any(len(r.layers[1]) > 3 for r in records)
    assert len(batch) == len(records)
    for loss, rec, label in zip(batch, records, labels):
        _assert_same(loss, vmax_cross_entropy(rec, readout, label, layer=layer), rng)


def test_batch_of_scaled_losses_is_what_the_trainer_used_to_sum(rng):
    """The trainer scales each sample's loss and sums the read-out gradients in sample order: the same sums."""
    records, readout, labels = _batch(rng)
    batch = [loss.scaled(1 / len(records)) for loss in vmax_cross_entropy_batch(records, readout, labels)]
    single = [vmax_cross_entropy(r, readout, y).scaled(1 / len(records)) for r, y in zip(records, labels)]
    assert np.array_equal(sum(loss.readout_gradient for loss in batch), sum(loss.readout_gradient for loss in single))
    assert sum(loss.value for loss in batch) == sum(loss.value for loss in single)


def test_trainer_registry_uses_the_batch_loss(rng):
    records, readout, labels = _batch(rng)
    kind = CLASSIFICATION_LOSSES["vmax"]
    assert kind.train_batch is not None
    got = kind.train_all(records, labels, None, readout)
    for loss, rec, label in zip(got, records, labels):
        _assert_same(loss, kind.train(rec, label, None, readout), rng)
    # a loss without a batch form is trained sample by sample
    latency = CLASSIFICATION_LOSSES["latency"]
    assert latency.train_batch is None


def _replace_layer(rec, k, **arrays):
    layer = rec.layers[k]
    fields = {"times": layer.times, "neurons": layer.neurons, **arrays}
    rec.layers[k] = es.SpikeTrains._trusted(fields["times"], fields["neurons"], layer.n_neurons)


@pytest.mark.parametrize("case", ["neuron-out-of-range", "unsorted", "label", "label-type", "readout-nan",
                                  "readout-type", "t_max", "layer"])
def test_errors_are_the_per_sample_errors(case, rng):
    records, readout, labels = _batch(rng)
    layer = -1 if case != "layer" else 5
    if case == "neuron-out-of-range":
        b = next(b for b, r in enumerate(records) if b > 2 and len(r.layers[1]))
        neurons = records[b].layers[1].neurons.copy()
        neurons[-1] = 7
        _replace_layer(records[b], 1, neurons=neurons)
    elif case == "unsorted":
        b = next(b for b, r in enumerate(records) if b > 2 and len(r.layers[1]) > 1)
        _replace_layer(records[b], 1, times=records[b].layers[1].times[::-1].copy())
    elif case == "label":
        labels[5] = 4
    elif case == "label-type":
        labels[3] = 1.0
    elif case == "readout-nan":
        readout.weights[2, 1] = np.nan
    elif case == "readout-type":
        readout = np.ones((7, 4))
    elif case == "t_max":
        records[4].t_max = float("inf")
    with pytest.raises((ValueError, TypeError)) as single:
        [vmax_cross_entropy(r, readout, y, layer=layer) for r, y in zip(records, labels)]
    with pytest.raises(type(single.value), match=None) as batch:
        vmax_cross_entropy_batch(records, readout, labels, layer=layer)
    assert str(batch.value) == str(single.value)


def test_records_and_labels_must_pair_up(rng):
    records, readout, labels = _batch(rng)
    with pytest.raises(ValueError, match="got 12 records but 11 labels"):
        vmax_cross_entropy_batch(records, readout, labels[:-1])
    assert vmax_cross_entropy_batch([], readout, []) == []
