"""Chunked evaluation equals the whole-input result; whole-input decisions survive chunking."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_conformance import SETTINGS, make_data

from losscli import losses
from losscli.cli.commands import cli
from losscli.engine import InputSpec, evaluate
from losscli.errors import InputError, LossCliError
from losscli.io import readers
from losscli.io.writers import PerSampleWriter
from losscli.losses.reduction import REDUCTIONS

REDUCED = [r for r in REDUCTIONS if r != "none"]


def _save(d: Path, **arrays: np.ndarray) -> dict[str, str]:
    paths = {}
    for name, array in arrays.items():
        np.save(d / f"{name}.npy", array)
        paths[name] = str(d / f"{name}.npy")
    return paths


def _in_memory(loss, y_true, y_pred, weights):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return loss(y_true, y_pred, sample_weight=weights)


CASES = [(name, 0) for name in SETTINGS] + [
    ("binary_crossentropy", 1),
    ("sparse_categorical_crossentropy", 3),  # ignore_class: a mask
    ("categorical_crossentropy", 4),  # class axis 1
    ("hinge", 1),
    ("hinge", 2),
    ("dice", 1),
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case=st.sampled_from(CASES),
    chunk_rows=st.sampled_from([1, 2, 3, 7, 64]),
    reduction=st.sampled_from(REDUCED),
    weight_kind=st.sampled_from(["none", "scalar", "per_sample"]),
    seed=st.integers(0, 2**16),
)
def test_chunked_equals_whole_input(tmp_path, case, chunk_rows, reduction, weight_kind, seed):
    name, v_index = case
    variant = SETTINGS[name][v_index]
    rng = np.random.default_rng(seed)
    shape = variant.shapes[-1]
    shape = (max(shape[0], 9), *shape[1:])  # enough rows for several chunks
    y_true, y_pred = make_data(variant.kind, shape, rng)
    if variant.class_axis is not None:
        y_pred = np.moveaxis(y_pred, -1, variant.class_axis)
        if variant.kind.startswith("onehot"):
            y_true = np.moveaxis(y_true, -1, variant.class_axis)
    n = len(y_pred)
    weights = {"none": None, "scalar": 0.7, "per_sample": rng.uniform(0.1, 2.0, n)}[weight_kind]
    paths = _save(tmp_path, y=y_true, p=y_pred)
    sample_weight = None
    if weight_kind == "scalar":
        sample_weight = "0.7"
    elif weight_kind == "per_sample":
        sample_weight = _save(tmp_path, w=weights)["w"]
    loss = losses.LOSSES[name](reduction=reduction, **variant.params)
    spec = InputSpec(y_true=paths["y"], y_pred=paths["p"], sample_weight=sample_weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = evaluate([loss], [name], spec, chunk_rows=chunk_rows).results[0].value
    # The CLI's shape rule: a vector is one value per sample.
    shaped_true = y_true[:, None] if y_true.ndim == 1 else y_true
    want = _in_memory(loss, shaped_true, y_pred, weights)
    # A sum that cancels (cosine similarity near 0) differs by rounding at the scale of its
    # terms, not of its result: the absolute bound is relative to the sum of |terms|.
    unreduced = losses.LOSSES[name](reduction="none", **variant.params)
    scale = float(np.sum(np.abs(unreduced(shaped_true, y_pred, sample_weight=weights))))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * scale + 1e-300)


def test_hinge_decides_over_the_whole_input_not_the_chunk(tmp_path):
    """The first chunk holds only 0/1 labels; a -1 later means no label is converted."""
    y = np.array([0.0, 1.0, 1.0, 0.0, -1.0, 1.0])[:, None]
    p = np.array([0.3, -0.2, 0.8, 0.1, 0.5, 2.0])[:, None]
    paths = _save(tmp_path, y=y, p=p)
    spec = InputSpec(y_true=paths["y"], y_pred=paths["p"])
    for cls in (losses.Hinge, losses.SquaredHinge):
        whole = cls()(y, p)
        chunked = evaluate([cls()], ["h"], spec, chunk_rows=2).results[0].value
        assert chunked == pytest.approx(whole, rel=1e-15)
        # ... and the decision differs from converting each all-0/1 chunk on its own.
        per_chunk = (
            np.mean([cls(reduction="sum")(y[i : i + 2], p[i : i + 2]) for i in range(0, 6, 2)])
            * 3
            / 6
        )
        assert abs(per_chunk - whole) > 1e-3


def test_dice_over_the_whole_input_takes_the_in_memory_path(tmp_path):
    rng = np.random.default_rng(4)
    y, p = make_data("mask", (50, 3), rng)
    paths = _save(tmp_path, y=y, p=p)
    spec = InputSpec(y_true=paths["y"], y_pred=paths["p"])
    got = evaluate(
        [losses.Dice(), losses.Tversky(alpha=0.7, beta=0.3)], ["d", "t"], spec, chunk_rows=4
    )
    assert got.results[0].value == losses.Dice()(y, p)
    assert got.results[1].value == losses.Tversky(alpha=0.7, beta=0.3)(y, p)


def test_parquet_batches_and_csv_blocks_equal_whole(tmp_path, monkeypatch):
    rng = np.random.default_rng(9)
    n = 5000
    y, p, w = rng.normal(size=n), rng.normal(size=n), rng.uniform(0.5, 2, n)
    pq.write_table(pa.table({"y": y, "p": p, "w": w}), tmp_path / "d.parquet", row_group_size=333)
    lines = ["y,p,w"] + [
        f"{a!r},{b!r},{c!r}" for a, b, c in zip(y.tolist(), p.tolist(), w.tolist(), strict=True)
    ]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(readers.delimited, "CSV_BLOCK_BYTES", 4096)  # many blocks
    want = losses.Huber(reduction="mean_with_sample_weight")(
        y[:, None], p[:, None], sample_weight=w
    )
    for name in ("d.parquet", "d.csv"):
        spec = InputSpec(
            data=str(tmp_path / name), true_cols=["y"], pred_cols=["p"], weight_col="w"
        )
        loss = losses.Huber(reduction="mean_with_sample_weight")
        for rows in (100, 1024, 7000):
            got = evaluate([loss], ["huber"], spec, chunk_rows=rows).results[0].value
            assert got == pytest.approx(want, rel=1e-12), (name, rows)


def test_row_numbers_in_errors_count_from_the_start_of_the_input(tmp_path):
    labels = np.zeros(3000)
    labels[2345] = 7
    probs = np.full((3000, 3), 1 / 3)
    paths = _save(tmp_path, y=labels, p=probs)
    spec = InputSpec(y_true=paths["y"], y_pred=paths["p"])
    with pytest.raises(InputError, match=r"class label 7 at row 2345 is out of range"):
        evaluate([losses.SparseCategoricalCrossentropy()], ["scce"], spec, chunk_rows=100)
    p = np.ones(3000)
    p[[1500, 2999]] = np.nan
    paths = _save(tmp_path, y=np.zeros(3000), p=p)
    spec = InputSpec(y_true=paths["y"], y_pred=paths["p"])
    with pytest.raises(
        InputError, match=r"has 2 non-finite values \(NaN or inf\), the first in row 1500"
    ):
        evaluate([losses.MeanSquaredError()], ["mse"], spec, chunk_rows=100)
    omitted = evaluate(
        [losses.MeanSquaredError()], ["mse"], spec, nan_policy="omit", chunk_rows=100
    )
    assert omitted.n_omitted == 2 and omitted.n_samples == 2998 and omitted.results[0].value == 1.0


def test_csv_errors_found_in_a_later_block(tmp_path, monkeypatch):
    monkeypatch.setattr(readers.delimited, "CSV_BLOCK_BYTES", 1024)
    rows = [f"{i},{i}" for i in range(3000)]
    rows[2500] = "2500,oops"
    (tmp_path / "t.csv").write_text("a,b\n" + "\n".join(rows) + "\n")
    spec = InputSpec(data=str(tmp_path / "t.csv"), true_cols=["a"], pred_cols=["b"])
    with pytest.raises(InputError, match=r"column 'b' is not numeric \(row 2500 has 'oops'\)"):
        evaluate([losses.MeanSquaredError()], ["mse"], spec, chunk_rows=100)
    # Row counts known only at the end of a CSV.
    (tmp_path / "short.csv").write_text("a\n" + "\n".join(str(i) for i in range(2999)) + "\n")
    np.save(tmp_path / "p.npy", np.zeros(3000))
    spec = InputSpec(y_true=str(tmp_path / "short.csv"), y_pred=str(tmp_path / "p.npy"))
    with pytest.raises(
        InputError, match=r"y_true has 2999 rows \(.*short.csv\) but y_pred has 3000"
    ):
        evaluate([losses.MeanSquaredError()], ["mse"], spec, chunk_rows=128)


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_streamed_output_equals_per_sample_losses(tmp_path, suffix):
    rng = np.random.default_rng(2)
    y, p, w = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)), rng.uniform(size=1000)
    paths = _save(tmp_path, y=y, p=p, w=w)
    spec = InputSpec(y_true=paths["y"], y_pred=paths["p"], sample_weight=paths["w"])
    target = tmp_path / f"out{suffix}"
    loss_list = [losses.MeanSquaredError(), losses.MeanAbsoluteError()]
    with PerSampleWriter(target, ["mse", "mae"]) as writer:
        evaluate(loss_list, ["mse", "mae"], spec, sink=writer.write, chunk_rows=77)
        writer.commit()
    want = np.column_stack([np.mean((y - p) ** 2, axis=1) * w, np.mean(np.abs(y - p), axis=1) * w])
    if suffix == ".npy":
        got = np.load(target)
    elif suffix == ".csv":
        got = np.loadtxt(target, delimiter=",", skiprows=1)[:, 1:]
    else:
        table = pq.read_table(target)
        got = np.column_stack([table["mse"].to_numpy(), table["mae"].to_numpy()])
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []


def test_interrupted_output_leaves_nothing(tmp_path):
    paths = _save(tmp_path, y=np.zeros(1000), p=np.ones(1000))
    spec = InputSpec(y_true=paths["y"], y_pred=paths["p"])
    target = tmp_path / "out.npy"
    calls = []

    def interrupted(chunk, index):
        calls.append(len(chunk[0]))
        writer.write(chunk, index)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), PerSampleWriter(target, ["mse"]) as writer:
        evaluate([losses.MeanSquaredError()], ["mse"], spec, sink=interrupted, chunk_rows=100)
        writer.commit()
    assert calls == [100, 100, 100]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["p.npy", "y.npy"]


def test_cli_output_of_a_large_npy_in_many_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("losscli.engine.plan.CHUNK_BYTES", 1 << 12)
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=20000), rng.normal(size=20000)
    paths = _save(tmp_path, y=y, p=p)
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "mse",
            "--y-true",
            paths["y"],
            "--y-pred",
            paths["p"],
            "-o",
            str(tmp_path / "o.npy"),
            "-f",
            "value",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert float(result.stdout) == pytest.approx(float(np.mean((y - p) ** 2)), rel=1e-12)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), (y - p) ** 2)


@pytest.mark.parametrize("parallel_threshold", [0.0, float("inf")])
def test_two_workers_and_one_give_the_same_numbers_in_order(
    tmp_path, monkeypatch, parallel_threshold
):
    """Chunks evaluated on two threads are merged in input order: per-sample output too."""
    monkeypatch.setattr("losscli.engine.local.PARALLEL_SECONDS_PER_BYTE", parallel_threshold)
    rng = np.random.default_rng(8)
    y, p, w = rng.choice([0.0, 1.0], 5000), rng.uniform(0.01, 0.99, 5000), rng.uniform(size=5000)
    paths = _save(tmp_path, y=y, p=p, w=w)
    spec = InputSpec(y_true=paths["y"], y_pred=paths["p"], sample_weight=paths["w"])
    loss_list = [losses.BinaryCrossentropy(), losses.LogCosh(reduction="sum")]
    got = evaluate(loss_list, ["bce", "lc"], spec, chunk_rows=64, keep_per_sample=True)
    for loss, result in zip(loss_list, got.results, strict=True):
        assert result.value == pytest.approx(
            loss(y[:, None], p[:, None], sample_weight=w), rel=1e-12
        )
    want = losses.BinaryCrossentropy(reduction="none")(y[:, None], p[:, None], sample_weight=w)
    np.testing.assert_allclose(got.results[0].per_sample, want, rtol=1e-15)


def test_custom_losses_are_called_on_chunks(tmp_path):
    seen = []

    def absolute(y_true, y_pred):
        seen.append(len(y_true))
        return np.abs(y_true - y_pred)[:, 0]

    paths = _save(tmp_path, y=np.zeros(250), p=np.arange(250.0))
    loss = losses.CustomLoss(absolute, reduction="sum")
    got = evaluate([loss], ["abs"], InputSpec(y_true=paths["y"], y_pred=paths["p"]), chunk_rows=100)
    assert seen == [100, 100, 50]
    assert got.results[0].value == float(np.arange(250.0).sum())


# --- standard input in bounded memory ---------------------------------------------------------

MIB = 1 << 20
#: What may come on top of the same command's peak on a small input, whatever the length: the
#: absolute peak also counts the pages of pyarrow's libraries, which vary with the file system
#: they are installed on (129 MiB here with a venv on disk, 166 MiB with one on tmpfs).
GROWTH = 80


#: Runs losscli and, at exit, writes its peak RSS (VmHWM: this process's own, reset at exec;
#: ru_maxrss would carry the forking test process's peak) to the file named by argv[1].
_MEASURED = """
import atexit, sys
out = sys.argv.pop(1)
def peak():
    status = open("/proc/self/status").read()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
    open(out, "w").write(kib)
