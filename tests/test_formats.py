"""What every format prints: tables that use their width, one rectangular CSV readable by
pandas, the worst samples in a file of their own, one name per fact across JSON, CSV and
``to_pandas()``, and the small things (no trailing spaces, one spelling of a gate)."""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import run_cli
from test_terminal import assert_fits, in_terminal, whole_in_a_line

import losscli
from losscli.stats.gates import Gate

REGIONS = ["africa", "america", "asia", "europe", "oceania"]


@pytest.fixture(scope="module")
def six(tmp_path_factory):
    """600 rows in 5 regions and 3 days (integers): with the whole input, 6 results a loss."""
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "p": rng.normal(size=n),
            "old": rng.normal(size=n),
            "region": np.array(REGIONS)[rng.integers(0, 5, n)],
            "day": rng.integers(1, 4, n),
        }
    )
    path = tmp_path_factory.mktemp("six") / "six.parquet"
    frame.to_parquet(path)
    # A previous model's predictions, under the same column name.
    frame[["old"]].rename(columns={"old": "p"}).to_parquet(path.parent / "old.parquet")
    return path


def old(six):
    return str(six.parent / "old.parquet")


def data(path):
    return ["--data", str(path), "--true-col", "y", "--pred-col", "p"]


# --- tables use their width ------------------------------------------------------------------


@pytest.mark.parametrize("columns", [100, 120])
@pytest.mark.parametrize("loss", ["mse", "huber(delta=0.5)"])
def test_a_six_slice_table_with_intervals_fits_100_columns(six, columns, loss):
    args = ["eval", loss, *data(six), "--group-by", "region", "--ci"]
    text, err, code = in_terminal(args, columns)
    assert code == 0, err
    lines = assert_fits(text, columns)
    # What every row shares is said once; an empty config column is gone.
    config = "config: delta=0.5; " if loss != "mse" else ""
    assert lines[0] == f"{config}reduction: sum_over_batch_size" and lines[1] == ""
    assert lines[2].split() == ["loss", "slice", "value", "n_samples", "ci_low", "ci_high"]
    # caption, blank, header, rule, a row per result and the line of the columns read
    assert len(lines) == 11 and lines[-1].startswith("columns: y_true [")
    for result in json.loads(run_cli(*args, "-f", "json", code=0).stdout)["results"]:
        assert whole_in_a_line(repr(result["value"]), lines)


def test_a_narrow_terminal_gets_one_block_per_result(six):
    args = ["eval", "mse", *data(six), "--group-by", "region", "--ci"]
    text, err, code = in_terminal(args, 80)
    assert code == 0, err
    lines = assert_fits(text, 80)
    assert lines[0] == "reduction: sum_over_batch_size"
    assert lines.count("loss: mean_squared_error") == 6
    assert "slice: region=oceania" in lines


def test_piped_tables_say_the_shared_once_and_end_without_spaces(six):
    args = ["eval", "mse", "mae", *data(six), "--max", "mse=2", "--min", "mae=0.1"]
    lines = run_cli(*args, code=0).stdout.splitlines()
    assert lines[0] == "reduction: sum_over_batch_size; n_samples: 600"
    assert lines[2].split() == ["loss", "value", "gates", "passed"]
    assert lines[4].split()[-4:] == ["max", "2", "PASS", "PASS"] and lines[5].endswith("PASS")
    assert all(line == line.rstrip() for line in lines)
    # A reduction that differs between rows keeps its column.
    mixed = run_cli("eval", "mse", "mae", *data(six), "--reduction", "sum", code=0).stdout
    assert mixed.splitlines()[0] == "reduction: sum; n_samples: 600"


# --- the distribution's summary line ---------------------------------------------------------


@pytest.mark.parametrize("columns", [40, 60, 80, 120])
def test_the_summary_line_never_splits_a_number(six, columns):
    args = ["eval", "mse", *data(six), "--histogram", "5"]
    text, err, code = in_terminal(args, columns)
    assert code == 0, err
    lines = assert_fits(text, columns)
    d = json.loads(run_cli(*args, "-f", "json", code=0).stdout)["results"][0]["distribution"]
    for number in [d["min"], d["max"], *d["quantiles"].values()]:
        assert whole_in_a_line(repr(number), lines), (number, text)
    assert whole_in_a_line("p99", lines)


