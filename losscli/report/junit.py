"""JUnit XML for ``losscli check``: one testcase per check, failures carrying the numbers.

The layout (``testsuites > testsuite > testcase > failure``) is the one read by
Jenkins' JUnit plugin, GitLab's ``artifacts:reports:junit`` and the GitHub
Actions test reporters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import xml.etree.ElementTree as ET

from losscli.engine.results import Result
from losscli.report.checkrun import CheckRun
from losscli.stats.resample import METHOD, Interval
from losscli.text import shown, slice_label


def _number(value: object) -> str:
    return "missing" if value is None else repr(float(value))  # type: ignore[arg-type]


def _interval(ci: Interval | None) -> str:
    """`` (95% interval [0.31, 0.34], poisson-bootstrap, 1000 resamples, seed 0)``."""
    if ci is None:
        return ""
    return (
        f" ({ci.level * 100:.4g}% interval [{_number(ci.low)}, {_number(ci.high)}], "
        f"{METHOD}, {ci.resamples} resamples, seed {ci.seed})"
    )


def junit_xml(run: CheckRun) -> bytes:
    """One testcase per check: a failed gate is a ``<failure>``, an input error an ``<error>``."""
    failures = sum(
        r is not None and not (r.passed and all(s.passed for s in run.slices.get(i, [])))
        for i, r in enumerate(run.results)
    )
    errors = str(len(run.errors))
    total_time = f"{sum(run.seconds):.6f}"
    tests = str(len(run.checks))
    suites = ET.Element(
        "testsuites",
        name="losscli check",
        tests=tests,
        failures=str(failures),
        errors=errors,
        time=total_time,
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=shown(f"losscli check {run.config.name}"),
        tests=tests,
        failures=str(failures),
        errors=errors,
        skipped="0",
        time=total_time,
        timestamp=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        hostname=socket.gethostname(),
    )
    for i, (check, result, seconds) in enumerate(
        zip(run.checks, run.results, run.seconds, strict=True)
    ):
        case = ET.SubElement(
            suite,
            "testcase",
            classname=shown(f"losscli.check.{run.config.name}"),
            name=shown(check.name),
            time=f"{seconds:.6f}",
        )
        if result is None:
            message = shown(run.errors[i])
            error = ET.SubElement(case, "error", message=message, type="InputError")
            error.text = f"loss: {shown(check.loss)}\nerror: {message}"
        else:
            _testcase(case, result, run.slices.get(i, []))
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def _gate_lines(result: Result, indent: str = "") -> list[str]:
    return [
        f"{indent}{o.gate.describe()}: {'PASS' if o.passed else 'FAIL'} ({o.reason})"
        for o in result.gates
    ]


def _testcase(case: ET.Element, result: Result, slices: list[Result]) -> None:
    """A check's testcase: its numbers and gates (and each slice's) in ``<system-out>``, and a
    ``<failure>`` naming every failed gate."""
    lines = [
        f"loss: {result.spec} ({result.loss.name}, reduction={result.loss.reduction})",
        f"value: {_number(result.value)}{_interval(result.ci)}",
    ]
    if result.baseline is not None:
        lines += [
            f"baseline: {_number(result.baseline)}",
            f"difference: {_number(result.difference)}{_interval(result.difference_ci)}",
        ]
    lines += _gate_lines(result)
    failed = [(result.loss.name, o) for o in result.gates if not o.passed]
    for part in slices:  # a check's slices, each with its gates
        where = f"{result.loss.name} [{slice_label(part.slice or {})}]"
        lines.append(
            f"slice {where}: value {_number(part.value)}{_interval(part.ci)}, "
            f"{part.n_samples} samples"
        )
        lines += _gate_lines(part, "  ")
        failed += [(where, o) for o in part.gates if not o.passed]
    if failed:
        failure = ET.SubElement(
            case,
            "failure",
            message=shown("; ".join(f"{name}: {o.reason}" for name, o in failed)),
            type="QualityGateFailure",
        )
        failure.text = "\n".join(shown(line) for line in lines)
    ET.SubElement(case, "system-out").text = "\n".join(shown(line) for line in lines)


def error_xml(config: str, message: str, kind: str) -> bytes:
    """A run that ended in an error (a config that cannot be read, a bug): one ``<error>``
    testcase, so that a report of an earlier run never stands for this one."""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]", "\ufffd", message)
    attributes = {"tests": "1", "failures": "0", "errors": "1", "time": "0.000000"}
    suites = ET.Element("testsuites", {"name": "losscli check", **attributes})
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    suite = ET.SubElement(
        suites,
        "testsuite",
        {"name": f"losscli check {config}", **attributes, "skipped": "0", "timestamp": now},
    )
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"losscli.check.{config}",
        name="losscli check",
        time="0.000000",
    )
    ET.SubElement(case, "error", message=text, type=kind).text = text
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def write_error_report(
    path: str, config: str, error: BaseException, inputs: list[str] | None
) -> None:
    """Replace the report at ``path`` by an error report (``error_xml``), never an input.

    With ``inputs`` unknown (the config could not be read), only a missing file, a device or
    FIFO, or an earlier JUnit report is replaced. Nothing is raised: the error itself is what
    the run reports.
    """
    from losscli.errors import LossCliError, Terminated, setting
    from losscli.io.writers import atomic_write, check_report_path, written_through

    if isinstance(error, LossCliError):
        message, kind = str(error), type(error).__name__
    elif isinstance(error, Terminated):
        message, kind = f"terminated by {error.name}", "Terminated"
    elif isinstance(error, KeyboardInterrupt):
        message, kind = "interrupted", "Interrupted"
    else:
        message = f"internal error: {type(error).__name__}: {error}"
        kind = "InternalError"
    data = error_xml(config, message, kind)
    with contextlib.suppress(LossCliError, OSError, ValueError):
        target = check_report_path(path, inputs or [], setting("junit_xml"))
        if inputs is None and target.exists() and not written_through(target):
            with open(target, "rb") as earlier:
                if b"<testsuites" not in earlier.read(4096):
                    return
        atomic_write(target, lambda tmp: tmp.write_bytes(data), option=setting("junit_xml"))
