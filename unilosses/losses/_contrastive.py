"""Contrastive losses over a batch of embeddings: NT-Xent (InfoNCE) and Circle.

Both take integer labels ``y_true`` of shape (N,) and embeddings ``y_pred`` of
shape (N, D): samples with the same label are positives of each other, every
other sample is a negative. Each sample's value depends on the whole batch (it
is one anchor against every other sample), so a batch split across devices
compares each shard's anchors only with that shard's samples.

Both take pytorch-metric-learning's distances (``distance``, ``p``, ``power``,
``normalize``; see the metric-learning family): ``NTXentLoss(distance=LpDistance())``
is ``ntxent(..., distance="lp")``, ``CircleLoss(distance=CosineSimilarity(power=2))`` is
``circle(..., distance="cosine", power=2)``. ``ntxent`` also takes pml's reference set
(``ref_labels`` of shape (M,), ``ref_emb`` of shape (M, D)), as the metric-learning losses: each
anchor is then compared with the references only.
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.pairs import DISTANCE_RULES, REDUCERS, check_distance, pair_distances, pair_terms
from unilosses.reduction import PerSample
from unilosses.rules import flag, in_range, one_of
from unilosses.shapes import relu, row_positions

__all__ = ["Circle", "NTXent", "circle", "ntxent"]


# ------------------------------------------------------------------ helpers
def _labels(be: Any, y_true: Any, y_pred: Any) -> Any:
    """Labels of shape (N,) (or (N, 1)) for embeddings of shape (N, D)."""
    ps = tuple(y_pred.shape)
    if len(ps) != 2:
        raise ValueError(f"y_pred: expected embeddings of shape (N, D), got shape {ps}")
    return _flat_labels(be, "y_true", y_true, ps[:1], "y_pred", ps)


def _flat_labels(be: Any, name: str, y: Any, want: tuple[Any, ...], of: str, shape: tuple[Any, ...]) -> Any:
    ts = tuple(y.shape)
    if len(ts) == 2 and ts[1] == 1:
        y = be.xp.reshape(y, ts[:1])
        ts = ts[:1]
    if ts != want:
        raise ValueError(f"{name}: expected one label per embedding, shape {want} for {of} of shape {shape}, got {ts}")
    return y


def _reference(be: Any, y_pred: Any, ref_labels: Any, ref_emb: Any) -> tuple[Any, Any]:
    """(ref_labels (M,), ref_emb (M, D)) checked against embeddings ``y_pred`` (N, D), with the
    metric-learning losses' rules and messages."""
    if (ref_emb is None) != (ref_labels is None):
        raise ValueError("ref_emb, ref_labels: expected both (a reference set and its labels) or neither")
    ps, rs = tuple(y_pred.shape), tuple(ref_emb.shape)
    if len(rs) != 2 or rs[1] != ps[1]:
        raise ValueError(f"ref_emb: expected embeddings of shape (M, {ps[1]}) as y_pred's {ps}, got shape {rs}")
    return _flat_labels(be, "ref_labels", ref_labels, rs[:1], "ref_emb", rs), ref_emb


def _pairs(be: Any, labels: Any) -> tuple[Any, Any]:
    """(same label, not the same sample), both (N, N) boolean."""
    xp = be.xp
    same = xp.equal(xp.expand_dims(labels, axis=1), xp.expand_dims(labels, axis=0))
    i = row_positions(be, labels)
    other = xp.not_equal(xp.expand_dims(i, axis=1), xp.expand_dims(i, axis=0))
    return same, other


def _masked_logsumexp(be: Any, x: Any, mask: Any) -> Any:
    """logsumexp over axis 1 of the entries where ``mask`` holds: about ``finfo.min`` (finite,
    with zero gradients) where it holds nowhere."""
    xp = be.xp
    return be.logsumexp(xp.where(mask, x, xp.finfo(x.dtype).min), 1)


def _empty(be: Any, y_pred: Any, weight: bool) -> PerSample:
    """The per-sample result of an empty batch (no pairs to reduce over)."""
    values = be.xp.sum(y_pred, axis=1)
    return PerSample(values, weight=values if weight else None, valid=be.xp.not_equal(values, values))


