"""Checks of a whole batch at once (``simulate``'s input spikes, ``vjp``'s records and cotangents): they accept
exactly what the per-sample checks accept, and on bad input the per-sample checks still name the first bad sample
with the same message."""

from __future__ import annotations

import re

import numpy as np
import pytest

import eventsnn as es
from eventsnn import _validation as check
from eventsnn.adjoint import _checked_batch, _checked_loss
from eventsnn.losses import first_spike_cross_entropy

N_IN = 6


def _net() -> es.Network:
    rng = np.random.default_rng(3)
    return es.Network.feedforward([N_IN, 5, 2], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0),
                                  weights=[rng.uniform(0.5, 3.0, (N_IN, 5)), rng.uniform(0.5, 3.0, (5, 2))])


def _batch(n: int = 6) -> list[es.SpikeTrains]:
    rng = np.random.default_rng(7)
    return [es.SpikeTrains(np.sort(rng.uniform(0.0, 20.0, 8)), rng.integers(0, N_IN, 8), N_IN, sort=True)
            for _ in range(n)]


# each breaks one thing spike_arrays checks, in place (the attributes of a SpikeTrains are public)
BREAKAGES = {
    "unsorted": lambda s: setattr(s, "times", s.times[::-1].copy()),
    "nan time": lambda s: s.times.__setitem__(2, np.nan),
    "inf time": lambda s: s.times.__setitem__(-1, np.inf),
    "negative time": lambda s: s.times.__setitem__(0, -1.0),
    "neuron too large": lambda s: s.neurons.__setitem__(3, N_IN),
    "negative neuron": lambda s: s.neurons.__setitem__(1, -1),
    "float32 times": lambda s: setattr(s, "times", s.times.astype(np.float32)),
    "int32 neurons": lambda s: setattr(s, "neurons", s.neurons.astype(np.int32)),
    "list times": lambda s: setattr(s, "times", s.times.tolist()),
    "short neurons": lambda s: setattr(s, "neurons", s.neurons[:-1].copy()),
    "strided times": lambda s: setattr(s, "times", np.repeat(s.times, 2)[::2]),
    "2-d times": lambda s: setattr(s, "times", s.times.reshape(2, -1)),
    "float n_neurons": lambda s: setattr(s, "n_neurons", float(N_IN)),
    "other n_neurons": lambda s: setattr(s, "n_neurons", N_IN + 1),
}


def _message(call) -> tuple[type, str]:
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return info.type, str(info.value)


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_spike_trains_valid_agrees_with_spike_arrays(breakage):
    batch = _batch()
    assert check.spike_trains_valid(batch, N_IN)
    BREAKAGES[breakage](batch[4])
    assert not check.spike_trains_valid(batch, N_IN)
    _message(lambda: check.spike_arrays("inputs[4]['input']", batch[4], N_IN))  # the per-sample check agrees


def test_spike_trains_valid_accepts_empty_samples_and_batches():
    empty = es.SpikeTrains(np.zeros(0), np.zeros(0, dtype=np.int64), N_IN)
    assert check.spike_trains_valid([], N_IN)
    assert check.spike_trains_valid([empty, *_batch(2), empty], N_IN)
    # a step down across the boundary of two samples is allowed: each sample is sorted on its own
    late, early = es.SpikeTrains([15.0], [0], N_IN), es.SpikeTrains([1.0], [0], N_IN)
    assert check.spike_trains_valid([late, early], N_IN)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_simulate_names_the_bad_sample_as_the_per_sample_check(breakage, n_threads):
    net, batch = _net(), _batch()
    BREAKAGES[breakage](batch[3])
    kind, message = _message(lambda: es.simulate(net, batch, 30.0, n_threads=n_threads))
    assert message.startswith("inputs[3]"), message
    alone = _message(lambda: es.simulate(net, batch[3:4], 30.0, n_threads=1))  # the same check on one sample
    assert (kind, message) == (alone[0], alone[1].replace("inputs[0]", "inputs[3]", 1))


@pytest.mark.parametrize("first, second", [("unsorted", "float32 times"), ("float32 times", "unsorted"),
                                           ("other n_neurons", "nan time")])
