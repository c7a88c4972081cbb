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


def _clean(text: str) -> bool:
    """No raw control character, and no line (its indent aside) starting with a key's text."""
    printable = all(c.isprintable() or c == "\n" for c in text)
    starts = ("::", "<b>", "eu", "x\\n", '"', "r=")
    return printable and not any(line.lstrip().startswith(starts) for line in text.splitlines())


GATE = 'FAIL: mse [r="x\\n::add-mask::FAIL"]: slice_max 1: 12.5 > slice_max 1\n'


def test_control_characters_in_keys_are_escaped_and_start_no_line(tmp_path):
    import csv
    import io

    data = _hostile(tmp_path)
    run = ("eval", "mse", "--data", data, *TABLE, "--group-by", "r", "--slice-max", "1")
    table = invoke(*run, code=1)
    lines = table.stdout.splitlines()
    # What every row shares on a line above; the columns read on a line under.
    assert lines[:2] == ["reduction: sum_over_batch_size", ""]
    assert lines[2].split() == ["loss", "slice", "value", "n_samples", "gates", "passed"]
    # Columns as words (the table's spacing aside): each key escaped, in quotes.
    assert [" ".join(line.split()) for line in lines[4:]] == [
        "mean_squared_error (all) 4.166666666666667 6",
        'mean_squared_error r="<b>a|b</b> & c" 0.0 2 slice_max 1 PASS PASS',
        'mean_squared_error r="eu\\x1b[8m" 0.0 2 slice_max 1 PASS PASS',
        'mean_squared_error r="x\\n::add-mask::FAIL" 12.5 2 slice_max 1 FAIL FAIL',
        "columns: y_true [y]; y_pred [p]",
    ]
    assert _clean(table.stdout) and table.stderr == GATE
    markdown = invoke(*run, "-f", "markdown", code=1)
    assert markdown.stdout.splitlines() == [
        "reduction: sum_over_batch_size",
        "",
        "| loss | slice | value | n_samples | gates | passed |",
        "| --- | --- | --- | --- | --- | --- |",
        "| mean_squared_error | (all) | 4.166666666666667 | 6 |  |  |",
        '| mean_squared_error | r="&lt;b&gt;a\\|b&lt;/b&gt; &amp; c" | 0.0 | 2 '
        "| slice_max 1 PASS | PASS |",
        '| mean_squared_error | r="eu\\x1b[8m" | 0.0 | 2 | slice_max 1 PASS | PASS |',
        '| mean_squared_error | r="x\\n::add-mask::FAIL" | 12.5 | 2 | slice_max 1 FAIL | FAIL |',
    ]
    assert _clean(markdown.stdout) and markdown.stderr == GATE
    # CSV: each key its own cell of the slice_r column, escaped; every line starts with the
    # header's or a result's loss, never with a key.
    csv_run = invoke(*run, "-f", "csv", code=1)
    assert csv_run.stdout.splitlines()[4] == (
        "mean_squared_error,mse,sum_over_batch_size,12.5,2,x\\n::add-mask::FAIL,"
        "slice_max 1 FAIL,false"
    )
    rows = list(csv.reader(io.StringIO(csv_run.stdout)))
    assert rows[0] == [
        "loss", "spec", "reduction", "value", "n_samples", "slice_r", "gates", "passed"
    ]  # fmt: skip
    assert [row[5] for row in rows[1:]] == [
        "", "<b>a|b</b> & c", "eu\\x1b[8m", "x\\n::add-mask::FAIL"
    ]  # fmt: skip
    assert len(rows) == 5 and {len(row) for row in rows} == {8}
    assert all(
        line.startswith(("loss,", "mean_squared_error,")) for line in csv_run.stdout.splitlines()
    )
    assert _clean(csv_run.stdout) and csv_run.stderr == GATE
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
        assert _clean(out) and all(len(line) <= columns for line in out.splitlines())
        assert err == GATE
        assert out.startswith("reduction: sum_over_batch_size\n\n")
        assert out.splitlines()[-1] == "columns: y_true [y]; y_pred [p]"
    blocks = out.split("\n\n")  # what the rows share, then a block per result
    assert blocks[0] == "reduction: sum_over_batch_size"
    assert 'slice: r="x\\n::add-mask::FAIL"' in blocks[4] and "passed: FAIL" in blocks[4]


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
        'mean_squared_error [r="x\\n::add-mask::FAIL"]: 12.5 > slice_max 1'
    )
    assert all(_clean(text) for text in (failure.text or "", report.read_text()))
    error = cases[1].find("error")
    assert error is not None and "\\x00" in (error.get("message") or "")
    json.loads(result.stdout)
    assert result.stderr.startswith("Error: bad\\x01spec: ")
    assert all(c.isprintable() or c == "\n" for c in result.stderr)
    # The table and Markdown: the names escaped, what the checks share above them.
    for fmt in ("table", "markdown"):
        shown = invoke("check", config, "-f", fmt, code=2)
        lines = shown.stdout.splitlines()
        assert lines[:2] == ["reduction: sum_over_batch_size", ""]
        assert sum("bell\\x07 " in line for line in lines) == 4  # the check and its 3 slices
        assert all(c.isprintable() or c == "\n" for c in shown.stdout + shown.stderr)


