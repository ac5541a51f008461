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
from typing import Any

import pytest
from conftest import BACKENDS

from unilosses.conformance import REFERENCE_PACKAGES

pytestmark = pytest.mark.multi

ROOT = pathlib.Path(__file__).parents[1]
DOCS = ROOT / "docs"
#: module a page imports -> the backend it needs (the references' frameworks, and Dask)
FRAMEWORKS = {**{name: r.framework for name, r in REFERENCE_PACKAGES.items() if name != "reference"}, "dask": "dask"}
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


def _hook(name: str = "families") -> Any:
    spec = importlib.util.spec_from_file_location(f"docs_{name}_hook", DOCS / "hooks" / f"{name}.py")
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def _page_of(module: Any) -> str:
    """The generated page of a family module: ``losses/<name without its underscore>.md``."""
    return f"losses/{module.__name__.rsplit('.', 1)[1].lstrip('_')}.md"


def _section(nav: list, title: str) -> list:
    return next(item[title] for item in nav if isinstance(item, dict) and title in item)


def test_family_nav_follows_the_registry(tmp_path: pathlib.Path) -> None:
    """The mkdocs hook puts a nav entry per FAMILIES module under Losses, and unlisted pages under Guides."""
    yaml = pytest.importorskip("yaml")
    from unilosses.registry import FAMILIES

    (tmp_path / "index.md").write_text("# Home\n")
    (tmp_path / "tutorial.md").write_text("# A tutorial\n")
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    config = _hook().on_config({"docs_dir": str(tmp_path), "nav": nav})
    pages = [v for entry in _section(config["nav"], "Losses") for v in entry.values()]
    assert pages[0] == "losses/index.md"
    assert pages[1:] == [_page_of(m) for m in FAMILIES]
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
    files = _hook().on_files(Files([]), config)
    for module in FAMILIES:
        f = files.get_file_from_path(_page_of(module))
        assert f is not None and f"::: {module.__name__}" in f.content_string


