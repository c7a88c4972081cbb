"""The loss functions: pure numpy, ``(y_true, y_pred, **params) -> per-sample losses``.

Each function follows the Keras 3 function of the same name (no reduction; the
last axis, or the class axis, is averaged or summed away) and aligns the ranks
of its inputs as Keras' loss classes do. The defaults are the defaults of the
Keras classes. ``EPSILON`` is Keras' fuzz factor: probabilities are clipped to
``[EPSILON, 1 - EPSILON]`` wherever Keras clips them. With ``from_logits`` the
log-probabilities come from stable log-sigmoid / log-softmax forms, so large
logits give exact, unsaturated losses.

The two losses that mask entries out of the reduction (sparse categorical
crossentropy with ``ignore_class``, and Circle) also exist as ``*_with_mask``
variants that return ``(losses, mask)``; the loss classes use those.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from losscli.errors import InputError, RowError
from losscli.losses.reduction import align_ranks

EPSILON = 1e-7

Axis = int | tuple[int, ...] | None


# --- numerics -------------------------------------------------------------


def _as_float(values: Any) -> np.ndarray:
    """An array of floats: a float array as it is, anything else as float64."""
    values = np.asarray(values)
    return values if np.issubdtype(values.dtype, np.floating) else values.astype(np.float64)


def _floats(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as floating arrays of ``y_pred``'s float dtype, ranks aligned."""
    y_pred = _as_float(y_pred)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    return align_ranks(y_true, y_pred)


def mean_last_axis(x: np.ndarray) -> np.ndarray:
    """``mean(x, axis=-1)``; a last axis of one value is that value, without a copy."""
    return x[..., 0] if x.shape and x.shape[-1] == 1 else np.mean(x, axis=-1)


def _mean(x: np.ndarray, axis: int) -> np.ndarray:
    """``mean(x, axis)``; an axis of one value gives that value, without a copy."""
    if x.ndim and x.shape[axis] == 1:
        return np.squeeze(x, axis=axis)
    return np.mean(x, axis=axis)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow."""
    return np.logaddexp(x.dtype.type(0.0), x)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _clip_probabilities(p: np.ndarray) -> np.ndarray:
    return np.clip(p, EPSILON, 1.0 - EPSILON)


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """logsumexp that gives -inf (not NaN) for an all -inf slice."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - top), axis=axis)) + np.squeeze(top, axis=axis)


def _class_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise InputError(f"axis {axis} is out of range for inputs of rank {ndim}")
    return axis % ndim


def _smooth_categorical(y_true: np.ndarray, label_smoothing: float, n_classes: int) -> np.ndarray:
    # Divide by the number of classes along the class axis (Keras #23437).
    return y_true * (1.0 - label_smoothing) + label_smoothing / n_classes


def _same_shape(y_true: np.ndarray, y_pred: np.ndarray, what: str) -> None:
    if y_true.shape != y_pred.shape:
        raise InputError(
            f"{what}: y_true and y_pred must have the same shape, got {y_true.shape} "
            f"and {y_pred.shape}"
        )


def _warn_one_class(what: str, shape: tuple[int, ...], axis: int) -> None:
    """Keras' SyntaxWarning for one class on the class axis: every loss would be 0."""
    if shape[axis] == 1:
        import warnings

        warnings.warn(
            f"In loss {what}, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={shape}. Consider using "
            "'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=3,
        )


def _integer_labels(labels: np.ndarray, n_classes: int | None, skip: Any = None) -> np.ndarray:
    """Check that labels are whole numbers (in ``[0, n_classes)`` when given)."""
    labels = np.asarray(labels)
    ignored = labels == skip if skip is not None else np.zeros(labels.shape, dtype=bool)
    whole = np.isfinite(labels) & (labels == np.round(labels)) | ignored
    if not whole.all():
        raise RowError(
            f"class labels must be whole numbers; row {{row}} has {labels[~whole].flat[0]}",
            _first_row(~whole),
        )
    if n_classes is not None:
        out = ((labels < 0) | (labels >= n_classes)) & ~ignored
        if out.any():
            raise RowError(
                f"class label {labels[out].flat[0]:g} at row {{row}} is out of range: "
                f"y_pred has {n_classes} classes, so labels must be 0..{n_classes - 1}",
                _first_row(out),
            )
    return np.where(ignored, 0, labels).astype(np.intp)


