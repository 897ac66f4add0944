"""Saved models (eventsnn.saved, Network.save / eventsnn.load): exact round trips and clear errors on bad files."""

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventsnn as es
from eventsnn import saved
from eventsnn.losses import first_spike_cross_entropy
from eventsnn.readout import LIReadout


def _network(rng):
    net = es.Network()
    net.add_input("in", 8)
    net.add_population("hidden", 12, es.LIF(tau_mem=rng.uniform(5, 20), tau_syn=rng.uniform(2, 8),
                                            bias=rng.uniform(0, 0.1), threshold=0.9, refractory=0.5))
    net.add_population("out", 3, es.LIF(tau_mem=11.0, tau_syn=4.0, reset="subtract", reset_current=True))
    net.connect("in", "hidden", rng.normal(0.6, 0.3, (8, 12)), delays=rng.uniform(0, 2, (8, 12)))
    net.connect("hidden", "hidden", rng.normal(0.0, 0.1, (12, 12)), delays=1.25)
    net.connect("hidden", "out", rng.normal(0.5, 0.3, (12, 3)), delays=rng.uniform(0, 1))
    return net


def _inputs(rng, n=3):
    return [es.SpikeTrains(rng.uniform(0, 20, 30), rng.integers(0, 8, 30), 8, sort=True) for _ in range(n)]


def test_save_load_gives_identical_spikes_and_gradients(tmp_path, rng):
    net = _network(rng)
    readout = LIReadout(rng.normal(0, 1, (3, 4)), es.LIF(tau_mem=9.0, tau_syn=3.0, bias=0.02))
    path = net.save(tmp_path / "model", readout)
    assert path.endswith("model.npz")
    model = es.load(tmp_path / "model")
    back = model.network
    assert list(back.populations) == list(net.populations)
    assert [back.populations[n].neuron for n in back.layer_names] == [net.populations[n].neuron
                                                                       for n in net.layer_names]
    for a, b in zip(net.connections, back.connections):
        assert (a.pre, a.post) == (b.pre, b.post)
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.delays, b.delays)
        assert np.ndim(a.delays) == np.ndim(b.delays)
    assert np.array_equal(model.readout.weights, readout.weights) and model.readout.neuron == readout.neuron
    inputs = _inputs(rng)
    records, again = es.simulate(net, inputs, 50.0), es.simulate(back, inputs, 50.0)
    assert sum(len(r.layers[-1]) for r in records) > 0
    for a, b in zip(records, again):
        assert all(x == y for x, y in zip(a.layers, b.layers))
        assert np.array_equal(readout.maxima(a.layers[-1], 50.0).values,
                              model.readout.maxima(b.layers[-1], 50.0).values)
    losses = [first_spike_cross_entropy(r, 1) for r in records]
    grads = es.vjp(net, records, losses, n_threads=1)
    grads_back = es.vjp(back, again, [first_spike_cross_entropy(r, 1) for r in again], n_threads=1)
    for g, h in zip(grads.weights, grads_back.weights):
        assert np.array_equal(g, h)
    assert any(np.any(g != 0) for g in grads.weights)
    assert es.Network.load(path).layer_names == net.layer_names


def test_feedforward_model_keeps_its_fast_path(tmp_path, rng):
    net = es.Network.feedforward([4, 5, 2], es.LIF(), [rng.normal(0.8, 0.2, (4, 5)), rng.normal(0.8, 0.2, (5, 2))],
                                 delays=[0.5, 0.0])
    back = es.Network.load(net.save(tmp_path / "ff.npz"))
    assert back.is_layered_feedforward()
    assert back.connections[0].delays == 0.5 and isinstance(back.connections[0].delays, float)


# ------------------------------------------------------------------------------------------------------------
# bad files
def _valid_bytes(tmp_path, rng) -> bytes:
    net = es.Network.feedforward([3, 4, 2], es.LIF(), [rng.normal(size=(3, 4)), rng.normal(size=(4, 2))])
    return open(net.save(tmp_path / "valid", LIReadout(rng.normal(size=(2, 2)))), "rb").read()


def _rewrite(tmp_path, rng, change) -> str:
    """A copy of a valid file with its entries changed by ``change(entries)``."""
    with np.load(io.BytesIO(_valid_bytes(tmp_path, rng))) as data:
        entries = {name: data[name] for name in data.files}
    change(entries)
    path = tmp_path / "changed.npz"
    np.savez(path, **entries)
    return str(path)


def _header_edit(edit):
    def change(entries):
        header = json.loads(str(entries["header"][()]))
        edit(header)
        entries["header"] = np.array(json.dumps(header))
    return change


