"""nox sessions: one per framework (each installs only that framework, newest releases; NumPy,
array_api_strict and Dask, which need no framework, share one); three on the
oldest releases pyproject.toml declares (the framework-facing files); one with every framework for
the tests that need several at once and the peers' own loss test suites (Keras', optax's); the
built wheel installed with NumPy alone; lint and doctests.

    nox                              # every default session (what CI runs)
    nox -s "tests(torch)"            # one framework, newest releases (.ci/constraints.txt)
    nox -s "oldest(jax)"             # oldest declared releases (.ci/constraints-oldest.txt)
    nox -s peers                     # only the peers' suites (tests-all runs them too)
    nox -s bench                     # the full benchmark table (not a CI gate)

Every install goes through a constraints file (``-c``): pyproject.toml declares ranges, the
constraints files pin the two tested ends of them.
"""

from __future__ import annotations

import os

import nox

# uv when installed (README's command installs it beside nox): it links each session's packages from
# its cache, where pip unpacks torch's and TensorFlow's wheels again for every session
nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["lint", "doctests", "docs", "wheel", "tests", "oldest", "tests-all", "hf"]

NEWEST = ".ci/constraints.txt"
# uv reads no pip configuration: a machine's local wheels for pip (PIP_FIND_LINKS) are uv's too
if "PIP_FIND_LINKS" in os.environ:
    os.environ.setdefault("UV_FIND_LINKS", ",".join(os.environ["PIP_FIND_LINKS"].split()))
# uv compiles the bytecode at install, as pip does (uv's default is not to): where
# PYTHONDONTWRITEBYTECODE is set, every test process would otherwise compile every module it
# imports, TensorFlow's and torch's thousands among them
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
OLDEST = ".ci/constraints-oldest.txt"
# backends -> the extras that install only that framework (and its reference losses: optax for JAX).
# NumPy, array_api_strict and Dask install no framework and share a session: the tests that take no
# `backend` fixture (CLI, docs, layers, reports) would otherwise run three times with the same install.
BACKENDS = {
    "numpy, array_api_strict, dask": "test,strict,dask",
    "jax": "test,jax,optax",
    "torch": "test,torch,pml,monai",
    "tensorflow": "test,tensorflow",
}
# The oldest releases: frameworks that install side by side share a session (TensorFlow 2.16 pins
# ml-dtypes 0.3, JAX 0.4.35 needs 0.4: those two get one each); torch's oldest is its newest (2.13.0,
# the one CPU wheel here), so its session tests NumPy 1.26 under torch.
OLDEST_SESSIONS = {
    "numpy, array_api_strict, dask, torch": "test,strict,dask,torch",
    "jax": "test,jax,optax",
    "tensorflow": "test,tensorflow",
}
# torch's compiler, autodiff and adapter tests are the same as in tests(torch): its oldest release is
# its newest (its values on NumPy 1.26 inputs still run, in test_conformance and test_array_types)
NOT_AGAIN = {"numpy, array_api_strict, dask, torch": ("test_compile.py", "test_autodiff.py", "test_torch_adapter.py")}
# Run on the oldest releases: the files that exercise a framework's API (conformance against the
# frameworks' own losses, compilers, autodiff, dtypes and devices, array types, adapters, Dask).
# The rest test unilosses' own logic on top of those APIs (properties, fuzzing, errors, reductions,
# families), which the newest sessions cover on every backend (CI time).
ON_OLDEST = ("test_conformance.py", "test_compile.py", "test_autodiff.py", "test_dtypes.py",
             "test_array_types.py", "test_keras_adapter.py", "test_torch_adapter.py", "test_dask.py")
