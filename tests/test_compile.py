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
