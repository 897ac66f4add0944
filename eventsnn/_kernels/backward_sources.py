"""Adjoint sweep of one dense layer with extra *source* terms: the kernel behind the creation/removal methods.

The exact timing adjoint (``backward.py``, docs/theory.md A1-A4) sees only spikes that exist. The methods of
:mod:`eventsnn.gradient_methods` add, per neuron, a list of *candidate* times t_c (grid points, sub-threshold
maxima, existing spikes) at which dL/dV receives a source

    lambda_V(t_c-) += gain_c * G_c,     G_c = drive_c + coef_v_c * lambda_V(t_c+) + coef_i_c * lambda_I(t_c+)

(``drive``: what a spike added at t_c would change in the loss, from the loss or from the layer above;
``coef_*``: the surrogate reset term, -V(t_c) and -I(t_c) (reset_current) when the reset is not detached).
Between events the propagation is exact (A1, A2); at a spike (A4) the incoming timing cotangent is scaled by
``lambda_timing`` and the reset-time term (-lambda_V+ f_V+ and the refractory-end term) is dropped when
``detach_reset`` is set. With lambda_timing = 1, no candidates and detach_reset = False this is exactly
``layer_backward`` (tested), so one derivation serves every method.

It also returns lambda_I and lambda_V of every neuron at shared ``query_times`` (values at t+): adding weight w
to I at time u changes the loss by w * lambda_I(u+), which is how a layer below learns what a spike it might
create or remove is worth.

Reverse tie order at equal times: query, arrival, refractory end, spike, candidate (a candidate at a spike
time acts just before the spike).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels.backward import own_event_currents, spike_jump
from eventsnn._kernels.crossing import first_crossing
from eventsnn._kernels.forward import WINDOW_SLACK_REL, replay_neuron
from eventsnn._kernels.indexing import count_up_to, per_neuron_index
from eventsnn._kernels.lif import (advance, advance_held, decay_factors, extremum_time, reset_after_spike,
                                   state_after, unpack, voltage_slope)


@njit(cache=True, nogil=True)
def layer_backward_sources(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons,
                           spike_cotangents, cand_times, cand_neurons, cand_gain, cand_drive, cand_coef_v,
                           cand_coef_i, query_times, lambda_timing, detach_reset, min_slope, grazing_slope):
    """Adjoint of one layer with candidate sources (see module docstring).

    Arrays as in ``backward.layer_backward``; candidates sorted by time (any neuron order); query_times sorted.

    Returns
    -------
    (d_weight_rows (n_arrivals_in_window, n_post), d_arrival_times (n_arrivals,), d_bias, n_near_grazing,
     lambda_i_at_queries (n_query, n_post), lambda_v_at_queries (n_query, n_post))
    """
    tau_mem, tau_syn, gap, theta, bias, t_ref, reset_current = unpack(params)
    n_post = weights.shape[1]
    n_arr = count_up_to(arrival_times, t_max)
    n_query = query_times.size

    gap_es = np.empty(n_arr)  # current decay over each inter-arrival gap, shared by all neurons
    for k in range(n_arr):
        gap_es[k] = math.exp(-((arrival_times[k + 1] if k + 1 < n_arr else t_max) - arrival_times[k]) / tau_syn)
    spike_order, spike_first = per_neuron_index(spike_neurons, n_post)
    cand_order, cand_first = per_neuron_index(cand_neurons, n_post)
    max_own = 1
    for j in range(n_post):
        max_own = max(max_own, spike_first[j + 1] - spike_first[j])
    current_before_spike = np.empty(max_own)
    current_at_refractory_end = np.empty(max_own)

    d_weights = np.zeros((n_arr, n_post))
    d_arrivals = np.zeros(arrival_times.size)
    lam_i_query = np.zeros((n_query, n_post))
    lam_v_query = np.zeros((n_query, n_post))
    d_bias = 0.0
    n_grazing = 0

    for j in range(n_post):
        own = spike_order[spike_first[j]:spike_first[j + 1]]
        cands = cand_order[cand_first[j]:cand_first[j + 1]]
        n_own = own.size
        if n_own == 0 and cands.size == 0:
            continue  # no spike and no source: lambda stays 0
        own_event_currents(j, own, spike_times, arrival_times, arrival_sources, weights, n_arr, t_max, tau_syn,
                           t_ref, reset_current, gap_es, current_before_spike, current_at_refractory_end)

        # reverse sweep from t_max
        lam_v = 0.0
        lam_i = 0.0
        t_cur = t_max
        k = n_arr - 1
        s = n_own - 1
        c = cands.size - 1
        q = n_query - 1
        while q >= 0 and query_times[q] > t_max:
            q -= 1
        refractory = s >= 0 and t_ref > 0.0 and spike_times[own[s]] + t_ref > t_max
        pending = 0.0
        while True:
            t_q = query_times[q] if q >= 0 else -math.inf
            t_a = arrival_times[k] if k >= 0 else -math.inf
            t_e = spike_times[own[s]] + t_ref if (s >= 0 and t_ref > 0.0 and not refractory) else -math.inf
            t_s = spike_times[own[s]] if s >= 0 else -math.inf
            t_c = cand_times[cands[c]] if c >= 0 else -math.inf
            tau = max(max(t_q, t_a), max(max(t_e, t_s), t_c))
            done = tau == -math.inf
            if done:
                tau = 0.0
            if tau < t_cur:
                if refractory:
                    lam_i *= math.exp(-(t_cur - tau) / tau_syn)
                else:
                    em, es, kern = decay_factors(t_cur - tau, tau_mem, tau_syn, gap)
                    d_bias += lam_v * (1.0 - em)
                    lam_i = kern * lam_v + es * lam_i
                    lam_v = em * lam_v
                t_cur = tau
            if done:
                break
            if t_q == tau:
                lam_i_query[q, j] = lam_i
                lam_v_query[q, j] = lam_v
                q -= 1
            elif t_a == tau:
                w = weights[arrival_sources[k], j]
                d_weights[k, j] += lam_i
                d_arrivals[k] += lam_i * w / tau_syn
                if not refractory:
                    d_arrivals[k] -= lam_v * w / tau_mem
                k -= 1
            elif t_e == tau:
                pending = -lam_v * (current_at_refractory_end[s] + bias) / tau_mem
                lam_v = 0.0
                refractory = True
            elif t_s == tau:
                slope, flow_v_after, near_grazing = spike_jump(current_before_spike[s], theta, bias, tau_mem, t_ref,
                                                               reset_current, min_slope, grazing_slope)
                n_grazing += near_grazing
                reset_part = 0.0 if detach_reset else pending - lam_v * flow_v_after
                lam_v = -(lambda_timing * spike_cotangents[own[s]] + reset_part) / slope
                if reset_current:
                    lam_i = 0.0
                pending = 0.0
                refractory = False
                s -= 1
            else:
                i_c = cands[c]
                if not refractory:  # V is clamped while refractory: nothing can be created there
                    drive = cand_drive[i_c] + cand_coef_v[i_c] * lam_v + cand_coef_i[i_c] * lam_i
                    lam_v += cand_gain[i_c] * drive
                c -= 1
    return d_weights, d_arrivals, d_bias, n_grazing, lam_i_query, lam_v_query


@njit(cache=True)
def near_misses(arrival_times, arrival_weights, spike_times, params, t_max):
    """Sub-threshold local maxima of one neuron's exact V(t) on (0, t_max): (times, V, I, d2V/dt2).

    Only smooth interior maxima between events are returned (a maximum created by an inhibitory arrival is a
    kink with no curvature; it is skipped). These are the spikes the neuron *almost* fired.
    """
    tau_mem, tau_syn, gap, theta, bias, t_ref, reset_current = unpack(params)
    n_events = arrival_times.size + spike_times.size + 1
    out_t = np.empty(n_events)
    out_v = np.empty(n_events)
    out_i = np.empty(n_events)
    out_curv = np.empty(n_events)
    n_out = 0
    v = 0.0
    cur = 0.0
    t = 0.0
    free_from = 0.0  # end of the current refractory period
    a = 0
    s = 0
    while True:
        t_arr = arrival_times[a] if a < arrival_times.size else math.inf
        t_spk = spike_times[s] if s < spike_times.size else math.inf
        t_next = min(min(t_arr, t_spk), t_max)
        cur, t = advance_held(cur, t, t_next, free_from, params)  # a held V has no maximum to report
        if t_next > t:
            t_ext = extremum_time(v, cur, bias, tau_mem, tau_syn)  # NaN if V is monotone: no maximum
            if voltage_slope(v, cur, bias, tau_mem) > 0.0 and t_ext > 0.0 and t + t_ext < t_next:
                v_ext, i_ext = state_after(t_ext, v, cur, params)
                if v_ext < theta:
                    out_t[n_out] = t + t_ext
                    out_v[n_out] = v_ext
                    out_i[n_out] = i_ext
                    # dV/dt = (-V + I + b)/tau_m = 0 there, so d2V/dt2 = dI/dt / tau_m
                    out_curv[n_out] = -i_ext / (tau_syn * tau_mem)
                    n_out += 1
            v, cur = state_after(t_next - t, v, cur, params)
            t = t_next
        if t_next >= t_max and t_arr > t_max and t_spk > t_max:
            break
        if t_spk <= t_arr:
            v, cur, free_from = reset_after_spike(cur, t_spk, params)
            s += 1
        else:
            cur += arrival_weights[a]
            a += 1
    return out_t[:n_out], out_v[:n_out], out_i[:n_out], out_curv[:n_out]


@njit(cache=True, nogil=True)
def layer_candidates(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons, grid,
                     use_grid):
    """Candidate data of every neuron of one layer, in one compiled pass (no per-neuron Python overhead).

    Per neuron j (ascending), first its removal candidates (its spikes, in time order), then its creation
    candidates in time order: the grid points where V < threshold (``use_grid``) or the sub-threshold interior
    maxima of V (``near_misses``). Returns parallel arrays
    (times, neurons, removal, voltage, current, slope, margin, curvature):
    voltage/current = V(t_c), I(t_c) (for a removal: threshold and I just before the spike);
    slope = dV/dt just before a spike (floored at 1e-12); margin = how far above threshold V would have risen
    after a spike without reset and later inputs (0 if it would not); curvature = d2V/dt2 at a near-miss.
    Fields that do not apply to a candidate's kind are 0.
    """
    n_post = weights.shape[1]
    tau_mem, tau_syn, _, theta, bias, _, _ = unpack(params)
    order, first = per_neuron_index(spike_neurons, n_post)
    n_arr = arrival_times.size
    capacity = spike_times.size + n_post * (grid.size if use_grid else n_arr + spike_times.size + 1) + 1
    out_t = np.empty(capacity)
    out_n = np.empty(capacity, dtype=np.int64)
    out_removal = np.zeros(capacity, dtype=np.bool_)
    out_v = np.empty(capacity)
    out_i = np.empty(capacity)
    out_slope = np.zeros(capacity)
    out_margin = np.zeros(capacity)
    out_curv = np.zeros(capacity)
    w_j = np.empty(n_arr)
    n = 0
    for j in range(n_post):
        for a in range(n_arr):
            w_j[a] = weights[arrival_sources[a], j]
        own = np.empty(first[j + 1] - first[j])
        for m in range(own.size):
            own[m] = spike_times[order[first[j] + m]]
        if own.size:
            before = np.empty(own.size)
            for m in range(own.size):
                before[m] = np.nextafter(own[m], -np.inf)
            _, i_before = replay_neuron(arrival_times, w_j, own, params, before)
            for m in range(own.size):
                i0 = i_before[m]
                out_t[n] = own[m]
                out_n[n] = j
                out_removal[n] = True
                out_v[n] = theta
                out_i[n] = i0
                out_slope[n] = max((-theta + i0 + bias) / tau_mem, 1e-12)
                t_ext = extremum_time(theta, i0, bias, tau_mem, tau_syn)
                if t_ext > 0.0:
                    out_margin[n] = max(state_after(t_ext, theta, i0, params)[0] - theta, 0.0)
                elif bias > theta:
                    out_margin[n] = bias - theta  # bias above threshold: V rises towards the bias
                n += 1
        if use_grid:
            v_g, i_g = replay_neuron(arrival_times, w_j, own, params, grid)
            for g in range(grid.size):
                if v_g[g] < theta:  # grid points after a reset within their bin are creation candidates too
                    out_t[n] = grid[g]
                    out_n[n] = j
                    out_v[n] = v_g[g]
                    out_i[n] = i_g[g]
                    n += 1
        else:
            t_m, v_m, i_m, curv = near_misses(arrival_times, w_j, own, params, t_max)
            for m in range(t_m.size):
                out_t[n] = t_m[m]
                out_n[n] = j
                out_v[n] = v_m[m]
                out_i[n] = i_m[m]
                out_curv[n] = curv[m]
                n += 1
    return (out_t[:n], out_n[:n], out_removal[:n], out_v[:n], out_i[:n], out_slope[:n], out_margin[:n],
            out_curv[:n])


@njit(cache=True)
def resimulate_flipped(arrival_times, arrival_weights, spike_times, params, t_max, t_flip, remove, max_spikes):
    """Spike train of one neuron when one spike is flipped, its inputs fixed (the NA neighbour).

    remove=True: the spike at ``t_flip`` is not emitted (no reset); the neuron cannot fire again until V has
    fallen below threshold. remove=False: a spike is inserted at ``t_flip`` (reset, refractory). Spikes before
    t_flip are kept as recorded; everything after is re-simulated exactly.
    """
    tau_mem, tau_syn, gap, theta, bias, t_ref, reset_current = unpack(params)
    out = np.empty(max_spikes)
    n = 0
    # state just before t_flip from the recorded train
    v = 0.0
    cur = 0.0
    t = 0.0
    free_from = 0.0
    a = 0
    s = 0
    while True:
        t_arr = arrival_times[a] if a < arrival_times.size else math.inf
        t_spk = spike_times[s] if s < spike_times.size else math.inf
        if min(t_arr, t_spk) >= t_flip:
            break
        v, cur, t = advance(v, cur, t, min(t_arr, t_spk), free_from, params)
        if t_spk <= t_arr:
            out[n] = t_spk
            n += 1
            v, cur, free_from = reset_after_spike(cur, t_spk, params)
            s += 1
        else:
            cur += arrival_weights[a]
            a += 1
    v, cur, t = advance(v, cur, t, t_flip, free_from, params)
    above = False
    if remove:
        v = max(v, theta)  # the recorded spike had V = threshold here; keep it, without reset
        above = True
    else:
        out[n] = t_flip
        n += 1
        v, cur, free_from = reset_after_spike(cur, t_flip, params)
    # inputs arriving exactly at t_flip come after the (flipped) spike, as in the engine
    while a < arrival_times.size and arrival_times[a] < t_flip:
        a += 1
    while t < t_max and n < max_spikes:
        t_arr = arrival_times[a] if a < arrival_times.size else math.inf
        t_next = min(t_arr, t_max)
        cur, t = advance_held(cur, t, t_next, free_from, params)
        if t_next > t:
            if above:
                # leave "above" mode at the first point below threshold: the interior minimum if it is below,
                # else the interval end (after at most one extremum V is monotone, so no crossing is missed)
                t_min = extremum_time(v, cur, bias, tau_mem, tau_syn)
                if voltage_slope(v, cur, bias, tau_mem) < 0.0 and t_min > 0.0 and t + t_min < t_next:
                    v_min, i_min = state_after(t_min, v, cur, params)
                    if v_min < theta:
                        v = v_min
                        cur = i_min
                        t += t_min
                        above = False
                        continue
                v, cur = state_after(t_next - t, v, cur, params)
                t = t_next
                if v < theta:
                    above = False
            else:
                # same window rule as the engine (forward.WINDOW_SLACK_REL): a crossing rounding to t_next counts
                dt_cross = first_crossing(v, cur, t_next - t + t_next * WINDOW_SLACK_REL, params)
                if dt_cross < math.inf:
                    t_spike = min(t + dt_cross, t_next)
                    cur *= math.exp(-dt_cross / tau_syn)
                    t = t_spike
                    out[n] = t_spike
                    n += 1
                    v, cur, free_from = reset_after_spike(cur, t_spike, params)
                    continue
                v, cur = state_after(t_next - t, v, cur, params)
                t = t_next
        if t_next == t_arr and t >= t_arr and a < arrival_times.size:
            cur += arrival_weights[a]
            a += 1
        elif t_next >= t_max:
            break
    return out[:n]
