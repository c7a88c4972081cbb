"""The report as text: the JSON document, plain values and Markdown, and the rows and
columns that every table format shares (the terminal tables are ``losscli.cli.tables``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli import __version__
from losscli.engine.results import Evaluation, Result
from losscli.losses.classes import Loss, spell_value
from losscli.text import escape, key_value, redact, shown

if TYPE_CHECKING:
    from losscli.report.checkrun import CheckRun

#: A result table's columns, named as the JSON result's keys (``config`` is the parameters).
RESULT_COLUMNS = ("loss", "config", "reduction", "value", "n_samples")
#: Columns a table prints once, above it, when every row holds the same text.
SHARED = ("config", "reduction", "n_samples")


def format_number(value: Any) -> str:
    """Shortest text that reads back as the same float64 (``repr``), ``nan``/``inf`` as such."""
    return repr(float(value))


def params_text(loss: Loss) -> str:
    return ", ".join(f"{k}={spell_value(v)}" for k, v in loss.params.items())


def value_text(value: Any, n_samples: int | None = None) -> str:
    """A number, or the first values of per-sample losses and how many there are
    (``n_samples`` rows when ``value`` holds only the first few)."""
    if value is None:  # per-sample losses that went to a dataset (--output DIR/)
        return "in --output"
    array = np.asarray(value)
    if array.ndim == 0:
        return format_number(array)
    size = array.size if n_samples is None else n_samples * (array.size // max(len(array), 1))
    shown = ", ".join(format_number(v) for v in array.reshape(-1)[:3])
    more = ", ..." if size > 3 else ""
    return f"[{shown}{more}] ({size} values)"


# --- JSON ----------------------------------------------------------------------------------


def _jsonable(value: Any, where: str, warnings: list[str]) -> Any:
    """Numbers as JSON numbers; NaN/inf as null with a warning saying where and why."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        number = float(array)
        if math.isfinite(number):
            return number
        warnings.append(f"{where} is {number} (not finite), written as null")
        return None
    listed, nonfinite = json_list(array)
    if nonfinite:
        warnings.append(f"{where} has {nonfinite} non-finite value(s), written as null")
    return listed


def json_list(array: np.ndarray) -> tuple[Any, int]:
    """An array as (nested) lists, NaN and inf as None, and how many there were."""
    nonfinite = ~np.isfinite(array)
    count = int(np.count_nonzero(nonfinite))
    if not count:
        return array.tolist(), 0
    listed = array.astype(object)
    listed[nonfinite] = None
    return listed.tolist(), count


def _finite(value: Any) -> Any:
    """NaN and inf in nested dicts and lists as None (JSON null)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _entry(result: Result, where: str, warnings: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "loss": result.loss.name,
        "spec": result.spec,
        "config": dict(result.loss.params),
        "reduction": result.loss.reduction,
        "value": None
        if result.value is None
        else _jsonable(result.value, f"{where}.value ({result.spec})", warnings),
        "n_samples": result.n_samples,
    }
    if result.slice is not None:
        # null: the whole input; dates in ISO 8601, decimals as text, binary as hex
        entry["slice"] = {k: key_value(v) for k, v in result.slice.items()} or None
    if result.worst is not None:
        entry["worst"] = [_finite(sample) for sample in result.worst]
    if result.distribution is not None:
        entry["distribution"] = result.distribution
    if result.ci is not None:
        entry["ci"] = _finite(result.ci.to_dict())
    if result.baseline is not None:
        entry["baseline"] = _jsonable(result.baseline, f"{where}.baseline", warnings)
        entry["difference"] = _jsonable(result.difference, f"{where}.difference", warnings)
    if result.difference_ci is not None:
        entry["difference_ci"] = _finite(result.difference_ci.to_dict())
    if result.gates:
        entry["gates"] = [
            {
                "kind": o.gate.kind,
                "bound": o.gate.bound,
                **({"percent": True} if o.gate.relative else {}),
                "passed": o.passed,
                "reason": o.reason,
            }
            for o in result.gates
        ]
        entry["passed"] = result.passed
    return entry


def report(evaluation: Evaluation) -> dict[str, Any]:
    """The JSON document of an evaluation."""
    warnings = list(evaluation.warnings)
    input_info: dict[str, Any] = dict(evaluation.sources)
    if evaluation.columns:
        input_info["columns"] = evaluation.columns
    input_info["n_samples"] = evaluation.n_samples
    if evaluation.n_omitted:
        input_info["n_omitted"] = evaluation.n_omitted
    results = evaluation.results
    rows = [_entry(r, f"results[{i}]", warnings) for i, r in enumerate(results)]
    document: dict[str, Any] = {"version": __version__, "inputs": input_info, "results": rows}
    if evaluation.written is not None:
        document["output"] = evaluation.written._asdict()
    if any(r.gates for r in results):
        document["passed"] = all(r.passed for r in results)
    document["warnings"] = warnings
    return document


def columns_caption(evaluation: Evaluation) -> str | None:
    """The line under a table that says which columns each role read (None: no table input):
    ``columns: y_true [label]; y_pred [prob_0, prob_1]``. A name that is not plain is quoted
    as in a slice label (``["my col"]``), so no name reads as the line's own punctuation; the
    line is redacted and escaped."""
    from losscli.errors import name_list
    from losscli.text import column_name

    if not evaluation.columns:
        return None
    parts = [
        f"{role} [{name_list(column_name(name) for name in names)}]"
        for role, names in evaluation.columns.items()
    ]
    return shown("columns: " + "; ".join(parts))


def check_report(run: CheckRun) -> dict[str, Any]:
    """The JSON document of ``losscli check``."""
    warnings = list(run.warnings)
    checks = []
    for i, (check, result) in enumerate(zip(run.checks, run.results, strict=True)):
        if result is None:
            checks.append(
                {"name": check.name, "spec": check.loss, "error": run.errors[i], "passed": False}
            )
            continue
        checks.append({"name": check.name, **_entry(result, f"checks[{i}]", warnings)})
        parts = run.slices.get(i, [])
        if parts:
            checks[-1]["slices"] = [
                _entry(part, f"checks[{i}].slices[{j}]", warnings) for j, part in enumerate(parts)
            ]
        checks[-1]["passed"] = result.passed and all(part.passed for part in parts)
    return {
        "version": __version__,
        "config": str(run.config),
        "checks": checks,
        "passed": run.passed,
        "warnings": warnings,
    }


def _redacted(value: Any) -> Any:
    """Every text in a document with the user part of its URIs redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # numbers (per-sample values) pass as they are
        return [_redacted(v) if isinstance(v, (str, dict, list, tuple)) else v for v in value]
    return value


