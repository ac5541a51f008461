"""linear_log_probs: the selected tokens' log-probabilities (and entropies) of ``h @ W.T + b``.

References, on random inputs: :func:`unilosses.token_log_probs` of the full logits (NumPy,
float64), and each framework's own ``log_softmax(...)`` taken at the labels with its own
entropy ``-sum softmax * log_softmax``, differentiated by its own autodiff (torch autograd,
``jax.grad``, ``tf.GradientTape``) through per-token cotangents of both outputs; eagerly and
under ``torch.compile``, ``jax.jit`` and ``tf.function``; 16-bit inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import selected
from test_linear import framework_grads

import unilosses as ul
from unilosses.backends.linear_generic import LinearOptions, chunk_terms
from unilosses.testing import ArrayBackend, assert_close, available_backends, to_numpy

N, D, V, CHUNK = 13, 5, 11, 4  # an uneven last chunk
AUTODIFF = [b for b in ("torch", "jax", "tensorflow") if b in available_backends()]
#: (temperature, softcap, bias, ignore_index): each option on in some case, the last one all together
CASES = [(1.0, None, False, None), (0.7, None, True, None), (1.3, 2.5, False, -100), (0.6, 3.0, True, -100)]
TOL = {"float32": {"rtol": 2e-5, "atol": 2e-5}, "float64": {"rtol": 1e-10, "atol": 1e-10}}


def _ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [f"T{t}-cap{c}-{'bias' if b else 'nobias'}-{'ignore' if i else 'all'}" for t, c, b, i in cases]


def _draw(case: tuple[Any, ...], seed: int = 0, lead: tuple[int, ...] = (N,)) -> dict[str, Any]:
    temperature, cap, bias, ignore = case
    rng = np.random.default_rng(seed)
    y = rng.integers(0, V, lead)
    if ignore is not None:
        y.reshape(-1)[[1, 6, 12]] = ignore  # one of them in the short last chunk
    return {
        "y": y,
        "h": rng.standard_normal(lead + (D,)),
        "w": rng.standard_normal((V, D)) * 1.5,
        "b": rng.standard_normal(V) if bias else None,
        "ca": rng.uniform(-1.0, 2.0, lead),  # per-token cotangents of the log-probabilities
        "cb": rng.uniform(-1.0, 2.0, lead),  # and of the entropies
        "kw": {"temperature": temperature, "softcap": cap, "ignore_index": ignore, "chunk_size": CHUNK},
    }


def _reference_numpy(a: dict[str, Any]) -> tuple[Any, Any]:
    """token_log_probs of the full, soft-capped logits (float64)."""
    z = a["h"] @ a["w"].T + (0.0 if a["b"] is None else a["b"])
    cap = a["kw"]["softcap"]
    if cap is not None:
        z = cap * np.tanh(z / cap)
    kw = {"temperature": a["kw"]["temperature"], "ignore_index": a["kw"]["ignore_index"]}
    return ul.token_log_probs(a["y"], z, return_entropy=True, **kw)


def _own(framework: str, y: Any, h: Any, w: Any, b: Any, kw: dict[str, Any]) -> tuple[Any, Any]:
    """The framework's own log_softmax at the labels and entropy, of the full logits (0 where ignored)."""
    t, cap, ignore = kw["temperature"], kw["softcap"], kw["ignore_index"]
    if framework == "torch":
        import torch

        z = h @ w.T if b is None else h @ w.T + b
        z = z if cap is None else cap * torch.tanh(z / cap)
        lsm = torch.log_softmax(z / t, -1)
        keep = y != ignore if ignore is not None else torch.ones_like(y, dtype=torch.bool)
        lp = lsm.gather(-1, torch.where(keep, y, 0)[..., None])[..., 0]
        ent = -(lsm.exp() * lsm).sum(-1)
        return torch.where(keep, lp, 0.0), torch.where(keep, ent, 0.0)
    if framework == "jax":
        import jax
        import jax.numpy as jnp

        z = h @ w.T if b is None else h @ w.T + b
        z = z if cap is None else cap * jnp.tanh(z / cap)
        lsm = jax.nn.log_softmax(z / t, axis=-1)
        keep = y != ignore if ignore is not None else jnp.ones(y.shape, bool)
        lp = jnp.take_along_axis(lsm, jnp.where(keep, y, 0)[..., None], axis=-1)[..., 0]
        ent = -(jnp.exp(lsm) * lsm).sum(-1)
        return jnp.where(keep, lp, 0.0), jnp.where(keep, ent, 0.0)
    import tensorflow as tf

    z = tf.linalg.matmul(h, w, transpose_b=True)
    z = z if b is None else z + b
    z = z if cap is None else cap * tf.tanh(z / cap)
    lsm = tf.nn.log_softmax(z / t, axis=-1)
    keep = tf.not_equal(y, ignore) if ignore is not None else tf.ones(tf.shape(y), tf.bool)
    lp = tf.gather(lsm, tf.where(keep, y, tf.zeros_like(y)), batch_dims=len(y.shape))
    ent = -tf.reduce_sum(tf.exp(lsm) * lsm, axis=-1)
    return tf.where(keep, lp, tf.zeros_like(lp)), tf.where(keep, ent, tf.zeros_like(ent))


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _fused(y: Any, h: Any, w: Any, b: Any, kw: dict[str, Any]) -> tuple[Any, Any]:
    return ul.linear_log_probs(y, h, w, b, return_entropy=True, **kw)


