"""Sweeps: many ``eventsnn train`` runs from one TOML specification, run as Dask tasks, resumable.

The specification (its format and validation) is :mod:`eventsnn.sweep_spec`'s, the report (table of means over
seeds, Pareto fronts) :mod:`eventsnn.sweep_report`'s; this module runs the runs and re-exports the public names of
both, so ``from eventsnn.sweep import load_spec, run_sweep, report`` is the whole API.

Every run is one ordinary run directory ``OUT/<name>`` -- the files ``eventsnn train --out`` writes, written by
the same code (:func:`eventsnn.cli.main` called in the worker process, not a shell) -- named by the settings that
differ between runs, e.g. ``method-antlr__spike_penalty-0.001__seed-1``. Its ``run.json`` records the equivalent
``eventsnn train`` command line, so any point can be re-run by hand. Each run is one task on a Dask cluster: by
default a :class:`distributed.LocalCluster` of processes with one thread each, or an existing cluster by address.
The sweep's own bookkeeping lives in ``OUT/_sweep/``: one status file per run (running, done or failed, with the
error) and one log per run (the run's printed output).

Fault tolerance. A run whose status file says done with the same command line is never run again. A run whose
directory exists is started with ``--resume``, so an interrupted run (a killed worker, a stopped sweep) continues
from its last atomic checkpoint, bit-identical to an uninterrupted run. A worker process that dies is replaced by
its nanny and the scheduler gives its task to a worker again (Dask's ``allowed-failures``). A run that fails for
its own reason (an exception in training, e.g. a :class:`~eventsnn._validation.SpikeLimitError`, or a checkpoint
written with other settings) is recorded as failed with its error and the other runs go on; running the sweep
again skips it unless ``retry_failed``. A sweep can be stopped and started again at any time: it submits only the
runs that are not done.

Order. Runs are submitted seed-major: runs already started (their directory exists, so they resume) first, then
every point's first seed, then every point's second seed, and so on. A long sweep stopped early has then measured
every point on the same seeds, rather than some points on every seed and others on none.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import socket
import statistics
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

# with the public names of the specification and the report, so that eventsnn.sweep is the whole API
from eventsnn._atomic import write_json
from eventsnn.sweep_report import (METRICS, STATUS_DIR, Metric, Report, pareto_front, read_status,  # noqa: F401
                                   report, status_path)
from eventsnn.sweep_spec import Choose, Front, Run, SpecError, SweepSpec, load_spec, spec_from_dict  # noqa: F401

# A worker process runs one training at a time: eventsnn.cli.main records sys.argv in run.json and prints to
# sys.stdout, both process-wide, so tasks of a worker with several threads take turns.
_TRAINING = threading.Lock()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_in_worker(run_dir: str, argv: Sequence[str], status_file: str) -> dict:
    """Train one run of a sweep in this process (the Dask task): ``eventsnn train ARGV --out RUN_DIR``
    (:func:`eventsnn.cli.train_run`), resuming the run in ``RUN_DIR`` if the directory exists; writes its status
    file before and after.

    A failure of the run itself (an error of the command, e.g. runaway activity or a checkpoint of other settings,
    or any exception from training) is caught and recorded as ``status = "failed"`` with its error; only a failure
    of the bookkeeping (writing the status file) escapes, for Dask to retry.

    Returns
    -------
    dict
        The status record written (``status``, ``error``, ``seconds``, ...).
    """
    from eventsnn import cli
    with _TRAINING:
        lost_attempt = _release_lock_of_lost_attempt(run_dir, status_file)
        mode = "resume" if os.path.isdir(run_dir) else "new"
        task, *options = argv
        command = ["train", task, *options, "--out", run_dir] + (["--resume"] if mode == "resume" else [])
        record = {"status": "running", "argv": list(argv), "pid": os.getpid(), "host": socket.gethostname(),
                  "started_at": _now(), "resumed": mode == "resume"}
        write_json(status_file, record)
        started = time.perf_counter()
        error = None
        messages = io.StringIO()  # the command's one-line errors, kept for the status record
        log_file = os.path.splitext(status_file)[0] + ".log"
        with open(log_file, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(messages):
            print(f"--- {record['started_at']} pid {record['pid']} on {record['host']}: eventsnn {' '.join(command)}",
                  flush=True)
            if lost_attempt:
                print(f"--- took over the lock of the lost attempt {lost_attempt}", flush=True)
            # run.json records sys.argv: the equivalent command line, so that a point can be re-run by hand
            saved_argv = sys.argv
            sys.argv = ["eventsnn", *command]
            try:
                code = cli.train_run(task, run_dir, *options, mode=mode)
                if code:
                    lines = messages.getvalue().strip().splitlines()
                    error = lines[-1] if lines else f"eventsnn train exited with status {code}"
            except Exception as exc:  # noqa: BLE001 - a run's own failure is recorded, and the sweep goes on
                traceback.print_exc(file=messages)
                error = f"{type(exc).__name__}: {exc}"
            finally:
                sys.argv = saved_argv
                log.write(messages.getvalue())
        record.update(status="failed" if error else "done", error=error, finished_at=_now(),
                      seconds=time.perf_counter() - started)
        write_json(status_file, record)
        return record


def _release_lock_of_lost_attempt(run_dir: str, status_file: str) -> str | None:
    """Remove the run directory's lock if the sweep's own status file shows it was left by an earlier attempt of this
    run on another host; returns that attempt (``"pid P on HOST"``) or None.

    A lock of a dead process on this host is taken over by :mod:`eventsnn.rundir` itself, but one of another host
    can never be judged stale from here: without this, a run whose worker died on one machine of a cluster would
    fail when the scheduler gives it to a worker on another. Removing it is safe because the sweep lock makes this
    sweep the only writer of its runs, the scheduler runs a task again only once it has lost the worker that ran
    it, and the status file records which worker that was.
    """
    from eventsnn import rundir
    from eventsnn._file_validation import FileFormatError, read_json
    lock_file = os.path.join(run_dir, rundir.LOCK_NAME)
    try:
        previous, holder = read_json(status_file), read_json(lock_file)
    except (OSError, ValueError, FileFormatError):  # no earlier attempt, no lock, or unreadable: nothing to judge
        return None
    if not (isinstance(previous, dict) and isinstance(holder, dict) and previous.get("status") == "running"):
        return None
    attempt = (previous.get("pid"), previous.get("host"))
    if attempt != (holder.get("pid"), holder.get("host")) or attempt[1] == socket.gethostname():
        return None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_file)
    return f"pid {attempt[0]} on {attempt[1]}"


# ------------------------------------------------------------------------------------------------------------------
# Running a sweep


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    n_runs : int
        Runs of the specification.
    n_skipped : int
        Runs already done (or failed, without ``retry_failed``) before this call: not submitted.
    n_submitted, n_done, n_failed : int
        Runs submitted by this call, and how they ended.
    seconds : float
        Wall time of the call (s).
    report : Report or None
        The report written at the end (None with ``write_report=False``).
    """

    n_runs: int
    n_skipped: int
    n_submitted: int = 0
    n_done: int = 0
    n_failed: int = 0
    seconds: float = 0.0
    report: "Report | None" = None


