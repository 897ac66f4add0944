"""Exact adjoint of one dense layer (the layered fast path), swept gap by gap over the clock shared by its neurons.

The per-neuron rules are those of docs/theory.md (A1-A4), taken from ``lif.py``: ``adjoint_propagate`` between
events and ``spike_jump`` at a spike. Per neuron, the adjoint state (lambda_V, lambda_I) = (dL/dV, dL/dI) runs
backwards from t_max:

* free propagation over dt (A1): ``lif.adjoint_propagate``; it also adds lambda_V (1 - e^{-dt/tau_mem}) to dL/dbias;
* arrival of weight w at time a (A2): dL/dw += lambda_I, dL/da += w (lambda_I/tau_syn - lambda_V/tau_mem);
* end of a refractory period at r (A3): dL/dt_spike += -lambda_V(r+) (I(r) + bias)/tau_mem, then lambda_V = 0;
* spike at t_k (A4): lambda_V(t_k-) = -(lambda_timing gbar_k + pending_k - lambda_V(t_k+) f_V(t_k+)) / slope, with
  the factors of ``lif.spike_jump``; lambda_I(t_k-) = 0 with reset_current. gbar_k = dL/dt_k from the loss and
  from downstream arrivals; the reset part (pending_k, the refractory-end term, and the f_V term) is dropped
  when ``detach_reset`` is set.

Refractory intervals need no special case: lambda_V is 0 there (set at the refractory end in reverse), and the
free transposed propagator keeps it 0 while decaying lambda_I by e^{-dt/tau_syn}, which is exactly the clamped
adjoint; likewise the arrival rule loses its lambda_V term by itself.

Loop order. All neurons of a dense layer see the same arrival times, so between two consecutive clock points (a
*gap*) every neuron without an own event in that gap is propagated by the same decay factors, in one loop over
neurons that the compiler vectorises. Only neurons with an own event (spike, refractory end, source) inside the
gap are propagated piecewise. One gap of ``layer_backward`` is three phases, the forward phases of
``forward.layer_forward`` in reverse, marked in the loop:

1. undo the clock point at the gap's top: the arrival there (A2), or read lambda at a query time;
2. own events in the gap, latest first: propagate the neuron down to the event (A1), apply it (source, A3, A4);
3. propagate the gap: neurons with own events over the rest of it alone, all others with the shared factors.

The phases are blocks of the loop, not helper functions: the per-gap work is a few vector operations, and inlined
helpers taking the dozen state arrays cost more in reference counting than the work itself (a version of this
file with such helpers ran the timing adjoint 2.8x and the grid-form methods 3-4x slower in
``benchmarks/side_by_side.py``); the set-up before the loop is ``_own_event_schedule``.

Sources (the creation/removal methods of :mod:`eventsnn.gradient_methods`; timing is the case "no sources"):
per neuron, *candidate* times t_c (``candidates.py``) at which dL/dV receives a source

    lambda_V(t_c-) += gain_c * G_c,     G_c = drive_c + coef_v_c * lambda_V(t_c+) + coef_i_c * lambda_I(t_c+)

(``drive``: what a spike added at t_c would change in the loss, from the loss or from the layer above;
``coef_*``: the surrogate reset term, -V(t_c) and -I(t_c) (reset_current) when the reset is not detached). A
source inside a refractory period (V clamped) is inert. The kernel also returns lambda_I and lambda_V of every
neuron at shared ``query_times`` (values at t+; the queries are clock points): adding weight w to I at time u
changes the loss by w * lambda_I(u+), which is how a layer below learns what a spike it might create or remove
is worth.

Event placement follows the forward tie rule (neuron events before deliveries at equal times): an own event at
time t belongs to the gap below the first clock point at or after t, whose arrival is undone first in reverse.
Reverse tie order at equal times: query, arrival, refractory end, spike, source (a source at a spike time acts
just before the spike).

Independent routes in the tests: ``tests/oracles/adjoint_per_neuron.py`` (each neuron's events walked alone, in
plain Python with its own closed forms), finite differences and forward-mode derivatives (tests/test_adjoint.py,
tests/test_jvp_forward_mode.py).

Cost: O(n_clock x n_post) simple vector operations plus O(own events); memory O(n_arrivals x n_post) for the
per-arrival weight-gradient rows (or none when they are added into a total).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels.indexing import count_up_to, merge_order
from eventsnn._kernels.lif import adjoint_propagate, decay_factors, spike_jump, unpack

EVENT_SPIKE = 0
EVENT_REFRACTORY_END = 1
EVENT_CANDIDATE = 2
BLAS_DOT_MIN = 32  # layer width from which the arrival sensitivity is a BLAS dot product (measured on W2: 350 and 10)


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


@njit(cache=True)
def gap_below(clock_time, times):
    """gap[e] = the gap below the first clock point at or after times[e], for sorted ``times``:
    ``np.searchsorted(clock_time, times) - 1`` by one linear walk, as both are sorted (a binary search per
    event costs more than the rest of the set-up on grid candidates)."""
    gap = np.empty(times.size, dtype=np.int64)
    p = 0
    for e in range(times.size):
        while p < clock_time.size and clock_time[p] < times[e]:
            p += 1
        gap[e] = p - 1
    return gap


def no_sources() -> tuple:
    """The ``sources`` argument of ``layer_backward`` for the exact timing adjoint: no candidates (plain Python:
    it only allocates empty arrays, with the dtypes of real sources so that both share one compiled kernel)."""
    none = np.zeros(0)
    return none, np.zeros(0, dtype=np.int64), none, none, none, none


@njit(cache=True)
def scatter_rows(total, rows, row_index):
    """total[row_index[k], :] += rows[k, :] for k from the last row down: a fixed order, the one in which the
    backward sweep adds rows when it accumulates into a total itself, so both give the same sums."""
    for k in range(rows.shape[0] - 1, -1, -1):
        target = row_index[k]
        for j in range(rows.shape[1]):
            total[target, j] += rows[k, j]


@njit(cache=True)
def _own_event_schedule(arrival_times, arrival_sources, weights, n_arr, t_ref, tau_syn, reset_current, t_max,
                        spike_times, spike_neurons, cand_times, cand_neurons, n_post, clock_time):
    """Every own event of the layer in forward order, with what the reverse sweep needs at it.

    Returns (ev_time, ev_kind, ev_index, ev_neuron, ev_gap, inert, current_before, current_at_end), each ``ev_*``
    in forward order: a stable merge by time of the candidates, then the spikes and refractory ends of
    ``own_events``, which gives the forward tie order candidate < spike < refractory end. ``ev_index``: candidate
    or spike index; ``ev_gap``: the gap of ``clock_time`` the event belongs to (below the first clock point at or
    after it); ``inert[c]``: candidate c lies in a refractory period; ``current_before``/``current_at_end``: I just
    before each spike and at each refractory end (replayed on the arrival clock only: queries do not change I).
    The event arrays are written in sorted order so that the sweep reads them front to back.
    """
    n_cand = cand_times.size
    sp_time, sp_kind, sp_spike = own_events(spike_times, t_ref, t_max)
    n_sp = sp_time.size
    n_ev = n_cand + n_sp
    sp_order = np.argsort(sp_time, kind="mergesort")
    sp_sorted = sp_time[sp_order]
    current_before, current_at_end = own_event_currents_on_clock(
        arrival_times, arrival_sources, weights, n_arr, tau_syn, reset_current, spike_neurons, sp_time, sp_kind,
        sp_spike, sp_order, gap_below(arrival_times[:n_arr], sp_sorted))

    ev_time = np.empty(n_ev)
    ev_kind = np.empty(n_ev, dtype=np.int64)
    ev_index = np.empty(n_ev, dtype=np.int64)
    ev_neuron = np.empty(n_ev, dtype=np.int64)
    ev_gap = np.empty(n_ev, dtype=np.int64)
    # V is clamped while refractory, so nothing can be created there: such candidates are inert
    inert = np.zeros(n_cand, dtype=np.bool_)
    refractory = np.zeros(n_post, dtype=np.bool_)
    # candidates arrive sorted and the few spike events are sorted alone: one merge orders them all (at equal
    # times a candidate first), and the clock is walked along
    c = 0
    k = 0
    p = 0
    for e in range(n_ev):
        if k >= n_sp or (c < n_cand and cand_times[c] <= sp_sorted[k]):
            t = cand_times[c]
            j = cand_neurons[c]
            ev_kind[e] = EVENT_CANDIDATE
            ev_index[e] = c
            inert[c] = refractory[j]
            c += 1
        else:
            q = sp_order[k]
            t = sp_sorted[k]
            kind = sp_kind[q]
            index = sp_spike[q]
            j = spike_neurons[index]
            ev_kind[e] = kind
            ev_index[e] = index
            refractory[j] = kind == EVENT_SPIKE and t_ref > 0.0
            k += 1
        ev_time[e] = t
        ev_neuron[e] = j
        while p < clock_time.size and clock_time[p] < t:
            p += 1
        ev_gap[e] = p - 1
    return ev_time, ev_kind, ev_index, ev_neuron, ev_gap, inert, current_before, current_at_end


@njit(cache=True, inline="always")
def _factors(dt, cached_dt, cached, params):
    """(dt, decay factors over dt), reusing ``cached`` when dt equals ``cached_dt``: grid candidates share their
    times across neurons, so consecutive own events mostly step by the same dt."""
    if dt != cached_dt:
        return dt, decay_factors(dt, params)
    return cached_dt, cached


@njit(cache=True, nogil=True)
def layer_backward(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons,
                   spike_cotangents, sources, query_times, lambda_timing, detach_reset, min_slope, grazing_slope,
                   d_weight_total=None):
    """Vector-Jacobian product of one dense layer's spike times, with optional sources (module docstring).

    Parameters
    ----------
    arrival_times, arrival_sources : the layer's input arrivals exactly as given to ``forward.layer_forward`` (ms,
        sorted; presynaptic index of each).
    weights : (n_pre, n_post); params : ``lif.P_*`` vector; t_max : ms.
    spike_times, spike_neurons : the layer's spikes from ``layer_forward`` (sorted by time).
    spike_cotangents : dL/dt for each spike, including downstream contributions.
    sources : (times, neurons, gain, drive, coef_v, coef_i) of the candidates, sorted by time (any neuron order),
        or ``no_sources()`` for the exact timing adjoint.
    query_times : sorted times (ms) at which lambda is returned (may be empty).
    lambda_timing : weight of the timing cotangents (1 for the exact adjoint).
    detach_reset : drop the dependence through the reset at spikes (False for the exact adjoint).
    min_slope : if > 0, dV/dt at a crossing is floored at this value (opt-in clipping, 1/ms); 0 = exact.
    grazing_slope : crossings with dV/dt below this (1/ms) are counted as near-grazing (reported, not altered).
    d_weight_total : an (n_pre, n_post) array to add dL/dW into directly (row arrival_sources[k] += row k, for k
        from the last arrival down, the order in which ``scatter_rows`` adds rows), or None (or a (0, 0) array)
        to get the per-arrival rows instead (callers that run samples in parallel sum them afterwards in a fixed
        order, which keeps batch results independent of the thread count).

    Returns
    -------
    (d_weight_rows (n_arrivals_in_window, n_post), or (0, n_post) when accumulated into d_weight_total,
     d_arrival_times (n_arrivals,), d_bias, n_near_grazing,
     lambda_i_at_queries (n_query, n_post), lambda_v_at_queries (n_query, n_post))
    """
    tau_mem, tau_syn, _, theta, bias, t_ref, reset_current = unpack(params)
    cand_times, cand_neurons, cand_gain, cand_drive, cand_coef_v, cand_coef_i = sources
    n_post = weights.shape[1]
    n_arr = count_up_to(arrival_times, t_max)
    n_query = query_times.size

    total = np.zeros((0, 0)) if d_weight_total is None else d_weight_total
    accumulate = total.shape[0] > 0
    d_weights = np.zeros((0 if accumulate else n_arr, n_post))
    d_arrivals = np.zeros(arrival_times.size)
    lam_i_query = np.zeros((n_query, n_post))
    lam_v_query = np.zeros((n_query, n_post))

    if cand_times.size + spike_times.size == 0:  # no spike and no source: lambda is 0 everywhere
        return d_weights, d_arrivals, 0.0, 0, lam_i_query, lam_v_query
    clock_time, clock_tag = sweep_clock(arrival_times[:n_arr], query_times[:count_up_to(query_times, t_max)])
    n_clock = clock_time.size
    # an own event at time t belongs to the gap below the first clock point at or after t (undone after it)
    ev_time, ev_kind, ev_index, ev_neuron, ev_gap, inert, current_before, current_at_end = _own_event_schedule(
        arrival_times, arrival_sources, weights, n_arr, t_ref, tau_syn, reset_current, t_max, spike_times,
        spike_neurons, cand_times, cand_neurons, n_post, clock_time)
    n_ev = ev_time.size

    lam_v = np.zeros(n_post)
    lam_i = np.zeros(n_post)
    d_bias_per_neuron = np.zeros(n_post)
    pending = np.zeros(spike_times.size)  # dL/dt_spike collected at the spike's refractory end
    t_last = np.zeros(n_post)             # neurons with own events: time their lambda has been propagated down to
    special = np.zeros(n_post, dtype=np.bool_)
    specials = np.empty(n_post, dtype=np.int64)
    keep_v = np.empty(n_post)
    keep_i = np.empty(n_post)
    keep_b = np.empty(n_post)
    sensitivity = np.empty(n_post)
    inv_tau_mem = 1.0 / tau_mem
    inv_tau_syn = 1.0 / tau_syn
    n_grazing = 0
    cached_dt = -1.0
    cached = decay_factors(0.0, params)
    e = n_ev - 1
    # lambda is 0 after the last own event (nothing later reaches it): start in that event's gap
    for g in range(ev_gap[n_ev - 1], -2, -1):
        top = clock_time[g + 1] if g + 1 < n_clock else t_max
        bottom = clock_time[g] if g >= 0 else 0.0
        # phase 1: the clock point at the top of the gap. Arrival k is undone first (it followed every own event at
        # its time; lambda_V is 0 while refractory); a query point reads lambda after every event at its time
        if g + 1 < n_clock:
            k = clock_tag[g + 1]
            if k >= 0:
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
        # phase 2: own events in the gap, latest first
        n_special = 0
        while e >= 0 and ev_gap[e] == g:
            j = ev_neuron[e]
            if not special[j]:
                special[j] = True
                specials[n_special] = j
                n_special += 1
                t_last[j] = top
            t_event = ev_time[e]
            cached_dt, cached = _factors(t_last[j] - t_event, cached_dt, cached, params)
            em, es, kern = cached
            lam_v[j], lam_i[j], rise = adjoint_propagate(lam_v[j], lam_i[j], em, es, kern)
            d_bias_per_neuron[j] += rise
            t_last[j] = t_event
            kind = ev_kind[e]
            index = ev_index[e]
            near_grazing = 0
            if kind == EVENT_CANDIDATE:  # a source, inert while V is clamped
                if not inert[index]:
                    g_c = cand_drive[index] + cand_coef_v[index] * lam_v[j] + cand_coef_i[index] * lam_i[j]
                    lam_v[j] += cand_gain[index] * g_c
            elif kind == EVENT_REFRACTORY_END:  # A3
                pending[index] = -lam_v[j] * (current_at_end[index] + bias) * inv_tau_mem
                lam_v[j] = 0.0
            else:  # A4
                slope, flow_v_after, near_grazing = spike_jump(current_before[index], theta, bias, tau_mem, t_ref,
                                                               reset_current, min_slope, grazing_slope)
                reset_part = 0.0 if detach_reset else pending[index] - lam_v[j] * flow_v_after
                lam_v[j] = -(lambda_timing * spike_cotangents[index] + reset_part) / slope
                if reset_current:
                    lam_i[j] = 0.0
            n_grazing += near_grazing
            e -= 1
        # phase 3: the rest of the gap. Neurons with own events use their own factors, kept aside while the shared
        # update runs over every neuron
        for m in range(n_special):
            j = specials[m]
            cached_dt, cached = _factors(t_last[j] - bottom, cached_dt, cached, params)
            em, es, kern = cached
            keep_v[m], keep_i[m], rise = adjoint_propagate(lam_v[j], lam_i[j], em, es, kern)
            keep_b[m] = d_bias_per_neuron[j] + rise
        em, es, kern = decay_factors(top - bottom, params)
        for j in range(lam_v.size):  # branch-free, so that it vectorises
            lam_v[j], lam_i[j], rise = adjoint_propagate(lam_v[j], lam_i[j], em, es, kern)
            d_bias_per_neuron[j] += rise
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