def _value_and_grads(framework: str, f: Any, xs: list[Any], compiled: bool = False) -> tuple[float, list[np.ndarray]]:
    """``f(h, w, b)`` (a scalar; ``b`` may be None) and its gradients w.r.t. the arrays given, as
    NumPy; ``compiled``: under torch.compile / jax.jit / tf.function."""
    given = [x for x in xs if x is not None]

    def call(*arrays: Any) -> Any:
        it = iter(arrays)
        return f(*(None if x is None else next(it) for x in xs))

    if framework == "torch":
        import torch

        ts = [torch.as_tensor(x).requires_grad_(True) for x in given]
        fn = torch.compile(call, fullgraph=True, backend="aot_eager") if compiled else call
        out = fn(*ts)
        grads = torch.autograd.grad(out, ts)
        return float(out.detach()), [g.numpy() for g in grads]
    if framework == "jax":
        import jax

        vg = jax.value_and_grad(call, argnums=tuple(range(len(given))))
        out, grads = (jax.jit(vg) if compiled else vg)(*(jax.numpy.asarray(x) for x in given))
        return float(out), [np.asarray(gr) for gr in grads]
    import tensorflow as tf

    def run(*ts: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(ts)
            out = call(*ts)
        return out, tape.gradient(out, list(ts))

    ts = [tf.convert_to_tensor(x) for x in given]
    out, grads = (tf.function(run) if compiled else run)(*ts)
    return float(out), [g.numpy() for g in grads]


def _objective(framework: str, a: dict[str, Any], fn: Any, dtype: str, entropy: bool = True) -> Any:
    """``sum(ca * log_probs + cb * entropy)`` of ``fn``'s outputs, as a function of (h, w, b)."""
    be = ArrayBackend(framework)
    y, ca, cb = be.asarray(a["y"]), be.asarray(a["ca"], dtype), be.asarray(a["cb"], dtype)

    def f(h: Any, w: Any, b: Any) -> Any:
        lp, ent = fn(y, h, w, b, a["kw"])
        total = lp * ca + ent * cb if entropy else lp * ca
        return _tf().reduce_sum(total) if framework == "tensorflow" else total.sum()

    return f


def _only_log_probs(y: Any, h: Any, w: Any, b: Any, kw: dict[str, Any]) -> tuple[Any, Any]:
    return ul.linear_log_probs(y, h, w, b, **kw), None


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_values_every_backend(backend, case):
    """Log-probabilities and entropies equal token_log_probs of the full logits (float64 NumPy),
    and, on torch, JAX and TensorFlow, the framework's own log_softmax at the labels."""
    a = _draw(case)
    dtype = "float32"
    xs = [None if a[k] is None else backend.asarray(a[k], dtype) for k in ("h", "w", "b")]
    y = backend.asarray(a["y"])
    lp, ent = ul.linear_log_probs(y, *xs, return_entropy=True, **a["kw"])
    only = ul.linear_log_probs(y, *xs, **a["kw"])
    expected_lp, expected_ent = _reference_numpy(a)
    for got, want in ((lp, expected_lp), (ent, expected_ent), (only, expected_lp)):
        assert tuple(got.shape) == (N,)
        assert_close(got, want, rtol=1e-5, atol=1e-5, like=xs[0])
    if a["kw"]["ignore_index"] is not None:
        assert np.all(to_numpy(lp)[[1, 6, 12]] == 0) and np.all(to_numpy(ent)[[1, 6, 12]] == 0)
    if backend.name in AUTODIFF:
        own_lp, own_ent = _own(backend.name, y, *xs, a["kw"])
        assert_close(lp, to_numpy(own_lp), rtol=1e-5, atol=1e-5, like=xs[0])
        assert_close(ent, to_numpy(own_ent), rtol=1e-5, atol=1e-5, like=xs[0])


def test_numpy_float64_every_case_and_chunk_size():
    for case in CASES:
        a = _draw(case)
        expected = _reference_numpy(a)
        for chunk in (None, 1, 3, 13, 100):
            kw = dict(a["kw"], chunk_size=chunk)
            got = ul.linear_log_probs(a["y"], a["h"], a["w"], a["b"], return_entropy=True, **kw)
            for g, e in zip(got, expected):
                np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def test_sequences_keep_the_leading_shape(backend):
    """(batch, time, D) hidden states give (batch, time) outputs."""
    a = _draw(CASES[-1], seed=1, lead=(3, 7))
    xs = [None if a[k] is None else backend.asarray(a[k], "float32") for k in ("h", "w", "b")]
    lp, ent = ul.linear_log_probs(backend.asarray(a["y"]), *xs, return_entropy=True, **a["kw"])
    expected_lp, expected_ent = _reference_numpy(a)
    assert tuple(lp.shape) == (3, 7) and tuple(ent.shape) == (3, 7)
    assert_close(lp, expected_lp, rtol=1e-5, atol=1e-5, like=xs[0])
    assert_close(ent, expected_ent, rtol=1e-5, atol=1e-5, like=xs[0])


def test_empty_and_fully_ignored(backend):
    rng = np.random.default_rng(2)
    w = backend.asarray(rng.standard_normal((V, D)), "float32")
    h = backend.asarray(rng.standard_normal((4, D)), "float32")
    lp, ent = ul.linear_log_probs(backend.asarray(np.full(4, -100)), h, w, ignore_index=-100, return_entropy=True)
    assert np.all(to_numpy(lp) == 0) and np.all(to_numpy(ent) == 0)
    if backend.name != "dask":  # dask: an empty array cannot be reshaped (the flat (0, D) case is linear_cross_entropy's)
        lp = ul.linear_log_probs(backend.asarray(np.zeros((0,), np.int64)), backend.asarray(np.zeros((0, D)), "float32"), w)
        assert tuple(lp.shape) == (0,)


# -------------------------------------------------------------- gradients
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
@pytest.mark.parametrize("framework", AUTODIFF)
def test_gradients_equal_the_frameworks_own(framework, case, dtype):
    """d/d(h, W, b) of sum(ca * log_probs + cb * entropy), and of sum(ca * log_probs) alone,
    equal the same framework's autodiff through its own log_softmax."""
    if framework == "jax" and dtype == "float64":
        pytest.skip("JAX runs float32 here (x64 is process-wide); float64 is torch's and TensorFlow's")
    a = _draw(case)
    xs = [None if a[k] is None else a[k].astype(dtype) for k in ("h", "w", "b")]
    for entropy, fused in ((True, _fused), (False, _only_log_probs)):
        own = _objective(framework, a, lambda *x: _own(framework, *x), dtype, entropy)
        got = _value_and_grads(framework, _objective(framework, a, fused, dtype, entropy), xs)
        want = _value_and_grads(framework, own, xs)
        for name, g, e in zip(("value", "d hidden", "d weight", "d bias"), [got[0], *got[1]], [want[0], *want[1]]):
            np.testing.assert_allclose(g, e, **TOL[dtype], err_msg=f"entropy={entropy}: {name}")


@pytest.mark.parametrize("framework", AUTODIFF)
def test_compiled_equals_eager(framework):
    """Under torch.compile, jax.jit and tf.function: the eager values and gradients."""
    a = _draw(CASES[-1])
    xs = [a[k].astype("float32") for k in ("h", "w", "b")]
    f = _objective(framework, a, _fused, "float32")
    eager = _value_and_grads(framework, f, xs)
    compiled = _value_and_grads(framework, f, xs, compiled=True)
    for g, e in zip([compiled[0], *compiled[1]], [eager[0], *eager[1]]):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


@selected("torch")
def test_torch_chunk_kernel_equals_the_shared_math():
    """linear_torch._terms (in place) == linear_generic.chunk_terms with a temperature, a soft cap
    and the entropy: values, entropies, and the folded gradient of both."""
    import array_api_compat.torch as xtorch
    import torch

    from unilosses.backends.linear_torch import _Blocks, _terms

    a = _draw(CASES[-1])
    o = LinearOptions(0.0, 0.0, 3.0, None, 0.6, True)
    h, w, b = (torch.as_tensor(a[k]) for k in ("h", "w", "b"))
    y = torch.as_tensor(np.where(a["y"] < 0, 0, a["y"]))
    ca, cb = torch.as_tensor(a["ca"]), torch.as_tensor(a["cb"])
    u = h @ w.T + b
    v0, l0, _, e0 = chunk_terms(xtorch, u, y, torch.arange(V)[None, :], None, V, o)
    _, _, g0, _ = chunk_terms(xtorch, u, y, torch.arange(V)[None, :], None, V, o, grad=True, lse=l0, entropy=e0,
                              cotangents=(ca, cb))
    bufs = _Blocks(N, V, torch.float64, h.device)
    v1, l1, _, e1 = _terms(h, w.T, b, y, None, V, o, bufs, False, None)
    _, _, g1, _ = _terms(h, w.T, b, y, None, V, o, bufs, True, l0, e0, (ca, cb))
    for x, e in ((v1, v0), (l1, l0), (e1, e0), (g1, g0)):
        torch.testing.assert_close(x, e, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision(backend, dtype):
    """16-bit hidden / weight: float32 outputs close to float32 on the same rounded inputs;
    gradients in the inputs' dtype, close to float32's."""
    if backend.name == "array_api_strict" or (backend.name == "dask" and dtype == "bfloat16"):
        pytest.skip(f"{backend.name}: no {dtype} here")
    a = _draw(CASES[-1])
    h, w, b = (backend.asarray(a[k], dtype) for k in ("h", "w", "b"))
    y = backend.asarray(a["y"])
    lp, ent = ul.linear_log_probs(y, h, w, b, return_entropy=True, **a["kw"])
    assert "float32" in str(lp.dtype) and "float32" in str(ent.dtype)
    rounded = dict(a, **{k: to_numpy(x).astype(np.float64) for k, x in (("h", h), ("w", w), ("b", b))})
    for got, want in zip((lp, ent), _reference_numpy(rounded)):
        assert_close(got, want, rtol=3e-2, atol=3e-2)
    if backend.name in AUTODIFF:
        f = _objective(backend.name, a, _fused, "float32")
        g16 = _value_and_grads(backend.name, lambda *x: f(*x), [to_numpy(x).astype(np.float32) for x in (h, w, b)])
        grads = framework_grads(backend.name, f, [h, w, b])
        for g, g32, x in zip(grads, g16[1], (h, w, b)):
            assert g.dtype == x.dtype
            np.testing.assert_allclose(to_numpy(g).astype(np.float32), g32, rtol=0.1, atol=0.1)


# ------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"temperature": "1"}, TypeError, "temperature"),
        ({"temperature": True}, TypeError, "temperature"),
        ({"softcap": -1.0}, ValueError, "softcap"),
        ({"softcap": float("inf")}, ValueError, "softcap"),
        ({"return_entropy": 1}, TypeError, "return_entropy"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"chunk_size": 2.0}, TypeError, "chunk_size"),
        ({"ignore_index": 1.5}, TypeError, "ignore_index"),
    ],
)
def test_bad_options(change, exc, match):
    a = _draw(CASES[0])
    with pytest.raises(exc, match=match):
        ul.linear_log_probs(a["y"], a["h"], a["w"], **change)


