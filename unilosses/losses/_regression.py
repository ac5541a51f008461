"""Regression losses: squared, absolute, percentage and log errors, Huber, smooth L1, log-cosh, cosine.

Each function is the specification: written once over an Array API namespace,
it runs on NumPy, JAX, PyTorch, TensorFlow and any Array API library.

Element-wise losses average over ``axis`` (default -1) like Keras; torch and
optax return element-wise values, which ``axis=None`` gives here, so
per-element weights apply before the reduction (TF v1's per-pixel weights:
``axis=None, reduction="sum_by_nonzero_weights"`` is
``tf.compat.v1.losses.mean_squared_error(labels, predictions, weights)``).
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.shapes import class_axis, float_targets, mean_over

__all__ = [
    "CosineSimilarity",
    "Huber",
    "LogCosh",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "SmoothL1",
    "cosine_similarity",
    "huber",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "smooth_l1",
]

#: Keras' ``backend.epsilon()``: the floor of |y_true| in MAPE, of the values in MSLE
_EPSILON = 1e-7
_LOG2 = math.log(2.0)


def _huber(be: Any, error: Any, delta: float) -> Any:
    """0.5 e^2 for |e| <= delta, delta (|e| - delta / 2) beyond (without a ``where``)."""
    xp = be.xp
    abs_error = xp.abs(error)
    quadratic = xp.clip(abs_error, max=delta)
    return 0.5 * quadratic * quadratic + delta * (abs_error - quadratic)


@loss()
def mean_squared_error(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Mean squared error.

    ::

        loss = mean_axis( (y_true - y_pred) ** 2 )

    Parameters
    ----------
    y_true : array, shape (..., D)
        Targets; Python / NumPy values are converted to y_pred's framework. A
        trailing size-1 axis may differ from y_pred's (Keras).
    y_pred : array, shape (..., D)
        Predictions. Decides the backend.
    axis : int or None
        Axis averaged over (Keras); ``None`` returns per-element values so that
        per-element weights apply before the reduction.

    Returns
    -------
    array
        Shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``,
        a scalar otherwise, or :class:`unilosses.LossStats` for ``"stats"``.

    Notes
    -----
    Matches ``keras.losses.mean_squared_error``. ``torch.nn.functional.mse_loss``
    and ``optax.squared_error`` are element-wise: ``axis=None`` (optax's
    ``l2_loss`` is half of it). torch's ``reduction="mean"`` (a mean over all
    elements) is ``reduction="sum_over_batch_size"`` here with either ``axis``;
    its ``"sum"`` is ``axis=None, reduction="sum"``; ``mse_loss(weight=w,
    reduction="mean")`` is ``axis=None, sample_weight=w,
    reduction="mean_with_sample_weight"``.
    ``tf.compat.v1.losses.mean_squared_error(labels, predictions, weights)`` is
    ``axis=None, sample_weight=weights, reduction="sum_by_nonzero_weights"``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.mean_squared_error(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]]))
    array([0.5, 0.5])
    """
    error = y_pred - float_targets(be, y_true, y_pred)
    return mean_over(be, error * error, axis)


