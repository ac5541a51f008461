"""linear_cross_entropy: equal to the unfused sparse cross-entropy of ``h @ W.T + b``.

The reference is unilosses' own sparse cross-entropy on the full logits (whose values
and gradients the conformance suite pins to torch, optax and tf.nn), differentiated by
the same framework's autodiff. Every combination of the six options (bias, class
weights, ignored tokens, label smoothing, z-loss, soft cap) with an uneven last chunk:
values on every backend, gradients w.r.t. hidden, weight and bias on torch, JAX and
TensorFlow, through a per-token cotangent (``reduction="none"``: the recomputing
gradient) and through reductions with sample weights (the gradient computed in the
forward pass), to 1e-5 in float32 and 1e-10 in float64. Torch runs all 64
combinations; TensorFlow a covering subset (each pair of options in all four states), JAX three
of its rows (CI time), JAX in float64 the richest combination (the covering subset runs in float32 on JAX and
TensorFlow: the same code paths; a float64 run of it took 74 s of CI).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.backends.linear_generic import LinearOptions, chunk_terms, tokens_per_chunk
from unilosses.testing import ArrayBackend, assert_close, available_backends, to_numpy

N, D, V, CHUNK = 13, 5, 11, 4  # 13 tokens in chunks of 4: an uneven last chunk
OPTIONS = ("bias", "class_weight", "ignore_index", "label_smoothing", "z_loss", "softcap")
ALL = list(itertools.product((False, True), repeat=len(OPTIONS)))
# an orthogonal array (L8): every pair of options in all four states, in 8 rows
COVERING = [tuple(bool(c) for c in (a, b, a ^ b, k, a ^ k, b ^ k)) for a, b, k in itertools.product((0, 1), repeat=3)]
AUTODIFF = [b for b in ("torch", "jax", "tensorflow") if b in available_backends()]
TOL = {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-10}}
ROOT = Path(__file__).resolve().parent.parent


def _ids(combos: list[tuple[bool, ...]]) -> list[str]:
    return ["-".join(o for o, on in zip(OPTIONS, c) if on) or "plain" for c in combos]


def _draw(combo: tuple[bool, ...], seed: int = 0, n: int = N) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arrays, options) for an option combination (float64 NumPy)."""
    on = dict(zip(OPTIONS, combo))
    rng = np.random.default_rng(seed)
    arrays = {
        "y": rng.integers(0, V, n),
        "h": rng.standard_normal((n, D)),
        "w": rng.standard_normal((V, D)) * 1.5,
        "b": rng.standard_normal(V) if on["bias"] else None,
        "sw": rng.uniform(0.0, 2.0, n),
        "cot": rng.uniform(-1.0, 2.0, n),  # a per-token cotangent for reduction="none"
    }
    kw: dict[str, Any] = {"chunk_size": CHUNK}
    if on["class_weight"]:
        kw["class_weight"] = rng.uniform(0.2, 3.0, V)
    if on["ignore_index"]:
        arrays["y"][[1, 6, 12]] = -100  # one of them in the short last chunk
        kw["ignore_index"] = -100
    if on["label_smoothing"]:
        kw["label_smoothing"] = 0.15
    if on["z_loss"]:
        kw["z_loss"] = 0.03
    if on["softcap"]:
        kw["softcap"] = 2.5
    return arrays, kw


def _unfused(y: Any, h: Any, w: Any, b: Any, **kw: Any) -> Any:
    """The reference: unilosses' sparse cross-entropy of the full logits."""
    kw = {k: v for k, v in kw.items() if k != "chunk_size"}
    if type(w).__module__.startswith("tensorflow"):
        z = _tf().matmul(h, w, transpose_b=True)
    else:
        z = h @ w.T
    return ul.sparse_categorical_crossentropy(y, z if b is None else z + b, from_logits=True, **kw)


def _tf() -> Any:
    import tensorflow as tf

    return tf


