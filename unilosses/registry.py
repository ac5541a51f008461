"""``get`` / ``serialize`` / ``deserialize``: losses by name or config, as Keras does.

The registry is an explicit table: each family module lists its functions and
classes in ``__all__``; nothing walks subclasses.
"""

from __future__ import annotations

import difflib
from typing import Any

from unilosses.base import FunctionLoss, Loss, is_loss_function
from unilosses.losses import (
    _contrastive,
    _crossentropy,
    _crossentropy_variants,
    _distillation,
    _embedding,
    _focal,
    _linear,
    _margin,
    _metric,
    _multiclass_margin,
    _preference,
    _probabilistic,
    _ranking,
    _regression,
    _segmentation,
    _sequence,
    _sparsemax,
)

__all__ = ["FAMILIES", "deserialize", "get", "loss_classes", "register", "serialize"]

#: the loss family modules, in the order the README lists them
FAMILIES = (
    _crossentropy,
    _focal,
    _linear,
    _crossentropy_variants,
    _sparsemax,
    _probabilistic,
    _margin,
    _multiclass_margin,
    _embedding,
    _ranking,
    _contrastive,
    _metric,
    _regression,
    _segmentation,
    _sequence,
    _preference,
    _distillation,
)

#: Keras' short names
_ALIASES = {
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "logcosh": "log_cosh",
    "convex_kl_divergence": "generalized_kl_divergence",  # optax's deprecated name
}


def _table() -> dict[str, Any]:
    table: dict[str, Any] = {}
    for module in FAMILIES:
        for name in module.__all__:
            table[name] = getattr(module, name)
    for alias, target in _ALIASES.items():
        if target in table:
            table[alias] = table[target]
    return table


_TABLE = _table()


def loss_classes() -> dict[str, type[FunctionLoss]]:
    """Every loss class of :data:`FAMILIES` (each a :class:`FunctionLoss`), by name, in family
    order (what the Keras and torch adapters wrap)."""
    return {
        name: obj
        for module in FAMILIES
        for name in module.__all__
        if isinstance(obj := getattr(module, name), type) and issubclass(obj, FunctionLoss)
    }


def register(*objs: Any) -> None:
    """Make your own losses known to :func:`get`, :func:`serialize` and :func:`deserialize`.

    Each object is a loss function made with :func:`unilosses.loss` or a
    :class:`Loss` subclass, registered under its ``__name__``. Registering the same
    object again is a no-op; another object under a name already taken (a
    built-in's, or another of yours) is a ValueError. Registration is not needed
    to call, wrap (``unilosses.keras.wrap``, ``unilosses.torch.module``) or check a loss.
    """
    for obj in objs:
        is_class = isinstance(obj, type) and issubclass(obj, Loss)
        if not is_class and not is_loss_function(obj):
            raise TypeError(f"register: expected a Loss subclass or a function made with @unilosses.loss, got {obj!r}")
        name = obj.__name__
        if _TABLE.get(name, obj) is not obj:
            raise ValueError(f"register: the name {name!r} is taken by {_TABLE[name]!r}")
        _TABLE[name] = obj


def get(identifier: Any) -> Any:
    """The loss function or object named by ``identifier``.

    A string names a function (``"sparse_categorical_crossentropy"``, ``"bce"``)
    or a class (``"BinaryCrossentropy"``, returned as a default instance); a dict
    ``{"class_name": ..., "config": {...}}`` is deserialized; a callable is
    returned as is.
    """
    if identifier is None or callable(identifier) and not isinstance(identifier, type):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        obj = _TABLE.get(identifier)
        if obj is None:
            close = difflib.get_close_matches(identifier, list(_TABLE), n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(f"identifier: unknown loss {identifier!r}{hint}")
        return obj() if isinstance(obj, type) else obj
    # a ValueError, as Keras' losses.get raises for an identifier it cannot interpret
    raise ValueError(f"identifier: expected a name, a config dict or a callable, got {identifier!r}")


def serialize(obj: Any) -> Any:
    """A Loss object as ``{"class_name", "config"}``; a loss function as its name."""
    if isinstance(obj, Loss):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    name = getattr(obj, "__name__", None)
    if name in _TABLE and _TABLE[name] is obj:
        return name
    raise ValueError(f"obj: expected a unilosses loss function or Loss object, got {obj!r}")


def deserialize(config: Any) -> Any:
    """Inverse of :func:`serialize`."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"config: expected a name or a dict with 'class_name', got {config!r}")
    cls = _TABLE.get(config["class_name"])
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        return get(config["class_name"])  # raises with a suggestion
    return cls.from_config(config.get("config", {}))
