"""The sweep report a reviewer reads: validation metrics, directions of better, sample std and t-intervals, Welch
tests with "dominates" only when both metrics differ, choices made on validation, and compact records to commit.

The sweeps here are synthetic: run directories written by the test (run.json, metrics.json, a model file and the
status record the runner would write), with values drawn from seeded generators, so every statistic can be checked
against scipy.stats on the same numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re

import numpy as np
import pytest
from scipy import special, stats

from eventsnn import cli
from eventsnn.runs import read_run
from eventsnn.sweep import METRICS, SpecError, load_spec, pareto_front, report, spec_from_dict
from eventsnn.sweep_records import export_records
from eventsnn.sweep_report import format_summary, status_path, verdict
from eventsnn.sweep_spec import tomllib  # the standard library's, or tomli on Python 3.10
from eventsnn.sweep_stats import summarise, welch

SEEDS = [0, 1, 2, 3, 4]
SPEC = {"sweep": {"task": "yinyang", "seeds": SEEDS, "name": "synthetic"},
        "fixed": {"epochs": 2},
        "grid": {"method": ["antlr", "na"], "spike_penalty": [0.0, 3e-4]}}


def _fake_sweep(out: str, spec, values: dict) -> None:
    """Finished run directories of ``spec`` in ``out``: ``values[point][metric]`` lists one value per seed for
    val_accuracy, test_accuracy, val_loss and spikes (the hidden layer's count; the output layer adds 1.0)."""
    for run in spec.runs:
        got = {name: series[spec.seeds.index(run.seed)] for name, series in values[run.point].items()}
        run_dir = os.path.join(out, run.name)
        os.makedirs(run_dir)
        history = [{"epoch": epoch, "loss": 0.5, "train_accuracy": 0.9, "epoch_s": 1.0,
                    "val_accuracy": got["val_accuracy"] - 0.01 * (2 - epoch), "val_loss": got["val_loss"],
                    "val_spikes_per_sample": [got["spikes"], 1.0]} for epoch in (1, 2)]
        history[-1].update(test_accuracy=got["test_accuracy"], test_loss=2 * got["val_loss"],
                           test_spikes_per_sample=[got["spikes"], 1.0])
        with open(os.path.join(run_dir, "metrics.json"), "w") as handle:
            json.dump(history, handle, indent=1)
        info = {"task": "yinyang", "preset": None, "network": [5, 20, 3], "readout_classes": None, "seed": run.seed,
                "config": {"epochs": 2}, "argv": ["train", *run.argv, "--out", os.path.join(out, run.name),
                                                  "--data", "/somewhere/data"],
                "started_at": "2026-12-07T10:00:00+00:00", "finished_at": "2026-12-07T10:01:00+00:00",
                "resumed": [{"at_epoch": 1, "time": "x", "argv": ["train", "--out", os.path.join(out, run.name)]}]}
        with open(os.path.join(run_dir, "run.json"), "w") as handle:
            json.dump(info, handle)
        open(os.path.join(run_dir, "model.npz"), "wb").close()
        os.makedirs(os.path.dirname(status_path(out, run)), exist_ok=True)
        with open(status_path(out, run), "w") as handle:
            json.dump({"status": "done", "argv": list(run.argv), "seconds": 1.0}, handle)


def _values(seed: int) -> dict:
    """Per point: seeded values; antlr at 3e-4 is clearly better than na at 3e-4 in both accuracy and spikes, the
    two unpenalised points differ in neither, and the best validation point is not the best test point."""
    rng = np.random.default_rng(seed)

    def series(mean, spread):
        return list(mean + spread * rng.standard_normal(len(SEEDS)))

    return {
        "method=antlr spike_penalty=0.0": {"val_accuracy": series(0.975, 0.003), "test_accuracy": series(0.976, 0.003),
                                           "val_loss": series(0.10, 0.01), "spikes": series(400.0, 10.0)},
        "method=antlr spike_penalty=0.0003": {"val_accuracy": series(0.972, 0.002),
                                              "test_accuracy": series(0.980, 0.002),
                                              "val_loss": series(0.12, 0.01), "spikes": series(120.0, 5.0)},
        "method=na spike_penalty=0.0": {"val_accuracy": series(0.975, 0.003), "test_accuracy": series(0.976, 0.003),
                                        "val_loss": series(0.10, 0.01), "spikes": series(401.0, 10.0)},
        "method=na spike_penalty=0.0003": {"val_accuracy": series(0.955, 0.002), "test_accuracy": series(0.960, 0.002),
                                           "val_loss": series(0.20, 0.01), "spikes": series(200.0, 5.0)},
    }


def _spec(**report):
    return spec_from_dict({**SPEC, "report": {"metrics": ["val_accuracy", "test_accuracy", "val_loss", "spikes"],
                                              **report}})


# ------------------------------------------------------------------------------------------------------------------
# the statistics, against scipy and by hand

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_summary_is_the_sample_std_and_the_t_interval(seed, rng):
    values = list(rng.normal(0.97, 0.01, 3 + seed))
    s = summarise(values)
    assert s.n == len(values) and s.mean == pytest.approx(np.mean(values), abs=1e-15)
    assert s.std == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert (s.low, s.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))


