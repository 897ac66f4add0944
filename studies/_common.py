"""Shared pieces of the gradient-method studies (studies/*.py): method table, one gradient call, JSON I/O.

Not part of the library. Every study runs single-threaded (n_threads=1); run it under ``nice`` with
``NUMBA_NUM_THREADS=1``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time

import numpy as np

import eventsnn as es

# label -> (eventsnn method, method options). Defaults of MethodOptions otherwise (surrogate 1, sharpness 3,
# grid dt 1 ms, NA power 1).
METHODS = {
    "timing": ("timing", {}),
    "activation (reset detached)": ("activation", {"detach_reset": True}),
    "activation (reset term)": ("activation", {"detach_reset": False}),
    "antlr grid": ("antlr", {"form": "grid"}),
    "antlr event": ("antlr", {"form": "event"}),
    "na": ("na", {}),
}

COLORS = {
    "timing": "tab:blue",
    "activation (reset detached)": "tab:orange",
    "activation (reset term)": "tab:brown",
    "antlr grid": "tab:green",
    "antlr event": "tab:olive",
    "na": "tab:red",
    "timing + silent bump": "tab:purple",
}


def gradient(net, rec, loss, label: str, loss_fn=None):
    """Weight gradients of one sample (or a list of samples) with the method ``label`` of METHODS."""
    method, options = METHODS[label]
    if method == "timing":
        cot = [l.cotangents for l in loss] if isinstance(rec, list) else loss.cotangents
        return es.vjp(net, rec, cot, n_threads=1)
    return es.vjp(net, rec, loss, method=method, n_threads=1, loss_fn=loss_fn if method == "na" else None,
                  **options)


def all_finite(arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def write_json_atomic(path: str, obj) -> None:
    """Write JSON to a temporary file in the same directory, then os.replace (readers never see half a file)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".json.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(obj, handle, indent=1)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
