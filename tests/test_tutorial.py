"""docs/tutorial-custom-loss.md runs, and prints what it shows.

Its Python blocks run in order in one namespace (in a temporary directory, with
``tests/`` importable for ``mylosses``); each output block that follows a Python
block must appear in what that block printed, line by line (``...`` elides lines).
Decimal numbers are compared within a relative 1e-5: a float32 result may move by one
ulp with the compiler's settings (CI compiles XLA at optimisation level 0), which
changes its shortest repr (``0.67928493`` vs ``0.6792849``), not what the page teaches.
For the same reason a report's difference cells (``0``, ``6e-8``) match any other
difference cell (a FAIL or ERROR must match itself), and runs of spaces are one space
and a rule's runs of dashes one "--" (a report's column widths follow its cells).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import sys
import types
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorial-custom-loss.md"
FRAMEWORKS = ("torch", "jax", "tensorflow", "keras", "dask", "array_api_strict")


def _blocks(text: str) -> list[tuple[str, str | None]]:
    """(python code, the output block right after it, or None)."""
    parts = re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)
    out = []
    for i, (lang, body) in enumerate(parts):
        if lang == "python":
            nxt = parts[i + 1] if i + 1 < len(parts) else None
            out.append((body, nxt[1] if nxt is not None and nxt[0] == "" else None))
    return out


DECIMAL = re.compile(r"\d+\.\d+(?:e[-+]?\d+)?")
DIFFERENCE = re.compile(r"(?<=[ |])(0|\de-\d+)(?= |$)")


TIMING = re.compile(r" in \d+(?:\.\d+)? s\b.*$")


def _untimed(line: str) -> str:
    """The line without a report's timing (``in 18 s (3 s CPU, 1 process)``): the page shows none,
    since a time depends on the machine and its load (see test_the_page_shows_no_timing)."""
    return TIMING.sub("", line.rstrip())


def test_the_page_shows_no_timing() -> None:
    """The outputs shown carry no time (a report's ``in 153 s`` went stale): the summary lines end
    with the counts."""
    shown = [body for lang, body in re.findall(r"```(\w*)\n(.*?)```", TUTORIAL.read_text(), flags=re.S) if lang == ""]
    summaries = [line for body in shown for line in body.splitlines() if re.match(r"\d+ passed, \d+ failed", line)]
    assert summaries, "no report summary on the page"
    assert all(re.fullmatch(r"\d+ passed, \d+ failed", s) for s in summaries), summaries


def _same(shown: str, printed: str) -> bool:
    """The same text, decimal numbers equal within a relative 1e-5 (see the module's docstring)."""
    if "|" in shown:  # a report's row: its cells' widths (and its rules') follow the measured values
        shown, printed = (re.sub("-{2,}", "--", DIFFERENCE.sub("~", x)) for x in (shown, printed))
    shown, printed = " ".join(shown.split()), " ".join(printed.split())
    if DECIMAL.split(shown) != DECIMAL.split(printed):
        return False
    pairs = zip(DECIMAL.findall(shown), DECIMAL.findall(printed))
    return all(abs(float(a) - float(b)) <= 1e-5 * abs(float(a)) for a, b in pairs)


@pytest.mark.slow
def test_tutorial_runs_and_prints_what_it_shows(tmp_path, monkeypatch) -> None:
    missing = [f for f in FRAMEWORKS if importlib.util.find_spec(f) is None]
    if missing:
        pytest.skip(f"the tutorial uses every framework; missing {missing}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    module = types.ModuleType("unilosses_tutorial")  # a real module: torch.compile looks classes up in it
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for code, shown in _blocks(TUTORIAL.read_text()):
        if code.lstrip().startswith("# tests/"):  # a file to write, not to run here
            continue
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, str(TUTORIAL), "exec"), namespace)
        if shown is None:
            continue
        lines = [_untimed(x) for x in printed.getvalue().splitlines()]
        in_versions = False
        for line in shown.splitlines():
            # the versions paragraph (installed releases) runs up to the summary line
            in_versions = line.startswith("Versions:") or (in_versions and " passed, " not in line)
            if line.strip() and line.strip() != "..." and not in_versions:
                found = any(_same(_untimed(line), x) for x in lines)
                assert found, f"not printed: {line!r}\ngot:\n{printed.getvalue()}"
