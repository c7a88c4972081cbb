"""One input on this machine, in bounded memory: its pieces read, mapped and merged in order.

``plan`` opens the inputs and aligns their blocks into chunks; ``mapping`` maps a chunk to
every loss's partial results; this module schedules the work; ``results`` assembles it.
One reading path: the input is a list of pieces. A source that decodes in parts (Parquet row
groups, CSV byte ranges) gives several, each read and evaluated by a thread while its rows are
in its core's cache; any other input is one piece read in order, its chunks shared with a
second thread when the arithmetic is heavy. Outcomes are merged in input order. Losses over
the whole input (Circle's pairs, Dice/Tversky over the sample axis) see it as one chunk; hinge
losses get the whole-input {0, 1} label decision from a first pass. No click, no rich.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from losscli.engine.accumulate import Task, tasks_for
from losscli.engine.input_checks import check_labels, nan_error
from losscli.engine.inputs import Chunk, InputSpec, PerSampleSink, Progress
from losscli.engine.mapping import (
    Context,
    Outcome,
    RowCounts,
    limit_slices,
    map_chunk,
    shape_chunk,
    whole_input_facts,
)
from losscli.engine.plan import Inputs, aligned, open_inputs, prefetched, rows_per_chunk
from losscli.errors import InputError, LossCliError
from losscli.io.readers.base import InOrderOnly, Piece
from losscli.io.readers.tables import GROUP
from losscli.losses.classes import BatchFacts, Loss
from losscli.stats.analysis import NO_ANALYSIS, Analysis

#: Chunks evaluated at once: numpy releases the GIL, so two cores share the arithmetic.
WORKERS = min(2, os.cpu_count() or 1)

#: Above this time per input byte (measured on a chunk), chunks go to WORKERS threads:
#: 0.8 ms for a 2 MiB chunk. Measured here: MSE takes about 0.4 ms, BCE 1.7 ms.
PARALLEL_SECONDS_PER_BYTE = 0.8e-3 / (2 << 20)

#: Chunks of a piece read in order evaluated on this thread first, the last of them timed
#: (the first ones pay for warming up).
WARM_UP_CHUNKS = 3


def run(
    losses: list[Loss],
    specs: list[str],
    inputs: InputSpec,
    *,
    nan_policy: str = "raise",
    keep_per_sample: bool = False,
    sink: PerSampleSink | None = None,
    progress: Progress | None = None,
    chunk_rows: int | None = None,
    facts: BatchFacts | None = None,
    whole_input: bool = True,
    analysis: Analysis = NO_ANALYSIS,
    first_row: int = 0,
) -> tuple[list[Task], RowCounts, dict[str, str], list[str]]:
    """The local engine: every chunk of the inputs mapped and merged. ``facts`` given (by a
    first pass elsewhere) are used as they are; ``whole_input=False`` refuses losses that need
    the whole input at once (a cluster task sees one file); ``first_row`` is the index of the
    first row in the whole input (a part's), by which ``--ci`` resamples."""
    opened, analysis = _open(inputs, analysis, any(loss.needs_facts for loss in losses))
    rows = chunk_rows or rows_per_chunk(opened)
    tasks = tasks_for(losses, specs, inputs.has_baseline(), analysis)
    merging = _Merging(tasks, keep_per_sample, sink, progress, _total(opened))
    reading = _Reading(inputs, analysis, nan_policy, facts, first_row, rows)
    # Every chunk stream is closed on the way out, errors included: its reader thread joined.
    with np.errstate(all="ignore"), contextlib.ExitStack() as streams:
        chunks = _in_order_chunks(opened, rows, streams)
        first, streaming = _probe(chunks, losses, specs, opened, reading, whole_input)
        if facts is None and streaming and any(loss.needs_facts for loss in losses):
            reading = reading._replace(facts=whole_input_facts(opened, rows, nan_policy))
        state, opened = _read(first, chunks, streaming, reading, opened, merging, streams)
        if state.first_bad is not None:
            role, row = state.first_bad
            raise nan_error(opened.labels, role, row, state.counts[role], inputs.say)
    state.columns = opened.columns
    warnings = list(opened.warnings)
    for source in opened.sources:
        warnings += source.warnings
    return tasks, state, dict(opened.labels), warnings


def _open(inputs: InputSpec, analysis: Analysis, spool: bool) -> tuple[Inputs, Analysis]:
    """The inputs opened, their slices labelled by column and limited; read-once sources
    kept in a file when ``spool`` (a first pass over the labels reads them again)."""
    opened = open_inputs(inputs)
    names = [getattr(s, "group_names", None) for s in opened.sources if GROUP in s.roles]
    if names and names[0] is not None:  # slices are labelled by column, not by pattern
        analysis = analysis._replace(group_by=tuple(names[0]))
    limit_slices(opened, analysis)
    if spool:
        for source in opened.sources:
            source.spool()  # a first pass over the labels: standard input is kept in a file
    return opened, analysis


def _total(opened: Inputs) -> int | None:
    """The input's rows when every source knows them before reading."""
    known = all(s.n_rows is not None for s in opened.sources)
    return opened.sources[0].n_rows if known else None


def _probe(
    chunks: Iterator[tuple[int, Chunk]],
    losses: list[Loss],
    specs: list[str],
    opened: Inputs,
    reading: _Reading,
    whole_input: bool,
) -> tuple[tuple[int, Chunk], bool]:
    """The first chunk, each loss checked against its shapes; and whether every loss
    streams (its per-sample values do not depend on the rest of the input)."""
    first = next(chunks, None)
    if first is None:
        raise InputError(f"{opened.labels['y_pred']} holds no samples")
    shaped = shape_chunk(first[1], opened.labels)
    ndim = shaped["y_pred"].ndim
    for loss, spec in zip(losses, specs, strict=True):
        loss.check_axis(ndim)
        check_labels(loss, spec, shaped, reading.inputs)
    streaming = all(loss.streams(ndim) for loss in losses)
    if not streaming and (not whole_input or reading.analysis.resampling is not None):
        name = next(s for loss, s in zip(losses, specs, strict=True) if not loss.streams(ndim))
        say = reading.inputs.say
        why = "evaluate it without a cluster"
        if whole_input:
            why = f"{say('ci')} resamples rows, which it cannot"
        raise InputError(
            f"{name} needs the whole input at once (every pair, or a sum over samples); {why}"
        )
    return first, streaming


class _Reading(NamedTuple):
    """What reading the input again needs: how it is named and evaluated."""

    inputs: InputSpec
    analysis: Analysis
    nan_policy: str
    facts: BatchFacts | None
    first_row: int
    rows: int

    def context(self, tasks: list[Task], opened: Inputs) -> Context:
        return Context(
            tasks, opened, self.nan_policy, self.facts, self.inputs.one_hot, self.first_row
        )


@dataclass
class _Merging:
    """Where outcomes go, in input order: the tasks' totals, the per-sample values kept or
    given to the sink, and the progress told."""

    tasks: list[Task]
    keep_per_sample: bool
    sink: PerSampleSink | None
    progress: Progress | None
    total: int | None

    def keeps(self) -> bool:
        """Whether per-sample losses are taken (kept, sent to the sink, or unreduced)."""
        unreduced = any(task.loss.reduction == "none" for task in self.tasks)
        return self.keep_per_sample or self.sink is not None or unreduced

    def merge(self, state: RowCounts, job: _Job, outcomes: list[Outcome]) -> None:
        first_row = state.rows  # of this job: the rows of those before it
        for outcome in outcomes:
            if job.renumber:
                _renumber(outcome, first_row)
            state.merge(outcome, self.tasks, self.keep_per_sample, self.sink)

    def tell(self, state: RowCounts) -> None:
        if self.progress is not None:
            self.progress(state.rows, self.total, "rows")


def _renumber(outcome: Outcome, first_row: int) -> None:
    """A piece's rows counted from its own start moved to their place in the input: the
    first bad rows, the worst samples and the rows the checks for likely mistakes name."""
    outcome.bad = {role: (row + first_row, count) for role, (row, count) in outcome.bad.items()}
    outcome.offset += first_row
    for accumulator in outcome.accumulators:
        accumulator.shift(first_row)


def _read(
    first: tuple[int, Chunk],
    chunks: Iterator[tuple[int, Chunk]],
    streaming: bool,
    reading: _Reading,
    opened: Inputs,
    merging: _Merging,
    streams: contextlib.ExitStack,
) -> tuple[RowCounts, Inputs]:
    """The input's pieces evaluated: the source's own when threads may read them at once,
    else the input read in order from its ``first`` chunk; and the inputs read last."""
    pieces = _pieces(opened, reading.analysis) if streaming and not merging.keeps() else []
    if len(pieces) > 1:
        getattr(chunks, "close", lambda: None)()  # the first chunk was a probe
        return _on_pieces(pieces, reading, opened, merging, streams)
    piece = _in_order_piece(first, chunks, streaming)
    return _evaluate([piece], reading.rows, reading.context(merging.tasks, opened), merging), opened


def _in_order_chunks(
    opened: Inputs, rows: int, streams: contextlib.ExitStack
) -> Iterator[tuple[int, Chunk]]:
    """The inputs' chunks in input order, with their first row's index, closed with
    ``streams``. Parsing CSV or decoding Parquet releases the GIL, so a reader thread keeps
    the second core busy; plain .npy reads are copies, faster without thread handoffs."""
    chunks = aligned(opened, rows)
    if any(source.decodes for source in opened.sources):
        chunks = prefetched(chunks)
    streams.callback(getattr(chunks, "close", lambda: None))
    return chunks


def _in_order_piece(
    first: tuple[int, Chunk], chunks: Iterator[tuple[int, Chunk]], streaming: bool
) -> Piece:
    """The inputs read in order as one piece, from the ``first`` chunk already read: its
    chunks as they come or, for a loss over the whole input, all of them as one chunk."""

    def read(rows: int) -> Iterator[Chunk]:
        everything = (chunk for _, chunk in itertools.chain([first], chunks))
        if streaming:
            yield from everything
            return
        blocks = list(everything)
        yield {role: np.concatenate([block[role] for block in blocks]) for role in first[1]}

    return Piece(0, read)


def _pieces(opened: Inputs, analysis: Analysis) -> list[Piece]:
    """Parts of a single source that threads may read and evaluate at once, their errors of
    reading said as the source's; none with one worker, or with ``--ci`` when rows are
    numbered only once read (it keys buckets by row index)."""
    if len(opened.sources) != 1 or WORKERS < 2:
        return []
    source = opened.sources[0]
    pieces = source.pieces()
    if analysis.resampling is not None and any(p.offset is None for p in pieces):
        return []

    def checked(piece: Piece) -> Piece:
        return Piece(piece.offset, lambda rows: source.checked(piece.read(rows)))

    return [checked(piece) for piece in pieces]


def _on_pieces(
    pieces: list[Piece],
    reading: _Reading,
    opened: Inputs,
    merging: _Merging,
    streams: contextlib.ExitStack,
) -> tuple[RowCounts, Inputs]:
    """The pieces on threads; a piece that cannot be read on its own, or an error, sends the
    input to one reader in order, which says exactly what it says alone (a row counted from
    the start, the first error met; a damaged file fails the same way)."""
    try:
        context = reading.context(merging.tasks, opened)
        return _evaluate(pieces, reading.rows, context, merging), opened
    except (InOrderOnly, LossCliError):
        pass
    # The pieces read so far are of no use: the reader in order numbers its rows and lines
    # from the start of the file, in chunks cut from there (the order of the sums).
    opened = open_inputs(reading.inputs)
    limit_slices(opened, reading.analysis)
    chunks = _in_order_chunks(opened, reading.rows, streams)
    for task in merging.tasks:
        task.total = task.total.like()
    piece = Piece(0, lambda rows: (chunk for _, chunk in chunks))
    return _evaluate([piece], reading.rows, reading.context(merging.tasks, opened), merging), opened


class _Job(NamedTuple):
    """Work whose outcomes are merged in input order: a chunk of the piece read in order,
    or a whole piece read and evaluated on a thread."""

    work: Callable[[], list[Outcome]]
    #: Rows counted from the job's own start (a piece whose first row is known once the
    #: pieces before it are read).
    renumber: bool = False
    chunk: Chunk | None = None


def _evaluate(pieces: list[Piece], rows: int, ctx: Context, merging: _Merging) -> RowCounts:
    """Every piece mapped and merged in input order: one piece's chunks as they come, on
    this thread or shared with a second; several pieces a thread each."""
    state = RowCounts()
    if len(pieces) == 1:
        jobs: Iterator[_Job] = _chunk_jobs(pieces[0], rows, ctx)
        parallel = _warm_up(jobs, rows, state, merging)
    else:
        jobs = (_Job(partial(_map_piece, p, rows, ctx), p.offset is None) for p in pieces)
        parallel = True
    with _executor(parallel) as pool, contextlib.closing(_in_order(pool, jobs)) as done:
        for job, outcomes in done:
            merging.merge(state, job, outcomes)
            merging.tell(state)
    return state


def _chunk_jobs(piece: Piece, rows: int, ctx: Context) -> Iterator[_Job]:
    for offset, raw in _numbered(piece, rows):
        yield _Job(partial(_map_one, offset, raw, ctx), chunk=raw)


def _map_one(offset: int, raw: Chunk, ctx: Context) -> list[Outcome]:
    return [map_chunk(offset, raw, ctx)]


def _map_piece(piece: Piece, rows: int, ctx: Context) -> list[Outcome]:
    """A piece read and mapped on this thread, while its rows are in this core's cache."""
    outcomes = []
    for offset, raw in _numbered(piece, rows):
        outcome = map_chunk(offset, raw, ctx)
        outcome.weighted = []  # no one takes per-sample losses on this path
        outcomes.append(outcome)
    return outcomes


def _warm_up(jobs: Iterator[_Job], rows: int, state: RowCounts, merging: _Merging) -> bool:
    """The first chunks evaluated on this thread, the last of them timed: True when their
    arithmetic is heavy enough (logs, exps) to share the rest between two cores; cheap
    losses stay on this thread, where no handoff costs more than it saves."""
    parallel = False
    for job in itertools.islice(jobs, WARM_UP_CHUNKS):
        assert job.chunk is not None
        start = time.perf_counter()
        outcomes = job.work()
        size = max(sum(a.nbytes for a in job.chunk.values()), 1)
        seconds_per_byte = (time.perf_counter() - start) / size
        merging.merge(state, job, outcomes)
        full = len(job.chunk["y_pred"]) == rows  # a short chunk's time is mostly overhead
        parallel = full and WORKERS > 1 and seconds_per_byte > PARALLEL_SECONDS_PER_BYTE
    return parallel


def _executor(parallel: bool) -> Any:
    if not parallel:
        return _Inline()
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(WORKERS, "losscli")


def _in_order(pool: Any, jobs: Iterable[_Job]) -> Generator[tuple[_Job, list[Outcome]], None, None]:
    """Each job's outcomes, in the jobs' order; at most WORKERS jobs wait to be merged, and
    those still waiting are cancelled when this ends early (an error)."""
    pending: deque[tuple[_Job, Any]] = deque()  # futures, in input order
    try:
        for job in jobs:
            pending.append((job, pool.submit(job.work)))
            if len(pending) > WORKERS:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        for _, future in pending:
            future.cancel()


class _Done:
    """A result already computed, with the ``result()`` and ``cancel()`` of a future."""

    def __init__(self, value: list[Outcome]) -> None:
        self.value = value

    def result(self) -> list[Outcome]:
        return self.value

    def cancel(self) -> bool:
        return False


class _Inline:
    """An executor that runs each call at once, on this thread."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[[], list[Outcome]]) -> _Done:
        return _Done(fn())


def _numbered(piece: Piece, rows: int) -> Iterator[tuple[int, Chunk]]:
    """A piece's blocks with the input row number of their first row (counted from the
    piece's start when its offset is not known)."""
    offset = piece.offset or 0
    for block in piece.read(rows):
        yield offset, block
        offset += len(next(iter(block.values())))
