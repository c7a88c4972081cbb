"""losscli against its peers, side by side in one run: wall time and peak memory, and the ratios.

    python benchmarks/run.py                  # every workload, 5 runs each
    python benchmarks/run.py --runs 7 --only mse_10m bce_10m
    python benchmarks/run.py --big            # also MSE on 100M rows (.npy pair and Parquet)

Generates the data (seeded) into --data-dir, then for each workload runs every
command as a fresh process, in turn (losscli, peer, losscli, peer, ...), after
one warm-up run each, and reports the median wall time and the median peak
resident memory (``ru_maxrss`` of that process, from ``os.wait4``). Ratios are to
the workload's reference peer (numpy, or pyarrow + numpy). Every command prints
its loss value, so that the peers are seen to compute the same thing.

Peers come from the bench extra (``pip install '.[test,bench]'``: DuckDB, polars,
scikit-learn) and the test extra (Keras, JAX); a peer whose package is missing is skipped.
Parquet and CSV workloads compare with DuckDB: what a data engineer would type instead.
Commands run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed from their
environment), as an installed losscli runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PY = sys.executable
LOSSCLI = [PY, "-m", "losscli"]


@dataclass
class Command:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    needs: str | None = None  # a module that must be importable


@dataclass
class Workload:
    name: str
    title: str
    make: str  # name of the function that writes its data
    commands: list[Command]
    reference: str  # the command the ratios are against


def _script(code: str) -> list[str]:
    return [PY, "-c", code]


KERAS_ENV = {"KERAS_BACKEND": "numpy", "TF_CPP_MIN_LOG_LEVEL": "3"}


def workloads(d: Path) -> list[Workload]:
    y, p = str(d / "mse_y.npy"), str(d / "mse_p.npy")
    yb, pb = str(d / "bce_y.npy"), str(d / "bce_p.npy")
    y100, p100 = str(d / "mse100_y.npy"), str(d / "mse100_p.npy")
    scce = str(d / "scce.parquet")
    return [
        Workload(
            "mse_10m",
            "MSE, 10M rows, float64 .npy pair",
            "make_mse_10m",
            [
                Command(
                    "losscli",
                    [*LOSSCLI, "eval", "mse", "--y-true", y, "--y-pred", p, "--format", "value"],
                ),
                Command(
                    "numpy",
                    _script(
                        "import sys, numpy as np\n"
                        f"a = np.load({y!r}); b = np.load({p!r})\n"
                        "print(np.mean((a - b) ** 2))"
                    ),
                ),
                Command(
                    "keras",
                    _script(
                        "import numpy as np, keras\n"
                        f"a = np.load({y!r})[:, None]; b = np.load({p!r})[:, None]\n"
                        "print(float(keras.losses.MeanSquaredError(dtype='float64')(a, b)))"
                    ),
                    KERAS_ENV,
                    "keras",
                ),
                Command(
                    "scikit-learn",
                    _script(
                        "import numpy as np\nfrom sklearn.metrics import mean_squared_error\n"
                        f"print(mean_squared_error(np.load({y!r}), np.load({p!r})))"
                    ),
                    needs="sklearn",
                ),
            ],
            "numpy",
        ),
        Workload(
            "bce_10m",
            "BCE, 10M rows, float64 .npy pair (probabilities)",
            "make_bce_10m",
            [
                Command(
                    "losscli",
                    [*LOSSCLI, "eval", "bce", "--y-true", yb, "--y-pred", pb, "--format", "value"],
                ),
                Command(
                    "numpy",
                    _script(
                        "import numpy as np\n"
                        f"y = np.load({yb!r}); p = np.clip(np.load({pb!r}), 1e-7, 1 - 1e-7)\n"
                        "print(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))"
                    ),
                ),
                Command(
                    "keras",
                    _script(
                        "import numpy as np, keras\n"
                        f"y = np.load({yb!r})[:, None]; p = np.load({pb!r})[:, None]\n"
                        "print(float(keras.losses.BinaryCrossentropy(dtype='float64')(y, p)))"
                    ),
                    KERAS_ENV,
                    "keras",
                ),
                Command(
                    "scikit-learn",
                    _script(
                        "import numpy as np\nfrom sklearn.metrics import log_loss\n"
                        f"print(log_loss(np.load({yb!r}), np.load({pb!r})))"
                    ),
                    needs="sklearn",
                ),
            ],
            "numpy",
        ),
        Workload(
            "mse_100m",
            "MSE, 100M rows, float64 .npy pair (1.6 GB)",
            "make_mse_100m",
            [
                Command(
                    "losscli",
                    [
                        *LOSSCLI,
                        "eval",
                        "mse",
                        "--y-true",
                        y100,
                        "--y-pred",
                        p100,
                        "--format",
                        "value",
                    ],
                ),
                Command(
                    "numpy",
                    _script(
                        "import numpy as np\n"
                        f"a = np.load({y100!r}); b = np.load({p100!r})\n"
                        "print(np.mean((a - b) ** 2))"
                    ),
                ),
            ],
            "numpy",
        ),
        Workload(
            "scce_parquet",
            "Sparse categorical crossentropy, 1M rows x 100 classes, Parquet",
            "make_scce",
            [
                Command(
                    "losscli",
                    [
                        *LOSSCLI,
                        "eval",
                        "sparse_categorical_crossentropy",
                        "--data",
                        scce,
                        "--true-col",
                        "label",
                        "--pred-col",
                        "probs",
                        "--format",
                        "value",
                    ],
                ),
                Command(
                    "pyarrow+numpy",
                    _script(
                        "import numpy as np, pyarrow.parquet as pq\n"
                        f"t = pq.read_table({scce!r})\n"
                        "labels = t['label'].to_numpy()\n"
                        "col = t['probs'].combine_chunks()\n"
                        "p = col.flatten().to_numpy().reshape(len(col), -1).astype(np.float64)\n"
                        "chosen = p[np.arange(len(p)), labels] / p.sum(axis=1)\n"
                        "print(-np.mean(np.log(np.clip(chosen, 1e-7, 1 - 1e-7))))"
                    ),
                ),
            ],
            "pyarrow+numpy",
        ),
        *table_workloads(d),
        *analysis_workloads(d),
        Workload(
            "version",
            "losscli --version (start-up)",
            "make_nothing",
            [
                Command("losscli", [*LOSSCLI, "--version"]),
                Command("import numpy", _script("import numpy")),
            ],
            "import numpy",
        ),
    ]


# --- Parquet and CSV against the tools a data engineer would use instead ---------------------

#: What each peer computes, in its own words: MSE, and BCE on probabilities as Keras clips them.
DUCKDB_SQL = {
    "mse": "avg((p - y) * (p - y))",
    "bce": "-avg(y * ln(greatest(least(p, 1 - 1e-7), 1e-7))"
    " + (1 - y) * ln(1 - greatest(least(p, 1 - 1e-7), 1e-7)))",
    "scce": "-avg(ln(greatest(least(list_extract(probs, label::INTEGER + 1)"
    " / list_sum(probs), 1 - 1e-7), 1e-7)))",
}
POLARS_EXPR = {
    "mse": "((pl.col('p') - pl.col('y')) ** 2).mean()",
    "bce": "-(pl.col('y') * pl.col('p').clip(1e-7, 1 - 1e-7).log()"
    " + (1 - pl.col('y')) * (1 - pl.col('p').clip(1e-7, 1 - 1e-7)).log()).mean()",
    "scce": "-(pl.col('probs').list.get(pl.col('label')) / pl.col('probs').list.sum())"
    ".clip(1e-7, 1 - 1e-7).log().mean()",
}
NUMPY_EXPR = {
    "mse": "np.mean((p - y) ** 2)",
    "bce": "-np.mean(y * np.log(np.clip(p, 1e-7, 1 - 1e-7))"
    " + (1 - y) * np.log(1 - np.clip(p, 1e-7, 1 - 1e-7)))",
}
LOSS_SPEC = {"mse": "mse", "bce": "bce", "scce": "sparse_categorical_crossentropy"}


def _peers(path: str, loss: str, scan: str) -> list[Command]:
    """losscli and the same loss in DuckDB, polars (and pyarrow + numpy for two columns)."""
    columns = ("label", "probs") if loss == "scce" else ("y", "p")
    commands = [
        Command(
            "losscli",
            [
                *LOSSCLI,
                "eval",
                LOSS_SPEC[loss],
                "--data",
                path,
                "--true-col",
                columns[0],
                "--pred-col",
                columns[1],
                "--format",
                "value",
            ],
        ),  # fmt: skip
        Command(
            "duckdb",
            _script(
                "import duckdb\n"
                f"print(duckdb.sql({f'SELECT {DUCKDB_SQL[loss]} FROM {scan}'!r})"
                ".fetchall()[0][0])"
            ),
            needs="duckdb",
        ),
        Command(
            "polars",
            _script(
                "import polars as pl\n"
                f"scan = pl.scan_{'csv' if path.endswith('.csv') else 'parquet'}({path!r})\n"
                f"print(scan.select({POLARS_EXPR[loss]}).collect().item())"
            ),
            needs="polars",
        ),
    ]
    if loss in NUMPY_EXPR:
        read = (
            f"t = csv.read_csv({path!r})"
            if path.endswith(".csv")
            else f"t = pq.read_table({path!r})"
        )
        commands.append(
            Command(
                "pyarrow+numpy",
                _script(
                    "import numpy as np, pyarrow.csv as csv, pyarrow.parquet as pq\n"
                    f"{read}\n"
                    "y = t['y'].to_numpy(); p = t['p'].to_numpy()\n"
                    f"print({NUMPY_EXPR[loss]})"
                ),
            )
        )
    return commands


TABLE_KINDS = {"parquet": "Parquet (10 row groups)", "csv": "CSV"}


def table_workloads(d: Path) -> list[Workload]:
    """Parquet and CSV, with DuckDB as the reference: what someone would type instead."""
    out = []
    for loss in ("mse", "bce"):
        for kind in ("parquet", "csv"):
            path = str(d / f"{loss}_10m.{kind}")
            scan = f"'{path}'"
            out.append(
                Workload(
                    f"{kind}_{loss}_10m",
                    f"{loss.upper()}, 10M rows, {TABLE_KINDS[kind]}",
                    f"make_{loss}_{kind}",
                    _peers(path, loss, scan),
                    "duckdb",
                )
            )
    path = str(d / "mse_100m.parquet")
    out.append(
        Workload(
            "parquet_mse_100m",
            "MSE, 100M rows, Parquet (1.6 GB, 100 row groups)",
            "make_parquet_100m",
            _peers(path, "mse", f"'{path}'")[:3],
            "duckdb",
        )
    )
    path = str(d / "wide.parquet")
    out.append(
        Workload(
            "parquet_scce_wide",
            "SCCE, 5M rows, one list column of 10 probabilities, Parquet",
            "make_wide",
            _peers(path, "scce", f"'{path}'"),
            "duckdb",
        )
    )
    root = d / "dataset"
    out.append(
        Workload(
            "parquet_dataset_20",
            "MSE, a dataset of 20 Parquet files (1M rows each)",
            "make_dataset",
            [
                *_peers(str(root), "mse", f"'{root}/*.parquet'")[:2],
                Command(
                    "polars",
                    _script(
                        "import polars as pl\n"
                        f"scan = pl.scan_parquet({str(root / '*.parquet')!r})\n"
                        f"print(scan.select({POLARS_EXPR['mse']}).collect().item())"
                    ),
                    needs="polars",
                ),
            ],
            "duckdb",
        )
    )
    return out


def analysis_workloads(d: Path) -> list[Workload]:
    """What intervals and slices cost, against the plain evaluation of the same file."""
    path = str(d / "sliced_10m.parquet")
    plain = [*LOSSCLI, "eval", "mse", "--data", path, "--true-col", "y", "--pred-col", "p"]
    pair = [*LOSSCLI, "eval", "mse", "--y-true", str(d / "mse_y.npy")]
    pair += ["--y-pred", str(d / "mse_p.npy")]
    out = [
        Workload(
            "ci_parquet_10m",
            "MSE, 10M rows, Parquet: --ci (1000 resamples) against none",
            "make_sliced",
            [
                Command("losscli", [*plain, "--format", "value"]),
                Command("losscli --ci", [*plain, "--ci", "--format", "csv"]),
            ],
            "losscli",
        ),
        Workload(
            "ci_npy_10m",
            "MSE, 10M rows, `.npy` pair: --ci against none",
            "make_mse_10m",
            [
                Command("losscli", [*pair, "--format", "value"]),
                Command("losscli --ci", [*pair, "--ci", "--format", "csv"]),
            ],
            "losscli",
        ),
        Workload(
            "slices_10m",
            "MSE, 10M rows, Parquet, by slice: 4 text values, 1,000 integers, with --ci",
            "make_sliced",
            [
                Command("losscli", [*plain, "--format", "value"]),
                Command("4 slices", [*plain, "--group-by", "region", "--format", "csv"]),
                Command("1000 slices", [*plain, "--group-by", "shop", "--format", "csv"]),
                Command("1000 + --ci", [*plain, "--group-by", "shop", "--ci", "--format", "csv"]),
            ],
            "losscli",
        ),
    ]
    return out


# --- data ----------------------------------------------------------------------------------


def make_sliced(d: Path, rng: np.random.Generator) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (d / "sliced_10m.parquet").exists():
        return
    n = 10_000_000
    table = pa.table(
        {
            "y": rng.normal(size=n),
            "p": rng.normal(size=n),
            "region": rng.choice(["eu", "us", "apac", "latam"], n),
            "shop": rng.integers(0, 1000, n),
        }
    )
    pq.write_table(table, d / "sliced_10m.parquet", row_group_size=1_000_000)


def make_mse_10m(d: Path, rng: np.random.Generator) -> None:
    np.save(d / "mse_y.npy", rng.normal(size=10_000_000))
    np.save(d / "mse_p.npy", rng.normal(size=10_000_000))


def make_bce_10m(d: Path, rng: np.random.Generator) -> None:
    y = rng.integers(0, 2, 10_000_000).astype(np.float64)
    np.save(d / "bce_y.npy", y)
    np.save(d / "bce_p.npy", np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, y.size), 0.001, 0.999))


def make_mse_100m(d: Path, rng: np.random.Generator) -> None:
    for name in ("mse100_y.npy", "mse100_p.npy"):
        out = np.lib.format.open_memmap(d / name, mode="w+", dtype=np.float64, shape=(100_000_000,))
        for start in range(0, out.shape[0], 10_000_000):
            out[start : start + 10_000_000] = rng.normal(size=10_000_000)
        out.flush()
        del out


def make_scce(d: Path, rng: np.random.Generator) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, k = 1_000_000, 100
    labels = rng.integers(0, k, n)
    writer = None
    for start in range(0, n, 100_000):
        logits = rng.normal(size=(100_000, k)).astype(np.float32)
        logits[np.arange(100_000), labels[start : start + 100_000]] += 3.0
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        table = pa.table(
            {
                "label": labels[start : start + 100_000],
                "probs": pa.FixedSizeListArray.from_arrays(pa.array(probs.ravel()), k),
            }
        )
        writer = writer or pq.ParquetWriter(d / "scce.parquet", table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def _two_columns(loss: str, n: int, rng: np.random.Generator) -> Any:
    import pyarrow as pa

    if loss == "mse":
        return pa.table({"y": rng.normal(size=n), "p": rng.normal(size=n)})
    y = rng.integers(0, 2, n).astype(np.float64)
    return pa.table({"y": y, "p": np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0.001, 0.999)})


def _parquet(d: Path, name: str, loss: str, rng: np.random.Generator) -> None:
    import pyarrow.parquet as pq

    if not (d / name).exists():
        pq.write_table(_two_columns(loss, 10_000_000, rng), d / name, row_group_size=1_000_000)


def _csv(d: Path, name: str, loss: str, rng: np.random.Generator) -> None:
    import pyarrow.csv as csv

    if not (d / name).exists():
        csv.write_csv(_two_columns(loss, 10_000_000, rng), d / name)


def make_mse_parquet(d: Path, rng: np.random.Generator) -> None:
    _parquet(d, "mse_10m.parquet", "mse", rng)


def make_bce_parquet(d: Path, rng: np.random.Generator) -> None:
    _parquet(d, "bce_10m.parquet", "bce", rng)


def make_mse_csv(d: Path, rng: np.random.Generator) -> None:
    _csv(d, "mse_10m.csv", "mse", rng)


def make_bce_csv(d: Path, rng: np.random.Generator) -> None:
    _csv(d, "bce_10m.csv", "bce", rng)


def make_parquet_100m(d: Path, rng: np.random.Generator) -> None:
    import pyarrow.parquet as pq

    if (d / "mse_100m.parquet").exists():
        return
    writer = None
    for _ in range(10):
        table = _two_columns("mse", 10_000_000, rng)
        writer = writer or pq.ParquetWriter(d / "mse_100m.parquet", table.schema)
        writer.write_table(table, row_group_size=1_000_000)
    assert writer is not None
    writer.close()


def make_wide(d: Path, rng: np.random.Generator) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (d / "wide.parquet").exists():
        return
    n, k = 5_000_000, 10
    writer = None
    for _ in range(5):
        labels = rng.integers(0, k, n // 5)
        probs = rng.dirichlet(np.ones(k), n // 5)
        column = pa.ListArray.from_arrays(
            pa.array(np.arange(0, (n // 5 + 1) * k, k, dtype=np.int32)), pa.array(probs.ravel())
        )
        table = pa.table({"label": labels, "probs": column})
        writer = writer or pq.ParquetWriter(d / "wide.parquet", table.schema)
        writer.write_table(table, row_group_size=500_000)
    assert writer is not None
    writer.close()


def make_dataset(d: Path, rng: np.random.Generator) -> None:
    import pyarrow.parquet as pq

    root = d / "dataset"
    if root.exists():
        return
    root.mkdir()
    for i in range(20):
        pq.write_table(_two_columns("mse", 1_000_000, rng), root / f"part-{i:02d}.parquet")


def make_nothing(d: Path, rng: np.random.Generator) -> None:
    return None


#: Workloads of 100M rows, run with --big only.
BIG = ("mse_100m", "parquet_mse_100m")


# --- measuring -----------------------------------------------------------------------------


# A small launcher process runs each command and reports the command's own peak memory:
# a child forked straight from this (large) process would inherit its high-water mark.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(f"{os.waitstatus_to_exitcode(status)} {wall} {usage.ru_maxrss}", file=sys.stderr)
"""


