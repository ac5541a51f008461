"""Your loss and your example inputs, as the conformance cases ``check`` runs.

:class:`LossCase` is what a user writes; :func:`to_case` makes it a
:class:`unilosses.conformance.Case` (the type ``python -m unilosses check`` runs),
with the loss adapted by :func:`as_function` to the signature of a unilosses
function: ``fn(*inputs, **options, sample_weight=None, reduction="none")``.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
from typing import Any, Callable

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

__all__ = ["LossCase", "as_function", "decides", "module_cases", "to_case"]

_PAIR = ("y_true", "y_pred")


@dataclasses.dataclass(frozen=True)
class LossCase:
    """One example call of your loss, for :func:`unilosses.testing.check_loss` and
    ``python -m unilosses check --module``.

    Parameters
    ----------
    loss
        A function made with ``@unilosses.loss``, a :class:`unilosses.Loss` subclass
        (with ``function = ...`` or a Keras-style ``call()``; ``options`` are its
        constructor's arguments), a :class:`unilosses.Loss` object, or any callable
        with a unilosses function's signature ``fn(*inputs, sample_weight=None,
        reduction="none", **options)``.
    inputs : tuple of NumPy arrays (or Python lists), or a function of a ``numpy.random.Generator``
        The positional inputs (``(y_true, y_pred)``...): float32 or float64, integer labels as
        integers. Keep them small (a few dozen entries): gradients are checked by finite
        differences along three random directions, entry by entry where one crosses a kink.
    options : dict
        Keyword options; NumPy arrays among them (class weights...) are converted to each
        backend like the inputs.
    id : str, optional
        The row's name in the report (default: the loss's name and the case's position).
    reference : callable or dict, optional
        An implementation to compare with (``reduction="none"``: the per-sample values),
        called as ``reference(*inputs)``: a callable takes float64 NumPy arrays; a dict
        ``{"torch": fn}`` (or ``"jax"``, ``"tensorflow"``, ``"keras"``, ``"optax"``) gets the
        inputs as float64 arrays of that framework (your old torch loss as is). Bind
        options with a lambda. Values are compared on every backend, and gradients
        (finite differences of a float64 reference) on each autodiff backend.
    rtol, atol : float
        Tolerances of the value comparisons (float32 against NumPy on the same inputs).
    """

    loss: Any
    inputs: Any
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: str | None = None
    reference: Any = None
    rtol: float = 1e-5
    atol: float = 1e-5


def _loss_class(loss: Any) -> Any:
    """The :class:`unilosses.Loss` class of a Loss subclass or object, else None."""
    from unilosses import Loss

    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss
    return type(loss) if isinstance(loss, Loss) else None


def _spec(loss: Any) -> Any:
    from unilosses import FunctionLoss

    cls = _loss_class(loss)
    if cls is not None:
        return cls.function.spec if issubclass(cls, FunctionLoss) else None
    return getattr(loss, "spec", None)


def _name(loss: Any) -> str:
    return str(getattr(_loss_class(loss) or loss, "__name__", type(loss).__name__))


def _input_names(loss: Any) -> tuple[str, ...]:
    spec = _spec(loss)
    if spec is not None:
        return tuple(spec.inputs)
    if _loss_class(loss) is not None:
        return _PAIR
    params = inspect.signature(loss).parameters.values()
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def decides(loss: Any) -> str:
    """The name of the input whose framework, device and dtype the result follows."""
    spec = _spec(loss)
    if spec is not None:
        return str(spec.decides)
    names = _input_names(loss)
    return "y_pred" if "y_pred" in names else names[0]


def _follow_input_dtype(obj: Any) -> Any:
    """A Keras-style loss object computing in its inputs' dtype (float64 for finite
    differences), not in Keras' floatx: the kit checks the math, not the conversion."""
    obj.follow_input_dtype()
    return obj


