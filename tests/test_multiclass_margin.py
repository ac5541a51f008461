"""The multiclass margins: categorical hinge vs Keras, the hand-checked Weston-Watkins and
Crammer-Singer hinges, the multiclass perceptron and the multi-label margin vs optax and torch
(values and gradients), label checks, options.

Values against the live frameworks are in unilosses/conformance/multiclass_margin.py (run by
test_conformance.py on every backend).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import assert_close, to_numpy

B, K = 8, 5
KERAS_REDUCTIONS = ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight")
#: backends that read labels on the host (an out-of-range label is a ValueError); the others give NaN
RAISES = {"numpy", "torch", "tensorflow"}


def _weights(rng):
    w = rng.uniform(0.0, 2.0, B).astype(np.float32)
    w[3] = 0.0
    return w


# ------------------------------------------------------------ categorical hinge
@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
def test_categorical_hinge_class_vs_keras(backend, rng, reduction):
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    y = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)]
    s = (rng.standard_normal((B, K)) * 1.5).astype(np.float32)
    w = _weights(rng)
    expected = keras.losses.CategoricalHinge(reduction=reduction)(
        y.astype(np.float64), s.astype(np.float64), sample_weight=w.astype(np.float64)
    )
    out = ul.CategoricalHinge(reduction=reduction)(backend.asarray(y), backend.asarray(s), sample_weight=backend.asarray(w))
    assert_close(out, np.asarray(expected), rtol=1e-5, atol=1e-6, like=backend.asarray(s))


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


@selected("torch")
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



# ------------------------------------------------- Crammer-Singer and perceptron
def test_crammer_singer_hand_checked(backend):
    """One term, for the best wrong class: where Weston-Watkins sums them."""
    s = backend.asarray(np.array([[2.0, 1.5, 1.8], [0.0, 3.0, -1.0], [5.0, 1.0, 2.0]], np.float32))
    y = backend.asarray(np.array([0, 0, 0]))
    # by hand: max(1.5, 1.8) + 1 - 2 = 0.8; 3 + 1 - 0 = 4; 2 + 1 - 5 < 0: 0
    assert_close(ul.crammer_singer_hinge(y, s), np.array([0.8, 4.0, 0.0], np.float32), atol=1e-6, like=s)
    # Weston-Watkins: (1.5 + 1 - 2) + (1.8 + 1 - 2) = 1.3; 4 + max(0, -1 + 1) = 4; 0
    assert_close(ul.multiclass_hinge(y, s), np.array([1.3, 4.0, 0.0], np.float32), atol=1e-6, like=s)
    # margin 0 is the perceptron: 1.8 - 2 < 0 -> 0; 3; 0; a negative margin as well: 3 - 0.5
    assert_close(ul.crammer_singer_hinge(y, s, margin=0.0), ul.multiclass_perceptron(y, s), like=s)
    assert_close(ul.crammer_singer_hinge(y, s, margin=-0.5), np.array([0.0, 2.5, 0.0], np.float32), like=s)


def test_crammer_singer_is_at_most_weston_watkins(backend, rng):
    """For margin >= 0 the best wrong class's term is one of Weston-Watkins' non-negative terms."""
    y = rng.integers(0, K, (B, 3))
    s = (rng.standard_normal((B, K, 3)) * 2).astype(np.float32)
    for margin in (0.0, 0.5, 2.0):
        cs = to_numpy(ul.crammer_singer_hinge(backend.asarray(y), backend.asarray(s), margin=margin, axis=1))
        ww = to_numpy(ul.multiclass_hinge(backend.asarray(y), backend.asarray(s), margin=margin, axis=1))
        assert cs.shape == (B, 3) and np.all(cs <= ww + 1e-6) and np.all(cs >= 0)


@selected("jax")
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("crammer_singer_hinge", "multiclass_hinge_loss"), ("multiclass_perceptron", "multiclass_perceptron_loss")],
)
def test_value_and_grad_vs_optax(rng, ours, theirs):
    """Per-sample values and jax.grad of the mean equal optax's, in float32."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    y = jax.numpy.asarray(rng.integers(0, K, B))
    s = jax.numpy.asarray((rng.standard_normal((B, K)) * 2).astype(np.float32))
    fn = getattr(ul, ours)
    ref = getattr(optax.losses, theirs)
    assert_close(fn(y, s), np.asarray(ref(s, y)), rtol=1e-6, atol=1e-6)
    g = jax.grad(lambda s: fn(y, s, reduction="mean"))(s)
    assert_close(g, np.asarray(jax.grad(lambda s: ref(s, y).mean())(s)), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------- multi-label margin
SCORES = np.array([[0.1, 0.2, 0.4, 0.8]], dtype=np.float32)


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        # targets {3, 0}: target 3 (0.8) against 1, 2: max(0, 1 - 0.6) + max(0, 1 - 0.4) = 1.0;
        # target 0 (0.1) against 1, 2: 1.1 + 1.3 = 2.4; (1.0 + 2.4) / 4
        ([3, 0, -1, 1], 0.85),
        ([-1, 1, 2, 3], 0.0),  # no target: the list ends at once
        ([-1, -1, -1, -1], 0.0),
        ([0, 1, 2, 3], 0.0),  # every class a target: nothing to beat
        ([1, 1, -1, 0], 1.85),  # 1 (0.2) against 0, 2, 3: 0.9 + 1.2 + 1.6 = 3.7, counted twice (torch)
        ([2, -1, 3, 3], 0.725),  # 2 (0.4) against 0, 1, 3: (0.7 + 0.8 + 1.4) / 4; entries after -1 unread
    ],
)
def test_multilabel_margin_hand_checked(backend, targets, expected):
    s = backend.asarray(SCORES)
    out = ul.multilabel_margin(backend.asarray(np.array([targets])), s)
    assert_close(out, np.array([expected], np.float32), rtol=1e-6, atol=1e-7, like=s)


