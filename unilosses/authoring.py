"""Writing your own loss: the pieces the built-in losses are made of, public.

The machinery (``loss``, ``Loss``, ``FunctionLoss``, ``PerSample``, ``Backend``,
``namespace``, ``rules``) is also at the top level (``ul.loss``...); the building blocks
are only here (``ul.authoring.mean_over``). A loss is a *spec function* over a backend ``be`` (see
:class:`unilosses.Backend` for what it offers), turned into a public function by
the same :func:`loss` decorator the catalogue uses::

    import unilosses as ul
    from unilosses.authoring import float_targets, mean_over

    @ul.loss(rules={"alpha": ul.rules.in_range(0.0, 1.0)})
    def weighted_mse(be, y_true, y_pred, *, alpha=0.5, axis=-1):
        y = float_targets(be, y_true, y_pred)
        err = (y_pred - y) ** 2
        return mean_over(be, (1 - alpha) * err + alpha * be.xp.abs(y_pred - y), axis)

    class WeightedMSE(ul.FunctionLoss):
        function = weighted_mse

``weighted_mse(y_true, y_pred, alpha=0.3, sample_weight=w, reduction="mean")``
then runs on every backend, with everything a built-in loss has (see
``docs/tutorial-custom-loss.md``).

Building blocks
---------------
- :func:`float_targets`, :func:`sparse_targets` (:class:`SparseTargets`),
  :func:`sparse_labels`, :func:`check_labels`, :func:`nan_out_of_range`: targets
  made ready, with the shape, dtype and label-range checks of the catalogue;
- :func:`class_axis`, :func:`count_classes`, :func:`mean_over`,
  :func:`check_broadcasts`, :func:`check_class_weight`: axes and shapes;
- :func:`categorical_log_probs`, :func:`binary_log_probs`: ``from_logits``
  handling (log-softmax / softplus, or clipped probabilities);
- :func:`smooth_binary`, :func:`smooth_categorical`, :func:`sparse_smoothed`:
  label smoothing;
- :mod:`unilosses.rules`: option rules for ``@loss(rules=...)``;
- :func:`namespace`: the Array API namespace of an array (for ``call()`` of a
  Keras-style :class:`unilosses.Loss` subclass, or any code outside a spec).
"""

from __future__ import annotations

import re
from typing import Any

from unilosses import rules
from unilosses.backends import backend_for
from unilosses.backends.generic import Backend
from unilosses.base import FunctionLoss, Loss, is_loss_function
from unilosses.decorator import loss
from unilosses.logits import binary_log_probs, categorical_log_probs
from unilosses.reduction import PerSample
from unilosses.shapes import (
    SparseTargets,
    check_broadcasts,
    check_class_weight,
    check_labels,
    class_axis,
    count_classes,
    float_targets,
    mean_over,
    nan_out_of_range,
    sparse_labels,
    sparse_targets,
)
from unilosses.smoothing import smooth_binary, smooth_categorical, sparse_smoothed

# spelled out (not ``*_common.__all__``): type checkers read a literal list, and users' mypy needs it
__all__ = [
    "Backend",
    "FunctionLoss",
    "Loss",
    "PerSample",
    "SparseTargets",
    "binary_log_probs",
    "categorical_log_probs",
    "check_broadcasts",
    "check_class_weight",
    "check_labels",
    "class_axis",
    "count_classes",
    "float_targets",
    "is_loss_function",
    "loss",
    "loss_class",
    "mean_over",
    "namespace",
    "nan_out_of_range",
    "rules",
    "smooth_binary",
    "smooth_categorical",
    "sparse_labels",
    "sparse_smoothed",
    "sparse_targets",
]


def namespace(x: Any) -> Any:
    """The Array API namespace of ``x``'s framework, as the losses use it.

    ``array_api_compat``'s namespace for NumPy, PyTorch, Dask and the others,
    ``jax.numpy`` for JAX, unilosses' own for TensorFlow (which has none);
    Python scalars and lists count as NumPy. ``namespace(y_pred)`` is
    ``backend_for(y_pred).xp``, the ``be.xp`` a spec function receives.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> xp = ul.namespace(np.ones(3))
    >>> float(xp.sum(xp.exp(xp.zeros(2))))
    2.0
    """
    return backend_for(x).xp


def loss_class(obj: Any) -> type[Loss]:
    """``obj`` as a :class:`Loss` subclass: a Loss subclass itself, or the class form of a
    public loss function (a ``@loss`` function: a :class:`FunctionLoss`), named after it
    (``focal_tversky`` -> ``FocalTversky``)."""
    if isinstance(obj, type) and issubclass(obj, Loss):
        return obj
    if is_loss_function(obj):
        name = re.sub(r"(?:^|_)([a-z0-9])", lambda m: m.group(1).upper(), obj.__name__)
        cls = type(name, (FunctionLoss,), {"function": obj, "__module__": obj.__module__, "__doc__": obj.__doc__})
        return cls
    raise TypeError(
        f"loss: expected a unilosses.Loss subclass or a function made with @unilosses.loss, got {obj!r}"
    )
