"""The fitted q(z) of the Appendix D estimator: the kernel density estimate, its bandwidth, and the diagonal Gaussian."""

import torch

from aevb.estimators.density_estimation import DiagonalGaussian, GaussianKDE, fit_density, fit_kde


def test_the_kernel_density_is_a_mixture_of_gaussians_on_the_samples():
    torch.manual_seed(0)
    samples = torch.randn(6, 2, 3)  # 6 samples for each of 2 datapoints
    factor = torch.tensor([0.5, 1.3])
    kde = GaussianKDE(samples, factor)
    z = torch.randn(4, 2, 3)
    for b in range(2):
        covariance = torch.cov(samples[:, b].T.double()) * factor[b].double() ** 2
        mixture = torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(torch.ones(6, dtype=torch.float64)),
            torch.distributions.MultivariateNormal(samples[:, b].double(), covariance_matrix=covariance),
        )
        torch.testing.assert_close(kde.log_prob(z)[:, b], mixture.log_prob(z[:, b].double()))


def test_the_fitted_bandwidth_maximises_the_held_out_density():
    torch.manual_seed(0)
    samples = torch.randn(200, 1, 2)
    kde = fit_kde(samples)
    fresh = torch.randn(2000, 1, 2)
    fitted = kde.log_prob(fresh).mean()
    for factor in (0.02, 5.0):  # far too narrow, far too wide
        assert GaussianKDE(samples, torch.tensor([factor])).log_prob(fresh).mean() < fitted


def test_few_samples_get_a_diagonal_gaussian_and_enough_samples_a_kde():
    torch.manual_seed(0)
    samples = torch.randn(7, 2, 3) * torch.tensor([1.0, 2.0, 0.5])
    few = fit_density(samples)  # 7 < 4 per dimension
    assert isinstance(few, DiagonalGaussian) and isinstance(fit_density(torch.randn(12, 2, 3)), GaussianKDE)
    z = torch.randn(4, 2, 3)
    expected = torch.distributions.Normal(samples.double().mean(0), samples.double().std(0, correction=0)).log_prob(z.double())
    torch.testing.assert_close(few.log_prob(z), expected.sum(-1))
