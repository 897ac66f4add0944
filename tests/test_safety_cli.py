"""Issue 19, class 2 (CLI part): every numeric or choice option is checked before any work, errors are one line
``eventsnn: error: ...`` naming the option, and training stops on a non-finite loss or weights."""

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from eventsnn.cli import main
from eventsnn.tasks import make_task
from eventsnn.training import Trainer, TrainingDivergedError

BAD_OPTIONS = [
    (["--epochs", "0"], "--epochs"), (["--epochs", "-3"], "--epochs"), (["--epochs", "2.5"], "--epochs"),
    (["--hidden", "0"], "--hidden"), (["--hidden", "-1"], "--hidden"),
    (["--n-train", "-5"], "--n-train"), (["--n-train", "0"], "--n-train"), (["--n-test", "0"], "--n-test"),
    (["--threads", "0"], "--threads"), (["--threads", "-2"], "--threads"), (["--batch-size", "0"], "--batch-size"),
    (["--lr", "0"], "--lr"), (["--lr", "-1"], "--lr"), (["--lr", "nan"], "--lr"), (["--lr", "inf"], "--lr"),
    (["--seed", "-1"], "--seed"), (["--seed", "x"], "--seed"),
    (["--tau-mem", "0"], "--tau-mem"), (["--tau-syn", "nan"], "--tau-syn"),
    (["--spike-penalty", "-1"], "--spike-penalty"), (["--grad-clip", "nan"], "--grad-clip"),
    (["--method", "magic"], "--method"), (["--loss", "l2"], "--loss"), (["--preset", "x"], "--preset"),
    (["--resume", "--overwrite"], "--overwrite"),
]


@pytest.mark.parametrize("argv, option", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_options_are_one_line_naming_the_option_and_start_no_work(tmp_path, capsys, argv, option):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "yinyang", "--out", str(out), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("eventsnn: error: ") and len(err.splitlines()) == 1 and option in err
    assert not out.exists()  # nothing was loaded, created or trained


BAD_SETTINGS = [
    (["--set", "epochs=0"], "epochs"), (["--set", "batch_size=-1"], "batch_size"), (["--set", "lr=nan"], "lr"),
    (["--set", "t_max=-5"], "t_max"), (["--set", "lr_decay_every=0"], "lr_decay_every"),
    (["--set", "optimizer=rmsprop"], "optimizer"), (["--option", "form=grid"], "method_options"),
]


@pytest.mark.parametrize("argv, field", BAD_SETTINGS, ids=[" ".join(a) for a, _ in BAD_SETTINGS])
def test_bad_settings_fail_before_data_or_directory(tmp_path, capsys, argv, field):
    out = tmp_path / "run"
    assert main(["train", "yinyang", "--out", str(out), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("eventsnn: error: ") and len(err.splitlines()) == 1 and field in err
    assert not out.exists()


def test_more_samples_than_the_split_holds_is_an_error_not_a_silent_cap(tmp_path, capsys):
    assert main(["train", "yinyang", "--n-train", "10000", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert "n_train=10000 exceeds the 5000 samples" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.parametrize("kwargs, name", [({"hidden": 0}, "hidden"), ({"epochs": 0}, "epochs"),
                                          ({"n_train": -5}, "n_train"), ({"n_test": 0}, "n_test"),
                                          ({"seed": -1}, "seed"), ({"tau_mem": float("nan")}, "tau_mem")])
def test_make_task_rejects_counts_that_would_mean_something_else(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_task("yinyang", **kwargs)


def _small_trainer(out_dir):
    task = make_task("yinyang", hidden=8, n_train=32, n_test=16, epochs=2)
    return Trainer(task.net, task.train_inputs, task.train_labels, task.test_inputs, task.test_labels,
                   config=replace(task.config, progress=False, n_threads=1), out_dir=str(out_dir))


def test_non_finite_weights_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path, monkeypatch):
    trainer = _small_trainer(tmp_path)
    trainer.config = replace(trainer.config, epochs=1)
    trainer.fit()
    good = (tmp_path / "checkpoint.npz").read_bytes()
    trainer.config = replace(trainer.config, epochs=2)
    step = trainer.optimizer.step

    def poisoned(params, grads, scales=None):  # an optimizer step that blows up, as a huge gradient would
        step(params, grads, scales)
        params[0][0, 0] = np.nan
    monkeypatch.setattr(trainer.optimizer, "step", poisoned)
    with pytest.raises(TrainingDivergedError) as info:
        trainer.fit()
    message = str(info.value)
    assert "epoch 2, batch 1/" in message and "weights[0]" in message and "epoch 1" in message
    assert str(tmp_path / "checkpoint.npz") in message
    assert (tmp_path / "checkpoint.npz").read_bytes() == good  # the last good checkpoint, untouched
    assert len(json.loads((tmp_path / "metrics.json").read_text())) == 1


def test_non_finite_loss_stops_the_run_before_anything_is_written(tmp_path, monkeypatch):
    trainer = _small_trainer(tmp_path)
    step = trainer.train_step
    monkeypatch.setattr(trainer, "train_step", lambda batch: {**step(batch), "loss": float("nan")})
    with pytest.raises(TrainingDivergedError, match="the loss is nan; no checkpoint was written"):
        trainer.fit()
    assert not os.path.exists(tmp_path / "checkpoint.npz")


def test_cli_reports_divergence_in_one_line(tmp_path, capsys, monkeypatch):
    from eventsnn import training

    def diverge(self, loss, batch, n_batches):
        raise TrainingDivergedError(f"training diverged in epoch 1, batch {batch}/{n_batches}: the loss is nan")
    monkeypatch.setattr(training.Trainer, "_check_finite", diverge)
    code = main(["train", "yinyang", "--epochs", "1", "--hidden", "8", "--n-train", "32", "--n-test", "16",
                 "--threads", "1", "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == "eventsnn: error: training diverged in epoch 1, batch 1/1: the loss is nan"
    assert not (tmp_path / "run" / ".eventsnn.lock").exists()  # the lock is released on errors


@pytest.mark.parametrize("raised, code, fragment", [
    (MemoryError("Unable to allocate 29.2 GiB"), 1, "eventsnn: error: out of memory (Unable to allocate 29.2 GiB)"),
    (KeyboardInterrupt(), 130, "eventsnn: interrupted (resume with --resume)"),
])
def test_memory_exhaustion_and_ctrl_c_are_one_line_and_release_the_lock(tmp_path, capsys, monkeypatch, raised, code,
                                                                        fragment):
    import eventsnn.tasks

    def fail(*args, **kwargs):
        raise raised
    monkeypatch.setattr(eventsnn.tasks, "make_task", fail)
    out = tmp_path / "run"
    assert main(["train", "yinyang", "--hidden", "1000000000", "--out", str(out)]) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(fragment)
    assert not (out / ".eventsnn.lock").exists()
