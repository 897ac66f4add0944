"""Study 3: NA's single-neuron toy. How many random spike-train tasks does each method solve, and how fast?

Continuous-time version of the NA authors' notebook experiment (PAPERS.md section 2.6): one LIF neuron
(tau_mem 5 ms, tau_syn 2 ms; their tau_u = 5 and trace tau = 2 steps with 1 step = 1 ms), 200 inputs,
a 30 ms window. Per task: each input fires in each 1 ms bin with probability 1/20 (uniform within the bin);
the target fires in each bin with probability 1/4, at the bin centre. Loss: van Rossum distance (tau 2 ms) to
the target. Adam. A task counts as *solved* at an iteration when the output, binned on the same 1 ms grid,
equals the target raster (the discrete loss of the notebook is then exactly 0): right number of spikes and
each within +-0.5 ms of its target.

    nice -n 15 env NUMBA_NUM_THREADS=1 python studies/na_single_neuron.py --tasks 100

The notebook used 500 tasks and 200 iterations; --tasks sets how many are run here (document it). The raw
results (every iteration of every task) go to --out, outside the repository by default; the compact record
(summary, per-method curves) to --record, docs/studies/na_single_neuron.json by default, with its figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import eventsnn as es  # noqa: E402
from eventsnn import losses  # noqa: E402

from _common import (COLORS, METHODS, add_method_options, add_record_options, band, checkpoint,  # noqa: E402
                     finish, fit_one_sample, new_results, parse_study_args, plot_band, pyplot, rounded, save_figure)

NAME = "na_single_neuron"
N_IN, N_BINS = 200, 30
LIF = es.LIF(tau_mem=5.0, tau_syn=2.0)


def make_task(task: int, args):
    rng = np.random.default_rng([task, 7])
    fire = rng.random((N_BINS, N_IN)) < args.p_in
    b, j = np.nonzero(fire)
    inputs = es.SpikeTrains(b + rng.random(b.size), j, N_IN, sort=True)
    target_bins = np.nonzero(rng.random(N_BINS) < args.p_target)[0]
    target = es.SpikeTrains(target_bins + 0.5, np.zeros(target_bins.size, dtype=np.int64), 1)
    w = rng.normal(args.w_mean, args.w_std, (N_IN, 1))
    return inputs, target, target_bins, w


def binned(times: np.ndarray) -> np.ndarray:
    return np.bincount(np.minimum(np.floor(times).astype(np.int64), N_BINS - 1), minlength=N_BINS)


def run_one(inputs, target, target_bins, w0, label: str, args) -> dict:
    net = es.Network.feedforward([N_IN, 1], neuron=LIF, weights=[w0.copy()])
    want = np.bincount(target_bins, minlength=N_BINS)
    loss_curve, bin_err, counts = [], [], []

    def observe(rec, loss):
        loss_curve.append(loss.value)
        bin_err.append(int(np.abs(binned(rec.layers[0].times) - want).sum()))
        counts.append(len(rec.layers[0]))

    status, n_bad = fit_one_sample(net, inputs, float(N_BINS),
                                   lambda r: losses.van_rossum_distance(r, target, tau=args.vr_tau), label,
                                   args.lr, args.iterations, args.max_spikes, observe)
    return {"loss": loss_curve, "bin_errors": bin_err, "spikes": counts, "status": status, "n_nonfinite": n_bad}


def solved_matrix(results: dict, label: str):
    rows = [r[label]["bin_errors"] for r in results["runs"].values() if label in r]
    n = results["config"]["iterations"] + 1
    arr = np.ones((len(rows), n), dtype=bool)  # stopped runs count as unsolved from then on
    for i, e in enumerate(rows):
        arr[i, :len(e)] = np.asarray(e) > 0
    return ~arr


def summarize(results: dict) -> dict:
    out = {}
    for label in results["config"]["methods"]:
        s = solved_matrix(results, label)
        if s.size == 0:
            continue
        ever = np.maximum.accumulate(s, axis=1)
        first = [int(np.argmax(row)) if row.any() else None for row in s]
        solved_its = [f for f in first if f is not None]
        losses_final = [r[label]["loss"][-1] for r in results["runs"].values() if label in r]
        errs_final = [r[label]["bin_errors"][-1] for r in results["runs"].values() if label in r]
        out[label] = {"n_tasks": int(s.shape[0]),
                      "solved_at_end": float(s[:, -1].mean()),
                      "ever_solved": float(ever[:, -1].mean()),
                      "median_first_solved_iteration": float(np.median(solved_its)) if solved_its else None,
                      "mean_final_loss": float(np.mean(losses_final)),
                      "mean_final_bin_errors": float(np.mean(errs_final)),
                      "initial_mean_loss": float(np.mean([r[label]["loss"][0] for r in results["runs"].values()
                                                          if label in r])),
                      "status_not_ok": sum(r[label]["status"] != "ok" for r in results["runs"].values() if label in r)}
    return out


def compact(results: dict) -> dict:
    """The record kept in the repository: settings, summary, per-task problem sizes, and per method the
    fraction of tasks solved (now and ever) and the mean ± sem of binned errors and loss at every iteration
    (4 significant digits); :func:`plot` draws it."""
    record = {k: results[k] for k in ("study", "config", "provenance", "wall_s", "summary", "problems")
              if k in results}
    record["n_tasks"] = len(results["runs"])
    record["curves"] = {}
    for label in results["config"]["methods"]:
        s = solved_matrix(results, label)
        if s.size == 0:
            continue
        n = s.shape[1]
        record["curves"][label] = {
            "solved": s.mean(axis=0).tolist(),
            "ever_solved": np.maximum.accumulate(s, axis=1).mean(axis=0).tolist(),
            "bin_errors": band([r[label]["bin_errors"] for r in results["runs"].values()], n),
            "loss": band([r[label]["loss"] for r in results["runs"].values()], n)}
    return rounded(record)


def plot(record: dict, path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for label, curves in record["curves"].items():
        x = np.arange(len(curves["solved"]))
        style = dict(color=COLORS[label], label=label, ls="--" if label.startswith("activation") else "-")
        axes[0].plot(x, curves["solved"], **style)
        axes[0].plot(x, curves["ever_solved"], color=COLORS[label], lw=0.8, ls=":")
        plot_band(axes[1], x, curves["bin_errors"], **style)
        plot_band(axes[2], x, curves["loss"], floor=1e-3, **style)
    axes[0].set_title(f"fraction of {record['n_tasks']} tasks solved (solid: now, dotted: ever)", fontsize=10)
    axes[1].set_title("binned spike errors vs target (mean ± sem)", fontsize=10)
    axes[2].set_title("van Rossum loss (mean ± sem)", fontsize=10)
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=8)
    save_figure(fig, path, "NA's single-neuron toy: 200 inputs, 30 ms, random target trains (1 ms bins)", fontsize=11)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=0, help="first task index (tasks are seeds seeds..seeds+tasks-1)")
    p.add_argument("--tasks", type=int, default=100, help="number of random tasks (notebook: 500)")
    p.add_argument("--quick", action="store_true", help="10 tasks, 60 iterations")
    add_record_options(p, NAME)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--p-in", type=float, default=1 / 20)
    p.add_argument("--p-target", type=float, default=1 / 4)
    p.add_argument("--w-mean", type=float, default=0.15)
    p.add_argument("--w-std", type=float, default=0.3)
    p.add_argument("--vr-tau", type=float, default=2.0)
    add_method_options(p, METHODS, max_spikes=100)
    args, labels = parse_study_args(p, argv, plot, METHODS, {"tasks": 10, "iterations": 60}, compact)
    if args is None:
        return
    from tqdm import tqdm
    args.methods = labels  # stored as a list in the results' config
    results = new_results(NAME, args)
    started = time.perf_counter()
    bar = tqdm(total=args.tasks, desc=NAME, unit="task")
    for task in range(args.seeds, args.seeds + args.tasks):
        inputs, target, target_bins, w0 = make_task(task, args)
        runs = {label: run_one(inputs, target, target_bins, w0, label, args) for label in args.methods}
        runs_meta = {"n_input_spikes": len(inputs), "n_target_spikes": int(target_bins.size)}
        results["runs"][str(task)] = runs
        results.setdefault("problems", {})[str(task)] = runs_meta
        bar.update()
        if (task + 1) % 5 == 0:
            checkpoint(results, started, args.out)
    bar.close()
    finish(results, summarize(results), started, args.out, plot, compact, args.record)
    for label, row in results["summary"].items():
        print(label, row)


if __name__ == "__main__":
    main()
