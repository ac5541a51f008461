"""Regression losses beyond the conformance cases: Keras class objects with sample
weights under every reduction, TF v1's per-element weights, torch's ``weight``
reductions, hand-checked values, config round trips and bad options.

Expected values come from the frameworks' own losses called live, or from the
hand-checked examples in their documentation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import unilosses as ul
from unilosses.testing import assert_close, to_numpy

B, D = 6, 4
KERAS_REDUCTIONS = ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight")

#: (unilosses class, keras class, options: the same names in both)
KERAS_CLASSES = [
    ("MeanSquaredError", "MeanSquaredError", {}),
    ("MeanAbsoluteError", "MeanAbsoluteError", {}),
    ("MeanAbsolutePercentageError", "MeanAbsolutePercentageError", {}),
    ("MeanSquaredLogarithmicError", "MeanSquaredLogarithmicError", {}),
    ("Huber", "Huber", {"delta": 0.7}),
    ("LogCosh", "LogCosh", {}),
    ("CosineSimilarity", "CosineSimilarity", {"axis": 0}),
]


def _data(rng, shape=(B, D)):
    y = rng.uniform(0.1, 3.0, shape).astype(np.float32)
    p = rng.uniform(0.1, 3.0, shape).astype(np.float32)
    return y, p


def _weights(rng, shape):
    w = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    w.flat[0] = 0.0
    return w


# ------------------------------------------------------ Keras class objects
@pytest.mark.parametrize("weight_shape", [(B,), (B, 1)], ids=["w(B)", "w(B,1)"])
@pytest.mark.parametrize(("ours", "theirs", "options"), KERAS_CLASSES, ids=[c[0] for c in KERAS_CLASSES])
def test_class_matches_keras_class(ours, theirs, options, weight_shape, backend, rng):
    """ul.<Class>(reduction=r)(y, p, w) == keras.losses.<Class>(reduction=r)(y, p, w)."""
    keras = pytest.importorskip("keras")
    shape = (3, B) if options.get("axis") == 0 else (B, D)  # the cosine's vectors along axis 0
    y, p = _data(rng, shape)
    w = _weights(rng, weight_shape)
    for reduction in KERAS_REDUCTIONS:
        expected = to_numpy(getattr(keras.losses, theirs)(reduction=reduction, **options)(y, p, sample_weight=w))
        loss = getattr(ul, ours)(reduction=reduction, **options)
        out = loss(backend.asarray(y), backend.asarray(p), backend.asarray(w))
        if reduction == "none" and len(weight_shape) == 2:
            expected = expected.reshape(B)  # Keras expands (B,) values to the weights' (B, 1); unilosses keeps (B,)
        assert_close(out, expected, rtol=2e-5, atol=2e-5, like=backend.asarray(p))


def test_class_default_reduction_is_keras(rng):
    keras = pytest.importorskip("keras")
    y, p = _data(rng)
    assert ul.MeanSquaredError().reduction == "sum_over_batch_size"
    assert_close(ul.MeanSquaredError()(y, p), to_numpy(keras.losses.MeanSquaredError()(y, p)), rtol=1e-6)


# ------------------------------------------------ TF v1: per-element weights
V1 = [
    ("mean_squared_error", "mean_squared_error", {}, {}),
    ("mean_absolute_error", "absolute_difference", {}, {}),
    ("huber", "huber_loss", {"delta": 0.6}, {"delta": 0.6}),
]
#: tf.compat.v1.losses.Reduction attribute -> unilosses reduction
V1_REDUCTIONS = [
    ("SUM_BY_NONZERO_WEIGHTS", "sum_by_nonzero_weights"),  # v1's default
    ("SUM", "sum"),
    ("MEAN", "mean_with_sample_weight"),
    ("SUM_OVER_BATCH_SIZE", "sum_over_batch_size"),
    ("NONE", "none"),
]


@pytest.mark.parametrize(("v1_reduction", "reduction"), V1_REDUCTIONS, ids=[r[0] for r in V1_REDUCTIONS])
@pytest.mark.parametrize("weight_shape", [(B, D), (B, 1)], ids=["per-element", "per-row"])
@pytest.mark.parametrize(("name", "v1", "options", "v1_options"), V1, ids=[c[1] for c in V1])
def test_tf_v1_per_element_weights(name, v1, options, v1_options, weight_shape, v1_reduction, reduction, backend, rng):
    """axis=None + per-element weights with zeros == tf.compat.v1.losses.<v1>(labels, predictions, weights)."""
    tf = pytest.importorskip("tensorflow")
    y = rng.standard_normal((B, D)).astype(np.float32)
    p = (y + rng.standard_normal((B, D))).astype(np.float32)
    w = rng.uniform(0.5, 2.0, weight_shape).astype(np.float32)
    w[rng.uniform(size=weight_shape) < 0.4] = 0.0
    w.flat[0] = 0.0
    red = getattr(tf.compat.v1.losses.Reduction, v1_reduction)
    expected = getattr(tf.compat.v1.losses, v1)(y, p, weights=w, reduction=red, **v1_options).numpy()
    out = getattr(ul, name)(
        backend.asarray(y), backend.asarray(p), axis=None, sample_weight=backend.asarray(w), reduction=reduction, **options
    )
    assert_close(out, expected, rtol=1e-5, atol=1e-6, like=backend.asarray(p))


def test_tf_v1_default_weights_are_the_mean(rng):
    tf = pytest.importorskip("tensorflow")
    y, p = _data(rng)
    expected = tf.compat.v1.losses.mean_squared_error(y, p).numpy()
    assert_close(ul.mean_squared_error(y, p, axis=None, reduction="sum_by_nonzero_weights"), expected, rtol=1e-6)
    assert_close(ul.MeanSquaredError(axis=None, reduction="sum_by_nonzero_weights")(y, p), expected, rtol=1e-6)


# --------------------------------------------------- torch's weight argument
@pytest.mark.parametrize(
    ("name", "torch_name", "reduction_map"),
    [
        # mse_loss / l1_loss with weight: "mean" divides by the weight sum
        ("mean_squared_error", "mse_loss", {"mean": "mean_with_sample_weight", "sum": "sum", "none": "none"}),
        ("mean_absolute_error", "l1_loss", {"mean": "mean_with_sample_weight", "sum": "sum", "none": "none"}),
        # huber_loss with weight: "mean" divides by the number of elements
        ("huber", "huber_loss", {"mean": "sum_over_batch_size", "sum": "sum", "none": "none"}),
    ],
)
def test_torch_weight_reductions(name, torch_name, reduction_map, rng):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    y, p = _data(rng)
    w = _weights(rng, (B, D))
    for t_red, u_red in reduction_map.items():
        expected = getattr(F, torch_name)(torch.as_tensor(p), torch.as_tensor(y), weight=torch.as_tensor(w), reduction=t_red)
        out = getattr(ul, name)(torch.as_tensor(y), torch.as_tensor(p), axis=None, sample_weight=torch.as_tensor(w), reduction=u_red)
        assert_close(out, expected.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"])
def test_torch_mean_is_sum_over_batch_size_on_either_axis(name, rng):
    """torch's unweighted "mean" (over all elements) == "sum_over_batch_size" with axis=-1 or None."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    ours = {"mse_loss": ul.mean_squared_error, "l1_loss": ul.mean_absolute_error, "huber_loss": ul.huber, "smooth_l1_loss": ul.smooth_l1}[name]
    y, p = _data(rng)
    expected = getattr(F, name)(torch.as_tensor(p), torch.as_tensor(y)).numpy()
    for axis in (-1, None):
        assert_close(ours(y, p, axis=axis, reduction="sum_over_batch_size"), expected, rtol=1e-6)


