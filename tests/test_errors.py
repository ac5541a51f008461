"""Bad input: eager ValueError / TypeError naming the parameter and what was expected.

Also the edge cases that must not turn into errors or silent wrong numbers:
out-of-range labels (an error where the values can be read without a device
sync, NaN otherwise), Python values as NumPy arrays, empty and fully ignored
batches (0 under every reduction), and NaN staying in its own sample.

Tests marked "every loss" run over :func:`unilosses.conformance.all_cases` and
every public loss, so new losses are covered as they are added.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from conftest import compute_together

import unilosses as ul
from unilosses.conformance import all_cases, first_case_per_loss
from unilosses.testing import BACKENDS, ArrayBackend, assert_close, available_backends, to_numpy

CASES = all_cases()
B, K = 6, 4

#: every public loss function (they carry their ``spec``) and every Loss class
FUNCTIONS = sorted(n for n in ul.__all__ if ul.authoring.is_loss_function(getattr(ul, n)))
CLASSES = sorted(ul.loss_classes())


def _spec(name):
    return getattr(ul, name).spec


def _inputs_of(spec):
    return tuple(getattr(spec, "inputs", ("y_true", "y_pred")))


def _decides(spec):
    return getattr(spec, "decides", "y_pred")


def _case_arrays(case, seed=3):
    """(positional NumPy inputs, array options, index of the deciding input, its name)."""
    arrays = case.inputs(np.random.default_rng(seed))
    args, kw = case.call_args(arrays)
    spec = _spec(case.loss)
    names = _inputs_of(spec)
    lead = _decides(spec)
    return list(args), kw, names.index(lead), lead


#: array options that hold one value per class or feature, never per sample
PER_CLASS = {"class_weight", "pos_weight"}


PER_LOSS = first_case_per_loss(CASES)
PER_LOSS_IDS = [c.id for c in PER_LOSS]

#: sweeps over every case run everywhere a call costs microseconds; where a call
#: compiles (JAX) or builds a task graph (Dask), on the first case of each loss and
#: every case with ignored labels
SLOW = {"jax", "dask"}


def _sweep(cases):
    slow = [c for c in cases if c in PER_LOSS or "ignore_index" in c.options]
    return [
        pytest.param(name, c, id=f"{name}-{c.id}")
        for name in available_backends()
        for c in (slow if name in SLOW else cases)
    ]


def _evaluate(backend, thunk, *arrays):
    """``thunk(*arrays)`` (a list of loss results) as NumPy values: under one
    ``jax.jit`` for JAX (each eager call would compile on its own; this also runs
    the losses inside a caller's jit), with one ``dask.compute`` for Dask."""
    if backend.name == "jax":
        import jax

        return [to_numpy(v) for v in jax.jit(thunk)(*arrays)]
    out = thunk(*arrays)
    if backend.name == "dask":
        out = compute_together(out)
    return [to_numpy(v) for v in out]


def _batch_inputs(args, lead):
    """Indices of the positional inputs sharing the deciding input's batch axis 0."""
    b = np.shape(args[lead])[0]
    return [i for i, a in enumerate(args) if np.ndim(a) >= 1 and np.shape(a)[0] == b]


def _other_framework(name):
    """A framework whose arrays are not converted when y_pred is of ``name``."""
    for other in ("array_api_strict", "torch", "jax", "dask", "tensorflow"):
        if other != name and other in BACKENDS:
            try:
                return ArrayBackend(other)
            except ImportError:
                continue
    pytest.skip("needs a second array framework")


def _np(x):
    return to_numpy(x)


#: known bugs outside the files these tests own, as (test, backend or "*", loss or case id)
#: -> reason. Strict: a fix makes the test XPASS and fail, so the entry is removed with it.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}  # none at present


def _known_bug(request, backend_name, case_id="*"):
    test = request.node.originalname.removeprefix("test_").removeprefix("every_loss_")
    for key in ((test, backend_name, case_id), (test, "*", case_id), (test, "*", "*")):
        if key in KNOWN_BUGS:
            request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[key]))
            return


# =============================================================== options (eager)
#: option name -> (bad value, exception, regex naming the parameter and the rule)
BAD_OPTIONS = [
    # [0, 1]; [0, 0.5) for the preference losses' conservative (cDPO) smoothing
    ("label_smoothing", 1.5, ValueError, r"label_smoothing: expected a value in \[0(\.0)?, (1(\.0)?\]|0\.5\)), got 1\.5"),
    ("label_smoothing", -0.1, ValueError, r"label_smoothing: expected a value in \[0(\.0)?, (1(\.0)?\]|0\.5\)), got -0\.1"),
    ("label_smoothing", "0.1", TypeError, r"label_smoothing: expected a number"),
    ("label_smoothing", True, TypeError, r"label_smoothing: expected a number"),
    ("label_smoothing", float("nan"), ValueError, r"label_smoothing: expected a number, got nan"),
    # [0, inf]; [0, 1] for the asymmetric unified focal loss's gamma and delta
    ("gamma", -1.0, ValueError, r"gamma: expected a value in \[0(\.0)?, (inf|1(\.0)?)\], got -1\.0"),
    ("alpha", -0.25, ValueError, r"alpha: expected a value in \[0(\.0)?, .*\], got -0\.25"),
    ("delta", 0.0, ValueError, r"delta: expected a value in \(0(\.0)?, inf\], got 0\.0"),
    ("delta", -1.0, ValueError, r"delta: expected a value in [\[(]0(\.0)?, (inf|1(\.0)?)\], got -1\.0"),
    ("beta", 0.0, ValueError, r"beta: expected a value in \(0(\.0)?, inf\], got 0\.0"),
    # (0, inf] or [0, inf]; [0, 1] for the generalized JSD's interpolation weight
    ("beta", -2.0, ValueError, r"beta: expected a value in [\[(]0(\.0)?, (inf|1(\.0)?)\], got -2\.0"),
    ("epsilon", 0.0, ValueError, r"epsilon: expected a value in \(0(\.0)?, 0\.5\), got 0\.0"),
    ("epsilon", 0.5, ValueError, r"epsilon: expected a value in \(0(\.0)?, 0\.5\), got 0\.5"),
    ("eps", 0.0, ValueError, r"eps: expected a value in \(0(\.0)?, inf\], got 0\.0"),
    ("from_logits", "yes", TypeError, r"from_logits: expected True or False, got 'yes'"),
    ("from_logits", 1, TypeError, r"from_logits: expected True or False, got 1"),
    ("axis", 1.5, TypeError, r"axis: expected an integer axis(, a tuple of them,)? or None, got 1\.5"),
    ("ignore_index", 1.5, TypeError, r"ignore_index: expected an integer label or None, got 1\.5"),
]