atexit.register(peak)
from losscli.cli.commands import main
sys.argv[0] = "losscli"
main()
"""


def _peak_of(args: list[str], chunks: Iterator[bytes], tmp_path: Path) -> tuple[int, str, str]:
    """Run ``losscli ARGS`` with ``chunks`` written to its standard input as a generator
    makes them; the process's peak RSS in MiB, stdout and stderr."""
    import subprocess
    import sys
    import threading

    measured = tmp_path / "peak"
    process = subprocess.Popen(
        [sys.executable, "-c", _MEASURED, str(measured), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin and process.stdout and process.stderr
    captured: dict[str, bytes] = {}
    threads = [
        threading.Thread(target=lambda n=n, s=s: captured.__setitem__(n, s.read()))
        for n, s in (("out", process.stdout), ("err", process.stderr))
    ]
    for thread in threads:
        thread.start()
    for chunk in chunks:
        process.stdin.write(chunk)
    process.stdin.close()
    process.wait()
    for thread in threads:
        thread.join()
    assert process.returncode == 0, captured["err"]
    return int(measured.read_text()) // 1024, captured["out"].decode(), captured["err"].decode()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM")
def test_csv_on_stdin_streams_in_bounded_memory(tmp_path):
    rows = 400_000
    block = b"".join(b"%d.25,%d.75\n" % (i % 10, (i + 1) % 10) for i in range(rows))
    assert len(block) == 10 * rows  # 4 MB
    blocks = 120  # 480 MiB through the pipe

    def generate(blocks: int) -> Iterator[bytes]:
        yield b"y,p\n"
        for _ in range(blocks):
            yield block

    args = ["eval", "mse", "--data", "-", "--true-col", "y", "--pred-col", "p", "-f", "json"]
    baseline, _, _ = _peak_of(args, generate(1), tmp_path)
    peak, out, _ = _peak_of(args, generate(blocks), tmp_path)
    y = np.array([i % 10 + 0.25 for i in range(rows)])
    p = np.array([(i + 1) % 10 + 0.75 for i in range(rows)])
    result = json.loads(out)["results"][0]
    assert result["n_samples"] == rows * blocks
    assert result["value"] == pytest.approx(float(np.mean((y - p) ** 2)), rel=1e-12)
    assert peak - baseline < GROWTH, f"{baseline} MiB for 4 MB of CSV, {peak} MiB for 480 MB"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM")
def test_npy_on_stdin_streams_in_bounded_memory(tmp_path):
    from numpy.lib import format as npformat

    block = np.arange(MIB, dtype=np.float64) % 7  # 8 MiB
    blocks = 60  # 480 MiB through the pipe

    def generate(blocks: int) -> Iterator[bytes]:
        header = io.BytesIO()
        npformat.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (MIB * blocks,)}
        )
        yield header.getvalue()
        for _ in range(blocks):
            yield block.tobytes()

    # One stream serves both roles: poisson(y, y) = y - y log(y + 1e-7) is not 0.
    args = ["eval", "poisson", "--y-true", "-", "--y-pred", "-", "-f", "value", "-q"]
    baseline, _, _ = _peak_of(args, generate(1), tmp_path)
    peak, out, _ = _peak_of(args, generate(blocks), tmp_path)
    assert float(out) == pytest.approx(float(np.mean(block - block * np.log(block + 1e-7))))
    assert peak - baseline < GROWTH, f"{baseline} MiB for 8 MiB of .npy, {peak} MiB for 480"


