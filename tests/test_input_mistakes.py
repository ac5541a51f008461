"""Mistakes that gave silently wrong numbers (issue 12.9): refused where values can be read,
NaN where they cannot, with messages that name the fix.

Tried as a new user would: arguments swapped (``categorical_crossentropy(logits, onehot)`` gave
negative losses), logits without ``from_logits=True`` (8.14 where torch gives 0.94), float labels
that are no class, binary targets outside [0, 1].
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import to_numpy

B, K = 6, 4
CONCRETE = ("numpy", "torch", "tensorflow")  # values are read on the host without a device sync


def _expect_refusal_or_nan(backend, call, match):
    if backend.name in CONCRETE:
        with pytest.raises(ValueError, match=match):
            call()
    else:
        out = to_numpy(call())
        assert np.isnan(out).any(), out


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, K, B)
    return labels, np.eye(K, dtype=np.float32)[labels], (rng.standard_normal((B, K)) * 3).astype(np.float32)


@pytest.mark.parametrize(
    "fn", [ul.categorical_crossentropy, ul.categorical_focal_crossentropy], ids=["cce", "cfce"]
)
def test_swapped_categorical_arguments(backend, inputs, fn):
    _, onehot, logits = inputs
    _expect_refusal_or_nan(
        backend,
        lambda: fn(backend.asarray(logits), backend.asarray(onehot), from_logits=True),
        r"y_true: expected non-negative target probabilities, got values in .*did you swap the arguments",
    )


@pytest.mark.parametrize(
    ("fn", "target"),
    [
        (ul.binary_crossentropy, "binary"),
        (ul.binary_focal_crossentropy, "binary"),
        (ul.categorical_crossentropy, "onehot"),
        (ul.categorical_focal_crossentropy, "onehot"),
        (ul.sparse_categorical_crossentropy, "labels"),
        (ul.sparse_categorical_focal_crossentropy, "labels"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_logits_without_from_logits(backend, inputs, fn, target):
    labels, onehot, logits = inputs
    y = {"binary": (logits > 0).astype(np.float32), "onehot": onehot, "labels": labels}[target]
    _expect_refusal_or_nan(
        backend,
        lambda: fn(backend.asarray(y), backend.asarray(logits)),
        r"y_pred: expected probabilities in \[0, 1\] \(from_logits=False\).*did you mean from_logits=True\?",
    )


def test_probabilities_are_accepted_up_to_rounding(backend):
    y = np.array([[0.0, 1.0]], np.float32)
    p = np.array([[0.0, 1.0 + 1e-7]], np.float32)
    out = to_numpy(ul.binary_crossentropy(backend.asarray(y), backend.asarray(p)))
    assert np.isfinite(out).all()


def test_binary_targets_outside_0_1(backend, inputs):
    _, _, logits = inputs
    signed = np.where(logits > 0, 1.0, -1.0).astype(np.float32)
    _expect_refusal_or_nan(
        backend,
        lambda: ul.binary_crossentropy(backend.asarray(signed), backend.asarray(logits), from_logits=True),
        r"y_true: expected binary targets in \[0, 1\], got values in \[-1, 1\] \(labels in \{-1, 1\} take hinge",
    )


def test_float_labels_with_a_fraction(backend, inputs):
    labels, _, logits = inputs
    fractional = labels.astype(np.float32) + 0.5
    _expect_refusal_or_nan(
        backend,
        lambda: ul.sparse_categorical_crossentropy(backend.asarray(fractional), backend.asarray(logits), from_logits=True),
        r"y_true: expected integer class labels, got a float label with a fraction",
    )
    # whole floats are labels (Keras casts them)
    out = ul.sparse_categorical_crossentropy(backend.asarray(labels.astype(np.float32)), backend.asarray(logits), from_logits=True)
    expected = ul.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-5)


def test_integer_predictions_say_the_arguments_look_swapped(backend, inputs):
    labels, _, logits = inputs
    with pytest.raises(TypeError, match=r"y_pred: expected a real floating-point array.*the arguments look swapped"):
        ul.sparse_categorical_crossentropy(backend.asarray(logits), backend.asarray(labels), from_logits=True)


def test_nchw_class_axis_mismatch_suggests_axis_1(backend):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, K, 3, 5)).astype(np.float32)
    y = rng.integers(0, K, (2, 3, 5))
    with pytest.raises(ValueError, match=r"for torch's \(N, C, \.\.\.\) layout pass axis=1"):
        ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True)


@selected("torch")
def test_torch_modules_name_input_and_target(inputs):
    torch = pytest.importorskip("torch")
    import unilosses.torch as ult

    labels, onehot, logits = inputs
    with pytest.raises(ValueError, match=r"^input: expected probabilities in \[0, 1\].*from_logits=True\?"):
        ult.CategoricalCrossentropy()(torch.tensor(logits), torch.tensor(onehot))
    with pytest.raises(TypeError, match=r"^input: expected a real floating-point array.*swapped: .*\(input, target\), torch's order"):
        ult.SparseCategoricalCrossentropy(from_logits=True)(torch.tensor(labels), torch.tensor(logits))
    with pytest.raises(ValueError, match=r"^target: expected integer labels of shape"):
        ult.SparseCategoricalCrossentropy(from_logits=True)(torch.tensor(logits), torch.tensor(labels[:3]))


STRINGS = r"got an array of strings \(dtype <U\d+\); class names\? map them to integer labels 0\.\.K-1 first"


@pytest.mark.parametrize(
    ("fn", "target"),
    [
        (ul.sparse_categorical_crossentropy, "labels"),
        (ul.categorical_crossentropy, "onehot"),
        (ul.binary_crossentropy, "binary"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_string_labels_name_y_true(backend, inputs, fn, target):
    """Class names as strings: a TypeError naming y_true, what it takes and the fix, on every
    backend (frameworks said ``invalid literal for int()`` or ``can't convert np.ndarray of type
    numpy.str_``, naming neither); a list of digit strings too (NumPy alone would parse it)."""
    labels, onehot, logits = inputs
    y = {"binary": (logits > 0), "onehot": onehot, "labels": labels}[target]
    names = np.array(["cat", "dog", "eel", "fox"])[labels] if target == "labels" else y.astype(str)
    z = backend.asarray(logits)
    msg = rf"^y_true: expected integer class labels or float targets, {STRINGS}"
    with pytest.raises(TypeError, match=msg):
        fn(names, z, from_logits=True)
    with pytest.raises(TypeError, match=msg):
        fn([str(v) for v in labels] if target == "labels" else names.tolist(), z, from_logits=True)
    with pytest.raises(TypeError, match=r"^y_true: expected .*got an array of bytes \(dtype \|S\d+\)"):
        fn(names.astype(bytes), z, from_logits=True)


@selected("tensorflow")
def test_tensorflow_string_labels_name_y_true(inputs):
    tf = pytest.importorskip("tensorflow")
    labels, _, logits = inputs
    names = tf.constant(np.array(["cat", "dog", "eel", "fox"])[labels])
    with pytest.raises(TypeError, match=r"^y_true: expected integer class labels or float targets, got an array of strings"):
        ul.sparse_categorical_crossentropy(names, tf.constant(logits), from_logits=True)


def test_string_options_arrays_name_the_option(backend, inputs):
    """Any converted input of strings is named: a sample weight, an array option."""
    labels, _, logits = inputs
    z = backend.asarray(logits)
    with pytest.raises(TypeError, match=r"^sample_weight: expected an array of numbers, got an array of strings"):
        ul.sparse_categorical_crossentropy(labels, z, from_logits=True, sample_weight=["1"] * B)
    with pytest.raises(TypeError, match=r"^class_weight: expected an array of numbers, got an array of strings"):
        ul.sparse_categorical_crossentropy(labels, z, from_logits=True, class_weight=["1"] * K)


NOT_AN_ARRAY = r"expected a Python number, a list of numbers, or an array of NumPy, JAX, PyTorch, TensorFlow or another Array API library, got "


@pytest.mark.parametrize("bad", ["abc", b"abc", {"a": 1.0}, object()], ids=["str", "bytes", "dict", "object"])
def test_array_option_that_is_no_array_names_the_option(backend, inputs, bad):
    """A string (or a dict, or any object that is no array) for an array option or a sample
    weight: a TypeError naming that option and what it takes (it said ``y_pred: expected an
    array``), on every backend; the class form refuses a string or a dict when it is built."""
    labels, onehot, logits = inputs
    z = backend.asarray(logits)
    got = {str: r"str 'abc'", bytes: r"bytes b'abc'", dict: r"builtins\.dict"}.get(type(bad), r"builtins\.object")
    calls = {
        "class_weight": lambda: ul.sparse_categorical_crossentropy(labels, z, from_logits=True, class_weight=bad),
        "pos_weight": lambda: ul.binary_crossentropy(onehot, z, from_logits=True, pos_weight=bad),
        "where": lambda: ul.categorical_crossentropy(onehot, z, from_logits=True, where=bad),
        "sample_weight": lambda: ul.sparse_categorical_crossentropy(labels, z, from_logits=True, sample_weight=bad),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match=rf"^{name}: {NOT_AN_ARRAY}{got}$"):
            call()
    built = lambda: ul.SparseCategoricalCrossentropy(from_logits=True, class_weight=bad)  # noqa: E731
    if isinstance(bad, (str, bytes, dict)):  # never an array: refused when the options are validated
        with pytest.raises(TypeError, match=rf"^class_weight: {NOT_AN_ARRAY}{got}$"):
            built()
    else:  # an object of a type unilosses does not know: refused when its type is looked up
        with pytest.raises(TypeError, match=rf"^class_weight: {NOT_AN_ARRAY}{got}$"):
            built()(backend.asarray(labels), z)


@selected("torch")
def test_torch_module_names_the_ignored_label(inputs):
    """torch's CrossEntropyLoss ignores -100 by default; unilosses' module (Keras' default: none
    ignored) says which option does it, in torch's names."""
    torch = pytest.importorskip("torch")
    import unilosses.torch as ult

    labels, _, logits = inputs
    target = torch.tensor(labels)
    target[2] = -100
    msg = rf"^target: labels must lie in \[0, {K - 1}\]; got -100 at index 2; torch's ignored label -100 needs ignore_index=-100$"
    with pytest.raises(ValueError, match=msg):
        ult.SparseCategoricalCrossentropy(from_logits=True, axis=1)(torch.tensor(logits), target)
    out = ult.SparseCategoricalCrossentropy(from_logits=True, axis=1, ignore_index=-100, reduction="mean_with_sample_weight")(
        torch.tensor(logits), target
    )
    torch.testing.assert_close(out, torch.nn.functional.cross_entropy(torch.tensor(logits), target))
