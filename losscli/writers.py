"""Writing per-sample losses (``--output``): atomic, never over an input, no clobbering."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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


class PerSampleWriter:
    """Per-sample losses written chunk by chunk to a temporary file, renamed on ``commit``.

    Use it as a context manager: leaving the block without ``commit`` (an
    error, Ctrl-C) removes the temporary file and leaves ``target`` as it was.
    ``.npy`` gets a header sized for any row count, rewritten at the end.
    """

    def __init__(self, target: Path, names: list[str]) -> None:
        self.target = target
        self.names = names
        self.suffix = target.suffix.lower()
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        self.tmp = Path(tmp_name)
        self.rows = 0
        self.row_shape: tuple[int, ...] | None = None
        self.dtype: np.dtype | None = None
        self._file: Any = None
        self._parquet: Any = None

    def __enter__(self) -> PerSampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self.tmp.exists():
            with contextlib.suppress(OSError):
                self.tmp.unlink()

    def write(self, arrays: list[np.ndarray]) -> None:
        # One column per loss (or per entry of a multi-dimensional loss); this also refuses
        # losses with one value for the whole input.
        columns = per_sample_columns(list(zip(self.names, arrays, strict=True)))
        if self.suffix == ".npy":
            # One loss keeps its per-sample shape; several are side by side.
            self._write_npy(
                arrays[0] if len(arrays) == 1 else np.column_stack([c for _, c in columns])
            )
        elif self.suffix == ".csv":
            self._write_csv(columns)
        else:
            self._write_parquet(columns)

    def _write_npy(self, block: np.ndarray) -> None:
        if self._file is None:
            self._file = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()
            self.row_shape, self.dtype = block.shape[1:], block.dtype
            self._file.write(_npy_header(0, self.row_shape, self.dtype))
        self._file.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += len(block)

    def _write_csv(self, columns: list[tuple[str, np.ndarray]]) -> None:
        if self._file is None:
            self._file = open(self.tmp, "w", newline="")  # noqa: SIM115 - closed in close()
            self._file.write(",".join(["index", *(_csv_field(n) for n, _ in columns)]) + "\n")
        n = len(columns[0][1])
        block = np.column_stack([np.arange(self.rows, self.rows + n)] + [c for _, c in columns])
        fmt = ["%d"] + ["%r"] * len(columns)
        lines = [",".join(f % v for f, v in zip(fmt, row, strict=True)) for row in block.tolist()]
        self._file.write("\n".join(lines) + "\n")
        self.rows += n

    def _write_parquet(self, columns: list[tuple[str, np.ndarray]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({name: values for name, values in columns})
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.tmp, table.schema)
        self._parquet.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self.suffix == ".npy" and self._file is not None:
            assert self.row_shape is not None and self.dtype is not None
            self._file.seek(0)
            self._file.write(_npy_header(self.rows, self.row_shape, self.dtype))
        self.close()
        if self.rows == 0 and self.suffix != ".npy":
            raise InputError(f"--output {self.target}: no per-sample losses to write")
        if self.rows == 0:
            np.save(self.tmp, np.zeros((0,)))
        os.replace(self.tmp, self.target)


_NPY_HEADER_BYTES = 128  # room for any shape: rewritten in place once the row count is known


def _npy_header(rows: int, row_shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    shape = (rows, *row_shape)
    text = repr(
        {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    )
    magic = b"\x93NUMPY\x01\x00"
    body = text.encode("latin1")
    pad = _NPY_HEADER_BYTES - len(magic) - 2 - len(body) - 1
    if pad < 0:
        raise InputError("per-sample losses with too many dimensions for a .npy header")
    header = body + b" " * pad + b"\n"
    return magic + len(header).to_bytes(2, "little") + header


def _csv_field(name: str) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([name])
    return out.getvalue()


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