def _applies(spec, option, value):
    """A bad value applies where the loss has the option and, where the loss has its own rule
    for it (Tversky's beta may be 0; poly-1's epsilon is any real number), that rule refuses it."""
    if option not in spec.options:
        return False
    own = getattr(spec, "rules", {}).get(option)
    if own is None:
        return True
    try:
        own(option, value)
    except (TypeError, ValueError):
        return True
    return False


def _bad_option_params():
    for name in FUNCTIONS:
        for opt, value, exc, msg in BAD_OPTIONS:
            if _applies(_spec(name), opt, value):
                yield pytest.param(name, opt, value, exc, msg, id=f"{name}-{opt}={value!r}")


@pytest.mark.parametrize(("name", "option", "value", "exc", "match"), list(_bad_option_params()))
def test_bad_option_raises_before_touching_inputs(name, option, value, exc, match):
    """Every loss: a bad option fails with its rule, before the inputs are even looked at."""
    fn = getattr(ul, name)
    inputs = [object()] * len(_inputs_of(fn.spec))  # not arrays: validation must come first
    with pytest.raises(exc, match=match):
        fn(*inputs, **{option: value})


def _bad_class_params():
    for name in CLASSES:
        for opt, value, exc, msg in BAD_OPTIONS:
            if _applies(getattr(ul, name).function.spec, opt, value):
                yield pytest.param(name, opt, value, exc, msg, id=f"{name}-{opt}={value!r}")


@pytest.mark.parametrize(("name", "option", "value", "exc", "match"), list(_bad_class_params()))
def test_bad_option_raises_in_the_constructor(name, option, value, exc, match):
    """Every Loss class validates in ``__init__``, not at the first call."""
    with pytest.raises(exc, match=match):
        getattr(ul, name)(**{option: value})


@pytest.mark.parametrize("name", FUNCTIONS)
def test_unknown_option_is_named(name):
    fn = getattr(ul, name)
    inputs = [object()] * len(_inputs_of(fn.spec))
    with pytest.raises(TypeError, match=r"unexpected option\(s\) \['label_smothing'\]; valid options: \["):
        fn(*inputs, label_smothing=0.1)


def test_option_typo_suggests_the_closest(backend, rng):
    """A typo in an option lists the valid ones and, as ``ul.get`` does for names, the closest one:
    the class form and the function form, whatever the arrays' framework."""
    msg = r"^categorical_focal_crossentropy: unexpected option\(s\) \['gama'\]; valid options: \[.*'gamma'.*\]; did you mean 'gamma'\?$"
    with pytest.raises(TypeError, match=msg):
        ul.CategoricalFocalCrossentropy(gama=2)
    y = np.eye(K, dtype=np.float32)[rng.integers(0, K, B)]
    p = np.full((B, K), 1 / K, np.float32)
    with pytest.raises(TypeError, match=msg):
        ul.categorical_focal_crossentropy(backend.asarray(y), backend.asarray(p), gama=2)
    with pytest.raises(TypeError, match=r"\['alfa', 'gama', 'zzz'\]; valid options: .*; did you mean 'alpha' for 'alfa', 'gamma' for 'gama'\?$"):
        ul.categorical_focal_crossentropy(backend.asarray(y), backend.asarray(p), gama=2, alfa=0.5, zzz=1)
    with pytest.raises(TypeError, match=r"unexpected option\(s\) \['zzz'\]; valid options: \[[^\]]*\]$"):  # nothing close: no hint
        ul.CategoricalFocalCrossentropy(zzz=1)


@pytest.mark.parametrize("name", CLASSES)
def test_unknown_option_in_constructor(name):
    with pytest.raises(TypeError, match=r"unexpected option\(s\) \['frm_logits'\]"):
        getattr(ul, name)(frm_logits=True)


@pytest.mark.parametrize("reduction", ["meen", "", "SUM", 1, ["sum"]])
def test_unknown_reduction_lists_the_valid_ones(reduction):
    y, p = np.array([[0.0, 1.0]]), np.array([[0.3, 0.6]])
    valid = "".join(f"(?=.*'{r}')" for r in ul.REDUCTIONS if r != "stats") + "(?=.*'mean')(?=.*'auto')"
    with pytest.raises(ValueError, match=rf"reduction: expected one of {valid}.*got {re.escape(repr(reduction))}"):
        ul.binary_crossentropy(y, p, reduction=reduction)
    with pytest.raises(ValueError, match=r"reduction: expected one of .*'sum_over_batch_size'"):
        ul.BinaryCrossentropy(reduction=reduction)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_unknown_reduction_every_loss(name):
    fn = getattr(ul, name)
    with pytest.raises(ValueError, match=r"reduction: expected one of .*'sum_by_nonzero_weights'.*got 'avg'"):
        fn(*[object()] * len(_inputs_of(fn.spec)), reduction="avg")


def test_reduction_enum_and_aliases_are_accepted():
    y, p = np.array([[0.0, 1.0]]), np.array([[0.3, 0.6]])
    a = ul.binary_crossentropy(y, p, reduction=ul.Reduction.SUM_OVER_BATCH_SIZE)
    for alias in ("mean", "auto", ul.Reduction.MEAN):
        np.testing.assert_array_equal(ul.binary_crossentropy(y, p, reduction=alias), a)


def test_normalizer_needs_sum():
    with pytest.raises(ValueError, match=r"normalizer: only used with reduction='sum', got reduction='none'"):
        ul.binary_crossentropy(np.zeros((2, 2)), np.full((2, 2), 0.5), normalizer=2.0)


