"""tf-keras' loss API (Keras 2, ``import tf_keras``), translated to unilosses.

tf-keras' own tests (vendored under ``peers/vendored/tf_keras/``) import ``losses``
(``tf_keras.losses``) and ``losses_utils`` (``tf_keras.utils.losses_utils``); the runner
rewrites those two imports to this module.

- A tf-keras class ``losses.X(...)`` becomes ``unilosses.X(...)``: the framework-neutral
  object, which tf-keras users put in ``model.compile`` as it is (called by tf-keras'
  ``LossFunctionWrapper``, it hands the wrapper per-sample values:
  :mod:`unilosses.wrapper_call`), its options renamed as the README maps them
  (``ignore_class`` -> ``ignore_index``). tf-keras' reduction names (``"auto"``, ``"none"``,
  ``"sum"``, ``"sum_over_batch_size"``) are unilosses' too.
- A tf-keras function ``losses.x(y_true, y_pred, ...)`` (and its aliases ``mse``, ``bce``,
  ``kld``...) becomes the unilosses function of the same name, options renamed; each name
  gives the same translation every time, as tf-keras' module gives the same function.
- ``losses.get`` / ``serialize`` / ``deserialize`` are unilosses' registry
  (``unilosses.get("bce")``...): a loss function that unilosses answers with is handed back
  as this module's translation of that name, so ``losses.get("bce") ==
  losses.binary_crossentropy`` holds as ``unilosses.get("bce") ==
  unilosses.binary_crossentropy`` does.
- ``losses.Loss`` is ``unilosses.Loss``, whose subclasses may override ``call(y_true, y_pred)``
  (with a unilosses that lacks it, tf-keras' own, and the tests that use it are missing).
- ``losses_utils.ReductionV2`` is ``unilosses.Reduction`` (``AUTO``, ``NONE``, ``SUM``,
  ``SUM_OVER_BATCH_SIZE``); tf-keras' other utilities (``remove_squeezable_dimensions``...)
  and its ``LossFunctionWrapper`` (a wrapper of any function, which unilosses does not
  offer) are tf-keras' own, and the tests that use them are missing.

Anything unilosses lacks (a loss, an option) falls back to tf-keras' own object and the
test is reported as missing (:mod:`peers.fallback`).
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import tf_keras.src.losses as _tf_keras_losses
from tf_keras.src.utils import losses_utils as _tf_keras_losses_utils

from peers.fallback import (
    Untranslatable,
    class_translation,
    framework,
    function_translation,
    lookup,
    loss_base,
    translation,
)

#: tf-keras option name -> unilosses option name (the README's mapping table)
RENAME = {"ignore_class": "ignore_index"}
#: tf-keras name -> the unilosses spellings to look for, where they are not its own name
NAMES: dict[str, tuple[str, ...]] = {"huber_loss": ("huber",)}
#: options whose values unilosses may lack (tf-keras' per-class ``alpha`` lists): missing, not failed
BY_VALUE = ("alpha",)
#: tf-keras' registry functions, answered by unilosses' registry
REGISTRY = ("get", "serialize", "deserialize")
#: tf-keras classes with no unilosses counterpart: tf-keras' own, recorded as a fallback
OWN_CLASSES = {"LossFunctionWrapper": "a wrapper of any function, which unilosses does not offer"}


def _spellings(name: str, real: Any) -> tuple[str, ...]:
    """The unilosses names for tf-keras' ``name`` (an alias such as ``mse`` also by the name of
    the function it is, ``mean_squared_error``)."""
    own = getattr(real, "__name__", name)
    return tuple(dict.fromkeys((name, own, *NAMES.get(name, ()), *NAMES.get(own, ()))))


def _is_loss_function(real: Any) -> bool:
    if not inspect.isfunction(real):
        return False
    return list(inspect.signature(real).parameters)[:2] == ["y_true", "y_pred"]


class _Losses(types.ModuleType):
    """``tf_keras.losses``: each loss class and function, translated (each name once: a
    translation is kept in the module's namespace after its first use)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        real = getattr(_tf_keras_losses, name)
        what = f"tf_keras.losses.{name}"
        if name in REGISTRY:
            obj = _registry(name, real)
        elif name in OWN_CLASSES:
            obj = framework(real, f"{what}: {OWN_CLASSES[name]}")
        elif name == "Loss":
            obj = loss_base(real, f"{what}: unilosses.Loss takes no call() override")
        elif isinstance(real, type) and issubclass(real, _tf_keras_losses.Loss):
            obj = class_translation(real, what, NAMES.get(name, name), RENAME, "unilosses", BY_VALUE)
        elif _is_loss_function(real):
            obj = function_translation(real, what, _spellings(name, real), RENAME)
            obj.tf_keras_name = name  # type: ignore[attr-defined]
        elif callable(real) and not isinstance(real, type):
            obj = framework(real, f"{what}: a tf-keras helper unilosses does not offer")
        else:
            return real
        self.__dict__[name] = obj
        return obj


def _to_unilosses(obj: Any) -> Any:
    """A translated tf-keras loss function as the unilosses function it calls; anything else as is."""
    name = getattr(obj, "tf_keras_name", None)
    if name is not None and losses.__dict__.get(name) is obj:
        import unilosses

        return lookup(unilosses, _spellings(name, getattr(_tf_keras_losses, name)), "unilosses.")
    return obj


def _from_unilosses(obj: Any) -> Any:
    """A unilosses loss function as this module's translation of tf-keras' function of that name."""
    import unilosses

    name = getattr(obj, "__name__", None)
    if inspect.isfunction(obj) and getattr(unilosses, name or "", None) is obj:
        if _is_loss_function(getattr(_tf_keras_losses, name or "", None)):
            return getattr(losses, name or "")
    return obj


def _registry(name: str, real: Any) -> Any:
    """``losses.get`` / ``serialize`` / ``deserialize``: unilosses' registry, with tf-keras' signature;
    an option it lacks (``custom_objects``, ``use_legacy_format``) runs tf-keras' own."""

    def given(options: dict[str, Any]) -> None:
        extra = [k for k, v in options.items() if v not in (None, False)]
        if extra:
            raise Untranslatable(f"unilosses.{name} has no option {', '.join(extra)}")

    if name == "get":

        @translation(real, "tf_keras.losses.get")
        def get(identifier: Any) -> Any:
            import unilosses

            return _from_unilosses(unilosses.get(_to_unilosses(identifier)))

        return get
    if name == "serialize":

        @translation(real, "tf_keras.losses.serialize")
        def serialize(loss: Any, use_legacy_format: bool = False) -> Any:
            import unilosses

            given({"use_legacy_format": use_legacy_format})
            return unilosses.serialize(_to_unilosses(loss))

        return serialize

    @translation(real, "tf_keras.losses.deserialize")
    def deserialize(name: Any, custom_objects: Any = None, use_legacy_format: bool = False) -> Any:
        import unilosses

        given({"custom_objects": custom_objects, "use_legacy_format": use_legacy_format})
        return _from_unilosses(unilosses.deserialize(name))

    return deserialize


class _LossesUtils(types.ModuleType):
    """``tf_keras.utils.losses_utils``: ``ReductionV2`` is ``unilosses.Reduction``; tf-keras'
    utilities are its own, recorded as a fallback."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "ReductionV2":
            import unilosses

            return unilosses.Reduction
        real = getattr(_tf_keras_losses_utils, name)
        if callable(real) and not isinstance(real, type):
            return framework(real, f"tf_keras.utils.losses_utils.{name}: a tf-keras utility unilosses does not offer")
        return real


losses = _Losses("losses")
losses_utils = _LossesUtils("losses_utils")
