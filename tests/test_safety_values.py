"""Issue 19, class 2 (library half): values that would make the engine compute something else silently.

Non-finite weights or biases (assigned, or written through the documented ``net.weights`` views), negative or
non-finite delays, and magnitudes beyond the documented bound (|weight|, |bias|, threshold <= 1e100; the exact
solver overflows at currents near 1e154) raise a clear error naming the field before any kernel runs.
``(id, call, exception, regex)`` per row, as in test_safety_memory.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from safety import kernel_spy, objs  # noqa: F401 (fixtures)

import eventsnn as es
from eventsnn import _validation as check
from eventsnn import optim
from eventsnn.readout import LIReadout

NAN, INF = np.nan, np.inf


def _sim(net, inputs):
    return es.simulate(net, inputs, t_max=50.0, n_threads=1)


def _write(array, index, value):
    array[index] = value
    return array


def _assign(obj, attribute, value):
    setattr(obj, attribute, value)


def _sgd(**attributes):
    sgd = optim.SGD()
    for name, value in attributes.items():
        setattr(sgd, name, value)
    return sgd


def _adam(state=None, **attributes):
    adam = optim.Adam()
    if state is not None:
        adam.load_state(state)
    for name, value in attributes.items():
        setattr(adam, name, value)
    return adam


CASES = [
    # written through the documented views, then simulated: re-checked at simulate's entry
    ("view-nan", lambda o: (_write(o.ff.weights[0], (0, 1), NAN), _sim(o.ff, o.inputs)),
     ValueError, r"weights of input->layer1 contains a non-finite value nan at index \(0, 1\)"),
    ("view-inf-general", lambda o: (_write(o.recurrent.weights[1], (2, 2), -INF), _sim(o.recurrent, o.inputs)),
     ValueError, r"weights of exc->exc contains a non-finite value -inf at index \(2, 2\)"),
    ("view-huge", lambda o: (_write(o.ff.weights[1], (1, 0), 1e200), _sim(o.ff, o.inputs)),
     ValueError, r"weights of layer1->layer2 must lie in \[-1e\+100, 1e\+100\].*got 1e\+200 at index \(1, 0\)"),
    ("view-delay-negative", lambda o: (_write(o.recurrent.connections[0].delays, (1, 2), -0.5),
                                       _sim(o.recurrent, o.inputs)),
     ValueError, r"delays of in->exc must be >= 0 ms, got -0.5 at index \(1, 2\)"),
    ("view-delay-nan", lambda o: (_write(o.recurrent.connections[0].delays, (0, 0), NAN),
                                  _sim(o.recurrent, o.inputs)),
     ValueError, r"delays of in->exc contains a non-finite value nan"),
    ("scalar-delay-replaced-privately", lambda o: (_assign(o.ff.connections[0], "_delays", -1.0),
                                                   _sim(o.ff, o.inputs)),
     ValueError, r"delays of input->layer1 must be a finite number >= 0, got -1.0"),
    # assigned: refused at the assignment
    ("assign-nan", lambda o: _assign(o.ff.connections[0], "weights", np.full((2, 3), NAN)),
     ValueError, r"weights of input->layer1 contains a non-finite value nan"),
    ("assign-huge", lambda o: _assign(o.ff.connections[1], "weights", np.full((3, 2), -1e155)),
     ValueError, r"weights of layer1->layer2 must lie in \[-1e\+100, 1e\+100\]"),
    ("assign-bool", lambda o: _assign(o.ff.connections[0], "weights", np.ones((2, 3), bool)),
     TypeError, r"weights of input->layer1 must hold real numbers, got bool values"),
    ("assign-complex", lambda o: _assign(o.ff.connections[0], "weights", np.ones((2, 3), complex)),
     TypeError, r"weights of input->layer1 must hold real numbers, got complex values"),
    ("assign-delay-negative", lambda o: _assign(o.ff.connections[0], "delays", -1.0),
     ValueError, r"delays of input->layer1 must be a finite number >= 0, got -1.0"),
    ("assign-delay-array-negative", lambda o: _assign(o.recurrent.connections[1], "delays", np.full((3, 3), -2.0)),
     ValueError, r"delays of exc->exc must be >= 0 ms, got -2.0"),
    ("assign-delay-inf", lambda o: _assign(o.ff.connections[0], "delays", INF),
     ValueError, r"delays of input->layer1 must be a finite number >= 0, got inf"),
    ("assign-delay-huge", lambda o: _assign(o.ff.connections[0], "delays", 1e300),
     ValueError, r"delays of input->layer1 must lie in"),
    ("set_weights-nan", lambda o: o.ff.set_weights([np.full((2, 3), NAN), np.ones((3, 2))]),
     ValueError, r"weights\[0\] contains a non-finite value nan"),
    ("set_weights-huge", lambda o: o.ff.set_weights([np.ones((2, 3)), np.full((3, 2), 1e101)]),
     ValueError, r"weights\[1\] must lie in"),
    ("connect-huge", lambda o: o.recurrent.connect("in", "exc", np.full((2, 3), 2e100)),
     ValueError, r"weights of in->exc must lie in \[-1e\+100, 1e\+100\]"),
    ("connect-delay-negative", lambda o: o.recurrent.connect("in", "exc", np.ones((2, 3)), delays=-1.0),
     ValueError, r"delays of in->exc must be a finite number >= 0"),
    ("connection-constructed-nan", lambda o: es.Connection("a", "b", np.array([[NAN]])),
     ValueError, r"weights of a->b contains a non-finite value nan"),
    # neuron parameters beyond the bound
    ("bias-huge", lambda o: es.LIF(bias=1e200), ValueError, r"bias must lie in \[-1e\+100, 1e\+100\].*1e\+200"),
    ("bias-huge-negative", lambda o: es.LIF(bias=-1e101), ValueError, r"bias must lie in"),
    ("threshold-huge", lambda o: es.LIF(threshold=1e101), ValueError, r"threshold must lie in"),
    # read-out weights
    ("readout-nan", lambda o: LIReadout(np.array([[NAN, 1.0]])), ValueError, r"weights contains a non-finite value"),
    ("readout-view-nan", lambda o: (_write(o.readout.weights, (1, 2), NAN), o.readout.maxima(o.rec.layers[-1], 50.0)),
     ValueError, r"readout weights contains a non-finite value nan at index \(1, 2\)"),
    ("readout-view-huge", lambda o: (_write(o.readout.weights, (0, 0), 1e300),
                                     o.readout.backward(o.rec.layers[-1], o.maxima, np.ones(3))),
     ValueError, r"readout weights must lie in"),
    # optimizer values that would write NaN into a model
    ("adam-grad-nan", lambda o: optim.Adam().step([np.zeros(2)], [np.array([0.0, NAN])]),
     ValueError, r"grads\[0\] contains a non-finite value nan at index \(1,\)"),
    ("sgd-grad-inf", lambda o: optim.SGD().step([np.zeros(2)], [np.array([INF, 0.0])]),
     ValueError, r"grads\[0\] contains a non-finite value inf"),
    ("adam-lr-nan", lambda o: _adam(lr=NAN).step([np.zeros(2)], [np.zeros(2)]),
     ValueError, r"lr must be a finite number > 0, got nan"),
    ("adam-lr-negative", lambda o: _adam(lr=-1e-3).step([np.zeros(2)], [np.zeros(2)]),
     ValueError, r"lr must be a finite number > 0, got -0.001"),
    ("sgd-lr-zero", lambda o: _sgd(lr=0.0).step([np.zeros(2)], [np.zeros(2)]),
     ValueError, r"lr must be a finite number > 0, got 0.0"),
    ("adam-state-t-negative", lambda o: _adam({"t": np.int64(-5)}), ValueError,
     r"optimizer state t must be an int >= 0, got -5"),
    ("adam-state-t-float", lambda o: _adam({"t": np.float64(2.5)}), ValueError, r"optimizer state t must be an int"),
    ("adam-state-moment-nan", lambda o: _adam({"t": 1, "m_0": np.array([NAN]), "v_0": np.ones(1)}),
     ValueError, r"optimizer state m_0 contains a non-finite value nan"),
    ("adam-state-second-moment-negative", lambda o: _adam({"t": 1, "m_0": np.ones(1), "v_0": -np.ones(1)}),
     ValueError, r"optimizer state v_0 \(second moment\) must be >= 0, got -1.0"),
    ("adam-state-missing-t", lambda o: _adam({"m_0": np.ones(1), "v_0": np.ones(1)}),
     ValueError, r"optimizer state has no entry 't'"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_value_outside_the_engine_range_is_refused(case, objs, kernel_spy):  # noqa: F811 (fixtures)
    _, call, exception, pattern = case
    with pytest.raises(exception, match=pattern):
        call(objs)
    assert kernel_spy == []


@pytest.mark.parametrize("engine", ["feedforward", "general"])
@pytest.mark.parametrize("weight", [1e10, 1e50, check.MAX_ABS_PARAMETER])
def test_weights_up_to_the_bound_give_the_exact_spike(engine, weight):
    """Inside the bound a huge weight fires at its arrival (V jumps across threshold within rounding of the
    arrival time); just outside it the solver used to report the spike at t_max (1e155, issue 19)."""
    net = es.Network.feedforward([1, 1], neuron=es.LIF(refractory=100.0), weights=[np.array([[weight]])])
    rec = es.simulate(net, es.SpikeTrains([1.0], [0], 1), t_max=20.0, engine=engine, n_threads=1)
    assert len(rec.layers[0]) == 1 and 0.0 <= rec.layers[0].times[0] - 1.0 < 1e-8


@pytest.mark.parametrize("current", [1e100 * 1000, 1e150])
def test_currents_far_above_the_bound_are_still_exact(current):
    """The headroom behind MAX_ABS_PARAMETER: a current of many maximal weights (here 1000 simultaneous arrivals,
    and 1e150) still fires at its arrival in the kernel itself, which the public layer never lets a weight reach."""
    from eventsnn._kernels.forward import layer_forward
    params = es.LIF(refractory=100.0).kernel_parameters()
    n = 1000 if current > 1e150 else 1
    times, neurons, code = layer_forward(np.full(n, 1.0), np.arange(n), np.full((n, 1), current / n), params,
                                         20.0, 10)
    assert code == 0 and neurons.tolist() == [0] and 0.0 <= times[0] - 1.0 < 1e-8


def test_bias_up_to_the_bound_fires_at_once():
    lif = es.LIF(bias=check.MAX_ABS_PARAMETER, refractory=100.0)
    net = es.Network.feedforward([1, 1], neuron=lif, weights=[np.zeros((1, 1))])
    rec = es.simulate(net, es.SpikeTrains([], [], 1), t_max=1e-3, n_threads=1)
    assert len(rec.layers[0]) == 1 and 0.0 < rec.layers[0].times[0] < 1e-90
