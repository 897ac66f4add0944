"""Overhead of the PyTorch layer (eventsnn.torch) over the native trainer, per training step.

Both train the ``mnist`` task's network (784-350 LIF + 10 leaky-integrator read-out, tau_mem 20 ms, window 50 ms,
batch 32, Adam, gradient-norm clip 0.3, silent-neuron remedy) from the same initial weights on the same batches of
latency-coded MNIST training images, one thread:

* **native**: ``eventsnn.training.Trainer.train_step`` (simulate, read-out loss, vjp, clip, remedy, Adam);
* **torch**: ``examples/torch_mnist.py``'s step: ``pad_spikes`` (the DataLoader's collate), ``SpikingNetwork`` and
  ``LIReadoutLayer`` forward, ``F.cross_entropy``, ``loss.backward()`` (vjp), ``clip_grad_norm_``, the remedy,
  ``torch.optim.Adam(fused=True)``.

Steps alternate between the two (native first on even batches, torch first on odd ones), so that a load change
on a shared machine hits both alike; compilation is excluded by warm-up steps. Reported: median and fastest
step of each, and the overhead = torch / native - 1 of the medians, of the fastest steps and the median of the
per-batch ratios.

    python benchmarks/torch_layer.py --steps 300 --json benchmarks/results/torch_layer.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time
from dataclasses import replace

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from eventsnn.tasks import make_task  # noqa: E402
from eventsnn.torch import LIReadoutLayer, SpikingNetwork, pad_spikes  # noqa: E402
from eventsnn.training import Trainer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from torch_mnist import train_step  # noqa: E402


def measure(steps: int, warmup: int, seed: int) -> dict:
    torch.set_num_threads(1)
    batch = 32
    task = make_task("mnist", seed=seed, n_train=batch * (steps + warmup), n_test=1)
    cfg = replace(task.config, n_threads=1, progress=False)
    trainer = Trainer(task.net.copy(), task.train_inputs, task.train_labels, config=cfg, readout=task.readout)
    model = SpikingNetwork(task.net, cfg.t_max, n_threads=1)
    readout = LIReadoutLayer(task.readout.weights, task.readout.neuron, cfg.t_max)
    model.biases.requires_grad_(False)
    model.delays.requires_grad_(False)
    parameters = [model.weights[0], readout.weight]
    optimizer = torch.optim.Adam(parameters, lr=cfg.lr, fused=True)
    labels = torch.from_numpy(task.train_labels)

    def native(indices: np.ndarray) -> None:
        trainer.train_step(indices)

    def layer(indices: np.ndarray) -> None:
        spikes = pad_spikes([task.train_inputs[int(i)] for i in indices])
        train_step(model, readout, optimizer, parameters, cfg, spikes, labels[indices])

    times = {"native": [], "torch": []}
    for step in range(warmup + steps):
        indices = np.arange(step * batch, (step + 1) * batch)
        order = [("native", native), ("torch", layer)]
        for name, run in order if step % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            run(indices)
            if step >= warmup:
                times[name].append(time.perf_counter() - started)
    native_ms, torch_ms = (1e3 * np.array(times[k]) for k in ("native", "torch"))
    ratios = torch_ms / native_ms
    return {
        "steps": steps, "batch": batch, "threads": 1, "network": "784-350 + 10 read-out",
        "native_ms_median": float(np.median(native_ms)), "native_ms_min": float(native_ms.min()),
        "torch_ms_median": float(np.median(torch_ms)), "torch_ms_min": float(torch_ms.min()),
        "overhead_of_medians": float(np.median(torch_ms) / np.median(native_ms) - 1.0),
        "overhead_of_fastest": float(torch_ms.min() / native_ms.min() - 1.0),
        "overhead_median_per_batch": float(statistics.median(ratios) - 1.0),
        "torch_version": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps of each trainer")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (numba compilation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the result to this file")
    args = parser.parse_args()
    result = measure(args.steps, args.warmup, args.seed)
    print(f"native: median {result['native_ms_median']:.2f} ms, fastest {result['native_ms_min']:.2f} ms per step")
    print(f"torch:  median {result['torch_ms_median']:.2f} ms, fastest {result['torch_ms_min']:.2f} ms per step")
    print(f"overhead: {100 * result['overhead_of_medians']:+.1f} % (medians), "
          f"{100 * result['overhead_of_fastest']:+.1f} % (fastest), "
          f"{100 * result['overhead_median_per_batch']:+.1f} % (median per-batch ratio)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
