"""Liger-Kernel's chunked losses (vendored unchanged in ``peers/upstream/liger_kernel/``), importable without Liger.

The files under ``liger_kernel/chunked_loss/`` are Liger-Kernel's at commit
ead96b618e5c67bddc6a6e9bcb99bfe6b5ab661c (2026-08-21), BSD-2-Clause (``liger_kernel/LICENSE``).
They are pure torch: the preference losses' ``preference_loss_fn`` static methods and the
fused-linear bases run on CPU. Their only imports beyond torch are each other
(``liger_kernel.chunked_loss.fused_linear_*``); Liger's own ``liger_kernel/__init__`` and
``chunked_loss/__init__`` import its Triton kernels and are not vendored. :func:`load` puts the
two packages on ``sys.modules`` as empty packages whose path is the vendored folder, so the
files import one another as they do in Liger.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIGER_COMMIT = "ead96b618e5c67bddc6a6e9bcb99bfe6b5ab661c"

#: the vendored modules, by the name Liger gives them
MODULES = (
    "dpo_loss", "cpo_loss", "simpo_loss", "orpo_loss", "kto_loss", "jsd_loss",
    "fused_linear_preference", "fused_linear_unpaired_preference", "fused_linear_distillation",
)


def _package(name: str, path: Path) -> None:
    mod = sys.modules.get(name)
    if mod is None:
        mod = types.ModuleType(name)
        mod.__path__ = [str(path)]
        sys.modules[name] = mod


def load(module: str) -> types.ModuleType:
    """``liger_kernel.chunked_loss.<module>`` from the vendored file (needs torch)."""
    if module not in MODULES:
        raise ValueError(f"module: expected one of {MODULES}, got {module!r}")
    if "liger_kernel" not in sys.modules and importlib.util.find_spec("liger_kernel") is not None:
        raise RuntimeError("a real Liger-Kernel is installed: compare with it directly, not with the vendored files")
    _package("liger_kernel", HERE / "liger_kernel")
    _package("liger_kernel.chunked_loss", HERE / "liger_kernel" / "chunked_loss")
    return importlib.import_module(f"liger_kernel.chunked_loss.{module}")
