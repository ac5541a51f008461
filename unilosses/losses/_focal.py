"""Focal cross-entropy: binary, categorical and sparse categorical (Lin et al., 2017).

The focal loss scales each cross-entropy term by ``(1 - p)^gamma``, the
probability the model gives to everything but that term's outcome, so that
confidently right predictions count for little. Targets, smoothing, logits and
clipping are handled exactly as in :mod:`unilosses.losses.crossentropy`.
"""

from __future__ import annotations

from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.logits import binary_log_probs, categorical_log_probs, check_input_kind, masked_log
from unilosses.rules import is_zero
from unilosses.shapes import (
    float_targets,
    mean_over,
    sparse_targets,
)
from unilosses.smoothing import smooth_binary, sparse_smoothed
from unilosses.targets import soft_targets
from unilosses.validity import both, nan_where, probabilities, targets_01

__all__ = [
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalFocalCrossentropy",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_focal_crossentropy",
]


def _pow(be: Any, base: Any, gamma: float) -> Any:
    """``base ** gamma`` with a finite gradient at ``base = 0`` for ``gamma < 1``
    (the safe-where form: the power never sees a 0)."""
    xp = be.xp
    ok = base > 0
    return xp.where(ok, xp.where(ok, base, 1.0) ** gamma, 0.0)


def _focal_terms(be: Any, log_p: Any, gamma: float, alpha: float) -> Any:
    """``alpha * (1 - p)^gamma * (-log p)`` from ``log p`` (``1 - p = -expm1(log p)``)."""
    nll = -log_p
    if not is_zero(gamma):
        nll = nll * _pow(be, -be.xp.expm1(log_p), gamma)
    return nll if isinstance(alpha, float) and alpha == 1.0 else alpha * nll


@loss()
def binary_focal_crossentropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float = 2.0,
    alpha: float = 0.25,
    apply_class_balancing: bool = False,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: Any = -1,
    epsilon: float = 1e-7,
) -> Any:
    """Binary focal cross-entropy between targets in [0, 1] and probabilities or logits.

    With ``y`` the (smoothed) target, ``p`` the predicted probability and
    ``bce = -(y log p + (1 - y) log(1 - p))``::

        p_t  = y p + (1 - y) (1 - p)
        a_t  = y alpha + (1 - y) (1 - alpha)      (only with apply_class_balancing)
        loss = mean_axis( a_t * (1 - p_t)^gamma * bce )

    ``label_smoothing=e`` uses ``y * (1 - e) + 0.5 * e``. With ``from_logits=True``
    ``log p = -softplus(-z)`` and ``log(1 - p) = -softplus(z)`` (exact for large
    ``|z|``: a confidently wrong logit of 30 costs 30 times its focal factor) and the
    focal factor uses ``p = sigmoid(z)``; otherwise ``p`` is clipped into
    ``[epsilon, 1 - epsilon]`` for the logarithms, while the focal factor uses ``p``
    as given (Keras).

    Parameters
    ----------
    y_true : array, shape (..., D)
        Targets in [0, 1]; Python / NumPy values are converted to y_pred's framework.
    y_pred : array, shape (..., D)
        Probabilities, or logits with ``from_logits=True``. Decides the backend.
    gamma : float >= 0
        Focusing parameter; ``gamma=0`` gives the binary cross-entropy.
    alpha : float in [0, 1]
        Weight of the positive class (``1 - alpha`` for the negative class), used
        only with ``apply_class_balancing=True``.
    apply_class_balancing : bool
    from_logits : bool
    label_smoothing : float in [0, 1]
        Squeezes targets towards 0.5.
    axis : int or None
        Axis averaged over (Keras); ``None`` returns per-element values.
    epsilon : float in (0, 0.5)
        Clipping of probabilities.

    Returns
    -------
    array
        Shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``,
        a scalar otherwise, or :class:`unilosses.LossStats` for ``"stats"``.

    Notes
    -----
    Matches ``keras.losses.binary_focal_crossentropy(y_true, y_pred,
    apply_class_balancing, alpha, gamma, from_logits, label_smoothing, axis)`` (Keras
    computes logits as sigmoid-then-clipped-log, so it differs for ``|z| > 16``).
    ``optax.sigmoid_focal_loss(logits, labels, alpha=a, gamma=g)`` is
    ``from_logits=True, axis=None, apply_class_balancing=True, alpha=a`` (``alpha=None``:
    ``apply_class_balancing=False``); torchvision's ``sigmoid_focal_loss`` is the same
    mapping.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> p = np.array([[0.6, 0.4], [0.4, 0.6]])
    >>> ul.binary_focal_crossentropy(y, p, gamma=2.0).round(4).tolist()  # Keras: [0.3299, 0.2058]
    [0.3299, 0.2058]
    """
    xp = be.xp
    t = float_targets(be, y_true, y_pred)
    ok = targets_01(be, t) if from_logits else both(be, targets_01(be, t), probabilities(be, y_pred))
    y = smooth_binary(t, label_smoothing)
    log_p, log_1mp = binary_log_probs(be, y_pred, from_logits, epsilon)
    if from_logits:  # logits of +-inf: 0 * log 0 = 0 for the outcome with no target mass
        log_p, log_1mp = masked_log(be, log_p, be.xp.equal(y, 0.0)), masked_log(be, log_1mp, be.xp.equal(y, 1.0))
    values = -(y * log_p + (1.0 - y) * log_1mp)
    if not is_zero(gamma):
        if from_logits:
            p, q = xp.exp(log_p), xp.exp(log_1mp)  # sigmoid(z), sigmoid(-z)
        else:
            p, q = y_pred, 1.0 - y_pred  # Keras: the focal factor uses p unclipped
        values = values * _pow(be, y * q + (1.0 - y) * p, gamma)  # (1 - p_t)^gamma
    if apply_class_balancing:
        values = values * (y * alpha + (1.0 - y) * (1.0 - alpha))
    return mean_over(be, nan_where(be, ok, values), axis)


