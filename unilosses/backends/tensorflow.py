"""TensorFlow: our Array API namespace plus tf.nn kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from unilosses.backends import tf_namespace
from unilosses.backends.generic import Backend


class TensorFlowBackend(Backend):
    def __init__(self) -> None:
        super().__init__("tensorflow", tf_namespace)

    def device(self, x: Any) -> Any:
        return None  # TF places ops next to their inputs

    def from_host(self, x: Any, like: Any, dtype: Any = None) -> Any:
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            dtype = like.dtype
        return tf.convert_to_tensor(arr, dtype=dtype)

    def concrete(self, *arrays: Any) -> bool:
        return tf.executing_eagerly() and "GPU" not in (arrays[0].device or "CPU")

    def logsumexp(self, x: Any, axis: int, keepdims: bool = False) -> Any:
        return tf.reduce_logsumexp(x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return tf.nn.log_softmax(x, axis=axis)

    def softplus(self, x: Any) -> Any:
        return tf.nn.softplus(x)

    def gather(self, x: Any, index: Any, axis: int) -> Any:
        rank = x.shape.rank
        if axis % rank != rank - 1:
            x = tf.experimental.numpy.moveaxis(x, axis, -1)
        return tf.gather(x, index, axis=rank - 1, batch_dims=rank - 1)

    def lookup(self, table: Any, index: Any) -> Any:
        return tf.gather(table, index)

    def classdot(self, x: Any, w: Any, axis: int) -> Any:
        if axis % x.shape.rank == x.shape.rank - 1:
            return tf.linalg.matvec(x, w)
        return tf.tensordot(tf.experimental.numpy.moveaxis(x, axis, -1), w, axes=1)

    def count_nonzero(self, x: Any, dtype: Any) -> Any:
        return tf.cast(tf.math.count_nonzero(x), dtype)

    def any_true(self, x: Any) -> bool:
        return bool(tf.reduce_any(x))
