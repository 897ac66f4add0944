"""Initialisation and input code taken from a preset or from eventsnn independently (``make_task(init=...,
input_code=...)``, ``eventsnn train --init / --input-code``, sweep settings), so that an ablation can vary one and
keep the other; without them a task is exactly what it was."""

import contextlib
import io
import json
import os

import numpy as np
import pytest

from eventsnn import cli
from eventsnn.datasets import load_mnist, load_yinyang
from eventsnn.encoders import latency_encode
from eventsnn.sweep_spec import SpecError, spec_from_dict
from eventsnn.tasks import MNIST_CODE, PRESETS, RECIPE_PARTS, make_task, task_recipe

SMALL = {"n_train": 12, "n_test": 4, "n_validation": 6}


def _same_task(a, b) -> bool:
    """Equal networks, inputs, labels and training settings."""
    same = all(np.array_equal(x, y) for x, y in zip(a.net.weights, b.net.weights)) and \
        len(a.net.weights) == len(b.net.weights) and a.config == b.config
    for part in ("train_inputs", "test_inputs", "validation_inputs"):
        x, y = getattr(a, part), getattr(b, part)
        same &= np.array_equal(x.times, y.times) and np.array_equal(x.neurons, y.neurons) and \
            np.array_equal(x.offsets, y.offsets)
    if a.readout is not None or b.readout is not None:
        same &= np.array_equal(a.readout.weights, b.readout.weights)
    return bool(same)


def _coordinates(task, k):
    spikes = task.train_inputs[k]
    return dict(zip(spikes.neurons.tolist(), spikes.times.tolist()))


@pytest.mark.parametrize("name, preset", [(name, preset) for name in PRESETS for preset in PRESETS[name]])
def test_the_preset_own_parts_asked_for_explicitly_change_nothing(name, preset):
    recipe = PRESETS[name][preset]
    parts = {part: "preset" for part, keys in RECIPE_PARTS.items() if any(key in recipe for key in keys)}
    assert _same_task(make_task(name, preset=preset, seed=1, **SMALL),
                      make_task(name, preset=preset, seed=1, **SMALL, **parts))


@pytest.mark.parametrize("name", ["yinyang", "mnist"])
def test_eventsnn_parts_without_a_preset_change_nothing(name):
    assert _same_task(make_task(name, seed=2, **SMALL),
                      make_task(name, seed=2, init="eventsnn", input_code="eventsnn", **SMALL))


def test_yinyang_eventprop_with_eventsnn_initialisation_keeps_eventprop_code():
    task = make_task("yinyang", preset="eventprop", init="eventsnn", seed=3, **SMALL)
    # eventsnn's init_weights for the preset's network and neuron (200 hidden, tau_mem 20 ms, tau_syn 5 ms)
    plain = make_task("yinyang", hidden=200, tau_mem=20.0, tau_syn=5.0, seed=3, **SMALL)
    assert all(np.array_equal(a, b) for a, b in zip(task.net.weights, plain.net.weights))
    assert not np.array_equal(task.net.weights[0], np.random.default_rng(3).normal(1.5, 0.78, (5, 200)))
    # EventProp's code: coordinate v at 30 v ms, bias at 0 ms
    samples, _ = load_yinyang("train")
    for k in range(3):
        spikes = _coordinates(task, k)
        assert spikes[4] == 0.0 and [spikes[j] for j in range(4)] == [30.0 * v for v in samples[k]]
    # EventProp's rules and schedule otherwise
    assert task.config == make_task("yinyang", preset="eventprop", seed=3, **SMALL).config


def test_yinyang_eventprop_with_eventsnn_input_code_keeps_eventprop_initialisation():
    task = make_task("yinyang", preset="eventprop", input_code="eventsnn", seed=3, **SMALL)
    assert np.array_equal(task.net.weights[0], np.random.default_rng(3).normal(1.5, 0.78, (5, 200)))
    assert np.array_equal(task.net.weights[1], np.random.default_rng(3).normal(0.93, 0.1, (200, 3)))
    plain = make_task("yinyang", seed=3, **SMALL)  # eventsnn's code: coordinates over 2-30 ms, bias at 0 ms
    assert np.array_equal(task.train_inputs.times, plain.train_inputs.times)
    assert np.array_equal(task.validation_inputs.times, plain.validation_inputs.times)
    assert not np.array_equal(task.train_inputs.times,
                              make_task("yinyang", preset="eventprop", seed=3, **SMALL).train_inputs.times)
    assert task.config == make_task("yinyang", preset="eventprop", seed=3, **SMALL).config


