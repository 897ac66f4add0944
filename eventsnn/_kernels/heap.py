"""Array-backed binary heaps for the event engine.

Tie order (documented once, here; tested in tests/test_engine_rules.py):

* At equal times, **neuron events** (a predicted threshold crossing or the end of a refractory period) are
  processed before **deliveries** (a spike arriving at its targets). So a crossing exactly at the arrival time
  of an input fires first, and the input is applied after the reset.
* Neuron events at equal times are taken in increasing global neuron index (key (time, neuron)).
* Deliveries at equal times are taken in insertion order (key (time, seq)); inputs are inserted first, in
  time order, then spikes as they occur.

Two structures:

* ``NeuronQueue``: an indexed min-heap holding exactly one key per neuron (its next event time, +inf if
  none); updating a neuron's key after an input is O(log n) and leaves no stale entries.
* ``DeliveryQueue``: a growable min-heap of rows ``(time, seq, origin_time, source, cursor)`` stored in a
  (capacity, 5) float64 array; integer fields are exact in float64 up to 2**53.
"""

from __future__ import annotations

import numpy as np
from numba import njit

D_TIME = 0
D_SEQ = 1
D_ORIGIN = 2
D_SOURCE = 3
D_CURSOR = 4
D_WIDTH = 5


# --------------------------------------------------------------------------------------------------
# indexed neuron heap: keys[neuron], heap[position] = neuron, position[neuron]
@njit(cache=True, inline="always")
def _neuron_before(keys, a, b):
    return keys[a] < keys[b] or (keys[a] == keys[b] and a < b)


@njit(cache=True)
def neuron_queue_new(n):
    keys = np.full(n, np.inf)
    heap = np.arange(n, dtype=np.int64)
    position = np.arange(n, dtype=np.int64)
    return keys, heap, position


# The queue operations below are inlined into the engine's loop: as calls, once or twice per event, each paid an
# atomic reference count on every array argument, in and out.
@njit(cache=True, inline="always")
def neuron_queue_update(keys, heap, position, neuron, key):
    """Set ``neuron``'s key and restore the heap order (sift up or down)."""
    old = keys[neuron]
    keys[neuron] = key
    pos = position[neuron]
    n = heap.size
    if key < old:
        while pos > 0:
            parent = (pos - 1) >> 1
            other = heap[parent]
            if _neuron_before(keys, neuron, other):
                heap[pos] = other
                position[other] = pos
                pos = parent
            else:
                break
    else:
        while True:
            child = 2 * pos + 1
            if child >= n:
                break
            right = child + 1
            if right < n and _neuron_before(keys, heap[right], heap[child]):
                child = right
            other = heap[child]
            if _neuron_before(keys, other, neuron):
                heap[pos] = other
                position[other] = pos
                pos = child
            else:
                break
    heap[pos] = neuron
    position[neuron] = pos


# --------------------------------------------------------------------------------------------------
# delivery heap
@njit(cache=True, inline="always")
def _row_before(rows, a, b):
    return rows[a, D_TIME] < rows[b, D_TIME] or (rows[a, D_TIME] == rows[b, D_TIME] and rows[a, D_SEQ] < rows[b, D_SEQ])


@njit(cache=True, inline="always")
def _swap_rows(rows, a, b):
    for c in range(D_WIDTH):
        tmp = rows[a, c]
        rows[a, c] = rows[b, c]
        rows[b, c] = tmp


@njit(cache=True)
def delivery_queue_new(capacity):
    return np.empty((max(capacity, 16), D_WIDTH))


@njit(cache=True)
def _doubled(rows, size):
    """A copy of the first ``size`` rows in an array of twice the capacity."""
    bigger = np.empty((2 * rows.shape[0], D_WIDTH))
    bigger[:size] = rows[:size]
    return bigger


@njit(cache=True, inline="always")
def delivery_push(rows, size, time, seq, origin, source, cursor):
    """Insert a row; returns (rows, size) — rows may be a new, larger array."""
    if size == rows.shape[0]:
        rows = _doubled(rows, size)
    rows[size, D_TIME] = time
    rows[size, D_SEQ] = seq
    rows[size, D_ORIGIN] = origin
    rows[size, D_SOURCE] = source
    rows[size, D_CURSOR] = cursor
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if _row_before(rows, pos, parent):
            _swap_rows(rows, pos, parent)
            pos = parent
        else:
            break
    return rows, size + 1


@njit(cache=True, inline="always")
def delivery_pop(rows, size):
    """Remove the top row (read it before calling); returns the new size."""
    size -= 1
    if size > 0:
        for c in range(D_WIDTH):
            rows[0, c] = rows[size, c]
        pos = 0
        while True:
            child = 2 * pos + 1
            if child >= size:
                break
            right = child + 1
            if right < size and _row_before(rows, right, child):
                child = right
            if _row_before(rows, child, pos):
                _swap_rows(rows, child, pos)
                pos = child
            else:
                break
    return size
