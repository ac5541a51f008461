"""The Keras-style loss classes: :class:`Loss` (override ``call``) and :class:`FunctionLoss`.

Keras' split, two classes and no mode flag:

- :class:`Loss`, the base: a subclass overrides ``call(y_true, y_pred)`` and
  ``__call__`` does what ``keras.losses.Loss.__call__`` does (masks, dtype, sample
  weights, the reduction);
- :class:`FunctionLoss`, the form backed by a public loss function (Keras'
  ``LossFunctionWrapper``): a subclass sets ``function``; the constructor takes
  that function's options, validated once. Every catalogue class is one. Adapters
  read its :attr:`FunctionLoss.spec` and :attr:`FunctionLoss.options`.

Code written for ``keras.losses.Loss`` ports by changing its import::

    import unilosses as ul

    class MeanSquaredError(ul.Loss):          # was: keras.losses.Loss
        def call(self, y_true, y_pred):
            xp = ul.namespace(y_pred)           # was: keras.ops
            return xp.mean((y_pred - y_true) ** 2, axis=-1)

``call`` runs on the arrays the caller passes (NumPy, JAX, PyTorch, TensorFlow,
any Array API library: y_pred decides, as for every unilosses loss), not on
Keras tensors. ``__call__(y_true, y_pred, sample_weight=None)`` does what
Keras' does:

1. takes the Keras mask of ``y_pred`` (``keras.backend.get_keras_mask``, when
   Keras is imported; else the ``_keras_mask`` attribute);
2. converts ``y_pred`` and ``y_true`` (integer labels too) to the loss's ``dtype``
   in y_pred's framework and device: ``keras.backend.floatx()`` (float32) unless
   the constructor's ``dtype`` says otherwise (a name or a ``keras.DTypePolicy``,
   whose ``compute_dtype`` counts); ``dtype="input"`` keeps the input's dtype
   (16-bit floats computed in float32, as the function losses do);
3. calls ``call``, merges the mask of its result (``&``) with the input mask;
4. reduces with :func:`unilosses.reduction.reduce`: masked entries give 0 and
   leave every denominator (Keras' ``sum / number of kept entries``), sample
   weights multiply, ``reduction`` is any unilosses reduction (Keras' names, and
   ``"sum_by_nonzero_weights"`` and ``"stats"``).

Differences from ``keras.losses.Loss``, each deliberate: the result is an array
of y_pred's framework (Keras returns a tensor of its backend); a sample weight
of lower rank than the values is aligned on the leading axes (Keras broadcasts
it against the trailing ones unless the ranks differ by one trailing 1); ``y_true``
and ``y_pred`` are single arrays, not nested structures; the constructor takes
keyword arguments only. As in Keras 3, a mean under ``tf.distribute`` is each
replica's mean divided by the number of replicas (:func:`unilosses.reduction.per_replica`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
import types
from typing import Any, ClassVar

import numpy as np

from unilosses.backends import BACKENDS, Slots, backend_of_type, convert, resolve
from unilosses.decorator import LossFunction, not_for_autograph
from unilosses.reduction import PER_SAMPLE, align_weight, canonical_reduction, per_replica, reduce
from unilosses.spec import PAIR, Spec
from unilosses.wrapper_call import KERAS_REDUCTIONS, keras_wrapper, set_mask

__all__ = ["INPUT", "FunctionLoss", "Loss", "is_loss_function", "keras_mask"]

_FLOATS = ("float16", "bfloat16", "float32", "float64")
#: the ``dtype`` that keeps the input's dtype (16-bit floats in float32)
INPUT = "input"


def _floatx() -> str:
    keras = sys.modules.get("keras")
    return keras.backend.floatx() if keras is not None else "float32"


def _dtype_name(dtype: Any) -> str:
    """A floating dtype's name from a name, a ``keras.DTypePolicy`` or a framework dtype."""
    if dtype is None:
        return _floatx()
    if hasattr(dtype, "compute_dtype"):  # keras.DTypePolicy
        return _dtype_name(dtype.compute_dtype)
    if isinstance(dtype, str):
        name = dtype.removeprefix("mixed_")  # Keras' "mixed_float16": computes in float16
    elif isinstance(getattr(dtype, "name", None), str):  # NumPy, ml_dtypes, TensorFlow dtypes
        name = dtype.name
    else:  # torch.float16
        name = str(dtype).rpartition(".")[2]
    if name == INPUT or name in _FLOATS:
        return name
    raise ValueError(f"dtype: expected a floating dtype ({', '.join(_FLOATS)}), a keras.DTypePolicy or {INPUT!r}, got {dtype!r}")


