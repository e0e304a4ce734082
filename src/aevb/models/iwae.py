"""The importance-weighted autoencoder (Burda, Grosse & Salakhutdinov 2016): the VAE trained on a tighter bound."""

from torch import Tensor

from aevb.components.posteriors import standard_normal_draws
from aevb.estimators.importance_weights import importance_weighted_bound, log_importance_weights
from aevb.models.vae import VAE


class IWAE(VAE):
    """The VAE's q(z|x), p(z) and p(x|z), trained on the k-sample importance-weighted bound L_k instead of the ELBO.

    importance_samples: k, the draws from q(z|x) per datapoint in L_k; k = 1 is the ELBO with estimator A.
    Evaluation: the VAE's terms (the ELBO by the model's estimator and L) and `importance_weighted_bound`, L_k with
    the same k, which also picks best.ckpt. The other arguments: see VAE (kl_weight does not apply: L_k has no KL term).
    """

    algorithm = "IWAE"
    selection_term = "importance_weighted_bound"

    def __init__(self, *args, importance_samples: int = 5, **options):
        if options.get("kl_weight", 1.0) != 1.0:
            raise ValueError(
                f"model.kl_weight={options['kl_weight']} weights the ELBO's KL term; IWAE trains L_k, which has none"
            )
        super().__init__(*args, **options)
        if importance_samples < 1:
            raise ValueError(f"model.importance_samples={importance_samples} must be at least 1 (k, draws of z per datapoint)")
        self.importance_samples = importance_samples

    def importance_weighted_bound(self, x: Tensor, eps: Tensor | None = None) -> Tensor:
        """L_k of each datapoint; eps: the noise behind its k samples of z (drawn when None)."""
        log_weights = log_importance_weights(
            x, self.posterior(x), self.decoder, self.likelihood, self.prior, self.importance_samples, eps
        )
        return importance_weighted_bound(log_weights)

    # Training: the negative L_k per datapoint, averaged over the minibatch (Burda et al. 2016, eq. 8)
    def training_noise(self, batch: Tensor) -> Tensor:
        return standard_normal_draws(self.importance_samples, len(batch), self.latent_dim, device=batch.device)

    def training_loss(self, batch: Tensor, noise: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        bound = self.importance_weighted_bound(batch, noise)
        loss = -bound.mean()
        return loss, {"loss": loss, "importance_weighted_bound": bound.mean()}

    def evaluation_terms(self, x: Tensor) -> dict[str, Tensor]:
        return {**super().evaluation_terms(x), "importance_weighted_bound": self.importance_weighted_bound(x)}
