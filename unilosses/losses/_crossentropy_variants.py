"""Cross-entropy variants: PolyLoss (poly-1) and the generalized cross-entropy.

Each replaces the per-class term ``-log p_c`` of the cross-entropy by another
function of ``p_c`` and otherwise works as :mod:`unilosses.losses.crossentropy`:
the same logits / probability handling (:mod:`unilosses.logits`), label
smoothing towards ``e / K``, class weights ``w_c`` on each class's term, and for
integer labels ``ignore_index`` and one gather, never a one-hot::

    loss = sum_c w_c q_c f(p_c),    q = (1 - e) onehot(y) + e / K
"""

from __future__ import annotations

from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.logits import categorical_log_probs, masked_log
from unilosses.rules import in_range
from unilosses.shapes import (
    sparse_targets,
)
from unilosses.targets import soft_targets
from unilosses.validity import nan_where, probabilities

__all__ = [
    "CategoricalGeneralizedCrossEntropy",
    "Poly1CrossEntropy",
    "SparsePoly1CrossEntropy",
    "categorical_generalized_cross_entropy",
    "poly1_cross_entropy",
    "sparse_poly1_cross_entropy",
]

#: Keras' ``backend.epsilon()``: the clipping of probabilities (``from_logits=False``)
_CLIP = 1e-7
_INF = float("inf")
#: poly-1's ``epsilon`` is optax's coefficient, any real number (not the clipping epsilon)
_POLY_RULES = {"epsilon": in_range(-_INF, _INF, lo_open=True, hi_open=True)}


def _poly1_terms(be: Any, y_pred: Any, axis: int, from_logits: bool, epsilon: Any) -> Any:
    """``log p_c - epsilon (1 - p_c)``: minus poly-1's per-class term (``1 - p = -expm1(log p)``);
    probabilities outside [0, 1] cannot be valid (a ValueError where readable, else NaN)."""
    ok = None if from_logits else probabilities(be, y_pred)
    log_p = categorical_log_probs(be, y_pred, axis, from_logits, _CLIP)
    return nan_where(be, ok, log_p + epsilon * be.xp.expm1(log_p))


@loss(arrays=("class_weight", "where"), rules=_POLY_RULES)
def poly1_cross_entropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    epsilon: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    where: Any = None,
    axis: int = -1,
) -> Any:
    """Poly-1 loss (Leng et al., 2022): the cross-entropy plus ``epsilon (1 - p_t)``.

    With ``q`` the (smoothed) target distribution along ``axis`` and ``w`` the
    class weights (1 by default)::

        loss = sum_c w_c q_c ( -log p_c + epsilon * (1 - p_c) )
             = CE + epsilon * (1 - sum_c q_c p_c)          (no class weights)

    ``log p`` is a log-softmax of logits, or the log of probabilities divided by
    their sum and clipped into ``[1e-7, 1 - 1e-7]`` (Keras' categorical rule).

    Parameters
    ----------
    y_true : array, shape of y_pred
        Target distributions (one-hot or soft) along ``axis``.
    y_pred : array, shape (..., K, ...)
        Probabilities, or logits with ``from_logits=True``. Decides the backend.
    epsilon : float
        The coefficient of the first polynomial term (optax's ``epsilon``; the
        paper recommends 2 for ImageNet classification, -1 for detection).
        ``epsilon=0`` is the cross-entropy. (Not a clipping epsilon: that one is
        fixed at 1e-7 here.)
    from_logits : bool
    label_smoothing : float in [0, 1]
        ``q = y (1 - e) + e / K`` (optax: ``smooth_labels`` before the loss).
    class_weight : array, shape (K,), optional
        Weight of class c's term; a sample's weight in ``"mean_with_sample_weight"``
        is ``sum_c w_c y_c``.
    where : boolean array, y_pred's shape or its shape without ``axis``, optional
        optax's ``where``: the classes (or samples) that take part, as in
        :func:`categorical_crossentropy` (excluded classes leave the softmax, ``K``
        and every sum; a sample with no class left leaves every denominator, where
        optax gives it ``epsilon``).
    axis : int
        The class axis (``1`` for torch's NCHW layout).

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    ``optax.losses.poly_loss_cross_entropy(logits, labels, epsilon=e, where=m)`` is
    ``poly1_cross_entropy(labels, logits, epsilon=e, from_logits=True, where=m)``. Keras and
    torch have no poly loss.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, z = np.array([[0.0, 1.0, 0.0]]), np.array([[1.0, 2.0, 0.0]])
    >>> ul.poly1_cross_entropy(y, z, from_logits=True, epsilon=1.0).round(6)
    array([0.742365])
    """
    t = soft_targets(be, y_true, y_pred, axis, label_smoothing, where, class_weight)
    scores = y_pred if t.inc is None else t.inc.predictions(be, y_pred, not from_logits)
    terms = _poly1_terms(be, scores, t.axis, from_logits, epsilon)
    terms = nan_where(be, t.ok, t.q * masked_log(be, terms, be.xp.equal(t.q, 0.0)))  # 0 log 0 = 0 for masked classes
    return t.per_sample(be, -t.class_sum(be, terms, class_weight), class_weight)


