"""Encoder and decoder networks.

An encoder maps x of shape (batch, C, H, W) to the mean and log-variance of q(z|x).
A decoder maps z of shape (batch, latent_dim) to the likelihood's parameters, shaped
(batch, params_per_pixel * C, H, W).
"""

import itertools
from math import prod

from torch import Tensor, nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus, "elu": nn.ELU, "gelu": nn.GELU}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not supported; use one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(in_features: int, out_features: int, hidden_dim: int, depth: int, activation_name: str) -> nn.Sequential:
    """`depth` hidden layers of `hidden_dim` units, then a linear output layer."""
    if depth < 0 or hidden_dim < 1:
        raise ValueError(f"an MLP needs depth >= 0 and hidden_dim >= 1, got depth={depth}, hidden_dim={hidden_dim}")
    layers, width = [], in_features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden_dim), make_activation(activation_name)]
        width = hidden_dim
    return nn.Sequential(*layers, nn.Linear(width, out_features))


class MLPEncoder(nn.Module):
    """The paper's recognition MLP: h = act(W3 x + b3); mu = W4 h + b4; log sigma^2 = W5 h + b5 (App. C.2)."""

    def __init__(self, data_shape, latent_dim: int, hidden_dim: int = 500, depth: int = 1, activation: str = "tanh"):
        super().__init__()
        self.net = mlp(prod(data_shape), 2 * latent_dim, hidden_dim, depth, activation)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.net(x.flatten(1)).chunk(2, dim=-1)
        return mean, log_var


class MLPDecoder(nn.Module):
    """The paper's generative MLP: h = act(W1 z + b1); params = W2 h + b2 (App. C)."""

    def __init__(
        self, data_shape, latent_dim: int, params_per_pixel: int, hidden_dim: int = 500, depth: int = 1, activation: str = "tanh"
    ):
        super().__init__()
        channels, height, width = data_shape
        self.output_shape = (params_per_pixel * channels, height, width)
        self.net = mlp(latent_dim, prod(self.output_shape), hidden_dim, depth, activation)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).unflatten(-1, self.output_shape)


def _halved(size: int) -> int:
    """Spatial size after a 3x3 convolution with stride 2 and padding 1."""
    return (size - 1) // 2 + 1


class ConvEncoder(nn.Module):
    """Strided 3x3 convolutions down, then a dense layer, then the mean and log-variance."""

    def __init__(self, data_shape, latent_dim: int, channels=(32, 64), hidden_dim: int = 16, activation: str = "relu"):
        super().__init__()
        layers, in_channels, (height, width) = [], data_shape[0], data_shape[1:]
        for out_channels in channels:
            layers += [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1), make_activation(activation)]
            in_channels, height, width = out_channels, _halved(height), _halved(width)
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.head = mlp(in_channels * height * width, 2 * latent_dim, hidden_dim, 1, activation)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.head(self.convs(x)).chunk(2, dim=-1)
        return mean, log_var


class ConvDecoder(nn.Module):
    """Dense layers to a small feature map, strided transposed convolutions up, a 3x3 conv out."""

    def __init__(
        self,
        data_shape,
        latent_dim: int,
        params_per_pixel: int,
        channels=(64, 32),
        hidden_dim: int = 16,
        activation: str = "relu",
    ):
        super().__init__()
        sizes = [tuple(data_shape[1:])]
        for _ in channels:
            sizes.append(tuple(_halved(s) for s in sizes[-1]))
        sizes.reverse()  # smallest feature map first
        self.feature_shape = (channels[0], *sizes[0])
        self.dense = nn.Sequential(
            mlp(latent_dim, prod(self.feature_shape), hidden_dim, 1, activation), make_activation(activation)
        )
        layers, in_channels = [], channels[0]
        for out_channels, (small, large) in zip(channels, itertools.pairwise(sizes), strict=True):
            output_padding = tuple(big - (2 * s - 1) for s, big in zip(small, large, strict=True))
            layers += [
                nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=output_padding),
                make_activation(activation),
            ]
            in_channels = out_channels
        self.upsample = nn.Sequential(*layers, nn.Conv2d(in_channels, params_per_pixel * data_shape[0], 3, padding=1))

    def forward(self, z: Tensor) -> Tensor:
        return self.upsample(self.dense(z).unflatten(-1, self.feature_shape))
