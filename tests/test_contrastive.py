"""Contrastive losses (NT-Xent, Circle): hand-checked values, anchors without a positive (they
leave every count), what each framework's reduction is here (optax's pair mean, Keras' masked
mean), values and gradients against optax and Keras, shapes and options.

Values against optax and Keras are in unilosses/conformance/contrastive.py (run by
test_conformance.py on every backend).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.conformance.contrastive import _groups, _unit_ish
from unilosses.testing import assert_close, available_backends, to_numpy

B, D = 10, 4
EMB = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]], np.float32)


def _embeddings(rng):
    return (rng.standard_normal((B, D)) * 1.5).astype(np.float32)


# ----------------------------------------------------------------- NT-Xent
def test_ntxent_hand_checked(backend):
    """Anchor 0: positive 1 (cos 0.995), negatives 2 and 3 (cos 0 and 0.0995):
    -log(e^0.995 / (e^0.995 + e^0 + e^0.0995)); anchor 1 against cos 0.0995 and 0.198."""
    e = backend.asarray(EMB)
    c = 1 / np.sqrt(1.01)  # cos(e0, e1)
    c13 = 2 * 0.1 / 1.01  # cos(e1, e3)
    a0 = np.log1p((1 + np.exp(0.1 * c)) / np.exp(c))
    a1 = np.log1p((np.exp(0.1 * c) + np.exp(c13)) / np.exp(c))
    out = ul.ntxent(backend.asarray(np.array([0, 0, 1, 1])), e, temperature=1.0)
    assert_close(out, np.array([a0, a1, a0, a1], np.float32), rtol=1e-5, like=e)
    # the temperature divides the similarities; the norm of an embedding does not count
    hot = ul.ntxent(backend.asarray(np.array([0, 0, 1, 1])), backend.asarray(EMB * 7.0), temperature=0.5)
    a0 = np.log1p((1 + np.exp(0.2 * c)) / np.exp(2 * c))
    assert_close(to_numpy(hot)[0], np.float32(a0), rtol=1e-5)


def test_ntxent_anchors_without_a_positive_leave_every_count(backend, rng):
    y = np.array([0, 0, 1, 2, 2, 2, 3, 4, 4, 5])  # 1, 3, 5: no positive
    e = backend.asarray(_embeddings(rng))
    out = to_numpy(ul.ntxent(backend.asarray(y), e))
    assert np.all(out[[2, 6, 9]] == 0) and np.all(out[[0, 1, 3, 4, 5, 7, 8]] > 0)
    stats = ul.ntxent(backend.asarray(y), e, reduction="stats")
    assert to_numpy(stats.count) == 7  # anchors with a positive
    assert to_numpy(stats.weight_sum) == 2 * 1 + 3 * 2 + 2 * 1  # each anchor weighs its number of positives
    lonely = ul.ntxent(backend.asarray(np.arange(B)), e, reduction="mean_with_sample_weight")
    assert to_numpy(lonely) == 0


@selected("jax")
@pytest.mark.parametrize("labels", ["groups", "two-views"])
def test_ntxent_value_and_grad_vs_optax(labels):
    """optax.ntxent == reduction="mean_with_sample_weight" (and, with one positive per anchor, every
    mean); jax.grad agrees."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    rng = np.random.default_rng(4)
    y = _groups(rng) if labels == "groups" else np.tile(np.arange(B // 2), 2)
    e = jax.numpy.asarray(_embeddings(rng))
    reductions = ["mean_with_sample_weight"] + (["sum_over_batch_size"] if labels == "two-views" else [])
    theirs = lambda e: optax.ntxent(e, jax.numpy.asarray(y), 0.2)  # noqa: E731
    for red in reductions:
        mine = lambda e, red=red: ul.ntxent(y, e, temperature=0.2, reduction=red)  # noqa: E731
        assert_close(mine(e), np.asarray(theirs(e)), rtol=1e-5)
        assert_close(jax.grad(mine)(e), np.asarray(jax.grad(theirs)(e)), rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ Circle
def test_circle_hand_checked(backend):
    """gamma 1, margin 0.4: anchor 0 has positive 1 (d = 0.2: lp = -0.6 * 0.2) and negatives at
    d = 1 (ln = 0.4 * -0.4) and d = 0.4 (ln = 1 * 0.2): softplus(-0.12 + log(e^-0.16 + e^0.2));
    anchors 2 and 3 have no positive: 0."""
    e = backend.asarray(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, -0.8]], np.float32))
    expected = np.log1p(np.exp(-0.12 + np.log(np.exp(-0.16) + np.exp(0.2))))
    out = ul.circle(backend.asarray(np.array([0, 0, 1, 2])), e, gamma=1.0)
    assert_close(out, np.array([expected, expected, 0.0, 0.0], np.float32), rtol=1e-5, like=e)
    stats = ul.circle(backend.asarray(np.array([[0], [0], [1], [2]])), e, gamma=1.0, reduction="stats")  # (N, 1) labels
    assert to_numpy(stats.count) == 2


