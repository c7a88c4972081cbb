"""Reading prediction, label and weight files: one function per format behind ``read_input``.

A table (CSV, TSV, Parquet) is read into named numeric columns; an array file
(``.npy``, ``.npz``) into one array whose first axis is the samples. pyarrow is
imported only by the readers that need it. NumPy files are loaded with pickles
refused, and their headers are checked against the file size before anything
is allocated.
"""

from __future__ import annotations

import fnmatch
import io
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

import numpy as np

from losscli.errors import InputError

STDIN = "-"


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


@dataclass
class Table:
    """The columns of one table file; a column becomes numbers when it is selected."""

    source: str
    data: Any  # a pyarrow.Table

    @property
    def names(self) -> list[str]:
        return list(self.data.column_names)

    def select(self, patterns: Iterable[str], option: str) -> tuple[np.ndarray, list[str]]:
        """The columns matching ``patterns`` (names or globs), side by side as ``(N, k)``."""
        chosen: list[int] = []
        for pattern in patterns:
            matched = [i for i, c in enumerate(self.names) if fnmatch.fnmatchcase(c, pattern)]
            if not matched:
                raise InputError(
                    f"{self.source}: no column matches {option} {pattern!r}; "
                    f"the columns are {', '.join(self.names) or '(none)'}"
                )
            chosen += [i for i in matched if i not in chosen]
        return self._stack(chosen), [self.names[i] for i in chosen]

    def all_columns(self) -> np.ndarray:
        return self._stack(list(range(len(self.names))))

    def _stack(self, indices: list[int]) -> np.ndarray:
        n = self.data.num_rows
        parts = [
            _numeric_column(self.data.column(i), self.names[i], self.source).reshape(n, -1)
            for i in indices
        ]
        if not parts:
            raise InputError(f"{self.source}: no columns to read")
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def describe_source(source: str) -> str:
    return "standard input" if source == STDIN else source


def detect_format(source: str, input_format: str | None = None) -> tuple[Format, str | None]:
    """The format and compression of a source: by ``input_format`` or by suffix."""
    path, _, _ = _split_key(source)
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
        ".parquet (or a directory of Parquet files), or say --input-format"
    )


def _split_key(source: str) -> tuple[str, str | None, bool]:
    """``file.npz:key`` -> (``file.npz``, ``key``, True)."""
    head, sep, key = source.rpartition(":")
    if sep and head.lower().endswith(".npz") and "/" not in key:
        return head, key, True
    return source, None, False


def read_input(
    source: str, *, input_format: str | None = None, header: bool | None = None
) -> Table | np.ndarray:
    """Read a file (or ``-`` for standard input) as a :class:`Table` or an array."""
    fmt, compression = detect_format(source, input_format)
    path, key, _ = _split_key(source)
    if source != STDIN:
        _check_readable(path, allow_dir=fmt is Format.PARQUET)
        if Path(path).is_dir() and not any(Path(path).glob("**/*.parq*")):
            raise InputError(f"{path}: a directory without Parquet files (*.parquet)")
    try:
        if fmt in (Format.CSV, Format.TSV):
            return _read_csv(source, fmt, compression, header)
        if fmt is Format.PARQUET:
            return _read_parquet(source)
        if fmt is Format.NPY:
            return _read_npy(source)
        return _read_npz(path, key, source)
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{describe_source(source)}: cannot read as {fmt.value}: {exc}") from exc


def _check_readable(path: str, allow_dir: bool) -> None:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.is_dir() and not allow_dir:
        raise InputError(f"{path}: is a directory, not a file")
    if p.is_file() and p.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")


def _open_bytes(source: str) -> IO[bytes]:
    if source == STDIN:
        data = sys.stdin.buffer.read()
        if not data.strip():
            raise InputError("standard input is empty; pipe a CSV file into losscli or give a path")
        return io.BytesIO(data)
    return open(source, "rb")


# --- CSV -------------------------------------------------------------------------------


def _looks_numeric(field: str) -> bool:
    field = field.strip().strip('"')
    if field == "" or field.lower() in ("nan", "na", "null", "inf", "-inf", "+inf"):
        return True
    try:
        float(field)
    except ValueError:
        return False
    return True


