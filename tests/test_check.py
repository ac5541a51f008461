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
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import unilosses as ul
from unilosses import check
from unilosses.arrays import AUTODIFF as AUTODIFF_FRAMEWORKS
from unilosses.arrays import available_backends
from unilosses.check import gradients as G
from unilosses.conformance import Case, all_cases

AUTODIFF = [b for b in available_backends() if b in AUTODIFF_FRAMEWORKS]
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


def test_directional_derivatives_hand_checked():
    """Along v, d/dt sum((x + t v)^3) = sum(3 x^2 v): four evaluations per direction, whatever the size."""
    x = np.array([[0.5, -1.5], [2.0, 0.25]])
    calls = []

    def value(a):
        calls.append(1)
        return float(np.sum(a[0] ** 3))

    dirs = G.directions([x.shape])
    assert (dirs[0][0] > 0).all() and (dirs[1][0] < 0).any()  # a positive direction, then signed ones
    numeric = G.directional_derivatives(value, [x], [0], dirs)
    assert len(calls) == 1 + 4 * len(dirs)
    for v, (d, smooth) in zip(dirs, numeric):
        assert smooth and d == pytest.approx(float(np.sum(3 * x**2 * v[0])), rel=1e-8)
    # a gradient off by 0.5 everywhere differs by 0.5 per unit of |v|, and fails
    grad = [3 * x**2]
    worst, ok, msg = G.compare_directional([grad[0] + 0.5], numeric, dirs, rtol=1e-4, atol=1e-5)
    assert not ok and worst == pytest.approx(0.5) and "directional" in msg
    assert G.compare_directional(grad, numeric, dirs, rtol=1e-4, atol=1e-5)[1]


def test_directional_derivatives_mark_kinks():
    """|x| with an entry at 0: a direction through it is a kink, a masked one is not; never a vacuous pass."""
    x = np.array([0.0, 2.0, -3.0])
    value = lambda a: float(np.sum(np.abs(a[0])))  # noqa: E731
    through = G.directional_derivatives(value, [x], [0], G.directions([x.shape]))
    assert not any(smooth for _, smooth in through)
    assert G.compare_directional([np.sign(x)], through, G.directions([x.shape]), rtol=1e-4, atol=1e-5)[1] is False
    masked = G.directions([x.shape], [np.array([False, True, True])])
    numeric = G.directional_derivatives(value, [x], [0], masked)
    assert all(smooth for _, smooth in numeric)
    assert G.compare_directional([np.sign(x)], numeric, masked, rtol=1e-4, atol=1e-5)[1]


def test_smooth_directions_cost_and_kinks():
    """Along directions: 1 + 4 x 3 evaluations whatever the size, no per-entry pass on a smooth
    function; where a direction crosses a kink, the kinks are found entry by entry and masked."""
    x = np.random.default_rng(5).standard_normal((40, 25))
    calls = []

    def cube(a):
        calls.append(1)
        return float(np.sum(a[0] ** 3))

    dirs, numeric, kinks = G.smooth_directions(cube, [x], [0])
    assert len(calls) == 1 + 4 * 3 and kinks == (0, x.size)
    assert all(float(np.max(np.abs(v[0]))) <= 1.0 for v in dirs)  # no entry moves by more than a step
    assert G.compare_directional([3 * x**2], numeric, dirs, rtol=1e-4, atol=1e-5)[1]
    wrong = 3 * x**2
    wrong.flat[7] += 0.5  # one entry off: shows along the directions at this size
    assert not G.compare_directional([wrong], numeric, dirs, rtol=1e-4, atol=1e-5, what="gradient")[1]
    y = np.array([0.0, 2.0, -3.0, 0.5])
    dirs, numeric, kinks = G.smooth_directions(lambda a: float(np.sum(np.abs(a[0]))), [y], [0])
    assert kinks == (1, 4) and all(v[0][0] == 0.0 for v in dirs) and all(smooth for _, smooth in numeric)
    assert G.compare_directional([np.sign(y)], numeric, dirs, rtol=1e-4, atol=1e-5)[1]


