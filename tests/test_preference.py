"""Preference losses (DPO, SimPO, CPO, ORPO, KTO) against the peers' own code, live.

The peers: Liger-Kernel's ``chunked_loss`` ``preference_loss_fn`` static methods and TRL's
``CPOTrainer.cpo_loss`` / ``ORPOTrainer.odds_ratio_loss`` (files vendored unchanged in
``peers/upstream/``, imported through ``peers/upstream/liger_kernel_stubs.py`` and
``trl_stubs.py``), called on torch CPU tensors made from the same NumPy inputs. Values and
gradients on every backend against them (where torch is installed), and against the NumPy
backend everywhere; beta from 1e-3 to 50; hand-checked examples; bad input; the compilers.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import ArrayBackend, assert_close, to_numpy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # peers/ is repository tooling, not part of the installed package
    sys.path.insert(0, str(ROOT))

HAS_TORCH = importlib.util.find_spec("torch") is not None
AUTODIFF = ("torch", "jax", "tensorflow")
TOL = {"rtol": 1e-5, "atol": 1e-6}
B = 5


def _pairs(seed: int) -> dict[str, np.ndarray]:
    """Summed log-probabilities of B pairs (policy and reference) and completion lengths."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 9, (2, B)).astype(np.float64)
    lp = -rng.uniform(0.2, 2.0, (4, B)) * np.concatenate([lengths, lengths])
    return {
        "c": lp[0], "r": lp[1], "c_ref": lp[2] + rng.normal(0, 0.5, B), "r_ref": lp[3] + rng.normal(0, 0.5, B),
        "lc": lengths[0], "lr": lengths[1],
    }


def _value_and_grads(name: str, fn: Callable[..., Any], args: list[np.ndarray], wrt: tuple[int, ...]) -> tuple[Any, list[Any]]:
    """``fn(*args)`` (a scalar) on backend ``name`` and, on an autodiff backend, its gradient with
    respect to the arguments ``wrt``; NumPy results."""
    be = ArrayBackend(name)
    xs = [be.asarray(a) for a in args]
    if name == "torch":
        for i in wrt:
            xs[i] = xs[i].clone().requires_grad_(True)
        out = fn(*xs)
        grads = __import__("torch").autograd.grad(out, [xs[i] for i in wrt])
        return to_numpy(out), [to_numpy(g) for g in grads]
    if name == "jax":
        import jax

        def f(*ws: Any) -> Any:
            ys = list(xs)
            for i, w in zip(wrt, ws):
                ys[i] = w
            return fn(*ys)

        out, grads = jax.value_and_grad(f, argnums=tuple(range(len(wrt))))(*(xs[i] for i in wrt))
        return to_numpy(out), [to_numpy(g) for g in grads]
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for i in wrt:
                tape.watch(xs[i])
            out = fn(*xs)
        return to_numpy(out), [to_numpy(g) for g in tape.gradient(out, [xs[i] for i in wrt])]
    out = fn(*xs)
    if name == "dask":
        import dask

        out = dask.compute(out)[0]
    return to_numpy(out), []


def _torch_value_and_grads(fn: Callable[..., Any], args: list[np.ndarray], wrt: tuple[int, ...]) -> tuple[Any, list[Any]]:
    return _value_and_grads("torch", fn, args, wrt)


def _check(backend: ArrayBackend, ours: Callable[..., Any], peer: Callable[..., Any] | None, args: list[np.ndarray],
           wrt: tuple[int, ...] = (0, 1)) -> None:
    """Ours on ``backend`` equals the peer (torch, float64) in value and gradients, or the NumPy
    backend's value without torch."""
    value, grads = _value_and_grads(backend.name, ours, args, wrt)
    if peer is not None and HAS_TORCH:
        ref, ref_grads = _torch_value_and_grads(peer, args, wrt)
    else:
        ref, ref_grads = _value_and_grads("numpy", ours, args, wrt), None
        ref = ref[0]
    assert_close(value, ref, **TOL)
    if backend.name in AUTODIFF and ref_grads is not None:
        for g, e in zip(grads, ref_grads):
            assert_close(g, e, **TOL)


def _liger(module: str) -> Any:
    pytest.importorskip("torch")
    from peers.upstream.liger_kernel_stubs import load

    return load(module)


