"""Post-training: token log-probabilities, policy-gradient losses, KL estimators, group advantages.

These functions take per-token log-probabilities (``token_log_probs``), masks, advantages and
rewards, not a ``(y_true, y_pred)`` pair with a sample reduction, so they are plain functions
over the Array API, dispatched on their first array argument like every loss (the backend of
``log_probs`` decides; Python and NumPy values of the other arguments are moved to it). Their
token aggregations (verl's ``loss_agg_mode``) are reductions and live in
:mod:`unilosses.reduction` (:func:`unilosses.reduction.aggregate_tokens`).

What they compute follows verl's ``verl/trainer/ppo/core_algos.py`` (values and gradients),
with its clamps; where they differ (a mean over nothing is 0, not NaN; a group of one has
advantage 0) the docstrings say so. ``docs/posttraining.md`` maps each call to verl's and TRL's.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from unilosses.backends import convert, resolve
from unilosses.reduction import aggregate_tokens, check_aggregation

__all__ = [
    "KL_ESTIMATORS",
    "PolicyLossStats",
    "aggregate_loss",
    "group_advantages",
    "kl_penalty",
    "policy_loss",
    "token_log_probs",
]

#: verl clamps the token log-ratio to +-20 before ``exp`` (and k3's log-ratio likewise)
LOG_RATIO_CLAMP = 20.0
#: verl clamps GSPO's log sequence ratio at 10 from above before ``exp``
SEQUENCE_LOG_RATIO_MAX = 10.0
#: verl clamps the k3 estimate into [-10, 10]
K3_CLAMP = 10.0

#: estimator name -> (the estimator it computes, straight-through k2 gradient)
_ESTIMATORS = {
    "k1": ("k1", False), "kl": ("k1", False),
    "k2": ("k2", False), "mse": ("k2", False),
    "k3": ("k3", False), "low_var_kl": ("k3", False),
    "abs": ("abs", False),
    "k1+": ("k1", True), "kl+": ("k1", True),
    "k3+": ("k3", True), "low_var_kl+": ("k3", True),
    "abs+": ("abs", True),
    "k2+": ("k2", False), "mse+": ("k2", False),  # k2's gradient is its own: '+' changes nothing
}
#: every name ``kl_penalty(estimator=...)`` takes (verl's names included)
KL_ESTIMATORS = tuple(_ESTIMATORS)


# ------------------------------------------------------------------ option checks
def _number(name: str, value: Any, *, lo: float = 0.0, lo_open: bool = False, hi: float = math.inf) -> float:
    """A real Python number in range, else a TypeError / ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    bad_lo = value <= lo if lo_open else value < lo
    if math.isnan(value) or bad_lo or value > hi:
        lo_s = "(" if lo_open else "["
        raise ValueError(f"{name}: expected a number in {lo_s}{lo}, {hi}], got {value!r}")
    return value


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}: expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value


def _float_input(be: Any, x: Any, like: Any, name: str, dtype: Any) -> Any:
    """``x`` as a floating array of ``be`` in ``dtype`` (integers and booleans cast)."""
    x = convert(be, x, like, name)
    if x.dtype != dtype:
        if not (be.is_floating(x.dtype) or be.is_integer(x.dtype) or be.xp.isdtype(x.dtype, "bool")):
            raise TypeError(f"{name}: expected a real array, got dtype {x.dtype}")
        x = be.xp.astype(x, dtype)
    return x


def _lead(x: Any, name: str) -> tuple[Any, Any, Any]:
    """(array, backend, compute dtype) for the array that decides the backend."""
    x, be = resolve(x, name)
    dtype = be.compute_dtype(x.dtype, name)
    if x.dtype != dtype:
        x = be.xp.astype(x, dtype)
    return x, be, dtype


def _shape(x: Any) -> tuple[Any, ...]:
    return tuple(x.shape)


