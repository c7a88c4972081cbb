"""A noise-aware gate never forgives a change carried by a handful of rows.

The candidate equals the baseline except a few rows off by 1e4: its MSE is some 2,000,000
times the baseline's, yet the percentile interval of the change reaches down to 0 (the rows
are all left out of more than 2.5% of the resamples). The gate fails, saying why; the numbers
in its reason are checked against the rule written out here with numpy."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli as invoke

from losscli.api import prepare
from losscli.stats.concentration import held_rows
from losscli.stats.gates import Gate, with_noise
from losscli.stats.resample import BUCKETS, bucket_ids, poisson_weights

AWARE = with_noise([Gate("max_increase", 1.0, relative=True)], 0.05, False)[0]

REASON = re.compile(
    r"increase (\S+) over baseline (\S+) > allowed (\S+), carried by a handful of rows: (\S+) "
    r"without the 3 that got most worse and the 3 that got most better; the 95% interval "
    r"\[(\S+), (\S+)\] reaches below the bound by leaving them out: with the (\d+) that got "
    r"most worse held in every resample it is \[(\S+), (\S+)\], lower bound > allowed "
    r"\(max_increase 1% \(significance 0.05\)\)"
)


def _damaged(rows, n=10_000, seed=0, size=1e4):
    """Labels, the candidate and the baseline: the candidate is the baseline except ``rows``
    rows off by ``size``."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    baseline = y + rng.normal(scale=0.1, size=n)
    candidate = baseline.copy()
    candidate[rng.choice(n, rows, replace=False)] += size
    return y, candidate, baseline


def _expected(y, candidate, baseline, seed):
    """The rule written out: the change with the 3 most worse and the 3 most better rows taken
    as unchanged, and the 95% interval with the (at most 3) rows that got most worse held at
    weight 1 in every resample, from per-bucket sums."""
    n = len(y)
    mine, theirs = (candidate - y) ** 2, (baseline - y) ** 2
    increase = mine - theirs
    order = np.lexsort((np.arange(n), -increase))  # largest first, ties by row
    worse = [i for i in order[:3] if increase[i] > 0]
    better = [i for i in np.lexsort((np.arange(n), increase))[:3] if increase[i] < 0]
    trimmed = (math.fsum(increase) - math.fsum(increase[worse + better])) / n
    buckets = bucket_ids(np.arange(n), seed)
    poisson = poisson_weights(seed, 1000).astype(np.float64)  # small whole numbers, as floats
    count = poisson @ np.bincount(buckets, minlength=BUCKETS)
    lifted = 1 - poisson[:, buckets[worse]]
    held_count = count + lifted.sum(axis=1)
    replicates = [
        (poisson @ np.bincount(buckets, weights=loss, minlength=BUCKETS) + lifted @ loss[worse])
        / held_count
        for loss in (mine, theirs)
    ]
    low, high = np.quantile(replicates[0] - replicates[1], [0.025, 0.975])
    return trimmed, len(worse), low, high


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_a_change_carried_by_a_few_rows_fails(rows):
    for seed in range(10) if rows == 2 else (0,):
        y, candidate, baseline = _damaged(rows)
        result = (
            prepare(
                "mse",
                y,
                candidate,
                baseline_pred=baseline,
                seed=seed,
                significance=0.05,
                max_increase="1%",
            )
            .run()
            .evaluation.results[0]
        )
        allowed = 0.01 * float(result.baseline)
        assert result.difference > 1e6 * allowed
        # The interval alone forgives it: its lower end is at the change without those rows.
        assert result.difference_ci.low <= allowed
        outcome = result.gates[0]
        assert outcome.gate == AWARE  # max_increase="1%", significance=0.05
        assert not outcome.passed
        found = REASON.fullmatch(outcome.reason)
        assert found is not None, outcome.reason
        numbers = [float(x) for x in found.groups()]
        increase, shown_baseline, shown_allowed, trimmed, low, high, held, *ends = numbers
        assert (increase, shown_baseline) == (result.difference, float(result.baseline))
        assert shown_allowed == pytest.approx(allowed, rel=1e-15)
        assert (low, high) == (
            float(f"{result.difference_ci.low:.6g}"),
            float(f"{result.difference_ci.high:.6g}"),
        )
        want_trimmed, want_held, want_low, want_high = _expected(y, candidate, baseline, seed)
        assert trimmed == pytest.approx(want_trimmed, abs=1e-9) and trimmed <= allowed
        assert held == want_held == rows  # the others did not change
        assert ends == [float(f"{want_low:.6g}"), float(f"{want_high:.6g}")]
        assert ends[0] > allowed


