"""Probabilistic losses beyond the conformance cases: Keras and torch class objects
with weights and reductions, torch's reductions, the variance rules of the Gaussian
NLL, config round trips and bad options.

Expected values come from the frameworks' own losses called live, or from hand
checks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import selected

import unilosses as ul
from unilosses.testing import assert_close, to_numpy

B, D = 6, 4
KERAS_REDUCTIONS = ("none", "sum", "sum_over_batch_size", "mean_with_sample_weight")


def _dists(rng):
    return rng.dirichlet(np.full(D, 2.0), B).astype(np.float32), rng.dirichlet(np.full(D, 2.0), B).astype(np.float32)


def _counts(rng):
    return rng.poisson(2.0, (B, D)).astype(np.float32), rng.uniform(0.1, 4.0, (B, D)).astype(np.float32)


def _gauss(rng, var_shape=(B, D)):
    y = rng.standard_normal((B, D)).astype(np.float32)
    mu = (y + rng.standard_normal((B, D))).astype(np.float32)
    return y, mu, rng.uniform(0.1, 2.0, var_shape).astype(np.float32)


def _weights(rng, shape=(B,)):
    w = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    w.flat[0] = 0.0
    return w


# ------------------------------------------------------ Keras class objects
@pytest.mark.parametrize(("cls", "data"), [("KLDivergence", _dists), ("Poisson", _counts)])
def test_class_matches_keras_class(cls, data, backend, rng):
    keras = pytest.importorskip("keras")
    y, p = data(rng)
    w = _weights(rng)
    for reduction in KERAS_REDUCTIONS:
        expected = to_numpy(getattr(keras.losses, cls)(reduction=reduction)(y, p, sample_weight=w))
        out = getattr(ul, cls)(reduction=reduction)(backend.asarray(y), backend.asarray(p), backend.asarray(w))
        assert_close(out, expected, rtol=2e-5, atol=1e-6, like=backend.asarray(p))


# ---------------------------------------------------------- torch mappings
def test_kl_div_batchmean_is_sum_over_batch_size(rng):
    """torch's kl_div(reduction="batchmean") == unilosses' sum over the last axis, averaged over the batch."""
    torch = pytest.importorskip("torch")
    y, p = _dists(rng)
    expected = torch.nn.functional.kl_div(torch.log(torch.as_tensor(p)), torch.as_tensor(y), reduction="batchmean")
    assert_close(ul.kl_divergence(y, p, reduction="sum_over_batch_size"), expected.numpy(), rtol=1e-5)
    assert_close(ul.KLDivergence()(y, p), expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize(("t_red", "u_red"), [("mean", "sum_over_batch_size"), ("sum", "sum")])
def test_torch_poisson_nll_module(t_red, u_red, backend, rng):
    """torch.nn.PoissonNLLLoss() (log_input=True) == ul.Poisson(log_input=True, axis=None)."""
    torch = pytest.importorskip("torch")
    y, _ = _counts(rng)
    z = rng.standard_normal((B, D)).astype(np.float32)
    for full in (False, True):
        expected = torch.nn.PoissonNLLLoss(full=full, reduction=t_red)(torch.as_tensor(z), torch.as_tensor(y)).numpy()
        loss = ul.Poisson(log_input=True, full=full, axis=None, reduction=u_red)
        assert_close(loss(backend.asarray(y), backend.asarray(z)), expected, rtol=1e-5, like=backend.asarray(z))


@pytest.mark.parametrize(("t_red", "u_red"), [("mean", "sum_over_batch_size"), ("sum", "sum"), ("none", "none")])
@pytest.mark.parametrize("var_shape", [(B, D), (B,), (B, 1)], ids=["var(B,D)", "var(B)", "var(B,1)"])
def test_torch_gaussian_nll_module(var_shape, t_red, u_red, backend, rng):
    """torch.nn.GaussianNLLLoss()(mu, y, var) == ul.GaussianNLL(axis=None)(y, mu, var=var)."""
    torch = pytest.importorskip("torch")
    y, mu, var = _gauss(rng, var_shape)
    for full in (False, True):
        expected = torch.nn.GaussianNLLLoss(full=full, reduction=t_red)(
            torch.as_tensor(mu), torch.as_tensor(y), torch.as_tensor(var)
        ).numpy()
        loss = ul.GaussianNLL(full=full, axis=None, reduction=u_red)
        out = loss(backend.asarray(y), backend.asarray(mu), var=backend.asarray(var))
        assert_close(out, expected, rtol=1e-5, atol=1e-6, like=backend.asarray(mu))


def test_gaussian_nll_var_is_an_input(rng):
    """``var`` is the loss's third input (torch's order), by position or by name, for the
    function and the class; a fourth positional argument of the class is the sample weight."""
    y, mu, var = _gauss(rng)
    loss = ul.GaussianNLL()
    expected = ul.gaussian_nll(y, mu, var=var, reduction="mean")
    assert_close(ul.gaussian_nll(y, mu, var, reduction="mean"), expected)
    assert_close(loss(y, mu, var), expected)
    assert_close(loss(y, mu, var=var), expected)
    assert_close(loss(y, mu, 0.5), ul.gaussian_nll(y, mu, var=0.5, reduction="mean"))
    w = rng.uniform(0.5, 2.0, y.shape[0]).astype(np.float32)
    assert_close(loss(y, mu, var, w), ul.gaussian_nll(y, mu, var, sample_weight=w, reduction="mean"))
    with pytest.raises(TypeError, match="missing input.*'var'"):
        loss(y, mu)
    with pytest.raises(TypeError, match="unexpected option.*'var'|unexpected argument"):
        ul.GaussianNLL(var=0.5)


def test_gaussian_nll_hand_checked(backend):
    a = backend.asarray
    y, mu = a(np.array([[1.0, 2.0]], np.float32)), a(np.array([[1.0, 0.0]], np.float32))
    var = a(np.array([[1.0, 4.0]], np.float32))
    # 0.5 * (log 1 + 0) = 0; 0.5 * (log 4 + 4 / 4)
    assert_close(ul.gaussian_nll(y, mu, var=var, axis=None), np.array([[0.0, 0.5 * (math.log(4) + 1)]], np.float32), atol=1e-7)
    full = 0.5 * math.log(2 * math.pi)
    assert_close(ul.gaussian_nll(y, mu, var=var, full=True), np.array([0.25 * (math.log(4) + 1) + full], np.float32), rtol=1e-6)
    # a variance below eps is clamped to eps: 0.5 * log(1e-6) for a zero error
    assert_close(ul.gaussian_nll(y, y, var=0.0, axis=None), np.full((1, 2), 0.5 * math.log(1e-6), np.float32), rtol=1e-6)


@pytest.mark.parametrize("var_shape", [(B, D + 1), (D,), (B, 2, 1), (1, 1, D)])
def test_gaussian_nll_bad_var_shape(var_shape, rng):
    y, mu, _ = _gauss(rng)
    with pytest.raises(ValueError, match=r"var: expected a scalar"):
        ul.gaussian_nll(y, mu, var=np.ones(var_shape, np.float32))


def test_gaussian_nll_negative_var(rng):
    y, mu, var = _gauss(rng)
    var[1, 2] = -0.5
    with pytest.raises(ValueError, match="var: expected non-negative"):
        ul.gaussian_nll(y, mu, var=var)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="var: expected non-negative"):
        ul.gaussian_nll(torch.as_tensor(y), torch.as_tensor(mu), var=torch.as_tensor(var))


@selected("jax")
def test_gaussian_nll_negative_var_under_jit_is_nan(rng):
    """Without host values (jax.jit) a negative variance gives NaN in its sample only."""
    jax = pytest.importorskip("jax")
    y, mu, var = _gauss(rng)
    var[1, 2] = -0.5
    out = np.asarray(jax.jit(lambda y, m, v: ul.gaussian_nll(y, m, var=v))(y, mu, var))
    assert np.isnan(out[1]) and np.all(np.isfinite(np.delete(out, 1)))


def test_gaussian_nll_missing_var(rng):
    y, mu, _ = _gauss(rng)
    with pytest.raises(TypeError, match="missing input.*'var'"):
        ul.gaussian_nll(y, mu)


def test_poisson_hand_checked(backend):
    a = backend.asarray
    y, r = a(np.array([[0.0, 2.0, 3.0]], np.float32)), a(np.array([[1.0, 1.0, 2.0]], np.float32))
    # rate - y * log(rate + 1e-7)
    expected = np.array([[1.0, 1.0 - 2 * math.log(1 + 1e-7), 2.0 - 3 * math.log(2 + 1e-7)]], np.float32)
    assert_close(ul.poisson(y, r, axis=None), expected, rtol=1e-6)
    # Stirling's term for y > 1 only: y log y - y + 0.5 log(2 pi y)
    stirling = [0.0, 0.0, 3 * math.log(3) - 3 + 0.5 * math.log(6 * math.pi)]
    y2 = a(np.array([[0.0, 1.0, 3.0]], np.float32))
    out = to_numpy(ul.poisson(y2, r, full=True, axis=None)) - to_numpy(ul.poisson(y2, r, axis=None))
    np.testing.assert_allclose(out, [stirling], rtol=1e-5, atol=1e-6)


def test_kl_divergence_hand_checked(backend):
    a = backend.asarray
    y, p = a(np.array([[0.5, 0.5, 0.0]], np.float32)), a(np.array([[0.25, 0.75, 0.0]], np.float32))
    # zeros are clipped to 1e-7 in both: the last term is 1e-7 * log(1) = 0
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert_close(ul.kl_divergence(y, p), np.array([expected], np.float32), rtol=1e-6)
    assert_close(ul.kl_divergence(y, p, axis=None)[..., 2], np.array([0.0], np.float32))


# ------------------------------------------------------- config and registry
@pytest.mark.parametrize(
    ("cls", "options"),
    [
        ("KLDivergence", {"axis": None}),
        ("Poisson", {"log_input": True, "full": True, "epsilon": 1e-8, "axis": None}),
        ("GaussianNLL", {"full": True, "eps": 1e-3}),
    ],
)
def test_config_round_trip(cls, options, rng, config_round_trip):
    loss, again = config_round_trip(getattr(ul, cls), options)
    y = rng.uniform(0.1, 1.0, (2, 3)).astype(np.float32)
    p = rng.uniform(0.1, 1.0, (2, 3)).astype(np.float32)
    extra = (np.array([[0.5], [2.0]], np.float32),) if cls == "GaussianNLL" else ()
    assert_close(again(y, p, *extra), to_numpy(loss(y, p, *extra)))


def test_get_by_name():
    assert ul.get("kld") is ul.kl_divergence
    assert ul.get("kl_divergence") is ul.kl_divergence
    assert ul.get("poisson") is ul.poisson
    assert ul.get("gaussian_nll") is ul.gaussian_nll
    assert isinstance(ul.get("Poisson"), ul.Poisson)
    assert ul.get({"class_name": "Poisson", "config": {"log_input": True}}).get_config()["log_input"] is True


# --------------------------------------------------------------- bad options
@pytest.mark.parametrize(
    ("fn", "options", "exc", "match"),
    [
        (ul.poisson, {"log_input": "yes"}, TypeError, r"log_input: expected True or False"),
        (ul.poisson, {"full": 1}, TypeError, r"full: expected True or False"),
        (ul.poisson, {"epsilon": 0.0}, ValueError, r"epsilon: expected a value in \(0"),
        (ul.gaussian_nll, {"eps": 0.0, "var": 1.0}, ValueError, r"eps: expected a value in \(0"),
        (ul.gaussian_nll, {"full": "no", "var": 1.0}, TypeError, r"full: expected True or False"),
        (ul.kl_divergence, {"axis": 3}, ValueError, r"axis: expected an axis in \[-2, 1\]"),
        (ul.kl_divergence, {"epsilon": 0.1}, TypeError, r"unexpected option.*epsilon"),
    ],
)
def test_bad_options(fn, options, exc, match, rng):
    y, p = _counts(rng)
    with pytest.raises(exc, match=match):
        fn(y, p, **options)


def test_bad_options_in_constructor():
    with pytest.raises(TypeError, match="log_input"):
        ul.Poisson(log_input=None)
    with pytest.raises(ValueError, match="eps"):
        ul.GaussianNLL(eps=-1.0)


def test_gaussian_nll_var_gradient_matches_torch(rng):
    """d loss / d var and d loss / d mu: unilosses through torch autograd == torch's own loss."""
    torch = pytest.importorskip("torch")
    y, mu, var = _gauss(rng)

    def grads(fn):
        m, v = torch.tensor(mu, requires_grad=True), torch.tensor(var, requires_grad=True)
        out = fn(torch.as_tensor(y), m, v)
        return [g.numpy() for g in torch.autograd.grad(out, [m, v])]

    ours = grads(lambda y, m, v: ul.gaussian_nll(y, m, var=v, axis=None, reduction="mean"))
    theirs = grads(lambda y, m, v: torch.nn.functional.gaussian_nll_loss(m, y, v))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@selected("tensorflow")
