"""Cross-entropy: binary, categorical and sparse categorical.

Each function is the specification: written once over an Array API namespace,
it runs on NumPy, JAX, PyTorch, TensorFlow and any Array API library.
"""

from __future__ import annotations

from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.logits import (
    binary_log_probs,
    categorical_log_probs,
    check_logit_options,
    included,
    logit_transforms,
    masked_log,
    with_z_loss,
)
from unilosses.rules import is_zero
from unilosses.shapes import (
    check_broadcasts,
    float_targets,
    mean_over,
    sparse_targets,
)
from unilosses.smoothing import smooth_binary, sparse_smoothed
from unilosses.targets import soft_targets
from unilosses.validity import both, nan_where, probabilities, targets_01

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]


@loss(arrays=("pos_weight",))
def binary_crossentropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    pos_weight: Any = None,
    axis: Any = -1,
    epsilon: float = 1e-7,
) -> Any:
    """Binary cross-entropy between targets in [0, 1] and probabilities or logits.

    With ``y`` the (smoothed) target and ``p`` the predicted probability::

        loss = -mean_axis( pos_weight * y * log(p) + (1 - y) * log(1 - p) )

    ``label_smoothing=e`` uses ``y * (1 - e) + 0.5 * e``. With ``from_logits=True``
    ``log p = -softplus(-z)`` and ``log(1 - p) = -softplus(z)`` (exact for large
    ``|z|``); otherwise ``p`` is clipped into ``[epsilon, 1 - epsilon]``.

    Parameters
    ----------
    y_true : array, shape (..., D)
        Targets in [0, 1]; Python / NumPy values are converted to y_pred's framework.
    y_pred : array, shape (..., D)
        Probabilities, or logits with ``from_logits=True``. Decides the backend.
    from_logits : bool
        Whether ``y_pred`` holds logits.
    label_smoothing : float in [0, 1]
        Squeezes targets towards 0.5.
    pos_weight : array, shape broadcastable to (..., D), optional
        Weight of the positive term (torch's ``pos_weight``).
    axis : int or None
        Axis averaged over (Keras); ``None`` returns per-element values so that
        per-element weights apply before the reduction.
    epsilon : float in (0, 0.5)
        Clipping of probabilities.

    Returns
    -------
    array
        Shape (...,) (or (..., D) with ``axis=None``) for ``reduction="none"``,
        a scalar otherwise, or :class:`unilosses.LossStats` for ``"stats"``.

    Notes
    -----
    Matches ``keras.losses.binary_crossentropy(y_true, y_pred, from_logits,
    label_smoothing, axis)``; with ``from_logits=True`` and ``axis=None`` it is
    ``torch.nn.functional.binary_cross_entropy_with_logits(y_pred, y_true,
    pos_weight=..., reduction="none")`` and ``tf.nn.sigmoid_cross_entropy_with_logits``.
    torch's probability form clamps the log at -100 instead of clipping.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.binary_crossentropy(np.array([[0.0, 1.0]]), np.array([[30.0, 0.0]], dtype=np.float32), from_logits=True)
    array([15.346574], dtype=float32)
    """
    t = float_targets(be, y_true, y_pred)
    ok = targets_01(be, t) if from_logits else both(be, targets_01(be, t), probabilities(be, y_pred))
    y = smooth_binary(t, label_smoothing)
    log_p, log_1mp = binary_log_probs(be, y_pred, from_logits, epsilon)
    if from_logits:  # logits of +-inf: 0 * log 0 = 0 for the outcome with no target mass
        log_p, log_1mp = masked_log(be, log_p, be.xp.equal(y, 0.0)), masked_log(be, log_1mp, be.xp.equal(y, 1.0))
    if pos_weight is not None:
        check_broadcasts("pos_weight", pos_weight, tuple(y_pred.shape))
    pos = y * log_p if pos_weight is None else pos_weight * y * log_p
    return mean_over(be, nan_where(be, ok, -(pos + (1.0 - y) * log_1mp)), axis)


