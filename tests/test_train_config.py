"""TrainConfig: one constraint table for every field, immutability with a deprecated assignment path, normalised
values, and the settings that checkpoints and run.json record (format unchanged)."""

import copy
import dataclasses
import json
import math
import pickle
import warnings
from types import MappingProxyType

import numpy as np
import pytest

from eventsnn import _config_rules
from eventsnn.cli import main
from eventsnn.runs import load_trained
from eventsnn.tasks import make_task
from eventsnn.training import TrainConfig, Trainer, run_settings

FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]
NAN, INF = float("nan"), float("inf")


def test_the_rule_table_covers_exactly_the_fields_in_their_order():
    assert list(_config_rules.FIELD_RULES) == FIELDS
    assert len(FIELDS) == 31
    for name, rule in _config_rules.FIELD_RULES.items():
        assert isinstance(rule.accepts, str) and rule.accepts, name


# (field, bad value, other settings it is given with, exception): at least one per field; every message must name
# the field as TrainConfig.<field>
BAD_VALUES = [
    ("epochs", 0, {}, ValueError), ("epochs", True, {}, TypeError), ("epochs", 1.5, {}, TypeError),
    ("epochs", "3", {}, TypeError),
    ("batch_size", 0, {}, ValueError), ("batch_size", np.bool_(True), {}, TypeError),
    ("lr", -1.0, {}, ValueError), ("lr", 0, {}, ValueError), ("lr", NAN, {}, ValueError), ("lr", INF, {}, ValueError),
    ("lr", True, {}, TypeError), ("lr", "0.1", {}, TypeError),
    ("optimizer", "rmsprop", {}, ValueError), ("optimizer", None, {}, TypeError),
    ("lr_decay", 0.0, {}, ValueError), ("lr_decay", NAN, {}, ValueError), ("lr_decay", -INF, {}, ValueError),
    ("lr_decay_every", 0, {}, ValueError), ("lr_decay_every", 2.0, {}, TypeError),
    ("lr_decay_start", 0, {}, ValueError), ("lr_decay_start", False, {}, TypeError),
    ("t_max", -5.0, {}, ValueError), ("t_max", INF, {}, ValueError), ("t_max", None, {}, TypeError),
    ("softmax_tau", 0.0, {}, ValueError), ("softmax_tau", NAN, {}, ValueError),
    ("early_weight", -0.1, {}, ValueError), ("early_weight", INF, {}, ValueError),
    ("early_tau", 0.0, {}, ValueError), ("early_tau", [1.0], {}, TypeError),
    ("silent_bump", -1e-3, {}, ValueError), ("silent_bump", NAN, {}, ValueError),
    ("min_slope", -1.0, {}, ValueError), ("min_slope", INF, {}, ValueError),
    ("seed", -1, {}, ValueError), ("seed", 1.0, {}, TypeError), ("seed", True, {}, TypeError),
    ("n_threads", 0, {}, ValueError), ("n_threads", 1.0, {}, TypeError), ("n_threads", True, {}, TypeError),
    ("progress", 1, {}, TypeError), ("progress", "yes", {}, TypeError), ("progress", None, {}, TypeError),
    ("method", "surrogate", {}, ValueError), ("method", 1, {}, TypeError),
    ("method_options", {"foo": 1.0}, {"method": "activation"}, TypeError),
    ("method_options", [("form", "grid")], {"method": "activation"}, TypeError),
    ("method_options", {1: 2.0}, {"method": "activation"}, TypeError),
    ("method_options", {"form": "grid"}, {}, ValueError),  # the exact adjoint takes no options
    ("method_options", {"dt": -1.0}, {"method": "activation"}, ValueError),
    ("method_options", {"form": "diagonal"}, {"method": "antlr"}, ValueError),
    ("spike_penalty", -1.0, {}, ValueError), ("spike_penalty", NAN, {}, ValueError),
    ("grad_clip", -0.3, {}, ValueError), ("grad_clip", INF, {}, ValueError),
    ("loss", "mse", {}, ValueError), ("loss", None, {}, TypeError),
    ("latency_beta", 0.0, {}, ValueError), ("latency_beta", INF, {}, ValueError),
    ("lambda_nospike", -0.1, {}, ValueError), ("lambda_nospike", NAN, {}, ValueError),
    ("input_jitter", -1.0, {}, ValueError), ("input_jitter", NAN, {}, ValueError),
    ("input_shift", -1, {}, ValueError), ("input_shift", 1.5, {}, TypeError),
    ("input_shift", 2, {}, ValueError),  # no input_shape to shift in
    ("input_dropout", 1.0, {}, ValueError), ("input_dropout", -0.1, {}, ValueError),
    ("input_dropout", NAN, {}, ValueError),
    ("input_shape", (28,), {}, ValueError), ("input_shape", (0, 28), {}, ValueError),
    ("input_shape", (28.0, 28), {}, ValueError), ("input_shape", "28x28", {}, ValueError),
    ("input_shape", (1, 2, 3, 4), {}, ValueError), ("input_shape", (True, 2), {}, ValueError),
    ("train_delays", 1, {}, TypeError), ("train_delays", True, {"method": "activation"}, ValueError),
    ("delay_lr_scale", 0.0, {}, ValueError), ("delay_lr_scale", NAN, {}, ValueError),
    ("skip_silent_label", 1, {}, TypeError), ("skip_silent_label", True, {"loss": "latency"}, ValueError),
    ("validation_split", None, {}, TypeError), ("validation_split", 1, {}, TypeError),
]


