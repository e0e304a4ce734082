"""aevb-sample: PNG grids of what a trained model has learned, written to <run>/grids/ and, if asked, to the run's
TensorBoard log; drawn by the model's views (aevb.models.views) on images of the run's own data."""

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import save_image

from aevb.build import checkpoint_run, load_trained_model
from aevb.components.latent_paths import PATHS
from aevb.errors import ConfigError
from aevb.evaluate import load_datamodule
from aevb.models.latent_variable_model import LatentVariableModel
from aevb.tracking.image_tiles import pairs, tile

log = logging.getLogger(__name__)

PER_ROW = 8  # images to a row of samples.png and reconstructions.png (4 pairs)
TENSORBOARD_TAG = "images/aevb-sample"


def chosen(images: Tensor, key: str, indices) -> Tensor:
    """The images at `indices` (a list, or one index) of a split; anything but indices into it is a ConfigError
    naming `key` and the range."""
    indices = [indices] if isinstance(indices, int) else list(indices)
    if not all(isinstance(index, int) for index in indices):
        raise ConfigError(f"{key}={indices} must be image indices, whole numbers: e.g. {key}=[0,1]")
    outside = [index for index in indices if not 0 <= index < len(images)]
    if outside:
        raise ConfigError(
            f"{key}={indices}: {outside} outside the split, which has {len(images)} images; "
            f"use indices from 0 to {len(images) - 1}"
        )
    return images[indices]


def split_images(cfg: DictConfig) -> Tensor:
    """The images of cfg.split of the checkpoint's run, from the run's own data config."""
    datamodule = load_datamodule(cfg.ckpt_path, cfg.paths.data_dir)
    if len(datamodule.eval_splits.get(cfg.split, ())) == 0:
        raise ConfigError(f"split={cfg.split!r} is empty or unknown for this run; use one of {datamodule.evaluation_names}")
    return datamodule.eval_splits[cfg.split]


def grids(model: LatentVariableModel, cfg: DictConfig, images: Tensor) -> dict[str, Tensor]:
    """Every grid the model allows, by name: samples; with a recognition model, reconstructions, interpolations and
    traversals; for N_z = 2 under N(0, I), the manifold. Each one left out is logged with the reason."""
    generator = torch.Generator().manual_seed(cfg.seed)
    drawn = {"samples": tile(model.sample(cfg.num_samples, cfg.temperature, generator), per_row=PER_ROW)}
    if model.has_encoder:
        originals = chosen(images, "images", cfg.images)
        drawn["reconstructions"] = tile(pairs(originals, model.reconstruct(originals)), per_row=PER_ROW)
        ends = chosen(images, "interpolation", cfg.interpolation)
        if len(ends) != 2:
            raise ConfigError(f"interpolation={cfg.interpolation} must name two images, e.g. interpolation=[0,1]")
        x1, x2 = ends
        for method in PATHS:  # linear and slerp, each path between the two images themselves
            path = model.interpolate(x1, x2, cfg.steps, method).cpu()
            drawn[f"interpolation_{method}"] = tile(torch.cat([x1[None], path, x2[None]]), per_row=cfg.steps + 2)
        x = chosen(images, "traversal_image", cfg.traversal_image)[0]
        values = torch.linspace(-cfg.traversal_range, cfg.traversal_range, cfg.steps)
        rows = [model.traverse(x, dim, values) for dim in range(model.latent_dim)]  # one row per latent coordinate
        drawn["traversals"] = tile(torch.cat(rows), per_row=cfg.steps)
    else:
        log.info("no reconstructions, interpolations or traversals: %s has no recognition model q(z|x)", model.algorithm)
    try:
        drawn["manifold"] = tile(model.manifold(cfg.manifold_size), per_row=cfg.manifold_size)
    except ConfigError as reason:
        log.info("manifold.png skipped: %s", reason)
    return drawn


def device_of(name: str) -> str:
    """cfg.device: auto is a GPU where there is one (CUDA, then Apple's MPS), else the CPU."""
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"


def write_grids(cfg: DictConfig) -> dict[str, Path]:
    """The grids of cfg.ckpt_path as PNGs in cfg.output_dir (null: <run>/grids), and with cfg.tensorboard in the run's
    TensorBoard log at the checkpoint's training samples; the files written, by grid name."""
    run = checkpoint_run(cfg.ckpt_path)
    if cfg.steps < 2 or cfg.num_samples < 1 or cfg.manifold_size < 1:
        raise ConfigError(
            f"steps={cfg.steps} must be at least 2 (a path's two ends), num_samples={cfg.num_samples} and "
            f"manifold_size={cfg.manifold_size} at least 1"
        )
    model = load_trained_model(cfg.ckpt_path, map_location=device_of(cfg.device))
    drawn = grids(model, cfg, split_images(cfg))
    output_dir = Path(cfg.output_dir) if cfg.output_dir else run.directory / "grids"
    output_dir.mkdir(parents=True, exist_ok=True)
    written = {name: output_dir / f"{name}.png" for name in drawn}
    for name, grid in drawn.items():
        save_image(grid, written[name])
    if cfg.tensorboard:
        with SummaryWriter(str(run.tensorboard_dir)) as writer:
            for name, grid in drawn.items():
                writer.add_image(f"{TENSORBOARD_TAG}/{name}", grid, global_step=model.samples_seen)
    where = f" and to {run.tensorboard_dir} ({TENSORBOARD_TAG}/...)" if cfg.tensorboard else ""
    print(f"{model.algorithm}, N_z = {model.latent_dim}, after {model.samples_seen:,} training samples: "
          f"{', '.join(path.name for path in written.values())} written to {output_dir}{where}")  # fmt: skip
    return written
