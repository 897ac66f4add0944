"""Published presets: ``eventprop`` follows EventProp's published scripts (commit 3cf602e) value for value, the
earlier draft keeps its own name, and a preset run trains, validates and resumes exactly."""

from dataclasses import replace

import numpy as np
import pytest

from eventsnn.datasets import load_mnist, load_yinyang
from eventsnn.encoders import drop_spikes, latency_encode
from eventsnn.tasks import PRESETS, make_task
from eventsnn.training import TrainConfig, Trainer


def test_yinyang_eventprop_preset_is_figure2():
    task = make_task("yinyang", n_train=6, n_test=2, preset="eventprop", seed=3)
    cfg = task.config
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.optimizer) == (100, 32, 5e-3, "adam")
    assert (cfg.lr_decay, cfg.lr_decay_every, cfg.lr_decay_start) == (0.95, 1, 2)
    assert (cfg.softmax_tau, cfg.early_weight, cfg.early_tau) == (0.5, 0.003, 6.4)  # tau0, alpha, tau1 in ms
    assert (cfg.grad_clip, cfg.silent_bump, cfg.input_jitter, cfg.input_dropout) == (0.0, 0.0, 0.0, 0.0)
    assert cfg.skip_silent_label
    neuron = task.net.populations[task.net.layer_names[0]].neuron
    assert (neuron.tau_mem, neuron.tau_syn, neuron.reset_current) == (20.0, 5.0, False)
    assert [w.shape for w in task.net.weights] == [(5, 200), (200, 3)]
    # inputs: coordinate v at 30 v ms, the bias (neuron 4) at 0 ms (eventprop/yinyang.py)
    samples, _ = load_yinyang("train")
    for k in range(6):
        spikes = task.train_inputs[k]
        by_neuron = dict(zip(spikes.neurons.tolist(), spikes.times.tolist()))
        assert by_neuron[4] == 0.0
        assert [by_neuron[j] for j in range(4)] == [30.0 * v for v in samples[k]]
    # initial weights: EventProp's GaussianDistribution(seed, mean, std), one default_rng(seed) per layer
    assert np.array_equal(task.net.weights[0], np.random.default_rng(3).normal(1.5, 0.78, (5, 200)))
    assert np.array_equal(task.net.weights[1], np.random.default_rng(3).normal(0.93, 0.1, (200, 3)))


def test_mnist_eventprop_preset_is_figure3():
    images, labels = load_mnist("train")
    task = make_task("mnist", n_train=12, n_validation=7, n_test=3, preset="eventprop", seed=2)
    cfg = task.config
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.loss) == (100, 5, 5e-3, "vmax")
    assert (cfg.lr_decay, cfg.lr_decay_every, cfg.lr_decay_start) == (0.95, 1, 2)
    assert (cfg.input_dropout, cfg.input_jitter, cfg.input_shift, cfg.grad_clip, cfg.silent_bump) == \
        (0.2, 0.0, 0, 0.0, 0.0)
    assert [w.shape for w in task.net.weights] == [(784, 350)] and task.readout.weights.shape == (350, 10)
    assert np.array_equal(task.net.weights[0], np.random.default_rng(2).normal(0.078, 0.045, (784, 350)))
    assert np.array_equal(task.readout.weights, np.random.default_rng(2).normal(0.2, 0.37, (350, 10)))
    # EventProp's split: the first 5000 training images validate, training starts at image 5000 (mnist.py)
    assert np.array_equal(task.validation_labels, labels[:7]) and np.array_equal(task.train_labels, labels[5000:5012])
    assert task.config.validation_split == "mnist train[0:5000] (first-5000)"
    # code: pixels > 1 (of 255) fire once at (1 - p) 20 ms
    expected = latency_encode(images[5000:5012].reshape(12, -1) / 255.0, t_max=20.0, threshold=1.0 / 255.0)
    assert np.array_equal(task.train_inputs.times, expected.times)
    first = task.train_inputs[0]
    assert set(first.neurons.tolist()) == set(np.flatnonzero(images[5000].ravel() > 1).tolist())


def test_the_draft_recipe_keeps_its_own_name():
    draft = make_task("yinyang", n_train=4, n_test=2, preset="eventprop-draft-2021-04").config
    assert (draft.epochs, draft.batch_size, draft.lr, draft.grad_clip) == (300, 256, 1e-2, 0.3)
    assert set(PRESETS["mnist"]) == {"eventprop", "eventprop-draft-2021-04", "antlr"}
    assert PRESETS["mnist"]["eventprop-draft-2021-04"]["config"]["batch_size"] == 128


def _toy_trainer(**settings):
    task = make_task("yinyang", hidden=10, n_train=8, n_test=4, validation=False, epochs=4)
    config = TrainConfig(epochs=4, batch_size=8, lr=1e-2, n_threads=1, progress=False, **settings)
    return Trainer(task.net, task.train_inputs, task.train_labels, config=config)


