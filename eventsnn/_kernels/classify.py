"""Small kernels of the classification losses (``eventsnn.losses``): first spikes and softmax cross-entropy.

Each loss is evaluated once per sample; on 10 outputs a chain of NumPy calls costs more in call overhead than
the arithmetic, so the per-sample core runs here, and the batch form runs that core for every sample of a batch in
one call (a training step's loss would otherwise cost a call per sample).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def first_spike_index(neurons, n_neurons):
    """Index (into the time-sorted train) of each neuron's first spike, -1 for a silent neuron."""
    first = np.full(n_neurons, -1, dtype=np.int64)
    for s in range(neurons.size - 1, -1, -1):
        first[neurons[s]] = s
    return first


@njit(cache=True)
def softmax_cross_entropy(logits, label):
    """(-log softmax(logits)[label], softmax(logits) - onehot(label)), shifted by the largest logit so that no
    exponential overflows."""
    top = logits.max()
    p = np.exp(logits - top)
    total = p.sum()
    p /= total
    value = -math.log(p[label])
    p[label] -= 1.0
    return value, p


@njit(cache=True)
def first_spike_cross_entropy(times, neurons, n_neurons, label, tau, silent_time):
    """Cross-entropy of softmax(-t_first / tau) over first spike times (silent: ``silent_time``).

    Returns (value, dL/dt for every spike of the train (non-zero at first spikes only), first_spike_index,
    t_first)."""
    first = first_spike_index(neurons, n_neurons)
    t_first = np.empty(n_neurons)
    for j in range(n_neurons):
        t_first[j] = times[first[j]] if first[j] >= 0 else silent_time
    value, d_logits = softmax_cross_entropy(-t_first / tau, label)
    cotangents = np.zeros(times.size)
    for j in range(n_neurons):
        if first[j] >= 0:
            cotangents[first[j]] = -d_logits[j] / tau
    return value, cotangents, first, t_first


@njit(cache=True)
def first_spike_cross_entropy_batch(times, neurons, offsets, n_neurons, labels, tau, silent_times, early_weight,
                                    early_tau):
    """:func:`first_spike_cross_entropy` of every sample b of a batch (its spikes ``[offsets[b], offsets[b + 1])``,
    silent time ``silent_times[b]``), plus ``eventsnn.losses``' early-spike term when ``early_weight`` > 0, in the
    per-sample order of operations (the batch loss equals the per-sample loss bit for bit).

    Returns (values, dL/dt for every spike of ``times``, silent (n_samples, n_neurons))."""
    n_samples = labels.size
    values = np.empty(n_samples)
    cotangents = np.empty(times.size)
    silent = np.empty((n_samples, n_neurons), dtype=np.bool_)
    for b in range(n_samples):
        lo, hi = offsets[b], offsets[b + 1]
        label = labels[b]
        value, sample_cotangents, first, t_first = first_spike_cross_entropy(
            times[lo:hi], neurons[lo:hi], n_neurons, label, tau, silent_times[b])
        if early_weight > 0.0:
            growth = math.exp(t_first[label] / early_tau)
            value += early_weight * (growth - 1.0)
            if first[label] >= 0:
                sample_cotangents[first[label]] += early_weight * growth / early_tau
        values[b] = value
        cotangents[lo:hi] = sample_cotangents
        for j in range(n_neurons):
            silent[b, j] = first[j] < 0
    return values, cotangents, silent
