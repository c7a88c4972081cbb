"""Parquet files, directories of them (hive partitions too) and Parquet on standard input,
read record batch by record batch, one file open at a time."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Generator, Iterator
from typing import Any, NamedTuple

import numpy as np

from losscli.errors import InputError, name_list
from losscli.io import storage
from losscli.io.readers.base import (
    STDIN,
    Options,
    Piece,
    Reader,
    Request,
    Source,
    arrow_message,
    describe_source,
    parse_number,
    split_npz_key,
    spool_to_file,
    use_jemalloc,
)
from losscli.io.readers.tables import GROUP, TableSource


class ParquetReader(Reader):
    """Parquet files, directories and globs of them (hive partitions too), on standard input."""

    name = "parquet"
    title = "Parquet"
    suffixes = (".parquet", ".pq")
    table = True
    directories = True
    magic = b"PAR1"

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
        dataset = kind == "dir" or storage.is_glob(split_npz_key(source)[0])
        return ParquetSource(source, requests, options.only, dataset)


class DatasetFile(NamedTuple):
    """A file of a Parquet dataset (a part, when evaluated on its own) and its hive partition
    values as the path spells them (``day=007`` is ``"007"``)."""

    path: str
    partitions: dict[str, str]


def dataset_files(source: str) -> list[DatasetFile]:
    """The Parquet files of a dataset (a directory, hive partitions too, or a glob over the file
    names of one directory), in name order, as ``pyarrow.dataset`` finds them: hidden and marker
    files (``.crc``, ``_SUCCESS``, ``.*.tmp``) are skipped as Spark and pyarrow skip them, and
    nothing is read but the listing."""
    import fnmatch

    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow import fs

    root, pattern = source.rstrip("/"), None
    if storage.is_glob(source):
        root, _, pattern = root.rpartition("/")
        root = root or "."
    prefix, (filesystem, base) = "", (fs.LocalFileSystem(), root)
    if storage.is_uri(source):
        prefix, (filesystem, base) = source.partition("://")[0] + "://", storage.resolve(root)
    selector = fs.FileSelector(base, recursive=pattern is None, allow_not_found=not prefix)
    options = ds.FileSystemFactoryOptions(
        partitioning=ds.HivePartitioning.discover(segment_encoding="none"),
        partition_base_dir=base,
    )
    try:
        factory = ds.FileSystemDatasetFactory(filesystem, selector, ds.ParquetFileFormat(), options)
        keys = factory.inspect(fragments=0).names  # the partition keys: no file is opened
        # Partition values as text: a number where one is wanted, a slice's key as written.
        fragments = factory.finish(pa.schema([(key, pa.string()) for key in keys])).get_fragments()
    except FileNotFoundError:
        raise InputError(f"{storage.public(root)}: no such directory") from None
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise storage.failure(root, exc) from None
    files = []
    for fragment in fragments:
        relative = fragment.path[len(base) :].lstrip("/")
        if pattern is None or fnmatch.fnmatchcase(relative, pattern):
            found = ds.get_partition_keys(fragment.partition_expression)
            partitions = {key: found[key] for key in keys if key in found}
            files.append((relative.split("/"), DatasetFile(prefix + fragment.path, partitions)))
    if not files:
        if pattern is not None:
            raise InputError(f"{storage.public(source)}: no file matches the pattern")
        raise InputError(f"{storage.public(source)}: a directory without Parquet files")
    return [file for _, file in sorted(files, key=lambda item: item[0])]


def _files(source: str, only: tuple[str, ...], dataset: bool) -> list[DatasetFile]:
    """The files a source reads: a dataset's (``only`` those, for a part), or one file."""
    if source == STDIN:
        return [DatasetFile(spool_to_file(sys.stdin.buffer, ".parquet"), {})]
    if not dataset:
        return [DatasetFile(source, {})]
    files = dataset_files(source)
    if only:  # a part: one file of the dataset, evaluated on its own
        files = [file for file in files if file.path in only]
    return files


