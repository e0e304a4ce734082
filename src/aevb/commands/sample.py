"""aevb-sample: PNG grids of a trained checkpoint's samples, reconstructions, interpolations, traversals and manifold
(aevb.sample). Only Hydra is imported before it has parsed the command line."""

import sys

import hydra
from omegaconf import DictConfig

from aevb.config.hydra_glue import CONFIG_DIR, refusing_renamed_keys
from aevb.errors import AevbError


def main() -> None:
    """aevb-sample, with a relative AEVB_DATA_DIR or AEVB_OUTPUT_DIR made absolute before Hydra composes."""
    refusing_renamed_keys("aevb-sample", {}, sample_command)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="sample")
def sample_command(cfg: DictConfig) -> None:
    from aevb.sample import write_grids  # here: Hydra has parsed the command line

    try:
        write_grids(cfg)
    except AevbError as error:  # diagnosed: its message names the cause and the fix
        sys.exit(f"aevb-sample: {error}")


if __name__ == "__main__":
    main()
