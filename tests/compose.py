"""Compose the training config the way `aevb-train` does, for tests that run in-process."""

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from aevb.hydra_glue import CONFIG_DIR


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
