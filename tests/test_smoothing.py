"""``unilosses.smooth_labels``: optax.smooth_labels on every backend, called live."""

from __future__ import annotations

import numpy as np
import pytest

import unilosses as ul
from unilosses.testing import assert_close, available_backends

K = 5


def _onehot(rng, shape=(4, 3)):
    return np.eye(K, dtype=np.float32)[rng.integers(0, K, shape)]


def _optax(labels, alpha, **kw):
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    kw = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    return np.asarray(optax.smooth_labels(jnp.asarray(labels), alpha, **kw))


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
def test_matches_optax(alpha, backend, rng):
    y = _onehot(rng)
    out = ul.smooth_labels(backend.asarray(y), alpha)
    assert_close(out, _optax(y, alpha), rtol=1e-6, atol=1e-7, like=backend.asarray(y))


def test_axis_tuple_and_where_match_optax(backend, rng):
    y = _onehot(rng)
    assert_close(ul.smooth_labels(backend.asarray(y), 0.2, axis=(1, 2)), _optax(y, 0.2, axis=(1, 2)), rtol=1e-6, atol=1e-7)
    where = rng.uniform(size=y.shape) < 0.7
    where[..., 0] = True
    out = ul.smooth_labels(backend.asarray(y), 0.3, where=backend.asarray(where))
    assert_close(out, _optax(y, 0.3, where=where), rtol=1e-6, atol=1e-7)
    out = ul.smooth_labels(backend.asarray(y), 0.3, where=where)  # NumPy masks are moved to the labels' framework
    assert_close(out, _optax(y, 0.3, where=where), rtol=1e-6, atol=1e-7)


def test_feeds_the_categorical_loss(backend, rng):
    """categorical_crossentropy(smooth_labels(y, e)) == categorical_crossentropy(y, label_smoothing=e)."""
    y = _onehot(rng, (6,))
    z = backend.asarray(rng.standard_normal((6, K)).astype(np.float32))
    smoothed = ul.smooth_labels(backend.asarray(y), 0.2)
    expected = ul.categorical_crossentropy(backend.asarray(y), z, from_logits=True, label_smoothing=0.2)
    assert_close(ul.categorical_crossentropy(smoothed, z, from_logits=True), np.asarray(expected), rtol=1e-6, atol=1e-6)


def test_alpha_as_an_array_and_traced():
    y = np.eye(3, dtype=np.float32)[[0, 2]]
    np.testing.assert_allclose(ul.smooth_labels(y, np.float32(0.3)), y * 0.7 + 0.1, rtol=1e-6)
    if "jax" in available_backends():
        import jax
        import jax.numpy as jnp

        out = jax.jit(lambda a: ul.smooth_labels(jnp.asarray(y), a))(jnp.float32(0.3))
        np.testing.assert_allclose(np.asarray(out), y * 0.7 + 0.1, rtol=1e-6)


def test_bad_input():
    y = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"alpha: expected a value in \[0(\.0)?, 1(\.0)?\], got 1\.5"):
        ul.smooth_labels(y, 1.5)
    with pytest.raises(TypeError, match=r"labels: expected floating-point \(one-hot or soft\) labels, got dtype int"):
        ul.smooth_labels(np.eye(3, dtype=np.int64), 0.1)
    with pytest.raises(ValueError, match=r"axis: expected an axis in \[-2, 1\]"):
        ul.smooth_labels(y, 0.1, axis=2)
    with pytest.raises(TypeError, match=r"axis: expected an integer axis or a tuple of them"):
        ul.smooth_labels(y, 0.1, axis=1.0)
    if "torch" in available_backends():
        import torch

        with pytest.raises(TypeError, match=r"where: got an array of numpy while labels is an array of torch|where: got an array of torch while labels is an array of numpy"):
            ul.smooth_labels(y, 0.1, where=torch.ones(3, 3, dtype=torch.bool))