# ------------------------------------------------------------------ token log-probabilities
def token_log_probs(
    y_true: Any,
    logits: Any,
    *,
    temperature: float = 1.0,
    return_entropy: bool = False,
    axis: int = -1,
    ignore_index: int | None = None,
) -> Any:
    """Log-probability of each selected token: ``log_softmax(logits / T)`` taken at ``y_true``.

    ``log p[y] = z[y] - logsumexp(z)`` with ``z = logits / temperature``, computed as a
    ``logsumexp`` and a gather: no second array of the logits' size (log-softmax) is kept for
    the backward pass, on any backend. With ``return_entropy=True`` also the entropy of each
    token's distribution, ``H = logsumexp(z) - sum_c softmax(z)_c z_c`` (this one reads every
    class: a temporary of the logits' size exists while it is computed).

    Parameters
    ----------
    y_true : integer array, the logits' shape without ``axis``
        The selected (sampled) tokens. A label outside ``[0, V)`` is a ValueError where the
        values can be read without a device synchronisation, and NaN elsewhere.
    logits : floating array (..., V, ...)
        Unnormalised scores, the vocabulary on ``axis``. 16-bit logits are computed in float32.
    temperature : float > 0
        Divides the logits first (the sampling temperature: verl's and TRL's ``temperature``).
    return_entropy : bool
        Also return the per-token entropy.
    axis : int
        The vocabulary axis.
    ignore_index : int or None
        Tokens with this label give 0 (log-probability and entropy), with zero gradients.

    Returns
    -------
    log_probs : array of ``y_true``'s shape; ``(log_probs, entropy)`` with ``return_entropy``.

    Matches verl's ``logprobs_from_logits(logits / T, labels)`` and ``entropy_from_logits``, and
    TRL's ``selective_log_softmax(logits / T, ids)``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> lp = ul.token_log_probs(np.array([[1, 0]]), np.zeros((1, 2, 4)))
    >>> np.allclose(lp, np.log(0.25))
    True
    """
    temperature = _number("temperature", temperature, lo_open=True)
    if not isinstance(return_entropy, bool):
        raise TypeError(f"return_entropy: expected a bool, got {return_entropy!r}")
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"axis: expected an integer, got {axis!r}")
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise TypeError(f"ignore_index: expected an integer or None, got {ignore_index!r}")
    logits, be, _ = _lead(logits, "logits")
    xp = be.xp
    ndim = len(_shape(logits))
    if ndim == 0:
        raise ValueError("logits: expected an array with a vocabulary axis, got a 0-d array")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis: expected an axis of logits (ndim {ndim}), got {axis}")
    axis %= ndim
    labels = convert(be, y_true, logits, "y_true")
    expected = _shape(logits)[:axis] + _shape(logits)[axis + 1:]
    if _shape(labels) != expected:
        raise ValueError(
            f"y_true: expected integer labels of logits' shape {_shape(logits)} without axis {axis}, "
            f"{expected}, got {_shape(labels)}"
        )
    if not be.is_integer(labels.dtype):
        raise TypeError(f"y_true: expected integer token ids, got dtype {labels.dtype}")
    if labels.dtype != be.index_dtype:
        labels = xp.astype(labels, be.index_dtype)
    vocab = _shape(logits)[axis]
    ignored = None if ignore_index is None else xp.equal(labels, ignore_index)
    if ignored is not None:
        labels = xp.where(ignored, xp.zeros_like(labels), labels)
    bad = None
    if vocab is not None and be.concrete(logits):
        if not be.labels_in_range(labels, vocab):
            raise ValueError(f"y_true: expected token ids in [0, {vocab}), got values outside")
    elif vocab is not None:  # values unreadable here: an out-of-range id gives NaN, never a number
        bad = xp.logical_or(labels < 0, labels >= vocab)
        labels = xp.where(bad, xp.zeros_like(labels), labels)
    out, entropy = be.token_log_probs(logits, labels, temperature, axis, return_entropy)
    if bad is not None:
        nan = xp.full_like(out, math.nan)
        out = xp.where(bad, nan, out)
        entropy = None if entropy is None else xp.where(bad, nan, entropy)
    if ignored is not None:
        out = xp.where(ignored, xp.zeros_like(out), out)
        entropy = None if entropy is None else xp.where(ignored, xp.zeros_like(entropy), entropy)
    return (out, entropy) if return_entropy else out


