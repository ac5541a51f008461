"""Peak memory in a fresh process: the measurement the memory rows of the benchmark share.

- :func:`peak_extra`: in the measuring process, the peak resident memory one call adds;
- :func:`run_child`: starts ``module.function(variant, *shape)`` in a fresh interpreter
  and reads the JSON line it prints;
- :class:`SharedChild`: the same calls, one after another in one interpreter (``--quick``'s
  smoke run, where an interpreter per call would cost more than every call together);
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

__all__ = ["MMAP_THRESHOLD", "SharedChild", "peak_extra", "run_child", "serve", "single_thread_child"]


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


def _child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), TF_CPP_MIN_LOG_LEVEL="3")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    env.setdefault("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD)
    return env


def run_child(module: str, function: str, variant: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """``module.function(variant, *shape)`` in a fresh interpreter; the JSON line it prints
    (glibc's mmap threshold fixed at :data:`MMAP_THRESHOLD` unless the caller set one)."""
    code = f"from {module} import {function}; {function}({variant!r}, {', '.join(map(str, shape))})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_child_env(), check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory subprocess for {variant!r} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


#: starts the line that carries a result from :func:`serve` (anything else on its stdout is not one)
_RESULT = "unilosses-bench-result "


def serve() -> None:
    """In :class:`SharedChild`'s interpreter: for each JSON request ``[module, function, variant,
    shape]`` read from stdin, the JSON line the call prints, after :data:`_RESULT`
    (``{"error": ...}`` where it raised), until stdin closes."""
    import contextlib
    import importlib
    import io
    import traceback

    out = sys.stdout
    for line in sys.stdin:
        module, function, variant, shape = json.loads(line)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                getattr(importlib.import_module(module), function)(variant, *shape)
            result = printed.getvalue().strip().splitlines()[-1]
        except Exception:
            result = json.dumps({"error": traceback.format_exc()[-2000:]})
        out.write(_RESULT + result + "\n")
        out.flush()


class SharedChild:
    """:func:`run_child`'s calls made one after another in one interpreter, started on the first
    call (a context manager: leaving it ends the interpreter). Each figure then also carries what
    the earlier calls left behind: for smoke runs (``--quick``) that show every row runs, where an
    interpreter per call, each importing its framework, would cost more than the calls."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._errors: Any = None

    def __call__(self, module: str, function: str, variant: str, shape: tuple[int, ...]) -> dict[str, Any]:
        if self._proc is None:
            import tempfile

            self._errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: nobody reads it while the child runs
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from unilosses.bench.peak import serve; serve()"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self._errors, text=True, env=_child_env(),
            )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps([module, function, variant, list(shape)]) + "\n")
        self._proc.stdin.flush()
        for line in self._proc.stdout:
            if line.startswith(_RESULT):
                result: dict[str, Any] = json.loads(line[len(_RESULT):])
                if "error" in result:
                    raise RuntimeError(f"memory call for {variant!r} failed:\n{result['error']}")
                return result
        self._errors.seek(0)
        raise RuntimeError(f"memory subprocess for {variant!r} ended:\n{self._errors.read()[-2000:]}")

    def __enter__(self) -> SharedChild:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None:
            with self._proc:  # closes its pipes (the child's loop ends with stdin) and waits
                pass
            self._errors.close()
            self._proc = None
