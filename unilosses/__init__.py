"""unilosses: loss functions written once against the Array API standard.

The backend is chosen on every call from the arrays passed in (NumPy, JAX,
PyTorch, TensorFlow, or any Array API library that array-api-compat knows);
importing unilosses imports none of them.
"""

from unilosses.backends import backend_for
from unilosses.loss import Loss
from unilosses.losses.crossentropy import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from unilosses.reduction import REDUCTIONS, LossStats, Reduction
from unilosses.registry import deserialize, get, serialize

__version__ = "0.1.0"

__all__ = [
    "REDUCTIONS",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "LossStats",
    "Reduction",
    "SparseCategoricalCrossentropy",
    "backend_for",
    "binary_crossentropy",
    "categorical_crossentropy",
    "deserialize",
    "get",
    "serialize",
    "sparse_categorical_crossentropy",
]
