"""Reductions, sample weights and masks, with Keras 3 semantics.

Every loss returns per-sample values; this module is the one place that turns
them into a number (``reduce_losses``) and that aligns shapes the way Keras
does (``align_ranks``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from losscli.errors import InputError, SpecError

REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")
DTYPES = ("float64", "float32")


def standardize_reduction(reduction: str | None) -> str:
    """Return the reduction's canonical name (``None`` means ``"none"``)."""
    if reduction is None:
        return "none"
    if reduction not in REDUCTIONS:
        raise SpecError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    return reduction


def standardize_dtype(dtype: Any) -> np.dtype:
    """Return the computation dtype: float64 (default) or float32."""
    name = np.dtype(dtype).name if dtype is not None else "float64"
    if name not in DTYPES:
        raise SpecError(f"unsupported dtype {dtype!r}; choose float64 or float32")
    return np.dtype(name)


def align_ranks(
    x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Squeeze or expand a trailing axis of size 1 when the ranks differ by one.

    This is Keras' ``squeeze_or_expand_to_same_rank``: a ``(N, 1)`` array
    against a ``(N,)`` array becomes ``(N, 1)``/``(N, 1)`` (rank 1 is expanded),
    a ``(N, T, 1)`` array against ``(N, T)`` is squeezed.
    """
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., np.newaxis]
        else:
            x1 = x1[..., 0]
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., np.newaxis]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _match_weights(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Align ``weights`` with ``values`` for broadcasting.

    Keras' rank rules first; then a weight per sample (shape ``(N,)`` or the
    leading dimensions of the losses) gets trailing axes so that it rescales
    the sample's whole loss. Keras raises a broadcasting error there (or, when
    a trailing dimension happens to equal N, silently weights the wrong axis).
    """
    values, weights = align_ranks(values, weights)
    if 0 < weights.ndim < values.ndim and weights.shape == values.shape[: weights.ndim]:
        weights = weights.reshape(weights.shape + (1,) * (values.ndim - weights.ndim))
    try:
        np.broadcast_shapes(values.shape, weights.shape)
    except ValueError:
        raise InputError(
            f"sample weights of shape {weights.shape} do not fit losses of shape "
            f"{values.shape}; give one weight per sample, a number, or an array "
            "broadcastable to the losses"
        ) from None
    return values, weights


def merge_mask(
    mask: np.ndarray, sample_weight: np.ndarray | None, reduction: str, dtype: np.dtype
) -> np.ndarray:
    """Fold a boolean mask into the sample weights, as Keras' ``apply_mask``.

    For ``mean``/``sum_over_batch_size`` valid entries get weight
    ``total / valid`` so that dividing by the batch size later divides by the
    number of valid entries instead.
    """
    mask = np.asarray(mask, dtype=bool)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = int(np.count_nonzero(mask))
        mask_weight = mask.size / valid if valid else 0.0
        float_mask = np.where(mask, mask_weight, 0.0).astype(dtype)
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = _match_weights(float_mask, sample_weight)
    return sample_weight * float_mask


def reduce_losses(
    values: Any,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str | None = "sum_over_batch_size",
) -> Any:
    """Weight, mask and reduce per-sample losses (Keras' ``reduce_weighted_values``).

    - ``sum``: ``sum(w * l)``
    - ``sum_over_batch_size`` / ``mean``: ``sum(w * l) / size(l)``
      (``size`` counts valid entries when a mask is given)
    - ``mean_with_sample_weight``: ``sum(w * l) / sum(w)``
    - ``none``: ``w * l``, unreduced

    A division by zero gives 0, as Keras' ``divide_no_nan``. As in Keras, a
    scalar or empty ``values`` is returned unreduced.
    """
    reduction = standardize_reduction(reduction)
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    dtype = values.dtype
    weights = None if sample_weight is None else _weights_array(sample_weight, dtype)
    if mask is not None:
        weights = merge_mask(mask, weights, reduction, dtype)
    if weights is not None:
        values, weights = _match_weights(values, weights)
        values = values * weights
    if reduction == "none" or values.shape in ((), (0,)):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = weights.sum(dtype=dtype)
    else:
        divisor = dtype.type(values.size)
    return total / divisor if divisor != 0 else dtype.type(0.0)


def _weights_array(sample_weight: Any, dtype: np.dtype) -> np.ndarray:
    try:
        return np.asarray(sample_weight, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(
            f"sample weights must be numbers, got {type(sample_weight).__name__}"
        ) from None
