"""Bad inputs across the public API raise ValueError/TypeError naming the offending argument, before any work.

The table ``CASES`` lists one bad call per row: ``(id, call, exception type, regex the message must match)``.
``call`` takes a small context (a feed-forward network, a general network, one simulated record) so the rows
stay one-liners. Every regex contains the name of the offending argument.
"""

from __future__ import annotations

import importlib
import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

import eventsnn as es
from eventsnn import losses

# ``eventsnn.simulate`` the attribute is the function; the module is reached through importlib
simulate_module = importlib.import_module("eventsnn.simulate")
adjoint_module = importlib.import_module("eventsnn.adjoint")

NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def ctx():
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    w1, w2 = np.full((2, 3), 3.0), np.full((3, 2), 2.0)
    ff = es.Network.feedforward([2, 3, 2], neuron=lif, weights=[w1, w2])
    inputs = es.SpikeTrains([1.0, 2.0, 3.0], [0, 1, 0], 2)
    rec = es.simulate(ff, inputs, t_max=50.0)
    assert all(len(layer) > 0 for layer in rec.layers)
    cot = [np.ones(len(layer)) for layer in rec.layers]

    def general():
        net = es.Network()
        net.add_input("in", 2)
        net.add_population("exc", 3, lif)
        return net

    return SimpleNamespace(lif=lif, w1=w1, w2=w2, ff=ff, inputs=inputs, rec=rec, cot=cot, general=general)


def _connect(ctx, *args, **kwargs):
    return ctx.general().connect(*args, **kwargs)


def _two_pops(ctx):
    net = ctx.general()
    net.add_population("exc", 2, ctx.lif)


def _fs(ctx, **kwargs):
    return losses.first_spike_cross_entropy(ctx.rec, kwargs.pop("label", 0), **kwargs)


LIF_CASES = [
    ("lif-tau_mem-zero", lambda c: es.LIF(tau_mem=0.0), ValueError, r"tau_mem must be a finite number > 0, got 0"),
    ("lif-tau_mem-negative", lambda c: es.LIF(tau_mem=-5.0), ValueError, r"tau_mem .* got -5"),
    ("lif-tau_mem-nan", lambda c: es.LIF(tau_mem=NAN), ValueError, r"tau_mem .* got nan"),
    ("lif-tau_mem-inf", lambda c: es.LIF(tau_mem=INF), ValueError, r"tau_mem .* got inf"),
    ("lif-tau_mem-str", lambda c: es.LIF(tau_mem="10"), TypeError, r"tau_mem must be a real number"),
    ("lif-tau_syn-zero", lambda c: es.LIF(tau_syn=0.0), ValueError, r"tau_syn must be a finite number > 0"),
    ("lif-tau_syn-nan", lambda c: es.LIF(tau_syn=NAN), ValueError, r"tau_syn .* got nan"),
    ("lif-tau_syn-inf", lambda c: es.LIF(tau_syn=INF), ValueError, r"tau_syn .* got inf"),
    ("lif-threshold-zero", lambda c: es.LIF(threshold=0.0), ValueError, r"threshold must be a finite number > 0"),
    ("lif-threshold-negative", lambda c: es.LIF(threshold=-1.0), ValueError, r"threshold .* got -1"),
    ("lif-threshold-nan", lambda c: es.LIF(threshold=NAN), ValueError, r"threshold .* got nan"),
    ("lif-threshold-inf", lambda c: es.LIF(threshold=INF), ValueError, r"threshold .* got inf"),
    ("lif-refractory-negative", lambda c: es.LIF(refractory=-0.5), ValueError, r"refractory must be .*>= 0.*-0.5"),
    ("lif-refractory-nan", lambda c: es.LIF(refractory=NAN), ValueError, r"refractory .* got nan"),
    ("lif-bias-nan", lambda c: es.LIF(bias=NAN), ValueError, r"bias must be a finite number, got nan"),
    ("lif-bias-inf", lambda c: es.LIF(bias=-INF), ValueError, r"bias .* got -inf"),
    ("lif-reset-unknown", lambda c: es.LIF(reset="hard"), ValueError, r"reset must be one of 'zero', 'subtract'.*'hard'"),
    ("lif-reset_current-not-bool", lambda c: es.LIF(reset_current=1), TypeError, r"reset_current must be a bool"),
    ("lif-unknown-keyword", lambda c: es.LIF(tau=5.0), TypeError, r"unexpected keyword argument 'tau'"),
]

