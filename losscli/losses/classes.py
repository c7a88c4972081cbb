"""Keras 3 losses as function handles and class handles, and the registry of their names.

>>> from losscli import losses
>>> losses.mean_squared_error([[1., 1.], [1., 1.]], [[0., 0.], [0., 0.]])
array([1., 1.])
>>> float(losses.MeanSquaredError()([[1., 1.], [1., 1.]], [[0., 0.], [0., 0.]]))
1.0
>>> float(losses.MeanSquaredError(reduction="sum")([[1., 1.], [1., 1.]], [[0., 0.], [0., 0.]]))
2.0
>>> losses.get("huber")(
...     [[0.0]], [[3.0]]
... )
array([2.5])
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import numpy as np

from losscli.errors import LossCliError, LossError, SpecError, Terminated, shorten
from losscli.losses import functions as F
from losscli.losses.functions import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
    categorical_hinge,
    circle,
    cosine_similarity,
    ctc,
    dice,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
    tversky,
)
from losscli.losses.reduction import (
    align_ranks,
    reduce_losses,
    standardize_dtype,
    standardize_reduction,
)

#: The helpers; each loss's class and function handle join them below the registry.
__all__ = [
    "is_categorical_crossentropy",
    "LOSSES",
    "IDENTIFIERS",
    "Loss",
    "BatchFacts",
    "CustomLoss",
    "get",
    "lookup",
]

LossFn = Callable[..., np.ndarray]

# Expected inputs, as `losscli describe` shows them.
ELEMENTWISE = "y_true, y_pred: (N, d) (any rank); one loss per sample, averaged over the last axis"
BINARY = "y_true: 0/1 labels (N, d); y_pred: probabilities, or logits with from_logits (N, d)"
CATEGORICAL = (
    "y_true: one-hot or probability rows (N, C), or integer labels (N,) with --one-hot; "
    "y_pred: probabilities or logits (N, C)"
)
SPARSE = "y_true: integer class labels (N,); y_pred: probabilities or logits (N, C)"
# Arguments that run a loss on the shipped sample data (`losscli describe`'s example).
REGRESSION = (
    "--data sample_data/regression.csv --true-col y_true --pred-col y_pred --weight-col weight"
)
BINARY_SCORES = "--data sample_data/binary.csv --true-col label --pred-col logit"
BINARY_PROBABILITIES = "--data sample_data/binary.parquet --true-col label --pred-col prob"
ONE_HOT_ROWS = "--data sample_data/multiclass.parquet --true-col onehot --pred-col probs"
CLASS_LABELS = "--data sample_data/multiclass.parquet --true-col label --pred-col probs"
EMBEDDINGS = (
    "--y-true sample_data/embeddings.npz:labels --y-pred sample_data/embeddings.npz:embeddings"
)
SEQUENCES = "--y-true sample_data/sequences.npz:labels --y-pred sample_data/sequences.npz:logits"

#: What a loss's y_true holds; the checks for likely mistakes and --one-hot go by it.
LABEL_KINDS = ("values", "binary", "one_hot", "sparse", "masks", "sequences")
#: What a loss's y_pred holds when not logits.
PREDICTION_KINDS = ("values", "probabilities", "probability_rows")

SEGMENTATION = (
    "y_true, y_pred: masks of the same shape (N, ...); axis=None gives one loss for "
    "the whole input, axis=(1, ...) one per sample"
)


class BatchFacts(NamedTuple):
    """Decisions Keras makes over the whole batch.

    Evaluated in chunks, losscli makes them over the whole input in a first
    pass and hands them to every chunk.
    """

    #: Hinge losses map {0, 1} labels to {-1, 1} only when every label is 0 or 1.
    binary_labels: bool | None = None


class Loss:
    """A loss with its parameters and a reduction, callable like a Keras loss.

    ``loss(y_true, y_pred, sample_weight=None)`` converts both inputs to
    ``dtype`` (float64 unless asked otherwise), aligns their ranks as Keras
    does, computes per-sample losses with the function handle and reduces them
    with :func:`losscli.losses.reduction.reduce_losses`.
    """

    fn: ClassVar[LossFn]
    #: True for the losses that need BatchFacts when the input is evaluated in chunks.
    needs_facts: ClassVar[bool] = False
    #: Other identifiers: Keras 3's short names and the Keras 2 names Keras 3 dropped.
    aliases: ClassVar[tuple[str, ...]] = ()
    #: Arguments that run the loss on the shipped sample data.
    example: ClassVar[str] = ""
    #: What y_true holds (one of LABEL_KINDS) and y_pred (one of PREDICTION_KINDS).
    labels: ClassVar[str] = "values"
    predictions: ClassVar[str] = "values"
    #: Keras rescales each row of probabilities to sum to 1.
    rescales_rows: ClassVar[bool] = False
    #: The loss takes logarithms of y_true and y_pred: both should be >= 0.
    takes_logs: ClassVar[bool] = False
    #: The loss that takes integer labels in place of this one's one-hot rows.
    sparse_variant: ClassVar[str | None] = None
    #: Arguments of the function that its class does not take (Keras' ``circle`` takes
    #: reference labels and embeddings; its ``Circle`` compares the batch with itself).
    function_only: ClassVar[tuple[str, ...]] = ()
    shapes: ClassVar[str] = ELEMENTWISE
    #: Allowed values of numeric parameters, as intervals: ``"[0, 1]"``, ``"(0, inf)"``.
    ranges: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        *,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = "float64",
        **params: Any,
    ) -> None:
        self.reduction = standardize_reduction(reduction)
        self.dtype = standardize_dtype(dtype)
        self.params = self.check_params(params)

    @property
    def name(self) -> str:
        """The canonical function name, e.g. ``mean_squared_error``."""
        return self.fn.__name__

    @classmethod
    def parameters(cls) -> dict[str, inspect.Parameter]:
        """The loss's parameters (name -> ``inspect.Parameter`` with default and annotation)."""
        signature = inspect.signature(cls.fn)
        named = list(signature.parameters.items())[2:]
        return {name: p for name, p in named if name not in cls.function_only}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {name: p.default for name, p in cls.parameters().items()}

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Validate ``params`` against the loss's parameters; return them with defaults filled."""
        accepted = cls.parameters()
        checked = cls.defaults()
        for key, value in params.items():
            if key not in accepted:
                raise SpecError(
                    f"{cls.__name__} has no parameter {shorten(key)!r}; {_describe_params(cls)}"
                )
            hint = typing.get_type_hints(cls.fn)[key]
            checked[key] = _check_value(cls, key, value, hint)
        for key, interval in {"label_smoothing": "[0, 1]", **cls.ranges}.items():
            if key in checked and not _within(checked[key], interval):
                raise SpecError(
                    f"{cls.__name__}: {key}={spell_value(params.get(key, checked[key]))} is out of "
                    f"range; {key} must be in {interval}"
                )
        return checked

    def check_axis(self, ndim: int) -> None:
        """Refuse an ``axis`` outside inputs of rank ``ndim``, or one that repeats."""
        axis = self.params.get("axis")
        if axis is None or "axis" not in self.params:
            return
        axes = list(axis) if isinstance(axis, (tuple, list)) else [axis]
        for a in axes:
            if not -ndim <= a < ndim:
                raise SpecError(
                    f"{type(self).__name__}: axis={spell_value(axis)} is out of range for inputs "
                    f"of rank {ndim} (axes {-ndim} to {ndim - 1})"
                )
        if len({a % ndim for a in axes}) != len(axes):
            raise SpecError(f"{type(self).__name__}: axis={spell_value(axis)} repeats an axis")

    def call(
        self, y_true: np.ndarray, y_pred: np.ndarray, facts: BatchFacts | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-sample losses and an optional mask of the entries that count."""
        return self.fn(y_true, y_pred, **self.params), None

    def per_sample(
        self, y_true: Any, y_pred: Any, facts: BatchFacts | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Unweighted per-sample losses and mask, inputs converted to ``dtype``, ranks aligned."""
        y_true = np.asarray(y_true, dtype=self.dtype)
        y_pred = np.asarray(y_pred, dtype=self.dtype)
        return self.call(*align_ranks(y_true, y_pred), facts=facts)

    def streams(self, ndim: int) -> bool:
        """True when each sample's loss depends on that sample only, so chunks can be evaluated
        one by one; False for the losses over the whole input (Circle's pairs, an ``axis``
        that includes the sample axis: ``bce(axis=0)``, Dice with ``axis=None``)."""
        return "axis" not in self.params or not _sums_over_samples(self.params["axis"], ndim)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        values, mask = self.per_sample(y_true, y_pred)
        return reduce_losses(values, sample_weight, mask, self.reduction)

    def get_config(self) -> dict[str, Any]:
        """Every parameter (Keras 3.15.1 drops some, #23286), plus name and reduction."""
        return {"name": self.name, "reduction": self.reduction, **self.params}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        config = {k: v for k, v in config.items() if k != "name"}
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        sep = ", " if args else ""
        return f"{type(self).__name__}({args}{sep}reduction={self.reduction!r})"

    @classmethod
    def description(cls) -> str:
        """One line: what the loss is."""
        return (cls.__doc__ or "").strip().splitlines()[0]

    @classmethod
    def formula(cls) -> str:
        return inspect.getdoc(cls.fn) or ""


def _within(value: Any, interval: str) -> bool:
    """``value`` (or every item of a list) in an interval written ``[0, 1]``, ``(0, inf)``."""
    if isinstance(value, (list, tuple)):
        return all(_within(v, interval) for v in value)
    if value is None or isinstance(value, bool):
        return True
    low_text, high_text = interval[1:-1].split(",")
    low, high = float(low_text), float(high_text)
    above = value >= low if interval[0] == "[" else value > low
    below = value <= high if interval[-1] == "]" else value < high
    return bool(above and below)


def spell_value(value: Any) -> str:
    """A value as the user writes it in a spec: ``true``, ``null``, ``(1, 2)``, ``[0.25]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return (
            "(" + ", ".join(spell_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
        )
    if isinstance(value, list):
        return "[" + ", ".join(spell_value(v) for v in value) + "]"
    return repr(value)


def _describe_params(cls: type[Loss]) -> str:
    params = cls.parameters()
    if not params:
        return "it takes no parameters"
    listed = ", ".join(f"{name}={spell_value(p.default)}" for name, p in params.items())
    return f"its parameters are {listed}"


def _check_value(cls: type[Loss], key: str, value: Any, hint: Any) -> Any:
    """Return ``value`` converted to the parameter's type, or raise ``SpecError``."""
    converted = _convert(value, hint)
    if converted is _INVALID:
        raise SpecError(
            f"{cls.__name__}: {key}={spell_value(value)} is not {_type_name(hint)}; "
            f"{_describe_params(cls)}"
        )
    if isinstance(converted, float) and not math.isfinite(converted):
        raise SpecError(f"{cls.__name__}: {key}={spell_value(value)} is not a finite number")
    return converted


_INVALID = object()


def _convert(value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` names (a union: the first of its types that takes it),
    or ``_INVALID``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            converted = _convert(value, option)
            if converted is not _INVALID:
                return converted
        return _INVALID
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        items = [_convert(v, typing.get_args(hint)[0]) for v in value]
        if not items or any(v is _INVALID for v in items):
            return _INVALID
        return origin(items)
    return _INVALID


def _number(value: Any, kinds: tuple[type, ...]) -> bool:
    """``value`` is one of ``kinds`` and not a bool (which Python counts as an int)."""
    return isinstance(value, kinds) and not isinstance(value, bool)


#: How a value becomes each scalar type a parameter may have.
_SCALARS: dict[Any, Callable[[Any], Any]] = {
    type(None): lambda v: None if v is None else _INVALID,
    bool: lambda v: v if isinstance(v, bool) else _INVALID,
    int: lambda v: int(v) if _number(v, (int, np.integer)) else _INVALID,
    float: lambda v: float(v) if _number(v, (int, float, np.number)) else _INVALID,
}


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is tuple:
        return "a tuple of integers"
    if origin is list:
        return "a list of numbers"
    return {bool: "true/false", int: "an integer", float: "a number"}[hint]


# --- the losses ---------------------------------------------------------------
# Each class is its function plus a one-line description; the registry below
# lists them. Adding a loss: a function in functions.py, a class here, its
# entry in LOSSES.


class MeanSquaredError(Loss):
    """Mean squared error: the average of (y_true - y_pred)**2."""

    fn = staticmethod(mean_squared_error)
    aliases = ("mse", "MSE")
    example = REGRESSION


class MeanAbsoluteError(Loss):
    """Mean absolute error: the average of |y_true - y_pred|."""

    fn = staticmethod(mean_absolute_error)
    aliases = ("mae", "MAE")
    example = REGRESSION


class MeanAbsolutePercentageError(Loss):
    """Mean absolute percentage error: 100 * |y_true - y_pred| / |y_true|."""

    fn = staticmethod(mean_absolute_percentage_error)
    aliases = ("mape", "MAPE")
    example = REGRESSION


class MeanSquaredLogarithmicError(Loss):
    """Mean squared logarithmic error: squared difference of log(1 + y)."""

    fn = staticmethod(mean_squared_logarithmic_error)
    aliases = ("msle", "MSLE")
    example = REGRESSION
    takes_logs = True


class CosineSimilarity(Loss):
    """Negative cosine similarity between y_true and y_pred (-1 is best)."""

    fn = staticmethod(cosine_similarity)
    aliases = ("cosine_proximity",)
    example = ONE_HOT_ROWS


class Huber(Loss):
    """Huber loss: quadratic for errors up to delta, linear beyond."""

    fn = staticmethod(huber)
    aliases = ("huber_loss",)
    example = REGRESSION
    ranges = {"delta": "(0, inf)"}


class LogCosh(Loss):
    """Logarithm of the hyperbolic cosine of the prediction error."""

    fn = staticmethod(log_cosh)
    aliases = ("logcosh",)
    example = REGRESSION


class Hinge(Loss):
    """Hinge loss for labels in {-1, 1} (or {0, 1})."""

    fn = staticmethod(hinge)
    example = BINARY_SCORES
    needs_facts = True

    def call(
        self, y_true: np.ndarray, y_pred: np.ndarray, facts: BatchFacts | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        binary = facts.binary_labels if facts else None
        return F.mean_last_axis(F.hinge_margins(y_true, y_pred, binary)), None


class SquaredHinge(Loss):
    """Squared hinge loss for labels in {-1, 1} (or {0, 1})."""

    fn = staticmethod(squared_hinge)
    example = BINARY_SCORES
    needs_facts = True

    def call(
        self, y_true: np.ndarray, y_pred: np.ndarray, facts: BatchFacts | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        binary = facts.binary_labels if facts else None
        return F.mean_last_axis(np.square(F.hinge_margins(y_true, y_pred, binary))), None


class CategoricalHinge(Loss):
    """Categorical hinge loss for one-hot labels."""

    fn = staticmethod(categorical_hinge)
    example = ONE_HOT_ROWS
    labels = "one_hot"
    shapes = CATEGORICAL


class KLDivergence(Loss):
    """Kullback-Leibler divergence from y_pred to y_true."""

    fn = staticmethod(kl_divergence)
    aliases = ("kld", "KLD", "kullback_leibler_divergence")
    example = ONE_HOT_ROWS
    labels = "one_hot"
    predictions = "probability_rows"
    shapes = CATEGORICAL


class Poisson(Loss):
    """Poisson loss: y_pred - y_true * log(y_pred), for count data."""

    fn = staticmethod(poisson)
    example = REGRESSION
    takes_logs = True


class BinaryCrossentropy(Loss):
    """Binary crossentropy (log loss) for 0/1 labels."""

    fn = staticmethod(binary_crossentropy)
    aliases = ("bce", "BCE")
    example = BINARY_PROBABILITIES
    labels = "binary"
    predictions = "probabilities"
    shapes = BINARY


class BinaryFocalCrossentropy(Loss):
    """Binary focal crossentropy: log loss down-weighted on easy examples."""

    fn = staticmethod(binary_focal_crossentropy)
    example = BINARY_PROBABILITIES
    labels = "binary"
    predictions = "probabilities"
    ranges = {"alpha": "[0, 1]", "gamma": "[0, inf)"}
    shapes = BINARY


class CategoricalCrossentropy(Loss):
    """Categorical crossentropy for one-hot (or probability) labels."""

    fn = staticmethod(categorical_crossentropy)
    example = ONE_HOT_ROWS
    labels = "one_hot"
    predictions = "probability_rows"
    sparse_variant = "sparse_categorical_crossentropy"
    rescales_rows = True
    shapes = CATEGORICAL


class CategoricalFocalCrossentropy(Loss):
    """Categorical focal crossentropy: crossentropy down-weighted on easy examples."""

    fn = staticmethod(categorical_focal_crossentropy)
    example = ONE_HOT_ROWS
    labels = "one_hot"
    predictions = "probability_rows"
    rescales_rows = True
    ranges = {"alpha": "[0, 1]", "gamma": "[0, inf)"}
    shapes = CATEGORICAL


class SparseCategoricalCrossentropy(Loss):
    """Categorical crossentropy for integer class labels."""

    fn = staticmethod(sparse_categorical_crossentropy)
    example = CLASS_LABELS
    labels = "sparse"
    predictions = "probability_rows"
    rescales_rows = True
    shapes = SPARSE

    def call(
        self, y_true: np.ndarray, y_pred: np.ndarray, facts: BatchFacts | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return F.sparse_categorical_crossentropy_with_mask(y_true, y_pred, **self.params)


class CategoricalGeneralizedCrossEntropy(Loss):
    """Generalized crossentropy (Zhang & Sabuncu, 2018), robust to noisy integer labels."""

    fn = staticmethod(categorical_generalized_cross_entropy)
    example = CLASS_LABELS
    labels = "sparse"
    predictions = "probability_rows"
    shapes = SPARSE

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        checked = super().check_params(params)
        if not 0 < checked["q"] < 1:
            raise SpecError(f"{cls.__name__}: q must be in the interval (0, 1), got {checked['q']}")
        return checked


def _sums_over_samples(axis: Any, ndim: int) -> bool:
    """True when a reduction over ``axis`` includes the sample axis 0."""
    if axis is None:
        return True
    axes = axis if isinstance(axis, tuple) else (axis,)
    return any(a % ndim == 0 for a in axes)


class Dice(Loss):
    """Dice loss: 1 - the Dice coefficient of y_true and y_pred."""

    fn = staticmethod(dice)
    example = BINARY_PROBABILITIES
    labels = "masks"
    shapes = SEGMENTATION


class Tversky(Loss):
    """Tversky loss: Dice with separate weights for false positives and negatives."""

    fn = staticmethod(tversky)
    example = BINARY_PROBABILITIES
    labels = "masks"
    shapes = SEGMENTATION


class Circle(Loss):
    """Circle loss for metric learning over every pair of embeddings in the input."""

    fn = staticmethod(circle)
    example = EMBEDDINGS
    labels = "sparse"
    function_only = ("ref_labels", "ref_embeddings")
    shapes = "y_true: integer labels (N,); y_pred: L2-normalised embeddings (N, D)"

    def call(
        self, y_true: np.ndarray, y_pred: np.ndarray, facts: BatchFacts | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return F.circle_with_mask(y_true, y_pred, **self.params)

    def streams(self, ndim: int) -> bool:
        return False


class CTC(Loss):
    """Connectionist temporal classification loss for label sequences."""

    fn = staticmethod(ctc)
    example = SEQUENCES
    labels = "sequences"
    shapes = "y_true: labels (N, L), 0-padded (0 is the blank); y_pred: logits (N, T, C)"


class CustomLoss(Loss):
    """A user function ``fn(y_true, y_pred) -> per-sample losses``, reduced like a built-in."""

    def __init__(
        self,
        fn: LossFn,
        *,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = "float64",
        name: str | None = None,
    ) -> None:
        self.custom_fn = fn
        self.custom_name = name or str(getattr(fn, "__name__", "custom"))
        super().__init__(reduction=reduction, dtype=dtype)

    @property
    def name(self) -> str:
        return self.custom_name

    @classmethod
    def parameters(cls) -> dict[str, inspect.Parameter]:
        return {}

    def call(
        self, y_true: np.ndarray, y_pred: np.ndarray, facts: BatchFacts | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            result = self.custom_fn(y_true, y_pred)
        except (LossCliError, KeyboardInterrupt, Terminated):
            raise
        except BaseException as exc:  # SystemExit too: user code never ends the run
            raise LossError(
                f"custom loss {self.name!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        values = np.asarray(result)
        if values.dtype.kind not in "iuf":
            raise LossError(
                f"custom loss {self.name!r} must return numbers (one loss per sample), "
                f"got {type(result).__name__} of dtype {values.dtype}"
            )
        if values.ndim == 0 or len(values) != len(y_pred):
            got = "a single number" if values.ndim == 0 else f"shape {values.shape}"
            # Evaluated in chunks, anything but one value per sample would depend on the chunking.
            raise LossError(
                f"custom loss {self.name!r} must return one loss per sample ({len(y_pred)} "
                f"values for {len(y_pred)} samples), got {got}"
            )
        return values.astype(self.dtype, copy=False), None


# --- the registry -------------------------------------------------------------


def _builtin_losses() -> dict[str, type[Loss]]:
    """Every loss class of this module, in the order they are defined (Keras' documentation
    order), under its function's name: the registry is the classes themselves."""
    found = [cls for cls in Loss.__subclasses__() if cls.__module__ == __name__]
    return {cls.fn.__name__: cls for cls in found if cls is not CustomLoss}


#: Canonical function name -> loss class.
LOSSES: dict[str, type[Loss]] = _builtin_losses()

__all__ += [cls.__name__ for cls in LOSSES.values()] + list(LOSSES)

#: Keras 3 short aliases and the Keras 2 names that Keras 3 dropped.
ALIASES: dict[str, str] = {alias: name for name, cls in LOSSES.items() for alias in cls.aliases}

#: Every accepted identifier -> canonical function name.
IDENTIFIERS: dict[str, str] = {
    **{name: name for name in LOSSES},
    **{cls.__name__: name for name, cls in LOSSES.items()},
    **ALIASES,
}


def _fold(identifier: str) -> str:
    return identifier.replace("_", "").replace("-", "").lower()


_FOLDED: dict[str, str] = {_fold(ident): name for ident, name in IDENTIFIERS.items()}
_FOLDED_IDENTIFIER: dict[str, str] = {}
for _ident in IDENTIFIERS:
    _FOLDED_IDENTIFIER.setdefault(_fold(_ident), _ident)


def identifiers_of(name: str) -> list[str]:
    """Every identifier accepted for the loss whose canonical name is ``name``."""
    return [ident for ident, target in IDENTIFIERS.items() if target == name]


#: Names other libraries give a loss (scikit-learn, PyTorch, TensorFlow 1), with the Keras
#: specs that compute it: suggested in the did-you-mean line, never accepted in their place.
ELSEWHERE: dict[str, tuple[str, ...]] = {
    "log_loss": ("binary_crossentropy", "categorical_crossentropy"),
    "cross_entropy": (
        "sparse_categorical_crossentropy(from_logits=true)",
        "categorical_crossentropy(from_logits=true)",
    ),
    "binary_cross_entropy_with_logits": ("binary_crossentropy(from_logits=true)",),
    "bce_with_logits": ("binary_crossentropy(from_logits=true)",),
    "sigmoid_cross_entropy": ("binary_crossentropy(from_logits=true)",),
    "sigmoid_cross_entropy_with_logits": ("binary_crossentropy(from_logits=true)",),
    "softmax_cross_entropy": ("categorical_crossentropy(from_logits=true)",),
    "softmax_cross_entropy_with_logits": ("categorical_crossentropy(from_logits=true)",),
    "sparse_softmax_cross_entropy": ("sparse_categorical_crossentropy(from_logits=true)",),
    "sparse_softmax_cross_entropy_with_logits": (
        "sparse_categorical_crossentropy(from_logits=true)",
    ),
    "scce": ("sparse_categorical_crossentropy",),
    "cce": ("categorical_crossentropy",),
    "nll_loss": ("sparse_categorical_crossentropy",),
    "nll": ("sparse_categorical_crossentropy",),
    "l1": ("mean_absolute_error",),
    "l1_loss": ("mean_absolute_error",),
    "absolute_difference": ("mean_absolute_error",),
    "l2": ("mean_squared_error",),
    "l2_loss": ("mean_squared_error",),
    "mse_loss": ("mean_squared_error",),
    "smooth_l1": ("huber",),
    "smooth_l1_loss": ("huber",),
    "mean_squared_log_error": ("mean_squared_logarithmic_error",),
    "kl_div": ("kl_divergence",),
    "hinge_loss": ("hinge",),
    "hinge_embedding_loss": ("hinge",),
    "multi_margin_loss": ("categorical_hinge",),
    "cosine_embedding_loss": ("cosine_similarity",),
    "poisson_nll_loss": ("poisson",),
    "ctc_loss": ("ctc",),
    "focal_loss": ("binary_focal_crossentropy", "categorical_focal_crossentropy"),
    "sigmoid_focal_loss": ("binary_focal_crossentropy(from_logits=true)",),
    "dice_loss": ("dice",),
    "tversky_loss": ("tversky",),
}
_ELSEWHERE_FOLDED = {_fold(name): specs for name, specs in ELSEWHERE.items()}


def lookup(identifier: str) -> type[Loss]:
    """The loss class for an identifier: exact first, then ignoring case and underscores."""
    name = IDENTIFIERS.get(identifier) or _FOLDED.get(_fold(identifier))
    if name is None:
        raise SpecError(
            f"unknown loss {shorten(identifier)!r}{_did_you_mean(identifier)} "
            "(`losscli list` shows them all)"
        )
    return LOSSES[name]


def _did_you_mean(identifier: str) -> str:
    """Up to three suggestions, each loss once: other libraries' names by meaning, then
    Keras identifiers that look alike."""
    import difflib

    close = list(_ELSEWHERE_FOLDED.get(_fold(identifier), ()))
    close += difflib.get_close_matches(identifier, list(IDENTIFIERS), n=3, cutoff=0.6)
    close += [
        _FOLDED_IDENTIFIER[folded]
        for folded in difflib.get_close_matches(_fold(identifier), list(_FOLDED), n=3)
    ]
    seen: dict[str, str] = {}  # canonical name -> the spelling suggested
    for suggestion in close:
        seen.setdefault(IDENTIFIERS[suggestion.split("(")[0]], suggestion)
    suggestions = list(seen.values())[:3]
    return f"; did you mean {', '.join(suggestions)}?" if suggestions else ""


def get(identifier: Any) -> Any:
    """Resolve a loss like ``keras.losses.get``.

    - a class name (``"MeanSquaredError"``) gives an instance with default config;
    - any other name (``"mse"``, ``"mean_squared_error"``) gives the function;
    - ``{"class_name": ..., "config": {...}}`` gives a configured instance;
    - a callable is returned as it is (a class is instantiated); ``None`` gives ``None``.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise SpecError("a loss dict needs a 'class_name' key (and optionally 'config')")
        cls = lookup(str(identifier["class_name"]))
        config = identifier.get("config") or {}
        if not isinstance(config, dict):
            raise SpecError("a loss dict's 'config' must be a dict of parameters")
        return cls.from_config(config)
    if isinstance(identifier, str):
        cls = lookup(identifier)
        if identifier == cls.__name__ or _fold(identifier) == _fold(cls.__name__) != _fold(
            cls.fn.__name__
        ):
            return cls()
        return cls.fn
    if callable(identifier):
        return identifier() if inspect.isclass(identifier) else identifier
    raise SpecError(f"could not interpret loss identifier {identifier!r}")


def is_categorical_crossentropy(loss: Any) -> bool:
    """True for categorical crossentropy in any form Keras 2's helper knew: the class, an
    instance, the function, or an identifier of it (``"categorical_crossentropy"``,
    ``"CategoricalCrossentropy"``, case and underscores aside)."""
    if isinstance(loss, str):
        name = IDENTIFIERS.get(loss) or _FOLDED.get(_fold(loss))
        return name == "categorical_crossentropy"
    if inspect.isclass(loss):
        return issubclass(loss, CategoricalCrossentropy)
    if isinstance(loss, CategoricalCrossentropy):
        return True
    return loss is categorical_crossentropy