# ===================================================================== registry
def test_get_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"unknown loss 'sparse_categorical_crossentropyy'; did you mean 'sparse_categorical_crossentropy'"):
        ul.get("sparse_categorical_crossentropyy")
    with pytest.raises(ValueError, match=r"unknown loss 'BinaryCrossEntropy'; did you mean 'BinaryCrossentropy'"):
        ul.get("BinaryCrossEntropy")
    with pytest.raises(ValueError, match=r"identifier: unknown loss 'zzzz'$"):
        ul.get("zzzz")


@pytest.mark.parametrize("bad", [42, 1.5, ["bce"]])
def test_get_wrong_type(bad):
    with pytest.raises(ValueError, match=r"identifier: expected a name, a config dict or a callable"):  # Keras' error
        ul.get(bad)


def test_deserialize_bad_config():
    with pytest.raises(ValueError, match=r"config: expected a name or a dict with 'class_name'"):
        ul.deserialize({"config": {}})
    with pytest.raises(ValueError, match=r"did you mean 'CategoricalCrossentropy'"):
        ul.deserialize({"class_name": "CategoricalCrossEntropy", "config": {}})
    with pytest.raises(ValueError, match=r"label_smoothing: expected a value in \[0"):
        ul.deserialize({"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 3.0}})


def test_serialize_rejects_foreign_objects():
    with pytest.raises(ValueError, match=r"obj: expected a unilosses loss function or Loss object"):
        ul.serialize(lambda y, p: 0)


# ========================================================= arrays: cross-entropy
def _cat(rng, b=B, k=K):
    return np.eye(k, dtype=np.float32)[rng.integers(0, k, b)], rng.standard_normal((b, k)).astype(np.float32)


def test_shape_mismatch_shows_both_shapes(backend, rng):
    y, z = _cat(rng)
    y5 = np.zeros((B + 1, K), np.float32)
    for fn in (ul.categorical_crossentropy, ul.binary_crossentropy):
        with pytest.raises(ValueError, match=rf"y_true: expected the shape of y_pred \({B}, {K}\), got \({B + 1}, {K}\)"):
            fn(backend.asarray(y5), backend.asarray(z))
    with pytest.raises(ValueError, match=rf"y_true: expected integer labels of shape \({B},\) for y_pred of shape \({B}, {K}\).*got \({B - 1},\)"):
        ul.sparse_categorical_crossentropy(backend.asarray(np.zeros(B - 1, np.int64)), backend.asarray(z))
    with pytest.raises(ValueError, match=rf"y_true: expected integer labels of shape \({B},\).*got \({B}, 2\)"):
        ul.sparse_categorical_crossentropy(backend.asarray(np.zeros((B, 2), np.int64)), backend.asarray(z))


def test_no_classes(backend):
    for fn in (ul.sparse_categorical_crossentropy, ul.SparseCategoricalCrossentropy()):
        with pytest.raises(ValueError, match=r"y_pred: expected at least one class along the class axis 1, got shape \(3, 0\)"):
            fn(backend.asarray(np.zeros(3, np.int64)), backend.asarray(np.zeros((3, 0), np.float32)))


def test_class_count_mismatch(backend, rng):
    y, z = _cat(rng)
    y_more = np.eye(K + 1, dtype=np.float32)[rng.integers(0, K + 1, B)]
    with pytest.raises(ValueError, match=rf"y_true: expected the shape of y_pred \({B}, {K}\), got \({B}, {K + 1}\)"):
        ul.categorical_crossentropy(backend.asarray(y_more), backend.asarray(z), from_logits=True)
    with pytest.raises(ValueError, match=rf"y_true: expected the shape of y_pred \({B}, {K}\), got \({B}, {K + 1}\)"):
        ul.CategoricalCrossentropy()(backend.asarray(y_more), backend.asarray(z))
    # a one-hot passed to the sparse loss is a shape error, not a silent broadcast
    with pytest.raises(ValueError, match=r"y_true: expected integer labels of shape"):
        ul.sparse_categorical_crossentropy(backend.asarray(y.astype(np.int64)), backend.asarray(z))


@pytest.mark.parametrize("fn", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("shape", [(K + 1,), (K - 1,), (1, K), ()])
def test_class_weight_wrong_length(backend, rng, fn, shape):
    y, z = _cat(rng)
    if fn.startswith("sparse"):
        y = rng.integers(0, K, B)
    w = np.ones(shape, np.float32)
    with pytest.raises(ValueError, match=rf"class_weight: expected a 1-D array with one weight per class \({K}\), got shape {re.escape(str(shape))}"):
        getattr(ul, fn)(backend.asarray(y), backend.asarray(z), from_logits=True, class_weight=backend.asarray(w))


@pytest.mark.parametrize("shape", [(B + 1,), (B, 2), (2, B), (B, 1, 3)])
def test_sample_weight_that_does_not_broadcast(backend, rng, shape):
    y, z = _cat(rng)
    sw = np.ones(shape, np.float32)
    for red in ("none", "sum_over_batch_size"):
        with pytest.raises(ValueError, match=rf"sample_weight: expected a shape that broadcasts to the per-sample loss shape \({B},\), got {re.escape(str(shape))}"):
            ul.categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, sample_weight=backend.asarray(sw), reduction=red)


def test_sample_weight_that_broadcasts(backend, rng):
    """Scalars, (B,), (B, 1) (squeezed, Keras) and (1,) are all fine."""
    y, z = _cat(rng)
    base = _np(ul.categorical_crossentropy(y, z, from_logits=True))
    for sw in (2.0, np.full(B, 2.0), np.full((B, 1), 2.0), np.full(1, 2.0)):
        sw_b = sw if isinstance(sw, float) else backend.asarray(sw)
        out = ul.categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, sample_weight=sw_b)
        assert_close(out, 2 * base, rtol=1e-6, atol=1e-6, like=backend.asarray(z))


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_integer_or_boolean_y_pred(backend, rng, dtype):
    y, z = _cat(rng)
    zi = backend.asarray((z > 0).astype(dtype))
    for fn in (ul.categorical_crossentropy, ul.binary_crossentropy):
        with pytest.raises(TypeError, match=rf"y_pred: expected a real floating-point array, got dtype .*{dtype.rstrip('0123456789')}"):
            fn(backend.asarray(y), zi)
    with pytest.raises(TypeError, match=r"y_pred: expected a real floating-point array"):
        ul.sparse_categorical_crossentropy(backend.asarray(np.zeros(B, np.int64)), zi)
    with pytest.raises(TypeError, match=r"y_pred: expected a real floating-point array"):
        ul.SparseCategoricalCrossentropy()(np.zeros(B, np.int64), zi)


def test_integer_python_lists_as_y_pred():
    with pytest.raises(TypeError, match=r"y_pred: expected a real floating-point array, got dtype int"):
        ul.binary_crossentropy([[0, 1]], [[0, 1]])
    with pytest.raises(TypeError, match=r"y_pred: expected a real floating-point array, got dtype bool"):
        ul.binary_crossentropy([[0, 1]], [[False, True]])


def test_boolean_sparse_labels(backend, rng):
    _, z = _cat(rng)
    with pytest.raises(TypeError, match=r"y_true: expected integer class labels, got booleans"):
        ul.sparse_categorical_crossentropy(backend.asarray(np.zeros(B, bool)), backend.asarray(z))


@pytest.mark.parametrize("where", ["y_true", "sample_weight", "class_weight"])
def test_arrays_of_two_frameworks(backend, rng, where):
    other = _other_framework(backend.name)
    y, z = _cat(rng)
    kw = {
        "y_true": backend.asarray(y),
        "sample_weight": None,
        "class_weight": None,
    }
    kw[where] = other.asarray(np.ones(K, np.float32) if where == "class_weight" else (y if where == "y_true" else np.ones(B, np.float32)))
    pattern = rf"{where}: got an array of {other.name} while y_pred is an array of {backend.name}"
    y_true = kw.pop("y_true")
    with pytest.raises(TypeError, match=pattern):
        ul.categorical_crossentropy(y_true, backend.asarray(z), **kw)
    with pytest.raises(TypeError, match=pattern):
        ul.CategoricalCrossentropy(class_weight=kw["class_weight"])(y_true, backend.asarray(z), sample_weight=kw["sample_weight"])


def test_unsupported_y_pred_type():
    for bad in (None, "abc", {"a": 1}, object()):
        with pytest.raises(TypeError, match=r"y_pred: expected an array of NumPy, JAX, PyTorch, TensorFlow"):
            ul.binary_crossentropy(np.zeros((1, 2)), bad)


def test_axis_out_of_range(backend, rng):
    y, z = _cat(rng)
    with pytest.raises(ValueError, match=r"axis: expected an axis in \[-2, 1\] for y_pred of rank 2, got 2"):
        ul.categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, axis=2)
    with pytest.raises(ValueError, match=r"axis: expected an axis in \[-2, 1\] for y_pred of rank 2, got -3"):
        ul.sparse_categorical_crossentropy(backend.asarray(np.zeros(B, np.int64)), backend.asarray(z), axis=-3)
    with pytest.raises(ValueError, match=r"axis: expected an axis in \[-2, 1\]"):
        ul.binary_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, axis=5)


