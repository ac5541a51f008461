"""The benchmark cases: a unilosses call beside the framework's own loss, at full and quick size.

Each :class:`Case` builds, for a shape, two zero-argument callables (unilosses, native)
on the same inputs. Frameworks are imported inside the builders, so listing the cases
imports nothing; :func:`missing` says which required modules a case lacks.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from unilosses.bench import linear
from unilosses.bench.sequence import CTC_QUICK, CTC_SHAPE, jax_ctc, tf_ctc, torch_ctc

__all__ = ["CASES", "Case", "blank_row", "jax_eager", "missing", "numpy_probs", "tf_eager", "torch_forward"]

_SPARSE = dict(from_logits=True, reduction="sum_over_batch_size")


@dataclass(frozen=True)
class Case:
    """One row of the table: a unilosses call beside the framework's own loss."""

    id: str
    framework: str  # the backend measured
    title: str
    native: str  # what the native column runs
    goal: float  # the largest acceptable ratio unilosses / native
    requires: tuple[str, ...]  # modules that must be importable
    shape: tuple[int, ...]  # full size: (batch, classes), or each case's own (CTC: (T, N, C, S); LM head: (N, D, V))
    quick_shape: tuple[int, ...]
    make: Callable[[Any], tuple[Callable[[], Any], Callable[[], Any]]]  # shape -> (unilosses, native)



def _rng() -> Any:
    import numpy as np

    return np.random.default_rng(0)


def _logits(shape: tuple[int, int]) -> tuple[Any, Any]:
    rng = _rng()
    b, c = shape
    z = (rng.standard_normal((b, c)) * 2).astype("float32")
    y = rng.integers(0, c, b)
    return z, y



# ------------------------------------------------------------------- cases
def torch_forward(label_smoothing: float) -> Callable[[tuple[int, int]], Any]:
    def make(shape: tuple[int, int]) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        import unilosses as ul

        zn, yn = _logits(shape)
        z, y = torch.from_numpy(zn), torch.from_numpy(yn)
        f = ul.sparse_categorical_crossentropy

        def ours() -> Any:
            return f(y, z, label_smoothing=label_smoothing, **_SPARSE)

        def native() -> Any:
            return F.cross_entropy(z, y, label_smoothing=label_smoothing)

        return ours, native

    return make


def torch_backward(shape: tuple[int, int]) -> Any:
    import torch
    import torch.nn.functional as F  # noqa: N812

    import unilosses as ul

    zn, yn = _logits(shape)
    z, y = torch.from_numpy(zn).requires_grad_(True), torch.from_numpy(yn)
    f = ul.sparse_categorical_crossentropy

    def ours() -> Any:
        z.grad = None
        loss = f(y, z, **_SPARSE)
        loss.backward()
        return z.grad

    def native() -> Any:
        z.grad = None
        loss = F.cross_entropy(z, y)
        loss.backward()
        return z.grad

    return ours, native


def _optax_mean() -> Any:
    import jax
    import optax

    return jax.jit(lambda z, y: optax.softmax_cross_entropy_with_integer_labels(z, y).mean())


def jax_eager(shape: tuple[int, int]) -> Any:
    import jax.numpy as jnp

    import unilosses as ul

    zn, yn = _logits(shape)
    z, y = jnp.asarray(zn), jnp.asarray(yn)
    f, ref = ul.sparse_categorical_crossentropy, _optax_mean()

    def ours() -> Any:
        return f(y, z, **_SPARSE).block_until_ready()

    def native() -> Any:
        return ref(z, y).block_until_ready()

    return ours, native


def jax_jit(shape: tuple[int, int]) -> Any:
    import jax
    import jax.numpy as jnp

    import unilosses as ul

    zn, yn = _logits(shape)
    z, y = jnp.asarray(zn), jnp.asarray(yn)
    f, ref = ul.sparse_categorical_crossentropy, _optax_mean()
    mine = jax.jit(lambda z, y: f(y, z, **_SPARSE))

    def ours() -> Any:
        return mine(z, y).block_until_ready()

    def native() -> Any:
        return ref(z, y).block_until_ready()

    return ours, native


def tf_eager(shape: tuple[int, int]) -> Any:
    import tensorflow as tf

    import unilosses as ul

    zn, yn = _logits(shape)
    z, y = tf.constant(zn), tf.constant(yn)
    f = ul.sparse_categorical_crossentropy

    def ours() -> Any:
        return f(y, z, **_SPARSE)

    def native() -> Any:
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z))

    return ours, native


