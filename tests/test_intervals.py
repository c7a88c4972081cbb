"""Confidence intervals (--ci) and noise-aware baseline gates.

The intervals are checked three ways: against a reference computed here from the definition
(a pure-Python keyed hash for the buckets, pandas for the per-bucket sums, the replicates'
percentiles), for invariance to how the rows arrive (chunk sizes, threads, formats), and
statistically (coverage of a known population value, width against the analytic standard
error). The coverage runs take about half a minute; their seeds are fixed, so they are
deterministic.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli as invoke

import losscli
from losscli.api import prepare
from losscli.stats.gates import Gate, with_noise
from losscli.stats.resample import (
    BUCKETS,
    bucket_ids,
    contiguous_ids,
    draw_weights,
    poisson_weights,
    replicate_sums,
)

M64 = 2**64 - 1


def reference_bucket(row: int, seed: int) -> int:
    """The keyed hash, written out with Python integers: splitmix64 of (seed, row >> 32) as
    the key, MurmurHash3's fmix32 of (row + key) mod 2**32, its top 11 bits."""
    z = (seed * 0x9E3779B97F4A7C15 + (row >> 32) * 0xBF58476D1CE4E5B9 + 0x6C6F7373) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    key = (z ^ (z >> 31)) & 0xFFFFFFFF
    h = (row + key) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h >> (32 - 11)


def reference_interval(per_row, rows, seed, resamples, level, weights=None, divide_by="count"):
    """The percentile interval from the definition: rows to buckets, per-bucket sums (pandas),
    each resample's Poisson weights on the buckets, the reduction of the reweighted sums (a sum:
    n times the reweighted mean per row, a sum over a fixed n)."""
    w = np.ones(len(per_row)) if weights is None else weights
    frame = pd.DataFrame(
        {
            "bucket": [reference_bucket(int(r), seed) for r in rows],
            "loss": per_row * w,
            "count": 1.0,
            "weight": w,
        }
    )
    sums = frame.groupby("bucket").sum().reindex(range(BUCKETS), fill_value=0.0)
    poisson = poisson_weights(seed, resamples)
    replicates = poisson @ sums["loss"].to_numpy()
    if divide_by == "fixed n":
        replicates = replicates / (poisson @ sums["count"].to_numpy()) * len(per_row)
    else:
        replicates = replicates / (poisson @ sums[divide_by].to_numpy())
    return np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return y, y + rng.normal(size=n), rng.uniform(0, 2, n)


# --- the resampling itself -------------------------------------------------------------------


def test_buckets_are_the_keyed_hash_of_seed_and_row():
    rng = np.random.default_rng(1)
    rows = np.concatenate(
        [np.arange(300), rng.integers(0, 2**40, 300), 2**32 + np.arange(-150, 150)]
    )
    for seed in (0, 7, 2**40 + 3):
        assert bucket_ids(rows, seed).tolist() == [reference_bucket(int(r), seed) for r in rows]
    # In any order, the first and last rows in the same 2**32 block and others not.
    mixed = np.array([5, 2**33 + 1, 2**32 + 9, 7])
    assert bucket_ids(mixed, 1).tolist() == [reference_bucket(int(r), 1) for r in mixed]
    # The contiguous fast path, across the 2**32 boundary too.
    for first in (0, 12345, 2**32 - 100):
        expected = [reference_bucket(first + i, 3) for i in range(300)]
        assert contiguous_ids(first, 300, 3).tolist() == expected


def test_buckets_are_even_and_differ_by_seed():
    counts = np.bincount(bucket_ids(np.arange(BUCKETS * 200), 0), minlength=BUCKETS)
    # 200 rows per bucket expected; a multinomial's spread is about sqrt(200) = 14.
    assert counts.min() > 200 - 6 * 15 and counts.max() < 200 + 6 * 15
    a, b = bucket_ids(np.arange(10_000), 0), bucket_ids(np.arange(10_000), 1)
    assert np.mean(a == b) < 0.01