# ============================================================== every loss: arrays
def _bigger_batch(a):
    a = np.asarray(a)
    return np.concatenate([a, a[:1]], axis=0)


@pytest.mark.parametrize("case", PER_LOSS, ids=PER_LOSS_IDS)
def test_every_loss_shape_mismatch(case, backend):
    """Every loss: an input whose batch does not match the deciding input's is a ValueError naming it."""
    args, kw, lead, lead_name = _case_arrays(case)
    names = _inputs_of(_spec(case.loss))
    others = [i for i in _batch_inputs(args, lead) if i != lead]
    if not others:
        pytest.skip("a single batched input")
    i = others[0]
    bad = list(args)
    bad[i] = _bigger_batch(args[i])
    shown = [re.escape(str(tuple(np.shape(bad[j])))) for j in (i, lead)]  # both shapes
    with pytest.raises(ValueError, match=rf"{names[i]}\b.*expected(?=.*{shown[0]})(?=.*{shown[1]})"):
        getattr(ul, case.loss)(*(backend.asarray(a) for a in bad), **kw)


@pytest.mark.parametrize("case", PER_LOSS, ids=PER_LOSS_IDS)
def test_every_loss_sample_weight_that_does_not_broadcast(case, backend):
    args, kw, _, _ = _case_arrays(case)
    xs = [backend.asarray(a) for a in args]
    fn = getattr(ul, case.loss)
    shape = np.shape(_np(fn(*xs, **kw)))  # the per-sample loss shape
    bad = shape[:-1] + (shape[-1] + 1,) if shape else (2,)  # never broadcasts (trailing axes are aligned, Keras)
    with pytest.raises(ValueError, match=rf"sample_weight: expected a shape that broadcasts to the per-sample loss shape {re.escape(str(shape))}, got {re.escape(str(bad))}"):
        fn(*xs, **kw, sample_weight=backend.asarray(np.ones(bad, np.float32)), reduction="sum")


@pytest.mark.parametrize("case", PER_LOSS, ids=PER_LOSS_IDS)
def test_every_loss_integer_deciding_input(case, backend):
    args, kw, lead, lead_name = _case_arrays(case)
    bad = list(args)
    bad[lead] = np.asarray(args[lead]).astype(np.int32)
    with pytest.raises(TypeError, match=rf"{lead_name}: expected a real floating-point array, got dtype"):
        getattr(ul, case.loss)(*(backend.asarray(a) for a in bad), **kw)


@pytest.mark.parametrize("case", PER_LOSS, ids=PER_LOSS_IDS)
def test_every_loss_two_frameworks(case, backend):
    args, kw, lead, lead_name = _case_arrays(case)
    other = _other_framework(backend.name)
    names = _inputs_of(_spec(case.loss))
    i = 0 if lead != 0 else 1
    if i >= len(args):
        pytest.skip("a single input")
    xs = [backend.asarray(a) for a in args]
    xs[i] = other.asarray(args[i])
    with pytest.raises(TypeError, match=rf"{names[i]}: got an array of {other.name} while {lead_name} is an array of {backend.name}"):
        getattr(ul, case.loss)(*xs, **kw)


