"""Peak memory in a fresh process: the measurement the memory rows of the benchmark share.

- :func:`peak_extra`: in the measuring process, the peak resident memory one call adds;
- :func:`run_child`: starts ``module.function(variant, *shape)`` in a fresh interpreter
  and reads the JSON line it prints;
- :func:`single_thread_child`: one compute thread in such a child.

The children themselves are :func:`unilosses.bench.memory.child` (torch's sparse
cross-entropy) and :func:`unilosses.bench.linear.child` (the LM head). This module imports
no other of the benchmark's: both of those build on it.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["MMAP_THRESHOLD", "peak_extra", "run_child", "single_thread_child"]


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _trim_heap() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Without it, memory freed by a warm-up call stays resident, a measured call reuses it
    without raising the resident size, and a path that allocates the same large buffers
    each call reads as cheaper than it is (JAX's unfused LM head read 262 MiB where XLA
    allocates 1,035 MiB)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def peak_extra(fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn`` once; the peak resident memory above what was resident just before
    (``VmHWM`` after resetting it through ``/proc/self/clear_refs``; ``ru_maxrss`` where
    that is not possible), as ``{"extra_bytes", "method"}``. The heap is trimmed first
    (:func:`_trim_heap`), so that memory freed by earlier calls does not hide this one's."""
    gc.collect()
    _trim_heap()
    before = _rss_kib("VmRSS")
    method = "VmHWM after clear_refs"
    try:
        with open("/proc/self/clear_refs", "w") as f:  # resets the high-water mark
            f.write("5")
    except OSError:
        import resource

        method = "ru_maxrss"
        before = max(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    fn()
    if method == "ru_maxrss":
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        peak = _rss_kib("VmHWM")
    return {"extra_bytes": (peak - before) * 1024, "method": method}


def single_thread_child(framework: str) -> None:
    """One compute thread in a memory child (JAX's comes from XLA_FLAGS, set by :func:`run_child`)."""
    if framework == "torch":
        import torch

        torch.set_num_threads(1)
    elif framework == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


#: glibc's mmap threshold in the children (bytes): fixed, so that every block from 1 MiB up is
#: mapped when allocated and unmapped when freed. With glibc's default the threshold rises to
#: the size of the largest block freed so far (up to 32 MiB), blocks below it then come from
#: the heap, and how much of the heap fragmentation keeps resident varies from run to run:
#: TensorFlow's LM head read 157 to 505 MiB in six runs of the same call, 157 MiB each time
#: with the threshold fixed. The figure is then the memory a path holds, not its heap's history.
MMAP_THRESHOLD = str(1 << 20)


def run_child(module: str, function: str, variant: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """``module.function(variant, *shape)`` in a fresh interpreter; the JSON line it prints
    (glibc's mmap threshold fixed at :data:`MMAP_THRESHOLD` unless the caller set one)."""
    code = f"from {module} import {function}; {function}({variant!r}, {', '.join(map(str, shape))})"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), TF_CPP_MIN_LOG_LEVEL="3")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    env.setdefault("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory subprocess for {variant!r} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
