"""Benchmark cases of the LM head: :func:`unilosses.linear_cross_entropy` beside the unfused path.

The unfused path builds the (N, V) logits ``h @ W.T`` and applies the framework's own
sparse cross-entropy: ``F.cross_entropy`` (torch), jitted optax (JAX),
``tf.nn.sparse_softmax_cross_entropy_with_logits`` (TensorFlow). Both sides run forward +
backward (gradients w.r.t. ``h`` and ``W``) and give the mean over tokens.

- :func:`torch_case`, :func:`jax_case`, :func:`tf_case`: builders of timed cases
  (:data:`unilosses.bench.cases.CASES` lists them); :func:`case` the same for any dtype and for
  :func:`unilosses.linear_log_probs` (``kind="logprobs"``) beside ``log_softmax(h @ W.T)`` taken at
  the labels, both differentiated through a fixed per-token cotangent (an advantage per token);
  :func:`ignored_case`: the loss with most labels ignored beside the same loss with none ignored.
  With 16-bit inputs the unfused path takes float32 logits of the 16-bit product, as ours
  (torch and TensorFlow: ``h @ W.T`` rounded to 16 bits, then upcast, as Hugging Face's
  ``ForCausalLMLoss`` upcasts; JAX: the product with a float32 result);
- :func:`child`: one memory measurement in a fresh process (:mod:`unilosses.bench.peak`;
  the rows: :mod:`unilosses.bench.memory`);
- :func:`memory_curve`: peak memory against the vocabulary size, both paths (``bench --plot``).

Frameworks are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "BIG_VOCAB", "IGNORED", "QUICK", "SHAPE", "WIDE", "case", "child", "ignored_case", "jax_case", "memory_curve",
    "tf_case", "torch_case",
]

#: (tokens N, hidden D, vocabulary V): the issue's case, and the smoke-test size
SHAPE, QUICK = (4096, 256, 32000), (64, 16, 100)
#: a 128k vocabulary (Llama 3's), with SHAPE's tokens; and the 16-bit weight cases' two shapes
BIG_VOCAB, WIDE = (4096, 256, 128_000), ((2048, 512, 128_000), (512, 1024, 128_000))
#: the fraction of ignored labels in :func:`ignored_case`
IGNORED = 0.9
#: the memory-curve's vocabularies and tokens (the unfused reference at 256k and 512 tokens: 0.5 GB of logits)
CURVE_VOCABS, CURVE_TOKENS = (8_000, 16_000, 32_000, 64_000, 128_000, 256_000), 512


def _inputs(shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
    import numpy as np

    n, d, v = shape
    rng = np.random.default_rng(0)
    h = (rng.standard_normal((n, d)) * 0.5).astype("float32")
    w = (rng.standard_normal((v, d)) * 0.05).astype("float32")
    return h, w, rng.integers(0, v, n)


def _cotangent(n: int) -> Any:
    """A fixed per-token cotangent of the log-probabilities (advantages), float32."""
    import numpy as np

    return np.random.default_rng(1).uniform(-1.0, 1.0, n).astype("float32")


def _torch_fns(shape: tuple[int, ...], dtype: str = "float32", kind: str = "ce") -> tuple[Callable[[], Any], Callable[[], Any]]:
    import torch
    import torch.nn.functional as F  # noqa: N812

    import unilosses as ul

    hn, wn, yn = _inputs(shape)
    dt = getattr(torch, dtype)
    h, w = (torch.from_numpy(x).to(dt).requires_grad_(True) for x in (hn, wn))
    y = torch.from_numpy(yn)
    adv = torch.from_numpy(_cotangent(len(yn)))

    def run(loss: Callable[[], Any]) -> Callable[[], Any]:
        def step() -> Any:
            h.grad = w.grad = None
            out = loss()
            out.backward()
            return out.detach()

        return step

    if kind == "logprobs":
        def native_lp() -> Any:
            lsm = torch.log_softmax(h @ w.T, -1, dtype=torch.float32)
            return (lsm.gather(-1, y[:, None])[:, 0] * adv).sum()

        return run(lambda: (ul.linear_log_probs(y, h, w) * adv).sum()), run(native_lp)
    if kind == "compiled":  # both paths under torch.compile (inductor), the compiled unfused path fused by it
        ours = torch.compile(lambda h, w, y: ul.linear_cross_entropy(y, h, w, reduction="sum_over_batch_size"))
        unfused = torch.compile(lambda h, w, y: F.cross_entropy((h @ w.T).float(), y))
        return run(lambda: ours(h, w, y)), run(lambda: unfused(h, w, y))
    accum = "weight" if kind == "ce16" else "float32"
    return (run(lambda: ul.linear_cross_entropy(y, h, w, reduction="sum_over_batch_size", accum_dtype=accum)),
            run(lambda: F.cross_entropy((h @ w.T).float(), y)))  # 16-bit: upcast, as HF's ForCausalLMLoss


def torch_case(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(unilosses, native) forward + backward on torch."""
    return _torch_fns(shape)


