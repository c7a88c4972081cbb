"""Golden outputs: what a few dozen representative commands print (stdout, stderr, exit code,
and the file an ``--output`` writes), recorded from the code as it stands and compared on every
run, numbers within 1e-12 relative and everything else exactly. They guard behaviour while the
code is restructured: a change in any of them is either a bug or a decision to record anew.

Record anew (and review the diff of ``tests/golden.json``) with::

    python tests/test_golden.py --record
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from test_readme import assert_shows, close

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).with_name("golden.json")
S = "sample_data/"
REG = f"--data {S}regression.csv --true-col y_true --pred-col y_pred --weight-col weight"
REG_NPY = (
    f"--y-true {S}regression_true.npy --y-pred {S}regression_pred.npy "
    f"--sample-weight {S}regression_weight.npy"
)
BIN = f"--data {S}binary.parquet --true-col label"
MULTI = f"--y-true {S}multiclass_labels.npy --y-pred {S}multiclass_probs.npy"
LIST = f"--data {S}multiclass.parquet --true-col label"

#: The commands, as typed from the project root; ``{out}`` is a fresh temporary folder.
COMMANDS = [
    # Regression losses, every input form and reduction.
    f"eval mse mae mape msle huber 'huber(delta=2.5)' log_cosh {REG} -f json",
    f"eval mse mae {REG_NPY} -f json",
    *(
        f"eval mse {REG} --reduction {r} -f json"
        for r in ("sum", "mean", "mean_with_sample_weight")
    ),
    f"eval mse {REG_NPY} --reduction none -f json",
    f"eval mse mae {REG} --reduction none --output {{out}}/per_sample.csv",
    f"eval mse {REG} --reduction none --output {{out}}/per_sample.parquet -f json",
    f"eval mse {REG} --dtype float32 -f json",
    # Binary losses, probabilities and logits.
    f"eval bce 'bce(label_smoothing=0.1)' binary_focal_crossentropy hinge squared_hinge {BIN} "
    "--pred-col prob -f json",
    f"eval 'bce(from_logits=true)' 'binary_focal_crossentropy(gamma=3, from_logits=true)' {BIN} "
    "--pred-col logit -f json",
    f"eval 'binary_focal_crossentropy(apply_class_balancing=true)' poisson {BIN} --pred-col prob "
    "-f json",
    # Multiclass: integer labels, one-hot, list columns, column globs.
    f"eval sparse_categorical_crossentropy categorical_generalized_cross_entropy {MULTI} -f json",
    f"eval categorical_crossentropy 'categorical_focal_crossentropy(alpha=0.5)' categorical_hinge "
    f"kld {MULTI} --one-hot -f json",
    f"eval sparse_categorical_crossentropy {LIST} --pred-col probs -f json",
    f"eval sparse_categorical_crossentropy --data {S}multiclass.csv --true-col label --pred-col 'prob_*' -f json",
    f"eval cosine_similarity dice 'tversky(alpha=0.3, beta=0.7)' --data {S}multiclass.parquet "
    "--true-col onehot --pred-col probs -f json",
    f"eval circle --y-true {S}embeddings.npz:labels --y-pred {S}embeddings.npz:embeddings -f json",
    f"eval ctc --y-true {S}sequences.npz:labels --y-pred {S}sequences.npz:logits -f json",
    # Output formats.
    f"eval mse mae {REG}",
    f"eval mse mae {REG} -f csv",
    f"eval mse mae {REG} -f markdown",
    f"eval mse mae {REG} -f value",
    # Slices, intervals, worst samples, distribution.
    f"eval mse {BIN} --pred-col prob --group-by label -f json",
    f"eval mse {BIN} --pred-col prob --group-by label --ci -f json",
    f"eval mse {BIN} --pred-col prob --group-by label --ci --bootstrap 200 --seed 7 -f csv",
    f"eval mse {BIN} --pred-col prob --worst 3 --histogram 5 -f json",
    f"eval mse {BIN} --pred-col prob --group-by label --worst 2 --worst-per-slice -f json",
    f"eval mse {BIN} --pred-col prob --group-by label --slice-max 0.1 -f json",
    # Gates and baselines.
    f"eval bce {BIN} --pred-col prob --max 0.3 -f json",
    f"eval 'bce(from_logits=true)' {BIN} --pred-col logit --baseline-pred {S}binary_previous.parquet "
    "--max-increase 20% -f json",
    f"eval 'bce(from_logits=true)' {BIN} --pred-col logit --baseline-pred {S}binary_previous.parquet "
    "--max-increase 20% --significance 0.05 -f json",
    f"eval 'bce(from_logits=true)' {BIN} --pred-col logit --baseline-pred {S}binary_previous.parquet "
    "--max-increase 20% --non-inferiority",
    # Check files.
    f"check {S}losscli.toml -f json",
    f"check {S}failing.toml -f json",
    f"check {S}losscli.toml --junit-xml {{out}}/report.xml",
    # A local Dask cluster.
    f"eval mse mae {BIN} --pred-col prob --group-by label --scheduler local:2 -f json",
    # Input errors.
    f"eval mean_sqared_error {REG}",
    f"eval mse --data {S}missing.csv --true-col y_true --pred-col y_pred",
    f"eval mse --data {S}regression.csv --true-col y_true --pred-col nope",
    f"eval categorical_crossentropy {MULTI}",
    f"eval 'huber(delta=-1)' {REG}",
]


def run(command: str, out: Path) -> dict[str, Any]:
    """What ``losscli COMMAND`` prints and writes, with the temporary folder as ``{out}``."""
    argv = shlex.split(command.replace("{out}", str(out)))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LOSSCLI_DEBUG")}
    done = subprocess.run(
        [sys.executable, "-m", "losscli", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=300,
    )
    shown = {
        "code": done.returncode,
        "stdout": done.stdout.replace(str(out), "{out}"),
        "stderr": done.stderr.replace(str(out), "{out}"),
    }
    for path in sorted(out.iterdir()):
        if path.suffix == ".parquet":
            import pandas as pd

            shown[path.name] = pd.read_parquet(path).to_dict(orient="list")
        else:
            text = path.read_text().replace(str(out), "{out}")
            # JUnit's durations, timestamp and host change from run to run.
            text = re.sub(r'time="[0-9.]+"', 'time="*"', text)
            shown[path.name] = re.sub(r'(timestamp|hostname)="[^"]*"', r'\1="*"', text)
    return shown


def _json(text: str) -> Any:
    """A JSON document without its ``version`` (a release changes it, not the behaviour)."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if isinstance(document, dict):
        document.pop("version", None)
    return document


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_the_output_is_the_recorded_one(command, tmp_path):
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert command in recorded, "a new command: record the golden outputs anew"
    want = recorded[command]
    got = run(command, tmp_path)
    assert got["code"] == want["code"], got["stderr"]
    assert got.keys() == want.keys()
    for key in want:
        if key == "code":
            continue
        if isinstance(want[key], dict) or _json(want[key]) is not None:
            parsed = got[key] if isinstance(got[key], dict) else _json(got[key])
            assert close(parsed, want[key] if isinstance(want[key], dict) else _json(want[key]))
        else:
            assert_shows(got[key], want[key])


def test_every_command_is_recorded():
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(recorded) == sorted(COMMANDS)


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    results = {}
    for command in COMMANDS:
        with tempfile.TemporaryDirectory() as folder:
            results[command] = run(command, Path(folder))
        print(results[command]["code"], command)
    GOLDEN.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
