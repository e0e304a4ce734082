"""The importance-sampled log p(x) on a linear Gaussian model, whose exact log p(x) is known in closed form.

z ~ N(0, I_2), x | z ~ N(W z + b, s^2 I_4), so x ~ N(b, W W^T + s^2 I). With orthogonal columns in W
the exact posterior is a diagonal Gaussian, which q(z|x) can represent exactly.
"""

import math
from types import SimpleNamespace

import pytest
import torch

from aevb.components.likelihoods import Gaussian
from aevb.components.posteriors import DiagonalNormalPosterior
from aevb.components.priors import StandardNormal
from aevb.estimators.importance_sampling import importance_sampled_log_likelihood
from aevb.estimators.sgvb import sgvb

W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, -1.0]])  # orthogonal columns
B = torch.tensor([0.1, -0.3, 0.2, 0.5])
NOISE_LOG_VAR = math.log(0.5)
X = torch.tensor([[0.8, 1.1, -0.4, 0.2], [-1.0, 0.3, 0.9, -1.2], [0.0, 0.0, 0.0, 0.0]]).view(3, 1, 1, 4)


def exact_log_evidence(x):
    covariance = W @ W.T + math.exp(NOISE_LOG_VAR) * torch.eye(4)
    return torch.distributions.MultivariateNormal(B, covariance).log_prob(x.flatten(1))


def exact_posterior(x):
    precision = torch.eye(2) + W.T @ W / math.exp(NOISE_LOG_VAR)  # diagonal, as W's columns are orthogonal
    variance = 1 / precision.diagonal()
    mean = (x.flatten(1) - B) @ W / math.exp(NOISE_LOG_VAR) * variance
    return mean, variance.log().expand_as(mean)


def linear_gaussian(encoder):
    def decoder(z):
        mean = z @ W.T + B
        return torch.stack([mean, torch.full_like(mean, NOISE_LOG_VAR)], dim=-2).unsqueeze(-2)  # (..., 2, 1, 4)

    model = SimpleNamespace(
        encoder=encoder,
        posterior=lambda x: DiagonalNormalPosterior(*encoder(x)),
        decoder=decoder,
        likelihood=Gaussian(mean_activation="identity"),
        prior=StandardNormal(2),
    )
    model.log_joint = lambda x, z: model.likelihood.log_prob(decoder(z), x) + model.prior.log_prob(z)  # log p(x, z)
    return model


def test_with_the_exact_posterior_every_sample_gives_the_exact_log_evidence():
    torch.manual_seed(0)
    model = linear_gaussian(exact_posterior)
    for k in (1, 7):
        torch.testing.assert_close(importance_sampled_log_likelihood(model, X, k), exact_log_evidence(X), atol=1e-4, rtol=0)


def test_with_a_poor_posterior_it_converges_to_the_exact_value_from_below_and_the_elbo_stays_lower():
    torch.manual_seed(0)

    def poor_posterior(x):  # the right shape, but shifted and too wide
        mean, log_var = exact_posterior(x)
        return mean + 0.3, log_var + 0.5

    model = linear_gaussian(poor_posterior)
    exact = exact_log_evidence(X)
    repeats = X.repeat(400, 1, 1, 1)  # the expectation over the estimator's randomness, per datapoint

    def expected_estimate(k, data=repeats):
        return importance_sampled_log_likelihood(model, data, k, max_rows=3000).view(-1, len(X)).mean(0)

    elbo = sgvb(X, model.posterior(X), model.decoder, model.likelihood, model.prior, num_samples=100_000).lower_bound
    assert torch.all(elbo < exact - 0.1)  # the gap is KL(q || p(z|x)) > 0
    # E[log p_k] rises with k towards log p(x), and k = 1 is the ELBO
    by_k = {k: expected_estimate(k) for k in (1, 10)}
    torch.testing.assert_close(by_k[1], elbo, atol=0.1, rtol=0)
    assert torch.all(by_k[1] < by_k[10]) and torch.all(by_k[10] < exact)
    # k = 5000, in chunks of 3000 // 60 = 50 samples per datapoint, reaches the exact value
    torch.testing.assert_close(expected_estimate(5000, X.repeat(20, 1, 1, 1)), exact, atol=0.01, rtol=0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="num_samples=0"):
        importance_sampled_log_likelihood(linear_gaussian(exact_posterior), X, 0)
