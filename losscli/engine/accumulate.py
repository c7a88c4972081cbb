"""Each loss's partial results: ``LossAccumulator`` keeps the running sums of its losses and
the baseline's (by slice too), the checks for likely mistakes, the worst samples and the
distribution. Accumulators merge with ``merge``: the sums are added exactly (``math.fsum``),
so the order of merging does not change the value. ``mapping.map_chunk`` feeds them. No click,
no rich.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from losscli.engine.input_checks import InputChecks
from losscli.engine.inputs import Chunk
from losscli.errors import RowError
from losscli.losses.classes import BatchFacts, Loss
from losscli.losses.reduction import RunningReduction, Weighed, weigh
from losscli.stats.analysis import (
    FIELDS,
    NO_ANALYSIS,
    Analysis,
    Distribution,
    WorstK,
    one_per_sample,
)
from losscli.stats.bootstrap import Bootstrap, Buckets, BucketTable, Cells, CellSums, cell_sums
from losscli.stats.concentration import Increases
from losscli.stats.slice_worst import GroupedWorst
from losscli.stats.slicing import Groups, GroupSums, group_sums


class SliceSums(NamedTuple):
    """One chunk's sums by slice: the slices' keys, samples and sums (and the baseline's); with
    ``--ci``, their bucket sums (the loss's and the baseline's)."""

    keys: list[tuple[Any, ...]]
    n: np.ndarray
    running: GroupSums
    baseline: GroupSums | None
    cells: tuple[CellSums, CellSums | None] | None


class LossAccumulator:
    """One loss's partial results: the running sums of its losses (and of the baseline's) and
    the checks for likely mistakes. ``update`` adds a chunk, ``merge`` another accumulator of
    the same loss, in any order (the sums are added exactly; the checks keep extremes and the
    first row found); plain numbers and lists, so it pickles: the map step's output, whichever
    thread, process or worker computed it."""

    def __init__(
        self,
        loss: Loss,
        with_baseline: bool,
        analysis: Analysis = NO_ANALYSIS,
        spec: str = "",
        tables: tuple[BucketTable, BucketTable] | None = None,
    ) -> None:
        self.loss = loss
        self.spec = spec or loss.name
        resampled = analysis.resampling is not None
        self.running = RunningReduction(loss.reduction)
        self.baseline = RunningReduction(loss.reduction) if with_baseline else None
        #: ``--ci``: the bootstrap of the loss and of the baseline (a slice's are rows of its
        #: loss's ``tables``).
        self.bootstrap, self.baseline_bootstrap = _bootstraps(resampled, with_baseline, tables)
        #: ``--ci`` by slice: the slices' bucket sums, a row per slice (loss and baseline).
        self.tables = (BucketTable(), BucketTable()) if resampled and analysis.group_by else None
        self.checks = InputChecks(loss)
        self.analysis = analysis
        self.worst = WorstK(analysis.worst) if analysis.worst else None
        #: ``--worst-per-slice``: every slice's worst samples, kept together.
        self.slice_worst = (
            GroupedWorst(analysis.worst)
            if analysis.worst and analysis.worst_per_slice and analysis.group_by
            else None
        )
        self.distribution = Distribution() if analysis.bins else None
        #: --ci against a baseline, the whole input's (a slice's sums are a row of ``tables``):
        #: the rows that got most worse, for a noise-aware gate.
        self.increases = Increases() if resampled and with_baseline and tables is None else None
        self.n = 0  # samples evaluated
        self.dropped = 0  # rows with a NaN or inf, dropped (--nan-policy omit)
        #: Per slice (``--group-by``): its key (a tuple of values) and its own accumulator.
        self.slices: dict[tuple[Any, ...], LossAccumulator] | None = (
            {} if analysis.group_by else None
        )
        #: A chunk's sums by slice, not yet in the slices' accumulators (arrays: cheap to
        #: keep, pickle and merge, whatever the number of slices).
        self.pending: list[SliceSums] = []

    def like(self) -> LossAccumulator:
        """An empty accumulator of the same loss and options."""
        return LossAccumulator(self.loss, self.baseline is not None, self.analysis, self.spec)

    def _slice(self, key: tuple[Any, ...]) -> LossAccumulator:
        """The slice's accumulator; a key past ``max_slices`` is an error at once."""
        assert self.slices is not None
        found = self.slices.get(key)
        if found is None:
            if len(self.slices) >= self.analysis.max_slices:
                raise self.analysis.too_many_slices()
            found = LossAccumulator(
                self.loss,
                self.baseline is not None,
                self.analysis.for_slice(),
                self.spec,
                self.tables,
            )
            self.slices[key] = found
        return found

    def update(
        self,
        chunk: Chunk,
        weights: Any,
        offset: int,
        kept_rows: np.ndarray | None,
        facts: BatchFacts | None,
        slices: tuple[np.ndarray, list[tuple[Any, ...]]] | None = None,
        buckets: Buckets | None = None,
    ) -> np.ndarray:
        """Add a chunk of aligned rows (and, by slice, ``slices``: each row's slice number and
        the slices' keys; with ``--ci``, ``buckets``: their rows' buckets); return its weighted
        per-sample losses."""
        y_true, y_pred = chunk["y_true"], chunk["y_pred"]
        self.n += len(y_pred)
        self.checks.update(offset, y_true, y_pred)
        values, mask = _sample_losses(self.loss, y_true, y_pred, facts, offset, kept_rows)
        weighed = weigh(values, weights, mask)
        _record(self.running, self.bootstrap, weighed, buckets)
        if self.analysis:
            self._analyse(weighed.weighted, chunk, weights, offset, kept_rows, slices)
        on_baseline = None
        if self.baseline is not None:
            baseline = chunk["baseline_pred"]
            b_values, b_mask = _sample_losses(self.loss, y_true, baseline, facts, offset, kept_rows)
            on_baseline = weigh(b_values, weights, b_mask)
            _record(self.baseline, self.baseline_bootstrap, on_baseline, buckets)
            if self.increases is not None and buckets is not None:
                index = offset + (kept_rows if kept_rows is not None else np.arange(len(y_pred)))
                self.increases.update(weighed, on_baseline, index, buckets.ids)
        if self.slices is not None and slices is not None:
            codes, keys = slices
            if self.loss.streams(y_pred.ndim):
                self._split(weighed, on_baseline, codes, keys, buckets)
            else:  # a loss over the whole input: on each slice's rows alone
                self._by_slice(chunk, weights, offset, kept_rows, facts, codes, keys)
        return weighed.weighted

    def drop(self, keys: list[tuple[Any, ...]], counts: np.ndarray) -> None:
        """Count rows dropped (``--nan-policy omit``) by slice: a slice whose rows were all
        dropped is still a slice, with no sample."""
        for key, count in zip(keys, counts.tolist(), strict=True):
            target = self._slice(key)
            if target is not None:
                target.dropped += count

    def _split(
        self,
        weighed: Weighed,
        on_baseline: Weighed | None,
        codes: np.ndarray,
        keys: list[tuple[Any, ...]],
        buckets: Buckets | None,
    ) -> None:
        """Each slice's share of the chunk's sums (and bucket sums), taken at once for every
        slice and kept as arrays until merged into the slices' accumulators (``merge``)."""
        groups = Groups(codes, len(keys))
        running = group_sums(weighed, groups)
        baseline = None if on_baseline is None else group_sums(on_baseline, groups)
        cells = None
        if buckets is not None:
            pairs = Cells(codes, len(keys), buckets)
            cells = (
                cell_sums(weighed, pairs),
                None if on_baseline is None else cell_sums(on_baseline, pairs),
            )
        self.pending.append(SliceSums(keys, groups.counts, running, baseline, cells))

    def _add_slices(self, sums: SliceSums) -> None:
        running = sums.running.per_group()
        baseline = [] if sums.baseline is None else sums.baseline.per_group()
        rows: tuple[list[int], list[int]] = ([], [])  # each slice's row of the bucket tables
        for g, (key, n) in enumerate(zip(sums.keys, sums.n.tolist(), strict=True)):
            target = self._slice(key)
            for found, bootstrap in zip(rows, target.bootstraps(), strict=True):
                found.append(-1 if bootstrap is None else bootstrap.row)  # -1: not kept
            target.n += n
            target.running.absorb(running[g])
            if baseline and target.baseline is not None:
                target.baseline.absorb(baseline[g])
        if self.tables is not None and sums.cells is not None:
            # The chunk's (slice, bucket) sums into every slice's row at once.
            for table, cells, at in zip(self.tables, sums.cells, rows, strict=True):
                if cells is not None:
                    table.add_cells(at, cells)

    def bootstraps(self) -> tuple[Bootstrap | None, Bootstrap | None]:
        """The bootstrap of the loss and of the baseline (None: none)."""
        return self.bootstrap, self.baseline_bootstrap

    def _analyse(
        self,
        weighted: np.ndarray,
        chunk: Chunk,
        weights: Any,
        offset: int,
        kept_rows: np.ndarray | None,
        slices: tuple[np.ndarray, list[tuple[Any, ...]]] | None,
    ) -> None:
        per_sample = one_per_sample(np.asarray(weighted, dtype=np.float64), self.spec)
        if self.distribution is not None:
            self.distribution.update(per_sample)
        if self.worst is not None:
            n = len(per_sample)
            rows = offset + (kept_rows if kept_rows is not None else np.arange(n))
            given = np.asarray(1.0 if weights is None else weights, dtype=np.float64)
            weight = given.reshape(n) if given.size == n else np.broadcast_to(given, (n,))
            self.worst.update(per_sample, rows, chunk["y_true"], chunk["y_pred"], weight)
            if self.slice_worst is not None and slices is not None:
                fields = (per_sample, rows, chunk["y_true"], chunk["y_pred"], weight)
                self.slice_worst.update(*slices, dict(zip(FIELDS, fields, strict=True)))

    def _by_slice(
        self,
        chunk: Chunk,
        weights: Any,
        offset: int,
        kept_rows: np.ndarray | None,
        facts: BatchFacts | None,
        codes: np.ndarray,
        uniques: list[tuple[Any, ...]],
    ) -> None:
        """Each slice's rows of the chunk to its own accumulator, the loss evaluated on them
        alone (a loss over the whole input: Circle's pairs within the slice; never with
        ``--ci``, which refuses those losses)."""
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
        n = len(codes)
        kept = kept_rows if kept_rows is not None else np.arange(n)
        per_sample = isinstance(weights, np.ndarray) and weights.ndim and len(weights) == n
        for code, key in enumerate(uniques):
            take = order[bounds[code] : bounds[code + 1]]
            accumulator = self._slice(key)
            part = {role: array[take] for role, array in chunk.items()}
            accumulator.update(
                part, weights[take] if per_sample else weights, offset, kept[take], facts
            )

    def shift(self, first_row: int) -> None:
        """Rows counted from a piece's or a part's own start (the worst samples, the rows
        that got most worse, the first row of a likely mistake) moved to their place in the
        input."""
        for kept in (self.worst, self.slice_worst, self.increases):
            if kept is not None:
                kept.shift(first_row)
        self.checks.shift(first_row)

    def merge(self, other: LossAccumulator) -> None:
        self.n += other.n
        self.dropped += other.dropped
        for pending in other.pending:
            self._add_slices(pending)
        if self.slices is not None and other.slices is not None:
            for key, part in other.slices.items():
                self._slice(key).merge(part)
        # Each partial result with its counterpart: exact sums, extremes, the first row found.
        pairs: tuple[tuple[Any, Any], ...] = (
            (self.running, other.running),
            (self.bootstrap, other.bootstrap),
            (self.baseline, other.baseline),
            (self.baseline_bootstrap, other.baseline_bootstrap),
            (self.checks, other.checks),
            (self.worst, other.worst),
            (self.slice_worst, other.slice_worst),
            (self.distribution, other.distribution),
            (self.increases, other.increases),
        )
        for mine, theirs in pairs:
            if mine is not None and theirs is not None:
                mine.merge(theirs)

    def rekey(self, typed: dict[tuple[Any, ...], tuple[Any, ...]]) -> None:
        """The slices' keys replaced by ``typed`` ones (CSV text typed by its column:
        ``readers.tables.typed_keys``); slices whose keys become one are merged."""
        assert self.slices is not None
        slices: dict[tuple[Any, ...], LossAccumulator] = {}
        for key, part in self.slices.items():
            new = typed.get(key, key)
            if new in slices:
                slices[new].merge(part)
            else:
                slices[new] = part
        self.slices = slices
        if self.slice_worst is not None:
            self.slice_worst.rekey(typed)

    def result(self) -> tuple[Any, Any]:
        """The reduced value and the baseline's (None without a baseline)."""
        return self.running.value(), None if self.baseline is None else self.baseline.value()


