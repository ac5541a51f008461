"""Every catalogue loss inside a tf.compat.v1 graph (``tf.Graph`` + ``Session``) gives eager's numbers,
values and gradients (``tf.gradients`` against ``GradientTape``).

In a legacy graph TensorFlow's ``==`` and ``!=`` compare tensors by identity (a Python bool), not
element by element: a spec that wrote ``labels != ignore_index`` got ``True`` there, and hinge's
{0, 1} -> {-1, 1} mapping was skipped. Specs compare arrays with ``xp.equal`` / ``xp.not_equal``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.conformance import all_cases

tf = pytest.importorskip("tensorflow")
pytestmark = selected("tensorflow")

CASES = all_cases()
REDUCTIONS = ("none", "sum_over_batch_size", "mean_with_sample_weight")


def _graph_and_eager(case, arrays):
    """(graph values, graph gradients, eager values, eager gradients) for every reduction."""
    fn = getattr(ul, case.loss)
    args, kw = case.call_args(arrays)
    floats = [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]
    graph = tf.Graph()
    with graph.as_default():
        xs = [tf.constant(a) for a in args]
        outs = [fn(*xs, **kw, reduction=r) for r in REDUCTIONS]
        total = tf.add_n([tf.reduce_sum(o) for o in outs])
        grads = tf.gradients(total, [xs[i] for i in floats])
        with tf.compat.v1.Session(graph=graph) as session:
            got_values, got_grads = session.run((outs, [g if g is not None else tf.zeros(()) for g in grads]))
    assert tf.executing_eagerly()
    ex = [tf.constant(a) for a in args]
    with tf.GradientTape() as tape:
        for i in floats:
            tape.watch(ex[i])
        eager = [fn(*ex, **kw, reduction=r) for r in REDUCTIONS]
        eager_total = tf.add_n([tf.reduce_sum(o) for o in eager])
    eager_grads = tape.gradient(eager_total, [ex[i] for i in floats])
    eager_grads = [np.zeros(()) if g is None else g.numpy() for g in eager_grads]
    return got_values, got_grads, [o.numpy() for o in eager], eager_grads


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_v1_graph_gives_eagers_numbers(case):
    arrays = tuple(np.asarray(a) for a in case.inputs(np.random.default_rng(0)))
    values, grads, eager_values, eager_grads = _graph_and_eager(case, arrays)
    for r, got, want in zip(REDUCTIONS, values, eager_values):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=f"values, reduction={r}")
    for got, want in zip(grads, eager_grads):
        np.testing.assert_allclose(np.broadcast_to(got, np.shape(want)), want, rtol=1e-5, atol=1e-6, equal_nan=True,
                                   err_msg="gradients")


def test_v1_graph_hinge_and_ignored_labels():
    """The examples that showed it: hinge's {0, 1} labels, and an ignored label per sample."""
    y01 = np.array([[0, 1, 0, 1], [0, 0, 1, 1]], np.int32)
    p = np.array([[-0.3, 0.2, -0.1, 1.6], [-0.25, -1.0, 0.5, 0.6]], np.float32)
    z = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        hinge = ul.Hinge()(tf.constant(y01), tf.constant(p))
        squared = ul.SquaredHinge()(tf.constant(y01), tf.constant(p))
        scce = ul.SparseCategoricalCrossentropy(from_logits=True, ignore_index=-1, reduction="none")(
            tf.constant([0, -1, 2]), tf.constant(z)
        )
        with tf.compat.v1.Session(graph=graph) as session:
            got = session.run((hinge, squared, scce))
    signed = 2.0 * y01 - 1.0  # Keras maps {0, 1} labels to {-1, 1}
    np.testing.assert_allclose(got[0], np.mean(np.maximum(0.0, 1.0 - signed * p)), rtol=1e-6)  # 0.50625
    np.testing.assert_allclose(got[1], np.mean(np.maximum(0.0, 1.0 - signed * p) ** 2), rtol=1e-6)
    assert got[2][1] == 0.0 and np.all(np.isfinite(got[2]))


@pytest.mark.parametrize("fn", [ul.categorical_crossentropy, ul.mean_squared_error, ul.sparse_categorical_crossentropy])
def test_unknown_rank_is_refused_naming_the_input(fn):
    """A placeholder made without a shape has no rank: a ValueError naming it and asking for a shape."""
    with tf.Graph().as_default():
        unknown = tf.compat.v1.placeholder(tf.float32)
        known = tf.compat.v1.placeholder(tf.float32, shape=(None, 3))
        for y_true, y_pred, name in ((unknown, unknown, "y_true and y_pred"), (known, unknown, "y_pred")):
            with pytest.raises(ValueError, match=f"^{name}: its rank is unknown.*shape=\\(None, 3\\)"):
                fn(y_true, y_pred)


@pytest.mark.parametrize("fn", [ul.ntxent, ul.circle, ul.supcon, ul.batch_triplet, ul.multi_similarity,
                                ul.contrastive_margin, ul.beta_margin])
def test_batch_size_unknown_until_run_time(fn):
    """Pair losses build their masks from the batch size: traced with a batch size of None (Keras'
    and tf.data's default), the same values as eagerly."""
    rng = np.random.default_rng(7)
    y, e = np.array([0, 0, 1, 1, 2], np.int32), rng.standard_normal((5, 4)).astype(np.float32)
    sig = [tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, 4), tf.float32)]
    traced = tf.function(lambda y, e: fn(y, e, reduction="none"), input_signature=sig)
    np.testing.assert_allclose(traced(y, e).numpy(), np.asarray(fn(y, e, reduction="none")), rtol=1e-5, atol=1e-6)
