"""Dispatch, conversion, classes, registry and the hand-checked examples of SEMANTICS.md."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import assert_close, assert_like, to_numpy


def test_assert_like_checks_framework_and_device_and_computes_nothing(backend):
    """assert_like: an array (or LossStats) of the input's framework passes, NumPy's in another's place
    fails naming both, and a lazy Dask result is not computed."""
    z = backend.asarray(np.zeros((3, 2), np.float32))
    y = backend.asarray(np.array([0, 1, 1]))
    assert_like(ul.sparse_categorical_crossentropy(y, z, from_logits=True), z)
    assert_like(ul.sparse_categorical_crossentropy(y, z, from_logits=True, reduction="stats"), z)
    if backend.name != "numpy":
        with pytest.raises(AssertionError, match="expected an array of .*, got numpy"):
            assert_like(np.zeros(3, np.float32), z)
    if backend.name == "dask":
        import dask
        import dask.array as da

        @dask.delayed
        def never():
            raise AssertionError("computed")

        lazy = da.from_delayed(never(), shape=(3, 2), dtype=np.float32)
        assert_like(ul.sparse_categorical_crossentropy(y, lazy, from_logits=True), z)


def test_import_imports_no_framework():
    code = (
        "import sys, unilosses, unilosses.testing, unilosses.conformance;"
        "bad = [m for m in ('torch', 'jax', 'tensorflow', 'keras', 'dask', 'optax', 'array_api_strict') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_result_is_callers_framework_and_dtype(backend, rng):
    z = backend.asarray(rng.standard_normal((4, 3)).astype(np.float32))
    out = ul.sparse_categorical_crossentropy([0, 1, 2, 0], z, from_logits=True)
    assert_close(out, to_numpy(ul.sparse_categorical_crossentropy(np.array([0, 1, 2, 0]), to_numpy(z), from_logits=True)), like=z, dtype=z.dtype)


def test_float32_and_float64_are_kept(backend, rng):
    dtypes = ["float32"]
    if backend.name != "jax":  # JAX without x64 has no float64 arrays
        dtypes.append("float64")
    for dtype in dtypes:
        p = backend.asarray(rng.uniform(0.1, 0.9, (4, 3)), dtype=dtype)
        out = ul.binary_crossentropy(np.ones((4, 3)), p)
        assert out.dtype == p.dtype


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_inputs_compute_in_float32(backend, rng, half):
    if half == "bfloat16" and backend.name in ("dask", "array_api_strict"):
        pytest.skip(f"{backend.name} has no bfloat16")
    if half == "float16" and backend.name == "array_api_strict":
        pytest.skip("float16 is not in the Array API standard")
    z = backend.asarray(rng.standard_normal((6, 4)).astype(np.float32), dtype=half)
    out = ul.sparse_categorical_crossentropy(np.arange(6) % 4, z, from_logits=True, label_smoothing=0.1)
    assert out.dtype == backend.dtype("float32")
    z32 = to_numpy(z).astype(np.float32)
    assert_close(out, to_numpy(ul.sparse_categorical_crossentropy(np.arange(6) % 4, z32, from_logits=True, label_smoothing=0.1)), rtol=1e-3)


def test_mixing_frameworks_is_a_type_error():
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(TypeError, match="y_true: got an array of tensorflow while y_pred is an array of torch"):
        ul.binary_crossentropy(tf.ones((2, 2)), torch.full((2, 2), 0.5))
    with pytest.raises(TypeError, match="sample_weight: got an array of torch while y_pred is an array of numpy"):
        ul.binary_crossentropy(np.ones((2, 2)), np.full((2, 2), 0.5), sample_weight=torch.ones(2))


@selected("torch")
def test_a_tensor_subclass_of_another_package_is_torch():
    """An array type is routed by class: a torch.Tensor subclass defined elsewhere gets torch's
    backend (its kernels, its eager checks) and mixes with plain torch labels."""
    import torch

    my_tensor = type("MyTensor", (torch.Tensor,), {"__module__": "mylib.tensors"})
    z = torch.randn(6, 4, dtype=torch.float64).as_subclass(my_tensor)
    y = torch.tensor([0, 3, 1, 2, 2, 0])
    assert type(z) is my_tensor and ul.backend_for(z).name == "torch"
    out = ul.sparse_categorical_crossentropy(y, z, from_logits=True, reduction="mean")
    expected = torch.nn.functional.cross_entropy(z.as_subclass(torch.Tensor), y)
    np.testing.assert_allclose(float(out), float(expected), rtol=1e-12)
    with pytest.raises(ValueError, match=r"y_true: labels must lie in \[0, 3\]"):  # torch's eager check
        ul.sparse_categorical_crossentropy(torch.tensor([0, 9, 1, 2, 2, 0]), z, from_logits=True)


@selected("tensorflow")
def test_ragged_tensors_are_refused_with_what_to_pass():
    import tensorflow as tf

    ragged = tf.ragged.constant([[0.2, 0.7], [0.5]])
    dense = tf.constant([[0.2, 0.7], [0.5, 0.5]])
    with pytest.raises(TypeError, match=r"y_pred: got a tf.RaggedTensor; pass a dense tensor: x.to_tensor\(\)"):
        ul.mean_squared_error(dense, ragged)
    with pytest.raises(TypeError, match="y_true: got a tf.RaggedTensor"):
        ul.mean_squared_error(ragged, dense)
    with pytest.raises(TypeError, match="y_true: got a tf.RaggedTensor"):
        ul.MeanSquaredError()(ragged, dense)


def test_python_lists_are_numpy():
    out = ul.binary_crossentropy([[1.0, 0.0]], [[0.9, 0.2]])
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [-(np.log(0.9) + np.log(0.8)) / 2], rtol=1e-12)


def test_integer_y_pred_is_a_type_error(backend):
    with pytest.raises(TypeError, match="y_pred: expected a real floating-point array"):
        ul.binary_crossentropy(np.ones((2, 2)), backend.asarray(np.ones((2, 2), np.int32)))


def test_unknown_array_type():
    with pytest.raises(TypeError, match="y_pred: expected an array"):
        ul.binary_crossentropy([1.0], object())


# ---------------------------------------------------------------- SEMANTICS.md examples
def test_confident_wrong_logit_costs_exactly_30(backend):
    z = backend.asarray(np.array([[30.0]], np.float32))
    out = ul.binary_crossentropy(backend.asarray(np.array([[0.0]], np.float32)), z, from_logits=True)
    assert_close(out, np.array([30.0], np.float32), rtol=1e-7)


def test_probability_zero_is_clipped_like_keras(backend):
    """BCE(y=1, p=0) = -log(1e-7) = 16.118 (Keras); torch's clamp would give 100."""
    out = ul.binary_crossentropy(np.array([[1.0]]), backend.asarray(np.array([[0.0]], np.float32)))
    assert_close(out, np.array([-np.log(np.float32(1e-7))], np.float32), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(out), 16.118, atol=1e-3)


