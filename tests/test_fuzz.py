"""Fuzzing: random and mutated files, random spec strings. Only losscli's typed errors escape."""

from __future__ import annotations

import contextlib
import gzip
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losscli.cli import cli
from losscli.errors import LossCliError
from losscli.evaluate import InputSpec, evaluate
from losscli.losses import MeanSquaredError, SparseCategoricalCrossentropy
from losscli.readers import Request, open_source
from losscli.spec import build_loss, parse_spec, parse_value

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


@FUZZ
@given(st.text(max_size=60))
def test_spec_parser_raises_only_spec_errors(text):
    try:
        spec = parse_spec(text)
    except LossCliError:
        return
    with contextlib.suppress(LossCliError):
        build_loss(spec)


@FUZZ
@given(
    st.from_regex(
        r"[A-Za-z_]{1,12}(\((\s*[a-z_]{1,8}\s*=\s*[-0-9.e\[\]\(\),'truefalsn ]{0,14}\s*,?)*\))?",
        fullmatch=True,
    )
)
def test_spec_shaped_strings_raise_only_spec_errors(text):
    with contextlib.suppress(LossCliError):
        build_loss(text)


@FUZZ
@given(st.text(max_size=30))
def test_value_parser(text):
    with contextlib.suppress(LossCliError):
        parse_value(text)


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
