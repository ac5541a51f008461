"""linear_cross_entropy's outputs and options beside the loss: ``return_z_loss``,
``return_token_accuracy``, ``z_loss_normalizer`` and the sweep of the counted tokens only.

References: the unfused loss, unilosses' sparse cross-entropy of ``h @ W.T + b`` (whose values and
gradients the conformance suite pins to torch, optax and tf.nn), differentiated by the same
framework's autodiff. The z-loss term is the unfused loss with the z-loss less the unfused loss
without it (reduced the same way); the token accuracy is NumPy's ``argmax`` of the logits; the
``"tokens"`` normaliser is the unfused loss without the z-loss plus the z-loss of the unfused loss
without class weights, and on torch also Liger-Kernel's own test reference
(``CrossEntropyWithZLoss`` in its test/transformers/test_cross_entropy.py), restated here. Values
on every backend; gradients on torch, JAX and TensorFlow, eagerly and under torch.compile,
jax.jit and tf.function.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import compute_together, selected

import unilosses as ul
from unilosses.backends.linear_generic import counted_rows
from unilosses.testing import ArrayBackend, assert_close, assert_like, available_backends

N, D, V, CHUNK = 13, 5, 11, 4  # an uneven last chunk
K = 0.03  # z-loss
AUTODIFF = [b for b in ("torch", "jax", "tensorflow") if b in available_backends()]
MEANS = ("mean_with_sample_weight", "sum_by_nonzero_weights")


def _draw(seed: int = 0, cap: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(float64 NumPy arrays, options): class weights, ignored tokens (one in the last chunk),
    label smoothing, a bias; about half the labels are the argmax (a token accuracy far from 0)."""
    rng = np.random.default_rng(seed)
    h, w, b = rng.standard_normal((N, D)), rng.standard_normal((V, D)) * 1.5, rng.standard_normal(V)
    top = np.argmax(h @ w.T + b, axis=1)
    y = np.where(rng.uniform(size=N) < 0.5, top, rng.integers(0, V, N))
    y[[1, 6, 12]] = -100
    arrays = {"y": y, "h": h, "w": w, "b": b, "sw": rng.uniform(0.0, 2.0, N), "cot": rng.uniform(-1.0, 2.0, N),
              "cot_z": rng.uniform(-1.0, 2.0, N)}
    kw: dict[str, Any] = {"class_weight": rng.uniform(0.2, 3.0, V), "ignore_index": -100, "label_smoothing": 0.1,
                          "chunk_size": CHUNK}
    if cap is not None:
        kw["softcap"] = cap
    return arrays, kw


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _unfused(y: Any, h: Any, w: Any, b: Any, **kw: Any) -> Any:
    kw = {k: v for k, v in kw.items() if k not in ("chunk_size", "z_loss_normalizer")}
    z = _tf().matmul(h, w, transpose_b=True) if type(w).__module__.startswith("tensorflow") else h @ w.T
    return ul.sparse_categorical_crossentropy(y, z + b, from_logits=True, **kw)


def _z_term(y: Any, h: Any, w: Any, b: Any, normalizer: str = "weights", **kw: Any) -> Any:
    """The z-loss term of the unfused loss (with ``"tokens"``: of the loss without class weights)."""
    if normalizer == "tokens" and kw.get("reduction") in MEANS:
        kw = {k: v for k, v in kw.items() if k != "class_weight"}
    with_z, without = _unfused(y, h, w, b, **kw, z_loss=K), _unfused(y, h, w, b, **kw, z_loss=0.0)
    if isinstance(with_z, ul.LossStats):  # the same count and weights: the totals differ
        return with_z._replace(total=with_z.total - without.total)
    return with_z - without


