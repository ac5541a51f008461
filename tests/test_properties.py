"""Property-based tests (hypothesis) on every backend.

Identities every loss must satisfy whatever its inputs: smoothing 0 is no
smoothing, unit weights are no weights, every reduction is the weighted sum
over a count, softmax losses ignore a shift of the logits, relabelling the
classes changes nothing, log-probabilities are valid logits, and every backend
gives NumPy's numbers (float32, 1e-5) for random shapes, axes and options.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compute_tree, one_program
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import unilosses as ul
from unilosses.conformance import all_cases, first_case_per_loss
from unilosses.testing import ArrayBackend, assert_close, available_backends, to_numpy

CASES = all_cases()

#: modest and reproducible: the same examples on every run (CI on 2 cores)
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: fewer examples where each one costs a compilation (JAX jits every new shape), many
#: small eager kernels (TensorFlow) or a task graph (Dask): same identities, fewer draws
FEWER = {"jax": 12, "tensorflow": 15, "dask": 10}
RTOL = ATOL = 1e-5


def _run(backend, check):
    """Run the hypothesis test ``check`` with the backend's number of examples."""
    settings(PROPERTY, max_examples=FEWER.get(backend.name, PROPERTY.max_examples))(check)()


#: sweeps over every conformance case run on every case where a call costs microseconds;
#: where a call compiles (JAX) or builds a task graph (Dask), on the first case of each
#: loss and every case with ignored labels
SLOW = {"jax", "dask"}
PER_LOSS = first_case_per_loss(CASES)


def _sweep(cases):
    slow = [c for c in cases if c in PER_LOSS or "ignore_index" in c.options]
    return [
        pytest.param(name, c, id=f"{name}-{c.id}")
        for name in available_backends()
        for c in (slow if name in SLOW else cases)
    ]


def _evaluate(backend, thunk, *arrays):
    """``thunk(*arrays)`` (nested dicts / tuples of loss results) as NumPy values: one ``jax.jit``
    of the whole thunk on JAX, one ``dask.compute`` for every result on Dask."""
    return compute_tree(one_program(backend.name, thunk)(*arrays), to_numpy)


#: array options holding one weight per class or feature (1 = no weight)
WEIGHT_OPTIONS = {"class_weight", "pos_weight"}

#: softmax losses over a class axis (from_logits=True): (function, labels are sparse)
SOFTMAX = [
    (name, name.startswith("sparse_"))
    for name in (
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "categorical_focal_crossentropy",
        "sparse_categorical_focal_crossentropy",
    )
    if hasattr(ul, name)
]
SOFTMAX_IDS = [n for n, _ in SOFTMAX]


def _np(x):
    return to_numpy(x)


def _inputs_of(fn):
    return tuple(getattr(fn.spec, "inputs", ("y_true", "y_pred")))


def _lead(fn):
    return _inputs_of(fn).index(getattr(fn.spec, "decides", "y_pred"))


def _draw_class_problem(data, *, rank_max=3, k_max=6):
    """(shape of y_pred, class axis, K) for a random softmax problem."""
    rank = data.draw(st.integers(1, rank_max), label="rank")
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank), label="shape"))
    axis = data.draw(st.integers(-rank, rank - 1), label="axis")
    k = data.draw(st.integers(2, k_max), label="K")
    shape = shape[: axis % rank] + (k,) + shape[axis % rank + 1 :]
    return shape, axis, k


def _sparse_inputs(rng, shape, axis, k, scale=3.0):
    label_shape = shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :]
    return rng.integers(0, k, label_shape), (rng.standard_normal(shape) * scale).astype(np.float32)


def _onehot(labels, k, axis):
    return np.moveaxis(np.eye(k, dtype=np.float32)[labels], -1, axis)


# ============================================================ smoothing
def _smoothing_cases():
    return [c for c in CASES if "label_smoothing" in getattr(ul, c.loss).spec.options]


@pytest.mark.parametrize(("backend_name", "case"), _sweep(_smoothing_cases()))
def test_smoothing_zero_is_no_smoothing(backend_name, case):
    backend = ArrayBackend(backend_name)
    arrays = case.inputs(np.random.default_rng(2))
    args, kw = case.call_args(tuple(backend.asarray(a) for a in arrays))
    kw.pop("label_smoothing", None)
    fn = getattr(ul, case.loss)
    out = _evaluate(backend, lambda *a: [fn(*a, **kw)] + [fn(*a, **kw, label_smoothing=z) for z in (0.0, 0, np.float32(0))], *args)
    for v in out[1:]:
        np.testing.assert_array_equal(v, out[0])


