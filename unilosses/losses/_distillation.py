"""Distillation: the generalized Jensen-Shannon divergence of a student from a teacher, per token.

``generalized_jsd(student_logits, teacher_logits)`` is TRL's
``GKDTrainer.generalized_jsd_loss`` and Liger-Kernel's JSD per token; ``linear_jsd`` is the
same from both models' last hidden states and LM-head weights (Liger-Kernel's
``LigerFusedLinearJSDLoss``), taking the tokens a chunk at a time so that no (tokens x
vocabulary) array of logits exists for the whole batch.

With ``s = log_softmax(student_logits / T)``, ``t = log_softmax(teacher_logits / T)`` and
``m = log((1 - beta) exp(s) + beta exp(t))`` (the mixture)::

    beta = 0:      KL(teacher || student) = sum exp(t) (t - s)     (forward KL)
    beta = 1:      KL(student || teacher) = sum exp(s) (s - t)     (reverse KL)
    0 < beta < 1:  beta KL(teacher || m) + (1 - beta) KL(student || m)

The student comes first, as in TRL and Liger: the order decides which end of ``beta`` is
which. The mixture form tends to 0 (not to the forward KL) as ``beta`` goes to 0: the two ends
are separate cases, as in both peers.
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.backends.generic import Backend
from unilosses.backends.linear_generic import tokens_per_chunk
from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.dims import shape_of, unflatten
from unilosses.reduction import PerSample, align_weight
from unilosses.rules import in_range

__all__ = ["GeneralizedJSD", "LinearJSD", "generalized_jsd", "linear_jsd"]

#: Python numbers: the two ends of beta are separate formulas (a branch)
_BETA = in_range(0.0, 1.0, arrays=False)
_TEMPERATURE = in_range(0.0, math.inf, lo_open=True, hi_open=True, arrays=False)


def _chunk_size(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected a positive number of tokens or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive number of tokens or None, got {value!r}")
    return value


def _jsd(xp: Any, s: Any, t: Any, beta: float, grad: bool = False) -> tuple[Any, Any]:
    """``(values, G)``: the per-token generalized JSD (summed over the last axis) of the
    log-probabilities ``s`` (student) and ``t`` (teacher), and with ``grad`` its gradient
    ``G = d value / d z`` with respect to the student's logits ``z`` (``s = log_softmax(z)``;
    else None).

    With ``p = exp(s)``: ``d value / d p_c = (1 - beta)(s_c - m_c)`` up to a constant that the
    softmax's Jacobian removes, so ``G = (1 - beta) p (s - m - sum(p (s - m)))``, the sum being
    the student's term of the value; at ``beta = 1`` the mixture is the teacher (``m = t``), and
    at ``beta = 0`` (``sum exp(t) (t - s)``) ``G = p - exp(t)``."""
    if beta == 0.0:
        et = xp.exp(t)
        values = xp.sum(et * (t - s), axis=-1)
        return values, (xp.exp(s) - et) if grad else None
    p = xp.exp(s)
    if beta == 1.0:
        sm = s - t
        values = xp.sum(p * sm, axis=-1)
        return values, (p * (sm - xp.expand_dims(values, axis=-1))) if grad else None
    m = xp.logaddexp(s + math.log1p(-beta), t + math.log(beta))
    sm = s - m
    student = xp.sum(p * sm, axis=-1)
    values = beta * xp.sum(xp.exp(t) * (t - m), axis=-1) + (1.0 - beta) * student
    if not grad:
        return values, None
    return values, (1.0 - beta) * (p * (sm - xp.expand_dims(student, axis=-1)))


def _token_mask(be: Any, y_true: Any, shape: tuple[Any, ...], ignore_index: Any) -> Any:
    """The tokens that count (``y_true != ignore_index``), or None without labels."""
    if y_true is None:
        return None
    ts = shape_of(y_true)
    if len(ts) != len(shape) or any(a is not None and b is not None and a != b for a, b in zip(ts, shape)):
        raise ValueError(f"y_true: expected labels of the tokens' shape {shape}, got {ts}")
    if ignore_index is None:
        return None
    return be.xp.not_equal(y_true, ignore_index)


@loss(
    inputs=("student_logits", "teacher_logits", "y_true"),
    integers=("y_true",),
    rules={"beta": _BETA, "temperature": _TEMPERATURE},
)
def generalized_jsd(
    be: Any,
    student_logits: Any,
    teacher_logits: Any,
    y_true: Any = None,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
    ignore_index: Any = -100,
) -> Any:
    """Generalized Jensen-Shannon divergence between a student's and a teacher's token distributions.

    With ``s``, ``t`` the log-softmax of ``student_logits / T`` and ``teacher_logits / T``
    and ``m = log((1 - beta) exp(s) + beta exp(t))``::

        beta = 0:      sum exp(t) (t - s)                  KL(teacher || student)
        beta = 1:      sum exp(s) (s - t)                  KL(student || teacher)
        otherwise:     beta sum exp(t) (t - m) + (1 - beta) sum exp(s) (s - m)

    Parameters
    ----------
    student_logits : array, shape (..., V)
        Decides the backend.
    teacher_logits : array, shape (..., V)
        Differentiated like the student's (a trainer computes them without gradients).
    y_true : integer array, shape (...), optional
        Labels; tokens whose label is ``ignore_index`` give 0 and leave every denominator
        (TRL's and Liger's masking).
    beta : float in [0, 1]
        The mixture weight of the teacher (a Python number: its ends are separate formulas).
    temperature : float > 0
        Both logits are divided by it.
    ignore_index : int or None
        The label of tokens to leave out (-100: TRL's and Liger's).

    Returns
    -------
    array, shape (...) (``reduction="none"``), else a scalar.

    Notes
    -----
    TRL's ``GKDTrainer.generalized_jsd_loss(student_logits, teacher_logits, labels, beta,
    temperature)`` (its ``reduction="batchmean"``) is ``reduction="mean"`` with labels, and
    ``reduction="sum"`` divided by the batch size (the first axis) without. Liger-Kernel's
    ``LigerFusedLinearJSDFunction.distillation_loss_fn`` is ``reduction="sum"`` of the
    temperature-scaled logits.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> s, t = np.array([[2.0, 0.0, -1.0]]), np.array([[0.0, 1.0, 0.0]])
    >>> ul.generalized_jsd(s, t).round(4).tolist()
    [0.2167]
    >>> ul.generalized_jsd(s, t, beta=0.0).round(4).tolist()  # KL(teacher || student)
    [0.9826]
    """
    xp = be.xp
    shape = shape_of(student_logits)
    if len(shape) < 1:
        raise ValueError("student_logits: expected shape (..., V), got a 0-d array")
    if shape_of(teacher_logits) != shape:
        raise ValueError(f"teacher_logits: expected student_logits' shape {shape}, got {shape_of(teacher_logits)}")
    s = be.log_softmax(student_logits / temperature, -1)
    t = be.log_softmax(teacher_logits / temperature, -1)
    values = _jsd(xp, s, t, beta)[0]
    valid = _token_mask(be, y_true, shape[:-1], ignore_index)
    if valid is None:
        return values
    return PerSample(xp.where(valid, values, xp.zeros_like(values)), valid=valid)


def _rows(be: Any, x: Any) -> Any:
    """``x`` (..., D) as (N, D)."""
    shape = shape_of(x)
    n = math.prod(shape[:-1]) if None not in shape[:-1] else -1
    return be.xp.reshape(x, (n, shape[-1]))


def _has_autodiff(be: Any) -> bool:
    """Whether the backend differentiates (it has a ``stop_gradient`` of its own): without,
    the gradient terms of :func:`linear_jsd` are not computed."""
    return type(be).stop_gradient is not Backend.stop_gradient


@loss(
    inputs=("student_hidden", "student_weight", "teacher_hidden", "teacher_weight", "y_true"),
    integers=("y_true",),
    rules={"beta": _BETA, "temperature": _TEMPERATURE, "chunk_size": _chunk_size},
)
def linear_jsd(
    be: Any,
    student_hidden: Any,
    student_weight: Any,
    teacher_hidden: Any,
    teacher_weight: Any,
    y_true: Any = None,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
    ignore_index: Any = -100,
    chunk_size: Any = None,
    reduction: str = "none",
    sample_weight: Any = None,
    element_weight: Any = None,
) -> Any:
    """:func:`generalized_jsd` of ``student_hidden @ student_weight.T`` and ``teacher_hidden @ teacher_weight.T``, chunked.

    Per token, exactly ``generalized_jsd(hs @ Ws.T, ht @ Wt.T, y_true, beta=beta,
    temperature=temperature)``, with the tokens taken ``chunk_size`` at a time: the logits
    of one chunk exist at once, never those of the batch.

    The teacher is a constant (as in Liger-Kernel): no gradient reaches ``teacher_hidden``
    or ``teacher_weight``. A reduced loss (any ``reduction`` but ``"none"``, without
    ``element_weight``) computes the student's gradients in the same pass, chunk by chunk
    (the student's ``dh`` (N, D) and ``dW`` (V, D) are all it keeps), and hands them to
    autodiff through a linear term with the value 0: the memory of the backward pass does
    not grow with the vocabulary. ``reduction="none"`` is differentiated through the loop of
    chunks as it is (each chunk's arrays kept for the backward pass: the memory of the
    unfused computation). The gradient terms of a reduced loss are computed on every autodiff
    backend even where nothing asks for them (under ``torch.no_grad``: two more matrix products
    per chunk); for evaluation, ``reduction="none"`` and a mean of the values skip them.
    Gradients are first-order only (no Hessian-vector products).

    Parameters
    ----------
    student_hidden : array, shape (..., D)
        Decides the backend; 16-bit inputs are computed in float32.
    student_weight : array, shape (V, D)
    teacher_hidden : array, shape (..., Dt)
        The same leading shape as ``student_hidden``.
    teacher_weight : array, shape (V, Dt)
    y_true : integer array, shape (...), optional
        Tokens whose label is ``ignore_index`` give 0 and leave every denominator.
    beta, temperature, ignore_index
        As in :func:`generalized_jsd`.
    chunk_size : int, optional
        Tokens per chunk; by default as many as keep 2^23 logits per chunk and model.

    Returns
    -------
    array, shape (...) (``reduction="none"``), else a scalar.

    Notes
    -----
    Liger-Kernel's ``LigerFusedLinearJSDLoss(weight_hard_loss=0.0, weight_soft_loss=1.0,
    beta=beta, temperature=T)(hs, Ws, ht, Wt, labels)`` is ``reduction="mean"`` (the sum
    over the tokens whose label is not ``ignore_index``, divided by their number). No biases
    (Liger's ``student_bias`` / ``teacher_bias``): add a column of ones to the hidden states
    and the bias as a column of the weight.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> hs, Ws = np.array([[1.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> ht, Wt = np.array([[0.0, 1.0]]), np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> ul.linear_jsd(hs, Ws, ht, Wt).round(4).tolist()  # the logits above
    [0.2167]
    """
    xp = be.xp
    hs_shape, ht_shape = shape_of(student_hidden), shape_of(teacher_hidden)
    ws_shape, wt_shape = shape_of(student_weight), shape_of(teacher_weight)
    if len(hs_shape) < 1:
        raise ValueError("student_hidden: expected shape (..., D), got a 0-d array")
    if len(ws_shape) != 2 or ws_shape[1] != hs_shape[-1]:
        raise ValueError(f"student_weight: expected shape (V, D) with D = student_hidden's last axis {hs_shape[-1]}, got {ws_shape}")
    if ht_shape[:-1] != hs_shape[:-1] or len(ht_shape) != len(hs_shape):
        raise ValueError(f"teacher_hidden: expected student_hidden's leading shape {hs_shape[:-1]} and a last axis, got {ht_shape}")
    if len(wt_shape) != 2 or wt_shape[1] != ht_shape[-1] or wt_shape[0] != ws_shape[0]:
        raise ValueError(
            f"teacher_weight: expected shape ({ws_shape[0]}, {ht_shape[-1]}) (the student's vocabulary, the teacher's "
            f"hidden size), got {wt_shape}"
        )
    tokens = hs_shape[:-1]
    valid = _token_mask(be, y_true, tokens, ignore_index)
    hs, ht = _rows(be, student_hidden), _rows(be, be.stop_gradient(teacher_hidden))
    ws, wt = student_weight, be.stop_gradient(teacher_weight)
    n_tokens, vocab = hs.shape[0], ws_shape[0]
    # the token weights a reduced loss's gradient reaches each token with (up to a scalar)
    a = None
    if reduction != "none" and element_weight is None and _has_autodiff(be):
        a = xp.ones_like(student_hidden[..., 0], dtype=hs.dtype)  # the tokens' shape, sizes unknown when traced included
        if sample_weight is not None:
            a = a * align_weight(be, sample_weight, tokens)
        if valid is not None:
            a = xp.where(valid, a, xp.zeros_like(a))
        a = xp.reshape(a, (-1,))
    if a is not None:  # the pass runs on constants; the gradient is attached below
        hs_in, ws_in = be.stop_gradient(hs), be.stop_gradient(ws)
    else:
        hs_in, ws_in = hs, ws
    bounds: list[tuple[int, Any]] = [(0, None)]  # an unknown number of tokens (a TensorFlow graph): one chunk
    if n_tokens is not None:
        n = tokens_per_chunk(n_tokens, vocab, chunk_size)
        bounds = [(lo, min(lo + n, n_tokens)) for lo in range(0, max(n_tokens, 1), n)]
    ws_t, wt_t = xp.permute_dims(ws_in, (1, 0)), xp.permute_dims(wt, (1, 0))
    values, dh, dw = [], [], None
    for lo, hi in bounds:
        rows = slice(lo, hi)
        hc = hs_in[rows, ...]
        s = be.log_softmax(xp.matmul(hc, ws_t) / temperature, -1)
        t = be.log_softmax(xp.matmul(ht[rows, ...], wt_t) / temperature, -1)
        v_chunk, g = _jsd(xp, s, t, beta, grad=a is not None)
        values.append(v_chunk)
        if a is not None:
            g = g / temperature  # d value / d (h W^T)
            dh.append(xp.matmul(g, ws_in))
            part = xp.matmul(xp.permute_dims(g * xp.expand_dims(a[rows], axis=1), (1, 0)), hc)
            dw = part if dw is None else dw + part
    v = values[0] if len(values) == 1 else xp.concat(values, axis=0)
    if a is not None and dw is not None:
        dh_all = dh[0] if len(dh) == 1 else xp.concat(dh, axis=0)
        # value 0, gradient dh_i with respect to token i's hidden state...
        link = xp.sum(hs * be.stop_gradient(dh_all), axis=1)
        v = be.stop_gradient(v) + (link - be.stop_gradient(link))
        # ...and sum_i a_i dW_i with respect to the weight, spread over the tokens as a_i / sum(a^2):
        # the reduction weights token i by c a_i, so the weight's cotangent is c sum_i a_i^2 / sum(a^2) = c
        w_link = xp.sum(ws * be.stop_gradient(dw))
        w_link = w_link - be.stop_gradient(w_link)
        a2 = xp.sum(a * a)
        v = v + w_link * (a / xp.where(a2 > 0, a2, xp.ones_like(a2)))
    if len(tokens) != 1:
        v = unflatten(be, v, student_hidden[..., 0])
    if valid is None:
        return v
    return PerSample(xp.where(valid, v, xp.zeros_like(v)), valid=valid)


# ------------------------------------------------------------------ classes
class GeneralizedJSD(FunctionLoss):
    """Class form of :func:`generalized_jsd` (TRL's ``GKDTrainer.generalized_jsd_loss``)."""

    function = generalized_jsd


class LinearJSD(FunctionLoss):
    """Class form of :func:`linear_jsd` (Liger-Kernel's ``LigerFusedLinearJSDLoss``)."""

    function = linear_jsd
