"""Study 6: accuracy vs spikes on latency-coded MNIST for each gradient method, swept over the spike penalty.

Each (method, penalty) pair trains the MNIST task of ``eventsnn train mnist`` (latency code, Adam) with
``TrainConfig.method``, ``TrainConfig.spike_penalty`` (spike-count regulariser on all layers: only the
creation/removal methods see its gradient, timing gradients are blind to counts) and ``TrainConfig.loss``
(``first_spike``, ANTLR's ``latency`` loss, or ANTLR's ``count`` loss for the activation-only baseline, which has
no creation term to learn a first-spike loss from). Reported per run: final test accuracy, hidden and output
spikes per test sample and spikes until the first output spike; drawn as accuracy vs spikes with each method's
Pareto front, one row per set-up (hidden size, training images, epochs).

The runs are an ``eventsnn sweep`` (eventsnn/sweep.py): this script turns its options into a sweep
specification -- with the defaults, exactly studies/accuracy_sparsity.toml, a quick 784-100-10 run on 6000/2000
images for 3 epochs -- runs it on a local Dask cluster (``--workers``, default all cores) or an existing one
(``--scheduler``), one run directory per (method, penalty) under ``--runs-dir`` (resumable: run the same command
again after an interruption), then writes the points to ``--out`` (JSON) and draws the figure next to it. The
same sweep from the command line, with its table of means over seeds and one Pareto front per method:

    eventsnn sweep studies/accuracy_sparsity.toml --out runs/accuracy_sparsity

docs/studies/accuracy_sparsity.md gives the commands of the full-MNIST runs (one method x penalty takes 2-15 min
per epoch on one core), e.g.

    python studies/accuracy_sparsity.py --loss first_spike --methods "timing,antlr event"

Run directories of ``eventsnn train mnist`` made by hand (long runs, resumable after interruptions) are drawn
together:

    eventsnn train mnist --method antlr --spike-penalty 1e-3 --epochs 45 --out runs/as/antlr_p1e-3_s0
    python studies/accuracy_sparsity.py --plot-only --out docs/studies/accuracy_sparsity_long.json \
        --runs runs/as/*
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from eventsnn import sweep  # noqa: E402

from _common import default_out, figure_path, pyplot, read_json, save_figure, write_json_atomic  # noqa: E402

NAME = "accuracy_sparsity"
METHODS = {"timing": ("timing", {}), "antlr event": ("antlr", {"form": "event"}),
           "antlr grid": ("antlr", {"form": "grid"}),
           "activation": ("activation", {}), "activation+reset": ("activation", {"detach_reset": False})}
COLORS = {"timing": "tab:blue", "activation": "tab:orange", "antlr grid": "tab:green", "antlr event": "tab:red",
          "na": "tab:purple", "activation+reset": "tab:olive", "antlr event, reset detached": "tab:pink",
          "antlr event, reset detached, lambda_timing 3": "tab:brown"}


def spec_dict(args: argparse.Namespace) -> dict:
    """The sweep specification (as parsed TOML) of this script's options: every method of ``--methods`` at every
    penalty of ``--penalties``, except timing, run once (its gradients are blind to the count penalty: the pilot's
    four timing runs were bit-identical)."""
    penalties = [float(p) for p in args.penalties.split(",")]
    fixed = {"loss": args.loss, "tau_mem": args.tau_mem, "hidden": args.hidden, "epochs": args.epochs,
             "n_train": args.n_train, "n_test": args.n_test, "lr_decay": args.lr_decay}
    fixed.update({k: v for k, v in (("lr", args.lr), ("data", args.data)) if v is not None})
    points = []
    for label in args.methods.split(","):
        if label not in METHODS:
            raise SystemExit(f"--methods: unknown method {label!r}; valid: {', '.join(METHODS)}")
        method, options = METHODS[label]
        for penalty in penalties[:1] if method == "timing" else penalties:
            points.append({"method": method, **({"option": dict(options)} if options else {}),
                           "spike_penalty": penalty})
    return {"sweep": {"task": "mnist", "name": NAME, "seeds": [args.seed]}, "fixed": fixed, "points": points,
            "report": {"metrics": ["test_accuracy", "hidden_spikes", "output_spikes", "spikes_until_first_output"],
                       "front": {"x": "spikes", "y": "test_accuracy",
                                 "by": ["method", "option.form", "option.detach_reset"]}}}


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by one with fewer (or equal) spikes and higher (or equal) accuracy."""
    return sweep.pareto_front(points)


