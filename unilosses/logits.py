"""How predictions become log-probabilities: logits, log-probabilities or probabilities.

With ``from_logits=True`` log-probabilities come from a fused log-softmax or
from softplus, never from a sigmoid followed by a log, so a confidently wrong
logit of 30 costs exactly 30. With ``from_log_probs=True`` the predictions are
log-probabilities, used as they are (torch's ``nll_loss``: nothing recomputed,
the gradient at the label is -1). With neither, probabilities are clipped into
``[epsilon, 1 - epsilon]`` (Keras); categorical probabilities are first divided
by their sum along the class axis (Keras).

``0 * log 0 = 0``: a class (or outcome) with no target mass contributes nothing,
with a zero gradient, even when its logit is ``-inf`` (a masked vocabulary entry,
an invalid action): :func:`masked_log` (optax's ``safe_softmax_cross_entropy``).

Two transforms of logits live here too, shared by the categorical losses and the
LM-head loss (:func:`unilosses.linear_cross_entropy`): Gemma's soft cap of the
logits and PaLM's z-loss.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from unilosses.rules import is_zero

__all__ = [
    "Included", "binary_log_probs", "categorical_log_probs", "check_input_kind", "check_logit_options", "included",
    "logit_transforms", "masked_log", "softcap_logits", "with_z_loss", "z_loss_term",
]


def check_input_kind(*, from_logits: bool, from_log_probs: bool, **_: Any) -> None:
    """``from_logits`` and ``from_log_probs`` name two kinds of input: at most one holds."""
    if from_logits and from_log_probs:
        raise ValueError(
            "from_log_probs: y_pred holds either logits (from_logits=True) or log-probabilities "
            "(from_log_probs=True), not both"
        )


def masked_log(be: Any, log_p: Any, absent: Any) -> Any:
    """``log_p`` with 0 where it is ``-inf`` and ``absent`` (the target has no mass there):
    multiplied by the target it gives ``0 * log 0 = 0``, with a zero gradient. Elsewhere
    ``log_p`` is kept, so the derivative in the target stays ``log_p``."""
    xp = be.xp
    return xp.where(xp.logical_and(absent, xp.equal(log_p, -float("inf"))), 0.0, log_p)


def categorical_log_probs(
    be: Any, y_pred: Any, axis: int, from_logits: bool, epsilon: float, from_log_probs: bool = False
) -> Any:
    """log p along ``axis``: log-softmax of logits, log-probabilities as given, or the log of
    clipped probabilities."""
    xp = be.xp
    if from_log_probs:
        return y_pred
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


class Included(NamedTuple):
    """The classes a ``where`` mask lets take part (see :func:`included`)."""

    mask: Any  #: bool, y_pred's shape: the class takes part
    any: Any  #: bool, y_pred's shape without the class axis: some class takes part (else the sample leaves)
    count: Any  #: the number of classes that take part, keepdims along the class axis (at least 1)

    def predictions(self, be: Any, y_pred: Any, probabilities: bool) -> Any:
        """``y_pred`` with the excluded classes out of every softmax and normalisation: a
        probability of 0, or half the lowest finite logit (finite: gradients stay finite; half: a
        Python float NumPy 1.x's value-based casting keeps in float32)."""
        fill = 0.0 if probabilities else 0.5 * float(be.xp.finfo(y_pred.dtype).min)
        return be.xp.where(self.mask, y_pred, fill)

    def targets(self, be: Any, q: Any) -> Any:
        return be.xp.where(self.mask, q, 0.0)


def included(be: Any, where: Any, y_pred: Any, axis: int) -> Included:
    """optax's ``where``: a mask of y_pred's shape (classes) or of its shape without the class
    axis (samples). Excluded classes leave the softmax and every sum; a sample with no class
    left leaves every denominator."""
    from unilosses.shapes import check_broadcasts

    xp = be.xp
    mask = xp.not_equal(where, 0)
    if mask.ndim == y_pred.ndim - 1:
        mask = xp.expand_dims(mask, axis=axis)
    check_broadcasts("where", mask, tuple(y_pred.shape))
    mask = xp.logical_and(mask, xp.equal(xp.ones_like(y_pred), 1.0))  # broadcast to y_pred's shape
    count = xp.sum(xp.astype(mask, y_pred.dtype), axis=axis, keepdims=True)
    return Included(mask, xp.any(mask, axis=axis), xp.clip(count, min=1.0))


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
    if is_zero(z_loss):
        return values
    return values + z_loss_term(be.logsumexp(logits, axis), z_loss)


def check_logit_options(
    *, from_logits: bool = True, from_log_probs: bool = False, z_loss: Any = 0.0, softcap: Any = None, **_: Any
) -> None:
    """:func:`check_input_kind`, and ``z_loss`` and ``softcap`` act on logits: with
    probabilities or log-probabilities they are a ValueError."""
    check_input_kind(from_logits=from_logits, from_log_probs=from_log_probs)
    if not from_logits:
        for name, unset in (("z_loss", is_zero(z_loss)), ("softcap", softcap is None)):
            if not unset:
                raise ValueError(f"{name}: acts on logits; expected from_logits=True, got from_logits=False")


def logit_transforms(be: Any, y_pred: Any, from_logits: bool, softcap: Any, z_loss: Any, where: Any) -> Any:
    """``y_pred`` soft-capped when it holds logits; ``z_loss`` with ``where`` is a ValueError
    (the z-loss of a sample with no class left is not defined yet)."""
    if where is not None and not is_zero(z_loss):
        raise ValueError("z_loss: not supported together with where= (pass one of them)")
    return softcap_logits(be, y_pred, softcap) if from_logits else y_pred