def test_lr_decay_start_skips_the_first_epochs_like_eventprop():
    trainer = _toy_trainer(lr_decay=0.5, lr_decay_start=2)
    lrs = []
    trainer.fit(on_epoch=lambda row: lrs.append(trainer.optimizer.lr))
    assert lrs == [1e-2, 1e-2 * 0.5, 1e-2 * 0.5 * 0.5, 1e-2 * 0.5 * 0.5 * 0.5]
    default = _toy_trainer(lr_decay=0.5)
    lrs = []
    default.fit(on_epoch=lambda row: lrs.append(default.optimizer.lr))
    assert lrs[0] == 1e-2 * 0.5


def test_drop_spikes_drops_each_spike_with_probability_p():
    batch = latency_encode(np.full((200, 50), 0.5))
    dropped = drop_spikes(batch, 0.2, seed=1)
    assert abs(1 - dropped.times.size / batch.times.size - 0.2) < 0.01
    for k in (0, 7, 199):  # kept spikes are a subset, in order
        a, b = batch[k], dropped[k]
        assert set(zip(b.neurons.tolist(), b.times.tolist())) <= set(zip(a.neurons.tolist(), a.times.tolist()))
    same = drop_spikes(batch, 0.0, seed=1)
    assert np.array_equal(same.times, batch.times) and np.array_equal(same.offsets, batch.offsets)
    with pytest.raises(ValueError, match="p must be < 1"):
        drop_spikes(batch, 1.0, seed=1)
    with pytest.raises(ValueError, match="input_dropout"):
        TrainConfig(input_dropout=1.0)


def test_input_dropout_acts_on_training_only():
    trainer = _toy_trainer(input_dropout=0.5)
    plain = _toy_trainer()
    trainer.fit()
    plain.fit()
    assert not np.array_equal(trainer.net.weights[0], plain.net.weights[0])
    # evaluation of the trained network is deterministic: nothing is dropped
    a = trainer.evaluate(trainer.train_inputs, trainer.train_labels)
    b = trainer.evaluate(trainer.train_inputs, trainer.train_labels)
    assert a.loss == b.loss and a.spikes_per_sample == b.spikes_per_sample


def _history_without_times(history):
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in history]


@pytest.mark.parametrize("task_name, sizes", [("yinyang", {"n_train": 40, "n_validation": 16, "n_test": 16}),
                                              ("mnist", {"n_train": 15, "n_validation": 5, "n_test": 5, "hidden": 20})])
def test_eventprop_preset_run_validates_and_resumes_exactly(tmp_path, task_name, sizes):
    def run(epochs, out, resume=False):
        task = make_task(task_name, preset="eventprop", epochs=epochs, seed=1, **sizes)
        trainer = Trainer(task.net, task.train_inputs, task.train_labels, task.test_inputs, task.test_labels,
                          config=replace(task.config, n_threads=1, progress=False), readout=task.readout,
                          out_dir=str(out), resume=resume,
                          validation_inputs=task.validation_inputs, validation_labels=task.validation_labels)
        trainer.fit()
        return trainer

    straight = run(2, tmp_path / "straight")
    run(1, tmp_path / "split")
    resumed = run(2, tmp_path / "split", resume=True)
    assert "val_accuracy" in straight.history[0] and "val_silent_fraction" in straight.history[1]
    assert "test_accuracy" in straight.history[1]
    # the first part's last row was its final evaluation (test included); the resumed run continues from it
    assert _history_without_times(resumed.history[1:]) == _history_without_times(straight.history[1:])
    for a, b in zip(straight.parameters, resumed.parameters):
        assert np.array_equal(a, b)


def _label_silent_trainer(skip: bool) -> Trainer:
    """Output 0 fires for every sample, outputs 1 and 2 never do, and every label is 1."""
    task = make_task("yinyang", hidden=10, n_train=16, n_test=4, validation=False)
    weights = task.net.weights
    weights[1][:, 0] = 2.0
    weights[1][:, 1:] = -2.0
    task.net.set_weights(weights)
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-2, n_threads=1, progress=False, silent_bump=0.0,
                         softmax_tau=0.5, skip_silent_label=skip)
    return Trainer(task.net, task.train_inputs, np.ones(16, dtype=np.int64), config=config)


def test_skip_silent_label_takes_no_gradient_from_a_sample_whose_label_is_silent():
    skipping, pushing = _label_silent_trainer(True), _label_silent_trainer(False)
    before = [w.copy() for w in skipping.net.weights]
    assert skipping.fit()[0]["train_silent_label_fraction"] == 1.0
    pushing.fit()
    assert all(np.array_equal(a, b) for a, b in zip(before, skipping.net.weights))
    assert not np.array_equal(before[1], pushing.net.weights[1])  # the default pushes output 0 later
    assert make_task("yinyang", n_train=2, n_test=2, preset="eventprop").config.skip_silent_label
    with pytest.raises(ValueError, match="skip_silent_label applies to loss='first_spike' only"):
        TrainConfig(loss="latency", skip_silent_label=True)
