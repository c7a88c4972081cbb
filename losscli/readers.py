"""Reading label, prediction and weight files in blocks of rows: one source per format.

``open_source`` opens a file (or ``-``, standard input) and gives a
:class:`Source` whose ``blocks`` yield consecutive rows, one array per *role*
(``y_true``, ``y_pred``, ...): the columns each role asked for in a table, the
whole array in an array file. Nothing is read whole unless the format needs it:

- ``.npy``: the header is checked against the file size (nothing is allocated
  for what a header merely claims), then blocks are read with ``readinto``;
- Parquet files and directories: record batches;
- CSV/TSV (also compressed): pyarrow's streaming reader, only the selected
  columns parsed, as float64;
- ``.npz`` members and standard input are held in memory.

Pickles are never loaded. pyarrow is imported only by the sources that need it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import math
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from losscli.errors import InputError, name_list, shorten

STDIN = "-"
CSV_NULLS = ["", "NA", "N/A", "nan", "NaN", "NAN", "null", "NULL"]
#: CSV is parsed this many bytes at a time, in one buffer read into again and again. pyarrow's
#: parse memory grows with the block; measured peak RSS on 48M 10-byte rows: 129 MiB with 2 MiB
#: blocks, 151 MiB with 4 MiB (the same time, 4.4 s against 4.6 s).
CSV_BLOCK_BYTES = 2 << 20
#: A CSV line longer than this is an error (a file without line breaks would fill memory).
MAX_LINE_BYTES = 64 << 20
#: CSV delimiters told apart by sniffing the first lines (``--delimiter`` sets any other).
DELIMITERS = (",", "\t", ";", "|")
SNIFF_LINES = 50
#: Integers up to this magnitude are exact in float64.
EXACT_INTEGERS = 2**53


class Format(str, Enum):
    CSV = "csv"
    TSV = "tsv"
    NPY = "npy"
    NPZ = "npz"
    PARQUET = "parquet"


_SUFFIXES = {
    ".csv": Format.CSV,
    ".tsv": Format.TSV,
    ".tab": Format.TSV,
    ".txt": Format.CSV,
    ".npy": Format.NPY,
    ".npz": Format.NPZ,
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
}
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4", ".br": "brotli"}


class Request(NamedTuple):
    """What a role wants from a source: column patterns (none: every column)."""

    columns: tuple[str, ...] = ()
    option: str = "--pred-col"  # the option that named the columns, for messages


class Source:
    """An input read in blocks of consecutive rows, one array per role."""

    label: str
    roles: list[str]
    n_rows: int | None  # None when unknown before reading (CSV)
    width: int = 1  # numbers per row over all roles, to size chunks
    #: True when reading costs more than a copy (parsing, decoding): worth a reader thread.
    decodes: bool = False

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        raise NotImplementedError

    def __init__(self) -> None:
        #: Likely mistakes seen while reading, each once, in the order seen.
        self.warnings: dict[str, None] = {}

    def note(self, warning: str) -> None:
        self.warnings[warning] = None

    def spool(self) -> None:
        """Make a read-once source readable again: copy what is left to a temporary file."""

    def read(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        """``blocks``, with errors of reading and decoding the file turned into InputError."""
        try:
            yield from self.blocks(rows)
        except InputError:
            raise
        except Exception as exc:
            if not _is_read_error(exc):
                raise
            raise InputError(f"{self.label}: cannot read the file ({_arrow_message(exc)})") from exc


def _is_read_error(exc: Exception) -> bool:
    """I/O and decoding errors (the file's fault), not losscli's bugs."""
    origin = type(exc).__module__ or ""
    return isinstance(exc, (OSError, EOFError, zipfile.BadZipFile)) or origin.startswith("pyarrow")


def describe_source(source: str) -> str:
    return "standard input" if source == STDIN else source


def parse_number(text: str) -> float | None:
    """``text`` as a number, or None when it is not one."""
    try:
        return float(text)
    except ValueError:
        return None


def cli_flag(key: str) -> str:
    """A setting as the command line spells it: ``pred_col`` -> ``--pred-col``."""
    return "--" + key.replace("_", "-")


def detect_format(
    source: str, input_format: str | None = None, say: Callable[[str], str] = cli_flag
) -> tuple[Format, str | None]:
    """The format and compression of a source: by ``input_format`` or by suffix."""
    path, _ = split_npz_key(source)
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression = _COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    if input_format:
        try:
            return Format(input_format.lower()), compression
        except ValueError:
            raise InputError(
                f"unknown input format {input_format!r}; choose one of "
                f"{', '.join(f.value for f in Format)}"
            ) from None
    if source == STDIN:
        return _sniff_stdin(), None
    if path_kind(path) == "dir":
        return Format.PARQUET, None
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]], compression
    raise InputError(
        f"{source}: cannot tell the format from the suffix; use .csv, .tsv, .npy, .npz, "
        f".parquet (or a directory of Parquet files), or set {say('input_format')}"
    )


def split_npz_key(source: str) -> tuple[str, str | None]:
    """``file.npz:key`` -> (``file.npz``, ``key``)."""
    head, sep, key = source.rpartition(":")
    if sep and head.lower().endswith(".npz") and "/" not in key:
        return head, key
    return source, None


def open_source(
    source: str,
    requests: dict[str, Request],
    *,
    input_format: str | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    say: Callable[[str], str] = cli_flag,
) -> Source:
    """Open ``source`` for the roles in ``requests``; errors name the file and what is wrong
    and the setting that fixes it, as ``say`` spells it (``--pred-col``, ``pred_col``)."""
    fmt, compression = detect_format(source, input_format, say)
    path, key = split_npz_key(source)
    label = describe_source(source)
    if source != STDIN:
        _check_readable(path, allow_dir=fmt is Format.PARQUET)
    if fmt in (Format.CSV, Format.TSV, Format.PARQUET):
        _use_jemalloc()
    try:
        if fmt in (Format.CSV, Format.TSV):
            return _CsvSource(source, fmt, compression, header, requests, say, delimiter)
        if fmt is Format.PARQUET:
            return _ParquetSource(source, requests)
        if fmt is Format.NPY:
            if source == STDIN:
                return _ArraySource(label, _stdin_opener(), None, requests)
            return _npy_file(source, requests)
        return _npz_member(path, key, source, requests)
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{label}: cannot read as {fmt.value}: {exc}") from exc


def _use_jemalloc() -> None:
    """pyarrow's jemalloc pool, which gives freed memory back sooner than its default
    (mimalloc): on 10M two-column CSV rows, peak RSS 123 MiB against 131 MiB, and 170 against
    203 MiB with 16 MiB blocks. ``ARROW_DEFAULT_MEMORY_POOL``, when set, is left to decide."""
    import os

    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with contextlib.suppress(NotImplementedError):  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def path_kind(path: str) -> str | None:
    """``"dir"``, ``"file"`` (a regular file), ``"other"`` (a pipe, a device), or None when
    nothing is there; a name that cannot be looked up (too long, a symlink loop, no permission
    on a directory on the way) is an InputError, not a missing file."""
    import errno
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise InputError(f"{path}: cannot look it up ({reason})") from None
    except ValueError:  # a NUL byte in the name
        raise InputError(f"{shorten(path)!r}: not a valid file name") from None
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def _check_readable(path: str, allow_dir: bool) -> None:
    kind = path_kind(path)
    if kind is None:
        raise InputError(f"{path}: no such file")
    if kind == "dir":
        if not allow_dir:
            raise InputError(f"{path}: is a directory, not a file")
    elif kind == "file" and Path(path).stat().st_size == 0:  # a pipe has no size: read it
        raise InputError(f"{path}: the file is empty")


def _peek_stdin(size: int) -> bytes:
    """The first bytes of standard input, left in place for the reader."""
    buffer = sys.stdin.buffer
    if hasattr(buffer, "peek"):
        return bytes(buffer.peek(size)[:size])
    if buffer.seekable():
        position = buffer.tell()
        head = buffer.read(size)
        buffer.seek(position)
        return bytes(head)
    return b""


def _sniff_stdin() -> Format:
    """``.npy`` and Parquet are recognised by their magic bytes; anything else is CSV."""
    head = _peek_stdin(8)
    if head.startswith(b"\x93NUMPY"):
        return Format.NPY
    if head.startswith(b"PAR1"):
        return Format.PARQUET
    return Format.CSV


def _arrow_message(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# --- arrays -------------------------------------------------------------------------------


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


class _ArraySource(Source):
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
            shape, fortran, self.dtype = _npy_header(fp, label)
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
                self.note(_large_integers(self.label, largest))

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
        _npy_header(fp, self.label)
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


def _npy_header(fp: IO[bytes], label: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of a ``.npy`` stream, as Python integers: a claimed
    shape never wraps around int64 to look small (``_ArraySource`` checks it against the
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


def _npy_file(path: str, requests: dict[str, Request]) -> Source:
    def opener() -> Any:
        return open(path, "rb")

    return _ArraySource(path, opener, Path(path).stat().st_size, requests)


def _stdin_opener() -> Callable[[], Any]:
    def opener() -> Any:
        return _StdinBytes()

    return opener


def _npz_member(path: str, key: str | None, source: str, requests: dict[str, Request]) -> Source:
    try:
        with zipfile.ZipFile(path) as archive:
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
        return _ArraySource(source, opener, info.file_size, requests)
    except InputError:
        raise
    except zipfile.BadZipFile:
        raise InputError(f"{path}: not a valid .npz file (not a zip archive)") from None
    except (NotImplementedError, RuntimeError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None


class _ZipMember(io.RawIOBase):
    """One member of a zip archive as a readable stream that closes the archive with it."""

    def __init__(self, path: str, info: zipfile.ZipInfo) -> None:
        self.archive = zipfile.ZipFile(path)
        self.member = self.archive.open(info)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.member.read(len(buffer))
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise InputError(f"{self.archive.filename}: not a readable .npz file ({exc})") from None
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


# --- tables -------------------------------------------------------------------------------


def _looks_numeric(field: str) -> bool:
    field = field.strip().strip('"')
    if "_" in field or not field.isascii():  # Python reads 1_000 and Arabic digits; pyarrow not
        return False
    if field == "" or field in CSV_NULLS or field.lower() in ("inf", "-inf", "+inf", "nan"):
        return True
    try:
        float(field)
    except ValueError:
        return False
    return True


class _TableSource(Source):
    """Shared by CSV and Parquet: column selection and conversion of record batches."""

    decodes = True

    names: list[str]
    selected: dict[str, list[int]]
    list_widths: dict[str, int]  # list column -> vector length, over every batch

    def _select(self, requests: dict[str, Request]) -> None:
        self.list_widths = {}
        self.roles = list(requests)
        self.selected = {}
        options: dict[str, dict[str, None]] = {}  # column -> the options that selected it
        for role, request in requests.items():
            chosen: list[int] = []
            for pattern in request.columns or ("*",):
                matched = [i for i, c in enumerate(self.names) if fnmatch.fnmatchcase(c, pattern)]
                if not matched:
                    raise InputError(
                        f"{self.label}: no column matches {request.option} {shorten(pattern)!r}; "
                        f"the columns are {name_list(self.names)}"
                    )
                chosen += [i for i in matched if i not in chosen]
            for i in chosen:
                options.setdefault(self.names[i], {})[request.option] = None
            self.selected[role] = chosen
        self.hints = {name: "/".join(chosen_by) for name, chosen_by in options.items()}
        self.width = sum(len(indices) for indices in self.selected.values())

    def _numeric(self, column: Any, name: str, offset: int) -> np.ndarray:
        """A column as float64: ``(N,)``, or ``(N, k)`` for a list column; nulls become NaN."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kind = column.type
        if (
            pa.types.is_list(kind)
            or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)
        ):
            return _list_column(column, name, self.label, offset, self.list_widths)
        if pa.types.is_integer(kind) and kind.bit_width == 64 and len(column):
            low, high = pc.min_max(column).values()
            largest = max(abs(low.as_py() or 0), abs(high.as_py() or 0))
            if largest > EXACT_INTEGERS:
                self.note(_large_integers(f"{self.label}: column {shorten(name)!r}", largest))
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            # safe=False: uint64 and int64 beyond 2**53 become the nearest float64.
            return _as_numpy(column.cast(pa.float64(), safe=False), np.float64)
        if pa.types.is_null(kind):
            return np.full(len(column), np.nan)
        values = column.to_pylist()
        bad = next(
            (i for i, v in enumerate(values) if v is not None and not _looks_numeric(str(v))), 0
        )
        raise _not_numeric(self.label, name, bad + offset, values[bad], self.hints[name])


