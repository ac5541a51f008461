"""``unilosses.keras``: every Loss class as a registered ``keras.losses.Loss``.

The in-process tests run on the Keras backend of this process (``KERAS_BACKEND``,
TensorFlow by default); ``test_fit_save_load`` runs ``tests/keras_fit_check.py``
in a subprocess per Keras backend (Keras picks its backend once per process).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from conftest import selected  # noqa: E402

# Keras on TensorFlow: the tensorflow session; the tests that also need torch are marked multi
pytestmark = selected("tensorflow")

import unilosses  # noqa: E402
import unilosses.keras as uk  # noqa: E402
from unilosses.conformance import all_cases  # noqa: E402

PAIR = ("y_true", "y_pred")
KERAS_REDUCTIONS = ["sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none", None]


CLASSES = unilosses.loss_classes()
CLASS_OF = {cls.function.__name__: cls for cls in CLASSES.values()}
CASES = [c for c in all_cases() if c.loss in CLASS_OF]


def _np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def _tensor(x, dtype=None):
    x = np.asarray(x)
    if dtype is None and x.dtype.kind == "f":
        dtype = "float32"
    return keras.ops.convert_to_tensor(x, dtype=dtype)


def _close(actual, expected, rtol=1e-5, atol=1e-6) -> None:
    np.testing.assert_allclose(_np(actual), _np(expected), rtol=rtol, atol=atol, equal_nan=True)


# ------------------------------------------------------------------ the classes
def test_every_loss_class_is_a_registered_keras_loss() -> None:
    assert set(CLASSES) <= set(uk.__all__)
    for name, core in CLASSES.items():
        cls = getattr(uk, name)
        assert issubclass(cls, keras.losses.Loss) and issubclass(cls, uk.Loss)
        assert cls.unilosses_class is core and cls.__module__ == "unilosses.keras"
        assert keras.saving.get_registered_name(cls) == f"unilosses>{name}"
        assert keras.saving.get_registered_object(f"unilosses>{name}") is cls
        params = inspect.signature(cls).parameters
        assert set(core.function.spec.options) | {"reduction", "name", "dtype"} == set(params)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_keras_loss_matches_the_loss_class(case, rng) -> None:
    """For every case: the Keras loss gives what the unilosses Loss object gives."""
    core_cls = CLASS_OF[case.loss]
    spec = core_cls.function.spec
    arrays = case.call_args(case.inputs(rng))
    inputs = tuple(_tensor(a) for a in arrays[0])
    options = arrays[1]
    if spec.inputs == PAIR:
        y_true, y_pred = inputs
    else:
        targets = [x for n, x in zip(spec.inputs, inputs) if n in ("target", "y_true", "labels")]
        y_true = targets[0] if targets else None
        y_pred = tuple(x for n, x in zip(spec.inputs, inputs) if n not in ("target", "y_true", "labels"))
    per_sample = core_cls(reduction="none", **options)(*inputs)
    shape = tuple(per_sample.shape)  # () for one value for the whole batch (Dice's default): a scalar weight
    sw = _tensor(rng.uniform(0.0, 2.0, (shape[0],) + (1,) * (len(shape) - 1) if shape else ()))
    for reduction in ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight"):
        ours = getattr(uk, core_cls.__name__)(reduction=reduction, **options)
        expected = core_cls(reduction=reduction, **options)(*inputs, sample_weight=sw)
        _close(ours(y_true, y_pred, sample_weight=sw), expected)
    # call(): the per-sample values
    _close(ours.call(y_true, y_pred), per_sample)


# ------------------------------------------------------ against Keras' own losses
@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
def test_sparse_crossentropy_matches_keras(reduction, rng) -> None:
    y = _tensor(rng.integers(0, 5, 12))
    z = _tensor(rng.standard_normal((12, 5)) * 2)
    sw = _tensor(rng.uniform(0, 2, 12))
    ours = uk.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    _close(ours(y, z), theirs(y, z))
    _close(ours(y, z, sample_weight=sw), theirs(y, z, sample_weight=sw))


@pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size", "mean_with_sample_weight", "none"])
def test_ignore_index_matches_keras_ignore_class(reduction, rng) -> None:
    labels = rng.integers(0, 4, (6, 5))
    labels[rng.uniform(size=labels.shape) < 0.3] = -1
    y, z = _tensor(labels), _tensor(rng.standard_normal((6, 5, 4)))
    sw = rng.uniform(0, 2, (6, 1))
    ours = uk.SparseCategoricalCrossentropy(from_logits=True, ignore_index=-1, reduction=reduction)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, reduction=reduction)
    # Keras' reference gets the weight at full shape (its torch backend cannot broadcast it)
    expected = theirs(y, z, sample_weight=_tensor(np.broadcast_to(sw, (6, 5))))
    _close(ours(y, z, sample_weight=_tensor(sw)), expected)


@pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size", "mean_with_sample_weight", "none"])
def test_keras_mask_on_y_pred_as_keras(reduction, rng) -> None:
    from keras.src.backend import set_keras_mask

    y, p = _tensor(rng.standard_normal((4, 6, 3))), _tensor(rng.standard_normal((4, 6, 3)))
    set_keras_mask(p, _tensor(rng.uniform(size=(4, 6)) < 0.6))
    sw = rng.uniform(0.5, 2, (4, 1))
    ours = uk.MeanSquaredError(reduction=reduction)
    theirs = keras.losses.MeanSquaredError(reduction=reduction)
    _close(ours(y, p), theirs(y, p))
    expected = theirs(y, p, sample_weight=_tensor(np.broadcast_to(sw, (4, 6))))  # see above
    _close(ours(y, p, sample_weight=_tensor(sw)), expected)
    # a per-sample weight of shape (4,) weighs every position (Keras' own loss raises here)
    _close(ours(y, p, sample_weight=_tensor(sw[:, 0])), expected)


@pytest.mark.multi
def test_class_weighted_mean_matches_torch(rng) -> None:
    """``"mean_with_sample_weight"`` with class weights is torch's ``"mean"`` (beyond Keras' reduction)."""
    torch = pytest.importorskip("torch")
    labels = rng.integers(0, 4, 20)
    labels[:5] = -100
    z = (rng.standard_normal((20, 4)) * 2).astype("float32")
    w = [0.5, 2.0, 1.0, 3.0]
    ours = uk.SparseCategoricalCrossentropy(
        from_logits=True, class_weight=w, ignore_index=-100, label_smoothing=0.1,
        reduction="mean_with_sample_weight",
    )
    expected = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=-100, label_smoothing=0.1)(
        torch.as_tensor(z), torch.as_tensor(labels)
    )
    _close(ours(_tensor(labels), _tensor(z)), expected.numpy())


@pytest.mark.multi
def test_margin_ranking_inputs_from_y_pred(rng) -> None:
    if not hasattr(uk, "MarginRanking"):
        pytest.skip("unilosses has no MarginRanking")
    torch = pytest.importorskip("torch")
    x1, x2 = (rng.standard_normal(9).astype("float32") for _ in range(2))
    target = rng.choice([-1.0, 1.0], 9).astype("float32")
    expected = torch.nn.MarginRankingLoss(margin=0.3)(*(torch.as_tensor(a) for a in (x1, x2, target)))
    loss = uk.MarginRanking(margin=0.3)
    _close(loss(_tensor(target), (_tensor(x1), _tensor(x2))), expected.numpy())
    _close(loss(_tensor(target), _tensor(np.stack([x1, x2], axis=1))), expected.numpy())
    with pytest.raises(ValueError, match="y_pred"):
        loss(_tensor(target), _tensor(np.stack([x1, x2, x2], axis=1)))


@pytest.mark.multi
def test_triplet_margin_ignores_y_true(rng) -> None:
    if not hasattr(uk, "TripletMargin"):
        pytest.skip("unilosses has no TripletMargin")
    torch = pytest.importorskip("torch")
    a, p, n = (rng.standard_normal((7, 5)).astype("float32") for _ in range(3))
    expected = torch.nn.TripletMarginLoss(margin=0.5)(*(torch.as_tensor(x) for x in (a, p, n)))
    loss = uk.TripletMargin(margin=0.5)
    _close(loss(None, _tensor(np.stack([a, p, n], axis=1))), expected.numpy())
    _close(loss(_tensor(np.zeros(7)), [_tensor(a), _tensor(p), _tensor(n)]), expected.numpy())


# ---------------------------------------------------------------- config, saving
def test_config_round_trip_without_custom_objects() -> None:
    loss = uk.SparseCategoricalCrossentropy(
        from_logits=True, class_weight=np.array([1.0, 2.0, 0.5]), ignore_index=-1,
        reduction="mean_with_sample_weight", name="scce", dtype="float64",
    )
    config = loss.get_config()
    assert config["class_weight"] == [1.0, 2.0, 0.5] and config["dtype"] == "float64"
    assert config["from_logits"] is True and config["name"] == "scce"
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"] == "unilosses>SparseCategoricalCrossentropy"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is uk.SparseCategoricalCrossentropy
    assert restored.get_config() == config and restored.dtype == "float64"
    assert uk.SparseCategoricalCrossentropy.from_config(config).get_config() == config


def test_dice_axis_tuple_survives_json_and_matches_keras(rng) -> None:
    """Dice(axis=(1, 2)) (per sample and channel) after a JSON round trip (the tuple comes back as a
    list) equals keras.losses.Dice(axis=(1, 2)) under Keras' default reduction."""
    import json

    y = (rng.uniform(size=(3, 4, 5, 2)) < 0.5).astype("float32")
    p = rng.uniform(0.01, 0.99, (3, 4, 5, 2)).astype("float32")
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(keras.saving.serialize_keras_object(uk.Dice(axis=(1, 2))))))
    assert type(restored) is uk.Dice
    _close(restored(_tensor(y), _tensor(p)), keras.losses.Dice(axis=(1, 2))(_tensor(y), _tensor(p)))


