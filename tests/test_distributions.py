"""tritongrad.distributions: densities, entropies, moments and KL divergences against NumPy formulas written
here (MultivariateNormal against numpy.linalg), reparameterized gradients, sample statistics, validation
errors, cpu against cuda (interpreter), and against torch.distributions where torch is installed."""
import math

import numpy as np
import pytest

import tritongrad as tg
from tritongrad.distributions import (Bernoulli, Categorical, Independent, MultivariateNormal, Normal,
                                      OneHotCategorical, Uniform, kl_divergence)


def _t(a, device="cpu", dtype=tg.float64):
    return tg.tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)


def _np(t):
    return t.detach().cpu().numpy()


COV = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 0.7]])


def _mvn_logpdf(x, mu, cov):
    d = x - mu
    return -0.5 * (len(mu) * math.log(2 * math.pi) + np.linalg.slogdet(cov)[1] + d @ np.linalg.solve(cov, d))


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_densities_entropies_and_moments(device):
    dt = tg.float64 if device == "cpu" else tg.float32
    tol = dict(rtol=1e-9, atol=1e-12) if device == "cpu" else dict(rtol=1e-4, atol=1e-5)
    loc, scale, x = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 3.0]), np.array([0.3, 1.2, 4.0])
    n = Normal(_t(loc, device, dt), _t(scale, device, dt))
    np.testing.assert_allclose(_np(n.log_prob(_t(x, device, dt))),
                               -(x - loc) ** 2 / (2 * scale ** 2) - np.log(scale) - 0.5 * math.log(2 * math.pi), **tol)
    np.testing.assert_allclose(_np(n.entropy()), 0.5 + 0.5 * math.log(2 * math.pi) + np.log(scale), **tol)
    np.testing.assert_allclose(_np(n.variance), scale ** 2, **tol)
    u = Uniform(_t([0.0, -1.0], device, dt), _t([2.0, 3.0], device, dt), validate_args=False)   # 3.5: outside
    np.testing.assert_allclose(_np(u.log_prob(_t([1.0, 3.5], device, dt))), [-math.log(2), -np.inf], **tol)
    np.testing.assert_allclose(_np(u.mean), [1.0, 1.0], **tol)
    np.testing.assert_allclose(_np(u.variance), [4 / 12, 16 / 12], **tol)
    p = np.array([0.2, 0.9])
    b = Bernoulli(probs=_t(p, device, dt))
    np.testing.assert_allclose(_np(b.log_prob(_t([1.0, 0.0], device, dt))), [math.log(0.2), math.log(0.1)], **tol)
    np.testing.assert_allclose(_np(b.entropy()), -(p * np.log(p) + (1 - p) * np.log(1 - p)), **tol)
    logits = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    c = Categorical(logits=_t(logits, device, dt))
    np.testing.assert_allclose(_np(c.log_prob(tg.tensor([2, 1], device=device))),
                               np.log(probs[[0, 1], [2, 1]]), **tol)
    np.testing.assert_allclose(_np(c.entropy()), -(probs * np.log(probs)).sum(-1), **tol)
    oh = OneHotCategorical(probs=_t(probs, device, dt))
    np.testing.assert_allclose(_np(oh.log_prob(_t([[0, 0, 1], [0, 1, 0]], device, dt))),
                               np.log(probs[[0, 1], [2, 1]]), **tol)
    mu = np.array([0.5, -1.0, 2.0])
    mvn = MultivariateNormal(_t(mu, device, dt), covariance_matrix=_t(COV, device, dt))
    xv = np.array([0.1, 0.2, 1.5])
    np.testing.assert_allclose(_np(mvn.log_prob(_t(xv, device, dt))), _mvn_logpdf(xv, mu, COV), **tol)
    np.testing.assert_allclose(_np(mvn.entropy()),
                               0.5 * (3 * (1 + math.log(2 * math.pi)) + np.linalg.slogdet(COV)[1]), **tol)
    np.testing.assert_allclose(_np(mvn.covariance_matrix), COV, **tol)
    np.testing.assert_allclose(_np(mvn.scale_tril), np.linalg.cholesky(COV), **tol)
    prec = MultivariateNormal(_t(mu, device, dt), precision_matrix=_t(np.linalg.inv(COV), device, dt))
    np.testing.assert_allclose(_np(prec.covariance_matrix), COV, rtol=1e-6 if device == "cpu" else 1e-3, atol=1e-6)
    ind = Independent(Normal(_t(loc, device, dt), _t(scale, device, dt)), 1)
    assert ind.batch_shape == () and ind.event_shape == (3,)
    np.testing.assert_allclose(_np(ind.log_prob(_t(x, device, dt))), _np(n.log_prob(_t(x, device, dt))).sum(), **tol)


