"""PyTorch: torch's own fused kernels, called directly (no compat wrappers)."""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xtorch
import numpy as np
import torch
import torch.nn.functional as F

from unilosses.backends import linear_torch
from unilosses.backends.generic import Backend

_is_compiling = torch.compiler.is_compiling
try:  # torch.func transforms (vmap, grad) forbid host reads of values
    _functorch_active = torch._C._are_functorch_transforms_active
except AttributeError:  # pragma: no cover - older torch
    def _functorch_active() -> bool:
        return False


class TorchBackend(Backend):
    def __init__(self) -> None:
        super().__init__("torch", xtorch)
        self.index_dtype = torch.int64
        self._inv_n: dict[Any, Any] = {}

    def device(self, x: Any) -> Any:
        return x.device

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

    def mean_all(self, x: Any) -> Any:
        # torch.mean launches a sum and a division (3.5 us on 32 values); up to a few
        # thousand values a dot with a constant 1/n vector is one BLAS call (1 us),
        # as accurate (several accumulators), with the same gradient 1/n
        n = x.numel()
        if n > 4096:
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

    def any_true(self, x: Any) -> bool:
        return bool(x.any())

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
        if label_smoothing or (class_weight is not None and class_weight.requires_grad):
            return super().sparse_cross_entropy(log_p, labels, axis, label_smoothing, class_weight)
        if log_p.ndim > 1 and axis != 1:
            log_p = log_p.movedim(axis, 1)
        return F.nll_loss(log_p, labels, weight=class_weight, reduction="none")

    def sparse_softmax_cross_entropy(
        self, logits: Any, labels: Any, axis: int, label_smoothing: float = 0.0, class_weight: Any = None
    ) -> Any:
        if class_weight is not None and class_weight.requires_grad:  # torch's kernels are not
            return super().sparse_softmax_cross_entropy(logits, labels, axis, label_smoothing, class_weight)
        if logits.ndim > 1 and axis != 1:
            logits = logits.movedim(axis, 1)
        return F.cross_entropy(
            logits, labels, weight=class_weight, reduction="none", label_smoothing=label_smoothing
        )

    def linear_cross_entropy(self, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any,
                             token_weight: Any, options: Any) -> Any:
        return linear_torch.linear_cross_entropy(hidden, weight, bias, labels, class_weight, token_weight, options)
