"""Shared pieces of the studies (studies/*.py): method table, one gradient call, JSON I/O, run loops, figures.

Not part of the library. Every study runs single-threaded (n_threads=1); run it under ``nice`` with
``NUMBA_NUM_THREADS=1``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import eventsnn as es
from eventsnn.plot import save_figure as save_figure_atomically
from eventsnn._atomic import write_json
from eventsnn.optim import Adam

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "studies")

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
    each of the iterations + 1 evaluations; ``overrides`` goes to :func:`gradient`. A non-finite gradient skips its update rather than poison Adam's
    moments. Returns (status, number of skipped updates); status names the iteration where max_spikes per neuron
    was exceeded, which stops the run.
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
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "eventsnn"], capture_output=True, text=True,
                               cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() != ""
    except OSError:
        commit, dirty = "unknown", None
    return {"argv": list(argv), "commit": commit, "eventsnn_dirty": dirty, "python": platform.python_version(),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def mean_sem(x, axis=0):
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    mean = np.nanmean(x, axis=axis)
    sem = np.nanstd(x, axis=axis, ddof=1) / np.sqrt(np.maximum(n, 1)) if x.shape[axis] > 1 else np.zeros_like(mean)
    return mean, sem


def default_out(name: str) -> str:
    """Default results path of study ``name``: docs/studies/<name>.json (its figure: same stem, .png)."""
    return os.path.join(DOCS, f"{name}.json")


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


def parse_study_args(parser, argv, plot, labels, quick_caps: dict):
    """Parse ``argv``; --quick caps each option named in ``quick_caps`` at its value. With --plot-only, redraw
    the figure and return (None, None); else (args, the chosen --methods labels, checked against ``labels``)."""
    args = parser.parse_args(argv)
    if args.quick:
        for option, cap in quick_caps.items():
            setattr(args, option, min(getattr(args, option), cap))
    if replot(args, plot):
        return None, None
    return args, parse_labels(parser, args.methods, labels)


def replot(args, plot) -> bool:
    """With --plot-only, redraw the figure from the results at --out; True tells main() to stop there."""
    if args.plot_only:
        plot(read_json(args.out), figure_path(args.out))
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


def finish(results: dict, summary: dict, started: float, out: str, plot) -> None:
    """Store ``summary`` and the total wall time, write ``out``, draw ``plot(results, figure)``."""
    results["summary"] = summary
    checkpoint(results, started, out)
    fig_path = figure_path(out)
    plot(results, fig_path)
    print(f"wall {results['wall_s']:.0f} s -> {out}, {fig_path}")


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


def plot_mean_band(ax, x, rows, color, alpha: float = 0.15, floor: float | None = None, **line_kw) -> None:
    """Mean over ``rows`` (NaN-padded to len(x)) as a line, mean ± sem as a band; ``floor`` clips the band's
    lower edge (for log axes)."""
    m, s = mean_sem(nan_padded(rows, len(x)))
    ax.plot(x, m, color=color, **line_kw)
    low = m - s if floor is None else np.maximum(m - s, floor)
    ax.fill_between(x, low, m + s, color=color, alpha=alpha, lw=0)