def test_one_run_gives_a_mean_and_no_interval():
    s = summarise([0.9, math.nan])
    assert s.n == 1 and s.mean == 0.9 and math.isnan(s.std) and math.isnan(s.low) and math.isnan(s.high)
    assert format_summary("test_accuracy", s) == "90.00 (n=1: no std, no interval)"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_welch_equals_scipy_ttest_ind_unequal_variances(seed, rng):
    a, b = list(rng.normal(0.97, 0.01, 5)), list(rng.normal(0.96, 0.02, 3 + seed))
    w = welch(a, b)
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert w.t == pytest.approx(expected.statistic, rel=1e-12) and w.p == pytest.approx(expected.pvalue, rel=1e-10)
    assert w.df == pytest.approx(expected.df, rel=1e-12)
    low, high = expected.confidence_interval(0.95)
    assert (w.low, w.high) == (pytest.approx(low, rel=1e-10), pytest.approx(high, rel=1e-10))
    assert w.difference == pytest.approx(np.mean(a) - np.mean(b), abs=1e-15)


def test_welch_by_hand():
    # a = 1, 2, 3 (mean 2, variance 1); b = 4, 6, 8 (mean 6, variance 4): se^2 = 1/3 + 4/3 = 5/3,
    # t = -4 / sqrt(5/3), df = (5/3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2) = 50/17
    w = welch([1.0, 2.0, 3.0], [4.0, 6.0, 8.0])
    assert w.difference == -4.0
    assert w.t == pytest.approx(-4.0 / math.sqrt(5.0 / 3.0), rel=1e-14)
    assert w.df == pytest.approx(50.0 / 17.0, rel=1e-14)
    # the quantile and the tail by another route: bisection on Student's CDF (scipy.special.stdtr), which lies
    # between the tabulated t(0.975) of 3 (3.182) and 2 (4.303) degrees of freedom
    low, high = 3.182, 4.303
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if special.stdtr(50.0 / 17.0, middle) < 0.975 else (low, middle)
    assert w.high - w.difference == pytest.approx(low * math.sqrt(5.0 / 3.0), rel=1e-12)
    assert w.difference - w.low == pytest.approx(low * math.sqrt(5.0 / 3.0), rel=1e-12)
    assert w.p == pytest.approx(2.0 * special.stdtr(50.0 / 17.0, -4.0 / math.sqrt(5.0 / 3.0)), rel=1e-12)
    assert 0.05 < w.p < 0.06


def test_welch_needs_two_runs_and_some_spread():
    assert not welch([1.0], [2.0, 3.0]).testable
    assert not welch([1.0, 1.0], [2.0, 2.0]).testable
    assert welch([1.0, 1.0], [2.0, 2.0]).difference == -1.0


# ------------------------------------------------------------------------------------------------------------------
# directions: registry and fronts

def test_every_metric_says_which_way_is_better():
    for name, metric in METRICS.items():
        expected = "higher" if name.endswith("accuracy") else "lower"
        assert metric.direction == expected, name
    assert METRICS["val_accuracy"].data == "validation" and METRICS["spikes"].data == "test"
    assert METRICS["val_loss"].read([{"val_loss": 0.25}], {}) == 0.25


