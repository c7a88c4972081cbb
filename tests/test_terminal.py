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

from losscli.losses.classes import LOSSES

ROOT = Path(__file__).resolve().parent.parent
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def read_terminal(master: int) -> bytes:
    """Everything a program writes to its pseudo-terminal, until it closes it."""
    captured = b""
    while True:
        try:
            piece = os.read(master, 1 << 16)
        except OSError:  # EIO: the program closed the terminal
            return captured
        if not piece:
            return captured
        captured += piece


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
    captured = b"" if stdin is not None else read_terminal(master)
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


def screen_of(args: list[str], cwd: Path, columns: int = 100) -> tuple[bytes, int]:
    """Run ``losscli ARGS`` with stdout and stderr both on one pseudo-terminal ``columns``
    wide: the bytes the terminal received, and the exit code."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("LINES", "NO_COLOR")}
    env |= {"TERM": "xterm-256color", "COLUMNS": str(columns), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "losscli", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
    )
    os.close(slave)
    captured = read_terminal(master)
    os.close(master)
    return captured, process.wait(timeout=60)


def slow_inputs(folder: Path, shape: tuple[int, ...] = (600_000,)) -> None:
    """Labels and predictions of four or five chunks, and a loss that takes 0.25 s a chunk."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(folder / "t.npy", rng.random(shape))
    np.save(folder / "p.npy", rng.random(shape))
    (folder / "slow.py").write_text(
        "import time\n\n\ndef slow(y_true, y_pred):\n"
        "    time.sleep(0.25)\n    return ((y_true - y_pred) ** 2).mean(axis=-1)\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", ["table", "json", "value", "histogram"])
def test_the_progress_bar_is_erased_before_the_results(tmp_path, command):
    """A run over half a second shows the bar; it is erased (rich's cursor-up and erase-line)
    before the first byte of the results, and no results line starts on the bar's line."""
    slow_inputs(tmp_path)
    args = ["eval", "slow.py:slow", "--y-true", "t.npy", "--y-pred", "p.npy"]
    args += {"table": [], "json": ["-f", "json"], "value": ["-f", "value"]}.get(
        command, ["--histogram"]
    )
    screen, code = screen_of(args, tmp_path)
    assert code == 0, screen
    shown = screen.decode()
    bar = shown.rfind("evaluating ")
    assert bar >= 0, shown  # the bar was shown...
    # A table starts with the line of what every row shares.
    first = {"table": "reduction:", "json": "{", "value": "0.", "histogram": "reduction:"}[command]
    results = shown.index(first, bar)
    erased = shown[bar:results]
    assert "\x1b[2K" in erased, erased  # ...and erased before the results
    assert not ESCAPES.sub("", erased.rsplit("\x1b[2K", 1)[1]).strip("\r\n"), erased
    for line in re.split(r"\r\n|\r|\n", ESCAPES.sub("", shown[results:])):
        assert "evaluating" not in line and "ETA" not in line, line


@pytest.mark.slow
def test_no_progress_bar_between_per_sample_rows_on_a_terminal(tmp_path):
    """``--reduction none -f csv`` prints rows as they come: a bar would run into them."""
    slow_inputs(tmp_path, (60_000, 8))  # 16,384 rows a chunk
    args = ["eval", "slow.py:slow", "--y-true", "t.npy", "--y-pred", "p.npy"]
    screen, code = screen_of([*args, "--reduction", "none", "-f", "csv"], tmp_path)
    assert code == 0, screen[-500:]
    lines = ESCAPES.sub("", screen.decode()).splitlines()
    assert lines[0] == "index,slow.py:slow" and len(lines) == 60_001
