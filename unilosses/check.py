"""``python -m unilosses check``: the conformance report.

On every installed backend, each conformance case (a loss with a spread of
options) is computed and compared with the NumPy result (every reduction) and,
where the framework is installed, with the framework's own loss (torch,
Keras, optax, tf.nn) on the same inputs. Prints a table loss x backend with the
largest difference and pass/fail, then the versions; exits 1 on any
disagreement. Runs with NumPy alone.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from typing import Any

import numpy as np

_REF_PACKAGES = {"keras": "keras", "torch": "torch", "tensorflow": "tensorflow", "optax": "optax", "jax": "jax"}
_VERSION_PACKAGES = (
    "numpy", "array-api-compat", "array-api-strict", "jax", "torch", "tensorflow", "tensorflow-cpu", "keras", "optax", "dask",
)


def _versions() -> dict[str, str]:
    import unilosses

    out = {"unilosses": unilosses.__version__, "python": sys.version.split()[0]}
    for pkg in _VERSION_PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _diff(actual: Any, expected: Any, rtol: float, atol: float) -> tuple[float, bool]:
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return float("inf"), False
    both_nan = np.isnan(a) & np.isnan(e)
    d = np.where(both_nan, 0.0, np.abs(a - e))
    ok = bool(np.all(both_nan | (d <= atol + rtol * np.abs(e))))
    return float(np.max(d, initial=0.0)), ok


def run_checks(backends: list[str] | None = None, cases: list[Any] | None = None) -> dict[str, Any]:
    """Run every case on every backend; returns a JSON-ready report."""
    import unilosses as ul
    from unilosses.conformance import all_cases
    from unilosses.testing import ArrayBackend, available_backends, to_numpy

    backends = backends or available_backends()
    cases = cases if cases is not None else all_cases()
    refs_available = {fw: importlib.util.find_spec(pkg) is not None for fw, pkg in _REF_PACKAGES.items()}
    rows = []
    for case in cases:
        arrays = case.inputs(np.random.default_rng(0))
        fn = getattr(ul, case.loss)
        np_args, np_kw = case.call_args(arrays)
        expected = {r: to_numpy(fn(*np_args, **np_kw, reduction=r)) for r in ul.REDUCTIONS}
        natives: dict[str, Any] = {}
        for fw, ref in case.references.items():
            if refs_available.get(fw):
                try:
                    natives[fw] = np.asarray(ref(*arrays), dtype=np.float64)
                except Exception as exc:  # report, don't crash the whole check
                    natives[fw] = exc
        row: dict[str, Any] = {"case": case.id, "loss": case.loss, "results": {}}
        for name in backends:
            be = ArrayBackend(name)
            cell: dict[str, Any] = {"max_diff_numpy": 0.0, "max_diff_native": None, "native": [], "ok": True}
            try:
                args, kw = case.call_args(tuple(be.asarray(a) for a in arrays))
                for r in ul.REDUCTIONS:
                    out = to_numpy(fn(*args, **kw, reduction=r))
                    for o, e in zip(out if r == "stats" else (out,), expected[r] if r == "stats" else (expected[r],)):
                        d, ok = _diff(o, e, case.rtol, case.atol)
                        cell["max_diff_numpy"] = max(cell["max_diff_numpy"], d)
                        cell["ok"] &= ok
                    if r == "none":
                        none_out = out
                for fw, nat in natives.items():
                    if isinstance(nat, Exception):
                        cell["ok"] = False
                        cell["error"] = f"{fw} reference failed: {nat!r}"
                        continue
                    d, ok = _diff(none_out, nat.astype(np.float32), case.rtol, case.atol)
                    cell["native"].append(fw)
                    cell["max_diff_native"] = max(cell["max_diff_native"] or 0.0, d)
                    cell["ok"] &= ok
            except Exception as exc:
                cell["ok"] = False
                cell["error"] = repr(exc)
            row["results"][name] = cell
        rows.append(row)
    ok = all(c["ok"] for row in rows for c in row["results"].values())
    return {"ok": ok, "backends": backends, "rows": rows, "versions": _versions()}


def format_report(report: dict[str, Any]) -> str:
    backends = report["backends"]
    head = ["case"] + backends + ["compared with"]
    lines = [head]
    for row in report["rows"]:
        cells = [row["case"]]
        natives: set[str] = set()
        for b in backends:
            c = row["results"][b]
            if "error" in c:
                cells.append("ERROR")
                continue
            d = max(c["max_diff_numpy"], c["max_diff_native"] or 0.0)
            natives.update(c["native"])
            cells.append(f"{'ok' if c['ok'] else 'FAIL'} {d:.0e}")
        cells.append(", ".join(["numpy", *sorted(natives)]))
        lines.append(cells)
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = []
    for i, r in enumerate(lines):
        out.append("  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    errors = [
        f"  {row['case']} on {b}: {c['error']}"
        for row in report["rows"]
        for b, c in row["results"].items()
        if "error" in c
    ]
    n_cells = sum(len(r["results"]) for r in report["rows"])
    n_bad = sum(not c["ok"] for r in report["rows"] for c in r["results"].values())
    out.append("")
    out.append(
        "Each cell: whether the backend agrees, within the case's tolerance, with unilosses on NumPy (every reduction) "
        "and with each framework's own loss in the last column (reduction='none'), and the largest difference."
    )
    if errors:
        out.append("Errors:")
        out.extend(errors)
    out.append("Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    out.append(f"{n_cells - n_bad} passed, {n_bad} failed")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unilosses check",
        description="Run every loss on every installed backend and compare with NumPy and with each framework's own loss.",
    )
    parser.add_argument("--backends", help="comma-separated subset of backends (default: all installed)")
    parser.add_argument("--loss", action="append", help="only cases of this loss (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from unilosses.conformance import all_cases

    cases = all_cases()
    if args.loss:
        cases = [c for c in cases if c.loss in args.loss]
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else None
    t0 = time.perf_counter()
    report = run_checks(backends, cases)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        print(format_report(report))
    return 0 if report["ok"] else 1
