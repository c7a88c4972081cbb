"""The command line, through click's CliRunner: every option and format, exact output.

Expected numbers come from plain numpy formulas written here or from Keras,
never from losscli itself.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import keras_float64

from losscli import __version__, losses
from losscli.cli.commands import cli

keras = keras_float64()
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def run(*args: str, stdin: bytes | str | None = None, code: int = 0):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.output
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def value(*args: str, **kwargs) -> float:
    return float(run(*args, "--format", "value", **kwargs).stdout)


def values(*args: str) -> list[float]:
    return [float(line) for line in run(*args, "--format", "value").stdout.split()]


@pytest.fixture
def reg(tmp_path):
    """A small regression set: y, p, w as arrays and as files of every format."""
    rng = np.random.default_rng(11)
    y, p, w = rng.normal(size=12), rng.normal(size=12), rng.uniform(0.5, 2.0, 12)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "w.npy", w)
    lines = ["y,p,w"] + [
        f"{float(a)!r},{float(b)!r},{float(c)!r}" for a, b, c in zip(y, p, w, strict=True)
    ]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    return tmp_path, y, p, w


def pair(d: Path) -> tuple[str, Path, str, Path]:
    """--y-true/--y-pred for the reg fixture's .npy files."""
    return ("--y-true", d / "y.npy", "--y-pred", d / "p.npy")


def mse(y, p, w=None):
    se = (y - p) ** 2
    return float(np.mean(se if w is None else se * w))


# --- the main job ------------------------------------------------------------------------


def test_mse_from_npy_pair(reg):
    d, y, p, _ = reg
    assert value("eval", "mse", *pair(d)) == mse(y, p)


def test_weights_from_column_file_and_number(reg):
    d, y, p, w = reg
    expected = mse(y, p, w)
    args = ("eval", "mse", "--data", d / "d.csv", "--true-col", "y", "--pred-col", "p")
    assert value(*args, "--weight-col", "w") == pytest.approx(expected, rel=1e-15)
    files = ("eval", "mse", *pair(d))
    assert value(*files, "--sample-weight", d / "w.npy") == pytest.approx(expected, rel=1e-15)
    np.save(d / "w_col.npy", w[:, None])  # (N, 1) is one weight per sample too
    assert value(*files, "--sample-weight", d / "w_col.npy") == pytest.approx(expected, rel=1e-15)
    assert value(*files, "--sample-weight", "0.5") == pytest.approx(mse(y, p) * 0.5, rel=1e-15)


def test_every_reduction(reg):
    d, y, p, w = reg
    se = (y - p) ** 2
    args = (
        "eval",
        "mse",
        *pair(d),
        "--sample-weight",
        d / "w.npy",
    )
    expected = {
        "sum_over_batch_size": np.sum(se * w) / 12,
        "mean": np.sum(se * w) / 12,
        "sum": np.sum(se * w),
        "mean_with_sample_weight": np.sum(se * w) / np.sum(w),
    }
    for reduction, want in expected.items():
        assert value(*args, "--reduction", reduction) == pytest.approx(want, rel=1e-14)
    np.testing.assert_allclose(values(*args, "--reduction", "none"), se * w, rtol=1e-14)


def test_several_losses_with_parameters_match_keras(reg):
    d, y, p, _ = reg
    got = values(
        "eval",
        "mse",
        "huber(delta=0.5)",
        "log_cosh",
        *pair(d),
    )
    yk, pk = y[:, None], p[:, None]
    want = [
        keras.losses.MeanSquaredError(dtype="float64")(yk, pk),
        keras.losses.Huber(delta=0.5, dtype="float64")(yk, pk),
        keras.losses.LogCosh(dtype="float64")(yk, pk),
    ]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_binary_from_logits_option_and_spec(tmp_path):
    data = SAMPLE / "binary.parquet"
    table = pq.read_table(data)
    label = table["label"].to_numpy().astype(float)[:, None]
    logit = table["logit"].to_numpy()[:, None]
    want = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, dtype="float64")(
        label, logit
    )
    base = ("eval", "--data", data, "--true-col", "label", "--pred-col", "logit")
    assert value(
        base[0], "bce", *base[1:], "--from-logits", "--label-smoothing", "0.1"
    ) == pytest.approx(want, rel=1e-12)
    spec = "BinaryCrossentropy(from_logits=true, label_smoothing=0.1)"
    assert value(base[0], spec, *base[1:]) == pytest.approx(want, rel=1e-12)
    assert value(
        base[0], "bce", *base[1:], "-p", "from_logits=true", "-p", "label_smoothing=0.1"
    ) == pytest.approx(want, rel=1e-12)
    # A value inside NAME(...) wins over the option.
    assert value(
        base[0], "bce(label_smoothing=0.1)", *base[1:], "--from-logits", "--label-smoothing", "0.3"
    ) == pytest.approx(want, rel=1e-12)


