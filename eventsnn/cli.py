"""Command line: ``eventsnn train {yinyang,mnist,fashion-mnist,nmnist}``, ``eventsnn summary DIR...`` and
``eventsnn --version``.

``train`` prints one log line per epoch in fixed columns (:func:`eventsnn.training.format_metrics`), then writes to
``--out``: ``run.json`` (command line and every setting, at the start), ``model.npz`` (weights),
``metrics.json`` and ``metrics.csv`` (one row per epoch; one CSV column per number, per-layer metrics one column
per layer), ``checkpoint.npz`` (resumable with ``--resume``) and ``raster.png`` (spike raster and membrane traces
of the first test sample, titled with its label and the prediction); its last line lists these files. All files
are written atomically. The directory belongs to one run (:mod:`eventsnn.rundir`): a second writer is refused,
and a directory holding a run is only trained into with ``--resume`` or ``--overwrite``. ``train --config
run.json`` re-launches a recorded run with the same settings (options on the command line override them). On a
first run a one-line notice says that the kernels are being compiled. Expected errors print one line
``eventsnn: error: ...`` (docs/safety.md).

``summary`` reads the ``metrics.json`` of run directories (finished or still running), prints their last-epoch
metrics grouped by settings (``run.json`` without the seed and bookkeeping: :func:`eventsnn.runs.group_runs`) and,
for each group of several runs (seeds), the mean +- std of the test accuracy; runs with different settings are
never averaged together. ``--plot FILE`` draws their test accuracy per epoch.

``sweep SPEC.toml --out DIR`` runs a grid of ``train`` runs on Dask and reports them (:mod:`eventsnn.sweep`).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import time
from typing import Sequence



class _Parser(argparse.ArgumentParser):
    """argparse with eventsnn's one-line errors (``eventsnn: error: argument --epochs: ...``, exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"eventsnn: error: {message}\n")


def _integer(minimum: int, maximum: int = 2**63 - 1):
    """An argparse type: an int in [minimum, maximum]; the message names the value and the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}"
                                             + (f" and <= {maximum}" if maximum < 2**63 - 1 else "")
                                             + f", got {value}")
        return value
    return parse


def _real(minimum: float, *, strict: bool):
    """An argparse type: a finite float > minimum (``strict``) or >= minimum."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>' if strict else '>='} {minimum:g}, "
                                             f"got {text!r}")
        return value
    return parse


_COUNT = _integer(1)
_POSITIVE = _real(0.0, strict=True)
_NONNEGATIVE = _real(0.0, strict=False)


