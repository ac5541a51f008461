"""The documentation's code examples run, and its generated pages cover every loss family.

Every ```python block of ``docs/**/*.md`` and of ``README.md``
runs, the blocks of one page in order in one namespace (a later block may use an earlier one's
names). A block may be preceded by an HTML comment, invisible on the page:

- ``<!-- docs-test: setup ... -->``: Python run before the block (the block's inputs, e.g. a model);
- ``<!-- docs-test: skip REASON -->``: not run (it needs several processes or devices); the reason
  is required.

A page's frameworks are the ones its blocks import; the page runs when NumPy and each of their
backends are installed and selected (``UNILOSSES_BACKENDS``), so that the per-backend sessions, which
select one backend, skip every page and the module, marked ``multi``, runs once: in the tests-all
session, with every framework.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
from dataclasses import dataclass

import pytest
from conftest import BACKENDS

pytestmark = pytest.mark.multi

ROOT = pathlib.Path(__file__).parents[1]
DOCS = ROOT / "docs"
#: module a page imports -> the backend it needs
FRAMEWORKS = {"torch": "torch", "jax": "jax", "optax": "jax", "tensorflow": "tensorflow", "keras": "tensorflow", "dask": "dask"}
_FENCE = re.compile(r"^```(\S*)")
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(setup|skip)\b(.*?)-->", re.DOTALL)
_IMPORT = re.compile(r"^\s*(?:import|from)\s+([\w., ]+)", re.MULTILINE)


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    code: str
    setup: str = ""
    skip: str | None = None


def blocks(text: str) -> list[Block]:
    """The ```python blocks of a Markdown text, with the docs-test comment just before each."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        if m.group(1).split("{")[0] in ("python", "py"):
            block = Block(start + 1, "\n".join(lines[start + 1 : i]))
            before = "\n".join(lines[:start]).rstrip()
            d = _DIRECTIVE.search(before[before.rfind("<!--") :]) if before.endswith("-->") else None
            if d and d.group(1) == "setup":
                block.setup = d.group(2).strip("\n")
            elif d:
                block.skip = d.group(2).strip()
                assert block.skip, f"line {block.line}: docs-test: skip needs a reason"
            out.append(block)
        i += 1
    return out


def frameworks(code: str) -> set[str]:
    names = {n.strip().split(".")[0].split(" ")[0] for m in _IMPORT.finditer(code) for n in m.group(1).split(",")}
    return names & set(FRAMEWORKS)


PAGES = sorted(p for p in [ROOT / "README.md", *DOCS.rglob("*.md")] if blocks(p.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_examples_run(page: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # what an example writes (a saved model) lands in a temporary folder
    found = blocks(page.read_text())
    runnable = [b for b in found if b.skip is None]
    modules = set().union(*(frameworks(b.setup + "\n" + b.code) for b in runnable))
    missing = sorted({"numpy", *(FRAMEWORKS[m] for m in modules)} - set(BACKENDS))
    if missing:
        pytest.skip(f"{page.name} needs the backends {missing}, not installed or not selected")
    for name in sorted(modules):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{page.name} needs {name}")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for b in runnable:
        source = f"{b.setup}\n{b.code}" if b.setup else b.code
        code = compile(source, f"{page.relative_to(ROOT)}:{b.line}", "exec")
        exec(code, namespace)  # noqa: S102 - the page's own example


def test_blocks_parser() -> None:
    text = (
        "x\n```python\na = 1\n```\n<!-- docs-test: setup\nb = 2\n-->\n```python\nc = a + b\n```\n"
        "<!-- docs-test: skip needs 2 GPUs -->\n```python\nimport torch\n```\n```bash\nls\n```\n"
    )
    got = blocks(text)
    assert [(b.line, b.code, b.setup, b.skip) for b in got] == [
        (2, "a = 1", "", None),
        (8, "c = a + b", "b = 2", None),
        (12, "import torch", "", "needs 2 GPUs"),
    ]
    assert frameworks("import jax, jax.numpy as jnp, optax\nfrom torch import nn\nimport numpy") == {"jax", "optax", "torch"}


def _hook() -> object:
    spec = importlib.util.spec_from_file_location("docs_families_hook", DOCS / "hooks" / "families.py")
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def _section(nav: list, title: str) -> list:
    return next(item[title] for item in nav if isinstance(item, dict) and title in item)


def test_family_nav_follows_the_registry(tmp_path: pathlib.Path) -> None:
    """The mkdocs hook puts a nav entry per FAMILIES module under Losses, and unlisted pages under Guides."""
    yaml = pytest.importorskip("yaml")
    from unilosses.registry import FAMILIES

    (tmp_path / "index.md").write_text("# Home\n")
    (tmp_path / "tutorial.md").write_text("# A tutorial\n")
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    config = _hook().on_config({"docs_dir": str(tmp_path), "nav": nav})  # type: ignore[attr-defined]
    pages = [v for entry in _section(config["nav"], "Losses") for v in entry.values()]
    assert pages[0] == "losses/index.md"
    assert pages[1:] == [f"losses/{m.__name__.rsplit('.', 1)[1]}.md" for m in FAMILIES]
    guides = _section(config["nav"], "Guides")
    assert "tutorial.md" in guides and "index.md" not in guides


def test_family_pages_render_their_module(tmp_path: pathlib.Path) -> None:
    """Each generated page holds the mkdocstrings directive of its module (needs the docs extra)."""
    pytest.importorskip("mkdocs")
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

    from unilosses.registry import FAMILIES

    config = MkDocsConfig()
    (tmp_path / "docs").mkdir()
    config.load_dict({"site_name": "t", "docs_dir": str(tmp_path / "docs"), "site_dir": str(tmp_path / "site")})
    errors, _ = config.validate()
    assert not errors, errors
    config.plugins._current_plugin = None  # set by mkdocs while it runs the hooks
    files = _hook().on_files(Files([]), config)  # type: ignore[attr-defined]
    for module in FAMILIES:
        f = files.get_file_from_path(f"losses/{module.__name__.rsplit('.', 1)[1]}.md")
        assert f is not None and f"::: {module.__name__}" in f.content_string


def test_readme_keeps_ci_command_and_links() -> None:
    """README.md shows .ci/run's exact command and links to pages that exist."""
    short = (ROOT / "README.md").read_text()
    command = re.search(r"^TEST_COMMAND='(.*)'$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    assert command and command.group(1) in short
    links = re.findall(r"\]\((docs/[^)#]+)", short)
    assert links and all((ROOT / link).exists() for link in links), links
