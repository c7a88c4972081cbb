"""``losscli check``: quality gates from ``losscli.toml`` or ``pyproject.toml``.

The file names shared inputs and a list of checks; each check is a loss spec,
a reduction, bounds and an optional baseline, and may override any input key.
Relative paths are relative to the config file. Every input file is read
once, however many checks use it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from losscli.engine import InputSpec, Result, evaluate
from losscli.engine.input_checks import omitted_warning
from losscli.engine.inputs import config_key
from losscli.engine.results import GateNotEvaluated
from losscli.errors import InputError, LossCliError, shorten
from losscli.io.readers import parse_number, path_kind
from losscli.io.storage import is_uri
from losscli.losses.reduction import REDUCTIONS
from losscli.losses.spec import build_loss
from losscli.report.checkrun import Check, CheckRun
from losscli.stats.analysis import Analysis
from losscli.stats.gates import parse_bound, with_noise
from losscli.stats.resample import resampling_for

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(LossCliError, ValueError):
    """The check configuration is invalid: unknown key, wrong type, missing input."""


_TEXT = (str,)
_NUMBER = (int, float)
INPUT_KEYS: dict[str, tuple[type, ...]] = {
    "y_true": _TEXT,
    "y_pred": _TEXT,
    "sample_weight": (str, int, float),
    "data": _TEXT,
    "true_col": (str, list),
    "pred_col": (str, list),
    "weight_col": _TEXT,
    "baseline_pred": _TEXT,
    "baseline_col": (str, list),
    "input_format": _TEXT,
    "header": (bool,),
    "delimiter": _TEXT,
    "one_hot": (bool,),
    "scheduler": _TEXT,
    "nan_policy": _TEXT,
    "group_by": (str, list),
    "groups": _TEXT,
    "min_slice_size": (int,),
    "max_slices": (int,),
    "ci": (bool, float),
    "bootstrap": (int,),
    "seed": (int,),
    "significance": (float,),
    "non_inferiority": (bool,),
}
CHECK_KEYS: dict[str, tuple[type, ...]] = {
    "name": _TEXT,
    "loss": _TEXT,
    "reduction": _TEXT,
    "dtype": _TEXT,
    "max": _NUMBER,
    "min": _NUMBER,
    "max_increase": (int, float, str),
    "slice_max": _NUMBER,
    "slice_min": _NUMBER,
    **INPUT_KEYS,
}
_PATH_KEYS = ("y_true", "y_pred", "data", "baseline_pred", "sample_weight", "groups")
_TYPE_NAMES = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true/false",
    list: "a list",
}


def find_config(path: str | None) -> Path:
    """The config file: the one given, else ./losscli.toml, else ./pyproject.toml."""
    if path:
        kind = path_kind(path)
        if kind is None:
            raise ConfigError(f"{path}: no such config file")
        if kind == "dir":
            raise ConfigError(f"{path}: is a directory, not a config file")
        return Path(path)
    for candidate in (Path("losscli.toml"), Path("pyproject.toml")):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "no losscli.toml or pyproject.toml here; give the config file: losscli check CONFIG"
    )


def load_config(path: Path) -> list[Check]:
    """Read and validate a config file into checks with resolved inputs."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"{path}: arrays or tables nested too deep to read") from None
    where = str(path)
    if path.name == "pyproject.toml":
        document = document.get("tool", {}).get("losscli")
        if document is None:
            raise ConfigError(f"{path}: no [tool.losscli] table")
        where = f"{path} [tool.losscli]"
    _check_keys(document, {"inputs": (dict,), "checks": (list,)}, where)
    shared = document.get("inputs", {})
    _check_keys(shared, INPUT_KEYS, f"{where} [inputs]")
    entries = document.get("checks")
    if not entries:
        raise ConfigError(f"{where}: no checks; add [[checks]] tables with at least a loss")
    checks = []
    for i, entry in enumerate(entries):
        label = f"{where} checks[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{label}: each check must be a table ([[checks]])")
        if isinstance(entry.get("name"), str):
            label += f" ({entry['name']})"
        _check_keys(entry, CHECK_KEYS, label)
        checks.append(_build_check(_inherit(shared, entry), label, path.parent))
    return checks