def test_every_field_has_a_bad_value():
    assert {field for field, *_ in BAD_VALUES} == set(FIELDS)


@pytest.mark.parametrize("field, value, others, error", BAD_VALUES,
                         ids=[f"{field}={value!r}" for field, value, *_ in BAD_VALUES])
def test_a_bad_value_is_refused_naming_the_field(field, value, others, error):
    with pytest.raises(error) as info:
        TrainConfig(**others, **{field: value})
    assert f"TrainConfig.{field}" in str(info.value)
    # the same value is refused when a variant is made from a valid config
    with pytest.raises(error, match=f"TrainConfig.{field}"):
        dataclasses.replace(TrainConfig(**others), **{field: value})


def test_messages_show_the_value_and_what_is_accepted():
    with pytest.raises(ValueError, match=r"^TrainConfig.lr must be a finite number > 0, got -1.0$"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match=r"^TrainConfig.input_dropout must be a finite number in \[0, 1\), got 1.0$"):
        TrainConfig(input_dropout=1.0)
    with pytest.raises(ValueError, match=r"^TrainConfig.optimizer must be one of 'adam', 'sgd'; got 'rmsprop'$"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(TypeError, match=r"valid options are 'lambda_timing'"):
        TrainConfig(method="na", method_options={"foo": 1.0})


# (field, value given, value stored): the stored value has the type of the expected one
GOOD_VALUES = [
    ("epochs", np.int64(3), 3), ("batch_size", 5, 5), ("lr", 1, 1.0), ("lr", np.float32(0.5), 0.5),
    ("optimizer", np.str_("sgd"), "sgd"), ("lr_decay", 0.95, 0.95), ("lr_decay_every", np.int32(10), 10),
    ("lr_decay_start", 2, 2), ("t_max", 50, 50.0), ("softmax_tau", np.float64(0.5), 0.5), ("early_weight", 0, 0.0),
    ("early_tau", 6.4, 6.4), ("silent_bump", 0.0, 0.0), ("min_slope", 1e-3, 1e-3), ("seed", 2**40, 2**40),
    ("n_threads", None, None), ("n_threads", np.int64(2), 2), ("progress", np.bool_(False), False),
    ("method", "antlr", "antlr"), ("method_options", {}, MappingProxyType({})), ("spike_penalty", 3e-4, 3e-4),
    ("grad_clip", 0.3, 0.3), ("loss", "vmax", "vmax"), ("latency_beta", 1 / 6, 1 / 6), ("lambda_nospike", 0, 0.0),
    ("input_jitter", 1, 1.0), ("input_shift", np.int64(0), 0), ("input_dropout", 0.2, 0.2),
    ("input_dropout", 0.0, 0.0), ("input_shape", [28, 28], (28, 28)),
    ("input_shape", (np.int64(2), 34, 34), (2, 34, 34)), ("input_shape", None, None), ("train_delays", True, True),
    ("delay_lr_scale", 10, 10.0), ("skip_silent_label", True, True),
    ("validation_split", "mnist train[50000:60000]", "mnist train[50000:60000]"),
]


def test_every_field_has_a_good_value():
    assert {field for field, *_ in GOOD_VALUES} == set(FIELDS)


@pytest.mark.parametrize("field, value, stored", GOOD_VALUES,
                         ids=[f"{field}={value!r}" for field, value, _ in GOOD_VALUES])
def test_a_good_value_is_kept_normalised_and_round_trips(field, value, stored):
    config = TrainConfig(**{field: value})
    assert getattr(config, field) == stored and type(getattr(config, field)) is type(stored)
    if isinstance(stored, tuple):
        assert all(type(n) is int for n in stored)
    # through the plain fields, pickle and the settings a checkpoint records
    assert TrainConfig(**{f: getattr(config, f) for f in FIELDS}) == config
    assert pickle.loads(pickle.dumps(config)) == config and copy.deepcopy(config) == config
    recorded = json.loads(json.dumps(run_settings(config)))
    assert dataclasses.replace(config, **recorded) == config


def test_equal_settings_give_equal_configs():
    a = TrainConfig(lr=1, input_shape=[28, 28], input_shift=2, epochs=np.int64(5))
    b = TrainConfig(lr=1.0, input_shape=(28, 28), input_shift=2, epochs=5)
    assert a == b and hash(a) == hash(b)
    c = TrainConfig(method="activation", method_options={"form": "event"})
    assert c == TrainConfig(method="activation", method_options=MappingProxyType({"form": "event"}))
    assert c != TrainConfig(method="activation", method_options={"form": "grid"})
    assert len({a, b, c}) == 2


def test_method_options_are_a_read_only_copy():
    options = {"form": "event", "dt": 0.5}
    config = TrainConfig(method="antlr", method_options=options)
    options["form"] = "grid"
    options["dt"] = -1.0  # changing the caller's dict changes nothing
    assert dict(config.method_options) == {"form": "event", "dt": 0.5}
    with pytest.raises(TypeError):
        config.method_options["form"] = "grid"  # type: ignore[index]
    assert isinstance(config.method_options, MappingProxyType)


def test_replace_makes_a_validated_variant_and_leaves_the_original():
    config = TrainConfig(epochs=3, loss="first_spike")
    variant = dataclasses.replace(config, lr=2e-3, skip_silent_label=True)
    assert (variant.lr, variant.skip_silent_label, variant.epochs) == (2e-3, True, 3)
    assert (config.lr, config.skip_silent_label) == (5e-3, False)
    # relations are checked on the variant as a whole
    with pytest.raises(ValueError, match="TrainConfig.skip_silent_label applies to loss='first_spike' only"):
        dataclasses.replace(variant, loss="latency")
    assert dataclasses.replace(variant, loss="latency", skip_silent_label=False).loss == "latency"


def test_assigning_a_field_warns_and_is_validated_like_replace():
    config = TrainConfig()
    expected = r"TrainConfig is immutable; use dataclasses.replace\(config, lr=\.\.\.\)"
    with pytest.warns(DeprecationWarning, match=expected):
        config.lr = 1
    assert config.lr == 1.0 and type(config.lr) is float  # normalised like a new config's value
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="TrainConfig.lr must be a finite number"):
        config.lr = math.nan
    assert config.lr == 1.0  # a refused assignment changes nothing
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="TrainConfig.skip_silent_label"):
        config.loss, config.skip_silent_label = "latency", True  # the relation holds after every assignment
    assert (config.loss, config.skip_silent_label) == ("latency", False)
    with pytest.warns(DeprecationWarning):
        config.input_shape = [2, 3]
    assert config.input_shape == (2, 3)