def test_front_with_a_lower_is_better_y():
    points = [(10.0, 0.30), (20.0, 0.10), (15.0, 0.40), (5.0, 0.50), (25.0, 0.10)]
    assert pareto_front(points, ("lower", "lower")) == [(5.0, 0.5), (10.0, 0.3), (20.0, 0.1)]
    # the default (lower x, higher y) on the same points is a different front
    assert pareto_front(points) == [(5.0, 0.5)]
    assert pareto_front(points, ("higher", "lower")) == [(25.0, 0.1)]  # beats every other point
    assert pareto_front(points, ("higher", "higher")) == [(5.0, 0.5), (15.0, 0.4), (25.0, 0.1)]
    with pytest.raises(ValueError, match="directions"):
        pareto_front(points, ("lower", "up"))


def test_report_front_uses_the_directions_of_its_metrics(tmp_path):
    spec = _spec(front={"x": "spikes", "y": "val_loss", "by": []}, compare="front")
    values = _values(0)
    _fake_sweep(str(tmp_path), spec, values)
    result = report(spec, tmp_path)
    pairs = {(row["first"], row["second"]) for row in result.comparisons}
    means = {point: (np.mean(v["spikes"]), np.mean(v["val_loss"])) for point, v in values.items()}
    line = pareto_front(list(means.values()), ("lower", "lower"))
    by_mean = {mean: point for point, mean in means.items()}
    assert pairs == {(by_mean[a], by_mean[b]) for a, b in zip(line, line[1:])}
    assert len(line) >= 2
    assert {row["metric"] for row in result.comparisons} == {"spikes", "val_loss"}
    assert os.path.getsize(result.figure) > 1000


# ------------------------------------------------------------------------------------------------------------------
# the report: table, Welch tests, verdicts, choices

def test_report_table_has_validation_metrics_sample_std_and_intervals(tmp_path):
    spec = _spec()
    values = _values(1)
    _fake_sweep(str(tmp_path), spec, values)
    result = report(spec, tmp_path)
    assert "mean +- sample std (ddof=1) [95 % t-interval of the mean]" in result.text.splitlines()[0]
    for row, (point, series) in zip(result.rows, values.items()):
        for name in ("val_accuracy", "test_accuracy", "val_loss", "spikes"):
            expected = series[name] if name != "spikes" else [s + 1.0 for s in series[name]]
            assert row[f"{name}_n"] == 5
            assert row[f"{name}_mean"] == pytest.approx(np.mean(expected), rel=1e-12)
            assert row[f"{name}_std"] == pytest.approx(np.std(expected, ddof=1), rel=1e-9)
            low, _ = stats.t.interval(0.95, 4, loc=np.mean(expected), scale=stats.sem(expected))
            assert row[f"{name}_ci_low"] == pytest.approx(low, rel=1e-9)
        assert format_summary("val_accuracy", summarise(series["val_accuracy"])) in result.text
    with open(result.summary_csv) as handle:
        header = handle.readline()
    assert "val_accuracy_mean,val_accuracy_std,val_accuracy_ci_low,val_accuracy_ci_high" in header


def test_compare_gives_welch_rows_and_says_dominates_only_when_both_differ(tmp_path):
    better, worse = "method=antlr spike_penalty=0.0003", "method=na spike_penalty=0.0003"
    same_a, same_b = "method=antlr spike_penalty=0.0", "method=na spike_penalty=0.0"
    # point names may list their settings in any order
    spec = _spec(compare=[[better, "spike_penalty=0.0003 method=na"], [same_a, same_b]])
    values = _values(2)
    _fake_sweep(str(tmp_path), spec, values)
    result = report(spec, tmp_path)
    rows = {(row["first"], row["second"], row["metric"]): row for row in result.comparisons}
    assert set(rows) == {(better, worse, "test_accuracy"), (better, worse, "spikes"),
                         (same_a, same_b, "test_accuracy"), (same_a, same_b, "spikes")}
    for (first, second, metric), row in rows.items():
        a, b = values[first][metric], values[second][metric]  # spikes: both + 1.0, the same difference
        expected = stats.ttest_ind(a, b, equal_var=False)
        assert row["t"] == pytest.approx(expected.statistic, rel=1e-9)
        assert row["p"] == pytest.approx(expected.pvalue, rel=1e-7)
        assert row["df"] == pytest.approx(expected.df, rel=1e-9)
    assert rows[(better, worse, "spikes")]["verdict"].startswith(f"{better} dominates {worse}")
    assert rows[(same_a, same_b, "spikes")]["verdict"].startswith("not distinguishable at n=5/5")
    assert "dominates" not in rows[(same_a, same_b, "spikes")]["verdict"]
    assert f"{better} dominates {worse}" in result.text and "not distinguishable at n=5/5" in result.text
    assert os.path.isfile(os.path.join(tmp_path, "compare.csv"))


