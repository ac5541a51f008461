"""CTC: hand-checked values, the frameworks' edge cases, torch's reductions, gradients, validation,
the loop compiled once, the Keras and torch adapters.

Values against the live frameworks on random inputs (torch, tf.nn, optax, Keras, with each
one's layout mapping) are in unilosses/conformance/sequence.py, run on every backend by
test_conformance.py, and their gradients by test_autodiff.py.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import AUTODIFF, assert_close, to_numpy

#: backends that read labels and lengths on the host (a ValueError), the others give NaN
RAISES = ("numpy", "torch", "tensorflow")
N, T, C, S = 5, 9, 6, 4


#: one parameter per framework, each run in that framework's session only
FRAMEWORKS = [pytest.param(f, marks=selected(f)) for f in AUTODIFF]


def _data(seed: int = 0, t: int = T, n: int = N) -> dict[str, np.ndarray]:
    """Random inputs: a repeat, an empty label sequence, shorter sequences, junk padding."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, C, (n, S))
    labels[0, 1] = labels[0, 0]
    label_lengths = np.resize(np.array([S, 0, 2, 3, 1]), n)
    logit_lengths = np.resize(np.array([t, t - 1, 3, t - 4, 1]), n)
    labels = np.where(np.arange(S) < label_lengths[:, None], labels, -3)
    z = (rng.standard_normal((n, t, C)) * 2).astype(np.float32)
    return {"labels": labels, "z": z, "label_lengths": label_lengths, "logit_lengths": logit_lengths}


def _torch_ref(d: dict[str, np.ndarray], **kw):
    torch = pytest.importorskip("torch")
    lp = torch.from_numpy(d["z"]).double().log_softmax(-1).permute(1, 0, 2)
    labels = torch.from_numpy(np.where(d["labels"] < 0, 1, d["labels"]))
    return torch.nn.functional.ctc_loss(
        lp, labels, torch.from_numpy(d["logit_lengths"]), torch.from_numpy(d["label_lengths"]), **kw
    ).numpy()


def _call(backend, d, **kw):
    xs = [backend.asarray(d[k]) for k in ("labels", "z", "label_lengths", "logit_lengths")]
    return ul.ctc(*xs, **kw), xs[1]


# ------------------------------------------------------------- hand-checked values
def test_hand_checked(backend):
    """Uniform over {blank, 1, 2}, 3 frames: (1, 2) has 5 of the 27 paths, (1, 1) one (1 _ 1),
    the empty sequence one (_ _ _); (1, 1) in 2 frames has none; 1 in 0 frames none, () in 0 frames one."""
    z = backend.asarray(np.zeros((6, 3, 3), dtype=np.float32))
    labels = backend.asarray(np.array([[1, 2], [1, 1], [0, 0], [1, 1], [1, 0], [0, 0]]))
    label_lengths = backend.asarray(np.array([2, 2, 0, 2, 1, 0]))
    logit_lengths = backend.asarray(np.array([3, 3, 3, 2, 0, 0]))
    out = ul.ctc(labels, z, label_lengths, logit_lengths)
    expected = np.array([math.log(27 / 5), math.log(27), math.log(27), math.inf, math.inf, 0.0], dtype=np.float32)
    assert_close(out, expected, rtol=1e-6, like=z)
    zero = ul.ctc(labels, z, label_lengths, logit_lengths, zero_infinity=True)
    assert_close(zero, np.where(np.isinf(expected), 0.0, expected).astype(np.float32), rtol=1e-6, like=z)


def test_default_lengths_are_keras(backend):
    """No lengths: every frame, and labels padded with the blank (Keras' CTC)."""
    d = _data(1)
    labels = np.where(d["labels"] < 0, 0, d["labels"])
    full = dict(d, labels=labels, logit_lengths=np.full(N, T))
    expected, like = _call(backend, full)
    assert_close(ul.ctc(backend.asarray(labels), backend.asarray(d["z"])), to_numpy(expected), rtol=1e-6, like=like)


