"""Every unilosses loss as a ``torch.nn.Module`` with torch's argument order.

Importing this module imports torch and builds one module class per unilosses
Loss class, under the same name (from the ``Loss`` classes each family module of
:data:`unilosses.FAMILIES` lists in ``__all__``)::

    import unilosses.torch

    criterion = unilosses.torch.SparseCategoricalCrossentropy(
        from_logits=True, class_weight=w, axis=1, reduction="mean_with_sample_weight")
    loss = criterion(logits, labels)            # torch.nn.CrossEntropyLoss(weight=w)(logits, labels)
    loss = criterion(logits, labels, sample_weight=sw)

- ``forward(input, target, sample_weight=None)``: torch's order (the unilosses
  function takes ``(y_true, y_pred)``), then any other input:
  ``GaussianNLL.forward(input, target, var)``. Losses with other inputs keep them in
  the function's order, which is torch's: ``forward(x1, x2, target)``,
  ``forward(anchor, positive, negative)``; a function whose first input is ``y_true``
  and that has no ``y_pred`` takes it as ``target`` after its other required inputs,
  optional ones last:
  ``LinearCrossEntropy.forward(hidden, weight, target, bias=None)`` (Liger-Kernel's
  fused linear cross-entropy takes ``(weight, hidden, target, bias)``).
- Options are those of the unilosses function, with its defaults and checks
  (``from_logits=False`` and ``axis=-1`` by default: pass ``from_logits=True,
  axis=1`` for torch's ``CrossEntropyLoss`` on ``(N, C, ...)`` logits).
- Array options (``class_weight``, ``pos_weight``...) are registered buffers:
  they follow ``.to(device / dtype)`` and appear in ``state_dict()``.
- ``reduction`` defaults to ``"sum_over_batch_size"`` (Keras' mean, as the
  unilosses Loss classes). torch's ``"mean"`` differs with class weights: it
  divides by the sum of the samples' class weights, which is
  ``reduction="mean_with_sample_weight"`` here. ``"mean"`` here is Keras' alias
  of ``"sum_over_batch_size"``.

Your own losses: :func:`module` makes the same ``nn.Module`` class from a loss you
wrote (a :class:`unilosses.Loss` subclass or a ``@unilosses.loss`` function)::

    FocalTversky = unilosses.torch.module(mylosses.FocalTversky)
    criterion = FocalTversky(alpha=0.7, class_weight=w)   # class_weight: a buffer
    criterion(probs, masks).backward()
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

import unilosses
from unilosses.torch_lm_head import fuse_lm_head, unfuse_lm_head

__all__ = ["Loss", "fuse_lm_head", "module", "unfuse_lm_head"]

_PAIR = ("y_true", "y_pred")


def _buffer(name: str, value: Any) -> torch.Tensor | None:
    """An array option as a tensor; non-floating values become the default float dtype."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() else value.to(torch.get_default_dtype())
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected an array of numbers, got {value!r}")
    t = torch.as_tensor(arr)
    return t.to(torch.get_default_dtype()) if arr.dtype.kind != "f" else t


