"""The documentation's code examples run as shown, its install lines work, its API page covers the
public API, and its generated pages cover every loss family.

Every ```python block of ``docs/**/*.md`` and of ``README.md`` runs as shown: the blocks of one page
in order in one namespace (a later block may use an earlier one's names, as a reader who runs the
page in order has them), with nothing hidden run before them. A block may be preceded by an HTML
comment, invisible on the page, ``<!-- docs-test: skip REASON -->``: not run (it needs several
processes or devices); the reason is required. Hidden setup code is refused: copied from the page,
a block that used it failed with a NameError.

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
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(\w+)\b(.*?)-->", re.DOTALL)
_IMPORT = re.compile(r"^\s*(?:import|from)\s+([\w., ]+)", re.MULTILINE)


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    code: str
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
            if d:
                assert d.group(1) == "skip", (
                    f"line {block.line}: docs-test: {d.group(1)}: the only directive is skip (hidden setup code "
                    "is refused: show the block's inputs on the page)"
                )
                block.skip = d.group(2).strip()
                assert block.skip, f"line {block.line}: docs-test: skip needs a reason"
            out.append(block)
        i += 1
    return out


def frameworks(code: str) -> set[str]:
    names = {n.strip().split(".")[0].split(" ")[0] for m in _IMPORT.finditer(code) for n in m.group(1).split(",")}
    return names & set(FRAMEWORKS)


PAGES = sorted(
    p for p in [ROOT / "README.md", *DOCS.rglob("*.md")] if re.search(r"^```(python|py)\b", p.read_text(), re.MULTILINE)
)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_examples_run(page: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # what an example writes (a saved model) lands in a temporary folder
    found = blocks(page.read_text())
    runnable = [b for b in found if b.skip is None]
    modules = set().union(*(frameworks(b.code) for b in runnable))
    missing = sorted({"numpy", *(FRAMEWORKS[m] for m in modules)} - set(BACKENDS))
    if missing:
        pytest.skip(f"{page.name} needs the backends {missing}, not installed or not selected")
    for name in sorted(modules):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{page.name} needs {name}")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for b in runnable:
        code = compile(b.code, f"{page.relative_to(ROOT)}:{b.line}", "exec")
        exec(code, namespace)  # noqa: S102 - the page's own example


def test_blocks_parser() -> None:
    text = (
        "x\n```python\na = 1\n```\n<!-- a comment -->\n```python\nc = a + 1\n```\n"
        "<!-- docs-test: skip needs 2 GPUs -->\n```python\nimport torch\n```\n```bash\nls\n```\n"
    )
    got = blocks(text)
    assert [(b.line, b.code, b.skip) for b in got] == [
        (2, "a = 1", None),
        (6, "c = a + 1", None),
        (10, "import torch", "needs 2 GPUs"),
    ]
    assert frameworks("import jax, jax.numpy as jnp, optax\nfrom torch import nn\nimport numpy") == {"jax", "optax", "torch"}
    with pytest.raises(AssertionError, match="hidden setup code is refused"):
        blocks("<!-- docs-test: setup\nb = 2\n-->\n```python\nc = b\n```\n")
    with pytest.raises(AssertionError, match="skip needs a reason"):
        blocks("<!-- docs-test: skip -->\n```python\nc = 1\n```\n")


def test_no_hidden_setup() -> None:
    """No page runs code the reader cannot see (a block that needs inputs shows them)."""
    for page in PAGES:
        text = page.read_text()
        assert "docs-test: setup" not in text, f"{page.relative_to(ROOT)}: hidden setup code"
        blocks(text)  # and every directive is a skip with a reason


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


# ------------------------------------------------------------------ install lines
_PIP = re.compile(r"pip install ([^`\n#&|;]+)")
#: pip's options that take a value, as the pages use them
_PIP_VALUE_OPTIONS = {"-c", "--constraint", "-r", "--requirement"}
_PATH_REQUIREMENT = re.compile(r"^(?P<path>\.|[\w./-]+\.whl)(?:\[(?P<extras>[\w,-]+)\])?$")


def _pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def install_lines(text: str) -> list[list[str]]:
    """The arguments of each ``pip install`` of a Markdown text (inline code and code blocks)."""
    import shlex

    return [shlex.split(m.group(1)) for m in _PIP.finditer(text)]


def check_install(args: list[str], extras: set[str], version: str) -> list[str]:
    """What is wrong with one ``pip install`` line: unilosses from an index (it is on none), a path
    form pip does not take, an extra pyproject.toml does not declare, a constraints file that is not
    in the repository."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import parse_wheel_filename

    problems = []
    it = iter(args)
    for arg in it:
        if arg in _PIP_VALUE_OPTIONS:
            value = next(it, "")
            if not (ROOT / value).is_file():
                problems.append(f"{arg} {value}: no such file in the repository")
            continue
        if arg.startswith("-"):  # -e, -q, --dry-run...: the next argument is a requirement or a path
            continue
        m = _PATH_REQUIREMENT.match(arg)
        if m:
            path = m.group("path")
            if path.endswith(".whl"):
                name, wheel_version, _, _ = parse_wheel_filename(path.rsplit("/", 1)[-1])
                if (name, str(wheel_version)) != ("unilosses", version):
                    problems.append(f"{arg}: not the wheel pip wheel builds (unilosses-{version}-py3-none-any.whl)")
            unknown = set(filter(None, (m.group("extras") or "").split(","))) - extras
            if unknown:
                problems.append(f"{arg}: no extra {sorted(unknown)} in pyproject.toml")
            continue
        try:
            requirement = Requirement(arg)
        except InvalidRequirement:
            problems.append(f"{arg}: neither a requirement nor a path pip installs")
            continue
        if requirement.name == "unilosses":
            problems.append(f"{arg}: unilosses is on no index; install from the clone (.) or a built wheel")
    return problems


