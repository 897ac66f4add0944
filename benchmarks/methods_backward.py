"""Backward cost of each gradient method on latency-coded MNIST: per-sample milliseconds, and the ratio to the
exact forward pass.

One process, one thread; Numba compilation is excluded (every path runs once on two samples first). The network
is the MNIST task's 784-350 hidden layer with its leaky-integrator read-out (``eventsnn train mnist`` defaults),
with the weights of a saved model or checkpoint if ``--model`` is given (a trained network fires fewer spikes than
the initial one) and the loss the trainer uses (read-out cross-entropy + spike penalty 3e-4).

    python benchmarks/methods_backward.py --samples 128 --repeats 3 [--model run/checkpoint.npz] [--json out.json]

Prints, per method: forward, backward (``eventsnn.vjp`` on the batch) and backward/forward, plus the candidates
per sample of the creation/removal methods.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np

import eventsnn as es
from eventsnn._atomic import write_json
from eventsnn.simulate import simulate
from eventsnn.tasks import make_task
from eventsnn.training import Trainer

METHODS = [("timing", {}), ("antlr", {}), ("activation", {}), ("antlr", {"form": "grid"}), ("na", {})]


def _load(trainer: Trainer, path: str) -> None:
    data = np.load(path, allow_pickle=False)
    key = "weight_0" if "weight_0" in data else "weights_0"
    trainer.net.connections[0].weights[...] = data[key]
    trainer.readout.weights[...] = data["readout_weight"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timings are the minimum over repeats")
    parser.add_argument("--model", default=None, help="checkpoint.npz or model.npz of an MNIST run (784-350)")
    parser.add_argument("--data", default=None, help="data directory (default: EVENTSNN_DATA or ../shared/data)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    task = make_task("mnist", hidden=350, epochs=1, seed=0, data_path=args.data, n_train=args.samples, n_test=1,
                     tau_mem=None, tau_syn=5.0, loss=None, preset=None)
    config = replace(task.config, spike_penalty=3e-4, progress=False)
    trainer = Trainer(task.net, task.train_inputs, task.train_labels, task.test_inputs, task.test_labels,
                      config=config, readout=task.readout)
    if args.model:
        _load(trainer, args.model)
    inputs = list(task.train_inputs)
    labels = task.train_labels

    def forward():
        return simulate(trainer.net, inputs, config.t_max, n_threads=1, progress=False)

    records = forward()
    losses = [trainer._loss(r, int(y)).scaled(1.0 / len(records)) for r, y in zip(records, labels)]

    def backward(method: str, options: dict):
        if method == "timing":
            return es.vjp(trainer.net, records, [l.cotangents for l in losses], n_threads=1)
        return es.vjp(trainer.net, records, losses, method=method, n_threads=1, **options)

    simulate(trainer.net, inputs[:2], config.t_max, n_threads=1, progress=False)
    for method, options in METHODS:  # compile
        backward(method, options)

    def best(fn) -> float:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times) / len(inputs) * 1e3

    forward_ms = best(forward)
    spikes = float(np.mean([len(r.layers[0]) for r in records]))
    rows = []
    print(f"784-350 + read-out, {len(inputs)} MNIST training images, {spikes:.1f} hidden spikes per sample, "
          f"forward {forward_ms:.3f} ms per sample")
    print(f"{'method':24s} {'backward ms':>12s} {'bwd/fwd':>8s} {'candidates':>11s}")
    for method, options in METHODS:
        ms = best(lambda: backward(method, options))
        cand = 0.0
        if method != "timing":  # a single record's gradients carry its candidate counts
            cand = float(np.mean([sum(es.vjp(trainer.net, r, l, method=method, **options).extra["n_candidates"])
                                  for r, l in zip(records[:16], losses[:16])]))
        label = method + (f" ({', '.join(f'{k}={v}' for k, v in options.items())})" if options else "")
        print(f"{label:24s} {ms:12.3f} {ms / forward_ms:8.2f} {cand:11.1f}")
        rows.append({"method": method, "options": options, "backward_ms": ms, "ratio": ms / forward_ms,
                     "candidates_per_sample": cand})
    if args.json:
        write_json(args.json, {"argv": sys.argv, "samples": len(inputs), "hidden_spikes": spikes,
                               "forward_ms": forward_ms, "methods": rows, "model": args.model})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
