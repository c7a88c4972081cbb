"""The Python API for notebooks: ``losscli.evaluate`` mirrors ``losscli eval``, on numpy arrays,
pandas objects or paths, and returns a ``Report`` whose ``to_dict()`` is the command's JSON
document and ``to_pandas()`` a DataFrame. The command calls this same function. No click, no
rich.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from losscli.config import PYTHON, Bound, RunConfig
from losscli.engine import Evaluation, InputSpec, Result
from losscli.engine import evaluate as run_evaluation
from losscli.errors import InputError, LossCliError
from losscli.io.readers.memory import InMemory
from losscli.losses.classes import Loss
from losscli.stats.analysis import Analysis


class Report:
    """What ``evaluate`` found: ``results`` (one per loss), ``passed`` (every gate),
    ``failures`` (the failed gates' lines), and the same document as ``losscli eval
    --format json`` (``to_dict``)."""

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation

    @property
    def results(self) -> list[Result]:
        return self.evaluation.results

    @property
    def passed(self) -> bool:
        return self.evaluation.passed

    @property
    def failures(self) -> list[str]:
        """One line per failed gate, as ``losscli eval`` prints them on stderr."""
        from losscli.report.render import failed_gate_lines

        return failed_gate_lines(self.results)

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


def _whole(value: Any, name: str) -> int | None:
    """``value`` as a whole number (None stays None); a bool, a float or text is a TypeError
    naming the parameter (its range is ``RunConfig``'s)."""
    import numbers

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name}= takes a whole number, got {value!r}")
    return int(value)


def _fraction(value: Any, name: str, or_true: bool) -> float | bool | None:
    """A number (``ci=`` also True or False); its range is ``RunConfig``'s."""
    import numbers

    if value is None or (or_true and isinstance(value, bool)):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        what, also = ("a level", ", or True") if or_true else ("a number", "")
        raise ArgumentTypeError(f"{name}= takes {what} between 0 and 1{also}, got {value!r}")
    return float(value)


def _bins(histogram: Any) -> int | None:
    """``histogram=``: None or False (none), True (30 bins) or a number of bins."""
    import numbers

    if histogram is None or histogram is False:
        return None
    if histogram is True:
        return 30
    if not isinstance(histogram, numbers.Integral):
        raise ArgumentTypeError(f"histogram= takes a whole number or True, got {histogram!r}")
    return int(histogram)


def _weight(value: Any) -> Any:
    """``sample_weight=``: a number stays a number (never read as a path)."""
    import numbers

    if isinstance(value, bool):
        raise ArgumentTypeError(f"sample_weight= takes a number, an array or a path, got {value!r}")
    return float(value) if isinstance(value, numbers.Real) else value


def _bounds(value: Any) -> tuple[Bound, ...]:
    """A gate's ``max=0.3`` (every loss), ``max_increase="1%"``, or ``{"mse": 0.3}`` (one
    loss each)."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return tuple((str(target), bound) for target, bound in value.items())
    return ((None, value),)


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

    Gates, as ``losscli eval``'s: ``max``, ``min`` (a bound on each loss), ``slice_max``,
    ``slice_min`` (on each slice, with ``group_by``), ``max_increase`` (over the baseline's
    value: a number, or ``"2%"`` of it), each a bound for every loss or a dict ``{loss: bound}``;
    ``significance`` and ``non_inferiority`` make ``max_increase`` read the increase's
    interval. ``report.passed`` says whether every gate passed, ``report.failures`` gives the
    lines ``losscli eval`` prints for those that failed.

    >>> import numpy as np, losscli
    >>> report = losscli.evaluate("mse", np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 4.0]),
    ...                           worst=1)
    >>> report.results[0].value
    np.float64(1.3333333333333333)
    >>> report.to_dict()["results"][0]["worst"]
    [{'row': 2, 'y_true': 2.0, 'y_pred': 4.0, 'weight': 1.0, 'loss': 4.0}]
    >>> gated = losscli.evaluate(["mse", "mae"], [0.0, 1.0, 2.0], [0.0, 1.0, 4.0],
    ...                          max={"mse": 1.0}, min=0.5)
    >>> gated.passed
    False
    >>> gated.failures
    ['FAIL: mse: max 1: 1.3333333333333333 > max 1']
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"label": [1.0, 0.0], "prob": [0.9, 0.2]})
    >>> losscli.evaluate(["bce", "mse"], data=frame, true_col="label", pred_col="prob",
    ...                  reduction="sum").to_pandas()[["spec", "value"]]
      spec     value
    0  bce  0.328504
    1  mse  0.050000
    """
    try:
        return prepare(losses, y_true, y_pred, nan_policy=nan_policy, **options).run()
    except LossCliError as exc:
        # The one place the Python front end words errors: settings as keyword arguments.
        exc.args = (exc.spelled(PYTHON.say), *exc.args[1:])
        raise


class Prepared(NamedTuple):
    """A run's settings and its losses, built."""

    config: RunConfig
    losses: list[Loss]

    @property
    def specs(self) -> list[str]:
        return [item if isinstance(item, str) else item.name for item in self.config.losses]

    @property
    def inputs(self) -> InputSpec:
        return self.config.input_spec()

    @property
    def analysis(self) -> Analysis:
        return self.config.analysis()

    def run(self, **engine: Any) -> Report:
        """Evaluate, with the configuration's gates; ``engine`` takes the command's
        per-sample sink, progress and dataset output (and ``gates`` built by hand, by loss,
        in place of the configuration's)."""
        config = self.config
        if "gates" not in engine:
            engine["gates"] = config.gates([loss.name for loss in self.losses])
        evaluation = run_evaluation(
            self.losses,
            self.specs,
            config.input_spec(),
            nan_policy=config.nan_policy,
            analysis=config.analysis(),
            **engine,
        )
        return Report(evaluation)


def build(config: RunConfig) -> Prepared:
    """A configuration's losses built: texts by their specs, loss objects as they are."""
    from losscli.losses.spec import build_losses

    texts = [item for item in config.losses if isinstance(item, str)]
    made = iter(
        build_losses(
            texts, options=dict(config.params), reduction=config.reduction, dtype=config.dtype
        )
        if texts
        else []
    )
    built = [next(made) if isinstance(item, str) else item for item in config.losses]
    return Prepared(config, built)


def prepare(
    losses: str | Loss | Sequence[str | Loss],
    y_true: Any = None,
    y_pred: Any = None,
    *,
    sample_weight: Any = None,
    data: Any = None,
    baseline_pred: Any = None,
    groups: Any = None,
    true_col: str | Sequence[str] | None = None,
    pred_col: str | Sequence[str] | None = None,
    baseline_col: str | Sequence[str] | None = None,
    group_by: str | Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
    worst: int | None = None,
    histogram: int | bool | None = None,
    ci: float | bool | None = None,
    bootstrap: int | None = None,
    seed: int | None = None,
    significance: float | None = None,
    min_slice_size: int = 1,
    max_slices: int = 1000,
    max: Any = None,
    min: Any = None,
    max_increase: Any = None,
    slice_max: Any = None,
    slice_min: Any = None,
    **settings: Any,
) -> Prepared:
    """``evaluate``'s keyword arguments as a run's configuration, its losses built. Python's
    types become the configuration's (data given in Python is read from memory; a number
    given as ``sample_weight`` stays a number); ``RunConfig`` checks the ranges and the
    rules between settings. The other ``settings`` are ``RunConfig``'s fields as they are
    (``reduction``, ``dtype``, ``weight_col``, ``one_hot``, ``input_format``, ``header``,
    ``delimiter``, ``scheduler``, ``nan_policy``, ``worst_per_slice``, ``bin_scale``,
    ``non_inferiority``)."""
    unknown = sorted(set(settings) - _KEYWORDS)
    if unknown:
        raise ArgumentTypeError(f"evaluate() got an unexpected keyword argument {unknown[0]!r}")
    given = [losses] if isinstance(losses, (str, Loss)) else list(losses)
    numbers = {
        "worst": _whole(worst, "worst"),
        "histogram": _bins(histogram),
        "bootstrap": _whole(bootstrap, "bootstrap"),
        "seed": _whole(seed, "seed"),
        "ci": _fraction(ci, "ci", or_true=True),
        "significance": _fraction(significance, "significance", or_true=False),
        "min_slice_size": _whole(min_slice_size, "min_slice_size"),
        "max_slices": _whole(max_slices, "max_slices"),
    }
    gates = {"max": max, "min": min, "max_increase": max_increase}
    gates |= {"slice_max": slice_max, "slice_min": slice_min}
    columns = {"true_col": true_col, "pred_col": pred_col, "baseline_col": baseline_col}
    columns["group_by"] = group_by
    fields: dict[str, Any] = {
        **_named_inputs(y_true, y_pred, sample_weight, data, baseline_pred, groups),
        **{key: tuple(_columns(value)) for key, value in columns.items()},
        **{key: _bounds(value) for key, value in gates.items()},
        **{key: value for key, value in numbers.items() if value is not None},
        **settings,
    }
    if params is not None and not isinstance(params, Mapping):
        raise ArgumentTypeError(
            f"params= takes a dict of loss parameters ({{'from_logits': True}}), got {params!r}"
        )
    return build(
        RunConfig(losses=tuple(given), params=dict(params or {}), spelling=PYTHON, **fields)
    )


#: The settings ``prepare`` passes on as they are.
_KEYWORDS = {f.name for f in dataclasses.fields(RunConfig)} - {"losses", "spelling"}


def _named_inputs(
    y_true: Any, y_pred: Any, sample_weight: Any, data: Any, baseline_pred: Any, groups: Any
) -> dict[str, Any]:
    """The inputs given in Python as the configuration names them: paths as they are, data
    to read from memory (pandas objects paired by index), a number weight as a number."""
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
    predictions = _named(roles["y_pred"], "y_pred")
    weight = roles["sample_weight"]
    named = {role: _named(roles[role], role) for role in ("y_true", "baseline_pred", "groups")}
    for role, same in twice.items():
        if same:
            named[role] = predictions
    return {
        **named,
        "y_pred": predictions,
        "sample_weight": weight if isinstance(weight, float) else _named(weight, "sample_weight"),
        "data": _named(data, "data"),
    }