# ------------------------------------------------------------ torch's semantics
@pytest.mark.multi
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize(("torch_reduction", "options"), [
    ("none", {"reduction": "none"}),
    ("sum", {"reduction": "sum"}),
    ("mean", {"reduction": "mean", "divide_by_label_length": True}),
])
def test_torch_reductions(backend, torch_reduction, options, zero_infinity):
    """torch's "mean" divides each sample by its target length (at least 1), then averages."""
    d = _data(2)
    d["logit_lengths"][4] = 0  # one label in no frame: impossible
    expected = _torch_ref(d, reduction=torch_reduction, zero_infinity=zero_infinity)
    out, like = _call(backend, d, zero_infinity=zero_infinity, **options)
    assert_close(out, expected.astype(np.float32), rtol=2e-5, atol=1e-5, like=like)


def test_padding_frames_and_labels_do_not_matter(backend):
    """Labels past their length and frames past theirs may hold anything."""
    d = _data(3)
    ref, like = _call(backend, d)
    junk = dict(d, labels=np.where(d["labels"] < 0, 10**6, d["labels"]), z=d["z"].copy())
    for n, t in enumerate(d["logit_lengths"]):
        junk["z"][n, t:] = 1e4
    out, _ = _call(backend, junk)
    assert_close(out, to_numpy(ref), rtol=1e-6, like=like)


@pytest.mark.parametrize("blank", [2, 5, -1, -6])
def test_blank_anywhere(backend, blank):
    """blank=b equals blank 0 on the classes reordered so that b comes first; negative counts from the end."""
    d = _data(4)
    b = blank % C
    others = [k for k in range(C) if k != b]
    labels = np.where(d["labels"] < 0, -3, np.take(others, np.maximum(d["labels"], 1) - 1))  # label j+1 -> others[j]
    out, like = _call(backend, dict(d, labels=labels), blank=blank)
    ref, _ = _call(backend, dict(d, z=np.ascontiguousarray(d["z"][..., [b, *others]])))
    assert_close(out, to_numpy(ref), rtol=1e-5, atol=1e-5, like=like)


def test_probabilities_are_clipped_and_normalised(backend):
    d = _data(5)
    p = np.exp(d["z"]) / np.exp(d["z"]).sum(-1, keepdims=True)
    ref, like = _call(backend, d)
    out, _ = _call(backend, dict(d, z=(3 * p).astype(np.float32)), from_logits=False)  # rows summing to 3
    assert_close(out, to_numpy(ref), rtol=1e-5, atol=1e-5, like=like)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_in_float32(backend, dtype):
    if backend.name == "array_api_strict" or (backend.name == "dask" and dtype == "bfloat16"):
        pytest.skip(f"{backend.name} has no {dtype} (the standard has no 16-bit float)")
    d = _data(6)
    xs = [backend.asarray(d["labels"]), backend.asarray(d["z"], dtype), backend.asarray(d["label_lengths"]),
          backend.asarray(d["logit_lengths"])]
    out = ul.ctc(*xs)
    rounded = to_numpy(xs[1]).astype(np.float32)
    expected = ul.ctc(d["labels"], rounded, d["label_lengths"], d["logit_lengths"])
    assert_close(out, expected, rtol=1e-5, atol=1e-5, like=xs[1], dtype=backend.dtype("float32"))