def _rows(markdown: str) -> dict[str, list[str]]:
    """The generated table of losses: each row's cells, by the function names of its first cell."""
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|(?=(?:[^`]*`[^`]*`)*[^`]*$)", line.strip())[1:-1]]
        for name in re.findall(r"`(\w+)(?:\([^`]*\))?` / `\w+`", cells[0] if cells else ""):
            rows[name] = cells
    return rows


def test_losses_table_options_come_from_the_signatures() -> None:
    """The column "options (defaults)" of losses/index.md is each function's signature, every loss has a row."""
    import inspect

    from unilosses.registry import FAMILIES

    out = _hook().options_table((DOCS / "losses" / "index.md").read_text(), FAMILIES)
    assert "| function / class | options (defaults) | notes | checked against |" in out
    rows = _rows(out)
    common = {"sample_weight", "element_weight", "reduction", "normalizer"}
    for module in FAMILIES:
        for name in module.__all__:
            fn = getattr(module, name)
            if isinstance(fn, type):
                continue
            params = inspect.signature(fn).parameters.values()
            want = ", ".join(f"{p.name}={p.default!r}" for p in params if p.kind is p.KEYWORD_ONLY and p.name not in common)
            assert name in rows, f"no row for {name}"
            assert f"`{want}`" in rows[name][1], (name, rows[name][1])
    # what had drifted by hand: the cross-entropy rows lacked from_log_probs, where, z_loss, softcap
    for option in ("from_log_probs=False", "where=None", "z_loss=0.0", "softcap=None"):
        assert option in rows["categorical_crossentropy"][1]
    # a call form with other inputs than (y_true, y_pred) comes from the signature too
    assert "`ctc(labels, logits, label_lengths=None, logit_lengths=None)` / `CTC`" in out


def test_losses_table_fails_on_a_missing_or_unknown_loss() -> None:
    """A public loss without a row, a row naming no loss, or a class that is not the function's, fails."""
    from unilosses.registry import FAMILIES

    hook = _hook()
    text = (DOCS / "losses" / "index.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `huber` / `Huber` |"))
    with pytest.raises(ValueError, match=r"no row for the public losses huber, Huber"):
        hook.options_table(text.replace(row + "\n", ""), FAMILIES)
    with pytest.raises(ValueError, match=r"`no_such_loss` is not a public loss function"):
        hook.options_table(text.replace(row, row + "\n| `no_such_loss` / `NoSuchLoss` | | |"), FAMILIES)
    with pytest.raises(ValueError, match=r"`Hinge` is not the class form of `huber`"):
        hook.options_table(text.replace("| `huber` / `Huber` |", "| `huber` / `Hinge` |"), FAMILIES)
    with pytest.raises(ValueError, match=r"no table with the header"):
        hook.options_table("# The losses\n", FAMILIES)


def _flat(text: str) -> str:
    """``text`` with each run of whitespace as one space (the common text is wrapped)."""
    return " ".join(text.split())


def test_common_parameters_are_injected_where_missing() -> None:
    """sample_weight, element_weight, reduction and normalizer are documented from one text
    (unilosses.docstrings): in each loss function's __doc__, and by the griffe extension on the pages."""
    import unilosses as ul
    from unilosses.docstrings import COMMON, RETURNS, with_common_parameters

    doc = (
        "A loss.\n\nParameters\n----------\ny_true : array\n    Targets.\naxis, sample_weight, reduction\n"
        "    See :func:`mse`.\nnormalizer : float\n    Its own text.\n\nNotes\n-----\nA note.\n"
    )
    out = with_common_parameters(doc)
    params = out[out.index("Parameters") : out.index("Returns")]
    assert "y_true : array\n    Targets.\naxis\n    See :func:`mse`.\n" in params  # the pointer stays for axis
    for name in ("sample_weight", "element_weight", "reduction"):
        kind, text = COMMON[name]
        assert f"\n{name} : {kind}\n    " in params and _flat(f"{name} : {kind} {text}") in _flat(params)
    assert "normalizer : float\n    Its own text." in params and _flat(COMMON["normalizer"][1]) not in _flat(params)
    assert params.index("element_weight") < params.index("reduction :")  # in the signature's order
    assert _flat(RETURNS[1]) in _flat(out) and out.index("Returns") < out.index("Notes")  # a Returns section when none
    # an entry of common names that only points elsewhere goes; its type and its remark stay
    pointer = "S.\n\nParameters\n----------\nsample_weight, reduction : see :func:`hinge`; weights are per list.\n"
    out = with_common_parameters(pointer, ("sample_weight", "reduction"))
    assert "hinge" not in out
    assert _flat(f"sample_weight : array, optional {COMMON['sample_weight'][1]} Weights are per list.") in _flat(out)
    assert _flat(f"reduction : str or Reduction {COMMON['reduction'][1]}") in _flat(out) and "normalizer" not in out
    typed = "S.\n\nParameters\n----------\nsample_weight : array, shape (N,), optional\n\nReturns\n-------\narray\n"
    out = with_common_parameters(typed, ("sample_weight",))
    assert out.count("Returns") == 1
    assert _flat(f"sample_weight : array, shape (N,), optional {COMMON['sample_weight'][1]}") in _flat(out)
    # an unchanged docstring, once documented
    assert with_common_parameters(out, ("sample_weight",)) == out
    # help() shows the common text too, and the rendered pages (the griffe extension) the same
    assert _flat(COMMON["sample_weight"][1]) in _flat(ul.hinge.__doc__)
    assert "sample_weight, reduction : see" not in ul.hinge.__doc__


def test_readme_keeps_ci_command_and_links() -> None:
    """README.md shows .ci/run's exact command and links to pages that exist."""
    short = (ROOT / "README.md").read_text()
    command = re.search(r"^TEST_COMMAND='(.*)'$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    assert command and command.group(1) in short
    links = re.findall(r"\]\((docs/[^)#]+)", short)
    assert links and all((ROOT / link).exists() for link in links), links
