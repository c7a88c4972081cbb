"""The Dask engine: the same evaluation on an existing Dask cluster, one task per file.

The evaluation in parts (``losscli.engine.parted``) with each part a task: one file of the input
table (a Parquet dataset's files, or a single table) evaluated by the local engine's map and
merge on a worker, its accumulators merged exactly by the client. Losses that need the whole
input at once are refused. Dask is the optional extra ``losscli[dask]``; nothing of it is
imported otherwise. No click, no rich.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from losscli import __version__
from losscli.engine.accumulate import Task
from losscli.engine.inputs import InputSpec, Progress
from losscli.engine.mapping import RowCounts
from losscli.engine.parted import Mapper, evaluate_parts, parts
from losscli.errors import InputError
from losscli.io.datasets import DatasetOutput, Written
from losscli.io.storage import env_limit
from losscli.losses.classes import CustomLoss, Loss
from losscli.stats.analysis import NO_ANALYSIS, Analysis
from losscli.text import redact

#: Seconds a scheduler has to connect and answer (identity, first message) before an error:
#: the default of ``LOSSCLI_SCHEDULER_TIMEOUT``.
CONNECT_SECONDS = 10.0


class DaskMapper(Mapper):
    """Every part a task on the cluster (``client.map``, ``pure=False``)."""

    def __init__(self, client: Any, progress: Progress | None) -> None:
        super().__init__(progress)
        self.client = client

    def map(
        self, fn: Callable[..., Any], *columns: Sequence[Any], report: bool = False, **shared: Any
    ) -> list[Any]:
        futures = self.client.map(fn, *columns, pure=False, **shared)
        return _gathered(futures, self.progress if report else None)


def _client(address: str, say: Any, warnings: list[str]) -> Any:
    import importlib

    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise InputError(f"{say('scheduler')} needs Dask: pip install 'losscli[dask]'") from None
    if address.startswith("local:"):
        return _local_cluster(distributed, address.partition(":")[2], say, warnings)
    shown = redact(address)
    if shown != address:  # Dask's addresses carry no user part: a secret would go in clear
        raise InputError(
            f"{say('scheduler')} {shown}: a Dask address takes no user part "
            "(tcp://host:8786); configure the cluster's security instead"
        )
    seconds = env_limit("LOSSCLI_SCHEDULER_TIMEOUT", CONNECT_SECONDS)

    class BoundedClient(distributed.Client):  # type: ignore[misc]
        """A client whose whole handshake has a deadline: Dask bounds the connection but
        waits for a scheduler's first message forever."""

        def start(self, **kwargs: Any) -> None:
            try:
                super().start(callback_timeout=seconds, **kwargs)
            except BaseException:
                self.close()  # its event loop thread too
                raise

    try:
        return BoundedClient(address, timeout=seconds)
    except (OSError, TimeoutError, ValueError) as exc:  # ValueError: not an address
        timed_out = isinstance(exc, TimeoutError) or "Timed out" in str(exc)
        reason = f"no answer within {seconds:g} s" if timed_out else redact(str(exc))
        raise InputError(
            f"{say('scheduler')} {shown}: cannot reach the scheduler ({reason}; "
            "LOSSCLI_SCHEDULER_TIMEOUT sets the seconds to wait)"
        ) from None


def evaluate_on_cluster(
    losses: list[Loss],
    specs: list[str],
    inputs: InputSpec,
    nan_policy: str,
    progress: Progress | None = None,
    output: DatasetOutput | None = None,
    analysis: Analysis = NO_ANALYSIS,
) -> tuple[list[Task], RowCounts, dict[str, str], list[str], Written | None]:
    """The run on a cluster, one task per file: what ``parted.evaluate_parts`` gives."""
    say = inputs.say
    for loss, spec in zip(losses, specs, strict=True):
        if isinstance(loss, CustomLoss):
            raise InputError(
                f"{spec}: custom losses are not sent to a cluster; drop it or {say('scheduler')}"
            )
    files = parts(inputs, whole_table=True)
    assert inputs.scheduler is not None
    capped: list[str] = []
    client = _client(inputs.scheduler, say, capped)
    try:
        versions = set(client.run(_version).values())
        if versions != {__version__}:
            raise InputError(
                f"{say('scheduler')} {inputs.scheduler}: the workers run losscli "
                f"{', '.join(sorted(versions))}, this is {__version__}; install the same "
                "version on every worker"
            )
        mapper = DaskMapper(client, progress)
        tasks, state, labels, warnings, written = evaluate_parts(
            losses, specs, inputs, files, nan_policy, mapper, output, analysis
        )
        return tasks, state, labels, capped + warnings, written
    finally:
        with _signals_held():
            _close(client)


def _close(client: Any) -> None:
    client.close()
    cluster = getattr(client, "cluster", None)
    if cluster is not None:
        cluster.close()


def most_local_workers() -> int:
    """The most workers ``local:N`` starts: one per core this process may use (at least 2)."""
    import os

    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    return max(cores, 2)


def _local_cluster(distributed: Any, count: str, say: Any, warnings: list[str]) -> Any:
    """A client of a local cluster of ``count`` worker processes, started for one run; at
    most one per core (a check file written on a larger machine still runs: capped, said)."""
    import logging

    if not count.isdigit() or int(count) < 1:
        raise InputError(f"{say('scheduler')} local:N needs a number of workers, got {count!r}")
    most = most_local_workers()
    if int(count) > most:
        warnings.append(
            f"{say('scheduler')} local:{count}: started local:{most}, one worker per core of "
            "this machine (more would only compete for the same cores)"
        )
        count = str(most)
    with _signals_held() as held:
        cluster = distributed.LocalCluster(
            n_workers=int(count),
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # its HTTP server on loopback, any free port
            processes=True,
            # Workers outliving the scheduler by a heartbeat at shutdown log tracebacks.
            silence_logs=logging.CRITICAL + 1,
        )
        try:
            client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
        if held:  # stopped while it started: stop it whole, then the signal is delivered
            _close(client)
    return client


@contextlib.contextmanager
def _signals_held() -> Iterator[list[int]]:
    """SIGINT, SIGTERM and SIGHUP held while a local cluster starts or stops, then delivered:
    a signal half-way would leave worker processes starting with nothing left to stop them
    (and Dask's exit handler tracebacks). Only in the main thread, where signals arrive."""
    import signal
    import threading

    held: list[int] = []
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) is not None:
                previous[signum] = signal.signal(signum, lambda signum, _: held.append(signum))
    try:
        yield held
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])


def _gathered(futures: list[Any], progress: Progress | None) -> list[Any]:
    """The tasks' results in file order, telling ``progress`` how many files are done."""
    import importlib

    distributed: Any = importlib.import_module("distributed")
    position = {future.key: i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for done, future in enumerate(distributed.as_completed(futures), 1):
        results[position[future.key]] = future.result()  # a task's error is raised here
        if progress is not None:
            progress(done, len(futures), "files")
    return results


def _version() -> str:
    import losscli

    return losscli.__version__
