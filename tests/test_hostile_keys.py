"""Slice keys, check names and addresses made to mislead: control characters, newlines, markup,
null-like text, commas; dates, decimals and binary keys; group-by columns that cannot key a
slice. Every output escapes and labels them unambiguously; every report parses."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli as invoke

TABLE = ("--true-col", "y", "--pred-col", "p")


def _table(path: Path, **columns: list) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _hostile(tmp_path: Path) -> Path:
    """Three slices: a key hiding what follows (ESC [8m: conceal), a key with a newline that
    starts a GitHub Actions command (its slice fails the gate), and markup."""
    keys = ["eu\x1b[8m", "x\n::add-mask::FAIL", "<b>a|b</b> & c"]
    return _table(
        tmp_path / "h.parquet",
        y=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        p=[1.0, 2.0, 3.0, 9.0, 5.0, 6.0],
        r=[k for k in keys for _ in range(2)],
    )


def test_control_characters_in_keys_are_escaped_and_start_no_line(tmp_path):
    data = _hostile(tmp_path)
    run = ("eval", "mse", "--data", data, *TABLE, "--group-by", "r", "--slice-max", "1")
    table = invoke(*run, code=1)
    # Columns as words (the table's spacing aside): each key escaped, in quotes.
    assert [" ".join(line.split()) for line in table.stdout.splitlines()[2:]] == [
        "mean_squared_error (all) sum_over_batch_size 4.166666666666667 6",
        'mean_squared_error r="<b>a|b</b> & c" sum_over_batch_size 0.0 2 slice_max 1 PASS PASS',
        'mean_squared_error r="eu\\x1b[8m" sum_over_batch_size 0.0 2 slice_max 1 PASS PASS',
        'mean_squared_error r="x\\n::add-mask::FAIL" sum_over_batch_size 12.5 2 slice_max 1 FAIL '
        "FAIL",
    ]
    gate = 'FAIL: mse [r="x\\n::add-mask::FAIL"]: slice_max 1: 12.5 > max 1.0\n'
    assert table.stderr == gate
    markdown = invoke(*run, "-f", "markdown", code=1)
    assert markdown.stdout.splitlines()[2:] == [
        "| mean_squared_error |  | (all) | sum_over_batch_size | 4.166666666666667 | 6 |  |  |",
        '| mean_squared_error |  | r="&lt;b&gt;a\\|b&lt;/b&gt; &amp; c" | sum_over_batch_size '
        "| 0.0 | 2 | slice_max 1 PASS | PASS |",
        '| mean_squared_error |  | r="eu\\x1b[8m" | sum_over_batch_size | 0.0 | 2 '
        "| slice_max 1 PASS | PASS |",
        '| mean_squared_error |  | r="x\\n::add-mask::FAIL" | sum_over_batch_size | 12.5 | 2 '
        "| slice_max 1 FAIL | FAIL |",
    ]
    assert markdown.stderr == gate
    csv = invoke(*run, "-f", "csv", code=1)
    assert csv.stdout.splitlines()[4] == (
        'mean_squared_error,mse,"r=""x\\n::add-mask::FAIL""",sum_over_batch_size,12.5,2,'
        "slice_max 1 FAIL,FAIL"
    )
    document = json.loads(invoke(*run, "-f", "json", code=1).stdout)
    assert [r["slice"] for r in document["results"]] == [
        None,
        {"r": "<b>a|b</b> & c"},
        {"r": "eu\x1b[8m"},
        {"r": "x\n::add-mask::FAIL"},
    ]


def test_a_key_on_a_terminal_neither_hides_nor_starts_a_line(tmp_path):
    from test_terminal import in_terminal

    data = _hostile(tmp_path)
    run = ["eval", "mse", "--data", str(data), *TABLE, "--group-by", "r", "--slice-max", "1"]
    for columns in (200, 40):  # a table, and one block per result
        out, err, code = in_terminal(run, columns)
        assert code == 1
        assert '"x\\n::add-mask::FAIL"' in out and '"eu\\x1b[8m"' in out
        assert not any(line.lstrip().startswith("::") for line in out.splitlines())
        assert err == 'FAIL: mse [r="x\\n::add-mask::FAIL"]: slice_max 1: 12.5 > max 1.0\n'
    blocks = out.split("\n\n")
    assert 'slice: r="x\\n::add-mask::FAIL"' in blocks[3] and "status: FAIL" in blocks[3]


