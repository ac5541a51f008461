"""Conformance cases for the cross-entropy family, against torch, Keras, optax and tf.nn."""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ReferenceUnavailableError, ref_inputs, ref_output

B, D, K = 8, 5, 7


def _keras_losses() -> Any:
    import keras

    return keras.losses


# ------------------------------------------------------------------ inputs
def _binary_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, 2, (B, D)).astype(np.float32)
    y[0] = rng.uniform(0, 1, D)  # soft targets too
    p = rng.uniform(0.02, 0.98, (B, D)).astype(np.float32)
    return y, p


def _binary_logits(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, 2, (B, D)).astype(np.float32)
    z = (rng.standard_normal((B, D)) * 4).astype(np.float32)
    z[0, 0], z[1, 0] = 30.0, -30.0  # confidently wrong / right
    return y, z


def _binary_logits_pw(rng: np.random.Generator) -> tuple[Any, ...]:
    y, z = _binary_logits(rng)
    return y, z, rng.uniform(0.5, 3.0, D).astype(np.float32)


def _onehot(rng: np.random.Generator, n: int = B, k: int = K) -> Any:
    return np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]


def _cat_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    p = rng.uniform(0.01, 1.0, (B, K)).astype(np.float32)  # not normalised: Keras divides by the sum
    return _onehot(rng), p


def _cat_logits(rng: np.random.Generator) -> tuple[Any, ...]:
    y = _onehot(rng)
    y[0] = rng.dirichlet(np.ones(K))  # a soft target
    return y, (rng.standard_normal((B, K)) * 3).astype(np.float32)


def _cat_logits_w(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_cat_logits(rng), rng.uniform(0.2, 3.0, K).astype(np.float32))


def _sparse_logits(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, K, B), (rng.standard_normal((B, K)) * 3).astype(np.float32)


def _sparse_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    p = rng.dirichlet(np.ones(K), B).astype(np.float32)
    return rng.integers(0, K, B), p


def _sparse_all(rng: np.random.Generator) -> tuple[Any, ...]:
    y, z = _sparse_logits(rng)
    y[[1, 4]] = -100
    return y, z, rng.uniform(0.2, 3.0, K).astype(np.float32)


def _log_probs(rng: np.random.Generator) -> tuple[Any, ...]:
    """Labels and log-probabilities as torch's NLLLoss tests give them: not normalised."""
    y, z = _sparse_logits(rng)
    return y, (z - 3.0).astype(np.float32)


def _log_probs_all(rng: np.random.Generator) -> tuple[Any, ...]:
    y, lp = _log_probs(rng)
    y[[2, 5]] = -100
    return y, lp, rng.uniform(0.2, 3.0, K).astype(np.float32)


def _log_probs_onehot(rng: np.random.Generator) -> tuple[Any, ...]:
    y, lp = _log_probs(rng)
    return np.eye(K, dtype=np.float32)[y], lp


def _class_mask(rng: np.random.Generator, labels: Any) -> Any:
    """optax's ``where`` over the classes: the label's class always takes part; row 3 has none."""
    mask = rng.uniform(size=(B, K)) < 0.6
    mask[np.arange(B), labels] = True
    mask[3] = False
    return mask


def _cat_logits_where(rng: np.random.Generator) -> tuple[Any, ...]:
    y, z = _cat_logits(rng)
    y = _onehot(rng)
    mask = _class_mask(rng, y.argmax(-1))
    return y, z, mask


def _sparse_logits_where(rng: np.random.Generator) -> tuple[Any, ...]:
    y, z = _sparse_logits(rng)
    return y, z, _class_mask(rng, y)


def _sparse_nchw(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, K, (2, 3, 4))
    y[0, 0, :2] = 255
    z = (rng.standard_normal((2, K, 3, 4)) * 2).astype(np.float32)
    return y, z, rng.uniform(0.2, 3.0, K).astype(np.float32)


# -------------------------------------------------------------- references
def _torch_bce_probs(y: Any, p: Any) -> Any:
    import torch.nn.functional as F

    y, p = ref_inputs("torch", y, p)
    return ref_output(F.binary_cross_entropy(p, y, reduction="none").mean(-1))


def _smooth_bin(y: Any, e: float) -> Any:
    return y * (1 - e) + 0.5 * e


def _torch_bce_logits(e: float) -> Any:
    def ref(y: Any, z: Any) -> Any:
        import torch.nn.functional as F

        y, z = ref_inputs("torch", _smooth_bin(y, e), z)
        return ref_output(F.binary_cross_entropy_with_logits(z, y, reduction="none").mean(-1))

    return ref


def _tf_bce_logits(e: float) -> Any:
    def ref(y: Any, z: Any) -> Any:
        import tensorflow as tf

        y, z = ref_inputs("tensorflow", _smooth_bin(y, e), z)
        return ref_output(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z), -1))

    return ref