@pytest.mark.parametrize("case", [c for c in CASES if "class_weight" in c.array_options], ids=lambda c: c.id)
def test_every_loss_class_weight_wrong_length(case, backend):
    args, kw, _, _ = _case_arrays(case)
    w = np.asarray(kw["class_weight"])
    kw["class_weight"] = backend.asarray(np.concatenate([w, w[:1]]))
    with pytest.raises(ValueError, match=rf"class_weight: expected a 1-D array with one weight per class \({w.shape[0]}\), got shape \({w.shape[0] + 1},\)"):
        getattr(ul, case.loss)(*(backend.asarray(a) for a in args), **kw)


def _array_option_params():
    for c in CASES:
        for opt in c.array_options:
            yield pytest.param(c, opt, id=f"{c.id}-{opt}")


@pytest.mark.parametrize(("case", "option"), list(_array_option_params()))
def test_every_loss_array_option_of_the_wrong_shape(case, option, backend, request):
    """Class weights, pos_weight, variances...: a shape that does not fit is a ValueError naming
    the option, never a framework's broadcasting error."""
    _known_bug(request, backend.name, case.id)
    args, kw, _, _ = _case_arrays(case)
    good = np.asarray(kw[option])
    bad = np.ones(good.shape[:-1] + (good.shape[-1] + 1,) if good.ndim else (3,), np.float32)
    kw[option] = backend.asarray(bad)
    with pytest.raises(ValueError, match=rf"{option}\b.*expected"):
        getattr(ul, case.loss)(*(backend.asarray(a) for a in args), **kw)  # eager: no compute needed


def test_pos_weight_of_the_wrong_shape(backend, rng, request):
    _known_bug(request, backend.name)
    y = rng.integers(0, 2, (6, 5)).astype(np.float32)
    z = rng.standard_normal((6, 5)).astype(np.float32)
    for shape in [(4,), (2, 5), (6, 4)]:
        with pytest.raises(ValueError, match=rf"pos_weight: expected a shape that broadcasts to y_pred's shape \(6, 5\), got {re.escape(str(shape))}"):
            ul.binary_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, pos_weight=backend.asarray(np.ones(shape, np.float32)))
    for shape in [(5,), (6, 1), (1, 5), ()]:  # these broadcast
        ul.binary_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, pos_weight=backend.asarray(np.ones(shape, np.float32)))


@pytest.mark.parametrize("case", PER_LOSS, ids=PER_LOSS_IDS)
def test_every_loss_integer_inputs_behave_as_on_numpy(case, backend, request):
    """An integer or boolean input that does not decide the backend (targets, a second
    embedding...) is accepted as on NumPy (then with NumPy's values), or refused with
    NumPy's error type."""
    _known_bug(request, backend.name, case.id)
    args, kw, lead, _ = _case_arrays(case)
    fn = getattr(ul, case.loss)
    for i, a in enumerate(args):
        if i == lead or np.asarray(a).dtype.kind != "f":
            continue
        ints = list(args)
        ints[i] = np.round(np.asarray(a) * 2).astype(np.int32) if i % 2 else np.asarray(a) > 0.5
        try:
            expected, error = np.asarray(fn(*ints, **kw)), None
        except (ValueError, TypeError) as e:
            expected, error = None, type(e)
        xs = [backend.asarray(x) for x in ints]
        if error is not None:
            with pytest.raises(error):
                to_numpy(fn(*xs, **kw))
        else:
            assert_close(fn(*xs, **kw), expected, rtol=1e-5, atol=1e-5, like=xs[lead])


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
def test_triplet_margin_without_features(backend, p):
    """Vectors with no features are at distance 0 for every p (torch.amax would fail for p=inf):
    the loss is the margin, as torch's triplet_margin_loss gives for p=2."""
    x = backend.asarray(np.zeros((3, 0), np.float32))
    out = ul.triplet_margin(x, x, x, p=p, margin=0.7)
    assert_close(out, np.full(3, 0.7, np.float32), rtol=1e-6, atol=1e-6, like=x)