def test_log_probabilities_are_logits_nll(backend, rng):
    p = rng.dirichlet(np.ones(5), 6).astype(np.float32)
    y = rng.integers(0, 5, 6)
    a = ul.sparse_categorical_crossentropy(y, backend.asarray(np.log(p)), from_logits=True)
    assert_close(a, -np.log(p[np.arange(6), y]), rtol=1e-5)


def test_hand_checked_scores(backend):
    s = np.array([[10, -2, 3], [10, 9, 9], [10, -100, -100]], np.float32)
    m = s.max(1, keepdims=True)
    expected = np.log(np.exp(s - m).sum(1)) - (s[:, 0] - m[:, 0])
    out = ul.sparse_categorical_crossentropy(np.zeros(3, int), backend.asarray(s), from_logits=True)
    # float32: log(sum(exp(s - max))) near log(1) has an absolute error of ~1 ulp of 1
    assert_close(out, expected.astype(np.float32), rtol=1e-6, atol=2.5e-7)


def test_hand_checked_categorical_mean(backend):
    y = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.float32)
    p = np.array([[0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.1, 0.2, 0.7]], np.float32)
    out = ul.categorical_crossentropy(backend.asarray(y), backend.asarray(p), reduction="mean")
    assert_close(out, np.float32(1.3783888522474517), rtol=1e-6)