def _trl(name: str) -> Any:
    pytest.importorskip("torch")
    from peers.upstream.trl_stubs import load

    return load(name)


def _target() -> Any:
    """Liger's ``full_target``: only its length is read (2B rows: chosen then rejected)."""
    import torch

    return torch.zeros(2 * B)


# ------------------------------------------------------------------ DPO
@pytest.mark.parametrize("beta", [1e-3, 0.1, 50.0])
@pytest.mark.parametrize("loss_type,e", [("sigmoid", 0.0), ("hinge", 0.0), ("robust", 0.2)])
def test_dpo_against_liger(backend: ArrayBackend, loss_type: str, e: float, beta: float) -> None:
    p = _pairs(1)
    args = [p["c"], p["r"], p["c_ref"], p["r_ref"]]

    def ours(c: Any, r: Any, cr: Any, rr: Any) -> Any:
        return ul.dpo(c, r, cr, rr, beta=beta, loss_type=loss_type, label_smoothing=e, reduction="mean")

    peer = None
    if HAS_TORCH:
        dpo = _liger("dpo_loss").LigerFusedLinearDPOFunction

        def peer(c: Any, r: Any, cr: Any, rr: Any) -> Any:
            return dpo.preference_loss_fn(c, r, _target(), cr, rr, beta=beta, loss_type=loss_type, label_smoothing=e)[0]

    _check(backend, ours, peer, args, wrt=(0, 1, 2))


@pytest.mark.parametrize("e", [0.1, 0.4])
def test_dpo_sigmoid_smoothing_is_cdpo(backend: ArrayBackend, e: float) -> None:
    """Sigmoid DPO with label smoothing is cDPO: Liger's (and TRL's) CPO sigmoid loss of the
    log-ratios, which applies the smoothing (Liger's DPO sigmoid ignores it, as TRL 1.x's does)."""
    p = _pairs(2)
    args = [p["c"], p["r"], p["c_ref"], p["r_ref"]]

    def ours(c: Any, r: Any, cr: Any, rr: Any) -> Any:
        return ul.dpo(c, r, cr, rr, beta=0.7, label_smoothing=e, reduction="mean")

    peer = None
    if HAS_TORCH:
        cpo = _liger("cpo_loss").LigerFusedLinearCPOFunction

        def peer(c: Any, r: Any, cr: Any, rr: Any) -> Any:
            return cpo.preference_loss_fn(c - cr, r - rr, _target(), beta=0.7, label_smoothing=e)[0]

    _check(backend, ours, peer, args, wrt=(0, 1, 3))


@pytest.mark.parametrize("beta", [1e-3, 0.3, 50.0])
def test_dpo_ipo_against_trl(backend: ArrayBackend, beta: float) -> None:
    """IPO on per-token means of the log-ratios: TRL's ``(mean_c - mean_r - 1 / (2 beta))^2`` (its
    CPO ``ipo`` on the per-token log-ratios; DPOTrainer divides by the completion lengths alike)."""
    p = _pairs(3)
    args = [p["c"], p["r"], p["c_ref"], p["r_ref"], p["lc"], p["lr"]]

    def ours(c: Any, r: Any, cr: Any, rr: Any, lc: Any, lr: Any) -> Any:
        return ul.dpo(c, r, cr, rr, lc, lr, beta=beta, loss_type="ipo", reduction="mean")

    peer = None
    if HAS_TORCH:
        cpo = _trl("cpo").CPOTrainer
        from peers.upstream.trl_stubs import trainer

        me = trainer(alpha=0.0, beta=beta, loss_type="ipo", label_smoothing=0.0, simpo_gamma=0.0)

        def peer(c: Any, r: Any, cr: Any, rr: Any, lc: Any, lr: Any) -> Any:
            return cpo.cpo_loss(me, (c - cr) / lc.clamp(min=1), (r - rr) / lr.clamp(min=1))[0].mean()

    _check(backend, ours, peer, args, wrt=(0, 1, 2))


