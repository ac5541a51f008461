"""Metric-learning losses (pytorch-metric-learning's model): what the conformance cases cannot say.

unilosses/conformance/metric.py compares one or two option sets per loss with pml, live, on
every backend (run by test_conformance.py and ``check``). Here: hand-checked values, every
reducer and reference sets (``ref_emb``, ``ref_labels``) against pml, gradients against
pml's torch autograd on each autodiff backend, batches without a positive or a negative
pair, and bad input.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import unilosses as ul
from unilosses.testing import assert_close, available_backends

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pytorch_metric_learning") is None, reason="pytorch-metric-learning is not installed"
)

B, M, D = 8, 6, 3
MEAN = "mean_with_sample_weight"
LABELS = np.array([0, 0, 1, 1, 1, 2, 3, 3])
REF_LABELS = np.array([0, 1, 1, 2, 5, 3])
EMB3 = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], np.float32)


def _data(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, D)).astype(np.float32), rng.standard_normal((M, D)).astype(np.float32)


def _pml(name: str, distance: str | None = None, reducer: str | None = None, **kw):
    """A pml loss object: ``name`` in pml.losses, with a distance and a reducer class by name."""
    from pytorch_metric_learning import distances, losses, reducers

    if distance is not None:
        kw["distance"] = getattr(distances, distance)()
    if reducer is not None:
        kw["reducer"] = getattr(reducers, reducer)()
    return getattr(losses, name)(**kw)


def _pml_value(loss, e, y, ref=None, miner=None, grad=False):
    """pml's value (float64 torch CPU) and, with ``grad``, its gradients w.r.t. the embeddings
    (and the reference embeddings)."""
    import torch

    x = torch.tensor(np.asarray(e, np.float64), requires_grad=True)
    kw = {}
    if ref is not None:
        r = torch.tensor(np.asarray(ref[1], np.float64), requires_grad=True)
        kw = {"ref_emb": r, "ref_labels": torch.tensor(ref[0])}
    yt = torch.tensor(y)
    args = (x, yt) if miner is None else (x, yt, miner(x, yt, **kw))
    out = loss(*args, **kw)
    if not grad:
        return out.item()
    inputs = [x] + ([kw["ref_emb"]] if ref is not None else [])
    return out.item(), [g.numpy() for g in torch.autograd.grad(out, inputs)]


# (unilosses loss, its options, pml loss name, pml options): every reducer, every distance
CONFIGS = [
    ("contrastive_margin", {}, "ContrastiveLoss", {}),
    ("contrastive_margin", {"reducer": "mean", "pos_margin": 0.1}, "ContrastiveLoss", {"reducer": "MeanReducer", "pos_margin": 0.1}),
    ("contrastive_margin", {"reducer": "per_anchor", "distance": "dot", "neg_margin": 0.3}, "ContrastiveLoss",
     {"reducer": "PerAnchorReducer", "distance": "DotProductSimilarity", "neg_margin": 0.3}),
    ("batch_triplet", {"margin": 0.2}, "TripletMarginLoss", {"margin": 0.2}),
    ("batch_triplet", {"margin": 0.2, "reducer": "mean", "distance": "cosine"}, "TripletMarginLoss",
     {"margin": 0.2, "reducer": "MeanReducer", "distance": "CosineSimilarity"}),
    ("multi_similarity", {}, "MultiSimilarityLoss", {}),
    ("multi_similarity", {"reducer": "avg_nonzero"}, "MultiSimilarityLoss", {"reducer": "AvgNonZeroReducer"}),
    ("supcon", {"temperature": 0.3}, "SupConLoss", {"temperature": 0.3}),
    ("supcon", {"temperature": 0.3, "reducer": "mean"}, "SupConLoss", {"temperature": 0.3, "reducer": "MeanReducer"}),
    ("beta_margin", {}, "MarginLoss", {}),
    ("beta_margin", {"reducer": "mean"}, "MarginLoss", {"reducer": "MeanReducer"}),
]
IDS = [f"{c[0]}-{'-'.join(f'{k}={v}' for k, v in c[1].items())}" for c in CONFIGS]


def test_hand_checked(backend):
    """Unit embeddings e0, e1 (label 0), e2 (label 1): d01 = 0.894, d02 = 1.414, d12 = 0.632."""
    e = backend.asarray(EMB3)
    y = backend.asarray(np.array([0, 0, 1]))
    d01, d12 = np.sqrt(0.8), np.sqrt(0.4)
    # contrastive: positive pairs d01 twice; negative terms max(0, 1 - d): 0 (d02) and 1 - d12 (twice)
    assert_close(ul.contrastive_margin(y, e, reduction=MEAN), np.float32(d01 + 1 - d12), rtol=1e-6, like=e)
    # triplets (0, 1, 2): d01 - d02 + 0.5 < 0; (1, 0, 2): d01 - d12 + 0.5; only the second counts
    assert_close(ul.batch_triplet(y, e, margin=0.5, reduction=MEAN), np.float32(d01 - d12 + 0.5), rtol=1e-6, like=e)
    # per anchor: anchor 0 has one triplet at 0, anchor 1 one at d01 - d12 + 0.5, anchor 2 none
    out = ul.batch_triplet(y, e, margin=0.5, reducer="per_anchor")
    assert_close(out, np.array([0.0, d01 - d12 + 0.5, 0.0], np.float32), rtol=1e-6, atol=1e-7, like=e)


@pytest.mark.parametrize(("name", "options", "pml_name", "pml_options"), CONFIGS, ids=IDS)
@pytest.mark.parametrize("reference", [False, True], ids=["batch", "ref"])
def test_reducers_and_reference_sets_vs_pml(backend, name, options, pml_name, pml_options, reference):
    e, r = _data()
    ref = (REF_LABELS, r) if reference else None
    if reference and pml_options.get("reducer") == "PerAnchorReducer":
        pytest.skip("pml's PerAnchorReducer assumes the reference set is the batch (a B x B matrix)")
    expected = _pml_value(_pml(pml_name, **pml_options), e, LABELS, ref)
    extra = (backend.asarray(REF_LABELS), backend.asarray(r)) if reference else ()
    out = getattr(ul, name)(backend.asarray(LABELS), backend.asarray(e), *extra, **options, reduction=MEAN)
    assert_close(out, np.float32(expected), rtol=2e-5, atol=1e-6, like=out)


def test_batch_hard_vs_pml_miner(backend):
    """mining="hard" is pml's BatchHardMiner feeding TripletMarginLoss (the same distance), against
    the batch and against a reference set."""
    from pytorch_metric_learning import miners

    e, r = _data(5)
    for ref in (None, (REF_LABELS, r)):
        expected = _pml_value(_pml("TripletMarginLoss", margin=0.3), e, LABELS, ref, miner=miners.BatchHardMiner())
        extra = () if ref is None else (backend.asarray(ref[0]), backend.asarray(ref[1]))
        out = ul.batch_triplet(backend.asarray(LABELS), backend.asarray(e), *extra, margin=0.3, mining="hard", reduction=MEAN)
        assert_close(out, np.float32(expected), rtol=2e-5, like=out)


def _grads(framework, name, options, e, ref):
    from unilosses.check.gradients import autodiff
    from unilosses.conformance import Case

    arrays = (LABELS, e) if ref is None else (LABELS, e, ref[0], ref[1])
    case = Case("grad", name, lambda rng: arrays, options)
    positions = [1] if ref is None else [1, 3]
    return autodiff(framework, case, arrays, positions, (MEAN,), np.ones(B), dtype="float64")


@pytest.mark.multi
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_gradients_vs_pml_autograd(framework):
    """Gradients of pml's reduced loss (torch autograd, float64) w.r.t. the embeddings and the
    reference embeddings, on each autodiff backend."""
    if framework not in available_backends():
        pytest.skip(f"{framework} is not installed or not selected")
    e, r = _data(9)
    for (name, options, pml_name, pml_options), ref in zip(CONFIGS[::2], [None, (REF_LABELS, r)] * 3):
        if ref is not None and pml_options.get("reducer") == "PerAnchorReducer":
            ref = None
        _, expected = _pml_value(_pml(pml_name, **pml_options), e.astype(np.float64), LABELS, ref, grad=True)
        got = _grads(framework, name, options, e.astype(np.float64), ref)
        for g, want in zip(got, expected):
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7, err_msg=f"{name} {options}")


@pytest.mark.parametrize(("name", "options", "pml_name", "pml_options"), CONFIGS[::2], ids=IDS[::2])
def test_no_positive_pair_and_one_label_vs_pml(backend, name, options, pml_name, pml_options):
    """Every sample alone in its class (no positive pair), or all in one (no negative): pml's value
    (0, or the negative part alone for multi-similarity), and finite gradients."""
    e, _ = _data(4)
    for y in (np.arange(B), np.zeros(B, np.int64)):
        expected = _pml_value(_pml(pml_name, **pml_options), e, y)
        out = getattr(ul, name)(backend.asarray(y), backend.asarray(e), **options, reduction=MEAN)
        assert_close(out, np.float32(expected), rtol=2e-5, atol=1e-7, like=out)
    if backend.name in ("torch", "jax", "tensorflow"):
        for y in (np.arange(B), np.zeros(B, np.int64)):
            from unilosses.check.gradients import autodiff
            from unilosses.conformance import Case

            case = Case("edge", name, lambda rng, y=y: (y, e), options)
            (g,) = autodiff(backend.name, case, (y, e), [1], (MEAN, "sum"), np.ones(B))
            assert np.all(np.isfinite(g))


def test_two_samples_one_pair_each_is_zero(backend):
    """pml's pair losses give 0 when the batch holds at most one positive and one negative pair."""
    e = backend.asarray(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    ref_y, ref_e = backend.asarray(np.array([0, 1])), backend.asarray(np.array([[0.5, 0.5], [1.0, 1.0]], np.float32))
    y = backend.asarray(np.array([0, 2]))
    for fn in (ul.contrastive_margin, ul.multi_similarity, ul.supcon):
        # anchor 0: one positive pair (ref 0), one negative (ref 1); anchor 1: two negatives
        out = fn(y, e, ref_y, ref_e, reduction=MEAN)
        expected = _pml_value(_pml({"contrastive_margin": "ContrastiveLoss", "multi_similarity": "MultiSimilarityLoss",
                                    "supcon": "SupConLoss"}[fn.__name__]), np.array([[1.0, 0.0], [0.0, 1.0]]),
                              np.array([0, 2]), (np.array([0, 1]), np.array([[0.5, 0.5], [1.0, 1.0]])))
        assert_close(out, np.float32(expected), rtol=1e-5, atol=1e-7, like=out)


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"ref_emb": np.ones((3, 2))}, ValueError, r"^ref_emb, ref_labels: expected both"),
        ({"ref_labels": np.zeros(3, np.int64)}, ValueError, r"^ref_emb, ref_labels: expected both"),
        ({"ref_emb": np.ones((3, 4)), "ref_labels": np.zeros(3, np.int64)}, ValueError, r"^ref_emb: expected embeddings of shape \(M, 2\)"),
        ({"ref_emb": np.ones((3, 2)), "ref_labels": np.zeros(4, np.int64)}, ValueError, r"^ref_labels: expected one label per embedding"),
        ({"distance": "euclid"}, ValueError, r"^distance: expected one of 'lp', 'cosine', 'dot'"),
        ({"distance": "cosine", "normalize": False}, ValueError, r"^normalize: "),
        ({"reducer": "sum"}, ValueError, r"^reducer: expected one of"),
        ({"mining": "hard", "swap": True}, ValueError, r"^swap: "),
        ({"p": 0.0}, ValueError, r"^p: "),
    ],
)
def test_bad_input_names_the_parameter(backend, kw, exc, match):
    kw = {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    with pytest.raises(exc, match=match):
        ul.batch_triplet(backend.asarray(np.array([0, 0, 1, 1])), backend.asarray(np.ones((4, 2), np.float32)), **kw)


def test_inputs_are_not_modified(backend):
    e, r = _data()
    args = [backend.asarray(a) for a in (LABELS, e, REF_LABELS, r)]
    for name in ("contrastive_margin", "batch_triplet", "multi_similarity", "supcon", "beta_margin"):
        getattr(ul, name)(*args, reduction=MEAN)
    for a, want in zip(args, (LABELS, e, REF_LABELS, r)):
        np.testing.assert_array_equal(np.asarray(ul.testing.to_numpy(a)), want)


CLASSES = [
    (ul.ContrastiveMargin, {"pos_margin": 0.1, "neg_margin": 0.8, "reducer": "per_anchor"}),
    (ul.BatchTriplet, {"margin": 0.2, "mining": "hard", "distance": "cosine"}),
    (ul.MultiSimilarity, {"alpha": 1.0, "beta": 20.0, "base": 0.3}),
    (ul.SupCon, {"temperature": 0.2, "distance": "lp", "p": 1.0}),
    (ul.BetaMargin, {"beta": 0.9, "power": 2.0, "normalize": False}),
]


@pytest.mark.parametrize(("cls", "options"), CLASSES, ids=[c[0].__name__ for c in CLASSES])
def test_config_round_trip(cls, options, config_round_trip):
    config_round_trip(cls, options)


def test_registry(registered):
    for fn, cls in [("contrastive_margin", "ContrastiveMargin"), ("batch_triplet", "BatchTriplet"),
                    ("multi_similarity", "MultiSimilarity"), ("supcon", "SupCon"), ("beta_margin", "BetaMargin")]:
        registered("metric", fn, cls)


# ---------------------------------------------------- beta_margin's learnt beta (pml's learn_beta=True)
NU = 0.3


def _beta(seed: int = 11) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).uniform(0.6, 1.4))


