"""The peers' suites harness (``peers/``, ``nox -s peers``): its own logic.

The fallback record, the pytest plugin (a test that used the framework's own loss is
missing, never passed), the comparison with ``peers/expected.py`` (an unlisted failure
and a listed test that no longer fails both fail the session), the import rewrite (only
import lines change) and the translations (optax's signatures, Keras' option names).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import selected

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # peers/ is repository tooling, not part of the installed package
    sys.path.insert(0, str(ROOT))

from peers import expected as expected_module  # noqa: E402
from peers import fallback  # noqa: E402
from peers.run import Run, classify, readme_problems, verdict  # noqa: E402
from peers.suites import KERAS, OPTAX, SUITES, TF_KERAS, bound_names, changed_lines, rewrite  # noqa: E402

# ------------------------------------------------------------ fallback record
_PLUGIN_TESTS = '''
import pytest
from peers import fallback

def test_plain():
    assert 1 + 1 == 2

def test_uses_fallback():
    fallback.note("optax.thing: no unilosses.thing")
    assert True

def test_fallback_then_fails():
    fallback.note("optax.thing: no unilosses.thing")
    assert False, "wrong number"

def test_fails():
    raise ValueError("a defect")

def test_catches_exceptions():
    try:
        fallback.note("keras.losses.X: no unilosses.keras.X")
    except Exception:
        pass

@pytest.mark.skip(reason="not on this backend")
def test_skipped():
    pass
'''


def _run_plugin(tmp_path: Path, mode: str) -> tuple[dict, str]:
    (tmp_path / "test_sample.py").write_text(_PLUGIN_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEERS_FALLBACK": mode}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "peers.plugin", f"--peers-report={report}", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), "-q", "test_sample.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert report.exists(), proc.stdout + proc.stderr
    return {k.split("::")[-1]: v for k, v in json.loads(report.read_text()).items()}, proc.stdout


@selected("numpy")
@pytest.mark.parametrize("mode", ["run", "stop"])
def test_a_fallback_is_missing_never_passed(tmp_path: Path, mode: str) -> None:
    results, stdout = _run_plugin(tmp_path, mode)
    assert results["test_plain"]["outcome"] == "passed"
    assert results["test_uses_fallback"]["outcome"] == "missing"
    assert results["test_uses_fallback"]["fallbacks"] == ["optax.thing: no unilosses.thing"]
    assert results["test_fails"]["outcome"] == "failed"
    assert results["test_fails"]["message"] == "ValueError: a defect"
    assert results["test_skipped"]["outcome"] == "skipped"
    # a test's own `except Exception` does not swallow the stop (a BaseException)
    assert results["test_catches_exceptions"]["outcome"] == "missing"
    # run mode: a test that used a fallback and then failed is a failure to triage;
    # stop mode: it stopped at the fallback, before the assertion
    expected = "failed" if mode == "run" else "missing"
    assert results["test_fallback_then_fails"]["outcome"] == expected
    assert " missing" in stdout.splitlines()[-1]  # pytest's summary line counts the category


_DRAWING_TESTS = '''
import json, os, random
import numpy as np

def _record(name):
    with open(os.environ["DRAWS"], "a") as f:
        f.write(json.dumps([name, float(np.random.random()), random.random()]) + "\\n")

def test_first():
    np.random.random(1000)  # moves the global generators on, as a suite's test does
    random.random()
    _record("first")

def test_second():
    _record("second")
'''


@selected("numpy")
def test_each_test_draws_the_same_numbers_whatever_ran_before_it(tmp_path: Path) -> None:
    """The suites draw inputs from NumPy's and Python's global generators, unseeded (optax's
    test_mask: a random mask, all False one run in 32); the plugin seeds both from the test's id."""
    (tmp_path / "test_draws.py").write_text(_DRAWING_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")

    def draws(*select: str) -> dict:
        out = tmp_path / "draws.jsonl"
        out.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DRAWS": str(out)}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "peers.plugin", "-p", "no:cacheprovider", "-c",
             str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), "-q", *select],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return {name: (a, b) for name, a, b in map(json.loads, out.read_text().splitlines())}

    both = draws("test_draws.py")
    alone = draws("test_draws.py::test_second")
    again = draws("test_draws.py")
    assert alone["second"] == both["second"]  # test_first's draws before it change nothing
    assert again == both
    assert both["first"] != both["second"]  # each test its own seed, not one for all