def test_kl_divergences_against_closed_forms():
    p, q = Normal(_t([0.0, 1.0]), _t([1.0, 2.0])), Normal(_t([1.0, 1.0]), _t([2.0, 0.5]))
    r = (np.array([1.0, 2.0]) / np.array([2.0, 0.5])) ** 2
    ref = 0.5 * (r + ((np.array([0.0, 1.0]) - np.array([1.0, 1.0])) / np.array([2.0, 0.5])) ** 2 - 1 - np.log(r))
    np.testing.assert_allclose(_np(kl_divergence(p, q)), ref, rtol=1e-12)
    pa, qa = np.array([0.2, 0.5, 0.3]), np.array([0.1, 0.1, 0.8])
    np.testing.assert_allclose(float(kl_divergence(Categorical(_t(pa)), Categorical(_t(qa)))),
                               (pa * np.log(pa / qa)).sum(), rtol=1e-12)
    assert float(kl_divergence(Categorical(_t([0.5, 0.5])), Categorical(_t([1.0, 0.0])))) == math.inf
    np.testing.assert_allclose(float(kl_divergence(Bernoulli(_t(0.3)), Bernoulli(_t(0.6)))),
                               0.3 * math.log(0.3 / 0.6) + 0.7 * math.log(0.7 / 0.4), rtol=1e-12)
    np.testing.assert_allclose(float(kl_divergence(Uniform(_t(0.0), _t(1.0)), Uniform(_t(-1.0), _t(2.0)))),
                               math.log(3), rtol=1e-12)
    assert float(kl_divergence(Uniform(_t(-2.0), _t(1.0)), Uniform(_t(-1.0), _t(2.0)))) == math.inf
    mu0, mu1 = np.array([0.5, -1.0, 2.0]), np.array([0.0, 0.0, 1.0])
    cov1 = np.diag([1.0, 2.0, 0.5])
    kl = kl_divergence(MultivariateNormal(_t(mu0), _t(COV)), MultivariateNormal(_t(mu1), _t(cov1)))
    inv1 = np.linalg.inv(cov1)
    ref = 0.5 * (np.trace(inv1 @ COV) + (mu1 - mu0) @ inv1 @ (mu1 - mu0) - 3 + np.linalg.slogdet(cov1)[1]
                 - np.linalg.slogdet(COV)[1])
    np.testing.assert_allclose(float(kl), ref, rtol=1e-10)
    with pytest.raises(NotImplementedError, match="No KL"):
        kl_divergence(Normal(_t(0.0), _t(1.0)), Bernoulli(_t(0.5)))


def test_rsample_is_differentiable_and_samples_have_the_right_statistics():
    tg.manual_seed(0)
    loc = tg.tensor([1.0, -2.0], requires_grad=True)
    scale = tg.tensor([0.5, 2.0], requires_grad=True)
    s = Normal(loc, scale).rsample((4000,))
    assert s.shape == (4000, 2)
    s.mean().backward()
    np.testing.assert_allclose(_np(loc.grad), [0.5, 0.5], rtol=1e-4)   # 4000 fp32 terms of 1/8000
    np.testing.assert_allclose(_np(s.mean(0)), [1.0, -2.0], atol=0.1)
    np.testing.assert_allclose(_np(s.std(0)), [0.5, 2.0], rtol=0.06)
    c = Categorical(probs=tg.tensor([0.1, 0.6, 0.3])).sample((6000,))
    np.testing.assert_allclose(np.bincount(_np(c), minlength=3) / 6000, [0.1, 0.6, 0.3], atol=0.03)
    bern = Bernoulli(probs=tg.tensor([0.25])).sample((4000,))
    assert set(np.unique(_np(bern))) <= {0.0, 1.0} and abs(_np(bern).mean() - 0.25) < 0.03
    mvn = MultivariateNormal(tg.zeros(3), covariance_matrix=tg.tensor(COV, dtype=tg.float32))
    x = _np(mvn.sample((8000,)))
    np.testing.assert_allclose(np.cov(x.T), COV, atol=0.12)
    u = _np(Uniform(tg.tensor(2.0), tg.tensor(5.0)).sample((2000,)))
    assert u.min() >= 2.0 and u.max() < 5.0


def test_validation_errors():
    with pytest.raises(ValueError, match="Expected parameter scale .* GreaterThan"):
        Normal(tg.zeros(2), -tg.ones(2))
    Normal(tg.zeros(2), -tg.ones(2), validate_args=False)
    with pytest.raises(ValueError, match="Expected parameter probs .* Interval"):
        Bernoulli(probs=tg.tensor([1.5]))
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        Categorical()
    with pytest.raises(ValueError, match="within the support"):
        Bernoulli(probs=tg.tensor([0.5])).log_prob(tg.tensor([0.5]))
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix"):
        MultivariateNormal(tg.zeros(2))
    with pytest.raises(ValueError, match="Uniform is not defined when low >= high"):
        Uniform(tg.tensor(1.0), tg.tensor(0.0))


def test_matches_torch_distributions():
    torch = pytest.importorskip("torch", reason="torch is an optional peer: this check runs where it is installed")
    td = torch.distributions
    x = np.array([0.3, -1.2, 2.0])
    cases = [
        (Normal(_t([0.0, 1.0, 2.0]), _t([1.0, 0.5, 2.0])), td.Normal(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64),
                                                                      torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)),
         x),
        (MultivariateNormal(_t([0.0, 1.0, 2.0]), _t(COV)), td.MultivariateNormal(
            torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), torch.tensor(COV)), x),
    ]
    for ours, theirs, value in cases:
        np.testing.assert_allclose(_np(ours.log_prob(_t(value))), theirs.log_prob(torch.tensor(value)).numpy(),
                                   rtol=1e-10)
        np.testing.assert_allclose(_np(ours.entropy()), theirs.entropy().numpy(), rtol=1e-10)
