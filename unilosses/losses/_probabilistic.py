"""Probabilistic losses: KL divergence, Poisson and Gaussian negative log-likelihoods.

Each function is the specification: written once over an Array API namespace,
it runs on NumPy, JAX, PyTorch, TensorFlow and any Array API library.
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.dims import dim_equal
from unilosses.logits import included, masked_log
from unilosses.reduction import PerSample
from unilosses.shapes import class_axis, float_targets, mean_over

__all__ = [
    "GaussianNLL",
    "GeneralizedKLDivergence",
    "KLDivergence",
    "Poisson",
    "gaussian_nll",
    "generalized_kl_divergence",
    "kl_divergence",
    "poisson",
]

#: Keras' ``backend.epsilon()``: the floor of both distributions in the KL divergence
_EPSILON = 1e-7
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@loss()
def kl_divergence(
    be: Any, y_true: Any, y_pred: Any, *, from_log_probs: bool = False, log_target: bool = False, axis: Any = -1
) -> Any:
    """Kullback-Leibler divergence ``KL(y_true || y_pred)`` between distributions.

    ::

        loss = sum_axis( y * (log y - log p) )      with 0 * log 0 = 0

    By default both are probabilities clipped into ``[1e-7, 1]`` (Keras). With
    ``from_log_probs=True`` ``y_pred`` holds ``log p`` and nothing is clipped (torch's
    ``kl_div`` input, optax's ``log_predictions``); with ``log_target=True`` ``y_true``
    holds ``log y``. Where ``y = 0`` the term is 0, with a zero gradient, even for
    ``log p = -inf``.

    Parameters
    ----------
    y_true : array, shape (..., K)
        Target distributions along ``axis`` (their logs with ``log_target=True``).
    y_pred : array, same shape
        Predicted distributions: probabilities, or log-probabilities with
        ``from_log_probs=True``.
    from_log_probs : bool
        ``y_pred`` holds log-probabilities; neither input is clipped.
    log_target : bool
        ``y_true`` holds log-probabilities (torch's ``log_target``).
    axis : int or None
        The distribution axis, summed over; ``None`` returns the per-element
        terms so that per-element weights apply before the reduction.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``keras.losses.kl_divergence(y_true, y_pred)``;
    ``torch.nn.functional.kl_div(log_q, y, reduction="none", log_target=lt)`` is
    ``kl_divergence(y, log_q, from_log_probs=True, log_target=lt, axis=None)`` (its
    ``"batchmean"`` is ``reduction="batchmean"`` here: the sum divided by the size of the
    first axis); ``optax.kl_divergence(log_q, y)`` and
    ``optax.kl_divergence_with_log_targets(log_q, log_y)`` are ``from_log_probs=True``
    (and ``log_target=True``).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.array([[0.5, 0.5]]); p = np.array([[0.25, 0.75]])
    >>> ul.kl_divergence(y, p).round(6)
    array([0.143841])
    """
    xp = be.xp
    t = float_targets(be, y_true, y_pred)
    if log_target:
        y = xp.exp(t)
    else:
        y = t if from_log_probs else xp.clip(t, _EPSILON, 1.0)
    absent = xp.equal(y, 0.0)
    # unclipped targets (from_log_probs) may be negative: their log is NaN, as in torch's kl_div;
    # it is set as such rather than computed, since NumPy warns on the log of a negative number
    negative = xp.less(y, 0.0) if from_log_probs and not log_target else None
    no_log = absent if negative is None else xp.logical_or(absent, negative)
    log_y = t if log_target else xp.log(xp.where(no_log, 1.0, y))
    log_p = y_pred if from_log_probs else xp.log(xp.clip(y_pred, _EPSILON, 1.0))
    terms = y * (masked_log(be, log_y, absent) - masked_log(be, log_p, absent))
    if negative is not None:
        terms = xp.where(negative, math.nan, terms)
    if axis is None:
        return terms
    return xp.sum(terms, axis=class_axis(axis, terms.ndim))


@loss()
def poisson(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    log_input: bool = False,
    full: bool = False,
    epsilon: float = 1e-7,
    axis: Any = -1,
) -> Any:
    """Poisson negative log-likelihood of counts ``y_true`` given rates ``y_pred``.

    ::

        loss = mean_axis( y_pred - y_true * log(y_pred + epsilon) )      # log_input=False
        loss = mean_axis( exp(y_pred) - y_true * y_pred )                 # log_input=True

    With ``full=True`` Stirling's approximation of ``log(y_true!)``,
    ``y log y - y + 0.5 log(2 pi y)``, is added where ``y_true > 1`` (torch).

    Parameters
    ----------
    y_true : array, shape (..., D)
        Observed counts (non-negative); Python / NumPy values are converted.
    y_pred : array, shape (..., D)
        Predicted rates, or log-rates with ``log_input=True``. Decides the backend.
    log_input : bool
        Whether ``y_pred`` holds log-rates (torch's default; Keras' is False).
    full : bool
        Add the Stirling term (torch's ``full``).
    epsilon : float in (0, 0.5)
        Added to the rate inside the log: Keras' 1e-7 by default (torch's ``eps``
        is 1e-8). Not used with ``log_input=True``.
    axis : int or None
        Axis averaged over (Keras); ``None`` returns per-element values.

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    The defaults match ``keras.losses.poisson``.
    ``torch.nn.functional.poisson_nll_loss(y_pred, y_true, log_input, full,
    eps=e)`` is element-wise: ``axis=None, log_input=log_input, full=full,
    epsilon=e`` (torch's default ``log_input=True`` is not unilosses' default).
    ``tf.nn.log_poisson_loss(y_true, log_input, compute_full_loss)`` is
    ``log_input=True, full=compute_full_loss, axis=None``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, z = np.array([[0.0, 2.0]]), np.array([[0.0, 1.0]])
    >>> ul.poisson(y, z, log_input=True).round(6)
    array([0.859141])
    """
    xp = be.xp
    y = float_targets(be, y_true, y_pred)
    if log_input:  # a rate of 0 (log-rate -inf) with a count of 0 costs 0
        values = xp.exp(y_pred) - y * masked_log(be, y_pred, xp.equal(y, 0.0))
    else:
        values = y_pred - y * xp.log(y_pred + epsilon)
    if full:
        big = y > 1.0
        t = xp.where(big, y, xp.ones_like(y))
        stirling = t * xp.log(t) - t + 0.5 * xp.log((2.0 * math.pi) * t)
        values = values + xp.where(big, stirling, xp.zeros_like(stirling))
    return mean_over(be, values, axis)


def _shape_var(be: Any, var: Any, y_pred: Any) -> Any:
    """``var`` shaped to broadcast against ``y_pred`` as torch's gaussian_nll_loss allows."""
    vs, ps = tuple(var.shape), tuple(y_pred.shape)
    if len(vs) == 0:
        return var
    if len(vs) == len(ps):
        mismatched = [(v, p) for v, p in zip(vs, ps) if not dim_equal(v, p)]
        if not mismatched or (len(mismatched) == 1 and mismatched[0][0] == 1):
            return var
    elif len(vs) == len(ps) - 1 and all(dim_equal(v, p) for v, p in zip(vs, ps[:-1])):
        return be.xp.expand_dims(var, axis=-1)  # one variance per vector (homoscedastic)
    raise ValueError(
        f"var: expected a scalar, y_pred's shape {ps}, that shape without its last axis, "
        f"or that shape with one axis of size 1; got {vs}"
    )


@loss(inputs=("y_true", "y_pred", "var"), decides="y_pred")
def gaussian_nll(
    be: Any,
    y_true: Any,
    y_pred: Any,
    var: Any,
    *,
    full: bool = False,
    eps: float = 1e-6,
    axis: Any = -1,
) -> Any:
    """Gaussian negative log-likelihood of ``y_true`` under N(y_pred, var).

    With ``v = max(var, eps)``::

        loss = mean_axis( 0.5 * (log v + (y_pred - y_true) ** 2 / v) )   (+ 0.5 log(2 pi) with full)

    Parameters
    ----------
    y_true : array, shape (..., D)
        Samples; Python / NumPy values are converted to y_pred's framework.
    y_pred : array, shape (..., D)
        Predicted means. Decides the backend.
    var : array or float
        An input (positional or by name, as ``y_true``, ``y_pred``): non-negative predicted variances: a scalar, shape (..., D), shape (...,)
        (one variance per vector), or (..., D) with one axis of size 1, as
        torch allows. A negative entry raises a ValueError where values can be
        read without a device synchronisation, and gives NaN otherwise.
    full : bool
        Add the constant ``0.5 * log(2 pi)``.
    eps : float > 0
        Floor of the variances.
    axis : int or None
        Axis averaged over; ``None`` returns per-element values (torch's
        ``reduction="none"``).

    Returns
    -------
    array, shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``, else a scalar.

    Notes
    -----
    ``torch.nn.functional.gaussian_nll_loss(y_pred, y_true, var, full, eps,
    reduction="none")`` is ``axis=None``; torch's ``"mean"`` is
    ``reduction="sum_over_batch_size"`` here (with either ``axis``). torch
    clamps the variance without recording it for autograd, so its gradient
    with respect to a variance below ``eps`` is as if unclamped; here it is 0.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, mu = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0]])
    >>> ul.gaussian_nll(y, mu, var=np.array([[1.0, 4.0]]), axis=None).round(6)
    array([[0.      , 1.193147]])
    """
    xp = be.xp
    var = _shape_var(be, var, y_pred)
    negative = var < 0
    if be.concrete(y_pred) and be.any_true(negative):
        raise ValueError("var: expected non-negative variances, got a negative entry")
    v = xp.clip(var, min=eps)
    error = y_pred - float_targets(be, y_true, y_pred)
    values = 0.5 * (xp.log(v) + error * error / v)
    if full:
        values = values + _HALF_LOG_2PI
    values = xp.where(negative, math.nan, values)
    return mean_over(be, values, axis)


class KLDivergence(FunctionLoss):
    """Class form of :func:`kl_divergence` (``keras.losses.KLDivergence``)."""

    function = kl_divergence


class Poisson(FunctionLoss):
    """Class form of :func:`poisson` (``keras.losses.Poisson``; ``torch.nn.PoissonNLLLoss``
    with ``log_input=True, axis=None``)."""

    function = poisson


class GaussianNLL(FunctionLoss):
    """Class form of :func:`gaussian_nll` (``torch.nn.GaussianNLLLoss`` with ``axis=None``).

    ``var`` is an input, as torch's ``GaussianNLLLoss`` takes it: ``loss(y_true, y_pred, var)``
    or ``loss(y_true, y_pred, var=var)``; a fourth positional argument is the sample weight.
    """

    function = gaussian_nll


@loss(arrays=("where",))
def generalized_kl_divergence(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    from_log_probs: bool = False,
    epsilon: float = 1e-7,
    where: Any = None,
    axis: Any = -1,
) -> Any:
    """Generalized Kullback-Leibler divergence between non-negative measures (not normalised).

    The Bregman divergence of ``x log x - x``::

        loss = sum_axis( y log(y / p) - y + p ),     0 log 0 = 0

    the KL divergence plus ``sum(p) - sum(y)`` (which is 0 for two distributions),
    and up to terms in ``y`` alone the Poisson negative log-likelihood.

    Parameters
    ----------
    y_true : array, shape (..., D)
        Target measure ``y >= 0``; Python / NumPy values are converted.
    y_pred : array, shape (..., D)
        Predicted measure ``p > 0``, or ``log p`` with ``from_log_probs=True``. Decides the backend.
    from_log_probs : bool
        Whether ``y_pred`` holds ``log p`` (optax's ``log_predictions``).
    epsilon : float in (0, 0.5)
        Floor of ``p`` inside the log (``from_log_probs=False``): ``p = 0`` costs
        ``-y log(epsilon)`` rather than infinity, with a finite gradient.
    where : boolean array, y_pred's shape or its shape without ``axis``, optional
        optax's ``where``: the elements (or samples) that take part; excluded ones leave
        the sum, and a sample with none left leaves every denominator (with ``axis=None``
        an excluded element's term is 0).
    axis : int or None
        The axis summed over; ``None`` returns per-element terms.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    ``optax.losses.generalized_kl_divergence(log_predictions, targets)`` (and its
    deprecated name ``optax.losses.convex_kl_divergence``) is
    ``generalized_kl_divergence(targets, log_predictions, from_log_probs=True)`` (its
    ``where`` is ``where``); torch's
    ``F.kl_div(log_p, y, reduction="none") + log_p.exp() - y``, summed over the
    last axis, is the same loss. Also available as ``convex_kl_divergence``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.generalized_kl_divergence(np.array([[1.0, 2.0, 0.0]]), np.array([[2.0, 2.0, 0.5]])).round(6)
    array([0.806853])
    """
    xp = be.xp
    y = float_targets(be, y_true, y_pred)
    y_log_y = y * xp.log(xp.where(y > 0, y, 1.0))
    if from_log_probs:
        log_p, p = y_pred, xp.exp(y_pred)
    else:
        log_p, p = xp.log(xp.clip(y_pred, min=epsilon)), y_pred
    terms = y_log_y - y * log_p + p - y
    ax = terms.ndim - 1 if axis is None else class_axis(axis, terms.ndim)
    inc = None if where is None else included(be, where, terms, ax)
    if inc is not None:
        terms = xp.where(inc.mask, terms, 0.0)
    if axis is None:
        return terms
    values = xp.sum(terms, axis=ax)
    return values if inc is None else PerSample(values, valid=inc.any)


#: optax's deprecated name of :func:`generalized_kl_divergence`
convex_kl_divergence = generalized_kl_divergence


class GeneralizedKLDivergence(FunctionLoss):
    """Class form of :func:`generalized_kl_divergence` (``optax.losses.generalized_kl_divergence``
    with ``from_log_probs=True``)."""

    function = generalized_kl_divergence
