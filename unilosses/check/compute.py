"""One conformance case: the numbers ``check`` compares, computed in parts, and the comparison.

A case's work is split into *parts* that each need few frameworks, so worker
processes can share it out without every worker importing every framework
(TensorFlow alone costs seconds to import): see :mod:`unilosses.check.run`.

- ``"numpy"``: unilosses on NumPy, every reduction (what every backend must
  equal), and the float64 finite differences of unilosses on NumPy (every
  reduction with sample weights) along three random directions
  (:func:`~unilosses.check.gradients.smooth_directions`: four evaluations each,
  whatever the input size; entry by entry only to find kinks a direction crosses);
- ``"references:<framework>"``, one per array framework the case's references
  run on (``references:torch`` for torch, pml and MONAI, ``references:jax`` for
  optax and JAX, ``references:tensorflow`` for Keras and tf.nn,
  ``references:numpy`` for NumPy's): those frameworks' own losses on the case's
  inputs, and, in the part holding it, the finite differences of the first
  float64 one (torch, tf.nn, Keras, pml, MONAI) along three random directions
  likewise. Split by framework so that a worker running, say, torch's part also
  runs the torch references, and only the worker running TensorFlow's part
  imports TensorFlow;
- one part per other backend: every reduction and, with autodiff, the two
  gradients. JAX computes them in one ``jax.jit`` (one XLA compile per case; a
  compile per reduction cost 6x); Dask computes its reductions' graphs in one
  ``dask.compute``: every reduction, or, for ``check`` on the catalogue, every
  reduction on the first case of each loss and the per-sample values and the
  case's own reduction on the others (building a graph
  costs Dask ten times what computing it does, and the reductions are one
  function, :func:`unilosses.reduction.reduce`, whatever the case: the first case
  checks it on Dask, the others the loss's own code under their options).
  On the command line both are kept across runs (:mod:`unilosses.check.cache`): a
  case's exported JAX program and its Dask graphs, under a key holding unilosses'
  source, so a later run computes them without tracing unilosses' code again;
  a built-in case's references parts are kept as their results (none of it is
  unilosses' losses), so a later run leaves them out of :meth:`Setup.parts`.

:func:`compute_part` returns plain data (NumPy arrays, strings for errors);
:func:`assemble` compares the parts of a case and returns its row of the report.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import numpy as np

from unilosses.arrays import AUTODIFF, ArrayBackend, to_numpy
from unilosses.check import gradients as G
from unilosses.check.cache import (
    cached_graph,
    cached_program,
    graph_key,
    load_result,
    program_key,
    result_key,
    store_result,
    use_jax_cache,
)
from unilosses.conformance import REFERENCE_PACKAGES, Case, reference_unavailable

#: float32 autodiff against float64 finite differences: relative, and absolute per unit of the largest entry
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-5


def diff(actual: Any, expected: Any, rtol: float, atol: float) -> tuple[float, bool]:
    """(largest |actual - expected|, whether every entry is within ``atol + rtol |expected|``); NaN == NaN."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return float("inf"), False
    both_nan = np.isnan(a) & np.isnan(e)
    d = np.where(both_nan, 0.0, np.abs(a - e))
    ok = bool(np.all(both_nan | (d <= atol + rtol * np.abs(e))))
    return float(np.max(d, initial=0.0)), ok


#: the prefix of the references' parts, before the framework they run on
REFS = "references:"


def _ref_framework(ref: str) -> str:
    """The framework a worker imports to call the reference ``ref`` (see REFERENCE_PACKAGES)."""
    return REFERENCE_PACKAGES[ref].framework if ref in REFERENCE_PACKAGES else ref


def _error(exc: BaseException) -> str:
    return repr(exc)