@loss(arrays=("class_weight",), rules=_POLY_RULES)
def sparse_poly1_cross_entropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    epsilon: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    ignore_index: Any = None,
    axis: int = -1,
) -> Any:
    """Poly-1 loss with integer class labels, never building a one-hot.

    With ``y`` the label, ``w`` the class weights (1 by default) and K classes::

        loss = (1 - e) w_y (-log p_y + epsilon (1 - p_y))
               + (e / K) sum_c w_c (-log p_c + epsilon (1 - p_c))

    the :func:`poly1_cross_entropy` of the smoothed one-hot, from one gather and
    one class-axis reduction.

    Parameters
    ----------
    y_true : integer array, shape of y_pred without ``axis`` (a size-1 axis is allowed)
        Labels in [0, K).
    y_pred, epsilon, from_logits, label_smoothing : see :func:`poly1_cross_entropy`.
    class_weight : array, shape (K,), optional
        torch's ``weight``: ``w_y`` is also the sample's weight in
        ``"mean_with_sample_weight"``.
    ignore_index : int, optional
        Positions with this label give 0 and leave every denominator.
    axis : int
        The class axis.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    ``optax.losses.poly_loss_cross_entropy(logits, jax.nn.one_hot(labels, K),
    epsilon=e)`` is ``sparse_poly1_cross_entropy(labels, logits, epsilon=e,
    from_logits=True)``. Labels out of range raise a ValueError where they can be
    checked without a device synchronisation and give NaN otherwise.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.sparse_poly1_cross_entropy(np.array([1]), np.array([[1.0, 2.0, 0.0]]), from_logits=True, epsilon=1.0).round(6)
    array([0.742365])
    """
    t = sparse_targets(be, y_true, y_pred, axis, ignore_index, class_weight)
    terms = _poly1_terms(be, y_pred, t.axis, from_logits, epsilon)
    # -sum_c w_c q_c terms_c for the smoothed one-hot q: the backend's (fused) sparse cross-entropy
    values = be.sparse_cross_entropy(terms, t.safe, t.axis, label_smoothing, class_weight)
    return t.per_sample(be, values)


@loss(arrays=("class_weight",), rules={"q": in_range(0.0, 1.0, lo_open=True)})
def categorical_generalized_cross_entropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    q: float = 0.5,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    ignore_index: Any = None,
    axis: int = -1,
) -> Any:
    """Generalized cross-entropy (Zhang & Sabuncu, 2018) with integer class labels.

    With ``p_y`` the predicted probability of the label::

        loss = (1 - p_y^q) / q

    a noise-robust loss between the cross-entropy (``q -> 0``) and the mean absolute
    error ``1 - p_y`` (``q = 1``). With label smoothing ``e``, K classes and class
    weights ``w`` (1 by default)::

        loss = (1 - e) w_y (1 - p_y^q) / q + (e / K) sum_c w_c (1 - p_c^q) / q

    Parameters
    ----------
    y_true : integer array, shape of y_pred without ``axis`` (a size-1 axis is allowed)
        Labels in [0, K) (Keras' convention for this loss, despite its name).
    y_pred : array, shape (..., K, ...)
        Probabilities (used as given, as Keras does: neither renormalised nor
        clipped; values outside [0, 1] are refused where readable, NaN elsewhere),
        or logits with ``from_logits=True`` (``p^q = exp(q log_softmax)``).
    q : float in (0, 1]
        The noise parameter.
    from_logits : bool
    label_smoothing, class_weight, ignore_index, axis, sample_weight, reduction
        See :func:`sparse_poly1_cross_entropy` (class c's term is weighted by ``w_c``).

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``keras.losses.categorical_generalized_cross_entropy(y_true, y_pred, q)``
    and ``keras.losses.CategoricalGeneralizedCrossEntropy(q)`` (which refuses
    ``q = 1``; allowed here, the paper's MAE end). ``p_y = 0`` gives ``1 / q`` with
    a zero gradient, where Keras' gradient is NaN.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> p = np.array([[0.7, 0.3], [0.2, 0.8]])
    >>> ul.categorical_generalized_cross_entropy(np.array([0, 1]), p).round(6)
    array([0.32668 , 0.211146])
    """
    xp = be.xp
    t = sparse_targets(be, y_true, y_pred, axis, ignore_index, class_weight)
    if from_logits:
        terms = xp.expm1(q * be.log_softmax(y_pred, t.axis)) / q
    else:  # p^q - 1: p = 0 gives -1 with a zero (not NaN) gradient; p outside [0, 1] is refused (or NaN)
        ok = probabilities(be, y_pred)  # first: a ValueError before any log of a negative value
        zero = xp.equal(y_pred, 0)
        log_p = xp.log(xp.where(zero, 1.0, y_pred))
        terms = nan_where(be, ok, xp.where(zero, -1.0, xp.expm1(q * log_p)) / q)
    values = be.sparse_cross_entropy(terms, t.safe, t.axis, label_smoothing, class_weight)
    return t.per_sample(be, values)


class Poly1CrossEntropy(FunctionLoss):
    """Class form of :func:`poly1_cross_entropy` (``optax.losses.poly_loss_cross_entropy``)."""

    function = poly1_cross_entropy


class SparsePoly1CrossEntropy(FunctionLoss):
    """Class form of :func:`sparse_poly1_cross_entropy`."""

    function = sparse_poly1_cross_entropy


class CategoricalGeneralizedCrossEntropy(FunctionLoss):
    """Class form of :func:`categorical_generalized_cross_entropy` (``keras.losses.CategoricalGeneralizedCrossEntropy``)."""

    function = categorical_generalized_cross_entropy
