"""``python -m unilosses check``: the report, its gradient columns, and the finite differences behind them.

The gradient columns compare each autodiff backend's float32 gradient with
float64 finite differences of unilosses on NumPy and of the framework's own loss.
These tests give the check cases whose references are right, and cases whose
reference has the right values but the wrong gradient (or wrong values), and
assert the report tells them apart, on every autodiff backend installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

import unilosses as ul
from unilosses import check
from unilosses.conformance import Case, all_cases
from unilosses.conformance import gradients as G
from unilosses.testing import available_backends

AUTODIFF = [b for b in available_backends() if b in G.AUTODIFF_FRAMEWORKS]
#: a framework name the check accepts as a float64 reference (the references below are NumPy)
REF_KEY = next((fw for fw in G.FD_REFERENCES if importlib.util.find_spec(fw)), None)

RNG = np.random.default_rng(11)
Y = RNG.standard_normal((6, 4))
P0 = RNG.standard_normal((6, 4))


def _inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return Y.astype(np.float32), P0.astype(np.float32)


def _mse(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.mean((np.asarray(p, np.float64) - y) ** 2, axis=-1)


def _case(name: str, reference) -> Case:
    return Case(name, "mean_squared_error", _inputs, references={REF_KEY: reference} if REF_KEY else {})


GOOD = _case("mse-good-reference", _mse)
# equal values at the drawn point, a gradient off by 0.5 everywhere
BAD_GRADIENT = _case("mse-bad-gradient", lambda y, p: _mse(y, p) + 0.5 * np.sum(np.asarray(p, np.float64) - P0, axis=-1))
BAD_VALUE = _case("mse-bad-value", lambda y, p: 1.01 * _mse(y, p))


def _require_gradient_check(backend: str) -> None:
    if backend not in AUTODIFF:
        pytest.skip(f"{backend} is not installed or not selected")
    if REF_KEY is None:
        pytest.skip("none of torch, tensorflow, keras is installed to name a float64 reference")


# ----------------------------------------------------------- finite differences
def test_numeric_gradient_hand_checked():
    """d/dx sum(x^3) = 3 x^2 and d/dx sum(x * y) = y, to O(h^4)."""
    x = np.array([[0.5, -1.5], [2.0, 0.25]])
    y = np.array([[1.0, 2.0], [3.0, -4.0]])
    (gx, sx), (gy, sy) = G.numeric_gradient(lambda a: float(np.sum(a[0] ** 3 + a[0] * a[1])), [x, y], [0, 1])
    np.testing.assert_allclose(gx, 3 * x**2 + y, rtol=1e-7)
    np.testing.assert_allclose(gy, x, rtol=1e-7)
    assert sx.all() and sy.all()


def test_numeric_gradient_marks_kinks():
    """|x| at 0 has no gradient: the entry is masked, the others are +-1."""
    x = np.array([0.0, 2.0, -3.0])
    ((g, smooth),) = G.numeric_gradient(lambda a: float(np.sum(np.abs(a[0]))), [x], [0])
    assert smooth.tolist() == [False, True, True]
    np.testing.assert_allclose(g[1:], [1.0, -1.0])


def test_compare_never_passes_vacuously():
    num = [(np.zeros(4), np.array([False, False, False, True]))]
    assert G.compare([np.zeros(4)], num, rtol=1e-4, atol=1e-6)[1] is False  # 3 kinks > 1 checked
    assert G.compare([np.full(4, np.nan)], [(np.zeros(4), np.ones(4, bool))], rtol=1, atol=1)[1] is False
    d, ok, msg = G.compare([np.array([0.0, 0.5])], [(np.zeros(2), np.ones(2, bool))], rtol=1e-4, atol=1e-6)
    assert (d, ok) == (0.5, False) and "(0, 1, 0.5, 0.0)" in msg


@pytest.mark.parametrize("backend", AUTODIFF or ["none"])
def test_autodiff_equals_hand_checked_gradient(backend):
    """mean_squared_error: d/dp sum over reductions, by hand (2 (p - y) / D per sample, weighted)."""
    if backend == "none":
        pytest.skip("no autodiff backend installed")
    y, p = _inputs(RNG)
    sw = np.linspace(0.0, 1.0, 6)
    (g,) = G.autodiff(backend, GOOD, (y, p), [1], ("none", "sum", "mean_with_sample_weight"), sw)
    per_sample = 2.0 * (p.astype(np.float64) - y) / 4
    expected = per_sample * (sw + sw + sw / sw.sum())[:, None]
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------- the report
@pytest.mark.parametrize("backend", AUTODIFF or ["none"])
def test_gradient_columns_pass_and_fail(backend):
    """A right reference passes; the same values with a wrong gradient fail only the gradient cell."""
    if backend == "none":
        pytest.skip("no autodiff backend installed")
    _require_gradient_check(backend)
    report = check.run_checks(["numpy", backend], [GOOD, BAD_GRADIENT])
    good, bad = report["rows"]
    assert report["gradient_backends"] == [backend] and not report["ok"]
    assert good["results"][backend]["ok"] and good["gradients"][backend]["ok"]
    assert good["gradients"][backend]["native"] == REF_KEY
    assert good["gradients"][backend]["max_diff"] < 1e-5 and good["gradients"][backend]["max_diff_native"] < 1e-5
    assert "numpy" not in good["gradients"]  # no autodiff: no gradient cell
    assert bad["results"][backend]["ok"]  # the values agree...
    cell = bad["gradients"][backend]
    assert not cell["ok"] and cell["max_diff_native"] == pytest.approx(0.5, rel=1e-3)  # ...the gradients don't
    assert "against" in cell["error"]
    text = check.format_report(report)
    assert f"grad {backend}" in text and "FAIL 5e-01" in text and "5 passed, 1 failed" in text
    assert f"mse-bad-gradient gradient on {backend}: against {REF_KEY}" in text


def test_value_disagreement_fails():
    if REF_KEY is None:
        pytest.skip("none of torch, tensorflow, keras is installed to name a reference")
    report = check.run_checks(["numpy"], [BAD_VALUE], gradients=False)
    cell = report["rows"][0]["results"]["numpy"]
    assert not report["ok"] and not cell["ok"] and cell["max_diff_native"] > 1e-3
    assert report["rows"][0]["gradients"] == {}


def test_every_case_has_gradient_cells(monkeypatch):
    """Every conformance case with a float input gets a passing gradient cell per autodiff backend."""
    if not AUTODIFF:
        pytest.skip("no autodiff backend installed")
    cases = [c for c in all_cases() if c.loss in ("binary_crossentropy", "hinge", "dice")]
    report = check.run_checks(["numpy", *AUTODIFF], cases)
    for row in report["rows"]:
        assert set(row["gradients"]) == set(AUTODIFF), row["case"]
        for b, cell in row["gradients"].items():
            assert cell["ok"], (row["case"], b, cell)
    assert report["ok"]


def test_numpy_only_report_says_gradients_were_not_checked():
    report = check.run_checks(["numpy"], [GOOD])
    assert report["gradient_backends"] == [] and report["rows"][0]["gradients"] == {}
    assert "no backend with autodiff" in check.format_report(report)
    assert "no backend with autodiff" not in check.format_report(check.run_checks(["numpy"], [GOOD], gradients=False))


# ------------------------------------------------------------------ the CLI
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unilosses", *args], capture_output=True, text=True, timeout=300)


def test_cli_json_and_exit_status(monkeypatch, capsys):
    """--json is the report; exit status 1 on a disagreement, 0 otherwise."""
    import unilosses.conformance as conformance

    monkeypatch.setattr(conformance, "all_cases", lambda: [GOOD, BAD_VALUE])
    expected_rc = 1 if REF_KEY else 0  # without a reference framework both cases only compare with NumPy
    assert check.main(["--backends", "numpy", "--json"]) == expected_rc
    report = json.loads(capsys.readouterr().out)
    assert [r["case"] for r in report["rows"]] == ["mse-good-reference", "mse-bad-value"]
    assert report["ok"] is (expected_rc == 0) and report["versions"]["unilosses"] == ul.__version__
    assert check.main(["--backends", "numpy", "--loss", "mean_squared_error", "--no-gradients"]) == expected_rc
    monkeypatch.setattr(conformance, "all_cases", lambda: [GOOD])
    assert check.main(["--backends", "numpy"]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_cli_help_lists_commands():
    r = _cli("--help")
    assert r.returncode == 0 and "check" in r.stdout and "bench" in r.stdout
    r = _cli("check", "--help")
    assert r.returncode == 0 and "--no-gradients" in r.stdout and "--json" in r.stdout
