"""Multiclass margin losses: class scores against class labels.

One label per sample (an integer, or a one-hot vector for Keras'
``categorical_hinge``) and one score per class along ``axis``:

- ``categorical_hinge`` (Keras): one-hot targets;
- ``multiclass_hinge`` (Weston-Watkins, torch's ``multi_margin_loss``): a hinge
  term for every wrong class, summed;
- ``crammer_singer_hinge`` (Crammer-Singer, optax's ``multiclass_hinge_loss``):
  one hinge term, for the best-scoring wrong class;
- ``multiclass_perceptron`` (optax): Crammer-Singer with margin 0;
- ``multilabel_margin`` (torch's ``multilabel_margin_loss``): Weston-Watkins over
  a list of target classes per sample, ended by -1.
"""

from __future__ import annotations

from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.shapes import (
    class_axis,
    count_classes,
    float_targets,
    sparse_targets,
)
from unilosses.shapes import relu as _relu

__all__ = [
    "CategoricalHinge",
    "CrammerSingerHinge",
    "MulticlassHinge",
    "MulticlassPerceptron",
    "MultilabelMargin",
    "categorical_hinge",
    "crammer_singer_hinge",
    "multiclass_hinge",
    "multiclass_perceptron",
    "multilabel_margin",
]


def _class_index(be: Any, y_pred: Any, axis: int) -> Any:
    """0, 1, ..., K - 1 along ``axis`` (size 1 elsewhere), on y_pred's device."""
    xp = be.xp
    k = y_pred.shape[axis]
    shape = [1] * y_pred.ndim
    shape[axis] = k
    return xp.reshape(xp.arange(k, dtype=be.index_dtype, device=be.device(y_pred)), tuple(shape))


# ------------------------------------------------------------------ losses
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

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    ``torch.nn.functional.multi_margin_loss(y_pred, y_true, p=1 (2 with
    squared=True), margin=margin, weight=class_weight, reduction="none")`` divides the
    sum by the number of classes C: ours * (1 / C) = torch's. Labels outside [0, K) raise a ValueError
    where they can be checked without a device synchronisation and give NaN
    otherwise. optax's ``multiclass_hinge_loss`` is the other multiclass SVM
    (Crammer-Singer, one term for the best wrong class): :func:`crammer_singer_hinge`.

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


@loss()
def crammer_singer_hinge(be: Any, y_true: Any, y_pred: Any, *, margin: float = 1.0, axis: int = -1) -> Any:
    """Multiclass hinge loss (Crammer-Singer) with integer labels: the best wrong class only.

    With ``s`` the class scores along ``axis`` and ``y`` the label::

        loss = max_c (s_c + margin * [c != y]) - s_y
             = max(0, max_{c != y} s_c + margin - s_y)        (margin >= 0)

    One hinge term per sample, for the highest-scoring wrong class, where
    :func:`multiclass_hinge` (Weston-Watkins) sums a term for every wrong class.

    Parameters
    ----------
    y_true : integer array, shape of y_pred without ``axis`` (a size-1 axis is allowed)
        Labels in [0, K).
    y_pred : array, shape (..., K, ...)
        Class scores. Decides the backend.
    margin : float
        Any finite number; 0 gives :func:`multiclass_perceptron`.
    axis : int
        The class axis.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    ``optax.multiclass_hinge_loss(y_pred, y_true)`` is ``margin=1.0`` (optax's
    class axis is -1). Keras' ``categorical_hinge`` differs: its "best wrong
    class" is ``max_c (1 - onehot_c) s_c``, which counts the true class as a
    score of 0. Labels outside [0, K) raise a ValueError where they can be checked
    without a device synchronisation and give NaN otherwise.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> s = np.array([[2.0, 1.5, 1.8], [0.0, 3.0, -1.0]])
    >>> ul.crammer_singer_hinge(np.array([0, 0]), s).round(6).tolist()  # 1.8 + 1 - 2 and 3 + 1 - 0
    [0.8, 4.0]
    >>> ul.multiclass_hinge(np.array([0, 0]), s).round(6).tolist()  # every wrong class: 0.5 + 0.8
    [1.3, 4.0]
    """
    xp = be.xp
    t = sparse_targets(be, y_true, y_pred, axis)
    s_y = be.gather(y_pred, t.safe, t.axis)
    own = xp.equal(_class_index(be, y_pred, t.axis), xp.expand_dims(t.safe, axis=t.axis))
    best = xp.max(xp.where(own, y_pred, y_pred + margin), axis=t.axis)
    return t.per_sample(be, best - s_y)


