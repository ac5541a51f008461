"""Conformance cases: each loss, with options, against the frameworks' own losses.

A :class:`Case` names a unilosses loss, its options, how to draw random NumPy
inputs, and *references*: callables that compute the same per-sample values
with a framework's own implementation (torch.nn.functional, keras.losses,
optax, tf.nn), called live on the NumPy inputs. The test suite and
``python -m unilosses check`` both run these cases; each family lists its cases
in ``unilosses/conformance/<family>.py`` as ``CASES``.

A reference returns what unilosses returns with ``reduction="none"`` (per-sample
values), or with the case's ``reduction`` where the framework only gives a reduced
value (optax's ``ntxent``, a Keras class's masked mean); the mapping from the
framework's options to unilosses' is written in the reference itself, so each case
documents how to port that call.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = [
    "FAMILIES", "REFERENCE_PACKAGES", "Case", "ReferencePackage", "all_cases", "optax_reference", "ref_inputs",
    "ref_output", "reference_installed", "torch_inputs_loss", "torch_loss",
]

#: family modules holding CASES
FAMILIES = (
    "crossentropy",
    "focal",
    "linear",
    "crossentropy_variants",
    "sparsemax",
    "probabilistic",
    "margin",
    "multiclass_margin",
    "embedding",
    "ranking",
    "contrastive",
    "metric",
    "regression",
    "segmentation",
    "sequence",
)


class ReferencePackage(NamedTuple):
    """What a reference (a key of :attr:`Case.references`) needs."""

    #: the package that must be installed for the reference to run
    package: str
    #: the array framework a process imports to call it (Keras: TensorFlow, its backend in ``check``)
    framework: str


#: each reference's name -> its package and framework; ``"reference"``: a user's own, on NumPy
#: arrays (:mod:`unilosses.kit`), which imports what it needs itself
REFERENCE_PACKAGES: dict[str, ReferencePackage] = {
    "torch": ReferencePackage("torch", "torch"),
    "keras": ReferencePackage("keras", "tensorflow"),
    "tensorflow": ReferencePackage("tensorflow", "tensorflow"),
    "optax": ReferencePackage("optax", "jax"),
    "jax": ReferencePackage("jax", "jax"),
    "pml": ReferencePackage("pytorch_metric_learning", "torch"),
    "monai": ReferencePackage("monai", "torch"),
    "reference": ReferencePackage("numpy", "numpy"),
}


def reference_installed(name: str) -> bool:
    """Whether the package of the reference ``name`` (see :data:`REFERENCE_PACKAGES`) is installed."""
    return importlib.util.find_spec(REFERENCE_PACKAGES[name].package) is not None


class ReferenceUnavailableError(Exception):
    """Raised by a reference when the installed release of its framework cannot be compared with:
    it predates the loss or an option of it, or gives a value that a later release corrected. The
    message names the release and what it lacks; the comparison is skipped, not failed."""


def reference_unavailable(exc: BaseException) -> str | None:
    """Why a reference could not be compared with (``exc`` raised by it), or None for a real error:
    :class:`ReferenceUnavailableError`, or a framework module without the reference loss (older releases)."""
    if isinstance(exc, ReferenceUnavailableError):
        return str(exc)
    if isinstance(exc, AttributeError) and str(exc).startswith("module ") and "has no attribute" in str(exc):
        return f"the installed release has no such loss: {exc}"
    return None


def require_keywords(fn: Callable[..., Any], *names: str) -> None:
    """Raise :class:`ReferenceUnavailableError` unless the reference ``fn`` takes every keyword in
    ``names`` (an older release may lack an option, such as Keras 3.7's ``tversky`` without ``axis``)."""
    import inspect

    params = inspect.signature(fn).parameters
    missing = [n for n in names if n not in params]
    if missing and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        module = (getattr(fn, "__module__", None) or "?").split(".")[0]
        version = getattr(importlib.import_module(module), "__version__", "?") if module != "?" else "?"
        raise ReferenceUnavailableError(f"{module} {version}'s {fn.__name__} has no {', '.join(missing)}")


@dataclasses.dataclass(frozen=True)
class Case:
    """One loss call to check on every backend."""

    id: str
    loss: str  # name of the public unilosses function
    inputs: Callable[[np.random.Generator], tuple[Any, ...]]  # positional NumPy inputs
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    references: dict[str, Callable[..., Any]] = dataclasses.field(default_factory=dict)
    rtol: float = 1e-5
    atol: float = 1e-5
    #: options holding arrays (class_weight...), drawn with the inputs: name -> index into inputs
    array_options: dict[str, int] = dataclasses.field(default_factory=dict)
    #: the reduction whose result the references compute ("none": per-sample values)
    reduction: str = "none"
    #: the loss weighs or masks its samples itself, as class weights and ignored labels do
    #: (an anchor without a positive, a list without a valid item): counts and weight sums
    #: are then not those of the sample weights alone
    self_weighted: bool = False
    #: each sample's value depends on the other samples of the batch (contrastive losses):
    #: a NaN in one sample reaches the others
    batch_coupled: bool = False
    #: the loss itself when it is not unilosses' (a user's, from :mod:`unilosses.kit`); else by name
    function: Callable[..., Any] | None = None
    #: references whose values are compared but not their finite differences: computed in float32
    #: whatever their inputs' dtype (too coarse for finite differences), or a different function of
    #: the inputs off the case's domain (pml's Circle normalises the embeddings it is given)
    values_only: tuple[str, ...] = ()

    def resolve(self) -> Callable[..., Any]:
        """The loss function: :attr:`function`, or the unilosses function named :attr:`loss`."""
        if self.function is not None:
            return self.function
        import unilosses

        fn: Callable[..., Any] = getattr(unilosses, self.loss)
        return fn

    def call_args(self, arrays: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """(positional inputs, keyword options) for a call on ``arrays``."""
        n = len(arrays) - len(self.array_options)
        kw = dict(self.options)
        for name, i in self.array_options.items():
            kw[name] = arrays[i]
        return tuple(arrays[:n]), kw


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for fam in FAMILIES:
        cases += importlib.import_module(f"unilosses.conformance.{fam}").CASES
    return cases


def first_case_per_loss(cases: list[Case] | None = None) -> list[Case]:
    """Per loss, its first case (of ``cases``, default every case), in order: for checks of the shared
    dispatch code, and ``check --quick``."""
    first: dict[str, Case] = {}
    for c in all_cases() if cases is None else cases:
        first.setdefault(c.loss, c)
    return list(first.values())


def richest_case_per_loss() -> list[Case]:
    """Per loss, the case with the most options (the one whose computation takes the most paths):
    for checks that cost seconds a case (compilers, a Dask cluster), one per loss."""
    best: dict[str, Case] = {}
    for c in all_cases():
        n = len(c.options) + len(c.array_options)
        if c.loss not in best or n > len(best[c.loss].options) + len(best[c.loss].array_options):
            best[c.loss] = c
    return list(best.values())


def ref_inputs(framework: str, *arrays: Any, dtype: str = "float64") -> list[Any]:
    """NumPy arrays as ``framework`` arrays for a reference call (floats as ``dtype``)."""
    out: list[Any] = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            a = a.astype(dtype)
        if framework == "torch":
            import torch

            out.append(torch.as_tensor(a))
        elif framework in ("tensorflow", "keras"):
            import tensorflow as tf

            out.append(tf.convert_to_tensor(a))
        elif framework in ("jax", "optax"):
            import jax.numpy as jnp

            out.append(jnp.asarray(a))
        else:
            out.append(a)
    return out


def ref_output(x: Any) -> np.ndarray:
    """A reference's result (a torch, TensorFlow, JAX or NumPy array) as a NumPy array."""
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


def torch_loss(name: str, *, mean: bool = False, **kw: Any) -> Callable[..., Any]:
    """The reference ``torch.nn.functional.<name>(y_pred, y_true, reduction="none", **kw)`` of a
    ``(y_true, y_pred[, class_weight])`` case (a third input is torch's ``weight``), averaged over
    the last axis with ``mean`` (unilosses' ``axis=-1`` for element-wise losses)."""

    def ref(y: Any, s: Any, *w: Any) -> Any:
        import torch.nn.functional as F

        args = ref_inputs("torch", y, s, *w)
        extra = {"weight": args[2]} if w else {}
        out = ref_output(getattr(F, name)(args[1], args[0], reduction="none", **extra, **kw))
        return out.mean(-1) if mean else out

    return ref


def torch_inputs_loss(name: str, **kw: Any) -> Callable[..., Any]:
    """The reference ``torch.nn.functional.<name>(*inputs, reduction="none", **kw)`` of a pair or
    triplet case (the inputs in the same order)."""

    def ref(*arrays: Any) -> Any:
        import torch.nn.functional as F

        return ref_output(getattr(F, name)(*ref_inputs("torch", *arrays), reduction="none", **kw))

    return ref


def optax_reference(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A reference computed by ``fn`` (optax, or other JAX code) on the case's inputs as JAX
    arrays, floats in float32 (optax's precision without x64), returned as NumPy.

    ``fn`` stays available as the reference's ``jax`` attribute, so a test can compare
    ``jax.grad`` of unilosses with ``jax.grad`` of the framework's own loss (optax runs in
    float32: too coarse for finite differences).
    """

    def ref(*arrays: Any) -> np.ndarray:
        return ref_output(fn(*ref_inputs("optax", *arrays, dtype="float32")))

    ref.jax = fn  # type: ignore[attr-defined]
    return ref
