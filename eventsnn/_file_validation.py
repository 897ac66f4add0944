"""Reading untrusted files with bounded work: ``.npz`` archives, JSON files and gzip streams.

Every loader of eventsnn (spike files, checkpoints, ``model.npz``, ``run.json``, ``metrics.json``, IDX and
N-MNIST data) reads through these helpers, so that a malformed file raises :class:`FileFormatError` naming the
file and the field, never a foreign ``BadZipFile``/``KeyError``/``EOFError``/``JSONDecodeError``, and so that
the memory and time a file can cost are bounded by what its header declares (docs/safety.md):

* an ``.npz`` member is read only after its ``.npy`` header has been checked: plain numeric or text dtype, and a
  data size equal to what the zip directory declares, which itself must be possible for the member's compressed
  size (stored: equal; deflated: at most :data:`MAX_DEFLATE_RATIO` times larger). Nothing is ever unpickled.
* gzip streams are inflated chunk by chunk and stop with an error as soon as they exceed the size their content's
  header announced (:func:`read_gzip_prefix`), so a decompression bomb costs at most that size.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import zipfile
import zlib
from typing import IO, Iterator

import numpy as np

# deflate cannot expand data by more than about 1032:1 (RFC 1951: a 258-byte match costs at least 2 bits), so a
# member declaring more than this ratio is not a valid deflate stream: rejected before inflating anything
MAX_DEFLATE_RATIO = 1032
# .npy headers of eventsnn's files are < 200 bytes; numpy's own default limit
MAX_NPY_HEADER = 10_000
# JSON files of a run directory (run.json, metrics.json) are a few hundred kB even for 300-epoch runs
MAX_JSON_BYTES = 64 * 2**20
_CHUNK = 1 << 20


class FileFormatError(ValueError):
    """A file is malformed: truncated, corrupt, of another format, or a field has the wrong type, shape or value.

    The message names the file and the field. A subclass of ValueError, so ``except ValueError`` catches it.
    """


class NpzFile:
    """Read-only, validated access to the arrays of one ``.npz`` file (use :func:`open_npz`)."""

    def __init__(self, archive: zipfile.ZipFile, path: str, disk_size: int) -> None:
        self._archive = archive
        self.path = path
        self._disk_size = disk_size
        self._members = {}
        for info in archive.infolist():
            if info.filename.endswith(".npy"):
                self._members[info.filename[:-4]] = info
        self.files = list(self._members)

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def error(self, field: str, problem: str) -> FileFormatError:
        return FileFormatError(f"{self.path}: field {field!r} {problem}")

    def array(self, name: str, *, kinds: str = "fiub", ndim: int | None = None,
              shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The array ``name`` (its dtype kind one of ``kinds``: f float, i/u int, b bool, U text), read with the
        checks of the module docstring; ``ndim``/``shape`` are checked from the header before the data is read."""
        info = self._members.get(name)
        if info is None:
            raise self.error(name, f"is missing (the file holds {sorted(self._members)})")
        if info.compress_type == zipfile.ZIP_STORED:
            possible = info.compress_size
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            possible = MAX_DEFLATE_RATIO * info.compress_size + 1024
        else:
            raise self.error(name, f"uses zip compression method {info.compress_type}, not stored or deflated")
        if info.file_size > possible or info.compress_size > self._disk_size:
            raise self.error(name, f"declares {info.file_size} bytes from {info.compress_size} compressed bytes in "
                                   f"a {self._disk_size}-byte file (corrupt or a decompression bomb)")
        try:
            with self._archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):  # 3.0 (UTF-8 field names) is never written by eventsnn
                    raise self.error(name, f"is a .npy file of version {version[0]}.{version[1]}, expected 1.0 or 2.0")
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                array_shape, fortran, dtype = header(member, max_header_size=MAX_NPY_HEADER)
                offset = member.tell()
                if dtype.hasobject:
                    raise self.error(name, "holds Python objects, which are never unpickled (allow_pickle=False)")
                if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype:
                    raise self.error(name, f"has dtype {dtype}, expected kind {' or '.join(kinds)}")
                if ndim is not None and len(array_shape) != ndim:
                    raise self.error(name, f"has shape {array_shape}, expected {ndim} dimension(s)")
                if shape is not None and tuple(array_shape) != tuple(shape):
                    raise self.error(name, f"has shape {tuple(array_shape)}, expected {tuple(shape)}")
                # Python integers: an int64 product of a crafted shape could wrap around to match a small member
                n_bytes = math.prod(int(d) for d in array_shape) * dtype.itemsize
                if offset + n_bytes != info.file_size:
                    raise self.error(name, f"declares shape {array_shape} of {dtype} ({n_bytes} bytes) but holds "
                                           f"{info.file_size - offset} data bytes (truncated or corrupt)")
                buffer = np.empty(n_bytes, dtype=np.uint8)
                view, filled = memoryview(buffer), 0
                while filled < n_bytes:
                    got = member.readinto(view[filled:filled + _CHUNK])
                    if not got:
                        raise self.error(name, "ends before its data (truncated)")
                    filled += got
                member.read(1)  # reaching the end makes zipfile check the member's CRC
        except FileFormatError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, TypeError, SyntaxError,
                NotImplementedError, RuntimeError) as error:
            raise self.error(name, f"cannot be read ({type(error).__name__}: {error})") from None
        array = buffer.view(dtype)
        return array.reshape(array_shape, order="F" if fortran else "C")

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        """A 0-d (or 1-element) integer field within ``[minimum, maximum]``."""
        array = self.array(name, kinds="iu")
        if array.size != 1 or array.ndim > 1:
            raise self.error(name, f"must be one integer, got shape {array.shape}")
        value = int(array.reshape(-1)[0])
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"[{minimum if minimum is not None else '-inf'}, {maximum if maximum is not None else 'inf'}]"
            raise self.error(name, f"is {value}, outside {bounds}")
        return value

    def real(self, name: str, *, positive: bool = False) -> float:
        """A 0-d finite real field (> 0 if ``positive``)."""
        array = self.array(name, kinds="fiu")
        if array.size != 1 or array.ndim > 1:
            raise self.error(name, f"must be one number, got shape {array.shape}")
        value = float(array.reshape(-1)[0])
        if not np.isfinite(value) or (positive and value <= 0.0):
            raise self.error(name, f"is {value!r}, expected a finite number{' > 0' if positive else ''}")
        return value

    def floats(self, name: str, shape: tuple[int, ...], *, nonnegative: bool = False) -> np.ndarray:
        """A finite real array of exactly ``shape`` (no broadcasting), as C-contiguous float64."""
        array = self.array(name, kinds="fiu", shape=shape)
        array = np.ascontiguousarray(array, dtype=np.float64)
        bad = ~np.isfinite(array) | ((array < 0.0) if nonnegative else False)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise self.error(name, f"holds {array[index]!r} at index {index}, expected finite"
                                   f"{' and >= 0' if nonnegative else ''} values")
        return array

    def parameters(self, name: str, shape: tuple[int, ...], *, nonnegative: bool = False) -> np.ndarray:
        """A weight or delay array (:meth:`floats`) within the range the network and the read-out accept
        (|x| <= ``MAX_ABS_PARAMETER``), checked with the other fields of the file: the setters would refuse it only
        once part of the file was loaded, and without naming the file."""
        from eventsnn._validation import MAX_ABS_PARAMETER

        array = self.floats(name, shape, nonnegative=nonnegative)
        outside = np.abs(array) > MAX_ABS_PARAMETER
        if outside.any():
            index = tuple(int(i) for i in np.argwhere(outside)[0])
            raise self.error(name, f"holds {float(array[index])!r} at index {index}, outside [-{MAX_ABS_PARAMETER:g}, "
                                   f"{MAX_ABS_PARAMETER:g}] (larger values overflow the exact solver)")
        return array

    def json(self, name: str) -> object:
        """A JSON document stored as a 0-d text array."""
        array = self.array(name, kinds="U", ndim=0)
        try:
            return json.loads(str(array))
        except (json.JSONDecodeError, RecursionError) as error:
            raise self.error(name, f"is not valid JSON ({error})") from None


