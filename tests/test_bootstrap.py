"""The bootstrap accumulator (``stats.bootstrap``) on its own: ``update`` by a chunk's rows'
buckets, ``merge`` in any order, ``result`` against the replicates written out with numpy
(the bucket ids and Poisson weights are checked against their definitions in
test_intervals.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from losscli.losses.reduction import RunningReduction, weigh
from losscli.stats.bootstrap import (
    Bootstrap,
    Buckets,
    BucketTable,
    Cells,
    Resamples,
    RowIndex,
    cell_sums,
    unit_for,
)
from losscli.stats.resample import BUCKETS, Resampling, bucket_ids, draw_weights

RESAMPLING = Resampling(level=0.9, resamples=200, seed=7)


def _data(n: int = 3000, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Losses and weights that are multiples of 1/8: every sum of them is exact, whatever
    the order of the additions."""
    rng = np.random.default_rng(seed)
    losses = rng.integers(0, 80, n) / 8
    weights = rng.integers(0, 5, n) / 4
    mask = rng.random(n) < 0.8
    return losses, weights, mask


def _fed(
    reduction: str, losses: np.ndarray, weights: object, mask: np.ndarray | None, cuts: list[int]
) -> tuple[RunningReduction, Bootstrap]:
    """A reduction and its bootstrap fed the rows chunk by chunk (``cuts``), each chunk's
    rows numbered from the first of the input."""
    running, bootstrap = RunningReduction(reduction), Bootstrap()
    unit = RowIndex(RESAMPLING.seed)
    for start, end in zip([0, *cuts], [*cuts, len(losses)], strict=True):
        w = weights[start:end] if isinstance(weights, np.ndarray) else weights
        m = None if mask is None else mask[start:end]
        weighed = weigh(losses[start:end], w, m)
        running.record(weighed)
        bootstrap.update(weighed, unit.buckets({"y_pred": losses[start:end]}, start, None))
    return running, bootstrap


def _expected(
    reduction: str, losses: np.ndarray, weights: object, mask: np.ndarray | None
) -> np.ndarray:
    """Each resample's value written out: per-bucket sums by ``np.add.at``, the
    resamples' sums as a matrix product."""
    n = len(losses)
    ids = bucket_ids(np.arange(n), RESAMPLING.seed)
    poisson = draw_weights(RESAMPLING.seed, RESAMPLING.resamples).astype(np.float64)
    w = np.ones(n) if weights is None else np.broadcast_to(np.asarray(weights, float), (n,))
    keep = np.ones(n) if mask is None else mask.astype(float)

    def by_bucket(values: np.ndarray) -> np.ndarray:
        out = np.zeros(BUCKETS)
        np.add.at(out, ids, values)
        return out

    total = poisson @ by_bucket(losses * w * keep)
    if reduction == "sum":
        return total / (poisson @ by_bucket(np.ones(n))) * n
    if reduction == "mean_with_sample_weight" and np.ndim(weights) == 0 and mask is None:
        return total / float(weights)  # type: ignore[arg-type]
    if reduction == "mean_with_sample_weight":
        return total / (poisson @ by_bucket(w * keep))
    return total / (poisson @ by_bucket(keep if mask is not None else np.ones(n)))


@pytest.mark.parametrize(
    ("reduction", "weighted", "masked"),
    [
        ("sum_over_batch_size", False, False),
        ("sum_over_batch_size", True, True),
        ("sum", True, False),
        ("mean_with_sample_weight", True, False),
        ("mean_with_sample_weight", True, True),
        ("mean_with_sample_weight", "scalar", False),
    ],
)
def test_result_is_the_reduction_under_each_resamples_weights(reduction, weighted, masked):
    losses, weights, mask = _data()
    given = 2.5 if weighted == "scalar" else (weights if weighted else None)
    running, bootstrap = _fed(reduction, losses, given, mask if masked else None, [1000, 2000])
    replicates = bootstrap.result(running, Resamples(RESAMPLING))
    expected = _expected(reduction, losses, given, mask if masked else None)
    np.testing.assert_allclose(replicates.values, expected, rtol=1e-12)
    ci = replicates.interval()
    finite = expected[~np.isnan(expected)]
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(finite, [0.05, 0.95])), rel=1e-12)
    assert (ci.level, ci.resamples, ci.seed) == (0.9, 200, 7)


