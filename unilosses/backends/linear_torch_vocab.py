"""The LM head on torch with its weight sharded over the vocabulary across ``torch.distributed`` ranks.

Each rank of a process group holds a contiguous block of the head's rows, ``weight[start:start +
rows]`` (and the same block of ``bias`` and ``class_weight``): Megatron-LM's vocabulary-parallel
layout. ``hidden`` and the labels are the same on every rank. The per-token values are those of one
process on the whole weight, on every rank; ``weight``'s and ``bias``' gradients are each rank's
block of the whole gradient; ``hidden``'s is the whole gradient, on every rank.

What a token's value needs from the whole vocabulary are four sums over the classes: the
logsumexp, the label's logit, ``sum_c w_c z_c`` (label smoothing) and ``sum_c p_c z_c`` (the
entropy). Each rank computes them over its block, relative to its block's logsumexp ``l_r``
(:func:`_local_stats`); two all-reduces of per-token statistics combine them (:func:`_combine`):
the maximum ``M`` of the ``l_r``, then the sum of ``exp(l_r - M)`` beside the other sums shifted
to ``M`` (N tokens by at most five columns). The values then follow from
:func:`~unilosses.backends.linear_generic.token_values`, and the gradient of a token's value with
respect to its logits is local to each block once the global logsumexp is known
(:func:`_gradient`: ``linear_generic``'s per-token terms with the whole vocabulary's size and
class-weight sum). So ``dW`` and ``db`` need no communication, and ``dh = G W`` is the sum of the
blocks' parts: one all-reduce of (N, D) in the backward pass. Neither ``weight`` nor the logits
ever move.

The one-process head's extra outputs follow its contract (``linear_generic``'s ``o.lse`` and
``o.accuracy``, the columns of :func:`~unilosses.backends.linear_generic.sweep_outputs`). The
logsumexp column (for a z-loss taken outside the sweep) is the whole vocabulary's ``lse``; its
cotangent folds into each block's gradient as ``p`` (``fold_lse_cotangents``), local to the block.
Token accuracy, whether the first of the largest logits of the whole vocabulary (the lowest global
index among equal ones, as ``argmax`` on the whole logits) is the label's, rides on the same two
all-reduces: each block's largest logit (before the soft cap, as ``hits``) beside its logsumexp in
the maximum, then one more summed column (:func:`_combine`).

Two autograd functions, as in :mod:`unilosses.backends.linear_torch`: :class:`_GradInForward`
(a reduced loss) computes each chunk's gradient in the forward pass, with the two all-reduces
per chunk of tokens, so that each chunk's logits are computed once; :class:`_Recompute`
(per-token values, log-probabilities) combines the statistics of all tokens once at the end of
the forward pass and recomputes each chunk's logits in the backward pass. Every rank takes the
same chunks of tokens (sized by the widest shard), so the collectives match. Under
``torch.compile`` the entry points run eagerly (``torch.compiler.disable``: a graph break).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.distributed as dist

from unilosses.backends.linear_generic import (
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
from unilosses.rules import is_zero

__all__ = ["VocabShard", "vocab_shard"]


class VocabShard(NamedTuple):
    """This rank's block of the vocabulary, from :func:`vocab_shard`."""

    group: Any  #: the torch.distributed ProcessGroup
    start: int  #: this rank's first row in the whole vocabulary
    n_classes: int  #: V, the whole vocabulary
    widest: int  #: the most rows any rank holds: every rank takes chunks of tokens sized by it

    @torch.compiler.disable
    def lookup(self, table: Any, labels: Any) -> Any:
        """``table[labels]`` (of any shape) where ``table`` is this rank's block of a (V,) table
        (the class weights) and ``labels`` index the whole vocabulary: one all-reduce."""
        local, mine = _local_labels(labels, self.start, table.shape[0])
        out = torch.where(mine, table[local], torch.zeros((), dtype=table.dtype, device=table.device))
        dist.all_reduce(out, group=self.group)
        return out

    @torch.compiler.disable
    def linear_cross_entropy(self, h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions) -> Any:
        """:meth:`unilosses.backends.generic.Backend.linear_cross_entropy` on this rank's block:
        ``h`` (N, D) and ``labels`` (N,) (in the whole vocabulary) the same on every rank, ``w``
        (rows, D), ``b`` and ``cw`` (rows,) this rank's blocks; the per-token values of the whole
        vocabulary (with more outputs, (N, k): the columns of
        :func:`~unilosses.backends.linear_generic.sweep_outputs`)."""
        if cw is not None and cw.requires_grad and torch.is_grad_enabled():
            raise ValueError("class_weight: linear_cross_entropy does not differentiate class weights; pass a constant")
        needs = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in (h, w, b))
        if not needs:
            return _columns(_sweep(h, w, b, labels, cw, o, self)[0], o)
        if tw is not None:
            return _GradInForward.apply(h, w, b, labels, cw, tw, o, self)
        return _Recompute.apply(h, w, b, labels, cw, o, self)


