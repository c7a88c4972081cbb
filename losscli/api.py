"""The Python API for notebooks: ``losscli.evaluate`` mirrors ``losscli eval``, on numpy arrays,
pandas objects or paths, and returns a ``Report`` whose ``to_dict()`` is the command's JSON
document and ``to_pandas()`` a DataFrame. The command calls this same function. No click, no
rich.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from losscli.engine import Evaluation, InputSpec, Result
from losscli.engine import evaluate as run_evaluation
from losscli.errors import InputError, LossCliError
from losscli.io.readers.memory import InMemory
from losscli.losses.classes import Loss
from losscli.stats.analysis import Analysis
from losscli.stats.resample import MAX_RESAMPLES, resampling_for


class Report:
    """What ``evaluate`` found: ``results`` (one per loss), ``passed`` (every gate), and the
    same document as ``losscli eval --format json`` (``to_dict``)."""

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation

    @property
    def results(self) -> list[Result]:
        return self.evaluation.results

    @property
    def passed(self) -> bool:
        return self.evaluation.passed

    @property
    def warnings(self) -> list[str]:
        return list(self.evaluation.warnings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``losscli eval --format json`` (NaN and inf as None)."""
        from losscli.report.render import report

        return report(self.evaluation)

    def to_pandas(self) -> Any:
        """One row per result, the columns of ``losscli eval -f csv``: the JSON result's keys,
        nested ones joined with ``_`` (``loss``, ``spec``, ``config_delta``, ``reduction``,
        ``value``, ``n_samples``, ``slice_region``, ``ci_low``, ``difference``,
        ``difference_ci_high``, ``distribution_quantiles_p50``, ``gates``, ``passed``, ...);
        an integer slice key is an integer column (empty on the whole input's row), and
        ``worst`` holds each result's worst samples when asked for."""
        from losscli.report.render import report
        from losscli.report.tabular import to_pandas

        return to_pandas(report(self.evaluation), self.results)

    def __repr__(self) -> str:
        from losscli.engine.results import slice_label

        def value(v: Any) -> Any:
            return float(v) if isinstance(v, (int, float)) else v  # np.float64 as a number

        shown = ", ".join(
            f"{r.spec}{'' if r.slice is None else f' [{slice_label(r.slice)}]'}={value(r.value)!r}"
            for r in self.results
        )
        return f"Report({shown})"


class ArgumentTypeError(LossCliError, TypeError):
    """A Python argument of the wrong type (``bootstrap=True`` where a count is expected)."""


def _whole(value: Any, name: str, low: int, high: int, shape: str = "") -> int | None:
    """``value`` as a whole number from ``low`` to ``high`` (None stays None); a bool, a float
    or text is a TypeError naming the parameter, a number out of range a ValueError."""
    import numbers

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name}= takes a whole number, got {value!r}")
    if not low <= int(value) <= high:
        raise InputError(f"{name}= must be {shape or f'from {low} to {high}'}, got {value!r}")
    return int(value)


def _fraction(value: Any, name: str, or_true: bool) -> float | bool | None:
    """A level strictly between 0 and 1 (``ci=`` also True or False)."""
    import numbers

    if value is None or (or_true and isinstance(value, bool)):
        return value
    also = ", or True" if or_true else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        what = "a level" if or_true else "a number"
        raise ArgumentTypeError(f"{name}= takes {what} between 0 and 1{also}, got {value!r}")
    if not 0 < float(value) < 1:
        raise InputError(f"{name}= must be between 0 and 1 (exclusive){also}, got {value!r}")
    return float(value)


def _bins(histogram: Any) -> int:
    """``histogram=``: None or False (none), True (30 bins) or 1 to 1000 bins, as the
    command's --histogram."""
    import numbers

    if histogram is None or histogram is False:
        return 0
    if histogram is True:
        return 30
    if not isinstance(histogram, numbers.Integral):
        raise ArgumentTypeError(f"histogram= takes a whole number or True, got {histogram!r}")
    bins = _whole(histogram, "histogram", 1, 1000, "from 1 to 1000 (or True: 30)")
    assert bins is not None
    return bins


def _weight(value: Any) -> Any:
    """``sample_weight=``: a number stays a number (never read as a path)."""
    import numbers

    if isinstance(value, bool):
        raise ArgumentTypeError(f"sample_weight= takes a number, an array or a path, got {value!r}")
    return float(value) if isinstance(value, numbers.Real) else value