def test_class_weight_list_and_dtype(rng) -> None:
    y, z = _tensor(rng.integers(0, 3, 8)), rng.standard_normal((8, 3))
    w = [1.0, 2.0, 0.5]
    as_list = uk.SparseCategoricalCrossentropy(from_logits=True, class_weight=w)
    as_array = uk.SparseCategoricalCrossentropy(from_logits=True, class_weight=np.asarray(w))
    core = unilosses.SparseCategoricalCrossentropy(from_logits=True, class_weight=w)
    _close(as_list(y, _tensor(z)), core(y, _tensor(z)))
    _close(as_array(y, _tensor(z)), core(y, _tensor(z)))
    value = uk.SparseCategoricalCrossentropy(from_logits=True, class_weight=w, dtype="float64")(y, _tensor(z))
    float64 = keras.ops.convert_to_tensor(0.0, dtype="float64").dtype  # float32 on JAX without x64
    assert keras.backend.standardize_dtype(value.dtype) == keras.backend.standardize_dtype(float64)


def test_reductions_and_bad_options() -> None:
    assert uk.MeanSquaredError().reduction == "sum_over_batch_size"
    assert uk.MeanSquaredError(reduction=None).reduction == "none"
    assert uk.MeanSquaredError(reduction="mean").reduction == "sum_over_batch_size"
    assert uk.MeanSquaredError(reduction="sum_by_nonzero_weights").reduction == "sum_by_nonzero_weights"
    with pytest.raises(ValueError, match="stats"):
        uk.MeanSquaredError(reduction="stats")
    with pytest.raises(ValueError, match="reduction"):
        uk.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match="label_smoothing"):
        uk.SparseCategoricalCrossentropy(label_smoothing=2.0)
    with pytest.raises(TypeError, match="unexpected"):
        uk.MeanSquaredError(from_logits=True)


def test_functions_and_core_classes_are_registered() -> None:
    fn = unilosses.sparse_categorical_crossentropy
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(fn)) is fn
    core = unilosses.SparseCategoricalCrossentropy(from_logits=True, class_weight=[1.0, 2.0])
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(core))
    assert type(restored) is unilosses.SparseCategoricalCrossentropy
    assert restored.get_config() == core.get_config()


# ------------------------------------------------------------- training, per backend
_FRAMEWORK = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(_FRAMEWORK))
def test_fit_save_load(backend) -> None:
    """Fit with a unilosses.keras loss, a unilosses function and a unilosses.Loss; save and load."""
    if importlib.util.find_spec(_FRAMEWORK[backend]) is None:
        pytest.skip(f"{backend} is not installed")
    script = Path(__file__).with_name("keras_fit_check.py")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(script), backend], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("saved and loaded") == 3, proc.stdout
