"""What comparing values cannot see: the kit's probes of a loss on one backend.

For one case on one backend, :func:`probe` returns the problems it finds, each a
sentence naming the problem:

- **result**: float32 inputs give an array of the inputs' framework, on their
  device, of dtype float32 (the compute dtype of the deciding input), of NumPy's shape;
- **inputs untouched**: their values (and torch's version counters) are unchanged;
- **no host transfer**: Dask computes nothing during the call; torch runs on the
  ``meta`` device (tensors without data: any read of values on the host fails);
- **traced**: ``jax.jit``, ``torch.compile(fullgraph=True)`` (dynamo only: it
  refuses graph breaks) and ``tf.function(autograph=False)`` trace it and give
  the eager values;
- **16-bit**: float16 and bfloat16 inputs (where the backend has them) give float32
  results equal to those of the same values in float32.

Errors are explained by :func:`explain`: a Python branch on array values, a
transfer to the host, a write into an input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from unilosses.arrays import AUTODIFF, ArrayBackend, device_of, to_numpy
from unilosses.backends import backend_for, framework_name
from unilosses.conformance import Case

__all__ = ["explain", "probe"]

#: the reductions each probe runs: the per-sample values and a mean
REDUCTIONS = ("none", "sum_over_batch_size")

_BRANCH = "branches in Python on array values (an `if`, `bool()`, `and`/`or`, `min()` of an array): use xp.where"
_HOST = "moves data to the host (`np.asarray`, `.numpy()`, `.item()`, `float()`, `int()` of an array): compute with be.xp"
_WRITE = "writes into an input (in-place assignment or operator): compute a new array"
#: substrings of framework error messages -> what the loss does wrong
_CAUSES = (
    (_BRANCH, (
        "TracerBoolConversionError", "ConcretizationTypeError", "OperatorNotAllowedInGraphError",
        "as a Python `bool`", "Data-dependent", "data-dependent", "Dynamic control flow", "generic_jump",
        "Boolean value of Tensor",
    )),
    (_HOST, (
        "TracerArrayConversionError", "TracerIntegerConversionError", "Cannot convert a symbolic",
        "numpy() is only available", "SymbolicTensor' object has no attribute 'numpy'",
        "can't convert meta device", "cannot be called on meta tensors", "Cannot copy out of meta tensor",
        "Tensor.item", "Tensor.numpy", "Tensor.tolist",
    )),
    (_WRITE, (
        "immutable", "does not support item assignment", "read-only", "not writeable", "is not writable",
        "a leaf Variable that requires grad is being used in an in-place operation",
    )),
)


def explain(text: str) -> str:
    """``text`` (an error) prefixed with what the loss does wrong, when it is recognised."""
    for cause, marks in _CAUSES:
        if any(m in text for m in marks):
            return f"{cause} [{text}]"
    return text


def _error(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return explain(f"{type(exc).__name__}: {first[0] if first else ''}"[:400])


def _call(fn: Callable[..., Any], case: Case, xs: tuple[Any, ...]) -> tuple[Any, ...]:
    args, kw = case.call_args(xs)
    return tuple(fn(*args, **kw, reduction=r) for r in REDUCTIONS)


def _float32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype.kind == "f" else a


@contextlib.contextmanager
def _computes(name: str) -> Iterator[list[int]]:
    """The number of Dask computes started inside the block (as a one-element list)."""
    count = [0]
    if name != "dask":
        yield count
        return
    from dask.callbacks import Callback

    def start(dsk: Any) -> None:
        count[0] += 1

    with Callback(start=start):
        yield count


def _name(dtype: Any) -> str:
    """``float32`` for NumPy's, torch's, TensorFlow's and array_api_strict's float32."""
    name = getattr(dtype, "name", None)
    return name if isinstance(name, str) else str(dtype).rpartition(".")[2]


def _result(out: Any, lead: Any, dtype: Any, shape: tuple[int, ...], what: str) -> list[str]:
    want, got = framework_name(lead), framework_name(out)
    if got != want:
        return [f"{what}: returns {type(out).__module__}.{type(out).__name__}, not an array of {want}"]
    problems = []
    if device_of(out) != device_of(lead):
        problems.append(f"{what}: the result is on {device_of(out)}, the inputs on {device_of(lead)}")
    if dtype is not None and out.dtype != dtype:
        problems.append(f"{what}: returns {_name(out.dtype)} for {_name(lead.dtype)} inputs (expected {_name(dtype)})")
    if tuple(out.shape) != shape:
        problems.append(f"{what}: returns shape {tuple(out.shape)}, NumPy gives {shape}")
    return problems


def _compute_dtype(lead: Any) -> Any:
    try:
        return backend_for(lead).compute_dtype(lead.dtype)
    except TypeError:  # an integer deciding input: no dtype rule to hold it to
        return None


def _differ(a: Any, b: Any, case: Case) -> float | None:
    """The largest difference of two results, or None when they agree to the case's tolerance."""
    x, y = np.asarray(to_numpy(a), np.float64), np.asarray(to_numpy(b), np.float64)
    if x.shape != y.shape:
        return float("inf")
    both_nan = np.isnan(x) & np.isnan(y)
    d = np.where(both_nan, 0.0, np.abs(x - y))
    bad = d > max(case.atol, 1e-6) + max(case.rtol, 1e-5) * np.abs(y)
    return float(np.max(d)) if np.any(bad) else None


