"""Quality gates: --max/--min/--max-increase on eval, and `losscli check` with JUnit XML."""

from __future__ import annotations

import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from losscli.cli.commands import cli
from losscli.io import readers

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def invoke(*args, code):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def pair(tmp_path):
    y = np.array([0.0, 1.0, 2.0, 3.0])
    p = np.array([0.5, 1.0, 2.0, 4.0])  # squared errors 0.25, 0, 0, 1: mse 0.3125
    old = np.array([0.0, 1.0, 2.0, 4.5])  # squared errors 0, 0, 0, 2.25: mse 0.5625
    for name, array in (("y", y), ("p", p), ("old", old)):
        np.save(tmp_path / f"{name}.npy", array)
    return tmp_path, ("--y-true", tmp_path / "y.npy", "--y-pred", tmp_path / "p.npy")


# --- eval gates ----------------------------------------------------------------------------


def test_max_and_min_exit_codes_and_inclusive_bounds(pair):
    _, files = pair
    invoke("eval", "mse", *files, "--max", "0.4", code=0)
    invoke("eval", "mse", *files, "--max", "0.3", code=1)
    invoke("eval", "mse", *files, "--max", "0.3125", code=0)  # equal to the value: passes
    invoke("eval", "mse", *files, "--min", "0.3125", code=0)
    invoke("eval", "mse", *files, "--min", "0.4", code=1)


def test_per_loss_bounds_as_typed_or_canonical(pair):
    _, files = pair
    # mae = (0.5 + 0 + 0 + 1) / 4 = 0.375
    invoke(
        "eval",
        "mse",
        "mae",
        *files,
        "--max",
        "mse=0.32",
        "--max",
        "mean_absolute_error=0.375",
        code=0,
    )
    invoke(
        "eval",
        "mse",
        "mae",
        *files,
        "--max",
        "mean_squared_error=0.32",
        "--max",
        "mae=0.37",
        code=1,
    )
    invoke("eval", "huber(delta=0.5)", *files, "--max", "huber(delta=0.5)=1", code=0)


def test_a_bare_bound_applies_to_every_loss(pair):
    _, files = pair
    # mse 0.3125, mae 0.375: a bare --max/--min gates both, as a bare --max-increase does
    r = invoke("eval", "mse", "mae", *files, "--max", "0.4", "-f", "json", code=0)
    gates = [
        [g["kind"], g["bound"], g["passed"]]
        for e in json.loads(r.stdout)["results"]
        for g in e["gates"]
    ]
    assert gates == [["max", 0.4, True], ["max", 0.4, True]]
    r = invoke("eval", "mse", "mae", *files, "--max", "0.35", code=1)
    assert r.stderr == "FAIL: mae: max 0.35: 0.375 > max 0.35\n"
    r = invoke("eval", "mse", "mae", *files, "--min", "0.35", code=1)
    assert r.stderr == "FAIL: mse: min 0.35: 0.3125 < min 0.35\n"
    r = invoke("eval", "mse", "mae", *files, "--min", "0.3", "--max", "mse=0.3", code=1)
    assert r.stderr == "FAIL: mse: max 0.3: 0.3125 > max 0.3\n"


def test_gate_usage_errors(pair):
    _, files = pair
    r = invoke("eval", "mse", *files, "--max", "mae=0.3", code=2)
    assert (
        r.stderr
        == "Error: --max mae=0.3: 'mae' is not one of the evaluated losses (mse) nor their canonical names\n"
    )
    r = invoke("eval", "mse", *files, "--max", "low", code=2)
    assert r.stderr == "Error: --max: max must be a number, got 'low'\n"
    r = invoke("eval", "mse", *files, "--max-increase", "1%", code=2)
    assert r.stderr == (
        "Error: --max-increase compares with a baseline: add --baseline-pred PATH "
        "(or --baseline-col COL)\n"
    )
    r = invoke("eval", "mse", *files, "--max", "1", "--reduction", "none", code=2)
    assert r.stderr == "Error: gates on mse need one value; --reduction none gives one per sample\n"


