"""The adjoint of one dense layer, neuron by neuron, in plain Python (oracle of ``_kernels/backward.layer_backward``).

Written from docs/theory.md (section "Adjoint", rules A1-A4) and the model alone. For each neuron j:

1. forward replay of its synaptic current I: arrivals add their weight, I decays by e^{-dt/tau_syn}, a spike zeroes
   I with ``reset_current``; it records I just before each spike and at each refractory end;
2. its events (arrivals, spikes, refractory ends inside the window, sources, queries) are put in forward order:
   by time, and at equal times source < spike < refractory end < arrival < query (neuron events before
   deliveries, as the engine; a source acts just before a spike at its time; queries read the state after all);
3. the reverse walk from t_max down to 0 with (lambda_V, lambda_I) = (0, 0):

   * between events, free (A1): lambda_V <- e^{-dt/tau_mem} lambda_V, lambda_I <- K(dt) lambda_V + e^{-dt/tau_syn}
     lambda_I, and dL/dbias += lambda_V (1 - e^{-dt/tau_mem}); while refractory (V clamped): lambda_V stays 0,
     lambda_I <- e^{-dt/tau_syn} lambda_I, no bias term;
   * arrival of w from source i (A2): dL/dW[i, j] += lambda_I, dL/da += w lambda_I / tau_syn - w lambda_V / tau_mem
     (the second term absent while refractory);
   * refractory end (A3): pending = -lambda_V (I + bias) / tau_mem, lambda_V = 0, refractory from here down;
   * spike (A4): slope = (I + bias - threshold) / tau_mem (floored at ``min_slope`` if > 0; near-grazing if below
     ``grazing_slope``), flow = 0 if a refractory period follows, else (I+ + bias) / tau_mem with I+ the current
     after the reset; lambda_V = -(lambda_timing dL/dt + pending - lambda_V flow) / slope (without pending and
     the flow term when ``detach_reset``); lambda_I = 0 with ``reset_current``; not refractory below;
   * source c: lambda_V += gain_c (drive_c + coef_v_c lambda_V + coef_i_c lambda_I), unless refractory;
   * query: lambda_I and lambda_V are read.

It imports nothing from ``eventsnn``: the neuron is any object with the ``eventsnn.LIF`` attribute names.
"""

from __future__ import annotations

import math

import numpy as np

from oracles.model import psp

# forward order of event kinds at equal times
SOURCE, SPIKE, REFRACTORY_END, ARRIVAL, QUERY = range(5)


def _current_replay(arrivals: list, spikes: list, lif, t_max: float) -> tuple[dict, dict]:
    """I just before each spike and at each refractory end (<= t_max) of one neuron, by spike index."""
    events = [(t, ARRIVAL, w) for t, w in arrivals] + [(t, SPIKE, s) for s, t in spikes]
    if lif.refractory > 0.0:
        events += [(t + lif.refractory, REFRACTORY_END, s) for s, t in spikes if t + lif.refractory <= t_max]
    events.sort(key=lambda e: (e[0], e[1]))
    before, at_end = {}, {}
    current, t_now = 0.0, 0.0
    for t, kind, payload in events:
        current *= math.exp(-(t - t_now) / lif.tau_syn)
        t_now = t
        if kind == ARRIVAL:
            current += payload
        elif kind == SPIKE:
            before[payload] = current
            if lif.reset_current:
                current = 0.0
        else:
            at_end[payload] = current
    return before, at_end


