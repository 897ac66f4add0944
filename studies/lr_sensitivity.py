"""Learning-rate sensitivity of study 1 (spike-train matching): each method at its own best learning rate.

Reads the compact records (``--record``) of ``studies/spike_train_matching.py`` run with different ``--lr`` (same
densities and iterations), restricts every file to the seeds they all share, and reports per density and method the mean
final van Rossum loss at each learning rate, the best learning rate, and whether the unified methods still beat
timing-only and both activation-only variants when every method gets its best learning rate. Writes a markdown table
(stdout) and a JSON summary.

    python studies/spike_train_matching.py --seeds 3 --lr 0.001 --record stm_lr1e-3.json
    python studies/spike_train_matching.py --seeds 3 --lr 0.01 --record stm_lr1e-2.json
    python studies/lr_sensitivity.py docs/studies/spike_train_matching.json stm_lr1e-3.json stm_lr1e-2.json \\
        --out docs/studies/lr_sensitivity.json
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import read_json, write_json_atomic  # noqa: E402


UNIFIED = ("antlr grid", "antlr event")
BASELINES = ("timing", "activation (reset detached)", "activation (reset term)")


def final_losses(result: dict, density: str, method: str, seeds: list[str]) -> np.ndarray:
    """Final loss (study 1's definition) of each seed."""
    return np.array([result["final_loss"][density][s][method] for s in seeds], dtype=float)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", help="compact records of spike_train_matching.py, one per learning rate")
    p.add_argument("--out", default=None, help="write the summary JSON here")
    args = p.parse_args(argv)
    results = [read_json(f) for f in args.files]
    lrs = [r["config"]["lr"] for r in results]
    if len(set(lrs)) != len(lrs):
        sys.exit(f"each file must come from a different --lr, got {lrs}")
    densities = sorted(set.intersection(*(set(r["final_loss"]) for r in results)), key=float)
    methods = [m for m in results[0]["config"]["methods"].split(",") if all(
        m in r["config"]["methods"].split(",") for r in results)]
    summary = {}
    for d in densities:
        seeds = sorted(set.intersection(*(set(r["final_loss"][d]) for r in results)), key=int)
        rows = {}
        for m in methods:
            means = [float(np.nanmean(final_losses(r, d, m, seeds))) for r in results]
            best = int(np.argmin(means))
            rows[m] = {"mean_final_loss": dict(zip(map(str, lrs), means)), "best_lr": lrs[best],
                       "best": means[best]}
        best_baseline = min(rows[m]["best"] for m in BASELINES if m in rows)
        summary[d] = {"seeds": seeds, "methods": rows,
                      "unified_beats_all_baselines": {u: rows[u]["best"] < best_baseline for u in UNIFIED if u in rows}}
    print(f"Final van Rossum loss (mean of the last 10 iterations), mean over the seeds shared by all files; "
          f"learning rates {lrs}\n")
    header = "| density (Hz) | method | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | best lr |"
    print(header)
    print("|" + "---|" * (len(lrs) + 3))
    for d in densities:
        for m in methods:
            row = summary[d]["methods"][m]
            cells = " | ".join(f"{row['mean_final_loss'][str(lr)]:.2f}" for lr in lrs)
            print(f"| {d} ({len(summary[d]['seeds'])} seeds) | {m} | {cells} | {row['best_lr']:g} |")
    for d in densities:
        print(f"density {d} Hz: unified method beats every baseline at their best lr: "
              f"{summary[d]['unified_beats_all_baselines']}")
    if args.out:
        write_json_atomic(args.out, {"files": args.files, "lrs": lrs, "summary": summary})


if __name__ == "__main__":
    main()
