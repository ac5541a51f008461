"""Conformance cases for the LM-head cross-entropy, against the unfused torch, optax and tf.nn path.

Each reference builds the logits ``h @ W.T + b`` in full and applies the framework's
own sparse cross-entropy (with Gemma's soft cap and PaLM's z-loss written out as
Liger-Kernel applies them); ``chunk_size`` is chosen so that the last chunk is uneven.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

N, D, V = 9, 4, 11
CAP, ZL = 3.0, 0.05


# ------------------------------------------------------------------ inputs
def _plain(rng: np.random.Generator) -> tuple[Any, ...]:
    h = rng.standard_normal((N, D)).astype(np.float32)
    w = (rng.standard_normal((V, D)) * 1.5).astype(np.float32)
    return rng.integers(0, V, N), h, w


def _bias(rng: np.random.Generator) -> tuple[Any, ...]:
    y, h, w = _plain(rng)
    return y, h, w, rng.standard_normal(V).astype(np.float32)


def _everything(rng: np.random.Generator) -> tuple[Any, ...]:
    y, h, w, b = _bias(rng)
    y[[1, 5]] = -100
    return y, h, w, b, rng.uniform(0.2, 3.0, V).astype(np.float32)


def _sequence(rng: np.random.Generator) -> tuple[Any, ...]:
    h = rng.standard_normal((2, 5, D)).astype(np.float32)
    w = (rng.standard_normal((V, D)) * 1.5).astype(np.float32)
    y = rng.integers(0, V, (2, 5))
    y[1, 3:] = -100  # padding at the end of the second sequence
    return y, h, w


# -------------------------------------------------------------- references
def _logits(fw: str, h: Any, w: Any, b: Any = None) -> Any:
    if fw == "torch":
        z = h @ w.T
    elif fw == "tensorflow":
        import tensorflow as tf

        z = tf.matmul(h, w, transpose_b=True)
    else:
        z = h @ w.T
    return z if b is None else z + b


def _torch(cap: Any = None, z_loss: float = 0.0, **kw: Any) -> Any:
    def ref(y: Any, h: Any, w: Any, b: Any = None, cw: Any = None) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        ty, th, tw, *rest = ref_inputs("torch", y, h, w, *(x for x in (b, cw) if x is not None))
        tb = rest[0] if b is not None else None
        tcw = rest[-1] if cw is not None else None
        z = _logits("torch", th.reshape(-1, th.shape[-1]), tw, tb)
        if cap is not None:
            z = cap * torch.tanh(z / cap)
        out = F.cross_entropy(z, ty.reshape(-1), weight=tcw, reduction="none", **kw)
        if z_loss:
            keep = ty.reshape(-1) != kw.get("ignore_index", -100)
            out = out + torch.where(keep, z_loss * torch.logsumexp(z, -1) ** 2, 0.0)
        return ref_output(out.reshape(ty.shape))

    return ref


def _optax(cap: Any = None, z_loss: float = 0.0) -> Any:
    def ref(y: Any, h: Any, w: Any, b: Any = None) -> Any:
        import jax
        import optax

        jy, jh, jw, *rest = ref_inputs("jax", y, h, w, *(() if b is None else (b,)), dtype="float32")
        z = _logits("jax", jh.reshape(-1, jh.shape[-1]), jw, rest[0] if rest else None)
        if cap is not None:
            z = cap * jax.numpy.tanh(z / cap)
        out = optax.softmax_cross_entropy_with_integer_labels(z, jy.reshape(-1))
        if z_loss:
            out = out + z_loss * jax.nn.logsumexp(z, -1) ** 2
        return ref_output(out.reshape(jy.shape))

    return ref


def _tf(y: Any, h: Any, w: Any, b: Any = None) -> Any:
    import tensorflow as tf

    ty, th, tw, *rest = ref_inputs("tensorflow", y, h, w, *(() if b is None else (b,)))
    z = _logits("tensorflow", tf.reshape(th, (-1, th.shape[-1])), tw, rest[0] if rest else None)
    out = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.reshape(ty, (-1,)), logits=z)
    return ref_output(tf.reshape(out, ty.shape))


CASES = [
    Case(
        "lce",
        "linear_cross_entropy",
        _plain,
        {"chunk_size": 4},
        references={"torch": _torch(), "optax": _optax(), "tensorflow": _tf},
    ),
    Case(
        "lce-bias-class_weight-ignore_index-smoothing",
        "linear_cross_entropy",
        _everything,
        {"ignore_index": -100, "label_smoothing": 0.1, "chunk_size": 4},
        references={"torch": _torch(ignore_index=-100, label_smoothing=0.1)},
        array_options={"class_weight": 4},
    ),
    Case(
        "lce-bias-z_loss-softcap",
        "linear_cross_entropy",
        _bias,
        {"z_loss": ZL, "softcap": CAP, "chunk_size": 5},
        references={"torch": _torch(CAP, ZL), "optax": _optax(CAP, ZL)},
    ),
    Case(
        "lce-sequence-ignore_index",
        "linear_cross_entropy",
        _sequence,
        {"ignore_index": -100, "chunk_size": 3},
        references={"torch": _torch(ignore_index=-100)},
    ),
]
