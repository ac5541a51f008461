"""Timing: single-threaded frameworks, interleaved repeats, best of each side, ratios.

:func:`run` times every selected case (or the ``quick`` smoke-test sizes) and
returns one dict per row; the memory row comes from :mod:`unilosses.bench.memory`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from unilosses.bench import cases as _cases
from unilosses.bench.cases import CASES, Case
from unilosses.bench.memory import MEMORY_CASES, MEMORY_ID, memory_row, memory_rows
from unilosses.bench.peak import SharedChild, run_child

__all__ = ["CLOCKS", "current_clock", "run", "single_thread", "time_case", "use_clock"]

_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
# ------------------------------------------------------------------ set-up
_THREAD_NOTES: dict[str, str] = {}


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def single_thread(frameworks: set[str]) -> Callable[[], None]:
    """One compute thread per framework (set before first use where it matters).

    Returns a function that restores torch's thread count and ``XLA_FLAGS``
    (TensorFlow's setting cannot be undone once its context exists).
    """
    undo: list[Callable[[], None]] = []
    if "jax" in frameworks:
        flags = os.environ.get("XLA_FLAGS")
        if "xla_cpu_multi_thread_eigen" not in (flags or ""):
            os.environ["XLA_FLAGS"] = ((flags or "") + " " + _XLA_FLAGS).strip()
            undo.append(lambda: _set_env("XLA_FLAGS", flags))
            if "jax" in sys.modules:
                _THREAD_NOTES["jax"] = "jax was imported before the benchmark: XLA_FLAGS may come too late"
    if "torch" in frameworks:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        undo.append(lambda: torch.set_num_threads(threads))
    if "tensorflow" in frameworks:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        try:
            if tf.config.threading.get_intra_op_parallelism_threads() != 1:
                tf.config.threading.set_intra_op_parallelism_threads(1)
            if tf.config.threading.get_inter_op_parallelism_threads() != 1:
                tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow's context already exists
            _THREAD_NOTES["tensorflow"] = "TensorFlow was initialised before the benchmark: threads not set to 1"

    def restore() -> None:
        for f in undo:
            f()

    return restore


def _wanted(cases: Any) -> set[str] | None:
    if cases is None:
        return None
    wanted = {cases} if isinstance(cases, str) else set(cases)
    known = {c.id for c in CASES} | {c.framework for c in CASES} | {MEMORY_ID} | {m.id for m in MEMORY_CASES}
    unknown = wanted - known
    if unknown:
        raise ValueError(f"cases: unknown case(s) {sorted(unknown)}; known: {sorted(known)}")
    return wanted


# ------------------------------------------------------------------ timing
#: the clocks a benchmark can time with, by name (``bench --clock``)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def use_clock(clock: str) -> None:
    global _clock
    if clock not in CLOCKS:
        raise ValueError(f"clock: expected 'wall' or 'cpu', got {clock!r}")
    _clock = CLOCKS[clock]


def current_clock() -> Callable[[], float]:
    """The clock :func:`use_clock` chose (``time.perf_counter`` or ``time.process_time``)."""
    return _clock


def _loop(fn: Callable[[], Any], n: int) -> float:
    clock = _clock
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n


def _calibrate(fns: tuple[Callable[[], Any], ...], target: float) -> int:
    """Calls per timing so that one timing of the slowest function lasts about ``target`` s."""
    per = min(max(_loop(f, 1) for f in fns) for _ in range(3))
    n0 = max(1, int(0.02 / per))
    per = max(_loop(f, n0) for f in fns)
    return max(1, round(target / per))


def _close(a: Any, b: Any) -> bool:
    import numpy as np

    def host(x: Any) -> Any:
        if hasattr(x, "detach"):
            x = x.detach().cpu()
        if hasattr(x, "numpy"):
            x = x.numpy()
        return np.asarray(x, dtype=np.float64)

    return bool(np.allclose(host(a), host(b), rtol=1e-4, atol=1e-5))


def time_case(case: Case, quick: bool, repeats: int, target: float) -> dict[str, Any]:
    shape = case.quick_shape if quick else case.shape
    ours, native = case.make(shape)
    for _ in range(2):  # warm up: caches, jit compilation, lazy imports
        a, b = ours(), native()
    agree = _close(a, b)
    n = 1 if quick else _calibrate((ours, native), target)
    t_ours: list[float] = []
    t_native: list[float] = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):  # interleaved, the order alternating
            if r % 2:
                t_ours.append(_loop(ours, n))
                t_native.append(_loop(native, n))
            else:
                t_native.append(_loop(native, n))
                t_ours.append(_loop(ours, n))
    finally:
        if enabled:
            gc.enable()
    best_ours, best_native = min(t_ours), min(t_native)
    return {
        "shape": list(shape),
        "unit": "s",
        "unilosses": best_ours,
        "native_time": best_native,
        "ratio": best_ours / best_native,
        "calls_per_timing": n,
        "repeats": repeats,
        "unilosses_all": t_ours,
        "native_all": t_native,
        "agree": agree,
    }


def run(quick: bool = False, cases: Any = None, *, repeats: int | None = None,
        target: float = 0.2, with_memory: bool | None = None, clock: str = "wall",
        progress: Any = None) -> list[dict[str, Any]]:
    """Time every case (or ``cases``: ids or framework names); one dict per row.

    ``quick``: tiny sizes and one repeat (a smoke test: the ratios mean nothing).
    ``repeats``: timings per function (best of; default 15, 1 when quick);
    ``target``: seconds per timing; ``with_memory``: add the memory rows (default:
    when every case is run, or when ``cases`` names one or its framework); ``clock``:
    ``"wall"`` (``time.perf_counter``) or ``"cpu"`` (``time.process_time``, the
    process's CPU time: on a machine busy with other work it does not count the
    time the benchmark waits for a core).
    A row has ``unilosses`` and ``native_time`` (seconds, or bytes for the memory
    row), ``ratio``, ``goal``, ``within_goal`` (None when ``quick``: tiny sizes and
    one repeat cannot judge a goal), and ``skipped`` (why, or None; ``missing``: the modules not installed).
    ``progress``: a :class:`unilosses.check.progress.Progress` over the timed cases, told each
    case as it starts and the memory rows (subprocesses) last.
    """
    use_clock(clock)
    wanted = _wanted(cases)
    selected = [c for c in CASES if wanted is None or c.id in wanted or c.framework in wanted]
    memory_ids = {MEMORY_ID} | {m.id for m in MEMORY_CASES}
    if with_memory is None:
        with_memory = wanted is None or bool(wanted & (memory_ids | {"torch", "jax", "tensorflow"}))
    repeats = (1 if quick else 15) if repeats is None else repeats
    available = {c.framework for c in selected if not _cases.missing(c.requires)}
    restore = single_thread(available)
    try:
        rows = _run(selected, quick, repeats, target, clock, progress)
    finally:
        restore()
    if with_memory:  # the memory rows named, or those of the frameworks timed
        if progress is not None:
            progress.working(0, "memory rows (one subprocess)" if quick else "memory rows (a subprocess each)")
        mem = None if wanted is None else wanted | {c.framework for c in selected}
        # quick: a smoke run, every call in one interpreter; else a fresh interpreter per measurement
        with SharedChild() if quick else contextlib.nullcontext(run_child) as child:
            if mem is None or mem & {MEMORY_ID, "torch"}:
                rows.append(memory_row(quick, child))
            rows += memory_rows(quick, mem, run=child)
    if progress is not None:
        progress.finish()
    return rows


def _run(selected: list[Case], quick: bool, repeats: int, target: float, clock: str, progress: Any) -> list[dict[str, Any]]:
    rows = []
    for case in selected:
        if progress is not None:
            progress.working(0, case.id)
        title = case.title if not quick else f"{case.title} [quick: {' x '.join(map(str, case.quick_shape))}]"
        row = _cases.blank_row(case.id, case.framework, title, case.native, case.goal)
        missing = _cases.missing(case.requires)
        if missing:
            row["skipped"], row["missing"] = f"{', '.join(missing)} not installed", missing
        else:
            row.update(time_case(case, quick, repeats, 0.0 if quick else target))
            row["clock"] = clock
            # smoke-test sizes say nothing about the goal: no verdict
            row["within_goal"] = None if quick else row["ratio"] <= case.goal
            if case.framework in _THREAD_NOTES:
                row["note"] = _THREAD_NOTES[case.framework]
        rows.append(row)
        if progress is not None:
            progress.case_done(0, True)
    return rows


