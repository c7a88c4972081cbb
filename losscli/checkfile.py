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
from typing import Any, NamedTuple

from losscli.config import CHECK_FILE, RunConfig, check_file_keys
from losscli.engine import Result, evaluate
from losscli.engine.input_checks import omitted_warning
from losscli.engine.inputs import config_key
from losscli.engine.results import GateNotEvaluated
from losscli.errors import LossCliError, shorten, spelled
from losscli.io.readers import parse_number, path_kind
from losscli.io.storage import is_uri
from losscli.losses.reduction import REDUCTIONS
from losscli.losses.spec import build_loss
from losscli.report.checkrun import Check, CheckRun

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(LossCliError, ValueError):
    """The check configuration is invalid: unknown key, wrong type, missing input."""


#: The keys of ``[inputs]``, and of a check (its name and loss besides), with their TOML
#: types: ``RunConfig``'s fields.
INPUT_KEYS: dict[str, tuple[type, ...]] = check_file_keys("inputs")
CHECK_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "loss": (str,),
    **check_file_keys("check"),
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
    settings = _resolved(settings, base)
    if not settings.get("data") and not (settings.get("y_true") and settings.get("y_pred")):
        raise ConfigError(f"{label}: no inputs; set y_true and y_pred (or data) in [inputs]")
    reduction = settings.get("reduction", "sum_over_batch_size")
    if reduction not in REDUCTIONS or reduction == "none":
        raise ConfigError(
            f"{label}: reduction must be one of {', '.join(r for r in REDUCTIONS if r != 'none')}"
        )
    try:
        config = _config(settings)
        gates = (config.gates([settings["loss"]]) or {}).get(0, [])
        analysis = config.analysis()
    except LossCliError as exc:
        raise ConfigError(f"{label}: {exc.spelled(config_key)}") from None
    return Check(
        name=settings.get("name", settings["loss"]),
        loss=settings["loss"],
        reduction=reduction,
        dtype=config.dtype,
        gates=gates,
        inputs=config.input_spec(),
        nan_policy=config.nan_policy,
        analysis=analysis,
        default_reduction="reduction" not in settings,
    )


def _resolved(settings: dict[str, Any], base: Path) -> dict[str, Any]:
    """The settings with relative paths made relative to the check file's folder (a number
    as ``sample_weight`` stays a number, a URI stays a URI)."""
    resolved = dict(settings)
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
            resolved[key] = str(base / value)
    return resolved


def _config(settings: dict[str, Any]) -> RunConfig:
    """A check's settings as its run's configuration (a gate: one bound for the check's loss;
    columns: one or a list)."""
    given = {key: value for key, value in settings.items() if key not in ("name", "loss")}
    for key in ("true_col", "pred_col", "baseline_col", "group_by"):
        if key in given:
            given[key] = tuple(_as_list(given[key]))
    for kind in ("max", "min", "max_increase", "slice_max", "slice_min"):
        if kind in given:
            given[kind] = ((None, given[kind]),)
    return RunConfig(losses=(settings["loss"],), spelling=CHECK_FILE, **given)


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
            errors[i] = exc.spelled(config_key)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, check in enumerate(checks):
        if i not in errors:
            key = (repr(check.inputs), check.nan_policy, check.analysis)
            groups.setdefault(key, []).append(i)
    found = _Found([None] * len(checks), {}, [0.0] * len(checks), [])
    for members in groups.values():
        _run_together(checks, members, losses, errors, found)
    return CheckRun(
        config,
        checks,
        found.results,
        found.seconds,
        found.warnings,
        dict(sorted(errors.items())),
        found.slices,
    )


class _Found(NamedTuple):
    """What the checks found, by check: results, slices' results, seconds and warnings."""

    results: list[Result | None]
    slices: dict[int, list[Result]]
    seconds: list[float]
    warnings: list[str]


def _run_together(
    checks: list[Check],
    members: list[int],
    losses: dict[int, Any],
    errors: dict[int, str],
    found: _Found,
) -> None:
    """The checks ``members`` (on the same inputs) in one pass; their errors into ``errors``,
    what they found into ``found``."""
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
        errors.update({members[j]: spelled(m, config_key) for j, m in failed.items()})
    except LossCliError as exc:
        errors.update({i: exc.spelled(config_key) for i in members})
        return
    elapsed = (time.perf_counter() - start) / len(members)
    n = evaluation.n_omitted
    dropped = [omitted_warning(n, config_key)] if n else []
    for j, (whole, parts) in enumerate(_per_loss(evaluation.results)):
        if j in failed:
            continue
        i = members[j]
        found.results[i] = whole
        if parts:
            found.slices[i] = parts
        found.seconds[i] = elapsed
        own = [*dropped, *whole.warnings, *(m for part in parts for m in part.warnings)]
        found.warnings.extend(f"{checks[i].name}: {m}" for m in own)


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
