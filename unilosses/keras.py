"""Every unilosses loss as a ``keras.losses.Loss``, for ``model.compile`` and ``.keras`` files.

Importing this module imports Keras (with the backend ``KERAS_BACKEND`` selects:
JAX, PyTorch or TensorFlow) and registers one ``keras.losses.Loss`` subclass per
unilosses Loss class, under the same name, with
``keras.saving.register_keras_serializable(package="unilosses")``::

    import unilosses.keras

    model.compile(optimizer="adam",
                  loss=unilosses.keras.SparseCategoricalCrossentropy(from_logits=True))
    model.save("model.keras")
    keras.saving.load_model("model.keras")  # no custom_objects: the import registered them

The classes are built from the registry (the ``Loss`` classes each family module
of :data:`unilosses.FAMILIES` lists in ``__all__``), so every loss is covered.

Division of labour with Keras
-----------------------------
Keras' side: ``y_pred`` is converted to the loss's ``dtype`` (``keras.backend.floatx()``
by default; floating / boolean ``y_true`` too, integer labels stay integers), a
Keras mask on ``y_pred`` is merged into the sample weights exactly as
``keras.losses.Loss`` does. unilosses' side: the loss and its reduction (under
``tf.distribute``, a mean divided by the number of replicas, as Keras divides). The reduction is
unilosses' own because Keras' cannot see what a loss knows per sample: with
``class_weight``, ``"mean_with_sample_weight"`` divides by the sum of the
samples' class weights (torch's ``"mean"``), and labels equal to
``ignore_index`` leave every denominator. Where a loss has neither, the
reductions Keras knows (``"sum"``, ``"sum_over_batch_size"`` / ``"mean"``,
``"mean_with_sample_weight"``, ``"none"`` / ``None``) give what Keras gives;
``"sum_by_nonzero_weights"`` is accepted too. ``"stats"`` is not: it returns
a :class:`unilosses.LossStats`, which is no Keras loss value (call the unilosses
function for it). ``call(y_true, y_pred)`` returns the per-sample values
(``reduction="none"``), as a Keras subclass does.

Losses with other inputs than ``(y_true, y_pred)``
--------------------------------------------------
Pair and triplet losses (``margin_ranking(x1, x2, target)``,
``triplet_margin(anchor, positive, negative)``) take their inputs from ``y_pred``,
either as a list / tuple in the function's order, or as one tensor stacked along
axis 1 (the axis after the batch axis: shape ``(N, 2)`` for two ``(N,)`` inputs,
``(N, 3, D)`` for three ``(N, D)`` inputs); an input named ``target`` (or
``y_true``, ``labels``) comes from ``y_true``, which is ignored by losses that have none.
Optional inputs may be left out: ``CTC()(labels, logits)`` is ``keras.losses.CTC``
(every frame, labels padded with the blank); ``y_pred=[logits, label_lengths,
logit_lengths]`` gives the lengths.

Your own losses
---------------
:func:`wrap` gives the same for a loss you wrote: ``wrap(MyLoss)`` (a
:class:`unilosses.Loss` subclass, with ``function = my_spec_loss`` or a
Keras-style ``call()``) or ``wrap(my_loss)`` (a function made with
``@unilosses.loss``) returns a registered ``keras.losses.Loss`` class::

    FocalTversky = unilosses.keras.wrap(mylosses.FocalTversky)   # at import time of your module
    model.compile(loss=FocalTversky(alpha=0.7))
    model.save("m.keras"); keras.saving.load_model("m.keras")   # with your module imported

Plain unilosses functions can be passed to ``model.compile(loss=...)`` as well:
they return per-sample values, which Keras weights, masks and reduces (Keras wraps
them). So can :class:`unilosses.Loss` objects: called by Keras' wrapper, they return
per-sample values and hand their reduction to it (:mod:`unilosses.wrapper_call`), or
raise a TypeError naming this module's class where Keras cannot apply their reduction;
this module's classes also save into ``.keras`` files. Importing this module also
registers the functions and the unilosses Loss classes (the latter as
``"unilosses.core>Name"``), so a model compiled with them saves and loads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import keras
import numpy as np

import unilosses
from unilosses.keras_lm_head import FusedCausalLM, LMHeadLoss, fuse_lm_head

try:  # Keras keeps its mask getter private; the attribute is the fallback
    from keras.src.backend import get_keras_mask as _get_keras_mask
except ImportError:  # pragma: no cover - other Keras versions

    def _get_keras_mask(x: Any) -> Any:
        return getattr(x, "_keras_mask", None)


__all__ = ["FusedCausalLM", "LMHeadLoss", "Loss", "fuse_lm_head", "wrap"]

#: reductions Keras' own losses accept (None is "none")
_KERAS_REDUCTIONS = ("sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none", None)
#: input names that come from Keras' ``y_true`` for losses with other inputs
_TARGET_NAMES = ("target", "y_true", "labels")
_PAIR = ("y_true", "y_pred")


def _is_float(x: Any) -> bool:
    return keras.backend.is_float_dtype(keras.backend.standardize_dtype(x.dtype))


def _as_pred(x: Any, dtype: str) -> Any:
    """``x`` as a tensor of the Keras backend in the loss's dtype (Keras' conversion)."""
    return keras.ops.convert_to_tensor(x, dtype=dtype)


def _as_target(x: Any, dtype: str) -> Any:
    """Targets as tensors: floating and boolean ones in ``dtype``, integer labels unchanged."""
    x = keras.ops.convert_to_tensor(x)
    kind = keras.backend.standardize_dtype(x.dtype)
    if "int" in kind:
        return x
    return x if kind == dtype else keras.ops.cast(x, dtype)


def _host_array(value: Any) -> Any:
    """An array option (class weights...) as a NumPy array, kept for every call."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, int, float, np.ndarray, np.generic)):
        return np.asarray(value)
    return keras.ops.convert_to_numpy(value)


