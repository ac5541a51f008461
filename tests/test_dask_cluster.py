"""Dask on a ``dask.distributed`` cluster: the README's claim that the same code runs unchanged.

A ``LocalCluster`` with 2 worker processes (one thread each): the graphs unilosses builds are
pickled, sent to the workers, and run there with unilosses imported by the workers; the results
equal NumPy's. One conformance case per loss, its richest (what the cluster adds to
``tests/test_dask.py``'s local chunked runs of every case is each loss's graphs pickled, shipped
and run by the workers), under every reduction (with sample weights, and "stats"),
the streamed reductions of ``tests/test_dask.py`` over 10 chunks, and the "stats" of a sparse
cross-entropy with class weights, label smoothing and ignored labels.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import unilosses as ul
from unilosses.conformance import richest_case_per_loss
from unilosses.testing import assert_close, available_backends

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
from test_dask import STREAMED, _streamed, _weights, assert_lazy, lazy_call  # noqa: E402

pytestmark = [
    pytest.mark.skipif("dask" not in available_backends(), reason="dask is not selected (UNILOSSES_BACKENDS)"),
    # one cluster: every test of this module on one xdist worker (nox runs pytest --dist loadgroup)
    pytest.mark.xdist_group("dask_cluster"),
]
CASES = richest_case_per_loss()


@pytest.fixture(scope="module")
def client():
    """A client of a 2-process LocalCluster, the default scheduler while the module runs."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40,  # any free port: 8787 may be taken
    ) as cluster, distributed.Client(cluster) as c:
        yield c


def _on_cluster(client, outs):
    """Compute ``outs`` (arrays or LossStats) on the cluster; NumPy values, same structure."""
    flat = [p for o in outs for p in (o if isinstance(o, ul.LossStats) else (o,))]
    values = iter(client.compute(flat, sync=True))
    return [ul.LossStats(*(next(values) for _ in o)) if isinstance(o, ul.LossStats) else next(values) for o in outs]


def halves(a: np.ndarray) -> da.Array:
    """``a`` in two chunks along the batch axis: few tasks (each costs a round trip to a worker)."""
    a = np.asarray(a)
    return da.from_array(a, chunks=(max(1, (a.shape[0] + 1) // 2), *a.shape[1:]) if a.ndim else ())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance_case_on_the_cluster(client, case):
    """Each case under every reduction, with sample weights (and "stats" without), chunked along
    the batch axis, computed by the workers: NumPy's values."""
    rng = np.random.default_rng(2)
    arrays = case.inputs(rng)
    np_args, np_kw = case.call_args(arrays)
    fn = getattr(ul, case.loss)
    sw = _weights(np.shape(fn(*np_args, **np_kw)), rng)
    d_args, d_kw = case.call_args(tuple(halves(a) for a in arrays))
    calls = [(r, sw) for r in ul.REDUCTIONS] + [("stats", None)]
    outs = [lazy_call(fn, *d_args, **d_kw, sample_weight=None if w is None else halves(w), reduction=r)
            for r, w in calls]
    for out in outs:
        assert_lazy(out)
    for (r, w), got in zip(calls, _on_cluster(client, outs)):
        expected = fn(*np_args, **np_kw, sample_weight=w, reduction=r)
        assert_close(got, expected, rtol=case.rtol, atol=case.atol)


@pytest.mark.parametrize("name", list(STREAMED))
def test_streamed_reductions_on_the_cluster(client, name):
    """4,000 x 10 inputs in 10 chunks generated lazily on the workers: the mean and the stats
    equal NumPy's on the materialized inputs."""
    d = _streamed(4_000, 10, 400)
    outs = [lazy_call(STREAMED[name], d, reduction=r) for r in ("sum_over_batch_size", "stats")]
    got = _on_cluster(client, outs)
    local = dict(zip(d, client.compute(list(d.values()), sync=True)))  # the same seeded chunks
    for r, g in zip(("sum_over_batch_size", "stats"), got):
        assert_close(g, STREAMED[name](local, reduction=r), rtol=1e-5, atol=1e-6)


def test_stats_with_class_weights_smoothing_and_ignored_labels_on_the_cluster(client):
    """Per-shard stats (sparse cross-entropy, class weights, smoothing, ignore_index, sample
    weights; sparse focal) summed by the workers: NumPy's, and the workers imported unilosses."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 5, 300)
    labels[::4] = 9
    logits = rng.standard_normal((300, 5)).astype(np.float32)
    sw = rng.uniform(0, 1, 300).astype(np.float32)
    cw = rng.uniform(0.5, 2.0, 5).astype(np.float32)
    kw = {"from_logits": True, "ignore_index": 9, "class_weight": cw, "sample_weight": sw}
    fns = [
        lambda y, z, **k: ul.sparse_categorical_crossentropy(y, z, label_smoothing=0.1, **k),
        lambda y, z, **k: ul.sparse_categorical_focal_crossentropy(y, z, gamma=2.0, **k),
    ]
    d_kw = {**kw, "sample_weight": da.from_array(sw, chunks=40)}
    outs = [lazy_call(f, da.from_array(labels, chunks=40), da.from_array(logits, chunks=(40, 2)),
                      reduction="stats", **d_kw) for f in fns]
    for f, got in zip(fns, _on_cluster(client, outs)):
        assert_close(got, f(labels, logits, reduction="stats", **kw), rtol=1e-6, atol=1e-6)
    imported = client.run(lambda: "unilosses" in sys.modules)
    assert len(imported) == 2 and all(imported.values()), imported
