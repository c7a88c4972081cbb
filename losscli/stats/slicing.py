"""Slices of a chunk: its rows' ``--group-by`` value codes as slice numbers and keys
(``factorize``), and per-slice sums at once for every slice (``Groups``, ``group_sums``; the
bootstrap's per (slice, bucket) pair are ``bootstrap.cell_sums``). No click, no rich."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from losscli.io.readers.tables import GroupCodes
from losscli.losses.reduction import ChunkSums, Weighed
from losscli.stats.resample import per_row


class Groups:
    """A chunk's rows by slice: their slice numbers 0..k-1 (``codes``); per-slice sums of
    per-row values by ``np.bincount``."""

    def __init__(self, codes: np.ndarray, k: int) -> None:
        self.codes = codes
        self.k = k
        self.counts = np.bincount(codes, minlength=k)
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


class GroupSums(NamedTuple):
    """One chunk's sums by group (slice) g = 0..k-1: what ``RunningReduction.record`` would
    add for each group's rows alone (``per_group``, for ``RunningReduction.absorb``)."""

    sums: np.ndarray  # weighted losses: numpy's pairwise sum of each group's rows
    size: np.ndarray  # loss entries
    valid: np.ndarray | None  # unmasked entries (with a mask)
    weight_sums: np.ndarray | None  # weights (not a scalar weight)
    contributing: np.ndarray  # entries with a nonzero weight, not masked
    scalar_weight: float | None
    dtype: np.dtype

    def per_group(self) -> list[ChunkSums]:
        """Each group's sums, as plain Python."""
        k = len(self.sums)
        valid = [None] * k if self.valid is None else [int(v) for v in self.valid.tolist()]
        weights = [None] * k if self.weight_sums is None else self.weight_sums.tolist()
        return [
            ChunkSums(total, size, contributing, v, w, self.scalar_weight, self.dtype)
            for total, size, contributing, v, w in zip(
                self.sums.tolist(),
                [int(v) for v in self.size.tolist()],
                [int(v) for v in self.contributing.tolist()],
                valid,
                weights,
                strict=True,
            )
        ]


def group_sums(weighed: Weighed, groups: Groups) -> GroupSums:
    """The sums of ``weighed`` by group, at once for every group: counts by ``np.bincount``,
    values by numpy's pairwise sum of each group's rows (the sum an input of those rows alone
    would give)."""
    weighted, weights, mask, scalar = weighed
    n = len(groups.codes)
    entries = weighted.size // n if n else 0
    loss = per_row(weighted, n, "slices need one loss value per sample, or a row of them")
    counts = groups.counts
    valid = None if mask is None else groups.sums(per_row(mask, n, "slices need a mask row"))
    weight_sums = None
    contributing = counts * entries
    if weights is not None and not scalar:
        each = per_row(weights, n, "slices need one weight per sample, or a number")
        weight_sums = groups.exact_sums(each)
        nonzero = np.count_nonzero(weights.reshape(n, -1), axis=1)
        contributing = groups.sums(nonzero) * (weighted.size // max(weights.size, 1))
    elif weights is not None:
        contributing = contributing * bool(weights != 0)
    return GroupSums(
        groups.exact_sums(loss),
        counts * entries,
        valid,
        weight_sums,
        contributing,
        float(weights) if scalar and weights is not None else None,
        weighted.dtype,
    )


def dense(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative integers as 0..k-1 (in increasing order), and the k values present."""
    if len(codes) and codes.max() < 4 * len(codes) + 1024:
        present = np.flatnonzero(np.bincount(codes))
        remap = np.empty(int(codes.max()) + 1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        return remap[codes], present
    # Sparse codes (an id column): sort instead.
    present, inverse = np.unique(codes, return_inverse=True)
    return inverse.reshape(-1), present


def factorize(
    codes: np.ndarray, group_codes: GroupCodes
) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Rows of value codes (``(n, columns)``) as slice numbers 0..k-1 and the k slices' keys,
    each a tuple of values (None for null)."""
    combined = np.zeros(len(codes), dtype=np.int64)
    table = np.zeros((1, 0), dtype=np.int64)  # each slice number's value codes, by column
    for j in range(codes.shape[1]):
        column, values = dense(codes[:, j])
        radix = max(len(values), 1)
        combined, present = dense(combined * radix + column)  # stays below the row count
        table = np.column_stack([table[present // radix], values[present % radix]])
    return combined, group_codes.keys(table)
