"""Numeric options given as 0-d arrays of the inputs' framework, tracers included (issue 12.6).

optax's tests call ``jax.jit(loss)(x, y, gamma=0.0)``; a label-smoothing or margin schedule lives
inside a jitted step; a torch tensor is a hyperparameter. Array values give the numbers of the
same Python value, are never part of a cache key, are range-checked on the host where values are
concrete and make the loss NaN where they are not.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.conformance import all_cases
from unilosses.rules import is_array_value
from unilosses.testing import assert_close, to_numpy


def _numeric(case):
    spec = getattr(ul, case.loss).spec
    return {
        n: v for n, v in case.options.items()
        if isinstance(v, float) and not isinstance(v, bool) and n in spec._dynamic_ok
    }


CASES = [c for c in all_cases() if _numeric(c)]


def test_cases_cover_every_numeric_option():
    covered = {n for c in CASES for n in _numeric(c)}
    assert {"label_smoothing", "gamma", "alpha", "margin", "delta", "beta"} <= covered, covered


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_array_options_equal_python_numbers(case, backend):
    arrays = case.inputs(np.random.default_rng(3))
    args, kw = case.call_args(tuple(backend.asarray(a) for a in arrays))
    fn = getattr(ul, case.loss)
    as_arrays = {n: backend.asarray(np.asarray(v, dtype=np.float32)) for n, v in _numeric(case).items()}
    for reduction in ("none", "sum_over_batch_size"):
        expected = fn(*args, **kw, reduction=reduction)
        out = fn(*args, **{**kw, **as_arrays}, reduction=reduction)
        assert_close(out, to_numpy(expected), rtol=case.rtol, atol=case.atol, like=args[-1])


def test_class_form_with_array_option_round_trips(backend):
    e = backend.asarray(np.asarray(0.1, dtype=np.float32))
    obj = ul.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=e)
    assert obj.get_config()["label_smoothing"] == pytest.approx(0.1)
    rng = np.random.default_rng(0)
    y, z = rng.integers(0, 4, 6), rng.standard_normal((6, 4)).astype(np.float32)
    ref = ul.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(y, z)
    assert_close(obj(backend.asarray(y), backend.asarray(z)), to_numpy(ref), rtol=1e-6, atol=1e-6)


def test_out_of_range_array_option(backend):
    rng = np.random.default_rng(0)
    y, z = rng.integers(0, 4, 6), backend.asarray(rng.standard_normal((6, 4)).astype(np.float32))
    bad = backend.asarray(np.asarray(1.5, dtype=np.float32))
    if backend.name in ("numpy", "torch", "tensorflow"):  # concrete values: checked on the host
        with pytest.raises(ValueError, match=r"label_smoothing: expected a value in \[0.0, 1.0\]"):
            ul.sparse_categorical_crossentropy(y, z, from_logits=True, label_smoothing=bad)
    else:  # no host read: the loss is NaN, never a plausible number
        out = to_numpy(ul.sparse_categorical_crossentropy(y, z, from_logits=True, label_smoothing=bad))
        assert np.isnan(out).all()


def test_array_option_must_be_0d(backend):
    z = backend.asarray(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"gamma: expected a number or a 0-d array, got an array of shape \(2,\)"):
        ul.binary_focal_crossentropy(np.zeros((3, 2)), z, gamma=backend.asarray(np.ones(2, np.float32)))


def test_is_array_value():
    assert not is_array_value(0.5) and not is_array_value(np.float32(0.5)) and not is_array_value((1, 2))
    assert is_array_value(np.asarray(0.5))


# ------------------------------------------------------------------ under the compilers
@selected("jax")
def test_jax_jit_traced_hyperparameters():
    """optax's own tests: ``jax.jit(loss)(logits, labels, gamma=g)``; one trace for every value."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.integers(0, 2, (5, 3)).astype(np.float32))
    z = jnp.asarray(rng.standard_normal((5, 3)).astype(np.float32))
    traces = []

    @jax.jit
    def f(z, y, gamma, alpha, e):
        traces.append(1)
        return ul.binary_focal_crossentropy(
            y, z, gamma=gamma, alpha=alpha, apply_class_balancing=True, from_logits=True,
            label_smoothing=e, reduction="sum",
        )

    for g, a, e in ((0.0, 0.25, 0.0), (2.0, 0.5, 0.1), (1.5, 0.75, 0.2)):
        out = f(z, y, g, a, e)
        ref = ul.binary_focal_crossentropy(
            np.asarray(y), np.asarray(z), gamma=g, alpha=a, apply_class_balancing=True, from_logits=True,
            label_smoothing=e, reduction="sum",
        )
        assert_close(out, np.asarray(ref), rtol=1e-5, atol=1e-5)
    assert len(traces) == 1
    assert np.isnan(float(f(z, y, -1.0, 0.25, 0.0)))  # out of range under jit: NaN


