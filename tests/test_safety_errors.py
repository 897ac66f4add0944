"""Issue 19, class 5 (library half): no numba TypingError or other foreign exception reaches a user of the public API.

Each row below raised a numba ``TypingError``, an ``AttributeError``, ``IndexError`` or ``OverflowError`` (found by
feeding every public entry None, strings, nested lists, complex and 2-D arrays, NaN, bools, 2**70 and plain
objects). Each must now raise ValueError/TypeError whose message names the argument, before any kernel runs. A
sweep then feeds the same values to every kernel-calling entry and checks that nothing foreign comes out.
"""

from __future__ import annotations

import numpy as np
import pytest
from safety import kernel_spy, objs  # noqa: F401 (fixtures)

import eventsnn as es
from eventsnn import losses, optim

HUGE = 2**70

CASES = [
    ("softmax-logits-none", lambda o: losses.softmax_cross_entropy(None, 0), ValueError, r"logits"),
    ("softmax-logits-2d", lambda o: losses.softmax_cross_entropy([[1.0, 2.0]], 0), ValueError,
     r"logits must be 1-dimensional, got shape \(1, 2\)"),
    ("softmax-logits-bool", lambda o: losses.softmax_cross_entropy([True, False], 0), TypeError,
     r"logits must hold real numbers, got bool"),
    ("softmax-logits-empty", lambda o: losses.softmax_cross_entropy([], 0), ValueError,
     r"logits must hold at least one class"),
    ("softmax-logits-str", lambda o: losses.softmax_cross_entropy("ab", 0), TypeError,
     r"logits must be convertible to a float64 array"),
    ("softmax-label-str", lambda o: losses.softmax_cross_entropy([1.0, 2.0], "0"), ValueError, r"label must be an int"),
    ("softmax-label-float", lambda o: losses.softmax_cross_entropy([1.0, 2.0], 1.0), ValueError,
     r"label must be an int"),
    ("softmax-label-bool", lambda o: losses.softmax_cross_entropy([1.0, 2.0], True), ValueError,
     r"label must be an int"),
    ("softmax-label-array", lambda o: losses.softmax_cross_entropy([1.0, 2.0], np.array([1])), ValueError,
     r"label must be an int"),
    ("softmax-label-huge", lambda o: losses.softmax_cross_entropy([1.0, 2.0], HUGE), ValueError,
     r"label must be an int in \[0, 1\]"),
    ("first-spike-indices-not-spikes", lambda o: losses.first_spike_indices([0, 1]), TypeError,
     r"spikes must be an eventsnn.SpikeTrains, got list"),
    ("readout-backward-maxima-none", lambda o: o.readout.backward(o.rec.layers[-1], None, np.ones(3)), TypeError,
     r"maxima must be an eventsnn.readout.ReadoutMaxima, got NoneType"),
    ("readout-creation-maxima-array", lambda o: o.readout.creation_term(np.ones(3), np.ones(3)), TypeError,
     r"maxima must be an eventsnn.readout.ReadoutMaxima, got ndarray"),
    ("adam-params-str", lambda o: optim.Adam().step("x", [np.zeros(2)]), TypeError,
     r"params\[0\] must be a writable C-contiguous float64 array .* got str"),
    ("adam-params-nested-list", lambda o: optim.Adam().step([[1.0]], [np.zeros(1)]), TypeError,
     r"params\[0\] must be a writable C-contiguous float64 array"),
    ("adam-params-array", lambda o: optim.Adam().step(np.zeros(2), np.zeros(2)), TypeError,
     r"params and grads must be lists of arrays"),
    ("adam-lr-scales-complex", lambda o: optim.Adam().step([np.zeros(1)], [np.zeros(1)], np.array([1j])),
     TypeError, r"lr_scales\[0\] must be a real number"),
    ("adam-lr-scales-2d", lambda o: optim.Adam().step([np.zeros(2), np.zeros(2)], [np.zeros(2)] * 2,
                                                      np.zeros((2, 2))),
     TypeError, r"lr_scales\[0\] must be a real number"),
    ("adam-load-array", lambda o: optim.Adam().load_state(np.ones(2)), TypeError,
     r"optimizer state must be a dict of str to arrays"),
    ("sgd-load-list", lambda o: optim.SGD().load_state([[1.0]]), TypeError,
     r"optimizer state must be a dict of str to arrays"),
    ("adam-load-bad-key", lambda o: optim.Adam().load_state({"t": 1, "m_x": np.zeros(1)}), ValueError,
     r"optimizer state has an unknown entry 'm_x'"),
    # another optimizer's state was taken and ignored (SGD then ran without the momentum it was given), an entry of
    # no optimizer was ignored, and an index written m_01 raised KeyError: 'm_1'
    ("sgd-load-adam-state", lambda o: optim.SGD(momentum=0.9).load_state(
        {"t": np.int64(1), "m_0": np.zeros(2), "v_0": np.zeros(2)}),
     ValueError, r"optimizer state has an unknown entry 't' \(expected velocity_k\)"),
    ("adam-load-sgd-entry", lambda o: optim.Adam().load_state(
        {"t": np.int64(1), "m_0": np.zeros(2), "v_0": np.zeros(2), "velocity_0": np.zeros(2)}),
     ValueError, r"optimizer state has an unknown entry 'velocity_0' \(expected t, m_k, v_k\)"),
    ("adam-load-index-leading-zero", lambda o: optim.Adam().load_state(
        {"t": np.int64(1), "m_0": np.zeros(2), "v_0": np.zeros(2), "m_01": np.zeros(2), "v_01": np.zeros(2)}),
     ValueError, r"optimizer state has an unknown entry 'm_01'"),
    ("creation-cotangent-layer-huge", lambda o: losses.LossResult(0.0, [], [np.zeros(1)]).creation_cotangent(
        HUGE, [1.0]), ValueError, r"layer must be in \[-1, 0\]"),
    ("creation-cotangent-layer-str", lambda o: losses.LossResult(0.0, [], [np.zeros(1)]).creation_cotangent(
        "0", [1.0]), TypeError, r"layer must be an int"),
    ("simulate-cap-huge", lambda o: es.simulate(o.ff, o.inputs, 10.0, max_spikes_per_neuron=HUGE), ValueError,
     r"max_spikes_per_neuron must be an int <= 9223372036854775807"),
    ("batch-offsets-huge-float", lambda o: es.SpikeBatch(np.array([1.0]), np.array([0]), np.array([0.0, 1e300]), 2),
     TypeError, r"offsets must hold integer sample offsets"),
    ("batch-offsets-huge-int", lambda o: es.SpikeBatch(np.array([1.0]), np.array([0]), [0, HUGE], 2),
     TypeError, r"offsets must hold integer sample offsets"),
    ("neurons-huge-float", lambda o: es.SpikeTrains([1.0], [1e300], 2), TypeError,
     r"neurons must hold integer neuron indices"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error_not_a_foreign_one(case, objs, kernel_spy):  # noqa: F811 (fixtures)
    _, call, exception, pattern = case
    with pytest.raises(exception, match=pattern) as caught:
        call(objs)
    assert not type(caught.value).__module__.startswith("numba")
    assert kernel_spy == []


def test_raster_with_a_bin_wider_than_the_window():
    """Was an IndexError (zero bins): one bin holds the whole window."""
    spikes = es.SpikeTrains([0.5, 1.0], [0, 1], 2)
    assert spikes.to_raster(t_max=1.0, dt=1e300).tolist() == [[1], [1]]


BAD_VALUES = [None, "x", [[1.0]], np.array([1j]), -1, 1e300, np.nan, True, object(), np.zeros((2, 2)), [],
              np.array([1.0], dtype=np.float32), HUGE]

ENTRIES = {
    "simulate(t_max)": lambda o, b: es.simulate(o.ff, o.inputs, b),
    "simulate(inputs)": lambda o, b: es.simulate(o.ff, b, 10.0),
    "simulate(max_spikes_per_sample)": lambda o, b: es.simulate(o.ff, o.inputs, 10.0, max_spikes_per_sample=b),
    "simulate(time_budget)": lambda o, b: es.simulate(o.ff, o.inputs, 10.0, time_budget=b),
    "softmax_cross_entropy(logits)": lambda o, b: losses.softmax_cross_entropy(b, 0),
    "softmax_cross_entropy(label)": lambda o, b: losses.softmax_cross_entropy([1.0, 2.0], b),
    "first_spike_cross_entropy(label)": lambda o, b: losses.first_spike_cross_entropy(o.rec, b),
    "first_spike_cross_entropy(layer)": lambda o, b: losses.first_spike_cross_entropy(o.rec, 0, layer=b),
    "latency_cross_entropy(t_run)": lambda o, b: losses.latency_cross_entropy(o.rec, 0, t_run=b),
    "spike_count_mse(targets)": lambda o, b: losses.spike_count_mse(o.rec, b),
    "vmax_cross_entropy(label)": lambda o, b: losses.vmax_cross_entropy(o.rec, o.readout, b),
    "first_spike_indices": lambda o, b: losses.first_spike_indices(b),
    "LIReadout(weights)": lambda o, b: type(o.readout)(b),
    "LIReadout.maxima(spikes)": lambda o, b: o.readout.maxima(b, 10.0),
    "LIReadout.maxima(t_max)": lambda o, b: o.readout.maxima(o.rec.layers[-1], b),
    "LIReadout.potentials(times)": lambda o, b: o.readout.potentials(o.rec.layers[-1], b),
    "LIReadout.backward(maxima)": lambda o, b: o.readout.backward(o.rec.layers[-1], b, np.ones(3)),
    "LIReadout.backward(value_cotangents)": lambda o, b: o.readout.backward(o.rec.layers[-1], o.maxima, b),
    "LIReadout.creation_term(maxima)": lambda o, b: o.readout.creation_term(b, np.ones(3)),
    "Adam.step(params)": lambda o, b: optim.Adam().step(b, [np.zeros(2)]),
    "Adam.step(grads[0])": lambda o, b: optim.Adam().step([np.zeros(2)], [b]),
    "Adam.step(lr_scales)": lambda o, b: optim.Adam().step([np.zeros(2)], [np.zeros(2)], b),
    "Adam.load_state": lambda o, b: optim.Adam().load_state(b),
    "Adam.load_state(m_0)": lambda o, b: optim.Adam().load_state({"t": 1, "m_0": b, "v_0": np.ones(2)}),
    "SGD.load_state": lambda o, b: optim.SGD().load_state(b),
    "Record.membrane_potential(times)": lambda o, b: o.rec.membrane_potential(0, 0, b),
    "Record.membrane_potential(neuron)": lambda o, b: o.rec.membrane_potential(0, b, [1.0]),
    "Connection.weights=": lambda o, b: setattr(o.ff.connections[0], "weights", b),
    "Connection.delays=": lambda o, b: setattr(o.ff.connections[0], "delays", b),
    "SpikeBatch(offsets)": lambda o, b: es.SpikeBatch(np.array([1.0]), np.array([0]), b, 2),
}


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_no_foreign_exception_from_any_kernel_entry(entry, objs):  # noqa: F811 (fixtures)
    """Every bad value either works (some are valid for some arguments) or raises ValueError/TypeError (or the
    documented SpikeLimitError); nothing from numba, and no AttributeError/IndexError/OverflowError."""
    for value in BAD_VALUES:
        try:
            ENTRIES[entry](objs, value)
        except (ValueError, TypeError, es.SpikeLimitError) as error:
            assert not type(error).__module__.startswith("numba"), (entry, value, error)