def test_poisson_weights_are_poisson_one_and_fixed_by_the_seed():
    weights = poisson_weights(5, 1000)
    assert weights.shape == (1000, BUCKETS)
    assert weights.mean() == pytest.approx(1.0, abs=0.005)
    assert weights.var() == pytest.approx(1.0, abs=0.01)
    for k in range(5):
        pmf = math.exp(-1) / math.factorial(k)
        assert np.mean(weights == k) == pytest.approx(pmf, abs=0.002)
    assert np.array_equal(weights, draw_weights(5, 1000))
    assert not np.array_equal(weights, draw_weights(6, 1000))


# --- equal to the definition -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("reduction", "weighted", "divide_by"),
    [
        ("sum_over_batch_size", False, "count"),
        ("sum_over_batch_size", True, "count"),
        ("sum", True, "fixed n"),
        ("mean_with_sample_weight", True, "weight"),
    ],
)
def test_the_interval_is_the_percentile_bootstrap_of_bucket_sums(reduction, weighted, divide_by):
    y, p, w = _data(3000)
    report = losscli.evaluate(
        "mse",
        y,
        p,
        sample_weight=w if weighted else None,
        reduction=reduction,
        ci=0.9,
        bootstrap=400,
        seed=11,
    )
    ci = report.results[0].ci
    expected = reference_interval(
        (y - p) ** 2, np.arange(3000), 11, 400, 0.9, w if weighted else None, divide_by
    )
    assert [ci.low, ci.high] == pytest.approx(expected, rel=1e-12)
    assert report.to_dict()["results"][0]["ci"] == {
        "level": 0.9,
        "low": ci.low,
        "high": ci.high,
        "method": "poisson-bootstrap",
        "resamples": 400,
        "seed": 11,
    }


def in_bucket_order(poisson, values):
    """Each resample's weighted sum, added bucket after bucket: ((w0 v0 + w1 v1) + w2 v2) ..."""
    total = np.zeros(len(poisson))
    for bucket in range(BUCKETS):
        total = total + poisson[:, bucket] * values[bucket]
    return total


def test_replicates_are_added_in_bucket_order_not_by_blas():
    """A matrix product adds in an order its kernel chooses (another on an AVX-512 CPU): the
    replicates are added bucket after bucket instead, so one seed gives one interval on every
    machine. Values over twelve orders of magnitude make the order show in the last digits."""
    rng = np.random.default_rng(4)
    values = rng.normal(size=BUCKETS) * 10.0 ** rng.integers(-6, 6, BUCKETS)
    for resamples in (1, 2, 7, 1000):
        poisson = draw_weights(3, resamples)
        assert np.array_equal(replicate_sums(poisson, values), in_bucket_order(poisson, values))
    poisson = poisson_weights(3, 500)
    n = 20_000
    y = rng.normal(size=(n, 1)) * 10.0 ** rng.integers(-6, 6, (n, 1))
    ci = losscli.evaluate("mse", y, np.zeros((n, 1)), ci=0.9, bootstrap=500, seed=3).results[0].ci
    ids = np.array([reference_bucket(r, 3) for r in range(n)])
    sums = np.bincount(ids, weights=y[:, 0] ** 2, minlength=BUCKETS)
    counts = np.bincount(ids, minlength=BUCKETS).astype(np.float64)
    replicates = in_bucket_order(poisson, sums) / in_bucket_order(poisson, counts)
    assert [ci.low, ci.high] == np.quantile(replicates, [0.05, 0.95]).tolist()