@torch.compiler.disable
def vocab_shard(process_group: Any, vocab_start: Any, weight: Any) -> VocabShard:
    """This rank's :class:`VocabShard` of ``weight`` (rows, D) in ``process_group`` (True: the
    default group). ``vocab_start`` None: every rank holds ``rows`` rows, rank ``r`` those from
    ``r * rows`` (no communication). An integer: this rank's first row, the shards of any sizes;
    one all-gather of every rank's (start, rows) checks that they tile the vocabulary (a host
    synchronisation)."""
    if not dist.is_available() or not dist.is_initialized():
        raise ValueError("process_group: torch.distributed is not initialised (call init_process_group first)")
    group = dist.group.WORLD if process_group is True else process_group
    rank = dist.get_rank(group)
    if rank < 0:
        raise ValueError("process_group: this process is not a member of the group")
    rows, world = int(weight.shape[0]), dist.get_world_size(group)
    if vocab_start is None:
        return VocabShard(group, rank * rows, world * rows, rows)
    mine = torch.tensor([vocab_start, rows], dtype=torch.int64, device=weight.device)
    every = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(every, mine, group=group)
    bounds = sorted((int(s), int(s) + int(n)) for s, n in (t.tolist() for t in every))
    if bounds[0][0] != 0 or any(a[1] != b[0] for a, b in zip(bounds, bounds[1:])):
        raise ValueError(
            f"vocab_start: the ranks' shards [start, start + rows) must tile the vocabulary from 0 without "
            f"gaps or overlaps, got {bounds}"
        )
    return VocabShard(group, int(vocab_start), bounds[-1][1], max(b - a for a, b in bounds))


def _local_labels(labels: Any, start: int, rows: int) -> tuple[Any, Any]:
    """(labels as rows of this block, 0 where off it; the mask of those on it)."""
    local = labels - start
    mine = (local >= 0) & (local < rows)
    return torch.where(mine, local, torch.zeros_like(local)), mine


class _Stats(NamedTuple):
    """Per-token statistics (N,) of one rank's block of logits ``z``, relative to the block's
    logsumexp ``l``; None where the options do not need them."""

    lse: Any  #: ``l = logsumexp(z)`` over the block
    label: Any  #: ``z_y - l`` where the label is in the block (else anything: masked)
    uniform: Any  #: ``sum_c w_c (z_c - l)`` (label smoothing)
    entropy: Any  #: ``sum_c p_c (z_c - l)`` with ``p = softmax(z)`` over the block
    label_weight: Any  #: ``w_y`` where the label is in the block
    #: with ``o.accuracy``: the block's largest logit ``u`` (before the soft cap and temperature)
    peak: Any = None
    #: with ``o.accuracy``: 1.0 where the block's first largest logit is the label's, 2.0 where the
    #: whole block lies before the label (lower indices), else 0.0 (:func:`_first`)
    first: Any = None


class _Whole(NamedTuple):
    """Per-token results over the whole vocabulary (N,), the same on every rank."""

    values: Any
    lse: Any
    entropy: Any
    label_weight: Any
    correct: Any = None  #: with ``o.accuracy``: 1.0 where the whole vocabulary's argmax is the label, else 0.0


def _columns(whole: _Whole, o: LinearOptions) -> Any:
    """The per-token outputs of :func:`~unilosses.backends.linear_generic.sweep_outputs`: the values,
    then the entropy or the logsumexp, then the token accuracy, as the options ask."""
    r = SweepResult(whole.values, whole.lse, None, None, None, whole.entropy, whole.correct)
    return sweep_outputs(torch.stack, r, o)


