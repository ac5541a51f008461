"""Running the cases: in this process, or shared out over worker processes, with progress.

Each case is split into parts (:mod:`unilosses.check.compute`): unilosses on
NumPy with its finite differences, the frameworks' own losses (one part per
framework they run on: torch's, pml's and MONAI's on torch, optax's on JAX,
Keras' and tf.nn's on TensorFlow), and one part per backend. ``jobs`` worker processes take parts from the parent one at a
time and send back plain data; the parent compares the parts of a case as
soon as they are all in, and draws the progress display.

Which part goes to which worker: TensorFlow (the TensorFlow backend, Keras and
tf.nn references) costs seconds to import and a few hundred MB, so its parts
go to one worker (the first) and the others do the rest; past those, each
worker takes the earliest case's next part, so cases finish in order and the
load balances itself whatever the machine, the backends or the cases. The
workers are forked from a parent that has imported no framework (only NumPy
and unilosses), each imports what its parts need. Where fork is unsafe (a
parent that has already imported JAX, torch or TensorFlow, or a platform other
than Linux) the cases run in this process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import sys
import time
from typing import Any, Iterator

from unilosses.arrays import AUTODIFF, available_backends
from unilosses.check.cache import use_jax_cache
from unilosses.check.compute import Setup, assemble, run_part
from unilosses.check.progress import Progress
from unilosses.conformance import REFERENCE_PACKAGES, Case, reference_installed

_VERSION_PACKAGES = (
    "numpy", "array-api-compat", "array-api-strict", "jax", "torch", "tensorflow", "tensorflow-cpu", "keras", "optax", "dask",
)
#: the framework whose parts stay on one worker: the costly import
_HEAVY = "tensorflow"
#: pending TensorFlow parts beyond which another idle worker imports it too and helps
_STEAL_HEAVY = 40
#: rough relative CPU costs of importing each framework (with the reference packages run on it: MONAI and
#: pml on torch, optax on JAX, Keras on TensorFlow), to avoid importing again what another worker holds
_IMPORT_COST = {"tensorflow": 5.0, "torch": 4.0, "jax": 1.0, "dask": 0.7}


def versions() -> dict[str, str]:
    import unilosses

    out = {"unilosses": unilosses.__version__, "python": sys.version.split()[0]}
    for pkg in _VERSION_PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether worker processes can be forked safely from this process."""
    # JAX, torch and TensorFlow start thread pools on import: a fork of them may hang
    return sys.platform.startswith("linux") and not any(fw in sys.modules for fw in AUTODIFF)


