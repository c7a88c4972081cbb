"""Per-sample losses as a Parquet dataset (``--output DIR/``, a local directory or a URI).

One file per part of the input (a file of the input table; the whole input when it is not a
dataset), ``part-00000.parquet``, ``part-00001.parquet``, ... in the input's file order. Each
file is written whole into a staging directory inside the dataset (``_losscli-staging-*/``,
which readers skip as they skip every ``_`` name): locally a temporary file renamed, on object
storage a local file uploaded. Only when every part succeeded are they moved into place (and an
earlier run's extra parts removed); a failed run removes the staging and leaves the dataset as
it was. Its columns: ``index`` (the row's number in that input file), ``source`` (that file)
and one per loss. A ``DatasetOutput`` holds only names, so a cluster task can be sent one and
write its own part. No click, no rich.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from losscli.errors import InputError, setting
from losscli.io import storage
from losscli.io.writers import OUTPUT, PerSampleWriter, os_cause

PART = "part-{:05d}.parquet"
_PART_NAME = re.compile(r"part-\d{5,}\.parquet")


def is_dataset(path: str) -> bool:
    """An output that ends with a slash names a directory: a Parquet dataset."""
    return path.endswith(("/", os.sep))


def _overlap(a: str, b: str) -> bool:
    """Is one of the two the other, or inside it?"""
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


class Written(NamedTuple):
    """What a run wrote to a dataset: where, how many files and per-sample rows."""

    path: str
    files: int
    rows: int


class DatasetOutput(NamedTuple):
    path: str
    force: bool = False
    option: str = OUTPUT
    #: The staging directory's name inside the dataset (set by ``prepare``).
    staging: str = ""

    @property
    def remote(self) -> bool:
        return storage.is_uri(self.path)

    def shown(self) -> str:
        return storage.public(self.path)

    def prepare(self, inputs: list[str]) -> DatasetOutput:
        """Refuse a directory that is, holds or is inside an input, or one that already holds
        files (without ``force``); create a local directory (its parent must exist) and the
        staging directory. The dataset to write to, its staging named."""
        for source in inputs:
            if self.remote or storage.is_uri(source):
                same = storage.is_uri(source) == self.remote and _overlap(
                    storage.location(source), storage.location(self.path)
                )
            else:
                source_path = source.rpartition(":")[0] if ".npz:" in source else source
                same = _overlap(str(Path(source_path).resolve()), str(Path(self.path).resolve()))
            if same:
                raise InputError(
                    f"{self.option} {self.shown()} overlaps the input {storage.public(source)}; "
                    "losscli never writes over or inside its inputs"
                )
        staged = self._replace(staging=f"_losscli-staging-{secrets.token_hex(6)}")
        if self.remote:
            self._prepare_remote()
        else:
            self._prepare_local()
            try:
                (Path(self.path) / staged.staging).mkdir()
            except OSError as exc:
                raise InputError(
                    f"{self.option} {self.path}: cannot write ({os_cause(exc)})"
                ) from None
        return staged

    def _prepare_local(self) -> None:
        target = Path(self.path)
        try:
            if target.exists() and not target.is_dir():
                raise InputError(f"{self.option} {self.path} is a file; a dataset is a directory")
            if target.is_dir():
                if any(target.iterdir()) and not self.force:
                    raise InputError(
                        f"{self.option} {self.path} already holds files; pass "
                        f"{setting('force')} to replace its part files"
                    )
                return
            if not target.parent.is_dir():
                raise InputError(
                    f"{self.option} {self.path}: the directory {target.parent} does not exist"
                )
            target.mkdir()
        except OSError as exc:
            raise InputError(f"{self.option} {self.path}: cannot write ({os_cause(exc)})") from None

    def _prepare_remote(self) -> None:
        found = storage.kind(self.path)  # a missing bucket is an error here
        if found == "file":
            raise InputError(f"{self.option} {self.shown()} is a file; a dataset is a directory")
        if found == "dir" and storage.list_files(self.path, hidden=True) and not self.force:
            raise InputError(
                f"{self.option} {self.shown()} already holds files; pass {setting('force')} to "
                "replace its part files"
            )

    def part(self, number: int, names: list[str], source: str) -> Part:
        return Part(self, number, names, source)

    def _staged(self, name: str = "") -> str:
        return "/".join(p for p in (self.path.rstrip("/"), self.staging, name) if p)

    def finish(self, written: int) -> None:
        """Every part succeeded: move the staged parts into place and, with ``force``, remove
        an earlier run's part files beyond the ``written`` ones, so that the directory holds
        this run's dataset; nothing else is touched."""
        names = [PART.format(number) for number in range(written)]
        if self.remote:
            filesystem, _ = storage.resolve(self.path)
            for name in names:
                _, staged = storage.resolve(self._staged(name))
                _, final = storage.resolve(self.path.rstrip("/") + "/" + name)
                try:
                    filesystem.move(staged, final)  # object storage: a copy, then a delete
                except (OSError, ValueError) as exc:
                    raise storage.failure(self._staged(name), exc) from None
            stale = [
                path
                for path, relative in storage.list_files(self.path)
                if _stale(relative, written)
            ]
            for path in stale:
                _, key = storage.resolve(path)
                with contextlib.suppress(OSError):
                    filesystem.delete_file(key)
        else:
            for name in names:
                os.replace(self._staged(name), Path(self.path) / name)
            for entry in Path(self.path).iterdir():
                if _stale(entry.name, written):
                    entry.unlink()
        self.abandon()

    def abandon(self) -> None:
        """Remove the staging directory and what it holds (a failed run's parts)."""
        if not self.staging:
            return
        if not self.remote:
            shutil.rmtree(self._staged(), ignore_errors=True)
            return
        with contextlib.suppress(OSError, ValueError, InputError):
            filesystem, key = storage.resolve(self._staged())
            filesystem.delete_dir(key)


def _stale(name: str, written: int) -> bool:
    return bool(_PART_NAME.fullmatch(name)) and int(name[5:-8]) >= written


class Part:
    """One part file: a ``PerSampleSink`` that writes it, put in place by ``commit``.

    Use it as a context manager: leaving without ``commit`` leaves nothing behind.
    """

    def __init__(self, dataset: DatasetOutput, number: int, names: list[str], source: str):
        self.dataset = dataset
        self.name = PART.format(number)
        self.staging: str | None = None
        if dataset.remote:
            self.staging = tempfile.mkdtemp(prefix="losscli-part-")
            local = Path(self.staging) / self.name
        else:
            local = Path(dataset._staged(self.name))
        self.writer = PerSampleWriter(
            local, names, force=True, option=dataset.option, source=storage.public(source)
        )

    def __enter__(self) -> Part:
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.__exit__()
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)

    def __call__(self, arrays: list[np.ndarray], index: np.ndarray) -> None:
        self.writer.write(arrays, index)

    @property
    def rows(self) -> int:
        return self.writer.rows

    def commit(self) -> None:
        self.writer.commit()
        if self.staging is None:
            return
        from pyarrow import fs

        uri = self.dataset._staged(self.name)
        filesystem, key = storage.resolve(uri)
        try:
            fs.copy_files(
                str(self.writer.target),
                key,
                source_filesystem=fs.LocalFileSystem(),
                destination_filesystem=filesystem,
            )
        except (OSError, ValueError) as exc:
            raise storage.failure(uri, exc) from None
