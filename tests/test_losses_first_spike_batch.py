"""The batch first-spike loss (``losses.first_spike_cross_entropy_batch``) equals the per-sample loss bit for bit, on
every kind of output (silent neurons, a silent label neuron, a silent layer, one record), and refuses bad input with
the per-sample message, naming the record, before any loss is computed."""

import numpy as np
import pytest
import eventsnn as es
from eventsnn import losses
from eventsnn._kernels import classify
from eventsnn.losses import CLASSIFICATION_LOSSES, first_spike_cross_entropy, first_spike_cross_entropy_batch
from eventsnn.training import TrainConfig

NEURONS = [es.LIF(tau_mem=10.0, tau_syn=5.0), es.LIF(tau_mem=5.0, tau_syn=5.0),
           es.LIF(tau_mem=20.0, tau_syn=5.0, bias=0.3)]


def _batch(rng, n_samples=12, n_in=5, n_out=6, neuron=NEURONS[0], t_max=40.0):
    """Records of 5 -> 4 -> 6 with inhibitory weights: every fourth sample has no input (a silent output layer); in
    the others some outputs fire more than once and some stay silent (the last one always: inhibited)."""
    w_out = rng.normal(1.5, 1.5, (4, n_out))
    w_out[:, -1] = -1.0
    net = es.Network.feedforward([n_in, 4, n_out], neuron, [rng.normal(2.5, 1.5, (n_in, 4)), w_out])
    inputs = []
    for b in range(n_samples):
        n = 0 if b % 4 == 1 else int(rng.integers(3, 14))
        inputs.append(es.SpikeTrains(np.sort(rng.uniform(0.0, 25.0, n)), rng.integers(0, n_in, n), n_in))
    records = es.simulate(net, inputs, t_max, n_threads=1)
    labels = [int(y) for y in rng.integers(0, n_out, n_samples)]
    return records, labels


