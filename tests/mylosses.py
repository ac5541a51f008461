"""A user's own losses, written outside unilosses with its public API only.

The tutorial (``docs/tutorial-custom-loss.md``) walks through this module; the
tests run it through every path a built-in loss takes (``tests/test_custom_loss.py``),
``python -m unilosses check --module mylosses`` checks its ``CASES``, and mypy passes
on it (``mypy unilosses tests/mylosses.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import unilosses as ul
from unilosses.testing import LossCase

__all__ = ["CASES", "FocalTversky", "WeightedHuber", "focal_tversky", "torch_focal_tversky"]

_POSITIVE = ul.rules.in_range(0.0, float("inf"), lo_open=True)


@ul.loss(arrays=("class_weight",), rules={"gamma": _POSITIVE, "smooth": ul.rules.in_range(0.0, float("inf"))})
def focal_tversky(
    be: ul.Backend,
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 1.0,
    from_logits: bool = False,
    class_weight: Any = None,
    axis: int = -1,
) -> Any:
    """Class-balanced focal-Tversky loss for multi-class segmentation (Abraham & Khan, 2019).

    For each sample n and class c, with the sums over the sample's positions i::

        TP = sum_i y p,   FN = sum_i y (1 - p),   FP = sum_i (1 - y) p
        TI = (TP + smooth) / (TP + alpha FN + (1 - alpha) FP + smooth)
        loss_n = sum_c w_c (1 - TI_nc) ** gamma / sum_c w_c

    Parameters
    ----------
    y_true : array, shape (N, ..., K) (class axis ``axis``)
        One-hot or soft target masks.
    y_pred : array, same shape
        Class probabilities, or logits with ``from_logits=True`` (softmax over ``axis``).
    alpha : float in [0, 1]
        Weight of the missed target mass (false negatives); ``1 - alpha`` weighs the false positives.
    gamma : float > 0
        Focal exponent (``gamma < 1`` emphasises the hard classes).
    smooth : float >= 0
        Added to both sides of the index (an empty class and an empty prediction give 0 loss).
    from_logits : bool
    class_weight : array, shape (K,), optional
        Per-class weights ``w_c`` (default: 1).
    axis : int
        The class axis (not the batch axis 0).

    Returns
    -------
    array, shape (N,)
        One value per sample (``reduction="none"``), else a scalar.
    """
    axis = ul.authoring.class_axis(axis, y_pred.ndim)
    if axis == 0:
        raise ValueError("axis: expected the class axis, not the batch axis 0")
    k = ul.authoring.count_classes(y_pred, axis)
    xp = be.xp
    y = ul.authoring.float_targets(be, y_true, y_pred)
    p = xp.exp(be.log_softmax(y_pred, axis)) if from_logits else y_pred
    positions = tuple(a for a in range(1, y_pred.ndim) if a != axis)
    tp = xp.sum(y * p, axis=positions)  # (N, K)
    fn = xp.sum(y * (1.0 - p), axis=positions)
    fp = xp.sum((1.0 - y) * p, axis=positions)
    tversky = (tp + smooth) / (tp + alpha * fn + (1.0 - alpha) * fp + smooth)
    focal = xp.clip(1.0 - tversky, 0.0, 1.0) ** gamma
    if class_weight is None:
        return xp.mean(focal, axis=-1)
    ul.authoring.check_class_weight(class_weight, k)
    return be.classdot(focal, class_weight, -1) / xp.sum(class_weight)


class FocalTversky(ul.FunctionLoss):
    """Class form of :func:`focal_tversky`."""

    function = focal_tversky


class WeightedHuber(ul.Loss):
    """A Keras-style loss, ported from ``keras.losses.Loss`` by changing its import."""

    def __init__(self, delta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def call(self, y_true: Any, y_pred: Any) -> Any:
        xp = ul.namespace(y_pred)
        err = xp.abs(y_true - y_pred)
        quadratic = xp.clip(err, max=self.delta)
        return xp.mean(0.5 * quadratic**2 + self.delta * (err - quadratic), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


def torch_focal_tversky(y: Any, p: Any, alpha: float = 0.7, gamma: float = 0.75, smooth: float = 1.0) -> Any:
    """The same loss as a user's existing torch code (channels last): the kit's reference."""
    import torch

    dims = tuple(range(1, p.dim() - 1))
    tp = (y * p).sum(dims)
    fn = (y * (1 - p)).sum(dims)
    fp = ((1 - y) * p).sum(dims)
    ti = (tp + smooth) / (tp + alpha * fn + (1 - alpha) * fp + smooth)
    return torch.pow(1 - ti, gamma).mean(-1)


def _segmentation(rng: np.random.Generator) -> tuple[Any, ...]:
    labels = rng.integers(0, 3, (2, 4, 3))
    y = np.eye(3, dtype=np.float32)[labels]  # (2, 4, 3, 3) one-hot, channels last
    p = rng.dirichlet(np.ones(3), (2, 4, 3)).astype(np.float32)
    return y, p


def _logits(rng: np.random.Generator) -> tuple[Any, ...]:
    y, _ = _segmentation(rng)
    return np.moveaxis(y, -1, 1), rng.normal(size=(2, 3, 4, 3)).astype(np.float32)  # channels first


def _regression(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.normal(size=(4, 3)).astype(np.float32), (2 * rng.normal(size=(4, 3))).astype(np.float32)


CASES = [
    LossCase(focal_tversky, _segmentation, id="focal-tversky", reference={"torch": torch_focal_tversky}),
    LossCase(
        focal_tversky, _logits, {"from_logits": True, "axis": 1, "gamma": 1.5, "class_weight": np.array([0.2, 1.0, 3.0])},
        id="focal-tversky-logits-weights",
    ),
    LossCase(FocalTversky, _segmentation, {"alpha": 0.3, "smooth": 0.0}, id="FocalTversky-class"),
    LossCase(WeightedHuber, _regression, {"delta": 0.5}, id="WeightedHuber-call"),
]