def load_results(path: str) -> list[dict]:
    """Results of one run of this script, each tagged with its network size (older files kept it in settings)."""
    data = read_json(path)
    settings = data.get("settings", {})
    return [{"hidden": settings.get("hidden"), "n_train": settings.get("n_train"), "epochs": settings.get("epochs"),
             **r} for r in data["results"]]


def results_from_runs(paths: list[str], at_epoch: int | None = None) -> list[dict]:
    """Points from ``eventsnn train mnist --out DIR`` run directories (long runs that can be interrupted and resumed
    with ``--resume``): metrics of the last epoch (or of epoch ``at_epoch``, to compare runs at the same training
    budget; a run that has not reached it is an error) from metrics.json, method and settings from run.json."""
    from eventsnn.runs import read_run
    points = []
    for path in paths:
        run = read_run(path)
        if at_epoch is not None:
            if run.epochs < at_epoch:
                raise SystemExit(f"{path}: has {run.epochs} epochs, fewer than --at-epoch {at_epoch}")
        history = run.history[:at_epoch] if at_epoch is not None else run.history
        cfg = run.settings.get("config")
        if cfg is None:
            raise SystemExit(f"{path}: no run.json (written by `eventsnn train`); cannot tell its method")
        options = cfg.get("method_options") or {}
        label = cfg["method"]
        if label == "antlr":
            label = f"antlr {options.get('form', 'event')}"
            # ANTLR's own combination is a different curve, not another point of eventsnn's default
            variant = (["reset detached"] if options.get("detach_reset") else []) + (
                [f"lambda_timing {options['lambda_timing']:g}"] if options.get("lambda_timing", 1.0) != 1.0 else [])
            if variant:
                label = f"{label}, {', '.join(variant)}"
        elif label == "activation" and options.get("detach_reset") is False:
            label = "activation+reset"
        last = history[-1]
        spikes = last["test_spikes_per_sample"]
        epochs = len(history)
        augment = []
        if cfg.get("input_jitter"):
            augment.append(f"jitter {cfg['input_jitter']:g} ms")
        if cfg.get("input_shift"):
            augment.append(f"shift {cfg['input_shift']} px")
        points.append({"method": label, "penalty": cfg["spike_penalty"], "test_accuracy": last["test_accuracy"],
                       "hidden_spikes": spikes[0], "output_spikes": spikes[1] if len(spikes) > 1 else 0.0,
                       "spikes_until_first_output": last.get("test_spikes_until_first_output"),
                       "seed": run.settings.get("seed"), "loss": cfg["loss"], "lr": cfg["lr"],
                       "hidden": int(run.settings["network"][1]), "n_train": run.settings.get("n_train") or 60000,
                       "epochs": epochs, "augment": ", ".join(augment), "run": path})
    return points


def curve_label(r: dict) -> str:
    """Method, plus the loss when it is not the first-spike loss (e.g. activation with ANTLR's count loss) and the
    learning rate when it is not the task's 2e-3."""
    label = r["method"] if r.get("loss", "first_spike") == "first_spike" else f"{r['method']} ({r['loss']} loss)"
    label = label if r.get("lr") in (None, 2e-3) else f"{label}, lr {r['lr']:g}"
    return f"{label}, {r['augment']}" if r.get("augment") else label


