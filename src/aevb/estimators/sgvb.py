"""The SGVB estimators of the variational lower bound (Kingma & Welling 2013, section 2.3)."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from aevb.components.distributions import diagonal_normal_log_density
from aevb.components.likelihoods import Likelihood
from aevb.components.priors import Prior
from aevb.errors import ConfigError

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


def standard_normal_draws(num_samples: int, batch_size: int, latent_dim: int, device=None, dtype=None) -> Tensor:
    """eps ~ N(0, I) of shape (L, batch, latent): the noise of the reparameterisation trick."""
    return torch.randn((num_samples, batch_size, latent_dim), device=device, dtype=dtype)


def reparameterise(mean: Tensor, log_var: Tensor, num_samples: int, eps: Tensor | None = None) -> Tensor:
    """L samples z = mu + sigma * eps, shape (L, batch, latent), from the draws eps ~ N(0, I) given, or L fresh ones."""
    if eps is None:
        eps = standard_normal_draws(num_samples, *mean.shape, device=mean.device, dtype=mean.dtype)
    # z = g_phi(eps, x) = mu + sigma (.) eps   (eq. 4 and section 2.4)
    return mean + torch.exp(0.5 * log_var) * eps


def decoded_samples(
    x: Tensor, mean: Tensor, log_var: Tensor, decode: Callable[[Tensor], Tensor], num_samples: int, eps: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Reparameterised draws z from q(z|x), shape (L, batch, latent), and the decoder's output at each, shape
    (L, batch, ...): what the bound and the importance weights are computed from. eps: see `reparameterise`."""
    z = reparameterise(mean, log_var, num_samples, eps)
    return z, decode(z.flatten(0, 1)).unflatten(0, z.shape[:2])


def sgvb(
    x: Tensor,
    mean: Tensor,
    log_var: Tensor,
    decode: Callable[[Tensor], Tensor],
    likelihood: Likelihood,
    prior: Prior,
    num_samples: int = 1,
    estimator: str = "B",
    eps: Tensor | None = None,
) -> BoundTerms:
    """Estimate the lower bound of each datapoint in x from q(z|x) = N(mean, diag exp(log_var)).

    eps: the draws of N(0, I) behind the L samples of z, shape (L, batch, latent), when the caller holds them (a stacked
    sweep draws each job's before computing them together); else `num_samples` fresh draws.
    The reductions run in fp32 whatever the autocast precision of the networks.
    """
    mean, log_var = mean.float(), log_var.float()
    z, params = decoded_samples(x, mean, log_var, decode, num_samples, eps)
    log_likelihood = likelihood.log_prob(params, x).mean(0)
    if estimator == "A":
        # KL ~ 1/L sum_l [log q(z_l|x) - log p(z_l)]   (eq. 6)
        kl = (diagonal_normal_log_density(z, mean, log_var) - prior.log_prob(z)).mean(0)
    elif estimator == "B":
        # KL in closed form, only E_q[log p(x|z)] is sampled   (eq. 7, Appendix B)
        kl = prior.kl_from(mean, log_var)
    else:
        raise ValueError(f"model.estimator={estimator!r} is not an SGVB estimator; use one of {ESTIMATORS}")
    return BoundTerms(log_likelihood=log_likelihood, kl=kl)


def check_estimator(estimator: str, prior: Prior) -> None:
    """Refuse an estimator the prior cannot serve: B needs the KL in closed form."""
    if estimator not in ESTIMATORS:
        raise ConfigError(f"model.estimator={estimator!r} is not an SGVB estimator; use one of {ESTIMATORS}")
    if estimator == "B" and not prior.has_analytic_kl:
        raise ConfigError(
            f"model.estimator=B needs KL(q(z|x) || p(z)) in closed form, and the prior {prior!r} has none; "
            "use model.estimator=A (the KL sampled, eq. 6)"
        )
