"""Extreme inputs give finite losses and finite gradients, in float32, float16 and bfloat16 (JAX: float32,
and bfloat16 on each loss's richest case).

Generic over :func:`unilosses.conformance.all_cases`; from each case's draw:

- ``logits``: with ``from_logits=True``, ``y_pred`` is +-1e4;
- ``probabilities``: float inputs drawn in [0, 1] (probabilities, targets) are
  exactly 0 and 1 (every class vector along the class axis keeps a 1, so a
  categorical prediction is still a distribution);
- ``ignored``: with ``ignore_index``, every label is ignored: every reduction is 0;
- ``zero-weights``: every sample weight is 0: the reductions that divide by the
  weights are 0 (``"sum_over_batch_size"`` divides by the sample count).

Values are checked on every backend (in the 16-bit dtypes it has); gradients
with the backend's own autodiff (torch, JAX, TensorFlow), w.r.t. ``y_pred``
(every float input for losses without one), through every reduction. (Gradients
w.r.t. targets are ``-log p``, up to 2e4 with logits of 1e4: beyond float16's
range in a sum over reductions, and not what a model trains.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import compute_together

import unilosses as ul
from unilosses.conformance import Case, all_cases, richest_case_per_loss
from unilosses.testing import to_numpy

CASES = all_cases()
IDS = [c.id for c in CASES]
#: the dtypes each backend has (NumPy's bfloat16 is ml_dtypes'; array_api_strict has no 16-bit float)
DTYPES = {
    "dask": ("float32",),  # lazy NumPy, float16 as NumPy; each op costs a graph node: keep it short
    "array_api_strict": ("float32",),
    # every op compiles for each new dtype and shape: bfloat16, what JAX trains in. 16-bit inputs are
    # computed in float32 before any backend's code runs (unilosses/spec.py), and float16's narrower
    # range is checked here on NumPy, torch and TensorFlow (test_dtypes runs float16 on JAX per case)
    "jax": ("float32", "bfloat16"),
}
#: bfloat16 on JAX for each loss's richest case only (every case in float32): bfloat16 has float32's
#: exponent range and is computed in float32, so what it adds, the cast in and the gradient's dtype
#: out, is the same code for every case of a loss; op by op it doubles JAX's costliest sweep
JAX_BF16_CASES = {c.id for c in richest_case_per_loss()}
HALF_AND_FULL = ("float32", "float16", "bfloat16")
ALL_CALLS = (("none", False),) + tuple((r, True) for r in ul.REDUCTIONS)
#: finite per-sample values reduce to finite results with non-zero weights: per-sample
#: values, and "stats" (every weighting path)
FEW_CALLS = (("none", False), ("stats", True))
#: zero weights: the reductions that divide by a weight sum or a count of non-zero weights
ZERO_WEIGHT_CALLS = (("none", True), ("stats", True), ("mean_with_sample_weight", True), ("sum_by_nonzero_weights", True))
BIG = 1e4


# ------------------------------------------------------------------ variants
def _n_inputs(case: Case, arrays: tuple[Any, ...]) -> int:
    return len(arrays) - len(case.array_options)


def _float_positions(case: Case, arrays: tuple[Any, ...]) -> list[int]:
    return [i for i in range(_n_inputs(case, arrays)) if arrays[i].dtype.kind == "f"]


def _pred_positions(case: Case, arrays: tuple[Any, ...]) -> list[int]:
    """``y_pred``'s position, or every float input for losses without a ``y_pred``."""
    import inspect

    names = list(inspect.signature(getattr(ul, case.loss)).parameters)
    floats = _float_positions(case, arrays)
    if "y_pred" in names and names.index("y_pred") in floats:
        return [names.index("y_pred")]
    return floats


def _per_sample_shape(case: Case, arrays: tuple[Any, ...]) -> tuple[int, ...]:
    args, kw = case.call_args(arrays)
    return np.shape(getattr(ul, case.loss)(*args, **kw))