def test_python_lists_and_loss_class(backend, config_round_trip):
    d = _data(7)
    z = backend.asarray(d["z"])
    by_lists = ul.ctc(d["labels"].tolist(), z, d["label_lengths"].tolist(), d["logit_lengths"].tolist())
    ref = ul.ctc(d["labels"], d["z"], d["label_lengths"], d["logit_lengths"])
    assert_close(by_lists, ref, rtol=1e-5, like=z)
    loss, back = config_round_trip(ul.CTC, {"blank": 3, "zero_infinity": True, "time_major": True,
                                            "divide_by_label_length": True})
    zt = backend.asarray(np.transpose(d["z"], (1, 0, 2)))
    labels = np.where(d["labels"] == 3, 1, d["labels"])
    args = (backend.asarray(labels), zt, backend.asarray(d["label_lengths"]), backend.asarray(d["logit_lengths"]))
    expected = ul.ctc(*args, blank=3, zero_infinity=True, time_major=True, divide_by_label_length=True, reduction="sum")
    assert_close(loss(*args), to_numpy(expected), rtol=1e-6, like=zt)
    assert_close(ul.CTC(time_major=True, blank=3)(*args), to_numpy(ul.ctc(*args, time_major=True, blank=3)).mean(),
                 rtol=1e-6, like=zt)


def test_empty_batch(backend):
    z = backend.asarray(np.zeros((0, T, C), dtype=np.float32))
    empty = backend.asarray(np.zeros((0,), dtype=np.int64))
    labels = backend.asarray(np.zeros((0, S), dtype=np.int64))
    assert to_numpy(ul.ctc(labels, z, empty, empty)).shape == (0,)
    assert to_numpy(ul.ctc(labels, z, empty, empty, reduction="mean")) == 0


# --------------------------------------------------------------------- gradients
def _grads(framework: str, d: dict[str, np.ndarray], time_major: bool = False, **kw) -> np.ndarray:
    """d sum(ctc) / d logits by ``framework``'s autodiff, float32."""
    z = np.transpose(d["z"], (1, 0, 2)) if time_major else d["z"]
    args = [d["labels"], d["label_lengths"], d["logit_lengths"]]
    if framework == "torch":
        import torch

        zt = torch.tensor(z, requires_grad=True)
        (g,) = torch.autograd.grad(ul.ctc(args[0], zt, *args[1:], time_major=time_major, **kw).sum(), zt)
        return g.numpy()
    if framework == "jax":
        import jax
        import jax.numpy as jnp

        grad = jax.jit(jax.grad(lambda x: ul.ctc(args[0], x, *args[1:], time_major=time_major, **kw).sum()))
        return np.asarray(grad(jnp.asarray(z)))
    import tensorflow as tf

    zt = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        total = tf.reduce_sum(ul.ctc(args[0], zt, *args[1:], time_major=time_major, **kw))
    return tape.gradient(total, zt).numpy()