def _parser() -> argparse.ArgumentParser:
    import eventsnn
    # the choices are the registries' keys: a task, preset, loss or method added there is offered here
    from eventsnn.gradient_methods import METHODS
    from eventsnn.losses import CLASSIFICATION_LOSSES
    from eventsnn.tasks import PRESETS, RECIPE_PART_SOURCES, TASKS
    presets = list(dict.fromkeys(name for recipes in PRESETS.values() for name in recipes))
    parser = _Parser(prog="eventsnn", description="Exact event-driven SNN simulation and training")
    parser.add_argument("--version", action="version", version=f"eventsnn {eventsnn.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a classifier with exact spike-time gradients",
                           description="Train a classifier with exact spike-time gradients. Options left out take "
                                       "the task's defaults (or, with --config, the recorded run's settings).")
    train.add_argument("task", nargs="?", choices=list(TASKS),
                       help="the data set: yinyang (generated, 5 inputs, 3 classes), mnist / fashion-mnist (28x28 "
                            "images as spike latencies, 10 classes) or nmnist (N-MNIST event streams, 10 classes); "
                            "may be left out with --config")
    train.add_argument("--config", default=None, metavar="RUN_JSON",
                       help="re-launch the run recorded in this run.json: the same task, network, seed and every "
                            "training setting; options given on the command line override the recorded ones "
                            "(default: none, the task's defaults)")
    train.add_argument("--epochs", type=_COUNT, default=None,
                       help="number of epochs (default: yinyang 60, mnist / fashion-mnist / nmnist 30)")
    train.add_argument("--hidden", type=_COUNT, default=None,
                       help="hidden neurons (default: yinyang 200, mnist / fashion-mnist 350, nmnist 200)")
    train.add_argument("--batch-size", type=_COUNT, default=None,
                       help="training samples per gradient step (default 32, or the --preset's)")
    train.add_argument("--lr", type=_POSITIVE, default=None,
                       help="learning rate of the optimiser (default: yinyang 0.003, mnist / fashion-mnist / "
                            "nmnist 0.002, or the --preset's)")
    train.add_argument("--seed", type=_integer(0), default=None,
                       help="seed of the initial weights, the shuffling and the generated data (default 0)")
    train.add_argument("--n-train", type=_COUNT, default=None,
                       help="use only the first N training samples (default: all)")
    train.add_argument("--n-test", type=_COUNT, default=None, help="use only the first N test samples (default: all)")
    train.add_argument("--data", default=None,
                       help="directory with the MNIST / Fashion-MNIST IDX files or the N-MNIST event files "
                            "(default: $EVENTSNN_DATA, then the usual places; not used by yinyang)")
    train.add_argument("--threads", type=_integer(1, 4096), default=None,
                       help="threads over samples (default: all cores)")
    train.add_argument("--out", default=None, help="output directory (default: runs/<task>)")
    existing = train.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help="continue the run in --out from its checkpoint (a new run if it holds none; default: "
                               "off)")
    existing.add_argument("--overwrite", action="store_true",
                          help="delete the run in --out and start a new one (default: off; without --resume or "
                               "--overwrite, a directory that holds a run is refused)")
    train.add_argument("--no-progress", action="store_true",
                       help="no progress bars; one log line per epoch as soon as it is done (default: bars shown)")
    train.add_argument("--method", default=None, choices=list(METHODS),
                       help="gradient method (default: timing, the exact spike-timing adjoint)")
    train.add_argument("--spike-penalty", type=_NONNEGATIVE, default=None,
                       help="spike-count regulariser per spike and sample, seen by the creation/removal methods "
                            "(default 0)")
    train.add_argument("--grad-clip", type=_NONNEGATIVE, default=None,
                       help="max global gradient norm per step, 0 = off (default 0.3, or the --preset's)")
    train.add_argument("--tau-mem", type=_POSITIVE, default=None,
                       help="membrane time constant in ms (default: yinyang 10, mnist / fashion-mnist / nmnist 20)")
    train.add_argument("--tau-syn", type=_POSITIVE, default=None,
                       help="synaptic time constant in ms (default 5, or the --preset's)")
    train.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                       help="an option of the gradient method, e.g. --method antlr --option form=grid --option "
                            "lambda_activation=0.5 (repeatable; default: the method's own, see "
                            "eventsnn.gradient_methods.MethodOptions)")
    train.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="override any TrainConfig field, e.g. --set softmax_tau=0.5 --set lr_decay=0.95 "
                            "(repeatable; default: the task's, see eventsnn.training.TrainConfig)")
    train.add_argument("--preset", default=None, choices=presets,
                       help="a published recipe instead of the task defaults (eventprop: EventProp's published "
                            "yinyang / mnist runs, 100 epochs; eventprop-draft-2021-04: the earlier 300-epoch "
                            "draft; antlr: ANTLR's 784-800-10 latency set-up, 20 epochs; see eventsnn.tasks.make_task; "
                            "default: none)")
    train.add_argument("--init", default=None, choices=list(RECIPE_PART_SOURCES),
                       help="initial weights from the --preset (its own distributions) or from eventsnn (the task's "
                            "init_weights), e.g. --preset eventprop --init eventsnn for an ablation (default: the "
                            "preset's if it has its own, else eventsnn's)")
    train.add_argument("--input-code", default=None, choices=list(RECIPE_PART_SOURCES),
                       help="input spike code from the --preset or from eventsnn (the task's code), independently of "
                            "--init (default: the preset's if it has its own, else eventsnn's)")
    train.add_argument("--no-validation", action="store_true",
                       help="train on the whole official training set, without a validation split (default: hold "
                            "one out, evaluate it every epoch and the test set only after the last)")
    train.add_argument("--n-validation", type=_COUNT, default=None,
                       help="use only the first N validation samples (quick runs; default: the whole split)")
    train.add_argument("--loss", default=None, choices=list(CLASSIFICATION_LOSSES),
                       help="classification loss (default: yinyang first_spike, mnist / fashion-mnist / nmnist vmax; "
                            "latency = ANTLR's latency loss; count = ANTLR's spike-count loss, decided by the most "
                            "output spikes; vmax = leaky-integrator read-out instead of spiking outputs, "
                            "cross-entropy on potential maxima as EventProp)")
    summary = sub.add_parser("summary", help="last-epoch metrics of run directories and their mean over seeds",
                             description="Last-epoch metrics of run directories; runs that differ only in their "
                                         "seed are grouped and averaged (mean +- std), other runs never are.")
    summary.add_argument("runs", nargs="+", help="run directories (each with a metrics.json)")
    summary.add_argument("--plot", default=None, metavar="FILE",
                         help="save test accuracy per epoch of the runs here (default: no figure)")
    _add_sweep_parser(sub)
    return parser