# ------------------------------------------------------------------ aggregation
def _prepare_mask(be: Any, mask: Any, like: Any, dtype: Any) -> Any:
    if mask is None:
        return None
    mask = _float_input(be, mask, like, "mask", dtype)
    if _shape(mask) != _shape(like):
        raise ValueError(f"mask: expected the shape of the per-token values {_shape(like)}, got {_shape(mask)}")
    return mask


def _max_tokens(value: Any) -> Any:
    if value is None:
        return None
    return _number("max_tokens", value, lo_open=True)


def aggregate_loss(
    values: Any, mask: Any = None, *, aggregation: str = "token-mean", max_tokens: float | None = None
) -> Any:
    """A per-token loss matrix (..., T) reduced to one number, as verl's ``agg_loss``.

    ``aggregation`` is one of ``"token-mean"``, ``"token-sum"``, ``"seq-mean-token-sum"``,
    ``"seq-mean-token-mean"``, ``"seq-mean-token-sum-norm"`` (see
    :func:`unilosses.reduction.aggregate_tokens`); ``max_tokens`` is the constant of
    ``"seq-mean-token-sum-norm"`` (verl's ``loss_scale_factor``, TRL's ``max_completion_length``
    for Dr. GRPO; default: the padded length T). ``mask`` (0 / False: the token does not count)
    has ``values``' shape. A mean over no token is 0, not NaN.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> v = np.array([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]]); m = np.array([[1, 1, 1], [1, 0, 0]])
    >>> float(ul.aggregate_loss(v, m)), float(ul.aggregate_loss(v, m, aggregation="seq-mean-token-mean"))
    (2.5, 3.0)
    """
    aggregation = check_aggregation(aggregation)
    max_tokens = _max_tokens(max_tokens)
    values, be, dtype = _lead(values, "values")
    if len(_shape(values)) == 0:
        raise ValueError("values: expected per-token values (..., T), got a 0-d array")
    return aggregate_tokens(be.xp, values, _prepare_mask(be, mask, values, dtype), aggregation, max_tokens)


# ------------------------------------------------------------------ policy loss
class PolicyLossStats(NamedTuple):
    """What PPO-style trainers log, as 0-d arrays with no gradient (means over the kept tokens).

    ``clip_fraction``: tokens whose clipped term is the one taken (verl's ``pg_clipfrac``), the
    sum of ``clip_fraction_low`` (ratio below ``1 - clip_ratio_low`` with a negative advantage)
    and ``clip_fraction_high`` (ratio above ``1 + clip_ratio_high`` with a positive advantage);
    ``dual_clip_fraction``: tokens bounded by the dual clip (verl's ``pg_clipfrac_lower``; 0
    without it); ``approx_kl``: the mean of ``old_log_probs - log_probs`` (verl's ``ppo_kl``).
    """

    clip_fraction: Any
    clip_fraction_low: Any
    clip_fraction_high: Any
    dual_clip_fraction: Any
    approx_kl: Any


def _token_mean(xp: Any, values: Any, mask: Any) -> Any:
    return aggregate_tokens(xp, values, mask, "token-mean")


