"""Every loss with every kind of array a user passes (issue 12.2).

Variables (``tf.Variable``, ``keras.Variable`` on each Keras backend, ``torch.nn.Parameter``),
NumPy subclasses and views (memmaps, transposed and strided views, read-only arrays), 0-d arrays
and Python scalars as targets: each gives the numbers of the plain array, gradients flow through
variables, and a masked array (whose mask would be silently dropped) is refused.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import selected, sweep_cases

import unilosses as ul
from unilosses.testing import assert_close, to_numpy

CASES = sweep_cases()
_HAS = {m: importlib.util.find_spec(m) is not None for m in ("torch", "tensorflow", "keras", "jax")}


def _lead(case):
    spec = getattr(ul, case.loss).spec
    return spec.inputs.index(spec.decides)


def _call(case, arrays, wrap):
    """The case's loss with its deciding input passed through ``wrap``."""
    args, kw = case.call_args(tuple(arrays))
    i = _lead(case)
    args = args[:i] + (wrap(args[i]),) + args[i + 1 :]
    return getattr(ul, case.loss)(*args, **kw, reduction="none")


def _expected(case, arrays):
    args, kw = case.call_args(tuple(arrays))
    return to_numpy(getattr(ul, case.loss)(*args, **kw, reduction="none"))


# ---------------------------------------------------------------- NumPy kinds
def _memmap(tmp_path):
    def wrap(a):
        m = np.memmap(tmp_path / f"m{a.size}.dat", dtype=a.dtype, mode="w+", shape=a.shape)
        m[...] = a
        return m

    return wrap


def _transposed(a):
    return np.ascontiguousarray(np.swapaxes(a, 0, -1)).swapaxes(0, -1) if a.ndim > 1 else a


def _strided(a):
    return np.repeat(a, 2, axis=0)[::2]


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


class _Sub(np.ndarray):
    pass


@selected("numpy")
@pytest.mark.parametrize("kind", ["memmap", "transposed", "strided", "read_only", "subclass"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_numpy_kinds(case, kind, tmp_path):
    arrays = case.inputs(np.random.default_rng(0))
    wrap = {
        "memmap": _memmap(tmp_path), "transposed": _transposed, "strided": _strided,
        "read_only": _read_only, "subclass": lambda a: a.view(_Sub),
    }[kind]
    out = _call(case, arrays, wrap)
    assert type(out) is np.ndarray or np.isscalar(out)
    assert_close(out, _expected(case, arrays), rtol=1e-6, atol=1e-6)


def test_masked_array_is_refused():
    y = np.zeros((3, 2))
    with pytest.raises(TypeError, match="y_pred: masked arrays are not supported"):
        ul.mean_squared_error(y, np.ma.masked_array(y, mask=y == 0))
    with pytest.raises(TypeError, match="sample_weight: masked arrays are not supported"):
        ul.mean_squared_error(y, y, sample_weight=np.ma.masked_array(np.ones(3), mask=[0, 1, 0]))


# ------------------------------------------------------------------ variables
@selected("tensorflow")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_tf_variable(case):
    import tensorflow as tf

    arrays = case.inputs(np.random.default_rng(0))
    i = _lead(case)
    var = tf.Variable(arrays[i])
    with tf.GradientTape() as tape:
        out = _call(case, arrays, lambda a: var)
        total = tf.reduce_sum(out)
    assert isinstance(out, tf.Tensor)
    assert_close(out, _expected(case, arrays), rtol=case.rtol, atol=case.atol)
    grad = tape.gradient(total, var)
    assert grad is not None and np.all(np.isfinite(grad.numpy()))


@selected("torch")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_torch_parameter_and_views(case):
    import torch

    arrays = case.inputs(np.random.default_rng(0))
    i = _lead(case)
    param = torch.nn.Parameter(torch.as_tensor(arrays[i]))
    out = _call(case, [torch.as_tensor(a) if np.asarray(a).ndim else a for a in arrays], lambda a: param)
    assert_close(out, _expected(case, arrays), rtol=case.rtol, atol=case.atol)
    out.sum().backward()
    assert param.grad is not None and torch.isfinite(param.grad).all()
    if arrays[i].ndim > 1:  # a transposed (non-contiguous) view
        t = torch.as_tensor(np.ascontiguousarray(np.swapaxes(arrays[i], 0, -1))).transpose(0, -1)
        assert not t.is_contiguous()
        assert_close(_call(case, arrays, lambda a: t), _expected(case, arrays), rtol=case.rtol, atol=case.atol)


_KERAS_SCRIPT = r"""
import numpy as np, keras, unilosses as ul
from unilosses.testing import to_numpy
rng = np.random.default_rng(0)
z = rng.standard_normal((5, 4)).astype("float32"); y = rng.integers(0, 4, 5)
v = keras.Variable(z)
for fn, target in ((ul.sparse_categorical_crossentropy, y), (ul.categorical_crossentropy, np.eye(4, dtype="float32")[y]),
                   (ul.binary_crossentropy, (z > 0).astype("float32"))):
    out = to_numpy(fn(target, v, from_logits=True))
    ref = to_numpy(fn(target, z, from_logits=True))
    assert np.allclose(out, ref, rtol=1e-6, atol=1e-6), (fn.__name__, out, ref)
print("ok", keras.backend.backend())
"""


@pytest.mark.multi
@pytest.mark.skipif(not _HAS["keras"], reason="needs keras")
@pytest.mark.parametrize("keras_backend", ["tensorflow", "jax", "torch"])
def test_keras_variable_on_each_keras_backend(keras_backend):
    framework = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[keras_backend]
    if not _HAS[framework]:
        pytest.skip(f"needs {framework}")
    env = dict(os.environ, KERAS_BACKEND=keras_backend, TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([sys.executable, "-c", _KERAS_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and f"ok {keras_backend}" in r.stdout, r.stderr[-3000:]


# ------------------------------------------------------- 0-d arrays and scalars
def test_python_scalar_and_0d_targets(backend):
    """A scalar target applies to every element (Keras broadcasts it): same as the full target."""
    rng = np.random.default_rng(0)
    z = backend.asarray(rng.standard_normal((4, 3)).astype(np.float32))
    full = ul.binary_crossentropy(np.ones((4, 3), np.float32), z, from_logits=True)
    for target in (1.0, np.float32(1.0), np.asarray(1.0, np.float32), backend.asarray(np.asarray(1.0, np.float32))):
        assert_close(ul.binary_crossentropy(target, z, from_logits=True), to_numpy(full), rtol=1e-6, atol=1e-6, like=z)


def test_0d_predictions(backend):
    """A single element: per-element losses with axis=None; averaging over an axis needs one."""
    p = backend.asarray(np.asarray(0.3, np.float32))
    out = ul.binary_crossentropy(1.0, p, axis=None)
    assert_close(out, np.float32(-np.log(0.3)), rtol=1e-6, like=p)
    assert_close(ul.mean_squared_error(2.0, p, axis=None), np.float32(1.7**2), rtol=1e-6, like=p)
    with pytest.raises(ValueError, match="axis: expected an axis in"):
        ul.binary_crossentropy(1.0, p)


@selected("jax")
def test_jax_weakly_typed_inputs():
    import jax.numpy as jnp

    p = jnp.asarray(0.3)  # weakly typed
    out = ul.binary_crossentropy(jnp.asarray(1.0), p, axis=None)
    assert out.dtype == jnp.float32
    assert_close(out, np.float32(-np.log(0.3)), rtol=1e-6)
