"""Tonic interop (eventsnn.tonic) and the time-unit guard of events_encode."""

import tarfile

import numpy as np
import pytest
import tonic

from eventsnn.datasets import load_nmnist
from eventsnn.datasets.mnist import default_data_dir
from eventsnn.encoders import events_encode
from eventsnn.tonic import from_tonic

N_SAMPLES = 6


class _TonicNMNIST:
    """The shared subset's test files read by Tonic's own N-MNIST parser (tonic.io.read_mnist_file), the code path of
    tonic.datasets.NMNIST.__getitem__ (that class downloads the full set, so it is not instantiated here)."""

    sensor_size = tonic.datasets.NMNIST.sensor_size

    def __init__(self, files, labels, transform=None):
        self.files, self.labels, self.transform = files, labels, transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        events = tonic.io.read_mnist_file(str(self.files[index]), dtype=tonic.datasets.NMNIST.dtype)
        return (self.transform(events) if self.transform else events), self.labels[index]


@pytest.fixture(scope="module")
def tonic_subset(tmp_path_factory):
    folder = default_data_dir() / "nmnist-small"
    lines = [line.split() for line in (folder / "test100.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")][:N_SAMPLES]
    out = tmp_path_factory.mktemp("nmnist")
    files = [out / f"{sample_id}.bs2" for sample_id, _ in lines]
    with tarfile.open(folder / "nmnist_small.tar.gz") as archive:
        for file in files:  # Tonic's reader takes a path: write the members out (no extraction filter needed)
            file.write_bytes(archive.extractfile(f"NMNISTsmall/{file.name}").read())
    return files, [int(label) for _, label in lines]


def test_tonic_and_eventsnn_readers_give_identical_input_spikes(tonic_subset):
    files, labels = tonic_subset
    via_tonic = from_tonic(_TonicNMNIST(files, labels))
    events, eventsnn_labels = load_nmnist("test", n=N_SAMPLES)
    via_eventsnn = events_encode(events)
    assert via_tonic.labels.tolist() == eventsnn_labels.tolist() == labels
    assert np.array_equal(via_tonic.inputs.offsets, via_eventsnn.offsets)
    assert np.array_equal(via_tonic.inputs.times, via_eventsnn.times)  # bit for bit
    assert np.array_equal(via_tonic.inputs.neurons, via_eventsnn.neurons)
    assert via_tonic.inputs.n_neurons == 2312 and via_tonic.input_shape == (2, 34, 34)
    assert via_tonic.inputs.times.size > 1000 * N_SAMPLES
    # pooling, one polarity plane and a window agree as well
    pooled = from_tonic(_TonicNMNIST(files, labels), pool=2, polarity=False, t_max=100.0)
    assert pooled.input_shape == (1, 17, 17)
    expected = events_encode(events, pool=2, polarity=False, t_max=100.0)
    assert np.array_equal(pooled.inputs.times, expected.times) and np.array_equal(pooled.inputs.neurons,
                                                                               expected.neurons)


def test_tonic_transforms_apply_before_conversion(tonic_subset):
    files, labels = tonic_subset
    plain = from_tonic(_TonicNMNIST(files[:2], labels[:2]))
    denoised = from_tonic(_TonicNMNIST(files[:2], labels[:2], tonic.transforms.Denoise(filter_time=10_000)))
    assert 0 < denoised.inputs.times.size < plain.inputs.times.size


def test_integer_timestamps_need_a_time_unit(tonic_subset):
    files, _ = tonic_subset
    events = tonic.io.read_mnist_file(str(files[0]), dtype=tonic.datasets.NMNIST.dtype)
    with pytest.raises(ValueError, match="integer microseconds; pass time_unit='us'"):
        events_encode([events])
    in_ms = events_encode([events], time_unit="us")
    assert in_ms.times.max() < 400.0  # a ~0.3 s recording, in ms
    as_float_ms = events.astype([("x", "i8"), ("y", "i8"), ("t", "f8"), ("p", "i8")])
    as_float_ms["t"] = events["t"] / 1000.0
    assert np.array_equal(events_encode([as_float_ms]).times, in_ms.times)  # float times are ms
    in_s = as_float_ms.copy()
    in_s["t"] = events["t"] * 1e-6
    assert np.allclose(events_encode([in_s], time_unit="s").times, in_ms.times, rtol=1e-12)
    with pytest.raises(ValueError, match="time_unit"):
        events_encode([events], time_unit="ns")


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: from_tonic([(np.zeros(2), 1)], sensor_size=(2, 2, 2)), ValueError, "fields t and x"),
    (lambda: from_tonic([(np.zeros(1, dtype=[("t", "i8"), ("x", "i8")]), 0)]), ValueError, "sensor_size"),
    (lambda: from_tonic([(np.zeros(1, dtype=[("t", "i8"), ("x", "i8")]), 0)], sensor_size=(1, 1, 3)),
     ValueError, "polarities"),
    (lambda: from_tonic([(np.zeros(1, dtype=[("t", "i8"), ("x", "i8")]), -1)], sensor_size=(1, 1)), ValueError,
     "label"),
    (lambda: from_tonic([], sensor_size=(1, 1)), ValueError, "empty"),
    (lambda: from_tonic([(np.zeros(1, dtype=[("t", "i8"), ("x", "f8")]), 0)], sensor_size=(1, 1)), ValueError,
     "field x"),
])
def test_from_tonic_bad_inputs(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_one_dimensional_sensor_without_polarity():
    events = np.array([(3, 2000), (0, 1000)], dtype=[("x", "i8"), ("t", "i8")])  # SHD-like: x = channel
    samples = from_tonic([(events, 4)], sensor_size=(700, 1, 1))
    assert samples.inputs.n_neurons == 700 and samples.input_shape == (1, 1, 700)
    assert samples.inputs[0].times.tolist() == [1.0, 2.0] and samples.inputs[0].neurons.tolist() == [0, 3]


def test_docs_example_runs(tmp_path, monkeypatch):
    """The Python blocks of docs/tonic.md, run as written (in a scratch directory)."""
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "tonic.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "docs/tonic.md", "exec"), {})
