"""From named inputs to loss values, in chunks of rows and bounded memory.

The inputs are read block by block (see ``readers``), aligned into chunks of
the same rows, checked (NaN policy, likely mistakes), and every loss keeps
running float64 sums (``RunningReduction``). Losses whose per-sample values
depend on the whole input (Circle's pairs, Dice/Tversky over the sample axis)
are evaluated on the whole input in memory; hinge losses get the whole-input
{0, 1} label decision from a first pass. This is the library behind
``losscli eval`` and ``losscli check``: no click, no rich.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from losscli.errors import InputError, RowError, shorten
from losscli.functions import to_categorical
from losscli.losses import BatchFacts, Loss
from losscli.readers import (
    STDIN,
    Format,
    Request,
    Source,
    cli_flag,
    csv_delimiter,
    describe_source,
    detect_format,
    open_source,
    parse_number,
    path_kind,
    split_npz_key,
)
from losscli.reduction import RunningReduction

if TYPE_CHECKING:
    from losscli.gates import Gate, GateOutcome

NAN_POLICIES = ("raise", "omit", "propagate")
CHUNK_BYTES = 2 << 20  # per chunk, over all inputs: small enough to stay in cache
MIN_CHUNK_ROWS = 16384


def config_key(key: str) -> str:
    """A setting as a check file spells it: the key itself."""
    return key


class InputSpec(NamedTuple):
    """Where the labels, predictions and weights come from, as the user named them."""

    y_true: str | None = None
    y_pred: str | None = None
    sample_weight: str | None = None
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
    #: How messages name a setting: the CLI's ``--pred-col``, a config file's ``pred_col``.
    say: Callable[[str], str] = cli_flag

    def paths(self) -> list[str]:
        """Every file this run reads: the one list that no output may replace."""
        named = (self.y_true, self.y_pred, self.data, self.baseline_pred, self.sample_weight)
        return [p for p in named if p and p != STDIN and parse_number(p) is None]

    def reads_stdin(self) -> bool:
        named = (self.y_true, self.y_pred, self.data, self.baseline_pred, self.sample_weight)
        return STDIN in named


class Result(NamedTuple):
    """One loss evaluated: the value, its baseline and gates, on request per-sample losses."""

    spec: str
    loss: Loss
    value: Any
    n_samples: int
    per_sample: np.ndarray | None = None
    baseline: Any = None
    gates: Sequence[GateOutcome] = ()
    warnings: Sequence[str] = ()  # likely mistakes in this loss's inputs

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def difference(self) -> float | None:
        if self.baseline is None:
            return None
        return float(self.value) - float(self.baseline)


class Evaluation(NamedTuple):
    """Every loss's result, with what was read."""

    results: list[Result]
    sources: dict[str, str]
    n_samples: int
    n_omitted: int = 0
    warnings: Sequence[str] = ()

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


Chunk = dict[str, np.ndarray]
#: Receives the weighted per-sample losses of each chunk, one array per loss, and their
#: input row numbers.
PerSampleSink = Callable[[list[np.ndarray], np.ndarray], None]
#: Told the number of rows done so far and the total when known.
Progress = Callable[[int, int | None], None]


# --- opening the inputs ------------------------------------------------------------------


class _Inputs:
    def __init__(
        self, sources: list[Source], labels: dict[str, str], scalar_weight: float | None
    ) -> None:
        self.sources = sources
        self.labels = labels  # role -> where it comes from
        self.scalar_weight = scalar_weight
        self.warnings = _same_inputs(sources, labels)
        if scalar_weight is not None and scalar_weight < 0:
            self.warnings.append(_negative_weights(scalar_weight))


