"""Conformance cases for the regression family, against Keras, torch and optax.

Each reference states the mapping: torch and optax return element-wise values,
so their output is averaged over the last axis (unilosses' default ``axis=-1``)
or compared as is (``axis=None``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

B, D = 8, 5


# ------------------------------------------------------------------ inputs
def _pairs(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.standard_normal((B, D)).astype(np.float32)
    p = (y + rng.standard_normal((B, D)) * 1.5).astype(np.float32)
    return y, p


def _pairs_3d(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.standard_normal((3, 4, D)).astype(np.float32)
    p = (y + rng.standard_normal((3, 4, D))).astype(np.float32)
    return y, p


def _int_targets(rng: np.random.Generator) -> tuple[Any, ...]:
    # integer targets, cast to y_pred's dtype (Keras)
    return rng.integers(0, 3, (B, D)), rng.uniform(0, 3, (B, D)).astype(np.float32)


def _percent(rng: np.random.Generator) -> tuple[Any, ...]:
    y = (rng.uniform(0.5, 3.0, (B, D)) * rng.choice([-1.0, 1.0], (B, D))).astype(np.float32)
    p = (y + rng.standard_normal((B, D))).astype(np.float32)
    y[0, 0], p[0, 0] = 0.0, 1e-9  # |y_true| floored at 1e-7: 100 * 1e-9 / 1e-7 = 1
    return y, p


def _log_targets(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.uniform(0.0, 5.0, (B, D)).astype(np.float32)
    p = rng.uniform(0.0, 5.0, (B, D)).astype(np.float32)
    y[0, 0], p[1, 1], p[2, 2] = -0.5, -0.5, 0.0  # raised to 1e-7
    return y, p


def _large_errors(rng: np.random.Generator) -> tuple[Any, ...]:
    y, p = _pairs(rng)
    p[0, 0], p[1, 1] = y[0, 0] + 60.0, y[1, 1] - 200.0  # cosh overflows float32 here
    return y, p


def _vectors(rng: np.random.Generator) -> tuple[Any, ...]:
    y, p = _pairs(rng)
    y[0] = 0.0  # a zero vector: the loss is 0
    return y, p


# -------------------------------------------------------------- references
def _keras(name: str, **kw: Any) -> Any:
    def ref(y: Any, p: Any) -> Any:
        import keras

        y = y.astype(np.float64) if y.dtype.kind == "f" else y
        return ref_output(getattr(keras.losses, name)(y, p.astype(np.float64), **kw))

    return ref


def _torch(name: str, mean: bool, **kw: Any) -> Any:
    """torch.nn.functional.<name>(y_pred, y_true, reduction="none"), averaged over -1 for axis=-1."""

    def ref(y: Any, p: Any) -> Any:
        import torch.nn.functional as F

        y, p = ref_inputs("torch", y, p)
        out = getattr(F, name)(p, y, reduction="none", **kw)
        return ref_output(out.mean(-1) if mean else out)

    return ref


def _optax(name: str, mean: bool, scale: float = 1.0, **kw: Any) -> Any:
    """optax.<name>(predictions, targets) * scale, averaged over -1 for axis=-1."""

    def ref(y: Any, p: Any) -> Any:
        import optax

        y, p = ref_inputs("optax", y, p, dtype="float32")
        out = getattr(optax.losses, name)(p, y, **kw) * scale
        return ref_output(out.mean(-1) if mean else out)

    return ref


def _keras_huber_over_beta(beta: float) -> Any:
    # torch's smooth_l1(beta) is Huber(delta=beta) / beta
    def ref(y: Any, p: Any) -> Any:
        return _keras("huber", delta=beta)(y, p) / beta

    return ref


def _torch_cosine(dim: int, eps: float) -> Any:
    # minus torch's cosine similarity; torch floors each norm at eps
    def ref(y: Any, p: Any) -> Any:
        import torch.nn.functional as F

        y, p = ref_inputs("torch", y, p)
        return ref_output(-F.cosine_similarity(p, y, dim=dim, eps=eps))

    return ref


def _optax_cosine(axis: int, epsilon: float) -> Any:
    # optax's cosine distance minus 1; optax floors the squared norms at epsilon ** 2
    def ref(y: Any, p: Any) -> Any:
        import optax

        y, p = ref_inputs("optax", y, p, dtype="float32")
        return ref_output(optax.losses.cosine_distance(p, y, epsilon=epsilon**2, axis=axis)) - 1.0

    return ref


CASES = [
    Case(
        "mse",
        "mean_squared_error",
        _pairs,
        references={
            "keras": _keras("mean_squared_error"),
            "torch": _torch("mse_loss", mean=True),
            "optax": _optax("squared_error", mean=True),
        },
    ),
    Case(
        "mse-elementwise",
        "mean_squared_error",
        _pairs,
        {"axis": None},
        references={
            "torch": _torch("mse_loss", mean=False),
            "optax": _optax("l2_loss", mean=False, scale=2.0),  # optax's l2_loss is half of it
        },
    ),
    Case(
        "mse-int-targets",
        "mean_squared_error",
        _int_targets,
        references={"keras": _keras("mean_squared_error")},
    ),
    Case(
        "mae",
        "mean_absolute_error",
        _pairs_3d,
        references={"keras": _keras("mean_absolute_error"), "torch": _torch("l1_loss", mean=True)},
    ),
    Case(
        "mae-elementwise",
        "mean_absolute_error",
        _pairs,
        {"axis": None},
        references={"torch": _torch("l1_loss", mean=False)},
    ),
    Case(
        "mape",
        "mean_absolute_percentage_error",
        _percent,
        references={"keras": _keras("mean_absolute_percentage_error")},
    ),
    Case(
        "msle",
        "mean_squared_logarithmic_error",
        _log_targets,
        references={"keras": _keras("mean_squared_logarithmic_error")},
    ),
    Case(
        "huber",
        "huber",
        _pairs,
        references={
            "keras": _keras("huber"),
            "torch": _torch("huber_loss", mean=True),
            "optax": _optax("huber_loss", mean=True),
        },
    ),
    Case(
        "huber-delta-elementwise",
        "huber",
        _pairs,
        {"delta": 0.4, "axis": None},
        references={
            "torch": _torch("huber_loss", mean=False, delta=0.4),
            "optax": _optax("huber_loss", mean=False, delta=0.4),
        },
    ),
    Case(
        "huber-delta",
        "huber",
        _pairs_3d,
        {"delta": 2.5},
        references={"keras": _keras("huber", delta=2.5), "torch": _torch("huber_loss", mean=True, delta=2.5)},
    ),
    Case(
        "smooth_l1",
        "smooth_l1",
        _pairs,
        references={"torch": _torch("smooth_l1_loss", mean=True), "keras": _keras_huber_over_beta(1.0)},
    ),
    Case(
        "smooth_l1-beta-elementwise",
        "smooth_l1",
        _pairs,
        {"beta": 0.3, "axis": None},
        references={"torch": _torch("smooth_l1_loss", mean=False, beta=0.3)},
    ),
    Case(
        "smooth_l1-beta",
        "smooth_l1",
        _pairs,
        {"beta": 2.0},
        references={"torch": _torch("smooth_l1_loss", mean=True, beta=2.0), "keras": _keras_huber_over_beta(2.0)},
    ),
    Case(
        "log_cosh",
        "log_cosh",
        _large_errors,
        references={"keras": _keras("log_cosh"), "optax": _optax("log_cosh", mean=True)},
    ),
    Case(
        "log_cosh-elementwise",
        "log_cosh",
        _large_errors,
        {"axis": None},
        references={"optax": _optax("log_cosh", mean=False)},
    ),
    Case(
        "cosine_similarity",
        "cosine_similarity",
        _vectors,
        references={
            "keras": _keras("cosine_similarity"),
            "torch": _torch_cosine(-1, 1e-7),
            "optax": _optax_cosine(-1, 1e-7),
        },
    ),
    Case(
        "cosine_similarity-axis1-torch-eps",
        "cosine_similarity",
        _pairs_3d,
        {"axis": 1, "epsilon": 1e-8},
        references={
            "keras": _keras("cosine_similarity", axis=1),
            "torch": _torch_cosine(1, 1e-8),
            "optax": _optax_cosine(1, 1e-8),
        },
    ),
]