def _reference(y: Any, h: Any, w: Any, b: Any, normalizer: str = "weights", **kw: Any) -> tuple[Any, Any]:
    """(loss, z-loss term) of the unfused path."""
    z = _z_term(y, h, w, b, normalizer, **kw)
    if normalizer == "weights" or kw.get("reduction") not in MEANS:
        return _unfused(y, h, w, b, **kw, z_loss=K), z
    return _unfused(y, h, w, b, **kw, z_loss=0.0) + z, z


def _accuracy(a: dict[str, Any], reduction: str, sw: Any) -> Any:
    """NumPy's token accuracy: per token (0 where ignored), else its weighted mean over the counted tokens."""
    valid = a["y"] != -100
    hit = ((np.argmax(a["h"] @ a["w"].T + a["b"], axis=1) == a["y"]) & valid).astype(np.float64)
    s = np.ones(N) if sw is None else sw
    if reduction == "none":
        return hit * s
    if reduction == "stats":
        return ul.LossStats(np.sum(hit * s), np.float64(valid.sum()), np.sum(s * valid))
    return np.sum(hit * s) / np.sum(s * valid)


def _on(backend: ArrayBackend, kw: dict[str, Any], dtype: Any = None) -> dict[str, Any]:
    return {k: backend.asarray(v if dtype is None else v.astype(dtype)) if isinstance(v, np.ndarray) else v
            for k, v in kw.items()}


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("normalizer", ["weights", "tokens"])
@pytest.mark.parametrize("reduction", ul.REDUCTIONS)
def test_z_loss_and_accuracy_values(backend, reduction, normalizer):
    """``(loss, z_loss, token_accuracy)`` on every backend and reduction, with and without sample
    weights: the loss and its z-loss term as the unfused path's, the accuracy as NumPy's argmax."""
    if normalizer == "tokens" and reduction == "stats":
        pytest.skip("a ValueError: test_tokens_normaliser_refuses_stats")
    a, kw = _draw()
    f32 = {k: v.astype(np.float32) if isinstance(v, np.ndarray) and k != "y" else v for k, v in a.items()}
    np_kw = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    xs = [backend.asarray(f32[k]) for k in ("y", "h", "w", "b")]
    pairs = []  # (result, expected)
    for sw in (None, f32["sw"]):
        loss, z = _reference(f32["y"], f32["h"], f32["w"], f32["b"], normalizer, **np_kw, reduction=reduction,
                             sample_weight=sw)
        out = ul.linear_cross_entropy(*xs, **_on(backend, np_kw), z_loss=K, z_loss_normalizer=normalizer,
                                      return_z_loss=True, return_token_accuracy=True, reduction=reduction,
                                      sample_weight=None if sw is None else backend.asarray(sw))
        assert isinstance(out, tuple) and len(out) == 3
        accuracy = _accuracy(a, reduction, None if sw is None else a["sw"])
        pairs += zip(out, (loss, z, accuracy))
        # each flag alone: (loss, its output), the loss unchanged
        zl = ul.linear_cross_entropy(*xs, **_on(backend, np_kw), z_loss=K, z_loss_normalizer=normalizer,
                                     return_z_loss=True, reduction=reduction,
                                     sample_weight=None if sw is None else backend.asarray(sw))
        acc = ul.linear_cross_entropy(*xs, **_on(backend, np_kw), z_loss=K, z_loss_normalizer=normalizer,
                                      return_token_accuracy=True, reduction=reduction,
                                      sample_weight=None if sw is None else backend.asarray(sw))
        assert len(zl) == 2 and len(acc) == 2
        pairs += ((zl[0], loss), (zl[1], z), (acc[0], loss), (acc[1], accuracy))
    got = [g for g, _ in pairs]
    for g in got:
        assert_like(g, xs[1])
    if backend.name == "dask":  # one graph: the calls share their chunks' work
        got = compute_together(got)
    for g, (_, expected) in zip(got, pairs):
        assert_close(g, expected, rtol=2e-5, atol=2e-6)


