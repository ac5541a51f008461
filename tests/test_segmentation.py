"""Dice, Tversky and the generalized Dice beyond the conformance cases: Keras' own
DiceTest / TverskyTest (the default is one value for the whole batch, as Keras), Keras
class objects with sample weights under every reduction, optax's options (softmax, class
weights, background, generalized Dice against optax live), the axis convention, config
round trips and bad options; MONAI's options (gradients against MONAI's autograd, hand-checked
values, edge cases: empty foreground, everything masked or ignored).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.conformance import all_cases
from unilosses.testing import assert_close, to_numpy

N = 5
KERAS_REDUCTIONS = ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight")


def _masks(rng, shape=(N, 4, 3, 2)):
    y = (rng.uniform(size=shape) < 0.4).astype(np.float32)
    p = rng.uniform(0.01, 0.99, shape).astype(np.float32)
    return y, p


@pytest.mark.parametrize(("cls", "options"), [("Dice", {}), ("Tversky", {}), ("Tversky", {"alpha": 0.2, "beta": 0.9})])
def test_class_matches_keras_class(cls, options, backend, rng):
    """ul.<Class>(per_sample=True, reduction=r)(y, p, w) == keras.losses.<Class>(axis=(1, 2, 3), reduction=r)(y, p, w),
    and both defaults give one value for the whole batch under every reduction."""
    keras = pytest.importorskip("keras")
    y, p = _masks(rng)
    w = rng.uniform(0.5, 2.0, N).astype(np.float32)
    w[0] = 0.0
    yb, pb, wb = backend.asarray(y), backend.asarray(p), backend.asarray(w)
    for reduction in KERAS_REDUCTIONS:
        expected = to_numpy(getattr(keras.losses, cls)(axis=(1, 2, 3), reduction=reduction, **options)(y, p, sample_weight=w))
        out = getattr(ul, cls)(per_sample=True, reduction=reduction, **options)(yb, pb, wb)
        assert_close(out, expected, rtol=1e-5, atol=1e-6, like=pb)
        expected = to_numpy(getattr(keras.losses, cls)(reduction=reduction, **options)(y, p))
        out = getattr(ul, cls)(reduction=reduction, **options)(yb, pb)
        assert_close(out, expected, rtol=1e-5, atol=1e-6, like=pb)


#: keras/src/losses/losses_test.py (Keras 3.15): DiceTest and TverskyTest, inputs and expected values
KERAS_TESTS = [
    ("Dice", {}, [[1, 2], [1, 2]], [[4, 1], [6, 1]], -0.55555546),
    ("Dice", {}, [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]],
     [[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1]], 0.77777773),
    ("Tversky", {}, [[1, 2], [1, 2]], [[4, 1], [6, 1]], -0.55555546),
    ("Tversky", {"alpha": 0.2, "beta": 0.8}, [[1, 2], [1, 2]], [[4, 1], [6, 1]], -0.29629636),
    ("Tversky", {}, [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]],
     [[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1]], 0.77777773),
    ("Tversky", {"alpha": 0.2, "beta": 0.8}, [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]],
     [[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1]], 0.7916667),
]
_IMAGES = (
    [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]],
    [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]],
)
KERAS_AXIS_TESTS = [
    ("Dice", {}, [0.5, 0.75757575]),
    ("Tversky", {}, [0.5, 0.75757575]),
    ("Tversky", {"alpha": 0.2, "beta": 0.8}, [0.5, 0.7222222]),
]


@pytest.mark.parametrize(("cls", "options", "y", "p", "expected"), KERAS_TESTS)
def test_keras_own_tests_default_is_the_whole_batch(cls, options, y, p, expected, backend):
    """Keras' DiceTest / TverskyTest with the default axis: one value for the whole batch (-0.5556 for
    test_correctness, where one value per sample would average to -0.55). Keras passes integer arrays;
    unilosses refuses an integer y_pred, so they come as floats."""
    keras = pytest.importorskip("keras")
    y, p = np.asarray(y, np.float32), np.asarray(p, np.float32)
    live = to_numpy(getattr(keras.losses, cls)(**options)(y, p))
    np.testing.assert_allclose(live, expected, rtol=1e-6)
    out = getattr(ul, cls)(**options)(backend.asarray(y), backend.asarray(p))
    assert_close(out, np.float32(expected), rtol=1e-6, like=backend.asarray(p))


@pytest.mark.parametrize(("cls", "options", "expected"), KERAS_AXIS_TESTS)
def test_keras_own_tests_with_axis(cls, options, expected, backend):
    """Keras' test_binary_segmentation_with_axis: axis=(1, 2, 3), reduction=None; per_sample=True is the same."""
    y, p = (backend.asarray(np.asarray(a, np.float32)) for a in _IMAGES)
    for kw in ({"axis": (1, 2, 3)}, {"per_sample": True}):
        out = getattr(ul, cls)(**options, **kw, reduction=None)(y, p)
        assert_close(out, np.asarray(expected, np.float32), rtol=1e-6, like=p)


def test_keras_documented_example(backend):
    """Keras' docstring: whole batch 0.6164384 (the default); per sample [0.5, 0.75757575]."""
    y, p = (backend.asarray(np.asarray(a, np.float32)) for a in _IMAGES)
    assert_close(ul.dice(y, p), np.float32(0.6164384), rtol=1e-6, like=p)
    assert_close(ul.dice(y, p, per_sample=True), np.array([0.5, 0.75757575], np.float32), rtol=1e-6, like=p)


def test_whole_batch_dice_is_keras_default(rng):
    keras = pytest.importorskip("keras")
    y, p = _masks(rng)
    out = ul.dice(y, p)
    assert np.shape(out) == ()
    np.testing.assert_allclose(out, to_numpy(keras.losses.dice(y, p)), rtol=1e-6)
    np.testing.assert_allclose(ul.dice(y.reshape(1, -1), p.reshape(1, -1), per_sample=True), [out], rtol=1e-6)


def test_whole_batch_value_takes_only_a_scalar_sample_weight(rng):
    """One value for the batch has no per-sample weights (Keras broadcasts them, which scales the
    batch's value by their mean): a (N,) weight is refused; per_sample=True takes it."""
    y, p = _masks(rng)
    with pytest.raises(ValueError, match=r"sample_weight: expected a shape that broadcasts to the per-sample loss shape \(\)"):
        ul.dice(y, p, sample_weight=np.ones(N, np.float32), reduction="sum")
    np.testing.assert_allclose(ul.Dice()(y, p, 3.0), 3 * ul.dice(y, p), rtol=1e-6)
    assert np.shape(ul.dice(y, p, per_sample=True, sample_weight=np.ones(N))) == (N,)