def test_install_lines_work() -> None:
    """Every ``pip install`` the pages and the README show installs something that exists: the clone
    (``-e ".[jax]"``) or a built wheel, with extras that pyproject.toml declares (tried by hand in a
    fresh venv: ``pip install -e ".[jax,testing]"`` in a clone, ``pip install "dist/...whl[jax]"``)."""
    project = _pyproject()["project"]
    extras, version = set(project["optional-dependencies"]), project["version"]
    found = {}
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for args in install_lines(page.read_text()):
            found[f"{page.relative_to(ROOT)}: pip install {' '.join(args)}"] = check_install(args, extras, version)
    bad = {line: problems for line, problems in found.items() if problems}
    assert not bad, bad
    for page in (DOCS / "getting-started").glob("*.md"):  # each getting-started page says how to install
        assert install_lines(page.read_text()), f"{page.name} has no install line"
    install = (DOCS / "install.md").read_text()
    for extra in extras:  # the install page names every extra
        assert f"| `{extra}` |" in install, f"install.md does not list the extra {extra}"


def test_install_line_checker() -> None:
    extras = {"jax", "testing"}
    assert check_install(["-c", ".ci/constraints.txt", "-e", ".[jax,testing]"], extras, "0.1.0") == []
    assert check_install(["dist/unilosses-0.1.0-py3-none-any.whl[jax]"], extras, "0.1.0") == []
    assert check_install(["nox"], extras, "0.1.0") == []
    assert check_install(["unilosses[jax]"], extras, "0.1.0") == [
        "unilosses[jax]: unilosses is on no index; install from the clone (.) or a built wheel"
    ]
    assert check_install(["-e", ".[jaxx]"], extras, "0.1.0") == [".[jaxx]: no extra ['jaxx'] in pyproject.toml"]
    assert check_install(["dist/unilosses-0.0.9-py3-none-any.whl"], extras, "0.1.0")
    assert check_install(["-c", "nothere.txt", "."], extras, "0.1.0") == ["-c nothere.txt: no such file in the repository"]
    assert install_lines('run `pip install -e ".[jax]"` and\n```bash\npip install nox && nox\n```') == [
        ["-e", ".[jax]"], ["nox"]
    ]


def test_testing_extra_has_what_the_kit_needs() -> None:
    """The tutorial's conformance_test needs pytest: the ``testing`` extra, which the page names."""
    extras = _pyproject()["project"]["optional-dependencies"]
    assert any(r.startswith("pytest") for r in extras["testing"])
    assert any(r.startswith("ruff") for r in extras["docs"])  # mkdocstrings formats signatures with it
    assert '".[testing]"' in (DOCS / "tutorial-custom-loss.md").read_text()


# ------------------------------------------------------------------ names the pages use
def _resolve(path: str) -> Any:
    """The object a dotted path names (``unilosses.authoring.mean_over``), importing its modules."""
    import importlib

    parts = path.split(".")
    obj: Any = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        if not hasattr(obj, part):
            obj = importlib.import_module(".".join(parts[: i + 1]))
        else:
            obj = getattr(obj, part)
    return obj


#: adapters import their framework: their names are checked where it is installed
_ADAPTERS = {"keras": "keras", "torch": "torch"}


