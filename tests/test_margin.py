"""The margin family: class forms vs Keras and torch, the hinge label rule under jit,
the hand-checked multiclass hinge, the pair / triplet calling convention, options.

Values against the live frameworks are in unilosses/conformance/margin.py (run by
test_conformance.py on every backend).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import ArrayBackend, assert_close, available_backends, to_numpy

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


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
def test_categorical_hinge_class_vs_keras(backend, rng, reduction):
    keras = _keras()
    y = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)]
    s = (rng.standard_normal((B, K)) * 1.5).astype(np.float32)
    w = _weights(rng)
    expected = keras.losses.CategoricalHinge(reduction=reduction)(
        y.astype(np.float64), s.astype(np.float64), sample_weight=w.astype(np.float64)
    )
    out = ul.CategoricalHinge(reduction=reduction)(backend.asarray(y), backend.asarray(s), sample_weight=backend.asarray(w))
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


# ----------------------------------------------------------- multiclass hinge
HAND_SCORES = np.array([[10.0, -2.0, 3.0], [10.0, 9.0, 9.0], [10.0, -100.0, -100.0]], dtype=np.float32)


@pytest.mark.parametrize("squared", [False, True])
def test_multiclass_hinge_hand_checked(backend, squared):
    """Margin 1, correct class 0 ahead of every other score by >= 1: zero loss, unlike the cross-entropy."""
    s = backend.asarray(HAND_SCORES)
    y = backend.asarray(np.zeros(3, dtype=np.int64))
    out = ul.multiclass_hinge(y, s, margin=1.0, squared=squared)
    assert_close(out, np.zeros(3, dtype=np.float32), rtol=0, atol=0, like=s)
    # the cross-entropy of the same rows is not 0: log(1 + sum_j e^(s_j - s_0)); by hand
    # log1p(e^-12 + e^-7) = 9.18e-4, log1p(2 e^-1) = 0.5514 (row 3, log1p(2 e^-110) ~ 3e-48,
    # rounds to 0 in any float logsumexp)
    ce = to_numpy(ul.sparse_categorical_crossentropy(y, s, from_logits=True))
    np.testing.assert_allclose(ce[:2], [np.log1p(np.exp(-12) + np.exp(-7)), np.log1p(2 * np.exp(-1))], rtol=1e-3)
    # by hand, margin 2: row 2 has 10 - 9 = 1 < 2 twice: 2 * (2 - 1) = 2 (squared: 2 * 1)
    # row 1 has 10 - 3 = 7 >= 2: 0; row 3: 0
    assert_close(ul.multiclass_hinge(y, s, margin=2.0, squared=squared), np.array([0.0, 2.0, 0.0], np.float32), like=s)


def test_multiclass_hinge_negative_margin_by_hand(backend):
    """The j = y term is max(0, margin): 0 for a negative margin, nothing to subtract."""
    s = backend.asarray(np.array([[0.0, 0.5, -1.0]], dtype=np.float32))
    y = backend.asarray(np.array([0]))
    # margin -0.25: max(0, 0.5 - 0.25) + max(0, -1 - 0.25) = 0.25; squared 0.0625
    assert_close(ul.multiclass_hinge(y, s, margin=-0.25), np.array([0.25], np.float32), like=s)
    assert_close(ul.multiclass_hinge(y, s, margin=-0.25, squared=True), np.array([0.0625], np.float32), like=s)


@pytest.mark.parametrize(("squared", "p"), [(False, 1), (True, 2)])
def test_multiclass_hinge_class_vs_torch_module(rng, squared, p):
    """torch's MultiMarginLoss divides by C: ours * (1 / C) = torch's, under mean and sum."""
    torch = pytest.importorskip("torch")
    y = rng.integers(0, K, B)
    s = rng.standard_normal((B, K))
    for ours, theirs in (("sum_over_batch_size", "mean"), ("sum", "sum")):
        expected = torch.nn.MultiMarginLoss(p=p, margin=0.7, reduction=theirs)(torch.as_tensor(s), torch.as_tensor(y))
        out = ul.MulticlassHinge(margin=0.7, squared=squared, reduction=ours)(torch.as_tensor(y), torch.as_tensor(s))
        assert_close(out / K, expected, rtol=1e-10)


def test_multiclass_hinge_labels_checked():
    with pytest.raises(ValueError, match="^y_true: labels must lie in"):
        ul.multiclass_hinge(np.array([0, 3]), HAND_SCORES[:2])
    with pytest.raises(ValueError, match="^y_true: expected integer labels of shape"):
        ul.multiclass_hinge(np.zeros((3, 3)), HAND_SCORES)


# ------------------------------------------- pair / triplet losses and classes
def _pair_inputs(rng):
    x1, x2 = rng.standard_normal(B), rng.standard_normal(B)
    return x1, x2, rng.choice([-1.0, 1.0], B)


def _triplet_inputs(rng):
    return rng.standard_normal((B, D)), rng.standard_normal((B, D)), rng.standard_normal((B, D))


def _cosine_inputs(rng):
    return rng.standard_normal((B, D)), rng.standard_normal((B, D)), rng.choice([-1, 1], B)


TORCH_MODULES = [
    ("MarginRanking", "MarginRankingLoss", {"margin": 0.3}, _pair_inputs),
    ("TripletMargin", "TripletMarginLoss", {"margin": 0.5, "p": 1, "swap": True}, _triplet_inputs),
    ("CosineEmbedding", "CosineEmbeddingLoss", {"margin": 0.1}, _cosine_inputs),
]


@pytest.mark.parametrize(("ours", "theirs", "options", "inputs"), TORCH_MODULES, ids=[t[0] for t in TORCH_MODULES])
def test_pair_and_triplet_classes_vs_torch_modules(backend, rng, ours, theirs, options, inputs):
    """Class forms take the inputs in torch's order; mean, sum and weighted values match torch."""
    torch = pytest.importorskip("torch")
    arrays = inputs(rng)
    t_args = [torch.as_tensor(a) for a in arrays]
    args = [backend.asarray(a.astype(np.float32) if a.dtype.kind == "f" else a) for a in arrays]
    w = _weights(rng)
    none = getattr(torch.nn, theirs)(reduction="none", **options)(*t_args).numpy()
    for ours_red, theirs_red in (("sum_over_batch_size", "mean"), ("sum", "sum")):
        expected = getattr(torch.nn, theirs)(reduction=theirs_red, **options)(*t_args)
        out = getattr(ul, ours)(reduction=ours_red, **options)(*args)
        assert_close(out, expected.numpy().astype(np.float32), rtol=1e-5, atol=1e-6, like=args[0])
    obj = getattr(ul, ours)(reduction="none", **options)
    expected = (none * w).astype(np.float32)
    assert_close(obj(*args, backend.asarray(w)), expected, rtol=1e-5, atol=1e-6, like=args[0])  # positional weight
    assert_close(obj(*args, sample_weight=backend.asarray(w)), expected, rtol=1e-5, atol=1e-6, like=args[0])
    weighted = getattr(ul, ours)(reduction="mean_with_sample_weight", **options)(*args, sample_weight=w)
    assert_close(weighted, np.asarray((none * w).sum() / w.sum(), np.float32), rtol=1e-5, atol=1e-6, like=args[0])