def test_plot_alone_prints_no_terminal_histogram(six, tmp_path):
    args = ["eval", "mse", *data(six), "--plot", str(tmp_path / "h.html")]
    out = run_cli(*args, code=0).stdout
    assert "samples (exact)" not in out and "\n  [" not in out
    assert (tmp_path / "h.html").read_text().count("<svg") >= 1  # the picture has it
    document = json.loads(run_cli(*args, "-f", "json", "--force", code=0).stdout)
    assert "distribution" not in document["results"][0]
    shown = run_cli(*args, "--force", "--histogram", "4", code=0).stdout
    assert "mse: 600 samples (exact)" in shown and shown.count("\n  [") == 4


# --- one rectangular CSV ---------------------------------------------------------------------

EXTRAS = {
    "slices": ["--group-by", "day"],
    "ci": ["--ci", "--bootstrap", "50"],
    "worst": ["--worst", "2"],
    "histogram": ["--histogram", "3"],
    "baseline": ["--baseline-pred", "OLD", "--max-increase", "50%"],
}


def test_csv_is_one_table_pandas_reads_with_every_option(six):
    every = list(EXTRAS)
    for n in range(len(every) + 1):
        for chosen in itertools.combinations(every, n):
            args = ["eval", "mse", "huber(delta=0.5)", *data(six)]
            for name in chosen:
                args += [old(six) if a == "OLD" else a for a in EXTRAS[name]]
            text = run_cli(*args, "-f", "csv", code=0).stdout
            document = json.loads(run_cli(*args, "-f", "json", code=0).stdout)
            frame = pd.read_csv(io.StringIO(text), dtype_backend="numpy_nullable")
            assert len(frame) == len(document["results"]), chosen
            assert "\n\n" not in text
            assert frame["value"].tolist() == [r["value"] for r in document["results"]]
            columns = set(frame.columns)
            assert not any("worst" in c for c in columns)
            if "slices" in chosen:
                assert str(frame["slice_day"].dtype) == "Int64"  # an integer key stays one
                assert frame["slice_day"].tolist()[:4] == [pd.NA, 1, 2, 3]
            if "histogram" in chosen:
                assert {"distribution_count", "distribution_quantiles_p99"} <= columns
            if "ci" in chosen:
                assert {"ci_low", "ci_high"} <= columns
            if "baseline" in chosen:
                assert frame["passed"].dropna().tolist() == [True, True]
                if "ci" in chosen:
                    assert {"difference_ci_low", "difference_ci_high"} <= columns
            markdown = run_cli(*args, "-f", "markdown", code=0).stdout
            tables = sum(line.startswith("| --- ") for line in markdown.splitlines())
            assert tables == 1 + ("worst" in chosen) + ("histogram" in chosen), chosen


def test_the_csv_baseline_is_the_baseline(six):
    frame = pd.read_parquet(six)
    args = ["eval", "mse", *data(six), "--baseline-pred", old(six)]
    text = run_cli(*args, "-f", "csv", code=0).stdout
    row = pd.read_csv(io.StringIO(text)).iloc[0]
    assert row["baseline"] == pytest.approx(float(np.mean((frame["y"] - frame["old"]) ** 2)))
    assert row["difference"] == pytest.approx(row["value"] - row["baseline"], rel=1e-12)


# --- the worst samples in a file of their own --------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_worst_output(six, tmp_path, suffix):
    target = tmp_path / f"worst{suffix}"
    args = ["eval", "mse", *data(six), "--group-by", "day", "--worst", "3", "--worst-per-slice"]
    result = run_cli(*args, "-f", "csv", "--worst-output", target, code=0)
    assert "Warning" not in result.stderr
    document = json.loads(run_cli(*args, "-f", "json", code=0).stdout)
    got = pd.read_csv(target) if suffix == ".csv" else pq.read_table(target).to_pandas()
    assert list(got.columns) == [
        "spec", "slice_day", "rank", "row", "y_true", "y_pred", "weight", "loss"
    ]  # fmt: skip
    want = [
        (r["spec"], (r["slice"] or {}).get("day"), rank, s["row"], s["loss"])
        for r in document["results"]
        for rank, s in enumerate(r["worst"], 1)
    ]
    assert len(got) == len(want) == 12
    for (_, row), (spec, day, rank, sample_row, loss) in zip(got.iterrows(), want, strict=True):
        assert (row["spec"], row["rank"], row["row"], row["loss"]) == (spec, rank, sample_row, loss)
        assert (pd.isna(row["slice_day"]) and day is None) or row["slice_day"] == day
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary left
    again = run_cli(*args, "--worst-output", target, code=2)
    assert (
        again.stderr
        == f"Error: --worst-output {target} already exists; pass --force to replace it\n"
    )
    run_cli(*args, "--worst-output", target, "--force", code=0)