@selected("torch")
@pytest.mark.parametrize(("ours", "theirs"), [("none", "none"), ("sum_over_batch_size", "mean"), ("sum", "sum")])
def test_multilabel_margin_vs_torch_module_value_and_grad(rng, ours, theirs):
    """MultilabelMargin == torch.nn.MultiLabelMarginLoss (value, and autograd against torch's own
    backward kernel), float64."""
    torch = pytest.importorskip("torch")
    from unilosses.conformance.multiclass_margin import _target_lists

    y = torch.as_tensor(_target_lists(rng, 12))
    s = torch.tensor(rng.standard_normal((12, 6)), requires_grad=True)
    ours_value = ul.MultilabelMargin(reduction=ours)(y, s)
    theirs_value = torch.nn.MultiLabelMarginLoss(reduction=theirs)(s, y)
    torch.testing.assert_close(ours_value, theirs_value, rtol=1e-12, atol=1e-12)
    (g_ours,) = torch.autograd.grad(ours_value.sum(), s)
    (g_theirs,) = torch.autograd.grad(theirs_value.sum(), s)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("targets", "scores", "expected"), [
    ([3, 0, -1, 1], [0.1, 0.2, 0.4, 0.8], 0.85),  # one unbatched sample (C,): a 0-d result
    (0, 0.3, 0.0),  # 0-d: one class, a target, nothing to beat (torch: 0)
    (-1, 0.3, 0.0),  # 0-d: no target (torch: 0)
])
def test_multilabel_margin_unbatched_as_torch(backend, targets, scores, expected):
    """torch's unbatched forms: a (C,) sample and a 0-d score give a 0-d loss (torch's values)."""
    s = backend.asarray(np.array(scores, np.float32))
    out = ul.multilabel_margin(backend.asarray(np.array(targets)), s)
    assert tuple(out.shape) == ()
    assert_close(out, np.array(expected, np.float32), rtol=1e-6, atol=1e-7, like=s)
    assert_close(ul.MultilabelMargin(reduction="sum")(backend.asarray(np.array(targets)), s),
                 np.array(expected, np.float32), rtol=1e-6, atol=1e-7, like=s)


@selected("torch")
def test_multilabel_margin_unbatched_vs_torch(rng):
    """Values and gradients of the (C,) and 0-d forms against torch's own kernel."""
    torch = pytest.importorskip("torch")
    for y, s in ((torch.tensor([2, 0, -1, 3, 1]), torch.tensor(rng.standard_normal(5), requires_grad=True)),
                 (torch.tensor(0), torch.tensor(0.7, dtype=torch.float64, requires_grad=True))):
        ours, theirs = ul.multilabel_margin(y, s), torch.nn.functional.multilabel_margin_loss(s, y, reduction="none")
        torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(torch.autograd.grad(ours, s)[0], torch.autograd.grad(theirs, s)[0])