def test_tversky_half_half_is_dice(backend, rng):
    y, p = (backend.asarray(a) for a in _masks(rng))
    for kw in ({}, {"per_sample": True}, {"smooth": 1.0, "per_sample": True}):
        assert_close(ul.tversky(y, p, **kw), to_numpy(ul.dice(y, p, **kw)), rtol=1e-6)


def test_tversky_alpha_weighs_missed_targets(backend):
    """Keras' alpha multiplies sum(y_true * (1 - y_pred)); beta sum((1 - y_true) * y_pred)."""
    a = backend.asarray
    y, p = a(np.array([[1.0, 1.0, 0.0, 0.0]], np.float32)), a(np.array([[1.0, 0.0, 1.0, 1.0]], np.float32))
    # I = 1, missed = 1, extra = 2
    assert_close(ul.tversky(y, p, alpha=1.0, beta=0.25, per_sample=True), np.array([1 - 1 / 2.5], np.float32), rtol=1e-6)
    assert_close(ul.tversky(y, p, alpha=0.0, beta=1.0), np.float32(1 - 1 / 3), rtol=1e-6, like=p)


def test_integer_axis_keeps_other_axes(backend, rng):
    y, p = _masks(rng)
    out = to_numpy(ul.dice(backend.asarray(y), backend.asarray(p), axis=2))
    assert out.shape == (N, 4, 2)


def test_empty_masks_give_one():
    y = np.zeros((2, 3), np.float32)
    p = np.array([[0.0, 0.0, 0.0], [0.2, 0.3, 0.1]], np.float32)
    out = ul.dice(y, p, per_sample=True)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [1.0, 1.0])
    np.testing.assert_allclose(ul.dice(y, p, per_sample=True, smooth=1.0), [0.0, 1 - 2 / 2.6], rtol=1e-6)


# ------------------------------------------------------- optax's options
def _onehot(rng, shape=(N, 4, 3), k=3):
    y = np.eye(k, dtype=np.float32)[rng.integers(0, k, shape)]
    return y, rng.standard_normal(y.shape).astype(np.float32)


def test_softmax_of_logits_is_probabilities(backend, rng):
    """optax's test_apply_softmax_flag: from_logits=True on logits == from_logits=False on their softmax."""
    y, z = _onehot(rng)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    kw = {"per_sample": True, "class_axis": -1, "smooth": 1.0}
    out = ul.dice(backend.asarray(y), backend.asarray(z), from_logits=True, **kw)
    assert_close(out, ul.dice(y, p, **kw), rtol=1e-5, atol=1e-6, like=backend.asarray(z))


def test_one_class_is_a_sigmoid(backend, rng):
    """A class axis of size 1 takes a sigmoid (optax), as no class axis does; unit class weights are none."""
    y = (rng.uniform(size=(N, 4, 3, 1)) < 0.5).astype(np.float32)
    z = rng.standard_normal(y.shape).astype(np.float32)
    yb, zb = backend.asarray(y), backend.asarray(z)
    a = ul.dice(yb, zb, per_sample=True, class_axis=-1, from_logits=True, class_weight=[1.0])
    b = ul.dice(yb, zb, per_sample=True, from_logits=True)
    assert_close(a, to_numpy(b), rtol=1e-6, atol=1e-7)
    sig = 1 / (1 + np.exp(-z))
    assert_close(b, ul.dice(y, sig, per_sample=True), rtol=1e-5, atol=1e-6)


def test_ignore_background_drops_class_zero(backend, rng):
    """optax's test_ignore_background_parameter: the foreground classes' mean."""
    y, z = _onehot(rng)
    yb, zb = backend.asarray(y), backend.asarray(z)
    kw = {"class_axis": -1, "from_logits": True, "smooth": 1.0}
    per_class = to_numpy(ul.dice(yb, zb, axis=(1, 2), **kw, class_weight=[0.0, 1.5, 1.5]))  # mean of 3
    out = ul.dice(yb, zb, per_sample=True, ignore_background=True, **kw)
    assert_close(out, per_class, rtol=1e-6, atol=1e-7)  # 1.5 * (d1 + d2) / 3 == (d1 + d2) / 2


@selected("jax")
def test_generalized_dice_equals_optax_live(rng):
    """ul.multiclass_generalized_dice(reduction="mean") == optax's scalar, values and jax.grad."""
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp

    labels = rng.choice(3, (N, 6, 5), p=[0.8, 0.15, 0.05])  # imbalanced, as optax's own test
    y = jnp.asarray(np.eye(3, dtype=np.float32)[labels])
    z = jnp.asarray(rng.standard_normal((N, 6, 5, 3)).astype(np.float32))
    for ib in (False, True):
        def ref(z, ib=ib):
            return optax.losses.multiclass_generalized_dice_loss(z, y, ignore_background=ib)

        def ours(z, ib=ib):
            return ul.multiclass_generalized_dice(y, z, from_logits=True, ignore_background=ib, reduction="mean")

        np.testing.assert_allclose(ours(z), ref(z), rtol=1e-5)
        np.testing.assert_allclose(jax.grad(ours)(z), jax.grad(ref)(z), rtol=1e-4, atol=1e-7)


def test_generalized_dice_weights_rare_classes(backend, rng):
    """Inverse squared frequencies: a rare class's loss counts more than in the plain class mean."""
    labels = rng.choice(3, (N, 6, 5), p=[0.9, 0.08, 0.02])
    y = np.eye(3, dtype=np.float32)[labels]
    p = np.full(y.shape, 1 / 3, np.float32)
    p[..., 0] = 0.9 * y[..., 0] + 0.05  # class 0 right, the others not
    p[..., 1] = p[..., 2] = (1 - p[..., 0]) / 2
    gdl = to_numpy(ul.multiclass_generalized_dice(backend.asarray(y), backend.asarray(p), reduction="mean"))
    plain = ul.dice(y, p, per_sample=True, class_axis=-1, reduction="mean")
    assert gdl > plain