def _name_file(file: str, source: str) -> str:
    """A dataset's file, as messages name it before what is wrong with it."""
    return "" if file == source else f"{file}: "


def _schema_text(schema: Any) -> str:
    return name_list([f"{f.name} ({f.type})" for f in schema])


class ParquetSource(TableSource):
    """A Parquet file, a directory of them (in name order), or Parquet bytes on standard input.

    Files are read one after another, record batch by record batch, with no read-ahead
    beyond the row group being decoded.
    """

    def __init__(
        self,
        source: str,
        requests: dict[str, Request],
        only: tuple[str, ...] = (),
        dataset: bool = False,
    ) -> None:
        super().__init__()
        self.label = describe_source(source)
        files = _files(source, only, dataset)
        self.files = [file.path for file in files]
        #: Each file's hive partition values, columns of the dataset besides the files' own.
        self.partitions = [file.partitions for file in files]
        keys = list(dict.fromkeys(k for values in self.partitions for k in values))
        # Each file's footer is read and closed here; the files are opened one at a time
        # while reading, so a directory of thousands of files needs one descriptor.
        self.footers: list[Any] = []
        schema = None
        for path in self.files:
            metadata, file_schema = self._footer(path, source)
            schema = self._same_schema(schema, path, file_schema)
            self.footers.append(metadata)
        assert schema is not None
        self.counts = [int(metadata.num_rows) for metadata in self.footers]
        self.n_rows = sum(self.counts)
        if self.n_rows == 0:
            raise InputError(f"{self.label}: no rows")
        self.file_columns = len(schema.names)
        self.names = list(schema.names) + [k for k in keys if k not in schema.names]
        self._select(requests)
        self._check_group_types(schema)
        self.width = sum(self._width(schema, i) for ix in self.selected.values() for i in ix)

    def _width(self, schema: Any, column: int) -> int:
        """Numbers per row in a column: a fixed-size list column holds that many."""
        if column >= self.file_columns:  # a partition key
            return 1
        return int(getattr(schema.field(column).type, "list_size", 1))

    def _footer(self, path: str, source: str) -> tuple[Any, Any]:
        """A file's metadata, read once (its row groups' counts checked against its own),
        and its schema."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            metadata = pq.read_metadata(_open(path))
            file_schema = metadata.schema.to_arrow_schema()
        except InputError:
            raise
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{self.label}: {_name_file(path, source)}not a readable Parquet file "
                f"({arrow_message(exc)})"
            ) from None
        groups = sum(metadata.row_group(g).num_rows for g in range(metadata.num_row_groups))
        if groups != metadata.num_rows:
            raise InputError(
                f"{self.label}: {_name_file(path, source)}the footer says {metadata.num_rows} "
                f"rows but its row groups hold {groups}: the file is damaged"
            )
        return metadata, file_schema

    def _same_schema(self, schema: Any, path: str, file_schema: Any) -> Any:
        """The dataset's schema: every file has the first one's columns."""
        if schema is not None and not file_schema.equals(schema):
            raise InputError(
                f"{self.label}: {path} has the columns {_schema_text(file_schema)}, not "
                f"{_schema_text(schema)} as {self.files[0]}"
            )
        return file_schema if schema is None else schema

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        import pyarrow.parquet as pq

        offset = 0
        for path, count, partition in zip(self.files, self.counts, self.partitions, strict=True):
            if count == 0:
                continue
            with self._reading():
                file = pq.ParquetFile(
                    _open(path), pre_buffer=False, read_dictionary=self._group_columns()
                )
                batches = file.iter_batches(batch_size=rows, columns=self._file_columns())
            try:
                read = yield from self._converted(batches, partition, offset)
            finally:
                batches.close()
                file.close()
            offset += read
            if read != count:
                raise self._damaged(path, count, read)

    def pieces(self) -> list[Piece]:
        """One piece per row group of local files: threads decode and evaluate them at once
        (on object storage every piece would be a request more: read in order there)."""
        if any(storage.is_uri(path) for path in self.files):
            return []
        found = []
        offset = 0
        for path, metadata, partition in zip(
            self.files, self.footers, self.partitions, strict=True
        ):
            for group in range(metadata.num_row_groups):
                rows_in_group = metadata.row_group(group).num_rows
                if rows_in_group:
                    read = self._group(path, metadata, group, partition, offset)
                    found.append(Piece(offset, read))
                offset += rows_in_group
        return found

    def _group(
        self, path: str, metadata: Any, group: int, partition: dict[str, str], offset: int
    ) -> Callable[[int], Iterator[dict[str, np.ndarray]]]:
        def read(rows: int) -> Iterator[dict[str, np.ndarray]]:
            import pyarrow.parquet as pq

            with self._reading():
                # The footer read again, as the reader in order reads it (a footer given
                # as metadata decodes a damaged file differently).
                file = pq.ParquetFile(path, pre_buffer=False, read_dictionary=self._group_columns())
                expected = file.metadata.row_group(group).num_rows
                # One thread per piece already: pyarrow's own threads would only compete.
                batches = file.iter_batches(
                    batch_size=rows,
                    row_groups=[group],
                    columns=self._file_columns(),
                    use_threads=False,
                )
            try:
                read = yield from self._converted(batches, partition, offset)
            finally:
                batches.close()
                file.close()
            if read != expected:
                raise self._damaged(path, expected, read)

        return read

    def _converted(
        self, batches: Iterator[Any], partition: dict[str, str], offset: int
    ) -> Generator[dict[str, np.ndarray], None, int]:
        """Each record batch as one float64 array per role; returns the rows read."""
        start = offset
        while True:
            with self._reading():
                batch = next(batches, None)
            if batch is None:
                return offset - start
            n = batch.num_rows
            if not n:
                continue

            def column(i: int, as_text: bool, batch: Any = batch, n: int = n) -> Any:
                if i < self.file_columns:
                    return batch.column(self.names[i])
                return _partition_values(partition.get(self.names[i]), n, as_text)

            out = self._roles(column, n, offset)
            offset += n
            yield out

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """pyarrow's errors of reading a damaged file as one InputError."""
        import pyarrow as pa

        try:
            yield
        except (pa.ArrowInvalid, pa.ArrowException) as exc:
            raise InputError(
                f"{self.label}: not a readable Parquet file ({arrow_message(exc)})"
            ) from None

    def _damaged(self, path: str, expected: int, read: int) -> InputError:
        return InputError(
            f"{self.label}: {_name_file(path, self.label)}the footer says {expected} rows but "
            f"{read} were read: the file is damaged"
        )

    def _wanted(self) -> list[int]:
        return sorted({i for indices in self.selected.values() for i in indices})

    def _file_columns(self) -> list[str]:
        return [self.names[i] for i in self._wanted() if i < self.file_columns]

    def _group_columns(self) -> list[str]:
        """The ``--group-by`` columns of the file, read as Arrow dictionaries: text is coded
        from the file's own dictionary pages, never materialised per row (5x faster)."""
        columns = self.selected.get(GROUP, ())
        return [self.names[i] for i in columns if i < self.file_columns]


def _partition_values(text: str | None, n: int, as_text: bool) -> Any:
    """A hive partition key's value for every row of a file: a number when it reads as one (a
    weight, a label), else its text (a slice's key; as a number, an error naming it)."""
    import pyarrow as pa

    if text is None:  # the file is not under that key
        return pa.nulls(n, pa.string() if as_text else pa.float64())
    number = None if as_text else parse_number(text)
    if number is not None:
        return pa.array(np.full(n, number))
    return pa.repeat(pa.scalar(text), n)


def _open(path: str) -> Any:
    """A file of the dataset: a local path as it is, a URI opened on its filesystem."""
    return storage.open_input(path) if storage.is_uri(path) else path
