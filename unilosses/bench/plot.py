"""``bench --plot``: time against the number of classes, unilosses beside each native loss; and the
LM head's peak memory against the vocabulary size, both paths (:func:`unilosses.bench.linear.memory_curve`)."""

from __future__ import annotations

import time
from typing import Any

from unilosses.bench import cases as _cases
from unilosses.bench import linear, timing
from unilosses.bench.cases import Case, jax_eager, numpy_probs, tf_eager, torch_forward

__all__ = ["plot"]


def plot(path: str, quick: bool = False, classes: tuple[int, ...] | None = None,
         batch: int | None = None, repeats: int | None = None, clock: str = "wall") -> dict[str, Any]:
    """Draw time against the number of classes, unilosses beside each native loss, and the LM
    head's peak extra memory against the vocabulary size.

    First row, one panel per installed backend: torch (``F.cross_entropy``), JAX (jitted
    optax, unilosses called eagerly), TensorFlow (``tf.nn`` sparse kernel) and
    NumPy (categorical CE on probabilities against ``sklearn.metrics.log_loss``).
    Second row: ``linear_cross_entropy`` against the unfused ``h @ W.T`` path, forward +
    backward, on torch, JAX and TensorFlow (those installed), each point in a fresh process,
    with the size of ``W``'s gradient (the floor of both paths) for scale.
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
        ("torch", ("torch",), torch_forward(0.0), "F.cross_entropy"),
        ("jax", ("jax", "optax"), jax_eager, "jit(optax)"),
        ("tensorflow", ("tensorflow",), tf_eager, "tf.nn sparse softmax CE"),
        ("numpy", ("numpy", "sklearn"), numpy_probs, "sklearn log_loss"),
    ]
    panels = [p for p in panels if not _cases.missing(p[1])]
    timing.use_clock(clock)
    restore = timing.single_thread({p[0] for p in panels})
    try:
        return _plot(plt, path, quick, classes, batch, repeats, panels)
    finally:
        restore()


def _plot(plt: Any, path: str, quick: bool, classes: tuple[int, ...], batch: int, repeats: int,
          panels: list[Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"classes": list(classes), "batch": batch, "clock": timing.current_clock().__name__}
    cols = max(len(panels), 1)
    fig, axes = plt.subplots(2, cols, figsize=(4.2 * cols, 7.2), squeeze=False)
    for ax, (name, _, make, label) in zip(axes[0], panels):
        t_ours, t_native = [], []
        for c in classes:
            case = Case(name, name, "", label, 0.0, (), (batch, c), (batch, c), make)
            r = timing.time_case(case, quick, repeats, 0.0 if quick else 0.05)
            t_ours.append(r["unilosses"])
            t_native.append(r["native_time"])
        data[name] = {"unilosses": t_ours, "native": t_native, "native_name": label}
        ax.loglog(classes, t_ours, "o-", label="unilosses")
        ax.loglog(classes, t_native, "s--", label=label)
        what = "categorical CE, probabilities" if name == "numpy" else "sparse CE, logits"
        ax.set_title(f"{name}: {what}, batch {batch}", fontsize=10)
        ax.set_xlabel("number of classes")
        ax.set_ylabel("seconds per call" + (" (CPU time)" if timing.current_clock() is time.process_time else ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    data["lm_head_memory"] = _memory_panel(axes[1], quick)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return data


def _memory_panel(axes: Any, quick: bool) -> dict[str, Any]:
    """The LM head's peak extra memory against the vocabulary size, in ``axes[0]`` (the rest hidden)."""
    frameworks = tuple(f for f, mods in (("torch", ("torch",)), ("jax", ("jax", "optax")),
                                         ("tensorflow", ("tensorflow",))) if not _cases.missing(mods))
    vocabs: tuple[int, ...] = linear.CURVE_VOCABS
    tokens, d = linear.CURVE_TOKENS, linear.SHAPE[1]
    if quick:  # a smoke test: one framework, two tiny vocabularies
        frameworks, vocabs, tokens, d = frameworks[:1], (100, 1000), 16, 8
    if not frameworks:
        axes[0].set_visible(False)
        return {}
    curve = linear.memory_curve(frameworks, vocabs, tokens, d)
    draw_memory(axes[0], curve, frameworks)
    for other in axes[1:]:
        other.set_visible(False)
    return curve


def draw_memory(ax: Any, curve: dict[str, Any], frameworks: tuple[str, ...]) -> None:
    """Draw a :func:`unilosses.bench.linear.memory_curve` result on ``ax``."""
    vocabs, tokens, d = curve["vocabs"], curve["tokens"], curve["hidden"]
    mib = 2.0**20
    for fw, color in zip(frameworks, ("C0", "C1", "C2")):
        ax.loglog(vocabs, [b / mib for b in curve[f"{fw}-unilosses"]], "o-", color=color, label=f"{fw}: unilosses")
        ax.loglog(vocabs, [b / mib for b in curve[f"{fw}-native"]], "s--", color=color, label=f"{fw}: h @ W.T path")
    ax.loglog(vocabs, [v * d * 4 / mib for v in vocabs], ":", color="gray", label="size of W's gradient")
    ax.set_title(f"LM head, {tokens} tokens, D={d}, float32, fwd + bwd", fontsize=10)
    ax.set_xlabel("vocabulary size")
    ax.set_ylabel("peak extra memory (MiB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
