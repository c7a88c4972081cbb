"""The worst samples (``--worst K``) and the distribution (``--histogram``) as text: the rows
of the worst samples' table, the histogram's lines, Markdown tables. JSON carries them in each
result (``render.report``), CSV its distribution's summary (``render_csv``); the terminal draws
these rows and lines (``losscli.cli.tables``).
"""

from __future__ import annotations

from typing import Any

from losscli.engine.results import Result
from losscli.text import escape

#: Named as the keys of a JSON result (``spec``, ``slice``) and of a worst sample.
WORST_HEADER = ["spec", "rank", "row", "y_true", "y_pred", "weight", "loss"]
#: Numbers of a vector shown in a table before "...".
SHOWN = 3
BAR = 40  # characters of the longest bar


def number(value: Any, integral: bool = False) -> str:
    """The shortest text that reads back the same; ``integral``: a whole number as one
    (``3``, not ``3.0``)."""
    if value is None:
        return "null"
    if integral:
        return str(int(value))
    return repr(float(value))


def vector(value: Any, whole: bool, integral: bool = False) -> str:
    """A row's y_true or y_pred: a number, or a vector (its first values in a table)."""
    if not isinstance(value, list):
        return number(value, integral)
    flat = _flat(value)
    shown = flat if whole or len(flat) <= SHOWN else flat[:SHOWN]
    more = "" if len(shown) == len(flat) else f", ... ({len(flat)})"
    return "[" + ", ".join(number(v, integral) for v in shown) + more + "]"


def _integral(samples: list[dict[str, Any]], key: str) -> bool:
    """Whether every value of ``key`` in these samples is a whole number (class labels)."""
    values = [v for s in samples for v in _flat(s[key])]
    return bool(values) and all(
        isinstance(v, (int, float)) and float(v).is_integer() and abs(v) < 2**53 for v in values
    )


def _flat(value: Any) -> list[float]:
    if isinstance(value, list):
        return [x for item in value for x in _flat(item)]
    return [value]


def worst_header(results: list[Result]) -> list[str]:
    """The worst samples' columns: a ``slice`` column when a slice lists its own."""
    sliced = any(r.slice and r.worst for r in results)
    return WORST_HEADER[:1] + ["slice"] * sliced + WORST_HEADER[1:]


def worst_rows(results: list[Result], whole: bool = False) -> list[list[str]]:
    """One row per worst sample of every result, largest first within each loss (and each
    slice). Labels that are all whole numbers print as integers."""
    from losscli.engine.results import slice_label

    sliced = "slice" in worst_header(results)
    every = [s for r in results for s in r.worst or []]
    integral = {key: _integral(every, key) for key in ("y_true", "y_pred")}
    rows = []
    for result in results:
        where = [slice_label(result.slice or {})] if sliced else []
        for rank, sample in enumerate(result.worst or [], 1):
            rows.append(
                [
                    escape(result.spec),
                    *where,
                    str(rank),
                    str(sample["row"]),
                    vector(sample["y_true"], whole, integral["y_true"]),
                    vector(sample["y_pred"], whole, integral["y_pred"]),
                    number(sample["weight"]),
                    number(sample["loss"]),
                ]
            )
    return rows


def summary_pieces(result: Result) -> list[str]:
    """The summary line's pieces, each kept whole on a line: ``mse [region=eu]:``, ``1,000
    samples (exact):``, ``min 0.0,``, ``p50 ...,``, ..., ``max ...``."""
    from losscli.engine.results import slice_label

    d = result.distribution or {}
    how = (
        "exact"
        if d.get("method") == "exact"
        else (f"sketch, quantiles within {d.get('relative_accuracy', 0):.1%}")
    )
    name = escape(result.spec) + (f" [{slice_label(result.slice)}]" if result.slice else "")
    pieces = [f"{name}:", f"{d.get('count', 0):,} samples ({how})"]
    if d.get("count"):
        pieces[-1] += ":"
        stats = [("min", d["min"]), *d["quantiles"].items(), ("max", d["max"])]
        pieces += [f"{key} {number(value)}," for key, value in stats]
        pieces[-1] = pieces[-1][:-1]
    if d.get("nonfinite"):
        pieces[-1] += ";"
        pieces.append(f"{d['nonfinite']:,} NaN or inf not counted")
    return pieces


def summary_line(result: Result) -> str:
    """``mse: 1,000 samples (exact): min 0.0, p50 ..., p90 ..., p99 ..., max ...``."""
    return " ".join(summary_pieces(result))


def summary_lines(result: Result, width: int | None = None) -> list[str]:
    """The summary line, folded to ``width`` between its pieces (never inside a number; a
    continued line is indented); piped (``None``), one line."""
    if width is None:
        return [summary_line(result)]
    lines: list[str] = []
    for piece in summary_pieces(result):
        if lines and len(lines[-1]) + 1 + len(piece) <= width:
            lines[-1] += " " + piece
        else:
            lines.append(("    " if lines else "") + piece)
    return lines


def histogram_lines(result: Result, bar: str = "#", width: int | None = None) -> list[str]:
    """The summary line, then one line per bin: ``[low, high)  count  ####``; at ``width``
    columns the bars are shortened to fit."""
    d = result.distribution or {}
    lines = summary_lines(result, width)
    counts, edges = d.get("counts", []), d.get("edges", [])
    if not counts:
        return lines
    labels = [  # 6 digits on a terminal; the JSON document has every edge in full
        f"[{edges[i]:.6g}, {edges[i + 1]:.6g}{']' if i == len(counts) - 1 else ')'}"
        for i in range(len(counts))
    ]
    label_width = max(len(label) for label in labels)
    count_width = max(len(f"{c:,}") for c in counts)
    top = max(counts) or 1
    longest = BAR if width is None else max(1, min(BAR, width - label_width - count_width - 6))
    for label, count in zip(labels, counts, strict=True):
        length = round(longest * count / top)
        if count and not length:
            length = 1  # a bin with samples shows at least one mark
        lines.append(f"  {label:<{label_width}}  {count:>{count_width},}  {bar * length}".rstrip())
    return lines


DISTRIBUTION_HEADER = ["spec", "count", "min", "p50", "p90", "p99", "max"]


def distribution_rows(results: list[Result]) -> tuple[list[str], list[list[str]]]:
    """The distribution's summary, one row per result that has one (``slice`` when sliced)."""
    from losscli.engine.results import slice_label

    chosen = [r for r in results if r.distribution is not None]
    sliced = any(r.slice is not None for r in chosen)
    header = DISTRIBUTION_HEADER[:1] + ["slice"] * sliced + DISTRIBUTION_HEADER[1:]
    rows = []
    for r in chosen:
        d = r.distribution or {}
        where = [slice_label(r.slice or {})] if sliced else []
        stats = [d.get("min"), *(d.get("quantiles") or {}).values(), d.get("max")]
        if not d.get("count"):
            stats = [None] * 5
        rows.append([escape(r.spec), *where, f"{d.get('count', 0):,}", *(number(v) for v in stats)])
    return header, rows


def render_markdown_sections(results: list[Result]) -> str:
    """One table of the worst samples, one of the distributions (the bins are in JSON)."""
    from losscli.report.render import markdown_table

    text = ""
    if any(r.worst is not None for r in results):
        text += "\n" + markdown_table(worst_header(results), worst_rows(results))
    if any(r.distribution is not None for r in results):
        text += "\n" + markdown_table(*distribution_rows(results))
    return text
