"""``eventsnn sweep`` (eventsnn/sweep.py): spec validation, runs equal to ``eventsnn train``, resumption, worker loss.

The runs are tiny Yin-Yang trainings (300 / 50 samples, 20 hidden neurons, 3 epochs) so that the whole file stays
well under two minutes on a loaded two-core machine. "Started one by one with ``eventsnn train``" means what the
console script does: ``sys.argv`` set to the command line, then :func:`eventsnn.cli.main`.
"""

from __future__ import annotations

import argparse
import json
import re
import os
import signal
import subprocess
import sys
import time

import distributed
import numpy as np
import pytest

from eventsnn import cli, sweep

FIXED = """
[fixed]
epochs = 3
n_train = 300
n_test = 50
hidden = 20
"""
SPEC_2x2x2 = '[sweep]\ntask = "yinyang"\nseeds = [0, 1]\n' + FIXED + """
[grid]
method = ["timing", "antlr"]
spike_penalty = [0.0, 1e-3]

[report]
metrics = ["test_accuracy", "spikes", "hidden_spikes"]
"""
# four of the same runs (antlr, slow enough per epoch to be killed mid-run), named differently
SPEC_KILL = '[sweep]\ntask = "yinyang"\nseeds = [0, 1]\n' + FIXED + """
method = "antlr"
[grid]
spike_penalty = [0.0, 1e-3]
"""
TIMING_KEYS = ("forward_s", "backward_s", "epoch_s")  # wall times: the only numbers allowed to differ


