"""The benchmark script: it runs (on its smallest workload: start-up), and the ratios it prints
are each command's median timing over the reference command's."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "run.py"


def _rows(out: str, workload: str) -> dict[str, list[str]]:
    """A workload's rows by command: wall s, peak MiB, wall x, peak x and the value's words
    (a command's name may hold a space: its column is 14 characters wide)."""
    return {
        line[15:29].strip(): line[29:].split()
        for line in out.splitlines()
        if line[:14].strip() == workload
    }


def test_benchmark_script_runs_and_prints_ratios(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--only",
            "version",
            "--runs",
            "1",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    rows = _rows(out, "version")
    assert list(rows) == ["losscli", "import numpy"]
    assert rows["losscli"][4:] == ["losscli", "0.1.0"]  # the value: what losscli --version printed
    ref_wall, ref_peak = float(rows["import numpy"][0]), float(rows["import numpy"][1])
    for wall, peak, wall_x, peak_x, *_ in rows.values():
        assert float(wall) > 0 and float(peak) > 0
        # The ratios as printed, from the columns as printed (rounded to 3 and 1 decimals).
        assert float(wall_x) == pytest.approx(float(wall) / ref_wall, abs=0.01 + 2e-3 / ref_wall)
        assert float(peak_x) == pytest.approx(float(peak) / ref_peak, abs=0.01 + 0.2 / ref_peak)
    assert not (tmp_path / "data").exists()  # generated data removed


def test_the_ratios_are_medians_over_the_reference_commands(tmp_path, monkeypatch, capsys):
    """Timings given for each command (a warm-up run, then three counted): the ratios are the
    median of each command's counted runs over the median of the reference's."""
    spec = importlib.util.spec_from_file_location("benchmark_run", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmark_run", bench)  # for its dataclasses
    spec.loader.exec_module(bench)
    timings = {  # (wall s, peak MiB) per run; the first is the warm-up, never counted
        "losscli": [(99.0, 999.0), (0.3, 60.0), (0.5, 80.0), (0.4, 70.0)],
        "import numpy": [(99.0, 999.0), (0.1, 20.0), (0.1, 25.0), (0.2, 35.0)],
    }
    runs = []

    def run_once(command):
        runs.append(command.name)
        wall, peak = timings[command.name].pop(0)
        return wall, peak, f"printed by {command.name}"

    monkeypatch.setattr(bench, "run_once", run_once)
    monkeypatch.setattr(
        sys, "argv", ["run.py", "--only", "version", "--runs", "3", "--data-dir", str(tmp_path)]
    )
    bench.main()
    rows = _rows(capsys.readouterr().out, "version")
    assert runs == ["losscli", "import numpy"] * 4  # in turn, after one warm-up each
    assert rows["losscli"] == ["0.400", "70.0", "4.00", "2.80", "printed", "by", "losscli"]
    assert rows["import numpy"][:4] == ["0.100", "25.0", "1.00", "1.00"]
