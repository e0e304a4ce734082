"""Monte Carlo EM with HMC (the paper's Appendix E): the Figure 3 baseline without a recognition model."""

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from aevb.components.likelihoods import Likelihood
from aevb.data.facts import DataFacts
from aevb.errors import ConfigError
from aevb.estimators.hmc import adapt_step_size, check_tuning, hmc_transition
from aevb.estimators.log_px import LogPxEstimator
from aevb.models.latent_variable_model import LatentVariableModel


class MonteCarloEM(LatentVariableModel):
    """Each training datapoint x_i keeps one posterior sample z_i (a persistent HMC chain). Per minibatch:

    E-step: one HMC move of each z_i towards p(z|x_i), `leapfrog_steps` leapfrog steps with a
        step size tuned towards `target_acceptance` (App. E: 10 steps, 90 %): one for all chains, tuned on
        each minibatch's mean acceptance (`step_size_tuning=shared`, the default, as the authors' later code
        does), or each chain's own (`per_chain`). A chain moves only when its datapoint is drawn, so at
        N_train = 50,000 a per-chain step size has been tuned about 13 times by 3e6 samples; a shared one
        is tuned at every minibatch;
    M-step: `weight_updates` optimiser steps on log p(x_i, z_i) (App. E: 5).
    Each weight update evaluates the minibatch once, so a minibatch counts as weight_updates * M
    training samples (and optimiser steps), the paper's x-axis.

    There is no q(z|x) and so no lower bound: evaluation needs `log_px`, an estimator of log p(x) that needs only
    p(x, z) (the App. D estimator, or AIS), whose estimate also picks best.ckpt. The chains start from the prior and
    are saved in checkpoints. One process only: under data parallelism each rank would hold other chains.
    """

    algorithm = "MCEM"

    needs_datapoint_indices = True
    stacks = False  # each minibatch's E-step moves its own chains first: in a stacked sweep, it trains alone

    def __init__(
        self,
        data: DataFacts,
        latent_dim: int,
        decoder: Callable,
        likelihood: Likelihood,
        optimizer: Callable,
        log_px: LogPxEstimator | None,
        leapfrog_steps: int = 10,
        weight_updates: int = 5,
        target_acceptance: float = 0.9,
        initial_step_size: float = 0.05,
        step_size_tuning: Literal["per_chain", "shared"] = "shared",
        **options,
    ):
        super().__init__(data, latent_dim, decoder, likelihood, optimizer, log_px=log_px, **options)
        if log_px is None:
            raise ValueError(
                "model=mcem has no lower bound to evaluate: set model/log_px=hmc (the paper's Appendix D estimator, "
                "conf/model/mcem.yaml's default) or model/log_px=ais"
            )
        if leapfrog_steps < 1 or weight_updates < 1:
            raise ValueError(
                f"model.leapfrog_steps={leapfrog_steps} and model.weight_updates={weight_updates} must be at least 1"
            )
        check_tuning("model", target_acceptance, initial_step_size)
        if step_size_tuning not in ("per_chain", "shared"):
            raise ValueError(f"model.step_size_tuning={step_size_tuning!r} must be per_chain or shared")
        self.step_size_tuning = step_size_tuning
        self.leapfrog_steps, self.updates_per_batch = leapfrog_steps, weight_updates
        self.target_acceptance, self.initial_step_size = target_acceptance, initial_step_size
        self.chains = torch.empty(0, latent_dim)  # z_i per training datapoint, made in setup()
        self.step_sizes = torch.empty(0, 1)

    @property
    def selection_term(self) -> str:
        """Its estimate of log p(x) picks best.ckpt."""
        return self.log_px.name

    def setup(self, stage: str) -> None:
        if self.trainer.world_size > 1:
            raise ConfigError("model=mcem runs on one process (its chains are per datapoint); use trainer.devices=1")
        num_train = self.data.train_size
        if len(self.chains) != num_train:
            self.chains = self.prior.sample((num_train,)).detach()
            self.step_sizes = torch.full((num_train if self.step_size_tuning == "per_chain" else 1, 1), self.initial_step_size)

    def prepare_minibatch(self, batch: tuple[Tensor, Tensor]) -> tuple[tuple[Tensor, Tensor], dict[str, Tensor]]:
        """The E-step: each datapoint's chain moves once; the updates then train on (x, z)."""
        x, index = batch
        index = index.cpu()
        z = self.chains[index].to(x.device)
        shared = self.step_size_tuning == "shared"
        step_size = (self.step_sizes.expand(len(index), 1) if shared else self.step_sizes[index]).to(x.device)
        # E-step: z_i moves towards p(z | x_i) under the current weights   (App. E)
        z, accept_probability = hmc_transition(lambda z: self.log_joint(x, z), z, step_size, self.leapfrog_steps)
        self.chains[index] = z.cpu()
        if shared:  # one step size, tuned on the minibatch's mean acceptance
            mean_acceptance = accept_probability.mean(0, keepdim=True)
            self.step_sizes = adapt_step_size(step_size[:1], mean_acceptance, self.target_acceptance).cpu()
        else:
            self.step_sizes[index] = adapt_step_size(step_size, accept_probability, self.target_acceptance).cpu()
        return (x, z), {"hmc_acceptance": accept_probability.mean()}

    def training_loss(self, batch: tuple[Tensor, Tensor], noise=None) -> tuple[Tensor, dict[str, Tensor]]:
        # M-step: gradient steps on log p(theta) + sum_i log p(x_i, z_i) with the acquired samples   (App. E)
        x, z = batch
        loss = -self.log_joint(x, z).mean()
        return loss, {"loss": loss}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["mcem_chains"] = {"z": self.chains, "step_size": self.step_sizes}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        if "mcem_chains" in checkpoint:
            self.chains, self.step_sizes = checkpoint["mcem_chains"]["z"], checkpoint["mcem_chains"]["step_size"]