def test_parquet_row_groups_on_two_threads_equal_one_in_order(tmp_path, monkeypatch):
    """Row groups are pieces: each thread decodes one and evaluates it. The values, the
    omitted rows and the row numbers in errors equal those of one reader in input order."""
    import losscli.engine.local as engine

    rng = np.random.default_rng(17)
    root = tmp_path / "ds"
    files = []
    for i, n in enumerate((1000, 2500, 7)):
        y, p, w = rng.normal(size=n), rng.normal(size=n), rng.uniform(0, 2, n)
        if i == 1:
            y[[10, 2000]] = np.nan  # rows 1010 and 3000 of the dataset
        target = root / f"k={i}" / "part.parquet"
        target.parent.mkdir(parents=True)
        pq.write_table(pa.table({"y": y, "p": p, "w": w}), target, row_group_size=300)
        files.append((y, p, w, np.full(n, float(i))))
    y, p, w, k = (np.concatenate(c) for c in zip(*files, strict=True))
    spec = InputSpec(data=str(root), true_cols=["y"], pred_cols=["p"], weight_col="w")
    used = []
    evaluate_pieces = engine._evaluate

    def spy(pieces, *args):
        if len(pieces) > 1:  # pieces on threads, not the input read in order
            used.append(len(pieces))
        return evaluate_pieces(pieces, *args)

    monkeypatch.setattr(engine, "_evaluate", spy)
    loss_list = [losses.Huber(reduction="sum"), losses.LogCosh()]

    def run(workers: int, **kwargs):
        monkeypatch.setattr(engine, "WORKERS", workers)
        return evaluate(loss_list, ["huber", "log_cosh"], spec, chunk_rows=128, **kwargs)

    with pytest.raises(
        InputError, match=r"2 non-finite values \(NaN or inf\), the first in row 1010"
    ):
        run(2)
    assert used == [4 + 9 + 1]  # row groups of 300 rows in each file
    two, one = run(2, nan_policy="omit"), run(1, nan_policy="omit")
    assert len(used) == 2  # the one-worker run read in order
    keep = np.isfinite(y)
    for loss, a, b in zip(loss_list, two.results, one.results, strict=True):
        want = loss(y[keep, None], p[keep, None], sample_weight=w[keep])
        assert a.value == pytest.approx(want, rel=1e-12)
        assert b.value == pytest.approx(want, rel=1e-12)
    assert two.n_omitted == one.n_omitted == 2
    # A hive partition column as the weights, on pieces too.
    spec = spec._replace(weight_col="k")
    got = evaluate([losses.MeanSquaredError(reduction="sum")], ["mse"], spec, nan_policy="omit")
    assert got.results[0].value == pytest.approx(float(np.sum((k * (y - p) ** 2)[keep])), rel=1e-12)