# ------------------------------------------------------------------- losses
@loss(
    inputs=("y_true", "y_pred", "ref_labels", "ref_emb"), decides="y_pred",
    rules={"temperature": in_range(0.0, math.inf, lo_open=True), **DISTANCE_RULES, "reducer": one_of(*REDUCERS)},
    check=check_distance,
)
def ntxent(
    be: Any, y_true: Any, y_pred: Any, ref_labels: Any = None, ref_emb: Any = None, *, temperature: float = 0.07,
    reducer: str = "mean", distance: str = "cosine", p: float = 2.0, power: float = 1.0, normalize: bool = True,
) -> Any:
    """NT-Xent (InfoNCE): each positive pair against the anchor's negatives, by cosine similarity.

    With ``sim_ij = cos(e_i, e_j) / temperature``, ``P(i)`` the other samples with
    ``i``'s label and ``N(i)`` the samples with another label, the anchor ``i``
    costs the sum over its positive pairs::

        loss_i = sum_{j in P(i)} -log( exp(sim_ij) / (exp(sim_ij) + sum_{k in N(i)} exp(sim_ik)) )

    and counts ``|P(i)|`` times in the weighted mean: ``reduction=
    "mean_with_sample_weight"`` is the mean over every positive pair (optax).
    An anchor with no positive has loss 0 and leaves every count and weight sum.
    For SimCLR's two views of N images, the labels are ``[0, ..., N-1, 0, ..., N-1]``
    over the stacked views: one positive per anchor, and every reduction is the mean.

    Parameters
    ----------
    y_true : array, shape (N,) or (N, 1)
        Labels: samples with equal labels are positive pairs.
    y_pred : array, shape (N, D)
        Embeddings (normalised here: only their direction counts). Decides the backend.
    ref_labels : array, shape (M,) or (M, 1), optional
    ref_emb : array, shape (M, D), optional
        A reference set (both or neither): each anchor's positives ``P(i)`` are the references
        with its label and its negatives ``N(i)`` the others (the anchor is not left out: the
        references are another set), as pml's ``NTXentLoss()(emb, labels, ref_emb=..,
        ref_labels=..)``.
    temperature : float > 0
    reducer : {"mean", "avg_nonzero", "per_anchor"}
        pml's reducer of the pair terms (``MeanReducer``, its default: each anchor weighs
        ``|P(i)|``; ``AvgNonZeroReducer``: the pairs whose term is > 0; ``PerAnchorReducer()``:
        each anchor's mean over its pairs, weight 1).
    distance : {"cosine", "lp", "dot"}
        pml's distance: ``sim_ij`` is the similarity (``-d_ij`` for ``"lp"``) over ``temperature``.
    p, power, normalize
        As :func:`contrastive_margin`.
    sample_weight : array, shape (N,), optional
        Weights per anchor.

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``optax.ntxent(y_pred, y_true, temperature)`` is
    ``reduction="mean_with_sample_weight"``; so is
    ``pytorch_metric_learning.losses.NTXentLoss(temperature, distance=D)`` with ``D`` as
    ``distance`` / ``p`` / ``power`` / ``normalize``. For the default cosine, norms are clipped
    below at the compute dtype's machine epsilon (optax); the other distances normalise as pml
    (``max(||e||_p, 1e-12)``). Against a reference set, as pml, the loss is 0 when there is at
    most one positive and one negative pair in the whole batch. Written as
    ``softplus(logsumexp_N(i) - sim_ij)`` per pair, with masked entries at ``finfo.min`` (never
    ``-inf``): finite gradients for anchors without a negative (pml adds the smallest normal
    number inside its log; not here).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> e = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> ul.ntxent(y, e, temperature=1.0).round(4).tolist()  # log(1 + (e^0 + e^0.0995) / e^0.995) first
    [0.5755, 0.6201, 0.5755, 0.6201]
    """
    xp = be.xp
    labels = _labels(be, y_true, y_pred)
    itself = ref_emb is None and ref_labels is None
    ref_y, ref = (labels, y_pred) if itself else _reference(be, y_pred, ref_labels, ref_emb)
    if y_pred.shape[0] == 0:
        return _empty(be, y_pred, weight=True)
    if ref.shape[0] == 0:  # an empty reference set: no pair (pml: 0)
        zero = xp.sum(y_pred, axis=1) * 0.0
        return PerSample(zero, weight=zero, valid=zero > 0)
    if distance == "cosine" and power == 1 and p == 2:  # optax's normalisation
        unit = _unit(be, y_pred)
        sim = xp.matmul(unit, xp.permute_dims(unit if itself else _unit(be, ref), (1, 0))) / temperature
    else:
        mat = pair_distances(be, y_pred, ref, distance, p, power, normalize)
        sim = (-mat if distance == "lp" else mat) / temperature
    same = xp.equal(xp.expand_dims(labels, axis=1), xp.expand_dims(ref_y, axis=0))
    pos = xp.logical_and(same, _pairs(be, labels)[1]) if itself else same
    lse_neg = _masked_logsumexp(be, sim, xp.logical_not(same))
    pair = be.softplus(xp.expand_dims(lse_neg, axis=1) - sim)
    out = pair_terms(be, pair, pos, reducer, 1)
    n, m = y_pred.shape[0], ref.shape[0]
    if itself or (n is not None and m is not None and n * m > 2):
        # pml's pair losses give 0 when the batch has at most one positive and one negative pair:
        # never so against the batch (a positive pair comes with its mirror image), and against a
        # reference set only where n * m <= 2 (each of the n * m pairs is one or the other; with no
        # negative or no positive the loss is 0 anyway): known from the shapes, so the anchors stay
        # independent of each other
        return out
    n_pos, n_neg = (xp.sum(xp.astype(k, sim.dtype)) for k in (pos, xp.logical_not(same)))
    ok = xp.astype(xp.logical_not(xp.logical_and(n_pos <= 1, n_neg <= 1)), sim.dtype)
    return PerSample(out.values * ok, weight=out.weight, valid=out.valid)


