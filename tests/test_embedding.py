"""Embedding losses: the pair / triplet calling convention, class forms vs torch modules, the
hinge embedding by hand, and triplet_margin_with_distance's distance functions (any callable over
the inputs' framework; hashed into the options' cache key), options.

Values against the live frameworks are in unilosses/conformance/embedding.py and ranking.py (run
by test_conformance.py on every backend).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.conformance.embedding import cosine_distance, l1_distance
from unilosses.testing import ArrayBackend, assert_close, available_backends, to_numpy

B, D = 8, 4


def _weights(rng):
    w = rng.uniform(0.0, 2.0, B).astype(np.float32)
    w[3] = 0.0
    return w


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
    ("TripletMarginWithDistance", "TripletMarginWithDistanceLoss", {"margin": 0.5, "swap": True}, _triplet_inputs),
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



# ----------------------------------------------------------- hinge embedding
def test_hinge_embedding_hand_checked(backend):
    """x where y = 1, max(0, margin - x) where y = -1, both for any other label (torch)."""
    x = backend.asarray(np.array([[0.3, 2.0, 0.4, 0.7]], np.float32))
    y = backend.asarray(np.array([[1.0, -1.0, -1.0, 0.0]], np.float32))
    per_element = np.array([[0.3, 0.0, 0.6, 0.7 + 0.3]], np.float32)
    assert_close(ul.hinge_embedding(y, x, axis=None), per_element, atol=1e-6, like=x)
    assert_close(ul.hinge_embedding(y, x), per_element.mean(-1), atol=1e-6, like=x)
    # margin 2: 0.3, 0, 1.6, 0.7 + 1.3
    assert_close(ul.hinge_embedding(y, x, margin=2.0, axis=None), np.array([[0.3, 0.0, 1.6, 2.0]], np.float32), atol=1e-6, like=x)


@pytest.mark.parametrize(("ours", "theirs"), [("sum_over_batch_size", "mean"), ("sum", "sum")])
def test_hinge_embedding_class_vs_torch_module(backend, rng, ours, theirs):
    torch = pytest.importorskip("torch")
    y = rng.choice([-1.0, 1.0], (B, D))
    x = rng.uniform(0.0, 2.0, (B, D))
    expected = torch.nn.HingeEmbeddingLoss(margin=0.8, reduction=theirs)(torch.as_tensor(x), torch.as_tensor(y))
    xb = backend.asarray(x.astype(np.float32))
    out = ul.HingeEmbedding(margin=0.8, axis=None, reduction=ours)(backend.asarray(y.astype(np.float32)), xb)
    assert_close(out, expected.numpy().astype(np.float32), rtol=1e-5, atol=1e-6, like=xb)


# ------------------------------------------ triplet margin with any distance
def test_default_distance_is_triplet_margin(backend, rng):
    a, p, n = (backend.asarray(x.astype(np.float32)) for x in _triplet_inputs(rng))
    for swap in (False, True):
        expected = ul.triplet_margin(a, p, n, swap=swap, margin=0.7)
        assert_close(ul.triplet_margin_with_distance(a, p, n, swap=swap, margin=0.7), expected, rtol=1e-6, atol=1e-6, like=a)


def test_distance_function_gets_the_inputs_framework_in_the_compute_dtype(backend, rng):
    """The distance function is called on arrays of the inputs' framework, in float32 for 16-bit
    inputs; one written with ``backend_for(x).xp`` serves every framework."""
    seen = []

    def spy(x1, x2):
        seen.append((type(x1), x1.dtype))
        return l1_distance(x1, x2)

    dtype = "float16" if backend.name != "array_api_strict" else "float32"
    a, p, n = (backend.asarray(x, dtype=dtype) for x in _triplet_inputs(rng))
    out = ul.triplet_margin_with_distance(a, p, n, distance_function=spy, swap=True)
    assert len(seen) == 3 and all(d == backend.dtype("float32") for _, d in seen)
    expected = ul.triplet_margin_with_distance(*(to_numpy(x).astype(np.float32) for x in (a, p, n)), distance_function=l1_distance, swap=True)
    assert_close(out, expected, rtol=1e-6, atol=1e-6, like=a, dtype=backend.dtype("float32"))


@selected("jax")
def test_distance_function_under_jax_jit():
    jax = pytest.importorskip("jax")
    a, p, n = _triplet_inputs(np.random.default_rng(1))
    f = jax.jit(lambda a, p, n: ul.triplet_margin_with_distance(a, p, n, distance_function=cosine_distance, reduction="mean"))
    expected = ul.triplet_margin_with_distance(a, p, n, distance_function=cosine_distance, reduction="mean")
    assert_close(f(*(jax.numpy.asarray(x, dtype="float32") for x in (a, p, n))), np.float32(expected), rtol=1e-5)


def test_distance_function_is_part_of_the_cache_key():
    """Options are cached by value: a function by its hash (identity). The same function reuses the
    compiled core; a new lambda is a new key (the docstring says to define it once)."""
    spec = ul.triplet_margin_with_distance.spec
    a, p, n = _triplet_inputs(np.random.default_rng(2))
    ul.triplet_margin_with_distance(a, p, n, distance_function=l1_distance)
    before = len(spec._cores)
    ul.triplet_margin_with_distance(a, p, n, distance_function=l1_distance)
    assert len(spec._cores) == before
    ul.triplet_margin_with_distance(a, p, n, distance_function=lambda x, y: l1_distance(x, y))
    assert len(spec._cores) == before + 1


class _Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __call__(self, x1, x2):
        return l1_distance(x1, x2)


def test_bad_distance_functions(backend):
    x = backend.asarray(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"^distance_function: expected a callable distance\(x1, x2\) or None, got 3"):
        ul.triplet_margin_with_distance(x, x, x, distance_function=3)
    with pytest.raises(TypeError, match=r"^distance_function: expected a hashable callable"):
        ul.triplet_margin_with_distance(x, x, x, distance_function=_Unhashable())
    with pytest.raises(TypeError, match=r"^distance_function: expected a hashable callable"):
        ul.TripletMarginWithDistance(distance_function=_Unhashable())
    with pytest.raises(ValueError, match=r"^distance_function: expected one distance per sample, of one shape.*\(2,\), \(1,\)"):
        ul.triplet_margin_with_distance(x, x, backend.asarray(np.ones((1, 3), np.float32)), distance_function=_first_feature)
    with pytest.raises(TypeError, match=rf"^distance_function: expected arrays of {backend.name}, like its inputs, got float"):
        ul.triplet_margin_with_distance(x, x, x, distance_function=_a_python_number)


def _first_feature(x1, x2):
    return x2[..., 0]


def _a_python_number(x1, x2):
    return 1.0


@selected("torch")
def test_torch_module_with_a_torch_distance(rng):
    """unilosses.torch.TripletMarginWithDistance with a distance written in torch == torch's module."""
    torch = pytest.importorskip("torch")
    import unilosses.torch as ut

    def dist(x1, x2):
        return 1.0 - torch.nn.functional.cosine_similarity(x1, x2, dim=-1)

    a, p, n = (torch.as_tensor(x) for x in _triplet_inputs(rng))
    ours = ut.TripletMarginWithDistance(distance_function=dist, margin=0.4, swap=True, reduction="mean")
    theirs = torch.nn.TripletMarginWithDistanceLoss(distance_function=dist, margin=0.4, swap=True)
    torch.testing.assert_close(ours(a, p, n), theirs(a, p, n))


