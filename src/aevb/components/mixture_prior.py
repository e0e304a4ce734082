"""A learned prior: a mixture of K diagonal Gaussians (as in e.g. Dilokthanakul et al. 2016, Tomczak & Welling 2018).

p(z) = sum_k pi_k N(z; m_k, diag exp(s_k)), with the weights pi = softmax(logits), the means m and the log-variances s
trained with the model. With K = 1 the KL to a diagonal Gaussian has a closed form (estimator B); with K > 1 it has
none, and only estimator A can train it.
"""

import torch
from torch import Tensor, nn

from aevb.components.distributions import diagonal_normal_log_density, kl_between_diagonal_normals
from aevb.components.priors import Prior


class MixturePrior(Prior):
    """components: K. spread: the component means start at spread times a draw from N(0, I) (global generator);
    with K = 1 the one component starts at N(0, I) itself. Every component starts with unit variance and equal weight."""

    def __init__(self, latent_dim: int, components: int = 10, spread: float = 1.0):
        super().__init__(latent_dim)
        if components < 1:
            raise ValueError(f"model.prior.components={components} must be at least 1")
        if spread < 0:
            raise ValueError(f"model.prior.spread={spread} must be non-negative")
        means = torch.zeros(components, latent_dim) if components == 1 else spread * torch.randn(components, latent_dim)
        self.means = nn.Parameter(means)
        self.log_vars = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    @property
    def components(self) -> int:
        return len(self.logits)

    @property
    def has_analytic_kl(self) -> bool:
        return self.components == 1

    def extra_repr(self) -> str:
        return f"components={self.components}, latent_dim={self.latent_dim}"

    def log_prob(self, z: Tensor) -> Tensor:
        # log p(z) = log sum_k pi_k N(z; m_k, diag exp(s_k))
        log_weights = torch.log_softmax(self.logits, dim=0)
        return torch.logsumexp(log_weights + diagonal_normal_log_density(z.unsqueeze(-2), self.means, self.log_vars), dim=-1)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None, device=None) -> Tensor:
        device = generator.device if generator is not None else (device or self.logits.device)
        weights = torch.softmax(self.logits.detach(), dim=0).to(device)
        count = int(torch.Size(shape).numel())
        component = torch.multinomial(weights, count, replacement=True, generator=generator).view(*shape)
        eps = torch.randn((*shape, self.latent_dim), generator=generator, device=device)
        means, log_vars = self.means.detach().to(device), self.log_vars.detach().to(device)
        return means[component] + torch.exp(0.5 * log_vars[component]) * eps

    def mean(self, device=None) -> Tensor:
        # E[z] = sum_k pi_k m_k
        return (torch.softmax(self.logits.detach(), dim=0) @ self.means.detach()).to(device or self.logits.device)

    def kl_from(self, mean: Tensor, log_var: Tensor) -> Tensor:
        if not self.has_analytic_kl:
            raise NotImplementedError(f"{self!r} has no KL to a diagonal Gaussian in closed form; use estimator A")
        return kl_between_diagonal_normals(mean, log_var, self.means[0], self.log_vars[0])
