"""JAX: jax.numpy (Array API compliant) and jax.nn kernels.

A loss called eagerly on concrete arrays runs a cached ``jax.jit`` of itself
(eager JAX dispatches op by op); inside the caller's ``jit`` it simply inlines.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from unilosses.backends import linear_jax
from unilosses.backends.ctc import ctc_forward
from unilosses.backends.generic import Backend, sparse_smoothed
from unilosses.rules import is_zero

_Tracer = jax.core.Tracer
_typeof = getattr(jax, "typeof", None)  # JAX >= 0.6


class JaxBackend(Backend):
    def __init__(self) -> None:
        super().__init__("jax", jnp)
        self.index_dtype = jax.dtypes.canonicalize_dtype(jnp.int64)  # int32 unless x64 is enabled
        self._jitted: dict[Any, Callable[..., Any]] = {}
        # CTC's recursion as one jitted function: compiled once per shape, also when a caller
        # differentiates op by op (jax.grad without jit), where each call would trace a new scan
        self._ctc = jax.jit(functools.partial(ctc_forward, self), static_argnums=4)

    def device(self, x: Any) -> Any:
        return None  # placement follows the computation; committed inputs decide

    def from_host(self, x: Any, like: Any, dtype: Any = None) -> Any:
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            dtype = like.dtype
        return jnp.asarray(arr, dtype=dtype)

    def compile(self, fn: Callable[..., Any], key: Any) -> Callable[..., Any]:
        call = self._jitted.get(key)
        if call is None:  # setdefault is atomic: racing threads share one jit
            call = self._jitted.setdefault(key, _inline_or_jit(fn))
        return call

    def scan(self, step: Callable[[Any, Any], Any], carry: Any, xs: tuple[Any, ...]) -> Any:
        # one traced step, compiled once whatever the number of steps
        return jax.lax.scan(lambda c, x: (step(c, x), None), carry, xs)[0]

    def stop_gradient(self, x: Any) -> Any:
        return jax.lax.stop_gradient(x)

    def ctc_nll(self, log_probs: Any, labels: Any, label_lengths: Any, logit_lengths: Any, blank: int) -> Any:
        return self._ctc(log_probs, labels, label_lengths, logit_lengths, blank)

    def logsumexp(self, x: Any, axis: int, keepdims: bool = False) -> Any:
        return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return jax.nn.log_softmax(x, axis=axis)

    def softplus(self, x: Any) -> Any:
        return jax.nn.softplus(x)

    def gather(self, x: Any, index: Any, axis: int) -> Any:
        return jnp.take_along_axis(x, jnp.expand_dims(index, axis), axis=axis).squeeze(axis)

    def lookup(self, table: Any, index: Any) -> Any:
        # Under an Explicit-axes mesh, indexing must say where the result lives.
        if _typeof is not None:
            sharding = getattr(_typeof(index), "sharding", None)
            if sharding is not None and getattr(sharding, "mesh", None) is not None and not sharding.mesh.empty:
                return table.at[index].get(out_sharding=sharding)
        return table[index]

    def count_nonzero(self, x: Any, dtype: Any) -> Any:
        return jnp.count_nonzero(x).astype(dtype)

    def sparse_softmax_cross_entropy(
        self, logits: Any, labels: Any, axis: int, label_smoothing: float = 0.0, class_weight: Any = None
    ) -> Any:
        # Backend.sparse_softmax_cross_entropy written so that XLA never stores a
        # (..., K) intermediate (jax.nn.log_softmax's result is materialised):
        # -log p_y = lse(z - m) - (z_y - m), as accurate as log_softmax (optax's
        # lse(z) - z_y loses digits when p_y is near 1), and the uniform term of
        # smoothing reads log p = z - (m + lse(z - m)) inside its class-axis reduction.
        m = jax.lax.stop_gradient(jnp.max(logits, axis=axis, keepdims=True))
        m = jnp.where(jnp.isfinite(m), m, 0.0)
        lse = jnp.log(jnp.sum(jnp.exp(logits - m), axis=axis, keepdims=True))
        nll = jnp.squeeze(lse, axis) - (self.gather(logits, labels, axis) - jnp.squeeze(m, axis))
        weight_y = None if class_weight is None else self.lookup(class_weight, labels)
        log_p = None if is_zero(label_smoothing) else logits - (m + lse)
        return sparse_smoothed(self, log_p, nll, label_smoothing, axis, class_weight, weight_y)

    def linear_cross_entropy(self, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any,
                             token_weight: Any, options: Any) -> Any:
        return linear_jax.linear_cross_entropy(hidden, weight, bias, labels, class_weight, token_weight, options)


def _inline_or_jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` inlined under tracing, a cached ``jax.jit`` of it on concrete arrays (``fn`` takes
    one pytree of arrays: a loss's core arguments)."""
    jitted = jax.jit(fn)
    leaves = jax.tree_util.tree_leaves

    def call(args: Any) -> Any:
        for a in leaves(args):
            if isinstance(a, _Tracer):
                return fn(args)
        return jitted(args)

    return call
