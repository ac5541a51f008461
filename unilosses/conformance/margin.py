"""Conformance cases for the margin family, against Keras, torch.nn.functional and optax.

Each reference states its mapping: torch's element-wise losses average over the
last axis (unilosses' ``axis=-1``) unless the case uses ``axis=None``;
``multi_margin_loss`` divides by the number of classes C (unilosses * (1 / C)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

B, D, K = 8, 5, 6


def _f64(x: Any) -> Any:
    return x.astype(np.float64) if x.dtype.kind == "f" else x


# ------------------------------------------------------------------ inputs
def _scores(rng: np.random.Generator, shape: tuple[int, ...] = (B, D)) -> Any:
    return (rng.standard_normal(shape) * 1.5).astype(np.float32)


def _signed(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.choice([-1.0, 1.0], (B, D)).astype(np.float32), _scores(rng)


def _binary01(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, 2, (B, D)).astype(np.float32), _scores(rng)


def _mixed(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, 2, (B, D)).astype(np.float32)
    y[3, 2] = -1.0  # one label outside {0, 1}: Keras keeps all labels as given
    return y, _scores(rng)


def _onehot(rng: np.random.Generator) -> tuple[Any, ...]:
    return np.eye(K, dtype=np.float32)[rng.integers(0, K, B)], _scores(rng, (B, K))


def _sparse(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, K, B), _scores(rng, (B, K))


def _sparse_weighted(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_sparse(rng), rng.uniform(0.2, 3.0, K).astype(np.float32))


def _soft_targets(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, 2, (B, K)).astype(np.float32)
    y[0] = rng.uniform(0, 1, K)
    return y, (rng.standard_normal((B, K)) * 4).astype(np.float32)


def _soft_targets_w(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_soft_targets(rng), rng.uniform(0.2, 3.0, K).astype(np.float32))


def _pairs(rng: np.random.Generator) -> tuple[Any, ...]:
    return _scores(rng, (B,)), _scores(rng, (B,)), rng.choice([-1.0, 1.0], B).astype(np.float32)


def _pairs_int_target(rng: np.random.Generator) -> tuple[Any, ...]:
    x1, x2, t = _pairs(rng)
    return x1, x2, t.astype(np.int64)


def _triplets(rng: np.random.Generator) -> tuple[Any, ...]:
    return _scores(rng), _scores(rng), _scores(rng)


def _embeddings(rng: np.random.Generator) -> tuple[Any, ...]:
    t = rng.choice([-1, 1], B)
    return _scores(rng), _scores(rng), t


# -------------------------------------------------------------- references
def _keras(name: str) -> Any:
    def ref(y: Any, p: Any) -> Any:
        import keras

        return ref_output(getattr(keras.losses, name)(_f64(y), _f64(p)))

    return ref


def _optax_hinge(mean: bool) -> Any:
    def ref(y: Any, s: Any) -> Any:
        import optax

        y, s = ref_inputs("jax", y, s, dtype="float32")
        out = ref_output(optax.hinge_loss(s, y))
        return out.mean(-1) if mean else out

    return ref


def _torch_multi_margin(p: int, margin: float) -> Any:
    def ref(y: Any, s: Any, *w: Any) -> Any:
        import torch.nn.functional as F

        args = ref_inputs("torch", y, s, *w)
        weight = args[2] if w else None
        return ref_output(F.multi_margin_loss(args[1], args[0], p=p, margin=margin, weight=weight, reduction="none")) * s.shape[-1]  # * C

    return ref


def _torch(name: str, mean: bool = False, **kw: Any) -> Any:
    """torch.nn.functional.<name>(prediction, target, ...) for (y_true, y_pred) losses."""

    def ref(y: Any, s: Any, *w: Any) -> Any:
        import torch.nn.functional as F

        args = ref_inputs("torch", y, s, *w)
        extra = {"weight": args[2]} if w else {}
        out = ref_output(getattr(F, name)(args[1], args[0], reduction="none", **extra, **kw))
        return out.mean(-1) if mean else out

    return ref


def _torch_inputs(name: str, **kw: Any) -> Any:
    """torch.nn.functional.<name>(*inputs, ...) for pair and triplet losses (same order)."""

    def ref(*arrays: Any) -> Any:
        import torch.nn.functional as F

        return ref_output(getattr(F, name)(*ref_inputs("torch", *arrays), reduction="none", **kw))

    return ref


CASES = [
    Case(
        "hinge-signed-labels",
        "hinge",
        _signed,
        references={"keras": _keras("hinge"), "optax": _optax_hinge(mean=True)},
    ),
    Case("hinge-01-labels", "hinge", _binary01, references={"keras": _keras("hinge")}),
    Case("hinge-mixed-labels-unconverted", "hinge", _mixed, references={"keras": _keras("hinge")}),
    Case(
        "hinge-elementwise-optax",
        "hinge",
        _signed,
        {"axis": None},
        references={"optax": _optax_hinge(mean=False)},
    ),
    Case("squared_hinge-signed-labels", "squared_hinge", _signed, references={"keras": _keras("squared_hinge")}),
    Case("squared_hinge-01-labels", "squared_hinge", _binary01, references={"keras": _keras("squared_hinge")}),
    Case("categorical_hinge", "categorical_hinge", _onehot, references={"keras": _keras("categorical_hinge")}),
    Case(
        "multiclass_hinge",
        "multiclass_hinge",
        _sparse,
        references={"torch": _torch_multi_margin(1, 1.0)},
    ),
    Case(
        "multiclass_hinge-squared-margin",
        "multiclass_hinge",
        _sparse,
        {"squared": True, "margin": 0.5},
        references={"torch": _torch_multi_margin(2, 0.5)},
    ),
    Case(
        "multiclass_hinge-class_weight",
        "multiclass_hinge",
        _sparse_weighted,
        {"squared": True, "margin": 0.7},
        references={"torch": _torch_multi_margin(2, 0.7)},
        array_options={"class_weight": 2},
    ),
    Case(
        "multiclass_hinge-negative-margin",
        "multiclass_hinge",
        _sparse,
        {"squared": True, "margin": -0.3},
        references={"torch": _torch_multi_margin(2, -0.3)},
    ),
    Case(
        "soft_margin",
        "soft_margin",
        _signed,
        references={"torch": _torch("soft_margin_loss", mean=True)},
    ),
    Case(
        "soft_margin-elementwise",
        "soft_margin",
        _signed,
        {"axis": None},
        references={"torch": _torch("soft_margin_loss")},
    ),
    Case(
        "multilabel_soft_margin",
        "multilabel_soft_margin",
        _soft_targets,
        references={"torch": _torch("multilabel_soft_margin_loss")},
    ),
    Case(
        "multilabel_soft_margin-class_weight",
        "multilabel_soft_margin",
        _soft_targets_w,
        references={"torch": _torch("multilabel_soft_margin_loss")},
        array_options={"class_weight": 2},
    ),
    Case(
        "margin_ranking",
        "margin_ranking",
        _pairs,
        references={"torch": _torch_inputs("margin_ranking_loss")},
    ),
    Case(
        "margin_ranking-margin-int-target",
        "margin_ranking",
        _pairs_int_target,
        {"margin": 0.5},
        references={"torch": _torch_inputs("margin_ranking_loss", margin=0.5)},
    ),
    Case(
        "triplet_margin",
        "triplet_margin",
        _triplets,
        references={"torch": _torch_inputs("triplet_margin_loss")},
    ),
    Case(
        "triplet_margin-p1-swap",
        "triplet_margin",
        _triplets,
        {"p": 1, "swap": True, "margin": 0.5},
        references={"torch": _torch_inputs("triplet_margin_loss", p=1, swap=True, margin=0.5)},
    ),
    Case(
        "triplet_margin-p3-eps",
        "triplet_margin",
        _triplets,
        {"p": 3.0, "eps": 1e-3, "margin": 2.0},
        references={"torch": _torch_inputs("triplet_margin_loss", p=3.0, eps=1e-3, margin=2.0)},
    ),
    Case(
        "triplet_margin-pinf",
        "triplet_margin",
        _triplets,
        {"p": float("inf"), "margin": 1.5},
        references={"torch": _torch_inputs("triplet_margin_loss", p=float("inf"), margin=1.5)},
    ),
    Case(
        "cosine_embedding",
        "cosine_embedding",
        _embeddings,
        references={"torch": _torch_inputs("cosine_embedding_loss")},
    ),
    Case(
        "cosine_embedding-margin",
        "cosine_embedding",
        _embeddings,
        {"margin": -0.2},
        references={"torch": _torch_inputs("cosine_embedding_loss", margin=-0.2)},
    ),
]