@selected("numpy")
def test_note_records_once_and_reset_clears() -> None:
    fallback.reset()
    if fallback.MODE == "stop":
        pytest.skip("PEERS_FALLBACK=stop in this process")
    fallback.note("a")
    fallback.note("b")
    fallback.note("a")
    assert fallback.used() == ["a", "b"]
    fallback.reset()
    assert fallback.used() == []


@selected("numpy")
def test_call_reports_a_missing_loss_and_option_and_passes_issue12_options() -> None:
    import numpy as np

    y, p = np.array([[0.0, 1.0]]), np.array([[0.3, 0.7]])
    with pytest.raises(fallback.Untranslatable, match="no unilosses.no_such_loss / nor_this"):
        fallback.call(("no_such_loss", "nor_this"), y, p)
    with pytest.raises(fallback.Untranslatable, match="binary_crossentropy has no option where"):
        fallback.call("binary_crossentropy", y, p, where=np.array([True, False]))
    # an option an open issue-12 item adds is passed as it is: unilosses' own error, a failure
    with pytest.raises(TypeError, match="not_yet"):
        fallback.call("binary_crossentropy", y, p, not_yet=True, required=("not_yet",))
    # a value unilosses lacks (its message names the option) is missing, not a failure
    with pytest.raises(fallback.Untranslatable, match="axis="):
        fallback.call("binary_crossentropy", y, p, axis=(0, 1), by_value=("axis",))
    np.testing.assert_allclose(
        fallback.call("binary_crossentropy", y, p, axis=None), [[-np.log(0.7), -np.log(0.7)]], rtol=1e-6
    )


@selected("numpy")
def test_translation_falls_back_to_the_framework_and_records_it() -> None:
    if fallback.MODE == "stop":
        pytest.skip("PEERS_FALLBACK=stop in this process")

    def real(a: float, b: float = 2.0) -> tuple:
        return ("framework", a, b)

    @fallback.translation(real, "fw.real")
    def shim(a: float, b: float = 2.0) -> tuple:
        if b != 2.0:
            raise fallback.Untranslatable("no option b")
        return ("unilosses", a, b)

    fallback.reset()
    assert shim(1.0) == ("unilosses", 1.0, 2.0)
    assert fallback.used() == []
    assert shim(1.0, b=3.0) == ("framework", 1.0, 3.0)
    assert fallback.used() == ["fw.real: no option b"]
    assert inspect.signature(shim) == inspect.signature(real)
    fallback.reset()


@selected("jax")
def test_a_jitted_fallback_is_recorded_in_every_test() -> None:
    """jax.jit caches a trace per function object: a test jitting what an earlier test
    jitted must still record its fallback (each access gives a new function)."""
    pytest.importorskip("optax")
    if fallback.MODE == "stop":
        pytest.skip("PEERS_FALLBACK=stop in this process")
    import jax
    import numpy as np

    from peers import optax_shim

    z, y = np.array([0.14, 1.456, -2.47]), np.array([0.2, 0.5, 0.3])
    shared = optax_shim._regression.l2_loss  # as a module-level parametrize would hold it
    for f in (lambda: optax_shim._regression.l2_loss, lambda: shared):
        for _ in range(2):  # two "tests"
            fallback.reset()
            jax.block_until_ready(jax.jit(f())(z, y))  # l2_loss: never translated, always a fallback
            assert fallback.used(), "a fallback under jax.jit went unrecorded"
    fallback.reset()


# ----------------------------------------------------- comparison with the list
def _run(results: dict, backend: str | None = "torch") -> Run:
    return Run("keras", backend, results={k: {"fallbacks": [], "message": "", **v} for k, v in results.items()})