# pytest-xdist workers: this project's CI machines have 2 cores
WORKERS = os.environ.get("UNILOSSES_TEST_WORKERS", "2")
# quiet TensorFlow; one thread per xdist worker (2 workers on 2 cores: threads would only contend)
# XLA's cheap CPU compiler settings (as `check` uses): the suite compiles thousands of small programs,
# 1.5x less CPU at optimisation level 0, the same results within the tests' tolerances. XLA aborts on a
# flag it does not know: the oldest releases (jaxlib 0.4.35, TensorFlow 2.16) get only the old flags,
# the pinned newest ones also two newer flags (a tenth less CPU again).
CHEAP_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true --xla_cpu_multi_thread_eigen=false"
NEWER_XLA = "--xla_cpu_use_fusion_emitters=false --xla_cpu_parallel_codegen_split_count=1"
# PYTHONDONTWRITEBYTECODE emptied (set on this project's machines): every test process would otherwise
# compile unilosses' modules and pytest rewrite every test module again (installed packages are compiled
# at install); about 3 s of each pytest worker's collection
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": ""}
ENV = {**QUIET, "XLA_FLAGS": os.environ.get("XLA_FLAGS", f"{CHEAP_XLA} {NEWER_XLA}")}
OLDEST_ENV = {**QUIET, "XLA_FLAGS": os.environ.get("XLA_FLAGS", CHEAP_XLA)}
# loadgroup: tests marked xdist_group share a worker (one dask LocalCluster, not one per worker)
PYTEST = ("pytest", "-n", WORKERS, "--dist", "loadgroup")


def _install(session: nox.Session, *args: str, constraints: str = NEWEST) -> None:
    session.install("-c", constraints, *args)


def _install_tf_keras(session: nox.Session) -> None:
    """tf-keras (Keras 2) without its dependency on the ``tensorflow`` package: the session's
    ``tensorflow-cpu`` is the same release (pip would download the other, 600 MB, beside it)."""
    session.install("-c", NEWEST, "--no-deps", "tf-keras")


#: KerasHub's own requirements, installed apart from it (``--no-deps``): not tensorflow-text (for its
#: tokenizers, which the tests do not use; it requires the ``tensorflow`` package, 600 MB beside the
#: session's ``tensorflow-cpu``), and kagglesdk at kagglehub's minimum (KerasHub 0.32 pins an older one)
KERAS_HUB_DEPS = ("absl-py", "packaging", "regex", "rich", "kagglehub", "kagglesdk", "sentencepiece", "tokenizers")


def _install_keras_hub(session: nox.Session) -> None:
    """KerasHub, for ``unilosses.keras.fuse_lm_head`` (tests/test_keras_hub.py), without tensorflow-text."""
    session.install("-c", NEWEST, "--no-deps", "keras-hub")
    session.install("-c", NEWEST, *KERAS_HUB_DEPS)


def _ids(groups: dict[str, str]) -> list[object]:
    """``nox.param`` per group of backends, named ``a+b`` (``nox -s "tests(torch)"``)."""
    return [nox.param(b, id=b.replace(", ", "+")) for b in groups]


@nox.session(name="tests")
@nox.parametrize("backends", _ids(BACKENDS))
def tests(session: nox.Session, backends: str) -> None:
    """The suite on one framework's backend (or the three that need none), with only that framework
    installed (its newest release)."""
    _install(session, "-e", f".[{BACKENDS[backends]}]")
    session.run(*PYTEST, "-m", "not slow", *session.posargs,
                env={"UNILOSSES_BACKENDS": backends.replace(" ", ""), **ENV})


@nox.session(name="oldest")
@nox.parametrize("backends", _ids(OLDEST_SESSIONS))
def oldest(session: nox.Session, backends: str) -> None:
    """The framework-facing test files (``ON_OLDEST``) on the oldest releases pyproject.toml declares:
    test_conformance against the frameworks' own losses on every case, the other per-case sweeps
    (against NumPy, dtypes, array types, Dask...) on one case per loss."""
    _install(session, "-e", f".[{OLDEST_SESSIONS[backends]}]", constraints=OLDEST)
    files = [f"tests/{f}" for f in ON_OLDEST if f not in NOT_AGAIN.get(backends, ())]
    session.run(
        *PYTEST, "-m", "not slow", *files, *session.posargs,
        env={"UNILOSSES_BACKENDS": backends.replace(" ", ""), "UNILOSSES_TEST_CASES": "per-loss", **OLDEST_ENV},
    )