def test_simulate_reports_the_first_bad_sample_whatever_the_check(first, second):
    net, batch = _net(), _batch()
    BREAKAGES[first](batch[1])
    BREAKAGES[second](batch[2])
    assert _message(lambda: es.simulate(net, batch, 30.0, n_threads=2))[1].startswith("inputs[1]")


def test_simulate_batch_results_are_the_per_sample_results():
    net, batch = _net(), _batch(9)
    records = es.simulate(net, batch, 30.0, n_threads=2)
    for b, s in enumerate(batch):
        alone = es.simulate(net, s, 30.0)
        assert records[b].inputs == {"input": s} and records[b].inputs["input"] is s
        for got, want in zip(records[b].layers, alone.layers):
            assert got == want and got.times.dtype == np.float64 and got.neurons.dtype == np.int64
        assert records[b].layer_names == alone.layer_names == net.layer_names


def test_records_get_their_own_layer_names():
    records = es.simulate(_net(), _batch(3), 30.0, n_threads=2)
    records[0].layer_names.append("extra")
    assert records[1].layer_names == ["layer1", "layer2"]


def _losses(net, records, labels):
    return [first_spike_cross_entropy(r, int(y), tau=10.0, silent_time=30.0) for r, y in zip(records, labels)]


def test_checked_batch_is_what_the_per_sample_checks_give():
    net = _net()
    records = es.simulate(net, _batch(), 30.0, n_threads=2)
    losses = _losses(net, records, [0, 1, 0, 1, 1, 0])
    for cotangents in (losses, [loss.cotangents for loss in losses]):
        fast = _checked_batch(records, cotangents, "timing")
        slow = [_checked_loss(r, c, f"cotangents[{b}]", "timing") for b, (r, c) in enumerate(zip(records, cotangents))]
        assert fast is not None and len(fast) == len(slow)
        for got, want, given in zip(fast, slow, losses):
            for g, w, original in zip(got, want, given.cotangents):
                assert g.dtype == np.float64 and g.flags.c_contiguous and np.array_equal(g, w)
                assert not np.shares_memory(g, original)  # the kernels may not write into the caller's arrays


@pytest.mark.parametrize("method", ["activation", "antlr", "na"])
def test_checked_batch_of_the_candidate_methods_is_what_the_per_sample_checks_give(method):
    net = _net()
    records = es.simulate(net, _batch(), 30.0, n_threads=2)
    losses = _losses(net, records, [0, 1, 0, 1, 1, 0])
    fast = _checked_batch(records, losses, method)
    slow = [_checked_loss(r, c, f"cotangents[{b}]", method) for b, (r, c) in enumerate(zip(records, losses))]
    assert fast is not None and len(fast) == len(slow)
    for got, want, given in zip(fast, slow, losses):
        assert type(got) is es.losses.LossResult and got.value == want.value
        assert got.count_cotangents is want.count_cotangents and got.creation_terms is want.creation_terms
        for g, w, original in zip(got.cotangents, want.cotangents, given.cotangents):
            assert g.dtype == np.float64 and g.flags.c_contiguous and np.array_equal(g, w)
            assert not np.shares_memory(g, original)
    # the candidate methods need LossResults: plain arrays take the per-sample checks, which raise the TypeError
    assert _checked_batch(records, [loss.cotangents for loss in losses], method) is None


# tamper with record 2 (or its cotangents) after simulate: the per-record checks name it
RECORD_BREAKAGES = {
    "layer unsorted": lambda recs, cots: recs[2].layers[0].times.__setitem__(0, recs[2].layers[0].times[-1] + 1.0),
    "input neuron": lambda recs, cots: recs[2].inputs["input"].neurons.__setitem__(0, N_IN),
    "input nan": lambda recs, cots: recs[2].inputs["input"].times.__setitem__(0, np.nan),
    "t_max": lambda recs, cots: setattr(recs[2], "t_max", -1.0),
    "layers missing": lambda recs, cots: setattr(recs[2], "layers", recs[2].layers[:1]),
    "cotangent nan": lambda recs, cots: cots[2][0].__setitem__(0, np.nan),
    "cotangent length": lambda recs, cots: cots[2].__setitem__(1, np.zeros(len(recs[2].layers[1]) + 1)),
}