def ignored_case(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(90% of the labels ignored, none ignored): torch eager forward + backward of
    ``linear_cross_entropy(..., ignore_index=-100, reduction="sum")`` on the same hidden states and
    weight, the labels of a random :data:`IGNORED` fraction of the tokens set to -100 on the first
    side. Both return ``hidden``'s gradient at the tokens that count there, the same on both sides:
    with a sum, a token's gradient is its own loss's."""
    import numpy as np
    import torch

    import unilosses as ul

    hn, wn, yn = _inputs(shape)
    n = len(yn)
    ignored = np.random.default_rng(2).permutation(n)[: int(round(IGNORED * n))]
    counted = torch.from_numpy(np.setdiff1d(np.arange(n), ignored))
    h, w = (torch.from_numpy(x).requires_grad_(True) for x in (hn, wn))
    y_all = torch.from_numpy(yn)
    y_some = y_all.clone()
    y_some[torch.from_numpy(ignored)] = -100

    def run(y: Any) -> Callable[[], Any]:
        def step() -> Any:
            loss = ul.linear_cross_entropy(y, h, w, ignore_index=-100, reduction="sum")
            gh, _ = torch.autograd.grad(loss, (h, w))  # both gradients, as a training step
            return gh[counted]

        return step

    return run(y_some), run(y_all)


def _jax_fns(shape: tuple[int, ...], dtype: str = "float32", kind: str = "ce") -> tuple[Callable[[], Any], Callable[[], Any]]:
    import jax
    import jax.numpy as jnp
    import optax

    import unilosses as ul

    hn, wn, yn = _inputs(shape)
    h, w, y = jnp.asarray(hn, dtype), jnp.asarray(wn, dtype), jnp.asarray(yn)
    adv = jnp.asarray(_cotangent(len(yn)))

    def ours(h: Any, w: Any) -> Any:
        if kind == "logprobs":
            return (ul.linear_log_probs(y, h, w) * adv).sum()
        return ul.linear_cross_entropy(y, h, w, reduction="sum_over_batch_size")

    def native(h: Any, w: Any) -> Any:
        z = jnp.matmul(h, w.T, preferred_element_type=jnp.float32)
        if kind == "logprobs":
            return (jnp.take_along_axis(jax.nn.log_softmax(z, axis=-1), y[:, None], axis=-1)[:, 0] * adv).sum()
        return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()

    def run(loss: Callable[..., Any]) -> Callable[[], Any]:
        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

        def call() -> Any:
            return jax.block_until_ready(step(h, w))[0]

        return call

    return run(ours), run(native)


def jax_case(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(unilosses, native) jitted forward + backward on JAX (native: optax on ``h @ W.T``)."""
    return _jax_fns(shape)


def _tf_fns(shape: tuple[int, ...], dtype: str = "float32", kind: str = "ce") -> tuple[Callable[[], Any], Callable[[], Any]]:
    import tensorflow as tf

    import unilosses as ul

    hn, wn, yn = _inputs(shape)
    h, w, y = tf.cast(hn, dtype), tf.cast(wn, dtype), tf.constant(yn)
    adv = tf.constant(_cotangent(len(yn)))

    def run(loss: Callable[[], Any]) -> Callable[[], Any]:
        def step() -> Any:
            with tf.GradientTape() as tape:
                tape.watch([h, w])
                out = loss()
            tape.gradient(out, [h, w])
            return out

        return step

    def native() -> Any:
        logits = tf.cast(tf.matmul(h, w, transpose_b=True), tf.float32)
        if kind == "logprobs":
            return tf.reduce_sum(tf.gather(tf.nn.log_softmax(logits), y, batch_dims=1) * adv)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))

    if kind == "logprobs":
        return run(lambda: tf.reduce_sum(ul.linear_log_probs(y, h, w) * adv)), run(native)
    return run(lambda: ul.linear_cross_entropy(y, h, w, reduction="sum_over_batch_size")), run(native)


