"""The ``losscli`` commands: parse options, call the library, render. Errors become one
``Error: ...`` line and an exit code in ``terminal.LossCliGroup``; the shared option sets are in
``options``. Heavy modules (numpy, pyarrow, rich) are imported inside the commands, so
``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from losscli import __version__
from losscli.cli.formats import CHECK_FORMATS, EVAL_FORMATS, FORMATS, echo
from losscli.cli.options import (
    CONTEXT,
    analysis_options,
    collect_loss_options,
    gate_options,
    input_options,
    loss_options,
)
from losscli.cli.terminal import (
    EXIT_GATE_FAILED,
    EXIT_USAGE,
    LossCliGroup,
    error_line,
    keep_freed_memory,
    one_line,
    print_table,
    progress_bar,
    stdin_hint,
    warn,
)

if TYPE_CHECKING:
    from losscli.config import RunConfig

F = TypeVar("F", bound=Callable[..., Any])


def format_option(choices: Sequence[str], help: str) -> Callable[[F], F]:
    """``-f/--format``, the first choice the default."""
    return click.option(
        "-f",
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help=help,
    )


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


# --- eval -------------------------------------------------------------------------------------


@cli.command("eval", context_settings=CONTEXT)
@click.argument("losses", nargs=-1, required=True, metavar="LOSS...")
@input_options
@loss_options
@format_option(EVAL_FORMATS, "How to print the result on stdout.")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Write per-sample losses to PATH (.npy, .csv or .parquet), atomically; a PATH "
    "ending in / (a directory or URI) gets a Parquet dataset, one file per input file.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Let --output, --worst-output and --plot replace an existing file or part files.",
)
@click.option(
    "--worst-output",
    metavar="PATH",
    help="Write the --worst samples to PATH (.csv or .parquet), atomically: one row per "
    "sample, with its loss spec and slice.",
)
@analysis_options
@gate_options
@click.option("-q", "--quiet", is_flag=True, help="No warnings or progress on stderr.")
def eval_command(losses: tuple[str, ...], **flags: Any) -> None:
    """Evaluate one or more losses on the same labels and predictions.

    LOSS is a Keras name (mse, binary_crossentropy, CategoricalCrossentropy, ...),
    optionally configured: "huber(delta=2.5)", "bce(from_logits=true,
    label_smoothing=0.1)"; or a custom function, path/to/file.py:function.

    \b
    losscli eval mse mae --y-true labels.npy --y-pred preds.npy
    losscli eval bce --data preds.parquet --true-col label --pred-col prob -f json
    """
    from losscli import api

    shown = _Shown(**{key: flags.pop(key) for key in _Shown._fields})
    if shown.worst_output and not flags["worst"]:
        from losscli.errors import SpecError

        raise SpecError("--worst-output writes the worst samples: add --worst K")
    prepared = api.build(run_config(losses, flags, bool(shown.plot), shown.plot_scale))
    spec = prepared.inputs
    stdin_hint([spec], shown.quiet)
    histogram = flags["bins"] is not None  # --plot alone draws a picture, not a histogram
    targets = _Targets.check(shown, spec.paths())
    evaluation, drawn = _evaluate(prepared, shown, targets, histogram)
    source = click.get_current_context().get_parameter_source("reduction")
    weighted = flags["sample_weight"] is not None or bool(flags["weight_col"])
    if weighted and not shown.quiet and source is click.core.ParameterSource.DEFAULT:
        from losscli.engine.input_checks import weighted_default_note

        warn(weighted_default_note("--reduction mean_with_sample_weight"), prefix="Note: ")
    if shown.plot:
        _draw(shown.plot, drawn, shown.force, shown.plot_scale)
    if not evaluation.passed:
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


class _Shown(NamedTuple):
    """``eval``'s flags that say what to show and write, not how to evaluate."""

    output_format: str
    output: str | None
    force: bool
    worst_output: str | None
    plot: str | None
    plot_scale: str
    quiet: bool


#: ``eval``'s gate flags by the setting they give.
_GATE_FLAGS = {
    "max": "max_bounds",
    "min": "min_bounds",
    "max_increase": "max_increase",
    "slice_max": "slice_max",
    "slice_min": "slice_min",
}


def run_config(
    losses: tuple[str, ...], flags: dict[str, Any], plot: bool, plot_scale: str
) -> RunConfig:
    """``eval``'s flags as a run's configuration: gate flags ``[LOSS=]X`` as bounds, the loss
    option flags as parameters, a plot's distribution in 30 bins unless ``--histogram`` says."""
    from losscli.config import COMMAND_LINE, RunConfig

    settings = dict(flags)
    params = collect_loss_options(
        *(settings.pop(key) for key in ("from_logits", "label_smoothing", "axis", "params"))
    )
    gates: dict[str, Any] = {k: _bounds(settings.pop(flag)) for k, flag in _GATE_FLAGS.items()}
    bins = settings.pop("bins")
    for key in ("true_col", "pred_col", "baseline_col", "group_by"):
        settings[key] = tuple(settings[key])
    return RunConfig(
        losses=tuple(losses),
        params=params,
        histogram=bins or 30 if plot else bins,  # --plot alone: a picture of 30 bins
        bin_scale=plot_scale if plot else "linear",
        spelling=COMMAND_LINE,
        **gates,
        **settings,
    )