def _inherit(shared: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """A check's settings: its own keys over the shared ones. Setting y_true/y_pred replaces an
    inherited data table, and setting data replaces inherited y_true/y_pred; either way the
    inherited column keys of the replaced side go with it (weight_col stays when it selects a
    column of sample_weight, baseline_col when it selects one of baseline_pred)."""
    inherited = dict(shared)
    own_files = "y_true" in entry or "y_pred" in entry
    if (own_files and "data" in shared) or ("data" in entry and _files(shared)):
        inherited.pop("data", None)
        inherited.pop("y_true", None)
        inherited.pop("y_pred", None)
        for key in ("true_col", "pred_col"):
            inherited.pop(key, None)
        if "sample_weight" not in inherited:
            inherited.pop("weight_col", None)
        if "baseline_pred" not in inherited:
            inherited.pop("baseline_col", None)
    elif own_files or "data" in entry:
        for key in ("data",) if own_files else ("y_true", "y_pred"):
            inherited.pop(key, None)
    return {**inherited, **entry}


def _files(table: dict[str, Any]) -> bool:
    return "y_true" in table or "y_pred" in table


def _check_keys(table: dict[str, Any], known: dict[str, tuple[type, ...]], where: str) -> None:
    for key, value in table.items():
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"{where}: unknown key {shorten(key)!r}; {hint}known keys: {', '.join(known)}"
            )
        kinds = known[key]
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if ok and isinstance(value, list) and (key.endswith("_col") or key == "group_by"):
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            wanted = " or ".join(dict.fromkeys(_TYPE_NAMES.get(k, k.__name__) for k in kinds))
            raise ConfigError(f"{where}: {key} must be {wanted}, got {value!r}")


