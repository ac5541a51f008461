"""Dispatch: from the arrays a caller passes to a :class:`Backend`.

Detection looks at the array's type and its defining module only; no framework
is imported here. A framework that is not in ``sys.modules`` cannot have made
the array, so an unknown type never triggers an import of TensorFlow or torch.
The answer is cached per type: after the first call, dispatch is one dict
lookup.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.backends.generic import Backend

__all__ = ["Backend", "backend_for", "convert", "framework_name"]

_BY_TYPE: dict[type, Backend] = {}
_BY_NAME: dict[str, Backend] = {}

# Python objects that y_true / weights may be given as: moved to y_pred's backend.
_HOST_TYPES = (int, float, bool, list, tuple, np.ndarray, np.generic)


def framework_name(obj: Any) -> str:
    """The framework an object belongs to, from its type's module (no imports)."""
    root = type(obj).__module__.partition(".")[0]
    if root == "jaxlib":
        return "jax"
    if root in ("builtins",) and isinstance(obj, (int, float, bool, list, tuple)):
        return "python"
    return root


def _make(name: str, sample: Any) -> Backend:
    """Build the Backend for framework ``name``; imports only backend modules."""
    if name == "numpy":
        from unilosses.backends.numpy import NumpyBackend

        return NumpyBackend()
    if name == "torch":
        from unilosses.backends.torch import TorchBackend

        return TorchBackend()
    if name == "jax":
        from unilosses.backends.jax import JaxBackend

        return JaxBackend()
    if name == "tensorflow":
        from unilosses.backends.tensorflow import TensorFlowBackend

        return TensorFlowBackend()
    import array_api_compat

    try:
        xp = array_api_compat.array_namespace(sample)
    except TypeError:
        raise TypeError(
            f"y_pred: expected an array of NumPy, JAX, PyTorch, TensorFlow or another "
            f"Array API library, got {type(sample).__module__}.{type(sample).__qualname__}"
        ) from None
    if name == "dask":
        from unilosses.backends.dask import DaskBackend

        return DaskBackend(xp)
    return Backend(name, xp)


def _lookup(obj: Any) -> Backend:
    tp = type(obj)
    be = _BY_TYPE.get(tp)
    if be is not None:
        return be
    name = framework_name(obj)
    if name == "python":
        name = "numpy"
    # No lock: dict.setdefault is atomic, a backend built twice by racing
    # threads is dropped, and a lock could not be traced by torch.compile.
    be = _BY_NAME.get(name)
    if be is None:
        be = _BY_NAME.setdefault(name, _make(name, obj))
    return _BY_TYPE.setdefault(tp, be)


def backend_for(y_pred: Any) -> Backend:
    """The backend of ``y_pred``: one dict lookup once its type has been seen."""
    be = _BY_TYPE.get(type(y_pred))
    return be if be is not None else _lookup(y_pred)


def convert(be: Backend, x: Any, like: Any, name: str, dtype: Any = None) -> Any:
    """Move ``x`` (an array of ``be``, or a Python / NumPy value) into ``be``.

    Python scalars, lists and NumPy arrays are created in ``be``'s namespace on
    ``like``'s device; an array of another framework is a TypeError naming both.
    ``dtype``, if given, is the dtype of the result.
    """
    if x is None:
        return None
    other = _BY_TYPE.get(type(x))
    if other is be:
        return x if dtype is None or x.dtype == dtype else be.xp.astype(x, dtype)
    if isinstance(x, _HOST_TYPES):
        return be.from_host(x, like, dtype)
    if other is None:
        other = _lookup(x)
        if other is be:
            return convert(be, x, like, name, dtype)
    raise TypeError(
        f"{name}: got an array of {other.name} while y_pred is an array of {be.name}; "
        f"pass arrays of one framework (or Python / NumPy values, which are converted)"
    )
