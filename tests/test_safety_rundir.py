"""Issue 19, class 4: a run directory is owned by one run (lock, no silent overwrite, run id, clean temporaries),
and disk-full or permission errors are one-line CLI messages."""

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from eventsnn import rundir
from eventsnn._file_validation import FileFormatError
from eventsnn.cli import main
from eventsnn.runs import load_trained

SMALL = ["train", "yinyang", "--epochs", "1", "--hidden", "8", "--n-train", "32", "--n-test", "16", "--threads", "1",
         "--no-progress"]


def _train(out, *extra):
    return main([*SMALL, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert _train(out) == 0
    return out


def _copy(finished, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(finished, target)
    return target


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_finished_run_is_recognisable_and_its_files_share_one_run_id(finished):
    assert rundir.run_state(finished) == "finished" and not (finished / rundir.LOCK_NAME).exists()
    info = json.loads((finished / "run.json").read_text())
    with np.load(finished / "model.npz") as model, np.load(finished / "checkpoint.npz") as checkpoint:
        model_run_id = json.loads(str(model["header"][()]))["metadata"]["run_id"]
        assert model_run_id == str(checkpoint["run_id"]) == info["run_id"] and len(info["run_id"]) == 32


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, capsys):
    out = tmp_path / "run"
    with rundir.acquire(out):
        assert _train(out) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"in use by process {os.getpid()}" in err and "another --out" in err
    assert rundir.run_state(out) == "empty"  # nothing was written by the refused run


def test_a_stale_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / rundir.LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    with rundir.prepare(out, "new") as lock:
        assert json.loads((out / rundir.LOCK_NAME).read_text())["pid"] == os.getpid() and lock.held
    assert not (out / rundir.LOCK_NAME).exists()


@pytest.mark.parametrize("content, fragment", [
    (json.dumps({"pid": 1, "host": "elsewhere.example", "since": "2026-12-01"}), "host elsewhere.example"),
    ("not json", "cannot be read"),
])
def test_a_lock_that_cannot_be_judged_stale_is_refused_with_a_recovery_hint(tmp_path, content, fragment):
    out = tmp_path / "run"
    out.mkdir()
    (out / rundir.LOCK_NAME).write_text(content)
    with pytest.raises(rundir.RunDirectoryError) as info:
        rundir.prepare(out, "resume")
    assert fragment in str(info.value) and "delete the lock" in str(info.value)


def test_an_existing_run_needs_resume_or_overwrite(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    before = (out / "model.npz").read_bytes()
    assert _train(out) == 1
    err = capsys.readouterr().err.strip()
    assert "already holds a finished run" in err and "--resume" in err and "--overwrite" in err
    assert (out / "model.npz").read_bytes() == before
    old_id = json.loads((out / "run.json").read_text())["run_id"]
    assert _train(out, "--overwrite") == 0
    assert json.loads((out / "run.json").read_text())["run_id"] != old_id
    new_id = json.loads((out / "run.json").read_text())["run_id"]
    assert main([*SMALL[:3], "2", *SMALL[4:], "--out", str(out), "--resume"]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["run_id"] == new_id and info["resumed"][0]["at_epoch"] == 1 and rundir.run_state(out) == "finished"


def test_stale_temporaries_of_killed_writes_are_removed(finished, tmp_path):
    out = _copy(finished, tmp_path)
    stale = [out / ".checkpoint.a1b2c3d4.tmp.npz", out / ".metrics.zz_9x8y7.tmp.json"]
    for file in stale:
        file.write_bytes(b"half a file")
    (out / "notes.txt").write_text("kept")
    with rundir.prepare(out, "resume"):
        pass
    assert not any(f.exists() for f in stale) and (out / "notes.txt").exists()


def test_resuming_refuses_a_checkpoint_of_another_run(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    info = json.loads((out / "run.json").read_text())
    info["run_id"] = "0" * 32
    (out / "run.json").write_text(json.dumps(info))
    assert _train(out, "--resume") == 1
    err = capsys.readouterr().err.strip()
    assert "checkpoint.npz: field 'run_id'" in err and "another run" in err


def test_load_trained_refuses_files_of_two_runs(finished, tmp_path):
    a = _copy(finished, tmp_path)
    b = tmp_path / "other"
    assert _train(b) == 0
    shutil.copy(b / "model.npz", a / "model.npz")
    with pytest.raises(FileFormatError, match="belong to different runs"):
        load_trained(a)


@pytest.mark.parametrize("where, error", [
    ("fsync", OSError(errno.ENOSPC, "No space left on device")),
    ("mkstemp", PermissionError(errno.EACCES, "Permission denied")),
])
def test_disk_full_and_permission_errors_are_one_line(tmp_path, capsys, monkeypatch, where, error):
    from eventsnn import _atomic

    def fail(*args, **kwargs):
        raise error
    if where == "fsync":
        monkeypatch.setattr(_atomic.os, "fsync", fail)
    else:
        monkeypatch.setattr(_atomic.tempfile, "mkstemp", fail)
    out = tmp_path / "run"
    assert _train(out) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("eventsnn: error: cannot write ")
    assert error.strerror in err and str(out) in err
    assert not [n for n in os.listdir(out) if n.endswith(".tmp.json")]  # no temporary left behind
    assert not (out / rundir.LOCK_NAME).exists()


def test_the_cli_never_shows_a_traceback_for_a_full_disk(tmp_path):
    """End to end in a subprocess: ENOSPC from the kernel (writing to /dev/full) gives one line and exit 1."""
    script = ("import os, sys; from eventsnn import _atomic\n"
              "real = _atomic.os.fsync\n"
              "def fsync(fd):\n"
              "    with open('/dev/full', 'wb') as full:\n"
              "        full.write(b'x'); full.flush()\n"
              "_atomic.os.fsync = fsync\n"
              "from eventsnn.cli import main; sys.exit(main(sys.argv[1:]))\n")
    result = subprocess.run([sys.executable, "-c", script, *SMALL, "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": os.getcwd()}, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "No space left on device" in result.stderr


def test_train_run_trains_into_a_directory_resuming_if_present(tmp_path, capsys):
    from eventsnn.cli import train_run
    out = tmp_path / "run"
    options = SMALL[2:]
    assert train_run("yinyang", out, *options) == 0 and rundir.run_state(out) == "finished"
    first = json.loads((out / "run.json").read_text())
    assert train_run("yinyang", out, "--epochs", "2", *options[2:]) == 0
    again = json.loads((out / "run.json").read_text())
    assert again["run_id"] == first["run_id"] and again["resumed"][0]["at_epoch"] == 1
    assert len(json.loads((out / "metrics.json").read_text())) == 2
    assert train_run("yinyang", out, *options, mode="new") == 1
    assert train_run("yinyang", out, "--epochs", "0", mode="new") == 2
    assert "already holds a finished run" in capsys.readouterr().err


def test_two_real_processes_on_one_out_the_second_is_refused(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    first = subprocess.Popen([sys.executable, "-m", "eventsnn", *SMALL[:3], "50", *SMALL[4:], "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (out / rundir.LOCK_NAME).exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        second = subprocess.run([sys.executable, "-m", "eventsnn", *SMALL, "--out", str(out), "--resume"],
                                capture_output=True, text=True, timeout=300, env=env, check=False)
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [second.stderr.strip()]
    assert f"in use by process {first.pid}" in second.stderr
    # the killed first writer left a stale lock: the next run takes it over (after --overwrite of its files)
    assert _train(out, "--overwrite") == 0 and rundir.run_state(out) == "finished"


def test_the_model_file_of_a_run_is_a_saved_model_that_eventsnn_load_reads(finished):
    import eventsnn as es
    from eventsnn.runs import load_trained

    model, task = es.load(finished / "model.npz"), load_trained(finished)
    assert model.header["metadata"]["run_id"] == json.loads((finished / "run.json").read_text())["run_id"]
    assert len(model.network.weights) == len(task.net.weights)
    for saved, trained in zip(model.network.weights, task.net.weights):
        assert np.array_equal(saved, trained)
