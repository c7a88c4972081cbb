"""Every output of a run (``--output``, ``--plot``, ``--junit-xml``, dataset parts): created
``0666 & ~umask``; a device, FIFO or symlink written through, never renamed over; never over a
file the run reads; a failed dataset run leaves the old dataset; a JUnit report never stale."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli as invoke

MSE = float(np.mean((np.array([0.0, 1.0, 2.0, 3.0]) - np.array([0.5, 1.0, 2.5, 3.0])) ** 2))


@pytest.fixture
def pair(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("y.npy", np.array([0.0, 1.0, 2.0, 3.0]))
    np.save("p.npy", np.array([0.5, 1.0, 2.5, 3.0]))
    Path("c.toml").write_text(
        textwrap.dedent(
            """\
            [inputs]
            y_true = "y.npy"
            y_pred = "p.npy"

            [[checks]]
            loss = "mse"
            max = 10
            """
        )
    )
    return tmp_path


def per_sample(*extra: object) -> list[object]:
    return ["eval", "mse", "--y-true", "y.npy", "--y-pred", "p.npy", "--reduction", "none", *extra]


def _losscli(args: list[str], cwd: Path, umask: int | None = None) -> subprocess.CompletedProcess:
    """``python -m losscli ARGS`` in its own process (its own umask, its own stdout)."""
    env = {"PYTHONPATH": str(Path(__file__).parents[1]), **os.environ}
    return subprocess.run(
        [sys.executable, "-m", "losscli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),  # noqa: PLW1509
    )


# --- modes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_are_created_as_open_creates_files(pair, umask):
    np.save("y2.npy", np.linspace(0, 1, 50))
    np.save("p2.npy", np.linspace(1, 0, 50))
    eval_args = ["eval", "mse", "--y-true", "y2.npy", "--y-pred", "p2.npy", "--reduction", "none"]
    run = _losscli([*eval_args, "-o", "out.csv", "--plot", "plot.html"], pair, umask)
    assert run.returncode == 0, run.stderr
    run = _losscli([*eval_args, "-o", "ds/"], pair, umask)
    assert run.returncode == 0, run.stderr
    run = _losscli(["check", "c.toml", "--junit-xml", "report.xml"], pair, umask)
    assert run.returncode == 0, run.stderr
    wanted = 0o666 & ~umask
    for name in ("out.csv", "plot.html", "report.xml", "ds/part-00000.parquet"):
        assert stat.S_IMODE(os.stat(name).st_mode) == wanted, name


# --- devices, FIFOs and symlinks are written through -----------------------------------------


def _is_null_device(path: str) -> bool:
    info = os.lstat(path)
    return (
        stat.S_ISCHR(info.st_mode) and os.major(info.st_rdev) == 1 and os.minor(info.st_rdev) == 3
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_device_is_written_through_never_replaced(pair):
    for name in ("null.xml", "null.csv", "null.html"):
        os.mknod(name, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    invoke("check", "c.toml", "--junit-xml", "null.xml", code=0)
    # No --force needed: nothing is replaced.
    invoke(*per_sample("-o", "null.csv", "--plot", "null.html", "-f", "value"), code=0)
    for name in ("null.xml", "null.csv", "null.html"):
        assert _is_null_device(name), name
    assert sorted(os.listdir()) == ["c.toml", "null.csv", "null.html", "null.xml", "p.npy", "y.npy"]


def test_a_fifo_is_written_through(pair):
    os.mkfifo("fifo.xml")
    received: list[bytes] = []

    def read() -> None:
        with open("fifo.xml", "rb") as fifo:
            received.append(fifo.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    invoke("check", "c.toml", "--junit-xml", "fifo.xml", code=0)
    reader.join(30)
    assert stat.S_ISFIFO(os.lstat("fifo.xml").st_mode)
    text = received[0].decode()
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n<testsuites ")
    assert f"value: {MSE!r}" in text


def test_a_symlink_to_standard_output_is_written_through(pair):
    os.symlink("/proc/self/fd/1", "report.xml")
    run = _losscli(["check", "c.toml", "--junit-xml", "report.xml", "-f", "json"], pair)
    assert run.returncode == 0, run.stderr
    assert os.readlink("report.xml") == "/proc/self/fd/1"
    assert "<testsuites " in run.stdout and f"value: {MSE!r}" in run.stdout


def test_a_symlink_to_a_file_stays_a_link_and_its_file_is_replaced(pair):
    os.mkdir("shared")
    Path("shared/report.xml").write_text("old")
    os.symlink("shared/report.xml", "report.xml")
    invoke("check", "c.toml", "--junit-xml", "report.xml", code=0)
    assert os.readlink("report.xml") == "shared/report.xml"
    assert f"value: {MSE!r}" in Path("shared/report.xml").read_text()
    assert sorted(os.listdir("shared")) == ["report.xml"]
    # -o through a link to an existing file still needs --force.
    np.save("shared/out.npy", np.zeros(1))
    os.symlink("shared/out.npy", "out.npy")
    result = invoke(*per_sample("-o", "out.npy"), code=2)
    assert result.stderr == "Error: --output out.npy already exists; pass --force to replace it\n"
    invoke(*per_sample("-o", "out.npy", "--force", "-f", "value"), code=0)
    assert os.path.islink("out.npy")
    np.testing.assert_array_equal(np.load("shared/out.npy"), [0.25, 0.0, 0.25, 0.0])


# --- no output replaces a file the run reads -------------------------------------------------


@pytest.fixture
def dataset(pair):
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.mkdir("ds")
    pq.write_table(pa.table({"y": [0.0, 1.0], "p": [0.5, 1.0]}), "ds/a.parquet")
    pq.write_table(pa.table({"y": [2.0, 3.0], "p": [2.5, 3.0]}), "ds/b.parquet")
    return pair


@pytest.mark.parametrize(
    ("option", "data"),
    [("-o", "ds"), ("-o", "ds/"), ("-o", "ds/*.parquet"), ("-o", "ds/b*"),
     ("--plot", "ds"), ("--plot", "ds/"), ("--plot", "ds/b*")],
)  # fmt: skip
def test_no_output_replaces_a_file_of_a_dataset_or_glob(dataset, data, option):
    before = Path("ds/b.parquet").read_bytes()
    target = "ds/b.parquet" if option == "-o" else "ds/b.html"
    if option == "--plot":  # a file of the directory is read, whatever its name
        Path(target).write_bytes(before)
        before = Path(target).read_bytes()
    args = ["eval", "mse", "--data", data, "--true-col", "y", "--pred-col", "p"]
    result = invoke(*args, "--reduction", "none", option, target, "--force", code=2)
    assert result.stderr == (
        f"Error: {'--output' if option == '-o' else '--plot'} {target} is one of the inputs; "
        "losscli never overwrites inputs\n"
    )
    assert Path(target).read_bytes() == before


def test_junit_xml_never_replaces_a_file_of_a_dataset(dataset):
    Path("c.toml").write_text(
        '[inputs]\ndata = "ds"\ntrue_col = "y"\npred_col = "p"\n[[checks]]\nloss = "mse"\n'
    )
    before = Path("ds/a.parquet").read_bytes()
    result = invoke("check", "c.toml", "--junit-xml", "ds/a.parquet", code=2)
    assert result.stderr == (
        "Error: --junit-xml ds/a.parquet is one of the inputs; losscli never overwrites inputs\n"
    )
    assert Path("ds/a.parquet").read_bytes() == before


def test_plot_refuses_an_existing_file_without_force(pair):
    Path("notes.html").write_text("my notes")
    result = invoke(*per_sample("--plot", "notes.html", "-f", "value"), code=2)
    assert result.stderr == "Error: --plot notes.html already exists; pass --force to replace it\n"
    assert result.stdout == ""
    assert Path("notes.html").read_text() == "my notes"
    invoke(*per_sample("--plot", "notes.html", "-f", "value", "--force"), code=0)
    assert Path("notes.html").read_text().startswith("<!DOCTYPE html>")


# --- a JUnit report is never stale -----------------------------------------------------------


def _errors_in(report: str) -> list[tuple[str, str]]:
    """Each ``<error>``'s type and message; the report must parse."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(Path(report).read_bytes())
    assert root.tag == "testsuites" and root.get("errors") == str(len(root.findall(".//error")))
    return [(e.get("type", ""), e.get("message", "")) for e in root.iter("error")]


