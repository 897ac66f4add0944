"""Atomic file writes: every file eventsnn saves (checkpoints, metrics, models, spike data, figures) goes through
:func:`atomic_write` (or its :func:`write_json` / :func:`write_npz`), so a reader or a crash never sees a half-written
file and an existing file is replaced only once its successor is complete and on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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
    try:
        permissions = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else 0o666 & ~umask()
        root, ext = os.path.splitext(os.path.basename(path))
        fd, tmp = tempfile.mkstemp(prefix="." + root + ".", suffix=".tmp" + ext, dir=directory)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with os.fdopen(fd, mode, **({"newline": ""} if mode == "w" else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.errno is not None:
            # a full disk or a permission error surfaces in write, fsync or rename: name the file meant
            raise _naming(error, path) from None
        raise


def _naming(error: OSError, path: str) -> OSError:
    """The same kind of OSError (same errno, so the same subclass), naming ``path`` instead of a temporary file."""
    return OSError(error.errno, f"cannot write {path}: {error.strerror}", path)


# the names atomic_write gives its temporary files: "." + stem + "." + mkstemp's 8 random characters + ".tmp" + ext
#: characters a temporary file's name adds to the final name (the dots, mkstemp's 8 random ones and ".tmp"): a
#: final name longer than the file system's limit minus this cannot be written atomically
TEMPORARY_NAME_EXTRA = len(".") + len(".") + 8 + len(".tmp")
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Delete temporary files that atomic writes killed mid-way (kill -9, power loss) left in ``directory``.

    Only safe while no other process writes there (eventsnn.rundir calls it with the directory's lock held).
    Returns the names removed.
    """
    removed = []
    for name in sorted(os.listdir(directory)):
        file = os.path.join(directory, name)
        if _TEMPORARY.match(name) and os.path.isfile(file):
            os.unlink(file)
            removed.append(name)
    return removed


def write_json(path: str | os.PathLike, obj: object) -> None:
    """``obj`` as indented JSON, written atomically."""
    with atomic_write(path, "w") as handle:
        json.dump(obj, handle, indent=1)


def write_npz(path: str | os.PathLike, **arrays) -> None:
    """``numpy.savez`` of ``arrays`` to ``path`` (used as given: no ``.npz`` appended), written atomically."""
    import numpy as np
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)
