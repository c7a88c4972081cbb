"""Regressions from an adversarial probe: no gate passes on data that was not what it seemed,
no hang, no allocation by claim, and real messages instead of internal errors.

Expected values come from numpy on the whole input, never from losscli.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli as invoke
from numpy.lib import format as npformat


def on_table(loss: str, data: str, true_col: str, pred_col: str, *extra: str, code: int):
    """``eval LOSS --data DATA --true-col T --pred-col P EXTRA...``"""
    args = ("eval", loss, "--data", data, "--true-col", true_col, "--pred-col", pred_col)
    return invoke(*args, *extra, code=code)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_unterminated_quote_is_an_error_not_a_pass(here):
    lines = ["y,p", '0,"0'] + ["0,100"] * 1000 + ["0,0"] * 30000
    Path("q.csv").write_text("\n".join(lines) + "\n")
    result = invoke(
        "eval", "mse", "--data", "q.csv", "--true-col", "y", "--pred-col", "p", "--max", "1", code=2
    )
    assert result.stderr == (
        "Error: q.csv: row 0 (line 2) opens a quote that does not close on that line; a quoted "
        "field spanning lines or a stray quote would swallow rows\n"
    )


def test_quoted_numbers_that_close_are_read(here):
    Path("ok.csv").write_text('y,p\n"1","2"\n"3","5"\n')
    result = on_table("mse", "ok.csv", "y", "p", "-f", "value", code=0)
    assert float(result.stdout) == (1 + 4) / 2


def test_empty_vectors_are_an_error(here):
    pq.write_table(
        pa.table(
            {"y": [[]] * 10, "p": [[]] * 10},
            schema=pa.schema([("y", pa.list_(pa.float64())), ("p", pa.list_(pa.float64()))]),
        ),
        "e.parquet",
    )
    result = on_table("categorical_crossentropy", "e.parquet", "y", "p", "--max", "0.1", code=2)
    assert result.stderr == (
        "Error: e.parquet: list column 'y' holds empty vectors; a loss needs at least one value "
        "per sample\n"
    )
    np.savez("e.npz", a=np.zeros((10, 0)))
    np.save("e.npy", np.zeros((10, 0)))
    for path in ("e.npz", "e.npy"):
        result = invoke("eval", "kld", "--y-true", path, "--y-pred", path, code=2)
        assert result.stderr == (
            f"Error: {path}: each sample holds no values (shape (10, 0)); a loss needs at least "
            "one value per sample\n"
        )


@pytest.mark.parametrize(
    "args",
    [
        ("sparse_categorical_crossentropy(ignore_class=1)", "--y-true", "ones.npy"),
        ("sparse_categorical_crossentropy", "--y-true", "zeros.npy", "--sample-weight", "0"),
    ],
)
def test_nothing_left_to_average_never_passes(here, args):
    np.save("ones.npy", np.ones(4))
    np.save("zeros.npy", np.zeros(4))
    np.save("probs.npy", np.full((4, 3), 1 / 3))
    result = invoke(
        "eval", args[0], *args[1:], "--y-pred", "probs.npy", "--max", "1", "-f", "value", code=1
    )
    assert result.stdout == "0.0\n"  # Keras' divide-no-nan value, kept
    assert (
        f"Warning: {args[0]}: no sample contributed (every weight is 0 or every label is masked)"
        in result.stderr
    )
    assert (
        "FAIL: " + args[0] + ": max 1: no sample contributed (every weight is 0 or every label "
        "is masked), which never passes a gate\n"
    ) in result.stderr


def test_ragged_list_rows_across_batches(here):
    rows = [[0.5, 0.5]] * 131_072 + [[0.2, 0.3, 0.5]] * 5_000
    table = pa.table({"y": rows, "p": rows})
    pq.write_table(table, "r.parquet", row_group_size=131_072)
    result = invoke(
        "eval", "mse", "--data", "r.parquet", "--true-col", "y", "--pred-col", "p", code=2
    )
    assert result.stderr == (
        "Error: r.parquet: list column 'y' holds vectors of different lengths (row 131072 has 3, "
        "earlier rows 2); every row needs the same length\n"
    )


def test_an_axis_over_samples_uses_the_whole_input(here):
    rng = np.random.default_rng(3)
    y = rng.choice([0.0, 1.0], (50_000, 3))
    p = rng.uniform(0.01, 0.99, (50_000, 3))
    np.save("y.npy", y)
    np.save("p.npy", p)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=0).mean()
    got = float(
        invoke(
            "eval", "bce(axis=0)", "--y-true", "y.npy", "--y-pred", "p.npy", "-f", "value", code=0
        ).stdout
    )
    assert got == pytest.approx(bce, rel=1e-6)
    yn = y / np.linalg.norm(y, axis=0)
    pn = p / np.linalg.norm(p, axis=0)
    cos = -(yn * pn).sum(axis=0).mean()
    got = float(
        invoke(
            "eval",
            "cosine_similarity(axis=0)",
            "--y-true",
            "y.npy",
            "--y-pred",
            "p.npy",
            "-f",
            "value",
            code=0,
        ).stdout
    )
    assert got == pytest.approx(cos, rel=1e-9)


def test_claimed_sizes_never_wrap(here):
    with open("wrap.npy", "wb") as fp:
        npformat.write_array_header_1_0(
            fp, {"descr": "<f8", "fortran_order": False, "shape": (2**46, 2**17)}
        )
        fp.write(b"\0" * 800)
    result = invoke("eval", "mse", "--y-true", "wrap.npy", "--y-pred", "wrap.npy", code=2)
    assert result.stderr.startswith(
        "Error: wrap.npy: the header claims an array of shape (70368744177664, 131072) "
        "(73786976294838206464 bytes) but the file holds 800 bytes of data"
    )


def test_npz_member_bigger_than_its_claim_is_an_error(here):
    member = io.BytesIO()
    np.save(member, np.arange(4.0))
    raw = member.getvalue() + np.arange(1000.0).tobytes()  # more data than the header says
    with zipfile.ZipFile("more.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.npy", raw)
    np.save("p4.npy", np.zeros(4))
    result = invoke("eval", "mse", "--y-true", "more.npz", "--y-pred", "p4.npy", code=2)
    assert result.stderr == "Error: more.npz: holds more data than its header's shape (4,) says\n"


def test_many_parquet_files_with_few_descriptors(here):
    import subprocess
    import sys

    Path("d").mkdir()
    for i in range(300):
        pq.write_table(pa.table({"y": [float(i)], "p": [float(i) + 1]}), f"d/part-{i:04}.parquet")
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))\n"
        "from losscli.cli.commands import main\n"
        "sys.argv = ['losscli', 'eval', 'mse', '--data', 'd', '--true-col', 'y', '--pred-col',"
        " 'p', '-f', 'value']\n"
        "main()\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) == 1.0


def test_spark_directories_skip_hidden_and_marker_files(here):
    Path("out").mkdir()
    pq.write_table(pa.table({"y": [1.0, 2.0], "p": [1.0, 4.0]}), "out/part-0.parquet")
    Path("out/_SUCCESS").write_text("")
    Path("out/.part-0.parquet.crc").write_bytes(b"junk")
    result = invoke(
        "eval", "mse", "--data", "out", "--true-col", "y", "--pred-col", "p", "-f", "value", code=0
    )
    assert float(result.stdout) == 2.0


def test_uint64_columns_are_values(here):
    pq.write_table(
        pa.table({"y": pa.array([1, 2], pa.uint64()), "p": pa.array([1, 4], pa.uint64())}),
        "u.parquet",
    )
    result = on_table("mse", "u.parquet", "y", "p", "-f", "value", code=0)
    assert float(result.stdout) == 2.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("mse(axis=99)",), None),
        (
            ("bce(axis=2)",),
            "BinaryCrossentropy: axis=2 is out of range for inputs of rank 2 (axes -2 to 1)",
        ),
        (
            ("cosine_similarity(axis=99)",),
            "CosineSimilarity: axis=99 is out of range for inputs of rank 2 (axes -2 to 1)",
        ),
        (("dice(axis=(1, 1))",), "Dice: axis=(1, 1) repeats an axis"),
        (("huber(delta=-1)",), "Huber: delta=-1 is out of range; delta must be in (0, inf)"),
        (("huber(delta=nan)",), "Huber: delta=nan is not a finite number"),
        (("huber(delta=inf)",), "Huber: delta=inf is not a finite number"),
        (
            ("bce(label_smoothing=1.5)",),
            "BinaryCrossentropy: label_smoothing=1.5 is out of range; label_smoothing must be in [0, 1]",
        ),
        (
            ("binary_focal_crossentropy(gamma=-2)",),
            "BinaryFocalCrossentropy: gamma=-2 is out of range; gamma must be in [0, inf)",
        ),
        (
            ("categorical_focal_crossentropy(alpha=[0.25, 1.5])",),
            "CategoricalFocalCrossentropy: alpha=[0.25, 1.5] is out of range; alpha must be in [0, 1]",
        ),
        (("huber(delta='\\x')",), None),
        (("huber(delta=" + "9" * 5000 + ")",), None),
        (("huber(delta=" + "[" * 1000 + ")",), None),
    ],
)
def test_impossible_specs_are_one_error_line(here, args, message):
    np.save("y.npy", np.zeros((4, 3)))
    np.save("p.npy", np.full((4, 3), 0.5))
    result = invoke("eval", *args, "--y-true", "y.npy", "--y-pred", "p.npy", "-f", "json", code=2)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    if message is not None:
        assert result.stderr == f"Error: {message}\n"


def test_deep_nesting_in_a_param_option(here):
    np.save("y.npy", np.zeros(4))
    result = invoke(
        "eval",
        "huber",
        "-p",
        "delta=" + "(" * 1000,
        "--y-true",
        "y.npy",
        "--y-pred",
        "y.npy",
        code=2,
    )
    assert "nested more than 32 deep" in result.stderr


def test_cr_only_line_endings_and_fifos(here):
    Path("cr.csv").write_bytes(b"t,p\r1,2\r3,5\r")
    result = on_table("mse", "cr.csv", "t", "p", "-f", "value", code=0)
    assert float(result.stdout) == 2.5
    os.mkfifo("f.csv")
    import threading

    def feed() -> None:
        with open("f.csv", "wb") as fp:
            fp.write(b"t,p\n1,2\n3,5\n")

    writer = threading.Thread(target=feed)
    writer.start()
    result = on_table("mse", "f.csv", "t", "p", "-f", "value", code=0)
    writer.join()
    assert float(result.stdout) == 2.5


def test_a_line_without_end_is_an_error_and_memory_stays_bounded(here, monkeypatch):
    monkeypatch.setattr("losscli.io.readers.delimited.MAX_LINE_BYTES", 1 << 20)
    monkeypatch.setattr("losscli.io.readers.delimited.CSV_BLOCK_BYTES", 256 << 10)
    with open("long.csv", "wb") as fp:
        fp.write(b"t,p\n")
        fp.write(b"1" * (3 << 20))
    result = invoke(
        "eval", "mse", "--data", "long.csv", "--true-col", "t", "--pred-col", "p", code=2
    )
    assert result.stderr == (
        "Error: long.csv: line 2 is longer than 1 MiB without a line break; is it really CSV?\n"
    )


def test_a_field_longer_than_pyarrows_parse_pieces_is_read(here):
    # pyarrow parses in 1 MiB pieces and refuses a field that straddles two.
    long_five = "0" * (2 << 20) + "5"
    Path("long.csv").write_text(f"t,p\n{long_five},5\n1,3\n")
    result = on_table("mse", "long.csv", "t", "p", "-f", "value", code=0)
    assert float(result.stdout) == (0 + 4) / 2


def test_wide_header_over_64_kib(here):
    names = [f"class_{i:05}" for i in range(8000)]
    rows = np.eye(8000)[:3]
    text = ",".join(names) + "\n" + "\n".join(",".join(f"{v:g}" for v in r) for r in rows) + "\n"
    Path("wide.csv").write_text(text)
    result = invoke(
        "eval",
        "categorical_crossentropy",
        "--y-true",
        "wide.csv",
        "--y-pred",
        "wide.csv",
        "-q",
        "-f",
        "value",
        code=0,
    )
    assert float(result.stdout) == pytest.approx(0.0, abs=1e-6)


def test_footer_rows_disagreeing_with_row_groups(here):
    pq.write_table(pa.table({"y": [1.0, 2.0, 3.0]}), "ok.parquet")
    data = bytearray(Path("ok.parquet").read_bytes())
    # The footer's num_rows is a Thrift i64 (field 3): header byte 0x16, then the zigzag varint
    # of 3 (0x06). 0x64 is the one-byte varint of 50.
    footer_len = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - footer_len : -8]
    index = footer.find(bytes([0x16, 0x06]))
    assert index >= 0
    footer[index + 1] = 0x64
    Path("bad.parquet").write_bytes(bytes(data[: -8 - footer_len]) + footer + data[-8:])
    assert pq.read_metadata("bad.parquet").num_rows == 50  # the forgery took
    result = invoke("eval", "mse", "--y-true", "bad.parquet", "--y-pred", "bad.parquet", code=2)
    assert result.stderr == (
        "Error: bad.parquet: the footer says 50 rows but its row groups hold 3: the file is "
        "damaged\n"
    )


@pytest.mark.parametrize("nest", [("[", "]"), ("{a=", "}")], ids=["arrays", "tables"])
def test_deep_nesting_in_a_check_file(here, nest):
    opening, closing = nest
    Path("deep.toml").write_text(
        f'[[checks]]\nloss = "mse"\nmax = {opening * 5000}1{closing * 5000}\n'
    )
    result = invoke("check", "deep.toml", code=2)
    assert result.stderr == "Error: deep.toml: arrays or tables nested too deep to read\n"


def test_a_value_python_reads_but_csv_does_not_names_its_row(here, monkeypatch):
    # Small blocks: the bad value sits several blocks in, and its row counts from the file's
    # first data row, not the block's.
    monkeypatch.setattr("losscli.io.readers.delimited.CSV_BLOCK_BYTES", 64)
    rows = ["t,p"] + [f"{i},{i}" for i in range(40)] + ["1,1_000"] + ["2,2"] * 5
    Path("u.csv").write_text("\n".join(rows) + "\n")
    result = on_table("mse", "u.csv", "t", "p", code=2)
    assert result.stderr == (
        "Error: u.csv: column 'p' is not numeric (row 40 has '1_000'); select numeric columns "
        "with --pred-col\n"
    )


def test_integers_beyond_2_53_warn(here):
    big = 2**53
    np.save("y.npy", np.array([big, big + 1, 7], dtype=np.int64))
    np.save("p.npy", np.array([big + 1, big, 7], dtype=np.int64))
    result = invoke("eval", "mse", "--y-true", "y.npy", "--y-pred", "p.npy", "-f", "value", code=0)
    # float64 rounds 2**53 + 1 to 2**53: both differences vanish.
    assert float(result.stdout) == float(np.mean((np.float64(big) - np.float64(big + 1)) ** 2))
    message = (
        "holds integers beyond 2**53 (up to 9007199254740993); float64 rounds them, so "
        "neighbouring values may become equal"
    )
    assert result.stderr == f"Warning: y.npy {message}\nWarning: p.npy {message}\n"
    pq.write_table(
        pa.table({"y": pa.array([big + 1, 1]), "p": pa.array([-(big + 1), 1], pa.int64())}),
        "i.parquet",
    )
    result = on_table("mae", "i.parquet", "y", "p", "-f", "value", code=0)
    assert result.stderr == (
        f"Warning: i.parquet: column 'y' {message}\nWarning: i.parquet: column 'p' {message}\n"
    )
    np.save("small.npy", np.array([big, -big], dtype=np.int64))
    result = invoke("eval", "mse", "--y-true", "small.npy", "--y-pred", "small.npy", code=0)
    assert "2**53" not in result.stderr