def run_sweep(spec: SweepSpec, out: str | os.PathLike, *, workers: int | None = None, scheduler: str | None = None,
              client: Any = None, retry_failed: bool = False, retries: int = 3, progress_every: float = 10.0,
              log: Callable[[str], None] | None = print, write_report: bool = True) -> SweepResult:
    """Run every run of ``spec`` that is not done yet, each as a Dask task, then write the report.

    Parameters
    ----------
    spec : SweepSpec
        From :func:`load_spec`.
    out : str or PathLike
        Output directory: one run directory per run, ``_sweep/`` (status files and logs) and the report.
    workers : int, optional
        Worker processes of the local cluster (default: the number of cores); ignored with ``scheduler`` or
        ``client``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) instead of a local cluster; its workers must
        import this eventsnn and see ``out`` at the same path.
    client : distributed.Client, optional
        An existing client to submit to (its cluster is left running).
    retry_failed : bool
        Also run again the runs recorded as failed.
    retries : int
        Times a run is given to a worker again after its worker died (or its bookkeeping raised); a local
        cluster's scheduler allows that many worker deaths per run (``distributed.scheduler.allowed-failures``).
    progress_every : float
        Seconds between progress lines while nothing finishes.
    log : callable or None
        Receives the progress lines (default ``print``).
    write_report : bool
        Write the report (:func:`report`) at the end.

    Returns
    -------
    SweepResult

    Notes
    -----
    Nothing is started if every run is done: no cluster, no file written but the report.

    Examples
    --------
    One tiny run on a local cluster of one worker, then the same sweep again, which has nothing to do:

    >>> import tempfile
    >>> spec = spec_from_dict({"sweep": {"task": "yinyang"},
    ...                        "fixed": {"epochs": 1, "n_train": 40, "n_test": 20, "hidden": 10}})
    >>> out = tempfile.mkdtemp()
    >>> result = run_sweep(spec, out, workers=1, log=None)
    >>> result.n_done, result.n_failed, sorted(os.listdir(os.path.join(out, "run")))[-2:]
    (1, 0, ['raster.png', 'run.json'])
    >>> again = run_sweep(spec, out, log=None)
    >>> again.n_skipped, again.n_submitted, again.report.rows[0]["done"]
    (1, 0, 1)
    """
    started = time.perf_counter()
    say = log or (lambda line: None)
    out = os.path.abspath(os.fspath(out))
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    # the progress loop waits this long for a run to finish: 0 (or NaN) made it spin, printing a line per turn
    if isinstance(progress_every, bool) or not isinstance(progress_every, (int, float)) \
            or not 0.0 < progress_every < float("inf"):
        raise ValueError(f"progress_every must be a finite number of seconds > 0, got {progress_every!r}")
    if log is not None and not callable(log):
        raise TypeError(f"log must be callable or None, got {type(log).__name__}")
    skip = {"done", "failed"} if not retry_failed else {"done"}

    def missing() -> list:
        return [run for run in spec.runs if read_status(out, run)["status"] not in skip]

    todo = missing()
    result = SweepResult(n_runs=len(spec.runs), n_skipped=len(spec.runs) - len(todo))
    if todo:
        os.makedirs(os.path.join(out, STATUS_DIR), exist_ok=True)
        with _sweep_lock(out):
            # again under the lock: a sweep into the same directory may have finished runs since the first look
            todo = missing()
            result.n_skipped = len(spec.runs) - len(todo)
            if todo:
                with _connect(client, scheduler, workers, retries) as connected:
                    say(f"sweep {spec.name}: {len(todo)} of {len(spec.runs)} runs to do ({result.n_skipped} already "
                        f"done or failed) on {_describe_cluster(connected)}; output {out}")
                    _execute(connected, spec, out, todo, retries, progress_every, say, result)
    if not todo:
        say(f"sweep {spec.name}: all {len(spec.runs)} runs already done or failed; nothing to run")
    result.seconds = time.perf_counter() - started
    if write_report:
        result.report = report(spec, out)
        say(result.report.text)
    return result


