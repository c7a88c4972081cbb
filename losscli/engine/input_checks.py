"""Likely mistakes in the inputs, found chunk by chunk (``InputChecks``, mergeable like the
sums), and the wording of the errors and warnings about the inputs. No click, no rich."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from losscli.errors import InputError, shorten
from losscli.io.readers.base import STDIN, Source, split_npz_key
from losscli.losses.classes import Loss

if TYPE_CHECKING:
    from losscli.engine.inputs import Chunk, InputSpec


def omitted_warning(count: int, say: Callable[[str], str]) -> str:
    return f"{say('nan_policy')} omit dropped {count} row(s) with NaN or inf"


def nan_error(
    labels: dict[str, str], role: str, row: int, count: int, say: Callable[[str], str]
) -> InputError:
    plural = "s" if count != 1 else ""
    return InputError(
        f"{role} ({labels[role]}) has {count} non-finite value{plural} "
        f"(NaN or inf), the first in row {row}; fix the data, or set {say('nan_policy')} "
        "to omit (drop those rows) or propagate (keep them)"
    )


def weighted_default_note(setting: str) -> str:
    """Said once a run when weights meet the default reduction: Keras divides by the count,
    not by the weights (``setting`` spells the fix as the front end does)."""
    return (
        "with weights, the default reduction is Keras' sum(w * loss) / N; for the weighted "
        f"mean: {setting}"
    )


def negative_weights(lowest: float) -> str:
    return (
        f"sample_weight has negative values (min {lowest:.4g}): Keras applies them as they are, "
        "so those samples lower the loss"
    )


class InputChecks:
    """Likely mistakes in the inputs of one loss, gathered chunk by chunk."""

    def __init__(self, loss: Loss) -> None:
        self.loss = loss
        self.pred_range = [np.inf, -np.inf]
        self.true_min = np.inf
        self.true_range = [np.inf, -np.inf]  # binary losses: labels are 0 or 1
        self.one_class = False  # categorical losses on one class: every loss is 0
        self.zero_inside: int | None = None  # CTC: the first row with a 0 before a label
        self.pred_rows: tuple[int, float] | None = None
        self.true_rows: tuple[int, float] | None = None

    def update(self, offset: int, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Add a chunk's rows (the first of them row ``offset`` of the input)."""
        self._update_ranges(y_true, y_pred)
        self._update_rows(offset, y_true, y_pred)

    def _update_ranges(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """The extremes the messages compare with what the loss expects."""
        loss = self.loss
        if (loss.predictions != "values" or loss.takes_logs) and y_pred.size:
            # min/max give NaN when a NaN passed (--nan-policy propagate): no comparison holds.
            self.pred_range = _widen(self.pred_range, y_pred)
        if loss.takes_logs and y_true.size:
            self.true_min = min(self.true_min, float(np.min(y_true)))
        if loss.labels == "binary" and y_true.size:
            self.true_range = _widen(self.true_range, y_true)

    def _update_rows(self, offset: int, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """The first row that is not what the loss expects (probabilities, one-hot, labels)."""
        loss = self.loss
        axis = loss.params.get("axis", -1)
        axis = axis if isinstance(axis, int) else -1
        rows = loss.predictions == "probability_rows" and not loss.params.get("from_logits")
        if rows and y_pred.shape[-1] > 1:
            self.pred_rows = self.pred_rows or _row_not_summing_to_one(y_pred, axis, offset)
        if loss.labels == "sequences" and self.zero_inside is None:
            self.zero_inside = _zero_inside(offset, y_true)
        if loss.labels != "one_hot":
            return
        if loss.rescales_rows and y_pred.ndim > 1:
            self.one_class = self.one_class or y_pred.shape[axis] == 1
        if y_true.ndim > 1 and y_true.shape[-1] > 1:
            self.true_rows = self.true_rows or _row_not_summing_to_one(y_true, axis, offset)

    def merge(self, other: InputChecks) -> None:
        """Add what other chunks found, in any order: extremes, and the first row found."""
        self.pred_range = _widen(self.pred_range, np.array(other.pred_range))
        self.true_min = min(self.true_min, other.true_min)
        self.true_range = _widen(self.true_range, np.array(other.true_range))
        self.pred_rows = _first(self.pred_rows, other.pred_rows)
        self.true_rows = _first(self.true_rows, other.true_rows)
        self.one_class = self.one_class or other.one_class
        rows = [r for r in (self.zero_inside, other.zero_inside) if r is not None]
        self.zero_inside = min(rows) if rows else None

    def shift(self, first_row: int) -> None:
        """Rows counted from a piece's or a part's own start moved to their place in the
        input."""
        if self.zero_inside is not None:
            self.zero_inside += first_row
        if self.pred_rows is not None:
            self.pred_rows = (self.pred_rows[0] + first_row, self.pred_rows[1])
        if self.true_rows is not None:
            self.true_rows = (self.true_rows[0] + first_row, self.true_rows[1])

    def messages(self) -> list[str]:
        """The likely mistakes found, each a line naming the loss."""
        return self._prediction_messages() + self._label_messages()

    def _prediction_messages(self) -> list[str]:
        loss, name = self.loss, self.loss.name
        out = []
        low, high = self.pred_range
        probabilities = loss.predictions != "values"
        logits = loss.params.get("from_logits")
        if probabilities and not logits and (low < 0 or high > 1):
            hint = (
                "set from_logits=true"
                if "from_logits" in loss.params
                else "this loss expects probabilities"
            )
            out.append(
                f"{name}: y_pred has values outside [0, 1] (min {low:.4g}, max {high:.4g}): "
                f"these look like logits; {hint}"
            )
        if probabilities and logits and low >= 0 and high <= 1:
            out.append(
                f"{name}: from_logits=true, but every y_pred lies in [0, 1] (min {low:.4g}, "
                f"max {high:.4g}): these look like probabilities; drop from_logits"
            )
        return out

    def _label_messages(self) -> list[str]:
        loss, name = self.loss, self.loss.name
        out = []
        if self.zero_inside is not None:
            out.append(
                f"{name}: y_true row {self.zero_inside} has a 0 before a label; as in Keras, a "
                "row's labels are its first k entries (k: its nonzero count), so that 0 is read "
                "as the blank and the row's last label dropped: pad with 0 at the end only"
            )
        if self.one_class:
            out.append(
                f"{name}: y_pred has one class per row, so the loss is about 0 whatever it holds; "
                "with two classes use binary_crossentropy, with more one column per class"
            )
        low_true, high_true = self.true_range
        if loss.labels == "binary" and (low_true < 0 or high_true > 1):
            out.append(
                f"{name}: y_true has values outside [0, 1] (min {low_true:.4g}, max "
                f"{high_true:.4g}); a binary loss expects labels 0 or 1 (or probabilities)"
            )
        return out + self._row_messages() + self._log_messages()

    def _row_messages(self) -> list[str]:
        name = self.loss.name
        out = []
        if self.pred_rows:
            rescale = "; Keras rescales each row to sum to 1" if self.loss.rescales_rows else ""
            row, total = self.pred_rows
            out.append(
                f"{name}: y_pred rows are not probabilities "
                f"(row {row} sums to {total:.6g}){rescale}"
            )
        if self.true_rows:
            row, total = self.true_rows
            out.append(
                f"{name}: y_true rows are not one-hot or probabilities "
                f"(row {row} sums to {total:.6g})"
            )
        return out

    def _log_messages(self) -> list[str]:
        if not self.loss.takes_logs:
            return []
        name = self.loss.name
        return [
            f"{name}: {label} has negative values (min {lowest:.4g}); "
            f"{name} takes logarithms and expects values >= 0"
            for label, lowest in (("y_true", self.true_min), ("y_pred", self.pred_range[0]))
            if lowest < 0
        ]


def _zero_inside(offset: int, y_true: np.ndarray) -> int | None:
    """The first row of CTC labels with a 0 (the blank) before a label, or None."""
    if y_true.ndim != 2:
        return None
    inside = ((y_true[:, :-1] == 0) & (y_true[:, 1:] != 0)).any(axis=1)
    return offset + int(np.argmax(inside)) if inside.any() else None


def same_inputs(sources: list[Source], labels: dict[str, str]) -> list[str]:
    """A warning when y_true and y_pred, or y_pred and its baseline, are the same numbers: the
    same columns of one file, or one array file named twice."""
    by_role = {role: source for source in sources for role in source.roles}
    shown = f"{labels['y_pred']}{_columns_text(column_names(by_role['y_pred'], 'y_pred'))}"
    warnings = []
    if _same_data(by_role, labels, "y_true", "y_pred"):
        warnings.append(
            f"y_true and y_pred are the same data ({shown}): every loss compares it with itself"
        )
    elif shared := _shared_columns(by_role, "y_true", "y_pred"):
        warnings.append(
            f"y_pred also reads the y_true column{'s' * (len(shared) > 1)} "
            f"{', '.join(map(repr, shared))} ({shown}): it is compared with itself; name the "
            "prediction columns you mean"
        )
    if "baseline_pred" in by_role and _same_data(by_role, labels, "y_pred", "baseline_pred"):
        warnings.append(
            f"the baseline and y_pred are the same data ({shown}): every change is 0, so a gate "
            "on the increase always passes"
        )
    return warnings


def _shared_columns(by_role: dict[str, Source], a: str, b: str) -> list[str]:
    """The columns of one table that roles ``a`` and ``b`` both read (a glob taking too much)."""
    first, second = by_role[a], by_role[b]
    names = column_names(first, a)
    if first is not second or names is None:
        return []
    return [name for name in column_names(second, b) or [] if name in names]


def _same_data(by_role: dict[str, Source], labels: dict[str, str], a: str, b: str) -> bool:
    """Roles ``a`` and ``b`` read the same columns of one source, or of one file named twice."""
    import os

    first, second = by_role[a], by_role[b]
    if first is second:
        selected = getattr(first, "selected", None)
        return selected is None or selected[a] == selected[b]
    paths = [split_npz_key(labels[role]) for role in (a, b)]
    return (
        paths[0][1] == paths[1][1]
        and column_names(first, a) == column_names(second, b)
        and all(p != STDIN and Path(p).is_file() for p, _ in paths)
        and os.path.samefile(paths[0][0], paths[1][0])
    )


def column_names(source: Source, role: str) -> list[str] | None:
    """The columns a role reads from a table (None: an array file)."""
    names, selected = getattr(source, "names", None), getattr(source, "selected", None)
    if names is None or selected is None:
        return None
    return [names[i] for i in selected[role]]


def _columns_text(names: list[str] | None) -> str:
    if names is None:
        return ""
    return f", column{'s' * (len(names) > 1)} " + ", ".join(repr(shorten(name)) for name in names)


def _first(a: tuple[int, float] | None, b: tuple[int, float] | None) -> tuple[int, float] | None:
    """Of two (row, value) findings, the one at the earlier row."""
    return min((f for f in (a, b) if f is not None), default=None, key=lambda f: f[0])


def _widen(span: list[float], values: np.ndarray) -> list[float]:
    """``[min, max]`` of what ``span`` covered and ``values`` (NaN when a NaN passed)."""
    return [min(span[0], float(np.min(values))), max(span[1], float(np.max(values)))]


def _row_not_summing_to_one(array: np.ndarray, axis: int, offset: int) -> tuple[int, float] | None:
    if axis in (-1, array.ndim - 1) and array.dtype.kind == "f":
        # A product with ones: 8 times numpy's sum over a short last axis (a check to 1e-3).
        sums = array @ np.ones(array.shape[-1], dtype=array.dtype)
    else:
        sums = np.sum(array, axis=axis)
    bad = np.abs(sums - 1.0) > 1e-3
    if not bad.any():
        return None
    index = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return offset + int(index[0]), float(sums[index])


def check_labels(loss: Loss, spec: str, chunk: Chunk, inputs: InputSpec) -> None:
    """One-hot rows where the loss takes them: ``one_hot`` for losses that do, and integer
    labels given to such a loss without it are an error that names the fix."""
    takes_rows = loss.labels == "one_hot"
    say = inputs.say
    if inputs.one_hot and not takes_rows:
        raise InputError(
            f"{say('one_hot')} makes one-hot label rows, which {spec} does not take; it is for "
            "categorical_crossentropy, categorical_focal_crossentropy, kl_divergence and "
            "categorical_hinge"
        )
    y_true, y_pred = chunk["y_true"], chunk["y_pred"]
    labels = y_true.shape[-1] == 1 and y_pred.shape[-1] > 1
    if takes_rows and not inputs.one_hot and labels and y_true.shape[:-1] == y_pred.shape[:-1]:
        sparse = f", or use {loss.sparse_variant}" if loss.sparse_variant else ""
        raise InputError(
            f"{spec} takes one-hot label rows, but y_true has one label per row and y_pred "
            f"{y_pred.shape[-1]} classes: add {say('one_hot')}{sparse}"
        )