def test_nan_value_never_passes(tmp_path):
    np.save(tmp_path / "y.npy", np.zeros(3))
    np.save(tmp_path / "p.npy", np.array([1.0, np.nan, 1.0]))
    files = ("--y-true", tmp_path / "y.npy", "--y-pred", tmp_path / "p.npy")
    r = invoke(
        "eval",
        "mse",
        *files,
        "--nan-policy",
        "propagate",
        "--max",
        "100",
        "--format",
        "json",
        code=1,
    )
    doc = json.loads(r.stdout)
    assert doc["results"][0]["value"] is None
    assert doc["results"][0]["gates"] == [
        {
            "kind": "max",
            "bound": 100.0,
            "passed": False,
            "reason": "the value is nan, which never passes a gate",
        }
    ]
    assert doc["passed"] is False
    invoke("eval", "mse", *files, "--nan-policy", "propagate", "--min", "-1", code=1)
    # With omit the NaN row is gone and the gate sees a real number.
    invoke("eval", "mse", *files, "--nan-policy", "omit", "--max", "1", code=0)


def test_baseline_absolute_and_percent_increase(pair):
    d, files = pair
    base = ("eval", "mse", *files, "--baseline-pred", d / "old.npy")
    # New 0.3125 vs baseline 0.5625: a decrease of 0.25 passes any increase bound.
    invoke(*base, "--max-increase", "0", code=0)
    # Swap roles: the old model as new, the new as baseline: increase 0.25 = 80% of 0.3125.
    worse = (
        "eval",
        "mse",
        "--y-true",
        d / "y.npy",
        "--y-pred",
        d / "old.npy",
        "--baseline-pred",
        d / "p.npy",
    )
    invoke(*worse, "--max-increase", "0.25", code=0)
    invoke(*worse, "--max-increase", "0.2", code=1)
    invoke(*worse, "--max-increase", "80%", code=0)
    invoke(*worse, "--max-increase", "79%", code=1)
    doc = json.loads(invoke(*worse, "--max-increase", "79%", "--format", "json", code=1).stdout)
    entry = doc["results"][0]
    assert entry["value"] == 0.5625 and entry["baseline"] == 0.3125 and entry["difference"] == 0.25
    assert entry["gates"] == [
        {
            "kind": "max_increase",
            "bound": 79.0,
            "percent": True,
            "passed": False,
            "reason": "increase 0.25 over baseline 0.3125 > allowed 0.246875",
        }
    ]


def test_gates_in_table_csv_and_markdown(pair):
    d, files = pair
    args = (
        "eval",
        "mse",
        "mae",
        *files,
        "--max",
        "mse=0.3",
        "--min",
        "mae=0.1",
        "--baseline-pred",
        d / "old.npy",
    )
    csv_out = invoke(*args, "--format", "csv", code=1).stdout
    assert csv_out == (
        "loss,spec,reduction,value,n_samples,baseline,difference,gates,passed\n"
        "mean_squared_error,mse,sum_over_batch_size,0.3125,4,0.5625,-0.25,max 0.3 FAIL,false\n"
        "mean_absolute_error,mae,sum_over_batch_size,0.375,4,0.375,0.0,min 0.1 PASS,true\n"
    )
    md = invoke(*args, "--format", "markdown", code=1).stdout
    assert md.splitlines()[0] == "reduction: sum_over_batch_size; n_samples: 4"
    assert md.splitlines()[2] == "| loss | value | baseline | difference | gates | passed |"
    assert (
        md.splitlines()[4]
        == "| mean_squared_error | 0.3125 | 0.5625 | -0.25 | max 0.3 FAIL | FAIL |"
    )
    table = invoke(*args, code=1).stdout.splitlines()
    assert table[0] == "reduction: sum_over_batch_size; n_samples: 4"
    assert table[4].split() == [
        "mean_squared_error",
        "0.3125",
        "0.5625",
        "-0.25",
        "max",
        "0.3",
        "FAIL",
        "FAIL",
    ]


# --- losscli check -----------------------------------------------------------------------


