"""Densities fitted to posterior samples, one per datapoint: the q(z) of the paper's Appendix D estimator.

With at least 4 samples per latent dimension, a Gaussian kernel density estimate; with fewer, a
diagonal Gaussian, as in the authors' code (anglepy hmc_est.py): a kernel estimate from few
samples can be nearly flat in some direction, and then q(z) is near zero at fresh samples.
"""

import math

import torch
from torch import Tensor

from aevb.components.distributions import LOG_2PI, diagonal_normal_log_density
from aevb.estimators.precision import float64_or_float32

SAMPLES_PER_DIMENSION_FOR_KDE = 4
BANDWIDTH_STEPS = 10  # candidate bandwidth factors, e^(-2.5) to e^2 times Scott's rule


class GaussianKDE:
    """q(z) = 1/n sum_j N(z; s_j, f^2 C), per datapoint, from samples s of shape (n, batch, latent).

    C is the sample covariance of each datapoint's samples and f its bandwidth factor, shape
    (batch,), as in scipy.stats.gaussian_kde. Computed in float64 (float32 where the device has none).
    """

    def __init__(self, samples: Tensor, factor: Tensor):
        n, _, latent = samples.shape
        if n < 2:
            raise ValueError(f"a kernel density estimate needs at least 2 samples per datapoint, got {n}")
        self.samples = samples.to(float64_or_float32(samples.device))
        centred = self.samples - self.samples.mean(0)
        covariance = torch.einsum("nbi,nbj->bij", centred, centred) / (n - 1)
        jitter = 1e-10 * covariance.diagonal(dim1=-2, dim2=-1).mean(-1).clamp(min=1e-30)  # chains that never moved
        covariance = covariance + jitter[:, None, None] * torch.eye(latent, dtype=covariance.dtype, device=covariance.device)
        self.scale_tril = torch.linalg.cholesky(covariance) * factor.to(self.samples.dtype)[:, None, None]

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z) for z of shape (m, batch, latent): shape (m, batch)."""
        difference = z.to(self.samples.dtype)[:, None] - self.samples[None]  # (m, n, batch, latent)
        whitened = torch.linalg.solve_triangular(self.scale_tril, difference.unsqueeze(-1), upper=False).squeeze(-1)
        half_log_det = self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        log_kernels = -0.5 * (z.shape[-1] * LOG_2PI + whitened.pow(2).sum(-1)) - half_log_det
        return torch.logsumexp(log_kernels, dim=1) - math.log(self.samples.shape[0])


def fit_kde(samples: Tensor) -> GaussianKDE:
    """A KDE of samples (n, batch, latent) with each datapoint's bandwidth chosen on held-out samples.

    Candidates are Scott's factor n^(-1/(d+4)) times e^((i-5)/2), i = 0..9; each is scored by the
    log density that a KDE of the second half gives the first half (as in the authors' code, anglepy
    hmc_est.py), and the best one is used with all the samples.
    """
    n, batch, latent = samples.shape
    half = n // 2
    scott = n ** (-1.0 / (latent + 4))
    factors = [scott * math.exp((i - 5) / 2) for i in range(BANDWIDTH_STEPS)]
    scores = torch.stack(
        [
            GaussianKDE(samples[half:], torch.full((batch,), f, device=samples.device)).log_prob(samples[:half]).sum(0)
            for f in factors
        ]
    )
    best = torch.tensor(factors, dtype=scores.dtype, device=samples.device)[scores.argmax(0)]
    return GaussianKDE(samples, best)


class DiagonalGaussian:
    """q(z) = N(z; mean, diag var) per datapoint, from samples of shape (n, batch, latent)."""

    def __init__(self, samples: Tensor):
        samples = samples.to(float64_or_float32(samples.device))
        self.mean = samples.mean(0)
        std = samples.std(0, correction=0)
        smallest = torch.where(std > 0, std, torch.inf).amin(-1, keepdim=True)  # a coordinate that never moved
        self.log_var = 2 * torch.where(std > 0, std, smallest.clamp(max=1.0)).log()

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z) for z of shape (m, batch, latent): shape (m, batch)."""
        return diagonal_normal_log_density(z.to(self.mean.dtype), self.mean, self.log_var)


def fit_density(samples: Tensor) -> GaussianKDE | DiagonalGaussian:
    """The q(z) of samples (n, batch, latent): a fitted KDE with enough samples per dimension, else a diagonal Gaussian."""
    if samples.shape[0] >= SAMPLES_PER_DIMENSION_FOR_KDE * samples.shape[-1]:
        return fit_kde(samples)
    return DiagonalGaussian(samples)
