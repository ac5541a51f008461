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
``keras.losses.Loss`` does, and a mean is divided by the number of replicas under
``tf.distribute``. unilosses' side: the loss and its reduction. The reduction is
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
``y_true``) comes from ``y_true``, which is ignored by losses that have none.
Optional inputs may be left out of the list: ``LinearCrossEntropy()(labels, [hidden,
ops.transpose(dense.kernel)])`` (or ``[hidden, weight, bias]``).

Plain unilosses functions and :class:`unilosses.Loss` objects can be passed to
``model.compile(loss=...)`` as well (Keras wraps them); importing this module
also registers the functions and the unilosses Loss classes (the latter as
``"unilosses.core>Name"``), so a model compiled with them saves and loads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import keras
import numpy as np

import unilosses
from unilosses.loss import Loss as _CoreLoss

try:  # Keras keeps its mask getter private; the attribute is the fallback
    from keras.src.backend import get_keras_mask as _get_keras_mask
except ImportError:  # pragma: no cover - other Keras versions

    def _get_keras_mask(x: Any) -> Any:
        return getattr(x, "_keras_mask", None)


__all__ = ["Loss"]

#: reductions Keras' own losses accept (None is "none")
_KERAS_REDUCTIONS = ("sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none", None)
#: input names that come from Keras' ``y_true`` for losses with other inputs
_TARGET_NAMES = ("target", "y_true")
_PAIR = ("y_true", "y_pred")
_MEANS = ("sum_over_batch_size", "mean_with_sample_weight", "sum_by_nonzero_weights")


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


def _scale_for_replicas(value: Any) -> Any:
    """A mean divided by the number of replicas under ``tf.distribute`` (Keras does this)."""
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value if replicas == 1 else value * (1.0 / replicas)


class Loss(keras.losses.Loss):
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

    unilosses_class: ClassVar[type[_CoreLoss]]
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
        spec = core._spec
        self._spec = spec
        self._dtype_arg = dtype
        self._options = {
            n: (_host_array(v) if n in spec.arrays else v) for n, v in core._options.items()
        }

    # ---------------------------------------------------------------- inputs
    def _inputs(self, y_true: Any, y_pred: Any) -> tuple[Any, ...]:
        """The loss function's positional inputs from Keras' ``(y_true, y_pred)``."""
        names = self._spec.inputs
        if names == _PAIR:
            return (y_true, y_pred)
        from_pred = [n for n in names if n not in _TARGET_NAMES]
        if isinstance(y_pred, (list, tuple)):
            preds = list(y_pred)
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
        preds += [None] * (len(from_pred) - len(preds))  # optional inputs not given (a head's bias)
        it = iter(preds)
        return tuple(y_true if n in _TARGET_NAMES else next(it) for n in names)

    def _convert(self, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
        dtype = self.dtype
        if isinstance(y_pred, (list, tuple)):
            y_pred = type(y_pred)(None if x is None else _as_pred(x, dtype) for x in y_pred)
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
            out = self.function(
                *self._inputs(y_true, y_pred),
                sample_weight=sample_weight,
                reduction=self.reduction,
                **self._options,
            )
            return _scale_for_replicas(out) if self.reduction in _MEANS else out

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-sample values (``reduction="none"``), as ``keras.losses.Loss.call``."""
        y_true, y_pred = self._convert(y_true, y_pred)
        return self.function(*self._inputs(y_true, y_pred), reduction="none", **self._options)

    # --------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (array options as lists) and Keras' ``dtype``."""
        config = self._core.get_config()
        dtype = self._dtype_arg
        if dtype is not None and not isinstance(dtype, str):
            dtype = keras.dtype_policies.serialize(self._dtype_policy)
        config["dtype"] = dtype
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """The loss from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"unilosses.keras.{self._core!r}"


def _signature(core: type[_CoreLoss]) -> inspect.Signature:
    params = list(inspect.signature(core).parameters.values())
    params.append(inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=None))
    return inspect.Signature(params)


def _adapter(core: type[_CoreLoss]) -> type[Loss]:
    """The registered Keras class of the unilosses Loss class ``core``."""
    name = core.__name__
    fn = core.function
    doc = (
        f"Keras form of :class:`unilosses.{name}` (the loss :func:`unilosses.{fn.__name__}`).\n\n"
        f"A ``keras.losses.Loss``; takes the options of :func:`unilosses.{fn.__name__}`, "
        "``reduction``, ``name`` and ``dtype`` (see :class:`unilosses.keras.Loss`).\n"
    )
    cls = type(
        name,
        (Loss,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": doc,
            "unilosses_class": core,
            "function": staticmethod(fn),
        },
    )
    cls.__signature__ = _signature(core)  # type: ignore[attr-defined]
    return keras.saving.register_keras_serializable(package="unilosses")(cls)


def _build() -> list[str]:
    names = []
    for module in unilosses.FAMILIES:
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, _CoreLoss):
                globals()[name] = _adapter(obj)
                names.append(name)
                # the unilosses class too (as "unilosses.core>Name"), for models compiled with its objects
                keras.saving.register_keras_serializable(package="unilosses.core")(obj)
            elif callable(obj) and hasattr(obj, "spec"):
                # the plain function: registered so a model compiled with it saves and loads
                keras.saving.register_keras_serializable(package="unilosses")(obj)
    return names


__all__ += _build()