def test_the_shipped_sample_config_is_green(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # relative paths resolve against the config file, not the cwd
    r = invoke("check", SAMPLE / "losscli.toml", "--junit-xml", tmp_path / "report.xml", code=0)
    assert r.stderr == ""
    suites = ET.parse(tmp_path / "report.xml").getroot()
    assert suites.tag == "testsuites"
    assert suites.get("tests") == "5" and suites.get("failures") == "0"
    assert [c.get("name") for c in suites.iter("testcase")] == [
        "log loss",
        "smoothed log loss, at most 2% worse than the previous model",
        "focal loss",
        "house prices MSE (weighted)",
        "multiclass crossentropy",
    ]


def write_config(d: Path, body: str, name: str = "losscli.toml") -> Path:
    for f in ("binary.parquet", "binary_previous.parquet", "regression.csv"):
        shutil.copy(SAMPLE / f, d / f)
    path = d / name
    path.write_text(textwrap.dedent(body))
    return path


FAILING = """
    [inputs]
    data = "binary.parquet"
    true_col = "label"
    pred_col = "logit"
    baseline_pred = "binary_previous.parquet"

    [[checks]]
    name = "log loss"
    loss = "bce(from_logits=true)"
    max = 0.3

    [[checks]]
    loss = "bce(from_logits=true)"
    max_increase = "-20%"

    [[checks]]
    name = "mse"
    loss = "mse"
    data = "regression.csv"
    true_col = "y_true"
    pred_col = "y_pred"
    baseline_pred = "regression.csv"
    max = 1
"""


def test_failing_check_exit_1_and_junit_failures(tmp_path):
    config = write_config(tmp_path, FAILING)
    r = invoke("check", config, "--junit-xml", tmp_path / "report.xml", "--format", "json", code=1)
    doc = json.loads(r.stdout)
    assert doc["passed"] is False
    assert [c["passed"] for c in doc["checks"]] == [False, False, True]
    table = pq.read_table(tmp_path / "binary.parquet")
    label = table["label"].to_numpy().astype(float)
    logit = table["logit"].to_numpy()
    # Independent reference: the stable log loss in plain numpy.
    want = float(np.mean(np.logaddexp(0, logit) - label * logit))
    assert doc["checks"][0]["value"] == pytest.approx(want, rel=1e-12)

    root = ET.parse(tmp_path / "report.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "2", "0")
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "2" and suite.get("skipped") == "0"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["log loss", "bce(from_logits=true)", "mse"]
    assert all(float(c.get("time")) >= 0 for c in cases)
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "QualityGateFailure"
    value = doc["checks"][0]["value"]
    assert failure.get("message") == f"binary_crossentropy: {value!r} > max 0.3"
    assert f"value: {value!r}" in failure.text
    assert f"baseline: {doc['checks'][0]['baseline']!r}" in failure.text
    assert "max 0.3: FAIL" in failure.text
    second = cases[1].find("failure")
    assert second is not None and "max_increase -20%: FAIL" in second.text
    assert cases[2].find("failure") is None


def test_check_reads_each_input_once(tmp_path, monkeypatch):
    """Checks on the same inputs share one pass; a file read for two roles is opened once."""
    config = write_config(tmp_path, FAILING)
    passes = []
    real = readers.open_source

    def counting(source, requests, **kwargs):
        opened = real(source, requests, **kwargs)
        blocks = opened.blocks

        def counted(rows):
            passes.append(Path(source).name)
            return blocks(rows)

        opened.blocks = counted
        return opened

    monkeypatch.setattr("losscli.engine.plan.open_source", counting)
    invoke("check", config, code=1)
    assert sorted(passes) == ["binary.parquet", "binary_previous.parquet", "regression.csv"]


def test_check_warnings_name_their_check(tmp_path):
    config = write_config(
        tmp_path,
        """
        [inputs]
        data = "binary.parquet"
        true_col = "label"
        pred_col = "logit"

        [[checks]]
        name = "raw logits by mistake"
        loss = "bce"

        [[checks]]
        name = "right"
        loss = "bce(from_logits=true)"
        """,
    )
    r = invoke("check", config, code=0)
    assert r.stderr == (
        "Warning: raw logits by mistake: binary_crossentropy: y_pred has values outside [0, 1] "
        "(min -6.459, max 6.086): these look like logits; set from_logits=true\n"
    )


def test_check_markdown(tmp_path):
    config = write_config(tmp_path, FAILING)
    md = invoke("check", config, "--format", "markdown", code=1).stdout.splitlines()
    assert md[0] == "reduction: sum_over_batch_size"  # shared by every row: said once
    assert md[2] == "| name | spec | value | n_samples | baseline | difference | gates | passed |"
    assert md[4].startswith("| log loss | bce(from_logits=true) | ")
    assert md[4].endswith(" | max 0.3 FAIL | FAIL |")


def test_pyproject_tool_table_is_found_without_argument(tmp_path, monkeypatch):
    write_config(
        tmp_path,
        """
        [project]
        name = "model"

        [tool.losscli.inputs]
        data = "regression.csv"
        true_col = "y_true"
        pred_col = "y_pred"

        [[tool.losscli.checks]]
        loss = "mae"
        max = 1.0
        """,
        name="pyproject.toml",
    )
    monkeypatch.chdir(tmp_path)
    r = invoke("check", code=0)
    assert r.stdout.splitlines()[4].split()[:2] == ["mae", "mae"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[inputs]\ndata = "regression.csv"\n[[checks]]\nloss = "mse"\nmaxx = 1\n',
            "checks[0]: unknown key 'maxx'; did you mean max? known keys: name, loss, reduction, dtype, max, min, max_increase, slice_max, slice_min, y_true, y_pred, sample_weight, data, true_col, pred_col, weight_col, baseline_pred, baseline_col, input_format, header, delimiter, one_hot, scheduler, nan_policy, group_by, groups, min_slice_size, max_slices",
        ),
        (
            '[inputs]\ndata = "regression.csv"\n[[checks]]\nloss = "mse"\nmax = "low"\n',
            "checks[0] (mse): max must be a number, got 'low'".replace(" (mse)", ""),
        ),
        ('[inputs]\nfile = "x.csv"\n[[checks]]\nloss = "mse"\n', "[inputs]: unknown key 'file'"),
        (
            '[[checks]]\nloss = "mse"\n',
            "checks[0]: no inputs; set y_true and y_pred (or data) in [inputs]",
        ),
        (
            '[inputs]\ndata = "regression.csv"\n[[checks]]\nmax = 1\n',
            "checks[0]: missing key 'loss' (a loss spec such as \"mse\")",
        ),
        (
            '[inputs]\ndata = "regression.csv"\n[[checks]]\nloss = "mse"\nmax_increase = 1\n',
            "checks[0]: max_increase compares with a baseline: set baseline_pred (or "
            "baseline_col) in [inputs] or the check",
        ),
        (
            '[inputs]\ndata = "regression.csv"\n',
            "no checks; add [[checks]] tables with at least a loss",
        ),
        ("[inputs\n", "not valid TOML"),
        (
            '[inputs]\ndata = "regression.csv"\n[[checks]]\nloss = "msee"\n',
            "Error: msee: unknown loss 'msee'; did you mean mse, msle?",
        ),
        (
            '[inputs]\ndata = "missing.csv"\ntrue_col = "a"\npred_col = "b"\n[[checks]]\nloss = "mse"\n',
            "missing.csv: no such file",
        ),
        (
            '[inputs]\ndata = "regression.csv"\n[[checks]]\nloss = "mse"\nreduction = "none"\n',
            "checks[0]: reduction must be one of sum_over_batch_size, mean, sum, mean_with_sample_weight",
        ),
    ],
)
def test_config_errors_name_the_key(tmp_path, body, message):
    config = write_config(tmp_path, body)
    r = invoke("check", config, code=2)
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1
    assert message in r.stderr


