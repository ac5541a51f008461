"""Reductions and weights against Keras' loss objects, torch's reductions and tf.compat.v1.losses (live)."""

from __future__ import annotations

import numpy as np
import pytest

import unilosses as ul
from unilosses.testing import assert_close, to_numpy

B, K = 12, 5


def _np(x):
    return np.asarray(x.detach().numpy() if hasattr(x, "detach") else x)


@pytest.fixture
def sparse_inputs(rng):
    y = rng.integers(0, K, B)
    z = (rng.standard_normal((B, K)) * 2).astype(np.float32)
    w = rng.uniform(0.2, 3.0, K).astype(np.float32)
    sw = rng.uniform(0, 2, B).astype(np.float32)
    sw[[2, 7]] = 0.0  # zero weights still count in sum_over_batch_size
    return y, z, w, sw


# ------------------------------------------------------------------ Keras objects
@pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none"])
@pytest.mark.parametrize(
    ("cls", "kw", "kind"),
    [
        ("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary"),
        ("BinaryCrossentropy", {"from_logits": True}, "binary_logits"),
        ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "categorical"),
        ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
    ],
)
def test_loss_objects_match_keras_under_each_reduction(backend, rng, cls, kw, kind, reduction):
    keras = pytest.importorskip("keras")
    if kind.startswith("binary"):
        y = rng.integers(0, 2, (B, 3)).astype(np.float32)
        p = rng.uniform(0.05, 0.95, (B, 3)).astype(np.float32) if kind == "binary" else rng.standard_normal((B, 3)).astype(np.float32)
    elif kind == "categorical":
        y, p = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)], rng.standard_normal((B, K)).astype(np.float32)
    else:
        y, p = rng.integers(0, K, B), rng.standard_normal((B, K)).astype(np.float32)
    sw = rng.uniform(0, 2, B).astype(np.float32)
    sw[3] = 0.0
    expected = getattr(keras.losses, cls)(reduction=reduction, **kw)(y, p, sample_weight=sw)
    ours = getattr(ul, cls)(reduction=reduction, **kw)
    out = ours(backend.asarray(y), backend.asarray(p), sample_weight=backend.asarray(sw))
    assert_close(out, keras.ops.convert_to_numpy(expected), rtol=2e-6, atol=2e-6, like=backend.asarray(p))


def test_keras_ignore_class_matches(backend, rng):
    keras = pytest.importorskip("keras")
    y, z = rng.integers(0, K, B), rng.standard_normal((B, K)).astype(np.float32)
    y[[0, 5, 6]] = -1
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)(y, z)
    out = ul.SparseCategoricalCrossentropy(from_logits=True, ignore_index=-1)(backend.asarray(y), backend.asarray(z))
    assert_close(out, keras.ops.convert_to_numpy(expected), rtol=2e-6, atol=2e-6)


# -------------------------------------------------------------------- torch reductions
@pytest.mark.parametrize(("torch_red", "ours"), [("mean", "mean_with_sample_weight"), ("sum", "sum"), ("none", "none")])
def test_torch_cross_entropy_reductions(backend, sparse_inputs, torch_red, ours):
    """torch's "mean" with class weights divides by sum(w[y]) over non-ignored samples."""
    torch = pytest.importorskip("torch")
    y, z, w, _ = sparse_inputs
    y = y.copy()
    y[[1, 3]] = -100
    expected = torch.nn.functional.cross_entropy(
        torch.tensor(z, dtype=torch.float64), torch.tensor(y), weight=torch.tensor(w, dtype=torch.float64),
        ignore_index=-100, label_smoothing=0.1, reduction=torch_red,
    )
    out = ul.sparse_categorical_crossentropy(
        backend.asarray(y), backend.asarray(z), from_logits=True, class_weight=backend.asarray(w),
        ignore_index=-100, label_smoothing=0.1, reduction=ours,
    )
    assert_close(out, _np(expected).astype(np.float32), rtol=2e-6, atol=2e-6)