def _bounds(items: tuple[str, ...]) -> tuple[tuple[str | None, str], ...]:
    """``--max X`` (every loss) and ``--max LOSS=X`` (one) as bounds."""
    bounds: list[tuple[str | None, str]] = []
    for item in items:
        target, sep, bound = item.rpartition("=")
        bounds.append((target, bound) if sep else (None, item))
    return tuple(bounds)


class _Targets(NamedTuple):
    """Where ``eval`` writes: the per-sample file or dataset, the worst samples' file."""

    per_sample: Any = None
    dataset: Any = None
    worst: Any = None

    @classmethod
    def check(cls, shown: _Shown, inputs: list[str]) -> _Targets:
        """Every output path checked before anything is read: no input, no existing file
        (without --force)."""
        output, force = shown.output, shown.force
        also = [*inputs, *([output] if output else [])]
        if shown.plot:
            from losscli.report.plots import check_plot_path

            check_plot_path(shown.plot, also, force)
        worst = None
        if shown.worst_output:
            from losscli.report.tabular import check_worst_path

            worst = check_worst_path(shown.worst_output, also, force)
        if not output:
            return cls(worst=worst)
        from losscli.io import writers
        from losscli.io.datasets import DatasetOutput, is_dataset

        if is_dataset(output):
            return cls(dataset=DatasetOutput(output, force).prepare(inputs), worst=worst)
        return cls(per_sample=writers.check_output_path(output, inputs, force), worst=worst)


def _evaluate(
    prepared: Any, shown: _Shown, targets: _Targets, histogram: bool
) -> tuple[Any, list[Any]]:
    """Run, writing per-sample losses as they come, and report; the evaluation and the
    results the plot draws."""
    output_format, quiet = shown.output_format, shown.quiet
    specs = prepared.specs
    with contextlib.ExitStack() as stack:
        if targets.dataset is not None:
            stack.callback(targets.dataset.abandon)  # a failed run leaves the dataset as it was
        sinks: list[Any] = []
        writer = None
        if targets.per_sample is not None:
            from losscli.io.writers import PerSampleWriter

            writer = PerSampleWriter(targets.per_sample, specs, force=shown.force)
            sinks.append(stack.enter_context(writer).write)
        printer = None
        if prepared.config.reduction == "none" and targets.dataset is None:
            from losscli.cli.streamed import PerSampleStdout

            printer = PerSampleStdout(FORMATS[output_format], specs, sys.stdout)
            stack.callback(printer.close)
            sinks.append(printer)
        # Rows printed as they come would run into the bar: no bar then. The bar is erased
        # (``with`` ends) before anything else is printed.
        streaming = printer is not None and printer.live
        with progress_bar(quiet or (streaming and sys.stdout.isatty())) as progress:
            evaluation = prepared.run(
                sink=_fan_out(sinks), progress=progress, output=targets.dataset
            ).evaluation
        if writer is not None:
            writer.commit()
        drawn = evaluation.results  # the plot's distributions, printed only with --histogram
        if not histogram:
            shown_results = [r._replace(distribution=None) for r in evaluation.results]
            evaluation = evaluation._replace(results=shown_results)
        if targets.worst is not None:
            from losscli.report import render
            from losscli.report.tabular import write_worst

            write_worst(targets.worst, render.report(evaluation), shown.force)
        _report(evaluation, output_format, quiet, printer, targets.worst is not None)
    return evaluation, drawn


def _draw(path: str, results: list[Any], force: bool, scale: str) -> None:
    """The plot, after the results: one that cannot be drawn or written is a warning (even
    with --quiet), and the exit code stays the gates'."""
    from losscli.errors import LossCliError
    from losscli.io.readers import cli_flag
    from losscli.report.plots import write_plot

    try:
        write_plot(path, results, force, scale)
    except LossCliError as exc:
        warn(f"{one_line(exc.spelled(cli_flag))}; the results above stand")
    except Exception as exc:  # noqa: BLE001 - a bug in drawing: said, not the gates' verdict
        warn(
            f"--plot {path}: not drawn: internal error: {type(exc).__name__}: "
            f"{one_line(str(exc))[:500]} (a losscli bug; please report it); the results above "
            "stand"
        )


def _fan_out(sinks: list[Any]) -> Any:
    if not sinks:
        return None
    if len(sinks) == 1:
        return sinks[0]

    def sink(arrays: list[Any], index: Any) -> None:
        for each in sinks:
            each(arrays, index)

    return sink


