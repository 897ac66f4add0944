"""Validation splits: disjoint from training and test, fixed across runs, and the only data a selecting run reads
before its final evaluation (a spy on the test set)."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from eventsnn.datasets import load_mnist, load_yinyang
from eventsnn.datasets.splits import HOLD_OUT_RULES, hold_out
from eventsnn.encoders import latency_encode
from eventsnn.spikes import SpikeBatch
from eventsnn.tasks import make_task
from eventsnn.training import TrainConfig, Trainer


@pytest.mark.parametrize("rule, n", [("last-10000", 60000), ("first-5000", 60000), ("last-tenth", 1000),
                                     ("last-tenth", 60000), ("last-tenth", 37)])
def test_hold_out_rules_are_disjoint_cover_the_split_and_never_change(rule, n):
    train, validation = hold_out(rule, n)
    assert np.intersect1d(train, validation).size == 0
    assert np.array_equal(np.union1d(train, validation), np.arange(n))
    assert validation.size > 0 and train.size > 0
    again_train, again_validation = hold_out(rule, n)
    assert np.array_equal(train, again_train) and np.array_equal(validation, again_validation)


def test_hold_out_sizes_are_the_documented_ones():
    assert [a.size for a in hold_out("last-10000", 60000)] == [50000, 10000]
    assert hold_out("last-10000", 60000)[1][0] == 50000
    assert hold_out("first-5000", 60000)[1].tolist() == list(range(5000))
    assert hold_out("last-tenth", 1000)[1].tolist() == list(range(900, 1000))
    assert hold_out("last-tenth", 60000)[1].size == 10000


def test_hold_out_rejects_unknown_rules_and_too_small_splits():
    with pytest.raises(ValueError, match="rule"):
        hold_out("random", 100)
    with pytest.raises(ValueError, match="at least 10001"):
        hold_out("last-10000", 10000)
    assert set(HOLD_OUT_RULES) == {"last-10000", "first-5000", "last-tenth"}


def _rows(samples):
    return {tuple(row) for row in np.asarray(samples).tolist()}


def test_yinyang_validation_is_the_published_set_disjoint_from_train_and_test():
    task = make_task("yinyang", n_train=30, n_test=10)
    x_val, y_val = load_yinyang("validation")
    assert len(task.validation_inputs) == 1000 and np.array_equal(task.validation_labels, y_val)
    x_train, _ = load_yinyang("train")
    x_test, _ = load_yinyang("test")
    assert not _rows(x_val) & _rows(x_train) and not _rows(x_val) & _rows(x_test)
    # the training set is the same with or without validation (the split is a separate published set)
    plain = make_task("yinyang", n_train=30, n_test=10, validation=False)
    assert plain.validation_inputs is None and plain.selection["split"] == "none"
    assert np.array_equal(plain.train_inputs.times, task.train_inputs.times)


def test_mnist_validation_is_the_last_10000_training_images_and_training_keeps_the_first_50000():
    images, labels = load_mnist("train")
    task = make_task("mnist", n_train=40, n_validation=30, n_test=5)
    expected_val = latency_encode(images[50000:50030].reshape(30, -1) / 255.0, t_max=20.0, threshold=0.1)
    expected_train = latency_encode(images[:40].reshape(40, -1) / 255.0, t_max=20.0, threshold=0.1)
    assert np.array_equal(task.validation_inputs.times, expected_val.times)
    assert np.array_equal(task.validation_inputs.neurons, expected_val.neurons)
    assert np.array_equal(task.validation_labels, labels[50000:50030])
    assert np.array_equal(task.train_inputs.times, expected_train.times)
    assert task.config.validation_split == "mnist train[50000:60000] (last-10000)"
    # training never reaches into the held-out block: the whole training part is the first 50,000 images
    whole = make_task("mnist", n_validation=1, n_test=1)
    assert len(whole.train_inputs) == 50000


def test_validation_split_is_fixed_across_runs_and_seeds():
    a = make_task("yinyang", n_train=10, n_validation=50, n_test=5, seed=0)
    b = make_task("yinyang", n_train=10, n_validation=50, n_test=5, seed=7)
    assert np.array_equal(a.validation_inputs.times, b.validation_inputs.times)
    assert np.array_equal(a.validation_labels, b.validation_labels)


def test_nmnist_validation_is_the_last_tenth_of_the_training_subset():
    from eventsnn.datasets import load_nmnist
    _, labels = load_nmnist("train")
    task = make_task("nmnist", n_train=8, n_validation=5, n_test=4)
    assert np.array_equal(task.validation_labels, labels[900:905])
    assert np.array_equal(task.train_labels, labels[:8])
    assert task.config.validation_split == "nmnist train[900:1000] (last-tenth)"


def test_make_task_checks_validation_arguments():
    with pytest.raises(ValueError, match="n_validation needs validation=True"):
        make_task("yinyang", n_validation=5, validation=False)
    with pytest.raises(ValueError, match="n_validation=2000 exceeds the 1000 samples of the yinyang validation"):
        make_task("yinyang", n_train=5, n_test=5, n_validation=2000)
    with pytest.raises(TypeError, match="validation must be a bool"):
        make_task("yinyang", validation="yes")


class SpyBatch(SpikeBatch):
    """A SpikeBatch that logs the trainer's epoch whenever its spikes are read (once armed)."""

    def __init__(self, batch, log):
        object.__setattr__(self, "_log", log)
        super().__init__(batch.times, batch.neurons, batch.offsets, batch.n_neurons)

    def __getattribute__(self, name):
        if name in ("times", "neurons", "offsets"):
            log = object.__getattribute__(self, "_log")
            if log["trainer"] is not None:
                log["epochs"].append(log["trainer"].epoch)
        return object.__getattribute__(self, name)


