"""Fuzzing: random and mutated files, random spec strings. Only losscli's typed errors escape."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losscli.cli.commands import cli
from losscli.engine import InputSpec, evaluate
from losscli.errors import LossCliError, SpecError, shorten
from losscli.io.readers import Request, open_source
from losscli.losses.classes import (
    IDENTIFIERS,
    LOSSES,
    Loss,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    lookup,
    spell_value,
)
from losscli.losses.spec import build_loss, parse_spec, parse_value
from losscli.stats.analysis import NO_ANALYSIS

# CI runs 150 examples per fuzzer; LOSSCLI_FUZZ_EXAMPLES=5000 for a longer hunt.
FUZZ = settings(
    max_examples=int(__import__("os").environ.get("LOSSCLI_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _valid_files() -> dict[str, bytes]:
    """One small valid file per format, to mutate."""
    y = np.arange(6, dtype=np.float64)
    out = {}
    buffer = io.BytesIO()
    np.save(buffer, y)
    out[".npy"] = buffer.getvalue()
    buffer = io.BytesIO()
    np.savez(buffer, a=y, b=y * 2)
    out[".npz"] = buffer.getvalue()
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": y, "b": y * 2}), buffer)
    out[".parquet"] = buffer.getvalue()
    csv_text = "a,b\n" + "".join(f"{v},{2 * v}\n" for v in y)
    out[".csv"] = csv_text.encode()
    out[".tsv"] = csv_text.replace(",", "\t").encode()
    out[".csv.gz"] = gzip.compress(csv_text.encode())
    return out


VALID = _valid_files()


def _read_all(path: Path) -> None:
    requests = {"y_pred": Request()}
    source = open_source(str(path), requests)
    for block in source.read(4):
        assert block["y_pred"].dtype.kind in "biuf"


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(VALID)))
    data = bytearray(VALID[suffix])
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "random"]))
    if kind == "random":
        return suffix, draw(st.binary(max_size=400))
    position = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    elif kind == "truncate":
        del data[position:]
    else:
        data[position:position] = draw(st.binary(min_size=1, max_size=20))
    return suffix, bytes(data)


@FUZZ
@given(mutated())
def test_readers_raise_only_input_errors(tmp_path_factory, case):
    suffix, data = case
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(data)
    with contextlib.suppress(LossCliError):
        _read_all(path)


@pytest.mark.slow
@FUZZ
@given(mutated())
def test_cli_never_shows_a_traceback_on_mutated_files(tmp_path_factory, case):
    suffix, data = case
    d = tmp_path_factory.mktemp("cli")
    (d / f"f{suffix}").write_bytes(data)
    np.save(d / "y.npy", np.zeros(6))
    before = data
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "mse",
            "--y-true",
            str(d / "y.npy"),
            "--y-pred",
            str(d / f"f{suffix}"),
            "-f",
            "value",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if result.exit_code == 2:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert (d / f"f{suffix}").read_bytes() == before


def _names_its_cause(exc: LossCliError, text: str) -> None:
    """A spec's error is a SpecError of one line whose form says what is wrong, and that
    holds for ``text``: a position inside it, the loss or the parameter it names."""
    assert type(exc) is SpecError, repr(exc)
    message = str(exc)
    assert len(message.splitlines()) == 1 and message == message.strip(), message
    stripped = text.strip()
    at = re.search(r"^cannot parse (loss|value) .*: .+ at position (\d+)$", message)
    if at:
        assert 1 <= int(at[2]) <= len(stripped if at[1] == "loss" else text) + 1, message
    elif message.startswith("empty loss name"):
        assert not stripped
    elif message.startswith("unbalanced parentheses in loss"):
        balanced = stripped.count("(") == stripped.count(")") and stripped.endswith(")")
        assert not balanced or "(" not in stripped, message
    elif message.startswith("loss ") and message.endswith(" has parameters but no name"):
        assert stripped.startswith("(")
    else:
        spec = parse_spec(text)  # the parts named below parsed
        if spec.is_custom:
            assert message.startswith("custom loss") or "for custom loss" in message, message
        elif message.startswith("unknown loss"):
            assert message.startswith(f"unknown loss {shorten(spec.name)!r}"), message
            with pytest.raises(SpecError):
                lookup(spec.name)
        else:  # a parameter's value or name: the parameter named
            assert any(f"{key}=" in message or repr(key) in message for key in spec.params), message


def _round_trips(loss: object, text: str) -> None:
    """A loss built from a spec is built again, the same, from its parameters spelled out."""
    if parse_spec(text).is_custom:
        return
    assert isinstance(loss, Loss)
    params = ", ".join(f"{key}={spell_value(value)}" for key, value in loss.params.items())
    again = build_loss(f"{loss.name}({params})", reduction=loss.reduction)
    assert type(again) is type(loss)
    assert repr(again.get_config()) == repr(loss.get_config())


def _built_or_named(text: str) -> None:
    try:
        loss = build_loss(parse_spec(text))
    except LossCliError as exc:
        _names_its_cause(exc, text)
    else:
        _round_trips(loss, text)


@pytest.mark.slow
@FUZZ
@given(st.text(max_size=60))
def test_random_text_builds_a_loss_or_says_what_is_wrong(text):
    _built_or_named(text)


_PARAMETERS = sorted({key for cls in LOSSES.values() for key in cls.parameters()})
_VALUES = st.one_of(
    st.integers(-3, 5).map(str),
    st.floats(-10, 10, allow_nan=False).map(repr),
    st.sampled_from(["true", "false", "null", "'sum'", "'x'", "[0.25, 0.75]", "(1, 2)", "1e-7"]),
    st.from_regex(r"[-0-9.e\[\]\(\),'truefalsn ]{0,14}", fullmatch=True),
)
_SPEC_SHAPED = st.one_of(
    st.from_regex(
        r"[A-Za-z_]{1,12}(\((\s*[a-z_]{1,8}\s*=\s*[-0-9.e\[\]\(\),'truefalsn ]{0,14}\s*,?)*\))?",
        fullmatch=True,
    ),
    # Real names and parameters, so that many of them build.
    st.builds(
        lambda name, params: name + ("(" + ", ".join(f"{k}={v}" for k, v in params) + ")"),
        st.sampled_from(sorted(IDENTIFIERS)),
        st.lists(st.tuples(st.sampled_from(_PARAMETERS), _VALUES), max_size=3),
    ),
)


@pytest.mark.slow
@FUZZ
@given(_SPEC_SHAPED)
def test_spec_shaped_strings_build_a_loss_or_say_what_is_wrong(text):
    _built_or_named(text)


@FUZZ
@given(st.text(max_size=30))
def test_a_value_is_read_back_as_spelled_or_its_error_points_into_the_text(text):
    try:
        value = parse_value(text)
    except LossCliError as exc:
        _names_its_cause(exc, text)
    else:
        assert repr(parse_value(spell_value(value))) == repr(value)


@pytest.mark.slow
@FUZZ
@given(
    labels=st.lists(
        st.one_of(st.integers(-3, 6), st.floats(allow_nan=True, allow_infinity=True)),
        min_size=1,
        max_size=12,
    )
)
def test_bad_labels_are_typed_errors(tmp_path_factory, labels):
    d = tmp_path_factory.mktemp("labels")
    np.save(d / "y.npy", np.array(labels, dtype=np.float64))
    np.save(d / "p.npy", np.full((len(labels), 4), 0.25))
    spec = InputSpec(y_true=str(d / "y.npy"), y_pred=str(d / "p.npy"))
    for policy in ("raise", "omit", "propagate"):
        with contextlib.suppress(LossCliError):
            evaluate([SparseCategoricalCrossentropy()], ["scce"], spec, nan_policy=policy)


def test_fuzz_strategies_reach_the_valid_path(tmp_path):
    """The unmutated files read fine, so the fuzzers start from working inputs."""
    for suffix, data in VALID.items():
        path = tmp_path / f"ok{suffix}"
        if suffix == ".npz":
            path = tmp_path / "ok.npz"
            path.write_bytes(data)
            _read_all(Path(f"{path}:a"))
            continue
        path.write_bytes(data)
        _read_all(path)
    result = evaluate(
        [MeanSquaredError()],
        ["mse"],
        InputSpec(data=str(tmp_path / "ok.csv"), true_cols=["a"], pred_cols=["b"]),
    )
    assert result.results[0].value == pytest.approx(np.mean(np.arange(6.0) ** 2))


# --- generators for the adversarial probe's input classes ----------------------------------
# Each makes inputs that must never pass as data: the run exits 2 with one `Error:` line of
# the expected kind, and the inputs are unchanged.


def _refused(d: Path, args: list[str], kind: str) -> None:
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert kind in result.stderr, result.stderr
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


NUMBERS = st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.6g}")


@pytest.mark.slow
@FUZZ
@given(
    rows=st.lists(st.tuples(NUMBERS, NUMBERS), min_size=1, max_size=300),
    where=st.integers(0, 10**6),
    side=st.booleans(),
    spans=st.booleans(),
)
def test_unterminated_or_spanning_quotes_are_refused(tmp_path_factory, rows, where, side, spans):
    d = tmp_path_factory.mktemp("quotes")
    lines = [f"{y},{p}" for y, p in rows]
    i = where % len(lines)
    y, p = rows[i]
    # A stray quote opening a field, or a quoted field that goes on to the next line.
    lines[i] = f'"{y},{p}' if side else f'{y},"{p}'
    if spans and i + 1 < len(lines):
        lines[i + 1] = lines[i + 1] + '"'
    (d / "q.csv").write_text("y,p\n" + "\n".join(lines) + "\n")
    args = ["eval", "mse", "--data", str(d / "q.csv"), "--true-col", "y", "--pred-col", "p"]
    _refused(d, [*args, "--max", "1e30"], "opens a quote that does not close")


@FUZZ
@given(
    n=st.integers(1, 50),
    form=st.sampled_from(["npy", "npz", "parquet"]),
    loss=st.sampled_from(
        [
            "mse",
            "categorical_crossentropy",
            "kld",
            "cosine_similarity",
            "categorical_hinge",
            "categorical_focal_crossentropy",
        ]
    ),
)
def test_empty_vectors_are_refused(tmp_path_factory, n, form, loss):
    d = tmp_path_factory.mktemp("empty")
    empty = np.zeros((n, 0))
    if form == "parquet":
        column = pa.array([[]] * n, pa.list_(pa.float64()))
        pq.write_table(pa.table({"y": column, "p": column}), d / "e.parquet")
        args = ["--data", str(d / "e.parquet"), "--true-col", "y", "--pred-col", "p"]
        kind = "empty vectors"
    else:
        path = d / f"e.{form}"
        np.save(path, empty) if form == "npy" else np.savez(path, a=empty)
        args = ["--y-true", str(path), "--y-pred", str(path)]
        kind = "0"
    _refused(d, ["eval", loss, *args, "--max", "1e30"], kind)


@pytest.mark.slow
@FUZZ
@given(
    first=st.integers(1, 6),
    other=st.integers(0, 6),
    before=st.integers(1, 400),
    after=st.integers(1, 50),
    group=st.integers(1, 200),
)
def test_ragged_lists_across_batches_are_refused(
    tmp_path_factory, first, other, before, after, group
):
    if other == first:
        other = first + 1
    d = tmp_path_factory.mktemp("ragged")
    rows = [[0.5] * first] * before + [[0.5] * other] * after
    table = pa.table({"y": pa.array(rows, pa.list_(pa.float64()))})
    table = table.append_column("p", table.column("y"))
    pq.write_table(table, d / "r.parquet", row_group_size=group)
    args = ["eval", "mse", "--data", str(d / "r.parquet"), "--true-col", "y", "--pred-col", "p"]
    _refused(d, [*args, "--max", "1e30"], "vectors of different lengths")


@pytest.mark.slow
@FUZZ
@given(
    exponents=st.lists(st.integers(0, 62), min_size=1, max_size=4).filter(lambda e: sum(e) >= 61),
    descr=st.sampled_from(["<f8", "<f4", "<i8", "|u1"]),
    fortran=st.booleans(),
    data=st.integers(0, 4096),
    in_npz=st.booleans(),
)
def test_claimed_shapes_that_wrap_are_refused(
    tmp_path_factory, exponents, descr, fortran, data, in_npz
):
    from numpy.lib import format as npformat

    d = tmp_path_factory.mktemp("wrap")
    member = io.BytesIO()
    shape = tuple(2**e for e in exponents)
    npformat.write_array_header_1_0(
        member, {"descr": descr, "fortran_order": fortran, "shape": shape}
    )
    member.write(b"\0" * data)
    if in_npz:
        path = d / "w.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("a.npy", member.getvalue())
    else:
        path = d / "w.npy"
        path.write_bytes(member.getvalue())
    _refused(d, ["eval", "mse", "--y-true", str(path), "--y-pred", str(path)], str(path.name))


@pytest.mark.slow
@FUZZ
@given(
    claimed=st.integers(1, 2000),
    extra=st.integers(8, 2 << 20),
    wide=st.integers(1, 3),
)
def test_compressed_members_holding_more_than_their_claim_are_refused(
    tmp_path_factory, claimed, extra, wide
):
    d = tmp_path_factory.mktemp("bomb")
    member = io.BytesIO()
    np.save(member, np.zeros((claimed, wide)))
    with zipfile.ZipFile(d / "b.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.npy", member.getvalue() + b"\0" * extra)  # zeros: a tiny, dense bomb
    np.save(d / "p.npy", np.zeros((claimed, wide)))
    args = ["eval", "mse", "--y-true", str(d / "b.npz"), "--y-pred", str(d / "p.npy")]
    _refused(d, args, "holds more data than its header's shape")


@FUZZ
@given(
    rows=st.integers(0, 200),
    at=st.integers(0, 200),
    length=st.integers(5000, 20000),
    newline=st.booleans(),
)
def test_lines_over_the_limit_are_refused(tmp_path_factory, rows, at, length, newline):
    import unittest.mock

    d = tmp_path_factory.mktemp("long")
    lines = ["1,2"] * rows
    lines.insert(min(at, rows), "1" * length)
    (d / "l.csv").write_text("t,p\n" + "\n".join(lines) + ("\n" if newline else ""))
    args = ["eval", "mse", "--data", str(d / "l.csv"), "--true-col", "t", "--pred-col", "p"]
    with (
        unittest.mock.patch("losscli.io.readers.delimited.MAX_LINE_BYTES", 4096),
        unittest.mock.patch("losscli.io.readers.delimited.CSV_BLOCK_BYTES", 1024),
    ):
        _refused(d, args, "without a line break")


def _table_files() -> dict[str, bytes]:
    """Tables big enough for many pieces: CSV of tiny byte ranges, Parquet of small row groups."""
    rng = np.random.default_rng(3)
    a, b = np.round(rng.normal(size=60), 3), np.round(rng.normal(size=60), 3)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": a, "b": b}), buffer, row_group_size=7)
    text = "a,b\n" + "".join(f"{x!r},{y!r}\n" for x, y in zip(a.tolist(), b.tolist(), strict=True))
    return {".parquet": buffer.getvalue(), ".csv": text.encode()}


TABLES = _table_files()

WORST_3 = NO_ANALYSIS._replace(worst=3)


@st.composite
def mutated_table(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(TABLES)))
    data = bytearray(TABLES[suffix])
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[i] = draw(st.sampled_from(b'0123456789.,-e"\n\r nax\x00\xff'))
        else:
            del data[i]
    return suffix, bytes(data)


@pytest.mark.slow
@FUZZ
@given(mutated_table(), st.sampled_from(["raise", "omit", "propagate"]))
def test_pieces_on_two_threads_tell_what_one_reader_in_order_tells(tmp_path_factory, case, nan):
    """Differential: CSV byte ranges and Parquet row groups read by two threads give the value,
    the count, the worst samples' rows or the error message of one reader in input order, for
    any mutated file."""
    from unittest import mock

    import losscli.engine.local as engine
    from losscli.io import readers

    suffix, data = case
    path = tmp_path_factory.mktemp("pieces") / f"t{suffix}"
    path.write_bytes(data)
    spec = InputSpec(data=str(path), true_cols=["a"], pred_cols=["b"])

    def outcome(workers: int) -> tuple[object, ...]:
        with (
            mock.patch.object(engine, "WORKERS", workers),
            mock.patch.object(readers.delimited, "PIECE_BYTES", 64),
            mock.patch.object(readers.delimited, "PIECE_BLOCK_BYTES", 40),
        ):
            try:
                result = evaluate(
                    [MeanSquaredError()], ["mse"], spec, nan_policy=nan, analysis=WORST_3
                )
            except LossCliError as exc:
                return ("error", str(exc))
        first = result.results[0]
        rows = [sample["row"] for sample in first.worst or []]
        return ("value", result.n_samples, result.n_omitted, rows, first.value)

    two, one = outcome(2), outcome(1)
    if one[0] == "value" and two[0] == "value":
        assert two[1:4] == one[1:4]
        np.testing.assert_allclose(two[4], one[4], rtol=1e-12)
    else:
        assert two == one


# --- hostile text: slice keys, check names and URIs made to mislead -------------------------

#: Keys made to mislead: terminal escapes, newlines that start a CI command, markup, null-like
#: and number-like text, the label's own punctuation, line separators, bidi overrides.
HOSTILE = [
    "eu\x1b[8m",
    "\x1b]0;title\x07",
    "x\n::add-mask::FAIL",
    "a\r\nb",
    "a|b",
    "<b>&amp;</b>",
    "$x^2$",
    "null",
    "NA",
    "None",
    "",
    " ",
    "1",
    "-0.5",
    "inf",
    "true",
    "(all)",
    "x, b=y",
    'q"uote',
    "back\\slash",
    "a=b",
    "\u2028",
    "\u202eevil",
    "\x00",
    "x" * 300,
]
hostile_keys = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=3).map("".join),
)
# Each example runs the command a dozen times: 25 in CI, the env variable for a longer hunt.
HOSTILE_FUZZ = settings(FUZZ, max_examples=int(os.environ.get("LOSSCLI_FUZZ_EXAMPLES", "25")))


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string: control characters and quotes escaped."""
    escaped = "".join(
        f"\\{c}" if c in '"\\' else c if c.isprintable() else f"\\U{ord(c):08x}" for c in text
    )
    return f'"{escaped}"'