def _unit(be: Any, x: Any) -> Any:
    """Rows of ``x`` divided by their 2-norms, clipped below at the machine epsilon (optax)."""
    xp = be.xp
    sq = xp.sum(x * x, axis=1, keepdims=True)
    return x / xp.sqrt(xp.clip(sq, min=float(xp.finfo(x.dtype).eps)))


def _similarity(name: str, value: Any) -> Any:
    """None (Keras' dot products) or a similarity of pml's: circle loss has no distance form."""
    if value is None or value in ("cosine", "dot"):
        return value
    raise ValueError(
        f"{name}: expected None (Keras: the embeddings' dot products), 'cosine' or 'dot' (pml's similarities; "
        f"pml's CircleLoss takes CosineSimilarity only), got {value!r}"
    )


def _check_circle(distance: Any = None, p: float = 2.0, power: float = 1.0, **kw: Any) -> None:
    if distance is None and (p != 2 or power != 1):
        raise ValueError(
            f"p, power: apply to distance='cosine' or 'dot'; got p={p!r}, power={power!r} with distance=None "
            "(Keras' dot products of the embeddings as given)"
        )
    check_distance(distance=distance, power=power, **kw)


@loss(
    rules={"remove_diagonal": flag, "detach_weights": flag, **DISTANCE_RULES, "distance": _similarity},
    check=_check_circle,
)
def circle(
    be: Any, y_true: Any, y_pred: Any, *, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True,
    detach_weights: bool = False, distance: Any = None, p: float = 2.0, power: float = 1.0, normalize: bool = True,
) -> Any:
    """Circle loss (Sun et al., 2020): each similarity weighted by how far it is from its optimum.

    With ``d_ij = max(0, 1 - e_i . e_j)`` (cosine distances for unit embeddings),
    ``m = margin``, ``P(i)`` the samples with ``i``'s label (``i`` itself too unless
    ``remove_diagonal``) and ``N(i)`` the others::

        lp_ij = -gamma * max(0, m + d_ij) * (m - d_ij)               (j in P(i))
        ln_ij =  gamma * max(0, 1 + m - d_ij) * (1 - m - d_ij)       (j in N(i))
        loss_i = softplus( logsumexp_{P(i)} lp_i + logsumexp_{N(i)} ln_i )

    An anchor without a positive or without a negative has loss 0 and leaves every
    count and weight sum of the reductions.

    Parameters
    ----------
    y_true : integer array, shape (N,) or (N, 1)
        Labels.
    y_pred : array, shape (N, D)
        Embeddings, L2-normalised by the model (not here, as in Keras). Decides the backend.
    gamma : float >= 0
        The scale of the similarities.
    margin : float
        The relaxation: optima ``1 + m`` (negatives) and ``-m`` (positives), in
        similarity.
    remove_diagonal : bool
        Leave each sample out of its own positives.
    detach_weights : bool
        Hold the adaptive weights ``max(0, m + d)`` and ``max(0, 1 + m - d)`` constant for
        autodiff, as pytorch-metric-learning's ``CircleLoss`` (``relu(op - s.detach())``) and the
        paper do: the same values, the gradient of pml (up to 2x smaller than Keras').
    distance : None, "cosine" or "dot"
        None: Keras' ``d_ij = max(0, 1 - e_i . e_j)`` on the embeddings as given. ``"cosine"``
        / ``"dot"``: pml's ``CosineSimilarity`` / ``DotProductSimilarity`` ``s``, and
        ``d = 1 - s`` (not clipped, as pml).
    p, power, normalize
        With ``"cosine"`` / ``"dot"``, as :func:`contrastive_margin` (``normalize`` for
        ``"dot"``: ``"cosine"`` always normalises).
    sample_weight : array, shape (N,), optional

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``keras.losses.circle(y_true, y_pred, gamma=gamma, margin=margin,
    remove_diagonal=remove_diagonal)`` per sample, values and gradients;
    ``pytorch_metric_learning.losses.CircleLoss(m=margin, gamma=gamma)(emb, labels)`` is
    ``circle(labels, emb, margin=margin, gamma=gamma, distance="cosine", detach_weights=True,
    reduction="sum_over_batch_size")`` (values and gradients; pml's ``AvgNonZeroReducer``
    leaves out the anchors whose loss is 0, as the count here). ``keras.losses.Circle()`` marks
    the samples whose loss is 0 (those without a positive or a negative) as masked,
    so its ``"sum_over_batch_size"`` divides by the others: the same here, as those
    samples leave the count (Keras would also drop a sample whose loss underflows to
    0, which needs ``gamma`` well above its default).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> e = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, -0.8]])
    >>> ul.circle(np.array([0, 0, 1, 2]), e, gamma=1.0).round(4).tolist()  # samples 2, 3: no positive
    [1.0435, 1.0435, 0.0, 0.0]
    """
    xp = be.xp
    labels = _labels(be, y_true, y_pred)
    if y_pred.shape[0] == 0:
        return _empty(be, y_pred, weight=False)
    if distance is None:
        d = relu(be, 1.0 - xp.matmul(y_pred, xp.permute_dims(y_pred, (1, 0))))
    else:
        d = 1.0 - pair_distances(be, y_pred, y_pred, distance, p, power, normalize)
    same, other = _pairs(be, labels)
    pos = xp.logical_and(same, other) if remove_diagonal else same
    neg = xp.logical_not(same)
    alpha_p, alpha_n = relu(be, margin + d), relu(be, 1.0 + margin - d)  # the adaptive weights
    if detach_weights:
        alpha_p, alpha_n = be.stop_gradient(alpha_p), be.stop_gradient(alpha_n)
    lp = -gamma * alpha_p * (margin - d)
    ln = gamma * alpha_n * (1.0 - margin - d)
    valid = xp.logical_and(xp.any(pos, axis=1), xp.any(neg, axis=1))
    total = _masked_logsumexp(be, lp, pos) + _masked_logsumexp(be, ln, neg)
    return PerSample(be.softplus(xp.where(valid, total, xp.zeros_like(total))), valid=valid)


# ------------------------------------------------------------------ classes
class NTXent(FunctionLoss):
    """Class form of :func:`ntxent` (``optax.ntxent`` with ``reduction="mean_with_sample_weight"``)."""

    function = ntxent


class Circle(FunctionLoss):
    """Class form of :func:`circle` (``keras.losses.Circle``)."""

    function = circle
