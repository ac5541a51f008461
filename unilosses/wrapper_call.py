"""A unilosses loss object called by Keras' wrapper of a plain callable.

``model.compile(loss=obj)`` with an object that is not a ``keras.losses.Loss`` makes
Keras wrap it in ``keras.losses.LossFunctionWrapper`` (tf-keras likewise), whose
``call`` expects **per-sample values**: Keras then applies the sample weights, the
masks and the wrapper's reduction itself. A unilosses object that reduced its values
first would be weighted a second time (a silent wrong number), so when the caller is
such a wrapper around this very object, the object returns per-sample values and
hands its reduction to the wrapper:

- the values carry the loss's own validity (ignored labels, rows without positives)
  as a Keras mask, so Keras' means leave them out as unilosses' do;
- the wrapper's ``reduction`` becomes the object's (Keras reads it after ``call``);
- a reduction Keras does not have, or a class-weighted ``"mean_with_sample_weight"``
  (Keras' denominator would leave the class weights out), raises a TypeError that
  names ``unilosses.keras``, whose classes compute the loss and its reduction in one.

Finding the caller costs a dictionary lookup when Keras is not imported, and a walk of
a few frames when it is. Under ``torch.compile`` (which cannot trace frames) it is not
done: with Keras' torch backend and ``jit_compile=True``, put a ``unilosses.keras`` loss
in ``compile``.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["KERAS_REDUCTIONS", "keras_wrapper", "set_mask"]

#: the reductions each Keras' wrapper applies itself (unilosses' canonical names)
KERAS_REDUCTIONS = {
    "keras": ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight"),
    "tf_keras": ("none", "sum", "sum_over_batch_size"),
}
#: frames between the wrapper's ``call`` and the loss object's ``__call__`` (tf-keras goes
#: through AutoGraph's ``tf_convert`` / ``converted_call``)
_DEPTH = 8


def keras_wrapper(obj: Any) -> tuple[Any, str] | None:
    """``(wrapper, "keras" | "tf_keras")`` when a Keras ``LossFunctionWrapper`` whose
    ``fn`` is ``obj`` is calling it, else None."""
    modules = sys.modules
    if "keras" not in modules and "tf_keras" not in modules:
        return None
    torch = modules.get("torch")
    if torch is not None and torch.compiler.is_compiling():
        # TorchDynamo cannot trace frame objects: under torch.compile the object is not looked
        # up as Keras' callee (Keras' torch backend with jit_compile=True: use unilosses.keras)
        return None
    frame: Any = sys._getframe(2)  # the caller of obj.__call__
    for _ in range(_DEPTH):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_name == "call" and "keras" in code.co_filename:
            wrapper = frame.f_locals.get("self")
            if getattr(wrapper, "fn", None) is obj:
                module = type(wrapper).__module__
                return wrapper, "tf_keras" if module.startswith("tf_keras") else "keras"
        frame = frame.f_back
    return None


def set_mask(values: Any, valid: Any, flavour: str) -> Any:
    """Attach ``valid`` to ``values`` as the Keras mask the wrapper reads."""
    if flavour == "keras":
        from keras.src.backend.common.masking import set_keras_mask

        set_keras_mask(values, valid)
    else:
        values._keras_mask = valid
    return values
