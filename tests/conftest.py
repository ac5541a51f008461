"""Test configuration: one ``backend`` fixture over every installed backend.

``UNILOSSES_BACKENDS=numpy,torch`` restricts the backends (the nox sessions set it).
``UNILOSSES_TEST_CASES=per-loss`` makes the per-case sweeps of the files that take
:func:`sweep_cases` (dtypes, array types, Dask) run one case per loss, its richest
(the oldest-release sessions set it; test_conformance's comparisons with the frameworks' own
losses always run every case).
On Dask, the per-case sweeps of ``DASK_PER_LOSS_FILES`` run one case per loss, its richest.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest

from unilosses.conformance import Case, all_cases, richest_case_per_loss
from unilosses.testing import ArrayBackend, available_backends

BACKENDS = available_backends()


def sweep_cases() -> list[Case]:
    """The conformance cases a per-case sweep runs: every case, or one per loss (its richest) with
    ``UNILOSSES_TEST_CASES=per-loss``."""
    mode = os.environ.get("UNILOSSES_TEST_CASES", "all")
    if mode not in ("all", "per-loss"):
        raise ValueError(f"UNILOSSES_TEST_CASES: expected 'all' or 'per-loss', got {mode!r}")
    return richest_case_per_loss() if mode == "per-loss" else all_cases()


def selected(name: str) -> pytest.MarkDecorator:
    """Skip unless backend ``name`` is installed and selected (``UNILOSSES_BACKENDS``): for tests
    about one framework that take no ``backend`` (its adapter, compilers, distributed engines), so
    that they run in that framework's session and not again in ``tests-all``, which selects NumPy
    alone (and every backend for the tests marked ``slow`` or ``multi``)."""
    return pytest.mark.skipif(name not in BACKENDS, reason=f"backend {name} is not installed or not selected")


#: Files whose per-case sweeps run one case per loss (its richest) on Dask: a Dask call builds a task
#: graph (tens of milliseconds, the costliest call of any backend here), and Dask's own files already
#: run every case on chunked arrays (test_dask.py: every reduction with sample weights;
#: test_conformance.py: every reduction without). Elsewhere Dask runs the same Array API code as
#: array_api_strict, which these files sweep on every case.
DASK_PER_LOSS_FILES = ("test_dtypes.py", "test_extremes.py", "test_array_options.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselects the Dask items of ``DASK_PER_LOSS_FILES`` whose case is not its loss's richest."""
    richest = {c.id for c in richest_case_per_loss()}
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case = params.get("case")
        thinned = params.get("backend") == "dask" and item.path.name in DASK_PER_LOSS_FILES
        (drop if thinned and isinstance(case, Case) and case.id not in richest else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def one_program(backend_name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as one ``jax.jit`` program on JAX (called eagerly, each loss call in it would compile a
    program of its own, and a jit also runs every loss inside a caller's trace); ``fn`` elsewhere."""
    if backend_name != "jax":
        return fn
    import jax

    return jax.jit(fn)


def _map_tree(x: Any, f: Callable[[Any], Any]) -> Any:
    """``f`` of each leaf of nested dicts, lists and tuples (named tuples such as LossStats kept)."""
    if isinstance(x, dict):
        return {k: _map_tree(v, f) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        items = [_map_tree(v, f) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    return f(x)


def compute_tree(tree: Any, leaf: Callable[[Any], Any] = lambda v: v) -> Any:
    """Nested dicts, lists and tuples (named tuples such as LossStats kept) of results, the same
    structure back with ``leaf`` of each; lazy Dask leaves computed first, in one ``dask.compute``
    (what the calls share, the per-sample values, runs once)."""
    leaves: list[Any] = []

    def collect(x: Any) -> int:
        leaves.append(x)
        return len(leaves) - 1

    positions = _map_tree(tree, collect)
    values = leaves
    if any(type(v).__module__.startswith("dask.") for v in leaves):
        import dask

        values = list(dask.compute(*leaves))
    values = [leaf(v) for v in values]
    return _map_tree(positions, lambda i: values[i])


def compute_together(outs: list[Any]) -> list[Any]:
    """Lazy Dask results (arrays, or named tuples of them such as LossStats) computed in one
    ``dask.compute`` (:func:`compute_tree`). Same structure back."""
    return list(compute_tree(list(outs)))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> ArrayBackend:
    """An ArrayBackend per installed backend: ``backend.asarray(np_array)``, ``backend.name``."""
    return ArrayBackend(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True, scope="session")
def _torch_one_thread():
    """Test tensors are tiny: torch's intra-op threads only add contention."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _config_round_trip(cls: type, options: dict) -> tuple:
    """A Loss built with ``options`` (reduction "sum", a name) keeps them in ``get_config``, and
    ``from_config`` and ``unilosses.deserialize(serialize(...))`` rebuild it; returns (loss, rebuilt)."""
    import unilosses as ul

    loss = cls(reduction="sum", name="mine", **options)
    config = loss.get_config()
    assert config["name"] == "mine" and config["reduction"] == "sum"
    for k, v in options.items():
        assert config[k] == v, k
    assert cls.from_config(config).get_config() == config
    back = ul.deserialize(ul.serialize(loss))
    assert type(back) is cls and back.get_config() == config
    return loss, back


@pytest.fixture
def config_round_trip():
    """:func:`_config_round_trip`, shared by the per-family tests."""
    return _config_round_trip


def _registered(family: str, fn_name: str, cls_name: str) -> None:
    """``unilosses.get`` finds the function and the class by name, and the family module
    (``unilosses.losses._<family>``) and the package export both."""
    import importlib

    import unilosses as ul

    module = importlib.import_module(f"unilosses.losses._{family}")
    assert ul.get(fn_name) is getattr(ul, fn_name)
    assert isinstance(ul.get(cls_name), getattr(ul, cls_name))
    assert {fn_name, cls_name} <= set(module.__all__) and {fn_name, cls_name} <= set(ul.__all__)  # type: ignore[attr-defined]


@pytest.fixture
def registered():
    """:func:`_registered`, shared by the per-family tests."""
    return _registered
