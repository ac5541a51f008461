"""Segmentation losses: Dice, Tversky and optax's generalized Dice.

Each function is the specification: written once over an Array API namespace,
it runs on NumPy, JAX, PyTorch, TensorFlow and any Array API library.

Which axes the sums run over (Keras' ``axis``, one rule for every loss here):

- ``axis=None`` (the default): every axis, so one value for the whole batch, as
  Keras' ``dice(y_true, y_pred)`` gives (a 0-d per-sample result; a sample weight
  must then be a scalar);
- ``per_sample=True``: every axis but the first, so one value per sample (an
  image, a volume), as Keras' ``axis=(1, ..., ndim - 1)`` and optax's default;
- an int or a tuple ``axis``: those axes (Keras' ``axis=axis``).

With ``class_axis`` (optax's multi-class form) that axis is never summed: one
value per class, weighted by ``class_weight`` and averaged over the classes, and
``from_logits=True`` applies a softmax along it (a sigmoid when it has size 1).
"""

from __future__ import annotations

from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.rules import axes, flag, in_range
from unilosses.rules import axis as one_axis
from unilosses.shapes import check_class_weight, count_classes, float_targets
from unilosses.shapes import class_axis as axis_index

__all__ = [
    "Dice",
    "MulticlassGeneralizedDice",
    "Tversky",
    "dice",
    "multiclass_generalized_dice",
    "tversky",
]

#: Keras' ``backend.epsilon()``, added to the denominators
_EPSILON = 1e-7
_INF = float("inf")
#: the options every loss here shares, with their rules
_RULES = {
    "axis": axes,
    "per_sample": flag,
    "class_axis": one_axis,
    "smooth": in_range(0.0, _INF),
    "ignore_background": flag,
}


def _check(
    axis: Any = None, per_sample: bool = False, class_axis: Any = None, ignore_background: bool = False, **_: Any
) -> None:
    if per_sample and axis is not None:
        raise ValueError(
            f"per_sample: sums over every axis but the first, so it needs axis=None; got axis={axis!r} "
            "(an explicit axis already says which axes are summed)"
        )
    if ignore_background and class_axis is None:
        raise ValueError("ignore_background: needs the class axis; pass class_axis= (-1 for channels last, 1 for NCHW)")


def _check_class_weight(class_weight: Any, classes: Any) -> None:
    if class_weight is not None and classes is None:
        raise ValueError("class_weight: needs the class axis; pass class_axis= (-1 for channels last, 1 for NCHW)")


def _summed_axes(axis: Any, per_sample: bool, classes: Any, ndim: int) -> Any:
    """The axes the sums run over (None: all of them), never the class axis ``classes``."""
    if isinstance(axis, tuple):
        out = tuple(sorted(axis_index(a, ndim) for a in axis))
        if len(set(out)) != len(out):
            raise ValueError(f"axis: expected distinct axes, got {axis} for y_pred of rank {ndim}")
    elif axis is not None:
        out = (axis_index(axis, ndim),)
    elif per_sample:
        if ndim < 2:
            raise ValueError(
                f"y_pred: expected a batch of shape (batch, ...) with at least 2 axes for per_sample=True, "
                f"got {ndim} axis; pass axis=0 for a single sample"
            )
        if classes == 0:
            raise ValueError("class_axis: the class axis 0 cannot be the batch axis of per_sample=True")
        out = tuple(a for a in range(1, ndim) if a != classes)
    elif classes is None:
        return None
    else:
        out = tuple(a for a in range(ndim) if a != classes)
    if classes is not None and classes in out:
        raise ValueError(f"class_axis: the class axis {classes} cannot be summed over; got axis={axis!r}")
    return out


def _probabilities(be: Any, y_pred: Any, classes: Any, from_logits: bool) -> Any:
    """``y_pred``, or with ``from_logits`` its softmax along the class axis (a sigmoid
    without one, or for a class axis of size 1: optax's rule), from log-probabilities."""
    if not from_logits:
        return y_pred
    if classes is None or y_pred.shape[classes] == 1:
        return be.xp.exp(-be.softplus(-y_pred))
    return be.xp.exp(be.log_softmax(y_pred, classes))