@loss()
def multiclass_perceptron(be: Any, y_true: Any, y_pred: Any, *, axis: int = -1) -> Any:
    """Multiclass perceptron loss with integer labels: how far the label's score is from the best.

    With ``s`` the class scores along ``axis`` and ``y`` the label::

        loss = max_c s_c - s_y

    (:func:`crammer_singer_hinge` with ``margin=0``): 0 exactly when the label scores
    highest.

    Parameters
    ----------
    y_true : integer array, shape of y_pred without ``axis`` (a size-1 axis is allowed)
        Labels in [0, K).
    y_pred : array, shape (..., K, ...)
        Class scores. Decides the backend.
    axis : int
        The class axis.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``optax.multiclass_perceptron_loss(y_pred, y_true)`` (optax's class axis
    is -1). Labels outside [0, K) raise a ValueError where they can be checked
    without a device synchronisation and give NaN otherwise.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.multiclass_perceptron(np.array([0, 1]), np.array([[2.0, 0.5, 1.8], [0.0, 3.0, -1.0]])).tolist()
    [0.0, 0.0]
    >>> ul.multiclass_perceptron(np.array([2, 0]), np.array([[2.0, 0.5, 1.5], [0.0, 3.0, -1.0]])).tolist()
    [0.5, 3.0]
    """
    t = sparse_targets(be, y_true, y_pred, axis)
    s_y = be.gather(y_pred, t.safe, t.axis)
    return t.per_sample(be, be.xp.max(y_pred, axis=t.axis) - s_y)


