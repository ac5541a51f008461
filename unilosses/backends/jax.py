"""JAX: jax.numpy (Array API compliant) and jax.nn kernels.

A loss called eagerly on concrete arrays runs a cached ``jax.jit`` of itself
(eager JAX dispatches op by op); inside the caller's ``jit`` it simply inlines.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from unilosses.backends.generic import Backend

_Tracer = jax.core.Tracer


class JaxBackend(Backend):
    def __init__(self) -> None:
        super().__init__("jax", jnp)
        self.index_dtype = jnp.int32 if not jax.config.jax_enable_x64 else jnp.int64
        self._jitted: dict[Any, Callable[..., Any]] = {}
        self._lock = threading.Lock()

    def device(self, x: Any) -> Any:
        return None  # placement follows the computation; committed inputs decide

    def from_host(self, x: Any, like: Any, dtype: Any = None) -> Any:
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            dtype = like.dtype
        return jnp.asarray(arr, dtype=dtype)

    def compile(self, fn: Callable[..., Any], key: Any) -> Callable[..., Any]:
        call = self._jitted.get(key)
        if call is None:
            with self._lock:
                call = self._jitted.get(key)
                if call is None:
                    call = self._jitted[key] = _inline_or_jit(fn)
        return call

    def logsumexp(self, x: Any, axis: int, keepdims: bool = False) -> Any:
        return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return jax.nn.log_softmax(x, axis=axis)

    def softplus(self, x: Any) -> Any:
        return jax.nn.softplus(x)

    def gather(self, x: Any, index: Any, axis: int) -> Any:
        return jnp.take_along_axis(x, jnp.expand_dims(index, axis), axis=axis).squeeze(axis)

    def lookup(self, table: Any, index: Any) -> Any:
        return table[index]

    def count_nonzero(self, x: Any, dtype: Any) -> Any:
        return jnp.count_nonzero(x).astype(dtype)


def _inline_or_jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` inlined under tracing, a cached ``jax.jit`` of it on concrete arrays."""
    jitted = jax.jit(fn)

    def call(*args: Any) -> Any:
        for a in args:
            if isinstance(a, _Tracer):
                return fn(*args)
        return jitted(*args)

    return call