def _build_check(settings: dict[str, Any], label: str, base: Path) -> Check:
    if "loss" not in settings:
        raise ConfigError(f"{label}: missing key 'loss' (a loss spec such as \"mse\")")
    for key in _PATH_KEYS:
        value = settings.get(key)
        if (
            isinstance(value, str)
            and value != "-"
            and not Path(value).is_absolute()
            and not is_uri(value)  # s3://..., https://...: not relative to the config file
        ):
            if key == "sample_weight" and parse_number(value) is not None:
                continue
            settings[key] = str(base / value)
    if not settings.get("data") and not (settings.get("y_true") and settings.get("y_pred")):
        raise ConfigError(f"{label}: no inputs; set y_true and y_pred (or data) in [inputs]")
    reduction = settings.get("reduction", "sum_over_batch_size")
    if reduction not in REDUCTIONS or reduction == "none":
        raise ConfigError(
            f"{label}: reduction must be one of {', '.join(r for r in REDUCTIONS if r != 'none')}"
        )
    gates = [
        parse_bound(settings[kind], kind, label)
        for kind in ("max", "min", "max_increase", "slice_max", "slice_min")
        if kind in settings
    ]
    group_by = _as_list(settings.get("group_by"))
    if ("slice_max" in settings or "slice_min" in settings) and not group_by:
        raise ConfigError(f"{label}: slice_max and slice_min gate slices: set group_by")
    for key in ("min_slice_size", "max_slices"):
        if key in settings and settings[key] < 1:
            raise ConfigError(f"{label}: {key} must be at least 1, got {settings[key]}")
    significance = settings.get("significance")
    non_inferiority = settings.get("non_inferiority", False)
    if (significance is not None or non_inferiority) and "max_increase" not in settings:
        key = "significance" if significance is not None else "non_inferiority"
        raise ConfigError(f"{label}: {key} makes max_increase noise-aware: set max_increase")
    ci = settings.get("ci")
    try:
        resampling = resampling_for(
            True if ci is None and non_inferiority else ci,
            settings.get("bootstrap"),
            settings.get("seed"),
            significance,
        )
    except InputError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    if significance is not None or non_inferiority:
        gates = with_noise(gates, significance, non_inferiority)
    analysis = Analysis(
        group_by=tuple(group_by),
        min_slice_size=settings.get("min_slice_size", 1),
        max_slices=settings.get("max_slices", 1000),
        resampling=resampling,
    )
    if "max_increase" in settings and not (
        settings.get("baseline_pred") or settings.get("baseline_col")
    ):
        raise ConfigError(
            f"{label}: max_increase needs baseline_pred or baseline_col (in [inputs] or the check)"
        )
    weight = settings.get("sample_weight")
    inputs = InputSpec(
        y_true=settings.get("y_true"),
        y_pred=settings.get("y_pred"),
        sample_weight=weight,  # a path, or a number as the file gives it
        data=settings.get("data"),
        true_cols=_as_list(settings.get("true_col")),
        pred_cols=_as_list(settings.get("pred_col")),
        weight_col=settings.get("weight_col"),
        input_format=settings.get("input_format"),
        header=settings.get("header"),
        delimiter=settings.get("delimiter"),
        one_hot=settings.get("one_hot", False),
        scheduler=settings.get("scheduler"),
        baseline_pred=settings.get("baseline_pred"),
        group_by=group_by,
        groups=settings.get("groups"),
        baseline_cols=_as_list(settings.get("baseline_col")),
        say=config_key,
    )
    return Check(
        name=settings.get("name", settings["loss"]),
        loss=settings["loss"],
        reduction=reduction,
        dtype=settings.get("dtype", "float64"),
        gates=gates,
        inputs=inputs,
        nan_policy=settings.get("nan_policy", "raise"),
        analysis=analysis,
        default_reduction="reduction" not in settings,
    )


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def run_checks(config: Path, checks: list[Check]) -> CheckRun:
    """Evaluate every check; checks on the same inputs share one pass over them.

    An error in a check's loss or inputs ends that check (``CheckRun.errors``), not the run.
    """
    errors: dict[int, str] = {}
    losses: dict[int, Any] = {}
    for i, check in enumerate(checks):
        try:
            losses[i] = build_loss(check.loss, reduction=check.reduction, dtype=check.dtype)
        except LossCliError as exc:
            errors[i] = str(exc)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, check in enumerate(checks):
        if i not in errors:
            key = (repr(check.inputs), check.nan_policy, check.analysis)
            groups.setdefault(key, []).append(i)
    results: list[Result | None] = [None] * len(checks)
    slices: dict[int, list[Result]] = {}
    seconds = [0.0] * len(checks)
    warnings: list[str] = []
    for members in groups.values():
        start = time.perf_counter()
        first = checks[members[0]]
        failed: dict[int, str] = {}  # by member: a gate that gated nothing
        try:
            evaluation = evaluate(
                [losses[i] for i in members],
                [checks[i].loss for i in members],
                first.inputs,
                nan_policy=first.nan_policy,
                gates={j: checks[i].gates for j, i in enumerate(members)},
                analysis=first.analysis,
            )
        except GateNotEvaluated as exc:
            evaluation, failed = exc.evaluation, exc.messages
            errors.update({members[j]: message for j, message in failed.items()})
        except LossCliError as exc:
            errors.update({i: str(exc) for i in members})
            continue
        elapsed = (time.perf_counter() - start) / len(members)
        n = evaluation.n_omitted
        dropped = [omitted_warning(n, config_key)] if n else []
        for j, (whole, parts) in enumerate(_per_loss(evaluation.results)):
            if j in failed:
                continue
            i = members[j]
            results[i] = whole
            if parts:
                slices[i] = parts
            seconds[i] = elapsed
            own = [*dropped, *whole.warnings, *(m for part in parts for m in part.warnings)]
            warnings += [f"{checks[i].name}: {m}" for m in own]
    return CheckRun(
        config, checks, results, seconds, warnings, dict(sorted(errors.items())), slices
    )


def _per_loss(results: list[Result]) -> list[tuple[Result, list[Result]]]:
    """An evaluation's results as each loss's whole-input result and its slices' (which
    follow it)."""
    grouped: list[tuple[Result, list[Result]]] = []
    for result in results:
        if result.slice:  # a slice of the loss before
            grouped[-1][1].append(result)
        else:
            grouped.append((result, []))
    return grouped
