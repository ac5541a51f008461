"""Where ``check`` keeps what it may reuse across runs: JAX's and Dask's programs, and the frameworks' own losses' results.

- JAX's persistent compilation cache stores each XLA executable under a key made of
  the program itself (its HLO, so unilosses' code as traced), the compile options,
  XLA's flags and the jax / jaxlib versions: a program changed in any way compiles
  afresh, and a cached one computes what a fresh compile would.
- Each conformance case's JAX program (every reduction and both gradients, see
  :mod:`unilosses.check.compute`) is kept as an exported StableHLO module
  (``jax.export``), so a later run skips tracing unilosses' code and lowering it,
  which JAX does even when its compilation cache holds the executable (it needs the
  HLO for the key). Its key is the hash of every source file of the ``unilosses``
  package (the losses, the backends, the cases), the case (id, options, input shapes
  and dtypes, what is differentiated), the jax / jaxlib / NumPy / Python versions and
  JAX's dtype settings: an edit anywhere in unilosses traces every case afresh, and a
  process in which a source file changed after the command started neither loads nor
  stores. Each case's Dask graphs (its reductions, not computed) are kept likewise,
  the key holding the inputs' values too (a graph holds its data). Only
  the built-in cases are kept this way; your own (the kit, ``--module``) are traced
  in every run, their code being outside the package.

- Each built-in case's references part (the frameworks' own losses on the case's inputs and the
  float64 one's finite differences, :mod:`unilosses.check.compute`) is kept as its plain data, under
  a key holding the source fingerprint, the case and its inputs' values, the versions of every
  reference package (torch, MONAI, pml, JAX, optax, TensorFlow, Keras...) and the settings that
  change their numbers (``KERAS_BACKEND``, ``XLA_FLAGS``, ``JAX_ENABLE_X64``...): none of it is
  unilosses' losses, so a later run neither imports a reference's framework nor calls it. A part
  with a failed reference is not kept.

Nothing unilosses' losses compute is cached: every backend's values and gradients, and NumPy's
finite differences, are computed in the run.

The directory is ``$UNILOSSES_CACHE_DIR``, else ``$XDG_CACHE_HOME/unilosses``, else
``~/.cache/unilosses`` (``jax/`` and ``programs/`` in it); ``UNILOSSES_NO_CACHE=1`` (``check --no-cache``) turns it off. Only the
command line uses it: :func:`unilosses.check.run_checks` called from Python (the kit, the tests)
leaves JAX's settings alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import time
from typing import Any, Callable, Iterator

__all__ = [
    "NO_CACHE_ENV", "cache_dir", "cached_graph", "cached_program", "enabled", "graph_key", "load_result", "program_key",
    "result_key", "source_fingerprint", "store_result", "use_jax_cache",
]

#: set to 1 to use no cache (``check --no-cache``)
NO_CACHE_ENV = "UNILOSSES_NO_CACHE"
_jax_done = False
#: whether this run uses the cache: only ``python -m unilosses check`` turns it on (:func:`enabled`),
#: for itself and the workers it forks; a library call (the kit under pytest) leaves JAX as it is
_on = False


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """The cache on for what runs inside (the command line's :func:`~unilosses.check.run_checks`)."""
    global _on
    before, _on = _on, True
    try:
        yield
    finally:
        _on = before


def cache_dir() -> str | None:
    """The cache directory (not created here), or None when turned off."""
    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    explicit = os.environ.get("UNILOSSES_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "unilosses")


def use_jax_cache() -> bool:
    """Point JAX's persistent compilation cache at ``<cache_dir>/jax`` (every program, however fast its
    compile: the check's are small); once per process. Returns whether the cache is on."""
    global _jax_done
    root = cache_dir()
    if root is None or not _on:
        return False
    if _jax_done:
        return True
    _jax_done = True
    import jax

    try:
        path = os.path.join(root, "jax")
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except Exception:  # a read-only home, an older jax without an option: compile as without a cache
        return False
    return True


# ------------------------------------------------------------ exported programs
_fingerprint: str | None = None
#: when this module was imported (by the command line, before any case ran; its workers inherit it)
_STARTED = time.time()


_files: tuple[str, list[str]] | None = None


def _sources() -> tuple[str, list[str]]:
    """(the directory holding the ``unilosses`` package, its ``.py`` files relative to it, sorted),
    listed once per process."""
    global _files
    if _files is None:
        import unilosses

        top = os.path.dirname(os.path.dirname(os.path.abspath(unilosses.__file__)))
        out = []
        for d, _, files in os.walk(os.path.join(top, "unilosses")):
            out += [os.path.relpath(os.path.join(d, f), top) for f in files if f.endswith(".py")]
        _files = (top, sorted(out))
    return _files


def source_fingerprint() -> str:
    """SHA-256 of every ``.py`` file of the installed ``unilosses`` package (paths and contents),
    computed once per process: the part of a program's key that says which code traced it."""
    global _fingerprint
    if _fingerprint is None:
        h = hashlib.sha256()
        top, files = _sources()
        for rel in files:
            h.update(rel.encode() + b"\0")
            with open(os.path.join(top, rel), "rb") as fh:
                h.update(fh.read() + b"\0")
        _fingerprint = h.hexdigest()
    return _fingerprint


def _sources_unchanged() -> bool:
    """Whether no source file of unilosses changed since the command started: else the code this
    process runs (imported before) may not be the code the fingerprint hashes, and nothing is
    stored or loaded."""
    try:
        top, files = _sources()
        return all(os.stat(os.path.join(top, rel)).st_mtime < _STARTED for rel in files)
    except OSError:
        return False


#: how many source fingerprints' programs are kept (a few checkouts or versions used in turn)
KEEP = 4
_program_path: str | None = None


def _program_dir() -> str | None:
    """``<cache_dir>/programs/<first 16 hex digits of the fingerprint>``, marked as used (its time
    set to now) once per process; of the other fingerprints' directories (older code, another
    checkout), all but the :data:`KEEP` - 1 used last are removed."""
    global _program_path
    root = cache_dir()
    if root is None or not _on:
        return None
    base = os.path.join(root, "programs")
    path = os.path.join(base, source_fingerprint()[:16])
    if not _sources_unchanged():
        return None
    if _program_path != path:
        try:
            os.makedirs(path, exist_ok=True)
            os.utime(path)
            others = [os.path.join(base, d) for d in os.listdir(base) if d != os.path.basename(path)]
        except OSError:  # a read-only home: trace as without a cache
            return None
        others.sort(key=lambda d: os.stat(d).st_mtime if os.path.exists(d) else 0.0, reverse=True)
        for old in others[KEEP - 1 :]:
            shutil.rmtree(old, ignore_errors=True)
        _program_path = path
    return path


_versions: dict[str, str | None] = {}


def _version(pkg: str) -> str | None:
    """The installed version of the distribution ``pkg`` (None if absent), looked up once per process."""
    if pkg not in _versions:
        import importlib.metadata

        try:
            _versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            _versions[pkg] = None
    return _versions[pkg]


#: the address in an object's default ``repr`` (``<function cosine_distance at 0x7f...>``), which
#: differs from one process to the next: a key holds the rest (the function's qualified name; its
#: code is in the source fingerprint)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def _key(packages: tuple[str, ...], settings: Any, parts: Any) -> str:
    versions = [_version(pkg) for pkg in ("numpy", *packages)]
    text = _ADDRESS.sub(">", repr((source_fingerprint(), versions, sys.version, settings, parts)))
    return hashlib.sha256(text.encode()).hexdigest()


def _values_hash(arrays: tuple[Any, ...]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(repr((a.shape, str(a.dtype))).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def program_key(*parts: Any) -> str:
    """The key of a JAX program: the hash of the source fingerprint, the versions and JAX settings
    that change what tracing gives, and ``parts`` (the case and what its program computes, as their
    ``repr``)."""
    import jax

    settings = tuple(getattr(jax.config, k, None) for k in ("jax_enable_x64", "jax_numpy_dtype_promotion", "jax_default_matmul_precision"))
    return "jax-" + _key(("jax", "jaxlib"), settings, parts)


def graph_key(arrays: tuple[Any, ...], *parts: Any) -> str:
    """The key of a Dask graph: as :func:`program_key`, with the Dask versions, and the inputs'
    values (a graph holds its input data)."""
    return "dask-" + _key(("dask", "array-api-compat", "cloudpickle"), _values_hash(arrays), parts)


#: the distributions whose release can change a reference's numbers (the references' frameworks and
#: packages, and what they compute with)
REFERENCE_DISTRIBUTIONS = (
    "torch", "pytorch-metric-learning", "monai", "jax", "jaxlib", "optax", "tensorflow", "tensorflow-cpu", "keras",
    "tf-keras", "ml-dtypes", "scipy",
)
#: the environment variables that change what a reference computes
REFERENCE_SETTINGS = (
    "KERAS_BACKEND", "XLA_FLAGS", "JAX_ENABLE_X64", "JAX_DEFAULT_MATMUL_PRECISION", "TF_ENABLE_ONEDNN_OPTS",
    "NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
)


def result_key(arrays: tuple[Any, ...], *parts: Any) -> str:
    """The key of a references part's results: as :func:`graph_key`, with the versions of every
    reference distribution and the settings that change their numbers instead of Dask's; computed
    without importing any framework."""
    settings = (_values_hash(arrays), tuple(os.environ.get(v) for v in REFERENCE_SETTINGS))
    return "refs-" + _key(REFERENCE_DISTRIBUTIONS, settings, parts)


def load_result(key: Callable[[], str]) -> Any | None:
    """The results stored under ``key()`` (:func:`store_result`), or None: none stored, unreadable,
    or the cache off."""
    path = _program_dir()
    if path is None:
        return None
    import pickle

    try:
        with open(os.path.join(path, key()), "rb") as fh:
            return pickle.load(fh)
    except Exception:
        return None


def store_result(key: Callable[[], str], value: Any, dumps: Callable[[Any], bytes] | None = None) -> None:
    """Keep ``value`` (plain data: dicts, lists, strings, NumPy arrays; anything ``dumps`` pickles)
    under ``key()``, unless the cache is off, a source file changed since the command started (an
    edit while this computed), or ``value`` cannot be pickled (kept for this run only)."""
    path = _program_dir()
    if path is None or not _sources_unchanged():
        return
    import pickle

    try:
        data = (dumps or pickle.dumps)(value)
    except Exception:
        return
    _store(os.path.join(path, key()), data)


def cached_program(key: Callable[[], str] | None, program: Any, args: tuple[Any, ...]) -> Callable[..., Any]:
    """``program`` (a ``jax.jit`` function) for ``args``, through the exported-program cache:
    the stored program under ``key()`` when there is one, else ``program`` exported, stored and
    called. Without a key (a case outside the package), with the cache off, or when the program
    cannot be exported or stored (an unstable custom call, a read-only home), ``program`` itself."""
    path = _program_dir() if key is not None else None
    if path is None or key is None:
        return program  # type: ignore[no-any-return]
    from jax import export

    file = os.path.join(path, key())
    try:
        with open(file, "rb") as fh:
            return export.deserialize(bytearray(fh.read())).call
    except Exception:  # not stored yet (or unreadable): export it below
        pass
    try:
        exported = export.export(program)(*args)
        if not _sources_unchanged():  # an edit while this traced: store nothing
            return exported.call
        data = exported.serialize()  # needs the flatbuffers package (unilosses[jax] installs it)
    except Exception:
        return program  # type: ignore[no-any-return]
    _store(file, data)
    return exported.call


def _store(file: str, data: bytes | bytearray) -> None:
    """Write ``data`` to ``file`` whole or not at all, whatever another process does meanwhile (a
    temporary file renamed into place; removed if the write fails, a full disk or a read-only home)."""
    tmp = f"{file}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, file)
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def cached_graph(key: Callable[[], str] | None, build: Callable[[], Any]) -> Any:
    """``build()`` (Dask collections: a case's reductions, not computed), through the graph cache:
    the stored collections under ``key()`` when there are some, else those ``build()`` gives,
    stored (``cloudpickle``, which Dask needs anyway). Without a key, with the cache off, or when
    they cannot be stored, ``build()`` itself."""
    if key is None:
        return build()
    stored = load_result(key)
    if stored is not None:
        return stored
    out = build()
    import cloudpickle

    store_result(key, out, dumps=cloudpickle.dumps)
    return out
