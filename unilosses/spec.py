"""A loss's specification at run time: option validation, input conversion and the cached core.

:class:`Spec` wraps a spec function ``f(be, *inputs, *, options)`` (see
:mod:`unilosses.decorator`). A call

1. validates the options (once per distinct option set, then one dict lookup;
   array-valued numeric options are passed as arguments, see :mod:`unilosses.rules`),
2. finds the backend from the deciding input (``y_pred``; one dict lookup),
   and runs a whole-loss kernel registered for that backend (:meth:`Spec.specialise`)
   where one applies,
3. moves the other inputs, the weights and array options to that framework and device,
4. computes 16-bit inputs in float32,
5. runs the spec and :func:`unilosses.reduction.reduce` as one function per
   (backend, options, reduction) of one :class:`CoreArgs`: a cached ``jax.jit`` for
   concrete JAX arrays.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple

from unilosses.backends import BACKENDS, NOT_ARRAYS, Slots, backend_of_type, convert, not_an_array, resolve
from unilosses.dims import UNKNOWN_RANK
from unilosses.reduction import NUMPY_1, Outputs, PerSample, per_replica, reduce
from unilosses.rules import DYNAMIC, in_bounds, is_array_value, rule_for, types, unknown_options

__all__ = ["CONTEXT", "PAIR", "CoreArgs", "Spec"]

#: the types of option values that are never arrays (the cached path of :meth:`Spec.validate`)
_PLAIN = frozenset({int, float, bool, str, type(None), tuple})
#: DYNAMIC in a kernels' cache key: Dynamo passes constants to a traced_constant, not objects
_DYNAMIC_KEY = "\x00unilosses: an array-valued option"


def _constant_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_DYNAMIC_KEY if v is DYNAMIC else v for v in key) if DYNAMIC in key else key

#: the inputs of most losses
PAIR = ("y_true", "y_pred")
#: keyword parameters a spec function may name to receive the call's context (read-only hints;
#: :func:`unilosses.reduction.reduce` still applies them): the LM-head loss uses them to know
#: the shape of the gradient it will be asked for
CONTEXT = ("reduction", "sample_weight", "element_weight", "normalizer")


class CoreArgs(NamedTuple):
    """The arguments of a loss's compiled core, by name (a NamedTuple is a JAX pytree)."""

    inputs: tuple[Any, ...]  #: the inputs in the spec's order, converted
    sample_weight: Any
    element_weight: Any
    normalizer: Any
    arrays: tuple[Any, ...]  #: the array options (``Spec.arrays``), then the array-valued numeric options


