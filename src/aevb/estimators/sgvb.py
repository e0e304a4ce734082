"""The SGVB estimators of the variational lower bound (Kingma & Welling 2013, section 2.3)."""

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from aevb.components.likelihoods import Likelihood
from aevb.components.posteriors import DiagonalNormalPosterior
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


def decoded_samples(
    posterior: DiagonalNormalPosterior, decode: Callable[[Tensor], Tensor], num_samples: int, eps: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Reparameterised draws z from q(z|x), shape (L, batch, latent), and the decoder's output at each, shape
    (L, batch, ...): what the bound and the importance weights are computed from. eps: see `posterior.rsample`."""
    z = posterior.rsample(num_samples, eps)
    return z, decode(z.flatten(0, 1)).unflatten(0, z.shape[:2])


def sgvb(
    x: Tensor,
    posterior: DiagonalNormalPosterior,
    decode: Callable[[Tensor], Tensor],
    likelihood: Likelihood,
    prior: Prior,
    num_samples: int = 1,
    estimator: str = "B",
    eps: Tensor | None = None,
) -> BoundTerms:
    """Estimate the lower bound of each datapoint in x from its posterior q(z|x).

    eps: the draws of N(0, I) behind the L samples of z, shape (L, batch, latent), when the caller holds them (a stacked
    sweep draws each job's before computing them together); else `num_samples` fresh draws.
    The reductions run in fp32 (the posterior's) whatever the autocast precision of the networks.
    """
    z, params = decoded_samples(posterior, decode, num_samples, eps)
    log_likelihood = likelihood.log_prob(params, x).mean(0)
    if estimator == "A":
        # KL ~ 1/L sum_l [log q(z_l|x) - log p(z_l)]   (eq. 6)
        kl = (posterior.log_prob(z) - prior.log_prob(z)).mean(0)
    elif estimator == "B":
        # KL in closed form, only E_q[log p(x|z)] is sampled   (eq. 7, Appendix B)
        kl = posterior.kl_to(prior)
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
