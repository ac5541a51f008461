"""The conformance kit: your loss, on every installed backend, held to what a built-in is held to.

:func:`check_loss` runs your loss (a ``@unilosses.loss`` function, a
:class:`unilosses.Loss` subclass or object) on your example inputs on every
installed backend, and reports, per backend:

- values of every reduction (with the ``"stats"`` sums) against NumPy on the same
  inputs, and against your ``reference`` implementation if you give one;
- gradients on JAX, torch and TensorFlow (float32) against float64 finite
  differences of the loss on NumPy (and of the reference);
- what values cannot show (:mod:`unilosses.kit.probes`): framework, device, dtype
  and shape of the result, inputs left untouched, no transfer to the host (torch
  on its ``meta`` device, Dask computing nothing), tracing under ``jax.jit``,
  ``torch.compile(fullgraph=True)`` and ``tf.function``, 16-bit inputs computed in
  float32.

The report is ``python -m unilosses check``'s (the values and gradients come from
its :func:`unilosses.check.run_checks`: the kit builds on check's engine, :mod:`unilosses.check.run`
and :mod:`unilosses.check.report`, and check's command line, :mod:`unilosses.check.cli`, on the kit); ``python -m unilosses check --module
mypkg.losses`` checks the :class:`LossCase` list ``CASES`` of a module. Use it from
pytest with :func:`check_loss` (it raises ``AssertionError`` listing each problem
with its backend) or :func:`conformance_test` (one test per backend).
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from typing import Any, Callable, Sequence

from unilosses.kit.cases import LossCase, decides, module_cases, to_case
from unilosses.kit.probes import FAILS, explain, probe

__all__ = ["CheckReport", "LossCase", "check_cases", "check_loss", "conformance_test", "module_cases", "to_case"]


@dataclasses.dataclass
class CheckReport:
    """What :func:`check_loss` found: ``report`` is ``python -m unilosses check``'s JSON-ready report."""

    report: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when every backend passed every check."""
        return bool(self.report["ok"])

    def failures(self) -> list[str]:
        """One line per failed cell: ``"<case> on <backend>: <problems>"``."""
        out = []
        for row in self.report["rows"]:
            for part, label in (("results", ""), ("gradients", " gradient")):
                for backend, cell in row[part].items():
                    if not cell["ok"]:
                        why = cell.get("error") or _mismatch(cell, part)
                        out.append(f"{row['case']}{label} on {backend}: {why}")
        return out

    def __str__(self) -> str:
        from unilosses.check.report import WIDTH, format_report

        probes = "\n".join(textwrap.wrap(_PROBES, WIDTH))
        return format_report(self.report).replace("\nVersions: ", "\n" + probes + "\nVersions: ", 1)


_PROBES = (
    "Each backend cell also holds the kit's probes: the result's framework, device, dtype and shape; inputs "
    "untouched; no transfer to the host (torch's meta device, Dask computes); jax.jit, torch.compile(fullgraph=True), "
    "tf.function; float16 / bfloat16 inputs computed in float32."
)


def _mismatch(cell: dict[str, Any], part: str) -> str:
    if part == "gradients":
        return f"gradient differs from finite differences by {cell.get('max_diff')}"
    return (
        f"values differ from NumPy by {cell.get('max_diff_numpy'):.1e}"
        + (f", from the reference ({', '.join(cell['native'])}) by {cell['max_diff_native']:.1e}" if cell.get("native") else "")
    )


def _lead(lc: LossCase) -> int:
    fn = to_case(lc).resolve()
    names = [p.name for p in inspect.signature(fn).parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    name = decides(lc.loss)
    return names.index(name) if name in names else len(names) - 1


def _unique_ids(cases: list[Any]) -> list[Any]:
    seen: dict[str, int] = {}
    out = []
    for c in cases:
        n = seen[c.id] = seen.get(c.id, 0) + 1
        out.append(c if n == 1 else dataclasses.replace(c, id=f"{c.id}-{n}"))
    return out


def check_cases(
    cases: Sequence[LossCase],
    *,
    backends: Sequence[str] | None = None,
    gradients: bool = True,
    reference: Any = None,
    raise_on_failure: bool = True,
    jobs: int = 1,
    progress: Any = None,
) -> CheckReport:
    """Check each :class:`LossCase` (each names its loss) on every backend; see :func:`check_loss`.

    ``jobs`` and ``progress`` are :func:`unilosses.check.run_checks`' (worker processes, where
    the parent has imported no framework; the progress display).
    """
    from unilosses.check.run import run_checks

    cases = list(cases)
    conf = _unique_ids([to_case(lc, i, reference) for i, lc in enumerate(cases)])
    report = run_checks(list(backends) if backends else None, conf, gradients=gradients, jobs=jobs, progress=progress)
    for row, case, lc in zip(report["rows"], conf, cases):
        lead = _lead(lc)
        for backend, cell in row["results"].items():
            problems = probe(case, backend, lead)
            if "error" in cell and not any(p.startswith(FAILS) for p in problems):  # else: the same failure
                problems.insert(0, explain(cell["error"]))
            if problems:
                cell["ok"] = False
                cell["error"] = "; ".join(dict.fromkeys(problems))
        for cell in row["gradients"].values():
            if "error" in cell:
                cell["error"] = explain(cell["error"])
    report["ok"] = all(c["ok"] for row in report["rows"] for part in ("results", "gradients") for c in row[part].values())
    out = CheckReport(report)
    if raise_on_failure and not out.ok:
        raise AssertionError("the loss fails the conformance kit:\n  " + "\n  ".join(out.failures()))
    return out


def _as_case(loss: Any, example: Any) -> LossCase:
    if isinstance(example, LossCase):
        return example if example.loss is loss else dataclasses.replace(example, loss=loss)
    if isinstance(example, dict):
        return LossCase(loss, **example)
    return LossCase(loss, tuple(example))


def check_loss(
    loss: Any,
    cases: Sequence[Any],
    *,
    reference: Any = None,
    backends: Sequence[str] | None = None,
    gradients: bool = True,
    raise_on_failure: bool = True,
) -> CheckReport:
    """Run ``loss`` on every installed backend with your example inputs; hold it to the built-ins' rules.

    Parameters
    ----------
    loss
        A function made with ``@unilosses.loss``, a :class:`unilosses.Loss` subclass
        (``function = ...`` or a Keras-style ``call()``), a Loss object, or a callable
        with a unilosses function's signature (see :class:`LossCase`).
    cases : sequence
        Example calls: each a tuple of NumPy inputs (``(y_true, y_pred)``), a dict of
        :class:`LossCase` fields (``{"inputs": (y, p), "options": {"alpha": 0.3}}``) or a
        :class:`LossCase`.
    reference : callable or dict, optional
        An implementation to compare with, for cases without their own (see
        :class:`LossCase`): ``reference(*inputs)`` gives the per-sample values.
    backends : sequence of str, optional
        Default: :func:`unilosses.testing.available_backends`.
    gradients : bool
        Compare the gradients with finite differences (the slowest part).
    raise_on_failure : bool
        Raise ``AssertionError`` listing every problem (``"<case> on <backend>:
        <problem>"``) when one is found; else only return the report.

    Returns
    -------
    CheckReport
        ``str(report)`` is the table ``python -m unilosses check`` prints.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> from unilosses.testing import check_loss
    >>> @ul.loss()
    ... def squared(be, y_true, y_pred, *, axis=-1):
    ...     return ul.authoring.mean_over(be, (y_pred - ul.authoring.float_targets(be, y_true, y_pred)) ** 2, axis)
    >>> rng = np.random.default_rng(0)
    >>> y, p = rng.normal(size=(2, 4, 3)).astype("float32")
    >>> check_loss(squared, [(y, p)], backends=["numpy"]).ok
    True
    """
    return check_cases(
        [_as_case(loss, c) for c in cases],
        backends=backends, gradients=gradients, reference=reference, raise_on_failure=raise_on_failure,
    )


def conformance_test(
    loss: Any, cases: Sequence[Any], *, reference: Any = None, gradients: bool = True
) -> Callable[[str], None]:
    """A pytest test of ``loss``, one per installed backend: assign it to a ``test_`` name.

    ::

        # tests/test_my_losses.py
        from unilosses.testing import conformance_test
        test_focal_tversky = conformance_test(focal_tversky, [(y, p), {"inputs": (y, p), "options": {"gamma": 1.0}}])

    Each test fails with the problems :func:`check_loss` finds on its backend.
    """
    import pytest

    from unilosses.arrays import available_backends

    @pytest.mark.parametrize("unilosses_backend", available_backends())
    def test(unilosses_backend: str) -> None:
        check_loss(loss, cases, reference=reference, backends=[unilosses_backend], gradients=gradients)

    return test
