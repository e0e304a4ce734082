"""The SGVB estimators of the variational lower bound (Kingma & Welling 2013, section 2.3)."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from aevb.models.distributions import (
    diagonal_normal_log_density,
    kl_to_standard_normal,
    standard_normal_log_density,
)
from aevb.models.likelihoods import Likelihood

ESTIMATORS = ("A", "B")


@dataclass(frozen=True)
class BoundTerms:
    """Per-datapoint terms of the lower bound, each of shape (batch,), in nats."""

    log_likelihood: Tensor  # E_q[log p(x|z)], averaged over the L samples
    kl: Tensor  # KL(q(z|x) || p(z)): exact (estimator B) or sampled (estimator A)

    @property
    def lower_bound(self) -> Tensor:
        # L(theta, phi; x) = -KL(q(z|x) || p(z)) + E_q[log p(x|z)]   (eq. 3)
        return self.log_likelihood - self.kl


def reparameterise(mean: Tensor, log_var: Tensor, num_samples: int) -> Tensor:
    """Draw L samples z = mu + sigma * eps, eps ~ N(0, I): shape (L, batch, latent)."""
    # z = g_phi(eps, x) = mu + sigma (.) eps   (eq. 4 and section 2.4)
    eps = torch.randn((num_samples, *mean.shape), dtype=mean.dtype, device=mean.device)
    return mean + torch.exp(0.5 * log_var) * eps


def sgvb(
    x: Tensor,
    mean: Tensor,
    log_var: Tensor,
    decode: Callable[[Tensor], Tensor],
    likelihood: Likelihood,
    num_samples: int = 1,
    estimator: str = "B",
) -> BoundTerms:
    """Estimate the lower bound of each datapoint in x from q(z|x) = N(mean, diag exp(log_var)).

    The reductions run in fp32 whatever the autocast precision of the networks.
    """
    mean, log_var = mean.float(), log_var.float()
    z = reparameterise(mean, log_var, num_samples)
    params = decode(z.flatten(0, 1)).unflatten(0, (num_samples, x.shape[0]))
    log_likelihood = likelihood.log_prob(params, x).mean(0)
    if estimator == "A":
        # KL ~ 1/L sum_l [log q(z_l|x) - log p(z_l)]   (eq. 6)
        kl = (diagonal_normal_log_density(z, mean, log_var) - standard_normal_log_density(z)).mean(0)
    elif estimator == "B":
        # KL in closed form, only E_q[log p(x|z)] is sampled   (eq. 7, Appendix B)
        kl = kl_to_standard_normal(mean, log_var)
    else:
        raise ValueError(f"model.estimator={estimator!r} is not an SGVB estimator; use one of {ESTIMATORS}")
    return BoundTerms(log_likelihood=log_likelihood, kl=kl)