def plot(results: list[dict], path: str) -> None:
    """One row per set-up (hidden size, training images, epochs): accuracy vs total spikes, and (only when some
    run has spiking outputs, where the two differ) vs spikes until the first output spike; every run a dot
    (seeds separately), each curve's Pareto front a line."""
    plt = pyplot()
    setups = sorted({(r["hidden"], r["n_train"], r["epochs"]) for r in results}, reverse=True)
    measures = [(lambda r: r["hidden_spikes"] + r["output_spikes"], "spikes per test sample (hidden + output)"),
                (lambda r: r.get("spikes_until_first_output"), "spikes until the first output spike")]
    # with a read-out (no output spikes) the second measure equals the first: a second column would repeat it
    if not any(measures[1][0](r) is not None and abs(measures[1][0](r) - measures[0][0](r)) > 1e-9
               for r in results):
        measures = measures[:1]
    fig, axes = plt.subplots(len(setups), len(measures), figsize=(6.2 * len(measures), 4.4 * len(setups)),
                             squeeze=False)
    labels = sorted({curve_label(r) for r in results}, key=lambda lab: (lab.split(" (")[0] not in METHODS, lab))
    # a loss / augmentation suffix shared by every curve goes to the title instead of every legend entry
    suffixes = {lab[lab.find(" ("):] if " (" in lab else "" for lab in labels}
    shared = suffixes.pop() if len(suffixes) == 1 else ""
    for row, (hidden, n_train, epochs) in zip(axes, setups):
        for ax, (measure, xlabel) in zip(row, measures):
            for i, label in enumerate(labels):
                pts = [(measure(r), 100 * r["test_accuracy"]) for r in results
                       if (r["hidden"], r["n_train"], r["epochs"]) == (hidden, n_train, epochs)
                       and curve_label(r) == label and measure(r) is not None]
                if not pts:
                    continue
                base = label.split(" (")[0]  # the method and its variant, without loss, lr and augmentation
                color = COLORS.get(label) or COLORS.get(base) or COLORS.get(base.split(",")[0], f"C{i + 4}")
                ax.scatter(*zip(*pts), color=color, alpha=0.5)
                ax.plot(*zip(*pareto(pts)), color=color, marker="o", label=label[:len(label) - len(shared)])
            ax.set_xlabel(xlabel)
            ax.set_ylabel("test accuracy (%)")
            # the set-up goes to the panel title: as part of the y label it was clipped at the figure's edge
            ax.set_title(f"784-{hidden}-10, {n_train} training images, {epochs} epochs", fontsize=10)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7, loc="lower left")  # the fronts hug the top left, timing the bottom right
    save_figure(fig, path, "MNIST: accuracy vs spikes per gradient method\n(Pareto fronts over the spike penalty)"
                + (f"\nall runs: {shared.strip()}" if shared else ""))