def test_dropped_rows_keep_their_index_and_slices_resample_their_own_rows(tmp_path):
    y, p, w = _data(4000, seed=3)
    p[::97] = np.nan  # dropped by --nan-policy omit: the other rows keep their row index
    groups = np.random.default_rng(3).choice(["a", "b"], len(y))
    table = pa.table({"y": y, "p": p, "g": groups})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=700)
    results = losscli.evaluate(
        "mse",
        data=tmp_path / "t.parquet",
        true_col="y",
        pred_col="p",
        group_by="g",
        ci=True,
        nan_policy="omit",
    ).results
    rows = np.arange(len(y))
    keep = ~np.isnan(p)
    selections = [keep, keep & (groups == "a"), keep & (groups == "b")]
    for result, where in zip(results, selections, strict=True):
        expected = reference_interval((y - p)[where] ** 2, rows[where], 0, 1000, 0.95)
        assert [result.ci.low, result.ci.high] == pytest.approx(expected, rel=1e-12)


def test_the_difference_is_paired():
    """The same weights for both models: the difference's replicates are the replicates'
    differences, far narrower than two independent intervals when the models agree."""
    y, p, _ = _data(5000, seed=8)
    baseline = p + np.random.default_rng(9).normal(0, 0.05, len(y))
    result = losscli.evaluate("mse", y, p, baseline_pred=baseline, ci=True).results[0]
    rows = np.arange(len(y))
    ids = np.array([reference_bucket(int(r), 0) for r in rows])
    poisson = poisson_weights(0, 1000)

    def replicates(per_row):
        sums = np.bincount(ids, weights=per_row, minlength=BUCKETS)
        counts = np.bincount(ids, minlength=BUCKETS)
        return (poisson @ sums) / (poisson @ counts)

    change = replicates((y - p) ** 2) - replicates((y - baseline) ** 2)
    expected = np.quantile(change, [0.025, 0.975])
    diff = result.difference_ci
    assert [diff.low, diff.high] == pytest.approx(expected, rel=1e-9)
    assert diff.high - diff.low < 0.2 * (result.ci.high - result.ci.low)


# --- invariance ------------------------------------------------------------------------------


def test_the_interval_does_not_depend_on_chunks_threads_or_format(tmp_path):
    y, p, w = _data(60_000, seed=5)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "w.npy", w)
    table = pa.table({"y": y, "p": p, "w": w})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=7000)  # read by two threads
    pd.DataFrame({"y": y, "p": p, "w": w}).to_csv(tmp_path / "t.csv", index=False)
    options = {"ci": 0.9, "seed": 4, "reduction": "mean_with_sample_weight"}
    runs = [
        prepare("huber", tmp_path / "y.npy", tmp_path / "p.npy", sample_weight=w, **options)
        .run(chunk_rows=chunk)
        .results[0]
        for chunk in (1000, 4099, None)
    ]
    for path in ("t.parquet", "t.csv"):
        runs.append(
            losscli.evaluate(
                "huber",
                data=tmp_path / path,
                true_col="y",
                pred_col="p",
                weight_col="w",
                **options,
            ).results[0]
        )
    first = runs[0]
    for other in runs[1:]:
        assert other.value == pytest.approx(first.value, rel=1e-12)
        assert [other.ci.low, other.ci.high] == pytest.approx([first.ci.low, first.ci.high], 1e-11)


def test_a_dataset_evaluated_file_by_file_numbers_rows_across_files(tmp_path):
    """--output DIR/ evaluates one file at a time, as a cluster does: each file's rows are
    keyed by their index in the whole dataset, so the interval is the single pass's."""
    root = tmp_path / "data"
    root.mkdir()
    y, p, _ = _data(9000, seed=6)
    for i, (a, b) in enumerate([(0, 2500), (2500, 6100), (6100, 9000)]):
        pq.write_table(pa.table({"y": y[a:b], "p": p[a:b]}), root / f"part-{i}.parquet")
    args = ("eval", "mse", "--data", root, "--true-col", "y", "--pred-col", "p", "--ci", "-f")
    whole = json.loads(invoke(*args, "json", code=0).stdout)["results"][0]
    parted = json.loads(invoke(*args, "json", "-o", f"{tmp_path}/out/", code=0).stdout)
    ends = [parted["results"][0]["ci"][end] for end in ("low", "high")]
    assert ends == pytest.approx([whole["ci"]["low"], whole["ci"]["high"]], rel=1e-12)
    expected = reference_interval((y - p) ** 2, np.arange(9000), 0, 1000, 0.95)
    assert [whole["ci"]["low"], whole["ci"]["high"]] == pytest.approx(expected, rel=1e-12)


