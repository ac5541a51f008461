"""Shapes, axes and labels: the checks and conversions every loss family shares (static shapes only)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from unilosses.dims import UNKNOWN_RANK, broadcasts, same_shape, shape_of
from unilosses.reduction import PerSample
from unilosses.rules import not_numbers
from unilosses.validity import label_range_error

__all__ = [
    "SparseTargets",
    "row_positions",
    "check_broadcasts",
    "check_class_weight",
    "check_labels",
    "class_axis",
    "count_classes",
    "float_targets",
    "mean_over",
    "nan_out_of_range",
    "relu",
    "sparse_labels",
    "sparse_targets",
]


def row_positions(be: Any, x: Any) -> Any:
    """``0, 1, ..., N - 1`` along ``x``'s first axis, also where N is known only when the code runs
    (a ``tf.function`` traced with a batch size of None, where ``arange(None)`` would be empty)."""
    xp = be.xp
    n = x.shape[0]
    if n is not None:
        return xp.arange(n, dtype=be.index_dtype, device=be.device(x))
    ones = xp.ones_like(x[(slice(None),) + (0,) * (x.ndim - 1)], dtype=be.index_dtype)
    return be.cumulative_sum(ones, 0) - 1


def relu(be: Any, x: Any) -> Any:
    """``max(x, 0)``; ``clip`` takes a Python bound under ``torch.compile(fullgraph=True)``,
    where array-api-compat's ``maximum(x, 0.0)`` breaks the graph."""
    return be.xp.clip(x, min=0.0)


def class_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """``axis`` as a non-negative index into an array of rank ``ndim``."""
    if not isinstance(axis, int):  # None passes the shared rule of element-wise losses
        raise TypeError(f"{name}: expected an integer axis for this loss, got {axis!r}")
    if not -ndim <= axis < ndim:
        if ndim is None or ndim < 0:  # TensorFlow's unknown rank
            raise ValueError(UNKNOWN_RANK.format(name="y_pred"))
        raise ValueError(f"{name}: expected an axis in [{-ndim}, {ndim - 1}] for y_pred of rank {ndim}, got {axis}")
    return axis % ndim


def count_classes(y_pred: Any, axis: int) -> Any:
    """The (static) size K of the class axis ``axis``; K = 0 is a ValueError (no class
    a label could name, and ``e / K`` in label smoothing)."""
    k = shape_of(y_pred)[axis]
    if k == 0:
        raise ValueError(
            f"y_pred: expected at least one class along the class axis {axis}, got shape {shape_of(y_pred)}"
        )
    return k


def float_targets(be: Any, y_true: Any, y_pred: Any) -> Any:
    """y_true as y_pred's dtype and shape (a trailing size-1 axis may differ, as in Keras; a
    scalar target applies to every element)."""
    xp = be.xp
    ts, ps = shape_of(y_true), shape_of(y_pred)
    if not ts:
        pass
    elif len(ts) == len(ps) + 1 and ts[-1] == 1:
        y_true = xp.squeeze(y_true, axis=-1)
    elif len(ps) == len(ts) + 1 and ps[-1] == 1:
        y_true = xp.expand_dims(y_true, axis=-1)
    if ts and not same_shape(shape_of(y_true), ps):
        raise ValueError(f"y_true: expected the shape of y_pred {ps}, got {ts}")
    if y_true.dtype != y_pred.dtype:
        error = not_numbers("y_true", y_true.dtype)
        if error is not None:
            raise error
        y_true = xp.astype(y_true, y_pred.dtype)
    return y_true


def mean_over(be: Any, values: Any, axis: Any) -> Any:
    """Keras' per-sample mean over ``axis``; ``axis=None`` keeps per-element values."""
    if axis is None:
        return values
    class_axis(axis, values.ndim)
    return be.xp.mean(values, axis=axis)


def sparse_labels(be: Any, y_true: Any, y_pred: Any, axis: int) -> Any:
    """Integer labels of y_pred's shape without ``axis`` (a size-1 ``axis`` is squeezed)."""
    xp = be.xp
    ps = shape_of(y_pred)
    count_classes(y_pred, axis)
    expected = ps[:axis] + ps[axis + 1 :]
    ts = shape_of(y_true)
    if len(ts) == len(ps) and ts[axis] == 1:
        y_true = xp.squeeze(y_true, axis=axis)
    if not same_shape(shape_of(y_true), expected):
        hint = ""
        if len(ps) >= 3 and axis != 1 and same_shape(shape_of(y_true), ps[:1] + ps[2:]):
            hint = "; for torch's (N, C, ...) layout pass axis=1"
        raise ValueError(
            f"y_true: expected integer labels of shape {expected} for y_pred of shape {ps} "
            f"(class axis {axis}), got {ts}{hint}"
        )
    if y_true.dtype != be.index_dtype:
        if be.xp.isdtype(y_true.dtype, "bool"):
            raise TypeError("y_true: expected integer class labels, got booleans")
        if be.xp.isdtype(y_true.dtype, "real floating"):
            return _float_labels(be, y_true)
        error = not_numbers("y_true", y_true.dtype)
        if error is not None:
            raise error
        y_true = xp.astype(y_true, be.index_dtype)
    return y_true