#: how the problem of a loss that fails eagerly starts (the other probes then stop)
FAILS = "fails: "


def _eager(fn: Callable[..., Any], case: Case, name: str, a32: tuple[np.ndarray, ...], lead: int,
           shapes: tuple[tuple[int, ...], ...]) -> tuple[list[str], Any]:
    """Result type / device / dtype / shape, inputs untouched, nothing computed (Dask)."""
    xs = tuple(ArrayBackend(name).asarray(a) for a in a32)
    before = [to_numpy(x).copy() for x in xs]
    versions = [getattr(x, "_version", None) for x in xs]
    problems: list[str] = []
    outs = None
    try:
        with _computes(name) as computes:
            outs = _call(fn, case, xs)
        if computes[0]:
            problems.append(f"{_HOST} [{computes[0]} Dask compute(s) during the call, which must only build a graph]")
    except Exception as exc:
        problems.append(FAILS + _error(exc))
    if outs is not None:
        dtype = _compute_dtype(xs[lead])
        for r, out, shape in zip(REDUCTIONS, outs, shapes):
            problems += _result(out, xs[lead], dtype, shape, f"reduction={r!r}")
    for i, (x, old, version) in enumerate(zip(xs, before, versions)):
        new = to_numpy(x)
        same = np.array_equal(new, old, equal_nan=new.dtype.kind == "f")
        if not same or getattr(x, "_version", None) != version:
            problems.append(f"{_WRITE} [input {i} changed during the call]")
    return problems, outs


def _traced(fn: Callable[..., Any], case: Case, name: str, a32: tuple[np.ndarray, ...], eager: Any) -> list[str]:
    """Under the framework's tracer: it must trace, and give the eager values."""
    xs = tuple(ArrayBackend(name).asarray(a) for a in a32)

    def run(*xs: Any) -> tuple[Any, ...]:
        return _call(fn, case, xs)

    traced: Callable[..., Any]
    if name == "jax":
        import jax

        what, traced = "under jax.jit", jax.jit(run)
    elif name == "torch":
        import torch

        torch._dynamo.reset()  # a fresh cache: no recompile limit across cases
        what, traced = "under torch.compile(fullgraph=True)", torch.compile(run, fullgraph=True, backend="eager")
    elif name == "tensorflow":
        import tensorflow as tf

        what, traced = "under tf.function", tf.function(run, autograph=False)
    else:
        return []
    try:
        outs = traced(*xs)
    except Exception as exc:
        return [f"{what}: {_error(exc)}"]
    if eager is None:
        return []
    problems = []
    for r, out, ref in zip(REDUCTIONS, outs, eager):
        d = _differ(out, ref, case)
        if d is not None:
            problems.append(f"{what}: reduction={r!r} differs from the eager result by {d:.1e}")
    return problems


