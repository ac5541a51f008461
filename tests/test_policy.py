"""Post-training: token_log_probs, policy_loss, kl_penalty, group_advantages, aggregate_loss.

The references are verl's own functions (``verl/trainer/ppo/core_algos.py``, vendored unchanged in
``peers/upstream/verl/`` and imported through ``peers/upstream/verl_stubs.py``), called live on
torch CPU tensors made from the same NumPy inputs: values, and gradients with respect to the
current policy's log-probabilities by torch's autograd. Each backend's values (and, on torch, JAX
and TensorFlow, its autodiff gradients) must equal them; where torch is not installed the NumPy
backend is the reference. ``token_log_probs`` is compared with torch's ``log_softmax`` + ``gather``
and verl's entropy formula.
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
from unilosses.reduction import TOKEN_AGGREGATIONS, aggregate_tokens
from unilosses.testing import ArrayBackend, assert_close, to_numpy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # peers/ is repository tooling, not part of the installed package
    sys.path.insert(0, str(ROOT))

HAS_TORCH = importlib.util.find_spec("torch") is not None
AUTODIFF = ("torch", "jax", "tensorflow")
TOL = {"rtol": 2e-5, "atol": 2e-6}
B, T, G = 6, 5, 3  # 6 answers in groups of 3, 5 tokens each


def _verl() -> Any:
    pytest.importorskip("torch")
    from peers.upstream.verl_stubs import load_core_algos

    return load_core_algos()


def _inputs(seed: int, far: bool = False) -> dict[str, np.ndarray]:
    """Log-probs of a current and an old policy, advantages per token, a mask with one fully
    masked sequence and ragged lengths; ``far``: log-ratios out to +-30 (past verl's clamp)."""
    rng = np.random.default_rng(seed)
    old = np.log(rng.uniform(0.05, 0.95, (B, T))).astype(np.float32)
    spread = 30.0 if far else 0.4
    lp = (old + rng.uniform(-spread, spread, (B, T))).astype(np.float32)
    adv = rng.normal(size=(B, T)).astype(np.float32)
    mask = np.ones((B, T), np.float32)
    mask[1, 3:] = 0
    mask[2, 1:] = 0
    mask[4] = 0  # a fully masked sequence
    return {"lp": lp, "old": old, "adv": adv, "mask": mask}


def _value_and_grad(name: str, fn: Callable[..., Any], args: list[np.ndarray], wrt: int = 0) -> tuple[Any, Any]:
    """fn(*args) on backend ``name`` (args as its arrays) and, on an autodiff backend, the gradient of
    the sum of its (first) output with respect to ``args[wrt]``; NumPy results."""
    be = ArrayBackend(name)
    xs = [be.asarray(a) for a in args]
    if name == "torch":
        xs[wrt] = xs[wrt].clone().requires_grad_(True)
        out = fn(*xs)
        first = out[0] if isinstance(out, tuple) else out
        (g,) = __import__("torch").autograd.grad(first.sum(), [xs[wrt]])
        return to_numpy(out), to_numpy(g)
    if name == "jax":
        import jax

        def f(x: Any) -> Any:
            ys = list(xs)
            ys[wrt] = x
            out = fn(*ys)
            first = out[0] if isinstance(out, tuple) else out
            return first.sum(), out

        (_, out), g = jax.value_and_grad(f, has_aux=True)(xs[wrt])
        return to_numpy(out), to_numpy(g)
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(xs[wrt])
            out = fn(*xs)
            first = out[0] if isinstance(out, tuple) else out
            total = tf.reduce_sum(first)
        return to_numpy(out), to_numpy(tape.gradient(total, xs[wrt]))
    out = fn(*xs)
    if name == "dask":
        import dask

        out = dask.compute(out)[0]
    return to_numpy(out), None


def _torch_value_and_grad(fn: Callable[..., Any], args: list[np.ndarray], wrt: int = 0) -> tuple[Any, Any]:
    import torch

    xs = [torch.as_tensor(a) for a in args]
    xs[wrt] = xs[wrt].clone().requires_grad_(True)
    out = fn(*xs)
    (g,) = torch.autograd.grad(out.sum(), [xs[wrt]])
    return out.detach().numpy(), g.numpy()


def _check(backend: ArrayBackend, fn: Callable[..., Any], args: list[np.ndarray], ref: tuple[Any, Any], wrt: int = 0) -> None:
    value, grad = _value_and_grad(backend.name, fn, args, wrt)
    assert_close(value, ref[0], **TOL)
    if backend.name in AUTODIFF:
        assert grad is not None and ref[1] is not None
        assert_close(grad, ref[1], **TOL)


def _numpy_ref(fn: Callable[..., Any], args: list[np.ndarray], wrt: int = 0, h: float = 1e-6) -> tuple[Any, Any]:
    """Without torch (no verl): the NumPy backend's value, and the gradient of the sum of its (first)
    output with respect to ``args[wrt]`` by central differences in float64."""
    def total(xs: list[np.ndarray]) -> float:
        out = fn(*xs)
        return float(np.sum(to_numpy(out[0] if isinstance(out, tuple) else out)))

    xs = [np.asarray(a, np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in args]
    grad = np.zeros(xs[wrt].shape)
    for i in np.ndindex(*xs[wrt].shape):
        up, down = [a.copy() for a in xs], [a.copy() for a in xs]
        up[wrt][i] += h
        down[wrt][i] -= h
        grad[i] = (total(up) - total(down)) / (2 * h)
    return to_numpy(fn(*args)), grad


# ------------------------------------------------------------------ policy_loss against verl
#: (name, our options, verl's config, verl's function, seed / far): verl's dual clip is always on
#: (clip_ratio_c, 3 by default); a bound of 1e9 never binds, which is no dual clip
POLICY_CASES = [
    ("ppo-token-mean", {"dual_clip": 3.0}, {}, "vanilla", False),
    ("dapo-clip-higher-seq-mean-token-sum", {"clip_ratio_low": 0.2, "clip_ratio_high": 0.28, "dual_clip": 3.0,
     "aggregation": "seq-mean-token-sum"}, {"clip_ratio_low": 0.2, "clip_ratio_high": 0.28}, "vanilla", False),
    ("ppo-seq-mean-token-mean-no-dual", {"aggregation": "seq-mean-token-mean"}, {"clip_ratio_c": 1e9}, "vanilla", False),
    ("dr-grpo-token-sum-norm", {"dual_clip": 2.0, "aggregation": "seq-mean-token-sum-norm", "max_tokens": 8},
     {"clip_ratio_c": 2.0, "global_batch_info": {"loss_scale_factor": 8}}, "vanilla", False),
    ("far-outside-the-clip", {"dual_clip": 3.0, "clip_ratio": 0.1}, {"clip_ratio": 0.1}, "vanilla", True),
    ("gspo", {"importance": "sequence", "clip_ratio_low": 3e-4, "clip_ratio_high": 4e-4,
     "aggregation": "seq-mean-token-mean"}, {"clip_ratio_low": 3e-4, "clip_ratio_high": 4e-4}, "gspo", False),
    ("gspo-far", {"importance": "sequence", "aggregation": "seq-mean-token-mean"}, {}, "gspo", True),
]


def _verl_policy(kind: str, config: dict[str, Any], agg: str) -> Callable[..., Any]:
    from peers.upstream.verl_stubs import ActorConfig

    ca = _verl()
    fn = ca.compute_policy_loss_vanilla if kind == "vanilla" else ca.compute_policy_loss_gspo

    def run(lp: Any, old: Any, adv: Any, mask: Any) -> Any:
        return fn(old, lp, adv, mask, loss_agg_mode=agg, config=ActorConfig(**config))

    return run


@pytest.mark.parametrize("name, options, config, kind, far", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_policy_loss_against_verl(backend: ArrayBackend, name: str, options: dict[str, Any], config: dict[str, Any],
                                  kind: str, far: bool) -> None:
    x = _inputs(len(name), far)
    args = [x["lp"], x["old"], x["adv"], x["mask"]]

    def ours(lp: Any, old: Any, adv: Any, mask: Any) -> Any:
        return ul.policy_loss(lp, old, adv, mask=mask, **options, return_stats=True)

    verl = _verl_policy(kind, config, options.get("aggregation", "token-mean"))
    ref = _torch_value_and_grad(lambda *a: verl(*a)[0], args)
    (loss, stats), grad = _value_and_grad(backend.name, ours, args)
    assert_close(loss, ref[0], **TOL)
    if backend.name in AUTODIFF:
        assert_close(grad, ref[1], **TOL)
    import torch

    _, metrics = verl(*(torch.as_tensor(a) for a in args))
    assert_close(stats.clip_fraction, metrics["actor/pg_clipfrac"], **TOL)
    assert_close(stats.approx_kl, metrics["actor/ppo_kl"], rtol=2e-5, atol=1e-5)
    assert_close(stats.clip_fraction, stats.clip_fraction_low + stats.clip_fraction_high, **TOL)
    if kind == "vanilla":
        assert_close(stats.dual_clip_fraction, metrics["actor/pg_clipfrac_lower"], **TOL)
    if far:  # tokens past the clamp of +-20 contribute no gradient, in verl and here
        assert np.isfinite(loss) and (grad is None or np.all(np.isfinite(grad)))


def test_policy_loss_advantage_shapes_and_zero_advantages(backend: ArrayBackend) -> None:
    """(B,), (B, 1) and (B, T) advantages give the same loss; all-zero advantages give 0 with a
    zero gradient; a fully masked batch gives 0, not NaN."""
    x = _inputs(3)
    seq_adv = x["adv"][:, 0]
    full = np.repeat(seq_adv[:, None], T, axis=1)
    want = to_numpy(ul.policy_loss(x["lp"], x["old"], full, mask=x["mask"]))
    for adv in (seq_adv, seq_adv[:, None]):
        got, _ = _value_and_grad(backend.name, lambda lp, old, a, m: ul.policy_loss(lp, old, a, mask=m),
                                 [x["lp"], x["old"], adv, x["mask"]])
        assert_close(got, want, **TOL)
    for agg in TOKEN_AGGREGATIONS:
        value, grad = _value_and_grad(
            backend.name, lambda lp, old, a, m, agg=agg: ul.policy_loss(lp, old, a, mask=m, aggregation=agg, dual_clip=3.0),
            [x["lp"], x["old"], np.zeros_like(full), x["mask"]])
        assert value == 0 and (grad is None or not np.any(grad))
        value, grad = _value_and_grad(
            backend.name, lambda lp, old, a, m, agg=agg: ul.policy_loss(lp, old, a, mask=m, aggregation=agg),
            [x["lp"], x["old"], full, np.zeros_like(x["mask"])])
        assert value == 0 and (grad is None or not np.any(grad)), agg


# ------------------------------------------------------------------ aggregation against verl's agg_loss
@pytest.mark.parametrize("mode", TOKEN_AGGREGATIONS)
def test_aggregate_loss_against_verl(backend: ArrayBackend, mode: str) -> None:
    x = _inputs(5)
    args = [x["adv"], x["mask"]]
    if mode == "token-sum":  # verl has no token-sum: the plain masked sum
        ref: tuple[Any, Any] = (np.sum(x["adv"] * x["mask"]), x["mask"])
    elif HAS_TORCH:
        ca = _verl()
        ref = _torch_value_and_grad(lambda v, m: ca.agg_loss(v, m, mode), args)
    else:
        ref = _numpy_ref(lambda v, m: ul.aggregate_loss(v, m, aggregation=mode), args)
    _check(backend, lambda v, m: ul.aggregate_loss(v, m, aggregation=mode), args, ref)


def test_aggregate_tokens_is_a_reduction() -> None:
    """The reduction itself, on a namespace: no mask is every token; a float mask weights; a
    fully masked batch gives 0 in every mode; NaN under the mask never leaks."""
    from unilosses.backends import backend_for

    xp = backend_for(np.zeros(1)).xp
    v = np.array([[1.0, 2.0, np.nan], [4.0, 0.0, 0.0]])
    m = np.array([[1.0, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert aggregate_tokens(xp, v, m, "token-mean") == pytest.approx(6.0 / 2.5)
    assert aggregate_tokens(xp, v, m, "token-sum") == pytest.approx(6.0)
    assert aggregate_tokens(xp, v, m, "seq-mean-token-sum") == pytest.approx((2.0 + 4.0) / 2)
    assert aggregate_tokens(xp, v, m, "seq-mean-token-mean") == pytest.approx((2.0 / 1.5 + 4.0) / 2)
    assert aggregate_tokens(xp, v, m, "seq-mean-token-sum-norm") == pytest.approx(6.0 / 3)
    assert aggregate_tokens(xp, v, m, "seq-mean-token-sum-norm", 12) == pytest.approx(6.0 / 12)
    full = np.ones((2, 3))
    assert aggregate_tokens(xp, full, None, "seq-mean-token-mean") == pytest.approx(1.0)
    assert aggregate_tokens(xp, full, None, "token-mean") == pytest.approx(1.0)
    for mode in TOKEN_AGGREGATIONS:
        assert aggregate_tokens(xp, v, np.zeros_like(m), mode) == 0


# ------------------------------------------------------------------ kl_penalty against verl
@pytest.mark.parametrize("estimator", ["k1", "kl", "abs", "k2", "mse", "k3", "low_var_kl", "k3+", "k1+", "abs+"])
def test_kl_penalty_against_verl(backend: ArrayBackend, estimator: str) -> None:
    """Values and gradients; with log-ratios out to +-25 (k3's clamps). verl at the vendored
    revision raises NotImplementedError for the '+' names (it passes 'k3+' on to
    kl_penalty_forward, which knows 'k3' only): their reference is what its docstring says, the
    estimator's value with k2's gradient, built from verl's own k3 / k2."""
    rng = np.random.default_rng(11)
    lp = np.log(rng.uniform(0.05, 0.95, (4, 6))).astype(np.float32)
    ref_lp = (lp + rng.uniform(-3, 3, (4, 6))).astype(np.float32)
    ref_lp[0, :3] = lp[0, :3] + np.array([25.0, -25.0, 15.0], np.float32)
    args = [lp, ref_lp]
    if HAS_TORCH:
        ca = _verl()
        base = estimator.rstrip("+")
        value = _torch_value_and_grad(lambda a, b: ca.kl_penalty(a, b, base), args)[0]
        grad = _torch_value_and_grad(lambda a, b: ca.kl_penalty(a, b, "k2" if estimator.endswith("+") else base), args)[1]
        ref: tuple[Any, Any] = (value, grad)
    else:
        value = _numpy_ref(lambda a, b: ul.kl_penalty(a, b, estimator=estimator), args)[0]
        # a '+' estimator's gradient is k2's (straight-through): the differences of k2
        grad = _numpy_ref(lambda a, b: ul.kl_penalty(a, b, estimator="k2" if estimator.endswith("+") else estimator), args)[1]
        ref = (value, grad)
    _check(backend, lambda a, b: ul.kl_penalty(a, b, estimator=estimator), args, ref)


# ------------------------------------------------------------------ group_advantages against verl
@pytest.mark.parametrize("normalize_std", [True, False])
def test_group_advantages_against_verl(backend: ArrayBackend, normalize_std: bool) -> None:
    """Groups of 3 (one with equal rewards: std 0); verl takes (B, T) token rewards and a group index."""
    rewards = np.array([1.0, 0.0, 0.5, 0.2, 0.2, 0.2], np.float32)
    if HAS_TORCH:
        import torch

        ca = _verl()
        index = np.repeat(np.arange(B // G), G)
        adv, _ = ca.compute_grpo_outcome_advantage(torch.as_tensor(rewards)[:, None], torch.ones(B, 1), index,
                                                   norm_adv_by_std_in_grpo=normalize_std)
        want = adv[:, 0].numpy()
    else:
        want = to_numpy(ul.group_advantages(rewards, G, normalize_std=normalize_std))
    got = to_numpy(ul.group_advantages(backend.asarray(rewards), G, normalize_std=normalize_std))
    assert_close(got, want, **TOL)


def test_group_of_one(backend: ArrayBackend) -> None:
    """A group of one has advantage 0, as TRL 1.16 (verl: r / (1 + epsilon), its mean taken as 0, its std as 1)."""
    rewards = np.array([0.7, -1.0, 2.0], np.float32)
    got = to_numpy(ul.group_advantages(backend.asarray(rewards), 1))
    assert np.array_equal(got, np.zeros(3, np.float32))
    if HAS_TORCH:
        import torch

        verl, _ = _verl().compute_grpo_outcome_advantage(torch.as_tensor(rewards)[:, None], torch.ones(3, 1), np.arange(3))
        assert_close(verl[:, 0].numpy(), rewards / (1 + 1e-6), **TOL)


# ------------------------------------------------------------------ token_log_probs
def _torch_log_probs(temperature: float, entropy: bool) -> Callable[..., Any]:
    def ref(logits: Any, labels: Any) -> Any:
        import torch

        z = logits / temperature
        lp = torch.log_softmax(z, -1).gather(-1, labels[..., None])[..., 0]
        if not entropy:
            return lp
        pd = torch.softmax(z, -1)  # verl's entropy_from_logits
        return lp + torch.logsumexp(z, -1) - (pd * z).sum(-1)

    return ref


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_token_log_probs(backend: ArrayBackend, temperature: float) -> None:
    """Values and gradients of the log-probs (and of log-probs + entropy) against torch."""
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 3, 7)).astype(np.float32) * 3
    labels = rng.integers(0, 7, (2, 3))
    for entropy in (False, True):
        if HAS_TORCH:
            ref = _torch_value_and_grad(_torch_log_probs(temperature, entropy), [logits, labels])
        else:
            ref = _numpy_ref(lambda z, y: ul.token_log_probs(y, z, temperature=temperature), [logits, labels])
            entropy = False

        def ours(z: Any, y: Any, entropy: bool = entropy) -> Any:
            if not entropy:
                return ul.token_log_probs(y, z, temperature=temperature)
            lp, h = ul.token_log_probs(y, z, temperature=temperature, return_entropy=True)
            return lp + h

        _check(backend, ours, [logits, labels], ref)


def test_token_log_probs_options(backend: ArrayBackend) -> None:
    """axis=1 (a (B, V, T) layout), ignore_index (0 with zero gradients), 16-bit logits in float32."""
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(2, 5, 3)).astype(np.float32)
    labels = rng.integers(0, 5, (2, 3))
    want = to_numpy(ul.token_log_probs(labels, np.moveaxis(logits, 1, -1)))
    got = to_numpy(ul.token_log_probs(backend.asarray(labels), backend.asarray(logits), axis=1))
    assert_close(got, want, **TOL)
    labels[0, 1] = -100
    value, grad = _value_and_grad(backend.name, lambda z, y: ul.token_log_probs(y, z, axis=1, ignore_index=-100,
                                                                                return_entropy=True), [logits, labels])
    assert value[0][0, 1] == 0 and value[1][0, 1] == 0
    assert_close(value[0][1], want[1], **TOL)
    if grad is not None:
        assert not np.any(grad[0, :, 1])
    if backend.name != "array_api_strict":  # the standard has no float16
        half = to_numpy(ul.token_log_probs(backend.asarray(labels[1]), backend.asarray(logits[1].T, "float16")))
        assert half.dtype == np.float32


def test_token_log_probs_masked_vocabulary() -> None:
    """A -inf logit (a masked token) adds nothing to the entropy and gives no NaN."""
    logits = np.array([[0.0, -np.inf, 0.0]])
    lp, h = ul.token_log_probs(np.array([0]), logits, return_entropy=True)
    assert_close(lp, [np.log(0.5)]) and assert_close(h, [np.log(2.0)])


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, error, words", [
    (lambda: ul.policy_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2), clip_ratio=-1), ValueError, "clip_ratio"),
    (lambda: ul.policy_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2), dual_clip=1.0), ValueError, "dual_clip"),
    (lambda: ul.policy_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2), importance="seq"), ValueError, "importance"),
    (lambda: ul.policy_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2), aggregation="mean"), ValueError, "aggregation"),
    (lambda: ul.policy_loss(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros(2)), ValueError, "old_log_probs"),
    (lambda: ul.policy_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(3)), ValueError, "advantages"),
    (lambda: ul.policy_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2), mask=np.ones(3)), ValueError, "mask"),
    (lambda: ul.policy_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2), clip_ratio="0.2"), TypeError, "clip_ratio"),
    (lambda: ul.kl_penalty(np.zeros(2), np.zeros(2), estimator="k4"), ValueError, "estimator"),
    (lambda: ul.group_advantages(np.zeros(5), 2), ValueError, "group_size"),
    (lambda: ul.group_advantages(np.zeros(4), 0), ValueError, "group_size"),
    (lambda: ul.group_advantages(np.zeros((4, 1)), 2), ValueError, "rewards"),
    (lambda: ul.token_log_probs(np.array([5]), np.zeros((1, 5))), ValueError, "y_true"),
    (lambda: ul.token_log_probs(np.array([0.0]), np.zeros((1, 5))), TypeError, "y_true"),
    (lambda: ul.token_log_probs(np.array([0]), np.zeros((1, 5)), temperature=0), ValueError, "temperature"),
    (lambda: ul.aggregate_loss(np.zeros((2, 3)), max_tokens=0), ValueError, "max_tokens"),
])
def test_bad_input(call: Callable[[], Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        call()


def test_inputs_unchanged() -> None:
    x = _inputs(1)
    saved = {k: v.copy() for k, v in x.items()}
    ul.policy_loss(x["lp"], x["old"], x["adv"], mask=x["mask"], importance="sequence", return_stats=True)
    ul.kl_penalty(x["lp"], x["old"], estimator="k3+")
    for k in x:
        assert np.array_equal(x[k], saved[k])


# ------------------------------------------------------------------ compilers
def _grpo_step(xp_logits: Any, labels: Any, old: Any, rewards: Any, mask: Any) -> Any:
    lp = ul.token_log_probs(labels, xp_logits, temperature=0.9)
    adv = ul.group_advantages(rewards, G)
    loss, stats = ul.policy_loss(lp, old, adv, mask=mask, clip_ratio_high=0.28, dual_clip=3.0, return_stats=True)
    kl = ul.aggregate_loss(ul.kl_penalty(lp, old, estimator="k3"), mask)
    return loss + 0.01 * kl, stats


def _grpo_inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(B, T, 7)).astype(np.float32)
    labels = rng.integers(0, 7, (B, T))
    old = (ul.token_log_probs(labels, logits, temperature=0.9) + rng.uniform(-0.3, 0.3, (B, T))).astype(np.float32)
    rewards = rng.integers(0, 2, B).astype(np.float32)
    return [logits, labels, old, rewards, _inputs(0)["mask"]]


def _eager_grpo() -> tuple[Any, Any]:
    import torch

    args = [torch.as_tensor(a) for a in _grpo_inputs()]
    args[0].requires_grad_(True)
    loss, _ = _grpo_step(*args)
    (g,) = torch.autograd.grad(loss, [args[0]])
    return loss.detach().numpy(), g.numpy()


@selected("jax")
def test_under_jax_jit() -> None:
    import jax

    args = _grpo_inputs()
    f = jax.jit(jax.value_and_grad(lambda z, *rest: _grpo_step(z, *rest), has_aux=True))
    (loss, stats), g = f(*(jax.numpy.asarray(a) for a in args))
    want = to_numpy(_grpo_step(*args)[0])
    assert_close(loss, want, **TOL)
    assert float(stats.clip_fraction) >= 0 and np.all(np.isfinite(np.asarray(g)))
    if HAS_TORCH:
        assert_close(g, _eager_grpo()[1], **TOL)


@selected("torch")
def test_under_torch_compile() -> None:
    import torch

    args = [torch.as_tensor(a) for a in _grpo_inputs()]
    args[0].requires_grad_(True)
    f = torch.compile(lambda *a: _grpo_step(*a)[0], backend="aot_eager", fullgraph=True)
    loss = f(*args)
    (g,) = torch.autograd.grad(loss, [args[0]])
    want_loss, want_g = _eager_grpo()
    assert_close(loss.detach().numpy(), want_loss, **TOL)
    assert_close(g.numpy(), want_g, **TOL)


@selected("tensorflow")
def test_under_tf_function() -> None:
    import tensorflow as tf

    args = [tf.convert_to_tensor(a) for a in _grpo_inputs()]

    @tf.function(jit_compile=True)
    def step(z: Any, *rest: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss, _ = _grpo_step(z, *rest)
        return loss, tape.gradient(loss, z)

    loss, g = step(*args)
    assert_close(loss, to_numpy(_grpo_step(*_grpo_inputs())[0]), **TOL)
    if HAS_TORCH:
        assert_close(g, _eager_grpo()[1], **TOL)


@selected("torch")
def test_torch_kernel_gradients() -> None:
    """On torch token_log_probs is one autograd Function (its own backward): torch's gradcheck in
    float64, with a temperature, the vocabulary on axis 1, the entropy; under torch.func the generic
    path serves and gives the same gradient; a -inf logit gets a zero gradient, no NaN."""
    import torch

    z = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (2, 4))
    y[0, 0] = -1

    def f(z: Any) -> Any:
        return ul.token_log_probs(y, z, temperature=0.7, axis=1, return_entropy=True, ignore_index=-1)

    assert torch.autograd.gradcheck(f, (z,))
    assert torch.autograd.gradcheck(lambda z: f(z)[1], (z,))
    g = torch.func.grad(lambda z: sum(t.sum() for t in f(z)))(z.detach())
    (want,) = torch.autograd.grad(sum(t.sum() for t in f(z)), [z])
    assert_close(g, want, rtol=1e-12, atol=1e-12)
    masked = torch.tensor([[0.0, float("-inf"), 1.0]], requires_grad=True)
    lp, h = ul.token_log_probs(torch.tensor([0]), masked, return_entropy=True)
    (lp + h).sum().backward()
    assert torch.isfinite(masked.grad).all() and masked.grad[0, 1] == 0