def _float_labels(be: Any, y_true: Any) -> Any:
    """Float labels (Keras casts them) must hold integers: a fraction is no class (a
    probability or a one-hot passed to a sparse loss). ValueError where values are
    concrete; elsewhere the label becomes -2**30, out of range, so the sample is NaN."""
    xp = be.xp
    whole = xp.equal(xp.floor(y_true), y_true)
    if be.concrete(y_true):
        if be.any_true(xp.logical_not(whole)):
            raise ValueError(
                "y_true: expected integer class labels, got a float label with a fraction "
                "(targets as probabilities or one-hot take categorical_crossentropy)"
            )
        return xp.astype(y_true, be.index_dtype)
    return xp.astype(xp.where(whole, y_true, -(2.0**30)), be.index_dtype)


def check_broadcasts(name: str, x: Any, shape: tuple[Any, ...], like: str = "y_pred") -> None:
    """``x`` (an array option such as ``pos_weight``) must broadcast to ``shape``, the
    shape of the input called ``like``: a ValueError naming both, not a framework's
    broadcasting error (torch's RuntimeError, TensorFlow's InvalidArgumentError)."""
    xs = shape_of(x)
    if not broadcasts(xs, tuple(shape)):
        raise ValueError(f"{name}: expected a shape that broadcasts to {like}'s shape {tuple(shape)}, got {xs}")


def check_class_weight(class_weight: Any, num_classes: Any, name: str = "class_weight") -> None:
    """class_weight must be 1-D with one entry per class."""
    shape = shape_of(class_weight)
    if len(shape) != 1 or (num_classes is not None and shape[0] is not None and shape[0] != num_classes):
        raise ValueError(
            f"{name}: expected a 1-D array with one weight per class ({num_classes}), got shape {shape}"
        )


def check_labels(be: Any, labels: Any, num_classes: int, ignore_index: Any, y_pred: Any) -> tuple[Any, Any, Any]:
    """(safe labels, in-range mask or None, valid mask) for integer ``labels``.

    Out-of-range labels that are not ignored: a ValueError where the values can
    be read without a device synchronisation (the in-range mask is then None:
    every label that counts is in range), NaN in the loss otherwise (apply
    :func:`nan_out_of_range` to the per-sample values).
    """
    xp = be.xp
    valid = None if ignore_index is None else xp.not_equal(labels, ignore_index)
    if be.concrete(y_pred):
        if not be.labels_in_range(labels, num_classes, ignore_index):
            raise label_range_error(be, labels, num_classes, ignore_index)
        if ignore_index is None or 0 <= ignore_index < num_classes:
            return labels, None, valid
        return xp.where(valid, labels, xp.zeros_like(labels)), None, valid
    in_range = xp.logical_and(labels >= 0, labels < num_classes)
    safe = xp.where(in_range, labels, xp.zeros_like(labels))
    return safe, in_range, valid


def nan_out_of_range(be: Any, values: Any, in_range: Any, valid: Any) -> Any:
    """``values`` with NaN where a label that is not ignored is out of range.

    ``in_range`` and ``valid`` come from :func:`check_labels` (``in_range`` None:
    nothing to mark).
    """
    if in_range is None:
        return values
    xp = be.xp
    ok = in_range if valid is None else xp.logical_or(in_range, xp.logical_not(valid))
    return xp.where(ok, values, math.nan)


class SparseTargets(NamedTuple):
    """Integer labels made ready for a sparse loss by :func:`sparse_targets`."""

    axis: int  #: the class axis, non-negative
    num_classes: Any  #: K, the static size of the class axis
    safe: Any  #: labels usable as indices (ignored / out-of-range ones replaced by 0)
    in_range: Any  #: in-range mask, or None when every label that counts was checked on the host
    valid: Any  #: not-ignored mask, or None without ignore_index
    weight: Any  #: class_weight[label], or None without class_weight

    def per_sample(self, be: Any, values: Any) -> Any:
        """The loss's return: NaN for out-of-range labels, with the label weights and ignored samples."""
        values = nan_out_of_range(be, values, self.in_range, self.valid)
        if self.weight is None and self.valid is None:
            return values
        return PerSample(values, weight=self.weight, valid=self.valid)


def sparse_targets(
    be: Any, y_true: Any, y_pred: Any, axis: int, ignore_index: Any = None, class_weight: Any = None
) -> SparseTargets:
    """Shape, dtype and range checks of integer ``y_true`` against ``y_pred``'s class axis, and
    the per-sample class weights: the preamble every sparse loss shares."""
    axis = class_axis(axis, y_pred.ndim)
    num_classes = count_classes(y_pred, axis)
    labels = sparse_labels(be, y_true, y_pred, axis)
    safe, in_range, valid = check_labels(be, labels, num_classes, ignore_index, y_pred)
    weight = None
    if class_weight is not None:
        check_class_weight(class_weight, num_classes)
        weight = be.lookup(class_weight, safe)
    return SparseTargets(axis, num_classes, safe, in_range, valid, weight)