def _logits(hc: Any, wt: Any, b: Any, o: LinearOptions, u: Any, t: Any, peak: bool = False) -> tuple[Any, Any, Any]:
    """``(z, t, top)``: the chunk's logits of this block written into ``u`` (float32), soft-capped and
    tempered in place (``linear_generic``'s ``soft_cap`` and ``temper``), the soft cap's ``tanh``
    in ``t`` (None without one), and with ``peak`` each token's largest logit and the first row that
    holds it before the soft cap (``torch.max``: the first of equal ones, as ``hits``' argmax), else
    None; 16-bit inputs multiply in their dtype."""
    if hc.dtype == u.dtype:
        torch.mm(hc, wt, out=u) if b is None else torch.addmm(b, hc, wt, out=u)
    else:
        u.copy_(hc @ wt if b is None else torch.addmm(b, hc, wt))
    top = u.max(1) if peak else None
    if o.softcap is not None:  # z = cap * tanh(u / cap)
        t = torch.div(u, o.softcap, out=t).tanh_()
        torch.mul(t, o.softcap, out=u)
    else:
        t = None
    if o.temperature != 1.0:
        u.div_(o.temperature)
    return u, t, top


def _first(top: Any, labels: Any, local: Any, mine: Any, start: int, rows: int) -> Any:
    """:class:`_Stats`' ``first`` from ``top`` (the block's largest logits and their first rows,
    :func:`_logits`) and the chunk's labels (whole-vocabulary, and as this block's rows)."""
    one = torch.ones((), dtype=top.values.dtype, device=labels.device)
    hit = torch.where(mine & (top.indices == local), one, torch.zeros_like(one))
    return torch.where(labels >= start + rows, 2.0 * one, hit)


def _local_stats(z: Any, local: Any, cw: Any, o: LinearOptions, scratch: Any, peak: Any = None,
                 first: Any = None) -> _Stats:
    """The block's :class:`_Stats` of the chunk's logits ``z``, which become the block's
    log-softmax ``z - l`` in place (``scratch``: a block of the same shape; ``peak`` and ``first``,
    with ``o.accuracy``, passed through)."""
    top = z.amax(1, keepdim=True)
    s = torch.sub(z, top, out=scratch).exp_().sum(1)
    lse = top[:, 0] + s.log()
    zs = z.sub_(lse[:, None])
    label = zs.gather(1, local[:, None])[:, 0]
    uniform = None
    if not is_zero(o.label_smoothing):
        uniform = zs.sum(1) if cw is None else zs @ cw
    entropy = None
    if o.entropy:  # sum_c p_c (z_c - l): scratch holds p_c s
        entropy = torch.bmm(scratch[:, None, :], zs[:, :, None])[:, 0, 0] / s
    return _Stats(lse, label, uniform, entropy, None if cw is None else cw[local], peak, first)


def _combine(s: _Stats, mine: Any, block_sum: Any, weight_sum: Any, o: LinearOptions, shard: VocabShard) -> _Whole:
    """The whole vocabulary's per-token results from every rank's :class:`_Stats`: two
    all-reduces, of (n,) (with ``o.accuracy`` (n, 2): the blocks' largest logits beside) and of
    (n, k) with k <= 5 (``block_sum``, ``weight_sum``: this block's and the whole vocabulary's
    class-weight sums).

    Token accuracy: with ``P`` the largest logit of the whole vocabulary, the summed column is
    ``first`` where the block's largest logit equals ``P``, else 0. The label's block gives 1 where
    its first largest logit is the label's and equals ``P``; each block before the label that
    reaches ``P`` gives 2, as its row comes first. So the sum is 1 exactly where the label holds
    the whole vocabulary's first largest logit: ``argmax`` over the whole logits, ties to the
    lowest index in any order of the ranks."""
    if s.peak is None:
        top = s.lse.clone()
        dist.all_reduce(top, op=dist.ReduceOp.MAX, group=shard.group)
    else:
        both = torch.stack([s.lse, s.peak], 1)
        dist.all_reduce(both, op=dist.ReduceOp.MAX, group=shard.group)
        top, peak = both.unbind(1)
    d = s.lse - top
    e = d.exp()
    zero = torch.zeros((), dtype=d.dtype, device=d.device)
    cols = [e, torch.where(mine, s.label + d, zero)]  # exp(l_r - M), z_y - M
    if s.uniform is not None:
        cols.append(s.uniform + block_sum * d)  # sum_c w_c (z_c - M) over the block
    if s.entropy is not None:
        cols.append(e * (s.entropy + d))  # exp(l_r - M) sum_c p_c (z_c - M) over the block
    if s.label_weight is not None:
        cols.append(torch.where(mine, s.label_weight, zero))
    if s.peak is not None:
        cols.append(torch.where(s.peak == peak, s.first, zero))
    total = torch.stack(cols, 1)
    dist.all_reduce(total, group=shard.group)
    summed = iter(total.unbind(1))
    e, label = next(summed), next(summed)
    smooth, ent, w_y, hits = (None if x is None else next(summed)
                              for x in (s.uniform, s.entropy, s.label_weight, s.peak))
    log_s = e.log()
    lse = top + log_s

    def uniform() -> Any:  # (1 / V) sum_c w_c (lse - z_c)
        return (weight_sum * log_s - smooth) / shard.n_classes

    values = token_values(log_s - label, lse, w_y, o, uniform)
    entropy = None if ent is None else log_s - ent / e  # lse - sum_c p_c z_c
    correct = None if hits is None else (hits == 1.0).to(d.dtype)
    return _Whole(values, lse, entropy, w_y, correct)


