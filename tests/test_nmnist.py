"""N-MNIST: event-file decoding, the three on-disk layouts, labels and geometry checked against MNIST, the event
encoder and the ``nmnist`` task."""

import io
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from eventsnn.datasets import load_mnist, load_nmnist
from eventsnn.datasets.mnist import ENV_VAR
from eventsnn.datasets.nmnist import EVENT_DTYPE, SENSOR_SHAPE, parse_events
from eventsnn.encoders import events_encode

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _encode_file(x, y, p, t_us) -> bytes:
    """The N-MNIST byte layout written independently of the decoder: 5 bytes per event."""
    out = bytearray()
    for xi, yi, pi, ti in zip(x, y, p, t_us):
        out += bytes([xi, yi, (pi << 7) | (ti >> 16), (ti >> 8) & 0xFF, ti & 0xFF])
    return bytes(out)


@pytest.fixture(scope="module")
def small_test():
    return load_nmnist("test", path=SHARED)


# ------------------------------------------------------------------------------------------- decoding

def test_parse_events_decodes_every_field_and_the_full_timestamp_range(rng):
    n = 500
    x, y, p = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)
    t_us = np.sort(rng.integers(0, 2 ** 23, n))
    t_us[-1] = 2 ** 23 - 1  # the largest 23-bit timestamp
    events = parse_events(_encode_file(x, y, p, t_us))
    assert events.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(events["x"], x)
    np.testing.assert_array_equal(events["y"], y)
    np.testing.assert_array_equal(events["p"], p)
    np.testing.assert_array_equal(events["t"], t_us / 1000.0)


def test_parse_events_sorts_out_of_order_events_stably():
    events = parse_events(_encode_file([1, 2, 3, 4], [0, 0, 0, 0], [0, 1, 0, 1], [500, 100, 500, 100]))
    assert events["t"].tolist() == [0.1, 0.1, 0.5, 0.5]
    assert events["x"].tolist() == [2, 4, 1, 3]  # equal times keep the file's order


@pytest.mark.parametrize("raw, fragment", [
    (b"\x01\x02\x03\x04", "not a multiple of the 5-byte"),
    (_encode_file([34], [0], [0], [0]), "outside the 34 x 34"),
    (_encode_file([0], [200], [1], [7]), "(x, y) = (0, 200)"),
])
def test_parse_events_rejects_corrupt_files(raw, fragment):
    with pytest.raises(ValueError, match="bad.bin") as info:
        parse_events(raw, "bad.bin")
    assert fragment in str(info.value)


# ------------------------------------------------------------------------------------ the shared subset

@pytest.mark.parametrize("split, mnist_split, size", [("train", "train", 1000), ("test", "test", 100)])
def test_subset_labels_are_those_of_the_mnist_images_it_was_recorded_from(split, mnist_split, size):
    events, labels = load_nmnist(split, path=SHARED)
    assert len(events) == labels.size == size
    _, mnist_labels = load_mnist(mnist_split, path=SHARED)
    np.testing.assert_array_equal(labels, mnist_labels[:size])  # id k (or 60000 + k) is MNIST image k - 1


def test_subset_events_are_sorted_on_the_sensor_and_within_the_recording(small_test):
    events, _ = small_test
    for sample in events:
        assert 1000 < sample.size < 10000
        assert np.all(np.diff(sample["t"]) >= 0.0) and sample["t"][0] >= 0.0 and sample["t"][-1] < 340.0
        assert sample["x"].max() < SENSOR_SHAPE[1] and sample["y"].max() < SENSOR_SHAPE[0]
        assert set(np.unique(sample["p"]).tolist()) == {0, 1}


def test_event_count_images_look_like_their_mnist_digits(small_test):
    """x is the column and y the row: each sample's 34 x 34 event-count image, cropped to the 28 x 28 digit,
    correlates better with its own MNIST image than with the next one's (a transposed or mirrored decoding
    fails this)."""
    events, _ = small_test
    images = load_mnist("test", path=SHARED)[0][:len(events)].reshape(len(events), -1).astype(np.float64)
    counts = np.zeros((len(events), 34, 34))
    for k, sample in enumerate(events):
        np.add.at(counts[k], (sample["y"], sample["x"]), 1.0)

    def normalised(a):
        a = a - a.mean(axis=1, keepdims=True)
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    def own_beats_next(count_images):
        crop = normalised(count_images[:, 3:31, 3:31].reshape(len(events), -1))
        similarity = crop @ normalised(images).T
        return np.mean(np.diag(similarity) > np.diag(np.roll(similarity, -1, axis=1)))

    assert own_beats_next(counts) >= 0.9
    # the test can tell a transposed or mirrored decoding
    assert own_beats_next(counts.transpose(0, 2, 1)) < 0.8
    assert own_beats_next(counts[:, :, ::-1]) < 0.8 and own_beats_next(counts[:, ::-1, :]) < 0.8