def _first_row(bad: np.ndarray) -> int:
    return int(np.argwhere(bad)[0][0]) if bad.ndim else 0


# --- regression -------------------------------------------------------------


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean((y_true - y_pred)**2, axis=-1)``.

    >>> mean_squared_error([[0., 1.], [0., 0.]], [[1., 1.], [1., 0.]])
    array([0.5, 0.5])
    """
    y_true, y_pred = _floats(y_true, y_pred)
    return mean_last_axis(np.square(y_true - y_pred))


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _floats(y_true, y_pred)
    return mean_last_axis(np.abs(y_true - y_pred))


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)``."""
    y_true, y_pred = _floats(y_true, y_pred)
    diff = np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), EPSILON))
    return 100.0 * mean_last_axis(diff)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))**2, axis=-1)``."""
    y_true, y_pred = _floats(y_true, y_pred)
    first = np.log1p(np.maximum(y_pred, EPSILON))
    second = np.log1p(np.maximum(y_true, EPSILON))
    return mean_last_axis(np.square(first - second))


def _l2_normalize(x: np.ndarray, axis: Axis) -> np.ndarray:
    # x / max(||x||, eps), as keras.ops.normalize.
    square_sum = np.sum(np.square(x), axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        inv_norm = np.minimum(1.0 / np.sqrt(square_sum), 1.0 / EPSILON)
    return x * inv_norm


def cosine_similarity(y_true: Any, y_pred: Any, axis: Axis = -1) -> np.ndarray:
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 is best."""
    y_true, y_pred = _floats(y_true, y_pred)
    return -np.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    """``mean(0.5 * e**2 if |e| <= delta else delta * |e| - 0.5 * delta**2, axis=-1)``."""
    y_true, y_pred = _floats(y_true, y_pred)
    error = y_pred - y_true
    abs_error = np.abs(error)
    quadratic = 0.5 * np.square(error)
    linear = delta * abs_error - 0.5 * delta**2
    return mean_last_axis(np.where(abs_error <= delta, quadratic, linear))


