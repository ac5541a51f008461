"""Keras' loss API, translated to unilosses (what Keras' own loss tests import).

``keras/src/losses/losses_test.py`` imports ``losses`` (``keras.src.losses.losses``) and
``loss_test.py`` imports ``losses_module`` (``keras.src.losses``), ``Loss`` and
``squeeze_or_expand_to_same_rank``; the runner rewrites those imports to this module.

- A Keras class ``losses.X(...)`` becomes ``unilosses.keras.X(...)`` (the registered
  ``keras.losses.Loss`` twin: the same name, Keras' ``reduction``, ``name`` and ``dtype``),
  its options renamed as the README maps them (``ignore_class`` -> ``ignore_index``).
- A Keras function ``losses.x(y_true, y_pred, ...)`` becomes ``unilosses.x(y_true, y_pred, ...)``.
- ``losses_module.get`` / ``losses_module.x`` are ``unilosses.get`` / ``unilosses.x``.
- ``Loss`` is ``unilosses.Loss``, whose subclasses may override ``call(y_true, y_pred)`` (the
  Keras-style base, :mod:`unilosses.base`); with a unilosses that lacks it, Keras' own,
  and the tests that use it are missing.
- ``squeeze_or_expand_to_same_rank`` is Keras' own (a utility unilosses does not offer): its
  test, ``LossTest::test_squeeze_or_expand``, is missing.

Anything unilosses lacks (a loss, an option) falls back to Keras' own object and the test
is reported as missing (:mod:`peers.fallback`).
"""

from __future__ import annotations

import types
from typing import Any

import keras
import keras.src.losses as _keras_module
from keras.src.losses import loss as _keras_loss
from keras.src.losses import losses as _keras_losses

from peers.fallback import class_translation, framework, function_translation, loss_base

#: Keras option name -> unilosses option name (the README's mapping table)
RENAME = {"ignore_class": "ignore_index"}
#: Keras name -> the unilosses spellings to look for, where they are not the same name
NAMES: dict[str, tuple[str, ...]] = {
    "CTC": ("CTC", "Ctc"),
}


def _class(name: str, real: type) -> Any:
    """``losses.<name>``: the unilosses.keras class with the arguments Keras' got, renamed."""
    return class_translation(real, f"keras.losses.{name}", NAMES.get(name, name), RENAME)


def _function(name: str, real: Any) -> Any:
    """``losses.<name>(y_true, y_pred, ...)``: the unilosses function, options renamed."""
    return function_translation(real, f"keras.losses.{name}", NAMES.get(name, name), RENAME)


class _Losses(types.ModuleType):
    """``keras.src.losses.losses``: each loss class and function, translated.

    A new function object per access, as in :mod:`peers.optax_shim` (a jitted trace of a
    shared object would record its fallback only once).
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        real = getattr(_keras_losses, name)
        if isinstance(real, type) and issubclass(real, keras.losses.Loss):
            return _class(name, real)
        if callable(real):
            return _function(name, real)
        return real


class _LossesModule(types.ModuleType):
    """``keras.src.losses``: names resolve to the unilosses object of the same name
    (``get``, ``mean_squared_error``), else to Keras' own, recorded as a fallback."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        import unilosses

        obj = getattr(unilosses, name, None)
        if obj is None:
            return framework(getattr(_keras_module, name), f"keras.losses.{name}: no unilosses.{name}")
        return obj


losses = _Losses("losses")
losses_module = _LossesModule("losses_module")
Loss = loss_base(_keras_loss.Loss, "keras.losses.Loss: unilosses.Loss takes no call() override")
squeeze_or_expand_to_same_rank = framework(
    _keras_loss.squeeze_or_expand_to_same_rank,
    "keras.losses.loss.squeeze_or_expand_to_same_rank: a Keras utility unilosses does not offer",
)
