"""Event bookkeeping shared by the backward kernels: per-neuron slices and the part of a train inside the window."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels import status


@njit(cache=True)
def per_neuron_index(neurons, n):
    """(order, first): ``order`` lists items grouped by neuron (stable, so each group keeps time order);
    ``order[first[j]:first[j + 1]]`` are neuron j's items."""
    order = np.argsort(neurons, kind="mergesort")
    first = np.zeros(n + 1, dtype=np.int64)
    for s in range(neurons.size):
        first[neurons[s] + 1] += 1
    for j in range(n):
        first[j + 1] += first[j]
    return order, first


@njit(cache=True, inline="always")
def count_up_to(times, t_max):
    """Number of leading entries of the sorted ``times`` that are <= t_max (events inside the window)."""
    n = 0
    while n < times.size and times[n] <= t_max:
        n += 1
    return n


@njit(cache=True)
def merge_order(a, b):
    """Order of the concatenation [a, b] of two sorted arrays, sorted and stable (at equal values every entry of
    ``a`` comes first): a linear merge, for event lists that are already sorted in parts."""
    out = np.empty(a.size + b.size, dtype=np.int64)
    i = 0
    k = 0
    for m in range(out.size):
        if k >= b.size or (i < a.size and a[i] <= b[k]):
            out[m] = i
            i += 1
        else:
            out[m] = a.size + k
            k += 1
    return out


@njit(cache=True)
def spike_train_status(times, neurons, n_neurons):
    """(status, index) of the first spike that breaks what the engine assumes of one sample's spikes: neuron in
    [0, n_neurons), time finite and >= 0, times non-decreasing (codes in status.py; (OK, -1) if none does). One pass;
    reads only the first min(len(times), len(neurons)) entries (the caller checks that the lengths agree)."""
    previous = 0.0
    for s in range(min(times.size, neurons.size)):
        j = neurons[s]
        if j < 0 or j >= n_neurons:
            return status.NEURON_OUT_OF_RANGE, s
        t = times[s]
        if not t >= previous:  # NaN fails this too
            if t < 0.0 or math.isnan(t):
                return status.TIME_NOT_FINITE_OR_NEGATIVE, s
            return status.TIME_NOT_SORTED, s
        if t == math.inf:
            return status.TIME_NOT_FINITE_OR_NEGATIVE, s
        previous = t
    return status.OK, -1
