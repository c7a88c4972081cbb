"""``evaluate``: every loss on the same inputs, on the scheduler they ask for: in order on
this machine (``local.run``), file by file (``parted``), or on a Dask cluster (``cluster``);
then the results are assembled (``results``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from losscli.engine.inputs import InputSpec, PerSampleSink, Progress
from losscli.engine.local import run
from losscli.engine.plan import NAN_POLICIES
from losscli.engine.results import Evaluation, assemble
from losscli.errors import InputError
from losscli.losses.classes import Loss
from losscli.stats.analysis import NO_ANALYSIS, Analysis

if TYPE_CHECKING:
    from losscli.engine.accumulate import Task
    from losscli.engine.mapping import RowCounts
    from losscli.io.datasets import DatasetOutput, Written
    from losscli.stats.gates import Gate


def evaluate(
    losses: list[Loss],
    specs: list[str],
    inputs: InputSpec,
    *,
    nan_policy: str = "raise",
    gates: dict[int, list[Gate]] | None = None,
    keep_per_sample: bool = False,
    sink: PerSampleSink | None = None,
    progress: Progress | None = None,
    chunk_rows: int | None = None,
    output: DatasetOutput | None = None,
    analysis: Analysis = NO_ANALYSIS,
) -> Evaluation:
    """Evaluate every loss on the same inputs (and baseline), in one pass over the data.

    ``keep_per_sample`` keeps the weighted per-sample losses in memory
    (``Result.per_sample``); ``sink`` receives them chunk by chunk instead (then
    ``--reduction none`` results hold no values: the sink had them); ``output`` writes them
    to a Parquet dataset, one file per file of the input table (then the run goes file by
    file, as on a cluster).
    """
    if nan_policy not in NAN_POLICIES:
        raise InputError(f"unknown NaN policy {nan_policy!r}; choose {', '.join(NAN_POLICIES)}")
    _check_per_sample(losses, specs, inputs, analysis)
    drawing = None
    if analysis.resampling is not None:
        from losscli.stats.resample import draw_ahead

        # The resample weights, drawn while the data is read; the thread joined on every way out.
        drawing = draw_ahead(analysis.resampling)
    try:
        if inputs.scheduler or output is not None:
            if keep_per_sample or sink is not None:
                raise InputError(
                    "per-sample losses are not collected from a cluster or while they go to a "
                    f"dataset; write them to one: {inputs.say('output')} DIR/"
                )
            tasks, state, labels, warnings, written = _by_file(
                losses, specs, inputs, nan_policy, progress, output, analysis
            )
        else:
            written = None
            tasks, state, labels, warnings = run(
                losses,
                specs,
                inputs,
                nan_policy=nan_policy,
                keep_per_sample=keep_per_sample,
                sink=sink,
                progress=progress,
                chunk_rows=chunk_rows,
                analysis=analysis,
            )
        # Intervals of non-finite sums are NaN, said by losscli's own warnings, not numpy's.
        with np.errstate(all="ignore"):
            evaluation = assemble(tasks, state, labels, warnings, gates, inputs)
        return evaluation._replace(written=written)
    finally:
        if drawing is not None:
            drawing.join()


def _check_per_sample(
    losses: list[Loss], specs: list[str], inputs: InputSpec, analysis: Analysis
) -> None:
    """A loss with reduction none gives one value per sample: not by slice, nor an interval."""
    pairs = zip(losses, specs, strict=True)
    flat = next((spec for loss, spec in pairs if loss.reduction == "none"), None)
    if flat is not None and analysis.group_by:
        raise InputError(
            f"{inputs.say('group_by')} gives one value per slice; {flat} with reduction none "
            "gives one per sample: drop one of them (per-sample losses carry their row index, "
            "to join with the slice column)"
        )
    if flat is not None and analysis.resampling is not None:
        raise InputError(
            f"{inputs.say('ci')} gives an interval of one value; {flat} with reduction none "
            "gives one per sample"
        )


def _by_file(
    losses: list[Loss],
    specs: list[str],
    inputs: InputSpec,
    nan_policy: str,
    progress: Progress | None,
    output: DatasetOutput | None,
    analysis: Analysis,
) -> tuple[list[Task], RowCounts, dict[str, str], list[str], Written | None]:
    """The run file by file: on the Dask cluster asked for, or on this machine while the
    per-sample losses go to the ``output`` dataset."""
    if inputs.scheduler:
        from losscli.engine.cluster import evaluate_on_cluster

        return evaluate_on_cluster(losses, specs, inputs, nan_policy, progress, output, analysis)
    from losscli.engine.parted import Mapper, evaluate_parts, parts

    files = parts(inputs, whole_table=False)
    return evaluate_parts(
        losses, specs, inputs, files, nan_policy, Mapper(progress), output, analysis
    )
