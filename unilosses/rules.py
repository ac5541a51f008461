"""Option rules: the whole rule table and the rule makers, the lowest level of unilosses.

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
  open end excluded), returned as a float;
- ``axes``: None, an integer axis, or a non-empty tuple of integer axes (a tuple);
- :data:`axis`, :data:`flag`, :data:`index`, :func:`one_of`: below.

Numeric options (the rules made by :func:`in_range`) also accept a 0-d array of
the inputs' framework, tracers included: a label-smoothing or margin schedule
inside a jitted step, a torch tensor hyperparameter. Such a value is never part
of a cache key (its place in the validated key holds :data:`DYNAMIC`), is passed
to the compiled loss as an argument, is range-checked on the host where the
backend reads values without a device synchronisation, and makes the loss NaN
where it is out of range otherwise. Specs therefore never branch in Python on a
numeric option: :func:`is_zero` tells a Python zero (a fast path) from anything
else.

Every other module that validates imports its rules from here; nothing here
imports another unilosses module.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Callable, Iterable

import numpy as np

#: the rule makers and shared rules users name in ``@loss(rules=...)``; the helpers below
#: (:data:`DYNAMIC`, :func:`is_zero`, :func:`rule_for`...) serve the library's own levels
__all__ = ["axes", "axis", "flag", "in_range", "index", "one_of", "register", "shared"]

Rule = Callable[[str, Any], Any]


class _Dynamic:
    """The placeholder of an array-valued option in a validated key."""

    def __repr__(self) -> str:
        return "<array option>"


#: an option's place in a validated key when its value is an array (passed as an argument)
DYNAMIC = _Dynamic()

_SCALARS = (bool, int, float, str, type(None), np.generic)


def is_array_value(value: Any) -> bool:
    """True for an array (or tracer) given as an option value: not a Python / NumPy scalar,
    string, tuple or list."""
    return not isinstance(value, (*_SCALARS, tuple, list)) and hasattr(value, "shape")


def is_zero(value: Any) -> bool:
    """True only for a Python (or NumPy) number equal to 0: a fast path a spec may take;
    an array value, even one holding 0, is computed with."""
    return isinstance(value, (int, float, np.number)) and value == 0


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name}: expected a number, got nan")
    return value


def in_range(
    lo: float, hi: float, lo_open: bool = False, hi_open: bool = False, arrays: bool = True
) -> Callable[[str, Any], float]:
    """The rule of a number in ``[lo, hi]`` (``lo_open`` / ``hi_open``: exclusive bounds).

    With ``arrays`` (the default) the option may also be a 0-d array (see the module doc):
    the rule then has ``accepts_arrays = True`` and its bounds as attributes. Pass
    ``arrays=False`` for a number the spec branches on (a norm degree)."""

    def check(name: str, value: Any) -> float:
        v = _number(name, value)
        if (v < lo or (lo_open and v == lo)) or (v > hi or (hi_open and v == hi)):
            lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
            raise ValueError(f"{name}: expected a value in {lb}{lo}, {hi}{rb}, got {value!r}")
        return v

    check.accepts_arrays = arrays  # type: ignore[attr-defined]
    check.bounds = (lo, hi, lo_open, hi_open)  # type: ignore[attr-defined]
    return check


def in_bounds(xp: Any, value: Any, bounds: tuple[float, float, bool, bool]) -> Any:
    """The boolean 0-d array ``lo <= value <= hi`` (strict at open bounds) for an array ``value``."""
    lo, hi, lo_open, hi_open = bounds
    ok = xp.equal(value, value)  # False for NaN
    if math.isfinite(lo):
        ok = xp.logical_and(ok, value > lo if lo_open else value >= lo)
    if math.isfinite(hi):
        ok = xp.logical_and(ok, value < hi if hi_open else value <= hi)
    return ok


def flag(name: str, value: Any) -> bool:
    """True or False (NumPy booleans too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def axis(name: str, value: Any) -> Any:
    """An integer axis or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer axis or None, got {value!r}")
    return int(value)


def axes(name: str, value: Any) -> Any:
    """None, an integer axis, or a non-empty tuple (or list) of distinct integer axes (as a tuple)."""
    if not isinstance(value, (tuple, list)):
        try:
            return axis(name, value)
        except TypeError:
            raise TypeError(f"{name}: expected an integer axis, a tuple of them, or None, got {value!r}") from None
    if not value or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in value):
        raise TypeError(f"{name}: expected an integer axis, a non-empty tuple of them, or None, got {value!r}")
    return tuple(int(a) for a in value)


def index(name: str, value: Any) -> Any:
    """An integer label or None (``ignore_index``)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer label or None, got {value!r}")
    return int(value)


def one_of(*allowed: Any) -> Rule:
    """A rule accepting exactly the values ``allowed`` (strings, None...)."""

    def check(name: str, value: Any) -> Any:
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise ValueError(f"{name}: expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        return value

    return check


def _any(name: str, value: Any) -> Any:
    return value


_POSITIVE = in_range(0.0, math.inf, lo_open=True, hi_open=True, arrays=False)


def softcap(name: str, value: Any) -> Any:
    """None, or a positive finite number (a Python number: a spec branches on None)."""
    return None if value is None else _POSITIVE(name, value)


_INF = float("inf")
_SHARED: dict[str, Callable[[str, Any], Any]] = {
    "from_logits": flag,
    "from_log_probs": flag,
    "log_target": flag,
    "label_smoothing": in_range(0.0, 1.0),
    "epsilon": in_range(0.0, 0.5, lo_open=True, hi_open=True),
    "axis": axis,
    "ignore_index": index,
    "gamma": in_range(0.0, _INF),
    "alpha": in_range(0.0, 1.0),
    "beta": in_range(0.0, _INF, lo_open=True),
    "delta": in_range(0.0, _INF, lo_open=True),
    "margin": in_range(-_INF, _INF, lo_open=True, hi_open=True),
    "eps": in_range(0.0, _INF, lo_open=True),
    "full": flag,
    "squared": flag,
    "swap": flag,
    "apply_class_balancing": flag,
    "log_input": flag,
    "zero_infinity": flag,
    "time_major": flag,
    "divide_by_label_length": flag,
    "z_loss": in_range(0.0, _INF, hi_open=True),
    "softcap": softcap,
}


def register(name: str, check: Callable[[str, Any], Any]) -> None:
    """Add the rule for an option name (each name has exactly one rule)."""
    if name in _SHARED and _SHARED[name] is not check:
        raise ValueError(f"option {name!r} already has a rule")
    _SHARED[name] = check


def shared(name: str) -> Rule | None:
    """The shared rule of the option ``name``, or None when it has none."""
    return _SHARED.get(name)


def rule_for(name: str, rules: dict[str, Callable[[str, Any], Any]]) -> Callable[[str, Any], Any]:
    """A spec's own rule for an option (``rules``), else the shared rule of its name, else none."""
    return rules.get(name) or _SHARED.get(name) or _any


def did_you_mean(word: Any, choices: Iterable[str], n: int = 3) -> str:
    """``"; did you mean 'x'?"`` naming the closest of ``choices`` to ``word`` (difflib, as
    ``ul.get`` does for loss names), or ``""`` when none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=n)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_options(owner: str, unknown: Iterable[str], valid: Iterable[str]) -> TypeError:
    """The TypeError of options ``owner`` (a loss) does not take: every unknown name, the valid
    ones, and for each unknown name the closest valid one (a typo such as ``gama``)."""
    unknown, valid = sorted(unknown), sorted(valid)
    hints = [did_you_mean(u, valid, n=1) for u in unknown]
    close = [f"{h[len('; did you mean '):-1]} for {u!r}" for u, h in zip(unknown, hints) if h]
    hint = ""
    if len(unknown) == 1 and close:
        hint = hints[0]
    elif close:
        hint = f"; did you mean {', '.join(close)}?"
    return TypeError(f"{owner}: unexpected option(s) {unknown}; valid options: {valid}{hint}")


#: NumPy dtype kinds that hold no numbers: strings, bytes, Python objects, raw records, dates
_NOT_NUMBERS = {"U": "strings", "S": "bytes", "O": "Python objects", "V": "raw records", "M": "dates", "m": "durations"}


def not_numbers(name: str, dtype: Any) -> TypeError | None:
    """The TypeError of an input ``name`` whose (NumPy or framework) ``dtype`` holds no numbers,
    or None when it does: a loss takes numbers (labels and targets are numbers too), not class
    names as strings, which frameworks refuse with messages that name neither the input nor
    the fix (``invalid literal for int()``, ``can't convert np.ndarray of type numpy.str_``)."""
    kind = getattr(dtype, "kind", None)
    what = _NOT_NUMBERS.get(kind) if isinstance(kind, str) else None
    if kind == "V" and getattr(dtype, "type", None) is not np.void:  # ml_dtypes' bfloat16, float8...: numbers
        what = None
    if what is None and str(getattr(dtype, "name", "")) == "string":  # tf.string
        what = "strings"
    if what is None:
        return None
    expected = "integer class labels or float targets" if name == "y_true" else "an array of numbers"
    hint = ""
    if name == "y_true" and what in ("strings", "bytes", "Python objects"):
        hint = "; class names? map them to integer labels 0..K-1 first (np.unique(y_true, return_inverse=True)[1])"
    return TypeError(f"{name}: expected {expected}, got an array of {what} (dtype {dtype}){hint}")


def types(values: Any) -> tuple[Any, ...]:
    """The types of option values, and of a tuple's elements (``(1, 2.0) == (1, 2)``, but only
    one is a tuple of axes): with the values, a cache key that never mistakes one for the other."""
    out: tuple[Any, ...] = tuple(map(type, values))
    if tuple in out:
        out += tuple(tuple(map(type, v)) for v in values if type(v) is tuple)
    return out
