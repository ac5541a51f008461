"""The LM-head cross-entropy on torch: a Python loop over chunks inside ``torch.autograd.Function``.

Two functions, chosen by what the caller promises about the gradient
(:meth:`unilosses.backends.generic.Backend.linear_cross_entropy`):

- :class:`_GradInForward` (a reduced loss: the cotangent of the per-token values is
  ``c * token_weight``): each chunk's logits serve three matrix products at once, the
  logits ``h W^T``, ``dh = G W`` and ``dW += G^T (t h)``, as in the unfused
  computation (Liger-Kernel's approach); backward only scales ``dh`` per token and
  ``dW``, ``db`` by ``c``.
- :class:`_Recompute` (``reduction="none"``: any cotangent): the forward keeps the
  logsumexp per token; the backward recomputes each chunk's logits (a fourth matrix
  product, Apple's Cut Cross-Entropy's approach).

Without gradients (``torch.no_grad``, or no input requiring one) only the values are
computed. 16-bit ``hidden`` / ``weight`` multiply in their dtype for the logits and
``dh``; the logits and their gradient are float32; ``dW`` / ``db`` accumulate in float32 by
default, updated in place by a float32 product of the chunk's float32 gradient block (a
16-bit product converted to float32 would hold two (V, D) temporaries per chunk), or with
``accum_dtype="weight"`` in the weight's dtype by a 16-bit product in place. ``_sweep`` is the pass whose contract
:mod:`unilosses.backends.linear_generic` states. The chunk math is
:func:`unilosses.backends.linear_generic.chunk_terms` written with torch's fused kernels
and in-place updates (:func:`_terms`; ``tests/test_linear.py`` pins the two together), its
per-token terms taken from ``linear_generic``.
"""

from __future__ import annotations

from typing import Any

import torch

from unilosses.backends.generic import Slots
from unilosses.backends.linear_generic import (
    ChunkTerms,
    LinearOptions,
    SweepResult,
    label_coefficient,
    second_output,
    softmax_coefficient,
    sweep_outputs,
    token_values,
    tokens_per_chunk,
    uniform_gradient,
)

__all__ = ["linear_cross_entropy"]


