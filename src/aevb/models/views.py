"""What a trained model shows of itself: samples, encodings, reconstructions, latent paths and the 2-D manifold.

A mixin of LatentVariableModel, so every model with a decoder has them; those that need the recognition model q(z|x)
(encode, reconstruct, interpolate, traverse, predict_step) are refused, naming what to use instead, by a model without
one (Monte Carlo EM). Each takes images of the data's shape (C, H, W), one or a batch, on any device, and computes on
the model's device and dtype without gradients (decode_mean is the differentiable decoder). Images come back as the
means of p(x|z), in the data's range.
"""

import torch
from torch import Tensor

from aevb.components.latent_paths import PATHS, gaussian_quantile_grid, traversal
from aevb.errors import ConfigError


class LatentViews:
    """sample, encode, decode, reconstruct, interpolate, traverse and manifold for a LightningModule with `prior`,
    `decoder`, `likelihood`, `decode_mean`, `data_shape`, `latent_dim` and `algorithm`, and, where it has one, `encoder`.

    Trainer.predict(model, dataloader) gives the latent means mu(x) of q(z|x), one (batch, latent) tensor per batch
    (predict_step); reconstruct(x) gives the images.
    """

    @property
    def has_encoder(self) -> bool:
        """Whether the model has a recognition model q(z|x) (every model here but Monte Carlo EM)."""
        return hasattr(self, "encoder")

    def _require_encoder(self, view: str) -> None:
        if not self.has_encoder:
            raise ConfigError(
                f"{view} needs a recognition model q(z|x), and {self.algorithm} has none (it draws z for its training "
                "images by HMC): use sample() or manifold(), which need only the decoder, or a model trained with one "
                "(model=mlp, conv, iwae or wake_sleep)"
            )

    def _images(self, x: Tensor) -> tuple[Tensor, bool]:
        """x as a batch on the model's device and dtype, and whether it was one image."""
        if tuple(x.shape[-3:]) != tuple(self.data_shape) or x.ndim not in (3, 4):
            raise ValueError(f"images of shape {tuple(x.shape)}: the model takes {tuple(self.data_shape)}, one or a batch")
        single = x.ndim == 3
        return (x.unsqueeze(0) if single else x).to(device=self.device, dtype=self.dtype), single

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """n images decoded from draws z ~ p(z), each moved towards the prior's mean m by `temperature`:
        z = m + temperature * (z - m) (0: every image is the decoded mean; 1: the prior itself). `generator` (CPU or
        the model's device) makes the draws repeatable."""
        if temperature < 0:
            raise ValueError(f"temperature={temperature} must be non-negative (0: the prior's mean, 1: the prior)")
        device = generator.device if generator is not None else self.device
        z = self.prior.sample((n,), generator=generator, device=device).to(self.device)
        mean = self.prior.mean(device=self.device)
        # z = m + T (z - m)
        return self.decode(mean + temperature * (z - mean))

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """The mean mu(x) of q(z|x), of shape (latent,) for one image or (batch, latent)."""
        self._require_encoder("encode")
        images, single = self._images(x)
        mean = self.encoder(images)[0]
        return mean[0] if single else mean

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """The mean of p(x|z) for latents of shape (..., latent): images of shape (..., C, H, W)."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"latents of shape {tuple(z.shape)}: the model's latent space has {self.latent_dim} dimensions")
        z = z.to(device=self.device, dtype=self.dtype)
        images = self.decode_mean(z.reshape(-1, self.latent_dim))
        return images.reshape(*z.shape[:-1], *images.shape[1:])

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """The mean of p(x|z) at the posterior mean z = mu(x), of x's shape."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def interpolate(self, x1: Tensor, x2: Tensor, steps: int = 8, method: str = "linear") -> Tensor:
        """The images along a path from mu(x1) to mu(x2) in the latent space, ends included: (steps, C, H, W) for two
        images, (steps, batch, C, H, W) for two batches. method: linear (a straight line) or slerp (an arc, which
        keeps away from the prior's centre, where a straight line between two typical draws passes)."""
        if method not in PATHS:
            raise ValueError(f"method={method!r} is not a latent path; use one of {sorted(PATHS)}")
        self._require_encoder("interpolate")
        return self.decode(PATHS[method](self.encode(x1), self.encode(x2), steps))

    @torch.no_grad()
    def traverse(self, x: Tensor, dim: int, values) -> Tensor:
        """The images at mu(x) with its coordinate `dim` set to each of `values` in turn: (len(values), C, H, W) for one
        image, (len(values), batch, C, H, W) for a batch."""
        self._require_encoder("traverse")
        z = self.encode(x)
        return self.decode(traversal(z, dim, torch.as_tensor(values, dtype=z.dtype, device=z.device)))

    @torch.no_grad()
    def manifold(self, n: int = 20) -> Tensor:
        """The learned 2-D manifold (Figure 4): images decoded from an n x n grid of latents through the inverse CDF of
        the N(0, I) prior, row by row from the top (z_2 grows upwards, z_1 rightwards); (n * n, C, H, W)."""
        if self.latent_dim != 2:
            raise ConfigError(
                f"the manifold is a 2-D grid of latents, and this model's latent space has {self.latent_dim} dimensions: "
                "train with model.latent_dim=2, or look with sample(), interpolate() or traverse()"
            )
        if not self.prior.is_standard_normal:
            raise ConfigError(
                f"the manifold's grid is of N(0, I) quantiles, and this model's prior is {self.prior!r}: use sample() "
                "or traverse() (or train with model/prior=standard_normal)"
            )
        return self.decode(gaussian_quantile_grid(n))

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Trainer.predict's output per batch: the latent means mu(x) of q(z|x), (batch, latent). A batch is a tensor of
        images or a tuple whose first item is one (a TensorDataset's, (image, label), aevb's (image, index))."""
        return self.encode(batch[0] if isinstance(batch, list | tuple) else batch)