def test_torch_mean_without_weights_ignores_ignored(backend, sparse_inputs):
    torch = pytest.importorskip("torch")
    y, z, _, _ = sparse_inputs
    y = y.copy()
    y[:4] = 3
    expected = torch.nn.functional.cross_entropy(torch.tensor(z, dtype=torch.float64), torch.tensor(y), ignore_index=3)
    for red in ("sum_over_batch_size", "mean_with_sample_weight"):
        out = ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, ignore_index=3, reduction=red)
        assert_close(out, _np(expected).astype(np.float32), rtol=2e-6, atol=2e-6)


def test_torch_bce_weight_divides_by_n(backend, rng):
    """torch BCE's per-element ``weight`` with "mean" divides by N: our sum_over_batch_size with axis=None."""
    torch = pytest.importorskip("torch")
    y = rng.integers(0, 2, (B, 4)).astype(np.float32)
    z = rng.standard_normal((B, 4)).astype(np.float32)
    wt = rng.uniform(0, 2, (B, 4)).astype(np.float32)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(z, dtype=torch.float64), torch.tensor(y, dtype=torch.float64), weight=torch.tensor(wt, dtype=torch.float64)
    )
    out = ul.binary_crossentropy(
        backend.asarray(y), backend.asarray(z), from_logits=True, axis=None,
        sample_weight=backend.asarray(wt), reduction="sum_over_batch_size",
    )
    assert_close(out, _np(expected).astype(np.float32), rtol=2e-6, atol=2e-6)


def test_torch_probability_targets_mean_divides_by_n(backend, rng):
    torch = pytest.importorskip("torch")
    y = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)]
    z = rng.standard_normal((B, K)).astype(np.float32)
    w = rng.uniform(0.5, 2, K).astype(np.float32)
    expected = torch.nn.functional.cross_entropy(
        torch.tensor(z, dtype=torch.float64), torch.tensor(y, dtype=torch.float64), weight=torch.tensor(w, dtype=torch.float64)
    )
    out = ul.categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, class_weight=backend.asarray(w), reduction="mean")
    assert_close(out, _np(expected).astype(np.float32), rtol=2e-6, atol=2e-6)
    # with one-hot targets the weighted mean is torch's index-target "mean"
    idx = torch.nn.functional.cross_entropy(
        torch.tensor(z, dtype=torch.float64), torch.tensor(y.argmax(-1)), weight=torch.tensor(w, dtype=torch.float64)
    )
    out = ul.categorical_crossentropy(
        backend.asarray(y), backend.asarray(z), from_logits=True, class_weight=backend.asarray(w), reduction="mean_with_sample_weight"
    )
    assert_close(out, _np(idx).astype(np.float32), rtol=2e-6, atol=2e-6)


# ---------------------------------------------------------------- tf.compat.v1.losses
def test_tf_v1_softmax_cross_entropy(backend, rng):
    tf = pytest.importorskip("tensorflow")
    y = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)]
    z = rng.standard_normal((B, K)).astype(np.float32)
    w = rng.uniform(0, 2, B).astype(np.float32)
    w[[0, 4]] = 0.0
    expected = tf.compat.v1.losses.softmax_cross_entropy(y, z, weights=w, label_smoothing=0.1)
    out = ul.categorical_crossentropy(
        backend.asarray(y), backend.asarray(z), from_logits=True, label_smoothing=0.1,
        sample_weight=backend.asarray(w), reduction=ul.Reduction.SUM_BY_NONZERO_WEIGHTS,
    )
    assert_close(out, expected.numpy(), rtol=2e-6, atol=2e-6)