def _longest_prefix(path: str) -> tuple[str, Any]:
    """The longest prefix of a dotted path that resolves, and its object."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        try:
            return ".".join(parts[:n]), _resolve(".".join(parts[:n]))
        except (ImportError, AttributeError):
            continue
    raise ImportError(path)


def test_names_the_pages_use_exist() -> None:
    """Every ``ul.X`` / ``unilosses.X.Y`` a page or the README names exists where the page says it
    is (at the top level, in ``unilosses.authoring``...); a name under a class or an object (a
    method, an attribute such as ``be.xp``) is not checked."""
    import types

    missing = []
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for prefix in ("ul", "unilosses"):
            for m in re.finditer(rf"(?<![\w./-]){prefix}\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", page.read_text()):
                head = m.group(1).split(".")[0]
                if head in ("md", "py") or "X" in m.group(1).split("."):  # a file name; a placeholder (ul.X)
                    continue
                if head in _ADAPTERS and importlib.util.find_spec(_ADAPTERS[head]) is None:
                    continue
                path = f"unilosses.{m.group(1)}"
                found, obj = _longest_prefix(path)
                if found != path and isinstance(obj, types.ModuleType):
                    missing.append(f"{page.relative_to(ROOT)}: {prefix}.{m.group(1)}")
    assert not missing, missing


def test_api_page_covers_the_public_api() -> None:
    """docs/api.md documents every name of ``unilosses.__all__`` and ``unilosses.authoring.__all__``
    (the losses: on their family's page, ``losses/<family>.md``), ``unilosses.keras.wrap`` and
    ``unilosses.torch.module``."""
    import unilosses as ul
    from unilosses import authoring
    from unilosses.registry import FAMILIES

    text = (DOCS / "api.md").read_text()
    directives = re.findall(r"^::: (unilosses[\w.]*)\n((?:    .*\n)*)", text, re.MULTILINE)
    paths = set()
    for path, options in directives:
        paths.add(path)
        members = re.search(r"members: \[([^\]]*)\]", options)
        if members:
            paths |= {f"{path}.{name.strip()}" for name in members.group(1).split(",")}
    documented = set()
    for p in paths:
        if p.split(".")[1] in _ADAPTERS:
            continue
        try:
            documented.add(id(_resolve(p)))
        except (ImportError, AttributeError):  # an instance attribute (Backend.xp): documented, not a public name
            pass
    losses = {id(getattr(m, n)) for m in FAMILIES for n in m.__all__}
    missing = [
        f"{module.__name__}.{name}"
        for module in (ul, authoring)
        for name in module.__all__
        if id(getattr(module, name)) not in documented | losses
    ]
    assert not missing, f"docs/api.md does not document {missing}"
    assert {"unilosses.keras.wrap", "unilosses.torch.module"} <= paths


# ------------------------------------------------------------------ nox sessions
def test_nox_sessions_the_pages_name_exist() -> None:
    """``nox -s NAME`` in the pages and in noxfile.py's docstring, and the sessions development.md
    lists, are sessions ``nox -l`` lists (``tests(torch)`` once was not one)."""
    import shutil
    import subprocess

    nox = shutil.which("nox")
    if nox is None:
        pytest.skip("nox is not installed")
    listed = subprocess.run([nox, "-l", "-f", str(ROOT / "noxfile.py")], capture_output=True, text=True, check=True)
    sessions = {m.group(1) for m in re.finditer(r"^[*-] (\S+)", listed.stdout, re.MULTILINE)}
    sessions |= {s.split("(")[0] for s in sessions}  # a parametrized session's name runs them all
    named = []
    for page in [ROOT / "README.md", ROOT / "noxfile.py", *DOCS.rglob("*.md")]:
        text = page.read_text()
        named += [(page, m.group(1) or m.group(2)) for m in re.finditer(r"""nox -s (?:"([^"]+)"|([\w-]+))""", text)]
        named += [(page, m.group(1)) for m in re.finditer(r"`((?:tests|oldest)\([^`]*\))`", text) if "<" not in m.group(1)]
    placeholder = {"oldest(...)", "NAME"}
    unknown = [f"{page.relative_to(ROOT)}: {name}" for page, name in named if name not in sessions | placeholder]
    assert not unknown, f"not sessions of `nox -l` ({sorted(sessions)}): {unknown}"
    assert any(name.startswith("tests(") for _, name in named)


# ------------------------------------------------------------------ docstring markup on the pages
def test_types_render_without_markup() -> None:
    """The parameter tables show a type verbatim: the griffe extension drops its backticks and roles."""
    pytest.importorskip("griffe")
    hook = _hook("public_signature")
    doc = (
        "S.\n\nParameters\n----------\nwhere : array of y_pred's shape without ``axis``\n    Uses ``axis``.\n"
        "w : :class:`numpy.ndarray`\n\nReturns\n-------\narray, shape (N,) for ``reduction=\"none\"``\n"
        "    The ``loss``.\n"
    )
    out = hook.plain_types(doc)
    assert "where : array of y_pred's shape without axis\n    Uses ``axis``." in out
    assert "w : numpy.ndarray\n" in out and "array, shape (N,) for reduction=\"none\"\n    The ``loss``." in out
    import inspect

    import unilosses as ul
    from unilosses.registry import FAMILIES

    objects = [getattr(m, n) for m in FAMILIES for n in m.__all__] + [getattr(ul, n) for n in ul.__all__]
    for obj in objects:
        doc = inspect.getdoc(obj) or ""
        for line in hook.plain_types(doc).splitlines():
            if " : " in line and not line[0].isspace():
                assert "`" not in line.partition(" : ")[2], (getattr(obj, "__name__", obj), line)