class _Overlap:
    """A soft overlap between targets ``y`` and probabilities ``p``, summed over the axes
    chosen by ``axis`` / ``per_sample``, with the class axis (if any) kept."""

    def __init__(
        self, be: Any, y_true: Any, y_pred: Any, axis: Any, per_sample: bool, classes: Any, from_logits: bool
    ) -> None:
        ndim = y_pred.ndim
        self.classes = None if classes is None else axis_index(classes, ndim, "class_axis")
        if self.classes is not None:
            count_classes(y_pred, self.classes)
        self.summed = _summed_axes(axis, per_sample, self.classes, ndim)
        self.y = float_targets(be, y_true, y_pred)
        self.p = _probabilities(be, y_pred, self.classes, from_logits)
        self._xp = be.xp

    def _sum(self, x: Any) -> Any:
        # an empty tuple sums nothing (optax's default on (batch, classes) inputs)
        return x if self.summed == () else self._xp.sum(x, axis=self.summed)

    def _guard(self, smooth: Any) -> Any:
        """What the denominator adds to ``smooth``: Keras' 1e-7 where ``smooth = 0`` (Keras has no
        ``smooth``), nothing otherwise (optax's ``smooth`` alone keeps it positive)."""
        if isinstance(smooth, (int, float)):
            return _EPSILON if smooth == 0 else 0.0
        xp = self._xp
        return xp.astype(xp.equal(smooth, 0), self.p.dtype) * _EPSILON

    def dice(self, smooth: Any) -> Any:
        """``1 - (2 I + 2 s) / (Y + P + 2 s)`` per kept position (``+ 1e-7`` where ``s = 0``)."""
        y, p = self.y, self.p
        return 1.0 - (2.0 * self._sum(y * p) + 2.0 * smooth) / (
            self._sum(y) + self._sum(p) + (2.0 * smooth + self._guard(smooth))
        )

    def tversky(self, alpha: Any, beta: Any, smooth: Any) -> Any:
        """``1 - (I + s) / (I + alpha missed + beta extra + s)`` per kept position (``+ 1e-7`` where
        ``s = 0``; the error sums as Keras sums them, not ``Y - I``: no cancellation when I is
        close to Y)."""
        y, p = self.y, self.p
        i = self._sum(y * p)
        missed, extra = self._sum(y * (1.0 - p)), self._sum((1.0 - y) * p)
        return 1.0 - (i + smooth) / (i + alpha * missed + beta * extra + (smooth + self._guard(smooth)))

    def class_position(self) -> Any:
        """Where the class axis is in the per-position values (None without one)."""
        c = self.classes
        if c is None:
            return None
        return c if self.summed is None else c - sum(1 for a in self.summed if a < c)

    def over_classes(self, be: Any, values: Any, class_weight: Any, ignore_background: bool) -> Any:
        """optax's class reduction: ``mean_c(class_weight[c] * values[..., c, ...])``, over the
        classes but the first with ``ignore_background`` (when there are several)."""
        pos = self.class_position()
        if pos is None:
            return values
        xp = be.xp
        k = values.shape[pos]
        if class_weight is not None:
            check_class_weight(class_weight, k)
            shape = [1] * values.ndim
            shape[pos] = k
            values = values * xp.reshape(class_weight, tuple(shape))
        if ignore_background and k > 1:
            values = values[(slice(None),) * pos + (slice(1, None),)]
        return xp.mean(values, axis=pos)


