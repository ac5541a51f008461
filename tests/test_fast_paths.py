"""Whole-loss kernels registered beside a spec (``spec.specialise(backend)``: torch computing the
sparse cross-entropy, reduction included, in its own kernel) give exactly the numbers, gradients
and errors of the spec."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import selected

import unilosses as ul

torch = pytest.importorskip("torch")
pytestmark = selected("torch")

B, K = 7, 5
OPTIONS = [
    {"from_logits": True},
    {"from_logits": True, "label_smoothing": 0.1},
    {"from_logits": True, "ignore_index": -100},
    {"from_log_probs": True},
]
REDUCTIONS = ["none", "sum", "sum_over_batch_size", "mean_with_sample_weight"]


def _inputs(rng, nchw=False):
    if nchw:
        y = rng.integers(0, K, (B, 2, 3))
        z = rng.standard_normal((B, K, 2, 3))
    else:
        y = rng.integers(0, K, B)
        z = rng.standard_normal((B, K))
    y[1] = -100
    y[2] = 1
    return y, z


def _taken(monkeypatch):
    """Counts the calls that the fused path answered (on the first call as on later ones)."""
    spec = ul.sparse_categorical_crossentropy.spec
    calls = []
    real = spec.specialisations["torch"]

    def spy(be, options, reduction):
        fast = real(be, options, reduction)
        if fast is None:
            return None

        def counted(inputs, arrays):
            out = fast(inputs, arrays)
            calls.append(out is not NotImplemented)
            return out

        return counted

    monkeypatch.setitem(spec.specialisations, "torch", spy)
    spec._fast.clear()
    return calls


@pytest.mark.parametrize(("options", "reduction", "nchw"), list(itertools.product(OPTIONS, REDUCTIONS, [False, True])))
def test_fast_path_equals_the_general_path(monkeypatch, options, reduction, nchw):
    calls = _taken(monkeypatch)
    y, z = _inputs(np.random.default_rng(0), nchw)
    if "ignore_index" not in options:
        y = np.where(y < 0, 0, y)
    kw = dict(options, axis=1 if nchw else -1, reduction=reduction)
    zt = torch.tensor(z, requires_grad=True)
    out = ul.sparse_categorical_crossentropy(torch.tensor(y), zt, **kw)
    expected = ul.sparse_categorical_crossentropy(y, z, **kw)  # NumPy: the general path
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    out.sum().backward()
    general = torch.tensor(z, requires_grad=True)
    ul.sparse_categorical_crossentropy(torch.tensor(y), general, **kw, sample_weight=1.0).sum().backward()
    np.testing.assert_allclose(zt.grad.numpy(), general.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert any(calls) == (reduction in ("none", "sum") or "ignore_index" not in options), calls


def test_fast_path_refuses_bad_labels_with_unilosses_errors(monkeypatch):
    calls = _taken(monkeypatch)
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"y_true: labels must lie in \[0, 2\]"):
        ul.sparse_categorical_crossentropy(torch.tensor([0, 1, 3, 2]), z, from_logits=True, reduction="sum")
    with pytest.raises(ValueError, match=r"y_true: labels must lie in \[0, 2\]"):  # torch would ignore -100
        ul.sparse_categorical_crossentropy(torch.tensor([0, 1, -100, 2]), z, from_logits=True, reduction="sum")
    assert calls and not any(calls)


def test_fast_path_with_class_weights_sums_only(monkeypatch):
    calls = _taken(monkeypatch)
    y, z = _inputs(np.random.default_rng(1))
    y = np.where(y < 0, 0, y)
    w = np.random.default_rng(2).uniform(0.5, 2.0, K)
    for reduction in REDUCTIONS:
        out = ul.sparse_categorical_crossentropy(
            torch.tensor(y), torch.tensor(z), from_logits=True, class_weight=torch.tensor(w), reduction=reduction
        )
        expected = ul.sparse_categorical_crossentropy(y, z, from_logits=True, class_weight=w, reduction=reduction)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert calls == [True, True, False, False]
