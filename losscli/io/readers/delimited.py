"""CSV and TSV, plain or compressed, from files, pipes or standard input: blocks of whole lines
read into one reused buffer, each copied into memory pyarrow owns and parsed there
(``csv_bytes``), only the selected columns, as float64; the whole input in order is one piece,
a large local file several (byte ranges); quotes, long lines and bad values named by row."""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from losscli.errors import InputError
from losscli.io import storage
from losscli.io.readers.base import (
    CSV_NULLS,
    STDIN,
    InOrderOnly,
    Options,
    Piece,
    Reader,
    Replay,
    Request,
    Source,
    arrow_message,
    cli_flag,
    describe_source,
    read_some,
    spool_to_file,
    use_jemalloc,
)
from losscli.io.readers.csv_bytes import (
    ByteRange,
    arrow_owned,
    check_quotes,
    fill,
    parse_block,
    room,
    sniff_delimiter,
)
from losscli.io.readers.tables import (
    GROUP,
    TableSource,
    first_unreadable,
    looks_numeric,
    not_numeric,
)

#: CSV is parsed this many bytes at a time, in one buffer read into again and again. pyarrow's
#: parse memory grows with the block; measured peak RSS on 48M 10-byte rows: 129 MiB with 2 MiB
#: blocks, 151 MiB with 4 MiB (the same time, 4.4 s against 4.6 s).
CSV_BLOCK_BYTES = 2 << 20

#: A CSV line longer than this is an error (a file without line breaks would fill memory).
MAX_LINE_BYTES = 64 << 20

#: Lines read to sniff the delimiter.
SNIFF_LINES = 50

#: A local CSV file of at least two pieces is read by threads, a byte range each.
PIECE_BYTES = 32 << 20


class CsvReader(Reader):
    """CSV, plain or compressed, from files, object storage, pipes and standard input."""

    name = "csv"
    title = "CSV"
    suffixes = (".csv", ".txt")
    table = True
    #: The delimiter unless the user sets one; None: sniffed from the first lines.
    delimiter: str | None = None

    @classmethod
    def open(
        cls,
        source: str,
        requests: dict[str, Request],
        compression: str | None,
        kind: str | None,
        options: Options,
    ) -> Source:
        use_jemalloc()
        delimiter = options.delimiter or cls.delimiter
        return CsvSource(source, compression, options.header, requests, options.say, delimiter)


class TsvReader(CsvReader):
    """CSV with tabs."""

    name = "tsv"
    title = "TSV"
    suffixes = (".tsv", ".tab")
    delimiter = "\t"


def _long_line(label: str, line: int) -> str:
    return (
        f"{label}: line {line + 1} is longer than {MAX_LINE_BYTES >> 20} MiB without a line "
        "break; is it really CSV?"
    )


#: Bytes a CSV piece is parsed at a time (one thread per piece).
PIECE_BLOCK_BYTES = 1 << 20


