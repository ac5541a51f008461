"""Where ``check`` keeps what it may reuse across runs: JAX's compiled programs, nothing else.

JAX's persistent compilation cache stores each XLA executable under a key made of
the program itself (its HLO, so unilosses' code as traced), the compile options,
XLA's flags and the jax / jaxlib versions: a program changed in any way compiles
afresh, and a cached one computes what a fresh compile would. No result is cached:
every value and gradient the report compares is computed in the run.

The directory is ``$UNILOSSES_CACHE_DIR``, else ``$XDG_CACHE_HOME/unilosses``, else
``~/.cache/unilosses``; ``UNILOSSES_NO_CACHE=1`` (``check --no-cache``) turns it off. Only the
command line uses it: :func:`unilosses.check.run_checks` called from Python (the kit, the tests)
leaves JAX's settings alone.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

__all__ = ["NO_CACHE_ENV", "cache_dir", "enabled", "use_jax_cache"]

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
