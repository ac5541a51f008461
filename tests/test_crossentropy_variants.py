"""Poly-1 and the generalized cross-entropy beyond the conformance cases: Keras' own
CategoricalGeneralizedCrossEntropyTest, the identities that tie each loss to the cross-entropy
(poly-1 with epsilon=0, GCE as q -> 0; the sparse form equals the dense one on a one-hot),
class weights and smoothing by hand, p = 0 with a finite gradient, options and configs.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import assert_close, available_backends, to_numpy

B, K = 6, 4


def _data(rng, soft=True):
    y = rng.integers(0, K, B)
    onehot = np.eye(K, dtype=np.float32)[y]
    if soft:
        onehot[0] = rng.dirichlet(np.ones(K))
    return y, onehot, (rng.standard_normal((B, K)) * 2).astype(np.float32), rng.uniform(0.2, 3, K).astype(np.float32)


# ------------------------------------------------------------------ poly-1
@pytest.mark.parametrize(
    ("opts", "from_logits"),
    [({}, False), ({"label_smoothing": 0.2}, True), ({"class_weight": True}, False), ({"label_smoothing": 0.1, "class_weight": True}, True)],
)
def test_poly1_with_epsilon_zero_is_the_cross_entropy(opts, from_logits, backend, rng):
    y, onehot, z, w = _data(rng)
    p = z if from_logits else np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    kw = {k: (backend.asarray(w) if k == "class_weight" else v) for k, v in opts.items()}
    pb = backend.asarray(p)
    for reduction in ("none", "mean_with_sample_weight"):
        out = ul.poly1_cross_entropy(backend.asarray(onehot), pb, epsilon=0.0, from_logits=from_logits, reduction=reduction, **kw)
        ce = ul.categorical_crossentropy(backend.asarray(onehot), pb, from_logits=from_logits, reduction=reduction, **kw)
        assert_close(out, to_numpy(ce), rtol=1e-5, atol=1e-6, like=pb)
        out = ul.sparse_poly1_cross_entropy(backend.asarray(y), pb, epsilon=0.0, from_logits=from_logits, reduction=reduction, **kw)
        ce = ul.sparse_categorical_crossentropy(backend.asarray(y), pb, from_logits=from_logits, reduction=reduction, **kw)
        assert_close(out, to_numpy(ce), rtol=1e-5, atol=1e-6, like=pb)


def test_poly1_class_weights_and_smoothing_by_hand(backend, rng):
    """sum_c w_c q_c (-log p_c + eps (1 - p_c)), q the smoothed target; sparse == dense on a one-hot."""
    y, onehot, z, w = _data(rng, soft=False)
    e, eps = 0.15, 2.5
    p = np.exp(z.astype(np.float64)) / np.exp(z.astype(np.float64)).sum(-1, keepdims=True)
    q = onehot * (1 - e) + e / K
    expected = (w * q * (-np.log(p) + eps * (1 - p))).sum(-1)
    zb, wb = backend.asarray(z), backend.asarray(w)
    kw = {"from_logits": True, "epsilon": eps, "label_smoothing": e, "class_weight": wb}
    assert_close(ul.poly1_cross_entropy(backend.asarray(onehot), zb, **kw), expected.astype(np.float32), rtol=1e-5, atol=1e-6)
    assert_close(ul.sparse_poly1_cross_entropy(backend.asarray(y), zb, **kw), expected.astype(np.float32), rtol=1e-5, atol=1e-6)
    weights = w[y]  # torch's "mean": divided by the label weights
    out = ul.sparse_poly1_cross_entropy(backend.asarray(y), zb, **kw, reduction="mean_with_sample_weight")
    assert_close(out, np.float32(expected.sum() / weights.sum()), rtol=1e-5, like=zb)


def test_poly1_where_is_the_loss_on_the_kept_classes(backend, rng):
    """optax's test_mask: where=m equals the loss on the kept classes alone (softmax, smoothing's K
    and every sum over them); a row with no class left leaves the mean."""
    y, onehot, z, _ = _data(rng)
    m = rng.uniform(size=(B, K)) < 0.6
    m[np.arange(B), onehot.argmax(-1)] = True
    m[0] = True  # the soft target keeps every class
    m[2] = False
    expected = np.zeros(B, np.float32)
    for i in range(B):
        if m[i].any():
            expected[i] = to_numpy(ul.poly1_cross_entropy(onehot[i][m[i]], z[i][m[i]], from_logits=True, label_smoothing=0.1))
    out = ul.poly1_cross_entropy(backend.asarray(onehot), backend.asarray(z), from_logits=True, label_smoothing=0.1, where=backend.asarray(m))
    assert_close(out, expected, rtol=1e-5, atol=1e-6, like=backend.asarray(z))
    mean = ul.poly1_cross_entropy(backend.asarray(onehot), backend.asarray(z), from_logits=True, label_smoothing=0.1, where=m, reduction="mean")
    assert_close(mean, np.float32(np.delete(expected, 2).mean()), rtol=1e-5, atol=1e-6)


def test_poly1_epsilon_is_any_number_not_the_clipping_epsilon():
    y, p = np.array([[0.0, 1.0]]), np.array([[0.3, 0.7]])
    ce = -np.log(0.7)
    for eps in (-1.0, 0.0, 0.5, 2.0, 10):
        np.testing.assert_allclose(ul.poly1_cross_entropy(y, p, epsilon=eps), [ce + eps * 0.3], rtol=1e-12)
    for bad, exc in ((float("nan"), ValueError), (float("inf"), ValueError), ("2", TypeError)):
        with pytest.raises(exc, match=r"epsilon: expected"):
            ul.poly1_cross_entropy(y, p, epsilon=bad)


# ----------------------------------------------------- generalized cross-entropy
#: keras/src/losses/losses_test.py (Keras 3.15), CategoricalGeneralizedCrossEntropyTest
KERAS_GCE = [
    (0.5, [0, 1, 0, 1], [[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]], [0.7, 0.8, 0.6, 0.6]),
    (0.8, [0, 1, 0, 1], [[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]], [0.7, 0.8, 0.6, 0.6]),
    (0.5, [0, 1, 0, 1], [[0.7, 0.3, 0.0], [0.2, 0.2, 0.6], [0.6, 0.4, 0.0], [0.2, 0.2, 0.6]], [0.7, 0.2, 0.6, 0.2]),
    (0.8, [0, 1, 0, 1], [[0.7, 0.3, 0.0], [0.2, 0.2, 0.6], [0.6, 0.4, 0.0], [0.2, 0.2, 0.6]], [0.7, 0.2, 0.6, 0.2]),
]


@pytest.mark.parametrize(("q", "y", "p", "p_true"), KERAS_GCE)
def test_gce_keras_own_tests(q, y, p, p_true, backend):
    """Keras' expected values: mean of (1 - p_y^q) / q over the batch (Keras' default reduction)."""
    expected = np.mean((1 - np.power(p_true, q)) / q)
    out = ul.CategoricalGeneralizedCrossEntropy(q=q)(backend.asarray(np.asarray(y)), backend.asarray(np.asarray(p, np.float32)))
    assert_close(out, np.float32(expected), rtol=1e-6, like=backend.asarray(np.asarray(p, np.float32)))
    keras = pytest.importorskip("keras")
    np.testing.assert_allclose(to_numpy(keras.losses.CategoricalGeneralizedCrossEntropy(q=q)(np.asarray(y), np.asarray(p))), expected, rtol=1e-6)


def test_gce_keras_segmentation_test(backend):
    """Keras' test_binary_segmentation: (4, 4) labels, (4, 4, 2) probabilities; two wrong pixels of 16."""
    y = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
    p = np.zeros((4, 4, 2), np.float32)
    p[..., 0], p[..., 1] = 1 - y, y
    assert_close(ul.CategoricalGeneralizedCrossEntropy()(backend.asarray(y), backend.asarray(p)), np.float32(0.0), atol=1e-7, like=backend.asarray(p))
    p[0, 3], p[3, 3] = [0.2, 0.8], [0.6, 0.4]
    expected = ((1 - 0.2**0.5) / 0.5 + (1 - 0.4**0.5) / 0.5) / 16
    assert_close(ul.CategoricalGeneralizedCrossEntropy(q=0.5)(backend.asarray(y), backend.asarray(p)), np.float32(expected), rtol=1e-6, like=backend.asarray(p))


