"""Study 2: dead-network rescue. Which gradient methods revive a network whose neurons are silent?

Yin-Yang (eventsnn.tasks.make_task("yinyang"), 5-H-3, LIF tau_mem 10 ms / tau_syn 5 ms, window 60 ms). The
task's initial weights are multiplied by --scale (default 0.35), which leaves most hidden neurons and every
output neuron silent on every sample. Loss: ANTLR's latency cross-entropy (eventsnn.losses.latency_cross_entropy:
logits beta (T - t_first), silent output -> logit 0, no-spike penalty 0.1 for a silent label neuron, which is
the loss's only creation cotangent), mean over a minibatch, Adam. Same data order and initial weights for every
method of a seed. "timing + silent bump" is the exact gradient plus the trainer's documented remedy
(eventsnn.training.Trainer._add_silent_remedy: weights into neurons silent on the whole batch are pushed up),
as a reference for what the exact gradient needs to escape.

    nice -n 15 env NUMBA_NUM_THREADS=1 python studies/dead_network_rescue.py --seeds 5

Accuracy = first output spike decides (no output spike = wrong), on a held-out subset of the test split.
The raw results (every evaluation and minibatch of every run) go to --out, outside the repository by default;
the compact record (summary, mean ± sem of the plotted test metrics) to --record,
docs/studies/dead_network_rescue.json by default, with its figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import eventsnn as es  # noqa: E402
from eventsnn import losses  # noqa: E402
from eventsnn.optim import Adam  # noqa: E402
from eventsnn.tasks import make_task  # noqa: E402
from eventsnn.training import Trainer  # noqa: E402

from _common import (COLORS, METHODS, add_method_options, add_record_options, all_finite, band,  # noqa: E402
                     checkpoint, finish, gradient, mean_sem, new_results, parse_study_args, plot_band, pyplot,
                     rounded, save_figure)

NAME = "dead_network_rescue"
LABELS = list(METHODS) + ["timing + silent bump"]


def activity(records) -> dict:
    """Fractions: samples with any output spike, output/hidden neurons that fired on at least one sample."""
    out_any = float(np.mean([len(r.layers[-1]) > 0 for r in records]))
    fired_out = np.zeros(records[0].layers[-1].n_neurons, dtype=bool)
    fired_hid = np.zeros(records[0].layers[0].n_neurons, dtype=bool)
    for r in records:
        fired_out[r.layers[-1].neurons] = True
        fired_hid[r.layers[0].neurons] = True
    return {"samples_with_output": out_any, "output_neurons_alive": float(fired_out.mean()),
            "hidden_neurons_alive": float(fired_hid.mean()),
            "hidden_spikes_per_sample": float(np.mean([len(r.layers[0]) for r in records])),
            "output_spikes_per_sample": float(np.mean([len(r.layers[-1]) for r in records]))}


def evaluate(net, inputs, labels, args) -> dict:
    records = es.simulate(net, inputs, args.t_max, n_threads=1, max_spikes_per_neuron=args.max_spikes)
    pred = np.array([int(r.layers[-1].neurons[0]) if len(r.layers[-1]) else -1 for r in records])
    loss = float(np.mean([losses.latency_cross_entropy(r, int(y), beta=args.beta).value
                          for r, y in zip(records, labels)]))
    return {"accuracy": float(np.mean(pred == labels)), "loss": loss, **activity(records)}


def run_one(task, w0, label: str, seed: int, args) -> dict:
    net = task.net.copy()
    net.set_weights(w0)
    opt = Adam(args.lr)
    rng = np.random.default_rng(seed + 1000)  # same minibatch order for every method
    n = len(task.train_inputs)
    hist = {"iteration": [], "test": [], "train_loss": [], "batch": []}
    status, n_bad = "ok", 0
    # stands in for the Trainer whose remedy is borrowed: it reads config.silent_bump, net and readout
    bump = SimpleNamespace(config=SimpleNamespace(silent_bump=args.silent_bump), net=net, readout=None)
    started = time.perf_counter()
    for it in range(args.iterations + 1):
        if it % args.eval_every == 0 or it == args.iterations:
            try:
                ev = evaluate(net, task.test_inputs, task.test_labels, args)
            except es.SpikeLimitError:
                status = f"spike limit at iteration {it}"
                break
            hist["iteration"].append(it)
            hist["test"].append(ev)
        if it == args.iterations:
            break
        idx = rng.choice(n, size=args.batch, replace=False)
        samples = [task.train_inputs[int(b)] for b in idx]
        labels = task.train_labels[idx]
        try:
            records = es.simulate(net, samples, args.t_max, n_threads=1, max_spikes_per_neuron=args.max_spikes)
        except es.SpikeLimitError:
            status = f"spike limit at iteration {it}"
            break
        ls = [losses.latency_cross_entropy(r, int(y), beta=args.beta).scaled(1.0 / len(records))
              for r, y in zip(records, labels)]
        hist["train_loss"].append(float(sum(l.value for l in ls)))
        hist["batch"].append(activity(records))
        base = "timing" if label == "timing + silent bump" else label
        if METHODS[base][0] == "na":
            g = None
            parts = []
            for r, y, l in zip(records, labels, ls):
                def fn(rr, yy=int(y)):
                    return losses.latency_cross_entropy(rr, yy, beta=args.beta).value / len(records)
                parts.append(gradient(net, r, l, base, loss_fn=fn))
            g = parts[0]
            for part in parts[1:]:
                g = g + part
        else:
            g = gradient(net, records, ls, base)
        directions = [w.copy() for w in g.weights]
        if label == "timing + silent bump":
            Trainer._add_silent_remedy(bump, directions, records, labels)
        if not all_finite(directions):
            n_bad += 1
            continue
        opt.step(net.weights, directions)
    return {**hist, "status": status, "n_nonfinite": n_bad, "wall_s": time.perf_counter() - started}


def first_iteration(hist: dict, key: str, level: float):
    for it, ev in zip(hist["iteration"], hist["test"]):
        if ev[key] >= level:
            return it
    return None


def summarize(results: dict) -> dict:
    out = {}
    for label in results["config"]["methods"]:
        runs = [r[label] for r in results["runs"].values() if label in r]
        if not runs:
            continue
        final = [r["test"][-1] for r in runs if r["test"]]
        t_fire = [first_iteration(r, "samples_with_output", 0.9) for r in runs]
        t_any = [first_iteration(r, "samples_with_output", 0.01) for r in runs]
        t_acc = [first_iteration(r, "accuracy", 0.6) for r in runs]
        out[label] = {
            "final_accuracy_mean": float(np.mean([f["accuracy"] for f in final])),
            "final_accuracy_sem": float(mean_sem(np.array([f["accuracy"] for f in final]))[1]),
            "final_accuracy_per_seed": [f["accuracy"] for f in final],
            "final_samples_with_output": float(np.mean([f["samples_with_output"] for f in final])),
            "final_hidden_alive": float(np.mean([f["hidden_neurons_alive"] for f in final])),
            "final_output_alive": float(np.mean([f["output_neurons_alive"] for f in final])),
            "iterations_to_any_output_spike": t_any,
            "iterations_to_90pct_samples_with_output": t_fire,
            "iterations_to_60pct_accuracy": t_acc,
            "wall_s_per_run": float(np.mean([r["wall_s"] for r in runs])),
            "status": [r["status"] for r in runs],
        }
    return out


PANELS = [("samples_with_output", "test samples with an output spike"),
          ("hidden_neurons_alive", "hidden neurons that fire (any test sample)"),
          ("accuracy", "test accuracy (first spike; silent = wrong)")]


def compact(results: dict) -> dict:
    """The record kept in the repository: settings, summary, and per method the evaluation iterations and the
    mean ± sem over seeds of each plotted test metric (4 significant digits); :func:`plot` draws it."""
    record = {k: results[k] for k in ("study", "config", "provenance", "wall_s", "summary") if k in results}
    record["n_seeds"] = len(results["runs"])
    record["curves"] = {}
    for label in results["config"]["methods"]:
        runs = [r[label] for r in results["runs"].values() if label in r]
        if not runs:
            continue
        longest = max((r["iteration"] for r in runs), key=len)  # a run that stopped early is NaN-padded
        record["curves"][label] = {"iteration": longest, **{
            key: band([[ev[key] for ev in r["test"]] for r in runs], len(longest)) for key, _ in PANELS}}
    return rounded(record)


def plot(record: dict, path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (key, title) in zip(axes, PANELS):
        for label, curves in record["curves"].items():
            plot_band(ax, curves["iteration"], curves[key], COLORS[label],
                      label=label, ls="--" if label.startswith("activation") or "bump" in label else "-")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration (minibatch of %d)" % record["config"]["batch"])
        ax.grid(alpha=0.3)
        ax.set_ylim(-0.03, 1.03)
    axes[2].axhline(1 / 3, color="gray", lw=0.8, ls=":")
    axes[0].legend(fontsize=8)
    save_figure(fig, path, f"Dead-network rescue, Yin-Yang 5-{record['config']['hidden']}-3, initial weights x "
                f"{record['config']['scale']} ({record['n_seeds']} seeds, mean ± sem)", fontsize=11)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="2 seeds, 30 iterations")
    add_record_options(p, NAME)
    p.add_argument("--iterations", type=int, default=120)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument("--hidden", type=int, default=30)
    p.add_argument("--scale", type=float, default=0.35, help="factor on the task's initial weights")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--beta", type=float, default=0.5, help="latency logit slope (1/ms)")
    p.add_argument("--silent-bump", type=float, default=0.1)
    p.add_argument("--t-max", type=float, default=60.0)
    add_method_options(p, LABELS, max_spikes=200)
    args, labels = parse_study_args(p, argv, plot, LABELS, {"seeds": 2, "iterations": 30}, compact)
    if args is None:
        return
    from tqdm import tqdm
    args.methods = labels  # stored as a list in the results' config
    results = new_results(NAME, args)
    started = time.perf_counter()
    bar = tqdm(total=args.seeds * len(args.methods), desc=NAME, unit="run")
    for seed in range(args.seeds):
        task = make_task("yinyang", hidden=args.hidden, seed=seed, n_train=args.n_train, n_test=args.n_test)
        w0 = [w * args.scale for w in task.net.weights]
        results["runs"][str(seed)] = {}
        for label in args.methods:
            bar.set_postfix_str(f"seed {seed} {label}")
            results["runs"][str(seed)][label] = run_one(task, w0, label, seed, args)
            bar.update()
            checkpoint(results, started, args.out)
    bar.close()
    finish(results, summarize(results), started, args.out, plot, compact, args.record)
    for label, row in results["summary"].items():
        print(label, {k: v for k, v in row.items() if k != "status"})


if __name__ == "__main__":
    main()
