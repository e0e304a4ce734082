"""The prior p(z): N(0, I) and the learned mixture, against torch.distributions and against each other."""

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence

from aevb.components.likelihoods import Bernoulli
from aevb.components.mixture_prior import MixturePrior
from aevb.components.posteriors import DiagonalNormalPosterior
from aevb.components.priors import StandardNormal
from aevb.errors import ConfigError
from aevb.estimators.sgvb import sgvb
from aevb.models.vae import VAE
from tiny_models import tiny


def diagonal(mean, log_var):
    return Independent(Normal(mean, torch.exp(0.5 * log_var)), 1)


def test_standard_normal_scores_samples_and_takes_the_kl_as_torch_distributions_does():
    torch.manual_seed(0)
    prior, z = StandardNormal(latent_dim=3), torch.randn(5, 4, 3) * 2
    reference = diagonal(torch.zeros(3), torch.zeros(3))
    torch.testing.assert_close(prior.log_prob(z), reference.log_prob(z))
    mean, log_var = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(prior.kl_from(mean, log_var), kl_divergence(diagonal(mean, log_var), reference))
    assert prior.sample((7, 2)).shape == (7, 2, 3)
    draws = prior.sample((4,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(draws, torch.randn(4, 3, generator=torch.Generator().manual_seed(1)))


def trained_looking_mixture(components=3, latent=2):
    torch.manual_seed(0)
    prior = MixturePrior(latent_dim=latent, components=components)
    with torch.no_grad():
        prior.log_vars.normal_(0, 0.5)
        prior.logits.normal_()
    return prior


def test_the_mixture_scores_as_torch_distributions_mixture_same_family():
    prior = trained_looking_mixture()
    reference = MixtureSameFamily(Categorical(logits=prior.logits), diagonal(prior.means, prior.log_vars))
    z = torch.randn(6, 5, 2) * 2
    torch.testing.assert_close(prior.log_prob(z), reference.log_prob(z))


def test_mixture_samples_have_the_mixtures_mean_and_variance():
    prior = trained_looking_mixture()
    reference = MixtureSameFamily(Categorical(logits=prior.logits), diagonal(prior.means, prior.log_vars))
    draws = prior.sample((200_000,), generator=torch.Generator().manual_seed(0))
    assert draws.shape == (200_000, 2)
    torch.testing.assert_close(draws.mean(0), reference.mean.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(draws.var(0), reference.variance.detach(), atol=0.03, rtol=0.02)


def test_a_one_component_mixture_at_the_origin_gives_the_standard_normal_bound():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((8, 1, 2, 3), 0.4))
    mean, log_var = torch.randn(8, 4), torch.randn(8, 4)
    decoder = torch.nn.Linear(4, 6)
    decode = lambda z: decoder(z).view(-1, 1, 2, 3)  # noqa: E731
    one = MixturePrior(latent_dim=4, components=1)
    for estimator in ("A", "B"):
        bounds = []
        for prior in (StandardNormal(latent_dim=4), one):
            torch.manual_seed(1)
            bounds.append(
                sgvb(
                    x, DiagonalNormalPosterior(mean, log_var), decode, Bernoulli(), prior, num_samples=3, estimator=estimator
                ).lower_bound
            )
        torch.testing.assert_close(bounds[1], bounds[0], atol=1e-5, rtol=0)
    assert torch.equal(one.log_prob(mean), StandardNormal(latent_dim=4).log_prob(mean))


def test_the_one_component_kl_is_the_gaussian_kl_and_the_mixture_learns():
    prior = trained_looking_mixture(components=1)
    mean, log_var = torch.randn(4, 2), torch.randn(4, 2)
    expected = kl_divergence(diagonal(mean, log_var), diagonal(prior.means[0], prior.log_vars[0]))
    torch.testing.assert_close(prior.kl_from(mean, log_var), expected)
    prior.kl_from(mean, log_var).sum().backward()
    assert prior.means.grad.abs().sum() > 0 and prior.log_vars.grad.abs().sum() > 0


def vae(prior, estimator="B", **options):
    return tiny(VAE, estimator=estimator, prior=prior, **options)


def test_estimator_b_with_a_prior_without_a_closed_form_kl_is_refused_naming_the_fix():
    mixture = lambda latent_dim: MixturePrior(latent_dim, components=3)  # noqa: E731
    with pytest.raises(ConfigError, match=r"model.estimator=B needs KL.*MixturePrior\(components=3.*use model.estimator=A"):
        vae(mixture)
    model = vae(mixture, estimator="A")
    assert model.bound_terms(torch.bernoulli(torch.full((5, 1, 4, 4), 0.5))).lower_bound.shape == (5,)


def test_a_learned_prior_keeps_its_initialisation_and_no_weight_decay():
    model = vae(lambda latent_dim: MixturePrior(latent_dim, components=1), init_std=0.01, weight_prior=True)
    assert torch.equal(model.prior.means, torch.zeros(1, 2)) and torch.equal(model.prior.log_vars, torch.zeros(1, 2))
    decayed, undecayed = model.parameter_groups(num_train=100)
    assert not any(p is q for p in decayed["params"] for q in model.prior.parameters())
    assert sum(p.numel() for p in decayed["params"]) + sum(p.numel() for p in undecayed["params"]) == sum(
        p.numel() for p in model.parameters()
    )