def render_json(document: dict[str, Any]) -> str:
    import json

    # Control characters come out escaped (``\u001b``): json.dumps escapes them.
    return json.dumps(_redacted(document), indent=2, allow_nan=False)


# --- CSV, values, Markdown -------------------------------------------------------------------


def _per_sample(results: list[Result]) -> list[tuple[str, np.ndarray]]:
    from losscli.io.writers import per_sample_columns

    return per_sample_columns([(r.spec, np.asarray(r.value)) for r in results])


def _extra_columns(results: list[Result]) -> list[str]:
    """Interval, baseline and gate columns of a table, when any result has them. The
    difference carries its interval (``+0.01 [-0.002, 0.02]``); CSV gives its ends columns of
    their own (``difference_ci_low``)."""
    columns = []
    if any(r.ci is not None for r in results):
        columns += ["ci_low", "ci_high"]
    if any(r.baseline is not None for r in results):
        columns += ["baseline", "difference"]
    if any(r.gates for r in results):
        columns += ["gates", "passed"]
    return columns


def failed_gate_lines(
    results: Sequence[Result | None], names: list[str] | None = None
) -> list[str]:
    """One line per failed gate, for stderr in every format (None: a check that ended in an
    error, reported on its own)."""
    return [
        escape(
            f"FAIL: {names[i] if names else r.spec}{_slice_suffix(r)}: {o.gate.describe()}: "
            f"{o.reason}"
        )
        for i, r in enumerate(results)
        if r is not None
        for o in r.gates
        if not o.passed
    ]


def _slice_suffix(result: Result) -> str:
    return f" [{_slice_cell(result)[0]}]" if result.slice else ""


def gates_text(result: Result) -> str:
    return "; ".join(f"{o.gate.describe()} {'PASS' if o.passed else 'FAIL'}" for o in result.gates)


def interval_number(value: float) -> str:
    """An interval's end in a table: six significant digits (CSV and JSON keep them all)."""
    return f"{value:.6g}"


def _extra_cells(result: Result, columns: list[str]) -> list[str]:
    """The extra columns' cells in a table: intervals to six digits (CSV and JSON keep every
    digit)."""
    cells = []
    end = interval_number
    if "ci_low" in columns:
        ci = result.ci
        cells += ["", ""] if ci is None else [end(ci.low), end(ci.high)]
    if "baseline" in columns:
        if result.baseline is None:
            cells += ["", ""]
        else:
            change = result.difference
            sign = "+" if change is not None and change >= 0 else ""
            text = f"{sign}{format_number(change)}"
            within = result.difference_ci
            if within is not None:
                text += f" [{end(within.low)}, {end(within.high)}]"
            cells += [format_number(result.baseline), text]
    if "gates" in columns:
        status = ("PASS" if result.passed else "FAIL") if result.gates else ""
        cells += [gates_text(result), status]
    return cells