def run_checks(
    backends: list[str] | None = None,
    cases: list[Case] | None = None,
    gradients: bool = True,
    *,
    jobs: int = 1,
    progress: Progress | None = None,
    dask_first_only: bool = False,
) -> dict[str, Any]:
    """Run every case on every backend; returns a JSON-ready report.

    ``jobs > 1`` shares the work out over that many worker processes (where
    :func:`can_fork`); ``progress`` shows what is done as it happens. With
    ``dask_first_only`` (the command line on the catalogue) Dask computes every reduction
    on the first case of each loss only, ``"none"`` and the case's reduction on the others
    (see :mod:`unilosses.check.compute`); else every reduction on every case.
    """
    from unilosses.conformance import all_cases, first_case_per_loss

    backends = backends or available_backends()
    cases = cases if cases is not None else all_cases()
    refs_available = {fw: reference_installed(fw) for fw in REFERENCE_PACKAGES}
    progress = progress or Progress(len(cases), enabled=False)
    t0, cpu0, children0 = time.perf_counter(), time.process_time(), _children_cpu()
    firsts = {id(c) for c in (first_case_per_loss(cases) if dask_first_only else cases)}
    setups = [Setup(case, backends, refs_available, gradients, first=id(case) in firsts) for case in cases]
    cpu: dict[str, float] = {}
    by_worker: dict[int, float] = {}
    imports: dict[int, dict[str, float]] = {}  # worker -> framework -> CPU seconds of its import
    jobs = max(1, min(jobs, len(cases)))
    if jobs > 1 and can_fork():
        rows = _parallel(setups, jobs, progress, cpu, by_worker, imports)
    else:
        jobs = 1
        rows = []
        for s in setups:
            parts = {}
            for part in s.parts():
                progress.working(0, f"{s.case.id} [{part}]")
                start = time.process_time()
                imports.setdefault(0, {}).update(prepare(s.needs(part)))
                parts[part] = run_part(s, part)
                cpu[part] = cpu.get(part, 0.0) + time.process_time() - start
            rows.append(assemble(s, parts))
            progress.case_done(0, _row_ok(rows[-1]))
    progress.finish()
    grad_backends = [b for b in backends if gradients and any(b in row["gradients"] for row in rows)]
    return {
        "ok": all(_row_ok(row) for row in rows), "backends": backends, "gradients_checked": gradients,
        "gradient_backends": grad_backends, "rows": rows, "versions": versions(), "jobs": jobs,
        "own_losses": any(c.function is not None for c in cases),
        "dask_first_only": dask_first_only and "dask" in backends and len(firsts) < len(cases),
        # the references parts (the frameworks' own losses) read from the cache, of all of them
        "references_cached": [sum(len(s.stored) for s in setups), sum(len(s.ref_groups) for s in setups)],
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - cpu0 + _children_cpu() - children0, 2),
        "cpu_seconds_by_part": {k: round(v, 2) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])},
        "cpu_seconds_by_worker": [round(v, 2) for v in by_worker.values()],
        "import_cpu_seconds_by_worker": [{fw: round(t, 2) for fw, t in imports.get(w, {}).items()} for w in by_worker or imports],
    }


def _row_ok(row: dict[str, Any]) -> bool:
    return all(c["ok"] for part in ("results", "gradients") for c in row[part].values())


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


# -------------------------------------------------------------- imports
#: the module a framework's parts import first
_IMPORT = {"dask": "dask.array"}


