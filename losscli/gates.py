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

import math
from dataclasses import dataclass, field
from typing import Any

from losscli.errors import SpecError


@dataclass(frozen=True)
class Gate:
    kind: str
    bound: float
    relative: bool = False  # max_increase given in percent of the baseline

    def describe(self) -> str:
        """``max 0.35``, ``min 0.1``, ``max_increase 2%``."""
        bound = f"{self.bound:g}%" if self.relative else f"{self.bound:g}"
        return f"{self.kind} {bound}"

    def check(self, value: Any, baseline: Any = None, contributed: bool = True) -> GateOutcome:
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
            return GateOutcome(self, ok, f"{value!r} {'<=' if ok else '>'} max {self.bound!r}")
        if kind == "min":
            ok = value >= self.bound
            return GateOutcome(self, ok, f"{value!r} {'>=' if ok else '<'} min {self.bound!r}")
        if not _finite(baseline):
            return GateOutcome(
                self, False, f"the baseline is {_text(baseline)}, which never passes a gate"
            )
        baseline = float(baseline)
        increase = value - baseline
        allowed = abs(baseline) * self.bound / 100 if self.relative else self.bound
        ok = increase <= allowed
        return GateOutcome(
            self,
            ok,
            f"increase {increase!r} over baseline {baseline!r} {'<=' if ok else '>'} "
            f"allowed {allowed!r} ({self.describe()})",
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


def parse_bound(text: Any, kind: str, where: str) -> Gate:
    """A bound from a number, or for ``max_increase`` also ``"2%"``."""
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
        raise SpecError(f"{where}: {kind} must be {shape}, got {text!r}")
    return Gate(kind, number, relative)


@dataclass
class GateOptions:
    """Gates given on the command line, per loss: ``X`` (the only loss) or ``LOSS=X``."""

    by_loss: dict[int, list[Gate]] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, options: dict[str, tuple[str, ...]], specs: list[str], canonical: list[str]
    ) -> GateOptions:
        gates = cls()
        for kind, values in options.items():
            for item in values:
                target, sep, bound = item.rpartition("=")
                option = "--" + kind.replace("_", "-")
                if not sep and kind == "max_increase":
                    indices = list(range(len(specs)))  # a bare increase bound: every loss
                elif not sep:
                    if len(specs) != 1:
                        raise SpecError(
                            f"{option} {item} needs a loss when several are evaluated: "
                            f"write {option} LOSS={item} (LOSS as typed or its canonical name)"
                        )
                    indices = [0]
                else:
                    indices = [
                        i
                        for i, (spec, name) in enumerate(zip(specs, canonical, strict=True))
                        if target.strip() in (spec, name)
                    ]
                    if not indices:
                        raise SpecError(
                            f"{option} {item}: {target!r} is not one of the evaluated losses "
                            f"({', '.join(specs)}) nor their canonical names"
                        )
                gate = parse_bound(bound if sep else item, kind, option)
                for i in indices:
                    gates.by_loss.setdefault(i, []).append(gate)
        return gates
