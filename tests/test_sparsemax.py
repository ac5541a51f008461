"""Sparsemax losses beyond the conformance cases: the Fenchel-Young identities (zero loss at the
target, gradient = projection - target), ties, label smoothing, and the threshold under
compilers with the sort along the class axis.

Values and gradients against optax live are in the conformance cases
(``tests/test_conformance.py``, ``tests/test_optax_gradients.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

import unilosses as ul
from unilosses.testing import assert_close, available_backends, to_numpy

B, K = 6, 5


def _sparsemax_np(z: np.ndarray) -> np.ndarray:
    """The Euclidean projection onto the simplex by bisection on the threshold (independent of the sort)."""
    lo, hi = z.min(-1, keepdims=True) - 1.0, z.max(-1, keepdims=True)
    for _ in range(200):
        mid = (lo + hi) / 2
        over = np.clip(z - mid, 0, None).sum(-1, keepdims=True) > 1
        lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
    return np.clip(z - (lo + hi) / 2, 0, None)


def _grad(backend_name, fn, x):
    """d sum(fn(x)) / dx with the backend's autodiff, as NumPy float64."""
    if backend_name == "torch":
        import torch

        t = torch.as_tensor(x).requires_grad_(True)
        (g,) = torch.autograd.grad(fn(t).sum(), [t])
        return g.double().numpy()
    if backend_name == "jax":
        import jax
        import jax.numpy as jnp

        return np.asarray(jax.grad(lambda a: jnp.sum(fn(a)))(jnp.asarray(x)), np.float64)
    import tensorflow as tf

    t = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        out = tf.reduce_sum(fn(t))
    return tape.gradient(out, t).numpy().astype(np.float64)


AUTODIFF = [b for b in ("torch", "jax", "tensorflow") if b in available_backends()]
#: float64 inputs stay float64 except on JAX without x64 (float32 there)
TOL = {"torch": 1e-9, "tensorflow": 1e-9, "jax": 2e-6}


@pytest.mark.parametrize("backend_name", AUTODIFF)
@pytest.mark.parametrize("e", [0.0, 0.3])
def test_multiclass_gradient_is_projection_minus_target(backend_name, e, rng):
    """d loss / dz = sparsemax(z) - q, q the (smoothed) one-hot, on every autodiff backend."""
    z = (rng.standard_normal((B, K)) * 2).astype(np.float64)
    z[0] = [0.3, 0.3, 0.1, -2.0, 0.3]  # ties in the support
    y = rng.integers(0, K, B)
    q = np.eye(K)[y] * (1 - e) + e / K
    g = _grad(backend_name, lambda a: ul.multiclass_sparsemax(y, a, label_smoothing=e), z)
    np.testing.assert_allclose(g, _sparsemax_np(z) - q, rtol=TOL[backend_name], atol=TOL[backend_name])


def test_multiclass_zero_loss_at_the_target(backend):
    """0 when sparsemax(z) is the target: a one-hot with margin, or with smoothing z = q itself."""
    z = np.array([[3.0, 0.0, 1.0, -1.0], [0.0, 0.0, 5.0, 3.9]], np.float32)
    y = np.array([0, 2])
    assert_close(ul.multiclass_sparsemax(backend.asarray(y), backend.asarray(z)), np.zeros(2, np.float32), atol=1e-6)
    e = 0.2
    q = (np.eye(4)[y] * (1 - e) + e / 4).astype(np.float32)
    out = ul.multiclass_sparsemax(backend.asarray(y), backend.asarray(q), label_smoothing=e)
    assert_close(out, np.zeros(2, np.float32), atol=1e-6)


def test_multiclass_value_by_hand(backend):
    """z = (0.2, 0.1, 0.0), y = 2: sparsemax p = (0.4333, 0.3333, 0.2333) (all in the support:
    z + 7/30 sums to 1); optax's form <p, z> - z_y + (1 - ||p||^2) / 2 = 0.44333..."""
    z = np.array([[0.2, 0.1, 0.0]], np.float64)
    p = np.array([0.2 + 7 / 30, 0.1 + 7 / 30, 7 / 30])
    expected = p @ z[0] - 0.0 + (1 - p @ p) / 2
    assert_close(ul.multiclass_sparsemax(backend.asarray(np.array([2])), backend.asarray(z)), np.array([expected]), rtol=1e-6)