# ------------------------------------------------------- config and registry
@pytest.mark.parametrize(
    ("cls", "options"),
    [
        ("Dice", {"axis": -1}),
        ("Dice", {"per_sample": True, "class_axis": -1, "smooth": 1.0, "class_weight": [1.0, 2.0], "ignore_background": True}),
        ("Tversky", {"alpha": 0.1, "beta": 3.0}),
        ("MulticlassGeneralizedDice", {"from_logits": True, "smooth": 0.5}),
        ("Dice", {"class_axis": -1, "per_sample": True, "per_class": True, "activation": "sigmoid", "squared_pred": True,
                  "smooth_nr": 0.1, "smooth_dr": 0.2}),
        ("GeneralizedDice", {"w_type": "simple", "ignore_background": True}),
        ("DiceCE", {"lambda_ce": 0.5, "activation": "softmax"}),
        ("DiceFocal", {"gamma": 1.0, "focal_alpha": 0.3}),
        ("GeneralizedDiceFocal", {"lambda_gdl": 2.0, "w_type": "uniform"}),
        ("AsymmetricUnifiedFocal", {"weight": 0.2, "delta": 0.6, "gamma": 0.3, "sparse": False}),
    ],
)
def test_config_round_trip(cls, options, rng, config_round_trip):
    loss, again = config_round_trip(getattr(ul, cls), options)
    y, p = _masks(rng)
    assert_close(again(y, p), to_numpy(loss(y, p)))


def test_get_by_name():
    assert ul.get("dice") is ul.dice
    assert ul.get("tversky") is ul.tversky
    assert ul.get("multiclass_generalized_dice") is ul.multiclass_generalized_dice
    assert isinstance(ul.get("Dice"), ul.Dice)
    assert ul.get({"class_name": "Tversky", "config": {"alpha": 0.3}}).get_config()["alpha"] == 0.3


# --------------------------------------------------------------- bad options
@pytest.mark.parametrize(
    ("fn", "options", "exc", "match"),
    [
        (ul.tversky, {"alpha": -0.1}, ValueError, r"alpha: expected a value in \[0(\.0)?, inf\]"),
        (ul.tversky, {"beta": -1.0}, ValueError, r"beta: expected a value in \[0(\.0)?, inf\]"),
        (ul.dice, {"axis": 4}, ValueError, r"axis: expected an axis in \[-4, 3\]"),
        (ul.dice, {"axis": (1, -3)}, ValueError, r"axis: expected distinct axes, got \(1, -3\)"),
        (ul.tversky, {"axis": (1, 9)}, ValueError, r"axis: expected an axis in \[-4, 3\] for y_pred of rank 4, got 9"),
        (ul.dice, {"axis": ()}, TypeError, r"axis: expected an integer axis, a non-empty tuple of them, or None"),
        (ul.dice, {"axis": (1, 2.0)}, TypeError, r"axis: expected an integer axis, a non-empty tuple of them"),
        (ul.dice, {"axis": "1"}, TypeError, r"axis: expected an integer axis, a tuple of them, or None, got '1'"),
        (ul.mean_squared_error, {"axis": (1, 2)}, TypeError, r"axis: expected an integer axis or None"),
        (ul.dice, {"alpha": 0.5}, TypeError, r"unexpected option.*alpha"),
        (ul.dice, {"per_sample": True, "axis": 1}, ValueError, r"per_sample: sums over every axis but the first, so it needs axis=None"),
        (ul.dice, {"per_sample": 1}, TypeError, r"per_sample: expected True or False"),
        (ul.tversky, {"smooth": -1.0}, ValueError, r"smooth: expected a value in \[0(\.0)?, inf\]"),
        (ul.dice, {"class_axis": 1.0}, TypeError, r"class_axis: expected an integer axis or None"),
        (ul.dice, {"class_axis": 5}, ValueError, r"class_axis: expected an axis in \[-4, 3\] for y_pred of rank 4, got 5"),
        (ul.dice, {"class_axis": -1, "axis": (1, 3)}, ValueError, r"class_axis: the class axis 3 cannot be summed over"),
        (ul.dice, {"class_axis": 0, "per_sample": True}, ValueError, r"class_axis: the class axis 0 cannot be the batch axis of per_sample=True"),
        (ul.dice, {"class_weight": [1.0, 2.0]}, ValueError, r"class_weight: needs the class axis; pass class_axis="),
        (ul.dice, {"ignore_background": True}, ValueError, r"ignore_background: needs the class axis; pass class_axis="),
        (ul.dice, {"class_axis": -1, "class_weight": [1.0, 2.0, 3.0]}, ValueError, r"class_weight: expected a 1-D array with one weight per class \(2\)"),
        (ul.multiclass_generalized_dice, {"ignore_background": "yes"}, TypeError, r"ignore_background: expected True or False"),
        (ul.multiclass_generalized_dice, {"class_axis": None}, TypeError, r"class_axis: expected an integer axis \(the class axis\), got None"),
    ],
)
def test_bad_options(fn, options, exc, match, rng):
    y, p = _masks(rng)
    with pytest.raises(exc, match=match):
        fn(y, p, **options)


def test_tversky_accepts_keras_ranges(backend, rng):
    """Keras allows beta=0 and alpha > 1 (a loss that ignores false positives / stresses misses)."""
    keras = pytest.importorskip("keras")
    y, p = _masks(rng)
    for alpha, beta in ((1.0, 0.0), (2.5, 0.5)):
        axes = tuple(range(1, y.ndim))
        expected = keras.ops.convert_to_numpy(keras.losses.tversky(y, p, alpha=alpha, beta=beta, axis=axes))
        out = ul.tversky(backend.asarray(y), backend.asarray(p), alpha=alpha, beta=beta, per_sample=True)
        assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_one_dimensional_input():
    """A 1-D input is one sample: fine by default (the whole batch), not per sample."""
    y = np.array([1.0, 0.0], np.float32)
    with pytest.raises(ValueError, match=r"y_pred: expected a batch of shape \(batch, ...\) with at least 2 axes for per_sample=True"):
        ul.dice(y, y, per_sample=True)
    np.testing.assert_allclose(ul.dice(y, y, axis=0), 0.0, atol=1e-7)
    np.testing.assert_allclose(ul.dice(y, y), 0.0, atol=1e-7)


