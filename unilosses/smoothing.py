"""Label smoothing, binary and categorical, in one place.

Binary targets are squeezed towards 0.5 (Keras, TF); categorical targets
towards the uniform distribution over the K classes of the class axis. Sparse
labels are never turned into a one-hot: :func:`sparse_smoothed` computes the
smoothed cross-entropy from the gathered term and one class-axis reduction.
"""

from __future__ import annotations

from typing import Any

from unilosses.backends.generic import sparse_smoothed  # a primitive: the backends' sparse kernels call it
from unilosses.rules import is_zero

__all__ = ["smooth_binary", "smooth_categorical", "sparse_smoothed"]


def smooth_binary(y: Any, label_smoothing: float) -> Any:
    """``y * (1 - e) + 0.5 * e``."""
    if is_zero(label_smoothing):
        return y
    return y * (1.0 - label_smoothing) + 0.5 * label_smoothing


def smooth_categorical(y: Any, label_smoothing: float, num_classes: int) -> Any:
    """``y * (1 - e) + e / K``, K the size of the class axis."""
    if is_zero(label_smoothing):
        return y
    return y * (1.0 - label_smoothing) + label_smoothing / num_classes
