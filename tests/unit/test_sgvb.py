"""The bound's math against torch.distributions, Monte Carlo and brute-force quadrature."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence

from aevb.components.distributions import diagonal_normal_log_density, kl_to_standard_normal, standard_normal_log_density
from aevb.components.likelihoods import Bernoulli, Gaussian
from aevb.components.posteriors import DiagonalNormalPosterior
from aevb.components.priors import StandardNormal
from aevb.estimators.sgvb import sgvb


def posterior(batch=4, latent=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, latent, generator=g), torch.randn(batch, latent, generator=g)


def test_kl_matches_torch_distributions():
    mean, log_var = posterior()
    q = Independent(Normal(mean, torch.exp(0.5 * log_var)), 1)
    p = Independent(Normal(torch.zeros_like(mean), torch.ones_like(mean)), 1)
    torch.testing.assert_close(kl_to_standard_normal(mean, log_var), kl_divergence(q, p))


def test_gaussian_log_densities_match_torch_distributions():
    mean, log_var = posterior()
    z = torch.randn(5, *mean.shape)
    q = Independent(Normal(mean, torch.exp(0.5 * log_var)), 1)
    torch.testing.assert_close(diagonal_normal_log_density(z, mean, log_var), q.log_prob(z))
    torch.testing.assert_close(standard_normal_log_density(z), Independent(Normal(0.0, torch.ones_like(mean)), 1).log_prob(z))


def test_reparameterised_samples_have_the_posterior_moments():
    torch.manual_seed(0)
    mean, log_var = torch.tensor([[1.5, -2.0]]), torch.tensor([[0.5, -1.0]])
    z = DiagonalNormalPosterior(mean, log_var).rsample(200_000)
    assert z.shape == (200_000, 1, 2)
    torch.testing.assert_close(z.mean(0), mean, atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), log_var.exp(), atol=0.02, rtol=0.02)


def test_gradients_flow_through_the_reparameterisation_to_encoder_and_decoder():
    torch.manual_seed(0)
    encoder, decoder = nn.Linear(6, 4), nn.Linear(2, 6)
    x = torch.bernoulli(torch.full((3, 1, 2, 3), 0.5))
    mean, log_var = encoder(x.flatten(1)).chunk(2, -1)
    terms = sgvb(
        x,
        DiagonalNormalPosterior(mean, log_var),
        lambda z: decoder(z).view(-1, 1, 2, 3),
        Bernoulli(),
        StandardNormal(3),
        num_samples=2,
    )
    (-terms.lower_bound.mean()).backward()
    for parameter in (*encoder.parameters(), *decoder.parameters()):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0
    # The KL term alone must also reach the encoder's variance output through the samples (estimator A).
    encoder.zero_grad()
    mean, log_var = encoder(x.flatten(1)).chunk(2, -1)
    sgvb(
        x,
        DiagonalNormalPosterior(mean, log_var),
        lambda z: decoder(z).view(-1, 1, 2, 3),
        Bernoulli(),
        StandardNormal(3),
        estimator="A",
    ).kl.sum().backward()
    assert encoder.weight.grad.abs().sum() > 0


def test_estimator_a_is_an_unbiased_estimate_of_estimator_b():
    torch.manual_seed(0)
    mean, log_var = posterior(batch=2)
    x = torch.rand(2, 1, 1, 3)
    decode = lambda z: torch.tanh(z).view(-1, 1, 1, 3)  # noqa: E731
    a = sgvb(
        x, DiagonalNormalPosterior(mean, log_var), decode, Bernoulli(), StandardNormal(3), num_samples=400_000, estimator="A"
    )
    b = sgvb(
        x, DiagonalNormalPosterior(mean, log_var), decode, Bernoulli(), StandardNormal(3), num_samples=400_000, estimator="B"
    )
    torch.testing.assert_close(a.kl, b.kl, atol=0.03, rtol=0.01)
    torch.testing.assert_close(a.lower_bound, b.lower_bound, atol=0.05, rtol=0.01)


def quadrature(fn, lo=-12.0, hi=12.0, n=200_001):
    """Integrate fn(z) over a 1-D latent on a fine grid (trapezoid rule)."""
    z = torch.linspace(lo, hi, n, dtype=torch.float64).unsqueeze(-1)
    return torch.trapezoid(fn(z), z.squeeze(-1), dim=0)


def test_elbo_matches_brute_force_integration_and_lies_below_log_evidence():
    """1-D latent, Gaussian decoder: the exact ELBO and log p(x) by quadrature."""
    torch.manual_seed(0)
    x = torch.tensor([[[[0.3, 0.8]]]], dtype=torch.float64)
    weights = torch.tensor([[1.0, -0.5], [0.2, 0.4]], dtype=torch.float64)

    def decode(z):  # mean through the sigmoid, log-variance linear in z
        raw = torch.stack(
            [
                z[..., 0] * weights[0, 0],
                z[..., 0] * weights[0, 1],
                -2 + z[..., 0] * weights[1, 0],
                -1 + z[..., 0] * weights[1, 1],
            ],
            -1,
        )
        return raw.view(-1, 2, 1, 2)

    likelihood = Gaussian()
    mean, log_var = torch.tensor([[0.4]], dtype=torch.float64), torch.tensor([[-0.7]], dtype=torch.float64)
    log_joint = lambda z: likelihood.log_prob(decode(z), x.expand(len(z), -1, -1, -1)) + standard_normal_log_density(z)  # noqa: E731
    log_q = lambda z: diagonal_normal_log_density(z, mean, log_var)  # noqa: E731
    exact_elbo = quadrature(lambda z: log_q(z).exp() * (log_joint(z) - log_q(z)))
    log_evidence = quadrature(lambda z: log_joint(z).exp()).log()

    estimate = sgvb(
        x, DiagonalNormalPosterior(mean, log_var), decode, likelihood, StandardNormal(1), num_samples=400_000
    ).lower_bound
    assert estimate.dtype == torch.float32  # reductions run in fp32
    assert abs(estimate.item() - exact_elbo.item()) < 0.01
    assert exact_elbo < log_evidence
    # The gap is KL(q || p(z|x)), which this q (not the true posterior) leaves strictly positive.
    assert log_evidence - exact_elbo > 1e-3


def test_minibatch_bound_is_the_mean_of_per_datapoint_sums():
    """Summed over pixels and latent dimensions, averaged over datapoints."""
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3))
    mean, log_var = posterior(batch=5, latent=3)
    logits = torch.randn(5, 1, 4, 4)
    terms = sgvb(x, DiagonalNormalPosterior(mean, log_var), lambda z: logits, Bernoulli(), StandardNormal(3), num_samples=1)
    by_hand = [
        torch.distributions.Bernoulli(logits=logits[i]).log_prob(x[i]).sum()
        - 0.5 * (mean[i].pow(2) + log_var[i].exp() - 1 - log_var[i]).sum()
        for i in range(5)
    ]
    torch.testing.assert_close(terms.lower_bound, torch.stack(by_hand))
    assert terms.lower_bound.shape == (5,)


def test_unknown_estimator_is_refused():
    mean, log_var = posterior()
    with pytest.raises(ValueError, match="estimator"):
        sgvb(
            torch.zeros(4, 1, 1, 1),
            DiagonalNormalPosterior(mean, log_var),
            lambda z: torch.zeros(len(z), 1, 1, 1),
            Bernoulli(),
            StandardNormal(3),
            estimator="C",
        )


def test_the_standard_normal_density_is_torch_distributions_summed_over_the_latent_dimension():
    z = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(0)) * 3
    reference = Independent(Normal(torch.zeros(3), torch.ones(3)), 1).log_prob(z)
    torch.testing.assert_close(standard_normal_log_density(z), reference)
    assert standard_normal_log_density(torch.zeros(1, 2)).item() == pytest.approx(-math.log(2 * math.pi))  # 2 x -1/2 log 2 pi


@pytest.mark.parametrize("likelihood", [Bernoulli(), Gaussian()], ids=["bernoulli", "gaussian"])
@pytest.mark.parametrize("estimator", ["A", "B"])
def test_under_bf16_autocast_the_networks_run_in_bf16_and_the_bound_in_fp32(likelihood, estimator):
    from aevb.components.networks import MLPDecoder, MLPEncoder

    torch.manual_seed(0)
    encoder = MLPEncoder((1, 8, 8), 4, hidden_dim=32)
    decoder = MLPDecoder((1, 8, 8), 4, likelihood.params_per_pixel, hidden_dim=32)
    x = (torch.rand(16, 1, 8, 8) < 0.5).float()
    outputs = []

    def decode(z):
        outputs.append(decoder(z))
        return outputs[-1]

    torch.manual_seed(1)
    exact = sgvb(
        x, DiagonalNormalPosterior(*encoder(x)), decoder, likelihood, StandardNormal(4), num_samples=2, estimator=estimator
    )
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = sgvb(
            x, DiagonalNormalPosterior(*encoder(x)), decode, likelihood, StandardNormal(4), num_samples=2, estimator=estimator
        )
    assert outputs[0].dtype == torch.bfloat16  # the decoder's matrix products ran in bf16
    assert mixed.log_likelihood.dtype == mixed.kl.dtype == torch.float32  # the sums over pixels and latents did not
    torch.testing.assert_close(mixed.lower_bound, exact.lower_bound, rtol=0.02, atol=0.5)