@pytest.mark.parametrize("label", [4, -2, 7])
@pytest.mark.parametrize("where", [0, 3])  # in the list, or after its end: torch checks every entry
def test_multilabel_margin_out_of_range_label(backend, label, where):
    y = np.array([[3, 0, -1, 1], [1, -1, 0, 0]])
    y[1, where] = label
    yb, sb = backend.asarray(y), backend.asarray(np.repeat(SCORES, 2, axis=0))
    if backend.name in RAISES:
        with pytest.raises(ValueError, match=r"^y_true: expected class indices in \[0, 3\], or -1 to end"):
            ul.multilabel_margin(yb, sb)
        return
    out = to_numpy(ul.multilabel_margin(yb, sb))
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.85, rel=1e-6)
    assert np.isnan(to_numpy(ul.multilabel_margin(yb, sb, reduction="sum")))


@selected("jax")
def test_multilabel_margin_out_of_range_under_jit_gives_nan():
    jax = pytest.importorskip("jax")
    out = jax.jit(ul.multilabel_margin)(np.array([[3, 0, -1, 1], [4, -1, 0, 0]]), np.repeat(SCORES, 2, axis=0))
    assert np.isnan(np.asarray(out)[1]) and np.asarray(out)[0] == pytest.approx(0.85, rel=1e-6)


def test_multilabel_margin_bad_targets(backend):
    s = backend.asarray(np.repeat(SCORES, 2, axis=0))
    with pytest.raises(TypeError, match=r"^y_true: expected integer class indices \(-1 ends a sample's list\), got dtype"):
        ul.multilabel_margin(backend.asarray(np.array([[3.0, 0, -1, 1], [1, -1, 0, 0]], np.float32)), s)
    with pytest.raises(TypeError, match=r"^y_true: expected integer class indices"):
        ul.multilabel_margin(backend.asarray(np.ones((2, 4), bool)), s)
    with pytest.raises(ValueError, match=r"^y_true: expected integer class indices of y_pred's shape \(2, 4\).*got \(2,\)"):
        ul.multilabel_margin(backend.asarray(np.array([3, 1])), s)
    with pytest.raises(ValueError, match=r"^y_pred: expected at least one class"):
        ul.multilabel_margin(backend.asarray(np.zeros((2, 0), np.int64)), backend.asarray(np.zeros((2, 0), np.float32)))


# ------------------------------------------------------------- configuration
CLASSES = [
    (ul.CategoricalHinge, {"axis": 1}),
    (ul.MulticlassHinge, {"margin": 0.5, "squared": True}),
    (ul.CrammerSingerHinge, {"margin": 2.0, "axis": 0}),
    (ul.MulticlassPerceptron, {"axis": 1}),
    (ul.MultilabelMargin, {"axis": 0}),
]


@pytest.mark.parametrize(("cls", "options"), CLASSES, ids=[c[0].__name__ for c in CLASSES])
def test_config_round_trip(cls, options, config_round_trip):
    config_round_trip(cls, options)


@pytest.mark.parametrize(
    ("fn_name", "cls_name"),
    [
        ("categorical_hinge", "CategoricalHinge"), ("multiclass_hinge", "MulticlassHinge"),
        ("crammer_singer_hinge", "CrammerSingerHinge"), ("multiclass_perceptron", "MulticlassPerceptron"),
        ("multilabel_margin", "MultilabelMargin"),
    ],
)
def test_registry(fn_name, cls_name, registered):
    registered("multiclass_margin", fn_name, cls_name)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("fn", "option", "value", "exc"),
    [
        (ul.multiclass_hinge, "margin", float("nan"), ValueError),
        (ul.multiclass_hinge, "squared", "yes", TypeError),
        (ul.crammer_singer_hinge, "margin", float("inf"), ValueError),
        (ul.crammer_singer_hinge, "margin", "1", TypeError),
        (ul.crammer_singer_hinge, "axis", 1.0, TypeError),
        (ul.multiclass_perceptron, "axis", None, TypeError),
        (ul.multilabel_margin, "axis", "classes", TypeError),
    ],
)
def test_bad_options_name_the_parameter(fn, option, value, exc):
    y = np.array([[0, 1, -1], [1, -1, 0]]) if fn is ul.multilabel_margin else np.array([0, 1])
    with pytest.raises(exc, match=f"^{option}: "):
        fn(y, np.ones((2, 3)), **{option: value})


def test_bad_options_in_the_constructor():
    with pytest.raises(TypeError, match="^squared: "):
        ul.MulticlassHinge(squared=1)
    with pytest.raises(ValueError, match="^margin: "):
        ul.CrammerSingerHinge(margin=float("nan"))