def _csv(text: str) -> list[dict[str, str]]:
    """A CSV's rows by its header, every row as long as the header."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    assert {len(row) for row in rows} == {len(rows[0])}
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_labels_tell_text_from_null_and_commas_from_columns(tmp_path):
    data = _table(
        tmp_path / "n.parquet",
        y=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        p=[1.0, 2.0, 3.0, 9.0, 5.0, 6.0],
        r=["null", "null", None, None, "1", "1"],
    )
    run = ("eval", "mse", "--data", data, *TABLE, "--group-by", "r")
    labels = ["(all)", 'r="1"', 'r="null"', "r=null"]
    table = invoke(*run, code=0).stdout.splitlines()
    assert [line.split()[1] for line in table[4:-1]] == labels
    markdown = invoke(*run, "-f", "markdown", code=0).stdout.splitlines()
    assert [line.split(" | ")[1] for line in markdown[4:]] == labels
    # CSV: the key as its own cell, the text "null" apart from a null's empty cell; the whole
    # input's row (also empty) comes first and the null key's slice last, as in JSON.
    rows = _csv(invoke(*run, "-f", "csv", code=0).stdout)
    assert [row["slice_r"] for row in rows] == ["", "1", "null", ""]
    document = json.loads(invoke(*run, "-f", "json", code=0).stdout)
    assert [r["slice"] for r in document["results"]] == [
        None,
        {"r": "1"},
        {"r": "null"},
        {"r": None},
    ]
    assert [row["value"] for row in rows] == [repr(r["value"]) for r in document["results"]]
    data = _table(
        tmp_path / "c.parquet",
        y=[1.0, 2.0, 3.0, 4.0],
        p=[1.0, 2.0, 3.0, 9.0],
        r=["x", "x, b=y", "x", "x"],
        b=["y, b=z", "z", "y, b=z", "y, b=z"],
    )
    run = ("eval", "mse", "--data", data, *TABLE, "--group-by", "r", "--group-by", "b")
    result = invoke(*run, "--slice-max", "1", "-f", "markdown", code=1)
    assert [line.split(" | ")[1] for line in result.stdout.splitlines()[4:]] == [
        "(all)",
        'r=x, b="y, b=z"',
        'r="x, b=y", b=z',
    ]
    assert result.stderr == (
        'FAIL: mse [r=x, b="y, b=z"]: slice_max 1: 8.333333333333334 > slice_max 1\n'
    )
    table = invoke(*run, "--slice-max", "1", code=1).stdout.splitlines()
    assert [line.split("   ")[1].strip() for line in table[4:-1]] == [
        "(all)",
        'r=x, b="y, b=z"',
        'r="x, b=y", b=z',
    ]
    # CSV: a column per key, a comma inside a key a comma inside its quoted cell.
    rows = _csv(invoke(*run, "--slice-max", "1", "-f", "csv", code=1).stdout)
    assert [(row["slice_r"], row["slice_b"]) for row in rows] == [
        ("", ""),
        ("x", "y, b=z"),
        ("x, b=y", "z"),
    ]


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
        rows = _csv(invoke(*run, "-f", "csv", code=0).stdout)
        assert [row[f"slice_{column}"] for row in rows] == ["", *values]
        table = invoke(*run, code=0).stdout.splitlines()
        assert [line.split()[1] for line in table[4:-1]] == ["(all)", *labels]
        markdown = invoke(*run, "-f", "markdown", code=0).stdout.splitlines()
        assert [line.split(" | ")[1] for line in markdown[4:]] == ["(all)", *labels]


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
    assert lines[:2] == ["reduction: sum_over_batch_size", ""]  # what the rows share
    names = ("loss: ", "slice: ", "value: ", "n_samples: ", "columns: ")
    assert all(line.startswith((*names, "  ↳ ")) for line in lines[2:] if line)
    assert all(len(line) <= 40 for line in lines)
    folded = [line for line in lines if line.startswith(("slice: r=a", "  ↳ "))]
    assert "".join(line.removeprefix("  ↳ ") for line in folded) == f"slice: r={key}"


def test_to_pandas_keeps_typed_keys_and_labels(tmp_path):
    """The CSV's columns, each key typed: a date a date, a decimal a Decimal, binary bytes,
    the text "null" apart from a null, and the whole input's row missing."""
    import pandas as pd

    import losscli

    day = [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]
    data = _table(
        tmp_path / "d.parquet",
        y=[1.0, 2.0],
        p=[1.0, 3.0],
        d=day,
        t=[dt.datetime(2026, 1, 1, 12, 30), dt.datetime(2026, 1, 2)],
        m=pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.25")], pa.decimal128(5, 2)),
        b=[b"\x00\xff", b"ab"],
        i=[3, 20],
        r=["null", None],
    )

    def frame(column: str) -> pd.DataFrame:
        report = losscli.evaluate("mse", data=data, true_col="y", pred_col="p", group_by=column)
        table = report.to_pandas()
        header = run_csv_header(column)
        assert list(table.columns) == header  # exactly the CSV's columns
        assert "slice" not in table.columns
        assert table[f"slice_{column}"].isna().tolist()[0]  # the whole input has no key
        return table

    def run_csv_header(column: str) -> list[str]:
        args = ("eval", "mse", "--data", data, *TABLE, "--group-by", column, "-f", "csv")
        return invoke(*args, code=0).stdout.splitlines()[0].split(",")

    assert frame("d")["slice_d"].tolist()[1:] == day
    times = frame("t")["slice_t"]
    assert pd.api.types.is_datetime64_any_dtype(times)
    assert times.tolist()[1:] == [pd.Timestamp("2026-01-01 12:30"), pd.Timestamp("2026-01-02")]
    assert frame("m")["slice_m"].tolist()[1:] == [decimal.Decimal("1.50"), decimal.Decimal("2.25")]
    assert frame("b")["slice_b"].tolist()[1:] == [b"\x00\xff", b"ab"]
    integers = frame("i")["slice_i"]
    assert str(integers.dtype) == "Int64" and integers.tolist()[1:] == [3, 20]
    keys = frame("r")["slice_r"]
    assert keys.isna().tolist() == [True, False, True] and keys[1] == "null"


