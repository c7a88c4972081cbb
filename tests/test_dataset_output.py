"""``--output DIR/``: per-sample losses as a Parquet dataset, one file per input file, each
written whole. Expected values come from numpy on the same rows."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli as invoke

SIZES = (700, 1, 1303)


@pytest.fixture
def hive(tmp_path):
    """Three files in hive partitions, and the rows of each as numpy arrays."""
    rng = np.random.default_rng(5)
    files = {}
    for i, n in enumerate(SIZES):
        relative = f"day=2026-11-0{i + 1}/part-0.parquet"
        columns = {"y": rng.normal(size=n), "p": rng.normal(size=n), "w": rng.uniform(0, 2, n)}
        target = tmp_path / "preds" / relative
        target.parent.mkdir(parents=True)
        pq.write_table(pa.table(columns), target)
        files[str(target)] = columns
    return tmp_path / "preds", files


TABLE = ("--true-col", "y", "--pred-col", "p")


def test_one_part_per_input_file_with_its_rows(hive, tmp_path):
    root, files = hive
    out = tmp_path / "out"
    result = invoke(
        "eval", "mse", "mae", "--data", root, *TABLE, "--weight-col", "w",
        "--reduction", "none", "--output", f"{out}/", "-f", "json", code=0,
    )  # fmt: skip
    document = json.loads(result.stdout)
    assert document["output"] == {"path": f"{out}/", "files": 3, "rows": sum(SIZES)}
    assert [r["value"] for r in document["results"]] == [None, None]
    assert sorted(p.name for p in out.iterdir()) == [f"part-{k:05d}.parquet" for k in range(3)]
    for k, (source, columns) in enumerate(files.items()):
        part = pq.read_table(out / f"part-{k:05d}.parquet")
        assert part.column_names == ["index", "source", "mse", "mae"]
        n = len(columns["y"])
        np.testing.assert_array_equal(part["index"].to_numpy(), np.arange(n))
        assert set(part["source"].to_pylist()) == {source}
        diff = columns["y"] - columns["p"]
        np.testing.assert_allclose(part["mse"].to_numpy(), columns["w"] * diff**2, rtol=1e-15)
        np.testing.assert_allclose(part["mae"].to_numpy(), columns["w"] * abs(diff), rtol=1e-15)


def test_the_value_is_the_same_with_a_dataset_output(hive, tmp_path):
    root, files = hive
    args = ("eval", "huber", "hinge", "--data", root, *TABLE, "--weight-col", "w", "-f", "value")
    plain = [float(v) for v in invoke(*args, code=0).stdout.split()]
    parted = [float(v) for v in invoke(*args, "--output", f"{tmp_path}/o/", code=0).stdout.split()]
    assert parted == pytest.approx(plain, rel=1e-14)
    y, p, w = (np.concatenate([c[k] for c in files.values()]) for k in ("y", "p", "w"))
    error = np.abs(y - p)
    huber = np.where(error <= 1.0, 0.5 * error**2, error - 0.5)
    assert parted[0] == pytest.approx(float(np.sum(w * huber) / len(y)), rel=1e-13)


def test_inputs_that_are_not_a_dataset_make_one_part(tmp_path):
    y, p = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 4.0])
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    arrays = ("--y-true", tmp_path / "y.npy", "--y-pred", tmp_path / "p.npy")
    result = invoke("eval", "mse", *arrays, "--output", f"{tmp_path}/o/", "-f", "value", code=0)
    assert float(result.stdout) == pytest.approx(float(np.mean((y - p) ** 2)), rel=1e-15)
    part = pq.read_table(tmp_path / "o" / "part-00000.parquet")
    np.testing.assert_array_equal(part["mse"].to_numpy(), (y - p) ** 2)
    assert set(part["source"].to_pylist()) == {str(tmp_path / "p.npy")}


def test_nan_omit_keeps_the_input_row_numbers(tmp_path):
    y = np.array([0.0, np.nan, 2.0, 3.0])
    pq.write_table(pa.table({"y": y, "p": np.ones(4)}), tmp_path / "t.parquet")
    invoke(
        "eval", "mse", "--data", tmp_path / "t.parquet", *TABLE, "--nan-policy", "omit",
        "--reduction", "none", "--output", f"{tmp_path}/o/", "-q", code=0,
    )  # fmt: skip
    part = pq.read_table(tmp_path / "o" / "part-00000.parquet")
    assert part["index"].to_pylist() == [0, 2, 3]
    assert part["mse"].to_pylist() == [1.0, 1.0, 4.0]


def test_a_table_says_where_the_values_went(hive, tmp_path):
    root, _ = hive
    out = f"{tmp_path}/o/"
    args = ("eval", "mse", "--data", root, *TABLE, "--reduction", "none", "--output", out)
    table = invoke(*args, code=0).stdout
    assert "in --output" in table and "2,004" in table
    assert invoke(*args, "--force", "-f", "value", code=0).stdout == ""
    csv = invoke(*args, "--force", "-f", "csv", code=0).stdout
    assert csv == "loss,spec,reduction,value,n_samples\nmean_squared_error,mse,none,,2004\n"


def test_an_existing_dataset_needs_force_and_keeps_foreign_files(hive, tmp_path):
    root, _ = hive
    out = tmp_path / "o"
    out.mkdir()
    (out / "part-00007.parquet").write_text("an earlier run's part")
    (out / "notes.txt").write_text("not ours")
    args = ("eval", "mse", "--data", root, *TABLE, "--output", f"{out}/", "-f", "value")
    result = invoke(*args, code=2)
    assert result.stderr == (
        f"Error: --output {out}/ already holds files; pass --force to replace its part files\n"
    )
    assert (out / "part-00007.parquet").read_text() == "an earlier run's part"
    invoke(*args, "--force", code=0)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["notes.txt", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{root}/", "Error: --output {root}/ overlaps the input {root}; losscli never writes "
         "over or inside its inputs\n"),
        ("{root}/day=2026-11-01/", "Error: --output {root}/day=2026-11-01/ overlaps the input "
         "{root}; losscli never writes over or inside its inputs\n"),
        ("{tmp}/", "Error: --output {tmp}/ overlaps the input {root}; losscli never writes over "
         "or inside its inputs\n"),
        ("{tmp}/no/such/", "Error: --output {tmp}/no/such/: the directory {tmp}/no does not "
         "exist\n"),
        ("{tmp}/file.txt/", "Error: --output {tmp}/file.txt/ is a file; a dataset is a "
         "directory\n"),
    ],
    ids=["the-input", "inside-the-input", "holding-the-input", "no-parent", "a-file"],
)  # fmt: skip
def test_dataset_outputs_that_are_refused(hive, tmp_path, target, message):
    root, _ = hive
    (tmp_path / "file.txt").write_text("kept")
    target = target.format(root=root, tmp=tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = invoke("eval", "mse", "--data", root, *TABLE, "--output", target, code=2)
    assert result.stderr == message.format(root=root, tmp=tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_failed_run_leaves_the_earlier_dataset_as_it_was(hive, tmp_path):
    root, files = hive
    out = tmp_path / "o"
    args = ("--data", root, *TABLE, "--output", f"{out}/")
    invoke("eval", "mse", *args, code=0)
    (out / "notes.txt").write_text("not ours")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["notes.txt", *(f"part-{k:05d}.parquet" for k in range(3))]
    last = list(files)[-1]
    table = pq.read_table(last)
    pq.write_table(table.set_column(0, "y", pa.array([np.nan] * table.num_rows)), last)
    result = invoke("eval", "mae", *args, "--force", code=2)
    assert result.stderr.startswith(f"Error: {last}: y_true (")
    # Parts 0 and 1 of this run were written, but only staged: nothing of them remains.
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    parts = [pq.read_table(out / f"part-{k:05d}.parquet") for k in range(3)]
    assert [part.column_names[-1] for part in parts] == ["mse"] * 3


def test_a_failed_first_run_leaves_an_empty_directory(hive, tmp_path):
    root, files = hive
    last = list(files)[-1]
    table = pq.read_table(last)
    pq.write_table(table.set_column(0, "y", pa.array([np.nan] * table.num_rows)), last)
    out = tmp_path / "o"
    result = invoke("eval", "mse", "--data", root, *TABLE, "--output", f"{out}/", code=2)
    assert result.stderr.startswith(f"Error: {last}: y_true (")
    assert list(out.iterdir()) == []
