"""Checks made before a run starts: configurations that would fail, hang or silently misbehave once training starts
are refused naming the key and the fix; and the trainer config as Trainer arguments."""

import sys

from omegaconf import DictConfig, OmegaConf

from aevb.config.hydra_glue import gpus_per_node, in_multirun, slurm_launcher
from aevb.config.schema import check_schema
from aevb.errors import ConfigError
from aevb.runs.curves import EVALUATED_SPLITS
from aevb.training.sample_counts import SampleCounts


def launches_processes(trainer: DictConfig) -> bool:
    """Whether this trainer config starts several DDP processes from one command."""
    strategy = str(trainer.get("strategy", "auto"))
    devices = trainer.get("devices", "auto")
    return "ddp" in strategy and str(devices) not in ("1", "[0]")


def check_slurm_tasks(cfg: DictConfig, launcher: DictConfig) -> None:
    """One SLURM task per device, so that SLURM starts exactly the ranks Lightning expects."""
    trainer = cfg.trainer
    devices, num_nodes = trainer.get("devices"), trainer.get("num_nodes", 1)
    wanted = {"tasks_per_node": devices, "nodes": num_nodes}
    if (gpus := gpus_per_node(trainer.get("accelerator"), devices)) is not None:  # checked on GPUs only
        wanted["gpus_per_node"] = gpus
    wrong = {key: value for key, value in wanted.items() if launcher.get(key) != value}
    if wrong:
        asked = ", ".join(f"hydra.launcher.{key}={launcher.get(key)}" for key in wrong)
        fix = " ".join(f"hydra.launcher.{key}={value}" for key, value in wrong.items())
        raise ConfigError(
            f"{asked} does not match trainer.devices={devices} and trainer.num_nodes={num_nodes}: under SLURM each "
            f"device is one task and SLURM starts the ranks. Use hydra/launcher=slurm (which sets them from the trainer), "
            f"or set {fix}."
        )


def check_run_config(cfg: DictConfig) -> None:
    """Refuse configurations that would fail, hang or silently misbehave once training starts."""
    check_schema(cfg)
    check_what_is_measured(cfg)
    check_tags(cfg)
    slurm = slurm_launcher()
    if slurm is not None:
        check_slurm_tasks(cfg, slurm)
    elif in_multirun() and launches_processes(cfg.trainer):
        raise ConfigError(
            f"trainer.strategy={cfg.trainer.strategy} with trainer.devices={cfg.trainer.devices} inside a multirun (-m, or "
            "a preset that sweeps): Lightning re-launches DDP ranks by re-running the command, which Hydra sweeps do not "
            "survive (Lightning issue #11300). Sweep with one device per job (trainer=cpu, trainer=gpu or "
            "trainer=gpu_per_job), run each DDP job as a single run (without -m; a sweep preset with hydra.mode=RUN), or "
            "submit the sweep with hydra/launcher=slurm, where SLURM starts the ranks (hydra-submitit-launcher's "
            "submitit_slurm)."
        )


def check_tags(cfg: DictConfig) -> None:
    """tags is a list of labels (strings or numbers, recorded as text)."""
    tags = cfg.get("tags")
    if tags is not None and not (OmegaConf.is_list(tags) and all(isinstance(tag, str | int | float) for tag in tags)):
        raise ConfigError(f"tags={tags} must be a list of labels: tags=[{tags}] (or tags=[a,b])")


MONITORED = "model_selection/score"  # the metric best.ckpt selects by (LatentVariableModel logs it)


def is_evaluated_metric(name: str) -> bool:
    """Whether an evaluation gives callbacks a metric of this name: model_selection/score, or "<term>/<split>" (e.g.
    lower_bound/val; which terms there are depends on the model, and Lightning names them when one is missing)."""
    term, _, split = name.partition("/")
    return name == MONITORED or (bool(term) and split in EVALUATED_SPLITS)


def check_what_is_measured(cfg: DictConfig) -> None:
    """A run must train, evaluate, and have its callbacks monitor metrics that exist."""
    for key in ("limit_train_batches", "limit_val_batches"):
        if cfg.trainer.get(key) == 0:
            raise ConfigError(
                f"trainer.{key}=0 leaves nothing to {'train' if 'train' in key else 'evaluate the bound'} on; "
                "set a number or fraction of batches, or null for all"
            )
    optimized = cfg.get("optimized_metric", MONITORED)
    if not is_evaluated_metric(optimized):
        raise ConfigError(
            f"optimized_metric={optimized} is not a metric of an evaluation: {MONITORED} (the model's selection term on "
            f"the validation split), or <term>/<split> with split one of {', '.join(EVALUATED_SPLITS)} (e.g. lower_bound/val)"
        )
    for name, callback in (cfg.get("callbacks") or {}).items():
        monitor = callback.get("monitor") if callback else None
        if monitor is not None and not is_evaluated_metric(monitor):
            raise ConfigError(
                f"callbacks.{name}.monitor={monitor} is not a logged metric: callbacks monitor {MONITORED} (the model's "
                "selection term on the validation split) or a term of an evaluation on a split, <term>/<split> with "
                f"split one of {', '.join(EVALUATED_SPLITS)} (e.g. lower_bound/val, kl/val); or none (monitor=null)"
            )


# Trainer options that act on Lightning's automatic optimisation only, with the values that switch them off.
AUTOMATIC_OPTIMISATION_ONLY = {"gradient_clip_val": None, "accumulate_grad_batches": 1}


def trainer_arguments(cfg: DictConfig) -> dict:
    """The trainer config as Trainer arguments, with the training length in samples resolved.

    trainer.max_samples (the paper's x-axis, "training samples evaluated") becomes
    max_steps = ceil(max_samples / data.batch_size) whole global minibatches and no epoch limit.
    """
    arguments = OmegaConf.to_container(cfg.trainer, resolve=True)
    if arguments.get("enable_progress_bar") == "auto":  # bars scroll a log file or a sweep's interleaved output
        arguments["enable_progress_bar"] = sys.stderr.isatty() and not in_multirun()
    for key, inactive in AUTOMATIC_OPTIMISATION_ONLY.items():
        if arguments.get(key, inactive) != inactive:
            raise ConfigError(
                f"trainer.{key}={arguments[key]}: the models here take their optimiser steps themselves (manual "
                "optimisation, see LatentVariableModel.training_step), and Lightning applies this option only to its "
                f"automatic optimisation; remove trainer.{key}"
            )
    max_samples = arguments.pop("max_samples", None)
    if max_samples is None:
        return arguments
    if max_samples < cfg.data.batch_size:
        raise ConfigError(f"trainer.max_samples={max_samples} is less than one minibatch (data.batch_size={cfg.data.batch_size})")
    if arguments.get("max_steps", -1) not in (-1, None):
        raise ConfigError(
            f"trainer.max_samples={max_samples} and trainer.max_steps={arguments['max_steps']} both set the training length; "
            "keep one (set the other to null, or max_steps=-1)"
        )
    return {**arguments, "max_steps": SampleCounts(cfg.data.batch_size).updates_for(max_samples), "max_epochs": -1}
