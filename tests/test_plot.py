"""eventsnn.plot: figures contain exactly the simulated data, traces are exact, saving is atomic."""

import os
import stat
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import eventsnn as es  # noqa: E402
from eventsnn import plot  # noqa: E402
from eventsnn._atomic import umask  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T_MAX = 100.0
SILENT = 3          # hidden neuron with zero input weights


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def record():
    rng = np.random.default_rng(0)
    n_spikes = 150
    inputs = es.SpikeTrains(rng.uniform(0.0, T_MAX, n_spikes), rng.integers(0, 20, n_spikes), 20, sort=True)
    w1 = rng.normal(0.3, 0.2, (20, 8))
    w1[:, SILENT] = 0.0
    w2 = rng.normal(0.5, 0.2, (8, 3))
    net = es.Network.feedforward([20, 8, 3], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0, threshold=1.0),
                                 weights=[w1, w2])
    rec = es.simulate(net, inputs, t_max=T_MAX)
    assert len(rec.layers[0]) > 0 and len(rec.layers[1]) > 0
    assert rec.layers[0].counts()[SILENT] == 0
    return rec


def _offsets(ax):
    return sum(len(c.get_offsets()) for c in ax.collections)


def _line(ax, gid):
    lines = [line for line in ax.get_lines() if line.get_gid() == gid]
    assert len(lines) == 1, [line.get_gid() for line in ax.get_lines()]
    return lines[0]


# --------------------------------------------------------------------------------------------------
def test_raster_draws_every_spike_once(record):
    ax = plot.raster(record, min_band=0.0)  # blocks exactly proportional to the population sizes: one row each
    expected = len(record.inputs["input"]) + sum(len(layer) for layer in record.layers)
    assert _offsets(ax) == expected
    assert [t.get_text() for t in ax.get_yticklabels()] == ["input", "layer1", "layer2"]
    assert ax.get_xlim() == (0.0, T_MAX)
    assert ax.get_xlabel() == "time (ms)"
    # one colour per population, rows stacked: input rows 0..19, layer1 20..27, layer2 28..30
    colors = {tuple(c.get_facecolor()[0]) if len(c.get_offsets()) else None for c in ax.collections}
    assert len(colors - {None}) == 3
    rows = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    assert rows.min() >= 0 and rows.max() <= 30
    assert ax.get_ylim() == (-0.5, 30.5)


def test_raster_positions_are_the_spikes(record):
    ax = plot.raster(record, populations=["layer1"], colors={"layer1": "k"}, marker_size=3.0)
    (collection,) = ax.collections
    np.testing.assert_array_equal(collection.get_offsets()[:, 0], record.layers[0].times)
    np.testing.assert_array_equal(collection.get_offsets()[:, 1], record.layers[0].neurons)


def test_raster_gives_small_populations_a_readable_band(record):
    """20 input, 8 hidden and 3 output neurons: proportionally the output block would be 3/31 of the height; with
    the default minimum band it gets 15 %, with equal bands a third, and each block's neurons stay in order
    inside it, evenly spaced."""
    n_rows = 31
    names = ["input", "layer1", "layer2"]
    for kwargs, expected in (({}, [20 / 28 * 0.85, 8 / 28 * 0.85, 0.15]),
                             ({"equal_bands": True}, [1 / 3] * 3),
                             ({"min_band": 0.0}, [20 / 31, 8 / 31, 3 / 31])):
        fig, ax = plt.subplots()
        plot.raster(record, ax=ax, **kwargs)
        edges = -0.5 + n_rows * np.concatenate([[0.0], np.cumsum(expected)])
        assert np.allclose([line.get_ydata()[0] for line in ax.get_lines()], edges[1:-1])
        assert np.allclose(ax.get_yticks(), (edges[:-1] + edges[1:]) / 2)
        for k, name in enumerate(names):
            neurons = record.population(name).neurons[record.population(name).times <= T_MAX]
            rows = ax.collections[k].get_offsets()[:, 1]
            height = (edges[k + 1] - edges[k]) / record.population(name).n_neurons
            assert np.allclose(rows, edges[k] + (neurons + 0.5) * height)
            assert np.all((rows > edges[k]) & (rows < edges[k + 1]))
        plt.close(fig)
    # the output's ticks are taller than the input's (fitted to each block's row height)
    ax = plot.raster(record, equal_bands=True)
    sizes = [c.get_sizes()[0] for c in ax.collections]
    assert sizes[2] > sizes[0]
    with pytest.raises(ValueError, match=r"min_band must be a fraction of the axes height in \[0, 1\), got 1.0"):
        plot.raster(record, min_band=1.0)
    with pytest.raises(TypeError, match="equal_bands must be True or False"):
        plot.raster(record, equal_bands="yes")


def test_raster_omits_inputs_after_t_max(record):
    late = es.SpikeTrains([10.0, 150.0], [0, 1], 20)
    rec = es.simulate(record.network, late, t_max=T_MAX)
    ax = plot.raster(rec, include_inputs=True)
    assert _offsets(ax) == 1 + sum(len(layer) for layer in rec.layers)
    assert _offsets(plot.raster(rec, include_inputs=False)) == sum(len(layer) for layer in rec.layers)


