"""Pair distances and pair-term reductions of the metric-learning and contrastive losses.

pytorch-metric-learning's distances (``LpDistance``, ``CosineSimilarity``,
``DotProductSimilarity``, with ``power`` and ``normalize_embeddings``) as one (N, M) matrix
between queries and references, the rules of the options that name them, and pml's reducers
of per-pair (per-triplet) terms as a :class:`~unilosses.reduction.PerSample` weighting: shared
by ``losses/_metric.py`` and ``losses/_contrastive.py``.
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.reduction import PerSample
from unilosses.rules import flag, in_range, one_of

__all__ = ["DISTANCE_RULES", "REDUCERS", "check_distance", "divide_or_zero", "pair_distances", "pair_terms"]

_NUMBER = in_range(-math.inf, math.inf, lo_open=True, hi_open=True, arrays=False)
_POSITIVE = in_range(0.0, math.inf, lo_open=True, hi_open=True, arrays=False)
#: the rules of the distance options (``distance``, ``p``, ``power``, ``normalize``)
DISTANCE_RULES = {
    "distance": one_of("lp", "cosine", "dot"),
    "p": _POSITIVE,
    "power": _NUMBER,
    "normalize": flag,
}
#: pml's reducers of pair and triplet terms: AvgNonZeroReducer, MeanReducer, PerAnchorReducer()
REDUCERS = ("avg_nonzero", "mean", "per_anchor")


def check_distance(distance: Any = "lp", normalize: bool = True, power: float = 1.0, **_: Any) -> None:
    """The rules between the distance options: cosine normalises; a similarity takes integer powers."""
    if distance == "cosine" and not normalize:
        raise ValueError("normalize: distance='cosine' normalises the embeddings; use distance='dot' for normalize=False")
    if distance != "lp" and power != int(power):
        # a similarity can be negative, and a negative number has no real non-integer power (pml: NaN)
        raise ValueError(
            f"power: expected an integer power for distance={distance!r} (similarities may be negative), got {power!r}"
        )


def _norm(be: Any, x: Any, p: float, axis: int) -> Any:
    """The ``p``-norm over ``axis``, with a finite (zero) gradient where it is 0."""
    xp = be.xp
    if p == 2:
        s = xp.sum(x * x, axis=axis)
    else:
        s = xp.sum(xp.abs(x) ** p, axis=axis)
    zero = s == 0  # (NaN stays NaN)
    r = xp.where(zero, xp.ones_like(s), s)
    r = xp.sqrt(r) if p == 2 else r ** (1.0 / p)
    return xp.where(zero, xp.zeros_like(r), r)


def _normalise(be: Any, x: Any, p: float) -> Any:
    """torch's ``F.normalize(x, p, dim=1)``: ``x / max(||x||_p, 1e-12)``."""
    xp = be.xp
    n = xp.clip(_norm(be, x, p, 1), min=1e-12)
    return x / xp.expand_dims(n, axis=1)


def pair_distances(be: Any, q: Any, r: Any, distance: str, p: float, power: float, normalize: bool) -> Any:
    """pml's distance matrix (N, M) between queries ``q`` and references ``r``."""
    xp = be.xp
    if normalize:
        q, r = _normalise(be, q, p), _normalise(be, r, p)
    if distance == "lp":
        mat = _norm(be, xp.expand_dims(q, axis=1) - xp.expand_dims(r, axis=0), p, 2)
    else:
        mat = xp.matmul(q, xp.permute_dims(r, (1, 0)))
    return mat if power == 1 else mat**power


def divide_or_zero(be: Any, num: Any, den: Any) -> Any:
    """``num / den``, 0 where ``den`` is 0 (finite gradients)."""
    xp = be.xp
    zero = xp.equal(den, 0)
    return xp.where(zero, xp.zeros_like(num), num / xp.where(zero, xp.ones_like(den), den))


def pair_terms(be: Any, terms: Any, mask: Any, reducer: str, axes: Any) -> PerSample:
    """Terms (one per pair or triplet of ``mask``) summed per anchor over ``axes`` (None: one term
    per anchor), weighted by the reducer's count of them."""
    xp = be.xp
    dtype = terms.dtype

    def per_anchor(x: Any) -> Any:
        return x if axes is None else xp.sum(x, axis=axes)

    total = per_anchor(xp.where(mask, terms, xp.zeros_like(terms)))
    # a NaN term counts (it is not known to be 0): its anchor stays NaN, not left out
    counted = xp.logical_and(mask, xp.logical_not(terms <= 0)) if reducer == "avg_nonzero" else mask
    n = per_anchor(xp.astype(counted, dtype))
    if reducer == "per_anchor":
        return PerSample(divide_or_zero(be, total, n), weight=xp.ones_like(total))
    return PerSample(total, weight=n, valid=n > 0)
