"""PyTorch: torch's own fused kernels, called directly (no compat wrappers)."""

from __future__ import annotations

from typing import Any, Callable

import array_api_compat.torch as xtorch
import numpy as np
import torch
import torch.nn.functional as F

from unilosses.backends import linear_torch, token_torch
from unilosses.backends.generic import Backend
from unilosses.rules import is_zero

_is_compiling = torch.compiler.is_compiling
try:  # torch.func transforms (vmap, grad) forbid host reads of values
    _functorch_active = torch._C._are_functorch_transforms_active
except AttributeError:  # pragma: no cover - older torch
    def _functorch_active() -> bool:
        return False


_Tensor = torch.Tensor
_FAST_DTYPES = (torch.float32, torch.float64)
_NO_IGNORE = -(2**63)  # an ignore_index no label equals (torch's default, -100, could)


class TorchBackend(Backend):
    def __init__(self) -> None:
        super().__init__("torch", xtorch)
        self.index_dtype = torch.int64
        self._inv_n: dict[Any, Any] = {}

    def device(self, x: Any) -> Any:
        return x.device

    # No cache: torch's dtypes answer from their own fields, which torch.compile reads as
    # constants (a cache read would become a guard on the cache's contents).
    def compute_dtype(self, dtype: Any, name: str = "y_pred") -> Any:
        if not dtype.is_floating_point:
            raise TypeError(f"{name}: expected a real floating-point array, got dtype {dtype}")
        return torch.float32 if dtype.itemsize < 4 else dtype

    def is_floating(self, dtype: Any) -> bool:
        return bool(dtype.is_floating_point)

    def eager_cross_entropy(self, **options: Any) -> Callable[[Any, Any], Any]:
        """torch's whole cross-entropy call (:func:`eager_cross_entropy`): the kernel of
        ``sparse_categorical_crossentropy``'s torch specialisation."""
        return eager_cross_entropy(**options)

    def from_host(self, x: Any, like: Any, dtype: Any = None) -> Any:
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            dtype = like.dtype
        return torch.as_tensor(arr, dtype=dtype, device=like.device)

    def concrete(self, *arrays: Any) -> bool:
        return (
            arrays[0].is_cpu
            and not _is_compiling()
            and not _functorch_active()
        )

    def logsumexp(self, x: Any, axis: int, keepdims: bool = False) -> Any:
        return torch.logsumexp(x, dim=axis, keepdim=keepdims)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return torch.log_softmax(x, dim=axis)

    def softplus(self, x: Any) -> Any:
        return F.softplus(x)  # exact to exp(-20) above torch's threshold of 20

    def gather(self, x: Any, index: Any, axis: int) -> Any:
        return torch.gather(x, axis, index.unsqueeze(axis)).squeeze(axis)

    def lookup(self, table: Any, index: Any) -> Any:
        return table[index]

    def classdot(self, x: Any, w: Any, axis: int) -> Any:
        if axis == x.ndim - 1:
            return torch.matmul(x, w)
        return torch.tensordot(x.movedim(axis, -1), w, dims=1)

    def cumulative_sum(self, x: Any, axis: int) -> Any:
        return torch.cumsum(x, dim=axis)  # the compat wrapper looks up a namespace (torch.compile warns)

    def mean_all(self, x: Any) -> Any:
        # torch.mean launches a sum and a division (3.5 us on 32 values); up to a few
        # thousand values a dot with a constant 1/n vector is one BLAS call (1 us),
        # as accurate (several accumulators), with the same gradient 1/n
        n = x.numel()
        if n > 4096 or _is_compiling():  # compiled: a fused mean (a symbolic n has no 1/n vector)
            return torch.mean(x)
        key = (n, x.dtype, x.device)
        w = self._inv_n.get(key)
        if w is None:
            if len(self._inv_n) > 64:
                self._inv_n.clear()
            w = self._inv_n[key] = torch.full((n,), 1.0 / n, dtype=x.dtype, device=x.device)
        return torch.dot(x if x.ndim == 1 else x.reshape(-1), w)

    def count_nonzero(self, x: Any, dtype: Any) -> Any:
        return torch.count_nonzero(x).to(dtype)

    def host_range(self, x: Any) -> tuple[float, float] | None:
        if x.numel() == 0:
            return None
        lo, hi = torch.aminmax(x.detach())  # one kernel
        return lo.item(), hi.item()

    def host_float(self, x: Any) -> float:
        return float(x.detach())

    def any_true(self, x: Any) -> bool:
        return bool(x.any())

    def nonzero_indices(self, mask: Any) -> Any:
        if _is_compiling() or _functorch_active() or mask.is_meta:
            return None  # nonzero's size is unknown when tracing, and on the meta device
        return torch.nonzero(mask)[:, 0]

    def labels_in_range(self, labels: Any, num_classes: int, ignore_index: Any = None) -> bool:
        if labels.numel() == 0:
            return True
        lo, hi = torch.aminmax(labels)  # one kernel, two host reads
        if lo.item() >= 0 and hi.item() < num_classes:
            return True
        return ignore_index is not None and super().labels_in_range(labels, num_classes, ignore_index)

    # torch's own kernels compute exactly Backend.sparse_(softmax_)cross_entropy:
    # (1 - e) w_y nll_y + (e / K) sum_c w_c (-log p_c), class axis 1; they are not
    # differentiable in the class weights, so learnt weights take the generic path.
    def sparse_cross_entropy(
        self, log_p: Any, labels: Any, axis: int, label_smoothing: float = 0.0, class_weight: Any = None
    ) -> Any:
        if not is_zero(label_smoothing) or (class_weight is not None and class_weight.requires_grad):
            return super().sparse_cross_entropy(log_p, labels, axis, label_smoothing, class_weight)
        if log_p.ndim > 1 and axis != 1:
            # contiguous: the N-d kernel's backward fails on a moved view ("grad_input must be contiguous")
            log_p = log_p.movedim(axis, 1).contiguous()
        return F.nll_loss(log_p, labels, weight=class_weight, reduction="none")

    def sparse_softmax_cross_entropy(
        self, logits: Any, labels: Any, axis: int, label_smoothing: float = 0.0, class_weight: Any = None
    ) -> Any:
        # torch's kernels are not differentiable in the class weights, and take a Python smoothing
        if (class_weight is not None and class_weight.requires_grad) or not isinstance(label_smoothing, (int, float)):
            return super().sparse_softmax_cross_entropy(logits, labels, axis, label_smoothing, class_weight)
        if logits.ndim > 1 and axis != 1:
            logits = logits.movedim(axis, 1)
        return F.cross_entropy(
            logits, labels, weight=class_weight, reduction="none", label_smoothing=label_smoothing
        )

    def linear_cross_entropy(self, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any,
                             token_weight: Any, options: Any) -> Any:
        return linear_torch.linear_cross_entropy(hidden, weight, bias, labels, class_weight, token_weight, options)

    def token_log_probs(self, logits: Any, labels: Any, temperature: float, axis: int, entropy: bool) -> Any:
        if _functorch_active():  # the autograd Function has no torch.func rules
            return super().token_log_probs(logits, labels, temperature, axis, entropy)
        return token_torch.token_log_probs(logits, labels, temperature, axis, entropy)

    def stop_gradient(self, x: Any) -> Any:
        return x.detach()

    def ctc_nll(self, log_probs: Any, labels: Any, label_lengths: Any, logit_lengths: Any, blank: int) -> Any:
        # torch's kernel; zero_infinity=True so that impossible alignments give a finite value with a
        # zero gradient (the spec replaces the value), not torch's NaN gradient. The kernel refuses
        # empty inputs, reads the lengths on the host (a graph break for torch.compile, an error
        # under torch.func transforms) and has no 'meta' implementation: the recursion serves there.
        if (
            log_probs.numel() == 0
            or log_probs.device.type not in ("cpu", "cuda")
            or _is_compiling()
            or _functorch_active()
        ):
            return super().ctc_nll(log_probs, labels, label_lengths, logit_lengths, blank)
        return F.ctc_loss(
            log_probs, labels, logit_lengths, label_lengths, blank=blank, reduction="none", zero_infinity=True
        )


