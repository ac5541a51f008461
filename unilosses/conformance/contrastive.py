"""Conformance cases for the contrastive losses, against optax and Keras.

``optax.ntxent(embeddings, labels, temperature)`` returns the mean over every
positive pair: unilosses' ``reduction="mean_with_sample_weight"`` (each anchor
weighs its number of positives). ``keras.losses.circle`` gives per-sample values;
``keras.losses.Circle()``'s mean leaves out the samples without a positive or a
negative (Keras masks the zero losses): ``"sum_over_batch_size"`` here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

B, D = 10, 4


# ------------------------------------------------------------------ inputs
def _groups(rng: np.random.Generator) -> Any:
    """Labels with groups of 1 (an anchor without a positive) to 4 samples, shuffled."""
    return rng.permutation(np.array([0, 0, 1, 1, 1, 2, 3, 3, 3, 3]))


def _embeddings(rng: np.random.Generator) -> Any:
    return (rng.standard_normal((B, D)) * 1.5).astype(np.float32)


def _grouped(rng: np.random.Generator) -> tuple[Any, ...]:
    return _groups(rng), _embeddings(rng)


def _two_views(rng: np.random.Generator) -> tuple[Any, ...]:
    """SimCLR: two views of B / 2 items, stacked: one positive per anchor."""
    return np.tile(np.arange(B // 2), 2), _embeddings(rng)


def _unit_ish(rng: np.random.Generator) -> tuple[Any, ...]:
    """Embeddings of norm 0.5 to 0.95 (Keras expects unit norm; below it, every
    cosine distance stays away from Keras' clip at 0)."""
    e = rng.standard_normal((B, D))
    e *= rng.uniform(0.5, 0.95, (B, 1)) / np.linalg.norm(e, axis=1, keepdims=True)
    return _groups(rng), e.astype(np.float32)


# -------------------------------------------------------------- references
def _optax_ntxent(temperature: float | None = None) -> Any:
    def ref(y: Any, e: Any) -> Any:
        import optax

        y, e = ref_inputs("jax", y, e, dtype="float32")
        kw = {} if temperature is None else {"temperature": temperature}
        return ref_output(optax.ntxent(e, y, **kw))

    return ref


def _keras_circle(**kw: Any) -> Any:
    def ref(y: Any, e: Any) -> Any:
        import keras

        return ref_output(keras.losses.circle(y, e.astype(np.float64), **kw))

    return ref


def _keras_circle_class(**kw: Any) -> Any:
    def ref(y: Any, e: Any) -> Any:
        import keras

        return ref_output(keras.losses.Circle(**kw, dtype="float64")(y, e.astype(np.float64)))

    return ref


CASES = [
    Case(
        "ntxent",
        "ntxent",
        _grouped,
        references={"optax": _optax_ntxent()},
        reduction="mean_with_sample_weight",
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "ntxent-temperature",
        "ntxent",
        _grouped,
        {"temperature": 0.5},
        references={"optax": _optax_ntxent(0.5)},
        reduction="mean_with_sample_weight",
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "ntxent-two-views-mean",
        "ntxent",
        _two_views,
        {"temperature": 0.2},
        references={"optax": _optax_ntxent(0.2)},
        reduction="sum_over_batch_size",
        batch_coupled=True,
    ),
    Case(
        "circle",
        "circle",
        _unit_ish,
        references={"keras": _keras_circle()},
        self_weighted=True,
        batch_coupled=True,
    ),
    Case(
        "circle-keep-diagonal-gamma-margin",
        "circle",
        _unit_ish,
        {"gamma": 2.0, "margin": 0.25, "remove_diagonal": False},
        references={"keras": _keras_circle(gamma=2.0, margin=0.25, remove_diagonal=False)},
        batch_coupled=True,
    ),
    Case(
        "circle-keras-class-mean",
        "circle",
        _unit_ish,
        {"gamma": 16.0},
        references={"keras": _keras_circle_class(gamma=16.0)},
        reduction="sum_over_batch_size",
        self_weighted=True,
        batch_coupled=True,
    ),
]