def test_arrow_columns_with_nulls_read_from_their_buffers():
    from losscli.io.readers.tables import _as_numpy

    values = pa.array([1.5, None, 3.0, None, 5.0, 6.0, None, 8.0, 9.0, 10.0])
    for start in range(len(values)):
        part = values.slice(start, len(values) - start)
        want = np.array([np.nan if v is None else v for v in part.to_pylist()])
        np.testing.assert_array_equal(_as_numpy(part, np.float64), want)
    chunked = pa.chunked_array([values.slice(3, 4), values.slice(0, 2)])
    np.testing.assert_array_equal(
        _as_numpy(chunked, np.float64), np.array([np.nan, 5.0, 6.0, np.nan, 1.5, np.nan])
    )


def _csv_pieces_spy(monkeypatch, piece_bytes: int) -> list[list[int | None]]:
    """Small CSV pieces, and a record of the pieces each run took (their known offsets)."""
    import losscli.engine.local as engine

    monkeypatch.setattr(readers.delimited, "PIECE_BYTES", piece_bytes)
    monkeypatch.setattr(readers.delimited, "PIECE_BLOCK_BYTES", 512)
    used: list[list[int | None]] = []
    evaluate_pieces = engine._evaluate

    def spy(pieces, *args):
        if len(pieces) > 1:  # pieces on threads, not the input read in order
            used.append([p.offset for p in pieces])
        return evaluate_pieces(pieces, *args)

    monkeypatch.setattr(engine, "_evaluate", spy)
    return used


