"""Bookkeeping of the backward and candidate kernels against plain NumPy: the gaps of sorted events on a clock
(``backward.gap_below``), the forward order of a layer's own events (``backward._own_event_schedule``), the time
order of creation candidates (``candidates._time_order``), the parameter tuple of the per-step helpers and NA's
pairing of re-simulated with recorded spikes (``candidates.na_pairing``), including its worst case of unpaired
spikes (every buffer is sized up front, so an output shorter than the reference would mean a buffer too small)."""

from __future__ import annotations

import numpy as np
import pytest

import eventsnn as es
from eventsnn._kernels.backward import (EVENT_CANDIDATE, EVENT_SPIKE, _own_event_schedule, gap_below, own_events,
                                        sweep_clock)
from eventsnn._kernels.candidates import _time_order, na_pairing, resimulate_candidates
from eventsnn._kernels.lif import parameter_tuple
from eventsnn._kernels.lif import N_PARAMS

NEURONS = [es.LIF(tau_mem=10.0, tau_syn=5.0), es.LIF(tau_mem=20.0, tau_syn=5.0, refractory=1.0),
           es.LIF(tau_mem=6.0, tau_syn=6.0, bias=0.3, reset_current=True),
           es.LIF(tau_mem=7.3, tau_syn=2.9, refractory=0.5)]


def _rounded_times(rng, n, horizon=20.0):
    """Sorted times on a 0.5 ms grid: many ties with each other and with other such arrays."""
    return np.sort(np.round(rng.uniform(0.0, horizon, n) * 2.0) / 2.0)


@pytest.mark.parametrize("seed", range(6))
def test_gap_below_is_searchsorted(seed):
    rng = np.random.default_rng(seed)
    clock = _rounded_times(rng, int(rng.integers(0, 30)))
    times = _rounded_times(rng, int(rng.integers(0, 40)), horizon=22.0)
    assert np.array_equal(gap_below(clock, times), np.searchsorted(clock, times) - 1)


@pytest.mark.parametrize("lif", NEURONS)
def test_parameter_tuple_lists_the_vector(lif):
    params = lif.kernel_parameters()
    assert params.size == N_PARAMS
    assert parameter_tuple(params) == tuple(params.tolist())


def test_time_order_is_a_stable_sort():
    rng = np.random.default_rng(1)
    ties = _rounded_times(rng, 50)
    assert np.array_equal(_time_order(ties, ties.size), np.arange(ties.size))
    shuffled = rng.permutation(ties)
    assert np.array_equal(_time_order(shuffled, 30), np.argsort(shuffled[:30], kind="stable"))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("t_ref", [0.0, 1.5])
def test_own_event_schedule_is_the_stable_time_order(seed, t_ref):
    """Candidates, then spikes, then refractory ends, stably sorted by time (the forward tie order), each with its
    clock gap; a candidate is inert when it lies in a refractory period of its neuron."""
    rng = np.random.default_rng(seed)
    n_post, n_pre, t_max = 5, 4, 20.0
    arrivals = _rounded_times(rng, 15)
    sources = rng.integers(0, n_pre, arrivals.size)
    weights = rng.normal(0.5, 0.5, (n_pre, n_post))
    spike_times = _rounded_times(rng, 12)
    spike_neurons = rng.integers(0, n_post, spike_times.size)
    cand_times = _rounded_times(rng, 40)
    cand_neurons = rng.integers(0, n_post, cand_times.size)
    queries = _rounded_times(rng, 6)
    clock, _ = sweep_clock(arrivals, queries)
    ev_time, ev_kind, ev_index, ev_neuron, ev_gap, inert, _, _ = _own_event_schedule(
        arrivals, sources, weights, arrivals.size, t_ref, 5.0, False, t_max, spike_times, spike_neurons, cand_times,
        cand_neurons, n_post, clock)

    sp_time, sp_kind, sp_spike = own_events(spike_times, t_ref, t_max)
    all_time = np.concatenate([cand_times, sp_time])
    all_kind = np.concatenate([np.full(cand_times.size, EVENT_CANDIDATE), sp_kind])
    all_index = np.concatenate([np.arange(cand_times.size), sp_spike])
    all_neuron = np.concatenate([cand_neurons, spike_neurons[sp_spike]])
    order = np.argsort(all_time, kind="stable")
    assert np.array_equal(ev_time, all_time[order])
    assert np.array_equal(ev_kind, all_kind[order])
    assert np.array_equal(ev_index, all_index[order])
    assert np.array_equal(ev_neuron, all_neuron[order])
    assert np.array_equal(ev_gap, np.searchsorted(clock, ev_time) - 1)
    refractory = np.zeros(n_post, dtype=bool)
    expected_inert = np.zeros(cand_times.size, dtype=bool)
    for kind, index, j in zip(ev_kind, ev_index, ev_neuron):
        if kind == EVENT_CANDIDATE:
            expected_inert[index] = refractory[j]
        else:
            refractory[j] = kind == EVENT_SPIKE and t_ref > 0.0
    assert np.array_equal(inert, expected_inert)
    assert (t_ref == 0.0) or expected_inert.any()