def _add_sweep_parser(sub) -> None:
    """``eventsnn sweep``: arguments only; the work is eventsnn.sweep's."""
    sweep = sub.add_parser("sweep", help="run a grid of training runs from a TOML spec on Dask (resumable), then "
                                         "report mean +- std over seeds and the accuracy-vs-spikes Pareto fronts")
    sweep.add_argument("spec", help="sweep specification (TOML; see eventsnn.sweep and docs/sweeps.md)")
    sweep.add_argument("--out", default=None, help="output directory (default runs/<spec name>)")
    sweep.add_argument("--workers", type=_COUNT, default=None,
                       help="worker processes of the local Dask cluster, one thread each (default: all cores)")
    sweep.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="submit to a running Dask scheduler (e.g. tcp://host:8786) instead of a local cluster "
                            "(default: a local cluster)")
    sweep.add_argument("--report", action="store_true",
                       help="only print and write the report of the runs so far (default: run what is missing, then "
                            "report)")
    sweep.add_argument("--export-records", default=None, metavar="DEST",
                       help="only write compact records of the finished runs, to commit: DEST/<point>/seed-N/"
                            "{run.json,metrics.json} (no checkpoints or models) and DEST/summary.csv with the "
                            "validation and test metrics; nothing is run (default: none)")
    sweep.add_argument("--retry-failed", action="store_true",
                       help="also run again the runs recorded as failed (default: leave them recorded as failed)")
    sweep.add_argument("--retries", type=_integer(0), default=3,
                       help="times a run is restarted after its worker died (default 3)")


def _summary(args: argparse.Namespace) -> int:
    from eventsnn.runs import format_summary, read_run
    runs = [read_run(path) for path in args.runs]
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


