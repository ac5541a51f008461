"""Conformance cases for the segmentation family, against Keras and optax.

unilosses' default ``axis=None`` gives one value per sample (sums over every
axis but the first): Keras' ``axis=(1, ..., ndim - 1)``. An integer ``axis`` or a
tuple of axes is Keras' ``axis=axis``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

N = 4


# ------------------------------------------------------------------ inputs
def _masks(shape: tuple[int, ...]) -> Any:
    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        y = (rng.uniform(0, 1, shape) < 0.4).astype(np.float32)
        y.reshape(shape[0], -1)[0, :] = 0.0  # an empty target mask
        p = rng.uniform(0.01, 0.99, shape).astype(np.float32)
        return y, p

    return inputs


def _soft_masks(rng: np.random.Generator) -> tuple[Any, ...]:
    shape = (N, 6, 5)
    return rng.uniform(0, 1, shape).astype(np.float32), rng.uniform(0, 1, shape).astype(np.float32)


# -------------------------------------------------------------- references
def _keras(name: str, axis: Any = "samples", **kw: Any) -> Any:
    """keras.losses.<name>; ``axis="samples"`` is every axis but the first."""

    def ref(y: Any, p: Any) -> Any:
        import keras

        ax = tuple(range(1, p.ndim)) if axis == "samples" else axis
        return ref_output(getattr(keras.losses, name)(y.astype(np.float64), p.astype(np.float64), axis=ax, **kw))

    return ref


def _optax_tversky(alpha: float, beta: float) -> Any:
    # optax's alpha weighs the false positives, Keras' (and unilosses') beta does:
    # tversky(alpha=a, beta=b) is optax.dice_loss(..., alpha=b, beta=a, smooth=0) on one
    # sigmoid class (probabilities passed as their logits)
    def ref(y: Any, p: Any) -> Any:
        import optax

        logits = np.log(p.astype(np.float64)) - np.log1p(-p.astype(np.float64))
        y, z = ref_inputs("optax", y[..., None], logits[..., None], dtype="float32")
        axes = tuple(range(1, p.ndim))
        return ref_output(optax.losses.dice_loss(z, y, alpha=beta, beta=alpha, smooth=0.0, axis=axes))

    return ref


CASES = [
    Case(
        "dice-images",
        "dice",
        _masks((N, 5, 6, 1)),
        references={"keras": _keras("dice"), "optax": _optax_tversky(0.5, 0.5)},
    ),
    Case(
        "dice-vectors",
        "dice",
        _masks((N, 7)),
        references={"keras": _keras("dice")},
    ),
    Case(
        "dice-axis-int",
        "dice",
        _soft_masks,
        {"axis": 1},
        references={"keras": _keras("dice", axis=1)},
    ),
    Case(
        "dice-channels-axis-tuple",
        "dice",
        _masks((N, 5, 6, 3)),
        {"axis": (1, 2)},
        references={"keras": _keras("dice", axis=(1, 2))},
    ),
    Case(
        "tversky",
        "tversky",
        _masks((N, 5, 6)),
        references={"keras": _keras("tversky"), "optax": _optax_tversky(0.5, 0.5)},
    ),
    Case(
        "tversky-alpha-beta",
        "tversky",
        _masks((N, 5, 6)),
        {"alpha": 0.3, "beta": 0.7},
        references={"keras": _keras("tversky", alpha=0.3, beta=0.7), "optax": _optax_tversky(0.3, 0.7)},
    ),
    Case(
        "tversky-soft-axis-int",
        "tversky",
        _soft_masks,
        {"alpha": 0.8, "beta": 2.0, "axis": -1},
        references={"keras": _keras("tversky", alpha=0.8, beta=2.0, axis=-1)},
    ),
    Case(
        "tversky-channels-axis-tuple-negative",
        "tversky",
        _masks((N, 5, 6, 3)),
        {"alpha": 0.3, "beta": 0.7, "axis": (-2, 1)},
        references={"keras": _keras("tversky", alpha=0.3, beta=0.7, axis=(-2, 1))},
    ),
]