@pytest.mark.parametrize(("backend_name", "case"), _sweep(CASES))
def test_every_loss_empty_feature_axis(backend_name, case, request):
    """A last axis of size 0 (no features, no classes) gives a result or a ValueError / TypeError,
    never another exception."""
    _known_bug(request, backend_name, case.id)
    backend = ArrayBackend(backend_name)
    args, kw, lead, _ = _case_arrays(case)
    d = np.shape(args[lead])[-1]
    cut = lambda a: np.asarray(a)[..., :0] if np.ndim(a) >= 1 and np.shape(a)[-1] == d else a  # noqa: E731
    xs = [backend.asarray(cut(a)) for a in args]
    kw = {n: backend.asarray(cut(v)) if isinstance(v, np.ndarray) else v for n, v in kw.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "mean of empty slice"
        try:
            to_numpy(getattr(ul, case.loss)(*xs, **kw, reduction="sum"))
        except (ValueError, TypeError):
            pass


# ======================================================== labels out of range
#: backends where labels are checked on the host (no device sync): a ValueError
RAISES = {"numpy", "torch", "tensorflow"}
#: backends where reading values would sync or force a computation: NaN in the loss.
#: array_api_strict runs the generic backend, the same code path as CuPy or any
#: device library, which never reads values on the host; Dask is lazy; JAX
#: would need a host sync.
NAN = {"array_api_strict", "jax", "dask"}


def test_label_policy_covers_every_backend():
    assert RAISES | NAN == set(BACKENDS) and not RAISES & NAN


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("with_weight", [False, True])
def test_out_of_range_label(backend, rng, smoothing, with_weight):
    bad = {1: K, 2: K + 7, 4: -1, 5: -100}
    y = rng.integers(0, K, B + 2)
    for i, label in bad.items():
        y[i] = label
    z = rng.standard_normal((B + 2, K)).astype(np.float32)
    kw = {"from_logits": True, "label_smoothing": smoothing}
    if with_weight:
        kw["class_weight"] = backend.asarray(rng.uniform(0.5, 2, K).astype(np.float32))
    fn = ul.sparse_categorical_crossentropy
    yb, zb = backend.asarray(y), backend.asarray(z)
    if backend.name in RAISES:
        # the first offending label, its index, how many more, and the likely fix (1-based labels)
        msg = rf"^y_true: labels must lie in \[0, {K - 1}\]; got {K} at index 1 \(3 more outside the range\); classes are numbered from 0"
        with pytest.raises(ValueError, match=msg):
            fn(yb, zb, **kw)
        with pytest.raises(ValueError, match=r"y_true: labels must lie in"):
            ul.SparseCategoricalCrossentropy(**kw)(yb, zb)
        for i, label in bad.items():  # each bad label alone
            with pytest.raises(ValueError, match=r"y_true: labels must lie in"):
                fn(backend.asarray(np.where(np.arange(B + 2) == i, label, 0)), zb, **kw)
        return
    out = _np(fn(yb, zb, **kw))
    assert np.all(np.isnan(out[list(bad)]))
    good = [i for i in range(B + 2) if i not in bad]
    np_kw = {**kw, "class_weight": _np(kw["class_weight"]) if with_weight else None}
    np.testing.assert_allclose(out[good], fn(y[good], z[good], **np_kw), rtol=1e-5, atol=1e-6)
    reductions = [r for r in ul.REDUCTIONS if r != "none"]
    results = _evaluate(backend, lambda y_, z_: [fn(y_, z_, **kw, reduction=r) for r in reductions], yb, zb)
    for red, res in zip(reductions, results):
        value = res[0] if isinstance(res, tuple) else res
        assert np.isnan(value), f"{red}: an out-of-range label gave the finite {value}"


@pytest.mark.parametrize("label", [K, -1])
def test_out_of_range_label_with_ignore_index(backend, rng, label):
    """A label that is neither in range nor ``ignore_index`` is still an error; ignore_index is not."""
    y = rng.integers(0, K, B)
    y[0] = -100
    z = rng.standard_normal((B, K)).astype(np.float32)
    out = _np(ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, ignore_index=-100))
    assert out[0] == 0 and np.all(np.isfinite(out))
    y[3] = label
    msg = rf"y_true: labels must lie in \[0, {K - 1}\] or equal ignore_index=-100; got {label} at index 3(;|$)"
    if backend.name in RAISES:
        with pytest.raises(ValueError, match=msg):
            ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, ignore_index=-100)
    else:
        out = _np(ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, ignore_index=-100))
        assert out[0] == 0 and np.isnan(out[3])
        assert np.isnan(_np(ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, ignore_index=-100, reduction="mean")))


def test_out_of_range_label_nchw(backend, rng):
    y = rng.integers(0, K, (2, 3, 4))
    y[1, 2, 3] = K
    z = rng.standard_normal((2, K, 3, 4)).astype(np.float32)
    if backend.name in RAISES:
        with pytest.raises(ValueError, match=rf"y_true: labels must lie in \[0, {K - 1}\]; got {K} at index \(1, 2, 3\)"):
            ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, axis=1)
    else:
        out = _np(ul.sparse_categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, axis=1))
        assert np.isnan(out[1, 2, 3]) and np.isfinite(out).sum() == out.size - 1


@pytest.mark.parametrize(("label", "ignore_index", "hint"), [
    (-100, None, "; torch's ignored label -100 needs ignore_index=-100"),
    (-100, -1, "; torch's ignored label -100 needs ignore_index=-100"),
    (-1, None, "; to leave out samples labelled -1, pass ignore_index=-1"),
], ids=["torch-ignored", "torch-ignored-other-ignore-index", "negative"])
def test_out_of_range_label_names_the_fix(backend, rng, label, ignore_index, hint):
    """torch's default ignored label (-100) or another negative label without ``ignore_index``:
    the message names the label, its index and the option that ignores it; NaN where values
    cannot be read."""
    y = rng.integers(0, K, B)
    y[3] = label
    z = rng.standard_normal((B, K)).astype(np.float32)
    yb, zb = backend.asarray(y), backend.asarray(z)
    kw = {"from_logits": True, "ignore_index": ignore_index}
    if backend.name in RAISES:
        allowed = rf"\[0, {K - 1}\]" + ("" if ignore_index is None else rf" or equal ignore_index={ignore_index}")
        msg = rf"^y_true: labels must lie in {allowed}; got {label} at index 3{re.escape(hint)}$"
        with pytest.raises(ValueError, match=msg):
            ul.sparse_categorical_crossentropy(yb, zb, **kw)
        with pytest.raises(ValueError, match=msg):
            ul.SparseCategoricalCrossentropy(**kw)(yb, zb)
    else:
        out = _np(ul.sparse_categorical_crossentropy(yb, zb, **kw))
        assert np.isnan(out[3]) and np.isfinite(np.delete(out, 3)).all()


def test_label_range_message_counts_and_positions():
    """The message's parts, from the helper the losses share (NumPy: values are read)."""
    from unilosses.validity import label_range_error

    y = np.array([[0, 5, 1], [-100, 2, 9]])
    be = ul.backend_for(np.zeros(1, np.float32))
    assert str(label_range_error(be, y, 3, None)) == "y_true: labels must lie in [0, 2]; got 5 at index (0, 1) (2 more outside the range)"
    assert str(label_range_error(be, y, 3, -100)) == (
        "y_true: labels must lie in [0, 2] or equal ignore_index=-100; got 5 at index (0, 1) (1 more outside the range)"
    )
    assert str(label_range_error(be, np.array([1, 3]), 3)).endswith(
        "got 3 at index 1; classes are numbered from 0 (1-based labels? subtract 1; 3 classes take 0..2)"
    )


