"""aevb-train: compose the config, train, evaluate, and write what the run produced."""

import json
import time
from pathlib import Path

import hydra
import lightning
import lightning.pytorch as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from aevb.config import CONFIG_DIR, check_run_config, in_multirun, trainer_arguments


def hyperparameters(cfg: DictConfig, trainer: L.Trainer) -> dict:
    """The same flat set of keys for every run, so a sweep lines up in TensorBoard's HPARAMS tab."""
    model, data = cfg.model, cfg.data
    return {
        "algorithm": model._target_.rsplit(".", 1)[-1],
        "data": data._target_.rsplit(".", 1)[-1],
        "binarize": data.get("binarize", "none"),
        "train_limit": str(data.get("train_limit")),
        "latent_dim": model.latent_dim,
        "encoder": model.encoder._target_.rsplit(".", 1)[-1] if "encoder" in model else "none",
        "likelihood": model.likelihood._target_.rsplit(".", 1)[-1],
        "estimator": model.get("estimator", "none"),
        "num_samples": model.get("num_samples", 0),
        "kl_weight": model.get("kl_weight", 0.0),
        "compile": model.get("compile", False),
        "optimizer": cfg.optimizer._target_.rsplit(".", 1)[-1],
        "lr": cfg.optimizer.lr,
        "batch_size": data.batch_size,
        "precision": str(trainer.precision),
        "world_size": trainer.world_size,
        "seed": cfg.seed,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
    }


def datamodule_and_model(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """The datamodule and the model (with its optimizer factory) that `cfg` describes."""
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, data_shape=datamodule.data_shape, optimizer=instantiate(cfg.optimizer))
    return datamodule, model


def train(cfg: DictConfig) -> dict:
    """Run one training job as `cfg` describes; return the metrics it wrote to metrics.json."""
    check_run_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)

    datamodule, model = datamodule_and_model(cfg)
    callbacks = [instantiate(callback) for callback in cfg.get("callbacks", {}).values()]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = instantiate(trainer_arguments(cfg), callbacks=callbacks, logger=logger)

    if trainer.is_global_zero:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        datamodule.setup("fit")  # reads the files once; fit finds the splits ready
        (output_dir / "data_split.json").write_text(json.dumps(datamodule.split_record()))

    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    seconds = time.perf_counter() - start
    if model.last_evaluation.get("samples_seen") != model.samples_seen:
        trainer.validate(model, datamodule=datamodule, verbose=False)

    evaluation = dict(model.last_evaluation)
    terms: dict[str, dict] = {}
    for key, value in evaluation.items():
        if "/" in key:  # "<term>/<split>", e.g. lower_bound/test
            term, split = key.split("/")
            terms.setdefault(term, {})[split] = value
    metrics = {
        "samples_seen": evaluation["samples_seen"],
        "epochs": trainer.current_epoch,
        "wall_clock_seconds": round(seconds, 3),
        "selection_term": model.selection_term,
        "datapoints": evaluation["datapoints"],  # how many each split's averages are over
        **terms,
        "checkpoints": {path.stem: str(path) for path in sorted((output_dir / "checkpoints").glob("*.ckpt"))},
    }
    if trainer.is_global_zero:
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        final = {f"hp/{model.selection_term}_{split}": value for split, value in metrics[model.selection_term].items()}
        for each in trainer.loggers:
            each.log_hyperparams(hyperparameters(cfg, trainer), {**final, "hp/samples_seen": metrics["samples_seen"]})
            each.finalize("success")
        report(metrics, output_dir)
    return metrics


def tensorboard_dir(output_dir: Path) -> Path:
    """Where to point TensorBoard: the whole sweep for a job of a multirun, so its runs compare side by side."""
    if in_multirun():
        return Path(HydraConfig.get().sweep.dir)
    return output_dir


def report(metrics: dict, output_dir: Path) -> None:
    term = metrics["selection_term"]
    values = ", ".join(f"{split} {value:.2f}" for split, value in metrics[term].items())
    name = term.replace("_", " ").capitalize()
    print(
        f"\n{name} per datapoint (nats): {values}, after {metrics['samples_seen']:,} training samples "
        f"in {metrics['wall_clock_seconds']:.0f} s.\n"
        f"Outputs in {output_dir}: metrics.json, config.yaml, checkpoints/, image grids (*.png)\n"
        f"Curves: uv run tensorboard --logdir {tensorboard_dir(output_dir)}"
    )


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float:
    metrics = train(cfg)
    return metrics[metrics["selection_term"]].get("test", float("nan"))
