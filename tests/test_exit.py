"""Every run ends with its exit code: no thread alive at exit, no reader left open.

A thread calling into pyarrow while the interpreter shuts down is ended mid-C++ and aborts the
process (``terminate called without an active exception``, exit 134), about once in 60 runs of
a small CSV evaluation on a loaded machine before it was fixed. Small evaluations of every
format and path run many times here beside two CPU-burning processes. Each run is a child
forked from a process that has imported everything: it exits through the interpreter's own
shutdown, as ``losscli`` does, without paying the imports again.
``LOSSCLI_EXIT_ROUNDS=300 pytest tests/test_exit.py`` runs the long form.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("LOSSCLI_EXIT_ROUNDS", "5"))

HARNESS = """
import json, os, sys
from collections import Counter

import numpy, pandas, pyarrow, pyarrow.csv, pyarrow.parquet  # noqa: F401 - imported once
from losscli.cli.commands import main

commands, rounds = json.loads(sys.argv[1]), int(sys.argv[2])
ends = Counter()
for _ in range(rounds):
    for name, args in commands.items():
        pid = os.fork()
        if pid == 0:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            sys.argv = ["losscli", *args]
            main()  # SystemExit: the child's interpreter shuts down as losscli's does
        ends[f"{name} {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}"] += 1
print(json.dumps(ends))
"""


@pytest.mark.slow
def test_small_evaluations_always_exit_0_beside_busy_cores(tmp_path):
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame({"y": rng.random(n), "p": rng.random(n), "g": rng.integers(0, 3, n)})
    frame.to_csv(tmp_path / "small.csv", index=False)
    frame.to_parquet(tmp_path / "small.parquet", row_group_size=500)  # pieces on threads
    np.save(tmp_path / "y.npy", frame["y"].to_numpy())
    np.save(tmp_path / "p.npy", frame["p"].to_numpy())
    (tmp_path / "harness.py").write_text(HARNESS)
    table = ["--true-col", "y", "--pred-col", "p"]
    commands = {
        "csv": ["eval", "mse", "--data", "small.csv", *table],
        "parquet": ["eval", "mse", "--data", "small.parquet", *table],
        "npy": ["eval", "mse", "--y-true", "y.npy", "--y-pred", "p.npy"],
        "csv none": ["eval", "mse", "--data", "small.csv", *table, "--reduction", "none",
                     "-f", "csv"],
        "parquet none": ["eval", "mse", "--data", "small.parquet", *table, "--reduction",
                         "none", "-o", "out.parquet", "--force"],
        "csv ci": ["eval", "mse", "--data", "small.csv", *table, "--ci", "--group-by", "g"],
        "parquet ci": ["eval", "bce", "--data", "small.parquet", *table, "--ci"],
    }  # fmt: skip
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        done = subprocess.run(
            [sys.executable, "harness.py", json.dumps(commands), str(ROUNDS)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60 + 30 * ROUNDS,
            check=False,
        )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {f"{name} 0": ROUNDS for name in commands}
