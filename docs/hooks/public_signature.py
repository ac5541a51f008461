"""Griffe extension: a loss's documented signature is its public one; reST roles read as code.

``@loss`` turns a spec ``f(be, y_true, y_pred, *, options)`` into the public
``f(y_true, y_pred, *, options, sample_weight=None, ..., reduction="none")`` and sets that as
``__signature__``. Static analysis sees the spec; this extension replaces the parameters of every
function that carries a ``spec`` by those of ``inspect.signature`` on the imported function (the
loss modules import no framework), so that the docs build needs no framework installed; a
``Loss`` subclass gets its constructor's options (its ``__signature__``) the same way.

The docstrings are numpydoc with Sphinx roles (``:func:`name```), reST literals in double backticks
and literal blocks (``formula::``); Markdown has neither roles nor literal blocks, so roles become
inline code, double backticks single ones, and ``::`` a colon (the indented block after it is then a
Markdown code block; a line of only ``::`` goes). The type of a parameter or a return value is shown
verbatim, as code, in the parameter tables: there backticks and roles are dropped (see
:func:`plain_types`).

The keywords every loss function takes (``sample_weight``, ``element_weight``, ``reduction``,
``normalizer``) are documented once, in :mod:`unilosses.docstrings`; ``@loss`` adds that text to
each public function's ``__doc__`` (``help()``), and this extension to the static docstring the
pages render, with the same :func:`~unilosses.docstrings.with_common_parameters`.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

from unilosses.docstrings import COMMON, RETURNS, with_common_parameters  # noqa: F401 - RETURNS: for the tests

_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: griffe.ParameterKind.positional_only,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: griffe.ParameterKind.positional_or_keyword,
    inspect.Parameter.VAR_POSITIONAL: griffe.ParameterKind.var_positional,
    inspect.Parameter.KEYWORD_ONLY: griffe.ParameterKind.keyword_only,
    inspect.Parameter.VAR_KEYWORD: griffe.ParameterKind.var_keyword,
}


def _runtime(path: str) -> Any:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|obj):`~?([^`]+)`")
_DOUBLE = re.compile(r"``([^`]+)``")
_SINGLE = re.compile(r"`([^`]+)`")
#: numpydoc sections whose unindented lines are ``name : type`` (or a bare type, in Returns)
_TYPED = {"Parameters", "Other Parameters", "Returns", "Yields", "Receives", "Raises", "Warns", "Attributes"}
_LITERAL = re.compile(r"(\S)::$", re.MULTILINE)
_BARE_LITERAL = re.compile(r"^[ \t]*::\n", re.MULTILINE)


def _parameters(obj: Any) -> griffe.Parameters:
    return griffe.Parameters(
        *(
            griffe.Parameter(
                p.name,
                kind=_KINDS[p.kind],
                default=None if p.default is inspect.Parameter.empty else repr(p.default),
            )
            for p in inspect.signature(obj).parameters.values()
        )
    )


def plain_types(text: str) -> str:
    """``text`` (a numpydoc docstring) with no backticks in the types of its typed sections
    (``where : array of y_pred's shape without `axis``` -> ``... without axis``): the pages show a
    type verbatim, as code, where markup would read as stray backticks."""
    lines = text.splitlines()
    section = None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and set(nxt.strip()) == {"-"} and len(nxt.strip()) >= len(line.strip()):
            section = line.strip()
            continue
        if section not in _TYPED or not line.strip() or line[0].isspace() or set(line.strip()) == {"-"}:
            continue
        name, sep, kind = line.partition(" : ")
        if not sep and section in ("Returns", "Yields", "Receives"):
            name, kind = "", line  # a bare type
        elif not sep:
            continue
        kind = _SINGLE.sub(r"\1", _DOUBLE.sub(r"\1", _ROLE.sub(r"\1", kind)))
        lines[i] = f"{name}{sep}{kind}"
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _markdown(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        text = _ROLE.sub(r"`\1`", plain_types(obj.docstring.value))
        text = _DOUBLE.sub(r"`\1`", text)
        obj.docstring.value = _BARE_LITERAL.sub("", _LITERAL.sub(r"\1:", text))


class PublicSignature(griffe.Extension):
    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.path.startswith("unilosses"):
            _markdown(obj)

    def on_function_instance(self, *, node: Any, func: griffe.Function, agent: Any, **kwargs: Any) -> None:
        if not func.path.startswith("unilosses.losses."):
            return
        obj = _runtime(func.path)
        if obj is not None and hasattr(obj, "spec"):
            func.parameters = _parameters(obj)
            names = tuple(n for n in COMMON if n in inspect.signature(obj).parameters)
            if func.docstring is None:
                func.docstring = griffe.Docstring("", parent=func)
            func.docstring.value = with_common_parameters(func.docstring.value, names)
            _markdown(func)  # the common text's roles too

    def on_class_members(self, *, node: Any, cls: griffe.Class, agent: Any, **kwargs: Any) -> None:
        if not cls.path.startswith("unilosses.losses.") or "__init__" in cls.members:
            return
        obj = _runtime(cls.path)
        if isinstance(obj, type) and "__signature__" in vars(obj):
            init = griffe.Function("__init__", parent=cls, parameters=_parameters(obj))
            init.parameters._params.insert(0, griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword))
            cls.set_member("__init__", init)