# --------------------------------------------------------------- autodiff
def _value_and_grads(framework: str, f: Any, h: Any, w: Any, b: Any) -> tuple[float, list[np.ndarray]]:
    """``f(h, w, b)`` (a scalar) and its gradient w.r.t. the arrays given, as NumPy."""
    xs = [x for x in (h, w, b) if x is not None]
    if framework == "torch":
        import torch

        ts = [torch.as_tensor(x).requires_grad_(True) for x in xs]
        out = f(*ts, *([None] * (3 - len(ts))))
        grads = torch.autograd.grad(out, ts)
        return float(out.detach()), [g.numpy() for g in grads]
    if framework == "jax":
        import jax

        def g(*a: Any) -> Any:
            return f(*a, *([None] * (3 - len(a))))

        # jitted: one trace and compile per objective, not an eager dispatch of every scan step
        vg = jax.jit(jax.value_and_grad(g, argnums=tuple(range(len(xs)))))
        out, grads = vg(*(jax.numpy.asarray(x) for x in xs))
        return float(out), [np.asarray(gr) for gr in grads]
    tf = _tf()
    ts = [tf.convert_to_tensor(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(ts)
        out = f(*ts, *([None] * (3 - len(ts))))
    return float(out), [g.numpy() for g in tape.gradient(out, ts)]


def _objectives(be: ArrayBackend, a: dict[str, Any], kw: dict[str, Any], dtype: str) -> dict[str, Any]:
    """Scalars of the loss that reach it through each kind of cotangent."""
    y, sw, cot = be.asarray(a["y"]), be.asarray(a["sw"], dtype), be.asarray(a["cot"], dtype)
    kw = {k: be.asarray(v, dtype) if isinstance(v, np.ndarray) else v for k, v in kw.items()}

    def total(fn: Any) -> Any:
        def f(h: Any, w: Any, b: Any) -> Any:
            none = fn(y, h, w, b, **kw)
            mean = fn(y, h, w, b, **kw, sample_weight=sw, reduction="mean_with_sample_weight")
            stats = fn(y, h, w, b, **kw, sample_weight=sw, reduction="stats")
            plain = fn(y, h, w, b, **kw, reduction="sum_over_batch_size")
            return (none * cot).sum() if be.name != "tensorflow" else _tf().reduce_sum(none * cot), mean, stats.total, plain

        return f

    return {"fused": total(ul.linear_cross_entropy), "unfused": total(_unfused)}


def _check_gradients(framework: str, combo: tuple[bool, ...], dtype: str) -> None:
    be = ArrayBackend(framework)
    a, kw = _draw(combo)
    h, w, b = (None if a[k] is None else a[k].astype(dtype) for k in ("h", "w", "b"))
    objectives = _objectives(be, a, kw, dtype)
    for i, part in enumerate(("none", "mean_with_sample_weight", "stats", "sum_over_batch_size")):
        got = _value_and_grads(framework, lambda *x, i=i: objectives["fused"](*x)[i], h, w, b)
        expected = _value_and_grads(framework, lambda *x, i=i: objectives["unfused"](*x)[i], h, w, b)
        for name, g, e in zip(("value", "d hidden", "d weight", "d bias"), [got[0], *got[1]], [expected[0], *expected[1]]):
            np.testing.assert_allclose(g, e, **TOL[dtype], err_msg=f"{part}: {name}")


@selected("torch")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("combo", ALL, ids=_ids(ALL))
def test_torch_every_option_combination(combo, dtype):
    _check_gradients("torch", combo, dtype)


def _covering_for(framework: str) -> list[tuple[tuple[bool, ...], str]]:
    """The covering combinations a framework's gradients run: all on TensorFlow; on JAX (18 s a
    combination, the CI's costliest) the plain, a middle and the richest one."""
    runs = list(zip(COVERING, _ids(COVERING)))
    return runs if framework != "jax" else [runs[0], runs[len(runs) // 2], runs[-1]]


# JAX in float64 runs in one x64 subprocess: by default for the richest combination only
_COVERING_RUNS = [
    pytest.param(f, c, d, id=f"{f}-{i}-{d}")
    for f in ("jax", "tensorflow")
    for d in ("float32", "float64")
    for c, i in ([(ALL[-1], _ids(ALL)[-1])] if (f, d) == ("jax", "float64") else _covering_for(f))
    if f in AUTODIFF
]


@pytest.mark.parametrize(("framework", "combo", "dtype"), _COVERING_RUNS)
def test_jax_tensorflow_covering_combinations(framework, combo, dtype):
    if framework == "jax" and dtype == "float64":
        _x64_subprocess([combo])
        return
    _check_gradients(framework, combo, dtype)


_X64 = {}


def _x64_subprocess(combos: list[tuple[bool, ...]]) -> None:
    """JAX in float64 needs x64 enabled before any array exists: one subprocess for all combos."""
    if "jax" not in AUTODIFF:
        pytest.skip("jax is not installed or not selected")
    key = tuple(combos)
    if key not in _X64:
        code = (
            "import jax, json, sys; jax.config.update('jax_enable_x64', True)\n"
            "sys.path.insert(0, 'tests'); import test_linear as t\n"
            f"for c in {combos!r}: t._check_gradients('jax', c, 'float64')\n"
            "print('ok')"
        )
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        _X64[key] = (out.returncode, out.stdout[-2000:] + out.stderr[-4000:])
    rc, log = _X64[key]
    assert rc == 0 and log.startswith("ok"), log


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("combo", COVERING, ids=_ids(COVERING))
def test_values_every_backend(backend, combo):
    """Every reduction on every backend equals the unfused loss on NumPy."""
    if backend.name == "dask" and combo not in (COVERING[0], COVERING[-1]):
        pytest.skip("dask runs NumPy's chunk code (checked on every combination): plain and richest only")
    a, kw = _draw(combo)
    dtype = "float32"
    np_kw = {k: v.astype(dtype) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    np_in = [a["y"], a["h"].astype(dtype), a["w"].astype(dtype), None if a["b"] is None else a["b"].astype(dtype)]
    xs = [None if x is None else backend.asarray(x) for x in np_in]
    bkw = {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in np_kw.items()}
    for reduction in ul.REDUCTIONS:
        for sw in (None, a["sw"].astype(dtype)):
            expected = _unfused(*np_in, **np_kw, reduction=reduction, sample_weight=sw)
            out = ul.linear_cross_entropy(*xs, **bkw, reduction=reduction,
                                          sample_weight=None if sw is None else backend.asarray(sw))
            assert_close(out, expected, rtol=1e-5, atol=1e-6, like=xs[1])


def test_numpy_every_option_combination_float64():
    for combo in ALL:
        a, kw = _draw(combo)
        for reduction in ul.REDUCTIONS:
            got = ul.linear_cross_entropy(a["y"], a["h"], a["w"], a["b"], **kw, reduction=reduction, sample_weight=a["sw"])
            expected = _unfused(a["y"], a["h"], a["w"], a["b"], **kw, reduction=reduction, sample_weight=a["sw"])
            assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [None, 1, 3, 13, 100])
def test_chunk_sizes_and_sequences(backend, chunk_size):
    """(batch, time, D) hidden states, chunks from one token to more than the batch."""
    rng = np.random.default_rng(1)
    h = rng.standard_normal((3, 7, D)).astype(np.float32)
    w = rng.standard_normal((V, D)).astype(np.float32)
    y = rng.integers(0, V, (3, 7))
    y[2, 4:] = -1
    expected = _unfused(y, h, w, None, ignore_index=-1)
    out = ul.linear_cross_entropy(backend.asarray(y), backend.asarray(h), backend.asarray(w), ignore_index=-1,
                                  chunk_size=chunk_size)
    assert_close(out, expected, rtol=1e-5, atol=1e-6, like=backend.asarray(h))


def test_default_chunk_keeps_the_block_size():
    assert tokens_per_chunk(4096, 32000) == 256  # 8.2M logits: 32 MB in float32
    assert tokens_per_chunk(4096, 256_000) == 32
    assert tokens_per_chunk(10, 32000) == 10
    assert tokens_per_chunk(4096, 10**8) == 1
    assert tokens_per_chunk(100, 32000, 7) == 7


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_fully_ignored_batch(backend, smoothing):
    """Every label ignored: every reduction is 0, and the gradients are 0 (finite)."""
    rng = np.random.default_rng(2)
    y = np.full(N, -100)
    h = rng.standard_normal((N, D)).astype(np.float32)
    w = rng.standard_normal((V, D)).astype(np.float32)
    b = rng.standard_normal(V).astype(np.float32)
    xs = [backend.asarray(x) for x in (y, h, w, b)]
    kw = {"ignore_index": -100, "label_smoothing": smoothing, "z_loss": 0.1, "chunk_size": CHUNK}
    for reduction in ul.REDUCTIONS:
        out = to_numpy(ul.linear_cross_entropy(*xs, **kw, reduction=reduction))
        assert all(np.all(np.asarray(v) == 0) for v in (out if reduction == "stats" else (out,)))
    if backend.name in AUTODIFF:
        for reduction in ("none", "sum_over_batch_size", "mean_with_sample_weight"):
            def f(h_: Any, w_: Any, b_: Any, reduction: str = reduction) -> Any:
                out = ul.linear_cross_entropy(xs[0], h_, w_, b_, **kw, reduction=reduction)
                return out.sum() if backend.name != "tensorflow" else _tf().reduce_sum(out)

            _, grads = _value_and_grads(backend.name, f, h, w, b)
            assert all(np.all(g == 0) for g in grads), reduction


# -------------------------------------------------------- the shared math
@selected("torch")
@pytest.mark.parametrize("combo", COVERING, ids=_ids(COVERING))
def test_torch_chunk_kernel_equals_the_shared_math(combo):
    """linear_torch._terms (fused, in place) == linear_generic.chunk_terms."""
    import array_api_compat.torch as xtorch
    import torch

    from unilosses.backends.linear_torch import _Blocks, _terms

    a, kw = _draw(combo)
    o = LinearOptions(kw.get("label_smoothing", 0.0), kw.get("z_loss", 0.0), kw.get("softcap"), None)
    h, w = torch.as_tensor(a["h"]), torch.as_tensor(a["w"])
    b = None if a["b"] is None else torch.as_tensor(a["b"])
    y = torch.as_tensor(np.where(a["y"] < 0, 0, a["y"]))
    cw = None if "class_weight" not in kw else torch.as_tensor(kw["class_weight"])
    classes = torch.arange(V)[None, :]
    wsum = V if cw is None else cw.sum()
    u = h @ w.T if b is None else h @ w.T + b
    v0, l0, g0, _ = chunk_terms(xtorch, u, y, classes, cw, wsum, o, grad=True)
    bufs = _Blocks(N + 3, V, torch.float64, h.device)  # reused by both calls, as by a pass's chunks
    v1, l1, g1, _ = _terms(h, w.T, b, y, cw, wsum, o, bufs, True, None)
    _, _, g2, _ = _terms(h, w.T, b, y, cw, wsum, o, bufs, True, l0)
    for x, e in ((v1, v0), (l1, l0), (g1, g0), (g2, g0)):
        torch.testing.assert_close(x, e, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision(backend, dtype):
    """16-bit hidden / weight: float32 values, close to float32 on the same rounded inputs;
    gradients in the inputs' dtype."""
    if backend.name == "array_api_strict" or (backend.name == "dask" and dtype == "bfloat16"):
        pytest.skip(f"{backend.name}: no {dtype} here")
    rng = np.random.default_rng(3)
    h = backend.asarray(rng.standard_normal((N, D)), dtype)
    w = backend.asarray(rng.standard_normal((V, D)), dtype)
    y = backend.asarray(rng.integers(0, V, N))
    out = ul.linear_cross_entropy(y, h, w, chunk_size=CHUNK, label_smoothing=0.1)
    assert "float32" in str(out.dtype)
    h32, w32 = (to_numpy(x).astype(np.float32) for x in (h, w))
    expected = _unfused(to_numpy(y), h32, w32, None, label_smoothing=0.1)
    assert_close(out, expected, rtol=2e-2, atol=2e-2)
    if backend.name in AUTODIFF:
        def f(h_: Any, w_: Any, _: Any) -> Any:
            out = ul.linear_cross_entropy(y, h_, w_, chunk_size=CHUNK, reduction="sum")
            return out

        gh, gw = framework_grads(backend.name, lambda a, b: f(a, b, None), [h, w])
        assert gh.dtype == h.dtype and gw.dtype == w.dtype


# ------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        ({"w": np.zeros((V, D + 1), np.float32)}, ValueError, r"weight: expected shape \(V, D\)"),
        ({"w": np.zeros((V * D,), np.float32)}, ValueError, r"weight: expected shape \(V, D\)"),
        ({"w": np.zeros((V, D), np.float64)}, TypeError, r"weight: expected hidden's dtype"),
        ({"b": np.zeros(V + 1, np.float32)}, ValueError, r"bias: expected shape \(11,\)"),
        ({"y": np.zeros(N + 1, np.int64)}, ValueError, r"y_true: expected integer labels of hidden's shape"),
        ({"y": np.zeros(N, bool)}, TypeError, r"y_true: expected integer class labels"),
        ({"h": np.zeros((N, D), np.int64)}, TypeError, r"hidden: expected a real floating-point array"),
        ({"cw": np.ones(V + 2, np.float32)}, ValueError, r"class_weight: expected a 1-D array"),
    ],
)
def test_bad_inputs(backend, change, exc, match):
    rng = np.random.default_rng(4)
    a = {"y": rng.integers(0, V, N), "h": rng.standard_normal((N, D)).astype(np.float32),
         "w": rng.standard_normal((V, D)).astype(np.float32), "b": None, "cw": None}
    a.update(change)
    if backend.name == "jax" and a["w"].dtype == np.float64:  # float64 is float32 in JAX without x64
        a["w"] = a["w"].astype(np.float16)
    kw = {} if a["cw"] is None else {"class_weight": backend.asarray(a["cw"])}
    with pytest.raises(exc, match=match):
        ul.linear_cross_entropy(*(None if a[k] is None else backend.asarray(a[k]) for k in "yhwb"), **kw)


@pytest.mark.parametrize(
    ("option", "value", "exc"),
    [("chunk_size", 0, ValueError), ("chunk_size", 2.5, TypeError), ("z_loss", -1.0, ValueError),
     ("softcap", 0.0, ValueError), ("label_smoothing", 1.5, ValueError)],
)
def test_bad_options(option, value, exc):
    with pytest.raises(exc, match=option):
        ul.LinearCrossEntropy(**{option: value})
    with pytest.raises(exc, match=option):
        ul.linear_cross_entropy(np.zeros(2, np.int64), np.zeros((2, D)), np.zeros((V, D)), **{option: value})


def test_z_loss_and_softcap_need_logits():
    y, p = np.array([0, 1]), np.full((2, 3), 1 / 3)
    for kw in ({"z_loss": 0.1}, {"softcap": 5.0}):
        with pytest.raises(ValueError, match="from_logits=True"):
            ul.sparse_categorical_crossentropy(y, p, **kw)
        with pytest.raises(ValueError, match="from_logits=True"):
            ul.categorical_crossentropy(np.eye(3)[y], p, **kw)


def test_out_of_range_labels(backend):
    """A ValueError where labels are read without a sync, NaN there otherwise."""
    rng = np.random.default_rng(5)
    h, w = rng.standard_normal((N, D)).astype(np.float32), rng.standard_normal((V, D)).astype(np.float32)
    for label in (V, -7):
        y = rng.integers(0, V, N)
        y[2] = label
        xs = [backend.asarray(x) for x in (y, h, w)]
        if backend.name in ("numpy", "torch", "tensorflow"):
            with pytest.raises(ValueError, match=rf"y_true: labels must lie in \[0, {V - 1}\]"):
                ul.linear_cross_entropy(*xs)
        else:
            out = to_numpy(ul.linear_cross_entropy(*xs))
            assert np.isnan(out[2]) and np.isfinite(np.delete(out, 2)).all()


@selected("torch")
def test_torch_class_weight_is_not_differentiated():
    import torch
    h = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
    cw = torch.ones(V, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="class_weight"):
        ul.linear_cross_entropy(torch.zeros(N, dtype=torch.int64), h, torch.randn(V, D, dtype=torch.float64),
                                class_weight=cw)


@selected("torch")
def test_torch_reduced_loss_hands_its_weight_gradient_over():
    """A reduced loss's W and b gradients are this node's own buffers, scaled in place and handed over
    (W's gradient exists once): the first backward is exact whatever its cotangent (retain_graph or not),
    a second one through the same graph is a RuntimeError saying what to do, and reduction="none"
    (gradients recomputed in the backward) still supports it."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    gen = torch.Generator().manual_seed(0)
    h = torch.randn(N, D, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(V, D, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(V, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.randint(0, V, (N,), generator=gen)
    expected = torch.autograd.grad(F.cross_entropy(h @ w.T + b, y) * 3.0, [h, w, b])
    loss = ul.linear_cross_entropy(y, h, w, b, reduction="sum_over_batch_size")
    for got, want in zip(torch.autograd.grad(loss * 3.0, [h, w, b], retain_graph=True), expected):
        assert_close(got, want.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError, match="retain_graph=True.*compute the loss again"):
        torch.autograd.grad(loss, [h, w, b])
    per_token = ul.linear_cross_entropy(y, h, w, b, reduction="none")
    torch.autograd.grad(per_token.mean() * 3.0, [h, w, b], retain_graph=True)
    for got, want in zip(torch.autograd.grad(per_token.mean() * 3.0, [h, w, b]), expected):
        assert_close(got, want.numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------- gradient bookkeeping
def test_no_gradient_work_without_gradients():
    """torch.no_grad and an eager TensorFlow call without a tape compute the values only."""
    if "torch" in AUTODIFF:
        import torch

        h = torch.randn(N, D, requires_grad=True)
        with torch.no_grad():
            out = ul.linear_cross_entropy(torch.zeros(N, dtype=torch.int64), h, torch.randn(V, D), reduction="sum")
        assert out.grad_fn is None
    if "tensorflow" in AUTODIFF:
        from unittest import mock

        from unilosses.backends import linear_tf

        tf = _tf()
        with mock.patch.object(linear_tf, "_grad_in_forward", side_effect=AssertionError("gradient work")):
            ul.linear_cross_entropy(tf.zeros(N, tf.int64), tf.ones((N, D)), tf.ones((V, D)), reduction="sum")


@selected("tensorflow")
def test_tf_function_under_an_outer_tape():
    """A tape outside the tf.function cannot be seen inside: the recomputing gradient serves it."""
    tf = _tf()
    a, kw = _draw((True, True, True, True, True, True))
    y, sw = tf.constant(a["y"]), tf.constant(a["sw"])
    kw = {k: tf.constant(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    f = tf.function(lambda *x: ul.linear_cross_entropy(y, *x, **kw, sample_weight=sw, reduction="mean_with_sample_weight"))
    ref = lambda *x: _unfused(y, *x, **kw, sample_weight=sw, reduction="mean_with_sample_weight")  # noqa: E731
    got, expected = (_value_and_grads("tensorflow", fn, a["h"], a["w"], a["b"]) for fn in (f, ref))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-10)
    for g, e in zip(got[1], expected[1]):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


@selected("tensorflow")
@pytest.mark.parametrize("tape", [False, True], ids=["values", "gradients"])
def test_tf_function_with_an_unknown_token_count(tape):
    """A tf.function traced for any number of tokens (Keras retraces so when a batch's shape changes),
    with and without a tape inside: values and gradients equal the unfused loss."""
    tf = _tf()
    a, kw = _draw((True, True, True, True, True, True))
    kw = {k: tf.constant(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    sig = [tf.TensorSpec((None,), tf.as_dtype(a["y"].dtype)), tf.TensorSpec((None, D), tf.float64),
           tf.TensorSpec((V, D), tf.float64), tf.TensorSpec((V,), tf.float64)]

    def value_and_grads(fn):
        def run(y, h, w, b):
            if not tape:  # no tape: the values alone
                return fn(y, h, w, b, **kw, reduction="sum"), []
            with tf.GradientTape() as t:
                t.watch([h, w, b])
                loss = fn(y, h, w, b, **kw, reduction="sum")
            return loss, t.gradient(loss, [h, w, b])
        return tf.function(run, input_signature=sig)

    for n in (N, 3):  # the same trace for two token counts
        args = (tf.constant(a["y"][:n]), tf.constant(a["h"][:n]), tf.constant(a["w"]), tf.constant(a["b"]))
        got, expected = value_and_grads(ul.linear_cross_entropy)(*args), value_and_grads(_unfused)(*args)
        np.testing.assert_allclose(got[0].numpy(), expected[0].numpy(), rtol=1e-10)
        assert len(got[1]) == (3 if tape else 0)
        for g, e in zip(got[1], expected[1]):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-10, atol=1e-12)


@selected("jax")
def test_jax_memory_stays_a_chunk():
    """XLA's own accounting: the jitted forward + backward needs temporaries of a few
    chunks, not of the (N, V) logits (the unfused gradient needs several of those)."""
    import jax
    import jax.numpy as jnp

    n, d, v, chunk = 1024, 64, 8192, 64
    logits = n * v * 4
    y = jnp.zeros(n, jnp.int32)
    h, w = jnp.ones((n, d)), jnp.ones((v, d))

    def temp(loss: Any) -> int:
        compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(h, w).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    fused = temp(lambda h, w: ul.linear_cross_entropy(y, h, w, chunk_size=chunk, reduction="sum"))
    unfused = temp(lambda h, w: ul.sparse_categorical_crossentropy(y, h @ w.T, from_logits=True, reduction="sum"))
    assert unfused >= logits
    assert fused <= 4 * chunk * v * 4 + 2 * v * d * 4, (fused, unfused)


@selected("jax")
def test_jax_weight_gradient_is_held_once():
    """dW += G^T (a h) a block of rows at a time: no second (V, D) array for the product
    (XLA on CPU would hold one per chunk: W's gradient twice)."""
    import jax
    import jax.numpy as jnp

    from unilosses.backends.linear_generic import DW_BLOCK_ELEMENTS

    n, d, v, chunk = 256, 256, 131072, 16  # dW 128 MiB (compiled only); a chunk's logits 8 MiB
    y = jnp.zeros(n, jnp.int32)
    h, w = jax.ShapeDtypeStruct((n, d), jnp.float32), jax.ShapeDtypeStruct((v, d), jnp.float32)
    loss = lambda h, w: ul.linear_cross_entropy(y, h, w, chunk_size=chunk, reduction="sum")  # noqa: E731
    temp = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(h, w).compile().memory_analysis().temp_size_in_bytes
    assert temp <= 4 * chunk * v * 4 + DW_BLOCK_ELEMENTS * 4 < v * d * 4, temp  # a block of dW, not a second dW


@selected("jax")
def test_jax_weight_gradient_in_row_blocks_equals_unfused(monkeypatch):
    """The blocked dW update (blocks of 8 rows: one full block and an uneven last one of the
    11 classes) with every option, against the unfused gradients."""
    import jax

    from unilosses.backends import linear_generic

    monkeypatch.setattr(linear_generic, "DW_BLOCK_ELEMENTS", 8 * D)
    jax.clear_caches()  # the jitted kernel reads the block size when traced: no program from before the patch
    try:
        _check_gradients("jax", ALL[-1], "float32")
    finally:
        jax.clear_caches()  # nor one with the patched size after it


@selected("jax")
def test_jax_eager_calls_trace_the_kernel_once(monkeypatch):
    """Outside ``jit`` (``jax.grad`` op by op), the kernel is compiled once per shapes and
    options, not on every call: its scans and loops would otherwise be traced and compiled
    again each time (0.46 s per gradient of a 64-token batch here, 0.008 s once compiled)."""
    import jax
    import jax.numpy as jnp

    from unilosses.backends import linear_jax

    traced = []
    sweep = linear_jax._sweep
    monkeypatch.setattr(linear_jax, "_sweep", lambda *a, **k: traced.append(1) or sweep(*a, **k))
    rng = np.random.default_rng(7)
    h, w = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in ((37, 13), (29, 13)))  # shapes no other test uses
    y = jnp.asarray(rng.integers(0, 29, 37))
    for reduction in ("sum", "none"):  # each custom gradient: computed with the values, recomputed
        loss = lambda h, w: jnp.sum(ul.linear_cross_entropy(y, h, w, chunk_size=8, reduction=reduction))  # noqa: B023, E731
        first = jax.grad(loss, argnums=(0, 1))(h, w)
        assert traced, reduction
        traced.clear()
        again = jax.grad(loss, argnums=(0, 1))(h, w)
        assert not traced, f"{reduction}: traced {len(traced)} times again"
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)


@selected("tensorflow")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tf_weight_gradient_in_place_in_row_blocks_equals_unfused(monkeypatch, dtype):
    """The eager in-place dW update (blocks of 8 rows: one full block and an uneven last one
    of the 11 classes) with every option, against the unfused gradients."""
    from unilosses.backends import linear_generic

    monkeypatch.setattr(linear_generic, "DW_BLOCK_ELEMENTS", 8 * D)
    _check_gradients("tensorflow", ALL[-1], dtype)


@selected("tensorflow")
def test_tf_persistent_tape_asks_twice():
    """A persistent tape calls the gradient function once per request: the in-place buffers of
    the first must not change what the second returns (both equal tf.nn's own loss's)."""
    tf = _tf()
    a, _ = _draw(ALL[0])
    h, w, y = tf.constant(a["h"]), tf.constant(a["w"]), tf.constant(a["y"].clip(0))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([h, w])
        out = ul.linear_cross_entropy(y, h, w, chunk_size=CHUNK, reduction="sum_over_batch_size")
    first = [g.numpy().copy() for g in tape.gradient(out, [h, w])]
    second = [g.numpy() for g in tape.gradient(out, [h, w])]
    with tf.GradientTape() as ref_tape:
        ref_tape.watch([h, w])
        logits = tf.matmul(h, w, transpose_b=True)
        ref = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    for g1, g2, e in zip(first, second, ref_tape.gradient(ref, [h, w])):
        np.testing.assert_allclose(g1, e.numpy(), **TOL["float64"])
        np.testing.assert_array_equal(g2, g1)


# ------------------------------------------------------------ sharding
@pytest.mark.slow
@selected("jax")
def test_jax_weight_sharded_over_the_vocabulary(tmp_path):
    """jit on 4 virtual CPU devices, weight sharded over V: the exact unsharded values and
    gradients, and no collective that moves a (tokens x vocab) block or the whole weight."""
    script = ROOT / "tests" / "scaleout" / "jax_vocab_sharding.py"
    env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["max_diff"] <= 1e-5, result
    assert result["largest_collective"] <= result["chunk_dh"] < result["chunk_logits"], result  # dh's partial sums
    assert "vocab" in result["dW_sharding_Auto"] and "vocab" in result["dW_sharding_Explicit"], result


# ------------------------------------------------------------ accum_dtype
def framework_grads(framework: str, f: Any, xs: list[Any]) -> list[Any]:
    """Gradients of the scalar ``f(*xs)`` w.r.t. the arrays ``xs`` of ``framework`` (its own autodiff)."""
    if framework == "torch":
        import torch

        ts = [x.clone().requires_grad_(True) for x in xs]
        return list(torch.autograd.grad(f(*ts), ts))
    if framework == "jax":
        import jax

        return list(jax.grad(f, argnums=tuple(range(len(xs))))(*xs))
    tf = _tf()
    with tf.GradientTape() as tape:
        tape.watch(xs)
        out = f(*xs)
    return tape.gradient(out, xs)


@pytest.mark.parametrize("framework", AUTODIFF)
@pytest.mark.parametrize("accum", ["float32", "weight"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_accum_dtype(framework, accum, reduction):
    """bfloat16 weights: W's and b's gradients in bfloat16, close to the float32 unfused gradients
    on the same rounded inputs, whichever dtype they accumulate in; float32 weights: the same
    gradients either way."""
    be = ArrayBackend(framework)
    a, kw = _draw(COVERING[-1])  # bias, class weights, ignored tokens, smoothing, z-loss, soft cap
    y, cot = be.asarray(a["y"]), be.asarray(a["cot"], "float32")
    bkw = {k: be.asarray(v, "float32") if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    for dtype in ("bfloat16", "float32"):
        xs = [be.asarray(a[k], dtype) for k in ("h", "w", "b")]

        def f(h: Any, w: Any, b: Any, fn: Any = ul.linear_cross_entropy, accum: str = accum) -> Any:
            extra = {"accum_dtype": accum} if fn is ul.linear_cross_entropy else {}
            out = fn(y, h, w, b, **bkw, **extra, reduction=reduction)
            out = out * cot if reduction == "none" else out
            return _tf().reduce_sum(out) if framework == "tensorflow" else out.sum()

        got = framework_grads(framework, f, xs)
        assert [str(g.dtype) for g in got] == [str(x.dtype) for x in xs]
        rounded = [be.asarray(to_numpy(x).astype(np.float32)) for x in xs]
        want = framework_grads(framework, lambda *x: f(*x, fn=_unfused), rounded)
        if dtype == "float32":
            default = framework_grads(framework, lambda *x: f(*x, accum="float32"), xs)
            for g, e in zip(got, default):
                np.testing.assert_allclose(to_numpy(g), to_numpy(e), rtol=1e-6, atol=1e-6)
        tol = 1e-5 if dtype == "float32" else 6e-2
        for g, e in zip(got, want):
            np.testing.assert_allclose(to_numpy(g).astype(np.float32), to_numpy(e), rtol=tol, atol=tol)


def test_accum_dtype_is_checked():
    a, _ = _draw(COVERING[0])
    with pytest.raises(ValueError, match="accum_dtype"):
        ul.linear_cross_entropy(a["y"], a["h"], a["w"], accum_dtype="bfloat16")


@selected("tensorflow")
@pytest.mark.parametrize("fn", ["linear_cross_entropy", "linear_log_probs"])
def test_tf_function_with_unknown_batch_and_length(fn):
    """Tokens as (batch, length), both unknown when traced (Keras' fit relaxes a retraced batch's
    shape so): the per-token values keep the labels' shape and equal eager calls."""
    tf = _tf()
    a, _ = _draw((False,) * len(OPTIONS), n=12)
    y, h, w = a["y"].reshape(3, 4), a["h"].reshape(3, 4, D), a["w"]
    call = getattr(ul, fn)
    sig = [tf.TensorSpec((None, None), tf.as_dtype(y.dtype)), tf.TensorSpec((None, None, D), tf.float64),
           tf.TensorSpec((V, D), tf.float64)]
    traced = tf.function(lambda y, h, w: call(y, h, w, chunk_size=CHUNK), input_signature=sig)
    for rows in (3, 2):  # one trace, two batch shapes
        args = (tf.constant(y[:rows]), tf.constant(h[:rows]), tf.constant(w))
        got, expected = traced(*args), call(*args, chunk_size=CHUNK)
        assert tuple(got.shape) == (rows, 4)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
