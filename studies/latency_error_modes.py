"""Why a spiking-output classifier errs: label output silent, or another output first.

For each run directory (``eventsnn train ... --out DIR`` with spiking outputs: latency, first-spike or count
loss), rebuilds the trained task (:func:`eventsnn.runs.load_trained`) and simulates the first ``--n`` samples of a
split.
Reports per run: accuracy (the trainer's decision rule), the fraction of samples whose label neuron stays
silent, the errors split into "label silent" and "label fired but lost", and output neurons firing per sample.

    EVENTSNN_DATA=/path/to/data python studies/latency_error_modes.py RUN_DIR [RUN_DIR ...] --split train --n 2000

Exact timing gradients cannot make a silent label neuron fire (only the trainer's remedy can); this separates
that failure from mis-ordered spikes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import eventsnn as es  # noqa: E402
from eventsnn.runs import load_trained  # noqa: E402
from eventsnn.training import _prediction  # noqa: E402

from _common import write_json_atomic  # noqa: E402


def error_modes(run_dir: str, split: str, n: int) -> dict:
    with open(os.path.join(run_dir, "run.json")) as handle:  # refuse a read-out run before loading any data
        if json.load(handle)["config"]["loss"] == "vmax":
            raise SystemExit(f"{run_dir}: a read-out run has no spiking output layer to analyse")
    task = load_trained(run_dir, n_train=n, n_test=n)
    loss = task.config.loss
    inputs, labels = (task.train_inputs, task.train_labels) if split == "train" else (task.test_inputs,
                                                                                      task.test_labels)
    records = es.simulate(task.net, inputs, task.config.t_max, n_threads=1, progress=False)
    counts = np.stack([r.layers[-1].counts() for r in records])
    predicted = np.array([_prediction(r, loss, None) for r in records])
    label_silent = counts[np.arange(labels.size), labels] == 0
    wrong = predicted != labels
    return {"run": run_dir, "split": split, "n": int(labels.size), "accuracy": float(np.mean(~wrong)),
            "label_silent": float(np.mean(label_silent)),
            "errors_label_silent": float(np.mean(wrong & label_silent)),
            "errors_label_fired": float(np.mean(wrong & ~label_silent)),
            "outputs_firing_per_sample": float(np.mean((counts > 0).sum(axis=1))),
            "output_spikes_per_sample": float(np.mean(counts.sum(axis=1)))}


def plot_history(runs: list[str], path: str) -> None:
    from _common import pyplot, save_figure
    plt = pyplot()
    fig, (ax_acc, ax_silent) = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in runs:
        with open(os.path.join(run, "metrics.json")) as handle:
            history = json.load(handle)
        epochs = [row["epoch"] for row in history]
        label = os.path.basename(os.path.normpath(run))
        line, = ax_acc.plot(epochs, [100 * row["test_accuracy"] for row in history], marker=".", label=label)
        if all("train_silent_label_fraction" in row for row in history):
            ax_silent.plot(epochs, [100 * row["train_silent_label_fraction"] for row in history], marker=".",
                           color=line.get_color(), label=label)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)")
    ax_silent.set(xlabel="epoch", ylabel="silent label neuron (% of training samples)")
    for ax in (ax_acc, ax_silent):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=7)
    save_figure(fig, path, "Spiking-output runs: accuracy and silent label neurons per epoch", fontsize=11)
    print(f"-> {path}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="run directories (run.json + model.npz)")
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--n", type=int, default=2000, help="first N samples of the split")
    p.add_argument("--out", help="write the rows as JSON here")
    p.add_argument("--plot-history", metavar="PNG",
                   help="instead: draw test accuracy and the training label-silent fraction per epoch of the runs "
                        "(from metrics.json; runs trained before 2026-11-24 lack the fraction) and stop")
    args = p.parse_args(argv)
    if args.plot_history:
        plot_history(args.runs, args.plot_history)
        return
    rows = [error_modes(run, args.split, args.n) for run in args.runs]
    print(f"{'run':48s} {'acc %':>6s} {'label silent %':>14s} {'err: silent %':>13s} {'err: fired %':>12s} "
          f"{'outputs firing':>14s}")
    for r in rows:
        print(f"{r['run'][-48:]:48s} {100 * r['accuracy']:6.2f} {100 * r['label_silent']:14.2f} "
              f"{100 * r['errors_label_silent']:13.2f} {100 * r['errors_label_fired']:12.2f} "
              f"{r['outputs_firing_per_sample']:14.2f}")
    if args.out:
        write_json_atomic(args.out, {"argv": sys.argv, "rows": rows})


if __name__ == "__main__":
    main()
