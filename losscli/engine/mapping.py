"""Map and merge: one chunk of aligned rows to every loss's partial results.

``map_chunk`` is a pure function of a chunk and the ``Context`` (what every chunk is
evaluated with): it applies the NaN policy, turns labels one-hot when asked, and feeds each
loss's ``LossAccumulator``. ``RowCounts`` adds the chunk outcomes of a run in input order. No
click, no rich.
"""

from __future__ import annotations

import numpy as np

from losscli.engine.accumulate import LossAccumulator, Task, shifted
from losscli.engine.inputs import Chunk, PerSampleSink
from losscli.engine.plan import Inputs, aligned, as_samples
from losscli.io.readers.tables import GROUP, GroupCodes
from losscli.losses.classes import BatchFacts
from losscli.losses.functions import to_categorical
from losscli.stats.analysis import Analysis
from losscli.stats.bootstrap import unit_for
from losscli.stats.slicing import factorize


def shape_chunk(chunk: Chunk, labels: dict[str, str]) -> Chunk:
    """The numeric roles of a chunk, one row per sample (the slice keys left out)."""
    shaped = {
        role: as_samples(array, labels[role]) for role, array in chunk.items() if role != GROUP
    }
    weights = shaped.get("sample_weight")
    if weights is not None and weights.ndim == 2 and weights.shape[1] == 1:
        shaped["sample_weight"] = weights[:, 0]  # one weight per sample
    return shaped


def _bad_rows(chunk: Chunk) -> dict[str, np.ndarray]:
    """Per role with a NaN or inf, which rows hold one."""
    bad = {}
    for role, array in chunk.items():
        # A sum is NaN or inf when any value is (or, rarely, when it overflows): one pass
        # without a temporary in the common case, the exact check only when it is not finite.
        if np.isfinite(np.add.reduce(array, axis=None)):
            continue
        rows = np.asarray(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))
        if rows.any():
            bad[role] = rows
    return bad


_ROLE_ORDER = ("y_true", "y_pred", "sample_weight", "baseline_pred")


class Context:
    """What every chunk is evaluated with."""

    def __init__(
        self,
        tasks: list[Task],
        opened: Inputs,
        nan_policy: str,
        facts: BatchFacts | None,
        one_hot: bool,
        first_row: int = 0,
    ) -> None:
        self.tasks = tasks
        self.labels = opened.labels
        self.scalar_weight = opened.scalar_weight
        self.nan_policy = nan_policy
        self.facts = facts
        self.one_hot = one_hot
        #: ``--ci``: the rows' buckets are keyed by their index in the whole input: a part's
        #: rows (a file of a dataset, evaluated on its own) start here.
        self.first_row = first_row
        resampling = tasks[0].total.analysis.resampling if tasks else None
        #: ``--ci``: the unit resampled, whose bucket each row goes to.
        self.unit = None if resampling is None else unit_for(resampling)
        #: The codes of the ``--group-by`` values, kept by the source that reads them.
        self.group_codes: GroupCodes | None = next(
            (
                getattr(source, "group_codes", None)
                for source in opened.sources
                if GROUP in source.roles
            ),
            None,
        )


def limit_slices(opened: Inputs, analysis: Analysis) -> None:
    """The sources' ``--group-by`` values refused past ``max_slices`` per column, before a
    row is read (``GroupCodes.limit``)."""
    for source in opened.sources:
        group_codes = getattr(source, "group_codes", None)
        if group_codes is not None:
            group_codes.limit = (analysis.max_slices, analysis.too_many_slices)


class Outcome:
    """What one chunk contributes, computed on a worker thread and merged in order."""

    def __init__(self, rows: int) -> None:
        self.rows = rows  # rows read, before any was dropped
        self.n = 0  # rows evaluated
        self.bad: dict[str, tuple[int, int]] = {}  # role -> (first bad row, non-finite count)
        self.accumulators: list[LossAccumulator] = []  # one per loss
        #: With --nan-policy omit by slice: the dropped rows counted by slice, one per loss.
        self.dropped: list[LossAccumulator] = []
        self.weighted: list[np.ndarray] = []  # each loss's weighted per-sample losses
        self.offset = 0  # the input row number of the chunk's first row
        self.kept_rows: np.ndarray | None = None  # the rows evaluated, when some were dropped
        self.lowest_weight = np.inf  # of the rows evaluated

    def index(self) -> np.ndarray:
        """The input row numbers of the rows evaluated."""
        rows = self.kept_rows if self.kept_rows is not None else np.arange(self.n)
        return self.offset + rows


def map_chunk(offset: int, raw: Chunk, ctx: Context) -> Outcome:
    """One chunk read at input row ``offset`` evaluated for every loss of the run."""
    chunk = shape_chunk(raw, ctx.labels)
    outcome = Outcome(len(chunk["y_pred"]))
    kept_rows = None
    if ctx.nan_policy != "propagate":
        bad = _bad_rows(chunk)
        if bad and ctx.nan_policy == "raise":
            _count_bad(outcome, chunk, bad, offset)
            return outcome  # an error is coming: nothing to evaluate
        if bad:
            drop = np.logical_or.reduce(list(bad.values()))
            kept_rows = np.flatnonzero(~drop)
            chunk = {role: array[kept_rows] for role, array in chunk.items()}
            if GROUP in raw and ctx.group_codes is not None:
                _drop_by_slice(outcome, ctx, raw[GROUP][drop])
    outcome.n = len(chunk["y_pred"])
    if outcome.n:
        outcome.offset, outcome.kept_rows = offset, kept_rows
        _evaluate(outcome, chunk, raw.get(GROUP), ctx)
    return outcome


