"""What CSV and Parquet share: columns selected by name or glob for each role, and arrow
columns converted to float64 (list columns to vectors of one width across the input)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import numpy as np

from losscli.errors import InputError, name_list, shorten
from losscli.io.readers.base import CSV_NULLS, EXACT_INTEGERS, Request, Source, large_integers


def looks_numeric(field: str) -> bool:
    field = field.strip().strip('"')
    if "_" in field or not field.isascii():  # Python reads 1_000 and Arabic digits; pyarrow not
        return False
    if field == "" or field in CSV_NULLS or field.lower() in ("inf", "-inf", "+inf", "nan"):
        return True
    try:
        float(field)
    except ValueError:
        return False
    return True


#: The role of the ``--group-by`` columns: their values, not numbers.
GROUP = "group"


def _plain(value: Any) -> Any:
    """A key value as plain Python: numpy scalars unwrapped, NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


class Text(str):
    """A CSV field of a ``--group-by`` column, as read: its type is the column's, known once
    every value is (``typed_keys``)."""

    __slots__ = ()


class GroupCodes:
    """The values met in the ``--group-by`` columns, each given a code on first sight, so a
    chunk's keys are integers (fast to slice and count); shared by the threads reading one
    source, hence the lock. ``value(j, code)`` gives a value back. ``text``: the columns are
    CSV text, an empty field the only null (their values ``Text``)."""

    def __init__(self, columns: int, text: bool = False) -> None:
        import threading

        self.values: list[list[Any]] = [[] for _ in range(columns)]
        self.codes: list[dict[Any, int]] = [{} for _ in range(columns)]
        self.lock = threading.Lock()
        self.text = text
        #: The most values a column may have, and the error past it: each value is at least
        #: one slice, so a column of more values than ``max_slices`` is refused at the chunk
        #: that shows it, and an id column costs no more memory than the limit allows.
        self.limit: tuple[int, Callable[[], Exception]] | None = None

    def encode(self, columns: list[Any]) -> np.ndarray:
        """Arrow columns (one per ``--group-by`` column) as an ``(n, columns)`` array of
        codes, through each column's dictionary: one lookup per distinct value, not per row.
        A null (or a NaN) is the value None."""

        n = len(columns[0])
        out = np.empty((n, len(columns)), dtype=np.int64)
        for j, column in enumerate(columns):
            column = _dictionary(column)
            # Refused before a value of the chunk becomes a Python object (+ 1: a NaN and a
            # null are one value, None).
            if self.limit is not None and len(column.dictionary) > self.limit[0] + 1:
                raise self.limit[1]()
            values = [
                None if isinstance(v, float) and v != v else v
                for v in column.dictionary.to_pylist()
            ]
            if self.text:
                values = [Text(v) if v else None for v in values]
            if column.indices.null_count:
                values.append(None)
            with self.lock:
                lookup = np.array([self._code(j, v) for v in values], dtype=np.int64)
            # A null index (a null row of a dictionary column) takes the last entry: None.
            indices = column.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)
            out[:, j] = lookup[indices]
        return out

    def _code(self, j: int, value: Any) -> int:
        code = self.codes[j].get(value)
        if code is None:
            if self.limit is not None and len(self.values[j]) >= self.limit[0]:
                raise self.limit[1]()
            code = self.codes[j][value] = len(self.values[j])
            self.values[j].append(_plain(value))
        return code

    def keys(self, table: np.ndarray) -> list[tuple[Any, ...]]:
        """Rows of codes (``(k, columns)``) as the slices' keys: tuples of their values as
        plain Python (numpy scalars unwrapped, a NaN as None)."""
        columns = [
            [self.values[j][code] for code in table[:, j].tolist()] for j in range(table.shape[1])
        ]
        return list(zip(*columns, strict=True))


