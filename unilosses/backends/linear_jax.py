"""The LM-head cross-entropy on JAX: ``lax.scan`` over chunks inside ``jax.custom_vjp``.

A Python loop would be unrolled under ``jit`` and XLA could schedule every chunk's
logits at once; ``lax.scan`` is one XLA while loop, so one chunk's temporaries exist
at a time. The full chunks go through the scan, an uneven last chunk through the same
body once more; the pass (``_sweep``) keeps the contract stated in
:mod:`unilosses.backends.linear_generic`, whose :func:`~unilosses.backends.linear_generic.chunk_terms`
is each chunk's math. Two custom gradients, chosen by what the caller promises
(:meth:`unilosses.backends.generic.Backend.linear_cross_entropy`), as on torch
(:mod:`unilosses.backends.linear_torch`): the gradients computed with the values for
a reduced loss (three matrix products per chunk), or the logsumexp kept and the
logits recomputed in the backward pass for per-token values. Without
differentiation the primal computes the values alone.

The entry point is a ``jax.jit`` (the options static): outside a caller's ``jit``
(``jax.grad`` op by op, eager calls) the scans and loops are compiled once per shapes
and options, not on every call (a 64-token gradient: 0.46 s a call before, 0.008 s);
inside one it is traced into the caller's program as before.

Sharding: the label's logit is picked with a masked sum (no gather along the
vocabulary), so with ``weight`` sharded over the vocabulary XLA keeps each chunk's
logits, ``dW`` and ``db`` sharded and exchanges only per-token sums (max, sum of
exponentials, picked logit, smoothing term: ``n`` values each per chunk) and the
partial ``dh = G W`` (``n x D`` per chunk).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from unilosses.backends.linear_generic import (
    LinearOptions,
    SweepResult,
    chunk_terms,
    dw_block_rows,
    hits,
    second_output,
    shared_parts,
    sweep_outputs,
    tokens_per_chunk,
)

__all__ = ["linear_cross_entropy"]


def _f32(dtype: Any) -> Any:
    return jnp.float32 if jnp.finfo(dtype).bits < 32 else dtype


def _sweep(
    h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions, a: Any = None, lse: Any = None,
    entropy: Any = None, ae: Any = None,
) -> SweepResult:
    """One pass over the chunks, as the contract in :mod:`unilosses.backends.linear_generic`
    states (:class:`~unilosses.backends.linear_generic.SweepResult`): each chunk's math is
    :func:`~unilosses.backends.linear_generic.chunk_terms`; here only the products
    (``dh = G W``, ``dW`` by :func:`_add_outer`) and the scan."""
    f32 = _f32(h.dtype)
    n_tokens, n_classes = h.shape[0], w.shape[0]
    classes, weight_sum = shared_parts(jnp, w, labels, cw, None)
    cw_rows = cw
    classes, cw, replicated = _like_vocabulary(w, classes, cw)
    n = tokens_per_chunk(n_tokens, n_classes, o.chunk_size)
    full, tail = divmod(n_tokens, n)
    grad = a is not None
    bias = None if b is None else b.astype(f32)

    def chunk(hc: Any, yc: Any, ac: Any, lc: Any, ec: Any, aec: Any) -> Any:
        u = jnp.matmul(hc, w.T, preferred_element_type=f32)
        if bias is not None:
            u = u + bias
        w_y = None if cw_rows is None else _lookup(cw_rows, yc)
        folded = None if aec is None else (ac, aec)
        v, l_c, g, e_c = chunk_terms(
            jnp, u, yc, classes, cw, weight_sum, o, grad=grad, lse=lc, label_weight=w_y, entropy=ec, cotangents=folded
        )
        c_c = hits(jnp, u, yc) if o.accuracy and lc is None else None
        if not grad:
            return v, l_c, e_c, c_c, None, None, None
        dh = jnp.matmul(g.astype(w.dtype), w, preferred_element_type=f32, **replicated)
        # folded: g holds the cotangents already
        ah = hc if folded else hc * ac[:, None].astype(hc.dtype)
        db = None if b is None else jnp.sum(g, axis=0) if folded else ac.astype(f32) @ g
        return v, l_c, e_c, c_c, dh, (g.astype(h.dtype), ah), db

    def cut(x: Any, lo: int, hi: int) -> Any:
        return None if x is None else x[lo:hi]

    def body(carry: Any, xs: Any) -> Any:
        v, l_c, e_c, c_c, dh, gah, db = chunk(*xs)
        if grad:
            carry = (
                _add_outer(carry[0], gah[0], gah[1], replicated), None if db is None else carry[1] + db.astype(acc)
            )
        return carry, (v, l_c, dh, e_c, c_c)

    # zeros_like: the accumulators keep w's and b's sharding (the scan carry's type under Explicit axes)
    acc = w.dtype if o.accum_dtype == "weight" else f32
    carry = (jnp.zeros_like(w, dtype=acc), None if b is None else jnp.zeros_like(b, dtype=acc)) if grad else (None, None)
    parts = []
    if full:
        stop = full * n

        def split(x: Any) -> Any:
            return None if x is None else x[:stop].reshape((full, n) + x.shape[1:])

        carry, ys = jax.lax.scan(body, carry, tuple(split(x) for x in (h, labels, a, lse, entropy, ae)))
        parts.append(tuple(None if y is None else y.reshape((stop,) + y.shape[2:]) for y in ys))
    if tail:
        lo = full * n
        carry, ys = body(carry, (h[lo:], labels[lo:]) + tuple(cut(x, lo, n_tokens) for x in (a, lse, entropy, ae)))
        parts.append(ys)
    if not parts:
        empty = jnp.zeros((0,), f32)
        parts.append((empty, empty, jnp.zeros((0,) + h.shape[1:], f32) if grad else None, empty, empty))
    values, lse_out, dh, ent, correct = (
        None if p[0] is None else p[0] if len(parts) == 1 else jnp.concatenate(p) for p in zip(*parts)
    )
    return SweepResult(
        values, lse_out, dh, carry[0], carry[1], ent if o.entropy else None, correct if o.accuracy else None
    )


def _add_outer(acc: Any, g: Any, ah: Any, sharded: dict[str, Any]) -> Any:
    """``acc + g.T @ ah`` (``acc`` (V, D) float32, ``g`` (n, V), ``ah`` (n, D)), a block of
    rows at a time (:func:`~unilosses.backends.linear_generic.dw_block_rows`), each written
    into ``acc`` in place.

    XLA on CPU does not fuse a matrix product into the sum it feeds, so ``acc + g.T @ ah``
    in one piece holds a second (V, D) array, the product, on every chunk: ``W``'s gradient
    twice (533 MiB at V=256k where the gradient is 250). Only with one device: where ``W``
    may be sharded over the vocabulary the product is per device already, and slicing the
    sharded axis in a loop would make XLA gather ``W`` (measured with Auto mesh axes, where
    the sharding is not visible while tracing); so with several devices it is left whole."""
    n_classes, d = acc.shape
    rows = dw_block_rows(d)  # one whole product instead: 0.80 of the unfused time
    if sharded or n_classes <= rows or jax.device_count() > 1:
        return acc + jnp.matmul(g.T, ah, preferred_element_type=acc.dtype)
    full, tail = divmod(n_classes, rows)

    def block(acc: Any, lo: Any, size: int) -> Any:
        part = jax.lax.dynamic_slice_in_dim(g, lo, size, axis=1)
        old = jax.lax.dynamic_slice_in_dim(acc, lo, size, axis=0)
        new = old + jnp.matmul(part.T, ah, preferred_element_type=acc.dtype)
        return jax.lax.dynamic_update_slice_in_dim(acc, new, lo, axis=0)

    acc = jax.lax.fori_loop(0, full, lambda i, acc: block(acc, i * rows, rows), acc)
    return block(acc, full * rows, tail) if tail else acc


def _like_vocabulary(w: Any, classes: Any, cw: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Under a mesh with Explicit axes and ``w`` sharded over the vocabulary: the arrays that
    meet a chunk's logits along it (class indices, class weights) take that sharding, and
    ``dh = G W`` (a sum over the vocabulary) is asked for replicated. Else nothing changes."""
    typeof = getattr(jax, "typeof", None)
    spec = getattr(getattr(typeof(w), "sharding", None), "spec", None) if typeof is not None else None
    if not spec or spec[0] is None:
        return classes, cw, {}
    from jax.sharding import PartitionSpec, reshard

    classes = reshard(classes, PartitionSpec(None, spec[0]))
    cw = None if cw is None else reshard(cw, PartitionSpec(spec[0]))
    return classes, cw, {"out_sharding": PartitionSpec()}


