"""``vjp`` for general networks (recurrence, several populations, per-synapse delays).

Builds the sample's event list from the record (input spikes and every population's spikes fanned out along
the compiled synapses into arrivals, plus refractory ends), orders it as the exact reverse of the heap engine's
processing order and runs the global reverse sweep of ``_kernels/backward_general.py`` (docs/theory.md,
section 4). The result has the same layout as the layered fast path.
"""

from __future__ import annotations

import numpy as np

from eventsnn._kernels.backward_general import (KIND_ARRIVAL, KIND_REFRACTORY_END, KIND_SPIKE,
                                                network_backward)
from eventsnn._kernels.lif import P_REFRACTORY
from eventsnn.network import Network
from eventsnn.record import Record


def vjp_general(net: Network, rec: Record, cotangents: list[np.ndarray], min_slope: float, grazing_slope: float,
                compiled=None):
    """Gradients of one sample of a general network (``net`` is the record's snapshot; ``compiled`` its
    ``compile_general()``, shared by the samples of a batch)."""
    from eventsnn.adjoint import Gradients

    c = compiled if compiled is not None else net.compile_general()
    t_max = rec.t_max
    input_names, layer_names = net.input_names, net.layer_names
    # source events: input spikes (population by population), then neuron spikes (layer by layer)
    src_times = [rec.inputs[n].times for n in input_names] + [layer.times for layer in rec.layers]
    src_ids = [rec.inputs[n].neurons + c.source_offset[n] for n in input_names] + \
              [layer.neurons + c.source_offset[n] for n, layer in zip(layer_names, rec.layers)]
    src_time = np.concatenate(src_times) if src_times else np.zeros(0)
    src_id = np.concatenate(src_ids).astype(np.int64)
    n_input_events = sum(rec.inputs[n].times.size for n in input_names)
    spike_neuron = np.concatenate([layer.neurons + c.neuron_offset[n] for n, layer in zip(layer_names, rec.layers)]
                                  ).astype(np.int64)
    spike_time = src_time[n_input_events:]
    spike_cot = np.ascontiguousarray(np.concatenate(cotangents), dtype=np.float64)

    # arrivals: every source event along every synapse of its row, kept if it lands in the window
    fan_out = c.row_ptr[src_id + 1] - c.row_ptr[src_id]
    origin = np.repeat(np.arange(src_id.size), fan_out)
    first = np.repeat(c.row_ptr[src_id] - np.concatenate([[0], np.cumsum(fan_out)[:-1]]), fan_out)
    synapse = first + np.arange(origin.size)
    arrival_time = src_time[origin] + c.synapse_delay[synapse]
    inside = arrival_time <= t_max
    origin, synapse, arrival_time = origin[inside], synapse[inside], arrival_time[inside]

    # refractory ends inside the window
    t_ref = c.parameters[c.population_of[spike_neuron], P_REFRACTORY]
    end_time = spike_time + t_ref
    has_end = (t_ref > 0.0) & (end_time <= t_max)
    end_spike = np.flatnonzero(has_end)

    n_arr, n_spk, n_end = arrival_time.size, spike_time.size, end_spike.size
    ev_time = np.concatenate([arrival_time, spike_time, end_time[end_spike]])
    ev_kind = np.concatenate([np.full(n_arr, KIND_ARRIVAL), np.full(n_spk, KIND_SPIKE),
                              np.full(n_end, KIND_REFRACTORY_END)]).astype(np.int64)
    ev_neuron = np.concatenate([c.synapse_target[synapse], spike_neuron, spike_neuron[end_spike]]).astype(np.int64)
    ev_index = np.concatenate([synapse, np.arange(n_spk), end_spike]).astype(np.int64)
    ev_origin = np.concatenate([origin, np.zeros(n_spk + n_end, dtype=np.int64)]).astype(np.int64)
    # reverse processing order: later first; at equal times deliveries (rank 0) before neuron events (rank 1)
    rank = (ev_kind != KIND_ARRIVAL).astype(np.int64)
    order = np.lexsort((rank, -ev_time))
    d_weight, d_delay, d_source, d_bias, n_grazing = network_backward(
        np.ascontiguousarray(ev_time[order]), np.ascontiguousarray(ev_kind[order]),
        np.ascontiguousarray(ev_neuron[order]), np.ascontiguousarray(ev_index[order]),
        np.ascontiguousarray(ev_origin[order]), c.synapse_weight, c.population_of, c.parameters, spike_cot,
        n_input_events, t_max, min_slope, grazing_slope)

    # back to the network's layout: synapse_id is the position in the concatenated raveled weight matrices
    flat_w = np.zeros(c.synapse_id.size)
    flat_d = np.zeros(c.synapse_id.size)
    flat_w[c.synapse_id] = d_weight
    flat_d[c.synapse_id] = d_delay
    d_weights, d_delays = [], []
    offset = 0
    for conn in net.connections:
        size = conn.weights.size
        d_weights.append(flat_w[offset:offset + size].reshape(conn.weights.shape))
        block = flat_d[offset:offset + size].reshape(conn.weights.shape)
        d_delays.append(float(block.sum()) if conn.has_scalar_delay else block)
        offset += size
    d_biases = [float(d_bias[c.population_of == k].sum()) for k in range(len(layer_names))]
    d_inputs, start = {}, 0
    for name in input_names:
        size = rec.inputs[name].times.size
        d_inputs[name] = d_source[start:start + size].copy()
        start += size
    spike_totals, start = [], n_input_events
    for layer in rec.layers:
        spike_totals.append(d_source[start:start + len(layer)].copy())
        start += len(layer)
    return Gradients(weights=d_weights, biases=d_biases, delays=d_delays, input_times=d_inputs,
                     spike_times=spike_totals, n_near_grazing=int(n_grazing))
