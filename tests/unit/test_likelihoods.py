"""Each decoder likelihood's log-density against torch.distributions."""

import pytest
import torch
from torch.distributions import Bernoulli as TorchBernoulli
from torch.distributions import Normal

from aevb.components.likelihoods import Bernoulli, FixedVarianceGaussian, Gaussian

SHAPE = (3, 1, 4, 5)


def test_bernoulli_on_logits():
    torch.manual_seed(0)
    logits, x = torch.randn(SHAPE) * 3, torch.bernoulli(torch.full(SHAPE, 0.4))
    expected = TorchBernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(Bernoulli().log_prob(logits, x), expected)
    torch.testing.assert_close(Bernoulli().mean(logits), torch.sigmoid(logits))


def test_bernoulli_is_stable_for_extreme_logits():
    logits = torch.tensor([-200.0, 200.0]).view(1, 1, 1, 2)
    x = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    assert torch.isfinite(Bernoulli().log_prob(logits, x)).all()
    assert Bernoulli().log_prob(logits, x).item() == pytest.approx(0.0, abs=1e-6)


def test_gaussian_with_learned_variance_and_sigmoid_mean():
    torch.manual_seed(0)
    raw_mean, log_var, x = torch.randn(SHAPE), torch.randn(SHAPE), torch.rand(SHAPE)
    params = torch.cat([raw_mean, log_var], dim=1)
    expected = Normal(torch.sigmoid(raw_mean), torch.exp(0.5 * log_var)).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(Gaussian().log_prob(params, x), expected)
    torch.testing.assert_close(Gaussian(mean_activation="identity").mean(params), raw_mean)


def test_gaussian_log_variance_bounds_clamp():
    params = torch.cat([torch.zeros(1, 1, 1, 2), torch.tensor([-50.0, 50.0]).view(1, 1, 1, 2)], dim=1)
    x = torch.zeros(1, 1, 1, 2)
    _, log_var = Gaussian(min_log_var=-6.0, max_log_var=4.0).mean_and_log_var(params)
    assert log_var.flatten().tolist() == [-6.0, 4.0]
    expected = Normal(0.5, torch.exp(0.5 * torch.tensor([-6.0, 4.0]))).log_prob(x.flatten()).sum()
    torch.testing.assert_close(Gaussian(min_log_var=-6.0, max_log_var=4.0).log_prob(params, x), expected.view(1))
    with pytest.raises(ValueError, match="min_log_var"):
        Gaussian(min_log_var=1.0, max_log_var=0.0)


def test_fixed_variance_gaussian():
    torch.manual_seed(0)
    raw_mean, x = torch.randn(SHAPE), torch.rand(SHAPE)
    expected = Normal(torch.sigmoid(raw_mean), 0.2).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(FixedVarianceGaussian(std=0.2).log_prob(raw_mean, x), expected)
    with pytest.raises(ValueError, match="std"):
        FixedVarianceGaussian(std=0.0)


@pytest.mark.parametrize("likelihood", [Bernoulli(), Gaussian(), FixedVarianceGaussian()], ids=type)
def test_log_prob_broadcasts_over_leading_sample_dimension(likelihood):
    torch.manual_seed(0)
    k = likelihood.params_per_pixel
    params, x = torch.randn(7, 3, k, 4, 5), torch.bernoulli(torch.full((3, 1, 4, 5), 0.5))
    batched = likelihood.log_prob(params, x)
    assert batched.shape == (7, 3)
    torch.testing.assert_close(batched[2], likelihood.log_prob(params[2], x))


def test_unknown_mean_activation_is_refused():
    with pytest.raises(ValueError, match="mean_activation"):
        Gaussian(mean_activation="softmax")
