"""The peers' test files, and the one change made to each: its imports of the framework's losses.

Each file is copied from the installed wheel (or, for a framework that ships its tests
only in its repository, from the unchanged copy under ``peers/vendored/``) into a build
directory; every line that imports the framework's loss modules is replaced by an import
of the same name from :mod:`peers.keras_shim` / :mod:`peers.optax_shim` /
:mod:`peers.tf_keras_shim`, and nothing else changes (the copy has the same lines, the
same assertions byte for byte; :func:`rewrite` and :func:`build` check it). A vendored
file's other imports of its own package are pointed at the installed wheel's layout
(tf-keras' ``from tf_keras import backend`` is ``tf_keras.src.backend`` in the wheel,
as tf-keras' own ``pip_build.py`` rewrites it), binding the same names.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Suite:
    name: str
    package: str
    #: globs relative to the package's directory (or to ``vendored``)
    files: tuple[str, ...]
    #: (pattern, replacement): every line that imports the framework's losses must match one
    rewrites: tuple[tuple[str, str], ...]
    #: lines that must be rewritten (an import of the framework's losses left unmatched is an error)
    must_rewrite: str
    #: KERAS_BACKEND values, one pytest process each (None: the suite runs once)
    backends: tuple[str | None, ...] = (None,)
    #: a directory under peers/vendored/ holding the test files (None: the installed package's)
    vendored: str | None = None
    #: node-id prefixes left out (``--deselect``): tests of the files that test no loss
    deselect: tuple[str, ...] = ()


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

TF_KERAS = Suite(
    name="tf_keras",
    package="tf_keras",
    files=("losses_test.py", "losses_utils_test.py", "metrics_correctness_test.py"),
    rewrites=(
        (r"from tf_keras import losses", "from peers.tf_keras_shim import losses"),
        (r"from tf_keras\.utils import losses_utils", "from peers.tf_keras_shim import losses_utils"),
        # the rest of tf-keras, where the wheel has it (tf-keras' pip_build.py: tf_keras.x -> tf_keras.src.x)
        (r"from tf_keras import (\w+)", r"from tf_keras.src import \1"),
        (r"from tf_keras\.([\w.]+) import (\w+)", r"from tf_keras.src.\1 import \2"),
    ),
    must_rewrite=r"\s*(from|import) tf_keras\b",
    vendored="tf_keras",
    # metrics_correctness_test.py: its metric classes compile loss="mse" (no loss object); the
    # output-loss class, TestOutputLossMetrics, is the one that passes losses.X to compile
    deselect=(
        "tf_keras/metrics_correctness_test.py::TestMetricsCorrectnessMultiIO",
        "tf_keras/metrics_correctness_test.py::TestMetricsCorrectnessSingleIO",
    ),
)

SUITES = {s.name: s for s in (KERAS, OPTAX, TF_KERAS)}


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{package} is not installed: the {package} suite needs it")
    return Path(spec.origin).parent


def vendored_dir() -> Path:
    return Path(__file__).resolve().parent / "vendored"


def sources(suite: Suite) -> list[Path]:
    if suite.vendored is not None:
        package_dir(suite.package)  # the tests still run against the installed package
        root = vendored_dir() / suite.vendored
    else:
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


def bound_names(line: str) -> list[str]:
    """The names an import line binds (empty for a line that is no single-line import)."""
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return []
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Import, ast.ImportFrom)):
        return []
    return [alias.asname or alias.name.split(".")[0] for alias in tree.body[0].names]


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
            if not (bound_names(old) and bound_names(old) == bound_names(line)):
                raise RuntimeError(f"{src}: a rewrite changed more than where an import reads from: {old!r} -> {line!r}")
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