def test_dask_reductions_first_case_of_each_loss():
    """With dask_first_only (the command line): every reduction on a loss's first case, 'none' and
    the case's own reduction on the others; without it (the kit), every reduction everywhere."""
    from unilosses.check.compute import Setup

    cases = [c for c in all_cases() if c.loss == "binary_crossentropy"][:2]
    first, other = (Setup(c, ["numpy", "dask"], {}, False, first=f) for c, f in zip(cases, (True, False)))
    assert first.dask_reductions == tuple(ul.REDUCTIONS)
    assert other.dask_reductions == tuple(r for r in ul.REDUCTIONS if r in ("none", cases[1].reduction))
    if "dask" not in available_backends():
        return
    report = check.run_checks(["numpy", "dask"], cases, gradients=False, dask_first_only=True)
    assert report["ok"] and report["dask_first_only"]
    assert "dask: every reduction on the first case of each loss" in " ".join(check.format_compact(report).split())
    assert not check.run_checks(["numpy", "dask"], cases, gradients=False)["dask_first_only"]


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
    lines = text.splitlines()
    assert "gradients" in lines[0] and lines[1].split("|")[2].split() == [check.report.SHORT[backend]]
    bad_row = next(line for line in lines if line.startswith("mse-bad-gradient"))
    assert [c.strip() for c in bad_row.split("|")][2:] == ["FAIL", f"{check.report.LETTERS[REF_KEY][0]}/{check.report.LETTERS[REF_KEY][0]}"]
    assert "5 passed, 1 failed" in text
    flat = " ".join(text.split())  # the failure lines wrap at WIDTH wherever the numbers' lengths put the break
    assert f"mse-bad-gradient gradient on {backend}: against {REF_KEY}" in flat and "(largest difference 5e-01)" in flat
    assert max(len(line) for line in lines) <= check.report.WIDTH
    # the default view: one line for the loss, its backend cell failing one of the two cases
    compact = check.format_compact(report).splitlines()
    assert compact[0].split() == ["loss", "cases", "numpy", check.report.SHORT[backend], "vs"]
    assert compact[1].split()[:5] == ["mean_squared_error", "2", compact[1].split()[2], "FAIL", "1"]
    assert "mse-bad-gradient gradient on" in " ".join(check.format_compact(report).split())


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
def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unilosses", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_cli_json_and_exit_status(monkeypatch, capsys):
    """--json is the report; exit status 1 on a disagreement, 0 otherwise."""
    import unilosses.conformance as conformance

    monkeypatch.setattr(conformance, "all_cases", lambda: [GOOD, BAD_VALUE])
    expected_rc = 1 if REF_KEY else 0  # without a reference framework both cases only compare with NumPy
    assert check.main(["--backends", "numpy", "--json", "--jobs", "1"]) == expected_rc
    report = json.loads(capsys.readouterr().out)
    assert [r["case"] for r in report["rows"]] == ["mse-good-reference", "mse-bad-value"]
    assert report["ok"] is (expected_rc == 0) and report["versions"]["unilosses"] == ul.__version__
    assert report["seconds"] >= 0 and report["cpu_seconds"] >= 0 and report["jobs"] == 1
    assert check.main(["--backends", "numpy", "--loss", "mean_squared_error", "--no-gradients", "--jobs", "1"]) == expected_rc
    capsys.readouterr()
    monkeypatch.setattr(conformance, "all_cases", lambda: [GOOD])
    assert check.main(["--backends", "numpy", "--jobs", "1"]) == 0
    out, err = capsys.readouterr()
    assert "1 passed, 0 failed" in out
    # progress on stderr (not a terminal here: plain lines), the report alone on stdout
    assert err.splitlines()[0].startswith("unilosses check: 1 case on numpy") and err.splitlines()[-1].startswith("check: 1/1 cases")
    assert check.main(["--backends", "numpy", "--jobs", "1", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.multi
@pytest.mark.parametrize("keras_backend", ["jax", "torch", "numpy"])
def test_check_does_not_depend_on_the_users_keras_backend(keras_backend):
    """KERAS_BACKEND=jax / torch / numpy in the user's shell: Keras' references still run on its
    TensorFlow backend (float64), so the gradients against Keras pass (they failed by 1e-2 in float32)."""
    needed = ("jax", "tensorflow", "torch")
    if not set(needed) <= set(available_backends()) or importlib.util.find_spec("keras") is None:
        pytest.skip("needs jax, torch, tensorflow and keras (tests-all)")
    env = {**os.environ, "KERAS_BACKEND": keras_backend}
    r = subprocess.run(
        [sys.executable, "-m", "unilosses", "check", "--loss", "binary_crossentropy", "--backends", "numpy,jax"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert r.returncode == 0, r.stdout[-2000:]
    assert " 0 failed" in r.stdout
    assert f"Keras references on TensorFlow (float64), not KERAS_BACKEND={keras_backend}" in r.stderr


def test_parent_imports_no_framework():
    """The parent process forks the workers: it must not have imported JAX, torch or TensorFlow."""
    code = (
        "import sys\n"
        "from unilosses import check\n"
        "from unilosses.check.compute import Setup\n"
        "refs = {fw: True for fw in ('torch', 'keras', 'tensorflow', 'optax', 'jax')}\n"
        "setups = [Setup(c, ['numpy', 'jax', 'torch', 'tensorflow'], refs, True) for c in check.select_cases()]\n"
        "bad = [m for m in ('torch', 'jax', 'tensorflow', 'keras', 'optax', 'dask') if m in sys.modules]\n"
        "print(bad, check.run.can_fork()); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_scheduler_keeps_tensorflow_on_one_worker():
    """The first worker takes the TensorFlow parts (one import of it); the other takes the rest,
    earliest case first; each part is handed out once; the first helps once its own are done."""
    from unilosses.check.compute import Setup
    from unilosses.check.run import _Scheduler

    refs = {fw: True for fw in ("torch", "keras", "tensorflow", "optax", "jax")}
    setups = [Setup(c, ["numpy", "torch", "tensorflow"], refs, True) for c in all_cases()[:6]]
    sched = _Scheduler(setups)
    n = len(sched.pending)
    given = {"a": [], "b": []}
    while sched.pending:
        for w in ("a", "a", "b"):  # a goes twice as fast
            task = sched.next(w)
            if task is not None:
                given[w].append(task)
    assert sorted(given["a"] + given["b"]) == sorted((i, p) for i, s in enumerate(setups) for p in s.parts())
    assert len(given["a"]) + len(given["b"]) == n
    heavy = [sched.heavy(t) for t in given["a"]]
    assert not any(sched.heavy(t) for t in given["b"]) and heavy == sorted(heavy, reverse=True)  # a: heavy ones first
    assert [i for i, _ in given["b"]] == sorted(i for i, _ in given["b"])  # earliest case first
    assert heavy[0] and not heavy[-1]  # then a helped with the rest


def test_scheduler_avoids_importing_again():
    """Once its TensorFlow parts are done, the first worker takes a part that needs no framework the
    other worker has imported whenever one is left (torch's, JAX's imports paid once where it can)."""
    from unilosses.check.compute import Setup
    from unilosses.check.run import _Scheduler

    refs = {fw: True for fw in ("torch", "keras", "tensorflow", "optax", "jax")}
    setups = [Setup(c, ["numpy", "jax", "torch", "tensorflow"], refs, True) for c in all_cases()[:12]]
    sched = _Scheduler(setups)

    def again(task: tuple[int, str]) -> bool:  # would the first worker import what the other holds?
        return bool((setups[task[0]].needs(task[1]) - sched.imported.get("a", set())) & sched.imported.get("b", set()))

    picks = []
    while sched.pending:
        for w in ("a", "b", "b"):  # b goes twice as fast
            free = [t for t in sched.pending if not again(t)]
            heavy_left = any(sched.heavy(t) for t in sched.pending)
            task = sched.next(w)
            if w == "a" and task is not None and not heavy_left:
                picks.append((bool(free), task in free))
    assert any(has_free for has_free, _ in picks)  # the case arises
    assert all(took_free for has_free, took_free in picks if has_free)
    assert {"torch", "jax"} <= sched.imported["b"]


def test_references_split_by_framework():
    """A case's references are one part per framework they run on; the row merges them in the case's
    order, the float64 reference's finite differences computed in its own framework's part only."""
    from unilosses.check.compute import REFS, Setup, _merged_references

    case = next(c for c in all_cases() if {"torch", "keras"} <= set(c.references))
    refs = {fw: True for fw in case.references}
    s = Setup(case, ["numpy"], refs, True)
    assert [p for p in s.parts() if p.startswith(REFS)] == [REFS + fw for fw in s.ref_groups]
    assert {REFS + "torch", REFS + "tensorflow"} <= set(s.parts())
    assert s.needs(REFS + "torch") == {"torch"} and s.needs(REFS + "tensorflow") == {"tensorflow"}
    assert sorted(fw for group in s.ref_groups.values() for fw in group) == sorted(s.refs)
    parts = {REFS + fw: {"natives": {r: np.float64(i) for i, r in enumerate(group)}, "skipped": {}}
             for fw, group in reversed(s.ref_groups.items())}
    parts[REFS + "torch"]["directional"] = np.ones(3)
    merged = _merged_references(s, parts)
    assert list(merged["natives"]) == s.refs and "error" not in merged and "directional" in merged
    parts[REFS + "tensorflow"] = {"error": "references:tensorflow: boom"}
    assert _merged_references(s, parts)["error"] == "references:tensorflow: boom"


def test_quick_is_one_case_per_loss():
    quick = check.select_cases(quick=True)
    assert [c.loss for c in quick] == list(dict.fromkeys(c.loss for c in all_cases()))
    assert check.select_cases(["hinge"], quick=True) == [next(c for c in all_cases() if c.loss == "hinge")]


def test_cli_parallel_workers_and_progress():
    """Two worker processes give the same rows, in the cases' order, as one process;
    the header and the progress go to stderr, a plain line at the end when not a terminal."""
    losses = ["--loss", "soft_margin", "--loss", "margin_ranking", "--backends", "numpy", "--json"]  # torch references only
    r2, r1 = _cli("check", *losses, "--jobs", "2"), _cli("check", *losses, "--jobs", "1")
    assert r2.returncode == r1.returncode == 0, r2.stderr + r1.stderr
    two, one = json.loads(r2.stdout), json.loads(r1.stdout)
    assert two["jobs"] == 2 and one["jobs"] == 1
    assert [r["case"] for r in two["rows"]] == [c.id for c in all_cases() if c.loss in ("soft_margin", "margin_ranking")]
    assert [r["results"] for r in two["rows"]] == [r["results"] for r in one["rows"]]
    err = r2.stderr.splitlines()
    assert err[0].startswith("unilosses check: ") and err[0].endswith("2 worker processes")
    n = len(two["rows"])
    assert err[-1].startswith(f"check: {n}/{n} cases, ")


def test_worker_that_dies_fails_its_case_only(tmp_path):
    """A worker process that dies (here: os._exit in a reference) fails that case; the others still run."""
    if REF_KEY is None:
        pytest.skip("none of torch, tensorflow, keras is installed to name a reference")
    script = tmp_path / "die.py"
    script.write_text(
        "import os\n"
        "from unilosses import check\n"
        "from unilosses.conformance import Case, all_cases\n"
        "def die(y, p):\n"
        "    os._exit(3)\n"
        "cases = [c for c in all_cases() if c.loss == 'soft_margin'][:2]\n"
        f"cases.insert(1, Case('dies', 'soft_margin', cases[0].inputs, references={{'{REF_KEY}': die}}))\n"
        "r = check.run_checks(['numpy'], cases, gradients=False, jobs=2)\n"
        "print([(row['case'], row['results']['numpy']['ok']) for row in r['rows']])\n"
        "print(r['rows'][1]['results']['numpy']['error'])\n"
    )
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows, error = r.stdout.splitlines()
    assert eval(rows) == [(c, c != "dies") for c, _ in eval(rows)] and eval(rows)[1][0] == "dies"
    assert "worker process died (exit code 3)" in error


def test_progress_live_and_plain():
    """On a terminal one line redrawn in place; otherwise whole lines, at most every ``every`` seconds."""
    import io

    from unilosses.check.progress import Progress

    live = io.StringIO()
    p = Progress(3, live, live=True)
    p.say("header")
    p.working("w1", "case-a [jax]")
    p.update(force=True)
    p.case_done("w1", ok=False)
    p.finish()
    text = live.getvalue()
    assert text.startswith("header\n") and "\rcheck: 0/3 cases, 0 s, on case-a [jax]" in text
    assert text.endswith("\n") and text.split("\r")[-1].rstrip() == "check: 1/3 cases, 0 s, 1 failing"
    plain = io.StringIO()
    p = Progress(3, plain, live=False, every=3600)
    p.working("w1", "case-a [jax]")
    p.case_done("w1", ok=True)
    p.finish()
    assert plain.getvalue() == "check: 1/3 cases, 0 s\n"  # nothing between: the interval never passed


def test_report_fits_a_terminal():
    """Every backend, every gradient column, every case id, a failure: at most 120 columns."""
    backends = ["numpy", "array_api_strict", "jax", "torch", "tensorflow", "dask"]
    grads = list(AUTODIFF_FRAMEWORKS)
    cell = {"max_diff_numpy": 1.2e-7, "max_diff_native": 3e-6, "native": ["keras", "optax", "torch", "tensorflow"], "ok": True}
    gcell = {"ok": True, "max_diff": 2e-7, "native": "torch", "max_diff_native": 1e-7}
    rows = [
        {"case": c.id, "loss": c.loss, "results": {b: dict(cell) for b in backends}, "gradients": {b: dict(gcell) for b in grads}}
        for c in all_cases()
    ]
    rows[0]["results"]["dask"] = dict(cell, ok=False, max_diff_numpy=0.25)
    report = {"ok": False, "backends": backends, "gradients_checked": True, "gradient_backends": grads, "rows": rows,
              "versions": {"unilosses": ul.__version__}, "seconds": 12.3, "cpu_seconds": 20.1, "jobs": 2}
    lines = check.format_report(report).splitlines()
    assert max(len(line) for line in lines) <= 120
    assert lines[3].split("|")[1].split()[-1] == "FAIL" and lines[3].split("|")[-1].strip() == "TKOF/T"
    assert f"{rows[0]['case']} on dask: outside the tolerance (largest difference 2e-01)" in "\n".join(lines)
    assert lines[-1] == f"{9 * len(rows) - 1} passed, 1 failed in 12 s (20 s CPU, 2 processes)"
    # the default view: at most 100 columns, one line per loss, a cell per backend, the failure listed
    compact = check.format_compact(report).splitlines()
    assert max(len(line) for line in compact) <= check.report.WIDTH == 100
    losses = list(dict.fromkeys(c.loss for c in all_cases()))
    table = compact[1 : compact.index("")]
    names = [line.split()[0] for line in table]  # a name too long for the width is cut, ending in ~
    assert len(names) == len(losses) and all(loss.startswith(n.rstrip("~")) for n, loss in zip(names, losses))
    first = table[0].split()
    assert first[-1] == "TKOF/T" and first[-3:-1] == ["FAIL", "1"] and first[2:-3] == ["3e-6"] * 5
    assert f"{rows[0]['case']} on dask: outside the tolerance (largest difference 2e-01)" in "\n".join(compact)
    assert compact[-1] == lines[-1]


def test_legend_names_only_the_references_used():
    """The vs legend lists the letters in use; a user's own references (check --module) are named as theirs."""
    cell = {"max_diff_numpy": 0.0, "max_diff_native": 1e-7, "native": ["torch"], "ok": True}
    report = {"ok": True, "backends": ["numpy"], "gradients_checked": False, "gradient_backends": [],
              "rows": [{"case": "c", "loss": "l", "results": {"numpy": cell}, "gradients": {}}], "versions": {}}
    for view in (check.format_compact, check.format_report):
        assert "vs: T torch.nn.functional." in view(report) and "keras.losses" not in view(report)
        own = view(dict(report, own_losses=True))
        assert "vs: T your torch reference." in own and "torch.nn.functional" not in own
    # a reference the report has no letter for goes by its initial and its name
    odd = dict(report, rows=[dict(report["rows"][0], results={"numpy": dict(cell, native=["torch", "zeta"])})])
    assert "vs: T torch.nn.functional, Z zeta." in check.format_compact(odd) and "| TZ" in check.format_report(odd)


def test_not_compared_references_are_listed():
    cell = {"max_diff_numpy": 0.0, "max_diff_native": None, "native": [], "ok": True}
    row = {"case": "c", "loss": "l", "results": {"numpy": cell}, "gradients": {},
           "skipped": {"keras": "keras 3.7's tversky has no axis"}, "not_installed": ["optax"]}
    report = {"ok": True, "backends": ["numpy"], "gradients_checked": False, "gradient_backends": [], "rows": [row],
              "versions": {}}
    text = check.format_compact(report)
    assert "Not compared:" in text and "c against keras: keras 3.7's tversky has no axis" in text
    assert "1 case against optax: optax is not installed (pip install optax)" in text


def test_cli_help_lists_commands():
    r = _cli("--help")
    assert r.returncode == 0 and "check" in r.stdout and "bench" in r.stdout
    for flag in ("--quick", "--jobs", "--no-progress", "--full", "--no-cache", "--module", "--backends"):
        assert flag in r.stdout, flag
    r = _cli("check", "--help")
    assert r.returncode == 0 and "--no-gradients" in r.stdout and "--json" in r.stdout
    assert "--quick" in r.stdout and "--jobs" in r.stdout and "--full" in r.stdout and "--no-cache" in r.stdout


@pytest.mark.parametrize(
    "args, says",
    [
        (("--backends", "tourch", "--quick"), "--backends: unknown 'tourch' (did you mean 'torch'?)"),
        (("--loss", "hingee"), "--loss: unknown 'hingee' (did you mean 'hinge'"),
        (("--module", "no_such_module_here"), "--module no_such_module_here: cannot import it"),
        (("--jobs", "0"), "--jobs: expected a number of processes >= 1, got 0"),
    ],
)
def test_cli_refuses_typos_at_once(args, says):
    """A typo is refused before any work (exit 2, a one-line reason, no traceback)."""
    r = _cli("check", *args)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stdout == ""
    if args[0] == "--module":
        assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("framework", ["numpy", "tensorflow"])
def test_cli_is_quiet(framework, tmp_path):
    """A passing report prints its own lines and nothing else: no TensorFlow C++ log lines from the
    workers, no Python warning (the KL divergence on a negative target entry, from the finite
    differences, warned once), on stdout or stderr; the default report fits 100 columns. Run in the
    numpy session and (with TensorFlow, whose workers' C++ lines it checks) in tensorflow's; twice,
    on an empty cache and then with the references' results read from it (the last line says so)."""
    if framework not in available_backends():
        pytest.skip(f"{framework} is not installed or not selected")
    backends = list(dict.fromkeys(["numpy", framework]))
    args = ["check", "--loss", "kl_divergence", "--backends", ",".join(backends), "--no-progress", "--jobs", "2"]
    legends = []
    for run in ("first", "cached"):
        r = _cli(*args, env={"UNILOSSES_CACHE_DIR": str(tmp_path)})
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        assert r.stderr == ""
        lines = r.stdout.splitlines()
        assert lines[0].split() == ["loss", "cases", *(check.report.SHORT[b] for b in backends), "vs"]
        assert lines[1].startswith("kl_divergence ") and lines[2] == ""
        legends.append(lines[3 : lines.index(next(x for x in lines if x.startswith("Versions: ")))])
        assert legends[-1][0].startswith("Each cell: ")
        # the legend names the references that ran (none where no reference package is installed), once
        assert sum(x.startswith("vs: ") for x in legends[-1]) <= 1
        summary = r"\d+ passed, 0 failed in \d+ s \(\d+ s CPU, 2 processes\)"
        if run == "cached" and any(x.startswith("vs: ") for x in legends[-1]):
            summary += r"; (\d+) of \1 reference parts from the cache"
        assert re.fullmatch(summary, lines[-1]), lines[-1]
        assert max(len(line) for line in lines) <= 100
    assert legends[0] == legends[1]


def test_cli_compilation_cache(tmp_path):
    """check keeps JAX's compiled and exported programs under UNILOSSES_CACHE_DIR (nothing else);
    --no-cache and run_checks called from Python leave it alone."""
    if "jax" not in available_backends():
        pytest.skip("jax is not installed or not selected")
    args = [sys.executable, "-m", "unilosses", "check", "--loss", "hinge", "--quick", "--backends", "numpy,jax", "--no-progress"]
    env = {**os.environ, "UNILOSSES_CACHE_DIR": str(tmp_path / "on")}
    started = time.time()
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # the programs are stored unless a source file of unilosses changed while the command ran (an
    # edit beside the run: the code running may not be the code hashed)
    root = os.path.dirname(ul.__file__)
    edited = any(os.stat(os.path.join(d, f)).st_mtime >= started for d, _, fs in os.walk(root) for f in fs if f.endswith(".py"))
    names = sorted(p.name for p in (tmp_path / "on").iterdir())
    assert names == ["jax", "programs"] or (edited and names == ["jax"])
    assert any((tmp_path / "on" / "jax").iterdir()) and (edited or any((tmp_path / "on" / "programs").iterdir()))
    env = {**os.environ, "UNILOSSES_CACHE_DIR": str(tmp_path / "off")}
    r = subprocess.run([*args, "--no-cache"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and not (tmp_path / "off").exists()
    code = "from unilosses.check import run_checks, select_cases\nrun_checks(['numpy', 'jax'], select_cases(['hinge'], quick=True))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and not (tmp_path / "off").exists(), r.stderr


@pytest.mark.parametrize("backend", ["jax", "dask"])
def test_program_cache(backend, tmp_path, monkeypatch):
    """The command line keeps each built-in case's JAX program (exported) and Dask graph: the next
    run loads it instead of tracing unilosses' code, and computes what a fresh trace computes. The
    key holds the package's source: other code stores anew, and the old entries go. A case of your
    own (the kit's) is never stored: its code is outside the package."""
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed or not selected")
    from unilosses.check import cache
    from unilosses.check.compute import Setup, run_part
    from unilosses.kit import LossCase, to_case

    monkeypatch.setenv("UNILOSSES_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(cache.NO_CACHE_ENV, raising=False)
    # the command's start, later than any edit of unilosses' source (other processes may edit it
    # while this runs: the guard against that is checked below)
    monkeypatch.setattr(cache, "_STARTED", time.time() + 3600)
    case = next(c for c in all_cases() if c.loss == "categorical_crossentropy" and c.options)
    mine = to_case(LossCase(ul.categorical_crossentropy, case.inputs(np.random.default_rng(0))[:2], case.options))

    def part(c: Case) -> dict:
        out = run_part(Setup(c, ["numpy", backend], {}, True), backend)
        assert "error" not in out and "grad_error" not in out, out
        return out

    fresh = part(case)  # outside the command line: nothing stored
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    calls = []
    traced = ul.categorical_crossentropy

    def counted(*args, **kw):
        if not isinstance(args[1], np.ndarray):  # a call on the backend's arrays (a trace), not on NumPy's
            calls.append(1)
        return traced(*args, **kw)

    with cache.enabled():
        monkeypatch.setattr(ul, "categorical_crossentropy", counted)  # what Case.resolve() finds
        stored = part(case)
        programs = tmp_path / "programs"
        (folder,) = programs.iterdir()
        assert folder.name == cache.source_fingerprint()[:16] and len(list(folder.iterdir())) == 1
        n = len(calls)
        assert n > 0
        loaded = part(case)
        assert len(calls) == n  # loaded, not traced
        part(mine)
        assert len(list(folder.iterdir())) == 1  # the kit's case is not stored
        monkeypatch.setattr(cache, "_STARTED", 0.0)  # a source file changed since the command started:
        part(case)  # the code running may not be the code hashed, so nothing is loaded
        assert len(calls) == 2 * n
        monkeypatch.setattr(cache, "_STARTED", time.time() + 3600)
        n = len(calls)
        monkeypatch.setattr(cache, "_fingerprint", "0" * 64)  # as if unilosses' source had changed
        part(case)
        assert len(calls) > n and sorted(p.name for p in programs.iterdir()) == sorted([folder.name, "0" * 16])
        for i in range(cache.KEEP + 2):  # older programs: the KEEP used last stay
            (programs / f"old{i}").mkdir()
            os.utime(programs / f"old{i}", (i, i))
        monkeypatch.setattr(cache, "_fingerprint", "1" * 64)
        part(case)
        kept = sorted(p.name for p in programs.iterdir())
        newest = [f"old{i}" for i in range(cache.KEEP + 2)][::-1][: cache.KEEP - 3]
        assert kept == sorted(["1" * 16, "0" * 16, folder.name, *newest])
    for out in (stored, loaded):
        for r, v in fresh["outputs"].items():
            for got, want in zip(out["outputs"][r] if r == "stats" else [out["outputs"][r]], v if r == "stats" else [v]):
                np.testing.assert_array_equal(got, want)
        if backend == "jax":
            for got, want in zip(out["grads"][0], fresh["grads"][0]):
                np.testing.assert_array_equal(got, want)


def test_reference_cache(tmp_path, monkeypatch):
    """The command line keeps each built-in case's references parts (the frameworks' own losses and
    the float64 one's finite differences): a later run reads them, calls no reference and imports
    none of their frameworks, and reports what a fresh run reports. Another release of a reference
    package, another KERAS_BACKEND, a failed reference or a case of your own: nothing read or kept."""
    import dataclasses

    from unilosses.check import cache
    from unilosses.check.compute import REFS, Setup, assemble, run_part
    from unilosses.conformance import REFERENCE_PACKAGES, reference_installed

    refs_available = {fw: reference_installed(fw) for fw in REFERENCE_PACKAGES}
    # the richest installed references: most frameworks, a float64 one with finite differences first
    pool = [c for c in all_cases() if any(refs_available.get(fw) for fw in c.references)]
    if not pool:
        pytest.skip("no reference package installed (torch, optax, Keras...)")
    case = max(pool, key=lambda c: (Setup(c, ["numpy"], refs_available, True).native is not None,
                                    len({fw for fw in c.references if refs_available.get(fw)})))
    calls: list[str] = []

    def counting(fw, ref):
        def call(*args):
            calls.append(fw)
            return ref(*args)
        return call

    case = dataclasses.replace(case, references={fw: counting(fw, r) for fw, r in case.references.items()})
    monkeypatch.setenv("UNILOSSES_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(cache.NO_CACHE_ENV, raising=False)
    monkeypatch.setattr(cache, "_STARTED", time.time() + 3600)  # no source edited since the "command" started

    def run(s: Setup) -> tuple[dict, dict]:
        parts = {p: run_part(s, p) for p in s.parts()}
        return parts, assemble(s, parts)

    def setup(c: Case = case) -> Setup:
        return Setup(c, ["numpy"], refs_available, True)

    _, fresh = run(setup())  # outside the command line: nothing kept
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    with cache.enabled():
        first = setup()
        groups = [REFS + fw for fw in first.ref_groups]
        assert groups and all(g in first.parts() for g in groups) and not first.stored
        run(first)
        second = setup()
        assert sorted(second.stored) == sorted(groups) and not set(groups) & set(second.parts())
        n = len(calls)
        parts, row = run(second)
        assert len(calls) == n and not any(p.startswith(REFS) for p in parts)  # no reference called
        assert row == fresh
        keras_backend = os.environ.get("KERAS_BACKEND")
        monkeypatch.setenv("KERAS_BACKEND", f"not-{keras_backend}")
        assert not setup().stored  # settings that change a reference's numbers are in the key
        if keras_backend is None:
            monkeypatch.delenv("KERAS_BACKEND")
        else:
            monkeypatch.setenv("KERAS_BACKEND", keras_backend)
        monkeypatch.setitem(cache._versions, "optax", "0.0.0")
        assert not setup().stored  # and every reference package's release
        monkeypatch.setattr(cache, "_versions", {})
        assert sorted(setup().stored) == sorted(groups)
        # a reference that fails is reported, and its part not kept
        failing = dataclasses.replace(case, id=case.id + "-failing",
                                      references={**case.references, next(iter(first.refs)): lambda *a: 1 / 0})
        run(setup(failing))
        assert len(setup(failing).stored) == len(groups) - 1
        # a case of your own: its references are your code, never kept
        mine = dataclasses.replace(case, id=case.id + "-mine", function=case.resolve())
        n = len(calls)
        run(setup(mine))
        assert len(calls) > n
        assert not setup(mine).stored


def test_cache_keys_are_stable_across_processes():
    """A cache key is the same in every process: an option holding a function (its default repr has
    the function's address) keys by the function's name, else such a case would be traced and its
    references called again in every run."""
    from unilosses.check import cache

    case = next(c for c in all_cases() if any(callable(v) for v in c.options.values()))
    code = ("import sys; from unilosses.check import cache; from unilosses.conformance import all_cases\n"
            f"case = next(c for c in all_cases() if c.id == {case.id!r})\n"
            "print(cache.result_key((), case.id, sorted(case.options.items())))")
    here = cache.result_key((), case.id, sorted(case.options.items()))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == here