def _mask_weight(mask: Any, sample_weight: Any, reduction: str, dtype: str) -> Any:
    """A Keras mask merged into the sample weights, as ``keras.losses.Loss`` does.

    For ``"sum_over_batch_size"`` the kept entries weigh ``total / kept`` so the
    mean divides by the number of kept entries; otherwise the mask is 0 / 1.
    """
    mask = keras.ops.convert_to_tensor(mask)
    if reduction == "sum_over_batch_size":
        total = keras.ops.cast(keras.ops.size(mask), dtype)
        kept = keras.ops.sum(keras.ops.cast(mask, dtype))
        weight = keras.ops.where(keras.ops.cast(mask, "bool"), keras.ops.divide_no_nan(total, kept), 0.0)
        weight = keras.ops.cast(weight, dtype)
    else:
        weight = keras.ops.cast(mask, dtype)
    if sample_weight is None:
        return weight
    sample_weight = keras.ops.cast(keras.ops.convert_to_tensor(sample_weight), dtype)
    # a per-sample weight (N,) against a per-position mask (N, T): weight every position
    while len(sample_weight.shape) < len(weight.shape):
        sample_weight = keras.ops.expand_dims(sample_weight, -1)
    while len(weight.shape) < len(sample_weight.shape) and sample_weight.shape[-1] == 1:
        sample_weight = keras.ops.squeeze(sample_weight, -1)
    return sample_weight * weight


class _CoreConfig:
    """The config of a Keras loss holding a unilosses Loss object ``_core``."""

    _core: unilosses.Loss
    _dtype_arg: Any
    _dtype_policy: Any

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (array options as lists) and Keras' ``dtype``."""
        config = self._core.get_config()
        dtype = self._dtype_arg
        if dtype is not None and not isinstance(dtype, str):
            dtype = keras.dtype_policies.serialize(self._dtype_policy)
        config["dtype"] = dtype
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """The loss from :meth:`get_config`'s output."""
        return cls(**config)


