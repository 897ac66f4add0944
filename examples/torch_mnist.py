"""Train the exact event-driven MNIST network from PyTorch: eventsnn.torch layers, torch.optim.Adam, a DataLoader.

The network and settings are the ``mnist`` task of ``eventsnn train`` (EventProp's set-up: 784 latency-coded
inputs -> 350 LIF -> 10 leaky-integrator read-out neurons classified by their potential maxima, tau_mem 20 ms,
tau_syn 5 ms, window 50 ms), with its initial weights, batch size, learning rate and its decay per epoch,
gradient-norm clip and silent-neuron remedy, all read from ``eventsnn.tasks.make_task("mnist")``. Only the loop is
PyTorch's: ``SpikingNetwork`` simulates the batch exactly (forward) and returns the exact adjoint (backward),
``LIReadoutLayer`` gives the class logits, ``torch.nn.functional.cross_entropy`` the loss,
``torch.nn.utils.clip_grad_norm_`` the clip, ``torch.optim.Adam`` and ``ExponentialLR`` the update. The native
trainer with the same settings and epochs is::

    python -m eventsnn train mnist --epochs 3 --threads 1 --seed 0

and this script (same data order: both shuffle with ``numpy.random.default_rng(seed)``)::

    python examples/torch_mnist.py --epochs 3 --threads 1 --seed 0

The two runs differ only in rounding (torch's Adam and cross-entropy round differently from eventsnn's), which
spiking dynamics amplify into different trajectories. docs/torch.md reports both accuracies, measured with the
two commands above on 2026-12-07 (recorded at commit d68e466): 93.69 % against the native 93.62 % with seed 0,
92.97 % against 93.21 % with seed 1, after 3 epochs. One epoch of the 60 000 training images took 2.5-6.5
minutes on one core of a loaded shared 2-core machine.

``--n-train`` / ``--n-test`` take the first samples of each split for a quick run; the test suite runs::

    python examples/torch_mnist.py --epochs 3 --n-train 64 --n-test 100 --threads 1 --seed 0

which took 11.5 s (numba's cache warm) on 2026-12-07 at commit 97116c6, its training loss falling from 2.4388
to 2.1972 to 2.0689 over the three epochs.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from eventsnn.tasks import make_task
from eventsnn.torch import LIReadoutLayer, SpikingNetwork, pad_spikes


class SpikeDataset(torch.utils.data.Dataset):
    """Samples of an eventsnn SpikeBatch with their labels; ``collate`` pads a list of them into tensors."""

    def __init__(self, inputs, labels) -> None:
        self.inputs, self.labels = inputs, labels

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int):
        return self.inputs[index], int(self.labels[index])

    @staticmethod
    def collate(items):
        return pad_spikes([spikes for spikes, _ in items]), torch.tensor([label for _, label in items])


class NumpyShuffle(torch.utils.data.Sampler):
    """A new permutation per epoch from one numpy generator: the order the native trainer uses for the same seed."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.rng = n, np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(self.rng.permutation(self.n).tolist())


def silent_remedy(model: SpikingNetwork, strength: float) -> None:
    """The native trainer's remedy (eventsnn.training): a hidden neuron silent on the whole batch gets
    ``-strength`` added to the gradient of its weights from every input that fired, so that they grow."""
    records = model.records
    pre = np.stack([r.inputs["input"].counts() for r in records]).mean(axis=0) > 0
    dead = np.stack([r.layers[0].counts() for r in records]).sum(axis=0) == 0
    if dead.any() and pre.any():
        grad = model.weights[0].grad
        grad[:, torch.from_numpy(dead)] -= strength * torch.from_numpy(pre.astype(np.float64))[:, None]


def train_step(model: SpikingNetwork, readout: LIReadoutLayer, optimizer, parameters: list, cfg, spikes,
               labels: torch.Tensor) -> tuple[float, int]:
    """One optimisation step on a padded batch; returns (mean loss, number of correct predictions)."""
    (hidden,) = model(spikes)
    logits = readout(hidden)
    loss = F.cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    if cfg.grad_clip > 0.0:
        torch.nn.utils.clip_grad_norm_(parameters, cfg.grad_clip)
    if cfg.silent_bump > 0.0:
        silent_remedy(model, cfg.silent_bump)
    optimizer.step()
    return loss.item(), int((logits.argmax(dim=1) == labels).sum())


def evaluate(model: SpikingNetwork, readout: LIReadoutLayer, loader) -> float:
    correct = total = 0
    with torch.no_grad():
        for spikes, labels in loader:
            logits = readout(model(spikes)[0])
            correct += int((logits.argmax(dim=1) == labels).sum())
            total += len(labels)
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="threads over samples (default: all cores)")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--data", default=None, help="directory with the MNIST IDX files")
    parser.add_argument("--json", default=None, help="write the per-epoch metrics to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)

    task = make_task("mnist", epochs=args.epochs, seed=args.seed, data_path=args.data, n_train=args.n_train,
                     n_test=args.n_test)
    cfg = task.config
    model = SpikingNetwork(task.net, cfg.t_max, n_threads=args.threads)
    readout = LIReadoutLayer(task.readout.weights, task.readout.neuron, cfg.t_max)
    # the native trainer learns weights only
    model.biases.requires_grad_(False)
    model.delays.requires_grad_(False)
    parameters = [model.weights[0], readout.weight]
    optimizer = torch.optim.Adam(parameters, lr=cfg.lr, fused=True)   # fused: one pass per array, as eventsnn's Adam
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)

    train = SpikeDataset(task.train_inputs, task.train_labels)
    test = SpikeDataset(task.test_inputs, task.test_labels)
    train_loader = torch.utils.data.DataLoader(train, batch_size=cfg.batch_size,
                                               sampler=NumpyShuffle(len(train), cfg.seed),
                                               collate_fn=SpikeDataset.collate)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000, collate_fn=SpikeDataset.collate)
    print(f"torch_mnist: 784-{model.weights[0].shape[1]} + {readout.weight.shape[1]} read-out, {len(train)} train / "
          f"{len(test)} test, {args.epochs} epochs, batch {cfg.batch_size}, lr {cfg.lr} x{cfg.lr_decay}/epoch, "
          f"clip {cfg.grad_clip}, remedy {cfg.silent_bump}", flush=True)
    history = []
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        loss_sum = correct = 0.0
        for spikes, labels in train_loader:
            loss, n_correct = train_step(model, readout, optimizer, parameters, cfg, spikes, labels)
            loss_sum += loss * len(labels)
            correct += n_correct
        schedule.step()
        metrics = {"epoch": epoch, "loss": loss_sum / len(train), "train_accuracy": correct / len(train),
                   "test_accuracy": evaluate(model, readout, test_loader),
                   "epoch_s": time.perf_counter() - started}
        history.append(metrics)
        print(f"epoch {epoch:3d} | loss {metrics['loss']:.4f} | train acc {100 * metrics['train_accuracy']:.2f}% | "
              f"test acc {100 * metrics['test_accuracy']:.2f}% | {metrics['epoch_s']:.1f} s", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(history, f, indent=1)


if __name__ == "__main__":
    main()
