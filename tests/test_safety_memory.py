"""Issue 19, class 1 (memory safety): every path into a kernel re-checks what the kernel indexes with.

The kernels run without bounds checks, so an array whose shape, dtype, contiguity or index range changed after
validation must be refused at the public entry. One row per path: ``(id, call, exception, regex)``; ``call``
breaks a fresh valid object the way a user could (public attributes, in-place writes, replaced arrays) and calls
the public function. Every case asserts the exception type, that the message names the field, and, through
``kernel_spy``, that no kernel ran. A separate test runs kernel entries under NUMBA_BOUNDSCHECK=1
(tests/test_safety_boundscheck.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from safety import kernel_spy, objs  # noqa: F401 (fixtures)

import eventsnn as es
from eventsnn import _validation as check
from eventsnn import losses, optim
from eventsnn.readout import ReadoutMaxima


def _set(obj, attribute, value):
    setattr(obj, attribute, value)
    return obj


def _sim(net, inputs, **kwargs):
    return es.simulate(net, inputs, t_max=50.0, n_threads=1, **kwargs)


def _adam_with_state(state):
    adam = optim.Adam()
    adam.load_state(state)
    return adam


def _sgd_with_state(state):
    sgd = optim.SGD()
    sgd.load_state(state)
    return sgd


def _read_only_state(optimizer, name: str, k: int):
    """``optimizer`` with a state for two arrays of shapes (2,) and (3,) (as after a step), its array ``name``[k]
    read-only."""
    arrays = {f"{prefix}_{j}": np.zeros(size) for prefix in ("m", "v", "velocity") for j, size in enumerate((2, 3))}
    if isinstance(optimizer, optim.Adam):
        optimizer.load_state({"t": np.int64(1), **{key: a for key, a in arrays.items() if key[:2] in ("m_", "v_")}})
    else:
        optimizer.load_state({key: a for key, a in arrays.items() if key.startswith("velocity")})
    getattr(optimizer, name)[k].setflags(write=False)
    return optimizer


def _grow(population, size):
    population.size = size


def _replace_weights_privately(o):
    o.ff.connections[0]._weights = np.zeros((5, 5))  # past the property: simulate re-checks
    return _sim(o.ff, o.inputs)


def _inputs_replaced(o, **attributes):
    for name, value in attributes.items():
        setattr(o.inputs, name, value)
    return o.inputs


def _batch_replaced(o, **attributes):
    for name, value in attributes.items():
        setattr(o.batch, name, value)
    return o.batch


def _record_layer(o, k, **attributes):
    for name, value in attributes.items():
        setattr(o.rec.layers[k], name, value)
    return o.rec


def _kinks(o, kinks):
    return ReadoutMaxima(o.maxima.values, o.maxima.times, np.asarray(kinks))


CASES = [
    # --- network arrays assigned or written after construction (simulate re-checks everything it compiles) ---
    ("weights-assigned-wrong-shape", lambda o: _set(o.ff.connections[0], "weights", np.zeros((3, 3))),
     ValueError, r"weights of input->layer1 must have shape \(2, 3\), got \(3, 3\)"),
    ("weights-assigned-1d", lambda o: _set(o.ff.connections[1], "weights", np.zeros(6)),
     ValueError, r"weights of layer1->layer2 must have shape \(3, 2\)"),
    ("delays-assigned-wrong-shape", lambda o: _set(o.recurrent.connections[0], "delays", np.zeros((3, 2))),
     ValueError, r"delays of in->exc must have shape \(2, 3\)"),
    ("weights-replaced-privately", _replace_weights_privately, ValueError,
     r"weights of input->layer1 must have shape \(2, 3\), got \(5, 5\)"),
    ("weights-replaced-float32", lambda o: (_set(o.ff.connections[0], "_weights", np.zeros((2, 3), np.float32)),
                                            _sim(o.ff, o.inputs)),
     TypeError, r"weights of input->layer1 must be a C-contiguous float64 array"),
    ("weights-replaced-non-contiguous", lambda o: (_set(o.ff.connections[0], "_weights", np.zeros((3, 2)).T),
                                                   _sim(o.ff, o.inputs)),
     TypeError, r"weights of input->layer1 must be a C-contiguous float64 array, got a non-contiguous"),
    ("population-size-grown", lambda o: (_grow(o.ff.populations["layer1"], 5), _sim(o.ff, o.inputs)),
     ValueError, r"weights of input->layer1 must have shape \(2, 5\), got \(2, 3\)"),
    ("population-size-grown-general", lambda o: (_grow(o.recurrent.populations["exc"], 4),
                                                 _sim(o.recurrent, o.inputs)),
     ValueError, r"weights of in->exc must have shape \(2, 4\)"),
    ("population-size-zero", lambda o: (_grow(o.ff.populations["layer2"], 0), _sim(o.ff, o.inputs)),
     ValueError, r"size of population 'layer2' must be an int >= 1, got 0"),
    ("connection-pre-renamed", lambda o: (_set(o.recurrent.connections[1], "pre", "inh"),
                                          _sim(o.recurrent, o.inputs)),
     ValueError, r"net.connections\[1\].pre is 'inh', not a population"),
    ("connection-into-input", lambda o: (_set(o.recurrent.connections[1], "post", "in"),
                                         _sim(o.recurrent, o.inputs)),
     ValueError, r"net.connections\[1\].post 'in' is an input population"),
    ("connection-not-a-connection", lambda o: (o.ff.connections.append("input->layer1"), _sim(o.ff, o.inputs)),
     TypeError, r"net.connections\[2\] must be an eventsnn.Connection"),
    ("population-neuron-replaced", lambda o: (_set(o.ff.populations["layer1"], "neuron", "lif"),
                                              _sim(o.ff, o.inputs)),
     TypeError, r"neuron of population 'layer1' must be an eventsnn.LIF"),
    # --- input spikes whose public arrays were replaced after construction ---
    ("input-neuron-out-of-range", lambda o: _sim(o.ff, _inputs_replaced(o, neurons=np.array([0, 7, 0]))),
     ValueError, r"inputs\['input'\].neurons contains neuron index 7, outside the valid range \[0, 1\]"),
    ("input-neuron-negative", lambda o: _sim(o.recurrent, _inputs_replaced(o, neurons=np.array([0, -1, 0]))),
     ValueError, r"inputs\['in'\].neurons contains neuron index -1"),
    ("input-neurons-int32", lambda o: _sim(o.ff, _inputs_replaced(o, neurons=np.array([0, 1, 0], np.int32))),
     TypeError, r"inputs\['input'\].neurons must be a C-contiguous int64 array"),
    ("input-neurons-shorter", lambda o: _sim(o.ff, _inputs_replaced(o, neurons=np.array([0, 1]))),
     ValueError, r"inputs\['input'\].neurons must have shape \(3,\), got \(2,\)"),
    ("input-times-list", lambda o: _sim(o.ff, _inputs_replaced(o, times=[1.0, 2.0, 3.0])),
     TypeError, r"inputs\['input'\].times must be a numpy array"),
    ("input-times-unsorted", lambda o: _sim(o.ff, _inputs_replaced(o, times=np.array([3.0, 2.0, 1.0]))),
     ValueError, r"inputs\['input'\].times must be sorted"),
    ("input-times-nan", lambda o: _sim(o.recurrent, _inputs_replaced(o, times=np.array([1.0, np.nan, 3.0]))),
     ValueError, r"inputs\['in'\].times must be finite and >= 0 ms"),
    ("input-n_neurons-changed", lambda o: _sim(o.ff, _inputs_replaced(o, n_neurons=1)),
     ValueError, r"inputs\['input'\] has n_neurons=1 but input population 'input' has 2 neurons"),
    ("batch-neuron-out-of-range", lambda o: _sim(o.ff, _batch_replaced(o, neurons=np.array([0, 1, 0, 0, 9, 0]))),
     ValueError, r"inputs.neurons contains neuron index 9"),
    ("batch-offsets-past-end", lambda o: _sim(o.ff, _batch_replaced(o, offsets=np.array([0, 3, 60]))),
     ValueError, r"inputs.offsets must start at 0, be non-decreasing and end at len\(times\)=6"),
    ("batch-offsets-decreasing", lambda o: _sim(o.ff, _batch_replaced(o, offsets=np.array([0, 4, 2, 6]))),
     ValueError, r"inputs.offsets must start at 0, be non-decreasing"),
    # --- optimizers: parameters, gradients and state must match before anything is written ---
    ("adam-grad-size", lambda o: optim.Adam().step([np.zeros((2, 3))], [np.zeros((3, 3))]),
     ValueError, r"grads\[0\] must have shape \(2, 3\), got \(3, 3\)"),
    ("adam-grads-missing", lambda o: optim.Adam().step([np.zeros(2), np.zeros(3)], [np.zeros(2)]),
     ValueError, r"grads must hold one array per parameter array \(2\), got 1"),
    ("adam-moment-size", lambda o: _adam_with_state({"t": 1, "m_0": np.zeros(5), "v_0": np.zeros(5)}).step(
        [np.zeros((2, 3))], [np.zeros((2, 3))]),
     ValueError, r"optimizer state m_0 must have shape \(2, 3\), got \(5,\)"),
    ("adam-moment-count", lambda o: _adam_with_state({"t": 1, "m_0": np.zeros(2), "v_0": np.zeros(2)}).step(
        [np.zeros(2), np.zeros(2)], [np.zeros(2), np.zeros(2)]),
     ValueError, r"optimizer state m holds 1 arrays but there are 2 parameter arrays"),
    ("adam-moments-unpaired", lambda o: optim.Adam().load_state({"t": 1, "m_0": np.zeros(2)}),
     ValueError, r"optimizer state holds 1 m_k, 0 v_k: they must come in pairs"),
    ("adam-moment-gap", lambda o: optim.Adam().load_state({"t": 1, "m_1": np.zeros(2), "v_1": np.zeros(2)}),
     ValueError, r"optimizer state has no entry 'm_0'"),
    ("adam-moment-shapes-differ", lambda o: optim.Adam().load_state({"t": 1, "m_0": np.zeros(2),
                                                                     "v_0": np.zeros(3)}),
     ValueError, r"optimizer state m_0 has shape \(2,\) but v_0 has \(3,\)"),
    ("adam-param-float32", lambda o: optim.Adam().step([np.zeros(2, np.float32)], [np.zeros(2)]),
     TypeError, r"params\[0\] must be a writable C-contiguous float64 array"),
    ("adam-param-read-only", lambda o: optim.Adam().step([np.broadcast_to(np.zeros(1), (2,))], [np.zeros(2)]),
     TypeError, r"params\[0\] must be a writable C-contiguous float64 array"),
    ("adam-lr-scales-short", lambda o: optim.Adam().step([np.zeros(2), np.zeros(2)], [np.zeros(2)] * 2, [1.0]),
     ValueError, r"lr_scales must hold one factor per parameter array \(2\), got 1"),
    ("sgd-velocity-size", lambda o: _sgd_with_state({"velocity_0": np.zeros(4)}).step([np.zeros(2)], [np.zeros(2)]),
     ValueError, r"optimizer state velocity_0 must have shape \(2,\), got \(4,\)"),
    ("sgd-grad-size", lambda o: optim.SGD().step([np.zeros(2)], [np.zeros(3)]),
     ValueError, r"grads\[0\] must have shape \(2,\), got \(3,\)"),
    # a read-only state array (assigned, e.g. a memory-mapped file's) was found by the kernel's compilation (a
    # numba TypingError) after the arrays before it had been updated
    ("adam-moment-read-only", lambda o: _read_only_state(optim.Adam(), "v", 1).step(
        [np.zeros(2), np.zeros(3)], [np.ones(2), np.ones(3)]),
     ValueError, r"optimizer state v_1 must be a writable array \(it is updated in place\)"),
    ("sgd-velocity-read-only", lambda o: _read_only_state(optim.SGD(momentum=0.9), "velocity", 1).step(
        [np.zeros(2), np.zeros(3)], [np.ones(2), np.ones(3)]),
     ValueError, r"optimizer state velocity_1 must be a writable array"),
    # Adam's settings are public attributes like lr: beta1 = 1 (a zero bias correction), eps = 0 or a NaN gave NaN
    # weights without an error
    ("adam-beta1-set-to-1", lambda o: _set(optim.Adam(), "beta1", 1.0).step([np.zeros(2)], [np.ones(2)]),
     ValueError, r"beta1 and beta2 must be < 1, got 1.0, 0.999"),
    ("adam-beta2-set-to-nan", lambda o: _set(optim.Adam(), "beta2", np.nan).step([np.zeros(2)], [np.ones(2)]),
     ValueError, r"beta2 must be a finite number >= 0, got nan"),
    ("adam-eps-set-to-0", lambda o: _set(optim.Adam(), "eps", 0.0).step([np.zeros(2)], [np.zeros(2)]),
     ValueError, r"eps must be a finite number > 0, got 0.0"),
    # --- losses: labels outside the logits, spikes outside their layer ---
    ("softmax-label-past-end", lambda o: losses.softmax_cross_entropy(np.zeros(3), 3),
     ValueError, r"label must be an int in \[0, 2\], got 3"),
    ("softmax-label-negative", lambda o: losses.softmax_cross_entropy(np.zeros(3), -1),
     ValueError, r"label must be an int in \[0, 2\], got -1"),
    ("softmax-label-huge", lambda o: losses.softmax_cross_entropy(np.zeros(3), 2**40),
     ValueError, r"label must be an int in \[0, 2\]"),
    ("first-spike-label-past-end", lambda o: losses.first_spike_cross_entropy(o.rec, 2),
     ValueError, r"label must be an int in \[0, 1\], got 2"),
    ("latency-label-negative", lambda o: losses.latency_cross_entropy(o.rec, -1),
     ValueError, r"label must be an int in \[0, 1\], got -1"),
    ("count-label-past-end", lambda o: losses.spike_count_cross_entropy(o.rec, 5),
     ValueError, r"label must be an int in \[0, 1\], got 5"),
    ("vmax-label-past-end", lambda o: losses.vmax_cross_entropy(o.rec, o.readout, 3),
     ValueError, r"label must be an int in \[0, 2\], got 3"),
    ("first-spike-layer-neuron-out-of-range",
     lambda o: losses.first_spike_cross_entropy(_record_layer(o, 1, neurons=np.full(len(o.rec.layers[1]), 9)), 0),
     ValueError, r"rec.layers\[1\].neurons contains neuron index 9, outside the valid range \[0, 1\]"),
    ("latency-layer-neurons-shorter",
     lambda o: losses.latency_cross_entropy(_record_layer(o, 1, neurons=np.zeros(0, np.int64)), 0),
     ValueError, r"rec.layers\[1\].neurons must have shape"),
    ("first-spike-indices-out-of-range",
     lambda o: losses.first_spike_indices(_set(o.inputs, "neurons", np.array([0, 5, 0]))),
     ValueError, r"spikes.neurons contains neuron index 5"),
    ("creation-cotangent-layer", lambda o: losses.LossResult(0.0, [np.zeros(0)] * 2, [np.zeros(3), np.zeros(2)])
     .creation_cotangent(7, [1.0]),
     ValueError, r"layer must be in \[-2, 1\], got 7"),
    # --- read-out: weights and maxima the kernels index ---
    ("readout-weights-assigned-wrong-shape", lambda o: _set(o.readout, "weights", np.ones((3, 3))),
     ValueError, r"readout weights must have shape \(2, 3\), got \(3, 3\)"),
    ("readout-weights-replaced-privately", lambda o: (_set(o.readout, "_weights", np.ones((1, 3))),
                                                      o.readout.maxima(o.rec.layers[-1], 50.0)),
     ValueError, r"readout weights must have shape \(1, 3\)|the read-out has 1 inputs"),
    ("readout-spike-neuron-out-of-range",
     lambda o: o.readout.maxima(_record_layer(o, 1, neurons=np.full(len(o.rec.layers[1]), 2)).layers[1], 50.0),
     ValueError, r"spikes.neurons contains neuron index 2, outside the valid range \[0, 1\]"),
    ("readout-potentials-neuron-negative",
     lambda o: o.readout.potentials(_record_layer(o, 1, neurons=np.full(len(o.rec.layers[1]), -3)).layers[1],
                                    [1.0]),
     ValueError, r"spikes.neurons contains neuron index -3"),
    ("readout-backward-kink-past-end", lambda o: o.readout.backward(o.rec.layers[-1], _kinks(o, [0, 99, -1]),
                                                                    np.ones(3)),
     ValueError, r"maxima.kinks must index the \d+ driving spikes \(or be -1\), got 99"),
    ("readout-backward-kink-below", lambda o: o.readout.backward(o.rec.layers[-1], _kinks(o, [-2, 0, 0]),
                                                                 np.ones(3)),
     ValueError, r"maxima.kinks must index .* got -2"),
    ("readout-backward-kinks-short", lambda o: o.readout.backward(o.rec.layers[-1], _kinks(o, [0]), np.ones(3)),
     ValueError, r"maxima.kinks must be 3 integers"),
    ("readout-backward-cotangents-short", lambda o: o.readout.backward(o.rec.layers[-1], o.maxima, np.ones(2)),
     ValueError, r"value_cotangents must have shape \(3,\), got \(2,\)"),
    ("readout-creation-maxima-times-short",
     lambda o: o.readout.creation_term(ReadoutMaxima(o.maxima.values, np.ones(1), o.maxima.kinks), np.ones(3)),
     ValueError, r"maxima.times must have shape \(3,\), got \(1,\)"),
    ("readout-creation-neuron-out-of-range",
     lambda o: o.readout.creation_term(o.maxima, np.ones(3))(np.array([1.0]), np.array([2])),
     ValueError, r"neurons contains neuron index 2"),
    # --- records: replayed (membrane_potential) and handed to the backward kernels ---
    ("record-layer-neuron-out-of-range",
     lambda o: _record_layer(o, 0, neurons=np.full(len(o.rec.layers[0]), 3)).membrane_potential(1, 0, [5.0]),
     ValueError, r"record.layers\[0\].neurons contains neuron index 3, outside the valid range \[0, 2\]"),
    ("record-input-replaced", lambda o: (o.rec.inputs.update(input=es.SpikeTrains([1.0], [4], 5)),
                                         o.rec.membrane_potential(0, 0, [5.0])),
     ValueError, r"record.inputs\['input'\] has n_neurons=5, expected 2"),
    ("record-layers-dropped", lambda o: (o.rec.layers.pop(), check.record_for_kernels(o.rec)),
     ValueError, r"rec.layers must be a list of one SpikeTrains per neuron population"),
    ("record-for-backward-times-unsorted",
     lambda o: check.record_for_kernels(_record_layer(o, 0, times=o.rec.layers[0].times[::-1].copy())),
     ValueError, r"rec.layers\[0\].times must be sorted"),
    ("record-for-backward-weights-nan",
     lambda o: (o.rec.network.weights[1].__setitem__((0, 0), np.nan), check.record_for_kernels(o.rec)),
     ValueError, r"weights of layer1->layer2 contains a non-finite value nan at index \(0, 0\)"),
    ("record-t_max-replaced", lambda o: check.record_for_kernels(_set(o.rec, "t_max", -1.0)),
     ValueError, r"rec.t_max must be a finite number > 0"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kernel_entry_refuses_bad_arrays_before_any_work(case, objs, kernel_spy):  # noqa: F811 (fixtures)
    _, call, exception, pattern = case
    with pytest.raises(exception, match=pattern):
        call(objs)
    assert kernel_spy == []


def test_failed_assignment_keeps_the_validated_arrays(objs):  # noqa: F811 (fixtures)
    connection = objs.ff.connections[0]
    before = connection.weights.copy()
    with pytest.raises(ValueError, match="weights of input->layer1"):
        connection.weights = np.zeros((4, 4))
    with pytest.raises(ValueError, match="weights of input->layer1"):
        connection.weights = np.array([[1.0, np.nan, 1.0], [1.0, 1.0, 1.0]])
    assert np.array_equal(connection.weights, before)


def test_assigned_arrays_are_copied(objs):  # noqa: F811 (fixtures)
    """A validated array cannot be changed behind the network's back through the caller's reference."""
    mine = np.full((2, 3), 1.0)
    objs.ff.connections[0].weights = mine
    mine[0, 0] = np.nan
    assert objs.ff.connections[0].weights[0, 0] == 1.0
    objs.readout.weights = np.full((2, 3), 2.0)
    assert objs.readout.weights is not None and objs.readout.weights[0, 0] == 2.0


def test_a_failed_optimizer_step_updates_nothing(objs):  # noqa: F811 (fixtures)
    params = [np.ones(2), np.ones(3)]
    adam = optim.Adam()
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        adam.step(params, [np.ones(2), np.ones(4)])
    assert adam.t == 0 and adam.m is None
    assert np.array_equal(params[0], np.ones(2)) and np.array_equal(params[1], np.ones(3))


def test_valid_writes_through_views_still_simulate(objs):  # noqa: F811 (fixtures)
    """The documented in-place route (what optimizers do) keeps working: the re-check only refuses bad values."""
    objs.ff.weights[0][...] = 0.0
    rec = es.simulate(objs.ff, objs.inputs, t_max=50.0, n_threads=1)
    assert len(rec.layers[0]) == 0


def test_record_check_accepts_what_simulate_returns(objs):  # noqa: F811 (fixtures)
    """The check the backward entry points run on each record passes every valid record (layered, recurrent)."""
    check.record_for_kernels(objs.rec)
    check.record_for_kernels(es.simulate(objs.recurrent, objs.inputs, t_max=30.0, n_threads=1), network=False)
    for rec in es.simulate(objs.ff, objs.batch, t_max=30.0, n_threads=1):
        check.record_for_kernels(rec)


@pytest.mark.parametrize("seed", range(4))
def test_spike_train_check_agrees_with_its_numpy_definition(seed, rng):
    """The one-pass compiled check behind every per-sample re-check finds exactly the first bad spike."""
    from eventsnn._kernels import status
    from eventsnn._kernels.indexing import spike_train_status
    for _ in range(300):
        size = int(rng.integers(1, 12))
        times = np.sort(rng.choice([0.0, 0.5, 1.0, 2.0, 7.5], size))
        neurons = rng.integers(0, 4, size)
        if rng.random() < 0.7:  # one fault (or none) at a random place
            k = int(rng.integers(0, size))
            kind = rng.integers(0, 4)
            if kind == 0:
                neurons[k] = rng.choice([-1, 4, 99])
            elif kind == 1:
                times[k] = rng.choice([np.nan, np.inf, -np.inf, -0.5])
            elif kind == 2 and k > 0:
                times[k] = times[k - 1] - 0.25
        bad_neuron = (neurons < 0) | (neurons >= 4)
        bad_time = ~np.isfinite(times) | (times < 0.0)
        unsorted = np.concatenate([[False], np.diff(times) < 0.0]) & ~bad_time
        unsorted[1:] &= ~bad_time[:-1]  # a step down after a bad time is reported as the bad time
        first = [np.flatnonzero(m)[0] if m.any() else size for m in (bad_neuron, bad_time, unsorted)]
        code, index = spike_train_status(times, neurons.astype(np.int64), 4)
        if min(first) == size:
            assert (code, index) == (status.OK, -1)
        else:
            assert index == min(first)
            expected = [status.NEURON_OUT_OF_RANGE, status.TIME_NOT_FINITE_OR_NEGATIVE, status.TIME_NOT_SORTED]
            assert code == expected[int(np.argmin(first))], (times, neurons)


def test_vjp_rechecks_a_record_whose_spikes_or_network_snapshot_were_replaced():
    # vjp's kernels index weights with the record's neuron ids: a replaced spike array or a NaN written into the
    # record's network snapshot must be refused before any kernel runs
    import eventsnn as es

    rng = np.random.default_rng(3)
    net = es.Network.feedforward([4, 3], es.LIF(), [rng.uniform(4.0, 6.0, (4, 3))])
    inputs = es.SpikeTrains(times=np.array([1.0, 2.0, 3.0, 4.0]), neurons=np.array([0, 1, 2, 3]), n_neurons=4)
    rec = es.simulate(net, inputs, t_max=50.0)
    assert len(rec.layers[0]) > 0
    cotangents = [np.ones(len(rec.layers[0]))]
    es.vjp(net, rec, cotangents)  # the untouched record is accepted

    bad_ids = rec.layers[0].neurons.copy()
    bad_ids[0] = 7
    rec.layers[0].neurons = bad_ids
    with pytest.raises(ValueError, match=r"rec\.layers\[0\]\.neurons"):
        es.vjp(net, rec, cotangents)

    rec = es.simulate(net, inputs, t_max=50.0)
    rec.network.connections[0].weights[0, 0] = np.nan  # written in place through the documented array
    with pytest.raises(ValueError, match="non-finite"):
        es.vjp(net, rec, cotangents)
