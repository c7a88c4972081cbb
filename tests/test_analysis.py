"""Worst samples, the distribution, plots and the notebook API, checked against numpy on the
same data (argsort for the worst, np.quantile and np.histogram for the distribution)."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli as invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losscli
from losscli import losses
from losscli.engine import InputSpec, evaluate
from losscli.errors import InputError
from losscli.stats import analysis
from losscli.stats.analysis import Analysis


def _data(tmp_path, n=5000, seed=0):
    rng = np.random.default_rng(seed)
    y, p, w = rng.normal(size=n), rng.normal(size=n), rng.uniform(0, 2, n)
    p[[10, 20, 30]] = p[[11, 21, 31]] = 9.0  # ties of the largest losses
    y[[10, 20, 30]] = y[[11, 21, 31]] = -1.0
    w[[10, 11, 20, 21, 30, 31]] = 1.0
    for name, array in (("y", y), ("p", p), ("w", w)):
        np.save(tmp_path / f"{name}.npy", array)
    return y, p, w


def _expected_worst(values, k):
    order = np.lexsort((np.arange(len(values)), -values))[:k]  # largest first, ties by row
    return order, values[order]


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(k=st.integers(1, 12), chunk=st.sampled_from([1, 7, 100, 4096]), weighted=st.booleans())
def test_worst_samples_equal_numpy_for_any_chunk_size(tmp_path, k, chunk, weighted):
    y, p, w = _data(tmp_path)
    spec = InputSpec(
        y_true=str(tmp_path / "y.npy"),
        y_pred=str(tmp_path / "p.npy"),
        sample_weight=str(tmp_path / "w.npy") if weighted else None,
    )
    result = evaluate(
        [losses.MeanSquaredError()], ["mse"], spec, chunk_rows=chunk, analysis=Analysis(worst=k)
    ).results[0]
    values = (w if weighted else 1.0) * (y - p) ** 2
    rows, expected = _expected_worst(values, k)
    assert [s["row"] for s in result.worst] == rows.tolist()
    assert [s["loss"] for s in result.worst] == expected.tolist()
    assert [s["y_true"] for s in result.worst] == y[rows].tolist()
    assert [s["y_pred"] for s in result.worst] == p[rows].tolist()
    assert [s["weight"] for s in result.worst] == (w[rows] if weighted else np.ones(k)).tolist()


def test_worst_vectors_and_nan_losses(tmp_path):
    rng = np.random.default_rng(3)
    y = np.eye(4)[rng.integers(0, 4, 300)]
    p = rng.dirichlet(np.ones(4), 300)
    p[5] = np.nan  # with --nan-policy propagate its loss is NaN: the worst of all
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    spec = InputSpec(y_true=str(tmp_path / "y.npy"), y_pred=str(tmp_path / "p.npy"))
    loss = losses.CategoricalCrossentropy()
    result = evaluate(
        [loss], ["cce"], spec, nan_policy="propagate", chunk_rows=64, analysis=Analysis(worst=3)
    ).results[0]
    per_sample = losses.CategoricalCrossentropy(reduction="none")(y, p)
    assert result.worst[0]["row"] == 5 and np.isnan(result.worst[0]["loss"])
    rows, expected = _expected_worst(np.where(np.isnan(per_sample), -np.inf, per_sample), 3)
    assert [s["row"] for s in result.worst[1:]] == rows[:2].tolist()
    assert result.worst[1]["y_true"] == y[rows[0]].tolist()
    assert result.worst[1]["y_pred"] == p[rows[0]].tolist()


def test_the_distribution_equals_numpy(tmp_path):
    y, p, w = _data(tmp_path, n=20000)
    spec = InputSpec(
        y_true=str(tmp_path / "y.npy"),
        y_pred=str(tmp_path / "p.npy"),
        sample_weight=str(tmp_path / "w.npy"),
    )
    result = evaluate(
        [losses.Huber()], ["huber"], spec, chunk_rows=333, analysis=Analysis(bins=17)
    ).results[0]
    error = np.abs(y - p)
    values = w * np.where(error <= 1, 0.5 * error**2, error - 0.5)
    d = result.distribution
    assert d["method"] == "exact" and d["count"] == len(values)
    assert (d["min"], d["max"]) == (values.min(), values.max())
    np.testing.assert_allclose(
        list(d["quantiles"].values()), np.quantile(values, [0.5, 0.9, 0.99]), rtol=1e-12
    )
    counts, edges = np.histogram(values, 17)
    np.testing.assert_allclose(d["edges"], edges, rtol=1e-12)
    assert d["counts"] == counts.tolist() and sum(d["counts"]) == len(values)


@pytest.mark.parametrize("chunk", [1000, 4096])
def test_the_sketch_beyond_the_exact_budget_keeps_its_bound(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(analysis, "EXACT_VALUES", 2000)
    rng = np.random.default_rng(5)
    y, p = rng.normal(size=50_000), rng.normal(size=50_000) * rng.choice([0.01, 1, 100], 50_000)
    p[:100] = y[:100]  # zeros among the losses
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    spec = InputSpec(y_true=str(tmp_path / "y.npy"), y_pred=str(tmp_path / "p.npy"))
    d = (
        evaluate(
            [losses.MeanSquaredError()], ["mse"], spec, chunk_rows=chunk, analysis=Analysis(bins=10)
        )
        .results[0]
        .distribution
    )
    values = np.sort((y - p) ** 2)
    assert d["method"] == "sketch" and d["count"] == len(values) and sum(d["counts"]) == len(values)
    assert (d["min"], d["max"]) == (values[0], values[-1])
    for name, q in analysis.QUANTILES.items():
        nearest = values[int(np.floor(q * (len(values) - 1)))]
        assert abs(d["quantiles"][name] - nearest) <= analysis.SKETCH_ACCURACY * nearest
    # Bins: the exact counts, but for values within the accuracy of an edge.
    exact = np.histogram(values, d["edges"])[0]
    assert np.abs(np.array(d["counts"]) - exact).sum() <= 2 * np.sum(
        np.isclose(values[:, None], np.array(d["edges"])[None, 1:-1], rtol=2e-3).any(axis=1)
    )


def test_sketches_merge_in_any_order():
    rng = np.random.default_rng(2)
    parts = [rng.lognormal(size=3000) * rng.choice([-1, 1], 3000) for _ in range(4)]
    merged = []
    for order in ([0, 1, 2, 3], [3, 1, 0, 2]):
        total = analysis.Distribution()
        for i in order:
            one = analysis.Distribution()
            one._to_sketch()
            one.update(parts[i])
            total.merge(one)
        merged.append(total.result(12))
    assert merged[0] == merged[1]


def test_one_value_per_sample_is_required(tmp_path):
    np.save(tmp_path / "y.npy", np.ones((10, 3)))
    np.save(tmp_path / "p.npy", np.ones((10, 3)))
    spec = InputSpec(y_true=str(tmp_path / "y.npy"), y_pred=str(tmp_path / "p.npy"))
    with pytest.raises(InputError, match=r"dice gives one value for the whole input"):
        evaluate([losses.Dice()], ["dice"], spec, analysis=Analysis(worst=2))


# --- the command ---------------------------------------------------------------------------


def test_eval_prints_the_worst_and_the_histogram_in_every_format(tmp_path):
    y, p, w = _data(tmp_path, n=1000)
    args = ["eval", "mse", "--y-true", tmp_path / "y.npy", "--y-pred", tmp_path / "p.npy"]
    args += ["--worst", "2", "--histogram", "4"]
    document = json.loads(invoke(*args, "-f", "json", code=0).stdout)
    entry = document["results"][0]
    rows, expected = _expected_worst((y - p) ** 2, 2)
    assert [s["row"] for s in entry["worst"]] == rows.tolist()
    assert entry["distribution"]["counts"] == np.histogram((y - p) ** 2, 4)[0].tolist()
    table = invoke(*args, code=0).stdout
    assert "rank" in table and f"{rows[0]}" in table and "mse: 1,000 samples (exact)" in table
    assert table.count("\n  [") == 4 and "#" in table  # one line per bin, plain marks when piped
    csv = invoke(*args, "-f", "csv", code=0).stdout.splitlines()
    header = csv[0].split(",")
    assert len(csv) == 2 and "worst" not in csv[0]  # one row; the worst are in JSON
    summary = dict(zip(header, csv[1].split(","), strict=True))
    assert float(summary["distribution_quantiles_p50"]) == entry["distribution"]["quantiles"]["p50"]
    assert int(summary["distribution_count"]) == 1000
    markdown = invoke(*args, "-f", "markdown", code=0).stdout
    assert "| spec | rank | row |" in markdown and "| spec | count | min | p50 |" in markdown
    value = invoke(*args, "-f", "value", code=0).stdout
    assert float(value) == pytest.approx(float(np.mean((y - p) ** 2)), rel=1e-12)


def test_parquet_pieces_and_one_reader_find_the_same_worst(tmp_path, monkeypatch):
    import losscli.engine.local as engine

    rng = np.random.default_rng(9)
    y, p = rng.normal(size=3000), rng.normal(size=3000)
    pq.write_table(pa.table({"y": y, "p": p}), tmp_path / "t.parquet", row_group_size=250)
    spec = InputSpec(data=str(tmp_path / "t.parquet"), true_cols=["y"], pred_cols=["p"])
    found = []
    for workers in (2, 1):
        monkeypatch.setattr(engine, "WORKERS", workers)
        result = evaluate(
            [losses.LogCosh()], ["lc"], spec, analysis=Analysis(worst=5, bins=9)
        ).results[0]
        found.append((result.worst, result.distribution))
    assert found[0] == found[1]
    rows, _ = _expected_worst(losses.LogCosh(reduction="none")(y[:, None], p[:, None]), 5)
    assert [s["row"] for s in found[0][0]] == rows.tolist()


# --- plots ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".svg", ".html"])
def test_each_plot_format_is_written(tmp_path, suffix):
    _data(tmp_path, n=2000)
    target = tmp_path / f"losses{suffix}"
    invoke(
        "eval", "mse", "mae", "--y-true", tmp_path / "y.npy", "--y-pred", tmp_path / "p.npy",
        "--plot", target, code=0,
    )  # fmt: skip
    data = target.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    elif suffix == ".svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg") and len(list(root.iter())) > 50
    else:
        text = data.decode()
        start = text.index('id="losscli-data">') + len('id="losscli-data">')
        embedded = json.loads(text[start : text.index("</script>", start)])
        assert set(embedded) == {"mse", "mae"} and sum(embedded["mse"]["counts"]) == 2000
        assert text.count("<rect") == 60  # 30 bins for each loss
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_plot_paths_that_are_refused(tmp_path, monkeypatch):
    _data(tmp_path, n=100)
    args = ["eval", "mse", "--y-true", tmp_path / "y.npy", "--y-pred", tmp_path / "p.npy"]
    assert invoke(*args, "--plot", tmp_path / "x.pdf", code=2).stderr == (
        f"Error: --plot {tmp_path / 'x.pdf'}: unknown suffix; use .png, .svg, .html\n"
    )
    # An input named like a picture (its format given) is never drawn over.
    (tmp_path / "y.png").write_bytes((tmp_path / "y.npy").read_bytes())
    before = (tmp_path / "y.png").read_bytes()
    picture_input = ["eval", "mse", "--y-true", tmp_path / "y.png", "--y-pred", tmp_path / "p.npy"]
    result = invoke(*picture_input, "--input-format", "npy", "--plot", tmp_path / "y.png", code=2)
    assert result.stderr == (
        f"Error: --plot {tmp_path / 'y.png'} is one of the inputs; losscli never overwrites "
        "inputs\n"
    )
    assert (tmp_path / "y.png").read_bytes() == before
    (tmp_path / "d.svg").mkdir()
    assert invoke(*args, "--plot", tmp_path / "d.svg", code=2).stderr == (
        f"Error: --plot {tmp_path / 'd.svg'} is a directory; give a file name\n"
    )
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as without the plot extra
    assert invoke(*args, "--plot", tmp_path / "h.png", code=2).stderr == (
        f"Error: --plot {tmp_path / 'h.png'}: .png pictures need matplotlib: pip install "
        "'losscli[plot]' (or write .html, which needs nothing)\n"
    )
    invoke(*args, "--plot", tmp_path / "h.html", code=0)  # no matplotlib needed


# --- the notebook API ----------------------------------------------------------------------


def test_the_api_takes_arrays_series_frames_and_paths(tmp_path):
    import pandas as pd

    y, p, w = _data(tmp_path, n=500)
    want = float(np.sum(w * (y - p) ** 2) / len(y))
    by_arrays = losscli.evaluate("mse", y, p, sample_weight=w)
    by_series = losscli.evaluate("mse", pd.Series(y), pd.Series(p), sample_weight=pd.Series(w))
    frame = pd.DataFrame({"label": y, "pred": p, "weight": w})
    by_frame = losscli.evaluate(
        "mse", data=frame, true_col="label", pred_col="pred", weight_col="weight"
    )
    by_paths = losscli.evaluate(
        "mse", tmp_path / "y.npy", str(tmp_path / "p.npy"), sample_weight=tmp_path / "w.npy"
    )
    for report in (by_arrays, by_series, by_frame, by_paths):
        assert report.results[0].value == pytest.approx(want, rel=1e-13)
    assert losscli.evaluate("mse", y, p, sample_weight=0.5).results[0].value == pytest.approx(
        0.5 * float(np.mean((y - p) ** 2)), rel=1e-13
    )


def test_the_api_document_is_the_commands(tmp_path):
    """The Python API's document holds numpy's numbers, and the command's is the same."""
    y, p, _ = _data(tmp_path, n=300)
    paths = {"y_true": str(tmp_path / "y.npy"), "y_pred": str(tmp_path / "p.npy")}
    report = losscli.evaluate(["mse", "huber(delta=0.5)"], **paths, worst=2, histogram=5)
    squared = (y - p) ** 2
    error = np.abs(y - p)
    huber = np.where(error <= 0.5, 0.5 * error**2, 0.5 * error - 0.5 * 0.5**2)
    document = report.to_dict()
    for result, values in zip(document["results"], (squared, huber), strict=True):
        assert result["value"] == pytest.approx(float(np.mean(values)), rel=1e-13)
        assert result["n_samples"] == 300
        rows, _ = _expected_worst(values, 2)
        assert [s["row"] for s in result["worst"]] == rows.tolist()
        assert [s["loss"] for s in result["worst"]] == pytest.approx(values[rows], rel=1e-13)
        assert [s["y_pred"] for s in result["worst"]] == p[rows].tolist()
        counts, edges = np.histogram(values, bins=5)
        shown = result["distribution"]
        assert shown["counts"] == counts.tolist()
        assert shown["edges"] == pytest.approx(edges, rel=1e-12)
        quantiles = np.quantile(values, [0.5, 0.9, 0.99])
        assert list(shown["quantiles"].values()) == pytest.approx(quantiles, rel=1e-12)
    command = invoke(
        "eval", "mse", "huber(delta=0.5)", "--y-true", paths["y_true"], "--y-pred",
        paths["y_pred"], "--worst", "2", "--histogram", "5", "-f", "json", code=0,
    )  # fmt: skip
    assert json.loads(command.stdout) == document
    frame = report.to_pandas()
    assert list(frame["spec"]) == ["mse", "huber(delta=0.5)"]
    assert list(frame.columns[:6]) == [
        "loss", "spec", "config_delta", "reduction", "value", "n_samples"
    ]  # fmt: skip
    assert {"distribution_quantiles_p50", "distribution_quantiles_p99", "worst"} <= set(
        frame.columns
    )
    assert frame["value"].tolist() == pytest.approx(
        [float(np.mean(squared)), float(np.mean(huber))], rel=1e-13
    )


