"""Dask: every loss takes chunked dask arrays and returns a lazy result, computing nothing.

Each conformance case (``unilosses.conformance.all_cases()``) runs on dask arrays
chunked along every axis (the batch and the class axis, with uneven last
chunks), with sample weights, under every reduction (``"stats"`` included); the
richest case of each loss also chunked along the batch only (whole feature axes,
the layout users feed). A Dask call builds its graph op by op, a few tens of
milliseconds, which is this file's cost: chunking every axis splits the batch
too, so the second layout runs once per loss. The call must return dask arrays without triggering a
single compute (no ``bool()`` / ``float()`` / ``np.asarray`` on a lazy value,
counted with a dask callback); the computed values must equal NumPy's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unilosses as ul
from unilosses.conformance import richest_case_per_loss
from unilosses.testing import assert_close

da = pytest.importorskip("dask.array")
import dask  # noqa: E402
from conftest import compute_together, selected, sweep_cases  # noqa: E402
from dask.callbacks import Callback  # noqa: E402

pytestmark = selected("dask")

ROOT = Path(__file__).resolve().parent.parent
CASES = sweep_cases()


class ComputeCounter(Callback):
    """Counts the graphs dask runs (every compute, persist, np.asarray, bool, float of a dask array)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _start(self, dsk: Any) -> None:
        self.count += 1


@pytest.fixture(autouse=True)
def _synchronous_scheduler():
    """Tiny graphs: the synchronous scheduler computes them fastest (one test below uses threads)."""
    with dask.config.set(scheduler="synchronous"):
        yield


def lazy_call(fn: Any, *args: Any, **kw: Any) -> Any:
    """``fn(*args, **kw)``, asserting that the call computes nothing."""
    with ComputeCounter() as counter:
        out = fn(*args, **kw)
    assert counter.count == 0, f"{counter.count} hidden compute(s) during the call"
    return out


def assert_lazy(out: Any) -> None:
    parts = tuple(out) if isinstance(out, ul.LossStats) else (out,)
    for p in parts:
        assert isinstance(p, da.Array), f"expected a dask array, got {type(p).__name__}"


def chunked(a: np.ndarray, layout: str) -> Any:
    """``a`` as a dask array: chunks of 3 along every axis, or along the first axis only."""
    a = np.asarray(a)
    if a.ndim == 0:
        return da.from_array(a)
    if layout == "all_axes":
        chunks = tuple(min(3, s) or 1 for s in a.shape)
    else:
        chunks = (min(3, a.shape[0]) or 1, *a.shape[1:])
    return da.from_array(a, chunks=chunks)


def _weights(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    w = rng.uniform(0.0, 2.0, shape).astype(np.float32)
    w.reshape(-1)[:: 5] = 0.0  # zero weights still count in sum_over_batch_size
    return w


RICHEST = {c.id for c in richest_case_per_loss()}
LAYOUTS = [(c, layout) for c in CASES for layout in ("all_axes", "batch") if layout == "all_axes" or c.id in RICHEST]


@pytest.mark.parametrize(("case", "layout"), LAYOUTS, ids=[f"{c.id}-{layout}" for c, layout in LAYOUTS])
def test_conformance_case_on_chunked_dask(case, layout):
    """Chunked dask equals NumPy under every reduction, with sample weights, computing nothing."""
    rng = np.random.default_rng(2)
    arrays = case.inputs(rng)
    np_args, np_kw = case.call_args(arrays)
    fn = getattr(ul, case.loss)
    sw = _weights(np.shape(fn(*np_args, **np_kw)), rng)
    d_args, d_kw = case.call_args(tuple(chunked(a, layout) for a in arrays))
    d_sw = chunked(sw, layout)
    # without weights every reduction is in tests/test_conformance.py (dask backend); here "stats" only
    calls = [(r, sw, d_sw) for r in ul.REDUCTIONS] + [("stats", None, None)]
    outs, expected = [], []
    for reduction, weight, d_weight in calls:
        expected.append(fn(*np_args, **np_kw, sample_weight=weight, reduction=reduction))
        out = lazy_call(fn, *d_args, **d_kw, sample_weight=d_weight, reduction=reduction)
        assert_lazy(out)
        outs.append(out)
    for actual, want in zip(compute_together(outs), expected):
        assert_close(actual, want, rtol=case.rtol, atol=case.atol)


def test_sparse_crossentropy_misaligned_chunks():
    """Labels, logits, weights and class weights chunked differently (and class weights as NumPy)."""
    rng = np.random.default_rng(3)
    n, k = 50, 11
    labels = rng.integers(0, k, n)
    labels[::7] = -1
    logits = (rng.standard_normal((n, k)) * 3).astype(np.float32)
    cw = rng.uniform(0.2, 3.0, k).astype(np.float32)
    sw = rng.uniform(0.0, 2.0, n).astype(np.float32)
    kw = {"from_logits": True, "label_smoothing": 0.2, "ignore_index": -1}
    d_labels, d_logits = da.from_array(labels, chunks=7), da.from_array(logits, chunks=(13, 4))
    d_sw, d_cw = da.from_array(sw, chunks=20), da.from_array(cw, chunks=5)
    for reduction in ul.REDUCTIONS:
        expected = ul.sparse_categorical_crossentropy(
            labels, logits, class_weight=cw, sample_weight=sw, reduction=reduction, **kw
        )
        for class_weight in (d_cw, cw) if reduction == "stats" else (d_cw,):
            out = lazy_call(
                ul.sparse_categorical_crossentropy, d_labels, d_logits,
                class_weight=class_weight, sample_weight=d_sw, reduction=reduction, **kw,
            )
            assert_lazy(out)
            assert_close(out, expected, rtol=1e-5, atol=1e-6, like=d_logits)


def test_per_sample_values_stay_chunked():
    """reduction="none" keeps the batch chunks: each chunk is computed on its own."""
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, (60, 8)).astype(np.float32)
    z = rng.standard_normal((60, 8)).astype(np.float32)
    out = lazy_call(ul.binary_crossentropy, da.from_array(y, chunks=(20, 8)), da.from_array(z, chunks=(20, 8)),
                    from_logits=True)
    assert out.chunks == ((20, 20, 20),)
    assert_close(out, ul.binary_crossentropy(y, z, from_logits=True), like=da.from_array(z))


