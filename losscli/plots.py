"""``--plot PATH``: the per-sample loss distribution as a picture, written atomically.

``.png`` and ``.svg`` are drawn by matplotlib (the optional extra ``losscli[plot]``); ``.html`` is
a self-contained page drawn here (an inline SVG bar chart per loss, and the data as JSON in the
page), with nothing to install. No click, no rich.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from losscli.engine import Result
from losscli.errors import InputError
from losscli.writers import atomic_write, check_report_path

SUFFIXES = (".png", ".svg", ".html")
OPTION = "--plot"


def check_plot_path(path: str, inputs: Iterable[str]) -> Path:
    """Refuse an unknown suffix, an input, a directory; a picture format without matplotlib."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{OPTION} {path}: unknown suffix; use {', '.join(SUFFIXES)}")
    target = check_report_path(path, inputs, OPTION)
    if suffix != ".html":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError(
                f"{OPTION} {path}: {suffix} pictures need matplotlib: pip install "
                "'losscli[plot]' (or write .html, which needs nothing)"
            ) from None
    return target


def write_plot(path: str, results: list[Result]) -> None:
    """Draw every result's distribution to ``path``, replacing it atomically."""
    shown = [r for r in results if r.distribution is not None and r.distribution["count"]]
    if not shown:
        raise InputError(f"{OPTION} {path}: no per-sample losses to draw")
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".html":
        page = _html(shown).encode()
        atomic_write(target, lambda tmp: _write_bytes(tmp, page), option=OPTION)
    else:
        atomic_write(target, lambda tmp: _matplotlib(shown, tmp, suffix[1:]), option=OPTION)


def _title(result: Result) -> str:
    d = result.distribution or {}
    q = d["quantiles"]
    return (
        f"{result.spec}: {d['count']:,} samples, p50 {q['p50']:.4g}, p90 {q['p90']:.4g}, "
        f"p99 {q['p99']:.4g}"
    )


def _matplotlib(results: list[Result], tmp: Path, fmt: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(len(results), 1, figsize=(8, 3 * len(results)), squeeze=False)
    for ax, result in zip(axes[:, 0], results, strict=True):
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


def _html(results: list[Result]) -> str:
    data: dict[str, Any] = {r.spec: r.distribution for r in results}
    sections = "".join(
        f"<section><h2>{html.escape(_title(r))}</h2>{_svg_bars(r)}"
        f"<p>min {r.distribution['min']!r}, max {r.distribution['max']!r}</p></section>"
        for r in results
        if r.distribution is not None
    )
    payload = json.dumps(data, allow_nan=False).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>losscli: per-sample '
        "losses</title><style>body{font-family:sans-serif;margin:2em}</style></head><body>"
        f"<h1>Per-sample losses</h1>{sections}"
        f'<script type="application/json" id="losscli-data">{payload}</script>'
        "</body></html>\n"
    )


def _write_bytes(tmp: Path, data: bytes) -> None:
    tmp.write_bytes(data)
