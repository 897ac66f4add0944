"""Encoders: exact spike times, canonical (time, neuron) order, the W2 MNIST code, Poisson statistics, and one
table of bad inputs."""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from eventsnn.datasets import load_mnist, load_yinyang
from eventsnn.encoders import jitter_times, latency_encode, poisson_encode, shift_images, yinyang_encode
from eventsnn.spikes import SpikeBatch

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def assert_canonical(batch: SpikeBatch) -> None:
    """Each sample sorted by time, ties by neuron (what SpikeTrains requires)."""
    for b in range(len(batch)):
        lo, hi = batch.offsets[b], batch.offsets[b + 1]
        times, neurons = batch.times[lo:hi], batch.neurons[lo:hi]
        order = np.lexsort((neurons, times))
        assert np.array_equal(order, np.arange(hi - lo)), f"sample {b} not in (time, neuron) order"


# ----------------------------------------------------------------------------------------------- latency

def test_latency_exact_times_small_case():
    values = np.array([[1.0, 0.05, 0.5, 0.75, 0.5],
                       [0.1, 0.25, 0.0, 1.0, 0.1]])
    batch = latency_encode(values)
    assert isinstance(batch, SpikeBatch) and batch.n_neurons == 5 and len(batch) == 2
    # p > 0.1 fires at (1 - p) * 20 ms; equal times are listed in neuron order (neurons 2 and 4)
    assert batch[0].times.tolist() == [0.0, 5.0, 10.0, 10.0]
    assert batch[0].neurons.tolist() == [0, 3, 2, 4]
    assert batch[1].times.tolist() == [0.0, 15.0]  # 0.1 is not > 0.1: silent
    assert batch[1].neurons.tolist() == [3, 1]
    assert batch.offsets.tolist() == [0, 4, 6]


def test_latency_options_window_threshold_invert():
    values = [[0.0, 0.25, 1.0]]
    every = latency_encode(values, t_min=2.0, t_max=10.0, threshold=None)
    assert every[0].times.tolist() == [2.0, 8.0, 10.0] and every[0].neurons.tolist() == [2, 1, 0]
    upright = latency_encode(values, t_min=2.0, t_max=10.0, threshold=0.0, invert=False)
    assert upright[0].times.tolist() == [4.0, 10.0] and upright[0].neurons.tolist() == [1, 2]


def test_latency_step_floors_times_to_the_grid_and_re_sorts_ties():
    # ANTLR's code: step floor(24 (1 - p)); 0.51 (11.76 ms unfloored) and 0.52 (11.52 ms) share step 11 and
    # then fire in neuron order, not in the order of their unfloored times
    values = [[0.51, 1.0, 0.52, 0.01, 0.0]]
    batch = latency_encode(values, t_max=24.0, threshold=0.0, step=1.0)
    assert batch[0].times.tolist() == [0.0, 11.0, 11.0, 23.0]
    assert batch[0].neurons.tolist() == [1, 0, 2, 3]
    shifted = latency_encode(values, t_min=2.0, t_max=26.0, threshold=0.0, step=2.0)
    assert shifted[0].times.tolist() == [2.0, 12.0, 12.0, 24.0]


def test_latency_flattens_trailing_dimensions():
    images = np.zeros((2, 2, 3))
    images[0, 1, 2] = 1.0   # neuron 1 * 3 + 2 = 5
    images[1, 0, 1] = 0.5   # neuron 1
    batch = latency_encode(images)
    assert batch.n_neurons == 6
    assert batch[0].neurons.tolist() == [5] and batch[1].neurons.tolist() == [1]
    assert batch[1].times.tolist() == [10.0]


def test_latency_random_input_sorted_and_complete():
    rng = np.random.default_rng(5)
    # quantised values make many equal times, which exercises the tie rule
    values = rng.integers(0, 256, size=(40, 60)) / 255.0
    batch = latency_encode(values, t_min=1.0, t_max=31.0)
    assert_canonical(batch)
    for b, train in enumerate(batch):
        fired = values[b] > 0.1
        assert np.array_equal(np.sort(train.neurons), np.flatnonzero(fired))
        expected = 1.0 + (1.0 - values[b]) * 30.0
        assert np.array_equal(train.times, expected[train.neurons])


