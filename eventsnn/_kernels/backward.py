"""Exact adjoint sweep: the forward phases of ``forward.py`` in reverse (docs/theory.md, section "Adjoint").

Per neuron, the adjoint state (lambda_V, lambda_I) = (dL/dV, dL/dI) runs backwards over the neuron's events:

* free propagation over dt (transpose of ``lif.propagate``; eq. A1):
  lambda_V <- e^{-dt/tau_mem} lambda_V,  lambda_I <- k(dt) lambda_V + e^{-dt/tau_syn} lambda_I,
  and dL/dbias += lambda_V (1 - e^{-dt/tau_mem});
* refractory propagation: lambda_V = 0 (V is clamped), lambda_I <- e^{-dt/tau_syn} lambda_I;
* arrival of weight w at time a (eq. A2): dL/dw += lambda_I, dL/da += lambda_I w/tau_syn - lambda_V w/tau_mem
  (lambda_V term absent while refractory);
* end of a refractory period at r (eq. A3): dL/dt_spike += -lambda_V(r+) (I(r) + bias)/tau_mem, then lambda_V = 0;
* spike at t_k (eq. A4), with slope = dV/dt(t_k-) = (-threshold + I- + bias)/tau_mem:
  a = gbar_k - lambda_V(t_k+) f_V(t_k+),  lambda_V(t_k-) = -a / slope,  lambda_I(t_k-) = lambda_I(t_k+) (0 with
  reset_current), where gbar_k = dL/dt_k collected from the loss and from downstream arrivals, and
  f_V(t_k+) = (I+ + bias)/tau_mem (0 if a refractory period follows).

Tie order is the reverse of the forward order (``heap.py``): at equal times arrivals are undone before the
spike or refractory end that preceded them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels.indexing import count_up_to, per_neuron_index
from eventsnn._kernels.lif import decay_factors, unpack


@njit(cache=True, inline="always")
def spike_jump(current_before, theta, bias, tau_mem, t_ref, reset_current, min_slope, grazing_slope):
    """Factors of the adjoint jump at a spike (eq. A4), shared by every backward kernel.

    Returns (slope, flow_after, near_grazing): slope = dV/dt just before the spike (floored at ``min_slope``
    when that is > 0, the opt-in clipping), flow_after = dV/dt right after the reset (0 when a refractory period
    follows) and 1 if the unclipped slope is below ``grazing_slope``, else 0. The caller then sets
    lambda_V(t_k-) = -(gbar_k - lambda_V(t_k+) flow_after) / slope.
    """
    slope = (-theta + current_before + bias) / tau_mem
    near_grazing = 1 if slope < grazing_slope else 0
    if min_slope > 0.0 and slope < min_slope:
        slope = min_slope
    current_after = 0.0 if reset_current else current_before
    flow_after = 0.0 if t_ref > 0.0 else (current_after + bias) / tau_mem
    return slope, flow_after, near_grazing


@njit(cache=True)
def own_event_currents(j, own, spike_times, arrival_times, arrival_sources, weights, n_arr, t_max, tau_syn, t_ref,
                       reset_current, gap_es, current_before_spike, current_at_refractory_end):
    """Forward replay of neuron j's current alone: I just before each of its spikes ``spike_times[own]`` and at
    the end of each refractory period (written into the two output arrays). Same tie rules as the engine (a
    spike precedes an arrival at the same time). After an arrival at a_k the next decay is over gap k, whose
    factor ``gap_es[k]`` is shared by all neurons."""
    current = 0.0
    t = 0.0
    k = 0
    for s in range(own.size):
        t_spike = spike_times[own[s]]
        while k < n_arr and arrival_times[k] < t_spike:
            decay = gap_es[k - 1] if (k > 0 and t == arrival_times[k - 1]) else \
                math.exp(-(arrival_times[k] - t) / tau_syn)
            current = current * decay + weights[arrival_sources[k], j]
            t = arrival_times[k]
            k += 1
        current *= math.exp(-(t_spike - t) / tau_syn)
        t = t_spike
        current_before_spike[s] = current
        if reset_current:
            current = 0.0
        if t_ref > 0.0:
            refractory_end = t_spike + t_ref
            while k < n_arr and arrival_times[k] < refractory_end:
                decay = gap_es[k - 1] if (k > 0 and t == arrival_times[k - 1]) else \
                    math.exp(-(arrival_times[k] - t) / tau_syn)
                current = current * decay + weights[arrival_sources[k], j]
                t = arrival_times[k]
                k += 1
            if refractory_end <= t_max:
                current *= math.exp(-(refractory_end - t) / tau_syn)
                t = refractory_end
            current_at_refractory_end[s] = current


@njit(cache=True, nogil=True)
def layer_backward(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons,
                   spike_cotangents, min_slope, grazing_slope):
    """Vector-Jacobian product of one dense layer's spike times.

    Parameters
    ----------
    arrival_times, arrival_sources : the layer's input arrivals exactly as given to ``layer_forward``.
    weights : (n_pre, n_post); params : lif.P_* vector; t_max : ms.
    spike_times, spike_neurons : the layer's spikes from ``layer_forward`` (sorted by time).
    spike_cotangents : dL/dt for each spike (ms^-1 units of L), including downstream contributions.
    min_slope : if > 0, dV/dt at a crossing is floored at this value (opt-in clipping, 1/ms); 0 = exact.
    grazing_slope : crossings with dV/dt below this are counted as near-grazing (reported, not altered).

    Returns
    -------
    (d_weights_per_arrival (n_arrivals_in_window, n_post), d_arrival_times (n_arrivals,), d_bias, n_near_grazing)
    Row k of the first array is arrival k's contribution to dL/dW[arrival_sources[k], :]; rows are summed by
    ``scatter_rows`` in a fixed order, which keeps batch results independent of the thread count and avoids a
    dense (n_pre, n_post) array per sample.
    """
    tau_mem, tau_syn, _, theta, bias, t_ref, reset_current = unpack(params)
    n_post = weights.shape[1]
    n_arr = count_up_to(arrival_times, t_max)

    # decay factors of each inter-arrival gap, shared by every neuron that has no own event inside it
    gap_em = np.empty(n_arr)
    gap_es = np.empty(n_arr)
    gap_kern = np.empty(n_arr)
    for k in range(n_arr):
        upper = arrival_times[k + 1] if k + 1 < n_arr else t_max
        gap_em[k], gap_es[k], gap_kern[k] = decay_factors(upper - arrival_times[k], params)

    order, first = per_neuron_index(spike_neurons, n_post)  # per neuron, still in time order

    d_weights = np.zeros((n_arr, n_post))  # row k: dL/dW[arrival_sources[k], :] from arrival k
    d_arrivals = np.zeros(arrival_times.size)
    d_bias = 0.0
    n_grazing = 0
    max_own = 0
    for j in range(n_post):
        max_own = max(max_own, first[j + 1] - first[j])
    current_before_spike = np.empty(max_own)
    current_at_refractory_end = np.empty(max_own)

    for j in range(n_post):
        own = order[first[j]:first[j + 1]]
        n_own = own.size
        if n_own == 0:
            continue  # lambda stays 0: a neuron without spikes passes no gradient
        own_event_currents(j, own, spike_times, arrival_times, arrival_sources, weights, n_arr, t_max, tau_syn,
                           t_ref, reset_current, gap_es, current_before_spike, current_at_refractory_end)

        # reverse sweep. After the last spike lambda is 0 (the loss sees spike times only), so the sweep starts
        # there: arrivals at or after it (undone before it at ties) would add exactly 0.
        lam_v = 0.0
        lam_i = 0.0
        s = n_own - 1
        t_cur = spike_times[own[s]]
        k = np.searchsorted(arrival_times[:n_arr], t_cur) - 1  # last arrival strictly before the last spike
        at_gap_top = False  # t_cur is the upper end of gap k (so its shared factors apply)
        refractory = False
        pending = 0.0  # dL/dt_spike collected at the refractory end of spike s
        while True:
            t_arr = arrival_times[k] if k >= 0 else -math.inf
            t_spk = spike_times[own[s]] if s >= 0 else -math.inf
            t_end = spike_times[own[s]] + t_ref if (s >= 0 and t_ref > 0.0 and not refractory) else -math.inf
            tau = max(t_arr, t_spk, t_end)
            if tau == -math.inf:
                tau = 0.0
            # propagate the adjoint from t_cur down to tau
            if refractory:
                lam_i *= math.exp(-(t_cur - tau) / tau_syn)
            else:
                if at_gap_top and k >= 0 and tau == t_arr:
                    em, es, kern = gap_em[k], gap_es[k], gap_kern[k]
                else:
                    em, es, kern = decay_factors(t_cur - tau, params)
                d_bias += lam_v * (1.0 - em)
                lam_i = kern * lam_v + es * lam_i
                lam_v = em * lam_v
            t_cur = tau
            if k < 0 and s < 0:
                break
            if t_arr >= t_end and t_arr >= t_spk:  # arrival (undone first at ties)
                src = arrival_sources[k]
                w = weights[src, j]
                d_weights[k, j] += lam_i
                d_arrivals[k] += lam_i * w / tau_syn
                if not refractory:
                    d_arrivals[k] -= lam_v * w / tau_mem
                k -= 1
                at_gap_top = True
            elif t_end >= t_spk:  # end of the refractory period of spike s
                pending = -lam_v * (current_at_refractory_end[s] + bias) / tau_mem
                lam_v = 0.0
                refractory = True
                at_gap_top = False
            else:  # spike s
                slope, flow_v_after, near_grazing = spike_jump(current_before_spike[s], theta, bias, tau_mem, t_ref,
                                                               reset_current, min_slope, grazing_slope)
                n_grazing += near_grazing
                total = spike_cotangents[own[s]] + pending - lam_v * flow_v_after
                lam_v = -total / slope
                if reset_current:
                    lam_i = 0.0
                pending = 0.0
                refractory = False
                s -= 1
                at_gap_top = False
    return d_weights, d_arrivals, d_bias, n_grazing


@njit(cache=True)
def scatter_rows(total, rows, row_index):
    """total[row_index[k], :] += rows[k, :] for k from the last row down: a fixed order, the one in which the
    backward sweep adds rows when it accumulates into a total itself, so both give the same sums."""
    for k in range(rows.shape[0] - 1, -1, -1):
        target = row_index[k]
        for j in range(rows.shape[1]):
            total[target, j] += rows[k, j]
