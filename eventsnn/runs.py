"""Training runs on disk: read the ``metrics.json`` of run directories and summarise seeds.

A run directory is what ``eventsnn train --out DIR`` (or :class:`eventsnn.training.Trainer` with ``out_dir``)
writes (the command line also writes ``run.json``: its settings, kept in ``RunSummary.settings``); its
``metrics.json`` holds one dict per finished epoch and is replaced atomically after each epoch, so a
run still in progress can be read at any time. ``eventsnn summary DIR...`` prints :func:`format_summary`.

Accuracy is always the **last** epoch's test accuracy: the best epoch is shown for reference only, since
choosing it would select the model on the test set.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import dataclass, field, replace
from typing import Sequence

from eventsnn._file_validation import FileFormatError, open_npz, read_json


@dataclass(frozen=True)
class RunSummary:
    """Last-epoch metrics of one run directory (accuracies in [0, 1], times in s, spikes per test sample)."""

    path: str
    epochs: int
    test_accuracy: float | None
    best_test_accuracy: float | None
    train_accuracy: float | None
    spikes_per_sample: tuple = ()
    median_epoch_s: float = math.nan
    backward_forward: float = math.nan
    history: list = field(default_factory=list, repr=False, compare=False)
    settings: dict = field(default_factory=dict, repr=False, compare=False)  # run.json of the CLI, if present


@dataclass(frozen=True)
class SeedStatistics:
    """Mean and population standard deviation (as EventProp's scripts compute it) of last-epoch accuracies."""

    n_runs: int
    mean: float
    std: float
    minimum: float
    maximum: float
    mean_spikes_per_sample: tuple


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def read_run(path: str | os.PathLike) -> RunSummary:
    """Summary of the run in directory ``path`` (its ``metrics.json``).

    Raises
    ------
    FileNotFoundError
        If ``path`` has no ``metrics.json`` (no epoch finished yet, or not a run directory).
    FileFormatError
        (a ValueError) If the file is not a list of per-epoch dicts or ``run.json`` is malformed; the message
        names the file and field.
    """
    path = os.fspath(path)
    file = os.path.join(path, "metrics.json")
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{file} not found: not a run directory, or no epoch has finished yet")
    history = read_json(file)
    if not isinstance(history, list) or not history or not all(isinstance(row, dict) for row in history):
        raise FileFormatError(f"{file} must hold a non-empty list of per-epoch dicts")
    spikes = history[-1].get("test_spikes_per_sample", history[-1].get("spikes_per_sample", ()))
    if isinstance(spikes, list) and not all(_number(v) is not None for v in spikes):
        raise FileFormatError(f"{file}: field 'test_spikes_per_sample' of the last epoch must list finite numbers")
    epoch = history[-1].get("epoch", len(history))
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise FileFormatError(f"{file}: field 'epoch' of the last row must be an int >= 0, got {epoch!r}")
    settings = {}
    if os.path.isfile(os.path.join(path, "run.json")):
        settings = read_json(os.path.join(path, "run.json"))
        if not isinstance(settings, dict):
            raise FileFormatError(f"{os.path.join(path, 'run.json')} must hold a JSON object")
    last = history[-1]
    tests = [a for a in (_number(row.get("test_accuracy")) for row in history) if a is not None]
    spikes = last.get("test_spikes_per_sample", last.get("spikes_per_sample", ()))
    epoch_times = [t for t in (_number(row.get("epoch_s")) for row in history) if t is not None]
    forward = sum(_number(row.get("forward_s")) or 0.0 for row in history)
    backward = sum(_number(row.get("backward_s")) or 0.0 for row in history)
    return RunSummary(
        path=path, epochs=int(last.get("epoch", len(history))), test_accuracy=_number(last.get("test_accuracy")),
        best_test_accuracy=max(tests) if tests else None, train_accuracy=_number(last.get("train_accuracy")),
        spikes_per_sample=tuple(float(s) for s in spikes) if isinstance(spikes, list) else (),
        median_epoch_s=statistics.median(epoch_times) if epoch_times else math.nan,
        backward_forward=backward / forward if forward > 0.0 else math.nan, history=history, settings=settings)


# run.json fields that say how a run was carried out, not what was run: a re-launch with another seed (or resumed,
# or by another version of eventsnn) is the same experiment
BOOKKEEPING = ("seed", "argv", "started_at", "finished_at", "resumed", "run_id", "eventsnn_version", "source")


def comparable_settings(info: dict) -> dict:
    """The settings of a run that make it a different experiment: its ``run.json`` without the seed and the run's
    bookkeeping (:data:`BOOKKEEPING`), flattened to ``{"task": ..., "config.lr": ...}``; the ``network`` of an
    older ``run.json`` (sizes as strings) reads as the current one (numbers, ``readout_classes``).

    Examples
    --------
    >>> comparable_settings({"task": "yinyang", "seed": 3, "network": ["5", "200", "3"],
    ...                      "config": {"lr": 0.003, "seed": 3}, "run_id": "x"})
    {'task': 'yinyang', 'network': [5, 200, 3], 'readout_classes': None, 'config.lr': 0.003}
    """
    flat = {}
    for name, value in info.items():
        if name in BOOKKEEPING:
            continue
        if name == "config" and isinstance(value, dict):
            flat.update({f"config.{key}": item for key, item in value.items() if key not in BOOKKEEPING})
        elif name == "network" and isinstance(value, list):
            sizes, n_classes = _network_sizes(value)
            flat["network"] = sizes if sizes is not None else value
            flat["readout_classes"] = info.get("readout_classes", n_classes)
        else:
            flat[name] = value
    return flat


def differing_settings(runs: Sequence[RunSummary]) -> list[str]:
    """Names of the :func:`comparable_settings` in which the runs differ (a setting one run lacks differs)."""
    settings = [comparable_settings(r.settings) for r in runs]
    names = list(dict.fromkeys(name for each in settings for name in each))
    return [name for name in names if len({json.dumps(each.get(name, _MISSING), sort_keys=True)
                                           for each in settings}) > 1]


def group_runs(runs: Sequence[RunSummary]) -> list[list[RunSummary]]:
    """The runs grouped by their :func:`comparable_settings` (runs that differ only in seed and bookkeeping),
    groups in order of their first run."""
    groups: dict[str, list[RunSummary]] = {}
    for run in runs:
        groups.setdefault(json.dumps(comparable_settings(run.settings), sort_keys=True), []).append(run)
    return list(groups.values())


_MISSING = "(not set)"


def _values_of(runs: Sequence[RunSummary], name: str) -> list[tuple[str, str]]:
    """(value, the runs that have it) of one setting, for messages."""
    paths: dict[str, list[str]] = {}
    for run in runs:
        value = comparable_settings(run.settings).get(name, _MISSING)
        paths.setdefault(value if value is _MISSING else json.dumps(value), []).append(run.path)
    return [(value, ", ".join(names)) for value, names in paths.items()]


def _network_sizes(network: list) -> tuple[list[int] | None, int | None]:
    """(spiking layer sizes, read-out classes or None) of a run.json's ``network``: numbers (current files) or
    strings with a last ``"<n>(read-out)"`` entry (older files); (None, None) if it is neither."""
    entries = list(network)
    n_classes = None
    if entries and isinstance(entries[-1], str) and entries[-1].endswith("(read-out)"):
        n_classes = entries.pop()[:-len("(read-out)")]
        if not n_classes.isdigit():
            return None, None
        n_classes = int(n_classes)
    sizes = []
    for entry in entries:
        if isinstance(entry, str) and entry.isdigit():
            entry = int(entry)
        if isinstance(entry, bool) or not isinstance(entry, int):
            return None, None
        sizes.append(entry)
    return sizes, n_classes


def seed_statistics(runs: Sequence[RunSummary]) -> SeedStatistics:
    """Statistics over the runs that have a last-epoch test accuracy.

    Raises
    ------
    ValueError
        If no run has a test accuracy, or if the runs differ in a setting other than the seed
        (:func:`comparable_settings`); the message names the differing settings and their values.
    """
    scored = [r for r in runs if r.test_accuracy is not None]
    if not scored:
        raise ValueError("no run has a test accuracy to summarise")
    differing = differing_settings(scored)
    if differing:
        raise ValueError("cannot average runs with different settings: " + "; ".join(
            f"{name} " + " vs ".join(f"{value} ({paths})" for value, paths in _values_of(scored, name))
            for name in differing))
    accuracies = [r.test_accuracy for r in scored]
    n_layers = min((len(r.spikes_per_sample) for r in scored), default=0)
    spikes = tuple(statistics.fmean(r.spikes_per_sample[k] for r in scored) for k in range(n_layers))
    return SeedStatistics(len(scored), statistics.fmean(accuracies), statistics.pstdev(accuracies),
                          min(accuracies), max(accuracies), spikes)


def format_summary(runs: Sequence[RunSummary]) -> str:
    """A plain-text table of the runs (full paths), grouped by settings, with a mean +- std line per group of two
    or more runs.

    Runs are grouped by :func:`comparable_settings` (``run.json`` without the seed and bookkeeping; runs without a
    ``run.json`` form one group): only runs of one group are averaged. When there are several groups, a first line
    names the settings in which they differ and each group's heading gives its values.
    """

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}"

    width = max([3] + [len(r.path) for r in runs])
    header = (f"{'run':<{width}} {'epoch':>5} {'test %':>7} {'best %':>7} {'train %':>8} {'s/epoch':>8} "
              f"{'bwd/fwd':>7}  spikes per test sample (per layer)")
    groups = group_runs(runs)
    differing = differing_settings(runs)
    lines = []
    if len(groups) > 1:
        lines.append(f"{len(groups)} groups of runs with different settings, each averaged on its own; they differ "
                     f"in: {', '.join(differing)}")
    for number, group in enumerate(groups, start=1):
        if len(groups) > 1:
            settings = comparable_settings(group[0].settings)
            lines.append(f"group {number}: " + ", ".join(f"{name} {json.dumps(settings.get(name, _MISSING))}"
                                                        for name in differing))
        lines.append(header)
        for r in group:
            lines.append(f"{r.path:<{width}} {r.epochs:>5} {percent(r.test_accuracy):>7} "
                         f"{percent(r.best_test_accuracy):>7} {percent(r.train_accuracy):>8} {r.median_epoch_s:>8.1f} "
                         f"{r.backward_forward:>7.2f}  " + " / ".join(f"{s:.1f}" for s in r.spikes_per_sample))
        if len(group) >= 2 and any(r.test_accuracy is not None for r in group):
            stats = seed_statistics(group)
            epochs = sorted({r.epochs for r in group})
            note = "" if len(epochs) == 1 else f" (runs at different epochs: {epochs})"
            lines.append(f"last-epoch test accuracy over {stats.n_runs} runs: {100 * stats.mean:.2f} +- "
                         f"{100 * stats.std:.2f} % (population std; min {100 * stats.minimum:.2f}, max "
                         f"{100 * stats.maximum:.2f}); mean spikes per sample "
                         + " / ".join(f"{s:.1f}" for s in stats.mean_spikes_per_sample) + note)
    lines.append("best % = highest test accuracy of any epoch, for reference only (selecting it would tune on the "
                 "test set)")
    return "\n".join(lines)


