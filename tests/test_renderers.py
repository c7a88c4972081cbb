"""The formats' table: ``--format`` choices are its keys, and a renderer added to it is a format
of ``eval`` (and of ``check`` and the per-sample writer when it has those functions)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from losscli.cli.commands import cli
from losscli.cli.formats import FORMATS
from losscli.report.formats import RENDERERS

ROOT = Path(__file__).resolve().parents[1]


def _choices(command: str) -> list[str]:
    option = next(p for p in cli.commands[command].params if p.name == "output_format")
    return list(option.type.choices)  # type: ignore[attr-defined]


def test_the_format_choices_are_the_table_keys():
    assert _choices("eval") == ["table", "json", "csv", "value", "markdown"] == list(FORMATS)
    assert _choices("check") == ["table", "json", "markdown"]
    assert "table" not in RENDERERS  # the terminal's own, added by the command line
    streamed = [name for name, renderer in FORMATS.items() if renderer.rows is not None]
    assert streamed == ["json", "csv", "value"]


# A format added as one function and one entry, before the commands are imported.
NEW_FORMAT = """
import sys
import numpy as np
from losscli.report.formats import RENDERERS, Renderer

def upper(evaluation, emit, worst_written):
    emit("".join(f"{r.spec.upper()}={np.asarray(r.value).tolist()}\\n" for r in evaluation.results))
    return ["upper says hello"]

def upper_check(run, emit):
    emit("".join(f"{c.name.upper()} {r.passed}\\n" for c, r in zip(run.checks, run.results)))
    return []

RENDERERS["upper"] = Renderer(upper, upper_check)
from losscli.cli.commands import main
sys.argv = ["losscli", *sys.argv[1:]]
main()
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "numpy"}
    return subprocess.run(
        [sys.executable, "-c", NEW_FORMAT, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_a_renderer_in_the_table_is_a_format_of_eval_and_check(tmp_path):
    np.save(tmp_path / "t.npy", np.array([0.0, 1.0, 1.0, 0.0]))
    np.save(tmp_path / "p.npy", np.array([0.5, 0.5, 1.0, 0.0]))
    done = _run(
        tmp_path, "eval", "mse", "mae", "--y-true", "t.npy", "--y-pred", "p.npy", "-f", "upper"
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "MSE=0.125\nMAE=0.25\n",
        "Warning: upper says hello\n",
    )
    (tmp_path / "losscli.toml").write_text(
        '[[checks]]\nname = "small"\nloss = "mse"\ny_true = "t.npy"\ny_pred = "p.npy"\nmax = 0.1\n'
    )
    done = _run(tmp_path, "check", "-f", "upper")
    assert done.returncode == 1, done.stderr
    assert done.stdout == "SMALL False\n"
    # A format without per-sample rows of its own gets each loss's first values.
    done = _run(tmp_path, "eval", "mse", "--y-true", "t.npy", "--y-pred", "p.npy", "-f", "upper",
                "--reduction", "none", "-q")  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "MSE=[0.25, 0.25, 0.0]\n", "")
