"""Dice and Tversky beyond the conformance cases: Keras class objects with sample
weights under every reduction, Keras' documented example, the axis convention,
config round trips and bad options.
"""

from __future__ import annotations

import numpy as np
import pytest

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
    """ul.<Class>(reduction=r)(y, p, w) == keras.losses.<Class>(axis=(1, 2, 3), reduction=r)(y, p, w)."""
    keras = pytest.importorskip("keras")
    y, p = _masks(rng)
    w = rng.uniform(0.5, 2.0, N).astype(np.float32)
    w[0] = 0.0
    for reduction in KERAS_REDUCTIONS:
        expected = to_numpy(getattr(keras.losses, cls)(axis=(1, 2, 3), reduction=reduction, **options)(y, p, sample_weight=w))
        out = getattr(ul, cls)(reduction=reduction, **options)(backend.asarray(y), backend.asarray(p), backend.asarray(w))
        assert_close(out, expected, rtol=1e-5, atol=1e-6, like=backend.asarray(p))


def test_keras_documented_example(backend):
    """Keras' docstring: per-sample [0.5, 0.75757575]; whole batch 0.6164384 (one sample here)."""
    y = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]], np.float32)
    p = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]], np.float32)
    a = backend.asarray
    assert_close(ul.dice(a(y), a(p)), np.array([0.5, 0.75757575], np.float32), rtol=1e-6)
    assert_close(ul.dice(a(y.reshape(1, -1)), a(p.reshape(1, -1))), np.array([0.6164384], np.float32), rtol=1e-6)


def test_whole_batch_dice_is_keras_default(rng):
    keras = pytest.importorskip("keras")
    y, p = _masks(rng)
    expected = to_numpy(keras.losses.dice(y, p))
    assert_close(ul.dice(y.reshape(1, -1), p.reshape(1, -1), reduction="sum"), expected, rtol=1e-6)


def test_tversky_half_half_is_dice(backend, rng):
    y, p = (backend.asarray(a) for a in _masks(rng))
    assert_close(ul.tversky(y, p), to_numpy(ul.dice(y, p)), rtol=1e-6)


def test_tversky_alpha_weighs_missed_targets(backend):
    """Keras' alpha multiplies sum(y_true * (1 - y_pred)); beta sum((1 - y_true) * y_pred)."""
    a = backend.asarray
    y, p = a(np.array([[1.0, 1.0, 0.0, 0.0]], np.float32)), a(np.array([[1.0, 0.0, 1.0, 1.0]], np.float32))
    # I = 1, missed = 1, extra = 2
    assert_close(ul.tversky(y, p, alpha=1.0, beta=0.25), np.array([1 - 1 / 2.5], np.float32), rtol=1e-6)
    assert_close(ul.tversky(y, p, alpha=0.0, beta=1.0), np.array([1 - 1 / 3], np.float32), rtol=1e-6)


def test_integer_axis_keeps_other_axes(backend, rng):
    y, p = _masks(rng)
    out = to_numpy(ul.dice(backend.asarray(y), backend.asarray(p), axis=2))
    assert out.shape == (N, 4, 2)


def test_empty_masks_give_one():
    y = np.zeros((2, 3), np.float32)
    p = np.array([[0.0, 0.0, 0.0], [0.2, 0.3, 0.1]], np.float32)
    out = ul.dice(y, p)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [1.0, 1.0])


# ------------------------------------------------------- config and registry
@pytest.mark.parametrize(("cls", "options"), [("Dice", {"axis": -1}), ("Tversky", {"alpha": 0.1, "beta": 3.0})])
def test_config_round_trip(cls, options, rng, config_round_trip):
    loss, again = config_round_trip(getattr(ul, cls), options)
    y, p = _masks(rng)
    assert_close(again(y, p), to_numpy(loss(y, p)))


def test_get_by_name():
    assert ul.get("dice") is ul.dice
    assert ul.get("tversky") is ul.tversky
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
        out = ul.tversky(backend.asarray(y), backend.asarray(p), alpha=alpha, beta=beta)
        assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_one_dimensional_input_needs_an_axis():
    y = np.array([1.0, 0.0], np.float32)
    with pytest.raises(ValueError, match=r"y_pred: expected a batch"):
        ul.dice(y, y)
    np.testing.assert_allclose(ul.dice(y, y, axis=0), 0.0, atol=1e-7)


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
