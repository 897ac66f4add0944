"""Atomic writes: complete files only, usual permissions, the old file kept on failure."""

import json
import os
import stat

import numpy as np
import pytest

import eventsnn as es
from eventsnn._atomic import atomic_write, umask, write_json


def test_new_files_get_the_usual_permissions_and_replacements_keep_theirs(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, [{"epoch": 1}])
    assert json.loads(target.read_text()) == [{"epoch": 1}]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~umask()  # not mkstemp's 0600
    os.chmod(target, 0o640)
    write_json(target, [{"epoch": 2}])
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    spikes = tmp_path / "spikes.npz"
    es.SpikeTrains([1.0], [0], 1).save(spikes)
    assert stat.S_IMODE(os.stat(spikes).st_mode) == 0o666 & ~umask()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "checkpoint.npz"
    with atomic_write(target) as handle:
        np.savez(handle, a=np.arange(3))
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"half")
            raise RuntimeError("crash mid-write")
    with np.load(target) as data:
        assert data["a"].tolist() == [0, 1, 2]
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def test_bad_mode_and_missing_directory_are_named(tmp_path):
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(tmp_path / "x", "a"):
            pass
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_json(tmp_path / "missing" / "x.json", {})