@contextlib.contextmanager
def open_npz(path: str | os.PathLike) -> Iterator[NpzFile]:
    """Open ``path`` as an ``.npz`` archive for :class:`NpzFile` reads.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    FileFormatError
        If it is not a readable zip archive (the message names the file).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found")
    try:
        disk_size = os.path.getsize(path)
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, IsADirectoryError) as error:
        raise FileFormatError(f"{path}: not a readable .npz (zip) file ({type(error).__name__}: {error})") from None
    with archive:
        yield NpzFile(archive, path, disk_size)


def read_json(path: str | os.PathLike, *, limit: int = MAX_JSON_BYTES) -> object:
    """The JSON document in ``path``, read only if it is at most ``limit`` bytes.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    FileFormatError
        If it is larger than ``limit``, not UTF-8 or not valid JSON (the message names the file and position).
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        # read(n) reserves n bytes up front: ask for the file's size, not the limit
        raw = handle.read(min(limit, os.fstat(handle.fileno()).st_size) + 1)
    if len(raw) > limit:
        raise FileFormatError(f"{path}: larger than {limit} bytes, not a JSON file eventsnn wrote")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise FileFormatError(f"{path}: not UTF-8 text ({error})") from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise FileFormatError(f"{path}: not valid JSON ({error})") from None


def read_gzip_prefix(handle: IO[bytes], n_bytes: int, name: str) -> bytes:
    """Exactly ``n_bytes`` inflated bytes from the open gzip ``handle``, read in chunks (FileFormatError if the
    stream ends first); decompression never runs more than one chunk past what is asked."""
    parts, filled = [], 0
    while filled < n_bytes:
        chunk = handle.read(min(_CHUNK, n_bytes - filled))
        if not chunk:
            break
        parts.append(chunk)
        filled += len(chunk)
    data = b"".join(parts)
    if len(data) < n_bytes:
        raise FileFormatError(f"{name}: ends after {len(data)} bytes, {n_bytes} expected (truncated)")
    return data
