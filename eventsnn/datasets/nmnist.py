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

import gzip
import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from eventsnn import _validation as check
from eventsnn.datasets.mnist import _N_CLASSES, ENV_VAR, _search_dirs

SENSOR_SHAPE = (34, 34)  # rows (y), columns (x)
EVENT_DTYPE = np.dtype([("t", np.float64), ("x", np.uint8), ("y", np.uint8), ("p", np.uint8)])
_SMALL_TAR = "nmnist_small.tar.gz"
_SMALL_DIR = "NMNISTsmall"
_SMALL_LISTS = {"train": "train1K.txt", "test": "test100.txt"}
_FULL_DIRS = {"train": "Train", "test": "Test"}
# Bounds on what a loader reads (docs/safety.md): the longest N-MNIST recording has about 30,000 events (150 kB);
# the shared subset archive inflates to about 25 MB
MAX_MEMBER_BYTES = 16 * 2**20
MAX_ARCHIVE_BYTES = 256 * 2**20
MAX_LIST_BYTES = 16 * 2**20


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
    ids, labels, seen = [], [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit() or int(fields[1]) >= _N_CLASSES:
            raise ValueError(f"{name}, line {number}: expected '<id> <label 0..9>', got {line!r}")
        if fields[0] in seen:
            raise ValueError(f"{name}, line {number}: sample {fields[0]} is listed twice (line {seen[fields[0]]})")
        seen[fields[0]] = number
        ids.append(fields[0])
        labels.append(int(fields[1]))
    if not ids:
        raise ValueError(f"{name} lists no samples")
    return ids, np.asarray(labels, dtype=np.int64)


def _load_small_tar(tar_path: Path, split: str, n: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    list_name = _SMALL_LISTS[split]
    side_list = tar_path.parent / list_name
    wanted: set[str] | None = None  # member names still needed; None until the list is known
    ids, labels, list_origin = [], np.zeros(0, dtype=np.int64), ""
    if side_list.is_file():
        list_origin = str(side_list)
        ids, labels = _read_list(_read_text(side_list), list_origin)
        ids, labels = ids[:n], labels[:n]
        wanted = {f"{_SMALL_DIR}/{i}.bs2" for i in ids}
    inside_list = f"{_SMALL_DIR}/{list_name}"
    # One streaming pass through gzip that keeps only the members it needs. Bounded work (docs/safety.md): a
    # member's size comes from its tar header, so a member larger than any N-MNIST file is refused before it is
    # inflated, and at most MAX_ARCHIVE_BYTES are inflated in all. After the last needed member the pass reads on
    # to the end of the stream, where gzip checks its CRC (tarfile's own gzip reader does not), unless an oversized
    # member or the budget comes first: then it stops there, inflating nothing more.
    payloads = {}
    inflated = 0
    try:
        with gzip.open(tar_path, "rb") as stream:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    # before the list is known, every event file is a candidate (kept within the budget)
                    needed = member.isfile() and (member.name in wanted if wanted is not None else
                                                  member.name == inside_list or member.name.endswith(".bs2"))
                    if member.size > MAX_MEMBER_BYTES or inflated + member.size > MAX_ARCHIVE_BYTES:
                        if wanted is not None and not wanted:
                            break  # everything needed is read: stop before inflating this member
                        raise ValueError(f"{tar_path}: member {member.name} declares {member.size} bytes (files "
                                         f"of the subset are < {MAX_MEMBER_BYTES} bytes, {MAX_ARCHIVE_BYTES} in "
                                         f"all); refusing to inflate it")
                    inflated += member.size
                    if not needed:
                        continue  # tarfile skips the member's data chunk by chunk, keeping none of it
                    payloads[member.name] = archive.extractfile(member).read()
                    if member.name == inside_list and wanted is None:
                        list_origin = f"{tar_path}:{inside_list}"
                        ids, labels = _read_list(_decode(payloads.pop(inside_list), list_origin), list_origin)
                        ids, labels = ids[:n], labels[:n]
                        wanted = {f"{_SMALL_DIR}/{i}.bs2" for i in ids}
                        payloads = {name: data for name, data in payloads.items() if name in wanted}
                        wanted -= set(payloads)
                    elif wanted is not None:
                        wanted.discard(member.name)
                else:
                    while stream.read(1 << 20):  # the tar end blocks, then gzip's CRC check
                        pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise ValueError(f"{tar_path}: damaged or unreadable archive ({error}); compare its sha256 with "
                         f"the data folder's SHA256SUMS") from None
    if wanted is None:
        raise ValueError(f"{tar_path}: no {list_name} beside it or inside it ({inside_list})")
    missing = [i for i in ids if f"{_SMALL_DIR}/{i}.bs2" not in payloads]
    if missing:
        raise ValueError(f"{tar_path}: {len(missing)} files listed in {list_origin} are not in the archive, e.g. "
                         f"{_SMALL_DIR}/{missing[0]}.bs2")
    events = [parse_events(payloads[f"{_SMALL_DIR}/{i}.bs2"], f"{tar_path.name}:{_SMALL_DIR}/{i}.bs2") for i in ids]
    return events, labels


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{name}: not a text list file ({error})") from None


def _read_text(file: Path) -> str:
    """A list file's text (bounded: a list of 70,000 samples is < 1 MB)."""
    with open(file, "rb") as handle:
        raw = handle.read(min(MAX_LIST_BYTES, os.fstat(handle.fileno()).st_size) + 1)
    if len(raw) > MAX_LIST_BYTES:
        raise ValueError(f"{file}: larger than {MAX_LIST_BYTES} bytes, not an N-MNIST list file")
    return _decode(raw, str(file))


def _read_event_file(file: Path) -> np.ndarray:
    size = file.stat().st_size
    if size > MAX_MEMBER_BYTES:
        raise ValueError(f"{file}: {size} bytes, larger than any N-MNIST event file (< {MAX_MEMBER_BYTES} bytes)")
    return parse_events(file.read_bytes(), str(file))


def _load_small_dir(directory: Path, split: str, n: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    list_file = next(f for f in (directory / _SMALL_LISTS[split], directory.parent / _SMALL_LISTS[split])
                     if f.is_file())
    ids, labels = _read_list(_read_text(list_file), str(list_file))
    ids, labels = ids[:n], labels[:n]
    events = []
    for i in ids:
        file = directory / f"{i}.bs2"
        if not file.is_file():
            raise FileNotFoundError(f"{list_file} lists sample {i} but {file} does not exist")
        events.append(_read_event_file(file))
    return events, labels


def _load_full(directory: Path, n: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    missing = [str(d) for d in range(_N_CLASSES) if not (directory / str(d)).is_dir()]
    if missing:
        raise ValueError(f"{directory} lacks the digit folders {', '.join(missing)}: the full N-MNIST layout is "
                         f"{directory.name}/<digit>/<id>.bin for every digit 0-9")
    files = [(file, digit) for digit in range(_N_CLASSES) for file in (directory / str(digit)).glob("*.bin")]
    odd = [file for file, _ in files if not file.stem.isdigit()]
    if odd:
        raise ValueError(f"{odd[0]}: N-MNIST event files are named <id>.bin with a numeric id")
    if not files:
        raise ValueError(f"{directory} holds no <digit>/*.bin files")
    # the files are grouped by digit; in file-id order the classes interleave, so the first n are a fair subset
    files.sort(key=lambda item: (int(item[0].stem), item[1]))
    files = files[:n]
    events = [_read_event_file(file) for file, _ in files]
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
        them; or the ``nmnist_small.tar.gz`` file itself. Default: the ``EVENTSNN_DATA`` environment variable,
        else the shared data folder.
    n : int, optional
        Read at most the first ``n`` samples of the split (in list-file order; for the full set, by file id).

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
        If no layout is found (the message lists every directory searched), or a file listed in an unpacked
        subset is missing.
    ValueError
        If ``split`` is invalid or ``n < 1``, a file is corrupt or an archive damaged (the message names it), a
        list file names a sample twice or a file the archive lacks, or the full layout lacks a digit folder.
    TypeError
        If ``n`` is not an int.

    Notes
    -----
    Memory: every event takes 11 bytes here and 16 more in :func:`~eventsnn.encoders.events_encode`'s batch
    (two copies at its peak); the full training split (about 60,000 x 4,200 events) needs several GB, so start
    with ``n``.

    Examples
    --------
    >>> events, labels = load_nmnist("test", n=3)
    >>> len(events), labels.tolist(), events[0].dtype.names
    (3, [7, 2, 1], ('t', 'x', 'y', 'p'))
    """
    check.one_of("split", split, tuple(_SMALL_LISTS))
    if n is not None:
        n = check.integer("n", n, minimum=1)
    if path is not None and Path(os.fspath(path)).is_file():
        if not os.fspath(path).endswith(".tar.gz"):
            raise ValueError(f"path {os.fspath(path)!r} is a file but not a .tar.gz archive of the subset; pass "
                             f"the directory that holds the data")
        return _load_small_tar(Path(os.fspath(path)), split, n)
    roots, origin = _search_dirs("nmnist-small", path)  # [<root>/nmnist-small, <root>], or [] if no root
    directories = [roots[-1] / "nmnist-small", roots[-1] / "nmnist", roots[-1]] if roots else []
    for directory in directories:
        if (directory / _SMALL_TAR).is_file():
            return _load_small_tar(directory / _SMALL_TAR, split, n)
        for small in (directory / _SMALL_DIR, directory):  # the parent of NMNISTsmall/, or the folder itself
            if any(small.glob("*.bs2")) and any((d / _SMALL_LISTS[split]).is_file() for d in (small, small.parent)):
                return _load_small_dir(small, split, n)
        if (directory / _FULL_DIRS[split]).is_dir():
            return _load_full(directory / _FULL_DIRS[split], n)
    searched = ", ".join(str(d) for d in directories) or "none"
    raise FileNotFoundError(
        f"N-MNIST {split} split not found. Searched directories (from {origin}): {searched}. Nothing is "
        f"downloaded; put {_SMALL_TAR} with {_SMALL_LISTS[split]}, a {_SMALL_DIR}/ directory, or the full data "
        f"set's {_FULL_DIRS[split]}/<digit>/*.bin files in one of them, set {ENV_VAR}, or pass path=.")
