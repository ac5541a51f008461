"""Embedding losses: pairs and triplets of embeddings, and distances between pairs.

- ``hinge_embedding(y_true, y_pred)`` (torch's ``HingeEmbeddingLoss``): a
  distance per pair in ``y_pred`` and a label +-1 (similar / dissimilar);
- ``cosine_embedding(x1, x2, target)``: the cosine of two embeddings and a label;
- ``triplet_margin(anchor, positive, negative)`` and
  ``triplet_margin_with_distance`` (any distance function).

Pair and triplet losses keep torch's argument order; the first input decides the
backend and dtype.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from unilosses.backends import backend_for
from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.dims import shape_of
from unilosses.rules import in_range
from unilosses.shapes import check_broadcasts, float_targets, mean_over
from unilosses.shapes import relu as _relu

__all__ = [
    "CosineEmbedding",
    "HingeEmbedding",
    "TripletMargin",
    "TripletMarginWithDistance",
    "cosine_embedding",
    "hinge_embedding",
    "triplet_margin",
    "triplet_margin_with_distance",
]


# ------------------------------------------------------------------ helpers
def _distance(be: Any, x1: Any, x2: Any, p: float, eps: float) -> Any:
    """torch's ``pairwise_distance``: ``||x1 - x2 + eps||_p`` over the last axis."""
    xp = be.xp
    d = x1 - x2 + eps
    if p == 2:
        return xp.sqrt(xp.sum(d * d, axis=-1))
    a = xp.abs(d)
    if p == 1:
        return xp.sum(a, axis=-1)
    if math.isinf(p):  # the norm of an empty vector is 0, as for every other p (max would fail)
        return xp.max(a, axis=-1) if a.shape[-1] != 0 else xp.sum(a, axis=-1)
    return xp.sum(a**p, axis=-1) ** (1.0 / p)


def _embeddings(name: str, x: Any) -> tuple[Any, ...]:
    shape = shape_of(x)
    if len(shape) < 1:
        raise ValueError(f"{name}: expected embeddings of shape (..., D), got shape {shape}")
    return shape


def _distance_function(name: str, value: Any) -> Any:
    """None, or a hashable callable: the function is part of the options' cache key (by its hash)."""
    if value is None:
        return None
    if not callable(value):
        raise TypeError(f"{name}: expected a callable distance(x1, x2) or None, got {value!r}")
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"{name}: expected a hashable callable (it is part of the cache key of the compiled loss; "
            f"functions, lambdas and functools.partial objects are hashable), got an unhashable "
            f"{type(value).__name__}"
        ) from None
    return value


# ------------------------------------------------------------ hinge embedding
@loss()
def hinge_embedding(be: Any, y_true: Any, y_pred: Any, *, margin: float = 1.0, axis: Any = -1) -> Any:
    """Hinge embedding loss (torch): small distances for similar pairs, at least ``margin`` for the others.

    With ``x`` the inputs (typically a distance per pair, e.g. an L1 distance) and
    ``y`` the labels, 1 (similar) or -1 (dissimilar)::

        loss = mean_axis( l ),   l = x                      where y == 1
                                     max(0, margin - x)     where y == -1
                                     x + max(0, margin - x) for any other label (torch)

    Parameters
    ----------
    y_true : array, shape (..., D)
        Labels, 1 or -1.
    y_pred : array, shape (..., D)
        The inputs (distances). Decides the backend.
    margin : float
        Any finite number.
    axis : int or None
        Axis averaged over (the Keras convention for element-wise losses); ``None``
        returns per-element values.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``.

    Notes
    -----
    ``torch.nn.functional.hinge_embedding_loss(y_pred, y_true, margin,
    reduction="none")`` is ``axis=None``; torch's ``"mean"`` is
    ``"sum_over_batch_size"`` with ``axis=None``. Labels other than +-1 get both
    terms, as torch gives them.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> x, y = np.array([0.3, 2.0, 0.4, 0.7]), np.array([1.0, -1.0, -1.0, 0.0])
    >>> ul.hinge_embedding(y, x, axis=None).round(6).tolist()
    [0.3, 0.0, 0.6, 1.0]
    """
    xp = be.xp
    y = float_targets(be, y_true, y_pred)
    zero = xp.zeros_like(y_pred)
    values = xp.where(xp.not_equal(y, 1.0), _relu(be, margin - y_pred), zero) + xp.where(xp.not_equal(y, -1.0), y_pred, zero)
    return mean_over(be, values, axis)