class Loss(torch.nn.Module):
    """Base class: a unilosses Loss class as a ``torch.nn.Module``.

    Subclasses set ``unilosses_class``; this module builds one per unilosses Loss
    class. The constructor takes the unilosses class's options (validated by it,
    with the same messages) and ``reduction``.

    Parameters
    ----------
    reduction : str
        See :class:`unilosses.Reduction`; default ``"sum_over_batch_size"``.
        torch's ``"mean"`` with class weights is ``"mean_with_sample_weight"``.
    **options
        The loss's options. Array options (``class_weight``...) become buffers.
    """

    unilosses_class: ClassVar[type[unilosses.FunctionLoss]]
    function: ClassVar[Callable[..., Any]]

    def __init__(self, *, reduction: Any = "sum_over_batch_size", **options: Any) -> None:
        super().__init__()
        if "name" in options:
            raise TypeError(f"{type(self).__name__}: unexpected option 'name' (torch modules have none)")
        core = self.unilosses_class(reduction=reduction, **options)
        spec = core.spec
        self.reduction = core.reduction
        self._spec = spec
        self._static = {n: core.options[n] for n in spec.static}
        self._array_names = tuple(spec.arrays)
        for n in self._array_names:
            self.register_buffer(n, _buffer(n, options.get(n)))

    def _options(self) -> dict[str, Any]:
        return {**self._static, **{n: getattr(self, n) for n in self._array_names}}

    def forward(self, *inputs: Any, sample_weight: Any = None) -> Any:
        """The loss of ``inputs`` in torch's order (see the class's signature).

        Parameters
        ----------
        *inputs : torch.Tensor
            ``(input, target)`` for ``(y_true, y_pred)`` losses; otherwise the
            function's inputs in its order (``(x1, x2, target)``...).
        sample_weight : torch.Tensor, optional
            Broadcast against the per-sample loss.

        Returns
        -------
        torch.Tensor
            A scalar, or the per-sample values for ``reduction="none"``.
        """
        spec = self._spec
        n = len(spec.inputs)
        required = n - len(spec.optional)  # optional inputs (a head's bias, CTC's lengths) come last
        if not required <= len(inputs) <= n:
            count = f"{required} to {n}" if required < n else f"{n}"
            raise TypeError(
                f"{type(self).__name__}.forward: expected {count} inputs "
                f"({', '.join(self._forward_names())}), got {len(inputs)}"
            )
        if spec.inputs != _PAIR:  # by name: forward's order is torch's, the function's is its own
            to_spec = _spec_names(spec)
            named = {to_spec.get(f, f): x for f, x in zip(self._forward_names(), inputs)}
            return self.function(**named, sample_weight=sample_weight, reduction=self.reduction, **self._options())
        try:
            return self.function(
                inputs[1], inputs[0], sample_weight=sample_weight, reduction=self.reduction, **self._options()
            )
        except (ValueError, TypeError) as e:  # name torch's parameters, as the user passed them
            raise type(e)(_torch_names(str(e))) from None

    @classmethod
    def _forward_names(cls) -> tuple[str, ...]:
        return _input_names(cls.unilosses_class.function.spec)  # type: ignore[attr-defined]

    def extra_repr(self) -> str:
        """The options that differ from their defaults, and ``reduction``."""
        defaults = self._spec.options
        parts = [f"{n}={v!r}" for n, v in self._static.items() if v != defaults[n]]
        for n in self._array_names:
            t = getattr(self, n)
            if t is not None:
                shown = t.tolist() if t.numel() <= 8 else f"<tensor of shape {tuple(t.shape)}>"
                parts.append(f"{n}={shown}")
        parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)


def _spec_names(spec: Any) -> dict[str, str]:
    """forward's names (:func:`_input_names`) that differ from the function's: ``input`` and
    ``target`` for ``y_pred`` and ``y_true``."""
    return {"input": "y_pred", "target": "y_true"} if "y_true" in spec.inputs else {}


def _input_names(spec: Any) -> tuple[str, ...]:
    """forward's input names: ``(input, target)`` for ``(y_true, y_pred)``, then the other
    inputs (torch's ``GaussianNLLLoss(input, target, var)``); without ``y_pred``, ``y_true`` as
    ``target`` after the other required inputs (Liger's ``(hidden, weight, target)``); optional
    inputs last."""
    if "y_pred" in spec.inputs:
        return ("input", "target", *(n for n in spec.inputs if n not in _PAIR))
    if spec.inputs[0] != "y_true":
        return tuple(spec.inputs)
    required = [n for n in spec.inputs[1:] if n not in spec.optional]
    return (*required, "target", *(n for n in spec.inputs if n in spec.optional))


_NAMES = re.compile(r"\by_(pred|true)\b")


def _torch_names(message: str) -> str:
    """A message of the unilosses function with torch's names: ``input`` and ``target``, and
    arguments in torch's order."""
    message = message.replace("(y_true, y_pred), Keras' order", "(input, target), torch's order here")
    return _NAMES.sub(lambda m: "input" if m.group(1) == "pred" else "target", message)