def _sparse_label_cases():
    """Cases whose y_true holds integer class labels (y_pred has one more axis, the class axis
    ``axis``; the labels of a contrastive loss only name groups: any integer is one); CTC's labels
    (a sequence per sample) are checked in test_sequence.py, linear_cross_entropy's in test_linear.py."""
    out = []
    for c in CASES:
        args, kw, lead, _ = _case_arrays(c)
        if "axis" not in _spec(c.loss).options or getattr(ul, c.loss).spec.inputs != ("y_true", "y_pred"):
            continue
        if lead == 1 and np.asarray(args[0]).dtype.kind in "iu" and np.ndim(args[1]) == np.ndim(args[0]) + 1:
            out.append(c)
    return out


SPARSE_CASES = _sparse_label_cases()


@pytest.mark.parametrize("case", SPARSE_CASES, ids=[c.id for c in SPARSE_CASES])
def test_every_sparse_loss_out_of_range_label(case, backend):
    """Every loss with integer labels: an error (host backends) or NaN there, never a finite number."""
    args, kw, _, _ = _case_arrays(case)
    axis = case.options.get("axis", -1) % np.ndim(args[1])
    k = np.shape(args[1])[axis]
    fn = getattr(ul, case.loss)
    for label in (k, -7):
        y = np.array(args[0], copy=True)
        first = (0,) * y.ndim
        y[first] = label
        xs = (backend.asarray(y), backend.asarray(args[1]))
        if backend.name in RAISES:
            with pytest.raises(ValueError, match=rf"y_true: labels must lie in \[0, {k - 1}\]"):
                fn(*xs, **kw)
        else:
            out, total = _evaluate(backend, lambda *a: [fn(*a, **kw), fn(*a, **kw, reduction="sum")], *xs)
            assert np.isnan(out[first]) and np.isnan(total), f"label {label} gave {out[first]}, sum {total}"


def test_out_of_range_label_traced_gives_nan():
    """Under jax.jit and tf.function (no host values): NaN, never a finite number."""
    y = np.array([0, 1, K])
    z = np.random.default_rng(0).standard_normal((3, K)).astype(np.float32)
    if "jax" in available_backends():
        import jax

        out = jax.jit(lambda y, z: ul.sparse_categorical_crossentropy(y, z, from_logits=True))(y, z)
        assert np.isnan(np.asarray(out)[2]) and np.all(np.isfinite(np.asarray(out)[:2]))
    if "tensorflow" in available_backends():
        import tensorflow as tf

        out = tf.function(lambda y, z: ul.sparse_categorical_crossentropy(y, z, from_logits=True, reduction="sum"))(
            tf.constant(y), tf.constant(z)
        )
        assert np.isnan(out.numpy())


