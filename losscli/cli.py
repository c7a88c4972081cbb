"""The ``losscli`` command: parse options, call the library, render.

Errors from the library (``LossCliError``) and from click's option parsing
become one ``Error: ...`` line on stderr and exit code 2, here and only here.
Heavy modules (numpy, pyarrow, rich) are imported inside the commands, so
``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from losscli import __version__

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
FORMATS = ("table", "json", "csv", "value", "markdown")
REDUCTION_CHOICES = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class LossCliGroup(click.Group):
    """Runs a command and turns every error into one ``Error:`` line and exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from losscli.errors import LossCliError, Terminated

        kwargs["standalone_mode"] = False
        restore = _terminate_on_signals()
        try:
            try:
                with warnings.catch_warnings():
                    # The library's Python warnings for notebook users; the CLI says the same
                    # as a `Warning:` line, once, from its input checks.
                    warnings.filterwarnings("ignore", "In loss ", SyntaxWarning)
                    code = super().main(*args, **kwargs)
            except click.exceptions.Exit as exc:
                code = exc.exit_code
            _flush_stdout()
        except click.Abort:
            _error("interrupted")
            code = 130
        except click.ClickException as exc:
            _error(_one_line(exc.format_message()) + _help_hint(exc))
            code = EXIT_USAGE
        except LossCliError as exc:
            _debug_traceback()
            _error(_one_line(str(exc)))
            code = EXIT_USAGE
        except KeyboardInterrupt:
            _error("interrupted")
            code = 130
        except Terminated as exc:
            _error(f"terminated by {exc.name}")
            code = 128 + exc.signum
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): not an error of ours.
            sys.stderr.close()
            code = EXIT_OK
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
            # A bug of ours, never disguised as an input error (exit 2): exit 3.
            _debug_traceback()
            _error(
                f"internal error: {type(exc).__name__}: {_one_line(str(exc))[:500]} (a losscli "
                "bug; please report it; LOSSCLI_DEBUG=1 shows the traceback)"
            )
            code = EXIT_INTERNAL
        finally:
            restore()
        sys.exit(code or 0)


def _terminate_on_signals() -> Callable[[], None]:
    """SIGTERM and SIGHUP raise ``Terminated``: temporary files are removed on the way out."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    from losscli.errors import Terminated

    def handler(signum: int, frame: object) -> None:
        raise Terminated(signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handler)

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore


def _flush_stdout() -> None:
    """Flush now: a write that fails at exit (a full disk) would otherwise pass unseen."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        from losscli.streamed import stdout_error

        raise stdout_error(exc) from None


#: An error line longer than this is cut in the middle: messages shorten what they echo, and
#: this holds the line readable when something echoed in full is long anyway.
MAX_MESSAGE = 1000


def _one_line(message: str) -> str:
    line = " ".join(message.split())
    if len(line) > MAX_MESSAGE:
        line = line[: MAX_MESSAGE - 300] + " ... " + line[-295:]
    return line


