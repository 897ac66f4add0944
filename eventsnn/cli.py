"""Command line: ``eventsnn train {yinyang,mnist,fashion-mnist,nmnist}`` and ``eventsnn summary DIR...``.

Prints per-epoch metrics, then writes to ``--out``: ``run.json`` (command line and every setting, at the start),
``model.npz`` (weights), ``metrics.json`` and ``metrics.csv``
(one row per epoch), ``checkpoint.npz`` (resumable with ``--resume``) and ``raster.png`` (spike raster and
membrane traces of the first test sample). All files are written atomically.

``summary`` reads the ``metrics.json`` of run directories (finished or still running), prints their last-epoch
metrics and, for several runs (seeds), the mean +- std of the test accuracy; ``--plot FILE`` draws their test
accuracy per epoch.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from typing import Sequence

import numpy as np


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventsnn", description="Exact event-driven SNN simulation and training")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a classifier with exact spike-time gradients")
    train.add_argument("task", choices=["yinyang", "mnist", "fashion-mnist", "nmnist"])
    train.add_argument("--epochs", type=int, default=None,
                       help="number of epochs (task default: yinyang 60, mnist / fashion-mnist / nmnist 30)")
    train.add_argument("--hidden", type=int, default=None, help="hidden neurons (yinyang 200, mnist 350, nmnist 200)")
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--lr", type=float, default=None, help="learning rate")
    train.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling")
    train.add_argument("--n-train", type=int, default=None, help="use only the first N training samples")
    train.add_argument("--n-test", type=int, default=None, help="use only the first N test samples")
    train.add_argument("--data", default=None,
                       help="directory with the MNIST / Fashion-MNIST IDX files or the N-MNIST event files")
    train.add_argument("--threads", type=int, default=None, help="threads over samples (default: all cores)")
    train.add_argument("--out", default=None, help="output directory (default runs/<task>)")
    train.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.npz")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.add_argument("--method", default="timing", choices=["timing", "activation", "antlr", "na"],
                       help="gradient method (default: the exact timing adjoint)")
    train.add_argument("--spike-penalty", type=float, default=None,
                       help="spike-count regulariser per spike and sample (seen by creation/removal methods)")
    train.add_argument("--grad-clip", type=float, default=None, help="max global gradient norm per step (0 = off)")
    train.add_argument("--tau-mem", type=float, default=None,
                       help="membrane time constant (ms); task default: yinyang 10, mnist / fashion-mnist / nmnist 20")
    train.add_argument("--tau-syn", type=float, default=None,
                       help="synaptic time constant (ms), default 5 (or the preset's)")
    train.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                       help="an option of the gradient method, e.g. --method antlr --option form=grid --option "
                            "lambda_activation=0.5 (repeatable; see eventsnn.gradient_methods.MethodOptions)")
    train.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="override any TrainConfig field, e.g. --set softmax_tau=0.5 --set lr_decay=0.95 "
                            "(repeatable; see eventsnn.training.TrainConfig)")
    train.add_argument("--preset", default=None, choices=["eventprop", "antlr"],
                       help="a published recipe instead of the task defaults (yinyang: EventProp's paper settings, "
                            "300 epochs; mnist / fashion-mnist: EventProp's MNIST recipe, 100 epochs, or ANTLR's "
                            "784-800-10 latency set-up, 20 epochs; see eventsnn.tasks.PRESETS)")
    train.add_argument("--loss", default=None, choices=["first_spike", "latency", "count", "vmax"],
                       help="classification loss (task default: yinyang first_spike, mnist / fashion-mnist vmax; "
                            "latency = ANTLR's latency loss; count = ANTLR's spike-count loss, decided by the most "
                            "output spikes; vmax = leaky-integrator read-out instead of spiking outputs, "
                            "cross-entropy on potential maxima as EventProp)")
    summary = sub.add_parser("summary", help="last-epoch metrics of run directories and their mean over seeds")
    summary.add_argument("runs", nargs="+", help="run directories (each with a metrics.json)")
    summary.add_argument("--plot", default=None, metavar="FILE", help="save test accuracy per epoch of the runs here")
    _add_sweep_parser(sub)
    return parser


def _add_sweep_parser(sub) -> None:
    """``eventsnn sweep``: arguments only; the work is eventsnn.sweep's."""
    sweep = sub.add_parser("sweep", help="run a grid of training runs from a TOML spec on Dask (resumable), then "
                                         "report mean +- std over seeds and the accuracy-vs-spikes Pareto fronts")
    sweep.add_argument("spec", help="sweep specification (TOML; see eventsnn.sweep and docs/sweeps.md)")
    sweep.add_argument("--out", default=None, help="output directory (default runs/<spec name>)")
    sweep.add_argument("--workers", type=int, default=None,
                       help="worker processes of the local Dask cluster, one thread each (default: all cores)")
    sweep.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="submit to a running Dask scheduler (e.g. tcp://host:8786) instead of a local cluster")
    sweep.add_argument("--report", action="store_true", help="only print and write the report of the runs so far")
    sweep.add_argument("--retry-failed", action="store_true", help="also run again the runs recorded as failed")
    sweep.add_argument("--retries", type=int, default=3,
                       help="times a run is restarted after its worker died (default 3)")


