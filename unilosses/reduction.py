"""Weights, ignored positions and every reduction, in one place.

A loss computes per-sample ``values`` (class weights already inside), and may
add a per-sample ``weight`` (the sample's class weight, for the weighted mean)
and a ``valid`` mask (False where a label is ignored). :func:`reduce` does the
rest, identically for every loss and every backend.
"""

from __future__ import annotations

import enum
import math
from typing import Any, NamedTuple

import numpy as np

from unilosses.backends import backend_for
from unilosses.dims import broadcasts

__all__ = [
    "MEANS", "PER_SAMPLE", "TOKEN_AGGREGATIONS", "LossStats", "Outputs", "PerSample", "Reduction", "REDUCTIONS",
    "aggregate_tokens",
    "canonical_reduction", "check_aggregation", "per_replica", "reduce",
]


class PerSample(NamedTuple):
    """What a spec function returns when it needs more than plain values: the inputs of
    :func:`reduce` beside the values."""

    values: Any
    weight: Any = None  # per-sample class weight, for the weighted mean
    valid: Any = None  # False where a label is ignored


class Outputs(NamedTuple):
    """What a spec function returns when it gives more than the loss: ``main`` (values or a
    :class:`PerSample`), reduced by :func:`reduce` as any loss's, and ``extras``, outputs the spec
    has reduced itself (it names the call's ``reduction``, weights and ``normalizer`` as hints),
    returned after the loss: ``(loss, *extras)``."""

    main: Any
    extras: tuple[Any, ...]


class Reduction(str, enum.Enum):
    """Reduction names; tf.keras' and tf.compat.v1's names port word for word.

    ``AUTO`` (tf.keras) and ``MEAN`` (Keras' alias) are ``SUM_OVER_BATCH_SIZE`` itself: they
    compare equal to it and mean what it means. tf.compat.v1's ``MEAN`` (value
    ``"weighted_mean"``) is ``MEAN_WITH_SAMPLE_WEIGHT`` here and is also accepted as the string
    ``"weighted_mean"``.
    """

    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
    AUTO = "sum_over_batch_size"
    MEAN = "sum_over_batch_size"
    MEAN_WITH_SAMPLE_WEIGHT = "mean_with_sample_weight"
    WEIGHTED_MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    BATCHMEAN = "batchmean"
    STATS = "stats"

    def __str__(self) -> str:
        return self.value


#: the canonical reductions
REDUCTIONS = (
    "none",
    "sum",
    "sum_over_batch_size",
    "mean_with_sample_weight",
    "sum_by_nonzero_weights",
    "batchmean",
    "stats",
)

#: not a reduction users select: :func:`reduce` returns the :class:`PerSample` values
PER_SAMPLE = "per_sample"

_ALIASES = {r: r for r in REDUCTIONS}
_ALIASES.update(
    {
        "mean": "sum_over_batch_size",
        "auto": "sum_over_batch_size",
        "weighted_sum_over_batch_size": "sum_over_batch_size",  # tf.compat.v1
        "weighted_mean": "mean_with_sample_weight",  # tf.compat.v1 MEAN
        "weighted_sum_by_nonzero_weights": "sum_by_nonzero_weights",  # tf.compat.v1
    }
)


def canonical_reduction(reduction: Any) -> str:
    """The canonical name of ``reduction``, or a ValueError listing the valid ones."""
    out = _ALIASES.get(reduction) if type(reduction) is str else None  # the common case
    if out is not None:
        return out
    if isinstance(reduction, Reduction):
        reduction = reduction.value
    if reduction is None:
        reduction = "none"
    out = _ALIASES.get(reduction) if isinstance(reduction, str) else None
    if out is None:
        raise ValueError(
            f"reduction: expected one of {', '.join(repr(r) for r in sorted(_ALIASES))}, "
            f"got {reduction!r}"
        )
    return out


