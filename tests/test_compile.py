"""Every loss under the frameworks' compilers: jax.jit + jax.vmap, torch.compile, tf.function(jit_compile).

One case per loss (its richest) and the cases that take every reduction path
(:data:`COMPILED_PER_LOSS`). Compiled results equal the
eager NumPy results (values, every reduction, with sample weights) and, where
gradients are compiled too, the eager gradients. A host synchronisation inside a
loss (``.item()``, ``bool(array)``, a Python ``if`` on values) fails each of
these: JAX raises a concretization error, dynamo breaks the graph (an error with
``fullgraph=True``), XLA-compiled ``tf.function`` cannot read values.

torch.compile is slow on 2 cores, so it runs with ``backend="aot_eager"``:
dynamo traces the whole Python function (``fullgraph=True`` raises on any graph
break) and AOTAutograd traces the forward and the backward graphs, but no code is
generated. Each case is compiled once per compiler (per-sample values, and
``"stats"`` with sample weights, which runs every weighting path of the reduction); each
distinct loss also goes through ``torch._dynamo.explain`` with every reduction.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Callable

import numpy as np
import pytest

import unilosses as ul
from unilosses.conformance import Case, all_cases, first_case_per_loss, richest_case_per_loss
from unilosses.testing import assert_close, available_backends

CASES = all_cases()
BATCH = 3
#: (reduction, with sample weights) for every reduction
ALL_CALLS = (("none", False),) + tuple((r, True) for r in ul.REDUCTIONS)
#: what each case compiles (once per compiler): per-sample values, and "stats"
#: with sample weights, which runs every weighting and masking path of the reduction
CASE_CALLS = (("none", False), ("stats", True))


def _reduction_cases() -> list[Case]:
    """Cases covering each kind of per-sample output (plain, class-weighted, with
    ignored labels): each is compiled with every reduction."""
    kinds: dict[tuple[bool, bool], Case] = {}
    for c in CASES:
        kinds.setdefault(("class_weight" in c.array_options, "ignore_index" in c.options), c)
    return list(kinds.values())


#: what the compilers compile (3-15 s a case under torch.compile, 30-50 s for CTC, whose recursion
#: unrolls): one case per loss, its richest, and the cases with every reduction. Every case runs
#: eagerly elsewhere on every backend, and an eager JAX call is itself a cached jax.jit of the loss
#: (unilosses/backends/jax.py): what jax.jit over the user's function and vmap add is per loss.
COMPILED_PER_LOSS = [pytest.param(c, CASE_CALLS, id=c.id) for c in richest_case_per_loss()] + [
    pytest.param(c, ALL_CALLS, id=f"{c.id}-every-reduction") for c in _reduction_cases()
]


def _require(backend: str) -> None:
    if backend not in available_backends():
        pytest.skip(f"backend {backend} is not installed or not selected")


# ------------------------------------------------------------------ helpers
def _n_inputs(case: Case, arrays: tuple[Any, ...]) -> int:
    return len(arrays) - len(case.array_options)


def _draw(case: Case, seed: int = 0) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a) for a in case.inputs(np.random.default_rng(seed)))


def _sample_weight(case: Case, arrays: tuple[Any, ...], seed: int) -> np.ndarray:
    """Non-negative float32 weights of the per-sample shape, one of them zero."""
    args, kw = case.call_args(arrays)
    shape = np.shape(getattr(ul, case.loss)(*args, **kw))
    w = np.random.default_rng(seed).uniform(0.2, 2.0, shape).astype(np.float32)
    if w.size > 1:
        w.flat[0] = 0.0
    return w


def _float_positions(case: Case, arrays: tuple[Any, ...]) -> list[int]:
    return [i for i in range(_n_inputs(case, arrays)) if arrays[i].dtype.kind == "f"]


def _calls(case: Case, calls: Any, xs: tuple[Any, ...], sw: Any) -> tuple[Any, ...]:
    """The loss on ``xs`` (inputs then array options) for each (reduction, weighted)."""
    fn = getattr(ul, case.loss)
    args, kw = case.call_args(tuple(xs))
    return tuple(fn(*args, **kw, reduction=r, sample_weight=sw if weighted else None) for r, weighted in calls)


def _total(xp_sum: Callable[[Any], Any], outs: tuple[Any, ...]) -> Any:
    """A scalar depending on every output (LossStats: its total and weight sum)."""
    total = 0.0
    for out in outs:
        parts = (out.total, out.weight_sum) if isinstance(out, ul.LossStats) else (out,)
        for p in parts:
            total = total + xp_sum(p)
    return total


def _expected(case: Case, calls: Any, arrays: tuple[np.ndarray, ...], sw: np.ndarray) -> tuple[Any, ...]:
    """Eager NumPy results: the semantics every compiled result must equal."""
    return _calls(case, calls, arrays, sw)


def _check(case: Case, calls: Any, got: Any, expected: Any, like: Any) -> None:
    assert len(got) == len(calls)
    for (r, weighted), g, e in zip(calls, got, expected):
        try:
            assert_close(g, e, rtol=case.rtol, atol=case.atol, like=like)
        except AssertionError as err:
            raise AssertionError(f"reduction={r!r}, sample_weight={'yes' if weighted else 'no'}: {err}") from None


# --------------------------------------------------------------------- JAX
@pytest.mark.parametrize(("case", "calls"), COMPILED_PER_LOSS)
def test_jax_jit_and_vmap(case, calls):
    """One jax.jit holding every reduction on one draw, and vmap over a batch of draws."""
    _require("jax")
    import jax
    import jax.numpy as jnp

    draws = [_draw(case, s) for s in range(BATCH)]
    if any(tuple(a.shape for a in d) != tuple(a.shape for a in draws[0]) for d in draws):
        draws = [draws[0]] * BATCH  # drawn shapes vary: batch one draw
    n = _n_inputs(case, draws[0])
    weights = [_sample_weight(case, d, 10 + s) for s, d in enumerate(draws)]
    options = tuple(jnp.asarray(a) for a in draws[0][n:])  # array options: not batched
    batched = tuple(jnp.asarray(np.stack([d[i] for d in draws])) for i in range(n))
    sw = jnp.asarray(np.stack(weights))

    def one(inputs: tuple[Any, ...], sw: Any) -> tuple[Any, ...]:
        return _calls(case, calls, (*inputs, *options), sw)

    @jax.jit
    def run(batched: tuple[Any, ...], sw: Any) -> Any:
        first = one(tuple(x[0] for x in batched), sw[0])
        return first, jax.vmap(one)(batched, sw)

    first, mapped = run(batched, sw)
    like = batched[-1]
    for s, d in enumerate(draws):
        expected = _expected(case, calls, (*d[:n], *draws[0][n:]), weights[s])
        if s == 0:
            _check(case, calls, first, expected, like)
        _check(case, calls, jax.tree_util.tree_map(lambda v, s=s: v[s], mapped), expected, like)


# ------------------------------------------------------------------- torch
def _torch_compiled(case: Case, calls: Any, arrays: tuple[np.ndarray, ...], sw: np.ndarray) -> None:
    """fullgraph torch.compile (aot_eager) == eager, values and gradients."""
    import torch
    from torch._dynamo.backends.registry import lookup_backend

    positions = _float_positions(case, arrays)

    def leaves() -> list[Any]:
        ts = [torch.as_tensor(a.copy()) for a in arrays]
        for i in positions:
            ts[i].requires_grad_(True)
        return ts

    def f(sw: Any, *xs: Any) -> Any:
        return _calls(case, calls, xs, sw)

    def grads(ts: list[Any], outs: Any) -> list[Any]:
        gs = torch.autograd.grad(_total(torch.sum, outs), [ts[i] for i in positions], allow_unused=True)
        return [torch.zeros_like(ts[i]) if g is None else g for i, g in zip(positions, gs)]

    weight = torch.as_tensor(sw)
    eager_ts = leaves()
    eager = f(weight, *eager_ts)  # eager first: compiled code must not depend on a cold cache
    eager_grads = grads(eager_ts, eager)

    graphs: list[Any] = []
    aot_eager = lookup_backend("aot_eager")

    def backend(gm: Any, example_inputs: Any) -> Any:
        graphs.append(gm)
        return aot_eager(gm, example_inputs)

    torch._dynamo.reset()
    ts = leaves()
    try:
        out = torch.compile(f, fullgraph=True, backend=backend)(weight, *ts)
    finally:
        torch._dynamo.reset()
    assert len(graphs) == 1, f"expected one graph, got {len(graphs)}"
    np_expected = _expected(case, calls, arrays, sw)
    _check(case, calls, tuple(_detach(o) for o in out), np_expected, weight)
    _check(case, calls, tuple(_detach(o) for o in eager), np_expected, weight)
    for i, g, e in zip(positions, grads(ts, out), eager_grads):
        assert torch.all(torch.isfinite(g)), f"non-finite compiled gradient w.r.t. input {i}"
        # float32 rounding, relative to the largest entry (a fused kernel eagerly, the spec under XLA)
        scale = max(1.0, float(np.max(np.abs(e.numpy()), initial=0.0)))
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-6 * scale, err_msg=f"gradient w.r.t. input {i}")


def _detach(x: Any) -> Any:
    if isinstance(x, ul.LossStats):
        return ul.LossStats(*(v.detach() for v in x))
    return x.detach()


@pytest.mark.parametrize(("case", "calls"), COMPILED_PER_LOSS)
def test_torch_compile_fullgraph(case, calls):
    """torch.compile(fullgraph=True, backend="aot_eager"): one graph, forward and backward, == eager."""
    _require("torch")
    arrays = _draw(case)
    _torch_compiled(case, calls, arrays, _sample_weight(case, arrays, 10))


LOSSES = first_case_per_loss()


@pytest.mark.parametrize("case", LOSSES, ids=[c.loss for c in LOSSES])
def test_torch_explain_no_graph_breaks(case):
    """torch._dynamo.explain of each distinct loss: one graph, no breaks (break reasons on failure)."""
    _require("torch")
    import torch

    arrays = _draw(case)
    sw = torch.as_tensor(_sample_weight(case, arrays, 10))
    ts = [torch.as_tensor(a.copy()) for a in arrays]

    def f(sw: Any, *xs: Any) -> Any:
        return _calls(case, CASE_CALLS, xs, sw)

    f(sw, *ts)  # warm the caches: this test is about the traced code, not the first call
    torch._dynamo.reset()
    try:
        ex = torch._dynamo.explain(f)(sw, *ts)
    finally:
        torch._dynamo.reset()
    assert ex.graph_break_count == 0, f"{ex.graph_break_count} graph breaks: {ex.break_reasons}"
    assert ex.graph_count == 1


_COLD = textwrap.dedent(
    """
    import torch, unilosses as ul
    y, z, w = torch.tensor([0, 1, -100]), torch.randn(3, 4), torch.rand(4)

    def f(y, z, w):
        return ul.sparse_categorical_crossentropy(
            y, z, from_logits=True, class_weight=w, ignore_index=-100, reduction="mean_with_sample_weight"
        )

    out = torch.compile(f, fullgraph=True, backend="eager")(y, z, w)  # raises on a graph break
    expected = torch.nn.functional.cross_entropy(z, y, weight=w, ignore_index=-100)
    assert torch.allclose(out, expected), (out, expected)
    """
)


def test_torch_compile_first_call():
    """A loss's very first call, inside torch.compile(fullgraph=True), in a fresh interpreter
    (cold dispatch and option caches: no lock, no import on the traced path)."""
    _require("torch")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, "-c", _COLD], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


_XLA_PROGRAMS = {
    "jax": "import jax, jax.numpy as jnp; print(float(jax.jit(lambda x: (x * 2).sum())(jnp.ones(3))))",
    "tensorflow": "import tensorflow as tf; "
    "print(float(tf.function(lambda x: tf.reduce_sum(x * 2), jit_compile=True)(tf.ones(3))))",
}


@pytest.mark.parametrize("backend", sorted(_XLA_PROGRAMS))
def test_check_xla_flags_known_to_the_installed_xla(backend):
    """``check`` sets XLA_FLAGS; XLA aborts the whole process on a flag it does not know (jaxlib 0.4.35
    and TensorFlow 2.16 abort on ``--xla_cpu_use_fusion_emitters``), so each installed XLA must know them."""
    from unilosses.check.cli import CHEAP_XLA

    _require(backend)
    env = dict(os.environ, XLA_FLAGS=CHEAP_XLA, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-c", _XLA_PROGRAMS[backend]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "6.0", proc.stderr[-3000:]


# -------------------------------------------------------------- TensorFlow
@pytest.mark.parametrize(("case", "calls"), COMPILED_PER_LOSS)
def test_tf_function_jit_compile(case, calls):
    """tf.function(jit_compile=True) of every reduction and the GradientTape gradients == eager."""
    _require("tensorflow")
    import tensorflow as tf

    arrays = _draw(case)
    sw_np = _sample_weight(case, arrays, 10)
    positions = _float_positions(case, arrays)

    def run(xs: tuple[Any, ...], sw: Any) -> Any:
        with tf.GradientTape() as tape:
            for i in positions:
                tape.watch(xs[i])
            outs = _calls(case, calls, xs, sw)
            total = _total(tf.reduce_sum, outs)
        gs = tape.gradient(total, [xs[i] for i in positions], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return outs, gs

    xs = tuple(tf.convert_to_tensor(a) for a in arrays)
    sw = tf.convert_to_tensor(sw_np)
    eager_outs, eager_grads = run(xs, sw)
    outs, grads = tf.function(run, jit_compile=True)(xs, sw)
    expected = _expected(case, calls, arrays, sw_np)
    _check(case, calls, tuple(outs), expected, xs[-1])
    _check(case, calls, tuple(eager_outs), expected, xs[-1])
    for i, g, e in zip(positions, grads, eager_grads):
        assert np.all(np.isfinite(g.numpy())), f"non-finite compiled gradient w.r.t. input {i}"
        # float32 rounding, relative to the largest entry (a fused kernel eagerly, the spec under XLA)
        scale = max(1.0, float(np.max(np.abs(e.numpy()), initial=0.0)))
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-6 * scale, err_msg=f"gradient w.r.t. input {i}")


_RECOMPILES = textwrap.dedent(
    """
    import torch, unilosses as ul

    compiles = []


    def counting(gm, example_inputs):
        compiles.append(gm)
        return gm.forward


    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 5, generator=g, requires_grad=True)
    y = torch.randint(0, 5, (6,), generator=g)
    t = torch.rand(6, 5, generator=g)
    cw = torch.rand(5, generator=g) + 0.5
    sw = torch.rand(6, generator=g)
    h = torch.randn(6, 4, generator=g, requires_grad=True)
    w = torch.nn.Parameter(torch.randn(5, 4, generator=g))
    x1, x2, x3 = (torch.randn(6, 4, generator=g, requires_grad=True) for _ in range(3))
    pm = torch.where(torch.rand(6, generator=g) > 0.5, 1.0, -1.0)
    smoothing = torch.tensor(0.1)


    class Mae(ul.Loss):
        def call(self, y_true, y_pred):
            return ul.namespace(y_pred).mean(abs(y_pred - y_true), axis=-1)


    sce_object, mae_object = ul.SparseCategoricalCrossentropy(from_logits=True), Mae()
    # (name, first options' call, second options' call): each loss's first call is inside torch.compile
    CASES = [
        ("linear_cross_entropy", lambda: ul.linear_cross_entropy(y, h, w, reduction="mean"),
         lambda: ul.linear_cross_entropy(y, h, w, z_loss=1e-3, reduction="sum")),
        ("sparse_categorical_crossentropy", lambda: ul.sparse_categorical_crossentropy(y, z, from_logits=True, reduction="mean"),
         lambda: ul.sparse_categorical_crossentropy(y, z, from_logits=True, label_smoothing=0.1, reduction="mean")),
        ("class weights", lambda: ul.sparse_categorical_crossentropy(y, z, from_logits=True, class_weight=cw, reduction="sum"),
         lambda: ul.sparse_categorical_crossentropy(y, z, from_logits=True, class_weight=cw, ignore_index=0)),
        ("an array-valued option",
         lambda: ul.sparse_categorical_crossentropy(y, z, from_logits=True, label_smoothing=smoothing, reduction="mean"),
         lambda: ul.categorical_crossentropy(t, z, from_logits=True, label_smoothing=smoothing)),
        ("huber", lambda: ul.huber(t, z, delta=0.5, sample_weight=sw, reduction="stats").total,
         lambda: ul.huber(t, z, delta=2.0, reduction="sum")),
        ("binary_focal_crossentropy", lambda: ul.binary_focal_crossentropy(t, z, from_logits=True),
         lambda: ul.binary_focal_crossentropy(t, z, from_logits=True, gamma=3.0, reduction="mean")),
        ("triplet_margin", lambda: ul.triplet_margin(x1, x2, x3, reduction="mean"),
         lambda: ul.triplet_margin(x1, x2, x3, margin=0.5, swap=True)),
        ("cosine_embedding", lambda: ul.cosine_embedding(x1, x2, pm, reduction="mean"),
         lambda: ul.cosine_embedding(x1, x2, pm, margin=0.2)),
        ("dice", lambda: ul.dice(t, z, from_logits=True, reduction="mean"),
         lambda: ul.dice(t, z, from_logits=True, squared_pred=True)),
        ("a FunctionLoss object", lambda: sce_object(y, z), lambda: sce_object(y, z, sw)),
        ("a Loss subclass", lambda: mae_object(t, z), lambda: mae_object(t, z, sw)),
    ]


    def total(out):
        return out.sum()


    failures = []
    for name, first, second in CASES:
        torch._dynamo.reset()  # each case on its own (the wrapper's code is shared: one cache entry per options)
        fns = [torch.compile(lambda fn=fn: total(fn()), fullgraph=True, backend=counting) for fn in (first, second)]
        counts = []
        for fn in (fns[0], fns[0], fns[0], fns[1], fns[1], fns[0]):
            out = fn()
            out.backward()
            counts.append(len(compiles))
        compiles.clear()
        if counts != [1, 1, 1, 2, 2, 2]:
            failures.append(f"{name}: compilations after each call {counts}, expected [1, 1, 1, 2, 2, 2]")
    # a new batch size compiles once more, with symbolic shapes; later sizes reuse that graph
    torch._dynamo.reset()
    fn = torch.compile(lambda y, z, h: total(ul.sparse_categorical_crossentropy(y, z, from_logits=True, reduction="mean")
                                             + ul.linear_cross_entropy(y, h, w, reduction="mean")), fullgraph=True, backend=counting)
    for n in (6, 9, 12, 15):
        fn(y[:1].repeat(n), torch.randn(n, 5, generator=g), torch.randn(n, 4, generator=g)).backward()
    if len(compiles) != 2:
        failures.append(f"batch sizes 6, 9, 12, 15: {len(compiles)} compilations, expected 2")
    assert not failures, "; ".join(failures)
    print("ok", len(CASES))
    """
)


def test_torch_compile_compiles_once():
    """torch.compile(fullgraph=True) of a loss compiles once: three calls with the same shapes and
    options, one compilation (its first call inside the compiled function, in a fresh interpreter);
    other options compile once more and leave the first graph valid; a second batch size compiles
    once more (symbolic shapes), and no later one does. Losses of several families,
    the LM head, array options, an array-valued numeric option, sample weights, a FunctionLoss object
    and a Loss subclass."""
    _require("torch")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, "-c", _RECOMPILES], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", "11"], proc.stdout


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_torch_compile_lm_head_is_one_operator(reduction):
    """Under torch.compile the LM head's chunk loop is one opaque operator in the forward and the
    backward graphs (no matrix product unrolled into them: inductor would plan the chunks' buffers as
    one program, several times the eager memory), with the eager kernel's values and gradients."""
    _require("torch")
    import torch
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    graphs: list[Any] = []

    def capture(gm: Any, example_inputs: Any) -> Any:
        graphs.append(gm)
        return make_boxed_func(gm.forward)

    def loss(y: Any, h: Any, w: Any, b: Any) -> Any:
        out = ul.linear_cross_entropy(y, h, w, b, reduction=reduction, label_smoothing=0.1, chunk_size=5)
        return out if reduction == "mean" else (out * torch.linspace(0.5, 1.5, out.shape[0])).sum()

    def leaves() -> list[Any]:
        g = torch.Generator().manual_seed(3)
        h = torch.randn(13, 6, generator=g, requires_grad=True)
        w = torch.nn.Parameter(torch.randn(11, 6, generator=g))
        b = torch.nn.Parameter(torch.randn(11, generator=g))
        return [torch.randint(0, 11, (13,), generator=g), h, w, b]

    eager = leaves()
    expected = loss(*eager)
    expected.backward()
    compiled = leaves()
    torch._dynamo.reset()
    try:
        got = torch.compile(loss, fullgraph=True, backend=aot_autograd(fw_compiler=capture, bw_compiler=capture))(*compiled)
        got.backward()
    finally:
        torch._dynamo.reset()
    assert len(graphs) == 2  # forward, backward
    sweep = torch.ops.unilosses.linear_cross_entropy_sweep.default
    for gm, sweeps in zip(graphs, (True, reduction == "none")):  # a reduced loss's backward only scales
        targets = {n.target for n in gm.graph.nodes if n.op == "call_function"}
        assert (sweep in targets) == sweeps, gm.code
        assert not targets & {torch.ops.aten.mm.default, torch.ops.aten.addmm.default}, gm.code
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    for a, e in zip(compiled[1:], eager[1:]):
        torch.testing.assert_close(a.grad, e.grad, rtol=1e-5, atol=1e-6)