class Loss(_CoreConfig, keras.losses.Loss):
    """Base class: a unilosses Loss class as a ``keras.losses.Loss``.

    Subclasses set ``unilosses_class``; this module builds one per unilosses Loss
    class. The constructor takes the unilosses class's options (validated by it,
    with the same messages), ``reduction``, ``name`` and Keras' ``dtype``.

    Parameters
    ----------
    reduction : str or None
        One of the unilosses reductions except ``"stats"`` (see the module doc);
        ``None`` is ``"none"``. Default ``"sum_over_batch_size"``.
    name : str, optional
        Defaults to the snake-case class name, e.g. ``"sparse_categorical_crossentropy"``.
    dtype : str or keras.DTypePolicy, optional
        The dtype inputs are converted to (Keras' ``dtype``); ``keras.backend.floatx()``
        by default.
    **options
        The loss's options; array options (``class_weight``...) may be lists.
    """

    unilosses_class: ClassVar[type[unilosses.FunctionLoss]]
    function: ClassVar[Callable[..., Any]]

    def __init__(
        self,
        *,
        reduction: Any = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **options: Any,
    ) -> None:
        core = self.unilosses_class(reduction="none" if reduction is None else reduction, name=name, **options)
        if core.reduction == "stats":
            raise ValueError(
                "reduction: 'stats' gives a unilosses.LossStats, which is no Keras loss value; "
                f"expected one of 'none', 'sum', 'sum_over_batch_size', 'mean_with_sample_weight', "
                f"'sum_by_nonzero_weights' (call unilosses.{self.function.__name__} for 'stats')"
            )
        keras_reduction = reduction if reduction in _KERAS_REDUCTIONS else "sum_over_batch_size"
        super().__init__(name=core.name, reduction=keras_reduction, dtype=dtype)
        self.reduction = core.reduction  # the canonical unilosses name
        self._core = core
        spec = core.spec
        self._spec = spec
        self._dtype_arg = dtype
        self._options = {
            n: (_host_array(v) if n in spec.arrays else v) for n, v in core.options.items()
        }

    # ---------------------------------------------------------------- inputs
    def _pred_names(self, y_pred: Any) -> list[str]:
        """The names of the inputs that ``y_pred`` holds (a list / tuple of them, or one tensor)."""
        from_pred = [n for n in self._spec.inputs if n not in _TARGET_NAMES]
        required = [n for n in from_pred if n not in self._spec.optional]
        if isinstance(y_pred, (list, tuple)):
            # optional inputs (CTC's lengths) may be left out
            return required if len(y_pred) == len(required) < len(from_pred) else from_pred
        return required if len(required) == 1 else from_pred  # one input (CTC's logits): y_pred itself

    def _inputs(self, y_true: Any, y_pred: Any) -> tuple[Any, ...]:
        """The loss function's positional inputs from Keras' ``(y_true, y_pred)``."""
        names = self._spec.inputs
        if names == _PAIR:
            return (y_true, y_pred)
        from_pred = self._pred_names(y_pred)
        if isinstance(y_pred, (list, tuple)):
            preds = list(y_pred)
        elif len(from_pred) == 1:
            preds = [y_pred]
        else:
            if y_pred.shape[1] is not None and y_pred.shape[1] != len(from_pred):
                raise ValueError(
                    f"y_pred: expected the inputs {', '.join(from_pred)} of {self.function.__name__} "
                    f"stacked along axis 1 (size {len(from_pred)}), got shape {tuple(y_pred.shape)}"
                )
            preds = [y_pred[:, i] for i in range(len(from_pred))]
        required = len([n for n in from_pred if n not in self._spec.optional])
        if not required <= len(preds) <= len(from_pred):
            raise ValueError(
                f"y_pred: expected {len(from_pred)} inputs ({', '.join(from_pred)}) "
                f"of {self.function.__name__}, got {len(preds)}"
            )
        it = iter(preds)
        return tuple(y_true if n in _TARGET_NAMES else next(it) if n in from_pred else None for n in names)

    def _convert(self, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
        dtype = self.dtype
        if isinstance(y_pred, (list, tuple)):  # integer inputs (CTC's lengths) stay integers
            ints = self._spec.integers
            y_pred = type(y_pred)(
                None if x is None else _as_target(x, dtype) if n in ints else _as_pred(x, dtype)
                for n, x in zip(self._pred_names(y_pred), y_pred)
            )
        else:
            y_pred = _as_pred(y_pred, dtype)
        if y_true is not None:
            y_true = _as_target(y_true, dtype)
        return y_true, y_pred

    # ------------------------------------------------------------------ call
    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The reduced loss (or per-sample values for ``reduction="none"``).

        Parameters
        ----------
        y_true : tensor
            Targets (labels for sparse losses); ignored by losses without a target.
        y_pred : tensor, or list / tuple of tensors
            Predictions (see the module doc for losses with several inputs).
        sample_weight : tensor, optional
            Broadcast against the per-sample loss; a Keras mask on ``y_pred`` is
            merged into it.

        Returns
        -------
        tensor
            A scalar, or the per-sample values for ``reduction="none"``.
        """
        mask = None if isinstance(y_pred, (list, tuple)) else _get_keras_mask(y_pred)
        with keras.name_scope(self.name):
            y_true, y_pred = self._convert(y_true, y_pred)
            if mask is not None:
                sample_weight = _mask_weight(mask, sample_weight, self.reduction, self.dtype)
            # under tf.distribute the function divides a mean by the number of replicas, as Keras does
            return self.function(
                *self._inputs(y_true, y_pred),
                sample_weight=sample_weight,
                reduction=self.reduction,
                **self._options,
            )

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-sample values (``reduction="none"``), as ``keras.losses.Loss.call``."""
        y_true, y_pred = self._convert(y_true, y_pred)
        return self.function(*self._inputs(y_true, y_pred), reduction="none", **self._options)

    def __repr__(self) -> str:
        if type(self).__module__ == __name__:
            return f"unilosses.keras.{self._core!r}"
        core = type(self._core)  # a user's loss, through wrap()
        return f"unilosses.keras.wrap({core.__module__}.{core.__name__}){repr(self._core)[len(core.__name__):]}"


def _signature(core: type[unilosses.Loss]) -> inspect.Signature:
    params = list(inspect.signature(core).parameters.values())
    params.append(inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=None))
    return inspect.Signature(params)


