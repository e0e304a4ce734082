"""Evaluate the bound at log-spaced numbers of training samples, so curves are smooth on a log axis (Figure 2)."""

import math

import lightning.pytorch as L
from lightning.pytorch.trainer.states import TrainerFn

from aevb.config import ConfigError


class LogSpacedEvaluation(L.Callback):
    """Runs the validation loop (the bound on every evaluation split) when the number of training
    samples seen first reaches start_samples * 10^(k / points_per_decade), k = 0, 1, 2, ...

    It replaces the every-epoch schedule, so the trainer must have check_val_every_n_epoch=null.
    A point that falls inside a minibatch is evaluated at the end of that minibatch; the last
    step of a run with a step limit (trainer.max_samples) is always evaluated.
    """

    def __init__(self, points_per_decade: int = 10, start_samples: float = 1e4):
        if points_per_decade < 1 or start_samples < 1:
            raise ConfigError(
                f"LogSpacedEvaluation needs points_per_decade >= 1 and start_samples >= 1, "
                f"got {points_per_decade} and {start_samples}"
            )
        self.points_per_decade, self.start_samples = points_per_decade, start_samples

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == TrainerFn.FITTING and trainer.check_val_every_n_epoch is not None:
            raise ConfigError(
                f"callbacks.evaluation_schedule evaluates at log-spaced sample counts, but trainer.check_val_every_n_epoch="
                f"{trainer.check_val_every_n_epoch} also asks for an evaluation every epoch: "
                "set trainer.check_val_every_n_epoch=null"
            )

    def next_evaluation_batch(self, batches_done: int, batch_size: int) -> int:
        """The number of minibatches after which the next scheduled point has been reached."""
        k = 0
        while (target := math.ceil(self.start_samples * 10 ** (k / self.points_per_decade) / batch_size)) <= batches_done:
            k += 1
        return target

    def _schedule(self, trainer: L.Trainer, model) -> None:
        batches_done = trainer.fit_loop.epoch_loop.total_batch_idx + 1
        # Lightning validates after the minibatch whose count is a multiple of val_check_batch
        # (with check_val_every_n_epoch=null); the next multiple of the target is the target itself.
        # A minibatch counts its samples once per weight update (MCEM updates several times).
        target = self.next_evaluation_batch(batches_done, trainer.datamodule.batch_size * model.updates_per_batch)
        last_batch = math.ceil(trainer.max_steps / model.updates_per_batch)  # max_steps counts optimiser steps
        if last_batch > batches_done:  # the last step is evaluated too, so `last.ckpt` holds the final model
            target = min(target, last_batch)
        trainer.val_check_batch = target

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._schedule(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._schedule(trainer, pl_module)
