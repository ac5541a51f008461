"""Keras training loops: ``fit`` with unilosses' losses gives Keras' own losses and weights.

Each Keras flavour runs ``tests/keras_training_check.py`` in a subprocess (Keras 3 picks its
backend once per process): Keras 3 on TensorFlow, JAX and PyTorch, and tf-keras (Keras 2).
The plain :class:`unilosses.Loss` object in ``compile`` (which Keras wraps and weights
itself), the ``unilosses.keras`` object and the plain function each train the same model
as Keras' own loss, with sample weights, ``class_weight``, masked sequences and ignored
labels: the loss of every epoch and the final weights equal. And the object that cannot
be reduced by Keras' wrapper refuses, naming ``unilosses.keras``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import selected

import unilosses as ul

pytestmark = selected("tensorflow")

_NEEDS = {"tensorflow": ("tensorflow", "keras"), "jax": ("jax", "keras"), "torch": ("torch", "keras"),
          "tf_keras": ("tensorflow", "tf_keras")}


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.mark.slow
@pytest.mark.parametrize("flavour", list(_NEEDS))
def test_fit_equals_keras_own_loss(flavour) -> None:
    if not _installed(*_NEEDS[flavour]):
        pytest.skip(f"{flavour}: {' and '.join(_NEEDS[flavour])} not installed")
    script = Path(__file__).with_name("keras_training_check.py")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(script), flavour], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    forms = 2 if flavour == "tf_keras" else 3  # tf-keras: no unilosses.keras (a Keras 3 adapter)
    assert proc.stdout.count("equal Keras' own") == 5 * (forms - 1) + 1, proc.stdout


def _evaluate(keras, loss, sample_weight=None, y=None, units=1):
    x = np.arange(1, 6, dtype="float32")[:, None]
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(units, use_bias=False, kernel_initializer="ones")])
    model.compile(loss=loss)
    return float(model.test_on_batch(x, 2 * x if y is None else y, sample_weight=sample_weight))


def test_loss_object_in_compile_is_weighted_once() -> None:
    """The issue's example: Keras' wrapper weights per-sample values, not a reduced one (56, not 44)."""
    keras = pytest.importorskip("keras")
    sw = np.array([2, 3, 4, 5, 6], "float32")
    for reduction, want in (("sum_over_batch_size", 56.0), ("sum", 280.0)):
        assert _evaluate(keras, keras.losses.MeanSquaredError(reduction=reduction), sw) == pytest.approx(want)
        assert _evaluate(keras, ul.MeanSquaredError(reduction=reduction), sw) == pytest.approx(want)
    with pytest.raises(TypeError, match=r"reduction='stats'.*unilosses\.keras\.MeanSquaredError"):
        _evaluate(keras, ul.MeanSquaredError(reduction="stats"), sw)
    with pytest.raises(TypeError, match=r"class weights.*unilosses\.keras\.SparseCategoricalCrossentropy"):
        _evaluate(keras, ul.SparseCategoricalCrossentropy(class_weight=[1.0, 2.0], from_logits=True,
                                                          reduction="mean_with_sample_weight"),
                  y=np.array([0, 1, 0, 1, 1]), units=2)
    # called directly (not by Keras' wrapper), the object reduces as always
    y, p = np.array([[2.0]]), np.array([[1.0]])
    assert float(ul.MeanSquaredError()(y, p, sample_weight=np.array([3.0]))) == pytest.approx(3.0)