def test_z_loss_without_a_z_loss_is_zero(backend):
    a, kw = _draw()
    xs = [backend.asarray(a[k].astype(np.float32) if k != "y" else a[k]) for k in ("y", "h", "w", "b")]
    loss, z = ul.linear_cross_entropy(*xs, **_on(backend, kw, np.float32), return_z_loss=True, reduction="sum")
    assert_close(z, np.float32(0.0), like=xs[1])
    assert_close(loss, _unfused(*(x.astype(np.float32) if x.dtype.kind == "f" else x for x in
                                  (a["y"], a["h"], a["w"], a["b"])),
                                **{k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in kw.items()},
                                reduction="sum"), rtol=2e-5, atol=1e-5, like=xs[1])


@pytest.mark.parametrize("cap", [None, 2.0])
def test_accuracy_ties_and_soft_cap(backend, cap):
    """The first of equal largest logits counts (argmax's order, Liger-Kernel's): zero weights give
    equal logits, and only label 0 is the argmax; the soft cap keeps the order."""
    h = np.zeros((4, D), np.float32)
    w = np.ones((V, D), np.float32)
    y = np.array([0, 3, V - 1, -100])
    out = ul.linear_cross_entropy(backend.asarray(y), backend.asarray(h), backend.asarray(w), ignore_index=-100,
                                  softcap=cap, return_token_accuracy=True)
    assert_close(out[1], np.array([1.0, 0.0, 0.0, 0.0], np.float32), like=backend.asarray(h))


