"""``from_logits`` handling: log-softmax, log-sigmoid and probability clipping.

With ``from_logits=True`` log-probabilities come from a fused log-softmax or
from softplus, never from a sigmoid followed by a log, so a confidently wrong
logit of 30 costs exactly 30. With ``from_logits=False`` probabilities are
clipped into ``[epsilon, 1 - epsilon]`` (Keras); categorical probabilities are
first divided by their sum along the class axis (Keras).

Two transforms of logits live here too, shared by the categorical losses and the
LM-head loss (:func:`unilosses.linear_cross_entropy`): Gemma's soft cap of the
logits and PaLM's z-loss.
"""

from __future__ import annotations

from typing import Any

__all__ = ["binary_log_probs", "categorical_log_probs", "check_logit_options", "softcap_logits", "with_z_loss", "z_loss_term"]


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


def softcap_logits(be: Any, z: Any, softcap: Any) -> Any:
    """Gemma's soft cap ``c * tanh(z / c)`` (``softcap=None``: ``z`` unchanged), applied to
    logits before everything else; its derivative is ``1 - tanh(z / c)^2``."""
    if softcap is None:
        return z
    return softcap * be.xp.tanh(z / softcap)


def z_loss_term(lse: Any, z_loss: Any) -> Any:
    """PaLM's auxiliary z-loss ``z_loss * lse^2`` per sample, ``lse`` the logsumexp of its
    (capped) logits (Liger's ``lse_square_scale``); its derivative w.r.t. the logits is
    ``2 * z_loss * lse * softmax``."""
    return z_loss * (lse * lse)


def with_z_loss(be: Any, values: Any, logits: Any, axis: int, z_loss: Any) -> Any:
    """Per-sample ``values`` plus :func:`z_loss_term` of ``logits`` along ``axis`` (nothing
    is computed for a Python ``z_loss`` of 0)."""
    if isinstance(z_loss, (int, float)) and z_loss == 0:
        return values
    return values + z_loss_term(be.logsumexp(logits, axis), z_loss)


def check_logit_options(*, from_logits: bool = True, z_loss: Any = 0.0, softcap: Any = None, **_: Any) -> None:
    """``z_loss`` and ``softcap`` act on logits: with probabilities they are a ValueError."""
    if not from_logits:
        for name, value, default in (("z_loss", z_loss, 0.0), ("softcap", softcap, None)):
            if value is not default and not (isinstance(value, (int, float)) and value == default):
                raise ValueError(f"{name}: acts on logits; expected from_logits=True, got from_logits=False")