@pytest.fixture(scope="module")
def mnist_train():
    return load_mnist("train", path=SHARED)


def test_w2_batch_reproduced_exactly(mnist_train):
    w2 = np.load(SHARED / "workloads" / "w2_batch.npz")
    assert "MNIST" in str(w2["source"]), f"w2_batch.npz claims source {w2['source']!s}"
    images, _ = mnist_train
    batch = latency_encode(images[:32].reshape(32, -1) / 255.0)
    assert np.array_equal(batch.times, w2["times"])
    assert np.array_equal(batch.neurons, w2["neurons"])
    assert np.array_equal(batch.offsets, w2["offsets"])
    assert batch.times.max() < 18.0


def test_latency_accepts_raw_image_stack(mnist_train):
    images, _ = mnist_train
    batch = latency_encode(images[:200] / 255.0)
    assert batch.n_neurons == 784
    assert np.array_equal(np.diff(batch.offsets), (images[:200] > 25.5).reshape(200, -1).sum(axis=1))
    assert_canonical(batch)


# ---------------------------------------------------------------------------------------------- Yin-Yang

def test_yinyang_exact_times_default_and_bias():
    samples = [[0.5, 0.25, 0.5, 0.75], [0.0, 1.0, 1.0, 0.0]]
    plain = yinyang_encode(samples)
    assert plain.n_neurons == 4
    assert plain[0].times.tolist() == [9.0, 16.0, 16.0, 23.0] and plain[0].neurons.tolist() == [1, 0, 2, 3]
    assert plain[1].times.tolist() == [2.0, 2.0, 30.0, 30.0] and plain[1].neurons.tolist() == [0, 3, 1, 2]
    biased = yinyang_encode(samples, t_early=0.0, t_late=8.0, bias_time=[4.0, 0.5])
    assert biased.n_neurons == 6
    assert biased[0].times.tolist() == [0.5, 2.0, 4.0, 4.0, 4.0, 6.0]
    assert biased[0].neurons.tolist() == [5, 1, 0, 2, 4, 3]
    assert biased.offsets.tolist() == [0, 6, 12]


def test_yinyang_standard_split_encoding():
    samples, _ = load_yinyang("validation")
    batch = yinyang_encode(samples, bias_time=0.0)
    assert len(batch) == 1000 and batch.n_neurons == 5
    assert_canonical(batch)
    assert np.all(np.diff(batch.offsets) == 5)
    data = batch.neurons < 4
    assert np.all((batch.times[data] >= 2.0) & (batch.times[data] < 30.0))
    assert np.all(batch.times[~data] == 0.0)
    # every sample's spike times decode back to its coordinates
    decoded = np.empty_like(samples)
    rows = np.repeat(np.arange(1000), 5)
    decoded[rows[data], batch.neurons[data]] = (batch.times[data] - 2.0) / 28.0
    assert np.allclose(decoded, samples, rtol=0.0, atol=1e-14)


# ----------------------------------------------------------------------------------------------- Poisson

def test_poisson_reproducible_from_seed_and_generator():
    rates = np.full((3, 20), 50.0)
    a = poisson_encode(rates, 200.0, seed=4)
    b = poisson_encode(rates, 200.0, seed=4)
    c = poisson_encode(rates, 200.0, seed=5)
    assert np.array_equal(a.times, b.times) and np.array_equal(a.neurons, b.neurons)
    assert not np.array_equal(a.times, c.times)
    g = poisson_encode(rates, 200.0, seed=np.random.default_rng(4))
    assert np.array_equal(g.times, a.times)  # an int seed is the same as default_rng(seed)


def test_poisson_rate_statistics_and_window():
    rng = np.random.default_rng(8)
    rates = np.full((20, 100), 40.0)  # 40 Hz over 500 ms: 20 expected spikes per train
    batch = poisson_encode(rates, duration=500.0, seed=rng, t_start=10.0)
    assert_canonical(batch)
    assert batch.times.min() >= 10.0 and batch.times.max() < 510.0
    expected_total = rates.size * 20.0
    assert abs(batch.times.size - expected_total) < 5.0 * np.sqrt(expected_total)
    counts = np.stack([train.counts() for train in batch])
    fano = counts.var() / counts.mean()
    assert 0.8 < fano < 1.2  # Poisson: variance = mean
    # given the count, spike times are uniform over the window
    assert stats.kstest((batch.times - 10.0) / 500.0, "uniform").pvalue > 1e-3