# ------------------------------------------------------------- configuration
CLASSES = [
    (ul.HingeEmbedding, {"margin": 0.5, "axis": None}),
    (ul.CosineEmbedding, {"margin": -0.5}),
    (ul.TripletMargin, {"margin": 2.0, "p": 1.5, "swap": True, "eps": 1e-4}),
    (ul.TripletMarginWithDistance, {"distance_function": l1_distance, "margin": 0.5, "swap": True}),
    (ul.MarginRanking, {"margin": 0.2}),
]


@pytest.mark.parametrize(("cls", "options"), CLASSES, ids=[c[0].__name__ for c in CLASSES])
def test_config_round_trip(cls, options, config_round_trip):
    config_round_trip(cls, options)


@pytest.mark.parametrize(
    ("fn_name", "cls_name"),
    [
        ("hinge_embedding", "HingeEmbedding"), ("cosine_embedding", "CosineEmbedding"),
        ("triplet_margin", "TripletMargin"), ("triplet_margin_with_distance", "TripletMarginWithDistance"),
    ],
)
def test_registry(fn_name, cls_name, registered):
    registered("embedding", fn_name, cls_name)


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
        (ul.triplet_margin_with_distance, "margin", float("nan"), ValueError),
        (ul.triplet_margin_with_distance, "swap", "yes", TypeError),
        (ul.triplet_margin_with_distance, "distance_function", "l1", TypeError),
    ],
)
def test_bad_pair_options_name_the_parameter(fn, option, value, exc):
    x = np.ones((2, 3))
    third = np.ones(2) if fn is ul.cosine_embedding else x
    if fn is ul.margin_ranking:
        x, third = np.ones(2), np.ones(2)
    with pytest.raises(exc, match=f"^{option}: "):
        fn(x, x, third, **{option: value})


@pytest.mark.parametrize(("option", "value", "exc"), [("margin", "1", TypeError), ("axis", 1.5, TypeError)])
def test_bad_hinge_embedding_options_name_the_parameter(option, value, exc):
    with pytest.raises(exc, match=f"^{option}: "):
        ul.hinge_embedding(np.ones((2, 3)), np.ones((2, 3)), **{option: value})


def test_bad_options_in_the_constructor():
    with pytest.raises(ValueError, match="^p: "):
        ul.TripletMargin(p=0)
    with pytest.raises(TypeError, match="^swap: "):
        ul.TripletMarginWithDistance(swap=1)
