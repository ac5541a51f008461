"""Test configuration: one ``backend`` fixture over every installed backend.

``UNILOSSES_BACKENDS=numpy,torch`` restricts the backends (the nox sessions set it).
"""

from __future__ import annotations

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
