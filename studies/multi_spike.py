"""Study 5: multi-spike vs first-spike-only neurons on Yin-Yang as tau_syn / tau_mem varies (Yamamoto et al.).

Same task, loss and trainer as ``eventsnn train yinyang`` (exact timing gradients), 5-H-3 network,
tau_mem = 10 ms and tau_syn = ratio * tau_mem. "first-spike only" gives every neuron a refractory period longer
than the window, so each neuron fires at most once (the time-to-first-spike setting of Fast & Deep / DelGrad);
"multi-spike" is the plain LIF with reset. The initial weights are scaled by each neuron's PSP peak so that all
settings start equally active. Reported: final test accuracy and hidden / output spikes per test sample.

    python studies/multi_spike.py --seeds 2 --epochs 20
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import eventsnn as es  # noqa: E402
from eventsnn.tasks import make_task  # noqa: E402
from eventsnn.training import Trainer, init_weights  # noqa: E402

from _common import default_out, figure_path, pyplot, run_job_list, save_figure  # noqa: E402

NAME = "multi_spike"
RATIOS = (0.25, 0.5, 1.0, 2.0)
MODES = ("multi-spike", "first-spike only")


def run(ratio: float, mode: str, seed: int, epochs: int, hidden: int, n_train: int | None) -> dict:
    task = make_task("yinyang", epochs=epochs, seed=seed, hidden=hidden, n_train=n_train)
    t_max = task.config.t_max
    neuron = es.LIF(tau_mem=10.0, tau_syn=10.0 * ratio, refractory=2.0 * t_max if mode != "multi-spike" else 0.0)
    sizes = [5, hidden, 3]
    weights = init_weights(sizes, np.random.default_rng(seed), input_spikes=5, neuron_psp_peak=neuron.psp_peak(),
                           drive=(1.5, 6.0))
    net = es.Network.feedforward(sizes, neuron=neuron, weights=weights)
    config = dataclasses.replace(task.config, progress=False, n_threads=1)
    trainer = Trainer(net, task.train_inputs, task.train_labels, task.test_inputs, task.test_labels, config=config)
    started = time.perf_counter()
    history = trainer.fit()
    last = history[-1]
    return {"ratio": ratio, "mode": mode, "seed": seed, "test_accuracy": last["test_accuracy"],
            "hidden_spikes": last["test_spikes_per_sample"][0], "output_spikes": last["test_spikes_per_sample"][1],
            "curve": [h["test_accuracy"] for h in history], "wall_s": time.perf_counter() - started}


def plot(results: list[dict], path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for mode, color in zip(MODES, ("tab:blue", "tab:red")):
        acc = [[100 * r["test_accuracy"] for r in results if r["mode"] == mode and r["ratio"] == q] for q in RATIOS]
        hid = [[r["hidden_spikes"] for r in results if r["mode"] == mode and r["ratio"] == q] for q in RATIOS]
        axes[0].errorbar(RATIOS, [np.mean(a) for a in acc], yerr=[np.std(a) for a in acc], marker="o", color=color,
                         label=mode, capsize=3)
        axes[1].errorbar(RATIOS, [np.mean(h) for h in hid], yerr=[np.std(h) for h in hid], marker="o", color=color,
                         label=mode, capsize=3)
    for ax, label in zip(axes, ("test accuracy (%)", "hidden spikes per sample")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(RATIOS, [str(q) for q in RATIOS])
        ax.set_xlabel("tau_syn / tau_mem (tau_mem = 10 ms)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    save_figure(fig, path,
                "Yin-Yang, exact timing gradients: multi-spike vs first-spike-only neurons (mean ± std over seeds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 epochs, 500 training samples")
    parser.add_argument("--out", default=default_out(NAME))
    args = parser.parse_args()
    seeds, epochs, n_train = (1, 2, 500) if args.quick else (args.seeds, args.epochs, None)
    jobs = [(q, m, s) for s in range(seeds) for q in RATIOS for m in MODES]
    results, wall = run_job_list(NAME, jobs, lambda q, m, s: run(q, m, s, epochs, args.hidden, n_train), args.out,
                                 {"epochs": epochs, "hidden": args.hidden, "seeds": seeds})
    plot(results, figure_path(args.out))
    print(f"wall {wall:.0f} s")
    for q in RATIOS:
        for m in MODES:
            rows = [r for r in results if r["ratio"] == q and r["mode"] == m]
            print(f"ratio {q:4}: {m:17s} acc {100 * np.mean([r['test_accuracy'] for r in rows]):.1f} % "
                  f"hidden {np.mean([r['hidden_spikes'] for r in rows]):.1f} "
                  f"output {np.mean([r['output_spikes'] for r in rows]):.2f}")


if __name__ == "__main__":
    main()
