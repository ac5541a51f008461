"""MkDocs hook: one page per loss family, and the losses overview's options, from the code.

A family module added to ``unilosses.registry.FAMILIES`` gets its page (``losses/<family>.md``,
holding ``::: unilosses.losses._<family>``) and its nav entry under "Losses" without editing the
docs. A Markdown page added to ``docs/`` that the nav does not list (a tutorial) is appended under
"Guides". The losses overview (``losses/index.md``) ends with a generated list of the family pages.

The overview's table of losses (header ``| function / class | notes | checked against |``) is
hand-written except for what a signature says: :func:`options_table` inserts the column "options
(defaults)" from ``inspect.signature`` of each row's functions, and writes each call form whose
inputs are not ``(y_true, y_pred)``. A row naming no public loss, a class that is not its
function's class form, or a public loss (function or class) with no row fails the build.
"""

from __future__ import annotations

import inspect
import pathlib
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mkdocs.structure.files import Files

GENERATED = "losses"
#: the keywords every loss function takes (documented once, on every function, by public_signature.py)
COMMON = ("sample_weight", "element_weight", "reduction", "normalizer")
#: the hand-written header of the overview's table, and what the hook makes of it
HEADER = "| function / class | notes | checked against |"
GENERATED_HEADER = "| function / class | options (defaults) | notes | checked against |"
#: a "`function` / `Class`" pair of a row's first cell; a "(...)" after the function is replaced
_PAIR = re.compile(r"`(?P<fn>\w+)(?:\([^`]*\))?` / `(?P<cls>\w+)`")


def _families() -> list[Any]:
    from unilosses.registry import FAMILIES

    return list(FAMILIES)


def _title(module: Any) -> str:
    """The family's title: the first sentence of its docstring, up to the colon."""
    first = (module.__doc__ or module.__name__).strip().splitlines()[0]
    return first.split(":")[0].rstrip(".")


def _page(module: Any) -> str:
    """``losses/<family>.md``: the module's name without its leading underscore (stable URLs)."""
    return f"{GENERATED}/{module.__name__.rsplit('.', 1)[1].lstrip('_')}.md"


def _listed(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_listed(x) for x in nav)) if nav else set()
    if isinstance(nav, dict):
        return set().union(*(_listed(v) for v in nav.values())) if nav else set()
    return set()


def _section(nav: list[Any], title: str) -> list[Any]:
    for item in nav:
        if isinstance(item, dict) and title in item:
            return item[title]
    raise KeyError(f"mkdocs.yml: the nav has no {title!r} section")


# --- the overview's table ---------------------------------------------------------------------


def public_losses(families: Iterable[Any]) -> tuple[dict[str, Any], dict[str, type]]:
    """The loss functions (those with a ``spec``) and classes (with a ``function``) of ``__all__``."""
    functions: dict[str, Any] = {}
    classes: dict[str, type] = {}
    for module in families:
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and hasattr(obj, "function"):
                classes[name] = obj
            elif hasattr(obj, "spec"):
                functions[name] = obj
    return functions, classes


