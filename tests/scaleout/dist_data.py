"""Inputs and shard layouts shared by the scale-out scripts and ``tests/test_distributed.py``.

Everything here is NumPy only, so the subprocess scripts (one framework each)
and the parent test build the same global batch. The parent computes the
single-process values with unilosses on NumPy; each script computes the same
values from uneven shards, with its framework's collectives, and writes them
as JSON (``write_results``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

#: global batch: N samples, K classes (sparse CE), D outputs (BCE), F features (a linear model)
N, K, D, F = 40, 7, 5, 6
IGNORE = -100

#: sparse_categorical_crossentropy options (class_weight is an array option, below)
SPARSE_KW: dict[str, Any] = {"from_logits": True, "label_smoothing": 0.1, "ignore_index": IGNORE}
#: binary_crossentropy options
BCE_KW: dict[str, Any] = {"from_logits": True, "label_smoothing": 0.05}

#: uneven shard sizes (they add up to N)
SHARDS_2 = (13, 27)
SHARDS_4 = (3, 14, 6, 17)


def inputs(seed: int = 0) -> dict[str, np.ndarray]:
    """The global batch: sparse labels with ignored positions, BCE targets, weights."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, N)
    # ignored labels, unevenly spread: none in the first shard of SHARDS_4 and many in the last
    labels[[5, 9, 21, 30, 31, 33, 36, 38]] = IGNORE
    return {
        "x": rng.standard_normal((N, F)).astype(np.float32),  # features of the linear model
        "w": (rng.standard_normal((F, K)) * 0.5).astype(np.float32),  # its weights
        "labels": labels.astype(np.int64),
        "logits": (rng.standard_normal((N, K)) * 3).astype(np.float32),
        "class_weight": rng.uniform(0.2, 3.0, K).astype(np.float32),
        "sample_weight": rng.uniform(0.0, 2.0, N).astype(np.float32),
        "targets": rng.integers(0, 2, (N, D)).astype(np.float32),
        "bce_logits": (rng.standard_normal((N, D)) * 3).astype(np.float32),
    }


def bounds(sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """(start, stop) of each shard."""
    edges = np.cumsum((0, *sizes))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def padded(sizes: tuple[int, ...], data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Uneven shards padded to equal blocks, for SPMD (shard_map): one block per device.

    Padding rows carry ``IGNORE`` labels (they leave every count) and zero sample
    weights (they leave the weighted sums); any finite values elsewhere.
    """
    block = max(sizes)
    out = {}
    for name, a in data.items():
        if name in ("w", "class_weight"):
            out[name] = a
            continue
        fill = IGNORE if name == "labels" else 0
        parts = []
        for lo, hi in bounds(sizes):
            pad = np.full((block - (hi - lo), *a.shape[1:]), fill, dtype=a.dtype)
            parts.append(np.concatenate([a[lo:hi], pad]))
        out[name] = np.concatenate(parts)
    return out


def write_results(results: dict[str, Any]) -> None:
    """Write ``results`` (numbers or nested lists) as JSON to the path in ``sys.argv[1]``."""
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, str):
            return v
        return np.asarray(v, dtype=np.float64).tolist()

    with open(sys.argv[1], "w") as f:
        json.dump(plain(results), f)
