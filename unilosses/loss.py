"""The ``@loss`` decorator and the Keras-style ``Loss`` base class.

A loss is written once as a *spec function* ``f(be, y_true, y_pred, *, options)``
over a backend ``be`` (namespace ``be.xp`` plus fused primitives). It returns
the per-sample values, or ``PerSample(values, weight, valid)``. :func:`loss`
turns it into the public function ``f(y_true, y_pred, *, options,
sample_weight=None, element_weight=None, reduction="none", normalizer=None)``;
:class:`unilosses.spec.Spec` does the work of a call (validation once per option
set, conversion to y_pred's framework, 16-bit in float32, the cached core) and
:mod:`unilosses.options` holds the option rules.

Pair and triplet losses declare their inputs: ``@loss(inputs=("x1", "x2",
"target"))`` over ``f(be, x1, x2, target, *, options)`` gives
``f(x1, x2, target, *, options, sample_weight=None, ...)``; the input named by
``decides`` (the first by default) plays y_pred's part, and the Loss class's
``__call__`` takes those inputs. Inputs named in ``integers`` (labels, lengths)
must hold integers and keep their dtype; an input whose spec parameter defaults
to None is optional (``bias=None``). ``cast=False`` leaves every input in its own
dtype (the spec casts what it needs). A spec function that names ``reduction``,
``sample_weight`` or ``element_weight`` among its keyword parameters receives
them as hints (:data:`unilosses.spec.CONTEXT`).
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any, Callable, ClassVar

import numpy as np

from unilosses import subclassing
from unilosses.options import axes, flag, in_range, register_check
from unilosses.reduction import canonical_reduction
from unilosses.spec import PAIR, PerSample, Spec

__all__ = ["Loss", "PerSample", "axes", "flag", "in_range", "loss", "register_check"]

_PAIR = PAIR
_COMMON = (("sample_weight", None), ("element_weight", None), ("reduction", "none"), ("normalizer", None))


def _public_signature(spec: Spec) -> inspect.Signature:
    empty = inspect.Parameter.empty
    params = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None if n in spec.optional else empty)
        for n in spec.inputs
    ]
    params += [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
        for n, d in (*spec.options.items(), *_COMMON)
    ]
    return inspect.Signature(params)


def loss(
    *,
    arrays: tuple[str, ...] = (),
    inputs: tuple[str, ...] = _PAIR,
    decides: str | None = None,
    check: Callable[..., Any] | None = None,
    rules: dict[str, Callable[[str, Any], Any]] | None = None,
    integers: tuple[str, ...] = (),
    cast: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn a spec function into the public loss function (see the module doc).

    ``check(**static_options)`` runs after the per-option rules (for rules that
    involve several options; an array-valued numeric option appears as
    :data:`unilosses.options.DYNAMIC`); ``rules`` replaces the shared rule of an
    option name for this loss only (e.g. Tversky's ``beta`` may be 0).

    ``arrays`` names the options that are arrays (class weights...): they are
    converted to y_pred's framework and passed as arguments, not as constants.

    ``inputs`` names the positional inputs of a spec that takes other inputs
    than ``(y_true, y_pred)``, e.g. ``inputs=("x1", "x2", "target")`` for
    ``f(be, x1, x2, target, *, ...)``; ``decides`` names the input whose
    framework, device and dtype the others follow (default: the first one);
    the inputs named in ``integers`` (labels, lengths) must hold integers and reach
    the spec in their own integer dtype, the others in the compute dtype. An input
    whose spec parameter defaults to None is optional.

    The public function also takes ``sample_weight`` (aligned on the leading, sample
    axes of the per-sample loss), ``element_weight`` (broadcast on the trailing axes,
    torch's per-element ``weight``), ``reduction`` and ``normalizer``.

    ``cast=False`` leaves the inputs' dtypes to the spec (16-bit inputs are then not
    cast to float32 first; sample weights and array options still are).
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        spec = Spec(fn, arrays, inputs, decides, check, rules, integers, cast)
        if spec.inputs != _PAIR:
            return _public_inputs(fn, spec)

        @functools.wraps(fn)
        def public(
            y_true: Any,
            y_pred: Any,
            *,
            sample_weight: Any = None,
            element_weight: Any = None,
            reduction: Any = "none",
            normalizer: Any = None,
            **options: Any,
        ) -> Any:
            key, arr = spec.validate(options)
            return spec.call(
                key, arr, (y_true, y_pred), sample_weight, canonical_reduction(reduction), normalizer, element_weight
            )

        return _finish(public, spec)

    return wrap


def _finish(public: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    public.__signature__ = _public_signature(spec)  # type: ignore[attr-defined]
    _not_for_autograph(public)
    del public.__wrapped__  # type: ignore[attr-defined]  # help() shows the public signature, not the spec's
    public.spec = spec  # type: ignore[attr-defined]
    return public


def _public_inputs(fn: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    """The public function of a spec with other inputs than (y_true, y_pred)."""

    @functools.wraps(fn)
    def public(
        *args: Any,
        sample_weight: Any = None,
        element_weight: Any = None,
        reduction: Any = "none",
        normalizer: Any = None,
        **options: Any,
    ) -> Any:
        inputs = spec.bind(args, options)
        key, arr = spec.validate(options)
        return spec.call(key, arr, inputs, sample_weight, canonical_reduction(reduction), normalizer, element_weight)

    return _finish(public, spec)


def _not_for_autograph(fn: Callable[..., Any]) -> None:
    """Mark ``fn`` so that ``tf.function``'s AutoGraph calls it as it is (an "AutoGraph artifact"):
    losses have no Python control flow on tensor values, and a rewritten validation would break."""
    fn.autograph_info__ = {}  # type: ignore[attr-defined]


def _call_inputs(self: Loss, *inputs: Any, sample_weight: Any = None, **named: Any) -> Any:
    """``__call__`` of a Loss whose function takes other inputs than (y_true, y_pred)."""
    spec = self._spec
    if sample_weight is None and len(inputs) == len(spec.inputs) + 1:  # Keras' positional sample_weight
        *rest, sample_weight = inputs
        inputs = tuple(rest)
    args = spec.bind(inputs, named)
    if named:
        raise TypeError(f"{type(self).__name__}: unexpected argument(s) {sorted(named)}")
    return spec.call(self._key, self._arrays, args, sample_weight, self.reduction, None)


# ---------------------------------------------------------------- Loss class
def _host_list(value: Any) -> Any:
    """An array option (of any framework) as nested Python lists, as Keras configs hold them."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value).tolist()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Loss:
    """Base class of the Keras-style loss objects.

    Subclasses set ``function`` to a public loss function; the constructor takes
    that function's options plus ``reduction`` and ``name``, validates them once,
    and ``__call__(y_true, y_pred, sample_weight=None)`` applies the loss.

    Or, as with ``keras.losses.Loss``, a subclass overrides ``call(self, y_true,
    y_pred)`` (written over ``unilosses.namespace(y_pred)`` or with operators) and
    sets no ``function``: the constructor then takes ``name``, ``reduction`` and
    ``dtype``, and ``__call__`` converts the inputs, applies Keras masks, sample
    weights and the reduction as Keras does (see :mod:`unilosses.subclassing`).
    """

    function: ClassVar[Callable[..., Any]]
    #: True for subclasses that override ``call()`` instead of setting ``function``
    _call_style: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not hasattr(cls, "function"):  # a Keras-style subclass: it overrides call()
            cls._call_style = True
            return
        if cls.call is not Loss.call:
            raise TypeError(f"{cls.__name__}: set `function` or override `call()`, not both")
        spec = cls.function.spec  # type: ignore[attr-defined]
        if spec.inputs != _PAIR and "__call__" not in cls.__dict__:
            cls.__call__ = _call_inputs  # type: ignore[method-assign]
        params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        params += [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
            for n, d in spec.options.items()
        ]
        params += [
            inspect.Parameter("reduction", inspect.Parameter.KEYWORD_ONLY, default="sum_over_batch_size"),
            inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None),
        ]
        cls.__signature__ = inspect.Signature(params[1:])  # type: ignore[attr-defined]

    def __init__(self, *, reduction: Any = "sum_over_batch_size", name: str | None = None, **options: Any) -> None:
        if self._call_style:
            subclassing.init(self, reduction, name if name is not None else _snake(type(self).__name__), **options)
            return
        spec = type(self).function.spec  # type: ignore[attr-defined]
        self._spec = spec
        self.reduction = canonical_reduction(reduction)
        self.name = name if name is not None else _snake(type(self).__name__)
        self._key, self._arrays = spec.validate(options)
        self._options = {**dict(zip(spec.static, self._key)), **self._arrays}

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        if self._call_style:
            return subclassing.apply(self, y_true, y_pred, sample_weight)
        return self._spec.call(self._key, self._arrays, (y_true, y_pred), sample_weight, self.reduction, None)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The per-sample values (``reduction="none"``, no sample weights), as
        ``keras.losses.Loss.call``. Keras-style subclasses override it."""
        if self._call_style:
            raise NotImplementedError(f"{type(self).__name__}: override call(self, y_true, y_pred)")
        if self._spec.inputs != _PAIR:
            raise TypeError(
                f"{type(self).__name__}.call takes (y_true, y_pred); call the loss with reduction='none'"
            )
        return self._spec.call(self._key, self._arrays, (y_true, y_pred), None, "none", None)

    @property
    def dtype(self) -> Any:
        """The dtype inputs are converted to (Keras-style subclasses; read-only), or None:
        the loss computes in its input's dtype, 16-bit floats in float32."""
        return getattr(self, "_dtype", None)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (arrays as nested lists), as Keras does."""
        config: dict[str, Any] = {"name": self.name, "reduction": self.reduction}
        if self._call_style:
            return config
        for n, v in self._options.items():
            config[n] = _host_list(v) if n in self._arrays and v is not None else v
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        if not cls._call_style:
            config = {k: v for k, v in config.items() if k not in ("dtype",)}
        return cls(**config)

    def __repr__(self) -> str:
        if self._call_style:
            return f"{type(self).__name__}(name={self.name!r}, reduction={self.reduction!r})"
        opts = ", ".join(
            f"{n}={v!r}"
            for n, v in self.get_config().items()
            if n not in ("name", "reduction") and v is not None and v != self._spec.options[n]
        )
        return f"{type(self).__name__}({opts + ', ' if opts else ''}reduction={self.reduction!r})"


_not_for_autograph(Loss.__call__)
_not_for_autograph(_call_inputs)
