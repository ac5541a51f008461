"""The documentation every loss function shares, written once.

The keywords every public loss function takes (``sample_weight``, ``element_weight``,
``reduction``, ``normalizer``) are documented in :data:`COMMON`; :func:`with_common_parameters`
adds them to a loss's Parameters section where its docstring does not document them itself (an
entry that only points elsewhere, "see :func:`hinge`", or has a type and no text, counts as not
documented: it takes the common text, keeping its type and, for its first name, any remark after
the pointer), and the common Returns section where the docstring has none. ``@loss`` applies it
to each public function's ``__doc__``; the docs' griffe extension to the pages.
"""

from __future__ import annotations

import re
import textwrap

__all__ = ["COMMON", "RETURNS", "with_common_parameters"]


#: the documentation of the keywords that every loss function takes (numpydoc entries, Markdown text)
COMMON = {
    "sample_weight": (
        "array, optional",
        "Weights of the per-sample losses. A weight broadcasts against the per-sample loss; one of lower"
        " rank is aligned on the leading (sample) axes (a trailing axis of size 1 is squeezed, as in Keras)."
        " Counts as the samples' weights in the weighted means.",
    ),
    "element_weight": (
        "array, optional",
        "Weights that broadcast NumPy-style, on the trailing axes: torch's per-element ``weight`` (for an"
        " element-wise loss with ``axis=None``). Counts in the weighted means like ``sample_weight``; both may"
        " be given.",
    ),
    "reduction": (
        "str or Reduction",
        'How the weighted per-sample losses are reduced: ``"none"`` (the default of the functions),'
        ' ``"sum"``, ``"sum_over_batch_size"`` (``"mean"``, ``"auto"``), ``"mean_with_sample_weight"``,'
        ' ``"sum_by_nonzero_weights"``, ``"batchmean"`` or ``"stats"``'
        " (see :class:`unilosses.Reduction`). An ignored label leaves every denominator.",
    ),
    "normalizer": (
        "number or array, optional",
        'With ``reduction="sum"``: the sum is divided by it (a global count under data parallelism;'
        " a normalizer of 0 gives 0).",
    ),
}
#: the Returns section of a loss function whose docstring has none
RETURNS = (
    "array or LossStats",
    'The per-sample losses (weighted) with ``reduction="none"``, a scalar with the other reductions,'
    ' a :class:`unilosses.LossStats` with ``"stats"``.',
)
_HEADER_RULE = re.compile(r"^\s*-{3,}\s*$")
#: an entry's text that only points elsewhere ("see :func:`hinge`", "As every loss"), and what follows it
_POINTER = re.compile(r"^(?:see\s+(?::\w+:)?`+~?[\w.()]+`+|as (?:for )?(?:every|any) loss\b)\s*[.;,:]?\s*", re.IGNORECASE)


def _sections(lines: list[str]) -> list[tuple[str, int]]:
    """(title, line of the title) of each numpydoc section (a title underlined by dashes)."""
    return [
        (lines[i].strip(), i)
        for i in range(len(lines) - 1)
        if lines[i].strip() and not _HEADER_RULE.match(lines[i]) and _HEADER_RULE.match(lines[i + 1])
    ]


def _entries(body: list[str]) -> list[list[str]]:
    """The entries of a Parameters section: a line at the section's indentation, then its text."""
    entries: list[list[str]] = []
    for line in body:
        if line.strip() and not line[:1].isspace():
            entries.append([line])
        elif entries:
            entries[-1].append(line)
    return entries


def _entry(name: str, kind: str, text: str) -> list[str]:
    return [f"{name} : {kind}", *textwrap.wrap(text, 92, initial_indent="    ", subsequent_indent="    ")]


def with_common_parameters(docstring: str, names: tuple[str, ...] = tuple(COMMON)) -> str:
    """``docstring`` (numpydoc, dedented) with :data:`COMMON`'s entries for ``names`` where missing.

    An entry that documents a name with its own text stays as it is. An entry of common names that
    only points elsewhere (or has no text) goes; each of its names gets the common text, after the
    entry's own type if it has one; its first name's text ends with any remark after the pointer. A
    pointer that also names other parameters ("axis, sample_weight / See ...") stays for those only.
    The names not documented are appended to the Parameters section (created before the first section if there is
    none), in the order of ``names``; a Returns section (:data:`RETURNS`) is added if there is none.
    """
    lines = docstring.split("\n")
    sections = _sections(lines)
    params = next((i for title, i in sections if title == "Parameters"), None)
    if params is None:
        at = sections[0][1] if sections else len(lines)
        while at > 0 and not lines[at - 1].strip():
            at -= 1
        lines[at:at] = ["", "Parameters", "----------"]
        sections = _sections(lines)
        params = at + 1
    end = next((i for _, i in sections if i > params), len(lines))
    while end > params + 2 and not lines[end - 1].strip():
        end -= 1
    kept: list[str] = []
    given: dict[str, tuple[str, str]] = {}  # name -> (its own type, remark)
    for entry in _entries(lines[params + 2 : end]):
        head, _, kind = entry[0].partition(" :")
        entry_names = [n.strip() for n in head.split(",")]
        kind = kind.strip()
        text = " ".join(t.strip() for t in entry[1:] if t.strip())
        if _POINTER.match(kind):  # "name : see :func:`hinge`."
            kind, text = "", f"{kind} {text}".strip()
        pointer = _POINTER.match(text)
        common = [n for n in entry_names if n in names]
        if not common or (text and not pointer):
            kept.extend(entry)
            continue
        rest = [n for n in entry_names if n not in names]
        if rest:  # "axis, sample_weight, reduction / See :func:`mse`.": the pointer stays for axis
            kept.extend([", ".join(rest) + entry[0][len(head) :], *entry[1:]])
            given.update((n, ("", "")) for n in common)
            continue
        remark = text[pointer.end() :] if pointer else text
        if remark.startswith("(") and remark.rstrip(".").endswith(")"):  # "As every loss (a weight per ...)."
            remark = remark.rstrip(".")[1:-1] + "."
        remark = remark[:1].upper() + remark[1:]
        for k, n in enumerate(common):  # a remark is about the first name ("sample_weight, reduction")
            given[n] = (kind, remark if k == 0 else "")
    documented = {n.strip() for e in _entries(kept) for n in e[0].partition(" :")[0].split(",")}
    added: list[str] = []
    for n in names:
        if n in documented:
            continue
        kind, remark = given.get(n, ("", ""))
        default_kind, text = COMMON[n]
        added += _entry(n, kind or default_kind, f"{text} {remark}".strip())
    lines[params + 2 : end] = [*kept, *added]
    if not any(title == "Returns" for title, _ in _sections(lines)):
        sections = _sections(lines)
        after = next((i for _, i in sections if i > params), len(lines))
        while after > 0 and not lines[after - 1].strip():
            after -= 1
        lines[after:after] = ["", "Returns", "-------", RETURNS[0], f"    {RETURNS[1]}"]
    return "\n".join(lines)