@loss(arrays=("class_weight",), rules=_RULES, check=_check)
def dice(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    axis: Any = None,
    per_sample: bool = False,
    class_axis: Any = None,
    from_logits: bool = False,
    smooth: float = 0.0,
    class_weight: Any = None,
    ignore_background: bool = False,
) -> Any:
    """Dice loss: one minus the soft Dice coefficient.

    With the sums over the axes chosen by ``axis`` / ``per_sample`` (the whole
    batch by default, Keras) and ``s = smooth``::

        loss = 1 - (2 * sum(y_true * p) + 2 s) / (sum(y_true) + sum(p) + 2 s)

    with Keras' 1e-7 added to the denominator where ``s = 0`` (optax's ``smooth``
    alone where it is positive).

    ``p`` is ``y_pred``, or with ``from_logits=True`` its sigmoid (its softmax
    along ``class_axis``). With ``class_axis`` the class axis is kept: one loss
    per class, multiplied by ``class_weight[c]`` and averaged over the classes
    (over all but class 0 with ``ignore_background``).

    Parameters
    ----------
    y_true : array, shape of y_pred (a trailing axis of size 1 may differ)
        Target masks (binary or soft, in [0, 1]; one-hot along ``class_axis``);
        Python / NumPy values are converted to y_pred's framework.
    y_pred : array, shape (N, ...)
        Predicted probabilities, or logits with ``from_logits=True``. Decides the backend.
    axis : int, tuple of ints, or None
        The axes summed over (Keras' ``axis``, removed from the output). ``None``:
        every axis (but ``class_axis``), one value for the whole batch.
    per_sample : bool
        With ``axis=None``: sum over every axis but the first (and ``class_axis``),
        one value per sample (Keras' ``axis=(1, ..., ndim - 1)``, optax's default).
    class_axis : int or None
        The class axis of multi-class masks (optax's last axis; 1 for NCHW): kept
        out of the sums, reduced by a (weighted) mean over the classes.
    from_logits : bool
        ``y_pred`` holds logits: a softmax along ``class_axis``, or a sigmoid
        (no class axis, or one of size 1), as optax's ``apply_softmax=True``.
    smooth : float >= 0
        Added to numerator and denominator (optax's ``smooth``; Keras has none).
    class_weight : array, shape (K,), optional
        Weight of each class's loss (optax's ``class_weights``); needs ``class_axis``.
    ignore_background : bool
        Leave class 0 out of the mean over classes (optax); needs ``class_axis``.
    sample_weight : array broadcastable to the per-sample loss, optional
        A scalar for the whole-batch default.

    Returns
    -------
    array
        ``reduction="none"``: 0-d by default (the whole batch), shape (N,) with
        ``per_sample=True``, else y_pred's shape without the summed axes and
        ``class_axis``; a scalar otherwise.

    Notes
    -----
    The defaults match ``keras.losses.dice(y_true, y_pred)`` and
    ``keras.losses.Dice()`` (one value for the batch; Keras' 1e-7 is
    ``backend.epsilon()``); ``keras.losses.dice(..., axis=a)`` is ``axis=a``, and
    ``axis=(1, ..., ndim - 1)`` is ``per_sample=True``.
    ``optax.losses.dice_loss(logits, targets, class_weights=w, smooth=s,
    apply_softmax=True, ignore_background=b)`` (classes last, ``reduction="mean"``)
    is ``dice(targets, logits, per_sample=True, class_axis=-1, from_logits=True,
    smooth=s, class_weight=w, ignore_background=b)``; optax's ``axis=a`` is
    ``axis=a`` here; ``apply_softmax=False`` is ``from_logits=False``. optax's
    ``alpha`` / ``beta`` are :func:`tversky`'s ``beta`` / ``alpha``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
    >>> p = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])
    >>> ul.dice(y, p).round(6)
    np.float64(0.616438)
    >>> ul.dice(y, p, per_sample=True).round(6)
    array([0.5     , 0.757576])
    """
    _check_class_weight(class_weight, class_axis)
    o = _Overlap(be, y_true, y_pred, axis, per_sample, class_axis, from_logits)
    return o.over_classes(be, o.dice(smooth), class_weight, ignore_background)


@loss(
    arrays=("class_weight",),
    rules={**_RULES, "alpha": in_range(0.0, _INF), "beta": in_range(0.0, _INF)},
    check=_check,
)
def tversky(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: Any = None,
    per_sample: bool = False,
    class_axis: Any = None,
    from_logits: bool = False,
    smooth: float = 0.0,
    class_weight: Any = None,
    ignore_background: bool = False,
) -> Any:
    """Tversky loss: one minus the Tversky index, a Dice with weighted error terms.

    With the sums over the axes chosen by ``axis`` / ``per_sample`` (the whole
    batch by default, Keras), ``p`` as in :func:`dice`, ``s = smooth`` and Keras'
    names for the two error sums::

        I  = sum(y_true * p)
        fp = sum(y_true * (1 - p))     # weighted by alpha
        fn = sum((1 - y_true) * p)     # weighted by beta
        loss = 1 - (I + s) / (I + alpha * fp + beta * fn + s)      # + 1e-7 where s = 0

    ``alpha = beta = 0.5`` is :func:`dice` (up to the epsilon: 2e-7 there).

    Parameters
    ----------
    y_true, y_pred : array, shape (N, ...)
        See :func:`dice`.
    alpha : float >= 0
        Weight of ``sum(y_true * (1 - p))``: the mass of the targets that the
        prediction misses.
    beta : float >= 0
        Weight of ``sum((1 - y_true) * p)``: the predicted mass outside the targets.
    axis, per_sample, class_axis, from_logits, smooth, class_weight, ignore_background
        See :func:`dice`.

    Returns
    -------
    array, as :func:`dice`.

    Notes
    -----
    The defaults match ``keras.losses.tversky(y_true, y_pred, alpha, beta)`` (one
    value for the batch); ``per_sample=True`` is Keras' ``axis=(1, ..., ndim - 1)``.
    Keras' docstring says ``alpha`` controls false positives, but its code
    multiplies ``alpha`` by ``sum(y_true * (1 - y_pred))`` (what Salehi et al. and
    optax call false negatives); unilosses follows the code.
    ``optax.losses.dice_loss(logits, targets, alpha=a, beta=b, smooth=s, ...)`` is
    ``tversky(targets, logits, alpha=b, beta=a, smooth=s, per_sample=True,
    class_axis=-1, from_logits=True, ...)`` (see :func:`dice` for the other options).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, p = np.array([[1.0, 1.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 1.0, 1.0]])
    >>> ul.tversky(y, p, alpha=1.0, beta=0.25, per_sample=True).round(6)
    array([0.6])
    """
    _check_class_weight(class_weight, class_axis)
    o = _Overlap(be, y_true, y_pred, axis, per_sample, class_axis, from_logits)
    return o.over_classes(be, o.tversky(alpha, beta, smooth), class_weight, ignore_background)