def _framework_dtype(be: Any, name: str) -> Any:
    if be.name in ("numpy", "dask"):  # NumPy dtypes (array-api-compat's Dask namespace lacks float16)
        if name == "bfloat16":
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        return np.dtype(name)
    dtype = getattr(be.xp, name, None)
    if dtype is None:
        dtype = getattr(importlib.import_module(be.name), name, None)
    if dtype is None:
        raise TypeError(f"dtype: {be.name} has no {name}")
    return dtype


def keras_mask(x: Any) -> Any:
    """The Keras mask attached to ``x``, or None (no Keras import)."""
    if "keras" in sys.modules:
        try:
            from keras.src.backend import get_keras_mask
        except ImportError:  # pragma: no cover - other Keras versions
            pass
        else:
            return get_keras_mask(x)
    return getattr(x, "_keras_mask", None)


def _compute_dtype(loss: Any, be: Any, dtype: Any) -> Any:
    """The dtype ``loss`` computes in for inputs of ``dtype``: cached per (backend, dtype) in a
    :class:`unilosses.backends.Slots` (no guard under ``torch.compile``)."""
    slot = loss._dtypes.slot(be.name, dtype, be)
    return getattr(loss._dtypes, slot) if slot else _dtype_for(loss._dtype_name, be.name, dtype, be)


def _dtype_for(dtype_name: str, name: str, dtype: Any, be: Any) -> Any:
    return be.compute_dtype(dtype) if dtype_name == INPUT else _framework_dtype(be, dtype_name)


def _converted(loss: Any, y_true: Any, y_pred: Any) -> tuple[Any, Any, Any, Any]:
    """``(be, dtype, y_true, y_pred)``: the inputs in the loss's dtype, in y_pred's framework."""
    name = backend_of_type(type(y_pred))
    if name is not None:
        be = BACKENDS[name]
    else:  # Python / NumPy values, variables: as the function losses take them
        y_pred, be = resolve(y_pred)
    dtype = _compute_dtype(loss, be, y_pred.dtype)
    if y_pred.dtype != dtype:
        y_pred = be.xp.astype(y_pred, dtype)
    return be, dtype, convert(be, y_true, y_pred, "y_true", dtype), y_pred


