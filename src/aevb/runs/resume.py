"""Re-running a command continues its run: its directory says whether to skip it, resume it, or start it."""

import inspect
from dataclasses import dataclass

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from aevb.config.hydra_glue import defines_no_run, run_directory
from aevb.config.schema import parameters
from aevb.errors import CheckpointError
from aevb.runs.checkpoints import read_checkpoint
from aevb.runs.directory import Run

# What a checkpoint passed as ckpt_path must share with the run it continues in: the networks', optimiser's and
# learning-rate schedule's shapes.
MUST_MATCH_A_CHECKPOINT = ("model.", "optimizer._target_", "scheduler._target_", "data._target_")
MAY_DIFFER_FROM_A_CHECKPOINT = ("model.compile", "model.gradient_clip_norm")


def flatten(config, prefix: str = "") -> dict:
    """{dotted key: value} of a nested dict or list."""
    items = config.items() if isinstance(config, dict) else enumerate(config) if isinstance(config, list) else None
    if items is None:
        return {prefix[:-1]: config}
    flat = {}
    for key, value in items:
        flat |= flatten(value, f"{prefix}{key}.")
    return flat


def default_value(config: dict, key: str):
    """The default, in the code, of the setting at dotted `key`: the default of that parameter of the nearest
    enclosing node's `_target_` (None where there is none)."""
    *path, name = key.split(".")
    node = config
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
    target = node.get("_target_")
    try:
        parameter = (parameters(get_object(target)) or {}).get(name) if target else None
    except (ImportError, AttributeError, ValueError):
        return None
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def differences(before: DictConfig, now: DictConfig, keep=lambda key: True) -> list[str]:
    """'key: before -> now' for each resolved key (that `keep` accepts) whose value differs.

    A key missing on one side is a setting added (or removed) since: it is no difference when the other side
    holds its default in the code (or null), since a run that never had it ran as that default."""
    containers = [OmegaConf.to_container(c, resolve=True) for c in (before, now)]
    old, new = (flatten(container) for container in containers)
    changed = []
    for key in sorted(old.keys() | new.keys()):
        if not keep(key) or old.get(key) == new.get(key):
            continue
        if key not in old or key not in new:
            present, container = (new[key], containers[1]) if key in new else (old[key], containers[0])
            if present is None or present == default_value(container, key):
                continue
        changed.append(f"{key}: {old.get(key)} -> {new.get(key)}")
    return changed


def check_same_run(run: Run, cfg: DictConfig) -> None:
    """Refuse to continue a run directory that holds a run of another config (a config file changed in between)."""
    if not run.started:
        return
    changed = differences(run.config, cfg, keep=lambda key: not defines_no_run(key))
    if changed:
        raise CheckpointError(
            f"{run.directory} holds a run of another config, so this command cannot continue it "
            f"({'; '.join(changed)}; before -> now). A config file or default changed since it started. "
            "Run elsewhere with hydra.run.dir=<new dir> (hydra.sweep.dir for -m), or move that directory away."
        )


def check_checkpoint_fits(ckpt_path: str, cfg: DictConfig) -> None:
    """Refuse a ckpt_path whose run had other networks or another optimiser, naming what differs."""
    owner = Run(run_directory(ckpt_path))
    if not owner.started:
        return  # not written by aevb-train: the state dict itself is the check
    changed = differences(
        owner.config,
        cfg,
        keep=lambda key: key.startswith(MUST_MATCH_A_CHECKPOINT) and not key.startswith(MAY_DIFFER_FROM_A_CHECKPOINT),
    )
    if changed:
        raise CheckpointError(
            f"ckpt_path={ckpt_path} was trained under another model, optimizer or data config "
            f"({'; '.join(changed)}; checkpoint -> now). Use the checkpoint's own settings (its run's config.yaml) "
            "or start without ckpt_path."
        )


@dataclass(frozen=True)
class Attempt:
    """What one invocation of a run's command does: continue from `ckpt_path` at `resumed_from` training samples, or
    start afresh (both None); `again` when the run had started before (else a first attempt, maybe from another
    run's checkpoint or the step-size probe's winner)."""

    ckpt_path: str | None
    resumed_from: int | None
    again: bool

    def describe(self, run: Run) -> str:
        """The line a resumed attempt logs as it starts."""
        if self.resumed_from is None:
            return f"Starting {run.directory} afresh"
        how = "Resuming" if self.again else "Starting"  # a first attempt: from a probe's winner or a ckpt_path
        return f"{how} {run.directory} from {self.ckpt_path} at {self.resumed_from:,} training samples"


def next_attempt(run: Run, cfg: DictConfig) -> Attempt:
    """How a command continues its unfinished run: from the ckpt_path it gives (checked to fit the run's config), else
    from the run's last.ckpt, else afresh."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None:
        check_checkpoint_fits(ckpt_path, cfg)
    elif run.checkpoint.is_file():
        ckpt_path = str(run.checkpoint)
    resumed_from = read_checkpoint(ckpt_path).get("samples_seen", 0) if ckpt_path else None
    return Attempt(ckpt_path, resumed_from, again=run.started)
