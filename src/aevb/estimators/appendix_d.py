"""The paper's estimator of log p(x) (Appendix D), which needs only p(x, z) and so also scores models without a
recognition model (MCEM), for few latent variables (the paper: N_z = 3):
  1/p(x) ~ 1/L sum_l q(z_l) / (p(z_l) p(x|z_l)),  z_l ~ p(z|x) by HMC, q a density fitted to other posterior samples
"""

import math

import torch
from torch import Tensor

from aevb.estimators.density_estimation import fit_density
from aevb.estimators.hmc import check_tuning, gradients_in_fp32, hmc_samples
from aevb.estimators.precision import float64_or_float32


def reciprocal_importance_log_likelihood(log_q: Tensor, log_joint: Tensor) -> Tensor:
    """log p(x) from log q(z_l) and log p(x, z_l) at posterior samples z_l, both of shape (L, batch)."""
    # p(x) ~ (1/L sum_l q(z_l) / (p(z_l) p(x|z_l)))^-1,  z_l ~ p(z|x)   (App. D)
    dtype = float64_or_float32(log_q.device)
    return -(torch.logsumexp(log_q.to(dtype) - log_joint.to(dtype), dim=0) - math.log(log_q.shape[0]))


class AppendixD:
    """The paper's estimator of log p(x) (Appendix D), per datapoint.

    1. Draw `posterior_samples` values of z from the posterior p(z|x) with HMC (`leapfrog_steps` leapfrog
       steps per move). Each chain starts at the best of `initial_candidates` draws from the prior
       by log p(x, z), and tunes its step size to `target_acceptance` during `burn_in` moves that
       are discarded.
    2. Fit a density q(z) to the first half of them: a Gaussian kernel density estimate, or a
       diagonal Gaussian with fewer than 4 samples per latent dimension (see density_estimation).
    3. Apply the reciprocal estimate above to the second half.
    The paper: 50 samples, 4 leapfrog steps, N_z = 3 ("for higher dimensional latent space the
    estimates became unreliable"). It runs in fp32 with gradients on, inside evaluation too.

    Where the chains start matters: the estimate is too low by the log of the posterior mass
    that the chains miss, and chains started from a single prior draw settle in minor modes of
    a sharp posterior (the measurements are in docs/results_notes.md, "The Appendix D estimator
    needs good starting points").
    """

    name = "log_px_hmc"
    needs_encoder = False

    def __init__(
        self,
        posterior_samples: int = 50,
        leapfrog_steps: int = 4,
        burn_in: int = 100,
        target_acceptance: float = 0.9,
        initial_step_size: float = 0.05,
        initial_candidates: int = 1000,
        max_rows: int = 100_000,
    ):
        if posterior_samples < 4 or leapfrog_steps < 1 or burn_in < 0 or initial_candidates < 1 or max_rows < 1:
            raise ValueError(
                f"the Appendix D estimator needs posterior_samples >= 4 (half fit q, half estimate), leapfrog_steps >= 1, "
                f"burn_in >= 0, initial_candidates >= 1 and max_rows >= 1; got {posterior_samples}, {leapfrog_steps}, "
                f"{burn_in}, {initial_candidates}, {max_rows}"
            )
        check_tuning("estimator", target_acceptance, initial_step_size)
        self.posterior_samples, self.leapfrog_steps, self.burn_in = posterior_samples, leapfrog_steps, burn_in
        self.target_acceptance, self.initial_step_size = target_acceptance, initial_step_size
        self.initial_candidates, self.max_rows = initial_candidates, max_rows

    @torch.no_grad()
    def initial_state(self, model, x: Tensor) -> Tensor:
        """Per datapoint, the best of `initial_candidates` prior draws by log p(x, z); at most `max_rows` decoded at once."""
        best_value = torch.full((x.shape[0],), -math.inf, device=x.device)
        best = torch.zeros(x.shape[0], model.prior.latent_dim, device=x.device)
        chunk = max(1, self.max_rows // x.shape[0])
        for start in range(0, self.initial_candidates, chunk):
            z = model.prior.sample((min(chunk, self.initial_candidates - start), x.shape[0]), device=x.device)
            value, index = model.log_joint(x, z).max(0)
            better = value > best_value
            best_value = torch.where(better, value, best_value)
            best = torch.where(better.unsqueeze(-1), z[index, torch.arange(x.shape[0], device=x.device)], best)
        return best

    def __call__(self, model, x: Tensor) -> dict[str, Tensor]:
        """Per datapoint of x, shape (batch,): `log_px_hmc`, the estimate of log p(x), and `hmc_acceptance`, the mean
        acceptance probability of its kept HMC moves (a diagnostic: near the target when the step size was tuned well)."""
        with gradients_in_fp32(x.device):
            x = x.clone()  # an ordinary tensor, usable by autograd
            z = self.initial_state(model, x)
            samples, acceptance = hmc_samples(
                lambda z: model.log_joint(x, z),
                z,
                self.posterior_samples,
                self.burn_in,
                self.leapfrog_steps,
                self.target_acceptance,
                self.initial_step_size,
            )
            half = self.posterior_samples // 2
            q = fit_density(samples[:half])
            estimate_z = samples[half:]
            with torch.no_grad():
                log_joint_values = model.log_joint(x, estimate_z)
            log_px = reciprocal_importance_log_likelihood(q.log_prob(estimate_z), log_joint_values).float()
        return {self.name: log_px, "hmc_acceptance": acceptance}

    def describe(self) -> str:
        return f"hmc_l{self.posterior_samples}_s{self.leapfrog_steps}"
