"""The bootstrap of one result, as a mergeable accumulator (``Bootstrap``).

``--ci`` resamples units (today a row, keyed by its index in the whole input: ``RowIndex``);
each unit goes to one of ``resample.BUCKETS`` buckets by a keyed hash (``Buckets``).
``Bootstrap.update`` adds a chunk's weighted losses to per-bucket sums, ``merge`` adds another
accumulator's (exact: whole-bucket sums added elementwise, in any order), and ``result``
reweights the buckets by each resample's Poisson(1) weights (``Resamples``) and divides as the
loss's reduction does: the replicates, whose percentiles are the interval (``Replicates``).
By slice, the slices of a loss keep their bucket sums as the rows of one ``BucketTable``, and a
chunk's share of them is taken per (slice, bucket) pair at once (``cell_sums``).

A new resampling unit is a class beside ``RowIndex`` (its ``buckets`` of a chunk) chosen by
``unit_for``: the engines call only these. Imports ``losscli.losses`` (the reductions' divisors)
and the rest of ``losscli.stats``; no click, no rich.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.errors import setting
from losscli.stats.resample import (
    BUCKETS,
    Interval,
    Resampling,
    bucket_ids,
    contiguous_ids,
    interval,
    per_row,
    poisson_weights,
    replicate_sums,
)
from losscli.stats.slicing import dense

if TYPE_CHECKING:
    from losscli.losses.reduction import RunningReduction, Weighed

#: The sums a reduction divides, per bucket: the weighted losses, the loss entries, the valid
#: entries (with a mask) and the weights (when weights are summed).
NAMES = ("sums", "entries", "valid", "weights")


class Buckets:
    """The buckets of a chunk's rows, with the rows per bucket counted once."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        self._counts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def counts(self) -> np.ndarray:
        if self._counts is None:
            self._counts = np.bincount(self.ids, minlength=BUCKETS).astype(np.float64)
        return self._counts

    def sums(self, per_row: np.ndarray) -> np.ndarray:
        return np.bincount(self.ids, weights=per_row, minlength=BUCKETS)


class RowIndex:
    """The resampled unit is a row, keyed by its index in the whole input: a part's rows
    (a file evaluated on its own) are numbered from the rows of the parts before it, which the
    file-by-file engine counts first (``numbered``)."""

    numbered = True

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def buckets(
        self, chunk: Mapping[str, np.ndarray], first: int, kept: np.ndarray | None
    ) -> Buckets:
        """The buckets of a chunk's rows ``first + kept`` (or ``first .. first + n - 1`` when
        none was dropped)."""
        if kept is None:
            return Buckets(contiguous_ids(first, len(chunk["y_pred"]), self.seed))
        return Buckets(bucket_ids(first + kept, self.seed))


def unit_for(resampling: Resampling) -> RowIndex:
    """The unit a run resamples."""
    return RowIndex(resampling.seed)


class BucketTable:
    """The per-bucket sums of several results, a row each: a slice's share of a chunk goes to
    every slice's row at once (``add_cells``). Columns ``valid`` and ``weights`` appear when
    first met; rows grow by doubling."""

    def __init__(self) -> None:
        self.size = 0
        self.columns: dict[str, np.ndarray] = {}
        self._capacity = 0

    def new_row(self) -> int:
        if self.size == self._capacity:
            self._capacity = max(4, 2 * self._capacity)
            for name, old in self.columns.items():
                grown = np.zeros((self._capacity, BUCKETS))
                grown[: self.size] = old[: self.size]
                self.columns[name] = grown
        self.size += 1
        return self.size - 1

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            self.columns[name] = np.zeros((max(self._capacity, 1), BUCKETS))
        return self.columns[name]

    def add_cells(self, rows: list[int], cells: CellSums) -> None:
        """A chunk's (slice, bucket) sums added to the rows of its slices (``rows``: slice g's
        row, -1 for none kept), the pairs distinct."""
        row = np.repeat(np.asarray(rows), np.diff(cells.bounds))
        keep = row >= 0
        for name, values in cells.sums.items():
            if values is not None:
                self.column(name)[row[keep], cells.bucket[keep]] += values[keep]


class Resamples:
    """The resamples' bucket weights (``resample.poisson_weights``), drawn once and shared by
    every result of a run, and their products with a result's per-bucket sums."""

    def __init__(self, resampling: Resampling) -> None:
        self.resampling = resampling
        self.poisson = poisson_weights(resampling.seed, resampling.resamples)

    def times(self, bootstrap: Bootstrap, name: str) -> np.ndarray:
        """Each resample's sum ``name`` (the entries' in place of a column never met)."""
        column = bootstrap.table.columns.get(name)
        if column is None:
            column = bootstrap.table.columns["entries"]
        return replicate_sums(self.poisson, column[bootstrap.row])


