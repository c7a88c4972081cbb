"""Inputs given in Python rather than by path: numpy arrays (or lists), pandas Series, and
pandas DataFrames whose columns are chosen by name as a table's are. Read in blocks of rows
like any other source, so the notebook API and the command evaluate the same way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from losscli.errors import InputError
from losscli.io.readers.arrays import _array_file, _check_width
from losscli.io.readers.base import Request, Source
from losscli.io.readers.tables import TableSource


class InMemory:
    """A Python object standing where a path would: ``name`` is how messages call it."""

    def __init__(self, value: Any, name: str) -> None:
        self.value = value
        self.name = name

    def __str__(self) -> str:
        return self.name

    def is_table(self) -> bool:
        return type(self.value).__name__ == "DataFrame"


def memory_source(given: InMemory, requests: dict[str, Request]) -> Source:
    if given.is_table():
        return MemoryTable(given, requests)
    return MemoryArray(given, requests)


class MemoryArray(Source):
    """An array (or a list, a pandas Series): every role it serves gets all of it."""

    def __init__(self, given: InMemory, requests: dict[str, Request]) -> None:
        super().__init__()
        values = getattr(given.value, "to_numpy", None)
        array = np.asarray(values() if callable(values) else given.value)
        if array.dtype.kind not in "biuf":
            raise InputError(f"{given.name}: holds {array.dtype} values; losscli needs numbers")
        _check_width(given.name, array.shape)
        _array_file(self, given.name, array.shape, requests)
        self.array = array

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self.array), rows):
            block = self.array[start : start + rows]
            yield {role: block for role in self.roles}


class MemoryTable(TableSource):
    """A pandas DataFrame: columns chosen by name (or glob), converted as Parquet columns are
    (through pyarrow: nulls become NaN, list columns vectors)."""

    def __init__(self, given: InMemory, requests: dict[str, Request]) -> None:
        import pyarrow as pa

        super().__init__()
        self.label = given.name
        try:
            self.table = pa.Table.from_pandas(given.value, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InputError(f"{given.name}: cannot read its columns ({exc})") from None
        self.names = [str(name) for name in self.table.column_names]
        self._select(requests)
        self._check_group_types(self.table.schema)
        self.n_rows = self.table.num_rows
        if self.n_rows == 0:
            raise InputError(f"{given.name}: no rows")

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        offset = 0
        for batch in self.table.to_batches(max_chunksize=rows):
            n = batch.num_rows
            if not n:
                continue
            yield self._roles(lambda i, _, batch=batch: batch.column(i), n, offset)
            offset += n
