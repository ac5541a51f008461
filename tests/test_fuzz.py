"""Fuzzing every loss over option combinations, shapes, dtypes and values.

Whatever it is given, a loss returns a result or raises ValueError / TypeError
(nothing else escapes: no IndexError, framework error or crash), and never
modifies its inputs.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import unilosses as ul
from unilosses.conformance import all_cases
from unilosses.testing import ArrayBackend, available_backends, to_numpy

FUNCTIONS = sorted(n for n in ul.__all__ if ul.authoring.is_loss_function(getattr(ul, n)))
#: UNILOSSES_FUZZ_EXAMPLES=2000 runs a longer, random (not derandomized) fuzz
_LONG = int(os.environ.get("UNILOSSES_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_LONG or 60,
    deadline=None,
    derandomize=not _LONG,
    database=None,
    suppress_health_check=list(HealthCheck),
)
#: fewer examples where a successful call compiles (JAX) or builds a task graph (Dask)
FEWER = {} if _LONG else {"jax": 20, "dask": 20, "tensorflow": 40}

#: option values seen in the conformance cases, per loss and option, plus the defaults
_SEEN: dict[tuple[str, str], list] = {}
for _case in all_cases():
    for _name, _value in _case.options.items():
        _SEEN.setdefault((_case.loss, _name), [])
        if _value not in _SEEN[_case.loss, _name]:
            _SEEN[_case.loss, _name].append(_value)

#: values no option accepts everywhere: wrong types, out of every range
INVALID = [-1.0, 2.0, 1.5, float("nan"), "x", True, [1], -3, 10**6]
REDUCTION_VALUES = [*ul.REDUCTIONS, "mean", "auto", ul.Reduction.SUM, None, "bad", 3]
DTYPES = ["float32", "float32", "float64", "float16", "int32", "int64", "bool"]


def _values(rng, shape, kind):
    if kind == "labels":
        return rng.integers(-2, 6, shape)
    if kind == "probabilities":
        return rng.uniform(0, 1, shape)
    x = rng.standard_normal(shape) * 3
    if kind == "special" and x.size:
        x.flat[rng.integers(0, x.size)] = rng.choice([np.nan, np.inf, -np.inf, 0.0, 1e30])
    return x


CASES = all_cases()
MUTATIONS = ["shape", "dtype", "special", "option", "array_option", "sample_weight", "normalizer", "list"]


def _as_dtype(x, dtype, backend_name):
    if dtype == "float16" and backend_name == "array_api_strict":
        dtype = "float32"  # array_api_strict has no float16
    x = np.asarray(x)
    if dtype[0] in "ib":
        x = np.nan_to_num(x.astype(np.float64), nan=0.0, posinf=7.0, neginf=-7.0)
    with np.errstate(all="ignore"):  # 1e30 overflows float16 to inf: a value like any other
        return x.astype(dtype)


def _reshape(draw, x, i):
    how = draw(st.sampled_from(["drop_last", "add_axis", "empty_batch", "one_sample", "transpose", "scalar"]), label=f"reshape{i}")
    x = np.asarray(x)
    if how == "drop_last" and x.ndim and x.shape[-1]:
        return x[..., 0]
    if how == "add_axis":
        return x[..., None]
    if how == "empty_batch" and x.ndim:
        return x[:0]
    if how == "one_sample" and x.ndim:
        return x[:1]
    if how == "transpose":
        return x.T
    return x.reshape(-1)[:1].reshape(()) if x.size else x


@st.composite
def _random_call(draw, backend_name, rng):
    """A call with every input, option and weight drawn at random (mostly invalid)."""
    name = draw(st.sampled_from(FUNCTIONS), label="loss")
    spec = getattr(ul, name).spec
    rank = draw(st.integers(0, 3), label="rank")
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank), label="shape"))
    inputs = []
    for i, _ in enumerate(getattr(spec, "inputs", ("y_true", "y_pred"))):
        x = _values(rng, shape, draw(st.sampled_from(["normal", "probabilities", "labels", "special"]), label=f"kind{i}"))
        if draw(st.booleans(), label=f"reshape{i}?"):
            x = _reshape(draw, x, i)
        inputs.append(_as_dtype(x, draw(st.sampled_from(DTYPES), label=f"dtype{i}"), backend_name))
    options = {}
    for opt, default in spec.options.items():
        choice = draw(st.sampled_from(["default", "seen", "invalid"]), label=opt)
        if opt in spec.arrays:
            if choice != "default":
                options[opt] = rng.uniform(-0.5, 3, (draw(st.integers(0, 5), label=f"{opt}_len"),)).astype(np.float32)
        elif choice == "seen":
            options[opt] = draw(st.sampled_from(_SEEN.get((name, opt), []) + [default]), label=f"{opt}_value")
        elif choice == "invalid":
            options[opt] = draw(st.sampled_from(INVALID), label=f"{opt}_value")
    return name, inputs, options


@st.composite
def _mutated_call(draw, backend_name, rng):
    """A conformance case (a valid call) with up to three random mutations."""
    case = draw(st.sampled_from(CASES), label="case")
    spec = getattr(ul, case.loss).spec
    inputs, options = case.call_args(case.inputs(rng))
    inputs = list(inputs)
    options = dict(options)
    for m in range(draw(st.integers(0, 3), label="mutations")):
        kind = draw(st.sampled_from(MUTATIONS), label=f"mutation{m}")
        i = draw(st.integers(0, len(inputs) - 1), label=f"input{m}")
        if kind == "shape":
            inputs[i] = _reshape(draw, inputs[i], m)
        elif kind == "dtype":
            inputs[i] = _as_dtype(inputs[i], draw(st.sampled_from(DTYPES), label=f"dtype{m}"), backend_name)
        elif kind == "special" and np.asarray(inputs[i]).size:
            x = np.array(inputs[i], copy=True)
            if x.dtype.kind not in "f":
                x = x.astype(np.float64)  # float labels are accepted (Keras casts them)
            x.flat[rng.integers(0, x.size)] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30, 255, -100]), label=f"value{m}")
            inputs[i] = x
        elif kind == "option" and spec.options:
            opt = draw(st.sampled_from(sorted(spec.options)), label=f"option{m}")
            if opt in spec.arrays:
                continue
            pool = _SEEN.get((case.loss, opt), []) + [spec.options[opt]] + INVALID
            options[opt] = draw(st.sampled_from(pool), label=f"{opt}_value")
        elif kind == "array_option" and spec.arrays:
            opt = draw(st.sampled_from(sorted(spec.arrays)), label=f"array{m}")
            n = draw(st.integers(0, 8), label=f"{opt}_len")
            options[opt] = draw(st.sampled_from([None, rng.uniform(-1, 3, (n,)), rng.uniform(0, 3, (n, 2)), [1.0] * n]), label=f"{opt}_form")
        elif kind == "list":
            inputs[i] = np.asarray(inputs[i]).tolist()
    return case.loss, inputs, options


@st.composite
def _calls(draw, backend_name):
    """(loss name, positional inputs, options, sample_weight, reduction, normalizer)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    mode = draw(st.sampled_from(["mutated", "mutated", "mutated", "random"]), label="mode")
    make = _mutated_call if mode == "mutated" else _random_call
    name, inputs, options = draw(make(backend_name, rng))
    lead = np.asarray(inputs[0])
    batch = lead.shape[:1]
    sample_weight = draw(
        st.sampled_from([None, None, 2.0, "batch", "random", "list", "negative"]), label="sample_weight"
    )
    if sample_weight == "batch":
        sample_weight = rng.uniform(0, 2, batch).astype(np.float32)
    elif sample_weight == "random":
        sample_weight = rng.uniform(0, 2, tuple(draw(st.lists(st.integers(0, 9), max_size=3), label="sw_shape")))
    elif sample_weight == "list":
        sample_weight = rng.uniform(0, 2, batch).tolist()
    elif sample_weight == "negative":
        sample_weight = -rng.uniform(0, 2, batch)
    reduction = draw(st.sampled_from(REDUCTION_VALUES), label="reduction")
    normalizer = draw(st.sampled_from([None, None, None, 2.0, 0.0]), label="normalizer")
    return name, inputs, options, sample_weight, reduction, normalizer