def variants(case: Case) -> list[tuple[str, tuple[np.ndarray, ...], Any, tuple[Any, ...], bool]]:
    """(name, inputs, sample weight, calls, every output must be 0) for each extreme of ``case``."""
    rng = np.random.default_rng(0)
    arrays = tuple(np.asarray(a) for a in case.inputs(rng))
    n = _n_inputs(case, arrays)
    shape = _per_sample_shape(case, arrays)
    out = []
    ones = np.ones(shape, dtype=np.float32)
    if case.options.get("from_logits"):
        new = list(arrays)
        for i in _pred_positions(case, arrays):
            new[i] = np.where(rng.random(arrays[i].shape) < 0.5, -BIG, BIG).astype(arrays[i].dtype)
        out.append(("logits", tuple(new), ones, FEW_CALLS, False))
    unit = [i for i in _float_positions(case, arrays) if arrays[i].min() >= 0 and arrays[i].max() <= 1]
    if unit and not case.options.get("from_logits"):
        axis = case.options.get("axis", -1)
        new = list(arrays)
        for i in unit:
            a = arrays[i]
            b = (rng.random(a.shape) < 0.5).astype(a.dtype)
            if isinstance(axis, int) and a.ndim:
                np.put_along_axis(b, np.expand_dims(np.argmax(a, axis=axis), axis), 1, axis=axis)
            new[i] = b
        out.append(("probabilities", tuple(new), ones, FEW_CALLS, False))
    if case.options.get("ignore_index") is not None:
        ignored = tuple(
            np.full_like(a, case.options["ignore_index"]) if i < n and a.dtype.kind in "iu" else a
            for i, a in enumerate(arrays)
        )
        out.append(("ignored", ignored, ones, ALL_CALLS, True))
    out.append(("zero-weights", arrays, np.zeros(shape, dtype=np.float32), ZERO_WEIGHT_CALLS, True))
    return out


# ----------------------------------------------------------------- evaluate
def _calls(case: Case, calls: Any, xs: tuple[Any, ...], sw: Any) -> list[Any]:
    fn = getattr(ul, case.loss)
    args, kw = case.call_args(tuple(xs))
    return [fn(*args, **kw, reduction=r, sample_weight=sw if weighted else None) for r, weighted in calls]


def _parts(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, ul.LossStats) else (out,)


def _total(xp_sum: Any, outs: list[Any]) -> Any:
    total = 0.0
    for out in outs:
        for p in _parts(out)[:1] + _parts(out)[2:]:  # LossStats: total and weight_sum
            total = total + xp_sum(p)
    return total


