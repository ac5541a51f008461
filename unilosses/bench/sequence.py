"""The CTC benchmark cases: :func:`unilosses.ctc` beside torch's, optax's and TensorFlow's CTC.

Shape ``(T, N, C, S)``: frames, batch, classes (blank 0), padded label length. Every
sequence has its own length: frames in [T/2, T], labels in [S/2, S] (repeats
included), all alignable. Both sides start from the same logits and compute the
log-softmax (torch's and TensorFlow's kernels take log-probabilities).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ctc_inputs", "jax_ctc", "tf_ctc", "torch_ctc"]

#: the issue's benchmark shape and the quick (smoke-test) one
CTC_SHAPE, CTC_QUICK = (200, 16, 30, 40), (12, 3, 5, 4)


def ctc_inputs(shape: tuple[int, ...]) -> dict[str, Any]:
    """Time-major logits (T, N, C), labels (N, S) padded with 0 and both lengths, as NumPy."""
    import numpy as np

    t, n, c, s = shape
    rng = np.random.default_rng(0)
    label_lengths = rng.integers(max(1, s // 2), s + 1, n)
    logit_lengths = rng.integers(max(1, t // 2), t + 1, n)
    labels = rng.integers(1, c, (n, s))
    repeats = np.concatenate([np.zeros((n, 1), bool), labels[:, 1:] == labels[:, :-1]], axis=1)
    needed = label_lengths + (repeats & (np.arange(s) < label_lengths[:, None])).sum(1)
    logit_lengths = np.minimum(np.maximum(logit_lengths, needed), t)
    labels = np.where(np.arange(s) < label_lengths[:, None], labels, 0)
    z = (rng.standard_normal((t, n, c)) * 2).astype(np.float32)
    return {"z": z, "labels": labels, "label_lengths": label_lengths, "logit_lengths": logit_lengths}


def torch_ctc(backward: bool) -> Any:
    """torch eager: ``ctc(..., time_major=True, divide_by_label_length=True, reduction="mean")``
    beside ``F.ctc_loss(log_softmax(z), ...)`` (torch's ``"mean"``)."""

    def make(shape: tuple[int, ...]) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        import unilosses as ul

        d = {k: torch.from_numpy(v) for k, v in ctc_inputs(shape).items()}
        z = d["z"].requires_grad_(backward)
        y, ll, tl = d["labels"], d["label_lengths"], d["logit_lengths"]

        def ours() -> Any:
            loss = ul.ctc(y, z, ll, tl, time_major=True, divide_by_label_length=True, reduction="mean")
            return _step(z, loss) if backward else loss

        def native() -> Any:
            loss = F.ctc_loss(z.log_softmax(2), y, tl, ll)
            return _step(z, loss) if backward else loss

        return ours, native

    return make


def _step(z: Any, loss: Any) -> Any:
    z.grad = None
    loss.backward()
    return loss.detach()


def jax_ctc(grad: bool) -> Any:
    """JAX inside the caller's ``jax.jit`` (batch-major) beside ``jax.jit`` of ``optax.ctc_loss(...).mean()``."""

    def make(shape: tuple[int, ...]) -> Any:
        import jax
        import jax.numpy as jnp
        import numpy as np
        import optax

        import unilosses as ul

        d = ctc_inputs(shape)
        t, s = shape[0], shape[3]
        z = jnp.asarray(np.transpose(d["z"], (1, 0, 2)))
        y, ll, tl = (jnp.asarray(d[k]) for k in ("labels", "label_lengths", "logit_lengths"))
        zpad = jnp.asarray(np.arange(t) >= d["logit_lengths"][:, None], jnp.float32)
        ypad = jnp.asarray(np.arange(s) >= d["label_lengths"][:, None], jnp.float32)

        def mine(z: Any) -> Any:
            return ul.ctc(y, z, ll, tl, reduction="mean")

        def theirs(z: Any) -> Any:
            return optax.ctc_loss(z, zpad, y, ypad).mean()

        f, g = (jax.jit(jax.value_and_grad(h)) if grad else jax.jit(h) for h in (mine, theirs))

        def ours() -> Any:
            return jax.block_until_ready(f(z))[0] if grad else f(z).block_until_ready()

        def native() -> Any:
            return jax.block_until_ready(g(z))[0] if grad else g(z).block_until_ready()

        return ours, native

    return make


def tf_ctc(shape: tuple[int, ...]) -> Any:
    """TensorFlow eager, time-major, beside ``tf.nn.ctc_loss`` (dense labels) + ``reduce_mean``."""
    import tensorflow as tf

    import unilosses as ul

    d = ctc_inputs(shape)
    z, y = tf.constant(d["z"]), tf.constant(d["labels"])
    ll, tl = tf.constant(d["label_lengths"]), tf.constant(d["logit_lengths"])

    def ours() -> Any:
        return ul.ctc(y, z, ll, tl, time_major=True, reduction="mean")

    def native() -> Any:
        return tf.reduce_mean(tf.nn.ctc_loss(y, z, ll, tl, logits_time_major=True))

    return ours, native
