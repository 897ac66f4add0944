"""Leaky-integrator read-out: exact maximum of each class potential over the window, and its gradients.

A read-out neuron c is an LIF neuron without threshold driven by one sample's spikes (``times`` sorted, ``sources``
the presynaptic index of each spike, ``weights[source, c]``). Between spikes its potential is the two-exponential
sum of :mod:`eventsnn._kernels.lif`, so its maximum on [0, t_max] is one of: V(0) = 0, V at a spike time (a kink:
an inhibitory spike turning a rising V down), the single stationary point inside a gap
(:func:`lif.extremum_time`), or V(t_max). Every candidate is evaluated exactly; ties keep the earliest.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels import lif


@njit(cache=True)
def potential_maxima(times, sources, weights, t_max, params, v_max, t_at_max, kink):
    """Fill ``v_max[c]``, ``t_at_max[c]`` (ms) and ``kink[c]`` (index of the spike at which the maximum sits,
    -1 if the maximum is at 0, a stationary point or t_max) for every read-out neuron c."""
    tau_mem, tau_syn, _, _, bias, _, _ = lif.unpack(params)
    n = times.size
    n_out = weights.shape[1]
    v = np.zeros(n_out)
    i = np.zeros(n_out)
    v_max[:] = 0.0
    t_at_max[:] = 0.0
    kink[:] = -1
    t = 0.0
    s = 0
    while True:
        at_end = s >= n or times[s] > t_max
        t_next = t_max if at_end else times[s]
        if t_next > t:
            # one set of decay factors per gap serves every class
            em, es, kern = lif.decay_factors(t_next - t, params)
            for c in range(n_out):
                v_new, i_new = lif.propagate(v[c], i[c], em, es, kern, bias)
                # the gap holds an interior maximum only if dV/dt = (I + bias - V) / tau_mem turns from positive
                # to negative in it (signs of the numerators: no division per class and gap)
                if i[c] + bias - v[c] > 0.0 and i_new + bias - v_new < 0.0:
                    t_ext = lif.extremum_time(v[c], i[c], bias, tau_mem, tau_syn)
                    if t_ext > 0.0 and t + t_ext < t_next:
                        v_ext, _ = lif.state_after(t_ext, v[c], i[c], params)
                        if v_ext > v_max[c]:
                            v_max[c], t_at_max[c], kink[c] = v_ext, t + t_ext, -1
                v[c], i[c] = v_new, i_new
            t = t_next
        for c in range(n_out):
            if v[c] > v_max[c]:
                v_max[c], t_at_max[c], kink[c] = v[c], t, -1 if at_end else s
        if at_end:
            break
        while s < n and times[s] == t:
            for c in range(n_out):
                i[c] += weights[sources[s], c]
            s += 1


@njit(cache=True, inline="always")
def _kernel_and_slope(u, params):
    """(k(u), dk/du) of the unit-current response (lif eq. 5); tau_mem dk/du = e^{-u/tau_syn} - k. From the
    decay factors the forward propagation uses (one exponential fewer for exact integer tau ratios)."""
    _, es, k = lif.decay_factors(u, params)
    return k, (es - k) / params[lif.P_TAU_MEM]


@njit(cache=True)
def maxima_backward(times, sources, weights, params, t_at_max, kink, value_cotangents, time_cotangents,
                    weight_gradient):
    """Add dL/dt_s to ``time_cotangents`` and dL/dW to ``weight_gradient`` given dL/dv_max (``value_cotangents``).

    Envelope theorem: at a stationary maximum or at an end of the window only the explicit dependence of V(t*)
    counts. At a kink maximum t* = t_s moves with the kinking spike, so that spike's time gets V'(t*-) (the
    slope just before it) instead. A spike exactly at t* has k(0) = 0 and no one-sided-safe derivative: it is
    given none unless it is the kink.
    """
    tau_mem, _, _, _, bias, _, _ = lif.unpack(params)
    for c in range(weights.shape[1]):
        g = value_cotangents[c]
        if g == 0.0:
            continue
        t_star = t_at_max[c]
        slope_before = bias * math.exp(-t_star / tau_mem) / tau_mem
        for s in range(times.size):
            if times[s] >= t_star:
                break
            k, dk = _kernel_and_slope(t_star - times[s], params)
            w = weights[sources[s], c]
            weight_gradient[sources[s], c] += g * k
            time_cotangents[s] -= g * w * dk
            slope_before += w * dk
        if kink[c] >= 0:
            time_cotangents[kink[c]] += g * slope_before


@njit(cache=True)
def batch_potential_maxima(times, sources, offsets, weights, t_max, params, v_max, t_at_max, kink):
    """:func:`potential_maxima` of every sample b of a batch (spikes ``[offsets[b], offsets[b + 1])`` of the flat
    arrays, window ``t_max[b]`` ms) into row b of ``v_max``, ``t_at_max`` and ``kink``: one call per batch instead
    of one per sample, each sample computed by exactly the per-sample kernel."""
    for b in range(offsets.size - 1):
        lo, hi = offsets[b], offsets[b + 1]
        potential_maxima(times[lo:hi], sources[lo:hi], weights, t_max[b], params, v_max[b], t_at_max[b], kink[b])


@njit(cache=True)
def batch_maxima_backward(times, sources, offsets, weights, params, t_at_max, kink, value_cotangents,
                          time_cotangents, weight_gradients):
    """:func:`maxima_backward` of every sample b of a batch: dL/dt of its spikes into ``time_cotangents[offsets[b]:
    offsets[b + 1]]`` and dL/dW into ``weight_gradients[b]`` (one (n_inputs, n_classes) matrix per sample, as the
    per-sample calls fill their own), from row b of ``t_at_max``, ``kink`` and ``value_cotangents``."""
    for b in range(offsets.size - 1):
        lo, hi = offsets[b], offsets[b + 1]
        maxima_backward(times[lo:hi], sources[lo:hi], weights, params, t_at_max[b], kink[b], value_cotangents[b],
                        time_cotangents[lo:hi], weight_gradients[b])


@njit(cache=True)
def potentials_at(times, sources, weights, params, query, out):
    """``out[q, c]`` = V_c(query[q]) (ms): the exact read-out potentials on arbitrary times (for plots and tests)."""
    tau_mem, _, decay_gap, _, bias, _, _ = lif.unpack(params)
    for q in range(query.size):
        tq = query[q]
        base = bias * (1.0 - math.exp(-tq / tau_mem)) if tq > 0.0 else 0.0
        for c in range(weights.shape[1]):
            out[q, c] = base
        for s in range(times.size):
            if times[s] >= tq:
                break
            k = lif.psp_kernel(tq - times[s], tau_mem, decay_gap)
            for c in range(weights.shape[1]):
                out[q, c] += weights[sources[s], c] * k


@njit(cache=True, inline="always")
def _added_spike_gain(u, g, tau_mem, decay_gap):
    """g k(u) for a spike u ms before a maximum t*, 0 for u <= 0 (a spike at or after t* does not reach it) or
    g = 0; shared by both creation kernels so that they skip exactly the same (query, class) pairs."""
    if u <= 0.0 or g == 0.0:
        return 0.0
    return g * lif.psp_kernel(u, tau_mem, decay_gap)


@njit(cache=True)
def creation_values(query, t_at_max, params, weights, value_cotangents, out):
    """``out[q, j]`` = sum_c dL/dv_max_c W[j, c] k(t*_c - query[q]): first-order change of the loss if presynaptic
    neuron j fired one more spike at query[q] (ms)."""
    tau_mem, _, decay_gap, _, _, _, _ = lif.unpack(params)
    for q in range(query.size):
        for c in range(weights.shape[1]):
            gk = _added_spike_gain(t_at_max[c] - query[q], value_cotangents[c], tau_mem, decay_gap)
            if gk == 0.0:
                continue
            for j in range(weights.shape[0]):
                out[q, j] += gk * weights[j, c]


@njit(cache=True)
def creation_values_at(query, neurons, t_at_max, params, weights, value_cotangents, out):
    """``out[q]`` = creation_values' ``out[q, neurons[q]]`` for one (time, neuron) pair per q: n_classes
    terms per pair instead of n_inputs x n_classes. ``neurons`` must lie in [0, n_inputs) (not checked here).
    Pairs sorted by time (grid candidates: every neuron at each grid time) reuse the class gains of the
    previous time."""
    tau_mem, _, decay_gap, _, _, _, _ = lif.unpack(params)
    n_classes = weights.shape[1]
    gains = np.zeros(n_classes)
    last = math.nan
    for q in range(query.size):
        if query[q] != last:
            last = query[q]
            for c in range(n_classes):
                gains[c] = _added_spike_gain(t_at_max[c] - last, value_cotangents[c], tau_mem, decay_gap)
        j = neurons[q]
        total = 0.0
        for c in range(n_classes):
            total += gains[c] * weights[j, c]
        out[q] = total
