"""Beyond one number: the worst samples and the distribution of the per-sample losses.

Both are accumulators of the same shape as the loss sums (``update`` with a chunk's weighted
per-sample losses, ``merge`` in any order, ``result``; plain arrays, so they pickle): they work
on every engine, and their results do not depend on the chunk size, the threads or the order
of merging. No click, no rich.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from losscli.errors import InputError, TooManySlices
from losscli.stats.resample import Resampling

#: Per-sample losses kept exactly, per loss, for the distribution; past this many, a sketch.
EXACT_VALUES = 1 << 20

#: The sketch's relative accuracy: a quantile is within this fraction of a sample value of
#: its rank (logarithmic buckets, as DDSketch).
SKETCH_ACCURACY = 1e-3

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


class Analysis(NamedTuple):
    """What to find besides the reduced value: the ``worst`` K samples (0: none), the
    distribution in ``bins`` bins (0: none), values by slice of the ``group_by`` columns
    (slices of fewer than ``min_slice_size`` samples get no value; more than ``max_slices``
    slices are an error), and confidence intervals (``resampling``)."""

    worst: int = 0
    bins: int = 0
    group_by: tuple[str, ...] = ()
    min_slice_size: int = 1
    max_slices: int = 1000
    #: ``--ci``: confidence intervals by resampling row buckets.
    resampling: Resampling | None = None
    #: ``--worst-per-slice``: the ``worst`` K samples of every slice too.
    worst_per_slice: bool = False
    #: ``--plot-scale``: the bins' scale, ``linear``, ``log`` or ``auto`` (``log_bins``).
    bin_scale: str = "linear"

    def __bool__(self) -> bool:
        """Anything to find in the per-sample losses (the slices take their own sums)."""
        return bool(self.worst or self.bins)

    def too_many_slices(self) -> TooManySlices:
        """The error of more slices than ``max_slices``, raised as soon as a chunk has one
        past the limit: an id column costs what the limit allows, not what it holds."""
        return TooManySlices(self.group_by, self.max_slices)

    def for_slice(self) -> Analysis:
        """What a slice finds: its own sums and intervals (the worst samples and the
        distribution are the whole input's)."""
        return Analysis(resampling=self.resampling)


#: Nothing besides the reduced value.
NO_ANALYSIS = Analysis()


def one_per_sample(weighted: np.ndarray, spec: str) -> np.ndarray:
    """The weighted per-sample losses as one value per sample, or an error saying why not."""
    if weighted.ndim != 1:
        shape = (
            "one value for the whole input"
            if weighted.ndim == 0
            else (f"{weighted.shape[1:]} values per sample")
        )
        raise InputError(
            f"{spec} gives {shape}; the worst samples and the distribution need one loss "
            "value per sample"
        )
    return weighted


def rank_keys(loss: np.ndarray) -> np.ndarray:
    """Sort keys, smallest first for the worst: a NaN loss is the worst of all."""
    keys = -loss
    keys[np.isnan(loss)] = -np.inf
    return keys


#: What is kept of each of the worst samples, side by side: arrays of one row per sample.
FIELDS = ("loss", "row", "y_true", "y_pred", "weight")


class WorstK:
    """The ``k`` samples with the largest weighted per-sample loss, ties by row index; what
    they were (y_true, y_pred, weight) kept with them, in ``kept`` (``FIELDS``)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.kept: dict[str, np.ndarray] = {}

    def shift(self, first_row: int) -> None:
        """Rows counted from ``first_row``: a part's rows, once the parts before it are known."""
        if self.kept:
            self.kept["row"] = self.kept["row"] + first_row

    def update(
        self,
        loss: np.ndarray,
        rows: np.ndarray,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        weight: np.ndarray,
    ) -> None:
        self.add(dict(zip(FIELDS, (loss, rows, y_true, y_pred, weight), strict=True)))

    def add(self, samples: dict[str, np.ndarray]) -> None:
        """Samples of any fields, ``loss`` and ``row`` among them (a row each)."""
        loss = samples["loss"]
        if self.kept and len(self.kept["row"]) == self.k and len(loss):
            # Full: only losses at least as large as the k-th kept one (or NaN) can enter.
            threshold = self.kept["loss"][-1]
            if not np.isnan(threshold):
                take = np.flatnonzero(~(loss < threshold))  # NaN passes: the worst of all
                if not len(take):
                    return
                samples = taken(samples, take)
        if len(samples["loss"]) > self.k:
            keys = rank_keys(samples["loss"])
            # Everything up to the k-th key, ties at it included: the row order decides below.
            kth = np.partition(keys, self.k - 1)[self.k - 1]
            samples = taken(samples, np.flatnonzero(keys <= kth))
        self._keep(samples)

    def merge(self, other: WorstK) -> None:
        if other.kept:
            self._keep(other.kept)

    def _keep(self, samples: dict[str, np.ndarray]) -> None:
        if self.kept:
            samples = {f: np.concatenate([self.kept[f], samples[f]]) for f in samples}
        order = np.lexsort((samples["row"], rank_keys(samples["loss"])))[: self.k]
        self.kept = taken(samples, order)

    def result(self) -> list[dict[str, Any]]:
        """Largest first: ``row`` (0-based, in the input), ``y_true``, ``y_pred`` (numbers, or
        lists for vectors), ``weight`` and ``loss``."""
        if not self.kept:
            return []
        kept = self.kept
        columns = (
            [int(row) for row in kept["row"].tolist()],
            *(_plain_rows(kept[field]) for field in ("y_true", "y_pred", "weight", "loss")),
        )
        return [
            {"row": row, "y_true": y_true, "y_pred": y_pred, "weight": weight, "loss": loss}
            for row, y_true, y_pred, weight, loss in zip(*columns, strict=True)
        ]


def taken(samples: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {field: values[index] for field, values in samples.items()}


def _plain_rows(values: np.ndarray) -> list[Any]:
    """Each row's values: one number, or a (nested) list."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == len(values):
        return values.reshape(-1).tolist()
    return [row.reshape(-1)[0].item() if row.size == 1 else row.tolist() for row in values]


class Distribution:
    """The per-sample losses' count, extremes, quantiles and histogram.

    Exact while at most ``EXACT_VALUES`` values have been seen (they are kept); beyond that a
    mergeable sketch of logarithmic buckets, with quantiles within ``SKETCH_ACCURACY``
    (relative) of a sample value of the quantile's rank. NaN and inf losses are counted apart
    (``nonfinite``): the bins, quantiles and ``count`` are of the finite ones.
    """

    def __init__(self) -> None:
        self.kept: list[np.ndarray] | None = []
        self.sketch: _Sketch | None = None
        self.count = 0
        self.nonfinite = 0  # NaN and inf losses: counted apart, in no bin
        self.low = math.inf
        self.high = -math.inf

    def update(self, values: np.ndarray) -> None:
        finite = values
        if not np.isfinite(np.add.reduce(values)):  # one pass; a mask only when needed
            finite = values[np.isfinite(values)]
            self.nonfinite += len(values) - len(finite)
        if not len(finite):
            return
        self.count += len(finite)
        self.low = min(self.low, float(np.min(finite)))
        self.high = max(self.high, float(np.max(finite)))
        if self.kept is not None:
            self.kept.append(np.array(finite))
            if self.count > EXACT_VALUES:
                self._to_sketch()
        else:
            assert self.sketch is not None
            self.sketch.add(finite)

    def _to_sketch(self) -> None:
        assert self.kept is not None
        self.sketch = _Sketch()
        for values in self.kept:
            self.sketch.add(values)
        self.kept = None

    def merge(self, other: Distribution) -> None:
        self.count += other.count
        self.nonfinite += other.nonfinite
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        if self.kept is not None and other.kept is not None and self.count <= EXACT_VALUES:
            self.kept += other.kept
            return
        if self.kept is not None:
            self._to_sketch()
        assert self.sketch is not None
        if other.kept is not None:
            for values in other.kept:
                self.sketch.add(values)
        elif other.sketch is not None:
            self.sketch.merge(other.sketch)

    def result(self, bins: int, scale: str = "linear") -> dict[str, Any]:
        """The JSON ``distribution``: counts of the ``bins`` equal-width bins from the least to
        the largest value sum to ``count``; bins of equal width in log(value) (and
        ``"scale": "log"``) when ``log_bins`` says so for ``scale``."""
        out: dict[str, Any] = {"count": self.count}
        if self.nonfinite:
            out["nonfinite"] = self.nonfinite
        if not self.count:
            return {**out, "min": None, "max": None, "quantiles": {}, "edges": [], "counts": []}
        edges = np.linspace(self.low, self.high, bins + 1)
        if self.kept is not None:
            values = np.concatenate(self.kept)
            quantiles = np.quantile(values, list(QUANTILES.values()))
            counts = np.histogram(values, edges)[0]
            method: dict[str, Any] = {"method": "exact"}
        else:
            assert self.sketch is not None
            quantiles = [self.sketch.quantile(q) for q in QUANTILES.values()]
            counts = self.sketch.histogram(edges)
            method = {"method": "sketch", "relative_accuracy": SKETCH_ACCURACY}
        logarithmic = log_bins(scale, self.low, self.high, quantiles[0], quantiles[-1])
        tiny = self.high
        if logarithmic:
            tiny = self.low if self.low > 0 else self._smallest_positive()
        if tiny < self.high and (self.low > 0 or bins > 1):  # a bin of its own for the zeros
            method["scale"] = "log"
            if self.low > 0:
                edges = np.geomspace(self.low, self.high, bins + 1)
            else:  # zeros (and negative values) in the first bin, below the least positive
                edges = np.concatenate([[self.low], np.geomspace(tiny, self.high, bins)])
            counts = (
                np.histogram(values, edges)[0]
                if self.kept is not None
                else self.sketch.histogram(edges)  # type: ignore[union-attr]
            )
        return {
            **out,
            "min": self.low,
            "max": self.high,
            "quantiles": {
                name: float(np.clip(value, self.low, self.high))
                for name, value in zip(QUANTILES, quantiles, strict=True)
            },
            "edges": edges.tolist(),
            "counts": [int(c) for c in counts],
            **method,
        }

    def _smallest_positive(self) -> float:
        if self.kept is not None:
            values = np.concatenate(self.kept)
            positive = values[values > 0]
        else:
            assert self.sketch is not None
            positive = self.sketch._buckets()[0]
            positive = positive[positive > 0]
        return float(np.min(positive)) if len(positive) else self.high


#: ``--plot-scale auto`` bins on a logarithmic scale when p99 is at least this many times p50:
#: then more than 90% of the samples would share the first tenth of equal-width bins.
LOG_RATIO = 10.0


def log_bins(scale: str, low: float, high: float, p50: float, p99: float) -> bool:
    """Bins of equal width in log(value)? ``log``: when some value is positive; ``auto``: for
    non-negative values with p99 >= ``LOG_RATIO`` * p50 (more than half zeros included)."""
    if scale == "log":
        return high > 0
    if scale != "auto" or low < 0 or p99 <= 0:
        return False
    return p50 <= 0 or p99 / p50 >= LOG_RATIO


class _Sketch:
    """Counts of values in logarithmic buckets (DDSketch's mapping): bucket ``i`` holds the
    magnitudes in (gamma**(i-1), gamma**i]; its midpoint ``2 gamma**i / (gamma + 1)`` is within
    ``SKETCH_ACCURACY`` of every one of them. Zeros, positives and negatives apart."""

    def __init__(self) -> None:
        # Buckets a little finer than the stated accuracy: magnitudes between 1e-30 and 1e30
        # take their logarithm in float32 (3 times faster), off by at most 5e-6 relative.
        accuracy = SKETCH_ACCURACY - 5e-6
        self.gamma = (1 + accuracy) / (1 - accuracy)
        self.log_gamma = math.log(self.gamma)
        self.zeros = 0
        self.stores: dict[int, tuple[int, np.ndarray]] = {1: (0, np.zeros(0, np.int64))}
        self.stores[-1] = (0, np.zeros(0, np.int64))

    def add(self, values: np.ndarray) -> None:
        low, high = float(np.min(values)), float(np.max(values))
        if low > 0:  # losses are mostly positive: no masks
            self._add_magnitudes(1, values, low, high)
            return
        self.zeros += int(np.count_nonzero(values == 0))
        if high > 0:
            positive = values[values > 0]
            self._add_magnitudes(1, positive, float(np.min(positive)), high)
        if low < 0:
            negative = -values[values < 0]
            self._add_magnitudes(-1, negative, float(np.min(negative)), -low)

    def _add_magnitudes(self, sign: int, magnitudes: np.ndarray, low: float, high: float) -> None:
        narrow = low >= 1e-30 and high <= 1e30
        logs = np.log(magnitudes.astype(np.float32) if narrow else magnitudes)
        logs *= 1 / self.log_gamma
        index = np.ceil(logs).astype(np.int64)
        first = int(index.min())
        index -= first
        self._add_counts(sign, first, np.bincount(index))

    def _add_counts(self, sign: int, low: int, counts: np.ndarray) -> None:
        base, store = self.stores[sign]
        if not len(store):
            self.stores[sign] = (low, counts.astype(np.int64))
            return
        start = min(base, low)
        end = max(base + len(store), low + len(counts))
        merged = np.zeros(end - start, np.int64)
        merged[base - start : base - start + len(store)] += store
        merged[low - start : low - start + len(counts)] += counts
        self.stores[sign] = (start, merged)

    def merge(self, other: _Sketch) -> None:
        self.zeros += other.zeros
        for sign in (1, -1):
            low, counts = other.stores[sign]
            if len(counts):
                self._add_counts(sign, low, counts)

    def _buckets(self) -> tuple[np.ndarray, np.ndarray]:
        """Every nonempty bucket's midpoint value and count, ascending by value."""
        values, counts = [], []
        for sign in (-1, 1):
            low, store = self.stores[sign]
            index = np.flatnonzero(store)
            mid = sign * 2 * self.gamma ** (index + low) / (self.gamma + 1)
            values.append(mid[::-1] if sign == -1 else mid)
            counts.append(store[index][::-1] if sign == -1 else store[index])
            if sign == -1 and self.zeros:
                values.append(np.zeros(1))
                counts.append(np.array([self.zeros]))
        return np.concatenate(values), np.concatenate(counts)

    def quantile(self, q: float) -> float:
        values, counts = self._buckets()
        rank = q * (int(counts.sum()) - 1)  # numpy's linear method, at its nearest rank
        position = int(np.searchsorted(np.cumsum(counts), math.floor(rank) + 1))
        return float(values[min(position, len(values) - 1)])

    def histogram(self, edges: np.ndarray) -> np.ndarray:
        """Bucket counts binned by their midpoints (clipped into the range of the edges)."""
        values, counts = self._buckets()
        inside = np.clip(values, edges[0], edges[-1])
        return np.histogram(inside, edges, weights=counts)[0].astype(np.int64)
