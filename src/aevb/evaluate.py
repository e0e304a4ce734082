"""aevb-eval: an estimate of log p(x) (the config group estimator: importance sampling, Appendix D's HMC, AIS) of a trained
checkpoint, and its lower bound where it has one, in eval_<split>_<estimator settings>.json."""

import logging
import math
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from aevb.build import build_datamodule, load_model, run_config
from aevb.callbacks.progress import duration
from aevb.config.hydra_glue import command_line_keys, run_directory
from aevb.config.schema import build, check_node
from aevb.errors import ConfigError
from aevb.estimators.log_px import LogPxEstimator, check_model
from aevb.runs.directory import Run
from aevb.runs.machine import computed_on

log = logging.getLogger(__name__)
BATCH_SIZES = {"cpu": 100, "cuda": 1000}  # datapoints scored together with batch_size=auto, per device type
PROBE_ROWS = 4096  # (sample, datapoint) rows of the probe that measures an estimator's memory per row on a GPU
MEMORY_FRACTION = 0.5  # of the GPU's free memory that an estimator's chunks may fill


def load_datamodule(ckpt_path: str | Path, data_dir: str | None = None):
    """The datamodule of a checkpoint's run, set up (data_dir replaces the run's own, e.g. on another machine)."""
    datamodule = build_datamodule(run_config(ckpt_path), data_dir)
    datamodule.setup()
    return datamodule


def mean_and_standard_error(values: torch.Tensor) -> dict:
    """The mean over datapoints, and its standard error (the sample standard deviation / sqrt(n))."""
    values = values.double()
    error = values.std().item() / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"mean": values.mean().item(), "standard_error": error}


@torch.no_grad()
def evaluate(model, estimator: LogPxEstimator, images: torch.Tensor, batch_size: int, seed: int) -> dict:
    """The estimator's log p(x) and diagnostics (each under its own name) and, for a model with a recognition model,
    the SGVB lower bound (the model's estimator and L): means over the images, with their standard errors."""
    check_model(estimator, model)
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1")
    torch.manual_seed(seed)
    has_bound = hasattr(model, "bound_terms")
    bounds, outputs = [], {}
    start = time.perf_counter()
    for index, batch in enumerate(images.split(batch_size)):
        batch = batch.to(model.device)
        if has_bound:
            bounds.append(model.bound_terms(batch).lower_bound)
        for name, values in estimator(model, batch).items():
            outputs.setdefault(name, []).append(values.detach())
        if index % max(1, len(images) // batch_size // 10) == 0:
            done, seconds = min((index + 1) * batch_size, len(images)), time.perf_counter() - start
            rate = done / seconds if seconds > 0 else float("inf")
            log.info("%s / %s datapoints scored | %.1f datapoints/s | %s left", f"{done:,}", f"{len(images):,}", rate,
                     duration((len(images) - done) / rate))  # fmt: skip
    bound = {}
    if has_bound:
        bound = {"lower_bound": {**mean_and_standard_error(torch.cat(bounds).cpu()), "estimator": model.estimator,
                                 "num_samples": model.bound_samples}}  # fmt: skip
    return {
        "num_datapoints": len(images),
        "estimator": {"name": estimator.name, "description": estimator.describe()},
        **bound,
        # under the estimator's name, the estimate of log p(x) (log_likelihood elsewhere is E_q[log p(x|z)])
        **{name: mean_and_standard_error(torch.cat(values).cpu()) for name, values in outputs.items()},
        "seconds": round(time.perf_counter() - start, 3),
    }


def batch_size_for(batch_size: int | str, device: torch.device) -> int:
    """`batch_size`, or with "auto" the device type's (BATCH_SIZES; another type: the CPU's)."""
    if batch_size == "auto":
        return BATCH_SIZES.get(device.type, BATCH_SIZES["cpu"])
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} must be a positive number of datapoints, or auto")
    return batch_size


def rows_that_fit(model, estimator: LogPxEstimator, images: torch.Tensor) -> int:
    """The (sample, datapoint) rows the estimator may decode at once on the model's CUDA device: MEMORY_FRACTION of the
    free memory over the memory a row takes, measured on a probe of PROBE_ROWS rows (never fewer than its max_rows)."""
    device, rows = model.device, estimator.max_rows
    estimator.max_rows = PROBE_ROWS
    try:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        with torch.no_grad(), torch.random.fork_rng(devices=[device]):
            estimator(model, images[:4].to(device))
        per_row = max(1, torch.cuda.max_memory_allocated(device) - before) / PROBE_ROWS
    finally:
        estimator.max_rows = rows
    free, _ = torch.cuda.mem_get_info(device)
    return max(rows, int(MEMORY_FRACTION * free / per_row))


def run_eval(cfg: DictConfig) -> dict:
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    model = load_model(cfg.ckpt_path).to(device)
    check_node("estimator", OmegaConf.to_container(cfg.estimator, resolve=True))
    estimator = build(cfg.estimator, "estimator")
    check_model(estimator, model)
    batch_size = batch_size_for(cfg.batch_size, model.device)
    datamodule = load_datamodule(cfg.ckpt_path, cfg.paths.data_dir)
    if cfg.split not in datamodule.eval_splits or len(datamodule.eval_splits[cfg.split]) == 0:
        raise ConfigError(f"split={cfg.split!r} is empty or unknown for this run; use one of {datamodule.evaluation_names}")
    images = datamodule.eval_splits[cfg.split][: cfg.limit]
    if model.device.type == "cuda" and hasattr(estimator, "max_rows") and "estimator.max_rows" not in command_line_keys():
        estimator.max_rows = rows_that_fit(model, estimator, images)  # the GPU filled, within its memory
        log.info("estimator.max_rows=%d: the rows that fit in %.0f%% of the GPU's free memory", estimator.max_rows,
                 100 * MEMORY_FRACTION)  # fmt: skip
    results = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "samples_seen": model.samples_seen,
        "split": cfg.split,
        "limit": cfg.limit,
        "seed": cfg.seed,
        "computed_on": computed_on(model.device),
        "batch_size": batch_size,
        **evaluate(model, estimator, images, batch_size, cfg.seed),
    }
    results["estimator"]["settings"] = OmegaConf.to_container(cfg.estimator, resolve=True) | (
        {"max_rows": estimator.max_rows} if hasattr(estimator, "max_rows") else {}
    )
    output = Run(run_directory(cfg.ckpt_path)).write_evaluation(results, cfg.output_file)
    lines = [f"{cfg.split}, {results['num_datapoints']} datapoints, after {model.samples_seen:,} training samples:"]
    for label, name in (("lower bound", "lower_bound"), (f"log p(x), {estimator.describe()}", estimator.name)):
        if name in results:
            lines.append(f"  {label:<24} {results[name]['mean']:.2f} +- {results[name]['standard_error']:.2f} nats")
    print("\n".join([*lines, f"in {results['seconds']:.0f} s; written to {output}"]))
    return results