# ========================================================= Python values, scalars
def test_python_lists_are_numpy_arrays():
    y, p = [[0.0, 1.0], [1.0, 1.0]], [[0.2, 0.7], [0.6, 0.9]]
    out = ul.binary_crossentropy(y, p)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, ul.binary_crossentropy(np.array(y), np.array(p)))
    out = ul.sparse_categorical_crossentropy([0, 2], [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(out, [-math.log(0.2), -math.log(0.8)], rtol=1e-12)
    out = ul.categorical_crossentropy([[0, 1]], [[0.25, 0.75]], class_weight=[2.0, 3.0], reduction="sum")
    np.testing.assert_allclose(out, -3 * math.log(0.75), rtol=1e-12)
    out = ul.CategoricalCrossentropy(class_weight=[1.0, 1.0])([[0, 1]], [[0.25, 0.75]], sample_weight=[2])
    np.testing.assert_allclose(out, -2 * math.log(0.75), rtol=1e-12)
    out = ul.binary_crossentropy((0.0, 1.0), (0.5, 0.5), from_logits=False)  # tuples too
    np.testing.assert_allclose(out, math.log(2), rtol=1e-6)


def test_python_scalars():
    out = ul.binary_crossentropy(1.0, 0.25, axis=None)
    assert np.ndim(out) == 0
    np.testing.assert_allclose(out, -math.log(0.25), rtol=1e-12)
    np.testing.assert_allclose(ul.binary_crossentropy(1, 0.25, axis=None, sample_weight=3), -3 * math.log(0.25), rtol=1e-12)
    np.testing.assert_allclose(ul.binary_crossentropy(np.float32(1), np.float32(0.25), axis=None, reduction="sum"), -math.log(0.25), rtol=1e-6)
    np.testing.assert_allclose(ul.binary_crossentropy([1.0], [0.25], reduction="sum", normalizer=2), -math.log(0.25) / 2, rtol=1e-12)
    np.testing.assert_allclose(ul.sparse_categorical_crossentropy(1, [0.25, 0.75]), -math.log(0.75), rtol=1e-12)


def test_python_values_move_to_y_pred(backend, rng):
    """y_true, sample_weight and class_weight as lists follow y_pred's framework and dtype."""
    y, z = _cat(rng)
    zb = backend.asarray(z)
    expected = ul.categorical_crossentropy(y, z, from_logits=True, class_weight=np.arange(1, K + 1, dtype=np.float32), sample_weight=np.arange(B, dtype=np.float32))
    out = ul.categorical_crossentropy(y.tolist(), zb, from_logits=True, class_weight=list(range(1, K + 1)), sample_weight=list(range(B)))
    assert_close(out, expected, rtol=1e-6, atol=1e-6, like=zb, dtype=zb.dtype)


# ================================================== empty and fully ignored batches
def _assert_zero(res, red):
    if red == "stats":
        assert isinstance(res, ul.LossStats)
        for v in res:
            assert _np(v) == 0, res
        assert _np(res.mean()) == 0 and _np(res.weighted_mean()) == 0
    else:
        v = _np(res)
        assert v.shape == () and v == 0, f"{red}: {v}"


@pytest.mark.parametrize(("backend_name", "case"), _sweep(CASES))
def test_every_loss_empty_batch(backend_name, case):
    """B=0 gives an empty per-sample result and 0 (not NaN) under every other reduction."""
    backend = ArrayBackend(backend_name)
    args, kw, lead, _ = _case_arrays(case)
    b = np.shape(args[lead])[0]
    idx = _batch_inputs(args, lead)
    empty = [np.asarray(a)[:0] if i in idx else a for i, a in enumerate(args)]
    for name, v in kw.items():  # per-sample array options (a variance...) lose their batch too
        if name not in PER_CLASS and isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == b:
            kw[name] = v[:0]
    fn = getattr(ul, case.loss)
    shape = np.shape(fn(*empty, **kw))  # NumPy's per-sample shape
    if shape == () and np.ndim(fn(*args, **kw)) == 0:  # one value for the whole batch (Dice's default, Keras)
        out = _evaluate(backend, lambda *xs: [fn(*xs, **kw, reduction=r) for r in ul.REDUCTIONS if r != "stats"],
                        *(backend.asarray(a) for a in empty))
        assert all(np.isfinite(v) and v.shape == () for v in out), out  # the empty batch's value (Dice: 1, as Keras)
        return
    assert shape[:1] == (0,)
    kw = {n: backend.asarray(v) if isinstance(v, np.ndarray) else v for n, v in kw.items()}
    sw = backend.asarray(np.ones(shape, np.float32))
    reductions = [r for r in ul.REDUCTIONS if r != "none"]

    def thunk(*xs):
        return [fn(*xs, **kw), fn(*xs, **kw, reduction="stats")] + [
            fn(*xs, **kw, reduction=r, sample_weight=sw) for r in reductions
        ]

    out = _evaluate(backend, thunk, *(backend.asarray(a) for a in empty))
    assert out[0].shape == shape
    for red, res in zip(["stats", *reductions], out[1:]):
        _assert_zero(res, red)


@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_fully_ignored_batch(backend, rng, with_weight, smoothing):
    y = np.full(B, -100)
    z = rng.standard_normal((B, K)).astype(np.float32)
    kw = {"from_logits": True, "ignore_index": -100, "label_smoothing": smoothing}
    if with_weight:
        kw["class_weight"] = backend.asarray(rng.uniform(0.5, 2, K).astype(np.float32))
    fn = ul.sparse_categorical_crossentropy
    yb, zb = backend.asarray(y), backend.asarray(z)
    np.testing.assert_array_equal(_np(fn(yb, zb, **kw)), np.zeros(B, np.float32))
    reductions = [r for r in ul.REDUCTIONS if r != "none"]
    sw = backend.asarray(np.full(B, 2.0, np.float32))

    def thunk(y_, z_):
        return [fn(y_, z_, **kw, reduction=r) for r in reductions] + [
            fn(y_, z_, **kw, reduction=r, sample_weight=sw) for r in reductions
        ]

    for red, res in zip(reductions * 2, _evaluate(backend, thunk, yb, zb)):
        _assert_zero(res, red)


def test_zero_sample_weights(backend, rng):
    y, z = _cat(rng)
    sw = backend.asarray(np.zeros(B, np.float32))
    for red in ("sum", "sum_over_batch_size", "mean_with_sample_weight", "sum_by_nonzero_weights"):
        _assert_zero(ul.categorical_crossentropy(backend.asarray(y), backend.asarray(z), from_logits=True, sample_weight=sw, reduction=red), red)


def test_fully_ignored_batch_has_finite_gradients():
    y = np.full(B, 3)
    z = np.random.default_rng(0).standard_normal((B, K)).astype(np.float32)
    if "torch" in available_backends():
        import torch

        zt = torch.tensor(z, requires_grad=True)
        ul.sparse_categorical_crossentropy(torch.tensor(y), zt, from_logits=True, ignore_index=3, reduction="mean_with_sample_weight").backward()
        assert torch.all(zt.grad == 0)
    if "jax" in available_backends():
        import jax

        g = jax.grad(lambda z: ul.sparse_categorical_crossentropy(y, z, from_logits=True, ignore_index=3, reduction="mean"))(z)
        assert np.all(np.asarray(g) == 0)


# ============================================================ NaN stays in its sample
@pytest.mark.parametrize(("backend_name", "case"), _sweep(CASES))
def test_every_loss_nan_stays_in_its_sample(backend_name, case):
    """A NaN in one sample of the deciding input gives NaN there and the clean values elsewhere
    (where samples are independent: in a contrastive loss it reaches every other sample too)."""
    backend = ArrayBackend(backend_name)
    args, kw, lead, _ = _case_arrays(case)
    fn = getattr(ul, case.loss)
    clean_np = np.asarray(fn(*args, **kw))
    if clean_np.ndim == 0:  # one value for the whole batch (Dice's default, Keras): NaN
        dirty = list(args)
        dirty[lead] = np.array(args[lead], copy=True)
        dirty[lead][1] = np.nan
        (out,) = _evaluate(backend, lambda *xs: [fn(*xs, **kw)], *(backend.asarray(a) for a in dirty))
        assert np.isnan(out)
        return
    # a sample whose clean loss is not exactly 0 (an ignored label gives 0 whatever y_pred holds)
    i = next(i for i in range(clean_np.shape[0]) if np.all(clean_np[i] != 0))
    dirty = list(args)
    dirty[lead] = np.array(args[lead], copy=True)
    dirty[lead][i] = np.nan
    n = len(args)
    clean, out = _evaluate(backend, lambda *xs: [fn(*xs[:n], **kw), fn(*xs[n:], **kw)], *(backend.asarray(a) for a in [*args, *dirty]))
    assert out.shape == clean.shape and out.ndim >= 1
    assert np.all(np.isnan(out[i])), "the NaN sample must stay NaN"
    if case.batch_coupled:
        return
    rest = np.delete(np.arange(out.shape[0]), i)
    np.testing.assert_allclose(out[rest], clean[rest], rtol=1e-6, atol=1e-7)


def test_nan_in_one_element_stays_in_that_element(backend, rng):
    y = rng.integers(0, 2, (B, 3)).astype(np.float32)
    p = rng.uniform(0.1, 0.9, (B, 3)).astype(np.float32)
    p[2, 1] = np.nan
    out = _np(ul.binary_crossentropy(backend.asarray(y), backend.asarray(p), axis=None))
    assert np.isnan(out[2, 1]) and np.isfinite(out).sum() == out.size - 1
    out = _np(ul.binary_crossentropy(backend.asarray(y), backend.asarray(p)))
    assert np.isnan(out[2]) and np.isfinite(out).sum() == B - 1
