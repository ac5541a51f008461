"""An Array API namespace over TensorFlow (array-api-compat has none).

It covers the functions the unilosses specification uses, with the standard's
semantics (``axis`` keywords, ``keepdims``, ``where`` broadcasting, dtype
promotion within a kind), eagerly and inside ``tf.function``. It is a module of
plain functions over ``tf.Tensor``; it adds no array type of its own, so results
are ordinary tensors.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import tensorflow as tf

__array_api_version__ = "2023.12"

bool = tf.bool  # noqa: A001 - the standard's name
int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
uint8, uint16, uint32, uint64 = tf.uint8, tf.uint16, tf.uint32, tf.uint64
float16, bfloat16, float32, float64 = tf.float16, tf.bfloat16, tf.float32, tf.float64
complex64, complex128 = tf.complex64, tf.complex128
e, pi, inf, nan = np.e, np.pi, np.inf, np.nan  # type: ignore[misc]
newaxis = None

_KINDS = {
    "bool": lambda d: d == tf.bool,
    "signed integer": lambda d: d.is_integer and not d.is_unsigned,
    "unsigned integer": lambda d: d.is_integer and d.is_unsigned,
    "integral": lambda d: d.is_integer,
    "real floating": lambda d: d.is_floating,
    "complex floating": lambda d: d.is_complex,
    "numeric": lambda d: d.is_integer or d.is_floating or d.is_complex,
}


def isdtype(dtype: Any, kind: Any) -> builtins.bool:
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        return _KINDS[kind](tf.as_dtype(dtype))
    return tf.as_dtype(dtype) == tf.as_dtype(kind)


class finfo:  # noqa: N801 - the standard's name
    def __init__(self, dtype: Any) -> None:
        import ml_dtypes  # TensorFlow depends on it; it knows bfloat16

        info = ml_dtypes.finfo(tf.as_dtype(dtype).as_numpy_dtype)
        self.bits, self.eps = info.bits, float(info.eps)
        self.max, self.min = float(info.max), float(info.min)
        self.smallest_normal = float(info.tiny)
        self.dtype = tf.as_dtype(dtype)


def _tensor(x: Any, like: Any = None) -> Any:
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x
    dtype = like.dtype if like is not None and isinstance(x, (int, float)) else None
    return tf.convert_to_tensor(x, dtype=dtype)


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Python scalars take the other operand's dtype (the standard's rule)."""
    if not isinstance(a, (tf.Tensor, tf.Variable)):
        b = _tensor(b)
        return _tensor(a, b), b
    return a, _tensor(b, a)


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Any:
    if isinstance(obj, (tf.Tensor, tf.Variable)):
        return obj if dtype is None or obj.dtype == dtype else tf.cast(obj, dtype)
    if device is not None:
        with tf.device(device):
            return tf.convert_to_tensor(obj, dtype=dtype)
    return tf.convert_to_tensor(obj, dtype=dtype)


