"""The generic backend: every primitive in pure Array API.

Used as-is for array_api_strict, Dask, CuPy and any other library that
array-api-compat knows; the framework backends subclass it and replace a
primitive with a fused kernel where the framework has one. A subclass may make
a primitive faster, never change what it computes.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np

from unilosses.backends.ctc import ctc_forward
from unilosses.rules import is_zero


def traced_constant(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``fn`` so that ``torch.compile``'s Dynamo calls it while tracing, as Python, and puts
    its result in the graph as a constant (what ``torch._dynamo.assume_constant_result`` marks;
    set here so that no framework is imported).

    For the call machinery's cache reads: a read that Dynamo traces guards on what it finds, and
    a miss during the first trace becomes a guard that fails once the cache is filled (a second
    compilation at the next call). A marked read fills the cache while tracing and leaves no
    guard on it. ``fn`` returns a constant (None, a bool, an int or a str), never raises
    (Dynamo would wrap the error), and depends only on its arguments: constants by value,
    other objects by identity (Dynamo guards on those). Elsewhere it is a plain call.
    """
    fn._dynamo_marked_constant = True  # type: ignore[attr-defined]
    return fn


class Slots:
    """A cache read through attribute names: :meth:`slot` (a :func:`traced_constant`) finds or
    builds the value of a hashable key and returns the name of the attribute of this object
    that holds it, or ``""`` where ``build`` raises (the caller then takes its uncached path,
    which raises the error): ``getattr(slots, slots.slot(*key))``.

    Under ``torch.compile`` the name is a constant and the attribute read a hit: Dynamo guards
    on that attribute only, so a later key neither misses nor invalidates a compiled graph.
    An attribute per value, not a dict: Dynamo takes a dict's contents when it first reads it,
    and would not see a value built later in the same trace. Names are never reused; ``limit``
    bounds the entries (all are dropped beyond it)."""

    def __init__(self, build: Callable[..., Any], limit: int = 256) -> None:
        self.build = build
        self.limit = limit
        self._names: dict[Any, str] = {}
        self._counter = itertools.count()  # next() is atomic: racing threads never share a name

    def __getstate__(self) -> dict[str, Any]:  # a copy (copy.deepcopy, pickle) starts empty
        return {"build": self.build, "limit": self.limit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["build"], state["limit"])  # type: ignore[misc]

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Any:
        return iter(list(self._names))

    def clear(self) -> None:
        for name in self._names.values():
            self.__dict__.pop(name, None)
        self._names.clear()

    @traced_constant
    def slot(self, *key: Any) -> str:
        try:
            name = self._names.get(key)
            if name is None:
                value = self.build(*key)
                if len(self._names) >= self.limit:
                    self.clear()
                # no lock: racing threads may each build a value; one name per key is kept
                fresh = f"_v{next(self._counter)}"
                self.__dict__[fresh] = value
                name = self._names.setdefault(key, fresh)
            return name
        except Exception:  # noqa: BLE001 - the caller's uncached path raises it
            return ""


def sparse_smoothed(
    be: Any,
    log_probs: Any,
    nll_y: Any,
    label_smoothing: float,
    axis: int,
    class_weight: Any = None,
    weight_y: Any = None,
    num_classes: Any = None,
) -> Any:
    """``-sum_c w_c q_c log p_c`` with ``q = (1 - e) onehot(y) + e / K``, no one-hot.

    ``nll_y`` is ``-log p_y``; ``weight_y`` is ``w_y`` (None without class weights).
    Equals ``(1 - e) w_y nll_y - (e / K) sum_c w_c log p_c``: the uniform term is
    weighted by ``w_c`` too (torch's ``cross_entropy(weight, label_smoothing)``).
    ``num_classes``: K when not the size of the class axis (classes left out by a mask,
    whose ``log_probs`` are then 0), per sample.
    """
    xp = be.xp
    value = nll_y if weight_y is None else weight_y * nll_y
    if is_zero(label_smoothing):
        return value
    k = log_probs.shape[axis] if num_classes is None else num_classes
    if class_weight is None:
        total = xp.sum(log_probs, axis=axis)
    else:
        total = be.classdot(log_probs, class_weight, axis)
    return (1.0 - label_smoothing) * value - label_smoothing * (total / k)