def _count_bad(outcome: Outcome, chunk: Chunk, bad: dict[str, np.ndarray], offset: int) -> None:
    """Per role, its first row with a NaN or inf and how many values are not finite."""
    for role, rows in bad.items():
        count = int(np.count_nonzero(~np.isfinite(chunk[role])))
        outcome.bad[role] = (offset + int(np.argmax(rows)), count)


def _evaluate(outcome: Outcome, chunk: Chunk, codes: np.ndarray | None, ctx: Context) -> None:
    """The rows kept of a chunk (``outcome.kept_rows``; ``codes``: all its rows' slice value
    codes) to a part of every loss's accumulator."""
    offset, kept_rows = outcome.offset, outcome.kept_rows
    if ctx.one_hot:
        chunk["y_true"] = shifted(
            lambda: to_categorical(chunk["y_true"], chunk["y_pred"].shape[-1]), offset, kept_rows
        )
    weights = chunk.get("sample_weight", ctx.scalar_weight)
    if "sample_weight" in chunk:
        outcome.lowest_weight = float(np.min(chunk["sample_weight"]))
    buckets = None
    if ctx.unit is not None:
        buckets = ctx.unit.buckets(chunk, offset + ctx.first_row, kept_rows)
    slices = None
    if codes is not None and ctx.group_codes is not None:
        slices = factorize(codes[kept_rows] if kept_rows is not None else codes, ctx.group_codes)
    for task in ctx.tasks:
        accumulator = task.total.like()
        outcome.weighted.append(
            accumulator.update(chunk, weights, offset, kept_rows, ctx.facts, slices, buckets)
        )
        outcome.accumulators.append(accumulator)


def _drop_by_slice(outcome: Outcome, ctx: Context, codes: np.ndarray) -> None:
    """The dropped rows counted by slice, in parts of their own (merged as the chunk's)."""
    assert ctx.group_codes is not None
    numbers, keys = factorize(codes, ctx.group_codes)
    counts = np.bincount(numbers, minlength=len(keys))
    for task in ctx.tasks:
        part = task.total.like()
        part.drop(keys, counts)
        outcome.dropped.append(part)


class RowCounts:
    """The run's row counts: rows read and evaluated, omitted, the first non-finite row, and
    what each role read; chunk outcomes added up in input order."""

    def __init__(self) -> None:
        self.rows = 0
        self.n = 0
        self.omitted = 0
        self.first_bad: tuple[str, int] | None = None
        self.counts: dict[str, int] = {}
        self.lowest_weight = np.inf
        #: Each role's columns, when read from a table (``Inputs.columns``).
        self.columns: dict[str, list[str]] = {}

    def add(self, other: RowCounts) -> None:
        """Add the totals of another part of the input (a cluster task's file), given in
        input order."""
        self.rows += other.rows
        self.n += other.n
        self.omitted += other.omitted
        self.lowest_weight = min(self.lowest_weight, other.lowest_weight)
        self.columns = self.columns or other.columns
        for role, count in other.counts.items():
            self.counts[role] = self.counts.get(role, 0) + count
        if self.first_bad is None:
            self.first_bad = other.first_bad

    def merge(
        self,
        outcome: Outcome,
        tasks: list[Task],
        keep_per_sample: bool,
        sink: PerSampleSink | None,
    ) -> None:
        self.rows += outcome.rows
        for role, (_, count) in outcome.bad.items():
            self.counts[role] = self.counts.get(role, 0) + count
        if outcome.bad and self.first_bad is None:
            role = next(r for r in _ROLE_ORDER if r in outcome.bad)
            self.first_bad = (role, outcome.bad[role][0])
        if self.first_bad is not None:
            return  # an error is coming: only the counts matter
        self.n += outcome.n
        self.omitted += outcome.rows - outcome.n
        self.lowest_weight = min(self.lowest_weight, outcome.lowest_weight)
        if outcome.dropped:
            for task, dropped in zip(tasks, outcome.dropped, strict=True):
                task.total.merge(dropped)
        if not outcome.accumulators:
            return
        for i, (task, accumulator) in enumerate(zip(tasks, outcome.accumulators, strict=True)):
            task.total.merge(accumulator)
            # Per-sample values stay in memory when asked for, or when nothing else receives them.
            if keep_per_sample or (task.loss.reduction == "none" and sink is None):
                task.kept.append(outcome.weighted[i])
        if sink is not None:
            sink(outcome.weighted, outcome.index())


def whole_input_facts(opened: Inputs, rows: int, nan_policy: str) -> BatchFacts:
    """A first pass for the decisions Keras makes over the whole batch."""
    from losscli.losses.functions import labels_are_binary

    for _, raw in aligned(opened, rows):
        chunk = shape_chunk(raw, opened.labels)
        if nan_policy == "omit":
            bad = _bad_rows(chunk)
            if bad:
                keep = ~np.logical_or.reduce(list(bad.values()))
                chunk = {role: array[keep] for role, array in chunk.items()}
        if not labels_are_binary(chunk["y_true"]):
            return BatchFacts(binary_labels=False)
    return BatchFacts(binary_labels=True)
