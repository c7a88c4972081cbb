"""Writing per-sample losses (``--output``) and every other output file: atomic, never over a
file the run reads, no clobbering; files created ``0666 & ~umask``; a device, FIFO or symlink to
one written through, never renamed over."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from losscli.errors import InputError, setting

#: The setting an output path is given by, unless the caller names another.
OUTPUT = setting("output")

OUTPUT_SUFFIXES = (".npy", ".csv", ".parquet")


def check_output_path(
    path: str,
    inputs: Iterable[str],
    force: bool,
    option: str = OUTPUT,
    suffixes: tuple[str, ...] = OUTPUT_SUFFIXES,
) -> Path:
    """Refuse a path that is an input, that exists (without ``force``) or has none of the
    ``suffixes``: every output file of a run (``--output``, ``--plot``, ``--worst-output``)."""
    target = Path(path)
    if target.suffix.lower() not in suffixes:
        raise InputError(f"{option} {path}: unknown suffix; use {', '.join(suffixes)}")
    check_report_path(path, inputs, option)
    if target.exists() and not force and not written_through(target):
        raise exists_error(option, path)
    return target


def exists_error(option: str, path: object) -> InputError:
    """A file at an output's path, which only ``--force`` replaces."""
    return InputError(f"{option} {path} already exists; pass {setting('force')} to replace it")


def check_report_path(path: str, inputs: Iterable[str], option: str) -> Path:
    """Refuse writing over an input, a directory, or into a missing directory.

    ``inputs`` is the run's one list of inputs (``InputSpec.paths()``, the config file).
    """
    try:
        return _check_report_path(path, inputs, option)
    except InputError:
        raise
    except OSError as exc:  # a name too long, a symlink loop, ...
        raise InputError(f"{option} {path}: cannot write ({os_cause(exc)})") from None
    except ValueError as exc:  # a NUL byte in the name
        raise InputError(f"{option} {path!r}: cannot write ({exc})") from None


def _check_report_path(path: str, inputs: Iterable[str], option: str) -> Path:
    from losscli.io import storage

    if storage.is_uri(path):
        raise InputError(
            f"{option} {storage.public(path)}: a single file is not written to object "
            "storage; end the URI with / for a Parquet dataset, or write a local file"
        )
    target = Path(path)
    resolved, exists = target.resolve(), target.exists()
    for source in read_files(inputs):
        source_path = Path(source.rpartition(":")[0] if ".npz:" in source else source)
        same = source_path.resolve() == resolved or (
            exists and source_path.exists() and source_path.samefile(target)
        )
        if same:
            raise InputError(
                f"{option} {path} is one of the inputs; losscli never overwrites inputs"
            )
    inside = _input_folder_holding(resolved, inputs)
    if inside is not None:
        raise InputError(
            f"{option} {path} is inside the input {inside}, whose files are all read (a file "
            "written there would be read as data next time); write it elsewhere"
        )
    if target.is_dir():
        raise InputError(f"{option} {path} is a directory; give a file name")
    if not target.parent.exists():
        raise InputError(f"{option} {path}: the directory {target.parent} does not exist")
    return target


def _input_folder_holding(resolved: Path, inputs: Iterable[str]) -> str | None:
    """The input directory (or glob) whose files a file at ``resolved`` would join, if any."""
    import fnmatch

    from losscli.io import storage

    for local in _local_paths(inputs):
        if storage.is_glob(local):
            if fnmatch.fnmatch(str(resolved), str(Path(local).resolve())):
                return local
        elif os.path.isdir(local) and resolved.is_relative_to(Path(local).resolve()):
            return local
    return None


def read_files(inputs: Iterable[str]) -> list[str]:
    """The local files a run reads: its inputs as given, and the files of each directory,
    glob or dataset among them (what the Parquet reader lists)."""
    from losscli.io import storage
    from losscli.io.readers.parquet import dataset_files

    files = []
    for local in _local_paths(inputs):
        files.append(local)
        if storage.is_glob(local) or os.path.isdir(local):
            with contextlib.suppress(InputError, OSError, ValueError):  # the reader says why
                files += [found for found, _ in dataset_files(local)]
    return files


def _local_paths(inputs: Iterable[str]) -> Iterator[str]:
    """The inputs on this machine's file system, as paths (``file://`` dropped); standard
    input and other stores left out."""
    from losscli.io import storage

    for source in inputs:
        if source == "-" or storage.is_uri(source) and not source.lower().startswith("file://"):
            continue
        yield source[len("file://") :] if storage.is_uri(source) else source