def _expected_errors() -> tuple[type[BaseException], ...]:
    """What a command reports as one line: bad settings, malformed or missing files, a locked or occupied run
    directory, full disks and permissions (OSError), runaway activity and diverged training. Anything else is a
    bug and keeps its traceback."""
    from eventsnn._validation import SpikeLimitError
    from eventsnn.rundir import RunDirectoryError
    from eventsnn.training import TrainingDivergedError
    return (ValueError, TypeError, OSError, MemoryError, SpikeLimitError, RunDirectoryError, TrainingDivergedError)


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename and str(error.filename) not in error.strerror:
        text = f"{error.strerror}: {error.filename}"
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    elif isinstance(error, MemoryError):  # e.g. --hidden far beyond the machine's memory
        text = f"out of memory ({error or 'an allocation failed'}); use a smaller network or fewer samples"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command line (``argv`` without the program name; default ``sys.argv[1:]``); returns the exit code.

    Expected errors (bad settings, malformed files, an occupied run directory, a full disk, memory exhausted,
    runaway activity, diverged training) print one line ``eventsnn: error: ...`` to stderr and exit with code 1,
    before any work when they concern the input; usage errors exit with code 2 (argparse); Ctrl-C exits with
    code 130 after one line.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "sweep":  # the sweep's own work and messages are eventsnn.sweep's
            from eventsnn.sweep import command
            return command(args)
        return _summary(args) if args.command == "summary" else train(args)
    except _expected_errors() as error:
        print(f"eventsnn: error: {_one_line(error)}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # the run directory's lock is already released; the last checkpoint is kept
        print("eventsnn: interrupted (resume with --resume)", file=sys.stderr, flush=True)
        return 130


def train_run(task: str, out: str | os.PathLike, *options: str, mode: str = "resume") -> int:
    """Train ``task`` into the run directory ``out``, in this process: the ``train`` command with ``options``.

    Parameters
    ----------
    task : str
        ``"yinyang"``, ``"mnist"``, ``"fashion-mnist"`` or ``"nmnist"``.
    out : str or PathLike
        The run directory (:mod:`eventsnn.rundir` rules: one writer, a run id, ``finished_at`` in ``run.json``
        once done; :func:`eventsnn.rundir.run_state` tells finished from unfinished runs).
    *options : str
        Further command-line options, e.g. ``"--epochs", "2", "--seed", "3"``.
    mode : {"resume", "new", "overwrite"}
        ``"resume"`` (default) continues the run in ``out`` from its checkpoint, or starts one if there is none (a
        finished run resumed with the same ``--epochs`` trains nothing and rewrites its final files);
        ``"new"`` refuses a directory holding a run; ``"overwrite"`` replaces it.

    Returns
    -------
    int
        The exit code: 0 on success; 1 after an expected error (printed as one line on stderr); 2 for a bad
        option.

    Examples
    --------
    >>> train_run("yinyang", "runs/x", mode="sometimes")
    Traceback (most recent call last):
    ...
    ValueError: mode must be one of 'new', 'resume', 'overwrite'; got 'sometimes'
    """
    from eventsnn.rundir import MODES
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}")
    flag = {"resume": ["--resume"], "overwrite": ["--overwrite"], "new": []}[mode]
    try:
        return main(["train", task, *options, "--out", os.fspath(out), *flag])
    except SystemExit as exit_:  # argparse's usage errors
        return exit_.code if isinstance(exit_.code, int) else 1


