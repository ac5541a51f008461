"""The public authoring API: the catalogue's own machinery, the backend contract, the README.

- ``ul.loss``, ``ul.PerSample`` and the building blocks are the very objects the
  built-in losses use (nothing parallel);
- every primitive of :class:`unilosses.Backend` computes what its docstring says,
  on every backend, against NumPy in float64; a spec using all of them passes the
  conformance kit (traced, on torch's meta device, 16-bit, gradients);
- ``unilosses.__all__`` and the README name the same things.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses import logits, shapes, smoothing
from unilosses.testing import assert_close, conformance_test, to_numpy

ROOT = Path(__file__).parents[1]
#: the documentation: the README and the pages of docs/
README = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))])


@selected("numpy")
def test_the_authoring_api_is_the_catalogues_machinery() -> None:
    assert ul.loss is importlib.import_module("unilosses.decorator").loss
    assert ul.PerSample is importlib.import_module("unilosses.reduction").PerSample
    base = importlib.import_module("unilosses.base")
    assert ul.Loss is base.Loss and ul.FunctionLoss is base.FunctionLoss and issubclass(ul.FunctionLoss, ul.Loss)
    assert ul.Backend is importlib.import_module("unilosses.backends.generic").Backend
    for name in ("float_targets", "sparse_targets", "mean_over", "class_axis", "count_classes", "sparse_labels"):
        assert getattr(ul.authoring, name) is getattr(shapes, name)
        assert name not in ul.__all__ and name not in dir(ul)  # building blocks live in unilosses.authoring
    assert ul.authoring.categorical_log_probs is logits.categorical_log_probs and ul.authoring.binary_log_probs is logits.binary_log_probs
    assert ul.authoring.smooth_categorical is smoothing.smooth_categorical and ul.authoring.sparse_smoothed is smoothing.sparse_smoothed
    assert ul.rules is importlib.import_module("unilosses.rules")
    assert ul.rules.shared("from_logits") is ul.rules.flag and ul.rules.shared("temperature") is None
    assert ul.rules.shared("z_loss") is not None and ul.rules.shared("softcap") is not None  # no import needed


@selected("numpy")
def test_rules() -> None:
    mode = ul.rules.one_of("sum", "max", None)
    assert mode("mode", "max") == "max" and mode("mode", None) is None
    with pytest.raises(ValueError, match=r"mode: expected one of 'sum', 'max', None, got 'min'"):
        mode("mode", "min")
    with pytest.raises(ValueError, match="already has a rule"):
        ul.rules.register("from_logits", ul.rules.axis)

    @ul.loss(rules={"mode": mode, "temperature": ul.rules.in_range(0.0, 10.0, lo_open=True)},
             check=lambda mode, temperature: None if mode != "max" or temperature >= 1 else
             (_ for _ in ()).throw(ValueError("temperature: expected >= 1 with mode='max'")))
    def scaled(be, y_true, y_pred, *, mode="sum", temperature=1.0):
        return ul.authoring.mean_over(be, (y_pred - ul.authoring.float_targets(be, y_true, y_pred)) / temperature, -1)

    y = np.ones((2, 3))
    assert scaled(y, y, temperature=2.0).shape == (2,)
    with pytest.raises(ValueError, match=r"temperature: expected a value in \(0.0, 10.0\]"):
        scaled(y, y, temperature=0.0)
    with pytest.raises(ValueError, match="mode: expected one of"):
        scaled(y, y, mode="min")
    with pytest.raises(ValueError, match="temperature: expected >= 1 with mode='max'"):
        scaled(y, y, mode="max", temperature=0.5)


def test_namespace_and_loss_class(backend) -> None:
    x = backend.asarray(np.array([1.0, -2.0], np.float32))
    xp = ul.namespace(x)
    assert xp is ul.backend_for(x).xp
    out = xp.abs(x)
    assert type(out).__module__.split(".")[0] == type(x).__module__.split(".")[0]
    cls = ul.authoring.loss_class(ul.mean_squared_error)
    assert cls.__name__ == "MeanSquaredError" and issubclass(cls, ul.Loss) and cls is not ul.MeanSquaredError
    assert ul.authoring.loss_class(ul.Dice) is ul.Dice
    with pytest.raises(TypeError, match="expected a unilosses.Loss subclass or a function made with"):
        ul.authoring.loss_class(len)


# ------------------------------------------------------- the backend contract
def _lse(x, axis, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis)


def test_every_primitive_on_every_backend(backend, rng) -> None:
    """Each primitive of the contract against its definition in NumPy (float64), on every backend."""
    x = rng.normal(size=(4, 5, 3)).astype(np.float32) * 3
    x[0, 0, 0] = 60.0  # overflow territory for a naive exp
    idx = rng.integers(0, 5, (4, 3))
    w = rng.uniform(0.5, 2.0, 5).astype(np.float32)
    xb = backend.asarray(x)
    be = ul.backend_for(xb)
    x64 = x.astype(np.float64)
    tol = {"rtol": 1e-5, "atol": 1e-5, "like": xb}
    assert_close(be.log_softmax(xb, 1), (x64 - _lse(x64, 1, True)).astype(np.float32), **tol)
    assert_close(be.logsumexp(xb, 1), _lse(x64, 1).astype(np.float32), **tol)
    assert_close(be.logsumexp(xb, -1, keepdims=True), _lse(x64, -1, True).astype(np.float32), **tol)
    z = np.linspace(-50, 50, 11).astype(np.float32)
    assert_close(be.softplus(backend.asarray(z)), np.logaddexp(0, z.astype(np.float64)).astype(np.float32), **tol)
    ib = backend.asarray(idx)
    assert_close(be.gather(xb, ib, 1), np.take_along_axis(x, idx[:, None, :], 1)[:, 0, :], **tol)
    assert_close(be.lookup(backend.asarray(w), ib), w[idx], **tol)
    assert_close(be.classdot(xb, backend.asarray(w), 1), np.einsum("ncd,c->nd", x64, w).astype(np.float32), **tol)
    assert_close(be.mean_all(xb), np.float32(x64.mean()), **tol)
    assert_close(be.count_nonzero(ib, xb.dtype), np.float32(np.count_nonzero(idx)), **tol)
    log_p = x64 - _lse(x64, 1, True)
    onehot = np.moveaxis(np.eye(5)[idx], -1, 1)
    e = 0.1
    q = (1 - e) * onehot + e / 5
    expected = -np.sum(w[None, :, None] * q * log_p, axis=1).astype(np.float32)
    assert_close(be.sparse_cross_entropy(be.log_softmax(xb, 1), ib, 1, e, backend.asarray(w)), expected, **tol)
    assert_close(be.sparse_softmax_cross_entropy(xb, ib, 1, e, backend.asarray(w)), expected, **tol)
    labels = ul.authoring.sparse_labels(be, backend.asarray(idx.astype(np.int32)), xb, 1)
    assert labels.dtype == be.index_dtype and to_numpy(labels).dtype.kind == "i"
    if backend.name != "array_api_strict":  # it has no float16
        assert be.compute_dtype(backend.asarray(x, "float16").dtype) == xb.dtype


@ul.loss(arrays=("class_weight",))
def every_primitive(be: ul.Backend, y_true, y_pred, *, class_weight=None, label_smoothing=0.1, axis=1):
    """A spec using every primitive of the contract: sparse labels, logits (N, K, D)."""
    t = ul.authoring.sparse_targets(be, y_true, y_pred, axis, class_weight=class_weight)
    xp = be.xp
    log_p = be.log_softmax(y_pred, t.axis)
    ce = be.sparse_cross_entropy(log_p, t.safe, t.axis, label_smoothing, class_weight)
    fused = be.sparse_softmax_cross_entropy(y_pred, t.safe, t.axis, label_smoothing, class_weight)
    margin = be.logsumexp(y_pred, t.axis) - be.gather(y_pred, t.safe, t.axis)
    dot = be.classdot(xp.exp(log_p), class_weight, t.axis) if class_weight is not None else 0.0
    soft = be.softplus(margin - 1.0)
    values = 0.5 * (ce + fused) + soft + 0.1 * dot + 0.01 * be.mean_all(y_pred * y_pred)
    return t.per_sample(be, values)


def _every_primitive_case():
    rng = np.random.default_rng(5)
    return {"inputs": (rng.integers(0, 4, (3, 2)), rng.normal(size=(3, 4, 2)).astype(np.float32)),
            "options": {"class_weight": np.array([0.5, 1.0, 2.0, 1.5], np.float32)}}


#: a spec using only the contract passes the kit on every backend: values, gradients, jit / compile /
#: tf.function, torch's meta device, 16-bit, dtype, no input mutation
test_a_spec_using_the_contract_runs_everywhere = conformance_test(every_primitive, [_every_primitive_case()])


# ------------------------------------------------------------------ README
@selected("numpy")
def test_public_names_and_the_readme_agree() -> None:
    """Every name unilosses exports is in the documentation (README and docs/), and every ``ul.X`` it uses exists."""
    missing = [n for n in ul.__all__ if not any(f"{pre}{n}" in README for pre in ("`", "ul.", "unilosses."))]
    assert not missing, f"the documentation does not mention {missing}"
    used = set(re.findall(r"\bul\.([A-Za-z_]\w*)", README)) | set(re.findall(r"(?<![\w.])unilosses\.([A-Za-z_]\w*)", README))  # not torch.ops.unilosses.X
    modules = {m.name for m in pkgutil.iter_modules(ul.__path__)}  # the package's own modules
    unknown = sorted(n for n in used if not hasattr(ul, n) and n not in modules)
    assert not unknown, f"the documentation uses names unilosses does not have: {unknown}"
    for n in used & modules:
        importlib.import_module(f"unilosses.{n}") if n not in ("keras", "torch") else None
