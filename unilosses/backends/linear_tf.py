"""The LM-head cross-entropy on TensorFlow: ``tf.while_loop`` over chunks inside ``tf.custom_gradient``.

One ``tf.while_loop`` (``parallel_iterations=1``: one chunk's temporaries at a time)
serves eager execution (where it runs as a Python loop), ``tf.function`` and XLA.
The token count may be unknown until run time; per-chunk values go to a
``TensorArray``. The pass (``_sweep``) keeps the contract stated in
:mod:`unilosses.backends.linear_generic`, and each chunk's per-token terms are that
module's; only the kernel calls are TensorFlow's (:func:`_terms`).
The two custom gradients are those of :mod:`unilosses.backends.linear_torch`:
gradients computed with the values for a reduced loss, logits recomputed in the
backward pass for per-token values.

What TensorFlow cannot say is whether a gradient will be asked for when the tape
sits outside a ``tf.function``. So: eagerly, with no tape watching the inputs, only
the values are computed; inside a ``tf.function`` with no tape watching them inside
it, the recomputing gradient is used (values and logsumexp forward, one matrix
product per chunk; three more only if a gradient is requested); whenever a tape
records, the promised gradient shape decides.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow.python.eager import record

from unilosses.backends.linear_generic import (
    ChunkTerms,
    LinearOptions,
    SweepResult,
    dw_block_rows,
    finish_gradient,
    fold_cotangents,
    fold_lse_cotangents,
    label_coefficient,
    second_output,
    soft_cap,
    soft_cap_slope,
    softmax_coefficient,
    sweep_outputs,
    temper,
    token_values,
    tokens_per_chunk,
    uniform_gradient,
)

__all__ = ["linear_cross_entropy"]

_DEFAULT_TOKENS = 1 << 30  # a token count for tokens_per_chunk when the batch size is unknown


def _f32(dtype: Any) -> Any:
    return tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype


def _terms(
    u: Any, y: Any, cw: Any, weight_sum: Any, o: LinearOptions, grad: bool, lse: Any, ent: Any = None,
    folded: Any = None,
) -> ChunkTerms:
    """:func:`unilosses.backends.linear_generic.chunk_terms` of the logits ``u`` with TensorFlow's
    fused sparse softmax kernel, which gives ``-log p_y`` and ``B = softmax - onehot`` in one
    pass; with ``G = d value / d z``::

        G = coef * B + (e W / V + 2 k lse) onehot - (e / V) w,   coef = (1 - e) w_y + e W / V + 2 k lse

    (``B`` alone without options). With ``lse`` given (backward) the kernel runs again for ``B``.
    ``coef``, the shift ``e W / V + 2 k lse``, the values and the soft cap are ``linear_generic``'s
    (:func:`~unilosses.backends.linear_generic.softmax_coefficient`, ``label_coefficient``,
    ``token_values``, ``soft_cap``, ``temper``, ``finish_gradient``, and with the entropy
    ``fold_cotangents``: ``folded`` the cotangents ``(a, ae)``, ``ent`` the entropies given)."""
    cap = o.softcap
    n_classes = u.shape[-1] if u.shape[-1] is not None else tf.shape(u)[-1]
    t = None
    if cap is not None:
        u, t = soft_cap(tf.tanh, u, cap)
    u = temper(u, o)
    nll, b = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=u, labels=y)
    w_y = None if cw is None else tf.gather(cw, y)
    values = None
    if lse is None:
        lse = nll + tf.gather(u, y, batch_dims=1)

        def uniform() -> Any:
            mean = tf.reduce_mean(u, axis=1) if cw is None else tf.linalg.matvec(u, cw) / n_classes
            return (weight_sum / n_classes) * lse - mean

        values = token_values(nll, lse, w_y, o, uniform)
        if o.entropy:
            log_p = u - lse[:, None]
            ent = -tf.reduce_sum(tf.exp(log_p) * log_p, axis=1)
        if not grad:
            return ChunkTerms(values, lse, None, ent)
    extra = softmax_coefficient(lse, weight_sum, n_classes, o)  # p's coefficient less the one-hot's
    coef = label_coefficient(w_y, o) + extra
    if not isinstance(coef, float):
        b = (coef + tf.zeros_like(lse))[:, None] * b
    elif coef != 1.0:
        b = coef * b
    if not isinstance(extra, float) or extra != 0.0:
        rows = tf.range(tf.shape(y, out_type=y.dtype)[0], dtype=y.dtype)
        b = tf.tensor_scatter_nd_add(b, tf.stack([rows, y], axis=1), extra + tf.zeros_like(lse))
    if folded is not None and o.lse:  # the smoothing term scaled by a with the rest: finished here
        smooth = uniform_gradient(cw, n_classes, o)
        b = fold_lse_cotangents(b if smooth is None else b - smooth, tf.exp(u - lse[:, None]), *folded)
        return ChunkTerms(values, lse, temper(b if t is None else b * soft_cap_slope(t), o), ent)
    if folded is not None:
        log_p = u - lse[:, None]
        b = fold_cotangents(b, tf.exp(log_p), log_p, ent, *folded)
    return ChunkTerms(values, lse, finish_gradient(b, t, cw, n_classes, o), ent)


def _sweep(
    h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions, a: Any = None, lse: Any = None,
    entropy: Any = None, ae: Any = None,
) -> SweepResult:
    """One pass over the chunks, as the contract in :mod:`unilosses.backends.linear_generic`
    states (:class:`~unilosses.backends.linear_generic.SweepResult`): each chunk through
    :func:`_terms`, ``dW`` updated by :func:`_add_outer_in_place` eagerly.

    With a static token count (always under XLA) the full chunks go through the loop with
    a static size and an uneven last chunk through the same body once more; with an
    unknown count, the last chunk of the loop is shorter (dynamic shapes).
    """
    f32 = _f32(h.dtype)
    n_classes = w.shape[0]
    weight_sum = n_classes if cw is None else tf.reduce_sum(cw)
    static_n = h.shape[0]
    n = tokens_per_chunk(static_n if static_n is not None else _DEFAULT_TOKENS, n_classes, o.chunk_size)
    grad = a is not None
    bias = None if b is None else tf.cast(b, f32)
    d = h.shape[1]

    def chunk(lo: Any, hi: Any, size: Any) -> Any:
        """(values, lse, entropy, correct, dh_unit, dW part, db part) of rows lo:hi (``size`` rows if static)."""
        cut = (lambda x: x[lo:hi]) if size is None else (lambda x: tf.slice(x, [lo] + [0] * (x.shape.rank - 1), [size] + [-1] * (x.shape.rank - 1)))
        hc, yc = cut(h), cut(labels)
        u = tf.matmul(hc, w, transpose_b=True)
        u = tf.cast(u, f32) if u.dtype != f32 else u
        if bias is not None:
            u = u + bias
        folded = None if ae is None else (cut(a), cut(ae))
        # linear_generic.hits: the first largest logit (before the soft cap) is the label's
        c_c = tf.cast(tf.equal(tf.argmax(u, axis=1, output_type=yc.dtype), yc), f32) if o.accuracy and lse is None else None
        v, l_c, g, e_c = _terms(
            u, yc, cw, weight_sum, o, grad, None if lse is None else cut(lse), None if entropy is None else cut(entropy),
            folded,
        )
        if not grad:
            return v, l_c, e_c, c_c, None, None, None
        dh = tf.cast(tf.matmul(tf.cast(g, w.dtype), w), f32)
        if folded:  # g holds the cotangents already
            gah, db = (tf.cast(g, h.dtype), hc), None if bias is None else tf.reduce_sum(g, axis=0)
        else:
            ac = cut(a)
            gah = (tf.cast(g, h.dtype), hc * tf.cast(ac[:, None], h.dtype))
            db = None if bias is None else tf.linalg.matvec(g, tf.cast(ac, f32), transpose_a=True)
        return v, l_c, e_c, c_c, dh, gah, db

    acc = w.dtype if o.accum_dtype == "weight" else f32

    def add(x: Any, y: Any) -> Any:
        return x if y is None else x + tf.cast(y, acc)

    eager = tf.executing_eagerly()

    def add_outer(dw: Any, gah: Any) -> Any:
        return _add_outer_in_place(dw, *gah) if eager else dw + tf.cast(tf.matmul(*gah, transpose_a=True), acc)

    empty = tf.zeros((0,), f32)
    # eagerly dW is this pass's own buffer, updated in place (_add_outer_in_place): a fresh one, never a cached zero
    dw0 = (tf.raw_ops.Empty(shape=w.shape, dtype=acc, init=True) if eager else tf.zeros(w.shape, acc)) if grad else empty
    db0 = tf.zeros(tf.shape(b), acc) if grad and b is not None else empty
    if static_n is not None:
        n_tokens, n_chunks, size = static_n, static_n // n, n
    else:
        n_tokens = tf.shape(h)[0]
        n_chunks, size = (n_tokens + n - 1) // n, None
    parts: list[Any] = []

    def body(i: Any, dw: Any, db: Any, tv: Any, tl: Any, tdh: Any, te: Any, tc: Any) -> Any:
        v, l_c, e_c, c_c, dh, gah, db_c = chunk(i * n, tf.minimum(i * n + n, n_tokens), size)
        if v is not None:
            tv, tl = tv.write(i, v), tl.write(i, l_c)
            if e_c is not None:
                te = te.write(i, e_c)
            if c_c is not None:
                tc = tc.write(i, c_c)
        if grad:
            tdh, dw, db = tdh.write(i, dh), add_outer(dw, gah), add(db, db_c)
        return i + 1, dw, db, tv, tl, tdh, te, tc

    def array(shape: Any) -> Any:  # one more element, empty, so that an empty batch concatenates
        return tf.TensorArray(f32, size=n_chunks + (size is None), infer_shape=False, element_shape=shape)

    dw, db = dw0, db0
    if size is None or n_chunks:
        init = (
            tf.constant(0), dw0, db0, array([size]), array([size]), array([size, d] if grad else [size]), array([size]),
            array([size]),
        )
        _, dw, db, tv, tl, tdh, te, tc = tf.while_loop(lambda i, *_: i < n_chunks, body, init, parallel_iterations=1)
        if size is None:  # the extra empty element
            tv, tl = tv.write(n_chunks, empty), tl.write(n_chunks, empty)
            if grad:  # without a gradient tdh holds nothing (and its elements are 1-d)
                tdh = tdh.write(n_chunks, tf.zeros((0, d), f32))
            te, tc = te.write(n_chunks, empty), tc.write(n_chunks, empty)
        fresh = lse is None
        parts.append((
            tv.concat() if fresh else None, tl.concat() if fresh else None, tdh.concat() if grad else None,
            te.concat() if fresh and o.entropy else None, tc.concat() if fresh and o.accuracy else None,
        ))
    if size is not None and n_tokens % n:
        v, l_c, e_c, c_c, dh, gah, db_c = chunk(n_chunks * n, n_tokens, n_tokens % n)
        parts.append((v, l_c, dh, e_c, c_c))
        if grad:
            dw, db = add_outer(dw, gah), add(db, db_c)
    if not parts:
        parts.append((
            empty, empty, tf.zeros((0, d), f32) if grad else None, empty if o.entropy else None,
            empty if o.accuracy else None,
        ))
    values, lse_out, dh, ent, correct = (
        None if p[0] is None else p[0] if len(p) == 1 else tf.concat(p, 0) for p in zip(*parts)
    )
    return SweepResult(
        values, lse if lse is not None else lse_out, dh, dw if grad else None, db if grad and b is not None else None,
        entropy if entropy is not None else ent, correct,
    )


def _add_outer_in_place(dw: Any, g: Any, ah: Any) -> Any:
    """``dw += g.T @ ah`` in place, a block of rows at a time
    (:func:`~unilosses.backends.linear_generic.dw_block_rows`; eager execution only; ``dw``
    (V, D) float32 is the pass's own buffer, ``g`` (n, V), ``ah`` (n, D)).

    ``dw + g.T @ ah`` would hold three (V, D) arrays as each chunk ends (the old sum, the
    product, the new sum): ``W``'s gradient three times (813 MiB at V=256k, where it is 250).
    ``InplaceAdd`` writes each block's product into ``dw``'s own buffer, so only a block
    exists beside it. Not in a graph: there the sum stays an ordinary op (an op that writes
    into its input is safe only where nothing else can read that input), and a
    ``tf.function`` holds ``W``'s gradient twice (docs/performance.md)."""
    n_classes, d = dw.shape
    rows = dw_block_rows(d)
    for lo in range(0, n_classes, rows):
        hi = min(lo + rows, n_classes)
        part = tf.matmul(g[:, lo:hi], ah, transpose_a=True)
        tf.raw_ops.InplaceAdd(x=dw, i=tf.range(lo, hi), v=part if part.dtype == dw.dtype else tf.cast(part, dw.dtype))
    return dw


def _unwatched(*xs: Any) -> Any:
    """``xs`` through ``stop_gradient``: inside a custom gradient, TensorFlow's tape would
    otherwise record every op of the loop and keep each chunk's logits alive until the
    backward pass (eagerly: gigabytes; in a graph: accumulators for the while loop)."""
    return [x if x is None or not x.dtype.is_floating else tf.stop_gradient(x) for x in xs]


def _values_cotangent(g: Any) -> Any:
    """The cotangent of the values, dense (a gather's gradient is ``IndexedSlices``): the first column
    where the outputs have several (an accuracy column's is dropped: not differentiated)."""
    g = tf.convert_to_tensor(g)
    return g if g.shape.rank == 1 else g[:, 0]


def _safe_c(g: Any, tw: Any) -> Any:
    """c with ``g = c * tw`` (a reduced loss), 0 for an empty / all-ignored batch."""
    norm = tf.tensordot(tw, tw, 1)
    return tf.tensordot(g, tw, 1) / tf.where(tf.equal(norm, 0.0), tf.ones_like(norm), norm)


def _grad_in_forward(labels: Any, cw: Any, tw: Any, o: LinearOptions, has_bias: bool) -> Any:
    @tf.custom_gradient
    def f(h: Any, w: Any, *bias: Any) -> Any:
        b: Any = bias[0] if has_bias else None
        hs, ws, bs, ys, cs = _unwatched(h, w, b, labels, cw)
        r = _sweep(hs, ws, bs, ys, cs, o, a=_unwatched(tw)[0])
        dh, dw, db = r.dh_unit, r.dw, r.db

        def grad(g: Any) -> Any:
            g = tf.cast(_values_cotangent(g), tw.dtype)
            c = _safe_c(g, tw)
            out = [tf.cast(g[:, None] * dh, h.dtype), tf.cast(tf.cast(c, dw.dtype) * dw, w.dtype)]
            return out + ([tf.cast(tf.cast(c, db.dtype) * db, b.dtype)] if has_bias else [])

        return sweep_outputs(tf.stack, r, o), grad

    return f


def _recompute(labels: Any, cw: Any, o: LinearOptions, has_bias: bool) -> Any:
    @tf.custom_gradient
    def f(h: Any, w: Any, *bias: Any) -> Any:
        b: Any = bias[0] if has_bias else None
        hs, ws, bs, ys, cs = _unwatched(h, w, b, labels, cw)
        r = _sweep(hs, ws, bs, ys, cs, o)
        lse, ent = r.lse, r.entropy

        def grad(g: Any) -> Any:
            g = _unwatched(tf.cast(tf.convert_to_tensor(g), lse.dtype))[0]
            if not second_output(o):
                g = _values_cotangent(g)
                _, _, dh, dw, db, *_ = _sweep(hs, ws, bs, ys, cs, o, a=g, lse=lse)
                dh = g[:, None] * dh
            else:  # the values' and the entropies' (logsumexps') cotangents, folded into each chunk's gradient
                _, _, dh, dw, db, *_ = _sweep(hs, ws, bs, ys, cs, o, a=g[:, 0], lse=lse, entropy=ent, ae=g[:, 1])
            out = [tf.cast(dh, h.dtype), tf.cast(dw, w.dtype)]
            return out + ([tf.cast(db, b.dtype)] if has_bias else [])

        return sweep_outputs(tf.stack, r, o), grad

    return f


def linear_cross_entropy(h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions) -> Any:
    """Per-token values, differentiable w.r.t. ``h``, ``w``, ``b`` (see the module doc);
    ``class_weight`` is a constant (``stop_gradient``)."""
    h, w = tf.convert_to_tensor(h), tf.convert_to_tensor(w)  # variables: read once, outside the gradient
    b = None if b is None else tf.convert_to_tensor(b)
    if cw is not None:
        cw = tf.stop_gradient(cw)
    inputs = [h, w] + ([] if b is None else [b])
    recording = record.should_record_backprop(inputs)
    if not recording and tf.executing_eagerly():
        return sweep_outputs(tf.stack, _sweep(h, w, b, labels, cw, o), o)
    if recording and tw is not None:
        return _grad_in_forward(labels, cw, tw, o, b is not None)(*inputs)
    return _recompute(labels, cw, o, b is not None)(*inputs)