def layer_adjoint_per_neuron(arrival_times, arrival_sources, weights, lif, t_max, spike_times, spike_neurons,
                             spike_cotangents, sources=None, query_times=(), lambda_timing=1.0, detach_reset=False,
                             min_slope=0.0, grazing_slope=1e-3):
    """Same arguments and results as ``layer_backward`` (``lif`` instead of its parameter vector; ``sources`` =
    (times, neurons, gain, drive, coef_v, coef_i) or None): (dL/dW rows per arrival inside the window,
    dL/d(arrival time), dL/dbias, near-grazing count, lambda_I and lambda_V at the queries (n_query, n_post))."""
    arrival_times = np.asarray(arrival_times, dtype=float)
    query_times = np.asarray(query_times, dtype=float)
    n_post = weights.shape[1]
    in_window = [k for k in range(arrival_times.size) if arrival_times[k] <= t_max]
    d_rows = np.zeros((len(in_window), n_post))
    d_arrivals = np.zeros(arrival_times.size)
    lam_i_query = np.zeros((query_times.size, n_post))
    lam_v_query = np.zeros((query_times.size, n_post))
    d_bias = 0.0
    n_grazing = 0
    tau_mem, tau_syn, theta, bias, t_ref = lif.tau_mem, lif.tau_syn, lif.threshold, lif.bias, lif.refractory

    for j in range(n_post):
        arrivals = [(float(arrival_times[k]), float(weights[arrival_sources[k], j])) for k in in_window]
        spikes = [(s, float(spike_times[s])) for s in range(len(spike_times)) if spike_neurons[s] == j]
        before, at_end = _current_replay(arrivals, spikes, lif, t_max)
        events = [(float(arrival_times[k]), ARRIVAL, k) for k in in_window]
        events += [(t, SPIKE, s) for s, t in spikes]
        events += [(t + t_ref, REFRACTORY_END, s) for s, t in spikes if t_ref > 0.0 and t + t_ref <= t_max]
        if sources is not None:
            events += [(float(sources[0][c]), SOURCE, c) for c in range(len(sources[0])) if sources[1][c] == j]
        events += [(float(query_times[q]), QUERY, q) for q in range(query_times.size) if query_times[q] <= t_max]
        events.sort(key=lambda e: (e[0], e[1], e[2]))

        lam_v = lam_i = 0.0
        t_now = t_max
        # refractory at t_max: the last spike's period reaches beyond the window
        refractory = bool(spikes) and t_ref > 0.0 and spikes[-1][1] + t_ref > t_max
        pending = 0.0
        for t, kind, index in reversed([(0.0, -1, -1)] + events):  # down to t = 0 (the bias acts from there)
            dt = t_now - t
            if refractory:
                lam_i *= math.exp(-dt / tau_syn)
            else:
                decay_v = math.exp(-dt / tau_mem)
                d_bias += lam_v * (1.0 - decay_v)
                lam_v, lam_i = decay_v * lam_v, psp(dt, tau_mem, tau_syn) * lam_v + math.exp(-dt / tau_syn) * lam_i
            t_now = t
            if kind == QUERY:
                lam_i_query[index, j], lam_v_query[index, j] = lam_i, lam_v
            elif kind == ARRIVAL:
                w = weights[arrival_sources[index], j]
                d_rows[index, j] += lam_i
                d_arrivals[index] += w * lam_i / tau_syn - (0.0 if refractory else w * lam_v / tau_mem)
            elif kind == REFRACTORY_END:
                pending = -lam_v * (at_end[index] + bias) / tau_mem
                lam_v = 0.0
                refractory = True
            elif kind == SPIKE:
                current = before[index]
                slope = (current + bias - theta) / tau_mem
                n_grazing += slope < grazing_slope
                if min_slope > 0.0:
                    slope = max(slope, min_slope)
                after = 0.0 if lif.reset_current else current
                flow = 0.0 if t_ref > 0.0 else (after + bias) / tau_mem
                reset_part = 0.0 if detach_reset else pending - lam_v * flow
                lam_v = -(lambda_timing * spike_cotangents[index] + reset_part) / slope
                if lif.reset_current:
                    lam_i = 0.0
                pending = 0.0
                refractory = False
            elif kind == SOURCE and not refractory:
                _, _, gain, drive, coef_v, coef_i = sources
                lam_v += gain[index] * (drive[index] + coef_v[index] * lam_v + coef_i[index] * lam_i)
    return d_rows, d_arrivals, d_bias, n_grazing, lam_i_query, lam_v_query
