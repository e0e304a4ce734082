"""Where the Hydra configs live, the resolvers they use, and checks made before a run starts."""

import copy
import hashlib
import math
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from aevb.errors import ConfigError
from aevb.runs import NOT_DEFINING_A_RUN
from aevb.schema import check_schema

_PACKAGED = Path(__file__).resolve().parent / "conf"  # in a built wheel
CONFIG_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "conf"
PROJECT_ROOT = CONFIG_DIR.parent


def run_directory(ckpt_path: str) -> Path:
    """The run a checkpoint belongs to: aevb-train writes them to <run>/checkpoints/."""
    path = Path(ckpt_path).resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


OmegaConf.register_new_resolver("aevb.project_root", lambda: str(PROJECT_ROOT), replace=True)


def job_dirname(overrides: str, limit: int = 150) -> str:
    """A sweep job's directory name from its overrides, cut to `limit` characters plus a hash of the whole
    when longer: file systems allow 255 bytes a name, and a sweep with many overrides goes past that. A "/" (of a
    group override such as model/likelihood=gaussian) becomes "-", so the name stays one directory."""
    overrides = overrides.replace("/", "-")
    if len(overrides) <= limit:
        return overrides
    return f"{overrides[:limit]}-{hashlib.sha1(overrides.encode()).hexdigest()[:8]}"


OmegaConf.register_new_resolver("aevb.job_dirname", job_dirname, replace=True)
OmegaConf.register_new_resolver("aevb.keys_not_defining_a_run", lambda: list(NOT_DEFINING_A_RUN), replace=True)


def command_name(ignored_keys: list[str]) -> str:
    """A run's (or a sweep's) directory name: the overrides of its command line, sorted, so that re-running the same
    command finds the same directory and continues there. Hydra's own settings and the `ignored_keys` (where the data
    is, how many devices) are left out; "default" when nothing else is overridden.

    It reads sys.argv, the command as typed, and is resolved once per command: Hydra copies the resolved value
    into every job of a sweep (the resolver is cached), where sys.argv may be another process's.
    """
    overrides = []
    for argument in sys.argv[1:]:
        key = argument.split("=", 1)[0].lstrip("+~")
        if "=" not in argument or argument.startswith("-") or key.split(".")[0].split("/")[0] == "hydra" or key in ignored_keys:
            continue
        overrides.append(argument)
    return job_dirname(",".join(sorted(overrides))) or "default"


OmegaConf.register_new_resolver("aevb.command_name", command_name, replace=True, use_cache=True)


def launches_processes(trainer: DictConfig) -> bool:
    """Whether this trainer config starts several DDP processes from one command."""
    strategy = str(trainer.get("strategy", "auto"))
    devices = trainer.get("devices", "auto")
    return "ddp" in strategy and str(devices) not in ("1", "[0]")


def updated(cfg: DictConfig, changes: dict) -> DictConfig:
    """A copy of `cfg` with each dotted key of `changes` set to its value (added where missing); `cfg` stays as it is."""
    changed = copy.deepcopy(cfg)
    for key, value in changes.items():
        OmegaConf.update(changed, key, value, force_add=True)
    return changed


def command_line_keys() -> set[str]:
    """The keys this job's command line sets (e.g. trainer.max_epochs), as Hydra recorded them; none outside Hydra."""
    if not HydraConfig.initialized():
        return set()
    return {override.split("=", 1)[0].lstrip("+~") for override in HydraConfig.get().overrides.task}


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (-m)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


def slurm_launcher() -> DictConfig | None:
    """The launcher's config when this job was submitted to SLURM (hydra/launcher=slurm or submitit_slurm)."""
    if not in_multirun():
        return None
    launcher = HydraConfig.get().launcher
    return launcher if launcher.get("_target_") == SLURM_LAUNCHER else None


def gpu_for_job() -> int:
    """The GPU of this job of a sweep: job k takes GPU k mod the number of GPUs (trainer=gpu_per_job)."""
    import torch  # only here: the configs stay cheap to compose

    job = HydraConfig.get().job.num if in_multirun() else 0
    return job % max(1, torch.cuda.device_count())


OmegaConf.register_new_resolver("aevb.gpu_for_job", gpu_for_job, replace=True)


def check_slurm_tasks(cfg: DictConfig, launcher: DictConfig) -> None:
    """One SLURM task per device, so that SLURM starts exactly the ranks Lightning expects."""
    trainer = cfg.trainer
    devices, num_nodes = trainer.get("devices"), trainer.get("num_nodes", 1)
    wanted = {"tasks_per_node": devices, "nodes": num_nodes}
    if trainer.get("accelerator") in ("gpu", "cuda"):
        wanted["gpus_per_node"] = devices
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
    slurm = slurm_launcher()
    if slurm is not None:
        check_slurm_tasks(cfg, slurm)
    elif in_multirun() and launches_processes(cfg.trainer):
        raise ConfigError(
            f"trainer.strategy={cfg.trainer.strategy} with trainer.devices={cfg.trainer.devices} inside a multirun (-m): "
            "Lightning re-launches DDP ranks by re-running the command, which Hydra sweeps do not survive "
            "(Lightning issue #11300). Sweep with one device per job (trainer=cpu, trainer=gpu or trainer=gpu_per_job), "
            "run each DDP job as a single run without -m, or submit the sweep with hydra/launcher=slurm, where SLURM "
            "starts the ranks (hydra-submitit-launcher's submitit_slurm)."
        )


MONITORED = "model_selection/score"  # the one metric a checkpoint callback can select by (LatentVariableModel logs it)


def check_what_is_measured(cfg: DictConfig) -> None:
    """A run must train, evaluate, and select checkpoints by a metric that exists."""
    for key in ("limit_train_batches", "limit_val_batches"):
        if cfg.trainer.get(key) == 0:
            raise ConfigError(
                f"trainer.{key}=0 leaves nothing to {'train' if 'train' in key else 'evaluate the bound'} on; "
                "set a number or fraction of batches, or null for all"
            )
    for name, callback in (cfg.get("callbacks") or {}).items():
        is_checkpoint = bool(callback) and callback.get("_target_", "").endswith("ModelCheckpoint")
        if is_checkpoint and callback.get("monitor") not in (None, MONITORED):
            raise ConfigError(
                f"callbacks.{name}.monitor={callback.monitor} is not a logged metric: checkpoints are selected by "
                f"{MONITORED} (the model's selection term on the validation split), or by none (monitor=null)"
            )


# Trainer options that act on Lightning's automatic optimisation only, with the values that switch them off.
AUTOMATIC_OPTIMISATION_ONLY = {"gradient_clip_val": None, "accumulate_grad_batches": 1}


def trainer_arguments(cfg: DictConfig) -> dict:
    """The trainer config as Trainer arguments, with the training length in samples resolved.

    trainer.max_samples (the paper's x-axis, "training samples evaluated") becomes
    max_steps = ceil(max_samples / data.batch_size) whole global minibatches and no epoch limit.
    """
    arguments = OmegaConf.to_container(cfg.trainer, resolve=True)
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
    return {**arguments, "max_steps": math.ceil(max_samples / cfg.data.batch_size), "max_epochs": -1}
