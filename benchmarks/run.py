"""Side-by-side timings of unilosses and each framework's own loss.

The same as ``python -m unilosses bench``: see :mod:`unilosses.bench`::

    python benchmarks/run.py                    # the full table (a few minutes)
    python benchmarks/run.py --quick            # tiny sizes, one repeat
    python benchmarks/run.py --cases torch,jax --repeats 21 --clock cpu
    python benchmarks/run.py --plot classes.png --json > bench.json

Run it on a quiet machine: every ratio is the best of the repeats of each side,
measured interleaved in one process, single-threaded.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from unilosses.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
