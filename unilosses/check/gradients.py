"""Gradients of the conformance cases: framework autodiff and finite differences.

Shared by ``python -m unilosses check`` (the gradient columns, :mod:`unilosses.check.compute`)
and ``tests/test_autodiff.py``:

- :func:`autodiff` differentiates ``sum`` of a case's loss under several
  reductions (with sample weights) by torch autograd, ``jax.grad`` or
  ``tf.GradientTape``;
- :func:`numeric_gradient` takes central finite differences (Richardson
  extrapolated, error O(h^4)) of any float64 function of the inputs, with a mask of the entries that sit on a kink (hinge
  corners, clipping bounds, ``|x|``), where no gradient exists and the
  comparison must skip;
- :func:`directional_derivatives` takes them along a few random directions
  only (four evaluations each, whatever the input size), and
  :func:`smooth_directions` picks directions that cross no kink (the per-entry
  differences, which find the kinks, only where a direction crosses one);
  :func:`compare_directional` judges a gradient against them, as torch's
  ``gradcheck(fast_mode=True)`` does.

Frameworks are imported only inside the functions that need them.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import numpy as np

from unilosses.arrays import AUTODIFF
from unilosses.conformance import Case

__all__ = [
    "FD_REFERENCES",
    "GRAD_REDUCTIONS",
    "autodiff",
    "cast",
    "combined",
    "compare",
    "compare_directional",
    "directional_derivatives",
    "directions",
    "draw",
    "float_positions",
    "numeric_gradient",
    "numpy_value",
    "perturb_numpy",
    "pred_positions",
    "sample_weight",
    "smooth_directions",
]

#: the reductions differentiated together ("none" is summed), all with sample weights:
#: the sum's gradient is finite iff each reduction's is
GRAD_REDUCTIONS = ("none", "sum_over_batch_size", "mean_with_sample_weight", "sum_by_nonzero_weights")
#: references that run in float64, fine enough for finite differences, in the order one is chosen
#: (optax runs in float32; "reference": a user's own, on NumPy arrays, see unilosses.kit; a case
#: names in ``values_only`` those of its references that are not)
FD_REFERENCES = ("torch", "tensorflow", "keras", "reference", "pml", "monai")


def draw(case: Case, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The case's NumPy inputs (positional inputs, then array options)."""
    return tuple(np.asarray(a) for a in case.inputs(np.random.default_rng(seed)))


def _n_positional(case: Case, arrays: Sequence[Any]) -> int:
    return len(arrays) - len(case.array_options)


def float_positions(case: Case, arrays: Sequence[Any]) -> list[int]:
    """Positional inputs holding floats: the differentiable ones."""
    return [i for i in range(_n_positional(case, arrays)) if np.asarray(arrays[i]).dtype.kind == "f"]


def pred_positions(case: Case, arrays: Sequence[Any]) -> list[int]:
    """``y_pred``'s position, or every float input for losses without a ``y_pred``."""
    names = list(inspect.signature(case.resolve()).parameters)
    floats = float_positions(case, arrays)
    if "y_pred" in names and names.index("y_pred") in floats:
        return [names.index("y_pred")]
    return floats


def sample_weight(case: Case, arrays: Sequence[Any], seed: int = 7) -> np.ndarray:
    """Random non-negative float64 weights of the per-sample shape, the first one zero."""
    args, kw = case.call_args(tuple(arrays))
    shape = np.shape(case.resolve()(*args, **kw))
    w = np.random.default_rng(seed).uniform(0.2, 2.0, shape)
    if w.size > 1:
        w.flat[0] = 0.0
    return w


def cast(a: Any, dtype: str) -> np.ndarray:
    """``a`` as NumPy, floats as ``dtype`` (integer labels stay integers)."""
    a = np.asarray(a)
    return a.astype(dtype) if a.dtype.kind == "f" else a


def combined(xp_sum: Callable[[Any], Any], fn: Callable[..., Any], args: Any, kw: Any, reductions: Sequence[str], sw: Any) -> Any:
    """The sum of the loss under each reduction: its gradient is finite iff each one's is."""
    total = 0.0
    for reduction in reductions:
        total = total + xp_sum(fn(*args, **kw, reduction=reduction, sample_weight=sw))
    return total


