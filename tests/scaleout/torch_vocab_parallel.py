"""The LM head with its weight sharded over the vocabulary across gloo processes (``process_group=``).

Run as ``python tests/scaleout/torch_vocab_parallel.py OUT.json WORLD`` (tests/test_linear_vocab_parallel.py
runs it with 2 and 3 processes). Every rank holds a block of rows of the head's weight, bias and class
weights (equal blocks, and blocks of other sizes with ``vocab_start``) and computes
``linear_cross_entropy`` / ``linear_log_probs`` with ``process_group=``; beside it, on the whole
weight, the same call in one process. For each case (every option, the extra outputs
``return_z_loss`` and ``return_token_accuracy`` and ``z_loss_normalizer="tokens"`` included, float32
and bfloat16, each reduction; gradients with respect to hidden, the weight block and the bias block
under a random cotangent of every differentiable output) the largest difference, relative to the
reference's largest magnitude, goes in the JSON that rank 0 writes, with every collective's kind and
size and each case's number of collectives: torch.distributed's collectives are wrapped to record
them. Also: token accuracy where the largest logit is tied within and across blocks (blocks in rank
order and in reverse), the same under ``torch.compile``, and a ``DTensor`` weight sharded on dim 0,
passed as its local block with its mesh's group.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import unilosses as ul

B, T, D = 3, 13, 16  # 39 tokens of width 16
CHUNK = 8  # tokens per chunk: five chunks
IGNORE = -100
#: the whole vocabulary's rows per rank: equal blocks (1 + 2 + 3 + 4 divides 60 * k), and blocks of other sizes
EVEN = {2: (30, 30), 3: (20, 20, 20)}
UNEVEN = {2: (23, 37), 3: (11, 31, 18)}
_KINDS = ("all_reduce", "all_gather", "all_gather_into_tensor", "broadcast", "reduce_scatter",
          "reduce_scatter_tensor", "all_to_all", "all_to_all_single", "gather", "scatter", "send", "recv")


def _record(log: list[tuple[str, int]]) -> None:
    """Wrap torch.distributed's collectives: each call appends (kind, elements moved)."""
    for kind in _KINDS:
        fn = getattr(dist, kind, None)
        if fn is None:
            continue

        def wrapped(*args: Any, _fn: Callable[..., Any] = fn, _kind: str = kind, **kw: Any) -> Any:
            sizes = [x.numel() for a in (*args, *kw.values()) for x in (a if isinstance(a, list) else [a])
                     if torch.is_tensor(x)]
            log.append((_kind, max(sizes, default=0)))
            return _fn(*args, **kw)

        setattr(dist, kind, wrapped)