def test_one_class_costs_nothing(backend):
    z = backend.asarray(np.array([[2.5], [-1.0]], np.float32))
    assert_close(ul.multiclass_sparsemax(np.array([0, 0]), z), np.zeros(2, np.float32), atol=1e-7)


def test_threshold_sums_to_one_for_many_classes(backend, rng):
    """Through the public loss: with 1000 classes (a sort per row), the gradient of the loss plus
    the label's one-hot is a distribution (sparsemax), and the loss is non-negative."""
    z = (rng.standard_normal((3, 1000)) * 0.05).astype(np.float32)
    y = np.array([1, 500, 999])
    out = to_numpy(ul.multiclass_sparsemax(backend.asarray(y), backend.asarray(z)))
    assert np.all(out >= -1e-6)
    from unilosses.losses._sparsemax import sparsemax_threshold

    tau = to_numpy(sparsemax_threshold(ul.backend_for(backend.asarray(z)), backend.asarray(z), 1))
    np.testing.assert_allclose(np.clip(z - tau, 0, None).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.clip(z - tau, 0, None), _sparsemax_np(z.astype(np.float64)), atol=1e-6)


# ------------------------------------------------------------------ binary
def _sparse_sigmoid(z):
    return np.clip((z + 1) / 2, 0, 1)


@pytest.mark.parametrize("backend_name", AUTODIFF)
def test_binary_gradient_is_sparse_sigmoid_minus_target(backend_name, rng):
    z = np.array([[-3.0, -1.0, -0.5, 0.0, 0.7, 1.0, 2.0]])
    y = (rng.uniform(size=z.shape) < 0.5).astype(np.float64)
    y[0, :2] = [0.3, 0.8]  # soft targets: their Fenchel-Young loss
    g = _grad(backend_name, lambda a: ul.sparsemax(y, a, axis=None), z)
    np.testing.assert_allclose(g, _sparse_sigmoid(z) - y, rtol=TOL[backend_name], atol=TOL[backend_name])


def test_binary_hard_labels_and_zero_at_target(backend):
    """y = 1: sparse_plus(-z); y = 0: sparse_plus(z) (optax); 0 where sparse_sigmoid(z) = y."""
    z = np.array([[-2.0, -0.5, 0.5, 2.0]])
    sp = lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4))  # noqa: E731
    for label in (0.0, 1.0):
        y = np.full_like(z, label)
        expected = sp(-z) if label else sp(z)
        assert_close(ul.sparsemax(backend.asarray(y), backend.asarray(z), axis=None), expected, rtol=1e-6)
    soft = np.array([[0.25, 0.5, 0.75]])
    zs = 2 * soft - 1  # sparse_sigmoid(zs) = soft
    assert_close(ul.sparsemax(backend.asarray(soft), backend.asarray(zs)), np.zeros(1), atol=1e-7)


def test_binary_label_smoothing_is_smoothed_targets(backend, rng):
    y = rng.integers(0, 2, (B, K)).astype(np.float32)
    z = rng.standard_normal((B, K)).astype(np.float32)
    out = ul.sparsemax(backend.asarray(y), backend.asarray(z), label_smoothing=0.3)
    assert_close(out, ul.sparsemax(y * 0.7 + 0.15, z), rtol=1e-6, atol=1e-7, like=backend.asarray(z))


def test_get_and_classes():
    assert ul.get("sparsemax") is ul.sparsemax and ul.get("multiclass_sparsemax") is ul.multiclass_sparsemax
    loss = ul.MulticlassSparsemax(label_smoothing=0.1, reduction="sum")
    again = ul.deserialize(ul.serialize(loss))
    z = np.array([[0.2, 0.1, 0.0]], np.float32)
    np.testing.assert_allclose(again(np.array([2]), z), loss(np.array([2]), z))