def test_no_config_found(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("check", code=2)
    assert (
        r.stderr
        == "Error: no losscli.toml or pyproject.toml here; give the config file: losscli check CONFIG\n"
    )


def test_a_checks_own_files_replace_the_inherited_table_and_its_columns(tmp_path):
    y, p = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 4.0])
    np.save(tmp_path / "t.npy", y)
    np.save(tmp_path / "p.npy", p)
    config = write_config(
        tmp_path,
        """
        [inputs]
        data = "regression.csv"
        true_col = "y_true"
        pred_col = "y_pred"
        weight_col = "weight"

        [[checks]]
        name = "arrays"
        loss = "mse"
        y_true = "t.npy"
        y_pred = "p.npy"

        [[checks]]
        name = "table"
        loss = "mse"
        """,
    )
    r = invoke("check", config, "-f", "json", code=0)
    arrays, table = json.loads(r.stdout)["checks"]
    assert arrays["value"] == float(np.mean((y - p) ** 2))  # unweighted: (0.25 + 0 + 4) / 3
    frame = np.genfromtxt(SAMPLE / "regression.csv", delimiter=",", names=True)
    expected = np.sum(frame["weight"] * (frame["y_true"] - frame["y_pred"]) ** 2) / len(frame)
    assert table["value"] == pytest.approx(expected, rel=1e-12)