def test_multiclass_globs_list_columns_and_sparse_labels():
    csv_path, pq_path = SAMPLE / "multiclass.csv", SAMPLE / "multiclass.parquet"
    table = pq.read_table(pq_path)
    probs = np.array(table["probs"].to_pylist())
    onehot = np.array(table["onehot"].to_pylist())
    labels = table["label"].to_numpy()
    cce = float(keras.losses.CategoricalCrossentropy(dtype="float64")(onehot, probs))
    scce = float(keras.losses.SparseCategoricalCrossentropy(dtype="float64")(labels, probs))
    # CSV columns rounded to 6 digits like the Parquet lists; the same data both ways.
    from_csv = values(
        "eval",
        "categorical_crossentropy",
        "--data",
        csv_path,
        "--true-col",
        "onehot_*",
        "--pred-col",
        "prob_*",
    )
    from_pq = values(
        "eval",
        "categorical_crossentropy",
        "--data",
        pq_path,
        "--true-col",
        "onehot",
        "--pred-col",
        "probs",
    )
    assert from_csv == pytest.approx([cce], rel=1e-12) and from_pq == pytest.approx(
        [cce], rel=1e-12
    )
    sparse = values(
        "eval",
        "sparse_categorical_crossentropy",
        "--data",
        pq_path,
        "--true-col",
        "label",
        "--pred-col",
        "probs",
    )
    assert sparse == pytest.approx([scce], rel=1e-12)
    # Repeated --pred-col, in order.
    repeated = values(
        "eval",
        "categorical_crossentropy",
        "--data",
        csv_path,
        "--true-col",
        "onehot_*",
        *[a for j in range(4) for a in ("--pred-col", f"prob_{j}")],
    )
    assert repeated == from_csv


def test_axis_option_and_tuple_axis(tmp_path):
    rng = np.random.default_rng(5)
    y = rng.choice([0.0, 1.0], (6, 4, 3))
    p = rng.uniform(size=(6, 4, 3))
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    want = keras.losses.Dice(axis=(1, 2), reduction="none", dtype="float64")(y, p)
    got = values(
        "eval",
        "dice",
        "--axis",
        "(1, 2)",
        "--y-true",
        tmp_path / "y.npy",
        "--y-pred",
        tmp_path / "p.npy",
        "--reduction",
        "none",
    )
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_dtype_float32_matches_keras_float32(reg):
    d, y, p, _ = reg
    want = keras.losses.MeanSquaredError(dtype="float32")(
        y[:, None].astype(np.float32), p[:, None].astype(np.float32)
    )
    got = value("eval", "mse", "--dtype", "float32", *pair(d))
    # Per-sample losses in float32 as Keras; the sum is accumulated in float64 (contract section 8).
    assert got == pytest.approx(float(want), rel=1e-6)


