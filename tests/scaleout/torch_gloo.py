"""torch.distributed over 2 CPU processes (gloo): all_reduce of LossStats, and DDP's gradient.

Run as ``python tests/scaleout/torch_gloo.py OUT.json [ddp|fsdp]`` (tests/test_distributed.py does).
Rank r holds rows SHARDS_2[r] of the global batch (13 and 27 rows: uneven). The
gradient check wraps the model in DDP, or in FSDP2's ``fully_shard`` with
``fsdp`` (slower to import); both average gradients over ranks.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

import dist_data as dd
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import unilosses as ul

WORLD = len(dd.SHARDS_2)


def sparse_stats(d: dict[str, torch.Tensor], logits: torch.Tensor) -> ul.LossStats:
    return ul.sparse_categorical_crossentropy(
        d["labels"], logits, class_weight=d["class_weight"], sample_weight=d["sample_weight"],
        reduction="stats", **dd.SPARSE_KW,
    )


def all_reduce_stats(s: ul.LossStats) -> ul.LossStats:
    """One collective for the three sums (the sums of every rank's LossStats)."""
    t = torch.stack(tuple(s))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return ul.LossStats(*t.unbind())


def worker(rank: int, init: str, out: str, wrapper: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    torch.manual_seed(0)
    data = {k: torch.as_tensor(v) for k, v in dd.inputs().items()}
    lo, hi = dd.bounds(dd.SHARDS_2)[rank]
    local = {k: (v if k in ("w", "class_weight") else v[lo:hi]) for k, v in data.items()}

    # 1. the global values from the per-rank stats
    s = all_reduce_stats(sparse_stats(local, local["logits"]))
    b = all_reduce_stats(
        ul.binary_crossentropy(local["targets"], local["bce_logits"], sample_weight=local["sample_weight"],
                               reduction="stats", **dd.BCE_KW)
    )
    b_norm = ul.binary_crossentropy(local["targets"], local["bce_logits"], sample_weight=local["sample_weight"],
                                    reduction="sum", normalizer=dd.N, **dd.BCE_KW)
    dist.all_reduce(b_norm)
    results: dict[str, Any] = {
        "sparse/sum": s.total,
        "sparse/sum_over_batch_size": s.total / s.count,
        "sparse/mean_with_sample_weight": s.total / s.weight_sum,
        "sparse/count": s.count,
        "bce/sum": b.total,
        "bce/sum_over_batch_size": b.total / b.count,
        "bce/mean_with_sample_weight": b.total / b.weight_sum,
        "bce/normalizer": b_norm,
    }

    # 2. DDP and FSDP average gradients over ranks: scale the local total by world_size / global count
    model = torch.nn.Linear(dd.F, dd.K, bias=False)
    with torch.no_grad():
        model.weight.copy_(data["w"].T)
    if wrapper == "fsdp":
        from torch.distributed.fsdp import fully_shard

        wrapped = fully_shard(model)
    else:
        wrapped = torch.nn.parallel.DistributedDataParallel(model)
    stats = sparse_stats(local, wrapped(local["x"]))
    count = stats.count.detach().clone()
    dist.all_reduce(count)
    (stats.total * dist.get_world_size() / count).backward()
    grad = model.weight.grad
    if hasattr(grad, "full_tensor"):  # FSDP2: a DTensor sharded over ranks
        grad = grad.full_tensor()
    results[f"{wrapper}_grad"] = grad.T

    # 3. per-rank means under DDP, as torch's own loss gives them: DDP averages the gradients over
    # ranks, so a mean reduction needs no scaling (unilosses divides by the replicas only under
    # tf.distribute, whose strategies sum them); "sum" sums per rank likewise
    if wrapper == "ddp":
        x, y = local["x"][:, :3], local["targets"][:, :1]
        for name, loss_fn in (
            ("torch/mean", torch.nn.MSELoss()),
            ("unilosses/object mean", ul.MeanSquaredError()),
            ("torch/sum", torch.nn.MSELoss(reduction="sum")),
            ("unilosses/object sum", ul.MeanSquaredError(reduction="sum")),
        ):
            lin = torch.nn.Linear(3, 1, bias=False)
            with torch.no_grad():
                lin.weight.fill_(1.0)
            ddp = torch.nn.parallel.DistributedDataParallel(lin)
            loss_fn(ddp(x), y).backward()
            results[f"replica/{name}"] = lin.weight.grad.ravel()

    # 4. the single-process reference, on rank 0 only
    if rank == 0:
        ref = torch.nn.Linear(dd.F, dd.K, bias=False)
        with torch.no_grad():
            ref.weight.copy_(data["w"].T)
        ul.sparse_categorical_crossentropy(
            data["labels"], ref(data["x"]), class_weight=data["class_weight"],
            sample_weight=data["sample_weight"], reduction="sum_over_batch_size", **dd.SPARSE_KW,
        ).backward()
        results["single_grad"] = ref.weight.grad.T
        results["shard_rows"] = [hi - lo for lo, hi in dd.bounds(dd.SHARDS_2)]
        sys.argv[1:] = [out]
        dd.write_results({k: v.detach().numpy() if torch.is_tensor(v) else v for k, v in results.items()})
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        wrapper = sys.argv[2] if len(sys.argv) > 2 else "ddp"
        mp.spawn(worker, args=(init, sys.argv[1], wrapper), nprocs=WORLD, join=True)