def _pml_margin(beta: np.ndarray, reducer: str, **kw):
    """pml's MarginLoss with learn_beta=True and nu, its beta parameter set to ``beta`` in float64
    (pml casts beta to the embeddings' dtype)."""
    import torch

    if beta.ndim == 1:  # one beta per class
        kw["num_classes"] = beta.shape[0]
    loss = _pml("MarginLoss", reducer=None if reducer == "divisor" else "MeanReducer", nu=NU, learn_beta=True, **kw)
    loss.beta = torch.nn.Parameter(torch.tensor(beta.reshape(-1)))
    return loss


@pytest.mark.parametrize("reducer", ["divisor", "mean"])
@pytest.mark.parametrize("reference", [False, True], ids=["batch", "ref"])
def test_learnt_beta_vs_pml(backend, reducer, reference):
    """A 0-d array beta with nu: pml's MarginLoss(learn_beta=True, nu=...) total, its regulariser
    included; with nu=0, the fixed-beta loss at the same value."""
    e, r = _data(6)
    b = _beta()
    ref = (REF_LABELS, r) if reference else None
    expected = _pml_value(_pml_margin(b, reducer), e.astype(np.float64), LABELS, ref)
    extra = (backend.asarray(REF_LABELS), backend.asarray(r)) if reference else ()
    beta = backend.asarray(b.astype(np.float32))
    y, x = backend.asarray(LABELS), backend.asarray(e)
    out = ul.beta_margin(y, x, *extra, beta=beta, nu=NU, reducer=reducer, reduction=MEAN)
    assert_close(out, np.float32(expected), rtol=2e-5, atol=1e-6, like=out)
    fixed = ul.beta_margin(y, x, *extra, beta=float(b.astype(np.float32)), reducer=reducer, reduction=MEAN)
    out0 = ul.beta_margin(y, x, *extra, beta=beta, reducer=reducer, reduction=MEAN)
    assert_close(out0, ul.testing.to_numpy(fixed), rtol=1e-6, atol=1e-7, like=out0)


