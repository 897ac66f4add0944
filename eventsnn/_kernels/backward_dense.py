"""Exact adjoint of one dense layer, swept gap by gap over the shared arrival clock (the layered fast path).

The per-neuron rules are those of docs/theory.md (A1-A4) and ``backward.py``; what changes is the loop order.
All neurons of a dense layer see the same arrival times, so between two consecutive arrivals (a *gap*) every
neuron without an own event in that gap is propagated by the same decay factors, in one loop over neurons that
the compiler vectorises. Only neurons with a spike or a refractory end inside the gap are propagated piecewise.
Refractory intervals need no special case: lambda_V is 0 there (set at the refractory end in reverse), and the
free transposed propagator keeps it 0 while decaying lambda_I by e^{-dt/tau_syn}, which is exactly the
clamped adjoint; likewise the arrival rule loses its lambda_V term by itself.

Event placement follows the forward tie rule (neuron events before deliveries at equal times): an own event at
time t belongs to gap g = (number of arrivals strictly before t) - 1, the gap (a_g, a_{g+1}] whose top arrival
is undone first in reverse.

Cost: O(n_arrivals x n_post) simple vector operations plus O(own events); memory O(n_arrivals x n_post) for the
per-arrival weight-gradient rows (as ``layer_backward``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels.backward import spike_jump
from eventsnn._kernels.indexing import count_up_to
from eventsnn._kernels.lif import decay_factors, unpack

EVENT_SPIKE = 0
EVENT_REFRACTORY_END = 1


@njit(cache=True, nogil=True)
def layer_backward_gaps(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons,
                        spike_cotangents, min_slope, grazing_slope):
    """Same contract and results as ``backward.layer_backward`` (to rounding), vectorised over neurons."""
    tau_mem, tau_syn, gap, theta, bias, t_ref, reset_current = unpack(params)
    n_post = weights.shape[1]
    n_arr = count_up_to(arrival_times, t_max)
    n_spikes = spike_times.size
    ev_time, ev_kind, ev_spike, n_ev = own_events(spike_times, t_ref, t_max)
    order = np.argsort(ev_time, kind="mergesort")
    ev_gap = np.searchsorted(arrival_times[:n_arr], ev_time[order]) - 1  # per sorted event
    current_before, current_at_end = own_event_currents_on_clock(
        arrival_times, arrival_sources, weights, n_arr, tau_syn, reset_current, spike_neurons, ev_time, ev_kind,
        ev_spike, order, ev_gap)

    d_weights = np.zeros((n_arr, n_post))
    d_arrivals = np.zeros(arrival_times.size)
    d_bias_per_neuron = np.zeros(n_post)
    n_grazing = 0
    if n_ev == 0:
        return d_weights, d_arrivals, 0.0, 0
    lam_v = np.zeros(n_post)
    lam_i = np.zeros(n_post)
    pending = np.zeros(n_spikes)      # dL/dt_spike collected at the spike's refractory end
    t_last = np.zeros(n_post)         # special neurons: time their lambda has been propagated down to
    special = np.zeros(n_post, dtype=np.bool_)
    specials = np.empty(n_post, dtype=np.int64)
    keep_v = np.empty(n_post)
    keep_i = np.empty(n_post)
    keep_b = np.empty(n_post)
    inv_tau_mem = 1.0 / tau_mem
    inv_tau_syn = 1.0 / tau_syn
    e = n_ev - 1
    # lambda is 0 after the last own event (the loss sees spike times only): start in that event's gap
    for g in range(ev_gap[n_ev - 1], -2, -1):
        top = arrival_times[g + 1] if g + 1 < n_arr else t_max
        bottom = arrival_times[g] if g >= 0 else 0.0
        if g + 1 < n_arr:  # undo arrival g+1 (it followed every own event at its time)
            row = arrival_sources[g + 1]
            acc = 0.0
            for j in range(n_post):
                d_weights[g + 1, j] = lam_i[j]
                acc += weights[row, j] * (lam_i[j] * inv_tau_syn - lam_v[j] * inv_tau_mem)
            d_arrivals[g + 1] = acc
        n_special = 0
        while e >= 0 and ev_gap[e] == g:
            idx = order[e]
            s = ev_spike[idx]
            j = spike_neurons[s]
            t_event = ev_time[idx]
            if not special[j]:
                special[j] = True
                specials[n_special] = j
                n_special += 1
                t_last[j] = top
            em, es, kern = decay_factors(t_last[j] - t_event, tau_mem, tau_syn, gap)
            d_bias_per_neuron[j] += lam_v[j] * (1.0 - em)
            lam_i[j] = kern * lam_v[j] + es * lam_i[j]
            lam_v[j] = em * lam_v[j]
            t_last[j] = t_event
            if ev_kind[idx] == EVENT_REFRACTORY_END:
                pending[s] = -lam_v[j] * (current_at_end[s] + bias) * inv_tau_mem
                lam_v[j] = 0.0
            else:
                slope, flow_v_after, near_grazing = spike_jump(current_before[s], theta, bias, tau_mem, t_ref,
                                                               reset_current, min_slope, grazing_slope)
                n_grazing += near_grazing
                total = spike_cotangents[s] + pending[s] - lam_v[j] * flow_v_after
                lam_v[j] = -total / slope
                if reset_current:
                    lam_i[j] = 0.0
            e -= 1
        # special neurons: rest of the gap with their own factors, kept aside while the shared update runs
        for m in range(n_special):
            j = specials[m]
            em, es, kern = decay_factors(t_last[j] - bottom, tau_mem, tau_syn, gap)
            keep_b[m] = d_bias_per_neuron[j] + lam_v[j] * (1.0 - em)
            keep_i[m] = kern * lam_v[j] + es * lam_i[j]
            keep_v[m] = em * lam_v[j]
        em, es, kern = decay_factors(top - bottom, tau_mem, tau_syn, gap)
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
    return d_weights, d_arrivals, d_bias, n_grazing


@njit(cache=True)
def own_events(spike_times, t_ref, t_max):
    """Own events of a layer's neurons: every spike and every refractory end inside the window.

    Returns (times, kinds, spike index, count), spikes first, then refractory ends (each part in time order),
    so that a stable sort by time puts a spike before a refractory end at the same time.
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
    return ev_time[:m], ev_kind[:m], ev_spike[:m], m


@njit(cache=True)
def own_event_currents_on_clock(arrival_times, arrival_sources, weights, n_arr, tau_syn, reset_current,
                                spike_neurons, ev_time, ev_kind, ev_spike, order, ev_gap):
    """Forward replay of I for all neurons on the arrival clock: (I just before each spike, I at each refractory
    end), per spike. ``order`` sorts the events by time and ``ev_gap[e]`` is the arrival gap of sorted event e;
    other event kinds are ignored."""
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
            kind = ev_kind[idx]
            if kind == EVENT_SPIKE or kind == EVENT_REFRACTORY_END:
                s = ev_spike[idx]
                j = spike_neurons[s]
                value = cur[j] * math.exp(-(ev_time[idx] - clock) / tau_syn)
                if kind == EVENT_SPIKE:
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
