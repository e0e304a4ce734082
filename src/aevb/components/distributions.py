"""Closed-form Gaussian densities shared by the prior, the posterior and the decoder."""

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def normal_log_density(x: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """Elementwise log N(x; mean, exp(log_var)), no reduction."""
    return -0.5 * (LOG_2PI + log_var + (x - mean).pow(2) * torch.exp(-log_var))


def diagonal_normal_log_density(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """log N(z; mean, diag exp(log_var)), summed over the last (latent) dimension."""
    return normal_log_density(z, mean, log_var).sum(-1)


def standard_normal_log_density(z: Tensor) -> Tensor:
    """log p(z) for the prior p(z) = N(0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def kl_to_standard_normal(mean: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mean, diag exp(log_var)) || N(0, I)), summed over the last dimension."""
    # -KL = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)   (paper, Appendix B)
    return -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(-1)


def kl_between_diagonal_normals(mean: Tensor, log_var: Tensor, prior_mean: Tensor, prior_log_var: Tensor) -> Tensor:
    """KL(N(mean, diag exp(log_var)) || N(prior_mean, diag exp(prior_log_var))), summed over the last dimension."""
    # KL = 1/2 sum_j (s_j - log sigma_j^2 + (sigma_j^2 + (mu_j - m_j)^2) / e^(s_j) - 1)
    return 0.5 * (prior_log_var - log_var + (log_var.exp() + (mean - prior_mean).pow(2)) * torch.exp(-prior_log_var) - 1).sum(-1)
