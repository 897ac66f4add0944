"""Names are looked up in registries (losses.CLASSIFICATION_LOSSES, tasks.TASKS / PRESETS,
gradient_methods.METHODS), never switched on: the command line offers exactly the registries' keys."""

import pytest

from eventsnn import cli, gradient_methods, losses, tasks


def _train_choices(parser) -> dict:
    train = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    return {a.dest: list(a.choices) for a in train._actions if a.choices is not None}


def test_cli_choices_are_the_registries_keys():
    choices = _train_choices(cli._parser())
    assert choices["task"] == list(tasks.TASKS) == ["yinyang", "mnist", "fashion-mnist", "nmnist"]
    assert choices["loss"] == list(losses.CLASSIFICATION_LOSSES) == ["first_spike", "latency", "count", "vmax"]
    assert choices["method"] == list(gradient_methods.METHODS) == ["timing", "activation", "antlr", "na"]
    assert choices["preset"] == ["eventprop", "eventprop-draft-2021-04", "antlr"]
    assert set(choices["preset"]) == {p for recipes in tasks.PRESETS.values() for p in recipes}


def test_a_loss_added_to_the_registry_is_offered_by_the_cli(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["train", "yinyang", "--loss", "hinge"])
    assert "--loss" in capsys.readouterr().err
    monkeypatch.setitem(losses.CLASSIFICATION_LOSSES, "hinge", losses.CLASSIFICATION_LOSSES["first_spike"])
    assert cli._parser().parse_args(["train", "yinyang", "--loss", "hinge"]).loss == "hinge"


def test_tasks_are_built_by_one_builder_each_and_every_preset_names_its_source():
    assert all(callable(build) for build in tasks.TASKS.values())
    for recipes in tasks.PRESETS.values():
        assert set(recipes) <= set(tasks.PRESET_SOURCES)
    assert set(tasks.PRESETS) <= set(tasks.TASKS)
    assert all(len(line.splitlines()) == 1 and line for line in tasks.PRESET_SOURCES.values())
    assert set(tasks.PRESET_SOURCES) == {p for recipes in tasks.PRESETS.values() for p in recipes}


def test_make_task_dispatches_through_the_registry(monkeypatch):
    """make_task looks the name up in TASKS: a builder put there under the name is the one that runs."""
    calls = []
    build = tasks.TASKS["yinyang"]
    monkeypatch.setitem(tasks.TASKS, "yinyang", lambda request: calls.append(request.name) or build(request))
    task = tasks.make_task("yinyang", n_train=8, n_test=4, n_validation=4)
    assert calls == ["yinyang"] and len(task.train_inputs) == 8 and task.net.weights[0].shape == (5, 200)
    with pytest.raises(ValueError, match="task"):
        tasks.make_task("cifar")


def test_method_defaults_come_from_the_table():
    """MethodOptions.resolved fills each method's defaults from gradient_methods.METHOD_DEFAULTS (the documented
    ones: timing term for the exact methods, grid form for activation, detached reset for activation and NA)."""
    assert gradient_methods.METHODS == tuple(gradient_methods.METHOD_DEFAULTS)
    for method, expected in (("timing", (1.0, "event", False)), ("activation", (0.0, "grid", True)),
                             ("antlr", (1.0, "event", False)), ("na", (0.0, "event", True))):
        opts = gradient_methods.MethodOptions().resolved(method)
        assert (opts.lambda_timing, opts.form, opts.detach_reset) == expected
        explicit = gradient_methods.MethodOptions(lambda_timing=0.5, form="grid", detach_reset=False).resolved(method)
        assert (explicit.lambda_timing, explicit.form, explicit.detach_reset) == (0.5, "grid", False)
    with pytest.raises(ValueError, match="method"):
        gradient_methods.MethodOptions().resolved("surrogate")
