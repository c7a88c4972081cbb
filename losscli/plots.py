"""``--plot PATH``: the per-sample loss distribution as a picture, and with ``--group-by`` each
slice's value with its interval (``--ci``) as a dot and a bar; written atomically.

``.png`` and ``.svg`` are drawn by matplotlib (the optional extra ``losscli[plot]``); ``.html`` is
a self-contained page drawn here (inline SVG charts, and the data as JSON in the page), with
nothing to install. No click, no rich.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from losscli.errors import InputError
from losscli.results import Result
from losscli.writers import atomic_write, check_report_path, written_through

SUFFIXES = (".png", ".svg", ".html")
OPTION = "--plot"


def check_plot_path(path: str, inputs: Iterable[str], force: bool = False) -> Path:
    """Refuse an unknown suffix, an input, a directory, an existing file (without ``force``);
    a picture format without matplotlib."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{OPTION} {path}: unknown suffix; use {', '.join(SUFFIXES)}")
    target = check_report_path(path, inputs, OPTION)
    if target.exists() and not force and not written_through(target):
        raise InputError(f"{OPTION} {path} already exists; pass --force to replace it")
    if suffix != ".html":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError(
                f"{OPTION} {path}: {suffix} pictures need matplotlib: pip install "
                "'losscli[plot]' (or write .html, which needs nothing)"
            ) from None
    return target


def write_plot(path: str, results: list[Result], force: bool = False) -> None:
    """Draw every result's distribution (and each loss's slices) to ``path``, replacing it
    atomically."""
    shown = [r for r in results if r.distribution is not None and r.distribution["count"]]
    sliced = _slices(results)
    if not shown and not sliced:
        raise InputError(f"{OPTION} {path}: no per-sample losses to draw")
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".html":
        page = _html(shown, sliced).encode()
        atomic_write(target, lambda tmp: _write_bytes(tmp, page), force=force, option=OPTION)
    else:
        draw = lambda tmp: _matplotlib(shown, sliced, tmp, suffix[1:])  # noqa: E731
        atomic_write(target, draw, force=force, option=OPTION)


def _slices(results: list[Result]) -> dict[str, list[Result]]:
    """Per loss, its results by slice (the whole input first), those with a value."""
    by_spec: dict[str, list[Result]] = {}
    for result in results:
        if result.slice is not None and result.value is not None:
            by_spec.setdefault(result.spec, []).append(result)
    return {spec: found for spec, found in by_spec.items() if len(found) > 1}


def _slice_rows(results: list[Result]) -> list[dict[str, Any]]:
    """What a slice chart shows: each slice's label, value and interval (None without)."""
    from losscli.results import slice_label

    return [
        {
            "slice": slice_label(r.slice or {}),
            "value": float(r.value),
            "ci": None if r.ci is None else [r.ci.low, r.ci.high],
            "n_samples": r.n_samples,
        }
        for r in results
    ]


def _title(result: Result) -> str:
    d = result.distribution or {}
    q = d["quantiles"]
    return (
        f"{result.spec}: {d['count']:,} samples, p50 {q['p50']:.4g}, p90 {q['p90']:.4g}, "
        f"p99 {q['p99']:.4g}"
    )


