"""One input, in order, on this machine: chunks of rows in bounded memory.

The layers: ``plan`` opens the inputs and aligns their blocks into chunks of the same rows;
``mapping`` maps each chunk to every loss's partial results (``map_chunk``, a pure function;
``accumulate`` holds them) and merges them exactly; this module schedules the chunks on this
machine (a reader thread, up to WORKERS threads for arithmetic-heavy losses); ``results``
assembles what they give.
Losses whose per-sample values depend on the whole input (Circle's pairs, Dice/Tversky over
the sample axis) are evaluated on the whole input in memory; hinge losses get the whole-input
{0, 1} label decision from a first pass. This is the library behind ``losscli eval`` and ``losscli
check``: no click, no rich.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.engine.accumulate import Task, tasks_for
from losscli.engine.input_checks import check_labels, nan_error
from losscli.engine.inputs import Chunk, InputSpec, PerSampleSink, Progress
from losscli.engine.mapping import (
    Context,
    Merged,
    Outcome,
    limit_slices,
    map_chunk,
    shape_chunk,
    whole_input_facts,
)
from losscli.engine.plan import (
    Inputs,
    aligned,
    open_inputs,
    prefetched,
    rows_per_chunk,
)
from losscli.errors import InputError, LossCliError
from losscli.io.readers.base import InOrderOnly, Piece, Source
from losscli.io.readers.tables import GROUP
from losscli.losses.classes import BatchFacts, Loss
from losscli.stats.analysis import NO_ANALYSIS, Analysis

if TYPE_CHECKING:
    pass

#: Chunks evaluated at once: numpy releases the GIL, so two cores share the arithmetic.
WORKERS = min(2, os.cpu_count() or 1)

#: Above this time per input byte (measured on a chunk), chunks go to WORKERS threads:
#: 0.8 ms for a 2 MiB chunk. Measured here: MSE takes about 0.4 ms, BCE 1.7 ms.
PARALLEL_SECONDS_PER_BYTE = 0.8e-3 / (2 << 20)


class _Done:
    """A result already computed, with the ``result()`` of a future."""

    def __init__(self, value: Outcome) -> None:
        self.value = value

    def result(self) -> Outcome:
        return self.value


class _Inline:
    """An executor that runs each call at once, on this thread."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., Outcome], *args: Any) -> _Done:
        return _Done(fn(*args))


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
) -> tuple[list[Task], Merged, dict[str, str], list[str]]:
    """The local engine: every chunk of the inputs mapped and merged. ``facts`` given (by a
    first pass elsewhere) are used as they are; ``whole_input=False`` refuses losses that need
    the whole input at once (a cluster task sees one file); ``first_row`` is the index of the
    first row in the whole input (a part's), by which ``--ci`` resamples."""
    opened = open_inputs(inputs)
    names = [getattr(s, "group_names", None) for s in opened.sources if GROUP in s.roles]
    if names and names[0] is not None:  # slices are labelled by column, not by pattern
        analysis = analysis._replace(group_by=tuple(names[0]))
    limit_slices(opened, analysis)
    if any(loss.needs_facts for loss in losses):
        for source in opened.sources:
            source.spool()  # a first pass over the labels: standard input is kept in a file
    rows = chunk_rows or rows_per_chunk(opened)
    total = opened.sources[0].n_rows if all(s.n_rows is not None for s in opened.sources) else None
    tasks = tasks_for(losses, specs, inputs.has_baseline(), analysis)
    # Every chunk stream is closed on the way out, errors included: its reader thread joined.
    with np.errstate(all="ignore"), contextlib.ExitStack() as streams:
        chunks = _in_order_chunks(opened, rows)
        streams.callback(getattr(chunks, "close", lambda: None))
        first = next(chunks, None)
        if first is None:
            raise InputError(f"{opened.labels['y_pred']} holds no samples")
        shaped = shape_chunk(first[1], opened.labels)
        ndim = shaped["y_pred"].ndim
        for loss, spec in zip(losses, specs, strict=True):
            loss.check_axis(ndim)
            check_labels(loss, spec, shaped, inputs)
        streaming = all(loss.streams(ndim) for loss in losses)
        if not streaming and (not whole_input or analysis.resampling is not None):
            name = next(s for loss, s in zip(losses, specs, strict=True) if not loss.streams(ndim))
            raise InputError(
                f"{name} needs the whole input at once (every pair, or a sum over samples); "
                + (
                    f"{inputs.say('ci')} resamples rows, which it cannot"
                    if whole_input
                    else "evaluate it without a cluster"
                )
            )
        if not streaming:
            # In-memory path: a loss over the whole input sees it as one chunk.
            everything = [first, *chunks]
            merged = {role: np.concatenate([c[role] for _, c in everything]) for role in first[1]}
            stream: Iterator[tuple[int, Chunk]] = iter([(0, merged)])
        else:
            stream = itertools.chain([first], chunks)
        if facts is None and streaming and any(loss.needs_facts for loss in losses):
            facts = whole_input_facts(opened, rows, nan_policy)
        ctx = Context(tasks, opened, nan_policy, facts, inputs.one_hot, first_row)
        pieces = []
        if (
            len(opened.sources) == 1
            and WORKERS > 1
            and streaming
            and sink is None
            and not keep_per_sample
            and all(loss.reduction != "none" for loss in losses)
        ):
            pieces = opened.sources[0].pieces()
            if analysis.resampling is not None and any(p.offset is None for p in pieces):
                pieces = []  # rows numbered only once read: --ci keys buckets by row index
        if len(pieces) > 1:
            # Parts of the input that decode on their own (Parquet row groups): each thread
            # decodes a piece and evaluates it at once, while its rows are in its core's cache.
            getattr(chunks, "close", lambda: None)()
            try:
                state = _by_piece(opened.sources[0], pieces, rows, ctx, tasks, progress, total)
            except (InOrderOnly, LossCliError):
                # A piece that cannot be read on its own, or an error: the input again, in
                # order, says exactly what one reader says (a row counted from the start, the
                # first error met; a damaged file fails the same way).
                opened = open_inputs(inputs)
                limit_slices(opened, analysis)
                stream = _in_order_chunks(opened, rows)
                streams.callback(getattr(stream, "close", lambda: None))
                ctx = Context(tasks, opened, nan_policy, facts, inputs.one_hot, first_row)
                for task in tasks:
                    task.total = task.total.like()
                state = _in_order(stream, rows, ctx, tasks, False, None, progress, total)
        else:
            state = _in_order(stream, rows, ctx, tasks, keep_per_sample, sink, progress, total)
        if state.first_bad is not None:
            role, row = state.first_bad
            raise nan_error(opened.labels, role, row, state.counts[role], inputs.say)
    state.columns = opened.columns
    warnings = list(opened.warnings)
    for source in opened.sources:
        warnings += source.warnings
    return tasks, state, dict(opened.labels), warnings


