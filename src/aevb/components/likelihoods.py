"""Decoder likelihoods p(x|z): each turns the decoder's output into a log-density and a mean image.

The decoder emits `params_per_pixel` values per pixel and channel, stacked on the channel axis.
`log_prob` sums over the pixels of each datapoint, in fp32, and broadcasts over leading
sample dimensions, so params of shape (L, batch, k*C, H, W) score x of shape (batch, C, H, W).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aevb.components.distributions import normal_log_density
from aevb.errors import ConfigError

MEAN_ACTIVATIONS = {"sigmoid": torch.sigmoid, "identity": lambda t: t}
EVENT_DIMS = (-3, -2, -1)


def _mean_activation(name: str):
    if name not in MEAN_ACTIVATIONS:
        raise ValueError(f"mean_activation={name!r} is not supported; use one of {sorted(MEAN_ACTIVATIONS)}")
    return MEAN_ACTIVATIONS[name]


class Likelihood(nn.Module):
    """p(x|z) parameterised by the decoder's output."""

    params_per_pixel = 1

    def check_data(self, binary: bool) -> None:
        """Refuse training data this likelihood is not a density of (binary: every pixel the model sees is 0 or 1)."""

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    def sample_noise(self, shape: torch.Size, device=None) -> Tensor:
        """The random draws behind `sample` of images of `shape`, made apart from it (a stacked sweep draws them first)."""
        return torch.randn(shape, device=device)

    def sample(self, params: Tensor, noise: Tensor | None = None) -> Tensor:
        """A draw x ~ p(x|z) (the wake-sleep algorithm's dreams) from its `sample_noise` (drawn when None); no gradient
        flows through it."""
        raise NotImplementedError


class Bernoulli(Likelihood):
    """Bernoulli on logits: the paper's MNIST decoder (Appendix C.1).

    continuous_data: accept intensities in (0, 1) as targets, the cross-entropy that some VAE code trains
        on. Its "log p(x|z)" is then not a log-likelihood of those images, so the bound is not one either.
    """

    def __init__(self, continuous_data: bool = False):
        super().__init__()
        self.continuous_data = continuous_data

    def check_data(self, binary: bool) -> None:
        if not binary and not self.continuous_data:
            raise ConfigError(
                "model.likelihood is Bernoulli, a distribution over binary pixels, but the training images have "
                "intensities between 0 and 1 (data.binarize=none), so its bound would not be a bound on their likelihood. "
                "Binarise them (data.binarize=dynamic or static), use a Gaussian decoder (model/likelihood=gaussian), "
                "or opt in to the cross-entropy on intensities with model.likelihood.continuous_data=true"
            )

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        # log p(x|z) = sum_i x_i log y_i + (1 - x_i) log(1 - y_i),  y = sigmoid(logits)   (App. C.1)
        logits = params.float()
        bce = F.binary_cross_entropy_with_logits(logits, x.float().expand_as(logits), reduction="none")
        return -bce.sum(EVENT_DIMS)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params.float())

    def sample_noise(self, shape: torch.Size, device=None) -> Tensor:
        return torch.rand(shape, device=device)

    def sample(self, params: Tensor, noise: Tensor | None = None) -> Tensor:
        probabilities = self.mean(params.detach())
        noise = self.sample_noise(probabilities.shape, probabilities.device) if noise is None else noise
        # x_i = [u_i < p_i], u_i ~ U(0, 1): on the CPU the same draws as torch.bernoulli(p)
        return (noise < probabilities).to(probabilities.dtype)


class Gaussian(Likelihood):
    """Gaussian with a learned, z-dependent diagonal variance: the paper's Frey Face decoder (App. C.2).

    The mean goes through `mean_activation` (the paper constrains it to (0, 1) with a sigmoid).
    `min_log_var` / `max_log_var` clamp log sigma^2 as a numerical guard; None (the paper) leaves
    it unbounded.
    """

    params_per_pixel = 2

    def __init__(self, mean_activation: str = "sigmoid", min_log_var: float | None = None, max_log_var: float | None = None):
        super().__init__()
        self.mean_activation = _mean_activation(mean_activation)
        if min_log_var is not None and max_log_var is not None and min_log_var >= max_log_var:
            raise ValueError(f"min_log_var={min_log_var} must be below max_log_var={max_log_var}")
        self.min_log_var, self.max_log_var = min_log_var, max_log_var

    def mean_and_log_var(self, params: Tensor) -> tuple[Tensor, Tensor]:
        raw_mean, log_var = params.float().chunk(2, dim=-3)
        if self.min_log_var is not None or self.max_log_var is not None:
            log_var = log_var.clamp(self.min_log_var, self.max_log_var)
        return self.mean_activation(raw_mean), log_var

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        # log p(x|z) = log N(x; mu(z), diag sigma^2(z))   (App. C.2)
        mean, log_var = self.mean_and_log_var(params)
        return normal_log_density(x.float(), mean, log_var).sum(EVENT_DIMS)

    def mean(self, params: Tensor) -> Tensor:
        return self.mean_and_log_var(params)[0]

    def sample(self, params: Tensor, noise: Tensor | None = None) -> Tensor:
        mean, log_var = self.mean_and_log_var(params.detach())
        noise = self.sample_noise(mean.shape, mean.device) if noise is None else noise
        return mean + torch.exp(0.5 * log_var) * noise


class FixedVarianceGaussian(Likelihood):
    """Gaussian with one fixed standard deviation `std` for every pixel; the decoder gives the mean."""

    def __init__(self, std: float = 0.1, mean_activation: str = "sigmoid"):
        super().__init__()
        if not std > 0:
            raise ValueError(f"std={std} must be positive")
        self.mean_activation = _mean_activation(mean_activation)
        self.register_buffer("log_var", torch.tensor(2.0 * math.log(std)), persistent=False)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        return normal_log_density(x.float(), self.mean(params), self.log_var).sum(EVENT_DIMS)

    def mean(self, params: Tensor) -> Tensor:
        return self.mean_activation(params.float())

    def sample(self, params: Tensor, noise: Tensor | None = None) -> Tensor:
        mean = self.mean(params.detach())
        noise = self.sample_noise(mean.shape, mean.device) if noise is None else noise
        return mean + torch.exp(0.5 * self.log_var) * noise
