"""The command line and its records: --version, help texts, fixed log columns, the list of files written,
metrics.csv columns, numbers in run.json, summary grouping, train --config, the compile notice, the raster title."""

import contextlib
import csv
import io
import json
import os
import re

import numpy as np
import pytest

from eventsnn import cli, rundir
from eventsnn._file_validation import FileFormatError
from eventsnn.runs import (_checked_run_info, comparable_settings, differing_settings, format_summary, group_runs,
                           load_trained, read_run, seed_statistics)
from eventsnn.training import format_metrics

TRAIN = ["--n-train", "100", "--n-test", "40", "--threads", "1", "--no-progress"]


def _main(argv):
    """(exit code, stdout, stderr) of the command line run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # argparse: --version, --help, usage errors
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished 2-epoch Yin-Yang run: (directory, stdout)."""
    out = str(tmp_path_factory.mktemp("cli") / "yinyang")
    code, stdout, stderr = _main(["train", "yinyang", "--epochs", "2", *TRAIN, "--out", out])
    assert code == 0, stderr
    return out, stdout


def _epoch_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("epoch ")]


def _columns(line):
    """The column names of a log line: each ' | '-separated part with its numbers (or a '-' for none) removed."""
    return [re.sub(r"-?\d+(\.\d+)?%?|(?<!\S)-(?!\S)", "#", part).replace(" ", "") for part in line.split(" | ")]


# --------------------------------------------------------------------------------------------------
def test_version_prints_the_package_version():
    import eventsnn
    code, stdout, _ = _main(["--version"])
    assert code == 0 and stdout.strip() == f"eventsnn {eventsnn.__version__}"


def test_every_option_has_help_that_names_its_default():
    parser = cli._parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    for command, subparser in sub.choices.items():
        for action in subparser._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{command} {action.dest} has no help"
            if action.option_strings:
                assert "default" in action.help, f"{command} {action.option_strings[0]} names no default"
    train_help = sub.choices["train"].format_help()
    assert "--batch-size BATCH_SIZE" in train_help and "(default 32" in train_help
    assert "the data set: yinyang" in train_help


def test_log_columns_stay_fixed_across_epochs_and_name_the_layers(run):
    _, stdout = run
    lines = _epoch_lines(stdout)
    assert len(lines) == 2 and _columns(lines[0]) == _columns(lines[1])
    # yinyang holds out its validation set: the per-layer activity columns follow it, every epoch
    assert "val acc" in lines[0] and "test acc       -" in lines[0]
    assert "val spikes/sample layer1 " in lines[0] and " layer2 " in lines[0] and "never fired layer1 " in lines[0]
    assert "silent" not in lines[0]  # one word, one meaning: 'no label spike' and 'never fired' instead
    # a column does not depend on its value: the label column is there at 0 % too
    row = {"epoch": 1, "loss": 0.5, "train_accuracy": 0.5, "train_silent_label_fraction": 0.0, "test_accuracy": 0.5,
           "test_spikes_per_sample": [10.0, 2.0], "test_silent_fraction": [0.0, 0.0], "epoch_s": 1.0,
           "forward_s": 0.5, "backward_s": 0.5}
    later = {**row, "epoch": 12, "train_silent_label_fraction": 0.125, "test_spikes_per_sample": [1234.5, 20.0]}
    assert _columns(format_metrics(row)) == _columns(format_metrics(later))
    assert [len(part) for part in format_metrics(row).split(" | ")][:-1] == \
        [len(part) for part in format_metrics(later).split(" | ")][:-1]  # fixed widths: the columns line up
    assert "no label spike   0.0%" in format_metrics(row)
    # a validation split adds its column to every epoch of the run; the test set, evaluated after the last epoch
    # only, has its column from the first epoch on, and the activity columns follow the validation set
    val = {"val_loss": 0.4, "val_accuracy": 0.75, "val_spikes_per_sample": [9.0, 2.0],
           "val_silent_fraction": [0.5, 0.0]}
    untested = {k: v for k, v in row.items() if not k.startswith("test_")}
    first, last = (format_metrics(m, ["hidden", "output"]) for m in ({**untested, **val}, {**later, **val}))
    assert _columns(first) == _columns(last)
    assert "val acc  75.00%" in first and "test acc       -" in first and "test acc  50.00%" in last
    assert "val spikes/sample hidden     9.0 output     2.0" in first and "never fired hidden  50% output   0%" in first
    assert len(first.split(" | ")[4]) == len(last.split(" | ")[4])  # the test column keeps its width