def _in_order_chunks(opened: Inputs, rows: int) -> Iterator[tuple[int, Chunk]]:
    """The inputs' chunks in input order. Parsing CSV or decoding Parquet releases the GIL, so
    a reader thread keeps the second core busy; plain .npy reads are copies, faster without
    thread handoffs."""
    chunks = aligned(opened, rows)
    return prefetched(chunks) if any(source.decodes for source in opened.sources) else chunks


def _in_order(
    stream: Iterator[tuple[int, Chunk]],
    rows: int,
    ctx: Context,
    tasks: list[Task],
    keep_per_sample: bool,
    sink: PerSampleSink | None,
    progress: Progress | None,
    total: int | None,
) -> Merged:
    """The chunks as they come, mapped on this thread or shared with a second one."""
    state = Merged()
    # The first chunks are evaluated here, the third timed (the first ones pay for warming
    # up): arithmetic-heavy losses (logs, exps) then share the chunks between two cores;
    # cheap ones stay on this thread, where no handoff costs more than it saves.
    parallel = False
    for _ in range(3):
        item = next(stream, None)
        if item is None:
            break
        start = time.perf_counter()
        outcome = map_chunk(*item, ctx)
        seconds_per_byte = (time.perf_counter() - start) / max(
            sum(a.nbytes for a in item[1].values()), 1
        )
        state.merge(outcome, tasks, keep_per_sample, sink)
        full = len(item[1]["y_pred"]) == rows  # a short chunk's time is mostly overhead
        parallel = full and WORKERS > 1 and seconds_per_byte > PARALLEL_SECONDS_PER_BYTE
    if parallel:
        from concurrent.futures import ThreadPoolExecutor

        executor: Any = ThreadPoolExecutor(WORKERS, "losscli")
    else:
        executor = _Inline()
    with executor as pool:
        pending: deque[Any] = deque()  # futures, in input order
        try:
            for offset, raw in stream:
                pending.append(pool.submit(map_chunk, offset, raw, ctx))
                if len(pending) > WORKERS:
                    state.merge(pending.popleft().result(), tasks, keep_per_sample, sink)
                    if progress is not None:
                        progress(state.rows, total, "rows")
            while pending:
                state.merge(pending.popleft().result(), tasks, keep_per_sample, sink)
                if progress is not None:
                    progress(state.rows, total, "rows")
        finally:
            for future in pending:
                if hasattr(future, "cancel"):
                    future.cancel()
    return state


def _by_piece(
    source: Source,
    pieces: list[Piece],
    rows: int,
    ctx: Context,
    tasks: list[Task],
    progress: Progress | None,
    total: int | None,
) -> Merged:
    """Every piece read and mapped on a thread of its own, the outcomes merged in input order;
    at most one piece per thread is waiting to be merged."""
    from concurrent.futures import ThreadPoolExecutor

    def work(piece: Piece) -> list[Outcome]:
        outcomes = []
        for offset, raw in _numbered(source, piece, rows):
            outcome = map_chunk(offset, raw, ctx)
            outcome.weighted = []  # no one takes per-sample losses on this path
            outcomes.append(outcome)
        return outcomes

    state = Merged()
    with ThreadPoolExecutor(WORKERS, "losscli") as pool:
        pending: deque[Any] = deque()
        try:
            for piece in pieces:
                pending.append((piece, pool.submit(work, piece)))
                while len(pending) > WORKERS or (pending and piece is pieces[-1]):
                    done, future = pending.popleft()
                    first_row = state.rows  # of this piece: the rows of those before it
                    for outcome in future.result():
                        if done.offset is None:  # its rows counted from its own start
                            outcome.bad = {
                                role: (row + first_row, count)
                                for role, (row, count) in outcome.bad.items()
                            }
                        state.merge(outcome, tasks, False, None)
                    if progress is not None:
                        progress(state.rows, total, "rows")
        finally:
            for _, future in pending:
                future.cancel()
    return state


def _numbered(source: Source, piece: Piece, rows: int) -> Iterator[tuple[int, Chunk]]:
    offset = piece.offset or 0
    for block in source.checked(piece.read(rows)):
        yield offset, block
        offset += len(next(iter(block.values())))
