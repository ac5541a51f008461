"""Peak extra resident memory of a forward + backward, each variant in a fresh subprocess.

Two kinds of rows: the torch sparse cross-entropy (:func:`memory_row`, variants of
:func:`child`), and the :data:`MEMORY_CASES` that pair unilosses with a native path
through a child function of their own (the LM head: :func:`unilosses.bench.linear.child`).
Children measure with :func:`peak_extra` and are started by :func:`run_child`, both from
:mod:`unilosses.bench.peak` (re-exported here).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable

from unilosses.bench import cases as _cases
from unilosses.bench import linear as _linear
from unilosses.bench.peak import MMAP_THRESHOLD, peak_extra, run_child

__all__ = [
    "MEMORY_CASES", "MEMORY_GOAL", "MEMORY_ID", "MMAP_THRESHOLD", "MemoryCase", "memory", "memory_row", "memory_rows", "peak_extra",
    "run_child",
]

#: the memory row (see :func:`memory`)
MEMORY_ID = "torch-memory"
MEMORY_TITLE = "torch, sparse CE, label_smoothing=0.1, (2048, 50257) float32, forward + backward: peak extra memory"
MEMORY_NATIVE = "F.cross_entropy(label_smoothing=0.1)"
MEMORY_GOAL = 1.15
MEMORY_SHAPE, MEMORY_QUICK_SHAPE = (2048, 50257), (64, 1000)


def child(variant: str, batch: int, classes: int) -> None:
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
    print(json.dumps({"variant": variant, **peak_extra(lambda: loss(z, y, w).backward())}))


#: how a row runs a child: ``(module, function, variant, shape) -> its JSON``
#: (:func:`run_child`, a fresh interpreter a call, or a :class:`unilosses.bench.peak.SharedChild`)
Runner = Callable[[str, str, str, tuple[int, ...]], dict[str, Any]]


def memory(quick: bool = False, variants: tuple[str, ...] = ("native", "unilosses"),
           repeats: int | None = None, run: Runner = run_child) -> dict[str, dict[str, Any]]:
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
    (``ignore_index=-100`` on every 7th label). ``run`` makes each call (default
    :func:`run_child`, a fresh interpreter each).
    """
    shape = MEMORY_QUICK_SHAPE if quick else MEMORY_SHAPE
    repeats = (1 if quick else 3) if repeats is None else repeats
    out = {}
    for v in variants:
        runs = [run("unilosses.bench.memory", "child", v, shape) for _ in range(repeats)]
        out[v] = {"extra_bytes": min(r["extra_bytes"] for r in runs), "runs": [r["extra_bytes"] for r in runs],
                  "method": runs[0]["method"], "shape": list(shape),
                  "logits_bytes": shape[0] * shape[1] * 4}
    return out


def memory_row(quick: bool, run: Runner = run_child) -> dict[str, Any]:
    title = MEMORY_TITLE if not quick else f"{MEMORY_TITLE} [quick: {MEMORY_QUICK_SHAPE[0]} x {MEMORY_QUICK_SHAPE[1]}]"
    row = _cases.blank_row(MEMORY_ID, "torch", title, MEMORY_NATIVE, MEMORY_GOAL)
    missing = _cases.missing(("torch",))
    if missing:
        row["skipped"], row["missing"] = "torch not installed", missing
        return row
    if not os.path.exists("/proc/self/status"):
        row["skipped"] = "needs Linux /proc to read peak memory"
        return row
    m = memory(quick, run=run)
    ours, native = m["unilosses"]["extra_bytes"], m["native"]["extra_bytes"]
    row.update({"unit": "bytes", "unilosses": ours, "native_time": native,
                "ratio": ours / native if native > 0 else float("inf"),
                "shape": m["native"]["shape"], "method": m["native"]["method"],
                "unilosses_all": m["unilosses"]["runs"], "native_all": m["native"]["runs"]})
    row["within_goal"] = None if quick else row["ratio"] <= MEMORY_GOAL  # quick: no verdict
    return row


# --------------------------------------------------------- paired memory cases
@dataclass(frozen=True)
class MemoryCase:
    """A memory row: peak extra memory of unilosses beside a native path, each in fresh processes."""

    id: str
    framework: str
    title: str
    native: str
    goal: float  # the largest acceptable ratio unilosses / native
    requires: tuple[str, ...]
    shape: tuple[int, ...]
    quick_shape: tuple[int, ...]
    module: str  # where ``child(variant, *shape)`` lives
    variants: tuple[str, str]  # (unilosses, native)