def test_sparse_smoothing_equals_dense_smoothing(backend, rng):
    """The no-one-hot sparse formula equals the categorical loss on the one-hot, with class weights."""
    y = rng.integers(0, 6, 9)
    z = rng.standard_normal((9, 6)).astype(np.float32)
    w = rng.uniform(0.5, 2, 6).astype(np.float32)
    a = ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, label_smoothing=0.3, class_weight=w)
    b = ul.categorical_crossentropy(np.eye(6, dtype=np.float32)[y], backend.asarray(z), from_logits=True, label_smoothing=0.3, class_weight=w)
    assert_close(a, to_numpy(b), rtol=1e-5)


def test_keras_label_shape_b1_is_squeezed(backend, rng):
    z = rng.standard_normal((5, 3)).astype(np.float32)
    y = rng.integers(0, 3, 5)
    a = ul.sparse_categorical_crossentropy(backend.asarray(y[:, None]), backend.asarray(z), from_logits=True)
    assert_close(a, to_numpy(ul.sparse_categorical_crossentropy(y, z, from_logits=True)), rtol=1e-6)


def test_binary_axis_none_is_per_element(backend, rng):
    y = rng.integers(0, 2, (3, 4)).astype(np.float32)
    p = rng.uniform(0.1, 0.9, (3, 4)).astype(np.float32)
    out = ul.binary_crossentropy(backend.asarray(y), backend.asarray(p), axis=None)
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert_close(out, expected, rtol=1e-5)


# ------------------------------------------------------------------ classes, registry
def test_class_config_round_trip():
    obj = ul.SparseCategoricalCrossentropy(from_logits=True, class_weight=[1.0, 2.0, 3.0], ignore_index=-1, reduction="sum", name="ce")
    cfg = obj.get_config()
    assert cfg == {
        "name": "ce", "reduction": "sum", "from_logits": True, "from_log_probs": False, "label_smoothing": 0.0,
        "class_weight": [1.0, 2.0, 3.0], "where": None, "ignore_index": -1, "axis": -1, "epsilon": 1e-7,
        "z_loss": 0.0, "softcap": None,
    }
    again = ul.SparseCategoricalCrossentropy.from_config(cfg)
    assert again.get_config() == cfg
    z = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(again([0, 1, 2, -1], z), obj([0, 1, 2, -1], z))
    assert "class_weight=[1.0, 2.0, 3.0]" in repr(obj)


def test_class_validates_once_in_constructor():
    with pytest.raises(ValueError, match=r"label_smoothing: expected a value in \[0.0, 1.0\], got 1.5"):
        ul.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(TypeError, match="unexpected option"):
        ul.BinaryCrossentropy(gamma=2.0)


