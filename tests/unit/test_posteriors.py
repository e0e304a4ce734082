"""q(z|x) as an object: its density, entropy, KL and reparameterised samples against torch.distributions."""

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from aevb.components.mixture_prior import MixturePrior
from aevb.components.posteriors import DiagonalNormalPosterior
from aevb.components.priors import StandardNormal


def posterior_and_reference(batch=4, latent=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mean, log_var = torch.randn(batch, latent, generator=g), torch.randn(batch, latent, generator=g)
    return DiagonalNormalPosterior(mean, log_var), Independent(Normal(mean, torch.exp(0.5 * log_var)), 1)


def test_log_prob_and_entropy_are_those_of_torch_distributions():
    q, reference = posterior_and_reference()
    z = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(q.log_prob(z), reference.log_prob(z))
    torch.testing.assert_close(q.entropy(), reference.entropy())


@pytest.mark.parametrize("prior", [StandardNormal(3), MixturePrior(3, components=1)], ids=["standard_normal", "mixture_k1"])
def test_the_kl_to_a_prior_with_a_closed_form_is_that_of_torch_distributions(prior):
    with torch.no_grad():
        for parameter in prior.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    q, reference = posterior_and_reference()
    if isinstance(prior, MixturePrior):
        p = Independent(Normal(prior.means[0], torch.exp(0.5 * prior.log_vars[0])), 1)
    else:
        p = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    torch.testing.assert_close(q.kl_to(prior), kl_divergence(reference, p))


def test_rsample_with_given_draws_is_mean_plus_sigma_times_them_and_carries_gradients():
    mean, log_var = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    eps = torch.randn(2, 4, 3)
    z = DiagonalNormalPosterior(mean, log_var).rsample(2, eps)
    torch.testing.assert_close(z, mean + torch.exp(0.5 * log_var) * eps)
    z.sum().backward()
    torch.testing.assert_close(mean.grad, torch.full((4, 3), 2.0))
    torch.testing.assert_close(log_var.grad, (0.5 * torch.exp(0.5 * log_var) * eps).sum(0))


def test_fresh_samples_have_the_posterior_moments_and_shape():
    torch.manual_seed(0)
    q, reference = posterior_and_reference(batch=2, latent=2)
    z = q.rsample(200_000)
    assert z.shape == (200_000, 2, 2)
    torch.testing.assert_close(z.mean(0), reference.mean, atol=0.03, rtol=0)
    torch.testing.assert_close(z.var(0), reference.variance, atol=0.03, rtol=0.03)


def test_the_parameters_are_held_in_fp32_whatever_the_encoder_gave():
    q = DiagonalNormalPosterior(torch.zeros(2, 3, dtype=torch.bfloat16), torch.zeros(2, 3, dtype=torch.float64))
    assert q.mean.dtype == q.log_var.dtype == q.rsample(1).dtype == torch.float32


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="must match"):
        DiagonalNormalPosterior(torch.zeros(2, 3), torch.zeros(2, 4))