BROKEN = {
    "a misspelt key": ('[inputs]\ny_true = "y.npy"\ny_pred = "p.npy"\n[[checks]]\nloss = "mse"\n'
                       "mx = 1\n", "ConfigError", "c.toml checks[0]: unknown key 'mx'; did you "
                       "mean max? known keys: "),
    "not TOML": ("[inputs\n", "ConfigError", "c.toml: not valid TOML (Expected ']' at the end "
                 "of a table declaration (at line 1, column 8))"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BROKEN), ids=["bad-key", "bad-toml"])
def test_a_config_error_replaces_the_earlier_report(pair, case):
    invoke("check", "c.toml", "--junit-xml", "report.xml", code=0)
    assert _errors_in("report.xml") == []
    text, kind, message = BROKEN[case]
    Path("c.toml").write_text(text)
    result = invoke("check", "c.toml", "--junit-xml", "report.xml", code=2)
    assert result.stderr.startswith(f"Error: {message}")
    [(found_kind, found)] = _errors_in("report.xml")
    assert (found_kind, found) == (kind, result.stderr[len("Error: ") :].rstrip("\n"))


def test_a_missing_config_replaces_the_earlier_report_but_no_other_file(pair):
    invoke("check", "c.toml", "--junit-xml", "report.xml", code=0)
    result = invoke("check", "gone.toml", "--junit-xml", "report.xml", code=2)
    assert result.stderr == "Error: gone.toml: no such config file\n"
    assert _errors_in("report.xml") == [("ConfigError", "gone.toml: no such config file")]
    # The inputs are unknown: a file that is not a JUnit report is left alone.
    before = Path("y.npy").read_bytes()
    invoke("check", "gone.toml", "--junit-xml", "y.npy", code=2)
    assert Path("y.npy").read_bytes() == before


