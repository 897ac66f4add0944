"""Saved models: one self-describing ``.npz`` file per network (and optional read-out), no pickle.

Layout of the file (a NumPy ``.npz`` archive, read with ``allow_pickle=False``):

* ``header``: a JSON string (0-d unicode array) ``{"format": "eventsnn-model", "format_version": 1,
  "eventsnn_version", "populations": [{"name", "size", "neuron": null | {LIF fields}}], "connections":
  [{"pre", "post"}], "readout": null | {"source", "neuron"}}``. Floats are written by Python's ``repr``, which
  reads back to the same double, so neuron parameters survive bit for bit.
* ``weight_<k>`` (n_pre, n_post) and ``delay_<k>`` (0-d, or (n_pre, n_post)) float64 for connection ``k``;
  ``readout_weight`` (n_inputs, n_classes) if there is a read-out.

The file is written atomically (temporary file + rename). Loading checks every field and raises a ValueError that
names the file and the field for a damaged, truncated or foreign file, before building anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields

import numpy as np

from eventsnn._atomic import write_npz
from eventsnn._file_validation import FileFormatError, open_npz
from eventsnn.network import Network
from eventsnn.neuron import LIF
from eventsnn.readout import LIReadout

FORMAT = "eventsnn-model"
FORMAT_VERSION = 1
_LIF_FIELDS = tuple(f.name for f in fields(LIF))


@dataclass
class SavedModel:
    """What :func:`load` returns: the network, its read-out (or None) and the file's header."""

    network: Network
    readout: LIReadout | None
    header: dict


