"""Images laid out as one picture: the grids that the ImageGrids callback logs during training and aevb-sample writes
from a trained model."""

import torch
from torch import Tensor
from torchvision.utils import make_grid

PADDING = 2  # white pixels between neighbouring images, and around the grid


def tile(images: Tensor, per_row: int, padding: int = PADDING) -> Tensor:
    """Images (N, C, H, W) in [0, 1], on any device, as one image (C, H', W') on the CPU: `per_row` to a row, `padding`
    white pixels between them; per_row * (W + padding) + padding pixels wide."""
    return make_grid(images.float().cpu().clamp(0, 1), nrow=per_row, padding=padding, pad_value=1.0)


def pairs(originals: Tensor, reconstructions: Tensor) -> Tensor:
    """Each original followed by its reconstruction: (2N, C, H, W)."""
    return torch.stack([originals, reconstructions.to(originals)], dim=1).flatten(0, 1)
