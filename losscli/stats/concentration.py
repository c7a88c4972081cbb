"""A change carried by a handful of rows, which a bootstrap cannot weigh.

A resample leaves a row out with probability e^-1 (its bucket's Poisson weight is 0), so it
leaves out all of k rows in a share e^-k of the resamples. The lower end of a two-sided 1 - A
interval reads the A/2 quantile: for k <= ln(2/A) rows (3 at A = 0.05) it reaches down to the
change without them, however large the change they carry. A noise-aware gate would so forgive
a model catastrophically worse on a few rows. ``held_rows(A)`` is that k.

The rule (``concentrated``), for an increase above the allowed that the interval forgives:

- carried by a handful of rows: with the k rows whose weighted loss increased most and the k
  whose decreased most taken as unchanged (a symmetric trim: from two equally good models'
  change it removes noise, not change), the change is within the allowed;
- and not noise: with those k rows that got most worse held at their observed weight 1 in every
  resample (the other rows resampled as before), the interval lies above the
  allowed.

Then the gate fails. The rows are kept by ``Increases``, two ``WorstK`` of the per-row
increases (largest and smallest), merged exactly on every engine. No click, no rich.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from losscli.errors import setting
from losscli.stats.analysis import WorstK
from losscli.stats.resample import per_row

if TYPE_CHECKING:
    from losscli.losses.reduction import RunningReduction, Weighed
    from losscli.stats.bootstrap import Bootstrap, Resamples
    from losscli.stats.resample import Interval

#: Rows kept at each end of the per-row increases: enough for ``held_rows`` down to
#: ``--significance`` 1e-4.
KEPT = 10


def held_rows(significance: float) -> int:
    """The most rows a two-sided 1 - ``significance`` percentile interval cannot weigh: all of
    them are left out of at least a share significance/2 of the resamples."""
    return min(KEPT, max(1, math.floor(math.log(2 / significance))))


class Concentrated(NamedTuple):
    """How a change stands without its most extreme rows (``concentrated``)."""

    rows: int  # k: the rows that got most worse (and most better)
    worse: int  # of them, those whose loss increased (held)
    trimmed: float  # the change with the k most worse and k most better rows unchanged
    held: Interval  # the change's interval with the ``worse`` rows held in every resample


class Increases:
    """The ``KEPT`` rows whose weighted loss increased most over the baseline's (``worse``:
    with each row's bucket and its share of every sum a resample reweights), and the ``KEPT``
    that decreased most (``better``); ties by row index; merged in any order."""

    def __init__(self) -> None:
        self.worse = WorstK(KEPT)
        self.better = WorstK(KEPT)

    def update(self, mine: Weighed, theirs: Weighed, rows: np.ndarray, buckets: np.ndarray) -> None:
        """A chunk's weighted losses (``mine``) and the baseline's (``theirs``), for the input
        rows ``rows`` in the resampling ``buckets``."""
        n = len(rows)
        if not n:
            return
        need = f"{setting('ci')} resamples rows: it needs one loss value per sample"
        sums, baseline = per_row(mine.weighted, n, need), per_row(theirs.weighted, n, need)
        entries = np.full(n, float(mine.weighted.size // n))
        increase = sums - baseline
        self.worse.add(
            {
                "loss": increase,
                "row": rows,
                "bucket": buckets,
                "sums": sums,
                "baseline_sums": baseline,
                "entries": entries,
                "valid": _or_entries(mine.mask, n, entries),
                "baseline_valid": _or_entries(theirs.mask, n, entries),
                "weights": _or_entries(None if mine.scalar else mine.weights, n, entries),
            }
        )
        self.better.add({"loss": -increase, "row": rows})

    def merge(self, other: Increases) -> None:
        self.worse.merge(other.worse)
        self.better.merge(other.better)

    def shift(self, first_row: int) -> None:
        self.worse.shift(first_row)
        self.better.shift(first_row)


def concentrated(
    increases: Increases,
    running: tuple[RunningReduction, Bootstrap],
    baseline: tuple[RunningReduction, Bootstrap],
    resamples: Resamples,
    level: float,
    significance: float,
) -> Concentrated | None:
    """The change without its most extreme rows and its interval with the rows that got most
    worse held (None: no row got worse); ``running`` and ``baseline`` are the model's and the
    baseline's sums, with their bootstraps."""
    rows = held_rows(significance)
    worse, better = increases.worse.kept, increases.better.kept
    if not worse:
        return None
    held = np.flatnonzero(worse["loss"][:rows] > 0)
    if not len(held):
        return None
    improved = better["loss"][:rows]
    extremes = math.fsum(worse["loss"][held]) - math.fsum(improved[improved > 0])
    (reduction, bootstrap), (reference_reduction, reference_bootstrap) = running, baseline
    value, reference = reduction.result(), reference_reduction.result()
    divisor = reduction.divisor()
    trimmed = value - reference - (extremes / divisor if divisor else 0.0)
    # Each resample's weight of each held row's bucket, less 1: (resamples, held), an
    # explicit product and sum per resample (no BLAS), the same on every machine.
    lifted = 1.0 - resamples.poisson[:, worse["bucket"][held]]

    def correction(prefix: str) -> Callable[[str], np.ndarray]:
        def of(name: str) -> np.ndarray:
            field = prefix + name if prefix + name in worse else name
            return (lifted * worse[field][held]).sum(axis=1)

        return of

    change = bootstrap.result(reduction, resamples, correction("")).minus(
        reference_bootstrap.result(reference_reduction, resamples, correction("baseline_"))
    )
    return Concentrated(rows, len(held), trimmed, change.interval(level))


def _or_entries(values: np.ndarray | None, n: int, entries: np.ndarray) -> np.ndarray:
    """A row's sum of ``values``, or its entries when there are none (the sums a resample
    reads in their place)."""
    if values is None:
        return entries
    need = f"{setting('ci')} needs a value row per sample"
    return per_row(np.asarray(values, dtype=np.float64), n, need)