class LossStats(NamedTuple):
    """Sums that add up across shards: exact global means from per-shard parts.

    ``total``: the weighted sum of the per-sample losses; ``count``: the number of
    non-ignored per-sample values; ``weight_sum``: the sum of their effective
    weights (sample weight times class weight). The global
    ``"sum_over_batch_size"`` value is ``sum(total) / sum(count)`` and the global
    ``"mean_with_sample_weight"`` value is ``sum(total) / sum(weight_sum)``.
    """

    total: Any
    count: Any
    weight_sum: Any

    def mean(self) -> Any:
        """``total / count`` (0 where count is 0)."""
        return _divide_no_nan(_xp(self.total), self.total, self.count)

    def weighted_mean(self) -> Any:
        """``total / weight_sum`` (0 where weight_sum is 0)."""
        return _divide_no_nan(_xp(self.total), self.total, self.weight_sum)

    def __add__(self, other: Any) -> LossStats:  # type: ignore[override]
        if not isinstance(other, LossStats):
            return NotImplemented
        return LossStats(
            self.total + other.total,
            self.count + other.count,
            self.weight_sum + other.weight_sum,
        )


def _divide_no_nan(xp: Any, num: Any, den: Any) -> Any:
    """num / den, 0 where den == 0, with finite gradients."""
    zero = xp.equal(den, 0)
    return xp.where(zero, 0.0, num / xp.where(zero, 1.0, den))


def _xp(x: Any) -> Any:
    """The namespace of the array ``x`` (any framework: the sums of a LossStats are its arrays)."""
    return backend_for(x).xp


def _static_size(shape: Any) -> int | None:
    try:
        n = math.prod(shape)
    except TypeError:  # None in a TensorShape
        return None
    return n if isinstance(n, int) else None


def align_weight(be: Any, sample_weight: Any, shape: Any, name: str = "sample_weight") -> Any:
    """``sample_weight`` shaped to broadcast against per-sample values of ``shape``.

    A scalar weight applies to every value. A weight of lower rank than the values
    is aligned on the leading (sample) axes: a per-sample weight of shape (N,)
    weights every element of an (N, D) per-element loss, as a weight is meant to,
    never the trailing axis by accident. A trailing axis of size 1 that the values
    lack is squeezed (Keras). A weight that would broadcast the values to a larger
    shape is a ValueError.
    """
    nd = len(shape)
    sw_shape = tuple(sample_weight.shape)
    if len(sw_shape) == nd + 1 and sw_shape[-1] == 1:
        sample_weight = be.xp.squeeze(sample_weight, axis=-1)
        sw_shape = sw_shape[:-1]
    if not broadcasts(sw_shape, tuple(shape), leading=True):
        raise ValueError(
            f"{name}: expected a shape that broadcasts to the per-sample loss "
            f"shape {tuple(shape)}, got {sw_shape} (a lower-rank weight is aligned on the leading axes)"
        )
    for _ in range(nd - len(sw_shape) if sw_shape else 0):
        sample_weight = be.xp.expand_dims(sample_weight, axis=-1)
    return sample_weight


def _check_trailing(name: str, w: Any, shape: tuple[Any, ...]) -> None:
    """``w`` broadcasts NumPy-style to ``shape`` without enlarging it, else a ValueError naming it."""
    ws = tuple(w.shape)
    if not broadcasts(ws, shape):
        raise ValueError(
            f"{name}: expected a shape that broadcasts (on the trailing axes, as torch's weight) to the "
            f"per-sample loss shape {shape}, got {ws}"
        )


def reduce(
    be: Any,
    values: Any,
    sample_weight: Any,
    reduction: str,
    *,
    weight: Any = None,
    valid: Any = None,
    normalizer: Any = None,
    element_weight: Any = None,
) -> Any:
    """Apply weights, the ignore mask and ``reduction`` to per-sample ``values``.

    ``sample_weight`` is aligned on the leading (sample) axes (:func:`align_weight`);
    ``element_weight`` broadcasts NumPy-style, on the trailing axes, like torch's
    per-element ``weight``. Both count as the samples' weights in the weighted means.
    ``reduction=PER_SAMPLE`` (internal, no user's reduction) returns the weighted values
    with their class weights and validity, as :class:`PerSample`, for a caller that
    reduces them itself (Keras' wrapper of a plain callable).
    """
    out = _reduce(be, values, sample_weight, reduction, weight, valid, normalizer, element_weight)
    if NUMPY_1 and be.name == "numpy" and reduction not in ("none", PER_SAMPLE):
        return _numpy1_dtype(out, values.dtype)
    return out