def _read_csv(source: str, fmt: Format, compression: str | None, header: bool | None) -> Table:
    import pyarrow as pa
    from pyarrow import csv

    delimiter = "\t" if fmt is Format.TSV else ","
    raw = _open_bytes(source)
    with raw:
        stream = pa.CompressedInputStream(raw, compression) if compression else raw
        data = stream.read()
    if not data.strip():
        raise InputError(f"{describe_source(source)}: the file is empty")
    try:
        text_head = data[:65536].decode("utf-8")
    except UnicodeDecodeError:
        try:
            data[:65536].decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            if exc.start < 65530:  # not just a character cut at the sample's end
                raise InputError(
                    f"{describe_source(source)}: not UTF-8 text (byte {exc.start}); "
                    "is it really CSV? (--input-format says what it is)"
                ) from None
        text_head = data[:65530].decode("utf-8", errors="ignore")
    first_line = text_head.lstrip("\ufeff").splitlines()[0] if text_head.strip() else ""
    if header is None:
        header = not all(_looks_numeric(f) for f in first_line.split(delimiter))
    n_fields = len(first_line.split(delimiter))
    read_options = csv.ReadOptions(
        column_names=None if header else [f"column_{i}" for i in range(n_fields)]
    )
    parse_options = csv.ParseOptions(delimiter=delimiter)
    convert_options = csv.ConvertOptions(
        null_values=["", "NA", "N/A", "nan", "NaN", "NAN", "null", "NULL"],
        strings_can_be_null=True,
    )
    try:
        table = csv.read_csv(
            pa.BufferReader(data),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"{describe_source(source)}: {_arrow_message(exc)}") from None
    if table.num_rows == 0:
        raise InputError(
            f"{describe_source(source)}: no data rows" + (" (only a header)" if header else "")
        )
    return Table(describe_source(source), table)


def _arrow_message(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# --- Parquet ------------------------------------------------------------------------------


def _read_parquet(source: str) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if source == STDIN:
        data = _open_bytes(source).read()
        reader: Any = pa.BufferReader(data)
    else:
        reader = source
    try:
        table = pq.read_table(reader)
    except (pa.ArrowInvalid, pa.ArrowException) as exc:
        raise InputError(
            f"{describe_source(source)}: not a readable Parquet file ({_arrow_message(exc)})"
        ) from None
    if table.num_rows == 0:
        raise InputError(f"{describe_source(source)}: no rows")
    return Table(describe_source(source), table)


def _numeric_column(column: Any, name: str, source: str) -> np.ndarray:
    """A column as float64: ``(N,)``, or ``(N, k)`` for a list column; nulls become NaN."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _list_column(column, name, source)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return np.asarray(column.cast(pa.float64()).to_numpy(), dtype=np.float64)
    if pa.types.is_null(kind):
        return np.full(len(column), np.nan)
    values = column.to_pylist()
    bad = next((i for i, v in enumerate(values) if v is not None and not _looks_numeric(str(v))), 0)
    raise InputError(
        f"{source}: column {name!r} is not numeric (row {bad} has {values[bad]!r}); "
        "select numeric columns with --true-col/--pred-col"
    )


def _list_column(column: Any, name: str, source: str) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks()
    lengths = pc.list_value_length(column).fill_null(-1).to_numpy(zero_copy_only=False)
    bad = (lengths != lengths[0]) | (lengths < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(
            f"{source}: list column {name!r} holds vectors of different lengths "
            f"(row {row}); every row needs the same length"
        )
    width = int(lengths[0]) if len(lengths) else 0
    flat = pc.list_flatten(column).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float64).reshape(len(lengths), width)


# --- NumPy ----------------------------------------------------------------------------------


def _check_npy_header(fp: IO[bytes], available: int, source: str) -> None:
    """Refuse object arrays and headers that claim more data than the file holds."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(fp)
        else:
            shape, _, dtype = npformat.read_array_header_2_0(fp)
    except ValueError as exc:
        raise InputError(f"{source}: not a valid .npy file ({exc})") from None
    if dtype.hasobject:
        raise InputError(
            f"{source}: holds Python objects, which would need unpickling; losscli refuses "
            "to unpickle data files: save a numeric array"
        )
    if dtype.kind not in "biuf":
        raise InputError(f"{source}: holds {dtype} values; losscli needs numbers")
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if fp.tell() + needed > available:
        raise InputError(
            f"{source}: the header claims an array of shape {shape} ({needed} bytes) but the "
            f"file holds {max(available - fp.tell(), 0)} bytes of data: is it truncated?"
        )


def _read_npy(source: str) -> np.ndarray:
    if source == STDIN:
        data = _open_bytes(source).read()
        buffer = io.BytesIO(data)
        _check_npy_header(buffer, len(data), "standard input")
        return np.load(io.BytesIO(data), allow_pickle=False)
    with open(source, "rb") as fp:
        _check_npy_header(fp, Path(source).stat().st_size, source)
    return np.load(source, allow_pickle=False, mmap_mode="r")


def _read_npz(path: str, key: str | None, source: str) -> np.ndarray:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputError(f"{path}: not a valid .npz file (not a zip archive)") from None
    with archive:
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
            _check_npy_header(fp, info.file_size, source)
        with archive.open(info) as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)


def parse_number(text: str) -> float | None:
    """``text`` as a number, or None when it is not one."""
    try:
        return float(text)
    except ValueError:
        return None