def _open_inputs(spec: InputSpec) -> _Inputs:
    """One source per distinct file, each serving the roles read from it."""
    requests: dict[str, dict[str, Request]] = {}
    labels: dict[str, str] = {}

    def want(source: str, role: str, request: Request) -> None:
        requests.setdefault(source, {})[role] = request
        labels[role] = describe_source(source)

    say = spec.say
    delimiter = csv_delimiter(spec.delimiter, say)
    weight_request = Request((spec.weight_col,) if spec.weight_col else (), say("weight_col"))
    if spec.data:
        if spec.y_true or spec.y_pred:
            raise InputError(
                f"give either {say('data')} or {say('y_true')}/{say('y_pred')}, not both"
            )
        if not spec.true_cols or not spec.pred_cols:
            raise InputError(
                f"{say('data')} needs {say('true_col')} and {say('pred_col')} to say which "
                "columns to use"
            )
        if detect_format(spec.data, spec.input_format)[0] in (Format.NPY, Format.NPZ):
            raise InputError(
                f"{spec.data} is an array file; {say('data')} needs a table (CSV or Parquet)"
            )
        want(spec.data, "y_true", Request(tuple(spec.true_cols), say("true_col")))
        want(spec.data, "y_pred", Request(tuple(spec.pred_cols), say("pred_col")))
        if spec.weight_col:
            if spec.sample_weight is not None:
                raise InputError(
                    f"give either {say('sample_weight')} or {say('weight_col')}, not both"
                )
            want(spec.data, "sample_weight", weight_request)
    else:
        if not spec.y_true or not spec.y_pred:
            missing = say("y_true") if not spec.y_true else say("y_pred")
            raise InputError(
                f"missing {missing}; give {say('y_true')} and {say('y_pred')}, or {say('data')}"
            )
        if spec.weight_col and not spec.sample_weight:
            raise InputError(
                f"{say('weight_col')} selects a column of {say('sample_weight')} or {say('data')}"
            )
        want(spec.y_true, "y_true", Request(tuple(spec.true_cols), say("true_col")))
        want(spec.y_pred, "y_pred", Request(tuple(spec.pred_cols), say("pred_col")))
    scalar = None
    if spec.sample_weight is not None and "sample_weight" not in labels:
        number = parse_number(spec.sample_weight)
        exists = spec.sample_weight == STDIN or _exists(spec.sample_weight)
        if number is not None and not exists:
            if not np.isfinite(number):
                raise InputError(f"the sample weight {spec.sample_weight} is not a finite number")
            scalar = number
            labels["sample_weight"] = spec.sample_weight
        elif not exists:
            raise InputError(
                f"{say('sample_weight')} {spec.sample_weight!r} is neither a number nor an "
                "existing file"
            )
        else:
            want(spec.sample_weight, "sample_weight", weight_request)
    if spec.baseline_pred:
        is_table = detect_format(spec.baseline_pred, spec.input_format)[0] in (
            Format.CSV,
            Format.TSV,
            Format.PARQUET,
        )
        columns = tuple(spec.pred_cols) if is_table else ()
        want(spec.baseline_pred, "baseline_pred", Request(columns, say("pred_col")))
    sources = [
        open_source(
            source,
            roles,
            input_format=spec.input_format,
            header=spec.header,
            delimiter=delimiter,
            say=say,
        )
        for source, roles in requests.items()
    ]
    return _Inputs(sources, labels, scalar)


def _same_inputs(sources: list[Source], labels: dict[str, str]) -> list[str]:
    """A warning when y_true and y_pred are the same numbers: the same columns of one file,
    or one array file named twice."""
    import os

    by_role = {role: source for source in sources for role in source.roles}
    true, pred = by_role["y_true"], by_role["y_pred"]
    if true is pred:
        selected = getattr(true, "selected", None)
        same = selected is None or selected["y_true"] == selected["y_pred"]
    else:
        paths = [split_npz_key(labels[role]) for role in ("y_true", "y_pred")]
        same = (
            paths[0][1] == paths[1][1]
            and all(p != STDIN and Path(p).is_file() for p, _ in paths)
            and os.path.samefile(paths[0][0], paths[1][0])
        )
    if not same:
        return []
    return [
        f"y_true and y_pred are the same data ({labels['y_pred']}"
        f"{_columns_text(pred)}): every loss compares it with itself"
    ]