def test_sparse_smoothing_equals_smoothed_one_hot(backend):
    """The sparse losses never build a one-hot, yet equal their categorical forms on one."""

    @given(data=st.data(), e=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
    def check(data, e, seed):
        name, _ = data.draw(st.sampled_from([s for s in SOFTMAX if s[1]]), label="loss")
        shape, axis, k = _draw_class_problem(data)
        rng = np.random.default_rng(seed)
        y, z = _sparse_inputs(rng, shape, axis, k)
        kw = {"from_logits": True, "axis": axis, "label_smoothing": e}
        if data.draw(st.booleans(), label="class_weight"):
            kw["class_weight"] = backend.asarray(rng.uniform(0.2, 3, k).astype(np.float32))
        reduction = data.draw(st.sampled_from(ul.REDUCTIONS), label="reduction")
        zb = backend.asarray(z)
        sparse = getattr(ul, name)(backend.asarray(y), zb, **kw, reduction=reduction)
        dense = getattr(ul, name.removeprefix("sparse_"))(backend.asarray(_onehot(y, k, axis)), zb, **kw, reduction=reduction)
        assert_close(sparse, _np(dense), rtol=RTOL, atol=ATOL, like=zb)

    _run(backend, check)


def test_smoothing_equals_smoothed_targets(backend):
    """``label_smoothing=e`` is the unsmoothed loss of ``y (1 - e) + e / K`` (binary: ``+ e / 2``)."""

    @given(data=st.data(), e=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
    def check(data, e, seed):
        rng = np.random.default_rng(seed)
        binary = data.draw(st.booleans(), label="binary")
        from_logits = data.draw(st.booleans(), label="from_logits")
        if binary:
            names = [n for n in ("binary_crossentropy", "binary_focal_crossentropy") if hasattr(ul, n)]
            y = rng.integers(0, 2, (5, 3)).astype(np.float32)
            smoothed, k = y * (1 - e) + 0.5 * e, 2
        else:
            names = [n for n, sparse in SOFTMAX if not sparse]
            k = 4
            y = np.eye(k, dtype=np.float32)[rng.integers(0, k, 5)]
            smoothed = y * (1 - e) + e / k
        name = data.draw(st.sampled_from(names), label="loss")
        shape = y.shape
        p = (rng.standard_normal(shape) * 3).astype(np.float32) if from_logits else rng.uniform(0.05, 0.95, shape).astype(np.float32)
        pb = backend.asarray(p)
        fn = getattr(ul, name)
        out = fn(backend.asarray(y), pb, from_logits=from_logits, label_smoothing=e)
        expected = fn(backend.asarray(smoothed.astype(np.float32)), pb, from_logits=from_logits)
        assert_close(out, _np(expected), rtol=RTOL, atol=ATOL, like=pb)

    _run(backend, check)


# ============================================================ weights and reductions
@pytest.mark.parametrize(("backend_name", "case"), _sweep(CASES))
def test_weights_and_reductions(backend_name, case):
    """Every loss: unit sample / class weights are no weights, and every reduction is a sum over a count:
    sum = stats.total = mean * count = weighted mean * weight sum = nonzero mean * nonzero count."""
    backend = ArrayBackend(backend_name)
    rng = np.random.default_rng(6)
    arrays = case.inputs(rng)
    args, kw = case.call_args(tuple(backend.asarray(a) for a in arrays))
    fn = getattr(ul, case.loss)
    shape = np.shape(_np(fn(*args, **kw)))  # per-sample shape
    sw_np = rng.uniform(0.0, 2.0, shape).astype(np.float32)
    sw_np.flat[:: max(1, sw_np.size // 3)] = 0.0  # some zero weights
    b = shape[0] if shape else 1  # one value for the whole batch (Dice's default): a scalar weight
    unit = {n: backend.asarray(np.ones(np.shape(_np(kw[n])), np.float32)) for n in WEIGHT_OPTIONS & set(kw)}
    no_weights = {n: v for n, v in kw.items() if n not in unit}

    # on Dask (a task graph per call) the unit weights are compared on the per-sample values and the
    # stats, what every reduction is computed from (by the same generic code on every backend)
    unit_reductions = ("none", "stats") if backend_name == "dask" else ul.REDUCTIONS

    def thunk(*a):
        every = lambda sw, reductions=ul.REDUCTIONS, **k: {  # noqa: E731
            r: fn(*a, **k, sample_weight=sw, reduction=r) for r in reductions
        }
        return {
            "plain": every(None, **kw),
            "ones": every(backend.asarray(np.ones(shape, np.float32)), unit_reductions, **kw),
            "ones_b": fn(*a, **kw, sample_weight=backend.asarray(np.ones(((b,) + (1,) * (len(shape) - 1)) if shape else (), np.float32)), reduction="stats"),
            "one": fn(*a, **kw, sample_weight=1.0, reduction="stats"),
            "weighted": every(backend.asarray(sw_np), **kw),
            "no_class_weight": {r: fn(*a, **no_weights, reduction=r) for r in ("none", "stats")} if unit else {},
            "unit_class_weight": {r: fn(*a, **no_weights, **unit, reduction=r) for r in ("none", "stats")} if unit else {},
        }

    out = _evaluate(backend, thunk, *args)
    plain, red = out["plain"], out["weighted"]
    tol = {"rtol": 2e-5, "atol": 2e-5}
    # unit weights are no weights
    for r in unit_reductions:
        np.testing.assert_allclose(np.asarray(out["ones"][r]), np.asarray(plain[r]), rtol=1e-6, atol=1e-6, err_msg=r)
    for k in ("ones_b", "one"):
        np.testing.assert_allclose(np.asarray(out[k]), np.asarray(plain["stats"]), rtol=1e-6, atol=1e-6, err_msg=k)
    for r in out["no_class_weight"]:
        np.testing.assert_allclose(np.asarray(out["unit_class_weight"][r]), np.asarray(out["no_class_weight"][r]), rtol=1e-6, atol=1e-6)
    # every reduction is a sum over a count
    total, count, weight_sum = red["stats"]
    np.testing.assert_allclose(red["sum"], total, **tol)
    np.testing.assert_allclose(red["sum"], np.sum(red["none"], dtype=np.float64), **tol)
    np.testing.assert_allclose(red["sum_over_batch_size"] * count, total, **tol)
    np.testing.assert_allclose(red["mean_with_sample_weight"] * weight_sum, total, **tol)
    assert plain["stats"].count == count  # zero weights still count (Keras)
    np.testing.assert_allclose(plain["sum_over_batch_size"] * count, plain["sum"], **tol)
    if not (case.self_weighted or {"class_weight", "ignore_index", "where"} & (set(kw) | set(case.options))):
        # without class weights, ignored labels, excluded samples or the loss's own weights and masks:
        # counts are sizes, weights are sample weights
        assert count == np.prod(shape)
        np.testing.assert_allclose(weight_sum, sw_np.sum(dtype=np.float64), **tol)
        np.testing.assert_allclose(red["sum_by_nonzero_weights"] * np.count_nonzero(sw_np), total, **tol)


def test_reduction_identities_random_batches(backend):
    """The same identities for random batches, weights, class weights and ignored labels."""

    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def check(data, seed):
        rng = np.random.default_rng(seed)
        name, sparse = data.draw(st.sampled_from(SOFTMAX), label="loss")
        shape, axis, k = _draw_class_problem(data)
        y, z = _sparse_inputs(rng, shape, axis, k)
        kw = {"from_logits": True, "axis": axis}
        if data.draw(st.booleans(), label="class_weight"):
            kw["class_weight"] = backend.asarray(rng.uniform(0.2, 3, k).astype(np.float32))
        if sparse and data.draw(st.booleans(), label="ignore"):
            kw["ignore_index"] = -1
            y = np.where(rng.uniform(size=y.shape) < 0.3, -1, y)
        yb = backend.asarray(y if sparse else _onehot(y, k, axis))
        sw_np = np.where(rng.uniform(size=y.shape) < 0.2, 0.0, rng.uniform(0.1, 2, y.shape)).astype(np.float32)
        args, fn = (yb, backend.asarray(z)), getattr(ul, name)
        other = data.draw(st.sampled_from(["sum", "sum_over_batch_size", "mean_with_sample_weight", "sum_by_nonzero_weights"]), label="reduction")
        red = {r: _np(fn(*args, **kw, sample_weight=backend.asarray(sw_np), reduction=r)) for r in ("none", "stats", other)}
        total, count, weight_sum = red["stats"]
        valid = (y != -1) if "ignore_index" in kw else np.ones(y.shape, bool)
        cw = _np(kw["class_weight"])[np.where(valid, y, 0)] if "class_weight" in kw else 1.0
        eff = sw_np * cw * valid
        assert count == valid.sum()
        np.testing.assert_allclose(weight_sum, eff.sum(), rtol=2e-5, atol=1e-5)
        np.testing.assert_allclose(red["none"].sum(dtype=np.float64), total, rtol=2e-5, atol=1e-5)
        nonzero = np.count_nonzero(eff)
        expected = {
            "sum": total,
            "sum_over_batch_size": total / count if count else 0.0,
            "mean_with_sample_weight": total / weight_sum if weight_sum else 0.0,
            "sum_by_nonzero_weights": total / nonzero if nonzero else 0.0,
        }[other]
        np.testing.assert_allclose(red[other], expected, rtol=2e-5, atol=1e-5)

    _run(backend, check)


# ============================================================ softmax invariances
@pytest.mark.parametrize("name", SOFTMAX_IDS)
def test_softmax_losses_ignore_a_shift_of_the_logits(backend, name):

    @given(data=st.data(), seed=st.integers(0, 2**32 - 1), shift=st.floats(-20.0, 20.0))
    def check(data, seed, shift):
        sparse = name.startswith("sparse_")
        shape, axis, k = _draw_class_problem(data)
        rng = np.random.default_rng(seed)
        y, z = _sparse_inputs(rng, shape, axis, k)
        kw = {"from_logits": True, "axis": axis, "label_smoothing": data.draw(st.sampled_from([0.0, 0.1]), label="e")}
        per_sample = data.draw(st.booleans(), label="per_sample_shift")
        c = shift * (rng.uniform(-1, 1, y.shape) if per_sample else np.ones(y.shape))
        z_shift = (z + np.expand_dims(c, axis % len(shape))).astype(np.float32)
        yb = backend.asarray(y if sparse else _onehot(y, k, axis))
        fn = getattr(ul, name)
        expected = _np(fn(yb, backend.asarray(z), **kw))
        # float32 rounding of the shifted logits: |shift| * eps per logit
        atol = ATOL + 4 * abs(shift) * np.finfo(np.float32).eps * (1 + kw["label_smoothing"] * k)
        assert_close(fn(yb, backend.asarray(z_shift), **kw), expected, rtol=RTOL, atol=atol, like=yb)

    _run(backend, check)


@pytest.mark.parametrize("name", SOFTMAX_IDS)
def test_permuting_classes_changes_nothing(backend, name):
    """Relabel the classes: permute y_pred's class axis, the labels and the class weights together."""

    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def check(data, seed):
        sparse = name.startswith("sparse_")
        shape, axis, k = _draw_class_problem(data)
        perm = np.array(data.draw(st.permutations(range(k)), label="perm"))
        rng = np.random.default_rng(seed)
        y, z = _sparse_inputs(rng, shape, axis, k)
        from_logits = data.draw(st.booleans(), label="from_logits")
        if not from_logits:
            z = np.exp(z - z.max(axis=axis, keepdims=True))
            z = (z / z.sum(axis=axis, keepdims=True)).astype(np.float32)
        kw = {"from_logits": from_logits, "axis": axis, "label_smoothing": data.draw(st.sampled_from([0.0, 0.2]), label="e")}
        w = rng.uniform(0.2, 3, k).astype(np.float32)
        weighted = data.draw(st.booleans(), label="class_weight")
        if sparse and data.draw(st.booleans(), label="ignore"):
            kw["ignore_index"] = -100
            y = np.where(rng.uniform(size=y.shape) < 0.3, -100, y)
        # new class j is old class perm[j]; an old label c becomes inv[c]
        inv = np.argsort(perm)
        y2 = np.where(y == -100, -100, inv[np.where(y == -100, 0, y)])
        z2 = np.take(z, perm, axis=axis)
        fn = getattr(ul, name)

        def call(y_, z_, w_):
            yb = backend.asarray(y_ if sparse else _onehot(y_, k, axis))
            extra = {"class_weight": backend.asarray(w_)} if weighted else {}
            return fn(yb, backend.asarray(z_), **kw, **extra, reduction="none")

        expected = _np(call(y, z, w))
        assert_close(call(y2, z2, w[perm]), expected, rtol=RTOL, atol=ATOL)

    _run(backend, check)


# ============================================================ logits vs probabilities
def test_log_probabilities_are_logits(backend):
    """from_logits=True on log p equals from_logits=False on p, away from the clip."""

    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def check(data, seed):
        rng = np.random.default_rng(seed)
        kinds = [n for n, _ in SOFTMAX] + [n for n in ("binary_crossentropy", "binary_focal_crossentropy") if hasattr(ul, n)]
        name = data.draw(st.sampled_from(kinds), label="loss")
        fn = getattr(ul, name)
        e = data.draw(st.sampled_from([0.0, 0.1]), label="e")
        if name.startswith("binary"):
            shape = (data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5)))
            p = rng.uniform(0.01, 0.99, shape)
            y = rng.integers(0, 2, shape).astype(np.float32)
            logits = np.log(p) - np.log1p(-p)  # log p - log(1 - p): log_sigmoid(logits) = log p
        else:
            shape, axis, k = _draw_class_problem(data)
            y, z = _sparse_inputs(rng, shape, axis, k, scale=1.0)
            p = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)  # every p >= e^-2 / (e^2 (K-1)) > 1e-3
            logits = np.log(p)
            if not name.startswith("sparse_"):
                y = _onehot(y, k, axis)
        kw = {"label_smoothing": e} if "label_smoothing" in fn.spec.options else {}
        if not name.startswith("binary"):
            kw["axis"] = axis
        pb = backend.asarray(p.astype(np.float32))
        from_p = fn(backend.asarray(y), pb, **kw)
        from_logits = fn(backend.asarray(y), backend.asarray(logits.astype(np.float32)), from_logits=True, **kw)
        assert_close(from_logits, _np(from_p), rtol=1e-5, atol=2e-5, like=pb)

    _run(backend, check)


# ============================================================ every backend = NumPy
_SAME_SHAPE = [
    c for c in CASES
    if "axis" in getattr(ul, c.loss).spec.options
    and len({np.shape(a) for a in c.call_args(c.inputs(np.random.default_rng(0)))[0]}) == 1
]


def test_every_backend_agrees_with_numpy_random_shapes(backend):
    """Every loss whose inputs share one shape: random shapes and axes, the case's options,
    random reductions and sample weights; float32 on the backend equals float32 NumPy."""

    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def check(data, seed):
        case = data.draw(st.sampled_from(_SAME_SHAPE), label="case")
        rng = np.random.default_rng(seed)
        arrays = case.inputs(rng)
        args_np, kw_np = case.call_args(arrays)
        fn = getattr(ul, case.loss)
        n_pos = len(args_np)
        rank = data.draw(st.integers(1, 4), label="rank")
        shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank), label="shape"))
        default_axis = fn.spec.options["axis"]
        axes = list(range(-rank, rank)) + ([None] if default_axis is None or "elementwise" in case.id else [])
        axis = data.draw(st.sampled_from(axes), label="axis")
        # resample the case's values (the same positions in every input: pairs stay pairs)
        size = int(np.prod(shape))
        pick = rng.integers(0, np.asarray(args_np[0]).size, size)
        new = [np.asarray(a).reshape(-1)[pick].reshape(shape) for a in args_np]
        kw = {n: v for n, v in kw_np.items() if n in WEIGHT_OPTIONS or np.shape(v) == ()}
        for n, v in kw_np.items():  # per-element array options (a variance) are resampled too
            if n not in kw and np.shape(v) == np.shape(args_np[0]):
                kw[n] = np.asarray(v).reshape(-1)[pick].reshape(shape)
            elif n not in kw:
                return  # an array option tied to the case's shape: nothing to resample
        for n in WEIGHT_OPTIONS & set(kw):  # per-class weights follow the class axis
            kw[n] = rng.uniform(0.2, 3, shape[axis if axis is not None else -1]).astype(np.float32)
        kw["axis"] = axis
        try:
            expected = fn(*new, **kw)  # the case's options may not fit every shape (an axis, a class count)
        except ValueError:
            return
        reduction = data.draw(st.sampled_from(ul.REDUCTIONS), label="reduction")
        sw = None
        if data.draw(st.booleans(), label="sample_weight"):
            sw = rng.uniform(0, 2, np.shape(_np(expected))).astype(np.float32)
        expected = fn(*new, **kw, sample_weight=sw, reduction=reduction)
        xs = [backend.asarray(a) for a in new]
        kw_b = {n: backend.asarray(v) if isinstance(v, np.ndarray) else v for n, v in kw.items()}
        out = fn(*xs, **kw_b, sample_weight=None if sw is None else backend.asarray(sw), reduction=reduction)
        assert_close(out, expected, rtol=RTOL, atol=ATOL, like=xs[_lead(fn)])
        assert len(xs) == n_pos

    _run(backend, check)