class CsvSource(TableSource):
    """CSV or TSV, plain or compressed, parsed block by block; only selected columns, as float64
    (the ``--group-by`` columns as text, typed by ``tables.typed_keys``)."""

    text_keys = True

    def __init__(
        self,
        source: str,
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
        self._replay: Replay | None = None
        if source == STDIN or not (storage.is_uri(source) or Path(source).is_file()):
            # Standard input, a pipe or a FIFO: read once, as it comes; the first lines, read
            # to sniff the format, are replayed in front of the rest.
            self.path = None
            self._replay = Replay(b"", self._open_pipe(source))
        self.carriage_returns = False  # old Mac files end lines with \r alone
        lines = self._first_lines()
        if delimiter is None:
            delimiter = sniff_delimiter(lines)
        self.delimiter = delimiter
        import csv

        try:
            fields = next(csv.reader(lines[:1], delimiter=delimiter), [])
        except csv.Error as exc:  # e.g. a NUL byte (Python 3.10)
            raise InputError(f"{self.label}: the first line is not CSV ({exc})") from None
        if header is None:
            header = not all(looks_numeric(f) for f in fields)
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
            self.path, self._replay = spool_to_file(self._replay), None
            self.compression = None  # the spooled bytes are decompressed

    def _stream(self) -> Any:
        import pyarrow as pa

        if self._replay is not None:
            stream, self._replay = self._replay, None
            return stream
        if self.path is None:
            raise RuntimeError(f"{self.label} was read once already and not spooled")
        raw = storage.open_stream(self.path) if storage.is_uri(self.path) else pa.OSFile(self.path)
        return pa.CompressedInputStream(raw, self.compression) if self.compression else raw

    def _head(self) -> tuple[bytes, bool]:
        """The input's first MiB, or up to its first line break, and whether it ended there;
        what a stream readable once gave is put back in front of it."""
        stream = self._stream()
        head = b""
        ended = False
        while b"\n" not in head and len(head) <= MAX_LINE_BYTES:
            piece = read_some(stream, 1 << 20)
            if not piece:
                ended = True
                break
            head += piece
        if self.path is None:
            self._replay = Replay(head, stream)  # read once: put back what was read
        else:
            stream.close()
        return head, ended

    def _first_lines(self) -> list[str]:
        """The first line and the whole lines after it in the first MiB (to sniff the
        delimiter); errors when the start is not text."""
        head, ended = self._head()
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

        message = arrow_message(exc)
        if "conversion error" in message:
            read_options, parse_options, convert = options
            as_text = csv.ConvertOptions(
                null_values=CSV_NULLS,
                strings_can_be_null=True,
                include_columns=convert.include_columns,
                column_types={name: pa.binary() for name in convert.include_columns},
            )
            table = csv.read_csv(
                pa.BufferReader(arrow_owned(block)),
                read_options=read_options,
                parse_options=parse_options,
                convert_options=as_text,
            )
            for name in convert.include_columns:
                values = table.column(name).combine_chunks()
                row = first_unreadable(values)
                if row is not None:
                    column = self.names[int(name[1:])]
                    value = values[row].as_py()
                    with contextlib.suppress(UnicodeDecodeError):
                        value = value.decode("utf-8")
                    raise not_numeric(self.label, column, offset + row, value, self.hints[column])
        raise InputError(f"{self.label}: {message}") from None

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        """The whole input in order, as one piece: blocks of whole lines, each parsed by
        pyarrow's multi-threaded reader."""
        stream = self._stream()
        try:
            read = yield from self._parsed(stream, in_order=True)
        finally:
            stream.close()
        if read == 0:
            raise InputError(
                f"{self.label}: no data rows" + (" (only a header)" if self.header else "")
            )

    def _parsed(self, stream: Any, in_order: bool) -> Generator[dict[str, np.ndarray], None, int]:
        """The one CSV reader: ``stream``'s blocks of whole lines parsed, only the selected
        columns; returns the rows read. In order (the whole input, the header first), a quote
        is checked to close on its line; in a piece, a quote sends the input back to the
        reader in order (``InOrderOnly``: a quoted line break may straddle a cut)."""
        import pyarrow as pa

        position = self._positions()
        options = self._options(use_threads=in_order)
        offset = 0  # data rows before the block
        size = CSV_BLOCK_BYTES if in_order else PIECE_BLOCK_BYTES
        skip_header = in_order and self.header
        for buffer, start, cut, lines in self._whole_lines(stream, skip_header, size):
            if buffer.find(b'"', start, cut) >= 0:
                if not in_order:
                    raise InOrderOnly(f"{self.label}: quotes")
                check_quotes(memoryview(buffer)[start:cut], lines, self.label, self.header)
            # Only blanks and control characters: no row (pyarrow would make one of nulls).
            if cut == start or np.frombuffer(buffer, np.uint8, cut - start, start).max() <= 32:
                continue
            owned = arrow_owned(memoryview(buffer)[start:cut])
            try:
                table = parse_block(owned, options)
            except pa.ArrowInvalid as exc:
                self._fail(exc, owned.to_pybytes(), options, offset)
            del owned
            if table.num_rows:
                yield self._as_roles(table, position, offset)
                offset += table.num_rows
        return offset

    def _whole_lines(
        self, stream: Any, skip_header: bool, size: int
    ) -> Iterator[tuple[bytearray, int, int, int]]:
        """Blocks of whole lines: one buffer read into again and again, where the block starts
        and ends in it (valid until the next block), and the lines of the file before it; a
        UTF-8 BOM and the header left out. A line longer than a block grows the buffer, up to
        MAX_LINE_BYTES; old Mac line ends (``\r``) become ``\n``."""
        buffer = bytearray(size)
        kept = 0  # bytes of a line begun in the previous block, at the buffer's start
        lines = 0  # lines of the file before the block, the header included
        start = -1  # where the block starts: -1 before the first read
        while True:
            buffer = room(buffer, kept, size)
            end = fill(stream, buffer, kept)
            ended = end < len(buffer)
            if kept:  # the line carried over: it ends at the first line break, or the end
                self._check_line_length(buffer, kept, end, lines)
            if self.carriage_returns:
                buffer[kept:end] = buffer[kept:end].replace(b"\r", b"\n")
            start = 3 if start < 0 and buffer.startswith(b"\xef\xbb\xbf") else 0
            if skip_header:
                newline = buffer.find(b"\n", start, end)
                if newline < 0 and not ended:
                    kept = end  # the header goes on in the next read
                    continue
                start, skip_header, lines = (newline + 1 if newline >= 0 else end), False, 1
            cut = end if ended else max(buffer.rfind(b"\n", start, end) + 1, start)
            yield buffer, start, cut, lines
            lines += buffer.count(b"\n", start, cut)
            if ended:
                return
            kept = end - cut
            buffer[:kept] = buffer[cut:end]

    def _check_line_length(self, buffer: bytearray, kept: int, end: int, lines: int) -> None:
        newline = buffer.find(b"\n", kept, end)
        if (newline if newline >= 0 else end) > MAX_LINE_BYTES:
            raise InputError(_long_line(self.label, lines))

    def _positions(self) -> dict[int, int]:
        """Each selected column's place among the columns parsed."""
        wanted = sorted({i for indices in self.selected.values() for i in indices})
        return {i: j for j, i in enumerate(wanted)}

    def _options(self, **read: Any) -> tuple[Any, Any, Any]:
        """pyarrow's options: every column named ``c<i>``, the selected ones as float64."""
        import pyarrow as pa
        from pyarrow import csv

        wanted = list(self._positions())
        numeric = {i for role, indices in self.selected.items() if role != GROUP for i in indices}
        return (
            csv.ReadOptions(column_names=[f"c{i}" for i in range(len(self.names))], **read),
            csv.ParseOptions(delimiter=self.delimiter),
            csv.ConvertOptions(
                null_values=CSV_NULLS,  # in the numeric columns
                strings_can_be_null=False,  # a key is what the file says: NA is the text NA
                include_columns=[f"c{i}" for i in wanted],
                # --group-by columns as text: a slice's key is what the file says.
                column_types={
                    f"c{i}": pa.float64() if i in numeric else pa.string() for i in wanted
                },
            ),
        )

    def pieces(self) -> list[Piece]:
        """Byte ranges of a local, uncompressed file, cut after line breaks, for threads to
        parse at once. A range's first row number is known once the ranges before it are
        read; a quote anywhere sends the whole input back to the reader in order, which
        checks quotes (a quoted line break may straddle a cut)."""
        import os

        if self.path is None or self.compression or self.carriage_returns:
            return []
        if storage.is_uri(self.path):
            return []
        size = os.path.getsize(self.path)
        if size < 2 * PIECE_BYTES:
            return []
        with open(self.path, "rb") as file:
            start = 3 if file.read(3) == b"\xef\xbb\xbf" else 0
            file.seek(start)
            if self.header:
                file.readline()
                start = file.tell()
            cuts = [start]
            for k in range(1, size // PIECE_BYTES):
                file.seek(k * PIECE_BYTES)
                file.readline()  # to the end of the line the cut fell in
                if file.tell() > cuts[-1]:
                    cuts.append(file.tell())
        cuts.append(size)
        return [
            Piece(0 if k == 0 else None, self._range(begin, end))
            for k, (begin, end) in enumerate(itertools.pairwise(cuts))
            if end > begin
        ]

    def _range(self, begin: int, end: int) -> Callable[[int], Iterator[dict[str, np.ndarray]]]:
        def read(rows: int) -> Iterator[dict[str, np.ndarray]]:
            assert self.path is not None
            with open(self.path, "rb", buffering=0) as file:
                file.seek(begin)
                yield from self._parsed(ByteRange(file, end - begin), in_order=False)

        return read

    def _as_roles(self, table: Any, position: dict[int, int], offset: int) -> dict[str, np.ndarray]:
        return self._roles(lambda i, _: table.column(position[i]), table.num_rows, offset)