class Setup:
    """What every part of a case agrees on: inputs, reductions, differentiated positions, weights."""

    def __init__(
        self, case: Case, backends: list[str], refs_available: dict[str, bool], gradients: bool, *, first: bool = True
    ) -> None:
        import unilosses as ul

        self.case = case
        self.backends = backends
        self.refs = [fw for fw in case.references if refs_available.get(fw)]
        self.reductions = tuple(ul.REDUCTIONS)
        #: Dask's reductions: every one on the first case of a loss (``first``), else the per-sample
        #: values and the case's reduction (see the module docstring)
        self.dask_reductions = self.reductions if first else tuple(r for r in self.reductions if r in ("none", case.reduction))
        self.arrays = tuple(case.inputs(np.random.default_rng(0)))
        self.grad_backends = [b for b in backends if b in AUTODIFF] if gradients else []
        self.positions = G.float_positions(case, self.arrays) if self.grad_backends else []
        #: the float64 reference whose gradient is compared (torch, tf.nn, Keras, pml, MONAI), if any; Keras only
        #: on its TensorFlow backend, the one where it computes float64 (check's command line sets it)
        exact = [
            fw for fw in G.FD_REFERENCES
            if fw in self.refs and fw not in case.values_only and (fw != "keras" or _keras_exact())
        ]
        self.native = exact[0] if exact and self.positions else None
        #: the references by the framework a process imports to call them, in the case's order
        self.ref_groups: dict[str, list[str]] = {}
        for fw in self.refs:
            self.ref_groups.setdefault(_ref_framework(fw), []).append(fw)
        #: the references parts found in the cache (the command line, built-in cases): not computed again
        self.stored: dict[str, dict[str, Any]] = {}
        if case.function is None:
            for framework in self.ref_groups:
                got = load_result(functools.partial(self.references_key, framework))
                if isinstance(got, dict):
                    self.stored[REFS + framework] = got

    def references_key(self, framework: str) -> str:
        """The cache key of the references part on ``framework`` (:func:`unilosses.check.cache.result_key`)."""
        case = self.case
        return result_key(self.arrays, case.id, case.loss, sorted(case.options.items()), sorted(case.array_options.items()),
                          case.reduction, framework, self.ref_groups[framework], self.native, self.positions)

    @property
    def gradients(self) -> bool:
        return bool(self.positions)

    def parts(self) -> list[str]:
        """The parts of this case: ``numpy``, ``references:<framework>`` for each framework of its installed
        references, then the backends."""
        refs = [REFS + fw for fw in self.ref_groups if REFS + fw not in self.stored]
        return ["numpy"] + refs + [b for b in self.backends if b != "numpy"]

    def needs(self, part: str) -> set[str]:
        """The frameworks (beyond NumPy) a worker imports for ``part``."""
        if part == "numpy":
            return set()
        if part.startswith(REFS):
            return {part[len(REFS):]} - {"numpy"}
        return {part}


# --------------------------------------------------------------- values
def _outputs(name: str, case: Case, arrays: tuple[Any, ...], reductions: tuple[str, ...]) -> dict[str, Any]:
    """The case's loss on backend ``name``, every reduction, as NumPy."""
    fn = case.resolve()
    be = ArrayBackend(name)

    def build() -> dict[str, Any]:
        args, kw = case.call_args(tuple(be.asarray(a) for a in arrays))
        return {r: fn(*args, **kw, reduction=r) for r in reductions}

    if name != "dask":
        return {r: to_numpy(o) for r, o in build().items()}
    import dask

    def key() -> str:
        return graph_key(tuple(np.asarray(a) for a in arrays), case.id, case.loss, sorted(case.options.items()),
                         sorted(case.array_options.items()), reductions)

    # built-in cases only: a user's loss is code outside the package, which the key does not cover
    outs = cached_graph(key if case.function is None else None, build)
    # one scheduler pass for every reduction's graph; the synchronous scheduler: these graphs are
    # tiny, a thread pool costs more than it saves
    leaves = [(r, i) for r in reductions for i in range(len(outs[r]) if r == "stats" else 1)]
    values = dask.compute(*[outs[r][i] if r == "stats" else outs[r] for r, i in leaves], scheduler="synchronous")
    got = dict(zip(leaves, values))
    return {
        r: type(outs[r])(*(np.asarray(got[r, i]) for i in range(len(outs[r])))) if r == "stats" else np.asarray(got[r, 0])
        for r in reductions
    }