# ------------------------------------------------------------------ triplets
@loss(inputs=("anchor", "positive", "negative"), rules={"p": in_range(0.0, math.inf, lo_open=True, arrays=False)})
def triplet_margin(
    be: Any,
    anchor: Any,
    positive: Any,
    negative: Any,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    swap: bool = False,
    eps: float = 1e-6,
) -> Any:
    """Triplet margin loss on embeddings (rows along the last axis).

    With ``d(a, b) = ||a - b + eps||_p`` over the last axis (torch's
    ``pairwise_distance``)::

        d_neg = d(anchor, negative)     (swap: min(d(anchor, negative), d(positive, negative)))
        loss  = max(0, d(anchor, positive) - d_neg + margin)

    Parameters
    ----------
    anchor : array, shape (..., D)
        Decides the backend and dtype.
    positive, negative : arrays, broadcastable to anchor's shape
    margin : float
        Any finite number (torch requires > 0).
    p : float > 0
        The norm degree (``inf`` for the max norm).
    swap : bool
        The distance swap of Balntas et al. (2016).
    eps : float > 0
        Added to the differences, as torch does.

    Returns
    -------
    array, shape (...,) (one value per row) with ``reduction="none"``.

    Notes
    -----
    Matches ``torch.nn.functional.triplet_margin_loss(anchor, positive, negative,
    margin, p, eps, swap, reduction="none")``; torch's ``"mean"`` is
    ``"sum_over_batch_size"``. ``optax.triplet_margin_loss`` adds ``eps`` inside the
    root instead and differs slightly.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> a, pos, neg = np.zeros((1, 2)), np.array([[3.0, 4.0]]), np.array([[6.0, 8.0]])
    >>> ul.triplet_margin(a, pos, neg, margin=1.0, eps=1e-30).tolist()
    [0.0]
    >>> ul.triplet_margin(a, neg, pos, margin=1.0, eps=1e-30).tolist()
    [6.0]
    """
    shape = _embeddings("anchor", anchor)
    check_broadcasts("positive", positive, shape, "anchor")
    check_broadcasts("negative", negative, shape, "anchor")
    d_pos = _distance(be, anchor, positive, p, eps)
    d_neg = _distance(be, anchor, negative, p, eps)
    if swap:
        d_neg = be.xp.minimum(d_neg, _distance(be, positive, negative, p, eps))
    return _relu(be, d_pos - d_neg + margin)


@loss(inputs=("anchor", "positive", "negative"), rules={"distance_function": _distance_function})
def triplet_margin_with_distance(
    be: Any,
    anchor: Any,
    positive: Any,
    negative: Any,
    *,
    distance_function: Callable[[Any, Any], Any] | None = None,
    margin: float = 1.0,
    swap: bool = False,
) -> Any:
    """Triplet margin loss with any distance function.

    With ``d = distance_function`` (default: torch's ``pairwise_distance``,
    ``||a - b + 1e-6||_2`` over the last axis)::

        d_neg = d(anchor, negative)     (swap: min(d(anchor, negative), d(positive, negative)))
        loss  = max(0, d(anchor, positive) - d_neg + margin)

    Parameters
    ----------
    anchor : array, shape (..., D)
        Decides the backend and dtype.
    positive, negative : arrays, broadcastable to anchor's shape
    distance_function : callable or None
        ``distance_function(x1, x2)`` takes two arrays of the inputs' framework
        (in the compute dtype: float32 for 16-bit inputs) and returns one distance
        per sample, shape (...,); it must trace where the loss is traced
        (``jax.jit``, ``torch.compile``, ``tf.function``). To write one function for
        every framework, take its namespace from the arrays:
        ``xp = unilosses.backend_for(x1).xp``. It is part of the options' cache key,
        by its hash (identity for functions and lambdas): define it once and pass
        the same object on every call; a new lambda per call is a new key, which on
        eager JAX compiles the loss again each time.
    margin : float
        Any finite number (torch requires > 0).
    swap : bool
        The distance swap of Balntas et al. (2016).

    Returns
    -------
    array, the distances' shape (one value per row) with ``reduction="none"``.

    Notes
    -----
    Matches ``torch.nn.functional.triplet_margin_with_distance_loss(anchor,
    positive, negative, distance_function=..., margin, swap, reduction="none")``
    (torch's ``distance_function`` over torch tensors; here over the inputs'
    framework); torch's ``"mean"`` is ``"sum_over_batch_size"``. With the default
    distance it equals :func:`triplet_margin` with ``p=2, eps=1e-6``. A loss object
    holding a custom function has a ``get_config`` that JSON cannot store
    (Keras' ``model.save`` needs the default, or the function registered with Keras).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> def l1(a, b):
    ...     xp = ul.backend_for(a).xp
    ...     return xp.sum(xp.abs(a - b), axis=-1)
    >>> a, pos, neg = np.zeros((1, 2)), np.array([[1.0, 2.0]]), np.array([[2.0, 2.0]])
    >>> ul.triplet_margin_with_distance(a, pos, neg, distance_function=l1).tolist()  # 3 - 4 + 1
    [0.0]
    >>> ul.triplet_margin_with_distance(a, neg, pos, distance_function=l1, margin=0.5).tolist()  # 4 - 3 + 0.5
    [1.5]
    """
    shape = _embeddings("anchor", anchor)
    check_broadcasts("positive", positive, shape, "anchor")
    check_broadcasts("negative", negative, shape, "anchor")
    if distance_function is None:
        def distance_function(x1: Any, x2: Any) -> Any:
            return _distance(be, x1, x2, 2.0, 1e-6)

    d_pos = distance_function(anchor, positive)
    d_neg = distance_function(anchor, negative)
    ds = [d_pos, d_neg]
    if swap:
        ds.append(distance_function(positive, negative))
    for d in ds:
        if not (hasattr(d, "shape") and hasattr(d, "dtype") and backend_for(d) is be):
            raise TypeError(
                f"distance_function: expected arrays of {be.name}, like its inputs, got {type(d).__name__}"
            )
    if len({shape_of(d) for d in ds}) != 1:
        raise ValueError(
            f"distance_function: expected one distance per sample, of one shape for every pair; "
            f"got shapes {[shape_of(d) for d in ds]}"
        )
    if swap:
        d_neg = be.xp.minimum(d_neg, ds[2])
    return _relu(be, d_pos - d_neg + margin)