def test_verdict_needs_both_metrics_in_the_same_favour():
    strong = welch([0.99, 0.98, 0.985], [0.90, 0.91, 0.905])           # first more accurate, clearly
    more_spikes = welch([300.0, 310.0, 305.0], [100.0, 110.0, 105.0])  # ... but with more spikes, clearly
    unclear = welch([100.0, 130.0, 90.0], [105.0, 95.0, 120.0])
    trade = verdict("A", "B", {"test_accuracy": strong, "spikes": more_spikes})
    assert "dominates" not in trade and "A better in test_accuracy" in trade and "B better in spikes" in trade
    half = verdict("A", "B", {"test_accuracy": strong, "spikes": unclear})
    assert "dominates" not in half and "spikes not distinguishable" in half
    fewer_spikes = welch([100.0, 110.0, 105.0], [300.0, 310.0, 305.0])
    assert verdict("A", "B", {"test_accuracy": strong, "spikes": fewer_spikes}).startswith("A dominates B")
    assert verdict("B", "A", {"test_accuracy": welch([0.90, 0.91, 0.905], [0.99, 0.98, 0.985]),
                              "spikes": more_spikes}).startswith("A dominates B")
    one_run = verdict("A", "B", {"test_accuracy": welch([0.99], [0.9, 0.91]), "spikes": welch([1.0], [2.0, 3.0])})
    assert one_run.startswith("not distinguishable at n=1/2")
    assert verdict("A", "B", {"test_accuracy": welch([], [0.9, 0.91])}).startswith("nothing to compare yet (n=0/2")


def test_choice_is_made_on_validation_and_reports_test(tmp_path):
    spec = _spec(choose={"by": ["spike_penalty"], "on": "val_accuracy", "report": ["test_accuracy", "spikes"]})
    values = _values(3)
    # at penalty 0, na is better on validation and antlr on test: a choice on test would pick antlr
    values["method=na spike_penalty=0.0"]["val_accuracy"] = [0.985, 0.986, 0.984, 0.985, 0.987]
    values["method=na spike_penalty=0.0"]["test_accuracy"] = [0.950, 0.951, 0.949, 0.952, 0.950]
    _fake_sweep(str(tmp_path), spec, values)
    result = report(spec, tmp_path)
    chosen = {row["group"]: row for row in result.chosen}
    assert chosen["spike_penalty=0.0"]["point"] == "method=na spike_penalty=0.0"
    assert set(chosen) == {"spike_penalty=0.0", "spike_penalty=0.0003"}
    for penalty, row in chosen.items():
        candidates = {p: v for p, v in values.items() if p.endswith(penalty)}
        by_val = max(candidates, key=lambda p: np.mean(candidates[p]["val_accuracy"]))
        assert row["point"] == by_val
        assert row["test_accuracy_mean"] == pytest.approx(np.mean(values[by_val]["test_accuracy"]), rel=1e-12)
        assert row["test_accuracy_n"] == 5
    assert "chosen on val_accuracy" in result.text and "the test set is not used to choose" in result.text


def test_choice_on_a_lower_is_better_validation_metric(tmp_path):
    spec = _spec(choose={"by": [], "on": "val_loss"})
    values = _values(4)
    _fake_sweep(str(tmp_path), spec, values)
    (row,) = report(spec, tmp_path).chosen
    assert row["point"] == min(values, key=lambda p: np.mean(values[p]["val_loss"]))


