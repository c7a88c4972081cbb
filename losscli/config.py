"""One run's settings (``RunConfig``), validated in one place, whichever front end built them:
the command line's flags, a check file's keys, or ``losscli.evaluate``'s keyword arguments.

Each field's metadata is its one description: the check file's keys and their TOML types (and
so its unknown-key suggestions) come from it. Every range check and every rule between two
settings lives in ``validate``; its messages name a setting through the front end's
``Spelling`` (``--min-slice-size``, ``min_slice_size``, ``min_slice_size=``). Imports the
engine's input list, the statistics' settings and the errors; nothing above them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from losscli.engine.inputs import InputSpec, config_key
from losscli.errors import InputError
from losscli.io.readers import cli_flag
from losscli.stats.analysis import Analysis
from losscli.stats.gates import Gate, parse_bound, with_noise
from losscli.stats.resample import MAX_RESAMPLES, Resampling, resampling_for


def python_key(key: str) -> str:
    """A setting as Python spells it: the keyword argument, ``min_slice_size=``."""
    return f"{key}="


class Spelling(NamedTuple):
    """How a front end names settings in messages: ``say`` spells a key alone, ``ask`` a key
    with what it takes (``--worst K``, ``worst``, ``worst=K``), ``verb`` asks for one."""

    say: Callable[[str], str]
    verb: str
    style: str
    true: str

    def ask(self, key: str, metavar: str = "") -> str:
        if self.style == "flag":
            return f"{self.say(key)} {metavar}".rstrip()
        if self.style == "keyword":
            return f"{self.say(key)}{metavar}"
        return self.say(key)


COMMAND_LINE = Spelling(cli_flag, "add", "flag", "")
CHECK_FILE = Spelling(config_key, "set", "key", "true")
PYTHON = Spelling(python_key, "pass", "keyword", "True")


class SettingError(InputError):
    """A setting out of its range, or two settings that do not go together."""


#: A gate's bound as given: the loss it is for (None: every loss) and the bound, a number or
#: text (``"0.3"``, ``"2%"``).
Bound = tuple[str | None, Any]

_TEXT = (str,)
_COLUMNS = (str, list)
_GATES = ("max", "min", "max_increase", "slice_max", "slice_min")


def _setting(default: Any = None, toml: tuple[type, ...] = (), where: str = "inputs") -> Any:
    """A field of ``RunConfig``; ``toml``: the types a check file gives it (none: not a check
    file key), ``where``: ``inputs`` (in ``[inputs]`` and each check) or ``check`` (a check's
    own)."""
    kwargs: dict[str, Any] = {"default_factory": default} if callable(default) else {}
    if not callable(default):
        kwargs["default"] = default
    return field(metadata={"toml": toml, "where": where if toml else ""}, **kwargs)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run. ``validate`` (on creation) checks each range and each rule
    between settings once; ``spelling`` names them in its messages."""

    #: Loss specs (``"huber(delta=2.0)"``) or loss objects.
    losses: tuple[Any, ...] = _setting(())
    reduction: str = _setting("sum_over_batch_size", _TEXT, "check")
    dtype: str = _setting("float64", _TEXT, "check")
    #: Gates: the loss above ``max`` (below ``min``; over the baseline by more than
    #: ``max_increase``, a number or ``"X%"``; any slice: ``slice_max``/``slice_min``) fails.
    max: tuple[Bound, ...] = _setting((), (int, float), "check")
    min: tuple[Bound, ...] = _setting((), (int, float), "check")
    max_increase: tuple[Bound, ...] = _setting((), (int, float, str), "check")
    slice_max: tuple[Bound, ...] = _setting((), (int, float), "check")
    slice_min: tuple[Bound, ...] = _setting((), (int, float), "check")
    #: Labels and predictions: paths, ``-`` (stdin) or data given in Python.
    y_true: Any = _setting(None, _TEXT)
    y_pred: Any = _setting(None, _TEXT)
    #: A path, data, or a number (never read as a path).
    sample_weight: Any = _setting(None, (str, int, float))
    #: One table holding labels, predictions (and weights, baseline, slice columns).
    data: Any = _setting(None, _TEXT)
    true_col: tuple[str, ...] = _setting((), _COLUMNS)
    pred_col: tuple[str, ...] = _setting((), _COLUMNS)
    weight_col: str | None = _setting(None, _TEXT)
    #: A previous model's predictions (``baseline_col``: their columns).
    baseline_pred: Any = _setting(None, _TEXT)
    baseline_col: tuple[str, ...] = _setting((), _COLUMNS)
    input_format: str | None = _setting(None, _TEXT)
    header: bool | None = _setting(None, (bool,))
    delimiter: str | None = _setting(None, _TEXT)
    #: Integer class labels become one-hot rows.
    one_hot: bool = _setting(False, (bool,))
    #: A Dask scheduler's address, or ``local:N``.
    scheduler: str | None = _setting(None, _TEXT)
    #: Rows with NaN or inf: ``raise``, ``omit`` or ``propagate``.
    nan_policy: str = _setting("raise", _TEXT)
    #: Columns whose values cut the input into slices (of ``data``, or of ``groups``).
    group_by: tuple[str, ...] = _setting((), _COLUMNS)
    groups: Any = _setting(None, _TEXT)
    #: Slices of fewer samples get no value; more slices than ``max_slices`` is an error.
    min_slice_size: int = _setting(1, (int,))
    max_slices: int = _setting(1000, (int,))
    #: Confidence intervals: a level (True: 0.95), resamples, seed.
    ci: float | bool | None = _setting(None, (bool, float))
    bootstrap: int | None = _setting(None, (int,))
    seed: int | None = _setting(None, (int,))
    #: ``max_increase`` fails only when the increase's 1 - significance interval is above it.
    significance: float | None = _setting(None, (float,))
    #: ``max_increase`` fails unless the increase's interval is within it.
    non_inferiority: bool = _setting(False, (bool,))
    #: A parameter for every loss that takes it (``{"from_logits": True}``).
    params: Mapping[str, Any] = _setting(dict)
    #: The K samples of largest weighted loss (None: none), of every slice too.
    worst: int | None = _setting(None)
    worst_per_slice: bool = _setting(False)
    #: The per-sample losses' distribution in this many bins (None: none), on this scale.
    histogram: int | None = _setting(None)
    bin_scale: str = _setting("linear")
    spelling: Spelling = field(default=COMMAND_LINE, compare=False)

    def __post_init__(self) -> None:
        validate(self)

    def input_spec(self) -> InputSpec:
        """Where the run reads, as the engine takes it."""
        return InputSpec(
            y_true=self.y_true,
            y_pred=self.y_pred,
            sample_weight=self.sample_weight,
            data=self.data,
            true_cols=list(self.true_col),
            pred_cols=list(self.pred_col),
            weight_col=self.weight_col,
            input_format=self.input_format,
            header=self.header,
            delimiter=self.delimiter,
            one_hot=self.one_hot,
            scheduler=self.scheduler,
            baseline_pred=self.baseline_pred,
            group_by=list(self.group_by),
            groups=self.groups,
            baseline_cols=list(self.baseline_col),
            say=self.spelling.say,
        )

    def analysis(self) -> Analysis:
        """What to find besides each value: worst samples, distribution, slices, intervals."""
        return Analysis(
            self.worst or 0,
            self.histogram or 0,
            self.group_by,
            self.min_slice_size,
            self.max_slices,
            self.resampling(),
            self.worst_per_slice,
            self.bin_scale,
        )

    def resampling(self) -> Resampling | None:
        """``non_inferiority`` reads an interval: it asks for one at 0.95 unless ``ci`` says."""
        ci = True if self.ci is None and self.non_inferiority else self.ci
        return resampling_for(ci, self.bootstrap, self.seed, self.significance)

    def bounds(self) -> list[tuple[str, Bound]]:
        """Every gate's bound as given, by kind in a fixed order."""
        return [(kind, bound) for kind in _GATES for bound in getattr(self, kind)]

    def gates(self, canonical: list[str]) -> dict[int, list[Gate]] | None:
        """Each loss's gates (by position), ``canonical`` the losses' names; None: no gate."""
        if not self.bounds():
            return None
        specs = [item if isinstance(item, str) else item.name for item in self.losses]
        by_loss: dict[int, list[Gate]] = {}
        for kind, (target, bound) in self.bounds():
            gate = _gate(kind, bound, self.spelling)
            for i in _targets(kind, target, bound, specs, canonical, self.spelling):
                by_loss.setdefault(i, []).append(gate)
        if self.significance is not None or self.non_inferiority:
            return {
                i: with_noise(gs, self.significance, self.non_inferiority)
                for i, gs in by_loss.items()
            }
        return by_loss