def test_tf_v1_sigmoid_cross_entropy_per_element_weights(backend, rng):
    """Per-pixel weights with zeros for missing pixels: axis=None + sum_by_nonzero_weights."""
    tf = pytest.importorskip("tensorflow")
    y = rng.integers(0, 2, (B, 6)).astype(np.float32)
    z = rng.standard_normal((B, 6)).astype(np.float32)
    w = rng.uniform(0, 2, (B, 6)).astype(np.float32)
    w[rng.uniform(size=w.shape) < 0.3] = 0.0
    expected = tf.compat.v1.losses.sigmoid_cross_entropy(y, z, weights=w, label_smoothing=0.2)
    out = ul.binary_crossentropy(
        backend.asarray(y), backend.asarray(z), from_logits=True, label_smoothing=0.2, axis=None,
        sample_weight=backend.asarray(w), reduction="sum_by_nonzero_weights",
    )
    assert_close(out, expected.numpy(), rtol=2e-6, atol=2e-6)
    # the v1 reduction names port word for word
    v1 = tf.compat.v1.losses.sigmoid_cross_entropy(y, z, weights=w, reduction=tf.compat.v1.losses.Reduction.MEAN)
    out = ul.binary_crossentropy(
        backend.asarray(y), backend.asarray(z), from_logits=True, axis=None,
        sample_weight=backend.asarray(w), reduction=str(tf.compat.v1.losses.Reduction.MEAN),
    )
    assert_close(out, v1.numpy(), rtol=2e-6, atol=2e-6)


def test_tf_v1_sparse_softmax_cross_entropy(backend, sparse_inputs):
    tf = pytest.importorskip("tensorflow")
    y, z, _, sw = sparse_inputs
    expected = tf.compat.v1.losses.sparse_softmax_cross_entropy(y, z, weights=sw)
    out = ul.sparse_categorical_crossentropy(
        backend.asarray(y), backend.asarray(z), from_logits=True, sample_weight=backend.asarray(sw), reduction="sum_by_nonzero_weights"
    )
    assert_close(out, expected.numpy(), rtol=2e-6, atol=2e-6)


# ------------------------------------------ weights that sum to less than, exactly, more than 1
_SCALES = {"sum-below-1": 0.3, "sum-exactly-1": 1.0, "sum-above-1": 4.0}


def _scaled(w, total):
    w = np.asarray(w, dtype=np.float64)
    return w / w.sum() * total


