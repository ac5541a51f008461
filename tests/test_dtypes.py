"""dtypes, devices, constants and inputs, for every case on every backend.

- float16 and bfloat16 inputs are computed in float32 and return float32, within
  1e-3 relative of the float32 computation (NumPy) on the same rounded inputs;
- float32 inputs give float32 and float64 inputs float64 (so constants follow the
  input's dtype: a float64 constant would promote float32, a float32 array constant
  would demote float64 under NumPy 2 / torch rules), for every reduction, as arrays
  of the input's framework on its device;
- array options (class weights...) given as Python lists give the same result as
  arrays and come out in y_pred's dtype;
- inputs are never modified in place (NumPy values compared, torch ``_version``);
- torch ``meta`` tensors (no values, no host): every loss runs and stays on the
  input's device, so no constant lands on another device and nothing reads values.

No host synchronisation under compilation is proven by tests/test_compile.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import sweep_cases

import unilosses as ul
from unilosses.conformance import Case
from unilosses.testing import assert_close, available_backends, to_numpy

CASES = sweep_cases()
IDS = [c.id for c in CASES]
ALL_CALLS = (("none", False),) + tuple((r, True) for r in ul.REDUCTIONS)
#: per-sample values, every weighting path ("stats") and a weighted division
HALF_CALLS = (("none", False), ("stats", True), ("mean_with_sample_weight", True))
#: the 16-bit dtypes each backend has; array_api_strict has none (the standard has no float16);
#: NumPy's bfloat16 is ml_dtypes' (JAX's and TensorFlow's), a test dependency
HALF = {"dask": ("float16",), "array_api_strict": ()}
#: where each call compiles (JAX jits each reduction and input dtype) or builds a graph
#: (Dask): per-sample values and "stats" (every weighting path); the other reductions'
#: dtypes are checked on the other backends (the reduction code is shared)
FEW_CALLS = (("none", False), ("stats", True))
EXPENSIVE = ("jax", "dask")
#: backends checked in float32 only: JAX without jax_enable_x64 has no float64; Dask's
#: float64 is NumPy's (checked there), and each Dask call builds a task graph
NO_FLOAT64 = ("jax", "dask")


# ------------------------------------------------------------------ helpers
def _n_inputs(case: Case, arrays: tuple[Any, ...]) -> int:
    return len(arrays) - len(case.array_options)


def _draw(case: Case, seed: int = 0) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a) for a in case.inputs(np.random.default_rng(seed)))


def _sample_weight(case: Case, arrays: tuple[Any, ...]) -> np.ndarray:
    args, kw = case.call_args(arrays)
    shape = np.shape(getattr(ul, case.loss)(*args, **kw))
    w = np.random.default_rng(5).uniform(0.2, 2.0, shape).astype(np.float32)
    if w.size > 1:
        w.flat[0] = 0.0
    return w


def _decides(case: Case) -> int:
    """Position of the input that decides the backend (y_pred; the first input of pair losses)."""
    fn = getattr(ul, case.loss)
    spec = getattr(fn, "spec", None)
    inputs = tuple(getattr(spec, "inputs", ("y_true", "y_pred")))
    return inputs.index(getattr(spec, "decides", "y_pred"))


def _cast(a: np.ndarray, dtype: Any) -> np.ndarray:
    return a.astype(dtype) if a.dtype.kind == "f" else a


def _calls(case: Case, calls: Any, xs: tuple[Any, ...], sw: Any, **extra: Any) -> list[Any]:
    fn = getattr(ul, case.loss)
    args, kw = case.call_args(tuple(xs))
    kw.update(extra)
    return [fn(*args, **kw, reduction=r, sample_weight=sw if weighted else None) for r, weighted in calls]


def _parts(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, ul.LossStats) else (out,)


def _check_dtype(calls: Any, outs: list[Any], dtype: Any) -> None:
    for (r, _), out in zip(calls, outs):
        for p in _parts(out):
            assert p.dtype == dtype, f"reduction={r!r}: expected dtype {dtype}, got {p.dtype}"


def _rounded(arrays: tuple[np.ndarray, ...], sw: np.ndarray, dtype: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Float inputs (and weights) rounded to ``dtype``, back in float32 (NumPy's float32 semantics)."""

    def rnd(a: np.ndarray) -> np.ndarray:
        if a.dtype.kind != "f":
            return a
        if dtype == "bfloat16":  # NumPy has no bfloat16: ml_dtypes (JAX's and TF's) or torch
            try:
                import ml_dtypes

                return a.astype(np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)
            except ImportError:
                import torch

                return torch.as_tensor(a.astype(np.float32)).to(torch.bfloat16).float().numpy()
        return a.astype(dtype).astype(np.float32)

    return tuple(rnd(a) for a in arrays), rnd(sw)


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_half_precision_computes_in_float32(case, backend):
    """16-bit inputs (inputs, array options, weights): float32 results within 1e-3 of float32 on the rounded inputs."""
    dtypes = HALF.get(backend.name, ("float16", "bfloat16"))
    if not dtypes:
        pytest.skip(f"{backend.name} has no 16-bit floating-point dtype")
    arrays = _draw(case)
    sw = _sample_weight(case, arrays)
    f32 = backend.dtype("float32")
    calls = FEW_CALLS if backend.name in EXPENSIVE else HALF_CALLS
    for dtype in dtypes:
        xs = tuple(backend.asarray(a, dtype=dtype if a.dtype.kind == "f" else None) for a in arrays)
        outs = _calls(case, calls, xs, backend.asarray(sw, dtype=dtype))
        _check_dtype(calls, outs, f32)
        r_arrays, r_sw = _rounded(arrays, sw, dtype)
        expected = _calls(case, calls, r_arrays, r_sw)
        # torch's and TensorFlow's LM heads multiply 16-bit hidden and weight in their dtype (as the
        # unfused `h @ W.T` does; the logits onwards are float32): products rounded to 16 bits
        rtol = 1e-2 if case.loss == "linear_cross_entropy" and backend.name in ("torch", "tensorflow") else 1e-3
        for (r, _), out, e in zip(calls, outs, expected):
            try:
                assert_close(out, e, rtol=rtol, atol=1e-5, like=xs[_decides(case)])
            except AssertionError as err:
                raise AssertionError(f"{dtype}, reduction={r!r}: {err}") from None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtype_device_and_inputs_untouched(case, backend):
    """float32 -> float32, float64 -> float64 on every reduction, on the input's device; inputs unchanged."""
    arrays = _draw(case)
    sw = _sample_weight(case, arrays)
    dtypes = ("float32",) if backend.name in NO_FLOAT64 else ("float32", "float64")
    calls = FEW_CALLS if backend.name in EXPENSIVE else ALL_CALLS
    lead = _decides(case)
    for dtype in dtypes:
        np_arrays = tuple(_cast(a, dtype) for a in arrays)
        before = [a.copy() for a in np_arrays] + [sw.copy()]
        xs = tuple(backend.asarray(a) for a in np_arrays)
        w = backend.asarray(sw.astype(dtype))
        versions = [x._version for x in (*xs, w)] if backend.name == "torch" else None
        outs = _calls(case, calls, xs, w)
        _check_dtype(calls, outs, backend.dtype(dtype))
        expected = _calls(case, calls, np_arrays, sw.astype(dtype))
        for (r, _), out, e in zip(calls, outs, expected):
            try:
                assert_close(out, e, rtol=case.rtol, atol=case.atol, like=xs[lead])
            except AssertionError as err:
                raise AssertionError(f"{dtype}, reduction={r!r}: {err}") from None
        for x, b in zip((*xs, w), before):
            np.testing.assert_array_equal(to_numpy(x), b, err_msg="an input was modified in place")
        if versions is not None:
            assert [x._version for x in (*xs, w)] == versions, "a torch input was modified in place"
        # NumPy values given for everything but the deciding input are converted, not modified
        mixed = [xs[i] if i == lead else np_arrays[i] for i in range(len(xs))]
        _calls(case, calls[-1:], tuple(mixed), sw.astype(dtype))
        for a, b in zip(np_arrays, before):
            np.testing.assert_array_equal(a, b, err_msg="a NumPy input was modified in place")


