"""Translating a framework call into a unilosses call, and falling back where unilosses lacks something.

A translation calls :func:`call` (a unilosses function) or :func:`make` (a
``unilosses.keras`` class) with the unilosses names. Where unilosses has no such
loss, or the loss lacks an option the framework call passes, they raise
:class:`Untranslatable`; :func:`translation` then runs the framework's own object
instead and :func:`note` records it for the current test, which the pytest plugin
(:mod:`peers.plugin`) reports as *missing*, never as passed.

``PEERS_FALLBACK=stop`` (the runner's ``--fallback stop``) raises :class:`Missing`
instead of running the framework: the test stops there and is reported as missing
without spending time on the framework's own loss.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

#: "run": a missing loss or option runs the framework's own; "stop": the test stops (still missing)
MODE = os.environ.get("PEERS_FALLBACK", "run")

_used: list[str] = []


class Missing(BaseException):  # noqa: N818 - an outcome, not an error
    """Raised in ``stop`` mode where a test needs what unilosses lacks.

    A BaseException, so that a test's own ``assertRaises(ValueError)`` or ``except
    Exception`` cannot swallow it.
    """


class Untranslatable(Exception):  # noqa: N818 - a signal to the translation, caught there
    """unilosses lacks the loss or an option a call needs (the message says which)."""


def reset() -> None:
    """Forget the fallbacks recorded so far (the plugin calls this before each test)."""
    _used.clear()


def used() -> list[str]:
    """The fallbacks recorded since the last :func:`reset`, in order, without repeats."""
    return list(_used)


def _record(what: str) -> None:
    if what not in _used:
        _used.append(what)


def note(what: str, *arguments: Any) -> None:
    """Record that the current test used the framework's own ``what``.

    Under a JAX trace (any of ``arguments`` is a tracer) it is recorded again each
    time the compiled computation runs (``jax.debug.callback``): ``jax.jit`` caches a
    trace per function object, and a cached trace never calls the shim again, so a
    later test calling the same jitted function would otherwise not record it.
    """
    _record(what)
    if _traced(arguments):
        import jax

        jax.debug.callback(functools.partial(_record, what))
    if MODE == "stop":
        raise Missing(what)


def _traced(arguments: tuple[Any, ...]) -> bool:
    jax = sys.modules.get("jax")
    if jax is None:
        return False
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(arguments))


# ------------------------------------------------------------------ lookups
def lookup(namespace: Any, names: str | Iterable[str], prefix: str) -> Any:
    """The first of ``names`` that ``namespace`` has (several spellings for a loss that has
    not landed yet), else :class:`Untranslatable`."""
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        obj = getattr(namespace, name, None)
        if obj is not None:
            return obj
    raise Untranslatable(f"no {prefix}{' / '.join(names)}")


def _accepted(obj: Any) -> set[str] | None:
    """The keyword names ``obj`` accepts (None: any, it takes ``**kwargs``)."""
    params = inspect.signature(obj).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _check_options(obj: Any, name: str, options: dict[str, Any], required: Iterable[str]) -> None:
    accepted = _accepted(obj)
    if accepted is None:
        return
    for option in options:
        if option not in accepted and option not in required:
            raise Untranslatable(f"{name} has no option {option}")


def call(
    names: str | Iterable[str],
    *inputs: Any,
    required: Iterable[str] = (),
    by_value: Iterable[str] = (),
    **options: Any,
) -> Any:
    """``unilosses.<name>(*inputs, **options)`` for the first of ``names`` unilosses has.

    An option the function does not take is :class:`Untranslatable` (a missing option),
    except those in ``required``: options an open issue-12 item adds, passed as they
    are so that the test fails (a listed defect) until the item lands. For options in
    ``by_value``, a ``TypeError`` / ``ValueError`` that names the option (unilosses'
    messages start with ``"option:"``) means unilosses lacks that value (e.g. a tuple
    ``axis``) and is :class:`Untranslatable` too.
    """
    import unilosses

    fn = lookup(unilosses, names, "unilosses.")
    _check_options(fn, fn.__name__, options, required)
    return _by_value(fn, fn.__name__, by_value, inputs, options)


def _by_value(fn: Callable[..., Any], name: str, by_value: Iterable[str], inputs: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """``fn(*inputs, **options)``; an error naming one of ``by_value`` is :class:`Untranslatable`."""
    try:
        return fn(*inputs, **options)
    except (TypeError, ValueError) as e:
        for option in by_value:
            if option in options and str(e).startswith(f"{option}:"):
                raise Untranslatable(f"{name} has no {option}={options[option]!r} ({e})") from e
        raise


def _class(names: str | Iterable[str], namespace: str) -> Any:
    return lookup(importlib.import_module(namespace), names, f"{namespace}.")


def make(
    names: str | Iterable[str], /, namespace: str = "unilosses.keras", by_value: Iterable[str] = (), **options: Any
) -> Any:
    """An instance of the class of ``namespace`` (``unilosses.keras``: Keras' registered twins;
    ``unilosses``: the framework-neutral objects) named by the first of ``names`` that exists.

    An option its constructor does not take is :class:`Untranslatable`, and so is a value
    of an option in ``by_value`` that it refuses, as in :func:`call`.
    """
    cls = _class(names, namespace)
    _check_options(cls, cls.__name__, options, ())
    return _by_value(cls, cls.__name__, by_value, (), options)


# ------------------------------------------------------------ translations
def renamed(arguments: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    """``arguments`` with the framework's option names replaced by unilosses' (the README's table)."""
    return {rename.get(k, k): v for k, v in arguments.items()}


def class_translation(
    real: type,
    what: str,
    names: str | Iterable[str],
    rename: dict[str, str],
    namespace: str = "unilosses.keras",
    by_value: Iterable[str] = (),
) -> Callable[..., Any]:
    """The framework's loss class ``real``: the class of ``namespace`` named by ``names``, built with
    the arguments ``real`` would have got, renamed (and ``X.from_config(config)`` likewise)."""
    signature = inspect.signature(real)

    @translation(real, what)
    def construct(*args: Any, **kwargs: Any) -> Any:
        arguments = renamed(signature.bind(*args, **kwargs).arguments, rename)
        return make(names, namespace, by_value, **arguments)

    @translation(real.from_config, f"{what}.from_config")  # type: ignore[attr-defined]
    def from_config(config: dict[str, Any]) -> Any:
        return _class(names, namespace).from_config(renamed(config, rename))

    construct.from_config = from_config  # type: ignore[attr-defined]
    return construct


def function_translation(
    real: Callable[..., Any], what: str, names: str | Iterable[str], rename: dict[str, str]
) -> Callable[..., Any]:
    """The framework's loss function ``real(y_true, y_pred, ...)``: the unilosses function named by
    ``names``, its options renamed."""
    signature = inspect.signature(real)

    @translation(real, what)
    def apply(*args: Any, **kwargs: Any) -> Any:
        arguments = dict(signature.bind(*args, **kwargs).arguments)
        y_true, y_pred = arguments.pop("y_true"), arguments.pop("y_pred")
        return call(names, y_true, y_pred, **renamed(arguments, rename))

    return apply


# ----------------------------------------------------------------- fallbacks
def framework(real: Callable[..., Any], what: str) -> Callable[..., Any]:
    """``real`` (a framework function or class), recording every call as a fallback."""

    @functools.wraps(real)
    def fallback(*args: Any, **kwargs: Any) -> Any:
        note(what, args, kwargs)
        return real(*args, **kwargs)

    return fallback


def framework_base(real: type, what: str) -> type:
    """A subclass of the framework's base class ``real`` that records each instance as a fallback
    (for a test that subclasses it at import time and instantiates the subclass in a test)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        note(what)
        real.__init__(self, *args, **kwargs)

    return type(real.__name__, (real,), {"__init__": __init__, "__module__": __name__})


def translation(real: Callable[..., Any], what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: a translation of the framework's ``real``; where it raises
    :class:`Untranslatable`, the call runs ``real`` instead and is recorded as a fallback."""

    def wrap(translate: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def shim(*args: Any, **kwargs: Any) -> Any:
            try:
                return translate(*args, **kwargs)
            except Untranslatable as e:
                note(f"{what}: {e}", args, kwargs)
            return real(*args, **kwargs)

        shim.translation = translate  # type: ignore[attr-defined]
        return shim

    return wrap


def call_overridable(base: Any) -> bool:
    """Whether ``base`` takes Keras-style subclasses that only override ``call(y_true, y_pred)``."""
    try:

        class Probe(base):  # type: ignore[misc, valid-type]
            def call(self, y_true: Any, y_pred: Any) -> Any:
                return y_true - y_pred

        Probe()
    except Exception:
        return False
    return True


def loss_base(real: type, what: str) -> type:
    """The base class for a test's own loss subclasses (``class MyLoss(losses.Loss)``):
    ``unilosses.Loss`` where it takes a ``call`` override, else the framework's ``real``,
    recorded as a fallback."""
    import unilosses

    if call_overridable(unilosses.Loss):
        return unilosses.Loss
    return framework_base(real, what)
