"""tf.distribute.MirroredStrategy over 2 logical CPU devices: strategy.reduce(SUM) of LossStats.

Run as ``python tests/scaleout/tf_mirrored.py OUT.json`` (tests/test_distributed.py does).
Replica r holds rows SHARDS_2[r] of the global batch (13 and 27 rows: uneven).
tf.distribute sums gradients over replicas, so each replica's loss is its
local total divided by the global count.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import dist_data as dd  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import unilosses as ul  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2

data = dd.inputs()
SUM = tf.distribute.ReduceOp.SUM


def shard(name: str) -> Any:
    """Per-replica values: replica r gets rows SHARDS_2[r] (uneven)."""
    parts = [data[name][lo:hi] for lo, hi in dd.bounds(dd.SHARDS_2)]

    def value(ctx: Any) -> Any:
        r = ctx.replica_id_in_sync_group
        with tf.device(strategy.extended.worker_devices[r]):
            return tf.identity(parts[r])

    return strategy.experimental_distribute_values_from_function(value)


with strategy.scope():
    w = tf.Variable(data["w"])  # mirrored on both replicas
cw = tf.constant(data["class_weight"])


def sparse_stats(labels: Any, logits: Any, sw: Any) -> ul.LossStats:
    return ul.sparse_categorical_crossentropy(
        labels, logits, class_weight=cw, sample_weight=sw, reduction="stats", **dd.SPARSE_KW
    )


@tf.function
def step(labels: Any, logits: Any, sw: Any, targets: Any, bce_logits: Any, x: Any) -> Any:
    def replica_fn(labels: Any, logits: Any, sw: Any, targets: Any, bce_logits: Any, x: Any) -> Any:
        s = sparse_stats(labels, logits, sw)
        b = ul.binary_crossentropy(targets, bce_logits, sample_weight=sw, reduction="stats", **dd.BCE_KW)
        b_norm = ul.binary_crossentropy(
            targets, bce_logits, sample_weight=sw, reduction="sum", normalizer=dd.N, **dd.BCE_KW
        )
        # the training recipe: local total / global count (gradients are summed over replicas)
        with tf.GradientTape() as tape:
            stats = sparse_stats(labels, tf.matmul(x, w), sw)
            count = tf.distribute.get_replica_context().all_reduce(SUM, tf.stop_gradient(stats.count))
            loss = stats.total / count
        return tuple(s), tuple(b), b_norm, tape.gradient(loss, w)

    per_replica = strategy.run(replica_fn, args=(labels, logits, sw, targets, bce_logits, x))
    return tf.nest.map_structure(lambda v: strategy.reduce(SUM, v, axis=None), per_replica)


args = [shard(k) for k in ("labels", "logits", "sample_weight", "targets", "bce_logits", "x")]
s, b, b_norm, grad = step(*args)
s, b = ul.LossStats(*s), ul.LossStats(*b)


with tf.GradientTape() as tape:  # the single-process reference gradient
    loss = ul.sparse_categorical_crossentropy(
        data["labels"], tf.matmul(data["x"], w), class_weight=cw, sample_weight=data["sample_weight"],
        reduction="sum_over_batch_size", **dd.SPARSE_KW,
    )
single_grad = tape.gradient(loss, w)

# Per-replica means, as Keras 3's objects give them: a mean divided by the number of replicas, so
# that the summed gradients are those of the mean over the replicas' means. unilosses' objects and
# functions (mean reductions) against keras.losses' objects in the same step; "sum" is not scaled.
import keras  # noqa: E402

y_reg = tf.constant(data["targets"][:, :1])
x_reg = tf.constant(data["x"][:, :3])
with strategy.scope():
    w_reg = tf.Variable(np.ones((3, 1), np.float32))


def per_replica_step(loss_fn: Any) -> Any:
    @tf.function
    def step(xs: Any, ys: Any) -> Any:
        def replica_fn(xs: Any, ys: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = loss_fn(ys, tf.matmul(xs, w_reg))
            return loss, tape.gradient(loss, w_reg)

        out = strategy.run(replica_fn, args=(xs, ys))
        return tf.nest.map_structure(lambda v: strategy.reduce(SUM, v, axis=None), out)

    parts = {"x": x_reg.numpy(), "y": y_reg.numpy()}
    xs, ys = (
        strategy.experimental_distribute_values_from_function(
            lambda ctx, k=k: tf.constant(parts[k][slice(*dd.bounds(dd.SHARDS_2)[ctx.replica_id_in_sync_group])])
        )
        for k in ("x", "y")
    )
    loss, grad = step(xs, ys)
    return np.concatenate([np.ravel(loss), np.ravel(grad)])


replica_means = {
    "keras/mean": per_replica_step(keras.losses.MeanSquaredError()),
    "unilosses/object mean": per_replica_step(ul.MeanSquaredError()),
    "unilosses/function mean": per_replica_step(lambda y, p: ul.mean_squared_error(y, p, reduction="mean")),
    "keras/sum": per_replica_step(keras.losses.MeanSquaredError(reduction="sum")),
    "unilosses/object sum": per_replica_step(ul.MeanSquaredError(reduction="sum")),
}

dd.write_results(
    {
        **{f"replica/{k}": v for k, v in replica_means.items()},
        "sparse/sum": s.total,
        "sparse/sum_over_batch_size": s.total / s.count,
        "sparse/mean_with_sample_weight": s.total / s.weight_sum,
        "sparse/count": s.count,
        "bce/sum": b.total,
        "bce/sum_over_batch_size": b.total / b.count,
        "bce/mean_with_sample_weight": b.total / b.weight_sum,
        "bce/normalizer": b_norm,
        "mirrored_grad": np.asarray(grad),
        "single_grad": np.asarray(single_grad),
        "replica_rows": [int(v.shape[0]) for v in strategy.experimental_local_results(args[0])],
        "devices": [str(v.device) for v in strategy.experimental_local_results(args[0])],
    }
)
