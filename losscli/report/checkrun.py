"""What a check file's run gives: each check (its loss, gates and inputs) and the run's
results, errors and warnings, as every report format reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from losscli.engine import InputSpec, Result
from losscli.stats.analysis import NO_ANALYSIS, Analysis
from losscli.stats.gates import Gate


@dataclass
class Check:
    name: str
    loss: str
    reduction: str
    dtype: str
    gates: list[Gate]
    inputs: InputSpec
    nan_policy: str = "raise"
    analysis: Analysis = NO_ANALYSIS
    #: The check file leaves the reduction to its default (sum_over_batch_size).
    default_reduction: bool = False

    @property
    def weighted_by_default(self) -> bool:
        """Weights under the default reduction: Keras' sum(w * loss) / N, not a weighted
        mean."""
        weighted = self.inputs.sample_weight is not None or bool(self.inputs.weight_col)
        return weighted and self.default_reduction


@dataclass
class CheckRun:
    """What running the checks of a config gave."""

    config: Path
    checks: list[Check]
    results: list[Result | None]  # None for a check that ended in an error
    seconds: list[float]
    warnings: list[str] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # check index -> input error
    #: A check's slices (``group_by``): one result per slice, sorted by key.
    slices: dict[int, list[Result]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        sliced = all(r.passed for results in self.slices.values() for r in results)
        return not self.errors and sliced and all(r is not None and r.passed for r in self.results)