# ------------------------------------------- array options as Python lists and numbers
#: losses whose array options are given as Python lists (a class weight, a positive weight, a
#: boolean mask, a nested distance matrix) with a Python number as the sample weight
_LIST_LOSSES = ("sparse_categorical_crossentropy", "binary_crossentropy", "ranking_softmax", "generalized_wasserstein_dice")
LIST_CASES = [
    next(c for c in CASES if c.loss == name and c.array_options) for name in _LIST_LOSSES
]


def _list_call(case: Case, seed: int = 0) -> tuple[tuple[np.ndarray, ...], dict[str, Any], Callable[..., Any]]:
    """(inputs, array options as Python lists, the loss of the inputs with those options and a
    Python sample weight, reduced to one number)."""
    arrays = _draw(case, seed)
    n = _n_inputs(case, arrays)
    _, lists = case.call_args((*arrays[:n], *(a.tolist() for a in arrays[n:])))
    fn = getattr(ul, case.loss)

    def loss(*xs: Any) -> Any:
        return fn(*xs, **lists, sample_weight=0.5, reduction="sum")

    return arrays[:n], lists, loss


def _list_expected(case: Case) -> Any:
    arrays = _draw(case)
    args, kw = case.call_args(arrays)
    return getattr(ul, case.loss)(*args, **kw, sample_weight=np.float32(0.5), reduction="sum")