def test_raster_validates(record):
    with pytest.raises(ValueError, match=r"valid population names are \['input', 'layer1', 'layer2'\]"):
        plot.raster(record, populations=["hidden"])
    with pytest.raises(ValueError, match="one colour per drawn population"):
        plot.raster(record, colors=["r"])
    with pytest.raises(ValueError, match="marker_size"):
        plot.raster(record, marker_size=-1.0)
    with pytest.raises(TypeError, match="Record"):
        plot.raster("not a record")


# --------------------------------------------------------------------------------------------------
def test_membrane_trace_reaches_threshold_exactly(record):
    counts = record.layers[0].counts()
    spiking = int(np.argmax(counts))
    ax = plot.membrane_traces(record, "layer1", [spiking, SILENT], n_points=500)
    threshold = record.network.populations["layer1"].neuron.threshold

    line = _line(ax, f"membrane:layer1:{spiking}")
    t, v = line.get_xdata(), line.get_ydata()
    assert abs(v.max() - threshold) < 1e-9
    assert np.all(v <= threshold + 1e-9)
    spike_times = record.layers[0].times[record.layers[0].neurons == spiking]
    # the trace touches threshold just before every spike and shows the reset at the spike itself
    for ts in spike_times:
        k = np.searchsorted(t, ts)
        assert t[k] == ts and v[k] == 0.0
        assert t[k - 1] < ts and abs(v[k - 1] - threshold) < 1e-9
    marks = _line(ax, f"spikes:layer1:{spiking}")
    np.testing.assert_array_equal(marks.get_xdata(), spike_times)
    np.testing.assert_array_equal(marks.get_ydata(), threshold)

    silent = _line(ax, f"membrane:layer1:{SILENT}").get_ydata()
    assert silent.max() < threshold and len(_line(ax, f"spikes:layer1:{SILENT}").get_xdata()) == 0

    thr = _line(ax, "threshold:layer1")
    assert thr.get_linestyle() == "--" and np.all(np.asarray(thr.get_ydata()) == threshold)
    assert ax.get_xlabel() == "time (ms)"


def test_membrane_trace_matches_record_on_grid(record):
    ax = plot.membrane_traces(record, -2, 0, n_points=50, show_threshold=False)   # layer by index
    line = _line(ax, "membrane:layer1:0")
    t, v = line.get_xdata(), line.get_ydata()
    np.testing.assert_array_equal(v, record.membrane_potential("layer1", 0, t))
    assert np.all(np.isin(np.linspace(0.0, T_MAX, 50), t))
    assert not [x for x in ax.get_lines() if (x.get_gid() or "").startswith("threshold")]


def test_membrane_traces_validates(record):
    with pytest.raises(ValueError, match=r"valid layer names are \['layer1', 'layer2'\]"):
        plot.membrane_traces(record, "hidden", [0])
    with pytest.raises(ValueError, match="input population"):
        plot.membrane_traces(record, "input", [0])
    with pytest.raises(ValueError, match="out of range"):
        plot.membrane_traces(record, 5, [0])
    with pytest.raises(ValueError, match=r"neuron index 8 out of range.*8 neurons"):
        plot.membrane_traces(record, "layer1", [0, 8])
    with pytest.raises(ValueError, match="out of range"):
        plot.membrane_traces(record, "layer1", -1)
    with pytest.raises(ValueError, match="at least one"):
        plot.membrane_traces(record, "layer1", [])
    with pytest.raises(ValueError, match="n_points"):
        plot.membrane_traces(record, "layer1", [0], n_points=1)


# --------------------------------------------------------------------------------------------------
def test_spike_count_histogram_counts_every_neuron(record):
    ax = plot.spike_count_histogram(record)
    heights = [p.get_data().values.sum() for p in ax.patches]
    assert heights == [8, 3]
    ax = plot.spike_count_histogram([record, record], layers=["layer2"])
    assert [p.get_data().values.sum() for p in ax.patches] == [6]
    with pytest.raises(ValueError, match="valid layer names"):
        plot.spike_count_histogram(record, layers=["nope"])
    with pytest.raises(ValueError, match="empty"):
        plot.spike_count_histogram([])


def test_training_curves_plots_what_is_present():
    metrics = [{"epoch": 1, "loss": 1.2, "train_accuracy": 0.5, "epoch_s": 3.0},
               {"epoch": 2, "loss": 0.9, "train_accuracy": 0.6, "test_accuracy": 0.55, "test_loss": 1.0},
               {"epoch": 3, "loss": 0.7, "train_accuracy": 0.7, "test_accuracy": None}]
    ax = plot.training_curves(metrics)
    lines = {line.get_label(): line for a in ax.figure.axes for line in a.get_lines()}
    assert set(lines) == {"loss", "test_loss", "train_accuracy", "test_accuracy"}
    np.testing.assert_array_equal(lines["loss"].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines["test_accuracy"].get_xdata(), [2])
    assert ax.get_xlabel() == "epoch"
    assert len(plot.training_curves([{"train_accuracy": 0.1}, {"train_accuracy": 0.2}]).get_lines()) == 1
    with pytest.raises(ValueError, match="keys found"):
        plot.training_curves([{"epoch": 1, "epoch_s": 2.0}])
    with pytest.raises(ValueError, match="empty"):
        plot.training_curves([])


