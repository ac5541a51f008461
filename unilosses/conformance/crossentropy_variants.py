"""Conformance cases for the cross-entropy variants: poly-1 against optax, the generalized
cross-entropy against Keras.

optax's ``poly_loss_cross_entropy`` takes logits and target distributions
(``optax.smooth_labels`` for smoothing, ``jax.nn.one_hot`` for integer labels);
probabilities are passed to it as their logarithms. Keras' generalized
cross-entropy takes integer labels and probabilities (classes last).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, optax_reference, ref_output

B, K = 8, 5


# ------------------------------------------------------------------ inputs
def _onehot_logits(rng: np.random.Generator) -> tuple[Any, ...]:
    y = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)]
    y[0] = rng.dirichlet(np.ones(K))  # a soft target
    return y, (rng.standard_normal((B, K)) * 3).astype(np.float32)


def _onehot_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    y = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)]
    return y, rng.uniform(0.02, 1.0, (B, K)).astype(np.float32)  # not normalised: divided by the sum


def _onehot_logits_w(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_onehot_logits(rng), rng.uniform(0.2, 3.0, K).astype(np.float32))


def _onehot_logits_where(rng: np.random.Generator) -> tuple[Any, ...]:
    """optax's ``where`` over the classes (the label's class always takes part; every row keeps
    one: optax gives a row with none ``epsilon``, unilosses leaves it out)."""
    y, z = _onehot_logits(rng)
    y[0] = np.eye(K, dtype=np.float32)[1]
    mask = rng.uniform(size=(B, K)) < 0.6
    mask[np.arange(B), y.argmax(-1)] = True
    return y, z, mask


def _labels_logits(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, K, B), (rng.standard_normal((B, K)) * 3).astype(np.float32)


def _labels_logits_ignored(rng: np.random.Generator) -> tuple[Any, ...]:
    y, z = _labels_logits(rng)
    y[[1, 4]] = -100
    return y, z


def _labels_logits_all(rng: np.random.Generator) -> tuple[Any, ...]:
    y, z = _labels_logits_ignored(rng)
    return y, z, rng.uniform(0.2, 3.0, K).astype(np.float32)


def _labels_nchw(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, K, (2, 3, 4)), (rng.standard_normal((2, K, 3, 4)) * 2).astype(np.float32)


def _labels_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, K, B)
    p = rng.dirichlet(np.ones(K), B).astype(np.float32)
    return y, p


def _labels_probs_segmentation(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, K, (2, 4, 3))
    return y, rng.dirichlet(np.ones(K), (2, 4, 3)).astype(np.float32)


def _labels_probs_nchw(rng: np.random.Generator) -> tuple[Any, ...]:
    y, p = _labels_probs_segmentation(rng)
    return y, np.ascontiguousarray(np.moveaxis(p, -1, 1))


# -------------------------------------------------------------- references
def _optax_poly(epsilon: float = 2.0, smoothing: float = 0.0, probabilities: bool = False, sparse: bool = False,
                ignore_index: Any = None, class_axis: int = -1) -> Any:
    """optax.losses.poly_loss_cross_entropy(logits, labels, epsilon) on optax.smooth_labels(labels);
    integer labels as a one-hot, ignored ones giving 0."""

    def fn(y: Any, z: Any) -> Any:
        import jax
        import jax.numpy as jnp
        import optax

        z = jnp.moveaxis(jnp.log(z) if probabilities else z, class_axis, -1)
        target = jax.nn.one_hot(y, K) if sparse else y
        if smoothing:
            target = optax.smooth_labels(target, smoothing)
        out = optax.losses.poly_loss_cross_entropy(z, target, epsilon=epsilon)
        return out if ignore_index is None else jnp.where(y == ignore_index, 0.0, out)

    return optax_reference(fn)


def _optax_poly_where(y: Any, z: Any, where: Any) -> Any:
    import optax

    return optax.losses.poly_loss_cross_entropy(z, y, epsilon=1.5, where=where)


def _keras_gce(q: float = 0.5, from_logits: bool = False, class_axis: int = -1) -> Any:
    """keras.losses.categorical_generalized_cross_entropy (probabilities; logits through a softmax)."""

    def ref(y: Any, p: Any) -> Any:
        import keras

        p = np.moveaxis(p.astype(np.float64), class_axis, -1)
        if from_logits:
            p = np.exp(p - p.max(-1, keepdims=True))
            p = p / p.sum(-1, keepdims=True)
        return ref_output(keras.losses.categorical_generalized_cross_entropy(y, p, q))

    return ref


CASES = [
    # ------------------------------------------------------------- poly-1
    Case(
        "poly1-logits",
        "poly1_cross_entropy",
        _onehot_logits,
        {"from_logits": True},
        references={"optax": _optax_poly()},
    ),
    Case(
        "poly1-negative-epsilon-smoothing",
        "poly1_cross_entropy",
        _onehot_logits,
        {"from_logits": True, "epsilon": -1.0, "label_smoothing": 0.2},
        references={"optax": _optax_poly(-1.0, smoothing=0.2)},
    ),
    Case(
        "poly1-probabilities",
        "poly1_cross_entropy",
        _onehot_probs,
        {"epsilon": 1.5},
        references={"optax": _optax_poly(1.5, probabilities=True)},
    ),
    Case(
        "poly1-class-weight-smoothing",
        "poly1_cross_entropy",
        _onehot_logits_w,
        {"from_logits": True, "epsilon": 3.0, "label_smoothing": 0.1},
        array_options={"class_weight": 2},
    ),
    Case(
        "poly1-logits-where",
        "poly1_cross_entropy",
        _onehot_logits_where,
        {"from_logits": True, "epsilon": 1.5},
        references={"optax": optax_reference(_optax_poly_where)},
        array_options={"where": 2},
    ),
    Case(
        "sparse-poly1-logits",
        "sparse_poly1_cross_entropy",
        _labels_logits,
        {"from_logits": True},
        references={"optax": _optax_poly(sparse=True)},
    ),
    Case(
        "sparse-poly1-ignore-index-smoothing",
        "sparse_poly1_cross_entropy",
        _labels_logits_ignored,
        {"from_logits": True, "epsilon": 1.0, "label_smoothing": 0.15, "ignore_index": -100},
        references={"optax": _optax_poly(1.0, smoothing=0.15, sparse=True, ignore_index=-100)},
    ),
    Case(
        "sparse-poly1-nchw",
        "sparse_poly1_cross_entropy",
        _labels_nchw,
        {"from_logits": True, "axis": 1},
        references={"optax": _optax_poly(sparse=True, class_axis=1)},
    ),
    Case(
        "sparse-poly1-class-weight-ignore-smoothing",
        "sparse_poly1_cross_entropy",
        _labels_logits_all,
        {"from_logits": True, "label_smoothing": 0.1, "ignore_index": -100},
        array_options={"class_weight": 2},
    ),
    # -------------------------------------------- generalized cross-entropy
    Case(
        "gce-probabilities",
        "categorical_generalized_cross_entropy",
        _labels_probs,
        references={"keras": _keras_gce()},
    ),
    Case(
        "gce-q",
        "categorical_generalized_cross_entropy",
        _labels_probs,
        {"q": 0.8},
        references={"keras": _keras_gce(0.8)},
    ),
    Case(
        "gce-logits",
        "categorical_generalized_cross_entropy",
        _labels_logits,
        {"from_logits": True, "q": 0.3},
        references={"keras": _keras_gce(0.3, from_logits=True)},
    ),
    Case(
        "gce-segmentation",
        "categorical_generalized_cross_entropy",
        _labels_probs_segmentation,
        {"q": 0.6},
        references={"keras": _keras_gce(0.6)},
    ),
    Case(
        "gce-nchw",
        "categorical_generalized_cross_entropy",
        _labels_probs_nchw,
        {"axis": 1},
        references={"keras": _keras_gce(class_axis=1)},
    ),
    Case(
        "gce-class-weight-ignore-smoothing",
        "categorical_generalized_cross_entropy",
        _labels_logits_all,
        {"from_logits": True, "label_smoothing": 0.1, "ignore_index": -100},
        array_options={"class_weight": 2},
    ),
]
