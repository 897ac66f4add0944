"""Which source produced a result: the git commit of the eventsnn package, when it runs from a checkout.

A version number names a release, but the runs of a study are made between releases, so ``run.json`` also records
the commit of the source tree and whether the package's files differed from it. An installed wheel, a copy outside
git, or a machine without git records ``null``: the version number is then all there is.
"""

from __future__ import annotations

import functools
import os
import subprocess

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_GIT_TIMEOUT_S = 10.0  # a hung git (network file system, lock) must not hold a training run back


def _git(*args: str) -> str | None:
    """Output of ``git args`` run in the package directory, or None if git is missing, fails or hangs."""
    try:
        done = subprocess.run(["git", *args], cwd=_PACKAGE_DIR, capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def source_revision() -> dict:
    """The commit of the checkout this package runs from, and whether the package's files differ from it.

    Returns
    -------
    dict
        ``{"commit": str | None, "modified": bool | None}``; both None when the package does not run from a git
        checkout of eventsnn (an installed wheel, or a package that merely sits inside another repository).
    """
    unknown = {"commit": None, "modified": None}
    top = _git("rev-parse", "--show-toplevel")
    if not top:
        return unknown
    # the package must be the checkout's own eventsnn/, not a copy inside some other project's repository
    candidate = os.path.join(top, "eventsnn")
    if not (os.path.isdir(candidate) and os.path.samefile(candidate, _PACKAGE_DIR)):
        return unknown
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--", ".")  # run in the package directory: its files only
    if not commit:
        return unknown
    return {"commit": commit, "modified": None if status is None else status != ""}
