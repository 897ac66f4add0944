"""Sweep specifications: the TOML file of ``eventsnn sweep`` read, validated and expanded into runs.

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
    metrics = ["val_accuracy", "test_accuracy", "spikes"]
    front = { x = "spikes", y = "test_accuracy", by = ["method"] }
    compare = [["method=antlr spike_penalty=0.001", "method=timing spike_penalty=0.0"]]   # or "front", "chosen"
    choose = { by = ["method"], on = "val_accuracy" }

A setting is an option of ``eventsnn train`` (``epochs``, ``hidden``, ``batch_size``, ``lr``, ``n_train``,
``n_test``, ``data``, ``method``, ``spike_penalty``, ``grad_clip``, ``tau_mem``, ``tau_syn``, ``preset``, ``loss``,
``init``, ``input_code``),
any other :class:`~eventsnn.training.TrainConfig` field (given to ``--set``), or a gradient-method option written
``option.NAME`` (given to ``--option``, see :class:`~eventsnn.gradient_methods.MethodOptions`). The whole
specification is validated before anything starts: unknown sections or settings, empty grids, values of the wrong
type or out of range, duplicate points and invalid combinations (e.g. options for ``method = "timing"``) raise
:class:`SpecError` naming the file and the field.

:func:`load_spec` returns a :class:`SweepSpec`: every :class:`Run` with its directory name (the settings that differ
between runs) and its ``eventsnn train`` command line. Running it: :mod:`eventsnn.sweep`; its report:
:mod:`eventsnn.sweep_report`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from eventsnn._atomic import TEMPORARY_NAME_EXTRA
from eventsnn.sweep_report import COMPARE_CHOSEN, COMPARE_FRONT, COMPARE_MODES, METRICS, format_value

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI (the dask extra installs it)
    import tomli as tomllib

SECTIONS = ("sweep", "fixed", "grid", "points", "report")
SWEEP_KEYS = ("task", "seeds", "name")
REPORT_KEYS = ("metrics", "front", "compare", "choose")
FRONT_KEYS = ("x", "y", "by", "x_scale")
FRONT_SCALES = ("linear", "log")
CHOOSE_KEYS = ("by", "on", "report")
OPTION_PREFIX = "option."
# Settings that are options of `eventsnn train` (a flag each) rather than --set overrides; the kind says what the
# TOML value must be ("float" accepts an int too: 1 is read as 1.0, as the command line would).
# Their order (then TrainConfig's field order, method options right after the method) is the canonical order of a
# run's settings: the same run written in another order gets the same directory name and command line.
TRAIN_FLAGS = {"method": "str", "loss": "str", "preset": "str", "init": "str", "input_code": "str",
               "spike_penalty": "float", "hidden": "int",
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
#: most points one [grid] table may expand to (before seeds): a bound on the work of validating a spec
MAX_GRID_POINTS = 10_000
#: most runs (points x seeds) of one sweep, over all its tables: each run costs validation time and memory (about
#: 15 us and 1.5 kB), and a short file (many [[grid]] tables, a long seed list) could otherwise ask for billions
MAX_RUNS = 100_000
#: longest run name (ASCII): a file name may have 255 bytes (ext4, xfs, btrfs, tmpfs), and the run's status file
#: ``_sweep/<name>.json`` is written atomically through a temporary file whose name is longer still
MAX_RUN_NAME = 255 - TEMPORARY_NAME_EXTRA - len(".json")


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
    the settings ``by``; ``x_scale`` "log" spreads x values that span orders of magnitude (e.g. spike counts with
    and without a penalty)."""

    x: str = "spikes"
    y: str = "test_accuracy"
    by: tuple = ("method",)
    x_scale: str = "linear"


