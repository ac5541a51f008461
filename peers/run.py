"""``python -m peers``: run Keras', optax's and tf-keras' own loss tests against unilosses, compare with the list.

One pytest process per suite and Keras backend (``KERAS_BACKEND`` is fixed per
process), ``--jobs`` of them at a time. Each test ends as one of:

- ``passed``: it passed on unilosses, with no fallback;
- ``missing``: it needed a loss or option unilosses lacks and ran on the framework's own
  (or stopped there, ``--fallback stop``); never counted as passed;
- ``deliberate``: it failed, and :mod:`peers.expected` lists it as a deliberate
  difference (named in the README's "Known disagreements");
- ``defect``: it failed, and :mod:`peers.expected` lists it as a known defect (an issue
  12 item, or a new one with its reproduction);
- ``skipped``: the suite itself skipped it (a backend it does not run on);
- ``FAILED``: it failed and is not listed. ``STALE``: it is listed but did not fail.

The exit status is 1 on any FAILED or STALE test, on a listed deliberate difference the
README does not name, and on a suite that did not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peers import expected as expected_module
from peers.suites import SUITES, Suite, build, child_env, repo_root

CATEGORIES = ("passed", "deliberate", "defect", "missing", "skipped", "FAILED", "STALE")


@dataclass
class Run:
    suite: str
    backend: str | None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    returncode: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    log: str = ""

    @property
    def label(self) -> str:
        return self.suite if self.backend is None else f"{self.suite}[{self.backend}]"


def _run_pytest(suite: Suite, backend: str | None, directory: Path, mode: str, extra: list[str]) -> Run:
    run = Run(suite.name, backend)
    report = directory / f"report-{run.label}.json"
    cmd = [
        sys.executable, "-m", "pytest", "-p", "peers.plugin", f"--peers-report={report}",
        "-c", str(directory / "pytest.ini"), "--rootdir", str(directory),
        "-p", "no:cacheprovider", "-q", "-rN", "--tb=line", suite.name,
        *(f"--deselect={prefix}" for prefix in suite.deselect), *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=directory, env=child_env(backend, mode), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout or ()))
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    run.wall_s = time.perf_counter() - start
    run.cpu_s = usage.ru_utime + usage.ru_stime
    run.returncode = proc.returncode
    run.log = "".join(out)
    if report.exists():
        run.results = json.loads(report.read_text())
    counts = Counter(r["outcome"] for r in run.results.values())
    print(f"{run.label}: {dict(counts)} in {run.wall_s:.0f} s ({run.cpu_s:.0f} s CPU)", flush=True)
    return run


def classify(run: Run, expected: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(test id, category, reason) for each test of ``run``."""
    rows = []
    for nodeid, r in sorted(run.results.items()):
        entry = expected.get(nodeid)
        listed = entry is not None and entry.applies(run.backend)
        outcome = r["outcome"]
        if outcome == "failed":
            if listed:
                rows.append((nodeid, entry.kind, entry.describe()))
            else:
                rows.append((nodeid, "FAILED", r["message"]))
        elif listed:
            why = f"listed as {entry.kind} ({entry.describe()}) but {outcome}"
            if outcome == "missing":
                why += ": " + "; ".join(r["fallbacks"])
            rows.append((nodeid, "STALE", why))
        elif outcome == "missing":
            rows.append((nodeid, "missing", "; ".join(r["fallbacks"])))
        elif outcome == "skipped":
            rows.append((nodeid, "skipped", r["message"]))
        else:
            rows.append((nodeid, "passed", ""))
    return rows


