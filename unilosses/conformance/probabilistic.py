"""Conformance cases for the probabilistic family, against Keras, torch, optax and tf.nn.

Each reference states the mapping: torch's losses and tf.nn's are element-wise,
so their output is reduced over the last axis as unilosses does (a sum for the
KL divergence, a mean for the others) or compared as is (``axis=None``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, optax_reference, ref_inputs, ref_output

B, D = 8, 5


# ------------------------------------------------------------------ inputs
def _distributions(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.dirichlet(np.full(D, 2.0), B).astype(np.float32)
    p = rng.dirichlet(np.full(D, 2.0), B).astype(np.float32)
    return y, p


def _distributions_zeros(rng: np.random.Generator) -> tuple[Any, ...]:
    y, p = _distributions(rng)
    y[0] = np.eye(D, dtype=np.float32)[1]  # zeros (and a one) are clipped into [1e-7, 1]
    p[1, 2] = 0.0
    return y, p


def _log_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    """Targets with zeros (0 log 0 = 0) and log-probabilities as given (not normalised)."""
    y, _ = _distributions(rng)
    y[0] = np.eye(D, dtype=np.float32)[1]
    return y, (rng.standard_normal((B, D)) - 2.0).astype(np.float32)


def _log_both(rng: np.random.Generator) -> tuple[Any, ...]:
    y, p = _distributions(rng)
    return np.log(y), (rng.standard_normal((B, D)) - 2.0).astype(np.float32)


def _counts_rates(rng: np.random.Generator) -> tuple[Any, ...]:
    rate = rng.uniform(0.1, 4.0, (B, D))
    return rng.poisson(rate).astype(np.float32), rng.uniform(0.05, 5.0, (B, D)).astype(np.float32)


def _counts_log_rates(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.poisson(rng.uniform(0.1, 6.0, (B, D))).astype(np.float32)
    y[0, :3] = [0.0, 1.0, 2.0]  # the Stirling term starts above 1
    return y, rng.normal(0.5, 1.0, (B, D)).astype(np.float32)


def _gaussian(var_shape: tuple[int, ...], clamped: tuple[float, ...] = (), eps: float = 1e-6) -> Any:
    """(y_true, y_pred, var): ``var``, the loss's third input, with its first entries ``clamped``
    (below ``eps``, where the loss clamps them). They stay above the finite differences' step
    (1e-6), as ``var`` is an input the gradient check moves and a negative variance raises; a zero
    variance is tested in tests/test_probabilistic.py."""

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        y = rng.standard_normal((B, D)).astype(np.float32)
        mu = (y + rng.standard_normal((B, D))).astype(np.float32)
        var = rng.uniform(0.05, 3.0, var_shape).astype(np.float32)
        var.reshape(-1)[: len(clamped)] = clamped
        vb = var[..., None] if var.ndim == 1 else var
        mu = np.where(np.broadcast_to(vb, y.shape) < eps, y + 1e-3, mu).astype(np.float32)  # small errors there
        return y, mu, var

    return inputs


def _gaussian_3d(rng: np.random.Generator) -> tuple[Any, ...]:
    y = rng.standard_normal((3, 4, D)).astype(np.float32)
    mu = (y + rng.standard_normal((3, 4, D))).astype(np.float32)
    return y, mu, rng.uniform(0.1, 2.0, (3, 1, D)).astype(np.float32)  # one variance per (batch, dim)


def _gaussian_scalar(rng: np.random.Generator) -> tuple[Any, ...]:
    y, mu, _ = _gaussian((B, D))(rng)
    return y, mu, np.asarray(1.7, dtype=np.float32)  # a variance, not in [0, 1]: the extremes test sets probabilities to 0 and 1


# -------------------------------------------------------------- references
def _keras(name: str, **kw: Any) -> Any:
    def ref(y: Any, p: Any) -> Any:
        import keras

        return ref_output(getattr(keras.losses, name)(y.astype(np.float64), p.astype(np.float64), **kw))

    return ref


def _torch_kl(log_target: bool, summed: bool) -> Any:
    # kl_div(input=log y_pred, target=y_true [or log y_true with log_target]), summed over -1
    def ref(y: Any, p: Any) -> Any:
        import torch
        import torch.nn.functional as F

        y, p = ref_inputs("torch", y, p)
        target = torch.log(y) if log_target else y
        out = F.kl_div(torch.log(p), target, reduction="none", log_target=log_target)
        return ref_output(out.sum(-1) if summed else out)

    return ref


def _torch_kl_direct(log_target: bool) -> Any:
    # kl_div(input=y_pred (log q, as given), target=y_true (log y with log_target)): element-wise
    def ref(y: Any, lq: Any) -> Any:
        import torch.nn.functional as F

        y, lq = ref_inputs("torch", y, lq)
        return ref_output(F.kl_div(lq, y, reduction="none", log_target=log_target))

    return ref


def _optax_kl_direct(log_target: bool) -> Any:
    def ref(y: Any, lq: Any) -> Any:
        import optax

        y, lq = ref_inputs("optax", y, lq, dtype="float32")
        fn = optax.losses.kl_divergence_with_log_targets if log_target else optax.losses.kl_divergence
        return ref_output(fn(lq, y))

    return ref


def _optax_kl(log_target: bool) -> Any:
    def ref(y: Any, p: Any) -> Any:
        import jax.numpy as jnp
        import optax

        y, p = ref_inputs("optax", y, p, dtype="float32")
        if log_target:
            return ref_output(optax.losses.kl_divergence_with_log_targets(jnp.log(p), jnp.log(y)))
        return ref_output(optax.losses.kl_divergence(jnp.log(p), y))

    return ref


def _torch_poisson(mean: bool, **kw: Any) -> Any:
    # poisson_nll_loss(y_pred, y_true, log_input, full, eps), averaged over -1 for axis=-1
    def ref(y: Any, p: Any) -> Any:
        import torch.nn.functional as F

        y, p = ref_inputs("torch", y, p)
        out = F.poisson_nll_loss(p, y, reduction="none", **kw)
        return ref_output(out.mean(-1) if mean else out)

    return ref


def _tf_log_poisson(full: bool) -> Any:
    # tf.nn.log_poisson_loss(targets, log_input, compute_full_loss): log_input=True, axis=None
    def ref(y: Any, z: Any) -> Any:
        import tensorflow as tf

        y, z = ref_inputs("tensorflow", y, z)
        return ref_output(tf.nn.log_poisson_loss(y, z, compute_full_loss=full))

    return ref


def _torch_gaussian(mean: bool, **kw: Any) -> Any:
    # gaussian_nll_loss(y_pred, y_true, var, full, eps), averaged over -1 for axis=-1
    def ref(y: Any, mu: Any, var: Any) -> Any:
        import torch.nn.functional as F

        y, mu, var = ref_inputs("torch", y, mu, var)
        if var.ndim == 0:
            var = float(var)  # torch takes a homoscedastic variance as a Python float
        out = F.gaussian_nll_loss(mu, y, var, reduction="none", **kw)
        return ref_output(out.mean(-1) if mean else out)

    return ref


CASES = [
    Case(
        "kld",
        "kl_divergence",
        _distributions,
        references={
            "keras": _keras("kl_divergence"),
            "torch": _torch_kl(log_target=False, summed=True),
            "optax": _optax_kl(log_target=False),
        },
    ),
    Case(
        "kld-log-targets",
        "kl_divergence",
        _distributions,
        references={"torch": _torch_kl(log_target=True, summed=True), "optax": _optax_kl(log_target=True)},
    ),
    Case(
        "kld-log-probs",
        "kl_divergence",
        _log_inputs,
        {"from_log_probs": True, "axis": None},
        references={"torch": _torch_kl_direct(log_target=False)},
    ),
    Case(
        "kld-log-probs-summed",
        "kl_divergence",
        _log_inputs,
        {"from_log_probs": True},
        references={"optax": _optax_kl_direct(log_target=False)},
        rtol=2e-5,
    ),
    Case(
        "kld-log-probs-log-target",
        "kl_divergence",
        _log_both,
        {"from_log_probs": True, "log_target": True, "axis": None},
        references={"torch": _torch_kl_direct(log_target=True)},
    ),
    Case(
        "kld-log-probs-log-target-summed",
        "kl_divergence",
        _log_both,
        {"from_log_probs": True, "log_target": True},
        references={"optax": _optax_kl_direct(log_target=True)},
        rtol=2e-5,
    ),
    Case(
        "kld-clipped",
        "kl_divergence",
        _distributions_zeros,
        references={"keras": _keras("kl_divergence")},
    ),
    Case(
        "kld-elementwise",
        "kl_divergence",
        _distributions,
        {"axis": None},
        references={"torch": _torch_kl(log_target=False, summed=False)},
    ),
    Case(
        "poisson",
        "poisson",
        _counts_rates,
        references={"keras": _keras("poisson")},
    ),
    Case(
        "poisson-rates-torch-eps",
        "poisson",
        _counts_rates,
        {"epsilon": 1e-8},
        references={"torch": _torch_poisson(mean=True, log_input=False)},
    ),
    Case(
        "poisson-log_input-elementwise",
        "poisson",
        _counts_log_rates,
        {"log_input": True, "axis": None},
        references={"torch": _torch_poisson(mean=False, log_input=True), "tensorflow": _tf_log_poisson(False)},
    ),
    Case(
        "poisson-log_input-full",
        "poisson",
        _counts_log_rates,
        {"log_input": True, "full": True, "axis": None},
        references={
            "torch": _torch_poisson(mean=False, log_input=True, full=True),
            "tensorflow": _tf_log_poisson(True),
        },
    ),
    Case(
        "poisson-rates-full-mean",
        "poisson",
        _counts_rates,
        {"full": True, "epsilon": 1e-8},
        references={"torch": _torch_poisson(mean=True, log_input=False, full=True)},
    ),
    Case(
        "gaussian_nll-elementwise",
        "gaussian_nll",
        _gaussian((B, D)),
        {"axis": None},
        references={"torch": _torch_gaussian(mean=False)},
    ),
    Case(
        "gaussian_nll-full-eps",
        "gaussian_nll",
        _gaussian((B, D), clamped=(2e-4, 5e-4), eps=1e-3),
        {"full": True, "eps": 1e-3},
        references={"torch": _torch_gaussian(mean=True, full=True, eps=1e-3)},
    ),
    Case(
        "gaussian_nll-var-per-vector",
        "gaussian_nll",
        _gaussian((B,)),
        references={"torch": _torch_gaussian(mean=True)},
    ),
    Case(
        "gaussian_nll-var-last-dim-1",
        "gaussian_nll",
        _gaussian((B, 1)),
        {"axis": None},
        references={"torch": _torch_gaussian(mean=False)},
    ),
    Case(
        "gaussian_nll-var-middle-dim-1",
        "gaussian_nll",
        _gaussian_3d,
        {"axis": None},
        references={"torch": _torch_gaussian(mean=False)},
    ),
    Case(
        "gaussian_nll-var-scalar",
        "gaussian_nll",
        _gaussian_scalar,
        references={"torch": _torch_gaussian(mean=True)},
    ),
]


# ------------------------------------------------ generalized KL divergence
# Appended as its own block (the cases above are edited for other work in parallel).
def _measures(log_input: bool) -> Any:
    """Non-negative, unnormalised target measures (some zeros) and predictions (or their logs)."""

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        y = rng.uniform(0.0, 3.0, (B, D)).astype(np.float32)
        y[0, :2] = 0.0  # 0 log 0 = 0
        if log_input:
            return y, rng.normal(0.0, 1.0, (B, D)).astype(np.float32)
        return y, rng.uniform(0.05, 3.0, (B, D)).astype(np.float32)

    return inputs


def _log_of(z: Any, log_input: bool, lib: Any) -> Any:
    return z if log_input else lib.log(z)


def _optax_generalized_kl(log_input: bool, summed: bool = True) -> Any:
    # optax.losses.generalized_kl_divergence(log_predictions, targets) (alias convex_kl_divergence)
    def fn(y: Any, z: Any) -> Any:
        import jax.numpy as jnp
        import optax

        return optax.losses.generalized_kl_divergence(_log_of(z, log_input, jnp), y, axis=-1 if summed else None)

    return optax_reference(fn)


def _torch_generalized_kl(log_input: bool, summed: bool = True) -> Any:
    # torch: F.kl_div(log_p, y, reduction="none") + exp(log_p) - y, summed over the last axis
    def ref(y: Any, z: Any) -> Any:
        import torch
        import torch.nn.functional as F

        y, z = ref_inputs("torch", y, z)
        log_p = _log_of(z, log_input, torch)
        out = F.kl_div(log_p, y, reduction="none") + log_p.exp() - y
        return ref_output(out.sum(-1) if summed else out)

    return ref


def _measures_where(rng: np.random.Generator) -> tuple[Any, ...]:
    """optax's ``where`` over the elements; row 2 keeps none (0 in optax, left out here)."""
    y, z = _measures(log_input=True)(rng)
    mask = rng.uniform(size=(B, D)) < 0.6
    mask[:, 0] = True
    mask[2] = False
    return y, z, mask


def _optax_generalized_kl_where(y: Any, z: Any, where: Any) -> Any:
    import optax

    return optax.losses.generalized_kl_divergence(z, y, where=where)


CASES += [
    Case(
        "generalized-kl-where",
        "generalized_kl_divergence",
        _measures_where,
        {"from_log_probs": True},
        references={"optax": optax_reference(_optax_generalized_kl_where)},
        array_options={"where": 2},
    ),
    Case(
        "generalized-kl-log-probs",
        "generalized_kl_divergence",
        _measures(log_input=True),
        {"from_log_probs": True},
        references={"optax": _optax_generalized_kl(True), "torch": _torch_generalized_kl(True)},
    ),
    Case(
        "generalized-kl-measures",
        "generalized_kl_divergence",
        _measures(log_input=False),
        references={"optax": _optax_generalized_kl(False), "torch": _torch_generalized_kl(False)},
    ),
    Case(
        "generalized-kl-elementwise",
        "generalized_kl_divergence",
        _measures(log_input=True),
        {"from_log_probs": True, "axis": None},
        references={"torch": _torch_generalized_kl(True, summed=False)},
    ),
]