def test_axis_tuple_validation_is_not_cached_across_element_types(rng):
    """(1, 2.0) == (1, 2) in Python: the option cache must still refuse the float axis."""
    y, p = _masks(rng)
    ul.dice(y, p, axis=(1, 2))
    with pytest.raises(TypeError, match=r"axis: expected an integer axis, a non-empty tuple of them"):
        ul.dice(y, p, axis=(1, 2.0))


def test_axis_tuple_per_channel(backend, rng):
    """axis=(1, 2) on (N, H, W, C): one value per sample and channel, each the Dice of that
    channel's mask (checked against the int-axis form on the flattened channel)."""
    y, p = _masks(rng, (N, 4, 3, 2))
    out = ul.dice(backend.asarray(y), backend.asarray(p), axis=(2, -3))
    flat = lambda a: np.moveaxis(a, -1, 1).reshape(N, 2, -1)  # noqa: E731
    assert_close(out, ul.dice(flat(y), flat(p), axis=-1), rtol=1e-6, atol=1e-6, like=backend.asarray(p))
    # the same with the channels as optax's class axis, before the mean over classes
    per_class = ul.dice(backend.asarray(y), backend.asarray(p), per_sample=True, class_axis=-1)
    assert_close(per_class, to_numpy(out).mean(-1), rtol=1e-6, atol=1e-6, like=backend.asarray(p))


def test_keras_epsilon_only_without_smooth(backend, rng):
    """The denominator takes Keras' 1e-7 where smooth = 0 (Keras has no smooth) and optax's smooth
    alone otherwise (optax's own test compares at rtol 1e-6 in float32), also for a 0-d array smooth."""
    y, p = (a.astype(np.float64) for a in _masks(rng, (3, 4)))
    i, s_y, s_p = (y * p).sum(1), y.sum(1), p.sum(1)
    yb, pb = backend.asarray(y), backend.asarray(p)
    for smooth, guard in ((0.0, 1e-7), (1.0, 0.0), (np.float64(0.0), 1e-7), (np.float64(0.5), 0.0)):
        s = backend.asarray(smooth) if isinstance(smooth, np.floating) else smooth
        out = ul.dice(yb, pb, per_sample=True, smooth=s)
        tol = 1e-12 if to_numpy(out).dtype == np.float64 else 1e-6  # JAX without x64: float32
        expected = 1 - (2 * i + 2 * float(smooth)) / (s_y + s_p + 2 * float(smooth) + guard)
        assert_close(out, expected.astype(to_numpy(out).dtype), rtol=tol, atol=0.0)
        out = ul.tversky(yb, pb, alpha=0.3, beta=0.7, per_sample=True, smooth=s)
        expected = 1 - (i + float(smooth)) / (i + 0.3 * (s_y - i) + 0.7 * (s_p - i) + float(smooth) + guard)
        assert_close(out, expected.astype(to_numpy(out).dtype), rtol=tol, atol=0.0)


# ------------------------------------------------------- MONAI's options
MONAI_CASES = [c for c in all_cases() if hasattr(c.references.get("monai"), "torch")]


@selected("torch")
@pytest.mark.parametrize("case", MONAI_CASES, ids=[c.id for c in MONAI_CASES])
def test_gradient_matches_monai_autograd(case):
    """torch autograd of unilosses == torch autograd of MONAI's loss (live, float64), w.r.t. y_pred."""
    pytest.importorskip("monai")
    import torch

    from unilosses.check.gradients import draw
    from unilosses.conformance import ref_inputs

    arrays = draw(case)
    ts = ref_inputs("torch", *arrays)
    grads = []
    for fn in (case.references["monai"].torch, None):
        z = ts[1].clone().requires_grad_(True)
        full = [ts[0], z, *ts[2:]]
        if fn is None:
            args, kw = case.call_args(tuple(full))
            out = getattr(ul, case.loss)(*args, **kw, reduction=case.reduction)
        else:
            out = fn(*full)
        torch.sum(out).backward()
        grads.append(z.grad.numpy())
    # MONAI's focal term and Wasserstein weights compute in float32 whatever the input (.float())
    tol = {"rtol": 1e-5, "atol": 1e-7} if "focal" in case.loss or "wasserstein" in case.loss else {"rtol": 1e-6, "atol": 1e-9}
    np.testing.assert_allclose(grads[1], grads[0], **tol)


def test_monai_smoothing_maps_to_half_smooth_for_dice_and_smooth_for_tversky(backend, rng):
    """MONAI's smooth_nr = smooth_dr = s is dice(smooth=s/2) (MONAI adds s once, unilosses 2 s) but
    tversky(smooth=s) (one s on each side in both)."""
    y, p = (backend.asarray(a) for a in _masks(rng))
    for s in (0.5, 2.0):
        kw = {"per_sample": True, "smooth_nr": s, "smooth_dr": s}
        assert_close(ul.dice(y, p, **kw), to_numpy(ul.dice(y, p, per_sample=True, smooth=s / 2)), rtol=1e-6)
        assert_close(
            ul.tversky(y, p, alpha=0.3, beta=0.7, **kw),
            to_numpy(ul.tversky(y, p, alpha=0.3, beta=0.7, per_sample=True, smooth=s)),
            rtol=1e-6,
        )


def test_hand_checked_jaccard_squared_and_soft_label(backend):
    """One sample, one class: y = [1, 0.5, 0], p = [0.5, 0.5, 1]; I = 0.75, Y = 1.5, P = 2,
    sum(y^2) = 1.25, sum(p^2) = 1.5, sum|p - y| = 1.5 (soft-label I = (1.5 + 2 - 1.5) / 2 = 1)."""
    y = backend.asarray(np.array([[1.0, 0.5, 0.0]], np.float32))
    p = backend.asarray(np.array([[0.5, 0.5, 1.0]], np.float32))
    kw = {"per_sample": True, "smooth_nr": 0.0, "smooth_dr": 0.0}
    cases = [
        ({}, 1 - 1.5 / 3.5),
        ({"jaccard": True}, 1 - 1.5 / (2 * (3.5 - 0.75))),
        ({"squared_pred": True}, 1 - 1.5 / 2.75),
        ({"soft_label": True}, 1 - 2.0 / 3.5),
        ({"soft_label": True, "jaccard": True}, 1 - 2.0 / (2 * 2.5)),
    ]
    for opts, expected in cases:
        assert_close(ul.dice(y, p, **kw, **opts), np.array([expected], np.float32), rtol=1e-6, like=p)
    # Tversky with soft labels: missed = Y - I = 0.5, extra = P - I = 1
    out = ul.tversky(y, p, alpha=0.3, beta=0.7, soft_label=True, **kw)
    assert_close(out, np.array([1 - 1 / (1 + 0.15 + 0.7)], np.float32), rtol=1e-6, like=p)