def _gate(kind: str, bound: Any, spelling: Spelling) -> Gate:
    if spelling.style == "flag":
        return parse_bound(bound, kind, spelling.say(kind))
    return parse_bound(bound, kind, "", spelling.say(kind))


def _targets(
    kind: str,
    target: str | None,
    bound: Any,
    specs: list[str],
    canonical: list[str],
    spelling: Spelling,
) -> list[int]:
    """The losses a bound is for: every one, or those with ``target`` as spec or name."""
    if target is None:
        return list(range(len(specs)))
    found = [
        i
        for i, (spec, name) in enumerate(zip(specs, canonical, strict=True))
        if target.strip() in (spec, name)
    ]
    if not found:
        raise SettingError(
            f"{spelling.say(kind)} {target}={bound}: {target!r} is not one of the evaluated "
            f"losses ({', '.join(specs)}) nor their canonical names"
        )
    return found


#: Whole-number settings: (lowest, highest, how the range reads).
_WHOLE = {
    "worst": (1, 100_000, "from 1 to 100000"),
    "bootstrap": (
        1,
        MAX_RESAMPLES,
        f"from 1 to {MAX_RESAMPLES} (about 4 KiB of memory per resample)",
    ),
    "seed": (0, 2**63 - 1, f"from 0 to {2**63 - 1}"),
    "min_slice_size": (1, 2**63, "at least 1"),
    "max_slices": (1, 2**63, "at least 1"),
}
BIN_SCALES = ("linear", "log", "auto")