def model_path(path: str | os.PathLike) -> str:
    """The file :func:`save` writes for ``path``: ``.npz`` is appended when missing (as ``numpy.savez`` would)."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def save(path: str | os.PathLike, net: Network, readout: LIReadout | None = None, *,
         metadata: dict[str, str] | None = None) -> str:
    """Write ``net`` (and ``readout``, driven by the last population) to one ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination; ``.npz`` is appended when missing.
    net : Network
        The network to save (architecture, neuron parameters, weights, delays).
    readout : LIReadout, optional
        A leaky-integrator read-out driven by the last population.
    metadata : dict of str to str, optional
        Free-form labels stored in the header (``eventsnn train`` stores the run id there, so the files of one run
        are never combined with another's).

    Returns
    -------
    str
        The path written (``path`` with ``.npz`` appended if it was missing).

    Examples
    --------
    >>> import os, tempfile, numpy as np, eventsnn as es
    >>> net = es.Network.feedforward([3, 2], es.LIF(tau_mem=12.5, bias=0.1), [np.full((3, 2), 0.7)], delays=[1.5])
    >>> path = es.saved.save(os.path.join(tempfile.mkdtemp(), "model"), net)
    >>> model = es.load(path)
    >>> model.network.populations["layer1"].neuron == net.populations["layer1"].neuron, model.readout
    (True, None)
    """
    from eventsnn import __version__

    if not isinstance(net, Network):
        raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
    arrays: dict[str, np.ndarray] = {}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "eventsnn_version": __version__,
              "populations": [{"name": p.name, "size": p.size,
                               "neuron": None if p.neuron is None else _neuron_fields(p.neuron)}
                              for p in net.populations.values()],
              "connections": [{"pre": c.pre, "post": c.post} for c in net.connections], "readout": None}
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in metadata.items()):
            raise TypeError(f"metadata must be a dict of str to str, got {metadata!r}")
        header["metadata"] = dict(metadata)
    for k, c in enumerate(net.connections):
        arrays[f"weight_{k}"] = np.asarray(c.weights, dtype=np.float64)
        arrays[f"delay_{k}"] = np.asarray(c.delays, dtype=np.float64)
    if readout is not None:
        if not isinstance(readout, LIReadout):
            raise TypeError(f"readout must be an eventsnn.readout.LIReadout, got {type(readout).__name__}")
        source = readout.source_in(net)
        header["readout"] = {"source": source, "neuron": _neuron_fields(readout.neuron)}
        arrays["readout_weight"] = readout.weights
    path = model_path(path)
    write_npz(path, header=np.array(json.dumps(header)), **arrays)
    return path


def _neuron_fields(neuron: LIF) -> dict:
    return {name: getattr(neuron, name) for name in _LIF_FIELDS}


class _Reader:
    """Checked access to one file's entries; every error names the file and the field."""

    def __init__(self, path: str, data) -> None:
        self.path, self.data = path, data

    def fail(self, field_name: str, message: str) -> ValueError:
        return FileFormatError(f"{self.path}: {field_name}: {message}")

    def array(self, name: str, shape: tuple | None = None, ndim: tuple = ()) -> np.ndarray:
        if name not in self.data.files:
            raise self.fail(name, "missing (truncated or not an eventsnn model file?)")
        # the bounded reader: sizes checked against the file before anything is allocated, no pickles
        value = self.data.array(name, kinds="fiub")
        if value.dtype != np.float64:
            raise self.fail(name, f"must hold float64, got dtype {value.dtype}")
        if shape is not None and value.shape != shape and value.ndim not in ndim:
            raise self.fail(name, f"must have shape {shape}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise self.fail(name, "contains a non-finite value")
        return value

    def header(self) -> dict:
        if "header" not in self.data.files:
            raise self.fail("header", f"missing: not an eventsnn model file (entries: {sorted(self.data.files)})")
        header = self.data.json("header")
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found = header.get("format") if isinstance(header, dict) else type(header).__name__
            raise self.fail("header.format", f"expected {FORMAT!r}, got {found!r} (not an eventsnn model file)")
        version = header.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
            raise self.fail("header.format_version", f"this eventsnn reads versions 1..{FORMAT_VERSION}, got "
                                                     f"{version!r}")
        return header

    def neuron(self, field_name: str, value: object) -> LIF:
        if not isinstance(value, dict) or set(value) != set(_LIF_FIELDS):
            raise self.fail(field_name, f"must be an object with the fields {list(_LIF_FIELDS)}, got {value!r}")
        try:
            return LIF(**value)
        except (TypeError, ValueError) as error:
            raise self.fail(field_name, str(error)) from None

    def listing(self, header: dict, key: str) -> list:
        value = header.get(key)
        if not isinstance(value, list):
            raise self.fail(f"header.{key}", f"must be a list, got {value!r}")
        return value


def load(path: str | os.PathLike) -> SavedModel:
    """Read a model written by :func:`save` (``Network.save``); the ``.npz`` suffix may be omitted.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    FileFormatError
        (a ValueError) If the file is damaged, truncated, of a newer format version or not an eventsnn model; the
        message names the file and the field.
    """
    path = model_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    with open_npz(path) as data:
        return _build(_Reader(path, data))


def _build(reader: _Reader) -> SavedModel:
    header = reader.header()
    net = Network()
    for k, pop in enumerate(reader.listing(header, "populations")):
        where = f"header.populations[{k}]"
        if not isinstance(pop, dict) or set(pop) != {"name", "size", "neuron"}:
            raise reader.fail(where, f"must be an object with name, size and neuron, got {pop!r}")
        try:
            if pop["neuron"] is None:
                net.add_input(pop["name"], pop["size"])
            else:
                net.add_population(pop["name"], pop["size"], reader.neuron(f"{where}.neuron", pop["neuron"]))
        except (TypeError, ValueError) as error:
            if str(error).startswith(reader.path):
                raise
            raise reader.fail(where, str(error)) from None
    for k, c in enumerate(reader.listing(header, "connections")):
        where = f"header.connections[{k}]"
        if not isinstance(c, dict) or set(c) != {"pre", "post"} or not all(
                isinstance(c[n], str) and c[n] in net.populations for n in ("pre", "post")):
            raise reader.fail(where, f"must name two populations of the file as pre and post, got {c!r}")
        shape = (net.populations[c["pre"]].size, net.populations[c["post"]].size)
        weights = reader.array(f"weight_{k}", shape)
        delays = reader.array(f"delay_{k}", shape, ndim=(0,))
        try:
            net.connect(c["pre"], c["post"], weights, float(delays) if delays.ndim == 0 else delays)
        except (TypeError, ValueError) as error:
            raise reader.fail(where, str(error)) from None
    metadata = header.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise reader.fail("header.metadata", f"must be an object of strings, got {metadata!r}")
    readout = None
    spec = header.get("readout")
    if spec is not None:
        if not isinstance(spec, dict) or set(spec) != {"source", "neuron"} or spec["source"] not in net.layer_names:
            raise reader.fail("header.readout", f"must be null or name a population as source, got {spec!r}")
        weights = reader.array("readout_weight", ndim=(2,))
        if weights.ndim != 2 or weights.shape[0] != net.populations[spec["source"]].size or weights.shape[1] < 1:
            raise reader.fail("readout_weight", f"shape {weights.shape} does not fit population "
                                                 f"{spec['source']!r}")
        readout = LIReadout(weights, reader.neuron("header.readout.neuron", spec["neuron"]))
    known = {"header", "readout_weight"} | {f"{kind}_{k}" for k in range(len(net.connections))
                                            for kind in ("weight", "delay")}
    unexpected = sorted(set(reader.data.files) - known)
    if unexpected:
        raise reader.fail(unexpected[0], "unexpected entry (a damaged or foreign file?)")
    if not net.layer_names or not net.input_names:
        raise reader.fail("header.populations", "a model needs an input population and a neuron population")
    return SavedModel(net, readout, header)


def restore_into(path: str | os.PathLike, net: Network, readout: LIReadout | None = None) -> None:
    """Copy the weights, delays and read-out weights of a saved model into ``net`` (and ``readout``).

    For code that rebuilds a network from its settings (``eventsnn.runs.load_trained``) and then needs the
    trained values: the architecture must match the file's (population names, sizes and neuron parameters,
    connections in order, presence and shape of the read-out), else nothing is changed and a ValueError names
    the file and what differs.

    Examples
    --------
    >>> import os, tempfile, numpy as np, eventsnn as es
    >>> trained = es.Network.feedforward([2, 2], es.LIF(), [np.full((2, 2), 0.9)])
    >>> path = trained.save(os.path.join(tempfile.mkdtemp(), "model.npz"))
    >>> fresh = es.Network.feedforward([2, 2], es.LIF(), [np.zeros((2, 2))])
    >>> restore_into(path, fresh)
    >>> fresh.weights[0].tolist()
    [[0.9, 0.9], [0.9, 0.9]]
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
    model = load(path)
    path, saved_net = model_path(path), model.network

    def describe(n: Network) -> list:
        return [(p.name, p.size, p.neuron) for p in n.populations.values()]

    if describe(saved_net) != describe(net):
        raise ValueError(f"{path}: populations (name, size, neuron) {describe(saved_net)} differ from the "
                         f"network's {describe(net)}")
    pairs = [(c.pre, c.post) for c in saved_net.connections]
    if pairs != [(c.pre, c.post) for c in net.connections]:
        raise ValueError(f"{path}: connections {pairs} differ from the network's "
                         f"{[(c.pre, c.post) for c in net.connections]}")
    if (readout is None) != (model.readout is None):
        raise ValueError(f"{path}: the file has {'a' if model.readout else 'no'} read-out, the caller "
                         f"{'passed one' if readout is not None else 'none'}")
    if readout is not None and (readout.weights.shape != model.readout.weights.shape
                                or readout.neuron != model.readout.neuron):
        raise ValueError(f"{path}: read-out {model.readout!r} does not match {readout!r}")
    for target, source in zip(net.connections, saved_net.connections):
        target.weights = source.weights.copy()
        target.delays = source.delays if np.ndim(source.delays) == 0 else source.delays.copy()
    if readout is not None:
        readout.weights[...] = model.readout.weights