def _spied_trainer(validation: bool, epochs: int = 3):
    task = make_task("yinyang", hidden=12, n_train=24, n_validation=12, n_test=12, epochs=epochs)
    test_log = {"trainer": None, "epochs": []}
    val_log = {"trainer": None, "epochs": []}
    config = replace(task.config, n_threads=1, progress=False)
    trainer = Trainer(task.net, task.train_inputs, task.train_labels, SpyBatch(task.test_inputs, test_log),
                      task.test_labels, config=config,
                      validation_inputs=SpyBatch(task.validation_inputs, val_log) if validation else None,
                      validation_labels=task.validation_labels if validation else None)
    test_log["trainer"] = val_log["trainer"] = trainer
    return trainer, test_log, val_log


def test_trainer_reads_test_data_only_after_the_last_epoch_when_validating():
    trainer, test_log, val_log = _spied_trainer(validation=True)
    history = trainer.fit()
    # every read of the test spikes happens once all 3 epochs are done; validation is read after every epoch
    assert test_log["epochs"] and set(test_log["epochs"]) == {3}
    assert set(val_log["epochs"]) == {1, 2, 3}
    assert all("test_accuracy" not in row for row in history[:-1]) and "test_accuracy" in history[-1]
    for key in ("val_loss", "val_accuracy", "val_spikes_per_sample", "val_silent_fraction"):
        assert all(key in row for row in history), key
    assert len(history[0]["val_spikes_per_sample"]) == 2


def test_trainer_without_validation_still_reports_test_every_epoch():
    trainer, test_log, _ = _spied_trainer(validation=False)
    history = trainer.fit()
    assert set(test_log["epochs"]) == {1, 2, 3}
    assert all("test_accuracy" in row and "val_accuracy" not in row for row in history)


def test_validation_does_not_change_training(tmp_path):
    """Evaluating a validation set reads no random numbers: weights are bit-identical with and without it."""
    with_val, _, _ = _spied_trainer(validation=True, epochs=2)
    without, _, _ = _spied_trainer(validation=False, epochs=2)
    with_val.fit()
    without.fit()
    for a, b in zip(with_val.net.weights, without.net.weights):
        assert np.array_equal(a, b)


def test_checkpoint_without_validation_split_resumes_only_without_validation(tmp_path):
    task = make_task("yinyang", hidden=8, n_train=16, n_test=8, epochs=1, validation=False)
    Trainer(task.net, task.train_inputs, task.train_labels, config=replace(task.config, n_threads=1, progress=False),
            out_dir=str(tmp_path)).fit()
    validating = make_task("yinyang", hidden=8, n_train=16, n_test=8, n_validation=8, epochs=2)
    with pytest.raises(ValueError, match="validation_split.*--no-validation"):
        Trainer(validating.net, validating.train_inputs, validating.train_labels,
                config=replace(validating.config, n_threads=1, progress=False), out_dir=str(tmp_path), resume=True)
    plain = make_task("yinyang", hidden=8, n_train=16, n_test=8, epochs=2, validation=False)
    assert Trainer(plain.net, plain.train_inputs, plain.train_labels,
                   config=replace(plain.config, n_threads=1, progress=False), out_dir=str(tmp_path),
                   resume=True).epoch == 1


def test_config_checks_validation_split_type():
    with pytest.raises(TypeError, match="validation_split"):
        TrainConfig(validation_split=None)


def test_cli_records_the_selection_in_run_json(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "eventsnn", "train", "yinyang", "--epochs", "2", "--hidden", "10",
                             "--n-train", "16", "--n-validation", "8", "--n-test", "8", "--threads", "1",
                             "--no-progress", "--out", str(out)], check=False, capture_output=True, text=True,
                             timeout=300)
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["selection"]["split"] == "validation" and info["n_validation"] == 8
    assert info["config"]["validation_split"].startswith("yinyang validation")
    history = json.loads((out / "metrics.json").read_text())
    assert "val_accuracy" in history[0] and "test_accuracy" not in history[0] and "test_accuracy" in history[1]
    from eventsnn.runs import load_trained
    rebuilt = load_trained(out)
    assert len(rebuilt.validation_inputs) == 8


def test_run_directories_of_versions_without_validation_rebuild_as_they_were_trained(tmp_path):
    """An older run.json has no "selection": it trained on the whole training set, and its preset "eventprop" is
    the one now called "eventprop-draft-2021-04"."""
    out = tmp_path / "old"
    result = subprocess.run([sys.executable, "-m", "eventsnn", "train", "yinyang", "--epochs", "1", "--hidden", "10",
                             "--n-train", "16", "--n-test", "8", "--threads", "1", "--no-progress", "--no-validation",
                             "--preset", "eventprop-draft-2021-04", "--out", str(out)], check=False,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["selection"]["split"] == "none"
    del info["selection"], info["n_validation"]
    info["preset"] = "eventprop"
    (out / "run.json").write_text(json.dumps(info))
    from eventsnn.runs import load_trained
    rebuilt = load_trained(out)
    assert rebuilt.validation_inputs is None
    first = rebuilt.test_inputs[0]
    assert first.times[first.neurons == 4].tolist() == [20.0]  # the draft's bias spike, not EventProp's 0 ms