# --- statistics ------------------------------------------------------------------------------


def _simulated(loss, n, rng):
    """Labels and predictions whose population loss is known exactly."""
    if loss == "mse":
        y = rng.normal(size=n)
        return y, y + rng.normal(size=n), 1.0  # E[(y_pred - y)^2] = 1
    levels = np.linspace(0.1, 0.9, 9)
    prob = rng.choice(levels, n)
    y = (rng.random(n) < prob).astype(float)
    entropy = -(levels * np.log(levels) + (1 - levels) * np.log(1 - levels))
    return y, prob, float(entropy.mean())  # calibrated: E[BCE] is the mean entropy


def _coverage(loss, n, repetitions=400):
    """How often the interval of the default seed covers the population value, over
    independent validation sets: the coverage a user gets, who keeps the seed (its resample
    weights are drawn once, and most of an evaluation's time is drawing them)."""
    covered = 0
    for rep in range(repetitions):
        y, p, truth = _simulated(loss, n, np.random.default_rng(10_000 + rep))
        ci = losscli.evaluate(loss, y, p, ci=0.95).results[0].ci
        covered += ci.low <= truth <= ci.high
    return covered / repetitions


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_the_95_percent_interval_covers_the_population_value(loss):
    """400 simulated validation sets of 1,000 rows; measured: 95.25% for MSE, 94.75% for
    BCE (with a seed per set, 94.75% and 95.25%; at 50 rows, 93.25% and 94.0%)."""
    assert 0.93 <= _coverage(loss, 1000) <= 0.97


def test_the_width_agrees_with_the_analytic_standard_error():
    y, p, _ = _data(200_000, seed=12)
    squared = (y - p) ** 2
    analytic = 2 * 1.959964 * squared.std(ddof=1) / math.sqrt(len(squared))
    ci = losscli.evaluate("mse", y, p, ci=0.95).results[0].ci
    assert (ci.high - ci.low) / analytic == pytest.approx(1.0, abs=0.10)


def test_few_samples_get_a_warning():
    y, p, _ = _data(99)
    report = losscli.evaluate("mse", y, p, ci=True)
    assert report.warnings == [
        "mse: an interval from 99 samples; below 100 a bootstrap interval is often too narrow "
        "(it covers the value less often than its level says)"
    ]
    y, p, _ = _data(100)
    assert losscli.evaluate("mse", y, p, ci=True).warnings == []


# --- noise-aware baseline gates --------------------------------------------------------------


def _gated(y, p, baseline, gates):
    """The command's path with gates built here: both kinds on the same evaluation."""
    return prepare("mse", y, p, baseline_pred=baseline, ci=True).run(gates={0: gates}).evaluation


@pytest.mark.slow
def test_noise_alone_does_not_fail_a_significance_gate():
    """A model as good as the baseline (independent errors of the same size) on 5,000 rows:
    the plain 1% gate fails on many seeds, the noise-aware one on few."""
    plain = Gate("max_increase", 1.0, relative=True)
    aware = with_noise([plain], 0.05, False)[0]
    plain_failed = aware_failed = by_few_rows = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        y = rng.normal(size=5000)
        p, baseline = y + rng.normal(size=5000), y + rng.normal(size=5000)
        outcomes = _gated(y, p, baseline, [plain, aware]).results[0].gates
        plain_failed += not outcomes[0].passed
        aware_failed += not outcomes[1].passed
        by_few_rows += "carried by a handful of rows" in outcomes[1].reason
    assert plain_failed >= 50  # measured: 64 of 200
    assert aware_failed <= 10  # at least 95% pass; measured: 3 of 200
    assert by_few_rows == 0  # the rule on concentrated changes adds no failure here


