"""Speed-up of ``eventsnn sweep`` on a local Dask cluster over the same runs started one after another, and what
the scheduler costs per task next to a run's duration.

The sweep: 8 Yin-Yang runs (methods timing and antlr x spike penalties 0 and 1e-3 x seeds 0 and 1; 1000 training
/ 300 test samples, 40 hidden neurons, 3 epochs; ``--quick``: 300 / 100 samples, 20 hidden, 2 epochs). Measured,
each in a fresh output directory, numba's compiled kernels already cached on disk (a warm-up run first):

* sequential: each run as its own ``eventsnn train ... --threads 1`` process, one after another (how runs were
  made before sweeps); and the sum of the runs' own durations (the time inside ``eventsnn.cli.main``);
* the sweep on a LocalCluster of 1 and of 2 worker processes (one thread each), wall time including the cluster's
  start and the report;
* the scheduler's cost per task on a 2-worker LocalCluster: the median round trip of one no-op task at a time
  (submit, run, result), and the wall time per task of 400 no-op tasks submitted at once.

On a machine shared with other jobs the speed-up is bounded by the cores left free, and the free cores change
from minute to minute: ``--repeats N`` measures the three set-ups N times, interleaved, and reports every
repetition and the median speed-ups; the load average before and after is printed and saved with the figures.

    python benchmarks/sweep_speedup.py --repeats 3     # about 2 minutes per repetition on two cores
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventsnn import sweep  # noqa: E402


def spec(quick: bool) -> sweep.SweepSpec:
    fixed = {"n_train": 300, "n_test": 100, "hidden": 20, "epochs": 2} if quick else \
        {"n_train": 1000, "n_test": 300, "hidden": 40, "epochs": 3}
    return sweep.spec_from_dict({"sweep": {"task": "yinyang", "seeds": [0, 1], "name": "speedup"}, "fixed": fixed,
                                 "grid": {"method": ["timing", "antlr"], "spike_penalty": [0.0, 1e-3]}},
                                source="benchmarks/sweep_speedup.py")


def sequential(runs, out: pathlib.Path) -> float:
    """Wall time (s) of the runs as separate ``eventsnn train`` processes, one after another."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    for run in runs:
        subprocess.run([sys.executable, "-m", "eventsnn", "train", *run.argv, "--out", str(out / run.name)],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def swept(spec_: sweep.SweepSpec, out: pathlib.Path, workers: int) -> tuple[float, list]:
    """Wall time (s) of the sweep on a new LocalCluster of ``workers`` processes, and each run's own duration."""
    started = time.perf_counter()
    result = sweep.run_sweep(spec_, out, workers=workers, log=None)
    wall = time.perf_counter() - started
    if result.n_done != len(spec_.runs):
        raise SystemExit(f"{result.n_failed} runs failed; see {out}/_sweep/*.log")
    return wall, [sweep.read_status(str(out), run)["seconds"] for run in spec_.runs]


def _no_op(i: int) -> int:
    return i


def scheduler_cost(n_tasks: int) -> tuple[float, float]:
    """(median round trip of one task at a time, wall time per task of ``n_tasks`` at once), in s, 2 workers."""
    import logging

    import distributed
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        client.submit(_no_op, -1, pure=False).result()  # workers up and the function known
        trips = []
        for i in range(50):
            t0 = time.perf_counter()
            client.submit(_no_op, i, pure=False).result()
            trips.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        client.gather(client.map(_no_op, range(n_tasks), pure=False))
        batch = (time.perf_counter() - t0) / n_tasks
    return statistics.median(trips), batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repetitions of the three set-ups")
    parser.add_argument("--json", default=None, help="also write the figures here (default: print only)")
    args = parser.parse_args()
    spec_ = spec(args.quick)
    load_before = os.getloadavg()
    repeats = []
    with tempfile.TemporaryDirectory(prefix="sweep_speedup_") as tmp:
        root = pathlib.Path(tmp)
        warm = spec_.runs[-1]  # compile (or load) every kernel the runs use before timing anything
        sequential([warm, spec_.runs[0]], root / "warm")
        for i in range(args.repeats):
            seq_wall = sequential(spec_.runs, root / f"sequential{i}")
            one_wall, one_runs = swept(spec_, root / f"one{i}", 1)
            two_wall, two_runs = swept(spec_, root / f"two{i}", 2)
            repeats.append({"sequential_commands_s": seq_wall, "sweep_1_worker_s": one_wall,
                            "sweep_2_workers_s": two_wall, "runs_sum_s_1_worker": sum(one_runs),
                            "runs_sum_s_2_workers": sum(two_runs),
                            "run_median_s_2_workers": statistics.median(two_runs),
                            "load_average": os.getloadavg()[0]})
        round_trip, batch = scheduler_cost(400)
    load_after = os.getloadavg()
    vs_sequential = statistics.median(r["sequential_commands_s"] / r["sweep_2_workers_s"] for r in repeats)
    vs_one = statistics.median(r["sweep_1_worker_s"] / r["sweep_2_workers_s"] for r in repeats)
    run_s = statistics.median(r["run_median_s_2_workers"] for r in repeats)
    figures = {"runs": len(spec_.runs), "settings": spec_.runs[0].argv, "cores": os.cpu_count(),
               "python": platform.python_version(), "load_average_before": load_before,
               "load_average_after": load_after,
               "repeats": repeats, "median_speedup_2_workers_vs_sequential_commands": vs_sequential,
               "median_speedup_2_workers_vs_1_worker": vs_one, "scheduler_round_trip_s": round_trip,
               "scheduler_s_per_task_batch": batch, "run_median_s_2_workers": run_s}
    print(f"{len(spec_.runs)} runs ({' '.join(spec_.runs[0].argv[5:])}; methods x penalties x seeds) on "
          f"{os.cpu_count()} cores; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    print("  repeat  sequential commands  sweep 1 worker  sweep 2 workers  (runs themselves: 1 worker / 2 workers)"
          "  load")
    for i, r in enumerate(repeats):
        print(f"  {i:6d}  {r['sequential_commands_s']:17.1f} s  {r['sweep_1_worker_s']:12.1f} s  "
              f"{r['sweep_2_workers_s']:13.1f} s  ({r['runs_sum_s_1_worker']:.1f} s / "
              f"{r['runs_sum_s_2_workers']:.1f} s)  {r['load_average']:.1f}")
    print(f"  median speed-up of 2 workers: {vs_sequential:.2f}x over sequential commands, {vs_one:.2f}x over 1 worker")
    print(f"  scheduler per task: {1e3 * round_trip:.1f} ms round trip (one at a time), {1e3 * batch:.2f} ms per task "
          f"in a batch of 400; a run takes {run_s:.2f} s (median, 2 workers)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)


if __name__ == "__main__":
    main()