@pytest.mark.parametrize("reduction", ["none", "sum", "sum_over_batch_size", "mean_with_sample_weight"])
def test_circle_class_vs_keras_with_weights(backend, reduction):
    """Circle == keras.losses.Circle under Keras' reductions, with sample weights: Keras masks the
    samples whose loss is 0 (no positive), so its mean divides by the others."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    y, e = _unit_ish(rng)
    w = rng.uniform(0.2, 2.0, B).astype(np.float32)
    expected = keras.losses.Circle(gamma=16.0, reduction=reduction, dtype="float64")(y, e.astype(np.float64), sample_weight=w.astype(np.float64))
    eb = backend.asarray(e)
    out = ul.Circle(gamma=16.0, reduction=reduction)(backend.asarray(y), eb, sample_weight=backend.asarray(w))
    assert_close(out, np.asarray(expected, np.float32), rtol=1e-5, atol=1e-6, like=eb)


@selected("tensorflow")
def test_circle_gradient_vs_keras_autodiff():
    """tf.GradientTape of Circle == of keras.losses.circle (float64), with and without the diagonal."""
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    y, e = _unit_ish(np.random.default_rng(6))
    for kw in ({}, {"remove_diagonal": False, "margin": 0.25, "gamma": 4.0}):
        grads = []
        for fn in (ul.circle, keras.losses.circle):
            x = tf.constant(e.astype(np.float64))
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(fn(tf.constant(y), x, **kw))
            grads.append(tape.gradient(total, x).numpy())
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-9)


def _pml_circle(labels, e, gamma, margin):
    """pytorch-metric-learning's CircleLoss per anchor, written out in torch (float64): cosine
    similarities, its detached adaptive weights ``relu(op - s.detach())``, softplus of the two
    logsumexps. Returns (losses, gradient of their sum w.r.t. the embeddings)."""
    import torch

    x = torch.tensor(e, dtype=torch.float64, requires_grad=True)
    s = x @ x.T
    lab = torch.as_tensor(labels)
    same = lab[:, None] == lab[None, :]
    pos, neg = same & ~torch.eye(len(labels), dtype=torch.bool), ~same
    op, on, delta_p, delta_n = 1 + margin, -margin, 1 - margin, margin
    logit_p = -gamma * torch.relu(op - s.detach()) * (s - delta_p)
    logit_n = gamma * torch.relu(s.detach() - on) * (s - delta_n)
    lse_p = torch.logsumexp(logit_p.masked_fill(~pos, float("-inf")), dim=1)
    lse_n = torch.logsumexp(logit_n.masked_fill(~neg, float("-inf")), dim=1)
    losses = torch.nn.functional.softplus(lse_p + lse_n)
    losses.sum().backward()
    return losses.detach().numpy(), x.grad.numpy()


@pytest.mark.multi
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_circle_detach_weights_gives_pml_gradient(framework):
    """detach_weights=True: pml's CircleLoss values and gradients (torch's autograd of its formula),
    on each autodiff backend; without it, the values agree and the gradients differ (Keras')."""
    if framework not in available_backends() or "torch" not in available_backends():
        pytest.skip(f"{framework} and torch are needed (tests-all)")
    from unilosses.check.gradients import autodiff
    from unilosses.conformance import Case

    rng = np.random.default_rng(11)
    e = rng.standard_normal((8, 3))
    e /= np.linalg.norm(e, axis=1, keepdims=True)  # unit embeddings: pml normalises, Circle expects them
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    values, grad = _pml_circle(labels, e, gamma=4.0, margin=0.25)
    for detach in (True, False):
        options = {"gamma": 4.0, "margin": 0.25, "detach_weights": detach}
        assert_close(ul.circle(labels, e, **options), values, rtol=1e-10)
        case = Case("circle-pml", "circle", lambda r: (labels, e), options)
        (g,) = autodiff(framework, case, (labels, e), [1], ("sum",), np.ones(8), dtype="float64")
        if detach:
            np.testing.assert_allclose(g, grad, rtol=1e-5 if framework == "jax" else 1e-10, atol=1e-6)
        else:
            assert not np.allclose(g, grad, rtol=1e-3)


@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize("name", ["ntxent", "circle"])
def test_no_pair_at_all_is_zero_with_finite_gradients(framework, name):
    """Every sample alone in its class (no positive), or all in one (no negative): 0 under every
    reduction, and finite (zero) gradients: masked entries are finfo.min, never -inf."""
    if framework not in available_backends():
        pytest.skip(f"{framework} is not installed or not selected")
    from unilosses.check.gradients import GRAD_REDUCTIONS, autodiff
    from unilosses.conformance import Case

    e = _embeddings(np.random.default_rng(7))
    for y in (np.arange(B), np.zeros(B, np.int64)):
        if name == "ntxent" and not y.any():
            continue  # one class: every anchor has positives and no negative, a finite loss
        case = Case("alone", name, lambda r, y=y: (y, e))
        for red in ("sum", "sum_over_batch_size", "mean_with_sample_weight", "stats"):
            out = getattr(ul, name)(y, e, reduction=red)
            assert np.all(np.asarray(out) == 0), (red, out)
        (g,) = autodiff(framework, case, (y, e), [1], GRAD_REDUCTIONS, np.ones(B))
        np.testing.assert_array_equal(g, np.zeros((B, D)))


def test_ntxent_one_class_has_no_negative(backend, rng):
    """All positives, no negative: -log(e^s / e^s) = 0 for every pair."""
    e = backend.asarray(_embeddings(rng))
    assert_close(ul.ntxent(backend.asarray(np.zeros(B, np.int64)), e), np.zeros(B, np.float32), atol=1e-6, like=e)


# ------------------------------------------------------------- shapes, options
@pytest.mark.parametrize("name", ["ntxent", "circle"])
def test_shapes(backend, name):
    fn = getattr(ul, name)
    e = backend.asarray(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"^y_pred: expected embeddings of shape \(N, D\), got shape \(4, 3, 1\)"):
        fn(backend.asarray(np.zeros(4, np.int64)), backend.asarray(np.ones((4, 3, 1), np.float32)))
    with pytest.raises(ValueError, match=r"^y_pred: expected embeddings of shape \(N, D\), got shape \(4,\)"):
        fn(backend.asarray(np.zeros(4, np.int64)), backend.asarray(np.ones(4, np.float32)))
    with pytest.raises(ValueError, match=r"^y_true: expected one label per embedding, shape \(4,\) for y_pred of shape \(4, 3\), got \(5,\)"):
        fn(backend.asarray(np.zeros(5, np.int64)), e)
    with pytest.raises(ValueError, match=r"^y_true: expected one label per embedding.*got \(4, 2\)"):
        fn(backend.asarray(np.zeros((4, 2), np.int64)), e)


# -------------------------------------------------- pml's distances and reducers
def _pml_grad(loss, labels, e):
    """pml's reduced value and its torch autograd w.r.t. the embeddings (float64)."""
    import torch

    x = torch.tensor(e, dtype=torch.float64, requires_grad=True)
    out = loss(x, torch.as_tensor(labels))
    (g,) = torch.autograd.grad(out, [x])
    return out.item(), g.numpy()


#: (unilosses loss, its options, a pml loss object): pml's distances on NT-Xent and Circle
PML_DISTANCES = [
    ("ntxent", {"temperature": 0.3, "distance": "lp"}, lambda d, lo, r: lo.NTXentLoss(0.3, distance=d.LpDistance())),
    ("ntxent", {"temperature": 0.3, "distance": "lp", "p": 3.0, "power": 0.5, "reducer": "per_anchor"},
     lambda d, lo, r: lo.NTXentLoss(0.3, distance=d.LpDistance(p=3, power=0.5), reducer=r.PerAnchorReducer())),
    ("ntxent", {"temperature": 0.3, "distance": "dot", "normalize": False, "reducer": "avg_nonzero"},
     lambda d, lo, r: lo.NTXentLoss(0.3, distance=d.DotProductSimilarity(normalize_embeddings=False),
                                  reducer=r.AvgNonZeroReducer())),
    ("ntxent", {"temperature": 0.3, "power": 3.0}, lambda d, lo, r: lo.NTXentLoss(0.3, distance=d.CosineSimilarity(power=3))),
    ("circle", {"gamma": 8.0, "margin": 0.3, "distance": "cosine", "detach_weights": True},
     lambda d, lo, r: lo.CircleLoss(m=0.3, gamma=8.0)),
    ("circle", {"gamma": 8.0, "margin": 0.3, "distance": "dot", "p": 3.0, "detach_weights": True},
     lambda d, lo, r: lo.CircleLoss(m=0.3, gamma=8.0, distance=d.CosineSimilarity(p=3))),
]
PML_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for n, o, _ in PML_DISTANCES]


