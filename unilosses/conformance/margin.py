"""Conformance cases for the margin family (a label per element), against Keras, torch.nn.functional and optax.

Each reference states its mapping: torch's and optax's element-wise losses are
averaged over the last axis (unilosses' ``axis=-1``) unless the case uses
``axis=None``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output, torch_loss

B, D, K = 8, 5, 6


def _f64(x: Any) -> Any:
    return x.astype(np.float64) if x.dtype.kind == "f" else x


# ------------------------------------------------------------------ inputs
def _scores(rng: np.random.Generator, shape: tuple[int, ...] = (B, D)) -> Any:
    return (rng.standard_normal(shape) * 1.5).astype(np.float32)


def _signed(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.choice([-1.0, 1.0], (B, D)).astype(np.float32), _scores(rng)


def _binary01(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, 2, (B, D)).astype(np.float32), _scores(rng)


def _mixed(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, 2, (B, D)).astype(np.float32)
    y[3, 2] = -1.0  # one label outside {0, 1}: Keras keeps all labels as given
    return y, _scores(rng)


def _soft_targets(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.integers(0, 2, (B, K)).astype(np.float32)
    y[0] = rng.uniform(0, 1, K)
    return y, (rng.standard_normal((B, K)) * 4).astype(np.float32)


def _soft_targets_w(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_soft_targets(rng), rng.uniform(0.2, 3.0, K).astype(np.float32))


# -------------------------------------------------------------- references
def _keras(name: str) -> Any:
    def ref(y: Any, p: Any) -> Any:
        import keras

        return ref_output(getattr(keras.losses, name)(_f64(y), _f64(p)))

    return ref


def _optax(name: str, mean: bool) -> Any:
    """optax.losses.<name>(scores, labels) for labels in {-1, 1} (element-wise; ``mean``: over the last axis)."""

    def ref(y: Any, s: Any) -> Any:
        import optax

        y, s = ref_inputs("jax", y, s, dtype="float32")
        out = ref_output(getattr(optax.losses, name)(s, y))
        return out.mean(-1) if mean else out

    return ref


CASES = [
    Case(
        "hinge-signed-labels",
        "hinge",
        _signed,
        references={"keras": _keras("hinge"), "optax": _optax("hinge_loss", mean=True)},
    ),
    Case("hinge-01-labels", "hinge", _binary01, references={"keras": _keras("hinge")}),
    Case("hinge-mixed-labels-unconverted", "hinge", _mixed, references={"keras": _keras("hinge")}),
    Case(
        "hinge-elementwise-optax",
        "hinge",
        _signed,
        {"axis": None},
        references={"optax": _optax("hinge_loss", mean=False)},
    ),
    Case("squared_hinge-signed-labels", "squared_hinge", _signed, references={"keras": _keras("squared_hinge")}),
    Case("squared_hinge-01-labels", "squared_hinge", _binary01, references={"keras": _keras("squared_hinge")}),
    Case(
        "perceptron-signed-labels",
        "perceptron",
        _signed,
        references={"optax": _optax("perceptron_loss", mean=True)},
    ),
    Case(
        "perceptron-elementwise-optax",
        "perceptron",
        _signed,
        {"axis": None},
        references={"optax": _optax("perceptron_loss", mean=False)},
    ),
    Case(
        "soft_margin",
        "soft_margin",
        _signed,
        references={"torch": torch_loss("soft_margin_loss", mean=True)},
    ),
    Case(
        "soft_margin-elementwise",
        "soft_margin",
        _signed,
        {"axis": None},
        references={"torch": torch_loss("soft_margin_loss")},
    ),
    Case(
        "multilabel_soft_margin",
        "multilabel_soft_margin",
        _soft_targets,
        references={"torch": torch_loss("multilabel_soft_margin_loss")},
    ),
    Case(
        "multilabel_soft_margin-class_weight",
        "multilabel_soft_margin",
        _soft_targets_w,
        references={"torch": torch_loss("multilabel_soft_margin_loss")},
        array_options={"class_weight": 2},
    ),
]
