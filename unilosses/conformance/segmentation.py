"""Conformance cases for the segmentation family, against Keras and optax.

unilosses' default (``axis=None``) is Keras' default: one value for the whole
batch. ``per_sample=True`` is Keras' ``axis=(1, ..., ndim - 1)`` and optax's
default; an integer ``axis`` or a tuple of axes is Keras' and optax's
``axis=axis``. optax's multi-class form (classes last, softmax, class weights,
``smooth``) is ``class_axis=-1, from_logits=True``. optax's ``alpha`` / ``beta``
are Tversky's ``beta`` / ``alpha``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, optax_reference, ref_output, require_keywords

N, K = 4, 3


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


def _binary_logits(shape: tuple[int, ...]) -> Any:
    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        y = (rng.uniform(0, 1, shape) < 0.4).astype(np.float32)
        return y, (rng.standard_normal(shape) * 2).astype(np.float32)

    return inputs


def _onehot_logits(shape: tuple[int, ...], class_axis: int = -1, weights: bool = False) -> Any:
    """One-hot targets with the classes along ``class_axis`` and logits; class weights too."""

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        labels = rng.integers(0, K, shape)
        labels.reshape(shape[0], -1)[0, :] = 0  # a sample without classes 1 and 2
        y = np.ascontiguousarray(np.moveaxis(np.eye(K, dtype=np.float32)[labels], -1, class_axis))
        z = (rng.standard_normal(y.shape) * 2).astype(np.float32)
        return (y, z, rng.uniform(0.2, 2.0, K).astype(np.float32)) if weights else (y, z)

    return inputs


# -------------------------------------------------------------- references
def _keras(name: str, axis: Any = "samples", **kw: Any) -> Any:
    """keras.losses.<name>; ``axis="samples"`` is every axis but the first."""

    def ref(y: Any, p: Any) -> Any:
        import keras

        ax = tuple(range(1, p.ndim)) if axis == "samples" else axis
        fn = getattr(keras.losses, name)
        require_keywords(fn, "axis", *kw)
        return ref_output(fn(y.astype(np.float64), p.astype(np.float64), axis=ax, **kw))

    return ref


def _optax_binary(alpha: float = 0.5, beta: float = 0.5, smooth: float = 0.0, axis: Any = "samples", logits: bool = False) -> Any:
    """optax.losses.dice_loss on one sigmoid class (a trailing class axis of size 1); probabilities
    are passed as their logits. unilosses' tversky(alpha=a, beta=b) is optax's alpha=b, beta=a."""

    def fn(y: Any, p: Any) -> Any:
        import jax.numpy as jnp
        import optax

        z = p if logits else jnp.log(p) - jnp.log1p(-p)
        ax = tuple(range(1, p.ndim)) if axis == "samples" else tuple(range(p.ndim)) if axis == "all" else axis
        return optax.losses.dice_loss(z[..., None], y[..., None], alpha=beta, beta=alpha, smooth=smooth, axis=ax)

    return optax_reference(fn)


def _optax_multiclass(class_axis: int = -1, alpha: float = 0.5, beta: float = 0.5, **kw: Any) -> Any:
    """optax.losses.dice_loss on logits with the classes moved last (``axis="all"``: every other axis)."""

    def fn(y: Any, z: Any, *w: Any) -> Any:
        import jax.numpy as jnp
        import optax

        y, z = jnp.moveaxis(y, class_axis, -1), jnp.moveaxis(z, class_axis, -1)
        opts = dict(kw)
        if opts.get("axis") == "all":
            opts["axis"] = tuple(range(z.ndim - 1))
        return optax.losses.dice_loss(z, y, alpha=beta, beta=alpha, class_weights=w[0] if w else None, **opts)

    return optax_reference(fn)


def _optax_generalized(**kw: Any) -> Any:
    """Per-sample values of optax's multiclass_generalized_dice_loss (whose mean it returns): its
    class weights (inverse squared batch frequencies, rescaled to sum to K) on its dice_loss."""

    def fn(y: Any, z: Any) -> Any:
        import jax.numpy as jnp
        import optax

        freq = jnp.sum(y, axis=tuple(range(y.ndim - 1)))
        w = 1.0 / (freq**2 + 1e-7)
        w = w / jnp.sum(w) * w.shape[0]
        values = optax.losses.dice_loss(z, y, class_weights=w, reduction="none", **kw)
        return jnp.mean(values, axis=-1)

    return optax_reference(fn)


CASES = [
    # ---------------------------------------------------------------- dice
    Case(
        "dice-batch",
        "dice",
        _masks((N, 5, 6, 1)),
        references={"keras": _keras("dice", axis=None), "optax": _optax_binary(axis="all")},
    ),
    Case(
        "dice-images",
        "dice",
        _masks((N, 5, 6, 1)),
        {"per_sample": True},
        references={"keras": _keras("dice"), "optax": _optax_binary()},
    ),
    Case(
        "dice-vectors",
        "dice",
        _masks((N, 7)),
        {"per_sample": True},
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
        "dice-sigmoid-smooth",
        "dice",
        _binary_logits((N, 5, 6)),
        {"per_sample": True, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_binary(smooth=1.0, logits=True)},
    ),
    Case(
        "dice-multiclass-softmax-class-weight",
        "dice",
        _onehot_logits((N, 5, 4), weights=True),
        {"per_sample": True, "class_axis": -1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(smooth=1.0)},
        array_options={"class_weight": 2},
    ),
    Case(
        "dice-multiclass-ignore-background",
        "dice",
        _onehot_logits((N, 5, 4)),
        {"per_sample": True, "class_axis": -1, "from_logits": True, "smooth": 0.5, "ignore_background": True},
        references={"optax": _optax_multiclass(smooth=0.5, ignore_background=True)},
    ),
    Case(
        "dice-multiclass-nchw",
        "dice",
        _onehot_logits((N, 4, 5), class_axis=1),
        {"per_sample": True, "class_axis": 1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(class_axis=1, smooth=1.0)},
    ),
    Case(
        "dice-multiclass-batch",
        "dice",
        _onehot_logits((N, 5, 4)),
        {"class_axis": -1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(smooth=1.0, axis="all")},
    ),
    Case(
        "dice-multiclass-axis-tuple",
        "dice",
        _onehot_logits((2, 3, 4, 5)),
        {"axis": (2, 3), "class_axis": -1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(smooth=1.0, axis=(2, 3))},
    ),
    # ------------------------------------------------------------- tversky
    Case(
        "tversky",
        "tversky",
        _masks((N, 5, 6)),
        references={"keras": _keras("tversky", axis=None), "optax": _optax_binary(axis="all")},
    ),
    Case(
        "tversky-alpha-beta",
        "tversky",
        _masks((N, 5, 6)),
        {"alpha": 0.3, "beta": 0.7, "per_sample": True},
        references={"keras": _keras("tversky", alpha=0.3, beta=0.7), "optax": _optax_binary(0.3, 0.7)},
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
    Case(
        "tversky-multiclass-softmax-class-weight",
        "tversky",
        _onehot_logits((N, 5, 4), weights=True),
        {"alpha": 0.7, "beta": 0.3, "per_sample": True, "class_axis": -1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(alpha=0.7, beta=0.3, smooth=1.0)},
        array_options={"class_weight": 2},
    ),
    # ------------------------------------------------ generalized dice (optax)
    Case(
        "multiclass-generalized-dice",
        "multiclass_generalized_dice",
        _onehot_logits((N, 5, 4)),
        {"from_logits": True},
        references={"optax": _optax_generalized()},
    ),
    Case(
        "multiclass-generalized-dice-ignore-background",
        "multiclass_generalized_dice",
        _onehot_logits((N, 5, 4)),
        {"from_logits": True, "smooth": 0.5, "ignore_background": True},
        references={"optax": _optax_generalized(smooth=0.5, ignore_background=True)},
    ),
]