@pytest.mark.parametrize("case", LIST_CASES, ids=[c.loss for c in LIST_CASES])
def test_torch_compile_python_array_options(case):
    """torch.compile(fullgraph=True) of a loss called with Python lists and numbers: one graph
    (NumPy in their conversion was a graph break), the eager NumPy value."""
    _require("torch")
    import torch

    inputs, _, loss = _list_call(case)
    graphs: list[Any] = []

    def backend(gm: Any, example_inputs: Any) -> Any:
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    try:
        out = torch.compile(loss, fullgraph=True, backend=backend)(*(torch.as_tensor(a) for a in inputs))
    finally:
        torch._dynamo.reset()
    assert len(graphs) == 1
    assert_close(out, np.asarray(_list_expected(case)), rtol=case.rtol, atol=case.atol)


@pytest.mark.parametrize("case", LIST_CASES, ids=[c.loss for c in LIST_CASES])
def test_jax_jit_python_array_options(case):
    """jax.jit of a loss called with Python lists and numbers: the eager NumPy value."""
    _require("jax")
    import jax
    import jax.numpy as jnp

    inputs, _, loss = _list_call(case)
    out = jax.jit(loss)(*(jnp.asarray(a) for a in inputs))
    assert_close(out, np.asarray(_list_expected(case)), rtol=case.rtol, atol=case.atol)


@pytest.mark.parametrize("case", LIST_CASES, ids=[c.loss for c in LIST_CASES])
def test_tf_function_python_array_options(case):
    """tf.function(jit_compile=True) of a loss called with Python lists and numbers: the eager NumPy value."""
    _require("tensorflow")
    import tensorflow as tf

    inputs, _, loss = _list_call(case)
    out = tf.function(loss, jit_compile=True)(*(tf.convert_to_tensor(a) for a in inputs))
    assert_close(out, np.asarray(_list_expected(case)), rtol=case.rtol, atol=case.atol)