def test_a_checks_own_table_replaces_the_inherited_files_and_their_columns(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [0.0, 1.0, 2.0]}).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"b": [0.5, 1.0, 4.0]}).to_csv(tmp_path / "p.csv", index=False)
    config = write_config(
        tmp_path,
        """
        [inputs]
        y_true = "t.csv"
        y_pred = "p.csv"
        true_col = "a"
        pred_col = "b"

        [[checks]]
        name = "files"
        loss = "mse"

        [[checks]]
        name = "table, own columns"
        loss = "mse"
        data = "regression.csv"
        true_col = "y_true"
        pred_col = "y_pred"

        [[checks]]
        name = "table, no columns"
        loss = "mse"
        data = "regression.csv"
        """,
    )
    r = invoke("check", config, "-f", "json", code=2)
    files, table, bare = json.loads(r.stdout)["checks"]
    assert files["value"] == float(np.mean((np.array([0.0, 1.0, 2.0]) - [0.5, 1.0, 4.0]) ** 2))
    frame = np.genfromtxt(SAMPLE / "regression.csv", delimiter=",", names=True)
    assert table["value"] == pytest.approx(np.mean((frame["y_true"] - frame["y_pred"]) ** 2))
    assert bare["error"] == "data needs true_col and pred_col to say which columns to use"


# --- --baseline-col: the baseline in the same table ------------------------------------------


@pytest.fixture
def three_columns(tmp_path):
    """``y_true, y_pred, y_pred_old`` in one table, and the same predictions split in files."""
    import pandas as pd

    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    new = np.array([0.5, 1.0, 2.5, 3.0, 3.0])
    old = np.array([1.0, 0.0, 2.0, 5.0, 4.0])
    pd.DataFrame({"y_true": y, "y_pred": new, "y_pred_old": old}).to_csv(
        tmp_path / "t.csv", index=False
    )
    pd.DataFrame({"y_true": y, "p_a": new, "p_b": new, "o_a": old, "o_b": 2 * old}).to_parquet(
        tmp_path / "wide.parquet"
    )
    return tmp_path, y, new, old