@loss(arrays=("class_weight",), check=check_input_kind)
def categorical_focal_crossentropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float = 2.0,
    alpha: float = 0.25,
    from_logits: bool = False,
    from_log_probs: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    axis: int = -1,
    epsilon: float = 1e-7,
) -> Any:
    """Categorical focal cross-entropy between target distributions and probabilities or logits.

    With ``q`` the (smoothed) target distribution along ``axis``, ``p`` the predicted
    distribution and ``w`` the class weights (1 by default)::

        loss = sum_c w_c q_c * alpha * (1 - p_c)^gamma * (-log p_c)

    ``label_smoothing=e`` uses ``q = y * (1 - e) + e / K`` (K classes). ``log p`` is a
    log-softmax of logits, or the log of probabilities divided by their sum and
    clipped into ``[epsilon, 1 - epsilon]`` (Keras).

    Parameters
    ----------
    y_true : array, shape (..., K, ...)
        Target distributions (one-hot or soft) along ``axis``.
    y_pred : array, same shape
        Probabilities, logits with ``from_logits=True``, or log-probabilities with
        ``from_log_probs=True`` (used as given). A class with no target mass
        contributes nothing, even with a logit of ``-inf``.
    gamma : float >= 0
        Focusing parameter.
    alpha : float in [0, 1]
        A factor on every term (Keras always applies it: ``gamma=0`` gives
        ``alpha`` times the categorical cross-entropy).
    from_logits : bool
    from_log_probs : bool
    label_smoothing : float in [0, 1]
    class_weight : array, shape (K,), optional
        Weight of class c's term. A sample's weight in ``"mean_with_sample_weight"``
        is ``sum_c w_c y_c`` (``w[y]`` for one-hot targets).
    axis : int
        The class axis (``1`` for torch's NCHW layout).
    epsilon : float in (0, 0.5)

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``keras.losses.categorical_focal_crossentropy(y_true, y_pred, alpha,
    gamma, from_logits, label_smoothing, axis)``; Keras' per-class ``alpha`` (a list)
    is ``alpha=1.0, class_weight=alpha_list`` here. Keras computes logits as a
    softmax followed by a clipped log; here they go through a log-softmax. Keras'
    smoothing divides by the size of the last axis even when ``axis`` is another;
    here K is the size of ``axis``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> p = np.array([[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]])
    >>> ul.categorical_focal_crossentropy(y, p).round(4).tolist()  # Keras: [0.0003, 0.6759]
    [0.0003, 0.6759]
    """
    t = soft_targets(be, y_true, y_pred, axis, label_smoothing, class_weight=class_weight)
    log_p = categorical_log_probs(be, y_pred, t.axis, from_logits, epsilon, from_log_probs)
    ok = t.ok
    if from_logits or from_log_probs:  # masked (-inf) classes with no target mass: 0 log 0 = 0
        log_p = masked_log(be, log_p, be.xp.equal(t.q, 0.0))
    else:
        ok = both(be, ok, probabilities(be, y_pred))
    terms = nan_where(be, ok, _focal_terms(be, log_p, gamma, alpha))
    return t.per_sample(be, t.class_sum(be, t.q * terms, class_weight), class_weight)