def test_an_internal_error_replaces_the_earlier_report(pair):
    """A custom loss returning an object whose conversion to an array raises: a genuine path
    to exit 3, no part of losscli replaced."""
    invoke("check", "c.toml", "--junit-xml", "report.xml", code=0)
    Path("weird.py").write_text(
        "class Weird:\n"
        "    def __array__(self, dtype=None, copy=None):\n"
        "        raise RuntimeError('no array here')\n"
        "\n"
        "def loss(y_true, y_pred):\n"
        "    return Weird()\n"
    )
    Path("c.toml").write_text(Path("c.toml").read_text().replace('"mse"', '"weird.py:loss"'))
    result = invoke("check", "c.toml", "--junit-xml", "report.xml", code=3)
    assert result.stderr.startswith("Error: internal error: RuntimeError: no array here (")
    assert _errors_in("report.xml") == [
        ("InternalError", "internal error: RuntimeError: no array here")
    ]


def test_a_terminated_check_replaces_the_earlier_report(pair):
    invoke("check", "c.toml", "--junit-xml", "report.xml", code=0)
    Path("kill.py").write_text(
        "import os, signal\n\ndef loss(y_true, y_pred):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n    return (y_true - y_pred) ** 2\n"
    )
    Path("c.toml").write_text(Path("c.toml").read_text().replace('"mse"', '"kill.py:loss"'))
    run = _losscli(["check", "c.toml", "--junit-xml", "report.xml"], pair)
    assert run.returncode == 143 and run.stderr == "Error: terminated by SIGTERM\n"
    assert _errors_in("report.xml") == [("Terminated", "terminated by SIGTERM")]


@pytest.mark.parametrize(
    ("option", "target"),
    [("-o", "ds/losses.parquet"), ("--plot", "ds/p.html"), ("--worst-output", "ds/w.csv")],
)
@pytest.mark.parametrize("data", ["ds", "ds/*.parquet"])
def test_no_new_file_inside_an_input_directory_or_glob(dataset, data, option, target):
    """A new file among an input's files would be read as data by the next run."""
    args = ["eval", "mse", "--data", data, "--true-col", "y", "--pred-col", "p"]
    args += ["--reduction", "none"] if option == "-o" else ["--worst", "1"]
    if data == "ds/*.parquet" and not target.endswith(".parquet"):
        invoke(*args, option, target, code=0)  # not matched by the glob: never read
        return
    result = invoke(*args, option, target, code=2)
    name = {"-o": "--output"}.get(option, option)
    assert result.stderr == (
        f"Error: {name} {target} is inside the input {data}, whose files are all read (a file "
        "written there would be read as data next time); write it elsewhere\n"
    )
    assert sorted(os.listdir("ds")) == ["a.parquet", "b.parquet"]


@pytest.mark.parametrize("bad", [["--format", "bogus"], ["--bogus"]])
def test_a_refused_command_line_replaces_the_earlier_report(pair, bad):
    invoke("check", "c.toml", "--junit-xml", "report.xml", code=0)
    result = invoke("check", "c.toml", "--junit-xml", "report.xml", *bad, code=2)
    [(kind, message)] = _errors_in("report.xml")
    assert kind == "InputError" and result.stderr.startswith(f"Error: {message}")
