"""An evaluation in parts: one part per file of the input table, each evaluated on its own by
the local engine's map and merge and returning every loss's ``LossAccumulator`` with the
run's counts; the parts are then merged exactly (``math.fsum``: the order of arrival does not
change a bit). The Dask engine sends each part to a worker; the local engine runs the parts in
turn when the per-sample losses go to a dataset with one file per part (``--output DIR/``).
Whole-input decisions (Hinge's label convention) take a first pass over the parts. No click,
no rich, no Dask.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from losscli.engine.accumulate import LossAccumulator, Task, tasks_for
from losscli.engine.inputs import InputSpec, Progress
from losscli.engine.mapping import RowCounts, whole_input_facts
from losscli.engine.plan import open_inputs, rows_per_chunk
from losscli.errors import InputError
from losscli.io import storage
from losscli.io.datasets import DatasetOutput, Written
from losscli.losses.classes import BatchFacts, Loss
from losscli.stats.analysis import NO_ANALYSIS, Analysis
from losscli.stats.bootstrap import unit_for


class PartOutput(NamedTuple):
    """What one part gives back."""

    accumulators: list[LossAccumulator]
    state: RowCounts
    labels: dict[str, str]
    warnings: list[str]
    written: int  # per-sample rows written to its part file


class Mapper:
    """Runs a function on every part: ``map(fn, parts, *more, report=..., **shared)`` gives
    ``[fn(part, *more_i, **shared) ...]`` in part order; with ``report``, the progress is told
    how many parts are done. This one runs them in turn, on this thread; the Dask engine's
    sends each to a worker."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress

    def map(
        self, fn: Callable[..., Any], *columns: Sequence[Any], report: bool = False, **shared: Any
    ) -> list[Any]:
        results = []
        for i, row in enumerate(zip(*columns, strict=True)):
            results.append(fn(*row, **shared))
            if report and self.progress is not None:
                self.progress(i + 1, len(columns[0]), "files")
        return results


def parts(inputs: InputSpec, *, whole_table: bool) -> list[InputSpec]:
    """The parts of a run: one InputSpec per file of the input table. With ``whole_table``
    false (the local engine), inputs that are not one table are a single part."""
    from losscli.io.readers.base import parse_number, path_kind
    from losscli.io.readers.parquet import dataset_files

    say = inputs.say
    separate = (inputs.y_true, inputs.y_pred, inputs.baseline_pred)
    weight = inputs.sample_weight
    weight_file = isinstance(weight, str) and not inputs.weight_col and parse_number(weight) is None
    table = bool(inputs.data) and not any(separate) and not weight_file
    if whole_table:
        if not table:
            raise InputError(
                f"{say('scheduler')} evaluates one table ({say('data')}, a Parquet dataset or "
                "file, or CSV) with its columns; give labels, predictions and weights as its "
                "columns"
            )
        if inputs.data == "-":
            raise InputError(f"{say('scheduler')} reads files the workers can reach, not stdin")
    data = inputs.data
    if table and data and data != "-" and (storage.is_glob(data) or path_kind(data) == "dir"):
        # Each part reads one file of the dataset, named from its root: the file's hive
        # partition columns stay columns.
        return [inputs._replace(only=(path,), scheduler=None) for path, _ in dataset_files(data)]
    return [inputs._replace(scheduler=None)]


def part_source(inputs: InputSpec) -> str:
    """The file a part reads, as messages name it."""
    named = inputs.only[0] if inputs.only else inputs.data or inputs.y_pred or ""
    return storage.public(named)


def _naming_the_file(inputs: InputSpec, work: Callable[[], Any]) -> Any:
    """``work()``, an input error naming the part's file (rows count from its first row)."""
    try:
        return work()
    except InputError as exc:
        file = part_source(inputs)
        message = exc.unspelled()
        raise InputError(message if file in message else f"{file}: {message}") from None


def part_facts(inputs: InputSpec, nan_policy: str) -> bool:
    """A first-pass task: is every label of this part 0 or 1?"""

    def work() -> bool:
        opened = open_inputs(inputs)
        facts = whole_input_facts(opened, rows_per_chunk(opened), nan_policy)
        return bool(facts.binary_labels)

    return bool(_naming_the_file(inputs, work))