def test_junit_parses_for_hostile_keys_names_and_specs(tmp_path):
    data = _hostile(tmp_path)
    config = tmp_path / "losscli.toml"
    config.write_text(
        f'[inputs]\ndata = "{data}"\ntrue_col = "y"\npred_col = "p"\n'
        '[[checks]]\nname = "bell\\u0007 <&> \\u001b[2J"\nloss = "mse"\ngroup_by = "r"\n'
        "slice_max = 1\n"
        '[[checks]]\nname = "bad\\u0001spec"\nloss = "mse\\u0000(x=1)"\n'
    )
    report = tmp_path / "report.xml"
    result = invoke("check", config, "--junit-xml", report, "-f", "json", code=2)
    suites = ET.parse(report).getroot()
    cases = suites.findall("./testsuite/testcase")
    assert [case.get("name") for case in cases] == ["bell\\x07 <&> \\x1b[2J", "bad\\x01spec"]
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("message") == (
        'mean_squared_error [r="x\\n::add-mask::FAIL"]: 12.5 > max 1.0'
    )
    error = cases[1].find("error")
    assert error is not None and "\\x00" in (error.get("message") or "")
    json.loads(result.stdout)
    assert result.stderr.startswith("Error: bad\\x01spec: ")
    assert all(c.isprintable() or c == "\n" for c in result.stderr)


def test_labels_tell_text_from_null_and_commas_from_columns(tmp_path):
    data = _table(
        tmp_path / "n.parquet",
        y=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        p=[1.0, 2.0, 3.0, 9.0, 5.0, 6.0],
        r=["null", "null", None, None, "1", "1"],
    )
    result = invoke("eval", "mse", "--data", data, *TABLE, "--group-by", "r", "-f", "csv", code=0)
    assert [line.split(",")[2] for line in result.stdout.splitlines()[1:]] == [
        "(all)",
        '"r=""1"""',
        '"r=""null"""',
        "r=null",
    ]
    data = _table(
        tmp_path / "c.parquet",
        y=[1.0, 2.0, 3.0, 4.0],
        p=[1.0, 2.0, 3.0, 9.0],
        r=["x", "x, b=y", "x", "x"],
        b=["y, b=z", "z", "y, b=z", "y, b=z"],
    )
    run = ("eval", "mse", "--data", data, *TABLE, "--group-by", "r", "--group-by", "b")
    result = invoke(*run, "--slice-max", "1", "-f", "markdown", code=1)
    assert [line.split(" | ")[2] for line in result.stdout.splitlines()[2:]] == [
        "(all)",
        'r=x, b="y, b=z"',
        'r="x, b=y", b=z',
    ]
    assert (
        result.stderr == 'FAIL: mse [r=x, b="y, b=z"]: slice_max 1: 8.333333333333334 > max 1.0\n'
    )


def test_date_decimal_and_binary_keys_in_every_format(tmp_path):
    data = _table(
        tmp_path / "typed.parquet",
        y=[1.0, 2.0, 3.0, 4.0],
        p=[1.5, 2.0, 3.0, 5.0],
        d=[dt.date(2026, 1, 1)] * 2 + [dt.date(2026, 1, 2)] * 2,
        t=[dt.datetime(2026, 1, 1, 12, 30)] * 2 + [dt.datetime(2026, 1, 2)] * 2,
        m=pa.array(
            [decimal.Decimal("1.50")] * 2 + [decimal.Decimal("2.25")] * 2, pa.decimal128(5, 2)
        ),
        b=[b"\x00\xff"] * 2 + [b"ab"] * 2,
    )
    expected = {
        "d": (["2026-01-01", "2026-01-02"], ["d=2026-01-01", "d=2026-01-02"]),
        "t": (
            ["2026-01-01T12:30:00", "2026-01-02T00:00:00"],
            ["t=2026-01-01T12:30:00", "t=2026-01-02T00:00:00"],
        ),
        "m": (["1.50", "2.25"], ["m=1.50", "m=2.25"]),
        "b": (["00ff", "6162"], ["b=00ff", "b=6162"]),
    }
    for column, (values, labels) in expected.items():
        run = ("eval", "mse", "--data", data, *TABLE, "--group-by", column)
        document = json.loads(invoke(*run, "-f", "json", code=0).stdout)
        assert [r["slice"] for r in document["results"]] == [None] + [{column: v} for v in values]
        assert [r["value"] for r in document["results"]] == [0.3125, 0.125, 0.5]
        csv = invoke(*run, "-f", "csv", code=0).stdout.splitlines()
        assert [line.split(",")[2] for line in csv[1:]] == ["(all)", *labels]
        table = invoke(*run, code=0).stdout.splitlines()
        assert [line.split()[1] for line in table[2:]] == ["(all)", *labels]


@pytest.mark.parametrize(
    ("group_by", "message"),
    [
        (["lst"], "--group-by column 'lst' holds list<element: int64>, not single values"),
        (["st"], "--group-by column 'st' holds struct<a: int64>, not single values"),
        (["region", "region"], "--group-by names the column 'region' twice; give it once"),
        (["region", "regi?n"], "--group-by names the column 'region' twice; give it once"),
        (
            ["reg*"],
            "--group-by 'reg*' matches 2 columns (region, regime); give one --group-by per column",
        ),
    ],
    ids=["list", "struct", "twice", "twice-by-glob", "glob-of-two"],
)
def test_group_by_columns_that_cannot_key_a_slice(tmp_path, group_by, message):
    data = _table(
        tmp_path / "g.parquet",
        y=[1.0, 2.0],
        p=[1.0, 3.0],
        region=["a", "b"],
        regime=["x", "y"],
        lst=[[1], [2]],
        st=[{"a": 1}, {"a": 2}],
    )
    args = [a for column in group_by for a in ("--group-by", column)]
    result = invoke("eval", "mse", "--data", data, *TABLE, *args, code=2)
    assert result.stderr.startswith(f"Error: {data}: {message}")


