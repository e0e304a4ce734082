"""What a checkpoint needs, beyond Lightning's own state, for a resumed run to continue exactly as the uninterrupted one."""

import lightning.pytorch as L

from aevb.checkpoints import random_states, restore_random_states


class ResumableState(L.Callback):
    """The global random-number states travel with each checkpoint, and evaluations leave them as they found them.

    The noise of the reparameterisation trick (and of wake-sleep's dreams, MCEM's chains) comes from the global
    generators: with their states in the checkpoint, a resumed run draws what the uninterrupted run would have.
    An evaluation draws its noise from the same generators and then puts them back, so training draws the same
    numbers whatever the evaluation schedule: a run evaluated at other points trains the same weights.
    The curves logged so far reach the disk with each checkpoint, so a resumed run logs only what comes after it.
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
