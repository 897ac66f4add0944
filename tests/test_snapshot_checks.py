"""The network snapshot of ``simulate``: checked and copied in one pass, and not re-read by ``vjp`` while nobody can
have written into it; any write through the public arrays (or a copy sharing them) is caught as before."""

import copy
import dataclasses
import pickle

import numpy as np
import pytest

import eventsnn as es
from eventsnn import _validation as check
from eventsnn import network as network_module
from eventsnn import tasks, training


def _net(rng, delays=None):
    net = es.Network.feedforward([4, 6, 3], es.LIF(tau_mem=10.0, tau_syn=5.0),
                                 [rng.uniform(1.0, 3.0, (4, 6)), rng.uniform(0.5, 2.0, (6, 3))])
    if delays is not None:
        net.connections[1].delays = delays
    return net


def _inputs():
    return [es.SpikeTrains([1.0, 2.0, 4.0], [0, 1, 3], 4), es.SpikeTrains([0.5, 3.0], [2, 0], 4)]


@pytest.fixture
def value_passes(monkeypatch):
    """The arrays the network checks run their O(synapses) value pass on (by identity), in call order."""
    seen = []
    for name in ("parameter_values", "parameter_copy"):
        def spy(what, array, original=getattr(check, name), **options):
            seen.append(array)
            return original(what, array, **options)

        monkeypatch.setattr(network_module.check, name, spy)
    return seen


def test_vjp_skips_the_value_pass_of_an_untouched_snapshot(rng, value_passes):
    net = _net(rng)
    value_passes.clear()
    records = es.simulate(net, _inputs(), 30.0, n_threads=1)
    snapshot = records[0].network
    # simulate ran the value pass once per array, in the pass that copied it into the snapshot
    assert len(value_passes) == 2
    assert all(a is c._weights for a, c in zip(value_passes, net.connections))
    assert all(not np.shares_memory(a, c._weights) for a, c in zip(value_passes, snapshot.connections))
    value_passes.clear()
    cotangents = [[np.ones(len(layer)) for layer in r.layers] for r in records]
    es.vjp(net, records, cotangents, n_threads=1)
    assert value_passes == []
    # vjp itself read the arrays through the getters: the next call checks them again
    es.vjp(net, records, cotangents, n_threads=1)
    assert len(value_passes) == 2


@pytest.mark.parametrize("hand_out", ["weights-getter", "network-weights", "connection-copy", "pickle", "set-weights"])
def test_arrays_handed_out_are_checked_again(hand_out, rng):
    net = _net(rng)
    rec = es.simulate(net, _inputs()[0], 30.0)
    cotangents = [np.ones(len(layer)) for layer in rec.layers]
    connection = rec.network.connections[1]
    assert connection._values_checked
    if hand_out == "weights-getter":
        weights = connection.weights
    elif hand_out == "network-weights":
        weights = rec.network.weights[1]
    elif hand_out == "connection-copy":  # a shallow copy shares the array with the snapshot
        weights = copy.copy(connection)._weights
    elif hand_out == "pickle":  # pickling reads the arrays too (as copy.deepcopy does)
        pickle.dumps(rec.network)
        weights = connection._weights
    else:
        rec.network.set_weights([w.copy() for w in net.weights])
        weights = connection._weights
    assert not connection._values_checked
    es.vjp(net, rec, cotangents)  # accepted: still finite
    weights[0, 1] = np.nan  # a write after the check, through the array handed out
    with pytest.raises(ValueError, match=r"^weights of layer1->layer2 contains a non-finite value nan at index "
                                         r"\(0, 1\)$"):
        es.vjp(net, rec, cotangents)


def test_a_copy_or_unpickled_snapshot_is_checked(rng, value_passes):
    rec = es.simulate(_net(rng), _inputs()[0], 30.0)
    for other in (copy.deepcopy(rec.network), pickle.loads(pickle.dumps(rec.network)), rec.network.copy()):
        value_passes.clear()
        other.validate_for_simulation()
        assert len(value_passes) == 2


