"""Encoder and decoder networks.

An encoder maps x of shape (batch, C, H, W) to the mean and log-variance of q(z|x).
A decoder maps z of shape (batch, latent_dim) to the likelihood's parameters, shaped
(batch, params_per_pixel * C, H, W).
"""

import itertools
from collections.abc import Sequence
from math import prod

from torch import Tensor, nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus, "elu": nn.ELU, "gelu": nn.GELU}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not supported; use one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(in_features: int, out_features: int, widths: Sequence[int], activation_name: str) -> nn.Sequential:
    """Hidden layers of the given widths, each followed by the activation, then a linear output layer."""
    layers, width = [], in_features
    for hidden in widths:
        layers += [nn.Linear(width, hidden), make_activation(activation_name)]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, out_features))


def hidden_widths(hidden_dim: int, depth: int, hidden_dims: Sequence[int] | None) -> list[int]:
    """The hidden layers' widths, from the data's side: `hidden_dims` where given (e.g. [512, 256]), else `depth`
    layers of `hidden_dim` units. A decoder goes through them in reverse, so that one list describes a mirrored pair."""
    widths = [hidden_dim] * depth if hidden_dims is None else list(hidden_dims)
    if depth < 0 or any(width < 1 for width in widths):
        raise ValueError(
            f"an MLP needs depth >= 0 and widths >= 1, got depth={depth}, hidden_dim={hidden_dim}, hidden_dims={hidden_dims}"
        )
    return widths


class MLPEncoder(nn.Module):
    """The paper's recognition MLP: h = act(W3 x + b3); mu = W4 h + b4; log sigma^2 = W5 h + b5 (App. C.2).
    hidden_dims=[512, 256] makes the 784-512-256 encoder of the common tutorials."""

    def __init__(
        self,
        data_shape,
        latent_dim: int,
        hidden_dim: int = 500,
        depth: int = 1,
        activation: str = "tanh",
        hidden_dims: list[int] | None = None,
    ):
        super().__init__()
        self.net = mlp(prod(data_shape), 2 * latent_dim, hidden_widths(hidden_dim, depth, hidden_dims), activation)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.net(x.flatten(1)).chunk(2, dim=-1)
        return mean, log_var


class MLPDecoder(nn.Module):
    """The paper's generative MLP: h = act(W1 z + b1); params = W2 h + b2 (App. C); with hidden_dims, its layers are
    those widths in reverse (hidden_dims=[512, 256]: 2-256-512-784)."""

    def __init__(
        self,
        data_shape,
        latent_dim: int,
        params_per_pixel: int,
        hidden_dim: int = 500,
        depth: int = 1,
        activation: str = "tanh",
        hidden_dims: list[int] | None = None,
    ):
        super().__init__()
        channels, height, width = data_shape
        self.output_shape = (params_per_pixel * channels, height, width)
        widths = hidden_widths(hidden_dim, depth, hidden_dims)[::-1]
        self.net = mlp(latent_dim, prod(self.output_shape), widths, activation)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).unflatten(-1, self.output_shape)


def conv_output_size(size: int, stride: int) -> int:
    """Spatial size after a 3x3 convolution with padding 1 ("same"): kept at stride 1, halved (rounded up) at 2."""
    return (size - 1) // stride + 1


def each_stride(strides: Sequence[int] | None, channels: Sequence[int]) -> list[int]:
    strides = [2] * len(channels) if strides is None else list(strides)
    if len(strides) != len(channels) or any(stride not in (1, 2) for stride in strides):
        raise ValueError(f"strides={strides} must give 1 or 2 for each of the channels={list(channels)}")
    return strides


class ConvEncoder(nn.Module):
    """3x3 convolutions down (stride 2 each unless `strides` says), then dense layers, then the mean and log-variance.
    The Keras example's (Chollet, section 8.4): channels [32, 64, 64, 64], strides [1, 2, 1, 1], hidden_dims [32]."""

    def __init__(
        self,
        data_shape,
        latent_dim: int,
        channels=(32, 64),
        hidden_dim: int = 16,
        activation: str = "relu",
        strides: list[int] | None = None,
        hidden_dims: list[int] | None = None,
    ):
        super().__init__()
        layers, in_channels, (height, width) = [], data_shape[0], data_shape[1:]
        for out_channels, stride in zip(channels, each_stride(strides, channels), strict=True):
            layers += [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1), make_activation(activation)]
            in_channels, height, width = out_channels, conv_output_size(height, stride), conv_output_size(width, stride)
        self.convs = nn.Sequential(*layers, nn.Flatten())
        widths = hidden_widths(hidden_dim, 1, hidden_dims)
        self.head = mlp(in_channels * height * width, 2 * latent_dim, widths, activation)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.head(self.convs(x)).chunk(2, dim=-1)
        return mean, log_var


class ConvDecoder(nn.Module):
    """Dense layers to a feature map of `feature_channels` (default: the first of `channels`), 3x3 transposed
    convolutions up (stride 2 each unless `strides` says), a 3x3 convolution out. The Keras example's: hidden_dims []
    (one dense layer, straight to 14x14x64), feature_channels 64, channels [32], strides [2]."""

    def __init__(
        self,
        data_shape,
        latent_dim: int,
        params_per_pixel: int,
        channels=(64, 32),
        hidden_dim: int = 16,
        activation: str = "relu",
        strides: list[int] | None = None,
        feature_channels: int | None = None,
        hidden_dims: list[int] | None = None,
    ):
        super().__init__()
        strides = each_stride(strides, channels)
        sizes = [tuple(data_shape[1:])]
        for stride in reversed(strides):
            sizes.append(tuple(conv_output_size(s, stride) for s in sizes[-1]))
        sizes.reverse()  # smallest feature map first
        self.feature_shape = (feature_channels or channels[0], *sizes[0])
        widths = hidden_widths(hidden_dim, 1, hidden_dims)[::-1]
        self.dense = nn.Sequential(mlp(latent_dim, prod(self.feature_shape), widths, activation), make_activation(activation))
        layers, in_channels = [], self.feature_shape[0]
        for out_channels, stride, (small, large) in zip(channels, strides, itertools.pairwise(sizes), strict=True):
            output_padding = tuple(big - ((s - 1) * stride + 1) for s, big in zip(small, large, strict=True))
            layers += [
                nn.ConvTranspose2d(in_channels, out_channels, 3, stride=stride, padding=1, output_padding=output_padding),
                make_activation(activation),
            ]
            in_channels = out_channels
        self.upsample = nn.Sequential(*layers, nn.Conv2d(in_channels, params_per_pixel * data_shape[0], 3, padding=1))

    def forward(self, z: Tensor) -> Tensor:
        return self.upsample(self.dense(z).unflatten(-1, self.feature_shape))