def _call(name: str, fn: Any) -> str:
    """``name``, or ``name(inputs)`` when the inputs are not ``(y_true, y_pred)``."""
    inputs = [
        p for p in inspect.signature(fn).parameters.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    if [p.name for p in inputs] == ["y_true", "y_pred"]:
        return name
    return f"{name}({', '.join(str(p) for p in inputs)})"


def options(fn: Any) -> str:
    """``fn``'s options with their defaults, as its signature has them: ``"a=1, b=None"``."""
    return ", ".join(
        f"{p.name}={p.default!r}"
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in COMMON
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _options_cell(names: list[str], functions: dict[str, Any]) -> str:
    found = {n: options(functions[n]) for n in names if n in functions}
    if not found:
        return ""
    if len(set(found.values())) == 1:
        only = next(iter(found.values()))
        return f"`{_cell(only)}`" if only else "none"
    return "; ".join(f"`{n}`: `{_cell(o)}`" if o else f"`{n}`: none" for n, o in found.items())


def _split(row: str) -> list[str]:
    """A table row's cells (a ``|`` inside a code span or escaped as ``\\|`` does not split)."""
    cells, cell, code = [], "", False
    body = row.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            cell += body[i : i + 2]
            i += 2
            continue
        if c == "`":
            code = not code
        if c == "|" and not code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += c
        i += 1
    cells.append(cell.strip())
    return cells


def options_table(markdown: str, families: Iterable[Any]) -> str:
    """``markdown`` with its table of losses given the column "options (defaults)" from the code.

    The table is the one whose header is :data:`HEADER`. Each row's first cell names one or more
    "`function` / `Class`" pairs; the function's call form (its inputs, when they are not
    ``(y_true, y_pred)``) and the options of its signature are generated. Raises ValueError, with
    every problem, for a pair that names no public loss of ``families`` or a class that is not the
    function's class form, a loss named twice, or a public loss function or class with no row.
    """
    functions, classes = public_losses(families)
    lines = markdown.split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == HEADER)
    except StopIteration:
        raise ValueError(f"losses/index.md: no table with the header {HEADER!r}") from None
    problems: list[str] = []
    seen: dict[str, int] = {}
    out = lines[:start] + [GENERATED_HEADER, "| --- | --- | --- | --- |"]
    end = start + 2
    while end < len(lines) and lines[end].lstrip().startswith("|"):
        row, where = lines[end], f"losses/index.md:{end + 1}"
        cells = _split(row)
        if len(cells) != 3:
            problems.append(f"{where}: expected 3 cells (function / class, notes, checked against), got {len(cells)}")
            out.append(row)
            end += 1
            continue
        pairs = list(_PAIR.finditer(cells[0]))
        if not pairs:
            problems.append(f"{where}: the first cell names no `function` / `Class` pair: {cells[0]!r}")
        for m in pairs:
            fn, cls = m.group("fn"), m.group("cls")
            if fn not in functions:
                problems.append(f"{where}: `{fn}` is not a public loss function of unilosses.registry.FAMILIES")
            elif cls not in classes or classes[cls].function is not functions[fn]:
                problems.append(f"{where}: `{cls}` is not the class form of `{fn}`")
            for name in (fn, cls):
                if name in seen:
                    problems.append(f"{where}: `{name}` already has a row (line {seen[name]})")
                seen.setdefault(name, end + 1)
        first = _PAIR.sub(
            lambda m: f"`{_call(m['fn'], functions[m['fn']]) if m['fn'] in functions else m['fn']}` / `{m['cls']}`",
            cells[0],
        )
        generated = _options_cell([m.group("fn") for m in pairs], functions)
        out.append(f"| {first} | {generated} | {cells[1]} | {cells[2]} |")
        end += 1
    missing = [n for n in (*functions, *classes) if n not in seen]
    if missing:
        problems.append(f"losses/index.md: no row for the public losses {', '.join(missing)}")
    if problems:
        raise ValueError("\n".join(problems))
    return "\n".join(out + lines[end:])


# --- the hooks --------------------------------------------------------------------------------


def on_config(config: Any) -> Any:
    nav = config["nav"]
    losses = _section(nav, "Losses")
    for module in _families():
        if _page(module) not in _listed(nav):
            losses.append({_title(module): _page(module)})
    docs = pathlib.Path(config["docs_dir"])
    listed = _listed(nav)
    guides = _section(nav, "Guides")
    for path in sorted(docs.glob("*.md")):
        if path.name not in listed:
            guides.append(path.name)  # titled by the page's first heading
    return config


def on_files(files: Files, config: Any) -> Files:
    from mkdocs.structure.files import File

    for module in _families():
        src = _page(module)
        if files.get_file_from_path(src) is None:
            content = f"::: {module.__name__}\n    options:\n      show_root_heading: false\n      show_root_toc_entry: false\n"
            title = _title(module)
            files.append(File.generated(config, src, content=f"# {title}\n\n{content}"))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if page.file.src_uri != f"{GENERATED}/index.md":
        return markdown
    from mkdocs.exceptions import PluginError

    try:
        markdown = options_table(markdown, _families())
    except ValueError as e:
        raise PluginError(f"docs/hooks/families.py: the table of losses and the code disagree:\n{e}") from None
    items = "\n".join(f"- [{_title(m)}]({_page(m).split('/', 1)[1]}): `{m.__name__}`" for m in _families())
    return f"{markdown.rstrip()}\n\n## The families\n\nOne page per family, from the docstrings:\n\n{items}\n"