@pytest.mark.parametrize("reducer", ["divisor", "mean"])
def test_learnt_beta_without_hinge_or_triplet_vs_pml(backend, reducer):
    """Every hinge at 0 (a margin of -5): pml still adds nu * beta (already reduced, even over a
    zero divisor); a batch without a triplet (one label): 0."""
    e, _ = _data(7)
    b = _beta(12)
    for y, margin in ((LABELS, -5.0), (np.zeros(B, np.int64), 0.2)):
        expected = _pml_value(_pml_margin(b, reducer, margin=margin), e.astype(np.float64), y)
        out = ul.beta_margin(backend.asarray(y), backend.asarray(e), beta=backend.asarray(b.astype(np.float32)),
                             nu=NU, margin=margin, reducer=reducer, reduction=MEAN)
        assert_close(out, np.float32(expected), rtol=2e-5, atol=1e-7, like=out)
    assert abs(_pml_value(_pml_margin(b, reducer, margin=-5.0), e.astype(np.float64), LABELS) - NU * b) < 1e-6


def _learnt_beta_grads(framework: str, e: np.ndarray, b: np.ndarray, reducer: str, ref: tuple | None, jit: bool):
    """(value, d/d emb, d/d beta) of beta_margin with an array beta (0-d or per class), by ``framework``'s autodiff
    (float64; JAX's default float32), compiled (torch.compile, jax.jit, tf.function) with ``jit``."""
    y = LABELS
    extra_np = () if ref is None else ref
    kw = {"nu": NU, "reducer": reducer, "reduction": MEAN}
    if framework == "torch":
        import torch

        x, bt = torch.tensor(e, requires_grad=True), torch.tensor(b, requires_grad=True)
        extra = tuple(torch.tensor(a) for a in extra_np)

        def f(yy, xx, bb, *rest):
            return ul.beta_margin(yy, xx, *rest, beta=bb, **kw)

        if jit:  # one graph, forward and backward (aot_eager: the inductor is slow on small machines)
            torch._dynamo.reset()
            f = torch.compile(f, fullgraph=True, backend="aot_eager")
        try:
            out = f(torch.tensor(y), x, bt, *extra)
        finally:
            if jit:
                torch._dynamo.reset()
        gx, gb = torch.autograd.grad(out, [x, bt])
        return out.item(), gx.numpy(), gb.numpy()
    if framework == "jax":
        import jax
        import jax.numpy as jnp

        extra = tuple(jnp.asarray(a) for a in extra_np)

        def total(x, bb):
            return ul.beta_margin(jnp.asarray(y), x, *extra, beta=bb, **kw)

        f = jax.value_and_grad(total, argnums=(0, 1))
        out, (gx, gb) = (jax.jit(f) if jit else f)(jnp.asarray(e, jnp.float32), jnp.asarray(b, jnp.float32))
        return float(out), np.asarray(gx), np.asarray(gb)
    import tensorflow as tf

    x, bt = tf.Variable(e), tf.Variable(b)
    extra = tuple(tf.constant(a) for a in extra_np)

    def step():
        with tf.GradientTape() as tape:
            out = ul.beta_margin(tf.constant(y), x, *extra, beta=tf.convert_to_tensor(bt), **kw)
        return out, tape.gradient(out, [x, bt])

    out, (gx, gb) = (tf.function(step) if jit else step)()
    # a per-class beta is gathered: its gradient is tf.IndexedSlices (as for any tf.gather), dense here
    return float(out), gx.numpy(), tf.convert_to_tensor(gb).numpy()


