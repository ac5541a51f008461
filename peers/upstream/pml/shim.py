"""pytorch-metric-learning's loss classes, translated to unilosses (what pml's loss tests import).

pml's test files (``tests/``, vendored unchanged) import their losses with
``from pytorch_metric_learning.losses import X``; :mod:`peers.upstream.pml.run` rewrites that
one import to this module. Everything else they import (distances, reducers, miners, pml's
testing helpers) stays pml's own.

Each class takes pml's constructor arguments and calls the unilosses loss as a pml user would
after reading docs/metric-learning.md: the distance and the reducer objects become the
``distance`` / ``p`` / ``power`` / ``normalize`` and ``reducer`` options, pml's value is
``reduction="mean_with_sample_weight"``, and the result is cast back to the embeddings' dtype
(unilosses computes 16-bit inputs in float32). What unilosses cannot express (an
``indices_tuple`` from a miner, a regulariser, another distance or reducer)
skips the test with a reason that starts with "missing:".
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
import unilosses as ul
from pytorch_metric_learning import distances, reducers

MEAN = "mean_with_sample_weight"


def missing(what: str) -> None:
    pytest.skip(f"missing: {what}")


def _distance(d: Any) -> dict[str, Any]:
    if type(d) is distances.CosineSimilarity:
        out: dict[str, Any] = {"distance": "cosine"}
    elif type(d) is distances.DotProductSimilarity:
        out = {"distance": "dot", "normalize": bool(d.normalize_embeddings)}
    elif type(d) is distances.LpDistance:
        out = {"distance": "lp", "normalize": bool(d.normalize_embeddings), "p": float(d.p)}
    else:
        missing(f"distance {type(d).__name__}")
    if d.power != 1:
        out["power"] = float(d.power)
    return out


def _reducer(r: Any, allowed: dict[type, str]) -> dict[str, Any]:
    if r is None:
        return {}
    if type(r) is reducers.PerAnchorReducer and type(r.reducer) is not reducers.MeanReducer:
        missing(f"PerAnchorReducer(reducer={type(r.reducer).__name__}())")
    name = allowed.get(type(r))
    if name is None:
        missing(f"reducer {type(r).__name__}")
    return {"reducer": name}


PAIR_REDUCERS = {
    reducers.AvgNonZeroReducer: "avg_nonzero",
    reducers.MeanReducer: "mean",
    reducers.PerAnchorReducer: "per_anchor",
}


class _Loss(torch.nn.Module):
    """A pml loss object backed by a unilosses function."""

    function = ""
    default_distance: Any = distances.LpDistance
    reducers_allowed: ClassVar[dict[type, str]] = PAIR_REDUCERS

    def __init__(self, distance: Any = None, reducer: Any = None, embedding_regularizer: Any = None, **kw: Any) -> None:
        super().__init__()
        self.distance = distance if distance is not None else self.default_distance()
        self.reducer = reducer
        self.embedding_regularizer = embedding_regularizer
        self.kw = kw
        for k, v in kw.items():
            setattr(self, k, v)

    def options(self) -> dict[str, Any]:
        return dict(self.kw)

    def forward(self, embeddings: Any, labels: Any = None, indices_tuple: Any = None, ref_emb: Any = None, ref_labels: Any = None) -> Any:
        if indices_tuple is not None:
            missing("indices_tuple (pairs or triplets chosen by a miner)")
        if labels is None:
            missing("a loss without labels")
        if self.embedding_regularizer is not None:
            missing("embedding_regularizer")
        if (ref_emb is None) != (ref_labels is None):
            missing("ref_emb without ref_labels")
        options = {**self.options(), **_distance(self.distance), **_reducer(self.reducer, self.reducers_allowed)}
        extra = () if ref_emb is None else (ref_labels, ref_emb)
        out = getattr(ul, self.function)(labels, embeddings, *extra, reduction=MEAN, **options)
        return out.to(embeddings.dtype)


class ContrastiveLoss(_Loss):
    function = "contrastive_margin"

    def __init__(self, pos_margin: float = 0, neg_margin: float = 1, **kw: Any) -> None:
        super().__init__(pos_margin=float(pos_margin), neg_margin=float(neg_margin), **kw)


class TripletMarginLoss(_Loss):
    function = "batch_triplet"

    def __init__(self, margin: float = 0.05, swap: bool = False, smooth_loss: bool = False, triplets_per_anchor: Any = "all", **kw: Any) -> None:
        super().__init__(margin=float(margin), swap=swap, smooth_loss=smooth_loss, **kw)
        self.triplets_per_anchor = triplets_per_anchor

    def forward(self, *args: Any, **kw: Any) -> Any:
        if self.triplets_per_anchor != "all":
            missing(f"triplets_per_anchor={self.triplets_per_anchor!r} (random triplets)")
        return super().forward(*args, **kw)


class MultiSimilarityLoss(_Loss):
    function = "multi_similarity"
    default_distance = distances.CosineSimilarity

    def __init__(self, alpha: float = 2, beta: float = 50, base: float = 0.5, **kw: Any) -> None:
        super().__init__(alpha=float(alpha), beta=float(beta), base=float(base), **kw)


class SupConLoss(_Loss):
    function = "supcon"
    default_distance = distances.CosineSimilarity

    def __init__(self, temperature: float = 0.1, **kw: Any) -> None:
        super().__init__(temperature=float(temperature), **kw)


class MarginLoss(_Loss):
    function = "beta_margin"
    reducers_allowed: ClassVar[dict[type, str]] = {reducers.DivisorReducer: "divisor", reducers.MeanReducer: "mean"}

    def __init__(
        self, margin: float = 0.2, nu: float = 0, beta: Any = 1.2, triplets_per_anchor: Any = "all", learn_beta: bool = False,
        num_classes: Any = None, **kw: Any,
    ) -> None:
        super().__init__(margin=float(margin), **kw)
        self.nu, self.learn_beta, self.num_classes, self.triplets_per_anchor = nu, learn_beta, num_classes, triplets_per_anchor
        # pml's constructor state (test_beta_datatype reads it): one beta, or one per class,
        # a parameter when learnt
        self.beta = torch.tensor([float(beta)]) if not num_classes else torch.ones(num_classes) * float(beta)
        if learn_beta:
            self.beta = torch.nn.Parameter(self.beta)

    def options(self) -> dict[str, Any]:
        # one beta: a number, or a 0-d tensor when learnt; one per class: the (C,) tensor. pml adds
        # its regulariser nu * beta only when beta is learnt
        beta = self.beta if self.num_classes else self.beta[0] if self.learn_beta else float(self.beta[0])
        return {**self.kw, "beta": beta, **({"nu": float(self.nu)} if self.learn_beta else {})}

    def forward(self, *args: Any, **kw: Any) -> Any:
        if self.triplets_per_anchor != "all":
            missing(f"triplets_per_anchor={self.triplets_per_anchor!r} (random triplets)")
        return super().forward(*args, **kw)


class CircleLoss(_Loss):
    """``ul.circle`` with pml's cosine similarity and gradient (``detach_weights=True``)."""

    default_distance = distances.CosineSimilarity

    def __init__(self, m: float = 0.4, gamma: float = 80, **kw: Any) -> None:
        super().__init__(**kw)
        self.m, self.gamma = m, gamma

    def forward(self, embeddings: Any, labels: Any = None, indices_tuple: Any = None, ref_emb: Any = None, ref_labels: Any = None) -> Any:
        if indices_tuple is not None or ref_emb is not None:
            missing("CircleLoss with indices_tuple or ref_emb")
        if self.reducer is not None:
            missing(f"CircleLoss with reducer {type(self.reducer).__name__}")
        out = ul.circle(
            labels, embeddings, margin=float(self.m), gamma=float(self.gamma), detach_weights=True,
            reduction="sum_over_batch_size", **_distance(self.distance),
        )
        return out.to(embeddings.dtype)


class NTXentLoss(_Loss):
    """``ul.ntxent``: the mean over positive pairs (pml's default reducer, ``MeanReducer``), against
    the batch or a reference set (``ref_labels``, ``ref_emb``)."""

    function = "ntxent"
    default_distance = distances.CosineSimilarity

    def __init__(self, temperature: float = 0.07, **kw: Any) -> None:
        super().__init__(temperature=float(temperature), **kw)
