"""The focal cross-entropies: class forms vs Keras' classes, sparse = categorical on one-hot, options.

Values against the live frameworks are in unilosses/conformance/focal.py (run by
test_conformance.py on every backend).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import unilosses as ul
from unilosses.testing import assert_close, to_numpy

B, K = 8, 5
KERAS_REDUCTIONS = ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight")


def _keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def _binary_inputs(rng):
    y = rng.integers(0, 2, (B, 3)).astype(np.float32)
    p = rng.uniform(0.02, 0.98, (B, 3)).astype(np.float32)
    w = rng.uniform(0.0, 2.0, B).astype(np.float32)
    w[2] = 0.0
    return y, p, w


def _categorical_inputs(rng):
    labels = rng.integers(0, K, B)
    z = (rng.standard_normal((B, K)) * 2).astype(np.float32)
    w = rng.uniform(0.0, 2.0, B).astype(np.float32)
    w[1] = 0.0
    return labels, np.eye(K, dtype=np.float32)[labels], z, w


# ------------------------------------------------- class forms vs Keras classes
@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [{}, {"apply_class_balancing": True, "alpha": 0.35, "gamma": 1.5, "label_smoothing": 0.1}],
    ids=["default", "balancing-smoothing"],
)
def test_binary_focal_class_vs_keras(backend, rng, reduction, options):
    keras = _keras()
    y, p, w = _binary_inputs(rng)
    expected = keras.losses.BinaryFocalCrossentropy(reduction=reduction, **options)(
        y.astype(np.float64), p.astype(np.float64), sample_weight=w.astype(np.float64)
    )
    obj = ul.BinaryFocalCrossentropy(reduction=reduction, **options)
    out = obj(backend.asarray(y), backend.asarray(p), backend.asarray(w))
    assert_close(out, np.asarray(expected), rtol=1e-5, atol=1e-6, like=backend.asarray(p))


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
def test_binary_focal_class_from_logits_vs_keras(backend, rng, reduction):
    keras = _keras()
    y, _, w = _binary_inputs(rng)
    z = (rng.standard_normal(y.shape) * 3).astype(np.float32)
    opts = {"from_logits": True, "gamma": 2.5}
    expected = keras.losses.BinaryFocalCrossentropy(reduction=reduction, **opts)(
        y.astype(np.float64), z.astype(np.float64), sample_weight=w.astype(np.float64)
    )
    out = ul.BinaryFocalCrossentropy(reduction=reduction, **opts)(backend.asarray(y), backend.asarray(z), sample_weight=backend.asarray(w))
    assert_close(out, np.asarray(expected), rtol=1e-5, atol=1e-6, like=backend.asarray(z))


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
def test_categorical_focal_class_vs_keras(backend, rng, reduction):
    keras = _keras()
    _, onehot, z, w = _categorical_inputs(rng)
    opts = {"from_logits": True, "gamma": 1.5, "alpha": 0.4, "label_smoothing": 0.1}
    expected = keras.losses.CategoricalFocalCrossentropy(reduction=reduction, **opts)(
        onehot.astype(np.float64), z.astype(np.float64), sample_weight=w.astype(np.float64)
    )
    out = ul.CategoricalFocalCrossentropy(reduction=reduction, **opts)(
        backend.asarray(onehot), backend.asarray(z), backend.asarray(w)
    )
    assert_close(out, np.asarray(expected), rtol=1e-5, atol=1e-6, like=backend.asarray(z))


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
def test_sparse_focal_class_vs_keras_categorical_on_onehot(backend, rng, reduction):
    keras = _keras()
    labels, onehot, z, w = _categorical_inputs(rng)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    expected = keras.losses.CategoricalFocalCrossentropy(reduction=reduction, gamma=3.0)(
        onehot.astype(np.float64), p.astype(np.float64), sample_weight=w.astype(np.float64)
    )
    out = ul.SparseCategoricalFocalCrossentropy(reduction=reduction, gamma=3.0)(
        backend.asarray(labels), backend.asarray(p.astype(np.float32)), backend.asarray(w)
    )
    assert_close(out, np.asarray(expected), rtol=1e-5, atol=1e-6, like=backend.asarray(z))


# ------------------------------------------- sparse = categorical on the one-hot
@pytest.mark.parametrize(
    "options",
    [
        {"from_logits": True},
        {"from_logits": True, "label_smoothing": 0.2, "gamma": 1.0},
        {"from_logits": False, "label_smoothing": 0.1, "alpha": 0.7, "gamma": 0.0},
        {"from_logits": True, "label_smoothing": 0.3, "class_weight": "w"},
        {"from_logits": True, "class_weight": "w", "axis": 1},
    ],
    ids=["logits", "smoothing", "probabilities-gamma0", "smoothing-class_weight", "class_weight-axis1"],
)
def test_sparse_equals_categorical_on_onehot(backend, rng, options):
    """Every reduction (class weights also weight the mean) gives the categorical loss's numbers."""
    opts = dict(options)
    axis = opts.get("axis", -1)
    labels = rng.integers(0, K, (4, 3))
    x = (rng.standard_normal((4, 3, K)) * 2).astype(np.float32)
    if not opts["from_logits"]:
        x = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    onehot = np.eye(K, dtype=np.float32)[labels]
    if axis == 1:
        x, onehot = np.moveaxis(x, -1, 1), np.moveaxis(onehot, -1, 1)
    if opts.get("class_weight") == "w":
        opts["class_weight"] = backend.asarray(rng.uniform(0.2, 3.0, K).astype(np.float32))
    sw = backend.asarray(rng.uniform(0.0, 2.0, (4, 3)).astype(np.float32))
    xb = backend.asarray(x)
    for reduction in ul.REDUCTIONS:
        expected = ul.categorical_focal_crossentropy(backend.asarray(onehot), xb, sample_weight=sw, reduction=reduction, **opts)
        out = ul.sparse_categorical_focal_crossentropy(backend.asarray(labels), xb, sample_weight=sw, reduction=reduction, **opts)
        assert_close(out, expected, rtol=1e-5, atol=1e-6, like=xb)