def test_a_glob_labels_slices_by_the_column_it_matched(tmp_path):
    data = _table(tmp_path / "g.parquet", y=[1.0, 2.0], p=[1.0, 3.0], region=["a", "b"])
    result = invoke(
        "eval", "mse", "--data", data, *TABLE, "--group-by", "reg*", "-f", "json", code=0
    )
    assert [r["slice"] for r in json.loads(result.stdout)["results"]] == [
        None,
        {"region": "a"},
        {"region": "b"},
    ]


def test_a_scheduler_address_with_a_user_part_is_refused_unprinted(tmp_path):
    data = _table(tmp_path / "t.parquet", y=[1.0, 2.0], p=[1.0, 3.0])
    result = invoke(
        "eval",
        "mse",
        "--data",
        data,
        *TABLE,
        "--scheduler",
        "tcp://user:Secret99@127.0.0.1:1",
        code=2,
    )
    assert result.stderr == (
        "Error: --scheduler tcp://***@127.0.0.1:1: a Dask address takes no user part "
        "(tcp://host:8786); configure the cluster's security instead\n"
    )
    result = invoke("eval", "mse", "--data", data, *TABLE, "--scheduler", "tcp://[zz", code=2)
    assert result.stderr.startswith("Error: --scheduler tcp://[zz: cannot reach the scheduler (")


def test_a_long_key_folds_in_blocks_under_a_continuation_mark(tmp_path):
    from test_terminal import in_terminal

    key = "a" * 30 + "::add-mask::" + "b" * 100
    data = _table(tmp_path / "long.parquet", y=[1.0, 2.0], p=[1.0, 3.0], r=[key, "x"])
    out, _, code = in_terminal(["eval", "mse", "--data", str(data), *TABLE, "--group-by", "r"], 40)
    assert code == 0
    lines = out.splitlines()
    names = ("loss: ", "slice: ", "reduction: ", "value: ", "samples: ")
    assert all(line.startswith((*names, "  ↳ ")) for line in lines if line)
    assert all(len(line) <= 40 for line in lines)
    folded = [line for line in lines if line.startswith(("slice: r=a", "  ↳ "))]
    assert "".join(line.removeprefix("  ↳ ") for line in folded) == f"slice: r={key}"


def test_to_pandas_keeps_typed_keys_and_labels(tmp_path):
    import losscli

    day = [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]
    data = _table(tmp_path / "d.parquet", y=[1.0, 2.0], p=[1.0, 3.0], d=day, r=["null", None])
    frame = losscli.evaluate("mse", data=data, true_col="y", pred_col="p", group_by="d").to_pandas()
    assert frame["slice"].tolist() == ["(all)", "d=2026-01-01", "d=2026-01-02"]
    assert frame["d"].tolist()[1:] == day
    frame = losscli.evaluate("mse", data=data, true_col="y", pred_col="p", group_by="r").to_pandas()
    assert frame["slice"].tolist() == ["(all)", 'r="null"', "r=null"]


def test_a_spec_as_typed_with_a_newline_is_escaped(tmp_path):
    data = _table(tmp_path / "t.parquet", y=[1.0, 2.0], p=[1.5, 2.0])
    run = ("eval", " mse\n", "--data", data, *TABLE, "--histogram", "2", "--worst", "1")
    csv = invoke(*run, "-f", "csv", code=0).stdout.splitlines()
    assert csv[1] == "mean_squared_error, mse\\n,sum_over_batch_size,0.125,2"
    assert csv[4] == " mse\\n,1,0,1.0,1.5,1.0,0.25"
    assert csv[7] == " mse\\n,0.0,0.125,1"
    table = invoke(*run, code=0).stdout
    assert " mse\\n: 2 samples (exact): min 0.0" in table
    assert all(c.isprintable() or c == "\n" for c in table)


def test_an_ellipsis_in_a_key_keeps_the_table(tmp_path):
    """The table gives way to blocks when rich cuts a cell (an ellipsis), not when a key holds
    one."""
    import io

    from rich.console import Console

    from losscli import render

    header = ["loss", "parameters", "slice", "reduction", "value", "samples"]
    rows = [["mean_squared_error", "", 'r="a…b"', "sum_over_batch_size", "0.5", "2"]]
    screen = io.StringIO()
    Console(file=screen, width=100, color_system=None).print(render.table(header, rows, 100))
    assert " ".join(screen.getvalue().splitlines()[2].split()) == (
        'mean_squared_error r="a…b" sum_over_batch_size 0.5 2'
    )
