"""Issue 19, classes 3 and 5 (files): loaders read at most what the header declares (decompression bombs error
early with small memory, measured in a subprocess), and every malformed file gives a clear error naming the file
and the field, before any work."""

import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

from eventsnn import SpikeTrains
from eventsnn._file_validation import FileFormatError
from eventsnn.cli import main
from eventsnn.runs import load_trained, read_run
from eventsnn.spikes import SpikeBatch

# Documented bounds (docs/safety.md) for the two runaway examples of the issue
BOMB_SECONDS = 5.0
BOMB_MEGABYTES = 500


def _zeros_gzip(n_mib):
    """A gzip stream of n_mib MiB of zero bytes, made of repeated 1 MiB members (cheap to build, 1 kB each)."""
    return gzip.compress(bytes(2**20)) * n_mib


def _measure(code):
    """Run ``code`` in a fresh interpreter; returns (stdout, CPU seconds, peak resident MB) of that process.

    CPU time (user + system) rather than wall time: the bound is on the work done, and a loaded machine (CI's two
    cores shared with other jobs) stretches wall time without changing it."""
    wrapper = textwrap.dedent("""
        import resource, sys
        def cpu_seconds():
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime
        started = cpu_seconds()
        try:
            exec(sys.stdin.read())
        finally:
            # VmHWM is this process image's own peak; ru_maxrss would also count the parent's resident size at
            # fork time (Linux keeps it across execve), so a large pytest process would inflate it
            with open("/proc/self/status") as status:
                peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
            print(f"seconds={cpu_seconds() - started} mb={peak}")
    """)
    result = subprocess.run([sys.executable, "-c", wrapper], input=code, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()}, check=False)
    last = result.stdout.strip().splitlines()[-1]
    seconds, mb = (float(part.split("=")[1]) for part in last.split())
    return result.stdout, seconds, mb


def test_idx_decompression_bomb_errors_early_with_small_memory(tmp_path):
    # a 60,000-image header followed by 1.5 GiB of zeros, in a 1.6 MB file
    header = gzip.compress(struct.pack(">4I", 2051, 60000, 28, 28))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(header + _zeros_gzip(1536))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">2I", 2049, 60000) +
                                                                        bytes(60000)))
    out, seconds, mb = _measure(textwrap.dedent(f"""
        from eventsnn.datasets import load_mnist
        try:
            load_mnist("train", path={str(tmp_path)!r})
        except ValueError as error:
            print("ERROR", error)
    """))
    assert "ERROR train-images-idx3-ubyte.gz: holds more data than the 47040000 values" in out
    print(f"bomb: {seconds:.2f} s, {mb:.0f} MB peak resident")
    assert seconds < BOMB_SECONDS and mb < BOMB_MEGABYTES, (seconds, mb)


def test_idx_header_announcing_more_than_the_file_can_hold_is_refused_before_inflating(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">4I", 2051, 2**31, 28, 28)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">2I", 2049, 1) + bytes(1))
    from eventsnn.datasets import load_mnist
    with pytest.raises(FileFormatError, match="t10k-images-idx3-ubyte.gz: header announces 2147483648 images"):
        load_mnist("test", path=tmp_path)


def _nmnist_archive(path, big_first):
    """An N-MNIST subset archive with the list beside it and an unlisted 1 GiB member before or after the one
    listed sample."""
    def header(name, size):
        info = tarfile.TarInfo(name)
        info.size = size
        return info.tobuf(format=tarfile.GNU_FORMAT)
    sample = bytes([3, 7, 0x80, 0x01, 0x02])
    listed = header("NMNISTsmall/60001.bs2", len(sample)) + sample + bytes(512 - len(sample))
    parts = [gzip.compress(listed)]
    big = [gzip.compress(header("NMNISTsmall/huge.bs2", 2**30)), _zeros_gzip(1024)]
    parts = big + parts if big_first else parts + big
    parts.append(gzip.compress(bytes(1024)))  # tar end blocks
    path.mkdir()
    (path / "nmnist_small.tar.gz").write_bytes(b"".join(parts))
    (path / "test100.txt").write_text("#sample #class\n60001\t7\n")


