"""``.npy`` files, ``.npz`` members and ``.npy`` on standard input, read block by block into
fresh buffers: memory follows the block size, never a size a header merely claims. Pickles are
never loaded."""

from __future__ import annotations

import io
import math
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from losscli.errors import InputError, name_list, shorten
from losscli.io import storage
from losscli.io.readers.base import (
    EXACT_INTEGERS,
    STDIN,
    Options,
    Reader,
    Request,
    Source,
    describe_source,
    large_integers,
    split_npz_key,
)


class NpyReader(Reader):
    """``.npy`` files, also on object storage and on standard input."""

    name = "npy"
    title = ".npy"
    suffixes = (".npy",)
    table = False
    magic = b"\x93NUMPY"

    @classmethod
    def open(
        cls,
        source: str,
        requests: dict[str, Request],
        compression: str | None,
        kind: str | None,
        options: Options,
    ) -> Source:
        if source == STDIN:
            return ArraySource(describe_source(source), stdin_opener(), None, requests)
        return npy_file(source, requests)


class NpzReader(Reader):
    """A member of an ``.npz`` archive, named ``file.npz:key`` (or the only one)."""

    name = "npz"
    title = ".npz"
    suffixes = (".npz",)
    table = False

    @classmethod
    def open(
        cls,
        source: str,
        requests: dict[str, Request],
        compression: str | None,
        kind: str | None,
        options: Options,
    ) -> Source:
        path, key = split_npz_key(source)
        return npz_member(path, key, source, requests)


def _array_file(
    source: Source, label: str, shape: tuple[int, ...], requests: dict[str, Request]
) -> None:
    """Checks and attributes shared by array files: every role gets the whole array."""
    for request in requests.values():
        if request.columns:
            raise InputError(
                f"{label} is an array file; {request.option} selects columns of tables only"
            )
    if not shape:
        raise InputError(f"{label} holds a single number; it needs one row per sample")
    source.label = label
    source.roles = list(requests)
    source.n_rows = int(shape[0])
    source.width = math.prod(shape[1:]) * len(requests)


