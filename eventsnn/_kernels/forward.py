"""Forward event loops: the layered fast path and the general heap engine.

Both are built from the same four phases (docs/design.md): next crossing (``crossing.first_crossing``), next
event, exact advance (``lif.decay_factors``/``lif.advance``, or current-only decay while refractory) and
transition (spike: reset; arrival: I += w). Spikes are counted in the closed window [0, t_max].

* ``layer_forward``: one dense layer whose input spike train is fully known (feed-forward networks with a
  scalar delay per connection). No global queue: the layer sweeps its arrivals once; between two arrivals
  every neuron only needs "is there a crossing before the next arrival?", and for the many neurons that are
  not refractory and whose state is at the layer clock, the decay factors are shared and a cheap bound
  (eq. 8 of docs/theory.md) or the end-point test after it answers "no" without the solver.
* ``network_forward``: any network (recurrence, per-synapse delays). An indexed heap keeps each neuron's next
  event (predicted crossing or refractory end); a second heap holds pending deliveries. An arrival updates the
  neuron's prediction in place, so invalidated predictions never fire. Tie rules: ``heap.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels import status
from eventsnn._kernels.crossing import first_crossing, stays_below_threshold
from eventsnn._kernels.heap import (D_CURSOR, D_ORIGIN, D_SOURCE, D_TIME, delivery_pop, delivery_push,
                                    delivery_queue_new, neuron_queue_new, neuron_queue_update)
from eventsnn._kernels.lif import (P_BIAS, P_REFRACTORY, P_TAU_MEM, P_TAU_SYN, P_THRESHOLD, advance,
                                   decay_factors, parameter_tuple, propagate, reset_after_spike, state_after)

# A crossing is searched up to an absolute end time T (an arrival or t_max) from a state at absolute time t over
# the relative window (T - t) + T * WINDOW_SLACK_REL and its time is clamped to T. The slack (>= one ulp of T)
# covers the rounding of T - t and of t + t_cross: a crossing whose absolute time rounds to T belongs to (t, T]
# (without it, setting t_max to a reported spike time could lose that spike: tests/test_simulate_reference.py).
WINDOW_SLACK_REL = 2.220446049250313e-16
# layer_forward settles a neuron without the solver from the end-point values of its gap only when V ends
# further than this (relative to |threshold| + 1) below threshold, far beyond the rounding of V.
QUIET_MARGIN = 1e-12
# ... and takes "V rises at the end of the gap" from the end-point slope only when it exceeds this multiple of the
# size of its terms, and those terms are far from underflow.
SLOPE_SIGN_MARGIN = 1e-12
UNDERFLOW_SCALE = 1e-280


# Inlined, the rare growth a call of its own: a compiled call with the two output arrays per spike paid an atomic
# reference count on each, in and out.
@njit(cache=True, inline="always")
def _append_spike(out_times, out_neurons, n_out, time, neuron):
    if n_out == out_times.size:
        out_times, out_neurons = _doubled(out_times, out_neurons, n_out)
    out_times[n_out] = time
    out_neurons[n_out] = neuron
    return out_times, out_neurons, n_out + 1


@njit(cache=True)
def _doubled(out_times, out_neurons, n_out):
    """Copies of the first ``n_out`` spikes in arrays of twice the size."""
    bigger_t = np.empty(2 * out_times.size)
    bigger_n = np.empty(2 * out_times.size, dtype=np.int64)
    bigger_t[:n_out] = out_times[:n_out]
    bigger_n[:n_out] = out_neurons[:n_out]
    return bigger_t, bigger_n


# A gap's spikes are sorted by insertion up to this many (the common case: a few spikes, no allocation) and by a
# stable merge sort above it: 1000 tonic neurons firing 364k spikes into one gap took 107 s by insertion (issue 19).
INSERTION_SORT_MAX = 32
# No cap on the spikes of one call unless the caller passes one (int64 max).
NO_SPIKE_CAP = 9223372036854775807


@njit(cache=True, inline="always")
def _sort_block_by_time(times, neurons, start, stop):
    """Stable sort of the spikes of one gap, appended neuron by neuron, into (time, neuron) order.

    Gaps follow each other in time, so sorting each gap's spikes sorts the whole train. Both branches are stable
    sorts on the time alone, so they produce the same order (equal times keep their neuron order).
    """
    if stop - start > INSERTION_SORT_MAX:
        _merge_sort_block(times, neurons, start, stop)
        return
    for m in range(start + 1, stop):
        t = times[m]
        j = neurons[m]
        k = m - 1
        while k >= start and times[k] > t:
            times[k + 1] = times[k]
            neurons[k + 1] = neurons[k]
            k -= 1
        times[k + 1] = t
        neurons[k + 1] = j


@njit(cache=True)
def _merge_sort_block(times, neurons, start, stop):
    """O(k log k) stable sort of ``times[start:stop]`` (and the neurons with them)."""
    order = np.argsort(times[start:stop], kind="mergesort")
    sorted_times = times[start:stop][order]
    sorted_neurons = neurons[start:stop][order]
    times[start:stop] = sorted_times
    neurons[start:stop] = sorted_neurons


# inlined: as a call it cost ~15 % of the hidden layer of W2 (hundreds of calls per sample, 13 arguments)
@njit(cache=True, inline="always")
def _advance_neuron(j, t_from, t_to, v, cur, refractory_end, counts, params, max_spikes, max_total,
                    out_times, out_neurons, n_out, gap_factors):
    """Advance neuron j from t_from to t_to (no arrival in between), emitting every spike in (t_from, t_to].

    Stops with SPIKE_LIMIT when j exceeds ``max_spikes`` spikes, with SAMPLE_SPIKE_LIMIT when the layer exceeds
    ``max_total``.

    ``params``: the ``lif.P_*`` values (``lif.parameter_tuple``). ``gap_factors``: decay_factors(t_to - t_from),
    which the caller has computed for the whole layer; a neuron that crosses nowhere in the gap is propagated with
    them (the same numbers state_after would compute).
    """
    tau_syn = params[P_TAU_SYN]
    t = t_from
    code = status.OK
    while True:
        if refractory_end[j] > t:
            end = min(refractory_end[j], t_to)
            cur[j] *= math.exp(-(end - t) / tau_syn)
            t = end
            if t >= t_to:
                break
        window = t_to - t
        if window <= 0.0:
            break
        # V - V0 <= (bias + max(I0, 0) - V0)^+ (1 - e^{-w/tau_mem}) <= (...)^+ w / tau_mem: after a reset the rest of
        # a short gap is usually settled by this transcendental-free bound instead of the solver
        search = window + t_to * WINDOW_SLACK_REL
        drive = params[P_BIAS] + max(cur[j], 0.0) - v[j]
        if v[j] + max(drive, 0.0) * search / params[P_TAU_MEM] < params[P_THRESHOLD]:
            t_cross = math.inf
        else:
            t_cross = first_crossing(v[j], cur[j], search, params)
        if t_cross == math.inf:
            if t == t_from:
                em, es, kern = gap_factors
                v[j], cur[j] = propagate(v[j], cur[j], em, es, kern, params[P_BIAS])
            else:
                v[j], cur[j] = state_after(window, v[j], cur[j], params)
            break
        current_at_spike = cur[j] * math.exp(-t_cross / tau_syn)  # I of state_after(t_cross): V is reset anyway
        t = min(t + t_cross, t_to)  # t + window may round past t_to; the spike belongs to (t_from, t_to]
        out_times, out_neurons, n_out = _append_spike(out_times, out_neurons, n_out, t, j)
        counts[j] += 1
        if counts[j] > max_spikes:
            code = status.SPIKE_LIMIT
            break
        if n_out > max_total:
            code = status.SAMPLE_SPIKE_LIMIT
            break
        v[j], cur[j], refractory_end[j] = reset_after_spike(current_at_spike, t, params)
    return code, out_times, out_neurons, n_out


@njit(cache=True, nogil=True)
def layer_forward(arrival_times, arrival_sources, weights, params, t_max, max_spikes, max_total=NO_SPIKE_CAP):
    """Spikes of one dense layer driven by known, time-sorted arrivals.

    Parameters: arrival_times (ms, sorted, delay already added), arrival_sources (row of ``weights`` for each
    arrival, in [0, n_pre): not checked here), weights (n_pre, n_post), params (lif.P_* layout), t_max (ms),
    max_spikes (per neuron), max_total (spikes of the layer).
    Returns (times, neurons, status) sorted by (time, neuron).
    """
    n_post = weights.shape[1]
    # the helpers below that are calls (the crossing solver, state_after) take the values, not the array
    param_values = parameter_tuple(params)
    theta = params[P_THRESHOLD]
    bias = params[P_BIAS]
    v = np.zeros(n_post)
    cur = np.zeros(n_post)
    refractory_end = np.full(n_post, -np.inf)
    counts = np.zeros(n_post, dtype=np.int64)
    out_times = np.empty(64 + arrival_times.size)
    out_neurons = np.empty(64 + arrival_times.size, dtype=np.int64)
    n_out = 0
    code = status.OK
    slow = np.zeros(8 * ((n_post + 7) // 8), dtype=np.uint8)  # padded to whole words of eight flags, the padding 0
    slow_words = slow.view(np.uint64)
    needs_solver = np.empty(slow.size, dtype=np.int64)
    no_row = np.zeros(n_post)
    # end-point decisions stay with the exact solver within this distance of threshold (rounding of V)
    quiet_below = theta - QUIET_MARGIN * (abs(theta) + 1.0)
    n_arrivals = arrival_times.size
    k = 0
    t_prev = 0.0
    while True:
        has_arrivals = k < n_arrivals and arrival_times[k] <= t_max
        t_next = arrival_times[k] if has_arrivals else t_max
        group_end = k
        while group_end < n_arrivals and arrival_times[group_end] == t_next and has_arrivals:
            group_end += 1
        # a lone arrival (the common case) is added in the same pass as the propagation
        fused_row = arrival_sources[k] if (has_arrivals and group_end == k + 1) else -1
        dt = t_next - t_prev
        n_slow = 0
        n_gap_start = n_out
        if dt > 0.0:
            em, es, kern = decay_factors(dt, param_values)
            rise_fraction = 1.0 - em
            # Pass 1, branch-free so that it vectorises: propagate every neuron that is free since t_prev and
            # provably stays below threshold (eq. 8: V <= V0 + max(bias + max(I0, 0) - V0, 0)(1 - e^{-dt/tau_mem}));
            # flag the others for the exact solver. This pass and the tests of flagged neurons below are written out:
            # as inlined helper functions they cost 10-15 % of the layer (2026-12-07, docs/performance.md).
            row = weights[fused_row] if fused_row >= 0 else no_row
            for j in range(n_post):
                vj = v[j]
                ij = cur[j]
                positive_current = ij if ij > 0.0 else 0.0
                drive = bias + positive_current - vj
                bound = vj + (drive if drive > 0.0 else 0.0) * rise_fraction
                quiet = refractory_end[j] <= t_prev and bound < theta
                v[j] = bias + (vj - bias) * em + ij * kern if quiet else vj
                cur[j] = ij * es + row[j] if quiet else ij
                slow[j] = not quiet
            # listed without a branch: which neurons are slow is unpredictable, and a mispredicted branch per
            # neuron cost more than the whole vectorised pass; but most words of eight flags of a wide layer are
            # all zero (at 200 Hz on 1000 neurons, listing every neuron of every gap cost a quarter of the layer)
            for w in range(slow_words.size):
                if slow_words[w] != 0:
                    for j in range(8 * w, 8 * w + 8):
                        needs_solver[n_slow] = j
                        n_slow += np.int64(slow[j])  # (as plain Python, int + uint8 would stay uint8 and wrap)
            for m in range(n_slow):
                j = needs_solver[m]
                if refractory_end[j] <= t_prev and v[j] < quiet_below:
                    # f' changes sign at most once in a gap, so unless V ends near threshold or has an interior
                    # maximum (rising at the start, falling at the end), its maximum over the gap is an end point;
                    # an interior maximum is settled by the closed-form certificate where the time constants allow
                    vj = v[j]
                    ij = cur[j]
                    v_end = bias + (vj - bias) * em + ij * kern
                    i_end = ij * es
                    # "still rising at the end" must be a sign rounding cannot flip: after a gap of hundreds of
                    # time constants every term underflows and a falling V reads as flat (a lost burst)
                    scale = abs(ij) * (es + kern) + abs(vj - bias) * em
                    rising_at_end = i_end + bias - v_end > SLOPE_SIGN_MARGIN * scale and scale > UNDERFLOW_SCALE
                    if v_end < quiet_below and (rising_at_end or ij + bias - vj <= 0.0
                                                or stays_below_threshold(vj, ij, param_values)):
                        v[j] = v_end
                        cur[j] = i_end
                        continue
                code, out_times, out_neurons, n_out = _advance_neuron(
                    j, t_prev, t_next, v, cur, refractory_end, counts, param_values, max_spikes, max_total,
                    out_times, out_neurons, n_out, (em, es, kern))
                if code != status.OK:
                    _sort_block_by_time(out_times, out_neurons, n_gap_start, n_out)
                    return out_times[:n_out], out_neurons[:n_out], code
            if n_out - n_gap_start > 1:
                _sort_block_by_time(out_times, out_neurons, n_gap_start, n_out)
        if not has_arrivals:
            break
        if fused_row >= 0 and dt > 0.0:
            for m in range(n_slow):  # the fused pass skipped these neurons
                cur[needs_solver[m]] += weights[fused_row, needs_solver[m]]
        else:
            for kk in range(k, group_end):
                row = arrival_sources[kk]
                for j in range(n_post):
                    cur[j] += weights[row, j]
        k = group_end
        t_prev = t_next
    return out_times[:n_out], out_neurons[:n_out], code


# A value from scalars rather than a write into the queue's arrays: a compiled call per event with the state and
# queue arrays paid an atomic reference count on each, in and out.
@njit(cache=True, inline="always")
def _next_event_time(v, cur, t_state, params, t_max):
    """Time (ms) of a free neuron's next event: its first crossing in (t_state, t_max], or +inf.

    ``v``, ``cur``: its state at ``t_state`` (ms); ``params``: the ``lif.P_*`` values (``lif.parameter_tuple``).
    """
    if v >= params[P_THRESHOLD]:
        # only reachable when an arrival lands within rounding of a predicted crossing: fire now
        return t_state
    t_cross = first_crossing(v, cur, t_max - t_state + t_max * WINDOW_SLACK_REL, params)
    return min(t_state + t_cross, t_max) if t_cross != math.inf else math.inf


@njit(cache=True, nogil=True)
def network_forward(input_times, input_sources, row_ptr, synapse_target, synapse_weight, synapse_delay,
                    n_input_sources, population_of, parameters, t_max, max_spikes, max_total=NO_SPIKE_CAP):
    """General heap engine. Returns (times, global neuron indices, status) in firing order (= (time, neuron)).

    The arrays must be consistent (``Network.compile_general``; input sources in [0, n_input_sources)): not checked
    here. Stops with SPIKE_LIMIT when a neuron exceeds ``max_spikes`` spikes, with SAMPLE_SPIKE_LIMIT when all
    neurons together exceed ``max_total``."""
    n = population_of.size
    v = np.zeros(n)
    cur = np.zeros(n)
    t_state = np.zeros(n)
    refractory = np.zeros(n, dtype=np.bool_)
    counts = np.zeros(n, dtype=np.int64)
    keys, heap, position = neuron_queue_new(n)
    rows = delivery_queue_new(input_times.size + 16)
    size = 0
    seq = 0
    out_times = np.empty(64 + input_times.size)
    out_neurons = np.empty(64 + input_times.size, dtype=np.int64)
    n_out = 0
    for m in range(input_times.size):
        src = input_sources[m]
        first = row_ptr[src]
        if first < row_ptr[src + 1]:
            rows, size = delivery_push(rows, size, input_times[m] + synapse_delay[first], seq,
                                       input_times[m], src, first)
            seq += 1
    for j in range(n):  # bias alone can make a neuron fire
        neuron_queue_update(keys, heap, position, j,
                            _next_event_time(0.0, 0.0, 0.0, parameter_tuple(parameters[population_of[j]]), t_max))

    code = status.OK
    while True:
        j = heap[0]
        t_neuron = keys[j]
        t_delivery = rows[0, D_TIME] if size > 0 else math.inf
        if min(t_neuron, t_delivery) > t_max:
            break
        if t_neuron <= t_delivery:  # neuron events first at equal times (heap.py)
            params = parameter_tuple(parameters[population_of[j]])
            t = t_neuron
            if refractory[j]:
                cur[j] *= math.exp(-(t - t_state[j]) / params[P_TAU_SYN])
                v[j] = 0.0
                t_state[j] = t
                refractory[j] = False
                neuron_queue_update(keys, heap, position, j, _next_event_time(v[j], cur[j], t, params, t_max))
                continue
            current_at_spike = cur[j] * math.exp(-(t - t_state[j]) / params[P_TAU_SYN])  # V is reset anyway
            out_times, out_neurons, n_out = _append_spike(out_times, out_neurons, n_out, t, j)
            counts[j] += 1
            if counts[j] > max_spikes:
                code = status.SPIKE_LIMIT
                break
            if n_out > max_total:
                code = status.SAMPLE_SPIKE_LIMIT
                break
            v[j], cur[j], _ = reset_after_spike(current_at_spike, t, params)
            t_state[j] = t
            src = n_input_sources + j
            first = row_ptr[src]
            if first < row_ptr[src + 1]:
                rows, size = delivery_push(rows, size, t + synapse_delay[first], seq, t, src, first)
                seq += 1
            if params[P_REFRACTORY] > 0.0:
                refractory[j] = True
                neuron_queue_update(keys, heap, position, j, t + params[P_REFRACTORY])
            else:
                neuron_queue_update(keys, heap, position, j, _next_event_time(v[j], cur[j], t, params, t_max))
        else:
            t = t_delivery
            origin = rows[0, D_ORIGIN]
            src = np.int64(rows[0, D_SOURCE])
            c = np.int64(rows[0, D_CURSOR])
            size = delivery_pop(rows, size)
            delay = synapse_delay[c]
            end = row_ptr[src + 1]
            while c < end and synapse_delay[c] == delay:
                target = synapse_target[c]
                params = parameter_tuple(parameters[population_of[target]])
                if refractory[target]:
                    cur[target] *= math.exp(-(t - t_state[target]) / params[P_TAU_SYN])
                else:
                    v[target], cur[target] = state_after(t - t_state[target], v[target], cur[target], params)
                cur[target] += synapse_weight[c]
                t_state[target] = t
                if not refractory[target]:
                    neuron_queue_update(keys, heap, position, target,
                                        _next_event_time(v[target], cur[target], t, params, t_max))
                c += 1
            if c < end:
                rows, size = delivery_push(rows, size, origin + synapse_delay[c], seq, origin, src, c)
                seq += 1
    return out_times[:n_out], out_neurons[:n_out], code


@njit(cache=True)
def replay_neuron(arrival_times, arrival_weights, spike_times, params, query_times):
    """Exact (V, I) of one neuron at sorted ``query_times`` given its sorted arrivals and its own spikes.

    The spikes are taken as given (resets happen there). Values are right-continuous: a query at an event
    time sees the state after every event at that time (spike reset first, then arrivals; heap.py tie rule).
    """
    n_q = query_times.size
    v_out = np.empty(n_q)
    i_out = np.empty(n_q)
    v = 0.0
    cur = 0.0
    t = 0.0
    refractory_end = -math.inf
    a = 0
    s = 0
    for q in range(n_q):
        t_query = query_times[q]
        while True:
            t_arrival = arrival_times[a] if a < arrival_times.size else math.inf
            t_spike = spike_times[s] if s < spike_times.size else math.inf
            t_event = min(t_arrival, t_spike)
            target = min(t_event, t_query)
            v, cur, t = advance(v, cur, t, target, refractory_end, params)
            if t_event > t_query:
                break
            if t_spike <= t_arrival:
                v, cur, refractory_end = reset_after_spike(cur, t_spike, params)
                s += 1
            else:
                cur += arrival_weights[a]
                a += 1
        v_out[q] = v
        i_out[q] = cur
    return v_out, i_out