def _large_integers(what: str, largest: int) -> str:
    return (
        f"{what} holds integers beyond 2**53 (up to {largest}); float64 rounds them, so "
        "neighbouring values may become equal"
    )


def _not_numeric(label: str, name: str, row: int, value: Any, hint: str) -> InputError:
    shown = shorten(value if isinstance(value, bytes) else repr(value))  # bytes: not UTF-8
    return InputError(
        f"{label}: column {shorten(name)!r} is not numeric (row {row} has {shown}); "
        f"select numeric columns with {hint}"
    )


def _as_numpy(values: Any, dtype: type) -> np.ndarray:
    """A pyarrow float64 or int64 array (or chunked array) as numpy, nulls as NaN, read from
    its buffers: pyarrow's ``to_numpy`` imports pandas, 70 MiB for nothing here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts: list[np.ndarray] = []
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        if not len(chunk):
            continue
        if chunk.null_count:
            chunk = pc.fill_null(chunk, np.nan)
        parts.append(np.frombuffer(chunk.buffers()[1], dtype, len(chunk), chunk.offset * 8))
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype)


def _first_unreadable(values: Any) -> int | None:
    """The position of the first of the ``values`` (bytes) that pyarrow cannot read as a
    float64, as its CSV reader does (UTF-8, blanks around); None when every one reads.
    Found by bisecting casts: pyarrow's own rules, in a few dozen casts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def fails(part: Any) -> bool:
        try:
            pc.utf8_trim_whitespace(part.cast(pa.string())).cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return True
        return False

    if not fails(values):
        return None
    low, high = 0, len(values)  # the first failure is in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if fails(values.slice(low, middle - low)):
            high = middle
        else:
            low = middle
    return low


