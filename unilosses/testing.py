"""Helpers for cross-backend tests, for unilosses' suite and for downstream projects.

- :func:`available_backends`: the installed backends (restricted by the
  environment variable ``UNILOSSES_BACKENDS``, a comma-separated list).
- :func:`get_backend`: an :class:`ArrayBackend` that moves NumPy arrays into a
  framework and back.
- :func:`assert_close`: checks framework, shape, dtype and device before values.
- A pytest plugin (``-p unilosses.testing`` or ``pytest_plugins = ["unilosses.testing"]``)
  provides the fixture ``xp_backend``, parametrized over :func:`available_backends`.
- The conformance kit for your own losses (:mod:`unilosses.kit`): :func:`check_loss`
  runs a loss on every installed backend with your example inputs (:class:`LossCase`)
  and checks values, gradients, dtype, device, tracing, 16-bit, input mutation;
  :func:`conformance_test` makes it one pytest test per backend.

Importing this module imports no framework; :func:`get_backend` imports one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import numpy as np

from unilosses.kit import CheckReport, LossCase, check_loss, conformance_test

__all__ = [
    "BACKENDS",
    "ArrayBackend",
    "CheckReport",
    "LossCase",
    "assert_close",
    "available_backends",
    "check_loss",
    "conformance_test",
    "get_backend",
    "to_numpy",
]

#: every backend unilosses is tested on, in a stable order
BACKENDS = ("numpy", "array_api_strict", "jax", "torch", "tensorflow", "dask")
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


def _framework(x: Any) -> str:
    from unilosses.backends import framework_name

    return framework_name(x)


def to_numpy(x: Any) -> Any:
    """Any backend's array (or a LossStats / tuple of them) as NumPy, on the host."""
    if isinstance(x, tuple):
        return type(x)(*(to_numpy(v) for v in x)) if hasattr(x, "_fields") else tuple(to_numpy(v) for v in x)
    name = _framework(x)
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


def _device(x: Any) -> Any:
    name = _framework(x)
    if name == "torch":
        return x.device
    if name == "jax":
        return getattr(x, "devices", lambda: None)()
    if name == "tensorflow":
        return getattr(x, "device", None)
    return None


def assert_close(actual: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-6, like: Any = None, dtype: Any = None) -> None:
    """Assert ``actual`` equals ``expected`` (NumPy or any backend) to tolerance.

    With ``like`` (an input array), ``actual`` must be an array of ``like``'s
    framework on ``like``'s device. With ``dtype``, ``actual.dtype`` must equal it.
    The shape must equal ``expected``'s.
    """
    if isinstance(expected, tuple) and hasattr(expected, "_fields"):
        assert isinstance(actual, tuple) and getattr(actual, "_fields", None) == expected._fields, (
            f"expected a {type(expected).__name__}, got {type(actual).__name__}"
        )
        for a, e in zip(actual, expected):
            assert_close(a, e, rtol=rtol, atol=atol, like=like, dtype=dtype)
        return
    if like is not None:
        fa, fl = _framework(actual), _framework(like)
        if fl == "builtins":
            fl = "numpy"
        assert fa == fl, f"expected an array of {fl}, got {type(actual).__module__}.{type(actual).__name__}"
        da, dl = _device(actual), _device(like)
        assert da == dl, f"expected the device {dl}, got {da}"
    if dtype is not None:
        assert actual.dtype == dtype, f"expected dtype {dtype}, got {actual.dtype}"
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"expected shape {e.shape}, got {a.shape}"
    np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol)


# ---------------------------------------------------------------- pytest plugin
try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(params=available_backends())
    def xp_backend(request: Any) -> ArrayBackend:
        """An :class:`ArrayBackend` for each installed backend."""
        return ArrayBackend(request.param)