def _pml_loss(make):
    from pytorch_metric_learning import distances, losses, reducers

    return make(distances, losses, reducers)


@pytest.mark.parametrize(("name", "options", "make"), PML_DISTANCES, ids=PML_IDS)
def test_distances_vs_pml(backend, name, options, make):
    """pml's NTXentLoss / CircleLoss with a distance object == the distance options here (pml's
    value is reduction="mean_with_sample_weight" for NT-Xent, "sum_over_batch_size" for Circle);
    raw embeddings (pml normalises them)."""
    pytest.importorskip("pytorch_metric_learning")
    rng = np.random.default_rng(21)
    labels, e = _groups(rng), _embeddings(rng)
    expected, _ = _pml_grad(_pml_loss(make), labels, e.astype(np.float64))
    reduction = "sum_over_batch_size" if name == "circle" else "mean_with_sample_weight"
    out = getattr(ul, name)(backend.asarray(labels), backend.asarray(e), **options, reduction=reduction)
    assert_close(out, np.float32(expected), rtol=2e-5, atol=1e-6, like=out)


@pytest.mark.multi
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_distance_gradients_vs_pml_autograd(framework):
    """Gradients w.r.t. the embeddings of each configuration above == pml's torch autograd (float64)."""
    if framework not in available_backends() or "torch" not in available_backends():
        pytest.skip(f"{framework} and torch are needed (tests-all)")
    pytest.importorskip("pytorch_metric_learning")
    from unilosses.check.gradients import autodiff
    from unilosses.conformance import Case

    rng = np.random.default_rng(22)
    labels, e = _groups(rng), _embeddings(rng).astype(np.float64)
    for name, options, make in PML_DISTANCES:
        _, expected = _pml_grad(_pml_loss(make), labels, e)
        reduction = "sum_over_batch_size" if name == "circle" else "mean_with_sample_weight"
        case = Case("pml", name, lambda r: (labels, e), options)
        (g,) = autodiff(framework, case, (labels, e), [1], (reduction,), np.ones(B), dtype="float64")
        tol = {"rtol": 1e-4, "atol": 1e-6} if framework == "jax" else {"rtol": 1e-6, "atol": 1e-9}  # JAX: float32
        np.testing.assert_allclose(g, expected, **tol, err_msg=f"{name} {options}")