def readme_problems(expected: dict[str, Any], readme: Path) -> list[str]:
    """Deliberate differences whose README phrase is not in its "Known disagreements" (the list
    lives in docs/semantics.md, the README's former section)."""
    text = readme.read_text() if readme.exists() else ""
    m = re.search(r"^Known disagreements", text, re.MULTILINE)  # the list's opening line
    end = text.find("\n## ", m.start()) if m else -1
    section = text[m.start() : end if end >= 0 else len(text)] if m else ""
    return [
        f"{nodeid}: README's Known disagreements does not name {phrase!r}"
        for nodeid, entry in expected.items()
        if entry.kind == "deliberate"
        for phrase in entry.phrases() or ("",)
        if not phrase or phrase not in section
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated: {', '.join(SUITES)}")
    parser.add_argument("--backends", default=None, help="Keras backends (default: jax,torch,tensorflow,numpy)")
    parser.add_argument("--jobs", type=int, default=2, help="pytest processes at a time (default 2)")
    parser.add_argument(
        "--fallback", choices=("run", "stop"), default="run",
        help="where unilosses lacks a loss: run the framework's own (default) or stop the test there",
    )
    parser.add_argument("--build-dir", default=None, help="keep the rewritten test files here")
    parser.add_argument("--json", default=None, help="write every test's category to this file")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="-v: list the deliberate, defect and missing tests too (not only FAILED and STALE); -vv: every test",
    )
    parser.add_argument(
        "--from-reports", default=None, metavar="DIR",
        help="classify the reports an earlier run left in DIR (its --build-dir) instead of running the suites",
    )
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --), e.g. -k Dice")
    args = parser.parse_args(argv)
    if args.from_reports:
        runs = _saved_runs(Path(args.from_reports))
        return _report(runs, 0.0, args)

    directory = Path(args.build_dir or tempfile.mkdtemp(prefix="peers-"))
    marker = directory / ".peers-build"
    if args.build_dir and directory.exists() and any(directory.iterdir()):
        if not marker.exists():
            parser.error(f"--build-dir {directory}: not empty and not an earlier build directory; not removing it")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    marker.touch()
    jobs = []
    for name in args.suites.split(","):
        suite = SUITES[name.strip()]
        build(suite, directory)
        backends = suite.backends
        if args.backends and suite.backends != (None,):
            backends = tuple(b.strip() for b in args.backends.split(","))
        jobs += [(suite, b) for b in backends]
    # the longest first: optax (JAX compiles), Keras on JAX, then tf-keras (its output-loss fits)
    jobs.sort(key=lambda j: (j[0].name != "optax", j[1] != "jax", j[0].name != "tf_keras"))

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(lambda j: _run_pytest(j[0], j[1], directory, args.fallback, args.pytest_args), jobs))
    wall = time.perf_counter() - start
    return _report(runs, wall, args)


def _saved_runs(directory: Path) -> list[Run]:
    runs = []
    for path in sorted(directory.glob("report-*.json")):
        label = path.stem[len("report-") :]
        suite, _, backend = label.partition("[")
        runs.append(Run(suite, backend.rstrip("]") or None, results=json.loads(path.read_text())))
    if not runs:
        raise SystemExit(f"no report-*.json in {directory}")
    return runs


def _report(runs: list[Run], wall: float, args: argparse.Namespace) -> int:
    expected = expected_module.EXPECTED
    problems = readme_problems(expected, repo_root() / "docs" / "semantics.md")
    table: dict[str, list[tuple[str, str, str]]] = {}
    for run in runs:
        if not run.results or run.returncode not in (0, 1):
            problems.append(f"{run.label}: pytest exited with {run.returncode}:\n{run.log[-3000:]}")
        table[run.label] = classify(run, expected)

    _print(runs, table, args.verbose)
    cpu = sum(r.cpu_s for r in runs)
    if wall:
        each = ", ".join(f"{r.label} {r.wall_s:.0f} s / {r.cpu_s:.0f} s CPU" for r in runs)
        print(f"\n{len(runs)} processes, wall {wall:.1f} s, CPU {cpu:.1f} s ({each}); load {_load()}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {label: [{"test": t, "category": c, "reason": why} for t, c, why in rows] for label, rows in table.items()},
            indent=1,
        ))
    return verdict(table, problems)


def verdict(table: dict[str, list[tuple[str, str, str]]], problems: list[str]) -> int:
    """The exit status: 1 on a FAILED or STALE test or another problem (printed), else 0."""
    bad = [(label, row) for label, rows in table.items() for row in rows if row[1] in ("FAILED", "STALE")]
    for p in problems:
        print(f"ERROR: {p}")
    if bad or problems:
        print(f"\npeers: {len(bad)} unexpected outcomes (FAILED: not in peers/expected.py; STALE: listed there "
              f"but no longer failing: remove the entry), {len(problems)} other problems")
        return 1
    print("\npeers: every failure is listed in peers/expected.py")
    return 0


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _print(runs: list[Run], table: dict[str, list[tuple[str, str, str]]], verbose: int) -> None:
    shown = {0: ("FAILED", "STALE"), 1: ("FAILED", "STALE", "deliberate", "defect", "missing")}.get(verbose, CATEGORIES)
    for run in runs:
        for nodeid, category, why in table[run.label]:
            if category in shown:
                print(f"{run.label:20} {category:10} {nodeid}  {why}")
    print()
    header = f"{'suite':20}" + "".join(f"{c:>11}" for c in CATEGORIES) + f"{'total':>8}"
    print(header)
    print("-" * len(header))
    for run in runs:
        counts = Counter(c for _, c, _ in table[run.label])
        print(f"{run.label:20}" + "".join(f"{counts[c]:>11}" for c in CATEGORIES) + f"{sum(counts.values()):>8}")


if __name__ == "__main__":
    raise SystemExit(main())
