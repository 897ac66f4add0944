"""The worker threads that run compiled ranges of a batch (``_kernels/batch.py``), started once per process.

Starting a thread costs ~0.1 ms on an idle machine and several ms on a loaded one, more than a whole W1 layer of
a range; ``simulate`` and ``vjp`` therefore share one pool per thread count instead of starting threads per call.
Only compiled kernels (and the small lambdas that call them) run on these threads: they never submit work to a
pool themselves, so callers that share a pool, even from several threads of their own, cannot deadlock.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def range_pool(n_threads: int) -> ThreadPoolExecutor:
    """The process's pool of ``n_threads`` workers (keyed by process id too: a forked child has no workers)."""
    key = (os.getpid(), n_threads)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="eventsnn-range")
    return pool


def start_ranges(n_threads: int, ranges: list[tuple[int, int]], call, *,
                 caller_works: bool = False) -> tuple[list[Future], list]:
    """Run ``call(first, stop)`` for every range on ``n_threads`` threads; returns the futures of the pool's workers
    and the list the results are written to (in range order, whatever the order they finish in).

    Each thread claims the next range left until none is: one task per thread rather than per range, so that a
    range costs no hand-off between threads (each wakes a thread that then competes for the GIL). With
    ``caller_works`` the calling thread is one of the ``n_threads`` and returns once no range is left to claim
    (the others may still be running theirs: wait for the futures).
    """
    results: list = [None] * len(ranges)
    claim = itertools.count()  # next() on a count is atomic under the GIL

    def worker() -> None:
        while (r := next(claim)) < len(ranges):
            results[r] = call(*ranges[r])

    helpers = min(n_threads, len(ranges)) - (1 if caller_works else 0)
    pool = range_pool(n_threads)
    futures = [pool.submit(worker) for _ in range(helpers)]
    if caller_works:
        worker()
    return futures, results