def test_worst_output_refusals(six, tmp_path):
    args = ["eval", "mse", *data(six), "--worst", "1"]
    assert run_cli(*args, "--worst-output", tmp_path / "w.npy", code=2).stderr == (
        f"Error: --worst-output {tmp_path / 'w.npy'}: unknown suffix; use .csv, .parquet\n"
    )
    copy = tmp_path / "in.parquet"
    copy.write_bytes(six.read_bytes())
    refused = run_cli("eval", "mse", *data(copy), "--worst", "1", "--worst-output", copy, code=2)
    assert refused.stderr == (
        f"Error: --worst-output {copy} is one of the inputs; losscli never overwrites inputs\n"
    )
    assert copy.read_bytes() == six.read_bytes()
    alone = run_cli("eval", "mse", *data(six), "--worst-output", tmp_path / "w.csv", code=2)
    assert alone.stderr == "Error: --worst-output writes the worst samples: add --worst K\n"
    warned = run_cli(*args, "-f", "csv", code=0)
    assert "the --worst samples are in -f json or --worst-output PATH" in warned.stderr


# --- one name per fact -----------------------------------------------------------------------


def flattened(entry, prefix=""):
    """A JSON result's keys, nested ones joined with ``_``; the worst samples and the
    histogram's bins are rows of their own, not columns."""
    keys = []
    for key, value in entry.items():
        name = prefix + key
        if isinstance(value, dict):
            keys += flattened(value, name + "_")
        elif value is not None or key != "slice":
            keys.append(name)
    return [k for k in keys if k not in ("worst", "distribution_edges", "distribution_counts")]


def test_json_csv_and_pandas_name_every_fact_alike(six):
    options = dict(group_by="day", ci=True, bootstrap=50, histogram=4)
    args = ["eval", "mse", "huber(delta=0.5)", *data(six), "--group-by", "day", "--ci"]
    args += ["--bootstrap", "50", "--histogram", "4", "--baseline-pred", old(six)]
    args += ["--max-increase", "50%", "--slice-max", "mse=3", "--slice-max", "huber(delta=0.5)=1"]
    document = json.loads(run_cli(*args, "-f", "json", code=0).stdout)
    from_json = {k for entry in document["results"] for k in flattened(entry)}
    header = set(run_cli(*args, "-f", "csv", code=0).stdout.splitlines()[0].split(","))
    report = losscli.evaluate(
        ["mse", "huber(delta=0.5)"],
        data=str(six),
        true_col="y",
        pred_col="p",
        baseline_pred=old(six),
        **options,
    )
    assert from_json == header
    assert {"slice_day", "difference", "difference_ci_low", "gates", "passed"} <= header
    assert {"distribution_quantiles_p50", "config_delta", "ci_high", "n_samples"} <= header
    # The API names the same facts (it has no gates: the command adds them).
    assert set(report.to_pandas().columns) == header - {"gates", "passed"}
    table = run_cli(*args, code=0).stdout.splitlines()
    assert table[2].split() == [
        "loss", "config", "slice", "value", "n_samples", "ci_low", "ci_high", "baseline",
        "difference", "gates", "passed",
    ]  # fmt: skip


# --- small things ----------------------------------------------------------------------------