# ---------------------------------------------------------------------- pairs
@loss(inputs=("x1", "x2", "target"))
def cosine_embedding(be: Any, x1: Any, x2: Any, target: Any, *, margin: float = 0.0) -> Any:
    """Cosine embedding loss: pull pairs together where ``target`` is 1, apart where -1.

    With ``cos`` the cosine similarity of ``x1`` and ``x2`` over the last axis
    (``x1.x2 / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12))``, as torch computes it)::

        loss = 1 - cos                  where target == 1
               max(0, cos - margin)     where target == -1
               0                        elsewhere

    Parameters
    ----------
    x1 : array, shape (..., D)
        Decides the backend and dtype.
    x2 : array, broadcastable to x1's shape
    target : array, shape (...,)
        1 or -1.
    margin : float
        torch suggests values in [-1, 1].

    Returns
    -------
    array, shape (...,) (one value per row) with ``reduction="none"``.

    Notes
    -----
    Matches ``torch.nn.functional.cosine_embedding_loss(x1, x2, target, margin,
    reduction="none")``; torch's ``"mean"`` is ``"sum_over_batch_size"``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> x1, x2 = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 2.0], [3.0, 0.0]])
    >>> ul.cosine_embedding(x1, x2, np.array([1, -1]), margin=0.5).round(6).tolist()
    [1.0, 0.5]
    """
    xp = be.xp
    shape = _embeddings("x1", x1)
    check_broadcasts("x2", x2, shape, "x1")
    check_broadcasts("target", target, shape[:-1], "x1 without its last axis")
    dot = xp.sum(x1 * x2, axis=-1)
    sq1 = xp.sum(x1 * x1, axis=-1) + 1e-12
    sq2 = xp.sum(x2 * x2, axis=-1) + 1e-12
    cos = dot / xp.sqrt(sq1 * sq2)
    zero = xp.zeros_like(cos)
    return xp.where(xp.equal(target, 1), 1.0 - cos, zero) + xp.where(xp.equal(target, -1), _relu(be, cos - margin), zero)


# ------------------------------------------------------------------ classes
class HingeEmbedding(FunctionLoss):
    """Class form of :func:`hinge_embedding` (``torch.nn.HingeEmbeddingLoss`` with ``axis=None``)."""

    function = hinge_embedding


class TripletMargin(FunctionLoss):
    """Class form of :func:`triplet_margin` (``torch.nn.TripletMarginLoss``); called as ``(anchor, positive, negative)``."""

    function = triplet_margin


class CosineEmbedding(FunctionLoss):
    """Class form of :func:`cosine_embedding` (``torch.nn.CosineEmbeddingLoss``); called as ``(x1, x2, target)``."""

    function = cosine_embedding


class TripletMarginWithDistance(FunctionLoss):
    """Class form of :func:`triplet_margin_with_distance` (``torch.nn.TripletMarginWithDistanceLoss``);
    called as ``(anchor, positive, negative)``."""

    function = triplet_margin_with_distance