def typed_keys(keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Slices' keys with CSV text (``Text``) typed as pyarrow infers each column from all
    its values: integers, floats (a NaN is null) or booleans; otherwise (text, dates) the text
    as it is. Several texts may give one key (``01`` and ``1``)."""
    if not any(isinstance(v, Text) for key in keys for v in key):
        return {}
    width = len(keys[0])
    columns = [
        _typed_column({key[j] for key in keys if isinstance(key[j], Text)}) for j in range(width)
    ]
    return {
        key: tuple(columns[j].get(v, v) if isinstance(v, Text) else v for j, v in enumerate(key))
        for key in keys
    }


def _typed_column(texts: set[Text]) -> dict[Text, Any]:
    """Each text of a column as pyarrow's CSV reader infers the column holding them all."""
    import pyarrow as pa
    from pyarrow import csv

    if not texts:
        return {}
    ordered = sorted(texts)
    quoted = "".join('"' + t.replace('"', '""') + '"\n' for t in ordered)
    try:
        column = csv.read_csv(
            pa.py_buffer(quoted.encode("utf-8", "surrogateescape")),
            read_options=csv.ReadOptions(column_names=["key"]),
            parse_options=csv.ParseOptions(newlines_in_values=True),
            convert_options=csv.ConvertOptions(null_values=[], strings_can_be_null=False),
        ).column(0)
    except (pa.ArrowInvalid, UnicodeError):
        return {t: str(t) for t in ordered}
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        return {t: str(t) for t in ordered}
    return dict(zip(ordered, (_plain(v) for v in column.to_pylist()), strict=True))


def _dictionary(column: Any) -> Any:
    """An arrow column dictionary-encoded, nulls as null indices; a dictionary that holds
    values no row has is decoded first (a value no row has is no slice)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        used = pc.count_distinct(column.indices, mode="only_valid").as_py()
        if used < len(column.dictionary):
            column = column.dictionary_decode()
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column, null_encoding="encode")
    return column


class TableSource(Source):
    """Shared by CSV and Parquet: column selection and conversion of record batches."""

    decodes = True
    #: The ``--group-by`` columns are read as text (CSV): typed once all is read.
    text_keys = False

    names: list[str]
    selected: dict[str, list[int]]
    group_codes: GroupCodes | None = None
    list_widths: dict[str, int]  # list column -> vector length, over every batch

    def _select(self, requests: dict[str, Request]) -> None:
        self._select_columns(requests)
        if GROUP in self.selected:
            self.group_codes = GroupCodes(len(self.selected[GROUP]), self.text_keys)

    def _select_columns(self, requests: dict[str, Request]) -> None:
        self.list_widths = {}
        self.roles = list(requests)
        self.selected = {}
        options: dict[str, dict[str, None]] = {}  # column -> the options that selected it
        for role, request in requests.items():
            chosen = self._columns_of(role, request)
            for i in chosen:
                options.setdefault(self.names[i], {})[request.option] = None
            self.selected[role] = chosen
        self.hints = {name: "/".join(chosen_by) for name, chosen_by in options.items()}
        #: The ``--group-by`` columns by name (a glob as the column it matched), for labels.
        self.group_names = [self.names[i] for i in self.selected.get(GROUP, ())]
        self.width = sum(len(indices) for indices in self.selected.values())

    def _columns_of(self, role: str, request: Request) -> list[int]:
        """The columns a role's patterns select, in the order named, each once."""
        chosen: list[int] = []
        for pattern in request.columns or ("*",):
            matched = [i for i, c in enumerate(self.names) if fnmatch.fnmatchcase(c, pattern)]
            if not matched:
                raise InputError(
                    f"{self.label}: no column matches {request.option} {shorten(pattern)!r}; "
                    f"the columns are {name_list(self.names)}"
                )
            if role == GROUP:
                _one_group_column(self.label, request.option, pattern, matched, chosen, self.names)
            chosen += [i for i in matched if i not in chosen]
            if request.columns and len(matched) > 1 and any(c in pattern for c in "*?["):
                self._families(request.option, pattern, [self.names[i] for i in matched])
        return chosen

    def _families(self, option: str, pattern: str, names: list[str]) -> None:
        """A warning when one glob takes a column and another named like it plus a suffix
        (``y_pred`` and ``y_pred_old``): two families, not one (a suffix of digits alone,
        ``p_1`` and ``p_10``, is the same family)."""
        for name in names:
            other = next(
                (
                    o
                    for o in names
                    if o != name and o.startswith(name) and not o[len(name) :].isdigit()
                ),
                None,
            )
            if other is not None:
                self.note(
                    f"{self.label}: {option} {shorten(pattern)!r} takes columns of different "
                    f"families, {shorten(name)!r} and {shorten(other)!r} (the first's name plus a "
                    "suffix); name the columns you mean"
                )
                return

    def _check_group_types(self, schema: Any) -> None:
        """A ``--group-by`` column of lists or structs is an error: a key is one value."""
        import pyarrow as pa

        for i in self.selected.get(GROUP, ()):
            if i < len(schema.names) and pa.types.is_nested(schema.field(i).type):
                name = self.names[i]
                raise InputError(
                    f"{self.label}: {self.hints[name]} column {shorten(name)!r} holds "
                    f"{schema.field(i).type}, not single values: a slice's key is text, a "
                    "number, a date or a boolean; group by such a column"
                )

    def _roles(self, column: Any, n: int, offset: int) -> dict[str, np.ndarray]:
        """A batch as one array per role: ``column(i, as_text)`` gives the i-th column (a hive
        partition key's value as text when ``as_text``); numbers as float64, the
        ``--group-by`` columns as codes of their values (``GroupCodes``)."""
        converted: dict[int, np.ndarray] = {}
        out = {}
        for role, indices in self.selected.items():
            if role == GROUP:
                assert self.group_codes is not None
                out[role] = self.group_codes.encode([column(i, True) for i in indices])
                continue
            for i in indices:
                if i not in converted:
                    converted[i] = self._numeric(column(i, False), self.names[i], offset)
            parts = [converted[i].reshape(n, -1) for i in indices]
            out[role] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return out

    def _numeric(self, column: Any, name: str, offset: int) -> np.ndarray:
        """A column as float64: ``(N,)``, or ``(N, k)`` for a list column; nulls become NaN."""
        import pyarrow as pa

        kind = column.type
        if pa.types.is_float64(kind):  # as most are: no cast, nor pyarrow.compute's import
            return _as_numpy(column, np.float64)
        if _is_list(kind):
            return _list_column(column, name, self.label, offset, self.list_widths)
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            self._note_large_integers(column, name)
            # safe=False: uint64 and int64 beyond 2**53 become the nearest float64.
            return _as_numpy(column.cast(pa.float64(), safe=False), np.float64)
        if pa.types.is_null(kind):
            return np.full(len(column), np.nan)
        values = column.to_pylist()
        bad = next(
            (i for i, v in enumerate(values) if v is not None and not looks_numeric(str(v))), 0
        )
        raise not_numeric(self.label, name, bad + offset, values[bad], self.hints[name])

    def _note_large_integers(self, column: Any, name: str) -> None:
        """A warning when a 64-bit integer column holds integers float64 cannot keep exact."""
        import pyarrow as pa

        if not (pa.types.is_integer(column.type) and column.type.bit_width == 64 and len(column)):
            return
        import pyarrow.compute as pc

        low, high = pc.min_max(column).values()
        largest = max(abs(low.as_py() or 0), abs(high.as_py() or 0))
        if largest > EXACT_INTEGERS:
            self.note(large_integers(f"{self.label}: column {shorten(name)!r}", largest))


def _is_list(kind: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )


def _one_group_column(
    label: str, option: str, pattern: str, matched: list[int], chosen: list[int], names: list[str]
) -> None:
    """A ``--group-by`` pattern names one column, and no column twice."""
    if len(matched) > 1:
        raise InputError(
            f"{label}: {option} {shorten(pattern)!r} matches {len(matched)} columns "
            f"({name_list(names[i] for i in matched)}); give one {option} per column"
        )
    if matched[0] in chosen:
        raise InputError(
            f"{label}: {option} names the column {shorten(names[matched[0]])!r} twice; give it once"
        )


def not_numeric(label: str, name: str, row: int, value: Any, hint: str) -> InputError:
    shown = shorten(value if isinstance(value, bytes) else repr(value))  # bytes: not UTF-8
    return InputError(
        f"{label}: column {shorten(name)!r} is not numeric (row {row} has {shown}); "
        f"select numeric columns with {hint}"
    )


def _as_numpy(values: Any, dtype: type) -> np.ndarray:
    """A pyarrow float64 or int64 array (or chunked array) as numpy, nulls as NaN, read from
    its buffers: pyarrow's ``to_numpy`` imports pandas, 70 MiB for nothing here."""
    import pyarrow as pa

    parts: list[np.ndarray] = []
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        if not len(chunk):
            continue
        validity, data = chunk.buffers()[:2]
        array: np.ndarray = np.frombuffer(data, dtype, len(chunk), chunk.offset * 8)
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
            array = np.where(
                bits[chunk.offset : chunk.offset + len(chunk)].astype(bool), array, np.nan
            )
        parts.append(array)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype)


