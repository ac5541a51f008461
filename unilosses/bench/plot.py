"""``bench --plot``: time against the number of classes, unilosses beside each native loss."""

from __future__ import annotations

import time
from typing import Any

from unilosses.bench import cases as _cases
from unilosses.bench import timing
from unilosses.bench.cases import Case, jax_eager, numpy_probs, tf_eager, torch_forward

__all__ = ["plot"]


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
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.2 * max(len(panels), 1), 3.6), squeeze=False)
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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return data