def _adapter(core: type[unilosses.FunctionLoss], module: str = __name__) -> type[Loss]:
    """The Keras class of the unilosses Loss class ``core`` (registered for the built-ins)."""
    name = core.__name__
    fn = core.function
    home = "unilosses" if module == __name__ else module
    doc = (
        f"Keras form of :class:`{home}.{name}` (the loss :func:`{home}.{fn.__name__}`).\n\n"
        f"A ``keras.losses.Loss``; takes the options of :func:`{home}.{fn.__name__}`, "
        "``reduction``, ``name`` and ``dtype`` (see :class:`unilosses.keras.Loss`).\n"
    )
    cls = type(
        name,
        (Loss,),
        {
            "__module__": module,
            "__qualname__": name,
            "__doc__": doc,
            "unilosses_class": core,
            "function": staticmethod(fn),
        },
    )
    cls.__signature__ = _signature(core)  # type: ignore[attr-defined]
    return cls


class _CallLoss(_CoreConfig, keras.losses.Loss):
    """A Keras-style :class:`unilosses.Loss` subclass (one that overrides ``call``) as a
    ``keras.losses.Loss``: Keras converts, masks and reduces, the subclass's ``call``
    computes the per-sample values on Keras' tensors."""

    unilosses_class: ClassVar[type[unilosses.Loss]]

    def __init__(self, **kwargs: Any) -> None:
        core = self.unilosses_class(**kwargs)
        reduction = None if core.reduction == "none" else core.reduction
        if reduction not in _KERAS_REDUCTIONS:
            raise ValueError(
                f"reduction: {core.reduction!r} is no Keras reduction; expected one of "
                "'none', 'sum', 'sum_over_batch_size', 'mean_with_sample_weight'"
            )
        super().__init__(name=core.name, reduction=reduction, dtype=kwargs.get("dtype"))
        self._core = core
        self._dtype_arg = kwargs.get("dtype")

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self._core.call(y_true, y_pred)