def test_dpo_hand_checked() -> None:
    c, r = np.array([-5.0, -9.0]), np.array([-7.0, -6.0])
    cr, rr = np.array([-6.0, -8.0]), np.array([-7.0, -7.0])
    # z = 0.5 * ((c - cr) - (r - rr)) = [0.5, -1]: -log(sigmoid(z))
    assert_close(ul.dpo(c, r, cr, rr, beta=0.5), np.log1p(np.exp([-0.5, 1.0])))
    assert_close(ul.dpo(c, r, reference_free=True, beta=0.5), np.log1p(np.exp([-1.0, 1.5])))
    assert_close(ul.dpo(c, r, cr, rr, beta=0.5, loss_type="hinge"), np.array([0.5, 2.0]))
    # IPO: per-token log-ratios (1/2 - 0) and (-1/1 - 1/3), minus 1 / (2 * 0.5) = 1, squared
    got = ul.dpo(c, r, cr, rr, np.array([2, 1]), np.array([0, 3]), beta=0.5, loss_type="ipo")
    assert_close(got, np.array([(0.5 - 1) ** 2, (-1 - 1 / 3 - 1) ** 2]))
    # robust at e: (-(1 - e) logsig(z) + e logsig(-z)) / (1 - 2e)
    e, z = 0.25, np.array([0.5, -1.0])
    ls = -np.log1p(np.exp(-z))
    lsn = -np.log1p(np.exp(z))
    assert_close(ul.dpo(c, r, cr, rr, beta=0.5, loss_type="robust", label_smoothing=e), (-(1 - e) * ls + e * lsn) / (1 - 2 * e))


# ------------------------------------------------------------------ SimPO, CPO, ORPO, KTO
@pytest.mark.parametrize("beta,gamma", [(2.0, 0.5), (1e-3, 0.0), (50.0, 1.4)])
def test_simpo_against_liger_and_trl(backend: ArrayBackend, beta: float, gamma: float) -> None:
    p = _pairs(4)
    args = [p["c"], p["r"], p["lc"], p["lr"]]
    e = 0.1

    def ours(c: Any, r: Any, lc: Any, lr: Any) -> Any:
        return ul.simpo(c, r, lc, lr, beta=beta, gamma=gamma, label_smoothing=e, reduction="mean")

    peer = None
    if HAS_TORCH:
        simpo = _liger("simpo_loss").LigerFusedLinearSimPOFunction
        cpo = _trl("cpo").CPOTrainer
        from peers.upstream.trl_stubs import trainer

        me = trainer(alpha=0.0, beta=beta, loss_type="simpo", label_smoothing=e, simpo_gamma=gamma)

        def peer(c: Any, r: Any, lc: Any, lr: Any) -> Any:
            mc, mr = c / lc, r / lr
            liger = simpo.preference_loss_fn(mc, mr, _target(), beta=beta, gamma=gamma, label_smoothing=e)[0]
            trl = cpo.cpo_loss(me, mc, mr)[0].mean()
            assert_close(liger.detach().numpy(), trl.detach().numpy(), rtol=1e-9, atol=1e-12)
            return liger

    _check(backend, ours, peer, args)


@pytest.mark.parametrize("loss_type,e", [("sigmoid", 0.2), ("hinge", 0.0), ("ipo", 0.0)])
def test_cpo_against_trl(backend: ArrayBackend, loss_type: str, e: float) -> None:
    p = _pairs(5)
    ipo = loss_type == "ipo"
    args = [p["c"], p["r"], p["lc"], p["lr"]]

    def ours(c: Any, r: Any, lc: Any, lr: Any) -> Any:
        return ul.cpo(c, r, lc, lr, beta=0.3, loss_type=loss_type, label_smoothing=e, reduction="mean")

    peer = None
    if HAS_TORCH:
        cpo = _trl("cpo").CPOTrainer
        from peers.upstream.trl_stubs import trainer

        me = trainer(alpha=0.0, beta=0.3, loss_type=loss_type, label_smoothing=e, simpo_gamma=0.0)

        def peer(c: Any, r: Any, lc: Any, lr: Any) -> Any:
            return cpo.cpo_loss(me, c / lc if ipo else c, r / lr if ipo else r)[0].mean()

    _check(backend, ours, peer, args)