def _terms(
    hc: Any, wt: Any, b: Any, y: Any, cw: Any, weight_sum: Any, o: LinearOptions, bufs: _Blocks, grad: bool,
    lse: Any, ent: Any = None, folded: Any = None, correct: Any = None,
) -> ChunkTerms:
    """:func:`unilosses.backends.linear_generic.chunk_terms` of the chunk ``hc`` with torch's
    fused kernels, in place where it can: ``log_softmax``, picks by ``gather``, the label's
    ``-1`` by ``scatter_add_`` (never a one-hot), so the (n, V) block is traversed about five
    times. Every (n, V) block is written into ``bufs`` (at most four: logits, log-probabilities,
    the soft cap's ``tanh``, the entropy's softmax). The per-token values and coefficients are ``linear_generic``'s
    (:func:`~unilosses.backends.linear_generic.token_values`, ``label_coefficient``,
    ``softmax_coefficient``, ``uniform_gradient``); the soft cap and its slope are
    ``soft_cap`` and ``soft_cap_slope`` done in place, as are ``temper`` and the entropy's
    ``fold_cotangents`` (``folded``: the cotangents ``(a, ae)``; ``ent``: the entropies given), or with
    ``o.lse`` ``fold_lse_cotangents`` (``folded``: ``(a, al)``, the values' and the logsumexps').
    ``correct`` (n,), if given, receives ``hits`` (token accuracy) of the logits before the soft cap."""
    cap = o.softcap
    n_classes = wt.shape[1]
    rows = hc.shape[0]
    u = bufs.block(0, rows)
    if hc.dtype == u.dtype:
        torch.mm(hc, wt, out=u) if b is None else torch.addmm(b, hc, wt, out=u)
    else:
        u.copy_(hc @ wt if b is None else torch.addmm(b, hc, wt))
    if correct is not None:  # linear_generic.hits: argmax gives the first of equal largest logits
        correct.copy_(u.argmax(1) == y)
    t = None
    if cap is not None:  # soft_cap, in place
        t = torch.div(u, cap, out=bufs.block(2, rows)).tanh_()
        u = torch.mul(t, cap, out=u)
    if o.temperature != 1.0:  # temper, in place
        u.div_(o.temperature)
    yi = y[:, None]
    w_y = None if cw is None else cw[y]
    values = None
    if lse is None:
        lp = torch._log_softmax(u, 1, False, out=bufs.block(1, rows))
        lse = u.gather(1, yi)[:, 0] - lp.gather(1, yi)[:, 0]
        del u
        nll = -lp.gather(1, yi)[:, 0]

        def uniform() -> Any:
            return -(lp.mean(1) if cw is None else (lp @ cw) / n_classes)

        values = token_values(nll, lse, w_y, o, uniform)
        if o.entropy:  # lse - sum_c p_c z_c = -sum_c p_c log p_c, a batched dot product (no third block)
            p = torch.exp(lp, out=bufs.block(3, rows))
            ent = -torch.bmm(p[:, None, :], lp[:, :, None])[:, 0, 0]
        if not grad:
            return ChunkTerms(values, lse, None, ent)
        g = lp.exp_()
    elif folded is not None and o.lse:  # G = a (coef p - label onehot - smooth) + al p
        g = u.sub_(lse[:, None]).exp_()
        del u
        a, al = folded
        label = label_coefficient(w_y, o)
        g.mul_((a * softmax_coefficient(lse, weight_sum, n_classes, o, label=label) + al)[:, None])
        g.scatter_add_(1, yi, -(a * label)[:, None].to(g.dtype))
        smooth = uniform_gradient(cw, n_classes, o)
        if isinstance(smooth, float):
            g.sub_(a[:, None] * smooth)
        elif smooth is not None:
            g.addr_(a, smooth.to(g.dtype), alpha=-1.0)
        return ChunkTerms(values, lse, _finish(g, t, o), ent)
    elif folded is not None:  # g = p (a - ae (log p + H)) - a onehot: log p in u's block, p in another
        log_p = u.sub_(lse[:, None])
        g = torch.exp(log_p, out=bufs.block(1, rows))
        a, ae = folded
        g.mul_(log_p.add_(ent[:, None]).mul_(-ae[:, None]).add_(a[:, None]))
        del u, log_p
        g.scatter_add_(1, yi, -a[:, None].to(g.dtype))
        return ChunkTerms(values, lse, _finish(g, t, o), ent)
    else:
        g = u.sub_(lse[:, None]).exp_()
        del u
    label = label_coefficient(w_y, o)
    coef = softmax_coefficient(lse, weight_sum, n_classes, o, label=label)
    if not isinstance(coef, float):
        g.mul_(coef[:, None])
    elif coef != 1.0:
        g.mul_(coef)
    hit = -label * torch.ones_like(lse) if w_y is None else -label
    g.scatter_add_(1, yi, hit[:, None].to(g.dtype))
    smooth = uniform_gradient(cw, n_classes, o)
    if smooth is not None:
        g.sub_(smooth)
    return ChunkTerms(values, lse, _finish(g, t, o), ent)


def _finish(g: Any, t: Any, o: LinearOptions) -> Any:
    """``g * (1 - t^2) / T`` in place (``soft_cap_slope`` and ``temper``; each only where its option is on)."""
    if t is not None:
        g.mul_(t.mul_(t).neg_().add_(1.0))
    if o.temperature != 1.0:
        g.div_(o.temperature)
    return g


class _Blocks:
    """The (n, V) float32 blocks of one pass, allocated once and reused by every chunk.

    Fresh blocks per chunk (about 32 MiB each by default) are what glibc's malloc keeps
    in its heap once its mmap threshold has risen to their size; freed in a different
    order than allocated, they fragment it, and the process grew to three times the
    memory it used (289 MiB where 102 MiB were live, at N=4096, V=32000)."""

    def __init__(self, n: int, n_classes: int, dtype: Any, device: Any) -> None:
        self.shape, self.dtype, self.device = (n, n_classes), dtype, device
        self.blocks: dict[int, Any] = {}

    def block(self, i: int, rows: int) -> Any:
        if i not in self.blocks:
            self.blocks[i] = torch.empty(self.shape, dtype=self.dtype, device=self.device)
        return self.blocks[i][:rows]


