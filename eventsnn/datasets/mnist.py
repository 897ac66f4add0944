"""MNIST and Fashion-MNIST from local IDX files (``.gz`` or uncompressed). Never downloads.

Where the files are looked for, in order (the first rule that applies is the only one used, so a setting
never silently falls back to other data):

1. the ``path`` argument, a directory holding the four files or a ``mnist/`` / ``fashion-mnist/`` subfolder;
2. the environment variable ``EVENTSNN_DATA``, a directory of the same two layouts;
3. the project's shared data folder (:func:`default_data_dir`), found by walking up from the current working
   directory and from this package's location to the first ``shared/data`` directory.

File names are the official ones (``train-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, ...), and
each may also be stored uncompressed (same name without ``.gz``).

IDX format: a big-endian header (magic, then one uint32 per dimension) followed by row-major ``uint8`` data.
Images have magic 2051 and dimensions (N, 28, 28); labels have magic 2049 and dimension (N,).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from eventsnn import _validation as check
from eventsnn._file_validation import (
    MAX_DEFLATE_RATIO,
    FileFormatError,
    read_gzip_prefix,
)

ENV_VAR = "EVENTSNN_DATA"

_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049
_SIDE = 28
_N_CLASSES = 10
_GZIP_SIGNATURE = b"\x1f\x8b"
_PREFIX = {"train": "train", "test": "t10k"}


def default_data_dir() -> Path | None:
    """The shared data folder (``.../shared/data``) of the project, or None if there is none.

    Searched by walking up from the current working directory, then from this package's location; at each
    level the candidate is ``<level>/shared/data``. For a project checked out at ``<root>/main`` this finds
    ``<root>/shared/data``.

    Returns
    -------
    pathlib.Path or None
        Absolute path of the first existing ``shared/data`` directory.

    Examples
    --------
    >>> found = default_data_dir()
    >>> found is None or found.name == "data"
    True
    """
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for level in (start, *start.parents):
            candidate = level / "shared" / "data"
            if candidate.is_dir():
                return candidate.resolve()
    return None


def _file_names(split: str) -> tuple[str, str]:
    prefix = _PREFIX[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _search_dirs(subdir: str, path: str | os.PathLike | None) -> tuple[list[Path], str]:
    """Directories to search, most specific first, and a phrase saying where they came from."""
    if path is not None:
        try:
            root = Path(os.fspath(path))
        except TypeError:
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__} {path!r}") from None
        origin = "the path argument"
    elif os.environ.get(ENV_VAR):
        root = Path(os.environ[ENV_VAR])
        origin = f"the {ENV_VAR} environment variable"
    else:
        found = default_data_dir()
        if found is None:
            return [], f"the default search (no shared/data folder above {Path.cwd()} or the package)"
        root = found
        origin = "the default shared data folder"
    return [root / subdir, root], origin


def _locate(base_name: str, directories: list[Path]) -> Path | None:
    for directory in directories:
        for name in (base_name + ".gz", base_name):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def _read_idx(file: Path, magic: int, item_shape: tuple[int, ...], what: str) -> tuple[int, np.ndarray]:
    """Parse an unsigned-byte IDX file of ``N`` items of ``item_shape``: return (N, flat uint8 data).

    Bounded work (docs/safety.md): the header is read and checked first (magic, item shape, and a data size the
    file can hold: exactly the rest of a raw file; at most deflate's 1032:1 ratio of a gzip file), then exactly
    the announced bytes are inflated in chunks, and one byte more must be the end of the stream (which also makes
    gzip check its CRC). A decompression bomb therefore costs at most the size its header announces.
    """
    n_dims = 1 + len(item_shape)
    header_size = 4 * (1 + n_dims)
    disk_size = file.stat().st_size
    with open(file, "rb") as handle:
        compressed = handle.read(2) == _GZIP_SIGNATURE
    try:
        with (gzip.open(file, "rb") if compressed else open(file, "rb")) as handle:
            try:
                header = read_gzip_prefix(handle, header_size, file.name)
            except FileFormatError:
                raise FileFormatError(f"{file.name}: shorter than the {header_size}-byte IDX header of {what}; "
                                      f"file {file}") from None
            found_magic, n_items, *dims = struct.unpack(f">{1 + n_dims}I", header)
            if found_magic != magic:
                raise FileFormatError(f"{file.name}: IDX magic number is {found_magic}, expected {magic}; is it the "
                                      f"right file, and intact? file {file}")
            if tuple(dims) != item_shape:
                raise FileFormatError(f"{file.name}: {what} are {' x '.join(map(str, dims))}, expected "
                                      f"{' x '.join(map(str, item_shape))}; file {file}")
            expected = n_items * int(np.prod(item_shape, dtype=np.int64))
            possible = MAX_DEFLATE_RATIO * disk_size if compressed else disk_size - header_size
            if expected > possible or (not compressed and expected != possible):
                raise FileFormatError(f"{file.name}: header announces {n_items} {what} = {expected} values but the "
                                      f"file {'cannot inflate to' if compressed else 'holds'} "
                                      f"{'that many' if compressed else possible} (truncated or corrupt); file {file}")
            try:
                raw = read_gzip_prefix(handle, expected, file.name)
            except FileFormatError as error:
                raise FileFormatError(f"{file.name}: header announces {n_items} {what} = {expected} values but the "
                                      f"file holds fewer (truncated or corrupt; {error}); file {file}") from None
            if handle.read(1):
                raise FileFormatError(f"{file.name}: holds more data than the {expected} values its header "
                                      f"announces (corrupt, or not an IDX file); file {file}")
    except (OSError, EOFError, zlib.error) as error:
        raise FileFormatError(f"{file.name}: corrupt gzip stream ({error}); file {file}") from None
    # copy: frombuffer over bytes is read-only, and callers expect an ordinary array
    return n_items, np.frombuffer(raw, dtype=np.uint8).copy()


def _load(dataset: str, subdir: str, split: str, path: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray]:
    check.one_of("split", split, tuple(_PREFIX))
    directories, origin = _search_dirs(subdir, path)
    names = _file_names(split)
    files = [_locate(name, directories) for name in names]
    if any(f is None for f in files):
        missing = [f"{name}.gz (or {name})" for name, f in zip(names, files) if f is None]
        searched = ", ".join(str(d) for d in directories) or "none"
        raise FileNotFoundError(
            f"{dataset} {split} split not found: missing {' and '.join(missing)}. Searched directories (from "
            f"{origin}): {searched}. Nothing is downloaded; put the official IDX files in one of these "
            f"directories, or set the {ENV_VAR} environment variable to a directory containing a {subdir}/ "
            f"folder (or the files directly), or pass path= to the loader.")
    image_file, label_file = files
    n_images, pixels = _read_idx(image_file, _IMAGES_MAGIC, (_SIDE, _SIDE), "images")
    rows = cols = _SIDE
    n_labels, labels = _read_idx(label_file, _LABELS_MAGIC, (), "labels")
    if n_labels != n_images:
        raise FileFormatError(f"{label_file.name} holds {n_labels} labels but {image_file.name} holds {n_images} "
                         f"images; files from different splits or data sets? ({label_file.parent})")
    if labels.size and labels.max() >= _N_CLASSES:
        raise FileFormatError(f"{label_file.name}: label {int(labels.max())} outside 0..{_N_CLASSES - 1}; "
                         f"file {label_file}")
    return pixels.reshape(n_images, rows, cols), labels.astype(np.int64)


def load_mnist(split: str = "train", path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST handwritten digits (LeCun, Cortes & Burges) from local IDX files.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"``: 60,000 images (``train-*`` files); ``"test"``: 10,000 images (``t10k-*`` files).
    path : str or os.PathLike, optional
        Directory holding the files, or holding an ``mnist/`` subfolder with them. Default: the
        ``EVENTSNN_DATA`` environment variable, else the project's shared data folder (see module docstring).

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, 28, 28)
        Pixel intensities 0 (background) .. 255 (ink), row-major, top row first.
    labels : numpy.ndarray of int64, shape (N,)
        Digits 0..9.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message lists the expected names and every directory searched.
    ValueError
        If ``split`` is invalid or a file is corrupt (wrong magic number, size or count); the message names
        the file.

    Examples
    --------
    >>> images, labels = load_mnist("test")
    >>> images.shape, images.dtype, labels[:5].tolist()
    ((10000, 28, 28), dtype('uint8'), [7, 2, 1, 0, 4])
    """
    return _load("MNIST", "mnist", split, path)


def load_fashion_mnist(split: str = "train",
                       path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from local IDX files.

    Same format, file names and sizes as MNIST; labels are clothing classes 0 T-shirt/top, 1 Trouser,
    2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"``: 60,000 images; ``"test"``: 10,000 images.
    path : str or os.PathLike, optional
        Directory holding the files, or holding a ``fashion-mnist/`` subfolder with them. Default: the
        ``EVENTSNN_DATA`` environment variable, else the project's shared data folder.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, 28, 28)
    labels : numpy.ndarray of int64, shape (N,)

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message lists the expected names and every directory searched.
    ValueError
        If ``split`` is invalid or a file is corrupt.

    Examples
    --------
    >>> images, labels = load_fashion_mnist("test")
    >>> images.shape, labels[:3].tolist()
    ((10000, 28, 28), [9, 2, 1])
    """
    return _load("Fashion-MNIST", "fashion-mnist", split, path)
