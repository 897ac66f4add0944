""".nir files: atomic writing, reading with errors that name the file."""

from __future__ import annotations

import io
import os

import nir

from eventsnn._atomic import atomic_write


def write(path: str | os.PathLike, graph: nir.NIRGraph) -> None:
    """Write ``graph`` to a ``.nir`` (HDF5) file atomically: a reader or a crash never sees half a file.

    Examples
    --------
    >>> import os, tempfile, numpy as np, eventsnn as es
    >>> from eventsnn import nir as es_nir
    >>> net = es.Network.feedforward([2, 3], es.LIF(), [np.ones((2, 3))])
    >>> path = os.path.join(tempfile.mkdtemp(), "net.nir")
    >>> es_nir.write(path, es_nir.to_nir(net))
    >>> es_nir.from_nir(path).network.layer_names
    ['layer1']
    """
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def read(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a ``.nir`` file (any writer's); errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"NIR file {path!r} does not exist")
    try:
        return nir.read(path)
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as error:
        raise ValueError(f"{path}: not a readable NIR graph ({type(error).__name__}: {error})") from None
