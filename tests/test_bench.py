"""The benchmark runs (quick mode) and reports every row; timings are never asserted.

The two runs of every installed framework's rows (the table and the plot) are selected
with NumPy: in CI that is the numpy session (NumPy's rows) and tests-all (every framework
installed: every row), not again in each framework's own session, whose rows tests-all runs.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import selected

from unilosses import bench
from unilosses.bench.memory import MEMORY_CASES


@selected("numpy")
def test_quick_run_has_every_row():
    rows = bench.run(quick=True)
    assert [r["id"] for r in rows] == [c.id for c in bench.CASES] + [bench.MEMORY_ID] + [m.id for m in MEMORY_CASES]
    for r in rows:
        if r["skipped"]:
            assert "not installed" in r["skipped"] or "/proc" in r["skipped"]
            continue
        if r.get("unit", "s") == "bytes":  # peak extra memory at smoke-test sizes may be below a page
            assert r["unilosses"] >= 0 and r["native_time"] >= 0
        else:
            assert r["unilosses"] > 0 and r["native_time"] > 0 and r["ratio"] > 0
        assert r["within_goal"] is None  # smoke-test sizes: no verdict
        if r.get("unit", "s") == "s":
            assert r["agree"], f"{r['id']}: unilosses and the native loss disagree"
    table = bench.format_table(rows)
    lines = table.splitlines()
    assert lines[0] == "| case | unilosses | native | ratio | goal | within goal |"
    shown = [r for r in rows if not r.get("missing")]  # a row whose package is missing: named under the table
    assert len([line for line in lines if line.startswith("| ")]) == 2 + len(shown)
    flat = " ".join(table.split())
    for r in shown:
        assert f"{r['id']}: " in flat and r["native"] in flat
    for line in lines[2 : 2 + len(shown)]:
        verdict = line.rstrip(" |").rsplit("| ", 1)[-1]
        assert verdict == "not judged" or verdict.startswith("skipped: "), line
    assert max(len(line) for line in lines) <= 100


def test_full_size_rows_get_a_verdict():
    """Rows measured at full size say yes / no against their goal."""
    row = bench.cases.blank_row("x", "numpy", "a case", "np.f", 1.5)
    row.update(unilosses=2e-6, native_time=1e-6, ratio=2.0, within_goal=False)
    assert bench.format_table([row]).splitlines()[2] == "| x | 2.0 us | 1.0 us | 2.00 | <= 1.50 | no |"
    row.update(ratio=1.2, within_goal=True)
    assert bench.format_table([row]).splitlines()[2].endswith("| <= 1.50 | yes |")
    assert bench.format_table([row]).splitlines()[4] == "x: a case; native: np.f"


def test_check_refuses_quick(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--check"])
    assert "--quick" in capsys.readouterr().err


def test_skipped_rows_say_why(monkeypatch):
    monkeypatch.setattr(bench.cases, "missing", lambda modules: ["torch"] if "torch" in modules else [])
    rows = bench.run(quick=True, cases=["torch-small"], with_memory=True)
    by_id = {r["id"]: r for r in rows}
    torch_memory = {m.id for m in MEMORY_CASES if m.framework == "torch"}
    assert "lce-torch-memory" in torch_memory and set(by_id) == {"torch-small", bench.MEMORY_ID} | torch_memory
    assert all(by_id[m]["skipped"] == "torch not installed" for m in torch_memory)
    assert by_id["torch-small"]["skipped"] == "torch not installed"
    assert by_id[bench.MEMORY_ID]["skipped"] == "torch not installed"
    table = bench.format_table(rows)
    assert "| torch-small |" not in table and "skipped" not in table  # not a row: one line under the table
    in_order = ", ".join(m.id for m in MEMORY_CASES if m.framework == "torch")
    expected = f"Not run: torch-small, {bench.MEMORY_ID}, {in_order} (pip install torch)."
    assert "".join(table.split()).endswith("".join(expected.split()))  # the line wraps (at hyphens too)


def test_missing_sklearn_is_one_line_naming_the_package():
    """scikit-learn is in no extra: its rows are not listed as skipped but named with the package to install."""
    row = bench.cases.blank_row("numpy-probs", "numpy", "NumPy, CE", "sklearn.metrics.log_loss", 0.5)
    row.update(skipped="sklearn not installed", missing=["sklearn"])
    ok = bench.cases.blank_row("torch-small", "torch", "torch eager", "F.cross_entropy", 2.0)
    ok.update(unilosses=2e-6, native_time=1e-6, ratio=2.0, within_goal=True)
    lines = bench.format_table([ok, row]).splitlines()
    assert lines[-1] == "Not run: numpy-probs (pip install scikit-learn)."
    assert sum(line.startswith("| ") for line in lines) == 3


def test_bench_cli_progress_and_typos():
    """bench shows its progress on stderr as check does; an unknown case is refused at once with a hint."""
    import subprocess
    import sys

    run = lambda *a: subprocess.run([sys.executable, "-m", "unilosses", "bench", *a], capture_output=True, text=True, timeout=300)  # noqa: E731
    r = run("--quick", "--cases", "numpy-small", "--no-memory")
    assert r.returncode == 0, r.stderr
    err = r.stderr.splitlines()
    assert err[0] == "unilosses bench: 1 timed case at --quick sizes, one repeat" and err[-1].startswith("bench: 1/1 cases, ")
    assert max(len(line) for line in r.stdout.splitlines()) <= 100
    r = run("--cases", "numpy-smal")
    assert r.returncode == 2 and "did you mean 'numpy-small'" in r.stderr


def test_cases_by_framework_and_unknown_case():
    rows = bench.run(quick=True, cases="numpy")
    assert [r["id"] for r in rows] == [c.id for c in bench.CASES if c.framework == "numpy"] and len(rows) >= 2
    with pytest.raises(ValueError, match="cases: unknown"):
        bench.run(quick=True, cases=["no-such-case"])


def test_main_json(capsys):
    assert bench.main(["--quick", "--cases", "numpy-probs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in out["rows"]] == ["numpy-probs"]
    assert "numpy" in out["environment"]


@selected("numpy")
def test_plot(tmp_path):
    if importlib.util.find_spec("matplotlib") is None:
        with pytest.raises(ImportError, match="pip install matplotlib"):
            bench.plot(str(tmp_path / "p.png"), quick=True)
        return
    path = tmp_path / "classes.png"
    data = bench.plot(str(path), quick=True, classes=(10, 100))
    assert path.stat().st_size > 0
    assert data["classes"] == [10, 100]
    memory = data["lm_head_memory"]
    for key, values in memory.items():  # the LM head's memory row: each point measured (one framework when quick)
        if key.endswith(("-unilosses", "-native")):
            # tiny sizes: a point can be under the resident-memory resolution (0), never negative
            assert len(values) == len(memory["vocabs"]) and all(b >= 0 for b in values), (key, values)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status")
def test_peak_extra_is_not_hidden_by_memory_freed_before():
    """Memory an earlier call freed stays in the heap: peak_extra hands it back first, so a call
    that allocates as much again is measured (without the trim it read about 0 here)."""
    from unilosses.bench.memory import peak_extra

    def grow() -> list[bytearray]:
        return [bytearray(4000) for _ in range(10_000)]  # 40 MB in small blocks: heap, not mmap

    held = grow()
    pin = bytearray(4000)  # above the freed blocks: they are not the heap's top, which malloc trims itself
    del held
    extra = peak_extra(grow)["extra_bytes"]
    assert extra > 30e6, extra
    del pin


def test_shared_child_runs_every_call_in_one_interpreter(tmp_path, monkeypatch):
    """--quick's memory rows: each call's JSON line, lines printed beside it ignored, a failing
    call raised as the variant's error and the next call served; without it, an interpreter a call."""
    from unilosses.bench.peak import SharedChild, run_child

    (tmp_path / "fake_child.py").write_text(
        "import json, os\n"
        "def child(variant, n):\n"
        "    print('a line of its own')\n"
        "    if variant == 'boom':\n"
        "        raise ValueError('boom in the child')\n"
        "    print(json.dumps({'variant': variant, 'n': n, 'pid': os.getpid()}))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with SharedChild() as child:
        first = child("fake_child", "child", "a", (3,))
        with pytest.raises(RuntimeError, match=r"'boom'(.|\n)*boom in the child"):
            child("fake_child", "child", "boom", (1,))
        second = child("fake_child", "child", "b", (4,))
    assert (first["variant"], first["n"], second["variant"], second["n"]) == ("a", 3, "b", 4)
    assert first["pid"] == second["pid"]
    fresh = [run_child("fake_child", "child", "a", (3,))["pid"] for _ in range(2)]
    assert len({*fresh, first["pid"]}) == 3
