"""The benchmark table and the environment it was measured in."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import textwrap
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


#: the table's width, its notes wrapped to it
WIDTH = 100
#: an installable distribution per module a case needs, where the names differ
_DISTRIBUTION = {"sklearn": "scikit-learn", "tensorflow": "tensorflow-cpu"}


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table that fits :data:`WIDTH` columns: the case's id, the times, the ratio, the goal
    and the verdict (``not judged`` for ``--quick`` rows: smoke-test sizes and one repeat measure
    overhead, not the goal); under it, what each id measures against which native loss, and one line
    naming the packages to install for the rows left out because one is missing."""
    lines = [
        "| case | unilosses | native | ratio | goal | within goal |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    notes: list[str] = []
    missing: dict[str, list[str]] = {}
    for r in rows:
        unit = r.get("unit", "s")
        absent = r.get("missing") or []
        if r.get("skipped") and absent:
            for m in absent:
                missing.setdefault(m, []).append(r["id"])
            continue
        if r.get("skipped"):
            verdict = f"skipped: {r['skipped']}"
        elif r["within_goal"] is None:
            verdict = "not judged"
        else:
            verdict = "yes" if r["within_goal"] else "no"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['id']} | {_fmt(r['unilosses'], unit)} | {_fmt(r['native_time'], unit)} "
            f"| {ratio} | <= {r['goal']:.2f} | {verdict} |"
        )
        notes.append(f"{r['id']}: {r['case']}; native: {r['native']}")
    out = lines + [""] + [w for n in notes for w in textwrap.wrap(n, WIDTH, subsequent_indent="    ")]
    if any(r["within_goal"] is None and not r.get("skipped") for r in rows):
        out += textwrap.wrap("not judged: --quick sizes and one repeat measure overhead, not the goals.", WIDTH)
    if missing:
        packages = sorted({_DISTRIBUTION.get(m, m) for m in missing})
        ids = sorted({i for v in missing.values() for i in v}, key=[r["id"] for r in rows].index)
        out += textwrap.wrap(f"Not run: {', '.join(ids)} (pip install {' '.join(packages)}).", WIDTH)
    return "\n".join(out)


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

    dist = _DISTRIBUTION.get(module, module)
    for d in (dist, module, "tensorflow"):
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return "?"


