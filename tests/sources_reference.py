"""Independent route for ``_kernels/backward_dense.layer_backward_sources``: the same adjoint with sources,
swept neuron by neuron over each neuron's own events in plain Python (the kernel sweeps gap by gap over all
neurons at once). This was the package's kernel before the gap sweep (session 9)."""

import math

import numpy as np

from eventsnn._kernels.backward import own_event_currents, spike_jump
from eventsnn._kernels.indexing import count_up_to, per_neuron_index
from eventsnn._kernels.lif import decay_factors, unpack


def layer_backward_sources_per_neuron(arrival_times, arrival_sources, weights, params, t_max, spike_times, spike_neurons,
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
                    em, es, kern = decay_factors(t_cur - tau, params)
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
