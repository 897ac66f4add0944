"""Data sets: Yin-Yang bit-exact against the published splits and SPEC.md; MNIST / Fashion-MNIST IDX loading,
directory resolution and error messages."""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from eventsnn.datasets import default_data_dir, load_fashion_mnist, load_mnist, load_yinyang, make_yinyang
from eventsnn.datasets.mnist import ENV_VAR
from eventsnn.datasets.yinyang import _label_scalar, yinyang_label

# tests/ -> project root -> ../shared/data
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
PUBLICATION = SHARED / "yinyang" / "publication_data"

# ---------------------------------------------------------------------------------------------- Yin-Yang

# SPEC.md section 7: first three samples and labels of each standard split
SPEC_FIRST = {
    "train": ([2, 1, 2], [[0.6803075385877797, 0.450499251969543, 0.3196924614122203, 0.549500748030457],
                          [0.09767211400638387, 0.6842330265121569, 0.9023278859936161, 0.3157669734878431],
                          [0.7553614103176525, 0.4251558744912447, 0.24463858968234753, 0.5748441255087553]]),
    "validation": ([0, 1, 0], [[0.6805727261759029, 0.3209733938933629, 0.3194272738240971, 0.6790266061066371],
                               [0.6685157172603458, 0.9174478488708967, 0.33148428273965425, 0.0825521511291033],
                               [0.8019778902252007, 0.17902872922296542, 0.19802210977479928,
                                0.8209712707770346]]),
    "test": ([2, 2, 1], [[0.23409664559563403, 0.4017249751828972, 0.765903354404366, 0.5982750248171028],
                         [0.7513290219574494, 0.4682425192680968, 0.24867097804255056, 0.5317574807319032],
                         [0.13832530718825586, 0.570953971325061, 0.8616746928117441, 0.429046028674939]]),
}
SPEC_COUNTS = {"train": [1681, 1702, 1617], "validation": [316, 336, 348], "test": [350, 316, 334]}
SPEC_SHA256 = {
    "train": ("f5a4054d56f2a058f8250fba7ff9720458e1625db7af78a295e45701745b2228",
              "534d12acda4f9dbc7208a99d3646115a4aa7d74ca31d6d23f822079a568559b7"),
    "validation": ("5eac358bdf2122763dce3703a79f3005e56e46a4db25ec329a07333d0f7b8093",
                   "5a4c2f605814a620f514c1091f10441ce562cd81e902ce701b3cf94ae7576f7d"),
    "test": ("7bab3ed668ed4992679cff6339fe21bfe7d0c921ddc6187eaa3bc6ef34b888d7",
             "daa0f8f4e3b37b1ddec2afee22f09afb768f0e575f3f568e7469f1ebc6af73c1"),
}
SPLITS = ["train", "validation", "test"]


@pytest.fixture(scope="module")
def yinyang_splits():
    return {split: load_yinyang(split) for split in SPLITS}


@pytest.mark.parametrize("split", SPLITS)
def test_yinyang_split_equals_publication_arrays_bit_for_bit(yinyang_splits, split):
    samples, labels = yinyang_splits[split]
    reference_samples = np.load(PUBLICATION / f"{split}_samples.npy")
    reference_labels = np.load(PUBLICATION / f"{split}_labels.npy")
    assert samples.dtype == np.float64 and labels.dtype == np.int64
    assert np.array_equal(samples, reference_samples)
    assert np.array_equal(labels, reference_labels)


@pytest.mark.parametrize("split", SPLITS)
def test_yinyang_spec_vectors_counts_and_hashes(yinyang_splits, split):
    samples, labels = yinyang_splits[split]
    first_labels, first_samples = SPEC_FIRST[split]
    assert labels[:3].tolist() == first_labels
    assert samples[:3].tolist() == first_samples  # exact float equality, as the SPEC quotes repr values
    assert np.bincount(labels, minlength=3).tolist() == SPEC_COUNTS[split]
    sha_samples, sha_labels = SPEC_SHA256[split]
    assert hashlib.sha256(samples.astype("<f8").tobytes()).hexdigest() == sha_samples
    assert hashlib.sha256(labels.astype("<i8").tobytes()).hexdigest() == sha_labels


