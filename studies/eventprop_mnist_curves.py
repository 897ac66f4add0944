"""Learning curves of the MNIST EventProp reproduction (`studies/eventprop_reproduction_mnist.toml`) next to
EventProp's own runs: eventsnn's validation accuracy after every epoch (EventProp's 5000-image validation split)
and, once, its test accuracy after the 100th; EventProp's test accuracy after every epoch from their committed
result files (docs/runs/mnist/eventprop_published/; docs/runs/README.md says how they were extracted).
Different splits: the curves show when each run stops improving, the end points compare test with test.

    python studies/eventprop_mnist_curves.py [RECORDS] [--out docs/results_mnist_eventprop.png]

RECORDS: the reproduction's run directories' parent (default: the committed records,
docs/runs/mnist/eventprop_reproduction).
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def published(path: pathlib.Path) -> dict[int, list[tuple[int, float]]]:
    curves: dict[int, list[tuple[int, float]]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            point = (int(row["epochs_trained"]), 100 * float(row["test_accuracy"]))
            curves.setdefault(int(row["seed"]), []).append(point)
    return curves


def ours(records: pathlib.Path) -> dict[int, list[dict]]:
    runs = {}
    for metrics in sorted(records.glob("**/seed-*/metrics.json")):
        runs[int(metrics.parent.name.split("-")[1])] = json.loads(metrics.read_text())
    if not runs:
        raise SystemExit(f"no seed-N/metrics.json under {records}")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="?", default=str(ROOT / "docs/runs/mnist/eventprop_reproduction"))
    parser.add_argument("--out", default=str(ROOT / "docs/results_mnist_eventprop.png"))
    args = parser.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    theirs = published(ROOT / "docs/runs/mnist/eventprop_published/test_accuracy.csv")
    runs = ours(pathlib.Path(args.records))
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    epochs = np.array([k for k, _ in theirs[0]])
    values = np.array([[a for _, a in theirs[s]] for s in sorted(theirs)])
    ax.fill_between(epochs, values.min(0), values.max(0), color="0.8", label="EventProp, test (10 seeds: range)")
    ax.plot(epochs, values.mean(0), color="0.35", lw=1.2, label="EventProp, test (mean)")
    for seed, history in runs.items():
        e = [m["epoch"] for m in history]
        ax.plot(e, [100 * m["val_accuracy"] for m in history], lw=1.0, color=f"C{seed}",
                label=f"eventsnn seed {seed}, validation")
        if "test_accuracy" in history[-1]:
            ax.plot(history[-1]["epoch"], 100 * history[-1]["test_accuracy"], "o", color=f"C{seed}", ms=6,
                    label=f"eventsnn seed {seed}, test after epoch {history[-1]['epoch']}")
    ax.set_xlim(0, 101)
    ax.set_ylim(96.0, 98.6)
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("MNIST, EventProp's recipe (784-350-10, batch 5, dropout 0.2)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
