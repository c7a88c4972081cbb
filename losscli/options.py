"""The option sets the commands share (inputs, loss parameters) and their parsing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

FORMATS = ("table", "json", "csv", "value", "markdown")
REDUCTION_CHOICES = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


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