#: NumPy 1.x promotes a 0-d float32 combined with a Python float to float64 (value-based casting;
#: NumPy 2 keeps float32, NEP 50): there, a scalar result is cast back to the values' dtype
NUMPY_1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def _numpy1_dtype(out: Any, dtype: Any) -> Any:
    if isinstance(out, LossStats):
        return LossStats(*(_numpy1_dtype(v, dtype) for v in out))
    return out.astype(dtype) if out.dtype != dtype else out


def _reduce(
    be: Any, values: Any, sample_weight: Any, reduction: str, weight: Any, valid: Any, normalizer: Any,
    element_weight: Any,
) -> Any:
    xp = be.xp
    if valid is not None:
        values = xp.where(valid, values, xp.zeros_like(values))
    if sample_weight is not None:
        sample_weight = align_weight(be, sample_weight, values.shape)
    if element_weight is not None:
        _check_trailing("element_weight", element_weight, tuple(values.shape))
        sample_weight = element_weight if sample_weight is None else sample_weight * element_weight
    if sample_weight is not None:
        values = values * sample_weight
    if reduction == "none":
        return values
    if reduction == PER_SAMPLE:
        return PerSample(values, weight, valid)
    if reduction == "sum_over_batch_size" and valid is None:
        n = _static_size(values.shape)
        if n:  # a static, non-zero count: sum / count is the mean
            return be.mean_all(values)
    total = xp.sum(values)
    if reduction == "sum":
        return total if normalizer is None else _divide_no_nan(xp, total, normalizer)
    if reduction == "batchmean":  # torch's KLDivLoss "batchmean": the sum over the first axis' size
        rows: Any = 1 if values.ndim == 0 else values.shape[0]
        if not isinstance(rows, int):  # not static (a TensorShape's None)
            rows = xp.sum(xp.ones_like(values[(slice(None),) + (0,) * (values.ndim - 1)]))
        return _mean(xp, total, rows)
    dtype = values.dtype
    # count: a Python int when the shape says it (no mask), else an array; every other
    # denominator is an array. Denominators are told apart by `type(...) is int`, never by
    # a Python type test on array values (NumPy's sums are np.float64, a float subclass).
    count: Any = _static_size(values.shape) if valid is None else None
    if count is None:
        count = xp.sum(xp.ones_like(values)) if valid is None else xp.sum(xp.astype(valid, dtype))
    if reduction == "sum_over_batch_size":
        return _mean(xp, total, count)
    # effective weights: sample weight x class weight x valid, at values' shape
    eff = weight
    if sample_weight is not None:
        eff = sample_weight if eff is None else eff * sample_weight
    if valid is not None:
        mask = xp.astype(valid, dtype)
        eff = mask if eff is None else eff * mask
    if eff is not None and tuple(eff.shape) != tuple(values.shape):
        eff = eff * xp.ones_like(values)
    if reduction == "mean_with_sample_weight":
        return _mean(xp, total, count if eff is None else xp.sum(eff))
    if reduction == "sum_by_nonzero_weights":
        return _mean(xp, total, count if eff is None else be.count_nonzero(eff, dtype))
    # stats
    if type(count) is int:
        count = xp.asarray(float(count), dtype=dtype, device=be.device(values))
    weight_sum = count if eff is None else xp.sum(eff)
    return LossStats(total, count, weight_sum)


#: the reductions that are means: under ``tf.distribute`` each replica's mean is divided by the
#: number of replicas (see :func:`per_replica`)
MEANS = ("sum_over_batch_size", "mean_with_sample_weight", "sum_by_nonzero_weights", "batchmean")