def test_the_last_line_lists_every_file_written_in_one_path_style(run):
    out, stdout = run
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("files: ")
    listed = last[len("files: "):].split(", ")
    assert sorted(listed) == sorted(os.path.join(out, name) for name in rundir.RUN_FILES)
    assert all(os.path.isfile(path) for path in listed)


def test_metrics_csv_has_one_column_per_layer(run):
    out, _ = run
    with open(os.path.join(out, "metrics.csv")) as handle:
        table = list(csv.DictReader(handle))
    history = json.loads(open(os.path.join(out, "metrics.json")).read())
    assert len(table) == len(history) == 2
    for key in ("val_spikes_per_sample", "val_silent_fraction", "test_spikes_per_sample", "test_silent_fraction"):
        assert key not in table[0]
        for row, metrics in zip(table, history):
            if key in metrics:
                assert [float(row[f"{key}_layer{k}"]) for k in (1, 2)] == metrics[key]  # exact numbers, not rounded
            else:  # the test set is evaluated after the last epoch only (yinyang holds out a validation split)
                assert key.startswith("test_") and row[f"{key}_layer1"] == row[f"{key}_layer2"] == ""
    assert "test_spikes_per_sample" in history[-1] and "val_spikes_per_sample" in history[0]
    # validation metrics (a trainer with a validation split) get their columns the same way, in every row
    path = os.path.join(out, "check.csv")
    rows = [{"epoch": e, "val_accuracy": 0.5, "val_spikes_per_sample": [3.0, 1.5]} for e in (1, 2)]
    cli._write_csv(path, rows, ["hidden", "output"])
    with open(path) as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["epoch", "val_accuracy", "val_spikes_per_sample_hidden", "val_spikes_per_sample_output"]
    assert [r["val_spikes_per_sample_output"] for r in table] == ["1.5", "1.5"]
    os.remove(path)


def test_run_json_stores_numbers_and_older_files_still_load(run, tmp_path):
    out, _ = run
    info = json.loads(open(os.path.join(out, "run.json")).read())
    assert info["network"] == [5, 200, 3] and info["readout_classes"] is None
    assert all(isinstance(info[name], (int, float)) for name in ("seed", "tau_mem", "tau_syn"))
    # a run.json of an older version (sizes as strings, no readout_classes) rebuilds the same trained task
    older = tmp_path / "older"
    older.mkdir()
    for name in ("model.npz", "metrics.json"):
        (older / name).write_bytes(open(os.path.join(out, name), "rb").read())
    legacy = {key: value for key, value in info.items() if key != "readout_classes"}
    legacy["network"] = ["5", "200", "3"]
    (older / "run.json").write_text(json.dumps(legacy))
    for a, b in zip(load_trained(older).net.connections, load_trained(out).net.connections):
        assert np.array_equal(a.weights, b.weights)
    # both forms of a read-out network read alike; malformed ones are named
    assert _checked_run_info({**info, "network": [784, 350], "readout_classes": 10}, "run.json")["n_classes"] == 10
    assert _checked_run_info({**legacy, "network": ["784", "350", "10(read-out)"]}, "run.json") == \
        {"sizes": [784, 350], "n_classes": 10}
    for bad in ({"network": [784, "350"], "readout_classes": 10}, {"network": [784, 350], "readout_classes": 0},
                {"network": [5, -3]}, {"network": [5]}):
        with pytest.raises(FileFormatError, match="'network'"):
            _checked_run_info({**info, **bad}, "run.json")


