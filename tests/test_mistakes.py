"""Likely mistakes are caught: delimiters told apart, unknown names answered by meaning,
echoed names kept short, and warnings (exit 0) for inputs that are probably not what the user
meant. Expected values come from numpy or Python, never from losscli."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli as invoke

Y = [1.0, 2.0, 3.0, 4.0]
P = [1.5, 2.0, 2.0, 4.5]
MSE = float(np.mean((np.array(Y) - np.array(P)) ** 2))


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def table_text(delimiter: str) -> str:
    rows = [f"y{delimiter}p{delimiter}note"] + [
        f"{y}{delimiter}{p}{delimiter}row {i}" for i, (y, p) in enumerate(zip(Y, P, strict=True))
    ]
    return "\n".join(rows) + "\n"


def on_arrays(loss: str, *extra: str, code: int = 0):
    """``eval LOSS --y-true y.npy --y-pred p.npy EXTRA...``"""
    return invoke("eval", loss, "--y-true", "y.npy", "--y-pred", "p.npy", *extra, code=code)


def on_table(data: str, *extra: str, code: int = 0, stdin: str | None = None):
    args = ("eval", "mse", "--data", data, "--true-col", "y", "--pred-col", "p", "-f", "value")
    return invoke(*args, *extra, code=code, stdin=stdin)


def on_stdin(true_col: str, pred_col: str, text: str):
    """``eval mse --data - --true-col T --pred-col P`` on ``text``, refused (exit 2)."""
    args = ("eval", "mse", "--data", "-", "--true-col", true_col, "--pred-col", pred_col)
    return invoke(*args, code=2, stdin=text)


# --- delimiters ------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"], ids=["comma", "tab", "semi", "pipe"])
def test_delimiter_is_detected_in_files_and_on_stdin(here, delimiter):
    Path("t.csv").write_text(table_text(delimiter))
    assert float(on_table("t.csv").stdout) == MSE
    assert float(on_table("-", stdin=table_text(delimiter)).stdout) == MSE


def test_a_delimiter_inside_quotes_does_not_fool_the_detection(here):
    Path("q.csv").write_text('y,p,note\n1,1.5,"a;b;c;d"\n2,2,"e;f;g;h"\n3,2,x\n4,4.5,y\n')
    assert float(on_table("q.csv").stdout) == MSE


@pytest.mark.parametrize("given", [":", "tab", "\\t"])
def test_delimiter_option_and_config_key(here, given):
    delimiter = ":" if given == ":" else "\t"
    Path("t.txt").write_text(table_text(delimiter))
    result = on_table("t.txt", "--input-format", "csv", "--delimiter", given)
    assert float(result.stdout) == MSE
    toml_value = given.replace("\\", "\\\\")  # a TOML basic string escapes a backslash
    Path("c.toml").write_text(
        textwrap.dedent(
            f"""\
            [inputs]
            data = "t.txt"
            input_format = "csv"
            delimiter = "{toml_value}"
            true_col = "y"
            pred_col = "p"
            [[checks]]
            loss = "mse"
            max = 1
            """
        )
    )
    assert f"{MSE!r}" in invoke("check", "c.toml", "-f", "json", code=0).stdout


@pytest.mark.parametrize("given", ['"', "ab", ""])
def test_a_delimiter_that_cannot_be_is_an_error(here, given):
    Path("t.csv").write_text(table_text(","))
    result = on_table("t.csv", "--delimiter", given, code=2)
    assert result.stderr == (
        f"Error: --delimiter {given!r}: give one character other than a quote or a line break "
        "(tab for a tab)\n"
    )


def test_a_tab_separated_stream_names_its_columns_right(here):
    result = on_stdin("label", "p", table_text("\t"))
    assert result.stderr == (
        "Error: standard input: no column matches --true-col 'label'; the columns are y, p, note\n"
    )


# --- names echoed in messages ------------------------------------------------------------------


def test_nul_bytes_on_stdin_give_one_short_line(here):
    result = on_stdin("a", "b", "\0" * 200_000)
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 300, result.stderr[:300]
    assert result.stderr.startswith("Error: standard input: ")


def test_many_long_column_names_are_shortened(here):
    names = [f"column_with_a_really_long_name_number_{i:03d}_of_many" for i in range(30)]
    Path("w.csv").write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n")
    result = on_table("w.csv", code=2)
    shown = ", ".join(name[:37] + "..." for name in names[:10])
    assert result.stderr == (
        f"Error: w.csv: no column matches --true-col 'y'; the columns are {shown}, ... (20 more)\n"
    )


# --- unknown loss names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("log_loss", "binary_crossentropy, categorical_crossentropy, log_cosh"),
        ("l1", "mean_absolute_error"),
        ("L2", "mean_squared_error"),
        ("smooth_l1", "huber"),
        ("nll_loss", "sparse_categorical_crossentropy"),
        (
            "cross_entropy",
            "sparse_categorical_crossentropy(from_logits=true), "
            "categorical_crossentropy(from_logits=true), binary_crossentropy",
        ),
        (
            "binary_crosentropy",
            "binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy",
        ),
    ],
)
def test_unknown_names_are_answered_by_meaning_each_loss_once(here, typed, suggested):
    result = invoke("eval", typed, "--y-true", "y.npy", "--y-pred", "p.npy", code=2)
    assert result.stderr == (
        f"Error: unknown loss {typed!r}; did you mean {suggested}? (`losscli list` shows them "
        "all)\n"
    )


def test_names_from_other_libraries_are_never_accepted_silently():
    from losscli.errors import SpecError
    from losscli.losses.classes import ELSEWHERE, IDENTIFIERS, lookup
    from losscli.losses.spec import build_loss

    for name, specs in ELSEWHERE.items():
        assert name not in IDENTIFIERS
        with pytest.raises(SpecError, match="did you mean"):
            lookup(name)
        for spec in specs:
            build_loss(spec)  # every suggestion is a loss losscli takes


# --- warnings ------------------------------------------------------------------------------------


@pytest.fixture
def arrays(here):
    np.save("y.npy", np.array(Y))
    np.save("p.npy", np.array(P))
    return here


def test_negative_weights_warn(arrays):
    w = np.array([1.0, -2.0, 1.0, 1.0])
    np.save("w.npy", w)
    result = on_arrays("mse", "--sample-weight", "w.npy", "-f", "value", code=0)
    sq = (np.array(Y) - np.array(P)) ** 2
    assert float(result.stdout) == pytest.approx(float(np.sum(sq * w) / 4), rel=1e-15)
    assert result.stderr == (
        "Warning: sample_weight has negative values (min -2): Keras applies them as they are, "
        "so those samples lower the loss\n"
        "Note: with weights, the default reduction is Keras' sum(w * loss) / N; for the weighted "
        "mean: --reduction mean_with_sample_weight\n"
    )
    scalar = on_arrays("mse", "--sample-weight", "-0.5", "-f", "value", code=0)
    assert scalar.stderr.startswith("Warning: sample_weight has negative values (min -0.5)")


def test_binary_loss_on_labels_outside_0_1_warns(arrays):
    result = on_arrays("bce(from_logits=true)", "-f", "value", code=0)
    assert result.stderr == (
        "Warning: binary_crossentropy: y_true has values outside [0, 1] (min 1, max 4); a "
        "binary loss expects labels 0 or 1 (or probabilities)\n"
    )


def test_binary_labels_0_and_1_do_not_warn(here):
    np.save("y.npy", np.array([0.0, 1.0, 1.0]))
    np.save("p.npy", np.array([0.2, 0.7, 0.9]))
    result = on_arrays("bce", code=0)
    assert result.stderr == ""


def test_the_same_data_for_labels_and_predictions_warns(arrays):
    Path("t.csv").write_text(table_text(","))
    result = invoke(
        "eval",
        "mse",
        "--data",
        "t.csv",
        "--true-col",
        "y",
        "--pred-col",
        "y",
        "-f",
        "value",
        code=0,
    )
    assert float(result.stdout) == 0.0
    assert result.stderr == (
        "Warning: y_true and y_pred are the same data (t.csv, column 'y'): every loss "
        "compares it with itself\n"
    )
    twice = invoke("eval", "mse", "--y-true", "y.npy", "--y-pred", "./y.npy", code=0)
    assert twice.stderr == (
        "Warning: y_true and y_pred are the same data (./y.npy): every loss compares it with "
        "itself\n"
    )
    different = on_arrays("mse", code=0)
    assert different.stderr == ""


def test_long_specs_are_echoed_around_the_fault(here):
    digits = "9" * 5000
    result = invoke(
        "eval", f"huber(delta={digits})", "--y-true", "y.npy", "--y-pred", "y.npy", code=2
    )
    assert result.stderr == (
        f"Error: cannot parse loss 'huber(delta={digits[:48]}...': an integer of more than 300 "
        "digits at position 13\n"
    )
    name = "x" * 500
    result = invoke("eval", name, "--y-true", "y.npy", "--y-pred", "y.npy", code=2)
    assert result.stderr == (
        f"Error: unknown loss '{name[:37]}...' (`losscli list` shows them all)\n"
    )


def test_an_error_line_stays_readable_whatever_it_echoes(here):
    path = "d" * 3000 + ".npy"  # over NAME_MAX: an error of its own, not "no such file"
    result = invoke("eval", "mse", "--y-true", path, "--y-pred", path, code=2)
    line = result.stderr.rstrip("\n")
    assert result.stderr.count("\n") == 1 and len(line) <= len("Error: ") + 1000
    assert line.startswith("Error: dddd")
    assert line.endswith("dddd.npy: cannot look it up (File name too long)")


@pytest.mark.parametrize(
    "args",
    [
        ("eval", "mse", "--y-true", "y.npy", "--y-pred", "y.npy", "--output", "o" * 300 + ".npy"),
        ("eval", "mse", "--y-true", "y.npy", "--y-pred", "y.npy", "--sample-weight", "w" * 300),
        ("eval", "f" * 300 + ".py:fn", "--y-true", "y.npy", "--y-pred", "y.npy"),
        ("check", "c" * 300 + ".toml"),
    ],
    ids=["output", "weights", "custom-loss", "config"],
)
def test_names_too_long_to_look_up_are_input_errors(arrays, args):
    result = invoke(*args, code=2)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "File name too long" in result.stderr or "does not exist" in result.stderr


def test_ctc_labels_with_a_0_inside_follow_keras_with_a_warning(here):
    from losscli import losses

    labels = np.array([[1, 2, 1, 0], [1, 2, 0, 2], [2, 2, 0, 0]])
    logits = np.random.default_rng(5).normal(size=(3, 6, 3))
    np.savez("seq.npz", labels=labels, logits=logits)
    result = invoke(
        "eval",
        "ctc",
        "--y-true",
        "seq.npz:labels",
        "--y-pred",
        "seq.npz:logits",
        "-f",
        "value",
        code=0,
    )
    assert float(result.stdout) == pytest.approx(float(losses.CTC()(labels, logits)), rel=1e-12)
    assert result.stderr == (
        "Warning: ctc: y_true row 1 has a 0 before a label; as in Keras, a row's labels are its "
        "first k entries (k: its nonzero count), so that 0 is read as the blank and the row's "
        "last label dropped: pad with 0 at the end only\n"
    )


def test_categorical_losses_on_one_class_warn_once(here):
    np.save("y.npy", np.ones((5, 1)))
    np.save("p.npy", np.full((5, 1), 0.5))
    result = on_arrays("categorical_crossentropy", code=0)
    assert result.stderr == (
        "Warning: categorical_crossentropy: y_pred has one class per row, so the loss is about 0 "
        "whatever it holds; with two classes use binary_crossentropy, with more one column per "
        "class\n"
    )


# --- integer labels and one-hot rows -------------------------------------------------------


@pytest.fixture
def classes(here):
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, 40_000)
    probs = rng.dirichlet(np.ones(4), 40_000)
    np.save("labels.npy", labels)
    np.save("labels_col.npy", labels.reshape(-1, 1).astype(np.float64))
    np.save("probs.npy", probs)
    return labels, probs


@pytest.mark.parametrize("labels", ["labels.npy", "labels_col.npy"])
def test_one_hot_turns_labels_into_rows_chunk_by_chunk(classes, labels):
    from losscli import losses

    y, p = classes
    one_hot = np.eye(4)[y]
    for loss in ("categorical_crossentropy", "kl_divergence", "categorical_hinge"):
        result = invoke(
            "eval",
            loss,
            "--y-true",
            labels,
            "--y-pred",
            "probs.npy",
            "--one-hot",
            "-f",
            "value",
            code=0,
        )
        expected = losses.get(loss)(one_hot, p).mean()
        assert float(result.stdout) == pytest.approx(float(expected), rel=1e-12)


def test_labels_for_a_loss_of_one_hot_rows_name_the_fix(classes):
    result = invoke(
        "eval",
        "categorical_crossentropy",
        "--y-true",
        "labels.npy",
        "--y-pred",
        "probs.npy",
        code=2,
    )
    assert result.stderr == (
        "Error: categorical_crossentropy takes one-hot label rows, but y_true has one label per "
        "row and y_pred 4 classes: add --one-hot, or use sparse_categorical_crossentropy\n"
    )
    result = invoke(
        "eval", "mse", "--y-true", "labels.npy", "--y-pred", "probs.npy", "--one-hot", code=2
    )
    assert result.stderr.startswith(
        "Error: --one-hot makes one-hot label rows, which mse does not take"
    )


def test_one_hot_names_the_row_of_a_label_out_of_range(classes):
    y, _ = classes
    bad = y.astype(np.float64)
    bad[30_001] = 4
    np.save("bad.npy", bad)
    result = invoke(
        "eval",
        "categorical_crossentropy",
        "--y-true",
        "bad.npy",
        "--y-pred",
        "probs.npy",
        "--one-hot",
        code=2,
    )
    assert result.stderr == (
        "Error: to_categorical: class label 4 at row 30001 is out of range for 4 classes "
        "(labels 0..3)\n"
    )


def test_one_hot_in_a_check_file(classes):
    Path("c.toml").write_text(
        '[inputs]\ny_true = "labels.npy"\ny_pred = "probs.npy"\none_hot = true\n'
        '[[checks]]\nloss = "categorical_crossentropy"\nmax = 10\n'
    )
    document = invoke("check", "c.toml", "-f", "json", code=0).stdout
    y, p = classes
    expected = float(np.mean(-np.log(p[np.arange(len(y)), y])))
    import json

    assert json.loads(document)["checks"][0]["value"] == pytest.approx(expected, rel=1e-12)


SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def test_probabilities_given_as_logits_warn(here):
    import pyarrow.parquet as pq

    table = pq.read_table(SAMPLE / "binary.parquet").to_pandas()
    y, prob = table["label"].to_numpy(), table["prob"].to_numpy()
    args = ("--data", SAMPLE / "binary.parquet", "--true-col", "label", "--pred-col", "prob")
    result = invoke("eval", "bce", *args, "--from-logits", "-f", "value", code=0)
    # read as logits: log(1 + exp(-x)) for label 1, log(1 + exp(x)) for label 0
    expected = np.mean(np.log1p(np.exp(np.where(y == 1, -prob, prob))))
    assert float(result.stdout) == pytest.approx(expected, rel=1e-12)
    low, high = prob.min(), prob.max()
    assert result.stderr == (
        f"Warning: binary_crossentropy: from_logits=true, but every y_pred lies in [0, 1] "
        f"(min {low:.4g}, max {high:.4g}): these look like probabilities; drop from_logits\n"
    )
    focal = invoke("eval", "binary_focal_crossentropy(from_logits=true)", *args, code=0)
    assert "binary_focal_crossentropy: from_logits=true, but every y_pred" in focal.stderr
    logits = ("--data", SAMPLE / "binary.parquet", "--true-col", "label", "--pred-col", "logit")
    assert invoke("eval", "bce", *logits, "--from-logits", code=0).stderr == ""
    classes = ("--data", SAMPLE / "multiclass.parquet", "--true-col", "onehot")
    result = invoke(
        "eval",
        "categorical_crossentropy(from_logits=true)",
        *classes,
        "--pred-col",
        "probs",
        "-f",
        "value",
        code=0,
    )
    assert "categorical_crossentropy: from_logits=true, but every y_pred lies in [0, 1]" in (
        result.stderr
    )


def test_a_baseline_identical_to_the_predictions_warns(arrays):
    Path("t.csv").write_text(table_text(","))
    table = ("eval", "mse", "--data", "t.csv", "--true-col", "y", "--pred-col", "p")
    result = invoke(*table, "--baseline-col", "p", "--max-increase", "0", "-f", "json", code=0)
    import json

    entry = json.loads(result.stdout)["results"][0]
    assert (entry["value"], entry["baseline"], entry["difference"]) == (MSE, MSE, 0.0)
    assert result.stderr == (
        "Warning: the baseline and y_pred are the same data (t.csv, column 'p'): every change "
        "is 0, so a gate on the increase always passes\n"
    )
    same_file = invoke(*table, "--baseline-pred", "./t.csv", code=0)
    assert same_file.stderr == (
        "Warning: the baseline and y_pred are the same data (t.csv, column 'p'): every change "
        "is 0, so a gate on the increase always passes\n"
    )
    arrays_twice = on_arrays("mse", "--baseline-pred", "./p.npy", code=0)
    assert arrays_twice.stderr == (
        "Warning: the baseline and y_pred are the same data (p.npy): every change is 0, so a "
        "gate on the increase always passes\n"
    )
    assert on_arrays("mse", "--baseline-pred", "y.npy", code=0).stderr == ""
    other_column = invoke(*table, "--baseline-col", "y", code=0)
    assert other_column.stderr == ""


def test_a_prediction_glob_that_takes_the_label_column_warns(here):
    Path("t.csv").write_text("y_true,y_pred\n0,0.5\n1,1\n2,2\n")
    result = invoke(
        "eval", "mse", "--data", "t.csv", "--true-col", "y_true", "--pred-col", "y_*", code=0
    )
    assert result.stderr == (
        "Warning: y_pred also reads the y_true column 'y_true' (t.csv, columns 'y_true', "
        "'y_pred'): it is compared with itself; name the prediction columns you mean\n"
    )


def _probability_rows(n: int, bad: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hot labels and probability rows, row ``bad`` summing to 1.5."""
    rng = np.random.default_rng(seed)
    y = np.eye(3)[rng.integers(0, 3, n)]
    p = rng.dirichlet([1.0, 1.0, 1.0], n)
    p[bad] = [0.5, 0.5, 0.5]
    return y, p