def _first_block_inputs(out: Any, inputs: dict[str, Any]) -> dict[str, set[Any]]:
    """The blocks of each input that the first output block's tasks read."""
    from dask.optimization import cull

    key = out.__dask_keys__()
    while isinstance(key, list):
        key = key[0]
    culled, _ = cull(dict(out.__dask_graph__()), [key])
    read: dict[str, set[Any]] = {name: set() for name in inputs}
    for k in culled:
        if isinstance(k, tuple) and k[0] in inputs:
            read[k[0]].add(k[1:])
    return read


#: losses whose per-sample values depend on all of y_true (documented Keras semantics; optax's
#: generalized Dice weights the classes by their frequencies in the whole batch)
GLOBAL_LABEL_DECISION = ("hinge", "squared_hinge", "perceptron", "multiclass_generalized_dice")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_per_sample_values_read_one_chunk(case):
    """Out of core: with batch chunks, the first per-sample block reads only the first batch chunk
    of each input (and whole small array options), so chunks stream through the scheduler
    instead of all being held at once (as a bound broadcast to the full shape once forced).
    A contrastive loss compares each anchor with the whole batch: its first block reads every one."""
    arrays = case.inputs(np.random.default_rng(6))
    d = tuple(da.from_array(np.asarray(a), chunks=(max(1, np.shape(a)[0] // 2), *np.shape(a)[1:])) if np.ndim(a)
              else da.from_array(np.asarray(a)) for a in arrays)
    n = len(arrays) - len(case.array_options)  # positional inputs, then array options (class weights...)
    args, kw = case.call_args(arrays)
    batch = np.shape(getattr(ul, case.loss)(*args, **kw))[:1]  # inputs of another length are per class (a head's weight)
    inputs = {a.name: i for i, a in enumerate(d[:n])  # (a 0-d loss, one value for the batch: every input)
              if a.ndim and a.numblocks[0] > 1 and (not batch or a.shape[:1] == batch)}
    assert inputs, "the case's inputs have no batch axis to chunk"
    args, kw = case.call_args(d)
    out = lazy_call(getattr(ul, case.loss), *args, **kw, reduction="none")
    for name, blocks in _first_block_inputs(out, inputs).items():
        batch_blocks = sorted({b[0] for b in blocks})
        if out.ndim == 0:  # one value for the whole batch (Dice's default, Keras): every chunk
            assert batch_blocks == list(range(d[inputs[name]].numblocks[0]))
        elif case.batch_coupled or case.loss in GLOBAL_LABEL_DECISION and inputs[name] == 0:
            # every anchor against the batch, or Keras: {0, 1} labels become {-1, 1} only if *every* label is 0 or 1
            assert batch_blocks == list(range(d[0].numblocks[0]))
        else:
            assert batch_blocks == [0], f"the first output block reads batch blocks {batch_blocks} of input {inputs[name]}"


class HeldBytes(Callback):
    """The most bytes of NumPy results the scheduler holds at once (each buffer counted once;
    a broadcast view counts as its base, a zero-stride array as one element)."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        buffers: dict[int, int] = {}
        for v in state["cache"].values():
            if isinstance(v, np.ndarray):
                while isinstance(v.base, np.ndarray):
                    v = v.base
                buffers[id(v)] = v.itemsize if 0 in v.strides else v.nbytes
        self.peak = max(self.peak, sum(buffers.values()))


def _streamed(n: int, k: int, chunk: int) -> dict[str, Any]:
    rng = da.random.default_rng(0)
    z = rng.standard_normal((n, k), dtype=np.float32, chunks=(chunk, k))
    return {
        "z": z,
        "p": 1.0 / (1.0 + da.exp(-z)),
        "y": (rng.random((n, k), dtype=np.float32, chunks=(chunk, k)) < 0.5).astype(np.float32),
        "labels": rng.integers(0, k, (n,), chunks=(chunk,)),
    }


STREAMED = {
    "bce-logits": lambda d, **kw: ul.binary_crossentropy(d["y"], d["z"], from_logits=True, **kw),
    "bce-probabilities": lambda d, **kw: ul.binary_crossentropy(d["y"], d["p"], label_smoothing=0.1, **kw),
    "scce-weights": lambda d, **kw: ul.sparse_categorical_crossentropy(
        d["labels"], d["z"], from_logits=True, ignore_index=0, class_weight=np.arange(1.0, 11.0, dtype=np.float32), **kw),
    "focal": lambda d, **kw: ul.binary_focal_crossentropy(d["y"], d["z"], from_logits=True, **kw),
    "huber": lambda d, **kw: ul.huber(d["y"], d["z"], **kw),
    "msle": lambda d, **kw: ul.mean_squared_logarithmic_error(d["y"], d["p"], **kw),
}


@pytest.mark.parametrize("name", list(STREAMED))
def test_reduction_streams_chunks(name):
    """A reduced loss over 100 chunks holds a few chunks at a time, not the inputs: array-api-compat's
    ``clip`` broadcast its bound to the full shape, which made the scheduler hold every input chunk."""
    d = _streamed(20_000, 10, 200)
    out = lazy_call(STREAMED[name], d, reduction="sum_over_batch_size")
    assert out.shape == ()
    inputs = d["z"].nbytes + d["y"].nbytes
    with HeldBytes() as held:
        out.compute()
    assert held.peak < 0.1 * inputs, f"held {held.peak} bytes at once; the inputs are {inputs} bytes"


def test_huge_lazy_input_builds_a_graph_only():
    """A loss over 1e9 lazily generated predictions returns at once, computing nothing."""
    rng = da.random.default_rng(0)
    shape, chunks = (10**8, 10), (10**6, 10)
    z = rng.standard_normal(shape, dtype=np.float32, chunks=chunks)
    y = (rng.random(shape, dtype=np.float32, chunks=chunks) < 0.5).astype(np.float32)
    labels = rng.integers(0, 10, shape[:1], chunks=chunks[:1])
    for out in (
        lazy_call(ul.binary_crossentropy, y, z, from_logits=True, reduction="sum_over_batch_size"),
        lazy_call(ul.sparse_categorical_crossentropy, labels, z, from_logits=True, ignore_index=0,
                  class_weight=np.arange(1.0, 11.0, dtype=np.float32), reduction="stats"),
    ):
        assert_lazy(out)
        for part in (tuple(out) if isinstance(out, ul.LossStats) else (out,)):
            assert part.shape == ()


def test_stats_of_dask_chunks_add_up_on_a_scheduler():
    """stats computed by the threaded scheduler equal NumPy's (the same graph runs on dask.distributed)."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 5, 30)
    labels[::4] = 9
    logits = rng.standard_normal((30, 5)).astype(np.float32)
    sw = rng.uniform(0, 1, 30).astype(np.float32)
    kw = {"from_logits": True, "ignore_index": 9}
    out = lazy_call(ul.sparse_categorical_crossentropy, da.from_array(labels, chunks=4),
                    da.from_array(logits, chunks=(4, 2)), sample_weight=da.from_array(sw, chunks=4),
                    reduction="stats", **kw)
    with ComputeCounter() as counter:
        total, count, weight_sum = dask.compute(*out, scheduler="threads")
    assert counter.count == 1  # one pass over the data for the three sums
    expected = ul.sparse_categorical_crossentropy(labels, logits, sample_weight=sw, reduction="stats", **kw)
    np.testing.assert_allclose([total, count, weight_sum], list(expected), rtol=1e-6, atol=1e-6)
    assert count == np.sum(labels != 9)


def test_benchmark_quick_mode(tmp_path):
    """benchmarks/dask_bce.py --quick runs and agrees with NumPy on the materialized inputs (no timing check)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dask_bce.py"), "--quick", "--json", str(out)],
        env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    r = json.loads(out.read_text())
    assert r["predictions"] == 10**7
    assert r["computes_during_call"] == 0
    assert r["peak_rss_mb"] > 0 and r["compute_s"] > 0
    np.testing.assert_allclose(r["value"], r["numpy_reference"], rtol=1e-5)
