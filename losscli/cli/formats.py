"""The command line's ``--format`` table: the terminal's own ``table`` (rich, drawn at the
terminal's width; the default, so first), then every format of ``losscli.report.formats``.
The tables only draw the results and the rows the report layer builds."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from losscli.cli.terminal import print_table
from losscli.report.formats import RENDERERS, Emit, Renderer

if TYPE_CHECKING:
    from losscli.engine.results import Evaluation, Result
    from losscli.report.checkrun import CheckRun


def echo(text: str) -> None:
    """A renderer's text on stdout, as it is."""
    click.echo(text, nl=False)


def table_evaluation(evaluation: Evaluation, emit: Emit, worst_written: bool) -> list[str]:
    """The results' table, the line saying which columns were read (folded at the terminal's
    width, never when piped), then the worst samples and the histograms."""
    from losscli.cli import tables
    from losscli.report.render import columns_caption

    print_table(lambda width: tables.results_table(evaluation.results, width=width))
    caption = columns_caption(evaluation)
    if caption:
        print_table(lambda width: tables.caption_block(caption, width))
    _print_analysis(evaluation.results, emit)
    return []


def _print_analysis(results: list[Result], emit: Emit) -> None:
    """Under the results table: the worst samples' table, then each loss's histogram (bars of
    blocks on a terminal, of # when piped), at the terminal's width."""
    import shutil

    from losscli.cli import tables
    from losscli.report.analysis_text import histogram_lines

    if any(r.worst is not None for r in results):
        emit("\n")
        print_table(lambda width: tables.worst_table(results, width=width))
    terminal = sys.stdout.isatty()
    bar = "\u2588" if terminal else "#"
    width = shutil.get_terminal_size().columns if terminal else None
    for result in results:
        if result.distribution is not None:
            emit("\n" + "\n".join(histogram_lines(result, bar, width)) + "\n")


def table_check(run: CheckRun, emit: Emit) -> list[str]:
    from losscli.cli import tables

    print_table(lambda width: tables.check_table(run, width))
    return []


#: Every ``--format``, the default first.
FORMATS: dict[str, Renderer] = {"table": Renderer(table_evaluation, table_check), **RENDERERS}
EVAL_FORMATS = list(FORMATS)
CHECK_FORMATS = [name for name, renderer in FORMATS.items() if renderer.check is not None]
