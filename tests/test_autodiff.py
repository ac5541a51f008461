"""Gradients through every loss: torch autograd, jax.grad and tf.GradientTape.

Three checks, generic over :func:`unilosses.conformance.all_cases` (new losses
are covered as soon as they add conformance cases):

- every case, in float64 torch: autograd equals central finite differences of
  unilosses itself, for every reduction (with sample weights); the differences
  are taken on torch tensors, never through the NumPy backend;
- every case with a float64 reference (torch, tf.nn or Keras): the gradient of
  ``sum(unilosses)`` w.r.t. ``y_pred`` equals the finite-difference gradient of
  ``sum(reference)``, the framework's own loss called live in float64 (the
  references take and return NumPy, so they are differentiated numerically);
- every case, on torch, JAX and TensorFlow in float32: the framework's own
  autodiff of every reduction is finite, equals finite differences of NumPy's
  float64 values, and equals the float64 torch gradient where torch is installed.

The cross-entropy family is also checked against the autodiff of the
frameworks' own losses (``F.cross_entropy``, optax, ``tf.nn``, Keras) to 1e-6 in
float32, with the reduction mapping of each framework.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import unilosses as ul
from unilosses.check.gradients import (
    FD_REFERENCES,
    GRAD_REDUCTIONS,
    autodiff,
    cast,
    combined,
    compare,
    compare_directional,
    draw,
    float_positions,
    numeric_gradient,
    numpy_value,
    pred_positions,
    sample_weight,
    smooth_directions,
)
from unilosses.conformance import Case, all_cases, reference_installed
from unilosses.testing import AUTODIFF as AUTODIFF_FRAMEWORKS
from unilosses.testing import available_backends

CASES = all_cases()
IDS = [c.id for c in CASES]
AUTODIFF = [b for b in available_backends() if b in AUTODIFF_FRAMEWORKS]
#: reductions checked against finite differences (the others divide the same total by a constant)
FD_REDUCTIONS = ("none", "mean_with_sample_weight")


def _require(backend: str) -> None:
    """Skip unless ``backend`` is installed and selected (``UNILOSSES_BACKENDS``)."""
    if backend not in available_backends():
        pytest.skip(f"backend {backend} is not installed or not selected")


def check_finite_differences(
    value: Callable[[list[Any]], float],
    arrays: list[Any],
    positions: list[int],
    grads: list[np.ndarray],
    perturb: Callable[[Any, int, float], Any] | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """``grads`` equal finite differences of ``value`` (in float64) at ``arrays``.

    Entries on kinks are skipped; at most half of them may be, so the check
    cannot pass vacuously (see :func:`unilosses.check.gradients.compare`).
    """
    numeric = numeric_gradient(value, arrays, positions, *([perturb] if perturb else []))
    _, ok, msg = compare(grads, numeric, rtol=rtol, atol=atol)
    assert ok, msg


def _perturb_torch(a: Any, j: int, d: float) -> Any:
    out = a.clone()
    out.view(-1)[j] += d
    return out


# --------------------------------------------------------- generic checks
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_equals_finite_differences(case):
    """float64 torch autograd of unilosses == central differences of unilosses (torch tensors)."""
    _require("torch")
    import torch

    arrays = draw(case)
    positions = float_positions(case, arrays)
    if not positions:
        pytest.skip("no floating-point input")
    sw = sample_weight(case, arrays)
    fn = getattr(ul, case.loss)
    t64 = [torch.as_tensor(cast(a, "float64")) for a in arrays]
    weight = torch.as_tensor(sw)
    grads = autodiff("torch", case, arrays, positions, FD_REDUCTIONS, sw, "float64")

    def value(ts: list[Any]) -> float:
        args, kw = case.call_args(tuple(ts))
        return float(combined(torch.sum, fn, args, kw, FD_REDUCTIONS, weight))

    check_finite_differences(value, t64, positions, grads, _perturb_torch, rtol=1e-5, atol=1e-6)


def _fd_reference(case: Case) -> str | None:
    for fw in FD_REFERENCES:
        if fw in case.references and fw not in case.values_only and reference_installed(fw):
            return fw
    return None


REF_CASES = [c for c in CASES if any(fw in c.references and fw not in c.values_only for fw in FD_REFERENCES)]


@pytest.mark.parametrize("case", REF_CASES, ids=[c.id for c in REF_CASES])
def test_gradient_matches_reference(case):
    """d sum(unilosses) / d y_pred == d sum(framework's own loss) / d y_pred (under the case's
    reduction, per-sample values by default).

    The reference (torch first, then tf.nn, Keras, pml, MONAI) runs live in float64 and
    is differentiated by central differences; unilosses by torch autograd, in
    float64 and in float32.
    """
    _require("torch")
    fw = _fd_reference(case)
    if fw is None:
        pytest.skip(f"none of the reference frameworks {sorted(case.references)} is installed")
    ref = case.references[fw]
    arrays = draw(case)
    positions = pred_positions(case, arrays)
    a64 = [cast(a, "float64") for a in arrays]

    def value(xs: list[Any]) -> float:
        return float(np.sum(np.asarray(ref(*xs), dtype=np.float64)))

    numeric = numeric_gradient(value, a64, positions)  # once: the reference is the slow part
    for dtype, rtol, atol in (("float64", 1e-5, 1e-6), ("float32", 1e-5, 2e-6)):
        grads = autodiff("torch", case, arrays, positions, (case.reduction,), None, dtype)
        _, ok, msg = compare(grads, numeric, rtol=rtol, atol=atol)
        assert ok, f"{dtype}: {msg}"


@pytest.mark.parametrize("framework", AUTODIFF)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_every_framework(case, framework):
    """torch autograd, jax.grad and tf.GradientTape in float32, every reduction: finite, == finite
    differences of NumPy's float64 values (in every session: one framework is enough), and == float64
    torch (checked against finite differences above) where torch is installed."""
    import importlib.util

    arrays = draw(case)
    positions = float_positions(case, arrays)
    if not positions:
        pytest.skip("no floating-point input")
    sw = sample_weight(case, arrays)
    got = autodiff(framework, case, arrays, positions, GRAD_REDUCTIONS, sw)
    for i, g in zip(positions, got):
        assert g.shape == np.shape(arrays[i])
        assert np.all(np.isfinite(g)), f"non-finite gradient w.r.t. input {i}"
    # along three directions that cross no kink, as `check` does (four NumPy calls a direction)
    dirs, numeric, (kinks, size) = smooth_directions(numpy_value(case, GRAD_REDUCTIONS, sw), [cast(a, "float64") for a in arrays],
                                         positions)
    scale = max(1.0, *(float(np.max(np.abs(g), initial=0.0)) for g in got))
    _, ok, msg = compare_directional(got, numeric, dirs, rtol=1e-4, atol=1e-5 * scale)
    assert ok, f"against NumPy's finite differences: {msg}"
    assert kinks <= size - kinks, f"{kinks} of {size} entries sit on kinks: the directions would miss most of the gradient"
    if importlib.util.find_spec("torch") is None:
        return
    expected = autodiff("torch", case, arrays, positions, GRAD_REDUCTIONS, sw, "float64")
    for i, g, e in zip(positions, got, expected):
        scale = max(1.0, float(np.max(np.abs(e))))
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5 * scale, err_msg=f"input {i}")


# ------------------------------------- cross-entropy against framework autodiff
B, K = 8, 5
R1 = dict(rtol=1e-6, atol=1e-6)


def _ce_data(seed: int = 0, nchw: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (4, K, 3) if nchw else (B, K)
    z = (rng.standard_normal(shape) * 3).astype(np.float32)
    lshape = (4, 3) if nchw else (B,)
    labels = rng.integers(0, K, lshape)
    labels.flat[1] = -100
    labels.flat[3] = -100
    onehot = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)]
    onehot[0] = rng.dirichlet(np.ones(K))
    yb = rng.integers(0, 2, (B, K)).astype(np.float32)
    yb[0] = rng.uniform(0, 1, K)
    return {
        "z": z,
        "labels": labels,
        "plain_labels": rng.integers(0, K, lshape),
        "onehot": onehot,
        "w": rng.uniform(0.2, 3.0, K).astype(np.float32),
        "yb": yb,
        "zb": (rng.standard_normal((B, K)) * 4).astype(np.float32),
        "pb": rng.uniform(0.02, 0.98, (B, K)).astype(np.float32),
        "pw": rng.uniform(0.5, 3.0, K).astype(np.float32),
        "p": rng.uniform(0.05, 1.0, (B, K)).astype(np.float32),
    }


def _torch_pair(fn_ul: Callable[..., Any], fn_ref: Callable[..., Any], *inputs: np.ndarray, diff: tuple[int, ...]) -> None:
    """Values and gradients (w.r.t. inputs ``diff``) of two torch functions agree to 1e-6."""
    import torch

    def run(fn: Callable[..., Any]) -> tuple[Any, list[Any]]:
        ts = [torch.as_tensor(x.copy()) for x in inputs]
        for i in diff:
            ts[i].requires_grad_(True)
        out = fn(*ts)
        grads = torch.autograd.grad(out.sum(), [ts[i] for i in diff])
        return out.detach().numpy(), [g.numpy() for g in grads]

    (v1, g1), (v2, g2) = run(fn_ul), run(fn_ref)
    assert v1.dtype == v2.dtype == np.float32
    np.testing.assert_allclose(v1, v2, **R1)
    for a, b in zip(g1, g2):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, **R1)


_TORCH_REDUCTIONS = [("none", "none"), ("sum", "sum"), ("mean", "mean_with_sample_weight")]


@pytest.mark.parametrize(("t_red", "u_red"), _TORCH_REDUCTIONS)
@pytest.mark.parametrize("nchw", [False, True], ids=["NC", "NCHW"])
def test_torch_sparse_ce_weights_ignore_smoothing(t_red, u_red, nchw):
    """sparse CE + class_weight + ignore_index + label_smoothing == F.cross_entropy (torch's mean = mean_with_sample_weight)."""
    _require("torch")
    import torch.nn.functional as F

    d = _ce_data(nchw=nchw)
    opts = dict(from_logits=True, ignore_index=-100, label_smoothing=0.15, axis=1 if nchw else -1)
    _torch_pair(
        lambda y, z, w: ul.sparse_categorical_crossentropy(y, z, class_weight=w, reduction=u_red, **opts),
        lambda y, z, w: F.cross_entropy(z, y, weight=w, ignore_index=-100, label_smoothing=0.15, reduction=t_red),
        d["labels"], d["z"], d["w"], diff=(1,),
    )


@pytest.mark.parametrize(("t_red", "u_red"), [("none", "none"), ("sum", "sum"), ("mean", "mean_with_sample_weight")])
def test_torch_nll_loss_weights_ignore(t_red, u_red):
    """nll_loss(log_softmax) == sparse CE on log-probabilities (from_logits=True)."""
    _require("torch")
    import torch
    import torch.nn.functional as F

    d = _ce_data(1)
    _torch_pair(
        lambda y, z, w: ul.sparse_categorical_crossentropy(
            y, torch.log_softmax(z, -1), from_logits=True, class_weight=w, ignore_index=-100, reduction=u_red
        ),
        lambda y, z, w: F.nll_loss(torch.log_softmax(z, -1), y, weight=w, ignore_index=-100, reduction=t_red),
        d["labels"], d["z"], d["w"], diff=(1,),
    )


@pytest.mark.parametrize(("t_red", "u_red"), [("none", "none"), ("sum", "sum"), ("mean", "sum_over_batch_size")])
def test_torch_ce_probability_targets(t_red, u_red):
    """cce + class_weight + smoothing == F.cross_entropy with probability targets (its mean divides by N)."""
    _require("torch")
    import torch.nn.functional as F

    d = _ce_data(2)
    _torch_pair(
        lambda y, z, w: ul.categorical_crossentropy(y, z, from_logits=True, class_weight=w, label_smoothing=0.1, reduction=u_red),
        lambda y, z, w: F.cross_entropy(z, y, weight=w, label_smoothing=0.1, reduction=t_red),
        d["onehot"], d["z"][:, :K], d["w"], diff=(0, 1),
    )


@pytest.mark.parametrize(("t_red", "u_red"), [("none", "none"), ("sum", "sum"), ("mean", "sum_over_batch_size")])
def test_torch_bce_with_logits_pos_weight(t_red, u_red):
    """binary_crossentropy(from_logits, pos_weight, axis=None) == F.binary_cross_entropy_with_logits."""
    _require("torch")
    import torch.nn.functional as F

    d = _ce_data(3)
    _torch_pair(
        lambda y, z, pw: ul.binary_crossentropy(y, z, from_logits=True, pos_weight=pw, axis=None, reduction=u_red),
        lambda y, z, pw: F.binary_cross_entropy_with_logits(z, y, pos_weight=pw, reduction=t_red),
        d["yb"], d["zb"], d["pw"], diff=(0, 1),
    )


@pytest.mark.parametrize(("t_red", "u_red"), [("none", "none"), ("mean", "sum_over_batch_size")])
def test_torch_bce_probabilities(t_red, u_red):
    """binary_crossentropy on probabilities (inside the clip) == F.binary_cross_entropy."""
    _require("torch")
    import torch.nn.functional as F

    d = _ce_data(4)
    _torch_pair(
        lambda y, p: ul.binary_crossentropy(y, p, axis=None, reduction=u_red),
        lambda y, p: F.binary_cross_entropy(p, y, reduction=t_red),
        d["yb"], d["pb"], diff=(0, 1),
    )


def _jax_pair(fn_ul: Callable[..., Any], fn_ref: Callable[..., Any], *inputs: np.ndarray, diff: tuple[int, ...]) -> None:
    import jax
    import jax.numpy as jnp

    xs = [jnp.asarray(x) for x in inputs]

    def grads(fn: Callable[..., Any]) -> Any:
        return jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=diff)(*xs)

    v1, v2 = np.asarray(fn_ul(*xs)), np.asarray(fn_ref(*xs))
    assert v1.dtype == v2.dtype == np.float32
    np.testing.assert_allclose(v1, v2, **R1)
    for a, b in zip(grads(fn_ul), grads(fn_ref)):
        assert np.all(np.isfinite(np.asarray(a)))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **R1)


