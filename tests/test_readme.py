"""The README shows what losscli does today: every `$ losscli ...` example is run and its
output compared, the config it shows is the shipped one, its JUnit excerpt is what `check`
writes, and its Python session runs as a doctest."""

from __future__ import annotations

import doctest
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", README, re.MULTILINE | re.DOTALL)


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
        assert json.loads(done.stdout) == json.loads(expected)
        return
    shown = [line.rstrip() for line in (done.stdout + done.stderr).splitlines()]
    assert shown == expected.splitlines()


def test_the_first_command_is_the_one_whose_output_follows():
    first = BLOCKS[0][1].splitlines()
    assert first[1] == "pip install -e '.[test]' && pytest"
    install, command = first[0].split(" && ", 1)
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
        runner = doctest.DocTestRunner(optionflags=flags)
        runner.run(test)
        assert runner.failures == 0 and runner.tries >= 4, i
