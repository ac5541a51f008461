"""Every conformance case, on every backend, against the frameworks' own losses (live), and every
backend against NumPy under every reduction (on the oldest releases, ``UNILOSSES_TEST_CASES=per-loss``,
one case per loss for the latter: the frameworks' own losses still run every case there)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from conftest import compute_together, one_program, sweep_cases

import unilosses as ul
from unilosses.conformance import all_cases, reference_installed, reference_unavailable
from unilosses.testing import assert_close, assert_like

CASES = all_cases()
NUMPY_CASES = sweep_cases()


def _refs():
    """Only the references whose framework is installed in this session (the per-backend
    nox sessions install one framework; the tests-all session installs every one)."""
    for case in CASES:
        for fw in case.references:
            if reference_installed(fw):
                yield pytest.param(case, fw, id=f"{case.id}-{fw}")


@pytest.mark.parametrize(("case", "framework"), list(_refs()))
def test_matches_framework(case, framework, backend):
    """unilosses on each backend equals the framework's own loss on the same inputs (per-sample
    values, or the case's reduction where the framework gives only a reduced value)."""
    arrays = case.inputs(np.random.default_rng(zlib.crc32(case.id.encode())))  # the same inputs in every process
    try:
        expected = case.references[framework](*arrays)
    except Exception as err:  # an older release (the oldest sessions) may predate the loss or an option
        why = reference_unavailable(err)
        if why is None:
            raise
        pytest.skip(f"{framework}: {why}")
    args, kw = case.call_args(tuple(backend.asarray(a) for a in arrays))
    out = getattr(ul, case.loss)(*args, **kw, reduction=case.reduction)
    assert_close(out, np.asarray(expected, dtype=np.float64).astype(np.float32), rtol=case.rtol, atol=case.atol, like=args[-1])


@pytest.mark.parametrize("case", NUMPY_CASES, ids=[c.id for c in NUMPY_CASES])
def test_matches_numpy(case, backend):
    """Every backend gives NumPy's numbers, for every reduction."""
    arrays = case.inputs(np.random.default_rng(1))
    np_args, np_kw = case.call_args(arrays)
    args, kw = case.call_args(tuple(backend.asarray(a) for a in arrays))
    fn = getattr(ul, case.loss)
    outs = _every_reduction(fn, args, kw, backend.name)
    for out in outs:
        assert_like(out, args[-1])
    if backend.name == "dask":
        outs = compute_together(outs)
    for reduction, out in zip(ul.REDUCTIONS, outs):
        expected = fn(*np_args, **np_kw, reduction=reduction)
        assert_close(out, expected, rtol=case.rtol, atol=case.atol)


def _every_reduction(fn, args, kw, backend):
    """``fn``'s result under each reduction; on JAX all of them in one jitted program (eager calls
    run on every case in test_dtypes, per-sample values and "stats" in each dtype)."""
    return one_program(backend, lambda *a: [fn(*a, **kw, reduction=r) for r in ul.REDUCTIONS])(*args)
