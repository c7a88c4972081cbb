"""Reductions, sample weights and masks, with Keras 3 semantics.

Every loss returns per-sample values; this module is the one place that turns
them into a number (``reduce_losses``) and that aligns shapes the way Keras
does (``align_ranks``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from losscli.errors import InputError, SpecError

REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")
DTYPES = ("float64", "float32")


def standardize_reduction(reduction: str | None) -> str:
    """Return the reduction's canonical name (``None`` means ``"none"``)."""
    if reduction is None:
        return "none"
    if reduction not in REDUCTIONS:
        raise SpecError(
            f"Invalid value for argument `reduction`: {reduction!r}; choose one of "
            f"{', '.join(REDUCTIONS)}"
        )
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


class Weighed(NamedTuple):
    """Losses with their weights applied: what a chunk adds to the sums."""

    weighted: np.ndarray
    #: The weights, aligned with the losses and the mask folded in (None: no weights).
    weights: np.ndarray | None
    mask: np.ndarray | None
    #: One weight for every loss and no mask: Keras divides by it once, not by its sum.
    scalar: bool = False


def weigh(values: Any, sample_weight: Any = None, mask: Any = None) -> Weighed:
    """Apply weights and a mask to losses, as Keras does (``apply_mask``: the mask folds into
    the weights; for the means it rescales by total/valid, the division by the valid count)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    weights = None if sample_weight is None else _weights_array(sample_weight, values.dtype)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        float_mask = mask.astype(values.dtype)
        if weights is None:
            weights = float_mask
        else:
            float_mask, weights = _match_weights(float_mask, weights)
            weights = weights * float_mask
    if weights is None:
        return Weighed(values, None, mask)
    values, weights = _match_weights(values, weights)
    return Weighed(values * weights, weights, mask, mask is None and weights.ndim == 0)


class ChunkSums(NamedTuple):
    """What ``RunningReduction.record`` adds for some losses, taken elsewhere (a slice's share
    of a chunk, ``slicing.group_sums``) and added by ``absorb``."""

    total: float  # the weighted losses' sum
    size: int  # loss entries
    contributing: int  # entries with a nonzero weight, not masked
    valid: int | None  # unmasked entries (with a mask)
    weight_sum: float | None  # the weights' sum (not a scalar weight)
    scalar_weight: float | None
    dtype: np.dtype


class RunningReduction:
    """Running float64 sums that reduce per-sample losses chunk by chunk.

    ``add`` takes the losses of some samples (with their weights and mask) and
    returns them weighted; ``result`` gives the reduced value. Fed the whole
    input at once it is :func:`reduce_losses`; fed it in chunks, the same number
    up to rounding (chunk sums are added exactly with ``math.fsum``).

    The divisors follow Keras: ``sum_over_batch_size``/``mean`` divide by the
    number of loss values (the valid ones when there is a mask);
    ``mean_with_sample_weight`` by the sum of the weights as given (a scalar
    weight counts once, as in Keras), masked entries left out.
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size") -> None:
        self.reduction = standardize_reduction(reduction)
        self._sums: list[float] = []
        self._weight_sums: list[float] = []
        self._scalar_weight: float | None = None
        self._size = 0
        self._valid = 0
        self._masked = False
        self._contributing = 0  # loss entries with a nonzero weight, not masked
        self._dtype = np.dtype(np.float64)
        # Keras returns the weighted losses of a scalar or empty batch unreduced.
        self._unreduced: np.ndarray | None = None

    def add(self, values: Any, sample_weight: Any = None, mask: Any = None) -> np.ndarray:
        """Add losses; return them weighted."""
        weighed = weigh(values, sample_weight, mask)
        self.record(weighed)
        return weighed.weighted

    def record(self, weighed: Weighed) -> None:
        """Add weighted losses to the sums."""
        weighted, weights, mask, _ = weighed
        if mask is not None:
            self._masked = True
            self._valid += int(np.count_nonzero(mask))
        if weights is not None:
            nonzero = np.count_nonzero(weights)
            self._contributing += int(nonzero) * (weighted.size // max(weights.size, 1))
            if weighed.scalar:
                self._scalar_weight = float(weights)
            else:
                self._weight_sums.append(float(np.sum(weights, dtype=np.float64)))
        else:
            self._contributing += weighted.size
        first = not self._sums
        self._sums.append(float(np.sum(weighted, dtype=np.float64)))
        self._size += weighted.size
        self._dtype = weighted.dtype
        self._unreduced = weighted if first and weighted.shape in ((), (0,)) else None

    def absorb(self, sums: ChunkSums) -> None:
        """Add sums taken elsewhere (a slice's share of a chunk)."""
        self._sums.append(sums.total)
        self._size += sums.size
        self._dtype = sums.dtype
        self._contributing += sums.contributing
        if sums.valid is not None:
            self._masked = True
            self._valid += sums.valid
        if sums.scalar_weight is not None:
            self._scalar_weight = sums.scalar_weight
        elif sums.weight_sum is not None:
            self._weight_sums.append(sums.weight_sum)

    def merge(self, later: RunningReduction) -> None:
        """Add the sums of a later chunk's reduction."""
        self._sums += later._sums
        self._weight_sums += later._weight_sums
        if later._scalar_weight is not None:
            self._scalar_weight = later._scalar_weight
        self._size += later._size
        self._valid += later._valid
        self._contributing += later._contributing
        self._masked = self._masked or later._masked
        # Unreduced only when the later chunk was the whole input.
        self._unreduced = later._unreduced if self._size == later._size else None
        self._dtype = later._dtype

    @property
    def contributed(self) -> bool:
        """False when no loss entry counts: every weight 0 or every entry masked. Keras then
        gives 0 (divide-no-nan), a value that must never read as a pass."""
        return self._contributing > 0

    def value(self) -> Any:
        """The reduced value in the losses' dtype, as Keras gives it (see ``reduce_losses``)."""
        if self._unreduced is not None:
            return self._unreduced
        return self._dtype.type(self.result())

    @property
    def size(self) -> int:
        """The loss entries added."""
        return self._size

    @property
    def scalar_weight(self) -> float | None:
        """The one weight of every loss, when a number was given (Keras divides by it once)."""
        return self._scalar_weight

    def divides_by(self) -> str:
        """What the sum is divided by: ``one``, the ``scalar`` weight, the ``weights``' sum,
        the ``valid`` (unmasked) entries or the entries (``size``)."""
        if self.reduction == "sum":
            return "one"
        if self.reduction == "mean_with_sample_weight" and (
            self._weight_sums or self._scalar_weight is not None
        ):
            return "scalar" if self._scalar_weight is not None else "weights"
        return "valid" if self._masked else "size"

    def divisor(self) -> float:
        """What the sum of the weighted losses is divided by (1 for ``sum``)."""
        kind = self.divides_by()
        if kind == "one":
            return 1.0
        if kind == "scalar":
            assert self._scalar_weight is not None
            return self._scalar_weight
        if kind == "weights":
            return math.fsum(self._weight_sums)
        return self._valid if kind == "valid" else self._size

    def result(self) -> float:
        total = math.fsum(self._sums)
        if self.divides_by() == "one":
            return total
        divisor = self.divisor()
        return total / divisor if divisor != 0 else 0.0  # Keras' divide_no_nan


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
    running = RunningReduction(reduction)
    weighted = running.add(values, sample_weight, mask)
    return weighted if running.reduction == "none" else running.value()


def _weights_array(sample_weight: Any, dtype: np.dtype) -> np.ndarray:
    try:
        return np.asarray(sample_weight, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(
            f"sample weights must be numbers, got {type(sample_weight).__name__}"
        ) from None