@selected("torch")
def test_torch_tensor_hyperparameter_gets_a_gradient():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    y = torch.as_tensor(rng.standard_normal((6, 3)))
    p = torch.as_tensor(rng.standard_normal((6, 3)))
    delta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    ul.huber(y, p, delta=delta, axis=None, reduction="sum").backward()
    ref = torch.nn.functional.huber_loss(p, y, delta=0.7 + 1e-6, reduction="sum") - torch.nn.functional.huber_loss(
        p, y, delta=0.7 - 1e-6, reduction="sum"
    )
    assert delta.grad is not None
    np.testing.assert_allclose(delta.grad.item(), float(ref) / 2e-6, rtol=1e-4)


@selected("tensorflow")
def test_tf_function_variable_hyperparameter():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    y = tf.constant(rng.integers(0, 4, 6))
    z = tf.constant(rng.standard_normal((6, 4)).astype(np.float32))
    e = tf.Variable(0.0)

    @tf.function
    def f():
        return ul.sparse_categorical_crossentropy(y, z, from_logits=True, label_smoothing=e, reduction="mean")

    for value in (0.0, 0.1, 0.3):
        e.assign(value)
        ref = ul.sparse_categorical_crossentropy(y.numpy(), z.numpy(), from_logits=True, label_smoothing=value, reduction="mean")
        assert_close(f(), np.asarray(ref), rtol=1e-6, atol=1e-6)


# ------------------------------------------------- Python numbers and lists for array options
def _first_case_with_array_options() -> list:
    seen: dict[str, object] = {}
    for c in all_cases():
        if c.array_options:
            seen.setdefault(c.loss, c)
    return list(seen.values())


LIST_CASES = _first_case_with_array_options()


def test_list_cases_cover_every_array_option():
    covered = {n for c in LIST_CASES for n in c.array_options}
    assert {"class_weight", "pos_weight", "where", "dist_matrix"} <= covered, covered


@pytest.mark.parametrize("case", LIST_CASES, ids=[c.id for c in LIST_CASES])
def test_python_lists_and_numbers_equal_arrays(case, backend):
    """Array options as Python lists, sample weights as a Python number and a Python list: the
    numbers of the same values given as arrays of y_pred's framework."""
    arrays = case.inputs(np.random.default_rng(5))
    n = len(arrays) - len(case.array_options)
    inputs = tuple(backend.asarray(a) for a in arrays[:n])
    args, kw = case.call_args((*inputs, *(backend.asarray(a) for a in arrays[n:])))
    _, as_lists = case.call_args((*inputs, *(np.asarray(a).tolist() for a in arrays[n:])))
    assert all(type(as_lists[name]) is list for name in case.array_options)
    fn = getattr(ul, case.loss)
    per_sample = to_numpy(fn(*args, **kw))
    sw = np.random.default_rng(6).uniform(0.5, 2.0, per_sample.shape).astype(np.float32)
    for reduction in ("none", "sum"):
        expected = fn(*args, **kw, reduction=reduction)
        assert_close(fn(*args, **as_lists, reduction=reduction), to_numpy(expected), rtol=case.rtol, atol=case.atol, like=args[-1])
        for given, array in ((0.5, np.float32(0.5)), (sw.tolist(), sw)):
            expected = fn(*args, **kw, sample_weight=backend.asarray(np.asarray(array)), reduction=reduction)
            out = fn(*args, **as_lists, sample_weight=given, reduction=reduction)
            assert_close(out, to_numpy(expected), rtol=case.rtol, atol=case.atol, like=args[-1])


def test_python_numbers_take_y_pred_dtype_and_integers_stay_integers(backend):
    """A Python float becomes y_pred's floating dtype (float64 stays float64: no float32 rounding
    on the way), Python integers integer labels, Python integers for a weight the weight's dtype."""
    rng = np.random.default_rng(0)
    z64 = rng.standard_normal((4, 3))
    z = backend.asarray(z64)
    labels = [0, 2, 1, 2]
    expected = ul.sparse_categorical_crossentropy(np.asarray(labels), z64, from_logits=True, class_weight=np.asarray([0.1, 2.0, 3.0]))
    out = ul.sparse_categorical_crossentropy(labels, z, from_logits=True, class_weight=[0.1, 2, 3])
    tol = 1e-6 if backend.name == "jax" else 1e-12  # JAX computes float64 only with x64 enabled
    assert_close(out, np.asarray(expected), rtol=tol, atol=tol, like=z)
    if backend.name != "jax":
        assert str(to_numpy(out).dtype) == "float64"
    ints = ul.sparse_categorical_crossentropy(labels, z, from_logits=True, class_weight=[1, 2, 3])
    assert_close(ints, np.asarray(ul.sparse_categorical_crossentropy(np.asarray(labels), z64, from_logits=True,
                                                                     class_weight=np.asarray([1.0, 2.0, 3.0]))),
                 rtol=tol, atol=tol, like=z)