def _printable(text: str) -> bool:
    return all(c.isprintable() or c == "\n" for c in text)


@pytest.mark.slow
@HOSTILE_FUZZ
@given(
    keys=st.lists(hostile_keys, min_size=2, max_size=3, unique=True),
    null=st.booleans(),
    width=st.integers(20, 120),
)
def test_hostile_slice_keys_in_every_output(tmp_path_factory, keys, null, width):
    """Whatever a key holds: exit 1 for the failing slice; every output parses (JSON, CSV,
    Markdown's columns, JUnit) and holds no raw control character; no line starts with a key;
    every slice has a label of its own."""
    import csv
    import json
    import xml.etree.ElementTree as ET

    from rich.console import Console

    from losscli.cli import tables
    from losscli.report import render
    from losscli.stats.analysis import Analysis
    from losscli.text import shown

    d = tmp_path_factory.mktemp("keys")
    values: list[str | None] = [*keys, None] if null else list(keys)
    k = len(values)
    y = np.arange(2 * k, dtype=np.float64)
    p = y.copy()
    p[-2:] += 3  # the last slice fails --slice-max 1
    data = d / "keys.parquet"
    pq.write_table(pa.table({"y": y, "p": p, "r": [v for v in values for _ in range(2)]}), data)
    run = ["eval", "mse", "--data", str(data), "--true-col", "y", "--pred-col", "p"]
    run += ["--group-by", "r", "--slice-max", "1"]
    out = {}
    for fmt in ("table", "json", "csv", "markdown", "value"):
        result = CliRunner().invoke(cli, [*run, "-f", fmt], catch_exceptions=False)
        assert result.exit_code == 1, result.stderr
        assert _printable(result.stdout) and _printable(result.stderr)
        assert all(line.startswith("FAIL: mse [r=") for line in result.stderr.splitlines())
        assert len(result.stderr.splitlines()) == 1
        out[fmt] = result.stdout
    document = json.loads(out["json"])
    slices = [r["slice"] for r in document["results"][1:]]
    assert sorted(slices, key=repr) == sorted(({"r": v} for v in values), key=repr)
    # CSV: rectangular, a key column `slice_r` whose cells are the JSON's keys, row by row
    # (redacted and escaped, a backslash doubled so that escapes stay unambiguous; a null and
    # the whole input's row empty); no line starts with a key.
    rows = list(csv.reader(io.StringIO(out["csv"])))
    assert len(rows) == k + 2 and len({len(row) for row in rows}) == 1
    assert rows[0][5] == "slice_r"
    assert [row[5] for row in rows[1:]] == [
        "" if s is None or s["r"] is None else shown(s["r"].replace("\\", "\\\\"))
        for s in [r["slice"] for r in document["results"]]
    ]
    assert all(
        line.startswith(("loss,", "mean_squared_error,")) for line in out["csv"].splitlines()
    )
    # Markdown: what the rows share above the table; every row as many columns; one label per
    # slice.
    markdown = out["markdown"].splitlines()
    assert markdown[:2] == ["reduction: sum_over_batch_size", ""] and len(markdown) == k + 5
    columns = {len(re.split(r"(?<!\\)\|", line)) for line in markdown[2:]}
    assert len(columns) == 1 and all(line.startswith("| ") for line in markdown[2:])
    labels = [re.split(r"(?<!\\)\|", line)[2].strip() for line in markdown[4:]]
    assert labels[0] == "(all)" and len(set(labels)) == k + 1  # one label per slice
    assert len(out["value"].splitlines()) == k + 1
    # The table: the shared line, the header and its rule, a row per result, the columns read.
    table = out["table"].splitlines()
    assert table[:2] == ["reduction: sum_over_batch_size", ""] and len(table) == k + 6
    assert all(line.startswith("mean_squared_error ") for line in table[4:-1])
    assert table[-1] == "columns: y_true [y]; y_pred [p]"
    # On a terminal of any width: a table, or blocks of `name: value` lines.
    evaluation = evaluate(
        [MeanSquaredError()],
        ["mse"],
        InputSpec(data=str(data), true_cols=["y"], pred_cols=["p"], group_by=["r"]),
        analysis=Analysis(group_by=("r",)),
    )
    screen = io.StringIO()
    console = Console(file=screen, width=width, color_system=None, highlight=False)
    console.print(tables.results_table(evaluation.results, width=width), crop=False)
    screen_lines = screen.getvalue().splitlines()
    assert _printable(screen.getvalue())
    # What every row shares comes first, folded under the continuation mark if need be.
    rule = next(i for i, line in enumerate(screen_lines) if not line)
    assert screen_lines[0].startswith("reduction:")
    assert all(line.startswith(tables.CONTINUED) for line in screen_lines[1:rule])
    screen_lines = screen_lines[rule + 1 :]
    if screen_lines[0].startswith("loss: "):  # blocks
        names = tuple(f"{name}: " for name in render.result_header(evaluation.results))
        assert all(line.startswith((*names, tables.CONTINUED)) for line in screen_lines if line)
    else:  # a table
        assert all(line.startswith(("loss ", "─", "mean_squared_error ")) for line in screen_lines)
    # check: the JUnit report parses, and names the failing slice.
    config = d / "losscli.toml"
    name = _toml_string(keys[0])
    config.write_text(
        f'[inputs]\ndata = "keys.parquet"\ntrue_col = "y"\npred_col = "p"\n'
        f'[[checks]]\nname = {name}\nloss = "mse"\ngroup_by = "r"\nslice_max = 1\n'
        f"[[checks]]\nloss = {_toml_string('mse' + keys[1])}\n"  # a spec, valid or not
    )
    report = d / "report.xml"
    for fmt in ("table", "json", "markdown"):
        result = CliRunner().invoke(
            cli, ["check", str(config), "--junit-xml", str(report), "-f", fmt]
        )
        assert result.exit_code in (1, 2), result.stderr  # 2: the second spec is an error
        assert _printable(result.stdout) and _printable(result.stderr)
        assert all(line.startswith(("FAIL: ", "Error: ")) for line in result.stderr.splitlines())
        if fmt == "json":
            json.loads(result.stdout)
    cases = ET.parse(report).getroot().findall("./testsuite/testcase")
    assert len(cases) == 2 and cases[0].find("failure") is not None
    assert (cases[1].find("error") is not None) == (result.exit_code == 2)
    assert all(_printable(case.get("name") or "") for case in cases)