NETWORK_CASES = [
    ("ff-weights-wrong-shape", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [c.w1.T, c.w2]),
     ValueError, r"weights of input->layer1 must have shape \(2, 3\), got \(3, 2\)"),
    ("ff-weights-1d", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [np.ones(6), c.w2]),
     ValueError, r"weights of input->layer1 must have shape"),
    ("ff-weights-nan", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [np.full((2, 3), NAN), c.w2]),
     ValueError, r"weights of input->layer1 contains a non-finite value .*nan"),
    ("ff-weights-inf", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [c.w1, np.full((3, 2), INF)]),
     ValueError, r"weights of layer1->layer2 contains a non-finite value .*inf"),
    ("ff-weights-not-numeric", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [[["a"] * 3] * 2, c.w2]),
     TypeError, r"weights of input->layer1 must be convertible"),
    ("ff-weights-wrong-count", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [c.w1]),
     ValueError, r"weights must hold 2 matrices.*got 1"),
    ("ff-delays-negative", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [c.w1, c.w2], delays=[-1.0, 0.0]),
     ValueError, r"delays of input->layer1 must be a finite number >= 0, got -1"),
    ("ff-delays-nan", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [c.w1, c.w2], delays=[0.0, NAN]),
     ValueError, r"delays of layer1->layer2 .* got nan"),
    ("ff-delays-wrong-count", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [c.w1, c.w2], delays=[1.0]),
     ValueError, r"delays must hold 2 scalars, got 1"),
    ("ff-delays-array", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [c.w1, c.w2], delays=[np.ones((2, 3)), 0]),
     ValueError, r"scalar delays"),
    ("ff-sizes-too-short", lambda c: es.Network.feedforward([2], c.lif, []),
     ValueError, r"sizes must list at least"),
    ("ff-size-zero", lambda c: es.Network.feedforward([2, 0, 2], c.lif, [np.ones((2, 0)), np.ones((0, 2))]),
     ValueError, r"size of population 'layer1' must be an int >= 1, got 0"),
    ("ff-neuron-not-lif", lambda c: es.Network.feedforward([2, 3, 2], "lif", [c.w1, c.w2]),
     TypeError, r"neuron must be an eventsnn.LIF .*'lif'"),
    ("ff-neuron-list-item", lambda c: es.Network.feedforward([2, 3, 2], [c.lif, None], [c.w1, c.w2]),
     TypeError, r"neuron\[1\] must be an eventsnn.LIF"),
    ("ff-neuron-wrong-count", lambda c: es.Network.feedforward([2, 3, 2], [c.lif] * 3, [c.w1, c.w2]),
     ValueError, r"neuron must be one LIF or 2 of them, got 3"),
    ("ff-unknown-keyword", lambda c: es.Network.feedforward([2, 3, 2], c.lif, [c.w1, c.w2], delay=1.0),
     TypeError, r"unexpected keyword argument 'delay'"),
    ("connect-weights-wrong-shape", lambda c: _connect(c, "in", "exc", np.ones((3, 2))),
     ValueError, r"weights of in->exc must have shape \(2, 3\), got \(3, 2\)"),
    ("connect-weights-nan", lambda c: _connect(c, "in", "exc", np.full((2, 3), NAN)),
     ValueError, r"weights of in->exc contains a non-finite value"),
    ("connect-weights-inf", lambda c: _connect(c, "in", "exc", np.full((2, 3), -INF)),
     ValueError, r"weights of in->exc contains a non-finite value .*-inf"),
    ("connect-delay-negative", lambda c: _connect(c, "in", "exc", c.w1, delays=-1.0),
     ValueError, r"delays of in->exc must be a finite number >= 0, got -1"),
    ("connect-delay-nan", lambda c: _connect(c, "in", "exc", c.w1, delays=NAN),
     ValueError, r"delays of in->exc .* got nan"),
    ("connect-delay-inf", lambda c: _connect(c, "in", "exc", c.w1, delays=INF),
     ValueError, r"delays of in->exc .* got inf"),
    ("connect-delay-str", lambda c: _connect(c, "in", "exc", c.w1, delays="1"),
     TypeError, r"delays of in->exc must be a real number"),
    ("connect-delay-array-negative", lambda c: _connect(c, "in", "exc", c.w1, delays=-np.ones((2, 3))),
     ValueError, r"delays of in->exc must be >= 0 ms, got .*-1"),
    ("connect-delay-array-nan", lambda c: _connect(c, "in", "exc", c.w1, delays=np.full((2, 3), NAN)),
     ValueError, r"delays of in->exc contains a non-finite value"),
    ("connect-delay-array-wrong-shape", lambda c: _connect(c, "in", "exc", c.w1, delays=np.ones((3, 2))),
     ValueError, r"delays of in->exc must have shape \(2, 3\), got \(3, 2\)"),
    ("connect-delay-array-1d", lambda c: _connect(c, "in", "exc", c.w1, delays=[1.0, 2.0, 3.0]),
     ValueError, r"delays of in->exc must have shape \(2, 3\), got \(3,\)"),
    ("connect-unknown-pre", lambda c: _connect(c, "inp", "exc", c.w1),
     ValueError, r"pre population 'inp' does not exist; known: \['in', 'exc'\]"),
    ("connect-unknown-post", lambda c: _connect(c, "in", "ex", c.w1),
     ValueError, r"post population 'ex' does not exist"),
    ("connect-into-input", lambda c: _connect(c, "exc", "in", np.ones((3, 2))),
     ValueError, r"post population 'in' is an input population"),
    ("duplicate-population", _two_pops, ValueError, r"population name 'exc' is already used"),
    ("duplicate-input", lambda c: c.general().add_input("in", 4), ValueError, r"population name 'in' is already used"),
    ("population-size-zero", lambda c: c.general().add_population("b", 0, c.lif),
     ValueError, r"size of population 'b' must be an int >= 1, got 0"),
    ("population-name-empty", lambda c: c.general().add_input("", 2),
     TypeError, r"population name must be a non-empty str"),
    ("population-neuron-not-lif", lambda c: c.general().add_population("b", 2, {"tau_mem": 10.0}),
     TypeError, r"neuron must be an eventsnn.LIF"),
    ("set_weights-nan", lambda c: c.ff.copy().set_weights([np.full((2, 3), NAN), c.w2]),
     ValueError, r"weights\[0\] contains a non-finite value"),
    ("set_weights-wrong-shape", lambda c: c.ff.copy().set_weights([c.w1, c.w2.T]),
     ValueError, r"weights\[1\] must have shape \(3, 2\)"),
]

