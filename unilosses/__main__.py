"""Command line: ``python -m unilosses {check,bench}``."""

from __future__ import annotations

import os
import sys

USAGE = """usage: python -m unilosses COMMAND [options]

commands:
  check   run every loss on every installed backend; compare with NumPy and with
          each framework's own loss (torch, Keras, optax, tf.nn), and the
          gradients of JAX, torch and TensorFlow with finite differences; exit 1
          on any disagreement. Options: --quick (one case per loss), --backends
          A,B, --loss NAME, --jobs N (worker processes), --full (one row per
          case), --json, --no-gradients, --no-progress, --no-cache (trace and
          compile afresh); --module mypkg.losses checks your own losses
          instead (the unilosses.testing.LossCase list CASES of that module)
  bench   time unilosses beside each framework's native loss and print the ratios.
          Options: --quick, --cases A,B, --repeats N, --clock wall|cpu,
          --plot FILE.png, --json, --no-memory, --no-progress, --check

`python -m unilosses COMMAND --help` explains a command's options.
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "check":
        from unilosses.check import main as check_main

        return check_main(rest)
    if command == "bench":
        from unilosses.bench import main as bench_main

        return bench_main(rest)
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


def _exit(code: int) -> None:
    """Exit right after the report: once JAX, torch or TensorFlow are loaded in this process (``check
    --module`` probes them here), the interpreter's shutdown waits on their thread pools for seconds;
    everything is written and flushed by then, so the process ends at once."""
    sys.stdout.flush()
    sys.stderr.flush()
    if any(m in sys.modules for m in ("jax", "torch", "tensorflow")):
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _exit(main())