def test_cpo_sigmoid_against_liger() -> None:
    cpo = _liger("cpo_loss").LigerFusedLinearCPOFunction
    import torch

    p = _pairs(6)
    got = ul.cpo(p["c"], p["r"], beta=0.2, label_smoothing=0.3, reduction="mean")
    ref = cpo.preference_loss_fn(torch.tensor(p["c"]), torch.tensor(p["r"]), _target(), beta=0.2, label_smoothing=0.3)[0]
    assert_close(got, ref.numpy(), **TOL)


@pytest.mark.parametrize("beta", [1e-3, 0.1, 50.0])
def test_orpo_against_liger_and_trl(backend: ArrayBackend, beta: float) -> None:
    """ORPO's odds-ratio term: Liger's sign (>= 0); TRL's ``losses`` are its negation. Per-token
    means from -3 up to -1e-4 (where log(1 - exp(x)) needs expm1)."""
    rng = np.random.default_rng(7)
    c = -np.exp(rng.uniform(np.log(1e-4), np.log(3.0), B))
    r = -np.exp(rng.uniform(np.log(1e-4), np.log(3.0), B))
    lc, lr = rng.integers(1, 6, B).astype(np.float64), rng.integers(1, 6, B).astype(np.float64)
    args = [c * lc, r * lr, lc, lr]

    def ours(c: Any, r: Any, lc: Any, lr: Any) -> Any:
        return ul.orpo(c, r, lc, lr, beta=beta, reduction="mean")

    peer = None
    if HAS_TORCH:
        orpo = _liger("orpo_loss").LigerFusedLinearORPOFunction
        trl = _trl("orpo").ORPOTrainer
        from peers.upstream.trl_stubs import trainer

        def peer(c: Any, r: Any, lc: Any, lr: Any) -> Any:
            liger = orpo.preference_loss_fn(c / lc, r / lr, _target(), beta=beta)[0]
            theirs = trl.odds_ratio_loss(trainer(beta=beta), c / lc, r / lr)[0]
            assert_close(-theirs.detach().mean().numpy(), liger.detach().numpy(), rtol=1e-6, atol=1e-9)
            return liger

    _check(backend, ours, peer, args)
    assert (to_numpy(ul.orpo(c, r, beta=beta)) >= 0).all()


@pytest.mark.parametrize("with_kl", [False, True])
def test_kto_against_liger(backend: ArrayBackend, with_kl: bool) -> None:
    p = _pairs(8)
    desirable = np.array([True, False, True, True, False])
    kl = np.full(B, 0.7)
    args = [p["c"], p["c_ref"], desirable.astype(np.float64), kl]

    def ours(lp: Any, ref: Any, good: Any, k: Any) -> Any:
        return ul.kto(lp, ref, good, k if with_kl else None, beta=0.4, reduction="mean")

    peer = None
    if HAS_TORCH:
        kto = _liger("kto_loss").LigerFusedLinearKTOFunction
        import torch

        def peer(lp: Any, ref: Any, good: Any, k: Any) -> Any:
            return kto.preference_loss_fn(lp, good.bool(), torch.zeros(B), ref, beta=0.4, kl=k.detach() if with_kl else None)[0]

    _check(backend, ours, peer, args)


def test_kto_weights_and_kl_is_constant() -> None:
    lp, ref, good = np.array([-5.0, -5.0]), np.array([-6.0, -6.0]), np.array([True, False])
    base = ul.kto(lp, ref, good, beta=1.0)
    assert_close(base, 1 / (1 + np.exp([1.0, -1.0])))
    assert_close(ul.kto(lp, ref, good, beta=1.0, desirable_weight=2.0, undesirable_weight=0.5), base * [2.0, 0.5])
    if HAS_TORCH:
        import torch

        k = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        out = ul.kto(torch.tensor(lp), torch.tensor(ref), torch.tensor(good), k, reduction="sum")
        assert not out.requires_grad  # the baseline is a constant: nothing else requires a gradient