def policy_loss(
    log_probs: Any,
    old_log_probs: Any,
    advantages: Any,
    *,
    mask: Any = None,
    clip_ratio: float = 0.2,
    clip_ratio_low: float | None = None,
    clip_ratio_high: float | None = None,
    dual_clip: float | None = None,
    importance: str = "token",
    aggregation: str = "token-mean",
    max_tokens: float | None = None,
    return_stats: bool = False,
) -> Any:
    """PPO's clipped surrogate (DAPO's clip-higher, dual clip, GSPO's sequence ratio), aggregated.

    Per token, with ratio ``r = exp(log_probs - old_log_probs)`` and advantage ``A``::

        loss = max(-A r, -A clip(r, 1 - clip_ratio_low, 1 + clip_ratio_high))
        dual clip (A < 0):  loss = min(loss, -A dual_clip)

    then aggregated over the kept tokens (``mask``) by ``aggregation``. As verl, the log-ratio
    is clamped to [-20, 20] before ``exp`` (beyond it the token's gradient is 0).

    ``importance="sequence"`` is GSPO: the ratio of each token is the sequence's geometric
    mean ratio ``s = exp(mean_t(log_probs - old_log_probs))`` over its kept tokens, in verl's
    stop-gradient form ``exp(sg(log s) + log_probs - sg(log_probs))`` (value ``s``, gradient
    ``s`` times each token's log-probability gradient), its log clamped at 10 from above.
    verl's GSPO always aggregates ``"seq-mean-token-mean"`` and has no dual clip: pass
    ``aggregation="seq-mean-token-mean"`` for its numbers.

    Parameters
    ----------
    log_probs : floating array (B, T)
        The current policy's log-probabilities of the sampled tokens (:func:`token_log_probs`).
    old_log_probs : array (B, T)
        The sampling policy's (data: not differentiated by the loss's design, as in verl).
    advantages : array (B, T), (B,) or (B, 1)
        Per token, or per sequence (broadcast over its tokens).
    mask : array (B, T) or None
        1 / True for the response tokens that count; a floating mask weights them.
    clip_ratio : float >= 0
        PPO's epsilon; ``clip_ratio_low`` / ``clip_ratio_high`` default to it (DAPO: 0.2 / 0.28).
    dual_clip : float > 1 or None
        Dual-clip PPO's bound ``c`` for negative advantages. None: no dual clip. verl applies
        ``c = 3`` by default (``clip_ratio_c``): pass ``dual_clip=3.0`` for its numbers.
    importance : "token" or "sequence"
    aggregation : str
        verl's ``loss_agg_mode`` (:func:`aggregate_loss`).
    max_tokens : float or None
        The constant of ``"seq-mean-token-sum-norm"``.
    return_stats : bool
        Also return a :class:`PolicyLossStats`.

    Returns
    -------
    A 0-d array; ``(loss, PolicyLossStats)`` with ``return_stats``.

    Matches verl's ``compute_policy_loss_vanilla`` (``importance="token"``, with ``dual_clip=3.0``)
    and ``compute_policy_loss_gspo`` (``importance="sequence"``), TRL's GRPO loss (``loss_type``
    maps to ``aggregation``: "grpo" to "seq-mean-token-mean", "bnpo" / "dapo" to "token-mean",
    "dr_grpo" to "seq-mean-token-sum-norm" with ``max_tokens=max_completion_length``).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> lp = np.log(np.array([[0.5, 0.9]])); old = np.log(np.array([[0.25, 0.9]]))
    >>> round(float(ul.policy_loss(lp, old, np.array([1.0]))), 6)  # ratio 2 clipped to 1.2, and 1
    -1.1
    """
    clip_ratio = _number("clip_ratio", clip_ratio)
    low = clip_ratio if clip_ratio_low is None else _number("clip_ratio_low", clip_ratio_low, hi=1.0)
    high = clip_ratio if clip_ratio_high is None else _number("clip_ratio_high", clip_ratio_high)
    if dual_clip is not None:
        dual_clip = _number("dual_clip", dual_clip, lo=1.0, lo_open=True)
    importance = _choice("importance", importance, ("token", "sequence"))
    aggregation = check_aggregation(aggregation)
    max_tokens = _max_tokens(max_tokens)
    if not isinstance(return_stats, bool):
        raise TypeError(f"return_stats: expected a bool, got {return_stats!r}")

    log_probs, be, dtype = _lead(log_probs, "log_probs")
    xp = be.xp
    shape = _shape(log_probs)
    if len(shape) < 1:
        raise ValueError("log_probs: expected per-token values (B, T), got a 0-d array")
    old = _float_input(be, old_log_probs, log_probs, "old_log_probs", dtype)
    if _shape(old) != shape:
        raise ValueError(f"old_log_probs: expected log_probs' shape {shape}, got {_shape(old)}")
    adv = _float_input(be, advantages, log_probs, "advantages", dtype)
    adv_shape = _shape(adv)
    if adv_shape == shape[:-1]:  # one advantage per sequence
        adv = xp.expand_dims(adv, axis=-1)
    elif not (len(adv_shape) == len(shape) and all(a in (1, b) for a, b in zip(adv_shape, shape))):
        raise ValueError(
            f"advantages: expected shape {shape}, {shape[:-1]} or {shape[:-1] + (1,)} (per token or per "
            f"sequence), got {adv_shape}"
        )
    mask = _prepare_mask(be, mask, log_probs, dtype)

    log_ratio = log_probs - old
    if importance == "token":
        log_ratio = xp.clip(log_ratio, min=-LOG_RATIO_CLAMP, max=LOG_RATIO_CLAMP)
        ratio = xp.exp(log_ratio)
    else:
        if mask is None:
            seq_log_ratio = xp.mean(log_ratio, axis=-1, keepdims=True)
        else:
            kept = xp.where(xp.not_equal(mask, xp.zeros_like(mask)), log_ratio, xp.zeros_like(log_ratio)) * mask
            lengths = xp.clip(xp.sum(mask, axis=-1, keepdims=True), min=1.0)
            seq_log_ratio = xp.sum(kept, axis=-1, keepdims=True) / lengths
        log_s = be.stop_gradient(seq_log_ratio) + (log_probs - be.stop_gradient(log_probs))
        ratio = xp.exp(xp.clip(log_s, max=SEQUENCE_LOG_RATIO_MAX))
    unclipped = -adv * ratio
    clipped = -adv * xp.clip(ratio, min=1.0 - low, max=1.0 + high)
    per_token = xp.maximum(unclipped, clipped)
    negative = adv < 0
    dual = None
    if dual_clip is not None:
        bound = -adv * dual_clip
        dual = xp.logical_and(per_token > bound, negative)
        per_token = xp.where(negative, xp.minimum(per_token, bound), per_token)
    loss = aggregate_tokens(xp, per_token, mask, aggregation, max_tokens)
    if not return_stats:
        return loss

    def frac(cond: Any) -> Any:
        return be.stop_gradient(_token_mean(xp, xp.astype(cond, dtype), mask))

    sg_ratio = be.stop_gradient(ratio)
    stats = PolicyLossStats(
        clip_fraction=frac(be.stop_gradient(clipped) > be.stop_gradient(unclipped)),
        clip_fraction_low=frac(xp.logical_and(negative, sg_ratio < 1.0 - low)),
        clip_fraction_high=frac(xp.logical_and(adv > 0, sg_ratio > 1.0 + high)),
        dual_clip_fraction=frac(dual) if dual is not None else be.stop_gradient(xp.zeros_like(loss)),
        approx_kl=be.stop_gradient(_token_mean(xp, -log_ratio if importance == "token" else old - log_probs, mask)),
    )
    return loss, stats


