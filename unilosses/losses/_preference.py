"""Preference losses: DPO and its variants, SimPO, CPO, ORPO, KTO.

Each takes per-sequence log-probabilities of the policy (and of a reference model where the
loss has one): ``log p(y | x)`` summed over the completion's tokens, one value per sequence,
as TRL's trainers and Liger-Kernel's chunked losses compute them from the per-token values of
:func:`unilosses.token_log_probs` (or any other source). The value is one per pair (per
sequence for KTO), reduced by the usual ``reduction=`` (TRL's and Liger's loss is the mean
over pairs: ``reduction="mean"``).

Where a loss works on per-token means (IPO, SimPO, ORPO, CPO's IPO), the optional lengths
divide the sums: ``x / max(length, 1)``; without lengths the inputs are taken as the means
already (what Liger's ``average_log_prob=True`` gives).

With ``z`` the margin of a pair and ``logsig`` the log-sigmoid::

    dpo      z = beta * ((c - c_ref) - (r - r_ref))
             sigmoid: -(1 - e) logsig(z) - e logsig(-z)       (cDPO's smoothing e)
             robust:  (-(1 - e) logsig(z) + e logsig(-z)) / (1 - 2e)
             hinge:   max(0, 1 - z)
             ipo:     (d - 1 / (2 beta))^2,  d = (c - c_ref) / |c| - (r - r_ref) / |r|
    simpo    z = beta * (c / |c| - r / |r|) - gamma;  -(1 - e) logsig(z) - e logsig(-z)
    cpo      dpo without the reference (its NLL term is a separate cross-entropy)
    orpo     beta * -logsig(log_odds),  log_odds = (c - r) - (log(1 - e^c) - log(1 - e^r)),
             c and r per-token means: >= 0, added to the NLL of the chosen completions
    kto      w * (1 - sigmoid(beta * s * (lr - kl))),  lr = logp - ref,  s = +1 / -1
             for desirable / undesirable sequences
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.dims import shape_of
from unilosses.rules import flag, in_range, is_zero, one_of
from unilosses.shapes import check_broadcasts
from unilosses.shapes import relu as _relu

__all__ = [
    "CPO",
    "DPO",
    "KTO",
    "ORPO",
    "SimPO",
    "cpo",
    "dpo",
    "kto",
    "orpo",
    "simpo",
]

#: cDPO's / the robust loss's fraction of flipped labels: below 1/2 (the robust loss divides by 1 - 2e)
_SMOOTHING = in_range(0.0, 0.5, hi_open=True)
_GAMMA = in_range(-math.inf, math.inf, lo_open=True, hi_open=True)
_NONNEGATIVE = in_range(0.0, math.inf, hi_open=True)
_DPO_TYPES = one_of("sigmoid", "robust", "hinge", "ipo")
_CPO_TYPES = one_of("sigmoid", "hinge", "ipo")


def _check_smoothing(loss_type: str, label_smoothing: Any, **_: Any) -> None:
    if loss_type in ("hinge", "ipo") and not is_zero(label_smoothing):
        raise ValueError(
            f"label_smoothing: only used with loss_type 'sigmoid' or 'robust', got {label_smoothing!r} "
            f"with loss_type={loss_type!r} (TRL warns and ignores it there)"
        )


def _log_sigmoid(be: Any, x: Any) -> Any:
    return -be.softplus(-x)


def _check_inputs(first: str, shape: tuple[Any, ...], **others: Any) -> None:
    for name, x in others.items():
        if x is not None:
            check_broadcasts(name, x, shape, first)


def _per_token(be: Any, x: Any, length: Any) -> Any:
    """``x / max(length, 1)``: a sequence's summed log-probability as a mean over its tokens
    (TRL's ``clamp(min=1)``: an empty completion keeps its sum, 0); ``x`` without lengths."""
    return x if length is None else x / be.xp.clip(length, min=1.0)


def _smoothed_sigmoid(be: Any, z: Any, e: Any) -> Any:
    """``-(1 - e) logsig(z) - e logsig(-z)``: the logistic loss against the label ``1 - e``."""
    out = -_log_sigmoid(be, z)
    return out if is_zero(e) else (1.0 - e) * out - e * _log_sigmoid(be, -z)


def _pair_loss(be: Any, chosen: Any, rejected: Any, beta: Any, loss_type: str, e: Any) -> Any:
    """DPO's losses of the score difference ``chosen - rejected`` (per-token means for IPO)."""
    delta = chosen - rejected
    if loss_type == "ipo":
        d = delta - 1.0 / (2.0 * beta)
        return d * d
    z = beta * delta
    if loss_type == "hinge":
        return _relu(be, 1.0 - z)
    if loss_type == "robust":
        return (-(1.0 - e) * _log_sigmoid(be, z) + e * _log_sigmoid(be, -z)) / (1.0 - 2.0 * e)
    return _smoothed_sigmoid(be, z, e)


_PAIR = ("chosen_log_probs", "rejected_log_probs")


@loss(
    inputs=(*_PAIR, "ref_chosen_log_probs", "ref_rejected_log_probs", "chosen_lengths", "rejected_lengths"),
    rules={"loss_type": _DPO_TYPES, "label_smoothing": _SMOOTHING, "reference_free": flag},
    check=_check_smoothing,
)
def dpo(
    be: Any,
    chosen_log_probs: Any,
    rejected_log_probs: Any,
    ref_chosen_log_probs: Any = None,
    ref_rejected_log_probs: Any = None,
    chosen_lengths: Any = None,
    rejected_lengths: Any = None,
    *,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
    reference_free: bool = False,
) -> Any:
    """Direct Preference Optimization, per pair of completions (TRL's ``DPOTrainer``).

    With ``c, r`` the policy's summed log-probabilities of the chosen and rejected
    completions, ``c_ref, r_ref`` the reference model's, ``e = label_smoothing`` and
    ``z = beta * ((c - c_ref) - (r - r_ref))``::

        sigmoid: -(1 - e) logsig(z) - e logsig(-z)              (cDPO; e = 0: DPO)
        robust:  (-(1 - e) logsig(z) + e logsig(-z)) / (1 - 2e)  (Chowdhury et al. 2024)
        hinge:   max(0, 1 - z)                                   (SLiC)
        ipo:     (d - 1 / (2 beta))^2,  d = (c - c_ref) / |c| - (r - r_ref) / |r|

    IPO works on per-token means: ``|c|``, ``|r|`` are ``chosen_lengths`` and
    ``rejected_lengths`` (the completions' token counts, at least 1 as TRL clamps them);
    without them the inputs are taken as per-token means already.

    Parameters
    ----------
    chosen_log_probs, rejected_log_probs : array, shape (B,) (or any shape)
        The policy's summed log-probabilities of each pair's completions.
        ``chosen_log_probs`` decides the backend.
    ref_chosen_log_probs, ref_rejected_log_probs : array broadcastable to (B,)
        The reference model's (constants to the trainer; differentiated if they are not).
        Required unless ``reference_free``.
    chosen_lengths, rejected_lengths : array broadcastable to (B,), optional
        Completion token counts; used by ``loss_type="ipo"`` only.
    beta : float > 0
        The inverse temperature (IPO's ``tau``).
    loss_type : {"sigmoid", "robust", "hinge", "ipo"}
    label_smoothing : float in [0, 0.5)
        The assumed fraction of flipped preference labels: cDPO's smoothing of the sigmoid
        loss (applied, as TRL up to 0.2x and Liger's CPO and SimPO do; TRL 1.x ignores it
        for "sigmoid"), or the robust loss's ``e``. Must be 0 for "hinge" and "ipo".
    reference_free : bool
        Leave the reference out (``c_ref = r_ref = 0``; TRL's ``reference_free=True``).

    Returns
    -------
    array, shape (B,) (``reduction="none"``), else a scalar. The rewards trainers log
    are ``beta * (c - c_ref)`` and ``beta * (r - r_ref)``.

    Notes
    -----
    ``DPOTrainer``'s loss (TRL 1.x, ``f_divergence_type="reverse_kl"``) is
    ``reduction="mean"`` of this; Liger-Kernel's
    ``LigerFusedLinearDPOFunction.preference_loss_fn`` gives the same for "sigmoid" with
    ``e = 0``, "hinge" and "robust" (it has no "ipo"; its sigmoid ignores ``e``).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> c, r = np.array([-5.0, -9.0]), np.array([-7.0, -6.0])
    >>> ul.dpo(c, r, np.array([-6.0, -8.0]), np.array([-7.0, -7.0]), beta=0.5).round(4).tolist()
    [0.4741, 1.3133]
    >>> ul.dpo(c, r, reference_free=True, beta=0.5).round(4).tolist()
    [0.3133, 1.7014]
    """
    shape = shape_of(chosen_log_probs)
    _check_inputs(
        "chosen_log_probs", shape, rejected_log_probs=rejected_log_probs, ref_chosen_log_probs=ref_chosen_log_probs,
        ref_rejected_log_probs=ref_rejected_log_probs, chosen_lengths=chosen_lengths, rejected_lengths=rejected_lengths,
    )
    chosen, rejected = chosen_log_probs, rejected_log_probs
    if not reference_free:
        for name, ref in (("ref_chosen_log_probs", ref_chosen_log_probs), ("ref_rejected_log_probs", ref_rejected_log_probs)):
            if ref is None:
                raise ValueError(f"{name}: required unless reference_free=True")
        chosen, rejected = chosen - ref_chosen_log_probs, rejected - ref_rejected_log_probs
    if loss_type == "ipo":
        chosen, rejected = _per_token(be, chosen, chosen_lengths), _per_token(be, rejected, rejected_lengths)
    return _pair_loss(be, chosen, rejected, beta, loss_type, label_smoothing)


@loss(
    inputs=(*_PAIR, "chosen_lengths", "rejected_lengths"),
    rules={"gamma": _GAMMA, "label_smoothing": _SMOOTHING},
)
def simpo(
    be: Any,
    chosen_log_probs: Any,
    rejected_log_probs: Any,
    chosen_lengths: Any = None,
    rejected_lengths: Any = None,
    *,
    beta: float = 2.0,
    gamma: float = 0.5,
    label_smoothing: float = 0.0,
) -> Any:
    """SimPO: the length-normalised, reference-free preference loss (Meng et al. 2024).

    With ``c, r`` the summed log-probabilities of the chosen and rejected completions and
    ``|c|``, ``|r|`` their token counts::

        z = beta * (c / |c| - r / |r|) - gamma
        loss = -(1 - e) logsig(z) - e logsig(-z)

    ``gamma`` is subtracted after the scaling by ``beta`` (TRL's ``CPOTrainer`` with
    ``loss_type="simpo"`` and Liger-Kernel's SimPO; the SimPO repository's
    ``gamma_beta_ratio`` is ``gamma / beta`` here).

    Parameters
    ----------
    chosen_log_probs, rejected_log_probs : array, shape (B,)
        Summed log-probabilities (per-token means without lengths). The first decides the backend.
    chosen_lengths, rejected_lengths : array broadcastable to (B,), optional
        Token counts (clamped at 1); without them the inputs are per-token means already.
    beta : float > 0
    gamma : float
        The target reward margin.
    label_smoothing : float in [0, 0.5)

    Returns
    -------
    array, shape (B,) (``reduction="none"``), else a scalar.

    Notes
    -----
    Liger-Kernel's ``LigerFusedLinearSimPOFunction.preference_loss_fn`` (per-token mean
    log-probabilities) and TRL's ``CPOTrainer(loss_type="simpo", simpo_gamma=gamma)`` (its
    ``cpo_loss``, which subtracts ``simpo_gamma / beta`` before scaling by ``beta``) give
    ``reduction="mean"`` of this (TRL's ``cpo_alpha`` NLL term aside).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.simpo(np.array([-4.0]), np.array([-9.0]), np.array([4]), np.array([6])).round(4).tolist()
    [0.4741]
    """
    shape = shape_of(chosen_log_probs)
    _check_inputs(
        "chosen_log_probs", shape, rejected_log_probs=rejected_log_probs, chosen_lengths=chosen_lengths,
        rejected_lengths=rejected_lengths,
    )
    c = _per_token(be, chosen_log_probs, chosen_lengths)
    r = _per_token(be, rejected_log_probs, rejected_lengths)
    return _smoothed_sigmoid(be, beta * (c - r) - gamma, label_smoothing)


@loss(
    inputs=(*_PAIR, "chosen_lengths", "rejected_lengths"),
    rules={"loss_type": _CPO_TYPES, "label_smoothing": _SMOOTHING},
    check=_check_smoothing,
)
def cpo(
    be: Any,
    chosen_log_probs: Any,
    rejected_log_probs: Any,
    chosen_lengths: Any = None,
    rejected_lengths: Any = None,
    *,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> Any:
    """Contrastive Preference Optimization's preference term (Xu et al. 2024): DPO without a reference.

    With ``z = beta * (c - r)``::

        sigmoid: -(1 - e) logsig(z) - e logsig(-z)
        hinge:   max(0, 1 - z)
        ipo:     (c / |c| - r / |r| - 1 / (2 beta))^2

    exactly :func:`dpo` with ``reference_free=True``. CPO's loss adds the NLL of the chosen
    completions (TRL's ``cpo_alpha``), a cross-entropy computed apart
    (:func:`sparse_categorical_crossentropy` or :func:`linear_cross_entropy`).

    Parameters
    ----------
    chosen_log_probs, rejected_log_probs : array, shape (B,)
        The policy's summed log-probabilities (TRL averages them for "ipo": give the lengths).
    chosen_lengths, rejected_lengths : array broadcastable to (B,), optional
        Token counts, for "ipo" only.
    beta : float > 0
    loss_type : {"sigmoid", "hinge", "ipo"}
    label_smoothing : float in [0, 0.5); "sigmoid" only.

    Returns
    -------
    array, shape (B,) (``reduction="none"``), else a scalar.

    Notes
    -----
    Liger-Kernel's ``LigerFusedLinearCPOFunction.preference_loss_fn`` and TRL's
    ``CPOTrainer.cpo_loss`` (the ``losses`` it returns) give this, averaged.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.cpo(np.array([-5.0]), np.array([-7.0]), beta=0.5).round(4).tolist()
    [0.3133]
    """
    shape = shape_of(chosen_log_probs)
    _check_inputs(
        "chosen_log_probs", shape, rejected_log_probs=rejected_log_probs, chosen_lengths=chosen_lengths,
        rejected_lengths=rejected_lengths,
    )
    c, r = chosen_log_probs, rejected_log_probs
    if loss_type == "ipo":
        c, r = _per_token(be, c, chosen_lengths), _per_token(be, r, rejected_lengths)
    return _pair_loss(be, c, r, beta, loss_type, label_smoothing)


def _log1m_exp(be: Any, x: Any) -> Any:
    """``log(1 - exp(x))`` for ``x < 0``, accurate at both ends (Maechler 2012): ``log(-expm1(x))``
    above ``-log 2``, ``log1p(-exp(x))`` below; each branch gets a safe input."""
    xp = be.xp
    near = x > -math.log(2.0)
    a = xp.where(near, x, xp.full_like(x, -1.0))
    b = xp.where(near, xp.full_like(x, -1.0), x)
    return xp.where(near, xp.log(-xp.expm1(a)), xp.log1p(-xp.exp(b)))


@loss(inputs=(*_PAIR, "chosen_lengths", "rejected_lengths"))
def orpo(
    be: Any,
    chosen_log_probs: Any,
    rejected_log_probs: Any,
    chosen_lengths: Any = None,
    rejected_lengths: Any = None,
    *,
    beta: float = 0.1,
) -> Any:
    """ORPO's odds-ratio term (Hong et al. 2024), >= 0, to add to the NLL of the chosen completions.

    With ``c, r`` the per-token mean log-probabilities of the chosen and rejected
    completions (sums divided by the lengths where given)::

        log_odds = (c - r) - (log(1 - exp(c)) - log(1 - exp(r)))
        loss = -beta * logsig(log_odds)

    ORPO's loss is ``NLL(chosen) + mean(loss)``, the NLL a cross-entropy computed apart.

    Parameters
    ----------
    chosen_log_probs, rejected_log_probs : array, shape (B,)
        Per-token means of log-probabilities (< 0), or sums with the lengths below.
    chosen_lengths, rejected_lengths : array broadcastable to (B,), optional
        Token counts (clamped at 1).
    beta : float > 0
        ORPO's lambda.

    Returns
    -------
    array, shape (B,) (``reduction="none"``), else a scalar.

    Notes
    -----
    Liger-Kernel's sign: ``LigerFusedLinearORPOFunction.preference_loss_fn`` returns the
    mean of this; TRL's ``ORPOTrainer.odds_ratio_loss`` returns ``beta * logsig(log_odds)``
    (this, negated) and subtracts its mean from the NLL.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.orpo(np.array([-0.5]), np.array([-1.5]), beta=1.0).round(4).tolist()
    [0.1709]
    """
    shape = shape_of(chosen_log_probs)
    _check_inputs(
        "chosen_log_probs", shape, rejected_log_probs=rejected_log_probs, chosen_lengths=chosen_lengths,
        rejected_lengths=rejected_lengths,
    )
    c = _per_token(be, chosen_log_probs, chosen_lengths)
    r = _per_token(be, rejected_log_probs, rejected_lengths)
    log_odds = (c - r) - (_log1m_exp(be, c) - _log1m_exp(be, r))
    return -beta * _log_sigmoid(be, log_odds)


@loss(
    inputs=("log_probs", "ref_log_probs", "desirable", "kl"),
    rules={"desirable_weight": _NONNEGATIVE, "undesirable_weight": _NONNEGATIVE},
)
def kto(
    be: Any,
    log_probs: Any,
    ref_log_probs: Any,
    desirable: Any,
    kl: Any = None,
    *,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> Any:
    """Kahneman-Tversky Optimization (Ethayarajh et al. 2024), per (unpaired) sequence.

    With ``lr = log_probs - ref_log_probs`` and the KL baseline ``kl``::

        desirable:    desirable_weight   * (1 - sigmoid(beta * (lr - kl)))
        undesirable:  undesirable_weight * (1 - sigmoid(beta * (kl - lr)))

    Parameters
    ----------
    log_probs : array, shape (B,)
        The policy's summed log-probabilities of each completion. Decides the backend.
    ref_log_probs : array broadcastable to (B,)
        The reference model's.
    desirable : boolean (or 0 / 1) array broadcastable to (B,)
        True for a desirable completion, False for an undesirable one.
    kl : array broadcastable to (B,) (a scalar in TRL), optional
        The KL baseline ``z_ref``: TRL computes it as ``clamp(mean(policy_KL_logps -
        ref_KL_logps), min=0)`` over mismatched completions and detaches it; here it is a
        constant too (not differentiated). Without it: 0.
    beta : float > 0
    desirable_weight, undesirable_weight : float >= 0
        TRL's ``desirable_weight`` / ``undesirable_weight`` (lambda_D, lambda_U).

    Returns
    -------
    array, shape (B,) (``reduction="none"``), else a scalar.

    Notes
    -----
    TRL's ``KTOTrainer.kto_loss`` concatenates the chosen and the rejected losses and
    averages them: ``reduction="mean"`` here. Liger-Kernel's
    ``LigerFusedLinearKTOFunction.preference_loss_fn(..., kl=kl)`` gives the same with
    unit weights.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> lp, ref = np.array([-5.0, -5.0]), np.array([-6.0, -6.0])
    >>> ul.kto(lp, ref, np.array([True, False]), beta=1.0).round(4).tolist()
    [0.2689, 0.7311]
    """
    xp = be.xp
    shape = shape_of(log_probs)
    _check_inputs("log_probs", shape, ref_log_probs=ref_log_probs, desirable=desirable, kl=kl)
    lr = log_probs - ref_log_probs
    if kl is not None:
        lr = lr - be.stop_gradient(kl)
    good = xp.not_equal(desirable, xp.zeros_like(desirable))
    z = xp.where(good, lr, -lr) * beta
    values = xp.exp(-be.softplus(z))  # 1 - sigmoid(z)
    if all(isinstance(w, float) and w == 1.0 for w in (desirable_weight, undesirable_weight)):
        return values
    one = xp.ones_like(z)
    return xp.where(good, desirable_weight * one, undesirable_weight * one) * values


# ------------------------------------------------------------------ classes
class DPO(FunctionLoss):
    """Class form of :func:`dpo` (TRL's ``DPOTrainer`` loss); called as ``(chosen, rejected, ref_chosen, ref_rejected)``."""

    function = dpo


class SimPO(FunctionLoss):
    """Class form of :func:`simpo` (Liger-Kernel's ``LigerFusedLinearSimPOLoss`` on log-probabilities)."""

    function = simpo


class CPO(FunctionLoss):
    """Class form of :func:`cpo` (TRL's ``CPOTrainer.cpo_loss``)."""

    function = cpo


class ORPO(FunctionLoss):
    """Class form of :func:`orpo` (Liger-Kernel's ORPO odds-ratio term)."""

    function = orpo


class KTO(FunctionLoss):
    """Class form of :func:`kto` (TRL's ``KTOTrainer.kto_loss``)."""

    function = kto