def test_sparse_ignore_index_gives_zero_and_leaves_the_mean(backend, rng):
    labels = rng.integers(0, K, B)
    labels[[0, 5]] = -1
    z = (rng.standard_normal((B, K)) * 2).astype(np.float32)
    keep = labels != -1
    onehot = np.eye(K, dtype=np.float32)[np.where(keep, labels, 0)]
    zb = backend.asarray(z)
    ref = ul.categorical_focal_crossentropy(onehot, z, from_logits=True, label_smoothing=0.1)
    out = ul.sparse_categorical_focal_crossentropy(
        backend.asarray(labels), zb, from_logits=True, label_smoothing=0.1, ignore_index=-1
    )
    assert_close(out, np.where(keep, ref, 0.0).astype(np.float32), rtol=1e-5, atol=1e-6, like=zb)
    mean = ul.sparse_categorical_focal_crossentropy(
        backend.asarray(labels), zb, from_logits=True, label_smoothing=0.1, ignore_index=-1, reduction="mean"
    )
    assert_close(mean, np.asarray(ref[keep].mean(), dtype=np.float32), rtol=1e-5, atol=1e-6, like=zb)


# ------------------------------------------------------- hand-checked numbers
def test_binary_focal_from_logits_is_exact_for_large_logits(backend):
    """A confidently wrong logit of 30 costs 30 (times a focal factor of ~1), not a clipped 16.1."""
    y = backend.asarray(np.array([[0.0], [1.0]], dtype=np.float32))
    z = backend.asarray(np.array([[30.0], [-30.0]], dtype=np.float32))
    out = ul.binary_focal_crossentropy(y, z, from_logits=True)
    assert_close(out, np.array([30.0, 30.0], dtype=np.float32), rtol=1e-6, like=z)


def test_categorical_focal_gamma0_is_alpha_times_crossentropy(backend, rng):
    """Keras always multiplies by alpha: gamma=0 gives alpha * CE."""
    _, onehot, z, _ = _categorical_inputs(rng)
    zb = backend.asarray(z)
    out = ul.categorical_focal_crossentropy(backend.asarray(onehot), zb, from_logits=True, gamma=0.0, alpha=0.25)
    ce = ul.categorical_crossentropy(backend.asarray(onehot), zb, from_logits=True)
    assert_close(out, 0.25 * to_numpy(ce), rtol=1e-5, atol=1e-7, like=zb)


# ------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (ul.BinaryFocalCrossentropy, {"gamma": 1.0, "alpha": 0.4, "apply_class_balancing": True, "from_logits": True}),
        (ul.CategoricalFocalCrossentropy, {"gamma": 3.0, "label_smoothing": 0.1, "class_weight": [1.0, 2.0, 0.5]}),
        (ul.SparseCategoricalFocalCrossentropy, {"ignore_index": 255, "class_weight": [1.0, 2.0, 0.5], "axis": 1}),
    ],
)
def test_config_round_trip(cls, options, config_round_trip):
    config_round_trip(cls, options)


def test_registry():
    assert ul.get("binary_focal_crossentropy") is ul.binary_focal_crossentropy
    assert ul.get("sparse_categorical_focal_crossentropy") is ul.sparse_categorical_focal_crossentropy
    assert isinstance(ul.get("CategoricalFocalCrossentropy"), ul.CategoricalFocalCrossentropy)
    for name in ("BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "SparseCategoricalFocalCrossentropy",
                 "binary_focal_crossentropy", "categorical_focal_crossentropy", "sparse_categorical_focal_crossentropy"):
        assert name in ul.__all__ and name in importlib.import_module("unilosses.losses._focal").__all__


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("fn", "option", "value", "exc"),
    [
        (ul.binary_focal_crossentropy, "gamma", -0.5, ValueError),
        (ul.binary_focal_crossentropy, "alpha", 1.5, ValueError),
        (ul.binary_focal_crossentropy, "apply_class_balancing", "yes", TypeError),
        (ul.binary_focal_crossentropy, "label_smoothing", 1.1, ValueError),
        (ul.categorical_focal_crossentropy, "gamma", float("nan"), ValueError),
        (ul.categorical_focal_crossentropy, "alpha", -0.1, ValueError),
        (ul.sparse_categorical_focal_crossentropy, "label_smoothing", -0.1, ValueError),
        (ul.sparse_categorical_focal_crossentropy, "ignore_index", 1.5, TypeError),
    ],
)
def test_bad_options_name_the_parameter(fn, option, value, exc):
    y, p = np.zeros((2, 3)), np.full((2, 3), 0.3)
    with pytest.raises(exc, match=f"^{option}: "):
        fn(y, p, **{option: value})


def test_bad_class_weight_and_labels_name_the_parameter():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="^class_weight: "):
        ul.categorical_focal_crossentropy(np.eye(3)[[0, 1]], p, class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="^class_weight: "):
        ul.sparse_categorical_focal_crossentropy(np.array([0, 1]), p, class_weight=np.ones((3, 1)))
    with pytest.raises(ValueError, match="^y_true: labels must lie in"):
        ul.sparse_categorical_focal_crossentropy(np.array([0, 3]), p)
    with pytest.raises(ValueError, match="^gamma: "):
        ul.SparseCategoricalFocalCrossentropy(gamma=-1.0)
