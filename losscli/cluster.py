"""The Dask engine: the same evaluation on an existing Dask cluster, one task per file.

Each task runs the local engine's map and merge on one file of the input table (a Parquet
dataset's files, or a single table) and returns every loss's ``LossAccumulator`` with the
run's counts; the client merges them exactly (``math.fsum``: the order of arrival does not
change a bit). Whole-input decisions (Hinge's label convention) take a first pass of tasks.
Losses that need the whole input at once are refused. Dask is the optional extra
``losscli[dask]``; nothing of it is imported otherwise. No click, no rich.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from losscli import __version__
from losscli.accumulate import LossAccumulator, Merged, Task, whole_input_facts
from losscli.errors import InputError
from losscli.losses import BatchFacts, CustomLoss, Loss
from losscli.plan import InputSpec, Progress, open_inputs, rows_per_chunk
from losscli.readers import storage

#: Seconds to wait for a scheduler before an error.
CONNECT_SECONDS = 10


def fragments(inputs: InputSpec) -> list[InputSpec]:
    """One InputSpec per file of the input table: the unit of work of one task."""
    from losscli.readers.base import parse_number, path_kind
    from losscli.readers.parquet import dataset_files

    say = inputs.say
    separate = (inputs.y_true, inputs.y_pred, inputs.baseline_pred)
    weight = inputs.sample_weight
    weight_file = weight is not None and inputs.weight_col is None and parse_number(weight) is None
    if not inputs.data or any(separate) or weight_file:
        raise InputError(
            f"{say('scheduler')} evaluates one table ({say('data')}, a Parquet dataset or file, "
            "or CSV) with its columns; give labels, predictions and weights as its columns"
        )
    if inputs.data == "-":
        raise InputError(f"{say('scheduler')} reads files the workers can reach, not stdin")
    data = inputs.data
    if storage.is_glob(data) or path_kind(data) == "dir":
        # Each task reads one file of the dataset, named from its root: the file's hive
        # partition columns stay columns.
        return [inputs._replace(only=(path,), scheduler=None) for path, _ in dataset_files(data)]
    return [inputs._replace(data=data, scheduler=None)]


def _naming_the_file(inputs: InputSpec, work: Callable[[], Any]) -> Any:
    """``work()``, an input error naming the task's file (rows count from its first row)."""
    try:
        return work()
    except InputError as exc:
        file = storage.public(inputs.only[0] if inputs.only else inputs.data or "")
        message = str(exc)
        raise InputError(message if file in message else f"{file}: {message}") from None


def fragment_facts(inputs: InputSpec, nan_policy: str) -> bool:
    """A first-pass task: is every label of this file 0 or 1?"""

    def work() -> bool:
        opened = open_inputs(inputs)
        facts = whole_input_facts(opened, rows_per_chunk(opened), nan_policy)
        return bool(facts.binary_labels)

    return bool(_naming_the_file(inputs, work))


def fragment_sums(
    inputs: InputSpec,
    losses: list[Loss],
    specs: list[str],
    nan_policy: str,
    facts: BatchFacts | None,
) -> tuple[list[LossAccumulator], Merged, dict[str, str], list[str]]:
    """A task: one file evaluated by the local engine, its partial results returned."""
    from losscli.evaluate import run

    tasks, state, labels, warnings = _naming_the_file(
        inputs,
        lambda: run(losses, specs, inputs, nan_policy=nan_policy, facts=facts, whole_input=False),
    )
    return [task.total for task in tasks], state, labels, warnings


def _client(address: str, say: Any) -> Any:
    import importlib

    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise InputError(f"{say('scheduler')} needs Dask: pip install 'losscli[dask]'") from None
    if address.startswith("local:"):
        count = address.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise InputError(f"{say('scheduler')} local:N needs a number of workers, got {count!r}")
        cluster = distributed.LocalCluster(
            n_workers=int(count),
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # its HTTP server on loopback, any free port
            processes=True,
        )
        return distributed.Client(cluster)
    try:
        return distributed.Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"{say('scheduler')} {address}: cannot reach the scheduler ({exc})"
        ) from None


def evaluate_on_cluster(
    losses: list[Loss],
    specs: list[str],
    inputs: InputSpec,
    nan_policy: str,
    progress: Progress | None = None,
) -> tuple[list[Task], Merged, dict[str, str], list[str]]:
    """The run on a cluster: what ``evaluate.run`` gives, from one task per file."""
    say = inputs.say
    for loss, spec in zip(losses, specs, strict=True):
        if isinstance(loss, CustomLoss):
            raise InputError(
                f"{spec}: custom losses are not sent to a cluster; drop it or {say('scheduler')}"
            )
    parts = fragments(inputs)
    assert inputs.scheduler is not None
    client = _client(inputs.scheduler, say)
    try:
        versions = set(client.run(_version).values())
        if versions != {__version__}:
            raise InputError(
                f"{say('scheduler')} {inputs.scheduler}: the workers run losscli "
                f"{', '.join(sorted(versions))}, this is {__version__}; install the same "
                "version on every worker"
            )
        facts = None
        if any(loss.needs_facts for loss in losses):
            passes = client.map(fragment_facts, parts, nan_policy=nan_policy, pure=False)
            facts = BatchFacts(binary_labels=all(client.gather(passes)))
        futures = client.map(
            fragment_sums,
            parts,
            losses=losses,
            specs=specs,
            nan_policy=nan_policy,
            facts=facts,
            pure=False,
        )
        outputs = _gathered(futures, progress)
    finally:
        client.close()
        cluster = getattr(client, "cluster", None)
        if cluster is not None:
            cluster.close()
    tasks = [
        Task(loss, spec, bool(inputs.baseline_pred))
        for loss, spec in zip(losses, specs, strict=True)
    ]
    state = Merged()
    warnings: list[str] = []
    labels: dict[str, str] = {}
    for accumulators, part_state, part_labels, part_warnings in outputs:
        for task, accumulator in zip(tasks, accumulators, strict=True):
            task.total.merge(accumulator)
        state.absorb(part_state)
        warnings += part_warnings
        labels = labels or {role: inputs.data or "" for role in part_labels}
    return tasks, state, labels, warnings


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
