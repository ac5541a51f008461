"""``smooth_labels``: label smoothing of one-hot labels as a function of its own (optax's).

The losses smooth their targets themselves (``label_smoothing=``, :mod:`unilosses.smoothing`);
this public helper serves code ported from frameworks that smooth first. It dispatches on its
own input, as a loss does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from unilosses.backends import HOST_TYPES, backend_for, convert
from unilosses.rules import in_range
from unilosses.shapes import class_axis

__all__ = ["smooth_labels"]


def smooth_labels(labels: Any, alpha: Any, *, axis: Any = -1, where: Any = None) -> Any:
    """Label smoothing of one-hot (or soft) labels, as ``optax.smooth_labels``.

    ::

        smoothed = (1 - alpha) * labels + alpha / K

    with ``K`` the number of categories along ``axis`` (the product of the sizes
    for a tuple), or with ``where`` the number of ``True`` entries along ``axis``
    (kept for broadcasting). Every entry is smoothed, masked ones too (optax).

    Parameters
    ----------
    labels : floating-point array of any framework (or Python / NumPy values)
        One-hot or soft labels; they decide the framework, device and dtype.
    alpha : float in [0, 1], or a 0-d array of the labels' framework
        The smoothing factor (a traced value under ``jax.jit`` too).
    axis : int or tuple of ints
        The category axis (axes).
    where : boolean array broadcastable to labels, optional
        The categories that count in ``K``, per row.

    Returns
    -------
    array, labels' shape, framework and dtype.

    Notes
    -----
    The losses take ``label_smoothing=alpha`` themselves (sparse labels are never
    turned into a one-hot); this helper is for porting code that smooths first,
    e.g. ``optax.softmax_cross_entropy(logits, optax.smooth_labels(y, 0.1))`` is
    ``categorical_crossentropy(smooth_labels(y, 0.1), logits, from_logits=True)``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> ul.smooth_labels(np.array([[0.0, 1.0, 0.0, 0.0]]), 0.2)
    array([[0.05, 0.85, 0.05, 0.05]])
    """
    if isinstance(alpha, (int, float, np.integer, np.floating)):
        alpha = in_range(0.0, 1.0)("alpha", alpha)
    if isinstance(labels, HOST_TYPES):
        labels = np.asarray(labels)
    be = backend_for(labels)
    xp = be.xp
    if not xp.isdtype(labels.dtype, "real floating"):
        raise TypeError(f"labels: expected floating-point (one-hot or soft) labels, got dtype {labels.dtype}")
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis: expected an integer axis or a tuple of them, got {axis!r}")
        class_axis(int(a), labels.ndim)
    try:
        if where is None:
            count: Any = math.prod(labels.shape[a] for a in axes)
        else:
            mask = convert(be, where, labels, "where")
            count = xp.sum(xp.astype(mask, labels.dtype), axis=tuple(int(a) for a in axes), keepdims=True)
        if not isinstance(alpha, (int, float)):
            alpha = convert(be, alpha, labels, "alpha", labels.dtype)
    except TypeError as e:  # convert's message names y_pred: here the labels decide
        raise TypeError(str(e).replace("y_pred", "labels")) from None
    return (1.0 - alpha) * labels + alpha / count