def test_n_takes_the_first_samples(small_test):
    events, labels = load_nmnist("test", path=SHARED, n=5)
    assert labels.tolist() == small_test[1][:5].tolist()
    for a, b in zip(events, small_test[0][:5]):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------ other layouts

def _write_small_layout(root: Path, samples, ids, labels, packed: bool):
    """The subset's layout: ``NMNISTsmall/<id>.bs2`` plus a list file, as a tar.gz or as files."""
    listing = "#sample #class\n" + "".join(f"{i}\t{label}\n" for i, label in zip(ids, labels))
    if packed:
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(root / "nmnist_small.tar.gz", "w:gz") as archive:
            for name, payload in [(f"NMNISTsmall/{i}.bs2", s) for i, s in zip(ids, samples)] + \
                                 [("NMNISTsmall/test100.txt", listing.encode())]:
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
    else:
        (root / "NMNISTsmall").mkdir(parents=True)
        for i, s in zip(ids, samples):
            (root / "NMNISTsmall" / f"{i}.bs2").write_bytes(s)
        (root / "test100.txt").write_text(listing)


def _samples(rng, n):
    return [_encode_file(rng.integers(0, 34, 20), rng.integers(0, 34, 20), rng.integers(0, 2, 20),
                         np.sort(rng.integers(0, 300_000, 20))) for _ in range(n)]


@pytest.mark.parametrize("packed", [True, False])
def test_small_layout_packed_or_unpacked_reads_the_listed_files_in_list_order(tmp_path, rng, packed):
    samples = _samples(rng, 3)
    _write_small_layout(tmp_path / "nmnist-small", samples, [60003, 60001, 60002], [4, 9, 0], packed)
    events, labels = load_nmnist("test", path=tmp_path)
    assert labels.tolist() == [4, 9, 0]
    for got, raw in zip(events, samples):
        np.testing.assert_array_equal(got, parse_events(raw))


def test_full_layout_reads_digit_folders_interleaved_by_file_id(tmp_path, rng, monkeypatch):
    samples = _samples(rng, 4)
    for digit in range(10):
        (tmp_path / "Train" / str(digit)).mkdir(parents=True)
    for (digit, file_id), raw in zip([(3, 2), (1, 10), (3, 7), (0, 1)], samples):
        (tmp_path / "Train" / str(digit)).mkdir(parents=True, exist_ok=True)
        (tmp_path / "Train" / str(digit) / f"{file_id:05d}.bin").write_bytes(raw)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    events, labels = load_nmnist("train", n=3)
    assert labels.tolist() == [0, 3, 3]  # ids 1, 2, 7
    np.testing.assert_array_equal(events[0], parse_events(samples[3]))
    np.testing.assert_array_equal(events[2], parse_events(samples[2]))