@loss(arrays=("class_weight", "where"), check=check_logit_options)
def categorical_crossentropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    from_log_probs: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    where: Any = None,
    axis: int = -1,
    epsilon: float = 1e-7,
    z_loss: float = 0.0,
    softcap: Any = None,
) -> Any:
    """Cross-entropy between target distributions and probabilities or logits.

    With ``q`` the (smoothed) target distribution along ``axis`` and ``w`` the class
    weights (1 by default)::

        loss = -sum_c w_c q_c log p_c

    ``label_smoothing=e`` uses ``q = y * (1 - e) + e / K`` (K classes). ``log p`` is
    a log-softmax of logits, log-probabilities as given, or the log of probabilities
    divided by their sum and clipped into ``[epsilon, 1 - epsilon]`` (Keras). A class
    with ``q_c = 0`` contributes nothing even when its logit is ``-inf`` (0 log 0 = 0).

    Parameters
    ----------
    y_true : array, shape (..., K, ...)
        Target distributions (one-hot or soft) along ``axis``.
    y_pred : array, same shape
        Probabilities, logits with ``from_logits=True``, or log-probabilities with
        ``from_log_probs=True``.
    from_logits : bool
    from_log_probs : bool
        ``y_pred`` holds log-probabilities, used as given (nothing renormalised).
    label_smoothing : float in [0, 1]
    class_weight : array, shape (K,), optional
        torch's ``weight``. A sample's weight in ``"mean_with_sample_weight"`` is
        ``sum_c w_c y_c`` (``w[y]`` for one-hot targets).
    where : boolean array, y_pred's shape or its shape without ``axis``, optional
        optax's ``where``: the classes (or samples) that take part. Excluded classes
        leave the softmax, the normalisation of probabilities, the smoothing's K and
        every sum; a sample with no class left leaves every denominator.
    axis : int
        The class axis (``1`` for torch's NCHW layout).
    epsilon : float in (0, 0.5)
    z_loss : float >= 0
        Adds PaLM's ``z_loss * logsumexp(z)^2`` per sample (logits only; not class-weighted;
        not with ``where``).
    softcap : float > 0, optional
        Gemma's soft cap: logits become ``softcap * tanh(z / softcap)`` first (logits only).

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Matches ``keras.losses.categorical_crossentropy``, ``optax.softmax_cross_entropy``
    (logits, ``where``; with ``optax.smooth_labels`` for smoothing), ``tf.nn.softmax_cross_entropy_with_logits``
    and ``torch.nn.functional.cross_entropy`` with probability targets
    (``weight=class_weight``; torch's ``"mean"`` for probability targets is
    ``"sum_over_batch_size"`` here).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float64)
    >>> p = np.array([[.3, .3, .4], [.3, .4, .3], [.1, .2, .7]])
    >>> float(ul.categorical_crossentropy(y, p, reduction="mean"))
    1.3783888522474517
    """
    t = soft_targets(be, y_true, y_pred, axis, label_smoothing, where, class_weight)
    logits = from_logits or from_log_probs
    y_pred = logit_transforms(be, y_pred, from_logits, softcap, z_loss, where)
    if t.inc is not None:
        y_pred = t.inc.predictions(be, y_pred, not logits)
    log_p = categorical_log_probs(be, y_pred, t.axis, from_logits, epsilon, from_log_probs)
    ok = t.ok
    if logits:  # masked (-inf) classes with no target mass: 0 log 0 = 0
        log_p = masked_log(be, log_p, be.xp.equal(t.q, 0.0))
    else:
        ok = both(be, ok, probabilities(be, y_pred))
    terms = nan_where(be, ok, t.q * log_p)
    values = with_z_loss(be, -t.class_sum(be, terms, class_weight), y_pred, t.axis, z_loss)
    return t.per_sample(be, values, class_weight)