@contextlib.contextmanager
def quiet_fd2() -> Iterator[None]:
    """File descriptor 2 sent to /dev/null: the C++ log lines TensorFlow (absl) writes while it loads
    (``WARNING: All log messages before absl::InitializeLog()...``, ``I0000 ... oneDNN ...``) bypass
    ``TF_CPP_MIN_LOG_LEVEL`` and Python alike."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def prepare(frameworks: set[str]) -> dict[str, float]:
    """Import ``frameworks`` (those of a part, :meth:`Setup.needs`) with their load-time C++ logging
    silenced, and point JAX at its persistent compilation cache (:mod:`unilosses.check.cache`).
    A framework that fails to import is left to the part, which reports the error. Returns the CPU
    seconds of each import made here (none for those already imported)."""
    import importlib

    took = {}
    for fw in sorted(frameworks):
        name = _IMPORT.get(fw, fw)
        if name in sys.modules:
            continue
        start = time.process_time()
        try:
            with quiet_fd2():
                importlib.import_module(name)
        except Exception:
            continue
        if fw == "jax":
            use_jax_cache()
        took[fw] = time.process_time() - start
    return took


# -------------------------------------------------------------- workers
def _worker(conn: Any, setups: list[Setup]) -> None:
    """Compute the parts the parent sends (case index, part), one at a time, until it sends None."""
    # The parts are tiny: one thread per worker (the workers already share the cores).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(var, "1")
    while True:
        task = conn.recv()
        if task is None:
            return
        i, part = task
        start = time.process_time()
        imports = prepare(setups[i].needs(part))
        out = run_part(setups[i], part)
        conn.send((i, part, out, time.process_time() - start, imports))


class _Scheduler:
    """Which part a worker takes next (see the module docstring)."""

    def __init__(self, setups: list[Setup]) -> None:
        self.setups = setups
        self.pending = [(i, p) for i, s in enumerate(setups) for p in s.parts()]
        self.home: Any = None  # the worker holding the heavy framework's parts
        self.imported: dict[Any, set[str]] = {}

    def heavy(self, task: tuple[int, str]) -> bool:
        return _HEAVY in self.setups[task[0]].needs(task[1])

    def next(self, worker: Any) -> tuple[int, str] | None:
        imported = self.imported.setdefault(worker, set())
        if self.home is None:
            self.home = worker
        home = worker == self.home or _HEAVY in imported

        elsewhere = set().union(*(fws for w, fws in self.imported.items() if w != worker))

        def key(task: tuple[int, str]) -> tuple[bool, float, int, int]:
            # the home worker takes the heavy parts first; everyone then avoids importing again what another
            # worker has imported (the cheapest such import first), then takes the earliest case, then the
            # part that imports the least
            new = self.setups[task[0]].needs(task[1]) - imported
            again = sum(_IMPORT_COST.get(fw, 0.1) for fw in new & elsewhere)
            return (home and not self.heavy(task), again, task[0], len(new))

        candidates = self.pending if home else [t for t in self.pending if not self.heavy(t)]
        if not candidates and len(self.pending) >= _STEAL_HEAVY:  # enough heavy parts left to be worth the import
            candidates = self.pending
        if not candidates:
            return None
        task = min(candidates, key=key)
        self.pending.remove(task)
        imported |= self.setups[task[0]].needs(task[1])
        return task

    def lost(self, worker: Any) -> None:
        """``worker`` is gone: another may take the heavy parts."""
        if self.home == worker:
            self.home = None


def _parallel(
    setups: list[Setup], jobs: int, progress: Progress, cpu: dict[str, float], by_worker: dict[int, float],
    imports: dict[int, dict[str, float]],
) -> list[dict[str, Any]]:
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork")
    sched = _Scheduler(setups)
    parts: list[dict[str, Any]] = [{} for _ in setups]
    rows: dict[int, dict[str, Any]] = {}
    workers: dict[Any, tuple[Any, tuple[int, str] | None]] = {}  # connection -> (process, the part it computes)
    for _ in range(jobs):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, setups), daemon=True)
        proc.start()
        child.close()
        workers[parent] = (proc, None)

    def finish(i: int, part: str, out: dict[str, Any]) -> None:
        parts[i][part] = out
        if len(parts[i]) == len(setups[i].parts()):
            rows[i] = assemble(setups[i], parts[i])
            progress.case_done(("case", i), _row_ok(rows[i]))

    def give(conn: Any) -> None:
        proc, _ = workers[conn]
        task = sched.next(conn)
        conn.send(task)
        workers[conn] = (proc, task)
        if task is None:
            del workers[conn]
            proc.join()
            progress.doing.pop(proc.pid, None)
        else:
            progress.working(proc.pid, f"{setups[task[0]].case.id} [{task[1]}]")

    try:
        for conn in list(workers):
            give(conn)
        while workers:
            ready: list[Any] = wait(list(workers), timeout=0.25)
            for conn in ready:
                proc, task = workers[conn]
                try:
                    i, part, out, seconds, took = conn.recv()
                except EOFError:  # the worker died: its part fails, the others go on
                    proc.join()
                    del workers[conn]
                    progress.doing.pop(proc.pid, None)
                    sched.lost(conn)
                    if task is not None:
                        finish(*task, {"error": f"worker process died (exit code {proc.exitcode})"})
                    if not workers:  # none left: the rest fail the same way
                        for t in sched.pending:
                            finish(*t, {"error": "no worker process left"})
                    continue
                cpu[part] = cpu.get(part, 0.0) + seconds
                by_worker[proc.pid] = by_worker.get(proc.pid, 0.0) + seconds
                imports.setdefault(proc.pid, {}).update(took)
                finish(i, part, out)
                give(conn)
            progress.update()
    finally:
        for proc, _ in workers.values():
            proc.kill()
            proc.join()
    return [rows[i] for i in range(len(setups))]