# ---------------------------------------------- NT-Xent against a reference set
#: query labels and reference labels: label 2 has no reference (its anchors have no positive),
#: label 5 no query
REF_Y = np.array([0, 0, 1, 1, 1, 2, 3, 3, 3, 3]), np.array([0, 1, 1, 3, 5, 3])
#: (ntxent options, the pml NTXentLoss options): every reducer, every distance
NTXENT_REF = [
    ({"temperature": 0.3}, lambda d, r: {"temperature": 0.3}),
    ({"temperature": 0.3, "distance": "lp", "p": 1.0, "reducer": "avg_nonzero"},
     lambda d, r: {"temperature": 0.3, "distance": d.LpDistance(p=1), "reducer": r.AvgNonZeroReducer()}),
    # pml's PerAnchorReducer indexes an N x N array: a reference set of M <= N works there
    ({"temperature": 0.5, "distance": "dot", "normalize": False, "power": 2.0, "reducer": "per_anchor"},
     lambda d, r: {"temperature": 0.5, "distance": d.DotProductSimilarity(normalize_embeddings=False, power=2),
                   "reducer": r.PerAnchorReducer()}),
]
NTXENT_REF_IDS = ["-".join(f"{k}={v}" for k, v in o.items()) for o, _ in NTXENT_REF]