SPIKE_CASES = [
    ("spikes-negative-time", lambda c: es.SpikeTrains([-1.0, 2.0], [0, 1], 2), ValueError, r"times must be >= 0 ms, got .*-1"),
    ("spikes-nan-time", lambda c: es.SpikeTrains([1.0, NAN], [0, 1], 2), ValueError, r"times contains a non-finite value .*nan"),
    ("spikes-inf-time", lambda c: es.SpikeTrains([1.0, INF], [0, 1], 2), ValueError, r"times contains a non-finite value .*inf"),
    ("spikes-unsorted", lambda c: es.SpikeTrains([2.0, 1.0], [0, 1], 2), ValueError,
     r"times must be sorted .*times\[0\]=.*2.0.*sort=True"),
    ("spikes-neuron-out-of-range", lambda c: es.SpikeTrains([1.0], [2], 2), ValueError,
     r"neurons contains neuron index 2, outside the valid range \[0, 1\]"),
    ("spikes-neuron-negative", lambda c: es.SpikeTrains([1.0], [-1], 2), ValueError, r"neurons contains neuron index -1"),
    ("spikes-neuron-float", lambda c: es.SpikeTrains([1.0], [0.5], 2), TypeError, r"neurons must hold integer neuron indices"),
    ("spikes-neuron-bool", lambda c: es.SpikeTrains([1.0], [True], 2), TypeError, r"neurons must hold integer"),
    ("spikes-length-mismatch", lambda c: es.SpikeTrains([1.0, 2.0], [0], 2), ValueError,
     r"times and neurons must have the same length, got 2 and 1"),
    ("spikes-times-2d", lambda c: es.SpikeTrains([[1.0]], [0], 2), ValueError, r"times must be 1-dimensional"),
    ("spikes-times-str", lambda c: es.SpikeTrains(["a"], [0], 2), TypeError, r"times must be convertible"),
    ("spikes-n_neurons-float", lambda c: es.SpikeTrains([1.0], [0], 2.0), TypeError, r"n_neurons must be an int"),
    ("spikes-n_neurons-negative", lambda c: es.SpikeTrains([], [], -1), ValueError, r"n_neurons must be an int >= 0, got -1"),
    ("spikes-sort-not-bool", lambda c: es.SpikeTrains([1.0], [0], 2, sort="yes"), TypeError, r"sort must be a bool"),
    ("from_lists-nan", lambda c: es.SpikeTrains.from_lists([[1.0], [NAN]]), ValueError, r"times contains a non-finite"),
    ("from_lists-negative", lambda c: es.SpikeTrains.from_lists([[-2.0]]), ValueError, r"times must be >= 0"),
    ("raster-t_max-zero", lambda c: c.inputs.to_raster(0.0, 1.0), ValueError, r"t_max must be a finite number > 0, got 0"),
    ("raster-dt-nan", lambda c: c.inputs.to_raster(10.0, NAN), ValueError, r"dt must be a finite number > 0, got nan"),
    ("first_spike_times-missing-str", lambda c: c.inputs.first_spike_times("never"), TypeError, r"missing must be a real number"),
    ("batch-unsorted", lambda c: es.SpikeBatch([2.0, 1.0], [0, 0], [0, 2], 2), ValueError, r"times of sample 0 are not sorted"),
    ("batch-negative-time", lambda c: es.SpikeBatch([-1.0], [0], [0, 1], 2), ValueError, r"times must be >= 0 ms"),
    ("batch-nan-time", lambda c: es.SpikeBatch([NAN], [0], [0, 1], 2), ValueError, r"times contains a non-finite"),
    ("batch-neuron-out-of-range", lambda c: es.SpikeBatch([1.0], [5], [0, 1], 2), ValueError, r"neurons contains neuron index 5"),
    ("batch-bad-offsets", lambda c: es.SpikeBatch([1.0], [0], [0, 2], 2), ValueError, r"offsets must start at 0.*got \[0, 2\]"),
    ("batch-length-mismatch", lambda c: es.SpikeBatch([1.0, 2.0], [0], [0, 2], 2), ValueError,
     r"times and neurons must have the same length, got 2 and 1"),
    ("batch-n_neurons-negative", lambda c: es.SpikeBatch([], [], [0], -1), ValueError, r"n_neurons must be an int >= 0"),
    ("batch-from_list-empty", lambda c: es.SpikeBatch.from_list([]), ValueError, r"empty list"),
    ("batch-from_list-not-trains", lambda c: es.SpikeBatch.from_list([c.inputs, [1.0]]), TypeError,
     r"trains\[1\] must be a SpikeTrains"),
    ("batch-from_list-mixed-sizes", lambda c: es.SpikeBatch.from_list([c.inputs, es.SpikeTrains([], [], 3)]),
     ValueError, r"same n_neurons, got \[2, 3\]"),
    ("batch-index-float", lambda c: es.SpikeBatch.from_list([c.inputs])[0.5], TypeError, r"sample index must be an int"),
    ("batch-index-out-of-range", lambda c: es.SpikeBatch.from_list([c.inputs])[1], IndexError, r"sample 1 out of range"),
]