@contextlib.contextmanager
def _sweep_lock(out: str):
    """Hold ``OUT/_sweep/lock`` exclusively: two sweeps into one directory would run the same runs twice."""
    import fcntl

    from eventsnn.rundir import RunDirectoryError
    with open(os.path.join(out, STATUS_DIR, "lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirectoryError(f"another sweep is running into {out} (it holds {handle.name}); wait for it or "
                                    "stop it") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _connect(client: Any, scheduler: str | None, workers: int | None, retries: int):
    """A Dask client: the one given, one connected to ``scheduler``, or one of a new local cluster of processes
    with one thread each (closed on exit)."""
    import dask
    import distributed
    if client is not None:
        yield client
        return
    if scheduler is not None:
        with distributed.Client(scheduler) as connected:
            yield connected
        return
    import logging
    n_workers = workers or os.cpu_count() or 1
    # A worker death counts against its run: allow `retries` of them before the scheduler gives up on it.
    # Dask's nannies give each worker MALLOC_TRIM_THRESHOLD_=65536, and setting it turns off glibc's adaptive
    # mmap threshold: every fresh gradient or weight array (2 MB for 784 x 350) is then mapped, page-faulted in
    # and unmapped again, which made a batch-5 MNIST training step cost ~1.5x the CPU of the same step run by
    # `eventsnn train` (docs/sweeps.md). None leaves the allocator as the command line has it.
    with dask.config.set({"distributed.scheduler.allowed-failures": retries,
                          "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR,
                                           env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    try:
        with distributed.Client(cluster) as connected:
            yield connected
    finally:
        cluster.close()


def _describe_cluster(client: Any) -> str:
    threads = client.nthreads()
    n_workers, n_threads = len(threads), sum(threads.values())
    return (f"{n_workers} worker{'s' * (n_workers != 1)} ({n_threads} thread{'s' * (n_threads != 1)}) at "
            f"{client.scheduler.address}")


def _execute(client: Any, spec: SweepSpec, out: str, todo: list, retries: int, progress_every: float,
             say: Callable, result: SweepResult) -> None:
    import distributed
    futures = {}
    priority = {run.name: submission_priority(spec, run, started=os.path.isdir(os.path.join(out, run.name)))
                for run in todo}
    # submitted in priority order too: an idle worker takes the first task before the next one is submitted
    for run in sorted(todo, key=lambda run: -priority[run.name]):
        run_dir = os.path.join(out, run.name)
        future = client.submit(run_in_worker, run_dir, list(run.argv), status_path(out, run), retries=retries,
                               pure=False, key=f"eventsnn-sweep-{run.name}-{os.getpid()}-{time.time_ns()}",
                               priority=priority[run.name])
        futures[future] = run
    result.n_submitted = len(todo)
    pending = set(futures)
    durations = []
    last_line = ""
    last_time = 0.0
    while pending:
        try:
            done, pending = distributed.wait(pending, timeout=progress_every, return_when="FIRST_COMPLETED")
        except TimeoutError:  # nothing finished in progress_every seconds: report progress anyway
            done = set()
        for future in done:
            run = futures[future]
            try:
                record = future.result()
            except Exception as exc:  # noqa: BLE001 - the worker died too often (KilledWorker) or bookkeeping failed
                record = {"status": "failed", "argv": list(run.argv), "finished_at": _now(),
                          "error": f"{type(exc).__name__}: {exc} (the run directory keeps its last checkpoint)"}
                write_json(status_path(out, run), record)
            if record["status"] == "done":
                result.n_done += 1
                durations.append(record["seconds"])
            else:
                result.n_failed += 1
                say(f"  failed: {run.name}: {record['error']}")
        running = [os.path.join(out, futures[f].name) for f in pending
                   if read_status(out, futures[f]).get("status") == "running"]
        line = _progress_line(result, running, len(pending) - len(running), durations, len(client.nthreads()) or 1)
        if line != last_line or time.perf_counter() - last_time >= progress_every:
            say(line)
            last_line, last_time = line, time.perf_counter()


def submission_priority(spec: SweepSpec, run: Run, started: bool = False) -> int:
    """Dask priority of a run (higher runs first; equal priorities run in submission order): seed-major.

    Parameters
    ----------
    spec : SweepSpec
        The sweep the run belongs to.
    run : Run
        One of ``spec.runs``.
    started : bool
        Whether the run's directory exists already (an interrupted run, which then resumes before any new one).

    Returns
    -------
    int
        ``-k`` for the ``k``-th seed of ``spec.seeds``, or ``1`` for a started run.

    Examples
    --------
    >>> spec = spec_from_dict({"sweep": {"task": "yinyang", "seeds": [3, 7]}, "grid": {"hidden": [10, 20]}})
    >>> order = sorted(spec.runs, key=lambda run: -submission_priority(spec, run))  # stable: file order within a seed
    >>> [run.name for run in order]
    ['hidden-10__seed-3', 'hidden-20__seed-3', 'hidden-10__seed-7', 'hidden-20__seed-7']
    """
    return 1 if started else -spec.seeds.index(run.seed)


def epoch_progress(run_dir: str) -> tuple[int, int, float] | None:
    """How far a run has come: (epochs done, epochs planned, mean seconds per epoch so far).

    Read from the run's ``metrics.json`` (written atomically after every epoch) and ``run.json``; None until the
    first epoch is done, or if either file is missing or not of the trainer's form (progress is a display only).

    Examples
    --------
    >>> import json, os, tempfile
    >>> run = tempfile.mkdtemp()
    >>> _ = open(os.path.join(run, "run.json"), "w").write(json.dumps({"config": {"epochs": 20}}))
    >>> epoch_progress(run) is None
    True
    >>> _ = open(os.path.join(run, "metrics.json"), "w").write(json.dumps([{"epoch_s": 50.0}, {"epoch_s": 70.0}]))
    >>> epoch_progress(run)
    (2, 20, 60.0)
    """
    from eventsnn._file_validation import read_json
    try:
        planned = read_json(os.path.join(run_dir, "run.json"))["config"]["epochs"]
        seconds = [float(epoch["epoch_s"]) for epoch in read_json(os.path.join(run_dir, "metrics.json"))]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not seconds or not all(0.0 <= t < float("inf") for t in seconds) or not isinstance(planned, int) \
            or isinstance(planned, bool) or planned < 1:
        return None
    return len(seconds), planned, statistics.fmean(seconds)


def _time_left(running: Sequence[str], queued: int, durations: Sequence[float], n_workers: int) -> float | None:
    """Seconds until the sweep is done if each worker keeps its pace: the epochs left of the running runs at their
    own seconds per epoch, and every other run (queued, or running without a finished epoch) as long as the mean
    whole run (finished ones, or running ones extrapolated to all their epochs); None before any of that exists."""
    progress = [p for p in map(epoch_progress, running) if p is not None]
    whole_runs = list(durations) + [planned * per_epoch for _, planned, per_epoch in progress]
    if not whole_runs:
        return None
    work = sum((planned - done) * per_epoch for done, planned, per_epoch in progress if planned > done)
    work += (queued + len(running) - len(progress)) * statistics.fmean(whole_runs)
    return work / max(1, min(n_workers, len(running) + queued))


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _progress_line(result: SweepResult, running: Sequence[str], queued: int, durations: list, n_workers: int) -> str:
    """One status line: counts, the epoch each running run has reached, and the estimated time left."""
    epochs = [p for p in map(epoch_progress, running) if p is not None]
    reached = f" (epochs {', '.join(f'{done}/{planned}' for done, planned, _ in epochs[:4])}" \
              f"{', ...' if len(epochs) > 4 else ''})" if epochs else ""
    seconds = _time_left(running, queued, durations, n_workers)
    return (f"  {result.n_done} done, {len(running)} running{reached}, {result.n_failed} failed, {queued} left "
            f"(of {result.n_submitted} submitted) | estimated time left "
            f"{'-' if seconds is None else _duration(seconds)}")


# ------------------------------------------------------------------------------------------------------------------
# The command line (``eventsnn sweep``; its arguments are declared in eventsnn/cli.py)


def _default_out(spec: SweepSpec) -> str:
    """``runs/<spec name>``, the output directory without ``--out``; SpecError if the name would lead out of
    ``runs/`` or to ``runs/`` itself (an absolute path, ``..``, ``.``), where the sweep would write its runs among
    other files."""
    out = os.path.join("runs", spec.name)
    inside = os.path.relpath(os.path.normpath(out), "runs")
    if "\0" in spec.name or os.path.isabs(spec.name) or inside in (".", "..") or inside.startswith(".." + os.sep):
        raise SpecError(f"{spec.source}: [sweep] name {spec.name!r} names the default output directory runs/<name>, "
                        "which must lie inside runs/; give another name or --out")
    return out


def command(args: Any) -> int:
    """``eventsnn sweep SPEC --out DIR [--workers N | --scheduler ADDRESS] [--report | --export-records DEST]
    [--retry-failed]``: exit code 0, or 1 if a run failed; a bad specification raises (:class:`SpecError`, before
    anything starts) and :func:`eventsnn.cli.main` prints it as one line."""
    spec = load_spec(args.spec)
    out = args.out or _default_out(spec)
    if getattr(args, "export_records", None):
        from eventsnn.sweep_records import export_records
        exported = export_records(spec, out, args.export_records)
        print(f"sweep {spec.name}: {len(exported.records)} run records written under {exported.directory} "
              f"(largest {exported.largest_bytes / 1024:.1f} KB), {len(exported.not_done)} runs not done left out; "
              f"tables: {exported.summary_csv}, {exported.runs_csv}")
        return 0
    if args.report:
        if not os.path.isdir(out):
            raise FileNotFoundError(f"{out} does not exist: no sweep has run there yet")
        print(report(spec, out).text)
        return 0
    try:
        result = run_sweep(spec, out, workers=args.workers, scheduler=args.scheduler,
                           retry_failed=args.retry_failed, retries=args.retries)
    except KeyboardInterrupt:  # the cluster is closed on the way out; every run keeps its last checkpoint
        print(f"eventsnn: sweep interrupted; run the same command again to continue (report so far: eventsnn sweep "
              f"{args.spec} --out {out} --report)", file=sys.stderr)
        return 130
    print(f"sweep {spec.name}: {result.n_done} done, {result.n_failed} failed, {result.n_skipped} skipped (done or "
          f"failed before) in {result.seconds:.1f} s")
    return 1 if result.n_failed else 0