def test_other_attributes_cannot_be_set_or_deleted():
    config = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError, match="'learning_rate'"):
        config.learning_rate = 1e-3  # a typo must not pass silently
    with pytest.raises(dataclasses.FrozenInstanceError):
        del config.lr
    assert dataclasses.fields(TrainConfig) and TrainConfig.__dataclass_params__.frozen


# What run_settings gave for this config before TrainConfig was frozen (written by the previous version): checkpoints
# and run.json must keep recording exactly this, so that old runs resume and compare equal.
PREVIOUS_RECORD = (
    '{"epochs": 3, "batch_size": 32, "lr": 0.002, "optimizer": "adam", "lr_decay": 1.0, "lr_decay_every": 1, '
    '"lr_decay_start": 1, "t_max": 60.0, "softmax_tau": 5.0, "early_weight": 0.0, "early_tau": 20.0, '
    '"silent_bump": 0.01, "min_slope": 0.0, "seed": 0, "method": "activation", "method_options": {"form": "event", '
    '"dt": 0.5}, "spike_penalty": 0.0, "grad_clip": 0.0, "loss": "first_spike", "latency_beta": 0.16666666666666666, '
    '"lambda_nospike": 0.1, "input_jitter": 0.0, "input_shift": 2, "input_dropout": 0.0, "input_shape": [28, 28], '
    '"train_delays": false, "delay_lr_scale": 10.0, "skip_silent_label": false, '
    '"validation_split": "mnist train[50000:60000]"}')


