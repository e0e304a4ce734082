"""The variational auto-encoder as a LightningModule: AEVB training and lower-bound evaluation."""

from collections.abc import Callable

import lightning.pytorch as L
import torch
from torch import Tensor

from aevb.models.elbo import ESTIMATORS, BoundTerms, sgvb
from aevb.models.likelihoods import Likelihood

TERMS = ("lower_bound", "log_likelihood", "kl")


class VAE(L.LightningModule):
    """Gaussian recognition model q(z|x), prior p(z) = N(0, I), decoder likelihood p(x|z).

    encoder, decoder: factories called as encoder(data_shape, latent_dim) and
        decoder(data_shape, latent_dim, params_per_pixel) (see aevb.models.networks).
    optimizer: a factory called with the parameters.
    estimator: "B" (analytic KL, the paper's default) or "A" (Monte Carlo KL).
    num_samples: L, the samples of z per datapoint.
    kl_weight: beta in the training loss -E[log p(x|z)] + beta * KL. Whatever it is, the
        lower bound that is logged and evaluated is the true one (beta = 1).
    init_std: if set, every parameter starts from N(0, init_std^2) (the paper: 0.01);
        if None, PyTorch's default initialisation.
    weight_prior: MAP training as in the paper: a N(0, I) prior on the weights (not the
        biases) of the full-data objective, i.e. an L2 penalty of 1/N_train per datapoint,
        passed to the optimizer as the weight decay of the weights' parameter group.

    Scalars are logged against `samples_seen`, the number of training samples evaluated
    (the paper's x-axis), which is saved in checkpoints.
    """

    def __init__(
        self,
        data_shape: tuple[int, int, int],
        latent_dim: int,
        encoder: Callable,
        decoder: Callable,
        likelihood: Likelihood,
        optimizer: Callable,
        estimator: str = "B",
        num_samples: int = 1,
        kl_weight: float = 1.0,
        init_std: float | None = None,
        weight_prior: bool = False,
    ):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"model.latent_dim={latent_dim} must be at least 1")
        if estimator not in ESTIMATORS:
            raise ValueError(f"model.estimator={estimator!r} is not an SGVB estimator; use one of {ESTIMATORS}")
        if num_samples < 1:
            raise ValueError(f"model.num_samples={num_samples} must be at least 1 (L, samples of z per datapoint)")
        if kl_weight < 0:
            raise ValueError(f"model.kl_weight={kl_weight} must be non-negative")
        if init_std is not None and init_std <= 0:
            raise ValueError(f"model.init_std={init_std} must be positive, or null for PyTorch's default initialisation")
        self.data_shape, self.latent_dim = tuple(data_shape), latent_dim
        self.encoder = encoder(data_shape=self.data_shape, latent_dim=latent_dim)
        self.decoder = decoder(data_shape=self.data_shape, latent_dim=latent_dim, params_per_pixel=likelihood.params_per_pixel)
        self.likelihood = likelihood
        self.make_optimizer = optimizer
        self.estimator, self.num_samples, self.kl_weight = estimator, num_samples, kl_weight
        self.weight_prior = weight_prior
        if init_std is not None:
            for parameter in self.parameters():
                torch.nn.init.normal_(parameter, mean=0.0, std=init_std)
        self.samples_seen = 0
        self.last_evaluation: dict = {}
        self._sums: dict[str, Tensor] = {}

    def bound_terms(self, x: Tensor) -> BoundTerms:
        mean, log_var = self.encoder(x)
        return sgvb(x, mean, log_var, self.decoder, self.likelihood, self.num_samples, self.estimator)

    def decode_mean(self, z: Tensor) -> Tensor:
        """The mean of p(x|z), as images."""
        return self.likelihood.mean(self.decoder(z))

    def reconstruct(self, x: Tensor) -> Tensor:
        """The mean of p(x|z) at the posterior mean z = mu(x)."""
        return self.decode_mean(self.encoder(x)[0])

    def parameter_groups(self, num_train: int) -> list[dict]:
        """The parameters for the optimizer; with `weight_prior`, the weights decay by 1/num_train, the biases not."""
        if not self.weight_prior:
            return [{"params": list(self.parameters())}]
        weights = [p for p in self.parameters() if p.ndim > 1]
        biases = [p for p in self.parameters() if p.ndim <= 1]
        # log p(theta) = -|w|^2 / 2 joins the full-data bound of N datapoints; per datapoint that is -|w|^2 / (2N)
        return [{"params": weights, "weight_decay": 1.0 / num_train}, {"params": biases, "weight_decay": 0.0}]

    def configure_optimizers(self):
        return self.make_optimizer(self.parameter_groups(num_train=len(self.trainer.datamodule.splits["train"])))

    # Training: the minibatch estimator of the negative bound, per datapoint (eq. 8 divided by N).
    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        terms = self.bound_terms(batch)
        loss = -(terms.log_likelihood - self.kl_weight * terms.kl).mean()
        self.samples_seen += batch.shape[0] * self.trainer.world_size
        if self.trainer.global_step % self.trainer.log_every_n_steps == 0:
            self._log_scalars(
                {
                    "minibatch/loss": loss.detach(),
                    "minibatch/lower_bound": terms.lower_bound.detach().mean(),
                    "minibatch/kl": terms.kl.detach().mean(),
                }
            )
        return loss

    # Evaluation: the bound averaged over whole splits (the paper's Figure 2 curves).
    def on_validation_epoch_start(self) -> None:
        self._sums = {}

    def validation_step(self, batch: Tensor, batch_idx: int, dataloader_idx: int = 0) -> None:
        terms = self.bound_terms(batch)
        name = self.trainer.datamodule.evaluation_names[dataloader_idx]
        sums = torch.stack([getattr(terms, term).sum() for term in TERMS] + [terms.kl.new_tensor(len(batch))])
        self._sums[name] = self._sums.get(name, 0) + sums

    def on_validation_epoch_end(self) -> None:
        results = {}
        for name, sums in self._sums.items():
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")  # each rank scored its own shard
            for term, total in zip(TERMS, sums[:-1], strict=True):
                results[f"{term}/{name}"] = (total / sums[-1]).item()
        if self.trainer.sanity_checking:
            return
        selection = results.get("lower_bound/val", results.get("lower_bound/train"))
        # Already equal on every rank (the sums were reduced); syncing averages equal values.
        self.log("model_selection/lower_bound", selection, logger=False, sync_dist=True)
        self.last_evaluation = {"samples_seen": self.samples_seen, **results}
        self._log_scalars(results)

    def _log_scalars(self, metrics: dict) -> None:
        metrics = {k: float(v) for k, v in metrics.items()}
        for logger in self.loggers:
            logger.log_metrics(metrics, step=self.samples_seen)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["samples_seen"] = self.samples_seen

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.samples_seen = checkpoint.get("samples_seen", 0)
