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

import fnmatch
import io
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from losscli.errors import InputError

STDIN = "-"
CSV_NULLS = ["", "NA", "N/A", "nan", "NaN", "NAN", "null", "NULL"]
CSV_BLOCK_BYTES = 16 << 20


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


def _cli_flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def detect_format(
    source: str, input_format: str | None = None, say: Callable[[str], str] = _cli_flag
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
        return Format.CSV, None
    if Path(path).is_dir():
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
    say: Callable[[str], str] = _cli_flag,
) -> Source:
    """Open ``source`` for the roles in ``requests``; errors name the file and what is wrong
    and the setting that fixes it, as ``say`` spells it (``--pred-col``, ``pred_col``)."""
    fmt, compression = detect_format(source, input_format, say)
    path, key = split_npz_key(source)
    label = describe_source(source)
    if source != STDIN:
        _check_readable(path, allow_dir=fmt is Format.PARQUET)
    try:
        if fmt in (Format.CSV, Format.TSV):
            return _CsvSource(source, fmt, compression, header, requests, say)
        if fmt is Format.PARQUET:
            return _ParquetSource(source, requests)
        if fmt is Format.NPY:
            if source == STDIN:
                data = _read_stdin()
                return _ArraySource(label, _load_npy_bytes(data, label), requests)
            return _NpySource(source, requests)
        return _ArraySource(label, _read_npz(path, key, source), requests)
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{label}: cannot read as {fmt.value}: {exc}") from exc


def _check_readable(path: str, allow_dir: bool) -> None:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.is_dir():
        if not allow_dir:
            raise InputError(f"{path}: is a directory, not a file")
        if not any(p.glob("**/*.parq*")):
            raise InputError(f"{path}: a directory without Parquet files (*.parquet)")
    elif p.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")


def _read_stdin() -> bytes:
    data = sys.stdin.buffer.read()
    if not data.strip():
        raise InputError("standard input is empty; pipe a CSV file into losscli or give a path")
    return data


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
    source.width = int(np.prod(shape[1:], dtype=np.int64)) * len(requests)


class _ArraySource(Source):
    """An array held in memory (an ``.npz`` member, standard input): blocks are slices."""

    def __init__(self, label: str, array: np.ndarray, requests: dict[str, Request]) -> None:
        _array_file(self, label, array.shape, requests)
        self.array = array

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, self.array.shape[0], rows):
            block = self.array[start : start + rows]
            yield {role: block for role in self.roles}


