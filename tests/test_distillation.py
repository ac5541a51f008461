"""Distillation: generalized JSD per token and its LM-head form, against TRL's and Liger's code, live.

The peers: TRL's ``GKDTrainer.generalized_jsd_loss`` (``peers/upstream/trl``) and Liger-Kernel's
``LigerFusedLinearJSDFunction.distillation_loss_fn`` and ``LigerFusedLinearJSDLoss``
(``peers/upstream/liger_kernel``), vendored unchanged and called on torch CPU tensors made from
the same NumPy inputs. Values and gradients on every backend (against the peers where torch is
installed, against the NumPy backend everywhere); both ends of beta (forward and reverse KL);
identical student and teacher (0); every token masked; bad input; the compilers.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from conftest import selected
from test_preference import _value_and_grads

import unilosses as ul
from unilosses.testing import ArrayBackend, assert_close

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # peers/ is repository tooling, not part of the installed package
    sys.path.insert(0, str(ROOT))

HAS_TORCH = importlib.util.find_spec("torch") is not None
AUTODIFF = ("torch", "jax", "tensorflow")
TOL = {"rtol": 1e-5, "atol": 1e-7}
B, T, V, D, DT = 2, 3, 11, 4, 5


def _logits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Student and teacher logits (B, T, V) and labels with two ignored tokens (-100)."""
    rng = np.random.default_rng(seed)
    s, t = rng.normal(0, 2, (B, T, V)), rng.normal(0, 2, (B, T, V))
    y = rng.integers(0, V, (B, T))
    y[0, 1] = y[1, 2] = -100
    return s, t, y


def _trl() -> Any:
    pytest.importorskip("torch")
    from peers.upstream.trl_stubs import load

    return load("gkd").GKDTrainer


def _liger() -> Any:
    pytest.importorskip("torch")
    from peers.upstream.liger_kernel_stubs import load

    return load("jsd_loss")


def _check(backend: ArrayBackend, ours: Callable[..., Any], peer: Callable[..., Any] | None, args: list[np.ndarray],
           wrt: tuple[int, ...]) -> None:
    value, grads = _value_and_grads(backend.name, ours, args, wrt)
    if peer is not None and HAS_TORCH:
        ref, ref_grads = _value_and_grads("torch", peer, args, wrt)
    else:
        ref, ref_grads = _value_and_grads("numpy", ours, args, wrt)[0], None
    assert_close(value, ref, **TOL)
    if backend.name in AUTODIFF and ref_grads is not None:
        for g, e in zip(grads, ref_grads):
            assert_close(g, e, **TOL)


# ------------------------------------------------------------------ generalized_jsd
@pytest.mark.parametrize("beta,temperature", [(0.0, 1.0), (1e-3, 2.0), (0.5, 1.0), (0.9, 0.5), (1.0, 1.0)])
def test_generalized_jsd_against_trl(backend: ArrayBackend, beta: float, temperature: float) -> None:
    """TRL's "batchmean" with labels is the mean over the tokens that count; both logits differentiated."""
    s, t, y = _logits(1)

    def ours(s: Any, t: Any, y: Any) -> Any:
        return ul.generalized_jsd(s, t, y, beta=beta, temperature=temperature, reduction="mean")

    peer = None
    if HAS_TORCH:
        gkd = _trl()

        def peer(s: Any, t: Any, y: Any) -> Any:
            return gkd.generalized_jsd_loss(s, t, labels=y, beta=beta, temperature=temperature)

    _check(backend, ours, peer, [s, t, y], wrt=(0, 1))


def test_generalized_jsd_without_labels_is_trl_batchmean() -> None:
    """Without labels TRL's "batchmean" divides the sum by the batch size (the first axis)."""
    gkd = _trl()
    import torch

    s, t, _ = _logits(2)
    ref = gkd.generalized_jsd_loss(torch.tensor(s), torch.tensor(t), beta=0.3)
    assert_close(ul.generalized_jsd(s, t, beta=0.3, reduction="sum") / B, ref.numpy(), **TOL)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_generalized_jsd_against_liger(backend: ArrayBackend, beta: float) -> None:
    """Liger's per-chunk JSD (the sum over the tokens that count), temperature-scaled logits."""
    s, t, y = _logits(3)
    args = [s.reshape(-1, V), t.reshape(-1, V), y.reshape(-1)]

    def ours(s: Any, t: Any, y: Any) -> Any:
        return ul.generalized_jsd(s, t, y, beta=beta, reduction="sum")

    peer = None
    if HAS_TORCH:
        jsd = _liger().LigerFusedLinearJSDFunction

        def peer(s: Any, t: Any, y: Any) -> Any:
            return jsd.distillation_loss_fn(s, t, beta=beta, target=y, ignore_index=-100)

    _check(backend, ours, peer, args, wrt=(0, 1))


