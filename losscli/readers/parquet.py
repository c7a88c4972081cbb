"""Parquet files, directories of them (hive partitions too) and Parquet on standard input,
read record batch by record batch, one file open at a time."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from losscli.errors import InputError, name_list
from losscli.readers.base import STDIN, Request, arrow_message, describe_source, spool_to_file
from losscli.readers.tables import TableSource


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


class ParquetSource(TableSource):
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
            self.parts: list[str] = [spool_to_file(sys.stdin.buffer, ".parquet")]
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
                    f"({arrow_message(exc)})"
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
                f"{self.label}: not a readable Parquet file ({arrow_message(exc)})"
            ) from None
