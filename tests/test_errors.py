"""Every bad input: exit code 2, one exact ``Error:`` line on stderr, nothing on stdout, no file changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from numpy.lib import format as npformat

from losscli.cli.commands import cli
from losscli.errors import InputError


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.save("y.npy", np.zeros(4))
    np.save("p.npy", np.ones(4))
    np.save("p5.npy", np.ones(5))
    np.save("w3.npy", np.ones(3))
    np.save("nan.npy", np.array([1.0, np.nan, 2.0, np.inf]))
    np.save("labels.npy", np.array([0, 1, 5, 2]))
    np.save("labels_half.npy", np.array([0, 1, 1.5, 2]))
    np.save("probs.npy", np.full((4, 3), 1 / 3))
    np.save("obj.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    np.savez("objects.npz", a=np.array([{"x": 1}], dtype=object))
    np.savez("two.npz", a=np.zeros(4), b=np.ones(4))
    Path("trunc.npy").write_bytes(Path("p.npy").read_bytes()[:-8])
    with open("huge.npy", "wb") as fp:
        npformat.write_array_header_1_0(
            fp, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
        )
        fp.write(b"\0" * 16)
    Path("rand.npy").write_bytes(rng.bytes(200))
    Path("rand.npz").write_bytes(rng.bytes(200))
    Path("rand.parquet").write_bytes(rng.bytes(200))
    pq.write_table(pa.table({"a": [1.0, 2.0]}), "ok.parquet")
    Path("trunc.parquet").write_bytes(Path("ok.parquet").read_bytes()[:-30])
    Path("empty.csv").write_text("")
    Path("header.csv").write_text("a,b\n")
    Path("ragged.csv").write_text("a,b\n1,2\n3\n")
    Path("text.csv").write_text("a,b\n1,2\n3,x\n")
    Path("latin.csv").write_bytes(b"a,b\n1,2\n\xff\xfe,3\n")
    Path("x.xlsx").write_text("hi")
    Path("adir").mkdir()
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


YP = ("--y-true", "y.npy", "--y-pred", "p.npy")
CASES = [
    (("eval", "mse", "--y-true", "missing.npy", "--y-pred", "p.npy"), "missing.npy: no such file"),
    (
        ("eval", "mse", "--y-true", "adir", "--y-pred", "p.npy"),
        "adir: a directory without Parquet files",
    ),
    (
        ("eval", "mse", "--y-true", "y.npy", "--y-pred", "adir", "--input-format", "npy"),
        "adir: is a directory, not a file",
    ),
    (("eval", "mse", "--y-true", "empty.csv", "--y-pred", "p.npy"), "empty.csv: the file is empty"),
    (
        ("eval", "mse", "--y-true", "header.csv", "--y-pred", "p.npy"),
        "header.csv: no data rows (only a header)",
    ),
    (
        ("eval", "mse", "--y-true", "ragged.csv", "--y-pred", "p.npy"),
        "ragged.csv: CSV parse error: Expected 2 columns, got 1: 3",
    ),
    (
        ("eval", "mse", "--y-true", "text.csv", "--y-pred", "p.npy"),
        "text.csv: column 'b' is not numeric (row 1 has 'x'); select numeric columns with --true-col",
    ),
    (
        ("eval", "mse", "--y-true", "latin.csv", "--y-pred", "p.npy"),
        "latin.csv: column 'a' is not numeric (row 1 has b'\\xff\\xfe'); select numeric columns "
        "with --true-col",
    ),
    (
        ("eval", "mse", "--y-true", "trunc.npy", "--y-pred", "p.npy"),
        "trunc.npy: the header claims an array of shape (4,) (32 bytes) but the file holds 24 bytes of data: is it truncated?",
    ),
    (
        ("eval", "mse", "--y-true", "huge.npy", "--y-pred", "p.npy"),
        "huge.npy: the header claims an array of shape (1000000000000,) (8000000000000 bytes) but the file holds 16 bytes of data: is it truncated?",
    ),
    (
        ("eval", "mse", "--y-true", "rand.npz", "--y-pred", "p.npy"),
        "rand.npz: not a valid .npz file (not a zip archive)",
    ),
    (
        ("eval", "mse", "--y-true", "obj.npy", "--y-pred", "p.npy"),
        "obj.npy: holds Python objects, which would need unpickling; losscli refuses to unpickle data files: save a numeric array",
    ),
    (
        ("eval", "mse", "--y-true", "objects.npz", "--y-pred", "p.npy"),
        "objects.npz: holds Python objects, which would need unpickling; losscli refuses to unpickle data files: save a numeric array",
    ),
    (
        ("eval", "mse", "--y-true", "x.xlsx", "--y-pred", "p.npy"),
        "x.xlsx: cannot tell the format from the suffix; use .csv, .tsv, .npy, .npz, .parquet (or a directory of Parquet files), or set --input-format",
    ),
    (
        ("eval", "mse", "--y-true", "two.npz", "--y-pred", "p.npy"),
        "two.npz holds 2 arrays (a, b); name one as two.npz:KEY",
    ),
    (
        ("eval", "mse", "--y-true", "two.npz:c", "--y-pred", "p.npy"),
        "two.npz has no array 'c'; it holds a, b",
    ),
    (
        ("eval", "mse", "--y-true", "y.npy", "--y-pred", "p5.npy"),
        "y_true has 4 rows (y.npy) but y_pred has 5 (p5.npy); every sample needs a label and a prediction",
    ),
    (
        ("eval", "mse", *YP, "--sample-weight", "w3.npy"),
        "the sample weights have 3 rows (w3.npy) but there are 4 samples; give one weight per sample or a number",
    ),
    (
        ("eval", "mse", *YP, "--sample-weight", "abc"),
        "--sample-weight 'abc' is neither a number nor an existing file",
    ),
    (
        ("eval", "mse", *YP, "--sample-weight", "nan"),
        "the sample weight nan is not a finite number",
    ),
    (
        ("eval", "msee", *YP),
        "unknown loss 'msee'; did you mean mse, msle? (`losscli list` shows them all)",
    ),
    (
        ("eval", "huber(delta=x)", *YP),
        "cannot parse loss 'huber(delta=x)': 'x' is not a value (quote strings; use true/false/null) at position 13",
    ),
    (
        ("eval", "huber(delta='x')", *YP),
        "Huber: delta='x' is not a number; its parameters are delta=1.0",
    ),
    (
        ("eval", "huber(alpha=1)", *YP),
        "Huber has no parameter 'alpha'; its parameters are delta=1.0",
    ),
    (
        ("eval", "huber(delta=1", *YP),
        "unbalanced parentheses in loss 'huber(delta=1'; write NAME(key=value, ...)",
    ),
    (
        ("eval", "mse", *YP, "--reduction", "avg"),
        "Invalid value for '--reduction': 'avg' is not one of 'sum_over_batch_size', 'mean', 'sum', "
        "'mean_with_sample_weight', 'none'. (see 'losscli eval --help')",
    ),
    (
        ("eval", "mse", *YP, "--from-logits"),
        "no chosen loss (mse) takes the parameter 'from_logits'",
    ),
    (("eval", "mse", *YP, "-p", "delta"), "-p/--param needs KEY=VALUE, got 'delta'"),
    (
        ("eval", "mse", "--data", "text.csv", "--true-col", "a", "--pred-col", "zz"),
        "text.csv: no column matches --pred-col 'zz'; the columns are a, b",
    ),
    (
        ("eval", "mse", "--data", "text.csv"),
        "--data needs --true-col and --pred-col to say which columns to use",
    ),
    (
        ("eval", "mse", "--y-true", "y.npy"),
        "missing --y-pred; give --y-true and --y-pred, or --data",
    ),
    (("eval",), "Missing argument 'LOSS...'. (see 'losscli eval --help')"),
    (
        ("eval", "mse", "--y-true", "y.npy", "--y-pred", "nan.npy"),
        "y_pred (nan.npy) has 2 non-finite values (NaN or inf), the first in row 1; fix the data, "
        "or set --nan-policy to omit (drop those rows) or propagate (keep them)",
    ),
    (
        (
            "eval",
            "sparse_categorical_crossentropy",
            "--y-true",
            "labels.npy",
            "--y-pred",
            "probs.npy",
        ),
        "class label 5 at row 2 is out of range: y_pred has 3 classes, so labels must be 0..2",
    ),
    (
        (
            "eval",
            "sparse_categorical_crossentropy",
            "--y-true",
            "labels_half.npy",
            "--y-pred",
            "probs.npy",
        ),
        "class labels must be whole numbers; row 2 has 1.5",
    ),
    (
        ("eval", "mse", *YP, "--output", "out.txt"),
        "--output out.txt: unknown suffix; use .npy, .csv, .parquet",
    ),
    (
        ("eval", "mse", *YP, "--output", "y.npy", "--force"),
        "--output y.npy is one of the inputs; losscli never overwrites inputs",
    ),
    (("describe", "nope"), "unknown loss 'nope' (`losscli list` shows them all)"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_error_line_and_exit_2(files, args, message):
    before = snapshot(files)
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
    assert snapshot(files) == before


@pytest.mark.parametrize(
    ("path", "start"),
    [
        ("rand.npy", "rand.npy: not a valid .npy file (the magic string is not correct"),
        ("rand.parquet", "rand.parquet: not a readable Parquet file ("),
        ("trunc.parquet", "trunc.parquet: not a readable Parquet file ("),
    ],
)
def test_random_bytes_are_refused(files, path, start):
    result = CliRunner().invoke(cli, ["eval", "mse", "--y-true", path, "--y-pred", "p.npy"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {start}")
    assert result.stderr.count("\n") == 1


def test_empty_stdin(files):
    result = CliRunner().invoke(
        cli, ["eval", "mse", "--y-true", "-", "--y-pred", "p.npy"], input=""
    )
    assert result.exit_code == 2
    assert (
        result.stderr
        == "Error: standard input is empty; pipe a CSV file into losscli or give a path\n"
    )


def test_debug_shows_the_traceback(files):
    result = CliRunner(env={"LOSSCLI_DEBUG": "1"}).invoke(cli, ["eval", "msee", *YP])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().endswith(
        "Error: unknown loss 'msee'; did you mean mse, msle? (`losscli list` shows them all)"
    )


def test_nan_policy_omit_and_propagate(files):
    args = ["eval", "mse", "--y-true", "y.npy", "--y-pred", "nan.npy", "-f", "value"]
    omit = CliRunner().invoke(cli, [*args, "--nan-policy", "omit"])
    assert omit.exit_code == 0
    assert float(omit.stdout) == (1.0 + 4.0) / 2
    assert omit.stderr == "Warning: --nan-policy omit dropped 2 row(s) with NaN or inf\n"
    prop = CliRunner().invoke(cli, [*args, "--nan-policy", "propagate"])
    assert prop.exit_code == 0
    assert prop.stdout == "nan\n"


def test_no_pickle_is_ever_loaded(files, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    for path in ("obj.npy", "objects.npz"):
        result = CliRunner().invoke(cli, ["eval", "mse", "--y-true", path, "--y-pred", "p.npy"])
        assert result.exit_code == 2
        assert result.stderr == (
            f"Error: {path}: holds Python objects, which would need unpickling; losscli "
            "refuses to unpickle data files: save a numeric array\n"
        )


def test_inputs_are_opened_read_only(files):
    os.chmod(files / "y.npy", 0o444)
    os.chmod(files / "p.npy", 0o444)
    result = CliRunner().invoke(cli, ["eval", "mse", *YP, "-f", "value"])
    assert result.exit_code == 0 and float(result.stdout) == 1.0


def test_warnings_for_likely_mistakes(files):
    np.save("probs_off.npy", np.array([[0.2, 0.7], [0.5, 0.5]]))
    np.save("onehot_off.npy", np.array([[1.0, 0.0], [1.0, 1.0]]))
    np.save("neg.npy", np.array([1.0, -2.0]))
    np.save("pos.npy", np.array([1.0, 2.0]))
    cases = [
        (
            ["categorical_crossentropy", "--y-true", "onehot_off.npy", "--y-pred", "probs_off.npy"],
            "Warning: categorical_crossentropy: y_pred rows are not probabilities (row 0 sums to 0.9); "
            "Keras rescales each row to sum to 1\n"
            "Warning: categorical_crossentropy: y_true rows are not one-hot or probabilities (row 1 sums to 2)\n",
        ),
        (
            ["poisson", "--y-true", "pos.npy", "--y-pred", "neg.npy"],
            "Warning: poisson: y_pred has negative values (min -2); poisson takes logarithms and expects values >= 0\n",
        ),
        (
            ["msle", "--y-true", "neg.npy", "--y-pred", "pos.npy"],
            "Warning: mean_squared_logarithmic_error: y_true has negative values (min -2); "
            "mean_squared_logarithmic_error takes logarithms and expects values >= 0\n",
        ),
    ]
    for args, warning in cases:
        result = CliRunner().invoke(cli, ["eval", *args, "-f", "value"])
        assert result.exit_code == 0
        assert result.stderr == warning
        float(result.stdout)


def test_npz_member_that_claims_more_than_it_holds(files):
    """Zip and .npy headers both claim 8 MB around 48 bytes of data: nothing that size is allocated."""
    import io
    import struct
    import zipfile

    member = io.BytesIO()
    npformat.write_array_header_1_0(
        member, {"descr": "<f8", "fortran_order": False, "shape": (10**6,)}
    )
    member.write(np.arange(6.0).tobytes())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("a.npy", member.getvalue())
    data = bytearray(archive.getvalue())
    claim = struct.pack("<I", 8_000_200)
    local = data.index(b"PK\x03\x04")
    data[local + 22 : local + 26] = claim  # uncompressed size in the local header
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = claim  # ... and in the central directory
    Path("bomb.npz").write_bytes(bytes(data))
    np.save("p_million.npy", np.zeros(10**6))
    result = CliRunner().invoke(
        cli, ["eval", "mse", "--y-true", "bomb.npz", "--y-pred", "p_million.npy"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: bomb.npz: ")
    assert result.stderr.count("\n") == 1


def test_circle_refuses_more_pairs_than_memory_holds():
    from losscli import losses

    n = 200_000  # 10 * n**2 * 8 bytes is 3 TB
    with pytest.raises(InputError, match=r"circle compares every pair of the 200000 samples"):
        losses.circle(np.zeros(n), np.zeros((n, 2)))