def test_generalized_jsd_ends_are_the_kls() -> None:
    """beta = 0: KL(teacher || student); beta = 1: KL(student || teacher) (hand-written in NumPy)."""
    s, t, _ = _logits(4)

    def log_softmax(z: np.ndarray) -> np.ndarray:
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    ls, lt = log_softmax(s), log_softmax(t)
    assert_close(ul.generalized_jsd(s, t, beta=0.0), (np.exp(lt) * (lt - ls)).sum(-1), rtol=1e-10)
    assert_close(ul.generalized_jsd(s, t, beta=1.0), (np.exp(ls) * (ls - lt)).sum(-1), rtol=1e-10)
    assert_close(ul.generalized_jsd(s, t), ul.generalized_jsd(t, s), rtol=1e-10)  # beta = 1/2 is symmetric


# ------------------------------------------------------------------ linear_jsd
def _heads(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(B, T, D)), rng.normal(size=(V, D)), rng.normal(size=(B, T, DT)), rng.normal(size=(V, DT))]


@pytest.mark.parametrize("beta,temperature", [(0.0, 1.0), (0.4, 2.0), (1.0, 1.0)])
def test_linear_jsd_against_liger(backend: ArrayBackend, beta: float, temperature: float) -> None:
    """Liger's ``LigerFusedLinearJSDLoss`` (JSD only: hard-loss weight 0): the mean over the tokens
    that count; the gradients of the student's hidden states and weight (the teacher is a constant)."""
    _, _, y = _logits(5)
    args = [*_heads(5), y]

    def ours(hs: Any, ws: Any, ht: Any, wt: Any, y: Any) -> Any:
        return ul.linear_jsd(hs, ws, ht, wt, y, beta=beta, temperature=temperature, chunk_size=4, reduction="mean")

    peer = None
    if HAS_TORCH:
        loss = _liger().LigerFusedLinearJSDLoss(
            weight_hard_loss=0.0, weight_soft_loss=1.0, beta=beta, temperature=temperature, compiled=False, chunk_size=4
        )

        def peer(hs: Any, ws: Any, ht: Any, wt: Any, y: Any) -> Any:
            return loss(hs.reshape(-1, D), ws, ht.reshape(-1, DT), wt, y.reshape(-1))

    _check(backend, ours, peer, args, wrt=(0, 1))


@pytest.mark.parametrize("reduction", ["none", "sum", "mean_with_sample_weight"])
def test_linear_jsd_is_generalized_jsd_of_the_logits(backend: ArrayBackend, reduction: str) -> None:
    """Values and student gradients equal those of :func:`generalized_jsd` on the logits (teacher
    logits constant), with sample weights and ignored tokens, for the per-token values (autodiff
    through the chunks) and the reduced loss (gradients from the forward pass)."""
    _, _, y = _logits(6)
    sw = np.random.default_rng(6).uniform(0.2, 2.0, (B, T))
    probe = np.arange(B * T, dtype=np.float64).reshape(B, T) / 7 - 0.3  # a cotangent for "none"
    args = [*_heads(6), y, sw, probe]

    def total(out: Any, probe: Any) -> Any:
        return ul.namespace(out).sum(out * probe) if reduction == "none" else out

    def ours(hs: Any, ws: Any, ht: Any, wt: Any, y: Any, sw: Any, probe: Any) -> Any:
        out = ul.linear_jsd(hs, ws, ht, wt, y, beta=0.3, temperature=1.5, chunk_size=4, sample_weight=sw, reduction=reduction)
        return total(out, probe)

    def reference(hs: Any, ws: Any, ht: Any, wt: Any, y: Any, sw: Any, probe: Any) -> Any:
        out = ul.generalized_jsd(_product(hs, ws), _product(ht, wt), y, beta=0.3, temperature=1.5, sample_weight=sw, reduction=reduction)
        return total(out, probe)

    value, grads = _value_and_grads(backend.name, ours, args, (0, 1))
    ref, ref_grads = _value_and_grads(backend.name if backend.name in AUTODIFF else "numpy", reference, args, (0, 1))
    assert_close(value, ref, **TOL)
    for g, e in zip(grads, ref_grads if backend.name in AUTODIFF else []):
        assert_close(g, e, **TOL)