def test_trainer_step_after_a_nan_weight_raises_the_same_error():
    task = tasks.make_task("yinyang", n_train=64, n_test=16, seed=0)
    config = dataclasses.replace(task.config, batch_size=16, n_threads=1, progress=False)
    trainer = training.Trainer(task.net, task.train_inputs, task.train_labels, config=config)
    trainer.train_step(np.arange(16))
    trainer.net.weights[0][2, 3] = np.nan  # written in place, as an optimizer writes
    with pytest.raises(ValueError, match=r"^weights of input->layer1 contains a non-finite value nan at index "
                                         r"\(2, 3\)$"):
        trainer.train_step(np.arange(16, 32))


def test_readout_trainer_step_after_a_nan_readout_weight_raises_the_same_error():
    task = tasks.make_task("mnist", preset="eventprop", n_train=40, n_test=10, seed=0)
    config = dataclasses.replace(task.config, n_threads=2, progress=False)
    trainer = training.Trainer(task.net, task.train_inputs, task.train_labels, config=config, readout=task.readout)
    trainer.train_step(np.arange(5))
    trainer.readout.weights[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"^readout weights contains a non-finite value inf at index \(4, 1\)$"):
        trainer.train_step(np.arange(5, 10))
    trainer.readout.weights[4, 1] = 0.0
    trainer.net.weights[0][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^weights of input->layer1 contains a non-finite value nan at index "
                                         r"\(0, 0\)$"):
        trainer.train_step(np.arange(5, 10))


@pytest.mark.parametrize("kind", ["plain", "per-synapse delays", "subclass", "extra attribute"])
def test_validated_copy_is_a_deep_copy(kind, rng):
    net = _net(rng, delays=rng.uniform(0.0, 2.0, (6, 3)) if kind != "plain" else None)
    if kind == "subclass":
        class Tagged(es.Network):
            pass
        tagged = Tagged()
        tagged.populations, tagged.connections = net.populations, net.connections
        net = tagged
    elif kind == "extra attribute":
        net.note = "kept"
    snapshot = net._validated_copy()
    assert type(snapshot) is type(net) and vars(snapshot).keys() == vars(net).keys()
    assert list(snapshot.populations) == list(net.populations)
    for a, b in zip(snapshot.populations.values(), net.populations.values()):
        assert a is not b and (a.name, a.size, a.neuron) == (b.name, b.size, b.neuron)
    for a, b in zip(snapshot.connections, net.connections, strict=True):
        assert (a.pre, a.post) == (b.pre, b.post)
        assert np.array_equal(a.weights, b.weights) and not np.shares_memory(a.weights, b.weights)
        if a.has_scalar_delay:
            assert a.delays == b.delays
        else:
            assert np.array_equal(a.delays, b.delays) and not np.shares_memory(a.delays, b.delays)
    net.connections[0].weights[0, 0] = 123.0
    assert snapshot.connections[0].weights[0, 0] != 123.0


@pytest.mark.parametrize("case", [
    ("nan weights", lambda net: net.connections[0].weights.__setitem__((1, 2), np.nan), ValueError,
     r"weights of input->layer1 contains a non-finite value nan at index \(1, 2\)"),
    ("negative delays", lambda net: net.connections[1].delays.__setitem__((0, 0), -1.0), ValueError,
     r"delays of layer1->layer2 must be >= 0 ms, got -1.0 at index \(0, 0\)"),
    ("replaced weights", lambda net: setattr(net.connections[1], "_weights", np.ones((6, 3), dtype=np.float32)),
     TypeError, r"weights of layer1->layer2 must be a C-contiguous float64 array, got float32 array"),
    ("resized population", lambda net: setattr(net.populations["layer1"], "size", 5), ValueError,
     r"weights of input->layer1 must have shape \(4, 5\), got \(4, 6\)"),
    ("bad connection", lambda net: net.connections.append("x"), TypeError,
     r"net.connections\[2\] must be an eventsnn.Connection, got str"),
], ids=lambda c: c[0])
def test_validated_copy_raises_what_validation_raises(case, rng):
    _, breaks, exception, message = case
    net = _net(rng, delays=rng.uniform(0.0, 2.0, (6, 3)))
    breaks(net)
    with pytest.raises(exception, match=message):
        net.validate_for_simulation()
    with pytest.raises(exception, match=message):
        net._validated_copy()
    with pytest.raises(exception, match=message):
        es.simulate(net, _inputs(), 30.0, n_threads=1)
