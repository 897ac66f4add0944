"""Shared pieces of the studies (studies/*.py): method table, one gradient call, JSON I/O, run loops, figures.

Not part of the library. Every study runs single-threaded (n_threads=1); run it under ``nice`` with
``NUMBA_NUM_THREADS=1``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import numpy as np

import eventsnn as es
from eventsnn.plot import save_figure as save_figure_atomically
from eventsnn._atomic import write_json
from eventsnn._provenance import source_revision
from eventsnn.optim import Adam

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "studies")
# Raw per-iteration results can run to tens of megabytes; they go outside the repository by default, and only
# the compact record that redraws a study's figure and tables is kept under docs/studies.
RAW_DIR = os.environ.get("EVENTSNN_STUDY_DIR", os.path.join(os.path.expanduser("~"), ".cache", "eventsnn", "studies"))

# label -> (eventsnn method, method options). Defaults of MethodOptions otherwise (surrogate 1, sharpness 3,
# grid dt 1 ms, NA power 1).
METHODS = {
    "timing": ("timing", {}),
    "activation (reset detached)": ("activation", {"detach_reset": True}),
    "activation (reset term)": ("activation", {"detach_reset": False}),
    "antlr grid": ("antlr", {"form": "grid"}),
    "antlr event": ("antlr", {"form": "event"}),
    "na": ("na", {}),
    # ANTLR's own code drops the reset's dependence (PAPERS.md 1.3 (iv)); eventsnn's antlr keeps it by default
    "antlr grid (reset detached)": ("antlr", {"form": "grid", "detach_reset": True}),
    "antlr event (reset detached)": ("antlr", {"form": "event", "detach_reset": True}),
}

COLORS = {
    "timing": "tab:blue",
    "activation (reset detached)": "tab:orange",
    "activation (reset term)": "tab:brown",
    "antlr grid": "tab:green",
    "antlr event": "tab:olive",
    "na": "tab:red",
    "antlr grid (reset detached)": "tab:cyan",
    "antlr event (reset detached)": "tab:pink",
    "timing + silent bump": "tab:purple",
}


def gradient(net, rec, loss, label: str, loss_fn=None, overrides: dict | None = None):
    """Weight gradients of one sample (or a list of samples) with the method ``label`` of METHODS; ``overrides``
    replaces method options of the unified methods (e.g. ``{"lambda_timing": 10.0}``)."""
    method, options = METHODS[label]
    if method == "antlr" and overrides:
        options = {**options, **overrides}
    if method == "timing":
        cot = [l.cotangents for l in loss] if isinstance(rec, list) else loss.cotangents
        return es.vjp(net, rec, cot, n_threads=1)
    return es.vjp(net, rec, loss, method=method, n_threads=1, loss_fn=loss_fn if method == "na" else None,
                  **options)


def all_finite(arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def fit_one_sample(net, inputs, t_max: float, loss_of, label: str, lr: float, iterations: int, max_spikes: int,
                   observe, overrides: dict | None = None) -> tuple[str, int]:
    """Adam on the weights of ``net`` (in place) for one input sample, gradients of method ``label``.

    ``loss_of(record)`` gives the loss (its ``.value`` is NA's exact loss change); ``observe(record, loss)`` sees
    each of the iterations + 1 evaluations; ``overrides`` goes to :func:`gradient`. A non-finite gradient skips its
    update rather than poison Adam's moments. Returns (status, number of skipped updates); status names the iteration
    where max_spikes per neuron was exceeded, which stops the run.
    """
    opt = Adam(lr)
    status, n_bad = "ok", 0
    for it in range(iterations + 1):
        try:
            rec = es.simulate(net, inputs, t_max, n_threads=1, max_spikes_per_neuron=max_spikes)
        except es.SpikeLimitError:
            status = f"spike limit at iteration {it}"
            break
        loss = loss_of(rec)
        observe(rec, loss)
        if it == iterations:
            break
        g = gradient(net, rec, loss, label, loss_fn=lambda r: loss_of(r).value, overrides=overrides)
        if not all_finite(g.weights):
            n_bad += 1
            continue
        opt.step(net.weights, g.weights)
    return status, n_bad


def write_json_atomic(path: str, obj) -> None:
    """JSON written atomically (readers never see half a file), creating the directory if needed."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json(path, obj)


def provenance(argv) -> dict:
    source = source_revision()
    return {"argv": list(argv), "commit": source["commit"] or "unknown", "eventsnn_dirty": source["modified"],
            "python": platform.python_version(), "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def mean_sem(x, axis=0):
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    mean = np.nanmean(x, axis=axis)
    sem = np.nanstd(x, axis=axis, ddof=1) / np.sqrt(np.maximum(n, 1)) if x.shape[axis] > 1 else np.zeros_like(mean)
    return mean, sem


def default_out(name: str) -> str:
    """Default results path of study ``name``: docs/studies/<name>.json (its figure: same stem, .png).

    For the studies whose whole output is small (a few kB per run); the studies with per-iteration traces
    write those to :func:`default_raw` and their compact record here (:func:`add_record_options`)."""
    return os.path.join(DOCS, f"{name}.json")


def default_raw(name: str) -> str:
    """Default path of the raw results of study ``name``: $EVENTSNN_STUDY_DIR (default
    ~/.cache/eventsnn/studies), outside the repository."""
    return os.path.join(RAW_DIR, f"{name}.json")


def add_record_options(parser, name: str) -> None:
    """--out (raw results, outside the repository by default), --record (the compact record the figure and
    tables are drawn from, docs/studies/<name>.json), --compact-only (rebuild the record from --out)."""
    parser.add_argument("--out", default=default_raw(name),
                        help="raw per-iteration results JSON (default: %(default)s, outside the repository)")
    parser.add_argument("--record", default=default_out(name),
                        help="compact record that redraws the figure and tables (figure: same stem .png)")
    parser.add_argument("--compact-only", action="store_true",
                        help="rebuild --record and its figure from the raw results at --out and stop")


def rounded(obj, digits: int = 4):
    """``obj`` with every float rounded to ``digits`` significant digits (NaN and infinities kept), for compact
    records: figures and tables need no more, and JSON text shrinks about threefold."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if np.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    return obj


def write_record(record: dict, path: str, plot) -> None:
    """Write the compact ``record`` (no indentation) and draw its figure next to it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(record, handle, separators=(",", ":"))
        handle.write("\n")
    os.replace(tmp, path)
    plot(record, figure_path(path))


def figure_path(out: str) -> str:
    """The figure written next to the results JSON ``out``."""
    return os.path.splitext(out)[0] + ".png"


def read_json(path: str):
    with open(path) as handle:
        return json.load(handle)


def add_method_options(parser, labels, max_spikes: int) -> None:
    """The trailing options shared by the per-method studies: --max-spikes, --methods, --plot-only."""
    parser.add_argument("--max-spikes", type=int, default=max_spikes, help="per neuron; above it the run is stopped")
    parser.add_argument("--methods", default=",".join(labels), help="comma-separated method labels (default: all)")
    parser.add_argument("--plot-only", action="store_true", help="redraw the figure from --out and stop")


def parse_study_args(parser, argv, plot, labels, quick_caps: dict, compact=None):
    """Parse ``argv``; --quick caps each option named in ``quick_caps`` at its value. With --plot-only or
    --compact-only (:func:`replot`), draw the figure and return (None, None); else (args, the chosen --methods
    labels, checked against ``labels``)."""
    args = parser.parse_args(argv)
    if args.quick:
        for option, cap in quick_caps.items():
            setattr(args, option, min(getattr(args, option), cap))
    if replot(args, plot, compact):
        return None, None
    return args, parse_labels(parser, args.methods, labels)


def replot(args, plot, compact=None) -> bool:
    """With --plot-only, redraw the figure from the record (--record if the study has one, else --out); with
    --compact-only, rebuild the record from the raw results at --out with ``compact`` and draw it. True tells
    main() to stop there."""
    if getattr(args, "compact_only", False):
        write_record(compact(read_json(args.out)), args.record, plot)
        return True
    if args.plot_only:
        source = getattr(args, "record", args.out)
        plot(read_json(source), figure_path(source))
    return args.plot_only


def parse_labels(parser, spec: str, known) -> list[str]:
    """Comma-separated method labels of ``spec``; ``parser.error`` (exit 2) on a label not in ``known``."""
    labels = [m.strip() for m in spec.split(",")]
    unknown = set(labels) - set(known)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {list(known)}")
    return labels


def new_results(name: str, args) -> dict:
    """Results skeleton of a study with per-run entries under "runs"; "config" is ``vars(args)`` itself."""
    return {"study": name, "config": vars(args), "provenance": provenance(sys.argv), "runs": {}}


def checkpoint(results: dict, started: float, out: str) -> None:
    """Record the wall time so far and rewrite ``out``, so that a killed study leaves its finished runs."""
    results["wall_s"] = time.perf_counter() - started
    write_json_atomic(out, results)


def finish(results: dict, summary: dict, started: float, out: str, plot, compact=None,
           record: str | None = None) -> None:
    """Store ``summary`` and the total wall time, write ``out``; then either draw ``plot(results, figure)``
    next to ``out``, or (with ``compact`` and ``record``) write the compact record and draw it next to that."""
    results["summary"] = summary
    checkpoint(results, started, out)
    if compact is None:
        fig_path = figure_path(out)
        plot(results, fig_path)
        print(f"wall {results['wall_s']:.0f} s -> {out}, {fig_path}")
        return
    write_record(compact(results), record, plot)
    print(f"wall {results['wall_s']:.0f} s -> raw {out}; record {record}, {figure_path(record)}")


def run_job_list(name: str, jobs, run, out: str, header: dict) -> tuple[list, float]:
    """``run(*job)`` for every job, rewriting ``out`` = {"results": [...], **header} after each; wall time last.

    Resumes an interrupted run: if ``out`` holds a partial result list written with the same ``header`` (same
    settings, hence the same job order), its runs are kept and only the remaining jobs are run.
    """
    from tqdm.auto import tqdm
    results = []
    if os.path.exists(out):
        previous = read_json(out)
        same = json.loads(json.dumps(header)) == {k: v for k, v in previous.items() if k not in ("results", "wall_s")}
        if same and "wall_s" not in previous and 0 < len(previous["results"]) < len(jobs):
            results = previous["results"]
            print(f"{name}: resuming {out}: {len(results)} of {len(jobs)} runs already done")
    started = time.perf_counter()
    for job in tqdm(jobs[len(results):], desc=name, unit="run"):
        results.append(run(*job))
        write_json_atomic(out, {"results": results, **header})
    wall = time.perf_counter() - started
    write_json_atomic(out, {"results": results, **header, "wall_s": wall})
    return results, wall


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (studies run headless)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str, title: str | None = None, **title_kw) -> None:
    """Optional suptitle, tight layout, then write ``path`` via a temporary file (a reader never sees half a
    PNG) and close the figure."""
    import matplotlib.pyplot as plt
    if title is not None:
        fig.suptitle(title, **title_kw)
    fig.tight_layout()
    save_figure_atomically(fig, path, dpi=120)
    plt.close(fig)


def nan_padded(rows, n: int) -> np.ndarray:
    """Rows of unequal length (runs stopped early) as an (len(rows), n) array, NaN after each row's end."""
    arr = np.full((len(rows), n), np.nan)
    for i, row in enumerate(rows):
        arr[i, :len(row)] = row
    return arr


def band(rows, n: int | None = None) -> dict:
    """Mean and sem over ``rows`` (runs of unequal length NaN-padded to ``n``, default the longest), as lists:
    what :func:`plot_band` draws, small enough for a compact record."""
    n = max(len(r) for r in rows) if n is None else n
    m, s = mean_sem(nan_padded(rows, n))
    return {"mean": np.atleast_1d(m).tolist(), "sem": np.atleast_1d(s).tolist(), "n": len(rows)}


def plot_band(ax, x, stats: dict, color, alpha: float = 0.15, floor: float | None = None, **line_kw) -> None:
    """``stats`` of :func:`band` as a mean line and a mean ± sem band; ``floor`` clips the band's lower edge
    (for log axes)."""
    m, s = np.asarray(stats["mean"], dtype=float), np.asarray(stats["sem"], dtype=float)
    x = np.asarray(x)[:len(m)]
    ax.plot(x, m, color=color, **line_kw)
    low = m - s if floor is None else np.maximum(m - s, floor)
    ax.fill_between(x, low, m + s, color=color, alpha=alpha, lw=0)