def _product(h: Any, w: Any) -> Any:
    """``h @ w.T`` in ``h``'s framework (TensorFlow's tensors have no ``.T``)."""
    xp = ul.namespace(h)
    return xp.matmul(h, xp.permute_dims(w, (1, 0)))


def test_linear_jsd_example_and_shapes() -> None:
    hs, ws, ht, wt = _heads(7)
    got = ul.linear_jsd(hs, ws, ht, wt)
    assert got.shape == (B, T)
    assert_close(got, ul.generalized_jsd(hs @ ws.T, ht @ wt.T), rtol=1e-12)
    flat = ul.linear_jsd(hs.reshape(-1, D), ws, ht.reshape(-1, DT), wt, chunk_size=1)
    assert_close(flat, got.reshape(-1), rtol=1e-12)


# ------------------------------------------------------------------ edge values
def test_identical_student_and_teacher_is_zero(backend: ArrayBackend) -> None:
    s, _, y = _logits(8)
    hs, ws, _, _ = _heads(8)
    for beta in (0.0, 0.5, 1.0):
        value, grads = _value_and_grads(backend.name, lambda a, b, beta=beta: ul.generalized_jsd(a, b, beta=beta, reduction="sum"), [s, s], (0, 1))
        assert_close(value, np.zeros(()), atol=1e-6)
        for g in grads:
            assert_close(g, np.zeros_like(s), atol=1e-6)
        value, grads = _value_and_grads(
            backend.name, lambda h, w, beta=beta: ul.linear_jsd(h, w, h, w, y, beta=beta, reduction="mean"), [hs, ws], (0, 1)
        )
        assert_close(value, np.zeros(()), atol=1e-6)
        for g, like in zip(grads, (hs, ws)):
            assert_close(g, np.zeros_like(like), atol=1e-6)


def test_every_token_masked(backend: ArrayBackend) -> None:
    """Every label ignored: every mean is 0, with zero (finite) gradients."""
    s, t, y = _logits(9)
    y[...] = -100
    hs, ws, ht, wt = _heads(9)
    for reduction in ("mean", "mean_with_sample_weight", "sum"):
        value, grads = _value_and_grads(backend.name, lambda a, b, r=reduction: ul.generalized_jsd(a, b, y, reduction=r), [s, t], (0, 1))
        assert_close(value, np.zeros(()))
        for g in grads:
            assert_close(g, np.zeros_like(s))
        value, grads = _value_and_grads(
            backend.name, lambda h, w, r=reduction: ul.linear_jsd(h, w, ht, wt, y, reduction=r), [hs, ws], (0, 1)
        )
        assert_close(value, np.zeros(()))
        for g, like in zip(grads, (hs, ws)):
            assert_close(g, np.zeros_like(like))


