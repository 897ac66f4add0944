"""Sweeps: many ``eventsnn train`` runs from one TOML specification, run as Dask tasks, resumable, summarised.

A sweep specification (read with :mod:`tomllib`) names the task, the settings every run shares, one or more grids
(Cartesian products) of settings, optional extra points, the seeds, and what to report::

    [sweep]
    task = "yinyang"
    seeds = [0, 1]                      # every point runs once per seed (mean +- std over them)

    [fixed]                             # settings of every run
    epochs = 3
    n_train = 300
    hidden = 30

    [grid]                              # or several [[grid]] tables: the union of their products
    method = ["timing", "antlr"]
    spike_penalty = [0.0, 1e-3]

    [[points]]                          # extra points, each exactly as written (plus [fixed] and the seeds)
    method = "activation"
    option.form = "event"

    [report]
    metrics = ["test_accuracy", "spikes"]
    front = { x = "spikes", y = "test_accuracy", by = ["method"] }

A setting is an option of ``eventsnn train`` (``epochs``, ``hidden``, ``batch_size``, ``lr``, ``n_train``,
``n_test``, ``data``, ``method``, ``spike_penalty``, ``grad_clip``, ``tau_mem``, ``tau_syn``, ``preset``, ``loss``),
any other :class:`~eventsnn.training.TrainConfig` field (given to ``--set``), or a gradient-method option written
``option.NAME`` (given to ``--option``, see :class:`~eventsnn.gradient_methods.MethodOptions`). The whole
specification is validated before anything starts: unknown sections or settings, empty grids, values of the wrong
type or out of range, duplicate points and invalid combinations (e.g. options for ``method = "timing"``) raise
:class:`SpecError` naming the file and the field.

Every run is one ordinary run directory ``OUT/<name>`` -- the files ``eventsnn train --out`` writes, written by
the same code (:func:`eventsnn.cli.main` called in the worker process, not a shell) -- named by the settings that
differ between runs, e.g. ``method-antlr__spike_penalty-0.001__seed-1``. Its ``run.json`` records the equivalent
``eventsnn train`` command line, so any point can be re-run by hand. Each run is one task on a Dask cluster: by
default a :class:`distributed.LocalCluster` of processes with one thread each, or an existing cluster by address.
The sweep's own bookkeeping lives in ``OUT/_sweep/``: one status file per run (running, done or failed, with the
error) and one log per run (the run's printed output).

Fault tolerance. A run whose status file says done with the same command line is never run again. A run whose
directory exists is started with ``--resume``, so an interrupted run (a killed worker, a stopped sweep) continues
from its last atomic checkpoint, bit-identical to an uninterrupted run. A worker process that dies is replaced by
its nanny and the scheduler gives its task to a worker again (Dask's ``allowed-failures``). A run that fails for
its own reason (an exception in training, e.g. a :class:`~eventsnn._validation.SpikeLimitError`, or a checkpoint
written with other settings) is recorded as failed with its error and the other runs go on; running the sweep
again skips it unless ``retry_failed``. A sweep can be stopped and started again at any time: it submits only the
runs that are not done.

The report (:func:`report`) reads the run directories: a table of every point with the mean +- population std
over seeds of the chosen metrics (printed, ``OUT/summary.csv``; one row per run in ``OUT/runs.csv``) and the
figure ``OUT/front.png``: the ``front.y`` metric against the ``front.x`` metric, every run a dot, every point's
mean with its std as error bars, and one Pareto front (lower x and higher y is better) per group of ``front.by``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import functools
import io
import itertools
import json
import math
import os
import re
import socket
import statistics
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from eventsnn._atomic import atomic_write, write_json

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI (the dask extra installs it)
    import tomli as tomllib

# ------------------------------------------------------------------------------------------------------------------
# The specification

SECTIONS = ("sweep", "fixed", "grid", "points", "report")
SWEEP_KEYS = ("task", "seeds", "name")
REPORT_KEYS = ("metrics", "front")
FRONT_KEYS = ("x", "y", "by")
OPTION_PREFIX = "option."
# Settings that are options of `eventsnn train` (a flag each) rather than --set overrides; the kind says what the
# TOML value must be ("float" accepts an int too: 1 is read as 1.0, as the command line would).
# Their order (then TrainConfig's field order, method options right after the method) is the canonical order of a
# run's settings: the same run written in another order gets the same directory name and command line.
TRAIN_FLAGS = {"method": "str", "loss": "str", "preset": "str", "spike_penalty": "float", "hidden": "int",
               "epochs": "int", "batch_size": "int", "lr": "float", "n_train": "int", "n_test": "int",
               "tau_mem": "float", "tau_syn": "float", "grad_clip": "float", "data": "str"}
# TrainConfig fields a sweep may not set: the sweep owns them (one thread per run, no progress bar, the seed from
# [sweep] seeds) or they are set by the task (input_shape) or through option.NAME (method_options)
RESERVED = {"seed": "give the seeds as [sweep] seeds = [...]",
            "n_threads": "every run uses one thread (one Dask worker thread per run)",
            "progress": "runs never show progress bars in a sweep",
            "method_options": "write each method option as option.NAME",
            "input_shape": "the task sets it"}
KIND_NAMES = {"bool": "true or false", "str": "a string", "int": "an int", "float": "a number"}
DEFAULT_METRICS = ("test_accuracy", "spikes")
STATUS_DIR = "_sweep"


class SpecError(ValueError):
    """A sweep specification that cannot be run: names the file and the offending field."""


@dataclass(frozen=True)
class Run:
    """One training run of a sweep.

    Attributes
    ----------
    name : str
        Its directory name inside the sweep's output directory (the settings that differ between runs).
    settings : dict
        Every setting given to it by the specification (``[fixed]`` and its grid point), without the seed.
    seed : int
    argv : tuple of str
        Its ``eventsnn train`` arguments, without ``--out`` (and ``--resume``, added when its directory exists).
    point : str
        The settings that differ between points (not the seed), e.g. ``"method=antlr spike_penalty=0.001"``: runs
        of one point differ only by their seed.
    """

    name: str
    settings: dict
    seed: int
    argv: tuple
    point: str


@dataclass(frozen=True)
class Front:
    """What the accuracy-vs-spikes figure draws: metric ``y`` against metric ``x``, one Pareto front per group of
    the settings ``by``."""

    x: str = "spikes"
    y: str = "test_accuracy"
    by: tuple = ("method",)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep specification (:func:`load_spec`).

    Attributes
    ----------
    source : str
        The file it was read from.
    name : str
        Title of the report (default: the file name without extension).
    task : str
    seeds : tuple of int
    runs : tuple of Run
        Every run, points in the order of the file, seeds innermost.
    varying : tuple of str
        The settings whose value differs between runs (the seed excluded), in their canonical order (the method,
        its options, then the command line's options and TrainConfig's fields).
    metrics : tuple of str
        Names in :data:`METRICS` reported per point.
    front : Front
    """

    source: str
    name: str
    task: str
    seeds: tuple
    runs: tuple
    varying: tuple
    metrics: tuple
    front: Front


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a sweep specification (TOML); see the module docstring for its format.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    SweepSpec

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    SpecError
        If the file is not valid TOML or the specification cannot be run (the message names the field).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.toml")
    >>> with open(path, "w") as f:
    ...     _ = f.write('[sweep]\\ntask = "yinyang"\\nseeds = [0, 1]\\n[fixed]\\nepochs = 1\\n'
    ...                 '[grid]\\nmethod = ["timing", "antlr"]\\n')
    >>> spec = load_spec(path)
    >>> [run.name for run in spec.runs]
    ['method-timing__seed-0', 'method-timing__seed-1', 'method-antlr__seed-0', 'method-antlr__seed-1']
    >>> spec.runs[2].argv
    ('yinyang', '--seed', '0', '--threads', '1', '--no-progress', '--method', 'antlr', '--epochs', '1')
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sweep specification {path!r} not found")
    with open(path, "rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{path}: not valid TOML: {error}") from None
    return spec_from_dict(data, source=path)


