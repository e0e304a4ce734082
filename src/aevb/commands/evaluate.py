"""aevb-eval: an estimate of log p(x) of a trained checkpoint, and its bound (aevb.evaluate). Only Hydra is imported before it has
parsed the command line."""

import sys

import hydra
from omegaconf import DictConfig

from aevb.config.hydra_glue import CONFIG_DIR, refusing_renamed_keys
from aevb.config.schema import EVAL_RENAMED_KEYS
from aevb.errors import AevbError


def main() -> None:
    """aevb-eval: a renamed key on the command line is refused naming its new spelling, before Hydra composes."""
    refusing_renamed_keys("aevb-eval", EVAL_RENAMED_KEYS, eval_command)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def eval_command(cfg: DictConfig) -> float:
    from aevb.evaluate import run_eval  # here: Hydra has parsed the command line

    try:
        results = run_eval(cfg)
        return results[results["estimator"]["name"]]["mean"]
    except AevbError as error:  # diagnosed: its message names the cause and the fix
        sys.exit(f"aevb-eval: {error}")


if __name__ == "__main__":
    main()