def _optax_bce_logits(e: float) -> Any:
    def ref(y: Any, z: Any) -> Any:
        import optax

        y, z = ref_inputs("jax", _smooth_bin(y, e), z, dtype="float32")
        return ref_output(optax.sigmoid_binary_cross_entropy(z, y).mean(-1))

    return ref


def _keras(name: str, **kw: Any) -> Any:
    def ref(y: Any, p: Any) -> Any:
        return ref_output(getattr(_keras_losses(), name)(y.astype(np.float64) if y.dtype.kind == "f" else y, p.astype(np.float64), **kw))

    return ref


def _torch_bce_pw(y: Any, z: Any, pw: Any) -> Any:
    import torch.nn.functional as F

    y, z, pw = ref_inputs("torch", y, z, pw)
    return ref_output(F.binary_cross_entropy_with_logits(z, y, pos_weight=pw, reduction="none"))


def _tf_bce_pw(y: Any, z: Any, pw: Any) -> Any:
    import tensorflow as tf

    y, z, pw = ref_inputs("tensorflow", y, z, pw)
    return ref_output(tf.nn.weighted_cross_entropy_with_logits(labels=y, logits=z, pos_weight=pw))


def _torch_ce(**kw: Any) -> Any:
    def ref(y: Any, z: Any, *w: Any) -> Any:
        import torch.nn.functional as F

        args = ref_inputs("torch", y, z, *w)
        weight = args[2] if w else None
        return ref_output(F.cross_entropy(args[1], args[0], weight=weight, reduction="none", **kw))

    return ref


def _torch_ce_nchw(**kw: Any) -> Any:
    return _torch_ce(**kw)  # torch's layout is the class axis 1 already


def _torch_nll(y: Any, z: Any) -> Any:
    import torch
    import torch.nn.functional as F

    y, z = ref_inputs("torch", y, z)
    return ref_output(F.nll_loss(torch.log_softmax(z, -1), y, reduction="none"))


def _torch_nll_direct(**kw: Any) -> Any:
    """F.nll_loss on y_pred as given (log-probabilities, nothing renormalised)."""

    def ref(y: Any, lp: Any, *w: Any) -> Any:
        import torch.nn.functional as F

        args = ref_inputs("torch", y, lp, *w)
        weight = args[2] if w else None
        return ref_output(F.nll_loss(args[1], args[0], weight=weight, reduction="none", **kw))

    return ref


def _torch_nll_onehot(y: Any, lp: Any) -> Any:
    import torch.nn.functional as F

    t, lp = ref_inputs("torch", y.argmax(-1), lp)
    return ref_output(F.nll_loss(lp, t, reduction="none"))


def _optax_ce(e: float) -> Any:
    def ref(y: Any, z: Any) -> Any:
        import optax

        y, z = ref_inputs("jax", y, z, dtype="float32")
        return ref_output(optax.softmax_cross_entropy(z, optax.smooth_labels(y, e)))

    return ref


def _optax_sparse(y: Any, z: Any, *where: Any) -> Any:
    import jax
    import jax.numpy as jnp
    import optax

    y, z = ref_inputs("jax", y, z, dtype="float32")
    kw = {"where": jnp.asarray(where[0])} if where else {}
    out = ref_output(optax.softmax_cross_entropy_with_integer_labels(z, y, **kw))
    if where and np.isneginf(out[~np.asarray(where[0]).any(-1)]).any():
        raise ReferenceUnavailableError(
            f"optax {optax.__version__} (jax {jax.__version__}) gives -inf for a row without any class "
            "in `where` (later releases, and unilosses, give 0)"
        )
    return out


def _optax_ce_where(y: Any, z: Any, where: Any) -> Any:
    import jax.numpy as jnp
    import optax

    y, z = ref_inputs("jax", y, z, dtype="float32")
    return ref_output(optax.softmax_cross_entropy(z, y, where=jnp.asarray(where)))


def _tf_softmax(e: float) -> Any:
    def ref(y: Any, z: Any) -> Any:
        import tensorflow as tf

        y = y * (1 - e) + e / y.shape[-1]
        y, z = ref_inputs("tensorflow", y, z)
        return ref_output(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=z))

    return ref


def _tf_sparse(y: Any, z: Any) -> Any:
    import tensorflow as tf

    y, z = ref_inputs("tensorflow", y, z)
    return ref_output(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z))


