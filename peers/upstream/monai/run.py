"""Run MONAI's own Dice-family loss tests (``tests/losses/``, vendored unchanged) against unilosses.

    python -m peers.upstream.monai.run            # against unilosses (through shim.py)
    python -m peers.upstream.monai.run --monai    # the same files against MONAI itself (the baseline)

The vendored files (Project-MONAI/MONAI at d388d1c6, ``tests/losses/test_{dice,masked_dice,
tversky,generalized_dice,dice_ce,dice_focal,generalized_dice_focal,generalized_wasserstein_dice,unified_focal}_loss.py``;
Apache-2.0, LICENSE; they need ``parameterized``) are copied to a temporary folder with two import lines
rewritten, ``from monai.losses import`` and ``from tests.test_utils import`` -> ``from
peers.upstream.monai.shim import``, and run by pytest on the CPU. Prints passed / failed /
missing (skipped by the shim: what unilosses cannot express) per test.
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
SHIM = "from peers.upstream.monai.shim import"
REWRITES = {"from monai.losses import": SHIM, "from tests.test_utils import": SHIM}
BASELINE = {"from tests.test_utils import test_script_save": "def test_script_save(*a, **k): pass"}


def main(argv: list[str]) -> int:
    baseline = "--monai" in argv
    with tempfile.TemporaryDirectory() as tmp:
        dst = pathlib.Path(tmp) / "monaitests"
        shutil.copytree(HERE / "tests", dst / "tests")
        for f in (dst / "tests").rglob("*.py"):
            text = f.read_text()
            for old, new in (BASELINE if baseline else REWRITES).items():
                text = text.replace(old, new)
            f.write_text(text)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "-o", "addopts=", "tests/losses"]
        r = subprocess.run(cmd, check=False, cwd=dst, env=env, capture_output=True, text=True)
    print(r.stdout[-20000:])
    print(r.stderr[-5000:], file=sys.stderr)
    return 0 if r.returncode in (0, 1) else r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
