"""Side-by-side timings of unilosses and each framework's own loss.

``python -m unilosses bench [--quick] [--plot FILE.png] [--json]`` runs :func:`run`
and prints :func:`format_table`. Every case times a unilosses call (with
``reduction="sum_over_batch_size"``, the native ``"mean"``) and the framework's
own loss on the same inputs, in one process, single-threaded, interleaved
(native, unilosses, unilosses, native, ...) and reports the best of the repeats:
the best time is the one least disturbed by other work on the machine.

Frameworks are imported inside the functions that need them; a case whose
framework is not installed is reported as skipped. The memory case runs each
variant in a fresh subprocess and reads its peak resident memory (see
:func:`memory`).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CASES", "format_table", "main", "memory", "plot", "run"]

_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
_SPARSE = dict(from_logits=True, reduction="sum_over_batch_size")


@dataclass(frozen=True)
class Case:
    """One row of the table: a unilosses call beside the framework's own loss."""

    id: str
    framework: str  # the backend measured
    title: str
    native: str  # what the native column runs
    goal: float  # the largest acceptable ratio unilosses / native
    requires: tuple[str, ...]  # modules that must be importable
    shape: tuple[int, int]  # full-size (batch, classes)
    quick_shape: tuple[int, int]
    make: Callable[[tuple[int, int]], tuple[Callable[[], Any], Callable[[], Any]]]


# ------------------------------------------------------------------ set-up
_THREAD_NOTES: dict[str, str] = {}


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _single_thread(frameworks: set[str]) -> Callable[[], None]:
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


def _rng() -> Any:
    import numpy as np

    return np.random.default_rng(0)


def _logits(shape: tuple[int, int]) -> tuple[Any, Any]:
    rng = _rng()
    b, c = shape
    z = (rng.standard_normal((b, c)) * 2).astype("float32")
    y = rng.integers(0, c, b)
    return z, y


# ------------------------------------------------------------------- cases
def _torch_forward(label_smoothing: float) -> Callable[[tuple[int, int]], Any]:
    def make(shape: tuple[int, int]) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        import unilosses as ul

        zn, yn = _logits(shape)
        z, y = torch.from_numpy(zn), torch.from_numpy(yn)
        f = ul.sparse_categorical_crossentropy

        def ours() -> Any:
            return f(y, z, label_smoothing=label_smoothing, **_SPARSE)

        def native() -> Any:
            return F.cross_entropy(z, y, label_smoothing=label_smoothing)

        return ours, native

    return make


def _torch_backward(shape: tuple[int, int]) -> Any:
    import torch
    import torch.nn.functional as F  # noqa: N812

    import unilosses as ul

    zn, yn = _logits(shape)
    z, y = torch.from_numpy(zn).requires_grad_(True), torch.from_numpy(yn)
    f = ul.sparse_categorical_crossentropy

    def ours() -> Any:
        z.grad = None
        loss = f(y, z, **_SPARSE)
        loss.backward()
        return z.grad

    def native() -> Any:
        z.grad = None
        loss = F.cross_entropy(z, y)
        loss.backward()
        return z.grad

    return ours, native


def _optax_mean() -> Any:
    import jax
    import optax

    return jax.jit(lambda z, y: optax.softmax_cross_entropy_with_integer_labels(z, y).mean())


def _jax_eager(shape: tuple[int, int]) -> Any:
    import jax.numpy as jnp

    import unilosses as ul

    zn, yn = _logits(shape)
    z, y = jnp.asarray(zn), jnp.asarray(yn)
    f, ref = ul.sparse_categorical_crossentropy, _optax_mean()

    def ours() -> Any:
        return f(y, z, **_SPARSE).block_until_ready()

    def native() -> Any:
        return ref(z, y).block_until_ready()

    return ours, native


def _jax_jit(shape: tuple[int, int]) -> Any:
    import jax
    import jax.numpy as jnp

    import unilosses as ul

    zn, yn = _logits(shape)
    z, y = jnp.asarray(zn), jnp.asarray(yn)
    f, ref = ul.sparse_categorical_crossentropy, _optax_mean()
    mine = jax.jit(lambda z, y: f(y, z, **_SPARSE))

    def ours() -> Any:
        return mine(z, y).block_until_ready()

    def native() -> Any:
        return ref(z, y).block_until_ready()

    return ours, native


def _tf_eager(shape: tuple[int, int]) -> Any:
    import tensorflow as tf

    import unilosses as ul

    zn, yn = _logits(shape)
    z, y = tf.constant(zn), tf.constant(yn)
    f = ul.sparse_categorical_crossentropy

    def ours() -> Any:
        return f(y, z, **_SPARSE)

    def native() -> Any:
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z))

    return ours, native


