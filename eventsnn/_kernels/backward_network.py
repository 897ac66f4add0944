"""Exact adjoint of a general network (recurrence, several populations, per-synapse delays): one global sweep.

The per-neuron rules are those of docs/theory.md (A1-A4), the same as ``backward.py`` and from the same place:
``lif.adjoint_propagate`` between events and ``lif.spike_jump`` at a spike. What a general network
adds is coupling in both directions between neurons, so the sweep runs over *all* events of the sample in the
exact reverse of the forward processing order (``heap.py``): later times first and, at equal times, deliveries
(arrivals) before neuron events (spikes, refractory ends). An arrival at time a = t_pre + delay >= t_pre is
therefore always undone before the presynaptic spike it came from, so when a spike is reached its cotangent
(loss + every dL/da of its arrivals) is complete. Each neuron keeps its own (lambda_V, lambda_I) and the time
down to which they have been propagated; propagation is lazy, per neuron, between that neuron's events.

Inside a refractory period lambda_V is 0 (set at the refractory end in reverse); the free transposed propagator
keeps it 0 and decays lambda_I by e^{-dt/tau_syn}, which is the clamped adjoint, so no special case is needed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsnn._kernels.lif import (P_BIAS, P_REFRACTORY, P_RESET_CURRENT, P_TAU_MEM, P_TAU_SYN, P_THRESHOLD,
                                   adjoint_propagate, decay_factors, spike_jump)

KIND_ARRIVAL = 0
KIND_REFRACTORY_END = 1
KIND_SPIKE = 2


@njit(cache=True)
def _replay_currents(ev_time, ev_kind, ev_neuron, ev_index, synapse_weight, population_of, parameters, n_spikes):
    """Forward replay of I over the events (given in reverse processing order, so walked from the end): I just
    before each spike and at each refractory end, per neuron-spike index."""
    n_neurons = population_of.size
    current = np.zeros(n_neurons)
    t_current = np.zeros(n_neurons)
    current_before = np.zeros(n_spikes)
    current_at_end = np.zeros(n_spikes)
    for e in range(ev_time.size - 1, -1, -1):
        j = ev_neuron[e]
        params = parameters[population_of[j]]
        decayed = current[j] * math.exp(-(ev_time[e] - t_current[j]) / params[P_TAU_SYN])
        kind = ev_kind[e]
        if kind == KIND_ARRIVAL:
            current[j] = decayed + synapse_weight[ev_index[e]]
            t_current[j] = ev_time[e]
        elif kind == KIND_SPIKE:
            current_before[ev_index[e]] = decayed
            current[j] = 0.0 if params[P_RESET_CURRENT] != 0.0 else decayed
            t_current[j] = ev_time[e]
        else:
            current_at_end[ev_index[e]] = decayed
    return current_before, current_at_end


@njit(cache=True, nogil=True)
def network_backward(ev_time, ev_kind, ev_neuron, ev_index, ev_origin, synapse_weight, population_of, parameters,
                     spike_cotangents, n_input_events, t_max, min_slope, grazing_slope):
    """Reverse sweep over the events of one sample, given in *reverse processing order*.

    Event e: time ev_time[e], kind ev_kind[e] (KIND_*), global neuron ev_neuron[e]; ev_index[e] is the synapse
    (arrivals) or the neuron-spike index s (spikes and refractory ends); ev_origin[e] is the index of the source
    event (input spikes first, then neuron spikes: n_input_events + s) that caused an arrival.

    Returns (dL/d(weight) and dL/d(delay) per synapse, dL/dt of every source event (input spikes, then neuron
    spikes: loss + downstream), dL/d(bias) per neuron, number of near-grazing crossings).
    """
    n_neurons = population_of.size
    n_spikes = spike_cotangents.size
    n_ev = ev_time.size
    current_before, current_at_end = _replay_currents(ev_time, ev_kind, ev_neuron, ev_index, synapse_weight,
                                                      population_of, parameters, n_spikes)

    d_weight = np.zeros(synapse_weight.size)
    d_delay = np.zeros(synapse_weight.size)
    d_source = np.zeros(n_input_events + n_spikes)
    for s in range(n_spikes):
        d_source[n_input_events + s] = spike_cotangents[s]
    d_bias = np.zeros(n_neurons)
    pending = np.zeros(n_spikes)
    lam_v = np.zeros(n_neurons)
    lam_i = np.zeros(n_neurons)
    t_last = np.full(n_neurons, t_max)
    n_grazing = 0
    for e in range(n_ev):
        j = ev_neuron[e]
        params = parameters[population_of[j]]
        tau_mem = params[P_TAU_MEM]
        t = ev_time[e]
        if lam_v[j] != 0.0 or lam_i[j] != 0.0:
            em, es, kern = decay_factors(t_last[j] - t, params)
            lam_v[j], lam_i[j], rise = adjoint_propagate(lam_v[j], lam_i[j], em, es, kern)
            d_bias[j] += rise
        t_last[j] = t
        kind = ev_kind[e]
        if kind == KIND_ARRIVAL:
            c = ev_index[e]
            w = synapse_weight[c]
            d_weight[c] += lam_i[j]
            d_arrival = w * (lam_i[j] / params[P_TAU_SYN] - lam_v[j] / tau_mem)
            d_delay[c] += d_arrival
            d_source[ev_origin[e]] += d_arrival
        elif kind == KIND_REFRACTORY_END:
            s = ev_index[e]
            pending[s] = -lam_v[j] * (current_at_end[s] + params[P_BIAS]) / tau_mem
            lam_v[j] = 0.0
        else:
            s = ev_index[e]
            reset_current = params[P_RESET_CURRENT] != 0.0
            slope, flow_v_after, near_grazing = spike_jump(current_before[s], params[P_THRESHOLD], params[P_BIAS],
                                                           tau_mem, params[P_REFRACTORY], reset_current, min_slope,
                                                           grazing_slope)
            n_grazing += near_grazing
            total = d_source[n_input_events + s] + pending[s] - lam_v[j] * flow_v_after
            lam_v[j] = -total / slope
            if reset_current:
                lam_i[j] = 0.0
    # the bias acts from t = 0: the last stretch (0, first event) of every neuron
    for j in range(n_neurons):
        if lam_v[j] != 0.0:
            params = parameters[population_of[j]]
            em, es, kern = decay_factors(t_last[j], params)
            d_bias[j] += adjoint_propagate(lam_v[j], lam_i[j], em, es, kern)[2]
    return d_weight, d_delay, d_source, d_bias, n_grazing
