"""JUnit XML for ``losscli check``: one testcase per check, failures carrying the numbers.

The layout (``testsuites > testsuite > testcase > failure``) is the one read by
Jenkins' JUnit plugin, GitLab's ``artifacts:reports:junit`` and the GitHub
Actions test reporters.
"""

from __future__ import annotations

import datetime as dt
import socket
import xml.etree.ElementTree as ET

from losscli.checks import CheckRun
from losscli.resample import METHOD, Interval
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
            continue
        lines = [
            f"loss: {result.spec} ({result.loss.name}, reduction={result.loss.reduction})",
            f"value: {_number(result.value)}{_interval(result.ci)}",
        ]
        if result.baseline is not None:
            lines += [
                f"baseline: {_number(result.baseline)}",
                f"difference: {_number(result.difference)}{_interval(result.difference_ci)}",
            ]
        lines += [
            f"{o.gate.describe()}: {'PASS' if o.passed else 'FAIL'} ({o.reason})"
            for o in result.gates
        ]
        failed = [(result.loss.name, o) for o in result.gates if not o.passed]
        for part in run.slices.get(i, []):  # a check's slices, each with its gates
            where = f"{result.loss.name} [{slice_label(part.slice or {})}]"
            lines.append(
                f"slice {where}: value {_number(part.value)}{_interval(part.ci)}, "
                f"{part.n_samples} samples"
            )
            lines += [
                f"  {o.gate.describe()}: {'PASS' if o.passed else 'FAIL'} ({o.reason})"
                for o in part.gates
            ]
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
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"