@selected("numpy")
def test_unlisted_failure_and_stale_entry_fail_the_session(capsys: pytest.CaptureFixture) -> None:
    defect = expected_module.defect(8, "Dice's default axis")
    deliberate = expected_module.deliberate("16-bit", "16-bit", backends=("jax",))
    expected = {"t::listed": defect, "t::stale": defect, "t::jax_only": deliberate}
    run = _run({
        "t::ok": {"outcome": "passed"},
        "t::listed": {"outcome": "failed", "message": "AssertionError"},
        "t::stale": {"outcome": "passed"},
        "t::jax_only": {"outcome": "failed", "message": "AssertionError: dtype"},  # but this is torch
        "t::missing": {"outcome": "missing", "fallbacks": ["optax.x: no unilosses.x"]},
        "t::skip": {"outcome": "skipped"},
    })
    rows = {t: c for t, c, _ in classify(run, expected)}
    assert rows == {
        "t::ok": "passed", "t::listed": "defect", "t::stale": "STALE", "t::jax_only": "FAILED",
        "t::missing": "missing", "t::skip": "skipped",
    }
    assert verdict({"keras[torch]": classify(run, expected)}, []) == 1
    ok = _run({"t::ok": {"outcome": "passed"}, "t::listed": {"outcome": "failed"}})
    assert verdict({"keras[torch]": classify(ok, expected)}, []) == 0
    assert verdict({"keras[torch]": classify(ok, expected)}, ["a suite did not run"]) == 1
    # a listed test that now needs a fallback is stale too (the list must stay true)
    moved = _run({"t::listed": {"outcome": "missing", "fallbacks": ["x"]}})
    assert [c for _, c, _ in classify(moved, expected)] == ["STALE"]
    capsys.readouterr()


@selected("numpy")
def test_deliberate_differences_are_named_in_the_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nKnown disagreements between the frameworks:\n- **16-bit**: float32\n\n## Next\nerrors\n")
    expected = {
        "a": expected_module.deliberate("16-bit results", "**16-bit**"),
        "b": expected_module.deliberate("message wording", "errors"),  # only outside the section
        "c": expected_module.defect(1, "a defect needs no README line"),
    }
    assert [p.split(":")[0] for p in readme_problems(expected, readme)] == ["b"]
    # and the real list against the real page (the README's former section)
    assert readme_problems(expected_module.EXPECTED, ROOT / "docs" / "semantics.md") == []


@selected("numpy")
def test_expected_entries_are_well_formed() -> None:
    for nodeid, entry in expected_module.EXPECTED.items():
        assert nodeid.split("/")[0] in SUITES and "::" in nodeid, nodeid
        assert entry.kind in ("deliberate", "defect") and entry.reason, nodeid
        if entry.kind == "defect" and entry.item is None:
            assert "repro:" in entry.reason, f"{nodeid}: a new defect needs its one-line reproduction"
        if entry.item is not None:
            assert 1 <= entry.item <= 9, nodeid
        assert entry.backends is None or set(entry.backends) <= set(KERAS.backends), nodeid


#: docs/peers.md's row labels: (suite, Keras backend)
_ROWS = {
    "Keras, JAX": ("keras", "jax"), "Keras, torch": ("keras", "torch"), "Keras, TensorFlow": ("keras", "tensorflow"),
    "Keras, NumPy": ("keras", "numpy"), "optax": ("optax", None), "tf-keras": ("tf_keras", None),
}


