"""The importance-weighted bound L_k (Burda et al. 2016) and the IWAE model that trains on it."""

import pytest
import torch
from test_importance_sampling import X, exact_log_evidence, exact_posterior, linear_gaussian

from aevb.components.posteriors import DiagonalNormalPosterior
from aevb.estimators.importance_weights import importance_weighted_bound, log_importance_weights
from aevb.estimators.sgvb import sgvb
from aevb.models.iwae import IWAE
from tiny_models import tiny


def iwae(importance_samples=5, **options):
    return tiny(IWAE, importance_samples=importance_samples, **options)


def test_one_importance_sample_is_the_elbo_of_estimator_a():
    torch.manual_seed(0)
    model, x = iwae(importance_samples=1), torch.bernoulli(torch.full((6, 1, 4, 4), 0.5))
    torch.manual_seed(1)
    one = model.importance_weighted_bound(x)
    torch.manual_seed(1)
    elbo = sgvb(x, model.posterior(x), model.decoder, model.likelihood, model.prior, num_samples=1, estimator="A")
    torch.testing.assert_close(one, elbo.lower_bound, atol=1e-5, rtol=0)


def test_the_bound_rises_with_k_towards_the_exact_log_evidence_of_a_linear_gaussian_model():
    torch.manual_seed(0)

    def poor_posterior(x):  # the right shape, but shifted and too wide
        mean, log_var = exact_posterior(x)
        return mean + 0.3, log_var + 0.5

    model, exact = linear_gaussian(poor_posterior), exact_log_evidence(X)
    repeats = X.repeat(2000, 1, 1, 1)  # the expectation over the draws, per datapoint
    posterior = DiagonalNormalPosterior(*poor_posterior(repeats))

    def expected_bound(k):
        weights = log_importance_weights(repeats, posterior, model.decoder, model.likelihood, model.prior, k)
        return importance_weighted_bound(weights).view(-1, len(X)).mean(0)

    by_k = {k: expected_bound(k) for k in (1, 5, 50)}
    assert torch.all(by_k[1] < by_k[5] - 0.05) and torch.all(by_k[5] < by_k[50]) and torch.all(by_k[50] < exact + 0.01)
    assert torch.all(exact - by_k[50] < 0.3 * (exact - by_k[1]))  # most of the ELBO's gap is closed at k = 50


def test_with_the_exact_posterior_every_k_gives_the_exact_log_evidence():
    model = linear_gaussian(exact_posterior)
    posterior = DiagonalNormalPosterior(*exact_posterior(X))
    for k in (1, 3):
        weights = log_importance_weights(X, posterior, model.decoder, model.likelihood, model.prior, k)
        torch.testing.assert_close(importance_weighted_bound(weights), exact_log_evidence(X), atol=1e-4, rtol=0)


def test_the_training_loss_is_minus_the_bound_and_reaches_both_networks():
    torch.manual_seed(0)
    model = iwae(importance_samples=4)
    loss, scalars = model.training_loss(torch.bernoulli(torch.full((5, 1, 4, 4), 0.5)))
    loss.backward()
    assert loss.item() == pytest.approx(-scalars["importance_weighted_bound"].item())
    for network in (model.encoder, model.decoder):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters())
    assert model.algorithm == "IWAE" and model.selection_term == "importance_weighted_bound"


def test_iwae_refuses_settings_that_do_not_apply():
    with pytest.raises(ValueError, match="model.importance_samples=0"):
        iwae(importance_samples=0)
    with pytest.raises(ValueError, match="model.kl_weight=0.5 .* IWAE trains L_k"):
        iwae(kl_weight=0.5)


def test_under_a_k_sample_bound_the_evaluation_reports_it_beside_the_elbo():
    torch.manual_seed(0)
    terms = iwae(importance_samples=20).evaluation_terms(torch.bernoulli(torch.full((7, 1, 4, 4), 0.5)))
    assert set(terms) == {"lower_bound", "log_likelihood", "kl", "importance_weighted_bound"}
    assert all(value.shape == (7,) for value in terms.values())