SIMULATE_CASES = [
    ("simulate-t_max-zero", lambda c: es.simulate(c.ff, c.inputs, 0.0), ValueError, r"t_max must be a finite number > 0, got 0"),
    ("simulate-t_max-negative", lambda c: es.simulate(c.ff, c.inputs, -10.0), ValueError, r"t_max .* got -10"),
    ("simulate-t_max-nan", lambda c: es.simulate(c.ff, c.inputs, NAN), ValueError, r"t_max .* got nan"),
    ("simulate-t_max-inf", lambda c: es.simulate(c.ff, c.inputs, INF), ValueError, r"t_max .* got inf"),
    ("simulate-t_max-str", lambda c: es.simulate(c.ff, c.inputs, "50"), TypeError, r"t_max must be a real number"),
    ("simulate-input-wrong-size", lambda c: es.simulate(c.ff, es.SpikeTrains([1.0], [0], 3), 10.0), ValueError,
     r"inputs\['input'\] has n_neurons=3 but input population 'input' has 2 neurons"),
    ("simulate-input-not-spikes", lambda c: es.simulate(c.ff, np.array([1.0, 2.0]), 10.0), TypeError,
     r"inputs must be a SpikeTrains or a dict"),
    ("simulate-dict-unknown", lambda c: es.simulate(c.ff, {"input": c.inputs, "extra": c.inputs}, 10.0), ValueError,
     r"inputs must give spikes for exactly the input populations \['input'\]; unknown \['extra'\]"),
    ("simulate-dict-missing", lambda c: es.simulate(c.ff, {}, 10.0), ValueError, r"inputs .* missing \['input'\]"),
    ("simulate-dict-value-not-spikes", lambda c: es.simulate(c.ff, {"input": [1.0]}, 10.0), TypeError,
     r"inputs\['input'\] must be a SpikeTrains"),
    ("simulate-batch-wrong-size", lambda c: es.simulate(c.ff, [c.inputs, es.SpikeTrains([], [], 5)], 10.0), ValueError,
     r"inputs\[1\]\['input'\] has n_neurons=5"),
    ("simulate-engine-unknown", lambda c: es.simulate(c.ff, c.inputs, 10.0, engine="fast"), ValueError,
     r"engine must be one of 'auto', 'feedforward', 'general'; got 'fast'"),
    ("simulate-engine-feedforward-on-recurrent", lambda c: es.simulate(_recurrent(c), {"in": c.inputs}, 10.0,
                                                                         engine="feedforward"),
     ValueError, r"engine='feedforward' needs a chain"),
    ("simulate-max_spikes-zero", lambda c: es.simulate(c.ff, c.inputs, 10.0, max_spikes_per_neuron=0), ValueError,
     r"max_spikes_per_neuron must be an int >= 1, got 0"),
    ("simulate-max_spikes-float", lambda c: es.simulate(c.ff, c.inputs, 10.0, max_spikes_per_neuron=10.0), ValueError,
     r"max_spikes_per_neuron must be an int >= 1, got 10.0"),
    ("simulate-max_spikes-bool", lambda c: es.simulate(c.ff, c.inputs, 10.0, max_spikes_per_neuron=True), ValueError,
     r"max_spikes_per_neuron .* got True"),
    ("simulate-n_threads-zero", lambda c: es.simulate(c.ff, c.inputs, 10.0, n_threads=0), ValueError,
     r"n_threads must be an int >= 1, got 0"),
    ("simulate-n_threads-float", lambda c: es.simulate(c.ff, c.inputs, 10.0, n_threads=2.0), ValueError,
     r"n_threads .* got 2.0"),
    ("simulate-n_threads-bool", lambda c: es.simulate(c.ff, c.inputs, 10.0, n_threads=True), ValueError,
     r"n_threads .* got True"),
    ("simulate-progress-str", lambda c: es.simulate(c.ff, c.inputs, 10.0, progress="yes"), TypeError,
     r"progress must be a bool"),
    ("simulate-unknown-keyword", lambda c: es.simulate(c.ff, c.inputs, 10.0, dt=0.1), TypeError,
     r"unexpected keyword argument 'dt'"),
    ("simulate-net-not-network", lambda c: es.simulate("net", c.inputs, 10.0), TypeError, r"net must be an eventsnn.Network"),
    ("simulate-net-without-population", lambda c: es.simulate(_inputs_only(), c.inputs, 10.0), ValueError,
     r"no neuron population"),
]