_LCE = "LM head, N={} D={} V={} float32, forward + backward: peak extra memory".format(*_linear.SHAPE)
#: the paired memory rows, after the torch sparse cross-entropy row (:data:`MEMORY_ID`)
MEMORY_CASES: tuple[MemoryCase, ...] = (
    MemoryCase("lce-torch-memory", "torch", f"torch, {_LCE}", "F.cross_entropy(h @ W.T, y)", 0.15,
               ("torch",), _linear.SHAPE, _linear.QUICK, "unilosses.bench.linear", ("torch-unilosses", "torch-native")),
    MemoryCase("lce-torch-compiled-memory", "torch", f"torch.compile, {_LCE}", "torch.compile(F.cross_entropy(h @ W.T, y))",
               0.3, ("torch",), _linear.SHAPE, _linear.QUICK, "unilosses.bench.linear",
               ("torch-compiled-unilosses", "torch-compiled-native")),
    MemoryCase("lce-jax-memory", "jax", f"JAX, {_LCE}", "jit(optax on h @ W.T)", 0.15,
               ("jax", "optax"), _linear.SHAPE, _linear.QUICK, "unilosses.bench.linear", ("jax-unilosses", "jax-native")),
    MemoryCase("lce-tf-memory", "tensorflow", f"TensorFlow, {_LCE}",
               "tf.nn.sparse_softmax_cross_entropy_with_logits(h @ W.T)", 0.15, ("tensorflow",), _linear.SHAPE,
               _linear.QUICK, "unilosses.bench.linear", ("tensorflow-unilosses", "tensorflow-native")),
    # selected log-probabilities (linear_log_probs against log_softmax(h @ W.T) at the labels), and 16-bit weights
    *(MemoryCase(f"lp-{fw}{tag}-memory", fw, f"{fw}, linear_log_probs, N={n} D={d} V={v} {dt}: peak extra memory",
                 "log_softmax(h @ W.T) at the labels", 0.15, (fw,), (n, d, v), _linear.QUICK, "unilosses.bench.linear",
                 (f"{fw}-logprobs-unilosses@{dt}", f"{fw}-logprobs-native@{dt}"))
      for fw, tag, dt, (n, d, v) in (("torch", "", "float32", _linear.SHAPE), ("torch", "-bf16", "bfloat16", _linear.SHAPE),
                                     ("torch", "-bf16-128k", "bfloat16", _linear.BIG_VOCAB),
                                     ("jax", "", "float32", _linear.SHAPE), ("tensorflow", "", "float32", _linear.SHAPE))),
    *(MemoryCase(f"lce-torch-{dt}{'acc' if kind == 'ce16' else ''}-{n}x{d}-memory", "torch",
                 f"torch, LM head, N={n} D={d} V={v} {dt}{', accum_dtype=weight' if kind == 'ce16' else ''}: peak extra memory",
                 "F.cross_entropy(h @ W.T, y)", 0.5, ("torch",), (n, d, v), _linear.QUICK, "unilosses.bench.linear",
                 (f"torch-{kind}-unilosses@{dt}", f"torch-native@{dt}"))
      for n, d, v in _linear.WIDE for dt, kind in (("float32", "ce"), ("bfloat16", "ce"), ("bfloat16", "ce16"))),
)


def memory_rows(quick: bool, wanted: Any = None, repeats: int | None = None, run: Runner = run_child) -> list[dict[str, Any]]:
    """The rows of :data:`MEMORY_CASES` (those whose id or framework is in ``wanted``; all if None),
    each call made by ``run`` (default :func:`run_child`)."""
    repeats = (1 if quick else 3) if repeats is None else repeats
    rows = []
    for case in MEMORY_CASES:
        if wanted is not None and case.id not in wanted and case.framework not in wanted:
            continue
        shape = case.quick_shape if quick else case.shape
        title = case.title if not quick else f"{case.title} [quick: {' x '.join(map(str, shape))}]"
        row = _cases.blank_row(case.id, case.framework, title, case.native, case.goal)
        missing = _cases.missing(case.requires)
        if missing or not os.path.exists("/proc/self/status"):
            row["skipped"] = f"{', '.join(missing)} not installed" if missing else "needs Linux /proc to read peak memory"
            row["missing"] = missing
            rows.append(row)
            continue
        runs = {v: [run(case.module, "child", v, shape) for _ in range(repeats)] for v in case.variants}
        ours, native = (min(r["extra_bytes"] for r in runs[v]) for v in case.variants)
        row.update({"unit": "bytes", "unilosses": ours, "native_time": native, "shape": list(shape),
                    "ratio": ours / native if native > 0 else float("inf"), "method": runs[case.variants[1]][0]["method"],
                    "unilosses_all": [r["extra_bytes"] for r in runs[case.variants[0]]],
                    "native_all": [r["extra_bytes"] for r in runs[case.variants[1]]]})
        row["within_goal"] = None if quick else row["ratio"] <= case.goal  # quick: no verdict
        rows.append(row)
    return rows