def _write(directory, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def _train(argv: list, monkeypatch) -> None:
    """``eventsnn train ARGV`` in this process, as the console script runs it."""
    with monkeypatch.context() as patch:
        patch.setattr(sys, "argv", ["eventsnn", *argv])
        assert cli.main() == 0


def _without_timing(rows: list) -> list:
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def _records(run_dir: str) -> dict:
    """Everything a run directory records, minus wall times, dates, the output path and the resume flag."""
    records = {"files": sorted(os.listdir(run_dir))}
    # the run id is random per run (eventsnn.rundir): it ties a run's files together, not its results
    with np.load(os.path.join(run_dir, "model.npz")) as model:
        records["model"] = {k: model[k].tolist() for k in model.files if k not in ("run_id", "header")}
        if "header" in model.files:  # eventsnn.saved's self-description, the run id among its metadata
            header = json.loads(str(model["header"]))
            header.get("metadata", {}).pop("run_id", None)
            records["model_header"] = header
    with np.load(os.path.join(run_dir, "checkpoint.npz")) as checkpoint:
        records["checkpoint"] = {k: checkpoint[k].tolist() for k in checkpoint.files if k not in ("history", "run_id")}
        records["checkpoint_history"] = _without_timing(json.loads(str(checkpoint["history"])))
    with open(os.path.join(run_dir, "metrics.json")) as handle:
        records["metrics"] = _without_timing(json.load(handle))
    with open(os.path.join(run_dir, "metrics.csv")) as handle:
        header, *lines = [line.rstrip("\n").split(",") for line in handle]
    keep = [i for i, key in enumerate(header) if key not in TIMING_KEYS]
    records["metrics_csv"] = [[row[i] for i in keep] for row in [header, *lines]]
    with open(os.path.join(run_dir, "run.json")) as handle:
        info = json.load(handle)
    argv = info.pop("argv")
    out = argv.index("--out")
    records["argv"] = [a for a in argv[:out] + argv[out + 2:] if a != "--resume"]
    for key in ("started_at", "finished_at", "resumed", "run_id"):
        info.pop(key)
    records["run"] = info
    with open(os.path.join(run_dir, "raster.png"), "rb") as handle:
        records["raster"] = handle.read()
    return records


@pytest.fixture(scope="module")
def spec_2x2x2(tmp_path_factory):
    return sweep.load_spec(_write(tmp_path_factory.mktemp("spec"), "grid.toml", SPEC_2x2x2))


@pytest.fixture(scope="module")
def one_by_one(spec_2x2x2, tmp_path_factory):
    """The 8 runs of the 2 x 2 x 2 sweep, each trained by its own ``eventsnn train`` command: argv -> records."""
    root = tmp_path_factory.mktemp("one_by_one")
    records = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for run in spec_2x2x2.runs:
            run_dir = str(root / run.name)
            _train(["train", *run.argv, "--out", run_dir], monkeypatch)
            records[run.argv] = _records(run_dir)
    return records


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes with one thread each, as ``eventsnn sweep --workers 2`` makes."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"NUMBA_NUM_THREADS": "1"}) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def swept(spec_2x2x2, client, tmp_path_factory):
    """The 2 x 2 x 2 sweep run on the 2-worker cluster: (output directory, result, progress lines)."""
    out = str(tmp_path_factory.mktemp("sweep"))
    lines = []
    result = sweep.run_sweep(spec_2x2x2, out, client=client, log=lines.append, progress_every=1.0)
    return out, result, lines


def test_sweep_runs_equal_eventsnn_train_runs(spec_2x2x2, swept, one_by_one):
    out, result, lines = swept
    assert (result.n_runs, result.n_submitted, result.n_done, result.n_failed) == (8, 8, 8, 0)
    assert sorted(os.listdir(out)) == sorted([run.name for run in spec_2x2x2.runs]
                                             + ["_sweep", "front.png", "runs.csv", "summary.csv"])
    for run in spec_2x2x2.runs:
        run_dir = os.path.join(out, run.name)
        assert {"checkpoint.npz", "metrics.csv", "metrics.json", "model.npz", "raster.png", "run.json"} \
            <= set(os.listdir(run_dir))
        assert _records(run_dir) == one_by_one[run.argv], run.name
        assert sweep.read_status(out, run)["status"] == "done"
    # the runs differ: a comparison of identical files would prove nothing
    assert len({json.dumps(r["metrics"]) for r in one_by_one.values()}) >= 4
    assert lines[-2].startswith("  8 done, 0 running, 0 failed, 0 left (of 8 submitted)")


def test_names_say_what_differs(spec_2x2x2):
    assert [run.name for run in spec_2x2x2.runs][:3] == [
        "method-timing__spike_penalty-0.0__seed-0", "method-timing__spike_penalty-0.0__seed-1",
        "method-timing__spike_penalty-0.001__seed-0"]
    assert spec_2x2x2.runs[7].argv == ("yinyang", "--seed", "1", "--threads", "1", "--no-progress", "--method", "antlr",
                                       "--spike-penalty", "0.001", "--hidden", "20", "--epochs", "3", "--n-train",
                                       "300", "--n-test", "50")


def test_report_means_over_seeds(spec_2x2x2, swept, one_by_one):
    out, result, _ = swept
    rows = result.report.rows
    assert [(r["method"], r["spike_penalty"], r["done"]) for r in rows] == [
        ("timing", 0.0, 2), ("timing", 0.001, 2), ("antlr", 0.0, 2), ("antlr", 0.001, 2)]
    for row, runs in zip(rows, [spec_2x2x2.runs[i:i + 2] for i in range(0, 8, 2)]):
        accuracies = [one_by_one[run.argv]["metrics"][-1]["test_accuracy"] for run in runs]
        assert row["test_accuracy_mean"] == pytest.approx(np.mean(accuracies), abs=1e-15)
        assert row["test_accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1), abs=1e-15)  # sample std
        spikes = [sum(one_by_one[run.argv]["metrics"][-1]["test_spikes_per_sample"]) for run in runs]
        assert row["spikes_mean"] == pytest.approx(np.mean(spikes), abs=1e-12)
    assert "method=antlr spike_penalty=0.001" in result.report.text
    assert os.path.getsize(os.path.join(out, "front.png")) > 1000
    with open(os.path.join(out, "summary.csv")) as handle:
        assert handle.readline().startswith("method,spike_penalty,runs,done,failed,test_accuracy_n,test_accuracy_mean,"
                                            "test_accuracy_std,test_accuracy_ci_low,test_accuracy_ci_high")


def test_running_again_does_nothing(spec_2x2x2, swept, monkeypatch, capsys):
    out, _, _ = swept

    def snapshot() -> dict:
        files = {}
        for run in spec_2x2x2.runs:
            for directory in (os.path.join(out, run.name), os.path.join(out, "_sweep")):
                for name in os.listdir(directory):
                    stat = os.stat(os.path.join(directory, name))
                    files[os.path.join(directory, name)] = (stat.st_mtime_ns, stat.st_size)
        return files

    before = snapshot()

    def no_cluster(*args, **kwargs):
        raise AssertionError("a sweep with nothing to do started a cluster")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    monkeypatch.setattr(distributed, "Client", no_cluster)
    assert cli.main(["sweep", spec_2x2x2.source, "--out", out, "--workers", "2"]) == 0
    assert "all 8 runs already done or failed; nothing to run" in capsys.readouterr().out
    assert snapshot() == before
    # the report alone, any time
    assert cli.main(["sweep", spec_2x2x2.source, "--out", out, "--report"]) == 0
    assert "method=timing spike_penalty=0.0" in capsys.readouterr().out


def test_a_failing_run_is_recorded_and_the_others_go_on(client, tmp_path, monkeypatch):
    spec = sweep.load_spec(_write(tmp_path, "two.toml", '[sweep]\ntask = "yinyang"\n[fixed]\nepochs = 1\n'
                                  'n_train = 50\nn_test = 20\nhidden = 10\n[grid]\nlr = [0.003, 0.01]\n'))
    out = tmp_path / "out"
    # a checkpoint written with other settings in the first run's directory: resuming it must fail
    bad = spec.runs[0]
    argv = list(bad.argv)
    argv[argv.index("--lr") + 1] = "0.02"
    _train(["train", *argv, "--out", str(out / bad.name)], monkeypatch)
    lines = []
    result = sweep.run_sweep(spec, out, client=client, log=lines.append)
    assert (result.n_done, result.n_failed) == (1, 1)
    status = sweep.read_status(str(out), bad)
    assert status["status"] == "failed" and "cannot resume" in status["error"] and "lr: 0.02 there" in status["error"]
    assert sweep.read_status(str(out), spec.runs[1])["status"] == "done"
    assert any(line.startswith("  failed: lr-0.003: ") for line in lines)
    assert "failed: lr-0.003: eventsnn: error: cannot resume" in result.report.text
    # a failed run stays failed until asked
    again = sweep.run_sweep(spec, out, client=client, log=None)
    assert (again.n_skipped, again.n_submitted) == (2, 0)
    retried = sweep.run_sweep(spec, out, client=client, log=None, retry_failed=True)
    assert (retried.n_submitted, retried.n_failed) == (1, 1)


def test_scheduler_address(client, tmp_path, capsys):
    """``--scheduler ADDRESS`` submits to a running cluster (here the fixture's) and leaves it running."""
    path = _write(tmp_path, "one.toml", '[sweep]\ntask = "yinyang"\n[fixed]\nepochs = 1\nn_train = 40\nn_test = 20\n'
                                         'hidden = 10\n')
    out = tmp_path / "out"
    assert cli.main(["sweep", path, "--out", str(out), "--scheduler", client.scheduler.address]) == 0
    assert "1 of 1 runs to do" in capsys.readouterr().out
    assert sweep.read_status(str(out), sweep.load_spec(path).runs[0])["status"] == "done"
    assert {"checkpoint.npz", "metrics.json", "model.npz", "run.json"} <= set(os.listdir(out / "run"))
    assert client.submit(sum, [1, 2], pure=False).result() == 3  # the cluster still serves


def test_killed_worker_run_resumes_and_equals_uninterrupted(one_by_one, tmp_path):
    spec_path = _write(tmp_path, "kill.toml", SPEC_KILL)
    spec = sweep.load_spec(spec_path)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(sweep.__file__)),
                                                        os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "eventsnn", "sweep", spec_path, "--out", str(out),
                                "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    killed = None
    try:
        deadline = time.monotonic() + 120.0
        while killed is None and time.monotonic() < deadline and process.poll() is None:
            for run in spec.runs:
                status = sweep.read_status(str(out), run)
                metrics = out / run.name / "metrics.json"
                if status["status"] == "running" and metrics.exists():
                    # killed after its first checkpoint, with epochs left to run
                    if len(json.loads(metrics.read_text())) < 3:
                        os.kill(status["pid"], signal.SIGKILL)
                        killed = run
                        break
            time.sleep(0.01)
        output, _ = process.communicate(timeout=180.0)
    finally:
        if process.poll() is None:
            process.kill()
    assert killed is not None, "no run was seen in the middle of training"
    assert process.returncode == 0, output
    assert "4 done, 0 running, 0 failed, 0 left" in output
    with open(out / killed.name / "run.json") as handle:
        resumed = json.load(handle)["resumed"]
    assert len(resumed) == 1 and 1 <= resumed[0]["at_epoch"] < 3, resumed  # it continued from its checkpoint
    for run in spec.runs:
        assert sweep.read_status(str(out), run)["status"] == "done"
        assert _records(str(out / run.name)) == one_by_one[run.argv], run.name


BAD_SPECS = [
    ("[sweep]\ntask = 'yinyang'\n[fixed]\nepoch = 1\n", "[fixed] epoch: unknown setting; valid: batch_size"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\nmethod = []\n", "[grid] method is an empty list: nothing to run"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\n", "[grid] is empty"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\nlr = 0.1\n", "[grid] lr must be a list of values"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\nlr = [0.1, -1.0]\n", "[grid] lr[1]: TrainConfig.lr must be a finite number"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\nhidden = [10, 2.5]\n", "[grid] hidden[1]: expected an int, got float"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\nmethod = ['timing', 'exact']\n", "method must be one of"),
    ("[sweep]\ntask = 'yinyang'\n[fixed]\nmethod = 'timing'\noption.form = 'grid'\n",
     "method='timing' takes no method_options"),
    ("[sweep]\ntask = 'yinyang'\n[fixed]\noption.shape = 1\n", "option.shape: unknown method option"),
    ("[sweep]\ntask = 'yinyang'\n[fixed]\nseed = 1\n", "seed cannot be set in a sweep: give the seeds as"),
    ("[sweep]\ntask = 'yinyang'\nseeds = []\n", "[sweep] seeds must be a non-empty list"),
    ("[sweep]\ntask = 'cifar'\n", "[sweep] task must be one of"),
    ("[sweep]\n", "[sweep] task is missing"),
    ("[sweep]\ntask = 'yinyang'\n[fixed]\nlr = 0.1\n[grid]\nlr = [0.2]\n", "[grid] lr is also in [fixed]"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\nlr = [0.1]\n[[points]]\nlr = 0.1\n", "[[points]] 1 repeats the point of"),
    ("[sweep]\ntask = 'yinyang'\n[fixed]\npreset = 'antlr'\n", "preset (task 'yinyang') must be one of"),
    ("[sweep]\ntask = 'yinyang'\n[report]\nmetrics = ['accuracy']\n", "[report] metrics: unknown metric 'accuracy'"),
    ("[sweep]\ntask = 'yinyang'\n[report]\nfront = {x = 'spikes', y = 'test_accuracy', by = ['colour']}\n",
     "[report] front.by: 'colour' is not a setting"),
    ("[sweep]\ntask = 'yinyang'\n[runs]\n", "unknown section 'runs'; valid: sweep, fixed, grid, points, report"),
    ("[sweep\n", "not valid TOML"),
    # a run name too long for a file name: it failed once the sweep had started (OSError writing its status file)
    ("[sweep]\ntask = 'yinyang'\n[grid]\ndata = ['" + "a" * 250 + "', '" + "b" * 250 + "']\n",
     "gets a directory name of 255 characters, more than 236"),
    # values of TOML types the fields do not take (lists, tables, dates, times): SpecError, never a TypeError
    ("[sweep]\ntask = ['yinyang']\n", "[sweep] task must be one of"),
    ("[sweep]\ntask = 'yinyang'\n[report]\nfront = {by = 5}\n", "[report] front.by must be a list of settings"),
    ("[sweep]\ntask = 'yinyang'\n[report]\nfront = {x = ['spikes']}\n", "[report] front.x: unknown metric ['spikes']"),
    ("[sweep]\ntask = 'yinyang'\n[report]\nmetrics = [['spikes']]\n", "[report] metrics: unknown metric ['spikes']"),
    ("[sweep]\ntask = 'yinyang'\n[report]\nchoose = {on = ['val_accuracy']}\n",
     "[report] choose on: unknown metric ['val_accuracy']"),
    ("[sweep]\ntask = 'yinyang'\n[report]\nchoose = {report = [['test_accuracy']]}\n",
     "[report] choose report must be a non-empty list of metric names"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\nlr = [1979-05-27, 0.1]\n", "[grid] lr[0]: expected a number, got date"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\nmethod = ['na']\noption.na_power = [1979-05-27, 2.0]\n",
     "[grid] option.na_power[0]: a method option takes a number, true/false or a word"),
    ("[sweep]\ntask = 'yinyang'\n[grid]\n" + "".join(
        f"{key} = {[start + k for k in range(10)]}\n" for key, start in
        (("lr", 1.0), ("spike_penalty", 0.0), ("grad_clip", 0.0), ("hidden", 1), ("epochs", 1))),
     "[grid] expands to 100000 points, more than 10000"),
    # bounded over all tables and seeds too: a short file asked for any number of runs (about 1.5 kB of memory and
    # 15 us of validation each), e.g. a few thousand seeds of a 10000-point grid
    ("[sweep]\ntask = 'yinyang'\nseeds = " + str(list(range(11))) + "\n[grid]\n" + "".join(
        f"{key} = {[start + k for k in range(10)]}\n" for key, start in
        (("lr", 1.0), ("spike_penalty", 0.0), ("grad_clip", 0.0), ("hidden", 1))),
     "[grid]: the sweep would hold 10000 points x 11 seeds = 110000 runs, more than 100000"),
    ("[sweep]\ntask = 'yinyang'\nseeds = " + str(list(range(100_001))) + "\n",
     "[sweep]: the sweep would hold 1 points x 100001 seeds = 100001 runs, more than 100000"),
]


@pytest.mark.parametrize("text, message", BAD_SPECS, ids=[m[:40] for _, m in BAD_SPECS])
def test_bad_spec_fails_before_any_worker_starts(text, message, tmp_path, monkeypatch, capsys):
    path = _write(tmp_path, "bad.toml", text)
    with pytest.raises(sweep.SpecError, match="bad.toml: ") as error:
        sweep.load_spec(path)
    assert message in str(error.value)

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a bad spec")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    monkeypatch.setattr(distributed, "Client", no_cluster)
    capsys.readouterr()
    assert cli.main(["sweep", path, "--out", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr().err
    assert printed.startswith("eventsnn: error: ") and message in printed and printed.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../escaped", "{tmp}/absolute", ".", "a/../.."])
def test_a_spec_name_that_leads_out_of_runs_is_refused_as_default_output(name, tmp_path, monkeypatch, capsys):
    # without --out a sweep writes into runs/<name>: a name with "..", an absolute path or "." made it write its
    # runs outside runs/ (or into runs/ itself, among other sweeps)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    name = name.format(tmp=tmp_path)
    path = _write(tmp_path, "named.toml", f'[sweep]\ntask = "yinyang"\nname = "{name}"\n')

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a sweep without a valid output directory")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    monkeypatch.setattr(distributed, "Client", no_cluster)
    capsys.readouterr()
    assert cli.main(["sweep", path]) == 1
    assert f"named.toml: [sweep] name {name!r} names the default output directory runs/<name>, which must lie " \
           "inside runs/" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["cwd", "named.toml"] and os.listdir(cwd) == []
    # with --out the name is a title only
    monkeypatch.setattr(sweep, "run_sweep", lambda spec, out, **options: sweep.SweepResult(n_runs=1, n_skipped=1))
    assert cli.main(["sweep", path, "--out", str(tmp_path / "out")]) == 0


@pytest.mark.parametrize("option, value, message", [
    ("progress_every", 0.0, "progress_every must be a finite number of seconds > 0, got 0.0"),
    ("progress_every", float("nan"), "progress_every must be a finite number of seconds > 0, got nan"),
    ("progress_every", "10", "progress_every must be a finite number of seconds > 0, got '10'"),
    ("log", "stdout", "log must be callable or None, got str"),
])
def test_run_sweep_refuses_bad_options_before_any_cluster_starts(tmp_path, monkeypatch, option, value, message):
    # they were used only once the cluster ran: progress_every=0 made the progress loop spin, printing a line per
    # turn until the runs were done; a log that is not callable raised TypeError with the runs submitted
    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    monkeypatch.setattr(distributed, "Client", no_cluster)
    spec = sweep.spec_from_dict({"sweep": {"task": "yinyang"}})
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        sweep.run_sweep(spec, str(tmp_path / "out"), **{option: value})
    assert not (tmp_path / "out").exists()


def test_points_and_several_grids(tmp_path):
    spec = sweep.load_spec(_write(tmp_path, "mixed.toml", """
[sweep]
task = "mnist"
[fixed]
loss = "latency"
[[grid]]
method = ["antlr"]
option.form = ["event", "grid"]
spike_penalty = [0.0, 1e-3]
[[grid]]
method = ["activation"]
spike_penalty = [1e-3]
[[points]]
method = "timing"
[report]
front = { x = "hidden_spikes", y = "test_accuracy" }
"""))
    assert [run.name for run in spec.runs] == [
        "method-antlr__option.form-event__spike_penalty-0.0", "method-antlr__option.form-event__spike_penalty-0.001",
        "method-antlr__option.form-grid__spike_penalty-0.0", "method-antlr__option.form-grid__spike_penalty-0.001",
        "method-activation__spike_penalty-0.001", "method-timing"]
    assert spec.varying == ("method", "option.form", "spike_penalty")
    assert spec.front == sweep.Front(x="hidden_spikes", y="test_accuracy", by=("method", "option.form"))
    assert spec.runs[2].argv[5:] == ("--no-progress", "--method", "antlr", "--option", "form=grid", "--loss", "latency",
                                     "--spike-penalty", "0.0")


def test_study_spec_is_the_study_scripts_default_sweep():
    """studies/accuracy_sparsity.toml and studies/accuracy_sparsity.py (a thin wrapper) describe the same runs."""
    studies = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "studies")
    sys.path.insert(0, studies)
    try:
        import accuracy_sparsity
    finally:
        sys.path.remove(studies)
    defaults = argparse.Namespace(penalties="0,0.0003,0.001,0.003", methods=",".join(accuracy_sparsity.METHODS),
                                  hidden=100, epochs=3, n_train=6000, n_test=2000, seed=0, lr=None, data=None,
                                  loss="latency", lr_decay=0.9, tau_mem=10.0)
    from_script = sweep.spec_from_dict(accuracy_sparsity.spec_dict(defaults))
    from_file = sweep.load_spec(os.path.join(studies, "accuracy_sparsity.toml"))
    assert len(from_file.runs) == 17
    assert sorted((r.name, r.argv) for r in from_script.runs) == sorted((r.name, r.argv) for r in from_file.runs)
    assert from_script.front == from_file.front and from_script.metrics == from_file.metrics


def test_damaged_status_and_metrics_files_neither_stop_the_sweep_nor_its_report(tmp_path):
    # a status record that is not a JSON object, undecodable bytes, or a done run whose metrics.json is empty:
    # the run counts as missing (and is run again) or as done without values; nothing raises
    from eventsnn import sweep_report

    spec = sweep.load_spec(_write(tmp_path, "one.toml", '[sweep]\ntask = "yinyang"\nseeds = [0, 1, 2]\n'))
    out = str(tmp_path / "out")
    os.makedirs(os.path.join(out, sweep_report.STATUS_DIR))
    first, second, third = spec.runs
    with open(sweep_report.status_path(out, first), "w") as handle:
        handle.write("[1]")
    with open(sweep_report.status_path(out, second), "wb") as handle:
        handle.write(b"\xff\xfe")
    assert sweep_report.read_status(out, first)["status"] == "missing"
    assert "status record" in sweep_report.read_status(out, first)["error"]
    assert sweep_report.read_status(out, second)["status"] == "missing"
    os.makedirs(os.path.join(out, third.name))
    with open(os.path.join(out, third.name, "metrics.json"), "w") as handle:
        handle.write("[]")
    values = sweep_report._run_values(out, third, ["test_accuracy", "spikes"])
    assert all(value != value for value in values.values())  # NaN
    report = sweep.report(spec, out)
    assert report.rows[0]["done"] == 0


@pytest.mark.parametrize("content", ['{}', '{"status": ["done"]}', '{"status": {"done": 1}}'])
def test_a_status_record_without_a_valid_status_counts_as_missing(tmp_path, monkeypatch, content):
    # a hand-edited _sweep/<run>.json without a status, or with one that is not a word, made the report raise
    # KeyError and run_sweep raise KeyError / TypeError (unhashable) before it submitted anything
    import contextlib

    from eventsnn import sweep_report

    spec = sweep.load_spec(_write(tmp_path, "two.toml", '[sweep]\ntask = "yinyang"\nseeds = [0, 1]\n'))
    out = str(tmp_path / "out")
    os.makedirs(os.path.join(out, sweep_report.STATUS_DIR))
    with open(sweep_report.status_path(out, spec.runs[0]), "w") as handle:
        handle.write(content)
    record = sweep_report.read_status(out, spec.runs[0])
    assert record["status"] == "missing"
    assert "status must be one of running, done, failed" in record["error"]
    assert sweep.report(spec, out).rows[0]["done"] == 0
    submitted = []
    monkeypatch.setattr(sweep, "_connect", lambda *args: contextlib.nullcontext(None))
    monkeypatch.setattr(sweep, "_describe_cluster", lambda client: "no cluster")
    monkeypatch.setattr(sweep, "_execute", lambda client, spec, out, todo, *rest: submitted.extend(todo))
    sweep.run_sweep(spec, out, log=None, write_report=False)
    assert [run.name for run in submitted] == [run.name for run in spec.runs]


@pytest.mark.parametrize("bad", ["Infinity", "-Infinity", "1e999", '"inf"', "true", '"0.5"'])
def test_a_metric_that_is_not_a_finite_number_reads_as_missing(tmp_path, bad):
    # a hand-edited metrics.json of a done run: an infinity made the report and the export raise AttributeError
    # (inside statistics.stdev); a string or a bool was counted as a number ("0.5" -> 0.5, true -> 100 %)
    from eventsnn import sweep_report
    from eventsnn.sweep_records import export_records

    spec = sweep.load_spec(_write(tmp_path, "two.toml", '[sweep]\ntask = "yinyang"\nseeds = [0, 1, 2]\n'))
    out = str(tmp_path / "out")
    os.makedirs(os.path.join(out, sweep_report.STATUS_DIR))
    for run, accuracy in zip(spec.runs, (bad, "0.75", "0.85")):
        run_dir = os.path.join(out, run.name)
        os.makedirs(run_dir)
        _write(run_dir, "run.json", json.dumps({"finished_at": "2026-01-01T00:00:00+00:00", "argv": ["train"]}))
        _write(run_dir, "model.npz", "")
        _write(run_dir, "metrics.json", f'[{{"epoch": 1, "test_accuracy": {accuracy}, '
                                        f'"test_spikes_per_sample": [3.0, 1.0]}}]')
        _write(os.path.join(out, sweep_report.STATUS_DIR), run.name + ".json",
               json.dumps({"status": "done", "argv": list(run.argv)}))
    values = sweep_report._run_values(out, spec.runs[0], ["test_accuracy", "spikes"])
    assert np.isnan(values["test_accuracy"]) and values["spikes"] == 4.0
    row = sweep.report(spec, out).rows[0]
    assert (row["done"], row["test_accuracy_n"], row["test_accuracy_mean"]) == (3, 2, 0.8)
    exported = export_records(spec, out, str(tmp_path / "records"))
    assert len(exported.records) == 3


def test_runs_start_seed_major_with_started_runs_first(tmp_path):
    """One worker runs the 2 points x 2 seeds in the order: the started run, then seed 0 of each point, then seed 1."""
    spec = sweep.load_spec(_write(tmp_path, "order.toml", '[sweep]\ntask = "yinyang"\nseeds = [0, 1]\n'
                                  '[fixed]\nepochs = 1\nn_train = 40\nn_test = 20\n'
                                  '[grid]\nhidden = [5, 6]\n'))
    out = tmp_path / "out"
    os.makedirs(out / spec.runs[-1].name)  # the last run in file order has started before (an empty directory)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"NUMBA_NUM_THREADS": "1"}) as cluster, distributed.Client(cluster) as c:
        with distributed.get_task_stream(c) as stream:
            result = sweep.run_sweep(spec, str(out), client=c, write_report=False)
    assert result.n_done == 4
    started = sorted(stream.data, key=lambda task: min(s["start"] for s in task["startstops"]))
    names = [next(run.name for run in spec.runs if f"-{run.name}-" in task["key"]) for task in started]
    assert names == ["hidden-6__seed-1", "hidden-5__seed-0", "hidden-6__seed-0", "hidden-5__seed-1"]


@pytest.mark.parametrize("same_attempt", [True, False])
def test_a_lock_left_on_another_host_by_the_lost_attempt_is_taken_over(tmp_path, same_attempt):
    """A run whose worker died on another machine: its lock can only be judged from the sweep's status file."""
    from eventsnn import rundir
    run_dir, status = tmp_path / "run", tmp_path / "_sweep" / "run.json"
    run_dir.mkdir()
    status.parent.mkdir()
    lost = {"pid": 4242, "host": "another-machine-of-the-cluster"}
    status.write_text(json.dumps({"status": "running", **lost}))
    (run_dir / rundir.LOCK_NAME).write_text(json.dumps(lost if same_attempt else {**lost, "pid": 4343}))
    argv = ["yinyang", "--seed", "0", "--threads", "1", "--no-progress", "--epochs", "1", "--n-train", "40",
            "--n-test", "20", "--hidden", "5"]
    record = sweep.run_in_worker(str(run_dir), argv, str(status))
    if same_attempt:
        assert record["status"] == "done" and rundir.run_state(run_dir) == "finished"
        assert "took over the lock of the lost attempt pid 4242" in (tmp_path / "_sweep" / "run.log").read_text()
    else:  # another writer than the attempt the sweep recorded: never guessed stale
        assert record["status"] == "failed" and "in use by process 4343" in record["error"]
        assert (run_dir / rundir.LOCK_NAME).exists()


# --------------------------------------------------------------------------------------------------
def _progressed_run(directory, epochs_planned, epoch_seconds):
    directory.mkdir(parents=True)
    (directory / "run.json").write_text(json.dumps({"config": {"epochs": epochs_planned}}))
    (directory / "metrics.json").write_text(json.dumps([{"epoch": k + 1, "epoch_s": t}
                                                        for k, t in enumerate(epoch_seconds)]))
    return str(directory)


def test_progress_line_shows_epochs_reached_and_time_left_from_epoch_times(tmp_path):
    from eventsnn.sweep import SweepResult, _progress_line
    a = _progressed_run(tmp_path / "a", 10, [60.0, 60.0])        # 8 epochs left at 60 s: 480 s
    b = _progressed_run(tmp_path / "b", 10, [30.0] * 4)          # 6 left at 30 s: 180 s; a whole run 300 s
    fresh = str(tmp_path / "fresh")                              # running, no epoch yet: a mean whole run
    result = SweepResult(n_runs=5, n_skipped=0, n_submitted=5)
    line = _progress_line(result, [a, b, fresh], 2, [], 2)
    # whole runs: 600 s (a) and 300 s (b), mean 450 s; work 480 + 180 + 3 x 450 = 2010 s over 2 workers
    assert "3 running (epochs 2/10, 4/10)" in line and line.endswith("estimated time left 16.8 min")
    # finished runs count as whole runs; nothing known yet gives no estimate
    assert _progress_line(result, [fresh], 0, [7200.0], 1).endswith("estimated time left 2.0 h")
    assert _progress_line(result, [fresh], 3, [], 2).endswith("estimated time left -")


@pytest.mark.parametrize("metrics", ['{"epoch_s": 3}', '[{"epoch": 1}]', '[1, 2]', '[{"epoch_s": "NaN"}]', "[]",
                                     '[{"epoch_s": -1}]', "not json"])
def test_progress_ignores_a_metrics_file_it_cannot_read(tmp_path, metrics):
    from eventsnn.sweep import epoch_progress
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"config": {"epochs": 5}}))
    (run / "metrics.json").write_text(metrics)
    assert epoch_progress(str(run)) is None
    (run / "metrics.json").write_text('[{"epoch_s": 2.0}]')
    assert epoch_progress(str(run)) == (1, 5, 2.0)
    (run / "run.json").write_text(json.dumps({"config": {"epochs": True}}))
    assert epoch_progress(str(run)) is None


def test_local_workers_keep_the_allocator_of_the_command_line(monkeypatch):
    """Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers, which turns off glibc's adaptive mmap threshold
    and cost a sweep's training step ~1.5x the CPU of `eventsnn train`; the sweep's own cluster leaves it unset."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    def worker_variable(name):   # pickled by value and run in the worker (os.environ.get would carry ours)
        import os
        return os.environ.get(name, "unset"), os.getpid()

    with sweep._connect(None, None, 1, 0) as local:
        seen, pid = local.submit(worker_variable, "MALLOC_TRIM_THRESHOLD_", pure=False).result()
        threads, _ = local.submit(worker_variable, "NUMBA_NUM_THREADS", pure=False).result()
    assert pid != os.getpid()
    assert seen == "unset"
    assert threads == "1"
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ   # nothing leaked into this process either
