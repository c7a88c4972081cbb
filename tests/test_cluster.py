"""The Dask engine against a real cluster: a `dask scheduler` and two `dask worker` processes
on 127.0.0.1, started and stopped by the fixture (and a LocalCluster for `local:N`). Values
must equal the local engine's to 1e-12 relative."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import free_port, stop, wait_for_port
from conftest import run_cli as invoke

pytest.importorskip("distributed")  # the test extra installs it: CI always runs these

ROWS = 30_000


LOOPBACK = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]


def start_cluster(logs: Path, *worker_options: str) -> tuple[str, list[subprocess.Popen]]:
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1, logging into ``logs``;
    the scheduler's address and the processes, the scheduler first."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))

    def started(name: str, argv: list[str]) -> subprocess.Popen:
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - the process writes it
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=logs)

    scheduler = started("scheduler", [dask, "scheduler", "--port", str(port), *LOOPBACK])
    processes = [scheduler]
    try:
        wait_for_port(port, scheduler, "the Dask scheduler")
        for i in range(2):
            argv = [dask, "worker", address, "--nthreads", "1", *worker_options, *LOOPBACK]
            processes.append(started(f"worker{i}", argv))
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
    except BaseException:
        stop(processes)
        raise
    return address, processes


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory) -> Iterator[str]:
    address, processes = start_cluster(tmp_path_factory.mktemp("dask"))
    try:
        yield address
    finally:
        stop(processes)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "preds"
    root.mkdir()
    rng = np.random.default_rng(21)
    for i in range(4):
        n = ROWS // 4 + i * 17
        classes = rng.integers(0, 4, n)
        probs = rng.dirichlet(np.ones(4), n)
        four = pa.list_(pa.float64(), 4)
        table = pa.table(
            {
                "label": rng.integers(0, 2, n).astype(float),
                "logit": 3 * rng.normal(size=n),
                "prob": rng.uniform(0.001, 0.999, n),
                "y": rng.normal(size=n),
                "w": rng.uniform(0.0, 2.0, n),
                "cls": classes,
                "onehot": pa.array(list(np.eye(4)[classes]), four),
                "probs": pa.array(list(probs), four),
                "scores": pa.array(list(rng.normal(size=(n, 4))), four),
            }
        )
        pq.write_table(table, root / f"part-{i}.parquet", row_group_size=3000)
    (root / "_SUCCESS").write_text("")
    return root


def evaluate(loss: str, data: Path, *extra: str, code: int = 0):
    args = ["eval", loss, "--data", str(data), "-f", "value", "-q", *extra]
    return invoke(*args, code=code)


CASES = [
    ("mse", ("--true-col", "y", "--pred-col", "logit")),
    ("huber(delta=0.7)", ("--true-col", "y", "--pred-col", "logit")),
    ("log_cosh", ("--true-col", "y", "--pred-col", "logit")),
    ("binary_crossentropy(from_logits=true)", ("--true-col", "label", "--pred-col", "logit")),
    ("binary_focal_crossentropy", ("--true-col", "label", "--pred-col", "prob")),
    ("hinge", ("--true-col", "label", "--pred-col", "logit")),  # a first pass of tasks
    ("poisson", ("--true-col", "prob", "--pred-col", "prob")),
    ("mae", ("--true-col", "y", "--pred-col", "logit")),
    ("mape", ("--true-col", "y", "--pred-col", "logit")),
    ("msle", ("--true-col", "prob", "--pred-col", "prob")),
    ("squared_hinge", ("--true-col", "label", "--pred-col", "logit")),
    ("cosine_similarity", ("--true-col", "scores", "--pred-col", "probs")),
    ("kl_divergence", ("--true-col", "onehot", "--pred-col", "probs")),
    ("categorical_hinge", ("--true-col", "onehot", "--pred-col", "scores")),
    (
        "categorical_crossentropy(label_smoothing=0.1)",
        ("--true-col", "onehot", "--pred-col", "probs"),
    ),
    ("categorical_focal_crossentropy", ("--true-col", "onehot", "--pred-col", "probs")),
    (
        "sparse_categorical_crossentropy(ignore_class=2)",
        ("--true-col", "cls", "--pred-col", "probs"),
    ),
    ("categorical_generalized_cross_entropy", ("--true-col", "cls", "--pred-col", "probs")),
]
WEIGHTS = [(), ("--weight-col", "w"), ("--sample-weight", "0.5")]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean_with_sample_weight"]


@pytest.mark.parametrize(("loss", "columns"), CASES, ids=[c[0] for c in CASES])
def test_the_cluster_equals_the_local_engine(scheduler, dataset, loss, columns):
    """Every loss the engine takes (all but those needing the whole input, and CTC, whose
    (N, T, C) logits come from array files, not tables)."""
    worst = 0.0
    for weights in WEIGHTS:
        for reduction in REDUCTIONS:
            args = (*columns, *weights, "--reduction", reduction)
            local = float(evaluate(loss, dataset, *args).stdout)
            remote = float(evaluate(loss, dataset, *args, "--scheduler", scheduler).stdout)
            assert remote == pytest.approx(local, rel=1e-12, abs=1e-300), (weights, reduction)
            worst = max(worst, abs(remote - local) / max(abs(local), 1e-300))
    print(f"{loss}: max relative difference, cluster vs local: {worst:.2e}")


def test_a_local_cluster_for_one_run(dataset):
    args = ("--true-col", "y", "--pred-col", "logit", "--weight-col", "w")
    local = float(evaluate("mse", dataset, *args).stdout)
    assert float(evaluate("mse", dataset, *args, "--scheduler", "local:2").stdout) == (
        pytest.approx(local, rel=1e-12)
    )


def test_the_scheduler_from_the_environment_and_a_check_file(scheduler, dataset, tmp_path):
    args = ("--true-col", "y", "--pred-col", "logit")
    local = float(evaluate("mae", dataset, *args).stdout)
    os.environ["DASK_SCHEDULER_ADDRESS"] = scheduler
    try:
        assert float(evaluate("mae", dataset, *args).stdout) == pytest.approx(local, rel=1e-12)
    finally:
        del os.environ["DASK_SCHEDULER_ADDRESS"]
    config = tmp_path / "c.toml"
    config.write_text(
        f'[inputs]\ndata = "{dataset}"\ntrue_col = "y"\npred_col = "logit"\n'
        f'scheduler = "{scheduler}"\n[[checks]]\nloss = "mae"\nmax = 100\n'
    )
    import json

    document = json.loads(invoke("check", str(config), "-f", "json", code=0).stdout)
    assert document["checks"][0]["value"] == pytest.approx(local, rel=1e-12)


def test_what_a_cluster_refuses(scheduler, dataset, tmp_path):
    np.save(tmp_path / "y.npy", np.zeros(4))
    result = invoke(
        "eval",
        "mse",
        "--y-true",
        str(tmp_path / "y.npy"),
        "--y-pred",
        str(tmp_path / "y.npy"),
        "--scheduler",
        scheduler,
        code=2,
    )
    assert result.stderr.startswith("Error: --scheduler evaluates one table (--data")
    result = evaluate(
        "dice",
        dataset,
        "--true-col",
        "label",
        "--pred-col",
        "prob",
        "--scheduler",
        scheduler,
        code=2,
    )
    assert result.stderr.endswith(
        ": dice needs the whole input at once (every pair, or a sum over samples); "
        "evaluate it without a cluster\n"
    )
    result = evaluate(
        "mse",
        dataset,
        "--true-col",
        "y",
        "--pred-col",
        "logit",
        "--reduction",
        "none",
        "--scheduler",
        scheduler,
        code=2,
    )
    assert result.stderr == (
        "Error: per-sample losses are not collected from a cluster or while they go to a "
        "dataset; write them to one: --output DIR/\n"
    )


def test_a_failed_task_names_its_file(scheduler, dataset, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for part in dataset.glob("part-*.parquet"):
        (broken / part.name).write_bytes(part.read_bytes())
    table = pq.read_table(broken / "part-2.parquet")
    bad = table.set_column(3, "y", pa.array([np.nan] * table.num_rows))
    pq.write_table(bad, broken / "part-2.parquet")
    result = evaluate(
        "mse", broken, "--true-col", "y", "--pred-col", "logit", "--scheduler", scheduler, code=2
    )
    assert result.stderr.startswith(f"Error: {broken / 'part-2.parquet'}: y_true (")
    assert "non-finite value" in result.stderr and result.stderr.count("\n") == 1


def test_an_unreachable_scheduler_is_an_error_in_bounded_time(dataset):
    start = time.monotonic()
    address = f"tcp://127.0.0.1:{free_port()}"
    result = evaluate(
        "mse", dataset, "--true-col", "y", "--pred-col", "logit", "--scheduler", address, code=2
    )
    assert time.monotonic() - start < 60
    assert result.stderr.startswith(f"Error: --scheduler {address}: cannot reach the scheduler")


@pytest.mark.parametrize("how", ["--scheduler", "DASK_SCHEDULER_ADDRESS"])
def test_a_scheduler_that_never_answers_is_an_error_in_bounded_time(dataset, how):
    """A server on 127.0.0.1 that accepts connections and says nothing: Dask's own connect
    timeout does not cover the handshake, losscli's deadline does."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        args = ["eval", "mse", "--data", dataset, "--true-col", "y", "--pred-col", "logit"]
        env = {**os.environ, "LOSSCLI_SCHEDULER_TIMEOUT": "2"}
        if how == "DASK_SCHEDULER_ADDRESS":
            env[how] = address
        else:
            args += [how, address]
        start = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "losscli", *map(str, args)],
                env=env,
                capture_output=True,
                text=True,
                timeout=40,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("losscli still waited for the scheduler after 40 s")
        took = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"Error: --scheduler {address}: cannot reach the scheduler (no answer within 2 s; "
        "LOSSCLI_SCHEDULER_TIMEOUT sets the seconds to wait)\n"
    )
    assert took < 20  # 2 s of waiting, the rest is starting Python and Dask