@pytest.mark.parametrize(
    ("header", "bom", "newline"),
    [(True, False, "\n"), (False, False, "\n"), (True, True, "\r\n"), (False, True, "\n")],
)
def test_csv_byte_ranges_on_two_threads_equal_one_in_order(
    tmp_path, monkeypatch, header, bom, newline
):
    """A local CSV file is cut into byte ranges after line breaks, parsed by two threads."""
    import losscli.engine.local as engine

    used = _csv_pieces_spy(monkeypatch, 2048)
    rng = np.random.default_rng(31)
    n = 3000
    y, p, w = rng.normal(size=n), rng.normal(size=n), rng.uniform(0, 2, n)
    lines = [
        f"{a!r},{b!r},{c!r}" for a, b, c in zip(y.tolist(), p.tolist(), w.tolist(), strict=True)
    ]
    lines[1234] = ""  # a blank line is no row
    keep = np.ones(n, bool)
    keep[1234] = False
    text = ("y,p,w" + newline if header else "") + newline.join(lines) + newline
    (tmp_path / "t.csv").write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    columns = ("y", "p", "w") if header else ("column_0", "column_1", "column_2")
    spec = InputSpec(
        data=str(tmp_path / "t.csv"),
        true_cols=[columns[0]],
        pred_cols=[columns[1]],
        weight_col=columns[2],
    )
    loss = losses.Huber(reduction="mean_with_sample_weight")
    want = loss(y[keep, None], p[keep, None], sample_weight=w[keep])
    two = evaluate([loss], ["huber"], spec).results[0]
    assert len(used) == 1 and len(used[0]) > 50 and used[0][0] == 0
    assert set(used[0][1:]) == {None}  # rows counted once the ranges before are read
    monkeypatch.setattr(engine, "WORKERS", 1)
    one = evaluate([loss], ["huber"], spec).results[0]
    assert len(used) == 1  # in order
    assert two.value == pytest.approx(want, rel=1e-12)
    assert one.value == pytest.approx(want, rel=1e-12)
    assert two.n_samples == one.n_samples == n - 1