class Replicates(NamedTuple):
    """A result under each resample's bucket weights (NaN where a resample leaves nothing to
    divide by): the bootstrap's ``result``."""

    values: np.ndarray
    resampling: Resampling

    def interval(self, level: float | None = None) -> Interval:
        """The percentile interval, at the run's level or at ``level``."""
        level = self.resampling.level if level is None else level
        return interval(self.values, level, self.resampling)

    def minus(self, other: Replicates) -> Replicates:
        """The paired difference: the same bucket weights for both."""
        return Replicates(self.values - other.values, self.resampling)


class Bootstrap:
    """One result's per-bucket sums (``NAMES``): a row of a ``BucketTable``, its own or one
    shared by the slices of a loss. ``update`` adds a chunk, ``merge`` another accumulator of
    the same result in any order (bucket sums added elementwise), ``result`` the replicates
    of a reduction; plain arrays, so it pickles."""

    def __init__(self, table: BucketTable | None = None) -> None:
        self.table = table if table is not None else BucketTable()
        self.row = self.table.new_row()
        self.table.column("sums")
        self.table.column("entries")

    def get(self, name: str) -> np.ndarray | None:
        column = self.table.columns.get(name)
        return None if column is None else column[self.row]

    def _add(self, name: str, values: np.ndarray) -> None:
        self.table.column(name)[self.row] += values

    def update(self, weighed: Weighed, buckets: Buckets) -> None:
        """Add a chunk's weighted losses (their weights and mask) by their rows' buckets."""
        weighted, weights, mask, scalar = weighed
        n = len(buckets)
        need = f"{setting('ci')} resamples rows: it needs"
        self._add("sums", buckets.sums(per_row(weighted, n, f"{need} one loss value per sample")))
        self._add("entries", buckets.counts() * (weighted.size // n if n else 0))
        if mask is not None:
            self._add("valid", buckets.sums(per_row(mask, n, f"{need} a mask row per sample")))
        if weights is not None and not scalar:
            each = per_row(weights, n, f"{need} one weight per sample, or a number")
            self._add("weights", buckets.sums(each))

    def merge(self, other: Bootstrap) -> None:
        for name in NAMES:
            theirs = other.get(name)
            if theirs is not None:
                self._add(name, theirs)

    def result(
        self,
        reduction: RunningReduction,
        resamples: Resamples,
        held: Callable[[str], np.ndarray] | None = None,
    ) -> Replicates:
        """The value of ``reduction`` (whose sums these are) under each resample's bucket
        weights. ``held(name)``: what rows held at weight 1 add to each resample's sum ``name``
        (``concentration.concentrated``)."""

        def times(name: str) -> np.ndarray:
            total = resamples.times(self, name)
            return total if held is None else total + held(name)

        total = times("sums")
        kind = reduction.divides_by()
        divisor: Any
        if kind == "one":
            # A sum is over a fixed n: n times each resample's mean per entry. (A resample's own
            # sum varies with how many rows it draws, far wider than the sum's sampling error.)
            entries = times("entries")
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(entries != 0, total / entries * reduction.size, np.nan)
            return Replicates(values, resamples.resampling)
        if kind == "scalar":
            divisor = reduction.scalar_weight
        else:
            divisor = times({"weights": "weights", "valid": "valid", "size": "entries"}[kind])
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(divisor != 0, total / divisor, np.nan)
        return Replicates(values, resamples.resampling)


class Cells:
    """The (slice, bucket) pairs of a chunk's rows, slice-major: per-pair sums, each pair's
    bucket (``bucket``), and slice g's pairs from ``bounds[g]`` to ``bounds[g + 1]``."""

    def __init__(self, codes: np.ndarray, k: int, buckets: Buckets) -> None:
        index = codes.astype(np.int64) * BUCKETS + buckets.ids
        self.inverse, present = dense(index)
        self.bucket = (present % BUCKETS).astype(np.int16)
        self.bounds = np.searchsorted(present // BUCKETS, np.arange(k + 1))

    def sums(self, per_row: np.ndarray | None) -> np.ndarray:
        return np.bincount(self.inverse, weights=per_row, minlength=len(self.bucket))


class CellSums(NamedTuple):
    """One chunk's bucket sums (``NAMES``) by slice: per (slice, bucket) pair present, its
    bucket and the sums; slice g's pairs run from ``bounds[g]`` to ``bounds[g + 1]``."""

    bucket: np.ndarray
    bounds: np.ndarray
    sums: dict[str, np.ndarray | None]


def cell_sums(weighed: Weighed, cells: Cells) -> CellSums:
    """What ``Bootstrap.update`` would add for each slice's rows alone, at once for every
    slice."""
    weighted, weights, mask, scalar = weighed
    n = len(cells.inverse)
    entries = weighted.size // n if n else 0
    loss = per_row(weighted, n, "slices need one loss value per sample, or a row of them")
    unmasked = None if mask is None else per_row(mask, n, "slices need a mask row")
    each = None
    if weights is not None and not scalar:
        each = per_row(weights, n, "slices need one weight per sample, or a number")
    sums = {
        "sums": cells.sums(loss),
        "entries": cells.sums(None) * entries,
        "valid": None if unmasked is None else cells.sums(unmasked),
        "weights": None if each is None else cells.sums(each),
    }
    return CellSums(cells.bucket, cells.bounds, sums)
