"""An Array API namespace over NumPy that is cheap to import.

``array_api_compat.numpy`` copies every public name of NumPy into itself, and
touching each one makes NumPy import its lazily loaded submodules
(``numpy.f2py``, ``numpy.testing``, ``numpy.ma``, ``numpy.polynomial``...):
140-180 ms on the first NumPy call of a process. This module defines the
functions the unilosses specification uses, with the standard's semantics on
NumPy >= 1.26 (the same wrappers array-api-compat applies where NumPy differs:
``asarray``/``arange`` with ``device``, ``astype`` as a function, ``clip``
keeping the input's dtype, ``isdtype``, ``take_along_axis`` with a default axis,
``count_nonzero`` as an array). Every other name is looked up lazily in
``array_api_compat.numpy``, so the namespace stays complete; the test suite checks
that the specification never needs that fallback and that each function here
agrees with array-api-compat's.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

__array_api_version__ = "2023.12"

bool = np.bool_  # noqa: A001 - the standard's name
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint16, uint32, uint64 = np.uint8, np.uint16, np.uint32, np.uint64
float32, float64, complex64, complex128 = np.float32, np.float64, np.complex64, np.complex128
e, pi, inf, nan, newaxis = np.e, np.pi, np.inf, np.nan, np.newaxis  # type: ignore[misc]

# NumPy's own functions already have the standard's semantics for these
abs, exp, expm1, log, log1p, sqrt, square, sign = np.abs, np.exp, np.expm1, np.log, np.log1p, np.sqrt, np.square, np.sign  # noqa: A001
sin, cos, tanh, negative, reciprocal, logaddexp = np.sin, np.cos, np.tanh, np.negative, np.reciprocal, np.logaddexp
add, subtract, multiply, divide, maximum, minimum = np.add, np.subtract, np.multiply, np.divide, np.maximum, np.minimum
equal, not_equal, less, less_equal, greater, greater_equal = np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal
logical_and, logical_or, logical_not, logical_xor = np.logical_and, np.logical_or, np.logical_not, np.logical_xor
isfinite, isnan, isinf, where = np.isfinite, np.isnan, np.isinf, np.where
sum, prod, mean, max, min, any, all = np.sum, np.prod, np.mean, np.max, np.min, np.any, np.all  # noqa: A001
argmax, argmin, matmul, take = np.argmax, np.argmin, np.matmul, np.take
reshape, squeeze, expand_dims, broadcast_to, stack = np.reshape, np.squeeze, np.expand_dims, np.broadcast_to, np.stack
zeros_like, ones_like, full_like, empty_like = np.zeros_like, np.ones_like, np.full_like, np.empty_like
concat = np.concatenate
pow = np.power  # noqa: A001
iinfo = np.iinfo


def _check_device(device: Any) -> None:
    if device not in (None, "cpu"):
        raise ValueError(f"device: NumPy arrays live on 'cpu', got {device!r}")


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: builtins.bool | None = None) -> Any:
    _check_device(device)
    if copy is None:
        return np.asarray(obj, dtype=dtype)
    if copy:
        return np.array(obj, dtype=dtype, copy=True)
    return _compat().asarray(obj, dtype=dtype, copy=False)  # NumPy 1.26 has no copy=False semantics


def astype(x: Any, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> Any:
    _check_device(device)
    return x.astype(dtype, copy=copy)


def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None) -> Any:
    _check_device(device)
    return np.arange(start, stop, step, dtype=dtype)


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    _check_device(device)
    return np.zeros(shape, dtype=dtype)


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    _check_device(device)
    return np.ones(shape, dtype=dtype)


def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
    _check_device(device)
    return np.full(shape, fill_value, dtype=dtype)


def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:  # noqa: A002 - the standard's names
    """The result has ``x``'s dtype (NumPy would promote to an array bound's dtype)."""
    if x.dtype.kind != "f" and not _int_bounds(x.dtype, min, max):  # array-api-compat's rules
        return _compat().clip(x, min, max)  # (float bounds, or ones outside the dtype's range)
    if min is None and max is None:
        return x.copy()[()]
    lo = None if min is None else np.asarray(min, dtype=x.dtype)
    hi = None if max is None else np.asarray(max, dtype=x.dtype)
    return np.clip(x, lo, hi)


def _int_bounds(dtype: Any, *bounds: Any) -> builtins.bool:
    """Integer ``dtype`` and bounds that are None or Python ints within its range."""
    if dtype.kind not in "iu":
        return False
    info = np.iinfo(dtype)
    return builtins.all(b is None or (type(b) is int and info.min <= b <= info.max) for b in bounds)


def permute_dims(x: Any, /, axes: tuple[int, ...]) -> Any:
    return np.transpose(x, axes)  # NumPy 1.26 has no permute_dims


def floor(x: Any, /) -> Any:
    return x.copy() if x.dtype.kind in "iub" else np.floor(x)  # NumPy < 2 gives floats for integers


def ceil(x: Any, /) -> Any:
    return x.copy() if x.dtype.kind in "iub" else np.ceil(x)


def trunc(x: Any, /) -> Any:
    return x.copy() if x.dtype.kind in "iub" else np.trunc(x)


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    return np.take_along_axis(x, indices, axis=axis)


def count_nonzero(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
    out = np.count_nonzero(x, axis=axis, keepdims=keepdims)
    return np.asarray(out) if axis is None and not keepdims else out


def sort(x: Any, /, *, axis: int = -1, descending: builtins.bool = False, stable: builtins.bool = True) -> Any:
    out = np.sort(x, axis=axis, kind="stable" if stable else None)
    return np.flip(out, axis=axis) if descending else out


def cumulative_sum(x: Any, /, *, axis: int | None = None, dtype: Any = None, include_initial: builtins.bool = False) -> Any:
    """``numpy.cumulative_sum`` (NumPy >= 2.1) for older NumPy."""
    if axis is None:
        if x.ndim > 1:
            raise ValueError("axis: cumulative_sum needs an axis for more than one dimension")
        axis = 0
    out = np.cumsum(x, axis=axis, dtype=dtype)
    if include_initial:
        shape = list(out.shape)
        shape[axis] = 1
        out = np.concatenate([np.zeros(shape, dtype=out.dtype), out], axis=axis)
    return out


def finfo(type_: Any, /) -> Any:
    return np.finfo(type_.dtype if isinstance(type_, np.ndarray) else type_)


_KINDS = {
    "bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu",
    "real floating": "f", "complex floating": "c", "numeric": "iufc",
}


def _isdtype(dtype: Any, kind: Any) -> builtins.bool:
    """``numpy.isdtype`` (NumPy >= 2) for NumPy 1.26."""
    if isinstance(kind, tuple):
        return builtins.any(_isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        return np.dtype(dtype).kind in _KINDS[kind]
    return np.dtype(dtype) == np.dtype(kind)


isdtype = getattr(np, "isdtype", _isdtype)


def _compat() -> Any:
    import array_api_compat.numpy

    return array_api_compat.numpy


def __getattr__(name: str) -> Any:
    """Anything else the standard names, from array-api-compat (imported on first use)."""
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(_compat(), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value