def total_over(
    case: Case, base: Sequence[Any], positions: Sequence[int], reductions: Sequence[str], sw: Any, xp_sum: Callable[[Any], Any]
) -> Callable[..., Any]:
    """``(*diff) -> combined(...)`` on ``base`` with its arrays at ``positions`` replaced by ``diff``:
    the function an autodiff framework differentiates (with respect to all its arguments)."""
    fn = case.resolve()

    def total(*diff: Any) -> Any:
        moved = list(base)
        for i, x in zip(positions, diff):
            moved[i] = x
        args, kw = case.call_args(tuple(moved))
        return combined(xp_sum, fn, args, kw, reductions, sw)

    return total


def numpy_value(case: Case, reductions: Sequence[str], sw: Any) -> Callable[[list[Any]], float]:
    """``arrays -> combined(...)`` on the NumPy backend (for finite differences in float64)."""
    fn = case.resolve()

    def value(arrays: list[Any]) -> float:
        args, kw = case.call_args(tuple(arrays))
        return float(combined(np.sum, fn, args, kw, reductions, sw))

    return value


# ------------------------------------------------------------------ autodiff
def _torch(case: Case, arrays: Sequence[Any], positions: list[int], dtype: str, reductions: Sequence[str], sw: Any) -> list[Any]:
    import torch

    ts = [torch.as_tensor(cast(a, dtype)) for a in arrays]
    for i in positions:
        ts[i].requires_grad_(True)
    args, kw = case.call_args(tuple(ts))
    weight = None if sw is None else torch.as_tensor(np.asarray(sw, dtype=dtype))
    total = combined(torch.sum, case.resolve(), args, kw, reductions, weight)
    gs = torch.autograd.grad(total, [ts[i] for i in positions], allow_unused=True)
    return [np.zeros(np.shape(arrays[i])) if g is None else g.double().numpy() for i, g in zip(positions, gs)]


def _jax(case: Case, arrays: Sequence[Any], positions: list[int], dtype: str, reductions: Sequence[str], sw: Any) -> list[Any]:
    import jax
    import jax.numpy as jnp

    base = [jnp.asarray(cast(a, dtype)) for a in arrays]
    weight = None if sw is None else jnp.asarray(np.asarray(sw, dtype=dtype))

    def grads(diff: list[Any], full: list[Any], weight: Any) -> Any:
        total = total_over(case, full, positions, reductions, weight, jnp.sum)
        return jax.grad(total, argnums=tuple(range(len(diff))))(*diff)

    # one compiled program per case (every reduction's gradient together): op by op, the same
    # gradient dispatches and compiles each primitive for each shape (op-by-op grads are
    # exercised in tests/test_extremes.py)
    gs = jax.jit(grads)([base[i] for i in positions], base, weight)
    return list(gs)