@pytest.mark.multi
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile imports torch.jit's deprecated names
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
def test_learnt_beta_gradients_vs_pml_autograd(framework, jit):
    """Gradients w.r.t. the embeddings and beta against pml's torch autograd of the learnt-beta
    MarginLoss, eager and compiled (torch.compile, jax.jit, tf.function)."""
    for msg, gb, want_gb, tol in _beta_gradients_vs_pml(framework, jit, seed=8, beta=_beta(13)):
        np.testing.assert_allclose(np.reshape(gb, want_gb.shape), want_gb, err_msg=msg, **tol)
        assert np.all(gb != 0), msg


def _beta_gradients_vs_pml(
    framework: str, jit: bool, seed: int, beta: np.ndarray
) -> Iterator[tuple[str, Any, Any, dict[str, float]]]:
    """For each reducer and reference set: the value and the embeddings' gradient checked against
    pml's torch autograd of MarginLoss(learn_beta=True); yields ``(message, beta's gradient, pml's,
    tolerances)`` for the caller's checks of beta's gradient."""
    if framework not in available_backends():
        pytest.skip(f"{framework} is not installed or not selected")
    import torch

    e, r = _data(seed)
    e = e.astype(np.float64)
    tol = {"rtol": 1e-4, "atol": 1e-6} if framework == "jax" else {"rtol": 1e-6, "atol": 1e-9}
    for reducer, ref in (("divisor", None), ("divisor", (REF_LABELS, r.astype(np.float64))), ("mean", None)):
        loss = _pml_margin(beta, reducer)
        x = torch.tensor(e, requires_grad=True)
        kw = {} if ref is None else {"ref_emb": torch.tensor(ref[1]), "ref_labels": torch.tensor(ref[0])}
        want = loss(x, torch.tensor(LABELS), **kw)
        want_gx, want_gb = (g.numpy() for g in torch.autograd.grad(want, [x, loss.beta]))
        value, gx, gb = _learnt_beta_grads(framework, e, beta, reducer, ref, jit)
        msg = f"{framework} jit={jit} {reducer} ref={ref is not None}"
        np.testing.assert_allclose(value, want.item(), err_msg=msg, **tol)
        np.testing.assert_allclose(gx, want_gx, err_msg=msg, **tol)
        yield msg, gb, want_gb, tol


