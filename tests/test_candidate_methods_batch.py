"""The creation/removal methods (activation, antlr, na) on a batch: checked a batch at a time, with the per-sample
work slimmed (the candidates' creation cotangents without re-checking arrays the library built, the sums of loss
terms and the surrogate gains computed in place). Each shortcut gives the numbers of the plain formula or of the
per-sample checks bit for bit, and bad input still raises the per-sample error for the first bad sample."""

from __future__ import annotations

import re

import numpy as np
import pytest

import eventsnn as es
from eventsnn import adjoint, gradient_methods as gm, losses
from test_threads import _inputs, _networks

# (method, options): both forms, with and without the reset term
VARIANTS = [
    ("activation", {}),
    ("activation", {"detach_reset": False}),
    ("activation", {"form": "event", "detach_reset": False}),
    ("antlr", {}),
    ("antlr", {"form": "grid", "detach_reset": True}),
    ("na", {}),
    ("na", {"na_power": 3.0, "detach_reset": False}),
]


def _losses(records, rng):
    """A loss with creation terms on the output layer and count cotangents on every layer, scaled as the trainer
    scales it (the sums and products of creation terms are exercised)."""
    out = []
    for b, rec in enumerate(records):
        n_out = rec.layers[-1].n_neurons
        target = es.SpikeTrains(np.sort(rng.uniform(0.0, 40.0, 3)), rng.integers(0, n_out, 3), n_out, sort=True)
        loss = losses.first_spike_cross_entropy(rec, b % n_out) + losses.van_rossum_distance(rec, target, tau=5.0) \
            + losses.spike_count_regularizer(rec, strength=1e-2)
        out.append(loss.scaled(1.0 / len(records)))
    return out


def _same(a: es.Gradients, b: es.Gradients) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights, strict=True)) \
        and a.biases == b.biases and a.delays == b.delays and a.n_near_grazing == b.n_near_grazing


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n_samples", [1, 7])
def test_batch_checks_give_the_per_sample_route_bit_for_bit(seed, n_samples, monkeypatch):
    rng = np.random.default_rng(80 + seed)
    for name, net in _networks(rng).items():
        n_in = net.populations[net.input_names[0]].size
        records = es.simulate(net, _inputs(rng, n_in, n_samples), 40.0, n_threads=1)
        loss = _losses(records, rng)
        for method, options in VARIANTS:
            fast = es.vjp(net, records, loss, method=method, n_threads=1, **options)
            with monkeypatch.context() as patch:  # the per-sample checks, as for any input they do not cover
                patch.setattr(adjoint, "_checked_batch", lambda *a: None)
                slow = es.vjp(net, records, loss, method=method, n_threads=1, **options)
            assert _same(fast, slow), (name, method, options)
            alone = [es.vjp(net, r, l, method=method, **options) for r, l in zip(records, loss)]
            if n_samples == 1:
                assert _same(fast, alone[0]), (name, method, options)
            for k, total in enumerate(fast.weights):  # the batch total adds the samples in another grouping
                np.testing.assert_allclose(total, sum(g.weights[k] for g in alone), rtol=1e-12, atol=1e-12)
            assert max(np.abs(w).max() for w in fast.weights) > 0 or not any(
                len(r.layers[0]) for r in records), (name, method, options)


def test_empty_layers_and_empty_samples():
    rng = np.random.default_rng(5)
    net = es.Network.feedforward([4, 3, 2], es.LIF(tau_mem=10.0, tau_syn=5.0),
                                 [np.full((4, 3), 0.1), np.full((3, 2), 0.1)])  # too weak to fire
    records = es.simulate(net, [es.SpikeTrains([], [], 4), es.SpikeTrains([1.0, 2.0], [0, 3], 4)], 30.0)
    assert all(len(layer) == 0 for r in records for layer in r.layers)
    loss = _losses(records, rng)
    for method, options in VARIANTS:
        g = es.vjp(net, records, loss, method=method, n_threads=1, **options)
        parts = [es.vjp(net, r, l, method=method, **options) for r, l in zip(records, loss)]
        for k in range(2):
            np.testing.assert_array_equal(g.weights[k], parts[0].weights[k] + parts[1].weights[k])


# tamper with record 2 (or its loss) after simulate: the per-record checks name it, with their message
BREAKAGES = {
    "layer unsorted": lambda recs, loss: recs[2].layers[0].times.__setitem__(0, recs[2].layers[0].times[-1] + 1.0),
    "input neuron": lambda recs, loss: recs[2].inputs["input"].neurons.__setitem__(0, 12),
    "t_max": lambda recs, loss: setattr(recs[2], "t_max", -1.0),
    "cotangent nan": lambda recs, loss: loss[2].cotangents[0].__setitem__(0, np.nan),
    "cotangent length": lambda recs, loss: loss[2].cotangents.__setitem__(1, np.zeros(len(recs[2].layers[1]) + 1)),
    "not a LossResult": lambda recs, loss: loss.__setitem__(2, loss[2].cotangents),
}