def _pml_ntxent_ref(make, labels, e, ref_labels, ref_e):
    """pml's NTXentLoss(**make(...))(e, labels, ref_emb=ref_e, ref_labels=ref_labels): its value and its
    torch autograd w.r.t. the embeddings and the reference embeddings (float64)."""
    import torch
    from pytorch_metric_learning import distances, losses, reducers

    x = torch.tensor(e, dtype=torch.float64, requires_grad=True)
    r = torch.tensor(ref_e, dtype=torch.float64, requires_grad=True)
    out = losses.NTXentLoss(**make(distances, reducers))(x, torch.as_tensor(labels), ref_emb=r, ref_labels=torch.as_tensor(ref_labels))
    if not out.requires_grad:  # pml's zero loss: a constant
        return out.item(), [np.zeros_like(e), np.zeros_like(ref_e)]
    grads = torch.autograd.grad(out, [x, r], allow_unused=True)  # pml's zero loss uses the embeddings only
    return out.item(), [np.zeros(np.shape(a)) if g is None else g.numpy() for g, a in zip(grads, (e, ref_e))]


@pytest.mark.parametrize(("options", "make"), NTXENT_REF, ids=NTXENT_REF_IDS)
def test_ntxent_reference_set_vs_pml(backend, options, make):
    """ntxent(labels, emb, ref_labels, ref_emb) == pml's NTXentLoss(...)(emb, labels, ref_emb=..,
    ref_labels=..): positives and negatives are the query-reference pairs of the same / another label,
    the query not left out (the batch itself given as the reference set keeps each sample's pair with
    itself); positionally and by keyword."""
    pytest.importorskip("pytorch_metric_learning")
    rng = np.random.default_rng(31)
    labels, ref_labels = REF_Y
    e, r = _embeddings(rng), (rng.standard_normal((6, D)) * 1.5).astype(np.float32)
    for ry, re in ((ref_labels, r), (labels, e)):
        expected, _ = _pml_ntxent_ref(make, labels, e.astype(np.float64), ry, re.astype(np.float64))
        y, eb, ryb, reb = (backend.asarray(a) for a in (labels, e, ry, re))
        out = ul.ntxent(y, eb, ryb, reb, **options, reduction="mean_with_sample_weight")
        assert_close(out, np.float32(expected), rtol=2e-5, atol=1e-6, like=out)
        kw = ul.ntxent(y, eb, ref_labels=ryb, ref_emb=reb, **options, reduction="mean_with_sample_weight")
        assert_close(kw, to_numpy(out), rtol=1e-6, like=out)
    # with the batch as its own reference, each sample is one of its positives: another loss
    itself = ul.ntxent(y, eb, **options, reduction="mean_with_sample_weight")
    assert not np.allclose(to_numpy(itself), to_numpy(out), rtol=1e-3)