class ArraySource(Source):
    """An array in a ``.npy`` stream (a file, an ``.npz`` member, standard input), read block
    by block into fresh buffers: memory follows the block size, never the claimed size."""

    def __init__(
        self,
        label: str,
        opener: Callable[[], Any],
        available: int | None,
        requests: dict[str, Request],
    ) -> None:
        super().__init__()
        self.opener = opener
        self.label = label
        self._fp: IO[bytes] | None = None
        fp = self._open()
        try:
            shape, fortran, self.dtype = _read_npy_header(fp, label)
            header_bytes = fp.tell() if available is not None else 0
        except BaseException:
            fp.close()
            raise
        if available is None:
            self._fp = fp  # standard input: the data follows the header, read once
        else:
            fp.close()
            room = available - header_bytes
            needed = math.prod(shape) * self.dtype.itemsize
            if needed > room:
                raise InputError(
                    f"{label}: the header claims an array of shape {shape} ({needed} bytes) but "
                    f"the file holds {max(room, 0)} bytes of data: is it truncated?"
                )
        _check_width(label, shape)
        _array_file(self, label, shape, requests)
        self.shape = shape
        # Rows of a Fortran-ordered array are not contiguous in the file.
        self.fortran = fortran and len(shape) > 1

    def spool(self) -> None:
        if self._fp is None:
            return
        import shutil
        import tempfile

        from numpy.lib import format as npformat

        spooled = tempfile.TemporaryFile()  # noqa: SIM115 - read while the source lives
        header = {
            "descr": npformat.dtype_to_descr(self.dtype),
            "fortran_order": self.fortran,
            "shape": self.shape,
        }
        npformat.write_array_header_2_0(spooled, header)
        with self._fp as fp:
            shutil.copyfileobj(fp, spooled, 1 << 20)
        self._fp = None

        def opener() -> Any:
            spooled.seek(0)
            return _Unclosed(spooled)

        self.opener = opener

    def _check_integers(self, block: np.ndarray) -> None:
        if self.dtype.kind in "iu" and self.dtype.itemsize == 8 and block.size:
            largest = max(abs(int(block.min())), abs(int(block.max())))
            if largest > EXACT_INTEGERS:
                self.note(large_integers(self.label, largest))

    def _open(self) -> Any:
        try:
            return self.opener()
        except OSError as exc:
            raise InputError(f"{self.label}: cannot read the file ({exc})") from None

    def _data(self) -> Any:
        """The stream, positioned after the header."""
        if self._fp is not None:
            fp, self._fp = self._fp, None
            return fp
        fp = self._open()
        _read_npy_header(fp, self.label)
        return fp

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        row_shape, n_rows = self.shape[1:], self.shape[0]
        with self._data() as fp:
            if self.fortran:
                # Whole, in Fortran order: the header was checked against the file size.
                whole = _read_exactly(fp, math.prod(self.shape) * self.dtype.itemsize, self.label)
                array = np.frombuffer(whole, self.dtype).reshape(self.shape, order="F")
                for start in range(0, n_rows, rows):
                    block = np.ascontiguousarray(array[start : start + rows])
                    self._check_integers(block)
                    yield {role: block for role in self.roles}
                return
            for start in range(0, n_rows, rows):
                block = np.empty((min(rows, n_rows - start), *row_shape), dtype=self.dtype)
                view = memoryview(block.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
                got = 0
                while got < block.nbytes:
                    n = fp.readinto(view[got:])
                    if not n:
                        raise InputError(f"{self.label}: the data ended early: is it truncated?")
                    got += n
                self._check_integers(block)
                yield {role: block for role in self.roles}
            if fp.read(1):
                raise InputError(
                    f"{self.label}: holds more data than its header's shape {self.shape} says"
                )


def _read_npy_header(fp: IO[bytes], label: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of a ``.npy`` stream, as Python integers: a claimed
    shape never wraps around int64 to look small (``ArraySource`` checks it against the
    file's size)."""
    from numpy.lib import format as npformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's notes on old (Python 2) headers
            version = npformat.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(fp)
            else:
                shape, fortran, dtype = npformat.read_array_header_2_0(fp)
    except Exception as exc:  # numpy parses the header with ast: any error means a bad file
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{label}: not a valid .npy file ({message})") from None
    if dtype.hasobject:
        raise InputError(
            f"{label}: holds Python objects, which would need unpickling; losscli refuses "
            "to unpickle data files: save a numeric array"
        )
    if dtype.kind not in "biuf":
        raise InputError(f"{label}: holds {dtype} values; losscli needs numbers")
    return tuple(int(n) for n in shape), bool(fortran), dtype


def _check_width(label: str, shape: tuple[int, ...]) -> None:
    if len(shape) > 1 and math.prod(shape[1:]) == 0:
        raise InputError(
            f"{label}: each sample holds no values (shape {shape}); a loss needs at least one "
            "value per sample"
        )


def _read_exactly(fp: IO[bytes], size: int, label: str) -> bytes:
    data = fp.read(size)
    if len(data) < size:
        raise InputError(f"{label}: the data ended early: is it truncated?")
    return data


def npy_file(path: str, requests: dict[str, Request]) -> Source:
    if storage.is_uri(path):
        return ArraySource(
            storage.public(path), lambda: storage.open_input(path), storage.size(path), requests
        )

    def opener() -> Any:
        return open(path, "rb")

    return ArraySource(path, opener, Path(path).stat().st_size, requests)


def _archive(path: str) -> zipfile.ZipFile:
    """A zip archive, local or on a filesystem named by URI."""
    return zipfile.ZipFile(storage.open_input(path) if storage.is_uri(path) else path)


def stdin_opener() -> Callable[[], Any]:
    def opener() -> Any:
        return _StdinBytes()

    return opener


def npz_member(path: str, key: str | None, source: str, requests: dict[str, Request]) -> Source:
    try:
        with _archive(path) as archive:
            members = {
                info.filename[: -len(".npy")]: info
                for info in archive.infolist()
                if info.filename.endswith(".npy")
            }
        if not members:
            raise InputError(f"{path}: the archive holds no arrays")
        if key is None:
            if len(members) > 1:
                raise InputError(
                    f"{path} holds {len(members)} arrays ({name_list(members)}); "
                    f"name one as {path}:KEY"
                )
            key = next(iter(members))
        if key not in members:
            raise InputError(f"{path} has no array {shorten(key)!r}; it holds {name_list(members)}")
        info = members[key]

        def opener() -> Any:
            return _ZipMember(path, info)

        # The member is read as it decompresses, never more than the header claims (checked
        # against the zip's own claim): a bomb or a forged size ends in an error, not in memory.
        return ArraySource(source, opener, info.file_size, requests)
    except InputError:
        raise
    except zipfile.BadZipFile:
        raise InputError(
            f"{storage.public(path)}: not a valid .npz file (not a zip archive)"
        ) from None
    except (NotImplementedError, RuntimeError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise InputError(f"{storage.public(path)}: not a readable .npz file ({exc})") from None


class _ZipMember(io.RawIOBase):
    """One member of a zip archive as a readable stream that closes the archive with it."""

    def __init__(self, path: str, info: zipfile.ZipInfo) -> None:
        self.label = storage.public(path)
        self.archive = _archive(path)
        self.member = self.archive.open(info)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.member.read(len(buffer))
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise InputError(f"{self.label}: not a readable .npz file ({exc})") from None
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return int(self.member.tell())

    def close(self) -> None:
        self.member.close()
        self.archive.close()
        super().close()


class _Unclosed(io.RawIOBase):
    """A spooled temporary file, read again and again: closing the reader keeps it."""

    def __init__(self, fp: IO[bytes]) -> None:
        self.fp = fp

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.fp.readinto(buffer)  # type: ignore[attr-defined]


class _StdinBytes(io.RawIOBase):
    """Standard input as a binary stream (read once, as it comes)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        stdin: Any = sys.stdin.buffer
        return int(stdin.readinto(buffer))  # closing this stream leaves standard input open
