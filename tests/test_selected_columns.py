"""The columns each role read are visible: in JSON ``inputs.columns``, in a line under the
table, and a glob that takes columns of different families (``y_pred`` and ``y_pred_old``) is
warned about. Expected values come from numpy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli as invoke

Y = np.array([1.0, 2.0, 3.0, 4.0])
NEW = np.array([1.5, 2.0, 2.0, 4.5])
OLD = np.array([1.0, 3.0, 3.5, 4.0])
W = np.array([1.0, 2.0, 1.0, 0.5])


@pytest.fixture
def table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"y_true": Y, "y_pred": NEW, "y_pred_old": OLD, "w": W})
    frame.to_csv("t.csv", index=False)
    return tmp_path


def test_a_glob_over_two_families_warns_and_json_names_the_columns(table):
    args = ("eval", "mse", "--data", "t.csv", "--true-col", "y_true", "--pred-col", "y_pred*")
    result = invoke(*args, "-f", "json", code=0)
    document = json.loads(result.stdout)
    # (N, 2) predictions against (N, 1) labels: the mean over both columns, then over rows
    expected = np.mean(np.mean((Y[:, None] - np.stack([NEW, OLD], axis=1)) ** 2, axis=1))
    assert document["results"][0]["value"] == pytest.approx(expected, rel=1e-12)
    assert document["inputs"]["columns"] == {
        "y_true": ["y_true"],
        "y_pred": ["y_pred", "y_pred_old"],
    }
    assert result.stderr == (
        "Warning: t.csv: --pred-col 'y_pred*' takes columns of different families, 'y_pred' "
        "and 'y_pred_old' (the first's name plus a suffix); name the columns you mean\n"
    )
    # numbered columns of one family are no two families
    numbered = pd.DataFrame({"y": Y, **{f"p_{i}": NEW for i in range(12)}})
    numbered.to_csv("n.csv", index=False)
    quiet = invoke("eval", "mse", "--data", "n.csv", "--true-col", "y", "--pred-col", "p_*", code=0)
    assert quiet.stderr == ""


def test_every_role_s_columns_in_json_and_under_the_table(table):
    args = ("eval", "mse", "--data", "t.csv", "--true-col", "y_true", "--pred-col", "y_pred")
    args += ("--weight-col", "w", "--baseline-col", "y_pred_old")
    document = json.loads(invoke(*args, "-f", "json", code=0).stdout)
    assert document["inputs"]["columns"] == {
        "y_true": ["y_true"],
        "y_pred": ["y_pred"],
        "sample_weight": ["w"],
        "baseline": ["y_pred_old"],
    }
    entry = document["results"][0]
    assert entry["value"] == np.sum(W * (Y - NEW) ** 2) / 4
    assert entry["baseline"] == np.sum(W * (Y - OLD) ** 2) / 4
    lines = invoke(*args, "--reduction", "sum", code=0).stdout.splitlines()
    assert lines[-1] == (
        "columns: y_true [y_true]; y_pred [y_pred]; sample_weight [w]; baseline [y_pred_old]"
    )
    np.save("y.npy", Y)
    np.save("p.npy", NEW)
    arrays = invoke("eval", "mse", "--y-true", "y.npy", "--y-pred", "p.npy", "-f", "json", code=0)
    assert "columns" not in json.loads(arrays.stdout)["inputs"]
    plain = invoke("eval", "mse", "--y-true", "y.npy", "--y-pred", "p.npy", code=0).stdout
    assert "columns:" not in plain


def test_the_columns_line_on_a_terminal_folds_at_its_width():
    from test_terminal import FOCAL, in_terminal

    from losscli.cli.tables import CONTINUED

    text, _, code = in_terminal(FOCAL, 60)
    assert code == 0
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("columns: "))
    # Folded between names, each line after the first under the continuation mark.
    assert len(lines) > start + 1
    assert all(line.startswith(CONTINUED) for line in lines[start + 1 :])
    shown = " ".join(line.removeprefix(CONTINUED) for line in lines[start:])
    onehot = ", ".join(f"onehot_{i}" for i in range(4))
    probs = ", ".join(f"prob_{i}" for i in range(4))
    assert shown == f"columns: y_true [{onehot}]; y_pred [{probs}]"
    assert all(len(line) <= 60 for line in lines)


# --- the default reduction with weights: a note --------------------------------------------

NOTE = (
    "Note: with weights, the default reduction is Keras' sum(w * loss) / N; for the weighted "
    "mean: --reduction mean_with_sample_weight\n"
)


def test_weights_with_the_default_reduction_get_a_note(table):
    args = ("eval", "mse", "mae", "--data", "t.csv", "--true-col", "y_true", "--pred-col", "y_pred")
    result = invoke(*args, "--weight-col", "w", "-f", "value", code=0)
    assert [float(v) for v in result.stdout.split()] == [
        np.sum(W * (Y - NEW) ** 2) / 4,
        np.sum(W * np.abs(Y - NEW)) / 4,
    ]
    assert result.stderr == NOTE  # once, however many losses
    explicit = ("--weight-col", "w", "--reduction", "sum_over_batch_size", "-f", "value")
    assert invoke(*args, *explicit, code=0).stderr == ""
    assert invoke(*args, "--weight-col", "w", "-q", code=0).stderr == ""
    assert invoke(*args, code=0).stderr == ""
    weighted = invoke(*args[:2], *args[3:], "--sample-weight", "2", "-f", "value", code=0)
    assert weighted.stderr == NOTE
    assert float(weighted.stdout) == np.mean(2 * (Y - NEW) ** 2)


def test_weights_in_a_check_file_get_the_note_unless_it_sets_the_reduction(table):
    from pathlib import Path

    head = '[inputs]\ndata = "t.csv"\ntrue_col = "y_true"\npred_col = "y_pred"\nweight_col = "w"\n'
    check = '[[checks]]\nloss = "mse"\n'
    Path("c.toml").write_text(head + check + check.replace("mse", "mae"))
    result = invoke("check", "c.toml", "-f", "json", code=0)
    assert result.stderr == (
        "Note: with weights, the default reduction is Keras' sum(w * loss) / N; for the weighted "
        'mean: reduction = "mean_with_sample_weight"\n'
    )
    assert json.loads(result.stdout)["checks"][0]["value"] == np.sum(W * (Y - NEW) ** 2) / 4
    explicit = check + 'reduction = "sum_over_batch_size"\n'
    Path("c.toml").write_text(head + explicit)
    assert invoke("check", "c.toml", code=0).stderr == ""