def test_compare_chosen_tests_the_points_chosen_on_validation_against_each_other(tmp_path):
    """compare = "chosen": per choice, every pair of the points it picked on validation (here one per method: the
    better validation mean, which is not the better test mean for antlr); named pairs and front neighbours can be
    asked for alongside, and a pair asked for twice is tested once."""
    values = _values(3)
    named = ["method=antlr spike_penalty=0.0", "method=na spike_penalty=0.0003"]
    spec = _spec(compare=["chosen", named, "front", "chosen"], choose={"by": ["method"], "on": "val_accuracy"})
    assert spec.compare == ("chosen", tuple(named), "front")
    _fake_sweep(str(tmp_path), spec, values)
    result = report(spec, tmp_path)

    def best_on_validation(method):
        points = [p for p in values if p.startswith(f"method={method} ")]
        return max(points, key=lambda p: np.mean(values[p]["val_accuracy"]))
    chosen = (best_on_validation("antlr"), best_on_validation("na"))
    assert chosen[0] == "method=antlr spike_penalty=0.0"  # not antlr's better test point (3e-4)
    asked = {(row["first"], row["second"]): row["asked_by"] for row in result.comparisons}
    assert asked[chosen] == "chosen"
    assert asked[tuple(named)] == "pair"
    assert sum(1 for row in result.comparisons if (row["first"], row["second"]) == chosen) == 2  # two metrics
    for row in result.comparisons:
        if (row["first"], row["second"]) == chosen:
            expected = welch(values[chosen[0]][row["metric"]] if row["metric"] != "spikes" else
                             [s + 1.0 for s in values[chosen[0]]["spikes"]],
                             values[chosen[1]][row["metric"]] if row["metric"] != "spikes" else
                             [s + 1.0 for s in values[chosen[1]]["spikes"]])
            assert row["p"] == pytest.approx(expected.p, rel=1e-12)
    assert f"{chosen[0]}  vs  {chosen[1]}  (both chosen on validation)" in result.text
    assert any(source == "front" for source in asked.values())


def test_front_figure_draws_on_the_asked_scale_and_rings_the_points_chosen_on_validation(tmp_path):
    from matplotlib.collections import PathCollection

    from eventsnn.sweep_report import choose_points, collect, front_figure
    spec = _spec(front={"x": "spikes", "y": "test_accuracy", "by": ["method"], "x_scale": "log"},
                 choose={"by": ["method"], "on": "val_accuracy"})
    assert spec.front.x_scale == "log" and _spec().front.x_scale == "linear"
    values = _values(3)
    _fake_sweep(str(tmp_path), spec, values)
    per_run = collect(spec, str(tmp_path))
    chosen = choose_points(spec, per_run)
    (ax,) = front_figure(spec, per_run, chosen).axes
    assert ax.get_xscale() == "log"
    rings = [c for c in ax.collections if c.get_label() == "chosen on val_accuracy"]
    assert len(rings) == 1  # one legend entry for all rings
    ringed = sorted(tuple(o) for c in ax.collections if isinstance(c, PathCollection) and c.get_sizes().size
                    and c.get_sizes()[0] == 130 for o in c.get_offsets())
    means = {p: (np.mean([s + 1.0 for s in v["spikes"]]), 100 * np.mean(v["test_accuracy"]))
             for p, v in values.items()}
    assert np.allclose(ringed, sorted(means[row["point"]] for row in chosen), rtol=1e-12)
    assert os.path.getsize(report(spec, tmp_path).figure) > 1000


@pytest.mark.parametrize("report_table, message", [
    ({"choose": {"on": "test_accuracy"}}, "a choice is made on validation, never on test data"),
    ({"choose": {"on": "spikes"}}, "never on test data"),
    ({"choose": {"on": "train_accuracy"}}, "never on training data"),
    ({"choose": [{"on": "val_accuracy"}, {"on": "test_loss"}]}, r"\[report\] choose\[1\] on = 'test_loss'"),
    ({"choose": {"on": "val_accuracy", "by": "method"}}, "by must be a list of settings"),
    ({"choose": {"on": "val_accuracy", "report": ["accuracy"]}}, "report must be a non-empty list"),
    ({"choose": {"on": "val_accuracy", "with": 1}}, "unknown key of"),
    ({"compare": [["method=antlr spike_penalty=0.0", "method=sgd spike_penalty=0.0"]]}, "no point 'method=sgd"),
    ({"compare": [["method=antlr spike_penalty=0.0", "spike_penalty=0.0 method=antlr"]]}, "with itself"),
    ({"compare": [["method=antlr spike_penalty=0.0"]]}, "must be a pair of point names"),
    ({"compare": "neighbours"}, "compare must be 'front', 'chosen' or a list of these and of pairs"),
    ({"compare": ["front", "best"]}, "compare must be 'front', 'chosen' or a list"),
    ({"compare": "chosen"}, "compares the points chosen on validation, but there is no"),
    ({"front": {"x": "spikes", "x_scale": "logarithmic"}}, "front.x_scale must be one of 'linear', 'log'"),
])
def test_bad_report_sections_are_refused(report_table, message):
    with pytest.raises(SpecError, match=message):
        _spec(**report_table)


