"""No lost data, no wrong pass: outputs never replace inputs, failed writes leave nothing,
user code cannot end the run, signals clean up, bugs are not input errors.

Every test snapshots the inputs (sha256) and asserts exit codes and exact messages.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli as invoke

from losscli.errors import InputError
from losscli.io.readers import cli_flag
from losscli.io.writers import PerSampleWriter


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def per_sample(loss: str, y: str, p: str, *extra: str) -> list[str]:
    """``eval LOSS --y-true Y --y-pred P --reduction none EXTRA...``"""
    return ["eval", loss, "--y-true", y, "--y-pred", p, "--reduction", "none", *extra]


@pytest.fixture
def pair(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("y.npy", np.array([0.0, 1.0, 2.0, 3.0]))
    np.save("p.npy", np.array([0.5, 1.0, 2.5, 3.0]))
    np.save("w.npy", np.array([1.0, 2.0, 1.0, 1.0]))
    return tmp_path


# --- outputs never replace inputs ------------------------------------------------------------


def _config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "c.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [inputs]
            y_true = "y.npy"
            y_pred = "p.npy"
            sample_weight = "w.npy"
            {extra}
            [[checks]]
            loss = "mse"
            max = 10
            """
        )
    )
    return config


@pytest.mark.parametrize("target", ["w.npy", "y.npy", "p.npy", "c.toml"])
def test_junit_xml_never_replaces_an_input_of_the_check(pair, target):
    _config(pair)
    before = snapshot(pair)
    result = invoke("check", "c.toml", "--junit-xml", target, code=2)
    assert result.stderr == (
        f"Error: --junit-xml {target} is one of the inputs; losscli never overwrites inputs\n"
    )
    assert snapshot(pair) == before


def test_junit_xml_never_replaces_a_baseline(pair):
    np.save("base.npy", np.zeros(4))
    _config(pair, 'baseline_pred = "base.npy"')
    before = snapshot(pair)
    result = invoke("check", "c.toml", "--junit-xml", "base.npy", code=2)
    assert "base.npy is one of the inputs" in result.stderr
    assert snapshot(pair) == before


@pytest.mark.parametrize("target", ["w.npy", "y.npy", "p.npy"])
def test_output_never_replaces_an_input_even_with_force(pair, target):
    before = snapshot(pair)
    result = invoke(
        "eval",
        "mse",
        "--y-true",
        "y.npy",
        "--y-pred",
        "p.npy",
        "--sample-weight",
        "w.npy",
        "--output",
        target,
        "--force",
        code=2,
    )
    assert result.stderr == (
        f"Error: --output {target} is one of the inputs; losscli never overwrites inputs\n"
    )
    assert snapshot(pair) == before


def test_no_clobber_holds_when_the_target_appears_while_writing(tmp_path):
    """The check before the run and the rename after it are not one step: the rename itself
    must refuse a file that appeared in between (another run, a user)."""
    target = tmp_path / "out.npy"
    with PerSampleWriter(target, ["mse"]) as writer:
        writer.write([np.ones(3)], np.arange(3))
        target.write_bytes(b"written by someone else")
        with pytest.raises(InputError, match="already exists; pass force to replace it") as raised:
            writer.commit()
    assert raised.value.spelled(cli_flag) == (
        f"--output {target} already exists; pass --force to replace it"
    )
    assert target.read_bytes() == b"written by someone else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]


def test_force_replaces_atomically(tmp_path):
    target = tmp_path / "out.npy"
    target.write_bytes(b"old")
    with PerSampleWriter(target, ["mse"], force=True) as writer:
        writer.write([np.ones(3)], np.arange(3))
        writer.commit()
    assert np.load(target).tolist() == [1.0, 1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]


