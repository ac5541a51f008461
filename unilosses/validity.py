"""Input values that cannot be valid: refused where they can be read, NaN where they cannot.

A target outside [0, 1] for a binary loss, a negative target distribution, probabilities
outside [0, 1] with ``from_logits=False`` (logits passed by mistake, or the arguments
swapped): each would give a plausible, wrong number. Where values can be read without a
device synchronisation (NumPy, eager CPU torch and TensorFlow) they raise a ValueError
that names the input and the likely fix; elsewhere (JAX, GPUs, under ``jit`` /
``torch.compile`` / ``tf.function``, Dask) the element becomes NaN, as out-of-range labels
do. Nothing is read or masked for logits, the common training path.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SWAPPED",
    "both",
    "check_values",
    "label_range_error",
    "nan_where",
    "probabilities",
    "targets_01",
    "targets_nonnegative",
]

#: rounding slack of the range checks (a probability of 1 + 1e-7 is a probability)
_SLACK = 1e-6
#: the hint of a target that looks like predictions
SWAPPED = "; did you swap the arguments? unilosses takes (y_true, y_pred), Keras' order"


def check_values(be: Any, x: Any, name: str, lo: float, hi: float, what: str, hint: str = "") -> Any:
    """Values of ``x`` outside ``[lo, hi]`` (with a rounding slack) cannot be valid.

    Where values can be read without a device synchronisation (NumPy, eager CPU torch and
    TensorFlow) they raise a ValueError naming ``name``, and None is returned; elsewhere
    the element mask of valid values is returned, for :func:`nan_where` (no silent number).
    """
    if be.concrete(x):
        r = be.host_range(x)
        if r is not None and (r[0] < lo - _SLACK or r[1] > hi + _SLACK):
            raise ValueError(f"{name}: expected {what}, got values in [{r[0]:.4g}, {r[1]:.4g}]{hint}")
        return None
    xp = be.xp
    ok = x >= lo - _SLACK
    return ok if hi == float("inf") else xp.logical_and(ok, x <= hi + _SLACK)


def probabilities(be: Any, y_pred: Any) -> Any:
    """:func:`check_values` of predictions given as probabilities (``from_logits=False``)."""
    return check_values(
        be, y_pred, "y_pred", 0.0, 1.0, "probabilities in [0, 1] (from_logits=False)",
        "; did you mean from_logits=True?",
    )


def nan_where(be: Any, ok: Any, values: Any) -> Any:
    """``values`` with NaN where ``ok`` is False (``ok`` None: unchanged)."""
    return values if ok is None else be.xp.where(ok, values, float("nan"))


def both(be: Any, a: Any, b: Any) -> Any:
    """The conjunction of two masks from :func:`check_values` (None: nothing to mask)."""
    if a is None or b is None:
        return b if a is None else a
    return be.xp.logical_and(a, b)


def targets_01(be: Any, y: Any) -> Any:
    """:func:`check_values` of binary targets: in [0, 1]."""
    return check_values(
        be, y, "y_true", 0.0, 1.0, "binary targets in [0, 1]",
        " (labels in {-1, 1} take hinge or soft_margin)",
    )


def targets_nonnegative(be: Any, y: Any) -> Any:
    """:func:`check_values` of target distributions: non-negative."""
    return check_values(be, y, "y_true", 0.0, float("inf"), "non-negative target probabilities", SWAPPED)


#: the label torch's losses ignore by default (``ignore_index=-100``); Keras has no default
TORCH_IGNORED = -100


def label_range_error(be: Any, labels: Any, num_classes: int, ignore_index: Any = None, name: str = "y_true") -> ValueError:
    """The ValueError of integer ``labels`` outside ``[0, num_classes)`` (and not ``ignore_index``).

    It names the first offending label and its index in ``labels``, how many there are, and
    the likely fix: torch's ignored label -100 needs ``ignore_index=-100``; a label equal to
    ``num_classes`` is often a 1-based label. Only called where values are read on the host
    (:meth:`Backend.concrete`), after a range check failed.
    """
    xp = be.xp
    flat = xp.reshape(labels, (-1,))
    bad = xp.logical_or(flat < 0, flat >= num_classes)
    if ignore_index is not None:
        bad = xp.logical_and(bad, xp.not_equal(flat, ignore_index))
    size = int(flat.shape[0])
    n = int(be.host_float(xp.sum(xp.astype(bad, xp.int32))))
    position = xp.arange(size, dtype=flat.dtype, device=be.device(flat))
    first = int(be.host_float(xp.min(xp.where(bad, position, xp.full_like(position, size)))))
    value = int(be.host_float(flat[first]))
    where = _unravel(first, tuple(labels.shape))
    allowed = f"[0, {num_classes - 1}]" + ("" if ignore_index is None else f" or equal ignore_index={ignore_index}")
    more = f" ({n - 1} more outside the range)" if n > 1 else ""
    hint = ""
    if value == TORCH_IGNORED:
        hint = "; torch's ignored label -100 needs ignore_index=-100"
    elif value < 0 and ignore_index is None:
        hint = f"; to leave out samples labelled {value}, pass ignore_index={value}"
    elif value == num_classes:
        hint = f"; classes are numbered from 0 (1-based labels? subtract 1; {num_classes} classes take 0..{num_classes - 1})"
    return ValueError(f"{name}: labels must lie in {allowed}; got {value} at index {where}{more}{hint}")


def _unravel(i: int, shape: tuple[int, ...]) -> Any:
    """The position of flat index ``i`` in an array of ``shape``: an int for a 1-D array, a tuple otherwise."""
    if len(shape) <= 1:
        return i
    out = []
    for size in reversed(shape):
        i, r = divmod(i, size)
        out.append(r)
    return tuple(reversed(out))
