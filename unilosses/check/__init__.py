"""``python -m unilosses check``: the conformance report.

On every installed backend, each conformance case (a loss with a spread of
options) is computed and compared with the NumPy result (every reduction) and,
where the framework is installed, with the framework's own loss (torch,
Keras, optax, tf.nn) on the same inputs. On the backends with autodiff (JAX,
torch, TensorFlow) the gradient, in float32, is compared with float64 finite
differences along three random directions (as torch's ``gradcheck(fast_mode=True)``)
of unilosses on NumPy (every reduction, with sample weights) and of the
framework's own loss (torch, tf.nn, Keras, pml or MONAI, whichever is installed first). Prints a table case x backend with the largest difference and
pass/fail, then the versions; exits 1 on any disagreement. Runs with NumPy
alone.

- :mod:`~unilosses.check.compute`: one case, every backend (what is computed and compared);
- :mod:`~unilosses.check.run`: every case, in worker processes, with progress;
- :mod:`~unilosses.check.progress`: the progress display;
- :mod:`~unilosses.check.report`: the text report (one line per loss, or the full table);
- :mod:`~unilosses.check.cache`: what a run may reuse: JAX's compiled programs, the cases' JAX programs and Dask graphs;
- :mod:`~unilosses.check.cli`: the command line.
"""

from __future__ import annotations

from unilosses.check.cli import main, select_cases
from unilosses.check.report import format_compact, format_report
from unilosses.check.run import run_checks

__all__ = ["format_compact", "format_report", "main", "run_checks", "select_cases"]
