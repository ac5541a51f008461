"""Listwise ranking softmax: hand-checked values, masks (a masked item leaves its list, a list
without a valid item leaves every count, with zero gradients), item weights, the shift invariance
of each list's scores, values and gradients against optax, options.

Values against optax (and margin_ranking against torch) are in unilosses/conformance/ranking.py;
margin_ranking's class form against torch's module is in test_embedding.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import assert_close, available_backends, to_numpy

B, L = 6, 5


def _lists(rng):
    y = rng.integers(0, 4, (B, L)).astype(np.float32)
    s = (rng.standard_normal((B, L)) * 2).astype(np.float32)
    where = rng.uniform(size=(B, L)) < 0.7
    where[1] = False
    return y, s, where


def test_hand_checked(backend):
    """optax's documented examples, by hand: -log(e^2 / (e^2 + e + e^3)) = 1.408; with the third item
    masked, log(1 + e^-1) = 0.3133 and log(1 + e^-0.5 + e^-1) = 0.6803, mean 0.4968."""
    s = backend.asarray(np.array([[2.0, 1.0, 3.0]], np.float32))
    y = backend.asarray(np.array([[1.0, 0.0, 0.0]], np.float32))
    assert_close(ul.ranking_softmax(y, s), np.array([np.log(np.exp(2) + np.e + np.exp(3)) - 2], np.float32), like=s)
    s2 = backend.asarray(np.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]], np.float32))
    y2 = backend.asarray(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32))
    where = backend.asarray(np.array([[True, True, False], [True, True, True]]))
    expected = np.array([np.log1p(np.exp(-1)), np.log1p(np.exp(-0.5) + np.exp(-1))], np.float32)
    assert_close(ul.ranking_softmax(y2, s2, where=where), expected, like=s2)
    assert_close(ul.ranking_softmax(y2, s2, where=where, reduction="mean"), np.float32(expected.mean()), like=s2)


def test_masks_and_item_weights(backend, rng):
    """A masked item is as if it were not in the list; a list with no valid item costs 0 and leaves
    the counts; item weights multiply the labels."""
    y, s, where = _lists(rng)
    w = rng.uniform(0.0, 2.0, (B, L)).astype(np.float32)
    out = to_numpy(ul.ranking_softmax(*(backend.asarray(a) for a in (y, s)), where=backend.asarray(where), item_weight=backend.asarray(w)))
    for i in range(B):
        keep = where[i]
        if not keep.any():
            assert out[i] == 0
            continue
        alone = ul.ranking_softmax(y[i, keep][None] * w[i, keep][None], s[i, keep][None])
        np.testing.assert_allclose(out[i], alone[0], rtol=1e-5, atol=1e-6)
    stats = ul.ranking_softmax(backend.asarray(y), backend.asarray(s), where=backend.asarray(where), reduction="stats")
    assert to_numpy(stats.count) == B - 1  # the empty list leaves the count
    # a per-list mask broadcasts over the items
    lists = np.array([[True], [False], [True], [True], [False], [True]])
    out = to_numpy(ul.ranking_softmax(backend.asarray(y), backend.asarray(s), where=backend.asarray(lists)))
    plain = ul.ranking_softmax(y, s)
    np.testing.assert_allclose(out, np.where(lists[:, 0], plain, 0.0), rtol=1e-5, atol=1e-6)


def test_scores_shift_per_list_changes_nothing(backend, rng):
    y, s, where = _lists(rng)
    shift = rng.uniform(-20, 20, (B, 1)).astype(np.float32)
    a = ul.ranking_softmax(backend.asarray(y), backend.asarray(s), where=backend.asarray(where))
    b = ul.ranking_softmax(backend.asarray(y), backend.asarray(s + shift), where=backend.asarray(where))
    assert_close(b, to_numpy(a), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_fully_masked_batch_is_zero_with_zero_gradients(framework):
    """No valid item anywhere: every reduction is 0, and the gradient is 0 (a safe where), not NaN."""
    if framework not in available_backends():
        pytest.skip(f"{framework} is not installed or not selected")
    from unilosses.check.gradients import GRAD_REDUCTIONS, autodiff
    from unilosses.conformance import Case

    rng = np.random.default_rng(3)
    y, s, _ = _lists(rng)
    case = Case("masked", "ranking_softmax", lambda r: (y, s, np.zeros((B, L), bool)), array_options={"where": 2})
    arrays = (y, s, np.zeros((B, L), bool))
    for red in ("sum", "sum_over_batch_size", "mean_with_sample_weight", "sum_by_nonzero_weights"):
        assert ul.ranking_softmax(y, s, where=arrays[2], reduction=red) == 0
    grads = autodiff(framework, case, arrays, [0, 1], GRAD_REDUCTIONS, np.ones(B))
    for g in grads:
        np.testing.assert_array_equal(g, np.zeros((B, L)))


@selected("jax")
@pytest.mark.parametrize(("ours", "reduce_fn"), [("none", None), ("mean", "mean"), ("sum", "sum")])
def test_value_and_grad_vs_optax(rng, ours, reduce_fn):
    """Values and jax.grad (w.r.t. scores and labels) equal optax's, with masks and weights."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    y, s, where = (jax.numpy.asarray(a) for a in _lists(rng))
    w = jax.numpy.asarray(rng.uniform(0.0, 2.0, (B, L)).astype(np.float32))
    fn = None if reduce_fn is None else getattr(jax.numpy, reduce_fn)

    def theirs(y, s):
        return optax.losses.ranking_softmax_loss(s, y, where=where, weights=w, reduce_fn=fn)

    def mine(y, s):
        return ul.ranking_softmax(y, s, where=where, item_weight=w, reduction=ours)

    assert_close(mine(y, s), np.asarray(theirs(y, s)), rtol=1e-6, atol=1e-6)
    g_mine = jax.grad(lambda y, s: mine(y, s).sum(), argnums=(0, 1))(y, s)
    g_theirs = jax.grad(lambda y, s: theirs(y, s).sum(), argnums=(0, 1))(y, s)
    for a, b in zip(g_mine, g_theirs):
        assert_close(a, np.asarray(b), rtol=1e-5, atol=1e-6)