@selected("numpy")
def test_the_docs_table_counts_what_the_list_holds() -> None:
    """docs/peers.md's table: a row per suite run, its listed columns what peers/expected.py holds
    for it (the passed / missing columns come from a run: ``python -m peers``), its total their sum."""
    rows = {}
    for line in (ROOT / "docs" / "peers.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] in _ROWS:
            rows[cells[0]] = [int(c) for c in cells[1:]]
    assert set(rows) == set(_ROWS)
    for label, (suite, backend) in _ROWS.items():
        passed, deliberate, defect, missing, skipped, total = rows[label]
        listed = [e.kind for k, e in expected_module.EXPECTED.items() if k.startswith(f"{suite}/") and e.applies(backend)]
        assert (deliberate, defect) == (listed.count("deliberate"), listed.count("defect")), label
        assert passed + deliberate + defect + missing + skipped == total, label


# ----------------------------------------------------------------- rewrite
@selected("numpy")
def test_rewrite_changes_only_the_imports_of_the_framework_losses() -> None:
    text = (
        "import numpy as np\n"
        "from keras.src import backend\n"
        "from keras.src.losses import losses\n"
        "from keras.src.losses.loss import Loss\n"
        "    self.assertEqual(losses.X()(y, p), 1.0)  # from keras.src.losses import losses\n"
    )
    new = rewrite(text, KERAS)
    assert changed_lines(text, new) == [
        ("from keras.src.losses import losses", "from peers.keras_shim import losses"),
        ("from keras.src.losses.loss import Loss", "from peers.keras_shim import Loss"),
    ]
    new = rewrite("from optax.losses import _regression\nimport optax\n", OPTAX)
    assert new == "from peers.optax_shim import _regression\nimport optax\n"
    with pytest.raises(RuntimeError, match="no rewrite rule"):
        rewrite("from keras.src.losses import something_new\n", KERAS)
    with pytest.raises(RuntimeError, match="no rewrite rule"):
        rewrite("from optax.losses._classification import softmax_cross_entropy\n", OPTAX)


@selected("numpy")
def test_tf_keras_rewrite_points_imports_at_the_shim_or_the_wheel() -> None:
    """tf-keras' tests import the repository's modules; the wheel has them under tf_keras.src
    (its pip_build.py), and the two loss modules come from the shim: the same names bound."""
    text = (
        "from tf_keras import backend\n"
        "from tf_keras import losses\n"
        "from tf_keras.testing_infra import test_combinations\n"
        "from tf_keras.utils import losses_utils\n"
        "        self.assertEqual(losses.get('mse'), 1)  # from tf_keras import losses\n"
    )
    assert changed_lines(text, rewrite(text, TF_KERAS)) == [
        ("from tf_keras import backend", "from tf_keras.src import backend"),
        ("from tf_keras import losses", "from peers.tf_keras_shim import losses"),
        ("from tf_keras.testing_infra import test_combinations", "from tf_keras.src.testing_infra import test_combinations"),
        ("from tf_keras.utils import losses_utils", "from peers.tf_keras_shim import losses_utils"),
    ]
    with pytest.raises(RuntimeError, match="no rewrite rule"):
        rewrite("import tf_keras\n", TF_KERAS)
    # what build() compares: an import may change where it reads from, never what it binds
    assert bound_names("from keras.src import losses as losses_module") == ["losses_module"]
    assert bound_names("from peers.keras_shim import losses_module") == ["losses_module"]
    assert bound_names("import tensorflow.compat.v2 as tf") == ["tf"]
    assert bound_names("x = 1") == [] and bound_names("from x import (") == []


@selected("numpy")
def test_vendored_files_are_the_upstream_bytes() -> None:
    """peers/vendored/tf_keras/ holds tf-keras' files unchanged: the SHA-256 sums its README records."""
    import hashlib
    import re

    folder = ROOT / "peers" / "vendored" / "tf_keras"
    sums = dict(re.findall(r"^\| `([\w.]+)` \|.*\| `([0-9a-f]{64})` \|$", (folder / "README.md").read_text(), re.MULTILINE))
    assert set(sums) == {"losses_test.py", "losses_utils_test.py", "metrics_correctness_test.py", "LICENSE"}
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert set(TF_KERAS.files) <= set(sums)


@pytest.mark.parametrize(
    "suite",
    [
        pytest.param(KERAS, marks=selected("tensorflow")),
        pytest.param(OPTAX, marks=selected("jax")),
        pytest.param(TF_KERAS, marks=selected("tensorflow")),
    ],
    ids=lambda s: s.name,
)
def test_rewrite_of_the_installed_test_files(suite, tmp_path: Path) -> None:
    import importlib.util

    from peers.suites import build, sources

    if importlib.util.find_spec(suite.package) is None:  # found, not imported (Keras would import TensorFlow)
        pytest.skip(f"{suite.package} is not installed")

    copies = build(suite, tmp_path)
    assert len(copies) == len(sources(suite)) >= 2
    for src, dst in zip(sources(suite), copies):
        changed = changed_lines(src.read_text(), dst.read_text())
        assert any(new.startswith("from peers.") for _, new in changed), src
        assert all(new.startswith(("from peers.", f"from {suite.package}.src")) for _, new in changed)
        compile(dst.read_text(), str(dst), "exec")


# ------------------------------------------------------------ translations
@selected("jax")
def test_optax_translations_have_optax_signatures() -> None:
    pytest.importorskip("optax")
    import importlib

    from peers import optax_shim

    assert sum(map(len, optax_shim.TRANSLATIONS.values())) >= 25
    for module, table in optax_shim.TRANSLATIONS.items():
        real_module = importlib.import_module(f"optax.losses.{module}")
        for name, translate in table.items():
            real = inspect.signature(getattr(real_module, name)).parameters
            ours = inspect.signature(translate).parameters
            assert list(ours) == list(real), name
            for p in real.values():  # the same defaults (optax's reduce_fn=jnp.mean is "mean" here)
                if p.name != "reduce_fn":
                    assert ours[p.name].default == p.default and ours[p.name].kind == p.kind, (name, p.name)


@selected("jax")
def test_optax_translation_matches_optax() -> None:
    pytest.importorskip("optax")
    import numpy as np
    import optax

    from peers import optax_shim

    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(4, 5)).astype(np.float32), rng.dirichlet(np.ones(5), size=4).astype(np.float32)
    fallback.reset()
    ours = optax_shim._classification.softmax_cross_entropy(z, y)
    np.testing.assert_allclose(ours, optax.softmax_cross_entropy(z, y), rtol=1e-5)
    np.testing.assert_allclose(optax_shim._regression.cosine_distance(z, y), optax.cosine_distance(z, y), rtol=1e-5)
    assert fallback.used() == []  # both translated, no fallback