def _numpy_probs(shape: tuple[int, int]) -> Any:
    import numpy as np
    from sklearn.metrics import log_loss

    import unilosses as ul

    rng = _rng()
    n, c = shape
    p = rng.dirichlet(np.ones(c), n).astype(np.float32)
    onehot = np.zeros((n, c), dtype=np.float32)
    onehot[np.arange(n), rng.integers(0, c, n)] = 1.0
    f = ul.categorical_crossentropy

    def ours() -> Any:
        return f(onehot, p, reduction="sum_over_batch_size")

    def native() -> Any:
        return log_loss(onehot, p)

    return ours, native


_BIG, _SMALL, _QUICK = (256, 32000), (32, 10), (16, 100)

#: the benchmark cases, in table order
CASES: tuple[Case, ...] = (
    Case("torch-fwd", "torch", "torch eager, sparse CE from logits, B=256, C=32000, forward",
         "F.cross_entropy", 1.10, ("torch",), _BIG, _QUICK, _torch_forward(0.0)),
    Case("torch-fwd-smoothing", "torch", "same, label_smoothing=0.1",
         "F.cross_entropy(label_smoothing=0.1)", 1.10, ("torch",), _BIG, _QUICK, _torch_forward(0.1)),
    Case("torch-fwd-bwd", "torch", "same, forward + backward",
         "F.cross_entropy", 1.15, ("torch",), _BIG, _QUICK, _torch_backward),
    Case("torch-small", "torch", "torch eager, B=32, C=10, forward (per-call overhead)",
         "F.cross_entropy", 3.0, ("torch",), _SMALL, _SMALL, _torch_forward(0.0)),
    Case("jax-eager", "jax", "JAX, eager call on concrete arrays, B=256, C=32000",
         "jax.jit(optax.softmax_cross_entropy_with_integer_labels(...).mean())", 1.5,
         ("jax", "optax"), _BIG, _QUICK, _jax_eager),
    Case("jax-jit", "jax", "JAX, inside the caller's jax.jit, B=256, C=32000",
         "jax.jit(optax.softmax_cross_entropy_with_integer_labels(...).mean())", 1.10,
         ("jax", "optax"), _BIG, _QUICK, _jax_jit),
    Case("tf-eager", "tensorflow", "TensorFlow eager, B=256, C=32000",
         "tf.nn.sparse_softmax_cross_entropy_with_logits + reduce_mean", 1.10,
         ("tensorflow",), _BIG, _QUICK, _tf_eager),
    Case("tf-small", "tensorflow", "TensorFlow eager, B=32, C=10",
         "tf.nn.sparse_softmax_cross_entropy_with_logits + reduce_mean", 2.0,
         ("tensorflow",), _SMALL, _SMALL, _tf_eager),
    Case("numpy-probs", "numpy", "NumPy, categorical CE on probabilities, 1e6 x 10",
         "sklearn.metrics.log_loss", 0.5, ("numpy", "sklearn"), (1_000_000, 10), (1000, 10), _numpy_probs),
)

#: the memory row (see :func:`memory`)
MEMORY_ID = "torch-memory"
MEMORY_TITLE = "torch, sparse CE, label_smoothing=0.1, (2048, 50257) float32, forward + backward: peak extra memory"
MEMORY_NATIVE = "F.cross_entropy(label_smoothing=0.1)"
MEMORY_GOAL = 1.15
MEMORY_SHAPE, MEMORY_QUICK_SHAPE = (2048, 50257), (64, 1000)


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _wanted(cases: Any) -> set[str] | None:
    if cases is None:
        return None
    wanted = {cases} if isinstance(cases, str) else set(cases)
    known = {c.id for c in CASES} | {c.framework for c in CASES} | {MEMORY_ID}
    unknown = wanted - known
    if unknown:
        raise ValueError(f"cases: unknown case(s) {sorted(unknown)}; known: {sorted(known)}")
    return wanted


# ------------------------------------------------------------------ timing
_CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def _use_clock(clock: str) -> None:
    global _clock
    if clock not in _CLOCKS:
        raise ValueError(f"clock: expected 'wall' or 'cpu', got {clock!r}")
    _clock = _CLOCKS[clock]


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


def _time_case(case: Case, quick: bool, repeats: int, target: float) -> dict[str, Any]:
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


def _row(case_id: str, framework: str, title: str, native: str, goal: float) -> dict[str, Any]:
    return {"id": case_id, "framework": framework, "case": title, "native": native, "goal": goal,
            "unilosses": None, "native_time": None, "ratio": None, "within_goal": None, "skipped": None}


