"""Atomic file writes: every file eventsnn saves (checkpoints, metrics, models, spike data, figures) goes through
:func:`atomic_write` (or its :func:`write_json` / :func:`write_npz`), so a reader or a crash never sees a half-written file and an existing file is replaced only
once its successor is complete and on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from typing import IO, Iterator


def umask() -> int:
    """The process umask, read without changing it (Linux); 0o022 where it cannot be read."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on success flush it to disk and rename it to ``path``.

    The file gets the permissions of the file it replaces, or the usual ones of a new file (0666 minus the
    umask; a bare temporary file would be 0600). On any exception the temporary file is removed and ``path`` is
    untouched. ``mode`` is ``"wb"`` or ``"w"`` (text, no newline translation).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"directory {directory!r} does not exist (needed to write {path!r})")
    permissions = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else 0o666 & ~umask()
    root, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix="." + root + ".", suffix=".tmp" + ext, dir=directory)
    try:
        with os.fdopen(fd, mode, **({"newline": ""} if mode == "w" else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: object) -> None:
    """``obj`` as indented JSON, written atomically."""
    with atomic_write(path, "w") as handle:
        json.dump(obj, handle, indent=1)


def write_npz(path: str | os.PathLike, **arrays) -> None:
    """``numpy.savez`` of ``arrays`` to ``path`` (used as given: no ``.npz`` appended), written atomically."""
    import numpy as np
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)