def os_cause(exc: OSError) -> str:
    """The system's words for a failed write: ``No space left on device``, ..."""
    import re

    number = exc.errno
    if number is None:  # pyarrow says "... [errno 28] ..." in its message
        found = re.search(r"\[errno (\d+)\]", str(exc))
        number = int(found.group(1)) if found else None
    if number:
        return os.strerror(number)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def write_all(fp: Any, data: bytes) -> None:
    """Write every byte, or raise: a buffered write past a file size limit returns a short
    count without an error, and the rest would be lost unseen."""
    view = memoryview(data)
    while view:
        written = fp.write(view)
        if written is None or written <= 0:
            raise OSError(28, os.strerror(28))
        view = view[written:]


def write_error(option: str, target: Path, exc: OSError) -> InputError:
    """A failed write (no space, file too large, no permission) as one line naming the path."""
    return InputError(f"{option} {target}: cannot write ({os_cause(exc)}); nothing was written")


def written_through(target: Path) -> bool:
    """Is ``target`` a device, a FIFO or a symlink to one? Such a target is written through
    (opened and written, as ``/dev/null`` or ``/dev/stdout``), never renamed over."""
    try:
        return not stat.S_ISREG(os.stat(target).st_mode) and not target.is_dir()
    except (OSError, ValueError):  # nothing there yet (a dangling symlink too)
        return False


def _renamed_over(target: Path) -> Path:
    """The path a temporary file is renamed to: ``target``, or the file a symlink names (the
    link stays a link)."""
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _temporary(target: Path, option: str) -> Path:
    """An empty temporary file beside the file it becomes, created ``0666 & ~umask`` as
    ``open()`` creates a file; for a target written through, a private one (0600) in the
    temporary directory."""
    through = written_through(target)
    final = _renamed_over(target)
    directory = Path(tempfile.gettempdir()) if through else final.parent
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = directory / f".{final.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, flags, 0o600 if through else 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise write_error(option, target, exc) from None
        return tmp
    raise write_error(option, target, FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST)))