@dataclass(frozen=True)
class Choose:
    """A choice made on validation (``[report] choose``): in every group of points with equal ``by`` settings, the
    point with the best mean of the validation metric ``on``; the report gives its ``report`` (test) metrics."""

    on: str = "val_accuracy"
    by: tuple = ("method",)
    report: tuple = ("test_accuracy",)


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
    compare : tuple of (str, str) pairs and the names "front" and "chosen"
        What to compare with Welch's test on the front's two metrics: pairs of points (their ``Run.point``);
        ``"front"``, every point of each group's front against its neighbours on it; ``"chosen"``, the points
        each ``choose`` picks on validation (one per group) against each other.
    choose : tuple of Choose
        Choices made on validation metrics.
    """

    source: str
    name: str
    task: str
    seeds: tuple
    runs: tuple
    varying: tuple
    metrics: tuple
    front: Front
    compare: tuple = ()
    choose: tuple = ()


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
    points = _grid_points(data.get("grid"), fixed, task, fail, len(seeds))
    points += _extra_points(data.get("points"), fixed, task, fail)
    if not points:
        points = [("[fixed]", {})]  # no grid and no points: one point, the fixed settings
    _check_run_count(len(points), len(seeds), "[sweep]", fail)
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
        point = " ".join(f"{k}={format_value(settings[k])}" for k in varying if k in settings)
        for seed in seeds:
            run_name = "__".join([f"{k}-{_slug(settings[k])}" for k in varying if k in settings]
                                 + ([f"seed-{seed}"] if len(seeds) > 1 else [])) or "run"
            if run_name in names:
                raise fail(f"two runs get the directory name {run_name!r} ({names[run_name]} and "
                           f"{_describe(settings)}); make their values differ in more than punctuation")
            if len(run_name) > MAX_RUN_NAME:  # it would fail as a file name once the sweep has started
                raise fail(f"the run of {_describe(settings)} gets a directory name of {len(run_name)} characters, "
                           f"more than {MAX_RUN_NAME}: {run_name[:60]}...; shorten the values that differ between "
                           "runs, or vary fewer settings in one sweep")
            names[run_name] = _describe(settings)
            runs.append(Run(name=run_name, settings=settings, seed=seed, argv=_train_argv(task, settings, seed),
                            point=point or "all"))
    report = _table(data, "report", fail)
    metrics, front = _report_settings(report, varying, fail)
    point_names = list(dict.fromkeys(run.point for run in runs))
    choose = _choose_settings(report.get("choose", []), varying, fail)
    compare = _compare_settings(report.get("compare", []), point_names, bool(choose), fail)
    return SweepSpec(source=source, name=name, task=task, seeds=tuple(seeds), runs=tuple(runs),
                     varying=tuple(varying), metrics=metrics, front=front, compare=compare, choose=choose)


def _sweep_section(sweep: dict, source: str, fail: Callable) -> tuple:
    """(task, seeds, name) of the [sweep] table."""
    from eventsnn.tasks import TASKS
    _known(sweep, SWEEP_KEYS, "key of [sweep]", fail)
    if "task" not in sweep:
        raise fail(f"[sweep] task is missing (one of {', '.join(TASKS)})")
    task = sweep["task"]
    if not isinstance(task, str) or task not in TASKS:
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


def _check_run_count(n_points: int, n_seeds: int, where: str, fail: Callable) -> None:
    if n_points * n_seeds > MAX_RUNS:
        raise fail(f"{where}: the sweep would hold {n_points} points x {n_seeds} seeds = {n_points * n_seeds} runs, "
                   f"more than {MAX_RUNS}: split it into several sweeps")


def _grid_points(grid: Any, fixed: dict, task: str, fail: Callable, n_seeds: int = 1) -> list:
    """(where, settings) of every point of the grid table(s): the Cartesian product of each, in file order; no
    table is expanded once the points so far times ``n_seeds`` would exceed :data:`MAX_RUNS`."""
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
            for i, value in enumerate(values):
                _check_value(task, key, value, f"{where} {key}[{i}]", fail)
            if len({json.dumps(v) for v in values}) != len(values):
                raise fail(f"{where} {key} has duplicate values: {values}")
        n_points = math.prod(len(values) for values in axes.values())
        if n_points > MAX_GRID_POINTS:  # checked before expanding: validation itself must stay bounded
            raise fail(f"{where} expands to {n_points} points, more than {MAX_GRID_POINTS}: split it into several "
                       f"sweeps")
        _check_run_count(len(points) + n_points, n_seeds, where, fail)
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
    from eventsnn.tasks import PRESETS, RECIPE_PART_SOURCES, RECIPE_PARTS
    from eventsnn.training import LOSSES, TrainConfig
    if key.startswith(OPTION_PREFIX):
        if not isinstance(value, (bool, int, float, str)):  # a list, a table, or a TOML date or time
            raise fail(f"{where}: a method option takes a number, true/false or a word, got {value!r}")
        return  # checked with the method of its run
    kind = _setting_names()[key]
    if isinstance(value, (list, dict)):
        raise fail(f"{where}: expected a single {kind}, got {value!r}")
    accepted = {"bool": (bool,), "str": (str,), "int": (int,), "float": (int, float)}[kind]
    if not isinstance(value, accepted) or (isinstance(value, bool) and kind != "bool"):
        raise fail(f"{where}: expected {KIND_NAMES[kind]}, got {type(value).__name__} {value!r}")
    if key == "data":
        return  # a path the workers read, on a file system that may differ from this process's: not checked here
    try:
        if key in ("hidden", "n_train", "n_test"):
            check.integer(key, value, minimum=1)
        elif key in ("tau_mem", "tau_syn"):
            check.positive_finite(key, value)
        elif key == "preset":
            check.one_of(f"preset (task {task!r})", value, sorted(PRESETS.get(task, {})))
        elif key in RECIPE_PARTS:
            check.one_of(key, value, RECIPE_PART_SOURCES)
        elif key == "loss":
            check.one_of("loss", value, LOSSES)
        else:
            # TrainConfig checks the field's range (input_shift's need of an input_shape is the task's business)
            TrainConfig(**{key: float(value) if kind == "float" else value},
                        **({"input_shape": (1, 1)} if key == "input_shift" else {}))
    except (TypeError, ValueError) as error:
        raise fail(f"{where}: {error}") from None


def _check_combination(task: str, settings: dict, where: str, fail: Callable) -> None:
    """Settings of one point together: the method and its options, the TrainConfig checks across fields, and the
    sources of the initial weights and input code against the preset."""
    from eventsnn.tasks import task_recipe
    from eventsnn.training import TrainConfig
    try:
        task_recipe(task, settings.get("preset"), init=settings.get("init"), input_code=settings.get("input_code"))
    except ValueError as error:
        raise fail(f"{where}: {error}") from None
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


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "_", format_value(value))


def _describe(settings: dict) -> str:
    return ", ".join(f"{k} = {format_value(v)}" for k, v in settings.items())


def _train_argv(task: str, settings: dict, seed: int) -> tuple:
    """``eventsnn train`` arguments of one run (without ``--out``): flags, then --set and --option pairs."""
    names = _setting_names()
    argv = [task, "--seed", str(seed), "--threads", "1", "--no-progress"]
    for key, value in settings.items():
        if key.startswith(OPTION_PREFIX):
            argv += ["--option", f"{key[len(OPTION_PREFIX):]}={format_value(value)}"]
        elif key in TRAIN_FLAGS:
            argv += ["--" + key.replace("_", "-"), format_value(float(value) if names[key] == "float" else value)]
        else:
            argv += ["--set", f"{key}={format_value(float(value) if names[key] == 'float' else value)}"]
    return tuple(argv)


def _report_settings(table: dict, varying: list, fail: Callable) -> tuple:
    _known(table, REPORT_KEYS, "key of [report]", fail)
    metrics = table.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not metrics:
        raise fail(f"[report] metrics must be a non-empty list of metric names ({', '.join(METRICS)})")
    for metric in metrics:
        if not isinstance(metric, str) or metric not in METRICS:
            raise fail(f"[report] metrics: unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    front_table = table.get("front", {})
    if not isinstance(front_table, dict):
        raise fail("[report] front must be a table {x = ..., y = ..., by = [...]}")
    _known(front_table, FRONT_KEYS, "key of [report] front", fail)
    default_by = ["method"] + [k for k in varying if k.startswith(OPTION_PREFIX)]
    by = front_table.get("by", default_by)
    if not isinstance(by, list):  # a string would be read as its letters
        raise fail(f"[report] front.by must be a list of settings (e.g. [\"method\"]), got {by!r}")
    front = Front(x=front_table.get("x", Front.x), y=front_table.get("y", Front.y), by=tuple(by),
                  x_scale=front_table.get("x_scale", Front.x_scale))
    if not isinstance(front.x_scale, str) or front.x_scale not in FRONT_SCALES:
        raise fail(f"[report] front.x_scale must be one of {', '.join(repr(s) for s in FRONT_SCALES)}, "
                   f"got {front.x_scale!r}")
    for axis in ("x", "y"):
        if not isinstance(getattr(front, axis), str) or getattr(front, axis) not in METRICS:
            raise fail(f"[report] front.{axis}: unknown metric {getattr(front, axis)!r}; valid: {', '.join(METRICS)}")
    names = set(_setting_names())
    for key in front.by:
        if not isinstance(key, str) or not (key in names or key.startswith(OPTION_PREFIX)):
            raise fail(f"[report] front.by: {key!r} is not a setting")
    return tuple(metrics), front


def _point_key(text: str) -> frozenset:
    """A point's name as a set of ``key=value`` words: the order they are written in does not matter."""
    return frozenset(text.split())