def _recurrent(c):
    net = c.general()
    net.connect("in", "exc", c.w1)
    net.connect("exc", "exc", np.zeros((3, 3)), delays=1.0)
    return net


def _inputs_only():
    net = es.Network()
    net.add_input("in", 2)
    return net


VJP_CASES = [
    ("vjp-cotangents-wrong-count", lambda c: es.vjp(c.ff, c.rec, c.cot[:1]), ValueError,
     r"cotangents must hold one array per layer \(2\), got 1"),
    ("vjp-cotangents-wrong-length", lambda c: es.vjp(c.ff, c.rec, [np.ones(len(c.cot[0]) + 1), c.cot[1]]), ValueError,
     r"cotangents\[0\] must have shape"),
    ("vjp-cotangents-nan", lambda c: es.vjp(c.ff, c.rec, [c.cot[0], np.full_like(c.cot[1], NAN)]), ValueError,
     r"cotangents\[1\] contains a non-finite value .*nan"),
    ("vjp-cotangents-inf", lambda c: es.vjp(c.ff, c.rec, [np.full_like(c.cot[0], INF), c.cot[1]]), ValueError,
     r"cotangents\[0\] contains a non-finite value .*inf"),
    ("vjp-batch-cotangent-count", lambda c: es.vjp(c.ff, [c.rec, c.rec], [c.cot]), ValueError,
     r"got 2 records but 1 cotangent lists"),
    ("vjp-batch-bad-sample", lambda c: es.vjp(c.ff, [c.rec, c.rec], [c.cot, c.cot[:1]]), ValueError,
     r"cotangents\[1\] must hold one array per layer"),
    ("vjp-method-unknown", lambda c: es.vjp(c.ff, c.rec, c.cot, method="surrogate"), ValueError,
     r"method must be one of 'timing', 'activation', 'antlr', 'na'; got 'surrogate'"),
    ("vjp-method-option-unknown", lambda c: es.vjp(c.ff, c.rec, _fs(c), method="antlr", lambda_activaton=1.0), TypeError,
     r"unknown option\(s\) 'lambda_activaton'; valid options are"),
    ("vjp-method-option-bad-value", lambda c: es.vjp(c.ff, c.rec, _fs(c), method="activation", dt=0.0), ValueError,
     r"dt must be a finite number > 0"),
    ("vjp-timing-with-options", lambda c: es.vjp(c.ff, c.rec, c.cot, dt=0.5), ValueError,
     r"method='timing' takes no method options, got \['dt'\]"),
    ("vjp-method-needs-lossresult", lambda c: es.vjp(c.ff, c.rec, c.cot, method="antlr"), TypeError,
     r"needs the loss as a LossResult .*cotangents"),
    ("vjp-min_slope-negative", lambda c: es.vjp(c.ff, c.rec, c.cot, min_slope=-1.0), ValueError,
     r"min_slope must be a finite number >= 0, got -1"),
    ("vjp-grazing_slope-nan", lambda c: es.vjp(c.ff, c.rec, c.cot, grazing_slope=NAN), ValueError,
     r"grazing_slope .* got nan"),
    ("vjp-n_threads-zero", lambda c: es.vjp(c.ff, [c.rec, c.rec], [c.cot, c.cot], n_threads=0), ValueError,
     r"n_threads must be an int >= 1, got 0"),
    ("vjp-n_threads-float", lambda c: es.vjp(c.ff, [c.rec, c.rec], [c.cot, c.cot], n_threads=1.5), TypeError,
     r"n_threads must be an int"),
    ("vjp-loss_fn-not-callable", lambda c: es.vjp(c.ff, c.rec, _fs(c), method="na", loss_fn=3.0), TypeError,
     r"loss_fn must be callable"),
    ("vjp-net-not-network", lambda c: es.vjp("net", c.rec, c.cot), TypeError, r"net must be an eventsnn.Network"),
    ("vjp-rec-not-record", lambda c: es.vjp(c.ff, "rec", c.cot), TypeError, r"rec must be a Record or a list"),
    ("vjp-rec-list-item", lambda c: es.vjp(c.ff, [c.rec, None], [c.cot, c.cot]), TypeError, r"rec\[1\] must be a Record"),
    ("vjp-net-mismatch", lambda c: es.vjp(es.Network.feedforward([2, 4, 2], c.lif, [np.ones((2, 4)), np.ones((4, 2))]),
                                          c.rec, c.cot),
     ValueError, r"rec was produced by a network with different connection shapes than net"),
    ("vjp-unknown-keyword", lambda c: es.vjp(c.ff, c.rec, c.cot, mehtod="timing"), ValueError,
     r"method='timing' takes no method options, got \['mehtod'\]"),
]