ARRAY_OPTION_CASES = [c for c in CASES if c.array_options]


@pytest.mark.parametrize("case", ARRAY_OPTION_CASES, ids=[c.id for c in ARRAY_OPTION_CASES])
def test_array_options_as_lists(case, backend):
    """Class weights (and other array options) given as Python lists == given as arrays, in y_pred's dtype."""
    arrays = _draw(case)
    n = _n_inputs(case, arrays)
    dtypes = ("float32",) if backend.name in NO_FLOAT64 else ("float32", "float64")
    for dtype in dtypes:
        xs = tuple(backend.asarray(_cast(a, dtype)) for a in arrays)
        lists = xs[:n] + tuple(np.asarray(a).tolist() for a in arrays[n:])
        calls = (("none", False), ("mean_with_sample_weight", False))
        got = _calls(case, calls, lists, None)
        expected = _calls(case, calls, xs, None)
        _check_dtype(calls, got, backend.dtype(dtype))
        for out, e in zip(got, expected):
            assert_close(out, e, rtol=1e-6, atol=1e-7, like=xs[_decides(case)])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_meta_device(case):
    """Every loss on torch 'meta' tensors: results on 'meta', so constants follow the input's
    device and nothing reads values on the host (a meta tensor has none)."""
    if "torch" not in available_backends():
        pytest.skip("backend torch is not installed or not selected")
    import torch

    arrays = _draw(case)
    xs = tuple(torch.as_tensor(a).to("meta") for a in arrays)
    sw = torch.as_tensor(_sample_weight(case, arrays)).to("meta")
    for extra in ({}, {k: np.asarray(arrays[i]).tolist() for k, i in case.array_options.items()}):
        outs = _calls(case, ALL_CALLS, xs, sw, **extra)
        for (r, _), out in zip(ALL_CALLS, outs):
            for p in _parts(out):
                assert p.device.type == "meta", f"reduction={r!r}: result on {p.device}"
                assert p.dtype == torch.float32