def test_optax_integer_labels():
    """sparse CE (from_logits) == optax.softmax_cross_entropy_with_integer_labels, value and jax.grad."""
    _require("jax")
    optax = pytest.importorskip("optax")
    d = _ce_data(5)
    _jax_pair(
        lambda y, z: ul.sparse_categorical_crossentropy(y, z, from_logits=True),
        lambda y, z: optax.softmax_cross_entropy_with_integer_labels(z, y),
        d["plain_labels"], d["z"], diff=(1,),
    )


@pytest.mark.parametrize("e", [0.0, 0.2])
def test_optax_smoothed_labels(e):
    """cce(from_logits, label_smoothing=e) == optax.softmax_cross_entropy(z, optax.smooth_labels(y, e))."""
    _require("jax")
    optax = pytest.importorskip("optax")
    d = _ce_data(6)
    _jax_pair(
        lambda y, z: ul.categorical_crossentropy(y, z, from_logits=True, label_smoothing=e),
        lambda y, z: optax.softmax_cross_entropy(z, optax.smooth_labels(y, e)),
        d["onehot"], d["z"], diff=(0, 1),
    )


def test_optax_sigmoid_binary():
    """bce(from_logits, axis=None) == optax.sigmoid_binary_cross_entropy."""
    _require("jax")
    optax = pytest.importorskip("optax")
    d = _ce_data(7)
    _jax_pair(
        lambda y, z: ul.binary_crossentropy(y, z, from_logits=True, axis=None),
        lambda y, z: optax.sigmoid_binary_cross_entropy(z, y),
        d["yb"], d["zb"], diff=(0, 1),
    )


