"""What every reader shares: formats, the Source interface, names and numbers as users give
them, and streams readable once (standard input, pipes). No click, no rich."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, NamedTuple

import numpy as np

from losscli.errors import InputError, setting, shorten
from losscli.io import storage

STDIN = "-"

CSV_NULLS = ["", "NA", "N/A", "nan", "NaN", "NAN", "null", "NULL"]

#: Integers up to this magnitude are exact in float64.
EXACT_INTEGERS = 2**53


COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4", ".br": "brotli"}


def cli_flag(key: str) -> str:
    """A setting as the command line spells it: ``pred_col`` -> ``--pred-col``."""
    return "--" + key.replace("_", "-")


class Request(NamedTuple):
    """What a role wants from a source: column patterns (none: every column)."""

    columns: tuple[str, ...] = ()
    option: str = setting("pred_col")  # the setting that named the columns, for messages


class Options(NamedTuple):
    """How the user asked every input to be read, beside the roles' requests."""

    header: bool | None = None  # CSV: the first line is (not) a header; None: detected
    delimiter: str | None = None  # CSV: None to sniff it
    only: tuple[str, ...] = ()  # a part: just these files of a dataset
    say: Callable[[str], str] = cli_flag  # a setting as the front end spells it


class Reader:
    """A format: the facts the planner asks (``table``, ``directories``) and how a source in
    it is opened. Every reader is an entry of ``readers.READERS``."""

    #: ``--input-format``'s name for it.
    name: ClassVar[str]
    #: What users call it in messages (``Parquet``).
    title: ClassVar[str]
    #: File suffixes that mean this format, the first the one messages suggest.
    suffixes: ClassVar[tuple[str, ...]]
    #: Columns selected by name (``--true-col``), or one array per file.
    table: ClassVar[bool]
    #: A directory, or a glob over file names, is one input in this format.
    directories: ClassVar[bool] = False
    #: The bytes it starts with, to recognise it on standard input.
    magic: ClassVar[bytes | None] = None

    @classmethod
    def open(
        cls,
        source: str,
        requests: dict[str, Request],
        compression: str | None,
        kind: str | None,
        options: Options,
    ) -> Source:
        """A source of blocks for ``requests``; ``kind`` is what ``path_kind`` found there
        (None for standard input and globs)."""
        raise NotImplementedError


class Piece(NamedTuple):
    """What a reader can decode on its own (a Parquet row group, a byte range of a CSV file;
    an input read in order is one piece): ``read(rows)`` gives its blocks; ``offset`` is the
    input row number of its first row, None when it is known only once the pieces before it
    are read (CSV)."""

    offset: int | None
    read: Callable[[int], Iterator[dict[str, np.ndarray]]]


class InOrderOnly(Exception):
    """A piece met what only reading the input in order handles (a quote in a CSV piece: a
    quoted line break could straddle two pieces)."""


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

    def pieces(self) -> list[Piece]:
        """Parts that threads may read and evaluate at once, in input order; none when the
        source is read in order only."""
        return []

    def read(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        """``blocks``, with errors of reading and decoding the file turned into InputError."""
        return self.checked(self.blocks(rows))

    def checked(self, blocks: Iterator[dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
        """``blocks`` (of the source or of a piece), errors of reading turned into InputError."""
        try:
            yield from blocks
        except InputError:
            raise
        except Exception as exc:
            if not is_read_error(exc):
                raise
            raise InputError(f"{self.label}: cannot read the file ({arrow_message(exc)})") from exc


def use_jemalloc() -> None:
    """pyarrow's jemalloc pool, which gives freed memory back sooner than its default
    (mimalloc): on 10M two-column CSV rows, peak RSS 123 MiB against 131 MiB, and 170 against
    203 MiB with 16 MiB blocks. ``ARROW_DEFAULT_MEMORY_POOL``, when set, is left to decide."""
    import contextlib
    import os

    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with contextlib.suppress(NotImplementedError):  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def is_read_error(exc: Exception) -> bool:
    """I/O and decoding errors (the file's fault), not losscli's bugs."""
    origin = type(exc).__module__ or ""
    return isinstance(exc, (OSError, EOFError, zipfile.BadZipFile)) or origin.startswith("pyarrow")


def describe_source(source: Any) -> str:
    """A source as messages name it: never a URI's user part, which may hold a secret; an
    array given in Python by its role (``y_pred (array)``)."""
    if not isinstance(source, str):
        return str(source)
    return "standard input" if source == STDIN else storage.public(source)


def parse_number(text: str) -> float | None:
    """``text`` as a number, or None when it is not one."""
    try:
        return float(text)
    except ValueError:
        return None


def split_npz_key(source: str) -> tuple[str, str | None]:
    """``file.npz:key`` -> (``file.npz``, ``key``)."""
    head, sep, key = source.rpartition(":")
    if sep and head.lower().endswith(".npz") and "/" not in key:
        return head, key
    return source, None


def path_kind(path: str) -> str | None:
    """``"dir"``, ``"file"`` (a regular file), ``"other"`` (a pipe, a device), or None when
    nothing is there; a name that cannot be looked up (too long, a symlink loop, no permission
    on a directory on the way) is an InputError, not a missing file."""
    import errno
    import os
    import stat

    if storage.is_uri(path):
        return storage.kind(path)
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


def arrow_message(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def large_integers(what: str, largest: int) -> str:
    return (
        f"{what} holds integers beyond 2**53 (up to {largest}); float64 rounds them, so "
        "neighbouring values may become equal"
    )


def read_some(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes in one read where the stream allows it: a terminal's Ctrl-D is one
    empty read, and a second full-size read would wait for another."""
    return bytes(stream.read1(size) if hasattr(stream, "read1") else stream.read(size))


def spool_to_file(stream: Any, suffix: str = "") -> str:
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
        while piece := read_some(stream, 1 << 20):
            out.write(piece)
    stream.close()
    return name


class Replay:
    """A stream readable once, with the bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self.head = memoryview(head)
        self.stream = stream

    def read1(self, size: int) -> bytes:
        if self.head:
            piece, self.head = self.head[:size], self.head[size:]
            return bytes(piece)
        return read_some(self.stream, size)

    def readinto(self, view: Any) -> int:
        piece = self.read1(len(view))
        view[: len(piece)] = piece
        return len(piece)

    def close(self) -> None:
        self.stream.close()
