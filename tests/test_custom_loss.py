"""A loss defined outside unilosses (``tests/mylosses.py``) takes every path a built-in takes.

Every backend and reduction, options validated once, y_true / weights converted,
16-bit in float32, ``normalizer``, the cached ``jax.jit``, the class form with its
config, ``get`` / ``serialize`` after ``register``, the Keras adapter (fit, save,
load), the torch adapter (buffers, ``state_dict``), the conformance kit and
``python -m unilosses check --module``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import mylosses
import numpy as np
import pytest
from conftest import selected
from mylosses import FocalTversky, WeightedHuber, focal_tversky

import unilosses as ul
from unilosses.testing import assert_close, conformance_test, to_numpy

TESTS = Path(__file__).parent


def _seg(rng, n=3):
    labels = rng.integers(0, 3, (n, 4, 3))
    return np.eye(3, dtype=np.float32)[labels], rng.dirichlet(np.ones(3), (n, 4, 3)).astype(np.float32)


def _reference(y, p, alpha=0.7, gamma=0.75, smooth=1.0, w=None):
    """The formula in NumPy, float64, written out once more (channels last)."""
    y, p = y.astype(np.float64), p.astype(np.float64)
    tp, fn, fp = (y * p).sum((1, 2)), (y * (1 - p)).sum((1, 2)), ((1 - y) * p).sum((1, 2))
    term = (1 - (tp + smooth) / (tp + alpha * fn + (1 - alpha) * fp + smooth)) ** gamma
    w = np.ones(term.shape[-1]) if w is None else np.asarray(w, np.float64)
    return (term * w).sum(-1) / w.sum()


@selected("numpy")
def test_hand_checked_value() -> None:
    """Two positions, two classes, p = 1/2 everywhere: TP = FN = FP = 1/2 per class, so
    TI = 0.5 / (0.5 + 0.7 * 0.5 + 0.3 * 0.5) = 1/2 and the loss is (1/2) ** gamma."""
    y = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    p = np.full((1, 2, 2), 0.5)
    np.testing.assert_allclose(focal_tversky(y, p, smooth=0.0, gamma=1.0), [0.5])
    np.testing.assert_allclose(focal_tversky(y, p, smooth=0.0, gamma=2.0), [0.25])
    np.testing.assert_allclose(focal_tversky(y, y, smooth=0.0), [0.0])  # a perfect prediction


@pytest.mark.parametrize("reduction", ul.REDUCTIONS)
def test_every_backend_and_reduction(backend, rng, reduction) -> None:
    """Values against the NumPy formula (and torch's version of it), with sample and class weights."""
    y, p = _seg(rng)
    w = np.array([0.2, 1.0, 3.0])
    sw = rng.uniform(0.5, 2.0, (3,)).astype(np.float32)
    per = _reference(y, p, alpha=0.4, w=w)
    pb = backend.asarray(p)
    out = focal_tversky(backend.asarray(y), pb, alpha=0.4, class_weight=w, sample_weight=sw, reduction=reduction)
    expected = {
        "none": per * sw, "sum": np.sum(per * sw), "sum_over_batch_size": np.mean(per * sw),
        "mean_with_sample_weight": np.sum(per * sw) / np.sum(sw), "sum_by_nonzero_weights": np.mean(per * sw),
        "batchmean": np.sum(per * sw) / per.shape[0],
    }
    if reduction == "stats":
        assert isinstance(out, ul.LossStats)
        assert_close(out, ul.LossStats(np.float32(np.sum(per * sw)), np.float32(3), np.float32(np.sum(sw))),
                     rtol=1e-5, like=pb, dtype=pb.dtype)
    else:
        assert_close(out, expected[reduction].astype(np.float32), rtol=1e-5, like=pb, dtype=pb.dtype)


@selected("torch")
def test_against_the_users_torch_loss(rng) -> None:
    torch = pytest.importorskip("torch")
    y, p = _seg(rng)
    theirs = mylosses.torch_focal_tversky(torch.as_tensor(y), torch.as_tensor(p), alpha=0.6, gamma=1.3)
    np.testing.assert_allclose(focal_tversky(y, p, alpha=0.6, gamma=1.3), theirs.numpy(), rtol=1e-5)


def test_logits_and_class_axis(backend, rng) -> None:
    """``from_logits`` through the shared log-softmax primitive; ``axis=1`` (channels first)."""
    y, _ = _seg(rng)
    z = rng.normal(size=y.shape).astype(np.float32)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    out = focal_tversky(backend.asarray(np.moveaxis(y, -1, 1)), backend.asarray(np.moveaxis(z, -1, 1)),
                        from_logits=True, axis=1)
    assert_close(out, _reference(y, p).astype(np.float32), rtol=1e-5)


def test_16_bit_normalizer_and_python_inputs(backend, rng) -> None:
    y, p = _seg(rng)
    if backend.name != "array_api_strict":  # it has no float16
        half = focal_tversky(y, backend.asarray(p, "float16"))  # y_true as NumPy: converted
        assert str(to_numpy(half).dtype) == "float32"
        assert_close(half, _reference(y, p.astype(np.float16)).astype(np.float32), rtol=1e-5)
    total = focal_tversky(y.tolist(), backend.asarray(p), reduction="sum", normalizer=4.0)
    assert_close(total, np.float32(_reference(y, p).sum() / 4), rtol=1e-5)


def test_16_bit_targets_follow_the_compute_dtype(backend, rng) -> None:
    """A spec that subtracts y_true from y_pred (no float_targets) works on 16-bit inputs of
    every backend: floating y_true is converted to the compute dtype with y_pred, as Keras
    converts y_true to y_pred's dtype; integer labels keep theirs."""

    @ul.loss()
    def log1p_error(be, y_true, y_pred, *, scale=1.0, axis=-1):
        xp = be.xp
        assert y_true.dtype == y_pred.dtype or be.is_integer(y_true.dtype)
        return xp.mean(xp.log1p(scale * xp.abs(y_pred - y_true)), axis=axis)

    y, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    expected = np.mean(np.log1p(np.abs(p.astype(np.float16).astype(np.float64) - y.astype(np.float16))), axis=-1)
    for dtype in ("float16", "bfloat16"):
        if backend.name in ("array_api_strict", "dask"):
            continue  # no 16-bit floats there
        half = dtype == "float16"
        out = log1p_error(backend.asarray(y, dtype), backend.asarray(p, dtype))
        assert str(to_numpy(out).dtype) == "float32"
        assert_close(out, expected.astype(np.float32), rtol=1e-6 if half else 2e-2, atol=0 if half else 2e-2)
    z = backend.asarray(p)
    labels = ul.sparse_categorical_crossentropy(backend.asarray(rng.integers(0, 3, 4)), z, from_logits=True)
    assert to_numpy(labels).dtype == to_numpy(z).dtype


@selected("numpy")
def test_options_validated_once_with_named_errors() -> None:
    spec = focal_tversky.spec
    y, p = _seg(np.random.default_rng(0))
    focal_tversky(y, p, alpha=0.25, gamma=2.0)
    n = len(spec._validated)
    focal_tversky(y, p, alpha=0.25, gamma=2.0)
    assert len(spec._validated) == n
    with pytest.raises(ValueError, match=r"alpha: expected a value in \[0.0, 1.0\]"):
        focal_tversky(y, p, alpha=1.5)
    with pytest.raises(ValueError, match=r"gamma: expected a value in \(0.0, inf\]"):
        FocalTversky(gamma=0.0)
    with pytest.raises(ValueError, match="smooth"):
        focal_tversky(y, p, smooth=-1.0)
    with pytest.raises(TypeError, match="from_logits: expected True or False"):
        focal_tversky(y, p, from_logits="yes")
    with pytest.raises(ValueError, match="class_weight: expected a 1-D array with one weight per class"):
        focal_tversky(y, p, class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="axis: expected the class axis"):
        focal_tversky(y, p, axis=0)
    with pytest.raises(TypeError, match="unexpected option"):
        focal_tversky(y, p, delta=1.0)


@selected("jax")
def test_cached_jit_and_tracing(rng) -> None:
    jax = pytest.importorskip("jax")
    y, p = _seg(rng)
    eager = focal_tversky(jax.numpy.asarray(y), jax.numpy.asarray(p), reduction="mean")
    assert any(k[0] == "jax" for k in focal_tversky.spec._cores)  # the cached jit, as for a built-in
    g = jax.jit(jax.grad(lambda p: focal_tversky(y, p, reduction="mean")))(jax.numpy.asarray(p))
    assert g.shape == p.shape and np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_allclose(eager, _reference(y, p).mean(), rtol=1e-5)


@selected("numpy")
def test_class_form_config_and_registry(config_round_trip) -> None:
    """get_config / from_config, and ``ul.register``: then get / serialize / deserialize by name."""
    loss, back = None, None
    ul.register(focal_tversky, FocalTversky, WeightedHuber)
    ul.register(FocalTversky)  # again: a no-op
    loss, back = config_round_trip(FocalTversky, {"alpha": 0.3, "gamma": 1.5, "class_weight": [1.0, 2.0, 3.0]})
    y, p = _seg(np.random.default_rng(0))
    assert_close(back(y, p), np.float32(np.sum(_reference(y, p, alpha=0.3, gamma=1.5, w=[1, 2, 3]))), rtol=1e-5)
    assert ul.get("focal_tversky") is focal_tversky and isinstance(ul.get("FocalTversky"), FocalTversky)
    huber = ul.deserialize(ul.serialize(WeightedHuber(delta=0.25, reduction="sum")))
    assert isinstance(huber, WeightedHuber) and huber.delta == 0.25 and huber.reduction == "sum"
    with pytest.raises(ValueError, match="the name 'dice' is taken"):

        @ul.loss()
        def dice(be, y_true, y_pred):
            return y_pred

        ul.register(dice)
    with pytest.raises(TypeError, match="register: expected a Loss subclass"):
        ul.register(len)


# ------------------------------------------------------------------ adapters
@selected("tensorflow")
def test_keras_adapter(rng) -> None:
    """``unilosses.keras.wrap``: a registered keras.losses.Loss, equal to the loss (and to Keras' Huber)."""
    keras = pytest.importorskip("keras")
    import unilosses.keras as uk

    KFocalTversky, KHuber = uk.wrap(FocalTversky), uk.wrap(WeightedHuber)
    assert uk.wrap(FocalTversky) is KFocalTversky  # wrapping twice: the same class
    assert keras.saving.get_registered_name(KFocalTversky) == "mylosses>FocalTversky"
    assert uk.wrap(focal_tversky, package="mylosses.fn").__name__ == "FocalTversky"  # the function: its class form
    with pytest.raises(ValueError, match="'mylosses>FocalTversky' is registered to .* already"):
        uk.wrap(focal_tversky)  # its class form would take the name of the class FocalTversky
    y, p = _seg(rng, 4)
    loss = KFocalTversky(alpha=0.3, class_weight=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loss(y, p)), np.mean(_reference(y, p, alpha=0.3, w=[1, 2, 3])), rtol=1e-5)
    yr, pr = rng.normal(size=(6, 3)).astype("float32"), rng.normal(size=(6, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(KHuber(delta=0.5)(yr, pr)),
        keras.ops.convert_to_numpy(keras.losses.Huber(delta=0.5)(yr, pr)), rtol=1e-5)


@selected("tensorflow")
@pytest.mark.slow
def test_keras_adapter_fit_save_load(tmp_path, rng) -> None:
    """The wrapped losses train, and a saved model loads them back (no custom_objects)."""
    keras = pytest.importorskip("keras")
    import unilosses.keras as uk

    y, p = _seg(rng, 4)
    yr, pr = rng.normal(size=(6, 3)).astype("float32"), rng.normal(size=(6, 3)).astype("float32")
    loss = uk.wrap(FocalTversky)(alpha=0.3, class_weight=[1.0, 2.0, 3.0])
    for kl, data in ((loss, (p, y)), (uk.wrap(WeightedHuber)(delta=0.5, reduction="sum"), (pr, yr))):
        x, t = data
        inputs = keras.Input(x.shape[1:])
        out = keras.layers.Softmax()(keras.layers.Dense(x.shape[-1])(inputs)) if x.ndim > 2 else keras.layers.Dense(3)(inputs)
        model = keras.Model(inputs, out)
        model.compile(optimizer="sgd", loss=kl)
        model.fit(x, t, epochs=1, verbose=0)
        path = tmp_path / f"{kl.name}.keras"
        model.save(path)
        back = keras.saving.load_model(path)
        assert type(back.loss) is type(kl) and back.loss.get_config() == kl.get_config()
        np.testing.assert_allclose(back.evaluate(x, t, verbose=0), model.evaluate(x, t, verbose=0), rtol=1e-5)


@selected("torch")
def test_torch_adapter_buffers_and_state_dict(rng) -> None:
    torch = pytest.importorskip("torch")
    import unilosses.torch as ut

    Module = ut.module(FocalTversky)
    assert issubclass(Module, torch.nn.Module) and ut.module(focal_tversky).__name__ == "FocalTversky"
    crit = Module(alpha=0.4, class_weight=[1.0, 2.0, 3.0], reduction="sum")
    assert list(crit.state_dict()) == ["class_weight"]
    y, p = _seg(rng)
    pt = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    crit = crit.to(torch.float64)
    out = crit(pt, torch.as_tensor(y))  # torch's order: (input, target)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.item(), np.sum(_reference(y, p, alpha=0.4, w=[1, 2, 3])), rtol=1e-10)
    out.backward()
    assert pt.grad is not None and torch.all(torch.isfinite(pt.grad))
    other = Module(alpha=0.4, class_weight=[0.0, 0.0, 1.0])
    other.load_state_dict(crit.state_dict())
    assert torch.equal(other.class_weight, crit.class_weight)
    huber = ut.module(WeightedHuber)(delta=0.5, reduction="sum")
    yr, pr = torch.randn(5, 3), torch.randn(5, 3)
    np.testing.assert_allclose(huber(pr, yr).item(), torch.nn.functional.huber_loss(pr, yr, delta=0.5, reduction="none").mean(-1).sum().item(), rtol=1e-5)


# ---------------------------------------------------------- kit and CLI
test_mylosses_conform = conformance_test(focal_tversky, [_seg(np.random.default_rng(3))],
                                         reference=lambda y, p: _reference(y, p))


@selected("numpy")
def test_check_module_cli() -> None:
    """``python -m unilosses check --module mylosses``: the same report as ``check``, exit status 0
    (here on NumPy; ``test_mylosses_conform`` checks the loss in each backend's session)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    r = subprocess.run(
        [sys.executable, "-m", "unilosses", "check", "--module", "mylosses", "--backends", "numpy",
         "--loss", "focal_tversky", "--loss", "WeightedHuber"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "focal-tversky " in r.stdout and "WeightedHuber-call" in r.stdout and "FocalTversky-class" not in r.stdout
    assert " 0 failed" in r.stdout
    # the legend names the references that ran: the module's torch reference, where torch is installed
    assert ("vs: T your torch reference" in r.stdout) == (importlib.util.find_spec("torch") is not None)
    bad = subprocess.run([sys.executable, "-m", "unilosses", "check", "--module", "json"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode != 0 and "--module json: no list CASES" in bad.stderr
