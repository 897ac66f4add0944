"""Study 6 (pilot): accuracy vs spikes on latency-coded MNIST for each gradient method, swept over the spike penalty.

Each (method, penalty) pair trains the MNIST task of ``eventsnn train mnist`` (latency code, first-spike
cross-entropy, Adam) with ``TrainConfig.method`` and ``TrainConfig.spike_penalty`` (spike-count regulariser on
all layers: only the creation/removal methods see its gradient, timing gradients are blind to counts). Reported
per run: final test accuracy, hidden and output spikes per test sample; drawn as accuracy vs spikes with the
Pareto front of each method.

This is a reduced pilot (defaults: 784-100-10, the first 6000 training and 2000 test images, 3 epochs); the
issue's full study (784-800-10 and 784-350-10 on all 60000 images) needs hours per method on one core.

    python studies/accuracy_sparsity.py
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from eventsnn.tasks import make_task  # noqa: E402
from eventsnn.training import Trainer  # noqa: E402

from _common import default_out, figure_path, pyplot, read_json, run_job_list, save_figure  # noqa: E402

NAME = "accuracy_sparsity"
METHODS = {"timing": ("timing", {}), "antlr event": ("antlr", {"form": "event"}), "antlr grid": ("antlr", {"form": "grid"}),
           "activation": ("activation", {})}
COLORS = {"timing": "tab:blue", "activation": "tab:orange", "antlr grid": "tab:green", "antlr event": "tab:red"}


def run(label: str, penalty: float, args) -> dict:
    method, options = METHODS[label]
    task = make_task("mnist", epochs=args.epochs, seed=args.seed, hidden=args.hidden, n_train=args.n_train,
                     n_test=args.n_test, data_path=args.data)
    config = dataclasses.replace(task.config, progress=False, n_threads=1, method=method,
                                 method_options=dict(options), spike_penalty=penalty, loss=args.loss)
    trainer = Trainer(task.net, task.train_inputs, task.train_labels, task.test_inputs, task.test_labels,
                      config=config)
    started = time.perf_counter()
    history = trainer.fit()
    last = history[-1]
    return {"method": label, "penalty": penalty, "test_accuracy": last["test_accuracy"],
            "hidden_spikes": last["test_spikes_per_sample"][0], "output_spikes": last["test_spikes_per_sample"][1],
            "spikes_until_first_output": last["test_spikes_until_first_output"], "seed": args.seed, "loss": args.loss,
            "history": history, "wall_s": time.perf_counter() - started}


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by one with fewer (or equal) spikes and higher (or equal) accuracy."""
    front = [p for p in points if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in points)]
    return sorted(front)


def plot(results: list[dict], path: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    measures = [(lambda r: r["hidden_spikes"] + r["output_spikes"], "spikes per test sample (hidden + output)")]
    if all("spikes_until_first_output" in r for r in results):
        measures.append((lambda r: r["spikes_until_first_output"], "spikes until the first output spike"))
    for ax, (measure, xlabel) in zip(axes, measures):
        for label in METHODS:
            pts = [(measure(r), 100 * r["test_accuracy"]) for r in results if r["method"] == label]
            if not pts:
                continue
            ax.scatter(*zip(*pts), color=COLORS[label], alpha=0.5)
            front = pareto(pts)
            ax.plot(*zip(*front), color=COLORS[label], marker="o", label=label)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend()
    save_figure(fig, path, "MNIST: accuracy vs spikes per gradient method (Pareto fronts over the spike penalty)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--penalties", default="0,0.0003,0.001,0.003", help="spike penalties per spike and sample")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    parser.add_argument("--loss", default="latency", choices=["latency", "first_spike"],
                        help="classification loss for every method (default ANTLR's latency loss)")
    parser.add_argument("--plot-only", action="store_true", help="redraw the figure from --out and stop")
    parser.add_argument("--include", action="append", default=[],
                        help="results JSON of another run of this script to draw on the same figure (repeatable)")
    parser.add_argument("--quick", action="store_true", help="300 train / 100 test images, 1 epoch, 2 penalties")
    parser.add_argument("--out", default=default_out(NAME))
    args = parser.parse_args()
    included = [r for path in args.include for r in read_json(path)["results"]]
    if args.plot_only:
        plot(read_json(args.out)["results"] + included, figure_path(args.out))
        return
    penalties = [float(p) for p in args.penalties.split(",")]
    if args.quick:
        args.n_train, args.n_test, args.epochs, penalties = 300, 100, 1, penalties[:2]
    # timing gradients are blind to the count penalty (the pilot's four timing runs were bit-identical): one run
    jobs = [(m, p) for m in args.methods.split(",") for p in (penalties[:1] if m == "timing" else penalties)]
    results, wall = run_job_list(NAME, jobs, lambda label, penalty: run(label, penalty, args), args.out,
                                 {"settings": vars(args)})
    plot(results + included, figure_path(args.out))
    print(f"wall {wall:.0f} s")
    for r in results:
        print(f"{r['method']:12s} penalty {r['penalty']:<7g} acc {100 * r['test_accuracy']:.1f} % hidden "
              f"{r['hidden_spikes']:.1f} output {r['output_spikes']:.2f}  ({r['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