def _snapshot(x):
    return None if x is None or isinstance(x, (float, int, str)) else np.array(to_numpy(x) if not isinstance(x, list) else x, copy=True)


def _same(a, b):
    return a is None or np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


@pytest.mark.parametrize("backend_name", available_backends())
def test_fuzz_only_value_or_type_errors_and_no_mutation(backend_name):
    backend = ArrayBackend(backend_name)
    outcomes = {"ok": 0, "error": 0}

    @settings(FUZZ, max_examples=FEWER.get(backend_name, FUZZ.max_examples))
    @given(call=_calls(backend_name))
    def check(call):
        name, inputs, options, sample_weight, reduction, normalizer = call
        xs = [x if isinstance(x, list) else backend.asarray(x) for x in inputs]
        opts = {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
        sw = backend.asarray(sample_weight) if isinstance(sample_weight, np.ndarray) else sample_weight
        watched = [*xs, *opts.values(), sw]
        before = [_snapshot(x) for x in watched]
        try:
            with warnings.catch_warnings():
                # NumPy's RuntimeWarnings on fuzzed values (log of a negative...) are not errors
                warnings.simplefilter("ignore", RuntimeWarning)
                out = getattr(ul, name)(*xs, **opts, sample_weight=sw, reduction=reduction, normalizer=normalizer)
                to_numpy(out)  # Dask: compute, so errors inside the graph surface too
            outcomes["ok"] += 1
        except (ValueError, TypeError):
            outcomes["error"] += 1
        after = [_snapshot(x) for x in watched]
        for i, (a, b) in enumerate(zip(before, after)):
            assert _same(a, b), f"{name} modified its input {i}"

    check()
    # the fuzz must reach the losses, not only the validation
    print(backend_name, outcomes)
    assert outcomes["ok"] > 0, outcomes