def _help_hint(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    return f" (see '{ctx.command_path} --help')" if ctx is not None else ""


def _error(message: str) -> None:
    click.echo(f"Error: {message}", err=True)


def _debug_traceback() -> None:
    if os.environ.get("LOSSCLI_DEBUG"):
        import traceback

        traceback.print_exc()


def warn(message: str, prefix: str = "Warning: ") -> None:
    click.echo(f"{prefix}{message}", err=True)


def _stdin_hint(specs: list[Any], quiet: bool) -> None:
    """Reading standard input from a terminal looks like a hang: say what losscli waits for."""
    if not quiet and any(spec.reads_stdin() for spec in specs) and sys.stdin.isatty():
        warn(
            "reading the input from the terminal: paste the rows and press Ctrl-D, "
            "or pipe a file in (cat preds.csv | losscli ...)",
            prefix="losscli: ",
        )


def _print(build: Callable[[int | None], Any]) -> None:
    """Print a rich table to stdout, built for the terminal's width (``None``: not a terminal,
    never wrapped); colours on a terminal only, never with NO_COLOR."""
    from rich.console import Console

    terminal = sys.stdout.isatty()
    console = Console(
        highlight=False,
        width=None if terminal else 10**6,
        no_color=not terminal or bool(os.environ.get("NO_COLOR")),
    )
    console.print(build(console.width if terminal else None), crop=False)


@contextlib.contextmanager
def _progress_bar(quiet: bool, clock: Callable[[], float] | None = None) -> Any:
    """A rich progress bar on stderr for long work (over 0.5 s), only when stderr is a terminal.

    With a known size (``.npy``, Parquet metadata): percent, rows done of the total and a
    labelled ETA; otherwise rows done and the time taken.
    """
    if quiet or not sys.stderr.isatty():
        yield None
        return
    import time

    clock = clock or time.monotonic
    start = clock()
    bar: Any = None
    task: Any = None

    def update(done: int, total: int | None, unit: str = "rows") -> None:
        nonlocal bar, task
        if bar is None:
            if clock() - start <= 0.5:  # only for long work
                return
            bar, task = _start_bar(total)
        if total:
            detail = f"{100 * done / total:3.0f}%  {done:,}/{total:,} {unit}"
        else:
            detail = f"{done:,} {unit}"
        bar.update(task, completed=done, total=total, detail=detail)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def _start_bar(total: int | None) -> tuple[Any, Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    timing = (
        [TextColumn("ETA"), TimeRemainingColumn()]
        if total
        else [TextColumn("elapsed"), TimeElapsedColumn()]
    )
    bar = Progress(
        TextColumn("evaluating"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        *timing,
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("rows", total=total, detail="")
    bar.start()
    return bar, task


@click.group("losscli", cls=LossCliGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", message="losscli %(version)s")
def cli() -> None:
    """Keras-exact loss values from prediction files.

    \b
    losscli eval mse --y-true labels.npy --y-pred preds.npy
    losscli eval "bce(from_logits=true)" --data preds.parquet --true-col label --pred-col logit
    losscli list
    losscli describe huber
    """


# --- shared option sets -----------------------------------------------------------------


def input_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--y-true",
            metavar="PATH",
            help="Labels: a CSV/TSV/NPY/NPZ/Parquet file, or - for stdin.",
        ),
        click.option("--y-pred", metavar="PATH", help="Predictions: a file, or - for stdin."),
        click.option(
            "--sample-weight",
            metavar="PATH|NUMBER",
            help="A number, or a file with one weight per sample (or weights that broadcast).",
        ),
        click.option(
            "--data", metavar="PATH", help="One table holding labels, predictions and weights."
        ),
        click.option(
            "--true-col",
            multiple=True,
            metavar="NAME",
            help="Label column(s) of a table; repeatable, glob patterns allowed ('onehot_*').",
        ),
        click.option(
            "--pred-col",
            multiple=True,
            metavar="NAME",
            help="Prediction column(s) of a table; repeatable, glob patterns allowed ('prob_*').",
        ),
        click.option(
            "--weight-col",
            metavar="NAME",
            help="The sample-weight column of --data or --sample-weight.",
        ),
        click.option(
            "--input-format",
            type=click.Choice(["csv", "tsv", "npy", "npz", "parquet"], case_sensitive=False),
            help="Read every input in this format, whatever its suffix (stdin defaults to csv).",
        ),
        click.option(
            "--header/--no-header",
            default=None,
            help="CSV: the first row is (not) a header. Default: detected.",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Evaluate on this Dask scheduler (tcp://host:8786), one task per file of "
            "--data; local:N starts a local cluster of N workers. Needs losscli[dask].",
        ),
        click.option(
            "--one-hot",
            is_flag=True,
            help="Integer class labels (one per row) become one-hot rows, as many classes as "
            "y_pred has: for categorical_crossentropy and the other losses of one-hot rows.",
        ),
        click.option(
            "--delimiter",
            metavar="CHAR",
            help="CSV: the field delimiter ('tab' for a tab). Default: detected among , tab ; |.",
        ),
        click.option(
            "--nan-policy",
            type=click.Choice(["raise", "omit", "propagate"]),
            default="raise",
            show_default=True,
            help="Rows with NaN or inf: an error, dropped, or passed through to the loss.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def loss_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--from-logits",
            is_flag=True,
            default=None,
            help="Predictions are logits (every loss that takes from_logits).",
        ),
        click.option(
            "--label-smoothing",
            type=float,
            metavar="F",
            help="label_smoothing for every loss that takes it.",
        ),
        click.option(
            "--axis", metavar="N", help="axis for every loss that takes it, e.g. 1 or '(1, 2)'."
        ),
        click.option(
            "-p",
            "--param",
            "params",
            multiple=True,
            metavar="KEY=VALUE",
            help="Any loss parameter, for every loss that takes it (repeatable).",
        ),
        click.option(
            "--reduction",
            type=click.Choice(REDUCTION_CHOICES),
            default="sum_over_batch_size",
            show_default=True,
            help="How per-sample losses become one number (Keras semantics).",
        ),
        click.option(
            "--dtype",
            type=click.Choice(["float64", "float32"]),
            default="float64",
            show_default=True,
            help="Computation precision; float32 computes as Keras does by default.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def collect_loss_options(
    from_logits: bool | None,
    label_smoothing: float | None,
    axis: str | None,
    params: tuple[str, ...],
) -> dict[str, Any]:
    from losscli.errors import SpecError
    from losscli.spec import parse_value

    options: dict[str, Any] = {}
    for item in params:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"-p/--param needs KEY=VALUE, got {item!r}")
        options[key.strip()] = parse_value(text)
    if from_logits:
        options["from_logits"] = True
    if label_smoothing is not None:
        options["label_smoothing"] = label_smoothing
    if axis is not None:
        options["axis"] = parse_value(axis)
    return options


# --- eval -------------------------------------------------------------------------------------


@cli.command("eval", context_settings=CONTEXT)
@click.argument("losses", nargs=-1, required=True, metavar="LOSS...")
@input_options
@loss_options
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="How to print the result on stdout.",
)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Write per-sample losses to PATH (.npy, .csv or .parquet), atomically; a PATH "
    "ending in / (a directory or URI) gets a Parquet dataset, one file per input file.",
)
@click.option("--force", is_flag=True, help="Let --output replace an existing file or part files.")
@click.option(
    "--worst",
    type=click.IntRange(1, 100_000),
    metavar="K",
    help="Also list the K samples with the largest weighted loss (row, y_true, y_pred, weight).",
)
@click.option(
    "--histogram",
    "bins",
    type=click.IntRange(1, 1000),
    is_flag=False,
    flag_value=30,
    metavar="[BINS]",
    help="Also show the per-sample losses' distribution: quantiles and BINS bins (30).",
)
@click.option(
    "--plot",
    metavar="PATH",
    help="Draw the distribution to PATH (.png or .svg: losscli[plot]; .html needs nothing).",
)
@click.option(
    "--max",
    "max_bounds",
    multiple=True,
    metavar="[LOSS=]X",
    help="Gate: exit 1 when the loss is above X. With several losses: LOSS=X (repeatable).",
)
@click.option(
    "--min",
    "min_bounds",
    multiple=True,
    metavar="[LOSS=]X",
    help="Gate: exit 1 when the loss is below X. With several losses: LOSS=X (repeatable).",
)
@click.option(
    "--baseline-pred",
    metavar="PATH",
    help="A previous model's predictions: evaluated against the same labels and weights.",
)
@click.option(
    "--max-increase",
    "max_increase",
    multiple=True,
    metavar="[LOSS=]X[%]",
    help="Gate: exit 1 when the loss exceeds the baseline by more than X, or X percent.",
)
@click.option("-q", "--quiet", is_flag=True, help="No warnings or progress on stderr.")
def eval_command(
    losses: tuple[str, ...],
    y_true: str | None,
    y_pred: str | None,
    sample_weight: str | None,
    data: str | None,
    true_col: tuple[str, ...],
    pred_col: tuple[str, ...],
    weight_col: str | None,
    input_format: str | None,
    header: bool | None,
    scheduler: str | None,
    one_hot: bool,
    delimiter: str | None,
    nan_policy: str,
    from_logits: bool | None,
    label_smoothing: float | None,
    axis: str | None,
    params: tuple[str, ...],
    reduction: str,
    dtype: str,
    output_format: str,
    output: str | None,
    force: bool,
    worst: int | None,
    bins: int | None,
    plot: str | None,
    max_bounds: tuple[str, ...],
    min_bounds: tuple[str, ...],
    baseline_pred: str | None,
    max_increase: tuple[str, ...],
    quiet: bool,
) -> None:
    """Evaluate one or more losses on the same labels and predictions.

    LOSS is a Keras name (mse, binary_crossentropy, CategoricalCrossentropy, ...),
    optionally configured: "huber(delta=2.5)", "bce(from_logits=true,
    label_smoothing=0.1)"; or a custom function, path/to/file.py:function.

    \b
    losscli eval mse mae --y-true labels.npy --y-pred preds.npy
    losscli eval bce --data preds.parquet --true-col label --pred-col prob -f json
    """
    from losscli import api

    if plot:
        bins = bins or 30  # a picture of the distribution
    prepared = api.prepare(
        list(losses),
        y_true,
        y_pred,
        sample_weight=sample_weight,
        data=data,
        true_col=list(true_col),
        pred_col=list(pred_col),
        weight_col=weight_col,
        baseline_pred=baseline_pred,
        reduction=reduction,
        dtype=dtype,
        params=collect_loss_options(from_logits, label_smoothing, axis, params),
        one_hot=one_hot,
        worst=worst,
        histogram=bins,
        input_format=input_format,
        header=header,
        delimiter=delimiter,
        scheduler=scheduler,
    )
    built, spec = prepared.losses, prepared.inputs
    gates = None
    if max_bounds or min_bounds or max_increase:
        from losscli.errors import SpecError
        from losscli.gates import GateOptions

        gates = GateOptions.parse(
            {"max": max_bounds, "min": min_bounds, "max_increase": max_increase},
            list(losses),
            [loss.name for loss in built],
        ).by_loss
        has_increase = any(g.kind == "max_increase" for gs in gates.values() for g in gs)
        if has_increase and not baseline_pred:
            raise SpecError("--max-increase compares with a baseline: add --baseline-pred PATH")
    _stdin_hint([spec], quiet)
    if plot:
        from losscli.plots import check_plot_path

        check_plot_path(plot, [*spec.paths(), *([output] if output else [])])
    target = dataset = None
    if output:
        from losscli import writers
        from losscli.dataset_output import DatasetOutput, is_dataset

        if is_dataset(output):
            dataset = DatasetOutput(output, force)
            dataset.prepare(spec.paths())
        else:
            target = writers.check_output_path(output, spec.paths(), force)
    with contextlib.ExitStack() as stack:
        sinks: list[Any] = []
        if target is not None:
            from losscli.writers import PerSampleWriter

            writer = stack.enter_context(PerSampleWriter(target, list(losses), force=force))
            sinks.append(writer.write)
        printer = None
        if reduction == "none" and dataset is None:
            from losscli.streamed import PerSampleStdout

            printer = PerSampleStdout(output_format, list(losses), sys.stdout)
            stack.callback(printer.close)
            sinks.append(printer)
        progress = stack.enter_context(_progress_bar(quiet))
        evaluation = prepared.run(
            nan_policy=nan_policy,
            gates=gates,
            sink=_fan_out(sinks),
            progress=progress,
            output=dataset,
        ).evaluation
        if target is not None:
            writer.commit()
        if plot:
            from losscli.plots import write_plot

            write_plot(plot, evaluation.results)
        _report(evaluation, output_format, quiet, printer)
    if not evaluation.passed:
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


def _print_analysis(results: list[Any]) -> None:
    """Under the results table: the worst samples' table, then each loss's histogram (bars of
    blocks on a terminal, of # when piped)."""
    from losscli import render_analysis

    if any(r.worst is not None for r in results):
        click.echo()
        _print(lambda width: render_analysis.worst_table(results, width=width))
    bar = "\u2588" if sys.stdout.isatty() else "#"
    for result in results:
        if result.distribution is not None:
            click.echo()
            click.echo("\n".join(render_analysis.histogram_lines(result, bar)))


def _fan_out(sinks: list[Any]) -> Any:
    if not sinks:
        return None
    if len(sinks) == 1:
        return sinks[0]

    def sink(arrays: list[Any], index: Any) -> None:
        for each in sinks:
            each(arrays, index)

    return sink


def _report(evaluation: Any, output_format: str, quiet: bool, printer: Any) -> None:
    """Print an evaluation's results (per-sample rows were printed as they came)."""
    from losscli import render

    results = evaluation.results
    if printer is not None:  # --reduction none: the values went by; a head stands for them
        heads = [None if output_format == "json" else printer.head(i) for i in range(len(results))]
        results = [r._replace(value=head) for r, head in zip(results, heads, strict=True)]
    messages = list(evaluation.warnings)
    if output_format == "json":
        document = render.report(evaluation._replace(results=results))
        messages = document["warnings"]
        if printer is not None:
            printer.finish_json(document)
        else:
            click.echo(render.render_json(document))
    elif printer is not None and output_format in ("csv", "value"):
        pass  # printed block by block
    elif output_format == "csv":
        from losscli.render_analysis import render_csv_sections

        click.echo(render.render_csv(results) + render_csv_sections(results), nl=False)
    elif output_format == "value":
        click.echo(render.render_values(results), nl=False)
    elif output_format == "markdown":
        from losscli.render_analysis import render_markdown_sections

        click.echo(render.render_markdown(results) + render_markdown_sections(results), nl=False)
    else:
        _print(lambda width: render.results_table(results, width=width))
        _print_analysis(results)
    if not quiet:
        for message in messages:
            warn(message)
        for line in render.failed_gate_lines(results):
            warn(line, prefix="")


# --- list and describe -------------------------------------------------------------------------


@cli.command("list", context_settings=CONTEXT)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table, or JSON for scripts.",
)
def list_command(output_format: str) -> None:
    """Every loss: name, class, accepted identifiers, parameters with defaults, description."""
    from losscli import render

    if output_format == "json":
        click.echo(render.render_list_json())
    else:
        _print(render.list_table)


@cli.command("describe", context_settings=CONTEXT)
@click.argument("loss", metavar="LOSS")
def describe_command(loss: str) -> None:
    """Formula, parameters, expected input shapes and an example for LOSS."""
    from losscli import render
    from losscli.losses import lookup

    click.echo(render.describe_text(lookup(loss).fn.__name__), nl=False)


# --- check -------------------------------------------------------------------------------------


@cli.command("check", context_settings=CONTEXT)
@click.argument("config", required=False, metavar="[CONFIG]")
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
    help="How to print the results on stdout.",
)
@click.option(
    "--junit-xml",
    metavar="PATH",
    help="Also write a JUnit XML report (one testcase per check) for CI test reporters.",
)
@click.option("-q", "--quiet", is_flag=True, help="No warnings on stderr.")
def check_command(
    config: str | None, output_format: str, junit_xml: str | None, quiet: bool
) -> None:
    """Run the quality gates of a config file; exit 1 when one fails.

    CONFIG is a losscli.toml, or a pyproject.toml with [tool.losscli]; without it,
    ./losscli.toml or ./pyproject.toml. Exit 0 when every check passes, 1 when one
    fails, 2 on a config or input error.

    \b
    losscli check sample_data/losscli.toml --junit-xml report.xml
    """
    from pathlib import Path

    from losscli import render, writers
    from losscli.checks import find_config, load_config, run_checks
    from losscli.junit import junit_xml as build_junit

    path = find_config(config)
    checks = load_config(path)
    report_path = None
    if junit_xml:
        sources = [p for c in checks for p in c.inputs.paths()]
        report_path = writers.check_report_path(junit_xml, [*sources, str(path)], "--junit-xml")
    _stdin_hint([check.inputs for check in checks], quiet)
    run = run_checks(path, checks)
    if not quiet:
        for message in run.warnings:
            warn(message)
    if report_path is not None:
        data = build_junit(run)

        def write(tmp: Path) -> None:
            tmp.write_bytes(data)

        writers.atomic_write(report_path, write, option="--junit-xml")
    if output_format == "json":
        document = render.check_report(run)
        if not quiet:
            for message in document["warnings"][len(run.warnings) :]:
                warn(message)
        click.echo(render.render_json(document))
    elif output_format == "markdown":
        click.echo(render.render_check_markdown(run), nl=False)
    else:
        _print(lambda width: render.check_table(run, width))
    if run.errors:
        for i, message in run.errors.items():
            _error(f"{checks[i].name}: {_one_line(message)}")
        raise click.exceptions.Exit(EXIT_USAGE)
    if not quiet:
        for line in render.failed_gate_lines(run.results, [c.name for c in checks]):
            warn(line, prefix="")
    if not run.passed:
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


def main() -> None:
    _keep_freed_memory()
    cli(prog_name="losscli")


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed blocks for reuse instead of returning them to the
    system: every chunk allocates its temporaries anew (a few MiB), and memory handed back
    and taken again costs a page fault per 4 KiB (measured: two 1 MiB temporaries took
    1.6 ms instead of 0.12 ms). Process-wide, so the command does it, not the library; a
    no-op where there is no glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 << 20)  # blocks below 64 MiB come from the heap...
    mallopt(m_trim_threshold, 256 << 20)  # ...which keeps up to 256 MiB freed for reuse
