"""``python -m unilosses check``: the conformance report.

On every installed backend, each conformance case (a loss with a spread of
options) is computed and compared with the NumPy result (every reduction) and,
where the framework is installed, with the framework's own loss (torch,
Keras, optax, tf.nn) on the same inputs. On the backends with autodiff (JAX,
torch, TensorFlow) the gradient, in float32, is compared with float64 finite
differences of unilosses on NumPy (every reduction, with sample weights) and
of the framework's own loss (torch, tf.nn or Keras, whichever is installed
first). Prints a table loss x backend with the largest difference and
pass/fail, then the versions; exits 1 on any disagreement. Runs with NumPy
alone.
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


#: float32 autodiff against float64 finite differences: relative, and absolute per unit of the largest entry
_GRAD_RTOL, _GRAD_ATOL = 1e-4, 1e-5


def _versus(got: list[Any], numeric: list[tuple[Any, Any]]) -> tuple[float, bool, str]:
    """Autodiff against finite differences, the absolute tolerance scaled by the largest entry."""
    from unilosses.conformance.gradients import compare

    scale = max([1.0] + [float(np.max(np.abs(g), initial=0.0)) for g, _ in numeric])
    return compare(got, numeric, rtol=_GRAD_RTOL, atol=_GRAD_ATOL * scale)


def _gradient_checks(case: Any, arrays: tuple[Any, ...], backends: list[str], refs_available: dict[str, bool]) -> dict[str, Any]:
    """Per autodiff backend: its float32 gradient against finite differences of unilosses (NumPy,
    float64, every reduction with sample weights) and of the framework's own loss."""
    from unilosses.conformance import gradients as G

    out: dict[str, Any] = {}
    grad_backends = [b for b in backends if b in G.AUTODIFF_FRAMEWORKS]
    positions = G.float_positions(case, arrays)
    if not grad_backends or not positions:
        return out
    a64 = [G.cast(a, "float64") for a in arrays]
    sw = G.sample_weight(case, arrays)
    numeric = G.numeric_gradient(G.numpy_value(case, G.GRAD_REDUCTIONS, sw), a64, positions)
    native = next((fw for fw in G.FD_REFERENCES if fw in case.references and refs_available.get(fw)), None)
    pred = G.pred_positions(case, arrays)
    numeric_native: Any = None
    if native is not None:
        ref = case.references[native]
        try:
            numeric_native = G.numeric_gradient(lambda xs: float(np.sum(np.asarray(ref(*xs), dtype=np.float64))), a64, pred)
        except Exception as exc:  # report, don't crash the whole check
            numeric_native = exc
    for name in grad_backends:
        cell: dict[str, Any] = {"ok": False, "max_diff": None, "native": native, "max_diff_native": None}
        errors = []
        try:
            cell["max_diff"], ok, msg = _versus(G.autodiff(name, case, arrays, positions, G.GRAD_REDUCTIONS, sw), numeric)
            errors += [msg] if msg else []
            if isinstance(numeric_native, Exception):
                raise RuntimeError(f"{native} reference failed: {numeric_native!r}")
            if numeric_native is not None:
                cell["max_diff_native"], ok_native, msg = _versus(
                    G.autodiff(name, case, arrays, pred, (case.reduction,)), numeric_native
                )
                ok = ok and ok_native
                errors += [f"against {native}: {msg}"] if msg else []
            cell["ok"] = ok
        except Exception as exc:
            errors.append(repr(exc))
        if errors:
            cell["error"] = "; ".join(errors)
        out[name] = cell
    return out


