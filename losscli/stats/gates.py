"""Quality gates: bounds on a loss value and on its increase over a baseline.

Bounds are inclusive. A value that is NaN, infinite or missing never passes.
Every Keras loss is lower-is-better, so ``max_increase`` bounds ``value - baseline``.

>>> Gate("max", 0.35).check(0.35).passed
True
>>> Gate("max_increase", 2.0, relative=True).check(1.03, baseline=1.0).passed
False
>>> Gate("min", 0.1).check(float("nan")).reason
'the value is nan, which never passes a gate'
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from losscli.errors import SpecError

if TYPE_CHECKING:
    from collections.abc import Callable

    from losscli.stats.concentration import Concentrated
    from losscli.stats.resample import Interval


@dataclass(frozen=True)
class Gate:
    kind: str
    bound: float
    relative: bool = False  # max_increase given in percent of the baseline
    #: ``max_increase`` only: fail only when the increase's interval at level 1 - significance
    #: lies above the bound (``--significance``); or unless it lies within it
    #: (``--non-inferiority``, at that level or the ``--ci`` level).
    significance: float | None = None
    non_inferiority: bool = False

    @property
    def noise_aware(self) -> bool:
        return self.kind == "max_increase" and (
            self.significance is not None or self.non_inferiority
        )

    def level(self, ci_level: float) -> float:
        """The level of the difference's interval this gate reads."""
        return 1 - self.significance if self.significance is not None else ci_level

    def describe(self) -> str:
        """``max 0.35``, ``min 0.1``, ``max_increase 2%``, ``max_increase 1% (significance
        0.05)``."""
        short = f"{self.bound:g}"  # 2 for 2.0; every digit when :g would round
        bound = short if float(short) == self.bound else repr(self.bound)
        bound += "%" if self.relative else ""
        noise = []
        if self.kind == "max_increase" and self.non_inferiority:
            noise.append("non-inferiority")
        if self.kind == "max_increase" and self.significance is not None:
            noise.append(f"significance {self.significance:g}")
        return f"{self.kind} {bound}" + (f" ({', '.join(noise)})" if noise else "")

    def check(
        self,
        value: Any,
        baseline: Any = None,
        contributed: bool = True,
        change: Interval | None = None,
        extremes: Callable[[], Concentrated | None] | None = None,
    ) -> GateOutcome:
        """The gate on a value (and its baseline); a noise-aware gate reads ``change``, the
        interval of ``value - baseline`` at its level, and with ``--significance``
        ``extremes()``: the change without its most extreme rows (``concentration``)."""
        if not contributed:
            return GateOutcome(self, False, f"{_NO_SAMPLE}, which never passes a gate")
        if not _finite(value):
            return GateOutcome(
                self, False, f"the value is {_text(value)}, which never passes a gate"
            )
        value = float(value)
        kind = self.kind.removeprefix("slice_")  # the same bounds, on every slice
        if kind == "max":
            ok = value <= self.bound
            return GateOutcome(self, ok, f"{value!r} {'<=' if ok else '>'} {self.describe()}")
        if kind == "min":
            ok = value >= self.bound
            return GateOutcome(self, ok, f"{value!r} {'>=' if ok else '<'} {self.describe()}")
        if not _finite(baseline):
            return GateOutcome(
                self, False, f"the baseline is {_text(baseline)}, which never passes a gate"
            )
        return self._increase(value, float(baseline), change, extremes)

    def _increase(
        self,
        value: float,
        baseline: float,
        change: Interval | None,
        extremes: Callable[[], Concentrated | None] | None,
    ) -> GateOutcome:
        """``max_increase`` on a finite value and baseline."""
        increase = value - baseline
        allowed = abs(baseline) * self.bound / 100 if self.relative else self.bound
        if not self.noise_aware:
            ok = increase <= allowed
            return GateOutcome(
                self,
                ok,
                # The gate is named beside its reason (the FAIL line, JSON, JUnit).
                f"increase {increase!r} over baseline {baseline!r} {'<=' if ok else '>'} "
                f"allowed {allowed!r}",
            )
        if change is None or not (_finite(change.low) and _finite(change.high)):
            return GateOutcome(
                self, False, "the increase has no interval, which never passes this gate"
            )
        # Non-inferiority: the whole interval within the bound; else: fail only when the
        # whole interval is above it.
        bound_name, end = ("upper", change.high) if self.non_inferiority else ("lower", change.low)
        ok = end <= allowed
        if ok and not self.non_inferiority and increase > allowed and extremes is not None:
            carried = self._carried(increase, baseline, allowed, change, extremes())
            if carried is not None:
                return carried
        return GateOutcome(
            self,
            ok,
            f"increase {increase!r} over baseline {baseline!r}, {change.level * 100:.4g}% interval "
            f"{change.text()}: {bound_name} bound {'<=' if ok else '>'} allowed {allowed!r}",
        )

    def _carried(
        self,
        increase: float,
        baseline: float,
        allowed: float,
        change: Interval,
        found: Concentrated | None,
    ) -> GateOutcome | None:
        """A failure when an increase the interval forgives is carried by a handful of rows
        (``concentration``): never forgiven; None when it is not."""
        if found is None:
            return None
        rows, worse, trimmed, held = found
        if not (trimmed <= allowed and _finite(held.low) and held.low > allowed):
            return None
        return GateOutcome(
            self,
            False,
            f"increase {increase!r} over baseline {baseline!r} > allowed {allowed!r}, "
            f"carried by a handful of rows: {trimmed!r} without the {rows} that got "
            f"most worse and the {rows} that got most better; the {change.level * 100:.4g}"
            f"% interval {change.text()} reaches below the bound by leaving them out: "
            f"with the {worse} that got most worse held in every resample it is "
            f"{held.text()}, lower bound > allowed ({self.describe()})",
        )


_NO_SAMPLE = "no sample contributed (every weight is 0 or every label is masked)"


@dataclass(frozen=True)
class GateOutcome:
    gate: Gate
    passed: bool
    reason: str


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    return "missing" if value is None else str(value)


def parse_bound(text: Any, kind: str, where: str, name: str | None = None) -> Gate:
    """A bound from a number, or for ``max_increase`` also ``"2%"``; a message names it as
    ``name`` (the kind), after ``where`` when given."""
    relative = False
    if isinstance(text, str):
        stripped = text.strip()
        if kind == "max_increase" and stripped.endswith("%"):
            relative, stripped = True, stripped[:-1]
        try:
            number = float(stripped)
        except ValueError:
            number = math.nan
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        number = float(text)
    else:
        number = math.nan
    if not math.isfinite(number):
        shape = "a number or a percentage such as 2%" if kind == "max_increase" else "a number"
        prefix = f"{where}: " if where else ""
        raise SpecError(f"{prefix}{name or kind} must be {shape}, got {text!r}")
    return Gate(kind, number, relative)


def with_noise(gates: list[Gate], significance: float | None, non_inferiority: bool) -> list[Gate]:
    """The ``max_increase`` gates made noise-aware (``--significance``, ``--non-inferiority``);
    the others as they are."""
    return [
        dataclasses.replace(g, significance=significance, non_inferiority=non_inferiority)
        if g.kind == "max_increase"
        else g
        for g in gates
    ]