def _message(call):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return info.type, str(info.value)


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
@pytest.mark.parametrize("method", ["activation", "antlr", "na"])
def test_bad_input_raises_the_per_sample_error(breakage, method):
    rng = np.random.default_rng(9)
    net = _networks(rng)["two layers"]
    inputs = [es.SpikeTrains(np.sort(rng.uniform(0, 30.0, 40)), rng.integers(0, 12, 40), 12, sort=True)
              for _ in range(5)]
    records = es.simulate(net, inputs, 40.0, n_threads=1)
    assert all(len(r.layers[0]) >= 2 for r in records)
    loss = _losses(records, rng)
    BREAKAGES[breakage](records, loss)
    kind, message = _message(lambda: es.vjp(net, records, loss, method=method, n_threads=1))
    assert re.match(r"(cotangents|rec)\[2\]|method=", message), message
    alone = _message(lambda: es.vjp(net, records[2:3], loss[2:3], method=method, n_threads=1))
    assert (kind, message) == (alone[0], alone[1].replace("rec[0]", "rec[2]").replace("cotangents[0]",
                                                                                       "cotangents[2]"))


def _loss_with_term(rng, n_neurons):
    weights = rng.normal(size=n_neurons)
    term = lambda times, neurons=None: np.sin(times)[:, None] * weights if neurons is None \
        else np.sin(times) * weights[neurons]  # noqa: E731
    return losses.LossResult(0.0, [np.zeros(0)], [rng.normal(size=n_neurons)], creation_terms=[term])


def test_creation_cotangent_of_candidates_equals_the_checked_method():
    rng = np.random.default_rng(3)
    loss = _loss_with_term(rng, 5)
    times, neurons = rng.uniform(0.0, 30.0, 200), rng.integers(0, 5, 200)
    assert np.array_equal(loss._creation_cotangent_at(0, times, neurons, 5), loss.creation_cotangent(0, times, neurons))
    scaled = (loss + loss).scaled(0.25)
    assert np.array_equal(scaled._creation_cotangent_at(0, times, neurons, 5),
                          scaled.creation_cotangent(0, times, neurons))
    # count cotangents the shortcut cannot vouch for: the public method runs, with its error or its numbers
    for counts in ([np.zeros(3)], [], [[0.5] * 5], [np.arange(5)], [np.zeros(5, dtype=np.float32)]):
        other = losses.LossResult(0.0, [np.zeros(0)], counts, creation_terms=loss.creation_terms if counts else None)
        assert _outcome(lambda: other._creation_cotangent_at(0, times, neurons, 5)) == \
            _outcome(lambda: other.creation_cotangent(0, times, neurons)), counts


def _outcome(call):
    """(exception type, message) of a call that raises, else ("value", the result as bytes and dtype)."""
    try:
        out = call()
    except Exception as error:  # noqa: BLE001 -- the two routes must fail alike, whatever the error
        return type(error), str(error)
    return "value", out.dtype, out.tobytes()


@pytest.mark.parametrize("factor", [1.0, 0.25, np.float64(1.0 / 3.0), 2, np.linspace(-1.0, 1.0, 6)])
def test_sums_of_creation_terms_are_the_plain_formula(factor):
    """factor * (a + b) of the terms of two losses, bit for bit: -0.0, NaN and infinities included, the dtype kept,
    and the arrays the terms return left as they were."""
    stored = np.array([-0.0, 0.0, np.nan, np.inf, -1.5, 2.0**-1074])
    other = np.array([-0.0, -0.0, 1.0, 1.0, -0.0, 3.0])
    as_float32 = stored.astype(np.float32)
    terms = {"a": lambda t, n=None: stored, "b": lambda t, n=None: other, "f32": lambda t, n=None: as_float32,
             "int": lambda t, n=None: np.arange(6)}
    cases = [("a", None), (None, "a"), ("a", "b"), ("f32", None), ("int", "int"), ("int", None)]
    for left, right in cases:
        combined = losses._combine_terms([terms.get(left)], [terms.get(right)], factor)[0]
        got = combined(np.zeros(6), np.zeros(6, dtype=np.int64))
        a = terms[left](None) if left else 0.0
        b = terms[right](None) if right else 0.0
        want = factor * (a + b)
        assert got.dtype == want.dtype, (left, right)
        assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want)), \
            (left, right)
    assert np.array_equal(np.signbit(stored), [True, False, False, False, True, False])  # untouched
    assert np.array_equal(as_float32, stored.astype(np.float32), equal_nan=True)


