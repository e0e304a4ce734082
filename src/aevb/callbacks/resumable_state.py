"""What a checkpoint needs, beyond Lightning's own state, for a resumed run to continue exactly as the uninterrupted one."""

from pathlib import Path

import lightning.pytorch as L

from aevb.runs.checkpoints import random_states, restore_random_states


class ResumableState(L.Callback):
    """The global random-number states travel with each checkpoint, and evaluations leave them as they found them.

    The noise of the reparameterisation trick (and of wake-sleep's dreams, MCEM's chains) comes from the global
    generators: with their states in the checkpoint, a resumed run draws what the uninterrupted run would have.
    An evaluation draws its noise from the same generators and then puts them back, so training draws the same
    numbers whatever the evaluation schedule: a run evaluated at other points trains the same weights.
    The curves logged so far reach the disk with each checkpoint, so a resumed run logs only what comes after it.
    A run whose directory was moved (copied to another machine) keeps which checkpoint is its best, and its score.
    aevb-train adds it to every run (it is not a config choice).
    """

    def __init__(self):
        self._training_states: dict | None = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._training_states = random_states()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        restore_random_states(self._training_states)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["random_states"] = random_states()
        for logger in trainer.loggers:
            logger.save()

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if "random_states" in checkpoint:
            restore_random_states(checkpoint["random_states"])
        follow_a_moved_run(trainer, checkpoint)


def follow_a_moved_run(trainer: L.Trainer, checkpoint: dict) -> None:
    """Each ModelCheckpoint's state in `checkpoint` with the paths of the run's directory when it was saved replaced by
    today's, where it is the run's own checkpoint: Lightning drops the best score of a state saved in another
    directory. A checkpoint of another run (a ckpt_path, the step-size probe's winner) is left as it is."""
    if trainer.ckpt_path is None:
        return
    here = Path(trainer.ckpt_path).resolve().parent
    states = checkpoint.get("callbacks") or {}
    for callback in trainer.checkpoint_callbacks:
        state = states.get(callback.state_key)
        own = state and callback.dirpath is not None and Path(callback.dirpath) == here
        if own and state.get("dirpath") not in (None, callback.dirpath):
            states[callback.state_key] = moved(state, Path(state["dirpath"]), Path(callback.dirpath))


def moved(state: dict, before: Path, now: Path) -> dict:
    """A ModelCheckpoint's state with its directory, and the checkpoints it names in it, moved from `before` to `now`."""

    def path(saved: str) -> str:
        return str(now / Path(saved).relative_to(before)) if saved and Path(saved).is_relative_to(before) else saved

    return {
        **state,
        "dirpath": str(now),
        "best_model_path": path(state.get("best_model_path", "")),
        "kth_best_model_path": path(state.get("kth_best_model_path", "")),
        "last_model_path": path(state.get("last_model_path", "")),
        "best_k_models": {path(saved): score for saved, score in state.get("best_k_models", {}).items()},
    }