def run_once(command: Command) -> tuple[float, float, str]:
    """Wall seconds, peak resident MiB and stdout of one fresh process."""
    env = {**os.environ, **(command.env or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' installs keep compiled bytecode
    proc = subprocess.run(
        [PY, "-S", "-c", LAUNCHER, *command.argv], capture_output=True, env=env, check=False
    )
    code, wall, peak_kib = proc.stderr.decode().split()[-3:]
    if int(code) != 0:
        raise RuntimeError(f"{command.name} exited {code}: {' '.join(command.argv)[:200]}")
    return float(wall), int(peak_kib) / 1024, proc.stdout.decode().strip()


def measure(workload: Workload, runs: int) -> dict[str, tuple[float, float, str]]:
    commands = [c for c in workload.commands if not c.needs or importlib.util.find_spec(c.needs)]
    walls: dict[str, list[float]] = {c.name: [] for c in commands}
    peaks: dict[str, list[float]] = {c.name: [] for c in commands}
    values: dict[str, str] = {}
    for command in commands:  # warm-up: page cache, bytecode
        run_once(command)
    for _ in range(runs):
        for command in commands:  # in turn, so that drift hits every command alike
            wall, peak, value = run_once(command)
            walls[command.name].append(wall)
            peaks[command.name].append(peak)
            values[command.name] = value
    return {
        name: (statistics.median(walls[name]), statistics.median(peaks[name]), values[name])
        for name in walls
    }


def _last(output: str) -> str:
    """What a command printed, as the table shows it: the end of its last line (a value, or a
    CSV row's last cells)."""
    lines = output.splitlines()
    return lines[-1][-24:] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="counted runs per command (median)")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--only", nargs="*", help="workload names to run")
    parser.add_argument(
        "--big", action="store_true", help="include MSE on 100M rows (.npy and Parquet)"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the generated data")
    args = parser.parse_args()
    if shutil.which("losscli") is None and importlib.util.find_spec("losscli") is None:
        sys.exit("install losscli first: pip install .")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    chosen = [
        w
        for w in workloads(args.data_dir)
        if (not args.only or w.name in args.only) and (args.big or w.name not in BIG or args.only)
    ]
    print(f"{args.runs} runs per command, medians; ratios are to the reference peer\n")
    header = ("workload", "command", "wall s", "peak MiB", "wall x", "peak x")
    print("{:14} {:14} {:>8} {:>9} {:>7} {:>7}  value".format(*header))
    for workload in chosen:
        globals()[workload.make](args.data_dir, np.random.default_rng(20261125))
        results = measure(workload, args.runs)
        ref_wall, ref_peak, _ = results[workload.reference]
        for name, (wall, peak, value) in results.items():
            print(
                f"{workload.name:14} {name:14} {wall:8.3f} {peak:9.1f} "
                f"{wall / ref_wall:7.2f} {peak / ref_peak:7.2f}  {_last(value)}"
            )
        print()
    if not args.keep_data:
        shutil.rmtree(args.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