def test_learnt_beta_bad_input(backend):
    """beta: a number, a 0-d array or one value per class, finite; nu a number."""
    e = backend.asarray(np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32))
    y = backend.asarray(np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"^beta: expected a number, a 0-d array or a 1-d array \(one value per class\), "
                                         r"got an array of shape \(3, 1\)"):
        ul.beta_margin(y, e, beta=backend.asarray(np.ones((3, 1), np.float32)))
    with pytest.raises(ValueError, match=r"^beta: "):
        ul.beta_margin(y, e, beta=float("nan"))
    with pytest.raises(ValueError, match=r"^nu: "):
        ul.beta_margin(y, e, nu=float("nan"))


# ------------------------------------------- beta_margin's per-class beta (pml's num_classes=C)
C = 4  # LABELS' classes: 0..3 (REF_LABELS' 5 is a reference label, never an anchor's)
CLASSES_WITH_TRIPLETS = [0, 1, 3]  # class 2 has one sample: no positive, no triplet in the batch


def _class_beta(seed: int = 21) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.6, 1.4, C)


@pytest.mark.parametrize("reducer", ["divisor", "mean"])
@pytest.mark.parametrize("reference", [False, True], ids=["batch", "ref"])
def test_per_class_beta_vs_pml(backend, reducer, reference):
    """A (C,) beta with nu: pml's MarginLoss(learn_beta=True, num_classes=C, nu=...) total (its
    regulariser nu * beta[y_a] per triplet, by the same divisor); with equal values, the fixed-beta
    loss at that value (and no regulariser without nu)."""
    e, r = _data(9)
    b = _class_beta()
    ref = (REF_LABELS, r) if reference else None
    expected = _pml_value(_pml_margin(b, reducer), e.astype(np.float64), LABELS, ref)
    extra = (backend.asarray(REF_LABELS), backend.asarray(r)) if reference else ()
    y, x = backend.asarray(LABELS), backend.asarray(e)
    out = ul.beta_margin(y, x, *extra, beta=backend.asarray(b.astype(np.float32)), nu=NU, reducer=reducer, reduction=MEAN)
    assert_close(out, np.float32(expected), rtol=2e-5, atol=1e-6, like=out)
    same = backend.asarray(np.full(C, 0.9, np.float32))
    fixed = ul.beta_margin(y, x, *extra, beta=0.9, reducer=reducer, reduction=MEAN)
    assert_close(ul.beta_margin(y, x, *extra, beta=same, reducer=reducer, reduction=MEAN), ul.testing.to_numpy(fixed),
                 rtol=1e-6, atol=1e-7, like=out)