def _sweep(
    h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions, a: Any = None, lse: Any = None,
    entropy: Any = None, ae: Any = None,
) -> SweepResult:
    """One pass over the chunks, as the contract in :mod:`unilosses.backends.linear_generic`
    states (:class:`~unilosses.backends.linear_generic.SweepResult`): each chunk through
    :func:`_terms`, then ``dh = G W`` and ``dW += G^T (a h)`` with ``out=`` / in-place products."""
    f32 = torch.float32 if h.dtype in (torch.float16, torch.bfloat16) else h.dtype
    n_tokens, n_classes = h.shape[0], w.shape[0]
    weight_sum = n_classes if cw is None else cw.sum()
    n = tokens_per_chunk(n_tokens, n_classes, o.chunk_size)
    grad = a is not None
    values = None if lse is not None else torch.empty(n_tokens, dtype=f32, device=h.device)
    lse_out = torch.empty(n_tokens, dtype=f32, device=h.device) if lse is None else lse
    ent_out = torch.empty(n_tokens, dtype=f32, device=h.device) if o.entropy and lse is None else entropy
    corr_out = torch.empty(n_tokens, dtype=f32, device=h.device) if o.accuracy and lse is None else None
    dh: Any = torch.empty(h.shape, dtype=f32, device=h.device) if grad else None
    acc = w.dtype if o.accum_dtype == "weight" else f32
    dw: Any = torch.zeros(w.shape, dtype=acc, device=h.device) if grad else None
    db = torch.zeros(n_classes, dtype=acc, device=h.device) if grad and b is not None else None
    wt, bc = w.t(), None if b is None else b.to(h.dtype)
    bufs = _Blocks(n, n_classes, f32, h.device)
    for start in range(0, n_tokens, n):
        stop = min(start + n, n_tokens)
        hc = h[start:stop]
        folded = None if ae is None else (a[start:stop], ae[start:stop])
        v, l_c, g, e_c = _terms(hc, wt, bc, labels[start:stop], cw, weight_sum, o, bufs, grad,
                                None if lse is None else lse[start:stop],
                                None if entropy is None else entropy[start:stop], folded,
                                None if corr_out is None else corr_out[start:stop])
        if values is not None:
            values[start:stop] = v
            lse_out[start:stop] = l_c
            if ent_out is not None:
                ent_out[start:stop] = e_c
        if not grad:
            continue
        gm = g if g.dtype == w.dtype else g.to(w.dtype)
        torch.mm(gm, w, out=dh[start:stop]) if gm.dtype == f32 else dh[start:stop].copy_(gm @ w)
        ah = hc if folded else hc * a[start:stop, None].to(hc.dtype)  # folded: g holds the cotangents
        if dw.dtype == gm.dtype:  # float32 throughout, or 16-bit weights accumulating in their dtype
            dw.addmm_(gm.t(), ah)
        else:  # 16-bit weights, float32 accumulation: the float32 block itself, in place (no (V, D) temporary)
            dw.addmm_(g.t(), ah.to(f32))
        if db is not None:
            db += (g.sum(0) if folded else a[start:stop].to(f32) @ g).to(db.dtype)
        del g, gm
    return SweepResult(values, lse_out, dh, dw, db, ent_out, corr_out)


def _values_cotangent(g: Any) -> Any:
    """The cotangent of the values: the first column where the outputs have several."""
    return g if g.ndim == 1 else g[:, 0]


def _cast(x: Any, like: Any) -> Any:
    return None if x is None or like is None else x.to(like.dtype)


class _GradInForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions) -> Any:
        r = _sweep(h, w, b, labels, cw, o, a=tw)
        ctx.save_for_backward(r.dh_unit, tw)
        ctx.dw, ctx.db = r.dw, r.db  # this node's own buffers, scaled in place by backward (not saved tensors)
        ctx.dtypes = (h.dtype, w.dtype, None if b is None else b.dtype)
        return sweep_outputs(torch.stack, r, o)  # an accuracy column: not differentiated

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        dh, tw = ctx.saved_tensors
        dw, db = ctx.dw, ctx.db
        g = _values_cotangent(g).to(tw.dtype)
        # the cotangent is c * tw (a reduced loss): c from a dot product, 0 for an empty / all-ignored batch
        norm = tw @ tw
        c = (g @ tw) / torch.where(norm == 0, torch.ones_like(norm), norm)
        hd, wd, bd = ctx.dtypes
        gh = (dh * g[:, None].to(dh.dtype)).to(hd) if ctx.needs_input_grad[0] else None
        # W's (and b's) gradient is scaled in place and handed over: returned and no longer held here, it
        # becomes W.grad without a copy, so W's gradient exists once, not twice (V x D each). The price: a
        # second backward through the same graph (retain_graph=True) has nothing left to give.
        if dw is None:
            raise RuntimeError(
                "linear_cross_entropy: a second backward through the same graph (retain_graph=True) is not "
                "supported with a reduced loss (its gradients were handed over by the first); compute the "
                "loss again, or use reduction='none' and reduce it yourself"
            )
        ctx.dw = ctx.db = None
        scale = c.to(dw.dtype)
        gw = dw.mul_(scale).to(wd) if ctx.needs_input_grad[1] else None
        gb = db.mul_(scale).to(bd) if db is not None and ctx.needs_input_grad[2] else None
        return gh, gw, gb, None, None, None, None


