"""Benchmark cases of the LM head: :func:`unilosses.linear_cross_entropy` beside the unfused path.

The unfused path builds the (N, V) logits ``h @ W.T`` and applies the framework's own
sparse cross-entropy: ``F.cross_entropy`` (torch), jitted optax (JAX),
``tf.nn.sparse_softmax_cross_entropy_with_logits`` (TensorFlow). Both sides run forward +
backward (gradients w.r.t. ``h`` and ``W``) and give the mean over tokens.

- :func:`torch_case`, :func:`jax_case`, :func:`tf_case`: builders of timed cases
  (:data:`unilosses.bench.cases.CASES` lists them);
- :func:`child`: one memory measurement in a fresh process (:mod:`unilosses.bench.peak`;
  the rows: :mod:`unilosses.bench.memory`);
- :func:`memory_curve`: peak memory against the vocabulary size, both paths (``bench --plot``).

Frameworks are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["QUICK", "SHAPE", "child", "jax_case", "memory_curve", "tf_case", "torch_case"]

#: (tokens N, hidden D, vocabulary V): the issue's case, and the smoke-test size
SHAPE, QUICK = (4096, 256, 32000), (64, 16, 100)
#: the memory-curve's vocabularies and tokens (the unfused reference at 256k and 512 tokens: 0.5 GB of logits)
CURVE_VOCABS, CURVE_TOKENS = (8_000, 16_000, 32_000, 64_000, 128_000, 256_000), 512


def _inputs(shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
    import numpy as np

    n, d, v = shape
    rng = np.random.default_rng(0)
    h = (rng.standard_normal((n, d)) * 0.5).astype("float32")
    w = (rng.standard_normal((v, d)) * 0.05).astype("float32")
    return h, w, rng.integers(0, v, n)


def _torch_fns(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import torch
    import torch.nn.functional as F  # noqa: N812

    import unilosses as ul

    hn, wn, yn = _inputs(shape)
    h, w = torch.from_numpy(hn).requires_grad_(True), torch.from_numpy(wn).requires_grad_(True)
    y = torch.from_numpy(yn)

    def run(loss: Callable[[], Any]) -> Callable[[], Any]:
        def step() -> Any:
            h.grad = w.grad = None
            out = loss()
            out.backward()
            return out.detach()

        return step

    return (run(lambda: ul.linear_cross_entropy(y, h, w, reduction="sum_over_batch_size")),
            run(lambda: F.cross_entropy(h @ w.T, y)))


def torch_case(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(unilosses, native) forward + backward on torch."""
    return _torch_fns(shape)


def _jax_fns(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import jax
    import jax.numpy as jnp
    import optax

    import unilosses as ul

    hn, wn, yn = _inputs(shape)
    h, w, y = jnp.asarray(hn), jnp.asarray(wn), jnp.asarray(yn)

    def ours(h: Any, w: Any) -> Any:
        return ul.linear_cross_entropy(y, h, w, reduction="sum_over_batch_size")

    def native(h: Any, w: Any) -> Any:
        return optax.softmax_cross_entropy_with_integer_labels(h @ w.T, y).mean()

    def run(loss: Callable[..., Any]) -> Callable[[], Any]:
        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

        def call() -> Any:
            return jax.block_until_ready(step(h, w))[0]

        return call

    return run(ours), run(native)


def jax_case(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(unilosses, native) jitted forward + backward on JAX (native: optax on ``h @ W.T``)."""
    return _jax_fns(shape)


def _tf_fns(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import tensorflow as tf

    import unilosses as ul

    hn, wn, yn = _inputs(shape)
    h, w, y = tf.constant(hn), tf.constant(wn), tf.constant(yn)

    def run(loss: Callable[[], Any]) -> Callable[[], Any]:
        def step() -> Any:
            with tf.GradientTape() as tape:
                tape.watch([h, w])
                out = loss()
            tape.gradient(out, [h, w])
            return out

        return step

    def native() -> Any:
        logits = tf.matmul(h, w, transpose_b=True)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))

    return run(lambda: ul.linear_cross_entropy(y, h, w, reduction="sum_over_batch_size")), run(native)


def tf_case(shape: tuple[int, ...]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(unilosses, native) eager forward + backward under a ``GradientTape`` on TensorFlow."""
    return _tf_fns(shape)


_BUILDERS = {"torch": _torch_fns, "jax": _jax_fns, "tensorflow": _tf_fns}


def child(variant: str, n: int, d: int, v: int) -> None:
    """In a fresh process: peak extra memory of one forward + backward of ``variant``
    (``"<framework>-native"`` or ``"<framework>-unilosses"``), printed as JSON.

    Warms up (imports, kernels; JAX compiles at full size) on the same code, then measures
    one call on freshly built inputs: the peak resident memory minus what was resident
    before the call (:func:`unilosses.bench.peak.peak_extra`).
    """
    import json

    from unilosses.bench.peak import peak_extra, single_thread_child

    framework, path = variant.rsplit("-", 1)
    single_thread_child(framework)
    build = _BUILDERS[framework]
    pick = 0 if path == "unilosses" else 1
    if framework == "jax":
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