def _class_axis_required(name: str, value: Any) -> int:
    if value is None:
        raise TypeError(f"{name}: expected an integer axis (the class axis), got None")
    return int(one_axis(name, value))


@loss(rules={"class_axis": _class_axis_required, "smooth": _RULES["smooth"], "ignore_background": flag})
def multiclass_generalized_dice(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    class_axis: int = -1,
    from_logits: bool = False,
    smooth: float = 1.0,
    ignore_background: bool = False,
) -> Any:
    """optax's generalized Dice loss: per-class Dice weighted by inverse squared class frequencies.

    With ``f_c = sum(y_true[..., c])`` over the whole batch, the class weights
    ``w_c = 1 / (f_c^2 + 1e-7)``, rescaled to sum to K; per sample ``n`` and class
    ``c``, the sums running over every axis but the batch and class axes::

        d[n, c] = 1 - (2 I + 2 s) / (Y + P + 2 s)        # + 1e-7 where s = 0
        loss[n] = mean_c( w_c * d[n, c] )      # over c >= 1 with ignore_background

    Parameters
    ----------
    y_true : array, shape of y_pred
        One-hot (or soft) targets along ``class_axis``.
    y_pred : array, shape (N, ..., K, ...)
        Probabilities along ``class_axis``, or logits with ``from_logits=True``.
    class_axis : int
        The class axis (-1: channels last, as optax; 1 for NCHW).
    from_logits : bool
        Softmax along ``class_axis`` (sigmoid when it has size 1): optax's
        ``apply_softmax=True``.
    smooth : float >= 0
        optax's ``smooth``.
    ignore_background : bool
        Leave class 0 out of the mean over classes (its weight is still part of
        the rescaling, as in optax).

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar. The class weights
    come from the whole batch, so each sample's value depends on the others.

    Notes
    -----
    ``optax.losses.multiclass_generalized_dice_loss(logits, targets, smooth=s,
    apply_softmax=True, ignore_background=b)`` (a scalar) is this loss with
    ``from_logits=True`` and ``reduction="mean"``. optax weights the per-class Dice
    losses (a mean of ratios), unlike Sudre et al., who weight the sums inside
    one ratio.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.eye(2)[[[0, 0, 1], [0, 1, 1]]]            # (2, 3, 2): 2 samples, 3 pixels
    >>> ul.multiclass_generalized_dice(y, 0.8 * y + 0.1).round(6)  # equal class frequencies: unit weights
    array([0.062009, 0.062009])
    """
    o = _Overlap(be, y_true, y_pred, None, True, class_axis, from_logits)
    xp = be.xp
    batch_sums = xp.sum(o.y, axis=tuple(a for a in range(y_pred.ndim) if a != o.classes))
    w = 1.0 / (batch_sums * batch_sums + _EPSILON)
    w = w * (w.shape[0] / xp.sum(w))
    return o.over_classes(be, o.dice(smooth), w, ignore_background)


class Dice(FunctionLoss):
    """Class form of :func:`dice` (``keras.losses.Dice``)."""

    function = dice


class Tversky(FunctionLoss):
    """Class form of :func:`tversky` (``keras.losses.Tversky``)."""

    function = tversky


class MulticlassGeneralizedDice(FunctionLoss):
    """Class form of :func:`multiclass_generalized_dice` (``optax.losses.multiclass_generalized_dice_loss``)."""

    function = multiclass_generalized_dice
