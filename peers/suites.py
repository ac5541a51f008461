"""The peers' test files, and the one change made to each: its imports of the framework's losses.

Each file is copied from the installed wheel into a build directory; every line that
imports the framework's loss modules is replaced by an import of the same name from
:mod:`peers.keras_shim` / :mod:`peers.optax_shim`, and nothing else changes (the copy
has the same lines, the same assertions byte for byte; :func:`rewrite` checks it).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Suite:
    name: str
    package: str
    #: globs relative to the package's directory
    files: tuple[str, ...]
    #: (pattern, replacement): every line that imports the framework's losses must match one
    rewrites: tuple[tuple[str, str], ...]
    #: lines that must be rewritten (an import of the framework's losses left unmatched is an error)
    must_rewrite: str
    #: KERAS_BACKEND values, one pytest process each (None: the suite runs once)
    backends: tuple[str | None, ...] = (None,)


KERAS = Suite(
    name="keras",
    package="keras",
    files=("src/losses/losses_test.py", "src/losses/loss_test.py"),
    rewrites=(
        (r"from keras\.src\.losses import losses", "from peers.keras_shim import losses"),
        (r"from keras\.src import losses as losses_module", "from peers.keras_shim import losses_module"),
        (r"from keras\.src\.losses\.loss import (\w+)", r"from peers.keras_shim import \1"),
    ),
    must_rewrite=r"\s*(from keras(\.src)?(\.losses)?\b.* import .*\blosses?\b|from keras(\.src)?\.losses\b)",
    backends=("jax", "torch", "tensorflow", "numpy"),
)

OPTAX = Suite(
    name="optax",
    package="optax",
    files=("losses/*_test.py",),
    rewrites=((r"from optax\.losses import (_\w+)", r"from peers.optax_shim import \1"),),
    must_rewrite=r"\s*(from optax\.losses\b|from optax import losses\b|import optax\.losses\b)",
)

SUITES = {s.name: s for s in (KERAS, OPTAX)}


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{package} is not installed: the {package} suite needs it")
    return Path(spec.origin).parent


def sources(suite: Suite) -> list[Path]:
    root = package_dir(suite.package)
    found = sorted({p for pattern in suite.files for p in root.glob(pattern)})
    if not found:
        raise RuntimeError(f"no test files {suite.files} in {root}")
    return found


def rewrite(text: str, suite: Suite, source: str = "") -> str:
    """``text`` with each import of the framework's losses pointed at the shim; nothing else changed."""
    lines = text.splitlines(keepends=True)
    out = []
    for n, line in enumerate(lines, 1):
        body = line.rstrip("\r\n")
        for pattern, replacement in suite.rewrites:
            m = re.fullmatch(pattern, body)
            if m:
                line = m.expand(replacement) + line[len(body) :]
                break
        else:
            if re.match(suite.must_rewrite, body):
                raise RuntimeError(f"{source}:{n}: an import of {suite.package}'s losses with no rewrite rule: {body}")
        out.append(line)
    return "".join(out)


def changed_lines(original: str, rewritten: str) -> list[tuple[str, str]]:
    """The (original, new) lines that differ; raises if the line structure changed."""
    a, b = original.splitlines(), rewritten.splitlines()
    if len(a) != len(b):
        raise RuntimeError("the rewrite changed the number of lines")
    return [(x, y) for x, y in zip(a, b) if x != y]


def build(suite: Suite, directory: Path) -> list[Path]:
    """Copy the suite's files into ``directory/<suite name>/`` with their imports rewritten."""
    target = directory / suite.name
    target.mkdir(parents=True, exist_ok=True)
    copies = []
    for src in sources(suite):
        text = src.read_text()
        new = rewrite(text, suite, str(src))
        for old, line in changed_lines(text, new):
            if not (old.lstrip().startswith(("from ", "import ")) and line.lstrip().startswith("from peers.")):
                raise RuntimeError(f"{src}: a rewrite touched a line that is no import: {old!r}")
        dst = target / src.name
        dst.write_text(new)
        copies.append(dst)
    (directory / "pytest.ini").write_text("[pytest]\n")  # none of the repository's settings
    return copies


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def child_env(backend: str | None, mode: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(repo_root()), env.get("PYTHONPATH"))))
    env["PEERS_FALLBACK"] = mode
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # XLA's CPU backend compiles about 3x faster without LLVM optimisation, and the suites'
    # arrays are tiny: most of optax's suite time is compiling (its tests' own jax.random too)
    env.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return env