# ------------------------------------------------------------------------------------------------------------------
# compact records

def test_export_writes_compact_portable_records_and_a_summary(tmp_path):
    out, dest = str(tmp_path / "sweep"), str(tmp_path / "records")
    spec = _spec()
    values = _values(5)
    _fake_sweep(out, spec, values)
    os.remove(status_path(out, spec.runs[-1]))  # one run not done: left out
    exported = export_records(spec, out, dest)
    assert exported.not_done == [spec.runs[-1].name] and len(exported.records) == len(spec.runs) - 1
    record = os.path.join(dest, "method-antlr__spike_penalty-0.0003", "seed-2")
    assert record in exported.records and sorted(os.listdir(record)) == ["metrics.json", "run.json"]
    info = json.load(open(os.path.join(record, "run.json")))
    assert info["argv"][-4:] == ["--out", "<scratch>/method-antlr__spike_penalty-0.0003__seed-2", "--data", "<data>"]
    assert info["resumed"][0]["argv"] == ["train", "--out", "<scratch>/method-antlr__spike_penalty-0.0003__seed-2"]
    original = json.load(open(os.path.join(out, "method-antlr__spike_penalty-0.0003__seed-2", "metrics.json")))
    assert json.load(open(os.path.join(record, "metrics.json"))) == original
    assert not any(str(tmp_path) in open(os.path.join(r, "run.json")).read() for r in exported.records)
    assert exported.largest_bytes < 50_000
    summary = read_run(record)  # eventsnn summary reads a record like a run directory
    assert summary.history[-1]["test_accuracy"] == original[-1]["test_accuracy"]
    with open(exported.summary_csv) as handle:
        header = handle.readline().strip().split(",")
        rows = handle.read().splitlines()
    assert header[0] == "point" and len(rows) == 4
    for name in ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "spikes"):
        assert {f"{name}_n", f"{name}_mean", f"{name}_std", f"{name}_ci_low", f"{name}_ci_high"} <= set(header)
    assert rows[-1].split(",")[header.index("val_accuracy_n")] == "4"


def test_export_of_a_hundred_epochs_stays_under_50_kb(tmp_path, rng):
    out, dest = str(tmp_path / "sweep"), str(tmp_path / "records")
    spec = spec_from_dict({"sweep": {"task": "yinyang", "seeds": [0]}, "fixed": {"epochs": 100}})
    (run,) = spec.runs
    os.makedirs(os.path.join(out, run.name))
    keys = ("loss", "train_accuracy", "forward_s", "backward_s", "train_silent_label_fraction", "val_loss",
            "val_accuracy", "val_spikes_until_first_output", "epoch_s")
    history = [{"epoch": e, **{k: float(rng.random()) for k in keys}, "n_near_grazing": 40, "n_remedy_bumps": 0,
                "val_spikes_per_sample": [float(rng.random()) * 30, float(rng.random()) * 3],
                "val_silent_fraction": [float(rng.random()), 0.0]} for e in range(1, 101)]
    json.dump(history, open(os.path.join(out, run.name, "metrics.json"), "w"), indent=1)
    json.dump({"argv": ["train", "--out", out], "finished_at": "x"}, open(os.path.join(out, run.name, "run.json"), "w"))
    open(os.path.join(out, run.name, "model.npz"), "wb").close()
    os.makedirs(os.path.join(out, "_sweep"))
    json.dump({"status": "done", "argv": list(run.argv)}, open(status_path(out, run), "w"))
    exported = export_records(spec, out, dest)
    assert exported.records == [os.path.join(dest, "all", "seed-0")]
    assert 20_000 < exported.largest_bytes < 50_000
    assert exported.largest_bytes < os.path.getsize(os.path.join(out, run.name, "metrics.json"))


