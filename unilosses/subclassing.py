"""Keras-style subclasses of :class:`unilosses.Loss`: override ``call(y_true, y_pred)``.

Code written for ``keras.losses.Loss`` ports by changing its import::

    import unilosses as ul

    class MeanSquaredError(ul.Loss):          # was: keras.losses.Loss
        def call(self, y_true, y_pred):
            xp = ul.namespace(y_pred)           # was: keras.ops
            return xp.mean((y_pred - y_true) ** 2, axis=-1)

``call`` runs on the arrays the caller passes (NumPy, JAX, PyTorch, TensorFlow,
any Array API library: y_pred decides, as for every unilosses loss), not on
Keras tensors. ``__call__(y_true, y_pred, sample_weight=None)`` does what
Keras' does:

1. takes the Keras mask of ``y_pred`` (``keras.backend.get_keras_mask``, when
   Keras is imported; else the ``_keras_mask`` attribute);
2. converts ``y_pred`` and ``y_true`` (integer labels too) to the loss's ``dtype``
   in y_pred's framework and device: ``keras.backend.floatx()`` (float32) unless
   the constructor's ``dtype`` says otherwise (a name or a ``keras.DTypePolicy``,
   whose ``compute_dtype`` counts); ``dtype="input"`` keeps the input's dtype
   (16-bit floats computed in float32, as the function losses do);
3. calls ``call``, merges the mask of its result (``&``) with the input mask;
4. reduces with :func:`unilosses.reduction.reduce`: masked entries give 0 and
   leave every denominator (Keras' ``sum / number of kept entries``), sample
   weights multiply, ``reduction`` is any unilosses reduction (Keras' names, and
   ``"sum_by_nonzero_weights"`` and ``"stats"``).

Differences from ``keras.losses.Loss``, each deliberate: the result is an array
of y_pred's framework (Keras returns a tensor of its backend); a sample weight
of lower rank than the values is aligned on the leading axes (Keras broadcasts
it against the trailing ones unless the ranks differ by one trailing 1); no
division by the number of replicas under ``tf.distribute`` (use
``unilosses.keras.wrap`` inside Keras training, where Keras does it); ``y_true``
and ``y_pred`` are single arrays, not nested structures; the constructor takes
keyword arguments only.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np

from unilosses.backends import _BY_TYPE, convert, resolve
from unilosses.reduction import align_weight, canonical_reduction, reduce

__all__ = ["apply", "follow_input_dtype", "init", "keras_mask"]

_FLOATS = ("float16", "bfloat16", "float32", "float64")
#: the ``dtype`` that keeps the input's dtype (16-bit floats in float32)
INPUT = "input"


def _floatx() -> str:
    keras = sys.modules.get("keras")
    return keras.backend.floatx() if keras is not None else "float32"


def _dtype_name(dtype: Any) -> str:
    """A floating dtype's name from a name, a ``keras.DTypePolicy`` or a framework dtype."""
    if dtype is None:
        return _floatx()
    if hasattr(dtype, "compute_dtype"):  # keras.DTypePolicy
        return _dtype_name(dtype.compute_dtype)
    if isinstance(dtype, str):
        name = dtype.removeprefix("mixed_")  # Keras' "mixed_float16": computes in float16
    elif isinstance(getattr(dtype, "name", None), str):  # NumPy, ml_dtypes, TensorFlow dtypes
        name = dtype.name
    else:  # torch.float16
        name = str(dtype).rpartition(".")[2]
    if name == INPUT or name in _FLOATS:
        return name
    raise ValueError(f"dtype: expected a floating dtype ({', '.join(_FLOATS)}), a keras.DTypePolicy or {INPUT!r}, got {dtype!r}")


def _framework_dtype(be: Any, name: str) -> Any:
    if be.name in ("numpy", "dask"):  # NumPy dtypes (array-api-compat's Dask namespace lacks float16)
        if name == "bfloat16":
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        return np.dtype(name)
    dtype = getattr(be.xp, name, None)
    if dtype is None:
        dtype = getattr(importlib.import_module(be.name), name, None)
    if dtype is None:
        raise TypeError(f"dtype: {be.name} has no {name}")
    return dtype


def init(loss: Any, reduction: Any, name: str, dtype: Any = None, **unexpected: Any) -> None:
    """``Loss.__init__`` of a Keras-style subclass: Keras' ``name``, ``reduction``, ``dtype``."""
    if unexpected:
        raise TypeError(
            f"{type(loss).__name__}: unexpected argument(s) {sorted(unexpected)}; "
            "a subclass that overrides call() takes name, reduction and dtype (add your own "
            "options to its __init__)"
        )
    try:
        loss.reduction = canonical_reduction(reduction)
    except ValueError as e:  # Keras' wording first (its tests match it), then ours
        raise ValueError(f"Invalid value for argument `reduction`. {e}") from None
    loss.name = name
    loss._dtype_arg = dtype
    loss._dtype_name = _dtype_name(dtype)
    loss._dtype = None if loss._dtype_name == INPUT else loss._dtype_name
    loss._dtypes = {}


def follow_input_dtype(loss: Any) -> None:
    """Make ``loss`` compute in its inputs' dtype, as ``dtype="input"`` does (for the
    conformance kit, whose finite differences need float64)."""
    loss._dtype_name, loss._dtype, loss._dtypes = INPUT, None, {}


def keras_mask(x: Any) -> Any:
    """The Keras mask attached to ``x``, or None (no Keras import)."""
    if "keras" in sys.modules:
        try:
            from keras.src.backend import get_keras_mask
        except ImportError:  # pragma: no cover - other Keras versions
            pass
        else:
            return get_keras_mask(x)
    return getattr(x, "_keras_mask", None)


def _compute_dtype(loss: Any, be: Any, dtype: Any) -> Any:
    key = (be.name, dtype)
    out = loss._dtypes.get(key)
    if out is None:
        if loss._dtype_name == INPUT:
            out = be.compute_dtype(dtype)
        else:
            out = _framework_dtype(be, loss._dtype_name)
        loss._dtypes[key] = out
    return out


def apply(loss: Any, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
    """``Loss.__call__`` of a Keras-style subclass (see the module doc)."""
    in_mask = keras_mask(y_pred)
    be = _BY_TYPE.get(type(y_pred))
    if be is None:  # Python / NumPy values, variables: as the function losses take them
        y_pred, be = resolve(y_pred)
    dtype = _compute_dtype(loss, be, y_pred.dtype)
    if y_pred.dtype != dtype:
        y_pred = be.xp.astype(y_pred, dtype)
    y_true = convert(be, y_true, y_pred, "y_true", dtype)
    values = loss.call(y_true, y_pred)
    out_mask = keras_mask(values)
    values = convert(be, values, y_pred, f"{type(loss).__name__}.call's result", dtype)
    masks = [convert(be, m, y_pred, "mask") for m in (in_mask, out_mask) if m is not None]
    valid = None
    if masks:
        xp = be.xp
        valid = masks[0] if len(masks) == 1 else xp.logical_and(masks[0], masks[1])
        valid = align_weight(be, valid, values.shape, "mask")
        if not xp.isdtype(valid.dtype, "bool"):
            valid = valid != 0
        if tuple(valid.shape) != tuple(values.shape):
            valid = xp.broadcast_to(valid, values.shape)
    if sample_weight is not None:
        sample_weight = convert(be, sample_weight, y_pred, "sample_weight", dtype)
    return reduce(be, values, sample_weight, loss.reduction, valid=valid)