def test_gaussian_nll_under_tf_function(rng):
    tf = pytest.importorskip("tensorflow")
    y, mu, var = _gauss(rng)
    fn = tf.function(lambda y, m, v: ul.gaussian_nll(y, m, var=v))
    assert_close(fn(y, mu, var), ul.gaussian_nll(y, mu, var=var), rtol=1e-6)
    var[2, 0] = -1.0  # no host values inside tf.function: NaN in that sample, not an error
    out = fn(y, mu, var).numpy()
    assert np.isnan(out[2]) and np.all(np.isfinite(np.delete(out, 2)))


# ------------------------------------------------ generalized KL divergence
def test_generalized_kl_of_distributions_is_the_kl_divergence(backend, rng):
    """sum(p) = sum(y) = 1: the extra terms cancel (away from Keras' clip of the KL divergence)."""
    y, p = _dists(rng)
    yb, pb = backend.asarray(y), backend.asarray(p)
    expected = to_numpy(ul.kl_divergence(yb, pb))
    assert_close(ul.generalized_kl_divergence(yb, pb), expected, rtol=1e-5, atol=1e-6)
    assert_close(ul.generalized_kl_divergence(yb, backend.asarray(np.log(p)), from_log_probs=True), expected, rtol=1e-5, atol=1e-6)