def test_mnist_eventprop_parts_split():
    images, _ = load_mnist("train")
    coded = make_task("mnist", preset="eventprop", input_code="eventsnn", seed=2, **SMALL)
    # eventsnn's code on EventProp's split (training from image 5000): pixels p > 0.1 at (1 - p) 20 ms
    expected = latency_encode(images[5000:5012].reshape(12, -1) / 255.0, t_max=MNIST_CODE[0],
                              threshold=MNIST_CODE[1])
    assert np.array_equal(coded.train_inputs.times, expected.times)
    assert np.array_equal(coded.readout.weights, np.random.default_rng(2).normal(0.2, 0.37, (350, 10)))
    drawn = make_task("mnist", preset="eventprop", init="eventsnn", seed=2, **SMALL)
    assert not np.array_equal(drawn.net.weights[0], np.random.default_rng(2).normal(0.078, 0.045, (784, 350)))
    assert not np.array_equal(drawn.readout.weights, np.random.default_rng(2).normal(0.2, 0.37, (350, 10)))
    preset = make_task("mnist", preset="eventprop", seed=2, **SMALL)
    assert np.array_equal(drawn.train_inputs.times, preset.train_inputs.times)
    assert drawn.config == preset.config == coded.config


def test_antlr_code_step_belongs_to_the_input_code():
    recipe = task_recipe("mnist", "antlr", input_code="eventsnn")
    assert "code" not in recipe and "code_step" not in recipe and recipe["hidden"] == 800
    assert "code_step" in PRESETS["mnist"]["antlr"]  # the registry's recipe is left alone


@pytest.mark.parametrize("kwargs, message", [
    ({"init": "preset"}, "init='preset': no preset is given"),
    ({"input_code": "preset"}, "input_code='preset': no preset is given"),
    ({"preset": "eventprop-draft-2021-04", "init": "preset"},
     "preset 'eventprop-draft-2021-04' of task 'yinyang' has no initialisation of its own"),
    ({"preset": "eventprop", "init": "theirs"}, "init must be one of"),
    ({"preset": "eventprop", "input_code": 1}, "input_code must be one of"),
])
def test_bad_sources_are_refused_before_any_data_is_read(kwargs, message, monkeypatch):
    import eventsnn.datasets as datasets

    def no_data(*args, **kwargs):
        raise AssertionError("data read before the arguments were checked")
    monkeypatch.setattr(datasets, "load_yinyang", no_data)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_task("yinyang", **kwargs)


def _main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


TINY = ["--epochs", "1", "--hidden", "8", "--n-train", "40", "--n-test", "10", "--n-validation", "10", "--threads",
        "1", "--no-progress"]


def test_train_records_the_sources_and_config_relaunches_them(tmp_path):
    out = str(tmp_path / "run")
    code, _, err = _main(["train", "yinyang", "--preset", "eventprop", "--init", "eventsnn", *TINY, "--out", out])
    assert code == 0, err
    info = json.load(open(os.path.join(out, "run.json")))
    assert info["init"] == "eventsnn" and "input_code" not in info
    again = str(tmp_path / "again")
    code, _, err = _main(["train", "--config", os.path.join(out, "run.json"), "--threads", "1", "--no-progress",
                          "--out", again])
    assert code == 0, err
    relaunched = json.load(open(os.path.join(again, "run.json")))
    assert relaunched["init"] == "eventsnn" and relaunched["preset"] == "eventprop"
    first, second = (json.load(open(os.path.join(d, "metrics.json"))) for d in (out, again))
    assert [row["val_accuracy"] for row in first] == [row["val_accuracy"] for row in second]
    plain = str(tmp_path / "plain")
    code, _, err = _main(["train", "yinyang", *TINY, "--out", plain])
    assert code == 0, err
    info = json.load(open(os.path.join(plain, "run.json")))
    assert "init" not in info and "input_code" not in info


def test_train_refuses_a_bad_source(tmp_path):
    code, _, err = _main(["train", "yinyang", "--init", "theirs", *TINY, "--out", str(tmp_path / "x")])
    assert code == 2 and "--init" in err and "theirs" in err
    code, _, err = _main(["train", "yinyang", "--preset", "eventprop-draft-2021-04", "--init", "preset", *TINY,
                          "--out", str(tmp_path / "y")])
    assert code == 1 and "init='preset'" in err and not os.path.exists(str(tmp_path / "y"))


def test_sweep_spec_takes_the_sources_as_settings():
    spec = spec_from_dict({"sweep": {"task": "yinyang"}, "fixed": {"preset": "eventprop", "epochs": 1},
                           "grid": {"init": ["eventsnn", "preset"]}})
    assert [run.name for run in spec.runs] == ["init-eventsnn", "init-preset"]
    assert spec.runs[0].argv[-4:] == ("--init", "eventsnn", "--epochs", "1")
    with pytest.raises(SpecError, match=r"\[grid\] init\[0\]: init must be one of"):
        spec_from_dict({"sweep": {"task": "yinyang"}, "grid": {"init": ["theirs"]}})
    with pytest.raises(SpecError, match="has no initialisation of its own"):
        spec_from_dict({"sweep": {"task": "yinyang"}, "fixed": {"preset": "eventprop-draft-2021-04"},
                        "grid": {"init": ["preset", "eventsnn"]}})
    with pytest.raises(SpecError, match="input_code='preset': no preset is given"):
        spec_from_dict({"sweep": {"task": "yinyang"}, "grid": {"input_code": ["preset", "eventsnn"]}})
