"""The variational auto-encoder as a LightningModule: AEVB training and lower-bound evaluation."""

from collections.abc import Callable

from torch import Tensor

from aevb.components.likelihoods import Likelihood
from aevb.components.posteriors import standard_normal_draws
from aevb.data.facts import DataFacts
from aevb.estimators.sgvb import BoundTerms, check_estimator, sgvb
from aevb.models.latent_variable_model import LatentVariableModel

TERMS = ("lower_bound", "log_likelihood", "kl")


class VAE(LatentVariableModel):
    """Gaussian recognition model q(z|x), prior p(z), decoder likelihood p(x|z), trained by AEVB.

    encoder, decoder: factories called as encoder(data_shape, latent_dim) and
        decoder(data_shape, latent_dim, params_per_pixel) (see aevb.components.networks).
    estimator: "B" (analytic KL, the paper's default; needs a prior with one) or "A" (Monte Carlo KL).
    bound_samples: L, the draws of z per datapoint in the SGVB bound (eq. 7).
    kl_weight: beta in the training loss -E[log p(x|z)] + beta * KL. Whatever it is, the
        lower bound that is logged and evaluated is the true one (beta = 1).
    optimizer and **options (prior, init_std, weight_prior, log_px, compile, gradient_clip_norm):
        see LatentVariableModel.
    """

    algorithm = "AEVB"

    def __init__(
        self,
        data: DataFacts,
        latent_dim: int,
        encoder: Callable,
        decoder: Callable,
        likelihood: Likelihood,
        optimizer: Callable,
        estimator: str = "B",
        bound_samples: int = 1,
        kl_weight: float = 1.0,
        **options,
    ):
        super().__init__(data, latent_dim, decoder, likelihood, optimizer, encoder=encoder, **options)
        check_estimator(estimator, self.prior)
        if bound_samples < 1:
            raise ValueError(f"model.bound_samples={bound_samples} must be at least 1 (L, draws of z per datapoint)")
        if kl_weight < 0:
            raise ValueError(f"model.kl_weight={kl_weight} must be non-negative")
        self.estimator, self.bound_samples, self.kl_weight = estimator, bound_samples, kl_weight

    def bound_terms(self, x: Tensor, eps: Tensor | None = None) -> BoundTerms:
        """The SGVB estimate of each datapoint's bound; eps: the noise behind its L samples of z (drawn when None)."""
        return sgvb(x, self.posterior(x), self.decoder, self.likelihood, self.prior, self.bound_samples, self.estimator, eps)

    # Training: the minibatch estimator of the negative bound, per datapoint (eq. 8 divided by N).
    def training_noise(self, batch: Tensor) -> Tensor:
        return standard_normal_draws(self.bound_samples, len(batch), self.latent_dim, device=batch.device)

    def training_loss(self, batch: Tensor, noise: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        terms = self.bound_terms(batch, noise)
        loss = -(terms.log_likelihood - self.kl_weight * terms.kl).mean()
        return loss, {"loss": loss, "lower_bound": terms.lower_bound.mean(), "kl": terms.kl.mean()}

    # Evaluation: the bound averaged over whole splits (the paper's Figure 2 curves).
    def evaluation_terms(self, x: Tensor) -> dict[str, Tensor]:
        terms = self.bound_terms(x)
        return {**{term: getattr(terms, term) for term in TERMS}, **super().evaluation_terms(x)}