def test_labels_equal_one_hot_and_mask_covering_everything(backend, rng):
    """sparse=True on labels == the one-hot targets; a mask of ones changes nothing; a mask of zeros
    leaves 1 - smooth_nr / smooth_dr (every sum 0); ignore_index on every pixel of a sample
    leaves that sample out (MONAI would count 1 - smooth_nr / smooth_dr in its mean)."""
    labels = rng.integers(0, 3, (N, 4, 5))
    y = np.moveaxis(np.eye(3, dtype=np.float32)[labels], -1, 1)
    z = rng.standard_normal(y.shape).astype(np.float32)
    lb, yb, zb = backend.asarray(labels), backend.asarray(y), backend.asarray(z)
    kw = {"class_axis": 1, "per_sample": True, "activation": "softmax", "smooth_nr": 1e-5, "smooth_dr": 2e-5}
    ref = to_numpy(ul.dice(yb, zb, **kw))
    assert_close(ul.dice(lb, zb, sparse=True, **kw), ref, rtol=1e-6)
    assert_close(ul.dice(backend.asarray(labels[:, None]), zb, sparse=True, **kw), ref, rtol=1e-6)
    ones, zeros = np.ones((N, 1, 4, 5), np.float32), np.zeros((N, 1, 4, 5), np.float32)
    assert_close(ul.dice(yb, zb, mask=backend.asarray(ones), **kw), ref, rtol=1e-6)
    assert_close(ul.dice(yb, zb, mask=backend.asarray(zeros), **kw), np.full(N, 0.5, np.float32), rtol=1e-6, like=zb)
    # a sample with every pixel ignored is itself ignored: 0, and left out of the means
    every = np.full((N, 4, 5), 255)
    every[0] = labels[0]
    eb = backend.asarray(every)
    first = np.zeros(N, np.float32)
    first[0] = to_numpy(ref)[0]
    for fn in (ul.dice, ul.tversky):
        assert_close(fn(eb, zb, sparse=True, ignore_index=255, **kw), first, rtol=1e-6, like=zb)
        assert_close(fn(eb, zb, sparse=True, ignore_index=255, **kw, reduction="mean"), np.float32(first[0]), rtol=1e-6, like=zb)


def test_per_class_and_its_mean(backend, rng):
    """per_class=True keeps one value per class (last axis), weighted; their mean is the default."""
    y, z = _onehot(rng)
    yb, zb = backend.asarray(y), backend.asarray(z)
    kw = {"class_axis": -1, "per_sample": True, "from_logits": True, "class_weight": [0.5, 1.0, 2.0]}
    per_class = to_numpy(ul.dice(yb, zb, per_class=True, **kw))
    assert per_class.shape == (N, 3)
    assert_close(ul.dice(yb, zb, **kw), per_class.mean(-1), rtol=1e-6)
    # NCHW: the class axis still comes last
    yc, zc = (backend.asarray(np.ascontiguousarray(np.moveaxis(a, -1, 1))) for a in (y, z))
    out = ul.tversky(yc, zc, per_class=True, class_axis=1, per_sample=True, from_logits=True, class_weight=[0.5, 1.0, 2.0])
    assert_close(out, to_numpy(ul.tversky(yb, zb, per_class=True, **kw)), rtol=1e-6)
    # background out: K - 1 weights (MONAI) or K weights (optax) give the same
    a = ul.dice(yb, zb, per_class=True, ignore_background=True, **{**kw, "class_weight": [1.0, 2.0]})
    b = ul.dice(yb, zb, per_class=True, ignore_background=True, **{**kw, "class_weight": [9.0, 1.0, 2.0]})
    assert to_numpy(a).shape == (N, 2)
    assert_close(a, to_numpy(b), rtol=1e-6)


def test_callable_activation(backend, rng):
    """activation=<callable> is applied to y_pred (MONAI's other_act), after nothing else."""
    y, p = _onehot(rng)[0], rng.uniform(0, 1, (N, 4, 3, 3)).astype(np.float32)
    yb, pb = backend.asarray(y), backend.asarray(p)
    out = ul.dice(yb, pb, class_axis=-1, per_sample=True, activation=lambda t: 0.5 * t + 0.25)
    assert_close(out, ul.dice(y, 0.5 * p + 0.25, class_axis=-1, per_sample=True), rtol=1e-6, like=pb)


def test_generalized_dice_empty_foreground_is_zero(backend):
    """MONAI's convention: a sample without any target class present (here background left out,
    none of the foreground) has every weight 0, so 1 - smooth_nr / smooth_dr = 0; optax's
    multiclass_generalized_dice gives its own per-class value there."""
    labels = np.zeros((2, 6), np.int64)
    labels[1, :3] = 1
    z = np.zeros((2, 3, 6), np.float32)
    lb, zb = backend.asarray(labels), backend.asarray(z)
    out = ul.generalized_dice(lb, zb, class_axis=1, sparse=True, activation="softmax", ignore_background=True)
    assert to_numpy(out)[0] == 0.0
    # the present class: I = 3 / 3, Y = 3, P = 6 / 3; the absent class 2 takes class 1's weight 1/9
    w = 1 / 9
    expected = 1 - (2 * w * 1 + 1e-5) / (w * (3 + 2) + w * (0 + 2) + 1e-5)
    assert_close(out, np.array([0.0, expected], np.float32), rtol=1e-6, like=zb)


def test_generalized_dice_gradient_is_finite_on_empty_classes(rng):
    """Infinite weights of absent classes are replaced before any division: finite gradients,
    w.r.t. soft targets too."""
    torch = pytest.importorskip("torch")
    y = torch.zeros((2, 3, 5), dtype=torch.float64)
    y[1, 0] = 1.0
    y.requires_grad_(True)
    z = torch.as_tensor(rng.standard_normal((2, 3, 5))).requires_grad_(True)
    for w_type in ("square", "simple", "uniform"):
        out = ul.generalized_dice(y, z, class_axis=1, from_logits=True, w_type=w_type)
        y.grad = z.grad = None
        out.sum().backward()
        assert torch.isfinite(y.grad).all() and torch.isfinite(z.grad).all()


