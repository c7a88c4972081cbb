"""A run's results: every loss's value, its baseline, intervals and gates, by slice, and the
warnings, assembled from the accumulators of any engine. No click, no rich."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.engine.input_checks import negative_weights, omitted_warning
from losscli.errors import InputError, setting
from losscli.io.readers.tables import typed_keys
from losscli.stats.bootstrap import Replicates, Resamples
from losscli.stats.gates import GateOutcome
from losscli.stats.resample import FEW_SAMPLES
from losscli.text import slice_label as slice_label  # where renderers find it

if TYPE_CHECKING:
    from losscli.engine.accumulate import LossAccumulator, Task
    from losscli.engine.inputs import InputSpec
    from losscli.engine.mapping import RowCounts
    from losscli.io.datasets import Written
    from losscli.losses.classes import Loss
    from losscli.stats.gates import Gate
    from losscli.stats.resample import Interval


class Result(NamedTuple):
    """One loss evaluated: the value, its baseline and gates, on request per-sample losses."""

    spec: str
    loss: Loss
    value: Any
    n_samples: int
    per_sample: np.ndarray | None = None
    baseline: Any = None
    gates: Sequence[GateOutcome] = ()
    warnings: Sequence[str] = ()  # likely mistakes in this loss's inputs
    #: ``--worst K``: the K samples with the largest weighted loss, largest first.
    worst: list[dict[str, Any]] | None = None
    #: ``--histogram``: count, extremes, quantiles and histogram of the per-sample losses.
    distribution: dict[str, Any] | None = None
    #: ``--group-by``: the slice's key by column; ``{}`` for the whole input (``(all)``);
    #: None when the run has no slices.
    slice: dict[str, Any] | None = None
    #: ``--ci``: the value's interval, and with a baseline the difference's (paired).
    ci: Interval | None = None
    difference_ci: Interval | None = None

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def difference(self) -> float | None:
        if self.baseline is None:
            return None
        return float(self.value) - float(self.baseline)


class Evaluation(NamedTuple):
    """Every loss's result, with what was read."""

    results: list[Result]
    sources: dict[str, str]
    n_samples: int
    n_omitted: int = 0
    warnings: Sequence[str] = ()
    #: Where the per-sample losses went, for a dataset output (``--output DIR/``).
    written: Written | None = None
    #: Each role's columns, when read from a table: ``{"y_pred": ["y_pred", ...], ...}``.
    columns: dict[str, list[str]] | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def _slice_results(
    task: Task, gates: list[Gate], say: Callable[[str], str]
) -> tuple[list[Result], str | None]:
    """One result per slice of ``task``, sorted by key (``_slice_result``). Then, when there
    are gates and no slice had a value to gate, why (else None)."""
    total = task.total
    assert total.slices is not None
    typed = typed_keys(list(total.slices))
    if typed:
        total.rekey(typed)
    assert total.slices is not None
    resampling = total.analysis.resampling
    resamples = None if resampling is None else Resamples(resampling)
    by_key = {  # in the tables' row order: a block at a time
        key: _slice_result(task, key, part, gates, say, resamples)
        for key, part in total.slices.items()
    }
    results = [by_key[key] for key in sorted(by_key, key=_key_order)]
    if not gates or any(r.value is not None or not r.n_samples for r in results):
        return results, None
    largest = max(r.n_samples for r in results)
    size = say("min_slice_size")
    return results, (
        f"{task.spec}: {' and '.join(_spelled(g, say) for g in gates)} gated no slice: "
        f"each of the {len(results)} slices has fewer than {size} "
        f"{total.analysis.min_slice_size} samples (the largest has {largest}); lower {size} "
        "or drop the gate"
    )


