"""N-MNIST (Orchard et al. 2015): MNIST digits recorded by an event camera, read from local files. Never downloads.

Each sample is the address-event stream of a 34 x 34 ATIS sensor making three saccades (about 300 ms) in front
of one MNIST digit. Two layouts are read:

* the **small subset** in the shared data folder (``nmnist-small/``: ``nmnist_small.tar.gz`` with 1000 training
  and 100 test files, and the list files ``train1K.txt`` / ``test100.txt`` mapping file ids to labels), packed
  or unpacked (a ``NMNISTsmall/`` directory of ``<id>.bs2`` files);
* the **full data set** as distributed: ``Train/<digit>/<id>.bin`` and ``Test/<digit>/<id>.bin``.

Where the files are looked for follows :mod:`eventsnn.datasets.mnist`: the ``path`` argument, else the
``EVENTSNN_DATA`` environment variable, else the project's shared data folder; in each root the subfolders
``nmnist-small/`` and ``nmnist/`` are tried before the root itself.

Event format (``.bs2`` = N-MNIST ``.bin``): 5 bytes per event ``b0..b4``, no header; ``x = b0``, ``y = b1``,
polarity ``p = b2 >> 7`` (1 = ON), timestamp ``((b2 & 0x7F) << 16) | (b3 << 8) | b4`` in microseconds.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from eventsnn import _validation as check
from eventsnn.datasets.mnist import ENV_VAR, _search_dirs

SENSOR_SHAPE = (34, 34)  # rows (y), columns (x)
EVENT_DTYPE = np.dtype([("t", np.float64), ("x", np.uint8), ("y", np.uint8), ("p", np.uint8)])
_SMALL_TAR = "nmnist_small.tar.gz"
_SMALL_DIR = "NMNISTsmall"
_SMALL_LISTS = {"train": "train1K.txt", "test": "test100.txt"}
_FULL_DIRS = {"train": "Train", "test": "Test"}
_N_CLASSES = 10


def parse_events(raw: bytes, name: str = "events") -> np.ndarray:
    """Decode one N-MNIST event file (``.bin`` / ``.bs2`` bytes) into a structured array.

    Parameters
    ----------
    raw : bytes
        The file's content: a multiple of 5 bytes.
    name : str
        What to call the data in error messages (e.g. the file name).

    Returns
    -------
    numpy.ndarray of ``EVENT_DTYPE``, shape (n_events,)
        Fields ``t`` (float64, **ms**, microsecond timestamps / 1000), ``x`` (column), ``y`` (row), ``p``
        (polarity, 1 = ON), sorted by time (a stable sort, so events at equal times keep the file's order).

    Raises
    ------
    ValueError
        If the length is not a multiple of 5 or a coordinate lies outside the 34 x 34 sensor.

    Examples
    --------
    >>> ev = parse_events(bytes([3, 7, 0x80, 0x01, 0x02, 4, 8, 0x00, 0x03, 0xE8]))
    >>> ev["t"].tolist(), ev["x"].tolist(), ev["y"].tolist(), ev["p"].tolist()
    ([0.258, 1.0], [3, 4], [7, 8], [1, 0])
    """
    if len(raw) % 5:
        raise ValueError(f"{name}: {len(raw)} bytes is not a multiple of the 5-byte N-MNIST event (truncated or "
                         f"not an N-MNIST event file?)")
    data = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 5)
    events = np.empty(data.shape[0], dtype=EVENT_DTYPE)
    events["x"], events["y"], events["p"] = data[:, 0], data[:, 1], data[:, 2] >> 7
    microseconds = ((data[:, 2].astype(np.int64) & 0x7F) << 16) | (data[:, 3].astype(np.int64) << 8) | data[:, 4]
    events["t"] = microseconds / 1000.0
    rows, cols = SENSOR_SHAPE
    if events.size and (events["x"].max() >= cols or events["y"].max() >= rows):
        bad = int(np.flatnonzero((events["x"] >= cols) | (events["y"] >= rows))[0])
        raise ValueError(f"{name}: event {bad} at (x, y) = ({events['x'][bad]}, {events['y'][bad]}) lies outside "
                         f"the {cols} x {rows} N-MNIST sensor (not an N-MNIST event file?)")
    if np.any(np.diff(microseconds) < 0):
        events = events[np.argsort(microseconds, kind="stable")]
    return events


def _read_list(text: str, name: str) -> tuple[list[str], np.ndarray]:
    """File ids and labels of a SLAYER list file: a comment line, then ``<id><whitespace><label>`` lines."""
    ids, labels = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit() or int(fields[1]) >= _N_CLASSES:
            raise ValueError(f"{name}, line {number}: expected '<id> <label 0..9>', got {line!r}")
        ids.append(fields[0])
        labels.append(int(fields[1]))
    if not ids:
        raise ValueError(f"{name} lists no samples")
    return ids, np.asarray(labels, dtype=np.int64)


def _load_small_tar(tar_path: Path, split: str, n: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    list_name = _SMALL_LISTS[split]
    side_list = tar_path.parent / list_name
    try:
        with tarfile.open(tar_path, "r:gz") as archive:
            if side_list.is_file():
                text = side_list.read_text()
            else:
                try:
                    text = archive.extractfile(f"{_SMALL_DIR}/{list_name}").read().decode()
                except KeyError:
                    raise ValueError(f"{tar_path}: no {list_name} beside it or inside it "
                                     f"({_SMALL_DIR}/{list_name})") from None
            ids, labels = _read_list(text, list_name)
            ids, labels = ids[:n], labels[:n]
            wanted = {f"{_SMALL_DIR}/{i}.bs2": k for k, i in enumerate(ids)}
            events: list[np.ndarray | None] = [None] * len(ids)
            for member in archive:  # one pass over the compressed stream, in the archive's order
                k = wanted.get(member.name)
                if k is not None:
                    events[k] = parse_events(archive.extractfile(member).read(), f"{tar_path.name}:{member.name}")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"{tar_path}: unreadable archive ({error})") from None
    missing = [ids[k] for k, e in enumerate(events) if e is None]
    if missing:
        raise ValueError(f"{tar_path}: {len(missing)} files of {list_name} are missing, e.g. "
                         f"{_SMALL_DIR}/{missing[0]}.bs2")
    return events, labels


def _load_small_dir(directory: Path, split: str, n: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    list_file = next(f for f in (directory / _SMALL_LISTS[split], directory.parent / _SMALL_LISTS[split])
                     if f.is_file())
    ids, labels = _read_list(list_file.read_text(), str(list_file))
    ids, labels = ids[:n], labels[:n]
    events = []
    for i in ids:
        file = directory / f"{i}.bs2"
        if not file.is_file():
            raise FileNotFoundError(f"{list_file} lists sample {i} but {file} does not exist")
        events.append(parse_events(file.read_bytes(), str(file)))
    return events, labels


def _load_full(directory: Path, n: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    files = [(file, digit) for digit in range(_N_CLASSES) for file in sorted((directory / str(digit)).glob("*.bin"))]
    if not files:
        raise ValueError(f"{directory} holds no <digit>/*.bin files")
    # the full set's files are grouped by digit; sorting by file id interleaves the classes, so that the first n
    # samples are a sensible subset
    files.sort(key=lambda item: (int(item[0].stem) if item[0].stem.isdigit() else 0, item[0].stem, item[1]))
    files = files[:n]
    events = [parse_events(file.read_bytes(), str(file)) for file, _ in files]
    return events, np.asarray([digit for _, digit in files], dtype=np.int64)


def load_nmnist(split: str = "train", path: str | os.PathLike | None = None,
                n: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """N-MNIST event streams and labels from local files (the shared small subset or the full data set).

    Parameters
    ----------
    split : {"train", "test"}
        Small subset: 1000 training / 100 test samples (training id ``k`` is MNIST training image ``k - 1``,
        test id ``60000 + k`` is MNIST test image ``k - 1``). Full set: 60,000 / 10,000.
    path : str or os.PathLike, optional
        A directory holding the data (``nmnist_small.tar.gz`` with its list files, a ``NMNISTsmall/``
        directory, or ``Train/`` and ``Test/``), or holding an ``nmnist-small/`` or ``nmnist/`` subfolder with
        them. Default: the ``EVENTSNN_DATA`` environment variable, else the shared data folder.
    n : int, optional
        Read only the first ``n`` samples of the split (in list-file order; for the full set, by file id).

    Returns
    -------
    events : list of numpy.ndarray of ``EVENT_DTYPE``
        One array per sample, fields ``t`` (ms), ``x``, ``y``, ``p``, sorted by time
        (see :func:`parse_events`).
    labels : numpy.ndarray of int64, shape (n_samples,)
        Digits 0..9.

    Raises
    ------
    FileNotFoundError
        If no layout is found; the message lists every directory searched.
    ValueError
        If ``split`` or ``n`` is invalid, or a file is corrupt (the message names it).

    Examples
    --------
    >>> events, labels = load_nmnist("test", n=3)
    >>> len(events), labels.tolist(), events[0].dtype.names
    (3, [7, 2, 1], ('t', 'x', 'y', 'p'))
    """
    check.one_of("split", split, tuple(_SMALL_LISTS))
    if n is not None:
        n = check.integer("n", n, minimum=1)
    roots, origin = _search_dirs("nmnist-small", path)  # [<root>/nmnist-small, <root>], or [] if no root
    directories = [roots[-1] / "nmnist-small", roots[-1] / "nmnist", roots[-1]] if roots else []
    for directory in directories:
        if (directory / _SMALL_TAR).is_file():
            return _load_small_tar(directory / _SMALL_TAR, split, n)
        small = directory / _SMALL_DIR
        if small.is_dir() and any((d / _SMALL_LISTS[split]).is_file() for d in (small, directory)):
            return _load_small_dir(small, split, n)
        if (directory / _FULL_DIRS[split]).is_dir():
            return _load_full(directory / _FULL_DIRS[split], n)
    searched = ", ".join(str(d) for d in directories) or "none"
    raise FileNotFoundError(
        f"N-MNIST {split} split not found. Searched directories (from {origin}): {searched}. Nothing is "
        f"downloaded; put {_SMALL_TAR} with {_SMALL_LISTS[split]}, a {_SMALL_DIR}/ directory, or the full data "
        f"set's {_FULL_DIRS[split]}/<digit>/*.bin files in one of them, set {ENV_VAR}, or pass path=.")