def _bootstraps(
    resampled: bool, with_baseline: bool, tables: tuple[BucketTable, BucketTable] | None
) -> tuple[Bootstrap | None, Bootstrap | None]:
    """With ``--ci``, the loss's bootstrap and the baseline's: rows of ``tables`` when given
    (a slice's), else each its own."""
    if not resampled and tables is None:
        return None, None
    running, baseline = tables or (None, None)
    return Bootstrap(running), Bootstrap(baseline) if with_baseline else None


def _record(
    reduction: RunningReduction,
    bootstrap: Bootstrap | None,
    weighed: Weighed,
    buckets: Buckets | None,
) -> None:
    """Weighted losses added to a reduction's sums and, with ``--ci``, to its bootstrap."""
    reduction.record(weighed)
    if bootstrap is not None and buckets is not None:
        bootstrap.update(weighed, buckets)


class Task:
    """One loss being evaluated: its spec, the accumulator of the whole input so far, and the
    per-sample values if kept."""

    def __init__(
        self, loss: Loss, spec: str, with_baseline: bool, analysis: Analysis = NO_ANALYSIS
    ) -> None:
        self.loss = loss
        self.spec = spec
        self.total = LossAccumulator(loss, with_baseline, analysis, spec)
        self.kept: list[np.ndarray] = []


def tasks_for(
    losses: list[Loss], specs: list[str], with_baseline: bool, analysis: Analysis
) -> list[Task]:
    """One Task per loss of a run, each with an empty accumulator."""
    return [
        Task(loss, spec, with_baseline, analysis) for loss, spec in zip(losses, specs, strict=True)
    ]


def _sample_losses(
    loss: Loss,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    facts: BatchFacts | None,
    offset: int,
    kept_rows: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    return shifted(lambda: loss.per_sample(y_true, y_pred, facts), offset, kept_rows)


def shifted(compute: Callable[[], Any], offset: int, kept_rows: np.ndarray | None) -> Any:
    """``compute()``, a RowError's row moved from the chunk to its place in the input."""
    try:
        return compute()
    except RowError as exc:
        row = int(kept_rows[exc.row]) if kept_rows is not None else exc.row
        raise RowError(exc.template, offset + row) from None
