"""Conformance cases for the ranking losses, against torch.nn.functional and optax.

``optax.losses.ranking_softmax_loss(logits, labels, where=, weights=, reduce_fn=)``:
``reduce_fn=None`` is unilosses' per-list values (``reduction="none"``, masked lists 0),
its default ``jnp.mean`` (over the lists with a valid item) is
``"sum_over_batch_size"``; optax's list axis is the last one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output, torch_inputs_loss

B, L = 8, 6


# ------------------------------------------------------------------ inputs
def _pairs(rng: np.random.Generator) -> tuple[Any, ...]:
    x1, x2 = ((rng.standard_normal(B) * 1.5).astype(np.float32) for _ in range(2))
    return x1, x2, rng.choice([-1.0, 1.0], B).astype(np.float32)


def _pairs_int_target(rng: np.random.Generator) -> tuple[Any, ...]:
    x1, x2, t = _pairs(rng)
    return x1, x2, t.astype(np.int64)


def _lists(rng: np.random.Generator, shape: tuple[int, ...] = (B, L)) -> tuple[Any, ...]:
    labels = rng.integers(0, 4, shape).astype(np.float32)  # graded relevance
    labels.reshape(-1, shape[-1])[1] = 0.0  # a list with no relevant item costs 0
    return labels, (rng.standard_normal(shape) * 2).astype(np.float32)


def _mask(rng: np.random.Generator, shape: tuple[int, ...]) -> Any:
    where = rng.uniform(size=shape) < 0.7
    where[0] = False  # a list with no valid item
    where[2] = False
    where[2, 3] = True  # a list with one valid item
    return where


def _lists_where(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_lists(rng), _mask(rng, (B, L)))


def _lists_where_weights(rng: np.random.Generator) -> tuple[Any, ...]:
    return (*_lists_where(rng), rng.uniform(0.0, 2.0, (B, L)).astype(np.float32))


def _lists_axis1(rng: np.random.Generator) -> tuple[Any, ...]:
    return _lists(rng, (B, L, 2))


# -------------------------------------------------------------- references
def _optax_ranking(reduce: str | None = None, axis: int = -1) -> Any:
    """optax.losses.ranking_softmax_loss(logits, labels[, where[, weights]], reduce_fn) with the
    list axis ``axis`` moved last."""

    def ref(y: Any, s: Any, *masks: Any) -> Any:
        import jax.numpy as jnp
        import optax

        y, s = (np.moveaxis(a, axis, -1) for a in (y, s))
        y, s, *rest = ref_inputs("jax", y, s, *masks, dtype="float32")
        kw = dict(zip(("where", "weights"), rest))
        reduce_fn = None if reduce is None else getattr(jnp, reduce)
        return ref_output(optax.losses.ranking_softmax_loss(s, y, **kw, reduce_fn=reduce_fn))

    return ref


CASES = [
    Case(
        "margin_ranking",
        "margin_ranking",
        _pairs,
        references={"torch": torch_inputs_loss("margin_ranking_loss")},
    ),
    Case(
        "margin_ranking-margin-int-target",
        "margin_ranking",
        _pairs_int_target,
        {"margin": 0.5},
        references={"torch": torch_inputs_loss("margin_ranking_loss", margin=0.5)},
    ),
    Case(
        "ranking_softmax",
        "ranking_softmax",
        _lists,
        references={"optax": _optax_ranking()},
    ),
    Case(
        "ranking_softmax-mean",
        "ranking_softmax",
        _lists,
        references={"optax": _optax_ranking("mean")},
        reduction="sum_over_batch_size",
    ),
    Case(
        "ranking_softmax-where",
        "ranking_softmax",
        _lists_where,
        references={"optax": _optax_ranking()},
        array_options={"where": 2},
        self_weighted=True,
    ),
    Case(
        "ranking_softmax-where-mean",
        "ranking_softmax",
        _lists_where,
        references={"optax": _optax_ranking("mean")},
        array_options={"where": 2},
        reduction="sum_over_batch_size",
        self_weighted=True,
    ),
    Case(
        "ranking_softmax-where-item_weight-sum",
        "ranking_softmax",
        _lists_where_weights,
        references={"optax": _optax_ranking("sum")},
        array_options={"where": 2, "item_weight": 3},
        reduction="sum",
        self_weighted=True,
    ),
    Case(
        "ranking_softmax-axis1",
        "ranking_softmax",
        _lists_axis1,
        {"axis": 1},
        references={"optax": _optax_ranking(axis=1)},
    ),
]
