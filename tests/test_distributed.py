"""Scale-out: global means from uneven shards, equal to the single-process values.

In process, on every backend: LossStats of uneven shards add up to the global
reductions, and ``normalizer=`` divides a ``reduction="sum"`` total. In
subprocesses (each framework's collectives need their own process setup):

- JAX: ``shard_map`` over 4 virtual CPU devices with ``lax.psum`` of the stats
  (uneven shards padded with ignored labels and zero weights), and plain
  ``jax.jit`` on arrays sharded with ``NamedSharding`` (no collective written);
- torch.distributed: 2 processes, gloo, ``all_reduce`` of the stats; the
  gradient of a DDP (and FSDP) model;
- tf.distribute: ``MirroredStrategy`` over 2 logical CPUs, ``strategy.reduce(SUM)``.

The expected values are the single-process values: the same loss on the whole
batch, on NumPy (whose agreement with the frameworks' own losses the
conformance suite checks).
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
from unilosses.testing import assert_close, available_backends

ROOT = Path(__file__).resolve().parent.parent
DIST = Path(__file__).resolve().parent / "scaleout"
sys.path.insert(0, str(DIST))
import dist_data as dd  # noqa: E402

RTOL = ATOL = 1e-6
_GLOBAL_KEYS = (
    "sparse/sum", "sparse/sum_over_batch_size", "sparse/mean_with_sample_weight", "sparse/count",
    "bce/sum", "bce/sum_over_batch_size", "bce/mean_with_sample_weight", "bce/normalizer",
)


def _sparse(d: dict[str, Any], reduction: str, **kw: Any) -> Any:
    return ul.sparse_categorical_crossentropy(
        d["labels"], d["logits"], class_weight=d["class_weight"], sample_weight=d["sample_weight"],
        reduction=reduction, **dd.SPARSE_KW, **kw,
    )


def _bce(d: dict[str, Any], reduction: str, **kw: Any) -> Any:
    return ul.binary_crossentropy(
        d["targets"], d["bce_logits"], sample_weight=d["sample_weight"], reduction=reduction, **dd.BCE_KW, **kw
    )


@pytest.fixture(scope="module")
def expected() -> dict[str, float]:
    """The single-process values (NumPy, whole batch)."""
    d = dd.inputs()
    out = {}
    for r in ("sum", "sum_over_batch_size", "mean_with_sample_weight"):
        out[f"sparse/{r}"] = float(_sparse(d, r))
        out[f"bce/{r}"] = float(_bce(d, r))
    out["sparse/count"] = float(np.sum(d["labels"] != dd.IGNORE))
    out["bce/normalizer"] = out["bce/sum_over_batch_size"]
    return out


def _check(results: dict[str, Any], expected: dict[str, float], keys: tuple[str, ...] = _GLOBAL_KEYS) -> None:
    errors = {k: v for k, v in results.items() if k.startswith("error/")}
    assert not errors, errors
    for k in keys:
        np.testing.assert_allclose(results[k], expected[k], rtol=RTOL, atol=ATOL, err_msg=k)


def _run(script: str, *args: str, tmp_path: Path, timeout: int = 300) -> dict[str, Any]:
    """Run ``tests/scaleout/<script>`` in a fresh interpreter; its JSON results."""
    out = tmp_path / f"{Path(script).stem}.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), str(DIST), env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    proc = subprocess.run(
        [sys.executable, str(DIST / script), str(out), *args],
        env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(out.read_text())


def _need(module: str) -> None:
    """The subprocess tests of ``module``'s engine run where that backend is selected (its own
    session; tests-all, which selects NumPy, runs only the slow ones, with every backend)."""
    if module not in available_backends():
        pytest.skip(f"backend {module} is not installed or not selected")


# ------------------------------------------------------------------ in process
@pytest.mark.parametrize("sizes", [dd.SHARDS_2, dd.SHARDS_4, (1, 39)], ids=str)
def test_stats_of_uneven_shards_add_up(backend, expected, sizes):
    """Summed LossStats of uneven shards give the global means (and the mean of means does not)."""
    data = dd.inputs()
    total: dict[str, Any] = {"sparse": None, "bce": None}
    means = []
    for lo, hi in dd.bounds(sizes):
        d = {k: backend.asarray(v if k in ("w", "class_weight") else v[lo:hi]) for k, v in data.items()}
        for name, fn in (("sparse", _sparse), ("bce", _bce)):
            s = fn(d, "stats")
            assert isinstance(s, ul.LossStats)
            total[name] = s if total[name] is None else total[name] + s
        means.append(float(np.asarray(ul.testing.to_numpy(_sparse(d, "sum_over_batch_size")))))
    like = backend.asarray(data["logits"])
    for name in ("sparse", "bce"):
        s = total[name]
        assert_close(s.total, expected[f"{name}/sum"], rtol=RTOL, atol=ATOL, like=like)
        assert_close(s.mean(), expected[f"{name}/sum_over_batch_size"], rtol=RTOL, atol=ATOL, like=like)
        assert_close(s.weighted_mean(), expected[f"{name}/mean_with_sample_weight"], rtol=RTOL, atol=ATOL, like=like)
    assert_close(total["sparse"].count, expected["sparse/count"], like=like)
    # the mean of per-shard means is not the global mean
    assert abs(np.mean(means) - expected["sparse/sum_over_batch_size"]) > 1e-3


def test_normalizer_divides_the_sum(backend, expected):
    """``reduction="sum", normalizer=n`` per shard adds up to the global mean (n: a number or an array)."""
    data = dd.inputs()
    parts = []
    for i, (lo, hi) in enumerate(dd.bounds(dd.SHARDS_4)):
        d = {k: backend.asarray(v if k in ("w", "class_weight") else v[lo:hi]) for k, v in data.items()}
        n = dd.N if i % 2 else backend.asarray(np.asarray(dd.N, dtype=np.float32))
        parts.append(ul.testing.to_numpy(_bce(d, "sum", normalizer=n)))
    np.testing.assert_allclose(np.sum(parts), expected["bce/sum_over_batch_size"], rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="normalizer"):
        _bce(data, "sum_over_batch_size", normalizer=dd.N)


# ------------------------------------------------------------------ JAX
@pytest.fixture(scope="module")
def jax_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _need("jax")
    import jax

    if not hasattr(jax, "set_mesh"):  # e.g. JAX 0.4.35, the oldest supported release
        pytest.skip(f"the scale-out script uses jax.set_mesh, jax.shard_map and AxisType: JAX {jax.__version__} has not")
    return _run("jax_shard_map.py", tmp_path=tmp_path_factory.mktemp("jax"))


def test_jax_shard_map_psum_of_stats(jax_results, expected):
    """shard_map over 4 devices, uneven shards padded: psum of the stats is exact, mean of means is not."""
    r = jax_results["shard_map"]
    _check(r, expected)
    assert r["bce/padded_count"] == 4 * max(dd.SHARDS_4)  # zero-weight padding counts: use weight_sum or N
    for local, glob in (("sparse/mean_of_means", "sparse/sum_over_batch_size"),
                        ("sparse/weighted_mean_of_means", "sparse/mean_with_sample_weight"),
                        ("bce/weighted_mean_of_means", "bce/mean_with_sample_weight")):
        assert abs(r[local] - expected[glob]) > 1e-3 * abs(expected[glob]), local
    np.testing.assert_allclose(r["grad"], jax_results["single"]["grad"], rtol=RTOL, atol=ATOL)
    # per-device means: the gradient jnp.mean gives, 4x the global mean's (4 equal shards of 10 rows)
    np.testing.assert_allclose(r["replica/unilosses/object mean"], r["replica/jnp/mean"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(r["replica/jnp/mean"], 4 * np.asarray(r["replica/single mean"]), rtol=1e-5)
    np.testing.assert_allclose(r["model/sum_over_batch_size"], jax_results["single"]["model/sum_over_batch_size"],
                               rtol=RTOL, atol=ATOL)


def test_jax_jit_on_global_arrays(jax_results, expected):
    """jax.jit on NamedSharding'ed arrays: the single-process code gives the global values."""
    r = jax_results["jit_auto"]
    _check(r, expected, tuple(k for k in _GLOBAL_KEYS if k != "bce/normalizer"))
    assert r["input_shards"] == [dd.N // 4] * 4
    assert r["all_reduce_in_hlo"]  # XLA inserted the collective
    np.testing.assert_allclose(r["grad"], jax_results["single"]["grad"], rtol=RTOL, atol=ATOL)
    _check(jax_results["single"], expected, tuple(k for k in _GLOBAL_KEYS if k != "bce/normalizer"))


def test_jax_jit_on_explicit_mesh(jax_results, expected):
    """The same under ``jax.set_mesh`` with Explicit axes (sharding in types)."""
    r = jax_results["jit_explicit"]
    _check(r, expected, tuple(k for k in _GLOBAL_KEYS if k != "bce/normalizer"))
    assert r["all_reduce_in_hlo"]
    np.testing.assert_allclose(r["grad"], jax_results["single"]["grad"], rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ torch
def test_torch_gloo_all_reduce_and_ddp(tmp_path, expected):
    """2 gloo processes, 13 and 27 rows: all_reduce of the stats; DDP's averaged gradient."""
    _need("torch")
    r = _run("torch_gloo.py", "ddp", tmp_path=tmp_path)
    _check(r, expected)
    assert r["shard_rows"] == list(dd.SHARDS_2)
    np.testing.assert_allclose(r["ddp_grad"], r["single_grad"], rtol=RTOL, atol=ATOL)
    # per-rank means and sums under DDP: the same gradients as torch's own loss
    for red in ("mean", "sum"):
        np.testing.assert_allclose(r[f"replica/unilosses/object {red}"], r[f"replica/torch/{red}"], rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_torch_gloo_fsdp(tmp_path, expected):
    """FSDP2 (fully_shard) averages gradients like DDP: the same scaling gives the global gradient."""
    _need("torch")
    r = _run("torch_gloo.py", "fsdp", tmp_path=tmp_path)
    _check(r, expected)
    np.testing.assert_allclose(r["fsdp_grad"], r["single_grad"], rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ TensorFlow
def test_tf_mirrored_strategy_reduce(tmp_path, expected):
    """MirroredStrategy, 2 logical CPUs, 13 and 27 rows: strategy.reduce(SUM) of the stats; summed gradients."""
    _need("tensorflow")
    r = _run("tf_mirrored.py", tmp_path=tmp_path)
    _check(r, expected)
    assert r["replica_rows"] == list(dd.SHARDS_2)
    assert r["devices"][0].endswith("CPU:0") and r["devices"][1].endswith("CPU:1")
    np.testing.assert_allclose(r["mirrored_grad"], r["single_grad"], rtol=RTOL, atol=ATOL)
    # a mean under the strategy is each replica's mean / 2, as Keras 3's objects give (not 2x the gradients)
    for name in ("object mean", "function mean"):
        np.testing.assert_allclose(r[f"replica/unilosses/{name}"], r["replica/keras/mean"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(r["replica/unilosses/object sum"], r["replica/keras/sum"], rtol=RTOL, atol=ATOL)
    d = dd.inputs()
    x, y = d["x"][:, :3], d["targets"][:, :1]
    halves = [float(np.mean((x[lo:hi].sum(1, keepdims=True) - y[lo:hi]) ** 2)) / 2 for lo, hi in dd.bounds(dd.SHARDS_2)]
    np.testing.assert_allclose(r["replica/keras/mean"][0], sum(halves), rtol=1e-5)