def spec_from_dict(data: dict, source: str = "<spec>") -> SweepSpec:
    """Validate a specification already parsed from TOML (a dict); :func:`load_spec` for the format."""

    def fail(message: str) -> SpecError:
        return SpecError(f"{source}: {message}")

    if not isinstance(data, dict):
        raise fail(f"expected a table of sections, got {type(data).__name__}")
    _known(data, SECTIONS, "section", fail)
    task, seeds, name = _sweep_section(_table(data, "sweep", fail), source, fail)
    fixed = _flat_settings(_table(data, "fixed", fail), "[fixed]", fail)
    for key, value in fixed.items():
        _check_value(task, key, value, f"[fixed] {key}", fail)
    points = _grid_points(data.get("grid"), fixed, task, fail) + _extra_points(data.get("points"), fixed, task, fail)
    if not points:
        points = [("[fixed]", {})]  # no grid and no points: one point, the fixed settings
    settings_list = []
    seen = {}
    order = _canonical_order()
    for where, point in points:
        settings = dict(sorted({**fixed, **point}.items(), key=lambda item: order(item[0])))
        argv = _train_argv(task, settings, 0)  # equal command lines are equal runs, however the values are written
        if argv in seen:
            raise fail(f"{where} repeats the point of {seen[argv]}: {_describe(settings)}")
        seen[argv] = where
        _check_combination(task, settings, f"{where} ({_describe(point or settings)})", fail)
        settings_list.append(settings)
    varying = sorted(_varying(settings_list), key=order)
    runs = []
    names = {}
    for settings in settings_list:
        point = " ".join(f"{k}={_text(settings[k])}" for k in varying if k in settings)
        for seed in seeds:
            run_name = "__".join([f"{k}-{_slug(settings[k])}" for k in varying if k in settings]
                                 + ([f"seed-{seed}"] if len(seeds) > 1 else [])) or "run"
            if run_name in names:
                raise fail(f"two runs get the directory name {run_name!r} ({names[run_name]} and "
                           f"{_describe(settings)}); make their values differ in more than punctuation")
            names[run_name] = _describe(settings)
            runs.append(Run(name=run_name, settings=settings, seed=seed, argv=_train_argv(task, settings, seed),
                            point=point or "all"))
    metrics, front = _report_settings(_table(data, "report", fail), varying, fail)
    return SweepSpec(source=source, name=name, task=task, seeds=tuple(seeds), runs=tuple(runs),
                     varying=tuple(varying), metrics=metrics, front=front)


