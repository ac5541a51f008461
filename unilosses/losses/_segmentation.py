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
value per class, weighted by ``class_weight`` and averaged over the classes (kept,
last, with ``per_class=True``), and ``from_logits=True`` applies a softmax along it
(a sigmoid when it has size 1).

**Porting from MONAI.** MONAI's ``DiceLoss`` / ``TverskyLoss`` / ``GeneralizedDiceLoss``
take ``(input, target)`` channels first: here ``(y_true, y_pred)`` with ``class_axis=1``.
Four mappings are easy to get wrong:

- MONAI sums per sample **and** per channel, then averages over both: that is
  ``per_sample=True, class_axis=1`` (not ``per_sample=True`` alone, which pools the
  channels into one sum); its ``batch=True`` is ``per_sample=False``.
- MONAI's ``smooth_nr = smooth_dr = s`` (1e-5 each by default) is ``smooth=s/2`` for
  :func:`dice` (``smooth`` enters twice, ``2 I + 2 s``) but ``smooth=s`` for
  :func:`tversky`; or pass ``smooth_nr=`` / ``smooth_dr=`` as MONAI does (the
  default here is Keras' and optax's: no smoothing, Keras' 1e-7 in the denominator).
- MONAI's Tversky ``alpha`` weighs false positives (the predicted mass outside the
  targets), ours (Keras') the missed target mass: swap them.
- MONAI's ``FocalLoss(use_softmax=True, gamma=g, alpha=a)(z, y)`` (its mean over every
  element, classes included) is ``categorical_focal_crossentropy(y, z, alpha=1, gamma=g,
  from_logits=True, axis=1, class_weight=[1 - a, a, ..., a], reduction="mean") / C``
  for ``C`` classes (checked live against MONAI 1.6.1).

| MONAI | unilosses |
| --- | --- |
| ``DiceLoss()(p, y)`` | ``dice(y, p, class_axis=1, per_sample=True, smooth_nr=1e-5, smooth_dr=1e-5, reduction="mean")`` |
| ``DiceLoss(softmax=True, to_onehot_y=True)(z, labels)`` | ``dice(labels, z, class_axis=1, per_sample=True, activation="softmax", sparse=True, ...)`` |
| ``sigmoid=True`` / ``other_act=f`` | ``activation="sigmoid"`` / ``activation=f`` |
| ``include_background=False, weight=w`` | ``ignore_background=True, class_weight=w`` (K - 1 weights, or K) |
| ``squared_pred`` / ``jaccard`` / ``soft_label`` | ``squared_pred`` / ``jaccard`` / ``soft_label`` |
| ``batch=True`` | ``per_sample=False`` (with ``class_axis=1``) |
| ``reduction="none"`` (shape ``(N, C, 1, ...)``) | ``per_class=True`` (shape ``(N, C)``, classes last) |
| ``ignore_index=i`` | ``ignore_index=i`` (a sample with every pixel ignored is left out of the means) |
| ``MaskedDiceLoss()(p, y, mask=m)`` | ``dice(y, p, ..., mask=m)`` |
| ``TverskyLoss(alpha=a, beta=b)`` | ``tversky(y, p, alpha=b, beta=a, class_axis=1, per_sample=True, smooth_nr=1e-5, smooth_dr=1e-5)`` |
| ``GeneralizedDiceLoss(w_type=t)`` | ``generalized_dice(y, p, class_axis=1, w_type=t)`` |
| ``DiceCELoss(lambda_dice=a, lambda_ce=b)`` (its mean) | ``dice_ce(y, z, class_axis=1, lambda_dice=a, lambda_ce=b, reduction="mean")`` |
| ``DiceFocalLoss(lambda_focal=b, gamma=g, alpha=a)`` (its mean) | ``dice_focal(y, z, class_axis=1, lambda_focal=b, gamma=g, focal_alpha=a, reduction="mean")`` |
| ``GeneralizedDiceFocalLoss(lambda_gdl=a)`` (its mean) | ``generalized_dice_focal(y, z, class_axis=1, lambda_gdl=a, reduction="mean")`` |
| ``GeneralizedWassersteinDiceLoss(dist_matrix=M)(z, labels)`` | ``generalized_wasserstein_dice(labels, z, dist_matrix=M, class_axis=1, from_logits=True, sparse=True)`` |
| ``AsymmetricUnifiedFocalLoss(to_onehot_y=True, weight=w, delta=d, gamma=g)(p, labels)`` | ``asymmetric_unified_focal(labels, p, class_axis=1, sparse=True, weight=w, delta=d, gamma=g, reduction="mean")`` |