@pytest.mark.multi
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_gradient_equals_torch_ctc_loss(framework, time_major):
    """Autodiff (through the recursion on JAX, the kernels on torch and TF) == torch's ctc_loss
    backward through log_softmax, with an impossible sample (0 and a zero gradient)."""
    torch = pytest.importorskip("torch")
    d = _data(8, t=30, n=5)
    d["logit_lengths"][4] = 0
    z = torch.tensor(d["z"], dtype=torch.float64, requires_grad=True)
    lp = z.log_softmax(-1).permute(1, 0, 2)
    labels = torch.from_numpy(np.where(d["labels"] < 0, 1, d["labels"]))
    ref = torch.nn.functional.ctc_loss(lp, labels, torch.from_numpy(d["logit_lengths"]),
                                       torch.from_numpy(d["label_lengths"]), reduction="sum", zero_infinity=True)
    (expected,) = torch.autograd.grad(ref, z)
    expected = expected.numpy()
    got = _grads(framework, d, time_major, zero_infinity=True)
    if time_major:
        got = np.transpose(got, (1, 0, 2))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-6)
    assert np.all(got[4] == 0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_impossible_alignment_gradient_is_zero(framework):
    """inf (zero_infinity=False) with a zero gradient in that sample (torch's is NaN), finite elsewhere."""
    d = _data(9)
    d["labels"][2, :2] = 4  # 2 equal labels need 3 frames; sample 2 has 3: make it 2
    d["logit_lengths"][2] = 2
    g = _grads(framework, d)
    assert np.all(np.isfinite(g)) and np.all(g[2] == 0) and np.any(g[0] != 0)
    out = ul.ctc(d["labels"], d["z"], d["label_lengths"], d["logit_lengths"])
    assert np.isinf(out[2]) and np.all(np.isfinite(np.delete(out, 2)))


# ------------------------------------------------------------------- validation
def test_bad_shapes_and_options():
    d = _data(10)
    y, z, ll, tl = d["labels"], d["z"], d["label_lengths"], d["logit_lengths"]
    with pytest.raises(ValueError, match=r"logits: expected shape \(N, T, C\)"):
        ul.ctc(y, z[0], ll, tl)
    with pytest.raises(ValueError, match=r"logits: expected shape \(T, N, C\) with time_major=True"):
        ul.ctc(y, z[0], ll, tl, time_major=True)
    with pytest.raises(ValueError, match=r"labels: expected padded labels of shape \(N, S\) with N = 5"):
        ul.ctc(y[:3], z, ll, tl)
    with pytest.raises(ValueError, match=r"label_lengths: expected non-negative lengths that add up to the 20"):
        ul.ctc(y.ravel(), z, ll, tl)  # read as torch's concatenated targets: the lengths do not add up
    with pytest.raises(ValueError, match=r"label_lengths: expected one length per sequence, shape \(5,\)"):
        ul.ctc(y, z, ll[:2], tl)
    with pytest.raises(ValueError, match=r"logit_lengths: expected one length per sequence"):
        ul.ctc(y, z, ll, tl[:, None])
    with pytest.raises(ValueError, match=r"blank: expected a class index in \[-6, 5\]"):
        ul.ctc(y, z, ll, tl, blank=6)
    with pytest.raises(TypeError, match="blank: expected an integer class index"):
        ul.ctc(y, z, ll, tl, blank=1.0)
    with pytest.raises(TypeError, match="zero_infinity: expected True or False"):
        ul.CTC(zero_infinity=1)
    with pytest.raises(TypeError, match="labels: expected an array of integers, got dtype float"):
        ul.ctc(y.astype(np.float32), z, ll, tl)
    with pytest.raises(TypeError, match="logit_lengths: expected an array of integers"):
        ul.ctc(y, z, ll, tl.astype(np.float64))
    with pytest.raises(TypeError, match="logits: expected a real floating-point array"):
        ul.ctc(y, y[:, :, None], ll, tl)
    with pytest.raises(TypeError, match="missing input"):
        ul.ctc(y)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("label_lengths", S + 1, r"label_lengths: expected lengths in \[0, 4\]"),
    ("label_lengths", -1, r"label_lengths: expected lengths in \[0, 4\]"),
    ("logit_lengths", T + 1, r"logit_lengths: expected lengths in \[0, 9\]"),
    ("logit_lengths", -2, r"logit_lengths: expected lengths in \[0, 9\]"),
    ("labels", C, r"labels: expected classes in \[0, 5\] other than the blank 0"),
    ("labels", -1, r"labels: expected classes in \[0, 5\] other than the blank 0"),
    ("labels", 0, r"labels: expected classes in \[0, 5\] other than the blank 0"),
])
def test_out_of_range_raises_or_gives_nan(backend, field, value, message):
    """A ValueError where values can be read without a device sync, else NaN in that sample only."""
    d = _data(11)
    bad = {k: v.copy() for k, v in d.items()}
    if field == "labels":
        bad["labels"][0, 1] = value
    else:
        bad[field][0] = value
    before = {k: v.copy() for k, v in bad.items()}
    if backend.name in RAISES:
        with pytest.raises(ValueError, match=message):
            _call(backend, bad)
    else:
        out = to_numpy(_call(backend, bad)[0])
        assert np.isnan(out[0]) and np.all(np.isfinite(out[1:]))
    for k in bad:
        np.testing.assert_array_equal(bad[k], before[k])  # inputs unchanged