@pytest.mark.parametrize("big_first", [False, True])
def test_nmnist_archive_never_inflates_an_unlisted_huge_member(tmp_path, big_first):
    _nmnist_archive(tmp_path / "data", big_first)
    out, seconds, mb = _measure(textwrap.dedent(f"""
        from eventsnn.datasets import load_nmnist
        try:
            events, labels = load_nmnist("test", path={str(tmp_path / "data")!r})
            print("LOADED", len(events), labels.tolist(), events[0]["t"].tolist())
        except ValueError as error:
            print("ERROR", error)
    """))
    if big_first:  # met before the sample: refused by its declared size, not inflated
        assert "ERROR" in out and "member NMNISTsmall/huge.bs2 declares 1073741824 bytes" in out
    else:  # met after the last needed member: never reached
        assert "LOADED 1 [7] [0.258]" in out
    print(f"bomb: {seconds:.2f} s, {mb:.0f} MB peak resident")
    assert seconds < BOMB_SECONDS and mb < BOMB_MEGABYTES, (seconds, mb)


# ------------------------------------------------------------------------------ malformed .npz spike files

def _spike_file(tmp_path, **arrays):
    base = {"times": np.array([0.5, 1.0]), "neurons": np.array([0, 1]), "n_neurons": np.int64(2)}
    base.update(arrays)
    base = {k: v for k, v in base.items() if v is not None}
    path = tmp_path / "spikes.npz"
    np.savez(path, **base)
    return path


SPIKE_CASES = [
    ({"times": None}, "field 'times' is missing"),
    ({"n_neurons": None}, "field 'n_neurons' is missing"),
    ({"times": np.array([[0.5, 1.0]])}, "field 'times' has shape (1, 2), expected 1 dimension"),
    ({"times": np.array([1 + 2j, 3j])}, "field 'times' has dtype complex128"),
    ({"times": np.array([True, False])}, "field 'times' has dtype bool"),
    ({"neurons": np.array([0.0, 1.0])}, "field 'neurons' has dtype float64"),
    ({"n_neurons": np.array([2, 3])}, "field 'n_neurons' must be one integer"),
    ({"n_neurons": np.int64(-1)}, "field 'n_neurons' is -1"),
    ({"times": np.array([np.nan, 1.0])}, "times contains a non-finite value"),
    ({"neurons": np.array([0, 7])}, "neuron index 7, outside"),
    ({"times": np.array([2.0, 1.0])}, "times must be sorted"),
]