@pytest.mark.parametrize("total", list(_SCALES.values()), ids=list(_SCALES))
def test_weighted_mean_any_weight_total_class_weight_vs_torch(backend, rng, total):
    """torch's "mean" with class weights divides by sum(w[y]) whatever that sum is. Float64 inputs:
    NumPy's float64 sums are Python floats, once mistaken for a static count (divided by max(sum, 1))."""
    torch = pytest.importorskip("torch")
    y, z = rng.integers(0, K, B), rng.standard_normal((B, K))
    w = _scaled(rng.uniform(0.2, 3.0, K), total * K / B)  # the sum of w[y] lands near `total`
    expected = torch.nn.functional.cross_entropy(
        torch.tensor(z, dtype=torch.float64), torch.tensor(y), weight=torch.tensor(w, dtype=torch.float64)
    )
    out = ul.sparse_categorical_crossentropy(
        backend.asarray(y), backend.asarray(z), from_logits=True, class_weight=backend.asarray(w),
        reduction="mean_with_sample_weight",
    )
    assert_close(out, _np(expected), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("total", list(_SCALES.values()), ids=list(_SCALES))
def test_weighted_mean_any_weight_total_sample_weight_vs_torch(backend, rng, total):
    """torch's mse_loss(weight=...) "mean" divides by the weight sum: mean_with_sample_weight, axis=None."""
    torch = pytest.importorskip("torch")
    y, p = rng.standard_normal((B, 3)), rng.standard_normal((B, 3))
    sw = _scaled(rng.uniform(0.1, 1.0, B), total)
    full = np.broadcast_to(sw[:, None], (B, 3)).astype(np.float64) / 3  # torch's weight: one per element
    expected = torch.nn.functional.mse_loss(
        torch.tensor(p, dtype=torch.float64), torch.tensor(y, dtype=torch.float64), weight=torch.tensor(full)
    )
    out = ul.mean_squared_error(
        backend.asarray(y), backend.asarray(p), axis=None, sample_weight=backend.asarray(sw),
        reduction="mean_with_sample_weight",
    )
    assert_close(out, _np(expected), rtol=2e-6, atol=2e-6)
    # and the stats' weight_sum is that sum (the exact global weighted mean under data parallelism)
    st = ul.mean_squared_error(backend.asarray(y), backend.asarray(p), sample_weight=backend.asarray(sw), reduction="stats")
    assert_close(st.weight_sum, np.asarray(sw.sum()), rtol=1e-6)


@pytest.mark.parametrize("total", list(_SCALES.values()), ids=list(_SCALES))
def test_sum_by_nonzero_weights_any_weight_total_vs_tf_v1(backend, rng, total):
    tf = pytest.importorskip("tensorflow")
    y, p = rng.standard_normal((B, 3)), rng.standard_normal((B, 3))
    sw = _scaled(rng.uniform(0.1, 1.0, B), total)
    sw[[1, 5]] = 0.0
    expected = tf.compat.v1.losses.mean_squared_error(y, p, weights=np.broadcast_to(sw[:, None], (B, 3)))
    out = ul.mean_squared_error(
        backend.asarray(y), backend.asarray(p), axis=None, sample_weight=backend.asarray(sw),
        reduction="sum_by_nonzero_weights",
    )
    assert_close(out, expected.numpy(), rtol=2e-6, atol=2e-6)


# ------------------------------------------------- torch's per-element weight (element_weight)
@pytest.mark.parametrize("logits", [False, True], ids=["BCELoss", "BCEWithLogitsLoss"])
@pytest.mark.parametrize(("torch_red", "ours"), [("mean", "sum_over_batch_size"), ("sum", "sum"), ("none", "none")])
def test_torch_bce_trailing_weight_is_element_weight(backend, rng, logits, torch_red, ours):
    """torch broadcasts BCE's ``weight`` of shape (D,) against (N, D) on the trailing axes
    (issue 12.4); its "mean" divides by the number of elements."""
    torch = pytest.importorskip("torch")
    y = rng.integers(0, 2, (B, 4)).astype(np.float64)
    p = rng.standard_normal((B, 4)) if logits else rng.uniform(0.05, 0.95, (B, 4))
    w = rng.uniform(0.1, 2.0, 4)
    cls = torch.nn.BCEWithLogitsLoss if logits else torch.nn.BCELoss
    expected = cls(weight=torch.tensor(w), reduction=torch_red)(torch.tensor(p), torch.tensor(y))
    out = ul.binary_crossentropy(
        backend.asarray(y), backend.asarray(p), from_logits=logits, axis=None,
        element_weight=backend.asarray(w), reduction=ours,
    )
    assert_close(out, _np(expected), rtol=2e-6, atol=2e-6)


def test_torch_mse_weight_is_element_weight_with_weighted_mean(backend, rng):
    """torch's mse_loss(weight) (same size as the input): "mean" divides by the weight sum."""
    torch = pytest.importorskip("torch")
    y, p, w = rng.standard_normal((B, 3)), rng.standard_normal((B, 3)), rng.uniform(0.0, 1.0, (B, 3))
    for torch_red, ours in (("mean", "mean_with_sample_weight"), ("sum", "sum")):
        expected = torch.nn.functional.mse_loss(torch.tensor(p), torch.tensor(y), weight=torch.tensor(w), reduction=torch_red)
        out = ul.mean_squared_error(
            backend.asarray(y), backend.asarray(p), axis=None, element_weight=backend.asarray(w), reduction=ours
        )
        assert_close(out, _np(expected), rtol=2e-6, atol=2e-6)


def test_element_weight_and_sample_weight_multiply(backend, rng):
    y, p = rng.standard_normal((B, 3)), rng.standard_normal((B, 3))
    sw, ew = rng.uniform(0, 1, B), rng.uniform(0, 1, 3)
    both = ul.mean_squared_error(
        backend.asarray(y), backend.asarray(p), axis=None, sample_weight=backend.asarray(sw),
        element_weight=backend.asarray(ew), reduction="mean_with_sample_weight",
    )
    full = sw[:, None] * ew[None, :]
    expected = ul.mean_squared_error(y, p, axis=None, sample_weight=full, reduction="mean_with_sample_weight")
    assert_close(both, np.asarray(expected), rtol=1e-6, atol=1e-7)


def test_element_weight_must_broadcast_on_trailing_axes(backend):
    y = backend.asarray(np.zeros((B, 3)))
    with pytest.raises(ValueError, match=r"element_weight: expected a shape that broadcasts \(on the trailing axes"):
        ul.mean_squared_error(y, y, axis=None, element_weight=np.ones(B))


# ------------------------------------------------------------------ hand-checked
def test_sum_by_nonzero_weights_hand_checked(backend):
    """Per-sample losses [4, 1, 2, 3] with weights [1, 0.5, 3, 9]; a zero weight leaves the denominator."""
    from unilosses.backends import backend_for
    from unilosses.reduction import reduce

    values = backend.asarray(np.array([4, 1, 2, 3], np.float32))
    be = backend_for(values)
    w = backend.asarray(np.array([1, 0.5, 3, 9], np.float32))
    assert_close(reduce(be, values, w, "sum_by_nonzero_weights"), np.float32((4 * 1 + 1 * 0.5 + 2 * 3 + 3 * 9) / 4), rtol=1e-6)
    w0 = backend.asarray(np.array([1, 0.0, 3, 9], np.float32))
    assert_close(reduce(be, values, w0, "sum_by_nonzero_weights"), np.float32((4 * 1 + 2 * 3 + 3 * 9) / 3), rtol=1e-6)
    assert_close(reduce(be, values, w0, "sum_over_batch_size"), np.float32((4 * 1 + 2 * 3 + 3 * 9) / 4), rtol=1e-6)
    assert_close(reduce(be, values, w0, "mean_with_sample_weight"), np.float32((4 * 1 + 2 * 3 + 3 * 9) / 13), rtol=1e-6)


def test_stats_add_up_to_the_global_mean(backend, sparse_inputs):
    y, z, w, sw = sparse_inputs
    y = y.copy()
    y[[0, 9]] = -1
    kw = dict(from_logits=True, class_weight=w, ignore_index=-1, label_smoothing=0.1)
    parts = [
        ul.sparse_categorical_crossentropy(backend.asarray(y[s]), backend.asarray(z[s]), sample_weight=backend.asarray(sw[s]), reduction="stats", **kw)
        for s in (slice(0, 3), slice(3, 11), slice(11, None))  # uneven shards
    ]
    total = parts[0] + parts[1] + parts[2]
    full = dict(sample_weight=backend.asarray(sw), **kw)
    assert_close(total.mean(), to_numpy(ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), reduction="mean", **full)), rtol=2e-6)
    assert_close(
        total.weighted_mean(),
        to_numpy(ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), reduction="mean_with_sample_weight", **full)),
        rtol=2e-6,
    )


def test_normalizer_divides_the_sum(backend, sparse_inputs):
    y, z, _, _ = sparse_inputs
    s = ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, reduction="sum")
    n = ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, reduction="sum", normalizer=48)
    assert_close(n, to_numpy(s) / 48, rtol=1e-6)
    with pytest.raises(ValueError, match="normalizer"):
        ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, reduction="mean", normalizer=48)


def test_reduction_names():
    assert ul.Reduction.SUM_OVER_BATCH_SIZE == "sum_over_batch_size"
    # tf.keras' AUTO and Keras' MEAN mean sum_over_batch_size, and compare equal to it
    assert ul.Reduction.AUTO is ul.Reduction.SUM_OVER_BATCH_SIZE and ul.Reduction.MEAN == "sum_over_batch_size"
    from unilosses.reduction import canonical_reduction

    assert canonical_reduction("auto") == canonical_reduction("mean") == "sum_over_batch_size"
    assert canonical_reduction(ul.Reduction.WEIGHTED_MEAN) == "mean_with_sample_weight"
    with pytest.raises(ValueError, match="reduction: expected one of .*'sum_over_batch_size'"):
        canonical_reduction("average")