@pytest.mark.parametrize(
    ("fn", "options", "exc", "match"),
    [
        (ul.dice, {"per_class": True}, ValueError, r"per_class: needs the class axis"),
        (ul.dice, {"sparse": True}, ValueError, r"sparse: needs the class axis"),
        (ul.tversky, {"ignore_index": 3}, ValueError, r"ignore_index: needs the class axis"),
        (ul.dice, {"activation": "softmax"}, ValueError, r"activation: 'softmax' needs the class axis"),
        (ul.dice, {"activation": "relu"}, ValueError, r"activation: expected None, 'sigmoid', 'softmax' or a callable"),
        (ul.dice, {"activation": "sigmoid", "from_logits": True}, ValueError, r"activation: from_logits=True already"),
        (ul.dice, {"smooth_nr": 1e-5}, ValueError, r"smooth_nr, smooth_dr: give both"),
        (ul.dice, {"smooth_nr": 1e-5, "smooth_dr": 1e-5, "smooth": 1.0}, ValueError, r"smooth: replaced by smooth_nr"),
        (ul.tversky, {"smooth_nr": -1.0, "smooth_dr": 1.0}, ValueError, r"smooth_nr: expected a value in"),
        (ul.dice, {"jaccard": 1}, TypeError, r"jaccard: expected True or False"),
        (ul.dice, {"class_axis": -1, "mask": np.ones((2, 4))}, ValueError, r"mask: expected a shape that broadcasts"),
        (ul.generalized_dice, {"w_type": "cube"}, ValueError, r"w_type: expected one of 'square', 'simple', 'uniform'"),
        (ul.dice, {"class_axis": -1, "activation": "softmax", "axis": 1}, ValueError, r"activation: 'softmax' over a class axis of size 1"),
    ],
)
def test_bad_monai_options(fn, options, exc, match, rng):
    y = (rng.uniform(size=(N, 4, 3, 1)) < 0.4).astype(np.float32)
    p = rng.uniform(0.01, 0.99, y.shape).astype(np.float32)
    with pytest.raises(exc, match=match):
        fn(y, p, **options)


def test_sparse_labels_out_of_range(rng):
    labels = rng.integers(0, 3, (2, 4))
    labels[0, 0] = 5
    with pytest.raises(ValueError, match=r"y_true: labels must lie in \[0, 2\]"):
        ul.dice(labels, rng.standard_normal((2, 3, 4)), class_axis=1, sparse=True)


@selected("torch")
def test_whole_batch_per_class_matches_monai(rng):
    """MONAI's batch=True with reduction="none" (one value per class for the batch) is
    per_sample=False, per_class=True (Dice with squared_pred and jaccard; Tversky with soft labels)."""
    monai = pytest.importorskip("monai.losses")
    import torch

    y = np.moveaxis(np.eye(3)[rng.integers(0, 3, (N, 4, 5))], -1, 1)
    z = rng.standard_normal(y.shape) * 2
    yt, zt = torch.as_tensor(y), torch.as_tensor(z)
    kw = {"class_axis": 1, "per_class": True, "smooth_nr": 1e-5, "smooth_dr": 1e-5}
    ref = monai.DiceLoss(sigmoid=True, squared_pred=True, jaccard=True, batch=True, reduction="none")(zt, yt)
    out = ul.dice(yt, zt, activation="sigmoid", squared_pred=True, jaccard=True, **kw)
    np.testing.assert_allclose(out.numpy(), ref.reshape(-1).numpy(), rtol=1e-10)
    p = rng.uniform(size=y.shape)
    ref = monai.TverskyLoss(alpha=0.3, beta=0.7, soft_label=True, batch=True, reduction="none")(torch.as_tensor(p), yt * 0.8)
    out = ul.tversky(yt * 0.8, torch.as_tensor(p), alpha=0.7, beta=0.3, soft_label=True, **kw)
    np.testing.assert_allclose(out.numpy(), ref.reshape(-1).numpy(), rtol=1e-10)


@selected("jax")
def test_out_of_range_label_under_jit_is_nan(rng):
    """Labels that cannot be read (jax.jit): an out-of-range label makes its sample NaN, not a
    silently empty class; an ignored one does not."""
    import jax

    labels = rng.integers(0, 3, (3, 1, 6))
    labels[1, 0, 2] = 5
    labels[2, 0, 3] = 255
    z = rng.standard_normal((3, 3, 6)).astype(np.float32)
    out = np.asarray(jax.jit(lambda y, z: ul.dice(y, z, class_axis=1, per_sample=True, sparse=True, ignore_index=255))(labels, z))
    assert np.isnan(out[1]) and np.all(np.isfinite(out[[0, 2]]))


def test_dice_ce_terms(backend, rng):
    """dice_ce is lambda_dice * dice + lambda_ce * the per-sample mean of the cross-entropy of the
    logits (the Dice term's activation does not reach the cross-entropy)."""
    labels = rng.integers(0, 3, (N, 1, 4, 5))
    z = (rng.standard_normal((N, 3, 4, 5)) * 2).astype(np.float32)
    lb, zb = backend.asarray(labels), backend.asarray(z)
    kw = {"class_axis": 1, "sparse": True, "activation": "softmax"}
    d = to_numpy(ul.dice(lb, zb, per_sample=True, smooth_nr=1e-5, smooth_dr=1e-5, **kw))
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    ce = -np.take_along_axis(logp, labels, axis=1).mean(axis=(1, 2, 3))
    out = ul.dice_ce(lb, zb, lambda_dice=0.25, lambda_ce=3.0, **kw)
    assert_close(out, (0.25 * d + 3.0 * ce).astype(np.float32), rtol=1e-5, atol=1e-6, like=zb)
    assert_close(ul.dice_ce(lb, zb, lambda_ce=0.0, **kw), d, rtol=1e-6, like=zb)


