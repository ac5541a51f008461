"""Option rules: how :func:`unilosses.loss` validates an option, once per option set.

A rule is ``rule(name, value) -> value``: it returns the (normalised) value or
raises a ``ValueError`` / ``TypeError`` that names the option and what was
expected. Every option name has one shared rule (``from_logits`` is a flag,
``label_smoothing`` lies in [0, 1], ``axis`` is an integer or None, ...; see
:func:`shared`); a spec replaces it for itself with ``@loss(rules={...})``, and
checks that involve several options with ``@loss(check=...)``::

    import unilosses as ul

    @ul.loss(rules={"temperature": ul.rules.in_range(0.0, float("inf"), lo_open=True),
                    "normalize": ul.rules.flag})
    def my_loss(be, y_true, y_pred, *, temperature=1.0, normalize=True): ...

An option without a shared rule and without one in ``rules`` is not checked.

- ``in_range(lo, hi, lo_open=False, hi_open=False)``: a number in [lo, hi] (an
  open end excluded), returned as a float; a 0-d array of the inputs' framework
  (a tracer too) is accepted as well, passed to the spec as an array (so a spec
  never branches in Python on such an option: see :mod:`unilosses.options`);
- ``axes``: None, an integer axis, or a non-empty tuple of integer axes (a tuple);
- :data:`axis`, :data:`flag`, :data:`index`, :func:`one_of`: below.
"""

from __future__ import annotations

from typing import Any, Callable

from unilosses.options import _CHECKS, _axis, _flag, _index, axes, in_range, register_check

__all__ = ["axes", "axis", "flag", "in_range", "index", "one_of", "register", "shared"]

Rule = Callable[[str, Any], Any]

#: an integer axis or None
axis: Rule = _axis
#: True or False (NumPy booleans too)
flag: Rule = _flag
#: an integer label or None (``ignore_index``)
index: Rule = _index
#: ``register(name, rule)``: the shared rule of an option name, for every loss (one rule per name)
register = register_check


def one_of(*allowed: Any) -> Rule:
    """A rule accepting exactly the values ``allowed`` (strings, None...)."""

    def check(name: str, value: Any) -> Any:
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise ValueError(f"{name}: expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        return value

    return check


def shared(name: str) -> Rule | None:
    """The shared rule of the option ``name``, or None when it has none."""
    return _CHECKS.get(name)