def _looks_float(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return isinstance(x, float) if dtype is None else "float" in str(dtype)


class Spec:
    """A loss's spec function with its option defaults, validation and caches."""

    def __init__(
        self,
        fn: Callable[..., Any],
        arrays: tuple[str, ...],
        inputs: tuple[str, ...] = PAIR,
        decides: str | None = None,
        check: Callable[..., Any] | None = None,
        rules: dict[str, Callable[[str, Any], Any]] | None = None,
        integers: tuple[str, ...] = (),
        cast: bool = True,
    ) -> None:
        self.fn = fn
        self.cast = cast  # False: the inputs keep their dtypes (the spec casts what it needs)
        self.name = fn.__name__
        self.check = check
        self.rules = dict(rules or {})
        inputs = tuple(inputs)
        params = list(inspect.signature(fn).parameters.values())
        if [p.name for p in params[: len(inputs) + 1]] != ["be", *inputs]:
            raise TypeError(f"{self.name}: spec functions take (be, {', '.join(inputs)}, *, ...)")
        if decides is None:
            decides = "y_pred" if inputs == PAIR else inputs[0]
        if decides not in inputs or (inputs == PAIR and decides != "y_pred"):
            raise ValueError(f"decides: expected one of the inputs {inputs}, got {decides!r}")
        if not set(integers) <= set(inputs) - {decides}:
            raise ValueError(f"integers: expected inputs other than {decides!r}, got {integers!r}")
        self.inputs = inputs
        self.decides = decides
        self._lead = inputs.index(decides)
        #: inputs that hold integers (labels, lengths): checked, never cast to the compute dtype
        self.integers = frozenset(integers)
        #: inputs whose spec parameter defaults to None: they may be left out
        self.optional = frozenset(p.name for p in params[1 : len(inputs) + 1] if p.default is None)
        if decides in self.optional:
            raise TypeError(f"{self.name}: the deciding input {decides!r} cannot be optional")
        rest = params[len(inputs) + 1 :]
        self.context = tuple(p.name for p in rest if p.name in CONTEXT)
        self.options = {p.name: p.default for p in rest if p.name not in CONTEXT}
        self.arrays = tuple(arrays)
        self.static = tuple(n for n in self.options if n not in self.arrays)
        self._dynamic_ok = frozenset(n for n in self.static if getattr(self._rule(n), "accepts_arrays", False))
        #: validated option keys by the call's options (:meth:`validate`) and by the raw static
        #: values (:meth:`_check`); read by slot (see :class:`unilosses.backends.Slots`)
        self._by_call = Slots(self._cacheable_key, limit=1024)
        self._validated = Slots(self._rules_key, limit=1024)
        self._array_names = frozenset(self.arrays)
        self._no_arrays: dict[str, Any] = dict.fromkeys(self.arrays)  # shared: never mutated
        self._none_arrays: tuple[Any, ...] = (None,) * len(self.arrays)
        #: whole-loss kernels by backend name (:meth:`specialise`)
        self.specialisations: dict[str, Callable[..., Any]] = {}
        #: (fast kernel or None, core) by (backend, options, reduction): :meth:`kernels`
        self._kernels = Slots(self._build_kernels)
        self._cores = self._fast = self._kernels  # the names tests count and clear

    # ------------------------------------------------------------- options
    def _rule(self, name: str) -> Callable[[str, Any], Any]:
        """The spec's own rule for an option, else the shared rule for its name."""
        return rule_for(name, self.rules)

    def validate(self, options: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """(static option values as a hashable key, array options by name) after checks.

        Cached by the call's option names, values and types (``axis=1.0`` is not
        ``axis=1``): a repeated call costs one dict lookup. Array values (array
        options such as ``class_weight``, array-valued numeric options) are never
        part of a cache key. The returned dict is shared: do not modify it.
        """
        if self._array_names and not self._array_names.isdisjoint(options):
            return self._check(options)
        tps = tuple(map(type, options.values()))
        if self._dynamic_ok and not _PLAIN.issuperset(tps):  # maybe an array-valued numeric option
            return self._check(options)
        try:
            ck = (tuple(options.items()), tps if tuple not in tps else types(options.values()))
            slot = self._by_call.slot(ck)  # bounded (1024 keys: e.g. a label_smoothing schedule)
        except TypeError:  # an unhashable option value: validate (and fail) below
            slot = ""
        if not slot:  # invalid options: raise here
            return self._check(options)
        return getattr(self._by_call, slot), self._no_arrays

    def _cacheable_key(self, ck: Any) -> tuple[Any, ...]:
        """The validated key of a call's options (``ck``: their items, then their types)."""
        key, arrays = self._check(dict(ck[0]))
        if len(arrays) != len(self.arrays):  # an array-valued numeric option: not cacheable
            raise TypeError("not cacheable")
        return key

    def _check(self, options: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        unknown = set(options) - set(self.options)
        if unknown:
            raise unknown_options(self.name, unknown, self.options)
        arrays = {n: options.get(n) for n in self.arrays}
        for n, v in arrays.items():
            if isinstance(v, NOT_ARRAYS):  # refused here, when a class form is built, not at its first call
                raise not_an_array(n, v)
        raw = tuple(options.get(n, self.options[n]) for n in self.static)
        if self._dynamic_ok and any(n in self._dynamic_ok and is_array_value(v) for n, v in zip(self.static, raw)):
            raw = tuple(self._dynamic(n, v, arrays) for n, v in zip(self.static, raw))
        try:
            slot = "" if DYNAMIC in raw else self._validated.slot(raw, types(raw))
        except TypeError:  # an unhashable option value: validate (and fail) below
            slot = ""
        return (getattr(self._validated, slot) if slot else self._rules_key(raw)), arrays

    def _rules_key(self, raw: tuple[Any, ...], _types: Any = None) -> tuple[Any, ...]:
        """The static options' values after their rules and the spec's check (raises on bad ones)."""
        key = tuple(v if v is DYNAMIC else self._rule(n)(n, v) for n, v in zip(self.static, raw))
        if self.check is not None:
            self.check(**dict(zip(self.static, key)))
        return key

    def _dynamic(self, name: str, value: Any, arrays: dict[str, Any]) -> Any:
        """An array-valued numeric option: 0-d (or 1-d where its rule has ``vector``, e.g. one
        value per class), moved to ``arrays``; DYNAMIC in the key."""
        if name not in self._dynamic_ok or not is_array_value(value):
            return value
        vector = getattr(self._rule(name), "vector", "")
        if len(value.shape) > (1 if vector else 0):
            allowed = f"a number, a 0-d array or a 1-d array ({vector})" if vector else "a number or a 0-d array"
            raise ValueError(f"{name}: expected {allowed}, got an array of shape {tuple(value.shape)}")
        arrays[name] = value
        return DYNAMIC

    # --------------------------------------------------- specialisations
    def specialise(self, backend: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a whole-loss kernel of this loss on ``backend`` (a decorator).

        ``@my_loss.spec.specialise("torch")`` over ``factory(be, options, reduction)``: for
        validated ``options`` (a dict of the static options) and a ``reduction``, it returns
        ``None`` (not handled) or ``fast(inputs, arrays)``, which computes exactly what the
        spec and :func:`unilosses.reduction.reduce` compute, or returns ``NotImplemented`` for
        inputs it does not handle (the spec then runs, with its checks and messages). Built
        once per (backend, options, reduction); used only without sample weights, element
        weights or a normalizer; the first call and every later one take the same path.
        The factory is written beside the spec it specialises.
        """

        def register(factory: Callable[..., Any]) -> Callable[..., Any]:
            self.specialisations[backend] = factory
            return factory

        return register

    def kernels(self, be: Any, key: tuple[Any, ...], reduction: str) -> tuple[Any, Callable[[CoreArgs], Any]]:
        """(registered kernel or None, core) for (backend, options, reduction), built once."""
        slot = self._kernels.slot(be.name, _constant_key(key), reduction, be)
        if not slot:  # a factory raised: raise it here
            return self._build_kernels(be.name, key, reduction, be)
        return getattr(self._kernels, slot)  # type: ignore[no-any-return]

    def _build_kernels(
        self, name: str, key: tuple[Any, ...], reduction: str, be: Any
    ) -> tuple[Any, Callable[[CoreArgs], Any]]:
        key = tuple(DYNAMIC if isinstance(v, str) and v == _DYNAMIC_KEY else v for v in key)
        factory = self.specialisations.get(be.name)
        fast = None
        if factory is not None and DYNAMIC not in key:
            fast = factory(be, dict(zip(self.static, key)), reduction)
        return fast, self._make_compiled_core(be, key, reduction)

    # ---------------------------------------------------------------- core
    def core(self, be: Any, key: tuple[Any, ...], reduction: str) -> Callable[[CoreArgs], Any]:
        """The per-(backend, options, reduction) function of one :class:`CoreArgs`, compiled
        where useful (a cached ``jax.jit`` on JAX)."""
        return self.kernels(be, key, reduction)[1]

    def _make_compiled_core(self, be: Any, key: tuple[Any, ...], reduction: str) -> Callable[[CoreArgs], Any]:
        return be.compile(self._make_core(be, key, reduction), (self.name, (be.name, key, reduction)))

    def _make_core(self, be: Any, key: tuple[Any, ...], reduction: str) -> Callable[[CoreArgs], Any]:
        fn, xp = self.fn, be.xp
        static = {o: v for o, v in zip(self.static, key) if v is not DYNAMIC}
        dynamic = tuple(o for o, v in zip(self.static, key) if v is DYNAMIC)
        names = self.arrays + dynamic
        bounds = [(i, getattr(self._rule(o), "bounds")) for i, o in enumerate(names) if o in dynamic]  # noqa: B009
        hints = tuple(c for c in CONTEXT[1:] if c in self.context)
        lead = self._lead
        numpy1 = be.name == "numpy" and NUMPY_1
        if "reduction" in self.context:
            static["reduction"] = reduction

        def run(args: CoreArgs) -> Any:
            opts = dict(zip(names, args.arrays))
            for h in hints:
                opts[h] = getattr(args, h)
            out = fn(be, *args.inputs, **static, **opts)
            extras = None
            if isinstance(out, Outputs):  # the loss, then outputs the spec reduced itself
                out, extras = out
            if not isinstance(out, PerSample):
                out = PerSample(out)
            values = out.values
            if numpy1 and values.ndim == 0 and values.dtype != args.inputs[lead].dtype:
                values = values.astype(args.inputs[lead].dtype)  # NumPy 1.x: 0-d float32 op Python float -> float64
            if bounds:  # an out-of-range array option makes the loss NaN (no silent number)
                ok = None
                for i, b in bounds:
                    inside = in_bounds(xp, args.arrays[i], b)
                    if inside.ndim:  # a 1-d option (one value per class): every value in range
                        inside = xp.all(inside)
                    ok = inside if ok is None else xp.logical_and(ok, inside)
                values = xp.where(ok, values, float("nan"))
            result = reduce(
                be, values, args.sample_weight, reduction, weight=out.weight, valid=out.valid,
                normalizer=args.normalizer, element_weight=args.element_weight,
            )
            return result if extras is None else (result, *extras)

        run.__name__ = self.name
        return run

    # ---------------------------------------------------------------- call
    def call(
        self,
        key: tuple[Any, ...],
        arrays: dict[str, Any],
        inputs: tuple[Any, ...],
        sample_weight: Any,
        reduction: str,
        normalizer: Any,
        element_weight: Any = None,
    ) -> Any:
        """The loss of ``inputs`` (in :attr:`inputs` order) with validated options.

        The input named :attr:`decides` (``y_pred``) picks the backend and the compute
        dtype; the other inputs (Python / NumPy values, or arrays of that framework)
        are moved to it: floating ``y_true`` in the compute dtype (integer labels as they
        are), the inputs of other specs in the compute dtype, except :attr:`integers`, which
        must hold integers.
        A kernel registered with :meth:`specialise` for the backend answers first where it
        applies (on the first call as on later ones).
        """
        li, lead_name = self._lead, self.decides
        lead = inputs[li]
        name = backend_of_type(type(lead))
        if name is None:
            lead, be = resolve(lead, lead_name)
        else:
            be = BACKENDS[name]
        # self.kernels(), inlined (the hot path); an array-valued numeric option puts DYNAMIC in the key
        ck = key if len(arrays) == len(self.arrays) else _constant_key(key)
        slot = self._kernels.slot(be.name, ck, reduction, be)
        fast, core = getattr(self._kernels, slot) if slot else self._build_kernels(be.name, key, reduction, be)
        if fast is not None and sample_weight is None and element_weight is None and normalizer is None:
            out = fast(inputs if inputs[li] is lead else (*inputs[:li], lead, *inputs[li + 1 :]), arrays)
            if out is not NotImplemented:
                return per_replica(be, out, reduction) if be.replicated else out
        try:
            dtype = be.compute_dtype(lead.dtype, lead_name)
        except TypeError as e:
            raise TypeError(self._dtype_hint(str(e), inputs)) from None
        if lead.dtype != dtype and self.cast:
            lead = be.xp.astype(lead, dtype)
        if len(inputs) == 2 and li == 1 and self.inputs == PAIR:
            y_true = convert(be, inputs[0], lead, "y_true")
            if self.cast and y_true.dtype != dtype and be.is_floating(y_true.dtype):
                y_true = be.xp.astype(y_true, dtype)  # float targets in the compute dtype (labels stay integers)
            xs: tuple[Any, ...] = (y_true, lead)
        else:
            cast = dtype if self.cast else None
            xs = tuple(
                lead if i == li else self._convert_input(be, x, lead, name, cast)
                for i, (name, x) in enumerate(zip(self.inputs, inputs))
            )
        if sample_weight is not None:
            sample_weight = convert(be, sample_weight, lead, "sample_weight", dtype, lead_name=lead_name)
        if element_weight is not None:
            element_weight = convert(be, element_weight, lead, "element_weight", dtype, lead_name=lead_name)
        if normalizer is not None:
            if reduction != "sum":
                raise ValueError(f"normalizer: only used with reduction='sum', got reduction={reduction!r}")
            normalizer = convert(be, normalizer, lead, "normalizer", dtype, lead_name=lead_name)
        if arrays is self._no_arrays:
            arr: tuple[Any, ...] = self._none_arrays
        else:
            arr = tuple(
                None if v is None else convert(be, v, lead, n, dtype, lead_name=lead_name) for n, v in arrays.items()
            )
            if len(arrays) != len(self.arrays) and be.concrete(lead):
                self._check_dynamic(be, arrays, arr[len(self.arrays) :])
        try:
            out = core(CoreArgs(xs, sample_weight, element_weight, normalizer, arr))
        except ValueError as e:
            if "its rank is unknown" not in str(e):
                raise
            unknown = [n for n, x in zip(self.inputs, xs) if getattr(getattr(x, "shape", None), "rank", 0) is None]
            raise ValueError(UNKNOWN_RANK.format(name=" and ".join(unknown) or self.decides)) from None
        return per_replica(be, out, reduction) if be.replicated else out

    def _convert_input(self, be: Any, x: Any, lead: Any, name: str, dtype: Any) -> Any:
        """An input other than the deciding one, in ``be``: floats in ``dtype`` (None: as they are), integer inputs as they are."""
        if name not in self.integers:
            return convert(be, x, lead, name, dtype, lead_name=self.decides)
        x = convert(be, x, lead, name, lead_name=self.decides)
        if x is not None and not be.is_integer(x.dtype):
            raise TypeError(f"{name}: expected an array of integers, got dtype {x.dtype}")
        return x

    def _check_dynamic(self, be: Any, arrays: dict[str, Any], values: tuple[Any, ...]) -> None:
        """Range checks of array-valued numeric options, on the host (concrete backends only)."""
        for name, v in zip(list(arrays)[len(self.arrays) :], values):
            rule = self._rule(name)
            for x in (be.host_float(v),) if v.ndim == 0 else (be.host_range(v) or ()):
                rule(name, x)

    def _dtype_hint(self, message: str, inputs: tuple[Any, ...]) -> str:
        if self.inputs == PAIR and _looks_float(inputs[0]) and not _looks_float(inputs[1]):
            message += (
                "; the arguments look swapped: unilosses takes (y_true, y_pred), Keras' order"
            )
        return message

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
