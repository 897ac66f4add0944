"""Sweep reports: the runs of a sweep summarised per point, compared, chosen on validation, and drawn.

:func:`report` reads the run directories and writes:

* a table of every point with, for each metric, the mean, the sample standard deviation (``ddof=1``) and the 95 %
  t-interval of the mean over its seeds (printed, ``OUT/summary.csv``; one row per run in ``OUT/runs.csv``);
* Welch tests between the pairs of points the specification asks for (``[report] compare``: named pairs, the
  neighbours on each front, the points chosen on validation; on the front's two metrics), each with a verdict:
  "A dominates B" only when both metrics differ at p < 0.05 in A's favour (printed, ``OUT/compare.csv``);
* the points chosen on a validation metric in each group (``[report] choose``) with their test metrics
  (printed, ``OUT/chosen.csv``);
* the figure ``OUT/front.png``: the ``front.y`` metric against the ``front.x`` metric (on ``front.x_scale``), every
  run a dot, every point's mean with its std as error bars, one Pareto front per group of ``front.by``, better
  being the direction of each metric (``Metric.direction``: higher accuracy, fewer spikes, lower loss), and a ring
  around each point chosen on validation.

Also here: :data:`METRICS`, the numbers a specification may ask for (read off a run's ``metrics.json`` and
``run.json``), and the status records of the runs (``OUT/_sweep/<run name>.json``, :func:`read_status`), which
the runner writes and the report reads. The statistics are :mod:`eventsnn.sweep_stats`'s; compact copies of the
records to commit: :mod:`eventsnn.sweep_records`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import math
import os
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from eventsnn._atomic import atomic_write
from eventsnn._file_validation import read_json
from eventsnn.rundir import run_state
from eventsnn.sweep_stats import ALPHA, CONFIDENCE, Summary, Welch, summarise, welch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from eventsnn.sweep_spec import Run, SweepSpec

STATUS_DIR = "_sweep"
#: the statuses the runner writes into a run's status record (read_status adds "missing" and "stale")
RECORDED_STATUSES = ("running", "done", "failed")


#: what ``[report] compare`` may name besides pairs of points: each point of a front against its neighbours on it
#: ("front"), and the points chosen on validation by ``[report] choose`` against each other ("chosen")
COMPARE_FRONT = "front"
COMPARE_CHOSEN = "chosen"
COMPARE_MODES = (COMPARE_FRONT, COMPARE_CHOSEN)


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


def _total(name: str) -> Callable:
    """The sum over layers of a per-layer metric of the last epoch (NaN if the run did not record it)."""
    return lambda history, info: float(sum(history[-1].get(name) or [math.nan]))


def _layer_spikes(history: list, info: dict) -> tuple:
    """(hidden, output) spikes per test sample of the last epoch; a read-out network has no spiking output."""
    spikes = history[-1].get("test_spikes_per_sample") or []
    # run.json names the read-out's classes (readout_classes); files from before that marked its size "N(read-out)"
    has_readout = info.get("readout_classes") is not None or (
        bool(info.get("network")) and str(info["network"][-1]).endswith("(read-out)"))
    if has_readout:
        return float(sum(spikes)), 0.0
    return float(sum(spikes[:-1])), float(spikes[-1]) if spikes else 0.0


DIRECTIONS = ("higher", "lower")
DATA = ("training", "validation", "test", "none")


@dataclass(frozen=True)
class Metric:
    """A number read off a finished run directory (its last epoch unless said otherwise).

    Attributes
    ----------
    description : str
    percent : bool
        A fraction shown in percent.
    read : callable
        ``read(history, info)``: the value from the run's ``metrics.json`` rows and ``run.json``.
    direction : {"higher", "lower"}
        Which values are better: fronts, "dominates" statements and choices follow it.
    data : {"training", "validation", "test", "none"}
        The samples it is measured on; a choice (``[report] choose``) may use validation metrics only.
    """

    description: str
    percent: bool
    read: Callable
    direction: str = "higher"
    data: str = "test"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.data not in DATA:
            raise ValueError(f"data must be one of {DATA}, got {self.data!r}")

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "higher" else a < b


METRICS = {
    "test_accuracy": Metric("test accuracy (%)", True, _last("test_accuracy")),
    "val_accuracy": Metric("validation accuracy (%)", True, _last("val_accuracy"), data="validation"),
    "train_accuracy": Metric("training accuracy (%)", True, _last("train_accuracy"), data="training"),
    "test_loss": Metric("test loss", False, _last("test_loss"), "lower"),
    "val_loss": Metric("validation loss", False, _last("val_loss"), "lower", "validation"),
    "loss": Metric("training loss", False, _last("loss"), "lower", "training"),
    "spikes": Metric("spikes per test sample (all layers)", False, _total("test_spikes_per_sample"), "lower"),
    "val_spikes": Metric("spikes per validation sample (all layers)", False, _total("val_spikes_per_sample"),
                         "lower", "validation"),
    "hidden_spikes": Metric("hidden-layer spikes per test sample", False, lambda h, info: _layer_spikes(h, info)[0],
                            "lower"),
    "output_spikes": Metric("output spikes per test sample", False, lambda h, info: _layer_spikes(h, info)[1],
                            "lower"),
    "spikes_until_first_output": Metric("spikes until the first output spike", False,
                                        _last("test_spikes_until_first_output"), "lower"),
    "epoch_s": Metric("median wall time per epoch (s)", False,
                      lambda h, info: statistics.median(r["epoch_s"] for r in h), "lower", "none"),
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
    if not isinstance(record.get("status"), str) or record["status"] not in RECORDED_STATUSES:
        # a hand-edited or foreign file: its run is run again (every reader indexes and compares "status")
        return {"status": "missing", "error": f"{path}: status must be one of {', '.join(RECORDED_STATUSES)}, got "
                                              f"{record.get('status')!r}"}
    if record.get("status") in ("done", "failed") and record.get("argv") != list(run.argv):
        return {**record, "status": "stale"}
    if record.get("status") == "done" and run_state(os.path.join(out, run.name)) != "finished":
        return {**record, "status": "missing"}  # its directory was deleted or replaced since
    return record


def pareto_front(points: Sequence[tuple[float, float]],
                 directions: tuple[str, str] = ("lower", "higher")) -> list[tuple[float, float]]:
    """The points no other point beats: none is at least as good in both coordinates while differing, better
    being each coordinate's direction (default: lower x, e.g. spikes, and higher y, e.g. accuracy); sorted by x.
    Points with a NaN coordinate are left out.

    Parameters
    ----------
    points : sequence of (x, y)
    directions : (str, str)
        ``"higher"`` or ``"lower"`` for x and for y (``Metric.direction``).

    Examples
    --------
    >>> pareto_front([(10.0, 0.90), (20.0, 0.95), (15.0, 0.85), (30.0, 0.95), (5.0, 0.80)])
    [(5.0, 0.8), (10.0, 0.9), (20.0, 0.95)]
    >>> pareto_front([(10.0, 0.3), (20.0, 0.1), (15.0, 0.4), (5.0, 0.5)], directions=("lower", "lower"))
    [(5.0, 0.5), (10.0, 0.3), (20.0, 0.1)]
    """
    for direction in directions:
        if direction not in DIRECTIONS:
            raise ValueError(f"directions must hold 'higher' or 'lower', got {directions!r}")
    sign = [1.0 if d == "lower" else -1.0 for d in directions]  # compare as "lower is better" in both
    finite = [(float(x), float(y)) for x, y in points if not (math.isnan(x) or math.isnan(y))]

    def beats(q: tuple, p: tuple) -> bool:
        return q != p and sign[0] * q[0] <= sign[0] * p[0] and sign[1] * q[1] <= sign[1] * p[1]

    front = [p for p in finite if not any(beats(q, p) for q in finite)]
    return sorted(set(front))


@dataclass
class Report:
    """The report of a sweep (:func:`report`).

    Attributes
    ----------
    text : str
        What is printed: the table of points (mean +- sample std [95 % t-interval] over the finished seeds of each
        metric), then the Welch tests and the choices made on validation, if the specification asks for them.
    rows : list of dict
        The rows of ``summary.csv``: a point's settings, runs done / failed, and per metric ``_n``, ``_mean``,
        ``_std`` (ddof=1), ``_ci_low`` and ``_ci_high``.
    summary_csv, runs_csv : str
        Paths of the per-point and per-run tables.
    figure : str or None
        Path of the accuracy-vs-spikes figure (None until some run is done).
    comparisons : list of dict
        The rows of ``compare.csv``: per pair and metric the difference of the means, its 95 % Welch interval, t,
        df, p and the pair's verdict.
    chosen : list of dict
        The rows of ``chosen.csv``: per group, the point chosen on validation and its metrics.
    """

    text: str
    rows: list
    summary_csv: str
    runs_csv: str
    figure: str | None
    comparisons: list = dataclasses.field(default_factory=list)
    chosen: list = dataclasses.field(default_factory=list)


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
        except (KeyError, IndexError, TypeError, ValueError):  # a metric the run's files do not hold (well)
            value = None
        # a number, as the trainer writes it: a string, a bool or an infinity (JSON's Infinity, 1e999) is not one
        # (the statistics would count "0.5" and true, and fail on an infinity)
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        values[name] = float(value) if number else math.nan
    return values


def report_metrics(spec: SweepSpec) -> list:
    """Every metric a report of ``spec`` shows: ``[report] metrics``, the front's two, and the choices' ones."""
    chosen = [name for choice in spec.choose for name in (choice.on, *choice.report)]
    return list(dict.fromkeys([*spec.metrics, spec.front.x, spec.front.y, *chosen]))


def collect(spec: SweepSpec, out: str, metrics: Sequence[str] | None = None) -> list:
    """(run, status record, metric values) of every run of ``spec`` in ``out``; values (of ``metrics``, default
    :func:`report_metrics`) only for done runs."""
    metrics = report_metrics(spec) if metrics is None else list(metrics)
    per_run = []
    for run in spec.runs:
        record = read_status(out, run)
        values = _run_values(out, run, metrics) if record["status"] == "done" else {}
        per_run.append((run, record, values))
    return per_run


def point_values(per_run: list) -> dict:
    """point -> metric -> the values of its done runs (seeds in the specification's order)."""
    points: dict = {}
    for run, _, values in per_run:
        by_metric = points.setdefault(run.point, {})
        for name, value in values.items():
            by_metric.setdefault(name, []).append(value)
    return points


def summary_rows(spec: SweepSpec, per_run: list, metrics: Sequence[str]) -> list:
    """One row per point: its varying settings, runs / done / failed, and per metric n, mean, sample std and the
    95 % t-interval of the mean (:func:`eventsnn.sweep_stats.summarise`)."""
    values = point_values(per_run)
    rows = []
    for point in dict.fromkeys(run.point for run in spec.runs):
        members = [(run, record) for run, record, _ in per_run if run.point == point]
        settings = members[0][0].settings
        row = {k: settings.get(k, "") for k in spec.varying}
        row.update(runs=len(members), done=sum(r["status"] == "done" for _, r in members),
                   failed=sum(r["status"] == "failed" for _, r in members))
        for name in metrics:
            stats = summarise(values.get(point, {}).get(name, []))
            row.update({f"{name}_n": stats.n, f"{name}_mean": stats.mean, f"{name}_std": stats.std,
                        f"{name}_ci_low": stats.low, f"{name}_ci_high": stats.high})
        rows.append(row)
    return rows


def report(spec: SweepSpec, out: str | os.PathLike) -> Report:
    """Summarise the runs of ``spec`` found in ``out`` (any time: runs not done yet are counted, not averaged).

    Writes ``OUT/summary.csv`` (one row per point: its varying settings, runs done / failed, and for each metric
    its n, mean, sample std and 95 % t-interval over the seeds done), ``OUT/runs.csv`` (one row per run with its
    status, error and metrics), ``OUT/compare.csv`` and ``OUT/chosen.csv`` when the specification asks for
    comparisons or choices, and ``OUT/front.png`` (module docstring).

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
    metrics = report_metrics(spec)
    per_run = collect(spec, out)
    points = list(dict.fromkeys(run.point for run in spec.runs))
    rows = summary_rows(spec, per_run, metrics)
    summary_csv = os.path.join(out, "summary.csv")
    write_rows(summary_csv, rows)
    run_rows = [{"run": run.name, **{k: run.settings.get(k, "") for k in spec.varying}, "seed": run.seed,
                 "status": record["status"], **{name: values.get(name, "") for name in metrics},
                 "error": record.get("error") or ""} for run, record, values in per_run]
    runs_csv = os.path.join(out, "runs.csv")
    write_rows(runs_csv, run_rows)
    text = _format_table(spec, points, rows, metrics, per_run)
    files = [summary_csv, runs_csv]
    comparisons = []
    chosen = choose_points(spec, per_run) if spec.choose else []
    if spec.compare:
        comparisons = compare_points(spec, per_run)
        text += "\n\n" + _format_comparisons(comparisons)
        files.append(os.path.join(out, "compare.csv"))
        write_rows(files[-1], comparisons)
    if spec.choose:
        text += "\n\n" + _format_chosen(spec, chosen)
        files.append(os.path.join(out, "chosen.csv"))
        write_rows(files[-1], chosen)
    figure = _front_figure(spec, out, per_run, chosen) if any(values for _, _, values in per_run) else None
    text += f"\ntables: {', '.join(files)}" + (f"; figure: {figure}" if figure else "")
    return Report(text=text, rows=rows, summary_csv=summary_csv, runs_csv=runs_csv, figure=figure,
                  comparisons=comparisons, chosen=chosen)


def write_rows(path: str, rows: list) -> None:
    """A CSV file of dict rows (columns: every key, in first-seen order; floats by repr), written atomically."""
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    with atomic_write(path, "w") as handle:
        handle.write(buffer.getvalue())


def _digits(name: str, mean: float) -> int:
    return 2 if METRICS[name].percent or abs(mean) < 100 else 1


def format_summary(name: str, stats: Summary) -> str:
    """``mean +- std [low, high]`` of a metric (in percent for fractions); ``n=1`` gives the mean only.

    Examples
    --------
    >>> from eventsnn.sweep_stats import summarise
    >>> format_summary("test_accuracy", summarise([0.97, 0.98, 0.99]))
    '98.00 +- 1.00 [95.52, 100.48]'
    >>> format_summary("spikes", summarise([120.5]))
    '120.5 (n=1: no std, no interval)'
    """
    if math.isnan(stats.mean):
        return "-"
    scale = 100.0 if METRICS[name].percent else 1.0
    digits = _digits(name, stats.mean)
    if stats.n < 2:
        return f"{scale * stats.mean:.{digits}f} (n=1: no std, no interval)"
    return (f"{scale * stats.mean:.{digits}f} +- {scale * stats.std:.{digits}f} "
            f"[{scale * stats.low:.{digits}f}, {scale * stats.high:.{digits}f}]")


def _row_summary(row: dict, name: str) -> Summary:
    return Summary(*(row[f"{name}_{key}"] for key in ("n", "mean", "std", "ci_low", "ci_high")))


def _format_table(spec: SweepSpec, points: list, rows: list, metrics: list, per_run: list) -> str:
    def cell(row: dict, name: str) -> str:
        stats = _row_summary(row, name)
        text = format_summary(name, stats)
        return text + (f" (n={stats.n})" if 0 < stats.n != row["done"] else "")

    cells = [[cell(row, name) for name in metrics] for row in rows]
    width = max([len("point")] + [len(p) for p in points])
    headers = [name + (" %" if METRICS[name].percent else "") for name in metrics]
    widths = [max([len(h) + 2, 16] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    lines = [f"sweep {spec.name} ({spec.task}): mean +- sample std (ddof=1) [{100 * CONFIDENCE:.0f} % t-interval of "
             f"the mean] over the seeds done of {list(spec.seeds)}; runs = done/total",
             f"{'point':<{width}} {'runs':>12} " + " ".join(f"{h:>{w}}" for h, w in zip(headers, widths))]
    for point, row, row_cells in zip(points, rows, cells):
        runs = f"{row['done']}/{row['runs']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        lines.append(f"{point:<{width}} {runs:>12} " + " ".join(f"{c:>{w}}" for c, w in zip(row_cells, widths)))
    failures = [(run, record) for run, record, _ in per_run if record["status"] == "failed"]
    for run, record in failures:
        lines.append(f"failed: {run.name}: {record.get('error')}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------------
# Welch tests between points ([report] compare)


def _group_label(settings: dict, by: Sequence[str]) -> str:
    return " ".join(f"{k}={format_value(settings[k])}" for k in by if k in settings) or "all"


def front_pairs(spec: SweepSpec, per_run: list) -> list:
    """``compare = "front"``: for each group of ``front.by``, the points of its Pareto front of means (better
    being each metric's direction), each paired with its neighbour along the front (sorted by x)."""
    front = spec.front
    directions = (METRICS[front.x].direction, METRICS[front.y].direction)
    values = point_values(per_run)
    groups: dict = {}
    for run in spec.runs:
        groups.setdefault(_group_label(run.settings, front.by), {})[run.point] = None
    pairs = []
    for members in groups.values():
        means = {}
        for point in members:
            x, y = (summarise(values.get(point, {}).get(m, [])).mean for m in (front.x, front.y))
            means.setdefault((x, y), point)  # two points with equal means: the first stands for both
        line = pareto_front(list(means), directions)
        pairs += [(means[a], means[b]) for a, b in zip(line, line[1:])]
    return pairs


def verdict(first: str, second: str, tests: dict) -> str:
    """The sentence a comparison may state: "A dominates B" only when every metric differs at p < ALPHA in A's
    favour (or every one in B's); otherwise which differences are significant and that there is no dominance.

    Parameters
    ----------
    first, second : str
        The points compared (A and B).
    tests : dict
        metric name -> :class:`~eventsnn.sweep_stats.Welch` of ``A - B``.
    """
    def significant(w: Welch) -> bool:
        return w.testable and w.p < ALPHA

    sizes = "/".join(sorted({f"{w.n_a}/{w.n_b}" for w in tests.values()}))
    if any(w.n_a == 0 or w.n_b == 0 for w in tests.values()):
        return f"nothing to compare yet (n={sizes}: a side has no finished run with these metrics)"
    for winner, loser, sign in ((first, second, 1.0), (second, first, -1.0)):
        if all(significant(w) and METRICS[m].better(sign * w.difference, 0.0) for m, w in tests.items()):
            names = " and ".join(tests)
            return f"{winner} dominates {loser} ({names}: every p < {ALPHA:g}, n={sizes})"
    differ = [f"{first if METRICS[m].better(w.difference, 0.0) else second} better in {m} (p={w.p:.2g})"
              for m, w in tests.items() if significant(w)]
    if not differ:
        return f"not distinguishable at n={sizes} (no p < {ALPHA:g})"
    rest = [m for m, w in tests.items() if not significant(w)]
    return (f"no dominance at n={sizes}: " + "; ".join(differ)
            + ("; " + ", ".join(rest) + " not distinguishable" if rest else "; a trade-off"))


def chosen_pairs(spec: SweepSpec, per_run: list) -> list:
    """``compare = "chosen"``: for each choice of ``spec.choose``, every pair of the points it chose on validation
    (one per group of its ``by`` settings, groups with nothing done left out), in the order of the groups."""
    chosen = choose_points(spec, per_run)
    pairs = []
    for choice in spec.choose:
        points = [row["point"] for row in chosen
                  if (row["chosen_on"], row["by"]) == (choice.on, ",".join(choice.by)) and row["point"]]
        pairs += list(itertools.combinations(points, 2))
    return pairs


def compare_points(spec: SweepSpec, per_run: list) -> list:
    """Welch tests of what ``spec.compare`` names, on the front's two metrics: its pairs of points, the fronts'
    neighbours (``"front"``) and the points chosen on validation (``"chosen"``). One row per pair and metric
    (difference = first - second), each with the pair's :func:`verdict` and which entry of ``compare`` asked for
    it (``"pair"``, ``"front"`` or ``"chosen"``; a pair asked for twice is tested once)."""
    pairs: dict = {}
    for item in spec.compare:
        if item == COMPARE_FRONT:
            named = front_pairs(spec, per_run)
        elif item == COMPARE_CHOSEN:
            named = chosen_pairs(spec, per_run)
        else:
            named, item = [item], "pair"
        for pair in named:
            pairs.setdefault(tuple(pair), item)
    values = point_values(per_run)
    metrics = list(dict.fromkeys([spec.front.y, spec.front.x]))
    rows = []
    for (first, second), source in pairs.items():
        tests = {m: welch(values.get(first, {}).get(m, []), values.get(second, {}).get(m, [])) for m in metrics}
        said = verdict(first, second, tests)
        for m, w in tests.items():
            rows.append({"first": first, "second": second, "asked_by": source, "metric": m, "n_first": w.n_a,
                         "n_second": w.n_b, "difference": w.difference, "ci_low": w.low, "ci_high": w.high, "t": w.t,
                         "df": w.df, "p": w.p, "verdict": said})
    return rows


def _format_comparisons(rows: list) -> str:
    lines = [f"Welch tests (unequal variances, two-sided; difference = first - second with its "
             f"{100 * CONFIDENCE:.0f} % Welch interval; 'dominates' only if both metrics differ at p < {ALPHA:g})"]
    if not rows:
        return lines[0] + "\n(no pairs: no front has two points yet)"
    for i in range(len(rows)):
        row = rows[i]
        if i == 0 or (row["first"], row["second"]) != (rows[i - 1]["first"], rows[i - 1]["second"]):
            asked = {COMPARE_FRONT: "  (neighbours on a front)", COMPARE_CHOSEN: "  (both chosen on validation)"}
            lines.append(f"{row['first']}  vs  {row['second']}{asked.get(row['asked_by'], '')}")
        scale = 100.0 if METRICS[row["metric"]].percent else 1.0
        unit = " points" if METRICS[row["metric"]].percent else ""
        if not row["n_first"] or not row["n_second"]:
            lines.append(f"  {row['metric']:<28} no finished runs (n={row['n_first']}/{row['n_second']})")
        elif math.isnan(row["p"]):
            lines.append(f"  {row['metric']:<28} difference {scale * row['difference']:+.4g}{unit}: no test "
                         f"(n={row['n_first']}/{row['n_second']}: needs 2 runs and some spread on each side)")
        else:
            lines.append(f"  {row['metric']:<28} difference {scale * row['difference']:+.4g}{unit} "
                         f"[{scale * row['ci_low']:+.4g}, {scale * row['ci_high']:+.4g}], t = {row['t']:.3f}, "
                         f"df = {row['df']:.1f}, p = {row['p']:.3g}")
        if i + 1 == len(rows) or (rows[i + 1]["first"], rows[i + 1]["second"]) != (row["first"], row["second"]):
            lines.append(f"  -> {row['verdict']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------------
# Choices made on validation ([report] choose)


def choose_points(spec: SweepSpec, per_run: list) -> list:
    """For each choice of ``spec.choose`` and each group of its ``by`` settings, the point with the best mean of the
    validation metric ``on`` (its direction; the first in the file's order among equals; points without a value
    never chosen), with its ``on`` summary and its ``report`` metrics. The test set plays no part in the choice."""
    values = point_values(per_run)
    rows = []
    for choice in spec.choose:
        metric = METRICS[choice.on]
        groups: dict = {}
        for run in spec.runs:
            groups.setdefault(_group_label(run.settings, choice.by), {})[run.point] = None
        for label, members in groups.items():
            best, best_mean = None, math.nan
            for point in members:
                mean = summarise(values.get(point, {}).get(choice.on, [])).mean
                if not math.isnan(mean) and (best is None or metric.better(mean, best_mean)):
                    best, best_mean = point, mean
            row = {"chosen_on": choice.on, "by": ",".join(choice.by), "group": label, "point": best or "",
                   "candidates": len(members)}
            for name in (choice.on, *choice.report):
                stats = summarise(values.get(best, {}).get(name, []) if best else [])
                row.update({f"{name}_n": stats.n, f"{name}_mean": stats.mean, f"{name}_std": stats.std,
                            f"{name}_ci_low": stats.low, f"{name}_ci_high": stats.high})
            rows.append(row)
    return rows


def _format_chosen(spec: SweepSpec, rows: list) -> str:
    lines = []
    for choice in spec.choose:
        mine = [row for row in rows if (row["chosen_on"], row["by"]) == (choice.on, ",".join(choice.by))]
        lines.append(f"chosen on {choice.on} (best mean per {', '.join(choice.by) or 'sweep'}; the test set is not "
                     f"used to choose): {', '.join(choice.by) or 'group'} | point | {choice.on} mean | "
                     + " | ".join(f"{m} mean +- std [95 % CI]" for m in choice.report) + " | n")
        for row in mine:
            if not row["point"]:
                lines.append(f"  {row['group']} | none done yet")
                continue
            scale = 100.0 if METRICS[choice.on].percent else 1.0
            shown = [format_summary(m, _row_summary(row, m)) for m in choice.report]
            lines.append(f"  {row['group']} | {row['point']} | "
                         f"{scale * row[choice.on + '_mean']:.{_digits(choice.on, row[choice.on + '_mean'])}f} | "
                         + " | ".join(shown) + f" | {row[choice.report[0] + '_n']}")
    return "\n".join(lines)


def _front_figure(spec: SweepSpec, out: str, per_run: list, chosen: Sequence[dict] = ()) -> str:
    """``OUT/front.png`` (:func:`front_figure`)."""
    from eventsnn.plot import save_figure
    return save_figure(front_figure(spec, per_run, chosen), os.path.join(out, "front.png"), dpi=120)


def front_figure(spec: SweepSpec, per_run: list, chosen: Sequence[dict] = ()) -> "Figure":
    """The front figure: ``front.y`` against ``front.x`` (``front.x_scale``; runs with x <= 0 are not drawn on a
    log scale), every run a dot, every point's mean with sample-std error bars (none for one run), one Pareto front
    per group of ``front.by`` (better = each metric's direction), and a ring around each point of ``chosen`` (rows
    of :func:`choose_points`: the points chosen on validation)."""
    # a bare Figure, not pyplot: the caller's matplotlib backend (a notebook's, say) is left alone
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    front = spec.front
    x_scale = 100.0 if METRICS[front.x].percent else 1.0
    y_scale = 100.0 if METRICS[front.y].percent else 1.0
    groups: dict = {}
    for run, record, values in per_run:
        if not values:
            continue
        label = _group_label(run.settings, front.by)
        groups.setdefault(label, {}).setdefault(run.point, []).append((values[front.x] * x_scale,
                                                                       values[front.y] * y_scale))
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    ax.set_xscale(front.x_scale)
    if front.x_scale == "log":  # plain numbers (120, not 1.2 x 10^2) on the major and the labelled minor ticks
        for set_formatter in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
            set_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    mean_of: dict = {}
    for i, (label, by_point) in enumerate(groups.items()):
        color = f"C{i % 10}"
        every = [p for pts in by_point.values() for p in pts]
        ax.scatter(*zip(*every), color=color, alpha=0.3, s=12)
        means = []
        for point, pts in by_point.items():
            xs, ys = summarise([p[0] for p in pts]), summarise([p[1] for p in pts])
            (mx, sx), (my, sy) = (xs.mean, xs.std), (ys.mean, ys.std)
            means.append((mx, my))
            mean_of[point] = (mx, my)
            ax.errorbar(mx, my, xerr=None if math.isnan(sx) else sx, yerr=None if math.isnan(sy) else sy,
                        color=color, alpha=0.6, capsize=2, linestyle="none")
        line = pareto_front(means, (METRICS[front.x].direction, METRICS[front.y].direction))
        if line:
            ax.plot(*zip(*line), color=color, marker="o", label=label)
    rings = {row["point"]: row["chosen_on"] for row in chosen if row["point"] in mean_of}
    for k, (point, on) in enumerate(rings.items()):
        ax.scatter(*mean_of[point], s=130, facecolors="none", edgecolors="black", linewidths=1.2, zorder=3,
                   label=f"chosen on {on}" if k == 0 else None)
    ax.set_xlabel(METRICS[front.x].description)
    ax.set_ylabel(METRICS[front.y].description)
    ax.set_title(f"{spec.name}: Pareto front per {', '.join(front.by) or 'sweep'} (means over seeds)", fontsize=10)
    ax.grid(alpha=0.3, which="both" if front.x_scale == "log" else "major")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
