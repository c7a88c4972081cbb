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
from collections.abc import Callable
from typing import Any

import click

from losscli import __version__

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2
FORMATS = ("table", "json", "csv", "value", "markdown")
REDUCTION_CHOICES = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class LossCliGroup(click.Group):
    """Runs a command and turns every error into one ``Error:`` line and exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from losscli.errors import LossCliError

        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            code = exc.exit_code
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
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): not an error of ours.
            sys.stderr.close()
            code = EXIT_OK
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
            _debug_traceback()
            _error(
                f"unexpected {type(exc).__name__}: {_one_line(str(exc))} (a losscli bug; "
                "LOSSCLI_DEBUG=1 shows the traceback)"
            )
            code = EXIT_USAGE
        sys.exit(code or 0)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _help_hint(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    return f" (see '{ctx.command_path} --help')" if ctx is not None else ""


def _error(message: str) -> None:
    click.echo(f"Error: {message}", err=True)


def _debug_traceback() -> None:
    if os.environ.get("LOSSCLI_DEBUG"):
        import traceback

        traceback.print_exc()


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def _print(renderable: Any) -> None:
    """Print a rich renderable to stdout: colours on a terminal only (and never with NO_COLOR)."""
    from rich.console import Console

    terminal = sys.stdout.isatty()
    console = Console(
        highlight=False,
        width=None if terminal else 4096,
        no_color=not terminal or bool(os.environ.get("NO_COLOR")),
    )
    console.print(renderable)


@contextlib.contextmanager
def _progress_bar(quiet: bool) -> Any:
    """A rich progress bar on stderr for long work, only when stderr is a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    start = time.monotonic()
    bar = Progress(
        TextColumn("evaluating"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("rows", total=None)
    started = False

    def update(done: int, total: int | None) -> None:
        nonlocal started
        if not started and time.monotonic() - start > 0.5:  # only for long work
            bar.start()
            started = True
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if started:
            bar.stop()


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
    help="Write per-sample losses to PATH (.npy, .csv or .parquet), atomically.",
)
@click.option("--force", is_flag=True, help="Let --output replace an existing file.")
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
    from losscli import render
    from losscli.evaluate import InputSpec, evaluate
    from losscli.spec import build_losses

    options = collect_loss_options(from_logits, label_smoothing, axis, params)
    built = build_losses(losses, options=options, reduction=reduction, dtype=dtype)
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
    spec = InputSpec(
        y_true=y_true,
        y_pred=y_pred,
        sample_weight=sample_weight,
        data=data,
        true_cols=list(true_col),
        pred_cols=list(pred_col),
        weight_col=weight_col,
        input_format=input_format,
        header=header,
        baseline_pred=baseline_pred,
    )
    target = None
    if output:
        from losscli import writers

        named_inputs = [s for s in (y_true, y_pred, sample_weight, data, baseline_pred) if s]
        target = writers.check_output_path(output, named_inputs, force)
    with contextlib.ExitStack() as stack:
        writer = None
        if target is not None:
            from losscli.writers import PerSampleWriter

            writer = stack.enter_context(PerSampleWriter(target, list(losses)))
        progress = stack.enter_context(_progress_bar(quiet))
        evaluation = evaluate(
            built,
            list(losses),
            spec,
            nan_policy=nan_policy,
            gates=gates,
            sink=writer.write if writer is not None else None,
            progress=progress,
        )
        if writer is not None:
            writer.commit()
    results = evaluation.results
    messages = evaluation.warnings
    if not quiet:
        for message in messages:
            warn(message)
    if output_format == "json":
        document = render.report(evaluation)
        if not quiet:
            for message in document["warnings"][len(messages) :]:
                warn(message)
        click.echo(render.render_json(document))
    elif output_format == "csv":
        click.echo(render.render_csv(results), nl=False)
    elif output_format == "value":
        click.echo(render.render_values(results), nl=False)
    elif output_format == "markdown":
        click.echo(render.render_markdown(results), nl=False)
    else:
        _print(render.results_table(results))
    if not evaluation.passed:
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


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
        _print(render.list_table())


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
        sources = {
            s
            for c in checks
            for s in (c.inputs.y_true, c.inputs.y_pred, c.inputs.data, c.inputs.baseline_pred)
            if s
        }
        report_path = writers.check_report_path(junit_xml, [*sources, str(path)], "--junit-xml")
    run = run_checks(path, checks)
    if not quiet:
        for message in run.warnings:
            warn(message)
    if report_path is not None:
        data = build_junit(run)

        def write(tmp: Path) -> None:
            tmp.write_bytes(data)

        writers.atomic_write(report_path, write)
    names = [c.name for c in checks]
    if output_format == "json":
        document = render.check_report(run)
        if not quiet:
            for message in document["warnings"][len(run.warnings) :]:
                warn(message)
        click.echo(render.render_json(document))
    elif output_format == "markdown":
        click.echo(render.render_markdown(run.results, names), nl=False)
    else:
        _print(render.results_table(run.results, names))
    if not run.passed:
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


def main() -> None:
    cli(prog_name="losscli")