def log_cosh(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without overflow."""
    y_true, y_pred = _floats(y_true, y_pred)
    x = y_pred - y_true
    return mean_last_axis(x + _softplus(-2.0 * x) - x.dtype.type(np.log(2.0)))


# --- hinge ---------------------------------------------------------------------


def labels_are_binary(y_true: np.ndarray) -> bool:
    """True when every label is 0 or 1 (Keras then maps them to -1 and 1 for hinge losses)."""
    return bool(np.all((y_true == 0) | (y_true == 1)))


def hinge_margins(y_true: Any, y_pred: Any, binary: bool | None = None) -> np.ndarray:
    """``max(1 - y_true * y_pred, 0)`` per entry, {0, 1} labels mapped to {-1, 1}.

    Keras decides the mapping over the whole batch; ``binary`` gives that
    decision when the input is evaluated in chunks (None: decide on ``y_true``).
    """
    y_true, y_pred = _floats(y_true, y_pred)
    if binary is None:
        binary = labels_are_binary(y_true)
    signed = 2.0 * y_true - 1.0 if binary else y_true
    return np.maximum(1.0 - signed * y_pred, 0.0)


def hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``; labels in {-1, 1} or {0, 1}."""
    return mean_last_axis(hinge_margins(y_true, y_pred))


def squared_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(max(1 - y_true * y_pred, 0)**2, axis=-1)``; labels in {-1, 1} or {0, 1}."""
    return mean_last_axis(np.square(hinge_margins(y_true, y_pred)))


def categorical_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` over the last axis."""
    y_true, y_pred = _floats(y_true, y_pred)
    pos = np.sum(y_true * y_pred, axis=-1)
    neg = np.max((1.0 - y_true) * y_pred, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


# --- probabilistic -----------------------------------------------------------------


def kl_divergence(y_true: Any, y_pred: Any) -> np.ndarray:
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[eps, 1]``."""
    y_true, y_pred = _floats(y_true, y_pred)
    y_true = np.clip(y_true, EPSILON, 1.0)
    y_pred = np.clip(y_pred, EPSILON, 1.0)
    return np.sum(y_true * np.log(y_true / y_pred), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``."""
    y_true, y_pred = _floats(y_true, y_pred)
    return mean_last_axis(y_pred - y_true * np.log(y_pred + EPSILON))


def _binary_crossentropy_elements(
    y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool
) -> np.ndarray:
    if from_logits:
        # -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)) = softplus(x) - z x
        return _softplus(y_pred) - y_true * y_pred
    # -(y log p + (1 - y) log(1 - p)), p clipped, computed in place: three temporaries, not eight.
    p = _clip_probabilities(y_pred)
    terms = np.log(p)
    np.multiply(terms, y_true, out=terms)
    np.subtract(1.0, p, out=p)
    np.log(p, out=p)
    np.multiply(p, 1.0 - y_true, out=p)
    np.add(terms, p, out=terms)
    return np.negative(terms, out=terms)


def _smooth_binary(y_true: np.ndarray, label_smoothing: float) -> np.ndarray:
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else y_true


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> np.ndarray:
    """``mean(-(y log p + (1 - y) log(1 - p)), axis)``, ``p`` clipped to ``[eps, 1 - eps]``.

    With ``from_logits`` it is ``softplus(x) - y x``, exact for any logit.
    ``label_smoothing`` s replaces y by ``y (1 - s) + s / 2``.
    """
    y_true, y_pred = _floats(y_true, y_pred)
    _same_shape(y_true, y_pred, "binary_crossentropy")
    y_true = _smooth_binary(y_true, label_smoothing)
    return _mean(_binary_crossentropy_elements(y_true, y_pred, from_logits), axis)


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> np.ndarray:
    """``mean(w * (1 - p_t)**gamma * bce, axis)`` with ``p_t = y p + (1 - y)(1 - p)``.

    ``w = y alpha + (1 - y)(1 - alpha)`` when ``apply_class_balancing``, else 1.
    """
    y_true, y_pred = _floats(y_true, y_pred)
    _same_shape(y_true, y_pred, "binary_focal_crossentropy")
    y_true = _smooth_binary(y_true, label_smoothing)
    bce = _binary_crossentropy_elements(y_true, y_pred, from_logits)
    p = 0.5 * (1.0 + np.tanh(0.5 * y_pred)) if from_logits else y_pred  # sigmoid
    p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
    focal = np.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return _mean(focal, axis)


def _categorical_log_probabilities(y_pred: np.ndarray, from_logits: bool, axis: int) -> np.ndarray:
    if from_logits:
        return _log_softmax(y_pred, axis)
    p = y_pred / np.sum(y_pred, axis=axis, keepdims=True)
    return np.log(_clip_probabilities(p))


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> np.ndarray:
    """``-sum(y_true * log(p), axis)``, rows of ``y_pred`` rescaled to sum to 1 and clipped.

    With ``from_logits``, ``log(p)`` is ``log_softmax(y_pred)``. ``label_smoothing``
    s replaces y by ``y (1 - s) + s / n_classes``.
    """
    y_true, y_pred = _floats(y_true, y_pred)
    _same_shape(y_true, y_pred, "categorical_crossentropy")
    axis = _class_axis(axis, y_pred.ndim)
    _warn_one_class("categorical_crossentropy", y_pred.shape, axis)
    if label_smoothing:
        y_true = _smooth_categorical(y_true, label_smoothing, y_pred.shape[axis])
    log_p = _categorical_log_probabilities(y_pred, from_logits, axis)
    return -np.sum(y_true * log_p, axis=axis)


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    alpha: float | list[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> np.ndarray:
    """``sum(-alpha * (1 - p)**gamma * y_true * log(p), axis)``.

    ``alpha`` is a number or one weight per class.
    """
    y_true, y_pred = _floats(y_true, y_pred)
    _same_shape(y_true, y_pred, "categorical_focal_crossentropy")
    axis = _class_axis(axis, y_pred.ndim)
    _warn_one_class("categorical_focal_crossentropy", y_pred.shape, axis)
    n_classes = y_pred.shape[axis]
    if label_smoothing:
        y_true = _smooth_categorical(y_true, label_smoothing, n_classes)
    if from_logits:
        log_p = _log_softmax(y_pred, axis)
        p = np.exp(log_p)
    else:
        p = _clip_probabilities(y_pred / np.sum(y_pred, axis=axis, keepdims=True))
        log_p = np.log(p)
    weight = np.asarray(alpha, dtype=y_pred.dtype)
    if weight.ndim:
        if weight.shape != (n_classes,):
            raise InputError(
                f"categorical_focal_crossentropy: alpha has {weight.size} values but "
                f"y_pred has {n_classes} classes"
            )
        weight = weight.reshape((-1,) + (1,) * (y_pred.ndim - 1 - axis))
    focal = weight * np.power(1.0 - p, gamma) * (-y_true * log_p)
    return np.sum(focal, axis=axis)


def sparse_categorical_crossentropy_with_mask(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`sparse_categorical_crossentropy` and the mask of non-ignored entries."""
    y_pred = _as_float(y_pred)
    y_true = np.asarray(y_true)
    axis = _class_axis(axis, y_pred.ndim)
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = np.squeeze(y_true, axis=axis)
    y_pred = np.moveaxis(y_pred, axis, -1)
    if y_true.shape != y_pred.shape[:-1]:
        raise InputError(
            "sparse_categorical_crossentropy needs one integer label per prediction "
            f"row: y_true has shape {y_true.shape}, y_pred {np.moveaxis(y_pred, -1, axis).shape}"
        )
    n_classes = y_pred.shape[-1]
    labels = _integer_labels(y_true, n_classes, skip=ignore_class)
    chosen = labels[..., np.newaxis]
    if from_logits:
        log_p = _log_softmax(y_pred, axis=-1)
        losses = -np.take_along_axis(log_p, chosen, axis=-1)[..., 0]
    else:
        # Rescale, clip and log only the labelled entry: the same numbers as
        # Keras' elementwise ops on the whole row, without a log per class.
        p = np.take_along_axis(y_pred, chosen, axis=-1)[..., 0] / np.sum(y_pred, axis=-1)
        losses = -np.log(_clip_probabilities(p))
    if ignore_class is None:
        return losses, None
    valid = y_true != ignore_class
    return np.where(valid, losses, 0.0), valid


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> np.ndarray:
    """``-log(p[y_true])``: integer labels against class probabilities (or logits).

    Entries whose label equals ``ignore_class`` get loss 0 and are left out of
    the reduction by the class handle.
    """
    return sparse_categorical_crossentropy_with_mask(
        y_true, y_pred, from_logits=from_logits, ignore_class=ignore_class, axis=axis
    )[0]


def _sparse_labels(y_true: Any, y_pred: np.ndarray) -> np.ndarray:
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return y_true


def categorical_generalized_cross_entropy(y_true: Any, y_pred: Any, q: float = 0.5) -> np.ndarray:
    """``(1 - p[y_true]**q) / q`` for integer labels; 0 < q < 1 (q -> 0 is crossentropy)."""
    if not 0 < q < 1:
        raise InputError(f"categorical_generalized_cross_entropy: q must be in (0, 1), got {q}")
    y_pred = _as_float(y_pred)
    y_true = _sparse_labels(y_true, y_pred)
    if y_true.shape != y_pred.shape[:-1]:
        raise InputError(
            "categorical_generalized_cross_entropy needs one integer label per row: "
            f"y_true has shape {y_true.shape}, y_pred {y_pred.shape}"
        )
    labels = _integer_labels(y_true, y_pred.shape[-1])
    p = np.take_along_axis(y_pred, labels[..., np.newaxis], axis=-1)[..., 0]
    return (1.0 - np.power(p, q)) / q


# --- segmentation ----------------------------------------------------------------


def dice(y_true: Any, y_pred: Any, axis: Axis = None) -> np.ndarray:
    """``1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + eps)`` over ``axis``.

    ``axis=None`` sums over everything: one loss for the whole input.
    """
    y_true, y_pred = _floats(y_true, y_pred)
    intersection = np.sum(y_true * y_pred, axis=axis)
    total = np.sum(y_true, axis=axis) + np.sum(y_pred, axis=axis)
    return 1.0 - 2.0 * intersection / (total + EPSILON)


def tversky(
    y_true: Any, y_pred: Any, alpha: float = 0.5, beta: float = 0.5, axis: Axis = None
) -> np.ndarray:
    """``1 - TP / (TP + alpha FP + beta FN + eps)`` over ``axis``.

    ``TP = sum(y_true y_pred)``, ``FP = sum((1 - y_true) y_pred)``,
    ``FN = sum(y_true (1 - y_pred))``: alpha weights false positives, beta
    false negatives (Keras #23333; the 3.15.1 release swaps them).
    """
    y_true, y_pred = _floats(y_true, y_pred)
    tp = np.sum(y_true * y_pred, axis=axis)
    fp = np.sum((1.0 - y_true) * y_pred, axis=axis)
    fn = np.sum(y_true * (1.0 - y_pred), axis=axis)
    return 1.0 - tp / (tp + alpha * fp + beta * fn + EPSILON)


# --- similarity -----------------------------------------------------------------


def _check_pairs_fit_in_memory(n: int, m: int) -> None:
    """Circle holds about ten N x M float64 arrays: refuse what cannot fit, before allocating."""
    import os

    needed = 10 * n * m * 8
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if needed > memory // 2:
        raise InputError(
            f"circle compares every pair of the {n} samples: about {needed / 2**30:.0f} GiB, "
            f"more than half of this machine's {memory / 2**30:.0f} GiB; evaluate it on a "
            "batch of samples (Keras computes it per training batch)"
        )


def circle_with_mask(
    y_true: Any,
    y_pred: Any,
    ref_labels: Any = None,
    ref_embeddings: Any = None,
    remove_diagonal: bool = True,
    gamma: float = 80.0,
    margin: float = 0.4,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`circle` and the mask of samples with a positive loss."""
    y_pred = _as_float(y_pred)
    y_true = _sparse_labels(y_true, y_pred)
    if y_pred.ndim != 2 or y_true.shape != y_pred.shape[:1]:
        raise InputError(
            "circle needs integer labels of shape (N,) and embeddings of shape (N, D): "
            f"got {y_true.shape} and {y_pred.shape}"
        )
    labels = _integer_labels(y_true, None)
    references = y_pred if ref_embeddings is None else _as_float(ref_embeddings)
    ref = labels if ref_labels is None else _integer_labels(np.asarray(ref_labels), None)
    if references.ndim != 2 or ref.shape != references.shape[:1]:
        raise InputError(
            "circle needs ref_labels of shape (M,) and ref_embeddings of shape (M, D): "
            f"got {ref.shape} and {references.shape}"
        )
    _check_pairs_fit_in_memory(len(labels), len(ref))
    distances = np.maximum(1.0 - y_pred @ references.T, 0.0)
    positive = labels[:, np.newaxis] == ref[np.newaxis, :]
    negative = ~positive
    if remove_diagonal:
        positive &= ~np.eye(len(labels), len(ref), dtype=bool)
    pos_weights = np.maximum((margin + distances) * positive, 0.0)
    neg_weights = np.maximum((1.0 + margin - distances) * negative, 0.0)
    pos_logits = np.where(positive, -gamma * pos_weights * (margin - distances), -np.inf)
    neg_logits = np.where(negative, gamma * neg_weights * (1.0 - margin - distances), -np.inf)
    losses = _softplus(_logsumexp(pos_logits, axis=1) + _logsumexp(neg_logits, axis=1))
    return losses, losses > 0


def circle(
    y_true: Any,
    y_pred: Any,
    ref_labels: Any = None,
    ref_embeddings: Any = None,
    remove_diagonal: bool = True,
    gamma: float = 80.0,
    margin: float = 0.4,
) -> np.ndarray:
    """Circle loss over all pairs of the input (Sun et al., 2020).

    ``softplus(logsumexp_pos(-gamma a_p (m - d)) + logsumexp_neg(gamma a_n (1 - m - d)))``
    with ``d = max(1 - y_pred ref^T, 0)``, ``a_p = max(m + d, 0)``,
    ``a_n = max(1 + m - d, 0)``; ``y_pred`` holds L2-normalised embeddings and
    ``y_true`` integer labels. The references are the input itself unless
    ``ref_labels``/``ref_embeddings`` are given (as in Keras); ``remove_diagonal``
    leaves pair (i, i) out of the positives. Samples with loss 0 are left out of the
    reduction by the class handle.
    """
    return circle_with_mask(
        y_true,
        y_pred,
        ref_labels=ref_labels,
        ref_embeddings=ref_embeddings,
        remove_diagonal=remove_diagonal,
        gamma=gamma,
        margin=margin,
    )[0]


# --- sequence ---------------------------------------------------------------------


def ctc(y_true: Any, y_pred: Any) -> np.ndarray:
    """Connectionist temporal classification: ``-log p(labels | logits)``.

    ``y_true`` is ``(N, L)`` integer labels padded with 0 at the end (class 0
    is the blank); ``y_pred`` is ``(N, T, C)`` unnormalised logits. As in Keras, a
    row's labels are its first ``k`` entries, ``k`` its count of nonzero entries: a 0
    inside a row is read as a label of class 0 and drops the last label. The sum
    over alignments is the forward algorithm in log space. A label sequence
    that no alignment of length T can produce has loss ``inf``.
    """
    y_pred = _as_float(y_pred)
    y_true = np.asarray(y_true)
    if y_true.ndim != 2 or y_pred.ndim != 3 or y_true.shape[0] != y_pred.shape[0]:
        raise InputError(
            "ctc needs labels of shape (N, L) and logits of shape (N, T, C): "
            f"got {y_true.shape} and {y_pred.shape}"
        )
    n, steps, n_classes = y_pred.shape
    labels = _integer_labels(y_true, n_classes)
    # As Keras: a row's label length is its count of nonzero entries, and its labels are
    # that many entries from the start, a 0 among them included (emitted as class 0).
    lengths = np.count_nonzero(labels, axis=1)
    # Extended label sequence: blank, l1, blank, l2, ..., lL, blank.
    extended = np.zeros((n, 2 * labels.shape[1] + 1), dtype=np.intp)
    extended[:, 1::2] = labels
    log_p = _log_softmax(y_pred, axis=-1)
    emit = np.take_along_axis(log_p, extended[:, np.newaxis, :], axis=2)  # (N, T, S)
    # A label (odd position) may be reached from the label before it, skipping the blank
    # between, unless it repeats that label.
    skip = np.zeros(extended.shape, dtype=bool)
    skip[:, 3::2] = extended[:, 3::2] != extended[:, 1:-2:2]
    neg_inf = y_pred.dtype.type(-np.inf)
    alpha = np.full(extended.shape, neg_inf, dtype=y_pred.dtype)
    alpha[:, 0] = emit[:, 0, 0]
    if extended.shape[1] > 1:
        alpha[:, 1] = emit[:, 0, 1]
    for t in range(1, steps):
        from_prev = np.full_like(alpha, neg_inf)
        from_prev[:, 1:] = alpha[:, :-1]
        from_skip = np.full_like(alpha, neg_inf)
        from_skip[:, 2:] = np.where(skip[:, 2:], alpha[:, :-2], neg_inf)
        alpha = np.logaddexp(np.logaddexp(alpha, from_prev), from_skip) + emit[:, t]
    rows = np.arange(n)
    end = 2 * lengths
    last = np.logaddexp(alpha[rows, end], np.where(end > 0, alpha[rows, end - 1], neg_inf))
    return -last


# --- labels -------------------------------------------------------------------------


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """Integer class labels as one-hot float rows, as ``keras.utils.to_categorical``.

    The class axis comes last; a trailing axis of size 1 is replaced by it;
    ``num_classes`` defaults to ``max(x) + 1``. Labels must be whole numbers in
    ``[0, num_classes)``: Keras wraps a negative label around to the last classes
    and fails on a label too large with an IndexError; here both are ValueErrors
    naming the row.

    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    labels = np.asarray(x)
    if labels.dtype.kind not in "biuf":
        raise InputError(f"to_categorical takes integer class labels, not {labels.dtype}")
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    flat = labels.reshape(-1)
    codes = _integer_labels(flat, None)
    if flat.size and codes.min() < 0:
        raise RowError(
            f"to_categorical: class label {codes.min()} at row {{row}} is negative; class "
            "labels start at 0",
            _first_row(codes < 0),
        )
    if not num_classes:
        num_classes = int(codes.max()) + 1 if flat.size else 0
    if flat.size and codes.max() >= num_classes:
        raise RowError(
            f"to_categorical: class label {codes.max()} at row {{row}} is out of range for "
            f"{num_classes} classes (labels 0..{num_classes - 1})",
            _first_row(codes >= num_classes),
        )
    categorical = np.zeros((flat.size, num_classes))
    categorical[np.arange(flat.size), codes] = 1.0
    return categorical.reshape((*shape, num_classes))
