"""Compact records of a sweep, small enough to commit: per finished run its ``run.json`` and its per-epoch metrics,
no checkpoint, model or figure, plus the per-point summary.

:func:`export_records` writes ``DEST/<point>/seed-N/run.json`` and ``DEST/<point>/seed-N/metrics.json`` for every
finished run of a sweep (``<point>`` is the run's directory name without its seed, ``all`` for a sweep of one
point), ``DEST/summary.csv`` (per point: n, mean, sample std and 95 % t-interval of the validation and test
metrics, :func:`eventsnn.sweep_report.summary_rows`) and ``DEST/runs.csv`` (one row per exported run). The layout
is the one of ``docs/runs/`` (docs/runs/README.md): ``eventsnn summary DEST/<point>/seed-*`` reads it like the
original run directories.

Machine paths do not travel: the ``--out`` directory in a ``run.json``'s command line becomes
``<scratch>/<run name>`` (docs/runs/README.md) and a ``--data`` directory ``<data>``. ``metrics.json`` is the
run's own list of per-epoch dicts, written one epoch per line (the run directory's file is indented, about
twice the size). Every file is written atomically (:mod:`eventsnn._atomic`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventsnn._atomic import atomic_write, write_json
from eventsnn._file_validation import read_json
from eventsnn.sweep_report import collect, report_metrics, summary_rows, write_rows

if TYPE_CHECKING:
    from eventsnn.sweep_spec import Run, SweepSpec

#: metrics every exported summary holds, besides those the specification reports
EXPORTED_METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "spikes")
#: what replaces the values of these command-line options in an exported run.json (machine paths)
PATH_OPTIONS = {"--out": "<scratch>/{run}", "--data": "<data>"}


@dataclass
class Export:
    """What :func:`export_records` wrote.

    Attributes
    ----------
    directory : str
        ``DEST``.
    records : list of str
        The run record directories written (``DEST/<point>/seed-N``).
    not_done : list of str
        Names of the runs of the specification that are not finished (nothing exported for them).
    summary_csv, runs_csv : str
    largest_bytes : int
        Size of the largest record (its two files together), in bytes.
    """

    directory: str
    records: list
    not_done: list
    summary_csv: str
    runs_csv: str
    largest_bytes: int


def point_directory(spec: "SweepSpec", run: "Run") -> str:
    """The directory of a run's point in an export: its run name without the seed (``all`` if nothing else
    differs between the runs).

    Examples
    --------
    >>> from eventsnn.sweep_spec import spec_from_dict
    >>> spec = spec_from_dict({"sweep": {"task": "yinyang", "seeds": [0, 1]}, "grid": {"lr": [1e-3, 2e-3]}})
    >>> [point_directory(spec, run) + "/seed-" + str(run.seed) for run in spec.runs[:2]]
    ['lr-0.001/seed-0', 'lr-0.001/seed-1']
    """
    suffix = f"seed-{run.seed}"
    if run.name == suffix or run.name == "run":
        return "all"
    return run.name[:-len("__" + suffix)] if run.name.endswith("__" + suffix) else run.name


def _portable(info: dict, run: "Run") -> dict:
    """``run.json`` with the machine paths of its command lines (the run's and each resumption's) replaced."""
    def clean(argv: list) -> list:
        argv = list(argv)
        for i, word in enumerate(argv[:-1]):
            if word in PATH_OPTIONS:
                argv[i + 1] = PATH_OPTIONS[word].format(run=run.name)
        return argv

    info = dict(info)
    if isinstance(info.get("argv"), list):
        info["argv"] = clean(info["argv"])
    if isinstance(info.get("resumed"), list):
        info["resumed"] = [{**entry, "argv": clean(entry["argv"])} if isinstance(entry, dict)
                           and isinstance(entry.get("argv"), list) else entry for entry in info["resumed"]]
    return info


def _write_metrics(path: str, history: list) -> None:
    """The per-epoch metrics as a JSON list, one epoch per line (json.loads reads it back unchanged)."""
    with atomic_write(path, "w") as handle:
        handle.write("[\n" + ",\n".join(json.dumps(row, separators=(",", ":")) for row in history) + "\n]\n")


def export_records(spec: "SweepSpec", out: str | os.PathLike, dest: str | os.PathLike) -> Export:
    """Write the compact records of the finished runs of ``spec`` in ``out`` under ``dest`` (module docstring).

    Parameters
    ----------
    spec : SweepSpec
    out : str or PathLike
        The sweep's output directory (read only).
    dest : str or PathLike
        Where the records go (created if missing; files already there are replaced, others left alone).

    Returns
    -------
    Export

    Raises
    ------
    FileNotFoundError
        If ``out`` does not exist.
    ValueError
        If ``dest`` is ``out`` or inside it (the export would mix with the run directories).
    """
    out = os.path.abspath(os.fspath(out))
    dest = os.path.abspath(os.fspath(dest))
    if not os.path.isdir(out):
        raise FileNotFoundError(f"{out} does not exist: no sweep has run there yet")
    if dest == out or dest.startswith(out + os.sep):
        raise ValueError(f"the records' destination {dest} must lie outside the sweep's directory {out}")
    metrics = list(dict.fromkeys([*EXPORTED_METRICS, *report_metrics(spec)]))
    per_run = collect(spec, out, metrics)
    # every record read and checked before anything is written: a bad file stops the export with nothing of it
    # written, rather than half of the records next to the summary of an earlier export
    done, not_done = [], []
    for run, record, values in per_run:
        if record["status"] != "done":
            not_done.append(run.name)
            continue
        source = os.path.join(out, run.name)
        info, history = read_json(os.path.join(source, "run.json")), read_json(os.path.join(source, "metrics.json"))
        if not isinstance(info, dict) or not isinstance(history, list):
            raise ValueError(f"{source}: run.json must hold an object and metrics.json a list")
        done.append((run, values, info, history))
    records, rows, largest = [], [], 0
    for run, values, info, history in done:
        target = os.path.join(dest, point_directory(spec, run), f"seed-{run.seed}")
        os.makedirs(target, exist_ok=True)
        write_json(os.path.join(target, "run.json"), _portable(info, run))
        _write_metrics(os.path.join(target, "metrics.json"), history)
        largest = max(largest, sum(os.path.getsize(os.path.join(target, name)) for name in ("run.json",
                                                                                          "metrics.json")))
        records.append(target)
        rows.append({"record": os.path.relpath(target, dest), "point": run.point, "seed": run.seed,
                     **{name: values.get(name, "") for name in metrics}})
    os.makedirs(dest, exist_ok=True)
    summary_csv, runs_csv = os.path.join(dest, "summary.csv"), os.path.join(dest, "runs.csv")
    write_rows(summary_csv, [{"point": point, **row} for point, row in
                             zip(dict.fromkeys(run.point for run in spec.runs), summary_rows(spec, per_run, metrics))])
    write_rows(runs_csv, rows)
    return Export(directory=dest, records=records, not_done=not_done, summary_csv=summary_csv, runs_csv=runs_csv,
                  largest_bytes=largest)