def test_gce_limits(backend, rng):
    """q -> 0 is the cross-entropy; q = 1 is 1 - p_y (MAE); logits are softmax probabilities."""
    y, _, z, _ = _data(rng)
    p = (np.exp(z) / np.exp(z).sum(-1, keepdims=True)).astype(np.float32)
    yb, pb, zb = backend.asarray(y), backend.asarray(p), backend.asarray(z)
    ce = to_numpy(ul.sparse_categorical_crossentropy(yb, pb))
    assert_close(ul.categorical_generalized_cross_entropy(yb, pb, q=1e-4), ce, rtol=1e-3, atol=1e-4)
    assert_close(ul.categorical_generalized_cross_entropy(yb, pb, q=1.0), 1 - p[np.arange(B), y], rtol=1e-6, atol=1e-7)
    from_logits = ul.categorical_generalized_cross_entropy(yb, zb, q=0.3, from_logits=True)
    assert_close(from_logits, to_numpy(ul.categorical_generalized_cross_entropy(yb, pb, q=0.3)), rtol=1e-5, atol=1e-6)


def test_gce_smoothing_and_class_weights_by_hand(backend, rng):
    y, onehot, z, w = _data(rng, soft=False)
    p = np.exp(z.astype(np.float64)) / np.exp(z.astype(np.float64)).sum(-1, keepdims=True)
    q_, e = 0.4, 0.2
    target = onehot * (1 - e) + e / K
    expected = (w * target * (1 - p**q_) / q_).sum(-1)
    out = ul.categorical_generalized_cross_entropy(backend.asarray(y), backend.asarray(z), q=q_, from_logits=True,
                                                   label_smoothing=e, class_weight=backend.asarray(w))
    assert_close(out, expected.astype(np.float32), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend_name", [b for b in ("torch", "jax", "tensorflow") if b in available_backends()])
def test_gce_zero_probability_has_a_finite_gradient(backend_name):
    """p_y = 0: the loss is 1 / q, as Keras; its gradient is 0 where Keras' is NaN (0 x inf)."""
    y = np.array([1, 0])
    p = np.array([[1.0, 0.0], [0.3, 0.7]], np.float32)
    q = 0.5
    if backend_name == "torch":
        import torch

        t = torch.tensor(p, requires_grad=True)
        out = ul.categorical_generalized_cross_entropy(torch.tensor(y), t, q=q)
        (g,) = torch.autograd.grad(out.sum(), [t])
        out, g = out.detach().numpy(), g.numpy()
    elif backend_name == "jax":
        import jax
        import jax.numpy as jnp

        out = ul.categorical_generalized_cross_entropy(y, jnp.asarray(p), q=q)
        g = np.asarray(jax.grad(lambda a: jnp.sum(ul.categorical_generalized_cross_entropy(y, a, q=q)))(jnp.asarray(p)))
    else:
        import tensorflow as tf

        t = tf.constant(p)
        with tf.GradientTape() as tape:
            tape.watch(t)
            out = ul.categorical_generalized_cross_entropy(y, t, q=q)
            total = tf.reduce_sum(out)
        g = tape.gradient(total, t).numpy()
    np.testing.assert_allclose(np.asarray(out), [1 / q, (1 - 0.3**q) / q], rtol=1e-6)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[1], [-(0.3 ** (q - 1)), 0.0], rtol=1e-5)


