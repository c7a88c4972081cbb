"""The engines side by side: the local engine, `--scheduler local:2`, a running two-worker
Dask cluster, and the same files on S3 (moto's server on 127.0.0.1), in one run.

    pip install '.[test]'                      # moto and dask come with the test extra
    python benchmarks/cluster.py --runs 5      # 20M rows in 20 Parquet files (316 MB)

Starts and stops the scheduler, the workers and the S3 endpoint itself (127.0.0.1 only).
Reports median wall time and peak memory of the losscli process (the client's, for a
cluster), the ratio to the local engine, the fixed cost of a cluster run (a two-row file)
and the rows per second of each worker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from run import LOSSCLI, Command, Workload, measure  # noqa: E402

ROWS, FILES = 20_000_000, 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def make_data(d: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(20261127)
    (d / "files").mkdir(parents=True, exist_ok=True)
    for i in range(FILES):
        n = ROWS // FILES
        table = pa.table({"y": rng.random(n), "p": rng.random(n)})
        pq.write_table(table, d / "files" / f"part-{i:02d}.parquet")
    (d / "tiny").mkdir(exist_ok=True)
    pq.write_table(pa.table({"y": [1.0, 2.0], "p": [1.5, 2.5]}), d / "tiny" / "a.parquet")


def start_cluster() -> tuple[str, list[subprocess.Popen[bytes]]]:
    port = _free_port()
    dask = str(Path(sys.executable).with_name("dask"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    loopback = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    processes = [subprocess.Popen([dask, "scheduler", "--port", str(port), *loopback], **quiet)]
    _wait(port)
    address = f"tcp://127.0.0.1:{port}"
    for _ in range(2):
        processes.append(
            subprocess.Popen([dask, "worker", address, "--nthreads", "1", *loopback], **quiet)
        )
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    return address, processes


def start_s3(d: Path) -> tuple[dict[str, str], subprocess.Popen[bytes]]:
    from pyarrow import fs

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait(port)
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
    }
    s3 = fs.S3FileSystem(
        endpoint_override=endpoint,
        region="us-east-1",
        access_key="bench",
        secret_key="bench",
        allow_bucket_creation=True,
    )
    s3.create_dir("bench")
    for path in sorted((d / "files").iterdir()):
        with s3.open_output_stream(f"bench/files/{path.name}") as out:
            out.write(path.read_bytes())
    return env, server


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).parent / "data-cluster")
    args = parser.parse_args()
    d = args.data_dir
    make_data(d)
    address, processes = start_cluster()
    env, moto = start_s3(d)
    try:
        columns = ["--true-col", "y", "--pred-col", "p", "-f", "value"]
        files, tiny = str(d / "files"), str(d / "tiny")

        def cmd(name: str, data: str, *extra: str, environ: dict[str, str] | None = None):
            return Command(
                name, [*LOSSCLI, "eval", "mse", "--data", data, *columns, *extra], environ
            )

        work = Workload(
            "mse_20_files",
            "MSE, 20M rows in 20 Parquet files",
            "",
            [
                cmd("local", files),
                cmd("local:2", files, "--scheduler", "local:2"),
                cmd("cluster", files, "--scheduler", address),
                cmd("local, S3", "s3://bench/files", environ=env),
            ],
            "local",
        )
        overhead = Workload(
            "tiny",
            "a two-row file",
            "",
            [cmd("local", tiny), cmd("cluster", tiny, "--scheduler", address)],
            "local",
        )
        print(f"{args.runs} runs per command, medians\n")
        print(f"{'workload':14} {'command':12} {'wall s':>8} {'peak MiB':>9} {'wall x':>7}  value")
        timings = {}
        for workload in (work, overhead):
            results = measure(workload, args.runs)
            ref = results[workload.reference][0]
            for name, (wall, peak, value) in results.items():
                timings[(workload.name, name)] = wall
                print(
                    f"{workload.name:14} {name:12} {wall:8.3f} {peak:9.1f} {wall / ref:7.2f}  "
                    f"{value[:22]}"
                )
        fixed = timings[("tiny", "cluster")] - timings[("tiny", "local")]
        per_worker = ROWS / max(timings[("mse_20_files", "cluster")] - fixed, 1e-9) / 2
        print(
            f"\nfixed cost of a cluster run: {fixed:.2f} s; each of 2 workers: "
            f"{per_worker / 1e6:.1f}M rows/s (N machines: about N times that)"
        )
    finally:
        for process in [*processes, moto]:
            process.terminate()
        for process in [*processes, moto]:
            process.wait(20)
        shutil.rmtree(d, ignore_errors=True)
        os.environ.pop("AWS_ENDPOINT_URL", None)


if __name__ == "__main__":
    main()