# --------------------------------------------------------------- gradients
def _grads(framework: str, f: Any, xs: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
    """``f(h, w, b)`` (a scalar) and its gradients, as NumPy."""
    if framework == "torch":
        import torch

        ts = [torch.as_tensor(x).requires_grad_(True) for x in xs]
        out = f(*ts)
        return float(out.detach()), [g.numpy() for g in torch.autograd.grad(out, ts)]
    if framework == "jax":
        import jax

        out, gs = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(*(jax.numpy.asarray(x) for x in xs))
        return float(out), [np.asarray(g) for g in gs]
    tf = _tf()
    ts = [tf.convert_to_tensor(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(ts)
        out = f(*ts)
    return float(out), [g.numpy() for g in tape.gradient(out, ts)]


def _objective(be: ArrayBackend, fused: bool, a: dict[str, Any], kw: dict[str, Any], reduction: str,
               normalizer: str, dtype: Any) -> Any:
    """A scalar through both outputs, each with its own cotangent, plus the accuracy where it
    would carry a gradient if it had one."""
    y, sw = be.asarray(a["y"]), be.asarray(a["sw"].astype(dtype))
    cot, cot_z = be.asarray(a["cot"].astype(dtype)), be.asarray(a["cot_z"].astype(dtype))
    bkw = _on(be, kw, dtype)
    opts = {"reduction": reduction, "sample_weight": sw}

    def f(h: Any, w: Any, b: Any) -> Any:
        if fused:
            loss, z, acc = ul.linear_cross_entropy(y, h, w, b, **bkw, z_loss=K, z_loss_normalizer=normalizer,
                                                   return_z_loss=True, return_token_accuracy=True, **opts)
        else:
            (loss, z), acc = _reference(y, h, w, b, normalizer, **bkw, **opts), 0.0
        if reduction == "none":
            loss, z, acc = loss * cot, z * cot_z, acc * cot
            total = _tf().reduce_sum if be.name == "tensorflow" else (lambda x: x.sum())
            return total(loss) + total(z) + 0.0 * total(acc)
        return loss + 3.0 * z + 0.0 * acc

    return f


@pytest.mark.parametrize("normalizer", ["weights", "tokens"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean_with_sample_weight", "sum_by_nonzero_weights"])
@pytest.mark.parametrize("framework", AUTODIFF)
def test_gradients_through_both_outputs(framework, reduction, normalizer):
    """d (loss + z_loss) / d (hidden, weight, bias) as the unfused path's, each output with its own
    cotangent (the z-loss output's gradient is its own, not the loss's)."""
    be = ArrayBackend(framework)
    dtype = np.float32 if framework == "jax" else np.float64
    tol = {"rtol": 2e-5, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-10}
    for cap in (None, 2.5):
        a, kw = _draw(1, cap)
        xs = [a[k].astype(dtype) for k in ("h", "w", "b")]
        got = _grads(framework, _objective(be, True, a, kw, reduction, normalizer, dtype), xs)
        expected = _grads(framework, _objective(be, False, a, kw, reduction, normalizer, dtype), xs)
        for name, g, e in zip(("value", "d hidden", "d weight", "d bias"), [got[0], *got[1]], [expected[0], *expected[1]]):
            np.testing.assert_allclose(g, e, **tol, err_msg=f"softcap={cap}: {name}")


@pytest.mark.parametrize("framework", AUTODIFF)
def test_accuracy_leaves_the_gradient_unchanged(framework):
    """A reduced loss with the accuracy beside it: the same gradients as without (the accuracy
    carries none; the loss keeps its gradient computed in the forward pass)."""
    be = ArrayBackend(framework)
    a, kw = _draw(2)
    xs = [a[k].astype(np.float32) for k in ("h", "w", "b")]
    y, bkw = be.asarray(a["y"]), _on(be, kw, np.float32)
    plain = _grads(framework, lambda h, w, b: ul.linear_cross_entropy(y, h, w, b, **bkw, reduction="mean"), xs)
    both = _grads(framework, lambda h, w, b: sum(ul.linear_cross_entropy(
        y, h, w, b, **bkw, reduction="mean", return_token_accuracy=True)), xs)
    for g, e in zip([both[0] - float(_accuracy(a, "mean", None)), *both[1]], [plain[0], *plain[1]]):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


@selected("torch")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_tokens_normaliser_against_liger_reference(reduction, smoothing):
    """``z_loss_normalizer="tokens"`` with class weights is Liger-Kernel's z-loss: its test reference
    (``CrossEntropyWithZLoss``): torch's cross-entropy with ``weight``, plus ``k lse^2`` summed
    over the counted tokens and divided by their number for ``"mean"``; values and gradients
    (Liger returns its z-loss for logging: here it is differentiated too). Liger's ``"mean"`` is
    ``"mean_with_sample_weight"`` here."""
    import torch
    import torch.nn.functional as F

    a, kw = _draw(3)
    h, w, b = (torch.tensor(a[k], requires_grad=True) for k in ("h", "w", "b"))
    y, cw = torch.as_tensor(a["y"]), torch.as_tensor(kw["class_weight"])

    def liger(h: Any, w: Any, b: Any) -> tuple[Any, Any]:
        logits = h @ w.T + b
        ce = F.cross_entropy(logits, y, weight=cw, reduction=reduction, label_smoothing=smoothing, ignore_index=-100)
        mask = y != -100
        z = torch.where(mask, K * torch.logsumexp(logits, dim=-1) ** 2, 0.0)
        z = z.sum() / mask.sum() if reduction == "mean" else z.sum() if reduction == "sum" else z
        return ce + z, z

    ours = "mean_with_sample_weight" if reduction == "mean" else reduction
    loss, z = ul.linear_cross_entropy(y, h, w, b, class_weight=cw, ignore_index=-100, label_smoothing=smoothing,
                                      z_loss=K, z_loss_normalizer="tokens", return_z_loss=True, reduction=ours,
                                      chunk_size=CHUNK)
    ref_loss, ref_z = liger(h, w, b)
    assert_close(loss, ref_loss.detach(), rtol=1e-10, atol=1e-12)
    assert_close(z, ref_z.detach(), rtol=1e-10, atol=1e-12)
    cot = torch.as_tensor(a["cot"]) if reduction == "none" else torch.tensor(1.0, dtype=torch.float64)
    got = torch.autograd.grad(((loss + 2.0 * z) * cot).sum(), (h, w, b))
    expected = torch.autograd.grad(((ref_loss + 2.0 * ref_z) * cot).sum(), (h, w, b))
    for g, e in zip(got, expected):
        assert_close(g, e, rtol=1e-10, atol=1e-12)
    if reduction == "mean":  # "weights" (the default) differs with class weights: its z-loss is weighted as the token
        default = ul.linear_cross_entropy(y, h, w, b, class_weight=cw, ignore_index=-100, label_smoothing=smoothing,
                                          z_loss=K, reduction=ours, chunk_size=CHUNK)
        assert abs(float(default.detach()) - float(loss.detach())) > 1e-4


def test_tokens_normaliser_refuses_stats():
    a, kw = _draw()
    with pytest.raises(ValueError, match="z_loss_normalizer"):
        ul.linear_cross_entropy(a["y"], a["h"], a["w"], **kw, z_loss=K, z_loss_normalizer="tokens", reduction="stats")
    # without class weights the two normalisers are one: allowed
    kw.pop("class_weight")
    assert_close(
        ul.linear_cross_entropy(a["y"], a["h"], a["w"], **kw, z_loss=K, z_loss_normalizer="tokens", reduction="stats"),
        ul.linear_cross_entropy(a["y"], a["h"], a["w"], **kw, z_loss=K, reduction="stats"),
    )


@pytest.mark.parametrize(("option", "value", "error"), [
    ("return_z_loss", 1, TypeError), ("return_token_accuracy", "yes", TypeError),
    ("z_loss_normalizer", "count", ValueError), ("z_loss_normalizer", None, ValueError),
])
def test_bad_options(option, value, error):
    a, _ = _draw()
    with pytest.raises(error, match=option):
        ul.linear_cross_entropy(a["y"], a["h"], a["w"], **{option: value})


# ---------------------------------------------------------------- compiled
@selected("jax")
def test_under_jax_jit():
    import jax

    a, kw = _draw(4, cap=3.0)
    y, bkw = jax.numpy.asarray(a["y"]), _on(ArrayBackend("jax"), kw, np.float32)
    xs = [jax.numpy.asarray(a[k].astype(np.float32)) for k in ("h", "w", "b")]

    def f(h: Any, w: Any, b: Any) -> Any:
        loss, z, acc = ul.linear_cross_entropy(y, h, w, b, **bkw, z_loss=K, return_z_loss=True,
                                               return_token_accuracy=True, reduction="mean_with_sample_weight")
        return loss + 3.0 * z, acc

    (val, acc), grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True))(*xs)
    (e_val, e_acc), e_grads = jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True)(*xs)
    for g, e in zip([val, acc, *grads], [e_val, e_acc, *e_grads]):
        assert_close(g, np.asarray(e), rtol=1e-5, atol=1e-6)
    assert_close(acc, np.float32(_accuracy(a, "mean", None)), rtol=1e-6)


@selected("torch")
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_under_torch_compile(reduction):
    """fullgraph torch.compile (aot_eager): the extra outputs through the sweep's custom operator,
    values and gradients as eager."""
    import torch

    a, kw = _draw(5, cap=3.0)
    y = torch.as_tensor(a["y"])
    bkw = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    cot = torch.as_tensor(a["cot"])

    def f(h: Any, w: Any, b: Any) -> Any:
        loss, z, acc = ul.linear_cross_entropy(y, h, w, b, **bkw, z_loss=K, return_z_loss=True,
                                               return_token_accuracy=True, reduction=reduction)
        return ((loss + 3.0 * z) * (cot if reduction == "none" else 1.0)).sum(), acc

    def run(fn: Any) -> list[Any]:
        xs = [torch.tensor(a[k], requires_grad=True) for k in ("h", "w", "b")]
        val, acc = fn(*xs)
        return [val.detach(), acc, *torch.autograd.grad(val, xs)]

    torch._dynamo.reset()
    got = run(torch.compile(f, fullgraph=True, backend="aot_eager"))
    for g, e in zip(got, run(f)):
        assert_close(g, e, rtol=1e-10, atol=1e-12)


@selected("tensorflow")
def test_under_tf_function():
    tf = _tf()
    a, kw = _draw(6, cap=3.0)
    bkw = _on(ArrayBackend("tensorflow"), kw)
    y = tf.constant(a["y"])
    xs = [tf.constant(a[k]) for k in ("h", "w", "b")]

    def f(h: Any, w: Any, b: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch([h, w, b])
            loss, z, acc = ul.linear_cross_entropy(y, h, w, b, **bkw, z_loss=K, return_z_loss=True,
                                                   return_token_accuracy=True, reduction="sum")
            total = loss + 3.0 * z
        return [total, acc, *tape.gradient(total, [h, w, b])]

    got = tf.function(f)(*xs)
    for g, e in zip(got, f(*xs)):
        assert_close(g, e.numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------- counted rows only
def _spy(monkeypatch: Any, backend: ArrayBackend) -> list[int]:
    """The number of tokens each backend sweep is given."""
    be = _backend_of(backend)
    seen: list[int] = []
    inner = type(be).linear_cross_entropy

    def spy(self: Any, hidden: Any, *args: Any) -> Any:
        seen.append(int(hidden.shape[0]))
        return inner(self, hidden, *args)

    monkeypatch.setattr(type(be), "linear_cross_entropy", spy)
    return seen


def _backend_of(backend: ArrayBackend) -> Any:
    from unilosses.backends import resolve

    return resolve(backend.asarray(np.zeros(1, np.float32)), "x")[1]


@pytest.mark.parametrize("ignored", [0, 9, 13])
def test_only_counted_tokens_are_swept(backend, monkeypatch, ignored):
    """NumPy, eager torch and eager TensorFlow sweep the counted tokens alone (none ignored, or all:
    every token); the others sweep every token. The loss and its gradient are the same either way
    (the unfused comparisons above and in test_linear.py run with ignored tokens)."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, V, N)
    y[:ignored] = -100
    seen = _spy(monkeypatch, backend)
    h, w = rng.standard_normal((N, D)).astype(np.float32), rng.standard_normal((V, D)).astype(np.float32)
    xs = [backend.asarray(x) for x in (y, h, w)]
    # a chunk size of this test's own: JAX traces (and so calls the backend) once per options
    out = ul.linear_cross_entropy(*xs, ignore_index=-100, reduction="none", return_token_accuracy=True,
                                  chunk_size=100 + ignored)
    assert_close(out[0], _unfused(y, h, w, 0.0, ignore_index=-100), rtol=1e-5, atol=1e-6, like=xs[1])
    gathers = backend.name in ("numpy", "torch", "tensorflow")
    assert seen == [N - ignored if gathers and 0 < ignored < N else N]


def test_counted_rows_only_where_shapes_may_depend_on_values():
    valid = np.array([True, False, True])
    be = _backend_of(ArrayBackend("numpy"))
    np.testing.assert_array_equal(counted_rows(be, valid), [0, 2])
    assert counted_rows(be, np.ones(3, bool)) is None and counted_rows(be, np.zeros(3, bool)) is None
    if "jax" in available_backends():
        jbe = _backend_of(ArrayBackend("jax"))
        assert counted_rows(jbe, ArrayBackend("jax").asarray(valid)) is None
    if "tensorflow" in available_backends():
        tf = _tf()
        tbe = _backend_of(ArrayBackend("tensorflow"))
        assert tf.function(lambda v: tf.constant(counted_rows(tbe, v) is None))(tf.constant(valid))
    if "torch" in available_backends():
        import torch

        tbe = _backend_of(ArrayBackend("torch"))
        none = torch.compile(lambda v: counted_rows(tbe, v) is None, fullgraph=True, backend="eager")
        assert none(torch.as_tensor(valid))