def _list_column(
    column: Any, name: str, label: str, offset: int, widths: dict[str, int]
) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = _as_numpy(pc.list_value_length(column).fill_null(-1).cast(pa.int64()), np.int64)
    expected = widths.setdefault(name, int(lengths[0]) if len(lengths) else 0)
    bad = (lengths != expected) | (lengths < 0)
    if bad.any():
        row = int(np.argmax(bad)) + offset
        raise InputError(
            f"{label}: list column {name!r} holds vectors of different lengths (row {row} has "
            f"{int(lengths[row - offset])}, earlier rows {expected}); every row needs the same "
            "length"
        )
    if expected == 0:
        raise InputError(
            f"{label}: list column {name!r} holds empty vectors; a loss needs at least one "
            "value per sample"
        )
    width = expected
    flat = _as_numpy(pc.list_flatten(column).cast(pa.float64()), np.float64)
    return flat.reshape(len(lengths), width)


def _dataset_files(directory: Path) -> list[str]:
    """The Parquet files of a dataset directory (hive partitions too), in name order; hidden
    and marker files (``.crc``, ``_SUCCESS``, ``.*.tmp``) are skipped as Spark and pyarrow do."""
    files = []
    for path in sorted(directory.rglob("*")):
        parts = path.relative_to(directory).parts
        if any(p.startswith((".", "_")) for p in parts):
            continue
        if path.is_file():
            files.append(str(path))
    if not files:
        raise InputError(f"{directory}: a directory without Parquet files")
    return files