def run(quick: bool = False, cases: Any = None, *, repeats: int | None = None,
        target: float = 0.2, with_memory: bool | None = None, clock: str = "wall") -> list[dict[str, Any]]:
    """Time every case (or ``cases``: ids or framework names); one dict per row.

    ``quick``: tiny sizes and one repeat (a smoke test: the ratios mean nothing).
    ``repeats``: timings per function (best of; default 15, 1 when quick);
    ``target``: seconds per timing; ``with_memory``: add the memory row (default:
    when every case is run, or when ``cases`` names torch or it); ``clock``:
    ``"wall"`` (``time.perf_counter``) or ``"cpu"`` (``time.process_time``, the
    process's CPU time: on a machine busy with other work it does not count the
    time the benchmark waits for a core).
    A row has ``unilosses`` and ``native_time`` (seconds, or bytes for the memory
    row), ``ratio``, ``goal``, ``within_goal``, and ``skipped`` (why, or None).
    """
    _use_clock(clock)
    wanted = _wanted(cases)
    selected = [c for c in CASES if wanted is None or c.id in wanted or c.framework in wanted]
    if with_memory is None:
        with_memory = wanted is None or bool(wanted & {MEMORY_ID, "torch"})
    repeats = (1 if quick else 15) if repeats is None else repeats
    available = {c.framework for c in selected if not _missing(c.requires)}
    restore = _single_thread(available)
    try:
        rows = _run(selected, quick, repeats, target, clock)
    finally:
        restore()
    if with_memory:
        rows.append(_memory_row(quick))
    return rows


def _run(selected: list[Case], quick: bool, repeats: int, target: float, clock: str) -> list[dict[str, Any]]:
    rows = []
    for case in selected:
        title = case.title if not quick else f"{case.title} [quick: {case.quick_shape[0]} x {case.quick_shape[1]}]"
        row = _row(case.id, case.framework, title, case.native, case.goal)
        missing = _missing(case.requires)
        if missing:
            row["skipped"] = f"{', '.join(missing)} not installed"
        else:
            row.update(_time_case(case, quick, repeats, 0.0 if quick else target))
            row["clock"] = clock
            row["within_goal"] = row["ratio"] <= case.goal
            if case.framework in _THREAD_NOTES:
                row["note"] = _THREAD_NOTES[case.framework]
        rows.append(row)
    return rows