@pytest.mark.multi
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile imports torch.jit's deprecated names
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
def test_per_class_beta_gradients_vs_pml_autograd(framework, jit):
    """Gradients w.r.t. the embeddings and the (C,) beta against pml's torch autograd of
    MarginLoss(learn_beta=True, num_classes=C), eager and compiled (torch.compile, jax.jit,
    tf.function); every class with a triplet gets a gradient, the others 0."""
    for msg, gb, want_gb, tol in _beta_gradients_vs_pml(framework, jit, seed=10, beta=_class_beta(22)):
        assert gb.shape == (C,), msg
        np.testing.assert_allclose(gb, want_gb, err_msg=msg, **tol)
        assert np.all(gb[CLASSES_WITH_TRIPLETS] != 0), msg
        assert "ref=True" in msg or gb[2] == 0, msg  # in the batch, class 2 has no triplet


def test_per_class_beta_needs_labels_in_range(backend):
    """A label with no beta (outside [0, C-1]): a ValueError where values are concrete, NaN
    elsewhere (pml raises an IndexError)."""
    e = backend.asarray(_data(11)[0])
    beta = backend.asarray(_class_beta().astype(np.float32))
    for bad in (C, -1):
        y = backend.asarray(np.where(LABELS == 3, bad, LABELS))
        call = lambda y=y: ul.beta_margin(y, e, beta=beta, reduction=MEAN)  # noqa: E731
        if backend.name in ("numpy", "torch", "tensorflow"):
            with pytest.raises(ValueError, match=rf"^y_true: a per-class beta of {C} values needs labels in \[0, {C - 1}\]"):
                call()
        else:
            assert np.isnan(ul.testing.to_numpy(call()))


def test_per_class_beta_out_of_range_value(backend):
    """A NaN in a (C,) beta: a ValueError naming beta where values are concrete, NaN elsewhere."""
    e = backend.asarray(_data(11)[0])
    b = _class_beta().astype(np.float32)
    b[1] = np.nan
    call = lambda: ul.beta_margin(backend.asarray(LABELS), e, beta=backend.asarray(b), reduction=MEAN)  # noqa: E731
    if backend.name in ("numpy", "torch", "tensorflow"):
        with pytest.raises(ValueError, match=r"^beta: expected a number, got nan"):
            call()
    else:
        assert np.isnan(ul.testing.to_numpy(call()))