# --------------------------------------------------------------------------------------------------
def _fake_run(directory, accuracy, seed, **settings):
    directory.mkdir(parents=True)
    (directory / "metrics.json").write_text(json.dumps([{"epoch": 1, "loss": 0.3, "train_accuracy": accuracy,
                                                         "test_accuracy": accuracy,
                                                         "test_spikes_per_sample": [10.0, 2.0]}]))
    info = {"task": "yinyang", "preset": None, "network": [5, 200, 3], "readout_classes": None, "seed": seed,
            "config": {"lr": 0.003, "seed": seed, "epochs": 1}, "argv": ["train", "--seed", str(seed)],
            "started_at": f"2026-12-07T10:0{seed}:00+00:00", "run_id": f"id{seed}", "eventsnn_version": "0.1.0"}
    for name, value in settings.items():
        if name.startswith("config_"):
            info["config"][name[len("config_"):]] = value
        else:
            info[name] = value
    (directory / "run.json").write_text(json.dumps(info))
    return str(directory)


def test_summary_groups_runs_by_settings_and_never_averages_unlike_runs(tmp_path):
    long = tmp_path / ("a-rather-long-directory-name-that-used-to-be-cut-" * 2)
    same = [_fake_run(long / f"seed{k}", 0.9 + 0.02 * k, k) for k in range(3)]
    other_task = _fake_run(tmp_path / "mnist", 0.97, 0, task="mnist", network=[784, 350], readout_classes=10)
    other_lr = _fake_run(tmp_path / "lr", 0.5, 1, config_lr=0.01)
    runs = [read_run(path) for path in (same[0], other_task, same[1], other_lr, same[2])]
    # seed, run id, start time, argv and version are bookkeeping, not settings
    assert differing_settings([runs[0], runs[2], runs[4]]) == []
    assert differing_settings(runs) == ["task", "network", "readout_classes", "config.lr"]
    assert [[r.path for r in group] for group in group_runs(runs)] == [same, [other_task], [other_lr]]
    with pytest.raises(ValueError, match=r"cannot average runs with different settings: task \"yinyang\" \(.*seed0, "):
        seed_statistics(runs)
    with pytest.raises(ValueError, match=r"settings: config.lr 0.003 \(.*seed0, .*seed1\) vs 0.01 \(.*lr\)$"):
        seed_statistics([runs[0], runs[2], runs[3]])
    assert seed_statistics([runs[0], runs[2], runs[4]]).mean == pytest.approx(0.92)
    code, stdout, stderr = _main(["summary", *(r.path for r in runs)])
    assert code == 0, stderr
    assert "3 groups of runs with different settings, each averaged on its own; they differ in: task, network, " \
           "readout_classes, config.lr" in stdout
    assert stdout.count("last-epoch test accuracy over") == 1  # only the group of three seeds is averaged
    assert "over 3 runs: 92.00 +- 1.63 %" in stdout
    assert 'group 2: task "mnist", network [784, 350], readout_classes 10, config.lr 0.003' in stdout
    assert all(path in stdout for path in same)  # full names, never truncated
    # the figure too draws one mean per group, never one over unlike runs
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eventsnn.plot import accuracy_curves
    means = [line for line in accuracy_curves(runs).get_lines() if line.get_label().startswith("mean")]
    assert [line.get_label() for line in means] == ["mean of group 1"]  # the other groups hold one run each
    assert np.allclose(means[0].get_ydata(), [92.0])
    plt.close("all")
    # runs without a run.json (Trainer(out_dir=...) alone) are one group, as before
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "metrics.json").write_text((long / "seed0" / "metrics.json").read_text())
    assert comparable_settings(read_run(plain).settings) == {}
    text = format_summary([read_run(plain), read_run(plain)])
    assert "groups of runs" not in text and "over 2 runs: 90.00 +- 0.00 %" in text


# --------------------------------------------------------------------------------------------------
def test_config_relaunches_a_recorded_run_exactly(run, tmp_path):
    out, _ = run
    again = str(tmp_path / "again")
    code, stdout, stderr = _main(["train", "--config", os.path.join(out, "run.json"), "--threads", "1",
                                  "--no-progress", "--out", again])
    assert code == 0, stderr
    recorded, relaunched = (json.loads(open(os.path.join(d, "run.json")).read()) for d in (out, again))
    assert comparable_settings(recorded) == comparable_settings(relaunched)
    assert relaunched["seed"] == recorded["seed"]

    def numbers(directory):
        history = json.loads(open(os.path.join(directory, "metrics.json")).read())
        return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in history]  # all but wall times
    assert numbers(again) == numbers(out)
    for a, b in zip(load_trained(again).net.connections, load_trained(out).net.connections):
        assert np.array_equal(a.weights, b.weights)


