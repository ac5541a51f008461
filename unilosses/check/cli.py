"""``python -m unilosses check [--backends ...] [--loss NAME] [--quick] [--jobs N] [--full] [--json] [--no-gradients]
[--no-progress] [--no-cache] [--module M]``."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from unilosses.arrays import AUTODIFF, BACKENDS, available_backends
from unilosses.check.cache import NO_CACHE_ENV, cache_dir, enabled
from unilosses.check.progress import Progress
from unilosses.check.report import format_compact, format_report
from unilosses.check.run import can_fork, prepare, run_checks, usable_cores

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


def did_you_mean(what: str, given: list[str], known: Any) -> str | None:
    """A one-line refusal naming the entries of ``given`` not in ``known``, with the closest known names;
    None when every one is known."""
    import difflib

    known = list(known)
    unknown = [g for g in given if g not in known]
    if not unknown:
        return None
    hints = []
    for u in unknown:
        close = difflib.get_close_matches(u, known, n=3, cutoff=0.6)
        hints.append(f"{u!r}" + (f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""))
    listed = f"; known: {', '.join(known)}" if len(known) <= 12 else ""
    return f"{what}: unknown {', '.join(hints)}{listed}"


def build_parser() -> argparse.ArgumentParser:
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
    parser.add_argument("--full", action="store_true", help="one row per case, a column per backend and per gradient")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-gradients", action="store_true", help="skip the gradient columns")
    parser.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    parser.add_argument(
        "--no-cache", action="store_true",
        help=f"trace and compile afresh: do not use the cache of JAX's programs and Dask's graphs in "
        f"{cache_dir() or '~/.cache/unilosses'} (also: {NO_CACHE_ENV}=1)",
    )
    parser.add_argument(
        "--module", action="append",
        help="check your own losses instead: the unilosses.testing.LossCase list CASES of this module (repeatable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.no_cache:
        os.environ[NO_CACHE_ENV] = "1"
    backends = [b.strip() for b in args.backends.split(",") if b.strip()] if args.backends else None
    if backends is not None:
        refusal = did_you_mean("--backends", backends, BACKENDS)
        if refusal:
            parser.error(refusal)
        installed = available_backends_installed()
        absent = [b for b in backends if b not in installed]
        if absent:
            parser.error(f"--backends: {', '.join(absent)} not installed here (installed: {', '.join(installed)})")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs: expected a number of processes >= 1, got {args.jobs}")
    if args.module:  # your own losses: unilosses.kit builds the cases, run_checks and format_report do the rest
        return _main_module(parser, args)
    keras_note = keras_on_tensorflow()
    os.environ.setdefault("XLA_FLAGS", CHEAP_XLA)
    if args.loss:
        from unilosses.conformance import all_cases

        refusal = did_you_mean("--loss", args.loss, dict.fromkeys(c.loss for c in all_cases()))
        if refusal:
            parser.error(refusal)
    cases = select_cases(args.loss, args.quick)
    backends = backends or available_backends()
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
    with enabled():
        report = run_checks(
            backends, cases, gradients=not args.no_gradients, jobs=jobs, progress=progress, dask_first_only=True
        )
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        print(format_report(report) if args.full else format_compact(report))
    return 0 if report["ok"] else 1


def available_backends_installed() -> list[str]:
    """The installed backends, whatever ``UNILOSSES_BACKENDS`` says (``--backends`` chooses among them)."""
    import importlib.util

    return [b for b in BACKENDS if importlib.util.find_spec("dask" if b == "dask" else b) is not None]


def _main_module(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``check --module M``: the module's cases checked by the kit; a module that cannot be imported,
    or holds no ``CASES``, is one line (exit 2), not a traceback."""
    import importlib

    for name in args.module:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            parser.exit(2, f"{parser.prog}: error: --module {name}: cannot import it ({exc}); check that it is on "
                           f"sys.path (run from the directory that holds it, or set PYTHONPATH) and spelt as you import it\n")
        except Exception as exc:
            parser.exit(2, f"{parser.prog}: error: --module {name}: importing it raised {type(exc).__name__}: {exc}\n")
        if not isinstance(getattr(module, "CASES", None), (list, tuple)):
            parser.exit(2, f"{parser.prog}: error: --module {name}: no list CASES of unilosses.testing.LossCase in "
                           f"{getattr(module, '__file__', name)}\n")
    keras_on_tensorflow()
    os.environ.setdefault("XLA_FLAGS", CHEAP_XLA)
    # the kit sits above check's engine, below this command line
    from unilosses.kit import check_cases, module_cases, to_case

    cases = [c for name in args.module for c in module_cases(name)]
    if args.loss:
        refusal = did_you_mean("--loss", args.loss, dict.fromkeys(to_case(c).loss for c in cases))
        if refusal:
            parser.error(refusal)
        cases = [c for c in cases if to_case(c).loss in args.loss]
    if args.quick:  # the first case of each loss
        first: dict[str, Any] = {}
        for c in cases:
            first.setdefault(to_case(c).loss, c)
        cases = list(first.values())
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else available_backends()
    jobs = args.jobs if args.jobs is not None else min(usable_cores(), 4)
    progress = _ProbesProgress(len(cases), enabled=not args.no_progress)
    progress.backends = backends
    progress.say(f"unilosses check: {len(cases)} case{'s' if len(cases) != 1 else ''} of {', '.join(args.module)} "
                 f"on {', '.join(backends)}")
    t0, cpu0 = time.perf_counter(), _cpu()
    with enabled():
        result = check_cases(
            cases, backends=backends, gradients=not args.no_gradients, raise_on_failure=False, jobs=jobs, progress=progress
        )
    # the probes run in this process after run_checks: the totals count them too
    result.report["seconds"] = round(time.perf_counter() - t0, 2)
    result.report["cpu_seconds"] = round(_cpu() - cpu0, 2)
    print(json.dumps(result.report, indent=1, default=str) if args.json else str(result))
    return 0 if result.ok else 1


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class _ProbesProgress(Progress):
    """``check --module``'s progress: once the cases are done, the kit probes each backend in this
    process (``jax.jit``, ``torch.compile``, ``tf.function``...), which takes a while: say so, and load
    the frameworks with their C++ log lines silenced."""

    backends: list[str] = []

    def finish(self) -> None:
        super().finish()
        self.say(f"{self.label}: probing each backend in this process (jax.jit, torch.compile, tf.function, 16-bit inputs)")
        prepare({b for b in self.backends if b != "numpy"})