# ------------------------------------------------------------------ KL estimators
def kl_penalty(log_probs: Any, ref_log_probs: Any, *, estimator: str = "k1") -> Any:
    """Per-token estimate of KL(policy || reference) from sampled tokens' log-probabilities.

    With ``d = log_probs - ref_log_probs`` (Schulman's estimators, as verl's ``kl_penalty``):

    - ``"k1"`` (verl ``"kl"``): ``d``;
    - ``"abs"``: ``|d|``;
    - ``"k2"`` (verl ``"mse"``): ``d^2 / 2``;
    - ``"k3"`` (verl ``"low_var_kl"``): ``exp(-d) + d - 1``, with ``-d`` clamped to [-20, 20]
      and the result to [-10, 10] as verl (outside, the gradient is 0);
    - a ``"+"`` suffix (``"k3+"``, ``"k1+"``, ``"abs+"``, ``"low_var_kl+"``): the estimator's value
      with k2's gradient (straight through: ``k2 - sg(k2) + sg(value)``), the unbiased KL gradient.

    Returns an array of ``log_probs``' shape; aggregate it with :func:`aggregate_loss`.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> float(ul.kl_penalty(np.array(0.0), np.array(np.log(2.0)), estimator="k3"))  # 2 - log 2 - 1
    0.3068528194400546
    """
    kind, straight = _ESTIMATORS[_choice("estimator", estimator, KL_ESTIMATORS)]
    log_probs, be, dtype = _lead(log_probs, "log_probs")
    xp = be.xp
    ref = _float_input(be, ref_log_probs, log_probs, "ref_log_probs", dtype)
    if _shape(ref) != _shape(log_probs):
        raise ValueError(f"ref_log_probs: expected log_probs' shape {_shape(log_probs)}, got {_shape(ref)}")
    d = log_probs - ref
    if kind == "k1":
        out = d
    elif kind == "abs":
        out = xp.abs(d)
    elif kind == "k2":
        out = 0.5 * d * d
    else:
        neg = xp.clip(-d, min=-LOG_RATIO_CLAMP, max=LOG_RATIO_CLAMP)
        out = xp.clip(xp.exp(neg) - neg - 1.0, min=-K3_CLAMP, max=K3_CLAMP)
    if straight:
        k2 = 0.5 * d * d
        out = k2 - be.stop_gradient(k2) + be.stop_gradient(out)
    return out


