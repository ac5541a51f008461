"""``python -m unilosses bench``: the command line."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from unilosses.bench.cases import CASES
from unilosses.bench.memory import MEMORY_CASES, MEMORY_ID
from unilosses.bench.plot import plot
from unilosses.bench.report import WIDTH, environment, format_table
from unilosses.bench.timing import CLOCKS, run
from unilosses.check.cli import did_you_mean
from unilosses.check.progress import Progress

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m unilosses bench [--quick] [--plot FILE.png] [--json] [--cases ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m unilosses bench",
        description="Time unilosses beside each framework's own loss (single-threaded, "
        "interleaved, best of the repeats) and print the ratios.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (a smoke test: no within-goal verdicts)")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw time against the number of classes")
    parser.add_argument("--json", action="store_true", help="print the rows and the environment as JSON")
    parser.add_argument("--cases", help="comma-separated case ids or frameworks: "
                        + ", ".join([c.id for c in CASES] + [MEMORY_ID]))
    parser.add_argument("--repeats", type=int, help="timings per function (best of)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time (default) or the process's CPU time (steadier on a busy machine)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory row (subprocesses)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a ratio is outside its goal")
    parser.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    args = parser.parse_args(argv)
    if args.check and args.quick:
        parser.error("--check judges the ratios against their goals, which --quick sizes cannot: drop one")
    cases = None if args.cases is None else [c.strip() for c in args.cases.split(",") if c.strip()]
    if cases is not None:
        known = [c.id for c in CASES] + sorted({c.framework for c in CASES}) + [MEMORY_ID] + [m.id for m in MEMORY_CASES]
        refusal = did_you_mean("--cases", cases, known)
        if refusal:
            parser.error(refusal)
    n = len([c for c in CASES if cases is None or c.id in cases or c.framework in cases])
    progress = Progress(n, enabled=not args.no_progress, label="bench")
    progress.say(f"unilosses bench: {n} timed case{'s' if n != 1 else ''}"
                 + (" at --quick sizes, one repeat" if args.quick else "") + ("" if args.no_memory else ", then the memory rows"))
    try:
        rows = run(args.quick, cases, repeats=args.repeats, with_memory=False if args.no_memory else None,
                   clock=args.clock, progress=progress)
    except ValueError as e:
        parser.error(str(e))
    plotted = None
    if args.plot:
        plotted = plot(args.plot, quick=args.quick, clock=args.clock)
    if args.json:
        print(json.dumps({"environment": environment(), "rows": rows, "plot": plotted}, indent=2, default=str))
    else:
        print(format_table(rows))
        env = environment()
        print("\n" + "\n".join(textwrap.wrap(", ".join(f"{k} {v}" for k, v in env.items()), WIDTH)))
        for r in rows:
            if r.get("note"):
                print("\n".join(textwrap.wrap(f"note ({r['id']}): {r['note']}", WIDTH)))
            if r.get("agree") is False:
                print(f"warning ({r['id']}): unilosses and the native loss gave different values")
        if args.plot:
            print(f"plot written to {args.plot}")
    if args.check and any(r["within_goal"] is False for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