def test_custom_loss_file(reg):
    d, y, p, w = reg
    (d / "custom.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            def quartic(y_true, y_pred):
                return np.mean((y_true - y_pred) ** 4, axis=-1)
            """
        )
    )
    got = value(
        "eval",
        f"{d / 'custom.py'}:quartic",
        *pair(d),
        "--sample-weight",
        d / "w.npy",
        "--reduction",
        "sum",
    )
    assert got == pytest.approx(float(np.sum((y - p) ** 4 * w)), rel=1e-14)


# --- readers --------------------------------------------------------------------------------


def _write_formats(d: Path, y: np.ndarray, p: np.ndarray) -> dict[str, tuple[str, ...]]:
    """The same y/p columns in every supported input format; args for each."""
    body = "\n".join(f"{float(a)!r},{float(b)!r}" for a, b in zip(y, p, strict=True)) + "\n"
    (d / "h.csv").write_text("y,p\n" + body)
    (d / "n.csv").write_text(body)
    (d / "t.tsv").write_text("y\tp\n" + body.replace(",", "\t"))
    with gzip.open(d / "g.csv.gz", "wt") as fp:
        fp.write("y,p\n" + body)

    with pa.CompressedOutputStream(str(d / "z.csv.zst"), "zstd") as fp:
        fp.write(("y,p\n" + body).encode())
    pq.write_table(pa.table({"y": y, "p": p}), d / "t.parquet")
    (d / "dir").mkdir()
    pq.write_table(pa.table({"y": y[:5], "p": p[:5]}), d / "dir" / "part-0.parquet")
    pq.write_table(pa.table({"y": y[5:], "p": p[5:]}), d / "dir" / "part-1.parquet")
    np.savez(d / "both.npz", y=y, p=p)
    np.savez(d / "y1.npz", y)
    cols = ("--true-col", "y", "--pred-col", "p")
    return {
        "csv with header": ("--data", str(d / "h.csv"), *cols),
        "csv without header": (
            "--data",
            str(d / "n.csv"),
            "--true-col",
            "column_0",
            "--pred-col",
            "column_1",
        ),
        "tsv": ("--data", str(d / "t.tsv"), *cols),
        "csv.gz": ("--data", str(d / "g.csv.gz"), *cols),
        "csv.zst": ("--data", str(d / "z.csv.zst"), *cols),
        "parquet": ("--data", str(d / "t.parquet"), *cols),
        "parquet directory": ("--data", str(d / "dir"), *cols),
        "npz keys": ("--y-true", f"{d / 'both.npz'}:y", "--y-pred", f"{d / 'both.npz'}:p"),
        "npz single array": ("--y-true", str(d / "y1.npz"), "--y-pred", f"{d / 'both.npz'}:p"),
        "separate csv files with columns": (
            "--y-true",
            str(d / "h.csv"),
            "--true-col",
            "y",
            "--y-pred",
            str(d / "h.csv"),
            "--pred-col",
            "p",
        ),
    }


def test_every_format_reads_the_same_numbers(reg):
    d, y, p, _ = reg
    expected = mse(y, p)
    for name, args in _write_formats(d, y, p).items():
        assert value("eval", "mse", *args) == pytest.approx(expected, rel=1e-15), name


def test_stdin_csv_and_input_format(reg):
    d, y, p, _ = reg
    body = "".join(f"{float(a)!r}\n" for a in p)
    assert value(
        "eval", "mse", "--y-true", d / "y.npy", "--y-pred", "-", stdin=body
    ) == pytest.approx(mse(y, p), rel=1e-15)
    (d / "p.data").write_bytes((d / "p.npy").read_bytes())
    got = value(
        "eval", "mse", "--y-true", d / "y.npy", "--y-pred", d / "p.data", "--input-format", "npy"
    )
    assert got == pytest.approx(mse(y, p), rel=1e-15)


def test_one_stdin_table_for_labels_and_predictions(reg):
    d, y, p, _ = reg
    table = (d / "d.csv").read_text()
    got = value(
        "eval",
        "mse",
        "--y-true",
        "-",
        "--true-col",
        "y",
        "--y-pred",
        "-",
        "--pred-col",
        "p",
        stdin=table,
    )
    assert got == pytest.approx(mse(y, p), rel=1e-15)


def test_header_detection_and_forcing(tmp_path):
    (tmp_path / "a.csv").write_text("1,2\n3,4\n")
    (tmp_path / "b.csv").write_text("0,0\n0,0\n")
    base = ("eval", "mse", "--y-true", tmp_path / "b.csv", "--y-pred", tmp_path / "a.csv")
    assert value(*base) == (1 + 4 + 9 + 16) / 4
    # With --header the first row names the columns: one sample left on each side.
    assert value(*base, "--header") == (9 + 16) / 2


def test_rows_are_samples_for_a_single_column(tmp_path):
    """12 values in a column are 12 samples of one value (Keras would take 1 sample of 12)."""
    np.save(tmp_path / "y.npy", np.zeros(4))
    np.save(tmp_path / "p.npy", np.array([1.0, 2.0, 3.0, 4.0]))
    out = run(
        "eval",
        "mse",
        "--y-true",
        tmp_path / "y.npy",
        "--y-pred",
        tmp_path / "p.npy",
        "--format",
        "json",
    ).stdout
    doc = json.loads(out)
    assert doc["results"][0]["n_samples"] == 4
    assert values(
        "eval",
        "mse",
        "--y-true",
        tmp_path / "y.npy",
        "--y-pred",
        tmp_path / "p.npy",
        "--reduction",
        "none",
    ) == [1.0, 4.0, 9.0, 16.0]


# --- output formats -------------------------------------------------------------------------


def test_json_document(reg):
    d, y, p, w = reg
    out = run(
        "eval",
        "mse",
        "huber(delta=2)",
        *pair(d),
        "--sample-weight",
        d / "w.npy",
        "--format",
        "json",
    ).stdout
    doc = json.loads(out)
    assert doc == {
        "version": __version__,
        "inputs": {
            "y_true": str(d / "y.npy"),
            "y_pred": str(d / "p.npy"),
            "sample_weight": str(d / "w.npy"),
            "n_samples": 12,
        },
        "results": [
            {
                "loss": "mean_squared_error",
                "spec": "mse",
                "config": {},
                "reduction": "sum_over_batch_size",
                "value": doc["results"][0]["value"],
                "n_samples": 12,
            },
            {
                "loss": "huber",
                "spec": "huber(delta=2)",
                "config": {"delta": 2.0},
                "reduction": "sum_over_batch_size",
                "value": doc["results"][1]["value"],
                "n_samples": 12,
            },
        ],
        "warnings": [],
    }
    assert doc["results"][0]["value"] == pytest.approx(mse(y, p, w), rel=1e-15)
    want_huber = keras.losses.Huber(delta=2.0, dtype="float64")(
        y[:, None], p[:, None], sample_weight=w
    )
    assert doc["results"][1]["value"] == pytest.approx(want_huber, rel=1e-12)


def test_json_nonfinite_value_is_null_with_warning(tmp_path):
    np.save(tmp_path / "y.npy", np.array([[1.0, 1.0]]))
    np.save(tmp_path / "p.npy", np.zeros((1, 5, 3)))
    # Two equal labels need 3 steps; with 5 steps it is possible, so make it impossible:
    np.save(tmp_path / "p.npy", np.zeros((1, 2, 3)))
    result = run(
        "eval",
        "ctc",
        "--y-true",
        tmp_path / "y.npy",
        "--y-pred",
        tmp_path / "p.npy",
        "--format",
        "json",
    )
    doc = json.loads(result.stdout)
    assert doc["results"][0]["value"] is None
    assert doc["warnings"] == ["results[0].value (ctc) is inf (not finite), written as null"]
    assert "Warning: results[0].value (ctc) is inf" in result.stderr


def test_csv_value_markdown_table(reg):
    d, y, p, _ = reg
    files = pair(d)
    m = mse(y, p)
    mae = float(np.mean(np.abs(y - p)))
    assert run("eval", "mse", "mae", *files, "--format", "csv").stdout == (
        "loss,spec,reduction,value,n_samples\n"
        f"mean_squared_error,mse,sum_over_batch_size,{m!r},12\n"
        f"mean_absolute_error,mae,sum_over_batch_size,{mae!r},12\n"
    )
    assert run("eval", "mse", "mae", *files, "--format", "value").stdout == f"{m!r}\n{mae!r}\n"
    assert run("eval", "mse", *files, "--format", "markdown").stdout == (
        "reduction: sum_over_batch_size; n_samples: 12\n"
        "\n"
        "| loss | value |\n"
        "| --- | --- |\n"
        f"| mean_squared_error | {m!r} |\n"
    )
    table = run("eval", "mse", "huber(delta=0.5)", *files).stdout
    lines = table.splitlines()
    assert lines[0] == "reduction: sum_over_batch_size; n_samples: 12"
    assert lines[2].split() == ["loss", "config", "value"]
    assert lines[4].split() == ["mean_squared_error", repr(m)]  # no padding after the value
    assert lines[5].split()[:2] == ["huber", "delta=0.5"]
    assert all(line == line.rstrip() for line in lines)
    assert "\x1b[" not in table  # plain when stdout is not a terminal


def test_csv_per_sample_rows(reg):
    d, y, p, _ = reg
    out = run(
        "eval",
        "mse",
        "mae",
        *pair(d),
        "--reduction",
        "none",
        "--format",
        "csv",
    ).stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["index", "mse", "mae"]
    assert rows[1] == ["0", repr(float((y[0] - p[0]) ** 2)), repr(float(abs(y[0] - p[0])))]
    assert len(rows) == 13


def test_stdout_only_the_result_and_warnings_on_stderr():
    args = (
        "eval",
        "bce",
        "--data",
        SAMPLE / "binary.parquet",
        "--true-col",
        "label",
        "--pred-col",
        "logit",
    )
    result = run(*args, "--format", "value")
    float(result.stdout)  # only the number
    assert result.stderr == (
        "Warning: binary_crossentropy: y_pred has values outside [0, 1] (min -6.459, max 6.086): "
        "these look like logits; set from_logits=true\n"
    )
    assert run(*args, "--quiet").stderr == ""


# --- --output --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_output_per_sample_losses(reg, suffix):
    d, y, p, w = reg
    out = d / f"losses{suffix}"
    run(
        "eval",
        "mse",
        "mae",
        *pair(d),
        "--sample-weight",
        d / "w.npy",
        "--output",
        out,
    )
    want_mse, want_mae = (y - p) ** 2 * w, np.abs(y - p) * w
    if suffix == ".npy":
        got = np.load(out)
        np.testing.assert_allclose(got, np.column_stack([want_mse, want_mae]), rtol=1e-15)
    elif suffix == ".csv":
        rows = list(csv.reader(out.open()))
        assert rows[0] == ["index", "mse", "mae"]
        np.testing.assert_allclose([float(r[1]) for r in rows[1:]], want_mse, rtol=1e-15)
    else:
        table = pq.read_table(out)
        assert table.column_names == ["index", "mse", "mae"]  # as in the CSV
        assert table["index"].to_pylist() == list(range(len(want_mse)))
        np.testing.assert_allclose(table["mae"].to_numpy(), want_mae, rtol=1e-15)
    assert sorted(f.name for f in d.iterdir() if f.name.startswith(".")) == []  # no temporary left


def test_output_never_clobbers_or_overwrites_inputs(reg):
    d, *_ = reg
    files = pair(d)
    (d / "out.npy").write_bytes(b"precious")
    r = run("eval", "mse", *files, "--output", d / "out.npy", code=2)
    assert (
        r.stderr == f"Error: --output {d / 'out.npy'} already exists; pass --force to replace it\n"
    )
    assert (d / "out.npy").read_bytes() == b"precious"
    run("eval", "mse", *files, "--output", d / "out.npy", "--force")
    assert np.load(d / "out.npy").shape == (12,)
    before = (d / "p.npy").read_bytes()
    r = run("eval", "mse", *files, "--output", d / "p.npy", "--force", code=2)
    assert (
        r.stderr
        == f"Error: --output {d / 'p.npy'} is one of the inputs; losscli never overwrites inputs\n"
    )
    assert (d / "p.npy").read_bytes() == before


def test_output_failure_leaves_no_file(reg):
    d, *_ = reg
    np.save(d / "bad.npy", np.array([np.nan] * 12))
    run(
        "eval",
        "mse",
        "--y-true",
        d / "y.npy",
        "--y-pred",
        d / "bad.npy",
        "--output",
        d / "o.csv",
        code=2,
    )
    assert not (d / "o.csv").exists()
    assert [f for f in d.iterdir() if f.name.startswith(".o.csv")] == []


# --- list and describe -------------------------------------------------------------------------


def test_list_json_has_every_loss_with_identifiers_and_defaults():
    doc = json.loads(run("list", "--format", "json").stdout)
    assert [entry["name"] for entry in doc] == list(losses.LOSSES)
    huber = next(e for e in doc if e["name"] == "huber")
    assert huber == {
        "name": "huber",
        "class_name": "Huber",
        "identifiers": ["huber", "Huber", "huber_loss"],
        "parameters": {"delta": 1.0},
        "description": "Huber loss: quadratic for errors up to delta, linear beyond.",
    }
    table = run("list").stdout
    assert (
        "categorical_generalized_cross_entropy" in table and "kullback_leibler_divergence" in table
    )


def test_describe_shows_formula_parameters_shapes_and_example():
    out = run("describe", "huber_loss").stdout
    assert out.startswith(
        "huber (Huber)\n\nHuber loss: quadratic for errors up to delta, linear beyond.\n"
    )
    assert "Parameters:\n  delta = 1.0    (float)\n" in out
    assert "Inputs:\n  y_true, y_pred: (N, d)" in out
    assert 'losscli eval "huber(delta=1.0)" --data sample_data/regression.csv' in out


@pytest.mark.parametrize(
    "name", sorted(__import__("losscli.losses.classes", fromlist=["LOSSES"]).LOSSES)
)
def test_every_describe_example_runs_on_the_sample_data(name, monkeypatch):
    import shlex

    from losscli.cli.render_catalogue import example_command

    monkeypatch.chdir(ROOT)
    args = shlex.split(example_command(name))[1:]
    result = run(*args, "--format", "value")
    assert np.isfinite(float(result.stdout))
    weighted = "--weight-col" in args  # the default reduction's note, nothing else
    note = "Note: with weights, the default reduction is Keras' sum(w * loss) / N; for the "
    assert (
        result.stderr == (note + "weighted mean: --reduction mean_with_sample_weight\n") * weighted
    )


# --- meta ----------------------------------------------------------------------------------


def test_every_command_and_option_has_help():
    for name, command in cli.commands.items():
        assert command.help, name
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{name} {param.name}"
        run(name, "--help")


def test_version():
    assert run("--version").stdout == f"losscli {__version__}\n"


def test_bare_losscli_prints_the_help_and_exits_0():
    """As ``git`` and ``pip`` do: the formatted help on stdout, not an ``Error:`` line."""

    def losscli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "losscli", *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    done = losscli()
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(
        "Usage: losscli [OPTIONS] COMMAND [ARGS]...\n\n"
        "  Keras-exact loss values from prediction files.\n\n"
        "  losscli eval mse --y-true labels.npy --y-pred preds.npy\n"
    )
    assert done.stdout == losscli("--help").stdout
    assert "\nCommands:\n" in done.stdout


def test_help_and_version_import_neither_numpy_pandas_nor_pyarrow():
    code = (
        "import sys\n"
        "sys.argv = ['losscli', '--help']\n"
        "from losscli.cli.commands import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'pandas', 'pyarrow', 'rich') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
    )
    for flag in ("--help", "--version"):
        out = subprocess.run(
            [sys.executable, "-c", code.replace("--help", flag)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stderr.strip() == "[]", flag


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "losscli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout == f"losscli {__version__}\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_only_for_long_work(monkeypatch):
    from losscli.cli.terminal import progress_bar

    times = iter([0.0, 0.1, 2.0])
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar(quiet=False, clock=lambda: next(times)) as update:
        update(100, 1000)  # 0.1 s in: no bar yet
        assert terminal.getvalue() == ""
        update(500, 1000)  # 2 s in: the bar starts
        update(1000, 1000)
    shown = terminal.getvalue()
    assert "evaluating" in shown and "1,000/1,000 rows" in shown and "100%" in shown
    assert "ETA" in shown
    with progress_bar(quiet=True) as update:
        assert update is None
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    with progress_bar(quiet=False) as update:
        assert update is None


def test_progress_bar_of_an_unknown_size_counts_rows(monkeypatch):
    from losscli.cli.terminal import progress_bar

    times = iter([0.0, 2.0])
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar(quiet=False, clock=lambda: next(times)) as update:
        update(12345, None)
    shown = terminal.getvalue()
    assert "12,345 rows" in shown and "elapsed" in shown and "%" not in shown