def _summary(args: argparse.Namespace) -> int:
    from eventsnn.runs import format_summary, read_run
    try:
        runs = [read_run(path) for path in args.runs]
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"eventsnn: {error}") from None
    print(format_summary(runs))
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from eventsnn.plot import accuracy_curves, save_figure
        fig, ax = plt.subplots(figsize=(6.5, 4.0))
        accuracy_curves(runs, ax=ax)
        fig.tight_layout()
        print(f"figure: {save_figure(fig, args.plot, dpi=130)}")
        plt.close(fig)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "summary":
        return _summary(args)
    if args.command == "sweep":
        from eventsnn.sweep import command
        return command(args)
    from eventsnn._atomic import write_json
    from eventsnn.training import format_metrics

    started = time.perf_counter()
    overrides = _parse_overrides(args.set)  # bad names fail here, before any data is loaded
    method_options = _parse_method_options(args.option)
    if "loss" in overrides:  # the loss decides the architecture (a read-out for "vmax"), so it goes to make_task
        args.loss = overrides.pop("loss")
    try:
        task, config, out, trainer = _set_up(args, overrides, method_options)
    except (ValueError, TypeError, FileNotFoundError) as error:  # bad settings or data: one line, no training
        raise SystemExit(f"eventsnn: {error}") from None
    # without progress bars (logs, CI) each epoch's line is printed as soon as it is done
    history = trainer.fit(on_epoch=None if config.progress else lambda row: print(format_metrics(row), flush=True))
    final = trainer.evaluate(task.test_inputs, task.test_labels)
    _save_model(os.path.join(out, "model.npz"), task.net, task.readout)
    write_json(os.path.join(out, "metrics.json"), history)
    _write_csv(os.path.join(out, "metrics.csv"), history)
    raster_path = _save_raster(os.path.join(out, "raster.png"), task.net, task.test_inputs[0], config.t_max,
                               task.readout, int(task.test_labels[0]))
    fwd = sum(r["forward_s"] for r in history)
    bwd = sum(r["backward_s"] for r in history)
    print(f"test accuracy {100 * final.accuracy:.2f}% | spikes per sample: "
          + ", ".join(f"{name} {s:.1f}" for name, s in zip(task.net.layer_names, final.spikes_per_sample))
          + " | silent neurons: " + ", ".join(f"{name} {100 * s:.0f}%" for name, s in
                                              zip(task.net.layer_names, final.silent_fraction)))
    print(f"wall time {time.perf_counter() - started:.1f} s (forward {fwd:.1f} s, backward {bwd:.1f} s, "
          f"backward/forward {bwd / max(fwd, 1e-12):.2f}); files: {out}/model.npz, metrics.json, metrics.csv, "
          f"{raster_path}")
    return 0


def _set_up(args: argparse.Namespace, overrides: dict, method_options: dict) -> tuple:
    """Task, validated config, output directory and Trainer of a ``train`` command."""
    from eventsnn.tasks import make_task
    from eventsnn.training import Trainer

    task = make_task(args.task, hidden=args.hidden, epochs=args.epochs, seed=args.seed, data_path=args.data,
                     n_train=args.n_train, n_test=args.n_test, tau_mem=args.tau_mem, tau_syn=args.tau_syn,
                     loss=args.loss, preset=args.preset)
    config = task.config
    if args.batch_size is not None:
        config.batch_size = args.batch_size
    if args.lr is not None:
        config.lr = args.lr
    config.n_threads = args.threads
    config.method = args.method
    config.method_options = method_options
    if args.spike_penalty is not None:
        config.spike_penalty = args.spike_penalty
    if args.grad_clip is not None:
        config.grad_clip = args.grad_clip
    for name, value in overrides.items():
        setattr(config, name, value)
    config.progress = not args.no_progress
    config.__post_init__()
    out = args.out or os.path.join("runs", args.task)
    os.makedirs(out, exist_ok=True)
    sizes = [task.net.populations[n].size for n in task.net.populations]
    if task.readout is not None:
        sizes.append(f"{task.readout.n_classes}(read-out)")
    print(f"eventsnn: task {args.task}, network {'-'.join(map(str, sizes))}, {len(task.train_inputs)} train / "
          f"{len(task.test_inputs)} test samples, {config.epochs} epochs, seed {args.seed}, method {config.method}, "
          f"output {out}", flush=True)
    trainer = Trainer(task.net, task.train_inputs, task.train_labels, task.test_inputs, task.test_labels,
                      config=config, out_dir=out, resume=args.resume, readout=task.readout)
    _write_run_info(os.path.join(out, "run.json"), args, sizes, task.net.populations[task.net.layer_names[0]].neuron,
                    config, resumed_at_epoch=trainer.epoch)
    return task, config, out, trainer