class _Recompute(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions) -> Any:
        r = _sweep(h, w, b, labels, cw, o)
        ctx.save_for_backward(h, w, b, labels, cw, r.lse, r.entropy)
        ctx.options = o
        return sweep_outputs(torch.stack, r, o)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        h, w, b, labels, cw, lse, ent = ctx.saved_tensors
        g = g.to(lse.dtype)
        if not second_output(ctx.options):
            g = _values_cotangent(g)
            _, _, dh, dw, db, *_ = _sweep(h, w, b, labels, cw, ctx.options, a=g, lse=lse)
            dh = dh.mul_(g[:, None]) if ctx.needs_input_grad[0] else None
        else:  # the values' and the entropies' (logsumexps') cotangents, folded into each chunk's gradient
            _, _, dh, dw, db, *_ = _sweep(
                h, w, b, labels, cw, ctx.options, a=g[:, 0], lse=lse, entropy=ent, ae=g[:, 1]
            )
        gh = dh.to(h.dtype) if ctx.needs_input_grad[0] else None
        gw = dw.to(w.dtype) if ctx.needs_input_grad[1] else None
        gb = db.to(b.dtype) if db is not None and ctx.needs_input_grad[2] else None
        return gh, gw, gb, None, None, None


def linear_cross_entropy(
    h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions
) -> Any:
    """Per-token values with torch autograd support (see the module doc)."""
    if cw is not None and cw.requires_grad and torch.is_grad_enabled():
        raise ValueError("class_weight: linear_cross_entropy does not differentiate class weights; pass a constant")
    needs = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in (h, w, b))
    if torch.compiler.is_compiling():  # the chunk loop as one opaque operator (see _sweep_op)
        name = _OPTIONS.slot(*o)  # the fields (Dynamo passes a NamedTuple's fields, not the NamedTuple)
        columns = (o.entropy, o.lse, o.accuracy)
        if not needs:
            return _compiled_outputs(_sweep_op(h, w, b, labels, cw, None, None, None, None, name), *columns)
        if tw is not None:
            return _CompiledGradInForward.apply(h, w, b, labels, cw, tw, name, o.accuracy)
        return _CompiledRecompute.apply(h, w, b, labels, cw, name, *columns)
    if not needs:
        return sweep_outputs(torch.stack, _sweep(h, w, b, labels, cw, o), o)
    if tw is not None:
        return _GradInForward.apply(h, w, b, labels, cw, tw, o)
    return _Recompute.apply(h, w, b, labels, cw, o)


# ---------------------------------------------------------------- under torch.compile
# Traced, the chunk loop would be unrolled into the graph, and inductor would plan its buffers
# as one program (about five times the eager peak memory). Under torch.compile the sweep is one
# custom operator instead: the compiled graph calls the eager kernel above, with its reused
# chunk blocks, and reads only its outputs' shapes (the fake implementation). The options reach
# it by the name of their slot (a custom operator takes numbers, not a NamedTuple).

#: the options of each compiled call, by slot name (the operator's ``options`` argument)
_OPTIONS = Slots(LinearOptions)


def _compute_dtype(h: Any) -> Any:
    return torch.float32 if h.dtype in (torch.float16, torch.bfloat16) else h.dtype


@torch.library.custom_op("unilosses::linear_cross_entropy_sweep", mutates_args=())
def _sweep_op(
    h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, labels: torch.Tensor, cw: torch.Tensor | None,
    a: torch.Tensor | None, lse: torch.Tensor | None, entropy: torch.Tensor | None, ae: torch.Tensor | None,
    options: str,
) -> list[torch.Tensor]:
    """:func:`_sweep` as a custom operator: its seven results (values, lse, dh, dW, db, entropy,
    correct), an empty tensor for each None and for the ``lse`` / ``entropy`` given (an operator's
    outputs never alias its inputs)."""
    r = _sweep(h, w, b, labels, cw, getattr(_OPTIONS, options), a=a, lse=lse, entropy=entropy, ae=ae)
    given = (None, lse, None, None, None, entropy, None)
    return [h.new_empty(0) if x is None or x is g else x for x, g in zip(r, given)]