def test_a_spec_as_typed_with_a_newline_is_escaped(tmp_path):
    data = _table(tmp_path / "t.parquet", y=[1.0, 2.0], p=[1.5, 2.0])
    run = ("eval", " mse\n", "--data", data, *TABLE, "--histogram", "2", "--worst", "1")
    csv = invoke(*run, "-f", "csv", code=0).stdout
    assert csv.splitlines() == [
        "loss,spec,reduction,value,n_samples,distribution_count,distribution_min,"
        "distribution_max,distribution_quantiles_p50,distribution_quantiles_p90,"
        "distribution_quantiles_p99,distribution_method",
        "mean_squared_error, mse\\n,sum_over_batch_size,0.125,2,2,0.0,0.25,0.125,0.225,0.2475,"
        "exact",
    ]
    worst = tmp_path / "worst.csv"
    invoke(*run, "-f", "csv", "--worst-output", worst, code=0)
    assert worst.read_text().splitlines()[1] == " mse\\n,1,0,1.0,1.5,1.0,0.25"
    table = invoke(*run, code=0).stdout
    assert " mse\\n: 2 samples (exact): min 0.0" in table
    assert "\n mse\\n   1   " in table  # the worst samples' spec cell
    markdown = invoke(*run, "-f", "markdown", code=0).stdout
    assert "|  mse\\n | 1 | 0 |" in markdown and "|  mse\\n | 2 | 0.0 |" in markdown
    for text in (csv, table, markdown, worst.read_text()):
        assert all(c.isprintable() or c == "\n" for c in text)