LOSS_CASES = [
    ("fs-label-out-of-range", lambda c: _fs(c, label=2), ValueError, r"label must be an int in \[0, 1\], got 2"),
    ("fs-label-negative", lambda c: _fs(c, label=-1), ValueError, r"label .* got -1"),
    ("fs-label-float", lambda c: _fs(c, label=1.0), ValueError, r"label must be an int .* got 1.0"),
    ("fs-label-bool", lambda c: _fs(c, label=True), ValueError, r"label .* got True"),
    ("fs-tau-zero", lambda c: _fs(c, tau=0.0), ValueError, r"tau must be a finite number > 0, got 0"),
    ("fs-tau-nan", lambda c: _fs(c, tau=NAN), ValueError, r"tau .* got nan"),
    ("fs-early_weight-negative", lambda c: _fs(c, early_weight=-1.0), ValueError, r"early_weight must be .*>= 0"),
    ("fs-early_tau-zero", lambda c: _fs(c, early_tau=0.0), ValueError, r"early_tau must be a finite number > 0"),
    ("fs-silent_time-nan", lambda c: _fs(c, silent_time=NAN), ValueError, r"silent_time must be a finite number"),
    ("fs-layer-unknown", lambda c: _fs(c, layer="out"), ValueError, r"layer must be one of \['layer1', 'layer2'\], got 'out'"),
    ("fs-layer-out-of-range", lambda c: _fs(c, layer=2), ValueError, r"layer index 2 out of range for 2 layers"),
    ("fs-layer-float", lambda c: _fs(c, layer=1.0), TypeError, r"layer must be a layer name or an int index"),
    ("fs-rec-not-record", lambda c: losses.first_spike_cross_entropy("rec", 0), TypeError, r"rec must be an eventsnn.Record"),
    ("latency-beta-zero", lambda c: losses.latency_cross_entropy(c.rec, 0, beta=0.0), ValueError, r"beta must be .*> 0"),
    ("latency-lambda-negative", lambda c: losses.latency_cross_entropy(c.rec, 0, lambda_nospike=-0.1), ValueError,
     r"lambda_nospike must be .*>= 0"),
    ("latency-t_run-inf", lambda c: losses.latency_cross_entropy(c.rec, 0, t_run=INF), ValueError, r"t_run must be a finite"),
    ("latency-label", lambda c: losses.latency_cross_entropy(c.rec, 7), ValueError, r"label must be an int in \[0, 1\]"),
    ("count-ce-scale-zero", lambda c: losses.spike_count_cross_entropy(c.rec, 0, scale=0.0), ValueError, r"scale must be"),
    ("count-ce-label", lambda c: losses.spike_count_cross_entropy(c.rec, 9), ValueError, r"label .* got 9"),
    ("count-mse-targets-shape", lambda c: losses.spike_count_mse(c.rec, np.ones(3)), ValueError,
     r"targets must have shape \(2,\), got \(3,\)"),
    ("count-mse-targets-nan", lambda c: losses.spike_count_mse(c.rec, [1.0, NAN]), ValueError, r"targets contains a non-finite"),
    ("time-mse-targets-size", lambda c: losses.spike_time_mse(c.rec, es.SpikeTrains([1.0], [0], 3)), ValueError,
     r"targets must be a SpikeTrains with n_neurons=2"),
    ("time-mse-penalty", lambda c: losses.spike_time_mse(c.rec, es.SpikeTrains([], [], 2), missing_penalty=-1.0),
     ValueError, r"missing_penalty must be .*>= 0"),
    ("van-rossum-tau", lambda c: losses.van_rossum_distance(c.rec, es.SpikeTrains([], [], 2), tau=-1.0), ValueError,
     r"tau must be a finite number > 0"),
    ("van-rossum-target", lambda c: losses.van_rossum_distance(c.rec, [1.0]), ValueError,
     r"target must be a SpikeTrains with n_neurons=2"),
    ("regularizer-strength-nan", lambda c: losses.spike_count_regularizer(c.rec, strength=NAN), ValueError,
     r"strength must be .* got nan"),
    ("regularizer-layers", lambda c: losses.spike_count_regularizer(c.rec, strength=1.0, layers=[3]), ValueError,
     r"layer index 3 out of range"),
    ("predict-layer", lambda c: losses.predict_first_spike(c.rec, layer="hidden"), ValueError, r"layer must be one of"),
]

