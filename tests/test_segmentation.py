"""Dice, Tversky and optax's generalized Dice beyond the conformance cases: Keras' own
DiceTest / TverskyTest (the default is one value for the whole batch, as Keras), Keras
class objects with sample weights under every reduction, optax's options (softmax, class
weights, background, generalized Dice against optax live), the axis convention, config
round trips and bad options.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
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
