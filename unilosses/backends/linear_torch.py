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
computed. 16-bit ``hidden`` / ``weight`` multiply in their dtype; logits, their
gradient and ``dW`` / ``db`` accumulate in float32. ``_sweep`` is the pass whose contract
:mod:`unilosses.backends.linear_generic` states. The chunk math is
:func:`unilosses.backends.linear_generic.chunk_terms` written with torch's fused kernels
and in-place updates (:func:`_terms`; ``tests/test_linear.py`` pins the two together), its
per-token terms taken from ``linear_generic``.
"""

from __future__ import annotations

from typing import Any

import torch

from unilosses.backends.linear_generic import (
    LinearOptions,
    SweepResult,
    label_coefficient,
    softmax_coefficient,
    token_values,
    tokens_per_chunk,
    uniform_gradient,
)

__all__ = ["linear_cross_entropy"]


def _terms(
    hc: Any, wt: Any, b: Any, y: Any, cw: Any, weight_sum: Any, o: LinearOptions, bufs: _Blocks, grad: bool,
    lse: Any,
) -> tuple[Any, Any, Any]:
    """:func:`unilosses.backends.linear_generic.chunk_terms` of the chunk ``hc`` with torch's
    fused kernels, in place where it can: ``log_softmax``, picks by ``gather``, the label's
    ``-1`` by ``scatter_add_`` (never a one-hot), so the (n, V) block is traversed about five
    times. Every (n, V) block is written into ``bufs`` (at most three: logits, log-probabilities,
    the soft cap's ``tanh``). The per-token values and coefficients are ``linear_generic``'s
    (:func:`~unilosses.backends.linear_generic.token_values`, ``label_coefficient``,
    ``softmax_coefficient``, ``uniform_gradient``); the soft cap and its slope are
    ``soft_cap`` and ``soft_cap_slope`` done in place."""
    cap = o.softcap
    n_classes = wt.shape[1]
    rows = hc.shape[0]
    u = bufs.block(0, rows)
    if hc.dtype == u.dtype:
        torch.mm(hc, wt, out=u) if b is None else torch.addmm(b, hc, wt, out=u)
    else:
        u.copy_(hc @ wt if b is None else torch.addmm(b, hc, wt))
    t = None
    if cap is not None:  # soft_cap, in place
        t = torch.div(u, cap, out=bufs.block(2, rows)).tanh_()
        u = torch.mul(t, cap, out=u)
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
        if not grad:
            return values, lse, None
        g = lp.exp_()
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
    if t is not None:  # soft_cap_slope, in place
        g.mul_(t.mul_(t).neg_().add_(1.0))
    return values, lse, g


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
    h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions, a: Any = None, lse: Any = None
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
    dh: Any = torch.empty(h.shape, dtype=f32, device=h.device) if grad else None
    dw: Any = torch.zeros(w.shape, dtype=f32, device=h.device) if grad else None
    db = torch.zeros(n_classes, dtype=f32, device=h.device) if grad and b is not None else None
    wt, bc = w.t(), None if b is None else b.to(h.dtype)
    bufs = _Blocks(n, n_classes, f32, h.device)
    for start in range(0, n_tokens, n):
        stop = min(start + n, n_tokens)
        hc = h[start:stop]
        v, l_c, g = _terms(hc, wt, bc, labels[start:stop], cw, weight_sum, o, bufs, grad,
                           None if lse is None else lse[start:stop])
        if values is not None:
            values[start:stop] = v
            lse_out[start:stop] = l_c
        if not grad:
            continue
        gm = g if g.dtype == w.dtype else g.to(w.dtype)
        torch.mm(gm, w, out=dh[start:stop]) if gm.dtype == f32 else dh[start:stop].copy_(gm @ w)
        ah = hc * a[start:stop, None].to(hc.dtype)
        if gm.dtype == f32:
            dw.addmm_(gm.t(), ah)
        else:
            dw += (gm.t() @ ah).to(f32)
        if db is not None:
            db += a[start:stop].to(f32) @ g
        del g, gm
    return SweepResult(values, lse_out, dh, dw, db)


def _cast(x: Any, like: Any) -> Any:
    return None if x is None or like is None else x.to(like.dtype)


class _GradInForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions) -> Any:
        values, _, dh, dw, db = _sweep(h, w, b, labels, cw, o, a=tw)
        ctx.save_for_backward(dh, tw)
        ctx.dw, ctx.db = dw, db  # this node's own buffers, scaled in place by backward (not saved tensors)
        ctx.dtypes = (h.dtype, w.dtype, None if b is None else b.dtype)
        return values

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        dh, tw = ctx.saved_tensors
        dw, db = ctx.dw, ctx.db
        g = g.to(tw.dtype)
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
        values, lse, _, _, _ = _sweep(h, w, b, labels, cw, o)
        ctx.save_for_backward(h, w, b, labels, cw, lse)
        ctx.options = o
        return values

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        h, w, b, labels, cw, lse = ctx.saved_tensors
        _, _, dh, dw, db = _sweep(h, w, b, labels, cw, ctx.options, a=g.to(lse.dtype), lse=lse)
        gh = (dh * g[:, None].to(dh.dtype)).to(h.dtype) if ctx.needs_input_grad[0] else None
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
    if not needs:
        return _sweep(h, w, b, labels, cw, o)[0]
    if tw is not None:
        return _GradInForward.apply(h, w, b, labels, cw, tw, o)
    return _Recompute.apply(h, w, b, labels, cw, o)
