"""Arrays between NumPy and the frameworks: the lowest of the tools' modules.

What every tool (:mod:`unilosses.check`, :mod:`unilosses.kit`, :mod:`unilosses.testing`,
:mod:`unilosses.bench`) shares, on top of the library and of nothing else:

- :data:`BACKENDS`, every backend unilosses is tested on, and :data:`AUTODIFF`, those
  with automatic differentiation;
- :func:`available_backends`: the installed backends (restricted by the environment
  variable ``UNILOSSES_BACKENDS``, a comma-separated list);
- :class:`ArrayBackend` (and :func:`get_backend`): moves NumPy arrays into a framework;
- :func:`to_numpy`: any backend's array back to NumPy; :func:`device_of`: the device it is on.

Importing this module imports no framework; :class:`ArrayBackend` imports one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import numpy as np

from unilosses.backends import framework_name

__all__ = [
    "AUTODIFF",
    "BACKENDS",
    "ArrayBackend",
    "available_backends",
    "device_of",
    "get_backend",
    "to_numpy",
]

#: every backend unilosses is tested on, in a stable order
BACKENDS = ("numpy", "array_api_strict", "jax", "torch", "tensorflow", "dask")
#: the backends with automatic differentiation (and float16 / bfloat16, and their own thread pools)
AUTODIFF = ("jax", "torch", "tensorflow")
_MODULE = {"dask": "dask.array"}


def available_backends() -> list[str]:
    """Installed backends, in :data:`BACKENDS` order, filtered by ``UNILOSSES_BACKENDS``."""
    wanted = os.environ.get("UNILOSSES_BACKENDS")
    names = [b.strip() for b in wanted.split(",") if b.strip()] if wanted else list(BACKENDS)
    unknown = set(names) - set(BACKENDS)
    if unknown:
        raise ValueError(f"UNILOSSES_BACKENDS: unknown backend(s) {sorted(unknown)}; known: {BACKENDS}")
    return [b for b in BACKENDS if b in names and importlib.util.find_spec(_MODULE.get(b, b).split(".")[0])]


class ArrayBackend:
    """Moves NumPy arrays into one framework (on its default device) and back."""

    def __init__(self, name: str) -> None:
        if name not in BACKENDS:
            raise ValueError(f"name: expected one of {BACKENDS}, got {name!r}")
        self.name = name
        self.module = importlib.import_module(_MODULE.get(name, name))
        if name == "jax":
            self.module = importlib.import_module("jax.numpy")

    def __repr__(self) -> str:
        return f"ArrayBackend({self.name!r})"

    def dtype(self, name: str) -> Any:
        """The framework's dtype called ``name`` (``"float32"``, ``"int64"``, ``"bfloat16"``)."""
        if self.name == "tensorflow":
            return getattr(self.module, name)
        if self.name in ("numpy", "dask"):
            if name == "bfloat16":
                import ml_dtypes

                return ml_dtypes.bfloat16
            return np.dtype(name)
        return getattr(self.module, name)

    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        """``x`` (NumPy / Python) as an array of this framework; ``dtype`` by name."""
        arr = np.asarray(x)
        m, name = self.module, self.name
        if name == "numpy":
            return arr.astype(self.dtype(dtype)) if dtype else arr.copy()
        if name == "dask":
            a = arr.astype(self.dtype(dtype)) if dtype else arr
            chunks = tuple(max(1, (s + 1) // 2) for s in a.shape)
            return m.from_array(a, chunks=chunks or -1)
        if name == "torch":
            t = m.as_tensor(arr.copy())
            return t.to(self.dtype(dtype)) if dtype else t
        if name == "tensorflow":
            t = m.convert_to_tensor(arr)
            return m.cast(t, self.dtype(dtype)) if dtype else t
        if name == "jax":
            return m.asarray(arr, dtype=self.dtype(dtype) if dtype else None)
        return m.asarray(arr, dtype=self.dtype(dtype) if dtype else None)

    def to_numpy(self, x: Any) -> Any:
        return to_numpy(x)


def get_backend(name: str) -> ArrayBackend:
    return ArrayBackend(name)


def to_numpy(x: Any) -> Any:
    """Any backend's array (or a LossStats / tuple of them) as NumPy, on the host."""
    if isinstance(x, tuple):
        return type(x)(*(to_numpy(v) for v in x)) if hasattr(x, "_fields") else tuple(to_numpy(v) for v in x)
    name = framework_name(x)
    if name == "torch":
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        return x.numpy()
    if name == "tensorflow":
        return np.asarray(x.numpy())
    if name == "dask":
        return np.asarray(x.compute())
    if name == "array_api_strict":
        return np.asarray(x._array)
    return np.asarray(x)


def device_of(x: Any) -> Any:
    """The device ``x`` is on (torch's ``x.device``, JAX's ``x.devices()``, TensorFlow's
    ``x.device``); None for the backends without devices (NumPy, Dask, array_api_strict)."""
    name = framework_name(x)
    if name == "torch":
        return x.device
    if name == "jax":
        return getattr(x, "devices", lambda: None)()
    if name == "tensorflow":
        return getattr(x, "device", None)
    return None
