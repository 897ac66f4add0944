"""Private numba kernels. Flat float64/int64 arrays and scalars in, ``(value, status)`` out; no Python objects.

Numba does not invalidate a cached kernel when a kernel it calls in *another* file changes (numba docs, "Notes on
caching"), so a stale cache could silently run old code. Unless the user set NUMBA_CACHE_DIR, the cache lives in a
directory keyed by a hash of these sources (``~/.cache/eventsnn/numba/<hash>``, or under $XDG_CACHE_HOME), so any
edit to any kernel file starts a fresh cache. This must run before the kernel modules are decorated.
"""

import hashlib
import os
import pathlib

import numba


def _configure_cache() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    digest = hashlib.sha256()
    for source in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    base = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "eventsnn" / "numba"
    numba.config.CACHE_DIR = str(base / digest.hexdigest()[:16])


_configure_cache()