@pytest.mark.multi
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_ntxent_reference_gradients_vs_pml_autograd(framework):
    """Gradients w.r.t. the embeddings and the reference embeddings == pml's torch autograd (float64),
    for each configuration above."""
    if framework not in available_backends() or "torch" not in available_backends():
        pytest.skip(f"{framework} and torch are needed (tests-all)")
    pytest.importorskip("pytorch_metric_learning")
    from unilosses.check.gradients import autodiff
    from unilosses.conformance import Case

    rng = np.random.default_rng(32)
    labels, ref_labels = REF_Y
    e, r = _embeddings(rng).astype(np.float64), rng.standard_normal((6, D)) * 1.5
    arrays = (labels, e, ref_labels, r)
    for options, make in NTXENT_REF:
        _, expected = _pml_ntxent_ref(make, *arrays)
        case = Case("pml-ref", "ntxent", lambda rng: arrays, options)
        got = autodiff(framework, case, arrays, [1, 3], ("mean_with_sample_weight",), np.ones(B), dtype="float64")
        tol = {"rtol": 1e-4, "atol": 1e-6} if framework == "jax" else {"rtol": 1e-6, "atol": 1e-9}  # JAX: float32
        for g, want in zip(got, expected):
            np.testing.assert_allclose(g, want, **tol, err_msg=str(options))


@pytest.mark.parametrize("framework", ["jax", "tensorflow"])
def test_ntxent_reference_set_compiles(framework):
    """Under jax.jit and tf.function(jit_compile=True): the eager values and gradients w.r.t. the
    embeddings and the reference embeddings (the reference set's path of each configuration above)."""
    if framework not in available_backends():
        pytest.skip(f"{framework} is not installed or not selected")
    rng = np.random.default_rng(33)
    labels, ref_labels = REF_Y
    e, r = _embeddings(rng), (rng.standard_normal((6, D)) * 1.5).astype(np.float32)
    for options, _ in NTXENT_REF:
        def value(e, r, options=options):
            return ul.ntxent(labels, e, ref_labels, r, **options, reduction="mean_with_sample_weight")

        if framework == "jax":
            import jax

            grad = jax.value_and_grad(value, argnums=(0, 1))
            eager, compiled = grad(e, r), jax.jit(grad)(e, r)
        else:
            import tensorflow as tf

            def grad(e, r, value=value):
                with tf.GradientTape() as tape:
                    tape.watch([e, r])
                    out = value(e, r)
                return out, tape.gradient(out, [e, r])

            xs = (tf.constant(e), tf.constant(r))
            eager, compiled = grad(*xs), tf.function(grad, jit_compile=True)(*xs)
        np.testing.assert_allclose(np.asarray(compiled[0]), np.asarray(eager[0]), rtol=1e-5, err_msg=str(options))
        for g, want in zip(compiled[1], eager[1]):
            np.testing.assert_allclose(np.asarray(g), np.asarray(want), rtol=1e-4, atol=1e-6, err_msg=str(options))