def test_config_options_on_the_command_line_override_the_recorded_ones(run, tmp_path):
    out, _ = run
    changed = str(tmp_path / "changed")
    code, _, stderr = _main(["train", "yinyang", "--config", os.path.join(out, "run.json"), "--epochs", "1",
                             "--seed", "4", "--set", "softmax_tau=0.25", *TRAIN[-3:], "--out", changed])
    assert code == 0, stderr
    recorded, relaunched = (json.loads(open(os.path.join(d, "run.json")).read()) for d in (out, changed))
    assert relaunched["seed"] == 4 and relaunched["config"]["seed"] == 4
    assert relaunched["config"]["epochs"] == 1 and relaunched["config"]["softmax_tau"] == 0.25
    assert relaunched["n_train"] == recorded["n_train"] == 100
    assert set(differing_settings([read_run(out), read_run(changed)])) == {"config.epochs", "config.softmax_tau"}


@pytest.mark.parametrize("argv, message", [
    (["train", "mnist", "--config", "RUN"], "task 'mnist' contradicts --config RUN, a run of task 'yinyang': leave "
                                            "task out"),
    (["train", "--config", "RUN", "--preset", "eventprop"], "--preset 'eventprop' contradicts --config RUN"),
    (["train", "yinyang", "--lr", "0.1", "--set", "lr=0.2"], "--lr 0.1 contradicts --set lr=0.2; give only one"),
    (["train", "--epochs", "1"], "the task argument is required"),
    (["train", "--config", "MISSING"], "No such file or directory"),
])
def test_contradictory_or_missing_settings_are_refused_before_any_work(run, tmp_path, argv, message):
    out, _ = run
    target = tmp_path / "refused"
    argv = [{"RUN": os.path.join(out, "run.json"), "MISSING": str(tmp_path / "run.json")}.get(a, a) for a in argv]
    message = message.replace("RUN", os.path.join(out, "run.json"))
    code, stdout, stderr = _main([*argv, "--out", str(target)])
    assert code == 1 and stderr.startswith("eventsnn: error: ") and message in stderr, stderr
    assert not target.exists() and stdout == ""


# --------------------------------------------------------------------------------------------------
def test_first_run_notice_appears_only_while_kernels_compile(run, tmp_path, monkeypatch):
    from eventsnn._kernels import forward
    _, stdout = run
    assert not cli._kernels_need_compiling()  # the run above filled the cache
    cache_file = forward.layer_forward._cache._cache_file
    monkeypatch.setattr(cache_file, "_index_path", str(tmp_path / "absent.nbi"))
    assert cli._kernels_need_compiling()
    monkeypatch.setattr(cli, "_kernels_need_compiling", lambda: True)
    code, stdout, stderr = _main(["train", "yinyang", "--epochs", "1", *TRAIN, "--out", str(tmp_path / "cold")])
    assert code == 0, stderr
    lines = stdout.splitlines()
    notice = [k for k, line in enumerate(lines) if line.startswith("eventsnn: compiling the simulation kernels")]
    assert len(notice) == 1 and notice[0] < lines.index(_epoch_lines(stdout)[0])


def test_training_raster_title_names_label_and_prediction(monkeypatch, tmp_path):
    from eventsnn import plot
    from eventsnn.tasks import make_task
    assert cli._raster_title(2, 2) == "first test sample after training: label 2, predicted 2 (correct)"
    assert cli._raster_title(1, -1) == "first test sample after training: label 1, no output spike, no prediction " \
                                       "(wrong)"
    titles = []
    monkeypatch.setattr(plot, "save_figure", lambda fig, path, **kw: titles.append(fig.axes[0].get_title()))
    task = make_task("yinyang", n_train=4, n_test=4)
    cli._save_raster(str(tmp_path / "r.png"), task.net, task.test_inputs[0], task.config.t_max, None,
                     int(task.test_labels[0]), task.config.loss)
    assert re.fullmatch(rf"first test sample after training: label {task.test_labels[0]}, "
                        r"(predicted \d|no output spike, no prediction) \((correct|wrong)\)", titles[0])