@HOSTILE_FUZZ
@given(
    user=st.text(st.characters(blacklist_characters="/?#@\x00"), max_size=10),
    secret=st.text(
        st.characters(whitelist_categories=("L", "N"), max_codepoint=0x7F), min_size=8, max_size=20
    ),
    scheme=st.sampled_from(["s3", "http", "https", "file"]),
    target=st.sampled_from(["--y-true", "--output", "--plot", "--baseline-pred"]),
    fmt=st.sampled_from(["json", "table"]),
)
def test_a_uri_secret_reaches_no_output(tmp_path_factory, user, secret, scheme, target, fmt):
    """A URI with credentials in any place (an input, an output, a plot) that cannot be read or
    written: an `Error:` line (exit 2) naming it with its user part redacted. Every address is
    127.0.0.1, where nothing listens on port 1 (S3's endpoint too)."""
    from unittest import mock

    from losscli.io import storage

    d = tmp_path_factory.mktemp("secret")
    np.save(d / "y.npy", np.zeros(4))
    uri = f"{scheme}://{user}:{secret}@127.0.0.1:1/x.txt"
    args = {"--y-true": str(d / "y.npy"), "--y-pred": str(d / "y.npy")}
    args[target] = uri
    flat = [a for pair in args.items() for a in pair]
    endpoint = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_REGION": "us-east-1"}
    storage._s3.cache_clear()
    try:
        with mock.patch.dict(os.environ, endpoint):
            result = CliRunner().invoke(
                cli, ["eval", "mse", *flat, "--histogram", "-f", fmt], catch_exceptions=False
            )
    finally:
        storage._s3.cache_clear()
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "internal error" not in result.stderr
    assert secret not in result.stderr + result.stdout
    assert f"{scheme}://***@127.0.0.1:1/x.txt" in result.stderr
