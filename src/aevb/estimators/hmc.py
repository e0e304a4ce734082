"""Hamiltonian Monte Carlo (Duane et al. 1987; Neal 2011) on the latent variables, one chain per datapoint.

A log density maps z of shape (chains, latent) to values of shape (chains,); each chain has its
own step size, shape (chains, 1), which `adapt_step_size` tunes towards a target acceptance rate.
"""

from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import Tensor

LogDensity = Callable[[Tensor], Tensor]
JITTER = 0.2  # each move draws its step size uniformly within +-20 % of the chain's


def check_tuning(key: str, target_acceptance: float, initial_step_size: float) -> None:
    """Refuse step-size tuning settings that cannot work, naming their config keys (under `key`)."""
    if not 0 < target_acceptance < 1 or initial_step_size <= 0:
        raise ValueError(
            f"{key}.target_acceptance={target_acceptance} must be in (0, 1) and "
            f"{key}.initial_step_size={initial_step_size} positive"
        )


@contextmanager
def gradients_in_fp32(device: torch.device):
    """Gradients on, in fp32, inside an evaluation (which runs under inference mode and perhaps autocast): what HMC needs.
    Tensors made before it are inference tensors: clone those that autograd must see."""
    with torch.inference_mode(False), torch.enable_grad(), torch.autocast(device.type, enabled=False):
        yield


def value_and_gradient(log_density: LogDensity, z: Tensor) -> tuple[Tensor, Tensor]:
    """log pi(z) per chain and its gradient with respect to z (only z: no parameter gradients accumulate)."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        value = log_density(z)
        (gradient,) = torch.autograd.grad(value.sum(), z)
    return value.detach(), gradient


def hmc_transition(log_density: LogDensity, z: Tensor, step_size: Tensor, leapfrog_steps: int) -> tuple[Tensor, Tensor]:
    """One HMC move of every chain; returns the new z and each chain's acceptance probability.

    The chains leave pi(z) invariant: a fresh momentum p ~ N(0, I), `leapfrog_steps` leapfrog
    steps of the Hamiltonian H(z, p) = -log pi(z) + |p|^2 / 2, then a Metropolis-Hastings test.
    """
    step_size = step_size * (1 + JITTER * (2 * torch.rand_like(step_size) - 1))  # no periodic trajectories (Neal 2011, 5.4.2.2)
    momentum = torch.randn_like(z)
    value, gradient = value_and_gradient(log_density, z)
    start_energy = -value + 0.5 * momentum.pow(2).sum(-1)
    position = z
    momentum = momentum + 0.5 * step_size * gradient  # half step for the momentum
    for step in range(leapfrog_steps):
        position = position + step_size * momentum  # full step for the position
        new_value, gradient = value_and_gradient(log_density, position)
        momentum = momentum + (step_size if step < leapfrog_steps - 1 else 0.5 * step_size) * gradient
    end_energy = -new_value + 0.5 * momentum.pow(2).sum(-1)
    # accept with probability min(1, exp(H_start - H_end)); a diverged (NaN) trajectory is rejected
    accept_probability = torch.exp((start_energy - end_energy).clamp(max=0)).nan_to_num(0.0)
    accepted = torch.rand_like(accept_probability) < accept_probability
    return torch.where(accepted.unsqueeze(-1), position, z), accept_probability


def adapt_step_size(step_size: Tensor, accept_probability: Tensor, target: float, rate: float = 0.5) -> Tensor:
    """Multiply each chain's step size by exp(rate * (acceptance - target)): it settles where acceptance averages the target."""
    return step_size * torch.exp(rate * (accept_probability.unsqueeze(-1) - target))


def hmc_samples(
    log_density: LogDensity,
    z: Tensor,
    num_samples: int,
    burn_in: int,
    leapfrog_steps: int,
    target_acceptance: float = 0.9,
    initial_step_size: float = 0.05,
) -> tuple[Tensor, Tensor]:
    """`num_samples` states of each chain, shape (num_samples, chains, latent), after `burn_in` transitions.

    The step sizes adapt during burn-in only, so the states that are kept come from a fixed,
    pi-invariant kernel. Also returns each chain's mean acceptance probability over the kept transitions.
    """
    step_size = torch.full((*z.shape[:-1], 1), initial_step_size, dtype=z.dtype, device=z.device)
    for _ in range(burn_in):
        z, accept_probability = hmc_transition(log_density, z, step_size, leapfrog_steps)
        step_size = adapt_step_size(step_size, accept_probability, target_acceptance)
    samples, acceptance = [], []
    for _ in range(num_samples):
        z, accept_probability = hmc_transition(log_density, z, step_size, leapfrog_steps)
        samples.append(z)
        acceptance.append(accept_probability)
    return torch.stack(samples), torch.stack(acceptance).mean(0)