def _npy_header(
    fp: IO[bytes], available: int, label: str
) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of a ``.npy`` stream, checked against its size."""
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
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if fp.tell() + needed > available:
        raise InputError(
            f"{label}: the header claims an array of shape {shape} ({needed} bytes) but the "
            f"file holds {max(available - fp.tell(), 0)} bytes of data: is it truncated?"
        )
    return tuple(shape), bool(fortran), dtype


def _load_npy_bytes(data: bytes, label: str) -> np.ndarray:
    _npy_header(io.BytesIO(data), len(data), label)
    return np.load(io.BytesIO(data), allow_pickle=False)


class _NpySource(Source):
    """A ``.npy`` file read block by block into fresh buffers (``readinto``, no mmap faults)."""

    def __init__(self, path: str, requests: dict[str, Request]) -> None:
        with open(path, "rb") as fp:
            self.shape, fortran, self.dtype = _npy_header(fp, Path(path).stat().st_size, path)
            self.offset = fp.tell()
        _array_file(self, path, self.shape, requests)
        self.path = path
        # Rows of a Fortran-ordered array are not contiguous: read it through a memory map.
        self.fortran = fortran and len(self.shape) > 1

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        if self.fortran:
            mapped = np.load(self.path, mmap_mode="r", allow_pickle=False)
            yield from _ArraySource(self.label, mapped, {r: Request() for r in self.roles}).blocks(
                rows
            )
            return
        row_shape, n_rows = self.shape[1:], self.shape[0]
        with open(self.path, "rb", buffering=0) as fp:
            fp.seek(self.offset)
            for start in range(0, n_rows, rows):
                block = np.empty((min(rows, n_rows - start), *row_shape), dtype=self.dtype)
                view = memoryview(block).cast("B")  # type: ignore[arg-type]
                got = 0
                while got < block.nbytes:
                    n = fp.readinto(view[got:])
                    if not n:
                        raise InputError(f"{self.path}: the file ended early: is it truncated?")
                    got += n
                yield {role: block for role in self.roles}


def _read_npz(path: str, key: str | None, source: str) -> np.ndarray:
    try:
        return _read_npz_member(path, key, source)
    except InputError:
        raise
    except zipfile.BadZipFile:
        raise InputError(f"{path}: not a valid .npz file (not a zip archive)") from None
    except (NotImplementedError, RuntimeError, EOFError, OSError, ValueError, zlib.error) as exc:
        # zipfile's ways of saying the archive is damaged or unsupported
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None


def _read_npz_member(path: str, key: str | None, source: str) -> np.ndarray:
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
                    f"{path} holds {len(members)} arrays ({', '.join(members)}); "
                    f"name one as {path}:KEY"
                )
            key = next(iter(members))
        if key not in members:
            raise InputError(f"{path} has no array {key!r}; it holds {', '.join(members)}")
        info = members[key]
        with archive.open(info) as fp:
            shape, fortran, dtype = _npy_header(fp, info.file_size, source)
            count = int(np.prod(shape, dtype=np.int64))
            # Read what the member really holds: memory follows the data, not the claims of the
            # zip and .npy headers (numpy's read_array would allocate the claimed size first).
            data = fp.read(count * dtype.itemsize)
        if len(data) < count * dtype.itemsize:
            raise InputError(
                f"{source}: the array {key!r} claims {count * dtype.itemsize} bytes but holds "
                f"{len(data)}: is the file truncated?"
            )
        array = np.frombuffer(data, dtype=dtype, count=count)
        return array.reshape(shape, order="F" if fortran else "C")


# --- tables -------------------------------------------------------------------------------


def _looks_numeric(field: str) -> bool:
    field = field.strip().strip('"')
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

    def _select(self, requests: dict[str, Request]) -> None:
        self.roles = list(requests)
        self.hint = "/".join(dict.fromkeys(r.option for r in requests.values()))
        self.selected = {}
        for role, request in requests.items():
            chosen: list[int] = []
            for pattern in request.columns or ("*",):
                matched = [i for i, c in enumerate(self.names) if fnmatch.fnmatchcase(c, pattern)]
                if not matched:
                    raise InputError(
                        f"{self.label}: no column matches {request.option} {pattern!r}; "
                        f"the columns are {', '.join(self.names) or '(none)'}"
                    )
                chosen += [i for i in matched if i not in chosen]
            self.selected[role] = chosen
        self.width = sum(len(indices) for indices in self.selected.values())


def _numeric_column(
    column: Any, name: str, label: str, offset: int = 0, hint: str = "--true-col/--pred-col"
) -> np.ndarray:
    """A column as float64: ``(N,)``, or ``(N, k)`` for a list column; nulls become NaN."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _list_column(column, name, label, offset)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return np.asarray(
            column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
    if pa.types.is_null(kind):
        return np.full(len(column), np.nan)
    values = column.to_pylist()
    bad = next((i for i, v in enumerate(values) if v is not None and not _looks_numeric(str(v))), 0)
    raise InputError(
        f"{label}: column {name!r} is not numeric (row {bad + offset} has {values[bad]!r}); "
        f"select numeric columns with {hint}"
    )


