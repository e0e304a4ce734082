"""aevb-eval: the lower bound and the importance-sampled log p(x) of a trained checkpoint, in eval.json."""

import logging
import math
import sys
import time
from pathlib import Path

import hydra
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from aevb.checkpoints import read_checkpoint
from aevb.config import CONFIG_DIR, run_directory
from aevb.errors import AevbError, ConfigError
from aevb.estimators.marginal_likelihood import importance_sampled_log_likelihood
from aevb.models.latent_variable_model import LatentVariableModel
from aevb.models.vae import VAE
from aevb.runs import Run, saved_config
from aevb.schema import EVAL_RENAMED_KEYS, refuse_renamed_keys

log = logging.getLogger(__name__)


def run_config(ckpt_path: str | Path) -> DictConfig:
    """The resolved config.yaml of the run a checkpoint belongs to."""
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist; pass a checkpoint written by aevb-train")
    config_file = Run(run_directory(ckpt_path)).config_file
    if not config_file.is_file():
        raise ConfigError(f"{config_file} is missing: ckpt_path must be a checkpoint in <run>/checkpoints/ of an aevb-train run")
    return saved_config(OmegaConf.load(config_file))


def load_model(ckpt_path: str | Path) -> LatentVariableModel:
    """The trained model of a checkpoint, in eval mode on the CPU, rebuilt from its run's config."""
    run_cfg = run_config(ckpt_path)
    data_shape = get_class(run_cfg.data._target_).data_shape
    model: LatentVariableModel = instantiate(run_cfg.model, data_shape=data_shape, optimizer=None)
    checkpoint = read_checkpoint(ckpt_path)
    model.load_state_dict(checkpoint["state_dict"])
    model.samples_seen = checkpoint.get("samples_seen", 0)
    return model.eval()


def load_datamodule(ckpt_path: str | Path, data_dir: str | None = None):
    """The datamodule of a checkpoint's run, set up (data_dir replaces the run's own, e.g. on another machine)."""
    run_cfg = run_config(ckpt_path)
    if data_dir is not None:
        run_cfg.data.data_dir = data_dir
    datamodule = instantiate(run_cfg.data)
    datamodule.setup()
    return datamodule


def mean_and_standard_error(values: torch.Tensor) -> dict:
    """The mean over datapoints, and its standard error (the sample standard deviation / sqrt(n))."""
    values = values.double()
    error = values.std().item() / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"mean": values.mean().item(), "standard_error": error}


@torch.no_grad()
def evaluate(model: VAE, images: torch.Tensor, importance_samples: int, batch_size: int, max_rows: int, seed: int) -> dict:
    """The SGVB lower bound (the model's estimator and L) and the k-sample importance estimate of log p(x)."""
    torch.manual_seed(seed)
    bounds, log_likelihoods = [], []
    start = time.perf_counter()
    for index, batch in enumerate(images.split(batch_size)):
        batch = batch.to(model.device)
        bounds.append(model.bound_terms(batch).lower_bound)
        log_likelihoods.append(importance_sampled_log_likelihood(model, batch, importance_samples, max_rows))
        if index % max(1, len(images) // batch_size // 10) == 0:
            log.info("%d / %d datapoints scored, %.0f s", (index + 1) * batch_size, len(images), time.perf_counter() - start)
    return {
        "num_datapoints": len(images),
        "lower_bound": {
            **mean_and_standard_error(torch.cat(bounds).cpu()),
            "estimator": model.estimator,
            "num_samples": model.bound_samples,  # L (the key of eval.json files written before the rename)
        },
        "log_likelihood": {
            **mean_and_standard_error(torch.cat(log_likelihoods).cpu()),
            "num_importance_samples": importance_samples,  # k (the key of eval.json files written before the rename)
        },
        "seconds": round(time.perf_counter() - start, 3),
    }


def run_eval(cfg: DictConfig) -> dict:
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    model = load_model(cfg.ckpt_path).to(device)
    if not isinstance(model, VAE):
        raise ConfigError(
            f"aevb-eval's estimators need a recognition model q(z|x); this run's algorithm, {model.algorithm}, has none. Its "
            "Appendix D estimate of log p(x) is logged during training: marginal_likelihood/<split> in metrics.json "
            "and TensorBoard."
        )
    datamodule = load_datamodule(cfg.ckpt_path, cfg.paths.data_dir)
    if cfg.split not in datamodule.eval_splits or len(datamodule.eval_splits[cfg.split]) == 0:
        raise ConfigError(f"split={cfg.split!r} is empty or unknown for this run; use one of {datamodule.evaluation_names}")
    images = datamodule.eval_splits[cfg.split][: cfg.limit]
    results = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "samples_seen": model.samples_seen,
        "split": cfg.split,
        "seed": cfg.seed,
        "device": str(model.device),
        "threads": torch.get_num_threads(),
        **evaluate(model, images, cfg.importance_samples, cfg.batch_size, cfg.max_rows, cfg.seed),
    }
    output = Run(run_directory(cfg.ckpt_path)).write_evaluation(results, cfg.output_file)
    bound, log_px = results["lower_bound"], results["log_likelihood"]
    print(
        f"{cfg.split}, {results['num_datapoints']} datapoints, after {model.samples_seen:,} training samples:\n"
        f"  lower bound       {bound['mean']:.2f} +- {bound['standard_error']:.2f} nats\n"
        f"  log p(x), k={cfg.importance_samples}  {log_px['mean']:.2f} +- {log_px['standard_error']:.2f} nats\n"
        f"in {results['seconds']:.0f} s; written to {output}"
    )
    return results


def main() -> None:
    """aevb-eval: a renamed key on the command line is refused naming its new spelling, before Hydra composes."""
    try:
        refuse_renamed_keys(sys.argv[1:], EVAL_RENAMED_KEYS)
    except ConfigError as error:
        sys.exit(f"aevb-eval: {error}")
    eval_command()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def eval_command(cfg: DictConfig) -> float:
    try:
        return run_eval(cfg)["log_likelihood"]["mean"]
    except AevbError as error:  # diagnosed: its message names the cause and the fix
        sys.exit(f"aevb-eval: {error}")
