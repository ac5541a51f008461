"""The margin family (a label per element): class forms vs Keras, the hinge label rule under
jit, the perceptron, soft margins, options.

Values against the live frameworks are in unilosses/conformance/margin.py (run by
test_conformance.py on every backend).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import assert_close

B, D, K = 8, 4, 5
KERAS_REDUCTIONS = ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight")


def _keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def _weights(rng):
    w = rng.uniform(0.0, 2.0, B).astype(np.float32)
    w[3] = 0.0
    return w


def _labels(rng, convention):
    y = rng.integers(0, 2, (B, D)).astype(np.float32)
    return 2.0 * y - 1.0 if convention == "signed" else y


# ------------------------------------------------- class forms vs Keras classes
@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
@pytest.mark.parametrize("convention", ["signed", "01"])
@pytest.mark.parametrize("name", ["Hinge", "SquaredHinge"])
def test_hinge_classes_vs_keras(backend, rng, name, convention, reduction):
    keras = _keras()
    y = _labels(rng, convention)
    s = (rng.standard_normal((B, D)) * 1.5).astype(np.float32)
    w = _weights(rng)
    expected = getattr(keras.losses, name)(reduction=reduction)(
        y.astype(np.float64), s.astype(np.float64), sample_weight=w.astype(np.float64)
    )
    out = getattr(ul, name)(reduction=reduction)(backend.asarray(y), backend.asarray(s), backend.asarray(w))
    assert_close(out, np.asarray(expected), rtol=1e-5, atol=1e-6, like=backend.asarray(s))


def test_hinge_label_rule_is_all_or_nothing(backend):
    """{0, 1} labels map to {-1, 1} only when every label is 0 or 1 (Keras)."""
    s = backend.asarray(np.array([[0.5, -2.0], [0.3, 0.8]], dtype=np.float32))
    as_01 = ul.hinge(backend.asarray(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)), s)
    assert_close(as_01, np.array([0.25, 0.75], dtype=np.float32), like=s)  # by hand: labels [[1,-1],[-1,1]]
    mixed = ul.hinge(backend.asarray(np.array([[1.0, 0.0], [-1.0, 1.0]], dtype=np.float32)), s)
    assert_close(mixed, np.array([0.75, 0.75], dtype=np.float32), like=s)  # 0 stays 0: max(0, 1 - 0) = 1


# ------------------------------------------------ no Python branch on values
def _label_sets():
    return [
        np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=np.float32),
        np.array([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]], dtype=np.float32),
    ]


def _keras_values(name, y, s):
    keras = _keras()
    return np.asarray(getattr(keras.losses, name)(y.astype(np.float64), s.astype(np.float64)))


@selected("jax")
@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_label_rule_under_jax_jit(name):
    jax = pytest.importorskip("jax")
    s = np.array([[0.5, -2.0, 0.1], [0.3, 0.8, -0.4]], dtype=np.float32)
    fn = jax.jit(lambda y, p: getattr(ul, name)(y, p))
    for y in _label_sets():  # one trace serves both conventions
        assert_close(fn(jax.numpy.asarray(y), jax.numpy.asarray(s)), _keras_values(name, y, s), rtol=1e-6)


@selected("tensorflow")
@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_label_rule_under_tf_function(name):
    tf = pytest.importorskip("tensorflow")
    s = np.array([[0.5, -2.0, 0.1], [0.3, 0.8, -0.4]], dtype=np.float32)
    fn = tf.function(lambda y, p: getattr(ul, name)(y, p))
    for y in _label_sets():
        assert_close(fn(tf.constant(y), tf.constant(s)), _keras_values(name, y, s), rtol=1e-6)


@selected("torch")
def test_hinge_and_multiclass_under_torch_compile_fullgraph():
    torch = pytest.importorskip("torch")
    s = np.array([[0.5, -2.0, 0.1], [0.3, 0.8, -0.4]], dtype=np.float32)
    ys = [torch.as_tensor(y) for y in _label_sets()]
    ul.hinge(ys[0], torch.as_tensor(s))  # first call eagerly: dispatch caches are filled outside the graph
    fn = torch.compile(lambda y, p: ul.hinge(y, p), fullgraph=True, backend="eager")
    for y in ys:
        assert_close(fn(y, torch.as_tensor(s)), _keras_values("hinge", y.numpy(), s), rtol=1e-6)
    labels = torch.tensor([0, 2])
    ul.multiclass_hinge(labels, torch.as_tensor(s))
    mc = torch.compile(lambda y, p: ul.multiclass_hinge(y, p), fullgraph=True, backend="eager")
    assert_close(mc(labels, torch.as_tensor(s)), ul.multiclass_hinge(labels.numpy(), s), rtol=1e-6)



# ---------------------------------------------------------------- perceptron
def test_perceptron_is_the_hinge_without_its_margin(backend, rng):
    """max(0, -y s) = max(0, 1 - y (s + y)) for y in {-1, 1}; {0, 1} labels map as the hinge's do."""
    y = _labels(rng, "signed")
    s = (rng.standard_normal((B, D)) * 2).astype(np.float32)
    sb = backend.asarray(s)
    expected = ul.hinge(backend.asarray(y), backend.asarray(s + y))
    assert_close(ul.perceptron(backend.asarray(y), sb), expected, rtol=1e-6, atol=1e-6, like=sb)
    assert_close(ul.perceptron(backend.asarray((y + 1) / 2), sb), expected, rtol=1e-6, atol=1e-6, like=sb)
    # by hand: labels [1, -1] and [1, 1] against scores [0.5, 2] and [-3, 1]: (0 + 2) / 2, (3 + 0) / 2
    y2 = backend.asarray(np.array([[1.0, -1.0], [1.0, 1.0]], np.float32))
    s2 = backend.asarray(np.array([[0.5, 2.0], [-3.0, 1.0]], np.float32))
    assert_close(ul.perceptron(y2, s2), np.array([1.0, 1.5], np.float32), like=s2)


