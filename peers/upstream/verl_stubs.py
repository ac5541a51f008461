"""verl's ``core_algos.py`` (vendored unchanged in ``peers/upstream/verl/``), importable without verl.

``core_algos`` imports at module level ``omegaconf.DictConfig``, ``verl.utils.torch_functional``,
``verl.trainer.config.AlgoConfig``, ``verl.utils.{as_torch_index, group_mean_std}``,
``verl.utils.import_utils.deprecated`` and ``verl.workers.config.ActorConfig``. The real modules
pull in transformers, tensordict and Ray; :func:`load_core_algos` puts the smallest stand-ins on
``sys.modules`` (only where the real module is not importable) and loads the file as
``verl.trainer.ppo.core_algos``. The two functions of ``torch_functional`` the losses call,
``masked_sum`` and ``masked_mean``, are copied from verl (same revision, Apache-2.0) word for
word, so the references compute what verl computes.

The vendored file is verl at commit b178a3cd56f58b2d502255daba591e92833930a7 (2026-01-29).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORE_ALGOS = HERE / "verl" / "core_algos.py"
VERL_COMMIT = "b178a3cd56f58b2d502255daba591e92833930a7"


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = sys.modules.get(name)
    if mod is None:
        mod = types.ModuleType(name)
        mod.__path__ = []  # a package: submodules may hang below it
        sys.modules[name] = mod
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(_module(parent), child, mod)
    for k, v in attrs.items():
        setattr(mod, k, v)
    return mod


# ---- verl.utils.torch_functional: copied from verl (Apache-2.0, Copyright 2024 Bytedance Ltd.)
def masked_sum(values, mask, axis=None):  # type: ignore[no-untyped-def]
    """Compute sum of tensor values where mask is True (verl.utils.torch_functional.masked_sum)."""
    import torch

    valid_values = torch.where(mask.bool(), values, 0.0)
    return (valid_values * mask).sum(axis=axis)


def masked_mean(values, mask, axis=None):  # type: ignore[no-untyped-def]
    """Mean of ``values`` over the elements selected by ``mask`` (verl.utils.torch_functional.masked_mean)."""
    s = masked_sum(values, mask, axis)
    return s / (mask.sum(axis=axis) + 1e-8)


# ---- config stand-ins: what core_algos reads from verl's config dataclasses
class _Config(dict):
    """A mapping with attribute access, as verl's configs (``config.clip_ratio``, ``config.get(...)``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class AlgoConfig(_Config):
    """Stands for ``verl.trainer.config.AlgoConfig``."""


class ActorConfig(_Config):
    """Stands for ``verl.workers.config.ActorConfig``: ``clip_ratio``, ``clip_ratio_low`` /
    ``clip_ratio_high`` (None: ``clip_ratio``), ``clip_ratio_c`` and ``global_batch_info`` (empty:
    the micro-batch's own counts, one data-parallel rank)."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("clip_ratio", 0.2)
        kw.setdefault("clip_ratio_low", None)
        kw.setdefault("clip_ratio_high", None)
        kw.setdefault("global_batch_info", {})
        super().__init__(**kw)


def _deprecated(replacement: str = "") -> Any:
    def wrap(fn: Any) -> Any:
        return fn

    return wrap


def _unavailable(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("not stubbed: verl's vectorized GRPO helpers are not compared")


def load_core_algos() -> types.ModuleType:
    """verl's ``core_algos`` module, loaded from the vendored file (needs torch and NumPy)."""
    name = "verl.trainer.ppo.core_algos"
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec("omegaconf") is None:
        _module("omegaconf", DictConfig=type("DictConfig", (dict,), {}))
    if "verl" not in sys.modules and importlib.util.find_spec("verl") is not None:
        raise RuntimeError("a real verl is installed: compare with it directly, not with the vendored file")
    _module("verl.utils", as_torch_index=_unavailable, group_mean_std=_unavailable)
    _module("verl.utils.torch_functional", masked_sum=masked_sum, masked_mean=masked_mean)
    _module("verl.utils.import_utils", deprecated=_deprecated)
    _module("verl.trainer.config", AlgoConfig=AlgoConfig)
    _module("verl.trainer.ppo")
    _module("verl.workers.config", ActorConfig=ActorConfig)
    spec = importlib.util.spec_from_file_location(name, CORE_ALGOS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
