"""Sparsemax losses (Martins & Astudillo, 2016): binary and multiclass.

The Fenchel-Young losses of the Gini entropy (Blondel et al., 2020): like the
logistic and softmax cross-entropies, but their probability maps
(``sparse_sigmoid``, ``sparsemax``) reach exactly 0 and 1, and the loss is 0
as soon as the prediction is right with a margin. The gradient with respect
to the scores is ``probabilities - target``.
"""

from __future__ import annotations

from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.rules import is_zero
from unilosses.shapes import float_targets, mean_over, sparse_targets
from unilosses.smoothing import smooth_binary

__all__ = [
    "MulticlassSparsemax",
    "Sparsemax",
    "multiclass_sparsemax",
    "sparsemax",
]


def _sparse_plus(be: Any, x: Any) -> Any:
    """``0`` for ``x <= -1``, ``(x + 1)^2 / 4`` for ``|x| < 1``, ``x`` for ``x >= 1`` (as wheres:
    the derivative at the joins is the one-sided value, not a sum of two clips' gradients)."""
    xp = be.xp
    middle = (x + 1.0) * (x + 1.0) / 4.0
    return xp.where(x >= 1.0, x, xp.where(x <= -1.0, 0.0, middle))


@loss()
def sparsemax(be: Any, y_true: Any, y_pred: Any, *, label_smoothing: float = 0.0, axis: Any = -1) -> Any:
    """Binary sparsemax loss between targets in {0, 1} and scores.

    With ``z`` the score and ``sparse_plus(x)`` = 0 for ``x <= -1``, ``(x + 1)^2 / 4``
    for ``|x| < 1``, ``x`` for ``x >= 1``::

        loss = mean_axis( sparse_plus(z) - y z + y (y - 1) )

    which is ``sparse_plus(-z)`` for ``y = 1`` and ``sparse_plus(z)`` for ``y = 0``;
    the gradient with respect to ``z`` is ``sparse_sigmoid(z) - y``, with
    ``sparse_sigmoid(z) = clip((z + 1) / 2, 0, 1)``. Soft targets in [0, 1] give
    the Fenchel-Young loss of that target (0 where ``sparse_sigmoid(z) = y``);
    ``label_smoothing=e`` uses ``y (1 - e) + 0.5 e``.

    Parameters
    ----------
    y_true : array, shape (..., D)
        Targets in {0, 1} (or soft, in [0, 1]); Python / NumPy values are converted.
    y_pred : array, shape (..., D)
        Scores (logits). Decides the backend.
    label_smoothing : float in [0, 1]
        Squeezes targets towards 0.5.
    axis : int or None
        Axis averaged over (Keras' convention); ``None`` returns per-element values.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    ``optax.losses.sparsemax_loss(logits, labels)`` (element-wise, 0/1 labels) is
    ``axis=None``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.sparsemax(np.array([[1.0, 0.0, 1.0]]), np.array([[0.0, -2.0, 3.0]]), axis=None)
    array([[0.25, 0.  , 0.  ]])
    """
    y = smooth_binary(float_targets(be, y_true, y_pred), label_smoothing)
    return mean_over(be, _sparse_plus(be, y_pred) - y * y_pred + y * (y - 1.0), axis)


def sparsemax_threshold(be: Any, scores: Any, axis: int) -> Any:
    """``tau`` with ``sparsemax(z) = max(z - tau, 0)`` along ``axis`` (kept, of size 1).

    The Euclidean projection onto the simplex (Held et al., 1974): with ``u`` the
    scores sorted in decreasing order and ``k`` the number of ``j`` (from 1) with
    ``1 + j u_j > u_1 + ... + u_j``, ``tau = (u_1 + ... + u_k - 1) / k``. Written
    with one sort, one cumulative sum and masked sums: no data-dependent shape, so it
    traces under ``jax.jit``, ``torch.compile`` and ``tf.function``, and autodiff
    through it gives the exact (piecewise-linear) derivative.
    """
    xp = be.xp
    u = xp.sort(scores, axis=axis, descending=True)
    k = scores.shape[axis]
    shape = [1] * scores.ndim
    shape[axis] = k
    j = xp.reshape(xp.arange(1, k + 1, dtype=scores.dtype, device=be.device(scores)), tuple(shape))
    support = 1.0 + j * u > be.cumulative_sum(u, axis)
    mask = xp.astype(support, scores.dtype)
    size = xp.sum(mask, axis=axis, keepdims=True)
    return (xp.sum(u * mask, axis=axis, keepdims=True) - 1.0) / size