def evaluate(backend: Any, case: Case, arrays: tuple[np.ndarray, ...], sw: np.ndarray, calls: Any, dtype: str) -> tuple[list[Any], list[np.ndarray] | None]:
    """The outputs (as NumPy) and, with an autodiff backend, the gradients w.r.t. float inputs."""
    positions = _pred_positions(case, arrays)
    xs = [backend.asarray(a, dtype=dtype if a.dtype.kind == "f" else None) for a in arrays]
    w = backend.asarray(sw, dtype=dtype)
    if backend.name == "torch":
        import torch

        for i in positions:
            xs[i].requires_grad_(True)
        outs = _calls(case, calls, tuple(xs), w)
        grads = torch.autograd.grad(_total(torch.sum, outs), [xs[i] for i in positions], allow_unused=True)
        grads = [torch.zeros_like(xs[i]) if g is None else g for i, g in zip(positions, grads)]
        return [_np(o) for o in outs], [_checked_grad(g, xs[i]) for i, g in zip(positions, grads)]
    if backend.name == "jax":
        import jax
        import jax.numpy as jnp

        def total(*fs: Any) -> Any:
            full = list(xs)
            for i, f in zip(positions, fs):
                full[i] = f
            outs = _calls(case, calls, tuple(full), w)
            return _total(jnp.sum, outs), outs

        # op by op (inputs are tracers of jax.grad): no compile per dtype and reduction
        (_, outs), grads = jax.value_and_grad(total, argnums=tuple(range(len(positions))), has_aux=True)(
            *(xs[i] for i in positions)
        )
        return [_np(o) for o in outs], [_checked_grad(g, xs[i]) for i, g in zip(positions, grads)]
    if backend.name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for i in positions:
                tape.watch(xs[i])
            outs = _calls(case, calls, tuple(xs), w)
            total = _total(tf.reduce_sum, outs)
        grads = tape.gradient(total, [xs[i] for i in positions], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [_np(o) for o in outs], [_checked_grad(g, xs[i]) for i, g in zip(positions, grads)]
    outs = _calls(case, calls, tuple(xs), w)
    if backend.name == "dask":
        outs = compute_together(outs)
    return [_np(o) for o in outs], None


def _np(out: Any) -> Any:
    if isinstance(out, ul.LossStats):
        return ul.LossStats(*(np.asarray(to_numpy(v), dtype=np.float64) for v in out))
    return np.asarray(to_numpy(out), dtype=np.float64)


def _checked_grad(g: Any, x: Any) -> np.ndarray:
    """A gradient comes back in its input's dtype and shape."""
    assert g.dtype == x.dtype, f"gradient dtype {g.dtype} for an input of dtype {x.dtype}"
    assert tuple(g.shape) == tuple(x.shape)
    return np.asarray(to_numpy(g), dtype=np.float64)


# ------------------------------------------------------------------- tests
def _variant_params() -> list[Any]:
    return [pytest.param(c, id=c.id) for c in CASES]


@pytest.mark.parametrize("case", _variant_params())
def test_extremes_finite(case, backend):
    """Every extreme variant, dtype and reduction: finite values (0 where all is ignored) and finite gradients."""
    failures = []
    for dtype in DTYPES.get(backend.name, HALF_AND_FULL):
        if backend.name == "jax" and dtype == "bfloat16" and case.id not in JAX_BF16_CASES:
            continue
        for name, arrays, sw, calls, zero in variants(case):
            outs, grads = evaluate(backend, case, arrays, sw, calls, dtype)
            for (reduction, _), out in zip(calls, outs):
                for part in _parts(out):
                    if not np.all(np.isfinite(part)):
                        failures.append(f"{name}/{dtype}/{reduction}: non-finite value {part}")
                if zero:
                    for field, part in zip(("total", "count", "weight_sum"), _parts(out)):
                        if field != "count" and not np.all(part == 0):
                            failures.append(f"{name}/{dtype}/{reduction}: expected 0, got {part}")
            for i, g in enumerate(grads or ()):
                if not np.all(np.isfinite(g)):
                    failures.append(f"{name}/{dtype}: non-finite gradient w.r.t. y_pred ({i}): {g}")
    assert not failures, "\n".join(failures[:12])


@pytest.mark.parametrize("z", [12.0, 17.0, 30.0, 80.0, -12.0, -30.0])
def test_binary_logits_tails_are_accurate(z, backend):
    """log p and log(1 - p) from logits keep their relative accuracy in both tails, in float32.

    Expected: torch's log-sigmoid in float64 (its BCE-with-logits cancels for y=0, z<0).
    """
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    y = np.array([[1.0, 0.0]], dtype=np.float32)
    logits = np.array([[z, -z]], dtype=np.float32)
    expected = -F.logsigmoid(torch.tensor([[z, z]], dtype=torch.float64)).numpy()
    out = ul.binary_crossentropy(backend.asarray(y), backend.asarray(logits), from_logits=True, axis=None)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-5, atol=0)


def _focal_saturated() -> list[Any]:
    """Confidently right logits (p_t = 1 exactly in float32): the focal factor's base is 0."""
    y_bin = np.array([[1.0, 0.0, 1.0]], dtype=np.float32)
    z_bin = np.array([[BIG, -BIG, 3.0]], dtype=np.float32)
    onehot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    z_cat = np.array([[BIG, 0.0, -BIG], [0.5, -1.0, 0.25]], dtype=np.float32)
    return [
        pytest.param("binary_focal_crossentropy", y_bin, z_bin, id="binary"),
        pytest.param("categorical_focal_crossentropy", onehot, z_cat, id="categorical"),
        pytest.param("sparse_categorical_focal_crossentropy", np.array([0, 2]), z_cat, id="sparse"),
    ]


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize(("name", "y", "z"), _focal_saturated())
def test_focal_saturated_logits_finite_gradient(name, y, z, gamma, backend):
    """(1 - p_t)^gamma at p_t = 1 with gamma < 1: d/dbase is infinite, times 0; the loss and
    its gradient tend to 0, so both must be finite (a safe where, not a NaN)."""
    case = Case(f"{name}-saturated", name, lambda rng: (y, z), {"from_logits": True, "gamma": gamma})
    arrays = (y, z)
    sw = np.ones(_per_sample_shape(case, arrays), dtype=np.float32)
    outs, grads = evaluate(backend, case, arrays, sw, FEW_CALLS, "float32")
    for out in outs:
        for part in _parts(out):
            assert np.all(np.isfinite(part)), part
    for g in grads or ():
        assert np.all(np.isfinite(g)), f"non-finite gradient w.r.t. the logits: {g}"