def test_two_runs_racing_for_one_output_never_both_win(pair):
    """Started together without --force: one writes, the other is refused (exit 2)."""
    n = 300_000
    np.save("big_y.npy", np.zeros(n))
    np.save("big_p.npy", np.ones(n))
    args = [
        sys.executable, "-m", "losscli",
        *per_sample("mse", "big_y.npy", "big_p.npy", "--output", "race.npy", "-f", "value"),
    ]  # fmt: skip
    runs = [
        subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = sorted((r.wait(timeout=120), r.stderr.read()) for r in runs)  # type: ignore[union-attr]
    assert outcomes[0][0] == 0
    assert outcomes[1] == (
        2,
        "Error: --output race.npy already exists; pass --force to replace it\n",
    )
    assert np.load("race.npy").shape == (n,)
    assert [p.name for p in pair.iterdir() if p.name.startswith(".")] == []


# --- failed writes -------------------------------------------------------------------------


_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from losscli.cli.commands import main
sys.argv = ["losscli", *sys.argv[1:]]
main()
"""


def _run_with_file_size_limit(
    args: list[str], limit: int, cwd: Path, stdout: Any = subprocess.PIPE
) -> subprocess.CompletedProcess:
    """A real fault: writes past ``limit`` bytes fail with EFBIG (File too large)."""
    return subprocess.run(
        [sys.executable, "-c", _LIMITED.format(limit=limit), *args],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_output_that_cannot_be_written_is_an_error_and_leaves_nothing(tmp_path, suffix):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "y.npy", rng.normal(size=200_000))
    np.save(tmp_path / "p.npy", rng.normal(size=200_000))
    before = snapshot(tmp_path)
    run = _run_with_file_size_limit(
        per_sample("mse", "y.npy", "p.npy", "--output", f"out{suffix}", "-f", "value"),
        limit=100_000,
        cwd=tmp_path,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr == (
        f"Error: --output out{suffix}: cannot write (File too large); nothing was written\n"
    )
    assert snapshot(tmp_path) == before  # no temporary file, no partial output


def test_junit_xml_that_cannot_be_written_is_an_error_and_leaves_nothing(pair):
    _config(pair)
    before = snapshot(pair)
    run = _run_with_file_size_limit(["check", "c.toml", "--junit-xml", "r.xml"], 100, pair)
    assert run.returncode == 2, run.stderr
    assert (
        run.stderr
        == "Error: --junit-xml r.xml: cannot write (File too large); nothing was written\n"
    )
    assert snapshot(pair) == before


def test_streamed_none_to_stdout_that_cannot_be_written_is_an_error(pair):
    """stdout redirected to a file that hits the size limit."""
    np.save("big_y.npy", np.zeros(100_000))
    np.save("big_p.npy", np.ones(100_000))
    with open(pair / "stdout.csv", "w") as out:
        args = per_sample("mse", "big_y.npy", "big_p.npy", "-f", "csv")
        run = _run_with_file_size_limit(args, 50_000, pair, stdout=out)
    assert run.returncode == 2
    assert run.stderr == "Error: standard output: cannot write (File too large)\n"


def test_output_into_a_place_that_takes_no_files(pair):
    result = invoke(*per_sample("mse", "y.npy", "p.npy", "--output", "/proc/self/x.npy"), code=2)
    assert result.stderr.startswith("Error: --output /proc/self/x.npy: cannot write (")
    assert result.stderr.count("\n") == 1


# --- user code never ends the run ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "return float(np.mean(y_pred - y_true))",
            "custom loss 'loss.py:fn' must return one loss per sample (4 values for 4 samples), "
            "got a single number",
        ),
        (
            "return np.ones(3)",
            "custom loss 'loss.py:fn' must return one loss per sample (4 values for 4 samples), "
            "got shape (3,)",
        ),
        ("sys.exit(0)", "custom loss 'loss.py:fn' raised SystemExit: 0"),
    ],
)
def test_custom_loss_must_return_one_value_per_sample(pair, body, message):
    Path("loss.py").write_text(
        f"import sys\nimport numpy as np\n\ndef fn(y_true, y_pred):\n    {body}\n"
    )
    result = invoke(
        "eval", "loss.py:fn", "--y-true", "y.npy", "--y-pred", "p.npy", "--max", "100", code=2
    )
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""


def test_custom_loss_file_that_exits_on_import(pair):
    Path("loss.py").write_text("import sys\nsys.exit(0)\n")
    result = invoke("eval", "loss.py:fn", "--y-true", "y.npy", "--y-pred", "p.npy", code=2)
    assert result.stderr == "Error: custom loss file 'loss.py' failed to import: SystemExit: 0\n"


def test_custom_loss_that_exits_makes_its_check_an_error_and_the_report_is_written(pair):
    Path("loss.py").write_text("import sys\n\ndef fn(y_true, y_pred):\n    sys.exit(0)\n")
    Path("c.toml").write_text(
        '[inputs]\ny_true = "y.npy"\ny_pred = "p.npy"\n'
        '[[checks]]\nname = "custom"\nloss = "loss.py:fn"\nmax = 1\n'
        '[[checks]]\nname = "plain"\nloss = "mse"\nmax = 1\n'
    )
    result = invoke("check", "c.toml", "--junit-xml", "r.xml", code=2)
    xml = Path("r.xml").read_text()
    assert "<error" in xml and "raised SystemExit" in xml
    assert 'name="plain"' in xml
    assert "custom: custom loss 'loss.py:fn' raised SystemExit: 0" in result.stderr


# --- signals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_terminating_signal_removes_the_temporary_output(pair, signame):
    """The custom loss sends the signal to its own process on the second chunk."""
    n = 200_000
    np.save("big_y.npy", np.zeros(n))
    np.save("big_p.npy", np.ones(n))
    Path("loss.py").write_text(
        textwrap.dedent(
            f"""\
            import os, signal
            calls = []
            def fn(y_true, y_pred):
                calls.append(1)
                if len(calls) == 2:
                    os.kill(os.getpid(), signal.{signame})
                return ((y_true - y_pred) ** 2).mean(axis=-1)
            """
        )
    )
    before = snapshot(pair)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "losscli",
            *per_sample("loss.py:fn", "big_y.npy", "big_p.npy", "--output", "o.csv"),
        ],  # fmt: skip
        cwd=pair,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 128 + getattr(signal, signame)
    assert run.stderr == f"Error: terminated by {signame}\n"
    after = {k: v for k, v in snapshot(pair).items() if not k.startswith("__pycache__")}
    assert after == before


# --- bugs are not input errors ----------------------------------------------------------------


def test_an_internal_error_exits_3_and_says_so(pair, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("losscli.api.run_evaluation", broken)
    result = invoke("eval", "mse", "--y-true", "y.npy", "--y-pred", "p.npy", code=3)
    assert result.stderr == (
        "Error: internal error: ZeroDivisionError: division by zero (a losscli bug; please "
        "report it; LOSSCLI_DEBUG=1 shows the traceback)\n"
    )


# --- row numbers ---------------------------------------------------------------------------


def test_omitted_rows_keep_their_input_row_numbers(pair):
    np.save("nan.npy", np.array([0.0, np.nan, 2.0, 3.0, np.inf, 1.0]))
    np.save("six.npy", np.arange(6.0))
    args = per_sample("mse", "six.npy", "nan.npy", "--nan-policy", "omit", "-q")
    # Rows 1 and 4 hold NaN/inf: absent, never renumbered. Squared errors by hand.
    expected = "index,mse\n0,0.0\n2,0.0\n3,0.0\n5,16.0\n"
    result = invoke(*args, "--output", "o.csv", "-f", "json", code=0)
    assert json.loads(result.stdout)["results"][0]["value"] == [0.0, 0.0, 0.0, 16.0]
    assert Path("o.csv").read_text() == expected
    assert invoke(*args, "-f", "csv", code=0).stdout == expected
