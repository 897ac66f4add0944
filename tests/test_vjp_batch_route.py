"""The one-thread exact adjoint of a batch runs as one range of ``_kernels/batch.layer_backward_range`` (all samples in
one compiled call per layer); it equals, bit for bit, the per-sample sweeps it replaced (each sample's
``_layered_vjp`` adding its weight gradients into the running total, the other parts added in sample order)."""

from __future__ import annotations

import numpy as np
import pytest

import eventsnn as es
from eventsnn import adjoint, losses
from test_threads import _inputs, _networks


def _per_sample(net, records, cotangents, min_slope):
    """The former one-thread route: sample by sample, in order, into one total."""
    snapshot = records[0].network
    structure = adjoint._structure(net, snapshot)
    total = adjoint.Gradients(weights=[np.zeros(c.weights.shape) for c in snapshot.connections],
                              biases=[0.0] * len(records[0].layers), delays=[0.0] * len(snapshot.connections))
    for b, (rec, cot) in enumerate(zip(records, cotangents)):
        checked = adjoint._checked_loss(rec, cot, f"cotangents[{b}]", "timing")
        part = adjoint._vjp_one(net, rec, checked, min_slope, adjoint.DEFAULT_GRAZING_SLOPE, single=False,
                                structure=structure, weight_totals=total.weights)
        part.add_into(total)
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_slope", [0.0, 0.05])
def test_one_thread_batch_equals_the_per_sample_sweeps(seed, min_slope, monkeypatch):
    rng = np.random.default_rng(40 + seed)
    calls = []
    original = adjoint._layered_timing_in_ranges
    monkeypatch.setattr(adjoint, "_layered_timing_in_ranges", lambda *a: calls.append(a[5]) or original(*a))
    for name, net in _networks(rng).items():
        n_in = net.populations[net.input_names[0]].size
        records = es.simulate(net, _inputs(rng, n_in, 9), 40.0, n_threads=1)
        n_out = net.populations[net.layer_names[-1]].size
        cotangents = [losses.first_spike_cross_entropy(r, b % n_out).cotangents for b, r in enumerate(records)]
        for r, c in zip(records, cotangents):  # cotangents on every layer, not only at first output spikes
            for k, layer in enumerate(r.layers[:-1]):
                c[k] = rng.normal(0.0, 1.0, len(layer))
        calls.clear()
        batch = es.vjp(net, records, cotangents, min_slope=min_slope, n_threads=1)
        assert calls == [1], name  # the batch route, as one range
        reference = _per_sample(net, records, cotangents, min_slope)
        assert max(np.abs(g).max() for g in reference.weights) > 0, name
        for a, b in zip(batch.weights, reference.weights, strict=True):
            assert np.array_equal(a, b), name
        assert batch.biases == reference.biases and batch.delays == reference.delays, name
        assert batch.n_near_grazing == reference.n_near_grazing, name
        assert all(type(x) is float for x in batch.biases + batch.delays), name