def _report(
    evaluation: Any, output_format: str, quiet: bool, printer: Any, worst_written: bool = False
) -> None:
    """Print an evaluation's results in ``output_format`` (per-sample rows were printed as they
    came: their format's writer ends them), then its warnings and failed gates on stderr."""
    from losscli.report.render import failed_gate_lines

    if printer is not None and printer.rows is not None:
        added = printer.finish(evaluation)
    else:
        if printer is not None:  # --reduction none in a table: a head stands for the values
            evaluation = printer.with_heads(evaluation)
        added = FORMATS[output_format].evaluation(evaluation, echo, worst_written)
    if not quiet:
        for message in [*evaluation.warnings, *added]:
            warn(message)
        for line in failed_gate_lines(evaluation.results):
            warn(line, prefix="")


# --- list and describe -------------------------------------------------------------------------


@cli.command("list", context_settings=CONTEXT)
@format_option(["table", "json"], "A table, or JSON for scripts.")
def list_command(output_format: str) -> None:
    """Every loss: name, class, accepted identifiers, parameters with defaults, description."""
    from losscli.cli import render_catalogue

    if output_format == "json":
        click.echo(render_catalogue.render_list_json())
    else:
        print_table(render_catalogue.list_table)


@cli.command("describe", context_settings=CONTEXT)
@click.argument("loss", metavar="LOSS")
@format_option(["text", "json"], "Text, or JSON for scripts (the same facts).")
def describe_command(loss: str, output_format: str) -> None:
    """Formula, parameters, expected input shapes and an example for LOSS."""
    from losscli.cli import render_catalogue
    from losscli.losses.classes import lookup

    name = lookup(loss).fn.__name__
    if output_format == "json":
        click.echo(render_catalogue.render_describe_json(name))
    else:
        click.echo(render_catalogue.describe_text(name), nl=False)


# --- check -------------------------------------------------------------------------------------


@cli.command("check", context_settings=CONTEXT)
@click.argument("config", required=False, metavar="[CONFIG]")
@format_option(CHECK_FORMATS, "How to print the results on stdout.")
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
    from losscli.report.junit import write_error_report

    known: dict[str, Any] = {}
    try:
        _check(config, output_format, junit_xml, quiet, known)
    except (click.exceptions.Exit, BrokenPipeError):
        raise
    except BaseException as exc:
        # Never leave an earlier run's report standing for this one: a CI dashboard would
        # show a pass.
        if junit_xml:
            from losscli.errors import LossCliError
            from losscli.io.readers import cli_flag

            if isinstance(exc, LossCliError):
                exc.args = (exc.spelled(cli_flag), *exc.args[1:])
            write_error_report(junit_xml, known.get("name", "config"), exc, known.get("inputs"))
        raise


def _check(
    config: str | None,
    output_format: str,
    junit_xml: str | None,
    quiet: bool,
    known: dict[str, Any],
) -> None:
    """``check``'s work; ``known`` gets the config's name and the run's inputs once read."""
    from losscli.checkfile import find_config, load_config, run_checks
    from losscli.io import writers

    path = find_config(config)
    known["name"] = path.name
    checks = load_config(path)
    known["inputs"] = [*(p for c in checks for p in c.inputs.paths()), str(path)]
    report_path = None
    if junit_xml:
        report_path = writers.check_report_path(junit_xml, known["inputs"], "--junit-xml")
    stdin_hint([check.inputs for check in checks], quiet)
    run = run_checks(path, checks)
    _warn(run.warnings, quiet)
    if report_path is not None:
        _write_junit(report_path, run)
    render = FORMATS[output_format].check
    assert render is not None  # the choices are the formats that have one
    _warn(render(run, echo), quiet)
    if run.errors:
        for i, message in run.errors.items():
            error_line(f"{checks[i].name}: {one_line(message)}")
        raise click.exceptions.Exit(EXIT_USAGE)
    if not quiet:
        _check_notes(run)
    if not run.passed:
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


def _warn(messages: list[str], quiet: bool) -> None:
    if not quiet:
        for message in messages:
            warn(message)


def _write_junit(path: Any, run: Any) -> None:
    """The JUnit XML report at ``path``, atomically."""
    from pathlib import Path

    from losscli.io import writers
    from losscli.report.junit import junit_xml

    data = junit_xml(run)

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    writers.atomic_write(path, write, option="--junit-xml")


def _check_notes(run: Any) -> None:
    """After a run without errors, on stderr: the note on weights under the default
    reduction, then one line per failed gate (a slice's named after its check)."""
    from losscli.report.render import failed_gate_lines

    checks = run.checks
    if any(check.weighted_by_default for check in checks):
        from losscli.engine.input_checks import weighted_default_note

        setting = 'reduction = "mean_with_sample_weight"'
        warn(weighted_default_note(setting), prefix="Note: ")
    every = [*run.results, *(s for parts in run.slices.values() for s in parts)]
    names = [c.name for c in checks]
    names += [checks[i].name for i, parts in run.slices.items() for _ in parts]
    for line in failed_gate_lines(every, names):
        warn(line, prefix="")


def main() -> None:
    keep_freed_memory()
    cli(prog_name="losscli")