def _tf_pair(fn_ul: Callable[..., Any], fn_ref: Callable[..., Any], *inputs: np.ndarray, diff: tuple[int, ...]) -> None:
    _require("tensorflow")
    import tensorflow as tf

    def run(fn: Callable[..., Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        xs = [tf.convert_to_tensor(x) for x in inputs]
        with tf.GradientTape() as tape:
            for i in diff:
                tape.watch(xs[i])
            out = fn(*xs)
            total = tf.reduce_sum(out)
        gs = tape.gradient(total, [xs[i] for i in diff])
        return out.numpy(), [g.numpy() for g in gs]

    (v1, g1), (v2, g2) = run(fn_ul), run(fn_ref)
    assert v1.dtype == v2.dtype == np.float32
    np.testing.assert_allclose(v1, v2, **R1)
    for a, b in zip(g1, g2):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, **R1)


def test_tf_sparse_softmax():
    """sparse CE (from_logits) == tf.nn.sparse_softmax_cross_entropy_with_logits under GradientTape."""
    _require("tensorflow")
    import tensorflow as tf
    d = _ce_data(8)
    _tf_pair(
        lambda y, z: ul.sparse_categorical_crossentropy(y, z, from_logits=True),
        lambda y, z: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z),
        d["plain_labels"], d["z"], diff=(1,),
    )


