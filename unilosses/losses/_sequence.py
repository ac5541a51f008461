"""Sequence losses: CTC (Connectionist Temporal Classification).

The loss is the negative log-likelihood of a label sequence under every
alignment of it to the frames (Graves et al., 2006), computed by the forward
recursion of :mod:`unilosses.backends.ctc` over time: one specification over the Array
API, with a loop primitive (``lax.scan`` on JAX) and the framework's own CTC
kernel as the fused primitive on torch (``ctc_loss``) and TensorFlow (the
``CTCLoss`` kernel), behind exactly the same semantics.

How each framework's call maps to :func:`ctc` (``z``: logits; lengths as integer
arrays; every result per sample unless said):

========================================================  =====================================================
framework call                                            unilosses call
========================================================  =====================================================
``F.ctc_loss(log_softmax(z), y, Tn, L, blank=b,           ``ctc(y, z, L, Tn, blank=b, time_major=True,
reduction="none", zero_infinity=zi)``, z (T, N, C),       zero_infinity=zi)``; y padded (N, S) or torch's 1-D
y (N, S) or (sum(L),)                                     concatenated targets (sum(L),)
``F.ctc_loss(...)`` (``reduction="mean"``)                ``..., divide_by_label_length=True, reduction="mean"``
``F.ctc_loss(..., reduction="sum")``                      ``..., reduction="sum"``
``tf.nn.ctc_loss(y, z, L, Tn, blank_index=b)``            ``ctc(y, z, L, Tn, blank=b, time_major=True)``
(``logits_time_major=True``, dense labels)                (``logits_time_major=False``: ``time_major=False``)
``optax.ctc_loss(z, zpad, y, ypad, blank_id=b)``,         ``ctc(y, z, sum(1 - ypad, 1), sum(1 - zpad, 1),
z (B, T, K), paddings 1.0 = padded                        blank=b)`` (paddings at the end of each row)
``keras.losses.CTC()(y, z)`` / ``keras.losses.ctc``       ``CTC()(y, z)`` / ``ctc(y, z)``: every frame counts,
(blank 0, labels padded with 0)                           labels padded with the blank
========================================================  =====================================================

Where they differ: an alignment that cannot exist (more labels plus repeats than
frames) costs ``inf`` here and in torch (0 with ``zero_infinity=True``, with a zero
gradient either way: torch's is NaN without ``zero_infinity``); ``tf.nn.ctc_loss``
and Keras give a large finite number there (about 700), optax about 1e5.
"""

from __future__ import annotations

from typing import Any

from unilosses.backends.ctc import ctc_feasible
from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.dims import shape_of
from unilosses.logits import categorical_log_probs

__all__ = ["CTC", "ctc"]


def _blank(name: str, value: Any) -> int:
    """A class index, negative ones counting from the end (TF's ``blank_index=-1``)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name}: expected an integer class index, got {value!r}")
    return int(value)


def _lengths(be: Any, x: Any, n: Any, name: str, idx: Any) -> Any:
    shape = shape_of(x)
    if len(shape) != 1 or (n is not None and shape[0] is not None and shape[0] != n):
        raise ValueError(f"{name}: expected one length per sequence, shape ({n},), got shape {shape}")
    return x if x.dtype == idx else be.xp.astype(x, idx)


def _unconcatenated(be: Any, labels: Any, label_lengths: Any, n: Any, idx: Any) -> tuple[Any, Any, Any]:
    """torch's concatenated targets, shape ``(sum(label_lengths),)``, as padded ``(N, S)`` labels:
    ``(labels, label_lengths, mismatch)``. S is the longest label where the lengths can be read on
    the host (:meth:`Backend.concrete`), else the total length (a static shape: compilable, and the
    recursion then runs over that width). ``mismatch`` (traced inputs only, else None): the lengths
    do not add up to the labels' length, which gives NaN."""
    xp = be.xp
    if label_lengths is None:
        raise ValueError(
            "label_lengths: required with 1-D labels (torch's concatenated targets of shape "
            "(sum(target_lengths),)); or pass labels padded to shape (N, S)"
        )
    total = shape_of(labels)[0]
    lengths = _lengths(be, label_lengths, n, "label_lengths", idx)
    if labels.dtype != idx:
        labels = xp.astype(labels, idx)
    device = be.device(labels)
    width, mismatch = total, None
    if be.concrete(labels, lengths) and total is not None:
        rng = be.host_range(lengths)
        low, high = rng if rng is not None else (0, 0)
        given = be.host_float(xp.sum(lengths)) if rng is not None else 0
        if low < 0 or given != total:
            raise ValueError(
                f"label_lengths: expected non-negative lengths that add up to the {total} concatenated labels, "
                f"got lengths adding up to {given:g}" + (" with a negative one" if low < 0 else "")
            )
        width = int(high)
    else:
        mismatch = xp.not_equal(xp.sum(lengths), xp.sum(xp.ones_like(labels)))
    if not width:
        return xp.zeros((lengths.shape[0], 0), dtype=idx, device=device), lengths, mismatch
    starts = be.cumulative_sum(lengths, 0) - lengths
    index = xp.expand_dims(starts, axis=1) + xp.expand_dims(xp.arange(width, dtype=idx, device=device), axis=0)
    index = xp.clip(index, min=0, max=labels.shape[0] - 1)  # past a label's end: read anything, masked later
    padded = xp.reshape(xp.take(labels, xp.reshape(index, (-1,)), axis=0), (lengths.shape[0], width))
    return padded, lengths, mismatch


