"""Paths and grids through the latent space: what a trained model's views (aevb.models.views) decode.

Each function takes latents of shape (..., latent) and returns points of shape (steps, ..., latent).
"""

import torch
from torch import Tensor

PARALLEL = 1e-6  # below this sin(omega), two latents point the same way (or opposite ways): slerp is a straight line


def fractions(steps: int, like: Tensor) -> Tensor:
    """t = 0, 1/(steps - 1), ..., 1: the path's points from the start (t = 0) to the end (t = 1), shaped to broadcast."""
    if steps < 2:
        raise ValueError(f"steps={steps} must be at least 2 (the two ends of the path)")
    t = torch.linspace(0.0, 1.0, steps, device=like.device, dtype=like.dtype)
    return t.reshape(steps, *[1] * like.ndim)  # (steps, 1, ..., 1): one row per point


def linear(z1: Tensor, z2: Tensor, steps: int) -> Tensor:
    """The straight line from z1 to z2."""
    t = fractions(steps, z1)
    # z(t) = (1 - t) z1 + t z2
    return (1 - t) * z1 + t * z2


def slerp(z1: Tensor, z2: Tensor, steps: int) -> Tensor:
    """The arc from z1 to z2 in the plane they span (spherical linear interpolation, Shoemake 1985); a straight line
    where z1 and z2 are parallel."""
    t = fractions(steps, z1)
    # cos(omega) = <z1, z2> / (|z1| |z2|): the angle between the two latents
    cos_omega = torch.nn.functional.cosine_similarity(z1, z2, dim=-1).clamp(-1.0, 1.0).unsqueeze(-1)
    # omega = arccos(cos(omega))
    omega = torch.arccos(cos_omega)
    # sin(omega), kept away from 0 where the arc is undefined (the straight line is taken there instead)
    sin_omega = torch.sin(omega).clamp_min(PARALLEL)
    # z(t) = sin((1 - t) omega) / sin(omega) z1 + sin(t omega) / sin(omega) z2
    arc = torch.sin((1 - t) * omega) / sin_omega * z1 + torch.sin(t * omega) / sin_omega * z2
    # parallel latents: z(t) = (1 - t) z1 + t z2
    return torch.where(torch.sin(omega) < PARALLEL, linear(z1, z2, steps), arc)


PATHS = {"linear": linear, "slerp": slerp}


def traversal(z: Tensor, dim: int, values: Tensor) -> Tensor:
    """z with its coordinate `dim` set to each of `values` in turn, every other coordinate kept."""
    if not -z.shape[-1] <= dim < z.shape[-1]:
        raise ValueError(f"dim={dim} is not a latent dimension: the latent space has {z.shape[-1]} (0 to {z.shape[-1] - 1})")
    points = z.expand(len(values), *z.shape).clone()  # (values, ..., latent): one copy of z per value
    # z_dim = v, z_j = z_j for j != dim
    points[..., dim] = values.to(z).reshape(len(values), *[1] * (z.ndim - 1))
    return points


def gaussian_quantile_grid(points_per_axis: int) -> Tensor:
    """A 2-D grid of latents: an even grid on the unit square through the inverse CDF of N(0, 1) (App. A, Figure 4),
    row by row from the top, z_1 growing rightwards and z_2 upwards; shape (points_per_axis^2, 2)."""
    if points_per_axis < 1:
        raise ValueError(f"points_per_axis={points_per_axis} must be at least 1")
    # p_i = (i + 1/2) / n: the centres of n equal cells of (0, 1)
    quantiles = (torch.arange(points_per_axis, dtype=torch.float64) + 0.5) / points_per_axis
    # z_i = Phi^-1(p_i)
    values = torch.distributions.Normal(0.0, 1.0).icdf(quantiles).float()
    rows, columns = torch.meshgrid(values.flip(0), values, indexing="ij")  # z_2 grows upwards, z_1 rightwards
    return torch.stack([columns, rows], dim=-1).reshape(-1, 2)