MONAI's ``reduction="mean"`` is ``reduction="mean"`` here; its ``"sum"`` (over samples
and classes) is ``per_class=True, reduction="sum"``. Its ``reduction=None`` is refused
(here None is Keras' ``"none"``). Its scalar
``weight`` multiplies every value (a scalar ``sample_weight`` here). MONAI's
``MaskedDiceLoss`` with ``to_onehot_y`` multiplies the label map by the mask (a masked
pixel becomes a background target); ``mask`` here leaves masked pixels out. The
combined losses give one value per sample, so MONAI's ``"mean"`` ports and its ``"sum"``
/ ``"none"`` (a sum over classes and positions) do not; ``DiceCELoss``'s ``weight`` is not
ported (torch's weighted mean couples the samples).

MONAI's ``AsymmetricUnifiedFocalLoss`` is binary: class 0 the background, class 1 the
foreground (one channel: the foreground, its background ``1 - p``). Its docstring asks for
logits, its code takes probabilities (clamped to ``[1e-7, 1 - 1e-7]``): so does
:func:`asymmetric_unified_focal` (``from_logits=True`` for logits); its ``delta`` ("the weight
of the background") weighs the foreground's cross-entropy and the false negatives, as in
Yeung et al. Deliberate differences: MONAI's ``"sum"`` and ``"none"`` return its mean (both
terms reduce by their mean first), here one value per sample; more than two channels are
refused (MONAI reads channels 0 and 1 and ignores the rest); ``gamma`` must lie in [0, 1]
(above 1 the foreground's Tversky term ``(1 - TI)^(1 - gamma)`` falls as the overlap
worsens); inputs of any rank >= 2 (MONAI: 4 or 5); ``ignore_index`` is not ported. As in
MONAI, a sample without foreground costs about ``(1 - weight) / 2 * sqrt(1 - 1 / (0.3 S + 1))``
(``S`` positions, the defaults) even when predicted perfectly: the clamp leaves ``1e-7`` of
predicted foreground in each position and the Tversky index of an empty class is small.
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.reduction import PerSample
from unilosses.rules import axes, flag, in_range, one_of
from unilosses.rules import axis as one_axis
from unilosses.shapes import (
    check_broadcasts,
    check_class_weight,
    check_labels,
    count_classes,
    float_targets,
    sparse_labels,
)
from unilosses.shapes import class_axis as axis_index

__all__ = [
    "AsymmetricUnifiedFocal",
    "Dice",
    "DiceCE",
    "DiceFocal",
    "GeneralizedDice",
    "GeneralizedDiceFocal",
    "GeneralizedWassersteinDice",
    "MulticlassGeneralizedDice",
    "Tversky",
    "asymmetric_unified_focal",
    "dice",
    "dice_ce",
    "dice_focal",
    "generalized_dice",
    "generalized_dice_focal",
    "generalized_wasserstein_dice",
    "multiclass_generalized_dice",
    "tversky",
]

#: Keras' ``backend.epsilon()``, added to the denominators
_EPSILON = 1e-7
_INF = float("inf")
#: the options every loss here shares, with their rules
def _optional_smooth(name: str, value: Any) -> Any:
    return None if value is None else in_range(0.0, _INF, arrays=False)(name, value)


def _activation(name: str, value: Any) -> Any:
    """None, ``"sigmoid"``, ``"softmax"`` or a callable applied to ``y_pred`` (MONAI's ``other_act``)."""
    if value is None or callable(value):
        return value
    if isinstance(value, str) and value in ("sigmoid", "softmax"):
        return value
    raise ValueError(f"{name}: expected None, 'sigmoid', 'softmax' or a callable taking y_pred, got {value!r}")


_RULES = {
    "axis": axes,
    "per_sample": flag,
    "class_axis": one_axis,
    "smooth": in_range(0.0, _INF),
    "ignore_background": flag,
    "per_class": flag,
    "sparse": flag,
    "activation": _activation,
    "squared_pred": flag,
    "soft_label": flag,
    "jaccard": flag,
    "smooth_nr": _optional_smooth,
    "smooth_dr": _optional_smooth,
}

_NEEDS_CLASS_AXIS = ("ignore_background", "per_class", "sparse")


def _check(
    axis: Any = None,
    per_sample: bool = False,
    class_axis: Any = None,
    ignore_background: bool = False,
    per_class: bool = False,
    sparse: bool = False,
    ignore_index: Any = None,
    from_logits: bool = False,
    activation: Any = None,
    smooth: Any = 0.0,
    smooth_nr: Any = None,
    smooth_dr: Any = None,
    **_: Any,
) -> None:
    if per_sample and axis is not None:
        raise ValueError(
            f"per_sample: sums over every axis but the first, so it needs axis=None; got axis={axis!r} "
            "(an explicit axis already says which axes are summed)"
        )
    if class_axis is None:
        for name, on in zip(_NEEDS_CLASS_AXIS, (ignore_background, per_class, sparse)):
            if on:
                raise ValueError(f"{name}: needs the class axis; pass class_axis= (-1 for channels last, 1 for NCHW)")
        if ignore_index is not None:
            raise ValueError("ignore_index: needs the class axis; pass class_axis= (-1 for channels last, 1 for NCHW)")
        if activation == "softmax":
            raise ValueError("activation: 'softmax' needs the class axis; pass class_axis= (1 for NCHW, as MONAI)")
    if from_logits and activation is not None:
        raise ValueError(
            f"activation: from_logits=True already applies a softmax (a sigmoid); got activation={activation!r} too"
        )
    if (smooth_nr is None) != (smooth_dr is None):
        raise ValueError(
            "smooth_nr, smooth_dr: give both (MONAI's defaults are 1e-5 each) or neither; "
            f"got smooth_nr={smooth_nr!r}, smooth_dr={smooth_dr!r}"
        )
    if smooth_nr is not None and isinstance(smooth, (int, float)) and smooth != 0:
        raise ValueError(f"smooth: replaced by smooth_nr / smooth_dr; pass smooth=0 with them, got smooth={smooth!r}")


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


def _probabilities(be: Any, y_pred: Any, classes: Any, from_logits: bool, activation: Any = None) -> Any:
    """``y_pred``, or with ``from_logits`` its softmax along the class axis (a sigmoid
    without one, or for a class axis of size 1: optax's rule), from log-probabilities;
    or ``activation`` (MONAI's ``sigmoid`` / ``softmax`` / ``other_act``) applied to it."""
    xp = be.xp
    if activation == "sigmoid" or (from_logits and (classes is None or y_pred.shape[classes] == 1)):
        return xp.exp(-be.softplus(-y_pred))
    if activation == "softmax":
        if y_pred.shape[classes] == 1:
            raise ValueError(
                "activation: 'softmax' over a class axis of size 1 is 1 everywhere (MONAI warns and skips it); "
                "pass activation='sigmoid' or None"
            )
        return xp.exp(be.log_softmax(y_pred, classes))
    if from_logits:
        return xp.exp(be.log_softmax(y_pred, classes))
    if callable(activation):
        return activation(y_pred)
    return y_pred


def _one_hot(be: Any, y_true: Any, y_pred: Any, classes: Any, ignore_index: Any) -> tuple[Any, Any]:
    """(one-hot targets along ``classes``, the kept positions or None) from integer labels of
    y_pred's shape without the class axis (or with it of size 1): MONAI's ``to_onehot_y``.
    Positions labelled ``ignore_index`` are left out; a label out of range makes its sample NaN
    where the labels cannot be read (a ValueError where they can)."""
    xp = be.xp
    k = y_pred.shape[classes]
    labels = sparse_labels(be, y_true, y_pred, classes)
    labels, in_range, valid = check_labels(be, labels, k, ignore_index, y_pred)
    shape = [1] * y_pred.ndim
    shape[classes] = k
    codes = xp.reshape(xp.arange(k, dtype=labels.dtype, device=be.device(y_pred)), tuple(shape))
    y = xp.astype(xp.equal(xp.expand_dims(labels, axis=classes), codes), y_pred.dtype)
    keep = None if valid is None else xp.astype(xp.expand_dims(valid, axis=classes), y_pred.dtype)
    if in_range is not None:
        counted = in_range if valid is None else xp.logical_or(in_range, xp.logical_not(valid))
        ones = xp.ones_like(y[(slice(None),) * classes + (slice(0, 1), ...)])
        nan = xp.where(xp.expand_dims(counted, axis=classes), ones, ones * float("nan"))
        keep = nan if keep is None else keep * nan
    return y, keep


def _ignored_one_hot(be: Any, y: Any, classes: Any, ignore_index: int) -> Any:
    """The kept positions of one-hot targets (MONAI's rule): those not of class ``ignore_index``
    when it is a class, else those where some class is set (a sentinel marks all-zero targets)."""
    xp = be.xp
    k = y.shape[classes]
    if 0 <= ignore_index < k:
        picked = y[(slice(None),) * classes + (slice(ignore_index, ignore_index + 1), ...)]
        return 1.0 - picked
    return xp.astype(xp.sum(y, axis=classes, keepdims=True) > 0, y.dtype)


class _Overlap:
    """A soft overlap between targets ``y`` and probabilities ``p``, summed over the axes
    chosen by ``axis`` / ``per_sample``, with the class axis (if any) kept."""

    def __init__(
        self,
        be: Any,
        y_true: Any,
        y_pred: Any,
        axis: Any,
        per_sample: bool,
        classes: Any,
        from_logits: bool,
        *,
        activation: Any = None,
        sparse: bool = False,
        ignore_index: Any = None,
        mask: Any = None,
        squared_pred: bool = False,
        soft_label: bool = False,
    ) -> None:
        ndim = y_pred.ndim
        self.classes = None if classes is None else axis_index(classes, ndim, "class_axis")
        if self.classes is not None:
            count_classes(y_pred, self.classes)
        self.summed = _summed_axes(axis, per_sample, self.classes, ndim)
        xp = self._xp = be.xp
        keep = None
        if sparse:
            y, keep = _one_hot(be, y_true, y_pred, self.classes, ignore_index)
        else:
            y = float_targets(be, y_true, y_pred)
            if ignore_index is not None:
                keep = _ignored_one_hot(be, y, self.classes, ignore_index)
        p = _probabilities(be, y_pred, self.classes, from_logits, activation)
        if mask is not None:
            check_broadcasts("mask", mask, tuple(y_pred.shape))
            m = xp.astype(mask, p.dtype)
            keep = m if keep is None else keep * m
        #: the positions ignore_index leaves in (None without it): a sample left without any is
        #: itself ignored by the reductions
        self.ignore_keep = None if ignore_index is None else keep
        if keep is not None:
            y, p = y * keep, p * keep
        self.y, self.p = y, p
        self.squared = squared_pred
        self.soft = soft_label and not squared_pred

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

    def sums(self) -> tuple[Any, Any, Any]:
        """(I, Y, P): the intersection and the two masses (squared with ``squared_pred``; with
        ``soft_label`` the intersection is ``(Y + P - sum|p - y|) / 2``, MONAI's form, exact
        for soft targets)."""
        y, p = self.y, self.p
        if self.squared:
            return self._sum(y * p), self._sum(y * y), self._sum(p * p)
        ys, ps = self._sum(y), self._sum(p)
        if self.soft:
            return (ys + ps - self._sum(self._xp.abs(p - y))) / 2.0, ys, ps
        return self._sum(y * p), ys, ps

    def dice(self, smooth: Any, smooth_nr: Any = None, smooth_dr: Any = None, jaccard: bool = False) -> Any:
        """``1 - (2 I + 2 s) / (Y + P + 2 s)`` per kept position (``+ 1e-7`` where ``s = 0``);
        ``2 s`` is ``smooth_nr`` / ``smooth_dr`` where they are given; ``jaccard``: the
        denominator ``2 (Y + P - I)``."""
        i, ys, ps = self.sums()
        if smooth_nr is None:
            smooth_nr, smooth_dr = 2.0 * smooth, 2.0 * smooth + self._guard(smooth)
        union = 2.0 * (ys + ps - i) if jaccard else ys + ps
        return 1.0 - (2.0 * i + smooth_nr) / (union + smooth_dr)

    def tversky(self, alpha: Any, beta: Any, smooth: Any, smooth_nr: Any = None, smooth_dr: Any = None) -> Any:
        """``1 - (I + s) / (I + alpha missed + beta extra + s)`` per kept position (``+ 1e-7`` where
        ``s = 0``, ``s`` as ``smooth_nr`` / ``smooth_dr`` where given; the error sums as Keras sums
        them, not ``Y - I``: no cancellation when I is close to Y; ``Y - I`` and ``P - I`` with
        ``soft_label``)."""
        if self.soft:
            i, ys, ps = self.sums()
            missed, extra = ys - i, ps - i
        else:
            y, p = self.y, self.p
            i = self._sum(y * p)
            missed, extra = self._sum(y * (1.0 - p)), self._sum((1.0 - y) * p)
        if smooth_nr is None:
            smooth_nr, smooth_dr = smooth, smooth + self._guard(smooth)
        return 1.0 - (i + smooth_nr) / (i + alpha * missed + beta * extra + smooth_dr)

    def counted(self, ignore_background: bool = False, per_class: bool = False) -> Any:
        """Where a value counts (None without ``ignore_index``): somewhere in its sums a position
        is not ignored; laid out as :meth:`over_classes` lays out the values."""
        if self.ignore_keep is None:
            return None
        xp = self._xp
        kept = self._sum(xp.astype(self.ignore_keep > 0, self.p.dtype) * xp.ones_like(self.p)) > 0
        pos = self.class_position()
        if pos is None:
            return kept
        if ignore_background and kept.shape[pos] > 1:
            kept = kept[(slice(None),) * pos + (slice(1, None), ...)]
        if per_class:
            order = tuple(a for a in range(kept.ndim) if a != pos) + (pos,)
            return kept if pos == kept.ndim - 1 else xp.permute_dims(kept, order)
        return xp.any(kept, axis=pos)

    def class_position(self) -> Any:
        """Where the class axis is in the per-position values (None without one)."""
        c = self.classes
        if c is None:
            return None
        return c if self.summed is None else c - sum(1 for a in self.summed if a < c)

    def over_classes(
        self, be: Any, values: Any, class_weight: Any, ignore_background: bool, per_class: bool = False
    ) -> Any:
        """optax's class reduction: ``mean_c(class_weight[c] * values[..., c, ...])``, over the
        classes but the first with ``ignore_background`` (when there are several); with
        ``per_class`` the weighted values themselves, the class axis last (MONAI's
        ``reduction="none"``)."""
        pos = self.class_position()
        if pos is None:
            return values
        xp = be.xp
        k = values.shape[pos]
        drop = ignore_background and k > 1
        if drop:
            values = values[(slice(None),) * pos + (slice(1, None), ...)]
        if class_weight is not None:
            n = class_weight.shape[0] if len(class_weight.shape) == 1 else None
            if not (drop and n == k - 1):  # K - 1 weights: MONAI's include_background=False
                check_class_weight(class_weight, k)
                if drop:
                    class_weight = class_weight[1:]
            shape = [1] * values.ndim
            shape[pos] = k - 1 if drop else k
            values = values * xp.reshape(class_weight, tuple(shape))
        if per_class:
            order = tuple(a for a in range(values.ndim) if a != pos) + (pos,)
            return values if pos == values.ndim - 1 else xp.permute_dims(values, order)
        return xp.mean(values, axis=pos)


@loss(arrays=("class_weight", "mask"), rules=_RULES, check=_check)
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
    per_class: bool = False,
    sparse: bool = False,
    ignore_index: Any = None,
    mask: Any = None,
    activation: Any = None,
    squared_pred: bool = False,
    soft_label: bool = False,
    jaccard: bool = False,
    smooth_nr: Any = None,
    smooth_dr: Any = None,
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
        Leave class 0 out of the mean over classes (optax; MONAI's
        ``include_background=False``); needs ``class_axis``. ``class_weight`` then has
        K entries (optax) or K - 1 (MONAI).
    per_class : bool
        Keep one value per class, the class axis last (MONAI's ``reduction="none"``);
        needs ``class_axis``.
    sparse : bool
        ``y_true`` holds integer labels of y_pred's shape without the class axis (or
        with it of size 1): one-hot inside (MONAI's ``to_onehot_y``); needs ``class_axis``.
    ignore_index : int, optional
        Positions of this label are left out of every sum (MONAI's ``ignore_index``:
        with one-hot targets, positions of that class, or for a value out of range the
        positions without any class); a sample left without any position is ignored by
        the reductions. Needs ``class_axis``.
    mask : array broadcastable to y_pred, optional
        Per-position weights (1 keeps, 0 drops) applied to targets and probabilities
        (MONAI's ``MaskedDiceLoss`` mask, shape (N, 1, ...)). ``element_weight``
        weights the outputs, not the pixels.
    activation : None, "sigmoid", "softmax" or callable
        Applied to ``y_pred`` first (MONAI's ``sigmoid`` / ``softmax`` / ``other_act``):
        a sigmoid per element (multi-label), a softmax along ``class_axis``, or your
        function of the array. Not with ``from_logits``.
    squared_pred : bool
        Squares in the denominator masses: ``sum(y^2) + sum(p^2)`` (MONAI).
    soft_label : bool
        The intersection as ``(Y + P - sum|p - y|) / 2`` (MONAI's form for soft targets;
        equal to ``sum(y p)`` for binary ones).
    jaccard : bool
        The soft Jaccard (IoU) loss ``1 - (2 I + nr) / (2 (Y + P - I) + dr)`` (MONAI).
    smooth_nr, smooth_dr : float >= 0, optional
        MONAI's smoothing, added once to the numerator ``2 I`` and the denominator
        ``Y + P`` (in place of ``2 smooth`` and Keras' 1e-7); give both, with ``smooth=0``.
    sample_weight : array broadcastable to the per-sample loss, optional
        A scalar for the whole-batch default.

    Returns
    -------
    array
        ``reduction="none"``: 0-d by default (the whole batch), shape (N,) with
        ``per_sample=True``, else y_pred's shape without the summed axes and
        ``class_axis``, plus the class axis last with ``per_class``; a scalar otherwise.

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
    ``monai.losses.DiceLoss(softmax=True, to_onehot_y=True, include_background=False)(z, labels)``
    is ``dice(labels, z, class_axis=1, per_sample=True, activation="softmax", sparse=True,
    ignore_background=True, smooth_nr=1e-5, smooth_dr=1e-5, reduction="mean")``; the
    module's docs list every MONAI option.

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
    o = _Overlap(
        be, y_true, y_pred, axis, per_sample, class_axis, from_logits, activation=activation, sparse=sparse,
        ignore_index=ignore_index, mask=mask, squared_pred=squared_pred, soft_label=soft_label,
    )
    values = o.over_classes(be, o.dice(smooth, smooth_nr, smooth_dr, jaccard), class_weight, ignore_background, per_class)
    counted = o.counted(ignore_background, per_class)
    return values if counted is None else PerSample(values, valid=counted)


@loss(
    arrays=("class_weight", "mask"),
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
    per_class: bool = False,
    sparse: bool = False,
    ignore_index: Any = None,
    mask: Any = None,
    activation: Any = None,
    soft_label: bool = False,
    smooth_nr: Any = None,
    smooth_dr: Any = None,
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
    per_class, sparse, ignore_index, mask, activation, soft_label, smooth_nr, smooth_dr
        See :func:`dice` (``smooth_nr`` / ``smooth_dr`` replace ``smooth`` on each side).

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
    ``monai.losses.TverskyLoss(alpha=a, beta=b, softmax=True)`` (``alpha`` on false
    positives) is ``tversky(y, z, alpha=b, beta=a, class_axis=1, per_sample=True,
    activation="softmax", smooth_nr=1e-5, smooth_dr=1e-5, reduction="mean")``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y, p = np.array([[1.0, 1.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 1.0, 1.0]])
    >>> ul.tversky(y, p, alpha=1.0, beta=0.25, per_sample=True).round(6)
    array([0.6])
    """
    _check_class_weight(class_weight, class_axis)
    o = _Overlap(
        be, y_true, y_pred, axis, per_sample, class_axis, from_logits, activation=activation, sparse=sparse,
        ignore_index=ignore_index, mask=mask, soft_label=soft_label,
    )
    values = o.over_classes(be, o.tversky(alpha, beta, smooth, smooth_nr, smooth_dr), class_weight, ignore_background, per_class)
    counted = o.counted(ignore_background, per_class)
    return values if counted is None else PerSample(values, valid=counted)


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


def _generalized(be: Any, o: _Overlap, w_type: str, ignore_background: bool, smooth_nr: Any, smooth_dr: Any) -> Any:
    """Sudre et al.'s ratio of class-weighted sums (MONAI's weights and empty-class rule)."""
    xp = be.xp
    i, ys, ps = o.sums()
    pos = o.class_position()
    if ignore_background and i.shape[pos] > 1:
        rest = (slice(None),) * pos + (slice(1, None), ...)
        i, ys, ps = i[rest], ys[rest], ps[rest]
    if w_type == "uniform":
        w = xp.ones_like(ys)
    else:
        empty = xp.equal(ys, 0.0)
        safe = xp.where(empty, xp.ones_like(ys), ys)
        w = 1.0 / (safe * safe) if w_type == "square" else 1.0 / safe
        w = xp.where(empty, xp.zeros_like(w), w)
        w = xp.where(empty, xp.max(w, axis=pos, keepdims=True) * xp.ones_like(w), w)
    numer = 2.0 * xp.sum(w * i, axis=pos) + smooth_nr
    denom = xp.sum(w * (ys + ps), axis=pos) + smooth_dr
    return 1.0 - numer / denom


def _focal_per_class(be: Any, o: _Overlap, y_pred: Any, gamma: Any, alpha: Any) -> Any:
    """MONAI's sigmoid focal loss of the logits ``y_pred`` against ``o.y``, each element on its own
    (a binary focal loss per class), averaged over the summed positions: one value per kept class
    position, laid out as the overlap's sums."""
    xp = be.xp
    y = o.y
    sign = 2.0 * y - 1.0
    bce = be.softplus(y_pred) - y_pred * y
    values = xp.exp(-gamma * be.softplus(y_pred * sign)) * bce  # (1 - p_t)^gamma, from log-space
    if alpha is not None:
        values = values * (alpha * y + (1.0 - alpha) * (1.0 - y))
    if o.summed == ():
        return values
    n = 1
    for a in range(values.ndim) if o.summed is None else o.summed:  # a loop: torch.compile traces no generator
        n *= int(values.shape[a])
    return o._sum(values) / float(max(n, 1))


@loss(
    arrays=("mask",),
    rules={
        **_RULES,
        "class_axis": _class_axis_required,
        "w_type": one_of("square", "simple", "uniform"),
        "smooth_nr": in_range(0.0, _INF, arrays=False),
        "smooth_dr": in_range(0.0, _INF, arrays=False),
    },
    check=_check,
)
def generalized_dice(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    class_axis: int = -1,
    per_sample: bool = True,
    w_type: str = "square",
    from_logits: bool = False,
    activation: Any = None,
    sparse: bool = False,
    ignore_index: Any = None,
    mask: Any = None,
    ignore_background: bool = False,
    soft_label: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
) -> Any:
    """Sudre et al.'s generalized Dice loss (MONAI's ``GeneralizedDiceLoss``): one ratio of
    class-weighted sums.

    Per sample (the sums over every axis but the batch and class axes; over the batch
    too with ``per_sample=False``), with ``I_c``, ``Y_c``, ``P_c`` the intersection,
    target and predicted masses of class ``c``::

        w_c  = 1 / Y_c^2     (w_type="square"),  1 / Y_c ("simple"),  1 ("uniform")
        loss = 1 - (2 sum_c w_c I_c + smooth_nr) / (sum_c w_c (Y_c + P_c) + smooth_dr)

    A class absent from the targets (``Y_c = 0``, an infinite weight) takes the largest
    weight of the present classes; with no class present every weight is 0 and the loss
    is ``1 - smooth_nr / smooth_dr`` (0 with the defaults: MONAI's convention, where
    :func:`multiclass_generalized_dice`, optax's mean of weighted per-class Dice losses,
    gives its own value).

    Parameters
    ----------
    y_true : array
        One-hot (or soft) targets of y_pred's shape, or with ``sparse=True`` integer
        labels (y_pred's shape without the class axis, or with it of size 1).
    y_pred : array, shape (N, ..., K, ...)
        Probabilities along ``class_axis``, or logits with ``from_logits`` / ``activation``.
    class_axis : int
        The class axis (-1: channels last; 1 for MONAI's NCHW).
    per_sample : bool
        One value per sample (MONAI's default); False: one value for the whole batch
        (MONAI's ``batch=True``).
    w_type : {"square", "simple", "uniform"}
        The class weights (MONAI's ``w_type``).
    from_logits, activation, sparse, ignore_index, mask, soft_label
        See :func:`dice`.
    ignore_background : bool
        Leave class 0 out (MONAI's ``include_background=False``), weights included.
    smooth_nr, smooth_dr : float >= 0
        Added to the numerator and the denominator (MONAI's names and defaults).

    Returns
    -------
    array, shape (N,) (``reduction="none"``; 0-d with ``per_sample=False``), else a scalar.

    Notes
    -----
    ``monai.losses.GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type=t,
    include_background=b, batch=B)`` on (N, K, ...) logits and (N, 1, ...) labels is
    ``generalized_dice(labels, logits, class_axis=1, activation="softmax", sparse=True,
    w_type=t, ignore_background=not b, per_sample=not B)``; MONAI's ``reduction="mean"``
    is ``reduction="mean"`` here (one value per sample: its class axis is already summed).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.eye(2)[[[0, 0, 1], [0, 1, 1]]]          # (2, 3, 2): 2 samples, 3 pixels
    >>> ul.generalized_dice(y, 0.8 * y + 0.1).round(6)  # 1 - 2 (1.8/4 + 0.9) / (3.9/4 + 2.1)
    array([0.121951, 0.121951])
    """
    o = _Overlap(
        be, y_true, y_pred, None, per_sample, class_axis, from_logits, activation=activation, sparse=sparse,
        ignore_index=ignore_index, mask=mask, soft_label=soft_label,
    )
    values = _generalized(be, o, w_type, ignore_background, smooth_nr, smooth_dr)
    counted = o.counted()
    return values if counted is None else PerSample(values, valid=counted)


@loss(
    rules={
        **_RULES,
        "class_axis": _class_axis_required,
        "lambda_dice": in_range(0.0, _INF, arrays=False),
        "lambda_ce": in_range(0.0, _INF, arrays=False),
        "label_smoothing": in_range(0.0, 1.0, arrays=False),
        "smooth_nr": in_range(0.0, _INF, arrays=False),
        "smooth_dr": in_range(0.0, _INF, arrays=False),
    },
    check=_check,
)
def dice_ce(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    class_axis: int = -1,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    per_sample: bool = True,
    activation: Any = None,
    sparse: bool = False,
    ignore_background: bool = False,
    squared_pred: bool = False,
    jaccard: bool = False,
    label_smoothing: float = 0.0,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
) -> Any:
    """MONAI's ``DiceCELoss``: a weighted sum of the Dice loss and the cross-entropy of the logits.

    Per sample (``s`` its positions, the class axis kept out of the sums)::

        loss = lambda_dice * dice + lambda_ce * mean_s( -sum_c q_c log softmax(y_pred)_c )

    ``dice`` is :func:`dice` with ``per_sample``, ``activation``, ``ignore_background``,
    ``squared_pred``, ``jaccard``, ``smooth_nr``, ``smooth_dr`` (averaged over the classes),
    and ``q = (1 - e) y + e / K`` the targets with ``label_smoothing=e`` (torch's
    ``CrossEntropyLoss``, on the logits whatever the activation of the Dice part; a
    binary cross-entropy with a sigmoid when the class axis has size 1).
    ``ignore_background`` leaves class 0 out of the Dice part only, as MONAI does.

    Parameters
    ----------
    y_true : array
        One-hot (or soft) targets of y_pred's shape, or with ``sparse=True`` integer labels.
    y_pred : array, shape (N, ..., K, ...)
        Logits along ``class_axis``.
    class_axis : int
        The class axis (-1: channels last; 1 for MONAI's NCHW).
    lambda_dice, lambda_ce : float >= 0
        The weights of the two terms (MONAI's names).
    per_sample : bool
        False: the Dice term over the whole batch (MONAI's ``batch=True``) and the
        cross-entropy's mean over every position, one value.
    activation, sparse, ignore_background, squared_pred, jaccard, smooth_nr, smooth_dr
        See :func:`dice` (the Dice term).
    label_smoothing : float in [0, 1]
        torch's ``label_smoothing`` of the cross-entropy term.

    Returns
    -------
    array, shape (N,) (``reduction="none"``; 0-d with ``per_sample=False``), else a scalar.

    Notes
    -----
    ``monai.losses.DiceCELoss(softmax=True, to_onehot_y=True, lambda_dice=a, lambda_ce=b)(z,
    labels)`` (``reduction="mean"``, its default) is ``dice_ce(labels, z, class_axis=1,
    activation="softmax", sparse=True, lambda_dice=a, lambda_ce=b, reduction="mean")``.
    MONAI's ``reduction="sum"`` adds the Dice values of every class and the cross-entropy
    of every position (a different sum); its ``weight`` is not ported (torch's weighted
    mean of the cross-entropy couples the samples): add ``dice(..., class_weight=w)`` and
    ``categorical_crossentropy`` yourself.
    """
    o = _Overlap(
        be, y_true, y_pred, None, per_sample, class_axis, False, activation=activation, sparse=sparse,
        squared_pred=squared_pred,
    )
    xp = be.xp
    d = o.over_classes(be, o.dice(0.0, smooth_nr, smooth_dr, jaccard), None, ignore_background)
    c = o.classes
    k = y_pred.shape[c]
    y = o.y
    if k == 1:  # one class: the binary cross-entropy of its logit, as MONAI
        q = (1.0 - label_smoothing) * y + label_smoothing / 2.0 if label_smoothing else y
        per_position = xp.squeeze(be.softplus(y_pred) - q * y_pred, axis=c)
    else:
        q = (1.0 - label_smoothing) * y + label_smoothing / k if label_smoothing else y
        per_position = -xp.sum(q * be.log_softmax(y_pred, c), axis=c)
    rest = tuple(range(1 if per_sample else 0, per_position.ndim))
    sizes = [per_position.shape[a] for a in rest]
    if any(n is None for n in sizes):
        ce = xp.mean(per_position, axis=rest)
    else:  # a sum over the count, 1 at least: an empty batch's whole-batch value is 0, not NaN
        ce = xp.sum(per_position, axis=rest) / float(max(math.prod(sizes), 1)) if rest else per_position
    return lambda_dice * d + lambda_ce * ce


_FOCAL_RULES = {
    **_RULES,
    "class_axis": _class_axis_required,
    "lambda_dice": in_range(0.0, _INF, arrays=False),
    "lambda_gdl": in_range(0.0, _INF, arrays=False),
    "lambda_focal": in_range(0.0, _INF, arrays=False),
    "gamma": in_range(0.0, _INF, arrays=False),
    "focal_alpha": lambda name, v: None if v is None else in_range(0.0, 1.0, arrays=False)(name, v),
    "w_type": one_of("square", "simple", "uniform"),
    "smooth_nr": in_range(0.0, _INF, arrays=False),
    "smooth_dr": in_range(0.0, _INF, arrays=False),
}


@loss(arrays=("class_weight",), rules=_FOCAL_RULES, check=_check)
def dice_focal(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    class_axis: int = -1,
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
    gamma: float = 2.0,
    focal_alpha: Any = None,
    class_weight: Any = None,
    per_sample: bool = True,
    activation: Any = None,
    sparse: bool = False,
    ignore_background: bool = False,
    squared_pred: bool = False,
    jaccard: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
) -> Any:
    """MONAI's ``DiceFocalLoss``: a weighted sum of the Dice loss and a sigmoid focal loss of the logits.

    Per sample::

        loss = lambda_dice * mean_c(w_c dice_c) + lambda_focal * mean_c(w_c mean_s(focal[s, c]))
        focal = (1 - p_t)^gamma * BCE(y_pred, y_true)       # p_t = sigmoid(+-y_pred), per element
                (* focal_alpha for targets, * (1 - focal_alpha) elsewhere)

    The Dice term is :func:`dice` (``activation``, ``squared_pred``, ``jaccard``,
    ``smooth_nr`` / ``smooth_dr``; over classes but 0 with ``ignore_background``, as the
    focal term); the focal term is MONAI's ``FocalLoss`` (a binary focal loss of each
    class's logit, whatever the Dice term's activation), averaged over positions and classes.

    Parameters
    ----------
    y_true : array
        One-hot targets of y_pred's shape, or with ``sparse=True`` integer labels.
    y_pred : array, shape (N, ..., K, ...)
        Logits along ``class_axis``.
    class_axis : int
        The class axis (-1: channels last; 1 for MONAI's NCHW).
    lambda_dice, lambda_focal : float >= 0
        The weights of the two terms (MONAI's names).
    gamma : float >= 0
        The focusing exponent (MONAI's ``gamma``).
    focal_alpha : float in [0, 1], optional
        MONAI's ``alpha`` of the focal term.
    class_weight : array, shape (K,) or (K - 1,) with ``ignore_background``, optional
        MONAI's ``weight``: each class's Dice and focal values are multiplied by it.
    per_sample, activation, sparse, ignore_background, squared_pred, jaccard, smooth_nr, smooth_dr
        See :func:`dice`; ``per_sample=False`` is MONAI's ``batch=True`` (the Dice term over
        the whole batch, the focal term's mean over every element: one value).

    Returns
    -------
    array, shape (N,) (``reduction="none"``; 0-d with ``per_sample=False``), else a scalar.

    Notes
    -----
    ``monai.losses.DiceFocalLoss(softmax=True, to_onehot_y=True, lambda_dice=a,
    lambda_focal=b, gamma=g)(z, labels)`` (its mean) is ``dice_focal(labels, z,
    class_axis=1, activation="softmax", sparse=True, lambda_dice=a, lambda_focal=b, gamma=g,
    reduction="mean")``.
    """
    o = _Overlap(
        be, y_true, y_pred, None, per_sample, class_axis, False, activation=activation, sparse=sparse,
        squared_pred=squared_pred,
    )
    d = o.over_classes(be, o.dice(0.0, smooth_nr, smooth_dr, jaccard), class_weight, ignore_background)
    f = o.over_classes(be, _focal_per_class(be, o, y_pred, gamma, focal_alpha), class_weight, ignore_background)
    return lambda_dice * d + lambda_focal * f


@loss(arrays=("class_weight",), rules=_FOCAL_RULES, check=_check)
def generalized_dice_focal(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    class_axis: int = -1,
    lambda_gdl: float = 1.0,
    lambda_focal: float = 1.0,
    gamma: float = 2.0,
    class_weight: Any = None,
    w_type: str = "square",
    per_sample: bool = True,
    activation: Any = None,
    sparse: bool = False,
    ignore_background: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
) -> Any:
    """MONAI's ``GeneralizedDiceFocalLoss``: ``lambda_gdl`` times :func:`generalized_dice` plus
    ``lambda_focal`` times the sigmoid focal term of :func:`dice_focal`.

    Parameters
    ----------
    y_true, y_pred, class_axis, lambda_focal, gamma, per_sample, activation, sparse, ignore_background
        See :func:`dice_focal`.
    lambda_gdl : float >= 0
        The weight of the generalized Dice term (MONAI's name).
    class_weight : array, shape (K,) or (K - 1,) with ``ignore_background``, optional
        MONAI's ``weight``: of the focal term only (the generalized Dice weighs its classes itself).
    w_type, smooth_nr, smooth_dr
        See :func:`generalized_dice`.

    Returns
    -------
    array, shape (N,) (``reduction="none"``; 0-d with ``per_sample=False``), else a scalar.

    Notes
    -----
    ``monai.losses.GeneralizedDiceFocalLoss(softmax=True, to_onehot_y=True, lambda_gdl=a,
    lambda_focal=b)(z, labels)`` (its mean) is ``generalized_dice_focal(labels, z, class_axis=1,
    activation="softmax", sparse=True, lambda_gdl=a, lambda_focal=b, reduction="mean")``.
    """
    o = _Overlap(be, y_true, y_pred, None, per_sample, class_axis, False, activation=activation, sparse=sparse)
    g = _generalized(be, o, w_type, ignore_background, smooth_nr, smooth_dr)
    f = o.over_classes(be, _focal_per_class(be, o, y_pred, gamma, None), class_weight, ignore_background)
    return lambda_gdl * g + lambda_focal * f


@loss(
    arrays=("dist_matrix",),
    rules={
        **_RULES,
        "class_axis": _class_axis_required,
        "weighting_mode": one_of("default", "GDL"),
        "smooth_nr": in_range(0.0, _INF, arrays=False),
        "smooth_dr": in_range(0.0, _INF, arrays=False),
    },
    check=_check,
)
def generalized_wasserstein_dice(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    dist_matrix: Any,
    class_axis: int = -1,
    weighting_mode: str = "default",
    from_logits: bool = False,
    activation: Any = None,
    sparse: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
) -> Any:
    """Fidon et al.'s generalized Wasserstein Dice loss (MONAI's ``GeneralizedWassersteinDiceLoss``).

    With ``M = dist_matrix`` (K x K, the distance between classes), per position ``s`` the
    Wasserstein distance between the target and the prediction, and per sample::

        W[s]  = sum_{l, c} y[l, s] M[l, c] p[c, s]
        a[s]  = sum_l y[l, s] alpha_l       # alpha = (0, 1, ..., 1); "GDL": 1 / (volume_l + 1)
        TP    = sum_s a[s] (1 - W[s])
        loss  = 1 - (2 TP + smooth_nr) / (2 TP + sum_s W[s] + smooth_dr)   # "GDL": sum_s a (2 - W)

    Parameters
    ----------
    y_true : array
        One-hot targets of y_pred's shape, or with ``sparse=True`` integer labels.
    y_pred : array, shape (N, ..., K, ...)
        Probabilities along ``class_axis``, or logits with ``from_logits`` / ``activation``
        (MONAI always applies a softmax: ``from_logits=True``).
    dist_matrix : array, shape (K, K)
        MONAI's ``dist_matrix``: 0 on the diagonal, class 0 the background; divided by its
        largest entry, as MONAI does.
    class_axis : int
        The class axis (-1: channels last; 1 for MONAI's NCHW).
    weighting_mode : {"default", "GDL"}
        MONAI's ``weighting_mode``.
    from_logits, activation, sparse, smooth_nr, smooth_dr
        See :func:`dice` and :func:`generalized_dice`.

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``monai.losses.GeneralizedWassersteinDiceLoss(dist_matrix=M, weighting_mode=w)(z, labels)``
    is ``generalized_wasserstein_dice(labels, z, dist_matrix=M, class_axis=1, from_logits=True,
    sparse=True, weighting_mode=w)`` (with MONAI's reduction).
    """
    o = _Overlap(be, y_true, y_pred, None, True, class_axis, from_logits, activation=activation, sparse=sparse)
    xp = be.xp
    c = o.classes
    k = y_pred.shape[c]
    if tuple(dist_matrix.shape) != (k, k):
        raise ValueError(f"dist_matrix: expected a ({k}, {k}) array for {k} classes, got shape {tuple(dist_matrix.shape)}")
    top = xp.max(dist_matrix)
    dist_matrix = dist_matrix / xp.where(top > 0, top, xp.ones_like(top))  # MONAI's scale: the largest is 1
    order = tuple(a for a in range(y_pred.ndim) if a != c) + (c,)
    y = xp.permute_dims(o.y, order)  # classes last
    p = xp.permute_dims(o.p, order)
    w = xp.sum(xp.matmul(y, dist_matrix) * p, axis=-1)  # (N, positions...)
    rest = tuple(range(1, w.ndim))
    if weighting_mode == "GDL":
        volumes = xp.sum(y, axis=tuple(range(1, y.ndim - 1)), keepdims=True)  # per sample and class
        alpha = 1.0 / (volumes + 1.0)
    else:  # the background's true positives do not count
        foreground = xp.arange(k, device=be.device(y_pred)) > 0
        alpha = xp.reshape(xp.astype(foreground, y.dtype), (1,) * (y.ndim - 1) + (k,))
    a = xp.sum(y * alpha, axis=-1)
    tp = xp.sum(a * (1.0 - w), axis=rest) if rest else a * (1.0 - w)
    if weighting_mode == "GDL":
        denom = xp.sum(a * (2.0 - w), axis=rest) if rest else a * (2.0 - w)
    else:
        denom = 2.0 * tp + (xp.sum(w, axis=rest) if rest else w)
    return 1.0 - (2.0 * tp + smooth_nr) / (denom + smooth_dr)


#: MONAI's clamp of the probabilities in its unified focal loss, also the smoothing of its Tversky index
_UNIFIED_EPSILON = 1e-7


def _binary_channels(be: Any, x: Any, c: int) -> Any:
    """``x`` with a size-1 class axis ``c`` as the two channels ``[1 - x, x]`` (MONAI's rule)."""
    return be.xp.concat([1.0 - x, x], axis=c) if x.shape[c] == 1 else x


@loss(
    rules={
        "class_axis": _class_axis_required,
        "sparse": flag,
        "weight": in_range(0.0, 1.0, arrays=False),
        "delta": in_range(0.0, 1.0, arrays=False),
        "gamma": in_range(0.0, 1.0, arrays=False),
    },
)
def asymmetric_unified_focal(
    be: Any,
    y_true: Any,
    y_pred: Any,
    *,
    class_axis: int = -1,
    weight: float = 0.5,
    delta: float = 0.7,
    gamma: float = 0.5,
    from_logits: bool = False,
    sparse: bool = False,
) -> Any:
    """Yeung et al.'s asymmetric unified focal loss (MONAI's ``AsymmetricUnifiedFocalLoss``), binary.

    Class 0 is the background, class 1 the (rare) foreground. Per sample, with ``p`` the
    probabilities clipped to ``[1e-7, 1 - 1e-7]``, ``S`` the positions and the sums over them::

        focal   = mean_{c, s}( (1 - delta) (1 - p_0)^gamma (-y_0 log p_0),  delta (-y_1 log p_1) )
        TI_c    = (TP_c + 1e-7) / (TP_c + delta FN_c + (1 - delta) FP_c + 1e-7)
        tversky = ( (1 - TI_0) + (1 - TI_1)^(1 - gamma) ) / 2
        loss    = weight * focal + (1 - weight) * tversky

    (``TP_c = sum y_c p_c``, ``FN_c = sum y_c (1 - p_c)``, ``FP_c = sum (1 - y_c) p_c``): the
    background is suppressed (focal term, weight ``1 - delta``), the foreground enhanced
    (weight ``delta``, exponent ``1 - gamma < 1``).

    Parameters
    ----------
    y_true : array
        Targets of y_pred's shape (one-hot or soft background and foreground channels, or
        one foreground channel), or with ``sparse=True`` integer labels 0 / 1 (y_pred's
        shape without the class axis, or with it of size 1).
    y_pred : array, shape (N, ..., K, ...), K = 1 or 2
        Probabilities along ``class_axis``: background and foreground (K = 2) or the
        foreground alone (K = 1, its background ``1 - p``); logits with ``from_logits``.
    class_axis : int
        The class axis (-1: channels last; 1 for MONAI's NCHW).
    weight : float in [0, 1]
        The weight of the focal term (MONAI's ``weight``), ``1 - weight`` the Tversky term's.
    delta : float in [0, 1]
        The weight of the foreground in the focal term and of the false negatives in the
        Tversky index (MONAI's ``delta``).
    gamma : float in [0, 1]
        The focal exponent of the background, ``1 - gamma`` the foreground's Tversky exponent
        (MONAI's ``gamma``).
    from_logits : bool
        ``y_pred`` holds logits: a softmax along ``class_axis`` (a sigmoid for K = 1). MONAI
        takes probabilities (``False``).
    sparse : bool
        ``y_true`` holds integer labels: one-hot inside (MONAI's ``to_onehot_y``).

    Returns
    -------
    array, shape (N,) (``reduction="none"``), else a scalar.

    Notes
    -----
    ``monai.losses.AsymmetricUnifiedFocalLoss(to_onehot_y=True, weight=w, delta=d, gamma=g)(p,
    labels)`` on (N, 2, ...) probabilities is ``asymmetric_unified_focal(labels, p, class_axis=1,
    sparse=True, weight=w, delta=d, gamma=g, reduction="mean")``; MONAI's ``"sum"`` and
    ``"none"`` return that same mean (its two terms reduce by their mean first). MONAI's
    ``ignore_index`` is not ported; more than two classes are refused (MONAI ignores the
    channels after 1).

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> y = np.array([[[0.0], [1.0]]])                 # (1, 2, 1): one sample, 2 positions, 1 channel
    >>> p = np.array([[[0.2], [0.6]]])
    >>> ul.asymmetric_unified_focal(y, p).round(6)
    array([0.260114])
    """
    xp = be.xp
    ndim = y_pred.ndim
    c = axis_index(class_axis, ndim, "class_axis")
    k = count_classes(y_pred, c)
    if ndim < 2 or c == 0:
        raise ValueError(
            f"class_axis: expected a class axis other than the batch axis 0 of y_pred (shape {tuple(y_pred.shape)})"
        )
    if k > 2:
        raise ValueError(
            f"y_pred: expected 1 or 2 classes along the class axis {c} (a binary segmentation: the foreground, "
            f"or background and foreground), got {k}"
        )
    p = _binary_channels(be, _probabilities(be, y_pred, c, from_logits), c)
    if sparse:
        y, _ = _one_hot(be, y_true, p, c, None)
    else:
        y = _binary_channels(be, float_targets(be, y_true, y_pred), c)
    p = xp.clip(p, min=_UNIFIED_EPSILON, max=1.0 - _UNIFIED_EPSILON)
    first = (slice(None),) * c + (slice(0, 1), ...)
    # the focal term: the background's cross-entropy suppressed by (1 - p_0)^gamma
    scale = xp.concat([(1.0 - delta) * (1.0 - p[first]) ** gamma, delta * xp.ones_like(p[first])], axis=c)
    focal = xp.mean(scale * (-y * xp.log(p)), axis=tuple(range(1, ndim)))
    # the Tversky term, per sample and class: (N, 2) once the positions are summed
    spatial = tuple(a for a in range(1, ndim) if a != c)

    def total(x: Any) -> Any:
        return xp.sum(x, axis=spatial) if spatial else x

    tp, fn, fp = total(y * p), total(y * (1.0 - p)), total((1.0 - y) * p)
    ti = (tp + _UNIFIED_EPSILON) / (tp + delta * fn + (1.0 - delta) * fp + _UNIFIED_EPSILON)
    # the clip keeps FN_1 + FP_1 > 0, so 1 - TI_1 > 0: a finite slope of its power
    tversky = (1.0 - ti[:, 0] + (1.0 - ti[:, 1]) ** (1.0 - gamma)) / 2.0
    return weight * focal + (1.0 - weight) * tversky


class Dice(FunctionLoss):
    """Class form of :func:`dice` (``keras.losses.Dice``)."""

    function = dice


class Tversky(FunctionLoss):
    """Class form of :func:`tversky` (``keras.losses.Tversky``)."""

    function = tversky


class MulticlassGeneralizedDice(FunctionLoss):
    """Class form of :func:`multiclass_generalized_dice` (``optax.losses.multiclass_generalized_dice_loss``)."""

    function = multiclass_generalized_dice


class GeneralizedDice(FunctionLoss):
    """Class form of :func:`generalized_dice` (``monai.losses.GeneralizedDiceLoss``)."""

    function = generalized_dice


class DiceCE(FunctionLoss):
    """Class form of :func:`dice_ce` (``monai.losses.DiceCELoss``)."""

    function = dice_ce


class DiceFocal(FunctionLoss):
    """Class form of :func:`dice_focal` (``monai.losses.DiceFocalLoss``)."""

    function = dice_focal


class GeneralizedDiceFocal(FunctionLoss):
    """Class form of :func:`generalized_dice_focal` (``monai.losses.GeneralizedDiceFocalLoss``)."""

    function = generalized_dice_focal


class GeneralizedWassersteinDice(FunctionLoss):
    """Class form of :func:`generalized_wasserstein_dice` (``monai.losses.GeneralizedWassersteinDiceLoss``)."""

    function = generalized_wasserstein_dice


class AsymmetricUnifiedFocal(FunctionLoss):
    """Class form of :func:`asymmetric_unified_focal` (``monai.losses.AsymmetricUnifiedFocalLoss``)."""

    function = asymmetric_unified_focal
