"""losscli against its peers, side by side in one run: wall time and peak memory, and the ratios.

    python benchmarks/run.py                  # every workload, 5 runs each
    python benchmarks/run.py --runs 7 --only mse_10m bce_10m
    python benchmarks/run.py --big            # also MSE on 100M rows (a 1.6 GB .npy pair)

Generates the data (seeded) into --data-dir, then for each workload runs every
command as a fresh process, in turn (losscli, peer, losscli, peer, ...), after
one warm-up run each, and reports the median wall time and the median peak
resident memory (``ru_maxrss`` of that process, from ``os.wait4``). Ratios are to
the workload's reference peer (numpy, or pyarrow + numpy). Every command prints
its loss value, so that the peers are seen to compute the same thing.

Needs the test extra (Keras, JAX) and scikit-learn for the Keras and
scikit-learn peers; a peer whose package is missing is skipped.
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
    csv_path = str(d / "mse.csv")
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
        Workload(
            "mse_csv",
            "MSE, 10M rows, CSV",
            "make_csv",
            [
                Command(
                    "losscli",
                    [
                        *LOSSCLI,
                        "eval",
                        "mse",
                        "--data",
                        csv_path,
                        "--true-col",
                        "y",
                        "--pred-col",
                        "p",
                        "--format",
                        "value",
                    ],
                ),
                Command(
                    "pyarrow+numpy",
                    _script(
                        "import numpy as np, pyarrow.csv as csv\n"
                        f"t = csv.read_csv({csv_path!r})\n"
                        "y = t['y'].to_numpy(); p = t['p'].to_numpy()\n"
                        "print(np.mean((y - p) ** 2))"
                    ),
                ),
            ],
            "pyarrow+numpy",
        ),
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


# --- data ----------------------------------------------------------------------------------


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


def make_csv(d: Path, rng: np.random.Generator) -> None:
    import pyarrow as pa
    import pyarrow.csv as csv

    n = 10_000_000
    table = pa.table({"y": np.round(rng.normal(size=n), 6), "p": np.round(rng.normal(size=n), 6)})
    csv.write_csv(table, d / "mse.csv")


def make_nothing(d: Path, rng: np.random.Generator) -> None:
    return None


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="counted runs per command (median)")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--only", nargs="*", help="workload names to run")
    parser.add_argument("--big", action="store_true", help="include MSE on 100M rows (1.6 GB)")
    parser.add_argument("--keep-data", action="store_true", help="keep the generated data")
    args = parser.parse_args()
    if shutil.which("losscli") is None and importlib.util.find_spec("losscli") is None:
        sys.exit("install losscli first: pip install .")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    chosen = [
        w
        for w in workloads(args.data_dir)
        if (not args.only or w.name in args.only)
        and (args.big or w.name != "mse_100m" or args.only)
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
                f"{wall / ref_wall:7.2f} {peak / ref_peak:7.2f}  {value[:24]}"
            )
        print()
    if not args.keep_data:
        shutil.rmtree(args.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
