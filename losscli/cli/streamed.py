"""Per-sample losses (``--reduction none``) on standard output, block by block: the format's
own writer (``Renderer.rows``) prints them; a format without one (a table) keeps only each
loss's first values, for the summary."""

from __future__ import annotations

from typing import IO

import numpy as np

from losscli.engine.results import Evaluation
from losscli.errors import InputError
from losscli.io.writers import os_cause, write_all
from losscli.report.formats import PerSampleRows, Renderer

STDOUT = "standard output"
HEAD = 3  # values kept for the one-line summary of a table


def stdout_error(exc: OSError) -> InputError:
    return InputError(f"{STDOUT}: cannot write ({os_cause(exc)})")


class PerSampleStdout:
    """Receives blocks of per-sample losses (a ``PerSampleSink``) and prints them in the
    format's rows, when it has them; every format keeps a short head for a summary."""

    def __init__(self, renderer: Renderer, specs: list[str], stream: IO[str]) -> None:
        self.stream = stream
        self.heads: list[list[np.ndarray]] = [[] for _ in specs]
        self.rows: PerSampleRows | None = None
        if renderer.rows is not None:
            self.rows = renderer.rows(specs, self._emit)

    @property
    def live(self) -> bool:
        """Rows are printed as they come (a progress bar would run into them)."""
        return self.rows is not None and self.rows.live

    def __call__(self, arrays: list[np.ndarray], index: np.ndarray) -> None:
        try:
            self._keep_heads(arrays)
            if self.rows is not None:
                self.rows.write(arrays, index)
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

    def _keep_heads(self, arrays: list[np.ndarray]) -> None:
        for i, values in enumerate(arrays):
            kept = sum(h.size for h in self.heads[i])
            if np.ndim(values) == 0:  # one value for the whole input: the value itself
                self.heads[i].append(np.array(values))
            elif kept < HEAD:
                self.heads[i].append(np.array(values[: HEAD - kept]))

    def head(self, i: int) -> np.ndarray | None:
        """The first values of loss ``i`` (for a table's summary), or its one value."""
        if not self.heads[i]:
            return None
        if self.heads[i][0].ndim == 0:
            return self.heads[i][0]
        return np.concatenate(self.heads[i])

    def with_heads(self, evaluation: Evaluation) -> Evaluation:
        """The evaluation with each result's first values standing for its per-sample losses."""
        results = [r._replace(value=self.head(i)) for i, r in enumerate(evaluation.results)]
        return evaluation._replace(results=results)

    def finish(self, evaluation: Evaluation) -> list[str]:
        """What follows the rows (the rest of a JSON document); the warnings it adds."""
        if self.rows is None:
            return []
        try:
            return self.rows.finish(evaluation)
        except OSError as exc:
            raise stdout_error(exc) from None

    def close(self) -> None:
        if self.rows is not None:
            self.rows.close()
