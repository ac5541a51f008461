"""Dask: the generic backend over array-api-compat's Dask namespace, with four replacements.

- ``clip``: array-api-compat's broadcasts a scalar bound to the full shape of
  ``x`` as one array in a single chunk, then rechunks it to ``x``'s chunks:
  every output chunk then shares one task, and the scheduler materialised all
  of the input chunks before the reduction could start (1e9 predictions held
  8 GB in memory instead of a few chunks). Here a bound is applied with
  ``maximum`` / ``minimum``, which Dask maps chunk by chunk (scalars stay
  scalars; array bounds broadcast with matching chunks).
- ``max``: Dask's fails on an empty batch even when the reduced axes are not
  empty; the (empty) result comes from ``sum`` then.
- :meth:`DaskBackend.lookup` (``class_weight[labels]``): block by block, where
  the generic flatten-take-reshape makes Dask rechunk N-D labels (and fails on
  empty ones).
- :meth:`DaskBackend.ctc_nll`: CTC's recursion on NumPy, one task per chunk of
  the batch, where the generic loop over time adds a dozen tasks per frame and
  per chunk (a graph of tens of thousands of tasks for 200 frames).
"""

from __future__ import annotations

from typing import Any

from unilosses.backends.generic import Backend


class DaskNamespace:
    """array-api-compat's ``dask.array`` namespace with :meth:`clip` replaced."""

    def __init__(self, xp: Any) -> None:
        self._xp = xp
        import dask.array

        self._da = dask.array

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._xp, name)
        setattr(self, name, value)  # later lookups skip __getattr__
        return value

    def max(self, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        """Dask's ``max`` fails on an empty array even when the reduced axes are not empty
        (an empty batch); the result is then empty too, and ``sum`` gives it."""
        axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
        if 0 in x.shape and all(x.shape[a] for a in axes):
            out = self._xp.sum(x, axis=axis, keepdims=keepdims)
            return out if out.dtype == x.dtype else out.astype(x.dtype)
        return self._xp.max(x, axis=axis, keepdims=keepdims)

    def clip(self, x: Any, /, min: Any = None, max: Any = None) -> Any:  # noqa: A002 - Array API names
        out = x
        if min is not None:
            out = self._da.maximum(out, min)
        if max is not None:
            out = self._da.minimum(out, max)
        return out if out.dtype == x.dtype else out.astype(x.dtype)


def _take(index: Any, table: Any) -> Any:
    return table[index]


class DaskBackend(Backend):
    """``backend_for``: the dispatcher (:func:`unilosses.backends.backend_for`), handed in so
    that each block finds the backend of its own arrays (NumPy, CuPy) without an import upward."""

    def __init__(self, xp: Any, backend_for: Any) -> None:
        super().__init__("dask", DaskNamespace(xp))
        self.backend_for = backend_for

    def lookup(self, table: Any, index: Any) -> Any:
        """``table[index]`` block by block: each block of ``index`` reads the whole (small)
        table, with no reshape of ``index`` (Dask reshapes an N-D array chunked along
        several axes only after rechunking it, and not at all when it is empty)."""
        import dask.array as da

        ind = tuple(range(index.ndim))
        return da.blockwise(_take, ind, index, ind, table, (index.ndim,), concatenate=True, dtype=table.dtype)

    def ctc_nll(self, log_probs: Any, labels: Any, label_lengths: Any, logit_lengths: Any, blank: int) -> Any:
        """:meth:`Backend.ctc_nll` block by block along the batch: each task runs the recursion
        of :func:`unilosses.backends.ctc.ctc_forward` on NumPy over whole sequences."""
        import dask.array as da

        log_probs = log_probs.rechunk({0: -1, 2: -1})  # (T, N, C): the batch chunks stay
        batch = log_probs.chunks[1]
        labels = labels.rechunk((batch, -1))
        label_lengths, logit_lengths = label_lengths.rechunk((batch,)), logit_lengths.rechunk((batch,))
        return da.blockwise(
            _ctc_block, "n", log_probs, "tnc", labels, "ns", label_lengths, "n", logit_lengths, "n",
            blank=blank, backend_for=self.backend_for, dtype=log_probs.dtype, concatenate=True,
        )


def _ctc_block(
    log_probs: Any, labels: Any, label_lengths: Any, logit_lengths: Any, blank: int, backend_for: Any
) -> Any:
    return backend_for(log_probs).ctc_nll(log_probs, labels, label_lengths, logit_lengths, blank)