def _assert_same(batch, single):
    assert type(batch.value) is type(single.value) and batch.value == single.value
    for a, b in zip(batch.cotangents + batch.count_cotangents, single.cotangents + single.count_cotangents,
                    strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    assert batch.silent.dtype == single.silent.dtype and np.array_equal(batch.silent, single.silent)
    assert batch.extra == single.extra and batch.creation_terms is None and single.creation_terms is None
    assert batch.readout_gradient is None and single.readout_gradient is None


OPTIONS = [dict(), dict(tau=10.0, silent_time=50.0), dict(tau=2.5, early_weight=0.7, early_tau=15.0),
           dict(tau=7.0, silent_time=12.5, early_weight=0.05, early_tau=3.0)]


@pytest.mark.parametrize("seed", range(8))
def test_batch_equals_per_sample_bit_for_bit(seed, rng, monkeypatch):
    records, labels = _batch(rng, neuron=NEURONS[seed % len(NEURONS)])
    options = OPTIONS[seed % len(OPTIONS)]
    layer = [-1, "layer2", 1][seed % 3]
    outputs = [r.layers[1] for r in records]
    assert any(len(s) == 0 for s in outputs) and any(len(s) > len(np.unique(s.neurons)) for s in outputs)
    assert any(0 < len(np.unique(s.neurons)) < 6 for s in outputs)  # some outputs silent, others not
    with monkeypatch.context() as patch:  # valid records never take the per-sample path
        patch.setattr(losses, "first_spike_cross_entropy", None)
        batch = first_spike_cross_entropy_batch(records, labels, layer=layer, **options)
    assert len(batch) == len(records)
    for loss, rec, label in zip(batch, records, labels):
        _assert_same(loss, first_spike_cross_entropy(rec, label, layer=layer, **options))


def test_label_neurons_silent_all_silent_and_one_record(rng):
    records, labels = _batch(rng)
    silent_label = [int(np.setdiff1d(np.arange(6), r.layers[1].neurons)[0]) if len(np.unique(r.layers[1].neurons)) < 6
                    else 0 for r in records]
    silent = [r for r in records if not len(r.layers[1])]
    assert silent and sum(y not in r.layers[1].neurons for r, y in zip(records, silent_label)) > len(silent)
    for rec_list, label_list in [(records, silent_label), (silent, [2] * len(silent)), (records[:1], labels[:1])]:
        for options in OPTIONS:
            batch = first_spike_cross_entropy_batch(rec_list, label_list, **options)
            for loss, rec, label in zip(batch, rec_list, label_list, strict=True):
                single = first_spike_cross_entropy(rec, label, **options)
                _assert_same(loss, single)
                assert loss.silent[label] == (label not in rec.layers[1].neurons)


def test_labels_as_an_int64_array_and_the_first_layer(rng):
    records, labels = _batch(rng)
    got = first_spike_cross_entropy_batch(records, np.array(labels) % 4, layer=0, tau=3.0)
    for loss, rec, label in zip(got, records, labels):
        _assert_same(loss, first_spike_cross_entropy(rec, label % 4, layer=0, tau=3.0))


def test_other_records_and_labels_take_the_per_sample_path(rng):
    """Labels of other integer types, a t_max that is not a float: not the batch kernel, still the same numbers."""
    records, labels = _batch(rng)
    records[3].t_max = 40  # an int window: the per-sample loss takes it as the silent time
    for label_list in (np.array(labels, dtype=np.int32), labels):
        got = first_spike_cross_entropy_batch(records, label_list, tau=4.0)
        for loss, rec, label in zip(got, records, labels):
            _assert_same(loss, first_spike_cross_entropy(rec, label, tau=4.0))


def test_scaled_batch_losses_sum_as_the_per_sample_ones(rng):
    """What a training step does with them: the scaled values and cotangents, and vjp's gradients, are the same."""
    records, labels = _batch(rng)
    net = records[0].network
    batch = [loss.scaled(1 / len(records)) for loss in first_spike_cross_entropy_batch(records, labels, tau=6.0)]
    single = [first_spike_cross_entropy(r, y, tau=6.0).scaled(1 / len(records)) for r, y in zip(records, labels)]
    assert sum(loss.value for loss in batch) == sum(loss.value for loss in single)
    g_batch = es.vjp(net, records, [loss.cotangents for loss in batch], n_threads=1)
    g_single = es.vjp(net, records, [loss.cotangents for loss in single], n_threads=1)
    for a, b in zip(g_batch.weights, g_single.weights, strict=True):
        assert np.array_equal(a, b)


def test_trainer_registry_uses_the_batch_loss(rng, monkeypatch):
    records, labels = _batch(rng)
    kind = CLASSIFICATION_LOSSES["first_spike"]
    config = TrainConfig(softmax_tau=4.0, early_weight=0.3, early_tau=12.0)
    expected = [kind.train(rec, label, config, None) for rec, label in zip(records, labels)]
    with monkeypatch.context() as patch:  # the trainer's step goes through the batch kernel
        patch.setattr(losses, "first_spike_cross_entropy", None)
        got = kind.train_all(records, labels, config, None)
    for loss, single in zip(got, expected, strict=True):
        _assert_same(loss, single)


def _replace_layer(rec, k, **arrays):
    layer = rec.layers[k]
    fields = {"times": layer.times, "neurons": layer.neurons, **arrays}
    rec.layers[k] = es.SpikeTrains._trusted(fields["times"], fields["neurons"], layer.n_neurons)


def _refusing_kernels(monkeypatch) -> list:
    """Make the loss kernels fail if called; the returned list names the ones that were."""
    calls = []
    for name in ("first_spike_index", "softmax_cross_entropy", "first_spike_cross_entropy",
                 "first_spike_cross_entropy_batch"):
        def refuse(*args, _name=name):
            calls.append(_name)
            raise AssertionError(f"kernel {_name} was called: the bad input was not refused before any work")
        monkeypatch.setattr(classify, name, refuse)
    return calls


def _break(case, records, labels):
    """Break a sample after the third with two or more output spikes (or an argument); returns its index and the
    keyword arguments of the call."""
    b = next(b for b in range(3, len(records)) if len(records[b].layers[1]) > 1)
    if case == "neuron-out-of-range":
        _replace_layer(records[b], 1, neurons=np.full(records[b].layers[1].times.size, 6))
    elif case == "neuron-dtype":
        _replace_layer(records[b], 1, neurons=records[b].layers[1].neurons.astype(np.float64))
    elif case == "unsorted":
        _replace_layer(records[b], 1, times=records[b].layers[1].times[::-1].copy())
    elif case == "negative-time":
        _replace_layer(records[b], 1, times=records[b].layers[1].times - 100.0)
    elif case == "label-range":
        labels[b] = 6
    elif case == "label-negative":
        labels[b] = -1
    elif case == "label-float":
        labels[b] = 1.0
    elif case == "label-bool":
        labels[b] = True
    elif case == "not-a-record":
        records[b] = records[b].layers
    elif case == "layers-not-a-list":
        records[b].layers = tuple(records[b].layers)
    return b, {"layer": {"layer-name": "hidden", "layer-index": 2, "layer-type": 1.0}.get(case, -1)}


RECORD_CASES = ["neuron-out-of-range", "neuron-dtype", "unsorted", "negative-time", "label-range", "label-negative",
                "label-float", "label-bool", "not-a-record", "layers-not-a-list", "layer-name", "layer-index",
                "layer-type"]


@pytest.mark.parametrize("case", RECORD_CASES)
def test_record_errors_are_the_per_sample_errors_naming_the_record(case, rng, monkeypatch):
    records, labels = _batch(rng)
    b, options = _break(case, records, labels)
    first_bad = 0 if case.startswith("layer-") else b  # a bad layer argument fails on the first record
    with pytest.raises((ValueError, TypeError)) as single:
        first_spike_cross_entropy(records[first_bad], labels[first_bad], **options)
    calls = []
    with monkeypatch.context() as patch:  # refused before any loss is computed
        patch.setattr(losses, "first_spike_cross_entropy", lambda *a, **k: calls.append(a))
        with pytest.raises(type(single.value)) as batch:
            first_spike_cross_entropy_batch(records, labels, **options)
    assert str(batch.value) == f"records[{first_bad}]: {single.value}" and not calls


@pytest.mark.parametrize("argument, value, error, message", [
    ("tau", 0.0, ValueError, "tau must be a finite number > 0, got 0.0"),
    ("tau", "5", TypeError, "tau must be a real number, got str '5'"),
    ("silent_time", float("nan"), ValueError, "silent_time must be a finite number, got nan"),
    ("early_weight", -1.0, ValueError, "early_weight must be a finite number >= 0, got -1.0"),
    ("early_tau", float("inf"), ValueError, "early_tau must be a finite number > 0, got inf"),
    ("early_tau", True, TypeError, "early_tau must be a real number, got bool True"),
])
def test_argument_errors_before_any_record_is_read(argument, value, error, message, rng, monkeypatch):
    records, labels = _batch(rng, n_samples=3)
    calls = _refusing_kernels(monkeypatch)
    with pytest.raises(error) as single:
        first_spike_cross_entropy(records[0], labels[0], **{argument: value})
    with pytest.raises(error) as batch:
        first_spike_cross_entropy_batch([None], [None], **{argument: value})  # the records are not even looked at
    assert str(batch.value) == str(single.value) == message and not calls


def test_bad_records_reach_no_kernel(rng, monkeypatch):
    records, labels = _batch(rng)
    b, _ = _break("unsorted", records, labels)
    calls = _refusing_kernels(monkeypatch)
    with pytest.raises(ValueError, match=rf"^records\[{b}\]: rec.layers\[1\]"):
        first_spike_cross_entropy_batch(records, labels)
    assert not calls


def test_records_and_labels_must_pair_up(rng):
    records, labels = _batch(rng)
    with pytest.raises(ValueError, match="got 12 records but 11 labels"):
        first_spike_cross_entropy_batch(records, labels[:-1])
    assert first_spike_cross_entropy_batch([], []) == []


def test_an_overflowing_early_spike_term_is_inf_on_both_paths(rng):
    # exp(t_label / early_tau) beyond float64: the per-sample loss raised "OverflowError: math range error" (so did
    # the batch loss on its per-sample path, e.g. for int32 labels) while the batch kernel gave inf
    records, labels = _batch(rng)
    options = dict(tau=2.0, early_weight=0.1, early_tau=0.004)  # t_label >= 2.8 ms: exponent above 709
    batch = first_spike_cross_entropy_batch(records, labels, **options)
    per_sample_path = first_spike_cross_entropy_batch(records, [np.int32(y) for y in labels], **options)
    for rec, label, fast, slow in zip(records, labels, batch, per_sample_path, strict=True):
        single = first_spike_cross_entropy(rec, label, **options)
        assert single.value == np.inf
        _assert_same(fast, single)
        _assert_same(slow, single)
