"""The LM-head cross-entropy chunk by chunk: the math every backend shares, and the value loop.

:func:`unilosses.linear_cross_entropy` computes, for ``u = h @ W.T + b`` (``N`` tokens,
``V`` classes), what :func:`unilosses.sparse_categorical_crossentropy` computes on ``u``,
without ever holding the ``(N, V)`` logits: the tokens are taken ``n`` at a time
(:func:`tokens_per_chunk`), and :func:`chunk_terms` turns one ``(n, V)`` block of logits
into the per-token values, their logsumexp and, when asked, the gradient of each
token's value with respect to its logits. Every backend calls :func:`chunk_terms`
(torch, JAX and TensorFlow inside their custom gradients, the generic path in
:func:`linear_values`); they differ only in how they loop and where they keep the
gradients.

With ``z = softcap(u)``, ``lse = logsumexp(z)``, ``p = softmax(z)``, class weights
``w`` (1 without), ``W = sum_c w_c``, smoothing ``e`` and z-loss ``k``, a token
with label ``y`` has::

    value = (1 - e) w_y (lse - z_y) + (e / V) sum_c w_c (lse - z_c) + k lse^2
    d value / d z_c = ((1 - e) w_y + e W / V + 2 k lse) p_c - (1 - e) w_y [c = y] - (e / V) w_c

and ``d z / d u = 1 - tanh(u / cap)^2`` with a soft cap.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "CHUNK_ELEMENTS", "DW_BLOCK_ELEMENTS", "LinearOptions", "chunk_terms", "dw_block_rows", "linear_values",
    "tokens_per_chunk",
]

#: logits per chunk when ``chunk_size`` is not given: 2^23 float32 values (32 MiB) per
#: (n, V) block, so that peak memory does not grow with the vocabulary
CHUNK_ELEMENTS = 2**23


class LinearOptions(NamedTuple):
    """The static options of one call (Python numbers)."""

    label_smoothing: Any = 0.0
    z_loss: Any = 0.0
    softcap: Any = None
    chunk_size: Any = None  #: tokens per chunk; None: :data:`CHUNK_ELEMENTS` // V


def _zero(x: Any) -> bool:
    return isinstance(x, (int, float)) and x == 0


#: values of ``dW`` updated by one matrix product where a backend updates it a block of rows at a
#: time (JAX on one device, TensorFlow eagerly): as many as a chunk's logits, so the product never
#: outgrows the chunk. Smaller blocks cost time at the issue's case (2^20 values: JAX 0.94 and
#: TensorFlow 0.98 of the unfused time, against 0.79 and 0.87 for these)
DW_BLOCK_ELEMENTS = CHUNK_ELEMENTS


def dw_block_rows(width: int) -> int:
    """Rows of ``dW`` (V, ``width``) per block: :data:`DW_BLOCK_ELEMENTS` values, at least 8 rows."""
    return max(8, DW_BLOCK_ELEMENTS // max(width, 1))


def tokens_per_chunk(n_tokens: int, vocab: int, chunk_size: Any = None) -> int:
    """Tokens per chunk: ``chunk_size``, else as many as keep a block under
    :data:`CHUNK_ELEMENTS` logits (a multiple of 8 from 8 tokens up), at most ``n_tokens``."""
    if chunk_size is None:
        n = max(1, CHUNK_ELEMENTS // max(vocab, 1))
        chunk_size = n - n % 8 if n >= 8 else n
    return max(1, min(chunk_size, n_tokens))


def chunk_terms(
    xp: Any,
    u: Any,
    labels: Any,
    classes: Any,
    class_weight: Any,
    weight_sum: Any,
    o: LinearOptions,
    *,
    grad: bool = False,
    lse: Any = None,
    label_weight: Any = None,
) -> tuple[Any, Any, Any]:
    """``(values, lse, G)`` of one ``(n, V)`` block of logits ``u`` (the compute dtype).

    ``labels`` (n,) are valid class indices (ignored tokens replaced by any class: the
    caller masks them), ``classes`` is ``arange(V)`` of the labels' dtype with shape
    (1, V), ``class_weight`` (V,) or None, ``weight_sum`` its sum (V without).
    ``G = d values / d u`` (n, V) when ``grad``; with ``lse`` given (the logsumexp of an
    earlier forward pass) only ``G`` is computed and ``values`` is None. ``label_weight``:
    ``class_weight[labels]`` if the caller has it (else taken here).
    """
    e, k, cap = o.label_smoothing, o.z_loss, o.softcap
    n_classes = u.shape[-1]
    if cap is not None:
        t = xp.tanh(u / cap)
        z = cap * t
    else:
        z = u
    onehot = classes == xp.expand_dims(labels, axis=1)
    w_y = label_weight
    if w_y is None and class_weight is not None:
        w_y = xp.take(class_weight, labels, axis=0)
    values = None
    if lse is None:
        m = xp.max(z, axis=1, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        zm = z - m
        ez = xp.exp(zm)
        s = xp.sum(ez, axis=1, keepdims=True)
        log_s = xp.log(s)[:, 0]
        lse = m[:, 0] + log_s
        nll = log_s - xp.sum(xp.where(onehot, zm, xp.zeros_like(zm)), axis=1)  # lse - z_y
        values = nll if w_y is None else w_y * nll
        if not _zero(e):
            if class_weight is None:
                uniform = log_s - xp.mean(zm, axis=1)
            else:
                uniform = (weight_sum * log_s - xp.sum(zm * class_weight, axis=1)) / n_classes
            values = (1.0 - e) * values + e * uniform
        if not _zero(k):
            values = values + k * (lse * lse)
        if not grad:
            return values, lse, None
        p = ez / s
    else:
        p = xp.exp(z - xp.expand_dims(lse, axis=1))
    coef = 1.0 - e if w_y is None else (1.0 - e) * w_y
    if not _zero(e):
        coef = coef + e * weight_sum / n_classes
    if not _zero(k):
        coef = coef + 2.0 * k * lse
    g = (coef * p) if isinstance(coef, float) else xp.expand_dims(coef, axis=1) * p
    hit = (1.0 - e) if w_y is None else xp.expand_dims((1.0 - e) * w_y, axis=1)
    g = g - xp.where(onehot, hit, xp.zeros_like(g))
    if not _zero(e):
        g = g - (e / n_classes) * (1.0 if class_weight is None else xp.expand_dims(class_weight, axis=0))
    if cap is not None:
        g = g * (1.0 - t * t)
    return values, lse, g


def shared_parts(xp: Any, weight: Any, labels: Any, class_weight: Any, device: Any) -> tuple[Any, Any]:
    """``(classes, weight_sum)``: ``arange(V)`` as (1, V) in the labels' dtype, and the class weights' sum."""
    n_classes = weight.shape[0]
    classes = xp.reshape(xp.arange(n_classes, dtype=labels.dtype, device=device), (1, n_classes))
    weight_sum = n_classes if class_weight is None else xp.sum(class_weight)
    return classes, weight_sum


def _bounds(hidden: Any, n_tokens: int, n: int) -> list[tuple[int, int]]:
    """Row ranges of at most ``n`` tokens (in bounds: the Array API leaves out-of-bounds slice
    stops unspecified). A chunked array (Dask) keeps its blocks: no range spans two of them,
    so each block of values reads one block of tokens."""
    blocks = getattr(hidden, "chunks", None)
    edges = [0]
    for size in blocks[0] if isinstance(blocks, tuple) else (n_tokens,):
        edges.append(edges[-1] + size)
    return [(s, min(s + n, hi)) for lo, hi in zip(edges, edges[1:]) for s in range(lo, hi, n)]


def linear_values(
    be: Any, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any, o: LinearOptions
) -> Any:
    """Per-token values (N,) from ``hidden`` (N, D), ``weight`` (V, D), ``bias`` (V,) or None:
    a Python loop over chunks of tokens, in pure Array API (no gradient). 16-bit inputs
    are computed in float32."""
    xp = be.xp
    dtype = be.compute_dtype(hidden.dtype, "hidden")
    if hidden.dtype != dtype:
        hidden, weight = xp.astype(hidden, dtype), xp.astype(weight, dtype)
    if bias is not None and bias.dtype != dtype:
        bias = xp.astype(bias, dtype)
    n_tokens = hidden.shape[0]
    device = be.device(hidden)
    if n_tokens == 0:
        return xp.zeros((0,), dtype=dtype, device=device)
    classes, weight_sum = shared_parts(xp, weight, labels, class_weight, device)
    w_t = xp.permute_dims(weight, (1, 0))
    n = tokens_per_chunk(n_tokens, weight.shape[0], o.chunk_size)
    out = []
    for start, stop in _bounds(hidden, n_tokens, n):
        u = xp.matmul(hidden[start:stop, ...], w_t)
        if bias is not None:
            u = u + bias
        out.append(chunk_terms(xp, u, labels[start:stop], classes, class_weight, weight_sum, o)[0])
    return out[0] if len(out) == 1 else xp.concat(out, axis=0)