def _plain_pairing(cand_times, cand_neurons, flipped_times, flipped_offsets, spike_times, spike_neurons, cotangents):
    """NA's pairing as its docstring states it, in plain Python."""
    paired, unpaired = [], []
    for c, (t0, j) in enumerate(zip(cand_times, cand_neurons)):
        own = [s for s in range(spike_times.size) if spike_neurons[s] == j and spike_times[s] >= t0]
        flipped = [t for t in flipped_times[flipped_offsets[c]:flipped_offsets[c + 1]] if t >= t0]
        total = 0.0
        for s, t in zip(own, flipped):
            total += cotangents[s] * (t - spike_times[s])
        paired.append(total)
        unpaired += [(t, j, c, 1.0) for t in flipped[len(own):]]
        unpaired += [(spike_times[s], j, c, -1.0) for s in own[len(flipped):]]
    return np.array(paired), unpaired


@pytest.mark.parametrize("seed", range(4))
def test_na_pairing_against_plain_pairing(seed):
    """Random neighbours, among them the worst cases of the buffers: every recorded spike unpaired (an empty
    re-simulated train from t = 0) and long re-simulated trains of neurons that never fired."""
    rng = np.random.default_rng(seed)
    n_post = 4
    spike_times = _rounded_times(rng, 30)
    spike_neurons = rng.integers(0, n_post - 1, spike_times.size)  # neuron n_post - 1 never fires
    cotangents = rng.normal(size=spike_times.size)
    cand_times = _rounded_times(rng, 25)
    cand_times[:5] = 0.0
    cand_neurons = rng.integers(0, n_post, cand_times.size)
    cand_neurons[-5:] = n_post - 1
    trains = [np.zeros(0) if c < 5 else _rounded_times(rng, int(rng.integers(0, 3 if c < 20 else 12)))
              for c in range(cand_times.size)]
    flipped_offsets = np.concatenate([[0], np.cumsum([t.size for t in trains])]).astype(np.int64)
    flipped_times = np.concatenate(trains)
    paired, x_t, x_n, x_c, x_s = na_pairing(cand_times, cand_neurons, flipped_times, flipped_offsets, spike_times,
                                            spike_neurons, cotangents, n_post)
    want_paired, want_unpaired = _plain_pairing(cand_times, cand_neurons, flipped_times, flipped_offsets,
                                                spike_times, spike_neurons, cotangents)
    np.testing.assert_allclose(paired, want_paired, rtol=1e-12, atol=1e-12)
    assert len(want_unpaired) > spike_times.size  # the five empty trains alone leave every recorded spike unpaired
    assert list(zip(x_t, x_n, x_c, x_s)) == want_unpaired


@pytest.mark.parametrize("lif", NEURONS)
def test_resimulated_trains_fill_their_buffer_exactly(lif):
    """The flat output of ``resimulate_candidates`` holds exactly the trains its offsets name (a buffer sized too
    small would cut it short), and each train keeps the recorded spikes before its candidate."""
    rng = np.random.default_rng(5)
    n_in, n_post, t_max = 8, 6, 40.0
    arrivals = np.sort(np.round(rng.uniform(0.0, 35.0, 60), 1))  # ties, and steps spanning exactly one gap
    sources = rng.integers(0, n_in, arrivals.size)
    weights = rng.normal(0.9, 0.8, (n_in, n_post))
    rec = es.simulate(es.Network.feedforward([n_in, n_post], neuron=lif, weights=[weights]),
                      es.SpikeTrains(arrivals, sources, n_in), t_max=t_max)
    spikes = rec.layers[0]
    assert spikes.times.size > 5
    params = lif.kernel_parameters()
    from eventsnn._kernels.candidates import layer_candidates
    times, neurons, removal, voltage, current, *_ = layer_candidates(arrivals, sources, weights, params, t_max,
                                                                     spikes.times, spikes.neurons, np.zeros(0), False)
    flat, offsets = resimulate_candidates(arrivals, sources, weights, params, t_max, spikes.times, spikes.neurons,
                                          times, neurons, removal, voltage, current)
    assert offsets[0] == 0 and np.all(np.diff(offsets) >= 0) and flat.size == offsets[-1]
    for c in range(times.size):
        train = flat[offsets[c]:offsets[c + 1]]
        before = spikes.times[(spikes.neurons == neurons[c]) & (spikes.times < times[c])]
        assert np.array_equal(train[:before.size], before)
        assert np.all(np.diff(train) >= 0.0)
