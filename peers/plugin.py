"""pytest plugin for the peers' suites: a test that used a fallback is *missing*, never passed.

Loaded with ``-p peers.plugin``. Before each test it clears the fallback record
(:mod:`peers.fallback`); a test that passes after using the framework's own loss is
shown as ``MISSING`` (``M``), and a :class:`peers.fallback.Missing` stop (``--fallback
stop``) is missing too, not failed. ``--peers-report=FILE`` writes every test's outcome
as JSON: ``{nodeid: {"outcome": "passed" | "missing" | "failed" | "skipped",
"fallbacks": [...], "message": "..."}}``.

Each test starts from NumPy's and Python's global generators seeded from its node id: the
suites draw their inputs from them unseeded (optax's ``test_mask`` draws a random mask, all
False one run in 32 at size 5, which leaves zero classes), so without the seed an outcome
could change from one run to the next, and CI's from the one recorded in peers/expected.py.
"""

from __future__ import annotations

import json
import random
import zlib
from typing import Any

import numpy as np
import pytest

from peers import fallback

_results: dict[str, dict[str, Any]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--peers-report", default=None, help="write each test's outcome to this JSON file")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    fallback.reset()
    seed_for(item.nodeid)


def seed_for(nodeid: str) -> int:
    """Seed the global generators the suites draw from; the seed depends only on the test's
    id, not on which tests ran before it in this process (xdist, ``-k``, the order)."""
    seed = zlib.crc32(nodeid.encode())
    np.random.seed(seed)
    random.seed(seed)
    return seed


def _message(excinfo: Any) -> str:
    lines = str(excinfo.value).strip().splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    return f"{excinfo.typename}: {first}"[:400]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(fallback.Missing):
        report.outcome = "passed"  # stopped where unilosses lacks something: missing, below
        report.longrepr = None
    elif call.excinfo is not None and report.failed:
        report.user_properties.append(("peers_message", _message(call.excinfo)))
    if report.when == "call":
        report.user_properties.append(("peers_fallbacks", fallback.used()))


def _outcome(report: pytest.TestReport) -> str:
    if report.passed and dict(report.user_properties).get("peers_fallbacks"):
        return "missing"
    return report.outcome


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    if report.when == "call" and _outcome(report) == "missing":
        return "missing", "M", "MISSING"
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    entry = _results.setdefault(report.nodeid, {"outcome": "passed", "fallbacks": [], "message": "", "seconds": 0.0})
    entry["seconds"] = round(entry["seconds"] + report.duration, 3)
    if report.when == "call":
        entry["fallbacks"] = props.get("peers_fallbacks", [])
    if report.failed or report.skipped:
        if entry["outcome"] != "failed":  # the first failure (setup, call or teardown) is the one to show
            entry["outcome"] = report.outcome
            entry["message"] = props.get("peers_message", "") or _skip_reason(report)
    elif report.when == "call" and entry["outcome"] == "passed":
        entry["outcome"] = _outcome(report)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return f"skipped: {longrepr[2]}"[:400]
    return ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--peers-report")
    if path:
        with open(path, "w") as f:
            json.dump(_results, f, indent=1, sort_keys=True)