@pytest.mark.parametrize("framework", [p for p in FRAMEWORKS if p.values[0] != "torch"])
def test_out_of_range_under_jit_gives_nan(framework):
    """Traced (no host values): NaN in the sample, never a finite number."""
    d = _data(12)
    d["labels"][1, 0] = C
    d["label_lengths"][1] = 1
    if framework == "jax":
        import jax

        out = np.asarray(jax.jit(lambda z: ul.ctc(d["labels"], z, d["label_lengths"], d["logit_lengths"]))(d["z"]))
    else:
        import tensorflow as tf

        f = tf.function(lambda z: ul.ctc(d["labels"], z, d["label_lengths"], d["logit_lengths"]))
        out = f(tf.constant(d["z"])).numpy()
    assert np.isnan(out[1]) and np.isfinite(out[0])


# --------------------------------------------------------- loops and compilers
@selected("jax")
def test_jax_scan_compiles_one_step():
    """The recursion is one lax.scan: the traced program has the same size for 10 and 1,000 frames."""
    import jax

    def size(t: int) -> int:
        d = _data(13, t=t)
        jaxpr = jax.make_jaxpr(lambda z: ul.ctc(d["labels"], z, d["label_lengths"], d["logit_lengths"]))(d["z"])
        text = str(jaxpr)
        assert "scan" in text
        return len(text.splitlines())

    assert size(10) == size(1000)


@selected("tensorflow")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_tf_function(jit_compile):
    """tf.function: the kernel (CTCLoss), or under XLA the recursion as one while loop; same numbers."""
    import tensorflow as tf
    d = _data(14, t=40)
    z = tf.constant(d["z"])
    f = tf.function(lambda z: ul.ctc(d["labels"], z, d["label_lengths"], d["logit_lengths"]), jit_compile=jit_compile)
    eager = ul.ctc(d["labels"], d["z"], d["label_lengths"], d["logit_lengths"])
    np.testing.assert_allclose(f(z).numpy(), eager, rtol=1e-5)
    ops = {op.type for op in f.get_concrete_function(z).graph.get_operations()}
    if jit_compile:
        assert "CTCLoss" not in ops and ("While" in ops or "StatelessWhile" in ops)
    else:
        assert "CTCLoss" in ops


# ------------------------------------------------------------------ adapters
@selected("tensorflow")
def test_keras_adapter_equals_keras_ctc():
    keras = pytest.importorskip("keras")
    import unilosses.keras as ulk

    d = _data(15)
    labels = np.where(d["labels"] < 0, 0, d["labels"])
    w = np.random.default_rng(0).uniform(0, 2, N).astype(np.float32)
    for reduction in ("sum_over_batch_size", "sum", "none"):
        expected = keras.losses.CTC(reduction=reduction)(labels, d["z"], sample_weight=w)
        out = ulk.CTC(reduction=reduction)(labels, d["z"], sample_weight=w)
        np.testing.assert_allclose(np.asarray(out), np.asarray(expected), rtol=2e-5, atol=1e-5)


@selected("torch")
def test_torch_adapter_equals_ctc_loss_module():
    import torch

    import unilosses.torch as ult

    d = _data(16)
    lp = torch.from_numpy(d["z"]).log_softmax(-1).permute(1, 0, 2)
    labels = torch.from_numpy(np.where(d["labels"] < 0, 1, d["labels"]))
    ll, tl = torch.from_numpy(d["label_lengths"]), torch.from_numpy(d["logit_lengths"])
    expected = torch.nn.CTCLoss()(lp, labels, tl, ll)
    module = ult.CTC(time_major=True, divide_by_label_length=True, reduction="mean")
    torch.testing.assert_close(module(labels, lp, ll, tl), expected)


