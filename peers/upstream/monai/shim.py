"""MONAI's Dice-family loss classes, translated to unilosses (what MONAI's loss tests import).

MONAI's test files (``tests/losses/``, vendored unchanged from Project-MONAI/MONAI) import
``from monai.losses import X`` and ``from tests.test_utils import test_script_save``;
:mod:`peers.upstream.monai.run` rewrites those two imports to this module.

Each class takes MONAI's constructor arguments and calls the unilosses loss as a MONAI user
would after reading the segmentation family's docs (its porting table): channels first is
``class_axis=1``, ``batch=False`` is ``per_sample=True``, one value per sample and class is
``per_class=True`` (MONAI's ``"mean"`` / ``"sum"`` then average / add them, as MONAI does),
``sigmoid`` / ``softmax`` / ``other_act`` is ``activation``, ``to_onehot_y`` is ``sparse``,
``include_background=False`` is ``ignore_background=True``, MONAI's Tversky ``alpha`` /
``beta`` are ``beta`` / ``alpha``. Where MONAI warns and skips an option on a single channel
(``softmax``, ``to_onehot_y``, ``include_background=False``), the shim does the same, as a user
porting that call would drop the option. TorchScript (``test_script_save``) is missing.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import pytest
import torch
import unilosses as ul


def test_script_save(*_: Any, **__: Any) -> None:
    """MONAI's TorchScript round trip: unilosses' losses are functions over the Array API, not
    scriptable ``nn.Module`` code."""
    pytest.skip("missing: torch.jit.script of the loss module")


class _Segmentation(torch.nn.Module):
    #: the unilosses class, and MONAI's options this class takes beyond the shared ones
    cls: Any = None
    extra: tuple[str, ...] = ()
    #: MONAI's option name -> unilosses' where they differ
    rename: ClassVar[dict[str, str]] = {}
    #: a sum of two losses (unilosses gives one value per sample: MONAI's "mean" ports)
    combined = False

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Any = None,
        reduction: Any = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        soft_label: bool = False,
        **options: Any,
    ) -> None:
        super().__init__()
        options = {self.rename.get(k, k): v for k, v in options.items()}
        unknown = set(options) - set(self.extra)
        if unknown:
            pytest.skip(f"missing: option(s) {sorted(unknown)}")
        acts = [a for a, on in (("sigmoid", sigmoid), ("softmax", softmax), (other_act, other_act is not None)) if on]
        self.activation = acts[0] if len(acts) == 1 else tuple(acts) or None  # several: refused on the call
        self.include_background, self.to_onehot_y, self.batch = include_background, to_onehot_y, batch
        self.reduction = reduction
        self.options = {"smooth_nr": smooth_nr, "smooth_dr": smooth_dr, **options}
        if soft_label:
            self.options["soft_label"] = True
        if self.combined and reduction != "mean":
            pytest.skip(f"missing: reduction={reduction!r} of a combined loss (unilosses' values are per sample)")
        self.cls(**self._kw(2, warn=False), reduction=reduction)  # MONAI's constructor checks its options

    def _kw(self, channels: int, warn: bool = True) -> dict[str, Any]:
        kw: dict[str, Any] = {"class_axis": 1, "per_sample": not self.batch, **self.options}
        if self.cls in (ul.Dice, ul.Tversky):
            kw["per_class"] = True
        activation = self.activation
        if activation == "softmax" and channels == 1:
            if warn:
                warnings.warn("single channel prediction, `softmax=True` ignored.", stacklevel=3)
            activation = None
        if activation is not None:
            kw["activation"] = activation
        if self.to_onehot_y:
            if channels == 1:
                if warn:
                    warnings.warn("single channel prediction, `to_onehot_y=True` ignored.", stacklevel=3)
            else:
                kw["sparse"] = True
        if not self.include_background:
            if channels == 1:
                if warn:
                    warnings.warn("single channel prediction, `include_background=False` ignored.", stacklevel=3)
            else:
                kw["ignore_background"] = True
        weight = kw.pop("weight", None)
        if weight is not None:
            w = torch.as_tensor(weight, dtype=torch.float32)
            kept = channels - (1 if kw.get("ignore_background") else 0)
            if channels > 1:
                kw["class_weight"] = w.expand(kept) if w.ndim == 0 else w
        return kw

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        kw = self._kw(input.shape[1])
        if mask is not None:
            kw["mask"] = mask
        out = self.cls(**kw, reduction=self.reduction)(target, input)
        if self.reduction == "none" and self.cls in (ul.Dice, ul.GeneralizedDice):  # MONAI's layout: (N, C, 1, ...)
            if self.cls is ul.GeneralizedDice:
                out = out.reshape(-1, 1) if out.ndim else out.reshape(1)
            out = out.reshape(*out.shape, *([1] * (input.ndim - 2)))
        return out


class DiceLoss(_Segmentation):
    cls = ul.Dice
    extra = ("squared_pred", "jaccard", "weight", "ignore_index")


class MaskedDiceLoss(DiceLoss):
    pass


class TverskyLoss(_Segmentation):
    cls = ul.Tversky
    extra = ("alpha", "beta", "ignore_index")

    def __init__(self, *args: Any, alpha: float = 0.5, beta: float = 0.5, **kw: Any) -> None:
        # MONAI's alpha weighs false positives, unilosses' the missed target mass: swapped
        super().__init__(*args, alpha=beta, beta=alpha, **kw)


class GeneralizedDiceLoss(_Segmentation):
    cls = ul.GeneralizedDice
    extra = ("w_type",)


class DiceCELoss(_Segmentation):
    cls = ul.DiceCE
    extra = ("squared_pred", "jaccard", "lambda_dice", "lambda_ce", "label_smoothing")
    combined = True


class DiceFocalLoss(_Segmentation):
    cls = ul.DiceFocal
    extra = ("squared_pred", "jaccard", "lambda_dice", "lambda_focal", "gamma", "focal_alpha", "weight")
    rename: ClassVar[dict[str, str]] = {"alpha": "focal_alpha"}
    combined = True


class GeneralizedDiceFocalLoss(_Segmentation):
    cls = ul.GeneralizedDiceFocal
    extra = ("w_type", "lambda_gdl", "lambda_focal", "gamma", "weight")
    combined = True


class GeneralizedWassersteinDiceLoss(torch.nn.Module):
    def __init__(
        self, dist_matrix: Any, weighting_mode: str = "default", reduction: Any = "mean", smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
    ) -> None:
        super().__init__()
        self.loss = ul.GeneralizedWassersteinDice(
            dist_matrix=dist_matrix, weighting_mode=weighting_mode, reduction=reduction, smooth_nr=smooth_nr,
            smooth_dr=smooth_dr, class_axis=1, from_logits=True, sparse=True,
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(target, input)


class AsymmetricUnifiedFocalLoss(torch.nn.Module):
    """Binary, on probabilities (MONAI's code; its docstring says logits). MONAI's ``"sum"`` and
    ``"none"`` return its mean, which is unilosses' ``"mean"``."""

    def __init__(
        self, to_onehot_y: bool = False, num_classes: int = 2, weight: float = 0.5, gamma: float = 0.5,
        delta: float = 0.7, reduction: Any = "mean", ignore_index: Any = None,
    ) -> None:
        super().__init__()
        if num_classes != 2:
            pytest.skip("missing: num_classes other than 2 (a binary loss)")
        if ignore_index is not None:
            pytest.skip("missing: ignore_index of the asymmetric unified focal loss")
        self.to_onehot_y = to_onehot_y
        self.options = {"class_axis": 1, "weight": weight, "gamma": gamma, "delta": delta, "reduction": "mean"}
        ul.AsymmetricUnifiedFocal(**self.options)  # the constructor checks the options

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        sparse = self.to_onehot_y and y_pred.shape[1] != 1  # MONAI warns and ignores it on one channel
        return ul.asymmetric_unified_focal(y_true, y_pred, sparse=sparse, **self.options)


def __getattr__(name: str) -> Any:
    """MONAI's own class for what this shim does not translate (``FocalLoss``, which the combined
    losses' tests add to a ``DiceLoss``): those tests compare unilosses with MONAI's own parts."""
    import monai.losses

    return getattr(monai.losses, name)
