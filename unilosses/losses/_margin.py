"""Margin losses with a label per element: hinge, squared hinge, perceptron, soft margins.

Labels in {-1, 1} (or {0, 1}, mapped as Keras does for the hinge losses) and one
real-valued score per label; the per-sample value is the mean over ``axis``
(Keras), and ``axis=None`` gives torch's and optax's element-wise values.
Multiclass margins (one label per sample, a score per class) are in
:mod:`unilosses.losses.multiclass_margin`; pair and triplet losses in
:mod:`unilosses.losses.embedding` and :mod:`unilosses.losses.ranking`.
"""

from __future__ import annotations

from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.logits import binary_log_probs
from unilosses.shapes import (
    check_class_weight,
    class_axis,
    count_classes,
    float_targets,
    mean_over,
)
from unilosses.shapes import relu as _relu

__all__ = [
    "Hinge",
    "MultilabelSoftMargin",
    "Perceptron",
    "SoftMargin",
    "SquaredHinge",
    "hinge",
    "multilabel_soft_margin",
    "perceptron",
    "soft_margin",
    "squared_hinge",
]


# ------------------------------------------------------------------ helpers
def _hinge_labels(be: Any, y: Any) -> Any:
    """Keras: labels in {0, 1} become {-1, 1}, but only when every label is 0 or 1.

    Decided by a reduction inside ``where`` (no Python branch on values), so it
    traces under ``jax.jit``, ``tf.function`` and ``torch.compile``.
    """
    xp = be.xp
    binary = xp.all(xp.logical_or(xp.equal(y, 0.0), xp.equal(y, 1.0)))
    return xp.where(binary, 2.0 * y - 1.0, y)


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
def perceptron(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Perceptron loss for labels in {-1, 1} (or {0, 1}) and real-valued scores.

    ::

        loss = mean_axis( max(0, -y * y_pred) )

    (the hinge loss with margin 0: only wrong signs cost), with labels mapped from
    {0, 1} to {-1, 1} as in :func:`hinge`.

    Parameters
    ----------
    y_true : array, shape (..., D)
        Labels in {-1, 1} or {0, 1}.
    y_pred : array, shape (..., D)
        Scores. Decides the backend.
    axis : int or None
        Axis averaged over; ``None`` returns per-element values.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``.

    Notes
    -----
    ``optax.perceptron_loss(y_pred, y_true)`` (labels in {-1, 1}) is ``axis=None``.
    optax reads {0, 1} labels as given (a label 0 then costs nothing); here they are
    mapped to {-1, 1} when every label is 0 or 1, as the hinge losses do (Keras).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.perceptron(np.array([[1.0, -1.0], [1.0, 1.0]]), np.array([[0.5, 2.0], [-3.0, 1.0]])).tolist()
    [1.0, 1.5]
    """
    y = _hinge_labels(be, float_targets(be, y_true, y_pred))
    return mean_over(be, _relu(be, -y * y_pred), axis)


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


# ------------------------------------------------------------------ classes
class Hinge(FunctionLoss):
    """Class form of :func:`hinge` (``keras.losses.Hinge``)."""

    function = hinge


class SquaredHinge(FunctionLoss):
    """Class form of :func:`squared_hinge` (``keras.losses.SquaredHinge``)."""

    function = squared_hinge


class Perceptron(FunctionLoss):
    """Class form of :func:`perceptron` (``optax.perceptron_loss`` with ``axis=None``)."""

    function = perceptron


class SoftMargin(FunctionLoss):
    """Class form of :func:`soft_margin` (``torch.nn.SoftMarginLoss`` with ``axis=None``)."""

    function = soft_margin


class MultilabelSoftMargin(FunctionLoss):
    """Class form of :func:`multilabel_soft_margin` (``torch.nn.MultiLabelSoftMarginLoss``)."""

    function = multilabel_soft_margin
