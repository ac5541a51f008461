"""Keras-style subclasses of ``unilosses.Loss`` (override ``call``), held to Keras' behaviour.

Keras' own ``keras/src/losses/loss_test.py``, copied from the installed wheel with
its ``Loss`` import pointed at ``unilosses.Loss``, passes (in this process on the
TensorFlow Keras backend, in the TensorFlow session; the ``peers`` nox session runs it
on every Keras backend through its shim). A ported Keras loss is compared with
``keras.losses`` live on every backend (``multi``: Keras and another framework's
arrays): reductions, sample weights, masks; reductions and dtype need no Keras and
run in each backend's session.
"""

from __future__ import annotations

import importlib.util
import unittest
from pathlib import Path

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import to_numpy


def _keras():
    return pytest.importorskip("keras")

#: Keras tests that fail by design, with the reason (each also in the subclassing module's doc)
DIFFERENCES: dict[str, str] = {}


def _patched_loss_test(tmp_path: Path) -> Path:
    """Keras' loss_test.py with ``Loss`` imported from unilosses (nothing else changed)."""
    src = Path(_keras().__file__).parent / "src" / "losses" / "loss_test.py"
    text = src.read_text()
    original = "from keras.src.losses.loss import Loss\n"
    assert original in text, "Keras' loss_test.py changed its import of Loss"
    out = tmp_path / "keras_loss_test.py"
    out.write_text(text.replace(original, "from unilosses import Loss\n"))
    return out