def _list_column(column: Any, name: str, label: str, offset: int) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = pc.list_value_length(column).fill_null(-1).to_numpy(zero_copy_only=False)
    bad = (lengths != lengths[0]) | (lengths < 0)
    if bad.any():
        raise InputError(
            f"{label}: list column {name!r} holds vectors of different lengths "
            f"(row {int(np.argmax(bad)) + offset}); every row needs the same length"
        )
    width = int(lengths[0]) if len(lengths) else 0
    flat = pc.list_flatten(column).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float64).reshape(len(lengths), width)


class _ParquetSource(_TableSource):
    """A Parquet file, a directory of them (in name order), or Parquet bytes on standard input.

    Files are read one after another, record batch by record batch, with no read-ahead
    beyond the row group being decoded.
    """

    def __init__(self, source: str, requests: dict[str, Request]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.label = describe_source(source)
        if source == STDIN:
            self.parts: list[Any] = [pa.BufferReader(_read_stdin())]
        elif Path(source).is_dir():
            self.parts = sorted(
                str(p) for p in Path(source).rglob("*") if p.is_file() and ".parq" in p.name
            )
        else:
            self.parts = [source]
        try:
            # No pre-buffering: it reads whole row groups ahead, which costs memory and time.
            files = [pq.ParquetFile(part, pre_buffer=False) for part in self.parts]
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{self.label}: not a readable Parquet file ({_arrow_message(exc)})"
            ) from None
        schema = files[0].schema_arrow
        for part, file in zip(self.parts, files, strict=True):
            if file.schema_arrow.names != schema.names:
                raise InputError(
                    f"{self.label}: {part} has columns {', '.join(file.schema_arrow.names)}, "
                    f"not {', '.join(schema.names)} as the first file"
                )
        self.files = files
        self.n_rows = sum(int(f.metadata.num_rows) for f in files)
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

        columns = sorted({i for indices in self.selected.values() for i in indices})
        names = [self.names[i] for i in columns]
        position = {i: j for j, i in enumerate(columns)}
        remap = {role: [position[i] for i in idx] for role, idx in self.selected.items()}
        offset = 0
        try:
            for file in self.files:
                for batch in file.iter_batches(batch_size=rows, columns=names):
                    if batch.num_rows == 0:
                        continue
                    out = {}
                    for role, indices in remap.items():
                        parts = [
                            _numeric_column(
                                batch.column(j), names[j], self.label, offset, self.hint
                            ).reshape(batch.num_rows, -1)
                            for j in indices
                        ]
                        out[role] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
                    offset += batch.num_rows
                    yield out
        except (pa.ArrowInvalid, pa.ArrowException) as exc:
            raise InputError(
                f"{self.label}: not a readable Parquet file ({_arrow_message(exc)})"
            ) from None