def test_generalized_dice_ignored_sample_is_left_out(backend, rng):
    """A sample whose every pixel is ignored: 0, out of the mean; the whole-batch value is the
    value of the other samples alone."""
    labels = rng.integers(0, 3, (3, 1, 4, 5))
    labels[2] = 9
    z = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    lb, zb = backend.asarray(labels), backend.asarray(z)
    kw = {"class_axis": 1, "sparse": True, "activation": "softmax"}
    out = to_numpy(ul.generalized_dice(lb, zb, ignore_index=9, **kw))
    clean = ul.generalized_dice(labels[:2], z[:2], **kw)
    assert_close(out, np.append(clean, 0).astype(np.float32), rtol=1e-6, atol=1e-7)
    assert_close(ul.generalized_dice(lb, zb, ignore_index=9, **kw, reduction="mean"), np.float32(clean.mean()), rtol=1e-6, like=zb)
    whole = ul.generalized_dice(labels[:2], z[:2], per_sample=False, **kw)
    assert_close(ul.generalized_dice(lb, zb, ignore_index=9, per_sample=False, **kw), whole, rtol=1e-6, like=zb)


def test_bad_combined_and_wasserstein_options(rng):
    labels = rng.integers(0, 3, (2, 1, 4))
    z = rng.standard_normal((2, 3, 4)).astype(np.float32)
    kw = {"class_axis": 1, "sparse": True}
    with pytest.raises(ValueError, match=r"dist_matrix: expected a \(3, 3\) array for 3 classes, got shape \(2, 2\)"):
        ul.generalized_wasserstein_dice(labels, z, dist_matrix=np.ones((2, 2)), **kw)
    with pytest.raises(ValueError, match=r"weighting_mode: expected one of 'default', 'GDL'"):
        ul.generalized_wasserstein_dice(labels, z, dist_matrix=np.ones((3, 3)), weighting_mode="gdl", **kw)
    with pytest.raises(ValueError, match=r"focal_alpha: expected a value in \[0(\.0)?, 1(\.0)?\]"):
        ul.dice_focal(labels, z, focal_alpha=1.5, **kw)
    with pytest.raises(ValueError, match=r"lambda_ce: expected a value in \[0(\.0)?, inf\]"):
        ul.dice_ce(labels, z, lambda_ce=-1.0, **kw)
    with pytest.raises(ValueError, match=r"class_weight: expected a 1-D array with one weight per class \(3\)"):
        ul.dice_focal(labels, z, class_weight=np.ones(4), **kw)


def test_wasserstein_with_a_zero_one_matrix_is_a_plain_overlap(backend, rng):
    """Hand check: with M = 1 - I (all errors cost 1) and the default weights, W[s] = 1 - p[label]
    and TP = sum over foreground pixels of p[label]."""
    labels = rng.integers(0, 3, (2, 1, 6))
    p = rng.dirichlet(np.ones(3), (2, 6)).transpose(0, 2, 1).astype(np.float32)  # (2, 3, 6) probabilities
    out = ul.generalized_wasserstein_dice(
        backend.asarray(labels), backend.asarray(p), dist_matrix=backend.asarray(1 - np.eye(3, dtype=np.float32)),
        class_axis=1, sparse=True,
    )
    pl = np.take_along_axis(p, labels, axis=1)[:, 0]  # (2, 6)
    fg = labels[:, 0] > 0
    tp = (fg * pl).sum(1)
    expected = 1 - (2 * tp + 1e-5) / (2 * tp + (1 - pl).sum(1) + 1e-5)
    assert_close(out, expected.astype(np.float32), rtol=1e-5, atol=1e-6)


# ------------------------------------------------ asymmetric unified focal (MONAI)
def _binary_probs(rng, shape=(N, 4, 5)):
    """Integer label maps 0 / 1 (N, ...) and background / foreground probabilities (N, 2, ...)."""
    labels = (rng.uniform(size=shape) < 0.3).astype(np.int64)
    fg = rng.uniform(0.02, 0.98, (shape[0], 1, *shape[1:])).astype(np.float32)
    return labels, np.concatenate([1 - fg, fg], axis=1)


def test_asymmetric_unified_focal_by_hand(backend):
    """One sample, one foreground channel: y = [0, 1], p = [0.2, 0.6] (background 1 - p). The
    focal term is the mean over 2 classes x 2 positions of 0.3 (1 - p0)^0.5 (-y0 log p0) and
    0.7 (-y1 log p1); TI_0 = (0.8 + e) / (0.8 + 0.7 * 0.2 + 0.3 * 0.4 + e), TI_1 = (0.6 + e) /
    (0.6 + 0.7 * 0.4 + 0.3 * 0.2 + e)."""
    y = backend.asarray(np.array([[[0.0], [1.0]]], np.float32))
    p = backend.asarray(np.array([[[0.2], [0.6]]], np.float32))
    e = 1e-7
    focal = (0.3 * np.sqrt(0.2) * -np.log(0.8) + 0.7 * -np.log(0.6)) / 4
    ti0 = (0.8 + e) / (0.8 + 0.7 * 0.2 + 0.3 * 0.4 + e)
    ti1 = (0.6 + e) / (0.6 + 0.7 * 0.4 + 0.3 * 0.2 + e)
    tversky = (1 - ti0 + np.sqrt(1 - ti1)) / 2
    expected = np.array([0.5 * focal + 0.5 * tversky], np.float32)
    assert_close(ul.asymmetric_unified_focal(y, p), expected, rtol=1e-6, like=p)
    # weight 1 and 0: each term alone
    assert_close(ul.asymmetric_unified_focal(y, p, weight=1.0), np.array([focal], np.float32), rtol=1e-6, like=p)
    assert_close(ul.asymmetric_unified_focal(y, p, weight=0.0), np.array([tversky], np.float32), rtol=1e-6, like=p)


