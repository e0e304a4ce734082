"""The approximate posterior q(z|x): what the recognition model says of z given x, and what every estimator samples.

q(z|x) = N(mean, diag exp(log_var)), one Gaussian per datapoint (section 3). Its parameters are held in fp32 whatever
the autocast precision of the encoder that gave them, so the sums over samples and latent dimensions run in fp32.
"""

import torch
from torch import Tensor

from aevb.components.distributions import LOG_2PI, diagonal_normal_log_density
from aevb.components.priors import Prior


def standard_normal_draws(num_samples: int, batch_size: int, latent_dim: int, device=None, dtype=None) -> Tensor:
    """eps ~ N(0, I) of shape (L, batch, latent): the noise of the reparameterisation trick."""
    return torch.randn((num_samples, batch_size, latent_dim), device=device, dtype=dtype)


class DiagonalNormalPosterior:
    """q(z|x) = N(mean, diag exp(log_var)) for a batch of datapoints; mean and log_var of shape (batch, latent)."""

    def __init__(self, mean: Tensor, log_var: Tensor):
        if mean.shape != log_var.shape:
            raise ValueError(f"mean of shape {tuple(mean.shape)} and log_var of shape {tuple(log_var.shape)} must match")
        self.mean, self.log_var = mean.float(), log_var.float()

    def rsample(self, num_samples: int = 1, eps: Tensor | None = None) -> Tensor:
        """L reparameterised samples of shape (L, batch, latent), from the draws eps ~ N(0, I) given (shape (L, batch,
        latent): a stacked sweep draws each job's before computing them together), or L fresh ones."""
        if eps is None:
            eps = standard_normal_draws(num_samples, *self.mean.shape, device=self.mean.device, dtype=self.mean.dtype)
        # z = g_phi(eps, x) = mu + sigma (.) eps   (eq. 4 and section 2.4)
        return self.mean + torch.exp(0.5 * self.log_var) * eps

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z|x) summed over the latent dimension, for z of shape (..., batch, latent): shape (..., batch)."""
        return diagonal_normal_log_density(z, self.mean, self.log_var)

    def entropy(self) -> Tensor:
        """H[q(z|x)] per datapoint, shape (batch,)."""
        # H = 1/2 sum_j (log 2 pi + 1 + log sigma_j^2)
        return 0.5 * (LOG_2PI + 1 + self.log_var).sum(-1)

    def kl_to(self, prior: Prior) -> Tensor:
        """KL(q(z|x) || p(z)) per datapoint in closed form, shape (batch,), for a prior with one (`has_analytic_kl`)."""
        return prior.kl_from(self.mean, self.log_var)
