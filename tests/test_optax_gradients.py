"""Gradients against optax's own autodiff, for every conformance case with an optax reference
built by :func:`unilosses.conformance.optax_reference` (which keeps the JAX function).

optax computes in float32 (too coarse for the finite differences of
``tests/test_autodiff.py``), so the check is ``jax.grad`` of unilosses against
``jax.grad`` of optax, both in float32, w.r.t. ``y_pred``: e.g. the sparsemax
projection (a sort, differentiated through) against optax's custom JVP, Dice's
softmax and class weights against ``optax.losses.dice_loss``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.check.gradients import draw, pred_positions
from unilosses.conformance import all_cases, ref_inputs

pytestmark = selected("jax")  # unilosses on JAX against optax: the JAX session

#: one case per loss and gradient path (values of every case are in test_conformance; gradients
#: against finite differences in test_autodiff): two jax.jit compiles each, so a selection
SELECTED = (
    "poly1-probabilities", "poly1-negative-epsilon-smoothing", "sparse-poly1-ignore-index-smoothing",
    "sparsemax-binary", "multiclass-sparsemax-class-weight-ignore-index", "generalized-kl-measures",
    "dice-sigmoid-smooth", "dice-multiclass-softmax-class-weight", "tversky-multiclass-softmax-class-weight",
    "multiclass-generalized-dice-ignore-background",
)
CASES = [c for c in all_cases() if c.id in SELECTED and hasattr(c.references.get("optax"), "jax")]


def test_selection_is_current():
    assert len(CASES) == len(SELECTED)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradient_matches_optax_autodiff(case):
    pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp

    arrays = draw(case)
    positions = pred_positions(case, arrays)
    base = ref_inputs("optax", *arrays, dtype="float32")
    loss = getattr(ul, case.loss)

    def total(fn):
        def f(*xs):
            full = list(base)
            for i, x in zip(positions, xs):
                full[i] = x
            return jnp.sum(fn(*full))

        # one compile per side (op by op, each primitive of optax's vmap compiles on its own)
        return jax.jit(jax.grad(f, argnums=tuple(range(len(positions)))))(*(base[i] for i in positions))

    def ours(*xs):
        args, kw = case.call_args(xs)
        return loss(*args, **kw)

    expected = total(case.references["optax"].jax)
    got = total(ours)
    for i, g, e in zip(positions, got, expected):
        g, e = np.asarray(g, dtype=np.float64), np.asarray(e, dtype=np.float64)
        assert np.all(np.isfinite(g)), f"non-finite gradient w.r.t. input {i}"
        scale = max(1.0, float(np.max(np.abs(e))))
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=2e-6 * scale, err_msg=f"input {i}")
