"""Run directories: reading metrics.json, statistics over seeds, the summary command and its figure."""

import json
import subprocess
import sys

import numpy as np
import pytest

from eventsnn.runs import format_summary, read_run, seed_statistics


def _write_run(directory, accuracies, spikes=(100.0, 5.0)):
    directory.mkdir(parents=True, exist_ok=True)
    history = [{"epoch": e + 1, "loss": 1.0 / (e + 1), "train_accuracy": min(1.0, a + 0.01), "test_accuracy": a,
                "test_spikes_per_sample": [s + e for s in spikes], "forward_s": 2.0, "backward_s": 1.0,
                "epoch_s": 3.0 + e} for e, a in enumerate(accuracies)]
    (directory / "metrics.json").write_text(json.dumps(history))
    return directory


def test_read_run_takes_the_last_epoch_and_reports_the_best_separately(tmp_path):
    run = read_run(_write_run(tmp_path / "a", [0.5, 0.9, 0.8]))
    assert (run.epochs, run.test_accuracy, run.best_test_accuracy, run.train_accuracy) == (3, 0.8, 0.9, 0.81)
    assert run.spikes_per_sample == (102.0, 7.0)
    assert run.median_epoch_s == 4.0 and run.backward_forward == 0.5 and run.settings == {}
    (tmp_path / "a" / "run.json").write_text(json.dumps({"config": {"method": "antlr"}}))
    assert read_run(tmp_path / "a").settings["config"]["method"] == "antlr"


def test_seed_statistics_are_mean_and_population_std(tmp_path):
    finals = [0.97, 0.975, 0.968, 0.981]
    runs = [read_run(_write_run(tmp_path / f"s{k}", [0.5, a], spikes=(100.0 + k, 5.0))) for k, a in enumerate(finals)]
    stats = seed_statistics(runs)
    assert stats.n_runs == 4
    assert stats.mean == pytest.approx(np.mean(finals)) and stats.std == pytest.approx(np.std(finals))
    assert (stats.minimum, stats.maximum) == (0.968, 0.981)
    assert stats.mean_spikes_per_sample == pytest.approx((102.5, 6.0))
    text = format_summary(runs)
    assert f"{100 * np.mean(finals):.2f} +- {100 * np.std(finals):.2f} %" in text
    assert "different epochs" not in text
    mixed = runs[:1] + [read_run(_write_run(tmp_path / "short", [0.4]))]
    assert "runs at different epochs: [1, 2]" in format_summary(mixed)


def test_bad_run_directories_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.json not found"):
        read_run(tmp_path)
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match="list of per-epoch dicts"):
        read_run(tmp_path)
    with pytest.raises(ValueError, match="no run has a test accuracy"):
        seed_statistics([])


def test_summary_command_prints_the_table_and_saves_the_figure(tmp_path):
    dirs = [str(_write_run(tmp_path / f"seed{k}", [0.6, 0.9 + 0.01 * k])) for k in range(3)]
    figure = tmp_path / "curves.png"
    done = subprocess.run([sys.executable, "-m", "eventsnn", "summary", *dirs, "--plot", str(figure)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "over 3 runs: 91.00 +- 0.82 %" in done.stdout
    assert figure.stat().st_size > 1000
    missing = subprocess.run([sys.executable, "-m", "eventsnn", "summary", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "metrics.json not found" in missing.stderr


def test_accuracy_curves_draws_each_run_and_their_mean(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eventsnn.plot import accuracy_curves
    runs = [read_run(_write_run(tmp_path / f"s{k}", [0.5, 0.6 + 0.1 * k, 0.7])) for k in range(2)]
    ax = accuracy_curves(runs)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"s0", "s1", "mean of runs"}
    assert np.allclose(lines["mean of runs"].get_ydata(), [50.0, 65.0, 70.0])
    with pytest.raises(TypeError, match="RunSummary"):
        accuracy_curves([{"epoch": 1}])
    with pytest.raises(ValueError, match="got 1 labels for 2 runs"):
        accuracy_curves(runs, labels=["only one"])
    plt.close("all")