def numpy_probs(shape: tuple[int, int]) -> Any:
    import numpy as np
    from sklearn.metrics import log_loss

    import unilosses as ul

    rng = _rng()
    n, c = shape
    p = rng.dirichlet(np.ones(c), n).astype(np.float32)
    onehot = np.zeros((n, c), dtype=np.float32)
    onehot[np.arange(n), rng.integers(0, c, n)] = 1.0
    f = ul.categorical_crossentropy

    def ours() -> Any:
        return f(onehot, p, reduction="sum_over_batch_size")

    def native() -> Any:
        return log_loss(onehot, p)

    return ours, native


_BIG, _SMALL, _QUICK = (256, 32000), (32, 10), (16, 100)

#: the benchmark cases, in table order
CASES: tuple[Case, ...] = (
    Case("torch-fwd", "torch", "torch eager, sparse CE from logits, B=256, C=32000, forward",
         "F.cross_entropy", 1.10, ("torch",), _BIG, _QUICK, torch_forward(0.0)),
    Case("torch-fwd-smoothing", "torch", "same, label_smoothing=0.1",
         "F.cross_entropy(label_smoothing=0.1)", 1.10, ("torch",), _BIG, _QUICK, torch_forward(0.1)),
    Case("torch-fwd-bwd", "torch", "same, forward + backward",
         "F.cross_entropy", 1.15, ("torch",), _BIG, _QUICK, torch_backward),
    Case("torch-small", "torch", "torch eager, B=32, C=10, forward (per-call overhead)",
         "F.cross_entropy", 2.0, ("torch",), _SMALL, _SMALL, torch_forward(0.0)),
    Case("jax-eager", "jax", "JAX, eager call on concrete arrays, B=256, C=32000",
         "jax.jit(optax.softmax_cross_entropy_with_integer_labels(...).mean())", 1.5,
         ("jax", "optax"), _BIG, _QUICK, jax_eager),
    Case("jax-small", "jax", "JAX, eager call on concrete arrays, B=32, C=10 (per-call overhead)",
         "jax.jit(optax.softmax_cross_entropy_with_integer_labels(...).mean())", 2.0,
         ("jax", "optax"), _SMALL, _SMALL, jax_eager),
    Case("jax-jit", "jax", "JAX, inside the caller's jax.jit, B=256, C=32000",
         "jax.jit(optax.softmax_cross_entropy_with_integer_labels(...).mean())", 1.10,
         ("jax", "optax"), _BIG, _QUICK, jax_jit),
    Case("tf-eager", "tensorflow", "TensorFlow eager, B=256, C=32000",
         "tf.nn.sparse_softmax_cross_entropy_with_logits + reduce_mean", 1.10,
         ("tensorflow",), _BIG, _QUICK, tf_eager),
    Case("tf-small", "tensorflow", "TensorFlow eager, B=32, C=10",
         "tf.nn.sparse_softmax_cross_entropy_with_logits + reduce_mean", 2.0,
         ("tensorflow",), _SMALL, _SMALL, tf_eager),
    Case("numpy-probs", "numpy", "NumPy, categorical CE on probabilities, 1e6 x 10",
         "sklearn.metrics.log_loss", 0.5, ("numpy", "sklearn"), (1_000_000, 10), (1000, 10), numpy_probs),
    Case("numpy-small", "numpy", "NumPy, categorical CE on probabilities, B=32, C=10 (per-call overhead)",
         "sklearn.metrics.log_loss", 1.0, ("numpy", "sklearn"), _SMALL, _SMALL, numpy_probs),
    Case("torch-ctc", "torch", "torch eager, CTC, T=200, N=16, C=30, S=40, forward",
         "F.ctc_loss(log_softmax(z)) (mean)", 1.20, ("torch",), CTC_SHAPE, CTC_QUICK, torch_ctc(False)),
    Case("torch-ctc-bwd", "torch", "same, forward + backward",
         "F.ctc_loss(log_softmax(z)) (mean)", 1.20, ("torch",), CTC_SHAPE, CTC_QUICK, torch_ctc(True)),
    Case("jax-ctc-jit", "jax", "JAX, CTC inside the caller's jax.jit, T=200, N=16, C=30, S=40",
         "jax.jit(optax.ctc_loss(...).mean())", 1.20, ("jax", "optax"), CTC_SHAPE, CTC_QUICK, jax_ctc(False)),
    Case("jax-ctc-grad", "jax", "same, jax.jit(jax.value_and_grad(...))",
         "jax.jit(jax.value_and_grad(optax.ctc_loss(...).mean()))", 1.20, ("jax", "optax"),
         CTC_SHAPE, CTC_QUICK, jax_ctc(True)),
    Case("tf-ctc", "tensorflow", "TensorFlow eager, CTC, T=200, N=16, C=30, S=40",
         "tf.nn.ctc_loss (dense labels) + reduce_mean", 1.20, ("tensorflow",), CTC_SHAPE, CTC_QUICK, tf_ctc),
    # the LM head (unilosses/bench/linear.py): linear_cross_entropy beside the unfused logits
    Case("lce-torch", "torch", "torch, LM head, N=4096 D=256 V=32000, forward + backward",
         "F.cross_entropy(h @ W.T, y)", 1.05, ("torch",), linear.SHAPE, linear.QUICK, linear.torch_case),
    Case("lce-jax", "jax", "JAX, LM head, same, jax.jit(value_and_grad)",
         "jax.jit(optax.softmax_cross_entropy_with_integer_labels(h @ W.T, y).mean())", 1.05,
         ("jax", "optax"), linear.SHAPE, linear.QUICK, linear.jax_case),
    Case("lce-tf", "tensorflow", "TensorFlow, LM head, same, eager GradientTape",
         "tf.nn.sparse_softmax_cross_entropy_with_logits(h @ W.T)", 1.05, ("tensorflow",),
         linear.SHAPE, linear.QUICK, linear.tf_case),
    # ignored tokens cost nothing: 90% of the labels ignored beside none (both unilosses)
    Case("lce-torch-ignored", "torch", f"torch, LM head, N=4096 D=256 V=32000, {linear.IGNORED:.0%} of the labels "
         "ignored, forward + backward", "the same with no label ignored", 0.2, ("torch",), linear.SHAPE, linear.QUICK,
         linear.ignored_case),
    # 16-bit weights at a 128k vocabulary: W's gradient accumulated in float32 (the default) and in bfloat16
    *(Case(f"lce-torch-bf16-{n}x{d}", "torch", f"torch, LM head, bfloat16, N={n} D={d} V={v}, forward + backward",
           "F.cross_entropy(h @ W.T, y) (bfloat16)", 1.05, ("torch",), (n, d, v), linear.QUICK,
           linear.case("torch", "bfloat16")) for n, d, v in linear.WIDE),
    *(Case(f"lce-torch-bf16acc-{n}x{d}", "torch", f"same, N={n} D={d}, accum_dtype='weight'",
           "F.cross_entropy(h @ W.T, y) (bfloat16)", 1.05, ("torch",), (n, d, v), linear.QUICK,
           linear.case("torch", "bfloat16", "ce16")) for n, d, v in linear.WIDE),
    # selected log-probabilities (linear_log_probs) beside log_softmax(h @ W.T) at the labels
    *(Case(f"lp-{fw}{tag}", fw, f"{name}, linear_log_probs, N={n} D={d} V={v} {dt}, forward + backward",
           "log_softmax(h @ W.T) at the labels", 1.05, req, (n, d, v), linear.QUICK, linear.case(fw, dt, "logprobs"))
      for fw, name, req in (("torch", "torch", ("torch",)), ("jax", "JAX", ("jax",)),
                            ("tensorflow", "TensorFlow", ("tensorflow",)))
      for tag, dt, (n, d, v) in (("", "float32", linear.SHAPE), ("-bf16", "bfloat16", linear.SHAPE),
                                 ("-bf16-128k", "bfloat16", linear.BIG_VOCAB))),
)



def blank_row(case_id: str, framework: str, title: str, native: str, goal: float) -> dict[str, Any]:
    """A table row with nothing measured yet."""
    return {"id": case_id, "framework": framework, "case": title, "native": native, "goal": goal,
            "unilosses": None, "native_time": None, "ratio": None, "within_goal": None, "skipped": None}


def missing(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that are not installed."""
    return [m for m in modules if importlib.util.find_spec(m) is None]
