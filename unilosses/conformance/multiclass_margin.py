"""Conformance cases for the multiclass margins, against Keras, torch.nn.functional and optax.

Mappings: torch's ``multi_margin_loss`` divides by the number of classes C
(unilosses * (1 / C)); optax's class axis is the last one, so cases on another
class axis move it there before calling optax, and torch's ``multilabel_margin_loss``
takes (N, C): other layouts are moved and flattened into it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

B, K = 8, 6


# ------------------------------------------------------------------ inputs
def _scores(rng: np.random.Generator, shape: tuple[int, ...] = (B, K)) -> Any:
    return (rng.standard_normal(shape) * 1.5).astype(np.float32)


def _onehot(rng: np.random.Generator) -> tuple[Any, ...]:
    return np.eye(K, dtype=np.float32)[rng.integers(0, K, B)], _scores(rng)


def _sparse(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, K, B), _scores(rng)


def _sparse_weighted(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_sparse(rng), rng.uniform(0.2, 3.0, K).astype(np.float32))


def _sparse_axis1(rng: np.random.Generator) -> tuple[Any, ...]:
    return rng.integers(0, K, (B, 3)), _scores(rng, (B, K, 3))


def _target_lists(rng: np.random.Generator, n: int) -> Any:
    """-1-terminated target lists (N, K): every kind of row torch defines."""
    y = np.full((n, K), -1, dtype=np.int64)
    for i in range(n):
        c = rng.integers(0, K + 1)
        y[i, :c] = rng.permutation(K)[:c]
        if c + 1 < K:  # entries after the -1 are read by no one (but must lie in [-1, K))
            y[i, c + 1 :] = rng.integers(-1, K, K - c - 1)
    y[0] = -1  # no target
    y[1] = rng.permutation(K)  # every class a target: loss 0
    y[2, :3] = [4, 4, 1]  # a duplicate counts twice
    y[2, 3] = -1
    y[3, :2] = [2, -1]  # one target, garbage after the end
    return y


def _multilabel(rng: np.random.Generator) -> tuple[Any, ...]:
    return _target_lists(rng, B), _scores(rng)


def _multilabel_axis1(rng: np.random.Generator) -> tuple[Any, ...]:
    y = np.moveaxis(_target_lists(rng, B * 2).reshape(B, 2, K), -1, 1)
    return y, _scores(rng, (B, K, 2))


# -------------------------------------------------------------- references
def _keras(name: str) -> Any:
    def ref(y: Any, p: Any) -> Any:
        import keras

        return ref_output(getattr(keras.losses, name)(y.astype(np.float64), p.astype(np.float64)))

    return ref


def _torch_multi_margin(p: int, margin: float) -> Any:
    def ref(y: Any, s: Any, *w: Any) -> Any:
        import torch.nn.functional as F

        args = ref_inputs("torch", y, s, *w)
        weight = args[2] if w else None
        return ref_output(F.multi_margin_loss(args[1], args[0], p=p, margin=margin, weight=weight, reduction="none")) * s.shape[-1]  # * C

    return ref


def _optax(name: str, axis: int = -1) -> Any:
    """optax.losses.<name>(scores, labels) with the class axis ``axis`` moved last."""

    def ref(y: Any, s: Any) -> Any:
        import optax

        y, s = ref_inputs("jax", y, np.moveaxis(s, axis, -1), dtype="float32")
        return ref_output(getattr(optax.losses, name)(s, y))

    return ref


def _torch_multilabel(axis: int = -1) -> Any:
    """F.multilabel_margin_loss on (N, C): the class axis moved last, the others flattened."""

    def ref(y: Any, s: Any) -> Any:
        import torch.nn.functional as F

        y, s = (np.moveaxis(a, axis, -1) for a in (y, s))
        s_t, y_t = ref_inputs("torch", s.reshape(-1, K), y.reshape(-1, K))
        return ref_output(F.multilabel_margin_loss(s_t, y_t, reduction="none")).reshape(s.shape[:-1])

    return ref


CASES = [
    Case("categorical_hinge", "categorical_hinge", _onehot, references={"keras": _keras("categorical_hinge")}),
    Case(
        "multiclass_hinge",
        "multiclass_hinge",
        _sparse,
        references={"torch": _torch_multi_margin(1, 1.0)},
    ),
    Case(
        "multiclass_hinge-squared-margin",
        "multiclass_hinge",
        _sparse,
        {"squared": True, "margin": 0.5},
        references={"torch": _torch_multi_margin(2, 0.5)},
    ),
    Case(
        "multiclass_hinge-class_weight",
        "multiclass_hinge",
        _sparse_weighted,
        {"squared": True, "margin": 0.7},
        references={"torch": _torch_multi_margin(2, 0.7)},
        array_options={"class_weight": 2},
    ),
    Case(
        "multiclass_hinge-negative-margin",
        "multiclass_hinge",
        _sparse,
        {"squared": True, "margin": -0.3},
        references={"torch": _torch_multi_margin(2, -0.3)},
    ),
    Case(
        "crammer_singer_hinge",
        "crammer_singer_hinge",
        _sparse,
        references={"optax": _optax("multiclass_hinge_loss")},
    ),
    Case(
        "crammer_singer_hinge-axis1",
        "crammer_singer_hinge",
        _sparse_axis1,
        {"axis": 1},
        references={"optax": _optax("multiclass_hinge_loss", axis=1)},
    ),
    Case(
        "multiclass_perceptron",
        "multiclass_perceptron",
        _sparse,
        references={"optax": _optax("multiclass_perceptron_loss")},
    ),
    Case(
        "multiclass_perceptron-axis1",
        "multiclass_perceptron",
        _sparse_axis1,
        {"axis": 1},
        references={"optax": _optax("multiclass_perceptron_loss", axis=1)},
    ),
    Case(
        "multilabel_margin",
        "multilabel_margin",
        _multilabel,
        references={"torch": _torch_multilabel()},
    ),
    Case(
        "multilabel_margin-axis1",
        "multilabel_margin",
        _multilabel_axis1,
        {"axis": 1},
        references={"torch": _torch_multilabel(axis=1)},
    ),
]