def tf_case(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(unilosses, native) eager forward + backward under a ``GradientTape`` on TensorFlow."""
    return _tf_fns(shape)


_BUILDERS = {"torch": _torch_fns, "jax": _jax_fns, "tensorflow": _tf_fns}


def case(framework: str, dtype: str = "float32", kind: str = "ce") -> Callable[[tuple[int, ...]], Any]:
    """A builder of timed cases, ``shape -> (unilosses, native)``: ``kind`` ``"ce"`` (the loss),
    ``"ce16"`` (torch: the loss with ``accum_dtype="weight"``), ``"compiled"`` (torch: both paths
    under ``torch.compile``) or ``"logprobs"`` (:func:`unilosses.linear_log_probs`), inputs in ``dtype``."""
    def make(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
        return _BUILDERS[framework](shape, dtype, kind)

    return make


def _variant(variant: str) -> tuple[str, str, str, str]:
    """``"<framework>[-<kind>]-<unilosses|native>[@<dtype>]"`` as (framework, kind, path, dtype)."""
    name, _, dtype = variant.partition("@")
    framework, path = name.rsplit("-", 1)
    framework, _, kind = framework.partition("-")
    return framework, kind or "ce", path, dtype or "float32"


def child(variant: str, n: int, d: int, v: int) -> None:
    """In a fresh process: peak extra memory of one forward + backward of ``variant``
    (``"<framework>[-<kind>]-<native|unilosses>[@<dtype>]"``, e.g. ``"torch-native"``,
    ``"jax-logprobs-unilosses@bfloat16"``, ``"torch-compiled-native"``), printed as JSON.

    Warms up (imports, kernels; JAX and ``torch.compile`` compile at full size) on the same code, then measures
    one call on freshly built inputs: the peak resident memory minus what was resident
    before the call (:func:`unilosses.bench.peak.peak_extra`).
    """
    import json

    from unilosses.bench.peak import peak_extra, single_thread_child

    framework, kind, path, dtype = _variant(variant)
    single_thread_child(framework)
    build = case(framework, dtype, kind)
    pick = 0 if path == "unilosses" else 1
    if framework == "jax" or kind == "compiled":
        fn = build((n, d, v))[pick]
        fn()  # compile at full size (and run once): compilation is not the loss's memory
    else:
        build((8, 4, 16))[pick]()
        fn = build((n, d, v))[pick]
    print(json.dumps({"variant": variant, **peak_extra(fn)}))


def memory_curve(frameworks: tuple[str, ...] = ("torch",), vocabs: tuple[int, ...] = CURVE_VOCABS,
                 tokens: int = CURVE_TOKENS, d: int = SHAPE[1]) -> dict[str, Any]:
    """Peak extra memory (bytes) against the vocabulary size, unilosses and the unfused path,
    each point in a fresh process, one at a time."""
    from unilosses.bench.peak import run_child

    out: dict[str, Any] = {"vocabs": list(vocabs), "tokens": tokens, "hidden": d}
    for fw in frameworks:
        for path in ("unilosses", "native"):
            out[f"{fw}-{path}"] = [
                run_child("unilosses.bench.linear", "child", f"{fw}-{path}", (tokens, d, v))["extra_bytes"]
                for v in vocabs
            ]
    return out