def test_a_truly_worse_model_fails_the_significance_gate():
    """Errors 5% larger in variance than the baseline's (the same errors, scaled): the
    increase is real, and the noise-aware 1% gate fails on every seed."""
    aware = with_noise([Gate("max_increase", 1.0, relative=True)], 0.05, False)[0]
    for seed in range(50):
        rng = np.random.default_rng(seed)
        y = rng.normal(size=5000)
        errors = rng.normal(size=5000)
        baseline, p = y + errors, y + math.sqrt(1.05) * errors + rng.normal(0, 0.05, 5000)
        assert not _gated(y, p, baseline, [aware]).results[0].gates[0].passed


def test_non_inferiority_needs_the_whole_interval_within_the_bound():
    y, p, _ = _data(3000, seed=2)
    baseline = y + np.random.default_rng(4).normal(size=3000)
    diff = _gated(y, p, baseline, []).results[0].difference_ci
    middle = (diff.low + diff.high) / 2  # a bound inside the interval
    plain = Gate("max_increase", middle)
    significance = with_noise([plain], 0.05, False)[0]
    strict = with_noise([plain], None, True)[0]
    outcomes = _gated(y, p, baseline, [significance, strict]).results[0].gates
    assert [o.passed for o in outcomes] == [True, False]
    assert outcomes[1].reason.endswith(
        f"95% interval [{diff.low:.6g}, {diff.high:.6g}]: upper bound > allowed {middle!r}"
    )


# --- the command -----------------------------------------------------------------------------

SAMPLE = ("--data", "sample_data/binary.parquet", "--true-col", "label", "--pred-col", "logit")
BCE = "binary_crossentropy(from_logits=true)"
PREVIOUS = ("--baseline-pred", "sample_data/binary_previous.parquet")


def test_json_csv_and_table_carry_the_intervals():
    args = ("eval", BCE, *SAMPLE, *PREVIOUS, "--ci", "0.9", "--group-by", "label")
    document = json.loads(invoke(*args, "-f", "json", code=0).stdout)
    first = document["results"][0]
    assert set(first["ci"]) == {"level", "low", "high", "method", "resamples", "seed"}
    assert first["difference_ci"]["level"] == 0.9
    assert first["ci"]["low"] < first["value"] < first["ci"]["high"]
    assert all("ci" in r and "difference_ci" in r for r in document["results"])
    lines = invoke(*args, "-f", "csv", code=0).stdout.splitlines()
    header = lines[0].split(",")
    assert header[header.index("n_samples") :] == [
        "n_samples", "slice_label", "ci_level", "ci_low", "ci_high", "ci_method", "ci_resamples",
        "ci_seed", "baseline", "difference", "difference_ci_level", "difference_ci_low",
        "difference_ci_high", "difference_ci_method", "difference_ci_resamples",
        "difference_ci_seed",
    ]  # fmt: skip
    cells = dict(zip(header, lines[1].split(","), strict=True))
    assert float(cells["ci_low"]) == first["ci"]["low"]
    assert float(cells["difference_ci_high"]) == first["difference_ci"]["high"]
    table = invoke(*args, code=0).stdout
    diff = first["difference_ci"]
    assert f"[{diff['low']:.6g}, {diff['high']:.6g}]" in table
    assert "ci_low" in table.splitlines()[2] and "ci_high" in table.splitlines()[2]


def _logit_bce(labels, logits):
    """Binary crossentropy from logits, written out (the stable form Keras uses)."""
    return float(np.mean(np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-abs(logits)))))


