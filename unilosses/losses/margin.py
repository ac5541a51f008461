"""Margin losses: the hinge family, multiclass hinge, ranking, triplet, embedding and soft margins.

Losses of ``(y_true, y_pred)`` follow Keras (hinge, squared and categorical
hinge) or torch (soft margins, ``multi_margin_loss``). Pair and triplet losses
keep torch's argument order: ``margin_ranking(x1, x2, target)``,
``cosine_embedding(x1, x2, target)``, ``triplet_margin(anchor, positive,
negative)``; the first input decides the backend and dtype.
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.logits import binary_log_probs
from unilosses.loss import Loss, in_range, loss
from unilosses.losses._common import (
    check_broadcasts,
    check_class_weight,
    class_axis,
    count_classes,
    float_targets,
    mean_over,
    sparse_targets,
)

__all__ = [
    "CategoricalHinge",
    "CosineEmbedding",
    "Hinge",
    "MarginRanking",
    "MulticlassHinge",
    "MultilabelSoftMargin",
    "SoftMargin",
    "SquaredHinge",
    "TripletMargin",
    "categorical_hinge",
    "cosine_embedding",
    "hinge",
    "margin_ranking",
    "multiclass_hinge",
    "multilabel_soft_margin",
    "soft_margin",
    "squared_hinge",
    "triplet_margin",
]


# ------------------------------------------------------------------ helpers
def _shape(x: Any) -> tuple[Any, ...]:
    return tuple(x.shape)


def _relu(be: Any, x: Any) -> Any:
    """``max(x, 0)``; ``clip`` takes a Python bound under ``torch.compile(fullgraph=True)``,
    where array-api-compat's ``maximum(x, 0.0)`` breaks the graph."""
    return be.xp.clip(x, min=0.0)


def _as(be: Any, x: Any, like: Any) -> Any:
    return x if x.dtype == like.dtype else be.xp.astype(x, like.dtype)


def _hinge_labels(be: Any, y: Any) -> Any:
    """Keras: labels in {0, 1} become {-1, 1}, but only when every label is 0 or 1.

    Decided by a reduction inside ``where`` (no Python branch on values), so it
    traces under ``jax.jit``, ``tf.function`` and ``torch.compile``.
    """
    xp = be.xp
    binary = xp.all(xp.logical_or(y == 0.0, y == 1.0))
    return xp.where(binary, 2.0 * y - 1.0, y)


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