RECORD_CASES = [
    ("mp-neuron-out-of-range", lambda c: c.rec.membrane_potential("layer1", 3, [1.0]), ValueError,
     r"neuron must be an index in \[0, 2\] of population 'layer1', got 3"),
    ("mp-neuron-negative", lambda c: c.rec.membrane_potential("layer1", -1, [1.0]), ValueError, r"neuron must be .* got -1"),
    ("mp-neuron-float", lambda c: c.rec.membrane_potential("layer1", 0.0, [1.0]), ValueError, r"neuron must be .* got 0.0"),
    ("mp-times-negative", lambda c: c.rec.membrane_potential("layer1", 0, [1.0, -0.5]), ValueError,
     r"times must be >= 0 ms, got .*-0.5"),
    ("mp-times-nan", lambda c: c.rec.membrane_potential("layer1", 0, [NAN]), ValueError, r"times contains a non-finite"),
    ("mp-layer-unknown", lambda c: c.rec.membrane_potential("hidden", 0, [1.0]), ValueError,
     r"layer must be a neuron population, one of \['layer1', 'layer2'\]; got 'hidden'"),
    ("mp-layer-input", lambda c: c.rec.membrane_potential("input", 0, [1.0]), ValueError, r"layer must be a neuron population"),
    ("mp-layer-index-out-of-range", lambda c: c.rec.membrane_potential(2, 0, [1.0]), ValueError,
     r"layer index must be in \[-2, 1\]"),
    ("mp-layer-float", lambda c: c.rec.membrane_potential(0.0, 0, [1.0]), TypeError, r"layer must be a population name"),
    ("sc-layer-unknown", lambda c: c.rec.synaptic_current("hidden", 0, [1.0]), ValueError, r"layer must be a neuron population"),
    ("sc-times-inf", lambda c: c.rec.synaptic_current(0, 0, [INF]), ValueError, r"times contains a non-finite"),
    ("arrivals-unknown", lambda c: c.rec.arrivals("hidden", 0), ValueError, r"name must be a neuron population"),
    ("arrivals-neuron-out-of-range", lambda c: c.rec.arrivals("layer2", 2), ValueError,
     r"neuron must be an index in \[0, 1\] of population 'layer2', got 2"),
    ("population-unknown", lambda c: c.rec.population("hidden"), ValueError, r"name must be a population of the record"),
]