def _inputs(rows: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Random inputs over the whole vocabulary; every third token's label is its largest logit's
    (in float32), so that token accuracy is far from 0."""
    v = sum(rows)
    rng = np.random.default_rng(sum(rows) * 7 + len(rows))
    y = rng.integers(0, v, (B, T))
    h = rng.standard_normal((B, T, D)).astype(np.float32)
    w = (rng.standard_normal((v, D)) * 0.5).astype(np.float32)
    b = rng.standard_normal(v).astype(np.float32)
    y[:, 1::3] = np.argmax(h @ w.T + b, axis=-1)[:, 1::3]
    y[0, ::5] = IGNORE
    y[2, :4] = IGNORE
    return {
        "y": y, "h": h, "w": w, "b": b,
        "cw": rng.uniform(0.5, 2.0, v).astype(np.float32), "sw": rng.uniform(0.0, 2.0, (B, T)).astype(np.float32),
        "r": rng.standard_normal((B, T)).astype(np.float32), "r2": rng.standard_normal((B, T)).astype(np.float32),
        "r3": rng.standard_normal((B, T)).astype(np.float32),
    }


#: linear_cross_entropy's options, one case each and all together
CE_CASES: dict[str, dict[str, Any]] = {
    "plain": {},
    "ignore_index": {"ignore_index": IGNORE},
    "label_smoothing": {"ignore_index": IGNORE, "label_smoothing": 0.1},
    "class_weight": {"ignore_index": IGNORE, "class_weight": "cw"},
    "z_loss": {"ignore_index": IGNORE, "z_loss": 1e-2},
    "softcap": {"ignore_index": IGNORE, "softcap": 2.0},
    "all": {"ignore_index": IGNORE, "label_smoothing": 0.2, "class_weight": "cw", "z_loss": 1e-2, "softcap": 3.0},
    "return_z_loss": {"ignore_index": IGNORE, "z_loss": 1e-2, "return_z_loss": True},
    "return_token_accuracy": {"ignore_index": IGNORE, "return_token_accuracy": True},
    "z_loss_tokens": {"ignore_index": IGNORE, "class_weight": "cw", "z_loss": 1e-2, "z_loss_normalizer": "tokens"},
    "outputs": {"ignore_index": IGNORE, "label_smoothing": 0.2, "class_weight": "cw", "z_loss": 1e-2, "softcap": 3.0,
                "return_z_loss": True, "return_token_accuracy": True, "z_loss_normalizer": "tokens"},
}
#: the cases run with every reduction (the others with "none" and "sum_over_batch_size")
EVERY_REDUCTION = ("all", "return_token_accuracy", "z_loss_tokens", "outputs")
REDUCTIONS: dict[str, dict[str, Any]] = {
    "none": {"reduction": "none"},
    "sum": {"reduction": "sum"},
    "sum_over_batch_size": {"reduction": "sum_over_batch_size"},
    "mean_with_sample_weight": {"reduction": "mean_with_sample_weight", "sample_weight": "sw"},
}
LP_CASES: dict[str, dict[str, Any]] = {
    "plain": {},
    "temperature": {"ignore_index": IGNORE, "temperature": 0.7},
    "softcap": {"ignore_index": IGNORE, "softcap": 2.0},
    "entropy": {"ignore_index": IGNORE, "return_entropy": True},
    "all": {"ignore_index": IGNORE, "temperature": 1.3, "softcap": 3.0, "return_entropy": True},
}


def _max_rel(got: Any, ref: Any) -> float:
    got, ref = got.detach().double(), ref.detach().double()
    return float((got - ref).abs().max() / max(float(ref.abs().max()), 1e-30))


def _cotangent(outs: list[Any], d: dict[str, Any]) -> Any:
    """A random linear function of every output (the token accuracy's: no gradient to take)."""
    if outs[0].ndim == 0:
        return sum(c * o for c, o in zip((1.0, 0.7, 0.3), outs))
    return sum((o * d[k]).sum() for k, o in zip(("r", "r2", "r3"), outs))


def _run(fn: Callable[..., Any], args: list[Any], kw: dict[str, Any], data: dict[str, Any],
         cotangent: Callable[[Any], Any], no_grad: bool = False) -> list[Any]:
    """The outputs of ``fn`` and the gradients of ``cotangent(outputs)`` with respect to ``args``."""
    kw = {k: data[v] if isinstance(v, str) and v in data else v for k, v in kw.items()}
    if "ignore_index" not in kw:
        args = [torch.where(args[0] == IGNORE, 0, args[0]), *args[1:]]
    if no_grad:
        with torch.no_grad():
            out = fn(*args, **kw)
        return list(out) if isinstance(out, tuple) else [out]
    args = [args[0], *(a.detach().requires_grad_() for a in args[1:])]
    out = fn(*args, **kw)
    outs = list(out) if isinstance(out, tuple) else [out]
    grads = torch.autograd.grad(cotangent(outs), args[1:])
    return [o.detach() for o in outs] + list(grads)


def _step(y: Any, h: Any, w: Any, b: Any, cw: Any, sw: Any, **extra: Any) -> Any:
    """The loss of the ``torch.compile`` check: every option, a weighted mean."""
    kw = {**CE_CASES["all"], "class_weight": cw, "sample_weight": sw, "reduction": "mean_with_sample_weight"}
    return ul.linear_cross_entropy(y, h, w, b, **kw, chunk_size=CHUNK, **extra)


def _dtensor(rank: int, world: int) -> float:
    """A DTensor weight sharded over the vocabulary (``Shard(0)`` on a 1-D mesh): its local block and its
    mesh's group; the gradient reaches the DTensor as its ``Shard(0)`` gradient."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    d = {k: torch.as_tensor(v) for k, v in _inputs(EVEN[world]).items()}
    mesh = init_device_mesh("cpu", (world,))
    wd = distribute_tensor(d["w"], mesh, [Shard(0)]).requires_grad_()
    h = d["h"].clone().requires_grad_()
    kw = {"ignore_index": IGNORE, "label_smoothing": 0.1, "reduction": "mean"}
    ul.linear_cross_entropy(d["y"], h, wd.to_local(), process_group=mesh.get_group(), **kw).backward()
    assert wd.grad.placements == (Shard(0),), wd.grad.placements
    ref_w = d["w"].clone().requires_grad_()
    ref_h = d["h"].clone().requires_grad_()
    ul.linear_cross_entropy(d["y"], ref_h, ref_w, **kw).backward()
    lo = rank * EVEN[world][0]
    return max(_max_rel(wd.grad.to_local(), ref_w.grad[lo:lo + EVEN[world][0]]), _max_rel(h.grad, ref_h.grad))


def _ties(rank: int, world: int, layout: str, dtype: Any) -> float:
    """Token accuracy where every token's largest logit is tied: rows of 0 with a bias of 50 at the
    first row of the lowest block, at two rows of the highest block and at one row of a middle one
    (logits of exactly 50, far above the others), so the first of the largest is the lowest block's
    row; labels at each tied row and elsewhere. ``reversed``: rank r holds the block of rank
    ``world - 1 - r``, so the lowest row is on the last rank. 0.0 where every rank's accuracy per
    token is 1 exactly at the labels of that row, as one process's is; else 1.0."""
    rows = UNEVEN[world] if layout == "uneven" else EVEN[world]
    d = {k: torch.as_tensor(v) for k, v in _inputs(rows).items()}
    v = sum(rows)
    tied = [0, rows[0] + rows[1] // 2, v - 2, v - 1]
    d["w"][tied] = 0.0
    d["b"][tied] = 50.0
    others = [c for c in range(v) if c not in tied]
    y = torch.as_tensor([tied[i % 4] if i % 3 else others[i % len(others)] for i in range(B * T)]).reshape(B, T)
    y[0, 0] = IGNORE
    block = world - 1 - rank if layout == "reversed" else rank
    lo = sum(rows[:block])
    hi = lo + rows[block]
    h, w, b = (d[k].to(dtype) for k in ("h", "w", "b"))
    kw = {"ignore_index": IGNORE, "return_token_accuracy": True, "chunk_size": CHUNK}
    expected = ((y == tied[0]) & (y != IGNORE)).to(torch.float32)
    ok = True
    for mode in ("grad", "no_grad"):
        with torch.set_grad_enabled(mode == "grad"):
            hl = h.clone().requires_grad_(mode == "grad")
            got = ul.linear_cross_entropy(y, hl, w[lo:hi], b[lo:hi], process_group=True,
                                          vocab_start=lo, **kw)[1]
            ref = ul.linear_cross_entropy(y, h, w, b, **kw)[1]
        ok = ok and torch.equal(got, expected) and torch.equal(ref, expected)
    # a reduced loss: the fraction of the counted tokens whose label is the first tied row
    got = ul.linear_cross_entropy(y, h.clone().requires_grad_(), w[lo:hi], b[lo:hi], process_group=True,
                                  vocab_start=lo, reduction="mean", **kw)[1]
    ok = ok and abs(float(got) - float(expected.sum()) / (B * T - 1)) < 1e-6
    return 0.0 if ok else 1.0


def worker(rank: int, world: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    log: list[tuple[str, int]] = []
    _record(log)
    results: dict[str, Any] = {}
    largest: dict[str, int] = {}
    calls: dict[str, int] = {}  # collectives per case
    hits: dict[str, Any] = {}  # the reference's token accuracy
    for layout, rows in (("even", EVEN[world]), ("uneven", UNEVEN[world])):
        lo = sum(rows[:rank])
        hi = lo + rows[rank]
        start = {} if layout == "even" else {"vocab_start": lo}
        for dtype in (torch.float32, torch.bfloat16):
            d = {k: torch.as_tensor(v) for k, v in _inputs(rows).items()}
            for k in ("h", "w", "b"):
                d[k] = d[k].to(dtype)
            local = dict(d, w=d["w"][lo:hi], b=d["b"][lo:hi], cw=d["cw"][lo:hi])
            cases = [("ce", n, {**o, **r, "chunk_size": CHUNK}) for n, o in CE_CASES.items() for r in REDUCTIONS.values()
                     if n in EVERY_REDUCTION or r["reduction"] in ("none", "sum_over_batch_size")]
            cases += [("lp", n, {**o, "chunk_size": CHUNK}) for n, o in LP_CASES.items()]
            for fam, name, kw in cases:
                for mode in ("grad", "no_grad"):
                    if mode == "no_grad" and fam == "ce" and kw.get("reduction") != "none":
                        continue
                    key = f"{layout}/{dtype}/{fam}/{name}/{kw.get('reduction', '')}/{mode}".replace("torch.", "")
                    fn = ul.linear_cross_entropy if fam == "ce" else ul.linear_log_probs

                    def cot(outs: list[Any], d: dict[str, Any] = d) -> Any:
                        return _cotangent(outs, d)

                    args_ref = [d["y"], d["h"], d["w"], d["b"]]
                    args_loc = [local["y"], local["h"], local["w"], local["b"]]
                    ref = _run(fn, args_ref, kw, d, cot, mode == "no_grad")
                    before = len(log)
                    got = _run(fn, args_loc, {**kw, "process_group": True, **start}, local, cot, mode == "no_grad")
                    for kind, size in log[before:]:
                        largest[kind] = max(largest.get(kind, 0), size)
                    calls[key] = len(log) - before
                    if layout == "even" and dtype == torch.float32 and name == "return_token_accuracy":
                        hits[kw["reduction"] + "/" + mode] = ref[1].tolist()
                    n_out = len(ref) - (0 if mode == "no_grad" else 3)
                    diffs = [_max_rel(g, r) for g, r in zip(got[:n_out], ref[:n_out])]
                    if mode == "grad":
                        gh, gw, gb = got[n_out + 0], got[n_out + 1], got[n_out + 2]
                        rh, rw, rb = ref[n_out + 0], ref[n_out + 1], ref[n_out + 2]
                        diffs += [_max_rel(gh, rh), _max_rel(gw, rw[lo:hi]), _max_rel(gb, rb[lo:hi])]
                    results[key] = max(diffs)
            # under torch.compile: the vocabulary-parallel call runs eagerly inside the compiled function
            if dtype == torch.float32:
                compiled = torch.compile(_step, backend="aot_eager")
                step = _step
                hs, ws, bs = (x.detach().requires_grad_() for x in (d["h"], d["w"], d["b"]))
                r_loss = step(d["y"], hs, ws, bs, d["cw"], d["sw"])
                r_grads = torch.autograd.grad(r_loss, (hs, ws, bs))
                hl, wl, bl = (x.detach().requires_grad_() for x in (local["h"], local["w"], local["b"]))
                c_loss = compiled(d["y"], hl, wl, bl, local["cw"], d["sw"], process_group=True, **start)
                c_grads = torch.autograd.grad(c_loss, (hl, wl, bl))
                results[f"{layout}/compile"] = max(
                    _max_rel(c_loss, r_loss), _max_rel(c_grads[0], r_grads[0]),
                    _max_rel(c_grads[1], r_grads[1][lo:hi]), _max_rel(c_grads[2], r_grads[2][lo:hi]))
    results["even/dtensor"] = _dtensor(rank, world)
    for layout in ("even", "uneven", "reversed"):
        for dtype in (torch.float32, torch.bfloat16):
            results[f"ties/{layout}/{dtype}".replace("torch.", "")] = _ties(rank, world, layout, dtype)
    d = {k: torch.as_tensor(v) for k, v in _inputs(EVEN[world]).items()}
    rows = EVEN[world][0]
    try:  # blocks that overlap (every rank from row 0): a ValueError on every rank
        ul.linear_cross_entropy(d["y"], d["h"], d["w"][:rows], ignore_index=IGNORE, process_group=True, vocab_start=0)
    except ValueError as e:
        results["refused/overlap"] = 0.0 if "vocab_start: the ranks' shards" in str(e) else 1.0
    worst = torch.tensor([max(results.values())])
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)  # (the check's own collective, after the recording)
    per_rank = [None] * world
    dist.all_gather_object(per_rank, results)
    if rank == 0:
        merged = {k: max(r[k] for r in per_rank) for k in results}
        with open(out, "w") as f:
            json.dump({"max_rel": merged, "largest_collective": largest, "calls": calls, "hits": hits,
                       "tokens": B * T, "width": D,
                       "vocab": {layout: sum(r) for layout, r in (("even", EVEN[world]), ("uneven", UNEVEN[world]))},
                       "world": world}, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    world = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        mp.spawn(worker, args=(world, init, sys.argv[1]), nprocs=world, join=True)
