"""PyTorch: the selected tokens' log-probabilities (and entropy) as one autograd Function.

The forward keeps the logits and one ``logsumexp`` per token (no log-softmax of the logits'
size); the backward builds the logits' gradient in one array, ``onehot - softmax`` (with the
entropy: ``- p (log p + H)`` added), in place. Autograd's own ``logsumexp`` + ``gather``
backward takes twice the time: a zero array scattered into, then added to ``exp(z - lse)``.

The Function is defined when this module is imported (with the torch backend), never inside
a caller's ``torch.compile`` region: dynamo cannot trace a class definition.
"""

from __future__ import annotations

from typing import Any

import torch


class _TokenLogProbs(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: Any, labels: Any, temperature: float, axis: int, entropy: bool) -> Any:
        zt = z if temperature == 1.0 else z / temperature
        lse = torch.logsumexp(zt, axis, keepdim=True)
        idx = labels.unsqueeze(axis)
        out = (zt.gather(axis, idx) - lse).squeeze(axis)
        h = None
        if entropy:  # -sum p log p, with 0 log 0 = 0 (a class at -inf adds nothing)
            h = torch.special.entr(torch.exp(zt - lse)).sum(axis)
        ctx.temperature, ctx.axis, ctx.entropy = temperature, axis, entropy
        ctx.save_for_backward(z, idx, lse, h if entropy else lse)
        ctx.mark_non_differentiable(labels)
        return out, h

    @staticmethod
    def backward(ctx: Any, g_out: Any, g_h: Any) -> Any:  # type: ignore[override]
        z, idx, lse, h = ctx.saved_tensors
        t, axis = ctx.temperature, ctx.axis
        log_p = (z / t if t != 1.0 else z).sub(lse)  # the one array of the logits' size
        g_out = torch.zeros_like(lse).squeeze(axis) if g_out is None else g_out
        g = g_out.unsqueeze(axis)
        if ctx.entropy and g_h is not None:
            p = torch.exp(log_p)
            log_p.nan_to_num_(nan=0.0, neginf=0.0)  # where p = 0 its term is 0
            grad = log_p.add_(h.unsqueeze(axis)).mul_(g_h.unsqueeze(axis)).add_(g).mul_(p).neg_()
        else:
            grad = log_p.exp_().mul_(-g)
        grad.scatter_add_(axis, idx, g)
        if t != 1.0:
            grad.div_(t)
        return grad, None, None, None, None


def token_log_probs(z: Any, labels: Any, temperature: float, axis: int, entropy: bool) -> Any:
    """``(log-probabilities of labels, entropy or None)`` of ``z / temperature`` along ``axis``."""
    return _TokenLogProbs.apply(z, labels, temperature, axis, entropy)
