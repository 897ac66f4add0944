"""Figure: final spike-train matching loss of the unified methods against ANTLR's timing weight lambda_timing.

Reads the compact records (``--record``) of ``studies/spike_train_matching.py`` run at one learning rate with
``--lambda-timing L`` (the lambda_timing = 1 file is any run of that rate holding both unified labels) and draws, per
target density, the final loss (mean ± sem over seeds) of `antlr grid` and `antlr grid (reset detached)` against L, with
timing-only and both activation variants as horizontal bands (they do not depend on L). An optional held-out file (other
seeds, one L) is drawn as open markers, with the means of the parts on those seeds as horizontal ticks.

    python studies/antlr_lambda_sweep.py --runs 1=docs/studies/spike_train_matching_detached_lr0.03.json \\
        3=docs/studies/spike_train_matching_lt3.json 10=docs/studies/spike_train_matching_lt10.json \\
        30=docs/studies/spike_train_matching_lt30.json \\
        --held-out 3=docs/studies/spike_train_matching_lt3_seeds10-19.json --out docs/studies/antlr_lambda_sweep.png
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import COLORS, mean_sem, pyplot, read_json, save_figure  # noqa: E402
from spike_train_matching import finals  # noqa: E402

UNIFIED = ("antlr grid", "antlr grid (reset detached)")
PARTS = ("timing", "activation (reset detached)", "activation (reset term)")


def parse_pairs(parser, items) -> list[tuple[float, str]]:
    pairs = []
    for item in items:
        weight, sep, path = item.partition("=")
        if not sep:
            parser.error(f"expected LAMBDA=PATH, got {item!r}")
        pairs.append((float(weight), path))
    return sorted(pairs)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="LAMBDA=record.json, one per timing weight")
    p.add_argument("--held-out", nargs="*", default=[], help="LAMBDA=record.json of other seeds")
    p.add_argument("--out", required=True, help="figure path (.png)")
    args = p.parse_args(argv)
    run_pairs, held_out_pairs = parse_pairs(p, args.runs), parse_pairs(p, args.held_out)
    runs = [(w, read_json(path)) for w, path in run_pairs]
    held_out = [(w, read_json(path)) for w, path in held_out_pairs]
    for (w, path), (_, r) in zip(run_pairs + held_out_pairs, runs + held_out):
        stored = r["config"].get("lambda_timing", 1.0)  # files written before the option existed used 1
        if stored != w:
            p.error(f"{path} was run with lambda_timing {stored:g}, not {w:g}")
    # everything but lambda_timing and the seeds must match, or the bands and points are not comparable
    problem = ("lr", "iterations", "densities", "tau_mem", "tau_syn", "reset_current", "input_rate", "t_max",
               "n_in", "n_hidden", "n_out", "drive", "vr_tau")
    reference = runs[0][1]["config"]
    for _, r in runs + held_out:
        different = [k for k in problem if r["config"].get(k) != reference.get(k)]
        if different:
            p.error(f"result files differ in {different}; they must share everything but lambda_timing and seeds")
    dkeys = list(runs[0][1]["final_loss"])
    plt = pyplot()
    fig, axes = plt.subplots(1, len(dkeys), figsize=(4.4 * len(dkeys), 3.8), squeeze=False)
    weights = np.array([w for w, _ in runs])
    for ax, dkey in zip(axes[0], dkeys):
        for label in PARTS:  # independent of lambda_timing: taken from the file of the smallest lambda
            m, s = mean_sem(finals(runs[0][1], dkey, label))
            ax.axhspan(m - s, m + s, color=COLORS[label], alpha=0.25, lw=0)
            ax.axhline(m, color=COLORS[label], lw=1, ls="--", label=f"{label} (no lambda)")
        for w, r in held_out:  # the parts on the held-out seeds, as bars beside the held-out unified points
            for label in PARTS:
                ax.plot([w * 1.06], [np.nanmean(finals(r, dkey, label))], marker="_", ms=14, mew=2,
                        color=COLORS[label], ls="none")
        for label in UNIFIED:
            stats = np.array([mean_sem(finals(r, dkey, label)) for _, r in runs])
            ax.errorbar(weights, stats[:, 0], yerr=stats[:, 1], color=COLORS[label], marker="o", capsize=3,
                        label=f"{label}, seeds of the sweep")
            for w, r in held_out:
                m, s = mean_sem(finals(r, dkey, label))
                ax.errorbar([w * 1.06], [m], yerr=[s], color=COLORS[label], marker="o", mfc="white", capsize=3,
                            ls="none", label=f"{label}, held-out seeds" if dkey == dkeys[0] else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(weights, [f"{w:g}" for w in weights])
        ax.set_xlabel("lambda_timing (lambda_activation = 1)")
        ax.set_title(f"target {dkey} Hz")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("final van Rossum distance (mean ± sem)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    axes[0][-1].legend(handles, labels, fontsize=7, loc="upper left")
    n_seeds = len(runs[0][1]["final_loss"][dkeys[0]])
    save_figure(fig, args.out,
                f"Spike-train matching: ANTLR's timing weight (Adam lr {reference['lr']:g}, {n_seeds} seeds"
                + (", open: held-out seeds)" if held_out else ")"), fontsize=11)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
