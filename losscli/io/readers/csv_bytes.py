"""CSV bytes, whatever their source: the delimiter sniffed or given, a block of whole lines
copied into memory pyarrow owns and parsed there, quotes that must close on their line, and a
byte range of a file read as a stream (a piece)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from losscli.errors import InputError, shorten
from losscli.io.readers.base import cli_flag

#: CSV delimiters told apart by sniffing the first lines (``--delimiter`` sets any other).
DELIMITERS = (",", "\t", ";", "|")


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


def sniff_delimiter(lines: list[str]) -> str:
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


def arrow_owned(data: Any) -> Any:
    """A copy of ``data`` in memory pyarrow owns. pyarrow's reader threads may drop their last
    reference to the input after ``read_csv`` returned, even while the interpreter exits;
    memory Python owns would then need the GIL to be freed, and a thread that asks for it then
    is ended mid-C++ (``terminate called without an active exception``, exit 134)."""
    import pyarrow as pa

    copy = np.frombuffer(data, dtype=np.uint8)
    owned = pa.allocate_buffer(len(copy))
    np.frombuffer(owned, dtype=np.uint8)[:] = copy
    return owned


def parse_block(block: Any, options: tuple[Any, Any, Any]) -> Any:
    """A block of whole CSV lines (in memory pyarrow owns: ``arrow_owned``) as a pyarrow
    table."""
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


def room(buffer: bytearray, kept: int, size: int) -> bytearray:
    """``buffer``, or a bigger copy of its first ``kept`` bytes when a block of ``size`` bytes
    would not fit after them (a line longer than a block)."""
    if kept + size <= len(buffer):
        return buffer
    bigger = bytearray(kept + size)
    bigger[:kept] = buffer[:kept]
    return bigger


def fill(stream: Any, buffer: bytearray, start: int) -> int:
    """Read into ``buffer`` from ``start`` until it is full or the stream ends; its new end."""
    end = start
    with memoryview(buffer) as view:
        while end < len(buffer):
            got = stream.readinto(view[end:])
            if not got:
                break
            end += got
    return end


def check_quotes(block: Any, lines_before: int, label: str, header: bool) -> None:
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


class ByteRange:
    """``size`` bytes of a file from where it stands: a piece's share of the file."""

    def __init__(self, file: Any, size: int) -> None:
        self.file = file
        self.left = size

    def readinto(self, view: Any) -> int:
        n = min(len(view), self.left)
        got = self.file.readinto(view[:n]) if n else 0
        self.left -= got
        return int(got)

    def close(self) -> None:
        """The file is closed by the piece that opened it."""
