"""How much of ANTLR's unified gradient is timing and how much is activation, on the spike-train matching task.

ANTLR adds its two terms with lambda_timing = lambda_activation = 1 (PAPERS.md 1.3: "a heuristic weighting of two
gradients with different units"). For every (density, seed) problem of ``studies/spike_train_matching.py``
this script splits the `antlr grid` weight gradient into its timing part (lambda_activation = 0, the exact
timing gradient) and its activation part (lambda_timing = 0), at the initial weights and again after
``--iterations`` Adam steps of `antlr grid` itself, and reports per layer:

* the norm ratio |timing part| / |activation part|,
* the fraction of weight entries whose timing part is larger in magnitude (Adam rescales every entry, so this
  is what decides which term steers an entry),
* the cosine of the unified gradient with each part,
* |unified - timing part - activation part| / |unified|, the cross term. With the reset term kept (eventsnn's
  default) the creation candidates' reset coefficient also acts on the adjoint carrying the timing part, so
  every layer has one; with ``--detach-reset`` the output layer is exactly the sum of its parts and only the
  hidden layers keep a cross term (the combined dL/dV of the layer above feeds both routes to the layer below).
  Both cross terms vanish when either lambda is 0.

A seed whose timing part is zero (no output spike left) has NaN cosines with it and is left out of the medians.

    NUMBA_NUM_THREADS=1 python studies/antlr_gradient_split.py --seeds 10 --lr 0.03 [--detach-reset]

Writes the results JSON atomically and a figure (same stem, .png).
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

from _common import (checkpoint, default_out, figure_path, fit_one_sample, new_results, pyplot,  # noqa: E402
                     read_json, save_figure)
import spike_train_matching as stm  # noqa: E402

NAME = "antlr_gradient_split"
STAGES = ("initial", "trained")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(np.sum(a * b) / (na * nb)) if na > 0 and nb > 0 else float("nan")


def split(net, inputs, targets, args, detach_reset: bool) -> list[dict]:
    """Per layer: the two parts of the grid-form unified gradient at the weights of ``net``."""
    rec = es.simulate(net, inputs, args.t_max, n_threads=1, max_spikes_per_neuron=args.max_spikes)
    loss = losses.van_rossum_distance(rec, targets, tau=args.vr_tau)

    def grads(**lambdas):
        return es.vjp(net, rec, loss, method="antlr", form="grid", detach_reset=detach_reset, n_threads=1,
                      **lambdas).weights

    timing, activation, unified = grads(lambda_activation=0.0), grads(lambda_timing=0.0), grads()
    rows = []
    for t, a, u in zip(timing, activation, unified):
        nt, na = float(np.linalg.norm(t)), float(np.linalg.norm(a))
        rows.append({"timing_norm": nt, "activation_norm": na,
                     "norm_ratio": nt / na if na > 0 else float("inf"),
                     "timing_larger_fraction": float(np.mean(np.abs(t) > np.abs(a))),
                     "cos_unified_timing": cosine(u, t), "cos_unified_activation": cosine(u, a),
                     "cos_timing_activation": cosine(t, a),
                     "cross_ratio": float(np.linalg.norm(u - t - a) / max(np.linalg.norm(u), 1e-300))})
    return rows


PANELS = (("norm_ratio", "|timing part| / |activation part|"),
          ("cos_unified_timing", "cosine(unified, timing part)"),
          ("cos_unified_activation", "cosine(unified, activation part)"))


def plot(results: dict, path: str) -> None:
    plt = pyplot()
    dkeys = list(results["runs"])
    n_layers = len(next(iter(results["runs"][dkeys[0]].values()))["initial"])
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.6 * len(PANELS), 3.8))
    width = 0.8 / (len(STAGES) * n_layers)
    for s, stage in enumerate(STAGES):
        for k in range(n_layers):
            offset = (s * n_layers + k - (len(STAGES) * n_layers - 1) / 2) * width
            for ax, (key, _) in zip(axes, PANELS):
                vals = [[r[stage][k][key] for r in results["runs"][d].values() if stage in r] for d in dkeys]
                x = np.arange(len(dkeys)) + offset
                ax.bar(x, [np.nanmedian(v) for v in vals], width, label=f"{stage} weights, layer {k + 1}",
                       color=plt.cm.tab20(2 * k + s), edgecolor="k", lw=0.3)
                for xi, v in zip(x, vals):
                    ax.plot(np.full(len(v), xi), v, "k.", ms=2)
    axes[0].set_yscale("log")
    axes[0].axhline(1.0, color="k", lw=0.8)
    for ax, (key, title) in zip(axes, PANELS):
        ax.set_ylabel(title)
        ax.set_xticks(range(len(dkeys)), [f"{d} Hz" for d in dkeys])
        ax.set_xlabel("target rate")
        ax.grid(alpha=0.3, axis="y")
        if key.startswith("cos"):
            ax.set_ylim(-1.05, 1.05)
            ax.axhline(0.0, color="k", lw=0.8)
    axes[-1].legend(fontsize=7, loc="lower left")
    unified = "antlr grid (reset detached)" if results["config"].get("detach_reset") else "antlr grid"
    n_seeds = len(results["runs"][dkeys[0]])
    save_figure(fig, path, f"{unified} on spike-train matching: its timing and activation parts (bars: median "
                f"over {n_seeds} seeds, dots: seeds)", fontsize=10)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--iterations", type=int, default=200, help="Adam steps of antlr grid before the second split")
    p.add_argument("--lr", type=float, default=3e-2)
    p.add_argument("--densities", default="10,30,60", help="target output rates (Hz), comma-separated")
    p.add_argument("--detach-reset", action="store_true",
                   help="split `antlr grid (reset detached)` (ANTLR's own choice) instead of eventsnn's default")
    p.add_argument("--out", default=default_out(NAME))
    p.add_argument("--plot-only", action="store_true", help="redraw the figure from --out and stop")
    args = p.parse_args(argv)
    if args.plot_only:
        plot(read_json(args.out), figure_path(args.out))
        return
    # the problem definition (network, input, targets, neuron) is the spike-train matching study's, defaults
    problem_args = stm.build_parser().parse_args([])
    problem_args.lr, problem_args.iterations = args.lr, args.iterations
    label = "antlr grid (reset detached)" if args.detach_reset else "antlr grid"
    results = new_results(NAME, args)
    results["problem"] = vars(problem_args)
    started = time.perf_counter()
    for density in (float(d) for d in args.densities.split(",")):
        dkey = f"{density:g}"
        results["runs"][dkey] = {}
        for seed in range(args.seeds):
            net, inputs, targets = stm.make_problem(seed, density, problem_args)
            entry = {"initial": split(net, inputs, targets, problem_args, args.detach_reset)}
            status, n_bad = fit_one_sample(net, inputs, problem_args.t_max,
                                           lambda r: losses.van_rossum_distance(r, targets, tau=problem_args.vr_tau),
                                           label, args.lr, args.iterations, problem_args.max_spikes,
                                           lambda rec, loss: None)
            entry.update(status=status, n_nonfinite=n_bad)
            if status != "ok":  # stopped at the spike limit: its weights exceed the limit too, nothing to split
                results["runs"][dkey][str(seed)] = entry
                continue
            entry["trained"] = split(net, inputs, targets, problem_args, args.detach_reset)
            results["runs"][dkey][str(seed)] = entry
            checkpoint(results, started, args.out)
    results["summary"] = summarize(results)
    checkpoint(results, started, args.out)
    plot(results, figure_path(args.out))
    for dkey, rows in results["summary"].items():
        print(f"target {dkey} Hz")
        for key, value in rows.items():
            print(f"  {key}: {value}")
    print(f"wall {results['wall_s']:.0f} s -> {args.out}")


def summarize(results: dict) -> dict:
    """Median over seeds of each quantity, per density, stage and layer."""
    summary = {}
    for dkey, per_seed in results["runs"].items():
        row = {}
        for stage in STAGES:
            for k in range(len(next(iter(per_seed.values()))["initial"])):
                for key in ("norm_ratio", "timing_larger_fraction", "cos_unified_timing", "cos_unified_activation",
                            "cross_ratio"):
                    values = [r[stage][k][key] for r in per_seed.values() if stage in r]
                    row[f"{stage} layer {k + 1} {key}"] = float(np.nanmedian(values))
        summary[dkey] = row
    return summary


if __name__ == "__main__":
    main()
