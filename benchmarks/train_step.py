"""W2 of ../shared/docs/WORKLOADS.md: one exact training step (forward + loss + backward + SGD) on 784-350-10.

Batch of 32 latency-coded MNIST images (the shared ``w2_batch.npz``), window 50 ms, loss = cross-entropy of
softmax(-t_first / tau_mem) over output first-spike times (silent outputs count as t = 50 ms), as the event-based
peers in WORKLOADS.md. Times one core (NUMBA_NUM_THREADS=1, n_threads=1), excludes compilation (warm-up step),
reports the median of repeated steps and the backward/forward ratio.

    taskset -c 1 python benchmarks/train_step.py --repeats 20
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import eventsnn as es  # noqa: E402
from eventsnn.losses import first_spike_cross_entropy  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_w2(path: pathlib.Path) -> tuple[list, np.ndarray, list]:
    data = np.load(path)
    offsets = data["offsets"]
    inputs = [es.SpikeTrains(data["times"][offsets[b]:offsets[b + 1]], data["neurons"][offsets[b]:offsets[b + 1]], 784)
              for b in range(offsets.size - 1)]
    return inputs, data["labels"].astype(np.int64), [data["W_hidden"], data["W_out"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--data", default=os.environ.get("EVENTSNN_DATA", str(ROOT.parent / "shared" / "data")))
    args = parser.parse_args()
    inputs, labels, weights = load_w2(pathlib.Path(args.data) / "workloads" / "w2_batch.npz")
    neuron = es.LIF(tau_mem=10.0, tau_syn=5.0)
    net = es.Network.feedforward([784, 350, 10], neuron=neuron, weights=[w.copy() for w in weights])
    t_max = 50.0

    def step() -> tuple[float, float, float, list]:
        t0 = time.perf_counter()
        recs = es.simulate(net, inputs, t_max, n_threads=1)
        t1 = time.perf_counter()
        losses = [first_spike_cross_entropy(r, int(y), tau=neuron.tau_mem, silent_time=t_max).scaled(1 / len(recs))
                  for r, y in zip(recs, labels)]
        grads = es.vjp(net, recs, [l.cotangents for l in losses], n_threads=1)
        t2 = time.perf_counter()
        for w, g in zip(net.weights, grads.weights):  # plain SGD, lr 0 keeps the workload fixed across repeats
            w -= 0.0 * g
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t0, recs

    step()  # warm-up: compilation excluded
    forward, backward, total = [], [], []
    for _ in range(args.repeats):
        f, b, t, recs = step()
        forward.append(f)
        backward.append(b)
        total.append(t)
    hidden = [len(r.layers[0]) for r in recs]
    output = [len(r.layers[1]) for r in recs]
    print(f"W2 eventsnn exact step (batch 32, one core): median {1e3 * statistics.median(total):.1f} ms/step "
          f"(forward {1e3 * statistics.median(forward):.1f} ms, loss+backward {1e3 * statistics.median(backward):.1f} ms, "
          f"backward/forward {statistics.median(backward) / statistics.median(forward):.2f}); "
          f"hidden spikes/image {min(hidden)}..{max(hidden)}, output {min(output)}..{max(output)}; "
          f"{args.repeats} repeats")
    print("peers measured in ANCHORS.md on this kind of machine: Norse 45.6 ms/step, snnTorch 51.6 ms/step (dt 1 ms), "
          "jaxsnn EventProp 10006 ms/step")


if __name__ == "__main__":
    main()