def _apply(loss: Any, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
    """``Loss.__call__``: Keras' steps (see :class:`Loss`)."""
    in_mask = keras_mask(y_pred)
    be, dtype, y_true, y_pred = _converted(loss, y_true, y_pred)
    values = loss.call(y_true, y_pred)
    out_mask = keras_mask(values)
    values = convert(be, values, y_pred, f"{type(loss).__name__}.call's result", dtype)
    masks = [convert(be, m, y_pred, "mask") for m in (in_mask, out_mask) if m is not None]
    valid = None
    if masks:
        xp = be.xp
        valid = masks[0] if len(masks) == 1 else xp.logical_and(masks[0], masks[1])
        valid = align_weight(be, valid, values.shape, "mask")
        if not xp.isdtype(valid.dtype, "bool"):
            valid = xp.not_equal(valid, 0)
        if tuple(valid.shape) != tuple(values.shape):
            valid = xp.broadcast_to(valid, values.shape)
    if sample_weight is not None:
        sample_weight = convert(be, sample_weight, y_pred, "sample_weight", dtype)
    out = reduce(be, values, sample_weight, loss.reduction, valid=valid)
    return per_replica(be, out, loss.reduction) if be.replicated else out


def _for_keras_wrapper(loss: Any, caller: tuple[Any, str], y_true: Any, y_pred: Any) -> Any:
    """The per-sample values Keras' ``LossFunctionWrapper`` expects from the object it wraps
    (``model.compile(loss=obj)``), with the object's reduction handed to the wrapper; see
    :mod:`unilosses.wrapper_call`."""
    wrapper, flavour = caller
    reduction = loss.reduction
    cls = type(loss).__name__
    use = (
        f"put unilosses.keras.{cls}(...) in compile instead (import unilosses.keras; its classes are "
        "Keras losses that weight and reduce as unilosses does)"
    )
    if reduction not in KERAS_REDUCTIONS[flavour]:
        raise TypeError(
            f"{cls}(reduction={reduction!r}) in model.compile: Keras wraps a plain callable and reduces "
            f"its per-sample values with its own reductions ({', '.join(KERAS_REDUCTIONS[flavour])}); {use}"
        )
    if isinstance(loss, FunctionLoss):
        spec = loss._spec
        if spec.inputs != PAIR:
            raise TypeError(f"{cls} in model.compile: Keras passes (y_true, y_pred), {cls} takes "
                            f"({', '.join(spec.inputs)}); {use}")
        out = spec.call(loss._key, loss._arrays, (y_true, y_pred), None, PER_SAMPLE, None)
        if out.weight is not None and reduction == "mean_with_sample_weight":
            raise TypeError(
                f"{cls}(reduction='mean_with_sample_weight') with class weights in model.compile: Keras' "
                f"wrapper would divide by the sample weights without the class weights; {use}"
            )
        values = out.values if out.valid is None else set_mask(out.values, out.valid, flavour)
    else:
        _, _, y_true, y_pred = _converted(loss, y_true, y_pred)
        values = loss.call(y_true, y_pred)  # a Keras mask it attaches is the wrapper's to apply
    if canonical_reduction(wrapper.reduction) != reduction:
        wrapper.reduction = reduction  # Keras reads it after call(): the object's reduction applies
    return values


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _host_list(value: Any) -> Any:
    """An array option (of any framework) as nested Python lists, as Keras configs hold them."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value).tolist()


class _SpecView:
    """``FunctionLoss.spec``: the loss function's :class:`unilosses.spec.Spec` (read-only: its
    inputs, options and their defaults), on the class and on its instances alike."""

    def __get__(self, obj: Any, cls: Any) -> Spec:
        return cls.function.spec  # type: ignore[no-any-return]


def is_loss_function(obj: Any) -> bool:
    """True for a public loss function (made with :func:`unilosses.loss`), not a class."""
    return callable(obj) and not isinstance(obj, type) and isinstance(getattr(obj, "spec", None), Spec)


class Loss:
    """Base class of the Keras-style losses: a subclass overrides ``call(y_true, y_pred)``.

    As with ``keras.losses.Loss``, ``call`` returns per-sample values, written over
    ``unilosses.namespace(y_pred)`` or with operators; the constructor takes ``name``,
    ``reduction`` and ``dtype`` (keyword arguments), and ``__call__(y_true, y_pred,
    sample_weight=None)`` converts the inputs, applies Keras masks, sample weights and
    the reduction as Keras does (see the module doc). A loss backed by a loss function
    subclasses :class:`FunctionLoss` instead. In ``model.compile(loss=obj)``, where Keras
    wraps the object and weights its result itself, the object returns per-sample values
    and hands its reduction to Keras' wrapper (:mod:`unilosses.wrapper_call`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "function" in cls.__dict__ and not issubclass(cls, FunctionLoss):
            raise TypeError(
                f"{cls.__name__}: a loss backed by a loss function subclasses unilosses.FunctionLoss "
                "and sets `function`; a unilosses.Loss subclass overrides call()"
            )

    def __init__(self, *, name: str | None = None, reduction: Any = "sum_over_batch_size", dtype: Any = None,
                 **unexpected: Any) -> None:
        if unexpected:
            raise TypeError(
                f"{type(self).__name__}: unexpected argument(s) {sorted(unexpected)}; "
                "a subclass that overrides call() takes name, reduction and dtype (add your own "
                "options to its __init__)"
            )
        try:
            self.reduction = reduction  # the property validates it
        except ValueError as e:  # Keras' wording first (its tests match it), then ours
            raise ValueError(f"Invalid value for argument `reduction`. {e}") from None
        self.name = name if name is not None else _snake(type(self).__name__)
        self._dtype_arg = dtype
        self._set_dtype(_dtype_name(dtype))

    @property
    def reduction(self) -> str:
        """The reduction's canonical name; validated when set (a ValueError listing the valid ones)."""
        return self._reduction

    @reduction.setter
    def reduction(self, value: Any) -> None:
        self._reduction = canonical_reduction(value)

    def _set_dtype(self, name: str) -> None:
        self._dtype_name = name
        self._dtype = None if name == INPUT else name
        self._dtypes = Slots(functools.partial(_dtype_for, name))

    def follow_input_dtype(self) -> None:
        """Compute in the inputs' dtype from now on, as ``dtype="input"`` does (16-bit floats
        in float32): the conformance kit's finite differences need float64."""
        self._set_dtype(INPUT)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        if sample_weight is None and (caller := keras_wrapper(self)) is not None:
            return _for_keras_wrapper(self, caller, y_true, y_pred)
        return _apply(self, y_true, y_pred, sample_weight)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The per-sample values (``keras.losses.Loss.call``): subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__}: override call(self, y_true, y_pred)")

    @property
    def dtype(self) -> Any:
        """The dtype inputs are converted to (read-only), or None: the loss computes in its
        input's dtype, 16-bit floats in float32."""
        return self._dtype

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as Keras does."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, reduction={self.reduction!r})"


