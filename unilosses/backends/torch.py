"""PyTorch: torch's own fused kernels, called directly (no compat wrappers)."""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xtorch
import numpy as np
import torch
import torch.nn.functional as F

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

    def device(self, x: Any) -> Any:
        return x.device

    def from_host(self, x: Any, like: Any, dtype: Any = None) -> Any:
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            dtype = like.dtype
        return torch.as_tensor(arr, dtype=dtype, device=like.device)

    def concrete(self, *arrays: Any) -> bool:
        return (
            arrays[0].device.type == "cpu"
            and not _is_compiling()
            and not _functorch_active()
        )

    def logsumexp(self, x: Any, axis: int, keepdims: bool = False) -> Any:
        return torch.logsumexp(x, dim=axis, keepdim=keepdims)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return torch.log_softmax(x, dim=axis)

    def softplus(self, x: Any) -> Any:
        return -F.logsigmoid(-x)

    def gather(self, x: Any, index: Any, axis: int) -> Any:
        return torch.gather(x, axis, index.unsqueeze(axis)).squeeze(axis)

    def lookup(self, table: Any, index: Any) -> Any:
        return table[index]

    def classdot(self, x: Any, w: Any, axis: int) -> Any:
        if axis == x.ndim - 1:
            return torch.matmul(x, w)
        return torch.tensordot(x.movedim(axis, -1), w, dims=1)

    def count_nonzero(self, x: Any, dtype: Any) -> Any:
        return torch.count_nonzero(x).to(dtype)

    def any_true(self, x: Any) -> bool:
        return bool(x.any())
