"""Run directories: one writer at a time, no silent overwrite, a run id tying the files of one run together.

A run directory is what ``eventsnn train --out DIR`` writes (``run.json``, ``checkpoint.npz``, ``metrics.json``,
``metrics.csv``, ``model.npz``, ``raster.png``). The rules (docs/safety.md):

* **One writer.** A writer holds ``DIR/.eventsnn.lock``, created atomically with ``O_CREAT | O_EXCL`` and holding
  its pid, host, process start time and the time it was taken; a second writer is refused with a message naming
  the holder. A lock left by a process that no longer runs on this host (killed, crashed) is taken over, under a
  second exclusive marker so that two processes cannot both take it over; a lock of another host is never
  guessed stale: the message says how to remove it.
* **No silent overwrite.** A directory that already holds a run is trained into only with ``mode="resume"``
  (continue from its checkpoint) or ``mode="overwrite"`` (delete the run's files first); ``mode="new"`` refuses.
* **Clean state.** Temporary files of atomic writes killed mid-way are removed once the lock is held.
* **One run id.** Each run gets a random id, written into ``run.json``, ``checkpoint.npz`` and ``model.npz``;
  resuming and :func:`eventsnn.runs.load_trained` refuse files whose ids differ.
* **Finished is visible.** ``run.json`` gets ``finished_at`` once the final files are written: :func:`run_state`
  tells ``"finished"`` from ``"unfinished"`` runs (e.g. for a sweep deciding what to resume).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import uuid
from typing import Literal

from eventsnn._atomic import remove_stale_temporaries
from eventsnn._file_validation import read_json

RUN_FILES = ("run.json", "checkpoint.npz", "metrics.json", "metrics.csv", "model.npz", "raster.png")
LOCK_NAME = ".eventsnn.lock"
MODES = ("new", "resume", "overwrite")
_MAX_LOCK_BYTES = 4096
# the run directories whose lock this process holds (real path -> lock): a Trainer writing into a directory that
# the command line has locked for it must not try to take the lock a second time
_HELD: dict[str, RunLock] = {}


class RunDirectoryError(RuntimeError):
    """A run directory cannot be used as asked: locked by another writer, or holding a run that neither
    ``resume`` nor ``overwrite`` was asked for. The message names the directory and says what to do."""


def new_run_id() -> str:
    """A fresh random run id (32 hex digits)."""
    return uuid.uuid4().hex


def run_state(path: str | os.PathLike) -> Literal["absent", "empty", "unfinished", "finished"]:
    """What ``path`` holds: no directory, no run file, a run still running or interrupted, or a finished run.

    Examples
    --------
    >>> run_state("no/such/directory")
    'absent'
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        return "absent"
    present = [name for name in RUN_FILES if os.path.exists(os.path.join(path, name))]
    if not present:
        return "empty"
    info = _read_small_json(os.path.join(path, "run.json"))
    finished = isinstance(info, dict) and info.get("finished_at") and "model.npz" in present
    return "finished" if finished else "unfinished"


def _read_small_json(file: str) -> object:
    """The JSON in ``file``, or None if it is missing, too large or malformed: such a run counts as unfinished,
    and reading the file for real (``load_trained``, ``--resume``) names the problem."""
    try:
        return read_json(file)
    except (OSError, ValueError):  # FileFormatError is a ValueError
        return None