def test_csv_byte_ranges_name_rows_of_the_whole_file(tmp_path, monkeypatch):
    used = _csv_pieces_spy(monkeypatch, 1024)
    rows = [f"{i},{i + 1}" for i in range(5000)]
    rows[3210] = "3210,nan"
    rows[4000] = "4000,inf"
    (tmp_path / "t.csv").write_text("a,b\n" + "\n".join(rows) + "\n")
    spec = InputSpec(data=str(tmp_path / "t.csv"), true_cols=["a"], pred_cols=["b"])
    with pytest.raises(
        InputError, match=r"has 2 non-finite values \(NaN or inf\), the first in row 3210"
    ):
        evaluate([losses.MeanSquaredError()], ["mse"], spec)
    assert len(used) == 1 and len(used[0]) > 10
    omitted = evaluate([losses.MeanSquaredError()], ["mse"], spec, nan_policy="omit")
    assert (omitted.n_omitted, omitted.results[0].value) == (2, 1.0)
    # A value that is not a number: the error a piece meets is told by reading in order.
    rows[2500] = "2500,oops"
    (tmp_path / "t.csv").write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"column 'b' is not numeric \(row 2500 has 'oops'\)"):
        evaluate([losses.MeanSquaredError()], ["mse"], spec)


@pytest.mark.parametrize("where", range(0, 120, 7))
def test_a_quoted_line_break_is_an_error_wherever_the_cuts_fall(tmp_path, monkeypatch, where):
    """A quote anywhere sends the file to the reader in order, which refuses a quoted field
    spanning lines (a stray quote would swallow rows); a quote closed on its line is read."""
    _csv_pieces_spy(monkeypatch, 256)
    monkeypatch.setattr(readers.delimited, "CSV_BLOCK_BYTES", 300)
    rows = [f"{i},{i + 1},x" for i in range(400)]
    spanning = list(rows)
    spanning[where] = f'{where},{where + 1},"a\nb"'
    (tmp_path / "t.csv").write_text("a,b,c\n" + "\n".join(spanning) + "\n")
    spec = InputSpec(data=str(tmp_path / "t.csv"), true_cols=["a"], pred_cols=["b"])
    with pytest.raises(InputError, match=rf"row {where} \(line {where + 2}\) opens a quote"):
        evaluate([losses.MeanSquaredError()], ["mse"], spec)
    closed = list(rows)
    closed[where] = f'{where},{where + 1},"a,b"'
    (tmp_path / "t.csv").write_text("a,b,c\n" + "\n".join(closed) + "\n")
    result = evaluate([losses.MeanSquaredError()], ["mse"], spec)
    assert (result.n_samples, result.results[0].value) == (400, 1.0)