def astype(x: Any, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> Any:
    return x if x.dtype == dtype else tf.cast(x, dtype)


def _axis(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    if dtype is not None:
        x = tf.cast(x, dtype)
    elif x.dtype == tf.bool:
        x = tf.cast(x, tf.int64)
    return tf.reduce_sum(x, axis=_axis(axis), keepdims=keepdims)


def prod(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: builtins.bool = False) -> Any:
    if dtype is not None:
        x = tf.cast(x, dtype)
    return tf.reduce_prod(x, axis=_axis(axis), keepdims=keepdims)


def mean(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
    return tf.reduce_mean(x, axis=_axis(axis), keepdims=keepdims)


def max(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    return tf.reduce_max(x, axis=_axis(axis), keepdims=keepdims)


def min(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    return tf.reduce_min(x, axis=_axis(axis), keepdims=keepdims)


def any(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    return tf.reduce_any(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def all(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:  # noqa: A001
    return tf.reduce_all(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def where(condition: Any, x1: Any, x2: Any, /) -> Any:
    x1, x2 = _pair(x1, x2)
    return tf.where(condition, x1, x2)


def _binary(fn: Any) -> Any:
    def op(x1: Any, x2: Any, /) -> Any:
        return fn(*_pair(x1, x2))

    op.__name__ = fn.__name__
    return op


def _unary(fn: Any) -> Any:
    def op(x: Any, /) -> Any:
        return fn(x)

    op.__name__ = getattr(fn, "__name__", "op")
    return op


add = _binary(tf.add)
subtract = _binary(tf.subtract)
multiply = _binary(tf.multiply)
divide = _binary(tf.divide)
pow = _binary(tf.pow)  # noqa: A001
maximum = _binary(tf.maximum)
minimum = _binary(tf.minimum)
equal = _binary(tf.equal)
not_equal = _binary(tf.not_equal)
less = _binary(tf.less)
less_equal = _binary(tf.less_equal)
greater = _binary(tf.greater)
greater_equal = _binary(tf.greater_equal)
logical_and = _binary(tf.logical_and)
logical_or = _binary(tf.logical_or)
atan2 = _binary(tf.atan2)

abs = _unary(tf.abs)  # noqa: A001
exp = _unary(tf.exp)
expm1 = _unary(tf.math.expm1)
log = _unary(tf.math.log)
log1p = _unary(tf.math.log1p)
sqrt = _unary(tf.sqrt)
square = _unary(tf.square)
sign = _unary(tf.sign)
negative = _unary(tf.negative)
cos = _unary(tf.cos)
sin = _unary(tf.sin)
tanh = _unary(tf.tanh)
cosh = _unary(tf.cosh)
floor = _unary(tf.floor)
ceil = _unary(tf.math.ceil)
round = _unary(tf.round)  # noqa: A001
isfinite = _unary(tf.math.is_finite)
isnan = _unary(tf.math.is_nan)
isinf = _unary(tf.math.is_inf)
logical_not = _unary(tf.logical_not)


def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:  # noqa: A002
    if min is not None:
        x = tf.maximum(x, _tensor(min, x))
    if max is not None:
        x = tf.minimum(x, _tensor(max, x))
    return x


def logaddexp(x1: Any, x2: Any, /) -> Any:
    x1, x2 = _pair(x1, x2)
    m = tf.maximum(x1, x2)
    return m + tf.math.log1p(tf.exp(-tf.abs(x1 - x2)))


def matmul(x1: Any, x2: Any, /) -> Any:
    if x2.shape.rank == 1:
        return tf.linalg.matvec(x1, x2)
    return tf.linalg.matmul(x1, x2)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    return tf.reduce_sum(x1 * x2, axis=axis)


def expand_dims(x: Any, /, *, axis: int = 0) -> Any:
    return tf.expand_dims(x, axis)


def squeeze(x: Any, /, axis: Any) -> Any:
    return tf.squeeze(x, axis=_axis(axis))


def reshape(x: Any, /, shape: Any, *, copy: Any = None) -> Any:
    return tf.reshape(x, shape)


def broadcast_to(x: Any, /, shape: Any) -> Any:
    return tf.broadcast_to(x, shape)


def permute_dims(x: Any, /, axes: Any) -> Any:
    return tf.transpose(x, axes)


def moveaxis(x: Any, source: int, destination: int, /) -> Any:
    return tf.experimental.numpy.moveaxis(x, source, destination)


def stack(arrays: Any, /, *, axis: int = 0) -> Any:
    return tf.stack(list(arrays), axis=axis)


def concat(arrays: Any, /, *, axis: int = 0) -> Any:
    return tf.concat(list(arrays), axis=axis)


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    return tf.experimental.numpy.take_along_axis(x, indices, axis=axis)


def take(x: Any, indices: Any, /, *, axis: Any = None) -> Any:
    return tf.gather(x, indices, axis=axis if axis is not None else 0)


def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None) -> Any:
    if stop is None:
        start, stop = 0, start
    return tf.range(start, stop, step, dtype=dtype or tf.int64)


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.zeros(shape, dtype=dtype or tf.float32)


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.ones(shape, dtype=dtype or tf.float32)


def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.fill(shape, tf.constant(fill_value, dtype=dtype))


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.zeros_like(x, dtype=dtype)


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.ones_like(x, dtype=dtype)


def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=dtype or x.dtype))


def count_nonzero(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
    return tf.math.count_nonzero(x, axis=_axis(axis), keepdims=keepdims)


def cumulative_sum(x: Any, /, *, axis: Any = None, dtype: Any = None, include_initial: builtins.bool = False) -> Any:
    return tf.cumsum(x, axis=axis or 0)


def sort(x: Any, /, *, axis: int = -1, descending: builtins.bool = False, stable: builtins.bool = True) -> Any:
    return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")