def as_function(loss: Any) -> Callable[..., Any]:
    """``loss`` as ``fn(*inputs, sample_weight=None, reduction="none", **options)``."""
    from unilosses.authoring import is_loss_function

    if is_loss_function(loss):
        return loss  # type: ignore[no-any-return]
    from unilosses import Loss
    from unilosses.reduction import canonical_reduction

    if isinstance(loss, type) and issubclass(loss, Loss):
        cls = loss

        def fn(*inputs: Any, sample_weight: Any = None, reduction: Any = "none", **options: Any) -> Any:
            return _follow_input_dtype(cls(reduction=reduction, **options))(*inputs, sample_weight=sample_weight)

    elif isinstance(loss, Loss):
        obj = loss

        def fn(*inputs: Any, sample_weight: Any = None, reduction: Any = "none", **options: Any) -> Any:
            if options:
                raise TypeError(f"{type(obj).__name__} object: options {sorted(options)} belong in its constructor")
            mine = copy.copy(obj)
            mine.reduction = canonical_reduction(reduction)
            return _follow_input_dtype(mine)(*inputs, sample_weight=sample_weight)

    elif callable(loss):
        return loss  # type: ignore[no-any-return]
    else:
        raise TypeError(f"loss: expected a loss function, a unilosses.Loss subclass or object, got {loss!r}")
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(n, kind) for n in _input_names(loss)]
    params += [
        inspect.Parameter("sample_weight", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("reduction", inspect.Parameter.KEYWORD_ONLY, default="none"),
    ]
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    fn.__name__ = _name(loss)
    return fn


def _reference(framework: str, ref: Callable[..., Any], n: int) -> Callable[..., Any]:
    """A reference as a Case's: NumPy inputs (and array options, dropped) -> float64 NumPy."""

    def call(*arrays: Any) -> Any:
        return np.asarray(ref_output(ref(*ref_inputs(framework, *arrays[:n]))), dtype=np.float64)

    return call


def _references(reference: Any, n: int) -> dict[str, Callable[..., Any]]:
    if reference is None:
        return {}
    if callable(reference):
        reference = {"reference": reference}
    if not isinstance(reference, dict):
        raise TypeError(f"reference: expected a callable or a dict {{framework: callable}}, got {reference!r}")
    known = ("reference", "torch", "jax", "tensorflow", "keras", "optax")
    unknown = set(reference) - set(known)
    if unknown:
        raise ValueError(f"reference: unknown framework(s) {sorted(unknown)}; expected keys among {known}")
    return {fw: _reference(fw, ref, n) for fw, ref in reference.items()}


def to_case(lc: LossCase, index: int = 0, reference: Any = None) -> Case:
    """``lc`` as a conformance :class:`Case` (``reference``: the default when ``lc`` has none)."""
    fn = as_function(lc.loss)
    if callable(lc.inputs):
        draw = lc.inputs
    else:
        fixed = tuple(lc.inputs)

        def draw(rng: np.random.Generator) -> tuple[Any, ...]:
            return fixed

    options = {k: v for k, v in lc.options.items() if not isinstance(v, (np.ndarray, list))}
    arrays = {k: np.asarray(v) for k, v in lc.options.items() if k not in options}

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        xs = tuple(np.array(x, copy=True) for x in draw(rng))  # copies: a loss that writes into its inputs spoils no other run
        for i, x in enumerate(xs):
            if x.dtype == np.float16 or x.dtype.kind not in "biuf":
                raise TypeError(f"inputs[{i}]: expected float32, float64, integer or boolean NumPy data, got {x.dtype}")
        return xs + tuple(a.copy() for a in arrays.values())

    n = len(_input_names(lc.loss))
    return Case(
        id=lc.id or f"{fn.__name__}-{index}",
        loss=fn.__name__,
        inputs=inputs,
        options=options,
        references=_references(lc.reference if lc.reference is not None else reference, n),
        rtol=lc.rtol,
        atol=lc.atol,
        array_options={k: n + i for i, k in enumerate(arrays)},
        function=fn,
    )


def module_cases(name: str) -> list[LossCase]:
    """The :class:`LossCase` list ``CASES`` of the module ``name`` (imported)."""
    module = importlib.import_module(name)
    cases = getattr(module, "CASES", None)
    if not isinstance(cases, (list, tuple)) or not all(isinstance(c, LossCase) for c in cases):
        raise ValueError(
            f"--module {name}: expected a list CASES of unilosses.testing.LossCase in the module "
            f"(your losses with example inputs), got {type(cases).__name__}"
        )
    return list(cases)