def _process_start(pid: int) -> str | None:
    """Start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), None where unknown: with the pid
    it identifies a process even after its pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    now = _process_start(pid)
    return start is None or now is None or now == start


class RunLock:
    """The exclusive lock of one run directory (see the module docstring); use :func:`acquire`."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, LOCK_NAME)
        self.info = {"pid": os.getpid(), "host": socket.gethostname(), "process_start": _process_start(os.getpid()),
                     "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.held = False
        if _HELD.get(os.path.realpath(self.directory)) is self:
            del _HELD[os.path.realpath(self.directory)]

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _create(self, path: str, info: dict) -> bool:
        """Create ``path`` exclusively with ``info``; False if it exists."""
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(info, handle)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:  # a full disk: no half-written lock stays behind
            os.unlink(path)
            raise OSError(error.errno, f"cannot write {path}: {error.strerror}", path) from None
        return True

    def _holder(self, path: str) -> dict | None:
        """The JSON of a lock file, None if it vanished; a dict without pid if unreadable."""
        try:
            with open(path, "rb") as handle:
                raw = handle.read(_MAX_LOCK_BYTES)
        except FileNotFoundError:
            return None
        try:
            info = json.loads(raw.decode("utf-8"))
            return info if isinstance(info, dict) else {}
        except ValueError:
            return {}

    def _stale(self, holder: dict) -> bool:
        pid = holder.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or holder.get("host") != self.info["host"]:
            return False  # unreadable, or another host's: cannot tell, so never guessed stale
        return not _alive(pid, holder.get("process_start"))

    def acquire(self) -> RunLock:
        """Take the lock (taking over a dead process's lock on this host); RunDirectoryError if it is held."""
        for _ in range(3):  # a lock released or taken over meanwhile: try again
            if self._create(self.path, self.info):
                self.held = True
                _HELD[os.path.realpath(self.directory)] = self
                return self
            holder = self._holder(self.path)
            if holder is None:
                continue
            if not self._stale(holder):
                raise RunDirectoryError(self._refusal(holder))
            self._take_over(holder)
        raise RunDirectoryError(f"{self.directory}: could not take the lock {self.path} (other processes keep "
                                f"taking it); retry")

    def _take_over(self, holder: dict) -> None:
        """Remove the stale lock ``holder``, unless another process is doing so or the lock changed meanwhile."""
        marker = self.path + ".takeover"
        if not self._create(marker, self.info):
            other = self._holder(marker)
            if other is not None and self._stale(other):
                with contextlib.suppress(FileNotFoundError):  # another process may remove it first
                    os.unlink(marker)  # left by a process that died while taking over
            raise RunDirectoryError(f"{self.directory}: another process is taking over the stale lock {self.path} "
                                    f"(marker {marker}); retry")
        try:
            if self._holder(self.path) == holder:  # still the stale one, not a lock taken meanwhile
                os.unlink(self.path)
        finally:
            os.unlink(marker)

    def _refusal(self, holder: dict) -> str:
        if "pid" not in holder:
            return (f"{self.directory} is locked by {self.path}, which cannot be read; if no eventsnn run writes "
                    f"to this directory, delete the lock and retry")
        where = f"process {holder.get('pid')} on host {holder.get('host')}, since {holder.get('since')}"
        if holder.get("host") != self.info["host"]:
            return (f"{self.directory} is in use by {where} (lock {self.path}); if that run is no longer running, "
                    f"delete the lock and retry (with --resume to continue the run)")
        return (f"{self.directory} is in use by {where} (lock {self.path}): another eventsnn run writes there; "
                f"wait for it, or choose another --out")

    def release(self) -> None:
        """Give the lock up, if this object holds it (a lock taken over by another process is left alone)."""
        if self.held and self._holder(self.path) == self.info:
            os.unlink(self.path)
        self.held = False


def held_here(directory: str | os.PathLike) -> bool:
    """True if this process holds the lock of ``directory`` (taken by :func:`acquire` or :func:`prepare`)."""
    return os.path.realpath(os.fspath(directory)) in _HELD


def acquire(directory: str | os.PathLike) -> RunLock:
    """Take the lock of ``directory`` (created if missing); RunDirectoryError if another writer holds it."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    return RunLock(directory).acquire()


def prepare(directory: str | os.PathLike, mode: str = "new") -> RunLock:
    """Make ``directory`` ready for a run written in ``mode`` and return its held lock (release it when done).

    Parameters
    ----------
    directory : str or PathLike
        The run directory (created if missing).
    mode : {"new", "resume", "overwrite"}
        ``"new"`` refuses a directory that holds a run; ``"resume"`` keeps its files (the trainer continues from
        the checkpoint, if any); ``"overwrite"`` deletes the run's files (only :data:`RUN_FILES`) first.

    Raises
    ------
    RunDirectoryError
        If another writer holds the directory, or ``mode="new"`` and it holds a run.
    ValueError
        If ``mode`` is not one of :data:`MODES`.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as scratch:
    ...     with prepare(scratch, "new") as lock:
    ...         run_state(scratch)
    'empty'
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}")
    lock = acquire(directory)
    try:
        state = run_state(lock.directory)
        if mode == "new" and state in ("unfinished", "finished"):
            present = [name for name in RUN_FILES if os.path.exists(os.path.join(lock.directory, name))]
            kind = "a finished" if state == "finished" else "an unfinished"
            raise RunDirectoryError(f"{lock.directory} already holds {kind} run ({', '.join(present)}); pass --resume "
                                    f"to continue it, --overwrite to replace it, or choose another --out")
        remove_stale_temporaries(lock.directory)
        if mode == "overwrite":
            for name in RUN_FILES:
                try:
                    os.unlink(os.path.join(lock.directory, name))
                except FileNotFoundError:
                    pass
                except IsADirectoryError:
                    raise RunDirectoryError(f"{os.path.join(lock.directory, name)} is a directory; cannot "
                                            f"overwrite the run") from None
    except BaseException:
        lock.release()
        raise
    return lock


__all__ = [
    "LOCK_NAME",
    "MODES",
    "RUN_FILES",
    "RunDirectoryError",
    "RunLock",
    "acquire",
    "new_run_id",
    "prepare",
    "run_state",
]
