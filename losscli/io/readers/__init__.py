"""Reading label, prediction and weight files in blocks of rows: one source per format.

``open_source`` opens a file (or ``-``, standard input) and gives a
:class:`Source` whose ``blocks`` yield consecutive rows, one array per *role*
(``y_true``, ``y_pred``, ...): the columns each role asked for in a table, the
whole array in an array file. Nothing is read whole unless the format needs it:

- ``.npy`` and ``.npz`` (``arrays``): the header is checked against the file size (nothing is
  allocated for what a header merely claims), then blocks are read with ``readinto``;
- Parquet files and directories (``parquet``): record batches, one file open at a time;
- CSV/TSV, also compressed, also from pipes (``delimited``): blocks of whole lines parsed by
  pyarrow, only the selected columns, as float64.

A format is a :class:`Reader` (its facts: suffixes, table or array, directories, magic bytes)
and its entry in ``READERS``; ``--input-format``'s choices and the planner's questions come
from there. Pickles are never loaded. pyarrow is imported only by the sources that need it.
"""

from __future__ import annotations

import contextlib
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from losscli.errors import InputError
from losscli.io import storage
from losscli.io.readers.arrays import NpyReader, NpzReader
from losscli.io.readers.base import (
    COMPRESSIONS,
    CSV_NULLS,
    STDIN,
    Options,
    Reader,
    Request,
    Source,
    cli_flag,
    describe_source,
    parse_number,
    path_kind,
    split_npz_key,
)
from losscli.io.readers.csv_bytes import csv_delimiter
from losscli.io.readers.delimited import CsvReader, TsvReader
from losscli.io.readers.parquet import ParquetReader

__all__ = [
    "CSV_NULLS",
    "READERS",
    "STDIN",
    "Options",
    "Reader",
    "Request",
    "Source",
    "cli_flag",
    "csv_delimiter",
    "describe_source",
    "open_source",
    "parse_number",
    "path_kind",
    "reader_for",
    "split_npz_key",
]

#: Every input format, by its ``--input-format`` name: a new format is a reader and its entry.
READERS: dict[str, type[Reader]] = {
    reader.name: reader for reader in (CsvReader, TsvReader, NpyReader, NpzReader, ParquetReader)
}

#: Standard input in none of the formats its first bytes tell apart.
STDIN_READER = CsvReader


def reader_for(
    source: str, input_format: str | None = None, say: Callable[[str], str] = cli_flag
) -> type[Reader]:
    """The reader of a source: by ``input_format``, by suffix, as a directory, or (standard
    input) by its first bytes."""
    if input_format:
        try:
            return READERS[input_format.lower()]
        except KeyError:
            raise InputError(
                f"unknown input format {input_format!r}; choose one of {', '.join(READERS)}"
            ) from None
    if source == STDIN:
        return _sniff_stdin()
    suffixes = _suffixes(source)
    for reader in READERS.values():  # by name first: a remote lookup costs a request
        if suffixes and suffixes[-1] in reader.suffixes:
            return reader
    if path_kind(split_npz_key(source)[0]) == "dir":
        return next(reader for reader in READERS.values() if reader.directories)
    raise InputError(
        f"{storage.public(source)}: cannot tell the format from the suffix; use "
        f"{', '.join(_suggested())}, or set {say('input_format')}"
    )


def _suffixes(source: str) -> list[str]:
    """A source's suffixes, lowercase, a compression's last one included."""
    path, _ = split_npz_key(source)
    if "://" in path:  # a URI's query string is no suffix
        with contextlib.suppress(ValueError):  # not a valid URL: its reader says so
            path = urlsplit(path).path
    suffixes = [s.lower() for s in Path(path).suffixes]
    return suffixes[:-1] if suffixes and suffixes[-1] in COMPRESSIONS else suffixes


def _compression(source: str) -> str | None:
    """The compression a source's last suffix names (``.csv.gz``: gzip); none on stdin."""
    if source == STDIN:
        return None
    path, _ = split_npz_key(source)
    if "://" in path:
        with contextlib.suppress(ValueError):
            path = urlsplit(path).path
    suffixes = Path(path).suffixes
    return COMPRESSIONS.get(suffixes[-1].lower()) if suffixes else None


def _suggested() -> list[str]:
    """Each format's first suffix, for messages: ``.parquet (or a directory of Parquet files)``."""
    return [
        reader.suffixes[0]
        + (f" (or a directory of {reader.title} files)" if reader.directories else "")
        for reader in READERS.values()
    ]


def open_source(
    source: str,
    requests: dict[str, Request],
    *,
    input_format: str | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    only: tuple[str, ...] = (),
    say: Callable[[str], str] = cli_flag,
) -> Source:
    """Open ``source`` for the roles in ``requests``; errors name the file and what is wrong
    and the setting that fixes it, as ``say`` spells it (``--pred-col``, ``pred_col``).
    ``only`` reads just those files of a Parquet dataset (a part), its partition columns
    kept."""
    reader = reader_for(source, input_format, say)
    path, _ = split_npz_key(source)
    kind = None if source == STDIN else _check_readable(path, allow_dir=reader.directories)
    options = Options(header, delimiter, only, say)
    try:
        return reader.open(source, requests, _compression(source), kind, options)
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{describe_source(source)}: cannot read as {reader.name}: {exc}") from exc


def _check_readable(path: str, allow_dir: bool) -> str | None:
    """What ``path`` is (``path_kind``), once it is known to be readable."""
    if allow_dir and storage.is_glob(path):
        return None  # a dataset named by a glob: listing it says when nothing matches
    kind = path_kind(path)
    label = storage.public(path)
    if kind is None:
        raise InputError(f"{label}: no such file")
    if kind == "dir":
        if not allow_dir:
            raise InputError(f"{label}: is a directory, not a file")
    elif kind == "file":  # a pipe has no size: read it
        size = storage.size(path) if storage.is_uri(path) else Path(path).stat().st_size
        if size == 0:
            raise InputError(f"{label}: the file is empty")
    return kind


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


def _sniff_stdin() -> type[Reader]:
    """A format with magic bytes (``.npy``, Parquet) is recognised by them; anything else is
    read as CSV."""
    head = _peek_stdin(8)
    for reader in READERS.values():
        if reader.magic and head.startswith(reader.magic):
            return reader
    return STDIN_READER