def wrap(loss: Any, *, package: str | None = None) -> type[keras.losses.Loss]:
    """Your loss as a registered ``keras.losses.Loss`` class, saved and loaded with models.

    Parameters
    ----------
    loss : unilosses.Loss subclass, or a function made with ``@unilosses.loss``
        A subclass with ``function = ...`` (or the function itself: its class form
        is made, named ``FocalTversky`` for ``focal_tversky``) gets what the built-in
        classes get (see :class:`Loss`: unilosses computes the loss and its
        reduction, Keras converts and masks). A Keras-style subclass that overrides
        ``call()`` becomes a ``keras.losses.Loss`` calling it (Keras does the rest,
        as for any Keras loss); its constructor's arguments are the subclass's.
    package : str, optional
        The registration package: the class is registered as ``"package>Name"``
        (``keras.saving.register_keras_serializable``); default: ``loss``'s module.
        Wrap at import time of your module, so that loading a saved model (with
        the module imported) finds the class.

    Returns
    -------
    type
        A subclass of ``keras.losses.Loss`` (of :class:`Loss` for spec losses) with
        the name of ``loss``'s class.
    """
    core = unilosses.authoring.loss_class(loss)  # a TypeError for anything else
    package = package or core.__module__
    done = _WRAPPED.get((loss, package))
    if done is not None:
        return done
    if not issubclass(core, unilosses.FunctionLoss):
        cls = type(
            core.__name__,
            (_CallLoss,),
            {"__module__": core.__module__, "__qualname__": core.__name__, "__doc__": core.__doc__,
             "unilosses_class": core},
        )
        cls.__signature__ = inspect.signature(core)  # type: ignore[attr-defined]
    else:
        cls = _adapter(core, module=core.__module__)
        if unilosses.authoring.is_loss_function(loss):  # the function too, for model.compile(loss=fn)
            _register(loss, package)
    _WRAPPED[(loss, package)] = _register(cls, package)
    return _WRAPPED[(loss, package)]


def _register(obj: Any, package: str) -> Any:
    """``register_keras_serializable``, refusing a name another object holds (Keras would replace it)."""
    name = f"{package}>{obj.__name__}"
    held = keras.saving.get_registered_object(name)
    if held is not None and held is not obj:
        raise ValueError(f"package: {name!r} is registered to {held!r} already; pass another package=")
    return keras.saving.register_keras_serializable(package=package)(obj)


#: what wrap() made, so that wrapping twice returns the same registered class
_WRAPPED: dict[tuple[Any, str], type[keras.losses.Loss]] = {}


def _build() -> list[str]:
    names = []
    for module in unilosses.FAMILIES:
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, unilosses.FunctionLoss):
                globals()[name] = keras.saving.register_keras_serializable(package="unilosses")(_adapter(obj))
                names.append(name)
                # the unilosses class too (as "unilosses.core>Name"), for models compiled with its objects
                keras.saving.register_keras_serializable(package="unilosses.core")(obj)
            elif unilosses.authoring.is_loss_function(obj):
                # the plain function: registered so a model compiled with it saves and loads
                keras.saving.register_keras_serializable(package="unilosses")(obj)
    return names


__all__ += _build()
