"""Slice keys read from CSV are what the file says, typed as pyarrow infers the column: the
same slices, key types and order as the same table in Parquet. Only an empty field is null."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli as invoke

import losscli

TEXTS = ["N/A", "nan", "NaN", "null", "NULL"]  # and NA, the 100-row region


def _slices(path, *group_by, code=0, more=()):
    args = ["eval", "mse", "--data", path, "--true-col", "y", "--pred-col", "p"]
    for column in group_by:
        args += ["--group-by", column]
    result = invoke(*args, *more, "-f", "json", code=code)
    return [(r["slice"], r["value"], r["n_samples"]) for r in json.loads(result.stdout)["results"]]


def _both(tmp_path, table: pa.Table, csv_text: str):
    """The table as Parquet, and as the CSV text given (what a user's file says)."""
    pq.write_table(table, tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text(csv_text)
    return tmp_path / "t.csv", tmp_path / "t.parquet"


def test_only_an_empty_field_is_a_null_key(tmp_path):
    """100 rows of region ``NA`` (MSE 0) and 2 of a missing region (MSE 100), and a row of
    each text a reader might take for a null."""
    regions = ["NA"] * 100 + [None] * 2 + TEXTS
    y = np.zeros(len(regions))
    p = np.array([0.0] * 100 + [10.0] * 2 + [1.0] * len(TEXTS))
    table = pa.table({"y": y, "p": p, "region": pa.array(regions, pa.string())})
    lines = ["y,p,region"] + [
        f"{a},{b},{'' if r is None else r}" for a, b, r in zip(y, p, regions, strict=True)
    ]
    csv, parquet = _both(tmp_path, table, "\n".join(lines) + "\n")
    want = [
        ({"region": "N/A"}, 1.0, 1),
        ({"region": "NA"}, 0.0, 100),
        ({"region": "NULL"}, 1.0, 1),
        ({"region": "NaN"}, 1.0, 1),
        ({"region": "nan"}, 1.0, 1),
        ({"region": "null"}, 1.0, 1),
        ({"region": None}, 100.0, 2),
    ]
    for path in (csv, parquet):
        assert _slices(path, "region")[1:] == want
        found = _slices(path, "region", code=1, more=("--slice-max", "1"))
        assert found[-1] == ({"region": None}, 100.0, 2)


def test_csv_keys_are_typed_as_parquet_infers_them(tmp_path):
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "p": rng.normal(size=n),
            "day": rng.choice([1, 2, 10, -3], n),
            "rate": rng.choice([0.5, 1.5, 10.25], n),
            "flag": rng.choice([True, False], n),
            "region": rng.choice(["eu", "us", "10", "2"], n),  # text, digits or not
            "size": pd.array(rng.choice([3, 20, None], n), dtype="Int64"),  # with nulls
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet")
    for columns in (["day"], ["rate"], ["flag"], ["region"], ["size"], ["day", "region"]):
        csv = _slices(tmp_path / "t.csv", *columns)
        parquet = _slices(tmp_path / "t.parquet", *columns)
        assert [s for s, _, _ in csv] == [s for s, _, _ in parquet]
        assert [n for _, _, n in csv] == [n for _, _, n in parquet]
        np.testing.assert_allclose([v for _, v, _ in csv], [v for _, v, _ in parquet], rtol=1e-12)
        for (key, _, _), (other, _, _) in zip(csv[1:], parquet[1:], strict=True):
            assert [type(v) for v in key.values()] == [type(v) for v in other.values()]
    days = [s["day"] for s, _, _ in _slices(tmp_path / "t.csv", "day")[1:]]
    assert days == [-3, 1, 2, 10]  # numbers, in numeric order
    assert [s["region"] for s, _, _ in _slices(tmp_path / "t.csv", "region")[1:]] == [
        "10",
        "2",
        "eu",
        "us",
    ]
    sizes = [s["size"] for s, _, _ in _slices(tmp_path / "t.csv", "size")[1:]]
    assert sizes == [3, 20, None]
    result = invoke(
        "eval",
        "mse",
        "--data",
        tmp_path / "t.csv",
        "--true-col",
        "y",
        "--pred-col",
        "p",
        "--group-by",
        "day",
        "-f",
        "csv",
        code=0,
    )
    lines = result.stdout.splitlines()
    assert lines[0].split(",")[5] == "slice_day"
    assert [line.split(",")[5] for line in lines[1:]] == ["", "-3", "1", "2", "10"]


def test_texts_of_one_number_are_one_slice(tmp_path):
    """pyarrow reads ``1``, ``01`` and `` 1`` in an integer column as 1: one slice, whichever
    thread or block met each spelling."""
    text = "y,p,k\n" + "".join(
        f"0,{i % 3},{spelling}\n" for i, spelling in enumerate(["1", "01", " 1", "2"] * 50)
    )
    (tmp_path / "t.csv").write_text(text)
    found = _slices(tmp_path / "t.csv", "k")
    assert [(s, n) for s, _, n in found[1:]] == [({"k": 1}, 150), ({"k": 2}, 50)]
    squares = [(i % 3) ** 2 for i in range(200)]
    ones = [sq for i, sq in enumerate(squares) if i % 4 != 3]
    assert found[1][1] == pytest.approx(np.mean(ones), rel=1e-12)
    # The merged slice's interval and worst samples are those of its rows, as in Parquet.
    keys = [1 if i % 4 != 3 else 2 for i in range(200)]
    table = pa.table({"y": np.zeros(200), "p": [float(i % 3) for i in range(200)], "k": keys})
    pq.write_table(table, tmp_path / "t.parquet")
    options = {"group_by": "k", "ci": True, "worst": 3, "worst_per_slice": True}
    csv, parquet = (
        losscli.evaluate(
            "mse", data=tmp_path / name, true_col="y", pred_col="p", **options
        ).to_dict()["results"]
        for name in ("t.csv", "t.parquet")
    )
    assert csv == parquet
    assert [w["row"] for w in csv[1]["worst"]] == [2, 5, 8]


def test_csv_pieces_on_threads_give_the_same_typed_keys(tmp_path, monkeypatch):
    import losscli.engine.local as engine
    from losscli.io import readers

    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame(
        {"y": rng.normal(size=n), "p": rng.normal(size=n), "day": rng.integers(1, 12, n)}
    )
    frame.loc[n - 5 :, "day"] = 0
    frame.to_csv(tmp_path / "t.csv", index=False)
    monkeypatch.setattr(readers.delimited, "PIECE_BYTES", 4096)
    found = []
    for workers in (2, 1):
        monkeypatch.setattr(engine, "WORKERS", workers)
        document = losscli.evaluate(
            "mse", data=str(tmp_path / "t.csv"), true_col="y", pred_col="p", group_by="day"
        ).to_dict()
        found.append([(r["slice"], r["n_samples"]) for r in document["results"]])
    assert found[0] == found[1]
    assert [s["day"] for s, _ in found[0][1:]] == list(range(12))
