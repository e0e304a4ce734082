"""Where the Hydra configs live, the resolvers they use, and checks made before a run starts."""

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

_PACKAGED = Path(__file__).resolve().parent / "conf"  # in a built wheel
CONFIG_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "conf"
PROJECT_ROOT = CONFIG_DIR.parent

OmegaConf.register_new_resolver("aevb.project_root", lambda: str(PROJECT_ROOT), replace=True)


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and what is allowed."""


def launches_processes(trainer: DictConfig) -> bool:
    """Whether this trainer config starts several DDP processes from one command."""
    strategy = str(trainer.get("strategy", "auto"))
    devices = trainer.get("devices", "auto")
    return "ddp" in strategy and str(devices) not in ("1", "[0]")


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (-m)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def check_run_config(cfg: DictConfig) -> None:
    """Refuse configurations that would fail, hang or silently misbehave once training starts."""
    if in_multirun() and launches_processes(cfg.trainer):
        raise ConfigError(
            f"trainer.strategy={cfg.trainer.strategy} with trainer.devices={cfg.trainer.devices} inside a multirun (-m): "
            "Lightning re-launches DDP ranks by re-running the command, which Hydra sweeps do not survive "
            "(Lightning issue #11300). Sweep with one device per job (trainer=cpu or trainer=gpu), or run "
            "each DDP job as a single run without -m (or with hydra/launcher=submitit_slurm, where SLURM starts the ranks)."
        )