@_sweep_op.register_fake
def _sweep_fake(
    h: Any, w: Any, b: Any, labels: Any, cw: Any, a: Any, lse: Any, entropy: Any, ae: Any, options: str
) -> list[Any]:
    # the shapes and dtypes _sweep allocates
    o = getattr(_OPTIONS, options)
    f32, n = _compute_dtype(h), h.shape[0]
    acc = w.dtype if getattr(o, "accum_dtype", None) == "weight" else f32
    grad = a is not None
    return [
        h.new_empty(0 if lse is not None else n, dtype=f32),
        h.new_empty(0 if lse is not None else n, dtype=f32),
        h.new_empty(tuple(h.shape) if grad else 0, dtype=f32),
        h.new_empty(tuple(w.shape) if grad else 0, dtype=acc),
        h.new_empty(w.shape[0] if grad and b is not None else 0, dtype=acc),
        h.new_empty(n if o.entropy and lse is None else 0, dtype=f32),
        h.new_empty(n if o.accuracy and lse is None else 0, dtype=f32),
    ]


def _compiled_outputs(r: Any, entropy: bool, lse: bool, accuracy: bool) -> Any:
    """:func:`~unilosses.backends.linear_generic.sweep_outputs` of the operator's results."""
    cols = [r[0]] + ([r[5]] if entropy else [r[1]] if lse else []) + ([r[6]] if accuracy else [])
    return cols[0] if len(cols) == 1 else torch.stack(cols, 1)


class _CompiledGradInForward(torch.autograd.Function):
    """:class:`_GradInForward` over :func:`_sweep_op`."""

    @staticmethod
    def forward(
        ctx: Any, h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, options: str, accuracy: bool
    ) -> Any:
        r = _sweep_op(h, w, b, labels, cw, tw, None, None, None, options)
        ctx.save_for_backward(r[2], r[3], r[4], tw)
        ctx.dtypes = (h.dtype, w.dtype, None if b is None else b.dtype)
        return _compiled_outputs(r, False, False, accuracy)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        dh, dw, db, tw = ctx.saved_tensors
        g = _values_cotangent(g).to(tw.dtype)
        norm = tw @ tw
        c = (g @ tw) / torch.where(norm == 0, torch.ones_like(norm), norm)
        hd, wd, bd = ctx.dtypes
        gh = (dh * g[:, None].to(dh.dtype)).to(hd) if ctx.needs_input_grad[0] else None
        gw = (dw * c.to(dw.dtype)).to(wd) if ctx.needs_input_grad[1] else None
        gb = (db * c.to(db.dtype)).to(bd) if bd is not None and ctx.needs_input_grad[2] else None
        return gh, gw, gb, None, None, None, None, None


class _CompiledRecompute(torch.autograd.Function):
    """:class:`_Recompute` over :func:`_sweep_op`."""

    @staticmethod
    def forward(
        ctx: Any, h: Any, w: Any, b: Any, labels: Any, cw: Any, options: str, entropy: bool, lse: bool,
        accuracy: bool,
    ) -> Any:
        r = _sweep_op(h, w, b, labels, cw, None, None, None, None, options)
        ctx.save_for_backward(h, w, b, labels, cw, r[1], r[5] if entropy else None)
        ctx.options, ctx.second = options, entropy or lse
        return _compiled_outputs(r, entropy, lse, accuracy)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        h, w, b, labels, cw, lse, ent = ctx.saved_tensors
        g = g.to(lse.dtype)
        if not ctx.second:
            g = _values_cotangent(g)
            _, _, dh, dw, db, *_ = _sweep_op(h, w, b, labels, cw, g, lse, None, None, ctx.options)
            dh = dh * g[:, None]
        else:  # the entropies' or the logsumexps' cotangents folded in (ent None: the logsumexps')
            _, _, dh, dw, db, *_ = _sweep_op(h, w, b, labels, cw, g[:, 0], lse, ent, g[:, 1], ctx.options)
        gh = dh.to(h.dtype) if ctx.needs_input_grad[0] else None
        gw = dw.to(w.dtype) if ctx.needs_input_grad[1] else None
        gb = db.to(b.dtype) if b is not None and ctx.needs_input_grad[2] else None
        return gh, gw, gb, None, None, None, None, None, None