class _CsvSource(_TableSource):
    """CSV or TSV, plain or compressed, parsed block by block; only selected columns, as float64."""

    def __init__(
        self,
        source: str,
        fmt: Format,
        compression: str | None,
        header: bool | None,
        requests: dict[str, Request],
        say: Callable[[str], str] = _cli_flag,
    ) -> None:
        self.label = describe_source(source)
        self.say = say
        self.source = source
        self.compression = compression
        self.delimiter = "\t" if fmt is Format.TSV else ","
        self.data = _read_stdin() if source == STDIN else None
        first = self._first_line()
        import csv

        try:
            fields = next(csv.reader([first], delimiter=self.delimiter), [])
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

    def _stream(self) -> Any:
        import pyarrow as pa

        raw = pa.BufferReader(self.data) if self.data is not None else pa.OSFile(self.source)
        return pa.CompressedInputStream(raw, self.compression) if self.compression else raw

    def _first_line(self) -> str:
        stream = self._stream()
        head = stream.read(65536)
        stream.close()
        if not head.strip():
            raise InputError(f"{self.label}: the file is empty")
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            cut_at_end = len(head) == 65536 and exc.start >= len(head) - 4
            if not cut_at_end:  # not just a character cut at the sample's end
                raise InputError(
                    f"{self.label}: not UTF-8 text (byte {exc.start}); "
                    f"is it really CSV? ({self.say('input_format')} says what it is)"
                ) from None
            text = head[: exc.start].decode("utf-8")
        lines = text.lstrip("\ufeff").splitlines()
        if not lines or not lines[0].strip():
            raise InputError(f"{self.label}: the first line is empty; is it really CSV?")
        return lines[0]

    def _reader(self, types: Any) -> Any:
        import pyarrow as pa
        from pyarrow import csv

        # Columns are read under their positions (c0, c1, ...): header names may repeat.
        wanted = sorted({i for indices in self.selected.values() for i in indices})
        names = [f"c{i}" for i in wanted]
        read_options = csv.ReadOptions(
            column_names=[f"c{i}" for i in range(len(self.names))],
            skip_rows=1 if self.header else 0,
            block_size=CSV_BLOCK_BYTES,
        )
        convert = csv.ConvertOptions(
            null_values=CSV_NULLS,
            strings_can_be_null=True,
            include_columns=names,
            column_types={n: types for n in names},
        )
        try:
            reader = csv.open_csv(
                self._stream(),
                read_options=read_options,
                parse_options=csv.ParseOptions(delimiter=self.delimiter),
                convert_options=convert,
            )
        except pa.ArrowInvalid as exc:
            self._fail(exc)
        return reader, wanted

    def _fail(self, exc: Exception) -> None:
        """Turn a parse or conversion error into an InputError that names the row if it can."""
        message = _arrow_message(exc)
        if "conversion error" in message:
            self._find_bad_value()  # raises with the column and row when it finds them
        raise InputError(f"{self.label}: {message}") from None

    def _find_bad_value(self) -> None:
        import pyarrow as pa

        reader, wanted = self._reader(pa.string())
        offset = 0
        for batch in reader:
            for j, i in enumerate(wanted):
                values = batch.column(j).to_pylist()
                if not all(v is None or _looks_numeric(v) for v in values):
                    _numeric_column(batch.column(j), self.names[i], self.label, offset, self.hint)
            offset += batch.num_rows

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        """Blocks of whole lines, each parsed by pyarrow's multi-threaded reader.

        (A quoted field holding a line break would be cut; numeric CSV has none.)
        """
        import pyarrow as pa
        from pyarrow import csv

        wanted = sorted({i for indices in self.selected.values() for i in indices})
        position = {i: j for j, i in enumerate(wanted)}
        read_options = csv.ReadOptions(column_names=[f"c{i}" for i in range(len(self.names))])
        parse_options = csv.ParseOptions(delimiter=self.delimiter)
        convert = csv.ConvertOptions(
            null_values=CSV_NULLS,
            strings_can_be_null=True,
            include_columns=[f"c{i}" for i in wanted],
            column_types={f"c{i}": pa.float64() for i in wanted},
        )
        stream = self._stream()
        offset = 0
        rest = b""
        skip_header = self.header
        try:
            while True:
                data = stream.read(CSV_BLOCK_BYTES)
                if rest == b"" and offset == 0 and data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
                block = rest + data
                if skip_header:
                    newline = block.find(b"\n")
                    if newline < 0 and data:
                        rest = block
                        continue
                    block = block[newline + 1 :] if newline >= 0 else b""
                    skip_header = False
                cut = block.rfind(b"\n") + 1 if data else len(block)
                block, rest = block[:cut], block[cut:]
                if block.strip():
                    try:
                        table = csv.read_csv(
                            pa.BufferReader(block),
                            read_options=read_options,
                            parse_options=parse_options,
                            convert_options=convert,
                        )
                    except pa.ArrowInvalid as exc:
                        self._fail(exc)
                    if table.num_rows:
                        yield self._as_roles(table, position, offset)
                        offset += table.num_rows
                if not data:
                    break
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
                _numeric_column(
                    table.column(position[i]), self.names[i], self.label, offset, self.hint
                )
                for i in indices
            ]
            out[role] = parts[0] if len(parts) == 1 else np.column_stack(parts)
        return out
