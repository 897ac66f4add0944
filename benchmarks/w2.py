"""W2 of ../shared/docs/WORKLOADS.md side by side: one training step of eventsnn (exact) vs snnTorch and Norse (BPTT).

Every simulator runs in its own subprocess pinned to the same core, one thread, so timings and peak memory
(max RSS of the process) are comparable:

* eventsnn: ``benchmarks/train_step.py --json`` (exact forward + first-spike cross-entropy + exact adjoint + SGD);
* snnTorch and Norse: ``benchmarks/_peers_torch.py`` (BPTT, each library's default surrogate) at each ``--dt``
  (default 1 ms), same network, weights and batch, in the torch interpreter ``--torch-python``: by default
  ``$EVENTSNN_TORCH_PYTHON``, else this interpreter if torch, norse and snntorch import in it, else
  ``~/venvs/torch/bin/python``; skipped with a note when none has them.

A separate torch environment, if the main one has no torch (torchvision has no CPU build here and Norse's LIF
does not need it)::

    python -m venv ~/venvs/torch
    ~/venvs/torch/bin/pip install torch==2.13.0 numpy snntorch nir
    ~/venvs/torch/bin/pip install --no-deps norse nirtorch

Run (one core, the other left idle)::

    taskset -c 1 python benchmarks/w2.py --json benchmarks/results/w2.json
    taskset -c 1 python benchmarks/w2.py --quick     # fewer repeats (< 1 min)

Prints one table (median and fastest ms per step, forward / backward split, spikes per image, gradient norm,
peak memory, ratio peer / eventsnn) and writes the JSON if asked.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def _default_torch_python() -> str:
    if os.environ.get("EVENTSNN_TORCH_PYTHON"):
        return os.environ["EVENTSNN_TORCH_PYTHON"]
    import importlib.util
    if all(importlib.util.find_spec(m) is not None for m in ("torch", "norse", "snntorch")):
        return sys.executable
    return os.path.expanduser("~/venvs/torch/bin/python")


ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def run_json(cmd: list[str]) -> dict:
    env = dict(os.environ, **ONE_THREAD)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("EVENTSNN_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--dt", default="1", help="peer time steps (ms), comma-separated (default 1)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed steps of eventsnn (default 20, quick 5; peers: --peer-repeats)")
    parser.add_argument("--peer-repeats", type=int, default=None, help="timed steps of each peer (default 10, quick 3)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--torch-python", default=None, help="interpreter with torch, norse and snntorch "
                                                               "(default: see this script's docstring)")
    parser.add_argument("--json", default=None, help="write all results to this file")
    args = parser.parse_args()
    args.repeats = args.repeats or (5 if args.quick else 20)
    args.peer_repeats = args.peer_repeats or (3 if args.quick else 10)
    args.torch_python = args.torch_python or _default_torch_python()
    batch_file = pathlib.Path(args.data) / "workloads" / "w2_batch.npz"
    if not batch_file.exists():
        sys.exit(f"W2 batch not found: {batch_file} (give --data DIR holding workloads/w2_batch.npz)")

    results = [run_json([sys.executable, str(HERE / "train_step.py"), "--json", "--repeats", str(args.repeats),
                         "--data", args.data])]
    if not pathlib.Path(args.torch_python).exists():
        print(f"Norse / snnTorch skipped: no torch interpreter at {args.torch_python} (see this script's docstring)")
    else:
        for library in ("norse", "snntorch"):
            for dt in (float(d) for d in args.dt.split(",")):
                results.append(run_json([args.torch_python, str(HERE / "_peers_torch.py"), "--library", library,
                                         "--dt", str(dt), "--batch-file", str(batch_file),
                                         "--repeats", str(args.peer_repeats)]))
    ours = results[0]["step_ms"]
    print(f"W2: one training step, 784-350-10, batch 32, window 50 ms, one core, one thread "
          f"({platform.processor() or platform.machine()}); "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    print(f"{'simulator':10s} {'dt (ms)':>7s} {'ms/step':>8s} {'fastest':>8s} {'forward':>8s} {'backward':>8s} "
          f"{'hidden/img':>10s} {'output/img':>10s} {'|grad|':>8s} {'RSS MB':>7s} {'x eventsnn':>10s}")
    for r in results:
        dt = "exact" if r["dt_ms"] is None else f"{r['dt_ms']:g}"
        print(f"{r['simulator']:10s} {dt:>7s} {r['step_ms']:8.1f} {r.get('step_ms_min', float('nan')):8.1f} "
              f"{r['forward_ms']:8.1f} {r['backward_ms']:8.1f} "
              f"{r['hidden_spikes_per_image']:10.1f} {r['output_spikes_per_image']:10.1f} {r['grad_norm']:8.3g} "
              f"{r['max_rss_mb']:7.0f} {r['step_ms'] / ours:10.2f}")
    if args.json:
        payload = {"workload": "W2", "date": datetime.datetime.now().isoformat(timespec="seconds"),
                   "machine": platform.platform(), "command": " ".join(sys.argv), "results": results}
        from eventsnn._atomic import write_json
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
