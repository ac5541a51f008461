"""Binary cross-entropy over 1e9 predictions with Dask: out of core, on a few cores.

The predictions (logits) and binary targets are generated lazily, chunk by
chunk, from a seeded random generator: nothing of the 1e9 x 2 values (8 GB in
float32) ever exists at once. ``unilosses.binary_crossentropy`` builds a lazy
graph (no compute during the call; counted with a dask callback); one compute
on the threaded scheduler streams the chunks through it.

Reports wall time (graph building and compute), the result, and the peak
resident memory of the process (``resource.getrusage``)::

    python benchmarks/dask_bce.py                # 1e9 predictions, 2 threads
    python benchmarks/dask_bce.py --quick        # 1e7, and checks against NumPy
    python benchmarks/dask_bce.py --workers 4 --chunk 2e6 --tune-malloc --json out.json

Chunks of 1e6 predictions (4 MB arrays) keep NumPy's temporaries inside glibc's
heap; with 1e7 (40 MB arrays, above glibc's largest mmap threshold) every
temporary is mapped and page-faulted afresh. Even with 1e6, glibc trims the heap
after each chunk and faults the pages back in (a third of the CPU time goes to
the kernel): ``--tune-malloc`` stops that (``mallopt``, the same as starting
Python with ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824``);
the default measures glibc's defaults.

The same graph runs on a dask.distributed cluster: with a ``Client`` created
first, ``compute`` sends it to the workers (not measured here: ``distributed``
is not a dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.callbacks import Callback

import unilosses as ul

OUTPUTS = 10  # predictions per sample (a multi-label head): y_pred has shape (n / 10, 10)


class _Counter(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _start(self, dsk: Any) -> None:
        self.count += 1


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def tune_malloc() -> bool:
    """glibc: keep freed chunk-sized temporaries in the heap instead of unmapping / trimming them."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20)) and bool(libc.mallopt(m_trim_threshold, 2**30))
    except (OSError, AttributeError):  # not glibc
        return False


def make_inputs(n: int, chunk: int, seed: int) -> tuple[Any, Any]:
    """Lazy (targets, logits) of n predictions in chunks of ``chunk`` predictions."""
    rows, rows_per_chunk = n // OUTPUTS, max(1, chunk // OUTPUTS)
    shape, chunks = (rows, OUTPUTS), (rows_per_chunk, OUTPUTS)
    rng = da.random.default_rng(seed)
    logits = rng.standard_normal(shape, dtype=np.float32, chunks=chunks) * 2
    targets = (rng.random(shape, dtype=np.float32, chunks=chunks) < 0.5).astype(np.float32)
    return targets, logits


def loss(targets: Any, logits: Any) -> Any:
    return ul.binary_crossentropy(targets, logits, from_logits=True, reduction="sum_over_batch_size")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, default=1e9, help="number of predictions (default 1e9)")
    p.add_argument("--chunk", type=float, default=1e6, help="predictions per chunk (default 1e6)")
    p.add_argument("--workers", type=int, default=2, help="threads of the threaded scheduler (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="1e7 predictions in chunks of 1e5, checked against NumPy")
    p.add_argument("--tune-malloc", action="store_true", help="glibc: no heap trimming between chunks")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.chunk = 1e7, 1e5
    n, chunk = int(args.n), int(args.chunk)
    if n % OUTPUTS:
        p.error(f"--n: expected a multiple of {OUTPUTS}, got {n}")

    tuned = tune_malloc() if args.tune_malloc else False
    base_rss = _rss_mb()
    t0 = time.perf_counter()
    targets, logits = make_inputs(n, chunk, args.seed)
    with _Counter() as counter:
        value = loss(targets, logits)  # lazy: builds the graph only
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    with dask.config.set(scheduler="threads", num_workers=args.workers):
        result = float(value.compute())
    t2 = time.perf_counter()
    r2 = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, Any] = {
        "predictions": n,
        "chunk": chunk,
        "chunks": int(logits.numblocks[0]),
        "workers": args.workers,
        "scheduler": "threads",
        "malloc_tuned": tuned,
        "value": result,
        "computes_during_call": counter.count,
        "graph_s": round(t1 - t0, 4),
        "compute_s": round(t2 - t1, 3),
        "peak_rss_mb": round(_rss_mb(), 1),
        "compute_user_s": round(r2.ru_utime - r1.ru_utime, 2),  # CPU time of all threads
        "compute_sys_s": round(r2.ru_stime - r1.ru_stime, 2),
        "minor_faults": r2.ru_minflt - r1.ru_minflt,
        "rss_before_mb": round(base_rss, 1),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "dask": dask.__version__},
    }
    if args.quick:  # the same inputs, materialized, through NumPy
        y, z = dask.compute(targets, logits, scheduler="threads")
        out["numpy_reference"] = float(loss(y, z))
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