def train(args: argparse.Namespace) -> int:
    """The ``train`` command on parsed arguments: train into ``args.out`` under its lock, resuming with
    ``args.resume`` and replacing the run there with ``args.overwrite`` (see :mod:`eventsnn.rundir`)."""
    from eventsnn import rundir
    from eventsnn._atomic import write_json
    from eventsnn.training import format_metrics

    started = time.perf_counter()
    overrides = _parse_overrides(args.set)  # bad names fail here, before any data is loaded
    method_options = _parse_method_options(args.option)
    _check_contradictions(args, overrides)
    if args.config is not None:
        _apply_recorded_run(args, overrides, method_options)
    if args.task is None:
        raise ValueError("the task argument is required (yinyang, mnist, fashion-mnist or nmnist) unless --config "
                         "names a recorded run.json")
    args.seed = 0 if args.seed is None else args.seed
    args.method = "timing" if args.method is None else args.method
    if "loss" in overrides:  # the loss decides the architecture (a read-out for "vmax"), so it goes to make_task
        args.loss = overrides.pop("loss")
    _check_settings(args, overrides, method_options)
    from eventsnn.tasks import task_recipe
    task_recipe(args.task, args.preset, init=args.init, input_code=args.input_code)  # before the directory is made
    out = args.out or os.path.join("runs", args.task)
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
    with rundir.prepare(out, mode):
        task, config, trainer = _set_up(args, overrides, method_options, out)
        if trainer.epoch < config.epochs and _kernels_need_compiling():
            print("eventsnn: compiling the simulation kernels (first run after installing or updating eventsnn; "
                  "about 30 s, then cached)", flush=True)
        layers = task.net.layer_names
        # without progress bars (logs, CI) each epoch's line is printed as soon as it is done
        history = trainer.fit(on_epoch=None if config.progress else lambda row: print(format_metrics(row, layers),
                                                                                        flush=True))
        final = trainer.evaluate(task.test_inputs, task.test_labels)
        written = [os.path.join(out, name) for name in ("model.npz", "metrics.json", "metrics.csv", "raster.png",
                                                        "checkpoint.npz", "run.json")]
        _save_model(written[0], task.net, task.readout, run_id=trainer.run_id)
        write_json(written[1], history)
        _write_csv(written[2], history, layers)
        _save_raster(written[3], task.net, task.test_inputs[0], config.t_max, task.readout,
                     int(task.test_labels[0]), config.loss)
        _mark_finished(written[5])
    fwd = sum(r["forward_s"] for r in history)
    bwd = sum(r["backward_s"] for r in history)
    print(f"test accuracy {100 * final.accuracy:.2f}% | spikes per test sample: "
          + ", ".join(f"{name} {s:.1f}" for name, s in zip(layers, final.spikes_per_sample))
          + " | neurons that never fired on the test set: "
          + ", ".join(f"{name} {100 * s:.0f}%" for name, s in zip(layers, final.silent_fraction)))
    print(f"wall time {time.perf_counter() - started:.1f} s (forward {fwd:.1f} s, backward {bwd:.1f} s, "
          f"backward/forward {bwd / max(fwd, 1e-12):.2f})")
    print("files: " + ", ".join(written), flush=True)
    return 0


# command-line options that set a TrainConfig field, which --set could set too
_OPTION_FIELDS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "spike_penalty": "spike_penalty",
                  "grad_clip": "grad_clip", "method": "method", "loss": "loss", "seed": "seed"}


def _check_contradictions(args: argparse.Namespace, overrides: dict) -> None:
    """A setting given both by its own option and by ``--set`` with another value is refused, not resolved
    silently in favour of one of them."""
    for attribute, name in _OPTION_FIELDS.items():
        value = getattr(args, attribute)
        if value is not None and name in overrides and overrides[name] != value:
            option = "--" + attribute.replace("_", "-")
            raise ValueError(f"{option} {value} contradicts --set {name}={overrides[name]}; give only one of them")


