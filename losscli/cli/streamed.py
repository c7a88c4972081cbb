"""Per-sample losses (``--reduction none``) on standard output, block by block.

Memory stays bounded however many samples there are: CSV and plain values are
written as the blocks arrive; JSON needs each loss's values together, so every
loss's list is spooled to a temporary file and copied out at the end.
"""

from __future__ import annotations

import json
import tempfile
from typing import IO, Any

import numpy as np

from losscli.errors import InputError
from losscli.io.writers import (
    csv_header,
    csv_rows,
    os_cause,
    per_sample_columns,
    value_rows,
    write_all,
)
from losscli.report.render import json_list

STDOUT = "standard output"
HEAD = 3  # values kept for the one-line summary of a table


def stdout_error(exc: OSError) -> InputError:
    return InputError(f"{STDOUT}: cannot write ({os_cause(exc)})")


class PerSampleStdout:
    """Receives blocks of per-sample losses (a ``PerSampleSink``) and prints them as
    ``csv``, ``value`` or ``json``; other formats keep only a short head for the summary."""

    def __init__(self, output_format: str, specs: list[str], stream: IO[str]) -> None:
        self.format = output_format
        self.specs = specs
        self.stream = stream
        self.rows = 0
        self.heads: list[list[np.ndarray]] = [[] for _ in specs]
        self.nonfinite = [0] * len(specs)
        #: Losses with one value for the whole input (Dice with axis=None): JSON shows a number.
        self.whole = [False] * len(specs)
        self.spools: list[IO[str]] = []
        if output_format == "json":
            # Closed in close(): the spools outlive this call.
            self.spools = [
                tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
                for _ in specs
            ]

    def __call__(self, arrays: list[np.ndarray], index: np.ndarray) -> None:
        try:
            self._write(arrays, index)
            self.stream.flush()
        except OSError as exc:
            raise stdout_error(exc) from None

    def _emit(self, text: str) -> None:
        buffer = getattr(self.stream, "buffer", None)
        if buffer is None:
            self.stream.write(text)
            return
        self.stream.flush()
        write_all(buffer, text.encode())

    def _write(self, arrays: list[np.ndarray], index: np.ndarray) -> None:
        for i, values in enumerate(arrays):
            kept = sum(h.size for h in self.heads[i])
            if np.ndim(values) == 0:  # one value for the whole input: the value itself
                self.heads[i].append(np.array(values))
            elif kept < HEAD:
                self.heads[i].append(np.array(values[: HEAD - kept]))
        if self.format == "value" and all(np.ndim(values) == 0 for values in arrays):
            self._emit("".join(f"{float(values)!r}\n" for values in arrays))
        elif self.format == "csv":
            columns = per_sample_columns(list(zip(self.specs, arrays, strict=True)))
            if self.rows == 0:
                self._emit(csv_header(columns))
            self._emit(csv_rows(columns, index))
        elif self.format == "value":
            columns = per_sample_columns(list(zip(self.specs, arrays, strict=True)))
            self._emit(value_rows(columns))
        elif self.format == "json":
            for i, values in enumerate(arrays):
                listed, nonfinite = json_list(np.atleast_1d(np.asarray(values, dtype=np.float64)))
                self.nonfinite[i] += nonfinite
                text = json.dumps(listed, allow_nan=False)[1:-1]  # the items, no brackets
                if np.ndim(values) == 0:
                    self.whole[i] = True
                if text:
                    self.spools[i].write(("," if self.rows else "") + text)
        self.rows += len(index)

    def head(self, i: int) -> np.ndarray | None:
        """The first values of loss ``i`` (for a table's summary), or its one value."""
        if not self.heads[i]:
            return None
        if self.heads[i][0].ndim == 0:
            return self.heads[i][0]
        return np.concatenate(self.heads[i])

    def finish_json(self, document: dict[str, Any]) -> None:
        """Print ``document`` with each result's ``value`` copied from its spool."""
        try:
            for i, count in enumerate(self.nonfinite):
                if count:
                    document["warnings"].append(
                        f"results[{i}].value has {count} non-finite value(s), written as null"
                    )
            results = document.pop("results")
            head = json.dumps(document, indent=2, allow_nan=False)[:-2]  # without the last "}"
            self._emit(head + ',\n  "results": [\n')
            for i, entry in enumerate(results):
                entry = {k: v for k, v in entry.items() if k != "value"}
                fields = json.dumps(entry, allow_nan=False)[1:-1]
                bracket = ("", "") if self.whole[i] else ("[", "]")
                self._emit(f'    {{{fields}, "value": {bracket[0]}')
                spool = self.spools[i]
                spool.seek(0)
                while piece := spool.read(1 << 20):
                    self._emit(piece)
                self._emit(bracket[1] + "}" + (",\n" if i < len(results) - 1 else "\n"))
            self._emit("  ]\n}\n")
        except OSError as exc:
            raise stdout_error(exc) from None

    def close(self) -> None:
        for spool in self.spools:
            spool.close()
