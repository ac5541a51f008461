"""The report as text; ``--json`` prints it whole.

The default view (:func:`format_compact`) fits 100 columns: one line per loss, one
cell per backend holding the largest difference over every case of the loss, its
values and, on the autodiff backends, its gradients (``1e-6`` is 1e-06), or
``FAIL n`` / ``ERR n`` (how many cases); below it, the details of what failed
and of what was not compared (a reference the installed release lacks). The full
view (:func:`format_report`, ``check --full``, the kit's) has one row per case, a values
column per backend and a gradient column per autodiff backend. In both the
frameworks a loss was compared with are one letter each in the ``vs`` column,
explained in the legend.
"""

from __future__ import annotations

import textwrap
from typing import Any

from unilosses.check.compute import GRAD_ATOL, GRAD_RTOL
from unilosses.conformance import REFERENCE_PACKAGES

#: backend -> its column heading
SHORT = {"numpy": "numpy", "array_api_strict": "strict", "jax": "jax", "torch": "torch", "tensorflow": "tf", "dask": "dask"}
#: reference framework -> its letter in the ``vs`` column, and what it calls
LETTERS = {
    "torch": ("T", "torch.nn.functional"), "keras": ("K", "keras.losses"), "optax": ("O", "optax"), "tensorflow": ("F", "tf.nn"),
    "monai": ("M", "monai.losses"), "pml": ("P", "pytorch_metric_learning.losses"),
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


def _letter(fw: str) -> tuple[str, str]:
    """(letter, what it calls) of a reference; one not in :data:`LETTERS` goes by its initial and name."""
    return LETTERS.get(fw, (fw[:1].upper(), fw))


def _order(fw: str) -> tuple[int, str]:
    return (list(LETTERS).index(fw) if fw in LETTERS else len(LETTERS), fw)


def _letters(frameworks: Any) -> str:
    return "".join(_letter(f)[0] for f in sorted(frameworks, key=_order))


def format_report(report: dict[str, Any]) -> str:
    """The full table: one row per case, a column per backend and per gradient backend (``check --full``,
    and the kit's :class:`~unilosses.kit.CheckReport`)."""
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
    out += _legend(report, backends, grads, full=True)
    return "\n".join(out)


def format_compact(report: dict[str, Any]) -> str:
    """``check``'s default view: one line per loss, a cell per backend, details only for what failed or was
    not compared; at most :data:`WIDTH` columns."""
    backends = report["backends"]
    grads = report.get("gradient_backends", [])
    by_loss: dict[str, list[dict[str, Any]]] = {}
    for row in report["rows"]:
        by_loss.setdefault(row["loss"], []).append(row)
    head = ["loss", "cases", *(SHORT.get(b, b) for b in backends), "vs"]
    lines = []
    for loss, rows in by_loss.items():
        natives = {fw for row in rows for c in row["results"].values() for fw in c["native"]}
        grad_natives = {g["native"] for row in rows for g in row["gradients"].values() if g.get("native")}
        has_grads = any(row["gradients"] for row in rows)
        vs = _letters(natives) + ("/" + _letters(grad_natives) if has_grads else "")
        lines.append([loss, str(len(rows)), *(_loss_cell(rows, b) for b in backends), vs])
    widths = [max([len(head[i])] + [len(r[i]) for r in lines]) for i in range(len(head))]
    room = WIDTH - sum(widths[1:]) - len(widths[1:])  # the loss names are cut to what is left
    widths[0] = min(widths[0], max(room, 12))

    def join(cells: list[str]) -> str:
        name = cells[0] if len(cells[0]) <= widths[0] else cells[0][: widths[0] - 1] + "~"
        return " ".join([name.ljust(widths[0]), cells[1].rjust(widths[1])] + [c.ljust(w) for c, w in zip(cells[2:], widths[2:])]).rstrip()

    out = [join(head)] + [join(r) for r in lines] + [""]
    out += _legend(report, backends, grads, full=False)
    return "\n".join(out)


def _loss_cell(rows: list[dict[str, Any]], backend: str) -> str:
    """Backend ``backend``'s cell for a loss: its largest difference over every case (values and gradients),
    or how many cases failed (``FAIL n``) or raised (``ERR n``)."""
    cells = [(c, diffs) for row in rows for c, diffs in (
        (row["results"].get(backend), ("max_diff_numpy", "max_diff_native")),
        (row["gradients"].get(backend), ("max_diff", "max_diff_native")),
    ) if c is not None]
    if not cells:
        return "-"
    bad = [row for row in rows if any(not c["ok"] for c in (row["results"].get(backend), row["gradients"].get(backend)) if c)]
    if bad:
        raised = all(
            "error" in c and all(c.get(k) is None for k in ("max_diff", "max_diff_native"))
            and not c.get("max_diff_numpy")
            for row in bad for c in (row["results"].get(backend), row["gradients"].get(backend)) if c and not c["ok"]
        )
        return f"{'ERR' if raised else 'FAIL'} {len(bad)}"
    return compact(max(float(c.get(k) or 0.0) for c, diffs in cells for k in diffs))


def _vs_legend(report: dict[str, Any]) -> str:
    """The letters used in the ``vs`` column; a user's own references (``check --module``) named as such."""
    used = {fw for row in report["rows"] for c in row["results"].values() for fw in c["native"]}
    used |= {g["native"] for row in report["rows"] for g in row["gradients"].values() if g.get("native")}
    own = report.get("own_losses", False)
    names = []
    for fw in sorted(used, key=_order):
        letter, name = _letter(fw)
        names.append(f"{letter} {'your reference' if fw == 'reference' else f'your {fw} reference' if own else name}")
    return "vs: " + ", ".join(names) + "." if names else ""


def _legend(report: dict[str, Any], backends: list[str], grads: list[str], *, full: bool) -> list[str]:
    renamed = [f"{SHORT[b]} = {b}" for b in backends if SHORT.get(b, b) != b]
    grad_text = (
        "float32 autodiff against float64 finite differences along 3 random directions v (v . gradient against "
        "the central difference along v, as torch's gradcheck fast mode) of unilosses on NumPy (every reduction, "
        "with sample weights, w.r.t. every float input) and of the framework's own loss after the / in vs "
        f"(w.r.t. y_pred), to rtol {GRAD_RTOL:g} and atol {GRAD_ATOL:g} x the largest entry x sum |v|; "
        "kinks (hinge corners, |x|) are skipped."
    )
    if full:
        text = [
            "values: the largest difference of each backend from unilosses on NumPy (every reduction) and from the frameworks' "
            "own losses in vs (reduction='none', or the case's reduction where the framework gives only a reduced value); "
            "FAIL: outside the case's tolerance, ERROR: it raised." + (f" ({', '.join(renamed)})" if renamed else ""),
        ]
        if grads:
            text.append("gradients: the backend's " + grad_text)
    else:
        text = [
            "Each cell: the largest difference over the loss's cases of the backend's values from unilosses on NumPy "
            "(every reduction) and from the frameworks' own losses in vs"
            + (f"; on {', '.join(SHORT.get(b, b) for b in grads)} also of its gradients: " + grad_text if grads else ".")
            + " FAIL n / ERR n: n cases outside the tolerance / that raised (listed below); --full: one row per case."
            + (f" ({', '.join(renamed)})" if renamed else ""),
        ]
    if report.get("dask_first_only"):
        text.append("dask: every reduction on the first case of each loss, 'none' and the case's reduction on the others.")
    if not grads and report["gradients_checked"]:
        text.append("Gradients: no backend with autodiff (jax, torch, tensorflow) is installed or selected.")
    text.append(_vs_legend(report))
    out = [w for t in text if t for w in textwrap.wrap(t, WIDTH)]
    failures = _failures(report)
    if failures:
        out.append("Failures:")
        out += [w for f in failures for w in textwrap.wrap(f, WIDTH, initial_indent="  ", subsequent_indent="    ")]
    skipped = _skipped(report)
    if skipped:
        out.append("Not compared:")
        out += [w for f in skipped for w in textwrap.wrap(f, WIDTH, initial_indent="  ", subsequent_indent="    ")]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    out += textwrap.wrap("Versions: " + versions, WIDTH)
    cells = [c for row in report["rows"] for part in ("results", "gradients") for c in row[part].values()]
    n_bad = sum(not c["ok"] for c in cells)
    summary = f"{len(cells) - n_bad} passed, {n_bad} failed"
    if "seconds" in report:
        jobs = report.get("jobs", 1)
        summary += f" in {report['seconds']:.0f} s ({report.get('cpu_seconds', 0):.0f} s CPU, {jobs} process{'es' if jobs > 1 else ''})"
        cached, parts = report.get("references_cached", (0, 0))
        if cached:
            summary += f"; {cached} of {parts} reference parts from the cache"
    out += textwrap.wrap(summary, WIDTH)
    return out


def _skipped(report: dict[str, Any]) -> list[str]:
    """One line per reference not compared: its package not installed, or its release without the loss."""
    missing: dict[str, list[str]] = {}
    out = []
    for row in report["rows"]:
        for fw in row.get("not_installed", []):
            missing.setdefault(fw, []).append(row["case"])
        for fw, why in row.get("skipped", {}).items():
            out.append(f"{row['case']} against {fw}: {why}")
    for fw, cases in missing.items():
        package = REFERENCE_PACKAGES[fw].package if fw in REFERENCE_PACKAGES else fw
        out.append(f"{len(cases)} case{'s' if len(cases) > 1 else ''} against {fw}: {package} is not installed (pip install {package})")
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
