"""Candidate search of the creation/removal gradient methods, and NA's neighbours, for one dense layer.

The methods of :mod:`eventsnn.gradient_methods` add, per neuron, *candidate* times at which the adjoint of V
receives a source (``backward.layer_backward``): existing spikes (removal) and either grid points or the
sub-threshold local maxima of the exact V(t) (creation). Finding them is a forward replay, not an adjoint:
``layer_candidates`` replays the layer once, swept gap by gap over the clock shared by all its neurons (arrivals,
plus grid times), as ``forward.layer_forward`` does. One gap is four phases, marked in the loop:

1. neurons held by a refractory period or spiking inside the gap are stepped alone (``_step``, ``_near_miss``);
2. every other neuron shares one set of decay factors, in a vectorised loop;
3. sub-threshold maxima inside the gap of the neurons of phase 2 (event form);
4. the clock point at the gap's top: the arrival, or the grid point (creation candidates);

and ``_merge_with_removals`` sorts the creations in with the removal candidates at the end. The event form keeps
the creations whose surrogate weight matters and sizes every candidate's window in one more pass
(``event_candidates``). The phases are blocks of the loop rather than inlined helpers, for the reason given in
``backward.py`` (reference counting of the many state arrays per call). NA re-simulates one neuron per candidate
with that spike flipped, from the state at the candidate (``resimulate_candidates``), and prices the change
(``na_pairing``). The slow reference of the flip, re-simulating from t = 0, is ``tests/oracles/na_flip.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels.backward import sweep_clock
from eventsnn._kernels.crossing import first_crossing
from eventsnn._kernels.forward import WINDOW_SLACK_REL
from eventsnn._kernels.indexing import count_up_to, merge_order, per_neuron_index
from eventsnn._kernels.lif import (P_BIAS, advance_held, decay_factors, extremum_time, propagate, reset_after_spike,
                                   state_after, unpack, voltage_slope)
from eventsnn._kernels.lif import parameter_tuple


@njit(cache=True)
def _near_miss(v, cur, v_end, i_end, t, t_end, params):
    """(found, t_c, V, I, d2V/dt2) of the sub-threshold maximum strictly inside the free step (t, t_end) that takes
    (v, cur) to (v_end, i_end), if there is one. dV/dt is a two-exponential sum with at most one zero, so an interior
    maximum needs V rising at the start and not rising at the end: most steps are settled without the logarithm of
    ``extremum_time``. Values, not writes into the caller's arrays: every call of a compiled helper with arrays
    pays an atomic reference count per array in and out (measured: a quarter of the event-form sweep)."""
    tau_mem, tau_syn, _, theta, bias, _, _ = unpack(params)
    if voltage_slope(v, cur, bias, tau_mem) > 0.0 and voltage_slope(v_end, i_end, bias, tau_mem) <= 0.0:
        t_ext = extremum_time(v, cur, bias, tau_mem, tau_syn)
        if t_ext > 0.0 and t + t_ext < t_end:
            v_ext, i_ext = state_after(t_ext, v, cur, params)
            if v_ext < theta:
                return True, t + t_ext, v_ext, i_ext, -i_ext / (tau_syn * tau_mem)  # dV/dt = 0: V'' = I'/tau_m
    return False, 0.0, 0.0, 0.0, 0.0


@njit(cache=True)
def _step(v, cur, t, target, free_from, params):
    """(V, I, V0, I0, t0) after moving one neuron from t to ``target`` (no event in between); (V0, I0, t0) is
    where its free part starts (after any held refractory part), for the maximum search."""
    cur, t = advance_held(cur, t, target, free_from, params)
    v0, i0, t0 = v, cur, t
    if target > t:
        v, cur = state_after(target - t, v, cur, params)
    return v, cur, v0, i0, t0


@njit(cache=True)
def _time_order(times, n):
    """Stable order of ``times[:n]`` by time: the identity when they are sorted already (the grid's creations
    come sorted; the near-misses of one gap do not). A function of its own: with the sort inline, the compiled
    merge below ran 2.5 times slower on grid candidates even when the sort was never called (measured)."""
    for c in range(1, n):
        if times[c] < times[c - 1]:
            return np.argsort(times[:n], kind="mergesort")
    return np.arange(n)


@njit(cache=True)
def _merge_with_removals(spike_times, spike_neurons, rem_i, out_t, out_n, out_v, out_i, out_curv, n_out, params,
                         with_margin):
    """All candidates sorted by time, a removal (every spike) before a creation at the same time, as the parallel
    arrays ``layer_candidates`` returns (the removals' margins only ``with_margin``: NA's distance alone reads
    them, and each costs a logarithm and an exponential)."""
    tau_mem, tau_syn, _, theta, bias, _, _ = unpack(params)
    n_spikes = spike_times.size
    creation_order = _time_order(out_t, n_out)
    creation_times = np.empty(n_out)
    for c in range(n_out):
        creation_times[c] = out_t[creation_order[c]]
    order = merge_order(spike_times, creation_times)
    n_all = n_spikes + n_out
    times = np.empty(n_all)
    neurons = np.empty(n_all, dtype=np.int64)
    removal = np.zeros(n_all, dtype=np.bool_)
    voltage = np.empty(n_all)
    current = np.empty(n_all)
    slope = np.zeros(n_all)
    margin = np.zeros(n_all)
    curvature = np.zeros(n_all)
    for m in range(n_all):
        if order[m] < n_spikes:
            s = order[m]
            i0 = rem_i[s]
            times[m] = spike_times[s]
            neurons[m] = spike_neurons[s]
            removal[m] = True
            voltage[m] = theta
            current[m] = i0
            slope[m] = max((-theta + i0 + bias) / tau_mem, 1e-12)
            if with_margin:
                t_ext = extremum_time(theta, i0, bias, tau_mem, tau_syn)
                if t_ext > 0.0:
                    margin[m] = max(state_after(t_ext, theta, i0, params)[0] - theta, 0.0)
                elif bias > theta:
                    margin[m] = bias - theta  # bias above threshold: V rises towards the bias
        else:
            c = creation_order[order[m] - n_spikes]
            times[m] = out_t[c]
            neurons[m] = out_n[c]
            voltage[m] = out_v[c]
            current[m] = out_i[c]
            curvature[m] = out_curv[c]
    return times, neurons, removal, voltage, current, slope, margin, curvature


@njit(cache=True, nogil=True)
def layer_candidates(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons, grid,
                     use_grid, with_margin=True):
    """Candidate data of every neuron of one layer, in one compiled pass.

    Sorted by time (a removal before a creation at the same time). Removal candidates: every spike. Creation
    candidates: the grid points where V < threshold (``use_grid``; V is right-continuous there, as in
    ``forward.replay_neuron``) or the sub-threshold interior maxima of the exact V(t) between events (a maximum
    created by an inhibitory arrival is a kink with no curvature; it is skipped). Returns parallel arrays
    (times, neurons, removal, voltage, current, slope, margin, curvature):
    voltage/current = V(t_c), I(t_c) (for a removal: threshold and I just before the spike);
    slope = dV/dt just before a spike (floored at 1e-12); margin = how far above threshold V would have risen
    after a spike without reset and later inputs (0 if it would not; all 0 unless ``with_margin``); curvature =
    d2V/dt2 at a near-miss.
    Fields that do not apply to a candidate's kind are 0.
    """
    _, _, _, theta, bias, t_ref, _ = unpack(params)
    parameters = parameter_tuple(params)
    n_post = weights.shape[1]
    n_arr = count_up_to(arrival_times, t_max)
    n_grid = count_up_to(grid, t_max) if use_grid else 0
    n_spikes = spike_times.size

    clock_time, clock_tag = sweep_clock(arrival_times[:n_arr], grid[:n_grid])  # grid values see the arrival
    n_clock = clock_time.size
    # a spike at time t happens in the gap below the first clock point at or after t (before arrivals at t)
    spike_gap = np.searchsorted(clock_time, spike_times) - 1

    # creations: on the grid, at most one per neuron and grid point; in event form, at most one per neuron and
    # stretch between its events (a gap, or a part of one cut by a spike or a refractory end)
    capacity = n_post * n_grid + 1 if use_grid else n_post * (n_clock + 1) + 2 * n_spikes + 1
    rem_i = np.empty(n_spikes)
    out_t = np.empty(capacity)
    out_n = np.empty(capacity, dtype=np.int64)
    out_v = np.empty(capacity)
    out_i = np.empty(capacity)
    out_curv = np.empty(capacity)  # written with each creation: no memset of the whole capacity
    n_out = 0

    v = np.zeros(n_post)
    cur = np.zeros(n_post)
    free_from = np.zeros(n_post)  # end of each neuron's refractory period
    t_at = np.zeros(n_post)       # stepped-alone neurons: time their state refers to
    special = np.zeros(n_post, dtype=np.bool_)
    specials = np.empty(n_post, dtype=np.int64)
    held = np.empty(n_post, dtype=np.int64)  # neurons that may still be refractory at the next gap
    in_held = np.zeros(n_post, dtype=np.bool_)
    n_held = 0
    v_new = np.empty(n_post)
    i_new = np.empty(n_post)
    v_alone = np.empty(n_post)
    i_alone = np.empty(n_post)
    e = 0
    for g in range(-1, n_clock):
        bottom = clock_time[g] if g >= 0 else 0.0
        top = clock_time[g + 1] if g + 1 < n_clock else t_max
        # phase 1: neurons held by a refractory period over part of the gap, or spiking in it, are stepped alone
        n_special = 0
        m = 0
        while m < n_held:
            j = held[m]
            if free_from[j] > bottom:
                special[j] = True
                specials[n_special] = j
                n_special += 1
                t_at[j] = bottom
                m += 1
            else:
                in_held[j] = False
                n_held -= 1
                held[m] = held[n_held]
        while e < n_spikes and spike_gap[e] == g:
            j = spike_neurons[e]
            if not special[j]:
                special[j] = True
                specials[n_special] = j
                n_special += 1
                t_at[j] = bottom
            t_spike = spike_times[e]
            vj, ij, v0, i0, t0 = _step(v[j], cur[j], t_at[j], t_spike, free_from[j], parameters)
            if not use_grid:
                found, t_c, v_c, i_c, curv = _near_miss(v0, i0, vj, ij, t0, t_spike, parameters)
                if found:
                    out_t[n_out], out_n[n_out], out_v[n_out], out_i[n_out], out_curv[n_out] = t_c, j, v_c, i_c, curv
                    n_out += 1
            rem_i[e] = ij
            v[j], cur[j], free_from[j] = reset_after_spike(ij, t_spike, parameters)
            t_at[j] = t_spike
            if t_ref > 0.0 and not in_held[j]:
                in_held[j] = True
                held[n_held] = j
                n_held += 1
            e += 1
        for m in range(n_special):  # the rest of the gap, alone
            j = specials[m]
            vj, ij, v0, i0, t0 = _step(v[j], cur[j], t_at[j], top, free_from[j], parameters)
            if not use_grid:
                found, t_c, v_c, i_c, curv = _near_miss(v0, i0, vj, ij, t0, top, parameters)
                if found:
                    out_t[n_out], out_n[n_out], out_v[n_out], out_i[n_out], out_curv[n_out] = t_c, j, v_c, i_c, curv
                    n_out += 1
            v_alone[m] = vj
            i_alone[m] = ij
        # phase 2: every neuron over the whole gap with the shared factors
        em, es, kern = decay_factors(top - bottom, parameters)
        for j in range(n_post):  # branch-free, so that it vectorises; stepped-alone neurons are overwritten below
            v_new[j] = bias + (v[j] - bias) * em + cur[j] * kern
            i_new[j] = cur[j] * es
        # phase 3: the sub-threshold maxima inside the gap of the neurons of the shared step (event form)
        if not use_grid:
            for j in range(n_post):
                # a maximum inside the gap needs dV/dt > 0 at its start and <= 0 at its end (tau_m dV/dt = I + b - V):
                # this inline sign test settles most neurons before the call
                if not special[j] and cur[j] + bias - v[j] > 0.0 and i_new[j] + bias - v_new[j] <= 0.0:
                    found, t_c, v_c, i_c, curv = _near_miss(v[j], cur[j], v_new[j], i_new[j], bottom, top, parameters)
                    if found:
                        out_t[n_out], out_n[n_out], out_v[n_out], out_i[n_out], out_curv[n_out] = t_c, j, v_c, i_c, curv
                        n_out += 1
        for m in range(n_special):
            j = specials[m]
            v_new[j] = v_alone[m]
            i_new[j] = i_alone[m]
            special[j] = False
        v, v_new = v_new, v
        cur, i_new = i_new, cur
        # phase 4: the clock point at the top of the gap: an arrival, or a grid point (creation candidates)
        if g + 1 < n_clock:
            k = clock_tag[g + 1]
            if k >= 0:
                row = weights[arrival_sources[k]]
                for j in range(n_post):
                    cur[j] += row[j]
            else:
                for j in range(n_post):
                    if v[j] < theta:  # grid points after a reset within their bin are creation candidates too
                        out_t[n_out], out_n[n_out], out_v[n_out], out_i[n_out] = top, j, v[j], cur[j]
                        out_curv[n_out] = 0.0
                        n_out += 1
    return _merge_with_removals(spike_times, spike_neurons, rem_i, out_t, out_n, out_v, out_i, out_curv, n_out,
                                parameters, with_margin)


@njit(cache=True, nogil=True)
def event_candidates(times, neurons, removal, voltage, current, slope, margin, curvature, surrogate, min_surrogate,
                     sharpness, max_width, theta, with_distance):
    """The event form's candidates from ``layer_candidates``'s arrays, in one pass: every removal and the creations
    whose ``surrogate`` (sigma'(V - threshold), computed by the caller) reaches ``min_surrogate``, in their order,
    each with its width (ms) and, ``with_distance``, NA's signed membrane distance.

    Width: 1 / (sharpness dV/dt) at a removal, the Laplace width sqrt(2 pi / (sharpness |V''|)) at a creation
    (|V''| floored at 1e-300), capped at ``max_width``. The same operations as the array expressions they replace
    (``np.minimum``'s and ``np.maximum``'s NaN included), element by element: the same numbers.

    Returns (times, neurons, removal, voltage, current, width, distance (empty unless ``with_distance``),
    surrogate) of the kept candidates.
    """
    n_kept = 0
    for c in range(times.size):
        if removal[c] or surrogate[c] >= min_surrogate:
            n_kept += 1
    out_t = np.empty(n_kept)
    out_n = np.empty(n_kept, dtype=np.int64)
    out_removal = np.empty(n_kept, dtype=np.bool_)
    out_v = np.empty(n_kept)
    out_i = np.empty(n_kept)
    out_width = np.empty(n_kept)
    out_distance = np.empty(n_kept if with_distance else 0)
    out_surrogate = np.empty(n_kept)
    m = 0
    for c in range(times.size):
        if not (removal[c] or surrogate[c] >= min_surrogate):
            continue
        out_t[m], out_n[m], out_removal[m] = times[c], neurons[c], removal[c]
        out_v[m], out_i[m], out_surrogate[m] = voltage[c], current[c], surrogate[c]
        if removal[c]:
            width = 1.0 / (sharpness * slope[c])
        else:
            size = abs(curvature[c])
            width = math.sqrt(2.0 * math.pi / (sharpness * (1e-300 if size < 1e-300 else size)))
        out_width[m] = max_width if width > max_width else width
        if with_distance:
            out_distance[m] = -margin[c] if removal[c] else theta - voltage[c]
        m += 1
    return out_t, out_n, out_removal, out_v, out_i, out_width, out_distance, out_surrogate


@njit(cache=True, inline="always")
def _free_step(dt, v, cur, a, gap_dt, gap_factors, params):
    """(V, I) after a free step of dt ms that ends at arrival a: with the decay factors of the arrival gap
    (a - 1, a) when dt is that gap (the step started at arrival a - 1), else computed. ``decay_factors`` is a
    function of dt alone, so both give the same numbers; the gaps' factors are shared by every candidate."""
    if dt == gap_dt[a]:
        return propagate(v, cur, gap_factors[0, a], gap_factors[1, a], gap_factors[2, a], params[P_BIAS])
    return state_after(dt, v, cur, params)


@njit(cache=True, inline="always")
def _resimulate_after_flip(arrival_times, arrival_weights, out, n, params, t_max, t_flip, v, cur, free_from, remove,
                           max_spikes, gap_dt, gap_factors):
    """The flip at ``t_flip`` and the exact simulation after it, from the state (v, cur, free_from) just before
    the flip; ``out[:n]`` holds the kept spikes before it. Writes the train into ``out`` and returns its length.
    Inlined into the candidate loop: as a call, its five array arguments cost ten atomic reference counts per
    candidate (measured: 10% of the re-simulation)."""
    tau_mem, tau_syn, _, theta, bias, t_ref, reset_current = unpack(params)
    t = t_flip
    a = 0
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
                # else the interval end (after at most one extremum V is monotone, so no crossing is missed). The
                # minimum's time (a logarithm) is wanted only where V falls: a removed spike mostly leaves V rising
                if voltage_slope(v, cur, bias, tau_mem) < 0.0:
                    t_min = extremum_time(v, cur, bias, tau_mem, tau_syn)
                    if t_min > 0.0 and t + t_min < t_next:
                        v_min, i_min = state_after(t_min, v, cur, params)
                        if v_min < theta:
                            v = v_min
                            cur = i_min
                            t += t_min
                            above = False
                            continue
                v, cur = _free_step(t_next - t, v, cur, a, gap_dt, gap_factors, params)
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
                v, cur = _free_step(t_next - t, v, cur, a, gap_dt, gap_factors, params)
                t = t_next
        if t_next == t_arr and t >= t_arr and a < arrival_times.size:
            cur += arrival_weights[a]
            a += 1
        elif t_next >= t_max:
            break
    return n


@njit(cache=True, nogil=True)
def resimulate_candidates(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons,
                          cand_times, cand_neurons, cand_removal, cand_voltage, cand_current):
    """NA's neighbours: each candidate's neuron re-simulated exactly with that spike flipped (removed, or
    created), its inputs fixed, for every candidate of a layer in one compiled pass.

    ``cand_voltage``/``cand_current``: V and I just before each candidate (``layer_candidates``). Returns (flat
    spike times, offsets): candidate c's re-simulated train is ``times[offsets[c]:offsets[c + 1]]``. Each
    neuron's weights are gathered once in arrival order (contiguous row reads).
    """
    n_post = weights.shape[1]
    n_arr = arrival_times.size
    order, first = per_neuron_index(spike_neurons, n_post)
    arrival_weights = np.empty((n_post, n_arr))
    for a in range(n_arr):
        row = weights[arrival_sources[a]]
        for j in range(n_post):
            arrival_weights[j, a] = row[j]
    parameters = parameter_tuple(params)
    # decay factors of every arrival gap (a - 1, a), computed once for all candidates (most steps span one gap);
    # gap_dt = -1 where there is no gap (a = 0, a = n_arr), which no step matches
    gap_dt = np.full(n_arr + 1, -1.0)
    gap_factors = np.zeros((3, n_arr + 1))
    for a in range(1, n_arr):
        gap_dt[a] = arrival_times[a] - arrival_times[a - 1]
        gap_factors[0, a], gap_factors[1, a], gap_factors[2, a] = decay_factors(gap_dt[a], parameters)
    n_cand = cand_times.size
    offsets = np.zeros(n_cand + 1, dtype=np.int64)
    # a re-simulated train holds at most max_spikes(j) = 4 (n_own + 2) + 64 spikes, so one buffer sized for every
    # candidate's bound takes them all, written in place: a buffer grown (or a train allocated) per candidate made
    # every candidate pay reference counting and copies
    capacity = 0
    for c in range(n_cand):
        j = cand_neurons[c]
        capacity += 4 * (first[j + 1] - first[j] + 2) + 64
    out = np.empty(capacity)
    for c in range(n_cand):
        j = cand_neurons[c]
        n_own = first[j + 1] - first[j]
        # the state at a candidate is known (V, I from the replay; free: a spike or an interior maximum), so only
        # the part after the flip is simulated; the neuron's earlier spikes are kept as recorded
        max_spikes = 4 * (n_own + 2) + 64
        start = offsets[c]
        n_kept = 0
        while n_kept < n_own and spike_times[order[first[j] + n_kept]] < cand_times[c]:
            out[start + n_kept] = spike_times[order[first[j] + n_kept]]
            n_kept += 1
        offsets[c + 1] = start + _resimulate_after_flip(
            arrival_times, arrival_weights[j], out[start:start + max_spikes], n_kept, parameters, t_max, cand_times[c],
            cand_voltage[c], cand_current[c], cand_times[c], cand_removal[c], max_spikes, gap_dt, gap_factors)
    return out[:offsets[n_cand]], offsets


@njit(cache=True, nogil=True)
def na_pairing(cand_times, cand_neurons, flipped_times, flipped_offsets, spike_times, spike_neurons,
               spike_cotangents, n_post):
    """NA's linearised loss change of each flipped neighbour, except the worth of unpaired spikes.

    For candidate c of neuron j at t_c: the recorded spikes of j at or after t_c and the re-simulated ones are
    paired in order; a pair shifted by dt costs cotangent * dt. Returns (paired change per candidate, and the
    unpaired spikes as (times, neurons, owning candidate, sign +1 created / -1 removed)) so that the caller can
    price all unpaired spikes in one call.
    """
    order, first = per_neuron_index(spike_neurons, n_post)
    n_cand = cand_times.size
    paired = np.zeros(n_cand)
    # a candidate leaves at most its re-simulated spikes and its neuron's recorded ones unpaired. The buffers are
    # sized for that up front: growing them inside the loop made every iteration pay reference counting on four
    # arrays (measured: the pairing ran 5 times slower)
    capacity = flipped_times.size
    for c in range(n_cand):
        capacity += first[cand_neurons[c] + 1] - first[cand_neurons[c]]
    x_t = np.empty(capacity)
    x_n = np.empty(capacity, dtype=np.int64)
    x_c = np.empty(capacity, dtype=np.int64)
    x_s = np.empty(capacity)
    n_x = 0
    for c in range(n_cand):
        j = cand_neurons[c]
        t0 = cand_times[c]
        own = order[first[j]:first[j + 1]]
        o = 0
        while o < own.size and spike_times[own[o]] < t0:
            o += 1
        f = flipped_offsets[c]
        while f < flipped_offsets[c + 1] and flipped_times[f] < t0:
            f += 1
        total = 0.0
        while o < own.size and f < flipped_offsets[c + 1]:
            total += spike_cotangents[own[o]] * (flipped_times[f] - spike_times[own[o]])
            o += 1
            f += 1
        paired[c] = total
        while f < flipped_offsets[c + 1] or o < own.size:
            if f < flipped_offsets[c + 1]:
                x_t[n_x], x_s[n_x] = flipped_times[f], 1.0
                f += 1
            else:
                x_t[n_x], x_s[n_x] = spike_times[own[o]], -1.0
                o += 1
            x_n[n_x], x_c[n_x] = j, c
            n_x += 1
    return paired, x_t[:n_x], x_n[:n_x], x_c[:n_x], x_s[:n_x]
