"""Metric learning from embeddings and labels, in pytorch-metric-learning's model.

Every loss here takes integer labels ``y_true`` of shape (N,) and embeddings
``y_pred`` of shape (N, D), and optionally a reference set (``ref_labels`` of shape
(M,), ``ref_emb`` of shape (M, D)): each embedding is an anchor compared with every
reference (by default the batch itself, less the anchor). Pairs and triplets are
masks built from the label matrix, never lists of indices: no Python loop over
pairs, and the same array code compiles under ``jax.jit``, ``torch.compile`` and
``tf.function``.

**Distances** (``distance=``, on every loss here): ``"lp"`` (pml's ``LpDistance``,
the ``p``-norm of the difference), ``"cosine"`` (``CosineSimilarity``) and ``"dot"``
(``DotProductSimilarity``), each with ``power`` (the matrix raised to it) and
``normalize`` (``normalize_embeddings``: each embedding divided by its ``p``-norm
first, pml's default). Similarities are *inverted* distances: a margin is taken the
other way round (pml's ``distance.margin``).

**Reducers.** pml reduces over pairs or triplets; unilosses over anchors. Each loss
returns one value per anchor (the sum of its pair or triplet terms) with, as its
weight, the number of terms the chosen ``reducer`` counts, so that
``reduction="mean_with_sample_weight"`` is pml's reduced value:

- ``reducer="avg_nonzero"``: pml's ``AvgNonZeroReducer`` (the mean over the terms that
  are > 0; the default of triplet, contrastive and SupCon losses);
- ``reducer="mean"``: ``MeanReducer`` (the mean over every term);
- ``reducer="per_anchor"``: ``PerAnchorReducer()`` (each anchor's mean over its terms,
  then the mean over anchors: every anchor weighs 1).

pml's call beside ours (``L`` = a pml loss object, ``ul`` = unilosses; every row with
``reduction="mean_with_sample_weight"``, the default reducers, ``labels, emb`` in
Keras' order)::

    ContrastiveLoss(pos_margin=a, neg_margin=b)    ul.contrastive_margin(labels, emb, pos_margin=a, neg_margin=b)
    TripletMarginLoss(margin=m)                     ul.batch_triplet(labels, emb, margin=m)
    TripletMarginLoss(m)(e, y, BatchHardMiner()(e, y))  ul.batch_triplet(labels, emb, margin=m, mining="hard")
    MultiSimilarityLoss(alpha, beta, base)          ul.multi_similarity(labels, emb, alpha=.., beta=.., base=..)
    MarginLoss(margin, beta=b)                      ul.beta_margin(labels, emb, margin=.., beta=b)
    MarginLoss(nu=v, learn_beta=True)               ul.beta_margin(labels, emb, beta=<0-d array>, nu=v)
    MarginLoss(nu=v, learn_beta=True, num_classes=C)  ul.beta_margin(labels, emb, beta=<(C,) array>, nu=v)
    SupConLoss(temperature=t)                       ul.supcon(labels, emb, temperature=t)
    CircleLoss(m, gamma)                            ul.circle(labels, normalised emb, margin=m, gamma=..,
                                                              detach_weights=True, reduction="sum_over_batch_size")
    distance=LpDistance(p=1, power=2, normalize_embeddings=False)   distance="lp", p=1, power=2, normalize=False
    distance=CosineSimilarity()                     distance="cosine"
    distance=DotProductSimilarity()                 distance="dot"
    reducer=MeanReducer() / PerAnchorReducer()      reducer="mean" / "per_anchor"
    L(emb, labels, ref_emb=r, ref_labels=rl)        ul.<loss>(labels, emb, rl, r)  (or ref_labels=rl, ref_emb=r)

Differences: with ``swap=True`` and a reference set, the positive-negative distance is
taken between the two references (pml indexes the query rows by the reference
indices); ``reducer="per_anchor"`` also serves triplets (pml raises). MarginLoss' learnt
``beta`` (``learn_beta=True``) is an array ``beta`` with ``nu``: 0-d, or (C,) for its
per-class ``beta`` (``num_classes=C``).
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.pairs import (
    DISTANCE_RULES,
    REDUCERS,
    check_distance,
    divide_or_zero,
    pair_distances,
    pair_terms,
)
from unilosses.reduction import PerSample
from unilosses.rules import flag, in_range, is_zero, one_of
from unilosses.shapes import relu, row_positions

__all__ = [
    "BatchTriplet",
    "BetaMargin",
    "ContrastiveMargin",
    "MultiSimilarity",
    "SupCon",
    "batch_triplet",
    "beta_margin",
    "contrastive_margin",
    "multi_similarity",
    "supcon",
]

_INPUTS = ("y_true", "y_pred", "ref_labels", "ref_emb")
_NUMBER = in_range(-math.inf, math.inf, lo_open=True, hi_open=True, arrays=False)
_POSITIVE = in_range(0.0, math.inf, lo_open=True, hi_open=True, arrays=False)
_NON_NEGATIVE = in_range(0.0, math.inf, arrays=False)


def _scale(name: str, value: Any) -> float:
    """A number > 0 that divides the loss (multi-similarity's ``alpha`` and ``beta``)."""
    v = _NON_NEGATIVE(name, value)
    if v == 0:
        raise ValueError(f"{name}: expected a value in (0.0, inf], got {value!r}")
    return v


# ------------------------------------------------------------------ helpers
def _inputs(be: Any, y_true: Any, y_pred: Any, ref_labels: Any, ref_emb: Any) -> tuple[Any, Any, Any, Any]:
    """(labels (N,), ref_labels (M,), ref_emb (M, D), whether the reference is the batch itself)."""
    xp = be.xp
    ps = tuple(y_pred.shape)
    if len(ps) != 2:
        raise ValueError(f"y_pred: expected embeddings of shape (N, D), got shape {ps}")
    labels = _flat_labels(be, "y_true", y_true, ps[:1], "y_pred", ps)
    if (ref_emb is None) != (ref_labels is None):
        raise ValueError("ref_emb, ref_labels: expected both (a reference set and its labels) or neither")
    if ref_emb is None:
        return labels, labels, y_pred, True
    rs = tuple(ref_emb.shape)
    if len(rs) != 2 or rs[1] != ps[1]:
        raise ValueError(f"ref_emb: expected embeddings of shape (M, {ps[1]}) as y_pred's {ps}, got shape {rs}")
    ref_labels = _flat_labels(be, "ref_labels", ref_labels, rs[:1], "ref_emb", rs)
    return labels, xp.astype(ref_labels, labels.dtype), ref_emb, False


def _flat_labels(be: Any, name: str, y: Any, want: tuple[Any, ...], of: str, shape: tuple[Any, ...]) -> Any:
    ts = tuple(y.shape)
    if len(ts) == 2 and ts[1] == 1:
        y = be.xp.reshape(y, ts[:1])
        ts = ts[:1]
    if ts != want:
        raise ValueError(f"{name}: expected one label per embedding, shape {want} for {of} of shape {shape}, got {ts}")
    return y


def _margin(distance: str, x: Any, y: Any) -> Any:
    """pml's ``distance.margin(x, y)``: ``x - y`` for distances, ``y - x`` for similarities."""
    return x - y if distance == "lp" else y - x


def _pair_masks(be: Any, labels: Any, ref_labels: Any, itself: bool) -> tuple[Any, Any]:
    """(positive, negative) pair masks (N, M): same label (not the anchor itself), other label."""
    xp = be.xp
    same = xp.equal(xp.expand_dims(labels, axis=1), xp.expand_dims(ref_labels, axis=0))
    neg = xp.logical_not(same)
    if itself:
        i = row_positions(be, labels)
        same = xp.logical_and(same, xp.not_equal(xp.expand_dims(i, axis=1), xp.expand_dims(i, axis=0)))
    return same, neg


def _count(be: Any, mask: Any, dtype: Any, axis: Any = None) -> Any:
    return be.xp.sum(be.xp.astype(mask, dtype), axis=axis)


def _masked_sum(be: Any, x: Any, mask: Any, axis: Any) -> Any:
    xp = be.xp
    return xp.sum(xp.where(mask, x, xp.zeros_like(x)), axis=axis)


def _masked_lse(be: Any, x: Any, mask: Any) -> Any:
    """logsumexp over axis 1 of the entries in ``mask``; 0 for a row without one (pml's)."""
    xp = be.xp
    lse = be.logsumexp(xp.where(mask, x, xp.finfo(x.dtype).min), 1)
    return xp.where(xp.any(mask, axis=1), lse, xp.zeros_like(lse))


def _enough_pairs(be: Any, pos: Any, neg: Any, dtype: Any) -> Any:
    """pml's pair losses give 0 when the batch has at most one positive and one negative pair."""
    xp = be.xp
    one_each = xp.logical_and(_count(be, pos, dtype) <= 1, _count(be, neg, dtype) <= 1)
    return xp.astype(xp.logical_not(one_each), dtype)


def _element(be: Any, values: Any, reducer: str) -> PerSample:
    """One term per anchor (SupCon, MultiSimilarity): pml's element reduction."""
    xp = be.xp
    if reducer == "avg_nonzero":
        w = xp.astype(values > 0, values.dtype)
        return PerSample(values, weight=w, valid=w > 0)
    return PerSample(values, weight=xp.ones_like(values))


def _nan_through(be: Any, out: PerSample, mat: Any) -> PerSample:
    """A NaN in an anchor's row of the distance matrix makes its value NaN, kept by every
    reduction (a NaN embedding of the batch is in every row; one of a reference set too). Adds
    exactly 0 otherwise: the masks and hinges alone would drop it."""
    xp = be.xp
    poison = xp.sum(xp.where(xp.isnan(mat), mat, xp.zeros_like(mat)), axis=1)
    values = out.values + poison
    valid = out.valid if out.valid is None else xp.logical_or(out.valid, xp.isnan(values))
    return PerSample(values, weight=out.weight, valid=valid)


def _empty(be: Any, y_pred: Any) -> PerSample:
    """The per-sample result of an empty batch."""
    values = be.xp.sum(y_pred, axis=1) * 0.0
    return PerSample(values, weight=values, valid=values > 0)


def _label_in_range(be: Any, labels: Any, n: int) -> Any:
    """The mask of labels in [0, n) for a per-class option of n values: a ValueError where
    values are concrete and one is outside, else the mask (the spec makes those anchors NaN)."""
    xp = be.xp
    if be.concrete(labels) and not be.labels_in_range(labels, n):
        lo, hi = be.host_range(labels)  # not None: an empty array is in range
        raise ValueError(f"y_true: a per-class beta of {n} values needs labels in [0, {n - 1}], got labels in [{lo:g}, {hi:g}]")
    return xp.logical_and(labels >= 0, labels < n)


def _rules(**extra: Any) -> dict[str, Any]:
    return {**DISTANCE_RULES, **extra}


# ------------------------------------------------------------------- losses
@loss(
    inputs=_INPUTS, decides="y_pred", integers=("y_true", "ref_labels"),
    rules=_rules(pos_margin=_NUMBER, neg_margin=_NUMBER, reducer=one_of(*REDUCERS)),
    check=check_distance,
)
def contrastive_margin(
    be: Any, y_true: Any, y_pred: Any, ref_labels: Any = None, ref_emb: Any = None, *,
    pos_margin: float = 0.0, neg_margin: float = 1.0, reducer: str = "avg_nonzero",
    distance: str = "lp", p: float = 2.0, power: float = 1.0, normalize: bool = True,
) -> Any:
    """Contrastive loss over every pair (Hadsell et al., 2006), pml's ``ContrastiveLoss``.

    With ``d`` the distance matrix (``distance``), every positive pair ``(i, j)`` (same
    label) and negative pair (other labels) gives a term::

        pos_ij = max(0, d_ij - pos_margin)     neg_ij = max(0, neg_margin - d_ij)

    (the margins the other way round for a similarity). pml reduces the positive and the
    negative terms apart and adds the two: ``reduction="mean_with_sample_weight"`` gives
    that sum, as each anchor's value is the sum of its terms with the positive (negative)
    terms scaled by ``K / P`` (``K / Q``): ``P``, ``Q`` the counts of positive and
    negative terms the reducer counts over the batch, ``K = P + Q``, each anchor's weight
    its number of counted terms. With ``reducer="per_anchor"``, each anchor's value is the
    mean of its positive terms plus the mean of its negative terms, weight 1.

    Parameters
    ----------
    y_true : integer array, shape (N,) or (N, 1)
        Labels.
    y_pred : array, shape (N, D)
        Embeddings. Decides the backend.
    ref_labels : integer array, shape (M,), optional
    ref_emb : array, shape (M, D), optional
        A reference set: anchors are compared with it instead of with the batch.
    pos_margin, neg_margin : float
    reducer : {"avg_nonzero", "mean", "per_anchor"}
    distance : {"lp", "cosine", "dot"}
    p : float > 0
        The norm of ``"lp"`` and of the normalisation.
    power : float
        The distance matrix is raised to it.
    normalize : bool
        Divide each embedding by its ``p``-norm first (pml's ``normalize_embeddings``).
    sample_weight : array, shape (N,), optional

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``pytorch_metric_learning.losses.ContrastiveLoss(pos_margin, neg_margin)(emb, labels)``
    is ``reduction="mean_with_sample_weight"``. As pml, a batch with at most one positive and
    one negative pair gives 0.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> e = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> # positive pair: d = 0.894; negatives: 1 - 1.414 < 0 (no term), 1 - 0.632 = 0.368
    >>> float(ul.contrastive_margin([0, 0, 1], e, reduction="mean_with_sample_weight").round(4))
    1.262
    """
    xp = be.xp
    labels, rlabels, ref, itself = _inputs(be, y_true, y_pred, ref_labels, ref_emb)
    if y_pred.shape[0] == 0:
        return _empty(be, y_pred)
    d = pair_distances(be, y_pred, ref, distance, p, power, normalize)
    pos, neg = _pair_masks(be, labels, rlabels, itself)
    dtype = d.dtype
    pos_t = relu(be, _margin(distance, d, pos_margin))
    neg_t = relu(be, _margin(distance, neg_margin, d))
    ok = _enough_pairs(be, pos, neg, dtype)
    sp, sn = _masked_sum(be, pos_t, pos, 1), _masked_sum(be, neg_t, neg, 1)
    if reducer == "per_anchor":
        values = divide_or_zero(be, sp, _count(be, pos, dtype, 1)) + divide_or_zero(be, sn, _count(be, neg, dtype, 1))
        return _nan_through(be, PerSample(values * ok, weight=xp.ones_like(values)), d)
    if reducer == "avg_nonzero":
        pos, neg = xp.logical_and(pos, pos_t > 0), xp.logical_and(neg, neg_t > 0)
    cp, cn = _count(be, pos, dtype, 1), _count(be, neg, dtype, 1)
    big_p, big_q = xp.sum(cp), xp.sum(cn)
    k = big_p + big_q
    values = sp * divide_or_zero(be, k, big_p) + sn * divide_or_zero(be, k, big_q)
    w = (cp + cn) * ok
    return _nan_through(be, PerSample(values * ok, weight=w, valid=w > 0), d)


@loss(
    inputs=_INPUTS, decides="y_pred", integers=("y_true", "ref_labels"),
    rules=_rules(
        margin=_NUMBER, swap=flag, smooth_loss=flag, reducer=one_of(*REDUCERS), mining=one_of("all", "hard"),
    ),
    check=check_distance,
)
def batch_triplet(
    be: Any, y_true: Any, y_pred: Any, ref_labels: Any = None, ref_emb: Any = None, *,
    margin: float = 0.05, mining: str = "all", swap: bool = False, smooth_loss: bool = False,
    reducer: str = "avg_nonzero", distance: str = "lp", p: float = 2.0, power: float = 1.0, normalize: bool = True,
) -> Any:
    """Triplet margin loss over the triplets a batch's labels make, pml's ``TripletMarginLoss``.

    A triplet is an anchor ``a``, a positive ``p`` (same label) and a negative ``n``
    (another label). With ``d`` the distance matrix::

        t_apn = max(0, d_ap - d_an + margin)      (softplus with smooth_loss;
                                                   s_an - s_ap for a similarity)

    ``mining="all"``: every valid triplet; ``mining="hard"``: per anchor, its farthest
    positive and its nearest negative (pml's ``BatchHardMiner``, whose triplets
    ``TripletMarginLoss`` then reduces). ``swap``: ``d_an`` replaced by ``d_pn`` where
    that is smaller. Each anchor's value is the sum of its terms, its weight their count
    for the reducer (see the module doc).

    Parameters
    ----------
    y_true : integer array, shape (N,) or (N, 1)
    y_pred : array, shape (N, D)
        Embeddings. Decides the backend.
    ref_labels : integer array, shape (M,), optional
    ref_emb : array, shape (M, D), optional
    margin : float
    mining : {"all", "hard"}
    swap : bool
        Not with ``mining="hard"``.
    smooth_loss : bool
    reducer : {"avg_nonzero", "mean", "per_anchor"}
    distance, p, power, normalize
        As :func:`contrastive_margin`.
    sample_weight : array, shape (N,), optional

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``TripletMarginLoss(margin, swap, smooth_loss)(emb, labels)`` is
    ``reduction="mean_with_sample_weight"``; with ``indices_tuple=BatchHardMiner()(emb, labels)``
    (the same distance for both), ``mining="hard"``. ``"all"`` builds an (N, M, M) array.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> e = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> # triplets (0, 1, 2): 0.894 - 1.414 + 0.5 < 0 (no term); (1, 0, 2): 0.894 - 0.632 + 0.5
    >>> float(ul.batch_triplet([0, 0, 1], e, margin=0.5, reduction="mean_with_sample_weight").round(4))
    0.762
    """
    if mining == "hard" and swap:
        raise ValueError("swap: not available with mining='hard' (use mining='all')")
    xp = be.xp
    labels, rlabels, ref, itself = _inputs(be, y_true, y_pred, ref_labels, ref_emb)
    if y_pred.shape[0] == 0:
        return _empty(be, y_pred)
    d = pair_distances(be, y_pred, ref, distance, p, power, normalize)
    pos, neg = _pair_masks(be, labels, rlabels, itself)
    if mining == "hard":
        sim = distance != "lp"
        big = xp.finfo(d.dtype).max
        hard_p = (xp.min if sim else xp.max)(xp.where(pos, d, big if sim else -big), axis=1)
        hard_n = (xp.max if sim else xp.min)(xp.where(neg, d, -big if sim else big), axis=1)
        valid = xp.logical_and(xp.any(pos, axis=1), xp.any(neg, axis=1))
        zero = xp.zeros_like(hard_p)
        v = _margin(distance, xp.where(valid, hard_p, zero), xp.where(valid, hard_n, zero)) + margin
        t = be.softplus(v) if smooth_loss else relu(be, v)
        return _nan_through(be, pair_terms(be, t, valid, reducer, None), d)
    d_ap, d_an = xp.expand_dims(d, axis=2), xp.expand_dims(d, axis=1)
    if swap:
        rr = d if itself else pair_distances(be, ref, ref, distance, p, power, normalize)
        d_pn = xp.expand_dims(rr, axis=0)
        d_an = xp.maximum(d_an, d_pn) if distance != "lp" else xp.minimum(d_an, d_pn)
    v = _margin(distance, d_ap, d_an) + margin
    t = be.softplus(v) if smooth_loss else relu(be, v)
    mask = xp.logical_and(xp.expand_dims(pos, axis=2), xp.expand_dims(neg, axis=1))
    return _nan_through(be, pair_terms(be, t, mask, reducer, (1, 2)), d)


@loss(
    inputs=_INPUTS, decides="y_pred", integers=("y_true", "ref_labels"),
    rules=_rules(alpha=_scale, beta=_scale, base=_NUMBER, reducer=one_of(*REDUCERS)),
    check=check_distance,
)
def multi_similarity(
    be: Any, y_true: Any, y_pred: Any, ref_labels: Any = None, ref_emb: Any = None, *,
    alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, reducer: str = "mean",
    distance: str = "cosine", p: float = 2.0, power: float = 1.0, normalize: bool = True,
) -> Any:
    """Multi-similarity loss (Wang et al., 2019), pml's ``MultiSimilarityLoss``.

    With ``s`` the similarity matrix, ``P(i)`` and ``N(i)`` anchor ``i``'s positives and
    negatives::

        loss_i = 1/alpha * log(1 + sum_{P(i)} exp(-alpha (s_ij - base)))
               + 1/beta  * log(1 + sum_{N(i)} exp( beta (s_ij - base)))

    (``d - base`` and ``base - d`` for a distance); a sum over no pair is 0.

    Parameters
    ----------
    y_true : integer array, shape (N,) or (N, 1)
    y_pred : array, shape (N, D)
        Embeddings. Decides the backend.
    ref_labels : integer array, shape (M,), optional
    ref_emb : array, shape (M, D), optional
    alpha, beta : float > 0
    base : float
    reducer : {"mean", "avg_nonzero", "per_anchor"}
        One term per anchor: ``"per_anchor"`` is ``"mean"``.
    distance, p, power, normalize
        As :func:`contrastive_margin` (default ``"cosine"``).
    sample_weight : array, shape (N,), optional

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``MultiSimilarityLoss(alpha, beta, base)(emb, labels)`` is
    ``reduction="mean_with_sample_weight"`` (also ``"sum_over_batch_size"``: pml averages
    over every anchor).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> e = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> ul.multi_similarity([0, 0, 1], e, beta=2.0).round(4).tolist()
    [0.4557, 0.8178, 0.58]
    """
    xp = be.xp
    labels, rlabels, ref, itself = _inputs(be, y_true, y_pred, ref_labels, ref_emb)
    if y_pred.shape[0] == 0:
        return _empty(be, y_pred)
    s = pair_distances(be, y_pred, ref, distance, p, power, normalize)
    pos, neg = _pair_masks(be, labels, rlabels, itself)
    lp = _masked_lse(be, alpha * _margin(distance, s, base), pos)
    ln = _masked_lse(be, beta * _margin(distance, base, s), neg)
    zero = xp.zeros_like(lp)
    values = xp.where(xp.any(pos, axis=1), be.softplus(lp), zero) / alpha
    values = values + xp.where(xp.any(neg, axis=1), be.softplus(ln), zero) / beta
    return _nan_through(be, _element(be, values * _enough_pairs(be, pos, neg, s.dtype), reducer), s)


@loss(
    inputs=_INPUTS, decides="y_pred", integers=("y_true", "ref_labels"),
    rules=_rules(temperature=_POSITIVE, reducer=one_of(*REDUCERS)),
    check=check_distance,
)
def supcon(
    be: Any, y_true: Any, y_pred: Any, ref_labels: Any = None, ref_emb: Any = None, *,
    temperature: float = 0.1, reducer: str = "avg_nonzero",
    distance: str = "cosine", p: float = 2.0, power: float = 1.0, normalize: bool = True,
) -> Any:
    """Supervised contrastive loss (Khosla et al., 2020), pml's ``SupConLoss``.

    With ``z_ij = s_ij / temperature`` (``-d_ij / temperature`` for a distance), ``P(i)``
    the positives of anchor ``i`` and ``A(i)`` its positives and negatives::

        loss_i = -1/|P(i)| * sum_{j in P(i)} ( z_ij - log sum_{k in A(i)} exp(z_ik) )

    0 for an anchor without a positive, and for every anchor of a batch without a
    positive or without a negative pair.

    Parameters
    ----------
    y_true : integer array, shape (N,) or (N, 1)
    y_pred : array, shape (N, D)
        Embeddings. Decides the backend.
    ref_labels : integer array, shape (M,), optional
    ref_emb : array, shape (M, D), optional
    temperature : float > 0
    reducer : {"avg_nonzero", "mean", "per_anchor"}
        One term per anchor: ``"per_anchor"`` is ``"mean"``.
    distance, p, power, normalize
        As :func:`contrastive_margin` (default ``"cosine"``).
    sample_weight : array, shape (N,), optional

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``SupConLoss(temperature)(emb, labels)`` is ``reduction="mean_with_sample_weight"``
    (pml divides by ``|P(i)| + tiny``, the smallest normal number of the dtype).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> e = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> ul.supcon([0, 0, 1], e, temperature=1.0).round(4).tolist()
    [0.4375, 0.7981, 0.0]
    """
    xp = be.xp
    labels, rlabels, ref, itself = _inputs(be, y_true, y_pred, ref_labels, ref_emb)
    if y_pred.shape[0] == 0:
        return _empty(be, y_pred)
    s = pair_distances(be, y_pred, ref, distance, p, power, normalize)
    pos, neg = _pair_masks(be, labels, rlabels, itself)
    z = (s if distance != "lp" else -s) / temperature
    lse = _masked_lse(be, z, xp.logical_or(pos, neg))
    log_prob = z - xp.expand_dims(lse, axis=1)
    n_pos = _count(be, pos, z.dtype, 1)
    values = -_masked_sum(be, log_prob, pos, 1) / (n_pos + xp.finfo(z.dtype).smallest_normal)
    both = xp.logical_and(xp.any(pos), xp.any(neg))
    ok = xp.astype(both, z.dtype) * _enough_pairs(be, pos, neg, z.dtype)
    return _nan_through(be, _element(be, values * ok, reducer), s)


#: beta: a number, or a 0-d or (C,) array of the inputs' framework (passed as an argument:
#: differentiable); a (C,) array holds one beta per class, indexed by the anchor's label
_BETA = in_range(-math.inf, math.inf, lo_open=True, hi_open=True)
_BETA.vector = "one value per class"  # type: ignore[attr-defined]


@loss(
    inputs=_INPUTS, decides="y_pred", integers=("y_true", "ref_labels"),
    rules=_rules(margin=_NUMBER, beta=_BETA, nu=_NUMBER, reducer=one_of("divisor", "mean")),
    check=check_distance,
)
def beta_margin(
    be: Any, y_true: Any, y_pred: Any, ref_labels: Any = None, ref_emb: Any = None, *,
    margin: float = 0.2, beta: Any = 1.2, nu: float = 0.0, reducer: str = "divisor",
    distance: str = "lp", p: float = 2.0, power: float = 1.0, normalize: bool = True,
) -> Any:
    """Margin loss of "Sampling matters" (Wu et al., 2017), pml's ``MarginLoss``.

    Over every triplet ``(a, p, n)`` of the batch, with ``d`` the distance matrix::

        t_apn = max(0, d_ap - beta + margin) + max(0, beta - d_an + margin)

    (the differences the other way round for a similarity). ``reducer="divisor"`` (pml's
    ``DivisorReducer``): the sum over the triplets divided by the number of their two
    hinge terms that are > 0; ``"mean"``: by the number of triplets.

    ``beta`` may be a 0-d array, differentiable like the inputs (pml's ``learn_beta=True``
    with one beta); ``nu`` adds pml's regulariser ``nu * beta`` to the reduced loss (pml
    adds it whenever the batch has a triplet, even when every hinge is 0). A (C,) array is
    one beta per class (pml's ``num_classes=C``): a triplet takes its anchor's
    ``beta[y_a]``, labels must lie in [0, C-1], and the regulariser is ``nu * beta[y_a]``
    per triplet, reduced with the hinge terms (by the same divisor).

    Parameters
    ----------
    y_true : integer array, shape (N,) or (N, 1)
    y_pred : array, shape (N, D)
        Embeddings. Decides the backend.
    ref_labels : integer array, shape (M,), optional
    ref_emb : array, shape (M, D), optional
    margin : float
    beta : float, 0-d array or array of shape (C,)
        The boundary: a number (pml's ``learn_beta=False``), or an array of the embeddings'
        framework, learnt by gradient (``learn_beta=True``): 0-d, or one beta per class
        (``num_classes=C``), the anchor's label picking it.
    nu : float
        The weight of the regulariser ``nu * beta`` (pml's ``nu``; pml adds it only with
        ``learn_beta=True``).
    reducer : {"divisor", "mean"}
    distance, p, power, normalize
        As :func:`contrastive_margin`.
    sample_weight : array, shape (N,), optional

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``MarginLoss(margin, beta=beta)(emb, labels)`` is ``reduction="mean_with_sample_weight"``;
    so is ``MarginLoss(margin, nu=nu, learn_beta=True)`` with its parameter ``beta`` passed
    as ``beta`` (shape (1,) in pml: 0-d here), and ``MarginLoss(nu=nu, learn_beta=True,
    num_classes=C)`` with its (C,) ``beta``. Written over pairs (a triplet's terms are a
    positive pair's and a negative pair's), with no (N, M, M) array.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> e = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> float(ul.beta_margin([0, 0, 1], e, beta=0.8, reduction="mean_with_sample_weight").round(4))
    0.3188
    """
    xp = be.xp
    labels, rlabels, ref, itself = _inputs(be, y_true, y_pred, ref_labels, ref_emb)
    if y_pred.shape[0] == 0:
        return _empty(be, y_pred)
    d = pair_distances(be, y_pred, ref, distance, p, power, normalize)
    pos, neg = _pair_masks(be, labels, rlabels, itself)
    dtype = d.dtype
    per_class = getattr(beta, "ndim", 0) == 1
    if per_class:  # the anchor's beta, for each of its pairs
        has_beta = _label_in_range(be, labels, beta.shape[0])
        beta = xp.expand_dims(be.lookup(beta, xp.where(has_beta, labels, xp.zeros_like(labels))), axis=1)
    pos_t = relu(be, _margin(distance, d, beta) + margin)
    neg_t = relu(be, _margin(distance, beta, d) + margin)
    n_pos, n_neg = _count(be, pos, dtype, 1), _count(be, neg, dtype, 1)
    # each positive pair's term appears in n_neg triplets, each negative pair's in n_pos
    values = n_neg * _masked_sum(be, pos_t, pos, 1) + n_pos * _masked_sum(be, neg_t, neg, 1)
    n_t = n_pos * n_neg  # the anchor's triplets
    if reducer == "divisor":
        w = n_neg * _count(be, xp.logical_and(pos, pos_t > 0), dtype, 1)
        w = w + n_pos * _count(be, xp.logical_and(neg, neg_t > 0), dtype, 1)
    else:
        w = n_t
    if per_class:
        # pml's beta_reg_loss with num_classes: nu * beta[y_a] for each triplet, reduced with
        # the hinge terms (the same divisor; nothing when it is 0)
        if not is_zero(nu):
            values = values + nu * beta[:, 0] * n_t
        values = xp.where(has_beta, values, float("nan"))
        w = xp.where(has_beta, w, xp.ones_like(w))  # a label with no beta: NaN, kept by every reduction
    elif not is_zero(nu):
        # pml's beta_reg_loss, nu * beta, already reduced: added once when the batch has a
        # triplet. Spread over the anchors by weight (reg * w_a), the weighted mean adds it
        # exactly; with a zero divisor (every hinge at 0, every margin value 0) the anchors
        # weigh their triplets instead, so that it still counts.
        reg = xp.where(xp.sum(n_t) > 0, nu * beta * xp.ones_like(n_t), xp.zeros_like(n_t))
        if reducer == "divisor":
            w = xp.where(xp.sum(w) > 0, w, n_t)
        values = values + reg * w
    return _nan_through(be, PerSample(values, weight=w, valid=w > 0), d)


# ------------------------------------------------------------------ classes
class ContrastiveMargin(FunctionLoss):
    """Class form of :func:`contrastive_margin` (pml's ``ContrastiveLoss``)."""

    function = contrastive_margin


class BatchTriplet(FunctionLoss):
    """Class form of :func:`batch_triplet` (pml's ``TripletMarginLoss`` on a batch's labels)."""

    function = batch_triplet


class MultiSimilarity(FunctionLoss):
    """Class form of :func:`multi_similarity` (pml's ``MultiSimilarityLoss``)."""

    function = multi_similarity


class SupCon(FunctionLoss):
    """Class form of :func:`supcon` (pml's ``SupConLoss``)."""

    function = supcon


class BetaMargin(FunctionLoss):
    """Class form of :func:`beta_margin` (pml's ``MarginLoss``)."""

    function = beta_margin
