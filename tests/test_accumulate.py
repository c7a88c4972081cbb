"""The map step's output: accumulators that merge in any order, to the same bits, and pickle
(what a thread, a process or a cluster worker hands back)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from losscli.engine.accumulate import LossAccumulator
from losscli.losses.spec import build_loss

CASES = [
    ("mse", "real"),
    ("huber(delta=0.5)", "real"),
    ("binary_crossentropy(from_logits=true)", "binary"),
    ("binary_crossentropy", "binary"),  # logits without from_logits: a warning to merge too
    ("categorical_crossentropy", "rows"),
    ("sparse_categorical_crossentropy(ignore_class=1)", "labels"),
]


def data(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if kind == "real":
        return rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    if kind == "binary":
        return rng.integers(0, 2, (n, 1)).astype(float), rng.normal(size=(n, 1))
    probabilities = rng.dirichlet(np.ones(4), n)
    labels = rng.integers(0, 4, n)
    if kind == "rows":
        return np.eye(4)[labels], probabilities
    return labels.astype(float), probabilities


@pytest.mark.parametrize(("spec", "kind"), CASES)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_accumulators_merge_in_any_order_to_the_same_bits(spec, kind, reduction):
    rng = np.random.default_rng(11)
    n = 10_007
    y_true, y_pred = data(kind, n, rng)
    baseline = y_pred[::-1].copy()
    weights = rng.uniform(0.0, 2.0, n)
    loss = build_loss(spec, reduction=reduction)
    cuts = [0, 1, 640, 3001, 3002, 7777, 9999, n]
    parts = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        chunk = {"y_true": y_true[start:end], "y_pred": y_pred[start:end]}
        chunk["baseline_pred"] = baseline[start:end]
        part = LossAccumulator(loss, with_baseline=True)
        part.update(chunk, weights[start:end], start, None, None)
        parts.append(pickle.loads(pickle.dumps(part)))
    results = set()
    for order in (range(len(parts)), reversed(range(len(parts))), rng.permutation(len(parts))):
        total = LossAccumulator(loss, with_baseline=True)
        for i in order:
            total.merge(parts[i])
        value, base = total.result()
        results.add((float(value), float(base), tuple(total.checks.messages())))
    assert len(results) == 1
    value, base, messages = results.pop()
    assert bool(messages) == (spec == "binary_crossentropy")
    assert value == pytest.approx(float(loss(y_true, y_pred, sample_weight=weights)), rel=1e-12)
    assert base == pytest.approx(float(loss(y_true, baseline, sample_weight=weights)), rel=1e-12)
