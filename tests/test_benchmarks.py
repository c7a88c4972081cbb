"""The benchmark script runs (on its smallest workload: start-up)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_script_runs_and_prints_ratios(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
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
    ).stdout.splitlines()
    rows = [line.split() for line in out if line.startswith("version")]
    assert [row[1] for row in rows] == ["losscli", "import"]
    assert rows[0][-2:] == ["losscli", "0.1.0"]  # the value column: what losscli --version printed
    assert float(rows[1][5]) == 1.0  # the reference's own ratio ("import numpy" is two words)
    assert not (tmp_path / "data").exists()  # generated data removed