@pytest.mark.parametrize("arrays, fragment", SPIKE_CASES, ids=[f for _, f in SPIKE_CASES])
def test_malformed_spike_files_name_the_file_and_field(tmp_path, arrays, fragment):
    path = _spike_file(tmp_path, **arrays)
    with pytest.raises(FileFormatError) as info:
        SpikeTrains.load(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("damage, fragment", [
    (lambda raw: raw[:len(raw) // 2], "not a readable .npz"),
    (lambda raw: b"PK\x03\x04" + bytes(40), "not a readable .npz"),
    (lambda raw: b"plain text, not a zip", "not a readable .npz"),
])
def test_damaged_spike_archives_are_named(tmp_path, damage, fragment):
    path = _spike_file(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    for load in (SpikeTrains.load, SpikeBatch.load):
        with pytest.raises(FileFormatError) as info:
            load(path)
        assert str(path) in str(info.value) and fragment in str(info.value)


def test_npz_member_declaring_more_than_its_data_is_refused_before_allocating(tmp_path):
    import zipfile
    path = _spike_file(tmp_path)
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (999_999_999_999,)})
    member.write(np.array([0.5, 1.0]).tobytes())  # the data of 2 values, under a header of 10**12
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("times.npy", member.getvalue())  # a later member of the same name wins in zipfile
    with pytest.raises(FileFormatError, match=r"field 'times' declares shape \(999999999999,\) of float64"):
        SpikeTrains.load(path)


# ------------------------------------------------------------------------------ checkpoints and run files

SMALL = ["train", "yinyang", "--epochs", "1", "--hidden", "8", "--n-train", "32", "--n-test", "16", "--threads", "1",
         "--no-progress"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("files") / "run"
    assert main([*SMALL, "--out", str(out)]) == 0
    return out


def _header_with_run_id(run_id):
    """A stand-in for a header entry: the file's own JSON header with its metadata's run id replaced (None: the
    run id removed)."""
    def edit(header):
        header = json.loads(str(header[()]))
        header["metadata"] = {} if run_id is None else {"run_id": run_id}
        return np.array(json.dumps(header))
    return edit


def _rewrite(file, **changes):
    with np.load(file) as data:
        arrays = {k: data[k] for k in data.files}
    for key, value in changes.items():
        if callable(value):
            arrays[key] = value(arrays[key])
        elif value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(file, **arrays)


CHECKPOINT_CASES = [
    ({"optimizer_lr": np.float64(np.nan)}, "optimizer_lr"), ({"optimizer_lr": np.float64(-1e-3)}, "optimizer_lr"),
    ({"optimizer_t": np.int64(-4)}, "optimizer_t"), ({"epoch": np.int64(-5)}, "epoch"),
    ({"epoch": np.int64(3)}, "history"), ({"optimizer_m_0": np.zeros(3)}, "optimizer_m_0"),
    ({"optimizer_v_1": None}, "optimizer_v_1"), ({"optimizer_v_0": -np.ones((5, 8))}, "optimizer_v_0"),
    ({"optimizer_m_9": np.zeros(3)}, "optimizer_m_9"),
    ({"weight_0": np.full((5, 8), np.nan)}, "weight_0"), ({"weight_1": np.zeros((1,))}, "weight_1"),
    ({"weight_0": np.ones((5, 8), dtype=complex)}, "weight_0"), ({"rng_state": np.array("{}")}, "rng_state"),
    ({"history": np.array("[{")}, "history"), ({"config": np.array("[1]")}, "config"),
    ({"epoch": np.array([1.5])}, "epoch"), ({"run_id": None, "optimizer_t": None}, "optimizer_t"),
    ({"weight_1": np.full((8, 3), -1e200)}, "weight_1"),  # finite, but beyond what the network accepts
]


@pytest.mark.parametrize("changes, field", CHECKPOINT_CASES, ids=[f"{f}-{i}" for i, (_, f) in
                                                                  enumerate(CHECKPOINT_CASES)])
def test_bad_checkpoints_are_refused_naming_file_and_field_and_nothing_is_trained(finished, tmp_path, capsys,
                                                                                   changes, field):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    _rewrite(out / "checkpoint.npz", **changes)
    before = (out / "model.npz").read_bytes()
    assert main([*SMALL[:3], "2", *SMALL[4:], "--out", str(out), "--resume"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out / "checkpoint.npz") in err and field in err, err
    assert (out / "model.npz").read_bytes() == before
    assert len(json.loads((out / "metrics.json").read_text())) == 1


MODEL_CASES = [
    ({"weight_0": np.full((5, 8), np.nan)}, "weight_0"), ({"weight_0": np.ones((5, 8), dtype=bool)}, "weight_0"),
    ({"weight_0": np.ones((5, 8), dtype=complex)}, "weight_0"), ({"weight_1": np.ones((1,))}, "weight_1"),
    ({"weight_1": np.ones((8, 1))}, "weight_1"), ({"weight_0": None}, "weight_0"),
    ({"weight_2": np.ones((3, 3))}, "weight_2"), ({"readout_weight": np.ones((8, 3))}, "readout_weight"),
    ({"header": _header_with_run_id("f" * 32)}, "run_id"), ({"header": _header_with_run_id(None)}, "run_id"),
    ({"header": lambda header: np.array("{not json")}, "header"),
]


@pytest.mark.parametrize("changes, field", MODEL_CASES, ids=[f"{f}-{i}" for i, (_, f) in enumerate(MODEL_CASES)])
def test_bad_model_files_are_refused_before_the_task_is_built(finished, tmp_path, monkeypatch, changes, field):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    _rewrite(out / "model.npz", **changes)
    import eventsnn.tasks
    monkeypatch.setattr(eventsnn.tasks, "make_task", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(FileFormatError) as info:
        load_trained(out)
    assert str(out / "model.npz") in str(info.value) and field in str(info.value)


RUN_JSON_CASES = [
    (lambda info: "{not json", "not valid JSON"), (lambda info: [], "must hold a JSON object"),
    (lambda info: {**info, "task": "cifar"}, "'task'"), (lambda info: {**info, "seed": "0"}, "'seed'"),
    (lambda info: {**info, "seed": True}, "'seed'"), (lambda info: {**info, "n_train": -5}, "'n_train'"),
    (lambda info: {**info, "tau_mem": -1.0}, "'tau_mem'"), (lambda info: {**info, "network": ["5", "x"]}, "'network'"),
    (lambda info: {k: v for k, v in info.items() if k != "config"}, "'config'"),
    (lambda info: {**info, "config": {**info["config"], "bogus": 1}}, "'config'"),
]


@pytest.mark.parametrize("edit, fragment", RUN_JSON_CASES, ids=[f for _, f in RUN_JSON_CASES])
def test_bad_run_json_is_named(finished, tmp_path, monkeypatch, edit, fragment):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    edited = edit(json.loads((out / "run.json").read_text()))
    (out / "run.json").write_text(edited if isinstance(edited, str) else json.dumps(edited))
    import eventsnn.tasks
    monkeypatch.setattr(eventsnn.tasks, "make_task", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(FileFormatError) as info:
        load_trained(out)
    assert str(out / "run.json") in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("content, fragment", [("[{", "not valid JSON"), ("{}", "list of per-epoch dicts"),
                                               ('[{"epoch": -1}]', "'epoch'"), (b"\xff\xfe", "not UTF-8")])
def test_bad_metrics_are_named_and_the_summary_command_prints_one_line(tmp_path, capsys, content, fragment):
    (tmp_path / "metrics.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(FileFormatError) as info:
        read_run(tmp_path)
    assert str(tmp_path / "metrics.json") in str(info.value) and fragment in str(info.value)
    assert main(["summary", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("eventsnn: error: ") and len(err.splitlines()) == 1


def test_malformed_nmnist_list_and_event_files_are_named(tmp_path):
    from eventsnn.datasets import load_nmnist
    (tmp_path / "NMNISTsmall").mkdir()
    (tmp_path / "NMNISTsmall" / "60001.bs2").write_bytes(bytes(7))
    (tmp_path / "test100.txt").write_bytes(b"#h\n60001\t7\n")
    with pytest.raises(ValueError, match="60001.bs2: 7 bytes is not a multiple"):
        load_nmnist("test", path=tmp_path)
    (tmp_path / "test100.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="test100.txt: not a text list file"):
        load_nmnist("test", path=tmp_path)
    archive = tmp_path / "packed" / "nmnist_small.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("NMNISTsmall/test100.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(ValueError, match="test100.txt, line 1: expected"):
        load_nmnist("test", path=archive)


def test_an_npz_member_whose_declared_size_overflows_int64_is_refused_naming_the_file(tmp_path):
    # 2**62 x 4 bytes wraps to 0 in int64 arithmetic, which would match an empty member and skip the size check
    import io
    import zipfile

    from numpy.lib import format as npy_format

    from eventsnn._file_validation import open_npz
    header = io.BytesIO()
    npy_format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (2**62, 4)})
    path = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue())
    with pytest.raises(FileFormatError, match="declares shape") as info, open_npz(path) as data:
        data.array("x", kinds="u")
    assert str(path) in str(info.value)