def test_reduction_and_options_are_validated_when_set(backend, rng):
    """A reduction or an option set after construction is validated as the constructor's are;
    options read as attributes (Keras' objects have them); tf.keras' AUTO means sum_over_batch_size."""
    y = backend.asarray((rng.random((4, 3)) > 0.5).astype(np.float32))
    p = backend.asarray(rng.uniform(0.05, 0.95, (4, 3)).astype(np.float32))
    mse = ul.MeanSquaredError()
    with pytest.raises(ValueError, match="reduction: expected one of"):
        mse.reduction = "Bar"
    for auto in ("auto", ul.Reduction.AUTO):
        mse.reduction = auto
        assert mse.reduction == "sum_over_batch_size"
    focal = ul.BinaryFocalCrossentropy(gamma=3.0)
    assert focal.gamma == 3.0 and focal.alpha == 0.25 and focal.options["gamma"] == 3.0
    focal.gamma = 1.0
    assert_close(focal(y, p), to_numpy(ul.binary_focal_crossentropy(y, p, gamma=1.0, reduction="mean")), rtol=1e-6)
    with pytest.raises(ValueError, match="gamma: expected a value in"):
        focal.gamma = -1.0
    assert focal.gamma == 1.0 and focal.get_config()["gamma"] == 1.0  # a refused value changes nothing
    with pytest.raises(AttributeError, match="no attribute 'gama'"):
        focal.gama  # noqa: B018


@selected("tensorflow")
def test_default_names_are_keras():
    """A loss object's default name is its Keras twin's (Huber's is "huber_loss"); the others
    are named after their function."""
    keras = pytest.importorskip("keras")
    twins = {n: getattr(keras.losses, n) for n in ul.loss_classes() if hasattr(keras.losses, n)}
    assert len(twins) >= 20
    for name, twin in twins.items():
        assert getattr(ul, name)().name == twin().name, name
    assert ul.NTXent().name == "ntxent" and ul.KLDivergence(name="kl").name == "kl"
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):  # Keras raises a ValueError too
        keras.losses.get(0)


def test_get_serialize_deserialize():
    assert ul.get("bce") is ul.binary_crossentropy
    assert ul.get("sparse_categorical_crossentropy") is ul.sparse_categorical_crossentropy
    assert isinstance(ul.get("BinaryCrossentropy"), ul.BinaryCrossentropy)
    obj = ul.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    again = ul.deserialize(ul.serialize(obj))
    assert isinstance(again, ul.CategoricalCrossentropy) and again.get_config() == obj.get_config()
    assert ul.get(ul.serialize(obj)).get_config() == obj.get_config()
    assert ul.deserialize(ul.serialize(ul.binary_crossentropy)) is ul.binary_crossentropy
    with pytest.raises(ValueError, match="did you mean 'binary_crossentropy'"):
        ul.get("binary_crosentropy")


def test_public_signature_is_explicit():
    import inspect

    params = inspect.signature(ul.sparse_categorical_crossentropy).parameters
    assert list(params)[:3] == ["y_true", "y_pred", "from_logits"]
    assert params["reduction"].default == "none"
    assert inspect.signature(ul.SparseCategoricalCrossentropy).parameters["reduction"].default == "sum_over_batch_size"


@selected("numpy")
def test_cli_check_runs_and_passes():
    r = subprocess.run(
        [sys.executable, "-m", "unilosses", "check", "--backends", "numpy", "--loss", "sparse_categorical_crossentropy"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sparse_categorical_crossentropy" in r.stdout and " 0 failed" in r.stdout  # the compact view: a line per loss


def test_docs_list_every_loss():
    """The docs' loss table (docs/losses/index.md, once the README's) stays current with what exists."""
    import pathlib

    table = (pathlib.Path(__file__).parents[1] / "docs" / "losses" / "index.md").read_text()
    for fam in ul.FAMILIES:
        for name in fam.__all__:
            assert f"`{name}" in table, f"docs/losses/index.md does not mention {name}"


def test_loss_classes_are_every_exported_loss_class():
    """loss_classes(): each Loss subclass the package exports, by name, and nothing else."""
    exported = {n for n in ul.__all__ if isinstance(getattr(ul, n), type) and issubclass(getattr(ul, n), ul.Loss)}
    classes = ul.loss_classes()
    assert set(classes) == exported - {"Loss", "FunctionLoss"} and len(classes) == 64
    assert all(getattr(ul, n) is c and ul.get(n).__class__ is c for n, c in classes.items())