def test_gce_options():
    y, p = np.array([0]), np.array([[0.6, 0.4]])
    for bad, exc in ((0.0, ValueError), (1.5, ValueError), (-0.2, ValueError), ("q", TypeError)):
        with pytest.raises(exc, match=r"q: expected"):
            ul.categorical_generalized_cross_entropy(y, p, q=bad)
        with pytest.raises(exc, match=r"q: expected"):
            ul.CategoricalGeneralizedCrossEntropy(q=bad)
    assert ul.get("CategoricalGeneralizedCrossEntropy").get_config()["q"] == 0.5


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        ("Poly1CrossEntropy", {"epsilon": -1.0, "from_logits": True, "class_weight": [1.0, 2.0, 1.0, 0.5]}),
        ("SparsePoly1CrossEntropy", {"epsilon": 1.0, "from_logits": True, "label_smoothing": 0.1, "ignore_index": -1}),
        ("CategoricalGeneralizedCrossEntropy", {"q": 0.7, "from_logits": True}),
    ],
)
def test_config_round_trip(cls, options, rng, config_round_trip):
    loss, again = config_round_trip(getattr(ul, cls), options)
    y, onehot, z, _ = _data(rng)
    target = onehot if cls == "Poly1CrossEntropy" else y
    np.testing.assert_allclose(again(target, z), loss(target, z))


@selected("torch")
def test_sparse_probabilities_class_last_backward_on_torch(rng):
    """N-d probabilities with the classes last go through torch's nll kernel moved to NCHW; its
    backward needs a contiguous input (it failed with "grad_input must be contiguous")."""
    torch = pytest.importorskip("torch")
    y = torch.as_tensor(rng.integers(0, K, (2, 3, 5)))
    p = torch.as_tensor(rng.dirichlet(np.ones(K), (2, 3, 5)).astype(np.float32), dtype=torch.float32).requires_grad_(True)
    p_y = lambda: torch.gather(p, -1, y[..., None])[..., 0]  # noqa: E731
    references = {  # the same losses with a gather
        ul.sparse_categorical_crossentropy: lambda: -torch.log(p_y() / p.sum(-1)),
        ul.categorical_generalized_cross_entropy: lambda: (1 - p_y() ** 0.5) / 0.5,
    }
    for fn, ref in references.items():
        (g,) = torch.autograd.grad(fn(y, p).sum(), [p])
        (expected,) = torch.autograd.grad(ref().sum(), [p])
        torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-6)
