"""The Python API for notebooks: ``losscli.evaluate`` mirrors ``losscli eval``, on numpy arrays,
pandas objects or paths, and returns a ``Report`` whose ``to_dict()`` is the command's JSON
document and ``to_pandas()`` a DataFrame. The command calls this same function. No click, no
rich.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from losscli.analysis import Analysis
from losscli.engine import Evaluation, InputSpec, Result
from losscli.engine import evaluate as run_evaluation
from losscli.errors import InputError
from losscli.losses import Loss
from losscli.readers.memory import InMemory
from losscli.resample import resampling_for


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
        from losscli.render import report

        return report(self.evaluation)

    def to_pandas(self) -> Any:
        """One row per result: ``loss``, ``spec``, ``reduction``, ``value``, ``n_samples``, and
        when asked for ``baseline``/``difference``, ``passed``, ``p50``/``p90``/``p99``
        (the distribution), ``worst`` (its list of samples), ``ci_low``/``ci_high`` and
        ``difference_low``/``difference_high`` (the intervals), and with slices ``slice`` (its
        label: ``(all)``, ``region=eu``) and a column per ``group_by`` column."""
        import pandas as pd

        rows = []
        for entry in self.to_dict()["results"]:
            row = {k: entry[k] for k in ("loss", "spec", "reduction", "value", "n_samples")}
            for key in ("baseline", "difference", "passed", "worst"):
                if key in entry:
                    row[key] = entry[key]
            if "distribution" in entry:
                row.update(entry["distribution"]["quantiles"])
            if "slice" in entry:
                from losscli.results import slice_label

                row["slice"] = slice_label(entry["slice"] or {})
                row.update(entry["slice"] or {})  # a column per --group-by column
            for key, prefix in (("ci", "ci"), ("difference_ci", "difference")):
                if entry.get(key):
                    row[f"{prefix}_low"] = entry[key]["low"]
                    row[f"{prefix}_high"] = entry[key]["high"]
            rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        shown = ", ".join(f"{r.spec}={r.value!r}" for r in self.results)
        return f"Report({shown})"


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
    ``losscli.losses`` objects. ``y_true``/``y_pred``/``sample_weight``/``baseline_pred``:
    numpy arrays, lists, pandas Series, or paths; ``sample_weight`` may be a number. ``data``:
    a pandas DataFrame or the path of a table, with ``true_col``/``pred_col``/``weight_col``.
    ``params`` sets a parameter on every loss that takes it (``{"from_logits": True}``).
    ``worst=K`` lists the K samples of largest weighted loss; ``histogram=BINS`` (or True for
    30) the distribution. ``nan_policy``: ``"raise"``, ``"omit"`` or ``"propagate"``. The
    other options are ``prepare``'s: ``y_true``, ``y_pred``, ``sample_weight``, ``data``,
    ``true_col``, ``pred_col``, ``weight_col``, ``baseline_pred``, ``reduction``, ``dtype``,
    ``params``, ``one_hot``, ``worst``, ``histogram``, ``input_format``, ``header``,
    ``delimiter``, ``scheduler``, ``group_by`` (a column or columns of ``data``, or of
    ``groups``, a table row for row with ``y_true``: one result per slice after the whole
    input's), ``min_slice_size``, ``max_slices``, ``worst_per_slice`` (the worst samples of
    each slice too), ``ci`` (a level, or True for 0.95), ``bootstrap``, ``seed``.

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
    from losscli.spec import build_losses

    given = [losses] if isinstance(losses, (str, Loss)) else list(losses)
    texts = [item for item in given if isinstance(item, str)]
    built_by_text = iter(
        build_losses(texts, options=params or {}, reduction=reduction, dtype=dtype) if texts else []
    )
    built = [next(built_by_text) if isinstance(item, str) else item for item in given]
    specs = [item if isinstance(item, str) else item.name for item in given]
    weight = sample_weight
    if isinstance(weight, (int, float)) and not isinstance(weight, bool):
        weight = repr(float(weight))
    inputs = InputSpec(
        y_true=_named(y_true, "y_true"),
        y_pred=_named(y_pred, "y_pred"),
        sample_weight=_named(weight, "sample_weight"),
        data=_named(data, "data"),
        true_cols=_columns(true_col),
        pred_cols=_columns(pred_col),
        weight_col=weight_col,
        input_format=input_format,
        header=header,
        delimiter=delimiter,
        one_hot=one_hot,
        scheduler=scheduler,
        baseline_pred=_named(baseline_pred, "baseline_pred"),
        group_by=_columns(group_by),
        groups=_named(groups, "groups"),
    )
    bins = 30 if histogram is True else int(histogram or 0)
    if min_slice_size < 1 or max_slices < 1:
        raise InputError("min_slice_size and max_slices must be at least 1")
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