def test_missing_data_names_every_directory_searched(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        load_nmnist("test")
    for fragment in (str(tmp_path / "nmnist-small"), str(tmp_path / "nmnist"), "nmnist_small.tar.gz",
                     "test100.txt", "Test/<digit>/*.bin", ENV_VAR):
        assert fragment in str(info.value)


def test_listed_file_missing_from_the_archive_is_named(tmp_path, rng):
    _write_small_layout(tmp_path, _samples(rng, 1), [60001], [7], packed=True)
    with tarfile.open(tmp_path / "nmnist_small.tar.gz", "r:gz") as archive:
        members = [(m, archive.extractfile(m).read()) for m in archive]
    listing = b"#sample #class\n60001\t7\n60002\t1\n"
    with tarfile.open(tmp_path / "nmnist_small.tar.gz", "w:gz") as archive:
        for member, payload in members:
            if member.name.endswith(".txt"):
                payload = listing
                member.size = len(payload)
            archive.addfile(member, io.BytesIO(payload))
    with pytest.raises(ValueError, match="NMNISTsmall/60002.bs2"):
        load_nmnist("test", path=tmp_path)


def test_archive_without_its_list_file_is_named(tmp_path, rng):
    with tarfile.open(tmp_path / "nmnist_small.tar.gz", "w:gz") as archive:
        payload = _samples(rng, 1)[0]
        info = tarfile.TarInfo("NMNISTsmall/60001.bs2")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    with pytest.raises(ValueError, match="no test100.txt beside it or inside it"):
        load_nmnist("test", path=tmp_path)


def test_path_may_be_the_archive_or_the_unpacked_folder_itself(tmp_path, rng):
    samples = _samples(rng, 2)
    _write_small_layout(tmp_path / "packed", samples, [60001, 60002], [7, 2], packed=True)
    _write_small_layout(tmp_path / "unpacked", samples, [60001, 60002], [7, 2], packed=False)
    for path in (tmp_path / "packed" / "nmnist_small.tar.gz", tmp_path / "unpacked" / "NMNISTsmall"):
        events, labels = load_nmnist("test", path=path)
        assert labels.tolist() == [7, 2]
        np.testing.assert_array_equal(events[1], parse_events(samples[1]))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a .tar.gz"):
        load_nmnist("test", path=tmp_path / "notes.txt")


def test_damaged_archive_is_reported_not_loaded(tmp_path, rng):
    """A flipped bit in the compressed stream must not yield events: the gzip CRC is checked."""
    _write_small_layout(tmp_path, _samples(rng, 40), list(range(60001, 60041)), [1] * 40, packed=True)
    archive = tmp_path / "nmnist_small.tar.gz"
    raw = bytearray(archive.read_bytes())
    failures = 0
    for position in np.random.default_rng(3).integers(20, len(raw) - 8, 8):
        damaged = raw.copy()
        damaged[position] ^= 0x10
        archive.write_bytes(bytes(damaged))
        with pytest.raises(ValueError):
            load_nmnist("test", path=tmp_path)
        failures += 1
    assert failures == 8


def test_list_naming_a_sample_twice_is_rejected(tmp_path, rng):
    _write_small_layout(tmp_path, _samples(rng, 2), [60001, 60001], [7, 7], packed=False)
    with pytest.raises(ValueError, match="sample 60001 is listed twice"):
        load_nmnist("test", path=tmp_path)


def test_full_layout_without_every_digit_folder_is_rejected(tmp_path, rng):
    (tmp_path / "Test" / "3").mkdir(parents=True)
    (tmp_path / "Test" / "3" / "00001.bin").write_bytes(_samples(rng, 1)[0])
    with pytest.raises(ValueError, match="lacks the digit folders 0, 1, 2, 4"):
        load_nmnist("test", path=tmp_path)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"split": "validation"}, ValueError, "split"),
    ({"n": 0}, ValueError, "n must be"),
    ({"n": 2.5}, TypeError, "n must be an int"),
])
def test_bad_arguments(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        load_nmnist(path=SHARED, **kwargs)


# ------------------------------------------------------------------------------------------- encoder

def _events(rows):
    return np.array(rows, dtype=EVENT_DTYPE)


def test_events_encode_maps_pixel_and_polarity_to_neurons_and_keeps_every_event(small_test):
    events = small_test[0][:4]
    batch = events_encode(events)
    assert batch.n_neurons == 2 * 34 * 34 and len(batch) == 4
    for b, sample in enumerate(events):
        train = batch[b]
        assert len(train) == sample.size
        # as multisets of (time, neuron): an independent per-event mapping
        expected = sorted(zip(sample["t"].tolist(), (sample["p"].astype(int) * 1156 + sample["y"].astype(int) * 34
                                                     + sample["x"].astype(int)).tolist()))
        assert list(zip(train.times.tolist(), train.neurons.tolist())) == expected


def test_events_encode_pooling_polarity_merge_and_window():
    ev = _events([(1.0, 0, 0, 0), (2.0, 33, 33, 1), (2.0, 1, 1, 1), (400.0, 5, 5, 0), (5.0, 32, 0, 1)])
    batch = events_encode([ev], pool=2, polarity=False, t_max=320.0)
    assert batch.n_neurons == 17 * 17
    assert batch[0].times.tolist() == [1.0, 2.0, 2.0, 5.0]       # the event after t_max is dropped
    assert batch[0].neurons.tolist() == [0, 0, 16 * 17 + 16, 16]  # pixels of one 2 x 2 block: one neuron
    merged = events_encode([_events([(3.0, 0, 0, 1), (3.0, 1, 0, 1)])], pool=2)  # same block, same time
    assert merged[0].times.tolist() == [3.0, 3.0] and merged[0].neurons.tolist() == [289, 289]  # two spikes
    odd = events_encode([ev], sensor_shape=(34, 34), pool=5)      # ceil(34 / 5) = 7 blocks per side
    assert odd.n_neurons == 2 * 49 and odd[0].neurons.max() < 98


def test_events_encode_window_end_is_inclusive():
    batch = events_encode([_events([(320.0, 0, 0, 0), (320.5, 0, 0, 0)])], t_max=320.0)
    assert batch[0].times.tolist() == [320.0]


def test_shift_images_moves_both_polarity_planes_like_shifting_the_events(small_test):
    """Independent route: translate the events' pixel coordinates, then encode; shifting the encoded spikes of
    both polarity planes must give the same batch."""
    from eventsnn.encoders import shift_images
    events = small_test[0][:6]
    shifted = shift_images(events_encode(events), (2, *SENSOR_SHAPE), 3, seed=5)
    offsets = np.random.default_rng(5).integers(-3, 4, size=(len(events), 2))  # the draws shift_images makes
    moved = []
    for sample, (dr, dc) in zip(events, offsets):
        sample = sample.copy()
        y, x = sample["y"].astype(int) + dr, sample["x"].astype(int) + dc
        keep = (y >= 0) & (y < 34) & (x >= 0) & (x < 34)
        sample = sample[keep]
        sample["y"], sample["x"] = y[keep], x[keep]
        moved.append(sample)
    expected = events_encode(moved)
    assert np.any(offsets != 0) and shifted.n_neurons == expected.n_neurons
    np.testing.assert_array_equal(shifted.offsets, expected.offsets)
    np.testing.assert_array_equal(shifted.times, expected.times)
    np.testing.assert_array_equal(shifted.neurons, expected.neurons)


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: events_encode([]), ValueError, "at least one sample"),
    (lambda: events_encode(_events([(1.0, 0, 0, 0)])), TypeError, "pass \\[events\\]"),
    (lambda: events_encode([np.zeros(3)]), ValueError, "fields t, x, y, p"),
    (lambda: events_encode([_events([(1.0, 34, 0, 0)])]), ValueError, "x = 34"),
    (lambda: events_encode([_events([(1.0, 0, 0, 0)]), _events([(1.0, 0, 0, 2)])]), ValueError, "events\\[1\\] has p"),
    (lambda: events_encode([_events([(-1.0, 0, 0, 0)])]), ValueError, "time -1.0"),
    (lambda: events_encode([_events([(np.nan, 0, 0, 0)])]), ValueError, "finite"),
    (lambda: events_encode([_events([(1.0, 0, 0, 0)])], pool=0), ValueError, "pool"),
    (lambda: events_encode([_events([(1.0, 0, 0, 0)])], t_max=0.0), ValueError, "t_max"),
    (lambda: events_encode([_events([(1.0, 0, 0, 0)])], polarity=1), TypeError, "polarity"),
    (lambda: events_encode([np.array([(1.0, 3.7, 4.2, 0.6)], dtype=[(f, "f8") for f in "txyp"])]), ValueError,
     "field x must hold integers"),
    (lambda: events_encode([_events([(1.0, 0, 0, 0)])], sensor_shape=(34, 34, 2)), ValueError, "sensor_shape"),
    (lambda: events_encode([_events([(1.0, 0, 0, 0)])], sensor_shape=34), ValueError, "sensor_shape"),
])
def test_events_encode_bad_inputs(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


# --------------------------------------------------------------------------------------------- task

def test_nmnist_task_network_and_a_short_training_run_learns():
    from eventsnn.tasks import NMNIST_T_MAX, make_task
    from eventsnn.training import Trainer

    task = make_task("nmnist", n_train=96, n_test=32, epochs=4, data_path=SHARED)
    assert [w.shape for w in task.net.weights] == [(2312, 200)] and task.readout is not None
    assert len(task.train_inputs) == 96 and len(task.test_inputs) == 32
    assert task.config.t_max == NMNIST_T_MAX and task.train_inputs.times.max() <= NMNIST_T_MAX
    assert task.config.input_shape == (2, 34, 34)  # --set input_shift=N shifts both polarity planes
    trainer = Trainer(task.net, task.train_inputs, task.train_labels,
                      config=replace(task.config, n_threads=1, progress=False), readout=task.readout)
    before = trainer.evaluate(task.train_inputs, task.train_labels)
    trainer.fit()
    after = trainer.evaluate(task.train_inputs, task.train_labels)
    assert after.spikes_per_sample[0] > 0.0
    assert after.loss < 0.5 * before.loss and after.accuracy > 0.8


def test_cli_trains_nmnist_and_the_run_reloads_to_its_recorded_accuracy(tmp_path):
    import json
    import subprocess
    import sys

    from eventsnn.runs import load_trained
    from eventsnn.training import Trainer

    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "eventsnn", "train", "nmnist", "--epochs", "1", "--n-train", "64",
                             "--n-test", "32", "--data", str(SHARED), "--threads", "1", "--no-progress",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2312-200-10(read-out)" in result.stdout and "64 train / 32 test samples" in result.stdout
    assert (out / "raster.png").exists()
    task = load_trained(out)
    final = Trainer(task.net, task.train_inputs, task.train_labels, config=task.config,
                    readout=task.readout).evaluate(task.test_inputs, task.test_labels)
    assert final.accuracy == json.loads((out / "metrics.json").read_text())[-1]["test_accuracy"]