@pytest.mark.parametrize("method,options", VARIANTS)
def test_gains_are_the_plain_formula(method, options):
    rng = np.random.default_rng(11)
    opts = gm.make_options(method, {**options, "lambda_activation": 0.7, "surrogate_scale": 1.3})
    net = es.Network.feedforward([3, 4], es.LIF(tau_mem=10.0, tau_syn=5.0, reset_current=True), [np.ones((3, 4))])
    params = net.layer_parameters()[0]
    n = 300
    removal = rng.random(n) < 0.2
    cand = gm._Candidates(np.sort(rng.uniform(0.0, 40.0, n)), rng.integers(0, 4, n), removal,
                          np.where(removal, 1.0, rng.normal(0.5, 1.0, n)), rng.normal(size=n),
                          rng.uniform(0.1, 5.0, n), np.where(removal, -0.1, rng.uniform(-1.0, 1.0, n)))
    gain, coef_v, coef_i = gm._gains(cand, params, method, opts)
    if method == "na":
        assert np.abs(gain).max() > 0
        return
    theta = params[gm.P_THRESHOLD]
    want = opts.lambda_activation * opts.surrogate(cand.voltage - theta) * cand.width
    assert np.array_equal(gain, want)
    assert gain.size == n and np.abs(gain).max() > 0


@pytest.mark.parametrize("use_grid", [True, False])
def test_candidates_without_margins_differ_only_in_the_margins(use_grid):
    """The removals' margins (NA's distance) are computed only when asked for; everything else is unchanged."""
    from eventsnn._kernels.candidates import layer_candidates
    rng = np.random.default_rng(13)
    net = es.Network.feedforward([10, 6], es.LIF(tau_mem=8.0, tau_syn=3.0, bias=0.2, refractory=0.5),
                                 [rng.uniform(-0.5, 2.0, (10, 6))])
    inputs = es.SpikeTrains(np.sort(rng.uniform(0.0, 30.0, 60)), rng.integers(0, 10, 60), 10, sort=True)
    rec = es.simulate(net, inputs, 40.0)
    assert len(rec.layers[0]) > 3
    grid = np.arange(1.0, 41.0) if use_grid else np.zeros(0)
    args = (inputs.times, inputs.neurons, net.weights[0], net.layer_parameters()[0], 40.0, rec.layers[0].times,
            rec.layers[0].neurons, grid, use_grid)
    full, lean = layer_candidates(*args, True), layer_candidates(*args, False)
    for index, (a, b) in enumerate(zip(full, lean, strict=True)):
        if index == 6:  # margin
            assert not b.any() and a[full[2]].max() > 0.0
        else:
            assert np.array_equal(a, b), index


def _plain_event_candidates(rec, pre, weights, params, method, opts):
    """The event form's candidates and gains by the array expressions of their definition (module docstring of
    gradient_methods), from the raw candidates of the kernel."""
    from eventsnn._kernels.candidates import layer_candidates
    theta, b = params[gm.P_THRESHOLD], opts.surrogate_sharpness
    raw = layer_candidates(pre.times, pre.neurons, weights, params, rec.t_max, rec.layers[0].times,
                           rec.layers[0].neurons, np.zeros(0), False)
    keep = raw[2] | (opts.surrogate(raw[3] - theta) >= opts.min_creation_surrogate)
    times, neurons, removal, voltage, current, slope, margin, curvature = (a[keep] for a in raw)
    laplace = np.sqrt(2.0 * np.pi / (b * np.maximum(np.abs(curvature), 1e-300)))
    width = np.minimum(np.where(removal, 1.0 / (b * np.where(removal, slope, 1.0)), laplace), opts.max_width)
    distance = np.where(removal, -margin, theta - voltage)
    gain = opts.lambda_activation * opts.surrogate(voltage - theta) * width
    return times, neurons, removal, voltage, current, width, distance, gain


@pytest.mark.parametrize("method,options", [v for v in VARIANTS if v[1].get("form", "event") == "event"
                                            and not (v[0] == "activation" and "form" not in v[1])])
def test_event_candidates_are_the_plain_formulas(method, options):
    rng = np.random.default_rng(17)
    lif = es.LIF(tau_mem=8.0, tau_syn=3.0, bias=0.1, refractory=0.5)
    net = es.Network.feedforward([10, 6], lif, [rng.uniform(-0.5, 1.5, (10, 6))])
    inputs = es.SpikeTrains(np.sort(rng.uniform(0.0, 30.0, 80)), rng.integers(0, 10, 80), 10, sort=True)
    rec = es.simulate(net, inputs, 40.0)
    opts = gm.make_options(method, {**options, "max_width": 2.0, "min_creation_surrogate": 0.05})
    params = net.layer_parameters()[0]
    cand = gm._layer_candidates(rec, 0, inputs.times, inputs.neurons, net.weights[0], params, method, opts)
    want = _plain_event_candidates(rec, inputs, net.weights[0], params, method, opts)
    got = [cand.times, cand.neurons, cand.removal, cand.voltage, cand.current, cand.width]
    for index, (a, b) in enumerate(zip(got, want[:6])):
        assert a.dtype == b.dtype and np.array_equal(a, b), index
    assert cand.removal.any() and (~cand.removal).any() and (cand.width == 2.0).any() and (cand.width < 2.0).any()
    if method == "na":
        assert np.array_equal(cand.distance, want[6])
    else:
        assert np.array_equal(gm._gains(cand, params, method, opts)[0], want[7])
