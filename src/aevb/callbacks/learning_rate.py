"""The learning rate logged against training samples seen, the x-axis of every curve here."""

import lightning.pytorch as L
from lightning.pytorch.callbacks import LearningRateMonitor as LightningLearningRateMonitor


class LearningRateMonitor(LightningLearningRateMonitor):
    """Lightning's LearningRateMonitor (callbacks=lr_monitor): lr-<optimizer>[/pg<n>] per parameter group, as set by a
    scheduler=... or the optimiser alone; logged at the model's samples_seen instead of Lightning's step, every
    trainer.log_every_n_steps updates (logging_interval=step) or at each epoch's start (epoch; null: the scheduler's
    interval). Its names and options are Lightning's: it reads the rates with Lightning's own (private) _extract_stats."""

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, *args, **kwargs) -> None:
        every = trainer.log_every_n_steps
        if self.logging_interval != "epoch" and every and trainer.global_step % every == 0:
            self._log(trainer, pl_module, "step" if self.logging_interval is None else "any")

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module, *args, **kwargs) -> None:
        if self.logging_interval != "step":
            self._log(trainer, pl_module, "epoch" if self.logging_interval is None else "any")

    def _log(self, trainer: L.Trainer, pl_module, interval: str) -> None:
        rates = self._extract_stats(trainer, interval)
        for logger in trainer.loggers if rates else ():
            logger.log_metrics(rates, step=pl_module.samples_seen)
