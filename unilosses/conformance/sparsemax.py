"""Conformance cases for the sparsemax losses, against optax.

optax's ``sparsemax_loss`` is element-wise (unilosses' ``axis=None``; the default
``axis=-1`` averages over the last axis, Keras' convention);
``multiclass_sparsemax_loss`` takes integer labels with the classes last.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, optax_reference

B, D, K = 8, 5, 6


# ------------------------------------------------------------------ inputs
def _binary(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, 2, (B, D)).astype(np.float32)
    z = (rng.standard_normal((B, D)) * 1.5).astype(np.float32)
    z[0, :3] = [-3.0, 0.25, 4.0]  # each piece of sparse_plus
    return y, z


def _scores(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, K, B)
    z = (rng.standard_normal((B, K)) * 1.5).astype(np.float32)
    z[0] = [3.0, 0.0, 0.5, -1.0, 0.2, 0.1]  # a one-hot sparsemax ...
    y[0] = 0  # ... of the label: loss 0
    z[1] = [0.1, 0.2, 0.1, 0.15, 0.05, 0.0]  # every class in the support
    return y, z


def _scores_ignored(rng: np.random.Generator) -> tuple[Any, ...]:
    y, z = _scores(rng)
    y[[2, 5]] = -1
    return y, z, rng.uniform(0.2, 3.0, K).astype(np.float32)


def _scores_nchw(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, K, (2, 3, 4)), (rng.standard_normal((2, K, 3, 4)) * 0.5).astype(np.float32)


# -------------------------------------------------------------- references
def _optax_binary(mean: bool) -> Any:
    def fn(y: Any, z: Any) -> Any:
        import optax

        out = optax.losses.sparsemax_loss(z, y.astype("int32"))
        return out.mean(-1) if mean else out

    return optax_reference(fn)


def _optax_multiclass(class_axis: int = -1, ignore_index: Any = None) -> Any:
    """optax.losses.multiclass_sparsemax_loss on (rows, K) scores; ignored labels give 0."""

    def fn(y: Any, z: Any, *w: Any) -> Any:
        import jax.numpy as jnp
        import optax

        z = jnp.moveaxis(z, class_axis, -1)
        shape = y.shape
        safe = y if ignore_index is None else jnp.where(y == ignore_index, 0, y)
        out = optax.losses.multiclass_sparsemax_loss(z.reshape(-1, z.shape[-1]), safe.reshape(-1)).reshape(shape)
        if w:
            out = out * w[0][safe]
        return out if ignore_index is None else jnp.where(y == ignore_index, 0.0, out)

    return optax_reference(fn)


CASES = [
    Case(
        "sparsemax-binary",
        "sparsemax",
        _binary,
        {"axis": None},
        references={"optax": _optax_binary(mean=False)},
    ),
    Case(
        "sparsemax-binary-mean",
        "sparsemax",
        _binary,
        references={"optax": _optax_binary(mean=True)},
    ),
    Case(
        "sparsemax-binary-smoothing",
        "sparsemax",
        _binary,
        {"label_smoothing": 0.2},
    ),
    Case(
        "multiclass-sparsemax",
        "multiclass_sparsemax",
        _scores,
        references={"optax": _optax_multiclass()},
    ),
    Case(
        "multiclass-sparsemax-nchw",
        "multiclass_sparsemax",
        _scores_nchw,
        {"axis": 1},
        references={"optax": _optax_multiclass(class_axis=1)},
    ),
    Case(
        "multiclass-sparsemax-class-weight-ignore-index",
        "multiclass_sparsemax",
        _scores_ignored,
        {"ignore_index": -1},
        references={"optax": _optax_multiclass(ignore_index=-1)},
        array_options={"class_weight": 2},
    ),
    Case(
        "multiclass-sparsemax-smoothing",
        "multiclass_sparsemax",
        _scores,
        {"label_smoothing": 0.1},
    ),
]
