"""The one list of a run's inputs (``InputSpec``: where labels, predictions, weights, baseline
and slice columns come from, as the user named them) and the shapes that flow between the
stages: a chunk, a per-sample sink, a progress callback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from losscli.io.readers import STDIN, cli_flag, parse_number


def config_key(key: str) -> str:
    """A setting as a check file spells it: the key itself."""
    return key


class InputSpec(NamedTuple):
    """Where the labels, predictions and weights come from, as the user named them."""

    y_true: str | None = None
    y_pred: str | None = None
    #: A path, or a number (given as one in Python or a check file: never read as a path).
    sample_weight: str | float | None = None
    data: str | None = None
    true_cols: Sequence[str] = ()
    pred_cols: Sequence[str] = ()
    weight_col: str | None = None
    input_format: str | None = None
    header: bool | None = None
    baseline_pred: str | None = None
    delimiter: str | None = None
    #: Integer class labels, one per row, become one-hot rows (as many classes as y_pred).
    one_hot: bool = False
    #: A Dask scheduler's address (``local:N`` for a local cluster of N workers): the run
    #: goes there, one task per file.
    scheduler: str | None = None
    #: Only these files of a Parquet dataset (what one cluster task reads).
    only: tuple[str, ...] = ()
    #: Columns of the table whose values cut the input into slices (``--group-by``).
    group_by: Sequence[str] = ()
    #: A table holding those columns, row for row with the labels and predictions, when they
    #: come from separate files (``--groups``).
    groups: str | None = None
    #: Columns of the baseline's predictions (``--baseline-col``): of ``baseline_pred`` when
    #: given, else of the table the predictions come from.
    baseline_cols: Sequence[str] = ()
    #: How messages name a setting: the CLI's ``--pred-col``, a config file's ``pred_col``.
    say: Callable[[str], str] = cli_flag

    def named(self) -> tuple[Any, ...]:
        """Every input as given: paths, ``-``, numbers (a weight), data given in Python."""
        return (
            self.y_true,
            self.y_pred,
            self.data,
            self.baseline_pred,
            self.sample_weight,
            self.groups,
        )

    def paths(self) -> list[str]:
        """Every file this run reads: the one list that no output may replace."""
        return [
            p
            for p in self.named()
            if isinstance(p, str) and p and p != STDIN and parse_number(p) is None
        ]

    def has_baseline(self) -> bool:
        return self.baseline_pred is not None or bool(self.baseline_cols)

    def reads_stdin(self) -> bool:
        return STDIN in self.named()


Chunk = dict[str, np.ndarray]

#: Receives the weighted per-sample losses of each chunk, one array per loss, and their
#: input row numbers.
PerSampleSink = Callable[[list[np.ndarray], np.ndarray], None]

#: Told how much is done, the total when known, and in what: rows, or files on a cluster.
Progress = Callable[[int, int | None, str], None]