@pytest.mark.multi
def test_time_major_equals_torch_and_tf_nn(backend):
    """time_major=True: torch's and tf.nn.ctc_loss's default layout, blank last (TF's blank_index=-1)."""
    d = _data(17)
    labels = np.where(d["labels"] < 0, 0, d["labels"] - 1)  # classes 0..C-2, the blank C-1
    zt = np.ascontiguousarray(np.transpose(d["z"], (1, 0, 2)))
    xs = [backend.asarray(v) for v in (labels, zt, d["label_lengths"], d["logit_lengths"])]
    out = ul.ctc(*xs, time_major=True, blank=-1)
    expected = _torch_ref(dict(d, labels=labels), blank=C - 1, reduction="none")
    assert_close(out, expected.astype(np.float32), rtol=2e-5, atol=1e-5, like=xs[1])
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        ref = tf.nn.ctc_loss(labels, zt, d["label_lengths"], d["logit_lengths"], logits_time_major=True, blank_index=-1)
        assert_close(out, ref.numpy(), rtol=2e-5, atol=1e-5, like=xs[1])


# ------------------------------------------------- torch's concatenated targets
def _concatenated(d: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([row[:n] for row, n in zip(d["labels"], d["label_lengths"])])


def test_concatenated_targets_equal_padded(backend):
    """torch's 1-D targets (sum(target_lengths),): the padded labels' values, and torch's own."""
    d = _data(21)
    flat = _concatenated(d)
    padded, like = _call(backend, d, reduction="none")
    out = ul.ctc(backend.asarray(flat), *(backend.asarray(d[k]) for k in ("z", "label_lengths", "logit_lengths")))
    assert_close(out, to_numpy(padded), rtol=1e-6, atol=1e-6, like=like)
    if importlib.util.find_spec("torch") is not None:
        import torch

        lp = torch.from_numpy(d["z"]).double().log_softmax(-1).permute(1, 0, 2)
        expected = torch.nn.functional.ctc_loss(
            lp, torch.from_numpy(flat), torch.from_numpy(d["logit_lengths"]), torch.from_numpy(d["label_lengths"]),
            reduction="none",
        ).numpy()
        assert_close(out, expected.astype(np.float32), rtol=2e-5, atol=1e-5, like=like)


def test_concatenated_targets_need_lengths_that_add_up(backend):
    d = _data(22)
    flat, z = backend.asarray(_concatenated(d)), backend.asarray(d["z"])
    with pytest.raises(ValueError, match="label_lengths: required with 1-D labels"):
        ul.ctc(flat, z)
    if backend.name in RAISES:
        wrong = d["label_lengths"].copy()
        wrong[0] += 1
        with pytest.raises(ValueError, match="add up to the 10 concatenated labels, got lengths adding up to 11"):
            ul.ctc(flat, z, backend.asarray(wrong))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_concatenated_targets_compile(framework):
    """Under jax.jit, tf.function and torch.compile (padded to the total length inside): eager's
    values; lengths that do not add up give NaN."""
    d = _data(23)
    flat, z, ll, tl = _concatenated(d), d["z"], d["label_lengths"], d["logit_lengths"]
    expected = to_numpy(ul.ctc(flat, z, ll, tl))
    wrong = ll.copy()
    wrong[0] += 1
    if framework == "jax":
        import jax

        f = jax.jit(lambda *a: ul.ctc(*a))
        run = lambda lengths: np.asarray(f(flat, z, lengths, tl))  # noqa: E731
    elif framework == "tensorflow":
        import tensorflow as tf

        f = tf.function(lambda *a: ul.ctc(*a))
        run = lambda lengths: f(*(tf.constant(v) for v in (flat, z, lengths, tl))).numpy()  # noqa: E731
    else:
        import torch

        f = torch.compile(lambda *a: ul.ctc(*a), fullgraph=True, backend="aot_eager")
        run = lambda lengths: f(*(torch.from_numpy(v) for v in (flat, z, lengths, tl))).numpy()  # noqa: E731
    np.testing.assert_allclose(run(ll), expected, rtol=2e-5, atol=1e-5)
    assert np.isnan(run(wrong)).all()