# ------------------------------------------------------------------ edge values, bad input, compilers
def test_extreme_margins_are_finite(backend: ArrayBackend) -> None:
    """Margins of +-5e5 (beta 50 on log-probabilities of -1e4): finite values and gradients."""
    c, r = np.array([-1e4, 0.0, -3.0]), np.array([0.0, -1e4, -3.0])
    calls = (
        lambda a, b: ul.dpo(a, b, reference_free=True, beta=50.0, loss_type="robust", label_smoothing=0.1, reduction="sum"),
        lambda a, b: ul.simpo(a, b, beta=50.0, label_smoothing=0.1, reduction="sum"),
        lambda a, b: ul.orpo(a - 1e-3, b - 1e-3, beta=50.0, reduction="sum"),
    )
    for fn in calls:
        value, grads = _value_and_grads(backend.name, fn, [c, r], (0, 1))
        assert np.isfinite(value).all() and all(np.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(
    "call,error,words",
    [
        (lambda: ul.dpo(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), loss_type="exo"), ValueError, "loss_type"),
        (lambda: ul.dpo(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), label_smoothing=0.5), ValueError, "label_smoothing"),
        (lambda: ul.dpo(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), loss_type="hinge", label_smoothing=0.1), ValueError, "label_smoothing"),
        (lambda: ul.dpo(np.zeros(2), np.zeros(2)), ValueError, "ref_chosen_log_probs"),
        (lambda: ul.dpo(np.zeros(2), np.zeros(3), np.zeros(2), np.zeros(2)), ValueError, "rejected_log_probs"),
        (lambda: ul.dpo(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), beta=0.0), ValueError, "beta"),
        (lambda: ul.dpo(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), reference_free=1), TypeError, "reference_free"),
        (lambda: ul.simpo(np.zeros(2), np.zeros(2), gamma="a"), TypeError, "gamma"),
        (lambda: ul.cpo(np.zeros(2), np.zeros(2), loss_type="robust"), ValueError, "loss_type"),
        (lambda: ul.orpo(np.zeros(2), np.zeros((2, 2))), ValueError, "rejected_log_probs"),
        (lambda: ul.kto(np.zeros(2), np.zeros(2), np.ones(2), desirable_weight=-1.0), ValueError, "desirable_weight"),
    ],
)
def test_bad_input(call: Callable[[], Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        call()


def test_inputs_not_modified() -> None:
    p = _pairs(9)
    copies = {k: v.copy() for k, v in p.items()}
    ul.dpo(p["c"], p["r"], p["c_ref"], p["r_ref"], p["lc"], p["lr"], loss_type="ipo")
    ul.orpo(p["c"] / 100, p["r"] / 100, p["lc"], p["lr"])
    for k, v in p.items():
        np.testing.assert_array_equal(v, copies[k])


def _compile_inputs() -> list[np.ndarray]:
    p = _pairs(10)
    return [p["c"].astype(np.float32), p["r"].astype(np.float32), p["c_ref"].astype(np.float32), p["r_ref"].astype(np.float32)]


def _dpo_mean(c: Any, r: Any, cr: Any, rr: Any) -> Any:
    return ul.dpo(c, r, cr, rr, beta=0.3, loss_type="robust", label_smoothing=0.1, reduction="mean")


@selected("jax")
def test_dpo_under_jax_jit() -> None:
    import jax

    args = _compile_inputs()
    value, grad = jax.jit(jax.value_and_grad(_dpo_mean))(*args)
    ref = _value_and_grads("jax", _dpo_mean, args, (0,))
    assert_close(value, _dpo_mean(*args), rtol=1e-5)
    assert_close(grad, ref[1][0], rtol=1e-5)


@selected("torch")
def test_dpo_under_torch_compile() -> None:
    import torch

    args = [torch.tensor(a) for a in _compile_inputs()]
    args[0].requires_grad_(True)
    out = torch.compile(_dpo_mean, backend="aot_eager", fullgraph=True)(*args)
    (g,) = torch.autograd.grad(out, [args[0]])
    ref = _value_and_grads("torch", _dpo_mean, _compile_inputs(), (0,))
    assert_close(out.detach().numpy(), ref[0], rtol=1e-5)
    assert_close(g.numpy(), ref[1][0], rtol=1e-5)


@selected("tensorflow")
def test_dpo_under_tf_function() -> None:
    import tensorflow as tf

    args = [tf.constant(a) for a in _compile_inputs()]
    out = tf.function(_dpo_mean, jit_compile=True)(*args)
    assert_close(out.numpy(), _dpo_mean(*_compile_inputs()), rtol=1e-5)