def _native_value(ref: Callable[..., Any]) -> Callable[[list[Any]], float]:
    return lambda xs: float(np.sum(np.asarray(ref(*xs), dtype=np.float64)))


# ---------------------------------------------------------------- parts
def compute_part(s: Setup, part: str) -> dict[str, Any]:
    """One part of the case (see the module docstring): plain data, errors as strings."""
    if part == "numpy":
        return _numpy_part(s)
    if part.startswith(REFS):
        return _references_part(s, part[len(REFS):])
    return _backend_part(s, part)


def _numpy_part(s: Setup) -> dict[str, Any]:
    out: dict[str, Any] = {"outputs": _outputs("numpy", s.case, s.arrays, s.reductions)}
    if s.gradients:
        a64 = [G.cast(a, "float64") for a in s.arrays]
        sw = G.sample_weight(s.case, s.arrays)
        dirs, derivatives, kinks = G.smooth_directions(G.numpy_value(s.case, G.GRAD_REDUCTIONS, sw), a64, s.positions)
        out["numeric"] = {"dirs": dirs, "derivatives": derivatives, "kinks": kinks}
    return out


def _keras_exact() -> bool:
    """Whether Keras runs (or will run) on its TensorFlow backend in this process, exact in float64."""
    return os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"


def _references_part(s: Setup, framework: str) -> dict[str, Any]:
    """The references of the case that run on ``framework``, and the float64 one's finite differences if it is among them."""
    natives: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for fw in s.ref_groups.get(framework, []):
        try:
            natives[fw] = np.asarray(s.case.references[fw](*s.arrays), dtype=np.float64)
        except Exception as exc:  # report, don't crash the whole check
            why = reference_unavailable(exc)
            if why is None:
                natives[fw] = _error(exc)
            else:  # the installed release has nothing to compare with (an older one): not compared
                skipped[fw] = why
    out: dict[str, Any] = {"natives": natives, "skipped": skipped}
    if s.native is not None and _ref_framework(s.native) == framework:
        a64 = [G.cast(a, "float64") for a in s.arrays]
        pred = G.pred_positions(s.case, s.arrays)
        try:
            # where a direction crosses a kink, the kinks are found entry by entry on unilosses (NumPy,
            # the unweighted loss: one call per evaluation), not on the slow reference
            out["dirs"], out["directional"], _ = G.smooth_directions(
                _native_value(s.case.references[s.native]), a64, pred, kinks=G.numpy_value(s.case, ("none",), None)
            )
        except Exception as exc:
            if reference_unavailable(exc) is None:
                out["directional"] = _error(exc)
    failed = any(isinstance(v, str) for v in natives.values()) or isinstance(out.get("directional"), str)
    if s.case.function is None and not failed:  # a built-in case's references, all computed: kept for later runs
        store_result(lambda: s.references_key(framework), out)
    return out