class FunctionLoss(Loss):
    """A loss object backed by a public loss function (Keras' ``LossFunctionWrapper``).

    A subclass sets ``function`` to a function made with :func:`unilosses.loss`; the
    constructor takes that function's options plus ``reduction`` and ``name``, validates
    them once, and ``__call__(y_true, y_pred, sample_weight=None)`` applies the loss with
    ``reduction`` (``"sum_over_batch_size"`` by default, as Keras). A function with other
    inputs than ``(y_true, y_pred)`` is called with those inputs, positionally or by
    name, then the sample weight. Computes in the inputs' dtype (16-bit in float32).
    """

    function: ClassVar[LossFunction]
    #: the name an object gets when the constructor is given none: the function's name
    #: (Keras' default names), unless a class sets its own (Keras' ``Huber``: ``"huber_loss"``)
    default_name: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.call is not FunctionLoss.call:
            raise TypeError(f"{cls.__name__}: set `function` (a FunctionLoss) or override `call()` (a Loss), not both")
        if not hasattr(cls, "function"):  # an intermediate base class
            return
        spec = cls.function.spec  # type: ignore[attr-defined]
        if spec.inputs != PAIR and "__call__" not in cls.__dict__:
            cls.__call__ = _call_inputs  # type: ignore[method-assign]
        params = [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
            for n, d in spec.options.items()
        ]
        params += [
            inspect.Parameter("reduction", inspect.Parameter.KEYWORD_ONLY, default="sum_over_batch_size"),
            inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None),
        ]
        cls.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]

    def __init__(self, *, reduction: Any = "sum_over_batch_size", name: str | None = None, **options: Any) -> None:
        spec = type(self).function.spec  # type: ignore[attr-defined]
        self._spec: Spec = spec
        self.reduction = reduction  # the property validates it
        self.name = name if name is not None else (type(self).default_name or type(self).function.__name__)
        self._key, self._arrays = spec.validate(options)
        self._options = types.MappingProxyType({**dict(zip(spec.static, self._key)), **self._arrays})

    spec = _SpecView()

    @property
    def options(self) -> types.MappingProxyType[str, Any]:
        """The validated options, by name (read-only; array options as given). Each is also an
        attribute (``loss.gamma``), as on Keras' objects; setting one validates it."""
        return self._options

    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("_options")
        if options is not None and name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        options = self.__dict__.get("_options")
        if options is None or name not in options:
            object.__setattr__(self, name, value)
            return
        given = {**options, name: value}
        self._key, self._arrays = self._spec.validate(given)  # a ValueError / TypeError naming the option
        self._options = types.MappingProxyType({**dict(zip(self._spec.static, self._key)), **self._arrays})

    @property
    def dtype(self) -> Any:
        """None: the loss computes in its inputs' dtype (16-bit floats in float32)."""
        return None

    def follow_input_dtype(self) -> None:
        """A function loss always computes in its inputs' dtype."""

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        if sample_weight is None and (caller := keras_wrapper(self)) is not None:
            return _for_keras_wrapper(self, caller, y_true, y_pred)
        return self._spec.call(self._key, self._arrays, (y_true, y_pred), sample_weight, self.reduction, None)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The per-sample values (``reduction="none"``, no sample weights), as
        ``keras.losses.Loss.call``."""
        if self._spec.inputs != PAIR:
            raise TypeError(
                f"{type(self).__name__}.call takes (y_true, y_pred); call the loss with reduction='none'"
            )
        return self._spec.call(self._key, self._arrays, (y_true, y_pred), None, "none", None)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (arrays as nested lists), as Keras does."""
        config: dict[str, Any] = {"name": self.name, "reduction": self.reduction}
        for n, v in self._options.items():
            config[n] = _host_list(v) if n in self._arrays and v is not None else v
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**{k: v for k, v in config.items() if k != "dtype"})

    def __repr__(self) -> str:
        opts = ", ".join(
            f"{n}={v!r}"
            for n, v in self.get_config().items()
            if n not in ("name", "reduction") and v is not None and v != self._spec.options[n]
        )
        return f"{type(self).__name__}({opts + ', ' if opts else ''}reduction={self.reduction!r})"


def _call_inputs(self: FunctionLoss, *inputs: Any, sample_weight: Any = None, **named: Any) -> Any:
    """``__call__`` of a FunctionLoss whose function takes other inputs than (y_true, y_pred):
    the inputs in order (by name too), then Keras' positional ``sample_weight``."""
    spec = self._spec
    if sample_weight is None and len(inputs) == 2 and (caller := keras_wrapper(self)) is not None:
        return _for_keras_wrapper(self, caller, *inputs)
    if sample_weight is None and len(inputs) == len(spec.inputs) + 1:
        *rest, sample_weight = inputs
        inputs = tuple(rest)
    args = spec.bind(inputs, named)
    if named:
        raise TypeError(f"{type(self).__name__}: unexpected argument(s) {sorted(named)}")
    return spec.call(self._key, self._arrays, args, sample_weight, self.reduction, None)


not_for_autograph(Loss.__call__)
not_for_autograph(FunctionLoss.__call__)
not_for_autograph(_call_inputs)
# AutoGraph converts a callable object through its class' __call__ unless the object itself is
# marked (tf-keras' LossFunctionWrapper passes the object to tf_convert): instances inherit this
not_for_autograph(Loss)