@nox.session(name="tests-all")
def tests_all(session: nox.Session) -> None:
    """Every framework installed, for the tests that need several at once: the NumPy backend
    against torch's, Keras', optax's and tf.nn's own losses (every other backend is held to NumPy
    in its own session), then the tests marked ``multi`` (arrays of several frameworks) and ``slow``
    (distributed engines, Keras training, KerasHub models) on every backend."""
    _install(session, "-e", ".[all,test,docs]")
    # tf-keras (Keras 2): its training loops (tests/test_keras_training.py) and its own loss tests (peers)
    _install_tf_keras(session)
    _install_keras_hub(session)
    session.run(
        *PYTEST, "-m", "not slow and not multi", *session.posargs,
        env={"UNILOSSES_BACKENDS": "numpy", **ENV},
    )
    session.run(*PYTEST, "-m", "slow or multi", *session.posargs, env=ENV)
    # a user's own losses (tests/mylosses.py) through `check --module`, on every backend
    session.run("python", "-m", "unilosses", "check", "--module", "mylosses", "--quick",
                env={**ENV, "PYTHONPATH": "tests"})
    if not session.posargs:  # the peers' suites need the same install: run here, not in a venv of their own
        _peers(session)


@nox.session
def hf(session: nox.Session) -> None:
    """``unilosses.torch.fuse_lm_head`` on Hugging Face models (tests/test_hf.py): torch and transformers
    only (the ``hf`` extra is in no other session), tiny random models, no download."""
    _install(session, "-e", ".[torch,test,hf]")
    session.run(*PYTEST, "tests/test_hf.py", *session.posargs, env={"UNILOSSES_BACKENDS": "torch", **ENV})


@nox.session
def peers(session: nox.Session) -> None:
    """Keras' and optax's own loss tests (from their wheels, the newest releases) against unilosses,
    through the translation shim in peers/; fails on any failure not listed in peers/expected.py."""
    _install(session, "-e", ".[all,test]")
    _install_tf_keras(session)
    _peers(session)


def _peers(session: nox.Session) -> None:
    session.run("python", "-m", "peers", *session.posargs, env=ENV)


@nox.session
def wheel(session: nox.Session) -> None:
    """The sdist and wheel built and checked (twine), the wheel installed (not editable) into a
    fresh venv with NumPy and array-api-compat alone, and ``python -m unilosses check`` run there:
    package data, ``py.typed``, the entry point and the no-framework install. Then, by resolving
    only (``pip install --dry-run``), that ``unilosses[torch]`` keeps another installed torch."""
    _install(session, "build", "twine")
    dist = session.create_tmp() + "/dist"
    session.run("python", "-c", f"import shutil; shutil.rmtree({dist!r}, ignore_errors=True)")
    session.run("python", "-m", "build", "--outdir", dist)
    session.run("python", ".ci/wheel_check.py", dist, NEWEST, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy."""
    _install(session, "ruff", "mypy", "numpy", "array-api-compat")
    session.run("ruff", "check", "unilosses", "tests", "benchmarks", "peers", "noxfile.py", ".ci", "docs/hooks")
    session.run("mypy", "unilosses", "tests/mylosses.py")


@nox.session
def doctests(session: nox.Session) -> None:
    """The docstring examples (NumPy only), run as doctests."""
    _install(session, "-e", ".[test]")
    session.run(
        "pytest", "--doctest-modules", "-p", "no:unilosses.testing",
        "unilosses/losses", "unilosses/reduction.py", "unilosses/decorator.py", "unilosses/authoring.py",
        "unilosses/labels.py",
        "unilosses/kit/__init__.py",
        "-o", "testpaths=", *session.posargs,
    )


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml), warnings as errors; it imports no framework (the pages'
    examples run in tests-all: tests/test_docs.py)."""
    _install(session, "-e", ".[docs]")
    session.run(
        "mkdocs", "build", "--strict", "-d", session.create_tmp() + "/site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark table: unilosses beside each framework's native loss (ratios)."""
    _install(session, "-e", ".[all]", "scikit-learn", "matplotlib")
    timing_env = {k: v for k, v in ENV.items() if k != "XLA_FLAGS"}  # XLA's own defaults when timing
    session.run("python", "-m", "unilosses", "bench", *session.posargs, env=timing_env)
