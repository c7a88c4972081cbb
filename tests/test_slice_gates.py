"""Slice gates that cannot pass by default: a gate that gated no slice is an error, and a
slice whose rows were all dropped by ``--nan-policy omit`` is listed, without a value, and
fails its gate."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from conftest import run_cli as invoke

#: Every slice has MSE 81, two rows each.
SMALL = pd.DataFrame({"y": [0.0] * 4, "p": [9.0] * 4, "region": ["a", "a", "b", "b"]})


def _written(tmp_path, frame, kind):
    path = tmp_path / f"t.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_slice_gate_that_gated_no_slice_is_an_error(tmp_path, kind):
    path = _written(tmp_path, SMALL, kind)
    args = ("eval", "mse", "--data", path, "--true-col", "y", "--pred-col", "p")
    args += ("--group-by", "region", "--slice-max", "1")
    invoke(*args, code=1)  # every slice gated: 81 > 1
    result = invoke(*args, "--min-slice-size", "3", code=2)
    assert result.stdout == ""
    assert result.stderr == (
        "Error: mse: --slice-max 1 gated no slice: each of the 2 slices has fewer than "
        "--min-slice-size 3 samples (the largest has 2); lower --min-slice-size or drop the "
        "gate\n"
    )
    # No gate: slices below the size are listed without a value, as before.
    plain = ("eval", "mse", "--data", path, "--true-col", "y", "--pred-col", "p")
    invoke(*plain, "--group-by", "region", "--min-slice-size", "3", code=0)


def test_check_makes_it_an_error_testcase_and_runs_the_other_checks(tmp_path):
    path = _written(tmp_path, SMALL, "parquet")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[inputs]\ndata = "{path}"\ntrue_col = "y"\npred_col = "p"\n'
        'group_by = ["region"]\nmin_slice_size = 3\n'
        '[[checks]]\nname = "per region"\nloss = "mse"\nslice_max = 1\n'
        '[[checks]]\nname = "whole"\nloss = "mae"\nmax = 100\n'
    )
    report = tmp_path / "r.xml"
    result = invoke("check", config, "--junit-xml", report, code=2)
    message = (
        "mse: slice_max 1 gated no slice: each of the 2 slices has fewer than min_slice_size 3 "
        "samples (the largest has 2); lower min_slice_size or drop the gate"
    )
    assert f"Error: per region: {message}" in result.stderr
    suite = ET.parse(report).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "1")
    first, second = suite.findall("testcase")
    assert first.get("name") == "per region"
    assert first.find("error").get("message") == message
    assert first.find("failure") is None
    assert second.get("name") == "whole"
    assert second.find("error") is None and second.find("failure") is None
    assert "max 100: PASS (9.0 <= max 100)" in second.find("system-out").text


#: The ``eu`` rows all hold a NaN or an inf; ``us`` has MSE 0.025.
DROPPED = pd.DataFrame(
    {
        "y": [0.0, 0.0, 0.0, 0.0, float("nan")],
        "p": [0.1, 0.2, float("nan"), float("inf"), 1.0],
        "region": ["us", "us", "eu", "eu", "eu"],
    }
)

REASON = (
    "each of its 3 rows held a NaN or inf (--nan-policy omit dropped them): no value, which "
    "never passes a gate"
)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_slice_whose_rows_were_all_dropped_is_listed_and_fails(tmp_path, kind):
    path = _written(tmp_path, DROPPED, kind)
    args = ("eval", "mse", "--data", path, "--true-col", "y", "--pred-col", "p")
    args += ("--group-by", "region", "--slice-max", "0.5", "--nan-policy", "omit")
    document = json.loads(invoke(*args, "-f", "json", code=1).stdout)
    whole, eu, us = document["results"]
    assert (whole["n_samples"], whole["slice"]) == (2, None)
    assert eu["slice"] == {"region": "eu"}
    assert (eu["value"], eu["n_samples"], eu["passed"]) == (None, 0, False)
    assert eu["gates"] == [{"kind": "slice_max", "bound": 0.5, "passed": False, "reason": REASON}]
    assert (us["slice"], us["n_samples"], us["passed"]) == ({"region": "us"}, 2, True)
    result = invoke(*args, code=1)
    assert f"FAIL: mse [region=eu]: slice_max 0.5: {REASON}" in result.stderr
    eu_line = next(line for line in result.stdout.splitlines() if "region=eu" in line)
    assert eu_line.split()[2:] == ["null", "0", "slice_max", "0.5", "FAIL", "FAIL"]
    csv = invoke(*args, "-f", "csv", code=1).stdout.splitlines()
    assert csv[0] == "loss,spec,reduction,value,n_samples,slice_region,gates,passed"
    assert csv[2] == "mean_squared_error,mse,sum_over_batch_size,,0,eu,slice_max 0.5 FAIL,false"
    markdown = invoke(*args, "-f", "markdown", code=1).stdout.splitlines()
    assert markdown[5] == (
        "| mean_squared_error | region=eu | null | 0 | slice_max 0.5 FAIL | FAIL |"
    )
    # Without a gate the slice is listed all the same, with a warning.
    plain = invoke(*args[:-4], "--nan-policy", "omit", "-f", "json", code=0)
    assert [r["n_samples"] for r in json.loads(plain.stdout)["results"]] == [2, 0, 2]
    assert "mse [region=eu]: each of its 3 rows held a NaN or inf" in plain.stderr
