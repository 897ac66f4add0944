"""Exact adjoint of one dense layer, swept gap by gap over the shared clock (the layered fast path).

The per-neuron rules are those of docs/theory.md (A1-A4) and ``backward.py``; what changes is the loop order.
All neurons of a dense layer see the same arrival times, so between two consecutive clock points (a *gap*) every
neuron without an own event in that gap is propagated by the same decay factors, in one loop over neurons that
the compiler vectorises. Only neurons with an own event (spike, refractory end, candidate) inside the gap are
propagated piecewise. Refractory intervals need no special case: lambda_V is 0 there (set at the refractory end
in reverse), and the free transposed propagator keeps it 0 while decaying lambda_I by e^{-dt/tau_syn}, which is
exactly the clamped adjoint; likewise the arrival rule loses its lambda_V term by itself.

One kernel, ``layer_backward_sources``, serves every gradient method; ``layer_backward_gaps`` is the exact
timing adjoint (no sources). The creation/removal methods (:mod:`eventsnn.gradient_methods`) add, per neuron,
*candidate* times t_c (grid points, sub-threshold maxima, existing spikes; ``backward_sources.py``) at which
dL/dV receives a source

    lambda_V(t_c-) += gain_c * G_c,     G_c = drive_c + coef_v_c * lambda_V(t_c+) + coef_i_c * lambda_I(t_c+)

(``drive``: what a spike added at t_c would change in the loss, from the loss or from the layer above;
``coef_*``: the surrogate reset term, -V(t_c) and -I(t_c) (reset_current) when the reset is not detached). At a
spike (A4) the incoming timing cotangent is scaled by ``lambda_timing`` and the reset-time term (-lambda_V+ f_V+
and the refractory-end term) is dropped when ``detach_reset`` is set. The kernel also returns lambda_I and
lambda_V of every neuron at shared ``query_times`` (values at t+; the queries are clock points): adding weight
w to I at time u changes the loss by w * lambda_I(u+), which is how a layer below learns what a spike it might
create or remove is worth.

Event placement follows the forward tie rule (neuron events before deliveries at equal times): an own event at
time t belongs to the gap below the first clock point at or after t, whose arrival is undone first in reverse.
Reverse tie order at equal times: query, arrival, refractory end, spike, candidate (a candidate at a spike time
acts just before the spike). A candidate inside a refractory period (V clamped) is inert.

Two independent routes check it: ``backward.layer_backward`` (per-neuron walks, timing only) and
``tests/sources_reference.py`` (per-neuron walks with sources, plain Python).

Cost: O(n_clock x n_post) simple vector operations plus O(own events); memory O(n_arrivals x n_post) for the
per-arrival weight-gradient rows (as ``layer_backward``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels.backward import spike_jump
from eventsnn._kernels.indexing import count_up_to, merge_order
from eventsnn._kernels.lif import decay_factors, unpack

EVENT_SPIKE = 0
EVENT_REFRACTORY_END = 1
EVENT_CANDIDATE = 2
BLAS_DOT_MIN = 32  # layer width from which the arrival sensitivity is a BLAS dot product (measured on W2: 350 and 10)


@njit(cache=True, nogil=True)
def layer_backward_gaps(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons,
                        spike_cotangents, min_slope, grazing_slope, d_weight_total=None):
    """Same contract and results as ``backward.layer_backward`` (to rounding): the sweep without sources.
    With ``d_weight_total`` ((n_pre, n_post)), dL/dW is added into it and the returned rows are empty."""
    none = np.zeros(0)
    d_weights, d_arrivals, d_bias, n_grazing, _, _ = layer_backward_sources(
        arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons, spike_cotangents,
        none, np.zeros(0, dtype=np.int64), none, none, none, none, none, 1.0, False, min_slope, grazing_slope,
        d_weight_total)
    return d_weights, d_arrivals, d_bias, n_grazing


@njit(cache=True)
def own_events(spike_times, t_ref, t_max):
    """Own events of a layer's neurons: every spike and every refractory end inside the window.

    Returns (times, kinds, spike index), spikes first, then refractory ends (each part in time order), so that
    a stable sort by time puts a spike before a refractory end at the same time.
    """
    n_spikes = spike_times.size
    ev_time = np.empty(2 * n_spikes if t_ref > 0.0 else n_spikes)
    ev_kind = np.empty(ev_time.size, dtype=np.int64)
    ev_spike = np.empty(ev_time.size, dtype=np.int64)
    m = 0
    for s in range(n_spikes):
        ev_time[m] = spike_times[s]
        ev_kind[m] = EVENT_SPIKE
        ev_spike[m] = s
        m += 1
    if t_ref > 0.0:
        for s in range(n_spikes):
            if spike_times[s] + t_ref <= t_max:
                ev_time[m] = spike_times[s] + t_ref
                ev_kind[m] = EVENT_REFRACTORY_END
                ev_spike[m] = s
                m += 1
    return ev_time[:m], ev_kind[:m], ev_spike[:m]


@njit(cache=True)
def own_event_currents_on_clock(arrival_times, arrival_sources, weights, n_arr, tau_syn, reset_current,
                                spike_neurons, ev_time, ev_kind, ev_spike, order, ev_gap):
    """Forward replay of I for all neurons on the arrival clock: (I just before each spike, I at each refractory
    end), per spike, for the events of ``own_events``. ``order`` sorts them by time and ``ev_gap[e]`` is the
    arrival gap of sorted event e."""
    n_post = weights.shape[1]
    current_before = np.zeros(spike_neurons.size)
    current_at_end = np.zeros(spike_neurons.size)
    cur = np.zeros(n_post)
    clock = 0.0
    e = 0
    n_ev = order.size
    for g in range(-1, n_arr):
        while e < n_ev and ev_gap[e] == g:
            idx = order[e]
            s = ev_spike[idx]
            j = spike_neurons[s]
            value = cur[j] * math.exp(-(ev_time[idx] - clock) / tau_syn)
            if ev_kind[idx] == EVENT_SPIKE:
                current_before[s] = value
                if reset_current:
                    cur[j] = 0.0  # zero stays zero under decay, so the clock-time value stays consistent
            else:
                current_at_end[s] = value
            e += 1
        if g + 1 < n_arr:
            top = arrival_times[g + 1]
            es = math.exp(-(top - clock) / tau_syn)
            row = weights[arrival_sources[g + 1]]
            for j in range(n_post):
                cur[j] = cur[j] * es + row[j]
            clock = top
    return current_before, current_at_end


@njit(cache=True)
def sweep_clock(arrival_times, points):
    """The shared clock of a gap sweep: arrivals and extra time points (queries, grid points), both sorted, an
    arrival before a point at the same time. Returns (times, tag): tag = arrival index, or -1 - point index."""
    order = merge_order(arrival_times, points)
    times = np.empty(order.size)
    tag = np.empty(order.size, dtype=np.int64)
    for m in range(order.size):
        i = order[m]
        if i < arrival_times.size:
            times[m] = arrival_times[i]
            tag[m] = i
        else:
            times[m] = points[i - arrival_times.size]
            tag[m] = -1 - (i - arrival_times.size)
    return times, tag


@njit(cache=True, nogil=True)
def layer_backward_sources(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons,
                           spike_cotangents, cand_times, cand_neurons, cand_gain, cand_drive, cand_coef_v,
                           cand_coef_i, query_times, lambda_timing, detach_reset, min_slope, grazing_slope,
                           d_weight_total=None):
    """Adjoint of one layer with candidate sources (see module docstring).

    Arrays as in ``backward.layer_backward``; candidates sorted by time (any neuron order); query_times sorted.
    Swept gap by gap over the shared clock of arrivals and queries, vectorised over neurons, as
    ``backward_dense.layer_backward_gaps``: only neurons with an own event (spike, refractory end, candidate)
    inside a gap are propagated piecewise.

    ``d_weight_total``: an (n_pre, n_post) array to add dL/dW into directly (row arrival_sources[k] += row k, for
    k from the last arrival down, the order in which ``backward.scatter_rows`` adds rows), or None (or a (0, 0)
    array) to get the per-arrival rows instead (callers that run samples in parallel sum them afterwards in a fixed
    order).

    Returns
    -------
    (d_weight_rows (n_arrivals_in_window, n_post), or (0, n_post) when accumulated into d_weight_total,
     d_arrival_times (n_arrivals,), d_bias, n_near_grazing,
     lambda_i_at_queries (n_query, n_post), lambda_v_at_queries (n_query, n_post))
    """
    tau_mem, tau_syn, _, theta, bias, t_ref, reset_current = unpack(params)
    n_post = weights.shape[1]
    n_arr = count_up_to(arrival_times, t_max)
    n_query = query_times.size
    n_spikes = spike_times.size
    n_cand = cand_times.size

    total = np.zeros((0, 0)) if d_weight_total is None else d_weight_total
    accumulate = total.shape[0] > 0
    d_weights = np.zeros((0 if accumulate else n_arr, n_post))
    d_arrivals = np.zeros(arrival_times.size)
    lam_i_query = np.zeros((n_query, n_post))
    lam_v_query = np.zeros((n_query, n_post))

    # I before each spike and at each refractory end (arrival clock only: queries do not change I)
    sp_time, sp_kind, sp_spike = own_events(spike_times, t_ref, t_max)
    n_sp = sp_time.size
    n_ev = n_cand + n_sp
    if n_ev == 0:  # no spike and no source: lambda is 0 everywhere
        return d_weights, d_arrivals, 0.0, 0, lam_i_query, lam_v_query
    sp_order = np.argsort(sp_time, kind="mergesort")
    sp_gap = np.searchsorted(arrival_times[:n_arr], sp_time[sp_order]) - 1
    current_before, current_at_end = own_event_currents_on_clock(
        arrival_times, arrival_sources, weights, n_arr, tau_syn, reset_current, spike_neurons, sp_time, sp_kind,
        sp_spike, sp_order, sp_gap)

    # all own events: candidates, then spikes, then refractory ends, so that a stable sort by time gives the
    # forward tie order candidate < spike < refractory end (a candidate at a spike time acts just before it)
    ev_time = np.empty(n_ev)
    ev_kind = np.empty(n_ev, dtype=np.int64)
    ev_index = np.empty(n_ev, dtype=np.int64)  # candidate index, or spike index
    for c in range(n_cand):
        ev_time[c] = cand_times[c]
        ev_kind[c] = EVENT_CANDIDATE
        ev_index[c] = c
    for m in range(n_sp):
        ev_time[n_cand + m] = sp_time[m]
        ev_kind[n_cand + m] = sp_kind[m]
        ev_index[n_cand + m] = sp_spike[m]
    # candidates arrive sorted and the few spike events are sorted alone: a merge orders them all
    order = merge_order(cand_times, sp_time[sp_order])
    for m in range(order.size):
        if order[m] >= n_cand:
            order[m] = n_cand + sp_order[order[m] - n_cand]
    ev_neuron = np.empty(n_ev, dtype=np.int64)
    # V is clamped while refractory, so nothing can be created there: such candidates are inert
    inert = np.zeros(n_cand, dtype=np.bool_)
    refractory = np.zeros(n_post, dtype=np.bool_)
    for e in range(n_ev):
        idx = order[e]
        kind = ev_kind[idx]
        j = cand_neurons[ev_index[idx]] if kind == EVENT_CANDIDATE else spike_neurons[ev_index[idx]]
        ev_neuron[idx] = j
        if kind == EVENT_CANDIDATE:
            inert[ev_index[idx]] = refractory[j]
        elif kind == EVENT_SPIKE:
            refractory[j] = t_ref > 0.0
        else:
            refractory[j] = False

    clock_time, clock_arrival = sweep_clock(arrival_times[:n_arr], query_times[:count_up_to(query_times, t_max)])
    n_clock = clock_time.size
    # an own event at time t belongs to the gap below the first clock point at or after t (undone after it)
    ev_gap = np.searchsorted(clock_time, ev_time[order]) - 1

    lam_v = np.zeros(n_post)
    lam_i = np.zeros(n_post)
    d_bias_per_neuron = np.zeros(n_post)
    pending = np.zeros(n_spikes)      # dL/dt_spike collected at the spike's refractory end
    t_last = np.zeros(n_post)         # special neurons: time their lambda has been propagated down to
    special = np.zeros(n_post, dtype=np.bool_)
    specials = np.empty(n_post, dtype=np.int64)
    keep_v = np.empty(n_post)
    keep_i = np.empty(n_post)
    keep_b = np.empty(n_post)
    sensitivity = np.empty(n_post)
    inv_tau_mem = 1.0 / tau_mem
    inv_tau_syn = 1.0 / tau_syn
    n_grazing = 0
    # grid candidates share their times across neurons, so consecutive own events mostly step by the same dt:
    # the factors of the last dt are kept
    cached_dt = -1.0
    cached = decay_factors(0.0, params)
    e = n_ev - 1
    # lambda is 0 after the last own event (nothing later reaches it): start in that event's gap
    for g in range(ev_gap[n_ev - 1], -2, -1):
        top = clock_time[g + 1] if g + 1 < n_clock else t_max
        bottom = clock_time[g] if g >= 0 else 0.0
        if g + 1 < n_clock:
            k = clock_arrival[g + 1]
            if k >= 0:  # undo arrival k (it followed every own event at its time); lambda_V is 0 while refractory
                row = weights[arrival_sources[k]]
                # adding straight into the total saves a row buffer per arrival and a second pass over it
                out_row = total[arrival_sources[k]] if accumulate else d_weights[k]
                for j in range(n_post):
                    out_row[j] += lam_i[j]
                    sensitivity[j] = lam_i[j] * inv_tau_syn - lam_v[j] * inv_tau_mem
                # dL/d(arrival time) = sum_j w_j (lambda_I,j / tau_syn - lambda_V,j / tau_mem). On wide layers a BLAS
                # dot product is twice as fast as the best hand-written loop (LLVM may not reorder a floating-point
                # sum); on narrow ones the call costs more than the sum.
                if n_post >= BLAS_DOT_MIN:
                    d_arrivals[k] = np.dot(row, sensitivity)
                else:
                    acc = 0.0
                    for j in range(n_post):
                        acc += row[j] * sensitivity[j]
                    d_arrivals[k] = acc
            else:
                lam_i_query[-1 - k] = lam_i
                lam_v_query[-1 - k] = lam_v
        n_special = 0
        while e >= 0 and ev_gap[e] == g:
            idx = order[e]
            j = ev_neuron[idx]
            t_event = ev_time[idx]
            if not special[j]:
                special[j] = True
                specials[n_special] = j
                n_special += 1
                t_last[j] = top
            if t_last[j] - t_event != cached_dt:
                cached_dt = t_last[j] - t_event
                cached = decay_factors(cached_dt, params)
            em, es, kern = cached
            d_bias_per_neuron[j] += lam_v[j] * (1.0 - em)
            lam_i[j] = kern * lam_v[j] + es * lam_i[j]
            lam_v[j] = em * lam_v[j]
            t_last[j] = t_event
            kind = ev_kind[idx]
            if kind == EVENT_CANDIDATE:
                c = ev_index[idx]
                if not inert[c]:
                    drive = cand_drive[c] + cand_coef_v[c] * lam_v[j] + cand_coef_i[c] * lam_i[j]
                    lam_v[j] += cand_gain[c] * drive
            elif kind == EVENT_REFRACTORY_END:
                pending[ev_index[idx]] = -lam_v[j] * (current_at_end[ev_index[idx]] + bias) * inv_tau_mem
                lam_v[j] = 0.0
            else:
                sp = ev_index[idx]
                slope, flow_v_after, near_grazing = spike_jump(current_before[sp], theta, bias, tau_mem, t_ref,
                                                               reset_current, min_slope, grazing_slope)
                n_grazing += near_grazing
                reset_part = 0.0 if detach_reset else pending[sp] - lam_v[j] * flow_v_after
                lam_v[j] = -(lambda_timing * spike_cotangents[sp] + reset_part) / slope
                if reset_current:
                    lam_i[j] = 0.0
            e -= 1
        # special neurons: rest of the gap with their own factors, kept aside while the shared update runs
        for m in range(n_special):
            j = specials[m]
            if t_last[j] - bottom != cached_dt:
                cached_dt = t_last[j] - bottom
                cached = decay_factors(cached_dt, params)
            em, es, kern = cached
            keep_b[m] = d_bias_per_neuron[j] + lam_v[j] * (1.0 - em)
            keep_i[m] = kern * lam_v[j] + es * lam_i[j]
            keep_v[m] = em * lam_v[j]
        em, es, kern = decay_factors(top - bottom, params)
        rise = 1.0 - em
        for j in range(n_post):  # branch-free, so that it vectorises
            d_bias_per_neuron[j] += lam_v[j] * rise
            lam_i[j] = kern * lam_v[j] + es * lam_i[j]
            lam_v[j] = em * lam_v[j]
        for m in range(n_special):
            j = specials[m]
            d_bias_per_neuron[j] = keep_b[m]
            lam_i[j] = keep_i[m]
            lam_v[j] = keep_v[m]
            special[j] = False
    d_bias = 0.0
    for j in range(n_post):
        d_bias += d_bias_per_neuron[j]
    return d_weights, d_arrivals, d_bias, n_grazing, lam_i_query, lam_v_query