def _apply_recorded_run(args: argparse.Namespace, overrides: dict, method_options: dict) -> None:
    """Fill the settings the command line leaves open from the run recorded in ``args.config`` (a ``run.json``):
    task, preset, network width, seed, sample counts, neuron time constants and every training setting. Options
    given on the command line win; a task or preset other than the recorded one is refused (the recorded
    settings were made for it), as is a run.json that does not describe a run (checked before any data is
    loaded)."""
    from eventsnn._file_validation import read_json
    from eventsnn.runs import _checked_run_info
    file = args.config
    info = read_json(file)
    shape = _checked_run_info(info, file)
    for option, name in (("task", "task"), ("--preset", "preset")):
        given, recorded = getattr(args, name), info.get(name)
        if given is not None and given != recorded:
            raise ValueError(f"{option} {given!r} contradicts --config {file}, a run of {name} {recorded!r}: leave "
                             f"{option} out to re-launch that run")
    args.task, args.preset = info["task"], info.get("preset")
    for name in ("init", "input_code"):  # the recorded sources of the weights and code, unless given again
        if getattr(args, name) is None:
            setattr(args, name, info.get(name))
    sizes, n_classes = shape["sizes"], shape["n_classes"]
    if args.hidden is None and (len(sizes) > 2 or n_classes is not None):
        args.hidden = sizes[1]
    explicit = {name: getattr(args, attribute) for attribute, name in _OPTION_FIELDS.items()}
    for name in ("seed", "n_train", "n_test", "tau_mem", "tau_syn"):
        if getattr(args, name) is None:
            setattr(args, name, info[name])
    # the validation split as recorded: a run without one (--no-validation, or a run.json from before validation
    # splits existed, which has no "selection") is re-launched without one
    if not args.no_validation and (info.get("selection") or {}).get("split", "none") == "none":
        args.no_validation = True
    if args.n_validation is None:
        args.n_validation = info.get("n_validation")
    for name, value in info["config"].items():
        if name in overrides or explicit.get(name) is not None or name == "validation_split":
            continue  # validation_split is recorded from the split the task builds, not set
        if name == "method_options":  # the recorded method's options, unless another method is asked for
            if explicit["method"] in (None, info["config"].get("method")) and isinstance(value, dict):
                method_options.update({key: item for key, item in value.items() if key not in method_options})
        elif name in ("epochs", "method", "loss"):  # passed to make_task / set by their own options
            setattr(args, name, value)
        else:
            overrides[name] = tuple(value) if name == "input_shape" and value is not None else value


def _kernels_need_compiling() -> bool:
    """Whether numba's cache lacks the simulation kernel every task runs first, so that it (and the kernels with
    it) will be compiled before the first batch, which takes tens of seconds. Only looks for the cache's index
    file: no compilation, no import of numba's compiler."""
    from eventsnn._kernels import forward
    try:
        index = forward.layer_forward._cache._cache_file._index_path
    except AttributeError:  # another numba version's internals: no notice rather than a wrong one
        return False
    return not os.path.exists(index)


def _check_settings(args: argparse.Namespace, overrides: dict, method_options: dict) -> None:
    """Validate the training settings that do not depend on the task, before any data is loaded: the ``--set``
    overrides and ``--option``s on top of the defaults (cross-checks with the task's own settings follow in
    ``_set_up``, still before training)."""
    from eventsnn.training import TrainConfig
    # a stand-in shape (a recorded one in overrides wins): whether input_shift fits the task is checked later
    TrainConfig(**{"input_shape": (1, 1), "method": args.method, "method_options": method_options, **overrides})


def _set_up(args: argparse.Namespace, overrides: dict, method_options: dict, out: str) -> tuple:
    """Task, validated config and Trainer of a ``train`` command into the prepared (locked) directory ``out``."""
    import dataclasses

    from eventsnn import rundir
    from eventsnn.tasks import make_task
    from eventsnn.training import Trainer

    task = make_task(args.task, hidden=args.hidden, epochs=args.epochs, seed=args.seed, data_path=args.data,
                     n_train=args.n_train, n_test=args.n_test, tau_mem=args.tau_mem, tau_syn=args.tau_syn,
                     loss=args.loss, preset=args.preset, validation=not args.no_validation,
                     n_validation=args.n_validation, init=args.init, input_code=args.input_code)
    config = task.config
    # the command line's settings on top of the task's (--set last but for --no-progress), validated together
    given = {name: getattr(args, name) for name in ("batch_size", "lr", "spike_penalty", "grad_clip")
             if getattr(args, name) is not None}
    config = dataclasses.replace(config, **{**given, "n_threads": args.threads, "method": args.method,
                                            "method_options": method_options, **overrides,
                                            "progress": not args.no_progress})
    task.config = config
    sizes = [int(task.net.populations[n].size) for n in task.net.populations]
    readout_classes = None if task.readout is None else int(task.readout.n_classes)
    shown = sizes + ([] if readout_classes is None else [f"{readout_classes}(read-out)"])
    print(f"eventsnn: task {args.task}, network {'-'.join(map(str, shown))}, {len(task.train_inputs)} train / "
          f"{len(task.test_inputs)} test samples, {config.epochs} epochs, seed {args.seed}, method {config.method}, "
          f"output {out}", flush=True)
    info_path = os.path.join(out, "run.json")
    previous = _previous_run_info(info_path) if args.resume else {}
    trainer = Trainer(task.net, task.train_inputs, task.train_labels, task.test_inputs, task.test_labels,
                      config=config, out_dir=out, resume=args.resume, readout=task.readout,
                      run_id=previous.get("run_id") if os.path.exists(os.path.join(out, "checkpoint.npz")) else None,
                      validation_inputs=task.validation_inputs, validation_labels=task.validation_labels)
    if trainer.run_id is None:  # a new run, or one of an older version without ids
        trainer.run_id = rundir.new_run_id()
    _write_run_info(info_path, args, sizes, readout_classes, task.net.populations[task.net.layer_names[0]].neuron,
                    config, resumed_at_epoch=trainer.epoch, previous=previous, run_id=trainer.run_id,
                    selection=task.selection)
    return task, config, trainer


