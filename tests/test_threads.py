"""Thread safety: concurrent calls on mixed backends equal serial calls.

The caches (validated option sets, per-backend cores, JAX jits, dispatch by
type) are filled concurrently: every run uses option values no other test
uses, so the first calls happen inside the threads.
"""

from __future__ import annotations

import itertools
import random
import threading

import numpy as np
import pytest

import unilosses as ul
from unilosses.conformance import first_case_per_loss
from unilosses.testing import ArrayBackend, available_backends, to_numpy

THREADS = 8
_FRESH = itertools.count(1)


def _fresh_options(case, u, ndim):
    """The case's options as a new cache key: every float option moved slightly, and a
    negative axis written as its positive equivalent (same values, another key)."""
    spec = getattr(ul, case.loss).spec
    options = dict(case.options)
    for name, default in spec.options.items():
        value = options.get(name, default)
        if name == "axis" and isinstance(value, int) and value < 0:
            options[name] = value % ndim
        if name in spec.arrays or isinstance(value, bool) or not isinstance(value, float):
            continue
        if name == "z_loss" and not options.get("from_logits", spec.options.get("from_logits")):
            continue  # z-loss acts on logits: a non-zero one with probabilities is a ValueError
        if name in ("p", "power") and options.get("distance", spec.options.get("distance")) != "lp":
            continue  # a similarity takes only integer powers; without a distance neither applies (ValueErrors)
        options[name] = value + u if value == 0 else value * (1 - u)
    return options


def _tasks(u):
    """(backend, loss function, positional arrays, options, reduction) for every backend and loss."""
    tasks = []
    for name in available_backends():
        backend = ArrayBackend(name)
        for i, case in enumerate(first_case_per_loss()):
            arrays = case.inputs(np.random.default_rng(i))
            args, kw = case.call_args(tuple(backend.asarray(a) for a in arrays))
            spec = getattr(ul, case.loss).spec
            lead = args[list(getattr(spec, "inputs", ("y_true", "y_pred"))).index(getattr(spec, "decides", "y_pred"))]
            kw.update({k: v for k, v in _fresh_options(case, u, len(lead.shape)).items() if k not in case.array_options})
            tasks.append((name, getattr(ul, case.loss), args, kw, ul.REDUCTIONS[i % len(ul.REDUCTIONS)]))
    return tasks


def _call(task):
    _, fn, args, kw, reduction = task
    return to_numpy(fn(*args, **kw, reduction=reduction))


def _run_threads(work, n=THREADS):
    """Run ``work(i)`` in n threads released together; re-raise the first error."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def _assert_same(a, b, msg, tol=1e-6):
    if isinstance(a, tuple):
        for x, y in zip(a, b):
            _assert_same(x, y, msg, tol)
        return
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol, err_msg=msg)


#: backends whose calls each thread makes one in ``_SHARE`` of (a Dask call builds and computes a task
#: graph, tens of milliseconds): each of those calls is still made by several threads at once
_SHARED_OUT, _SHARE = {"dask"}, 2


def test_concurrent_first_calls_equal_serial_calls():
    """8 threads, each calling every loss on every backend in its own order (on Dask, each call
    by 4 of them), on cold caches; then the same calls serially; then every backend against NumPy."""
    u = 1e-4 * (1 + next(_FRESH) / 7)
    tasks = _tasks(u)

    def mine(i, j):
        return tasks[j][0] not in _SHARED_OUT or j % _SHARE == i % _SHARE

    def work(i):
        order = [j for j in range(len(tasks)) if mine(i, j)]
        random.Random(i).shuffle(order)
        return {j: _call(tasks[j]) for j in order}

    threaded = _run_threads(work)
    serial = [_call(task) for task in tasks]
    for j, task in enumerate(tasks):
        callers = [i for i in range(THREADS) if mine(i, j)]
        assert len(callers) >= THREADS // _SHARE
        for i in callers:
            _assert_same(threaded[i][j], serial[j], f"thread {i}: {task[0]} {task[1].__name__} {task[4]}")
    numpy_results = {(fn.__name__, red): serial[j] for j, (name, fn, _, _, red) in enumerate(tasks) if name == "numpy"}
    for j, (name, fn, _, _, red) in enumerate(tasks):
        if (fn.__name__, red) in numpy_results:
            _assert_same(serial[j], numpy_results[fn.__name__, red], f"{name} {fn.__name__} {red} vs NumPy", tol=2e-5)


@pytest.mark.parametrize("backend_name", available_backends())
def test_one_loss_object_shared_by_threads(backend_name):
    """One Loss object, called from 8 threads on different inputs, gives each thread its own answer."""
    backend = ArrayBackend(backend_name)
    u = 1e-4 * (1 + next(_FRESH) / 7)
    loss = ul.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1 + u, ignore_index=-1)
    rng = np.random.default_rng(0)
    inputs = []
    for i in range(THREADS):
        y = rng.integers(-1, 5, 6 + i % 3)  # two batch sizes per thread count: shapes differ between threads
        z = rng.standard_normal((y.shape[0], 5)).astype(np.float32)
        inputs.append((y, z))

    def work(i):
        y, z = inputs[i]
        return [to_numpy(loss(backend.asarray(y), backend.asarray(z))) for _ in range(3)]

    threaded = _run_threads(work)
    for i, (y, z) in enumerate(inputs):
        expected = loss(y, z)  # NumPy
        for value in threaded[i]:
            np.testing.assert_allclose(value, expected, rtol=2e-5, atol=2e-5)


def test_first_dispatch_of_each_backend_is_thread_safe():
    """Backend detection (a per-type cache) answers the same in every thread."""
    arrays = [ArrayBackend(n).asarray(np.zeros((2, 3), np.float32)) for n in available_backends()]

    def work(i):
        return [ul.backend_for(a) for a in arrays[i % len(arrays):] + arrays[: i % len(arrays)]]

    results = _run_threads(work)
    for i, res in enumerate(results):
        k = i % len(arrays)
        rotated = res[len(arrays) - k:] + res[: len(arrays) - k]
        assert rotated == [ul.backend_for(a) for a in arrays]