def test_baseline_col_reads_the_baseline_from_the_same_table(three_columns):
    d, y, new, old = three_columns
    mse, mse_old = np.mean((y - new) ** 2), np.mean((y - old) ** 2)
    args = ("eval", "mse", "--data", d / "t.csv", "--true-col", "y_true", "--pred-col", "y_pred")
    r = invoke(*args, "--baseline-col", "y_pred_old", "--max-increase", "0", "-f", "json", code=0)
    entry = json.loads(r.stdout)["results"][0]
    assert (entry["value"], entry["baseline"]) == (mse, mse_old)
    assert entry["difference"] == mse - mse_old
    # the baseline of a separate prediction table: --y-pred's own columns
    files = ("eval", "mse", "--y-true", d / "t.csv", "--true-col", "y_true")
    files += ("--y-pred", d / "t.csv", "--pred-col", "y_pred", "--baseline-col", "y_pred_old")
    entry = json.loads(invoke(*files, "-f", "json", code=0).stdout)["results"][0]
    assert (entry["value"], entry["baseline"]) == (mse, mse_old)
    # with --baseline-pred: columns of that file (a glob, several columns per prediction)
    wide = ("eval", "mse", "--data", d / "wide.parquet", "--true-col", "y_true")
    wide += ("--pred-col", "p_*", "--baseline-pred", d / "wide.parquet", "--baseline-col", "o_*")
    entry = json.loads(invoke(*wide, "-f", "json", code=0).stdout)["results"][0]
    target = np.stack([y, y], axis=1)
    assert entry["baseline"] == pytest.approx(
        np.mean(np.mean((target - np.stack([old, 2 * old], axis=1)) ** 2, axis=1)), rel=1e-12
    )
    assert entry["value"] == pytest.approx(mse, rel=1e-12)


def test_baseline_col_errors(three_columns):
    d, *_ = three_columns
    np.save(d / "p.npy", np.zeros(5))
    args = ("eval", "mse", "--data", d / "t.csv", "--true-col", "y_true", "--pred-col", "y_pred")
    r = invoke(*args, "--baseline-col", "nope", code=2)
    assert r.stderr == (
        f"Error: {d / 't.csv'}: no column matches --baseline-col 'nope'; the columns are "
        "y_true, y_pred, y_pred_old\n"
    )
    r = invoke(*args, "--baseline-pred", d / "p.npy", "--baseline-col", "y_pred_old", code=2)
    assert r.stderr == (
        f"Error: {d / 'p.npy'} is an array file; --baseline-col selects columns of tables only\n"
    )
    r = invoke(
        *args[:2], "--y-true", d / "p.npy", "--y-pred", d / "p.npy", "--baseline-col", "x", code=2
    )
    assert r.stderr == (
        f"Error: {d / 'p.npy'} is an array file; --baseline-col selects columns of tables only\n"
    )


def test_baseline_col_in_a_check_file_and_in_python(three_columns):
    import losscli

    d, y, new, old = three_columns
    (d / "c.toml").write_text(
        '[inputs]\ndata = "t.csv"\ntrue_col = "y_true"\npred_col = "y_pred"\n'
        'baseline_col = "y_pred_old"\n[[checks]]\nloss = "mae"\nmax_increase = 0\n'
    )
    entry = json.loads(invoke("check", d / "c.toml", "-f", "json", code=0).stdout)["checks"][0]
    mae, mae_old = np.mean(np.abs(y - new)), np.mean(np.abs(y - old))
    assert (entry["value"], entry["baseline"]) == (mae, mae_old)
    report = losscli.evaluate(
        "mae", data=d / "t.csv", true_col="y_true", pred_col="y_pred", baseline_col="y_pred_old"
    )
    assert (report.results[0].value, report.results[0].baseline) == (mae, mae_old)


def test_baseline_col_on_a_dataset_file_by_file(three_columns):
    import pandas as pd

    d, y, new, old = three_columns
    (d / "ds").mkdir()
    frame = pd.DataFrame({"y_true": y, "y_pred": new, "y_pred_old": old})
    frame.iloc[:2].to_parquet(d / "ds" / "a.parquet")
    frame.iloc[2:].to_parquet(d / "ds" / "b.parquet")
    args = ("eval", "mse", "--data", d / "ds", "--true-col", "y_true", "--pred-col", "y_pred")
    args += ("--baseline-col", "y_pred_old", "--output", f"{d / 'out'}/", "-f", "json")
    document = json.loads(invoke(*args, code=0).stdout)
    entry = document["results"][0]
    assert entry["value"] == pytest.approx(np.mean((y - new) ** 2), rel=1e-12)
    assert entry["baseline"] == pytest.approx(np.mean((y - old) ** 2), rel=1e-12)
    assert document["inputs"]["columns"]["baseline"] == ["y_pred_old"]