@loss(arrays=("class_weight", "where"), check=check_logit_options)
def sparse_categorical_crossentropy(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    from_log_probs: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    where: Any = None,
    ignore_index: Any = None,
    axis: int = -1,
    epsilon: float = 1e-7,
    z_loss: float = 0.0,
    softcap: Any = None,
) -> Any:
    """Cross-entropy with integer class labels, never building a one-hot.

    With ``y`` the label, ``w`` the class weights (1 by default) and K classes::

        loss = (1 - e) * w_y * (-log p_y) + (e / K) * sum_c w_c * (-log p_c)

    which is ``-sum_c w_c q_c log p_c`` for the smoothed one-hot ``q``, computed
    from one gather and one class-axis reduction.

    Parameters
    ----------
    y_true : integer array, shape of y_pred without ``axis`` (a size-1 axis is allowed)
        Labels in [0, K); floats are cast to integers (Keras).
    y_pred : array, shape (..., K, ...)
        Probabilities, logits with ``from_logits=True``, or log-probabilities with
        ``from_log_probs=True``.
    from_logits : bool
    from_log_probs : bool
        ``y_pred`` holds log-probabilities, used as given: ``loss = -w_y log_p[y]``
        (torch's ``nll_loss``; the gradient is ``-w_y`` at the label, 0 elsewhere).
    label_smoothing : float in [0, 1]
    class_weight : array, shape (K,), optional
        torch's ``weight``; ``w_y`` is also the sample's weight in
        ``"mean_with_sample_weight"`` (torch's ``"mean"``).
    where : boolean array, y_pred's shape or its shape without ``axis``, optional
        optax's ``where`` (see :func:`categorical_crossentropy`); a label on an excluded
        class gives NaN (optax returns a number from outside the support).
    ignore_index : int, optional
        Positions with this label give 0 and leave every denominator (torch's
        ``ignore_index``, Keras' ``ignore_class``).
    axis : int
        The class axis (``1`` for torch's NCHW layout).
    epsilon : float in (0, 0.5)
    z_loss, softcap : see :func:`categorical_crossentropy` (logits only); as in
        :func:`unilosses.linear_cross_entropy`.

    Returns
    -------
    array, shape of y_pred without ``axis`` (``reduction="none"``), else a scalar.

    Notes
    -----
    Labels outside [0, K) that are not ignored raise a ValueError where they can
    be checked without a device synchronisation (NumPy, eager CPU torch and
    TensorFlow) and give NaN otherwise.

    Matches ``torch.nn.functional.cross_entropy(y_pred, y_true, weight=class_weight,
    ignore_index=..., label_smoothing=...)`` with ``from_logits=True, axis=1`` (its
    ``"mean"`` is ``"mean_with_sample_weight"``), ``torch.nn.functional.nll_loss`` with
    ``from_log_probs=True, axis=1``, ``keras.losses.sparse_categorical_crossentropy`` (with
    ``ignore_class``), ``optax.softmax_cross_entropy_with_integer_labels`` and
    ``tf.nn.sparse_softmax_cross_entropy_with_logits``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> s = np.array([[10.0, -2.0, 3.0], [10.0, 9.0, 9.0]])
    >>> ul.sparse_categorical_crossentropy(np.array([0, 0]), s, from_logits=True).round(6)
    array([0.000918, 0.551445])
    """
    t = sparse_targets(be, y_true, y_pred, axis, ignore_index, class_weight)
    y_pred = logit_transforms(be, y_pred, from_logits, softcap, z_loss, where)
    if where is not None:
        return _sparse_where(be, t, y_pred, where, from_logits, from_log_probs, label_smoothing, class_weight, epsilon)
    if from_logits:  # one fused kernel where the framework has one
        values = be.sparse_softmax_cross_entropy(y_pred, t.safe, t.axis, label_smoothing, class_weight)
        values = with_z_loss(be, values, y_pred, t.axis, z_loss)
    else:
        log_p = categorical_log_probs(be, y_pred, t.axis, False, epsilon, from_log_probs)
        values = be.sparse_cross_entropy(log_p, t.safe, t.axis, label_smoothing, class_weight)
        if not from_log_probs:
            ok = probabilities(be, y_pred)
            values = values if ok is None else nan_where(be, be.xp.all(ok, axis=t.axis), values)
    return t.per_sample(be, values)