def _tensorflow(case: Case, arrays: Sequence[Any], positions: list[int], dtype: str, reductions: Sequence[str], sw: Any) -> list[Any]:
    import tensorflow as tf

    ts = [tf.convert_to_tensor(cast(a, dtype)) for a in arrays]
    weight = None if sw is None else tf.convert_to_tensor(np.asarray(sw, dtype=dtype))
    with tf.GradientTape() as tape:
        for i in positions:
            tape.watch(ts[i])
        args, kw = case.call_args(tuple(ts))
        total = combined(tf.reduce_sum, case.resolve(), args, kw, reductions, weight)
    gs = tape.gradient(total, [ts[i] for i in positions], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [g.numpy() for g in gs]


#: one function per framework of :data:`unilosses.arrays.AUTODIFF`
_AUTODIFF = {"torch": _torch, "jax": _jax, "tensorflow": _tensorflow}


def autodiff(
    framework: str,
    case: Case,
    arrays: Sequence[Any],
    positions: list[int],
    reductions: Sequence[str] = GRAD_REDUCTIONS,
    sw: Any = None,
    dtype: str = "float32",
) -> list[np.ndarray]:
    """``framework``'s gradient of :func:`combined` w.r.t. the inputs at ``positions``, as float64 NumPy.

    The inputs are NumPy arrays, converted to ``framework`` (floats as ``dtype``);
    ``sw`` (sample weights) likewise, or None.
    """
    if framework not in AUTODIFF:
        raise ValueError(f"framework must be one of {sorted(AUTODIFF)}, got {framework!r}")
    grads = _AUTODIFF[framework](case, arrays, positions, dtype, reductions, sw)
    return [np.asarray(g, dtype=np.float64) for g in grads]


# -------------------------------------------------------- finite differences
def perturb_numpy(a: Any, j: int, d: float) -> np.ndarray:
    """A float64 copy of ``a`` with flat entry ``j`` moved by ``d``."""
    out = np.array(a, dtype=np.float64, copy=True)
    out.flat[j] += d
    return out


def numeric_gradient(
    value: Callable[[list[Any]], float],
    arrays: list[Any],
    positions: list[int],
    perturb: Callable[[Any, int, float], Any] = perturb_numpy,
    *,
    h: float = 1e-6,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Finite-difference gradient of ``value`` w.r.t. ``arrays[i]`` for ``i`` in ``positions``.

    Central differences at steps ``h`` and ``h / 2``, Richardson-extrapolated
    (error O(h^4): plain central differences, O(h^2), miss by 1e-4 where the
    third derivative is large, e.g. a focal loss with ``gamma=0.5`` near p = 1).
    Returns ``(gradient, smooth)`` per position: ``smooth`` is False where the
    one-sided differences, or the two central ones, disagree (a kink: no
    gradient there to compare). ``value`` should compute in float64.
    """
    f0 = value(arrays)
    out = []
    for i in positions:
        shape = np.shape(arrays[i])
        grad = np.zeros(int(np.prod(shape)))
        smooth = np.zeros(grad.size, dtype=bool)

        def at(j: int, d: float, i: int = i) -> float:
            return value([perturb(a, j, d) if k == i else a for k, a in enumerate(arrays)])

        for j in range(grad.size):
            grad[j], smooth[j] = _richardson(f0, h, at(j, h), at(j, -h), at(j, h / 2), at(j, -h / 2))
        out.append((grad.reshape(shape), smooth.reshape(shape)))
    return out


def _richardson(f0: float, h: float, fp: float, fm: float, fp2: float, fm2: float) -> tuple[float, bool]:
    """(the extrapolated derivative, whether no kink lies within ``h``) from f(x), f(x +- h), f(x +- h/2)."""
    fwd, bwd = (fp - f0) / h, (f0 - fm) / h
    c1, c2 = (fp - fm) / (2 * h), (fp2 - fm2) / h
    smooth = not (abs(fwd - bwd) > 0.1 * (abs(fwd) + abs(bwd)) + 1e-4 or abs(c1 - c2) > 0.01 * abs(c2) + 1e-4)
    return (4 * c2 - c1) / 3, smooth


def directions(shapes: Sequence[tuple[int, ...]], masks: Sequence[np.ndarray] | None = None, seed: int = 3) -> list[list[np.ndarray]]:
    """Three directions through the inputs of ``shapes`` for :func:`directional_derivatives`:
    positive uniform entries in [0.5, 1] (a gradient off by a constant shows in full), then two
    standard normal ones scaled to entries of at most 1 (errors that sum to zero show too); 0
    where ``masks`` is False (kinks)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(3):
        draw = (lambda s: rng.uniform(0.5, 1.0, s)) if k == 0 else (lambda s: rng.standard_normal(s))
        v = [draw(s) * (1.0 if masks is None else masks[n]) for n, s in enumerate(shapes)]
        # entries at most 1: no entry moves by more than the step, as entry by entry (an input at
        # the edge of its domain, a target of 0 in [0, 1], stays within the checks' slack)
        top = max([0.0] + [float(np.max(np.abs(vi), initial=0.0)) for vi in v])
        out.append([vi / top for vi in v] if top > 1.0 else v)
    return out


def smooth_directions(
    value: Callable[[list[Any]], float], arrays: list[Any], positions: list[int],
    kinks: Callable[[list[Any]], float] | None = None,
) -> tuple[list[list[np.ndarray]], list[tuple[float, bool]], tuple[int, int]]:
    """:func:`directions` through ``arrays[i]`` (``i`` in ``positions``) that cross no kink of
    ``value``, with ``value``'s :func:`directional_derivatives` along them, and (entries on a
    kink, entries): the cost does not grow with the inputs' size unless a kink lies within a step.

    The unmasked directions come first; where one crosses a kink, the per-entry
    :func:`numeric_gradient` of ``kinks`` (default ``value``; a float64 function whose kinks are
    ``value``'s, cheaper to evaluate entry by entry) finds the entries on a kink, and the directions
    are drawn again, 0 there.
    """
    shapes = [np.shape(arrays[i]) for i in positions]
    size = sum(int(np.prod(s)) for s in shapes)
    dirs = directions(shapes)
    numeric = directional_derivatives(value, arrays, positions, dirs)
    if all(smooth for _, smooth in numeric):
        return dirs, numeric, (0, size)
    masks = [smooth for _, smooth in numeric_gradient(kinks or value, arrays, positions)]
    dirs = directions(shapes, masks)
    return dirs, directional_derivatives(value, arrays, positions, dirs), (sum(int(np.sum(~m)) for m in masks), size)


def directional_derivatives(
    value: Callable[[list[Any]], float], arrays: list[Any], positions: list[int], dirs: Sequence[Sequence[np.ndarray]],
    *, h: float = 1e-6,
) -> list[tuple[float, bool]]:
    """:func:`numeric_gradient`'s differences along each direction (one array per position):
    four evaluations per direction, whatever the size of the inputs (the per-entry
    :func:`numeric_gradient` takes four per entry). Returns ``(derivative, smooth)`` per
    direction, ``smooth`` False where the differences disagree (a kink)."""
    f0 = value(arrays)

    def at(v: Sequence[np.ndarray], d: float) -> float:
        moved = list(arrays)
        for i, vi in zip(positions, v):
            moved[i] = np.asarray(arrays[i], dtype=np.float64) + d * vi
        return value(moved)

    return [_richardson(f0, h, at(v, h), at(v, -h), at(v, h / 2), at(v, -h / 2)) for v in dirs]


def compare_directional(
    grads: Sequence[np.ndarray], numeric: Sequence[tuple[float, bool]], dirs: Sequence[Sequence[np.ndarray]],
    *, rtol: float, atol: float, what: str = "directional derivative",
) -> tuple[float, bool, str]:
    """``grads`` projected on each direction against :func:`directional_derivatives`.

    Along ``v`` the tolerance is ``atol sum_j |v_j| + rtol |numeric|``: what an
    error of ``atol`` in every entry would give. The difference reported is per
    unit of ``sum_j |v_j|`` (on the first, positive direction, a gradient off by
    ``c`` everywhere differs by ``c``), as torch's ``gradcheck(fast_mode=True)`` scales its
    ``atol``. Fails when every direction crosses a kink. ``what`` names the gradient in the message.
    """
    worst, ok, bad, checked = 0.0, True, [], 0
    for k, (v, (num, smooth)) in enumerate(zip(dirs, numeric)):
        if not smooth:
            continue
        checked += 1
        got = sum(float(np.sum(np.asarray(g, dtype=np.float64) * vi)) for g, vi in zip(grads, v))
        if not np.isfinite(got):
            return float("inf"), False, "gradient is not finite"
        norm = sum(float(np.sum(np.abs(vi))) for vi in v) or 1.0
        d = abs(got - num)
        worst = max(worst, d / norm)
        if d > atol * norm + rtol * abs(num):
            ok = False
            bad.append((k, got, num))
    if not checked:
        return worst, False, "every direction crosses a kink"
    msg = "" if ok else f"{what} != finite differences at (direction, autodiff, numeric): {bad}"
    return worst, ok, msg


def compare(
    grads: Sequence[np.ndarray], numeric: Sequence[tuple[np.ndarray, np.ndarray]], *, rtol: float, atol: float
) -> tuple[float, bool, str]:
    """``grads`` against :func:`numeric_gradient` on the smooth entries.

    Returns (largest difference, agreement, a message on disagreement). Fails
    when more entries sit on kinks than are checked, so a comparison cannot
    pass vacuously.
    """
    worst, ok, checked, skipped, bad = 0.0, True, 0, 0, []
    for k, (g, (num, smooth)) in enumerate(zip(grads, numeric)):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != num.shape:
            return float("inf"), False, f"gradient {k} has shape {g.shape}, expected {num.shape}"
        if not np.all(np.isfinite(g)):
            return float("inf"), False, f"gradient {k} is not finite"
        d = np.abs(g - num)[smooth]
        checked += d.size
        skipped += int(np.sum(~smooth))
        worst = max(worst, float(np.max(d, initial=0.0)))
        fail = d > atol + rtol * np.abs(num[smooth])
        if np.any(fail):
            ok = False
            idx = np.flatnonzero(smooth)[fail][:4]
            bad += [(k, int(j), float(g.flat[j]), float(num.flat[j])) for j in idx]
    if checked < skipped:
        return worst, False, f"{skipped} of {checked + skipped} entries sit on kinks"
    msg = "" if ok else f"gradient != finite differences at (input, flat index, autodiff, numeric): {bad}"
    return worst, ok, msg