def test_run_settings_record_exactly_what_the_previous_version_recorded():
    config = TrainConfig(epochs=3, lr=2e-3, method="activation", method_options={"form": "event", "dt": 0.5},
                         input_shape=[28, 28], input_shift=2, validation_split="mnist train[50000:60000]",
                         n_threads=1, progress=False)
    assert json.dumps(run_settings(config)) == PREVIOUS_RECORD
    assert type(run_settings(config)["method_options"]) is dict


def test_settings_of_numpy_scalars_serialise():
    # numpy integers were accepted before but made the checkpoint's JSON fail; now they are stored as ints
    config = TrainConfig(epochs=np.int64(2), batch_size=np.int32(8), lr=np.float32(0.25), seed=np.uint8(3))
    assert json.loads(json.dumps(run_settings(config)))["epochs"] == 2


def _tiny_task(epochs: int):
    return make_task("yinyang", hidden=6, n_train=16, n_test=8, n_validation=8, epochs=epochs, seed=2)


def test_checkpoints_record_the_settings_and_resume(tmp_path):
    task = _tiny_task(epochs=1)
    config = dataclasses.replace(task.config, n_threads=1, progress=False)
    Trainer(task.net, task.train_inputs, task.train_labels, config=config, out_dir=str(tmp_path),
            validation_inputs=task.validation_inputs, validation_labels=task.validation_labels).fit()
    with np.load(tmp_path / "checkpoint.npz") as data:
        assert json.loads(str(data["config"])) == json.loads(json.dumps(run_settings(config)))
    longer = _tiny_task(epochs=2)
    resumed = Trainer(longer.net, longer.train_inputs, longer.train_labels, out_dir=str(tmp_path), resume=True,
                      config=dataclasses.replace(longer.config, n_threads=1, progress=False),
                      validation_inputs=longer.validation_inputs, validation_labels=longer.validation_labels)
    assert resumed.epoch == 1 and len(resumed.fit()) == 2
    with pytest.raises(ValueError, match="lr: 0.003 there, 0.001 now"):
        Trainer(longer.net, longer.train_inputs, longer.train_labels, out_dir=str(tmp_path), resume=True,
                config=dataclasses.replace(longer.config, lr=1e-3, progress=False))


def _config_warnings(caught) -> list:
    return [w for w in caught if issubclass(w.category, DeprecationWarning) and "TrainConfig" in str(w.message)]


def test_make_task_assigns_no_field():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kwargs in ({}, {"preset": "eventprop"}, {"loss": "vmax"}, {"preset": "eventprop-draft-2021-04"}):
            make_task("yinyang", n_train=4, n_test=4, n_validation=4, **kwargs)
        make_task("mnist", n_train=4, n_test=4, n_validation=4, hidden=4, preset="antlr")
    assert _config_warnings(caught) == []


def test_the_command_line_train_path_assigns_no_field(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "yinyang", "--epochs", "1", "--n-train", "16", "--n-test", "8", "--n-validation", "8",
            "--hidden", "6", "--threads", "1", "--no-progress", "--lr", "0.01", "--batch-size", "8",
            "--method", "antlr", "--option", "form=event", "--set", "softmax_tau=0.5", "--out", str(out)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(argv) == 0
        assert main(argv[:2] + ["--epochs", "2", "--out", str(out), "--resume", "--no-progress",
                                "--config", str(out / "run.json")]) == 0  # re-launched from its run.json
        task = load_trained(out)
    assert _config_warnings(caught) == []
    recorded = json.loads((out / "run.json").read_text())["config"]
    assert (recorded["lr"], recorded["batch_size"], recorded["softmax_tau"], recorded["method"]) == \
        (0.01, 8, 0.5, "antlr")
    assert recorded["method_options"] == {"form": "event"} and recorded["epochs"] == 2
    assert task.config.method_options == {"form": "event"} and task.config.lr == 0.01
    capsys.readouterr()