# ---------------------------------------------------------- hand-checked values
def test_keras_documented_examples(backend):
    """The examples in Keras' docstrings (huber 0.155, log_cosh 0.108, cosine [-0, -1, 1])."""
    a = backend.asarray
    y = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32)
    assert_close(ul.huber(a(y), a(np.array([[0.6, 0.4], [0.4, 0.6]], np.float32)), reduction="mean"), np.float32(0.155), rtol=1e-6)
    assert_close(ul.log_cosh(a(y), a(np.array([[1.0, 1.0], [0.0, 0.0]], np.float32)), reduction="mean"), np.float32(0.108), atol=5e-4)
    yc = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], np.float32)
    pc = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], np.float32)
    assert_close(ul.cosine_similarity(a(yc), a(pc)), np.array([0.0, -1.0, 1.0], np.float32), atol=1e-6)


def test_hand_checked_values(backend):
    a = backend.asarray
    y = a(np.array([[0.0, 0.0, 2.0]], np.float32))
    p = a(np.array([[0.5, 3.0, 2.0]], np.float32))
    # errors 0.5, 3, 0: squares 0.25, 9, 0; Huber(1): 0.125, 2.5, 0; smooth L1(beta=2): 0.0625, 2, 0
    assert_close(ul.mean_squared_error(y, p), np.array([9.25 / 3], np.float32), rtol=1e-6)
    assert_close(ul.mean_absolute_error(y, p, axis=None), np.array([[0.5, 3.0, 0.0]], np.float32))
    assert_close(ul.huber(y, p, axis=None), np.array([[0.125, 2.5, 0.0]], np.float32))
    assert_close(ul.smooth_l1(y, p, beta=2.0, axis=None), np.array([[0.0625, 2.0, 0.0]], np.float32))
    # log(cosh(3)) = 3 + log1p(exp(-6)) - log 2
    assert_close(ul.log_cosh(y, p, axis=None)[..., 1], np.array([3 + math.log1p(math.exp(-6)) - math.log(2)], np.float32), rtol=1e-6)
    # MAPE: |y| floored at 1e-7; 100 * (0.5 / 1e-7) is 5e8
    assert_close(ul.mean_absolute_percentage_error(y, p, axis=None)[..., 2], np.array([0.0], np.float32))
    assert_close(ul.mean_absolute_percentage_error(y, p, axis=None)[..., 0], np.array([5e8], np.float32), rtol=1e-6)


