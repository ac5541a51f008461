"""The report as text that fits a terminal (about 100-120 columns); ``--json`` prints it whole.

One row per case. A values column per backend and a gradient column per
autodiff backend, each cell the largest difference found (``1e-6`` is
1e-06) or ``FAIL`` / ``ERROR``; the failures are listed below the table with
their differences and messages. The frameworks each row was compared with are
one letter each in the ``vs`` column, explained in the legend.
"""

from __future__ import annotations

import textwrap
from typing import Any

from unilosses.check.compute import GRAD_ATOL, GRAD_RTOL

#: backend -> its column heading
SHORT = {"numpy": "numpy", "array_api_strict": "strict", "jax": "jax", "torch": "torch", "tensorflow": "tf", "dask": "dask"}
#: reference framework -> its letter in the ``vs`` column, and what it calls
LETTERS = {
    "torch": ("T", "torch.nn.functional"), "keras": ("K", "keras.losses"), "optax": ("O", "optax"), "tensorflow": ("F", "tf.nn"),
    "reference": ("R", "your reference"),  # a user's own, on NumPy arrays (unilosses.kit)
}
WIDTH = 100


def compact(d: float | None) -> str:
    """A difference in 4-5 characters: ``1e-6``, ``3e2``, ``0``, ``inf``."""
    if d is None:
        return "-"
    if d == 0:
        return "0"
    if d != d or d == float("inf"):
        return str(d)
    mantissa, exponent = f"{d:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _cell(c: dict[str, Any] | None, *diffs: str) -> str:
    if c is None:
        return "-"
    if not c["ok"]:
        return "ERROR" if "error" in c and all(c.get(k) is None for k in diffs) else "FAIL"
    return compact(max((c.get(k) or 0.0) for k in diffs))


def _largest(c: dict[str, Any], *diffs: str) -> str:
    values = [float(c[k]) for k in diffs if c.get(k) is not None]
    return f"{max(values):.0e}" if values else "none"


def _letters(frameworks: Any) -> str:
    return "".join(LETTERS[f][0] for f in sorted(frameworks, key=list(LETTERS).index) if f in LETTERS)


def format_report(report: dict[str, Any]) -> str:
    backends = report["backends"]
    grads = report.get("gradient_backends", [])
    head = ["case", *(SHORT.get(b, b) for b in backends), *(SHORT.get(b, b) for b in grads), "vs"]
    lines = []
    for row in report["rows"]:
        natives = {fw for c in row["results"].values() for fw in c["native"]}
        grad_natives = {g["native"] for g in row["gradients"].values() if g.get("native")}
        vs = _letters(natives) + ("/" + _letters(grad_natives) if row["gradients"] else "")
        lines.append([
            row["case"],
            *(_cell(row["results"][b], "max_diff_numpy", "max_diff_native") for b in backends),
            *(_cell(row["gradients"].get(b), "max_diff", "max_diff_native") for b in grads),
            vs,
        ])
    widths = [max([len(head[i])] + [len(r[i]) for r in lines]) for i in range(len(head))]
    n_values = len(backends)

    def join(cells: list[str]) -> str:
        parts = [cells[0].ljust(widths[0]), " ".join(c.ljust(w) for c, w in zip(cells[1 : 1 + n_values], widths[1 : 1 + n_values]))]
        if grads:
            parts.append(" ".join(c.ljust(w) for c, w in zip(cells[1 + n_values : -1], widths[1 + n_values : -1])))
        parts.append(cells[-1])
        return " | ".join(parts).rstrip()

    values_w = sum(widths[1 : 1 + n_values]) + n_values - 1
    group = "".ljust(widths[0]) + " | " + "values".center(values_w)
    if grads:
        grads_w = sum(widths[1 + n_values : -1]) + len(grads) - 1
        group += " | " + "gradients".center(grads_w)
    out = [group.rstrip(), join(head), join(["-" * w for w in widths])]
    out += [join(r) for r in lines]
    out.append("")
    out += _legend(report, backends, grads)
    return "\n".join(out)


def _legend(report: dict[str, Any], backends: list[str], grads: list[str]) -> list[str]:
    renamed = [f"{SHORT[b]} = {b}" for b in backends if SHORT.get(b, b) != b]
    text = [
        "values: the largest difference of each backend from unilosses on NumPy (every reduction) and from the frameworks' "
        "own losses in vs (reduction='none'); FAIL: outside the case's tolerance, ERROR: it raised."
        + (f" ({', '.join(renamed)})" if renamed else ""),
    ]
    if grads:
        text.append(
            "gradients: the backend's float32 autodiff against float64 finite differences of unilosses on NumPy "
            "(every reduction, with sample weights, entry by entry) and of the framework's own loss after the / in vs "
            f"(w.r.t. y_pred, along 3 random directions), to rtol {GRAD_RTOL:g} and atol {GRAD_ATOL:g} x the largest entry; "
            "kinks (hinge corners, |x|) are skipped."
        )
    elif report["gradients_checked"]:
        text.append("Gradients: no backend with autodiff (jax, torch, tensorflow) is installed or selected.")
    used = {fw for row in report["rows"] for c in row["results"].values() for fw in c["native"]}
    text.append("vs: " + ", ".join(f"{letter} {name}" for fw, (letter, name) in LETTERS.items() if fw != "reference" or fw in used) + ".")
    out = [w for t in text for w in textwrap.wrap(t, WIDTH)]
    failures = _failures(report)
    if failures:
        out.append("Failures:")
        out += [w for f in failures for w in textwrap.wrap(f, WIDTH, initial_indent="  ", subsequent_indent="    ")]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    out += textwrap.wrap("Versions: " + versions, WIDTH)
    cells = [c for row in report["rows"] for part in ("results", "gradients") for c in row[part].values()]
    n_bad = sum(not c["ok"] for c in cells)
    summary = f"{len(cells) - n_bad} passed, {n_bad} failed"
    if "seconds" in report:
        jobs = report.get("jobs", 1)
        summary += f" in {report['seconds']:.0f} s ({report.get('cpu_seconds', 0):.0f} s CPU, {jobs} process{'es' if jobs > 1 else ''})"
    out.append(summary)
    return out


def _failures(report: dict[str, Any]) -> list[str]:
    out = []
    for row in report["rows"]:
        for part, diffs in (("results", ("max_diff_numpy", "max_diff_native")), ("gradients", ("max_diff", "max_diff_native"))):
            for b, c in row[part].items():
                if c["ok"]:
                    continue
                where = f"{row['case']}{' gradient' if part == 'gradients' else ''} on {b}"
                out.append(f"{where}: {c.get('error', 'outside the tolerance')} (largest difference {_largest(c, *diffs)})")
    return out