def _gradient(
    log_p: Any, t: Any, local: Any, mine: Any, cw: Any, weight_sum: Any, n_classes: int, whole: _Whole,
    o: LinearOptions, folded: Any, scratch: Any,
) -> Any:
    """``G = d value / d u`` (n, rows) on this block, in place of ``log_p``, the chunk's
    log-probabilities over the whole vocabulary (``z - lse``; ``t``: the soft cap's ``tanh``, also
    overwritten): ``linear_generic``'s per-token terms with the whole vocabulary's size
    ``n_classes``, class-weight sum and label weights (``whole``), the label's one-hot only where the
    label is in this block. ``folded``: the cotangents ``(a, ae)`` of the values and of the
    entropies, folded in (:func:`~unilosses.backends.linear_generic.fold_cotangents`, in place, into
    ``scratch``); with ``o.lse``, ``(a, al)``, the values' and the logsumexps'
    (:func:`~unilosses.backends.linear_generic.fold_lse_cotangents`: ``a G + al p``, in place)."""
    if folded is not None and o.lse:  # p (a coef + al) - a (1 - e) w_y onehot - a (e / V) w
        a, al = folded
        g = log_p.exp_()
        hit = label_coefficient(whole.label_weight, o)
        coef = softmax_coefficient(whole.lse, weight_sum, n_classes, o, label=hit)
        g.mul_((a * coef + al)[:, None])
        g.scatter_add_(1, local[:, None], torch.where(mine, -(a * hit), torch.zeros_like(a))[:, None])
        smooth = uniform_gradient(cw, n_classes, o)
        if isinstance(smooth, float):
            g.sub_(a[:, None] * smooth)
        elif smooth is not None:
            g.addr_(a, smooth.to(g.dtype), alpha=-1.0)
    elif folded is None:
        g = log_p.exp_()
        hit = label_coefficient(whole.label_weight, o)
        coef = softmax_coefficient(whole.lse, weight_sum, n_classes, o, label=hit)
        if not isinstance(coef, float):
            g.mul_(coef[:, None])
        elif coef != 1.0:
            g.mul_(coef)
        hit = torch.full_like(whole.lse, hit) if isinstance(hit, float) else hit
        g.scatter_add_(1, local[:, None], torch.where(mine, -hit, torch.zeros_like(hit))[:, None])
        smooth = uniform_gradient(cw, n_classes, o)
        if smooth is not None:
            g.sub_(smooth)
    else:  # a (p - onehot) - ae p (log p + H): the entropy comes without smoothing, z-loss or class weights
        a, ae = folded
        g = torch.exp(log_p, out=scratch)
        g.mul_(log_p.add_(whole.entropy[:, None]).mul_(-ae[:, None]).add_(a[:, None]))
        g.scatter_add_(1, local[:, None], torch.where(mine, -a, torch.zeros_like(a))[:, None])
    if t is not None:  # soft_cap_slope: 1 - t^2
        g.mul_(t.mul_(t).neg_().add_(1.0))
    if o.temperature != 1.0:  # temper
        g.div_(o.temperature)
    return g


