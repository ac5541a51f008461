"""Segmentation losses: Dice and Tversky (Keras' definitions).

Each function is the specification: written once over an Array API namespace,
it runs on NumPy, JAX, PyTorch, TensorFlow and any Array API library.

Per-sample values: with ``axis=None`` (the default) the sums run over every
axis but the first, so each sample (an image, a volume) gets one value, as
Keras' ``dice(y_true, y_pred, axis=(1, ..., ndim - 1))``; an integer ``axis``
or a tuple of axes sums over those axes only, as Keras' ``axis=axis`` (``axis=(1,
2)`` on (N, H, W, C) masks: one value per sample and channel). Keras' own default
(``axis=None`` there) is one Dice value for the whole batch: pass the batch as
one sample, ``dice(y_true.reshape(1, -1), y_pred.reshape(1, -1))``.
"""

from __future__ import annotations

from typing import Any

from unilosses.loss import Loss, axes, in_range, loss
from unilosses.losses._common import class_axis, float_targets

__all__ = ["Dice", "Tversky", "dice", "tversky"]

#: Keras' ``backend.epsilon()``, added to the denominators
_EPSILON = 1e-7


def _reduce_axes(axis: Any, ndim: int) -> Any:
    """The axes the sums run over: all but the first for ``None``, else ``axis`` (an int or a tuple)."""
    if isinstance(axis, tuple):
        out = tuple(sorted(class_axis(a, ndim) for a in axis))
        if len(set(out)) != len(out):
            raise ValueError(f"axis: expected distinct axes, got {axis} for y_pred of rank {ndim}")
        return out
    if axis is not None:
        return class_axis(axis, ndim)
    if ndim < 2:
        raise ValueError(
            f"y_pred: expected a batch of shape (batch, ...) with at least 2 axes for axis=None, "
            f"got {ndim} axis; pass axis=0 for a single sample"
        )
    return tuple(range(1, ndim))


@loss(rules={"axis": axes})
def dice(be: Any, y_true: Any, y_pred: Any, *, axis: Any = None) -> Any:
    """Dice loss: one minus the soft Dice coefficient.

    With the sums over every axis but the first (``axis=None``) or over ``axis``::

        loss = 1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + 1e-7)

    Parameters
    ----------
    y_true : array, shape (N, ...)
        Target masks (binary or soft, in [0, 1]); Python / NumPy values are
        converted to y_pred's framework.
    y_pred : array, same shape
        Predicted probabilities. Decides the backend.
    axis : int, tuple of ints, or None
        ``None``: one value per sample, summing over all axes but the first
        (Keras' ``axis=(1, ..., ndim - 1)``); an int or a tuple: the axes summed
        over (Keras' ``axis=axis``, removed from the output).
    sample_weight : array broadcastable to the per-sample loss, optional
    reduction : str
        See :class:`unilosses.Reduction`; ``"none"`` by default.

    Returns
    -------
    array
        Shape (N,) (``axis=None``) or y_pred's shape without the ``axis`` axes for
        ``reduction="none"``, a scalar otherwise.

    Notes
    -----
    Matches ``keras.losses.dice(y_true, y_pred, axis=(1, ..., ndim - 1))`` (and
    ``keras.losses.dice(..., axis=axis)`` for an int); the 1e-7 is Keras'
    ``backend.epsilon()``. Keras' default ``axis=None`` gives one value for the
    whole batch: the batch reshaped to one sample here. optax's
    ``dice_loss`` adds ``smooth`` (1 by default) to both numerator and
    denominator; with ``smooth=0`` it is :func:`tversky` with the roles of
    ``alpha`` and ``beta`` swapped.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
    >>> p = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])
    >>> ul.dice(y, p).round(6)
    array([0.5     , 0.757576])
    """
    y = float_targets(be, y_true, y_pred)
    axes = _reduce_axes(axis, y_pred.ndim)
    xp = be.xp
    intersection = xp.sum(y * y_pred, axis=axes)
    return 1.0 - 2.0 * intersection / (xp.sum(y, axis=axes) + xp.sum(y_pred, axis=axes) + _EPSILON)


@loss(rules={"alpha": in_range(0.0, float("inf")), "beta": in_range(0.0, float("inf")), "axis": axes})
def tversky(be: Any, y_true: Any, y_pred: Any, *, alpha: float = 0.5, beta: float = 0.5, axis: Any = None) -> Any:
    """Tversky loss: one minus the Tversky index, a Dice with weighted error terms.

    With the sums over every axis but the first (``axis=None``) or over ``axis``,
    and Keras' names for the two error sums::

        I  = sum(y_true * y_pred)
        fp = sum(y_true * (1 - y_pred))     # weighted by alpha
        fn = sum((1 - y_true) * y_pred)     # weighted by beta
        loss = 1 - I / (I + alpha * fp + beta * fn + 1e-7)

    ``alpha = beta = 0.5`` is :func:`dice` (up to the epsilon: 2e-7 there).

    Parameters
    ----------
    y_true, y_pred : array, shape (N, ...)
        See :func:`dice`.
    alpha : float >= 0
        Weight of ``sum(y_true * (1 - y_pred))``: the mass of the targets that
        the prediction misses.
    beta : float >= 0
        Weight of ``sum((1 - y_true) * y_pred)``: the predicted mass outside the
        targets.
    axis : int, tuple of ints, or None
        See :func:`dice`.
    sample_weight, reduction
        See :func:`dice`.

    Returns
    -------
    array, shape (N,) (``axis=None``) or y_pred's shape without the ``axis`` axes (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``keras.losses.tversky(y_true, y_pred, alpha, beta, axis=(1, ...,
    ndim - 1))``. Keras' docstring says ``alpha`` controls false positives, but
    its code multiplies ``alpha`` by ``sum(y_true * (1 - y_pred))`` (what
    Salehi et al. and optax call false negatives); unilosses follows the code.
    ``optax.dice_loss(logit(y_pred)[..., None], y_true[..., None], alpha=a,
    beta=b, smooth=0, axis=(1, ..., ndim - 1))`` is ``tversky(alpha=b, beta=a)``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, p = np.array([[1.0, 1.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 1.0, 1.0]])
    >>> ul.tversky(y, p, alpha=1.0, beta=0.25).round(6)
    array([0.6])
    """
    y = float_targets(be, y_true, y_pred)
    axes = _reduce_axes(axis, y_pred.ndim)
    xp = be.xp
    intersection = xp.sum(y * y_pred, axis=axes)
    missed = xp.sum(y * (1.0 - y_pred), axis=axes)
    extra = xp.sum((1.0 - y) * y_pred, axis=axes)
    return 1.0 - intersection / (intersection + alpha * missed + beta * extra + _EPSILON)


class Dice(Loss):
    """Class form of :func:`dice` (``keras.losses.Dice(axis=(1, ..., ndim - 1))``)."""

    function = dice


class Tversky(Loss):
    """Class form of :func:`tversky` (``keras.losses.Tversky(axis=(1, ..., ndim - 1))``)."""

    function = tversky
