"""``unilosses.keras.fuse_lm_head`` on KerasHub causal LMs: ``fit`` gives KerasHub's own losses and weights.

Each Keras 3 backend runs ``tests/keras_hub_check.py`` in a subprocess (Keras picks its backend once per
process): tiny random Llama and Gemma 2 models, trained as KerasHub compiles them and through the fused
head, three epochs with the padding mask as sample weights; the loss of every epoch and the final
weights equal, and the fused run builds no logits. KerasHub is installed in ``tests-all`` only.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["jax", "torch", "tensorflow"])
def test_fused_keras_hub_model_trains_as_keras_hub_does(backend) -> None:
    missing = [m for m in ("keras_hub", backend) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (tests-all installs them)")
    script = Path(__file__).with_name("keras_hub_check.py")
    proc = subprocess.run([sys.executable, str(script), backend], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert proc.stdout.count("weights equal KerasHub's own") == 2 and "refusals on" in proc.stdout, proc.stdout