def test_a_gate_has_one_spelling(six):
    args = ["eval", "mse", *data(six), "--group-by", "region", "--slice-max", "1.9"]
    result = run_cli(*args, "-f", "json", code=1)
    gates = [g for r in json.loads(result.stdout)["results"] for g in r.get("gates", [])]
    assert [g["reason"].split(" ", 1)[1] for g in gates if g["passed"]] == ["<= slice_max 1.9"] * 4
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1
    assert re.fullmatch(
        r"FAIL: mse \[region=europe\]: slice_max 1.9: 1\.98\d+ > slice_max 1.9", failed[0]
    )
    assert run_cli(*args, code=1).stdout.count("slice_max 1.9 PASS") == 4
    # A whole bound reads as typed; one that six digits would round keeps every digit.
    assert Gate("slice_max", 2.0).check(3.0).reason == "3.0 > slice_max 2"
    assert Gate("max", 0.1234567891).describe() == "max 0.1234567891"


def test_a_noise_aware_reason_does_not_repeat_its_gate(six):
    # The previous model as the candidate, the current one as the baseline: 20% worse.
    args = ["eval", "mse", "--y-true", six, "--true-col", "y", "--y-pred", old(six)]
    args += ["--pred-col", "p", "--baseline-pred", six]
    result = run_cli(
        *args, "--max-increase", "1%", "--non-inferiority", "--bootstrap", "50", code=1
    )
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("FAIL: mse: max_increase 1% (non-inferiority): increase ")
    assert line.count("non-inferiority") == 1 and line.endswith(
        re.search(r"allowed \S+$", line).group(0)
    )


def test_the_repr_names_each_slice():
    frame = pd.DataFrame({"y": [0.0, 1.0, 2.0], "p": [0.0, 1.0, 4.0], "g": ["a", "a", "b"]})
    report = losscli.evaluate("mse", data=frame, true_col="y", pred_col="p", group_by="g")
    assert repr(report) == "Report(mse [(all)]=1.3333333333333333, mse [g=a]=0.0, mse [g=b]=4.0)"


def test_one_warning_for_the_slices_with_few_samples(six):
    report = losscli.evaluate(
        "mse", data=str(six), true_col="y", pred_col="p", group_by=["region", "day"], ci=True
    )
    smallest = pd.read_parquet(six).groupby(["region", "day"]).size().min()
    assert report.warnings == [
        f"15 of 15 slices have fewer than 100 samples (the smallest {smallest}): below 100 a "
        "bootstrap interval is often too narrow (it covers the value less often than its "
        "level says)"
    ]


def test_integer_labels_print_as_integers():
    args = ["eval", "sparse_categorical_crossentropy", "--data", "sample_data/multiclass.csv"]
    args += ["--true-col", "label", "--pred-col", "prob_*", "--worst", "2"]
    lines = run_cli(*args, code=0).stdout.splitlines()
    worst = lines[lines.index("") + 1 :]
    worst = worst[worst.index("") + 1 :]
    assert worst[0].split()[:4] == ["spec", "rank", "row", "y_true"]
    labels = [line.split()[3] for line in worst[2:4]]
    assert all(re.fullmatch(r"\d", label) for label in labels), labels


def test_describe_json_has_the_facts_of_the_text():
    facts = json.loads(run_cli("describe", "huber", "-f", "json", code=0).stdout)
    text = run_cli("describe", "huber", code=0).stdout
    assert facts["name"] == "huber" and facts["class_name"] == "Huber"
    assert facts["parameters"] == {"delta": 1.0}
    assert facts["parameter_types"] == {"delta": "float"}
    assert facts["identifiers"] == ["huber", "Huber", "huber_loss"]
    for fact in (facts["description"], facts["inputs"], facts["example"]):
        assert fact in text
    assert all(line.strip() in text for line in facts["formula"].splitlines())


@pytest.mark.parametrize("output_format", ["csv", "value"])
def test_streamed_per_sample_rows_say_where_the_worst_samples_are(output_format):
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "binary.parquet"
    args = ["eval", "mse", "--data", sample, "--true-col", "label", "--pred-col", "prob"]
    done = run_cli(*args, "--reduction", "none", "--worst", "2", "-f", output_format, code=0)
    assert len(done.stdout.splitlines()) == 500 + (output_format == "csv")
    assert done.stderr == (
        f"Warning: -f {output_format} with --reduction none has one row per sample: the --worst "
        "samples and the distribution are in -f json\n"
    )