def _sweep_section(sweep: dict, source: str, fail: Callable) -> tuple:
    """(task, seeds, name) of the [sweep] table."""
    from eventsnn.tasks import TASKS
    _known(sweep, SWEEP_KEYS, "key of [sweep]", fail)
    if "task" not in sweep:
        raise fail(f"[sweep] task is missing (one of {', '.join(TASKS)})")
    task = sweep["task"]
    if task not in TASKS:
        raise fail(f"[sweep] task must be one of {', '.join(map(repr, TASKS))}, got {task!r}")
    seeds = sweep.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise fail(f"[sweep] seeds must be a non-empty list of ints >= 0, got {seeds!r}")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise fail(f"[sweep] seeds must hold ints >= 0, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise fail(f"[sweep] seeds has duplicates: {seeds}")
    name = sweep.get("name", os.path.splitext(os.path.basename(source))[0])
    if not isinstance(name, str) or not name.strip():
        raise fail(f"[sweep] name must be a non-empty string, got {name!r}")
    return task, seeds, name


def _known(table: dict, allowed: Sequence[str], what: str, fail: Callable) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise fail(f"unknown {what} {unknown[0]!r}; valid: {', '.join(allowed)}")


def _table(data: dict, section: str, fail: Callable) -> dict:
    value = data.get(section, {})
    if not isinstance(value, dict):
        raise fail(f"[{section}] must be a table, got {type(value).__name__}")
    return value


@functools.lru_cache(maxsize=1)
def _setting_names() -> dict:
    """Every setting a spec may give but the method options -> its kind ("int", "float", "bool" or "str")."""
    from eventsnn.training import TrainConfig
    names = dict(TRAIN_FLAGS)
    for field in dataclasses.fields(TrainConfig):
        if field.name in names or field.name in RESERVED:
            continue
        default = getattr(TrainConfig(), field.name)
        names[field.name] = ("bool" if isinstance(default, bool) else "int" if isinstance(default, int)
                             else "float" if isinstance(default, float) else "str")
    return names


def _canonical_order() -> Callable[[str], tuple]:
    from eventsnn.gradient_methods import OPTION_NAMES
    names = list(_setting_names())

    def rank(key: str) -> tuple:
        if key.startswith(OPTION_PREFIX):
            return (1, OPTION_NAMES.index(key[len(OPTION_PREFIX):]))
        return (0 if key == "method" else 2, names.index(key))
    return rank


def _flat_settings(table: dict, where: str, fail: Callable) -> dict:
    """Settings of a table, with the nested ``option`` table flattened to ``option.NAME`` keys; unknown names
    raise, listing the valid ones."""
    from eventsnn.gradient_methods import OPTION_NAMES
    names = _setting_names()
    out = {}
    for key, value in table.items():
        if key == "option":
            if not isinstance(value, dict):
                raise fail(f"{where} option must be a table of method options (option.NAME = ...), got {value!r}")
            for option, option_value in value.items():
                if option not in OPTION_NAMES:
                    raise fail(f"{where} option.{option}: unknown method option; valid: {', '.join(OPTION_NAMES)}")
                out[OPTION_PREFIX + option] = option_value
        elif key in RESERVED:
            raise fail(f"{where} {key} cannot be set in a sweep: {RESERVED[key]}")
        elif key not in names:
            raise fail(f"{where} {key}: unknown setting; valid: {', '.join(sorted(names))}, or option.NAME with NAME "
                       f"one of {', '.join(OPTION_NAMES)}")
        else:
            out[key] = value
    return out


def _grid_points(grid: Any, fixed: dict, task: str, fail: Callable) -> list:
    """(where, settings) of every point of the grid table(s): the Cartesian product of each, in file order."""
    if grid is None:
        return []
    grids = [grid] if isinstance(grid, dict) else grid
    if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise fail("[grid] must be a table or an array of tables ([[grid]])")
    points = []
    for number, table in enumerate(grids, start=1):
        where = "[grid]" if isinstance(grid, dict) else f"[[grid]] {number}"
        axes = _flat_settings(table, where, fail)
        if not axes:
            raise fail(f"{where} is empty: give each setting to vary as a list of values")
        for key, values in axes.items():
            if not isinstance(values, list):
                raise fail(f"{where} {key} must be a list of values (a single value goes to [fixed]), got {values!r}")
            if not values:
                raise fail(f"{where} {key} is an empty list: nothing to run")
            if key in fixed:
                raise fail(f"{where} {key} is also in [fixed]; give it in one place")
            if len({json.dumps(v) for v in values}) != len(values):
                raise fail(f"{where} {key} has duplicate values: {values}")
            for i, value in enumerate(values):
                _check_value(task, key, value, f"{where} {key}[{i}]", fail)
        for combination in itertools.product(*axes.values()):
            points.append((where, dict(zip(axes, combination))))
    return points


def _extra_points(points: Any, fixed: dict, task: str, fail: Callable) -> list:
    if points is None:
        return []
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise fail("points must be an array of tables ([[points]])")
    out = []
    for number, table in enumerate(points, start=1):
        where = f"[[points]] {number}"
        settings = _flat_settings(table, where, fail)
        if not settings:
            raise fail(f"{where} is empty")
        for key, value in settings.items():
            if key in fixed:
                raise fail(f"{where} {key} is also in [fixed]; give it in one place")
            _check_value(task, key, value, f"{where} {key}", fail)
        out.append((where, settings))
    return out


def _check_value(task: str, key: str, value: Any, where: str, fail: Callable) -> None:
    """Type and range of one setting's value, on its own (combinations: :func:`_check_combination`)."""
    from eventsnn import _validation as check
    from eventsnn.tasks import PRESETS
    from eventsnn.training import LOSSES, TrainConfig
    if key.startswith(OPTION_PREFIX):
        if isinstance(value, (list, dict)):
            raise fail(f"{where}: a method option takes a number, true/false or a word, got {value!r}")
        return  # checked with the method of its run
    kind = _setting_names()[key]
    if isinstance(value, (list, dict)):
        raise fail(f"{where}: expected a single {kind}, got {value!r}")
    accepted = {"bool": (bool,), "str": (str,), "int": (int,), "float": (int, float)}[kind]
    if not isinstance(value, accepted) or (isinstance(value, bool) and kind != "bool"):
        raise fail(f"{where}: expected {KIND_NAMES[kind]}, got {type(value).__name__} {value!r}")
    try:
        if key in ("hidden", "n_train", "n_test"):
            check.integer(key, value, minimum=1)
        elif key in ("tau_mem", "tau_syn"):
            check.positive_finite(key, value)
        elif key == "preset":
            check.one_of(f"preset (task {task!r})", value, sorted(PRESETS.get(task, {})))
        elif key == "loss":
            check.one_of("loss", value, LOSSES)
        elif key == "data":
            pass  # read by the workers, whose file system may differ from this process's
        else:
            # TrainConfig checks the field's range (input_shift's need of an input_shape is the task's business)
            TrainConfig(**{key: float(value) if kind == "float" else value},
                        **({"input_shape": (1, 1)} if key == "input_shift" else {}))
    except (TypeError, ValueError) as error:
        raise fail(f"{where}: {error}") from None


def _check_combination(task: str, settings: dict, where: str, fail: Callable) -> None:
    """Settings of one point together: the method and its options, and the TrainConfig checks across fields."""
    from eventsnn.training import TrainConfig
    options = {k[len(OPTION_PREFIX):]: v for k, v in settings.items() if k.startswith(OPTION_PREFIX)}
    names = _setting_names()
    fields = {k: float(v) if names[k] == "float" else v for k, v in settings.items()
              if not k.startswith(OPTION_PREFIX) and k in TrainConfig.__dataclass_fields__}
    if fields.get("input_shift", 0) and task != "yinyang":
        fields["input_shape"] = (1, 1)  # the digit tasks set their image shape
    try:
        TrainConfig(**fields, method_options=options)
    except (TypeError, ValueError) as error:
        raise fail(f"{where}: {error}") from None


def _varying(settings_list: list) -> list:
    """Keys whose value (or presence) differs between points."""
    keys = list(dict.fromkeys(k for s in settings_list for k in s))
    return [k for k in keys if len({json.dumps(s.get(k, "\0absent")) for s in settings_list}) > 1]


def _text(value: Any) -> str:
    """A value as the command line reads it back exactly (floats by repr, which round-trips)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "_", _text(value))


def _describe(settings: dict) -> str:
    return ", ".join(f"{k} = {_text(v)}" for k, v in settings.items())


def _train_argv(task: str, settings: dict, seed: int) -> tuple:
    """``eventsnn train`` arguments of one run (without ``--out``): flags, then --set and --option pairs."""
    names = _setting_names()
    argv = [task, "--seed", str(seed), "--threads", "1", "--no-progress"]
    for key, value in settings.items():
        if key.startswith(OPTION_PREFIX):
            argv += ["--option", f"{key[len(OPTION_PREFIX):]}={_text(value)}"]
        elif key in TRAIN_FLAGS:
            argv += ["--" + key.replace("_", "-"), _text(float(value) if names[key] == "float" else value)]
        else:
            argv += ["--set", f"{key}={_text(float(value) if names[key] == 'float' else value)}"]
    return tuple(argv)


# ------------------------------------------------------------------------------------------------------------------
# Metrics of a finished run: name -> (description, unit scale for printing, function(history, run_info) -> float)


def _last(name: str) -> Callable:
    return lambda history, info: history[-1].get(name)


def _layer_spikes(history: list, info: dict) -> tuple:
    """(hidden, output) spikes per test sample of the last epoch; a read-out network has no spiking output."""
    spikes = history[-1].get("test_spikes_per_sample") or []
    has_readout = bool(info.get("network")) and str(info["network"][-1]).endswith("(read-out)")
    if has_readout:
        return float(sum(spikes)), 0.0
    return float(sum(spikes[:-1])), float(spikes[-1]) if spikes else 0.0


@dataclass(frozen=True)
class Metric:
    """A number read off a finished run directory (its last epoch unless said otherwise)."""

    description: str
    percent: bool
    read: Callable


METRICS = {
    "test_accuracy": Metric("test accuracy (%)", True, _last("test_accuracy")),
    "train_accuracy": Metric("training accuracy (%)", True, _last("train_accuracy")),
    "test_loss": Metric("test loss", False, _last("test_loss")),
    "loss": Metric("training loss", False, _last("loss")),
    "spikes": Metric("spikes per test sample (all layers)", False,
                     lambda h, info: float(sum(h[-1].get("test_spikes_per_sample") or [math.nan]))),
    "hidden_spikes": Metric("hidden-layer spikes per test sample", False, lambda h, info: _layer_spikes(h, info)[0]),
    "output_spikes": Metric("output spikes per test sample", False, lambda h, info: _layer_spikes(h, info)[1]),
    "spikes_until_first_output": Metric("spikes until the first output spike", False,
                                        _last("test_spikes_until_first_output")),
    "epoch_s": Metric("median wall time per epoch (s)", False,
                      lambda h, info: statistics.median(r["epoch_s"] for r in h)),
}


def _report_settings(table: dict, varying: list, fail: Callable) -> tuple:
    _known(table, REPORT_KEYS, "key of [report]", fail)
    metrics = table.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not metrics:
        raise fail(f"[report] metrics must be a non-empty list of metric names ({', '.join(METRICS)})")
    for metric in metrics:
        if metric not in METRICS:
            raise fail(f"[report] metrics: unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    front_table = table.get("front", {})
    if not isinstance(front_table, dict):
        raise fail("[report] front must be a table {x = ..., y = ..., by = [...]}")
    _known(front_table, FRONT_KEYS, "key of [report] front", fail)
    default_by = ["method"] + [k for k in varying if k.startswith(OPTION_PREFIX)]
    front = Front(x=front_table.get("x", Front.x), y=front_table.get("y", Front.y),
                  by=tuple(front_table.get("by", default_by)))
    for axis in ("x", "y"):
        if getattr(front, axis) not in METRICS:
            raise fail(f"[report] front.{axis}: unknown metric {getattr(front, axis)!r}; valid: {', '.join(METRICS)}")
    names = set(_setting_names())
    for key in front.by:
        if not isinstance(key, str) or not (key in names or key.startswith(OPTION_PREFIX)):
            raise fail(f"[report] front.by: {key!r} is not a setting")
    return tuple(metrics), front


# ------------------------------------------------------------------------------------------------------------------
# Run status on disk (OUT/_sweep/<name>.json, written atomically by whoever changes it)


def status_path(out: str, run: Run) -> str:
    return os.path.join(out, STATUS_DIR, run.name + ".json")


def read_status(out: str, run: Run) -> dict:
    """The status record of ``run`` (``{"status": "missing"}`` if it never started); ``"done"`` only if it
    finished with the command line it has now (a changed [fixed] epochs, say, makes it resume)."""
    path = status_path(out, run)
    if not os.path.isfile(path):
        return {"status": "missing"}
    with open(path) as handle:
        try:
            record = json.load(handle)
        except json.JSONDecodeError:
            return {"status": "missing"}
    if record.get("status") in ("done", "failed") and record.get("argv") != list(run.argv):
        return {**record, "status": "stale"}
    if record.get("status") == "done" and not os.path.isfile(os.path.join(out, run.name, "metrics.json")):
        return {**record, "status": "missing"}
    return record


# A worker process runs one training at a time: eventsnn.cli.main records sys.argv in run.json and prints to
# sys.stdout, both process-wide, so tasks of a worker with several threads take turns.
_TRAINING = threading.Lock()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_in_worker(run_dir: str, argv: Sequence[str], status_file: str) -> dict:
    """Train one run of a sweep in this process (the Dask task): ``eventsnn train ARGV --out RUN_DIR``, with
    ``--resume`` if ``RUN_DIR`` exists; writes its status file before and after.

    A failure of the run itself (any exception from training, or a refusal of the command line) is caught and
    recorded as ``status = "failed"`` with its error; only a failure of the bookkeeping (writing the status file)
    escapes, for Dask to retry.

    Returns
    -------
    dict
        The status record written (``status``, ``error``, ``seconds``, ...).
    """
    from eventsnn import cli
    with _TRAINING:
        resume = os.path.isdir(run_dir)
        command = ["train", *argv, "--out", run_dir] + (["--resume"] if resume else [])
        record = {"status": "running", "argv": list(argv), "pid": os.getpid(), "host": socket.gethostname(),
                  "started_at": _now(), "resumed": resume}
        write_json(status_file, record)
        started = time.perf_counter()
        error = None
        log_file = os.path.splitext(status_file)[0] + ".log"
        with open(log_file, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            print(f"--- {record['started_at']} pid {record['pid']} on {record['host']}: eventsnn {' '.join(command)}",
                  flush=True)
            # run.json records sys.argv: the equivalent command line, so that a point can be re-run by hand
            saved_argv = sys.argv
            sys.argv = ["eventsnn", *command]
            try:
                code = cli.main(command)
                if code:
                    error = f"eventsnn train exited with status {code}"
            except SystemExit as exit_:  # the command line refuses settings or data with a one-line message
                error = str(exit_.code)
            except Exception as exc:  # noqa: BLE001 - a run's own failure is recorded, and the sweep goes on
                traceback.print_exc()
                error = f"{type(exc).__name__}: {exc}"
            finally:
                sys.argv = saved_argv
        record.update(status="failed" if error else "done", error=error, finished_at=_now(),
                      seconds=time.perf_counter() - started)
        write_json(status_file, record)
        return record


# ------------------------------------------------------------------------------------------------------------------
# Running a sweep


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    n_runs : int
        Runs of the specification.
    n_skipped : int
        Runs already done (or failed, without ``retry_failed``) before this call: not submitted.
    n_submitted, n_done, n_failed : int
        Runs submitted by this call, and how they ended.
    seconds : float
        Wall time of the call (s).
    report : Report or None
        The report written at the end (None with ``write_report=False``).
    """

    n_runs: int
    n_skipped: int
    n_submitted: int = 0
    n_done: int = 0
    n_failed: int = 0
    seconds: float = 0.0
    report: "Report | None" = None


def run_sweep(spec: SweepSpec, out: str | os.PathLike, *, workers: int | None = None, scheduler: str | None = None,
              client: Any = None, retry_failed: bool = False, retries: int = 3, progress_every: float = 10.0,
              log: Callable[[str], None] | None = print, write_report: bool = True) -> SweepResult:
    """Run every run of ``spec`` that is not done yet, each as a Dask task, then write the report.

    Parameters
    ----------
    spec : SweepSpec
        From :func:`load_spec`.
    out : str or PathLike
        Output directory: one run directory per run, ``_sweep/`` (status files and logs) and the report.
    workers : int, optional
        Worker processes of the local cluster (default: the number of cores); ignored with ``scheduler`` or
        ``client``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) instead of a local cluster; its workers must
        import this eventsnn and see ``out`` at the same path.
    client : distributed.Client, optional
        An existing client to submit to (its cluster is left running).
    retry_failed : bool
        Also run again the runs recorded as failed.
    retries : int
        Times a run is given to a worker again after its worker died (or its bookkeeping raised); a local
        cluster's scheduler allows that many worker deaths per run (``distributed.scheduler.allowed-failures``).
    progress_every : float
        Seconds between progress lines while nothing finishes.
    log : callable or None
        Receives the progress lines (default ``print``).
    write_report : bool
        Write the report (:func:`report`) at the end.

    Returns
    -------
    SweepResult

    Notes
    -----
    Nothing is started if every run is done: no cluster, no file written but the report.
    """
    started = time.perf_counter()
    say = log or (lambda line: None)
    out = os.path.abspath(os.fspath(out))
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    skip = {"done", "failed"} if not retry_failed else {"done"}
    todo = [run for run in spec.runs if read_status(out, run)["status"] not in skip]
    result = SweepResult(n_runs=len(spec.runs), n_skipped=len(spec.runs) - len(todo))
    if todo:
        os.makedirs(os.path.join(out, STATUS_DIR), exist_ok=True)
        with _sweep_lock(out), _connect(client, scheduler, workers, retries) as connected:
            say(f"sweep {spec.name}: {len(todo)} of {len(spec.runs)} runs to do ({result.n_skipped} already done or "
                f"failed) on {_describe_cluster(connected)}; output {out}")
            _execute(connected, spec, out, todo, retries, progress_every, say, result)
    else:
        say(f"sweep {spec.name}: all {len(spec.runs)} runs already done or failed; nothing to run")
    result.seconds = time.perf_counter() - started
    if write_report:
        result.report = report(spec, out)
        say(result.report.text)
    return result


@contextlib.contextmanager
def _sweep_lock(out: str):
    """Hold ``OUT/_sweep/lock`` exclusively: two sweeps into one directory would run the same runs twice."""
    import fcntl
    with open(os.path.join(out, STATUS_DIR, "lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another sweep is running into {out} (it holds {handle.name}); wait for it or stop "
                               "it") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _connect(client: Any, scheduler: str | None, workers: int | None, retries: int):
    """A Dask client: the one given, one connected to ``scheduler``, or one of a new local cluster of processes
    with one thread each (closed on exit)."""
    import dask
    import distributed
    if client is not None:
        yield client
        return
    if scheduler is not None:
        with distributed.Client(scheduler) as connected:
            yield connected
        return
    import logging
    n_workers = workers or os.cpu_count() or 1
    # a worker death counts against its run: allow `retries` of them before the scheduler gives up on it
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR,
                                           env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    try:
        with distributed.Client(cluster) as connected:
            yield connected
    finally:
        cluster.close()


def _describe_cluster(client: Any) -> str:
    threads = client.nthreads()
    return f"{len(threads)} workers ({sum(threads.values())} threads) at {client.scheduler.address}"


def _execute(client: Any, spec: SweepSpec, out: str, todo: list, retries: int, progress_every: float,
             say: Callable, result: SweepResult) -> None:
    import distributed
    futures = {}
    for run in todo:
        run_dir = os.path.join(out, run.name)
        future = client.submit(run_in_worker, run_dir, list(run.argv), status_path(out, run), retries=retries,
                               pure=False, key=f"eventsnn-sweep-{run.name}-{os.getpid()}-{time.time_ns()}")
        futures[future] = run
    result.n_submitted = len(todo)
    pending = set(futures)
    durations = []
    last_line = ""
    last_time = 0.0
    while pending:
        try:
            done, pending = distributed.wait(pending, timeout=progress_every, return_when="FIRST_COMPLETED")
        except TimeoutError:  # nothing finished in progress_every seconds: report progress anyway
            done = set()
        for future in done:
            run = futures[future]
            try:
                record = future.result()
            except Exception as exc:  # noqa: BLE001 - the worker died too often (KilledWorker) or bookkeeping failed
                record = {"status": "failed", "argv": list(run.argv), "finished_at": _now(),
                          "error": f"{type(exc).__name__}: {exc} (the run directory keeps its last checkpoint)"}
                write_json(status_path(out, run), record)
            if record["status"] == "done":
                result.n_done += 1
                durations.append(record["seconds"])
            else:
                result.n_failed += 1
                say(f"  failed: {run.name}: {record['error']}")
        running = sum(read_status(out, futures[f]).get("status") == "running" for f in pending)
        line = _progress_line(result, running, len(pending) - running, durations, len(client.nthreads()) or 1)
        if line != last_line or time.perf_counter() - last_time >= progress_every:
            say(line)
            last_line, last_time = line, time.perf_counter()


def _progress_line(result: SweepResult, running: int, queued: int, durations: list, n_workers: int) -> str:
    eta = "-"
    if durations:
        seconds = statistics.fmean(durations) * (running + queued) / max(1, min(n_workers, running + queued))
        eta = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
    return (f"  {result.n_done} done, {running} running, {result.n_failed} failed, {queued} left "
            f"(of {result.n_submitted} submitted) | estimated time left {eta}")


# ------------------------------------------------------------------------------------------------------------------
# The report


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats: none has a lower-or-equal x (spikes) and a higher-or-equal y (accuracy)
    while differing; sorted by x. Points with a NaN coordinate are left out.

    Examples
    --------
    >>> pareto_front([(10.0, 0.90), (20.0, 0.95), (15.0, 0.85), (30.0, 0.95), (5.0, 0.80)])
    [(5.0, 0.8), (10.0, 0.9), (20.0, 0.95)]
    """
    finite = [(float(x), float(y)) for x, y in points if not (math.isnan(x) or math.isnan(y))]
    front = [p for p in finite if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in finite)]
    return sorted(set(front))


@dataclass
class Report:
    """The report of a sweep (:func:`report`).

    Attributes
    ----------
    text : str
        The printed table: one line per point, mean +- population std over its finished seeds of each metric.
    rows : list of dict
        The rows of ``summary.csv``.
    summary_csv, runs_csv : str
        Paths of the per-point and per-run tables.
    figure : str or None
        Path of the accuracy-vs-spikes figure (None until some run is done).
    """

    text: str
    rows: list
    summary_csv: str
    runs_csv: str
    figure: str | None


def _run_values(out: str, run: Run, metrics: Sequence[str]) -> dict:
    """Metric values of a finished run (its metrics.json and run.json)."""
    run_dir = os.path.join(out, run.name)
    with open(os.path.join(run_dir, "metrics.json")) as handle:
        history = json.load(handle)
    info = {}
    if os.path.isfile(os.path.join(run_dir, "run.json")):
        with open(os.path.join(run_dir, "run.json")) as handle:
            info = json.load(handle)
    values = {}
    for name in metrics:
        value = METRICS[name].read(history, info)
        values[name] = math.nan if value is None else float(value)
    return values


def _mean_std(values: list) -> tuple:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.pstdev(finite)


def report(spec: SweepSpec, out: str | os.PathLike) -> Report:
    """Summarise the runs of ``spec`` found in ``out`` (any time: runs not done yet are counted, not averaged).

    Writes ``OUT/summary.csv`` (one row per point: its varying settings, runs done / failed / not done, and for
    each metric of the report and the front its mean and population std over the seeds done), ``OUT/runs.csv``
    (one row per run with its status, error and metrics) and ``OUT/front.png`` (module docstring).

    Parameters
    ----------
    spec : SweepSpec
    out : str or PathLike
        The sweep's output directory.

    Returns
    -------
    Report
    """
    out = os.path.abspath(os.fspath(out))
    os.makedirs(out, exist_ok=True)
    metrics = list(dict.fromkeys([*spec.metrics, spec.front.x, spec.front.y]))
    per_run = []
    for run in spec.runs:
        record = read_status(out, run)
        values = _run_values(out, run, metrics) if record["status"] == "done" else {}
        per_run.append((run, record, values))
    keys = [k for k in spec.varying]
    points = list(dict.fromkeys(run.point for run in spec.runs))
    rows = []
    for point in points:
        members = [(run, record, values) for run, record, values in per_run if run.point == point]
        settings = members[0][0].settings
        row = {k: settings.get(k, "") for k in keys}
        row.update(runs=len(members), done=sum(r["status"] == "done" for _, r, _ in members),
                   failed=sum(r["status"] == "failed" for _, r, _ in members))
        for name in metrics:
            mean, std = _mean_std([values[name] for _, _, values in members if values])
            row[f"{name}_mean"], row[f"{name}_std"] = mean, std
        rows.append(row)
    summary_csv = os.path.join(out, "summary.csv")
    _write_rows(summary_csv, rows)
    run_rows = [{"run": run.name, **{k: run.settings.get(k, "") for k in keys}, "seed": run.seed,
                 "status": record["status"], **{name: values.get(name, "") for name in metrics},
                 "error": record.get("error") or ""} for run, record, values in per_run]
    runs_csv = os.path.join(out, "runs.csv")
    _write_rows(runs_csv, run_rows)
    figure = _front_figure(spec, out, per_run) if any(values for _, _, values in per_run) else None
    text = _format_table(spec, points, rows, metrics, per_run)
    text += f"\ntables: {summary_csv}, {runs_csv}" + (f"; figure: {figure}" if figure else "")
    return Report(text=text, rows=rows, summary_csv=summary_csv, runs_csv=runs_csv, figure=figure)


def _write_rows(path: str, rows: list) -> None:
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    with atomic_write(path, "w") as handle:
        handle.write(buffer.getvalue())


def _format_table(spec: SweepSpec, points: list, rows: list, metrics: list, per_run: list) -> str:
    def cell(row: dict, name: str) -> str:
        mean, std = row[f"{name}_mean"], row[f"{name}_std"]
        if math.isnan(mean):
            return "-"
        scale = 100.0 if METRICS[name].percent else 1.0
        digits = 2 if METRICS[name].percent or abs(mean) < 100 else 1
        return f"{scale * mean:.{digits}f} +- {scale * std:.{digits}f}"

    width = max([len("point")] + [len(p) for p in points])
    headers = [("runs", 12)] + [(name + (" %" if METRICS[name].percent else ""), max(16, len(name) + 2))
                                for name in metrics]
    lines = [f"sweep {spec.name} ({spec.task}): mean +- population std over seeds {list(spec.seeds)}",
             f"{'point':<{width}} " + " ".join(f"{h:>{w}}" for h, w in headers)]
    for point, row in zip(points, rows):
        runs = f"{row['done']}/{row['runs']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        lines.append(f"{point:<{width}} {runs:>12} " + " ".join(f"{cell(row, name):>{w}}"
                                                                for name, (_, w) in zip(metrics, headers[1:])))
    failures = [(run, record) for run, record, _ in per_run if record["status"] == "failed"]
    for run, record in failures:
        lines.append(f"failed: {run.name}: {record.get('error')}")
    return "\n".join(lines)


def _front_figure(spec: SweepSpec, out: str, per_run: list) -> str:
    """``OUT/front.png``: every run a dot, every point's mean with std error bars, one Pareto front per group."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eventsnn.plot import save_figure
    front = spec.front
    x_scale = 100.0 if METRICS[front.x].percent else 1.0
    y_scale = 100.0 if METRICS[front.y].percent else 1.0
    groups: dict = {}
    for run, record, values in per_run:
        if not values:
            continue
        label = " ".join(f"{k}={_text(run.settings[k])}" for k in front.by if k in run.settings) or "all"
        groups.setdefault(label, {}).setdefault(run.point, []).append((values[front.x] * x_scale,
                                                                       values[front.y] * y_scale))
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, (label, by_point) in enumerate(groups.items()):
        color = f"C{i % 10}"
        every = [p for pts in by_point.values() for p in pts]
        ax.scatter(*zip(*every), color=color, alpha=0.3, s=12)
        means = []
        for pts in by_point.values():
            (mx, sx), (my, sy) = _mean_std([p[0] for p in pts]), _mean_std([p[1] for p in pts])
            means.append((mx, my))
            ax.errorbar(mx, my, xerr=sx, yerr=sy, color=color, alpha=0.6, capsize=2, linestyle="none")
        line = pareto_front(means)
        if line:
            ax.plot(*zip(*line), color=color, marker="o", label=label)
    ax.set_xlabel(METRICS[front.x].description)
    ax.set_ylabel(METRICS[front.y].description)
    ax.set_title(f"{spec.name}: Pareto front per {', '.join(front.by) or 'sweep'} (means over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = save_figure(fig, os.path.join(out, "front.png"), dpi=120)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------------------------
# The command line (``eventsnn sweep``; its arguments are declared in eventsnn/cli.py)


def command(args: Any) -> int:
    """``eventsnn sweep SPEC --out DIR [--workers N | --scheduler ADDRESS] [--report] [--retry-failed]``."""
    try:
        spec = load_spec(args.spec)
    except (FileNotFoundError, SpecError) as error:
        raise SystemExit(f"eventsnn: {error}") from None
    out = args.out or os.path.join("runs", spec.name)
    if args.report:
        if not os.path.isdir(out):
            raise SystemExit(f"eventsnn: {out} does not exist: no sweep has run there yet")
        print(report(spec, out).text)
        return 0
    try:
        result = run_sweep(spec, out, workers=args.workers, scheduler=args.scheduler,
                           retry_failed=args.retry_failed, retries=args.retries)
    except (ValueError, RuntimeError) as error:
        raise SystemExit(f"eventsnn: {error}") from None
    except KeyboardInterrupt:  # the cluster is closed on the way out; every run keeps its last checkpoint
        print(f"eventsnn: sweep interrupted; run the same command again to continue (report so far: eventsnn sweep "
              f"{args.spec} --out {out} --report)", file=sys.stderr)
        return 130
    print(f"sweep {spec.name}: {result.n_done} runs done, {result.n_failed} failed, {result.n_skipped} skipped "
          f"(done before) in {result.seconds:.1f} s")
    return 1 if result.n_failed else 0