@selected("tensorflow")
def test_keras_loss_test_passes_with_unilosses_loss(tmp_path: Path) -> None:
    """Keras' loss_test.py, its base class replaced by unilosses.Loss, on this process's Keras backend."""
    path = _patched_loss_test(tmp_path)
    spec = importlib.util.spec_from_file_location("keras_loss_test_on_unilosses", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ExampleLoss.__mro__[1] is ul.Loss
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TestResult()
    suite.run(result)
    failed = {t.id().rsplit(".", 1)[1]: msg for t, msg in result.failures + result.errors}
    assert result.testsRun >= 14
    unexpected = {k: v for k, v in failed.items() if k not in DIFFERENCES}
    assert not unexpected, "\n".join(f"{k}:\n{v}" for k, v in unexpected.items())


# ------------------------------------------------------------ a ported loss
class Huber(ul.Loss):
    """keras.losses.Huber as a user would port it: the import changed, ``ops`` -> ``xp``."""

    def __init__(self, delta: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def call(self, y_true, y_pred):
        xp = ul.namespace(y_pred)
        err = xp.abs(y_true - y_pred)
        q = xp.clip(err, max=self.delta)
        return xp.mean(0.5 * q * q + self.delta * (err - q), axis=-1)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


def _inputs(rng):
    y = rng.normal(size=(5, 4)).astype(np.float32)
    p = (2 * rng.normal(size=(5, 4))).astype(np.float32)
    return y, p, rng.uniform(0, 2, (5,)).astype(np.float32)


@pytest.mark.multi
@pytest.mark.parametrize("reduction", ["none", "sum", "sum_over_batch_size", "mean_with_sample_weight", None])
def test_ported_loss_equals_keras(backend, rng, reduction) -> None:
    """Values, sample weights and every Keras reduction, on every backend, equal keras.losses.Huber's."""
    keras = _keras()
    y, p, w = _inputs(rng)
    ours = Huber(delta=0.7, reduction=reduction)(backend.asarray(y), backend.asarray(p), backend.asarray(w))
    theirs = keras.losses.Huber(delta=0.7, reduction=reduction)(y, p, sample_weight=w)
    assert type(ours).__module__.split(".")[0] == type(backend.asarray(p)).__module__.split(".")[0]
    np.testing.assert_allclose(to_numpy(ours), keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.multi
@pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size", "mean_with_sample_weight"])
def test_ported_loss_with_a_keras_mask(backend, rng, reduction) -> None:
    """A Keras mask on y_pred (of any backend's array) leaves the loss and its denominators, as in Keras."""
    keras = _keras()
    from keras.src.backend import set_keras_mask

    y, p, w = _inputs(rng)
    mask = np.array([True, False, True, True, False])
    yb, pb = backend.asarray(y), backend.asarray(p)
    set_keras_mask(pb, backend.asarray(mask))
    ours = Huber(reduction=reduction)(yb, pb, sample_weight=w)
    kp = keras.ops.convert_to_tensor(p)
    set_keras_mask(kp, keras.ops.convert_to_tensor(mask))
    theirs = keras.losses.Huber(reduction=reduction)(keras.ops.convert_to_tensor(y), kp, sample_weight=w)
    np.testing.assert_allclose(to_numpy(ours), keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-6)
    set_keras_mask(pb, None)


@pytest.mark.multi
def test_mask_of_the_result(backend, rng) -> None:
    """A mask on call()'s result joins y_pred's (``&``), as in Keras; all masked gives 0, not NaN."""
    _keras()
    from keras.src.backend import set_keras_mask

    class Masked(ul.Loss):
        def call(self, y_true, y_pred):
            out = (y_true - y_pred) ** 2
            set_keras_mask(out, y_true > 0)
            return out

    y = np.array([1.0, 0.0, 2.0, 3.0], np.float32)
    p = np.array([0.5, 1.0, 1.0, 1.0], np.float32)
    loss = Masked()(backend.asarray(y), backend.asarray(p))
    np.testing.assert_allclose(to_numpy(loss), (0.25 + 1 + 4) / 3, rtol=1e-6)
    zero = Masked()(backend.asarray(np.zeros(4, np.float32)), backend.asarray(p))
    assert to_numpy(zero) == 0.0


def test_every_unilosses_reduction(backend, rng) -> None:
    """Beyond Keras' names: "sum_by_nonzero_weights" and "stats" (sums that add up across shards)."""
    y, p, w = _inputs(rng)
    w[1] = 0.0
    per = to_numpy(Huber(reduction="none")(y, p)).astype(np.float64)
    yb, pb = backend.asarray(y), backend.asarray(p)
    nz = to_numpy(Huber(reduction="sum_by_nonzero_weights")(yb, pb, w))
    np.testing.assert_allclose(nz, np.sum(per * w) / 4, rtol=1e-5)
    stats = Huber(reduction="stats")(yb, pb, w)
    assert isinstance(stats, ul.LossStats)
    np.testing.assert_allclose([to_numpy(s) for s in stats], [np.sum(per * w), 5, np.sum(w)], rtol=1e-5)


def test_dtype(backend, rng) -> None:
    """Keras' rule: inputs converted to ``dtype`` (floatx, float32, by default); ``dtype="input"``
    keeps the input's (16-bit in float32), as the function losses do."""
    if backend.name == "array_api_strict":
        halves = []
    else:
        halves = ["float16"]
    y, p, _ = _inputs(rng)
    dt = "float32" if backend.name == "jax" else "float64"  # JAX without x64 has no float64
    y64, p64 = backend.asarray(y, dt), backend.asarray(p, dt)
    assert str(to_numpy(Huber()(y64, p64)).dtype) == "float32"
    assert str(to_numpy(Huber(dtype="input")(y64, p64)).dtype) == dt
    for half in halves:
        yh, ph = backend.asarray(y, half), backend.asarray(p, half)
        assert str(to_numpy(Huber(dtype="input")(yh, ph)).dtype) == "float32"
        assert str(to_numpy(Huber(dtype=half)(y64, p64)).dtype) == half
    labels = backend.asarray(np.array([1, 0, 1]))  # integer y_true is converted too (Keras)
    out = Huber(reduction="none")(labels, backend.asarray(np.array([[0.5], [0.5], [1.0]], np.float32))[:, 0])
    assert str(to_numpy(out).dtype) == "float32"


@selected("tensorflow")
def test_keras_dtype_policy() -> None:
    """A ``keras.DTypePolicy`` as ``dtype``: its compute dtype."""
    keras = _keras()
    y, p, _ = _inputs(np.random.default_rng(0))
    assert str(to_numpy(Huber(dtype=keras.DTypePolicy("mixed_float16"))(y, p)).dtype) == "float16"
    assert Huber(dtype=keras.DTypePolicy("mixed_bfloat16")).dtype == "bfloat16"


@selected("numpy")
def test_config_round_trip_and_errors() -> None:
    loss = Huber(delta=0.3, reduction="sum", name="h", dtype="float16")
    assert loss.get_config() == {"name": "h", "reduction": "sum", "delta": 0.3}
    back = Huber.from_config(loss.get_config())
    assert back.delta == 0.3 and back.reduction == "sum" and back.name == "h"
    assert Huber().name == "huber" and loss.dtype == "float16" and Huber().dtype == "float32"
    with pytest.raises(AttributeError):
        loss.dtype = "float32"
    with pytest.raises(ValueError, match="reduction: expected one of"):  # validated when set too
        loss.reduction = "Bar"
    assert loss.reduction == "sum"
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`.*reduction: expected"):
        Huber(reduction="abc")
    with pytest.raises(ValueError, match="dtype: expected a floating dtype"):
        Huber(dtype="int32")
    with pytest.raises(TypeError, match="unexpected argument.*'gamma'"):
        ul.Loss.__init__(Huber(), gamma=2.0)

    class NoCall(ul.Loss):
        pass

    with pytest.raises(NotImplementedError, match="override call"):
        NoCall()(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="not both"):

        class Both(ul.FunctionLoss):
            function = ul.mean_squared_error

            def call(self, y_true, y_pred):
                return y_pred

    with pytest.raises(TypeError, match="subclasses unilosses.FunctionLoss"):

        class FunctionOnLoss(ul.Loss):
            function = ul.mean_squared_error


@selected("numpy")
def test_builtin_classes_have_keras_call(rng) -> None:
    """``call()`` of a built-in class gives its per-sample values, as a Keras loss's does."""
    y, p, _ = _inputs(rng)
    loss = ul.Huber(delta=0.5)
    np.testing.assert_allclose(loss.call(y, p), ul.huber(y, p, delta=0.5), rtol=1e-6)
    assert ul.MeanSquaredError().dtype is None