def _backend_part(s: Setup, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    autodiff = name in s.grad_backends and s.gradients
    try:
        if name == "jax":
            out["outputs"], grads = _jax_all(s, autodiff)
            if autodiff:
                out["grads"] = grads
        else:
            out["outputs"] = _outputs(name, s.case, s.arrays, s.dask_reductions if name == "dask" else s.reductions)
    except Exception as exc:
        out["error"] = _error(exc)
    if autodiff and "grads" not in out:
        try:
            sw = G.sample_weight(s.case, s.arrays)
            got = G.autodiff(name, s.case, s.arrays, s.positions, G.GRAD_REDUCTIONS, sw)
            pred = G.pred_positions(s.case, s.arrays)
            got_native = G.autodiff(name, s.case, s.arrays, pred, (s.case.reduction,)) if s.native is not None else None
            out["grads"] = (got, got_native)
        except Exception as exc:
            out["grad_error"] = _error(exc)
    return out


def _jax_all(s: Setup, autodiff: bool) -> tuple[dict[str, Any], Any]:
    """Every reduction, and with ``autodiff`` both gradients, in one compiled program."""
    import jax
    import jax.numpy as jnp

    use_jax_cache()
    case, fn = s.case, s.case.resolve()
    xs = tuple(jnp.asarray(a) for a in s.arrays)
    pred = G.pred_positions(case, s.arrays)
    weight = jnp.asarray(np.asarray(G.sample_weight(case, s.arrays), dtype=np.float32)) if autodiff else None

    def everything(*xs: Any) -> Any:
        args, kw = case.call_args(xs)
        # "stats" as a plain tuple: the exported program's output tree holds standard containers only
        res: dict[str, Any] = {"values": {r: _plain(fn(*args, **kw, reduction=r)) for r in s.reductions}}
        if autodiff:
            argnums = tuple(range(len(s.positions)))
            total = G.total_over(case, xs, s.positions, G.GRAD_REDUCTIONS, weight, jnp.sum)
            res["grad"] = jax.grad(total, argnums)(*(xs[i] for i in s.positions))
            if s.native is not None:
                native = G.total_over(case, xs, pred, (case.reduction,), None, jnp.sum)
                res["native"] = jax.grad(native, tuple(range(len(pred))))(*(xs[i] for i in pred))
        return res

    def key() -> str:
        return program_key(case.id, case.loss, sorted(case.options.items()), sorted(case.array_options.items()),
                           [(x.shape, str(x.dtype)) for x in xs], s.reductions, autodiff, s.positions, pred,
                           s.native is not None, G.GRAD_REDUCTIONS)

    # built-in cases only: a user's loss is code outside the package, which the key does not cover
    res = cached_program(key if case.function is None else None, jax.jit(everything), xs)(*xs)
    values = {r: to_numpy(o) for r, o in res["values"].items()}
    if not autodiff:
        return values, None
    grads = [np.asarray(g, dtype=np.float64) for g in res["grad"]]
    native = [np.asarray(g, dtype=np.float64) for g in res["native"]] if "native" in res else None
    return values, (grads, native)


def _plain(out: Any) -> Any:
    """A named tuple (``"stats"``) as a plain tuple, anything else as it is."""
    return tuple(out) if isinstance(out, tuple) else out


# ----------------------------------------------------------- comparison
def _values_cell(s: Setup, out: dict[str, Any], expected: dict[str, Any], natives: dict[str, Any]) -> dict[str, Any]:
    cell: dict[str, Any] = {"max_diff_numpy": 0.0, "max_diff_native": None, "native": [], "ok": True}
    case = s.case
    for r, o in out.items():
        for got, exp in zip(o if r == "stats" else (o,), expected[r] if r == "stats" else (expected[r],)):
            d, ok = diff(got, exp, case.rtol, case.atol)
            cell["max_diff_numpy"] = max(cell["max_diff_numpy"], d)
            cell["ok"] &= ok
    for fw, nat in natives.items():
        if isinstance(nat, str):
            cell["ok"] = False
            cell["error"] = f"{fw} reference failed: {nat}"
            continue
        d, ok = diff(out[case.reduction], nat.astype(np.float32), case.rtol, case.atol)
        cell["native"].append(fw)
        cell["max_diff_native"] = max(cell["max_diff_native"] or 0.0, d)
        cell["ok"] &= ok
    return cell


def _gradient_cell(s: Setup, grads: Any, numeric: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    got, got_native = grads
    cell: dict[str, Any] = {"ok": False, "max_diff": None, "native": s.native, "max_diff_native": None}
    # the absolute tolerance is per unit of the gradient's largest entry (at least 1)
    scale = max([1.0] + [float(np.max(np.abs(g), initial=0.0)) for g in got if np.all(np.isfinite(g))])
    errors = []
    cell["max_diff"], ok, msg = G.compare_directional(
        got, numeric["derivatives"], numeric["dirs"], rtol=GRAD_RTOL, atol=GRAD_ATOL * scale, what="gradient"
    )
    errors += [msg] if msg else []
    kinks, size = numeric["kinks"]
    if kinks > size - kinks:  # the directions would miss most of the gradient: no vacuous pass
        ok = False
        errors.append(f"{kinks} of {size} entries sit on kinks")
    directional = refs.get("directional")
    if isinstance(directional, str):
        ok = False
        errors.append(f"{s.native} reference failed: {directional}")
    elif directional is not None and got_native is not None:
        cell["max_diff_native"], ok_native, msg = G.compare_directional(
            got_native, directional, refs["dirs"], rtol=GRAD_RTOL, atol=GRAD_ATOL * scale
        )
        ok = ok and ok_native
        errors += [f"against {s.native}: {msg}"] if msg else []
    cell["ok"] = ok
    if errors:
        cell["error"] = "; ".join(errors)
    return cell


def _merged_references(s: Setup, parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``references:<framework>`` parts of a case as one: every reference's value (in the case's
    order), those skipped, the float64 one's finite differences, and the first part's error if any failed."""
    merged: dict[str, Any] = {}
    got = [parts[REFS + fw] for fw in s.ref_groups if REFS + fw in parts]
    for part in got:
        for key in ("dirs", "directional"):
            if key in part:
                merged[key] = part[key]
        if "error" in part and "error" not in merged:
            merged["error"] = part["error"]
    for key in ("natives", "skipped"):
        by_ref = {fw: v for part in got for fw, v in part.get(key, {}).items()}
        merged[key] = {fw: by_ref[fw] for fw in s.refs if fw in by_ref}
    return merged


def assemble(s: Setup, parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The case's row of the report from its computed parts (a part that failed as a whole holds ``error``)."""
    row: dict[str, Any] = {"case": s.case.id, "loss": s.case.loss, "results": {}, "gradients": {}}
    parts = {**s.stored, **parts}
    numpy_part, refs = parts["numpy"], _merged_references(s, parts)
    row["skipped"] = dict(refs.get("skipped", {}))
    row["not_installed"] = [fw for fw in s.case.references if fw not in s.refs]
    for name in s.backends:
        part = numpy_part if name == "numpy" else parts[name]
        error = part.get("error") or numpy_part.get("error") or refs.get("error")
        if error is None:
            try:
                row["results"][name] = _values_cell(s, part["outputs"], numpy_part["outputs"], refs["natives"])
            except Exception as exc:
                error = _error(exc)
        if error is not None:
            row["results"][name] = {"max_diff_numpy": 0.0, "max_diff_native": None, "native": [], "ok": False, "error": error}
        if name in s.grad_backends and s.gradients:
            gerror = part.get("grad_error") or numpy_part.get("error") or refs.get("error")
            if gerror is None and "grads" in part:
                try:
                    row["gradients"][name] = _gradient_cell(s, part["grads"], numpy_part["numeric"], refs)
                except Exception as exc:
                    gerror = _error(exc)
            if name not in row["gradients"]:
                row["gradients"][name] = {
                    "ok": False, "max_diff": None, "native": s.native, "max_diff_native": None,
                    "error": gerror or part.get("error", "no gradient computed"),
                }
    return row


def check_case(
    case: Case, backends: list[str], refs_available: dict[str, bool], gradients: bool = True, *, first: bool = True
) -> dict[str, Any]:
    """Every part of ``case`` in this process, then its row (``first``: see :class:`Setup`)."""
    s = Setup(case, backends, refs_available, gradients, first=first)
    return assemble(s, {p: run_part(s, p) for p in s.parts()})


def run_part(s: Setup, part: str) -> dict[str, Any]:
    """:func:`compute_part`, with anything it raises as the part's ``error``."""
    try:
        return compute_part(s, part)
    except Exception as exc:
        return {"error": f"{part}: {_error(exc)}"}
