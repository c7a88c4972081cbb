"""The option sets the commands share (inputs, loss parameters) and their parsing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

REDUCTION_CHOICES = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class InputFormats(click.Choice[str]):
    """``--input-format``'s choices: the readers' formats (``readers.READERS``), looked up when
    first needed, so that ``losscli --help`` imports no numpy."""

    def __init__(self) -> None:
        super().__init__((), case_sensitive=False)

    @property
    def choices(self) -> tuple[str, ...]:
        from losscli.io.readers import READERS

        return tuple(READERS)

    @choices.setter
    def choices(self, value: Any) -> None:
        """Set by click's constructor: the readers decide."""


def _applied(options: list[Callable[[Any], Any]], fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with ``options`` applied as decorators, the first listed shown first."""
    for option in reversed(options):
        fn = option(fn)
    return fn


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
            type=InputFormats(),
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
    return _applied(options, fn)


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
    return _applied(options, fn)


def collect_loss_options(
    from_logits: bool | None,
    label_smoothing: float | None,
    axis: str | None,
    params: tuple[str, ...],
) -> dict[str, Any]:
    from losscli.errors import SpecError
    from losscli.losses.spec import parse_value

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


def analysis_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What to find besides each loss's value: worst samples, distribution, slices,
    intervals."""
    options = [
        click.option(
            "--worst",
            type=click.IntRange(1, 100_000),
            metavar="K",
            help="Also list the K samples with the largest weighted loss (row, y_true, y_pred, "
            "weight).",
        ),
        click.option(
            "--worst-per-slice",
            is_flag=True,
            help="With --worst K and --group-by: the K worst samples of every slice too.",
        ),
        click.option(
            "--histogram",
            "bins",
            type=click.IntRange(1, 1000),
            is_flag=False,
            flag_value=30,
            metavar="[BINS]",
            help="Also show the per-sample losses' distribution: quantiles and BINS bins (30).",
        ),
        click.option(
            "--group-by",
            multiple=True,
            metavar="COL",
            help="Also evaluate each slice of the input: rows with the same values of COL "
            "(repeatable) of --data.",
        ),
        click.option(
            "--groups",
            metavar="PATH",
            help="A table (CSV or Parquet) of the --group-by columns, row for row with --y-true "
            "and --y-pred.",
        ),
        click.option(
            "--min-slice-size",
            type=click.IntRange(1),
            default=1,
            show_default=True,
            metavar="N",
            help="Slices of fewer samples get no value (null) and a warning.",
        ),
        click.option(
            "--max-slices",
            type=click.IntRange(1),
            default=1000,
            show_default=True,
            metavar="N",
            help="More slices than N is an error.",
        ),
        click.option(
            "--ci",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            is_flag=False,
            flag_value=0.95,
            metavar="[LEVEL]",
            help="Also give each value a confidence interval at LEVEL (0.95): a percentile "
            "Poisson bootstrap over row buckets.",
        ),
        click.option(
            "--bootstrap",
            type=click.IntRange(1, 100_000),  # resample.MAX_RESAMPLES, without numpy for --help
            metavar="B",
            help="Resamples for --ci (default 1000, at most 100000: about 4 KiB of memory each).",
        ),
        click.option(
            "--seed",
            type=click.IntRange(0, 2**63 - 1),
            metavar="S",
            help="Seed of --ci's resampling (default 0): the same seed, the same interval.",
        ),
        click.option(
            "--plot",
            metavar="PATH",
            help="Draw the distribution (and each slice's value with its interval) to PATH "
            "(.png or .svg: losscli[plot]; .html needs nothing).",
        ),
        click.option(
            "--plot-scale",
            type=click.Choice(["linear", "log", "auto"]),
            default="auto",
            show_default=True,
            help="The value axis of --plot (and its bins): auto is log when p99 >= 10 * p50.",
        ),
    ]
    return _applied(options, fn)


def gate_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Quality gates: bounds on each loss and its slices, and on its increase over a
    baseline."""
    options = [
        click.option(
            "--max",
            "max_bounds",
            multiple=True,
            metavar="[LOSS=]X",
            help="Gate: exit 1 when the loss is above X (every loss; LOSS=X: one). Repeatable.",
        ),
        click.option(
            "--min",
            "min_bounds",
            multiple=True,
            metavar="[LOSS=]X",
            help="Gate: exit 1 when the loss is below X (every loss; LOSS=X: one). Repeatable.",
        ),
        click.option(
            "--slice-max",
            "slice_max",
            multiple=True,
            metavar="[LOSS=]X",
            help="Gate: exit 1 when the loss of any slice is above X (with --group-by).",
        ),
        click.option(
            "--slice-min",
            "slice_min",
            multiple=True,
            metavar="[LOSS=]X",
            help="Gate: exit 1 when the loss of any slice is below X (with --group-by).",
        ),
        click.option(
            "--baseline-pred",
            metavar="PATH",
            help="A previous model's predictions: evaluated against the same labels and weights.",
        ),
        click.option(
            "--baseline-col",
            multiple=True,
            metavar="NAME",
            help="The baseline's prediction column(s): of --baseline-pred, or without it of the "
            "table of the predictions (y_true, y_pred, y_pred_old). Repeatable, globs allowed.",
        ),
        click.option(
            "--max-increase",
            "max_increase",
            multiple=True,
            metavar="[LOSS=]X[%]",
            help="Gate: exit 1 when the loss exceeds the baseline by more than X, or X percent.",
        ),
        click.option(
            "--significance",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            metavar="A",
            help="--max-increase fails only when the increase's 1-A interval lies above X: "
            "noise alone does not fail it. Implies --ci.",
        ),
        click.option(
            "--non-inferiority",
            is_flag=True,
            help="--max-increase fails unless the increase's interval lies within X (the "
            "strict form). Implies --ci.",
        ),
    ]
    return _applied(options, fn)