def _compare_settings(value: Any, points: list, has_choose: bool, fail: Callable) -> tuple:
    """``[report] compare``: ``"front"``, ``"chosen"``, or a list of these names and of pairs of point names, each
    naming a point of the sweep; ``"chosen"`` needs a ``[report] choose``. Returns the names and pairs, in order,
    each once."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or any(isinstance(item, str) and item not in COMPARE_MODES for item in value):
        raise fail(f"[report] compare must be {COMPARE_FRONT!r}, {COMPARE_CHOSEN!r} or a list of these and of pairs "
                   f"of points, e.g. [[{points[0]!r}, {points[-1]!r}]], got {value!r}")
    by_key = {_point_key(point): point for point in points}
    items = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            if item == COMPARE_CHOSEN and not has_choose:
                raise fail(f"[report] compare[{i}] = {COMPARE_CHOSEN!r} compares the points chosen on validation, "
                           "but there is no [report] choose")
            items.append(item)
            continue
        if not isinstance(item, list) or len(item) != 2 or not all(isinstance(p, str) for p in item):
            raise fail(f"[report] compare[{i}] must be a pair of point names [\"a\", \"b\"], got {item!r}")
        named = []
        for text in item:
            if _point_key(text) not in by_key:
                raise fail(f"[report] compare[{i}]: no point {text!r}; the points are: "
                           + "; ".join(repr(p) for p in points))
            named.append(by_key[_point_key(text)])
        if named[0] == named[1]:
            raise fail(f"[report] compare[{i}] compares the point {named[0]!r} with itself")
        items.append(tuple(named))
    return tuple(dict.fromkeys(items))


def _choose_settings(value: Any, varying: list, fail: Callable) -> tuple:
    """``[report] choose``: one table {by, on, report} or a list of them; ``on`` must be a validation metric."""
    tables = [value] if isinstance(value, dict) else value
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise fail("[report] choose must be a table {by = [...], on = \"val_accuracy\"} or a list of them, got "
                   f"{value!r}")
    names = set(_setting_names())
    validation = [name for name, metric in METRICS.items() if metric.data == "validation"]
    chosen = []
    for i, table in enumerate(tables):
        where = "[report] choose" + (f"[{i}]" if isinstance(value, list) else "")
        _known(table, CHOOSE_KEYS, f"key of {where}", fail)
        on = table.get("on", Choose.on)
        if not isinstance(on, str) or on not in METRICS:
            raise fail(f"{where} on: unknown metric {on!r}; choose on a validation metric: {', '.join(validation)}")
        if METRICS[on].data != "validation":
            # choosing on the test set would make the reported test number a selected one, no longer an estimate
            raise fail(f"{where} on = {on!r}: a choice is made on validation, never on "
                       f"{METRICS[on].data} data; use one of {', '.join(validation)}")
        by = table.get("by", list(Choose.by))
        if not isinstance(by, list) or not all(isinstance(k, str) and (k in names or k.startswith(OPTION_PREFIX))
                                               for k in by):
            raise fail(f"{where} by must be a list of settings (e.g. [\"method\"]), got {by!r}")
        shown = table.get("report", list(Choose.report))
        if not isinstance(shown, list) or not shown or not all(isinstance(m, str) and m in METRICS for m in shown):
            raise fail(f"{where} report must be a non-empty list of metric names ({', '.join(METRICS)}), got "
                       f"{shown!r}")
        chosen.append(Choose(on=on, by=tuple(by), report=tuple(shown)))
    return tuple(chosen)