def _cat(parts: list[Any], kind: Any) -> Any:
    """One NamedTuple of ``kind`` from per-chunk ones: each field concatenated (None stays None)."""
    return kind(*(None if f[0] is None else torch.cat(f) for f in zip(*parts)))


def _sweep(
    h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions, shard: VocabShard, a: Any = None,
    whole: Any = None, ae: Any = None,
) -> tuple[_Whole, Any, Any, Any]:
    """One pass over the chunks of tokens on this rank's block: ``(whole, dh, dW, db)``.

    The arguments as in the ``_sweep`` contract of :mod:`unilosses.backends.linear_generic`, with
    ``whole`` (a :class:`_Whole` of an earlier pass over the same inputs) in place of its ``lse``
    and ``entropy``. Without ``a``: the statistics of every chunk, combined once at the end. With
    ``a`` and no ``whole``: each chunk's statistics combined at once, then its gradient. With
    ``whole``: the gradients only, and no collective but the class weights' sum. ``dh`` (N, D) is
    this block's part of ``G W``, to be summed over the ranks; ``dW`` and ``db`` this block's."""
    f32 = torch.float32 if h.dtype in (torch.float16, torch.bfloat16) else h.dtype
    n_tokens, rows = h.shape[0], w.shape[0]
    local, mine = _local_labels(labels, shard.start, rows)
    block_sum = rows if cw is None else cw.sum()
    weight_sum: Any = shard.n_classes
    if cw is not None and not is_zero(o.label_smoothing):  # the whole vocabulary's, where the smoothing uses it
        weight_sum = block_sum.clone()
        dist.all_reduce(weight_sum, group=shard.group)
    grad = a is not None
    dh: Any = torch.empty(h.shape, dtype=f32, device=h.device) if grad else None
    acc = w.dtype if o.accum_dtype == "weight" else f32
    dw: Any = torch.zeros(w.shape, dtype=acc, device=h.device) if grad else None
    db = torch.zeros(rows, dtype=acc, device=h.device) if grad and b is not None else None
    if n_tokens == 0:
        empty = torch.zeros(0, dtype=f32, device=h.device)
        return _Whole(empty, empty, empty if o.entropy else None, None, empty if o.accuracy else None), dh, dw, db
    wt, bc = w.t(), None if b is None else b.to(h.dtype)
    n = tokens_per_chunk(n_tokens, shard.widest, o.chunk_size)
    # the (n, rows) float32 blocks, reused by every chunk: logits, scratch, the soft cap's tanh
    blocks = [torch.empty((n, rows), dtype=f32, device=h.device) for _ in range(2 + (o.softcap is not None))]
    parts: list[Any] = []
    peak = o.accuracy and whole is None  # token accuracy: each block's largest logits, in a first pass only
    for start in range(0, n_tokens, n):
        sl = slice(start, min(start + n, n_tokens))
        u, scratch, t = (x[: sl.stop - start] for x in (*blocks[:2], blocks[-1]))
        z, t, top = _logits(h[sl], wt, bc, o, u, t, peak)
        if whole is not None:
            chunk = _Whole(*(None if x is None else x[sl] for x in whole))
            log_p = z.sub_(chunk.lse[:, None])
        else:
            first = None if top is None else _first(top, labels[sl], local[sl], mine[sl], shard.start, rows)
            # z: the block's log-softmax
            s = _local_stats(z, local[sl], cw, o, scratch, None if top is None else top.values, first)
            if not grad:
                parts.append(s)
                continue
            chunk = _combine(s, mine[sl], block_sum, weight_sum, o, shard)
            parts.append(chunk)
            log_p = z.add_((s.lse - chunk.lse)[:, None])
        folded = None if ae is None else (a[sl], ae[sl])
        g = _gradient(log_p, t, local[sl], mine[sl], cw, weight_sum, shard.n_classes, chunk, o, folded, scratch)
        gm = g if g.dtype == w.dtype else g.to(w.dtype)
        torch.mm(gm, w, out=dh[sl]) if gm.dtype == f32 else dh[sl].copy_(gm @ w)
        hc = h[sl] if folded else h[sl] * a[sl, None].to(h.dtype)  # folded: g holds the cotangents
        if dw.dtype == gm.dtype:
            dw.addmm_(gm.t(), hc)
        else:  # 16-bit weights, float32 accumulation: the float32 block itself
            dw.addmm_(g.t(), hc.to(f32))
        if db is not None:
            db += (g.sum(0) if folded else a[sl].to(f32) @ g).to(db.dtype)
        del g, gm
    if whole is None:
        whole = _cat(parts, _Whole) if grad else _combine(_cat(parts, _Stats), mine, block_sum, weight_sum, o, shard)
    return whole, dh, dw, db


