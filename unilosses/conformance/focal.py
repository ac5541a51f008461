"""Conformance cases for the focal cross-entropies, against Keras and optax.

Keras has no sparse focal loss: the sparse cases compare with Keras' categorical
focal loss on the one-hot of the labels (class weights as Keras' per-class
``alpha`` list, ignored positions zeroed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

B, D, K = 8, 5, 6


def _f64(x: Any) -> Any:
    return x.astype(np.float64) if x.dtype.kind == "f" else x


# ------------------------------------------------------------------ inputs
def _binary_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, 2, (B, D)).astype(np.float32)
    y[0] = rng.uniform(0, 1, D)  # soft targets too
    return y, rng.uniform(0.02, 0.98, (B, D)).astype(np.float32)


def _binary_logits(rng: np.random.Generator) -> tuple[Any, ...]:
    # |z| <= 12: Keras takes the sigmoid then a log clipped at 1e-7, exact only up to ~16
    y = rng.integers(0, 2, (B, D)).astype(np.float32)
    z = np.clip(rng.standard_normal((B, D)) * 4, -12, 12).astype(np.float32)
    z[0, 0], z[1, 0] = 12.0, -12.0
    return y, z


def _onehot(rng: np.random.Generator, shape: tuple[int, ...] = (B,)) -> Any:
    return np.eye(K, dtype=np.float32)[rng.integers(0, K, shape)]


def _cat_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    return _onehot(rng), rng.uniform(0.01, 1.0, (B, K)).astype(np.float32)  # Keras divides by the sum


def _cat_logits(rng: np.random.Generator) -> tuple[Any, ...]:
    y = _onehot(rng)
    y[0] = rng.dirichlet(np.ones(K))  # a soft target
    return y, (rng.standard_normal((B, K)) * 2).astype(np.float32)


def _cat_probs_w(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_cat_probs(rng), rng.uniform(0.2, 3.0, K).astype(np.float32))


def _sparse_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, K, B), rng.dirichlet(np.ones(K), B).astype(np.float32)


def _sparse_logits(rng: np.random.Generator) -> tuple[Any, ...]:
    # moderate logits: Keras clips softmax probabilities at 1e-7 (log p >= -16.1)
    return rng.integers(0, K, B), (rng.standard_normal((B, K)) * 2).astype(np.float32)


def _sparse_log_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    # log-probabilities as given (not normalised), as torch's NLLLoss tests use them
    return rng.integers(0, K, B), (rng.standard_normal((B, K)) - 3.0).astype(np.float32)


def _sparse_all(rng: np.random.Generator) -> tuple[Any, ...]:
    y, z = _sparse_logits(rng)
    y[[1, 4]] = -1
    return y, z, rng.uniform(0.2, 3.0, K).astype(np.float32)


def _sparse_nchw(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, K, (2, 3, 4))
    z = (rng.standard_normal((2, K, 3, 4)) * 2).astype(np.float32)
    return y, z


# -------------------------------------------------------------- references
def _keras(name: str, **kw: Any) -> Any:
    def ref(y: Any, p: Any, *w: Any) -> Any:
        import keras

        kwargs = dict(kw)
        if w:  # class weights are Keras' per-class alpha (unilosses: alpha=1, class_weight=w)
            kwargs["alpha"] = w[0].astype(np.float64)
        return ref_output(getattr(keras.losses, name)(_f64(y), _f64(p), **kwargs))

    return ref


def _optax_focal(alpha: Any, gamma: float, e: float = 0.0, mean: bool = True) -> Any:
    def ref(y: Any, z: Any) -> Any:
        import optax

        y = y * (1 - e) + 0.5 * e
        y, z = ref_inputs("jax", y, z, dtype="float32")
        out = ref_output(optax.sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma))
        return out.mean(-1) if mean else out

    return ref


def _keras_sparse(axis: int = -1, ignore: Any = None, **kw: Any) -> Any:
    """Keras' categorical focal loss on the one-hot of the labels."""

    def ref(y: Any, p: Any, *w: Any) -> Any:
        import keras

        keep = np.ones(y.shape, bool) if ignore is None else y != ignore
        onehot = np.eye(K)[np.where(keep, y, 0)]
        if axis != -1:
            onehot = np.moveaxis(onehot, -1, axis)
        kwargs = dict(kw)
        if w:
            kwargs["alpha"] = w[0].astype(np.float64)
        out = ref_output(keras.losses.categorical_focal_crossentropy(onehot, _f64(p), axis=axis, **kwargs))
        return np.where(keep, out, 0.0)

    return ref


def _torch_nll_alpha(alpha: float) -> Any:
    """gamma=0 on log-probabilities: alpha times torch's nll_loss of y_pred as given."""

    def ref(y: Any, lp: Any) -> Any:
        import torch.nn.functional as F

        y, lp = ref_inputs("torch", y, lp)
        return alpha * ref_output(F.nll_loss(lp, y, reduction="none"))

    return ref