@loss()
def mean_absolute_error(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Mean absolute error.

    ::

        loss = mean_axis( |y_true - y_pred| )

    Parameters
    ----------
    y_true, y_pred, axis, sample_weight, reduction
        See :func:`mean_squared_error`.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    Matches ``keras.losses.mean_absolute_error``. ``torch.nn.functional.l1_loss``
    is element-wise: ``axis=None`` (its ``"mean"`` is ``"sum_over_batch_size"``
    here). ``tf.compat.v1.losses.absolute_difference(labels, predictions,
    weights)`` is ``axis=None, sample_weight=weights,
    reduction="sum_by_nonzero_weights"``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.mean_absolute_error(np.array([[0.0, 1.0]]), np.array([[1.0, -1.0]]))
    array([1.5])
    """
    return mean_over(be, be.xp.abs(y_pred - float_targets(be, y_true, y_pred)), axis)


@loss()
def mean_absolute_percentage_error(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Mean absolute percentage error.

    ::

        loss = 100 * mean_axis( |y_true - y_pred| / max(|y_true|, 1e-7) )

    Parameters
    ----------
    y_true, y_pred, axis, sample_weight, reduction
        See :func:`mean_squared_error`.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    Matches ``keras.losses.mean_absolute_percentage_error`` (the floor 1e-7 is
    Keras' ``backend.epsilon()``). scikit-learn's
    ``mean_absolute_percentage_error`` is a fraction (no factor 100) with a
    floor of float64's machine epsilon.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.mean_absolute_percentage_error(np.array([[2.0, -4.0]]), np.array([[1.0, -5.0]]))
    array([37.5])
    """
    xp = be.xp
    y = float_targets(be, y_true, y_pred)
    return 100.0 * mean_over(be, xp.abs(y - y_pred) / xp.clip(xp.abs(y), min=_EPSILON), axis)


@loss()
def mean_squared_logarithmic_error(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Mean squared logarithmic error.

    ::

        loss = mean_axis( (log(1 + max(y_pred, 1e-7)) - log(1 + max(y_true, 1e-7))) ** 2 )

    Values below Keras' ``backend.epsilon()`` (1e-7), negative ones included,
    are raised to it.

    Parameters
    ----------
    y_true, y_pred, axis, sample_weight, reduction
        See :func:`mean_squared_error`.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    Matches ``keras.losses.mean_squared_logarithmic_error`` (computed with
    ``log1p``, which agrees with Keras' ``log(x + 1)`` to rounding).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, p = np.array([[np.e - 1.0]]), np.array([[0.0]])
    >>> ul.mean_squared_logarithmic_error(y, p).round(6)
    array([1.])
    """
    xp = be.xp
    y = float_targets(be, y_true, y_pred)
    diff = xp.log1p(xp.clip(y_pred, min=_EPSILON)) - xp.log1p(xp.clip(y, min=_EPSILON))
    return mean_over(be, diff * diff, axis)


@loss()
def huber(be: Any, y_true: Any, y_pred: Any, *, delta: float = 1.0, axis: Any = -1) -> Any:
    """Huber loss: quadratic for small errors, linear beyond ``delta``.

    With ``e = y_pred - y_true``::

        h(e) = 0.5 * e ** 2                    if |e| <= delta
               delta * (|e| - 0.5 * delta)     otherwise
        loss = mean_axis( h(e) )

    Parameters
    ----------
    y_true, y_pred : array, shape (..., D)
        See :func:`mean_squared_error`.
    delta : float > 0
        Where the loss turns from quadratic to linear.
    axis, sample_weight, reduction
        See :func:`mean_squared_error`.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    Matches ``keras.losses.huber(y_true, y_pred, delta)``;
    ``torch.nn.functional.huber_loss(y_pred, y_true, delta=delta)`` and
    ``optax.huber_loss(y_pred, y_true, delta=delta)`` are element-wise:
    ``axis=None``. torch's ``smooth_l1_loss`` is :func:`smooth_l1` (Huber
    divided by ``beta``). ``tf.compat.v1.losses.huber_loss(labels, predictions,
    weights, delta)`` is ``axis=None, sample_weight=weights,
    reduction="sum_by_nonzero_weights"``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, p = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    >>> float(ul.huber(y, p, reduction="mean"))
    0.155
    """
    return mean_over(be, _huber(be, y_pred - float_targets(be, y_true, y_pred), delta), axis)


@loss()
def smooth_l1(be: Any, y_true: Any, y_pred: Any, *, beta: float = 1.0, axis: Any = -1) -> Any:
    """Smooth L1 loss (torch's): Huber with ``delta=beta``, divided by ``beta``.

    With ``e = y_pred - y_true``::

        s(e) = 0.5 * e ** 2 / beta    if |e| < beta
               |e| - 0.5 * beta       otherwise
        loss = mean_axis( s(e) )

    Parameters
    ----------
    y_true, y_pred : array, shape (..., D)
        See :func:`mean_squared_error`.
    beta : float > 0
        Where the loss turns from quadratic to linear; the linear part has slope 1.
        (torch's ``beta=0``, plain L1, is :func:`mean_absolute_error`.)
    axis, sample_weight, reduction
        See :func:`mean_squared_error`.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    ``torch.nn.functional.smooth_l1_loss(y_pred, y_true, beta=beta)`` is
    element-wise: ``axis=None`` (its ``"mean"`` is ``"sum_over_batch_size"``
    here). torch's ``smooth_l1_loss(beta)`` equals ``huber_loss(delta=beta) /
    beta``; Keras and optax have only :func:`huber`.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.smooth_l1(np.array([[0.0, 0.0]]), np.array([[0.5, 3.0]]), beta=2.0, axis=None)
    array([[0.0625, 2.    ]])
    """
    return mean_over(be, _huber(be, y_pred - float_targets(be, y_true, y_pred), beta) / beta, axis)


@loss()
def log_cosh(be: Any, y_true: Any, y_pred: Any, *, axis: Any = -1) -> Any:
    """Logarithm of the hyperbolic cosine of the error.

    With ``e = y_pred - y_true``, in the form that never overflows (Keras')::

        log(cosh(e)) = e + softplus(-2 e) - log(2)
        loss = mean_axis( log(cosh(e)) )

    About ``e ** 2 / 2`` for small errors and ``|e| - log(2)`` for large ones.

    Parameters
    ----------
    y_true, y_pred, axis, sample_weight, reduction
        See :func:`mean_squared_error`.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    Matches ``keras.losses.log_cosh``; ``optax.log_cosh(y_pred, y_true)`` is
    element-wise: ``axis=None``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, p = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [0.0, 0.0]])
    >>> ul.log_cosh(y, p).round(6)
    array([0.21689, 0.     ])
    """
    error = y_pred - float_targets(be, y_true, y_pred)
    return mean_over(be, error + be.softplus(-2.0 * error) - _LOG2, axis)


def _vector_axis(*, axis: Any, **_: Any) -> None:
    if axis is None:
        raise ValueError("axis: expected an integer axis (the vector axis), got None")


@loss(check=_vector_axis)
def cosine_similarity(be: Any, y_true: Any, y_pred: Any, *, axis: int = -1, epsilon: float = 1e-7) -> Any:
    """Minus the cosine similarity along ``axis`` (Keras' sign: -1 is best).

    Each vector is divided by its L2 norm, floored at ``epsilon``::

        n(x) = x / max(||x||_2, epsilon)
        loss = -sum_axis( n(y_true) * n(y_pred) )

    A zero vector gives 0. Computed as ``x / sqrt(max(sum x ** 2, epsilon ** 2))``,
    which has finite gradients at zero vectors.

    Parameters
    ----------
    y_true : array, shape (..., D, ...)
        Target vectors along ``axis``.
    y_pred : array, same shape
        Predicted vectors along ``axis``. Decides the backend.
    axis : int
        The vector axis (removed from the output).
    epsilon : float in (0, 0.5)
        Floor of the norms: Keras' ``backend.epsilon()`` (1e-7) by default.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``keras.losses.cosine_similarity(y_true, y_pred, axis)``.
    ``torch.nn.functional.cosine_similarity(y_pred, y_true, dim=axis, eps=e)``
    is minus this loss with ``epsilon=e`` (torch floors each norm at ``eps``,
    1e-8 by default). ``optax.cosine_distance(y_pred, y_true, epsilon=s,
    axis=axis)`` is ``1 +`` this loss with ``epsilon=sqrt(s)`` (optax floors the
    squared norms; its default ``s=0`` divides by zero for zero vectors).
    ``tf.compat.v1.losses.cosine_distance`` expects normalised inputs and
    returns ``1 +`` this loss for them.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    >>> p = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
    >>> ul.cosine_similarity(y, p).round(6) + 0.0
    array([ 0., -1.,  1.])
    """
    xp = be.xp
    axis = class_axis(axis, y_pred.ndim)
    y = float_targets(be, y_true, y_pred)
    floor = epsilon * epsilon

    def unit(x: Any) -> Any:
        return x / xp.sqrt(xp.clip(xp.sum(x * x, axis=axis, keepdims=True), min=floor))

    return -xp.sum(unit(y) * unit(y_pred), axis=axis)


class MeanSquaredError(FunctionLoss):
    """Class form of :func:`mean_squared_error` (``keras.losses.MeanSquaredError``)."""

    function = mean_squared_error


class MeanAbsoluteError(FunctionLoss):
    """Class form of :func:`mean_absolute_error` (``keras.losses.MeanAbsoluteError``)."""

    function = mean_absolute_error


class MeanAbsolutePercentageError(FunctionLoss):
    """Class form of :func:`mean_absolute_percentage_error` (``keras.losses.MeanAbsolutePercentageError``)."""

    function = mean_absolute_percentage_error


class MeanSquaredLogarithmicError(FunctionLoss):
    """Class form of :func:`mean_squared_logarithmic_error` (``keras.losses.MeanSquaredLogarithmicError``)."""

    function = mean_squared_logarithmic_error


class Huber(FunctionLoss):
    """Class form of :func:`huber` (``keras.losses.Huber``, ``torch.nn.HuberLoss`` with ``axis=None``)."""

    function = huber
    default_name = "huber_loss"  # Keras' name


class SmoothL1(FunctionLoss):
    """Class form of :func:`smooth_l1` (``torch.nn.SmoothL1Loss`` with ``axis=None``)."""

    function = smooth_l1


class LogCosh(FunctionLoss):
    """Class form of :func:`log_cosh` (``keras.losses.LogCosh``)."""

    function = log_cosh


class CosineSimilarity(FunctionLoss):
    """Class form of :func:`cosine_similarity` (``keras.losses.CosineSimilarity``)."""

    function = cosine_similarity