def _raise_invalid(be: Any, bad_label: Any, label_lengths: Any, logit_lengths: Any, shape: tuple[int, ...], blank: int) -> None:
    """ValueError naming the input when a length or a label is out of range (concrete arrays only);
    ``shape`` is (S, T, C)."""
    xp = be.xp
    S, T, C = shape  # noqa: N806 - the docstring's names
    too_long = xp.logical_or(label_lengths < 0, label_lengths > S)
    bad_frames = xp.logical_or(logit_lengths < 0, logit_lengths > T)
    if not be.any_true(xp.logical_or(xp.any(bad_label), xp.any(xp.logical_or(too_long, bad_frames)))):
        return  # one host read when everything is valid
    if be.any_true(too_long):
        raise ValueError(f"label_lengths: expected lengths in [0, {S}] (the labels' padded length), got a length outside")
    if be.any_true(bad_frames):
        raise ValueError(f"logit_lengths: expected lengths in [0, {T}] (the number of frames), got a length outside")
    raise ValueError(
        f"labels: expected classes in [0, {C - 1}] other than the blank {blank} within label_lengths, got one outside"
    )


@loss(
    inputs=("labels", "logits", "label_lengths", "logit_lengths"),
    decides="logits",
    integers=("labels", "label_lengths", "logit_lengths"),
    rules={"blank": _blank},
)
def ctc(
    be: Any,
    labels: Any,
    logits: Any,
    label_lengths: Any = None,
    logit_lengths: Any = None,
    *,
    blank: int = 0,
    from_logits: bool = True,
    zero_infinity: bool = False,
    time_major: bool = False,
    divide_by_label_length: bool = False,
    epsilon: float = 1e-7,
) -> Any:
    """CTC loss: minus the log-probability of ``labels`` summed over all their alignments to the frames.

    With ``y = log_softmax(logits)`` over the classes, ``B`` the map that merges
    repeated classes and then drops blanks, and for sample ``n`` its first
    ``T_n = logit_lengths[n]`` frames and first ``L_n = label_lengths[n]`` labels::

        loss_n = -log sum_{pi : B(pi) = labels[n, :L_n]} prod_{t < T_n} exp(y[n, t, pi_t])

    computed by the forward (alpha) recursion in log space (:mod:`unilosses.backends.ctc`).
    ``loss_n = inf`` where no alignment exists (``T_n < L_n`` + the number of
    repeated neighbours in the labels), 0 with ``zero_infinity=True``; the gradient
    there is 0.

    Parameters
    ----------
    labels : integer array, shape (N, S), or (sum(label_lengths),)
        Class indices, padded: entries at or after ``label_lengths[n]`` may hold
        anything. Within the lengths every label must lie in [0, C) and differ
        from the blank. 1-D: torch's concatenated targets (``label_lengths``
        required), padded inside to the longest label where the lengths can be
        read without a device synchronisation, else to their total length
        (compilable; pad them yourself under a compiler for speed).
    logits : array, shape (N, T, C), or (T, N, C) with ``time_major=True``
        Unnormalised scores (log-probabilities are valid logits: torch's input);
        probabilities with ``from_logits=False``. Decides the backend and dtype
        (16-bit floats are computed in float32).
    label_lengths : integer array, shape (N,), optional
        In [0, S]. Default: the number of labels that differ from the blank
        (Keras: labels padded with the blank).
    logit_lengths : integer array, shape (N,), optional
        In [0, T]. Default: T (every frame).
    blank : int
        The blank's class index; negative values count from the end (TF's
        ``blank_index=-1`` is ``C - 1``).
    from_logits : bool
        ``False``: ``logits`` holds probabilities, divided by their sum over the
        classes and clipped into ``[epsilon, 1 - epsilon]`` (as the categorical
        cross-entropy).
    zero_infinity : bool
        Impossible alignments cost 0 instead of ``inf`` (torch's option).
    time_major : bool
        ``logits`` is (T, N, C) (torch, ``tf.nn.ctc_loss``'s default) instead of
        (N, T, C) (Keras, optax).
    divide_by_label_length : bool
        Divide each sample's loss by ``max(L_n, 1)``: with ``reduction="mean"`` this
        is torch's ``reduction="mean"``.
    epsilon : float
        Clipping of probabilities (``from_logits=False``).
    sample_weight, reduction, normalizer
        As every loss (a weight per sequence).

    Returns
    -------
    array, shape (N,)
        With ``reduction="none"``, in the logits' dtype (float32 for 16-bit).
        Lengths or labels out of range: a ValueError where the values can be read
        without a device synchronisation (NumPy, eager CPU torch and TensorFlow),
        NaN in that sample otherwise.

    Notes
    -----
    Matches ``torch.nn.functional.ctc_loss``, ``tf.nn.ctc_loss``,
    ``optax.ctc_loss`` and ``keras.losses.CTC`` under the mapping in
    :mod:`unilosses.losses.sequence`, torch's 1-D concatenated targets included.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> logits = np.zeros((1, 3, 3))                   # 3 frames, uniform over {blank, 1, 2}
    >>> ul.ctc(np.array([[1, 2]]), logits).round(4).tolist()   # 5 alignments of (1, 2) out of 27
    [1.6864]
    >>> ul.ctc(np.array([[1, 1]]), logits, logit_lengths=np.array([2])).tolist()   # needs 3 frames
    [inf]
    """
    xp = be.xp
    shape = shape_of(logits)
    if len(shape) != 3:
        layout = "(T, N, C) with time_major=True" if time_major else "(N, T, C)"
        raise ValueError(f"logits: expected shape {layout}, got shape {shape}")
    T, N, C = (shape[0], shape[1], shape[2]) if time_major else (shape[1], shape[0], shape[2])
    if not -C <= blank < C:
        raise ValueError(f"blank: expected a class index in [{-C}, {C - 1}] for logits with {C} classes, got {blank}")
    b = blank % C
    idx = be.index_dtype
    mismatch = None
    if len(shape_of(labels)) == 1:  # torch's concatenated targets
        labels, label_lengths, mismatch = _unconcatenated(be, labels, label_lengths, N, idx)
    ls = shape_of(labels)
    if len(ls) != 2 or (N is not None and ls[0] is not None and ls[0] != N):
        raise ValueError(f"labels: expected padded labels of shape (N, S) with N = {N} for logits of shape {shape}, got shape {ls}")
    S = ls[1]
    if labels.dtype != idx:
        labels = xp.astype(labels, idx)
    device = be.device(logits)
    if label_lengths is None:
        label_lengths = xp.sum(xp.astype(xp.not_equal(labels, b), idx), axis=1)
    else:
        label_lengths = _lengths(be, label_lengths, N, "label_lengths", idx)
    if logit_lengths is None:
        logit_lengths = xp.full((N,), T, dtype=idx, device=device)
    else:
        logit_lengths = _lengths(be, logit_lengths, N, "logit_lengths", idx)

    log_probs = categorical_log_probs(be, logits, 2, from_logits, epsilon)
    if not time_major:
        log_probs = xp.permute_dims(log_probs, (1, 0, 2))
    within = xp.arange(S, dtype=idx, device=device) < xp.expand_dims(label_lengths, axis=1)
    bad_label = xp.logical_and(within, xp.logical_or(xp.logical_or(labels < 0, labels >= C), xp.equal(labels, b)))
    bad = None
    if be.concrete(logits):
        _raise_invalid(be, bad_label, label_lengths, logit_lengths, (S, T, C), b)
    else:  # NaN in the samples with a length or a label out of range, safe values meanwhile
        bad_lengths = xp.logical_or(
            xp.logical_or(label_lengths < 0, label_lengths > S), xp.logical_or(logit_lengths < 0, logit_lengths > T)
        )
        bad = xp.logical_or(xp.any(bad_label, axis=1), bad_lengths)
        label_lengths = xp.clip(label_lengths, min=0, max=S)
        logit_lengths = xp.clip(logit_lengths, min=0, max=T)
        within = xp.arange(S, dtype=idx, device=device) < xp.expand_dims(label_lengths, axis=1)
    # padding (and any bad label) becomes a valid non-blank class: kernels may read it
    safe = (b + 1) % C
    labels = xp.where(xp.logical_and(within, xp.logical_not(bad_label)), labels, safe)

    nll = be.ctc_nll(log_probs, labels, label_lengths, logit_lengths, b)
    feasible = ctc_feasible(be, labels, label_lengths, logit_lengths)
    out = xp.where(feasible, nll, 0.0 if zero_infinity else float("inf"))
    if divide_by_label_length:
        out = out / xp.astype(xp.clip(label_lengths, min=1), out.dtype)
    if bad is not None:
        out = xp.where(bad, float("nan"), out)
    if mismatch is not None:
        out = xp.where(mismatch, float("nan"), out)
    return out


class CTC(FunctionLoss):
    """Class form of :func:`ctc` (``keras.losses.CTC``, ``torch.nn.CTCLoss``); called as
    ``(labels, logits, label_lengths=None, logit_lengths=None)``."""

    function = ctc
