"""The README shows what losscli does today: every `$ losscli ...` example is run and its
output compared, the config it shows is the shipped one, its JUnit excerpt is what `check`
writes, and its Python session runs as a doctest.

Numbers are compared within ``REL`` (relative), everything else exactly: a value from ``exp``,
``log`` or a sum may differ in its last digits between CPUs (numpy's AVX-512 kernels) and
builds. A number close to the one shown stands in for it, so the layout around it is still
compared exactly; only when a number's width changed (the table's columns then move) are runs
of spaces and rules compared as one."""

from __future__ import annotations

import doctest
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", README, re.MULTILINE | re.DOTALL)


REL = 1e-12
#: A number on its own (not the digits inside a word such as ``p50`` or ``x86``).
NUMBER = re.compile(r"((?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w|\.\d))")
#: Runs of spaces and of a table's rule, which move with a column's width.
PADDING = re.compile(r" +|─+")


def close(got: Any, want: Any) -> bool:
    """Equal, numbers (also inside JSON documents) within ``REL``."""
    if isinstance(got, float | int) and isinstance(want, float | int):
        if isinstance(got, bool) or isinstance(want, bool):
            return got is want
        return math.isclose(got, want, rel_tol=REL)
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(close(got[k], want[k]) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(map(close, got, want))
    return bool(got == want)


def as_shown(got: str, want: str) -> tuple[str, bool]:
    """``got`` with each number that is within ``REL`` of the one ``want`` shows in its place
    replaced by the shown text, and whether every replaced number kept its width. Nothing is
    replaced unless the two have as many numbers and all are close."""
    ours, theirs = NUMBER.split(got), NUMBER.split(want)
    if len(ours) != len(theirs):
        return got, True
    pairs = list(zip(ours[1::2], theirs[1::2], strict=True))
    if not all(math.isclose(float(a), float(b), rel_tol=REL) for a, b in pairs):
        return got, True
    ours[1::2] = theirs[1::2]
    return "".join(ours), all(len(a) == len(b) for a, b in pairs)


def assert_shows(got: str, want: str) -> None:
    """``got`` is the output ``want`` shows: numbers within ``REL``, the rest exactly."""
    replaced, same_widths = as_shown(got, want)
    if same_widths:
        assert replaced.splitlines() == want.splitlines()
    else:
        assert PADDING.sub(" ", replaced).splitlines() == PADDING.sub(" ", want).splitlines()


class CloseNumbers(doctest.OutputChecker):
    """doctest's comparison, with numbers within ``REL`` of the ones shown."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if super().check_output(want, got, optionflags):
            return True
        replaced, same_widths = as_shown(got, want)
        if not same_widths:
            replaced, want = PADDING.sub(" ", replaced), PADDING.sub(" ", want)
        return replaced != got and super().check_output(want, replaced, optionflags)


def examples() -> list[tuple[str, str]]:
    """(command, expected output) of every block that starts with ``$ losscli``."""
    found = []
    for _, body in BLOCKS:
        if not body.startswith("$ losscli"):
            continue
        lines = body.splitlines()
        command = lines.pop(0)
        while command.endswith("\\"):
            command = command[:-1] + lines.pop(0)
        found.append((command[2:], "\n".join(lines)))
    return found


def run(command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    assert argv[0] == "losscli"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LOSSCLI_DEBUG")}
    return subprocess.run(
        [sys.executable, "-m", "losscli", *argv[1:]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_the_readme_has_examples_to_check():
    assert len(examples()) >= 5


@pytest.mark.parametrize(("command", "expected"), examples(), ids=lambda x: x[:60])
def test_every_example_prints_what_the_readme_shows(command, expected):
    done = run(command)
    assert done.returncode in (0, 1), done.stderr
    if "-f json" in command:
        assert close(json.loads(done.stdout), json.loads(expected)), done.stdout
        return
    shown = "\n".join(line.rstrip() for line in (done.stdout + done.stderr).splitlines())
    assert_shows(shown, expected)


def test_the_first_command_is_the_one_whose_output_follows():
    first = BLOCKS[0][1].splitlines()
    assert first[0] == "python3 -m venv .venv && . .venv/bin/activate"
    assert first[2] == "pip install -e '.[test]' && pytest"
    install, command = first[1].split(" && ", 1)
    assert install == "pip install ."
    assert examples()[0][0] == command


def test_the_config_shown_is_the_shipped_one():
    shown = next(body for lang, body in BLOCKS if lang == "toml" and body.startswith("[inputs]"))
    assert shown == (ROOT / "sample_data" / "losscli.toml").read_text(encoding="utf-8")


def test_the_junit_excerpt_is_what_check_writes(tmp_path):
    report = tmp_path / "report.xml"
    done = run(f"losscli check sample_data/failing.toml --junit-xml {report}")
    assert done.returncode == 1, done.stderr
    excerpt = next(body for lang, body in BLOCKS if lang == "xml")
    written = report.read_text(encoding="utf-8")
    times = re.compile(r'time="[0-9.]+"')
    assert times.sub('time="T"', excerpt) in times.sub('time="T"', written)


def test_the_python_sessions_run(monkeypatch):
    monkeypatch.chdir(ROOT)  # the sessions read sample_data/
    sessions = [body for lang, body in BLOCKS if lang == "python" and ">>>" in body]
    assert len(sessions) >= 2
    for i, session in enumerate(sessions):
        test = doctest.DocTestParser().get_doctest(session, {}, f"README[{i}]", "README.md", 0)
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        runner = doctest.DocTestRunner(checker=CloseNumbers(), optionflags=flags)
        runner.run(test)
        assert runner.failures == 0 and runner.tries >= 4, i


@pytest.mark.parametrize(
    ("got", "want", "agree"),
    [
        ("mse   0.06455794670569993   500", "mse   0.06455794670569995   500", True),
        ("mse   0.0645579467057       500", "mse   0.06455794670569995   500", True),
        ("mse   0.06455794670569993   500", "mse   0.06455794670569995   501", False),
        ("mse   0.0645579467056       500", "mse   0.06455794670569995   500", False),
        ("mse    0.06455794670569993   500", "mse   0.06455794670569995   500", False),
        ("mse   0.06455794670569993   500", "mae   0.06455794670569995   500", False),
        ("PASS  p50 1e-12", "FAIL  p50 1e-12", False),
        ("p50 x86-64 ok", "p51 x86-64 ok", False),
        ("a ────\nb   0.1   2", "a ─────\nb  0.10000000000000002   2", True),
        ("a ────\nb   0.1   2", "a ─────\nb  0.10000000001   2", False),
        ("a ────\nb   0.1   2", "a ─────\nb  0.10000000000000002   2 x", False),
    ],
)
def test_numbers_are_compared_within_the_tolerance_and_the_rest_exactly(got, want, agree):
    try:
        assert_shows(got, want)
    except AssertionError:
        assert not agree
    else:
        assert agree


def test_the_doctest_checker_allows_the_last_digits_of_a_float():
    checker, flags = CloseNumbers(), doctest.NORMALIZE_WHITESPACE
    shown = "Interval(level=0.9, low=0.07417959581365369, high=0.10548176480264027)\n"
    assert checker.check_output(shown, shown.replace("027)", "024)"), flags)
    assert not checker.check_output(
        shown, shown.replace("0.10548176480264027", "0.1054817648"), flags
    )
    assert not checker.check_output(shown, shown.replace("level", "lvl"), flags)


def other_kernels() -> dict[str, str]:
    """An environment in which numpy leaves out the kernels of every CPU feature it found
    beyond its baseline (AVX-512 and AVX2 on x86-64) and OpenBLAS takes another core's."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as umath  # type: ignore[no-redef]

    found = [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LOSSCLI_DEBUG")}
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(found)
    if platform.machine() in ("x86_64", "AMD64"):
        env["OPENBLAS_CORETYPE"] = "Haswell"
    return env


@pytest.mark.slow
def test_the_readme_passes_with_other_cpu_kernels():
    """The README's test, again with other numpy and BLAS kernels: what it shows holds on a
    machine without AVX-512 too, and an interval is the same to the last digit."""
    env = other_kernels()
    command = "losscli eval mse --data sample_data/binary.parquet --true-col label "
    command += "--pred-col prob --group-by label --ci 0.9 -f json"
    here = json.loads(run(command).stdout)
    there = subprocess.run(
        [sys.executable, "-m", "losscli", *shlex.split(command)[1:]],
        capture_output=True, text=True, cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    assert json.loads(there.stdout) == here
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "-k", "not other_cpu_kernels"],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
