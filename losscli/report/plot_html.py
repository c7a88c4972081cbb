"""``--plot PATH.html``: a self-contained page that reads without hovering. Each loss's
histogram is an inline SVG chart with axes, ticks and their labels, a title naming the loss,
and the p50/p90/p99 lines labelled with their values; each slice chart shows every slice's
value and interval as a dot and a bar and as text. The value axis is linear or logarithmic as
the distribution's bins are (``--plot-scale``), said in the axis' caption.

The data rides along as JSON in ``<script type="application/json">`` islands, escaped so that
no key closes or comments out the script (``<`` as ``\\u003c``); a non-finite number is
``null`` there, and the ``losscli-nonfinite`` island maps its JSON pointer to ``inf``, ``-inf``
or ``nan``. No click, no rich.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from losscli.engine.results import Result
from losscli.report.plot_rows import finite_rows, is_log, scale_note, slice_rows, title

WIDTH = 720
BLUE, RED, GREY = "#4878a8", "#c03030", "#555"


class Axis:
    """Values to pixels from ``start`` to ``end``: linear, logarithmic (every value
    positive), or logarithmic above ``threshold`` and linear below it (zeros)."""

    def __init__(
        self,
        low: float,
        high: float,
        start: float,
        end: float,
        log: bool = False,
        threshold: float | None = None,
    ) -> None:
        self.low, self.high, self.start, self.end = low, high, start, end
        self.log = log and high > 0 and (low > 0 or threshold is not None)
        self.threshold = threshold if threshold is not None and low <= 0 else low

    def _unit(self, value: float) -> float:
        if not self.log:
            return value
        if value < self.threshold:
            return value / self.threshold
        return 1 + math.log10(value / self.threshold)

    def __call__(self, value: float) -> float:
        low, high = self._unit(self.low), self._unit(self.high)
        if high <= low:
            return (self.start + self.end) / 2
        return self.start + (self._unit(value) - low) / (high - low) * (self.end - self.start)

    def ticks(self) -> list[float]:
        if not self.log:
            return nice_ticks(self.low, self.high)
        top = self.threshold
        found = [self.low] if self.low < self.threshold else []
        for multiples in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
            decade = 10.0 ** math.floor(math.log10(top))
            logs = []
            while decade <= self.high * (1 + 1e-9):
                logs += [m * decade for m in multiples if top <= m * decade <= self.high * 1.000001]
                decade *= 10
            if len(logs) >= 3 or multiples[-1] == 9:
                break
        ticks = found + logs
        return ticks if len(ticks) >= 2 else nice_ticks(self.low, self.high)


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round values (1, 2, 2.5 or 5 times a power of ten apart) from ``low`` to ``high``."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    return [round(k * step, 12) for k in range(first, math.floor(high / step + 1e-9) + 1)]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _text(x: float, y: float, body: str, **attributes: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{html.escape(body)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, color: str, **attributes: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attributes.items())
    return (
        f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" stroke="{color}"{extra}/>'
    )


def _x_axis(axis: Axis, y: float, caption: str) -> list[str]:
    marks = [_line(axis.start, y, axis.end, y, GREY)]
    for tick in axis.ticks():
        x = axis(tick)
        marks.append(_line(x, y, x, y + 5, GREY))
        marks.append(_text(x, y + 18, _number(tick), font_size="11", text_anchor="middle"))
    middle = (axis.start + axis.end) / 2
    marks.append(_text(middle, y + 36, caption, font_size="12", text_anchor="middle"))
    return marks


def histogram_svg(result: Result, scale: str) -> str:
    """The histogram: bars, both axes with ticks, the title, the quantile lines."""
    d = result.distribution or {}
    edges, counts = d["edges"], d["counts"]
    left, right, top, bottom = 70.0, WIDTH - 30.0, 60.0, 250.0
    axis = Axis(edges[0], edges[-1], left, right, is_log(result), threshold=edges[1])
    most = max(counts) or 1
    counts_axis = nice_ticks(0, most, 4)
    height_top = max(counts_axis[-1], most)

    def y(count: float) -> float:
        return bottom - (bottom - top) * count / height_top

    marks = [_text(left, 22, title(result), font_size="14", font_weight="bold")]
    for i, count in enumerate(counts):
        a, b = axis(edges[i]), axis(edges[i + 1])
        marks.append(
            f'<rect x="{a:.2f}" y="{y(count):.2f}" width="{max(b - a - 0.5, 0.5):.2f}" '
            f'height="{bottom - y(count):.2f}" fill="{BLUE}"><title>'
            f"[{edges[i]!r}, {edges[i + 1]!r}): {count}</title></rect>"
        )
    marks.append(_line(left, top, left, bottom, GREY))
    for tick in counts_axis:
        marks.append(_line(left - 5, y(tick), left, y(tick), GREY))
        marks.append(
            _text(left - 8, y(tick) + 4, f"{tick:,.0f}", font_size="11", text_anchor="end")
        )
    marks.append(
        _text(
            16,
            (top + bottom) / 2,
            "samples",
            font_size="12",
            text_anchor="middle",
            transform=f"rotate(-90 16 {(top + bottom) / 2:.1f})",
        )  # fmt: skip
    )
    caption = f"weighted per-sample loss, {scale_note(result, scale)}"
    marks += _x_axis(axis, bottom, caption)
    for i, (name, value) in enumerate(d["quantiles"].items()):
        x = axis(value)
        marks.append(_line(x, top - 6, x, bottom, RED, stroke_dasharray="4 3"))
        label = f"{name} {_number(value)}"
        anchor = "end" if x > (left + right) / 2 else "start"
        shift = -3 if anchor == "end" else 3
        marks.append(
            _text(x + shift, 36 + 11 * i, label, font_size="11", fill=RED, text_anchor=anchor)
        )
    return _svg(WIDTH, 300, marks)


def slices_svg(spec: str, found: list[Result], log: bool) -> str:
    """Each slice a row: its label, a dot at its value and a bar over its interval, and both
    as text; an axis with ticks under the rows."""
    rows = slice_rows(found)
    ends = finite_rows(rows)
    low, high = (min(ends), max(ends)) if ends else (0.0, 1.0)
    if high == low:
        low, high = low - 0.5 * abs(low or 1), high + 0.5 * abs(high or 1)
    left, right, step, top = 200.0, 480.0, 22.0, 52.0
    axis = Axis(low, high, left, right, log and low > 0)
    level = next((r.ci.level for r in found if r.ci is not None), None)
    note = f", {level:.0%} intervals as red bars" if level is not None else ""
    marks = [_text(4, 22, f"{spec} by slice{note}", font_size="14", font_weight="bold")]
    marks.append(_text(right + 10, top - 16, "value [interval]", font_size="11", fill=GREY))
    for i, row in enumerate(rows):
        marks += _slice_row(row, axis, top + i * step, right + 10)
    bottom = top + len(rows) * step - 8
    marks += _x_axis(axis, bottom, "loss" + (", log scale" if axis.log else ""))
    return _svg(WIDTH, int(bottom + 48), marks)


def _slice_row(row: dict[str, Any], axis: Axis, y: float, text_x: float) -> list[str]:
    """One slice's marks at height ``y``: its label, its interval's bar, its value's dot, and
    the value and interval as text at ``text_x``."""
    marks = [_text(4, y + 4, row["slice"], font_size="12")]
    value, ci = row["value"], row["ci"]
    shown = _number(value) if math.isfinite(value) else repr(value)
    if ci is not None:
        shown += f" [{', '.join(_number(v) if v is not None else 'none' for v in ci)}]"
        if all(v is not None and math.isfinite(v) for v in ci):
            a, b = axis(ci[0]), axis(ci[1])
            marks.append(_line(a, y, b, y, RED, stroke_width="2"))
            marks += [_line(x, y - 4, x, y + 4, RED) for x in (a, b)]
    if math.isfinite(value):
        marks.append(
            f'<circle cx="{axis(value):.2f}" cy="{y:.1f}" r="4" fill="{BLUE}"><title>'
            f"{html.escape(row['slice'])}: {value!r}</title></circle>"
        )
    marks.append(_text(text_x, y + 4, shown, font_size="12"))
    return marks


def _svg(width: int, height: int, marks: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">{"".join(marks)}</svg>'
    )


def page(results: list[Result], sliced: dict[str, list[Result]], scale: str) -> str:
    """The page: a chart per loss and per sliced loss, then the data islands."""
    log_specs = {r.spec for r in results if is_log(r)}
    sections = "".join(
        f"<section>{histogram_svg(r, scale)}<p>min {r.distribution['min']!r}, max "
        f"{r.distribution['max']!r}</p></section>"
        for r in results
        if r.distribution is not None
    )
    sections += "".join(
        f"<section>{slices_svg(spec, found, spec in log_specs)}</section>"
        for spec, found in sliced.items()
    )
    nonfinite: dict[str, str] = {}
    data = _finite({r.spec: r.distribution for r in results}, "/data", nonfinite)
    slices = _finite(
        {spec: slice_rows(found) for spec, found in sliced.items()}, "/slices", nonfinite
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>losscli: '
        "per-sample losses</title><style>body{font-family:sans-serif;margin:2em}"
        "section{margin-bottom:2em}</style></head><body>"
        f"<h1>Per-sample losses</h1>{sections}"
        f"{_island('losscli-data', data)}{_island('losscli-slices', slices)}"
        f"{_island('losscli-nonfinite', nonfinite)}"
        "</body></html>\n"
    )


def _finite(value: Any, pointer: str, flags: dict[str, str]) -> Any:
    """``value`` with every non-finite number as None, its JSON pointer in ``flags``."""
    if isinstance(value, float) and not math.isfinite(value):
        flags[pointer] = repr(value)
        return None
    if isinstance(value, dict):
        return {
            k: _finite(v, f"{pointer}/{str(k).replace('~', '~0').replace('/', '~1')}", flags)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_finite(v, f"{pointer}/{i}", flags) for i, v in enumerate(value)]
    return value


def _island(name: str, data: Any) -> str:
    """JSON in a script element: no ``<``, ``>`` or ``&`` in it, so no key can end the script,
    open a comment or a tag (``<!--<script>``), whatever an HTML parser does."""
    text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{name}">{text}</script>'