def part_rows(inputs: InputSpec) -> int:
    """A first-pass task for ``--ci`` by row: the part's rows (from a Parquet footer, or
    counted), so that each part numbers its rows from their index in the whole input."""
    from losscli.engine.plan import aligned

    def work() -> int:
        opened = open_inputs(inputs)
        known = [source.n_rows for source in opened.sources]
        if all(n is not None for n in known):
            return int(known[0] or 0)
        return sum(len(chunk["y_pred"]) for _, chunk in aligned(opened, rows_per_chunk(opened)))

    return int(_naming_the_file(inputs, work))


def part_sums(
    inputs: InputSpec,
    first_row: int,
    output: tuple[DatasetOutput, int] | None,
    losses: list[Loss],
    specs: list[str],
    nan_policy: str,
    facts: BatchFacts | None,
    whole_input: bool = False,
    analysis: Analysis = NO_ANALYSIS,
) -> PartOutput:
    """One part evaluated by the local engine, its rows numbered from ``first_row`` for
    ``--ci``; its per-sample losses written to its file of the ``output`` dataset (the
    dataset and the part's number) when one is given."""
    from losscli.engine.local import run

    def work() -> PartOutput:
        with contextlib.ExitStack() as stack:
            part = None
            if output is not None:
                dataset, number = output
                part = stack.enter_context(dataset.part(number, specs, part_source(inputs)))
            tasks, state, labels, warnings = run(
                losses,
                specs,
                inputs,
                nan_policy=nan_policy,
                facts=facts,
                whole_input=whole_input,
                sink=part,
                analysis=analysis,
                first_row=first_row,
            )
            if part is not None:
                part.commit()
        written = part.rows if part is not None else 0
        return PartOutput([t.total for t in tasks], state, labels, warnings, written)

    result: PartOutput = _naming_the_file(inputs, work)
    return result


def evaluate_parts(
    losses: list[Loss],
    specs: list[str],
    inputs: InputSpec,
    parts: Sequence[InputSpec],
    nan_policy: str,
    mapper: Mapper,
    output: DatasetOutput | None = None,
    analysis: Analysis = NO_ANALYSIS,
) -> tuple[list[Task], RowCounts, dict[str, str], list[str], Written | None]:
    """Every part mapped (by a cluster or in turn), then merged in part order: what
    ``evaluate.run`` gives, and what went to the ``output`` dataset."""
    facts = None
    if any(loss.needs_facts for loss in losses):
        facts = BatchFacts(binary_labels=all(mapper.map(part_facts, parts, nan_policy=nan_policy)))
    outputs: list[PartOutput] = mapper.map(
        part_sums,
        parts,
        _first_rows(parts, mapper, analysis),
        [None if output is None else (output, k) for k in range(len(parts))],
        report=True,
        losses=losses,
        specs=specs,
        nan_policy=nan_policy,
        facts=facts,
        whole_input=len(parts) == 1 and not inputs.scheduler,
        analysis=analysis,
    )
    if outputs and outputs[0].accumulators:  # the --group-by columns by name, as read
        analysis = analysis._replace(group_by=outputs[0].accumulators[0].analysis.group_by)
    tasks = tasks_for(losses, specs, inputs.has_baseline(), analysis)
    state, warnings = _merge(tasks, outputs)
    labels = dict(outputs[0].labels)
    if len(parts) > 1:
        labels = {role: storage.public(inputs.data or "") for role in labels}
    written = None
    if output is not None:
        output.finish(len(parts))
        written = Written(output.shown(), len(parts), sum(part.written for part in outputs))
    return tasks, state, labels, warnings, written


def _first_rows(parts: Sequence[InputSpec], mapper: Mapper, analysis: Analysis) -> list[int]:
    """Each part's first row in the whole input, when ``--ci`` resamples rows by their index
    (a first pass counts the parts' rows); else 0."""
    resampling = analysis.resampling
    if resampling is None or len(parts) <= 1 or not unit_for(resampling).numbered:
        return [0] * len(parts)
    counts = mapper.map(part_rows, parts)
    return [sum(counts[:k]) for k in range(len(parts))]


def _merge(tasks: list[Task], outputs: list[PartOutput]) -> tuple[RowCounts, list[str]]:
    """The parts' accumulators merged into the tasks', and their counts and warnings, in part
    order."""
    state = RowCounts()
    warnings: list[str] = []
    for part in outputs:
        for task, accumulator in zip(tasks, part.accumulators, strict=True):
            # A part counts rows from its own first: these are the rows of all before it.
            accumulator.shift(state.rows)
            task.total.merge(accumulator)
        state.add(part.state)
        warnings += part.warnings
    return state, warnings
