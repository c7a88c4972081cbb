"""Every output format, keyed by its ``--format`` name: how it prints an evaluation, a check
run and, where it can stream them, per-sample rows (``--reduction none``). ``eval``, ``check``
and the per-sample writer all look a format up here, and their ``--format`` choices are this
table's keys (the command line adds its terminal ``table`` in front). A new format is one
function and one entry.

A renderer prints through ``emit`` (text, written as it is) and returns the warnings it adds
to the run's own, for stderr. The modules that build the text are imported when a format is
used, so reading this table costs nothing at startup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np

    from losscli.engine.results import Evaluation
    from losscli.report.checkrun import CheckRun

Emit = Callable[[str], None]


class PerSampleRows(Protocol):
    """Per-sample losses printed block by block, then what follows them."""

    #: Rows go out as they arrive (JSON holds them until the end).
    live: bool

    def write(self, arrays: list[np.ndarray], index: np.ndarray) -> None: ...

    def finish(self, evaluation: Evaluation) -> list[str]: ...

    def close(self) -> None: ...


class Renderer(NamedTuple):
    #: ``(evaluation, emit, worst_written)`` -> warnings; ``worst_written``: ``--worst-output``
    #: holds the worst samples.
    evaluation: Callable[[Evaluation, Emit, bool], list[str]]
    #: ``(run, emit)`` -> warnings; None: not a format of ``check``.
    check: Callable[[CheckRun, Emit], list[str]] | None = None
    #: ``(specs, emit)`` -> the streaming writer; None: the format prints results only.
    rows: Callable[[list[str], Emit], PerSampleRows] | None = None


def json_evaluation(evaluation: Evaluation, emit: Emit, worst_written: bool) -> list[str]:
    from losscli.report.render import render_json, report

    document = report(evaluation)
    emit(render_json(document) + "\n")
    return list(document["warnings"][len(evaluation.warnings) :])


def json_check(run: CheckRun, emit: Emit) -> list[str]:
    from losscli.report.render import check_report, render_json

    document = check_report(run)
    emit(render_json(document) + "\n")
    return list(document["warnings"][len(run.warnings) :])


def csv_evaluation(evaluation: Evaluation, emit: Emit, worst_written: bool) -> list[str]:
    from losscli.report.render import report
    from losscli.report.tabular import render_csv

    document = report(evaluation)
    added = list(document["warnings"][len(evaluation.warnings) :])
    if any(r.worst is not None for r in evaluation.results) and not worst_written:
        added.append(
            "-f csv has one row per result: the --worst samples are in -f json or "
            "--worst-output PATH"
        )
    emit(render_csv(document, evaluation.results))
    return added


def value_evaluation(evaluation: Evaluation, emit: Emit, worst_written: bool) -> list[str]:
    from losscli.report.render import render_values

    emit(render_values(evaluation.results))
    return []


def markdown_evaluation(evaluation: Evaluation, emit: Emit, worst_written: bool) -> list[str]:
    from losscli.report.analysis_text import render_markdown_sections
    from losscli.report.render import render_markdown

    emit(render_markdown(evaluation.results) + render_markdown_sections(evaluation.results))
    return []


def markdown_check(run: CheckRun, emit: Emit) -> list[str]:
    from losscli.report.render import render_check_markdown

    emit(render_check_markdown(run))
    return []


def _streamed(name: str) -> Callable[[list[str], Emit], PerSampleRows]:
    """The per-sample writer ``losscli.report.rows.<name>``, imported when used."""

    def make(specs: list[str], emit: Emit) -> PerSampleRows:
        from losscli.report import rows

        writer: PerSampleRows = getattr(rows, name)(specs, emit)
        return writer

    return make


#: Every format of the report layer, in the order ``--format`` lists them.
RENDERERS: dict[str, Renderer] = {
    "json": Renderer(json_evaluation, json_check, _streamed("JsonRows")),
    "csv": Renderer(csv_evaluation, rows=_streamed("CsvRows")),
    "value": Renderer(value_evaluation, rows=_streamed("ValueRows")),
    "markdown": Renderer(markdown_evaluation, markdown_check),
}