def test_inputs_by_name_and_from_host_values(backend):
    a = np.array([[0.0, 0.0]], dtype=np.float32)
    pos, neg = [[3.0, 4.0]], [[6.0, 8.0]]  # Python lists are moved to anchor's framework
    ab = backend.asarray(a)
    out = ul.triplet_margin(ab, neg, pos, eps=1e-30)
    assert_close(out, np.array([6.0], np.float32), atol=1e-5, like=ab)  # by hand: 10 - 5 + 1
    by_name = ul.triplet_margin(negative=pos, positive=neg, anchor=ab, eps=1e-30)
    assert_close(by_name, np.array([6.0], np.float32), atol=1e-5, like=ab)
    mixed = ul.triplet_margin(ab, neg, negative=pos, eps=1e-30)
    assert_close(mixed, np.array([6.0], np.float32), atol=1e-5, like=ab)


def test_the_first_input_decides_dtype(backend):
    """x1 decides: 16-bit x1 computes in float32; NumPy float64 x2 and int target follow x1."""
    x2 = np.array([0.5, 3.0])  # float64 on the host
    x1 = backend.asarray(np.array([1.0, 2.0], dtype=np.float32))
    out = ul.margin_ranking(x1, x2, [1, 1], margin=0.25)
    assert_close(out, np.array([0.0, 1.25], np.float32), like=x1, dtype=backend.dtype("float32"))
    if backend.name in ("numpy", "torch", "jax", "tensorflow"):
        x1 = backend.asarray(np.array([1.0, 2.0]), dtype="float16")
        out = ul.margin_ranking(x1, x2, np.array([1, 1]), margin=0.25)
        assert_close(out, np.array([0.0, 1.25], np.float32), like=x1, dtype=backend.dtype("float32"))


