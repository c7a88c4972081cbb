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
from losscli.errors import InputError, TooManySlices
from losscli.losses.classes import Loss
from losscli.stats.analysis import NO_ANALYSIS, Analysis

if TYPE_CHECKING:
    from losscli.io.datasets import DatasetOutput
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
    drawing = None
    pairs = zip(losses, specs, strict=True)
    flat = next((spec for loss, spec in pairs if loss.reduction == "none"), None)
    if flat is not None and analysis.group_by:
        raise InputError(
            f"{inputs.say('group_by')} gives one value per slice; {flat} with reduction none "
            "gives one per sample: drop one of them (per-sample losses carry their row index, "
            "to join with the slice column)"
        )
    if analysis.resampling is not None:
        if flat is not None:
            raise InputError(
                f"{inputs.say('ci')} gives an interval of one value; {flat} with reduction none "
                "gives one per sample"
            )
        from losscli.stats.resample import draw_ahead

        # The resample weights, drawn while the data is read; the thread joined on every way out.
        drawing = draw_ahead(analysis.resampling)
    try:
        written = None
        if inputs.scheduler or output is not None:
            if keep_per_sample or sink is not None:
                raise InputError(
                    "per-sample losses are not collected from a cluster or while they go to a "
                    f"dataset; write them to one: {inputs.say('output')} DIR/"
                )
            if inputs.scheduler:
                from losscli.engine.cluster import evaluate_on_cluster

                tasks, state, labels, warnings, written = evaluate_on_cluster(
                    losses, specs, inputs, nan_policy, progress, output, analysis
                )
            else:
                from losscli.engine.parted import Mapper, evaluate_parts, parts

                files = parts(inputs, whole_table=False)
                tasks, state, labels, warnings, written = evaluate_parts(
                    losses, specs, inputs, files, nan_policy, Mapper(progress), output, analysis
                )
        else:
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
    except TooManySlices as exc:  # the settings named as this front end spells them
        raise InputError(exc.spelled(inputs.say)) from None
    finally:
        if drawing is not None:
            drawing.join()
