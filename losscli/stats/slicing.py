"""Slices of a chunk: its rows' ``--group-by`` value codes as slice numbers and keys
(``factorize``), and per-slice sums at once for every slice (``Groups``; with ``--ci``, per
(slice, bucket) pair: ``Cells``). No click, no rich."""

from __future__ import annotations

from typing import Any

import numpy as np

from losscli.io.readers.tables import GroupCodes
from losscli.stats.resample import BUCKETS, Rows


class Groups:
    """A chunk's rows by slice: their slice numbers 0..k-1 (``codes``) and, with ``--ci``,
    their buckets (``rows``); per-slice sums of per-row values by ``np.bincount``."""

    def __init__(self, codes: np.ndarray, k: int, rows: Rows | None) -> None:
        self.codes = codes
        self.k = k
        self.rows = rows
        self.counts = np.bincount(codes, minlength=k)
        self._cells: Cells | None = None
        self._order: np.ndarray | None = None

    def sums(self, per_row: np.ndarray) -> np.ndarray:
        """Per-slice sums of counts (exact: whole numbers)."""
        return np.bincount(self.codes, weights=per_row, minlength=self.k)

    def exact_sums(self, per_row: np.ndarray) -> np.ndarray:
        """Per-slice sums of values, each numpy's pairwise sum of the slice's rows in row order:
        the sum a chunk of the slice's rows alone would give, to the last bit."""
        if self.k <= 8:  # a pass per slice costs less than a sort
            return np.array([np.add.reduce(per_row[self.codes == g]) for g in range(self.k)])
        if self._order is None:
            small = self.codes.astype(np.int16) if self.k < 2**15 else self.codes
            self._order = np.argsort(small, kind="stable")  # a radix sort for int16
        values = per_row[self._order]
        ends = np.cumsum(self.counts).tolist()
        add = np.add.reduce
        return np.array(
            [
                add(values[end - count : end])
                for end, count in zip(ends, self.counts.tolist(), strict=True)
            ]
        )

    @property
    def cells(self) -> Cells:
        """The (slice, bucket) pairs present (``--ci`` by slice)."""
        if self._cells is None:
            assert self.rows is not None
            self._cells = Cells(self.codes, self.k, self.rows.ids)
        return self._cells


class Cells:
    """The (slice, bucket) pairs of a chunk's rows, slice-major: per-pair sums, each pair's
    bucket (``bucket``), and slice g's pairs from ``bounds[g]`` to ``bounds[g + 1]``."""

    def __init__(self, codes: np.ndarray, k: int, buckets: np.ndarray) -> None:
        index = codes.astype(np.int64) * BUCKETS + buckets
        self.inverse, present = _dense(index)
        self.bucket = (present % BUCKETS).astype(np.int16)
        self.bounds = np.searchsorted(present // BUCKETS, np.arange(k + 1))

    def sums(self, per_row: np.ndarray | None) -> np.ndarray:
        return np.bincount(self.inverse, weights=per_row, minlength=len(self.bucket))


def _dense(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative integers as 0..k-1 (in increasing order), and the k values present."""
    if len(codes) and codes.max() < 4 * len(codes) + 1024:
        present = np.flatnonzero(np.bincount(codes))
        remap = np.empty(int(codes.max()) + 1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        return remap[codes], present
    # Sparse codes (an id column): sort instead.
    present, dense = np.unique(codes, return_inverse=True)
    return dense.reshape(-1), present


def factorize(
    codes: np.ndarray, group_codes: GroupCodes
) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Rows of value codes (``(n, columns)``) as slice numbers 0..k-1 and the k slices' keys,
    each a tuple of values (None for null)."""
    combined = np.zeros(len(codes), dtype=np.int64)
    table = np.zeros((1, 0), dtype=np.int64)  # each slice number's value codes, by column
    for j in range(codes.shape[1]):
        column, values = _dense(codes[:, j])
        radix = max(len(values), 1)
        combined, present = _dense(combined * radix + column)  # stays below the row count
        table = np.column_stack([table[present // radix], values[present % radix]])
    return combined, group_codes.keys(table)
