"""Output in a real terminal: losscli runs under a pseudo-terminal of a set width, and what
it prints must read there: no line wider than the terminal, numbers, loss names and
PASS/FAIL never folded. Values to find come from the same command's JSON output."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from losscli.losses import LOSSES

ROOT = Path(__file__).resolve().parent.parent
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def in_terminal(args: list[str], columns: int, stdin: bytes | None = None) -> tuple[str, str, int]:
    """Run ``losscli ARGS`` with stdout (or, given ``stdin``, stdin) on a pseudo-terminal
    ``columns`` wide; the text it printed (escapes removed), stderr and the exit code."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    command = [sys.executable, "-m", "losscli", *args]
    if stdin is None:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
    else:
        process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
    os.close(slave)
    if stdin is not None:
        os.write(master, stdin)
    captured = b""
    while stdin is None:
        try:
            piece = os.read(master, 1 << 16)
        except OSError:  # EIO: the program closed the terminal
            break
        if not piece:
            break
        captured += piece
    out, err = process.communicate(timeout=60)
    os.close(master)
    text = (out if stdin is not None else captured).decode()
    return ESCAPES.sub("", text).replace("\r\n", "\n"), err.decode(), process.returncode


def json_of(args: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "losscli", *args, "-f", "json"],
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    return json.loads(done.stdout)


def assert_fits(text: str, columns: int) -> list[str]:
    lines = text.splitlines()
    too_wide = [line for line in lines if len(line) > columns]
    assert not too_wide, too_wide
    return lines


def whole_in_a_line(token: str, lines: list[str]) -> bool:
    return any(re.search(rf"(?<![\w.]){re.escape(token)}(?![\w.])", line) for line in lines)


EVAL = [
    "eval",
    "mse",
    "mae",
    "huber(delta=0.5)",
    "--y-true",
    "sample_data/regression_true.npy",
    "--y-pred",
    "sample_data/regression_pred.npy",
]
FOCAL = [
    "eval",
    "categorical_focal_crossentropy(alpha=0.25, gamma=2.0, from_logits=true, label_smoothing=0.1)",
    "categorical_crossentropy(from_logits=true)",
    "--data",
    "sample_data/multiclass.csv",
    "--true-col",
    "onehot_*",
    "--pred-col",
    "prob_*",
]


@pytest.mark.parametrize("columns", [60, 80, 160])
@pytest.mark.parametrize("args", [EVAL, FOCAL], ids=["regression", "long-parameters"])
def test_eval_numbers_and_names_never_fold(args, columns):
    text, err, code = in_terminal(args, columns)
    assert code == 0, err
    lines = assert_fits(text, columns)
    for result in json_of(args)["results"]:
        assert whole_in_a_line(repr(result["value"]), lines), (result["value"], text)
        assert whole_in_a_line(result["loss"], lines), (result["loss"], text)
        assert whole_in_a_line(str(result["n_samples"]), lines)


@pytest.mark.parametrize("columns", [60, 80, 160])
def test_check_report_never_folds_values_or_status(columns):
    args = ["check", "sample_data/losscli.toml"]
    text, err, code = in_terminal(args, columns)
    assert code == 0, err
    lines = assert_fits(text, columns)
    document = json_of(args)
    for check in document["checks"]:
        assert whole_in_a_line(repr(check["value"]), lines), (check["value"], text)
        if check.get("baseline") is not None:
            assert whole_in_a_line(repr(check["baseline"]), lines)
    assert sum(line.count("PASS") for line in lines) >= len(document["checks"])


@pytest.mark.parametrize("columns", [60, 80, 160])
def test_list_never_folds_a_loss_name(columns):
    text, err, code = in_terminal(["list"], columns)
    assert code == 0, err
    lines = assert_fits(text, columns)
    for name in LOSSES:
        assert whole_in_a_line(name, lines), name


def test_reading_stdin_from_a_terminal_says_so():
    text, err, code = in_terminal(
        ["eval", "mse", "--data", "-", "--true-col", "y", "--pred-col", "p", "-f", "value"],
        80,
        stdin=b"y,p\n1,3\n2,2\n\x04",
    )
    assert code == 0, err
    assert err.splitlines()[0] == (
        "losscli: reading the input from the terminal: paste the rows and press Ctrl-D, or "
        "pipe a file in (cat preds.csv | losscli ...)"
    )
    assert float(text) == (4 + 0) / 2
