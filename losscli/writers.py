"""Writing per-sample losses (``--output``): atomic, never over an input, no clobbering."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from losscli.errors import InputError

OUTPUT_SUFFIXES = (".npy", ".csv", ".parquet")


def check_output_path(path: str, inputs: Iterable[str], force: bool) -> Path:
    """Refuse a path that is an input, that exists (without ``force``) or has no known suffix."""
    target = Path(path)
    if target.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"--output {path}: unknown suffix; use {', '.join(OUTPUT_SUFFIXES)}")
    check_report_path(path, inputs, "--output")
    if target.exists() and not force:
        raise InputError(f"--output {path} already exists; pass --force to replace it")
    return target


def check_report_path(path: str, inputs: Iterable[str], option: str) -> Path:
    """Refuse writing over an input, a directory, or into a missing directory."""
    target = Path(path)
    for source in inputs:
        if source == "-":
            continue
        source_path = Path(source.rpartition(":")[0] if ".npz:" in source else source)
        same = source_path.resolve() == target.resolve() or (
            source_path.exists() and target.exists() and source_path.samefile(target)
        )
        if same:
            raise InputError(
                f"{option} {path} is one of the inputs; losscli never overwrites inputs"
            )
    if target.is_dir():
        raise InputError(f"{option} {path} is a directory; give a file name")
    if not target.parent.exists():
        raise InputError(f"{option} {path}: the directory {target.parent} does not exist")
    return target


def write_columns(target: Path, columns: list[tuple[str, np.ndarray]]) -> None:
    """Write named per-sample columns to ``target`` (.npy, .csv or .parquet), atomically."""
    writers = {".npy": _write_npy, ".csv": _write_csv, ".parquet": _write_parquet}
    write = writers[target.suffix.lower()]
    atomic_write(target, lambda tmp: write(tmp, columns))


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` on a temporary file beside ``target``, then rename it into place.

    On any failure or interruption the temporary file is removed and ``target``
    is left as it was.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _write_npy(tmp: Path, columns: list[tuple[str, np.ndarray]]) -> None:
    array = columns[0][1] if len(columns) == 1 else np.column_stack([c for _, c in columns])
    with open(tmp, "wb") as fp:
        np.save(fp, array)


def _write_csv(tmp: Path, columns: list[tuple[str, np.ndarray]]) -> None:
    import csv

    with open(tmp, "w", newline="") as fp:
        writer = csv.writer(fp)
        writer.writerow(["index"] + [name for name, _ in columns])
        for i, row in enumerate(zip(*(c for _, c in columns), strict=True)):
            writer.writerow([i] + [repr(float(v)) for v in row])


def _write_parquet(tmp: Path, columns: list[tuple[str, np.ndarray]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({name: values for name, values in columns}), tmp)


def per_sample_columns(named: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """One 1-D column per loss, or per entry of a multi-dimensional per-sample loss."""
    columns: list[tuple[str, np.ndarray]] = []
    for name, values in named:
        values = np.asarray(values)
        if values.ndim == 0:
            raise InputError(
                f"{name} gives one value for the whole input, not one per sample "
                "(dice/tversky with axis=None); use axis=(1, ...) for per-sample values"
            )
        if values.ndim == 1:
            columns.append((name, values))
        else:
            flat = values.reshape(values.shape[0], -1)
            columns += [(f"{name}[{j}]", flat[:, j]) for j in range(flat.shape[1])]
    return columns