@loss(arrays=("class_weight",), check=check_input_kind)
def sparse_categorical_focal_crossentropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float = 2.0,
    alpha: float = 0.25,
    from_logits: bool = False,
    from_log_probs: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    ignore_index: Any = None,
    axis: int = -1,
    epsilon: float = 1e-7,
) -> Any:
    """Focal cross-entropy with integer class labels, never building a one-hot.

    With ``t_c = alpha * (1 - p_c)^gamma * (-log p_c)`` the focal term of class c,
    ``y`` the label, ``w`` the class weights (1 by default) and K classes::

        loss = (1 - e) * w_y * t_y + (e / K) * sum_c w_c * t_c

    which is :func:`categorical_focal_crossentropy` of the one-hot of ``y``: one
    gather, plus one class-axis sum when ``label_smoothing=e`` is not 0.

    Parameters
    ----------
    y_true : integer array, shape of y_pred without ``axis`` (a size-1 axis is allowed)
        Labels in [0, K); floats are cast to integers (Keras).
    y_pred : array, shape (..., K, ...)
        Probabilities, logits with ``from_logits=True``, or log-probabilities with
        ``from_log_probs=True`` (used as given).
    gamma : float >= 0
    alpha : float in [0, 1]
        A factor on every term (as in :func:`categorical_focal_crossentropy`).
    from_logits : bool
    from_log_probs : bool
    label_smoothing : float in [0, 1]
    class_weight : array, shape (K,), optional
        ``w_y`` is also the sample's weight in ``"mean_with_sample_weight"``.
    ignore_index : int, optional
        Positions with this label give 0 and leave every denominator.
    axis : int
        The class axis (``1`` for torch's NCHW layout).
    epsilon : float in (0, 0.5)

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Equals ``keras.losses.categorical_focal_crossentropy`` on the one-hot of the
    labels (Keras has no sparse focal loss). Labels outside [0, K) that are not
    ignored raise a ValueError where they can be checked without a device
    synchronisation and give NaN otherwise.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> p = np.array([[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]])
    >>> ul.sparse_categorical_focal_crossentropy(np.array([1, 2]), p).round(4).tolist()
    [0.0003, 0.6759]
    """
    t = sparse_targets(be, y_true, y_pred, axis, ignore_index, class_weight)
    log_p = categorical_log_probs(be, y_pred, t.axis, from_logits, epsilon, from_log_probs)
    term_y = _focal_terms(be, be.gather(log_p, t.safe, t.axis), gamma, alpha)
    # sparse_smoothed computes (1 - e) w_y v_y - (e / K) sum_c w_c x_c for any per-class
    # x with v_y = -x_y: here x = -t (the focal terms), as x = log p for the cross-entropy.
    neg_terms = None if is_zero(label_smoothing) else -_focal_terms(be, log_p, gamma, alpha)
    values = sparse_smoothed(be, neg_terms, term_y, label_smoothing, t.axis, class_weight, t.weight)
    if not (from_logits or from_log_probs):
        ok = probabilities(be, y_pred)
        values = values if ok is None else nan_where(be, be.xp.all(ok, axis=t.axis), values)
    return t.per_sample(be, values)


class BinaryFocalCrossentropy(FunctionLoss):
    """Class form of :func:`binary_focal_crossentropy` (``keras.losses.BinaryFocalCrossentropy``)."""

    function = binary_focal_crossentropy


class CategoricalFocalCrossentropy(FunctionLoss):
    """Class form of :func:`categorical_focal_crossentropy` (``keras.losses.CategoricalFocalCrossentropy``)."""

    function = categorical_focal_crossentropy


class SparseCategoricalFocalCrossentropy(FunctionLoss):
    """Class form of :func:`sparse_categorical_focal_crossentropy`."""

    function = sparse_categorical_focal_crossentropy