def plot_curves(paths: list[str], path: str) -> None:
    """Per-epoch view of ``eventsnn train`` runs: test accuracy and hidden spikes per test sample against the
    epoch, and each run's path in the accuracy-vs-spikes plane (one colour per method, one line style per
    penalty, the run's seed in its label)."""
    from eventsnn.runs import read_run
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    runs = results_from_runs(paths)
    histories = [read_run(r["run"]).history for r in runs]
    penalties = sorted({r["penalty"] for r in runs})
    styles = ["-", "--", ":", "-."]
    for r, history in zip(runs, histories):
        epochs = [m["epoch"] for m in history]
        accuracy = [100 * m["test_accuracy"] for m in history]
        spikes = [sum(m["test_spikes_per_sample"]) for m in history]
        style = dict(color=COLORS.get(r["method"], "black"), linestyle=styles[penalties.index(r["penalty"]) % 4],
                     label=f"{r['method']}, penalty {r['penalty']:g}, seed {r['seed']}")
        axes[0].plot(epochs, accuracy, **style)
        axes[1].plot(epochs, spikes, **style)
        axes[2].plot(spikes, accuracy, marker=".", markersize=3, **style)
        axes[2].annotate(f"{epochs[-1]}", (spikes[-1], accuracy[-1]), fontsize=7)
    axes[0].set(xlabel="epoch", ylabel="test accuracy (%)")
    axes[1].set(xlabel="epoch", ylabel="hidden spikes per test sample", yscale="log")
    axes[2].set(xlabel="hidden spikes per test sample (epoch by epoch)", ylabel="test accuracy (%)", xscale="log")
    from matplotlib.ticker import ScalarFormatter
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    for axis in (axes[1].yaxis, axes[2].xaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(ScalarFormatter())
    top = max(100 * m["test_accuracy"] for history in histories for m in history)
    for ax in (axes[0], axes[2]):
        ax.set_ylim(max(90.0, top - 8.0), top + 0.3)
    axes[0].legend(fontsize=7)
    save_figure(fig, path, "MNIST 784-350 + read-out: accuracy and spikes per epoch, per gradient method")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--penalties", default="0,0.0003,0.001,0.003", help="spike penalties per spike and sample")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default the MNIST task's, 2e-3)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--loss", default="latency", choices=["latency", "first_spike", "count", "vmax"],
                        help="classification loss for every method (default ANTLR's latency loss; count = ANTLR's "
                             "count loss, the loss of its activation-only baseline; vmax = leaky-integrator "
                             "read-out on the hidden layer, EventProp's MNIST set-up)")
    parser.add_argument("--lr-decay", type=float, default=0.9,
                        help="learning-rate factor per epoch (default 0.9, the value of every run in docs/studies)")
    parser.add_argument("--tau-mem", type=float, default=10.0, help="membrane time constant (ms), default 10")
    parser.add_argument("--plot-only", action="store_true", help="redraw the figure from --out and stop")
    parser.add_argument("--include", action="append", default=[],
                        help="results JSON of another run of this script to draw on the same figure (repeatable)")
    parser.add_argument("--runs", nargs="+", default=[],
                        help="run directories of `eventsnn train mnist` to draw as points too (with --plot-only)")
    parser.add_argument("--curves", default=None, help="with --runs: draw their per-epoch curves to this PNG and stop")
    parser.add_argument("--at-epoch", type=int, default=None,
                        help="take the --runs points at this epoch instead of their last one")
    parser.add_argument("--quick", action="store_true", help="300 train / 100 test images, 1 epoch, 2 penalties")
    parser.add_argument("--out", default=default_out(NAME), help="results JSON (the figure goes next to it)")
    parser.add_argument("--runs-dir", default=None,
                        help="directory of the sweep's run directories (default runs/<stem of --out>)")
    parser.add_argument("--workers", type=int, default=None, help="local Dask workers (default: all cores)")
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler instead")
    args = parser.parse_args()
    if args.curves:
        if not args.runs:
            raise SystemExit("--curves needs --runs")
        plot_curves(args.runs, args.curves)
        return
    included = [r for path in args.include for r in load_results(path)] + results_from_runs(args.runs, args.at_epoch)
    if args.plot_only:
        plot((load_results(args.out) if os.path.exists(args.out) else []) + included, figure_path(args.out))
        return
    if args.quick:
        args.n_train, args.n_test, args.epochs = 300, 100, 1
        args.penalties = ",".join(args.penalties.split(",")[:2])
    try:
        spec = sweep.spec_from_dict(spec_dict(args), source=f"{NAME} options")
    except sweep.SpecError as error:
        raise SystemExit(str(error)) from None
    runs_dir = args.runs_dir or os.path.join("runs", os.path.splitext(os.path.basename(args.out))[0])
    result = sweep.run_sweep(spec, runs_dir, workers=args.workers, scheduler=args.scheduler)
    done = [os.path.join(runs_dir, run.name) for run in spec.runs
            if sweep.read_status(runs_dir, run)["status"] == "done"]
    write_json_atomic(args.out, {"settings": vars(args), "results": results_from_runs(done)})
    plot(load_results(args.out) + included, figure_path(args.out))
    print(f"wall {result.seconds:.0f} s; points: {args.out}, figure: {figure_path(args.out)}")


if __name__ == "__main__":
    main()