@pytest.mark.parametrize("breakage", sorted(RECORD_BREAKAGES))
def test_vjp_names_the_bad_record_as_the_per_sample_check(breakage):
    net = _net()
    records = es.simulate(net, _batch(), 30.0, n_threads=1)
    assert all(len(r.layers[0]) >= 2 for r in records)  # every record has hidden spikes to tamper with
    cotangents = [[np.array(c) for c in loss.cotangents] for loss in _losses(net, records, [0, 1, 0, 1, 1, 0])]
    RECORD_BREAKAGES[breakage](records, cotangents)
    assert _checked_batch(records, cotangents, "timing") is None
    kind, message = _message(lambda: es.vjp(net, records, cotangents, n_threads=2))
    assert re.match(r"(cotangents|rec)\[2\]", message), message
    alone = _message(lambda: es.vjp(net, records[2:3], cotangents[2:3], n_threads=1))
    assert (kind, message) == (alone[0], alone[1].replace("rec[0]", "rec[2]").replace("cotangents[0]", "cotangents[2]"))


def test_vjp_gradients_do_not_depend_on_the_batch_check():
    net = _net()
    records = es.simulate(net, _batch(), 30.0, n_threads=2)
    losses = _losses(net, records, [0, 1, 0, 1, 1, 0])
    fast = es.vjp(net, records, losses, n_threads=2)
    tuples = [tuple(loss.cotangents) for loss in losses]  # not a list of arrays: takes the per-sample checks
    whole = [[np.round(c * 1e3) for c in loss.cotangents] for loss in losses]
    as_int = [[c.astype(np.int64) for c in cots] for cots in whole]  # accepted, converted by the per-sample checks
    for other, same in ((tuples, losses), (as_int, whole)):
        assert _checked_batch(records, other, "timing") is None
        slow, reference = es.vjp(net, records, other, n_threads=2), es.vjp(net, records, same, n_threads=2)
        assert all(np.array_equal(a, b) for a, b in zip(reference.weights, slow.weights))
        assert reference.biases == slow.biases and reference.delays == slow.delays
    assert all(np.array_equal(a, b) for a, b in zip(fast.weights, es.vjp(net, records, tuples, n_threads=1).weights))


def _with_a_spike_batch_layer(records: list, b: int, k: int) -> None:
    """Record b's layer k replaced by a SpikeBatch of one sample holding the same spikes: its len counts samples (1),
    not spikes."""
    records[b].layers[k] = es.SpikeBatch.from_list([records[b].layers[k]])


@pytest.mark.parametrize("call", ["vjp one record", "vjp batch", "first-spike loss", "first-spike batch loss",
                                  "read-out batch loss"])
def test_a_spike_batch_in_place_of_a_record_layer_is_refused_before_any_kernel(call):
    from eventsnn.losses import first_spike_cross_entropy_batch, vmax_cross_entropy_batch
    from eventsnn.readout import LIReadout
    net = _net()
    records = es.simulate(net, _batch(3), 30.0, n_threads=1)
    assert all(len(r.layers[1]) >= 2 for r in records)  # more spikes than the one sample a SpikeBatch counts
    cotangents = [[np.ones(len(layer)) for layer in r.layers] for r in records]
    _with_a_spike_batch_layer(records, 1, 1)
    labels = [0, 1, 0]
    readout = LIReadout(np.ones((2, 3)), es.LIF(tau_mem=10.0, tau_syn=5.0))
    calls = {
        # unrefused, the adjoint read the one-sample SpikeBatch's cotangent (len 1) at every one of its spikes
        "vjp one record": lambda: es.vjp(net, records[1], [cotangents[1][0], np.ones(1)]),
        # unrefused, the batch paths split the flat spikes by len(), giving samples each other's spikes
        "vjp batch": lambda: es.vjp(net, records, cotangents, n_threads=1),
        "first-spike loss": lambda: first_spike_cross_entropy(records[1], 1),
        "first-spike batch loss": lambda: first_spike_cross_entropy_batch(records, labels),
        "read-out batch loss": lambda: vmax_cross_entropy_batch(records, readout, labels),
    }
    with pytest.raises(TypeError, match=r"rec(ords)?\[1\]\.layers\[1\] must be a SpikeTrains of one sample, got a "
                                        r"SpikeBatch|rec\.layers\[1\] must be a SpikeTrains of one sample"):
        calls[call]()
    assert not check.spike_trains_valid([r.layers[1] for r in records], 2)