def test_held_rows_are_those_a_bootstrap_cannot_weigh():
    # All k rows are left out of a share e^-k of the resamples: at least A/2 up to k.
    assert [held_rows(a) for a in (0.5, 0.2, 0.1, 0.05, 0.01, 0.001)] == [1, 2, 2, 3, 5, 7]
    for a in (0.2, 0.05, 0.01, 0.001):
        k = held_rows(a)
        assert math.exp(-k) >= a / 2 > math.exp(-(k + 1))


def test_a_change_spread_over_many_rows_is_read_from_the_interval():
    """Damage in 50 rows: the interval itself lies above the bound (the usual reason)."""
    y, candidate, baseline = _damaged(50, size=10.0)
    outcome = (
        prepare("mse", y, candidate, baseline_pred=baseline, significance=0.05, max_increase="1%")
        .run()
        .evaluation.results[0]
        .gates[0]
    )
    assert not outcome.passed
    assert "handful" not in outcome.reason and "lower bound > allowed" in outcome.reason


def test_the_rule_is_the_same_on_every_engine(tmp_path):
    """Chunks of any size, Parquet row groups on two threads, and a dataset evaluated file by
    file (as a cluster does): the same rows held, the same numbers."""
    y, candidate, baseline = _damaged(2, n=12_000)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", candidate)
    np.save(tmp_path / "b.npy", baseline)
    reasons = [
        prepare(
            "mse",
            tmp_path / "y.npy",
            tmp_path / "p.npy",
            baseline_pred=tmp_path / "b.npy",
            significance=0.05,
            max_increase="1%",
        )
        .run(chunk_rows=chunk)
        .evaluation.results[0]
        .gates[0]
        .reason
        for chunk in (1000, 4099, None)
    ]
    for kind, rows in (("one", 2500), ("parts", None)):
        data, previous = tmp_path / f"{kind}-data", tmp_path / f"{kind}-baseline"
        data.mkdir()
        previous.mkdir()
        cuts = [(0, 12_000)] if rows else [(0, 3000), (3000, 7700), (7700, 12_000)]
        for i, (a, b) in enumerate(cuts):
            pq.write_table(
                pa.table({"y": y[a:b], "p": candidate[a:b]}),
                data / f"{i}.parquet",
                row_group_size=rows,
            )
            pq.write_table(
                pa.table({"p": baseline[a:b]}), previous / f"{i}.parquet", row_group_size=rows
            )
        command = ("eval", "mse", "--data", data, "--true-col", "y", "--pred-col", "p")
        command += ("--baseline-pred", previous, "--max-increase", "1%", "--significance", "0.05")
        more = () if rows else ("-o", f"{tmp_path}/out/")
        document = json.loads(invoke(*command, *more, "-f", "json", code=1).stdout)
        reasons.append(document["results"][0]["gates"][0]["reason"])
    first = [float(x) for x in REASON.fullmatch(reasons[0]).groups()]
    for reason in reasons[1:]:
        found = REASON.fullmatch(reason)
        assert found is not None, reason
        assert [float(x) for x in found.groups()] == pytest.approx(first, rel=1e-9, abs=1e-9)


def test_the_command_and_junit_say_why(tmp_path):
    y, candidate, baseline = _damaged(2)
    for name, array in (("y", y), ("p", candidate), ("b", baseline)):
        np.save(tmp_path / f"{name}.npy", array)
    args = ("eval", "mse", "--y-true", tmp_path / "y.npy", "--y-pred", tmp_path / "p.npy")
    args += ("--baseline-pred", tmp_path / "b.npy", "--max-increase", "1%")
    invoke(*args, code=1)  # the plain gate
    result = invoke(*args, "--significance", "0.05", code=1)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("FAIL: mse: max_increase 1% (significance 0.05): increase ")
    assert REASON.fullmatch(line.split(": ", 3)[3]) is not None, line
    config = tmp_path / "c.toml"
    config.write_text(
        f'[inputs]\ny_true = "{tmp_path / "y.npy"}"\ny_pred = "{tmp_path / "p.npy"}"\n'
        f'baseline_pred = "{tmp_path / "b.npy"}"\n'
        '[[checks]]\nloss = "mse"\nmax_increase = "1%"\nsignificance = 0.05\n'
    )
    invoke("check", config, "--junit-xml", tmp_path / "r.xml", code=1)
    failure = ET.parse(tmp_path / "r.xml").getroot().find("testsuite/testcase/failure")
    message = failure.get("message")
    assert message.startswith("mean_squared_error: increase ")
    assert REASON.fullmatch(message.removeprefix("mean_squared_error: ")) is not None