def _matplotlib(
    results: list[Result], sliced: dict[str, list[Result]], tmp: Path, fmt: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot as plt

    heights = [3.0] * len(results) + [1 + 0.3 * len(found) for found in sliced.values()]
    figure, axes = plt.subplots(
        len(heights),
        1,
        figsize=(8, sum(heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, (spec, found) in zip(axes[len(results) :, 0], sliced.items(), strict=True):
        rows = _slice_rows(found)
        positions = list(range(len(rows)))[::-1]  # the whole input on top
        values = [row["value"] for row in rows]
        errors = [
            [max(v - (row["ci"] or [v, v])[0], 0) for v, row in zip(values, rows, strict=True)],
            [max((row["ci"] or [v, v])[1] - v, 0) for v, row in zip(values, rows, strict=True)],
        ]
        has_ci = any(row["ci"] is not None for row in rows)
        ax.errorbar(
            values,
            positions,
            xerr=errors if has_ci else None,
            fmt="o",
            color="#4878a8",
            ecolor="#c03030",
            capsize=3,
        )
        ax.set_yticks(positions, [row["slice"] for row in rows], fontsize=8)
        level = next((r.ci.level for r in found if r.ci is not None), None)
        note = f", {level:.0%} intervals" if level is not None else ""
        ax.set_title(f"{spec} by slice{note}", fontsize=10)
        ax.set_xlabel("loss")
    for ax, result in zip(axes[: len(results), 0], results, strict=True):
        d = result.distribution or {}
        edges, counts = d["edges"], d["counts"]
        widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color="#4878a8")
        for name, value in d["quantiles"].items():
            ax.axvline(value, color="#c03030", linestyle="--", linewidth=1)
            ax.annotate(name, (value, max(counts)), fontsize=8, color="#c03030")
        ax.set_title(_title(result), fontsize=10)
        ax.set_xlabel("weighted per-sample loss")
        ax.set_ylabel("samples")
    figure.tight_layout()
    figure.savefig(tmp, format=fmt)
    plt.close(figure)


def _svg_bars(result: Result, width: int = 640, height: int = 200) -> str:
    d = result.distribution or {}
    counts = d["counts"]
    top = max(counts) or 1
    step = width / len(counts)
    bars = []
    for i, count in enumerate(counts):
        h = height * count / top
        low, high = d["edges"][i], d["edges"][i + 1]
        bars.append(
            f'<rect x="{i * step:.2f}" y="{height - h:.2f}" width="{max(step - 1, 0.5):.2f}" '
            f'height="{h:.2f}" fill="#4878a8"><title>[{low!r}, {high!r}): {count}</title></rect>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{"".join(bars)}</svg>'
    )


def _svg_slices(rows: list[dict[str, Any]], width: int = 640) -> str:
    """Each slice a line: its label, a dot at its value, a bar over its interval."""
    ends = [x for row in rows for x in (row["ci"] or [row["value"]]) if math.isfinite(x)]
    low, high = min(ends), max(ends)
    span = (high - low) or 1.0
    left, right, step = 200, width - 20, 22

    def x(value: float) -> float:
        return left + (right - left) * (value - low) / span

    marks = []
    for i, row in enumerate(rows):
        y = 16 + i * step
        label = html.escape(row["slice"])
        marks.append(f'<text x="4" y="{y + 4}" font-size="12">{label}</text>')
        if row["ci"] is not None and all(math.isfinite(v) for v in row["ci"]):
            a, b = (x(v) for v in row["ci"])
            marks.append(
                f'<line x1="{a:.2f}" y1="{y}" x2="{b:.2f}" y2="{y}" stroke="#c03030" '
                'stroke-width="2"/>'
            )
        marks.append(
            f'<circle cx="{x(row["value"]):.2f}" cy="{y}" r="4" fill="#4878a8">'
            f"<title>{label}: {row['value']!r}</title></circle>"
        )
    height = 16 + len(rows) * step
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{"".join(marks)}</svg>'
    )


def _html(results: list[Result], sliced: dict[str, list[Result]]) -> str:
    data: dict[str, Any] = {r.spec: r.distribution for r in results}
    sections = "".join(
        f"<section><h2>{html.escape(_title(r))}</h2>{_svg_bars(r)}"
        f"<p>min {r.distribution['min']!r}, max {r.distribution['max']!r}</p></section>"
        for r in results
        if r.distribution is not None
    )
    by_slice = {spec: _slice_rows(found) for spec, found in sliced.items()}
    sections += "".join(
        f"<section><h2>{html.escape(spec)} by slice</h2>{_svg_slices(rows)}</section>"
        for spec, rows in by_slice.items()
    )
    payload = json.dumps(data, allow_nan=False).replace("</", "<\\/")
    slices = json.dumps(by_slice).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>losscli: per-sample '
        "losses</title><style>body{font-family:sans-serif;margin:2em}</style></head><body>"
        f"<h1>Per-sample losses</h1>{sections}"
        f'<script type="application/json" id="losscli-data">{payload}</script>'
        f'<script type="application/json" id="losscli-slices">{slices}</script>'
        "</body></html>\n"
    )


def _write_bytes(tmp: Path, data: bytes) -> None:
    tmp.write_bytes(data)