def _sparse_where(
    be: Any, t: Any, y_pred: Any, where: Any, from_logits: bool, from_log_probs: bool,
    label_smoothing: Any, class_weight: Any, epsilon: float,
) -> Any:
    """The sparse cross-entropy over the classes ``where`` lets take part (optax's ``where``)."""
    xp = be.xp
    logits = from_logits or from_log_probs
    inc = included(be, where, y_pred, t.axis)
    ok = None if logits else probabilities(be, y_pred)
    log_p = categorical_log_probs(be, inc.predictions(be, y_pred, not logits), t.axis, from_logits, epsilon, from_log_probs)
    log_p = xp.where(inc.mask, log_p, 0.0)  # excluded classes leave the smoothing's sum
    count = xp.squeeze(inc.count, axis=t.axis)
    values = sparse_smoothed(
        be, log_p, -be.gather(log_p, t.safe, t.axis), label_smoothing, t.axis, class_weight, t.weight, count
    )
    label_in = xp.equal(be.gather(xp.astype(inc.mask, y_pred.dtype), t.safe, t.axis), 1.0)
    if ok is not None:
        label_in = xp.logical_and(label_in, xp.all(ok, axis=t.axis))
    values = nan_where(be, xp.logical_or(label_in, xp.logical_not(inc.any)), values)
    valid = inc.any if t.valid is None else xp.logical_and(t.valid, inc.any)
    return t._replace(valid=valid).per_sample(be, values)


@sparse_categorical_crossentropy.spec.specialise("torch")
def _torch_kernel(be: Any, options: dict[str, Any], reduction: str) -> Any:
    """On torch this runs ``F.cross_entropy`` (logits) or ``F.nll_loss`` (log-probabilities),
    torch's reduction included, which compute exactly the spec above: for small batches the
    Python work of the spec costs more than the kernel. Where it applies: no probabilities,
    ``z_loss``, ``softcap``, array-valued smoothing or smoothing of log-probabilities; the
    reductions ``"none"`` and ``"sum"``, and the means without ``ignore_index`` or class weights
    (torch's ``"mean"`` divides by the class weights' sum and gives NaN for an empty batch).
    The kernel itself (``TorchBackend.eager_cross_entropy``) takes only eager
    CPU tensors and hands anything else back to the spec."""
    from_logits, from_log_probs = options["from_logits"], options["from_log_probs"]
    e = options["label_smoothing"]
    if not (from_logits or from_log_probs) or not isinstance(e, float) or (from_log_probs and e):
        return None
    if not is_zero(options["z_loss"]) or options["softcap"] is not None:
        return None
    if reduction in ("none", "sum"):
        torch_reduction, class_weight = reduction, True
    elif reduction in ("sum_over_batch_size", "mean_with_sample_weight") and options["ignore_index"] is None:
        torch_reduction, class_weight = "mean", False
    else:
        return None
    return be.eager_cross_entropy(
        from_logits=from_logits, label_smoothing=e, ignore_index=options["ignore_index"], axis=options["axis"],
        reduction=torch_reduction, class_weight=class_weight,
    )


class BinaryCrossentropy(FunctionLoss):
    """Class form of :func:`binary_crossentropy` (``keras.losses.BinaryCrossentropy``)."""

    function = binary_crossentropy


class CategoricalCrossentropy(FunctionLoss):
    """Class form of :func:`categorical_crossentropy` (``keras.losses.CategoricalCrossentropy``)."""

    function = categorical_crossentropy


class SparseCategoricalCrossentropy(FunctionLoss):
    """Class form of :func:`sparse_categorical_crossentropy` (``torch.nn.CrossEntropyLoss``)."""

    function = sparse_categorical_crossentropy