def test_api_errors_name_python_parameters_and_the_command_its_flags(tmp_path):
    """One error, spelled by each front end: keyword arguments in Python, flags on the
    command line."""
    rows = r"y_true has 3 rows \(y_true \(list\)\) but y_pred has 2"
    with pytest.raises(InputError, match=rows):
        losscli.evaluate("mse", [1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(InputError, match=r"holds <U1 values; losscli needs numbers"):
        losscli.evaluate("mse", np.array(["a", "b"]), [1.0, 2.0])
    _data(tmp_path, n=40)
    y, p = tmp_path / "y.npy", tmp_path / "p.npy"
    with pytest.raises(InputError) as raised:
        losscli.evaluate("mse", y, p, group_by="region")
    assert str(raised.value) == (
        "group_by= takes columns of a table: give data= with true_col= and pred_col=, or "
        "groups= PATH, a table of those columns row for row with the files"
    )
    command = invoke("eval", "mse", "--y-true", y, "--y-pred", p, "--group-by", "region", code=2)
    assert command.stderr == (
        "Error: --group-by takes columns of a table: give --data with --true-col and "
        "--pred-col, or --groups PATH, a table of those columns row for row with the files\n"
    )
    with pytest.raises(InputError) as raised:
        losscli.evaluate("mse", y, p, max=1.0, reduction="none")
    assert str(raised.value) == "gates on mse need one value; reduction= none gives one per sample"
    command = invoke(
        "eval", "mse", "--y-true", y, "--y-pred", p, "--max", "1", "--reduction", "none", code=2
    )
    assert command.stderr == (
        "Error: gates on mse need one value; --reduction none gives one per sample\n"
    )


def test_worst_rows_count_across_files_when_the_run_goes_file_by_file(tmp_path):
    """With a dataset output the run goes one file at a time; rows still count from the
    first row of the whole input."""
    rng = np.random.default_rng(12)
    ys, ps = [], []
    for i, n in enumerate((300, 200, 500)):
        y, p = rng.normal(size=n), rng.normal(size=n)
        pq.write_table(pa.table({"y": y, "p": p}), tmp_path / f"part-{i}.parquet")
        ys.append(y)
        ps.append(p)
    y, p = np.concatenate(ys), np.concatenate(ps)
    (tmp_path / "ds").mkdir()
    for f in tmp_path.glob("part-*.parquet"):
        f.rename(tmp_path / "ds" / f.name)
    document = json.loads(
        invoke(
            "eval", "mse", "--data", tmp_path / "ds", "--true-col", "y", "--pred-col", "p",
            "--worst", "6", "--output", f"{tmp_path}/out/", "-f", "json", code=0,
        ).stdout
    )  # fmt: skip
    rows, expected = _expected_worst((y - p) ** 2, 6)
    assert [s["row"] for s in document["results"][0]["worst"]] == rows.tolist()