def run_checks(
    backends: list[str] | None = None, cases: list[Any] | None = None, gradients: bool = True
) -> dict[str, Any]:
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
                    if r == case.reduction:
                        ref_out = out
                for fw, nat in natives.items():
                    if isinstance(nat, Exception):
                        cell["ok"] = False
                        cell["error"] = f"{fw} reference failed: {nat!r}"
                        continue
                    d, ok = _diff(ref_out, nat.astype(np.float32), case.rtol, case.atol)
                    cell["native"].append(fw)
                    cell["max_diff_native"] = max(cell["max_diff_native"] or 0.0, d)
                    cell["ok"] &= ok
            except Exception as exc:
                cell["ok"] = False
                cell["error"] = repr(exc)
            row["results"][name] = cell
        row["gradients"] = _gradient_checks(case, arrays, backends, refs_available) if gradients else {}
        rows.append(row)
    ok = all(c["ok"] for row in rows for part in ("results", "gradients") for c in row[part].values())
    grad_backends = [b for b in backends if gradients and any(b in row["gradients"] for row in rows)]
    return {
        "ok": ok, "backends": backends, "gradients_checked": gradients, "gradient_backends": grad_backends,
        "rows": rows, "versions": _versions(),
    }


def _cell(c: dict[str, Any] | None, *diffs: str) -> str:
    if c is None:
        return "-"
    if not c["ok"] and "error" in c and all(c.get(k) is None for k in diffs):
        return "ERROR"
    d = max((c.get(k) or 0.0) for k in diffs)
    return f"{'ok' if c['ok'] else 'FAIL'} {d:.0e}"


def format_report(report: dict[str, Any]) -> str:
    backends = report["backends"]
    grad_backends = report.get("gradient_backends", [])
    head = ["case"] + backends + [f"grad {b}" for b in grad_backends] + ["compared with"]
    lines = [head]
    for row in report["rows"]:
        cells = [row["case"]]
        natives: set[str] = set()
        for b in backends:
            c = row["results"][b]
            natives.update(c["native"])
            cells.append(_cell(c, "max_diff_numpy", "max_diff_native"))
        grad_natives = {g["native"] for g in row["gradients"].values() if g["native"]}
        cells += [_cell(row["gradients"].get(b), "max_diff", "max_diff_native") for b in grad_backends]
        compared = ", ".join(["numpy", *sorted(natives)])
        if row["gradients"]:
            compared += "; grad: " + ", ".join(["numpy", *sorted(grad_natives)])
        cells.append(compared)
        lines.append(cells)
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = []
    for i, r in enumerate(lines):
        out.append("  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    cells = [(row["case"], b, kind, c) for row in report["rows"] for kind in ("results", "gradients") for b, c in row[kind].items()]
    errors = [f"  {case}{' gradient' if kind == 'gradients' else ''} on {b}: {c['error']}" for case, b, kind, c in cells if "error" in c]
    n_cells = len(cells)
    n_bad = sum(not c["ok"] for *_, c in cells)
    out.append("")
    out.append(
        "Each cell: whether the backend agrees, within the case's tolerance, with unilosses on NumPy (every reduction) "
        "and with each framework's own loss in the last column (reduction='none', or the case's reduction where "
        "the framework gives only a reduced value), and the largest difference."
    )
    if grad_backends:
        out.append(
            "grad columns: the backend's autodiff in float32 against float64 finite differences of unilosses on NumPy "
            "(every reduction, with sample weights) and of the framework's own loss after 'grad:' (w.r.t. y_pred), "
            f"to rtol {_GRAD_RTOL:g} and atol {_GRAD_ATOL:g} x the largest entry; kinks (hinge corners, |x|) are skipped."
        )
    elif report["gradients_checked"]:
        out.append("Gradients: no backend with autodiff (jax, torch, tensorflow) is installed or selected.")
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
    parser.add_argument("--no-gradients", action="store_true", help="skip the gradient columns")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from unilosses.conformance import all_cases

    cases = all_cases()
    if args.loss:
        cases = [c for c in cases if c.loss in args.loss]
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else None
    t0 = time.perf_counter()
    report = run_checks(backends, cases, gradients=not args.no_gradients)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        print(format_report(report))
    return 0 if report["ok"] else 1
