"""The LM head with its weight sharded over the vocabulary (``process_group=``, torch.distributed).

In subprocesses (a process group is process-wide): ``tests/scaleout/torch_vocab_parallel.py`` over 2
and 3 gloo processes, each holding a block of the head's rows (equal blocks, and blocks of other
sizes with ``vocab_start``), against one process on the whole weight: values and gradients (hidden,
the weight's block, the bias' block) of ``linear_cross_entropy`` with each option and reduction (its
extra outputs ``return_z_loss`` and ``return_token_accuracy``, and ``z_loss_normalizer="tokens"``,
included) and of ``linear_log_probs`` with each option, float32 and bfloat16, eager and under
``torch.compile``, a ``DTensor`` weight through its local block; token accuracy with the largest
logit tied within and across blocks; and every collective the calls make, none larger than hidden's
gradient (N x D). In process, on every backend: the options' validation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import selected

import unilosses as ul

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "scaleout" / "torch_vocab_parallel.py"
#: the cases the script runs (its CE_CASES, REDUCTIONS and LP_CASES), named here so that a case it
#: stopped running fails
CE_CASES = ("plain", "ignore_index", "label_smoothing", "class_weight", "z_loss", "softcap", "all", "return_z_loss",
            "return_token_accuracy", "z_loss_tokens", "outputs")
#: the cases the script runs with every reduction (its EVERY_REDUCTION)
EVERY_REDUCTION = ("all", "return_token_accuracy", "z_loss_tokens", "outputs")
REDUCTIONS = ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight")
LP_CASES = ("plain", "temperature", "softcap", "entropy", "all")

#: largest difference from one process, relative to the reference's largest magnitude: float32
#: rounding, and one rounding of a bfloat16 result (its gradients are returned in bfloat16: 2^-7)
TOL = {"float32": 2e-6, "bfloat16": 2.0**-7 * 1.5}


def _run(world: int, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"vocab_parallel_{world}.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out), str(world)], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{SCRIPT.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(out.read_text())


def _check(r: dict[str, Any], world: int) -> None:
    diffs = r["max_rel"]
    assert r["world"] == world
    # every option of both functions ran, in both layouts and both dtypes, with gradients and without
    for layout in ("even", "uneven"):
        for dtype in ("float32", "bfloat16"):
            for name in CE_CASES:
                assert f"{layout}/{dtype}/ce/{name}/none/grad" in diffs
                assert f"{layout}/{dtype}/ce/{name}/none/no_grad" in diffs
            for name in EVERY_REDUCTION:
                for red in REDUCTIONS:
                    assert f"{layout}/{dtype}/ce/{name}/{red}/grad" in diffs
            for name in LP_CASES:
                assert f"{layout}/{dtype}/lp/{name}//grad" in diffs
        assert f"{layout}/compile" in diffs
    assert "even/dtensor" in diffs  # a DTensor weight sharded on dim 0, through its local block
    # token accuracy with the largest logit tied within and across blocks, blocks in rank order and
    # reversed: 1 exactly at the first tied row, as on one process (0.0: so)
    for layout in ("even", "uneven", "reversed"):
        for dtype in ("float32", "bfloat16"):
            assert diffs[f"ties/{layout}/{dtype}"] == 0.0
    assert diffs["refused/overlap"] == 0.0  # vocab_start's blocks must tile the vocabulary
    # the random cases' token accuracy is far from 0 and 1 (every third label is the argmax)
    hits = r["hits"]["none/grad"]
    assert 5 <= np.sum(hits) <= r["tokens"] - 5, hits
    assert hits == r["hits"]["none/no_grad"]
    # token accuracy rides on the loss's all-reduces: no collective more than without it
    for layout in ("even", "uneven"):
        for red, mode in (("none", "grad"), ("none", "no_grad"), ("sum_over_batch_size", "grad")):
            with_acc = r["calls"][f"{layout}/float32/ce/return_token_accuracy/{red}/{mode}"]
            assert with_acc == r["calls"][f"{layout}/float32/ce/ignore_index/{red}/{mode}"]
    for key, diff in diffs.items():
        tol = TOL["bfloat16" if "/bfloat16/" in key else "float32"]
        assert diff <= tol, (key, diff)
    # only per-token statistics and hidden's gradient are all-reduced; the all-gather is vocab_start's
    # (start, rows) of each rank: never the weight (V x D) or a chunk's logits
    assert set(r["largest_collective"]) == {"all_reduce", "all_gather"}, r["largest_collective"]
    assert r["largest_collective"]["all_reduce"] == r["tokens"] * r["width"]
    assert r["largest_collective"]["all_gather"] == 2


@selected("torch")
def test_two_processes(tmp_path):
    """2 gloo processes, blocks of 30 + 30 and 23 + 37 rows: equal to one process on the whole weight."""
    _check(_run(2, tmp_path), 2)


@pytest.mark.slow
@selected("torch")
def test_three_processes(tmp_path):
    """3 gloo processes, blocks of 20 + 20 + 20 and 11 + 31 + 18 rows."""
    _check(_run(3, tmp_path), 3)


# ------------------------------------------------------------------ validation, every backend
def _inputs(backend: Any) -> tuple[Any, ...]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 4)
    h = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal((5, 3)).astype(np.float32)
    return backend.asarray(y), backend.asarray(h), backend.asarray(w)


@pytest.mark.parametrize("fn", [ul.linear_cross_entropy, ul.linear_log_probs], ids=lambda f: f.__name__)
@pytest.mark.parametrize("group", ["world", 1, 1.5, False, [None]], ids=["str", "int", "float", "False", "list"])
def test_process_group_not_a_group(backend, fn, group):
    """A process group that is not one: a TypeError naming process_group and what it takes."""
    y, h, w = _inputs(backend)
    with pytest.raises(TypeError, match="process_group: expected a torch.distributed ProcessGroup, True"):
        fn(y, h, w, process_group=group)


@pytest.mark.parametrize("fn", [ul.linear_cross_entropy, ul.linear_log_probs], ids=lambda f: f.__name__)
def test_process_group_needs_torch(backend, fn):
    """``process_group`` on another framework's arrays: a ValueError naming it and torch; on torch
    without an initialised torch.distributed, a ValueError saying so."""
    y, h, w = _inputs(backend)
    if backend.name != "torch":
        with pytest.raises(ValueError, match=f"process_group: .* runs on torch .*got {backend.name} arrays"):
            fn(y, h, w, process_group=True)
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        pytest.skip("a process group is initialised in this process")
    with pytest.raises(ValueError, match="process_group: torch.distributed is not initialised"):
        fn(y, h, w, process_group=True)


@pytest.mark.parametrize("fn", [ul.linear_cross_entropy, ul.linear_log_probs], ids=lambda f: f.__name__)
@pytest.mark.parametrize(("start", "exc", "match"), [
    (-1, ValueError, r"vocab_start: expected .* \(an integer >= 0\)"),
    (1.0, TypeError, r"vocab_start: expected .* \(an integer >= 0\)"),
    (True, TypeError, "vocab_start: expected"),
    (0, ValueError, "vocab_start: only used with process_group"),
])
def test_vocab_start(backend, fn, start, exc, match):
    """``vocab_start``: an integer >= 0, and only beside ``process_group``."""
    y, h, w = _inputs(backend)
    with pytest.raises(exc, match=match):
        fn(y, h, w, vocab_start=start)


def test_without_process_group_unchanged(backend):
    """``process_group=None`` (the default) is the one-process head: the same values as without it."""
    y, h, w = _inputs(backend)
    for fn in (ul.linear_cross_entropy, ul.linear_log_probs):
        np.testing.assert_array_equal(ul.testing.to_numpy(fn(y, h, w, process_group=None)),
                                      ul.testing.to_numpy(fn(y, h, w)))