# --- no thread outlives an evaluation ---------------------------------------------------------


def _our_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("losscli")]


def test_no_reader_or_drawing_thread_outlives_an_evaluation(tmp_path, monkeypatch):
    """A thread alive at exit (one calling into pyarrow) can abort the interpreter: the
    reader thread is joined when a chunk's evaluation fails while it reads ahead, and the
    thread drawing the resample weights when the run ends or fails."""
    monkeypatch.setattr(readers.delimited, "CSV_BLOCK_BYTES", 1024)
    rows = "\n".join(f"{i},{i + 1}" for i in range(3000))
    (tmp_path / "t.csv").write_text("a,b\n" + rows + "\n")
    spec = InputSpec(data=str(tmp_path / "t.csv"), true_cols=["a"], pred_cols=["b"])
    calls = []

    def third_fails(y_true, y_pred):
        calls.append(len(y_true))
        if len(calls) == 3:
            raise ArithmeticError("boom")
        return ((y_true - y_pred) ** 2).mean(axis=-1)

    with pytest.raises(LossCliError, match="boom") as raised:  # the traceback kept alive
        evaluate([losses.CustomLoss(third_fails)], ["f"], spec, chunk_rows=100)
    assert raised.value is not None and _our_threads() == []
    assert calls == [100, 100, 100]

    import losscli

    report = losscli.evaluate("mse", data=str(tmp_path / "t.csv"), true_col="a", pred_col="b",
                              ci=True, seed=11)  # fmt: skip
    assert report.results[0].ci is not None and _our_threads() == []
    with pytest.raises(InputError, match="no such file"):
        losscli.evaluate("mse", data=str(tmp_path / "missing.csv"), true_col="a", pred_col="b",
                         ci=True, seed=12)  # fmt: skip
    assert _our_threads() == []