def _previous_run_info(path: str) -> dict:
    """The ``run.json`` of the run being resumed ({} if there is none yet); a malformed one is named."""
    from eventsnn._file_validation import FileFormatError, read_json
    if not os.path.exists(path):
        return {}
    info = read_json(path)
    if not isinstance(info, dict):
        raise FileFormatError(f"{path} must hold a JSON object")
    for name, kind in (("run_id", str), ("started_at", str), ("resumed", list)):
        if name in info and not isinstance(info[name], kind):
            raise FileFormatError(f"{path}: field {name!r} must be a {kind.__name__}, got {info[name]!r}")
    return info


def _write_run_info(path: str, args: argparse.Namespace, sizes: list[int], readout_classes: int | None, neuron,
                    config, resumed_at_epoch: int, previous: dict, run_id: str, selection: dict | None = None) -> None:
    """``run.json``: what produced this run directory (command line, network, neuron, every training setting), so
    that ``eventsnn summary`` and the studies can tell runs apart and ``train --config`` can re-launch it. Numbers
    are JSON numbers: ``network`` lists the sizes of the spiking populations (inputs first), ``readout_classes``
    the classes of a leaky-integrator read-out (null without one). A resumed run keeps the first entry's start and
    lists each resumption; ``finished_at`` is added once the run's final files are written."""
    import datetime

    import eventsnn
    from eventsnn._atomic import write_json
    from eventsnn._provenance import source_revision
    from eventsnn.training import run_settings
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    info = {"task": args.task, "preset": args.preset, "network": list(sizes),
            "readout_classes": readout_classes, "seed": args.seed,
            "n_train": args.n_train, "n_test": args.n_test, "tau_mem": neuron.tau_mem, "tau_syn": neuron.tau_syn,
            "reset_current": bool(neuron.reset_current),
            "config": run_settings(config),
            "eventsnn_version": eventsnn.__version__, "source": source_revision(), "argv": sys.argv[1:],
            "started_at": now, "resumed": [],
            "run_id": run_id, "n_validation": args.n_validation, "selection": selection}
    # where the initial weights and the input code came from, when asked (absent: the preset's own where it has
    # them, else eventsnn's), so that runs without the options group with the runs made before they existed
    info.update({name: getattr(args, name) for name in ("init", "input_code") if getattr(args, name) is not None})
    if resumed_at_epoch > 0 and previous:
        # the first stretch keeps its source; each resumption records its own (a run may span commits)
        info["started_at"] = previous.get("started_at", now)
        info["source"] = previous.get("source")
        info["resumed"] = previous.get("resumed", []) + [{"at_epoch": resumed_at_epoch, "time": now,
                                                           "argv": sys.argv[1:], "source": source_revision()}]
    write_json(path, info)


