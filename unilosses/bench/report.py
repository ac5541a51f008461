"""The benchmark table and the environment it was measured in."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from typing import Any

__all__ = ["environment", "format_table"]


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
    """A markdown table: case, native reference, times, ratio, goal, within goal (not judged for
    ``--quick`` rows: smoke-test sizes and one repeat measure overhead, not the goal)."""
    lines = [
        "| case | native reference | unilosses | native | ratio | goal | within goal |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        unit = r.get("unit", "s")
        if r.get("skipped"):
            verdict = f"skipped: {r['skipped']}"
        elif r["within_goal"] is None:
            verdict = "not judged (quick sizes)"
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