def _aligned(given: dict[str, Any]) -> dict[str, Any]:
    """pandas objects (Series, DataFrames) given for different roles, paired by their index
    as pandas pairs them: reordered to the first one's index when they hold the same labels
    in another order; other labels are an error (pandas would find no pair for some rows)."""
    indexed = {k: v for k, v in given.items() if hasattr(v, "index") and hasattr(v, "reindex")}
    if len(indexed) < 2:
        return given
    first, *others = indexed
    index = indexed[first].index
    out = dict(given)
    for role in others:
        other = indexed[role].index
        if other.equals(index):
            continue
        if not (index.is_unique and other.is_unique and len(index) == len(other)) or not (
            other.isin(index).all()
        ):
            raise InputError(
                f"{role}= has other index labels than {first}= (pandas would align them and "
                "find no pair for some rows): give them the same index, or arrays "
                "(.to_numpy()) to pair rows by position"
            )
        out[role] = indexed[role].reindex(index)
    return out


def _named(value: Any, role: str) -> Any:
    """A path as it is (str or os.PathLike); anything else is data given in Python."""
    import os

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return InMemory(value, f"{role} ({type(value).__name__})")


def _columns(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def evaluate(
    losses: str | Loss | Sequence[str | Loss],
    y_true: Any = None,
    y_pred: Any = None,
    *,
    nan_policy: str = "raise",
    **options: Any,
) -> Report:
    """Evaluate losses as ``losscli eval`` does, on arrays, pandas objects or paths.

    ``losses`` are Keras identifiers with their configuration (``"huber(delta=2.0)"``) or
    ``losscli.losses.classes`` objects. ``y_true``/``y_pred``/``sample_weight``/``baseline_pred``:
    numpy arrays, lists, pandas Series, or paths; ``sample_weight`` may be a number. ``data``:
    a pandas DataFrame or the path of a table, with ``true_col``/``pred_col``/``weight_col``.
    ``params`` sets a parameter on every loss that takes it (``{"from_logits": True}``).
    ``worst=K`` lists the K samples of largest weighted loss; ``histogram=BINS`` (or True for
    30) the distribution. ``nan_policy``: ``"raise"``, ``"omit"`` or ``"propagate"``. The
    other options are ``prepare``'s: ``y_true``, ``y_pred``, ``sample_weight``, ``data``,
    ``true_col``, ``pred_col``, ``weight_col``, ``baseline_pred``, ``baseline_col`` (the
    baseline's columns: of ``baseline_pred``, or of the predictions' table), ``reduction``,
    ``dtype``, ``params``, ``one_hot``, ``worst``, ``histogram``, ``input_format``, ``header``,
    ``delimiter``, ``scheduler``, ``group_by`` (a column or columns of ``data``, or of
    ``groups``, a table row for row with ``y_true``: one result per slice after the whole
    input's), ``min_slice_size``, ``max_slices``, ``worst_per_slice`` (the worst samples of
    each slice too), ``ci`` (a level, or True for 0.95), ``bootstrap``, ``seed``. They take
    the command's ranges: out of range is a ValueError, a wrong type (``bootstrap=True``) a
    TypeError, each naming the parameter. pandas Series are paired by their index, as pandas
    pairs them (other labels are an error).

    >>> import numpy as np, losscli
    >>> report = losscli.evaluate("mse", np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 4.0]),
    ...                           worst=1)
    >>> report.results[0].value
    np.float64(1.3333333333333333)
    >>> report.to_dict()["results"][0]["worst"]
    [{'row': 2, 'y_true': 2.0, 'y_pred': 4.0, 'weight': 1.0, 'loss': 4.0}]
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"label": [1.0, 0.0], "prob": [0.9, 0.2]})
    >>> losscli.evaluate(["bce", "mse"], data=frame, true_col="label", pred_col="prob",
    ...                  reduction="sum").to_pandas()[["spec", "value"]]
      spec     value
    0  bce  0.328504
    1  mse  0.050000
    """
    return prepare(losses, y_true, y_pred, **options).run(nan_policy=nan_policy)


class Prepared(NamedTuple):
    """A run's losses (built), their specs as given, its inputs and what to find besides."""

    losses: list[Loss]
    specs: list[str]
    inputs: InputSpec
    analysis: Analysis

    def run(self, *, nan_policy: str = "raise", **engine: Any) -> Report:
        """Evaluate; ``engine`` takes the command's gates, per-sample sink, progress and
        dataset output."""
        evaluation = run_evaluation(
            self.losses,
            self.specs,
            self.inputs,
            nan_policy=nan_policy,
            analysis=self.analysis,
            **engine,
        )
        return Report(evaluation)


def prepare(
    losses: str | Loss | Sequence[str | Loss],
    y_true: Any = None,
    y_pred: Any = None,
    *,
    sample_weight: Any = None,
    data: Any = None,
    true_col: str | Sequence[str] | None = None,
    pred_col: str | Sequence[str] | None = None,
    weight_col: str | None = None,
    baseline_pred: Any = None,
    baseline_col: str | Sequence[str] | None = None,
    reduction: str = "sum_over_batch_size",
    dtype: str = "float64",
    params: dict[str, Any] | None = None,
    one_hot: bool = False,
    worst: int | None = None,
    worst_per_slice: bool = False,
    histogram: int | bool | None = None,
    input_format: str | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    scheduler: str | None = None,
    group_by: str | Sequence[str] | None = None,
    groups: Any = None,
    min_slice_size: int = 1,
    max_slices: int = 1000,
    ci: float | bool | None = None,
    bootstrap: int | None = None,
    seed: int | None = None,
    significance: float | None = None,
    bin_scale: str = "linear",
) -> Prepared:
    """The losses built and the inputs named, as ``evaluate`` takes them (the command
    checks its outputs against ``inputs.paths()`` before it runs)."""
    from losscli.losses.spec import build_losses

    given = [losses] if isinstance(losses, (str, Loss)) else list(losses)
    texts = [item for item in given if isinstance(item, str)]
    built_by_text = iter(
        build_losses(texts, options=params or {}, reduction=reduction, dtype=dtype) if texts else []
    )
    built = [next(built_by_text) if isinstance(item, str) else item for item in given]
    specs = [item if isinstance(item, str) else item.name for item in given]
    worst = _whole(worst, "worst", 1, 100_000)
    bins = _bins(histogram)
    bootstrap = _whole(bootstrap, "bootstrap", 1, MAX_RESAMPLES)
    if bin_scale not in ("linear", "log", "auto"):
        raise InputError(f"bin_scale= must be linear, log or auto, got {bin_scale!r}")
    seed = _whole(seed, "seed", 0, 2**63 - 1)
    ci = _fraction(ci, "ci", or_true=True)
    significance = _fraction(significance, "significance", or_true=False)
    min_slice_size = _whole(min_slice_size, "min_slice_size", 1, 2**63, "at least 1") or 1
    max_slices = _whole(max_slices, "max_slices", 1, 2**63, "at least 1") or 1
    # One object given twice is one input (read once; the same-data warnings see it).
    twice = {
        role: value is not None and not isinstance(value, str) and value is y_pred
        for role, value in (("y_true", y_true), ("baseline_pred", baseline_pred))
    }
    roles = _aligned(
        {
            "y_true": y_true,
            "y_pred": y_pred,
            "sample_weight": _weight(sample_weight),
            "baseline_pred": baseline_pred,
            "groups": groups,
        }
    )
    y_true, y_pred, weight = roles["y_true"], roles["y_pred"], roles["sample_weight"]
    baseline_pred, groups = roles["baseline_pred"], roles["groups"]
    predictions = _named(y_pred, "y_pred")
    inputs = InputSpec(
        y_true=predictions if twice["y_true"] else _named(y_true, "y_true"),
        y_pred=predictions,
        sample_weight=weight if isinstance(weight, float) else _named(weight, "sample_weight"),
        data=_named(data, "data"),
        true_cols=_columns(true_col),
        pred_cols=_columns(pred_col),
        weight_col=weight_col,
        input_format=input_format,
        header=header,
        delimiter=delimiter,
        one_hot=one_hot,
        scheduler=scheduler,
        baseline_pred=predictions
        if twice["baseline_pred"]
        else _named(baseline_pred, "baseline_pred"),
        baseline_cols=_columns(baseline_col),
        group_by=_columns(group_by),
        groups=_named(groups, "groups"),
    )
    if worst_per_slice and not (worst and group_by):
        raise InputError(
            "worst_per_slice lists the worst samples of each slice: it needs worst=K and group_by"
        )
    analysis = Analysis(
        worst or 0,
        bins,
        tuple(_columns(group_by)),
        int(min_slice_size),
        int(max_slices),
        resampling_for(ci, bootstrap, seed, significance),
        bool(worst_per_slice),
        bin_scale,
    )
    return Prepared(built, specs, inputs, analysis)