@loss(arrays=("class_weight",))
def multiclass_sparsemax(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    ignore_index: Any = None,
    axis: int = -1,
) -> Any:
    """Multiclass sparsemax loss between integer labels and scores.

    With ``p = sparsemax(z) = max(z - tau, 0)`` the Euclidean projection of the
    scores ``z`` onto the probability simplex along ``axis`` (exact zeros
    outside a support; see :func:`sparsemax_threshold`) and ``y`` the label::

        loss = <p, z> - z_y + (1 - ||p||^2) / 2  =  tau - z_y + (1 + ||p||^2) / 2

    0 exactly when ``p`` is the one-hot of ``y``; its gradient with respect to
    ``z`` is ``p - onehot(y)``. With label smoothing ``e`` the target is
    ``q = (1 - e) onehot(y) + e / K`` (never built) and the loss its Fenchel-Young
    loss ``tau + (||p||^2 + ||q||^2) / 2 - <z, q>`` (gradient ``p - q``).

    Parameters
    ----------
    y_true : integer array, shape of y_pred without ``axis`` (a size-1 axis is allowed)
        Labels in [0, K).
    y_pred : array, shape (..., K, ...)
        Scores (logits). Decides the backend.
    label_smoothing : float in [0, 1]
        Smooths the one-hot target towards ``e / K``.
    class_weight : array, shape (K,), optional
        Multiplies each sample's loss by the weight of its label (and is that
        sample's weight in ``"mean_with_sample_weight"``, as torch's ``weight``).
    ignore_index : int, optional
        Positions with this label give 0 and leave every denominator.
    axis : int
        The class axis (``1`` for torch's NCHW layout).

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    ``optax.losses.multiclass_sparsemax_loss(scores, labels)`` (classes last) is
    this loss with the defaults. Labels out of range raise a ValueError where they
    can be checked without a device synchronisation and give NaN otherwise.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> z = np.array([[2.0, 0.5, -1.0], [0.2, 0.1, 0.0]])
    >>> ul.multiclass_sparsemax(np.array([0, 2]), z).round(6)
    array([0.      , 0.443333])
    """
    t = sparse_targets(be, y_true, y_pred, axis, ignore_index, class_weight)
    xp = be.xp
    tau = sparsemax_threshold(be, y_pred, t.axis)
    p = xp.clip(y_pred - tau, min=0.0)
    values = xp.squeeze(tau, axis=t.axis) + 0.5 * xp.sum(p * p, axis=t.axis)
    z_y = be.gather(y_pred, t.safe, t.axis)
    e = label_smoothing
    if is_zero(e):
        values = values + 0.5 - z_y
    else:  # <z, q> and ||q||^2 / 2 of the smoothed one-hot q
        k = t.num_classes
        values = values + 0.5 * ((1.0 - e) ** 2 + (2.0 * (1.0 - e) * e + e * e) / k)
        values = values - (1.0 - e) * z_y - e * xp.mean(y_pred, axis=t.axis)
    if t.weight is not None:
        values = values * t.weight
    return t.per_sample(be, values)


class Sparsemax(FunctionLoss):
    """Class form of :func:`sparsemax` (``optax.losses.sparsemax_loss`` with ``axis=None``)."""

    function = sparsemax


class MulticlassSparsemax(FunctionLoss):
    """Class form of :func:`multiclass_sparsemax` (``optax.losses.multiclass_sparsemax_loss``)."""

    function = multiclass_sparsemax