@pytest.mark.parametrize("e", [0.0, 0.2])
def test_tf_softmax_smoothed(e):
    """cce(from_logits, label_smoothing) == tf.nn.softmax_cross_entropy_with_logits on smoothed labels."""
    _require("tensorflow")
    import tensorflow as tf
    d = _ce_data(9)
    _tf_pair(
        lambda y, z: ul.categorical_crossentropy(y, z, from_logits=True, label_smoothing=e),
        lambda y, z: tf.nn.softmax_cross_entropy_with_logits(labels=y * (1 - e) + e / K, logits=z),
        d["onehot"], d["z"], diff=(0, 1),
    )


def test_tf_sigmoid_and_weighted():
    """bce(from_logits, axis=None[, pos_weight]) == tf.nn.(weighted_)sigmoid_cross_entropy_with_logits."""
    _require("tensorflow")
    import tensorflow as tf
    d = _ce_data(10)
    _tf_pair(
        lambda y, z: ul.binary_crossentropy(y, z, from_logits=True, axis=None),
        lambda y, z: tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z),
        d["yb"], d["zb"], diff=(0, 1),
    )
    _tf_pair(
        lambda y, z, pw: ul.binary_crossentropy(y, z, from_logits=True, axis=None, pos_weight=pw),
        lambda y, z, pw: tf.nn.weighted_cross_entropy_with_logits(labels=y, logits=z, pos_weight=pw),
        d["yb"], d["zb"], d["pw"], diff=(0, 1),
    )


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy"])
def test_keras_probabilities(name):
    """Probability forms (Keras divides categorical rows by their sum, then clips) under GradientTape."""
    _require("tensorflow")
    keras = pytest.importorskip("keras")
    d = _ce_data(11)
    y, p = (d["yb"], d["pb"]) if name == "binary_crossentropy" else (d["onehot"], d["p"])
    _tf_pair(
        lambda y, p: getattr(ul, name)(y, p),
        lambda y, p: getattr(keras.losses, name)(y, p),
        y, p, diff=(0, 1),
    )