def test_local_clusters_are_at_most_one_worker_per_core(dataset):
    from losscli.engine.cluster import most_local_workers

    most = most_local_workers()
    assert most >= 2
    args = ("--true-col", "y", "--pred-col", "logit")
    result = invoke(
        "eval", "mse", "--data", dataset, *args, "-f", "value", "--scheduler", "local:1000", code=0
    )
    assert result.stderr == (
        f"Warning: --scheduler local:1000: started local:{most}, one worker per core of this "
        "machine (more would only compete for the same cores)\n"
    )
    assert result.stdout == evaluate("mse", dataset, *args, code=0).stdout


@pytest.fixture(scope="module")
def long_run(tmp_path_factory) -> Path:
    """Files that keep a two-worker cluster busy for a few seconds."""
    root = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(8)
    for i in range(6):
        n = 1_000_000
        pq.write_table(
            pa.table({"y": rng.normal(size=n), "p": rng.normal(size=n)}), root / f"{i}.parquet"
        )
    return root


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signame", "code", "when"),
    [("SIGTERM", 143, "starting"), ("SIGINT", 130, "starting"), ("SIGTERM", 143, "running")],
)
def test_a_signal_stops_a_local_cluster_whole(long_run, signame, code, when):
    """The signal arrives as the first worker process starts, or a second after the workers
    are up: the run ends soon after, with its one error line and the CLI's exit code, no
    traceback, and no process left."""
    import signal

    psutil = pytest.importorskip("psutil")
    args = ["eval", "mse", "--data", long_run, "--true-col", "y", "--pred-col", "p", "--ci"]
    run = subprocess.Popen(
        [sys.executable, "-m", "losscli", *map(str, args), "--scheduler", "local:2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children: dict[int, object] = {}

    def look() -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(run.pid).children(recursive=True):
                children.setdefault(child.pid, child)

    try:
        deadline = time.monotonic() + 60
        enough = 1 if when == "starting" else 3  # the workers and their resource tracker
        while len(children) < enough and run.poll() is None and time.monotonic() < deadline:
            look()
            time.sleep(0.01)
        if when == "running":
            time.sleep(1)
        assert children, "no worker process started"
        run.send_signal(getattr(signal, signame))
        sent = time.monotonic()
        while run.poll() is None and time.monotonic() - sent < 30:
            look()
            time.sleep(0.05)
        took = time.monotonic() - sent
        _, stderr = run.communicate(timeout=5)
    finally:
        run.kill()
    time.sleep(1)  # worker processes told to stop have a moment to go
    left = [c for c in children.values() if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    for child in left:
        child.kill()
    assert (run.returncode, stderr.strip().splitlines()[-1:]) == (
        code,
        ["Error: terminated by SIGTERM" if signame == "SIGTERM" else "Error: interrupted"],
    ), stderr
    assert "Traceback" not in stderr, stderr
    assert left == []
    assert took < 20  # about 5 s: the cluster ends its start, then stops (2 loaded cores)


def test_a_hive_dataset_keeps_its_partition_columns_on_a_cluster(scheduler, tmp_path):
    rng = np.random.default_rng(8)
    for day in ("2026-11-01", "2026-11-02"):
        for w in (1, 3):
            target = tmp_path / "hive" / f"day={day}" / f"w={w}" / "part-0.parquet"
            target.parent.mkdir(parents=True)
            pq.write_table(pa.table({"y": rng.random(500), "p": rng.random(500)}), target)
    args = ("--true-col", "y", "--pred-col", "p", "--weight-col", "w", "--reduction", "sum")
    local = float(evaluate("mse", tmp_path / "hive", *args).stdout)
    remote = float(evaluate("mse", tmp_path / "hive", *args, "--scheduler", scheduler).stdout)
    assert remote == pytest.approx(local, rel=1e-12)
    table = pq.read_table(tmp_path / "hive", partitioning="hive")
    y, p = table["y"].to_numpy(), table["p"].to_numpy()
    w = table["w"].to_numpy().astype(float)
    assert local == pytest.approx(float(np.sum(w * (y - p) ** 2)), rel=1e-12)


def test_progress_on_a_cluster_counts_files(scheduler, dataset):
    from losscli.engine import InputSpec
    from losscli.engine import evaluate as evaluate_library
    from losscli.losses.classes import MeanSquaredError

    told: list[tuple[int, int | None, str]] = []
    spec = InputSpec(data=str(dataset), true_cols=["y"], pred_cols=["logit"], scheduler=scheduler)
    evaluate_library([MeanSquaredError()], ["mse"], spec, progress=lambda *a: told.append(a))
    assert told == [(done, 4, "files") for done in range(1, 5)]


@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_the_result_unchanged(tmp_path):
    """Dask reruns the lost worker's tasks elsewhere; the merged value does not change."""
    import signal
    import threading

    from distributed import Client

    from losscli.engine import InputSpec
    from losscli.engine import evaluate as evaluate_library
    from losscli.losses.classes import BinaryCrossentropy

    rng = np.random.default_rng(13)
    data = tmp_path / "big"
    data.mkdir()
    (tmp_path / "logs").mkdir()
    for i in range(6):
        n = 600_000
        table = pa.table({"y": rng.integers(0, 2, n).astype(float), "p": rng.normal(size=n)})
        pq.write_table(table, data / f"part-{i}.parquet")
    spec = InputSpec(data=str(data), true_cols=["y"], pred_cols=["p"])
    loss = BinaryCrossentropy(from_logits=True)
    local = evaluate_library([loss], ["bce"], spec).results[0].value

    address, processes = start_cluster(tmp_path / "logs", "--no-nanny")  # a worker = one PID
    try:
        with Client(address, timeout=30) as watcher:
            result: dict[str, object] = {}

            def run() -> None:
                remote = spec._replace(scheduler=address)
                result["value"] = evaluate_library([loss], ["bce"], remote).results[0].value

            thread = threading.Thread(target=run)
            thread.start()
            killed = False
            while thread.is_alive() and not killed:
                busy = [w for w, keys in watcher.processing().items() if keys]
                if busy:  # a worker is running a task: kill the process behind one
                    pid = watcher.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                time.sleep(0.01)
            thread.join(120)
        assert killed, "the run ended before a task was seen running"
        assert result["value"] == pytest.approx(local, rel=1e-12)
    finally:
        stop(processes)


def test_per_sample_losses_as_a_dataset_from_the_cluster(scheduler, dataset, tmp_path):
    """Each task writes its file's part; the dataset equals the local engine's, bit for bit."""
    args = ("--true-col", "y", "--pred-col", "logit", "--weight-col", "w", "--reduction", "none")
    local, remote = tmp_path / "local", tmp_path / "remote"
    evaluate("mse", dataset, *args, "--output", f"{local}/")
    result = evaluate("mse", dataset, *args, "--output", f"{remote}/", "--scheduler", scheduler)
    assert result.stdout == ""
    names = [f"part-{k:05d}.parquet" for k in range(4)]
    assert sorted(p.name for p in remote.iterdir()) == names
    for name, source in zip(names, sorted(dataset.glob("part-*.parquet")), strict=True):
        ours, theirs = pq.read_table(remote / name), pq.read_table(local / name)
        assert ours.equals(theirs)
        rows = pq.read_table(source)
        y, p, w = (rows[c].to_numpy() for c in ("y", "logit", "w"))
        np.testing.assert_allclose(ours["mse"].to_numpy(), w * (y - p) ** 2, rtol=1e-15)
    # A reduced value is printed as usual, and the dataset written beside it.
    args = ("--true-col", "y", "--pred-col", "logit")
    plain = float(evaluate("mae", dataset, *args).stdout)
    out = f"{tmp_path}/mae/"
    value = float(evaluate("mae", dataset, *args, "--output", out, "--scheduler", scheduler).stdout)
    assert value == pytest.approx(plain, rel=1e-12)
    assert pq.read_table(out)["mae"].to_numpy().mean() == pytest.approx(plain, rel=1e-12)


@pytest.mark.slow
def test_a_version_mismatch_between_client_and_workers_is_an_error(dataset, tmp_path):
    """Workers whose losscli says another version (set by a preload script, as an older
    install would say it)."""
    preload = tmp_path / "other_version.py"
    preload.write_text("import losscli\n\nlosscli.__version__ = '0.0.1'\n")
    (tmp_path / "logs").mkdir()
    address, processes = start_cluster(tmp_path / "logs", "--preload", str(preload))
    try:
        result = evaluate(
            "mse", dataset, "--true-col", "y", "--pred-col", "logit", "--scheduler", address,
            code=2,
        )  # fmt: skip
    finally:
        stop(processes)
    from losscli import __version__

    assert result.stderr == (
        f"Error: --scheduler {address}: the workers run losscli 0.0.1, this is {__version__}; "
        "install the same version on every worker\n"
    )


def test_worst_samples_and_the_distribution_from_the_cluster(scheduler, dataset):
    """The accumulators travel with the tasks' partial sums: the same rows, the same counts."""
    args = ("--true-col", "y", "--pred-col", "logit", "--weight-col", "w")
    extra = ("--worst", "4", "--histogram", "7", "-f", "json")
    local = json.loads(evaluate("huber", dataset, *args, *extra).stdout)["results"][0]
    remote = json.loads(evaluate("huber", dataset, *args, *extra, "--scheduler", scheduler).stdout)[
        "results"
    ][0]
    assert remote["worst"] == local["worst"]
    assert remote["distribution"] == local["distribution"]
    assert sum(local["distribution"]["counts"]) == ROWS + 17 * 6


def test_slices_from_the_cluster(scheduler, tmp_path):
    """Each task's slices merge with those of the other files: the same slices, counts, values."""
    rng = np.random.default_rng(30)
    root = tmp_path / "sliced"
    root.mkdir()
    for i in range(3):
        n = 2000 + i
        table = pa.table(
            {"y": rng.normal(size=n), "p": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n)}
        )
        pq.write_table(table, root / f"part-{i}.parquet")
    args = ("--true-col", "y", "--pred-col", "p", "--group-by", "g", "-f", "json")
    args += ("--worst", "2", "--worst-per-slice")
    local = json.loads(evaluate("log_cosh", root, *args).stdout)["results"]
    remote = json.loads(evaluate("log_cosh", root, *args, "--scheduler", scheduler).stdout)[
        "results"
    ]
    assert [(r["slice"], r["n_samples"]) for r in remote] == [
        (r["slice"], r["n_samples"]) for r in local
    ]
    for a, b in zip(remote, local, strict=True):
        assert a["value"] == pytest.approx(b["value"], rel=1e-12)
        assert a["worst"] == b["worst"] and len(a["worst"]) == 2  # rows across files
    # A glob names the column it matched in every slice, as on the local engine.
    globbed = evaluate("log_cosh", root, *args[:5], "g*", "-f", "json", "--scheduler", scheduler)
    assert [r["slice"] for r in json.loads(globbed.stdout)["results"]] == [
        r["slice"] for r in local
    ]


def test_intervals_from_the_cluster(scheduler, dataset):
    """Each task numbers its file's rows from their index in the whole dataset: the buckets,
    hence the intervals (whole input and slices), are the local engine's."""
    args = ("--true-col", "y", "--pred-col", "logit", "--weight-col", "w", "--ci", "-f", "json")
    extra = ("--group-by", "cls", "--seed", "3")
    local = json.loads(evaluate("huber", dataset, *args, *extra).stdout)["results"]
    remote = json.loads(evaluate("huber", dataset, *args, *extra, "--scheduler", scheduler).stdout)[
        "results"
    ]
    assert len(remote) == len(local) == 5
    for a, b in zip(remote, local, strict=True):
        assert a["slice"] == b["slice"]
        assert [a["ci"]["low"], a["ci"]["high"]] == pytest.approx(
            [b["ci"]["low"], b["ci"]["high"]], rel=1e-11
        )
        assert a["ci"]["seed"] == 3


def test_a_slice_whose_rows_were_all_dropped_from_the_cluster(scheduler, tmp_path):
    """A slice whose rows (all in one file) were dropped by --nan-policy omit is listed, with
    no value, and fails its gate, as on the local engine."""
    rng = np.random.default_rng(31)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        n = 1000
        y = rng.normal(size=n)
        region = rng.choice(["us", "apac"], n).astype(object)
        if i == 2:
            region[:5] = "eu"
            y[:5] = np.nan  # every eu row is dropped
        table = pa.table({"y": y, "p": y + rng.normal(size=n), "g": region})
        pq.write_table(table, data / f"{i}.parquet")
    args = ("--true-col", "y", "--pred-col", "p", "--nan-policy", "omit", "-f", "json")
    args += ("--group-by", "g", "--slice-max", "100")
    local = json.loads(evaluate("mse", data, *args, code=1).stdout)["results"]
    remote = json.loads(evaluate("mse", data, *args, "--scheduler", scheduler, code=1).stdout)
    assert [(r["slice"], r["n_samples"], r.get("passed")) for r in remote["results"]] == [
        (r["slice"], r["n_samples"], r.get("passed")) for r in local
    ]
    assert [(r["slice"], r["n_samples"], r.get("passed")) for r in local] == [
        (None, 2995, None),
        ({"g": "apac"}, local[1]["n_samples"], True),
        ({"g": "eu"}, 0, False),
        ({"g": "us"}, 2995 - local[1]["n_samples"], True),
    ]


def test_a_failed_cluster_run_leaves_the_earlier_dataset(scheduler, dataset, tmp_path):
    """The workers' parts are staged; a task that fails leaves the dataset as it was."""
    import shutil

    data = tmp_path / "preds"
    shutil.copytree(dataset, data)
    out = tmp_path / "out"
    args = ("--true-col", "y", "--pred-col", "logit", "--output", f"{out}/", "--scheduler")
    evaluate("mse", data, *args, scheduler)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == [f"part-{k:05d}.parquet" for k in range(4)]
    last = sorted(data.glob("part-*.parquet"))[-1]
    table = pq.read_table(last)
    column = table.column_names.index("y")
    pq.write_table(table.set_column(column, "y", pa.array([np.nan] * table.num_rows)), last)
    result = evaluate("mae", data, *args, scheduler, "--force", code=2)
    assert f"{last}: y_true (" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