def test_a_likely_mistake_names_its_row_in_the_whole_input_read_in_pieces(tmp_path):
    """A CSV read as byte ranges on two threads, and a Parquet dataset evaluated file by file
    (as on a cluster), name the row of the whole input, as one reader in order does."""
    from unittest import mock

    import pyarrow as pa
    import pyarrow.parquet as pq

    import losscli.engine.local as local
    from losscli.engine import InputSpec, evaluate
    from losscli.io import readers
    from losscli.losses import CategoricalCrossentropy

    y, p = _probability_rows(3000, 2500, seed=3)
    columns = {f"y{c}": y[:, c] for c in range(3)} | {f"p{c}": p[:, c] for c in range(3)}
    path = tmp_path / "t.csv"
    path.write_text(
        ",".join(columns)
        + "\n"
        + "\n".join(
            ",".join(repr(float(v)) for v in row) for row in zip(*columns.values(), strict=True)
        )
    )
    spec = InputSpec(data=str(path), true_cols=["y0", "y1", "y2"], pred_cols=["p0", "p1", "p2"])
    expected = "row 2500 sums to 1.5"
    for workers in (1, 2):
        with (
            mock.patch.object(local, "WORKERS", workers),
            mock.patch.object(readers.delimited, "PIECE_BYTES", 4096),
        ):
            warnings = evaluate([CategoricalCrossentropy()], ["cce"], spec).warnings
        assert [w for w in warnings if expected in w], (workers, warnings)

    # A dataset of two files, row 7 of the second wrong: row 107 of the whole input.
    root = tmp_path / "ds"
    root.mkdir()
    right = np.eye(3)[[0, 1, 2] * 33 + [0]]
    pq.write_table(pa.table({"y": list(right), "p": list(right)}), root / "part0.parquet")
    y, p = _probability_rows(100, 7, seed=4)
    pq.write_table(pa.table({"y": list(y), "p": list(p)}), root / "part1.parquet")
    out = tmp_path / "out"
    for extra in ((), ("--output", f"{out}/")):
        result = invoke(
            "eval",
            "categorical_crossentropy",
            "--data",
            str(root),
            "--true-col",
            "y",
            "--pred-col",
            "p",
            "-f",
            "value",
            *extra,
            code=0,
        )
        assert "(row 107 sums to 1.5)" in result.stderr, (extra, result.stderr)
