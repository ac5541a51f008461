"""nox sessions: one per backend (each installs only that framework), one with every
framework for the cross-framework conformance tests, lint (ruff + mypy), doctests and
benchmarks.

    nox                      # every default session (what CI runs)
    nox -s "tests(torch)"    # one backend
    nox -s bench             # the full benchmark table (not a CI gate)
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = [
    "lint",
    "doctests",
    "tests",
    "tests-all",
]

# backend -> the extra that installs only that framework
BACKENDS = {
    "numpy": "test",
    "array_api_strict": "test,strict",
    "dask": "test,dask",
    "jax": "test,jax",
    "torch": "test,torch",
    "tensorflow": "test,tensorflow",
}
# pytest-xdist workers: this project's CI machines have 2 cores
WORKERS = os.environ.get("UNILOSSES_TEST_WORKERS", "2")
# quiet TensorFlow; one thread per xdist worker (2 workers on 2 cores: threads would only contend)
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}


@nox.session(name="tests")
@nox.parametrize("backend", list(BACKENDS), ids=list(BACKENDS))
def tests(session: nox.Session, backend: str) -> None:
    """The suite on one backend, with only that framework installed."""
    session.install("-e", f".[{BACKENDS[backend]}]")
    session.run(
        "pytest", "-n", WORKERS, "-m", "not slow", *session.posargs,
        env={"UNILOSSES_BACKENDS": backend, **QUIET_TF},
    )


@nox.session(name="tests-all")
def tests_all(session: nox.Session) -> None:
    """Every backend at once, with every framework installed: the cross-framework
    conformance against torch, Keras, optax and tf.nn, distributed engines and Keras training."""
    session.install("-e", ".[all,test]")
    session.run("pytest", "-n", WORKERS, *session.posargs, env=QUIET_TF)
    session.run("python", "-m", "unilosses", "check", env=QUIET_TF)
    # a user's own losses (tests/mylosses.py) through the conformance kit, on every backend
    session.run("python", "-m", "unilosses", "check", "--module", "mylosses", env={**QUIET_TF, "PYTHONPATH": "tests"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy (mypy also on tests/mylosses.py: a user's module written with the public API)."""
    session.install("ruff>=0.6", "mypy>=1.10", "numpy>=1.26", "array-api-compat>=1.12")
    session.run("ruff", "check", "unilosses", "tests", "benchmarks", "noxfile.py")
    session.run("mypy", "unilosses", "tests/mylosses.py")


@nox.session
def doctests(session: nox.Session) -> None:
    """The docstring examples (NumPy only), run as doctests."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "--doctest-modules", "-p", "no:unilosses.testing",
        "unilosses/losses", "unilosses/reduction.py", "unilosses/loss.py", "unilosses/authoring.py",
        "unilosses/kit/__init__.py",
        "-o", "testpaths=", *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark table: unilosses beside each framework's native loss (ratios)."""
    session.install("-e", ".[all]", "scikit-learn", "matplotlib")
    session.run("python", "-m", "unilosses", "bench", *session.posargs, env=QUIET_TF)