def test_asymmetric_unified_focal_layouts_agree(backend, rng):
    """Label maps (with or without the size-1 class axis), one-hot targets, one foreground channel,
    channels last and logits (softmax of two channels, sigmoid of one) give the same values."""
    labels, p = _binary_probs(rng)
    y = np.stack([1 - labels, labels], axis=1).astype(np.float32)
    a = backend.asarray
    kw = {"class_axis": 1, "weight": 0.4, "delta": 0.6, "gamma": 0.3}
    ref = to_numpy(ul.asymmetric_unified_focal(a(y), a(p), **kw))
    assert ref.shape == (N,)
    assert_close(ul.asymmetric_unified_focal(a(labels), a(p), sparse=True, **kw), ref, rtol=1e-6)
    assert_close(ul.asymmetric_unified_focal(a(labels[:, None]), a(p), sparse=True, **kw), ref, rtol=1e-6)
    assert_close(ul.asymmetric_unified_focal(a(y[:, 1:]), a(p[:, 1:]), **kw), ref, rtol=1e-5, atol=1e-7)
    assert_close(ul.asymmetric_unified_focal(a(labels[:, None]), a(p[:, 1:]), sparse=True, **kw), ref, rtol=1e-5, atol=1e-7)
    last = {**kw, "class_axis": -1}
    yl, pl = (np.ascontiguousarray(np.moveaxis(t, 1, -1)) for t in (y, p))
    assert_close(ul.asymmetric_unified_focal(a(yl), a(pl), **last), ref, rtol=1e-6)
    z = np.log(p)  # softmax(log p) = p for probabilities summing to 1
    assert_close(ul.asymmetric_unified_focal(a(y), a(z), from_logits=True, **kw), ref, rtol=1e-5, atol=1e-7)
    zf = np.log(p[:, 1:]) - np.log(p[:, :1])  # sigmoid(logit) = the foreground probability
    assert_close(ul.asymmetric_unified_focal(a(y[:, 1:]), a(zf), from_logits=True, **kw), ref, rtol=1e-5, atol=1e-7)


@selected("torch")
def test_asymmetric_unified_focal_monai_reductions_and_clamp(rng):
    """MONAI's "sum" and "none" return its mean (unilosses' "mean"), including predictions outside
    the clamp [1e-7, 1 - 1e-7] (exactly 0 and 1: zero gradients there, as torch.clamp's)."""
    monai = pytest.importorskip("monai.losses")
    import torch

    labels, p = _binary_probs(rng)
    p = p.astype(np.float64)
    p[1, :, 0, :] = np.array([[1.0], [0.0]])  # a row predicted with certainty
    expected = []
    for reduction in ("mean", "sum", "none"):
        ref = monai.AsymmetricUnifiedFocalLoss(to_onehot_y=True, reduction=reduction)
        expected.append(float(ref(torch.as_tensor(p), torch.as_tensor(labels[:, None]))))
    np.testing.assert_allclose(expected, expected[0], rtol=1e-12)
    grads = []
    for ours in (False, True):
        t = torch.as_tensor(p).requires_grad_(True)
        if ours:
            out = ul.asymmetric_unified_focal(torch.as_tensor(labels), t, class_axis=1, sparse=True, reduction="mean")
        else:
            out = monai.AsymmetricUnifiedFocalLoss(to_onehot_y=True)(t, torch.as_tensor(labels[:, None]))
        out.backward()
        grads.append((float(out.detach()), t.grad.numpy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-9, atol=1e-15)
    assert np.all(grads[1][1][1, :, 0, :] == 0.0)


def test_asymmetric_unified_focal_edges(backend, rng):
    """A perfect prediction costs almost nothing where the sample has foreground; a sample of
    background only, predicted perfectly, costs about (1 - weight) / 2 * sqrt(1 - TI_1) with
    TI_1 = 1e-7 / (0.3 * 1e-7 * S + 1e-7) (S = 20 positions: the clamp leaves 1e-7 of predicted
    foreground in each, MONAI's definition); a sample's value does not depend on the others."""
    labels, p = _binary_probs(rng)
    labels[0] = 0
    labels[1:, 0, 0] = 1
    y = np.stack([1 - labels, labels], axis=1).astype(np.float32)
    a = backend.asarray
    out = to_numpy(ul.asymmetric_unified_focal(a(y), a(y), class_axis=1))
    assert np.all(out[1:] >= 0) and np.all(out[1:] < 1e-3)
    np.testing.assert_allclose(out[0], 0.25 * np.sqrt(1 - 1 / (0.3 * 20 + 1)), rtol=1e-4)
    full = to_numpy(ul.asymmetric_unified_focal(a(y), a(p), class_axis=1))
    assert np.all(np.isfinite(full))
    assert_close(ul.asymmetric_unified_focal(a(y[2:]), a(p[2:]), class_axis=1), full[2:], rtol=1e-6)
    inputs = (a(y), a(p))
    ul.asymmetric_unified_focal(*inputs, class_axis=1)
    np.testing.assert_array_equal(to_numpy(inputs[1]), p)  # inputs are not modified


@pytest.mark.parametrize(
    ("options", "shape", "exc", "match"),
    [
        ({"class_axis": 1}, (2, 3, 4), ValueError, r"y_pred: expected 1 or 2 classes along the class axis 1 .*got 3"),
        ({"class_axis": 0}, (2, 2, 4), ValueError, r"class_axis: expected a class axis other than the batch axis 0"),
        ({"class_axis": None}, (2, 2, 4), TypeError, r"class_axis: expected an integer axis \(the class axis\), got None"),
        ({"class_axis": 1, "gamma": 1.5}, (2, 2, 4), ValueError, r"gamma: expected a value in \[0(\.0)?, 1(\.0)?\]"),
        ({"class_axis": 1, "delta": -0.1}, (2, 2, 4), ValueError, r"delta: expected a value in \[0(\.0)?, 1(\.0)?\]"),
        ({"class_axis": 1, "weight": 2.0}, (2, 2, 4), ValueError, r"weight: expected a value in \[0(\.0)?, 1(\.0)?\]"),
        ({"class_axis": 1, "sparse": "yes"}, (2, 2, 4), TypeError, r"sparse: expected True or False"),
        ({"class_axis": 1, "to_onehot_y": True}, (2, 2, 4), TypeError, r"unexpected option.*to_onehot_y"),
    ],
)
def test_asymmetric_unified_focal_bad_options(options, shape, exc, match, rng):
    p = rng.uniform(0.1, 0.9, shape).astype(np.float32)
    with pytest.raises(exc, match=match):
        ul.asymmetric_unified_focal(np.zeros(shape, np.float32), p, **options)


def test_asymmetric_unified_focal_bad_labels(rng):
    labels, p = _binary_probs(rng)
    labels[0, 0, 0] = 2
    with pytest.raises(ValueError, match=r"y_true: labels must lie in \[0, 1\]"):
        ul.asymmetric_unified_focal(labels, p, class_axis=1, sparse=True)
    with pytest.raises(ValueError, match=r"y_true: expected the shape of y_pred"):
        ul.asymmetric_unified_focal(p[:, :1, :3], p, class_axis=1)
