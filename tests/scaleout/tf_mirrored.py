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

dd.write_results(
    {
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
