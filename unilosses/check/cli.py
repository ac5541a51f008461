"""``python -m unilosses check [--backends ...] [--loss NAME] [--quick] [--jobs N] [--json] [--no-gradients] [--module M]``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from unilosses.arrays import AUTODIFF, available_backends
from unilosses.check.progress import Progress
from unilosses.check.report import format_report
from unilosses.check.run import can_fork, run_checks, usable_cores

#: XLA's CPU compiler settings for the check's small programs: optimisation level 0 without the
#: expensive LLVM passes, one compute thread; each compile takes about half the time at default
#: settings, with the same results within the cases' tolerances. Only flags that every XLA since
#: the oldest releases we support knows (jaxlib 0.4.35, TensorFlow 2.16): XLA aborts the process on
#: a flag it does not know (newer ones, ``--xla_cpu_use_fusion_emitters`` and
#: ``--xla_cpu_parallel_codegen_split_count``, would save another tenth). A user's own XLA_FLAGS
#: replace them.
CHEAP_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true --xla_cpu_multi_thread_eigen=false"


def keras_on_tensorflow() -> str:
    """Make the check's processes run Keras' references on its TensorFlow backend, where they are
    exact in float64 (on JAX without x64 and on torch Keras computes in float32, and its finite
    differences would be wrong by 1e-2), whatever the user's ``KERAS_BACKEND``; without TensorFlow,
    Keras' values are still compared and its gradients are not (:mod:`unilosses.check.compute`).
    Returns a note for the progress line when the user's setting is overridden or not exact."""
    import importlib.util

    wanted = os.environ.get("KERAS_BACKEND", "tensorflow")
    if importlib.util.find_spec("tensorflow") is not None:
        os.environ["KERAS_BACKEND"] = "tensorflow"
        return "" if wanted == "tensorflow" else f"Keras references on TensorFlow (float64), not KERAS_BACKEND={wanted}"
    return "" if wanted == "tensorflow" else f"Keras references on {wanted}: values only (no float64 gradients there)"


def select_cases(losses: list[str] | None = None, quick: bool = False) -> list[Any]:
    """The conformance cases, only those of ``losses`` if given; with ``quick``, the first case of each loss."""
    from unilosses.conformance import all_cases, first_case_per_loss

    cases = all_cases()
    if losses:
        cases = [c for c in cases if c.loss in losses]
    return first_case_per_loss(cases) if quick else cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unilosses check",
        description="Run every loss on every installed backend and compare with NumPy and with each framework's own loss.",
    )
    parser.add_argument("--backends", help="comma-separated subset of backends (default: all installed)")
    parser.add_argument("--loss", action="append", help="only cases of this loss (repeatable)")
    parser.add_argument("--quick", action="store_true", help="one case per loss (a smoke test)")
    parser.add_argument(
        "--jobs", type=int, default=None,
        help="worker processes (default: the usable cores, at most 4; each imports the frameworks it runs, "
        "up to 1.3 GB; 1 runs in this process)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-gradients", action="store_true", help="skip the gradient columns")
    parser.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    parser.add_argument(
        "--module", action="append",
        help="check your own losses instead: the unilosses.testing.LossCase list CASES of this module (repeatable)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras_note = keras_on_tensorflow()
    os.environ.setdefault("XLA_FLAGS", CHEAP_XLA)
    if args.module:  # your own losses: unilosses.kit builds the cases, run_checks and format_report do the rest
        from unilosses.kit import main_module  # the kit sits above check's engine, below this command line

        return main_module(args)
    cases = select_cases(args.loss, args.quick)
    if not cases:
        parser.error(f"--loss: no conformance case for {', '.join(args.loss)}")
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else available_backends()
    jobs = args.jobs if args.jobs is not None else min(usable_cores(), 4)
    workers = max(1, min(jobs, len(cases))) if can_fork() else 1
    progress = Progress(len(cases), enabled=not args.no_progress)
    grads = [] if args.no_gradients else [b for b in backends if b in AUTODIFF]
    progress.say(
        f"unilosses check: {len(cases)} case{'s' if len(cases) != 1 else ''} on {', '.join(backends)}"
        + (f"; gradients on {', '.join(grads)}" if grads else "")
        + (f"; {workers} worker processes" if workers > 1 else "; in this process")
        + (f"; {keras_note}" if keras_note else "")
    )
    report = run_checks(backends, cases, gradients=not args.no_gradients, jobs=jobs, progress=progress)
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        print(format_report(report))
    return 0 if report["ok"] else 1