# ------------------------------------------------------------------ memory
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _memory_child(variant: str, batch: int, classes: int) -> None:
    """In a fresh process: peak extra resident memory of one forward + backward."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    import unilosses as ul

    torch.set_num_threads(1)
    opts = {"label_smoothing": 0.1}
    ignore = variant.endswith("-ignore")
    weighted = variant.endswith("-weights")
    base = variant.split("-")[0]

    def loss(z: Any, y: Any, w: Any) -> Any:
        if base == "native":
            kw: dict[str, Any] = dict(opts)
            if ignore:
                kw["ignore_index"] = -100
            if weighted:
                kw["weight"] = w
            return F.cross_entropy(z, y, **kw)
        kw = dict(opts, from_logits=True)
        if ignore:
            kw["ignore_index"] = -100
        if weighted:
            kw["class_weight"] = w
        if base == "focal":
            return ul.sparse_categorical_focal_crossentropy(y, z, reduction="sum_over_batch_size", **kw)
        return ul.sparse_categorical_crossentropy(y, z, reduction="mean_with_sample_weight" if weighted
                                                  else "sum_over_batch_size", **kw)

    def inputs(b: int, c: int) -> Any:
        g = torch.Generator().manual_seed(0)
        z = torch.randn(b, c, generator=g).requires_grad_(True)
        y = torch.randint(0, c, (b,), generator=g)
        if ignore:
            y[::7] = -100
        w = torch.rand(c, generator=g) + 0.5
        return z, y, w

    z, y, w = inputs(8, 16)  # warm up: imports, autograd engine, caches
    loss(z, y, w).backward()
    z, y, w = inputs(batch, classes)
    gc.collect()
    before = _rss_kib("VmRSS")
    method = "VmHWM after clear_refs"
    try:
        with open("/proc/self/clear_refs", "w") as f:  # resets the high-water mark
            f.write("5")
    except OSError:
        import resource

        method = "ru_maxrss"
        before = max(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    loss(z, y, w).backward()
    if method == "ru_maxrss":
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        peak = _rss_kib("VmHWM")
    print(json.dumps({"variant": variant, "extra_bytes": (peak - before) * 1024, "method": method}))


def _memory_once(variant: str, shape: tuple[int, int]) -> dict[str, Any]:
    code = f"from unilosses.bench import _memory_child; _memory_child({variant!r}, {shape[0]}, {shape[1]})"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory subprocess for {variant!r} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(quick: bool = False, variants: tuple[str, ...] = ("native", "unilosses"),
           repeats: int | None = None) -> dict[str, dict[str, Any]]:
    """Peak extra resident memory of a forward + backward, one fresh subprocess per run.

    Method: each variant runs in a new Python process that imports torch and
    unilosses, warms up on a tiny input, allocates the (2048, 50257) float32
    logits, then resets the kernel's resident-set high-water mark
    (``/proc/self/clear_refs``) and reads it (``VmHWM``) after the loss and its
    backward: the peak minus the resident size just before is the memory the
    loss needed at its peak. Tensors this large are ``mmap``-ed by the allocator
    and given back to the system when freed, so resident memory follows live
    tensors. The best (smallest) of ``repeats`` runs is kept.

    Variants: ``native`` (``F.cross_entropy(label_smoothing=0.1)``), ``unilosses``
    (``sparse_categorical_crossentropy``), ``focal`` (the sparse focal loss), each
    optionally suffixed ``-weights`` (class weights) or ``-ignore``
    (``ignore_index=-100`` on every 7th label).
    """
    shape = MEMORY_QUICK_SHAPE if quick else MEMORY_SHAPE
    repeats = (1 if quick else 3) if repeats is None else repeats
    out = {}
    for v in variants:
        runs = [_memory_once(v, shape) for _ in range(repeats)]
        out[v] = {"extra_bytes": min(r["extra_bytes"] for r in runs), "runs": [r["extra_bytes"] for r in runs],
                  "method": runs[0]["method"], "shape": list(shape),
                  "logits_bytes": shape[0] * shape[1] * 4}
    return out


def _memory_row(quick: bool) -> dict[str, Any]:
    title = MEMORY_TITLE if not quick else f"{MEMORY_TITLE} [quick: {MEMORY_QUICK_SHAPE[0]} x {MEMORY_QUICK_SHAPE[1]}]"
    row = _row(MEMORY_ID, "torch", title, MEMORY_NATIVE, MEMORY_GOAL)
    missing = _missing(("torch",))
    if missing:
        row["skipped"] = "torch not installed"
        return row
    if not os.path.exists("/proc/self/status"):
        row["skipped"] = "needs Linux /proc to read peak memory"
        return row
    m = memory(quick)
    ours, native = m["unilosses"]["extra_bytes"], m["native"]["extra_bytes"]
    row.update({"unit": "bytes", "unilosses": ours, "native_time": native,
                "ratio": ours / native if native > 0 else float("inf"),
                "shape": m["native"]["shape"], "method": m["native"]["method"],
                "unilosses_all": m["unilosses"]["runs"], "native_all": m["native"]["runs"]})
    row["within_goal"] = row["ratio"] <= MEMORY_GOAL
    return row


# ------------------------------------------------------------------ output
def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "bytes":
        return f"{value / 2**20:.0f} MiB"
    if value < 1e-3:
        return f"{value * 1e6:.1f} us"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"


def format_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table: case, native reference, times, ratio, goal, within goal."""
    lines = [
        "| case | native reference | unilosses | native | ratio | goal | within goal |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        unit = r.get("unit", "s")
        if r.get("skipped"):
            verdict = f"skipped: {r['skipped']}"
        else:
            verdict = "yes" if r["within_goal"] else "no"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['case']} | {r['native']} | {_fmt(r['unilosses'], unit)} | {_fmt(r['native_time'], unit)} "
            f"| {ratio} | <= {r['goal']:.2f} | {verdict} |"
        )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Versions and machine, for the record."""
    env: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(),
                           "cpus": os.cpu_count(), "platform": platform.platform()}
    for name in ("numpy", "torch", "jax", "optax", "tensorflow", "sklearn", "array_api_compat"):
        mod = sys.modules.get(name)
        if mod is None and importlib.util.find_spec(name) is not None:
            env[name] = _dist_version(name)
        elif mod is not None:
            env[name] = getattr(mod, "__version__", "?")
    import unilosses

    env["unilosses"] = unilosses.__version__
    return env


def _dist_version(module: str) -> str:
    from importlib import metadata

    dist = {"sklearn": "scikit-learn", "tensorflow": "tensorflow-cpu"}.get(module, module)
    for d in (dist, module, "tensorflow"):
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return "?"


# -------------------------------------------------------------------- plot
def plot(path: str, quick: bool = False, classes: tuple[int, ...] | None = None,
         batch: int | None = None, repeats: int | None = None, clock: str = "wall") -> dict[str, Any]:
    """Draw time against the number of classes, unilosses beside each native loss.

    One panel per installed backend: torch (``F.cross_entropy``), JAX (jitted
    optax, unilosses called eagerly), TensorFlow (``tf.nn`` sparse kernel) and
    NumPy (categorical CE on probabilities against ``sklearn.metrics.log_loss``).
    Needs matplotlib (``pip install matplotlib``). ``clock`` as in :func:`run`.
    Returns the measured data.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "unilosses.bench.plot needs matplotlib: pip install matplotlib (or unilosses[plot])"
        ) from None
    classes = classes or ((10, 100, 1000) if quick else (10, 100, 1000, 10_000, 32_000, 100_000))
    batch = batch or (8 if quick else 256)
    repeats = repeats or (1 if quick else 7)
    panels = [
        ("torch", ("torch",), _torch_forward(0.0), "F.cross_entropy"),
        ("jax", ("jax", "optax"), _jax_eager, "jit(optax)"),
        ("tensorflow", ("tensorflow",), _tf_eager, "tf.nn sparse softmax CE"),
        ("numpy", ("numpy", "sklearn"), _numpy_probs, "sklearn log_loss"),
    ]
    panels = [p for p in panels if not _missing(p[1])]
    _use_clock(clock)
    restore = _single_thread({p[0] for p in panels})
    try:
        return _plot(plt, path, quick, classes, batch, repeats, panels)
    finally:
        restore()