@loss()
def multilabel_margin(be: Any, y_true: Any, y_pred: Any, *, axis: int = -1) -> Any:
    """Multi-label margin loss (torch): every target class should outscore every other class by 1.

    ``y_true`` lists each sample's target classes along ``axis``, in its first
    positions, ended by -1 (the positions after the first -1 are not read)::

        y_true[n] = [3, 0, -1, 1]   ->   targets {3, 0}

    With ``s`` the class scores, ``T`` the targets (a class listed twice counts
    twice, as in torch) and ``C`` the number of classes::

        loss = (1 / C) sum_{j in T} sum_{i not in T} max(0, 1 - (s_j - s_i))

    A sample with no target (``y_true`` starting with -1) has loss 0.

    Parameters
    ----------
    y_true : integer array, y_pred's shape
        Target classes in [0, C), each sample's list ended by -1 (every entry must
        lie in [-1, C), as torch requires).
    y_pred : array, shape (..., C, ...)
        Class scores (a 0-d score: one sample of one class, as torch takes it). Decides the backend.
    axis : int
        The class axis (of both inputs).

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``torch.nn.functional.multilabel_margin_loss(y_pred, y_true,
    reduction="none")``; torch's ``"mean"`` is ``"sum_over_batch_size"``. Written
    with ``where`` over a (C, C) comparison per sample (no loop over the labels),
    so it takes O(N C^2) memory for N samples (torch's kernel loops, in O(N C)).
    A label outside [-1, C) raises a ValueError where it can be checked without a
    device synchronisation and gives NaN for its sample otherwise.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> s = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> ul.multilabel_margin(np.array([[3, 0, -1, 1]]), s).round(6).tolist()  # targets {3, 0}
    [0.85]
    >>> ul.multilabel_margin(np.array([[-1, 1, 2, 3]]), s).tolist()  # no target
    [0.0]
    """
    xp = be.xp
    if y_pred.ndim == 0 and axis in (-1, 0):  # torch: a 0-d score is one sample of one class
        y_pred = xp.reshape(y_pred, (1,))
        y_true = xp.reshape(y_true, (1,)) if tuple(y_true.shape) == () else y_true
    axis = class_axis(axis, y_pred.ndim)
    k = count_classes(y_pred, axis)
    ps, ts = tuple(y_pred.shape), tuple(y_true.shape)
    if ts != ps:
        raise ValueError(
            f"y_true: expected integer class indices of y_pred's shape {ps} (each sample's list "
            f"ended by -1), got {ts}"
        )
    if not be.is_integer(y_true.dtype):
        raise TypeError(f"y_true: expected integer class indices (-1 ends a sample's list), got dtype {y_true.dtype}")
    labels = xp.astype(y_true, be.index_dtype)
    bad = None
    if be.concrete(y_pred):
        if not be.labels_in_range(labels, k, -1):
            raise ValueError(
                f"y_true: expected class indices in [0, {k - 1}], or -1 to end a sample's list; "
                "got a label outside that range"
            )
    else:
        bad = xp.any(xp.logical_or(labels < -1, labels >= k), axis=axis)
    if axis != y_pred.ndim - 1:  # the class axis last: positions j, classes i
        order = (*range(axis), *range(axis + 1, y_pred.ndim), axis)
        labels, y_pred = xp.permute_dims(labels, order), xp.permute_dims(y_pred, order)
    pos = xp.arange(k, dtype=be.index_dtype, device=be.device(y_pred))
    # position j is read while no -1 came at or before it: [j, j'] = j' <= j
    upto = xp.expand_dims(pos, axis=1) >= xp.expand_dims(pos, axis=0)
    ended = xp.any(xp.logical_and(xp.expand_dims(labels < 0, axis=-2), upto), axis=-1)
    active = xp.logical_not(ended)  # (..., C) by position
    match = xp.logical_and(xp.equal(xp.expand_dims(labels, axis=-1), pos), xp.expand_dims(active, axis=-1))  # [j, i]
    is_target = xp.any(match, axis=-2)  # (..., C) by class
    scores = xp.expand_dims(y_pred, axis=-2)  # [., i]
    s_target = xp.sum(xp.where(match, scores, xp.zeros_like(scores)), axis=-1)  # [j]
    h = _relu(be, 1.0 - xp.expand_dims(s_target, axis=-1) + scores)  # [j, i]
    keep = xp.logical_and(xp.expand_dims(active, axis=-1), xp.expand_dims(xp.logical_not(is_target), axis=-2))
    values = xp.sum(xp.sum(xp.where(keep, h, xp.zeros_like(h)), axis=-1), axis=-1) / k
    return values if bad is None else xp.where(bad, float("nan"), values)


# ------------------------------------------------------------------ classes
class CategoricalHinge(FunctionLoss):
    """Class form of :func:`categorical_hinge` (``keras.losses.CategoricalHinge``)."""

    function = categorical_hinge


class MulticlassHinge(FunctionLoss):
    """Class form of :func:`multiclass_hinge` (``torch.nn.MultiMarginLoss`` times C)."""

    function = multiclass_hinge


class CrammerSingerHinge(FunctionLoss):
    """Class form of :func:`crammer_singer_hinge` (``optax.multiclass_hinge_loss``)."""

    function = crammer_singer_hinge


class MulticlassPerceptron(FunctionLoss):
    """Class form of :func:`multiclass_perceptron` (``optax.multiclass_perceptron_loss``)."""

    function = multiclass_perceptron


class MultilabelMargin(FunctionLoss):
    """Class form of :func:`multilabel_margin` (``torch.nn.MultiLabelMarginLoss``)."""

    function = multilabel_margin
