"""Command line: ``python -m unilosses {check,bench}``."""

from __future__ import annotations

import sys

USAGE = """usage: python -m unilosses COMMAND [options]

commands:
  check   run every loss on every installed backend; compare with NumPy and with
          each framework's own loss (torch, Keras, optax, tf.nn), and the
          gradients of JAX, torch and TensorFlow with finite differences; exit 1
          on any disagreement (options: --backends, --loss, --json, --no-gradients);
          --module mypkg.losses checks your own losses instead (the
          unilosses.testing.LossCase list CASES of that module)
  bench   time unilosses beside each framework's native loss and print the ratios
          (options: --quick, --plot FILE.png, --json)

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


if __name__ == "__main__":
    sys.exit(main())
