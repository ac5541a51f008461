"""JAX over 4 virtual CPU devices: shard_map + psum of LossStats, and plain jit on global arrays.

Run as ``python tests/scaleout/jax_shard_map.py OUT.json`` (tests/test_distributed.py does);
the device count must be set before JAX starts, hence a subprocess.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
os.environ["JAX_PLATFORMS"] = "cpu"

from typing import Any  # noqa: E402

import dist_data as dd  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import unilosses as ul  # noqa: E402

assert jax.device_count() == 4, jax.devices()
data = dd.inputs()
rows = P("b")


def shard_map_results() -> dict[str, Any]:
    """Uneven shards (3, 14, 6, 17 rows) padded to 17 rows per device."""
    mesh = jax.make_mesh((4,), ("b",), axis_types=(AxisType.Auto,))
    pad = dd.padded(dd.SHARDS_4, data)

    def per_device(labels: Any, logits: Any, sw: Any, cw: Any, targets: Any, bce_logits: Any) -> Any:
        s = ul.sparse_categorical_crossentropy(
            labels, logits, class_weight=cw, sample_weight=sw, reduction="stats", **dd.SPARSE_KW
        )
        b = ul.binary_crossentropy(targets, bce_logits, sample_weight=sw, reduction="stats", **dd.BCE_KW)
        # the caller's global count: a reduction="sum" total divided by it adds up across devices
        b_norm = ul.binary_crossentropy(
            targets, bce_logits, sample_weight=sw, reduction="sum", normalizer=dd.N, **dd.BCE_KW
        )
        local_means = jnp.stack([s.mean(), s.weighted_mean(), b.weighted_mean()])
        return jax.lax.psum((s, b, b_norm), "b"), local_means[None]  # LossStats is a pytree

    fn = jax.jit(
        jax.shard_map(
            per_device,
            mesh=mesh,
            in_specs=(rows, rows, rows, P(), rows, rows),
            out_specs=(P(), rows),
        )
    )
    args = [pad["labels"].astype(np.int32), pad["logits"], pad["sample_weight"], data["class_weight"],
            pad["targets"], pad["bce_logits"]]
    (s, b, b_norm), local = fn(*args)
    assert isinstance(s, ul.LossStats) and isinstance(b, ul.LossStats)
    local = np.asarray(local)

    def device_step(w: Any, x: Any, labels: Any, sw: Any, cw: Any) -> Any:
        """The training recipe (docs/scaling.md): local total / global count."""
        def local_loss(w: Any) -> Any:
            st = ul.sparse_categorical_crossentropy(
                labels, x @ w, class_weight=cw, sample_weight=sw, reduction="stats", **dd.SPARSE_KW
            )
            return st.total / jax.lax.psum(jax.lax.stop_gradient(st.count), "b")

        value, grad = jax.value_and_grad(local_loss)(w)
        # w is replicated (P()): under shard_map's default check_vma=True its gradient is
        # already summed over "b" (the transpose of the implicit pvary); no psum to write
        return jax.lax.psum(value, "b"), grad

    value, grad = jax.jit(
        jax.shard_map(device_step, mesh=mesh, in_specs=(P(), rows, rows, rows, P()), out_specs=(P(), P()))
    )(data["w"], pad["x"], args[0], pad["sample_weight"], data["class_weight"])
    # per-device means, as jnp.mean gives them: the gradient of the replicated w sums over the
    # devices, so a mean reduction gives 4x the global mean's gradient (equal shards): divide by
    # the axis size, or use the stats recipe above (unilosses scales only under tf.distribute)
    def mean_step(loss_fn: Any) -> Any:
        def step(w: Any, x: Any, y: Any) -> Any:
            return jax.grad(lambda w: loss_fn(y, x @ w))(w)

        return jax.jit(jax.shard_map(step, mesh=mesh, in_specs=(P(), rows, rows), out_specs=P()))(
            jnp.ones((3, 1)), data["x"][:, :3], data["targets"][:, :1]
        )

    replica = {
        "replica/jnp/mean": mean_step(lambda y, p: jnp.mean((p - y) ** 2)),
        "replica/unilosses/object mean": mean_step(ul.MeanSquaredError()),
        "replica/single mean": jax.grad(
            lambda w: jnp.mean((data["x"][:, :3] @ w - data["targets"][:, :1]) ** 2)
        )(jnp.ones((3, 1))),
    }
    return {
        **replica,
        "grad": grad,
        "model/sum_over_batch_size": value,
        "sparse/sum": s.total,
        "sparse/sum_over_batch_size": s.total / s.count,
        "sparse/mean_with_sample_weight": s.total / s.weight_sum,
        "sparse/count": s.count,
        "sparse/mean_of_means": local[:, 0].mean(),
        "sparse/weighted_mean_of_means": local[:, 1].mean(),
        "bce/sum": b.total,
        "bce/mean_with_sample_weight": b.total / b.weight_sum,
        "bce/sum_over_batch_size": b.total / dd.N,  # zero-weight padding counts: divide by the real N
        "bce/normalizer": b_norm,
        "bce/padded_count": b.count,
        "bce/weighted_mean_of_means": local[:, 2].mean(),
    }


def global_losses(labels: Any, logits: Any, sw: Any, cw: Any, targets: Any, bce_logits: Any) -> Any:
    """The single-process code, unchanged: run on global arrays, sharded or not."""
    out = {}
    for r in ("sum", "sum_over_batch_size", "mean_with_sample_weight"):
        out[f"sparse/{r}"] = ul.sparse_categorical_crossentropy(
            labels, logits, class_weight=cw, sample_weight=sw, reduction=r, **dd.SPARSE_KW
        )
        out[f"bce/{r}"] = ul.binary_crossentropy(targets, bce_logits, sample_weight=sw, reduction=r, **dd.BCE_KW)
    out["sparse/count"] = ul.sparse_categorical_crossentropy(
        labels, logits, class_weight=cw, sample_weight=sw, reduction="stats", **dd.SPARSE_KW
    ).count
    return out


def model_loss(w: Any, x: Any, labels: Any, sw: Any, cw: Any) -> Any:
    """A linear model trained on the global mean (gradient check)."""
    return ul.sparse_categorical_crossentropy(
        labels, x @ w, class_weight=cw, sample_weight=sw, reduction="sum_over_batch_size", **dd.SPARSE_KW
    )


def jit_results(axis_type: Any) -> dict[str, Any]:
    """jax.jit on arrays sharded over 4 devices along the batch: no collectives written."""
    mesh = jax.make_mesh((4,), ("b",), axis_types=(axis_type,))
    sh, rep = NamedSharding(mesh, rows), NamedSharding(mesh, P())
    args = [jax.device_put(data[k], sh) for k in ("labels", "logits", "sample_weight")]
    args[0] = jax.device_put(data["labels"].astype(np.int32), sh)
    cw = jax.device_put(data["class_weight"], rep)
    bce = [jax.device_put(data[k], sh) for k in ("targets", "bce_logits")]
    x, w = jax.device_put(data["x"], sh), jax.device_put(data["w"], rep)
    out: dict[str, Any] = {}
    with jax.set_mesh(mesh):
        for name, fn in (
            ("losses", lambda: jax.jit(global_losses)(*args, cw, *bce)),
            ("hlo", lambda: {"all_reduce_in_hlo": "all-reduce" in jax.jit(global_losses).lower(
                *args, cw, *bce).compile().as_text()}),
            ("grad", lambda: {"grad": jax.jit(jax.grad(model_loss))(w, x, args[0], args[2], cw)}),
        ):
            try:
                out.update(fn())
            except Exception as e:  # noqa: BLE001 - reported to the parent test
                out[f"error/{name}"] = f"{type(e).__name__}: {str(e)[:300]}"
    out["input_shards"] = [int(s.data.shape[0]) for s in args[1].addressable_shards]
    return out


def single_device_results() -> dict[str, Any]:
    """The same functions on one device (the reference for the gradient)."""
    labels = jnp.asarray(data["labels"].astype(np.int32))
    out = jax.jit(global_losses)(labels, data["logits"], data["sample_weight"], data["class_weight"],
                                 data["targets"], data["bce_logits"])
    out["model/sum_over_batch_size"], out["grad"] = jax.jit(jax.value_and_grad(model_loss))(
        data["w"], data["x"], labels, data["sample_weight"], data["class_weight"]
    )
    return out


dd.write_results(
    {
        "shard_map": shard_map_results(),
        "jit_auto": jit_results(AxisType.Auto),
        "jit_explicit": jit_results(AxisType.Explicit),
        "single": single_device_results(),
    }
)