def _slice_result(
    task: Task,
    key: tuple[Any, ...],
    part: LossAccumulator,
    gates: list[Gate],
    say: Callable[[str], str],
    resamples: Resamples | None,
) -> Result:
    """A slice's result: a slice of fewer samples than ``min_slice_size`` gets no value (and
    a warning), and no gate; a slice whose rows were all dropped (``--nan-policy omit``) gets
    no value, and fails its gates."""
    analysis = task.total.analysis
    where = dict(zip(analysis.group_by, key, strict=True))
    label = f"{task.spec} [{slice_label(where)}]"
    if part.n == 0:  # rows only with a NaN or inf, dropped
        reason = (
            f"each of its {part.dropped} rows held a NaN or inf ({say('nan_policy')} omit "
            "dropped them): no value, which never passes a gate"
        )
        return Result(
            task.spec,
            task.loss,
            None,
            0,
            gates=[GateOutcome(g, False, reason) for g in gates],
            warnings=[f"{label}: {reason}"],
            slice=where,
        )
    if part.n < analysis.min_slice_size:
        message = (
            f"{label}: {part.n} samples, fewer than {say('min_slice_size')} "
            f"{analysis.min_slice_size}: no value"
        )
        return Result(task.spec, task.loss, None, part.n, warnings=[message], slice=where)
    value, baseline = part.result()
    slice_worst = task.total.slice_worst
    checked = _checked(part, gates, value, baseline, label, resamples, few=False)
    return Result(
        task.spec,
        task.loss,
        value,
        part.n,
        baseline=baseline,
        gates=checked.gates,
        warnings=part.checks.messages() + checked.warnings,
        slice=where,
        ci=checked.ci,
        difference_ci=checked.difference_ci,
        worst=None if slice_worst is None else slice_worst.result(key),
    )


def _spelled(gate: Gate, say: Callable[[str], str]) -> str:
    """A gate as the front end spells it: ``--slice-max 1``, ``slice_max 1``."""
    return f"{say(gate.kind)} {gate.bound:g}"


class GateNotEvaluated(InputError):
    """Gates that gated nothing (every slice too small): an input error, not a pass. Why, by
    loss (``messages``, by the loss's place in the run), and the whole ``evaluation``, for
    ``check``'s other checks."""

    def __init__(self, messages: dict[int, str], evaluation: Evaluation) -> None:
        super().__init__(next(iter(messages.values())))
        self.messages = messages
        self.evaluation = evaluation


class _Checked(NamedTuple):
    ci: Interval | None
    difference_ci: Interval | None
    gates: list[GateOutcome]
    warnings: list[str]


def _checked(
    accumulator: LossAccumulator,
    gates: list[Gate],
    value: Any,
    baseline: Any,
    where: str,
    resamples: Resamples | None = None,
    few: bool = True,
) -> _Checked:
    """The value's interval and the difference's (with ``--ci``; ``resamples``: the bucket
    weights, shared by a loss's slices), and the gates checked; a noise-aware gate gets the
    difference's interval at its own level. ``where`` names the result in a warning (``few``:
    one when it has too few samples; slices get one line per run, ``few_samples``)."""
    contributed = accumulator.running.contributed
    resampling = accumulator.analysis.resampling
    if resampling is None:
        return _Checked(None, None, [g.check(value, baseline, contributed) for g in gates], [])
    warnings = []
    if few and accumulator.n < FEW_SAMPLES:
        warnings.append(
            f"{where}: an interval from {accumulator.n} samples; below {FEW_SAMPLES} a "
            "bootstrap interval is often too narrow (it covers the value less often than its "
            "level says)"
        )
    resamples = resamples or Resamples(resampling)
    assert accumulator.bootstrap is not None
    replicates = accumulator.bootstrap.result(accumulator.running, resamples)
    if accumulator.baseline is None or accumulator.baseline_bootstrap is None:
        gated = [g.check(value, baseline, contributed) for g in gates]
        return _Checked(replicates.interval(), None, gated, warnings)
    change = replicates.minus(
        accumulator.baseline_bootstrap.result(accumulator.baseline, resamples)
    )
    gated = [_noise_checked(g, accumulator, value, baseline, change, resamples) for g in gates]
    return _Checked(replicates.interval(), change.interval(), gated, warnings)


def _noise_checked(
    gate: Gate,
    accumulator: LossAccumulator,
    value: Any,
    baseline: Any,
    change: Replicates,
    resamples: Resamples,
) -> GateOutcome:
    """A gate against a baseline, with ``--ci``: a noise-aware gate gets the change's
    interval at its own level, and a significance gate the change without its most extreme
    rows (``concentration.concentrated``)."""
    level = gate.level(change.resampling.level)
    extremes = None
    if gate.significance is not None and not gate.non_inferiority and accumulator.increases:
        from losscli.stats.concentration import concentrated

        assert accumulator.bootstrap is not None and accumulator.baseline is not None
        assert accumulator.baseline_bootstrap is not None
        extremes = partial(
            concentrated,
            accumulator.increases,
            (accumulator.running, accumulator.bootstrap),
            (accumulator.baseline, accumulator.baseline_bootstrap),
            resamples,
            level,
            gate.significance,
        )
    noise = change.interval(level) if gate.noise_aware else None
    return gate.check(value, baseline, accumulator.running.contributed, noise, extremes)