def _torch_ce_alpha(alpha: float) -> Any:
    """gamma=0: alpha times torch's cross-entropy (Keras always multiplies by alpha)."""

    def ref(y: Any, z: Any) -> Any:
        import torch.nn.functional as F

        y, z = ref_inputs("torch", y, z)
        return alpha * ref_output(F.cross_entropy(z, y, reduction="none"))

    return ref


CASES = [
    Case(
        "sfce-log-probs-gamma0-nll",
        "sparse_categorical_focal_crossentropy",
        _sparse_log_probs,
        {"from_log_probs": True, "gamma": 0.0, "alpha": 0.5},
        references={"torch": _torch_nll_alpha(0.5)},
    ),
    Case(
        "bfce-probabilities",
        "binary_focal_crossentropy",
        _binary_probs,
        references={"keras": _keras("binary_focal_crossentropy")},
    ),
    Case(
        "bfce-probabilities-balancing-smoothing",
        "binary_focal_crossentropy",
        _binary_probs,
        {"gamma": 1.5, "alpha": 0.4, "apply_class_balancing": True, "label_smoothing": 0.2},
        references={
            "keras": _keras(
                "binary_focal_crossentropy", gamma=1.5, alpha=0.4, apply_class_balancing=True, label_smoothing=0.2
            )
        },
    ),
    Case(
        "bfce-logits",
        "binary_focal_crossentropy",
        _binary_logits,
        {"from_logits": True, "gamma": 3.0},
        references={
            "keras": _keras("binary_focal_crossentropy", from_logits=True, gamma=3.0),
            "optax": _optax_focal(None, 3.0),
        },
    ),
    Case(
        "bfce-logits-balancing-smoothing",
        "binary_focal_crossentropy",
        _binary_logits,
        {"from_logits": True, "apply_class_balancing": True, "alpha": 0.3, "label_smoothing": 0.1},
        references={
            "keras": _keras(
                "binary_focal_crossentropy", from_logits=True, apply_class_balancing=True, alpha=0.3, label_smoothing=0.1
            ),
            "optax": _optax_focal(0.3, 2.0, 0.1),
        },
    ),
    Case(
        "bfce-logits-elementwise-optax",
        "binary_focal_crossentropy",
        _binary_logits,
        {"from_logits": True, "apply_class_balancing": True, "alpha": 0.25, "gamma": 0.5, "axis": None},
        references={"optax": _optax_focal(0.25, 0.5, mean=False)},
    ),
    Case(
        "cfce-probabilities",
        "categorical_focal_crossentropy",
        _cat_probs,
        references={"keras": _keras("categorical_focal_crossentropy")},
    ),
    Case(
        "cfce-logits-smoothing",
        "categorical_focal_crossentropy",
        _cat_logits,
        {"from_logits": True, "label_smoothing": 0.2, "gamma": 1.0, "alpha": 0.5},
        references={
            "keras": _keras("categorical_focal_crossentropy", from_logits=True, label_smoothing=0.2, gamma=1.0, alpha=0.5)
        },
    ),
    Case(
        "cfce-class_weight-is-keras-alpha-list",
        "categorical_focal_crossentropy",
        _cat_probs_w,
        {"alpha": 1.0, "gamma": 2.5},
        references={"keras": _keras("categorical_focal_crossentropy", gamma=2.5)},
        array_options={"class_weight": 2},
    ),
    Case(
        "scfce-probabilities",
        "sparse_categorical_focal_crossentropy",
        _sparse_probs,
        references={"keras": _keras_sparse()},
    ),
    Case(
        "scfce-logits-gamma0-is-alpha-ce",
        "sparse_categorical_focal_crossentropy",
        _sparse_logits,
        {"from_logits": True, "gamma": 0.0, "alpha": 0.25},
        references={"torch": _torch_ce_alpha(0.25), "keras": _keras_sparse(from_logits=True, gamma=0.0)},
    ),
    Case(
        "scfce-logits-smoothing",
        "sparse_categorical_focal_crossentropy",
        _sparse_logits,
        {"from_logits": True, "label_smoothing": 0.15, "gamma": 1.5},
        references={"keras": _keras_sparse(from_logits=True, label_smoothing=0.15, gamma=1.5)},
    ),
    Case(
        "scfce-class_weight-ignore_index-smoothing",
        "sparse_categorical_focal_crossentropy",
        _sparse_all,
        {"from_logits": True, "label_smoothing": 0.1, "ignore_index": -1, "alpha": 1.0},
        references={"keras": _keras_sparse(ignore=-1, from_logits=True, label_smoothing=0.1)},
        array_options={"class_weight": 2},
    ),
    Case(
        "scfce-nchw-axis1",
        "sparse_categorical_focal_crossentropy",
        _sparse_nchw,
        {"from_logits": True, "axis": 1},
        references={"keras": _keras_sparse(axis=1, from_logits=True)},
    ),
]