def test_generalized_kl_by_hand_and_zeros(backend):
    """y log(y / p) - y + p per element, 0 log 0 = 0; p = 0 is floored at epsilon in the log."""
    y = np.array([[1.0, 2.0, 0.0, 0.0]])
    p = np.array([[2.0, 2.0, 0.5, 0.0]])
    expected = np.array([np.log(0.5) - 1 + 2, 0.0, 0.5, 0.0])
    out = ul.generalized_kl_divergence(backend.asarray(y), backend.asarray(p), axis=None)
    assert_close(out, expected[None], rtol=1e-6, atol=1e-7)
    y0 = np.array([[1.0, 1.0]])
    out = to_numpy(ul.generalized_kl_divergence(backend.asarray(y0), backend.asarray(np.array([[0.0, 1.0]])), epsilon=1e-4))
    np.testing.assert_allclose(out, [-np.log(1e-4) - 1], rtol=1e-6)


def test_generalized_kl_where_is_the_loss_on_the_kept_elements(backend, rng):
    """optax's test_mask: where=m sums only the kept elements; a row with none leaves the mean."""
    y, p = _dists(rng)
    m = rng.uniform(size=y.shape) < 0.5
    m[:, 0] = True
    m[1] = False
    expected = np.array([0.0 if not m[i].any() else to_numpy(ul.generalized_kl_divergence(y[i][m[i]], p[i][m[i]])) for i in range(len(y))])
    yb, pb = backend.asarray(y), backend.asarray(p)
    assert_close(ul.generalized_kl_divergence(yb, pb, where=backend.asarray(m)), expected.astype(p.dtype), rtol=1e-5, atol=1e-6, like=pb)
    mean = ul.generalized_kl_divergence(yb, pb, where=m, reduction="mean")
    assert_close(mean, np.delete(expected, 1).mean().astype(p.dtype), rtol=1e-5, atol=1e-6)
    elements = ul.generalized_kl_divergence(yb, pb, where=m, axis=None)
    assert_close(elements, np.where(m, to_numpy(ul.generalized_kl_divergence(y, p, axis=None)), 0.0).astype(p.dtype), rtol=1e-5, atol=1e-6)


def test_generalized_kl_names_and_config(rng, config_round_trip):
    """optax's deprecated name convex_kl_divergence is the same function (get, attribute)."""
    assert ul.convex_kl_divergence is ul.generalized_kl_divergence
    assert ul.get("convex_kl_divergence") is ul.generalized_kl_divergence
    assert ul.serialize(ul.convex_kl_divergence) == "generalized_kl_divergence"
    loss, again = config_round_trip(ul.GeneralizedKLDivergence, {"from_log_probs": True, "axis": None})
    y, z = _dists(rng)
    np.testing.assert_allclose(again(y, z), loss(y, z))
    with pytest.raises(TypeError, match=r"from_log_probs: expected True or False"):
        ul.GeneralizedKLDivergence(from_log_probs=1)
