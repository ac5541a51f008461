"""The loss specification machinery and the Keras-style ``Loss`` base class.

A loss is written once as a *spec function* ``f(be, y_true, y_pred, *, options)``
over a backend ``be`` (namespace ``be.xp`` plus fused primitives). It returns
the per-sample values, or ``PerSample(values, weight, valid)``. :func:`loss`
turns it into the public function ``f(y_true, y_pred, *, options,
sample_weight=None, reduction="none", normalizer=None)``, which

1. validates the options (once per distinct option set, then cached),
2. finds the backend from ``y_pred`` (one dict lookup),
3. moves y_true, sample_weight and array options to y_pred's framework,
4. computes 16-bit inputs in float32,
5. runs the spec and :func:`unilosses.reduction.reduce`, as one cached
   ``jax.jit`` for concrete JAX arrays.

Pair and triplet losses declare their inputs: ``@loss(inputs=("x1", "x2",
"target"))`` over ``f(be, x1, x2, target, *, options)`` gives
``f(x1, x2, target, *, options, sample_weight=None, reduction="none",
normalizer=None)``; the input named by ``decides`` (the first by default) plays
y_pred's part, and the Loss class's ``__call__`` takes those inputs. Trailing
inputs with a default of None in the spec are optional (``bias=None``).

A spec function that names ``reduction`` or ``sample_weight`` among its keyword
parameters receives them as a hint (``reduce`` still applies both): the LM-head
loss uses them to know the shape of the gradient it will be asked for.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from typing import Any, Callable, ClassVar, NamedTuple

import numpy as np

from unilosses.backends import _HOST_TYPES, backend_for, convert
from unilosses.reduction import canonical_reduction, reduce

__all__ = ["Loss", "PerSample", "loss"]


class PerSample(NamedTuple):
    """What a spec function returns when it needs more than plain values."""

    values: Any
    weight: Any = None  # per-sample class weight, for the weighted mean
    valid: Any = None  # False where a label is ignored


# ----------------------------------------------------------------- validation
# One check per option name, shared by every loss: the same option gets the
# same rule and the same message everywhere.
def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name}: expected a number, got nan")
    return value


def _in_range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Callable[[str, Any], float]:
    def check(name: str, value: Any) -> float:
        v = _number(name, value)
        if (v < lo or (lo_open and v == lo)) or (v > hi or (hi_open and v == hi)):
            lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
            raise ValueError(f"{name}: expected a value in {lb}{lo}, {hi}{rb}, got {value!r}")
        return v

    return check


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _axis(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer axis or None, got {value!r}")
    return int(value)


def _axes(name: str, value: Any) -> Any:
    """None, an integer axis, or a non-empty tuple (or list) of distinct integer axes (as a tuple)."""
    if not isinstance(value, (tuple, list)):
        try:
            return _axis(name, value)
        except TypeError:
            raise TypeError(f"{name}: expected an integer axis, a tuple of them, or None, got {value!r}") from None
    if not value or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in value):
        raise TypeError(f"{name}: expected an integer axis, a non-empty tuple of them, or None, got {value!r}")
    return tuple(int(a) for a in value)


def _index(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer label or None, got {value!r}")
    return int(value)


_INF = float("inf")
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "from_logits": _flag,
    "label_smoothing": _in_range(0.0, 1.0),
    "epsilon": _in_range(0.0, 0.5, lo_open=True, hi_open=True),
    "axis": _axis,
    "ignore_index": _index,
    "gamma": _in_range(0.0, _INF),
    "alpha": _in_range(0.0, 1.0),
    "beta": _in_range(0.0, _INF, lo_open=True),
    "delta": _in_range(0.0, _INF, lo_open=True),
    "margin": _in_range(-_INF, _INF, lo_open=True, hi_open=True),
    "eps": _in_range(0.0, _INF, lo_open=True),
    "full": _flag,
    "squared": _flag,
    "swap": _flag,
    "apply_class_balancing": _flag,
    "log_input": _flag,
}


def _types(values: Any) -> tuple[Any, ...]:
    """The types of option values, and of a tuple's elements (``(1, 2.0) == (1, 2)``, but only
    one is a tuple of axes): with the values, a cache key that never mistakes one for the other."""
    types: tuple[Any, ...] = tuple(map(type, values))
    if tuple in types:
        types += tuple(tuple(map(type, v)) for v in values if type(v) is tuple)
    return types


def _any(name: str, value: Any) -> Any:
    return value


in_range = _in_range  # for spec-specific rules: ``@loss(rules={"beta": in_range(0, inf)})``
axes = _axes  # for losses that sum over several axes: ``@loss(rules={"axis": axes})``


def register_check(name: str, check: Callable[[str, Any], Any]) -> None:
    """Add the rule for an option name (each name has exactly one rule)."""
    if name in _CHECKS and _CHECKS[name] is not check:
        raise ValueError(f"option {name!r} already has a rule")
    _CHECKS[name] = check


# ----------------------------------------------------------------- spec / run
_PAIR = ("y_true", "y_pred")
#: keyword parameters a spec function may name to receive the call's context (read-only hints)
_CONTEXT = ("reduction", "sample_weight")


class Spec:
    """A loss's spec function with its option defaults, validation and caches."""

    def __init__(
        self,
        fn: Callable[..., Any],
        arrays: tuple[str, ...],
        inputs: tuple[str, ...] = _PAIR,
        decides: str | None = None,
        check: Callable[..., Any] | None = None,
        rules: dict[str, Callable[[str, Any], Any]] | None = None,
        cast: bool = True,
    ) -> None:
        self.fn = fn
        self.cast = cast
        self.name = fn.__name__
        self.check = check
        self.rules = dict(rules or {})
        inputs = tuple(inputs)
        params = list(inspect.signature(fn).parameters.values())
        if [p.name for p in params[: len(inputs) + 1]] != ["be", *inputs]:
            raise TypeError(f"{self.name}: spec functions take (be, {', '.join(inputs)}, *, ...)")
        if decides is None:
            decides = "y_pred" if inputs == _PAIR else inputs[0]
        if decides not in inputs or (inputs == _PAIR and decides != "y_pred"):
            raise ValueError(f"decides: expected one of the inputs {inputs}, got {decides!r}")
        self.inputs = inputs
        self.decides = decides
        self.optional = tuple(p.name for p in params[1 : len(inputs) + 1] if p.default is None)
        if self.optional != inputs[len(inputs) - len(self.optional) :] or decides in self.optional:
            raise TypeError(f"{self.name}: optional inputs (default None) come last and do not decide")
        rest = params[len(inputs) + 1 :]
        self.context = tuple(p.name for p in rest if p.name in _CONTEXT)
        self.options = {p.name: p.default for p in rest if p.name not in _CONTEXT}
        self.arrays = arrays
        self.static = tuple(n for n in self.options if n not in arrays)
        self._validated: dict[Any, tuple[Any, ...]] = {}
        self._by_call: dict[Any, tuple[Any, ...]] = {}
        self._array_names = frozenset(arrays)
        self._cores: dict[Any, Callable[..., Any]] = {}

    def validate(self, options: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """(static option values as a hashable key, array options) after checks.

        Cached by the call's option names, values and types (``axis=1.0`` is not
        ``axis=1``): a repeated call costs one dict lookup. Array options are never
        part of a cache key.
        """
        if self._array_names and not self._array_names.isdisjoint(options):
            return self._check(options)
        try:
            ck = (tuple(options.items()), _types(options.values()))
            key = self._by_call.get(ck)
        except TypeError:  # an unhashable option value: validate (and fail) below
            return self._check(options)
        if key is None:
            key = self._check(options)[0]
            if len(self._by_call) > 1024:  # e.g. a label_smoothing schedule: stay bounded
                self._by_call.clear()
            self._by_call[ck] = key
        return key, dict.fromkeys(self.arrays)

    def _check(self, options: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(
                f"{self.name}: unexpected option(s) {sorted(unknown)}; "
                f"valid options: {sorted(self.options)}"
            )
        arrays = {n: options.get(n) for n in self.arrays}
        raw = tuple(options.get(n, self.options[n]) for n in self.static)
        raw_key: Any
        try:
            raw_key = (raw, _types(raw))
            key = self._validated.get(raw_key)
        except TypeError:  # an unhashable option value: validate (and fail) below
            raw_key = key = None
        if key is None:
            key = tuple(
                self._rule(n)(n, v) for n, v in zip(self.static, raw)
            )
            if self.check is not None:
                self.check(**dict(zip(self.static, key)))
            if raw_key is not None:
                self._validated[raw_key] = key
        return key, arrays

    def _rule(self, name: str) -> Callable[[str, Any], Any]:
        """The spec's own rule for an option, else the shared rule for its name."""
        return self.rules.get(name) or _CHECKS.get(name) or _any

    def core(self, be: Any, key: tuple[Any, ...], reduction: str) -> Callable[..., Any]:
        """The per-(backend, options, reduction) function, compiled where useful."""
        ck = (be.name, key, reduction)
        core = self._cores.get(ck)
        if core is None:
            fn, static, arrays = self.fn, dict(zip(self.static, key)), self.arrays
            context = {"reduction": reduction} if "reduction" in self.context else {}
            hint = "sample_weight" in self.context

            if self.inputs == _PAIR:

                def run(y_true: Any, y_pred: Any, sample_weight: Any, normalizer: Any, *arr: Any) -> Any:
                    ctx = {**context, "sample_weight": sample_weight} if hint else context
                    out = fn(be, y_true, y_pred, **static, **dict(zip(arrays, arr)), **ctx)
                    if not isinstance(out, PerSample):
                        return reduce(be, out, sample_weight, reduction, normalizer=normalizer)
                    return reduce(
                        be, out.values, sample_weight, reduction,
                        weight=out.weight, valid=out.valid, normalizer=normalizer,
                    )

            else:
                n = len(self.inputs)

                def run(*args: Any) -> Any:  # type: ignore[misc]  # inputs, sample_weight, normalizer, arrays
                    ctx = {**context, "sample_weight": args[n]} if hint else context
                    out = fn(be, *args[:n], **static, **dict(zip(arrays, args[n + 2 :])), **ctx)
                    if not isinstance(out, PerSample):
                        out = PerSample(out)
                    return reduce(
                        be, out.values, args[n], reduction,
                        weight=out.weight, valid=out.valid, normalizer=args[n + 1],
                    )

            run.__name__ = self.name
            # setdefault is atomic (no lock: torch.compile cannot trace one)
            core = self._cores.setdefault(ck, be.compile(run, (self.name, ck)))
        return core

    def __call__(
        self,
        key: tuple[Any, ...],
        arrays: dict[str, Any],
        y_true: Any,
        y_pred: Any,
        sample_weight: Any,
        reduction: str,
        normalizer: Any,
    ) -> Any:
        if isinstance(y_pred, _HOST_TYPES):
            y_pred = np.asarray(y_pred)
            if y_pred.dtype.kind in "iub":
                raise TypeError(
                    f"y_pred: expected a real floating-point array, got dtype {y_pred.dtype}"
                )
        be = backend_for(y_pred)
        dtype = be.compute_dtype(y_pred.dtype)
        if y_pred.dtype != dtype:
            y_pred = be.xp.astype(y_pred, dtype)
        y_true = convert(be, y_true, y_pred, "y_true")
        if sample_weight is not None:
            sample_weight = convert(be, sample_weight, y_pred, "sample_weight", dtype)
        if normalizer is not None:
            if reduction != "sum":
                raise ValueError(
                    f"normalizer: only used with reduction='sum', got reduction={reduction!r}"
                )
            normalizer = convert(be, normalizer, y_pred, "normalizer", dtype)
        arr = [
            None if arrays.get(n) is None else convert(be, arrays[n], y_pred, n, dtype)
            for n in self.arrays
        ]
        return self.core(be, key, reduction)(y_true, y_pred, sample_weight, normalizer, *arr)

    # ------------------------------------------- specs with other inputs
    def bind(self, args: tuple[Any, ...], named: dict[str, Any]) -> tuple[Any, ...]:
        """The inputs from positional ``args`` and, by name, from ``named`` (popped)."""
        n = len(self.inputs)
        if len(args) > n:
            raise TypeError(
                f"{self.name}: takes {n} inputs ({', '.join(self.inputs)}), got {len(args)} positional arguments"
            )
        for name in self.inputs[: len(args)]:
            if name in named:
                raise TypeError(f"{self.name}: got multiple values for input {name!r}")
        missing = [name for name in self.inputs[len(args) :] if name not in named and name not in self.optional]
        if missing:
            raise TypeError(f"{self.name}: missing input(s) {', '.join(repr(m) for m in missing)}")
        return tuple(args) + tuple(named.pop(name, None) for name in self.inputs[len(args) :])

    def call_inputs(
        self,
        key: tuple[Any, ...],
        arrays: dict[str, Any],
        inputs: tuple[Any, ...],
        sample_weight: Any,
        reduction: str,
        normalizer: Any,
    ) -> Any:
        """:meth:`__call__` for a spec whose inputs are not ``(y_true, y_pred)``.

        The input named ``decides`` plays y_pred's part: it picks the backend and
        the compute dtype; the other inputs (Python / NumPy values, or arrays of
        that framework) are moved to it, floating ones cast to the compute dtype.
        """
        lead_name = self.decides
        i = self.inputs.index(lead_name)
        lead = inputs[i]
        if isinstance(lead, _HOST_TYPES):
            lead = np.asarray(lead)
            if lead.dtype.kind in "iub":
                raise TypeError(f"{lead_name}: expected a real floating-point array, got dtype {lead.dtype}")
        be = backend_for(lead)
        dtype = be.compute_dtype(lead.dtype, lead_name)
        if self.cast and lead.dtype != dtype:
            lead = be.xp.astype(lead, dtype)
        try:
            xs = []
            for name, x in zip(self.inputs, inputs):
                if name == lead_name or x is None:  # None: an optional input not given
                    xs.append(lead if name == lead_name else None)
                    continue
                x = convert(be, x, lead, name)
                if self.cast and x.dtype != dtype:  # integer / boolean pair targets too (torch, TF refuse mixing)
                    x = be.xp.astype(x, dtype)
                xs.append(x)
            if sample_weight is not None:
                sample_weight = convert(be, sample_weight, lead, "sample_weight", dtype)
            if normalizer is not None:
                if reduction != "sum":
                    raise ValueError(
                        f"normalizer: only used with reduction='sum', got reduction={reduction!r}"
                    )
                normalizer = convert(be, normalizer, lead, "normalizer", dtype)
            arr = [
                None if arrays.get(n) is None else convert(be, arrays[n], lead, n, dtype)
                for n in self.arrays
            ]
        except TypeError as e:  # convert's message names y_pred: name the deciding input
            raise TypeError(str(e).replace("y_pred", lead_name)) from None
        return self.core(be, key, reduction)(*xs, sample_weight, normalizer, *arr)


def loss(
    *,
    arrays: tuple[str, ...] = (),
    inputs: tuple[str, ...] = _PAIR,
    decides: str | None = None,
    check: Callable[..., Any] | None = None,
    rules: dict[str, Callable[[str, Any], Any]] | None = None,
    cast: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn a spec function into the public loss function (see the module doc).

    ``check(**static_options)`` runs after the per-option rules (for rules that
    involve several options); ``rules`` replaces the shared rule of an option name
    for this loss only (e.g. Tversky's ``beta`` may be 0).

    ``arrays`` names the options that are arrays (class weights...): they are
    converted to y_pred's framework and passed as arguments, not as constants.

    ``inputs`` names the positional inputs of a spec that takes other inputs
    than ``(y_true, y_pred)``, e.g. ``inputs=("x1", "x2", "target")`` for
    ``f(be, x1, x2, target, *, ...)``; ``decides`` names the input whose
    framework, device and dtype the others follow (default: the first one).
    ``cast=False`` leaves the inputs' dtypes to the spec (16-bit inputs are then
    not cast to float32 first; sample weights and array options still are).
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        spec = Spec(fn, arrays, inputs, decides, check, rules, cast)
        if spec.inputs != _PAIR:
            return _public_inputs(fn, spec)

        @functools.wraps(fn)
        def public(
            y_true: Any,
            y_pred: Any,
            *,
            sample_weight: Any = None,
            reduction: Any = "none",
            normalizer: Any = None,
            **options: Any,
        ) -> Any:
            key, arr = spec.validate(options)
            return spec(key, arr, y_true, y_pred, sample_weight, canonical_reduction(reduction), normalizer)

        params = [
            inspect.Parameter("y_true", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("y_pred", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ]
        params += [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
            for n, d in spec.options.items()
        ]
        params += [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
            for n, d in (("sample_weight", None), ("reduction", "none"), ("normalizer", None))
        ]
        public.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        del public.__wrapped__  # help() shows the public signature, not the spec's
        public.spec = spec  # type: ignore[attr-defined]
        return public

    return wrap


def _public_signature(spec: Spec) -> inspect.Signature:
    params = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, **({"default": None} if n in spec.optional else {}))
        for n in spec.inputs
    ]
    params += [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in spec.options.items()
    ]
    params += [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
        for n, d in (("sample_weight", None), ("reduction", "none"), ("normalizer", None))
    ]
    return inspect.Signature(params)


def _public_inputs(fn: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    """The public function of a spec with other inputs than (y_true, y_pred)."""

    @functools.wraps(fn)
    def public(
        *args: Any,
        sample_weight: Any = None,
        reduction: Any = "none",
        normalizer: Any = None,
        **options: Any,
    ) -> Any:
        inputs = spec.bind(args, options)
        key, arr = spec.validate(options)
        return spec.call_inputs(key, arr, inputs, sample_weight, canonical_reduction(reduction), normalizer)

    public.__signature__ = _public_signature(spec)  # type: ignore[attr-defined]
    del public.__wrapped__
    public.spec = spec  # type: ignore[attr-defined]
    return public


def _call_inputs(self: Loss, *inputs: Any, sample_weight: Any = None, **named: Any) -> Any:
    """``__call__`` of a Loss whose function takes other inputs than (y_true, y_pred)."""
    spec = self._spec
    if sample_weight is None and len(inputs) == len(spec.inputs) + 1:  # Keras' positional sample_weight
        *rest, sample_weight = inputs
        inputs = tuple(rest)
    args = spec.bind(inputs, named)
    if named:
        raise TypeError(f"{type(self).__name__}: unexpected argument(s) {sorted(named)}")
    return spec.call_inputs(self._key, self._arrays, args, sample_weight, self.reduction, None)


# ---------------------------------------------------------------- Loss class
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Loss:
    """Base class of the Keras-style loss objects.

    Subclasses set ``function`` to a public loss function; the constructor takes
    that function's options plus ``reduction`` and ``name``, validates them once,
    and ``__call__(y_true, y_pred, sample_weight=None)`` applies the loss.
    """

    function: ClassVar[Callable[..., Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
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
        spec = type(self).function.spec  # type: ignore[attr-defined]
        self._spec = spec
        self.reduction = canonical_reduction(reduction)
        self.name = name if name is not None else _snake(type(self).__name__)
        self._key, self._arrays = spec.validate(options)
        self._options = {**dict(zip(spec.static, self._key)), **self._arrays}

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return self._spec(self._key, self._arrays, y_true, y_pred, sample_weight, self.reduction, None)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (arrays as nested lists), as Keras does."""
        config: dict[str, Any] = {"name": self.name, "reduction": self.reduction}
        for n, v in self._options.items():
            config[n] = np.asarray(v).tolist() if n in self._spec.arrays and v is not None else v
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        config = {k: v for k, v in config.items() if k not in ("dtype",)}
        return cls(**config)

    def __repr__(self) -> str:
        opts = ", ".join(
            f"{n}={v!r}"
            for n, v in self.get_config().items()
            if n not in ("name", "reduction") and v is not None and v != self._spec.options[n]
        )
        return f"{type(self).__name__}({opts + ', ' if opts else ''}reduction={self.reduction!r})"
