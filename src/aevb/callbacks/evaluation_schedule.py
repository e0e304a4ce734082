"""Evaluate the bound at log-spaced numbers of training samples, so curves are smooth on a log axis (Figure 2)."""

import lightning.pytorch as L
from lightning.pytorch.trainer.states import TrainerFn

from aevb.data.batches import calls_to_reach
from aevb.errors import ConfigError
from aevb.lightning_adapter import calls_done, validate_after_call
from aevb.training.sample_counts import SampleCounts


class LogSpacedEvaluation(L.Callback):
    """Runs the validation loop (the bound on every evaluation split) when the number of training
    samples seen first reaches start_samples * 10^(k / points_per_decade), k = 0, 1, 2, ...

    It replaces the every-epoch schedule, so the trainer must have check_val_every_n_epoch=null.
    Each point is evaluated once, at the end of the call of training_step in which it is reached (a call trains
    data.steps_per_call minibatches, fewer at an epoch's end), and logged at the true sample count; so no
    evaluation comes before start_samples, and none between two points. The last step of a run with a step
    limit (trainer.max_samples) is always evaluated.
    """

    def __init__(self, points_per_decade: int = 10, start_samples: float = 1e4):
        if points_per_decade < 1 or start_samples < 1:
            raise ConfigError(
                f"LogSpacedEvaluation needs points_per_decade >= 1 and start_samples >= 1, "
                f"got {points_per_decade} and {start_samples}"
            )
        self.points_per_decade, self.start_samples = points_per_decade, start_samples

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # fast_dev_run (debug=fdr) sets check_val_every_n_epoch=1 itself; its one step is the last, and evaluated
        if stage == TrainerFn.FITTING and trainer.check_val_every_n_epoch is not None and not trainer.fast_dev_run:
            raise ConfigError(
                f"callbacks.evaluation_schedule evaluates at log-spaced sample counts, but trainer.check_val_every_n_epoch="
                f"{trainer.check_val_every_n_epoch} also asks for an evaluation every epoch: "
                "set trainer.check_val_every_n_epoch=null"
            )

    def next_evaluation_batch(self, batches_done: int, counts: SampleCounts) -> int:
        """The number of minibatches after which the next scheduled point has been reached."""
        k = 0
        while (target := counts.minibatches_to_reach(self.start_samples * 10 ** (k / self.points_per_decade))) <= batches_done:
            k += 1
        return target

    def _schedule(self, trainer: L.Trainer, model) -> None:
        # Targets are counted in minibatches, whose samples count once per weight update (MCEM updates
        # several times). Lightning counts calls of training_step: it validates after the call whose number is a
        # multiple of val_check_batch (with check_val_every_n_epoch=null), so that is set to the first call after
        # which the target is reached. A call holds data.steps_per_call minibatches, or fewer at the end of an
        # epoch, so the calls are counted through the epoch's own structure (trainer.limit_train_batches included).
        counts = SampleCounts(trainer.datamodule.batch_size, model.updates_per_batch)
        minibatches_done = counts.minibatches_done(trainer.global_step)
        target = self.next_evaluation_batch(minibatches_done, counts)
        last = counts.minibatches_spanning(trainer.max_steps)
        if last > minibatches_done:  # the last step is evaluated too, so `last.ckpt` holds the final model
            target = min(target, last)
        done = calls_done(trainer)
        call_sizes = trainer.train_dataloader.call_sizes()[: trainer.num_training_batches]
        validate_after_call(trainer, done + calls_to_reach(call_sizes, done, minibatches_done, target))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._schedule(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._schedule(trainer, pl_module)
