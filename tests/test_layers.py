"""The package's levels (docs/how-it-works.md): each module sits on one level and imports only its
own level or lower ones, with no cycle, lazy (function-level) imports included; no module imports
another module's ``_private`` name; the public namespace is ``__all__``.

The import graph is read from the source (an AST walk), so the test needs no framework and sees
imports inside functions too. ``from pkg import name`` counts as an import of the module
``pkg.name`` where that is a module, else of ``pkg``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest
from conftest import selected

import unilosses as ul

ROOT = pathlib.Path(ul.__file__).parent

#: level -> module prefixes (a prefix covers the module and everything under it); the most
#: specific prefix decides. Bottom up: rules, backends, shared maths, call machinery, specs,
#: public API, adapters, tools.
LEVELS: dict[int, tuple[str, ...]] = {
    0: ("unilosses.rules",),
    1: ("unilosses.backends",),
    2: (
        "unilosses.reduction", "unilosses.shapes", "unilosses.smoothing", "unilosses.logits",
        "unilosses.validity", "unilosses.targets", "unilosses.dims", "unilosses.pairs",
    ),
    3: ("unilosses.spec", "unilosses.decorator", "unilosses.base", "unilosses.docstrings", "unilosses.wrapper_call"),
    4: ("unilosses.losses",),
    5: ("unilosses", "unilosses.authoring", "unilosses.registry", "unilosses.labels"),
    6: ("unilosses.keras", "unilosses.keras_lm_head", "unilosses.torch", "unilosses.torch_lm_head"),
    7: (
        "unilosses.__main__", "unilosses.arrays", "unilosses.testing", "unilosses.conformance",
        "unilosses.check", "unilosses.kit", "unilosses.bench",
    ),
}
#: what the adapters may import: the public API only (and one another, as the level rule allows)
PUBLIC = ("unilosses", "unilosses.authoring", "unilosses.rules")

pytestmark = selected("numpy")


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def level(module: str) -> int:
    best, found = -1, None
    for lvl, prefixes in LEVELS.items():
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, found = len(p), lvl
    if found is None:
        raise AssertionError(f"{module} is on no level: add it to LEVELS (and to docs/how-it-works.md)")
    return found


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of a unilosses module."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                if f"{base}.{a.name}" in MODULES:
                    out.append((f"{base}.{a.name}", None, node.lineno))
                elif base in MODULES:
                    out.append((base, a.name, node.lineno))
    return [(m, n, line) for m, n, line in out if m != module]


GRAPH = {m: imports(m) for m in MODULES}


def test_every_module_has_a_level():
    for m in MODULES:
        level(m)


def test_no_import_runs_up_a_level():
    upward = [
        f"{m}:{line} (level {level(m)}) imports {t} (level {level(t)})"
        for m, edges in GRAPH.items() for t, _, line in edges if level(t) > level(m)
    ]
    assert not upward, "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert not _cycles({m: {t for t, _, _ in edges} for m, edges in GRAPH.items()})


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_crosses_a_module():
    private = [
        f"{m}:{line} imports {n} from {t}"
        for m, edges in GRAPH.items() for t, n, line in edges
        if n is not None and n.startswith("_") and not n.startswith("__")
    ]
    assert not private, "\n".join(private)


def test_the_adapters_use_only_the_public_api():
    for adapter in LEVELS[6]:
        used = {t for t, _, _ in GRAPH[adapter]}
        assert used <= set(PUBLIC) | set(LEVELS[6]), f"{adapter} imports {sorted(used - set(PUBLIC) - set(LEVELS[6]))}"


@pytest.mark.parametrize("bad", ["upward", "private"])
def test_the_checks_fail_on_a_bad_import(tmp_path, bad):
    """The AST reader sees a lazy upward import and a private name (the checks above can fail)."""
    source = {"upward": "def f():\n    from unilosses.spec import Spec\n",
              "private": "from unilosses.rules import _SHARED\n"}[bad]
    saved = MODULES["unilosses.backends.generic"]
    probe = tmp_path / "generic.py"
    probe.write_text(source)
    MODULES["unilosses.backends.generic"] = probe
    try:
        (target, name, _), = imports("unilosses.backends.generic")
    finally:
        MODULES["unilosses.backends.generic"] = saved
    if bad == "upward":
        assert target == "unilosses.spec" and level(target) > level("unilosses.backends.generic")
    else:
        assert (target, name) == ("unilosses.rules", "_SHARED")


def test_dir_is_all():
    assert dir(ul) == sorted(ul.__all__)
    assert len(set(ul.__all__)) == len(ul.__all__)
    for name in ul.__all__:
        assert hasattr(ul, name), name


def test_no_function_shadows_a_module():
    """``unilosses.<name>`` is one thing: no public function or class has a module's name."""
    top = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    assert not top & set(ul.__all__) - {"authoring", "rules"}