# ------------------------------------------------------------------ group advantages
def group_advantages(rewards: Any, group_size: int, *, normalize_std: bool = True, epsilon: float = 1e-6) -> Any:
    """GRPO's outcome advantages: each reward against the other answers to its prompt.

    ``rewards`` (B,) holds consecutive groups of ``group_size`` answers to one prompt (B a
    multiple of it). Per group, ``A = (r - mean) / (std + epsilon)`` with the sample standard
    deviation (n - 1 in the denominator, as verl and TRL); ``normalize_std=False`` gives
    ``r - mean`` (Dr. GRPO). A group of one has advantage 0, as in TRL 1.16 (verl gives
    ``r / (1 + epsilon)``: it takes such a group's mean as 0 and its std as 1). The result has no gradient (the advantages are data
    for the policy loss, as in verl's ``torch.no_grad``). verl's ``epsilon`` is 1e-6; TRL adds
    1e-4 to the std: pass ``epsilon=1e-4`` for TRL's numbers.

    Returns an array (B,) of ``rewards``' floating dtype (float32 for integer rewards); pass it as
    ``policy_loss``'s ``advantages`` (broadcast over each sequence's tokens).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.group_advantages(np.array([1.0, 0.0, 0.0, 0.0]), 2)
    array([ 0.70710578, -0.70710578,  0.        ,  0.        ])
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise (ValueError if isinstance(group_size, int) and not isinstance(group_size, bool) else TypeError)(
            f"group_size: expected a positive integer, got {group_size!r}"
        )
    if not isinstance(normalize_std, bool):
        raise TypeError(f"normalize_std: expected a bool, got {normalize_std!r}")
    epsilon = _number("epsilon", epsilon)
    rewards, be = resolve(rewards, "rewards")
    xp = be.xp
    if not be.is_floating(rewards.dtype):
        if not (be.is_integer(rewards.dtype) or xp.isdtype(rewards.dtype, "bool")):
            raise TypeError(f"rewards: expected real rewards, got dtype {rewards.dtype}")
        rewards = xp.astype(rewards, xp.float32)
    else:
        rewards = xp.astype(rewards, be.compute_dtype(rewards.dtype, "rewards"))
    shape = _shape(rewards)
    if len(shape) != 1:
        raise ValueError(f"rewards: expected one reward per answer, shape (B,), got {shape}")
    n = shape[0]
    if n is not None and n % group_size:
        raise ValueError(f"group_size: expected a divisor of the number of rewards {n}, got {group_size}")
    if group_size == 1:
        return be.stop_gradient(xp.zeros_like(rewards))
    grouped = xp.reshape(rewards, (-1, group_size))
    # shifted by each group's first reward first: equal rewards give exactly 0 (a float32 mean
    # of three 0.2s need not be 0.2 under XLA, and 1e-8 / (1e-8 + epsilon) is not small)
    shifted = grouped - grouped[:, :1]
    centered = shifted - xp.mean(shifted, axis=1, keepdims=True)
    if normalize_std:
        std = xp.sqrt(xp.sum(centered * centered, axis=1, keepdims=True) / (group_size - 1))
        centered = centered / (std + epsilon)
    return be.stop_gradient(xp.reshape(centered, (-1,)))