def test_bad_inputs(backend):
    a = _draw(CASES[0])
    h, w = backend.asarray(a["h"], "float32"), backend.asarray(a["w"], "float32")
    y = backend.asarray(a["y"])
    with pytest.raises(TypeError, match="y_true"):
        ul.linear_log_probs(backend.asarray(a["y"], "float32"), h, w)
    with pytest.raises(ValueError, match="weight"):
        ul.linear_log_probs(y, h, backend.asarray(a["w"][:, :3], "float32"))
    with pytest.raises(ValueError, match="y_true"):
        ul.linear_log_probs(backend.asarray(a["y"][:5]), h, w)
    with pytest.raises(ValueError, match="bias"):
        ul.linear_log_probs(y, h, w, backend.asarray(np.zeros(V + 1), "float32"))
    bad = a["y"].copy()
    bad[2] = V
    if backend.name in ("numpy", "torch", "tensorflow"):  # labels readable without a synchronisation
        with pytest.raises(ValueError, match="y_true"):
            ul.linear_log_probs(backend.asarray(bad), h, w)
    else:
        lp, ent = (to_numpy(x) for x in ul.linear_log_probs(backend.asarray(bad), h, w, return_entropy=True))
        assert np.isnan(lp[2]) and np.isnan(ent[2]) and np.isfinite(np.delete(lp, 2)).all()