def test_ntxent_reference_sizes_unknown_until_run_time():
    """Traced with batch and reference sizes of None (tf.function's input signature), the eager values:
    pml's zero loss for one positive and one negative pair is then decided at run time."""
    if "tensorflow" not in available_backends():
        pytest.skip("tensorflow is not installed or not selected")
    import tensorflow as tf

    rng = np.random.default_rng(34)
    y, e = np.array([0, 0, 1, 1, 2], np.int32), rng.standard_normal((5, D)).astype(np.float32)
    ry, r = np.array([0, 1, 5], np.int32), rng.standard_normal((3, D)).astype(np.float32)
    sig = [tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, D), tf.float32)] * 2
    traced = tf.function(lambda *a: ul.ntxent(*a, reduction="none"), input_signature=sig)
    for n, m in ((5, 3), (1, 2)):  # (1, 2): one positive and one negative pair, 0
        expected = np.asarray(ul.ntxent(y[:n], e[:n], ry[:m], r[:m], reduction="none"))
        assert np.all(expected == 0) == (n == 1)
        np.testing.assert_allclose(traced(y[:n], e[:n], ry[:m], r[:m]).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_ntxent_reference_one_positive_and_one_negative_pair_is_zero(backend):
    """pml's pair losses give 0 when the whole batch holds at most one positive and one negative
    pair (one query, two references); with a second query, the same pairs count."""
    pytest.importorskip("pytorch_metric_learning")
    e = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    ref_y, ref_e = np.array([0, 1]), np.array([[0.5, 0.5], [1.0, -1.0]], np.float32)
    make = NTXENT_REF[0][1]
    for n in (1, 2):
        y = np.array([0, 0])[:n]
        expected, _ = _pml_ntxent_ref(make, y, e[:n].astype(np.float64), ref_y, ref_e.astype(np.float64))
        assert (expected == 0) == (n == 1)
        args = (backend.asarray(a) for a in (y, e[:n], ref_y, ref_e))
        out = ul.ntxent(*args, temperature=0.3, reduction="mean_with_sample_weight")
        assert_close(out, np.float32(expected), rtol=1e-5, atol=1e-7, like=out)


def test_ntxent_reference_anchors_are_independent(backend, rng):
    """Against a reference set, each anchor's value depends on its own row alone: a batch split in
    two gives the same per-anchor values; an empty reference set gives 0 (no pair)."""
    labels, ref_labels = REF_Y
    e, r = _embeddings(rng), (rng.standard_normal((6, D)) * 1.5).astype(np.float32)
    ryb, rb = backend.asarray(ref_labels), backend.asarray(r)
    whole = to_numpy(ul.ntxent(backend.asarray(labels), backend.asarray(e), ryb, rb))
    for part in (slice(0, 3), slice(3, B)):
        out = ul.ntxent(backend.asarray(labels[part]), backend.asarray(e[part]), ryb, rb)
        assert_close(out, whole[part], rtol=1e-6, atol=1e-7, like=out)
    empty = ul.ntxent(backend.asarray(labels), backend.asarray(e), ryb[:0], rb[:0, ...], reduction="mean_with_sample_weight")
    assert_close(empty, np.float32(0.0), atol=0, like=empty)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"ref_emb": np.ones((3, 2), np.float32)}, r"^ref_emb, ref_labels: expected both"),
        ({"ref_labels": np.zeros(3, np.int64)}, r"^ref_emb, ref_labels: expected both"),
        ({"ref_emb": np.ones((3, 4), np.float32), "ref_labels": np.zeros(3, np.int64)},
         r"^ref_emb: expected embeddings of shape \(M, 2\) as y_pred's \(4, 2\), got shape \(3, 4\)"),
        ({"ref_emb": np.ones(3, np.float32), "ref_labels": np.zeros(3, np.int64)},
         r"^ref_emb: expected embeddings of shape \(M, 2\)"),
        ({"ref_emb": np.ones((3, 2), np.float32), "ref_labels": np.zeros(4, np.int64)},
         r"^ref_labels: expected one label per embedding, shape \(3,\) for ref_emb of shape \(3, 2\), got \(4,\)"),
    ],
)
def test_ntxent_bad_reference_set(backend, kw, match):
    kw = {k: backend.asarray(v) for k, v in kw.items()}
    with pytest.raises(ValueError, match=match):
        ul.ntxent(backend.asarray(np.zeros(4, np.int64)), backend.asarray(np.ones((4, 2), np.float32)), **kw)


