"""The wake-sleep algorithm (Hinton et al. 1995): the paper's baseline, on the VAE's own networks."""

import torch
from torch import Tensor

from aevb.components.posteriors import standard_normal_draws
from aevb.models.vae import VAE


class WakeSleep(VAE):
    """The same q(z|x), p(z) and p(x|z) as the VAE, trained by two objectives instead of one bound.

    Wake phase: the generative model fits z ~ q(z|x) drawn for the training data.
    Sleep phase: the recognition model fits "dreams" (z, x) ~ p(z) p(x|z) drawn from the
    generative model.
    Neither phase follows the gradient of a lower bound: the recognition model minimises
    KL(p(z|x) || q(z|x)) on dreamed data, where AEVB minimises KL(q(z|x) || p(z|x)) on real data.
    Evaluation is the VAE's: the lower bound with q(z|x) as the posterior, under the same tags,
    so the curves of both algorithms overlay (Figure 2).

    clip_dreams: clip dreamed images to [0, 1], the range of the data, as the authors' code does for its
    Gaussian decoders (anglepy's VAE_Z_X gen_xz); it changes nothing for binary dreams.
    """

    algorithm = "wake-sleep"

    def __init__(self, *args, clip_dreams: bool = False, **options):
        super().__init__(*args, **options)
        self.clip_dreams = clip_dreams

    def training_noise(self, batch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The wake phase's eps, the dreams' z ~ p(z) and the noise behind their x ~ p(x|z), in the order drawn."""
        eps = standard_normal_draws(1, len(batch), self.latent_dim, device=batch.device)
        dream_z = self.prior.sample((len(batch),), device=batch.device)
        return eps, dream_z, self.likelihood.sample_noise(batch.shape, batch.device)

    def training_loss(self, batch: Tensor, noise: tuple | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        eps, dream_z, dream_noise = self.training_noise(batch) if noise is None else noise
        # Wake: maximise log p(x, z) over theta, with z ~ q(z|x) held fixed
        with torch.no_grad():
            z = self.posterior(batch).rsample(1, eps)[0]
        wake = self.log_joint(batch, z)
        # Sleep: maximise log q(z|x) over phi, with z ~ p(z) and x ~ p(x|z) held fixed
        with torch.no_grad():
            dream_x = self.likelihood.sample(self.decoder(dream_z), dream_noise)
            if self.clip_dreams:
                dream_x = dream_x.clamp(0.0, 1.0)
        sleep = self.posterior(dream_x).log_prob(dream_z)
        loss = -(wake + sleep).mean()
        return loss, {"loss": loss, "wake_log_joint": wake.mean(), "sleep_log_q": sleep.mean()}