def test_an_ellipsis_in_a_key_keeps_the_table(tmp_path):
    """The table gives way to blocks when rich cuts a cell (an ellipsis), not when a key holds
    one."""
    import io

    from rich.console import Console

    from losscli.cli import tables

    header = ["loss", "parameters", "slice", "reduction", "value", "samples"]
    rows = [["mean_squared_error", "", 'r="a…b"', "sum_over_batch_size", "0.5", "2"]]
    screen = io.StringIO()
    Console(file=screen, width=100, color_system=None).print(tables.table(header, rows, 100))
    assert " ".join(screen.getvalue().splitlines()[2].split()) == (
        'mean_squared_error r="a…b" sum_over_batch_size 0.5 2'
    )


@pytest.mark.slow
def test_a_column_name_starts_no_line_and_a_key_holds_no_secret(tmp_path):
    """The columns line quotes a name that is not plain and, on a terminal, folds under a
    continuation mark: no name reaches the start of a line. A key holding a URI's user part is
    redacted in every format, CSV too."""
    from test_terminal import in_terminal

    from losscli.cli import tables

    column = "a" * 20 + " ::add-mask::x"
    data = tmp_path / "c.parquet"
    pq.write_table(pa.table({"y": [1.0, 2.0], column: [1.0, 3.0]}), data)
    run = ["eval", "mse", "--data", str(data), "--true-col", "y", "--pred-col", column]
    line = f'columns: y_true [y]; y_pred ["{column}"]'
    assert invoke(*run, code=0).stdout.splitlines()[-1] == line  # piped: one line
    for columns in (30, 44):
        out, err, code = in_terminal(run, columns)
        assert code == 0, err
        lines = out.splitlines()
        start = next(i for i, text in enumerate(lines) if text.startswith("columns: "))
        assert all(text.startswith(tables.CONTINUED) for text in lines[start + 1 :])
        assert len(lines) > start + 1 and all(len(text) <= columns for text in lines)
        assert " ".join(text.removeprefix(tables.CONTINUED) for text in lines[start:]) == line
        assert _clean(out)
    # Any width, any text: each line after the first under the mark, within the width (when
    # it leaves room for 8 characters), and nothing lost but the spaces it broke at.
    for width in range(1, 40):
        for text in (line, "x" * 50, "a  ::b " * 9):
            folded = tables.folded(text, width)
            assert all(part.startswith(tables.CONTINUED) for part in folded[1:])
            assert all(len(part) <= max(width, 12) for part in folded)
            rest = "".join(part.removeprefix(tables.CONTINUED) for part in folded)
            assert rest.replace(" ", "") == text.replace(" ", "")
    data = _table(tmp_path / "k.parquet", y=[1.0, 2.0], p=[1.0, 3.0], r=["s3://u:Secret99@b", "x"])
    run = ["eval", "mse", "--data", str(data), *TABLE, "--group-by", "r"]
    for fmt in ("table", "csv", "markdown", "json"):
        out = invoke(*run, "-f", fmt, code=0).stdout
        assert "Secret99" not in out and "s3://***@b" in out, fmt


def test_infinite_float_keys_are_json_text(tmp_path):
    """JSON has no infinity: a float key of inf is the text "inf" (it was an internal error)."""
    (tmp_path / "f.csv").write_text("y,p,g\n1,1.5,inf\n2,2,1\n3,3,-inf\n")
    args = ["eval", "mse", "--data", tmp_path / "f.csv", "--true-col", "y", "--pred-col", "p"]
    done = invoke(*args, "--group-by", "g", "-f", "json", code=0)
    results = json.loads(done.stdout)["results"]
    assert [(r["slice"], r["value"]) for r in results] == [
        (None, 0.25 / 3),
        ({"g": "-inf"}, 0.0),
        ({"g": 1.0}, 0.0),
        ({"g": "inf"}, 0.25),
    ]
