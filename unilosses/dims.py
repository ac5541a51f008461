"""Static shapes: the predicates every shape check of unilosses uses, in one place.

A dimension may be unknown (``None`` in a TensorFlow graph's shape): it matches anything.
Nothing here looks at values, so the checks cost nothing under ``jit`` and run before any
computation.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UNKNOWN_RANK", "broadcasts", "dim_equal", "same_shape", "shape_of"]


#: the message for a tensor of unknown rank (a tf.compat.v1 placeholder made without a shape)
UNKNOWN_RANK = (
    "{name}: its rank is unknown (a tf.compat.v1.placeholder made without a shape?); a loss needs the "
    "rank of its inputs: give the placeholder a shape, with None for unknown sizes (shape=(None, 3))"
)


def shape_of(x: Any) -> tuple[Any, ...]:
    """``x.shape`` as a tuple (a TensorShape's unknown dimensions as None); a ValueError for a
    tensor of unknown rank."""
    try:
        return tuple(x.shape)
    except ValueError:  # TensorShape(None): "Cannot iterate over a shape with unknown rank"
        if getattr(x.shape, "rank", 0) is None:
            raise ValueError(UNKNOWN_RANK.format(name="an input")) from None
        raise


def dim_equal(a: Any, b: Any) -> bool:
    """Two dimensions that may be equal: equal, or one of them unknown."""
    return a is None or b is None or a == b


def same_shape(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Two shapes of one rank whose dimensions may be equal (:func:`dim_equal`)."""
    return a == b or len(a) == len(b) and all(dim_equal(x, y) for x, y in zip(a, b))


def broadcasts(small: tuple[Any, ...], shape: tuple[Any, ...], *, leading: bool = False) -> bool:
    """``small`` broadcasts to ``shape`` without enlarging it: no higher rank, and each of its
    dimensions 1 or equal, aligned on the trailing axes (NumPy's rule) or, with ``leading``, on
    the leading ones (a per-sample weight against per-element values)."""
    if len(small) > len(shape):
        return False
    pairs = zip(small, shape) if leading else zip(small[::-1], shape[::-1])
    return all(a == 1 or dim_equal(a, b) for a, b in pairs)
