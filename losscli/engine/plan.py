"""Plan and read: which sources serve which roles, and chunks of the same rows from all of
them. ``InputSpec`` names the inputs as the user gave them; ``open_inputs`` opens one source
per distinct file; ``aligned`` cuts their blocks into chunks of the same rows; ``prefetched``
reads ahead on a thread. No click, no rich."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from losscli.engine.input_checks import column_names, negative_weights, same_inputs
from losscli.engine.inputs import (
    Chunk,
    InputSpec,
)
from losscli.errors import InputError, setting
from losscli.io.readers import (
    STDIN,
    Request,
    Source,
    csv_delimiter,
    describe_source,
    open_source,
    parse_number,
    path_kind,
    reader_for,
    split_npz_key,
)
from losscli.io.readers.memory import InMemory, memory_source
from losscli.io.readers.tables import GROUP

NAN_POLICIES = ("raise", "omit", "propagate")

CHUNK_BYTES = 2 << 20  # per chunk, over all inputs: small enough to stay in cache

MIN_CHUNK_ROWS = 16384


class Inputs:
    def __init__(
        self, sources: list[Source], labels: dict[str, str], scalar_weight: float | None
    ) -> None:
        self.sources = sources
        self.labels = labels  # role -> where it comes from
        self.scalar_weight = scalar_weight
        self.warnings = same_inputs(sources, labels)
        #: Each role's columns, when read from a table (``baseline`` for the baseline's).
        self.columns = _selected_columns(sources)
        if scalar_weight is not None and scalar_weight < 0:
            self.warnings.append(negative_weights(scalar_weight))


class _Wanted:
    """Which roles each source serves, and where each role comes from, as messages say it."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, Request]] = {}
        self.labels: dict[str, str] = {}  # role -> where it comes from

    def __call__(self, source: str, role: str, request: Request) -> None:
        self.requests.setdefault(source, {})[role] = request
        self.labels[role] = describe_source(source)


def open_inputs(spec: InputSpec) -> Inputs:
    """One source per distinct file, each serving the roles read from it."""
    want = _Wanted()
    delimiter = csv_delimiter(spec.delimiter, spec.say)
    if spec.data:
        _want_table(spec, want)
    else:
        _want_files(spec, want)
    scalar = _want_weights(spec, want)
    _want_baseline(spec, want)
    sources = [
        memory_source(source, roles)
        if isinstance(source, InMemory)
        else open_source(
            source,
            roles,
            input_format=spec.input_format,
            header=spec.header,
            delimiter=delimiter,
            only=spec.only if source == spec.data else (),
            say=spec.say,
        )
        for source, roles in want.requests.items()
    ]
    return Inputs(sources, want.labels, scalar)


def _is_array_file(source: Any, input_format: str | None) -> bool:
    """A file whose reader gives one array, not columns (an array given in Python is asked)."""
    if isinstance(source, InMemory):
        return not source.is_table()
    return not reader_for(source, input_format).table


def _want_table(spec: InputSpec, want: _Wanted) -> None:
    """Labels, predictions, weights and group-by keys as columns of one table (``data``)."""
    say = spec.say
    assert spec.data is not None
    if spec.y_true or spec.y_pred:
        raise InputError(f"give either {say('data')} or {say('y_true')}/{say('y_pred')}, not both")
    if not spec.true_cols or not spec.pred_cols:
        raise InputError(
            f"{say('data')} needs {say('true_col')} and {say('pred_col')} to say which "
            "columns to use"
        )
    if not isinstance(spec.data, InMemory) and _is_array_file(spec.data, spec.input_format):
        raise InputError(
            f"{spec.data} is an array file; {say('data')} needs a table (CSV or Parquet)"
        )
    want(spec.data, "y_true", Request(tuple(spec.true_cols), say("true_col")))
    want(spec.data, "y_pred", Request(tuple(spec.pred_cols), say("pred_col")))
    if spec.groups:
        raise InputError(
            f"{say('groups')} is for labels and predictions in separate files; with "
            f"{say('data')}, {say('group_by')} names columns of that table"
        )
    if spec.group_by:
        want(spec.data, GROUP, Request(tuple(spec.group_by), say("group_by")))
    if spec.weight_col:
        if spec.sample_weight is not None:
            raise InputError(f"give either {say('sample_weight')} or {say('weight_col')}, not both")
        want(spec.data, "sample_weight", _weight_request(spec))


def _want_files(spec: InputSpec, want: _Wanted) -> None:
    """Labels and predictions in files (or arrays) of their own, group-by keys in ``groups``."""
    say = spec.say
    if spec.group_by and not spec.groups:
        raise InputError(
            f"{say('group_by')} takes columns of a table: give {say('data')} with "
            f"{say('true_col')} and {say('pred_col')}, or {say('groups')} PATH, a table "
            "of those columns row for row with the files"
        )
    if spec.groups:
        if not spec.group_by:
            raise InputError(f"{say('groups')} needs {say('group_by')} COL: its columns")
        if not isinstance(spec.groups, InMemory) and _is_array_file(spec.groups, spec.input_format):
            raise InputError(f"{spec.groups}: {say('groups')} needs a table (CSV or Parquet)")
        want(spec.groups, GROUP, Request(tuple(spec.group_by), say("group_by")))
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


def _weight_request(spec: InputSpec) -> Request:
    return Request((spec.weight_col,) if spec.weight_col else (), spec.say("weight_col"))


