"""Signs of life while a run trains: one log line per evaluation (samples done of the target, the bound on each
split, samples/s and the time left), through Python logging so that it reaches the console and the run's log file;
and a progress bar that counts samples, shows the last bound and names the split it is evaluating."""

import logging
import time

import lightning.pytorch as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf

from aevb.lightning_adapter import calls_done

log = logging.getLogger("aevb.progress")


def duration(seconds: float) -> str:
    """A time left as a person reads it: 45 s, 12 min, 3.4 h, 2.1 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def target_samples(trainer: L.Trainer, model, samples_per_call: float) -> float | None:
    """The training samples at which this fit stops: max_steps weight updates of the global minibatch, or max_epochs
    of the calls of training_step in an epoch (at `samples_per_call` each); None when neither bounds it."""
    if trainer.max_steps > 0:
        return trainer.max_steps * trainer.datamodule.batch_size  # the global minibatch, which the ranks share
    if trainer.max_epochs is not None and trainer.max_epochs > 0 and samples_per_call > 0:
        return trainer.max_epochs * trainer.num_training_batches * samples_per_call
    return None


class ProgressLog(L.Callback):
    """After each evaluation, one line:
    `1,230,000 / 10,000,000 samples (12%) | lower bound: train -123.45, test -124.30 | 4,520 samples/s | 32 min left`.
    The rate is this attempt's (a resumed run counts from its checkpoint), evaluations included."""

    def on_train_start(self, trainer: L.Trainer, model) -> None:
        self._start = (time.perf_counter(), model.samples_seen, calls_done(trainer))

    def on_validation_end(self, trainer: L.Trainer, model) -> None:
        evaluation = model.last_evaluation
        if trainer.sanity_checking or not trainer.is_global_zero or evaluation.get("samples_seen") != model.samples_seen:
            return
        started, samples_at_start, calls_at_start = getattr(self, "_start", (time.perf_counter(), 0, 0))
        seconds, samples = time.perf_counter() - started, model.samples_seen - samples_at_start
        calls = calls_done(trainer) - calls_at_start
        term = model.selection_term
        bounds = ", ".join(f"{key.split('/')[1]} {value:.2f}" for key, value in evaluation.items() if key.startswith(f"{term}/"))
        parts = [f"{model.samples_seen:,} samples"]
        target = target_samples(trainer, model, samples / calls if calls > 0 else 0.0)
        if target:
            parts[0] = f"{model.samples_seen:,} / {target:,.0f} samples ({100 * model.samples_seen / target:.0f}%)"
        parts.append(f"{term.replace('_', ' ')}: {bounds}")
        if samples > 0 and seconds > 0:
            rate = samples / seconds
            parts.append(f"{rate:,.0f} samples/s")
            if target:
                parts.append(f"{duration(max(target - model.samples_seen, 0) / rate)} left")
        log.info(" | ".join(parts))


class SamplesProgressBar(TQDMProgressBar):
    """Lightning's bar, with the training samples seen and the last bound beside it, and each evaluation's bar named
    by its split ("Evaluating test") instead of "Validation DataLoader 2"."""

    def get_metrics(self, trainer: L.Trainer, model) -> dict:
        items = {"samples": f"{model.samples_seen:,}"}
        evaluation = model.last_evaluation
        for split in ("val", "train"):
            if f"{model.selection_term}/{split}" in evaluation:
                items[f"bound/{split}"] = f"{evaluation[f'{model.selection_term}/{split}']:.2f}"
                break
        return items

    def on_validation_batch_start(self, trainer: L.Trainer, model, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not self.has_dataloader_changed(dataloader_idx):  # (Lightning's, with the split's name for its description)
            return
        self.val_progress_bar.reset(total=convert_inf(self.total_val_batches_current_dataloader))
        what = "Sanity checking" if trainer.sanity_checking else "Evaluating"
        self.val_progress_bar.set_description(f"{what} {model.data.evaluation_names[dataloader_idx]}")
