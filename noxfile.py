"""nox sessions: one per backend (each installs only that framework), on the newest and on the
oldest releases pyproject.toml declares; one with every framework for the tests that need several
at once; the built wheel installed with NumPy alone; the peers' own loss test suites (Keras',
optax's) against unilosses; lint and doctests.

    nox                              # every default session (what CI runs)
    nox -s "tests(torch)"            # one backend, newest releases (.ci/constraints.txt)
    nox -s "tests(jax, oldest)"      # one backend, oldest declared releases (.ci/constraints-oldest.txt)
    nox -s bench                     # the full benchmark table (not a CI gate)

Every install goes through a constraints file (``-c``): pyproject.toml declares ranges, the
constraints files pin the two tested ends of them.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["lint", "doctests", "wheel", "tests", "tests-all", "peers"]

NEWEST = ".ci/constraints.txt"
OLDEST = ".ci/constraints-oldest.txt"
# backend -> the extras that install only that framework (and its reference losses: optax for JAX)
BACKENDS = {
    "numpy": "test",
    "array_api_strict": "test,strict",
    "dask": "test,dask",
    "jax": "test,jax,optax",
    "torch": "test,torch",
    "tensorflow": "test,tensorflow",
}
# Not run again on the oldest releases (CI time): hypothesis properties and fuzzing, error
# messages, extreme values, threads, bench and check's own machinery exercise unilosses' logic,
# which the newest sessions cover; every file touching a framework's API (conformance against the
# frameworks' losses, compilers, autodiff, dtypes, adapters, Dask, distributed, families) still runs.
NOT_ON_OLDEST = ("test_properties.py", "test_fuzz.py", "test_errors.py", "test_extremes.py",
                 "test_threads.py", "test_bench.py", "test_check.py", "test_peers.py")
# pytest-xdist workers: this project's CI machines have 2 cores
WORKERS = os.environ.get("UNILOSSES_TEST_WORKERS", "2")
# quiet TensorFlow; one thread per xdist worker (2 workers on 2 cores: threads would only contend)
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
# loadgroup: tests marked xdist_group share a worker (one dask LocalCluster, not one per worker)
PYTEST = ("pytest", "-n", WORKERS, "--dist", "loadgroup")


def _install(session: nox.Session, *args: str, constraints: str = NEWEST) -> None:
    session.install("-c", constraints, *args)


@nox.session(name="tests")
@nox.parametrize(
    ("backend", "versions"),
    [nox.param(b, v, id=b if v == "newest" else f"{b}, oldest") for v in ("newest", "oldest") for b in BACKENDS],
)
def tests(session: nox.Session, backend: str, versions: str) -> None:
    """The suite on one backend, with only that framework installed (its newest or oldest release;
    on the oldest, without the files that check unilosses' own logic rather than a framework's API)."""
    oldest = versions == "oldest"
    _install(session, "-e", f".[{BACKENDS[backend]}]", constraints=OLDEST if oldest else NEWEST)
    skip = [f"--ignore=tests/{f}" for f in NOT_ON_OLDEST] if oldest else []
    session.run(
        *PYTEST, "-m", "not slow", *skip, *session.posargs,
        env={"UNILOSSES_BACKENDS": backend, **ENV},
    )


@nox.session(name="tests-all")
def tests_all(session: nox.Session) -> None:
    """Every framework installed, for the tests that need several at once: the NumPy backend
    against torch's, Keras', optax's and tf.nn's own losses (every other backend is held to NumPy
    in its own session), then the tests marked ``multi`` (arrays of several frameworks) and ``slow``
    (distributed engines, Keras training) on every backend."""
    _install(session, "-e", ".[all,test]")
    session.run(
        *PYTEST, "-m", "not slow and not multi", *session.posargs,
        env={"UNILOSSES_BACKENDS": "numpy", **ENV},
    )
    session.run(*PYTEST, "-m", "slow or multi", *session.posargs, env=ENV)


@nox.session
def peers(session: nox.Session) -> None:
    """Keras' and optax's own loss tests (from their wheels, the newest releases) against unilosses,
    through the translation shim in peers/; fails on any failure not listed in peers/expected.py."""
    _install(session, "-e", ".[all,test]")
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
    session.run("ruff", "check", "unilosses", "tests", "benchmarks", "peers", "noxfile.py", ".ci")
    session.run("mypy", "unilosses")


@nox.session
def doctests(session: nox.Session) -> None:
    """The docstring examples (NumPy only), run as doctests."""
    _install(session, "-e", ".[test]")
    session.run(
        "pytest", "--doctest-modules", "-p", "no:unilosses.testing",
        "unilosses/losses", "unilosses/reduction.py", "unilosses/loss.py",
        "-o", "testpaths=", *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark table: unilosses beside each framework's native loss (ratios)."""
    _install(session, "-e", ".[all]", "scikit-learn", "matplotlib")
    session.run("python", "-m", "unilosses", "bench", *session.posargs, env=ENV)
