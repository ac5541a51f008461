"""TRL's trainer loss methods (files vendored unchanged in ``peers/upstream/trl/``), callable without TRL.

The files are TRL's at commit f2cd57710ae345ea6428ae95363267fcf38a3dc8 (2026-07-24),
Apache-2.0 (``trl/LICENSE``; each file keeps its header):

- ``experimental/gkd/gkd_trainer.py``: ``GKDTrainer.generalized_jsd_loss`` (a static method);
- ``experimental/cpo/cpo_trainer.py``: ``CPOTrainer.cpo_loss`` (sigmoid, hinge, ipo, simpo);
- ``experimental/orpo/orpo_trainer.py``: ``ORPOTrainer.odds_ratio_loss``.

The trainers import transformers, datasets, accelerate, pandas, peft and the rest of TRL at
module level; the loss methods use torch alone. :func:`load` imports a file with stand-ins for
those modules (each name they import is an empty class; the ``is_*_available`` helpers return
False) put on ``sys.modules`` only for the import, then taken off again, so that the rest of a
test session sees no fake transformers. The methods that take ``self`` are called with
:func:`trainer`, an object holding the attributes they read (``beta``, ``loss_type``...).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TRL_COMMIT = "f2cd57710ae345ea6428ae95363267fcf38a3dc8"

#: what each vendored file is loaded as, and its path under ``trl/``
FILES = {
    "gkd": ("trl.experimental.gkd.gkd_trainer", "experimental/gkd/gkd_trainer.py"),
    "cpo": ("trl.experimental.cpo.cpo_trainer", "experimental/cpo/cpo_trainer.py"),
    "orpo": ("trl.experimental.orpo.orpo_trainer", "experimental/orpo/orpo_trainer.py"),
}
#: top-level packages stood in for while a file is imported (where not installed; ``trl`` always)
STUBBED = ("transformers", "datasets", "accelerate", "pandas", "peft", "packaging", "wandb", "trl")


class _Stub(types.ModuleType):
    """A module whose every attribute is an empty class (``is_*`` helpers: functions returning False)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value: Any
        if name.startswith("is_"):
            value = _false
        elif name == "get_logger":
            value = _logger
        else:
            value = type(name, (), {"__module__": self.__name__})
        setattr(self, name, value)
        return value


def _false(*args: Any, **kwargs: Any) -> bool:
    return False


def _logger(*args: Any, **kwargs: Any) -> Any:
    import logging

    return logging.getLogger("trl-vendored")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> Any:
        return _Stub(spec.name)

    def exec_module(self, module: Any) -> None:
        return None


_LOADED: dict[str, types.ModuleType] = {}


def load(name: str) -> types.ModuleType:
    """The vendored trainer module ``name`` (``"gkd"``, ``"cpo"`` or ``"orpo"``; needs torch)."""
    if name in _LOADED:
        return _LOADED[name]
    if importlib.util.find_spec("trl") is not None:
        raise RuntimeError("a real TRL is installed: compare with it directly, not with the vendored files")
    module_name, rel = FILES[name]
    roots = tuple(r for r in STUBBED if r == "trl" or importlib.util.find_spec(r) is None)
    before = set(sys.modules)
    finder = _Finder(roots)
    sys.meta_path.insert(0, finder)
    try:
        spec = importlib.util.spec_from_file_location(module_name, HERE / "trl" / rel)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    finally:
        sys.meta_path.remove(finder)
        for key in set(sys.modules) - before:  # the stand-ins leave with the import
            if key.split(".")[0] in roots:
                del sys.modules[key]
    _LOADED[name] = module
    return module


def trainer(**attrs: Any) -> Any:
    """A stand-in ``self`` for a trainer's loss method: the attributes it reads, and an
    ``accelerator`` on the CPU."""
    import torch

    attrs.setdefault("accelerator", types.SimpleNamespace(device=torch.device("cpu")))
    return types.SimpleNamespace(**attrs)