def test_smooth_l1_is_huber_over_beta(backend, rng):
    y, p = (backend.asarray(a) for a in _data(rng))
    for beta in (0.1, 1.0, 3.0):
        expected = to_numpy(ul.huber(y, p, delta=beta)) / beta
        assert_close(ul.smooth_l1(y, p, beta=beta), expected, rtol=1e-6, atol=1e-7)


def test_log_cosh_never_overflows(backend):
    y = backend.asarray(np.zeros((1, 3), np.float32))
    p = backend.asarray(np.array([[1000.0, -1000.0, 1e-3]], np.float32))
    out = to_numpy(ul.log_cosh(y, p, axis=None))
    np.testing.assert_allclose(out[0, :2], 1000.0 - math.log(2.0), rtol=1e-6)
    # e + softplus(-2e) - log 2 (Keras' form) is accurate to float32's rounding of log 2 near 0
    np.testing.assert_allclose(out[0, 2], math.log(math.cosh(1e-3)), rtol=0, atol=1e-7)


def test_msle_raises_small_values_to_epsilon(backend):
    y = backend.asarray(np.array([[-3.0, 0.0]], np.float32))
    p = backend.asarray(np.array([[0.0, -5.0]], np.float32))
    assert_close(ul.mean_squared_logarithmic_error(y, p), np.array([0.0], np.float32), atol=1e-12)