BAD_FILES = [
    (lambda e: e.pop("header"), "header: missing"),
    (lambda e: e.update(header=np.array("{not json")), "field .header. is not valid JSON"),
    (_header_edit(lambda h: h.update(format="something-else")), "header.format"),
    (_header_edit(lambda h: h.update(format_version=99)), "header.format_version"),
    (_header_edit(lambda h: h["populations"][1]["neuron"].update(tau_mem=-1.0)), "populations\\[1\\].neuron"),
    (_header_edit(lambda h: h["populations"][1]["neuron"].pop("bias")), "populations\\[1\\].neuron"),
    (_header_edit(lambda h: h["populations"][0].update(size=0)), "populations\\[0\\]"),
    (_header_edit(lambda h: h["connections"][0].update(pre="nowhere")), "connections\\[0\\]"),
    (_header_edit(lambda h: h.update(readout={"source": "x", "neuron": None})), "header.readout"),
    (lambda e: e.pop("weight_1"), "weight_1: missing"),
    (lambda e: e.update(weight_0=np.zeros((4, 3))), "weight_0: must have shape \\(3, 4\\)"),
    (lambda e: e.update(weight_0=np.full((3, 4), np.nan)), "weight_0: contains a non-finite"),
    (lambda e: e.update(delay_0=np.array(-1.0)), "delays of input->layer1 must be"),
    (lambda e: e.update(weight_0=np.zeros((3, 4), dtype=np.float32)), "weight_0: must hold float64"),
    (lambda e: e.update(extra=np.zeros(1)), "extra: unexpected entry"),
    (lambda e: e.update(readout_weight=np.zeros((3, 2))), "readout_weight: shape"),
]


@pytest.mark.parametrize("change, fragment", BAD_FILES, ids=[str(k) for k in range(len(BAD_FILES))])
def test_damaged_or_foreign_entries_raise_naming_file_and_field(tmp_path, rng, change, fragment):
    path = _rewrite(tmp_path, rng, change)
    with pytest.raises(ValueError, match=fragment) as error:
        es.load(path)
    assert "changed.npz" in str(error.value)


def test_missing_truncated_and_foreign_files(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        es.load(tmp_path / "nothing")
    raw = _valid_bytes(tmp_path, rng)
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        es.load(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"text.npz: not a readable .npz \(zip\) file"):
        es.load(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))  # a foreign archive
    with pytest.raises(ValueError, match="other.npz: header: missing"):
        es.load(tmp_path / "other.npz")
    np.save(tmp_path / "bare.npy", np.zeros(3))
    (tmp_path / "bare.npz").write_bytes((tmp_path / "bare.npy").read_bytes())
    with pytest.raises(ValueError, match="bare.npz"):
        es.load(tmp_path / "bare.npz")
    np.savez(tmp_path / "pickled.npz", header=np.array([{"format": "eventsnn-model"}], dtype=object))
    with pytest.raises(ValueError, match="pickled.npz: field .header. holds Python objects"):
        es.load(tmp_path / "pickled.npz")


def test_no_pickle_in_the_file(tmp_path, rng):
    raw = _valid_bytes(tmp_path, rng)
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for name in archive.namelist():
            assert b"|O" not in archive.read(name)[:128], name  # no object-dtype array header


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_files_load_exactly_or_raise_a_clear_error(tmp_path, data):
    """Flipped bytes or a cut anywhere: either the model loads and equals the original, or a ValueError names
    the file. No other exception type, no silently different model."""
    rng = np.random.default_rng(7)
    raw = bytearray(_valid_bytes(tmp_path, rng))
    original = es.load(tmp_path / "valid.npz")
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        for _ in range(data.draw(st.integers(1, 4), label="flips")):
            at = data.draw(st.integers(0, len(raw) - 1), label="position")
            raw[at] ^= data.draw(st.integers(1, 255), label="mask")
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(bytes(raw))
    try:
        model = es.load(path)
    except ValueError as error:
        assert "fuzzed.npz" in str(error)
        return
    for a, b in zip(original.network.connections, model.network.connections):
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.delays, b.delays)
    assert np.array_equal(original.readout.weights, model.readout.weights)
    assert [p.neuron for p in original.network.populations.values()] == \
        [p.neuron for p in model.network.populations.values()]


def test_docs_example_runs(tmp_path, monkeypatch):
    """The Python blocks of docs/saved_models.md, run as written (in a scratch directory)."""
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "saved_models.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "docs/saved_models.md", "exec"), {})


def test_restore_into_copies_trained_values_and_refuses_other_architectures(tmp_path, rng):
    trained = _network(rng)
    readout = LIReadout(rng.normal(size=(3, 2)))
    path = trained.save(tmp_path / "trained", readout)
    fresh = _network(np.random.default_rng(99))
    fresh.populations["hidden"].neuron = trained.populations["hidden"].neuron  # same architecture, other values
    fresh_readout = LIReadout(np.zeros((3, 2)))
    saved.restore_into(path, fresh, fresh_readout)
    for a, b in zip(trained.connections, fresh.connections):
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.delays, b.delays)
    assert np.array_equal(fresh_readout.weights, readout.weights)
    other = es.Network.feedforward([8, 3], es.LIF(), [np.zeros((8, 3))])
    with pytest.raises(ValueError, match="trained.npz: populations"):
        saved.restore_into(path, other)
    with pytest.raises(ValueError, match="trained.npz: the file has a read-out"):
        saved.restore_into(path, fresh)


def test_a_member_declaring_an_impossible_shape_is_a_file_format_error(tmp_path):
    # numpy would try to allocate what the .npy header declares: an unallocatable size is a damaged field, named
    import io
    import zipfile

    from numpy.lib import format as npy_format

    import eventsnn as es
    net = es.Network.feedforward([2, 2], es.LIF(), [np.full((2, 2), 0.5)])
    path = net.save(tmp_path / "model.npz")
    header = io.BytesIO()
    npy_format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**40, 2**20)})
    crafted = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(crafted, "w") as target:
        for item in source.infolist():
            target.writestr(item, header.getvalue() if item.filename == "weight_0.npy" else source.read(item))
    with pytest.raises(es.FileFormatError, match="crafted.npz: field .weight_0. declares shape"):
        es.load(crafted)
