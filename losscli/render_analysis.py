"""Output of the worst samples (``--worst K``) and of the distribution (``--histogram``): a
second table under the results, a terminal histogram, CSV and Markdown sections. JSON carries
them in each result (``render.report``). rich is imported only to print on a terminal.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from losscli.results import Result
from losscli.text import escape

WORST_HEADER = ["loss", "rank", "row", "y_true", "y_pred", "weight", "value"]
#: Numbers of a vector shown in a table before "...".
SHOWN = 3
BAR = 40  # characters of the longest bar


def number(value: Any) -> str:
    return repr(float(value))


def vector(value: Any, whole: bool) -> str:
    """A row's y_true or y_pred: a number, or a vector (its first values in a table)."""
    if not isinstance(value, list):
        return number(value)
    flat = _flat(value)
    if whole or len(flat) <= SHOWN:
        return "[" + ", ".join(number(v) for v in flat) + "]"
    return "[" + ", ".join(number(v) for v in flat[:SHOWN]) + f", ... ({len(flat)})]"


def _flat(value: Any) -> list[float]:
    if isinstance(value, list):
        return [x for item in value for x in _flat(item)]
    return [value]


def worst_rows(results: list[Result], whole: bool = False) -> list[list[str]]:
    """One row per worst sample of every result, largest first within each loss (and each
    slice: ``mse [region=eu]``)."""
    from losscli.results import slice_label

    rows = []
    for result in results:
        name = escape(result.spec) + (f" [{slice_label(result.slice)}]" if result.slice else "")
        for rank, sample in enumerate(result.worst or [], 1):
            rows.append(
                [
                    name,
                    str(rank),
                    str(sample["row"]),
                    vector(sample["y_true"], whole),
                    vector(sample["y_pred"], whole),
                    number(sample["weight"]),
                    number(sample["loss"]),
                ]
            )
    return rows


def summary_line(result: Result) -> str:
    """``mse: 1,000 samples (exact): min 0.0, p50 ..., p90 ..., p99 ..., max ...``."""
    d = result.distribution or {}
    how = (
        "exact"
        if d.get("method") == "exact"
        else (f"sketch, quantiles within {d.get('relative_accuracy', 0):.1%}")
    )
    parts = [f"{escape(result.spec)}: {d.get('count', 0):,} samples ({how})"]
    if d.get("count"):
        stats = [("min", d["min"]), *d["quantiles"].items(), ("max", d["max"])]
        parts.append(", ".join(f"{name} {number(value)}" for name, value in stats))
    if d.get("nonfinite"):
        parts.append(f"{d['nonfinite']:,} NaN or inf not counted")
    return ": ".join(parts[:2]) + ("; " + parts[2] if len(parts) > 2 else "")


def histogram_lines(result: Result, bar: str = "#") -> list[str]:
    """The summary line, then one line per bin: ``[low, high)  count  ####``."""
    d = result.distribution or {}
    lines = [summary_line(result)]
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
    for label, count in zip(labels, counts, strict=True):
        length = round(BAR * count / top)
        if count and not length:
            length = 1  # a bin with samples shows at least one mark
        lines.append(f"  {label:<{label_width}}  {count:>{count_width},}  {bar * length}".rstrip())
    return lines


def render_csv_sections(results: list[Result]) -> str:
    """CSV sections after the results, each after a blank line with its own header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if any(r.worst is not None for r in results):
        out.write("\n")
        writer.writerow(WORST_HEADER)
        writer.writerows(worst_rows(results, whole=True))
    if any(r.distribution is not None for r in results):
        out.write("\n")
        writer.writerow(["loss", "bin_low", "bin_high", "count"])
        for r in results:
            d = r.distribution or {}
            edges = d.get("edges", [])
            for i, count in enumerate(d.get("counts", [])):
                writer.writerow([escape(r.spec), number(edges[i]), number(edges[i + 1]), count])
    return out.getvalue()


def render_markdown_sections(results: list[Result]) -> str:
    from losscli.render import markdown_table

    text = ""
    if any(r.worst is not None for r in results):
        text += "\n" + markdown_table(WORST_HEADER, worst_rows(results))
    for r in results:
        if r.distribution is not None:
            lines = histogram_lines(r)
            text += f"\n{lines[0]}\n\n```\n" + "\n".join(lines[1:]) + "\n```\n"
    return text


def worst_table(results: list[Result], width: int | None = None) -> Any:
    from losscli.render import table

    return table(WORST_HEADER, worst_rows(results), width)