def test_poisson_zero_and_mixed_rates():
    rng = np.random.default_rng(9)
    rates = np.zeros((4, 3))
    rates[:, 1] = 200.0
    batch = poisson_encode(rates, 100.0, seed=rng)
    assert set(batch.neurons.tolist()) == {1}
    assert poisson_encode(np.zeros((2, 5)), 10.0, seed=0).times.size == 0


def test_jitter_moves_times_by_gaussian_noise_and_keeps_spikes():
    rng = np.random.default_rng(3)
    batch = latency_encode(rng.random((40, 50)), threshold=None)  # 50 spikes per sample
    out = jitter_times(batch, 0.5, seed=7, t_max=25.0)
    assert np.array_equal(out.offsets, batch.offsets) and out.n_neurons == batch.n_neurons
    for b in range(len(batch)):
        before, after = batch[b], out[b]
        assert sorted(after.neurons.tolist()) == sorted(before.neurons.tolist())
        assert np.all(np.diff(after.times) >= 0.0)
        # match spikes by neuron (one spike per neuron here) to read off the noise
        shift = after.times[np.argsort(after.neurons)] - before.times[np.argsort(before.neurons)]
        assert np.all(np.abs(shift) < 5 * 0.5)
    noise = out.times[np.lexsort((out.neurons, np.repeat(np.arange(40), 50)))] - \
        batch.times[np.lexsort((batch.neurons, np.repeat(np.arange(40), 50)))]
    inside = (batch.times[np.lexsort((batch.neurons, np.repeat(np.arange(40), 50)))] > 2.5)  # far from the clip
    assert stats.kstest(noise[inside] / 0.5, "norm").pvalue > 1e-3
    assert out.times.min() >= 0.0 and out.times.max() <= 25.0
    again = jitter_times(batch, 0.5, seed=7, t_max=25.0)
    assert np.array_equal(again.times, out.times) and np.array_equal(again.neurons, out.neurons)
    same = jitter_times(batch, 0.0, seed=0)
    assert np.array_equal(same.times, batch.times) and np.array_equal(same.neurons, batch.neurons)


def test_shift_images_equals_encoding_the_translated_image():
    # independent route: translate the pixel arrays with numpy and encode them; the spike-code shift must agree
    rng = np.random.default_rng(5)
    images = rng.random((30, 6, 7)) * (rng.random((30, 6, 7)) < 0.6)
    batch = latency_encode(images.reshape(30, -1))
    out = shift_images(batch, (6, 7), 2, seed=11)
    offsets = np.random.default_rng(11).integers(-2, 3, size=(30, 2))  # the draws shift_images makes
    assert len(np.unique(offsets, axis=0)) > 5
    for b, (dr, dc) in enumerate(offsets):
        moved = np.zeros((6, 7))
        src = images[b][max(0, -dr):6 - max(0, dr), max(0, -dc):7 - max(0, dc)]
        moved[max(0, dr):max(0, dr) + src.shape[0], max(0, dc):max(0, dc) + src.shape[1]] = src
        assert out[b] == latency_encode(moved.reshape(1, -1))[0]
    assert shift_images(batch, (6, 7), 0, seed=0).times.tolist() == batch.times.tolist()
    again = shift_images(batch, (6, 7), 2, seed=11)
    assert np.array_equal(again.neurons, out.neurons) and np.array_equal(again.offsets, out.offsets)


# -------------------------------------------------------------------------------------------- bad inputs

