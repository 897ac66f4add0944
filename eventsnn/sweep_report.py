"""Sweep reports: the runs of a sweep summarised per point, and the accuracy-vs-spikes figure.

:func:`report` reads the run directories: a table of every point with the mean +- population std
over seeds of the chosen metrics (printed, ``OUT/summary.csv``; one row per run in ``OUT/runs.csv``) and the
figure ``OUT/front.png``: the ``front.y`` metric against the ``front.x`` metric, every run a dot, every point's
mean with its std as error bars, and one Pareto front (lower x and higher y is better) per group of ``front.by``.

Also here: :data:`METRICS`, the numbers a specification may ask for (read off a run's ``metrics.json`` and
``run.json``), and the status records of the runs (``OUT/_sweep/<run name>.json``, :func:`read_status`), which
the runner writes and the report reads.
"""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from eventsnn._atomic import atomic_write
from eventsnn._file_validation import read_json
from eventsnn.rundir import run_state

if TYPE_CHECKING:
    from eventsnn.sweep_spec import Run, SweepSpec

STATUS_DIR = "_sweep"


def format_value(value: Any) -> str:
    """A setting's value as the command line reads it back exactly (floats by repr, which round-trips).

    Examples
    --------
    >>> format_value(1e-3), format_value(True), format_value(3)
    ('0.001', 'true', '3')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


# Metrics of a finished run: name -> Metric (how to print it, how to read it from (history, run.json))


def _last(name: str) -> Callable:
    return lambda history, info: history[-1].get(name)


def _layer_spikes(history: list, info: dict) -> tuple:
    """(hidden, output) spikes per test sample of the last epoch; a read-out network has no spiking output."""
    spikes = history[-1].get("test_spikes_per_sample") or []
    # run.json names the read-out's classes (readout_classes); files from before that marked its size "N(read-out)"
    has_readout = info.get("readout_classes") is not None or (
        bool(info.get("network")) and str(info["network"][-1]).endswith("(read-out)"))
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


# Run status on disk (OUT/_sweep/<name>.json, written atomically by whoever changes it)


def status_path(out: str, run: "Run") -> str:
    """Where the status record of ``run`` is kept: ``OUT/_sweep/<run name>.json``."""
    return os.path.join(out, STATUS_DIR, run.name + ".json")


def read_status(out: str, run: "Run") -> dict:
    """The status record of ``run`` (``{"status": "missing"}`` if it never started); ``"done"`` only if it
    finished with the command line it has now (a changed [fixed] epochs, say, makes it resume)."""
    path = status_path(out, run)
    if not os.path.isfile(path):
        return {"status": "missing"}
    try:
        record = read_json(path)
    except (OSError, ValueError) as error:  # FileFormatError is a ValueError: run it again, saying why
        return {"status": "missing", "error": f"unreadable status record ({error})"}
    if not isinstance(record, dict):
        return {"status": "missing", "error": f"{path}: a status record must be a JSON object"}
    if record.get("status") in ("done", "failed") and record.get("argv") != list(run.argv):
        return {**record, "status": "stale"}
    if record.get("status") == "done" and run_state(os.path.join(out, run.name)) != "finished":
        return {**record, "status": "missing"}  # its directory was deleted or replaced since
    return record


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
    """Metric values of a finished run (its metrics.json and run.json); NaN for every metric if those files cannot
    be read (the report then shows the run as done without values rather than failing after the sweep)."""
    run_dir = os.path.join(out, run.name)
    try:
        history = read_json(os.path.join(run_dir, "metrics.json"))
        info_path = os.path.join(run_dir, "run.json")
        info = read_json(info_path) if os.path.isfile(info_path) else {}
    except (OSError, ValueError):
        return {name: math.nan for name in metrics}
    if not isinstance(history, list) or not history or not all(isinstance(row, dict) for row in history) \
            or not isinstance(info, dict):
        return {name: math.nan for name in metrics}
    values = {}
    for name in metrics:
        try:
            value = METRICS[name].read(history, info)
            values[name] = math.nan if value is None else float(value)
        except (KeyError, IndexError, TypeError, ValueError):  # a metric the run's files do not hold (well)
            values[name] = math.nan
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
    # a bare Figure, not pyplot: the caller's matplotlib backend (a notebook's, say) is left alone
    from matplotlib.figure import Figure

    from eventsnn.plot import save_figure
    front = spec.front
    x_scale = 100.0 if METRICS[front.x].percent else 1.0
    y_scale = 100.0 if METRICS[front.y].percent else 1.0
    groups: dict = {}
    for run, record, values in per_run:
        if not values:
            continue
        label = " ".join(f"{k}={format_value(run.settings[k])}" for k in front.by if k in run.settings) or "all"
        groups.setdefault(label, {}).setdefault(run.point, []).append((values[front.x] * x_scale,
                                                                       values[front.y] * y_scale))
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
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
    return save_figure(fig, os.path.join(out, "front.png"), dpi=120)