# --------------------------------------------------------------------------------------------------
def test_save_figure_writes_png_atomically(record, tmp_path):
    fig, ax = plt.subplots()
    plot.raster(record, ax=ax)
    target = tmp_path / "fig.png"
    assert plot.save_figure(fig, target) == str(target)
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert os.listdir(tmp_path) == ["fig.png"]
    # the usual mode of a new file (0666 minus the umask), not mkstemp's 0600
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~umask()
    os.chmod(target, 0o640)
    plot.save_figure(fig, target)       # replacing a file keeps its mode
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640

    # a failing save leaves the previous file intact and no temporary file behind
    before = target.read_bytes()

    def broken(handle, **kwargs):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    fig.savefig = broken
    with pytest.raises(RuntimeError, match="disk full"):
        plot.save_figure(fig, target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["fig.png"]


def test_save_figure_validates(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="unsupported figure format"):
        plot.save_figure(fig, tmp_path / "fig.xyz")
    with pytest.raises(FileNotFoundError):
        plot.save_figure(fig, tmp_path / "missing" / "fig.png")
    with pytest.raises(TypeError):
        plot.save_figure("fig", tmp_path / "fig.png")
    assert plot.save_figure(fig, tmp_path / "noext") == str(tmp_path / "noext.png")
    assert (tmp_path / "noext.png").read_bytes()[:8] == PNG_SIGNATURE


# --------------------------------------------------------------------------------------------------
def test_example_raster_script(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, os.path.join(REPO, "examples", "raster.py"), "--out", str(tmp_path)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    png = tmp_path / "raster.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert str(png) in result.stdout
    assert "layer1:" in result.stdout and "layer2:" in result.stdout
    assert os.listdir(tmp_path) == ["raster.png"]


def _run_example(name, tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, os.path.join(REPO, "examples", name), "--out", str(tmp_path), *args],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_example_spike_train_matching_trains_every_method(tmp_path):
    out = _run_example("spike_train_matching.py", tmp_path, "--iterations", "3")
    lines = [line for line in out.splitlines() if "van Rossum distance" in line]
    assert [line.split()[0] for line in lines] == ["timing", "antlr", "antlr-detached"]
    # all start from the same network: same initial distance
    assert len({line.split("distance ")[1].split(" ->")[0] for line in lines}) == 1
    assert (tmp_path / "spike_train_matching.png").read_bytes()[:8] == PNG_SIGNATURE


def test_example_train_yinyang_writes_metrics_checkpoint_and_figure(tmp_path):
    out = _run_example("train_yinyang.py", tmp_path, "--epochs", "1", "--n-train", "256")
    assert "epoch   1 |" in out and "test acc" in out
    for name in ("train_yinyang.png", "metrics.json", "checkpoint.npz"):
        assert (tmp_path / name).exists(), name


def test_readout_potentials_marks_each_maximum_and_the_winner():
    from eventsnn.readout import LIReadout
    readout = LIReadout(np.array([[1.0, 0.2, -1.0], [0.5, 1.5, 0.0]]), es.LIF(tau_mem=10.0, tau_syn=5.0))
    spikes = es.SpikeTrains([1.0, 4.0], [0, 1], 2)
    ax = plot.readout_potentials(readout, spikes, 40.0, label=1)
    maxima = readout.maxima(spikes, 40.0)
    lines = {line.get_gid(): line for line in ax.get_lines()}
    for c in range(3):
        x, y = lines[f"readout-max:{c}"].get_data()
        assert x[0] == maxima.times[c] and y[0] == maxima.values[c]
        assert np.max(lines[f"readout:{c}"].get_ydata()) == pytest.approx(maxima.values[c], abs=1e-12)
    winner = int(np.argmax(maxima.values))
    assert winner == 1 and lines["readout:1"].get_linewidth() > lines["readout:0"].get_linewidth()
    assert lines["readout:0"].get_linestyle() == "--" and lines["readout:1"].get_linestyle() == "-"
    with pytest.raises(TypeError):
        plot.readout_potentials("readout", spikes, 40.0)
    plt.close("all")


def test_example_nmnist_events_prints_the_exact_and_binned_activity(tmp_path):
    out = _run_example("nmnist_events.py", tmp_path, "--sample", "2")
    assert "sample 2 (digit 1)" in out  # MNIST test image 2 is a 1
    assert "hidden spikes, exact event times:" in out and "floored to 1 ms" in out
    assert (tmp_path / "nmnist_events.png").read_bytes()[:8] == PNG_SIGNATURE
