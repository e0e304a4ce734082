"""Compose the training config the way `aevb-train` does, for tests that run in-process."""

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict, read_write

from aevb.config.hydra_glue import CONFIG_DIR


def compose_train(overrides: list[str], output_dir, data_dir, return_hydra_config: bool = False) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.output_dir={output_dir}",
                f"paths.output_root={output_dir}",
                f"paths.data_dir={data_dir}",
                "trainer.enable_progress_bar=false",
                *overrides,
            ],
            return_hydra_config=return_hydra_config,
        )


def composed_in_mode(overrides: list[str], mode: RunMode, output_dir, data_dir, job: int = 0) -> DictConfig:
    """The config of job `job` of a run (RunMode.RUN) or a sweep (MULTIRUN) with these overrides on its command line,
    set as Hydra's global config, as the job sees it."""
    cfg = compose_train(overrides, output_dir, data_dir, return_hydra_config=True)
    with read_write(cfg), open_dict(cfg):
        cfg.hydra.mode, cfg.hydra.job.num = mode, job
    HydraConfig.instance().set_config(cfg)
    return cfg