def test_input_errors_name_the_input():
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match="missing input"):
        ul.triplet_margin(x, x)
    with pytest.raises(TypeError, match="takes 3 inputs"):
        ul.margin_ranking(x[:, 0], x[:, 0], x[:, 0], x[:, 0])
    with pytest.raises(TypeError, match="multiple values for input 'x2'"):
        ul.cosine_embedding(x, x, np.ones(2), x2=x)
    with pytest.raises(TypeError, match="^x1: expected a real floating-point"):
        ul.margin_ranking(np.array([1, 2]), np.array([1.0, 2.0]), np.array([1, 1]))
    with pytest.raises(TypeError, match="^anchor: expected a real floating-point"):
        ul.TripletMargin()(np.ones((2, 3), dtype=np.int64), x, x)
    with pytest.raises(ValueError, match="^x2: expected a shape that broadcasts to x1's shape"):
        ul.margin_ranking(np.ones(3), np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="^target: expected a shape that broadcasts"):
        ul.cosine_embedding(x, x, np.ones(3))
    with pytest.raises(ValueError, match="^negative: expected a shape that broadcasts to anchor's shape"):
        ul.triplet_margin(x, x, np.ones((2, 4)))
    with pytest.raises(TypeError, match="unexpected argument"):
        ul.MarginRanking()(x[:, 0], x[:, 0], x[:, 0], weights=1.0)


def test_another_framework_is_a_type_error_naming_both_inputs():
    others = [b for b in available_backends() if b not in ("numpy", "dask")]
    if not others:
        pytest.skip("needs a second array framework")
    other = ArrayBackend(others[0])
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match=rf"^positive: got an array of {others[0]} while anchor is an array of numpy"):
        ul.triplet_margin(x, other.asarray(x), x)


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
    (ul.CategoricalHinge, {"axis": 1}),
    (ul.MulticlassHinge, {"margin": 0.5, "squared": True}),
    (ul.SoftMargin, {"axis": None}),
    (ul.MultilabelSoftMargin, {"class_weight": [1.0, 0.5, 2.0]}),
    (ul.MarginRanking, {"margin": 0.2}),
    (ul.TripletMargin, {"margin": 2.0, "p": 1.5, "swap": True, "eps": 1e-4}),
    (ul.CosineEmbedding, {"margin": -0.5}),
]


@pytest.mark.parametrize(("cls", "options"), CLASSES, ids=[c[0].__name__ for c in CLASSES])
def test_config_round_trip(cls, options, config_round_trip):
    config_round_trip(cls, options)


def test_registry():
    for fn_name, cls_name in [
        ("hinge", "Hinge"), ("squared_hinge", "SquaredHinge"), ("categorical_hinge", "CategoricalHinge"),
        ("multiclass_hinge", "MulticlassHinge"), ("margin_ranking", "MarginRanking"),
        ("triplet_margin", "TripletMargin"), ("cosine_embedding", "CosineEmbedding"),
        ("soft_margin", "SoftMargin"), ("multilabel_soft_margin", "MultilabelSoftMargin"),
    ]:
        assert ul.get(fn_name) is getattr(ul, fn_name)
        assert isinstance(ul.get(cls_name), getattr(ul, cls_name))
        assert fn_name in ul.margin.__all__ and cls_name in ul.__all__


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("fn", "option", "value", "exc"),
    [
        (ul.triplet_margin, "p", 0, ValueError),
        (ul.triplet_margin, "p", -2.0, ValueError),
        (ul.triplet_margin, "p", float("nan"), ValueError),
        (ul.triplet_margin, "p", "2", TypeError),
        (ul.triplet_margin, "p", True, TypeError),
        (ul.triplet_margin, "margin", float("nan"), ValueError),
        (ul.triplet_margin, "margin", "1", TypeError),
        (ul.triplet_margin, "swap", 1, TypeError),
        (ul.triplet_margin, "swap", "yes", TypeError),
        (ul.triplet_margin, "eps", 0.0, ValueError),
        (ul.margin_ranking, "margin", float("nan"), ValueError),
        (ul.cosine_embedding, "margin", "0.5", TypeError),
        (ul.cosine_embedding, "margin", None, TypeError),
    ],
)
def test_bad_pair_options_name_the_parameter(fn, option, value, exc):
    x = np.ones((2, 3))
    third = np.ones(2) if fn is ul.cosine_embedding else x
    if fn is ul.margin_ranking:
        x, third = np.ones(2), np.ones(2)
    with pytest.raises(exc, match=f"^{option}: "):
        fn(x, x, third, **{option: value})


@pytest.mark.parametrize(
    ("fn", "option", "value", "exc"),
    [
        (ul.multiclass_hinge, "margin", float("nan"), ValueError),
        (ul.multiclass_hinge, "squared", "yes", TypeError),
        (ul.hinge, "axis", 0.5, TypeError),
        (ul.multilabel_soft_margin, "class_weight", [1.0, 2.0], ValueError),
    ],
)
def test_bad_options_name_the_parameter(fn, option, value, exc):
    y = np.array([0, 1]) if fn is ul.multiclass_hinge else np.ones((2, 3))
    with pytest.raises(exc, match=f"^{option}: "):
        fn(y, np.ones((2, 3)), **{option: value})


def test_bad_options_in_the_constructor():
    with pytest.raises(ValueError, match="^p: "):
        ul.TripletMargin(p=0)
    with pytest.raises(TypeError, match="^squared: "):
        ul.MulticlassHinge(squared=1)
