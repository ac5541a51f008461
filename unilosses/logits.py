"""``from_logits`` handling: log-softmax, log-sigmoid and probability clipping.

With ``from_logits=True`` log-probabilities come from a fused log-softmax or
from softplus, never from a sigmoid followed by a log, so a confidently wrong
logit of 30 costs exactly 30. With ``from_logits=False`` probabilities are
clipped into ``[epsilon, 1 - epsilon]`` (Keras); categorical probabilities are
first divided by their sum along the class axis (Keras).
"""

from __future__ import annotations

from typing import Any

__all__ = ["binary_log_probs", "categorical_log_probs"]


def categorical_log_probs(
    be: Any, y_pred: Any, axis: int, from_logits: bool, epsilon: float
) -> Any:
    """log p along ``axis``: log-softmax of logits, or the log of clipped probabilities."""
    xp = be.xp
    if from_logits:
        return be.log_softmax(y_pred, axis)
    p = y_pred / xp.sum(y_pred, axis=axis, keepdims=True)
    return xp.log(xp.clip(p, epsilon, 1.0 - epsilon))


def binary_log_probs(
    be: Any, y_pred: Any, from_logits: bool, epsilon: float
) -> tuple[Any, Any]:
    """``(log p, log(1 - p))``: from logits with two softplus, else clipped.

    ``log p = -softplus(-z)`` and ``log(1 - p) = -softplus(z)``, each accurate to
    a relative error in its own tail; ``z - softplus(z)`` would cancel for large
    ``z`` (at ``z = 12`` in float32 it is 7% off, at ``z = 17`` it is 0).
    """
    xp = be.xp
    if from_logits:
        return -be.softplus(-y_pred), -be.softplus(y_pred)
    p = xp.clip(y_pred, epsilon, 1.0 - epsilon)
    return xp.log(p), xp.log1p(-p)
