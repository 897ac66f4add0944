"""Many samples per compiled call: the per-sample kernels looped over a contiguous range of a batch, for threads.

``simulate`` and ``vjp`` split a batch into contiguous ranges of samples and give each range to a thread; one call
here runs a whole range without the GIL, so the threads share no Python work. The samples of a batch live in
flat arrays (sample b is ``[offsets[b], offsets[b + 1])``), and so do the results: each range returns its own
flat arrays and offsets, which the caller joins in sample order. Every sample is computed by exactly the call the
one-thread path makes (``forward.layer_forward``, ``backward.layer_backward``) on the same values, so the results
do not depend on how the batch was split.

``stop_at`` is a one-element array shared by all ranges of a call: the index of a sample that failed (a spike
cap), or -1 when the caller's time budget ran out. A range skips every sample after it (status ``NOT_RUN``).
Threads update it without a lock: a lost update only means more samples run, since every value it ever holds is
a failed sample (or -1), and the caller decides which error to report from the statuses, in sample order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsnn._kernels import status
from eventsnn._kernels.backward import layer_backward
from eventsnn._kernels.forward import layer_forward
from eventsnn._kernels.indexing import spike_train_status

NOT_RUN = -1  # status of a sample a range skipped because an earlier sample failed or the time ran out


@njit(cache=True, nogil=True)
def layer_forward_range(arrival_times, arrival_sources, offsets, first, stop, weights, params, t_max, max_spikes,
                        max_total, stop_at):
    """``forward.layer_forward`` of one layer for samples ``first <= b < stop``.

    Parameters: the arrivals of every sample of the batch in flat arrays (ms, sorted per sample, delay added;
    presynaptic row of each), ``offsets`` (n_samples + 1), the layer's ``weights`` and ``params`` (lif.P_*),
    ``t_max`` (ms), ``max_spikes`` (per neuron), ``max_total[b]`` (spikes sample b may still fire), ``stop_at``.

    Returns (times, neurons, offsets of the range's samples into them (stop - first + 1), status per sample).
    """
    n = stop - first
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    codes = np.full(n, NOT_RUN, dtype=np.int64)
    capacity = 64 + offsets[stop] - offsets[first]
    out_times = np.empty(capacity)
    out_neurons = np.empty(capacity, dtype=np.int64)
    n_out = 0
    for b in range(first, stop):
        if stop_at[0] < b:
            break
        lo, hi = offsets[b], offsets[b + 1]
        times, neurons, code = layer_forward(arrival_times[lo:hi], arrival_sources[lo:hi], weights, params, t_max,
                                             max_spikes, max_total[b])
        if n_out + times.size > out_times.size:
            bigger = max(2 * out_times.size, n_out + times.size)
            grown_t = np.empty(bigger)
            grown_n = np.empty(bigger, dtype=np.int64)
            grown_t[:n_out] = out_times[:n_out]
            grown_n[:n_out] = out_neurons[:n_out]
            out_times, out_neurons = grown_t, grown_n
        out_times[n_out:n_out + times.size] = times
        out_neurons[n_out:n_out + times.size] = neurons
        n_out += times.size
        codes[b - first] = code
        out_offsets[b - first + 1] = n_out
        if code != status.OK:
            if b < stop_at[0]:
                stop_at[0] = b
            break
    for m in range(n):  # skipped samples: empty
        if codes[m] == NOT_RUN:
            out_offsets[m + 1] = out_offsets[m]
    return out_times[:n_out], out_neurons[:n_out], out_offsets, codes


@njit(cache=True, nogil=True)
def layer_backward_range(arrival_times, arrival_sources, arrival_offsets, weights, params, t_max, spike_times,
                         spike_neurons, spike_cotangents, spike_offsets, first, stop, min_slope, grazing_slope,
                         d_arrivals, d_weight_total, rows, row_offsets, d_bias, n_grazing):
    """The exact timing adjoint (``backward.layer_backward`` without sources) of one layer for samples
    ``first <= b < stop``, the arrivals and spikes of every sample in flat arrays with their offsets.

    dL/dW: added in place into ``d_weight_total`` when it is an (n_pre, n_post) array (as the one-thread sweep
    does), else (a (0, 0) array) each sample's per-arrival rows are written to ``rows[row_offsets[b]:
    row_offsets[b + 1]]``. Also written, per sample or arrival of the range: dL/d(arrival time) into ``d_arrivals``
    (aligned with the flat arrivals), dL/d(bias) into ``d_bias[b]``, the near-grazing count into ``n_grazing[b]``.
    """
    sources = no_sources_compiled()
    no_query = np.zeros(0)
    for b in range(first, stop):
        lo, hi = arrival_offsets[b], arrival_offsets[b + 1]
        s_lo, s_hi = spike_offsets[b], spike_offsets[b + 1]
        sample_rows, d_arr, d_b, n_g, _, _ = layer_backward(
            arrival_times[lo:hi], arrival_sources[lo:hi], weights, params, t_max, spike_times[s_lo:s_hi],
            spike_neurons[s_lo:s_hi], spike_cotangents[s_lo:s_hi], sources, no_query, 1.0, False, min_slope,
            grazing_slope, d_weight_total)
        d_arrivals[lo:hi] = d_arr
        d_bias[b] = d_b
        n_grazing[b] = n_g
        if d_weight_total.shape[0] == 0:
            rows[row_offsets[b]:row_offsets[b] + sample_rows.shape[0]] = sample_rows


@njit(cache=True)
def no_sources_compiled():
    """``backward.no_sources()`` built inside compiled code (same dtypes, so the same specialisation)."""
    none = np.zeros(0)
    return none, np.zeros(0, dtype=np.int64), none, none, none, none


@njit(cache=True, nogil=True)
def scatter_rows_columns(total, rows, row_index, row_offsets, column_start, column_stop):
    """``backward.scatter_rows`` of the samples one after the other, restricted to the columns
    ``[column_start, column_stop)``: for each sample m in order, total[row_index[k], :] += rows[k, :] for k from
    its last row (``row_offsets[m + 1] - 1``) down to its first (``row_offsets[m]``). Every entry of ``total``
    receives the additions of the one-thread sweep (which adds each sample's rows into the total in place, in this
    order), so threads that split the columns between them give its sums bit for bit."""
    for m in range(row_offsets.size - 1):
        for k in range(row_offsets[m + 1] - 1, row_offsets[m] - 1, -1):
            target = row_index[k]
            for j in range(column_start, column_stop):
                total[target, j] += rows[k, j]


@njit(cache=True)
def first_invalid_sample(times, neurons, offsets, n_neurons):
    """The first sample b whose spikes ``[offsets[b], offsets[b + 1])`` break what the engine assumes
    (``indexing.spike_train_status``), or -1 if none does: one compiled pass over a whole batch instead of one
    call per sample. It says only which sample; the caller re-checks that sample to raise its message."""
    for b in range(offsets.size - 1):
        code, _ = spike_train_status(times[offsets[b]:offsets[b + 1]], neurons[offsets[b]:offsets[b + 1]], n_neurons)
        if code != status.OK:
            return b
    return -1