def _meta(fn: Callable[..., Any], case: Case, a32: tuple[np.ndarray, ...], lead: int) -> list[str]:
    """torch on the ``meta`` device: no data, so any host read fails; the result stays there."""
    import torch

    xs = tuple(torch.as_tensor(a).to("meta") for a in a32)
    what = "on torch's meta device (tensors without data, as a GPU's are to the host)"
    try:
        outs = _call(fn, case, xs)
    except Exception as exc:
        return [f"{what}: {_error(exc)}"]
    return [
        f"{what}: reduction={r!r} returns a result on {getattr(o, 'device', type(o).__name__)}"
        for r, o in zip(REDUCTIONS, outs) if getattr(o, "device", None) != xs[lead].device
    ]


def _halves(name: str) -> tuple[str, ...]:
    import importlib.util

    if name in AUTODIFF:
        return ("float16", "bfloat16")
    if name == "numpy":
        return ("float16", "bfloat16") if importlib.util.find_spec("ml_dtypes") else ("float16",)
    return ("float16",) if name == "dask" else ()


def _sixteen(fn: Callable[..., Any], case: Case, name: str, a32: tuple[np.ndarray, ...]) -> list[str]:
    """16-bit inputs: computed in float32, equal to the same values given in float32."""
    ab = ArrayBackend(name)
    problems = []
    for half in _halves(name):
        x16 = tuple(ab.asarray(a, half) if a.dtype.kind == "f" else ab.asarray(a) for a in a32)
        x32 = tuple(ab.asarray(np.asarray(to_numpy(x)).astype(np.float32) if a.dtype.kind == "f" else a)
                    for x, a in zip(x16, a32))
        try:
            outs16, outs32 = _call(fn, case, x16), _call(fn, case, x32)
        except Exception as exc:
            problems.append(f"with {half} inputs: {_error(exc)}")
            continue
        for r, o16, o32 in zip(REDUCTIONS, outs16, outs32):
            if o16.dtype != o32.dtype:
                problems.append(f"with {half} inputs: reduction={r!r} returns {_name(o16.dtype)}, expected "
                                f"{_name(o32.dtype)} (16-bit inputs are computed in float32)")
            elif (d := _differ(o16, o32, case)) is not None:
                problems.append(f"with {half} inputs: reduction={r!r} differs by {d:.1e} from the same values in float32")
    return problems


def probe(case: Case, name: str, lead: int) -> list[str]:
    """The problems of ``case``'s loss on the backend ``name``; ``lead``: the position of
    the input that decides the framework, device and dtype."""
    fn = case.resolve()
    a32 = tuple(_float32(np.asarray(a)) for a in case.inputs(np.random.default_rng(0)))
    try:
        shapes = tuple(np.shape(to_numpy(o)) for o in _call(fn, case, tuple(a.copy() for a in a32)))
    except Exception as exc:  # NumPy itself fails: the values check reports it
        return [f"on NumPy with float32 inputs: {_error(exc)}"] if name == "numpy" else []
    problems, eager = _eager(fn, case, name, a32, lead, shapes)
    if any(p.startswith(FAILS) for p in problems):
        return problems  # the other probes would fail the same way
    problems += _traced(fn, case, name, a32, eager)
    if name == "torch":
        problems += _meta(fn, case, a32, lead)
    problems += _sixteen(fn, case, name, a32)
    return list(dict.fromkeys(problems))  # the same problem found twice is said once
