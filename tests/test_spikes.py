"""Spike containers: canonical order, equality, counts, conversions, binning, .npz files, batches."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsnn as es
from eventsnn.spikes import SpikeBatch, SpikeTrains


# ------------------------------------------------------------------------------------------------------------
# canonical order and equality

def test_ties_are_ordered_by_neuron():
    s = SpikeTrains([1.0, 2.0, 2.0, 2.0, 3.0], [4, 3, 0, 2, 1], 5)
    assert s.times.tolist() == [1.0, 2.0, 2.0, 2.0, 3.0]
    assert s.neurons.tolist() == [4, 0, 2, 3, 1]


def test_sort_true_gives_the_canonical_order():
    s = SpikeTrains([3.0, 1.0, 2.0, 1.0], [0, 2, 1, 0], 3, sort=True)
    assert s.times.tolist() == [1.0, 1.0, 2.0, 3.0]
    assert s.neurons.tolist() == [0, 2, 1, 0]
    assert s == SpikeTrains([1.0, 1.0, 2.0, 3.0], [2, 0, 1, 0], 3)


def test_arrays_are_float64_and_int64_and_copied_from_lists():
    s = SpikeTrains([1, 2], np.array([0, 1], dtype=np.int32), 2)
    assert s.times.dtype == np.float64 and s.neurons.dtype == np.int64
    assert s.times.flags.c_contiguous and s.neurons.flags.c_contiguous
    assert isinstance(s.n_neurons, int)


def test_equality():
    a = SpikeTrains([1.0, 2.0], [0, 1], 2)
    assert a == SpikeTrains([1.0, 2.0], [0, 1], 2)
    assert a != SpikeTrains([1.0, 2.0], [0, 1], 3)           # population size matters
    assert a != SpikeTrains([1.0, 2.5], [0, 1], 2)
    assert a != SpikeTrains([1.0, 2.0], [1, 1], 2)
    assert a != SpikeTrains([1.0], [0], 2)
    assert a != "not spikes" and a != [1.0, 2.0]
    assert SpikeTrains([], [], 0) == SpikeTrains([], [], 0)


def test_len_and_repr():
    s = SpikeTrains([0.5, 1.5, 1.5], [1, 0, 1], 2)
    assert len(s) == 3
    assert repr(s) == "SpikeTrains(3 spikes, n_neurons=2)"


# ------------------------------------------------------------------------------------------------------------
# counts, first spikes, per-neuron lists

def test_counts_and_first_spike_times():
    s = SpikeTrains([0.5, 1.0, 1.0, 4.0, 7.0], [2, 0, 2, 0, 2], 4)
    assert s.counts().tolist() == [2, 0, 3, 0]
    assert s.counts().dtype.kind == "i"
    np.testing.assert_array_equal(s.first_spike_times(), [1.0, np.inf, 0.5, np.inf])
    np.testing.assert_array_equal(s.first_spike_times(missing=-1.0), [1.0, -1.0, 0.5, -1.0])
    assert np.isnan(s.first_spike_times(missing=np.nan)[1])


def test_empty_trains():
    s = SpikeTrains([], [], 3)
    assert len(s) == 0
    assert s.counts().tolist() == [0, 0, 0]
    assert s.first_spike_times().tolist() == [np.inf] * 3
    assert [a.tolist() for a in s.to_lists()] == [[], [], []]
    assert s.to_raster(2.0, 1.0).tolist() == [[0, 0]] * 3
    zero = SpikeTrains([], [], 0)
    assert zero.to_lists() == [] and zero.counts().size == 0
    assert SpikeTrains.from_lists([]) == zero


def test_to_lists_and_from_lists():
    s = SpikeTrains([0.5, 1.0, 1.0, 4.0, 7.0], [2, 0, 2, 0, 2], 4)
    lists = s.to_lists()
    assert len(lists) == 4
    assert [a.tolist() for a in lists] == [[1.0, 4.0], [], [0.5, 1.0, 7.0], []]
    assert all(a.dtype == np.float64 for a in lists)
    assert SpikeTrains.from_lists(lists) == s
    # from_lists accepts any order and any iterable per neuron
    t = SpikeTrains.from_lists([(4.0, 1.0), [], np.array([7.0, 0.5, 1.0]), iter([])])
    assert t == s


# ------------------------------------------------------------------------------------------------------------
# raster: bin k is [k dt, (k+1) dt), window [0, t_max] closed, last bin cut at t_max

def test_raster_bin_edges_belong_to_the_bin_that_starts_there():
    s = SpikeTrains([0.0, 0.5, 0.75, 1.0, 1.25], [0, 0, 0, 0, 0], 1)
    raster = s.to_raster(t_max=2.0, dt=0.5)
    assert raster.shape == (1, 4)
    assert raster.tolist() == [[1, 2, 2, 0]]
    assert raster.dtype.kind == "i"


def test_raster_spike_at_t_max_goes_into_the_last_bin_and_later_spikes_are_dropped():
    s = SpikeTrains([1.5, 2.0, 2.0, 2.25, 9.0], [0, 0, 1, 0, 1], 2)
    raster = s.to_raster(t_max=2.0, dt=0.5)
    assert raster.shape == (2, 4)
    assert raster.tolist() == [[0, 0, 0, 2], [0, 0, 0, 1]]


def test_raster_with_t_max_not_a_multiple_of_dt():
    s = SpikeTrains([0.0, 2.9, 3.0, 9.0, 10.0, 10.5], [0, 0, 0, 0, 0, 0], 1)
    raster = s.to_raster(t_max=10.0, dt=3.0)        # bins [0,3) [3,6) [6,9) [9,10]
    assert raster.shape == (1, 4)
    assert raster.tolist() == [[2, 1, 0, 2]]


def test_raster_bin_count_is_robust_to_rounding_of_t_max_over_dt():
    assert SpikeTrains([], [], 1).to_raster(t_max=0.3, dt=0.1).shape == (1, 3)
    assert SpikeTrains([], [], 1).to_raster(t_max=1.0, dt=0.1).shape == (1, 10)
    assert SpikeTrains([], [], 2).to_raster(t_max=0.35, dt=0.1).shape == (2, 4)


def test_raster_sums_equal_counts_inside_the_window(rng):
    times = np.sort(rng.uniform(0.0, 60.0, 500))
    times[::7] = np.round(times[::7])             # many spikes exactly on bin edges
    s = SpikeTrains(times, rng.integers(0, 6, times.size), 6, sort=True)
    for t_max, dt in [(50.0, 1.0), (50.0, 0.3), (37.5, 2.5), (60.0, 7.0)]:
        raster = s.to_raster(t_max, dt)
        inside = s.times <= t_max
        np.testing.assert_array_equal(raster.sum(axis=1), np.bincount(s.neurons[inside], minlength=6))
        assert raster.shape == (6, int(np.ceil(t_max / dt - 1e-12)))


# ------------------------------------------------------------------------------------------------------------
# .npz files

def test_save_load_round_trip(tmp_path):
    s = SpikeTrains([0.1, 0.2, 0.2, 1e-300, 5.0], [1, 0, 2, 1, 0], 3, sort=True)
    path = tmp_path / "spikes.npz"
    s.save(path)
    loaded = SpikeTrains.load(path)
    assert loaded == s
    assert loaded.times.dtype == np.float64 and loaded.neurons.dtype == np.int64
    # bit-exact times
    assert loaded.times.tobytes() == s.times.tobytes()
    assert sorted(os.listdir(tmp_path)) == ["spikes.npz"]


def test_save_appends_npz_and_accepts_str_paths(tmp_path):
    s = SpikeTrains([1.0], [0], 1)
    s.save(str(tmp_path / "noext"))
    assert sorted(os.listdir(tmp_path)) == ["noext.npz"]
    assert SpikeTrains.load(str(tmp_path / "noext.npz")) == s
    assert SpikeTrains.load(str(tmp_path / "noext")) == s  # load finds what save wrote for the same name
    SpikeBatch.from_list([s, s]).save(tmp_path / "batch")
    assert len(SpikeBatch.load(tmp_path / "batch")) == 2


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "s.npz"
    SpikeTrains([1.0], [0], 1).save(path)
    new = SpikeTrains([2.0, 3.0], [1, 0], 2)
    new.save(path)
    assert SpikeTrains.load(path) == new
    assert sorted(os.listdir(tmp_path)) == ["s.npz"]


def test_interrupted_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "s.npz"
    old = SpikeTrains([1.0, 2.0], [0, 1], 2)
    old.save(path)
    before = path.read_bytes()

    def half_written(file, **arrays):
        file.write(b"PK\x03\x04 partial")          # the start of a zip file, then the "disk fills up"
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(OSError, match="disk full"):
        SpikeTrains([5.0], [0], 2).save(path)
    with pytest.raises(OSError, match="disk full"):
        SpikeBatch.from_list([old]).save(tmp_path / "b.npz")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert SpikeTrains.load(path) == old
    assert sorted(os.listdir(tmp_path)) == ["s.npz"]


def test_interrupt_during_save_is_cleaned_up_too(tmp_path, monkeypatch):
    def interrupted(file, **arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SpikeTrains([1.0], [0], 1).save(tmp_path / "s.npz")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_load_validates_the_file(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, times=np.array([2.0, 1.0]), neurons=np.array([0, 0]), n_neurons=np.int64(1))
    with pytest.raises(ValueError, match="times must be sorted"):
        SpikeTrains.load(path)
    np.savez(path, times=np.array([1.0]), neurons=np.array([3]), n_neurons=np.int64(2))
    with pytest.raises(ValueError, match="neurons contains neuron index 3"):
        SpikeTrains.load(path)
    np.savez(path, times=np.array([1.0, 2.0]), neurons=np.array([0, 0]), offsets=np.array([0, 1]),
             n_neurons=np.int64(1))
    with pytest.raises(ValueError, match="offsets"):
        SpikeBatch.load(path)


def test_load_refuses_pickled_objects(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, times=np.array([object()], dtype=object), neurons=np.array([0]), n_neurons=np.int64(1))
    with pytest.raises(ValueError, match="allow_pickle"):
        SpikeTrains.load(path)


# ------------------------------------------------------------------------------------------------------------
# SpikeBatch

@pytest.fixture
def trains():
    return [SpikeTrains([0.5, 1.0, 1.0], [2, 1, 0], 3),
            SpikeTrains([], [], 3),
            SpikeTrains([3.0], [1], 3),
            SpikeTrains([0.0, 0.0, 9.5, 12.0], [0, 2, 2, 1], 3)]


def test_batch_from_list_and_indexing(trains):
    batch = SpikeBatch.from_list(trains)
    assert len(batch) == 4
    assert batch.n_neurons == 3
    assert batch.offsets.tolist() == [0, 3, 3, 4, 8]
    assert batch.times.size == 8
    for b, t in enumerate(trains):
        assert batch[b] == t
        assert batch[np.int64(b)] == t
        assert batch[b - 4] == t                    # negative indices count from the end
    with pytest.raises(IndexError, match="sample 4 out of range for a batch of 4"):
        batch[4]
    with pytest.raises(IndexError, match="sample -5"):
        batch[-5]
    assert repr(batch) == "SpikeBatch(4 samples, 8 spikes, n_neurons=3)"


def test_batch_iteration_and_subset(trains):
    batch = SpikeBatch.from_list(trains)
    assert list(batch) == trains
    assert [len(t) for t in batch] == [3, 0, 1, 4]
    sub = batch.subset([3, 0, 3])
    assert isinstance(sub, SpikeBatch)
    assert list(sub) == [trains[3], trains[0], trains[3]]
    assert list(batch.subset(np.array([1]))) == [trains[1]]
    assert list(batch.subset(np.arange(4))) == trains


def test_batch_save_load_round_trip(tmp_path, trains):
    batch = SpikeBatch.from_list(trains)
    path = tmp_path / "batch.npz"
    batch.save(path)
    loaded = SpikeBatch.load(path)
    assert list(loaded) == trains
    np.testing.assert_array_equal(loaded.offsets, batch.offsets)
    assert loaded.n_neurons == 3
    assert sorted(os.listdir(tmp_path)) == ["batch.npz"]


def test_batch_of_empty_samples():
    batch = SpikeBatch.from_list([SpikeTrains([], [], 2)] * 3)
    assert len(batch) == 3 and batch.times.size == 0
    assert all(len(t) == 0 and t.n_neurons == 2 for t in batch)


def test_batch_validates_each_sample_and_orders_ties():
    """Raw flat arrays: a decrease across a sample boundary is fine, inside a sample it is an error naming the
    sample; ties out of neuron order are put in (time, neuron) order, as SpikeTrains does."""
    times = np.array([1.0, 2.0, 2.0, 0.5, 0.5, 4.0, 3.0])
    neurons = np.array([0, 2, 1, 1, 0, 1, 1])
    batch = SpikeBatch(times[:6], neurons[:6], np.array([0, 3, 3, 6]), 3)   # empty sample 1 between them
    assert batch[0] == SpikeTrains([1.0, 2.0, 2.0], [0, 1, 2], 3)
    assert len(batch[1]) == 0
    assert batch[2] == SpikeTrains([0.5, 0.5, 4.0], [0, 1, 1], 3)
    assert times[1:3].tolist() == [2.0, 2.0] and neurons[1:3].tolist() == [2, 1]  # the caller's arrays untouched
    with pytest.raises(ValueError, match="times of sample 2 are not sorted"):
        SpikeBatch(times, neurons, np.array([0, 3, 3, 7]), 3)
    with pytest.raises(ValueError, match="times of sample 0 are not sorted"):
        SpikeBatch(times[:4], neurons[:4], np.array([0, 4]), 3)


def test_batch_is_accepted_by_simulate_like_a_list(trains):
    net = es.Network.feedforward([3, 2], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0), weights=[np.full((3, 2), 5.0)])
    batch = SpikeBatch.from_list(trains)
    from_batch = es.simulate(net, batch, t_max=20.0, n_threads=1)
    from_list = es.simulate(net, trains, t_max=20.0, n_threads=1)
    assert isinstance(from_batch, list) and len(from_batch) == 4
    assert [r.layers[0] for r in from_batch] == [r.layers[0] for r in from_list]


# ------------------------------------------------------------------------------------------------------------
# properties

@st.composite
def spike_trains(draw, max_neurons=6, max_spikes=30):
    n = draw(st.integers(0, max_neurons))
    if n == 0:
        return SpikeTrains([], [], 0)
    grid = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.5, 10.0])            # frequent ties and bin edges
    any_time = st.floats(0.0, 100.0, allow_nan=False, allow_infinity=False)
    pairs = draw(st.lists(st.tuples(st.one_of(grid, any_time), st.integers(0, n - 1)), max_size=max_spikes))
    times = [t for t, _ in pairs]
    neurons = [j for _, j in pairs]
    return SpikeTrains(times, neurons, n, sort=True)


@given(spike_trains(), st.randoms(use_true_random=False))
def test_canonical_order_does_not_depend_on_the_input_order(s, random):
    order = list(range(len(s)))
    random.shuffle(order)
    shuffled = SpikeTrains(s.times[order], s.neurons[order], s.n_neurons, sort=True)
    assert shuffled == s
    pairs = list(zip(s.times.tolist(), s.neurons.tolist()))
    assert pairs == sorted(pairs)                                   # by time, ties by neuron
    assert SpikeTrains(s.times, s.neurons, s.n_neurons) == s       # already canonical: accepted as is


@given(spike_trains())
def test_lists_round_trip_and_counts(s):
    lists = s.to_lists()
    assert len(lists) == s.n_neurons
    assert [a.size for a in lists] == s.counts().tolist()
    assert all(np.all(np.diff(a) >= 0) for a in lists)
    assert SpikeTrains.from_lists(lists) == s
    assert s.counts().sum() == len(s)
    first = s.first_spike_times()
    assert [f for f in first.tolist()] == [a[0] if a.size else np.inf for a in lists]


@given(spike_trains(), st.sampled_from([(10.0, 0.5), (7.0, 1.0), (100.0, 3.0), (0.25, 0.1), (2.5, 2.5)]))
def test_raster_sums_are_the_counts_in_the_window(s, window):
    t_max, dt = window
    if s.n_neurons == 0:
        return
    raster = s.to_raster(t_max, dt)
    assert raster.shape == (s.n_neurons, int(np.ceil(t_max / dt - 1e-12)))
    inside = s.times <= t_max
    np.testing.assert_array_equal(raster.sum(axis=1), np.bincount(s.neurons[inside], minlength=s.n_neurons))
    for t, j in zip(s.times[inside], s.neurons[inside]):
        k = min(int(t / dt), raster.shape[1] - 1)       # floor(t / dt) in float64, as documented
        assert raster[j, k] > 0


@settings(max_examples=60)
@given(st.lists(spike_trains(max_neurons=4, max_spikes=10), min_size=1, max_size=5))
def test_file_and_batch_round_trips(samples):
    n = samples[0].n_neurons
    samples = [SpikeTrains(t.times, np.minimum(t.neurons, max(n - 1, 0)) if n else t.neurons[:0],
                           n, sort=True) if n else SpikeTrains([], [], 0) for t in samples]
    batch = SpikeBatch.from_list(samples)
    assert list(batch) == samples
    assert list(batch.subset(range(len(samples))[::-1])) == samples[::-1]
    with tempfile.TemporaryDirectory() as directory:
        samples[0].save(os.path.join(directory, "one.npz"))
        batch.save(os.path.join(directory, "many.npz"))
        assert SpikeTrains.load(os.path.join(directory, "one.npz")) == samples[0]
        assert list(SpikeBatch.load(os.path.join(directory, "many.npz"))) == samples
        assert sorted(os.listdir(directory)) == ["many.npz", "one.npz"]