def _mark_finished(path: str) -> None:
    import datetime

    from eventsnn._atomic import write_json
    from eventsnn._file_validation import read_json
    info = read_json(path)
    info["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    write_json(path, info)


def _name_value_pairs(items: Sequence[str], flag: str, names: set) -> list[tuple[str, str]]:
    """(name, value text) of each ``NAME=VALUE`` given to ``flag``; dashes in NAME read as underscores."""
    pairs = []
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in names:
            raise SystemExit(f"eventsnn: error: {flag} expects NAME=VALUE with NAME one of {sorted(names)}, "
                             f"got {item!r}")
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
            raise SystemExit(f"eventsnn: error: --set {name}: cannot read {text!r} as "
                             f"{type(current).__name__}") from None
    return out


def _save_model(path: str, net, readout=None, run_id: str | None = None) -> None:
    # the self-describing format of eventsnn.saved (Network.save / eventsnn.load read it); its entry names are the
    # ones load_trained reads, and the run id in the header ties the file to its run.json
    from eventsnn.saved import save
    save(path, net, readout, metadata=None if run_id is None else {"run_id": run_id})


def _write_csv(path: str, history: list[dict], layer_names: Sequence[str] | None = None) -> None:
    """``metrics.csv``: one row per epoch, one column per number. A per-layer metric (a list in the row, e.g.
    ``test_spikes_per_sample``) becomes one column per layer, ``test_spikes_per_sample_layer1``, ... (suffixed with
    ``layer_names``, default ``layer1``, ``layer2``, ...)."""
    def suffixes(n: int) -> list[str]:
        if layer_names is not None and len(layer_names) == n:
            return list(layer_names)
        return [f"layer{k + 1}" for k in range(n)]

    flat_rows = []
    for row in history:
        flat = {}
        for key, value in row.items():
            if isinstance(value, list):
                flat.update({f"{key}_{suffix}": item for suffix, item in zip(suffixes(len(value)), value)})
            else:
                flat[key] = value
        flat_rows.append(flat)
    # the union over rows, in first-seen order: a resumed run's older rows may lack metrics added since
    keys = list(dict.fromkeys(key for row in flat_rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat_rows)
    from eventsnn._atomic import atomic_write
    with atomic_write(path, "w") as handle:
        handle.write(buffer.getvalue())


def _save_raster(path: str, net, sample, t_max: float, readout=None, label: int | None = None,
                 loss: str = "first_spike") -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eventsnn import plot
    from eventsnn.simulate import simulate
    from eventsnn.training import _prediction
    rec = simulate(net, sample, t_max)
    v_max = None if readout is None else readout.maxima(rec.layers[-1], t_max).values
    predicted = _prediction(rec, loss, v_max)
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    plot.raster(rec, ax=axes[0])
    if readout is None:
        counts = rec.layers[-1].counts()
        neurons = list(range(min(3, len(counts))))
        plot.membrane_traces(rec, rec.layer_names[-1], neurons, ax=axes[1])
    else:
        plot.readout_potentials(readout, rec.layers[-1], t_max, ax=axes[1], label=label)
    axes[0].set_title(_raster_title(label, predicted))
    fig.tight_layout()
    plot.save_figure(fig, path)
    plt.close(fig)
    return path


def _raster_title(label: int | None, predicted: int) -> str:
    """Title of the training raster: the sample's label and the trained network's prediction (-1: no output
    spike, so no prediction)."""
    guess = "no output spike, no prediction" if predicted < 0 else f"predicted {predicted}"
    if label is None:
        return f"first test sample after training: {guess}"
    verdict = "correct" if predicted == label else "wrong"
    return f"first test sample after training: label {label}, {guess} ({verdict})"


if __name__ == "__main__":
    sys.exit(main())
