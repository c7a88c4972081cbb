"""The readers' registry (every format a Reader with its facts, the command line's choices
from it), the Parquet dataset listing through pyarrow.dataset, and the .npy writer's header."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from losscli.cli.commands import cli
from losscli.errors import InputError
from losscli.io.readers import READERS, Reader, reader_for
from losscli.io.readers.parquet import DatasetFile, dataset_files
from losscli.io.writers import PerSampleWriter


def test_every_reader_states_its_facts_and_no_suffix_is_claimed_twice():
    claimed: dict[str, str] = {}
    for name, reader in READERS.items():
        assert issubclass(reader, Reader) and reader.name == name
        assert reader.title and isinstance(reader.table, bool) and reader.suffixes
        for suffix in reader.suffixes:
            assert suffix.startswith(".") and suffix == suffix.lower()
            assert suffix not in claimed, (suffix, claimed.get(suffix), name)
            claimed[suffix] = name
    assert [name for name, r in READERS.items() if r.directories] == ["parquet"]
    assert {name for name, r in READERS.items() if not r.table} == {"npy", "npz"}


def test_the_input_format_choices_are_the_readers():
    option = next(p for p in cli.commands["eval"].params if p.name == "input_format")
    assert list(option.type.choices) == list(READERS) == ["csv", "tsv", "npy", "npz", "parquet"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("a.txt", "csv"),
        ("a.tab", "tsv"),
        ("a.tsv.zst", "tsv"),
        ("a.npy", "npy"),
        ("a.npz:key", "npz"),
        ("a.pq", "parquet"),
        ("s3://b/a.parquet?version=2", "parquet"),
    ],
)
def test_a_reader_is_found_by_suffix(name, expected):
    assert reader_for(name).name == expected
    assert reader_for(name, "NPY").name == "npy"  # the format set wins over the suffix


def test_an_unknown_suffix_names_every_format(tmp_path):
    with pytest.raises(InputError) as caught:
        reader_for(str(tmp_path / "a.dat"), say=lambda key: f"<{key}>")
    assert str(caught.value) == (
        f"{tmp_path / 'a.dat'}: cannot tell the format from the suffix; use .csv, .tsv, .npy, "
        ".npz, .parquet (or a directory of Parquet files), or set <input_format>"
    )
    with pytest.raises(InputError, match="unknown input format 'feather'; choose one of csv, "):
        reader_for("a.csv", "feather")
    assert reader_for(str(tmp_path)).name == "parquet"  # a directory


def test_a_dataset_lists_its_files_in_name_order_with_partition_values_as_written(tmp_path):
    table = pa.table({"y": [1.0]})
    for relative in (
        "region=us/day=007/b.parquet",
        "region=eu/day=10/a.parquet",
        "region=eu/c.parquet",
        "region=eu/_SUCCESS",
        "region=eu/.c.parquet.crc",
        "_temporary/x.parquet",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp_path / relative)
    assert dataset_files(str(tmp_path)) == [
        DatasetFile(f"{tmp_path}/region=eu/c.parquet", {"region": "eu"}),
        DatasetFile(f"{tmp_path}/region=eu/day=10/a.parquet", {"region": "eu", "day": "10"}),
        DatasetFile(f"{tmp_path}/region=us/day=007/b.parquet", {"region": "us", "day": "007"}),
    ]
    assert dataset_files(f"{tmp_path}/region=eu/*.parquet") == [
        DatasetFile(f"{tmp_path}/region=eu/c.parquet", {})
    ]
    with pytest.raises(InputError, match=r"\*\.csv: no file matches the pattern$"):
        dataset_files(f"{tmp_path}/region=eu/*.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: a directory without Parquet files$"):
        dataset_files(str(tmp_path / "empty"))


@pytest.mark.parametrize("rows", [1, 3, 1000])
def test_the_npy_output_header_is_rewritten_in_place_by_numpy(tmp_path, rows):
    target = tmp_path / "per_sample.npy"
    values = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2)
    with PerSampleWriter(target, ["mse"]) as writer:
        for start in range(0, rows, 7):
            writer.write([values[start : start + 7]])
        writer.commit()
    with open(target, "rb") as file:
        assert np.lib.format.read_magic(file) == (1, 0)
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
        assert (shape, fortran, dtype) == ((rows, 2), False, np.dtype("float64"))
        assert file.tell() % 64 == 0  # numpy's alignment
    np.testing.assert_array_equal(np.load(target), values)
