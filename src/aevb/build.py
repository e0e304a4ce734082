"""The one builder of what a run is made of, from its config: the datamodule, the model and the trainer, and a trained
model back from a checkpoint. aevb-train, aevb-eval, aevb-bench, aevb-figures, the step-size probe and the tests all
build through it, so what they build is the same.

The datamodule is told by its config (and by the model's class, which says whether it trains on datapoint indices)
what to yield; it never asks the model.
"""

from pathlib import Path

import lightning.pytorch as L
import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from aevb.callbacks.progress import SamplesProgressBar
from aevb.config.hydra_glue import run_directory
from aevb.config.schema import build
from aevb.data.facts import DataFacts
from aevb.errors import ConfigError
from aevb.models.latent_variable_model import LatentVariableModel
from aevb.runs.checkpoints import AtomicCheckpointIO, read_checkpoint
from aevb.runs.directory import Run
from aevb.training.run_checks import trainer_arguments


def build_datamodule(cfg: DictConfig, data_dir: str | None = None) -> L.LightningDataModule:
    """The datamodule of `cfg` (data_dir replaces its own, e.g. on another machine); it yields datapoint indices with
    its minibatches when the model's class trains on them (MCEM's chains)."""
    data = cfg.data if data_dir is None else OmegaConf.merge(cfg.data, {"data_dir": data_dir})
    return build(data, "data", with_indices=get_class(cfg.model._target_).needs_datapoint_indices)


def build_model(cfg: DictConfig, data: DataFacts, with_optimizer: bool = True) -> LatentVariableModel:
    """The model of `cfg`, told `data`, with its optimizer and learning-rate scheduler factories (tried now: Lightning
    makes them only once training starts) or none; bad values are ConfigErrors naming the key."""
    make_optimizer = make_scheduler = None
    if with_optimizer:
        make_optimizer = build(cfg.optimizer, "optimizer")
        optimizer = tried(make_optimizer, [torch.nn.Parameter(torch.zeros(1))], "optimizer", cfg.optimizer)
        if cfg.get("scheduler"):
            make_scheduler = build(cfg.scheduler, "scheduler")
            tried(make_scheduler, optimizer, "scheduler", cfg.scheduler)
    model = build(cfg.model, "model", data=data, optimizer=make_optimizer, scheduler=make_scheduler)
    model.config = OmegaConf.to_container(cfg.model, resolve=True)  # what its checkpoints carry, to load them by
    return model


def tried(factory, argument, group: str, node: DictConfig):
    """factory(argument), with a refusal of a value raised as a ConfigError naming the group."""
    try:
        return factory(argument)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{group} ({node._target_}): {error}") from error


def datamodule_and_model(cfg: DictConfig) -> tuple[L.LightningDataModule, LatentVariableModel]:
    """The datamodule (set up: its files read) and the model (with its optimizer factory) that `cfg` describes."""
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    return datamodule, build_model(cfg, DataFacts.of(datamodule))


def build_trainer(cfg: DictConfig, callbacks: list[L.Callback], logger) -> L.Trainer:
    """The Trainer of cfg.trainer (max_samples resolved into steps), saving checkpoints atomically, with a progress bar
    that counts samples where it has one."""
    arguments = OmegaConf.create(trainer_arguments(cfg))
    if arguments.get("enable_progress_bar"):
        callbacks = [*callbacks, SamplesProgressBar()]
    return build(arguments, "trainer", callbacks=callbacks, logger=logger, plugins=[AtomicCheckpointIO()])


def checkpoint_run(ckpt_path: str | Path) -> Run:
    """The aevb-train run a checkpoint belongs to; ConfigErrors if the checkpoint or its run's config.yaml is missing."""
    if not Path(ckpt_path).is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path} does not exist ({Path(ckpt_path).resolve()}); pass a checkpoint written by aevb-train"
        )
    run = Run(run_directory(ckpt_path))
    if not run.started:
        raise ConfigError(
            f"{run.config_file} is missing: ckpt_path must be a checkpoint in <run>/checkpoints/ of an aevb-train run"
        )
    return run


def run_config(ckpt_path: str | Path) -> DictConfig:
    """The config of the run a checkpoint belongs to (its config.yaml, in today's spelling)."""
    return checkpoint_run(ckpt_path).config


def load_model(ckpt_path: str | Path) -> LatentVariableModel:
    """The trained model of a checkpoint, rebuilt from its run's config, in eval mode on the CPU."""
    run = checkpoint_run(ckpt_path)
    shape = get_class(run.config.data._target_).data_shape
    split = run.split_record
    data = DataFacts(shape=shape) if split is None else DataFacts.of_split_record(shape, split)
    model = build_model(run.config, data, with_optimizer=False)
    checkpoint = read_checkpoint(ckpt_path)
    model.load_state_dict(checkpoint["state_dict"])
    model.samples_seen = checkpoint.get("samples_seen", 0)
    return model.eval()


def load_trained_model(ckpt_path: str | Path, map_location: str | torch.device | None = None) -> LatentVariableModel:
    """aevb.load: the trained model of an aevb-train checkpoint, in eval mode, on the device `map_location` ("cuda",
    "mps", ...; None: the CPU), with its views (aevb.models.views: sample, interpolate, manifold, ...). Built from the
    config the checkpoint carries, or, for one written before checkpoints carried it, from its run's config.yaml."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(
            f"checkpoint {ckpt_path} does not exist ({path.resolve()}); pass one written by aevb-train: "
            "<run>/checkpoints/last.ckpt or best.ckpt"
        )
    carries_config = "model_config" in read_checkpoint(path)
    model = LatentVariableModel.load_from_checkpoint(path) if carries_config else load_model(path)
    return model if map_location is None else model.to(map_location)
