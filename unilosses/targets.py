"""Target distributions made ready for a categorical loss: one preamble, one weight rule.

Every loss over soft (or one-hot) targets along a class axis does the same first steps
(:func:`soft_targets`): the class axis and K, the targets in y_pred's dtype and shape, the
check that they are non-negative, optax's ``where`` (the classes that take part), and the
smoothed targets ``q``. And every such loss ends the same way (:meth:`SoftTargets.per_sample`):
with class weights ``w``, a sample's weight in the weighted mean is ``sum_c w_c y_c`` (``w[y]``
for one-hot targets), and a sample with no class left leaves every denominator.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from unilosses.logits import Included, included
from unilosses.reduction import PerSample
from unilosses.shapes import check_class_weight, class_axis, count_classes, float_targets
from unilosses.smoothing import smooth_categorical
from unilosses.validity import targets_nonnegative

__all__ = ["SoftTargets", "soft_targets"]


class SoftTargets(NamedTuple):
    """Target distributions along a class axis, made ready by :func:`soft_targets`."""

    axis: int  #: the class axis, non-negative
    y: Any  #: the targets in y_pred's dtype and shape (0 for the classes ``where`` leaves out)
    q: Any  #: the smoothed targets ``y (1 - e) + e / K`` (K the classes that take part)
    ok: Any  #: mask of valid target values, or None (checked on the host, or nothing to check)
    inc: Included | None  #: the classes optax's ``where`` keeps, or None

    def class_sum(self, be: Any, terms: Any, class_weight: Any) -> Any:
        """``sum_c w_c terms_c`` along the class axis (``w = 1`` without class weights)."""
        if class_weight is None:
            return be.xp.sum(terms, axis=self.axis)
        return be.classdot(terms, class_weight, self.axis)

    def per_sample(self, be: Any, values: Any, class_weight: Any) -> Any:
        """The loss's return for per-sample ``values``: with class weights, the samples' weights
        ``sum_c w_c y_c`` for the weighted means; with ``where``, the samples that keep a class."""
        valid = None if self.inc is None else self.inc.any
        if class_weight is None:
            return values if valid is None else PerSample(values, valid=valid)
        return PerSample(values, weight=be.classdot(self.y, class_weight, self.axis), valid=valid)


def soft_targets(
    be: Any, y_true: Any, y_pred: Any, axis: int, label_smoothing: Any, where: Any = None, class_weight: Any = None
) -> SoftTargets:
    """Shape, dtype and value checks of target distributions ``y_true`` against ``y_pred``,
    optax's ``where``, label smoothing and the shape of ``class_weight``: the preamble every
    categorical loss shares."""
    axis = class_axis(axis, y_pred.ndim)
    num_classes = count_classes(y_pred, axis)
    y = float_targets(be, y_true, y_pred)
    ok = targets_nonnegative(be, y)
    inc = None if where is None else included(be, where, y_pred, axis)
    if inc is not None:
        y = inc.targets(be, y)
    q = smooth_categorical(y, label_smoothing, num_classes if inc is None else inc.count)
    if inc is not None:
        q = inc.targets(be, q)
    if class_weight is not None:
        check_class_weight(class_weight, num_classes)
    return SoftTargets(axis, y, q, ok, inc)
