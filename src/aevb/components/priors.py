"""The prior p(z) over the latent variables: what every estimator, sampler and figure asks about z.

A prior is a torch module (so a learned one trains with the model and is saved in checkpoints) with
  log_prob(z)          log p(z) summed over the latent dimension, for z of shape (..., latent);
  sample(shape)        z ~ p(z) of shape (*shape, latent), from the global generator or a given one;
  mean()               E[z] under p(z), of shape (latent,): the centre a temperature draws samples towards;
  kl_from(mean, log_var)
                       KL(N(mean, diag exp(log_var)) || p(z)) in closed form, where `has_analytic_kl`
                       (without it, estimator B is refused: see aevb.estimators.sgvb);
  is_standard_normal   True for N(0, I), the one prior whose quantiles Figure 4's grid can use.
"""

import torch
from torch import Tensor, nn

from aevb.components.distributions import kl_to_standard_normal, standard_normal_log_density


class Prior(nn.Module):
    """p(z) on R^latent_dim; subclasses say how to score, draw and (where it exists) take the KL to it.

    The model builds its prior from the partial config model.prior, once its networks exist, as prior(latent_dim=...)
    plus whichever of `encoder` (its recognition model), `data_shape` and `value_range` the prior's signature names (as
    aevb.components.vamp_prior.VampPrior's does).
    """

    is_standard_normal = False
    has_analytic_kl = False

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None, device=None) -> Tensor:
        raise NotImplementedError

    def mean(self, device=None) -> Tensor:
        raise NotImplementedError

    def kl_from(self, mean: Tensor, log_var: Tensor) -> Tensor:
        raise NotImplementedError(f"{self} has no KL to a diagonal Gaussian in closed form")


class StandardNormal(Prior):
    """p(z) = N(0, I), the paper's prior (section 3)."""

    is_standard_normal = True
    has_analytic_kl = True

    def log_prob(self, z: Tensor) -> Tensor:
        return standard_normal_log_density(z)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None, device=None) -> Tensor:
        return torch.randn((*shape, self.latent_dim), generator=generator, device=device)

    def mean(self, device=None) -> Tensor:
        return torch.zeros(self.latent_dim, device=device)

    def kl_from(self, mean: Tensor, log_var: Tensor) -> Tensor:
        # -KL = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)   (Appendix B)
        return kl_to_standard_normal(mean, log_var)