CASES = LIF_CASES + NETWORK_CASES + SPIKE_CASES + SIMULATE_CASES + VJP_CASES + LOSS_CASES + RECORD_CASES


def test_case_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("call, error, pattern", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_raises_a_clear_error(ctx, call, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        call(ctx)
    assert type(info.value) is error, f"expected exactly {error.__name__}, got {type(info.value).__name__}"


# ------------------------------------------------------------------------------------------------------------
# "before any work"

class _ExplodingRunner:
    """Stands in for the engines: any call means simulation started."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("a runner was built before the inputs were validated")


@pytest.mark.parametrize("engine", ["feedforward", "general"])
def test_simulate_validates_the_whole_batch_before_simulating(ctx, monkeypatch, engine):
    monkeypatch.setattr(simulate_module, "_FeedforwardRunner", _ExplodingRunner)
    monkeypatch.setattr(simulate_module, "_GeneralRunner", _ExplodingRunner)
    batch = [ctx.inputs] * 50 + [es.SpikeTrains([1.0], [0], 7)]
    with pytest.raises(ValueError, match=r"inputs\[50\]\['input'\] has n_neurons=7"):
        es.simulate(ctx.ff, batch, 50.0, engine=engine, n_threads=1)
    batch = [ctx.inputs] * 50 + [{"wrong": ctx.inputs}]
    with pytest.raises(ValueError, match=r"inputs\[50\] must give spikes .*unknown \['wrong'\]"):
        es.simulate(ctx.ff, batch, 50.0, engine=engine, n_threads=1)


def test_simulate_rejects_a_bad_last_sample_faster_than_it_simulates(ctx):
    """Without monkeypatching: a large batch with a bad last sample fails in far less than one pass costs."""
    rng = np.random.default_rng(0)
    heavy = es.SpikeTrains(np.sort(rng.uniform(0, 40, 400)), rng.integers(0, 2, 400), 2)
    batch = [heavy] * 300
    start = time.perf_counter()
    es.simulate(ctx.ff, batch, 50.0, n_threads=1)
    full = time.perf_counter() - start
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"inputs\[300\]"):
        es.simulate(ctx.ff, batch + [es.SpikeTrains([], [], 3)], 50.0, n_threads=1)
    failed = time.perf_counter() - start
    assert failed < 0.5 * full, (failed, full)


def test_vjp_validates_every_sample_before_any_backward_pass(ctx, monkeypatch):
    def explode(*args, **kwargs):
        raise AssertionError("a backward pass ran before the cotangents were validated")

    monkeypatch.setattr(adjoint_module, "_vjp_one", explode)
    bad = [ctx.cot[0], np.full_like(ctx.cot[1], NAN)]
    with pytest.raises(ValueError, match=r"cotangents\[5\]\[1\] contains a non-finite value"):
        es.vjp(ctx.ff, [ctx.rec] * 6, [ctx.cot] * 5 + [bad], n_threads=1)


def test_network_is_unchanged_by_a_rejected_connection(ctx):
    net = ctx.general()
    net.connect("in", "exc", ctx.w1)
    with pytest.raises(ValueError, match="delays of exc->exc"):
        net.connect("exc", "exc", np.zeros((3, 3)), delays=-np.ones((3, 3)))
    assert len(net.connections) == 1


def test_valid_edge_values_are_accepted(ctx):
    """The boundaries of the accepted ranges: not every unusual value is an error."""
    es.LIF(tau_mem=5.0, tau_syn=5.0, refractory=0.0, bias=-3.0, reset="subtract", reset_current=np.bool_(True))
    es.SpikeTrains([], [], 0)
    es.SpikeTrains([0.0, 0.0], [1, 0], 2)                      # equal times in any neuron order
    es.SpikeTrains(np.array([1.0]), np.array([1.0]), 2)        # integer-valued floats are indices
    es.SpikeTrains([2.0, 1.0], [0, 1], np.int64(2), sort=True)
    ctx.general().connect("in", "exc", ctx.w1, delays=np.zeros((2, 3)))
    rec = es.simulate(ctx.ff, ctx.inputs, t_max=1e-9, n_threads=np.int64(1))
    assert rec.n_spikes == {"layer1": 0, "layer2": 0}
    assert ctx.rec.membrane_potential(-1, 1, [0.0]).tolist() == [0.0]