def first_unreadable(values: Any) -> int | None:
    """The position of the first of the ``values`` (bytes) that pyarrow cannot read as a
    float64, as its CSV reader does (UTF-8, blanks around); None when every one reads.
    Found by bisecting casts: pyarrow's own rules, in a few dozen casts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def fails(part: Any) -> bool:
        try:
            pc.utf8_trim_whitespace(part.cast(pa.string())).cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return True
        return False

    if not fails(values):
        return None
    low, high = 0, len(values)  # the first failure is in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if fails(values.slice(low, middle - low)):
            high = middle
        else:
            low = middle
    return low


def _list_column(
    column: Any, name: str, label: str, offset: int, widths: dict[str, int]
) -> np.ndarray:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = _list_lengths(column)
    expected = widths.setdefault(name, int(lengths[0]) if len(lengths) else 0)
    bad = (lengths != expected) | (lengths < 0)
    if bad.any():
        row = int(np.argmax(bad)) + offset
        raise InputError(
            f"{label}: list column {name!r} holds vectors of different lengths (row {row} has "
            f"{int(lengths[row - offset])}, earlier rows {expected}); every row needs the same "
            "length"
        )
    if expected == 0:
        raise InputError(
            f"{label}: list column {name!r} holds empty vectors; a loss needs at least one "
            "value per sample"
        )
    width = expected
    flat = column.flatten()  # the values of the rows that are lists, in order
    if not pa.types.is_float64(flat.type):
        flat = flat.cast(pa.float64())
    return _as_numpy(flat, np.float64).reshape(len(lengths), width)


def _list_lengths(column: Any) -> np.ndarray:
    """Each row's number of values, -1 for a null row; from the offsets, without
    pyarrow.compute (its import alone costs 45 ms) when no row is null."""
    import pyarrow as pa

    if column.null_count == 0:
        if pa.types.is_fixed_size_list(column.type):
            return np.full(len(column), column.type.list_size, dtype=np.int64)
        offsets = column.offsets  # the rows' bounds in the values, the slice's own
        item = 8 if pa.types.is_large_list(column.type) else 4
        bounds = np.frombuffer(
            offsets.buffers()[1], f"<i{item}", len(offsets), offsets.offset * item
        )
        return np.diff(bounds).astype(np.int64)
    import pyarrow.compute as pc

    return _as_numpy(pc.list_value_length(column).fill_null(-1).cast(pa.int64()), np.int64)