def test_a_significance_gate_from_the_command():
    """The increase is about -0.0795, its 95% interval about [-0.136, -0.027]."""
    table = pd.read_parquet("sample_data/binary.parquet")
    labels = table["label"].to_numpy(dtype=float)
    value = _logit_bce(labels, table["logit"].to_numpy())
    previous = pd.read_parquet("sample_data/binary_previous.parquet")["logit"].to_numpy()
    baseline = _logit_bce(labels, previous)
    args = ("eval", BCE, *SAMPLE, *PREVIOUS, "--max-increase")
    invoke(*args, "-0.1", code=1)  # the plain gate: -0.0795 > -0.1
    invoke(*args, "-0.1", "--significance", "0.05", code=0)  # the lower bound is below -0.1
    result = invoke(*args, "-0.2", "--significance", "0.05", code=1)
    line = result.stderr.strip().splitlines()[-1]
    found = re.fullmatch(
        r"FAIL: binary_crossentropy\(from_logits=true\): max_increase -0.2 \(significance "
        r"0.05\): increase (\S+) over baseline (\S+), 95% interval \[(\S+), (\S+)\]: lower "
        r"bound > allowed -0.2",
        line,
    )
    assert found is not None, line
    increase, shown_baseline, low, high = (float(x) for x in found.groups())
    assert increase == pytest.approx(value - baseline, rel=1e-12)
    assert shown_baseline == pytest.approx(baseline, rel=1e-12)
    document = json.loads(
        invoke(*args, "-0.2", "--significance", "0.05", "-f", "json", code=1).stdout
    )
    diff = document["results"][0]["difference_ci"]
    assert (low, high) == (float(f"{diff['low']:.6g}"), float(f"{diff['high']:.6g}"))
    assert -0.2 < low < increase < high


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--reduction", "none", "--ci"),
            "Error: --ci gives an interval of one value; mse with reduction none gives one per "
            "sample",
        ),
        (
            ("--significance", "0.05"),
            "Error: --significance makes --max-increase noise-aware: add --max-increase X and "
            "--baseline-pred",
        ),
        (
            ("--non-inferiority",),
            "Error: --non-inferiority makes --max-increase noise-aware: add --max-increase X "
            "and --baseline-pred",
        ),
    ],
)
def test_what_the_command_refuses(extra, message):
    args = ("eval", "mse", "--y-true", "sample_data/regression_true.npy")
    result = invoke(*args, "--y-pred", "sample_data/regression_pred.npy", *extra, code=2)
    assert result.stderr.strip() == message


def test_a_loss_of_the_whole_input_has_no_interval(tmp_path):
    y = np.random.default_rng(0).normal(size=(50, 4))
    np.save(tmp_path / "y.npy", y)
    result = invoke(
        "eval",
        "circle",
        "--y-true",
        tmp_path / "y.npy",
        "--y-pred",
        tmp_path / "y.npy",
        "--ci",
        code=2,
    )
    assert result.stderr.strip() == (
        "Error: circle needs the whole input at once (every pair, or a sum over samples); --ci "
        "resamples rows, which it cannot"
    )


@pytest.mark.parametrize("value", ["0", "1", "1.5", "x"])
def test_a_level_outside_zero_and_one_is_refused(value):
    result = invoke("eval", "mse", *SAMPLE, "--ci", value, code=2)
    assert result.stderr.startswith("Error: Invalid value for '--ci': ")
    assert result.stderr.count("\n") == 1  # one line


# --- check files -----------------------------------------------------------------------------

CONFIG = """
[inputs]
data = "{data}/binary.parquet"
true_col = "label"
pred_col = "logit"
ci = 0.9
seed = 1

[[checks]]
name = "noise-aware"
loss = "binary_crossentropy(from_logits=true)"
baseline_pred = "{data}/binary_previous.parquet"
max_increase = -0.05
significance = 0.05
group_by = "label"

[[checks]]
name = "strict"
loss = "binary_crossentropy(from_logits=true)"
baseline_pred = "{data}/binary_previous.parquet"
max_increase = "-10%"
non_inferiority = true
"""