def eager_cross_entropy(
    *, from_logits: bool, label_smoothing: float, ignore_index: Any, axis: int, reduction: str, class_weight: bool
) -> Callable[[Any, Any], Any]:
    """``fast((y_true, y_pred), arrays)``: torch's own ``F.cross_entropy`` (``from_logits``) or
    ``F.nll_loss`` (log-probabilities) with torch's ``reduction`` (``"none"``, ``"sum"``,
    ``"mean"``), for eager float32 / float64 CPU tensors with int64 labels, ``where`` None
    and, when ``class_weight`` allows them, constant class weights of the logits' dtype.
    ``NotImplemented`` for anything else (the caller then runs the spec). A label out of
    range is not read on the host: torch raises IndexError on the CPU, and
    ``NotImplemented`` lets the spec raise unilosses' ValueError."""
    ignore = _NO_IGNORE if ignore_index is None else ignore_index
    is_compiling = _is_compiling
    mean = reduction == "mean"

    def fast(inputs: Any, arrays: Any) -> Any:
        y, z = inputs
        if type(z) is not _Tensor or type(y) is not _Tensor or z.dtype not in _FAST_DTYPES:
            return NotImplemented
        shape, nd = z.shape, z.ndim
        if nd == 2:
            if axis not in (1, -1) or y.ndim != 1 or y.shape[0] != shape[0]:
                return NotImplemented
        elif nd < 2 or axis % nd != 1 or y.shape != shape[:1] + shape[2:]:
            return NotImplemented
        if y.dtype != torch.int64 or not z.is_cpu or shape[1] == 0 or (mean and shape[0] == 0) or is_compiling():
            return NotImplemented
        if arrays.get("where") is not None:
            return NotImplemented
        w = arrays.get("class_weight")
        if w is not None and (
            not class_weight or type(w) is not _Tensor or w.dtype != z.dtype or w.requires_grad
            or not w.is_cpu or w.shape != shape[1:2]
        ):
            return NotImplemented
        try:
            if from_logits:
                return F.cross_entropy(z, y, weight=w, ignore_index=ignore, reduction=reduction, label_smoothing=label_smoothing)
            return F.nll_loss(z, y, weight=w, ignore_index=ignore, reduction=reduction)
        except IndexError:  # a label out of range: the spec raises the ValueError
            return NotImplemented

    return fast
