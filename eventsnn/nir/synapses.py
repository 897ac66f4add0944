"""Synapse lists: what flows along the wires of a NIR graph during import.

A signal leaving a node is, per source population, four parallel arrays (channel, source neuron, weight, delay in
ms): one entry per path from a source neuron to a channel. ``Linear`` maps multiply weights along paths, ``Delay``
nodes add delays; at a neuron node the lists become dense eventsnn connections.
"""

from __future__ import annotations

import numpy as np


def per_channel(name: str, field_name: str, values, n: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    try:
        array = np.broadcast_to(array.reshape(-1) if array.size == n else array, (n,)).astype(np.float64)
    except ValueError:
        raise ValueError(f"node {name!r}: {field_name} of shape {np.shape(values)} does not fit {n} neurons") \
            from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"node {name!r}: {field_name} must be finite")
    return array


def matmul(rows, cols, values, k, i, w, d):
    """Synapse lists after a linear map: entry (row, col) takes every synapse arriving on channel col to row."""
    order = np.argsort(k, kind="stable")
    k_sorted = k[order]
    lo = np.searchsorted(k_sorted, cols, side="left")
    count = np.searchsorted(k_sorted, cols, side="right") - lo
    entry = np.repeat(np.arange(rows.size), count)
    offset = np.arange(entry.size) - np.repeat(np.cumsum(count) - count, count)
    picked = order[np.repeat(lo, count) + offset]
    weight = values[entry] * w[picked]
    keep = weight != 0.0
    return rows[entry][keep], i[picked][keep], weight[keep], d[picked][keep]


def dense_connections(parts, n_pre: int, n_post: int, gain: np.ndarray) -> list[tuple[np.ndarray, float | np.ndarray]]:
    """Dense (weights, delays) connections from one source's synapse list: synapses of equal (pre, post, delay)
    are summed; a pair reached with several delays gets one connection per delay (ascending)."""
    post, pre, weight, delay = parts
    key = np.lexsort((delay, post, pre))
    post, pre, weight, delay = post[key], pre[key], weight[key], delay[key]
    same = np.r_[False, (pre[1:] == pre[:-1]) & (post[1:] == post[:-1]) & (delay[1:] == delay[:-1])]
    group = np.cumsum(~same) - 1
    first = np.flatnonzero(~same)
    summed = np.zeros(first.size)
    np.add.at(summed, group, weight)
    pre, post, delay = pre[first], post[first], delay[first]
    new_pair = np.r_[True, (pre[1:] != pre[:-1]) | (post[1:] != post[:-1])]
    start = np.maximum.accumulate(np.where(new_pair, np.arange(pre.size), 0))
    level = np.arange(pre.size) - start
    out = []
    for r in range(int(level.max()) + 1 if level.size else 1):
        at = level == r
        weights = np.zeros((n_pre, n_post))
        weights[pre[at], post[at]] = summed[at] * gain[post[at]]
        present = delay[at]
        if present.size == 0 or np.all(present == present[0]):
            delays = float(present[0]) if present.size else 0.0  # one delay: a scalar keeps the fast path
        else:
            delays = np.zeros((n_pre, n_post))
            delays[pre[at], post[at]] = delay[at]
        out.append((weights, delays))
    return out