def test_check_files_take_the_interval_keys(tmp_path):
    from pathlib import Path

    config = tmp_path / "losscli.toml"
    config.write_text(CONFIG.format(data=Path("sample_data").resolve()))
    result = invoke("check", config, "--junit-xml", tmp_path / "r.xml", "-f", "json", code=1)
    checks = json.loads(result.stdout)["checks"]
    assert [c["passed"] for c in checks] == [True, False]
    assert checks[0]["ci"]["level"] == 0.9 and checks[0]["ci"]["seed"] == 1
    assert all("ci" in s for s in checks[0]["slices"])
    diff = checks[1]["difference_ci"]
    junit = (tmp_path / "r.xml").read_text()
    low, high = f"{diff['low']:.6g}", f"{diff['high']:.6g}"
    assert f"90% interval [{low}, {high}]: upper bound &gt; allowed" in junit
    assert (
        f"difference: {checks[1]['difference']!r} (90% interval "
        f"[{diff['low']!r}, {diff['high']!r}], poisson-bootstrap, 1000 resamples, seed 1)"
    ) in junit


PER_RESAMPLE = "about 4 KiB of memory per resample"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("significance = 0.05", "significance makes max_increase noise-aware: set max_increase"),
        ("ci = 1.5", "ci must be between 0 and 1 (exclusive), or true, got 1.5"),
        ("bootstrap = 0", f"bootstrap must be from 1 to 100000 ({PER_RESAMPLE}), got 0"),
        (
            "bootstrap = 1000000",
            f"bootstrap must be from 1 to 100000 ({PER_RESAMPLE}), got 1000000",
        ),
        ('ci = "yes"', "ci must be true/false or a number, got 'yes'"),
    ],
)
def test_check_files_refuse_bad_interval_keys(tmp_path, setting, message):
    config = tmp_path / "losscli.toml"
    config.write_text(f'[[checks]]\nloss = "mse"\ny_true = "y.npy"\ny_pred = "y.npy"\n{setting}\n')
    result = invoke("check", config, code=2)
    assert result.stderr.strip() == f"Error: {config} checks[0]: {message}"


def test_the_plot_shows_each_slice_with_its_interval(tmp_path):
    args = ("eval", "mse", "--data", "sample_data/binary.parquet", "--true-col", "label")
    args += ("--pred-col", "prob", "--group-by", "label", "--ci")
    results = json.loads(invoke(*args, "-f", "json", code=0).stdout)["results"]
    invoke(*args, "--plot", tmp_path / "p.html", "-q", code=0)
    text = (tmp_path / "p.html").read_text()
    start = text.index('id="losscli-slices">') + len('id="losscli-slices">')
    shown = json.loads(text[start : text.index("</script>", start)])["mse"]
    assert [row["slice"] for row in shown] == ["(all)", "label=0", "label=1"]
    assert [row["ci"] for row in shown] == [[r["ci"]["low"], r["ci"]["high"]] for r in results]
    assert [row["value"] for row in shown] == [r["value"] for r in results]
    assert text.count("<circle") == 3 and text.count('stroke="#c03030" stroke-width="2"') == 3
    invoke(*args, "--plot", tmp_path / "p.png", "-q", code=0)
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_seed_fixes_the_interval():
    y, p, _ = _data(2000, seed=1)
    first = losscli.evaluate("mse", y, p, seed=3).results[0].ci  # --seed alone asks for one
    again = losscli.evaluate("mse", y, p, seed=3).results[0].ci
    other = losscli.evaluate("mse", y, p, seed=4).results[0].ci
    assert first == again and first.level == 0.95 and first.resamples == 1000
    assert (other.low, other.high) != (first.low, first.high)
    assert other.low == pytest.approx(first.low, rel=0.05)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ci": 1.5}, "ci= must be between 0 and 1 (exclusive), or True, got 1.5"),
        (
            {"ci": 0.9, "bootstrap": 0},
            f"bootstrap= must be from 1 to 100000 ({PER_RESAMPLE}), got 0",
        ),
        (
            {"bootstrap": 100_001},
            f"bootstrap= must be from 1 to 100000 ({PER_RESAMPLE}), got 100001",
        ),
        ({"seed": -1}, "seed= must be from 0 to 9223372036854775807, got -1"),
    ],
)
def test_the_library_refuses_bad_interval_options(options, message):
    from losscli.errors import InputError

    with pytest.raises(InputError) as raised:
        losscli.evaluate("mse", [0.0, 1.0], [0.5, 1.0], **options)
    assert str(raised.value) == message