def test_class_form_and_config(rng, config_round_trip):
    y, s, where = _lists(rng)
    loss, back = config_round_trip(ul.RankingSoftmax, {"where": where.tolist(), "axis": -1})
    expected = ul.ranking_softmax(y, s, where=where, reduction="sum")
    np.testing.assert_allclose(loss(y, s), expected, rtol=1e-6)
    np.testing.assert_allclose(back(y, s), expected, rtol=1e-6)


def test_registry(registered):
    registered("ranking", "ranking_softmax", "RankingSoftmax")
    registered("ranking", "margin_ranking", "MarginRanking")


def test_bad_input(backend):
    y, s = backend.asarray(np.ones((2, 3), np.float32)), backend.asarray(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"^where: expected a shape that broadcasts to y_pred's shape \(2, 3\), got \(2, 4\)"):
        ul.ranking_softmax(y, s, where=backend.asarray(np.ones((2, 4), bool)))
    with pytest.raises(ValueError, match=r"^item_weight: expected a shape that broadcasts to y_pred's shape \(2, 3\), got \(3, 3\)"):
        ul.ranking_softmax(y, s, item_weight=backend.asarray(np.ones((3, 3), np.float32)))
    with pytest.raises(ValueError, match=r"^y_true: expected the shape of y_pred \(2, 3\), got \(2, 2\)"):
        ul.ranking_softmax(backend.asarray(np.ones((2, 2), np.float32)), s)
    with pytest.raises(ValueError, match=r"^y_pred: expected at least one item along the list axis 1, got shape \(2, 0\)"):
        ul.ranking_softmax(backend.asarray(np.ones((2, 0), np.float32)), backend.asarray(np.ones((2, 0), np.float32)))
    with pytest.raises(ValueError, match=r"^axis: expected an axis in \[-2, 1\]"):
        ul.ranking_softmax(y, s, axis=2)
    with pytest.raises(TypeError, match=r"^axis: expected an integer axis for this loss, got None"):
        ul.ranking_softmax(y, s, axis=None)
