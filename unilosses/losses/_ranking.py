"""Ranking losses: scores that should order items as their labels do.

- ``margin_ranking(x1, x2, target)`` (torch): pairs of scores, torch's argument order;
- ``ranking_softmax(y_true, y_pred)`` (optax): listwise, a softmax over each list
  of item scores against the items' relevance labels, with masks of valid items.
"""

from __future__ import annotations

from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.dims import shape_of
from unilosses.reduction import PerSample
from unilosses.shapes import check_broadcasts, class_axis, float_targets
from unilosses.shapes import relu as _relu

__all__ = [
    "MarginRanking",
    "RankingSoftmax",
    "margin_ranking",
    "ranking_softmax",
]


def _as(be: Any, x: Any, like: Any) -> Any:
    return x if x.dtype == like.dtype else be.xp.astype(x, like.dtype)


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
    shape = shape_of(x1)
    check_broadcasts("x2", x2, shape, "x1")
    check_broadcasts("target", target, shape, "x1")
    return _relu(be, -_as(be, target, x1) * (x1 - x2) + margin)


@loss(arrays=("where", "item_weight"))
def ranking_softmax(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    where: Any = None,
    item_weight: Any = None,
    axis: int = -1,
) -> Any:
    """Listwise ranking softmax loss: the cross-entropy of the items' softmax against their relevance.

    With ``s`` the scores of a list's items along ``axis``, ``y`` their relevance
    labels and ``w`` the item weights (1 by default)::

        loss = -sum_i w_i y_i log( exp(s_i) / sum_j exp(s_j) )

    The labels are not normalised (optax): a list whose labels are all 0 costs 0.
    Items where ``where`` is False leave the list: they are in neither sum, and a
    list with no valid item has loss 0 and leaves every count and weight sum of the
    reductions (as ignored labels do).

    Parameters
    ----------
    y_true : array, y_pred's shape
        Relevance labels (graded, or 0 / 1).
    y_pred : array, shape (..., L, ...)
        Item scores; lists along ``axis``. Decides the backend.
    where : boolean array broadcastable to y_pred's shape, optional
        The valid items.
    item_weight : array broadcastable to y_pred's shape, optional
        Multiplies each item's label (optax's ``weights``).
    axis : int
        The list axis.
    sample_weight, reduction : see :func:`hinge`; weights are per list.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    ``optax.losses.ranking_softmax_loss(y_pred, y_true, where=where,
    weights=item_weight)`` (its ``reduce_fn=jnp.mean``: the mean over the lists
    with a valid item) is ``reduction="sum_over_batch_size"``; ``reduce_fn=jnp.sum``
    is ``"sum"`` and ``reduce_fn=None`` is ``"none"`` (optax's list axis is -1).
    Masked scores are replaced before the softmax and masked log-probabilities
    after it (a safe ``where``): the gradient of a fully masked list is 0, not NaN.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> s, y = np.array([[2.0, 1.0, 3.0]]), np.array([[1.0, 0.0, 0.0]])
    >>> ul.ranking_softmax(y, s).round(3).tolist()
    [1.408]
    >>> keep = np.array([[True, True, False]])  # the third item leaves the list
    >>> ul.ranking_softmax(y, s, where=keep).round(3).tolist()
    [0.313]
    """
    xp = be.xp
    axis = class_axis(axis, y_pred.ndim)
    shape = shape_of(y_pred)
    if shape[axis] == 0:
        raise ValueError(f"y_pred: expected at least one item along the list axis {axis}, got shape {shape}")
    y = float_targets(be, y_true, y_pred)
    if item_weight is not None:
        check_broadcasts("item_weight", item_weight, shape)
        y = y * item_weight
    if where is None:
        return -xp.sum(y * be.log_softmax(y_pred, axis), axis=axis)
    check_broadcasts("where", where, shape)
    keep = xp.broadcast_to(xp.not_equal(where, 0), shape)  # array options come in y_pred's dtype
    zero = xp.zeros_like(y_pred)
    log_p = be.log_softmax(xp.where(keep, y_pred, xp.finfo(y_pred.dtype).min), axis)
    log_p = xp.where(keep, log_p, zero)
    values = -xp.sum(xp.where(keep, y, zero) * log_p, axis=axis)
    return PerSample(values, valid=xp.any(keep, axis=axis))


# ------------------------------------------------------------------ classes
class MarginRanking(FunctionLoss):
    """Class form of :func:`margin_ranking` (``torch.nn.MarginRankingLoss``); called as ``(x1, x2, target)``."""

    function = margin_ranking


class RankingSoftmax(FunctionLoss):
    """Class form of :func:`ranking_softmax` (``optax.losses.ranking_softmax_loss``)."""

    function = ranking_softmax