def per_replica(be: Any, out: Any, reduction: str) -> Any:
    """A reduced loss as one replica's share: a mean divided by the number of replicas under
    ``tf.distribute``, as Keras 3 divides its losses' means, so that the gradients the
    strategy sums over replicas are the global mean's (equal shards; ``reduction="stats"``
    gives the exact global mean of uneven ones). ``"sum"``, ``"none"`` and ``"stats"`` are
    left as they are: their parts add up across replicas. Runs at each call (or trace),
    outside compiled code, so a cached program never keeps another strategy's count."""
    if type(out) is tuple:  # the loss and a spec's extra outputs (not a LossStats or PerSample, also tuples)
        return tuple(per_replica(be, o, reduction) for o in out)
    if be.replicated and reduction in MEANS:
        n = be.replicas()
        if n > 1:
            return out * (1.0 / n)
    return out


def _mean(xp: Any, total: Any, den: Any) -> Any:
    """``total / den``, 0 where ``den`` is 0: ``den`` is a static Python int or an array."""
    if type(den) is int:
        return total / max(den, 1)
    return _divide_no_nan(xp, total, den)


#: how a (sequences, tokens) loss matrix becomes one number: verl's ``loss_agg_mode`` values
TOKEN_AGGREGATIONS = (
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
)


def check_aggregation(aggregation: Any, name: str = "aggregation") -> str:
    """``aggregation`` if it is one of :data:`TOKEN_AGGREGATIONS`, else a ValueError naming ``name``."""
    if not isinstance(aggregation, str) or aggregation not in TOKEN_AGGREGATIONS:
        raise ValueError(
            f"{name}: expected one of {', '.join(repr(a) for a in TOKEN_AGGREGATIONS)}, got {aggregation!r}"
        )
    return aggregation


def aggregate_tokens(xp: Any, values: Any, mask: Any, mode: str, max_tokens: Any = None) -> Any:
    """One number from per-token ``values`` of shape (..., T), tokens on the last axis.

    ``mask`` (``values``' shape, or None for every token) is 0 / False where a token does not
    count; a floating mask also weights the tokens it keeps, as verl's ``masked_sum``. Masked
    positions never reach the result, NaN or infinite ones included. ``mode``:

    - ``"token-mean"``: ``sum(v m) / sum(m)``, every kept token of the batch alike;
    - ``"token-sum"``: ``sum(v m)``;
    - ``"seq-mean-token-sum"``: each sequence's ``sum(v m)``, averaged over the sequences with at
      least one kept token;
    - ``"seq-mean-token-mean"``: each sequence's ``sum(v m) / sum(m)``, averaged over the same;
    - ``"seq-mean-token-sum-norm"``: ``sum(v m) / max_tokens`` (Dr. GRPO's constant; ``max_tokens``
      defaults to T, the padded length, as verl's ``loss_scale_factor``).

    A mean over nothing (every token masked) is 0 with zero gradients, where verl's
    ``"token-mean"`` gives NaN (0 / 0). verl divides a sequence's token sum by
    ``count + 1e-8``; here by ``count``, exactly (the two differ by 1e-8 relative).
    """
    dtype = values.dtype
    count: Any = None  # kept tokens per sequence (only the seq-mean modes need it without a mask)
    if mask is None:
        kept = values
        if mode.startswith("seq-mean-token-"):
            count = xp.sum(xp.ones_like(values), axis=-1)
    else:
        keep = xp.not_equal(mask, xp.zeros_like(mask))
        weight = xp.astype(mask, dtype)
        kept = xp.where(keep, values, xp.zeros_like(values)) * weight
        count = xp.sum(weight, axis=-1)
    if mode == "token-sum":
        return xp.sum(kept)
    if mode == "token-mean":
        if mask is None:
            return xp.mean(kept)
        return _divide_no_nan(xp, xp.sum(kept), xp.sum(count))
    if mode == "seq-mean-token-sum-norm":
        if max_tokens is None:
            max_tokens = values.shape[-1]
        return xp.sum(kept) / max_tokens
    per_seq = xp.sum(kept, axis=-1)
    if mode == "seq-mean-token-mean":
        per_seq = _divide_no_nan(xp, per_seq, count)
    elif mode != "seq-mean-token-sum":
        raise ValueError(f"mode: expected one of {TOKEN_AGGREGATIONS}, got {mode!r}")
    sequences = xp.astype(count > 0, dtype)  # fully masked sequences leave the mean
    return _divide_no_nan(xp, xp.sum(per_seq * sequences), xp.sum(sequences))