CASES = [
    Case(
        "bce-probabilities",
        "binary_crossentropy",
        _binary_probs,
        references={"keras": _keras("binary_crossentropy"), "torch": _torch_bce_probs},
    ),
    Case(
        "bce-probabilities-smoothing",
        "binary_crossentropy",
        _binary_probs,
        {"label_smoothing": 0.2},
        references={"keras": _keras("binary_crossentropy", label_smoothing=0.2)},
    ),
    Case(
        "bce-logits-smoothing",
        "binary_crossentropy",
        _binary_logits,
        {"from_logits": True, "label_smoothing": 0.1},
        references={
            "keras": _keras("binary_crossentropy", from_logits=True, label_smoothing=0.1),
            "torch": _torch_bce_logits(0.1),
            "tensorflow": _tf_bce_logits(0.1),
            "optax": _optax_bce_logits(0.1),
        },
    ),
    Case(
        "bce-logits-pos_weight-elementwise",
        "binary_crossentropy",
        _binary_logits_pw,
        {"from_logits": True, "axis": None},
        references={"torch": _torch_bce_pw, "tensorflow": _tf_bce_pw},
        array_options={"pos_weight": 2},
    ),
    Case(
        "cce-probabilities",
        "categorical_crossentropy",
        _cat_probs,
        references={"keras": _keras("categorical_crossentropy")},
    ),
    Case(
        "cce-logits-smoothing",
        "categorical_crossentropy",
        _cat_logits,
        {"from_logits": True, "label_smoothing": 0.2},
        references={
            "keras": _keras("categorical_crossentropy", from_logits=True, label_smoothing=0.2),
            "torch": _torch_ce(label_smoothing=0.2),
            "optax": _optax_ce(0.2),
            "tensorflow": _tf_softmax(0.2),
        },
    ),
    Case(
        "cce-logits-class_weight-smoothing",
        "categorical_crossentropy",
        _cat_logits_w,
        {"from_logits": True, "label_smoothing": 0.1},
        references={"torch": _torch_ce(label_smoothing=0.1)},
        array_options={"class_weight": 2},
    ),
    Case(
        "scce-logits",
        "sparse_categorical_crossentropy",
        _sparse_logits,
        {"from_logits": True},
        references={
            "torch": _torch_ce(),
            "optax": _optax_sparse,
            "tensorflow": _tf_sparse,
            "keras": _keras("sparse_categorical_crossentropy", from_logits=True),
        },
    ),
    Case(
        "scce-log-probabilities-nll",
        "sparse_categorical_crossentropy",
        _sparse_logits,
        {"from_logits": True},
        references={"torch": _torch_nll},
    ),
    Case(
        "scce-log-probs-nll",
        "sparse_categorical_crossentropy",
        _log_probs,
        {"from_log_probs": True},
        references={"torch": _torch_nll_direct()},
    ),
    Case(
        "scce-log-probs-nll-class_weight-ignore_index",
        "sparse_categorical_crossentropy",
        _log_probs_all,
        {"from_log_probs": True, "ignore_index": -100},
        references={"torch": _torch_nll_direct(ignore_index=-100)},
        array_options={"class_weight": 2},
    ),
    Case(
        "cce-log-probs-onehot-nll",
        "categorical_crossentropy",
        _log_probs_onehot,
        {"from_log_probs": True},
        references={"torch": _torch_nll_onehot},
    ),
    Case(
        "cce-logits-where",
        "categorical_crossentropy",
        _cat_logits_where,
        {"from_logits": True},
        references={"optax": _optax_ce_where},
        array_options={"where": 2},
    ),
    Case(
        "scce-logits-where",
        "sparse_categorical_crossentropy",
        _sparse_logits_where,
        {"from_logits": True},
        references={"optax": _optax_sparse},
        array_options={"where": 2},
    ),
    Case(
        "scce-probabilities",
        "sparse_categorical_crossentropy",
        _sparse_probs,
        references={"keras": _keras("sparse_categorical_crossentropy")},
    ),
    Case(
        "scce-logits-smoothing",
        "sparse_categorical_crossentropy",
        _sparse_logits,
        {"from_logits": True, "label_smoothing": 0.15},
        references={"torch": _torch_ce(label_smoothing=0.15)},
    ),
    Case(
        "scce-class_weight-ignore_index-smoothing",
        "sparse_categorical_crossentropy",
        _sparse_all,
        {"from_logits": True, "label_smoothing": 0.1, "ignore_index": -100},
        references={"torch": _torch_ce(label_smoothing=0.1, ignore_index=-100)},
        array_options={"class_weight": 2},
    ),
    Case(
        "scce-nchw-axis1",
        "sparse_categorical_crossentropy",
        _sparse_nchw,
        {"from_logits": True, "axis": 1, "ignore_index": 255, "label_smoothing": 0.05},
        references={"torch": _torch_ce_nchw(ignore_index=255, label_smoothing=0.05)},
        array_options={"class_weight": 2},
    ),
]