class _GradInForward(torch.autograd.Function):
    """A reduced loss: :class:`unilosses.backends.linear_torch`'s gradient in the forward pass, on this block."""

    @staticmethod
    def forward(ctx: Any, h: Any, w: Any, b: Any, labels: Any, cw: Any, tw: Any, o: LinearOptions,
                shard: VocabShard) -> Any:
        whole, dh, dw, db = _sweep(h, w, b, labels, cw, o, shard, a=tw)
        ctx.save_for_backward(dh, tw)
        ctx.dw, ctx.db, ctx.group = dw, db, shard.group  # dW and db: scaled in place and handed over
        ctx.dtypes = (h.dtype, w.dtype, None if b is None else b.dtype)
        return _columns(whole, o)  # an accuracy column: not differentiated

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        dh, tw = ctx.saved_tensors
        dw, db = ctx.dw, ctx.db
        if dw is None:
            raise RuntimeError(
                "linear_cross_entropy: a second backward through the same graph (retain_graph=True) is not "
                "supported with a reduced loss; compute the loss again, or use reduction='none'"
            )
        ctx.dw = ctx.db = None
        g = (g if g.ndim == 1 else g[:, 0]).to(tw.dtype)  # the values' cotangent
        # the cotangent is c * tw (a reduced loss): c from a dot product, 0 for an empty / all-ignored batch
        norm = tw @ tw
        c = (g @ tw) / torch.where(norm == 0, torch.ones_like(norm), norm)
        hd, wd, bd = ctx.dtypes
        gh = None
        if ctx.needs_input_grad[0]:
            dist.all_reduce(dh, group=ctx.group)  # G W: the sum of every block's part
            gh = dh.mul_(g[:, None].to(dh.dtype)).to(hd)
        scale = c.to(dw.dtype)
        gw = dw.mul_(scale).to(wd) if ctx.needs_input_grad[1] else None
        gb = db.mul_(scale).to(bd) if db is not None and ctx.needs_input_grad[2] else None
        return gh, gw, gb, None, None, None, None, None


class _Recompute(torch.autograd.Function):
    """Per-token values (any cotangent): the logits recomputed in the backward pass, on this block."""

    @staticmethod
    def forward(ctx: Any, h: Any, w: Any, b: Any, labels: Any, cw: Any, o: LinearOptions, shard: VocabShard) -> Any:
        whole, _, _, _ = _sweep(h, w, b, labels, cw, o, shard)
        ctx.save_for_backward(h, w, b, labels, cw, whole.lse, whole.entropy, whole.label_weight)
        ctx.options, ctx.shard = o, shard
        return _columns(whole, o)  # an accuracy column: not differentiated

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Any) -> Any:
        h, w, b, labels, cw, lse, ent, w_y = ctx.saved_tensors
        g = g.to(lse.dtype)
        whole = _Whole(None, lse, ent, w_y)
        o, shard = ctx.options, ctx.shard
        if not second_output(o):
            g = g if g.ndim == 1 else g[:, 0]  # the values' cotangent
            _, dh, dw, db = _sweep(h, w, b, labels, cw, o, shard, a=g, whole=whole)
            dh.mul_(g[:, None])
        else:  # the values' and the entropies' (logsumexps') cotangents, folded into each chunk's gradient
            _, dh, dw, db = _sweep(h, w, b, labels, cw, o, shard, a=g[:, 0], whole=whole, ae=g[:, 1])
        gh = None
        if ctx.needs_input_grad[0]:
            dist.all_reduce(dh, group=shard.group)  # G W: the sum of every block's part
            gh = dh.to(h.dtype)
        gw = dw.to(w.dtype) if ctx.needs_input_grad[1] else None
        gb = db.to(b.dtype) if db is not None and ctx.needs_input_grad[2] else None
        return gh, gw, gb, None, None, None, None