def validate(config: RunConfig) -> None:
    """Every range and every rule between settings, once; a SettingError names the first
    setting found wrong as ``config.spelling`` spells it."""
    _check_ranges(config)
    _check_slice_rules(config)
    _check_baseline_rules(config)
    _check_cluster_inputs(config)


def _check_cluster_inputs(config: RunConfig) -> None:
    """A cluster's workers read files: data given in Python cannot go there."""
    if not config.scheduler:
        return
    roles = ("y_true", "y_pred", "sample_weight", "data", "baseline_pred", "groups")
    given = [key for key in roles if not isinstance(getattr(config, key), (str, float, type(None)))]
    if given:
        say = config.spelling.say
        raise SettingError(
            f"{say('scheduler')} runs on the files its workers read; {say(given[0])} is data "
            f"given in Python: give a path, or drop {say('scheduler')}"
        )


def _check_ranges(config: RunConfig) -> None:
    spelling = config.spelling
    say = spelling.say

    def refuse(key: str, shape: str, value: Any) -> None:
        raise SettingError(f"{say(key)} must be {shape}, got {value!r}")

    for key, (low, high, shape) in _WHOLE.items():
        value = getattr(config, key)
        if value is not None and not low <= value <= high:
            refuse(key, shape, value)
    if config.histogram is not None and not 1 <= config.histogram <= 1000:
        also = f" (or {spelling.true}: 30)" if spelling.true else ""
        refuse("histogram", f"from 1 to 1000{also}", config.histogram)
    if config.bin_scale not in BIN_SCALES:
        refuse("bin_scale", "linear, log or auto", config.bin_scale)
    ci = config.ci
    if ci is not None and not isinstance(ci, bool) and not 0 < ci < 1:
        also = f", or {spelling.true}" if spelling.true else ""
        refuse("ci", f"between 0 and 1 (exclusive){also}", ci)
    significance = config.significance
    if significance is not None and not 0 < significance < 1:
        refuse("significance", "between 0 and 1 (exclusive)", significance)
    for kind, (_, bound) in config.bounds():
        _gate(kind, bound, spelling)


def _check_slice_rules(config: RunConfig) -> None:
    """Settings of slices need the slices: ``group_by``."""
    spelling = config.spelling
    say, ask, verb = spelling.say, spelling.ask, spelling.verb
    if config.worst_per_slice and not (config.worst and config.group_by):
        raise SettingError(
            f"{say('worst_per_slice')} lists the worst samples of each slice: {verb} "
            f"{ask('worst', 'K')} and {ask('group_by', 'COL')}"
        )
    if (config.slice_max or config.slice_min) and not config.group_by:
        raise SettingError(
            f"{say('slice_max')} and {say('slice_min')} gate slices: {verb} "
            f"{ask('group_by', 'COL')}"
        )


def _check_baseline_rules(config: RunConfig) -> None:
    """``max_increase`` needs a baseline; making it noise-aware needs ``max_increase``."""
    spelling = config.spelling
    say, ask, verb = spelling.say, spelling.ask, spelling.verb
    if config.max_increase and not (config.baseline_pred is not None or config.baseline_col):
        where = " in [inputs] or the check" if spelling is CHECK_FILE else ""
        raise SettingError(
            f"{say('max_increase')} compares with a baseline: {verb} "
            f"{ask('baseline_pred', 'PATH')} (or {ask('baseline_col', 'COL')}){where}"
        )
    if (config.significance is not None or config.non_inferiority) and not config.max_increase:
        key = "significance" if config.significance is not None else "non_inferiority"
        # The command line's flag alone, as it was; Python's keyword with what it takes.
        metavar = "PATH_OR_ARRAY" if spelling is PYTHON else ""
        baseline = f" and {ask('baseline_pred', metavar)}" if spelling is not CHECK_FILE else ""
        raise SettingError(
            f"{say(key)} makes {say('max_increase')} noise-aware: {verb} "
            f"{ask('max_increase', 'X')}{baseline}"
        )


def check_file_keys(where: str) -> dict[str, tuple[type, ...]]:
    """The keys a check file takes in ``[inputs]`` (``where="inputs"``) or in a check
    (``"check"``: its own and the shared ones), with their TOML types, in field order."""
    wanted = ("inputs",) if where == "inputs" else ("check", "inputs")
    return {
        f.name: f.metadata["toml"]
        for f in dataclasses.fields(RunConfig)
        if f.metadata.get("where") in wanted
    }
