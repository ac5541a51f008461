"""The conformance kit catches what a user's loss gets wrong, naming the backend and the problem.

Five faulty losses, each checked on every backend: the kit must fail exactly on
the backends where the fault can show (a Python branch on values is harmless on
NumPy; JAX has no float64 without x64 and no in-place writes...), with a message
naming the backend and the problem, and pass elsewhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.kit import explain
from unilosses.testing import LossCase, check_loss


def _sq(be: Any, y_true: Any, y_pred: Any) -> Any:
    return (y_pred - ul.authoring.float_targets(be, y_true, y_pred)) ** 2


@ul.loss()
def branchy(be, y_true, y_pred, *, axis=-1):
    d = _sq(be, y_true, y_pred)
    if be.xp.sum(d) > 1.0:  # a Python branch on array values
        d = d / 2
    return ul.authoring.mean_over(be, d, axis)


@ul.loss()
def wrong_dtype(be, y_true, y_pred, *, axis=-1):
    return be.xp.astype(ul.authoring.mean_over(be, _sq(be, y_true, y_pred), axis), be.xp.float64)


@ul.loss()
def to_host(be, y_true, y_pred, *, axis=-1):
    d = np.asarray(y_pred) - np.asarray(y_true)  # computed on the host, then moved back
    return ul.authoring.mean_over(be, be.xp.asarray(d**2), axis)


@ul.loss()
def mutates(be, y_true, y_pred, *, axis=-1):
    y_pred[..., 0] = 0.5
    return ul.authoring.mean_over(be, _sq(be, y_true, y_pred), axis)


_CUSTOM: dict[str, Any] = {}


def _square(be: Any, x: Any) -> Any:
    """x * x, with a hand-written (wrong: x instead of 2x) derivative on torch and JAX."""
    if be.name == "torch":
        if "torch" not in _CUSTOM:
            import torch

            class Square(torch.autograd.Function):
                @staticmethod
                def forward(ctx, x):
                    ctx.save_for_backward(x)
                    return x * x

                @staticmethod
                def backward(ctx, g):
                    (x,) = ctx.saved_tensors
                    return g * x

            _CUSTOM["torch"] = Square.apply
        return _CUSTOM["torch"](x)
    if be.name == "jax":
        if "jax" not in _CUSTOM:
            import jax

            @jax.custom_jvp
            def square(x):
                return x * x

            @square.defjvp
            def _(primals, tangents):
                (x,), (t,) = primals, tangents
                return x * x, x * t

            _CUSTOM["jax"] = square
        return _CUSTOM["jax"](x)
    return x * x


@ul.loss()
def bad_gradient(be, y_true, y_pred, *, axis=-1):
    return ul.authoring.mean_over(be, _square(be, y_pred - ul.authoring.float_targets(be, y_true, y_pred)), axis)


#: fault -> (the backends where it shows, what the message says there)
FAULTS = {
    "branchy": ({"jax", "torch", "tensorflow", "dask"}, "branches in Python on array values"),
    "wrong_dtype": ({"numpy", "array_api_strict", "torch", "tensorflow", "dask"}, "returns float64 for float32 inputs"),
    "to_host": ({"jax", "torch", "tensorflow", "dask"}, "moves data to the host"),
    "mutates": ({"numpy", "array_api_strict", "jax", "torch", "tensorflow", "dask"}, "writes into an input"),
    "bad_gradient": ({"jax", "torch"}, "gradient != finite differences"),
}
#: Dask shows a branch as what it is there: a compute during the call
DASK_BRANCH = "Dask compute(s) during the call"


def _example() -> tuple[np.ndarray, np.ndarray]:
    y, p = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    return y, p


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")  # JAX without x64, wrong_dtype
@pytest.mark.parametrize("fault", list(FAULTS))
def test_kit_catches_the_fault(backend, fault) -> None:
    where, says = FAULTS[fault]
    report = check_loss(globals()[fault], [_example()], backends=[backend.name],
                        gradients=fault == "bad_gradient", raise_on_failure=False)
    failures = report.failures()
    if backend.name not in where:
        assert report.ok, failures
        return
    assert not report.ok
    if backend.name == "dask" and fault == "branchy":
        says = DASK_BRANCH
    label = " gradient" if fault == "bad_gradient" else ""
    mine = [f for f in failures if f.startswith(f"{fault}-0{label} on {backend.name}: ")]
    assert mine and says in mine[0], failures
    assert says in str(report) and "failed" in str(report)


@selected("numpy")
def test_check_loss_raises_with_every_problem() -> None:
    with pytest.raises(AssertionError, match=r"mutates-0 on numpy: writes into an input"):
        check_loss(mutates, [_example()], backends=["numpy"], gradients=False)


@selected("numpy")
def test_a_reference_that_disagrees_fails() -> None:
    """``reference=``: per-sample values compared on every backend (here NumPy)."""
    y, p = _example()
    ok = check_loss(ul.mean_squared_error, [(y, p)], backends=["numpy"],
                    reference=lambda y, p: np.mean((p - y) ** 2, axis=-1))
    assert ok.ok and "reference" in str(ok)
    bad = check_loss(ul.mean_squared_error, [(y, p)], backends=["numpy"], raise_on_failure=False,
                     reference=lambda y, p: np.mean(np.abs(p - y), axis=-1))
    assert not bad.ok and "the reference (reference)" in bad.failures()[0]


@selected("numpy")
def test_case_forms_and_ids() -> None:
    """Cases as tuples, dicts or LossCases; options and array options; unique ids."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    w = np.array([0.5, 1.0, 2.0], np.float32)
    report = check_loss(
        ul.sparse_categorical_crossentropy,
        [
            (labels, np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
            {"inputs": (labels, z), "options": {"from_logits": True, "class_weight": w}},
            LossCase(None, (labels, z), {"from_logits": True}, id="mine"),
        ],
        backends=["numpy", "array_api_strict"] if "array_api_strict" in ul.testing.available_backends() else ["numpy"],
        gradients=False,
    )
    assert [row["case"] for row in report.report["rows"]] == [
        "sparse_categorical_crossentropy-0", "sparse_categorical_crossentropy-1", "mine",
    ]
    with pytest.raises(TypeError, match="inputs\\[1\\]: expected float32, float64"):
        check_loss(ul.mean_squared_error, [(z, z.astype(np.float16))], backends=["numpy"])
    with pytest.raises(ValueError, match="reference: unknown framework"):
        check_loss(ul.mean_squared_error, [(z, z)], backends=["numpy"], reference={"mxnet": abs})


@selected("numpy")
def test_explain() -> None:
    assert explain("TracerBoolConversionError: x").startswith("branches in Python on array values")
    assert explain("RuntimeError: Tensor.item() cannot be called on meta tensors").startswith("moves data to the host")
    assert explain("TypeError: 'EagerTensor' object does not support item assignment").startswith("writes into an input")
    assert explain("ValueError: something else") == "ValueError: something else"