def test_cosine_zero_vector_has_finite_gradients():
    torch = pytest.importorskip("torch")
    y = torch.tensor([[0.0, 0.0], [1.0, 2.0]], requires_grad=True)
    p = torch.tensor([[0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    out = ul.cosine_similarity(y, p)
    assert out.tolist() == [0.0, 0.0]
    gy, gp = torch.autograd.grad(out.sum(), [y, p])
    assert torch.isfinite(gy).all() and torch.isfinite(gp).all()


def test_per_element_weights_need_axis_none(rng):
    y, p = _data(rng)
    w = _weights(rng, (B, D))
    with pytest.raises(ValueError, match="sample_weight"):
        ul.mean_squared_error(y, p, sample_weight=w)
    expected = np.sum(w * (y - p) ** 2) / np.count_nonzero(w)
    assert_close(ul.mean_squared_error(y, p, axis=None, sample_weight=w, reduction="sum_by_nonzero_weights"), np.float32(expected), rtol=1e-5)


def test_keras_trailing_size_one_axis(backend, rng):
    """A (B,) target against (B, 1) predictions (and back) works as in Keras."""
    keras = pytest.importorskip("keras")
    y = rng.standard_normal(B).astype(np.float32)
    p = rng.standard_normal((B, 1)).astype(np.float32)
    assert_close(ul.mean_squared_error(backend.asarray(y), backend.asarray(p)), to_numpy(keras.losses.mean_squared_error(y, p)), rtol=1e-6)


# ------------------------------------------------------- config and registry
@pytest.mark.parametrize(
    ("cls", "options"),
    [
        ("MeanSquaredError", {"axis": None}),
        ("MeanAbsoluteError", {}),
        ("MeanAbsolutePercentageError", {}),
        ("MeanSquaredLogarithmicError", {"axis": 1}),
        ("Huber", {"delta": 0.3}),
        ("SmoothL1", {"beta": 2.5, "axis": None}),
        ("LogCosh", {}),
        ("CosineSimilarity", {"axis": 0, "epsilon": 1e-8}),
    ],
)
def test_config_round_trip(cls, options, rng, config_round_trip):
    loss, again = config_round_trip(getattr(ul, cls), options)
    y, p = _data(rng)
    assert_close(again(y, p), to_numpy(loss(y, p)))


def test_get_by_name():
    assert ul.get("mse") is ul.mean_squared_error
    assert ul.get("mae") is ul.mean_absolute_error
    assert ul.get("mape") is ul.mean_absolute_percentage_error
    assert ul.get("msle") is ul.mean_squared_logarithmic_error
    assert ul.get("logcosh") is ul.log_cosh
    assert ul.get("smooth_l1") is ul.smooth_l1
    assert isinstance(ul.get("Huber"), ul.Huber)
    assert ul.get({"class_name": "Huber", "config": {"delta": 2.0}}).get_config()["delta"] == 2.0


# --------------------------------------------------------------- bad options
@pytest.mark.parametrize(
    ("fn", "options", "exc", "match"),
    [
        (ul.huber, {"delta": 0.0}, ValueError, r"delta: expected a value in \(0"),
        (ul.huber, {"delta": -1.0}, ValueError, r"delta:"),
        (ul.smooth_l1, {"beta": 0.0}, ValueError, r"beta: expected a value in \(0"),
        (ul.cosine_similarity, {"axis": None}, ValueError, r"axis: expected an integer axis"),
        (ul.cosine_similarity, {"epsilon": 0.0}, ValueError, r"epsilon:"),
        (ul.mean_squared_error, {"axis": 2}, ValueError, r"axis: expected an axis in \[-2, 1\]"),
        (ul.mean_squared_error, {"axis": 1.0}, TypeError, r"axis:"),
        (ul.mean_squared_error, {"delta": 1.0}, TypeError, r"unexpected option.*delta"),
    ],
)
def test_bad_options(fn, options, exc, match, rng):
    y, p = _data(rng)
    with pytest.raises(exc, match=match):
        fn(y, p, **options)


@pytest.mark.parametrize(
    ("cls", "options", "match"),
    [("Huber", {"delta": 0}, "delta"), ("SmoothL1", {"beta": -1.0}, "beta"), ("CosineSimilarity", {"axis": None}, "axis")],
)
def test_bad_options_in_constructor(cls, options, match):
    with pytest.raises(ValueError, match=match):
        getattr(ul, cls)(**options)


def test_shape_mismatch_names_y_true(rng):
    with pytest.raises(ValueError, match="y_true"):
        ul.mean_squared_error(np.zeros((B, 3), np.float32), np.zeros((B, D), np.float32))
