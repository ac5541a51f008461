"""The ``@loss`` decorator: a spec function becomes the public loss function.

A loss is written once as a *spec function* ``f(be, y_true, y_pred, *, options)``
over a backend ``be`` (namespace ``be.xp`` plus fused primitives). It returns
the per-sample values, or ``PerSample(values, weight, valid)``. :func:`loss`
turns it into the public function ``f(y_true, y_pred, *, options,
sample_weight=None, element_weight=None, reduction="none", normalizer=None)``;
:class:`unilosses.spec.Spec` does the work of a call (validation once per option
set, conversion to y_pred's framework, 16-bit in float32, the cached core) and
:mod:`unilosses.rules` holds the option rules.

Pair and triplet losses declare their inputs: ``@loss(inputs=("x1", "x2",
"target"))`` over ``f(be, x1, x2, target, *, options)`` gives
``f(x1, x2, target, *, options, sample_weight=None, ...)``; the input named by
``decides`` (the first by default) plays y_pred's part. Inputs named in
``integers`` (labels, lengths) must hold integers and keep their dtype; an input
whose spec parameter defaults to None is optional (``bias=None``). ``cast=False``
leaves every input in its own dtype (the spec casts what it needs). A spec
function that names ``reduction``, ``sample_weight`` or ``element_weight`` among
its keyword parameters receives them as hints (:data:`unilosses.spec.CONTEXT`).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Protocol, cast

from unilosses.docstrings import COMMON, with_common_parameters
from unilosses.reduction import canonical_reduction
from unilosses.spec import PAIR, Spec

__all__ = ["LossFunction", "loss", "not_for_autograph"]

class LossFunction(Protocol):
    """A public loss function (what :func:`loss` returns): callable, with its :class:`Spec`."""

    spec: Spec
    __name__: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


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
    inputs: tuple[str, ...] = PAIR,
    decides: str | None = None,
    check: Callable[..., Any] | None = None,
    rules: dict[str, Callable[[str, Any], Any]] | None = None,
    integers: tuple[str, ...] = (),
    cast: bool = True,
) -> Callable[[Callable[..., Any]], LossFunction]:
    """Turn a spec function into the public loss function (see the module doc).

    ``check(**static_options)`` runs after the per-option rules (for rules that
    involve several options; an array-valued numeric option appears as
    :data:`unilosses.rules.DYNAMIC`); ``rules`` replaces the shared rule of an
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

    def wrap(fn: Callable[..., Any]) -> LossFunction:
        spec = Spec(fn, arrays, inputs, decides, check, rules, integers, cast)
        if spec.inputs != PAIR:
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


def _finish(public: Callable[..., Any], spec: Spec) -> LossFunction:
    signature = _public_signature(spec)
    public.__signature__ = signature  # type: ignore[attr-defined]
    names = tuple(n for n in COMMON if n in signature.parameters)
    public.__doc__ = with_common_parameters(inspect.cleandoc(public.__doc__ or ""), names)
    not_for_autograph(public)
    del public.__wrapped__  # type: ignore[attr-defined]  # help() shows the public signature, not the spec's
    public.spec = spec  # type: ignore[attr-defined]
    return cast(LossFunction, public)


def _public_inputs(fn: Callable[..., Any], spec: Spec) -> LossFunction:
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


def not_for_autograph(fn: Callable[..., Any]) -> None:
    """Mark ``fn`` so that ``tf.function``'s AutoGraph calls it as it is (an "AutoGraph artifact"):
    losses have no Python control flow on tensor values, and a rewritten validation would break."""
    fn.autograph_info__ = {}  # type: ignore[attr-defined]