def _plot(plt: Any, path: str, quick: bool, classes: tuple[int, ...], batch: int, repeats: int,
          panels: list[Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"classes": list(classes), "batch": batch, "clock": _clock.__name__}
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.2 * max(len(panels), 1), 3.6), squeeze=False)
    for ax, (name, _, make, label) in zip(axes[0], panels):
        t_ours, t_native = [], []
        for c in classes:
            case = Case(name, name, "", label, 0.0, (), (batch, c), (batch, c), make)
            r = _time_case(case, quick, repeats, 0.0 if quick else 0.05)
            t_ours.append(r["unilosses"])
            t_native.append(r["native_time"])
        data[name] = {"unilosses": t_ours, "native": t_native, "native_name": label}
        ax.loglog(classes, t_ours, "o-", label="unilosses")
        ax.loglog(classes, t_native, "s--", label=label)
        what = "categorical CE, probabilities" if name == "numpy" else "sparse CE, logits"
        ax.set_title(f"{name}: {what}, batch {batch}", fontsize=10)
        ax.set_xlabel("number of classes")
        ax.set_ylabel("seconds per call" + (" (CPU time)" if _clock is time.process_time else ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return data


# --------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``python -m unilosses bench [--quick] [--plot FILE.png] [--json] [--cases ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m unilosses bench",
        description="Time unilosses beside each framework's own loss (single-threaded, "
        "interleaved, best of the repeats) and print the ratios.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (a smoke test)")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw time against the number of classes")
    parser.add_argument("--json", action="store_true", help="print the rows and the environment as JSON")
    parser.add_argument("--cases", help="comma-separated case ids or frameworks: "
                        + ", ".join([c.id for c in CASES] + [MEMORY_ID]))
    parser.add_argument("--repeats", type=int, help="timings per function (best of)")
    parser.add_argument("--clock", choices=sorted(_CLOCKS), default="wall",
                        help="wall time (default) or the process's CPU time (steadier on a busy machine)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory row (subprocesses)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a ratio is outside its goal")
    args = parser.parse_args(argv)
    cases = None if args.cases is None else [c.strip() for c in args.cases.split(",") if c.strip()]
    try:
        rows = run(args.quick, cases, repeats=args.repeats, with_memory=False if args.no_memory else None,
                   clock=args.clock)
    except ValueError as e:
        parser.error(str(e))
    plotted = None
    if args.plot:
        plotted = plot(args.plot, quick=args.quick, clock=args.clock)
    if args.json:
        print(json.dumps({"environment": environment(), "rows": rows, "plot": plotted}, indent=2, default=str))
    else:
        print(format_table(rows))
        env = environment()
        print("\n" + ", ".join(f"{k} {v}" for k, v in env.items()))
        for r in rows:
            if r.get("note"):
                print(f"note ({r['id']}): {r['note']}")
            if r.get("agree") is False:
                print(f"warning ({r['id']}): unilosses and the native loss gave different values")
        if args.plot:
            print(f"plot written to {args.plot}")
    if args.check and any(r["within_goal"] is False for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