def test_export_refuses_a_destination_inside_the_sweep(tmp_path):
    spec = _spec()
    os.makedirs(tmp_path / "sweep")
    with pytest.raises(ValueError, match="must lie outside the sweep's directory"):
        export_records(spec, tmp_path / "sweep", tmp_path / "sweep" / "records")
    with pytest.raises(FileNotFoundError, match="no sweep has run there"):
        export_records(spec, tmp_path / "none", tmp_path / "records")


def test_sweep_command_exports_records_without_running(tmp_path, monkeypatch):
    from eventsnn import sweep as sweep_module
    out = str(tmp_path / "sweep")
    spec_file = tmp_path / "synthetic.toml"
    spec_file.write_text('[sweep]\ntask = "yinyang"\nseeds = [0, 1, 2, 3, 4]\nname = "synthetic"\n[fixed]\nepochs = 2\n'
                         '[grid]\nmethod = ["antlr", "na"]\nspike_penalty = [0.0, 3e-4]\n')
    _fake_sweep(out, load_spec(spec_file), _values(6))

    def no_running(*args, **kwargs):
        raise AssertionError("an export must not run the sweep")
    monkeypatch.setattr(sweep_module, "run_sweep", no_running)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["sweep", str(spec_file), "--out", out, "--export-records", str(tmp_path / "records")])
    assert code == 0 and "20 run records written" in stdout.getvalue()
    assert os.path.isfile(tmp_path / "records" / "method-na__spike_penalty-0.0" / "seed-4" / "metrics.json")


def test_the_report_section_of_docs_sweeps_validates_with_its_example_spec():
    docs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
    text = open(os.path.join(docs, "sweeps.md")).read()
    (block,) = [b for b in re.findall(r"^```toml\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
                if b.startswith("[report]") and "choose" in b]
    with open(os.path.join(docs, "sweeps_yinyang.toml"), "rb") as handle:
        spec = tomllib.load(handle)
    spec["report"] = tomllib.loads(block)["report"]
    checked = spec_from_dict(spec)
    assert checked.compare == (("method=antlr spike_penalty=0.001", "method=activation spike_penalty=0.001"),)
    assert checked.choose[0].on == "val_accuracy"


@pytest.mark.parametrize("infinity", [math.inf, -math.inf])
def test_statistics_refuse_an_infinity_with_a_value_error(infinity):
    # statistics.stdev raised "AttributeError: 'float' object has no attribute 'numerator'"
    with pytest.raises(ValueError, match="values must hold finite values or NaN, got"):
        summarise([infinity, 0.5])
    with pytest.raises(ValueError, match="a must hold finite values or NaN, got"):
        welch([0.5, infinity], [0.5, 0.6])
    assert summarise([math.nan, 0.5, 0.7]).n == 2  # NaN is still a missing value, left out


def test_an_export_stopped_by_a_bad_record_writes_nothing(tmp_path):
    # the records were written run by run: a done run whose metrics.json is not a list stopped the export after
    # the records before it, leaving them without a summary (or next to an earlier export's)
    spec = spec_from_dict({"sweep": {"task": "yinyang", "seeds": [0, 1, 2]}})
    out, dest = tmp_path / "sweep", tmp_path / "records"
    (out / "_sweep").mkdir(parents=True)
    for seed, run in enumerate(spec.runs):
        run_dir = out / run.name
        run_dir.mkdir()
        (run_dir / "run.json").write_text(json.dumps({"finished_at": "2026-01-01T00:00:00+00:00", "argv": ["train"]}))
        (run_dir / "model.npz").write_text("")
        (run_dir / "metrics.json").write_text('{"epoch": 1}' if seed == 2 else '[{"epoch": 1, "test_accuracy": 0.9}]')
        (out / "_sweep" / f"{run.name}.json").write_text(json.dumps({"status": "done", "argv": list(run.argv)}))
    with pytest.raises(ValueError, match="seed-2: run.json must hold an object and metrics.json a list"):
        export_records(spec, str(out), str(dest))
    assert not dest.exists()
