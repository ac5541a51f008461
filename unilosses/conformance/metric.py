"""Conformance cases for the metric-learning losses, against pytorch-metric-learning (pml).

pml's losses reduce over pairs or triplets and return one number: each reference
here calls the pml loss object live, on float64 torch CPU tensors, and the case
compares it with unilosses' ``reduction="mean_with_sample_weight"`` (each anchor
weighs the number of terms pml's reducer counts; see ``unilosses/losses/_metric.py``).
pml's ``DoNothingReducer`` gives SupCon's per-anchor values: that case compares
``reduction="none"``. pml takes ``(embeddings, labels, indices_tuple, ref_emb,
ref_labels)``; unilosses ``(labels, embeddings, ref_labels, ref_emb)``. Against a
reference set, the triplet and margin losses compare each anchor with the reference
set only (not batch-coupled); so does NT-Xent (its zero-loss condition is decided from
the shapes); the other pair losses still decide over the whole batch's labels whether
there are pairs at all (pml's zero-loss conditions), which the out-of-core test of
batch-coupled cases does not model: their reference sets are tested in
tests/test_metric.py. pml's CircleLoss detaches its adaptive weights, so its autograd
gradient is not the derivative of its value: the circle cases compare values (the same
with ``detach_weights``) and the true gradient; tests/test_contrastive.py compares
``detach_weights=True`` with pml's autograd.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

B, M, D = 10, 8, 4


# ------------------------------------------------------------------ inputs
def _groups(rng: np.random.Generator) -> Any:
    """Labels with groups of 1 (an anchor without a positive) to 4 samples, shuffled."""
    return rng.permutation(np.array([0, 0, 1, 1, 1, 2, 3, 3, 3, 3]))


def _batch(rng: np.random.Generator) -> tuple[Any, ...]:
    return _groups(rng), (rng.standard_normal((B, D)) * 1.5).astype(np.float32)


def _with_reference(rng: np.random.Generator) -> tuple[Any, ...]:
    """A batch and a reference set of M embeddings (label 5: in no query's class)."""
    y, e = _batch(rng)
    ry = rng.permutation(np.array([0, 1, 1, 2, 3, 3, 5, 5]))
    return y, e, ry, (rng.standard_normal((M, D)) * 1.5).astype(np.float32)


def _unit(rng: np.random.Generator) -> tuple[Any, ...]:
    """Unit embeddings: unilosses' circle takes them normalised, pml normalises them."""
    y, e = _batch(rng)
    return y, (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)


# -------------------------------------------------------------- references
def _distance(name: str = "lp", **kw: Any) -> Any:
    from pytorch_metric_learning import distances

    cls = {"lp": distances.LpDistance, "cosine": distances.CosineSimilarity, "dot": distances.DotProductSimilarity}
    return cls[name](**kw)


def _pml(make: Callable[[], Any], miner: Callable[[], Any] | None = None, per_sample: bool = False) -> Any:
    """The reference ``make()(emb, labels[, indices_tuple], ref_emb=..., ref_labels=...)``:
    ``make`` builds the pml loss (and ``miner`` its miner) inside the reference, so pml is
    imported only where the reference runs."""

    def ref(*arrays: Any) -> Any:
        import torch

        y, e, *reference = ref_inputs("torch", *arrays)
        kw = {"ref_labels": reference[0], "ref_emb": reference[1]} if reference else {}
        fn = make()
        args = (e, y) if miner is None else (e, y, miner()(e, y, **kw))
        with torch.no_grad():
            out = fn(*args, **kw)
        if per_sample:  # DoNothingReducer: the loss dictionary, per-anchor values of shape (N, 1)
            out = out["loss"]["losses"].reshape(-1)
        return ref_output(out)

    return ref


def _contrastive(**kw: Any) -> Any:
    from pytorch_metric_learning import losses

    return losses.ContrastiveLoss(**kw)


def _triplet(**kw: Any) -> Any:
    from pytorch_metric_learning import losses

    return losses.TripletMarginLoss(**kw)


def _batch_hard(**kw: Any) -> Any:
    from pytorch_metric_learning import miners

    return miners.BatchHardMiner(**kw)


def _ms(**kw: Any) -> Any:
    from pytorch_metric_learning import losses

    return losses.MultiSimilarityLoss(**kw)


def _supcon(**kw: Any) -> Any:
    from pytorch_metric_learning import losses

    return losses.SupConLoss(**kw)


def _margin(**kw: Any) -> Any:
    from pytorch_metric_learning import losses

    return losses.MarginLoss(**kw)


def _circle(**kw: Any) -> Any:
    from pytorch_metric_learning import losses

    return losses.CircleLoss(**kw)


def _ntxent(**kw: Any) -> Any:
    from pytorch_metric_learning import losses

    return losses.NTXentLoss(**kw)


def _reducer(name: str) -> Any:
    from pytorch_metric_learning import reducers

    return getattr(reducers, name)()


MEAN = "mean_with_sample_weight"

CASES = [
    Case(
        "contrastive-margin",
        "contrastive_margin",
        _batch,
        {"pos_margin": 0.2, "neg_margin": 1.1},
        references={"pml": _pml(lambda: _contrastive(pos_margin=0.2, neg_margin=1.1))},
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "contrastive-margin-cosine-per-anchor",
        "contrastive_margin",
        _batch,
        {"pos_margin": 0.9, "neg_margin": 0.2, "distance": "cosine", "reducer": "per_anchor"},
        references={
            "pml": _pml(
                lambda: _contrastive(
                    pos_margin=0.9, neg_margin=0.2, distance=_distance("cosine"), reducer=_reducer("PerAnchorReducer")
                )
            )
        },
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "batch-triplet-swap-smooth",
        "batch_triplet",
        _batch,
        {"margin": 0.3, "swap": True, "smooth_loss": True},
        references={"pml": _pml(lambda: _triplet(margin=0.3, swap=True, smooth_loss=True))},
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "batch-triplet-hard-cosine-reference-mean",
        "batch_triplet",
        _with_reference,
        {"margin": 0.4, "mining": "hard", "distance": "cosine", "reducer": "mean"},
        references={
            "pml": _pml(
                lambda: _triplet(margin=0.4, distance=_distance("cosine"), reducer=_reducer("MeanReducer")),
                miner=lambda: _batch_hard(distance=_distance("cosine")),
            )
        },
        reduction=MEAN,
        self_weighted=True,
    ),
    Case(
        "multi-similarity",
        "multi_similarity",
        _batch,
        {"alpha": 1.5, "beta": 10.0, "base": 0.2},
        references={"pml": _pml(lambda: _ms(alpha=1.5, beta=10.0, base=0.2))},
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "multi-similarity-lp-power",
        "multi_similarity",
        _batch,
        {"base": 1.0, "distance": "lp", "p": 1.0, "power": 2.0},
        references={"pml": _pml(lambda: _ms(base=1.0, distance=_distance("lp", p=1, power=2)))},
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
        rtol=1e-4,
    ),
    Case(
        "supcon-per-anchor",
        "supcon",
        _batch,
        {"temperature": 0.5},
        references={"pml": _pml(lambda: _supcon(temperature=0.5, reducer=_reducer("DoNothingReducer")), per_sample=True)},
        self_weighted=True,
        batch_coupled=True,
        rtol=1e-4,
    ),
    Case(
        "supcon-lp",
        "supcon",
        _batch,
        {"temperature": 0.2, "distance": "lp"},
        references={"pml": _pml(lambda: _supcon(temperature=0.2, distance=_distance("lp")))},
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
        rtol=1e-4,
    ),
    Case(
        "beta-margin",
        "beta_margin",
        _batch,
        {"margin": 0.1, "beta": 0.9},
        references={"pml": _pml(lambda: _margin(margin=0.1, beta=0.9))},
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "beta-margin-dot-unnormalised-reference-mean",
        "beta_margin",
        _with_reference,
        {"margin": 0.5, "beta": 0.3, "distance": "dot", "normalize": False, "reducer": "mean"},
        references={
            "pml": _pml(
                lambda: _margin(
                    margin=0.5, beta=0.3, distance=_distance("dot", normalize_embeddings=False),
                    reducer=_reducer("MeanReducer"),
                )
            )
        },
        reduction=MEAN,
        self_weighted=True,
    ),
    Case(
        "circle-pml",
        "circle",
        _unit,
        {"gamma": 16.0, "margin": 0.25},
        references={"pml": _pml(lambda: _circle(m=0.25, gamma=16.0))},
        reduction="sum_over_batch_size",
        self_weighted=True,
        batch_coupled=True,
        # unit embeddings, Keras' form; pml normalises them again, so off the unit sphere (where
        # finite differences step) its value is another function
        values_only=("pml",),
    ),
    Case(
        "circle-pml-cosine",
        "circle",
        _batch,
        {"gamma": 16.0, "margin": 0.25, "distance": "cosine"},
        references={"pml": _pml(lambda: _circle(m=0.25, gamma=16.0))},
        reduction="sum_over_batch_size",
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "circle-pml-cosine-power",
        "circle",
        _batch,
        {"gamma": 8.0, "margin": 0.4, "distance": "cosine", "power": 2.0},
        references={"pml": _pml(lambda: _circle(m=0.4, gamma=8.0, distance=_distance("cosine", power=2)))},
        reduction="sum_over_batch_size",
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "ntxent-pml",
        "ntxent",
        _batch,
        {"temperature": 0.5},
        references={"pml": _pml(lambda: _ntxent(temperature=0.5))},
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "ntxent-pml-lp",
        "ntxent",
        _batch,
        {"temperature": 0.5, "distance": "lp"},
        references={"pml": _pml(lambda: _ntxent(temperature=0.5, distance=_distance("lp")))},
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "ntxent-pml-lp-power-unnormalised-per-anchor",
        "ntxent",
        _batch,
        {"temperature": 2.0, "distance": "lp", "p": 1.0, "power": 2.0, "normalize": False, "reducer": "per_anchor"},
        references={
            "pml": _pml(
                lambda: _ntxent(
                    temperature=2.0, distance=_distance("lp", p=1, power=2, normalize_embeddings=False),
                    reducer=_reducer("PerAnchorReducer"),
                )
            )
        },
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "ntxent-pml-dot-avg-nonzero",
        "ntxent",
        _batch,
        {"temperature": 0.5, "distance": "dot", "reducer": "avg_nonzero"},
        references={
            "pml": _pml(lambda: _ntxent(temperature=0.5, distance=_distance("dot"), reducer=_reducer("AvgNonZeroReducer")))
        },
        reduction=MEAN,
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "ntxent-pml-reference",
        "ntxent",
        _with_reference,
        {"temperature": 0.5},
        references={"pml": _pml(lambda: _ntxent(temperature=0.5))},
        reduction=MEAN,
        self_weighted=True,
    ),
    Case(
        "ntxent-pml-lp-power-unnormalised-reference-avg-nonzero",
        "ntxent",
        _with_reference,
        {"temperature": 2.0, "distance": "lp", "p": 1.0, "power": 2.0, "normalize": False, "reducer": "avg_nonzero"},
        references={
            "pml": _pml(
                lambda: _ntxent(
                    temperature=2.0, distance=_distance("lp", p=1, power=2, normalize_embeddings=False),
                    reducer=_reducer("AvgNonZeroReducer"),
                )
            )
        },
        reduction=MEAN,
        self_weighted=True,
    ),
]
