"""Label smoothing, binary and categorical, in one place.

Binary targets are squeezed towards 0.5 (Keras, TF); categorical targets
towards the uniform distribution over the K classes of the class axis. Sparse
labels are never turned into a one-hot: :func:`sparse_smoothed` computes the
smoothed cross-entropy from the gathered term and one class-axis reduction.
"""

from __future__ import annotations

from typing import Any

from unilosses.options import is_zero

__all__ = ["smooth_binary", "smooth_categorical", "sparse_smoothed"]


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