def _model_run_id(model, model_file: str) -> str | None:
    """The run id a ``model.npz`` carries: in the JSON header of the self-describing format (eventsnn.saved), or
    as the ``run_id`` entry of the files written before that format."""
    if "header" in model:
        header = model.array("header", kinds="U", ndim=0)
        try:
            metadata = json.loads(str(header[()])).get("metadata", {})
        except (ValueError, AttributeError) as error:
            raise FileFormatError(f"{model_file}: field 'header' is not a JSON object ({error})") from None
        run_id = metadata.get("run_id") if isinstance(metadata, dict) else None
        if run_id is not None and not isinstance(run_id, str):
            raise FileFormatError(f"{model_file}: field 'header.metadata.run_id' must be a string, got {run_id!r}")
        return run_id
    return str(model.array("run_id", kinds="U", ndim=0)) if "run_id" in model else None


def load_trained(path: str | os.PathLike, *, data_path: str | None = None, n_train: int | None = None,
                 n_test: int | None = None):
    """The task of a command-line run directory with its trained weights, ready to evaluate or analyse.

    Rebuilds data, network and training settings from ``run.json`` (:func:`eventsnn.tasks.make_task` with the
    stored task, preset, width, neuron time constants and loss; every stored :class:`~eventsnn.training.TrainConfig`
    setting) and loads ``model.npz`` (weights, trained delays, read-out weights) into it.

    Parameters
    ----------
    path : str or PathLike
        Run directory written by ``eventsnn train --out DIR`` (needs ``run.json`` and ``model.npz``).
    data_path : str, optional
        Data directory for MNIST / Fashion-MNIST (default: the usual search, e.g. ``$EVENTSNN_DATA``).
    n_train, n_test : int, optional
        First samples of each split to load (default: as in the run).

    Returns
    -------
    eventsnn.tasks.Task
        ``net`` (and ``readout``) hold the trained weights; ``config`` the run's settings.

    Raises
    ------
    FileNotFoundError
        If ``run.json`` or ``model.npz`` is missing.
    FileFormatError
        (a ValueError) If a field of ``run.json`` or ``model.npz`` is missing or malformed: weights must be finite
        real numbers of exactly the shapes ``run.json`` describes (no broadcasting), delays >= 0, and both files
        must carry the same ``run_id`` (files of two runs are never combined). Checked before any data is loaded.

    Examples
    --------
    After ``eventsnn train yinyang --out runs/yinyang`` (tests/test_training.py runs this and checks that the
    evaluation reproduces the recorded test accuracy)::

        from eventsnn.runs import load_trained
        from eventsnn.training import Trainer

        task = load_trained("runs/yinyang")
        Trainer(task.net, task.train_inputs, task.train_labels, config=task.config,
                readout=task.readout).evaluate(task.test_inputs, task.test_labels)
    """
    from eventsnn.tasks import make_task
    from eventsnn.training import TrainConfig

    path = os.fspath(path)
    for name in ("run.json", "model.npz"):
        if not os.path.isfile(os.path.join(path, name)):
            raise FileNotFoundError(f"{os.path.join(path, name)} not found: not a finished command-line run")
    info_file = os.path.join(path, "run.json")
    info = read_json(info_file)
    settings = _checked_run_info(info, info_file)
    sizes, n_classes = settings["sizes"], settings["n_classes"]
    shapes = [(sizes[k], sizes[k + 1]) for k in range(len(sizes) - 1)]
    stored = info["config"]
    model_file = os.path.join(path, "model.npz")
    # the model is read and checked before the task (data, network) is built: a bad file costs no work
    with open_npz(model_file) as model:
        model_id = _model_run_id(model, model_file)
        if model_id != info.get("run_id"):
            raise FileFormatError(f"{model_file}: field 'run_id' is {model_id!r} but {info_file} has run_id "
                                  f"{info.get('run_id')!r}: the two files belong to different runs")
        weights = [model.parameters(f"weight_{k}", shape) for k, shape in enumerate(shapes)]
        extra = sorted(name for name in model.files if name.startswith("weight_")
                       and name not in {f"weight_{k}" for k in range(len(shapes))})
        if extra:
            raise FileFormatError(f"{model_file}: field {extra[0]!r} is not a layer of the network {info['network']} "
                                  f"that {info_file} describes")
        delays = []
        if stored.get("train_delays"):
            delays = [model.parameters(f"delay_{k}", shape, nonnegative=True) for k, shape in enumerate(shapes)]
        readout = None
        if n_classes is not None:
            readout = model.parameters("readout_weight", (sizes[-1], n_classes))
        elif "readout_weight" in model:
            raise FileFormatError(f"{model_file}: field 'readout_weight' present, but {info_file} describes no "
                                  f"read-out")
    try:
        # the hidden layer is sizes[1] unless the network is input-output only
        hidden = sizes[1] if len(sizes) > 2 or n_classes is not None else None
        # run.json files written before validation splits have no "selection": their runs trained on the whole
        # training set, and their preset "eventprop" is the one now called "eventprop-draft-2021-04"
        selection = info.get("selection")
        preset = info.get("preset")
        if selection is None and preset == "eventprop":
            preset = "eventprop-draft-2021-04"
        validation = isinstance(selection, dict) and selection.get("split") == "validation"
        task = make_task(info["task"], hidden=hidden, seed=info["seed"],
                         data_path=data_path, n_train=info["n_train"] if n_train is None else n_train,
                         n_test=info["n_test"] if n_test is None else n_test, tau_mem=info["tau_mem"],
                         tau_syn=info["tau_syn"], loss=stored["loss"], preset=preset, validation=validation,
                         n_validation=info.get("n_validation") if validation else None)
        fields = set(TrainConfig.__dataclass_fields__)
        # the stored settings together (validated as one config; input_shape's JSON list becomes a tuple there)
        task.config = replace(task.config, **{name: value for name, value in stored.items() if name in fields})
    except (TypeError, ValueError) as error:
        if data_path is not None or n_train is not None or n_test is not None:
            raise
        raise FileFormatError(f"{info_file}: its settings do not build a task ({error})") from None
    built = [c.weights.shape for c in task.net.connections]
    if built != shapes or (task.readout is None) != (n_classes is None):
        raise FileFormatError(f"{info_file}: field 'network' {info['network']} does not match the network its "
                              f"task and settings build ({built})")
    task.net.set_weights(weights)
    for connection, delay in zip(task.net.connections, delays):
        connection.delays = delay
    if task.readout is not None:
        task.readout.weights[...] = readout
    return task