def test_merge_in_any_order_gives_the_same_sums():
    """Chunks' bootstraps merged in any order: the same per-bucket sums as one pass (exact
    here: every partial sum of these values is a float), so the same replicates."""
    losses, weights, mask = _data()
    _, whole = _fed("mean_with_sample_weight", losses, weights, mask, [])
    cuts = [0, 500, 1200, 1201, 2999, 3000]
    parts = []
    unit = RowIndex(RESAMPLING.seed)
    for start, end in zip(cuts, cuts[1:], strict=False):
        part = Bootstrap()
        weighed = weigh(losses[start:end], weights[start:end], mask[start:end])
        part.update(weighed, unit.buckets({"y_pred": losses[start:end]}, start, None))
        parts.append(part)
    random.Random(3).shuffle(parts)
    merged = Bootstrap()
    for part in parts:
        merged.merge(part)
    for name in ("sums", "entries", "valid", "weights"):
        assert np.array_equal(merged.get(name), whole.get(name)), name
    assert merged.get("entries").sum() == 3000
    assert merged.get("valid").sum() == mask.sum()


def test_a_scalar_weight_has_no_weight_column():
    """A number for the weights: Keras divides by it once, so no bucket sums of weights."""
    losses, _, _ = _data(50)
    bootstrap = Bootstrap()
    bootstrap.update(weigh(losses, 3.0), RowIndex(0).buckets({"y_pred": losses}, 0, None))
    assert bootstrap.get("weights") is None
    assert bootstrap.get("sums").sum() == 3.0 * losses.sum()


def test_rows_are_bucketed_by_their_index_in_the_whole_input():
    """The row unit: a chunk's buckets are those of its rows' input indices, dropped rows
    (``kept``) included, whatever the chunk; parts number their rows first."""
    unit = unit_for(RESAMPLING)
    assert unit.numbered
    chunk = {"y_pred": np.zeros(6)}
    expected = bucket_ids(np.arange(1000, 1006), RESAMPLING.seed)
    assert unit.buckets(chunk, 1000, None).ids.tolist() == expected.tolist()
    kept = np.array([0, 2, 5])
    got = unit.buckets({"y_pred": np.zeros(3)}, 1000, kept).ids
    assert got.tolist() == expected[kept].tolist()
    # Across the 32-bit boundary of row indices too.
    first = 2**32 - 3
    across = unit.buckets(chunk, first, None).ids
    assert across.tolist() == bucket_ids(np.arange(first, first + 6), RESAMPLING.seed).tolist()


def test_buckets_count_and_sum_by_bucket():
    buckets = Buckets(np.array([3, 3, 0, 2047]))
    assert len(buckets) == 4
    assert buckets.counts()[[0, 2, 3, 2047]].tolist() == [1.0, 0.0, 2.0, 1.0]
    assert buckets.sums(np.array([1.5, 2.0, 4.0, 8.0]))[[0, 3, 2047]].tolist() == [4.0, 3.5, 8.0]


def test_slices_share_a_table_and_get_their_own_rows_sums():
    """A chunk's (slice, bucket) sums added to every slice's row at once (``add_cells``) are
    what each slice's own bootstrap would get from its rows alone."""
    losses, weights, mask = _data(2000, seed=4)
    codes = np.random.default_rng(5).integers(0, 5, len(losses))
    buckets = RowIndex(RESAMPLING.seed).buckets({"y_pred": losses}, 0, None)
    weighed = weigh(losses, weights, mask)
    table = BucketTable()
    shared = [Bootstrap(table) for _ in range(5)]
    table.add_cells([b.row for b in shared], cell_sums(weighed, Cells(codes, 5, buckets)))
    for g, bootstrap in enumerate(shared):
        rows = np.flatnonzero(codes == g)
        alone = Bootstrap()
        alone.update(weigh(losses[rows], weights[rows], mask[rows]), Buckets(buckets.ids[rows]))
        for name in ("sums", "entries", "valid", "weights"):
            assert np.array_equal(bootstrap.get(name), alone.get(name)), (g, name)


def test_a_slice_left_out_of_the_table_adds_nothing():
    """Row -1: a slice with no bootstrap of its own (no baseline) gets nothing."""
    losses, _, _ = _data(300)
    codes = np.arange(300) % 2
    buckets = RowIndex(0).buckets({"y_pred": losses}, 0, None)
    table = BucketTable()
    kept = Bootstrap(table)
    table.add_cells([-1, kept.row], cell_sums(weigh(losses), Cells(codes, 2, buckets)))
    assert kept.get("entries").sum() == 150
    assert kept.get("sums").sum() == losses[1::2].sum()


def test_the_difference_is_paired():
    """The same bucket weights for the model and the baseline: the change's replicates are
    the difference of theirs, resample by resample."""
    losses, _, _ = _data()
    worse = losses + 1.0
    resamples = Resamples(RESAMPLING)
    mine = _fed("mean", losses, None, None, [1500])
    theirs = _fed("mean", worse, None, None, [700])
    change = mine[1].result(mine[0], resamples).minus(theirs[1].result(theirs[0], resamples))
    np.testing.assert_allclose(change.values, -1.0, rtol=1e-12)
    assert change.interval(0.5).low == pytest.approx(-1.0, rel=1e-12)
