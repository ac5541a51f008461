"""NumPy: its own Array API namespace (backends/np_namespace.py: cheap to import), values always on the host."""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.backends import np_namespace as xnp
from unilosses.backends.generic import Backend


class NumpyBackend(Backend):
    eager_checks = True

    def __init__(self) -> None:
        super().__init__("numpy", xnp)

    def device(self, x: Any) -> Any:
        return "cpu"

    def compute_dtype(self, dtype: Any, name: str = "y_pred") -> Any:
        """As :meth:`Backend.compute_dtype`; also ml_dtypes' bfloat16 and float8 types (JAX's and
        TensorFlow's NumPy dtypes, unknown to ``numpy.isdtype``), computed in float32."""
        if np.dtype(dtype).kind != "V":
            return super().compute_dtype(dtype, name)
        out = self._compute_dtype.get(dtype)
        if out is None:
            try:
                import ml_dtypes

                ml_dtypes.finfo(dtype)  # floating: ValueError otherwise
            except (ImportError, ValueError):
                raise TypeError(f"{name}: expected a real floating-point array, got dtype {dtype}") from None
            out = self._compute_dtype[dtype] = np.dtype(np.float32)
        return out

    def nonzero_indices(self, mask: Any) -> Any:
        return np.flatnonzero(mask)

    def from_host(self, x: Any, like: Any, dtype: Any = None) -> Any:
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            dtype = like.dtype
        return arr if dtype is None or arr.dtype == dtype else arr.astype(dtype)

    def gather(self, x: Any, index: Any, axis: int) -> Any:
        return np.take_along_axis(x, np.expand_dims(index, axis), axis=axis).squeeze(axis)

    def count_nonzero(self, x: Any, dtype: Any) -> Any:
        return np.asarray(np.count_nonzero(x), dtype=dtype)

    def host_range(self, x: Any) -> tuple[float, float] | None:
        return None if x.size == 0 else (float(x.min()), float(x.max()))

    def labels_in_range(self, labels: Any, num_classes: int, ignore_index: Any = None) -> bool:
        if labels.size == 0 or (labels.min() >= 0 and labels.max() < num_classes):
            return True
        return ignore_index is not None and super().labels_in_range(labels, num_classes, ignore_index)