def test_default_cosine_is_the_cosine_distance_option(backend, rng):
    """ntxent's default (optax's normalisation) == pml's cosine path (power 1 written as cosine
    with p=2 of pml's normalisation, via dot products of the normalised embeddings); circle with
    distance="cosine" on raw embeddings == the default (Keras') on normalised ones."""
    labels, e = _groups(rng), _embeddings(rng)
    unit = e / np.linalg.norm(e, axis=1, keepdims=True)
    y, eb, ub = backend.asarray(labels), backend.asarray(e), backend.asarray(unit)
    ref = to_numpy(ul.ntxent(y, eb, temperature=0.2))
    assert_close(ul.ntxent(y, ub, temperature=0.2, distance="dot", normalize=False), ref, rtol=1e-5, atol=1e-6)
    assert_close(ul.ntxent(y, eb, temperature=0.2, distance="dot"), ref, rtol=1e-5, atol=1e-6)
    ref = to_numpy(ul.circle(y, ub, gamma=4.0))
    assert_close(ul.circle(y, eb, gamma=4.0, distance="cosine"), ref, rtol=1e-5, atol=1e-6)
    assert_close(ul.circle(y, ub, gamma=4.0, distance="dot", normalize=False), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("fn", "options", "exc", "match"),
    [
        (ul.circle, {"distance": "lp"}, ValueError, r"^distance: expected None \(Keras: the embeddings' dot products\), 'cosine' or 'dot'"),
        (ul.circle, {"power": 2.0}, ValueError, r"^p, power: apply to distance='cosine' or 'dot'"),
        (ul.circle, {"distance": "cosine", "normalize": False}, ValueError, r"^normalize: distance='cosine' normalises"),
        (ul.ntxent, {"distance": "euclid"}, ValueError, r"^distance: expected one of 'lp', 'cosine', 'dot'"),
        (ul.ntxent, {"distance": "dot", "power": 0.5}, ValueError, r"^power: expected an integer power for distance='dot'"),
        (ul.ntxent, {"reducer": "sum"}, ValueError, r"^reducer: expected one of 'avg_nonzero', 'mean', 'per_anchor'"),
        (ul.ntxent, {"p": 0.0}, ValueError, r"^p: expected a value in \(0(\.0)?, inf\)"),
        (ul.ntxent, {"normalize": 1}, TypeError, r"^normalize: expected True or False"),
    ],
)
def test_bad_distance_options(fn, options, exc, match):
    with pytest.raises(exc, match=match):
        fn(np.zeros(4, np.int64), np.ones((4, 3), np.float32), **options)
    with pytest.raises(exc, match=match):
        (ul.NTXent if fn is ul.ntxent else ul.Circle)(**options)


@pytest.mark.parametrize(
    ("fn", "option", "value", "exc"),
    [
        (ul.ntxent, "temperature", 0.0, ValueError),
        (ul.ntxent, "temperature", -1.0, ValueError),
        (ul.ntxent, "temperature", float("nan"), ValueError),
        (ul.ntxent, "temperature", "0.1", TypeError),
        (ul.circle, "gamma", -1.0, ValueError),
        (ul.circle, "margin", float("nan"), ValueError),
        (ul.circle, "remove_diagonal", 1, TypeError),
        (ul.circle, "remove_diagonal", "no", TypeError),
    ],
)
def test_bad_options_name_the_parameter(fn, option, value, exc):
    with pytest.raises(exc, match=f"^{option}: "):
        fn(np.zeros(4), np.ones((4, 3)), **{option: value})
    with pytest.raises(exc, match=f"^{option}: "):
        (ul.NTXent if fn is ul.ntxent else ul.Circle)(**{option: value})


CLASSES = [
    (ul.NTXent, {"temperature": 0.5}),
    (ul.NTXent, {"temperature": 0.5, "distance": "lp", "p": 1.0, "power": 2.0, "normalize": False, "reducer": "per_anchor"}),
    (ul.Circle, {"gamma": 32.0, "margin": 0.25, "remove_diagonal": False}),
    (ul.Circle, {"gamma": 32.0, "distance": "dot", "power": 3.0, "normalize": False, "detach_weights": True}),
]


@pytest.mark.parametrize(("cls", "options"), CLASSES, ids=[f"{c[0].__name__}-{len(c[1])}" for c in CLASSES])
def test_config_round_trip(cls, options, config_round_trip):
    config_round_trip(cls, options)


def test_registry(registered):
    registered("contrastive", "ntxent", "NTXent")
    registered("contrastive", "circle", "Circle")