def test_yinyang_geometry_of_generated_points(yinyang_splits):
    samples, labels = yinyang_splits["train"]
    x, y = samples[:, 0], samples[:, 1]
    assert np.all((samples >= 0.0) & (samples <= 1.0))
    assert np.array_equal(samples[:, 2], 1.0 - x) and np.array_equal(samples[:, 3], 1.0 - y)
    assert np.all(np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2) <= 0.5)
    assert np.array_equal(yinyang_label(x, y), labels)


# SPEC.md section 2 table
@pytest.mark.parametrize("x, y, label", [
    (0.75, 0.5, 2), (0.25, 0.5, 2), (0.5, 0.9, 1), (0.5, 0.1, 0), (0.75, 0.65, 0),
    (0.25, 0.35, 1), (0.9, 0.6, 0), (0.1, 0.4, 1), (0.5, 0.5, 1)])
def test_yinyang_label_table(x, y, label):
    assert yinyang_label(x, y).item() == label
    assert _label_scalar(x, y, 0.5, 0.1) == label


def test_yinyang_scalar_and_vector_labels_agree():
    rng = np.random.default_rng(3)
    points = rng.random((2000, 2))
    vector = yinyang_label(points[:, 0], points[:, 1])
    scalar = [_label_scalar(float(x), float(y), 0.5, 0.1) for x, y in points]
    assert vector.tolist() == scalar


def test_make_yinyang_is_deterministic_and_scales_with_r_big():
    a = make_yinyang(50, seed=7)
    b = make_yinyang(50, seed=7)
    c = make_yinyang(50, seed=8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    samples, labels = make_yinyang(200, seed=1, r_big=1.0, r_small=0.2)
    assert samples.shape == (200, 4) and set(labels.tolist()) <= {0, 1, 2}
    assert samples[:, :2].max() > 1.0  # coordinates live in [0, 2 r_big)
    assert np.array_equal(yinyang_label(samples[:, 0], samples[:, 1], 1.0, 0.2), labels)


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: load_yinyang("training"), ValueError, "'train', 'validation', 'test'"),
    (lambda: load_yinyang(None), ValueError, "split must be one of"),
    (lambda: make_yinyang(0, 1), ValueError, "n_samples must be >= 1"),
    (lambda: make_yinyang(10.0, 1), TypeError, "n_samples must be an int"),
    (lambda: make_yinyang(True, 1), TypeError, "n_samples must be an int"),
    (lambda: make_yinyang(10, -1), ValueError, "seed must be in [0, 2**32 - 1]"),
    (lambda: make_yinyang(10, 2**32), ValueError, "seed must be in [0, 2**32 - 1]"),
    (lambda: make_yinyang(10, "42"), TypeError, "seed must be an int"),
    (lambda: make_yinyang(10, 1, r_big=-0.5), ValueError, "r_big must be a finite number > 0"),
    (lambda: make_yinyang(10, 1, r_small=0.25), ValueError, "r_small must be < r_big / 2"),
    (lambda: make_yinyang(10, 1, r_small=float("nan")), ValueError, "r_small must be a finite number > 0"),
])
def test_yinyang_bad_inputs(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)


# ------------------------------------------------------------------------------------- MNIST / Fashion

MNIST_COUNTS = {"train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
                "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]}
SIZES = {"train": 60000, "test": 10000}


@pytest.fixture(scope="module")
def mnist():
    return {split: load_mnist(split, path=SHARED) for split in ("train", "test")}


@pytest.fixture(scope="module")
def fashion():
    return {split: load_fashion_mnist(split, path=SHARED) for split in ("train", "test")}


@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_shapes_labels_and_class_counts(mnist, split):
    images, labels = mnist[split]
    assert images.shape == (SIZES[split], 28, 28) and images.dtype == np.uint8
    assert labels.shape == (SIZES[split],) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 255
    assert np.bincount(labels, minlength=10).tolist() == MNIST_COUNTS[split]  # README table
    assert images.flags.writeable


def test_mnist_known_first_items_and_w2_pixels(mnist):
    images, labels = mnist["train"]
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist["test"][1][:5].tolist() == [7, 2, 1, 0, 4]
    w2 = np.load(SHARED / "workloads" / "w2_batch.npz")
    if "MNIST" in str(w2["source"]):
        # independently stored pixels (p = pixel / 255 as float32) and labels of the first 32 training images
        assert np.array_equal(w2["images"], (images[:32].reshape(32, -1) / 255.0).astype(np.float32))
        assert np.array_equal(w2["labels"], labels[:32])


@pytest.mark.parametrize("split", ["train", "test"])
def test_fashion_mnist_balanced_classes(fashion, split):
    images, labels = fashion[split]
    assert images.shape == (SIZES[split], 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == [SIZES[split] // 10] * 10
    assert labels[0] == 9  # both splits start with an ankle boot


def test_fashion_and_mnist_are_different_files(mnist, fashion):
    assert not np.array_equal(mnist["test"][0][:10], fashion["test"][0][:10])


def test_default_data_dir_finds_shared_folder(monkeypatch, mnist):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(Path(__file__).resolve().parent)
    assert default_data_dir() == SHARED.resolve()
    images, labels = load_mnist("test")
    assert np.array_equal(images, mnist["test"][0]) and np.array_equal(labels, mnist["test"][1])


@pytest.mark.parametrize("root", [SHARED, SHARED / "mnist"])
def test_env_var_accepts_parent_or_direct_folder(monkeypatch, root, mnist):
    monkeypatch.setenv(ENV_VAR, str(root))
    images, labels = load_mnist("test")
    assert np.array_equal(labels, mnist["test"][1])


def test_missing_files_message_names_files_dirs_and_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))  # the env var wins: no silent fallback to the shared folder
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist("test")
    message = str(info.value)
    for fragment in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", str(tmp_path / "fashion-mnist"),
                     str(tmp_path), ENV_VAR, "path="):
        assert fragment in message