def _want_weights(spec: InputSpec, want: _Wanted) -> float | None:
    """The sample weights: a file or an array to read, or one number for every sample (then
    returned); a column of ``data`` is wanted already."""
    weight = spec.sample_weight
    if isinstance(weight, InMemory):
        want(weight, "sample_weight", _weight_request(spec))
        return None
    if isinstance(weight, (int, float)):
        if not np.isfinite(weight):
            raise InputError(f"the sample weight {weight} is not a finite number")
        want.labels["sample_weight"] = repr(float(weight))
        return float(weight)
    if weight is None or "sample_weight" in want.labels:
        return None
    number = parse_number(weight)
    exists = weight == STDIN or _exists(weight)
    if exists:
        want(weight, "sample_weight", _weight_request(spec))
        return None
    if number is None:
        raise InputError(
            f"{spec.say('sample_weight')} {weight!r} is neither a number nor an existing file"
        )
    if not np.isfinite(number):
        raise InputError(f"the sample weight {weight} is not a finite number")
    want.labels["sample_weight"] = weight
    return number


def _want_baseline(spec: InputSpec, want: _Wanted) -> None:
    """The baseline's predictions: a file of their own, or columns of the predictions' table."""
    say = spec.say
    if spec.baseline_pred is not None:
        is_table = not _is_array_file(spec.baseline_pred, spec.input_format)
        if spec.baseline_cols:
            request = Request(tuple(spec.baseline_cols), say("baseline_col"))
        else:
            request = Request(tuple(spec.pred_cols) if is_table else (), say("pred_col"))
        want(spec.baseline_pred, "baseline_pred", request)
    elif spec.baseline_cols:  # the baseline's columns in the predictions' table
        request = Request(tuple(spec.baseline_cols), say("baseline_col"))
        want(spec.data or spec.y_pred or "", "baseline_pred", request)


_COLUMN_KEYS = {
    "y_true": "y_true",
    "y_pred": "y_pred",
    "sample_weight": "sample_weight",
    "baseline_pred": "baseline",
}


def _selected_columns(sources: list[Source]) -> dict[str, list[str]]:
    by_role = {role: source for source in sources for role in source.roles}
    found = {}
    for role, key in _COLUMN_KEYS.items():
        names = column_names(by_role[role], role) if role in by_role else None
        if names is not None:
            found[key] = names
    return found


def _exists(path: str) -> bool:
    return path_kind(split_npz_key(path)[0]) is not None


def as_samples(array: np.ndarray, what: str) -> np.ndarray:
    """Rows are samples: a vector of N values is N samples of one value, ``(N, 1)``."""
    if array.ndim == 0:
        raise InputError(f"{what} holds a single number; it needs one row per sample")
    return array.reshape(-1, 1) if array.ndim == 1 else array


def rows_per_chunk(inputs: Inputs) -> int:
    """Rows per chunk so that a chunk of every input is about CHUNK_BYTES of float64."""
    width = sum(max(source.width, 1) for source in inputs.sources)
    # Wide rows (many classes) still get enough rows per chunk to keep the per-chunk cost small.
    return max(MIN_CHUNK_ROWS, CHUNK_BYTES // (8 * width))


def _count_mismatch(inputs: Inputs, counts: dict[int, int]) -> InputError:
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
        (GROUP, f"the {setting('group_by')} columns"),
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


def aligned(inputs: Inputs, rows: int) -> Iterator[tuple[int, Chunk]]:
    """Chunks of the same ``rows`` rows from every source, with their first row's index: each
    source's blocks are cut and joined where the chunks fall."""
    known = [s.n_rows for s in inputs.sources]
    if all(n is not None for n in known) and len(set(known)) > 1:
        raise _count_mismatch(inputs, dict(enumerate(known)))  # type: ignore[arg-type]
    iterators = [s.read(rows) for s in inputs.sources]
    pending: list[list[Chunk]] = [[] for _ in iterators]
    consumed = [0] * len(iterators)
    offset = 0
    while True:
        available = [
            _top_up(blocks, it, rows) for blocks, it in zip(pending, iterators, strict=True)
        ]
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
            head, pending[i] = _cut(blocks, n)
            chunk.update(head)
            consumed[i] += n
        yield offset, chunk
        offset += n


def _top_up(blocks: list[Chunk], source: Iterator[Chunk], rows: int) -> int:
    """Blocks of a source added to ``blocks`` until they hold ``rows`` rows or the source
    ends; the rows they hold."""
    held = sum(_rows(b) for b in blocks)
    while held < rows:
        block = next(source, None)
        if block is None:
            break
        blocks.append(block)
        held += _rows(block)
    return held


def _cut(blocks: list[Chunk], n: int) -> tuple[Chunk, list[Chunk]]:
    """The first ``n`` rows of ``blocks`` (one array per role), and what is left."""
    merged = {
        role: np.concatenate([b[role] for b in blocks]) if len(blocks) > 1 else blocks[0][role]
        for role in blocks[0]
    }
    rest = {role: array[n:] for role, array in merged.items()}
    return {role: array[:n] for role, array in merged.items()}, [rest] if _rows(rest) else []


def prefetched(iterator: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run ``iterator`` in a thread, ``depth`` items ahead: reading overlaps computing. Closing
    the generator (or its end) stops the thread, closes ``iterator`` and joins the thread."""
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
        finally:
            # The readers closed here, on the thread that read them, before it ends.
            getattr(iterator, "close", lambda: None)()

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
