"""HMC and the Appendix D estimator, where the answer is known exactly.

The model is the linear Gaussian of test_importance_sampling: its posterior p(z|x) is a known
Gaussian and its log p(x) is known in closed form.
"""

import pytest
import torch
from test_importance_sampling import X, exact_log_evidence, exact_posterior, linear_gaussian

from aevb.estimators.appendix_d import AppendixD, reciprocal_importance_log_likelihood
from aevb.estimators.hmc import adapt_step_size, hmc_samples, hmc_transition

MODEL = linear_gaussian(encoder=None)  # p(x, z) alone, as the Appendix D estimator needs
log_joint = MODEL.log_joint


def posterior_log_density(x, z):
    mean, log_var = exact_posterior(x)
    return torch.distributions.Normal(mean, (0.5 * log_var).exp()).log_prob(z).sum(-1)


def test_the_reciprocal_estimate_is_exact_when_q_is_the_posterior_whatever_the_samples():
    # q(z) / p(x, z) = p(z|x) / (p(z|x) p(x)) = 1 / p(x) at every z
    z = 3 * torch.randn(7, len(X), 2)  # not even posterior samples
    estimate = reciprocal_importance_log_likelihood(posterior_log_density(X, z), log_joint(X, z))
    torch.testing.assert_close(estimate.float(), exact_log_evidence(X), atol=1e-4, rtol=0)


def test_hmc_samples_have_the_posterior_mean_and_variance():
    torch.manual_seed(0)
    x = X.repeat(400, 1, 1, 1)  # 1200 independent chains
    samples, acceptance = hmc_samples(lambda z: log_joint(x, z), torch.randn(len(x), 2), 40, 100, leapfrog_steps=4)
    mean, log_var = exact_posterior(x)
    standardised = (samples - mean) / (0.5 * log_var).exp()  # N(0, I) if the chains sample the posterior
    assert standardised.mean().abs() < 0.05
    torch.testing.assert_close(standardised.flatten(0, 1).var(0), torch.ones(2), atol=0.06, rtol=0)
    assert 0.8 < acceptance.mean() < 0.97  # tuned towards 0.9 during burn-in


def test_hmc_rejects_a_diverging_trajectory_and_keeps_the_old_state():
    z = torch.zeros(3, 2)
    new_z, accept_probability = hmc_transition(lambda z: log_joint(X, z), z, torch.full((3, 1), 1e6), leapfrog_steps=3)
    assert torch.equal(new_z, z) and torch.all(accept_probability == 0)


def test_step_sizes_grow_when_acceptance_is_above_target_and_shrink_below():
    step = torch.ones(2, 1)
    adapted = adapt_step_size(step, torch.tensor([1.0, 0.0]), target=0.9)
    assert adapted[0] > 1 > adapted[1]


@pytest.mark.slow  # 10 s of HMC chains
def test_the_appendix_d_estimator_recovers_the_exact_log_evidence():
    torch.manual_seed(0)
    x = X.repeat(5, 1, 1, 1)
    estimator = AppendixD(posterior_samples=2000, leapfrog_steps=4, burn_in=100)
    terms = estimator(MODEL, x)
    estimate = terms["log_px_hmc"].view(5, len(X)).mean(0)  # its spread here is about 0.01 nats
    torch.testing.assert_close(estimate, exact_log_evidence(X), atol=0.03, rtol=0)
    assert torch.all((terms["hmc_acceptance"] > 0.7) & (terms["hmc_acceptance"] < 1))


def test_chains_start_at_the_best_of_many_prior_draws():
    torch.manual_seed(0)
    x = X.repeat(50, 1, 1, 1)
    estimator = AppendixD(initial_candidates=500, max_rows=1000)  # in chunks of 1000 // 150 = 6 candidates
    start = estimator.initial_state(MODEL, x)
    single = AppendixD(initial_candidates=1).initial_state(MODEL, x)
    assert torch.all(log_joint(x, start) > log_joint(x, single) - 1e-6)
    mean, log_var = exact_posterior(x)
    assert ((start - mean) / (0.5 * log_var).exp()).abs().max() < 3  # near the posterior, by the posterior's own scale


def test_the_appendix_d_estimator_runs_inside_inference_mode_as_evaluation_does():
    torch.manual_seed(0)
    with torch.inference_mode():
        terms = AppendixD(posterior_samples=20, burn_in=10)(MODEL, X)
    assert terms["log_px_hmc"].shape == (len(X),) and torch.isfinite(terms["log_px_hmc"]).all()


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"posterior_samples": 3}, "posterior_samples >= 4"),
        ({"leapfrog_steps": 0}, "leapfrog_steps >= 1"),
        ({"target_acceptance": 1.0}, "target_acceptance"),
        ({"initial_candidates": 0}, "initial_candidates >= 1"),
    ],
)
def test_bad_estimator_settings_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        AppendixD(**arguments)