def _write_run_info(path: str, args: argparse.Namespace, sizes: list, neuron, config, resumed_at_epoch: int) -> None:
    """``run.json``: what produced this run directory (command line, network, neuron, every training setting), so
    that ``eventsnn summary`` and the studies can tell runs apart. A resumed run keeps the first entry's start and
    lists each resumption."""
    import datetime

    import eventsnn
    from eventsnn._atomic import write_json
    from eventsnn.training import run_settings
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    info = {"task": args.task, "preset": args.preset, "network": [str(s) for s in sizes], "seed": args.seed,
            "n_train": args.n_train, "n_test": args.n_test, "tau_mem": neuron.tau_mem, "tau_syn": neuron.tau_syn,
            "reset_current": bool(neuron.reset_current),
            "config": run_settings(config),
            "eventsnn_version": eventsnn.__version__, "argv": sys.argv[1:], "started_at": now, "resumed": []}
    if resumed_at_epoch > 0 and os.path.exists(path):
        with open(path) as handle:
            first = json.load(handle)
        info["started_at"] = first.get("started_at", now)
        info["resumed"] = first.get("resumed", []) + [{"at_epoch": resumed_at_epoch, "time": now,
                                                        "argv": sys.argv[1:]}]
    write_json(path, info)


def _name_value_pairs(items: Sequence[str], flag: str, names: set) -> list[tuple[str, str]]:
    """(name, value text) of each ``NAME=VALUE`` given to ``flag``; dashes in NAME read as underscores."""
    pairs = []
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in names:
            raise SystemExit(f"eventsnn: {flag} expects NAME=VALUE with NAME one of {sorted(names)}, got {item!r}")
        pairs.append((name, text.strip()))
    return pairs


def _parse_method_options(items: Sequence[str]) -> dict:
    """``--option NAME=VALUE`` pairs: true/false/none, numbers and words (validated with the method later)."""
    from eventsnn.gradient_methods import OPTION_NAMES
    out = {}
    for name, text in _name_value_pairs(items, "--option", set(OPTION_NAMES)):
        if text.lower() in ("true", "false"):
            out[name] = text.lower() == "true"
        elif text.lower() == "none":
            out[name] = None
        else:
            try:
                out[name] = float(text)
            except ValueError:
                out[name] = text
    return out


def _parse_overrides(items: Sequence[str]) -> dict:
    """``["softmax_tau=0.5", ...]`` -> {name: value}, typed like the TrainConfig field; unknown names raise."""
    import dataclasses
    from eventsnn.training import TrainConfig
    defaults = TrainConfig()
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"method_options", "input_shape"}
    out = {}
    for name, text in _name_value_pairs(items, "--set", fields):
        current = getattr(defaults, name)
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                out[name] = text.lower() in ("true", "1")
            elif current is None or isinstance(current, int):
                out[name] = None if text.lower() == "none" else int(text)
            elif isinstance(current, float):
                out[name] = float(text)
            else:
                out[name] = text
        except ValueError:
            raise SystemExit(f"eventsnn: --set {name}: cannot read {text!r} as {type(current).__name__}") from None
    return out


def _save_model(path: str, net, readout=None) -> None:
    from eventsnn._atomic import write_npz
    arrays = {f"weight_{k}": w for k, w in enumerate(net.weights)}
    arrays["layer_names"] = np.array(net.layer_names)
    arrays.update({f"delay_{k}": np.asarray(c.delays, dtype=np.float64) for k, c in enumerate(net.connections)})
    if readout is not None:
        arrays["readout_weight"] = readout.weights
    write_npz(path, **arrays)


def _write_csv(path: str, history: list[dict]) -> None:
    # the union over rows, in first-seen order: a resumed run's older rows may lack metrics added since
    keys = list(dict.fromkeys(k for row in history for k in row if not isinstance(row[k], list)))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys + ["test_spikes_per_sample", "test_silent_fraction"],
                            extrasaction="ignore")
    writer.writeheader()
    for row in history:
        flat = dict(row)
        for key in ("test_spikes_per_sample", "test_silent_fraction"):
            if key in flat:
                flat[key] = ";".join(f"{v:.4g}" for v in flat[key])
        writer.writerow(flat)
    from eventsnn._atomic import atomic_write
    with atomic_write(path, "w") as handle:
        handle.write(buffer.getvalue())


def _save_raster(path: str, net, sample, t_max: float, readout=None, label: int | None = None) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eventsnn import plot
    from eventsnn.simulate import simulate
    rec = simulate(net, sample, t_max)
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    plot.raster(rec, ax=axes[0])
    if readout is None:
        counts = rec.layers[-1].counts()
        neurons = list(range(min(3, len(counts))))
        plot.membrane_traces(rec, rec.layer_names[-1], neurons, ax=axes[1])
    else:
        plot.readout_potentials(readout, rec.layers[-1], t_max, ax=axes[1], label=label)
    axes[0].set_title("first test sample after training")
    fig.tight_layout()
    plot.save_figure(fig, path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
