"""The terminal tables: rich tables that never split a number, a name or a status, and fold
to one block per row when the terminal is too narrow."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from losscli.report.render import (
    check_table_rows,
    compact,
    result_header,
    result_rows,
)
from losscli.text import shown

if TYPE_CHECKING:
    from losscli.engine.results import Result
    from losscli.report.checkrun import CheckRun


#: The only columns whose text may fold across lines; numbers, names and PASS/FAIL never do.
FOLDABLE = ("config", "parameters", "also accepted", "description", "name")
_STYLES = {"PASS": "green", "FAIL": "bold red", "ERROR": "bold red"}

#: Columns of numbers, right-aligned.
NUMERIC = ("value", "n_samples", "ci_low", "ci_high", "baseline", "difference")


def table(
    header: list[str],
    rows: list[list[str]],
    width: int | None = None,
    caption: str = "",
    numeric: Sequence[str] = NUMERIC,
) -> Any:
    """A rich table that never splits a number, a name or a status; when ``width`` columns
    cannot hold it even with the foldable text folded, one block of ``name: value`` lines per
    row instead. ``caption``: what every row shares, a line above (folded between words)."""
    from rich.console import Group
    from rich.text import Text

    header = [shown(name) for name in header]
    rows = [[shown(cell) for cell in row] for row in rows]  # no value moves the cursor
    grid = _grid(header, rows, numeric)
    above = [*caption_lines(caption, width), Text("")] if caption else []
    if width is None or _fits(grid, [header, *rows], width):
        return Group(*above, grid)
    blocks: list[Any] = []
    for row in rows:
        for name, cell in zip(header, row, strict=True):
            if cell:
                blocks += _block_lines(name, cell, width)
        blocks.append(Text(""))
    return Group(*above, *blocks[:-1])


def _grid(header: list[str], rows: list[list[str]], numeric: Sequence[str]) -> Any:
    """The rich table: numbers right-aligned, only the ``FOLDABLE`` columns wrapping (between
    words), PASS/FAIL/ERROR in colour."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, column in enumerate(header):
        foldable = column in FOLDABLE
        grid.add_column(
            column,
            justify="right" if column in numeric else "left",
            overflow="fold" if foldable else "ellipsis",
            no_wrap=not foldable,
            # Foldable text wraps between words, never inside one.
            min_width=max((len(w) for r in [header, *rows] for w in r[i].split()), default=0)
            if foldable
            else None,
        )
    for row in rows:
        grid.add_row(*(Text(cell, style=_STYLES.get(cell, "")) for cell in row))
    return grid


def _fits(grid: Any, cells: list[list[str]], width: int) -> bool:
    """Whether ``grid`` holds in ``width`` columns with no cell cut short. Rendered once to
    see: rich's measure can promise a width its folding then misses, and squeezed columns
    end in an ellipsis."""
    from rich.cells import cell_len
    from rich.console import Console

    trial = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    trial.print(grid, crop=False)
    text = trial.export_text()
    own = sum(cell.count("…") for row in cells for cell in row)  # a key's own
    return text.count("…") <= own and all(cell_len(line) <= width for line in text.splitlines())


#: What begins a block's line that goes on with the one before: never text of a value, which
#: could start a line (a CI runner reads a line starting ``::`` as a command).
CONTINUED = "  ↳ "


def folded(text: str, width: int | None) -> list[str]:
    """``text`` in lines of at most ``width`` cells (one line when ``width`` is None), broken at
    the last space that fits, else inside a word; each line after the first begins with
    ``CONTINUED``, so no text of a value (a column's name) starts a line."""
    from rich.cells import cell_len

    lines: list[str] = []
    prefix = ""
    while True:
        room = max((width or 0) - cell_len(prefix), 8)
        if width is None or cell_len(text) <= room:
            return [*lines, prefix + text]
        end = used = 0
        for char in text:
            used += cell_len(char)
            if used > room:
                break
            end += 1
        end = max(end, 1)
        space = text.rfind(" ", 0, end + 1)
        head, text = (text[:space], text[space + 1 :]) if space > 0 else (text[:end], text[end:])
        lines.append(prefix + head)
        prefix = CONTINUED


def caption_lines(caption: str, width: int | None) -> list[Any]:
    """A line above or under a table (what its rows share, the columns read), escaped and
    folded at ``width`` under ``CONTINUED`` marks: rich never wraps it."""
    from rich.text import Text

    return [Text(line, no_wrap=True) for line in folded(shown(caption), width)]


def caption_block(caption: str, width: int | None) -> Any:
    """A caption on its own, between tables."""
    from rich.console import Group

    return Group(*caption_lines(caption, width))


def _block_lines(name: str, cell: str, width: int) -> list[Any]:
    """``name: cell`` in lines of at most ``width`` cells; each line after the first begins
    with ``CONTINUED``."""
    from rich.cells import cell_len
    from rich.text import Text

    style = _STYLES.get(cell, "")
    room = max(width - cell_len(f"{name}: "), 8)
    lines: list[Any] = []
    start = piece = 0
    for i, char in enumerate(cell):
        piece += cell_len(char)
        if piece > room:
            lines.append(cell[start:i])
            start, piece, room = i, cell_len(char), max(width - cell_len(CONTINUED), 8)
    lines.append(cell[start:])
    return [Text.assemble((f"{name}: ", "bold"), (lines[0], style))] + [
        Text.assemble(CONTINUED, (line, style), no_wrap=True) for line in lines[1:]
    ]


def results_table(
    results: list[Result], names: list[str] | None = None, width: int | None = None
) -> Any:
    rows = result_rows(results, names, group_digits=True)
    header, rows, caption = compact(result_header(results, names), rows)
    return table(header, rows, width, caption)


def check_table(run: CheckRun, width: int | None = None) -> Any:
    header, rows, caption = compact(*check_table_rows(run, group_digits=True))
    return table(header, rows, width, caption)


def worst_table(results: list[Result], width: int | None = None) -> Any:
    """The worst samples (``--worst K``) under the results."""
    from losscli.report.analysis_text import worst_header, worst_rows

    # ``loss`` here is a sample's loss (as in JSON's worst samples), a number.
    return table(worst_header(results), worst_rows(results), width, numeric=("weight", "loss"))