GOOD = np.array([[0.2, 0.8]])


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: latency_encode([0.2, 0.5]), ValueError, "values must have shape (n_samples, n_features"),
    (lambda: latency_encode([[0.2, np.nan]]), ValueError, "values contains a non-finite value"),
    (lambda: latency_encode([[0.2, 1.5]]), ValueError, "values must lie in [0, 1], got 1.5"),
    (lambda: latency_encode([[-0.1, 0.5]]), ValueError, "values must lie in [0, 1], got -0.1"),
    (lambda: latency_encode([["a", "b"]]), TypeError, "values must be convertible"),
    (lambda: latency_encode(GOOD, t_min=-1.0), ValueError, "t_min must be a finite number >= 0, got -1.0"),
    (lambda: latency_encode(GOOD, t_min=5.0, t_max=5.0), ValueError, "t_max must be > t_min = 5.0 ms, got 5.0"),
    (lambda: latency_encode(GOOD, t_max=np.inf), ValueError, "t_max must be a finite number"),
    (lambda: latency_encode(GOOD, t_max="20"), TypeError, "t_max must be a real number"),
    (lambda: latency_encode(GOOD, threshold=1.5), ValueError, "threshold must be in [0, 1] or None, got 1.5"),
    (lambda: latency_encode(GOOD, invert="yes"), TypeError, "invert must be a bool"),
    (lambda: yinyang_encode([[0.1, 0.2, 0.9]]), ValueError, "samples must have shape (n_samples, 4)"),
    (lambda: yinyang_encode([0.1, 0.2, 0.9, 0.8]), ValueError, "samples must be 2-dimensional"),
    (lambda: yinyang_encode([[0.1, 0.2, 0.9, 1.2]]), ValueError, "samples must lie in [0, 1], got 1.2"),
    (lambda: yinyang_encode([[0.1, 0.2, np.nan, 0.8]]), ValueError, "samples contains a non-finite value"),
    (lambda: yinyang_encode([[0.1, 0.2, 0.9, 0.8]], t_early=3.0, t_late=1.0), ValueError,
     "t_late must be > t_early = 3.0 ms, got 1.0"),
    (lambda: yinyang_encode([[0.1, 0.2, 0.9, 0.8]], bias_time=-1.0), ValueError,
     "bias_time must be >= 0 ms, got -1.0"),
    (lambda: poisson_encode([[10.0, -1.0]], 100.0, seed=0), ValueError, "rates_hz must be >= 0 Hz, got -1.0"),
    (lambda: poisson_encode([[10.0, np.inf]], 100.0, seed=0), ValueError, "rates_hz contains a non-finite"),
    (lambda: poisson_encode([10.0, 1.0], 100.0, seed=0), ValueError, "rates_hz must have shape"),
    (lambda: poisson_encode([[10.0]], 0.0, seed=0), ValueError, "duration must be a finite number > 0, got 0.0"),
    (lambda: poisson_encode([[10.0]], 100.0, seed=0, t_start=-5.0), ValueError, "t_start must be a finite"),
    (lambda: poisson_encode([[10.0]], 100.0, seed=-3), ValueError, "seed must be >= 0, got -3"),
    (lambda: poisson_encode([[10.0]], 100.0, seed=1.5), TypeError, "seed must be an int or a numpy.random"),
    (lambda: jitter_times(latency_encode(GOOD), -1.0, seed=0), ValueError, "sigma must be a finite number >= 0"),
    (lambda: jitter_times(latency_encode(GOOD), 1.0, seed=0, t_max=0.0), ValueError, "t_max must be a finite"),
    (lambda: jitter_times(GOOD, 1.0, seed=0), TypeError, "batch must be a SpikeBatch"),
    (lambda: jitter_times(latency_encode(GOOD), 1.0, seed=-1), ValueError, "seed must be >= 0, got -1"),
    (lambda: jitter_times(latency_encode(GOOD), 1.0, seed=1.5), TypeError, "seed must be an int or a numpy.random"),
    (lambda: shift_images(latency_encode(GOOD), (1, 3), 1, seed=0), ValueError, "does not match the batch's 2 input"),
    (lambda: shift_images(latency_encode(GOOD), (0, 2), 1, seed=0), ValueError, "with positive ints"),
    (lambda: shift_images(latency_encode(GOOD), (1, 2), -1, seed=0), ValueError, "max_shift must be an int >= 0"),
    (lambda: shift_images(GOOD, (1, 2), 1, seed=0), TypeError, "batch must be a SpikeBatch"),
    (lambda: latency_encode(GOOD, step=0.0), ValueError, "step must be a finite number > 0, got 0.0"),
    (lambda: latency_encode(GOOD, step=np.nan), ValueError, "step must be a finite number > 0"),
])
def test_bad_inputs(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)