def _name_part(part: str, source: str) -> str:
    return "" if part == source else f"{part}: "


def _schema_text(schema: Any) -> str:
    return name_list([f"{f.name} ({f.type})" for f in schema])


class _ParquetSource(_TableSource):
    """A Parquet file, a directory of them (in name order), or Parquet bytes on standard input.

    Files are read one after another, record batch by record batch, with no read-ahead
    beyond the row group being decoded.
    """

    def __init__(self, source: str, requests: dict[str, Request]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__()
        self.label = describe_source(source)
        if source == STDIN:
            self.parts: list[str] = [_spool(sys.stdin.buffer, ".parquet")]
        elif Path(source).is_dir():
            self.parts = _dataset_files(Path(source))
        else:
            self.parts = [source]
        # Each file's footer is read and closed here; the files are opened one at a time
        # while reading, so a directory of thousands of files needs one descriptor.
        schema = None
        self.counts: list[int] = []
        for part in self.parts:
            try:
                metadata = pq.read_metadata(part)
                part_schema = metadata.schema.to_arrow_schema()
            except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
                raise InputError(
                    f"{self.label}: {_name_part(part, source)}not a readable Parquet file "
                    f"({_arrow_message(exc)})"
                ) from None
            groups = sum(metadata.row_group(g).num_rows for g in range(metadata.num_row_groups))
            if groups != metadata.num_rows:
                raise InputError(
                    f"{self.label}: {_name_part(part, source)}the footer says {metadata.num_rows} "
                    f"rows but its row groups hold {groups}: the file is damaged"
                )
            if schema is None:
                schema = part_schema
            elif not part_schema.equals(schema):
                raise InputError(
                    f"{self.label}: {part} has the columns {_schema_text(part_schema)}, not "
                    f"{_schema_text(schema)} as {self.parts[0]}"
                )
            self.counts.append(int(metadata.num_rows))
        assert schema is not None
        self.n_rows = sum(self.counts)
        if self.n_rows == 0:
            raise InputError(f"{self.label}: no rows")
        self.names = list(schema.names)
        self._select(requests)
        # A fixed-size list column holds that many numbers per row.
        self.width = sum(
            getattr(schema.field(i).type, "list_size", 1)
            for indices in self.selected.values()
            for i in indices
        )

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = sorted({i for indices in self.selected.values() for i in indices})
        names = [self.names[i] for i in columns]
        position = {i: j for j, i in enumerate(columns)}
        remap = {role: [position[i] for i in idx] for role, idx in self.selected.items()}
        offset = 0
        try:
            for part, count in zip(self.parts, self.counts, strict=True):
                if count == 0:
                    continue
                file = pq.ParquetFile(part, pre_buffer=False)
                before = offset
                for batch in file.iter_batches(batch_size=rows, columns=names):
                    if batch.num_rows == 0:
                        continue
                    out = {}
                    for role, indices in remap.items():
                        parts = [
                            self._numeric(batch.column(j), names[j], offset).reshape(
                                batch.num_rows, -1
                            )
                            for j in indices
                        ]
                        out[role] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
                    offset += batch.num_rows
                    yield out
                file.close()
                if offset - before != count:
                    raise InputError(
                        f"{self.label}: {_name_part(part, self.label)}the footer says {count} "
                        f"rows but {offset - before} were read: the file is damaged"
                    )
        except (pa.ArrowInvalid, pa.ArrowException) as exc:
            raise InputError(
                f"{self.label}: not a readable Parquet file ({_arrow_message(exc)})"
            ) from None


def _long_line(label: str, line: int) -> str:
    return (
        f"{label}: line {line + 1} is longer than {MAX_LINE_BYTES >> 20} MiB without a line "
        "break; is it really CSV?"
    )


def csv_delimiter(value: str | None, say: Callable[[str], str] = cli_flag) -> str | None:
    """The delimiter a user set: one character (``tab`` or ``\\t`` for a tab), or None to
    sniff it."""
    if value is None:
        return None
    delimiter = {"tab": "\t", "\\t": "\t"}.get(value.lower(), value)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise InputError(
            f"{say('delimiter')} {shorten(value)!r}: give one character other than a quote or "
            "a line break (tab for a tab)"
        )
    return delimiter


def _sniff_delimiter(lines: list[str]) -> str:
    """Of ``DELIMITERS``, the one that splits the first line into the most fields and every
    other sampled line into as many; a comma when none splits it (one column)."""
    import csv

    best, most = ",", 1
    for delimiter in DELIMITERS:
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
            first = len(next(csv.reader(lines[:1], delimiter=delimiter)))
        except csv.Error:
            continue
        if first > most and widths == {first}:
            best, most = delimiter, first
    return best


def _parse_csv(block: Any, options: tuple[Any, Any, Any]) -> Any:
    """A block of whole CSV lines as a pyarrow table."""
    import pyarrow as pa
    from pyarrow import csv

    read_options, parse_options, convert = options
    try:
        return csv.read_csv(pa.BufferReader(block), read_options, parse_options, convert)
    except pa.ArrowInvalid as exc:
        if "straddling" not in str(exc):
            raise
    # A field longer than pyarrow's parse pieces (1 MiB): the block in one piece.
    whole = csv.ReadOptions(column_names=read_options.column_names, block_size=block.size + 1)
    return csv.read_csv(pa.BufferReader(block), whole, parse_options, convert)


def _fill(stream: Any, buffer: bytearray, start: int) -> int:
    """Read into ``buffer`` from ``start`` until it is full or the stream ends; its new end."""
    end = start
    with memoryview(buffer) as view:
        while end < len(buffer):
            got = stream.readinto(view[end:])
            if not got:
                break
            end += got
    return end


def _check_quotes(block: Any, lines_before: int, label: str, header: bool) -> None:
    """Every quoted field closes on its line: a quote that never closes would swallow every
    row after it into one field (and a gate would pass on what is left)."""
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    quotes = np.cumsum(data == ord('"'))
    per_line = np.diff(np.concatenate([[0], quotes[ends]]))
    odd = np.flatnonzero(per_line % 2)
    if len(odd):
        line = lines_before + int(odd[0]) + 1  # 1-based line of the file
        row = line - 1 - int(header)
        raise InputError(
            f"{label}: row {row} (line {line}) opens a quote that does not close on that line; "
            "a quoted field spanning lines or a stray quote would swallow rows"
        )


def _read_some(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes in one read where the stream allows it: a terminal's Ctrl-D is one
    empty read, and a second full-size read would wait for another."""
    return bytes(stream.read1(size) if hasattr(stream, "read1") else stream.read(size))


def _spool(stream: Any, suffix: str = "") -> str:
    """A stream readable once (standard input, a pipe, a FIFO) copied to a temporary file as
    it comes, in bounded memory; the file is removed when losscli exits."""
    import atexit
    import os
    import tempfile

    fd, name = tempfile.mkstemp(prefix="losscli-input-", suffix=suffix)

    def remove() -> None:
        if os.path.exists(name):
            os.unlink(name)

    atexit.register(remove)
    with os.fdopen(fd, "wb") as out:
        while piece := _read_some(stream, 1 << 20):
            out.write(piece)
    stream.close()
    return name


class _Replay:
    """A stream readable once, with the bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self.head = memoryview(head)
        self.stream = stream

    def read1(self, size: int) -> bytes:
        if self.head:
            piece, self.head = self.head[:size], self.head[size:]
            return bytes(piece)
        return _read_some(self.stream, size)

    def readinto(self, view: Any) -> int:
        piece = self.read1(len(view))
        view[: len(piece)] = piece
        return len(piece)

    def close(self) -> None:
        self.stream.close()


class _CsvSource(_TableSource):
    """CSV or TSV, plain or compressed, parsed block by block; only selected columns, as float64."""

    def __init__(
        self,
        source: str,
        fmt: Format,
        compression: str | None,
        header: bool | None,
        requests: dict[str, Request],
        say: Callable[[str], str] = cli_flag,
        delimiter: str | None = None,
    ) -> None:
        super().__init__()
        self.label = describe_source(source)
        self.say = say
        self.source = source
        self.compression = compression
        self.path: str | None = source
        self._replay: _Replay | None = None
        if source == STDIN or not Path(source).is_file():
            # Standard input, a pipe or a FIFO: read once, as it comes; the first lines, read
            # to sniff the format, are replayed in front of the rest.
            self.path = None
            self._replay = _Replay(b"", self._open_pipe(source))
        self.carriage_returns = False  # old Mac files end lines with \r alone
        lines = self._first_lines()
        if delimiter is None:
            delimiter = "\t" if fmt is Format.TSV else _sniff_delimiter(lines)
        self.delimiter = delimiter
        import csv

        try:
            fields = next(csv.reader(lines[:1], delimiter=delimiter), [])
        except csv.Error as exc:  # e.g. a NUL byte (Python 3.10)
            raise InputError(f"{self.label}: the first line is not CSV ({exc})") from None
        if header is None:
            header = not all(_looks_numeric(f) for f in fields)
        self.header = header
        self.names = (
            [f.strip() for f in fields] if header else [f"column_{i}" for i in range(len(fields))]
        )
        self._select(requests)
        self.n_rows = None

    def _open_pipe(self, source: str) -> Any:
        import pyarrow as pa

        raw: Any = sys.stdin.buffer if source == STDIN else open(source, "rb")  # noqa: SIM115
        if self.compression:
            return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), self.compression)
        return raw

    def spool(self) -> None:
        """A second pass over a pipe: what is left of it goes to a temporary file first."""
        if self._replay is not None:
            self.path, self._replay = _spool(self._replay), None
            self.compression = None  # the spooled bytes are decompressed

    def _stream(self) -> Any:
        import pyarrow as pa

        if self._replay is not None:
            stream, self._replay = self._replay, None
            return stream
        if self.path is None:
            raise RuntimeError(f"{self.label} was read once already and not spooled")
        raw = pa.OSFile(self.path)
        return pa.CompressedInputStream(raw, self.compression) if self.compression else raw

    def _first_lines(self) -> list[str]:
        """The first line and the whole lines after it in the first MiB (to sniff the
        delimiter); errors when the start is not text."""
        stream = self._stream()
        head = b""
        ended = False
        while b"\n" not in head and len(head) <= MAX_LINE_BYTES:
            piece = _read_some(stream, 1 << 20)
            if not piece:
                ended = True
                break
            head += piece
        if self.path is None:
            self._replay = _Replay(head, stream)  # read once: put back what was read
        else:
            stream.close()
        if not head.strip():
            if self.source == STDIN:
                raise InputError(
                    "standard input is empty; pipe a CSV file into losscli or give a path"
                )
            raise InputError(f"{self.label}: the file is empty")
        if b"\n" not in head and b"\r" in head:
            self.carriage_returns = True
            head = head.replace(b"\r", b"\n")
        end = head.find(b"\n")
        if end < 0 and len(head) > MAX_LINE_BYTES:
            raise InputError(_long_line(self.label, 0))
        if not ended:
            head = head[: head.rfind(b"\n") + 1]  # whole lines only
        first, _, rest = head.partition(b"\n")
        try:
            text = first.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{self.label}: not UTF-8 text (byte {exc.start}); "
                f"is it really CSV? ({self.say('input_format')} says what it is)"
            ) from None
        if not text.strip():
            raise InputError(f"{self.label}: the first line is empty; is it really CSV?")
        # Only the first line must be text: other columns may hold any bytes.
        lines = rest.decode("utf-8", errors="replace").splitlines()[: SNIFF_LINES - 1]
        return [text.rstrip("\r"), *(line for line in lines if line.strip())]

    def _fail(self, exc: Exception, block: bytes, options: tuple[Any, ...], offset: int) -> None:
        """Turn a parse or conversion error in ``block`` into an InputError naming the value
        and its row when it can."""
        import pyarrow as pa
        from pyarrow import csv

        message = _arrow_message(exc)
        if "conversion error" in message:
            read_options, parse_options, convert = options
            as_text = csv.ConvertOptions(
                null_values=CSV_NULLS,
                strings_can_be_null=True,
                include_columns=convert.include_columns,
                column_types={name: pa.binary() for name in convert.include_columns},
            )
            table = csv.read_csv(
                pa.BufferReader(block),
                read_options=read_options,
                parse_options=parse_options,
                convert_options=as_text,
            )
            for name in convert.include_columns:
                values = table.column(name).combine_chunks()
                row = _first_unreadable(values)
                if row is not None:
                    column = self.names[int(name[1:])]
                    value = values[row].as_py()
                    with contextlib.suppress(UnicodeDecodeError):
                        value = value.decode("utf-8")
                    raise _not_numeric(self.label, column, offset + row, value, self.hints[column])
        raise InputError(f"{self.label}: {message}") from None

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        """Blocks of whole lines, each parsed by pyarrow's multi-threaded reader.

        One buffer of CSV_BLOCK_BYTES is read into again and again (a line longer than that
        grows it, up to MAX_LINE_BYTES); blocks are parsed in place, never copied. (A quoted
        field holding a line break would be cut; numeric CSV has none.)
        """
        import pyarrow as pa
        from pyarrow import csv

        wanted = sorted({i for indices in self.selected.values() for i in indices})
        position = {i: j for j, i in enumerate(wanted)}
        options = (
            csv.ReadOptions(column_names=[f"c{i}" for i in range(len(self.names))]),
            csv.ParseOptions(delimiter=self.delimiter),
            csv.ConvertOptions(
                null_values=CSV_NULLS,
                strings_can_be_null=True,
                include_columns=[f"c{i}" for i in wanted],
                column_types={f"c{i}": pa.float64() for i in wanted},
            ),
        )
        stream = self._stream()
        offset = 0  # data rows before the block
        lines = 0  # lines of the file before the block, the header included
        buffer = bytearray(CSV_BLOCK_BYTES)
        kept = 0  # bytes of a line begun in the previous block, at the buffer's start
        skip_header = self.header
        first = True
        try:
            while True:
                if kept + CSV_BLOCK_BYTES > len(buffer):  # a line longer than a block
                    bigger = bytearray(kept + CSV_BLOCK_BYTES)
                    bigger[:kept] = buffer[:kept]
                    buffer = bigger
                end = _fill(stream, buffer, kept)
                ended = end < len(buffer)
                if kept:  # the line carried over: it ends at the first line break, or the end
                    newline = buffer.find(b"\n", kept, end)
                    if (newline if newline >= 0 else end) > MAX_LINE_BYTES:
                        raise InputError(_long_line(self.label, lines))
                if self.carriage_returns:
                    buffer[kept:end] = buffer[kept:end].replace(b"\r", b"\n")
                start = 3 if first and buffer.startswith(b"\xef\xbb\xbf") else 0
                first = False
                if skip_header:
                    newline = buffer.find(b"\n", start, end)
                    if newline < 0 and not ended:
                        kept = end  # the header goes on in the next read
                        continue
                    start = newline + 1 if newline >= 0 else end
                    skip_header = False
                    lines = 1
                cut = end if ended else max(buffer.rfind(b"\n", start, end) + 1, start)
                if buffer.find(b'"', start, cut) >= 0:
                    _check_quotes(memoryview(buffer)[start:cut], lines, self.label, self.header)
                lines += buffer.count(b"\n", start, cut)
                # Only blanks and control characters: no row (pyarrow would make one of nulls).
                if cut > start and np.frombuffer(buffer, np.uint8, cut - start, start).max() > 32:
                    block = pa.py_buffer(memoryview(buffer)[start:cut])
                    try:
                        table = _parse_csv(block, options)
                    except pa.ArrowInvalid as exc:
                        self._fail(exc, block.to_pybytes(), options, offset)
                    del block  # the buffer is read into again below
                    if table.num_rows:
                        yield self._as_roles(table, position, offset)
                        offset += table.num_rows
                if ended:
                    break
                kept = end - cut
                buffer[:kept] = buffer[cut:end]
        finally:
            stream.close()
        if offset == 0:
            raise InputError(
                f"{self.label}: no data rows" + (" (only a header)" if self.header else "")
            )

    def _as_roles(self, table: Any, position: dict[int, int], offset: int) -> dict[str, np.ndarray]:
        out = {}
        for role, indices in self.selected.items():
            parts = [
                self._numeric(table.column(position[i]), self.names[i], offset) for i in indices
            ]
            out[role] = parts[0] if len(parts) == 1 else np.column_stack(parts)
        return out