class Backend:
    """What a spec function receives as ``be``: a namespace ``xp`` plus a few primitives.

    The contract for spec authors (built-in losses and yours alike). A spec that
    uses only what is listed here, with no Python ``if`` / ``float()`` /
    ``bool()`` / ``.item()`` on array values and no in-place writes, runs on every
    backend (NumPy, array_api_strict, JAX, PyTorch, TensorFlow, Dask, CuPy...),
    on any device, under ``jax.jit`` / ``jax.grad`` / ``jax.vmap``,
    ``torch.compile(fullgraph=True)`` and ``tf.function``, and gives the same
    numbers everywhere: each primitive below is defined here in pure Array API
    (the generic fallback, used as-is for array_api_strict, Dask and CuPy), and a
    framework backend may replace it by a fused kernel that computes the same
    thing, never something else. ``python -m unilosses check`` and
    :func:`unilosses.testing.check_loss` hold every backend to that.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"jax"``, ``"torch"``, ``"tensorflow"``, ``"dask"``,
        ``"array_api_strict"``... (the framework of y_pred).
    xp : module
        The Array API namespace (2023.12 standard) of y_pred's framework; a
        spec's arithmetic, reductions, ``where``, ``clip``... go through it.
    index_dtype : dtype
        The dtype of integer labels after :func:`unilosses.authoring.sparse_labels`
        (int64; int32 on JAX without x64).

    Primitives (each documented on its method)
    -------------------------------------------
    :meth:`log_softmax`, :meth:`logsumexp`, :meth:`softplus`: stable
    transcendental kernels; :meth:`gather` (one entry per position along an
    axis), :meth:`lookup` (a 1-D table at integer indices), :meth:`classdot`
    (contract an axis with a weight vector); :meth:`mean_all`,
    :meth:`count_nonzero`; :meth:`sparse_cross_entropy` and
    :meth:`sparse_softmax_cross_entropy` (smoothed, class-weighted sparse
    cross-entropy, torch's ``cross_entropy`` / ``tf.nn``'s kernel where they
    exist); :meth:`stop_gradient` (a constant for autodiff), :meth:`scan` (a
    loop over the leading axis: ``lax.scan`` on JAX) and :meth:`ctc_nll` (CTC's
    negative log-likelihood: torch's and TensorFlow's kernels);
    :meth:`linear_cross_entropy` (the LM head, chunk by chunk: a custom gradient
    on torch, JAX and TensorFlow, each in ``backends/linear_<name>.py``). Host-side
    helpers: :meth:`compute_dtype`, :meth:`device`,
    :meth:`concrete` with :meth:`labels_in_range` (a check that reads values,
    only where that costs no device synchronisation and no tracing).
    ``from_host``, ``compile`` and ``any_true`` serve the machinery around specs;
    :meth:`reshape_like` (a reshape to an array's shape, sizes known only when it
    runs included) and :meth:`nonzero_indices` (a mask's true rows where their count
    costs no tracing) the LM head's.
    """

    #: True when values can be checked on the host without a device sync.
    eager_checks = False
    #: True where a framework runs one loss call per replica and sums the gradients
    #: (``tf.distribute``): see :meth:`replicas`
    replicated = False

    def __init__(self, name: str, xp: Any) -> None:
        self.name = name
        self.xp = xp
        self._compute_dtype: dict[Any, Any] = {}
        self._floating: dict[Any, bool] = {}
        self.has_take_along_axis = hasattr(xp, "take_along_axis")
        self.index_dtype = xp.int64

    def __repr__(self) -> str:
        return f"<unilosses backend {self.name}>"

    # ----------------------------------------------------------------- dtypes
    def compute_dtype(self, dtype: Any, name: str = "y_pred") -> Any:
        """The dtype a loss computes in: 16-bit floats go to float32; ints fail."""
        out = self._compute_dtype.get(dtype)
        if out is None:
            if not self.xp.isdtype(dtype, "real floating"):
                raise TypeError(
                    f"{name}: expected a real floating-point array, got dtype {dtype}"
                )
            out = self.xp.float32 if self.xp.finfo(dtype).bits < 32 else dtype
            self._compute_dtype[dtype] = out
        return out

    def replicas(self) -> int:
        """The number of replicas a call runs on at once, each on its part of the batch, whose
        gradients the framework sums (1 outside ``tf.distribute``)."""
        return 1

    def is_integer(self, dtype: Any) -> bool:
        return self.xp.isdtype(dtype, "integral")

    def is_floating(self, dtype: Any) -> bool:
        """Whether ``dtype`` is a real floating dtype, one :meth:`compute_dtype` takes (NumPy's
        ml_dtypes bfloat16 too); cached per dtype: the call path asks."""
        out = self._floating.get(dtype)
        if out is None:
            try:
                self.compute_dtype(dtype)
                out = True
            except TypeError:
                out = False
            out = self._floating.setdefault(dtype, out)
        return out

    # ------------------------------------------------------------ conversion
    def device(self, x: Any) -> Any:
        """The device of ``x`` as the namespace takes it (``xp.asarray(..., device=be.device(x))``;
        None where the framework places arrays itself: JAX, TensorFlow)."""
        import array_api_compat

        return array_api_compat.device(x)

    def from_host(self, x: Any, like: Any, dtype: Any = None) -> Any:
        """A Python / NumPy value as an array of this backend on ``like``'s device."""
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            dtype = like.dtype
        return self.xp.asarray(arr, dtype=dtype, device=self.device(like))

    def concrete(self, *arrays: Any) -> bool:
        """True when the arrays' values can be read on the host without a device
        synchronisation (NumPy, array_api_strict, eager CPU torch and TensorFlow; never
        tracers, symbolic tensors, lazy Dask arrays or GPU arrays). A spec may then run
        a host check such as :meth:`labels_in_range` and raise a ValueError; elsewhere
        it must mark bad values in the result (NaN) instead."""
        return self.eager_checks

    def compile(self, fn: Callable[..., Any], key: Any) -> Callable[..., Any]:
        """A compiled version of ``fn`` (a function of one pytree of arrays) for concrete
        inputs (JAX jits it)."""
        return fn

    # ------------------------------------------------------------- primitives
    def logsumexp(self, x: Any, axis: int, keepdims: bool = False) -> Any:
        """``log(sum(exp(x), axis))`` without overflow: the maximum is subtracted first
        (a non-finite maximum, e.g. a row of ``-inf``, is replaced by 0, so such a row
        gives ``-inf``, not NaN). ``jax.nn.logsumexp``, ``torch.logsumexp``,
        ``tf.reduce_logsumexp``."""
        xp = self.xp
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
        return out if keepdims else xp.squeeze(out, axis=axis)

    def log_softmax(self, x: Any, axis: int) -> Any:
        """``x - logsumexp(x, axis, keepdims=True)``, shape of ``x``: log-probabilities
        from logits, stable for any magnitude. ``torch.log_softmax``,
        ``jax.nn.log_softmax``, ``tf.nn.log_softmax``."""
        xp = self.xp
        m = xp.max(x, axis=axis, keepdims=True)
        shifted = x - xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))

    def softplus(self, x: Any) -> Any:
        """``log(1 + exp(x))``, stable for large ``|x|``: ``max(x, 0) + log1p(exp(-|x|))``
        (so ``-softplus(-z)`` is ``log(sigmoid(z))`` accurate in both tails).
        ``F.softplus``, ``jax.nn.softplus``, ``tf.nn.softplus``."""
        xp = self.xp
        return xp.clip(x, min=0.0) + xp.log1p(xp.exp(-xp.abs(x)))

    def gather(self, x: Any, index: Any, axis: int) -> Any:
        """``x`` indexed by integer ``index`` along ``axis`` (removed).

        ``index`` has ``x``'s shape without ``axis`` and holds valid indices.
        Without ``take_along_axis`` (Dask) this is a masked sum, computed chunk
        by chunk, never an index array of x's size on the host.
        """
        xp = self.xp
        idx = xp.expand_dims(index, axis=axis)
        if self.has_take_along_axis:
            return xp.squeeze(xp.take_along_axis(x, idx, axis=axis), axis=axis)
        n = x.shape[axis]
        shape = [1] * x.ndim
        shape[axis] = n
        classes = xp.reshape(xp.arange(n, dtype=index.dtype, device=self.device(x)), tuple(shape))
        return xp.sum(xp.where(xp.equal(classes, idx), x, xp.zeros_like(x)), axis=axis)

    def lookup(self, table: Any, index: Any) -> Any:
        """``table[index]`` for a 1-D ``table`` (class weights...) and an integer array
        ``index`` of any shape, holding valid indices: the result has ``index``'s shape
        and ``table``'s dtype (``class_weight[labels]``)."""
        xp = self.xp
        flat = xp.take(table, xp.reshape(index, (-1,)), axis=0)
        return xp.reshape(flat, index.shape)

    def classdot(self, x: Any, w: Any, axis: int) -> Any:
        """``sum_c x[..., c, ...] * w[c]`` along ``axis`` (removed), ``w`` 1-D of length
        ``x.shape[axis]``: a class-weighted sum without broadcasting ``w`` to ``x``'s
        shape (a matmul / tensordot where the framework has one)."""
        xp = self.xp
        if axis == x.ndim - 1:
            return xp.matmul(x, w)
        shape = [1] * x.ndim
        shape[axis] = w.shape[0]
        return xp.sum(x * xp.reshape(w, tuple(shape)), axis=axis)

    def cumulative_sum(self, x: Any, axis: int) -> Any:
        """Running sums along ``axis`` (the sparsemax threshold's)."""
        return self.xp.cumulative_sum(x, axis=axis)

    def mean_all(self, x: Any) -> Any:
        """The mean of every element of a non-empty ``x``, as a 0-d array of ``x``'s dtype
        (``xp.mean(x)``; torch: a dot with a cached ``1/n`` vector for small ``x``)."""
        return self.xp.mean(x)

    def count_nonzero(self, x: Any, dtype: Any) -> Any:
        """The number of non-zero elements of ``x``, as a 0-d array of ``dtype``."""
        xp = self.xp
        return xp.sum(xp.astype(xp.not_equal(x, 0), dtype))

    def host_range(self, x: Any) -> tuple[float, float] | None:
        """Host ``(min, max)`` of ``x``, None when it is empty; only called when
        :attr:`eager_checks` holds."""
        if 0 in tuple(x.shape):
            return None
        xp = self.xp
        return float(xp.min(x)), float(xp.max(x))

    def host_float(self, x: Any) -> float:
        """Host value of a 0-d array; only called when :attr:`eager_checks` holds."""
        return float(x)

    def any_true(self, x: Any) -> bool:
        """Host value of any(x); only called when :attr:`eager_checks` holds."""
        return bool(self.xp.any(x))

    def reshape_like(self, x: Any, like: Any) -> Any:
        """``x`` reshaped to ``like``'s shape, sizes known only when it runs included (TensorFlow's graphs
        traced for any batch and length); elsewhere every size is known."""
        return self.xp.reshape(x, tuple(like.shape))

    def nonzero_indices(self, mask: Any) -> Any:
        """The indices of the true entries of the 1-d boolean ``mask``, or None where an array whose
        size depends on values is impossible or costly: tracers (JAX, ``torch.compile``, ``torch.func``,
        ``tf.function``), the meta device, lazy Dask arrays and other namespaces (this default).
        NumPy, eager torch (a device synchronisation on a GPU: the count) and eager TensorFlow find them."""
        return None

    def labels_in_range(self, labels: Any, num_classes: int, ignore_index: Any = None) -> bool:
        """Host check: every label lies in [0, num_classes) or equals ``ignore_index``.

        Only called on concrete arrays (:meth:`concrete`).
        """
        xp = self.xp
        bad = xp.logical_or(labels < 0, labels >= num_classes)
        if ignore_index is not None:
            bad = xp.logical_and(bad, xp.not_equal(labels, ignore_index))
        return not self.any_true(bad)

    def stop_gradient(self, x: Any) -> Any:
        """``x``, seen as a constant by autodiff (the backends without autodiff: ``x`` itself). For
        terms whose gradient is 0 anyway, such as the shift ``m`` of ``m + log(sum(exp(x - m)))``."""
        return x

    # ------------------------------------------------------------ loops
    def scan(self, step: Callable[[Any, Any], Any], carry: Any, xs: tuple[Any, ...]) -> Any:
        """``carry = step(carry, (x[t] for x in xs))`` for t along the leading axis of ``xs``; the
        last ``carry``. A Python loop here; ``lax.scan`` on JAX, ``tf.foldl`` in a TF graph."""
        for t in range(xs[0].shape[0]):
            carry = step(carry, tuple(x[t, ...] for x in xs))
        return carry

    def ctc_nll(self, log_probs: Any, labels: Any, label_lengths: Any, logit_lengths: Any, blank: int) -> Any:
        """CTC's negative log-likelihood per sample (:func:`unilosses.backends.ctc.ctc_forward`).

        ``log_probs`` (T, N, C) are normalised log-probabilities; labels (N, S) hold
        valid non-blank classes within ``label_lengths``; lengths lie in range. Where
        no alignment exists the value is unspecified but finite, with a finite
        gradient: the caller replaces it (:func:`unilosses.backends.ctc.ctc_feasible`).
        """
        return ctc_forward(self, log_probs, labels, label_lengths, logit_lengths, blank)

    # ------------------------------------------------ sparse cross-entropy
    def sparse_cross_entropy(
        self, log_p: Any, labels: Any, axis: int, label_smoothing: float = 0.0, class_weight: Any = None
    ) -> Any:
        """``-sum_c w_c q_c log_p[..., c, ...]`` with ``q = (1 - e) onehot(labels) + e / K``.

        ``log_p`` holds log-probabilities along ``axis`` (K classes); ``labels``
        (``log_p``'s shape without ``axis``) holds valid class indices; ``w`` is
        ``class_weight`` (1 when None), ``e`` is ``label_smoothing``. One gather and
        one class-axis reduction (:func:`sparse_smoothed`), never a
        one-hot. torch's ``nll_loss(weight, reduction="none")`` when ``e = 0``.
        """
        nll = -self.gather(log_p, labels, axis)
        weight_y = None if class_weight is None else self.lookup(class_weight, labels)
        return sparse_smoothed(self, log_p, nll, label_smoothing, axis, class_weight, weight_y)

    def sparse_softmax_cross_entropy(
        self, logits: Any, labels: Any, axis: int, label_smoothing: float = 0.0, class_weight: Any = None
    ) -> Any:
        """:meth:`sparse_cross_entropy` of ``log_softmax(logits, axis)``.

        torch's ``cross_entropy(weight, label_smoothing, reduction="none")``,
        ``tf.nn.sparse_softmax_cross_entropy_with_logits`` and optax's
        ``softmax_cross_entropy_with_integer_labels`` (``e = 0``, no weights).
        """
        return self.sparse_cross_entropy(
            self.log_softmax(logits, axis), labels, axis, label_smoothing, class_weight
        )

    def token_log_probs(self, logits: Any, labels: Any, temperature: float, axis: int, entropy: bool) -> Any:
        """``(log_softmax(logits / temperature)[labels], H or None)`` along ``axis``: the
        selected tokens' log-probabilities and, when ``entropy``, the softmax's entropy
        ``-sum p log p`` (a class at ``-inf`` adds 0). ``labels`` are valid indices."""
        xp = self.xp
        z = logits if temperature == 1.0 else logits / temperature
        lse = self.logsumexp(z, axis)
        out = self.gather(z, labels, axis) - lse
        if not entropy:
            return out, None
        p = xp.exp(z - xp.expand_dims(lse, axis=axis))
        finite = xp.where(xp.isfinite(z), z, xp.zeros_like(z))  # 0 * -inf: a masked class adds 0
        return out, lse - xp.sum(p * finite, axis=axis)

    # ------------------------------------------------------------- LM head
    def linear_cross_entropy(
        self, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any, token_weight: Any, options: Any
    ) -> Any:
        """Per-token sparse cross-entropy of ``hidden @ weight.T + bias`` without the logits.

        ``hidden`` (N, D), ``weight`` (V, D), ``bias`` (V,) or None, ``labels`` (N,)
        valid class indices, ``class_weight`` (V,) or None, ``options`` a
        :class:`~unilosses.backends.linear_generic.LinearOptions`. ``token_weight``
        (N,) or None is a promise about the gradient: the cotangent of the values
        will be ``c * token_weight`` for a scalar ``c`` (a reduced loss), so the
        gradients may be computed in the forward pass; None promises nothing. Here:
        the values only (:func:`~unilosses.backends.linear_generic.linear_values`).
        """
        from unilosses.backends.linear_generic import linear_values

        return linear_values(self, hidden, weight, bias, labels, class_weight, options)
