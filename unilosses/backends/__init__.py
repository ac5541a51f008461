"""Dispatch: from the arrays a caller passes to a :class:`Backend`.

Detection looks at the array's type and its defining module only; no framework
is imported here. A framework that is not in ``sys.modules`` cannot have made
the array, so an unknown type never triggers an import of TensorFlow or torch.
The answer is cached per type: after the first call, dispatch is one dict
lookup.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from unilosses.backends.generic import Backend, Slots, traced_constant
from unilosses.rules import not_numbers

__all__ = [
    "BACKENDS", "BY_TYPE", "HOST_TYPES", "NOT_ARRAYS", "Backend", "Slots", "backend_for", "backend_of_type",
    "convert", "framework_name", "not_an_array", "resolve", "traced_constant",
]

#: the backend of each array type seen so far
BY_TYPE: dict[type, Backend] = {}
#: the backends by name (:func:`backend_of_type` gives the name; the call machinery reads this)
BACKENDS: dict[str, Backend] = {}


# Python objects that y_true / weights may be given as: moved to y_pred's backend.
HOST_TYPES = (int, float, bool, list, tuple, np.ndarray, np.generic)


#: the frameworks whose array types a subclass defined elsewhere inherits from (a torch.Tensor
#: subclass of another package is a torch array: torch's kernels and checks apply to it)
_FRAMEWORKS = frozenset({"numpy", "torch", "jax", "jaxlib", "tensorflow", "dask", "keras", "cupy", "array_api_strict"})


def framework_name(obj: Any) -> str:
    """The framework an object belongs to, from its class's module, or from the first class
    of a known framework it derives from (no imports: only the classes' module names are read)."""
    tp = type(obj)
    root = tp.__module__.partition(".")[0]
    if root not in _FRAMEWORKS:
        for base in tp.__mro__[1:-1]:  # the last is object
            base_root = base.__module__.partition(".")[0]
            if base_root in _FRAMEWORKS:
                root = base_root
                break
    if root == "jaxlib":
        return "jax"
    if root in ("builtins",) and isinstance(obj, (int, float, bool, list, tuple)):
        return "python"
    return root


def _make(name: str, sample: Any, arg: str = "y_pred", host: bool = False) -> Backend:
    """Build the Backend for framework ``name``; imports only backend modules. ``arg`` names
    ``sample`` in the error for an object that is no array (``host``: Python numbers are allowed too)."""
    if name == "numpy":
        from unilosses.backends.numpy import NumpyBackend

        return NumpyBackend()
    if name == "torch":
        from unilosses.backends.torch import TorchBackend

        return TorchBackend()
    if name == "jax":
        from unilosses.backends.jax import JaxBackend

        return JaxBackend()
    if name == "tensorflow":
        from unilosses.backends.tensorflow import TensorFlowBackend

        return TensorFlowBackend()
    import array_api_compat

    try:
        xp = array_api_compat.array_namespace(sample)
    except TypeError:
        raise not_an_array(arg, sample, host) from None
    if name == "dask":
        from unilosses.backends.dask import DaskBackend

        return DaskBackend(xp, backend_for)
    return Backend(name, xp)


#: option values that are never arrays nor numbers (refused when the options are validated)
NOT_ARRAYS = (str, bytes, dict, set, frozenset)


def not_an_array(name: str, obj: Any, numbers: bool = True) -> TypeError:
    """The TypeError of input or array option ``name`` given ``obj``, which is no array (nor,
    with ``numbers``, a Python number or list of numbers, which are converted)."""
    tp = type(obj)
    got = f"{tp.__name__} {obj[:40]!r}" if isinstance(obj, (str, bytes)) else f"{tp.__module__}.{tp.__qualname__}"
    allowed = "a Python number, a list of numbers, or " if numbers else ""
    return TypeError(
        f"{name}: expected {allowed}an array of NumPy, JAX, PyTorch, TensorFlow or another Array API library, got {got}"
    )


def _lookup(obj: Any, arg: str = "y_pred", host: bool = False) -> Backend:
    tp = type(obj)
    be = BY_TYPE.get(tp)
    if be is not None:
        return be
    name = framework_name(obj)
    if name == "python":
        name = "numpy"
    # No lock: dict.setdefault is atomic, a backend built twice by racing
    # threads is dropped, and a lock could not be traced by torch.compile.
    be = BACKENDS.get(name)
    if be is None:
        be = BACKENDS.setdefault(name, _make(name, obj, arg, host))
    return BY_TYPE.setdefault(tp, be)


@traced_constant
def backend_of_type(tp: type) -> str | None:
    """The name (a key of :data:`BACKENDS`) of the backend of arrays of type ``tp``, or None
    where the object itself is needed (:func:`resolve`: host values, variables, types not seen
    yet other than torch's). A :func:`traced_constant`: under ``torch.compile`` it builds the
    torch backend while tracing, not in the graph, and the read leaves no guard."""
    be = BY_TYPE.get(tp)
    if be is not None:
        return be.name
    torch = sys.modules.get("torch")
    if torch is None or not issubclass(tp, torch.Tensor):
        return None
    try:
        be = BACKENDS.get("torch")
        if be is None:
            be = BACKENDS.setdefault("torch", _make("torch", None))
        return BY_TYPE.setdefault(tp, be).name
    except Exception:  # noqa: BLE001 - resolve() raises it
        return None


def _host_array(x: Any, name: str) -> np.ndarray:
    """A Python / NumPy value as a plain ``np.ndarray`` (subclasses such as memmaps and
    matrices as plain arrays); a masked array is refused: its mask would be silently dropped."""
    if type(x).__module__.startswith("numpy.ma"):
        raise TypeError(
            f"{name}: masked arrays are not supported (the mask would be ignored); pass the data "
            "with sample_weight=0 (or ignore_index) at the masked positions"
        )
    a = np.asarray(x)
    error = not_numbers(name, a.dtype)
    if error is not None:
        raise error
    return a


#: the dtype kind NumPy gives a list of Python numbers: the highest of its numbers' kinds
_PYTHON_KIND = {bool: "b", int: "i", float: "f"}
_NUMBER_TYPES = frozenset(_PYTHON_KIND)
_SEQUENCE_TYPES = frozenset({list, tuple})
#: the backends that take Python lists through their namespace rather than NumPy where ``y_pred``
#: is not concrete (:meth:`Backend.concrete`): torch, whose torch.compile traces that Python as
#: constants while NumPy is a graph break. Elsewhere lists go through NumPy, which converts a long
#: list 2 to 30 times faster than torch, JAX or TensorFlow do and is a constant to jax.jit and
#: tf.function.
_LISTS_DIRECT = frozenset({"torch"})


def _python_kind(x: Any) -> str | None:
    """The dtype kind (``"b"``, ``"i"`` or ``"f"``) NumPy would give a regular nested list / tuple
    of Python numbers, found without NumPy; None for anything else (NumPy values, numbers of
    other types, strings, ragged lists), which takes the NumPy path and its checks."""
    found = _nested_kind(x)
    return None if found is None else "bif"[found[0]]


def _nested_kind(x: list[Any] | tuple[Any, ...]) -> tuple[int, tuple[int, ...]] | None:
    """(rank of the kind, shape) of a regular nested list / tuple of Python numbers; None otherwise."""
    types = set(map(type, x))  # one pass in C per level
    if types <= _NUMBER_TYPES:
        rank = 2 if float in types or not types else 1 if int in types else 0  # NumPy: [] is float64
        return rank, (len(x),)
    if not types <= _SEQUENCE_TYPES:
        return None
    rank, shape = 0, None
    for v in x:
        found = _nested_kind(v)
        if found is None or (shape is not None and found[1] != shape):
            return None
        rank, shape = max(rank, found[0]), found[1]
    return rank, (len(x), *shape)  # type: ignore[misc]


def _variable_value(x: Any) -> Any:
    """For a variable (``tf.Variable``, ``keras.Variable`` on any Keras backend): a function
    from it to the array it holds, read so that gradients flow; None for anything else."""
    root = framework_name(x)
    if root == "keras" and hasattr(type(x), "value"):
        return _keras_value
    if root == "tensorflow":
        import tensorflow as tf  # imported already: the object is TensorFlow's

        if isinstance(x, tf.Variable):
            return tf.convert_to_tensor
    return None


def _keras_value(x: Any) -> Any:
    return x.value


def resolve(x: Any, name: str = "y_pred", host: bool = False) -> tuple[Any, Backend]:
    """(array, backend) for an input of a type not seen yet as an array type.

    Python and NumPy values become plain NumPy arrays; a variable becomes the array it holds
    (a ``keras.Variable`` may hold a ``tf.Variable``, which holds a tensor). An object that is
    none of these is a TypeError naming ``name`` (``host``: saying that Python numbers are allowed).
    """
    for _ in range(4):
        be = BY_TYPE.get(type(x))
        if be is not None:
            return x, be
        if isinstance(x, HOST_TYPES):
            x = _host_array(x, name)
            return x, BY_TYPE.get(np.ndarray) or _lookup(x)
        value = _variable_value(x)
        if value is None:
            _refuse_ragged(x, name)
            return x, _lookup(x, name, host)
        x = value(x)
    return x, _lookup(x, name, host)


def _refuse_ragged(x: Any, name: str) -> None:
    """A TypeError for a ``tf.RaggedTensor``: its rows have no common shape to compute over
    (no ``ndim``), and padding it silently would change every mean."""
    if type(x).__name__ == "RaggedTensor" and framework_name(x) == "tensorflow":
        raise TypeError(
            f"{name}: got a tf.RaggedTensor; pass a dense tensor: x.to_tensor() with sample_weight=0 "
            "(or ignore_index) at the padding, or call the loss on each row"
        )


def backend_for(y_pred: Any) -> Backend:
    """The backend of ``y_pred``: one dict lookup once its type has been seen."""
    be = BY_TYPE.get(type(y_pred))
    return be if be is not None else resolve(y_pred)[1]


def convert(be: Backend, x: Any, like: Any, name: str, dtype: Any = None, lead_name: str = "y_pred") -> Any:
    """Move ``x`` (an array of ``be``, or a Python / NumPy value) into ``be``.

    Python scalars, lists and NumPy arrays are created in ``be``'s namespace on
    ``like``'s device; an array of another framework is a TypeError naming both.
    ``dtype``, if given, is the dtype of the result; ``lead_name`` names ``like`` in messages.
    """
    if x is None:
        return None
    tp = type(x)
    if tp is type(like):  # the common case: no lookup
        other: Backend | None = be
    else:
        name_ = backend_of_type(tp)
        other = None if name_ is None else BACKENDS[name_]
    if other is be:
        return x if dtype is None or x.dtype == dtype else be.xp.astype(x, dtype)
    if isinstance(x, HOST_TYPES):
        # Python numbers (and lists of them under torch.compile) through the namespace: no NumPy,
        # which torch.compile cannot trace; a Python number converts faster so on every backend
        kind = _PYTHON_KIND.get(tp)
        if kind is None and (tp is list or tp is tuple) and be.name in _LISTS_DIRECT and not be.concrete(like):
            kind = _python_kind(x)
        if kind is None:  # NumPy values, other lists, lists holding anything else: through NumPy
            return be.from_host(_host_array(x, name), like, dtype)
        if dtype is None:
            dtype = like.dtype if kind == "f" else be.index_dtype if kind == "i" else be.xp.bool
        return be.xp.asarray(x, dtype=dtype, device=be.device(like))
    if other is None:
        x, other = resolve(x, name, host=True)
        if other is be:
            return convert(be, x, like, name, dtype, lead_name)
    raise TypeError(
        f"{name}: got an array of {other.name} while {lead_name} is an array of {be.name}; "
        f"pass arrays of one framework (or Python / NumPy values, which are converted)"
    )