def test_missing_explicit_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("train", path=missing)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and str(missing / "mnist") in str(info.value)


# -------------------------------------------------------------------------------- synthetic IDX files

def _idx_images(pixels, magic=2051):
    n, rows, cols = pixels.shape
    return struct.pack(">4I", magic, n, rows, cols) + pixels.astype(np.uint8).tobytes()


def _idx_labels(labels, magic=2049):
    return struct.pack(">2I", magic, len(labels)) + np.asarray(labels, dtype=np.uint8).tobytes()


def _write(directory, name, payload, compress):
    directory.mkdir(parents=True, exist_ok=True)
    if compress:
        (directory / (name + ".gz")).write_bytes(gzip.compress(payload))
    else:
        (directory / name).write_bytes(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_small_idx_files_gz_or_raw(tmp_path, compress):
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    labels = np.array([3, 0, 9])
    _write(tmp_path / "mnist", "t10k-images-idx3-ubyte", _idx_images(pixels), compress)
    _write(tmp_path / "mnist", "t10k-labels-idx1-ubyte", _idx_labels(labels), compress)
    images, loaded = load_mnist("test", path=tmp_path)
    assert np.array_equal(images, pixels) and loaded.tolist() == [3, 0, 9]


@pytest.mark.parametrize("images_payload, labels_payload, bad_file, fragment", [
    (_idx_images(np.zeros((2, 28, 28)), magic=2049), _idx_labels([1, 2]), "train-images", "magic number is 2049"),
    (_idx_images(np.zeros((2, 28, 28))), _idx_labels([1, 2], magic=2051), "train-labels", "expected 2049"),
    (_idx_images(np.zeros((2, 28, 28)))[:-5], _idx_labels([1, 2]), "train-images", "truncated"),
    (_idx_images(np.zeros((2, 28, 28)))[:10], _idx_labels([1, 2]), "train-images", "IDX header"),
    (_idx_images(np.zeros((2, 20, 20))), _idx_labels([1, 2]), "train-images", "20 x 20"),
    (_idx_images(np.zeros((2, 28, 28))), _idx_labels([1, 2, 3]), "train-labels", "3 labels but"),
    (_idx_images(np.zeros((2, 28, 28))), _idx_labels([1, 12]), "train-labels", "label 12 outside"),
    (_idx_images(np.zeros((2, 28, 28))), b"\x1f\x8bnot really gzip", "train-labels", "corrupt gzip"),
])
def test_corrupt_idx_files_raise_value_error_naming_the_file(tmp_path, images_payload, labels_payload,
                                                           bad_file, fragment):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images_payload)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels_payload)
    with pytest.raises(ValueError) as info:
        load_mnist("train", path=tmp_path)
    assert bad_file in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: load_mnist("validation"), ValueError, "'train', 'test'"),
    (lambda: load_fashion_mnist("t10k"), ValueError, "split must be one of"),
    (lambda: load_mnist("train", path=3.5), TypeError, "path must be a str or os.PathLike"),
])
def test_mnist_bad_arguments(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)