@pytest.mark.parametrize("count", ["0", "1000000"])
def test_the_command_refuses_a_bad_bootstrap_count(count):
    from losscli.stats.resample import MAX_RESAMPLES

    assert MAX_RESAMPLES == 100_000  # as the option's range says
    result = invoke("eval", "mse", *SAMPLE, "--bootstrap", count, code=2)
    assert result.stderr == (
        f"Error: Invalid value for '--bootstrap': {count} is not in the range 1<=x<=100000. "
        "(see 'losscli eval --help')\n"
    )


def test_non_inferiority_in_a_check_file_needs_max_increase(tmp_path):
    config = tmp_path / "losscli.toml"
    config.write_text('[[checks]]\nloss = "mse"\ny_true = "y.npy"\ny_pred = "y.npy"\n')
    config.write_text(config.read_text() + "non_inferiority = true\n")
    result = invoke("check", config, code=2)
    assert result.stderr.strip() == (
        f"Error: {config} checks[0]: non_inferiority makes max_increase noise-aware: set "
        "max_increase"
    )


def test_each_slice_gets_its_paired_difference_interval(tmp_path):
    y, p, _ = _data(6000, seed=13)
    baseline = y + np.random.default_rng(14).normal(size=len(y))
    groups = np.random.default_rng(15).integers(0, 3, len(y))
    results = losscli.evaluate(
        "mse", y, p, baseline_pred=baseline, groups=pd.DataFrame({"g": groups}), group_by="g",
        ci=0.9, seed=2,
    ).results  # fmt: skip
    ids = np.array([reference_bucket(r, 2) for r in range(len(y))])
    poisson = poisson_weights(2, 1000)

    def replicates(per_row, where):
        sums = np.bincount(ids[where], weights=per_row[where], minlength=BUCKETS)
        counts = np.bincount(ids[where], minlength=BUCKETS)
        return (poisson @ sums) / (poisson @ counts)

    for result, where in zip(
        results, [groups >= 0, groups == 0, groups == 1, groups == 2], strict=True
    ):
        change = replicates((y - p) ** 2, where) - replicates((y - baseline) ** 2, where)
        expected = np.quantile(change, [0.05, 0.95])
        diff = result.difference_ci
        assert [diff.low, diff.high] == pytest.approx(expected, rel=1e-9)


def test_quiet_silences_numpy_on_non_finite_intervals(tmp_path):
    (tmp_path / "rw.csv").write_text("y,p\n1,inf\n2,2\n3,3\n")
    args = ["eval", "mse", "--data", tmp_path / "rw.csv", "--true-col", "y", "--pred-col", "p"]
    args += ["--nan-policy", "propagate", "--ci", "--bootstrap", "20", "-q"]
    # A process of its own: pytest would catch numpy's warnings before they reach stderr.
    done = subprocess.run(
        [sys.executable, "-m", "losscli", *map(str, args)], capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_a_sum_interval_is_for_a_fixed_number_of_rows():
    """``reduction="sum"``: n times the interval of the mean, as wide as the normal interval
    n * (mean +- 1.96 sd / sqrt(n)) within 10% at 200,000 rows (each resample's own sum,
    which varies with how many rows it draws, was 7 times wider)."""
    rng = np.random.default_rng(5)
    n = 200_000
    y = rng.normal(size=n)
    p = y + rng.normal(size=n)
    result = losscli.evaluate("mse", y, p, reduction="sum", ci=True).results[0]
    losses = (p - y) ** 2
    assert result.value == pytest.approx(losses.sum(), rel=1e-12)
    assert result.ci.low < result.value < result.ci.high
    normal = 2 * 1.96 * losses.std(ddof=1) * np.sqrt(n)
    assert 0.9 < (result.ci.high - result.ci.low) / normal < 1.1
