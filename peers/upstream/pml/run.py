"""Run pytorch-metric-learning's own loss tests (``tests/``, vendored unchanged) against unilosses.

    python -m peers.upstream.pml.run            # against unilosses (through shim.py)
    python -m peers.upstream.pml.run --pml      # the same files against pml itself (the baseline)

The vendored files are copied to a temporary folder with one line rewritten,
``from pytorch_metric_learning.losses import`` -> ``from peers.upstream.pml.shim import``, and
run by pytest on the CPU in float16, float32 and float64 (pml's ``TEST_DEVICE`` /
``TEST_DTYPES``). Prints passed / failed / missing (skipped by the shim: what unilosses cannot
express) per test.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parents[2]
FROM = "from pytorch_metric_learning.losses import"
TO = "from peers.upstream.pml.shim import"


def main(argv: list[str]) -> int:
    baseline = "--pml" in argv
    with tempfile.TemporaryDirectory() as tmp:
        dst = pathlib.Path(tmp) / "pmltests"
        shutil.copytree(HERE / "tests", dst / "tests")
        if not baseline:
            for f in (dst / "tests").rglob("*.py"):
                text = f.read_text()
                if FROM in text:
                    f.write_text(text.replace(FROM, TO))
        env = {
            **os.environ, "TEST_DEVICE": "cpu", "TEST_DTYPES": "float16,float32,float64",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        cmd = [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "-o", "addopts=", "tests/losses"]
        r = subprocess.run(cmd, check=False, cwd=dst, env=env, capture_output=True, text=True)
    print(r.stdout[-20000:])
    print(r.stderr[-5000:], file=sys.stderr)
    return 0 if r.returncode in (0, 1) else r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
