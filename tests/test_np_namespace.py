"""The NumPy backend's own Array API namespace (``unilosses/backends/np_namespace.py``).

It exists to make the first NumPy call cheap (array-api-compat's NumPy namespace
imports ``numpy.f2py``, ``numpy.testing``, ``numpy.ma``...). These tests hold it to
array-api-compat's semantics function by function, and check that the
specification never needs the lazy fallback to array-api-compat.
"""

from __future__ import annotations

import subprocess
import sys

import array_api_compat.numpy as compat
import numpy as np
import pytest

from unilosses.backends import np_namespace as xnp

F32 = np.array([[-2.0, 0.25, 3.5], [1.0, -0.5, 7.0]], dtype=np.float32)


def _same(ours, theirs):
    assert type(ours) is type(theirs)
    assert np.asarray(ours).dtype == np.asarray(theirs).dtype and np.shape(ours) == np.shape(theirs)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "bounds",
    [(0.0, 1.0), (None, 0.5), (-1.0, None), (np.float64(-1.0), np.asarray(2.0)), (np.zeros(3), None), (None, None)],
)
def test_clip_keeps_dtype_like_array_api_compat(bounds):
    """A float64 bound never promotes a float32 array (NumPy's own clip would)."""
    lo, hi = bounds
    _same(xnp.clip(F32, lo, hi), compat.clip(F32, lo, hi))
    _same(xnp.clip(F32, min=lo, max=hi), compat.clip(F32, min=lo, max=hi))
    assert xnp.clip(F32, lo, hi).dtype == np.float32


def test_clip_of_integers_uses_array_api_compat():
    x = np.array([-5, 0, 300], dtype=np.int16)
    _same(xnp.clip(x, -1e6, 1e6), compat.clip(x, -1e6, 1e6))
    _same(xnp.clip(x, -10**6, 10**6), compat.clip(x, -10**6, 10**6))
    for lo, hi in ((0, None), (None, 7), (-3, 200), (None, None)):  # NumPy's own clip, same result
        _same(xnp.clip(x, lo, hi), compat.clip(x, lo, hi))
        _same(xnp.clip(x.astype(np.uint8), lo and abs(lo), hi), compat.clip(x.astype(np.uint8), lo and abs(lo), hi))


def test_creation_and_conversion_like_array_api_compat():
    _same(xnp.asarray([1.0, 2.0], dtype=xnp.float32, device="cpu"), compat.asarray([1.0, 2.0], dtype=compat.float32, device="cpu"))
    a = np.arange(3.0)
    assert xnp.asarray(a) is a and xnp.asarray(a, copy=True) is not a
    with pytest.raises(ValueError):
        xnp.asarray([1.0], dtype=xnp.float32, copy=False)  # a list needs a copy
    _same(xnp.astype(F32, xnp.float64), compat.astype(F32, compat.float64))
    assert xnp.astype(F32, xnp.float32, copy=False) is F32
    _same(xnp.arange(5, dtype=xnp.int64, device="cpu"), compat.arange(5, dtype=compat.int64, device="cpu"))
    _same(xnp.arange(1.0, 2.0, 0.25), compat.arange(1.0, 2.0, 0.25))
    for name in ("zeros", "ones"):
        _same(getattr(xnp, name)((2, 3), dtype=xnp.float32), getattr(compat, name)((2, 3), dtype=compat.float32))
    _same(xnp.full((2,), 3.0, dtype=xnp.float32), compat.full((2,), 3.0, dtype=compat.float32))
    _same(xnp.full_like(F32, 2.0), compat.full_like(F32, 2.0))
    with pytest.raises(ValueError, match="device"):
        xnp.asarray([1.0], device="cuda")


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc"])
@pytest.mark.parametrize("x", [F32, np.array([[-3, 2]], dtype=np.int32)])
def test_rounding_like_array_api_compat(name, x):
    _same(getattr(xnp, name)(x), getattr(compat, name)(x))


def test_reductions_and_indexing_like_array_api_compat():
    _same(xnp.count_nonzero(F32), compat.count_nonzero(F32))
    _same(xnp.count_nonzero(F32, axis=0), compat.count_nonzero(F32, axis=0))
    idx = np.array([[2], [0]])
    _same(xnp.take_along_axis(F32, idx), compat.take_along_axis(F32, idx))
    rows = np.array([[1, 0, 1]])
    _same(xnp.take_along_axis(F32, rows, axis=0), compat.take_along_axis(F32, rows, axis=0))
    _same(xnp.sum(F32, axis=-1, keepdims=True), compat.sum(F32, axis=-1, keepdims=True))
    _same(xnp.max(F32, axis=0), compat.max(F32, axis=0))
    _same(xnp.mean(F32), compat.mean(F32))
    _same(xnp.permute_dims(F32, (1, 0)), compat.permute_dims(F32, (1, 0)))
    assert xnp.finfo(F32).eps == compat.finfo(F32).eps == xnp.finfo(xnp.float32).eps


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16", "int64", "float32", "float64", "complex64"])
@pytest.mark.parametrize(
    "kind", ["bool", "signed integer", "unsigned integer", "integral", "real floating", "complex floating", "numeric", "float32", ("bool", "real floating")]
)
def test_isdtype_like_array_api_compat(dtype, kind):
    k = getattr(np, kind) if kind == "float32" else kind
    assert xnp.isdtype(np.dtype(dtype), k) == compat.isdtype(np.dtype(dtype), k)
    assert xnp._isdtype(np.dtype(dtype), k) == compat.isdtype(np.dtype(dtype), k)  # the NumPy 1.26 path


def test_other_names_come_from_array_api_compat():
    """What the module does not define is looked up in array-api-compat (the namespace stays complete)."""
    assert xnp.unique_values is compat.unique_values
    assert xnp.unique_counts is compat.unique_counts
    with pytest.raises(AttributeError):
        xnp.not_in_the_standard  # noqa: B018


def test_every_name_the_code_uses_is_defined():
    """Each ``xp.<name>`` in unilosses' source is defined here, not left to the lazy fallback (read
    from a fresh copy of the module: lookups through the fallback are cached in the imported one)."""
    import importlib.util
    import pathlib
    import re

    import unilosses

    spec = importlib.util.spec_from_file_location("_fresh_np_namespace", xnp.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    root = pathlib.Path(unilosses.__file__).parent
    used = {m for p in root.rglob("*.py") for m in re.findall(r"\bxp\.([A-Za-z_][A-Za-z0-9_]*)", p.read_text())}
    assert used and not sorted(n for n in used if n not in vars(fresh))


def test_first_numpy_call_imports_nothing_heavy():
    """Every conformance case, every reduction, on NumPy: neither array-api-compat's NumPy namespace
    (the specification never needs the fallback) nor the NumPy submodules it pulls in get imported."""
    code = (
        "import sys, numpy as np, unilosses as ul\n"
        "from unilosses.conformance import all_cases\n"
        "y = np.array([0, 2, 1]); z = np.zeros((3, 4), np.float32)\n"
        "ul.sparse_categorical_crossentropy(y, z, from_logits=True)\n"
        "first = [m for m in ('array_api_compat.numpy', 'numpy.f2py', 'numpy.testing', 'numpy.ma') if m in sys.modules]\n"
        "for case in all_cases():\n"
        "    args, kw = case.call_args(case.inputs(np.random.default_rng(0)))\n"
        "    for r in ul.REDUCTIONS:\n"
        "        getattr(ul, case.loss)(*args, **kw, reduction=r)\n"
        "after = 'array_api_compat.numpy' in sys.modules\n"
        "print(first, after); sys.exit(1 if first or after else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
