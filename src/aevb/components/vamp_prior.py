"""The VampPrior (Tomczak & Welling 2018): p(z) as the mixture of the model's own posteriors at K learned pseudo-inputs.

p(z) = 1/K sum_k q(z|u_k), with q(z|x) the model's recognition model and the pseudo-inputs u_k images of the data's
shape, trained with the model. Its KL to q(z|x) has no closed form: only estimator A (the KL sampled) can train it.
The pseudo-inputs start as grey images, the middle of the data's range plus a little noise (N(0.5, 0.01^2) for data in
[0, 1], clipped to the range), so every component starts near the same point; they are free parameters from there.
"""

import math

import torch
from torch import Tensor, nn

from aevb.components.posteriors import DiagonalNormalPosterior
from aevb.components.priors import Prior


class VampPrior(Prior):
    """components: K, the pseudo-inputs. encoder: the model's recognition model, (mean, log_var) = encoder(x); the
    prior uses it, the model owns it. value_range: (smallest, largest) value of the data, where the pseudo-inputs start;
    None: [0, 1]."""

    def __init__(
        self,
        latent_dim: int,
        encoder: nn.Module,
        data_shape: tuple[int, ...],
        value_range: tuple[float, float] | None = None,
        components: int = 500,
    ):
        super().__init__(latent_dim)
        if components < 1:
            raise ValueError(f"model.prior.components={components} must be at least 1")
        low, high = value_range or (0.0, 1.0)
        # u_k ~ N(m, (0.01 w)^2) clipped to [low, high], m the middle of the range and w its width
        start = (low + high) / 2 + 0.01 * (high - low) * torch.randn(components, *data_shape)
        self.pseudo_inputs = nn.Parameter(start.clamp(low, high))
        self.encoder = encoder

    @property
    def components(self) -> int:
        return len(self.pseudo_inputs)

    def extra_repr(self) -> str:
        return f"components={self.components}, latent_dim={self.latent_dim}"

    def __repr__(self) -> str:  # the encoder is the model's, and shown there
        return f"{type(self).__name__}({self.extra_repr()})"

    def component_posteriors(self) -> DiagonalNormalPosterior:
        """q(z|u_k) of every pseudo-input: means and log-variances of shape (K, latent)."""
        return DiagonalNormalPosterior(*self.encoder(self.pseudo_inputs))

    def log_prob(self, z: Tensor) -> Tensor:
        # log p(z) = log 1/K sum_k q(z|u_k)
        log_q = self.component_posteriors().log_prob(z.float().unsqueeze(-2))  # (..., K)
        return torch.logsumexp(log_q, dim=-1) - math.log(self.components)

    @torch.no_grad()
    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None, device=None) -> Tensor:
        # k ~ uniform{1..K}, then z ~ q(z|u_k)
        device = generator.device if generator is not None else (device or self.pseudo_inputs.device)
        components = self.component_posteriors()
        chosen = torch.randint(self.components, tuple(shape), generator=generator, device=device)
        eps = torch.randn((*shape, self.latent_dim), generator=generator, device=device)
        mean, log_var = components.mean.to(device)[chosen], components.log_var.to(device)[chosen]
        return DiagonalNormalPosterior(mean, log_var).rsample(eps=eps)

    @torch.no_grad()
    def mean(self, device=None) -> Tensor:
        # E[z] = 1/K sum_k mu(u_k)
        return self.component_posteriors().mean.mean(0).to(device or self.pseudo_inputs.device)