@selected("tensorflow")
def test_keras_shim_renames_options_and_falls_back() -> None:
    pytest.importorskip("keras")
    import unilosses
    import unilosses.keras
    from peers import keras_shim

    loss = keras_shim.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, reduction=None)
    assert isinstance(loss, unilosses.keras.SparseCategoricalCrossentropy)
    assert loss.get_config()["ignore_index"] == -1
    assert keras_shim.losses_module.get("mse") is unilosses.mean_squared_error
    # a base class whose subclasses override call() is detected
    import keras

    assert fallback.call_overridable(keras.losses.Loss)
    assert fallback.call_overridable(unilosses.Loss) == (keras_shim.Loss is unilosses.Loss)


@selected("tensorflow")
def test_tf_keras_shim_translates_to_the_neutral_objects_and_falls_back() -> None:
    pytest.importorskip("tf_keras")
    if fallback.MODE == "stop":
        pytest.skip("PEERS_FALLBACK=stop in this process")
    import numpy as np
    import tf_keras

    import unilosses
    from peers import tf_keras_shim

    losses, losses_utils = tf_keras_shim.losses, tf_keras_shim.losses_utils
    fallback.reset()
    loss = losses.SparseCategoricalCrossentropy(True, -1, losses_utils.ReductionV2.SUM, "scce")  # tf-keras' order
    assert type(loss) is unilosses.SparseCategoricalCrossentropy  # the framework-neutral object
    assert loss.get_config()["ignore_index"] == -1 and loss.name == "scce" and loss.reduction == "sum"
    again = losses.BinaryFocalCrossentropy.from_config(losses.BinaryFocalCrossentropy(gamma=1.5).get_config())
    assert type(again) is unilosses.BinaryFocalCrossentropy and again.get_config()["gamma"] == 1.5
    assert losses_utils.ReductionV2 is unilosses.Reduction
    # an alias is the function it names, one object per name, which the registry hands back
    assert losses.mse is losses.mse and losses.get("mse") is losses.mean_squared_error
    assert losses.deserialize(losses.serialize(losses.mse)) is losses.mean_squared_error
    y, p = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[0.2, 0.6], [0.9, 0.4]])
    np.testing.assert_allclose(losses.mse(y, p), tf_keras.losses.mse(y, p), rtol=1e-6)
    assert fallback.used() == []
    # what unilosses lacks is tf-keras' own, recorded: a per-class alpha list, a wrapper of any function
    assert losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.8]).alpha == [0.2, 0.8]
    assert losses.LossFunctionWrapper(losses.mse).fn is losses.mse
    assert [u.split(":")[0] for u in fallback.used()] == [
        "tf_keras.losses.CategoricalFocalCrossentropy", "tf_keras.losses.LossFunctionWrapper",
    ]
    fallback.reset()
