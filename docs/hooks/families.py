"""MkDocs hook: one page per loss family, generated from ``unilosses.registry.FAMILIES``.

A family module added to ``FAMILIES`` gets its page (``losses/<module>.md``, holding
``::: unilosses.losses.<module>``) and its nav entry under "Losses" without editing the docs. A
Markdown page added to ``docs/`` that the nav does not list (a tutorial) is appended under "Guides".
The losses overview (``losses/index.md``) ends with a generated list of the family pages.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs.structure.files import Files

GENERATED = "losses"


def _families() -> list[Any]:
    from unilosses.registry import FAMILIES

    return list(FAMILIES)


def _title(module: Any) -> str:
    """The family's title: the first sentence of its docstring, up to the colon."""
    first = (module.__doc__ or module.__name__).strip().splitlines()[0]
    return first.split(":")[0].rstrip(".")


def _page(module: Any) -> str:
    return f"{GENERATED}/{module.__name__.rsplit('.', 1)[1]}.md"


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
    items = "\n".join(f"- [{_title(m)}]({_page(m).split('/', 1)[1]}): `{m.__name__}`" for m in _families())
    return f"{markdown.rstrip()}\n\n## The families\n\nOne page per family, from the docstrings:\n\n{items}\n"