@selected("jax")
@pytest.mark.parametrize(("ours", "optax_reduce"), [("sum_over_batch_size", "mean"), ("sum", "sum")])
def test_perceptron_class_vs_optax_value_and_grad(rng, ours, optax_reduce):
    """Perceptron(axis=None) == optax.losses.perceptron_loss reduced, and jax.grad of both."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    y = jax.numpy.asarray(_labels(rng, "signed"))
    s = jax.numpy.asarray((rng.standard_normal((B, D)) * 2).astype(np.float32))
    loss = ul.Perceptron(axis=None, reduction=ours)
    theirs = lambda s: getattr(jax.numpy, optax_reduce)(optax.losses.perceptron_loss(s, y))  # noqa: E731
    assert_close(loss(y, s), np.asarray(theirs(s)), rtol=1e-6, atol=1e-6)
    assert_close(jax.grad(lambda s: loss(y, s))(s), np.asarray(jax.grad(theirs)(s)), rtol=1e-6, atol=1e-7)


# -------------------------------------------------------------- soft margins
def test_soft_margin_is_stable_and_multilabel_is_bce(backend, rng):
    y = backend.asarray(np.array([[1.0, -1.0]], dtype=np.float32))
    z = backend.asarray(np.array([[-100.0, 100.0]], dtype=np.float32))
    assert_close(ul.soft_margin(y, z), np.array([100.0], np.float32), rtol=1e-6, like=z)  # log(1 + e^100) = 100
    t = rng.integers(0, 2, (B, K)).astype(np.float32)
    logits = backend.asarray((rng.standard_normal((B, K)) * 3).astype(np.float32))
    bce = ul.binary_crossentropy(backend.asarray(t), logits, from_logits=True)
    assert_close(ul.multilabel_soft_margin(backend.asarray(t), logits), bce, rtol=1e-6, atol=1e-6, like=logits)


# ------------------------------------------------------------- configuration
CLASSES = [
    (ul.Hinge, {"axis": None}),
    (ul.SquaredHinge, {}),
    (ul.Perceptron, {"axis": None}),
    (ul.SoftMargin, {"axis": None}),
    (ul.MultilabelSoftMargin, {"class_weight": [1.0, 0.5, 2.0]}),
]


@pytest.mark.parametrize(("cls", "options"), CLASSES, ids=[c[0].__name__ for c in CLASSES])
def test_config_round_trip(cls, options, config_round_trip):
    config_round_trip(cls, options)


@pytest.mark.parametrize(
    ("fn_name", "cls_name"),
    [
        ("hinge", "Hinge"), ("squared_hinge", "SquaredHinge"), ("perceptron", "Perceptron"),
        ("soft_margin", "SoftMargin"), ("multilabel_soft_margin", "MultilabelSoftMargin"),
    ],
)
def test_registry(fn_name, cls_name, registered):
    registered("margin", fn_name, cls_name)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("fn", "option", "value", "exc"),
    [
        (ul.hinge, "axis", 0.5, TypeError),
        (ul.perceptron, "axis", "last", TypeError),
        (ul.multilabel_soft_margin, "class_weight", [1.0, 2.0], ValueError),
    ],
)
def test_bad_options_name_the_parameter(fn, option, value, exc):
    with pytest.raises(exc, match=f"^{option}: "):
        fn(np.ones((2, 3)), np.ones((2, 3)), **{option: value})


def test_perceptron_shapes_must_match(backend):
    with pytest.raises(ValueError, match=r"^y_true: expected the shape of y_pred \(2, 3\), got \(2, 4\)"):
        ul.perceptron(backend.asarray(np.ones((2, 4), np.float32)), backend.asarray(np.ones((2, 3), np.float32)))
