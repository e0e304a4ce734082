"""Sample and reconstruction grids, logged through each logger's image API at each evaluation and saved as PNGs."""

from pathlib import Path

import lightning.pytorch as L
import torch
from torchvision.utils import save_image

from aevb.errors import ConfigError
from aevb.tracking.image_tiles import pairs, tile
from aevb.tracking.loggers import log_images


class ImageGrids(L.Callback):
    """Decoder means of fixed prior samples z ~ p(z), and test images beside their reconstructions
    (for models with a recognition model).

    The same z and the same test images are used at every evaluation, so grids from
    different points of training (and different runs with the same seed) compare directly.
    """

    def __init__(self, output_dir: str, num_samples: int = 64, num_reconstructions: int = 32, seed: int = 0):
        if num_samples < 1 or num_reconstructions < 1:
            raise ConfigError(
                f"callbacks.image_grids.num_samples={num_samples} and num_reconstructions={num_reconstructions} must be "
                "at least 1 (to draw no grids, remove the callback: ~callbacks.image_grids)"
            )
        self.output_dir = Path(output_dir)
        self.num_samples, self.num_reconstructions, self.seed = num_samples, num_reconstructions, seed

    def grids(self, trainer: L.Trainer, model) -> dict[str, torch.Tensor]:
        images = trainer.datamodule.eval_splits["test"][: self.num_reconstructions]
        was_training = model.training
        model.eval()
        grids = {"samples": model.sample(self.num_samples, generator=torch.Generator().manual_seed(self.seed))}
        if model.has_encoder:
            grids["reconstructions"] = pairs(images, model.reconstruct(images))
        model.train(was_training)
        return {name: tile(tiles, per_row=8) for name, tiles in grids.items()}

    def on_validation_epoch_end(self, trainer: L.Trainer, model) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if trainer.loggers:
            log_images(trainer.loggers, self.grids(trainer, model), step=model.samples_seen)

    def on_fit_end(self, trainer: L.Trainer, model) -> None:
        if trainer.is_global_zero:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            for name, grid in self.grids(trainer, model).items():
                save_image(grid, self.output_dir / f"{name}.png")
