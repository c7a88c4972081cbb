"""``--plot PATH``: the per-sample loss distribution as a picture, and with ``--group-by`` each
slice's value with its interval (``--ci``) as a dot and a bar; written atomically.

``.png`` and ``.svg`` are drawn by matplotlib (the optional extra ``losscli[plot]``); ``.html`` is
a self-contained page (``plot_html``: inline SVG charts, and the data as JSON in the page), with
nothing to install. The value axis is logarithmic when the distribution's bins are
(``--plot-scale``). Slice keys and loss names are drawn as plain text. No click, no rich.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from losscli.engine.results import Result
from losscli.errors import InputError, setting
from losscli.io.writers import atomic_write, check_output_path
from losscli.report.plot_rows import by_loss, finite_rows, is_log, scale_note, slice_rows, title

SUFFIXES = (".png", ".svg", ".html")
OPTION = setting("plot")


def check_plot_path(path: str, inputs: Iterable[str], force: bool = False) -> Path:
    """Refuse an unknown suffix, an input, a directory, an existing file (without ``force``);
    a picture format without matplotlib."""
    target = check_output_path(path, inputs, force, OPTION, SUFFIXES)
    suffix = target.suffix.lower()
    if suffix != ".html":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError(
                f"{OPTION} {path}: {suffix} pictures need matplotlib: pip install "
                "'losscli[plot]' (or write .html, which needs nothing)"
            ) from None
    return target


def write_plot(path: str, results: list[Result], force: bool = False, scale: str = "auto") -> None:
    """Draw every result's distribution (and each loss's slices) to ``path``, replacing it
    atomically. ``scale`` is the ``--plot-scale`` asked for: the bins are logarithmic when
    the distribution says ``"scale": "log"``."""
    shown = [r for r in results if r.distribution is not None and r.distribution["count"]]
    sliced = by_loss(results)
    if not shown and not sliced:
        raise InputError(f"{OPTION} {path}: no per-sample losses to draw")
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".html":
        from losscli.report.plot_html import page

        data = page(shown, sliced, scale).encode()
        atomic_write(target, lambda tmp: tmp.write_bytes(data), force=force, option=OPTION)
    else:
        draw = lambda tmp: _matplotlib(shown, sliced, tmp, suffix[1:], scale)  # noqa: E731
        atomic_write(target, draw, force=force, option=OPTION)


def _matplotlib(
    results: list[Result], sliced: dict[str, list[Result]], tmp: Path, fmt: str, scale: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot as plt

    log_specs = {r.spec for r in results if is_log(r)}
    heights = [3.0] * len(results) + [1 + 0.3 * len(found) for found in sliced.values()]
    # Keys and loss names are text: never TeX, never mathtext ($x^{$ is a slice key).
    with matplotlib.rc_context({"text.usetex": False}):
        figure, axes = plt.subplots(
            len(heights),
            1,
            figsize=(8, sum(heights)),
            squeeze=False,
            gridspec_kw={"height_ratios": heights},
        )
        for ax, (spec, found) in zip(axes[len(results) :, 0], sliced.items(), strict=True):
            _slice_axes(ax, spec, found, spec in log_specs)
        for ax, result in zip(axes[: len(results), 0], results, strict=True):
            d = result.distribution or {}
            edges, counts = d["edges"], d["counts"]
            widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
            ax.bar(edges[:-1], counts, width=widths, align="edge", color="#4878a8")
            if is_log(result):
                if edges[0] > 0:
                    ax.set_xscale("log")
                else:
                    ax.set_xscale("symlog", linthresh=edges[1])
            top = max(counts)
            for i, (name, value) in enumerate(d["quantiles"].items()):
                ax.axvline(value, color="#c03030", linestyle="--", linewidth=1)
                label = f"{name} {value:.4g}"  # staggered: close quantiles keep apart
                ax.annotate(label, (value, top * (1 - 0.1 * i)), fontsize=8, color="#c03030")
            ax.set_title(title(result), fontsize=10, parse_math=False)
            caption = f"weighted per-sample loss, {scale_note(result, scale)}"
            ax.set_xlabel(caption, parse_math=False)
            ax.set_ylabel("samples")
        try:
            figure.tight_layout()
            figure.savefig(tmp, format=fmt)
        finally:
            plt.close(figure)


def _slice_axes(ax: Any, spec: str, found: list[Result], log: bool) -> None:
    """Each slice's value as a dot, its interval as a bar, the whole input on top."""
    rows = slice_rows(found)
    positions = list(range(len(rows)))[::-1]  # the whole input on top
    shown = [
        (y, row) for y, row in zip(positions, rows, strict=True) if math.isfinite(row["value"])
    ]
    if shown:
        has_ci = any(row["ci"] is not None for _, row in shown)
        ax.errorbar(
            [row["value"] for _, row in shown],
            [y for y, _ in shown],
            xerr=_error_bars(shown) if has_ci else None,
            fmt="o",
            color="#4878a8",
            ecolor="#c03030",
            capsize=3,
        )
    ax.set_yticks(positions, [row["slice"] for row in rows], fontsize=8, parse_math=False)
    _annotate_slices(ax, positions, rows)
    _slice_scale_and_title(ax, spec, found, rows, log)


def _error_bars(shown: list[tuple[int, dict[str, Any]]]) -> list[list[float]]:
    """How far each interval reaches below and above its value (0 without one, or past
    float64)."""
    values = [row["value"] for _, row in shown]
    errors = [
        [max(v - (row["ci"] or [v, v])[0], 0) for v, (_, row) in zip(values, shown, strict=True)],
        [max((row["ci"] or [v, v])[1] - v, 0) for v, (_, row) in zip(values, shown, strict=True)],
    ]
    return [[e if math.isfinite(e) else 0 for e in side] for side in errors]


def _annotate_slices(ax: Any, positions: list[int], rows: list[dict[str, Any]]) -> None:
    """Each finite value and its interval as text right of the chart; then any other value
    (nan, inf) as itself, in red, at the left."""
    for y, row in zip(positions, rows, strict=True):  # the value and its interval as text
        if math.isfinite(row["value"]):
            low, high = row["ci"] or (None, None)
            text = f"{row['value']:.4g}" + ("" if low is None else f" [{low:.4g}, {high:.4g}]")
            ax.annotate(text, (1.02, y), xycoords=("axes fraction", "data"), fontsize=8,
                        va="center", annotation_clip=False)  # fmt: skip
    for y, row in zip(positions, rows, strict=True):
        if not math.isfinite(row["value"]):
            ax.annotate(repr(row["value"]), (0.01, y), xycoords=("axes fraction", "data"),
                        fontsize=8, color="#c03030", va="center")  # fmt: skip


def _slice_scale_and_title(
    ax: Any, spec: str, found: list[Result], rows: list[dict[str, Any]], log: bool
) -> None:
    """A log axis where the losses are logarithmic and it helps (a tenfold range of positive
    ends); the title says the intervals' level."""
    ends = finite_rows(rows)
    if log and ends and min(ends) > 0 and max(ends) >= 10 * min(ends):
        ax.set_xscale("log")
    level = next((r.ci.level for r in found if r.ci is not None), None)
    note = f", {level:.0%} intervals" if level is not None else ""
    ax.set_title(f"{spec} by slice{note}", fontsize=10, parse_math=False)
    ax.set_xlabel("loss, log scale" if ax.get_xscale() == "log" else "loss")
