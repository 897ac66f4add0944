"""Pin the behaviour of the gradient half bit for bit: store it once, compare a later tree against it.

Stores, through the public API only (so that any two commits can be compared):

* the spikes and the ``eventsnn.vjp`` results (weights, biases, delays, input-time and spike-time cotangents,
  near-grazing count, candidate counts) of every gradient method -- timing; activation with and without the
  reset term, grid and event forms; antlr event and grid, with and without the reset term; na, linearised and
  with the loss itself -- on a fixed set of seeded networks: a three-layer network with delays (three neuron
  models), a recurrent network with per-synapse delays (timing only: the other methods need layers), and a
  hidden layer driving a leaky-integrator read-out; single samples and a batch run with one and two threads;
* the metrics of the first 3 epochs and the final weights of ``eventsnn train yinyang`` (5000/1000 samples),
  ``eventsnn train nmnist`` (the shared 1000/100-sample subset) and ``eventsnn train yinyang --method antlr``
  (1000 training samples), one thread, wall-clock fields left out; run as subprocesses of this interpreter with
  this tree's ``eventsnn``.

Usage (from the repository root)::

    PYTHONPATH=$PWD python benchmarks/pin_behaviour.py --save pins.npz
    PYTHONPATH=$PWD python benchmarks/pin_behaviour.py --compare pins.npz

``--compare`` exits 1 unless every stored array is exactly equal (``np.array_equal``; NaN equals NaN) and the
two files hold the same keys. ``--no-train`` skips the training runs (seconds instead of minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import eventsnn as es
from eventsnn import losses
from eventsnn.readout import LIReadout

T_MAX = 40.0
# (name, options) of every method variant on layered networks; "na+loss_fn" passes the loss itself
METHOD_VARIANTS = [
    ("timing", {}),
    ("activation", {}),                                        # grid, reset detached
    ("activation", {"detach_reset": False}),                   # grid, with the reset term
    ("activation", {"form": "event"}),
    ("activation", {"form": "event", "detach_reset": False}),
    ("antlr", {}),                                             # event form, with the reset term
    ("antlr", {"detach_reset": True}),
    ("antlr", {"form": "grid"}),
    ("antlr", {"form": "grid", "lambda_activation": 0.5, "dt": 0.5}),
    ("na", {}),
    ("na", {"na_power": 3.0, "detach_reset": False}),
]
NEURONS = {
    "plain": dict(tau_mem=10.0, tau_syn=5.0),
    "refr_reset_bias": dict(tau_mem=8.0, tau_syn=3.0, refractory=1.0, reset_current=True, bias=0.2),
    "generic": dict(tau_mem=7.3, tau_syn=2.9, refractory=0.5),
}
TRAIN_RUNS = {
    "yinyang": ["yinyang", "--epochs", "3"],
    "nmnist": ["nmnist", "--epochs", "3"],
    "yinyang_antlr": ["yinyang", "--epochs", "3", "--n-train", "1000", "--method", "antlr"],
}
WALL_CLOCK = ("forward_s", "backward_s", "epoch_s")


def _inputs(rng: np.random.Generator, n_in: int, n_spikes: int, horizon: float = 25.0) -> es.SpikeTrains:
    return es.SpikeTrains(np.sort(rng.uniform(0.0, horizon, n_spikes)), rng.integers(0, n_in, n_spikes), n_in,
                          sort=True)


def _layered(rng: np.random.Generator, neuron: dict) -> es.Network:
    weights = [rng.normal(0.55, 0.7, (8, 9)), rng.normal(0.5, 0.8, (9, 7)), rng.normal(0.6, 0.8, (7, 4))]
    return es.Network.feedforward([8, 9, 7, 4], neuron=es.LIF(**neuron), weights=weights, delays=[0.0, 0.7, 0.3])


def _recurrent(rng: np.random.Generator, neuron: dict) -> es.Network:
    net = es.Network()
    net.add_input("in", 6)
    net.add_population("exc", 7, es.LIF(**neuron))
    net.add_population("out", 3, es.LIF(**{**neuron, "bias": 0.1}))
    net.connect("in", "exc", rng.normal(0.6, 0.7, (6, 7)), delays=0.4)
    net.connect("exc", "exc", rng.normal(0.0, 0.35, (7, 7)), delays=rng.uniform(0.5, 3.0, (7, 7)))
    net.connect("exc", "out", rng.normal(0.6, 0.7, (7, 3)), delays=rng.uniform(0.0, 2.0, (7, 3)))
    net.connect("out", "exc", rng.normal(-0.2, 0.3, (3, 7)), delays=2.0)
    return net


def _store_record(out: dict, key: str, rec) -> None:
    for k, layer in enumerate(rec.layers):
        out[f"{key}/spikes/{k}/times"] = layer.times
        out[f"{key}/spikes/{k}/neurons"] = layer.neurons


def _store_gradients(out: dict, key: str, g) -> None:
    for k, w in enumerate(g.weights):
        out[f"{key}/weights/{k}"] = np.asarray(w)
    out[f"{key}/biases"] = np.asarray(g.biases, dtype=np.float64)
    for k, d in enumerate(g.delays):
        out[f"{key}/delays/{k}"] = np.asarray(d)
    for name, d in (g.input_times or {}).items():
        out[f"{key}/input_times/{name}"] = np.asarray(d)
    for k, d in enumerate(g.spike_times or []):
        out[f"{key}/spike_times/{k}"] = np.asarray(d)
    out[f"{key}/n_near_grazing"] = np.asarray(g.n_near_grazing)
    if "n_candidates" in g.extra:
        out[f"{key}/n_candidates"] = np.asarray(g.extra["n_candidates"])


def _variant_name(method: str, options: dict) -> str:
    return method + "".join(f",{k}={v}" for k, v in sorted(options.items()))


def _every_method(out: dict, prefix: str, net: es.Network, records: list, loss: list) -> None:
    """Gradients of every method variant: the first sample alone, and the batch with one and two threads."""
    for method, options in METHOD_VARIANTS:
        key = f"{prefix}/{_variant_name(method, options)}"
        single = loss[0].cotangents if method == "timing" else loss[0]
        _store_gradients(out, f"{key}/single", es.vjp(net, records[0], single, method=method, **options))
        batch = [l.cotangents for l in loss] if method == "timing" else loss
        for threads in (1, 2):
            _store_gradients(out, f"{key}/batch/threads{threads}",
                             es.vjp(net, records, batch, method=method, n_threads=threads, **options))


def _gradient_cases(out: dict) -> None:
    # layered networks: a spiking output layer with the first-spike loss plus a spike penalty
    for n_name, neuron in NEURONS.items():
        rng = np.random.default_rng(11)
        net = _layered(rng, neuron)
        samples = [_inputs(rng, 8, 40) for _ in range(4)]
        labels = [0, 1, 2, 3]
        records = es.simulate(net, samples, T_MAX, n_threads=1)
        loss = [losses.first_spike_cross_entropy(r, y) + losses.spike_count_regularizer(r, strength=1e-2)
                for r, y in zip(records, labels)]
        for b, r in enumerate(records):
            _store_record(out, f"layered/{n_name}/sample{b}", r)
        _every_method(out, f"layered/{n_name}", net, records, loss)
        # NA with the loss itself at the output layer
        def loss_fn(rec, _y=labels[0]):
            return losses.first_spike_cross_entropy(rec, _y).value + \
                losses.spike_count_regularizer(rec, strength=1e-2).value
        _store_gradients(out, f"layered/{n_name}/na+loss_fn/single",
                         es.vjp(net, records[0], loss[0], method="na", loss_fn=loss_fn))
        _store_gradients(out, f"layered/{n_name}/timing+min_slope/single",
                         es.vjp(net, records[0], loss[0].cotangents, min_slope=0.3, grazing_slope=0.5))

    # recurrent network with per-synapse delays: the general-network adjoint (timing only)
    for n_name, neuron in NEURONS.items():
        rng = np.random.default_rng(23)
        net = _recurrent(rng, neuron)
        samples = [_inputs(rng, 6, 30) for _ in range(3)]
        records = es.simulate(net, samples, T_MAX, n_threads=1)
        cot = [[rng.normal(size=len(layer)) for layer in r.layers] for r in records]
        for b, r in enumerate(records):
            _store_record(out, f"recurrent/{n_name}/sample{b}", r)
        _store_gradients(out, f"recurrent/{n_name}/timing/single", es.vjp(net, records[0], cot[0]))
        for threads in (1, 2):
            _store_gradients(out, f"recurrent/{n_name}/timing/batch/threads{threads}",
                             es.vjp(net, records, cot, n_threads=threads))

    # a hidden layer driving a leaky-integrator read-out (the MNIST tasks' architecture)
    rng = np.random.default_rng(5)
    net = es.Network.feedforward([12, 16], neuron=es.LIF(tau_mem=20.0, tau_syn=5.0),
                                 weights=[rng.normal(0.6, 0.6, (12, 16))])
    readout = LIReadout(rng.normal(0.0, 0.8, (16, 3)), es.LIF(tau_mem=20.0, tau_syn=5.0))
    samples = [_inputs(rng, 12, 50, horizon=20.0) for _ in range(4)]
    labels = [0, 1, 2, 1]
    records = es.simulate(net, samples, T_MAX, n_threads=1)
    loss = [losses.vmax_cross_entropy(r, readout, y) + losses.spike_count_regularizer(r, strength=3e-3)
            for r, y in zip(records, labels)]
    for b, r in enumerate(records):
        _store_record(out, f"readout/sample{b}", r)
        out[f"readout/sample{b}/readout_gradient"] = loss[b].readout_gradient
    _every_method(out, "readout", net, records, loss)


def _training_cases(out: dict) -> None:
    for name, argv in TRAIN_RUNS.items():
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "eventsnn", "train", *argv, "--threads", "1", "--no-progress", "--out", tmp]
            done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, NUMBA_NUM_THREADS="1"))
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
            with open(os.path.join(tmp, "metrics.json")) as fh:
                history = json.load(fh)
            model = np.load(os.path.join(tmp, "model.npz"))
            for key in model.files:
                value = model[key]
                if key == "header":  # the saved-model header: its run id is new on every run, the rest is pinned
                    header = json.loads(str(value[()]))
                    header.get("metadata", {}).pop("run_id", None)
                    value = np.array(json.dumps(header, sort_keys=True))
                out[f"train/{name}/model/{key}"] = value
        for row in history:
            for key, value in row.items():
                if key not in WALL_CLOCK:
                    out[f"train/{name}/epoch{row['epoch']}/{key}"] = np.asarray(value, dtype=np.float64)
        print(f"{name}: " + "; ".join(f"epoch {r['epoch']} loss {r['loss']!r} test {r.get('test_accuracy')!r}"
                                      for r in history), flush=True)


def collect(train: bool) -> dict:
    out: dict = {}
    _gradient_cases(out)
    if train:
        _training_cases(out)
    return out


def compare(current: dict, stored_path: str) -> int:
    stored = dict(np.load(stored_path, allow_pickle=False))
    missing = sorted(set(stored) - set(current))
    extra = sorted(set(current) - set(stored))
    different = [k for k in sorted(set(stored) & set(current))
                 if not np.array_equal(stored[k], current[k],
                                       equal_nan=np.issubdtype(np.asarray(stored[k]).dtype, np.floating))]
    for k in missing:
        print(f"missing now: {k}")
    for k in extra:
        print(f"new key: {k}")
    for k in different:
        print(f"DIFFERENT: {k}")
    n_same = len(set(stored) & set(current)) - len(different)
    print(f"{n_same} arrays identical, {len(different)} different, {len(missing)} missing, {len(extra)} new")
    return 0 if not (missing or extra or different) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", metavar="FILE", help="store the current behaviour in FILE (.npz)")
    action.add_argument("--compare", metavar="FILE", help="compare the current behaviour with FILE")
    parser.add_argument("--no-train", action="store_true", help="skip the training runs")
    args = parser.parse_args(argv)
    current = collect(train=not args.no_train)
    if args.save:
        np.savez_compressed(args.save, **current)
        print(f"{len(current)} arrays saved to {args.save}")
        return 0
    if args.no_train:
        stored = np.load(args.compare, allow_pickle=False)
        trimmed = {k: stored[k] for k in stored.files if not k.startswith("train/")}
        with tempfile.NamedTemporaryFile(suffix=".npz", delete=False) as fh:
            np.savez(fh, **trimmed)
        try:
            return compare(current, fh.name)
        finally:
            os.unlink(fh.name)
    return compare(current, args.compare)


if __name__ == "__main__":
    raise SystemExit(main())
