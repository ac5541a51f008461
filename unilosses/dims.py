"""Static shapes: the predicates every shape check of unilosses uses, in one place.

A dimension may be unknown (``None`` in a TensorFlow graph's shape): it matches anything.
Nothing here looks at values, so the checks cost nothing under ``jit`` and run before any
computation.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["UNKNOWN_RANK", "broadcasts", "dim_equal", "flat", "same_shape", "shape_of", "static_shape", "unflatten"]


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


def static_shape(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    """A shape for ``reshape``: an unknown size (TensorFlow's None) as -1."""
    return tuple(-1 if a is None else a for a in shape)


def flat(be: Any, x: Any, shape: tuple[Any, ...]) -> Any:
    """``reshape(x, shape)``; an empty ``x`` (which Dask cannot reshape) as a zero of ``shape``
    plus its (empty) sum, so that gradients stay connected."""
    xp = be.xp
    if math.prod(shape) != 0:
        return xp.reshape(x, shape)
    return xp.zeros(shape, dtype=x.dtype, device=be.device(x)) + xp.sum(x, dtype=x.dtype)


def unflatten(be: Any, x: Any, like: Any) -> Any:
    """``x``, one value per entry of ``like`` (flattened), in ``like``'s shape; with more than one size
    unknown (a TensorFlow graph traced for any batch and length), from ``like``'s shape as it runs
    (:meth:`Backend.reshape_like <unilosses.backends.generic.Backend.reshape_like>`)."""
    shape = shape_of(like)
    if shape.count(None) > 1:
        return be.reshape_like(x, like)
    return flat(be, x, static_shape(shape))
