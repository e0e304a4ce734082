"""aevb-eval: the lower bound and the importance-sampled log p(x) of a trained checkpoint, in eval_<split>_k<k>.json."""

import logging
import math
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from aevb.build import build_datamodule, load_model, run_config
from aevb.callbacks.progress import duration
from aevb.errors import ConfigError
from aevb.estimators.marginal_likelihood import importance_sampled_log_likelihood
from aevb.hydra_glue import run_directory
from aevb.models.vae import VAE
from aevb.runs.directory import Run

log = logging.getLogger(__name__)


def load_datamodule(ckpt_path: str | Path, data_dir: str | None = None):
    """The datamodule of a checkpoint's run, set up (data_dir replaces the run's own, e.g. on another machine)."""
    datamodule = build_datamodule(run_config(ckpt_path), data_dir)
    datamodule.setup()
    return datamodule


def chunks(cfg: DictConfig, model: VAE, images: torch.Tensor) -> tuple[int, int]:
    """cfg's batch_size and max_rows, each either a number or auto (chunk_sizes)."""
    automatic = chunk_sizes(model, images, cfg.importance_samples)
    batch_size = automatic[0] if cfg.batch_size == "auto" else int(cfg.batch_size)
    max_rows = automatic[1] if cfg.max_rows == "auto" else int(cfg.max_rows)
    if batch_size < 1 or max_rows < 1:
        raise ConfigError(f"batch_size={cfg.batch_size} and max_rows={cfg.max_rows} must be at least 1, or auto")
    return batch_size, max_rows


def mean_and_standard_error(values: torch.Tensor) -> dict:
    """The mean over datapoints, and its standard error (the sample standard deviation / sqrt(n))."""
    values = values.double()
    error = values.std().item() / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"mean": values.mean().item(), "standard_error": error}


CPU_CHUNKS = (100, 8192)  # datapoints a batch, decoded (sample, datapoint) rows at once: about 80 MB for MNIST
DEVICE_MEMORY_SHARE = 0.5  # of the accelerator's free memory, for the rows decoded at once


@torch.no_grad()
def chunk_sizes(model: VAE, images: torch.Tensor, importance_samples: int) -> tuple[int, int]:
    """(batch_size, max_rows) for `batch_size: auto` and `max_rows: auto`: today's on the CPU; on an accelerator as many
    rows as DEVICE_MEMORY_SHARE of its free memory holds, measured on a probe of 8192 rows, and the datapoints whose
    k samples fill them, so the device is busy with few large chunks rather than launching thousands of small ones."""
    if model.device.type != "cuda":
        return CPU_CHUNKS
    probe = images[: max(1, CPU_CHUNKS[1] // importance_samples)].to(model.device)
    torch.cuda.synchronize(model.device)
    torch.cuda.reset_peak_memory_stats(model.device)
    before = torch.cuda.memory_allocated(model.device)
    importance_sampled_log_likelihood(model, probe, importance_samples, CPU_CHUNKS[1])
    bytes_per_row = (torch.cuda.max_memory_allocated(model.device) - before) / min(CPU_CHUNKS[1], len(probe) * importance_samples)
    free, _ = torch.cuda.mem_get_info(model.device)
    rows = max(CPU_CHUNKS[1], int(DEVICE_MEMORY_SHARE * free / max(bytes_per_row, 1.0)))
    return max(1, min(len(images), rows // importance_samples)), rows


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
            done, seconds = min((index + 1) * batch_size, len(images)), time.perf_counter() - start
            rate = done / seconds if seconds > 0 else float("inf")
            log.info("%s / %s datapoints scored | %.1f datapoints/s | %s left", f"{done:,}", f"{len(images):,}", rate,
                     duration((len(images) - done) / rate))  # fmt: skip
    return {
        "num_datapoints": len(images),
        "lower_bound": {
            **mean_and_standard_error(torch.cat(bounds).cpu()),
            "estimator": model.estimator,
            "num_samples": model.bound_samples,  # L (the key of eval.json files written before the rename)
        },
        "log_marginal_likelihood": {  # the estimate of log p(x); log_likelihood elsewhere is E_q[log p(x|z)]
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
        "limit": cfg.limit,
        "seed": cfg.seed,
        "device": str(model.device),
        "threads": torch.get_num_threads(),
        **evaluate(model, images, cfg.importance_samples, *chunks(cfg, model, images), cfg.seed),
    }
    output = Run(run_directory(cfg.ckpt_path)).write_evaluation(results, cfg.output_file)
    bound, log_px = results["lower_bound"], results["log_marginal_likelihood"]
    print(
        f"{cfg.split}, {results['num_datapoints']} datapoints, after {model.samples_seen:,} training samples:\n"
        f"  lower bound       {bound['mean']:.2f} +- {bound['standard_error']:.2f} nats\n"
        f"  log p(x), k={cfg.importance_samples}  {log_px['mean']:.2f} +- {log_px['standard_error']:.2f} nats\n"
        f"in {results['seconds']:.0f} s; written to {output}"
    )
    return results