def _lookup(table: Any, index: Any) -> Any:
    """``table[index]``, saying where the result lives under an Explicit-axes mesh."""
    typeof = getattr(jax, "typeof", None)
    sharding = getattr(typeof(index), "sharding", None) if typeof is not None else None
    if sharding is not None and getattr(sharding, "mesh", None) is not None and not sharding.mesh.empty:
        return table.at[index].get(out_sharding=sharding)
    return table[index]


def _scale(c: Any, x: Any, like: Any) -> Any:
    return None if like is None else (c * x).astype(like.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
def _grad_in_forward(h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions) -> Any:
    return sweep_outputs(jnp.stack, _sweep(h, w, b, labels, cw, o), o)


def _gif_fwd(h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions) -> Any:
    r = _sweep(h, w, b, labels, cw, o, a=tw)
    like = (jnp.zeros((), h.dtype), jnp.zeros((), w.dtype), None if b is None else jnp.zeros((), b.dtype))
    return sweep_outputs(jnp.stack, r, o), (r.dh_unit, r.dw, r.db, tw, like)


def _values_cotangent(g: Any) -> Any:
    """The cotangent of the values: the first column where the outputs have several (an accuracy
    column's is dropped: not differentiated)."""
    return g if g.ndim == 1 else g[:, 0]


def _gif_bwd(o: LinearOptions, res: Any, g: Any) -> Any:
    dh, dw, db, tw, (h_like, w_like, b_like) = res
    g = _values_cotangent(g).astype(tw.dtype)
    # the cotangent is c * tw (a reduced loss): c from a dot product, 0 for an empty / all-ignored batch
    norm = tw @ tw
    c = (g @ tw) / jnp.where(norm == 0, 1.0, norm)
    return (g[:, None] * dh).astype(h_like.dtype), _scale(c, dw, w_like), _scale(c, db, b_like), None, None, None


_grad_in_forward.defvjp(_gif_fwd, _gif_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _recompute(h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions) -> Any:
    return sweep_outputs(jnp.stack, _sweep(h, w, b, labels, cw, o), o)


def _rc_fwd(h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions) -> Any:
    r = _sweep(h, w, b, labels, cw, o)
    return sweep_outputs(jnp.stack, r, o), (h, w, b, labels, cw, r.lse, r.entropy)


def _rc_bwd(o: LinearOptions, res: Any, g: Any) -> Any:
    h, w, b, labels, cw, lse, ent = res
    g = g.astype(lse.dtype)
    if not second_output(o):
        g = _values_cotangent(g)
        r = _sweep(h, w, b, labels, cw, o, a=g, lse=lse)
        dh = g[:, None] * r.dh_unit
    else:  # the values' and the entropies' (logsumexps') cotangents, folded into each chunk's gradient
        r = _sweep(h, w, b, labels, cw, o, a=g[:, 0], lse=lse, entropy=ent, ae=g[:, 1])
        dh = r.dh_unit
    db = None if b is None else r.db.astype(b.dtype)
    return dh.astype(h.dtype), r.dw.astype(w.dtype), db, None, None


_recompute.defvjp(_rc_fwd, _rc_bwd)


@functools.partial(jax.jit, static_argnums=(6,))
def linear_cross_entropy(h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions) -> Any:
    """Per-token values, differentiable w.r.t. ``h``, ``w``, ``b`` (see the module doc);
    ``class_weight`` is a constant (``stop_gradient``)."""
    if cw is not None:
        cw = jax.lax.stop_gradient(cw)
    if tw is not None:
        return _grad_in_forward(h, w, b, labels, cw, tw, o)
    return _recompute(h, w, b, labels, cw, o)
