"""Label smoothing, binary and categorical, in one place.

Binary targets are squeezed towards 0.5 (Keras, TF); categorical targets
towards the uniform distribution over the K classes of the class axis. Sparse
labels are never turned into a one-hot: :func:`sparse_smoothed` computes the
smoothed cross-entropy from the gathered term and one class-axis reduction.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from unilosses.options import is_zero

__all__ = ["smooth_binary", "smooth_categorical", "smooth_labels", "sparse_smoothed"]


def smooth_binary(y: Any, label_smoothing: float) -> Any:
    """``y * (1 - e) + 0.5 * e``."""
    if is_zero(label_smoothing):
        return y
    return y * (1.0 - label_smoothing) + 0.5 * label_smoothing


def smooth_categorical(y: Any, label_smoothing: float, num_classes: int) -> Any:
    """``y * (1 - e) + e / K``, K the size of the class axis."""
    if is_zero(label_smoothing):
        return y
    return y * (1.0 - label_smoothing) + label_smoothing / num_classes


def sparse_smoothed(
    be: Any,
    log_probs: Any,
    nll_y: Any,
    label_smoothing: float,
    axis: int,
    class_weight: Any = None,
    weight_y: Any = None,
    num_classes: Any = None,
) -> Any:
    """``-sum_c w_c q_c log p_c`` with ``q = (1 - e) onehot(y) + e / K``, no one-hot.

    ``nll_y`` is ``-log p_y``; ``weight_y`` is ``w_y`` (None without class weights).
    Equals ``(1 - e) w_y nll_y - (e / K) sum_c w_c log p_c``: the uniform term is
    weighted by ``w_c`` too (torch's ``cross_entropy(weight, label_smoothing)``).
    ``num_classes``: K when not the size of the class axis (classes left out by a mask,
    whose ``log_probs`` are then 0), per sample.
    """
    xp = be.xp
    value = nll_y if weight_y is None else weight_y * nll_y
    if is_zero(label_smoothing):
        return value
    k = log_probs.shape[axis] if num_classes is None else num_classes
    if class_weight is None:
        total = xp.sum(log_probs, axis=axis)
    else:
        total = be.classdot(log_probs, class_weight, axis)
    return (1.0 - label_smoothing) * value - label_smoothing * (total / k)


def smooth_labels(labels: Any, alpha: Any, *, axis: Any = -1, where: Any = None) -> Any:
    """Label smoothing of one-hot (or soft) labels, as ``optax.smooth_labels``.

    ::

        smoothed = (1 - alpha) * labels + alpha / K

    with ``K`` the number of categories along ``axis`` (the product of the sizes
    for a tuple), or with ``where`` the number of ``True`` entries along ``axis``
    (kept for broadcasting). Every entry is smoothed, masked ones too (optax).

    Parameters
    ----------
    labels : floating-point array of any framework (or Python / NumPy values)
        One-hot or soft labels; they decide the framework, device and dtype.
    alpha : float in [0, 1], or a 0-d array of the labels' framework
        The smoothing factor (a traced value under ``jax.jit`` too).
    axis : int or tuple of ints
        The category axis (axes).
    where : boolean array broadcastable to labels, optional
        The categories that count in ``K``, per row.

    Returns
    -------
    array, labels' shape, framework and dtype.

    Notes
    -----
    The losses take ``label_smoothing=alpha`` themselves (sparse labels are never
    turned into a one-hot); this helper is for porting code that smooths first,
    e.g. ``optax.softmax_cross_entropy(logits, optax.smooth_labels(y, 0.1))`` is
    ``categorical_crossentropy(smooth_labels(y, 0.1), logits, from_logits=True)``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.smooth_labels(np.array([[0.0, 1.0, 0.0, 0.0]]), 0.2)
    array([[0.05, 0.85, 0.05, 0.05]])
    """
    from unilosses.backends import _HOST_TYPES, backend_for, convert  # here: backends import this module
    from unilosses.loss import in_range
    from unilosses.losses._common import class_axis

    if isinstance(alpha, (int, float, np.integer, np.floating)):
        alpha = in_range(0.0, 1.0)("alpha", alpha)
    if isinstance(labels, _HOST_TYPES):
        labels = np.asarray(labels)
    be = backend_for(labels)
    xp = be.xp
    if not xp.isdtype(labels.dtype, "real floating"):
        raise TypeError(f"labels: expected floating-point (one-hot or soft) labels, got dtype {labels.dtype}")
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis: expected an integer axis or a tuple of them, got {axis!r}")
        class_axis(int(a), labels.ndim)
    try:
        if where is None:
            count: Any = math.prod(labels.shape[a] for a in axes)
        else:
            mask = convert(be, where, labels, "where")
            count = xp.sum(xp.astype(mask, labels.dtype), axis=tuple(int(a) for a in axes), keepdims=True)
        if not isinstance(alpha, (int, float)):
            alpha = convert(be, alpha, labels, "alpha", labels.dtype)
    except TypeError as e:  # convert's message names y_pred: here the labels decide
        raise TypeError(str(e).replace("y_pred", "labels")) from None
    return (1.0 - alpha) * labels + alpha / count