def test_cross_entropy_agrees_with_numpy_random_options(backend):
    """The cross-entropy family: random shapes, axes, logits or probabilities, smoothing,
    epsilon, class weights, ignored labels, sample weights and reductions."""

    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def check(data, seed):
        rng = np.random.default_rng(seed)
        name = data.draw(st.sampled_from([n for n, _ in SOFTMAX] + ["binary_crossentropy"]), label="loss")
        fn = getattr(ul, name)
        from_logits = data.draw(st.booleans(), label="from_logits")
        kw = {
            "from_logits": from_logits,
            "label_smoothing": data.draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]), label="e"),
            "epsilon": data.draw(st.sampled_from([1e-7, 1e-3]), label="epsilon"),
        }
        if name == "binary_crossentropy":
            rank = data.draw(st.integers(1, 4), label="rank")
            shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank), label="shape"))
            kw["axis"] = data.draw(st.sampled_from([*range(-rank, rank), None]), label="axis")
            y = rng.uniform(0, 1, shape).astype(np.float32)
            p = (rng.standard_normal(shape) * 4) if from_logits else rng.uniform(0, 1, shape)
            if data.draw(st.booleans(), label="pos_weight"):
                kw["pos_weight"] = rng.uniform(0.5, 3, shape[-1:]).astype(np.float32)
        else:
            shape, axis, k = _draw_class_problem(data, rank_max=4)
            labels, z = _sparse_inputs(rng, shape, axis, k)
            kw["axis"] = axis
            if data.draw(st.booleans(), label="class_weight"):
                kw["class_weight"] = rng.uniform(0.2, 3, k).astype(np.float32)
            if name.startswith("sparse_"):
                if data.draw(st.booleans(), label="ignore"):
                    kw["ignore_index"] = data.draw(st.sampled_from([-100, 0, k - 1]), label="ignore_index")
                    labels = np.where(rng.uniform(size=labels.shape) < 0.3, kw["ignore_index"], labels)
                y = labels
            else:
                y = _onehot(labels, k, axis)
            p = z if from_logits else np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
            for opt in ("gamma", "alpha"):
                if opt in fn.spec.options and data.draw(st.booleans(), label=opt):
                    kw[opt] = data.draw(st.sampled_from([0.0, 0.5, 1.0]), label=f"{opt}_value")
        p = p.astype(np.float32)
        reduction = data.draw(st.sampled_from(ul.REDUCTIONS), label="reduction")
        per_sample = np.shape(_np(fn(y, p, **kw)))
        sw = rng.uniform(0, 2, per_sample).astype(np.float32) if data.draw(st.booleans(), label="sw") else None
        expected = fn(y, p, **kw, sample_weight=sw, reduction=reduction)
        kw_b = {n: backend.asarray(v) if isinstance(v, np.ndarray) else v for n, v in kw.items()}
        pb = backend.asarray(p)
        out = fn(backend.asarray(y), pb, **kw_b, sample_weight=None if sw is None else backend.asarray(sw), reduction=reduction)
        assert_close(out, expected, rtol=RTOL, atol=ATOL, like=pb)

    _run(backend, check)

