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
from dataclasses import dataclass, field
from typing import Sequence


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
    ValueError
        If the file is not a list of per-epoch dicts.
    """
    path = os.fspath(path)
    file = os.path.join(path, "metrics.json")
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{file} not found: not a run directory, or no epoch has finished yet")
    with open(file) as handle:
        history = json.load(handle)
    if not isinstance(history, list) or not history or not all(isinstance(row, dict) for row in history):
        raise ValueError(f"{file} must hold a non-empty list of per-epoch dicts")
    settings = {}
    if os.path.isfile(os.path.join(path, "run.json")):
        with open(os.path.join(path, "run.json")) as handle:
            settings = json.load(handle)
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


def seed_statistics(runs: Sequence[RunSummary]) -> SeedStatistics:
    """Statistics over the runs that have a last-epoch test accuracy.

    Raises
    ------
    ValueError
        If no run has a test accuracy.
    """
    scored = [r for r in runs if r.test_accuracy is not None]
    if not scored:
        raise ValueError("no run has a test accuracy to summarise")
    accuracies = [r.test_accuracy for r in scored]
    n_layers = min((len(r.spikes_per_sample) for r in scored), default=0)
    spikes = tuple(statistics.fmean(r.spikes_per_sample[k] for r in scored) for k in range(n_layers))
    return SeedStatistics(len(scored), statistics.fmean(accuracies), statistics.pstdev(accuracies),
                          min(accuracies), max(accuracies), spikes)


def format_summary(runs: Sequence[RunSummary]) -> str:
    """A plain-text table of the runs and, for two or more runs, their mean +- std line."""

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}"

    lines = [f"{'run':<40} {'epoch':>5} {'test %':>7} {'best %':>7} {'train %':>7} {'s/epoch':>8} {'bwd/fwd':>7}  "
             "spikes per test sample (per layer)"]
    for r in runs:
        name = r.path if len(r.path) <= 40 else "..." + r.path[-37:]
        lines.append(f"{name:<40} {r.epochs:>5} {percent(r.test_accuracy):>7} {percent(r.best_test_accuracy):>7} "
                     f"{percent(r.train_accuracy):>7} {r.median_epoch_s:>8.1f} {r.backward_forward:>7.2f}  "
                     + " / ".join(f"{s:.1f}" for s in r.spikes_per_sample))
    if len(runs) >= 2:
        stats = seed_statistics(runs)
        epochs = sorted({r.epochs for r in runs})
        note = "" if len(epochs) == 1 else f" (runs at different epochs: {epochs})"
        lines.append(f"last-epoch test accuracy over {stats.n_runs} runs: {100 * stats.mean:.2f} +- "
                     f"{100 * stats.std:.2f} % (population std; min {100 * stats.minimum:.2f}, max "
                     f"{100 * stats.maximum:.2f}); mean spikes per sample "
                     + " / ".join(f"{s:.1f}" for s in stats.mean_spikes_per_sample) + note)
    lines.append("best % = highest test accuracy of any epoch, for reference only (selecting it would tune on the "
                 "test set)")
    return "\n".join(lines)


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
    import numpy as np

    from eventsnn.tasks import make_task
    from eventsnn.training import TrainConfig

    path = os.fspath(path)
    for name in ("run.json", "model.npz"):
        if not os.path.isfile(os.path.join(path, name)):
            raise FileNotFoundError(f"{os.path.join(path, name)} not found: not a finished command-line run")
    with open(os.path.join(path, "run.json")) as handle:
        info = json.load(handle)
    stored = info["config"]
    sizes = info["network"]
    task = make_task(info["task"], hidden=int(sizes[1]) if len(sizes) > 2 else None, seed=info["seed"],
                     data_path=data_path, n_train=info["n_train"] if n_train is None else n_train,
                     n_test=info["n_test"] if n_test is None else n_test, tau_mem=info["tau_mem"],
                     tau_syn=info["tau_syn"], loss=stored["loss"], preset=info.get("preset"))
    fields = set(TrainConfig.__dataclass_fields__)
    for name, value in stored.items():
        if name in fields:
            setattr(task.config, name, tuple(value) if name == "input_shape" and value is not None else value)
    task.config.__post_init__()
    with np.load(os.path.join(path, "model.npz")) as model:
        for k, connection in enumerate(task.net.connections):
            if model[f"weight_{k}"].shape != connection.weights.shape:
                raise ValueError(f"{path}: model.npz layer {k} has shape {model[f'weight_{k}'].shape}, but run.json "
                                 f"describes {connection.weights.shape}")
            connection.weights[...] = model[f"weight_{k}"]
            if stored.get("train_delays"):
                connection.delays = np.array(model[f"delay_{k}"], dtype=np.float64)
        if task.readout is not None:
            task.readout.weights[...] = model["readout_weight"]
    return task
