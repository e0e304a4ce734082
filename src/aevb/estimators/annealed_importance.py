"""Annealed importance sampling (AIS; Neal 2001) for log p(x), as Wu et al. (2017) use it to score decoder-based models.

Each chain starts at z_0 ~ p(z) and moves through the densities f_t(z) = p(z) p(x|z)^beta_t, from beta_0 = 0 (the
prior) to beta_T = 1 (the unnormalised posterior p(x, z)), by one HMC move that leaves f_t invariant at each beta_t.
Its weight accumulates what each step of beta adds to the density at the state it reached; the mean weight over
chains is an unbiased estimate of p(x), so its log is a stochastic lower bound on log p(x) that tightens as the
temperatures grow in number. It needs only p(x, z) (no recognition model).
"""

import math
from typing import Literal

import torch
from torch import Tensor

from aevb.estimators.hmc import adapt_step_size, check_tuning, gradients_in_fp32, hmc_transition

SIGMOID_SCHEDULE_WIDTH = 4.0  # delta of the sigmoid schedule (Grosse et al. 2015; Wu et al. 2017)


def annealing_schedule(temperatures: int, schedule: Literal["sigmoid", "linear"]) -> list[float]:
    """beta_0 = 0 < beta_1 < ... < beta_T = 1: evenly spaced, or denser at both ends (sigmoid)."""
    steps = torch.linspace(0, 1, temperatures + 1, dtype=torch.float64)
    if schedule == "linear":
        return steps.tolist()
    # beta_t = (s(delta (2t/T - 1)) - s(-delta)) / (s(delta) - s(-delta)), s the logistic sigmoid   (Grosse et al. 2015)
    raw = torch.sigmoid(SIGMOID_SCHEDULE_WIDTH * (2 * steps - 1))
    return ((raw - raw[0]) / (raw[-1] - raw[0])).tolist()


class AnnealedImportanceSampling:
    """log p(x) per datapoint by AIS with `chains` independent chains per datapoint and `temperatures` steps of beta
    (`schedule`: sigmoid or linear), each followed by one HMC move of `leapfrog_steps` leapfrog steps. The chains of a
    datapoint share a step size, which starts at `initial_step_size` and is tuned towards `target_acceptance` by their
    mean acceptance as they anneal: a chain's own acceptance would tie its next step size to where it is, and a kernel
    so tuned no longer leaves f_t invariant (the estimate then drifts above log p(x)). The chains of a
    batch are run in groups of at most `max_rows` (chain, datapoint) pairs at once, which bounds the memory."""

    name = "log_px_ais"
    needs_encoder = False

    def __init__(
        self,
        chains: int = 16,
        temperatures: int = 500,
        schedule: Literal["sigmoid", "linear"] = "sigmoid",
        leapfrog_steps: int = 10,
        target_acceptance: float = 0.65,
        initial_step_size: float = 0.05,
        max_rows: int = 8192,
    ):
        if chains < 1 or temperatures < 1 or leapfrog_steps < 1 or max_rows < 1:
            raise ValueError(
                f"estimator.chains={chains}, estimator.temperatures={temperatures}, estimator.leapfrog_steps="
                f"{leapfrog_steps} and estimator.max_rows={max_rows} must be at least 1"
            )
        if schedule not in ("sigmoid", "linear"):
            raise ValueError(f"estimator.schedule={schedule!r} must be sigmoid or linear")
        check_tuning("estimator", target_acceptance, initial_step_size)
        self.chains, self.temperatures, self.schedule = chains, temperatures, schedule
        self.leapfrog_steps, self.target_acceptance, self.initial_step_size = leapfrog_steps, target_acceptance, initial_step_size
        self.max_rows = max_rows
        self.betas = annealing_schedule(temperatures, schedule)

    def anneal(self, model, x: Tensor, chains: int) -> tuple[Tensor, Tensor]:
        """The log weights of `chains` chains per datapoint, shape (chains, batch), and their mean acceptance."""
        z = model.prior.sample((chains, x.shape[0]), device=x.device).float()
        step_size = torch.full((1, x.shape[0], 1), self.initial_step_size, device=x.device)  # one per datapoint
        log_weight = torch.zeros(chains, x.shape[0], device=x.device)
        acceptance = torch.zeros(chains, x.shape[0], device=x.device)

        def log_likelihood(z: Tensor) -> Tensor:  # log p(x|z) = log p(x, z) - log p(z)
            return model.log_joint(x, z) - model.prior.log_prob(z)

        for previous, beta in zip(self.betas[:-1], self.betas[1:], strict=True):
            with torch.no_grad():
                # log w += (beta_t - beta_{t-1}) log p(x|z_{t-1})   (Neal 2001, the AIS weight)
                log_weight += (beta - previous) * log_likelihood(z).float()

            def log_density(z: Tensor, beta: float = beta) -> Tensor:  # log f_t(z) = log p(z) + beta_t log p(x|z)
                return model.prior.log_prob(z) + beta * log_likelihood(z)

            z, accept_probability = hmc_transition(log_density, z, step_size.expand(chains, -1, -1), self.leapfrog_steps)
            step_size = adapt_step_size(step_size, accept_probability.mean(0, keepdim=True), self.target_acceptance)
            acceptance += accept_probability / self.temperatures
        return log_weight, acceptance

    def __call__(self, model, x: Tensor) -> dict[str, Tensor]:
        """Per datapoint of x, shape (batch,): `log_px_ais`, the estimate of log p(x), and `ais_acceptance`, the mean
        acceptance probability of its HMC moves (a diagnostic: near the target when the step sizes were tuned well)."""
        group = max(1, self.max_rows // x.shape[0])
        with gradients_in_fp32(x.device):
            x = x.clone()  # an ordinary tensor, usable by autograd
            total = torch.full((x.shape[0],), -math.inf, device=x.device)
            acceptance = torch.zeros(x.shape[0], device=x.device)
            for start in range(0, self.chains, group):
                size = min(group, self.chains - start)
                log_weight, accepted = self.anneal(model, x, size)
                total = torch.logaddexp(total, torch.logsumexp(log_weight, dim=0))
                acceptance += accepted.sum(0) / self.chains
        # log p(x) ~ log 1/K sum_k w_k   (Neal 2001, the AIS estimate of Z)
        return {self.name: total - math.log(self.chains), "ais_acceptance": acceptance}

    def describe(self) -> str:
        return f"ais_c{self.chains}_t{self.temperatures}"