_INFO_TYPES = {"task": (str,), "seed": (int,), "n_train": (int, type(None)), "n_test": (int, type(None)),
               "tau_mem": (int, float), "tau_syn": (int, float), "preset": (str, type(None)), "config": (dict,),
               "network": (list,), "run_id": (str, type(None)), "readout_classes": (int, type(None))}


def _checked_run_info(info: object, file: str) -> dict:
    """Check the fields of a ``run.json`` that :func:`load_trained` uses; returns the layer sizes and the number of
    read-out classes (None without a read-out)."""
    from eventsnn.tasks import TASKS
    from eventsnn.training import TrainConfig
    if not isinstance(info, dict):
        raise FileFormatError(f"{file} must hold a JSON object, got {type(info).__name__}")
    for name, types in _INFO_TYPES.items():
        if name in ("run_id", "preset", "readout_classes") and name not in info:  # absent from older files
            continue
        if name not in info:
            raise FileFormatError(f"{file}: field {name!r} is missing")
        value = info[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise FileFormatError(f"{file}: field {name!r} has type {type(value).__name__}, expected "
                                  f"{' or '.join(t.__name__ for t in types)}")
    if info["task"] not in TASKS:
        raise FileFormatError(f"{file}: field 'task' is {info['task']!r}, expected one of {list(TASKS)}")
    for name in ("n_train", "n_test"):
        if info[name] is not None and info[name] < 1:
            raise FileFormatError(f"{file}: field {name!r} is {info[name]}, expected an int >= 1 or null")
    for name in ("tau_mem", "tau_syn"):
        if not (math.isfinite(info[name]) and info[name] > 0):
            raise FileFormatError(f"{file}: field {name!r} is {info[name]!r}, expected a finite number > 0 (ms)")
    if info["seed"] < 0:
        raise FileFormatError(f"{file}: field 'seed' is {info['seed']}, expected an int >= 0")
    unknown = sorted(set(info["config"]) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise FileFormatError(f"{file}: field 'config' has unknown settings {unknown}")
    if "loss" not in info["config"]:
        raise FileFormatError(f"{file}: field 'config' lacks the setting 'loss'")
    network = info["network"]
    sizes, n_classes = _network_sizes(network)
    if "readout_classes" in info:  # current files: numbers, the read-out in its own field
        n_classes = info["readout_classes"]
        if any(isinstance(entry, str) for entry in network) or n_classes is not None and (
                isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1):
            raise FileFormatError(f"{file}: fields 'network' {network!r} and 'readout_classes' {n_classes!r} must be "
                                  f"layer sizes such as [784, 350] and an int >= 1 or null")
    if sizes is None or len(sizes) < 2 or min(sizes) < 1 or n_classes is not None and n_classes < 1:
        raise FileFormatError(f"{file}: field 'network' is {network!r}, expected layer sizes such as "
                              f"[5, 200, 3], or [784, 350] with 'readout_classes': 10")
    return {"sizes": sizes, "n_classes": n_classes}
