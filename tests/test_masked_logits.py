"""Masked logits (-inf) and 0 * log 0 = 0 (issue 12.5), on every backend and under the compilers.

A class with no target mass and a logit (or log-probability) of -inf contributes nothing, with a
zero gradient: the loss equals the same loss with that class removed. optax's
``safe_softmax_cross_entropy`` is the reference where it applies.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import assert_close, to_numpy

B, K = 6, 5
NEG_INF = np.float32(-np.inf)


def _masked_inputs(rng):
    """Soft targets with zeros, logits with -inf exactly where the target is 0 (some classes)."""
    y = rng.dirichlet(np.ones(K), B).astype(np.float32)
    z = rng.standard_normal((B, K)).astype(np.float32)
    mask = np.zeros((B, K), bool)
    mask[:, 3] = True
    mask[0, 1] = True
    y[mask] = 0.0
    y /= y.sum(-1, keepdims=True)
    z[mask] = NEG_INF
    return y, z, mask


def _without_masked(y, z, mask):
    """Row by row: the loss with the masked classes removed (the value the -inf case must give)."""
    return [(y[i][~mask[i]][None], z[i][~mask[i]][None]) for i in range(len(y))]


@pytest.mark.parametrize(
    ("fn", "kw"),
    [
        (ul.categorical_crossentropy, {"from_logits": True}),
        (ul.categorical_focal_crossentropy, {"from_logits": True, "gamma": 2.0}),
    ],
    ids=["cce", "cfce"],
)
def test_masked_logits_equal_the_loss_without_those_classes(backend, fn, kw):
    y, z, mask = _masked_inputs(np.random.default_rng(0))
    out = fn(backend.asarray(y), backend.asarray(z), **kw)
    expected = np.concatenate([np.asarray(fn(a, b, **kw)) for a, b in _without_masked(y, z, mask)])
    assert_close(out, expected, rtol=1e-5, atol=1e-6, like=backend.asarray(z))


def test_masked_logits_match_optax_safe_softmax_cross_entropy(backend):
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    y, z, _ = _masked_inputs(np.random.default_rng(1))
    expected = np.asarray(optax.safe_softmax_cross_entropy(jnp.asarray(z), jnp.asarray(y)))
    out = ul.categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True)
    assert_close(out, expected, rtol=1e-5, atol=1e-6, like=backend.asarray(z))


def test_kl_poisson_bce_with_zero_mass_at_minus_inf(backend):
    rng = np.random.default_rng(2)
    y, z, mask = _masked_inputs(rng)
    log_q = np.where(mask, NEG_INF, z - np.log(np.exp(np.where(mask, -50, z)).sum(-1, keepdims=True))).astype(np.float32)
    kl = to_numpy(ul.kl_divergence(backend.asarray(y), backend.asarray(log_q), from_log_probs=True))
    kl_ref = np.sum(np.where(y > 0, y * (np.log(np.where(y > 0, y, 1)) - np.where(mask, 0, log_q)), 0), -1)
    assert_close(kl, kl_ref.astype(np.float32), rtol=1e-5, atol=1e-6)
    counts = np.where(mask, 0.0, rng.poisson(2.0, (B, K))).astype(np.float32)
    pois = to_numpy(ul.poisson(backend.asarray(counts), backend.asarray(log_q), log_input=True, axis=None))
    pois_ref = np.where(mask, 0.0, np.exp(log_q) - counts * np.where(mask, 0, log_q))
    assert_close(pois, pois_ref.astype(np.float32), rtol=1e-5, atol=1e-6)
    targets = np.array([[0.0, 1.0, 0.0, 1.0]], np.float32)
    logits = np.array([[-np.inf, np.inf, -30.0, 30.0]], np.float32)
    bce = to_numpy(ul.binary_crossentropy(backend.asarray(targets), backend.asarray(logits), from_logits=True, axis=None))
    assert_close(bce, np.array([[0.0, 0.0, np.log1p(np.exp(-30.0)), np.log1p(np.exp(-30.0))]], np.float32), rtol=1e-6, atol=1e-7)
    bfce = to_numpy(ul.binary_focal_crossentropy(backend.asarray(targets), backend.asarray(logits), from_logits=True, axis=None))
    assert np.all(np.isfinite(bfce)) and bfce[0, 0] == 0.0 and bfce[0, 1] == 0.0


def test_a_class_with_target_mass_at_minus_inf_is_infinite(backend):
    """Only 0 * log 0 is 0: a target with mass on an impossible class costs +inf, never a number."""
    y = np.array([[0.5, 0.5, 0.0]], np.float32)
    z = np.array([[0.0, -np.inf, 1.0]], np.float32)
    out = to_numpy(ul.categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True))
    assert np.isposinf(out).all()


# ------------------------------------------------------------------ gradients, compilers
def _grad_is_finite_and_zero_at_masked(grad, mask):
    grad = np.asarray(grad)
    assert np.all(np.isfinite(grad))
    assert np.all(grad[mask] == 0.0)


@selected("torch")
def test_torch_gradient_and_compile():
    torch = pytest.importorskip("torch")
    y, z, mask = _masked_inputs(np.random.default_rng(3))
    for fn in (ul.categorical_crossentropy, ul.categorical_focal_crossentropy):
        zt = torch.tensor(z, requires_grad=True)
        fn(torch.tensor(y), zt, from_logits=True, reduction="sum").backward()
        _grad_is_finite_and_zero_at_masked(zt.grad, mask)
    compiled = torch.compile(  # aot_eager: dynamo traces one graph, no code generation (2 cores)
        lambda y, z: ul.categorical_crossentropy(y, z, from_logits=True, reduction="sum"), fullgraph=True,
        backend="aot_eager",
    )
    expected = ul.categorical_crossentropy(y, z, from_logits=True, reduction="sum")
    assert_close(compiled(torch.tensor(y), torch.tensor(z)), np.asarray(expected), rtol=1e-5, atol=1e-6)


@selected("jax")
def test_jax_gradient_under_jit():
    jax = pytest.importorskip("jax")
    y, z, mask = _masked_inputs(np.random.default_rng(4))
    for fn in (ul.categorical_crossentropy, ul.categorical_focal_crossentropy):
        g = jax.jit(jax.grad(lambda z, fn=fn: fn(y, z, from_logits=True, reduction="sum")))(jax.numpy.asarray(z))
        _grad_is_finite_and_zero_at_masked(g, mask)
    g = jax.jit(jax.grad(lambda lq: ul.kl_divergence(y, lq, from_log_probs=True, reduction="sum")))(
        jax.numpy.asarray(np.where(mask, NEG_INF, z))
    )
    _grad_is_finite_and_zero_at_masked(g, mask)


@selected("tensorflow")
def test_tensorflow_gradient_under_tf_function():
    tf = pytest.importorskip("tensorflow")
    y, z, mask = _masked_inputs(np.random.default_rng(5))
    zt = tf.Variable(z)

    @tf.function
    def grad():
        with tf.GradientTape() as tape:
            loss = ul.categorical_crossentropy(y, zt, from_logits=True, reduction="sum")
        return tape.gradient(loss, zt)

    _grad_is_finite_and_zero_at_masked(grad().numpy(), mask)


# ------------------------------------------------------------------ optax's where=
def test_where_with_smoothing_equals_the_loss_on_the_included_classes(backend):
    """Excluded classes leave the softmax, the smoothing's K and every sum."""
    rng = np.random.default_rng(6)
    labels = rng.integers(0, K, B)
    z = rng.standard_normal((B, K)).astype(np.float32)
    mask = rng.uniform(size=(B, K)) < 0.6
    mask[np.arange(B), labels] = True
    kw = dict(from_logits=True, label_smoothing=0.2)
    out = ul.sparse_categorical_crossentropy(backend.asarray(labels), backend.asarray(z), where=backend.asarray(mask), **kw)
    cat = ul.categorical_crossentropy(
        backend.asarray(np.eye(K, dtype=np.float32)[labels]), backend.asarray(z), where=backend.asarray(mask), **kw
    )
    expected = []
    for i in range(B):
        keep = np.flatnonzero(mask[i])
        expected.append(ul.sparse_categorical_crossentropy(
            np.array([np.searchsorted(keep, labels[i])]), z[i, keep][None], **kw)[0])
    assert_close(out, np.asarray(expected, np.float32), rtol=1e-5, atol=1e-6, like=backend.asarray(z))
    assert_close(cat, np.asarray(expected, np.float32), rtol=1e-5, atol=1e-6, like=backend.asarray(z))


def test_where_excluded_samples_leave_the_denominators(backend):
    rng = np.random.default_rng(7)
    labels = rng.integers(0, K, B)
    z = rng.standard_normal((B, K)).astype(np.float32)
    keep = np.array([True, False, True, True, False, True])
    mean = ul.sparse_categorical_crossentropy(
        backend.asarray(labels), backend.asarray(z), from_logits=True, where=backend.asarray(keep), reduction="mean"
    )
    expected = ul.sparse_categorical_crossentropy(labels[keep], z[keep], from_logits=True, reduction="mean")
    assert_close(mean, np.asarray(expected), rtol=1e-5, atol=1e-6, like=backend.asarray(z))


def test_where_label_on_an_excluded_class_is_nan(backend):
    z = np.zeros((1, 3), np.float32)
    out = to_numpy(ul.sparse_categorical_crossentropy(
        backend.asarray(np.array([1])), backend.asarray(z), from_logits=True, where=backend.asarray(np.array([[True, False, True]]))
    ))
    assert np.isnan(out).all()
