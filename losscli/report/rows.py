"""Per-sample losses (``--reduction none``) as a format's text, block by block.

Memory stays bounded however many samples there are: CSV and plain values are written as the
blocks arrive; JSON needs each loss's values together, so every loss's list is spooled to a
temporary file and copied out, inside the document, at the end. Each writer is given the
function that prints its text (``emit``); where the text goes is the caller's business.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from losscli.io.writers import csv_header, csv_rows, per_sample_columns, value_rows
from losscli.report.render import json_list

if TYPE_CHECKING:
    from losscli.engine.results import Evaluation

Emit = Callable[[str], None]


def _streamed_note(output_format: str, evaluation: Evaluation) -> list[str]:
    """Printed block by block: one row per sample, no room for what is per result."""
    if any(r.worst is not None or r.distribution is not None for r in evaluation.results):
        return [
            f"-f {output_format} with --reduction none has one row per sample: the --worst "
            "samples and the distribution are in -f json"
        ]
    return []


class CsvRows:
    """``-f csv``: a header, then one row per sample (its index and each loss's value)."""

    #: Rows go out as they come (a progress bar would run into them).
    live = True

    def __init__(self, specs: list[str], emit: Emit) -> None:
        self.specs = specs
        self.emit = emit
        self.started = False

    def write(self, arrays: list[np.ndarray], index: np.ndarray) -> None:
        columns = per_sample_columns(list(zip(self.specs, arrays, strict=True)))
        if not self.started:
            self.emit(csv_header(columns))
            self.started = True
        self.emit(csv_rows(columns, index))

    def finish(self, evaluation: Evaluation) -> list[str]:
        return _streamed_note("csv", evaluation)

    def close(self) -> None:
        pass


class ValueRows:
    """``-f value``: one line per sample, the losses tab-separated; a loss with one value for
    the whole input (Dice with axis=None) prints that value."""

    live = True

    def __init__(self, specs: list[str], emit: Emit) -> None:
        self.specs = specs
        self.emit = emit

    def write(self, arrays: list[np.ndarray], index: np.ndarray) -> None:
        if all(np.ndim(values) == 0 for values in arrays):
            self.emit("".join(f"{float(values)!r}\n" for values in arrays))
            return
        self.emit(value_rows(per_sample_columns(list(zip(self.specs, arrays, strict=True)))))

    def finish(self, evaluation: Evaluation) -> list[str]:
        return _streamed_note("value", evaluation)

    def close(self) -> None:
        pass


class JsonRows:
    """``-f json``: the document, each result's ``value`` the list of its per-sample losses
    (spooled while the blocks arrive; a loss with one value for the whole input, a number)."""

    live = False

    def __init__(self, specs: list[str], emit: Emit) -> None:
        self.emit = emit
        self.rows = 0
        self.nonfinite = [0] * len(specs)
        self.whole = [False] * len(specs)
        # Closed in close(): the spools outlive this call.
        self.spools: list[IO[str]] = [
            tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
            for _ in specs
        ]

    def write(self, arrays: list[np.ndarray], index: np.ndarray) -> None:
        for i, values in enumerate(arrays):
            listed, nonfinite = json_list(np.atleast_1d(np.asarray(values, dtype=np.float64)))
            self.nonfinite[i] += nonfinite
            text = json.dumps(listed, allow_nan=False)[1:-1]  # the items, no brackets
            if np.ndim(values) == 0:
                self.whole[i] = True
            if text:
                self.spools[i].write(("," if self.rows else "") + text)
        self.rows += len(index)

    def finish(self, evaluation: Evaluation) -> list[str]:
        """Print the document with each result's ``value`` copied from its spool; the
        warnings the document added to the evaluation's."""
        from losscli.report.render import report

        blank = [r._replace(value=None) for r in evaluation.results]  # the spools hold them
        document = report(evaluation._replace(results=blank))
        for i, count in enumerate(self.nonfinite):
            if count:
                document["warnings"].append(
                    f"results[{i}].value has {count} non-finite value(s), written as null"
                )
        added = document["warnings"][len(evaluation.warnings) :]
        results = document.pop("results")
        head = json.dumps(document, indent=2, allow_nan=False)[:-2]  # without the last "}"
        self.emit(head + ',\n  "results": [\n')
        for i, entry in enumerate(results):
            self._result(i, entry, last=i == len(results) - 1)
        self.emit("  ]\n}\n")
        return list(added)

    def _result(self, i: int, entry: dict[str, Any], last: bool) -> None:
        entry = {k: v for k, v in entry.items() if k != "value"}
        fields = json.dumps(entry, allow_nan=False)[1:-1]
        bracket = ("", "") if self.whole[i] else ("[", "]")
        self.emit(f'    {{{fields}, "value": {bracket[0]}')
        spool = self.spools[i]
        spool.seek(0)
        while piece := spool.read(1 << 20):
            self.emit(piece)
        self.emit(bracket[1] + "}" + ("\n" if last else ",\n"))

    def close(self) -> None:
        for spool in self.spools:
            spool.close()
