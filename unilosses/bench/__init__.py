"""Side-by-side timings of unilosses and each framework's own loss.

``python -m unilosses bench [--quick] [--plot FILE.png] [--json]`` runs :func:`run`
and prints :func:`format_table`. Every case times a unilosses call (with
``reduction="sum_over_batch_size"``, the native ``"mean"``) and the framework's
own loss on the same inputs, in one process, single-threaded, interleaved
(native, unilosses, unilosses, native, ...) and reports the best of the repeats:
the best time is the one least disturbed by other work on the machine.

Frameworks are imported inside the functions that need them; a case whose
framework is not installed is reported as skipped. The memory case runs each
variant in a fresh subprocess and reads its peak resident memory (see
:func:`memory`).

Modules, one concern each: :mod:`~unilosses.bench.cases` (what is timed),
:mod:`~unilosses.bench.timing` (how: threads, clocks, interleaved repeats),
:mod:`~unilosses.bench.memory` (peak memory in fresh subprocesses),
:mod:`~unilosses.bench.report` (the table, the environment), :mod:`~unilosses.bench.plot`
and :mod:`~unilosses.bench.cli`.
"""

from __future__ import annotations

from unilosses.bench.cases import CASES, Case
from unilosses.bench.cli import main
from unilosses.bench.memory import MEMORY_ID, memory
from unilosses.bench.plot import plot
from unilosses.bench.report import environment, format_table
from unilosses.bench.timing import run

__all__ = ["CASES", "MEMORY_ID", "Case", "environment", "format_table", "main", "memory", "plot", "run"]