# ------------------------------------------------------------- hinge family
@loss()
def hinge(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Hinge loss for labels in {-1, 1} (or {0, 1}) and real-valued scores.

    ::

        loss = mean_axis( max(0, 1 - y * y_pred) )

    where labels are mapped from {0, 1} to {-1, 1} when every label of ``y_true``
    is 0 or 1 (Keras); other labels are used as given.

    Parameters
    ----------
    y_true : array, shape (..., D)
        Labels in {-1, 1} or {0, 1}.
    y_pred : array, shape (..., D)
        Scores (decision function values). Decides the backend.
    axis : int or None
        Axis averaged over (Keras); ``None`` returns per-element values.
    sample_weight : array broadcastable to the per-sample loss, optional
    reduction : str
        See :class:`unilosses.Reduction`; ``"none"`` by default.

    Returns
    -------
    array
        Shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``,
        a scalar otherwise, or :class:`unilosses.LossStats` for ``"stats"``.

    Notes
    -----
    Matches ``keras.losses.hinge``; ``optax.hinge_loss(y_pred, y_true)`` (labels in
    {-1, 1}) is ``axis=None``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> s = np.array([[0.5, -2.0], [0.3, 0.8]])
    >>> ul.hinge(np.array([[1.0, -1.0], [-1.0, 1.0]]), s).tolist()
    [0.25, 0.75]
    >>> ul.hinge(np.array([[1.0, 0.0], [0.0, 1.0]]), s).tolist()  # {0, 1} labels
    [0.25, 0.75]
    """
    y = _hinge_labels(be, float_targets(be, y_true, y_pred))
    return mean_over(be, _relu(be, 1.0 - y * y_pred), axis)


@loss()
def squared_hinge(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Squared hinge loss for labels in {-1, 1} (or {0, 1}) and real-valued scores.

    ::

        loss = mean_axis( max(0, 1 - y * y_pred)^2 )

    with labels mapped from {0, 1} to {-1, 1} as in :func:`hinge`.

    Parameters
    ----------
    y_true : array, shape (..., D)
        Labels in {-1, 1} or {0, 1}.
    y_pred : array, shape (..., D)
        Scores. Decides the backend.
    axis : int or None
        Axis averaged over; ``None`` returns per-element values.
    sample_weight, reduction : see :func:`hinge`.

    Returns
    -------
    array, shape (...,) (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``keras.losses.squared_hinge``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.squared_hinge(np.array([[1.0, 0.0]]), np.array([[0.5, -2.0]])).tolist()
    [0.125]
    """
    y = _hinge_labels(be, float_targets(be, y_true, y_pred))
    h = _relu(be, 1.0 - y * y_pred)
    return mean_over(be, h * h, axis)


@loss()
def categorical_hinge(be: Any, y_true: Any, y_pred: Any, *, axis: int = -1) -> Any:
    """Categorical hinge loss between one-hot targets and class scores.

    ::

        pos  = sum_c y_c s_c
        neg  = max_c (1 - y_c) s_c
        loss = max(0, neg - pos + 1)

    Parameters
    ----------
    y_true : array, shape (..., K, ...)
        One-hot targets along ``axis``.
    y_pred : array, same shape
        Class scores.
    axis : int
        The class axis.
    sample_weight, reduction : see :func:`hinge`.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``keras.losses.categorical_hinge`` (class axis -1).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.categorical_hinge(np.array([[0.0, 1.0, 0.0]]), np.array([[0.2, 0.5, 0.9]])).tolist()
    [1.4]
    """
    xp = be.xp
    axis = class_axis(axis, y_pred.ndim)
    count_classes(y_pred, axis)
    y = float_targets(be, y_true, y_pred)
    pos = xp.sum(y * y_pred, axis=axis)
    neg = xp.max((1.0 - y) * y_pred, axis=axis)
    return _relu(be, neg - pos + 1.0)


@loss(arrays=("class_weight",))
def multiclass_hinge(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    margin: float = 1.0,
    squared: bool = False,
    class_weight: Any = None,
    axis: int = -1,
) -> Any:
    """Multiclass hinge loss (Weston-Watkins) with integer labels, no one-hot.

    With ``s`` the class scores along ``axis``, ``y`` the label and ``w`` the class
    weights (1 by default)::

        loss = w_y * sum_{j != y} max(0, s_j - s_y + margin)        (squared: the squares)

    computed as one gather and one class-axis sum; the ``j = y`` term equals
    ``max(0, margin)`` (squared: its square) and is subtracted.

    Parameters
    ----------
    y_true : integer array, shape of y_pred without ``axis`` (a size-1 axis is allowed)
        Labels in [0, K).
    y_pred : array, shape (..., K, ...)
        Class scores. Decides the backend.
    margin : float
    squared : bool
        Sum squared hinge terms (torch's ``p=2``).
    class_weight : array, shape (K,), optional
        torch's ``weight``: the label's weight ``w_y`` multiplies the sample's loss and is
        its weight in ``"mean_with_sample_weight"`` (torch's ``"mean"`` divides by N:
        ``"sum_over_batch_size"`` here).
    axis : int
        The class axis.
    sample_weight, reduction : see :func:`hinge`.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    ``torch.nn.functional.multi_margin_loss(y_pred, y_true, p=1 (2 with
    squared=True), margin=margin, weight=class_weight, reduction="none")`` divides the
    sum by the number of classes C: ours * (1 / C) = torch's. Labels outside [0, K) raise a ValueError
    where they can be checked without a device synchronisation and give NaN
    otherwise.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> s = np.array([[10.0, -2.0, 3.0], [10.0, 9.0, 9.0], [10.0, -100.0, -100.0], [0.0, 0.5, -1.0]])
    >>> ul.multiclass_hinge(np.array([0, 0, 0, 0]), s).tolist()
    [0.0, 0.0, 0.0, 1.5]
    """
    xp = be.xp
    t = sparse_targets(be, y_true, y_pred, axis, class_weight=class_weight)
    s_y = be.gather(y_pred, t.safe, t.axis)
    h = _relu(be, y_pred - xp.expand_dims(s_y, axis=t.axis) + margin)
    own = _relu(be, xp.zeros_like(s_y) + margin)  # the j = y term, max(margin, 0), rounded as in h
    if squared:
        h, own = h * h, own * own
    values = xp.sum(h, axis=t.axis) - own
    return t.per_sample(be, values if t.weight is None else t.weight * values)


# ----------------------------------------------------------- soft margins
@loss()
def soft_margin(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Soft margin (logistic) loss for labels in {-1, 1} and real-valued scores.

    ::

        loss = mean_axis( log(1 + exp(-y * y_pred)) )

    computed as a softplus (stable for large scores).

    Parameters
    ----------
    y_true : array, shape (..., D)
        Labels in {-1, 1}.
    y_pred : array, shape (..., D)
        Scores. Decides the backend.
    axis : int or None
        Axis averaged over; ``None`` returns per-element values.
    sample_weight, reduction : see :func:`hinge`.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``.

    Notes
    -----
    ``torch.nn.functional.soft_margin_loss(y_pred, y_true, reduction="none")`` is
    ``axis=None``; torch's ``"mean"`` is ``"sum_over_batch_size"`` with ``axis=None``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.soft_margin(np.array([[1.0, -1.0]]), np.array([[0.0, -40.0]])).round(6).tolist()
    [0.346574]
    """
    y = float_targets(be, y_true, y_pred)
    return mean_over(be, be.softplus(-y * y_pred), axis)


@loss(arrays=("class_weight",))
def multilabel_soft_margin(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    class_weight: Any = None,
    axis: int = -1,
) -> Any:
    """Multi-label soft margin loss: per-class logistic losses averaged over the classes.

    With ``y`` in {0, 1} per class, ``z`` the logits and ``w`` the class weights::

        loss = -(1 / C) sum_c w_c (y_c log sigmoid(z_c) + (1 - y_c) log sigmoid(-z_c))

    Parameters
    ----------
    y_true : array, shape (..., C, ...)
        Targets in {0, 1} (soft targets in [0, 1] are allowed).
    y_pred : array, same shape
        Logits. Decides the backend.
    class_weight : array, shape (C,), optional
        torch's ``weight``.
    axis : int
        The class axis.
    sample_weight, reduction : see :func:`hinge`.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``torch.nn.functional.multilabel_soft_margin_loss(y_pred, y_true,
    weight=class_weight, reduction="none")``; torch's ``"mean"`` is
    ``"sum_over_batch_size"``. Without class weights it equals
    :func:`unilosses.binary_crossentropy` with ``from_logits=True``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.multilabel_soft_margin(np.array([[1.0, 0.0]]), np.array([[0.0, 30.0]])).round(6).tolist()
    [15.346574]
    """
    xp = be.xp
    axis = class_axis(axis, y_pred.ndim)
    y = float_targets(be, y_true, y_pred)
    log_p, log_1mp = binary_log_probs(be, y_pred, True, 0.0)
    terms = -(y * log_p + (1.0 - y) * log_1mp)
    if class_weight is None:
        return xp.mean(terms, axis=axis)
    num_classes = count_classes(y_pred, axis)
    check_class_weight(class_weight, num_classes)
    return be.classdot(terms, class_weight, axis) / num_classes


# ------------------------------------------------- pair and triplet losses
@loss(inputs=("x1", "x2", "target"))
def margin_ranking(be: Any, x1: Any, x2: Any, target: Any, *, margin: float = 0.0) -> Any:
    """Margin ranking loss: ``x1`` should rank above ``x2`` where ``target`` is 1, below where -1.

    ::

        loss = max(0, -target * (x1 - x2) + margin)

    Parameters
    ----------
    x1 : array, shape (N,) or any shape
        Scores. Decides the backend and dtype.
    x2 : array, broadcastable to x1's shape
    target : array, broadcastable to x1's shape
        1 or -1.
    margin : float
    sample_weight, reduction : see :func:`hinge`.

    Returns
    -------
    array, x1's shape (one value per row for 1-D scores) with ``reduction="none"``.

    Notes
    -----
    Matches ``torch.nn.functional.margin_ranking_loss(x1, x2, target, margin,
    reduction="none")``; torch's ``"mean"`` is ``"sum_over_batch_size"``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.margin_ranking(np.array([1.0, 1.0]), np.array([0.5, 0.5]), np.array([1, -1]), margin=0.1).tolist()
    [0.0, 0.6]
    """
    shape = _shape(x1)
    check_broadcasts("x2", x2, shape, "x1")
    check_broadcasts("target", target, shape, "x1")
    return _relu(be, -_as(be, target, x1) * (x1 - x2) + margin)


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
    sample_weight, reduction : see :func:`hinge`.

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
    shape = _shape(anchor)
    if len(shape) < 1:
        raise ValueError(f"anchor: expected embeddings of shape (..., D), got shape {shape}")
    check_broadcasts("positive", positive, shape, "anchor")
    check_broadcasts("negative", negative, shape, "anchor")
    d_pos = _distance(be, anchor, positive, p, eps)
    d_neg = _distance(be, anchor, negative, p, eps)
    if swap:
        d_neg = be.xp.minimum(d_neg, _distance(be, positive, negative, p, eps))
    return _relu(be, d_pos - d_neg + margin)


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
    sample_weight, reduction : see :func:`hinge`.

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
    shape = _shape(x1)
    if len(shape) < 1:
        raise ValueError(f"x1: expected embeddings of shape (..., D), got shape {shape}")
    check_broadcasts("x2", x2, shape, "x1")
    check_broadcasts("target", target, shape[:-1], "x1 without its last axis")
    dot = xp.sum(x1 * x2, axis=-1)
    sq1 = xp.sum(x1 * x1, axis=-1) + 1e-12
    sq2 = xp.sum(x2 * x2, axis=-1) + 1e-12
    cos = dot / xp.sqrt(sq1 * sq2)
    zero = xp.zeros_like(cos)
    return xp.where(target == 1, 1.0 - cos, zero) + xp.where(target == -1, _relu(be, cos - margin), zero)


# ------------------------------------------------------------------ classes
class Hinge(Loss):
    """Class form of :func:`hinge` (``keras.losses.Hinge``)."""

    function = hinge


class SquaredHinge(Loss):
    """Class form of :func:`squared_hinge` (``keras.losses.SquaredHinge``)."""

    function = squared_hinge


class CategoricalHinge(Loss):
    """Class form of :func:`categorical_hinge` (``keras.losses.CategoricalHinge``)."""

    function = categorical_hinge


class MulticlassHinge(Loss):
    """Class form of :func:`multiclass_hinge` (``torch.nn.MultiMarginLoss`` times C)."""

    function = multiclass_hinge


class SoftMargin(Loss):
    """Class form of :func:`soft_margin` (``torch.nn.SoftMarginLoss`` with ``axis=None``)."""

    function = soft_margin


class MultilabelSoftMargin(Loss):
    """Class form of :func:`multilabel_soft_margin` (``torch.nn.MultiLabelSoftMarginLoss``)."""

    function = multilabel_soft_margin


class MarginRanking(Loss):
    """Class form of :func:`margin_ranking` (``torch.nn.MarginRankingLoss``); called as ``(x1, x2, target)``."""

    function = margin_ranking


class TripletMargin(Loss):
    """Class form of :func:`triplet_margin` (``torch.nn.TripletMarginLoss``); called as ``(anchor, positive, negative)``."""

    function = triplet_margin


class CosineEmbedding(Loss):
    """Class form of :func:`cosine_embedding` (``torch.nn.CosineEmbeddingLoss``); called as ``(x1, x2, target)``."""

    function = cosine_embedding