def _forward_signature(names: tuple[str, ...], optional: frozenset[str] = frozenset()) -> inspect.Signature:
    kind, empty = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty
    params = [inspect.Parameter("self", kind)]
    params += [inspect.Parameter(n, kind, default=None if n in optional else empty) for n in names]
    params.append(inspect.Parameter("sample_weight", kind, default=None))
    return inspect.Signature(params)


def _adapter(core: type[unilosses.FunctionLoss]) -> type[Loss]:
    """The ``torch.nn.Module`` class of the unilosses Loss class ``core``."""
    name = core.__name__
    fn = core.function
    names = _input_names(fn.spec)  # type: ignore[attr-defined]
    signature = _forward_signature(names, fn.spec.optional)  # type: ignore[attr-defined]

    def forward(self: Loss, *args: Any, sample_weight: Any = None, **named: Any) -> Any:
        if named or len(args) > len(names):  # inputs by name, or a positional sample_weight
            if sample_weight is not None:
                named["sample_weight"] = sample_weight
            bound = signature.bind(self, *args, **named)
            args = tuple(bound.arguments.get(n) for n in names)
            sample_weight = bound.arguments.get("sample_weight")
        return Loss.forward(self, *args, sample_weight=sample_weight)

    forward.__signature__ = signature  # type: ignore[attr-defined]
    forward.__doc__ = Loss.forward.__doc__
    forward.__qualname__ = f"{name}.forward"
    doc = (
        f"torch form of :class:`unilosses.{name}` (the loss :func:`unilosses.{fn.__name__}`).\n\n"
        f"``forward({', '.join(names)}, sample_weight=None)``; takes the options of "
        f":func:`unilosses.{fn.__name__}` and ``reduction`` (see :class:`unilosses.torch.Loss`).\n"
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
            "forward": forward,
        },
    )
    params = [p for p in inspect.signature(core).parameters.values() if p.name != "name"]
    cls.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return cls


class _CallModule(torch.nn.Module):
    """A Keras-style :class:`unilosses.Loss` subclass (one that overrides ``call``) as a
    ``torch.nn.Module``: ``forward(input, target, sample_weight=None)`` calls it."""

    unilosses_class: ClassVar[type[unilosses.Loss]]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.loss = self.unilosses_class(**kwargs)

    def forward(self, input: Any, target: Any, sample_weight: Any = None) -> Any:  # noqa: A002 - torch's name
        return self.loss(target, input, sample_weight)

    def extra_repr(self) -> str:
        return repr(self.loss)


def module(loss: Any) -> type[torch.nn.Module]:
    """Your loss as a ``torch.nn.Module`` class, with torch's argument order.

    Parameters
    ----------
    loss : unilosses.Loss subclass, or a function made with ``@unilosses.loss``
        A subclass with ``function = ...`` (or the function itself) gives what the
        built-in modules give (see :class:`Loss`: its options, ``reduction``, array
        options as buffers that follow ``.to()`` and live in ``state_dict``). A
        Keras-style subclass that overrides ``call()`` gives a module whose
        constructor takes the subclass's arguments and whose ``forward(input,
        target, sample_weight=None)`` calls it.

    Returns
    -------
    type
        A ``torch.nn.Module`` subclass named after ``loss``'s class (save its
        ``state_dict``; the class is made at run time, so pickling the whole module
        needs your own importable subclass of it).
    """
    core = unilosses.authoring.loss_class(loss)
    if issubclass(core, unilosses.FunctionLoss):
        return _adapter(core)
    cls = type(core.__name__, (_CallModule,), {"__qualname__": core.__name__, "unilosses_class": core})
    cls.__signature__ = inspect.signature(core)  # type: ignore[attr-defined]
    return cls


def _build() -> list[str]:
    for name, core in unilosses.loss_classes().items():
        globals()[name] = _adapter(core)
    return list(unilosses.loss_classes())


__all__ += _build()
