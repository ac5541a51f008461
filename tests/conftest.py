"""Test configuration: one ``backend`` fixture over every installed backend.

``UNILOSSES_BACKENDS=numpy,torch`` restricts the backends (the nox sessions set it).
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest

from unilosses.testing import ArrayBackend, available_backends

BACKENDS = available_backends()


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
