"""Conformance cases for the embedding losses, against torch.nn.functional.

Pair and triplet losses take torch's inputs in torch's order. torch's
``hinge_embedding_loss`` is element-wise: averaged over the last axis it is
unilosses' ``axis=-1``, and ``axis=None`` is torch's ``reduction="none"``. The
distance functions of ``triplet_margin_with_distance`` are written once for every
framework (their namespace from the arrays); torch's reference gets the same
distance written in torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import unilosses
from unilosses.conformance import Case, torch_inputs_loss, torch_loss

B, D = 8, 5


# ------------------------------------------------------------------ inputs
def _scores(rng: np.random.Generator, shape: tuple[int, ...] = (B, D)) -> Any:
    return (rng.standard_normal(shape) * 1.5).astype(np.float32)


def _distances(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.choice([-1.0, 1.0], (B, D)).astype(np.float32), rng.uniform(0.0, 2.0, (B, D)).astype(np.float32)


def _distances_other_labels(rng: np.random.Generator) -> tuple[Any, ...]:
    y, x = _distances(rng)
    y[0, :3] = [0.0, 2.0, 0.5]  # neither 1 nor -1: torch adds both terms
    return y, x


def _distances_int_labels(rng: np.random.Generator) -> tuple[Any, ...]:
    y, x = _distances(rng)
    return y.astype(np.int64), x


def _triplets(rng: np.random.Generator) -> tuple[Any, ...]:
    return _scores(rng), _scores(rng), _scores(rng)


def _embeddings(rng: np.random.Generator) -> tuple[Any, ...]:
    t = rng.choice([-1, 1], B)
    return _scores(rng), _scores(rng), t


# ---------------------------------------------------------- distance functions
def l1_distance(a: Any, b: Any) -> Any:
    """sum |a - b| over the last axis, in the arrays' framework."""
    xp = unilosses.backend_for(a).xp
    return xp.sum(xp.abs(a - b), axis=-1)


def cosine_distance(a: Any, b: Any) -> Any:
    """1 - cos(a, b) over the last axis, in the arrays' framework."""
    xp = unilosses.backend_for(a).xp
    return 1.0 - xp.sum(a * b, axis=-1) / xp.sqrt(xp.sum(a * a, axis=-1) * xp.sum(b * b, axis=-1))


def _torch_l1(a: Any, b: Any) -> Any:
    return (a - b).abs().sum(-1)


def _torch_cosine(a: Any, b: Any) -> Any:
    import torch.nn.functional as F

    return 1.0 - F.cosine_similarity(a, b, dim=-1)


CASES = [
    Case(
        "hinge_embedding",
        "hinge_embedding",
        _distances,
        references={"torch": torch_loss("hinge_embedding_loss", mean=True)},
    ),
    Case(
        "hinge_embedding-elementwise-margin-other-labels",
        "hinge_embedding",
        _distances_other_labels,
        {"axis": None, "margin": 0.7},
        references={"torch": torch_loss("hinge_embedding_loss", margin=0.7)},
    ),
    Case(
        "hinge_embedding-int-labels",
        "hinge_embedding",
        _distances_int_labels,
        {"margin": 1.5},
        references={"torch": torch_loss("hinge_embedding_loss", mean=True, margin=1.5)},
    ),
    Case(
        "triplet_margin",
        "triplet_margin",
        _triplets,
        references={"torch": torch_inputs_loss("triplet_margin_loss")},
    ),
    Case(
        "triplet_margin-p1-swap",
        "triplet_margin",
        _triplets,
        {"p": 1, "swap": True, "margin": 0.5},
        references={"torch": torch_inputs_loss("triplet_margin_loss", p=1, swap=True, margin=0.5)},
    ),
    Case(
        "triplet_margin-p3-eps",
        "triplet_margin",
        _triplets,
        {"p": 3.0, "eps": 1e-3, "margin": 2.0},
        references={"torch": torch_inputs_loss("triplet_margin_loss", p=3.0, eps=1e-3, margin=2.0)},
    ),
    Case(
        "triplet_margin-pinf",
        "triplet_margin",
        _triplets,
        {"p": float("inf"), "margin": 1.5},
        references={"torch": torch_inputs_loss("triplet_margin_loss", p=float("inf"), margin=1.5)},
    ),
    Case(
        "triplet_margin_with_distance",
        "triplet_margin_with_distance",
        _triplets,
        references={"torch": torch_inputs_loss("triplet_margin_with_distance_loss")},
    ),
    Case(
        "triplet_margin_with_distance-cosine-swap",
        "triplet_margin_with_distance",
        _triplets,
        {"distance_function": cosine_distance, "swap": True, "margin": 0.5},
        references={
            "torch": torch_inputs_loss(
                "triplet_margin_with_distance_loss", distance_function=_torch_cosine, swap=True, margin=0.5
            )
        },
    ),
    Case(
        "triplet_margin_with_distance-l1-margin",
        "triplet_margin_with_distance",
        _triplets,
        {"distance_function": l1_distance, "margin": 2.0},
        references={
            "torch": torch_inputs_loss("triplet_margin_with_distance_loss", distance_function=_torch_l1, margin=2.0)
        },
    ),
    Case(
        "cosine_embedding",
        "cosine_embedding",
        _embeddings,
        references={"torch": torch_inputs_loss("cosine_embedding_loss")},
    ),
    Case(
        "cosine_embedding-margin",
        "cosine_embedding",
        _embeddings,
        {"margin": -0.2},
        references={"torch": torch_inputs_loss("cosine_embedding_loss", margin=-0.2)},
    ),
]