def render_values(results: list[Result]) -> str:
    if results and results[0].value is None:  # per-sample losses that went to a dataset
        return ""
    if results and results[0].loss.reduction == "none":
        columns = _per_sample(results)
        lines = [
            "\t".join(format_number(v) for v in row)
            for row in zip(*(c for _, c in columns), strict=True)
        ]
    else:
        lines = ["null" if r.value is None else format_number(r.value) for r in results]
    return "\n".join(lines) + "\n"


def markdown_table(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(markdown_cell(c) for c in cells) + " |"

    lines = [line(header), line(["---"] * len(header))] + [line(r) for r in rows]
    return (f"{markdown_cell(caption)}\n\n" if caption else "") + "\n".join(lines) + "\n"


def compact(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]], str]:
    """A result table without its waste: columns empty in every row are dropped, and the
    ``SHARED`` columns that hold one text in every row are said once, in a caption
    (``reduction: sum_over_batch_size; n_samples: 500``)."""
    keep, shared = [], []
    for i, name in enumerate(header):
        cells = {row[i] for row in rows}
        if rows and cells == {""}:
            continue
        if name in SHARED and len(cells) == 1:
            shared.append(f"{name}: {cells.pop()}")
            continue
        keep.append(i)
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows], "; ".join(shared)


def markdown_cell(text: str) -> str:
    """A table cell's text for GitHub Markdown: control characters escaped, ``|`` escaped,
    and ``&``, ``<``, ``>`` as entities (no HTML of a value is rendered)."""
    text = shown(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def result_header(results: list[Result], names: list[str] | None = None) -> list[str]:
    """Eval tables: loss, config, ...; check tables name the check and its spec instead;
    a ``slice`` column when the run has slices."""
    first = ["name", "spec"] if names else ["loss", "config"]
    sliced = ["slice"] if _sliced(results) else []
    return first + sliced + list(RESULT_COLUMNS[2:]) + _extra_columns(results)


def _sliced(results: Sequence[Result | None]) -> bool:
    return any(r is not None and r.slice is not None for r in results)


def _slice_cell(result: Result, sliced: bool = False) -> list[str]:
    """The slice column's cell: a slice's label, ``(all)``; empty in a sliced table for a
    result without slices; nothing in a table without the column."""
    from losscli.engine.results import slice_label

    if result.slice is not None:
        return [slice_label(result.slice)]
    return [""] if sliced else []


def result_rows(
    results: list[Result],
    names: list[str] | None = None,
    group_digits: bool = False,
    sliced: bool | None = None,
) -> list[list[str]]:
    extra = _extra_columns(results)
    sliced = _sliced(results) if sliced is None else sliced
    rows = []
    for i, r in enumerate(results):
        first = [names[i], r.spec] if names else [r.loss.name, params_text(r.loss)]
        samples = f"{r.n_samples:,}" if group_digits else str(r.n_samples)
        value = "null" if r.value is None and r.slice else value_text(r.value, r.n_samples)
        rest = [r.loss.reduction, value, samples]
        rows.append(first + _slice_cell(r, sliced) + rest + _extra_cells(r, extra))
    return rows


def check_table_rows(
    run: CheckRun, group_digits: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of ``losscli check``: a check that ended in an error gets ERROR;
    a check with slices a row per slice after its own."""
    done = [r for r in run.results if r is not None]
    done += [s for parts in run.slices.values() for s in parts]
    header = result_header(done, names=["check"])
    sliced = _sliced(done)
    base = 6 if sliced else 5  # name, spec, [slice,] reduction, value, n_samples
    extra = _extra_columns(done)
    if run.errors and "passed" not in header:
        header.append("passed")
    rows = []
    for i, (check, result) in enumerate(zip(run.checks, run.results, strict=True)):
        if result is None:
            row = [check.name, check.loss, *([""] if sliced else []), check.reduction, "ERROR", ""]
            rows.append(row + [""] * (len(header) - len(row) - 1) + ["ERROR"])
            continue
        for each in [result, *run.slices.get(i, [])]:
            row = result_rows([each], [check.name], group_digits, sliced)[0][:base]
            row += _extra_cells(each, extra)
            if len(row) < len(header):
                row.append("PASS" if each.passed else "FAIL")
            rows.append(row)
    return header, rows


def render_markdown(results: list[Result], names: list[str] | None = None) -> str:
    return markdown_table(*compact(result_header(results, names), result_rows(results, names)))


def render_check_markdown(run: CheckRun) -> str:
    return markdown_table(*compact(*check_table_rows(run)))
