"""One rectangular table per run: ``-f csv``, ``Report.to_pandas()`` and the worst samples'
file (``--worst-output``). A result's columns are its JSON keys, nested ones flattened with
``_`` (``ci_low``, ``slice_region``, ``distribution_quantiles_p50``), so every format names a
fact alike. No click, no rich.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from losscli.engine.results import Result
from losscli.errors import setting
from losscli.text import shown

#: Not columns of a result: the worst samples have rows of their own (JSON, ``--worst-output``)
#: and so do the histogram's bins (JSON).
NOT_COLUMNS = ("worst", "distribution_edges", "distribution_counts")
WORST_SUFFIXES = (".csv", ".parquet")


def flat_result(entry: dict[str, Any], gates: str | None = None) -> dict[str, Any]:
    """A JSON result as one row: nested keys joined with ``_``; ``gates`` as their text
    (``max 0.35 PASS``); the whole input's ``"slice": null`` leaves the slice columns empty."""
    flat: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                put(f"{key}_{name}", item)
        elif key not in NOT_COLUMNS:
            flat[key] = value

    for key, value in entry.items():
        if key == "slice" and value is None:
            continue
        put(key, gates if key == "gates" else value)
    return flat


def merged_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Every row's keys once, each after the key that precedes it in its first row (a slice's
    columns after ``n_samples``, though the whole input's row has none)."""
    columns: list[str] = []
    for row in rows:
        at = 0
        for key in row:
            if key in columns:
                at = columns.index(key) + 1
            else:
                columns.insert(at, key)
                at += 1
    return columns


def result_rows(
    document: dict[str, Any], results: Sequence[Result]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and one row per result of a run's JSON document."""
    from losscli.report.render import gates_text

    rows = [
        flat_result(entry, gates_text(result) if result.gates else None)
        for entry, result in zip(document["results"], results, strict=True)
    ]
    return merged_columns(rows), rows


def cell(value: Any) -> str:
    """A CSV cell: numbers as the shortest text that reads back the same, booleans and lists
    as in JSON, null as empty."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text; no control character (a slice key's, a spec's, a key column's
    name) reaches it raw, and a URI's user part is redacted, as in JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_csv_text(c) for c in columns])
    writer.writerows([_csv_text(cell(row.get(c))) for c in columns] for row in rows)
    return out.getvalue()


def _csv_text(text: str) -> str:
    """A cell's text: control characters escaped, and so a backslash doubled first, so that
    the text ``x\\ny`` and ``x``, a newline, ``y`` stay two values (``x\\\\ny``, ``x\\ny``)."""
    return shown(text.replace("\\", "\\\\"))


def render_csv(document: dict[str, Any], results: Sequence[Result]) -> str:
    """``-f csv``: a header and one row per result (loss x slice)."""
    return to_csv(*result_rows(document, results))


def to_pandas(document: dict[str, Any], results: Sequence[Result]) -> Any:
    """The CSV's table as a DataFrame, and ``worst`` holding each result's list when asked.
    A slice key keeps its type (the CSV's text is for files): integers a nullable ``Int64``
    column, booleans a nullable ``boolean`` one, floats ``float64``, datetimes
    ``datetime64``, and dates, times, decimals and binary the Python values they are; the
    whole input's row has none (missing)."""
    import pandas as pd

    columns, rows = result_rows(document, results)
    frame = pd.DataFrame(rows, columns=columns)
    keys: dict[str, list[Any]] = {}
    for i, result in enumerate(results):
        for name, value in (result.slice or {}).items():
            keys.setdefault(f"slice_{name}", [None] * len(results))[i] = value
    for column, values in keys.items():
        if column in frame.columns:  # always: every key is a CSV column
            frame[column] = _key_column(values, frame.index)
    if any("worst" in entry for entry in document["results"]):
        frame["worst"] = [entry.get("worst") for entry in document["results"]]
    return frame


def _key_column(values: list[Any], index: Any) -> Any:
    """A slice key's column, typed by its values (None: the whole input's row)."""
    import pandas as pd

    present = [v for v in values if v is not None]
    if present and _integers(present):
        return pd.array(values, dtype="Int64")
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        return pd.array(values, dtype="boolean")
    return pd.Series(values, index=index, dtype=object).infer_objects()


def _integers(values: list[Any]) -> bool:
    return all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values
    )


# --- the worst samples' file -------------------------------------------------------------------

WORST_KEYS = ("rank", "row", "y_true", "y_pred", "weight", "loss")


def worst_rows(document: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per worst sample: the result's ``spec`` and slice columns, ``rank`` (1 is the
    largest), then the keys of a JSON worst sample."""
    rows = []
    for entry in document["results"]:
        if not entry.get("worst"):
            continue
        head = flat_result({"spec": entry["spec"], "slice": entry.get("slice")})
        for rank, sample in enumerate(entry["worst"], 1):
            rows.append({**head, "rank": rank, **sample})
    # The slices' columns when a slice lists its own worst samples.
    keys = merged_columns(rows)
    return ["spec", *(k for k in keys if k.startswith("slice_")), *WORST_KEYS], rows


def check_worst_path(path: str, inputs: Iterable[str], force: bool) -> Path:
    """``--worst-output``: a ``.csv`` or ``.parquet`` file that is no input (nor exists,
    without ``force``)."""
    from losscli.io.writers import check_output_path

    return check_output_path(path, inputs, force, setting("worst_output"), WORST_SUFFIXES)


def write_worst(target: Path, document: dict[str, Any], force: bool) -> int:
    """Write the worst samples of every result to ``target`` (CSV or Parquet by suffix),
    atomically; how many rows."""
    from losscli.io.writers import atomic_write

    columns, rows = worst_rows(document)

    def write(tmp: Path) -> None:
        if target.suffix.lower() == ".csv":
            tmp.write_text(to_csv(columns, rows), encoding="utf-8")
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c: [row.get(c) for row in rows] for c in columns})
        pq.write_table(table, tmp)

    atomic_write(target, write, force=force, option=setting("worst_output"))
    return len(rows)
