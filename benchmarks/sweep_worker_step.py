"""CPU time of one training step in this process and in a sweep's Dask worker, with and without the allocator
setting Dask's nannies give their workers.

Dask's nannies start each worker with ``MALLOC_TRIM_THRESHOLD_=65536``. Setting that variable turns off glibc's
adaptive mmap threshold, so every array above 128 KiB (a 784 x 350 gradient is 2.2 MB) is mapped, page-faulted in
and unmapped again on each step. ``eventsnn sweep`` now starts its local workers without it; this benchmark shows
what that changes. The step: MNIST ``--preset eventprop`` (784-350 + read-out, batch 5, input dropout 0.2), the
same batches in every set-up, ``--steps`` steps after 50 of warm-up, CPU time of the thread that trains
(``time.thread_time``), median over ``--repeats`` interleaved repetitions:

* ``main``: in this process (as ``eventsnn train`` runs it);
* ``main, trim 65536``: a child process of this script with ``MALLOC_TRIM_THRESHOLD_=65536`` set;
* ``dask default``: a one-worker LocalCluster with Dask's default environment;
* ``eventsnn sweep``: a one-worker cluster as ``eventsnn sweep`` makes it (``eventsnn.sweep._connect``).

    EVENTSNN_DATA=<data> python benchmarks/sweep_worker_step.py --steps 1000 --repeats 3

Results are the same in every set-up (the allocator changes where arrays live, not what is computed): the script
checks that the trained weights agree bit for bit.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def steps_cpu(n_steps: int, data: str | None) -> tuple[float, str]:
    """Milliseconds of thread CPU per step over ``n_steps`` steps, and a digest of the trained weights."""
    import hashlib

    import numpy as np

    from eventsnn import tasks, training
    task = tasks.make_task("mnist", preset="eventprop", seed=0, data_path=data)
    trainer = training.Trainer(task.net, task.train_inputs, task.train_labels, config=task.config,
                               readout=task.readout)
    order = np.random.default_rng(0).permutation(len(task.train_inputs))
    batch = task.config.batch_size
    for i in range(50):
        trainer.train_step(order[batch * i:batch * (i + 1)])
    started = time.thread_time()
    for i in range(50, 50 + n_steps):
        trainer.train_step(order[batch * i:batch * (i + 1)])
    per_step = (time.thread_time() - started) / n_steps * 1e3
    digest = hashlib.sha256(b"".join(p.tobytes() for p in trainer.parameters)).hexdigest()[:16]
    return per_step, digest


def in_child(n_steps: int, data: str | None, trim: str) -> tuple[float, str]:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]); "
            "import sweep_worker_step as s; r = s.steps_cpu(int(sys.argv[3]), sys.argv[4] or None); print(r[0], r[1])")
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": trim}
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(ROOT / "benchmarks"), str(n_steps), data or ""],
                         env=env, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), out[1]


def in_cluster(n_steps: int, data: str | None, as_sweep: bool) -> tuple[float, str]:
    import logging

    import distributed

    from eventsnn import sweep

    def job(n, where):
        import sys
        sys.path.insert(0, where)
        import sweep_worker_step
        return sweep_worker_step.steps_cpu(n, data)

    if as_sweep:
        with sweep._connect(None, None, 1, 0) as client:
            return client.submit(job, n_steps, str(ROOT / "benchmarks"), pure=False).result()
    before = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    try:
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                      silence_logs=logging.ERROR, env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
                distributed.Client(cluster) as client:
            return client.submit(job, n_steps, str(ROOT / "benchmarks"), pure=False).result()
    finally:
        # a nanny writes its pre-spawn variables into the environment of the process that starts it: undo that,
        # or every later worker started from here (the "eventsnn sweep" set-up too) would inherit them
        if before is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        else:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000, help="timed steps per set-up (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--data", default=os.environ.get("EVENTSNN_DATA"),
                        help="data directory (default: $EVENTSNN_DATA)")
    args = parser.parse_args()
    setups = {"main": lambda: steps_cpu(args.steps, args.data),
              "main, trim 65536": lambda: in_child(args.steps, args.data, "65536"),
              "dask default": lambda: in_cluster(args.steps, args.data, as_sweep=False),
              "eventsnn sweep": lambda: in_cluster(args.steps, args.data, as_sweep=True)}
    times: dict[str, list[float]] = {name: [] for name in setups}
    digests = set()
    for repeat in range(args.repeats):
        for name, run in setups.items():
            per_step, digest = run()
            times[name].append(per_step)
            digests.add(digest)
            print(f"repeat {repeat}: {name:18s} {per_step:6.2f} ms CPU per step", flush=True)
    if len(digests) != 1:
        raise SystemExit(f"the set-ups trained different weights: {sorted(digests)}")
    base = statistics.median(times["main"])
    print(f"\nmedian CPU per step over {args.repeats} repetitions of {args.steps} steps (weights identical):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:18s} {median:6.2f} ms  ({median / base:.2f}x main)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
