"""From named inputs to loss values: load and align the arrays, check them, evaluate.

This is the library behind ``losscli eval``: no click, no rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from losscli.errors import InputError
from losscli.gates import Gate, GateOutcome
from losscli.losses import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    CategoricalHinge,
    KLDivergence,
    Loss,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
)
from losscli.readers import Table, describe_source, parse_number, read_input
from losscli.reduction import reduce_losses

NAN_POLICIES = ("raise", "omit", "propagate")


@dataclass
class InputSpec:
    """Where the labels, predictions and weights come from, as the user named them."""

    y_true: str | None = None
    y_pred: str | None = None
    sample_weight: str | None = None
    data: str | None = None
    true_cols: list[str] = field(default_factory=list)
    pred_cols: list[str] = field(default_factory=list)
    weight_col: str | None = None
    input_format: str | None = None
    header: bool | None = None
    baseline_pred: str | None = None


@dataclass
class Inputs:
    """Aligned arrays, rows are samples."""

    y_true: np.ndarray
    y_pred: np.ndarray
    sample_weight: np.ndarray | float | None
    sources: dict[str, str]
    n_omitted: int = 0
    baseline_pred: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.y_pred.shape[0])


@dataclass
class Result:
    """One loss evaluated: the value, its baseline and gates, on request per-sample losses."""

    spec: str
    loss: Loss
    value: Any
    n_samples: int
    per_sample: np.ndarray | None = None
    baseline: Any = None
    gates: list[GateOutcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def difference(self) -> float | None:
        if self.baseline is None:
            return None
        return float(self.value) - float(self.baseline)


def as_samples(array: np.ndarray, what: str) -> np.ndarray:
    """Rows are samples: a vector of N values is N samples of one value, ``(N, 1)``."""
    if array.ndim == 0:
        raise InputError(f"{what} holds a single number; it needs one row per sample")
    if array.shape[0] == 0:
        raise InputError(f"{what} holds no samples")
    return array.reshape(-1, 1) if array.ndim == 1 else array


ReadCache = dict[tuple[str, str | None, bool | None], Any]


def _read(source: str, spec: InputSpec, cache: ReadCache | None) -> Table | np.ndarray:
    """Read a source once per command: ``cache`` keeps what was read, by source and format."""
    key = (source, spec.input_format, spec.header)
    if cache is not None and key in cache and source != "-":
        return cache[key]
    data = read_input(source, input_format=spec.input_format, header=spec.header)
    if cache is not None:
        cache[key] = data
    return data


def _read_values(
    source: str, columns: list[str], option: str, spec: InputSpec, cache: ReadCache | None
) -> tuple[np.ndarray, str]:
    data = _read(source, spec, cache)
    where = describe_source(source)
    if isinstance(data, Table):
        values = data.select(columns, option)[0] if columns else data.all_columns()
    else:
        if columns:
            raise InputError(f"{where} is an array file; {option} selects columns of tables only")
        values = data
    return as_samples(np.asarray(values), where), where


def load_inputs(
    spec: InputSpec, nan_policy: str = "raise", cache: ReadCache | None = None
) -> Inputs:
    """Read and align labels, predictions, weights and baseline; apply the NaN policy."""
    if nan_policy not in NAN_POLICIES:
        raise InputError(f"unknown NaN policy {nan_policy!r}; choose {', '.join(NAN_POLICIES)}")
    sources: dict[str, str] = {}
    weights: np.ndarray | float | None = None
    if spec.data:
        if spec.y_true or spec.y_pred:
            raise InputError("give either --data or --y-true/--y-pred, not both")
        if not spec.true_cols or not spec.pred_cols:
            raise InputError("--data needs --true-col and --pred-col to say which columns to use")
        table = _read(spec.data, spec, cache)
        where = describe_source(spec.data)
        if not isinstance(table, Table):
            raise InputError(f"{where} is an array file; --data needs a table (CSV or Parquet)")
        y_true = as_samples(table.select(spec.true_cols, "--true-col")[0], where)
        y_pred = as_samples(table.select(spec.pred_cols, "--pred-col")[0], where)
        if spec.weight_col:
            weights = table.select([spec.weight_col], "--weight-col")[0][:, 0]
        sources["data"] = where
    else:
        if not spec.y_true or not spec.y_pred:
            missing = "--y-true" if not spec.y_true else "--y-pred"
            raise InputError(f"missing {missing}; give --y-true and --y-pred, or --data")
        if spec.y_true == "-" and spec.y_pred == "-":
            raise InputError("only one input can come from standard input (-)")
        y_true, sources["y_true"] = _read_values(
            spec.y_true, spec.true_cols, "--true-col", spec, cache
        )
        y_pred, sources["y_pred"] = _read_values(
            spec.y_pred, spec.pred_cols, "--pred-col", spec, cache
        )
        if spec.weight_col and not spec.sample_weight:
            raise InputError("--weight-col selects a column of --sample-weight or --data")
    if spec.sample_weight is not None:
        if weights is not None:
            raise InputError("give either --sample-weight or --weight-col, not both")
        weights, sources["sample_weight"] = _read_weights(spec, cache)
    baseline = None
    if spec.baseline_pred:
        # A baseline table has the same prediction columns; an array file is used whole.
        table = _read(spec.baseline_pred, spec, cache)
        sources["baseline_pred"] = describe_source(spec.baseline_pred)
        if isinstance(table, Table) and spec.pred_cols:
            baseline = table.select(spec.pred_cols, "--pred-col")[0]
        else:
            baseline = table.all_columns() if isinstance(table, Table) else np.asarray(table)
        baseline = as_samples(baseline, sources["baseline_pred"])
        if baseline.shape != y_pred.shape:
            raise InputError(
                f"the baseline predictions ({sources['baseline_pred']}) have shape "
                f"{baseline.shape} but y_pred has {y_pred.shape}; both must predict the same "
                "samples"
            )
    _check_rows(y_true, y_pred, weights, sources)
    inputs = Inputs(y_true, y_pred, weights, sources, baseline_pred=baseline)
    return _apply_nan_policy(inputs, nan_policy)


def _read_weights(spec: InputSpec, cache: ReadCache | None) -> tuple[np.ndarray | float, str]:
    assert spec.sample_weight is not None
    number = parse_number(spec.sample_weight)
    if number is not None and not Path(spec.sample_weight).exists():
        return number, spec.sample_weight
    if number is None and not Path(spec.sample_weight).exists() and spec.sample_weight != "-":
        raise InputError(
            f"--sample-weight {spec.sample_weight!r} is neither a number nor an existing file"
        )
    columns = [spec.weight_col] if spec.weight_col else []
    weights, where = _read_values(spec.sample_weight, columns, "--weight-col", spec, cache)
    # One weight per sample: (N, 1) -> (N,).
    return (weights[:, 0] if weights.ndim == 2 and weights.shape[1] == 1 else weights), where


def _check_rows(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    weights: np.ndarray | float | None,
    sources: dict[str, str],
) -> None:
    true_src = sources.get("y_true", sources.get("data"))
    pred_src = sources.get("y_pred", sources.get("data"))
    if y_true.shape[0] != y_pred.shape[0]:
        raise InputError(
            f"y_true has {y_true.shape[0]} rows ({true_src}) but y_pred has "
            f"{y_pred.shape[0]} ({pred_src}); every sample needs a label and a prediction"
        )
    if isinstance(weights, np.ndarray) and weights.ndim and weights.shape[0] != y_pred.shape[0]:
        raise InputError(
            f"the sample weights have {weights.shape[0]} rows "
            f"({sources.get('sample_weight', sources.get('data'))}) but there are "
            f"{y_pred.shape[0]} samples; give one weight per sample or a number"
        )


def _apply_nan_policy(inputs: Inputs, policy: str) -> Inputs:
    if policy == "propagate":
        return inputs
    named: list[tuple[str, np.ndarray]] = [("y_true", inputs.y_true), ("y_pred", inputs.y_pred)]
    if isinstance(inputs.sample_weight, np.ndarray):
        named.append(("sample_weight", inputs.sample_weight))
    elif inputs.sample_weight is not None and not np.isfinite(inputs.sample_weight):
        raise InputError(f"the sample weight {inputs.sample_weight} is not a finite number")
    if inputs.baseline_pred is not None:
        named.append(("baseline_pred", inputs.baseline_pred))
    n = inputs.n_samples
    bad_rows = np.zeros(n, dtype=bool)
    for name, array in named:
        bad = ~np.isfinite(array.reshape(n, -1)).all(axis=1)
        if policy == "raise" and bad.any():
            count = int(np.count_nonzero(~np.isfinite(array)))
            row = int(np.argmax(bad))
            source = inputs.sources.get(name, inputs.sources.get("data"))
            raise InputError(
                f"{name} ({source}) has {count} non-finite value{'s' if count != 1 else ''} "
                f"(NaN or inf), the first in row {row}; fix the data, or pass --nan-policy "
                "omit to drop those rows or propagate to keep them"
            )
        bad_rows |= bad
    if not bad_rows.any():
        return inputs
    keep = ~bad_rows
    if not keep.any():
        raise InputError("every row holds a NaN or inf: nothing is left to evaluate")
    weights = inputs.sample_weight
    if isinstance(weights, np.ndarray) and weights.ndim:
        weights = weights[keep]
    baseline = inputs.baseline_pred
    return Inputs(
        inputs.y_true[keep],
        inputs.y_pred[keep],
        weights,
        inputs.sources,
        n_omitted=int(np.count_nonzero(bad_rows)),
        baseline_pred=None if baseline is None else baseline[keep],
    )


def evaluate(
    losses: list[Loss],
    specs: list[str],
    inputs: Inputs,
    *,
    keep_per_sample: bool = False,
    gates: dict[int, list[Gate]] | None = None,
) -> list[Result]:
    """Evaluate every loss on the same inputs (and baseline), each with its own reduction."""
    gates = gates or {}
    results = []
    with np.errstate(all="ignore"):
        for i, (loss, spec) in enumerate(zip(losses, specs, strict=True)):
            values, mask = loss.per_sample(inputs.y_true, inputs.y_pred)
            value = reduce_losses(values, inputs.sample_weight, mask, loss.reduction)
            result = Result(spec, loss, value, inputs.n_samples)
            if keep_per_sample:
                result.per_sample = (
                    value
                    if loss.reduction == "none"
                    else reduce_losses(values, inputs.sample_weight, mask, "none")
                )
            if inputs.baseline_pred is not None:
                result.baseline = loss(inputs.y_true, inputs.baseline_pred, inputs.sample_weight)
            if i in gates and loss.reduction == "none":
                raise InputError(
                    f"gates on {spec} need one value; --reduction none gives one per sample"
                )
            result.gates = [g.check(value, result.baseline) for g in gates.get(i, [])]
            results.append(result)
    return results


# --- warnings for likely mistakes -------------------------------------------------------

_BINARY = (BinaryCrossentropy, BinaryFocalCrossentropy)
_PROBABILITY_ROWS = (
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    SparseCategoricalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    KLDivergence,
)
_RESCALED = (CategoricalCrossentropy, CategoricalFocalCrossentropy, SparseCategoricalCrossentropy)
_ONE_HOT_LABELS = (
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    KLDivergence,
    CategoricalHinge,
)
_LOGS = (Poisson, MeanSquaredLogarithmicError)


def input_warnings(loss: Loss, inputs: Inputs) -> list[str]:
    """Messages about inputs that are probably not what the loss expects."""
    messages: list[str] = []
    name = loss.name
    from_logits = bool(loss.params.get("from_logits"))
    y_true, y_pred = inputs.y_true, inputs.y_pred
    if isinstance(loss, _BINARY + _PROBABILITY_ROWS) and not from_logits:
        low, high = np.nanmin(y_pred), np.nanmax(y_pred)
        if low < 0 or high > 1:
            hint = " add --from-logits" if "from_logits" in loss.params else ""
            messages.append(
                f"{name}: y_pred has values outside [0, 1] (min {low:.4g}, max {high:.4g}): "
                f"these look like logits;{hint or ' this loss expects probabilities'}"
            )
    if isinstance(loss, _PROBABILITY_ROWS) and not from_logits and y_pred.shape[-1] > 1:
        axis = int(loss.params.get("axis", -1))
        message = _rows_not_summing_to_one(y_pred, axis)
        if message:
            rescale = "; Keras rescales each row to sum to 1" if isinstance(loss, _RESCALED) else ""
            messages.append(f"{name}: y_pred rows are not probabilities ({message}){rescale}")
    if isinstance(loss, _ONE_HOT_LABELS) and y_true.shape[-1] > 1:
        axis = int(loss.params.get("axis", -1))
        message = _rows_not_summing_to_one(y_true, axis)
        if message:
            messages.append(f"{name}: y_true rows are not one-hot or probabilities ({message})")
    if isinstance(loss, _LOGS):
        for label, array in (("y_true", y_true), ("y_pred", y_pred)):
            if np.nanmin(array) < 0:
                messages.append(
                    f"{name}: {label} has negative values (min {np.nanmin(array):.4g}); "
                    f"{name} takes logarithms and expects values >= 0"
                )
    return messages


def _rows_not_summing_to_one(array: np.ndarray, axis: int) -> str | None:
    sums = np.sum(array, axis=axis)
    bad = np.abs(sums - 1.0) > 1e-3
    if not bad.any():
        return None
    index = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return f"row {index[0]} sums to {sums[index]:.6g}"