def few_samples(results: list[Result]) -> list[str]:
    """One warning for the slices whose interval comes from too few samples."""
    sizes = {slice_label(r.slice): r.n_samples for r in results if r.slice}
    small = {
        slice_label(r.slice): r.n_samples
        for r in results
        if r.slice and r.ci is not None and r.n_samples < FEW_SAMPLES
    }
    if not small:
        return []
    return [
        f"{len(small)} of {len(sizes)} slices have fewer than {FEW_SAMPLES} samples (the "
        f"smallest {min(small.values())}): below {FEW_SAMPLES} a bootstrap interval is often "
        "too narrow (it covers the value less often than its level says)"
    ]


def _key_order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Slices sorted by their values, nulls last, numbers before text."""
    return tuple((v is None, isinstance(v, str), v if v is not None else 0) for v in key)


def assemble(
    tasks: list[Task],
    state: RowCounts,
    labels: dict[str, str],
    warnings: list[str],
    gates: dict[int, list[Gate]] | None,
    inputs: InputSpec,
) -> Evaluation:
    """The results of a run, with its gates and warnings, from any engine."""
    if state.n == 0:
        raise InputError("every row holds a NaN or inf: nothing is left to evaluate")
    results = []
    unevaluated: dict[int, str] = {}  # by loss: why its slice gates gated nothing
    for i, task in enumerate(tasks):
        gates_i = (gates or {}).get(i, [])
        results.append(_whole_result(task, state.n, gates_i))
        if task.total.slices is not None:
            slice_gates = [g for g in gates_i if g.kind.startswith("slice_")]
            found, why = _slice_results(task, slice_gates, inputs.say)
            results += found
            if why is not None:
                unevaluated[i] = why
    evaluation = Evaluation(
        results,
        labels,
        state.n,
        state.omitted,
        _run_warnings(warnings, state, results, inputs.say),
        columns=state.columns or None,
    )
    if unevaluated:
        raise GateNotEvaluated(unevaluated, evaluation)
    return evaluation


def _whole_result(task: Task, n: int, gates: list[Gate]) -> Result:
    """A loss's result on the whole input, with its gates (those not by slice)."""
    total = task.total
    unreduced = task.loss.reduction == "none"
    per_sample = None
    if task.kept:
        per_sample = np.concatenate(task.kept) if len(task.kept) > 1 else task.kept[0]
    value, baseline = (per_sample, None) if unreduced else total.result()
    if gates and unreduced:
        raise InputError(
            f"gates on {task.spec} need one value; {setting('reduction')} none gives one per sample"
        )
    messages = total.checks.messages()
    if not total.running.contributed and not unreduced:
        messages.append(
            f"{task.spec}: no sample contributed (every weight is 0 or every label is "
            f"masked): the value {value!r} is Keras' divide-no-nan, not a loss"
        )
    checked = _Checked(None, None, [], [])  # --reduction none: no gate, no interval
    if not unreduced:
        whole_gates = [g for g in gates if not g.kind.startswith("slice_")]
        checked = _checked(total, whole_gates, value, baseline, task.spec)
    analysis = total.analysis
    return Result(
        task.spec,
        task.loss,
        value,
        n,
        per_sample,
        baseline,
        checked.gates,
        messages + checked.warnings,
        worst=total.worst.result() if total.worst is not None else None,
        distribution=None
        if total.distribution is None
        else total.distribution.result(analysis.bins, analysis.bin_scale),
        slice={} if total.slices is not None else None,
        ci=checked.ci,
        difference_ci=checked.difference_ci,
    )


def _run_warnings(
    warnings: list[str], state: RowCounts, results: list[Result], say: Callable[[str], str]
) -> list[str]:
    """The run's warnings, each once: the engine's, the counts', then each result's."""
    found = list(warnings)
    if state.lowest_weight < 0:
        found.append(negative_weights(state.lowest_weight))
    if state.omitted:
        found.append(omitted_warning(state.omitted, say))
    for result in results:
        found += result.warnings
    found += few_samples(results)
    return list(dict.fromkeys(found))
