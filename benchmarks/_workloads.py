"""Where the workload files of the benchmarks live (W1-W3: ``w1_inputs_20Hz.npz``, ...), shared by the scripts."""

from __future__ import annotations

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def data_dir(arg: str | None) -> pathlib.Path:
    """The directory holding the workload files: ``arg``, else ``$EVENTSNN_DATA``, else ``../shared/data`` beside
    the checkout; each either directly or in a ``workloads/`` subfolder. Exits with a message if none holds them."""
    base = pathlib.Path(arg or os.environ.get("EVENTSNN_DATA") or ROOT.parent / "shared" / "data")
    for candidate in (base, base / "workloads"):
        if (candidate / "w1_inputs_20Hz.npz").exists():
            return candidate
    raise SystemExit(f"workload files (w1_inputs_20Hz.npz, ...) not found in {base} or {base / 'workloads'}")
