"""TensorFlow: our Array API namespace plus tf.nn kernels."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import gen_ctc_ops

from unilosses.backends import linear_tf, tf_namespace
from unilosses.backends.generic import Backend
from unilosses.rules import is_zero

try:  # whether a graph is being compiled by XLA (tf.function(jit_compile=True)), where
    # TensorFlow's CTCLoss kernel does not exist
    from tensorflow.python.framework import ops as _ops
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext

    def _xla() -> bool:
        return bool(GraphOrParentsInXlaContext(_ops.get_default_graph()))

except ImportError:  # pragma: no cover - other TensorFlow versions: assume any graph may be XLA's

    def _xla() -> bool:
        return True


def skip_autograph() -> None:
    """Tell ``tf.function``'s AutoGraph to call unilosses as it is, never to rewrite it.

    Losses have no Python control flow on tensor values (by design), so conversion can only
    break the validation code (a rewritten ``or``, ``map`` or ``zip``)."""
    try:
        from tensorflow.python.autograph.core import config
    except ImportError:  # pragma: no cover - a TensorFlow without AutoGraph's config
        return
    rules = config.CONVERSION_RULES
    if not any(getattr(r, "_prefix", None) == "unilosses" for r in rules):
        config.CONVERSION_RULES = (config.DoNotConvert("unilosses"), *rules)


class TensorFlowBackend(Backend):
    def __init__(self) -> None:
        super().__init__("tensorflow", tf_namespace)
        skip_autograph()
        self._axes: dict[int, Any] = {}

    replicated = True

    def replicas(self) -> int:
        """The replicas of the current ``tf.distribute`` strategy (Keras 3 asks the same)."""
        return int(tf.distribute.get_strategy().num_replicas_in_sync)

    def device(self, x: Any) -> Any:
        return None  # TF places ops next to their inputs

    def from_host(self, x: Any, like: Any, dtype: Any = None) -> Any:
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            dtype = like.dtype
        return tf.convert_to_tensor(arr, dtype=dtype)

    def concrete(self, *arrays: Any) -> bool:
        return tf.executing_eagerly() and "GPU" not in (arrays[0].device or "CPU")

    def logsumexp(self, x: Any, axis: int, keepdims: bool = False) -> Any:
        return tf.reduce_logsumexp(x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return tf.nn.log_softmax(x, axis=axis)

    def softplus(self, x: Any) -> Any:
        return tf.nn.softplus(x)

    def gather(self, x: Any, index: Any, axis: int) -> Any:
        rank = x.shape.rank
        if axis % rank != rank - 1:
            x = tf.experimental.numpy.moveaxis(x, axis, -1)
        return tf.gather(x, index, axis=rank - 1, batch_dims=rank - 1)

    def lookup(self, table: Any, index: Any) -> Any:
        return tf.gather(table, index)

    def classdot(self, x: Any, w: Any, axis: int) -> Any:
        rank = x.shape.rank
        if axis % rank != rank - 1:
            x = tf.experimental.numpy.moveaxis(x, axis, -1)
        elif rank >= 2:  # matvec needs a matrix
            return tf.linalg.matvec(x, w)
        return tf.tensordot(x, w, axes=1)

    def count_nonzero(self, x: Any, dtype: Any) -> Any:
        return tf.cast(tf.math.count_nonzero(x), dtype)

    def host_range(self, x: Any) -> tuple[float, float] | None:
        a = x.numpy()  # concrete() holds: an eager CPU tensor
        return None if a.size == 0 else (float(a.min()), float(a.max()))

    def any_true(self, x: Any) -> bool:
        return bool(tf.reduce_any(x))

    def reshape_like(self, x: Any, like: Any) -> Any:
        return tf.reshape(x, tf.shape(like))

    def nonzero_indices(self, mask: Any) -> Any:
        return tf.where(mask)[:, 0] if tf.executing_eagerly() else None

    def mean_all(self, x: Any) -> Any:
        if not tf.executing_eagerly():
            return tf.reduce_mean(x)
        # eager: the Mean kernel with cached axes (reduce_mean computes them with more ops)
        rank = x.shape.rank
        axes = self._axes.get(rank)
        if axes is None:
            axes = self._axes[rank] = tf.constant(list(range(rank)), dtype=tf.int32)
        return tf.raw_ops.Mean(input=x, axis=axes)

    def labels_in_range(self, labels: Any, num_classes: int, ignore_index: Any = None) -> bool:
        # concrete() holds: an eager CPU tensor, read on the host (an op costs more)
        lab = labels.numpy()
        if lab.size == 0 or (lab.min() >= 0 and lab.max() < num_classes):
            return True
        if ignore_index is None:
            return False
        return not np.any((lab != ignore_index) & ((lab < 0) | (lab >= num_classes)))

    def sparse_softmax_cross_entropy(
        self, logits: Any, labels: Any, axis: int, label_smoothing: float = 0.0, class_weight: Any = None
    ) -> Any:
        rank = logits.shape.rank
        if not is_zero(label_smoothing) or rank is None or rank < 2:
            return super().sparse_softmax_cross_entropy(logits, labels, axis, label_smoothing, class_weight)
        if axis % rank != rank - 1:
            logits = tf.experimental.numpy.moveaxis(logits, axis, -1)
        if rank == 2:  # the kernel itself: tf.nn's wrapper adds ~30 us of checks per call
            nll = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=logits, labels=labels)[0]
        else:
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return nll if class_weight is None else tf.gather(class_weight, labels) * nll

    def linear_cross_entropy(self, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any,
                             token_weight: Any, options: Any) -> Any:
        return linear_tf.linear_cross_entropy(hidden, weight, bias, labels, class_weight, token_weight, options)

    def stop_gradient(self, x: Any) -> Any:
        return tf.stop_gradient(x)

    def scan(self, step: Callable[[Any, Any], Any], carry: Any, xs: tuple[Any, ...]) -> Any:
        if tf.executing_eagerly():
            return super().scan(step, carry, xs)
        return tf.foldl(step, xs, initializer=carry)  # one while loop, not T copies of the step

    def ctc_nll(self, log_probs: Any, labels: Any, label_lengths: Any, logit_lengths: Any, blank: int) -> Any:
        """TensorFlow's CTCLoss kernel (the one ``tf.nn.ctc_loss`` runs for sparse labels), outside XLA.

        It wants the blank last, labels as a SparseTensor, and at least one label
        per sequence: empty label sequences get one and are replaced by their value,
        ``-sum_t log p(blank)``. Impossible alignments give 0 or inf with a finite
        gradient (``ignore_longer_outputs_than_inputs``), replaced by the spec.
        """
        T, N, C = log_probs.shape
        if C is None or C < 2 or not T or not N or (not tf.executing_eagerly() and _xla()):
            return super().ctc_nll(log_probs, labels, label_lengths, logit_lengths, blank)
        if blank != C - 1:
            log_probs_last = tf.concat(
                [log_probs[:, :, :blank], log_probs[:, :, blank + 1 :], log_probs[:, :, blank : blank + 1]], axis=2
            )
            labels = tf.where(labels > blank, labels - 1, labels)
        else:
            log_probs_last = log_probs
        empty = tf.equal(label_lengths, 0)
        if labels.shape[1] == 0:  # room for the one label of empty sequences
            labels = tf.zeros((N, 1), labels.dtype)
        keep = tf.sequence_mask(tf.where(empty, tf.ones_like(label_lengths), label_lengths), labels.shape[1])
        index = tf.where(keep)
        frames = tf.cast(logit_lengths, tf.int32)
        nll, _ = gen_ctc_ops.ctc_loss(
            log_probs_last, index, tf.cast(tf.gather_nd(labels, index), tf.int32), frames,
            preprocess_collapse_repeated=False, ctc_merge_repeated=True, ignore_longer_outputs_than_inputs=True,
        )
        active = tf.sequence_mask(frames, T, dtype=log_probs.dtype)  # (N, T)
        blanks_only = -tf.reduce_sum(tf.transpose(log_probs[:, :, blank]) * active, axis=1)
        return tf.where(empty, blanks_only, nll)