def _put_in_place(tmp: Path, target: Path, force: bool, option: str) -> None:
    """Copy ``tmp`` into a target written through, else rename it to the target's file."""
    if not written_through(target):
        _move_into_place(tmp, _renamed_over(target), force, option)
        return
    # No O_CREAT: the device or FIFO must still be there. A FIFO waits for its reader.
    fd = os.open(target, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOCTTY", 0))
    with open(fd, "wb", buffering=0) as out, open(tmp, "rb") as source:
        while block := source.read(1 << 20):
            write_all(out, block)


def _move_into_place(tmp: Path, target: Path, force: bool, option: str) -> None:
    """Rename ``tmp`` to ``target``; without ``force``, never replace a file, even one that
    appeared while losscli was writing (a hard link fails when the name exists)."""
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise exists_error(option, target) from None
    except OSError:
        # No hard links here (some network and FUSE file systems): claim the name first.
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise exists_error(option, target) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def atomic_write(
    target: Path, write: Callable[[Path], object], *, force: bool = True, option: str = OUTPUT
) -> None:
    """Run ``write`` on a temporary file beside ``target``, then rename it into place.

    On any failure or interruption the temporary file is removed and ``target``
    is left as it was; a failed write is an ``InputError`` naming ``target``.
    A device, FIFO or symlink to one is written through once everything is written; a
    symlink to a file stays a link, and the file it names is replaced.
    """
    tmp = _temporary(target, option)
    try:
        try:
            write(tmp)
            _put_in_place(tmp, target, force, option)
        except InputError:
            raise
        except OSError as exc:
            raise write_error(option, target, exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


class PerSampleWriter:
    """Per-sample losses written chunk by chunk to a temporary file, renamed on ``commit``.

    Use it as a context manager: leaving the block without ``commit`` (an
    error, Ctrl-C) removes the temporary file and leaves ``target`` as it was.
    ``.npy`` gets a header sized for any row count, rewritten at the end.
    """

    def __init__(
        self,
        target: Path,
        names: list[str],
        *,
        force: bool = False,
        option: str = OUTPUT,
        source: str | None = None,
    ) -> None:
        self.target = target
        self.names = names
        #: Set for a dataset's part file: its rows carry ``index`` and ``source`` columns.
        self.source = source
        self.force = force
        self.option = option
        self.suffix = target.suffix.lower()
        self.tmp = _temporary(target, option)
        self.rows = 0
        self.row_shape: tuple[int, ...] | None = None
        self.dtype: np.dtype | None = None
        self._file: Any = None
        self._parquet: Any = None

    def __enter__(self) -> PerSampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the close too: already reported
            self.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()

    def write(self, arrays: list[np.ndarray], index: np.ndarray | None = None) -> None:
        """Append one block of per-sample losses; ``index`` holds their input row numbers
        (the CSV ``index`` column; rows dropped by ``--nan-policy omit`` are absent)."""
        try:
            self._write(arrays, index)
        except OSError as exc:
            raise write_error(self.option, self.target, exc) from None

    def _write(self, arrays: list[np.ndarray], index: np.ndarray | None) -> None:
        # One column per loss (or per entry of a multi-dimensional loss); this also refuses
        # losses with one value for the whole input.
        columns = per_sample_columns(list(zip(self.names, arrays, strict=True)))
        if self.suffix == ".npy":
            # One loss keeps its per-sample shape; several are side by side.
            self._write_npy(
                arrays[0] if len(arrays) == 1 else np.column_stack([c for _, c in columns])
            )
        elif self.suffix == ".csv":
            self._write_csv(columns, index)
        else:
            self._write_parquet(columns, index)

    def _write_npy(self, block: np.ndarray) -> None:
        if self._file is None:
            self._file = open(self.tmp, "wb", buffering=0)  # noqa: SIM115 - closed in close()
            self.row_shape, self.dtype = block.shape[1:], block.dtype
            write_all(self._file, _npy_header_bytes(0, self.row_shape, self.dtype))
        write_all(self._file, np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += len(block)

    def _write_csv(self, columns: list[tuple[str, np.ndarray]], index: np.ndarray | None) -> None:
        if self._file is None:
            self._file = open(self.tmp, "wb", buffering=0)  # noqa: SIM115 - closed in close()
            write_all(self._file, csv_header(columns).encode())
        n = len(columns[0][1])
        write_all(self._file, csv_rows(columns, index if index is not None else self.rows).encode())
        self.rows += n

    def _write_parquet(
        self, columns: list[tuple[str, np.ndarray]], index: np.ndarray | None
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # ``index``: the input row number, as in a CSV output; a dataset's part adds ``source``.
        n = len(columns[0][1])
        rows = np.arange(self.rows, self.rows + n) if index is None else index
        named: dict[str, Any] = {"index": pa.array(np.asarray(rows, dtype=np.int64))}
        if self.source is not None:
            named["source"] = pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, dtype=np.int32)), pa.array([self.source])
            )
        named.update({name: values for name, values in columns})
        table = pa.table(named)
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
        """Finish the file and move it into place (never over a file, without ``force``)."""
        if self.rows == 0 and self.suffix != ".npy":
            raise InputError(f"{self.option} {self.target}: no per-sample losses to write")
        try:
            if self.suffix == ".npy" and self._file is not None:
                assert self.row_shape is not None and self.dtype is not None
                self._file.seek(0)
                write_all(self._file, _npy_header_bytes(self.rows, self.row_shape, self.dtype))
            self.close()
            if self.rows == 0:
                np.save(self.tmp, np.zeros((0,)))
            _put_in_place(self.tmp, self.target, self.force, self.option)
        except OSError as exc:
            raise write_error(self.option, self.target, exc) from None


def _npy_header_bytes(rows: int, row_shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """numpy's own ``.npy`` header for ``rows`` rows: it leaves room for the row count to grow
    (to 21 digits), so the header written first is rewritten in place, the same length, once
    the row count is known."""
    import io

    out = io.BytesIO()
    header = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": False,
        "shape": (rows, *row_shape),
    }
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue()


def csv_header(columns: list[tuple[str, np.ndarray]]) -> str:
    """``index`` and one column per loss, names quoted as CSV needs."""
    return ",".join(["index", *(_csv_field(n) for n, _ in columns)]) + "\n"


def csv_rows(columns: list[tuple[str, np.ndarray]], index: np.ndarray | int) -> str:
    """Rows ``index,value,...``; ``index`` is the rows' input numbers, or the first of a run."""
    n = len(columns[0][1])
    rows = range(index, index + n) if isinstance(index, int) else index.tolist()
    lines = map(",".join, zip(map(str, rows), *_texts(columns), strict=True))
    return "\n".join(lines) + "\n"


def _texts(columns: list[tuple[str, np.ndarray]]) -> list[Iterable[str]]:
    """Each column's numbers as the shortest text that reads back the same (``repr``)."""
    return [map(float.__repr__, values.tolist()) for _, values in columns]


def value_rows(columns: list[tuple[str, np.ndarray]]) -> str:
    """One line per sample, the columns' numbers separated by tabs."""
    return "\n".join(map("\t".join, zip(*_texts(columns), strict=True))) + "\n"


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