def _columns_text(source: Source) -> str:
    names, selected = getattr(source, "names", None), getattr(source, "selected", None)
    if names is None or selected is None:
        return ""
    return ", column " + ", ".join(repr(shorten(names[i])) for i in selected["y_pred"])


def _negative_weights(lowest: float) -> str:
    return (
        f"sample_weight has negative values (min {lowest:.4g}): Keras applies them as they are, "
        "so those samples lower the loss"
    )


def _exists(path: str) -> bool:
    return path_kind(split_npz_key(path)[0]) is not None


def as_samples(array: np.ndarray, what: str) -> np.ndarray:
    """Rows are samples: a vector of N values is N samples of one value, ``(N, 1)``."""
    if array.ndim == 0:
        raise InputError(f"{what} holds a single number; it needs one row per sample")
    return array.reshape(-1, 1) if array.ndim == 1 else array


# --- chunks of aligned rows -------------------------------------------------------------------


def _chunk_rows(inputs: _Inputs) -> int:
    """Rows per chunk so that a chunk of every input is about CHUNK_BYTES of float64."""
    width = sum(max(source.width, 1) for source in inputs.sources)
    # Wide rows (many classes) still get enough rows per chunk to keep the per-chunk cost small.
    return max(MIN_CHUNK_ROWS, CHUNK_BYTES // (8 * width))


def _count_mismatch(inputs: _Inputs, counts: dict[int, int]) -> InputError:
    by_role = {}
    for i, source in enumerate(inputs.sources):
        for role in source.roles:
            by_role[role] = counts[i]
    true_rows, pred_rows = by_role.get("y_true"), by_role.get("y_pred")
    if true_rows != pred_rows:
        return InputError(
            f"y_true has {true_rows} rows ({inputs.labels['y_true']}) but y_pred has "
            f"{pred_rows} ({inputs.labels['y_pred']}); every sample needs a label and a prediction"
        )
    for role, what in (
        ("sample_weight", "the sample weights"),
        ("baseline_pred", "the baseline predictions"),
    ):
        if role in by_role and by_role[role] != pred_rows:
            extra = "; give one weight per sample or a number" if role == "sample_weight" else ""
            return InputError(
                f"{what} have {by_role[role]} rows ({inputs.labels[role]}) but there are "
                f"{pred_rows} samples{extra}"
            )
    return InputError("the inputs have different numbers of rows")


def _rows(block: Chunk) -> int:
    return len(next(iter(block.values())))


def _aligned(inputs: _Inputs, rows: int) -> Iterator[tuple[int, Chunk]]:
    """Chunks of the same ``rows`` rows from every source, with their first row's index."""
    known = [s.n_rows for s in inputs.sources]
    if all(n is not None for n in known) and len(set(known)) > 1:
        raise _count_mismatch(inputs, dict(enumerate(known)))  # type: ignore[arg-type]
    iterators = [s.read(rows) for s in inputs.sources]
    pending: list[list[Chunk]] = [[] for _ in iterators]
    done = [False] * len(iterators)
    consumed = [0] * len(iterators)
    offset = 0
    while True:
        for i, it in enumerate(iterators):
            while not done[i] and sum(_rows(b) for b in pending[i]) < rows:
                try:
                    pending[i].append(next(it))
                except StopIteration:
                    done[i] = True
        available = [sum(_rows(b) for b in p) for p in pending]
        n = min(min(available), rows)
        if n == 0:
            if any(available):
                counts = {}
                for i, it in enumerate(iterators):
                    counts[i] = consumed[i] + available[i] + sum(_rows(b) for b in it)
                raise _count_mismatch(inputs, counts)
            return
        chunk: Chunk = {}
        for i, blocks in enumerate(pending):
            merged = {
                role: np.concatenate([b[role] for b in blocks])
                if len(blocks) > 1
                else blocks[0][role]
                for role in blocks[0]
            }
            for role, array in merged.items():
                chunk[role] = array[:n]
            rest = {role: array[n:] for role, array in merged.items()}
            pending[i] = [rest] if _rows(rest) else []
            consumed[i] += n
        yield offset, chunk
        offset += n


def _prefetched(iterator: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run ``iterator`` in a thread, ``depth`` items ahead: reading overlaps computing."""
    import queue
    import threading

    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(("end", end))
        except BaseException as exc:  # handed to the consumer
            items.put(("error", exc))

    thread = threading.Thread(target=produce, name="losscli-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = items.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(0.05)


# --- checks on values ---------------------------------------------------------------------------


def _shape_chunk(chunk: Chunk, labels: dict[str, str]) -> Chunk:
    shaped = {role: as_samples(array, labels[role]) for role, array in chunk.items()}
    weights = shaped.get("sample_weight")
    if weights is not None and weights.ndim == 2 and weights.shape[1] == 1:
        shaped["sample_weight"] = weights[:, 0]  # one weight per sample
    return shaped


def _bad_rows(chunk: Chunk) -> dict[str, np.ndarray]:
    """Per role with a NaN or inf, which rows hold one."""
    bad = {}
    for role, array in chunk.items():
        # A sum is NaN or inf when any value is (or, rarely, when it overflows): one pass
        # without a temporary in the common case, the exact check only when it is not finite.
        if np.isfinite(np.add.reduce(array, axis=None)):
            continue
        rows = np.asarray(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))
        if rows.any():
            bad[role] = rows
    return bad


_ROLE_ORDER = ("y_true", "y_pred", "sample_weight", "baseline_pred")


def omitted_warning(count: int, say: Callable[[str], str]) -> str:
    return f"{say('nan_policy')} omit dropped {count} row(s) with NaN or inf"


def _nan_error(
    labels: dict[str, str], role: str, row: int, count: int, say: Callable[[str], str]
) -> InputError:
    plural = "s" if count != 1 else ""
    return InputError(
        f"{role} ({labels[role]}) has {count} non-finite value{plural} "
        f"(NaN or inf), the first in row {row}; fix the data, or set {say('nan_policy')} "
        "to omit (drop those rows) or propagate (keep them)"
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
        loss = self.loss
        from_logits = bool(loss.params.get("from_logits"))
        axis = loss.params.get("axis", -1)
        axis = axis if isinstance(axis, int) else -1
        if (loss.predictions != "values" or loss.takes_logs) and y_pred.size:
            # min/max give NaN when a NaN passed (--nan-policy propagate): no comparison holds.
            self.pred_range = _widen(self.pred_range, y_pred)
        if loss.takes_logs and y_true.size:
            self.true_min = min(self.true_min, float(np.min(y_true)))
        if loss.labels == "binary" and y_true.size:
            self.true_range = _widen(self.true_range, y_true)
        rows = loss.predictions == "probability_rows"
        if rows and not from_logits and y_pred.shape[-1] > 1:
            self.pred_rows = self.pred_rows or _row_not_summing_to_one(y_pred, axis, offset)
        if loss.labels == "sequences" and self.zero_inside is None and y_true.ndim == 2:
            inside = ((y_true[:, :-1] == 0) & (y_true[:, 1:] != 0)).any(axis=1)
            if inside.any():
                self.zero_inside = offset + int(np.argmax(inside))
        if loss.labels == "one_hot" and loss.rescales_rows and y_pred.ndim > 1:
            self.one_class = self.one_class or y_pred.shape[axis] == 1
        if loss.labels == "one_hot" and y_true.ndim > 1 and y_true.shape[-1] > 1:
            self.true_rows = self.true_rows or _row_not_summing_to_one(y_true, axis, offset)

    def merge(self, later: InputChecks) -> None:
        """Add what a later chunk found."""
        self.pred_range = _widen(self.pred_range, np.array(later.pred_range))
        self.true_min = min(self.true_min, later.true_min)
        self.true_range = _widen(self.true_range, np.array(later.true_range))
        self.pred_rows = self.pred_rows or later.pred_rows
        self.one_class = self.one_class or later.one_class
        if self.zero_inside is None:
            self.zero_inside = later.zero_inside
        self.true_rows = self.true_rows or later.true_rows

    def messages(self) -> list[str]:
        loss, name = self.loss, self.loss.name
        out = []
        low, high = self.pred_range
        probabilities = loss.predictions != "values"
        if probabilities and not loss.params.get("from_logits") and (low < 0 or high > 1):
            hint = (
                "set from_logits=true"
                if "from_logits" in loss.params
                else "this loss expects probabilities"
            )
            out.append(
                f"{name}: y_pred has values outside [0, 1] (min {low:.4g}, max {high:.4g}): "
                f"these look like logits; {hint}"
            )
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
        if self.pred_rows:
            rescale = "; Keras rescales each row to sum to 1" if loss.rescales_rows else ""
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
        if loss.takes_logs:
            for label, lowest in (("y_true", self.true_min), ("y_pred", low)):
                if lowest < 0:
                    out.append(
                        f"{name}: {label} has negative values (min {lowest:.4g}); "
                        f"{name} takes logarithms and expects values >= 0"
                    )
        return out


def _widen(span: list[float], values: np.ndarray) -> list[float]:
    """``[min, max]`` of what ``span`` covered and ``values`` (NaN when a NaN passed)."""
    return [min(span[0], float(np.min(values))), max(span[1], float(np.max(values)))]


def _row_not_summing_to_one(array: np.ndarray, axis: int, offset: int) -> tuple[int, float] | None:
    sums = np.sum(array, axis=axis)
    bad = np.abs(sums - 1.0) > 1e-3
    if not bad.any():
        return None
    index = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return offset + int(index[0]), float(sums[index])


# --- evaluation ---------------------------------------------------------------------------------


class _Task:
    """One loss being evaluated: its running sums, and the per-sample values if kept."""

    def __init__(self, loss: Loss, spec: str, with_baseline: bool) -> None:
        self.loss = loss
        self.spec = spec
        self.running = RunningReduction(loss.reduction)
        self.baseline = RunningReduction(loss.reduction) if with_baseline else None
        self.checks = InputChecks(loss)
        self.kept: list[np.ndarray] = []


class _Context:
    """What every chunk is evaluated with."""

    def __init__(
        self,
        tasks: list[_Task],
        opened: _Inputs,
        nan_policy: str,
        facts: BatchFacts | None,
        one_hot: bool,
    ) -> None:
        self.tasks = tasks
        self.labels = opened.labels
        self.scalar_weight = opened.scalar_weight
        self.nan_policy = nan_policy
        self.facts = facts
        self.one_hot = one_hot


class _Part:
    """One loss on one chunk."""

    def __init__(self, task: _Task) -> None:
        self.running = RunningReduction(task.loss.reduction)
        self.baseline = RunningReduction(task.loss.reduction) if task.baseline else None
        self.checks = InputChecks(task.loss)
        self.weighted: np.ndarray | None = None


class _Outcome:
    """What one chunk contributes, computed on a worker thread and merged in order."""

    def __init__(self, rows: int) -> None:
        self.rows = rows  # rows read, before any was dropped
        self.n = 0  # rows evaluated
        self.bad: dict[str, tuple[int, int]] = {}  # role -> (first bad row, non-finite count)
        self.parts: list[_Part] = []
        self.index: np.ndarray | None = None  # input row numbers of the rows evaluated
        self.lowest_weight = np.inf  # of the rows evaluated


def _evaluate_chunk(offset: int, raw: Chunk, ctx: _Context) -> _Outcome:
    chunk = _shape_chunk(raw, ctx.labels)
    outcome = _Outcome(len(chunk["y_pred"]))
    kept_rows = None
    if ctx.nan_policy != "propagate":
        bad = _bad_rows(chunk)
        if bad and ctx.nan_policy == "raise":
            for role, rows in bad.items():
                count = int(np.count_nonzero(~np.isfinite(chunk[role])))
                outcome.bad[role] = (offset + int(np.argmax(rows)), count)
            return outcome  # an error is coming: nothing to evaluate
        if bad:
            drop = np.logical_or.reduce(list(bad.values()))
            kept_rows = np.flatnonzero(~drop)
            chunk = {role: array[kept_rows] for role, array in chunk.items()}
    outcome.n = len(chunk["y_pred"])
    if not outcome.n:
        return outcome
    outcome.index = offset + (kept_rows if kept_rows is not None else np.arange(outcome.n))
    if ctx.one_hot:
        chunk["y_true"] = _shifted(
            lambda: to_categorical(chunk["y_true"], chunk["y_pred"].shape[-1]), offset, kept_rows
        )
    weights = chunk.get("sample_weight", ctx.scalar_weight)
    if "sample_weight" in chunk:
        outcome.lowest_weight = float(np.min(chunk["sample_weight"]))
    y_true, y_pred = chunk["y_true"], chunk["y_pred"]
    for task in ctx.tasks:
        part = _Part(task)
        part.checks.update(offset, y_true, y_pred)
        values, mask = _per_sample(task.loss, y_true, y_pred, ctx.facts, offset, kept_rows)
        part.weighted = part.running.add(values, weights, mask)
        if part.baseline is not None:
            baseline = chunk["baseline_pred"]
            b_values, b_mask = _per_sample(
                task.loss, y_true, baseline, ctx.facts, offset, kept_rows
            )
            part.baseline.add(b_values, weights, b_mask)
        outcome.parts.append(part)
    return outcome


#: Chunks evaluated at once: numpy releases the GIL, so two cores share the arithmetic.
WORKERS = min(2, os.cpu_count() or 1)
#: Above this time per input byte (measured on a chunk), chunks go to WORKERS threads:
#: 0.8 ms for a 2 MiB chunk. Measured here: MSE takes about 0.4 ms, BCE 1.7 ms.
PARALLEL_SECONDS_PER_BYTE = 0.8e-3 / (2 << 20)


class _Done:
    """A result already computed, with the ``result()`` of a future."""

    def __init__(self, value: _Outcome) -> None:
        self.value = value

    def result(self) -> _Outcome:
        return self.value


class _Inline:
    """An executor that runs each call at once, on this thread."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., _Outcome], *args: Any) -> _Done:
        return _Done(fn(*args))


def evaluate(
    losses: list[Loss],
    specs: list[str],
    inputs: InputSpec,
    *,
    nan_policy: str = "raise",
    gates: dict[int, list[Gate]] | None = None,
    keep_per_sample: bool = False,
    sink: PerSampleSink | None = None,
    progress: Progress | None = None,
    chunk_rows: int | None = None,
) -> Evaluation:
    """Evaluate every loss on the same inputs (and baseline), in one pass over the data.

    ``keep_per_sample`` keeps the weighted per-sample losses in memory
    (``Result.per_sample``); ``sink`` receives them chunk by chunk instead (then
    ``--reduction none`` results hold no values: the sink had them).
    """
    if nan_policy not in NAN_POLICIES:
        raise InputError(f"unknown NaN policy {nan_policy!r}; choose {', '.join(NAN_POLICIES)}")
    opened = _open_inputs(inputs)
    if any(loss.needs_facts for loss in losses):
        for source in opened.sources:
            source.spool()  # a first pass over the labels: standard input is kept in a file
    rows = chunk_rows or _chunk_rows(opened)
    total = opened.sources[0].n_rows if all(s.n_rows is not None for s in opened.sources) else None
    tasks = [
        _Task(loss, spec, bool(inputs.baseline_pred))
        for loss, spec in zip(losses, specs, strict=True)
    ]
    with np.errstate(all="ignore"):
        chunks = _aligned(opened, rows)
        if any(source.decodes for source in opened.sources):
            # Parsing CSV or decoding Parquet releases the GIL: a reader thread keeps the
            # second core busy. Plain .npy reads are copies, faster without thread handoffs.
            chunks = _prefetched(chunks)
        first = next(chunks, None)
        if first is None:
            raise InputError(f"{opened.labels['y_pred']} holds no samples")
        shaped = _shape_chunk(first[1], opened.labels)
        ndim = shaped["y_pred"].ndim
        for loss, spec in zip(losses, specs, strict=True):
            loss.check_axis(ndim)
            _check_labels(loss, spec, shaped, inputs)
        streaming = all(loss.streams(ndim) for loss in losses)
        if not streaming:
            # In-memory path: a loss over the whole input sees it as one chunk.
            everything = [first, *chunks]
            merged = {role: np.concatenate([c[role] for _, c in everything]) for role in first[1]}
            stream: Iterator[tuple[int, Chunk]] = iter([(0, merged)])
        else:
            stream = itertools.chain([first], chunks)
        facts = None
        if streaming and any(loss.needs_facts for loss in losses):
            facts = _whole_input_facts(opened, rows, nan_policy)
        ctx = _Context(tasks, opened, nan_policy, facts, inputs.one_hot)
        state = _Merged()
        # The first chunks are evaluated here, the third timed (the first ones pay for warming
        # up): arithmetic-heavy losses (logs, exps) then share the chunks between two cores;
        # cheap ones stay on this thread, where no handoff costs more than it saves.
        parallel = False
        for _ in range(3):
            item = next(stream, None)
            if item is None:
                break
            start = time.perf_counter()
            outcome = _evaluate_chunk(*item, ctx)
            seconds_per_byte = (time.perf_counter() - start) / max(
                sum(a.nbytes for a in item[1].values()), 1
            )
            state.merge(outcome, tasks, keep_per_sample, sink)
            full = len(item[1]["y_pred"]) == rows  # a short chunk's time is mostly overhead
            parallel = full and WORKERS > 1 and seconds_per_byte > PARALLEL_SECONDS_PER_BYTE
        if parallel:
            from concurrent.futures import ThreadPoolExecutor

            executor: Any = ThreadPoolExecutor(WORKERS, "losscli")
        else:
            executor = _Inline()
        with executor as pool:
            pending: deque[Any] = deque()  # futures, in input order
            try:
                for offset, raw in stream:
                    pending.append(pool.submit(_evaluate_chunk, offset, raw, ctx))
                    if len(pending) > WORKERS:
                        state.merge(pending.popleft().result(), tasks, keep_per_sample, sink)
                        if progress is not None:
                            progress(state.rows, total)
                while pending:
                    state.merge(pending.popleft().result(), tasks, keep_per_sample, sink)
                    if progress is not None:
                        progress(state.rows, total)
            finally:
                for future in pending:
                    if hasattr(future, "cancel"):
                        future.cancel()
        if state.first_bad is not None:
            role, row = state.first_bad
            raise _nan_error(opened.labels, role, row, state.counts[role], inputs.say)
        if state.n == 0:
            raise InputError("every row holds a NaN or inf: nothing is left to evaluate")
    results = []
    for i, task in enumerate(tasks):
        per_sample = None
        if task.kept:
            per_sample = np.concatenate(task.kept) if len(task.kept) > 1 else task.kept[0]
        if task.loss.reduction == "none":
            value, baseline = per_sample, None
        else:
            value = task.running.value()
            baseline = None if task.baseline is None else task.baseline.value()
        gates_i = (gates or {}).get(i, [])
        if gates_i and task.loss.reduction == "none":
            raise InputError(
                f"gates on {task.spec} need one value; --reduction none gives one per sample"
            )
        contributed = task.running.contributed
        messages = task.checks.messages()
        if not contributed and task.loss.reduction != "none":
            messages.append(
                f"{task.spec}: no sample contributed (every weight is 0 or every label is "
                f"masked): the value {value!r} is Keras' divide-no-nan, not a loss"
            )
        results.append(
            Result(
                task.spec,
                task.loss,
                value,
                state.n,
                per_sample,
                baseline,
                [g.check(value, baseline, contributed) for g in gates_i],
                messages,
            )
        )
    warnings = list(opened.warnings)
    for source in opened.sources:
        warnings += source.warnings
    if state.lowest_weight < 0:
        warnings.append(_negative_weights(state.lowest_weight))
    if state.omitted:
        warnings.append(omitted_warning(state.omitted, inputs.say))
    for result in results:
        warnings += result.warnings
    return Evaluation(results, dict(opened.labels), state.n, state.omitted, warnings)


class _Merged:
    """Chunk outcomes added up in input order."""

    def __init__(self) -> None:
        self.rows = 0
        self.n = 0
        self.omitted = 0
        self.first_bad: tuple[str, int] | None = None
        self.counts: dict[str, int] = {}
        self.lowest_weight = np.inf

    def merge(
        self,
        outcome: _Outcome,
        tasks: list[_Task],
        keep_per_sample: bool,
        sink: PerSampleSink | None,
    ) -> None:
        self.rows += outcome.rows
        for role, (_, count) in outcome.bad.items():
            self.counts[role] = self.counts.get(role, 0) + count
        if outcome.bad and self.first_bad is None:
            role = next(r for r in _ROLE_ORDER if r in outcome.bad)
            self.first_bad = (role, outcome.bad[role][0])
        if self.first_bad is not None:
            return  # an error is coming: only the counts matter
        self.n += outcome.n
        self.omitted += outcome.rows - outcome.n
        self.lowest_weight = min(self.lowest_weight, outcome.lowest_weight)
        if not outcome.parts:
            return
        for task, part in zip(tasks, outcome.parts, strict=True):
            task.running.merge(part.running)
            if task.baseline is not None and part.baseline is not None:
                task.baseline.merge(part.baseline)
            task.checks.merge(part.checks)
            # Per-sample values stay in memory when asked for, or when nothing else receives them.
            keep = keep_per_sample or (task.loss.reduction == "none" and sink is None)
            if part.weighted is not None and keep:
                task.kept.append(part.weighted)
        if sink is not None and outcome.index is not None:
            sink(
                [part.weighted for part in outcome.parts if part.weighted is not None],
                outcome.index,
            )


def _check_labels(loss: Loss, spec: str, chunk: Chunk, inputs: InputSpec) -> None:
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


def _per_sample(
    loss: Loss,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    facts: BatchFacts | None,
    offset: int,
    kept_rows: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    return _shifted(lambda: loss.per_sample(y_true, y_pred, facts), offset, kept_rows)


def _shifted(compute: Callable[[], Any], offset: int, kept_rows: np.ndarray | None) -> Any:
    """``compute()``, a RowError's row moved from the chunk to its place in the input."""
    try:
        return compute()
    except RowError as exc:
        row = int(kept_rows[exc.row]) if kept_rows is not None else exc.row
        raise RowError(exc.template, offset + row) from None


def _whole_input_facts(opened: _Inputs, rows: int, nan_policy: str) -> BatchFacts:
    """A first pass for the decisions Keras makes over the whole batch."""
    from losscli.functions import labels_are_binary

    for _, raw in _aligned(opened, rows):
        chunk = _shape_chunk(raw, opened.labels)
        if nan_policy == "omit":
            bad = _bad_rows(chunk)
            if bad:
                keep = ~np.logical_or.reduce(list(bad.values()))
                chunk = {role: array[keep] for role, array in chunk.items()}
        if not labels_are_binary(chunk["y_true"]):
            return BatchFacts(binary_labels=False)
    return BatchFacts(binary_labels=True)