@pytest.mark.parametrize(
    "call,error,words",
    [
        (lambda: ul.generalized_jsd(np.zeros((2, 3)), np.zeros((2, 4))), ValueError, "teacher_logits"),
        (lambda: ul.generalized_jsd(np.zeros((2, 3)), np.zeros((2, 3)), beta=1.5), ValueError, "beta"),
        (lambda: ul.generalized_jsd(np.zeros((2, 3)), np.zeros((2, 3)), temperature=0.0), ValueError, "temperature"),
        (lambda: ul.generalized_jsd(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(3, int)), ValueError, "y_true"),
        (lambda: ul.generalized_jsd(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2)), TypeError, "y_true"),
        (lambda: ul.linear_jsd(np.zeros((2, 3)), np.zeros((5, 4)), np.zeros((2, 3)), np.zeros((5, 3))), ValueError, "student_weight"),
        (lambda: ul.linear_jsd(np.zeros((2, 3)), np.zeros((5, 3)), np.zeros((2, 3)), np.zeros((4, 3))), ValueError, "teacher_weight"),
        (lambda: ul.linear_jsd(np.zeros((2, 3)), np.zeros((5, 3)), np.zeros((3, 3)), np.zeros((5, 3))), ValueError, "teacher_hidden"),
        (lambda: ul.linear_jsd(np.zeros((2, 3)), np.zeros((5, 3)), np.zeros((2, 3)), np.zeros((5, 3)), chunk_size=0), ValueError, "chunk_size"),
        (lambda: ul.linear_jsd(np.zeros((2, 3)), np.zeros((5, 3)), np.zeros((2, 3)), np.zeros((5, 3)), chunk_size=2.0), TypeError, "chunk_size"),
    ],
)
def test_bad_input(call: Callable[[], Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        call()


# ------------------------------------------------------------------ compilers
def _f32(xs: list[np.ndarray]) -> list[np.ndarray]:
    return [x.astype(np.float32) if x.dtype.kind == "f" else x for x in xs]


def _linear_mean(hs: Any, ws: Any, ht: Any, wt: Any, y: Any) -> Any:
    return ul.linear_jsd(hs, ws, ht, wt, y, beta=0.3, chunk_size=4, reduction="mean")


def _compile_args() -> list[np.ndarray]:
    return _f32([*_heads(10), _logits(10)[2]])


@selected("jax")
def test_under_jax_jit() -> None:
    import jax

    args = _compile_args()
    value, grads = jax.jit(jax.value_and_grad(_linear_mean, argnums=(0, 1)))(*args)
    ref = _value_and_grads("torch" if HAS_TORCH else "jax", _linear_mean, args, (0, 1))
    assert_close(value, ref[0], rtol=1e-5)
    for g, e in zip(grads, ref[1]):
        assert_close(g, e, rtol=1e-4, atol=1e-6)
    s, t, y = _f32(list(_logits(10)))
    out = jax.jit(lambda s, t: ul.generalized_jsd(s, t, y, beta=0.2, reduction="mean"))(s, t)
    assert_close(out, ul.generalized_jsd(s, t, y, beta=0.2, reduction="mean"), rtol=1e-5)


@selected("torch")
def test_under_torch_compile() -> None:
    import torch

    args = [torch.tensor(a) for a in _compile_args()]
    args[0].requires_grad_(True)
    args[1].requires_grad_(True)
    out = torch.compile(_linear_mean, backend="aot_eager", fullgraph=True)(*args)
    grads = torch.autograd.grad(out, args[:2])
    ref = _value_and_grads("torch", _linear_mean, _compile_args(), (0, 1))
    assert_close(out.detach().numpy(), ref[0], rtol=1e-5)
    for g, e in zip(grads, ref[1]):
        assert_close(g.numpy(), e, rtol=1e-4, atol=1e-6)


@selected("tensorflow")
def test_under_tf_function() -> None:
    import tensorflow as tf

    args = [tf.constant(a) for a in _compile_args()]
    hs, ws = tf.Variable(args[0]), tf.Variable(args[1])

    @tf.function(jit_compile=True)
    def step() -> Any:
        with tf.GradientTape() as tape:
            out = _linear_mean(hs, ws, *args[2:])
        return out, tape.gradient(out, [hs, ws])

    out, grads = step()
    ref = _value_and_grads("tensorflow", _linear_mean, _compile_args(), (0, 1))
    assert_close(out.numpy(), ref[0], rtol=1e-5)
    for g, e in zip(grads, ref[1]):
        assert_close(g.numpy(), e, rtol=1e-4, atol=1e-6)


@selected("tensorflow")
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_linear_jsd_tf_function_with_unknown_batch_and_length(reduction: str) -> None:
    """Tokens as (batch, length), both unknown when traced (Keras' fit relaxes a retraced batch's shape
    so), with a tape inside: the values (in the tokens' shape) and gradients equal eager calls."""
    import tensorflow as tf

    hs, ws, ht, wt = _heads(9)
    _, _, y = _logits(9)
    sig = [tf.TensorSpec((None, None, D), tf.float64), tf.TensorSpec(ws.shape, tf.float64),
           tf.TensorSpec((None, None, DT), tf.float64), tf.TensorSpec(wt.shape, tf.float64),
           tf.TensorSpec((None, None), tf.as_dtype(y.dtype))]

    def run(hs: Any, ws: Any, ht: Any, wt: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch([hs, ws])
            out = ul.linear_jsd(hs, ws, ht, wt, y, chunk_size=4, reduction=reduction)
            total = tf.reduce_sum(out)
        return out, tape.gradient(total, [hs, ws])

    traced = tf.function(run, input_signature=sig)
    for rows in (B, 1):  # one trace, two batch shapes
        args = [tf.constant(hs[:rows]), tf.constant(ws), tf.constant(ht[:rows]), tf.constant(wt), tf.constant(y[:rows])]
        (got, got_grads), (expected, grads) = traced(*args), run(*args)
        assert tuple(got.shape) == tuple(expected.shape)
        assert_close(got.numpy(), expected.numpy(), rtol=1e-12)
        for g, e in zip(got_grads, grads):
            assert_close(g.numpy(), e.numpy(), rtol=1e-10, atol=1e-12)
