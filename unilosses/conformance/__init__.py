"""Conformance cases: each loss, with options, against the frameworks' own losses.

A :class:`Case` names a unilosses loss, its options, how to draw random NumPy
inputs, and *references*: callables that compute the same per-sample values
with a framework's own implementation (torch.nn.functional, keras.losses,
optax, tf.nn), called live on the NumPy inputs. The test suite and
``python -m unilosses check`` both run these cases; each family lists its cases
in ``unilosses/conformance/<family>.py`` as ``CASES``.

A reference returns what unilosses returns with ``reduction="none"`` (per-sample
values); the mapping from the framework's options to unilosses' is written in the
reference itself, so each case documents how to port that call.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import numpy as np

__all__ = ["Case", "FAMILIES", "all_cases", "ref_inputs", "ref_output"]

#: family modules holding CASES
FAMILIES = ("crossentropy", "focal", "linear", "probabilistic", "margin", "regression", "segmentation", "sequence")


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
    #: the loss itself when it is not unilosses' (a user's, from :mod:`unilosses.kit`); else by name
    function: Callable[..., Any] | None = None

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
