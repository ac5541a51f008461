"""Helpers for cross-backend tests, for unilosses' suite and for downstream projects.

A facade: the array helpers live in :mod:`unilosses.arrays`, the conformance kit in
:mod:`unilosses.kit`; this module re-exports what tests use and adds :func:`assert_close`
and the pytest plugin.

- :data:`BACKENDS`, :data:`AUTODIFF` (those with autodiff), :func:`available_backends`:
  the installed backends (restricted by the environment variable ``UNILOSSES_BACKENDS``,
  a comma-separated list).
- :func:`get_backend`: an :class:`ArrayBackend` that moves NumPy arrays into a
  framework and back.
- :func:`assert_close`: checks framework, shape, dtype and device before values;
  :func:`assert_like` the framework and device alone (a lazy Dask result stays uncomputed).
- A pytest plugin (``-p unilosses.testing`` or ``pytest_plugins = ["unilosses.testing"]``)
  provides the fixture ``xp_backend``, parametrized over :func:`available_backends`.
- The conformance kit for your own losses (:mod:`unilosses.kit`): :func:`check_loss`
  runs a loss on every installed backend with your example inputs (:class:`LossCase`)
  and checks values, gradients, dtype, device, tracing, 16-bit, input mutation;
  :func:`conformance_test` makes it one pytest test per backend.

Importing this module imports no framework; :func:`get_backend` imports one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.arrays import (
    AUTODIFF,
    BACKENDS,
    ArrayBackend,
    available_backends,
    device_of,
    get_backend,
    to_numpy,
)
from unilosses.backends import framework_name
from unilosses.kit import CheckReport, LossCase, check_loss, conformance_test

__all__ = [
    "AUTODIFF",
    "BACKENDS",
    "ArrayBackend",
    "CheckReport",
    "LossCase",
    "assert_close",
    "assert_like",
    "available_backends",
    "check_loss",
    "conformance_test",
    "get_backend",
    "to_numpy",
]


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
        assert_like(actual, like)
    if dtype is not None:
        assert actual.dtype == dtype, f"expected dtype {dtype}, got {actual.dtype}"
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"expected shape {e.shape}, got {a.shape}"
    np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol)


def assert_like(actual: Any, like: Any) -> None:
    """Assert ``actual`` (an array, or a named tuple of them such as ``LossStats``) is an array of
    ``like``'s framework on ``like``'s device; computes nothing (a Dask result stays lazy)."""
    if isinstance(actual, tuple) and hasattr(actual, "_fields"):
        for a in actual:
            assert_like(a, like)
        return
    fa, fl = framework_name(actual), framework_name(like)
    if fl == "builtins":
        fl = "numpy"
    assert fa == fl, f"expected an array of {fl}, got {type(actual).__module__}.{type(actual).__name__}"
    da, dl = device_of(actual), device_of(like)
    assert da == dl, f"expected the device {dl}, got {da}"


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
