"""What to tell a user whose training loss became NaN or infinite: where, the likely causes, and what is left intact."""

from pathlib import Path

import lightning.pytorch as L
import torch
from torch import Tensor

from aevb.components.likelihoods import Gaussian, Likelihood


def divergence_report(
    loss: float,
    trainer: L.Trainer,
    update: int,
    samples_seen: int,
    likelihood: Likelihood,
    value_range: tuple[float, float] | None,
) -> str:
    """Where training diverged (its `update`, counted from 1, with `samples_seen` before it), what usually causes it
    here, and which checkpoint holds the last good model."""
    causes = [
        f"a step size too large (optimizer.lr={trainer.optimizers[0].param_groups[0]['lr']}: try a smaller one, "
        "or set model.gradient_clip_norm)"
    ]
    if value_range is not None:
        low, high = value_range
        name = type(likelihood).__name__
        causes.append(f"the data range (the training images span [{low:.3g}, {high:.3g}]; {name} expects [0, 1])")
    if isinstance(likelihood, Gaussian) and likelihood.min_log_var is None:
        causes.append("an unbounded decoder variance (set a floor, e.g. model.likelihood.min_log_var=-10)")
    last = [Path(c.best_model_path) for c in trainer.checkpoint_callbacks if c.monitor is None and c.best_model_path]
    if last and last[0].is_file():
        checkpoint = f"The last good checkpoint, {last[0]}, is intact; re-running the same command resumes from it."
    else:
        checkpoint = "No checkpoint was written before it."
    if update == trainer.global_step + 1:
        stopped = "training stopped before that update"
    else:  # noted on the device and read later (FirstNonFinite)
        stopped = f"training stopped at update {trainer.global_step}, and what the updates from it trained is discarded"
    return (
        f"the training loss became {loss} at update {update} ({samples_seen:,} samples seen); "
        f"{stopped}. Likely causes: {'; '.join(causes)}. {checkpoint}"
    )


class FirstNonFinite:
    """The first update whose loss was NaN or infinite, noted on the loss's device: noting it reads nothing back, so an
    accelerator's queue never waits for it; `read` does, where a run can afford it (evaluations, checkpoints)."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.update = torch.full((), -1, dtype=torch.int64, device=device)  # -1: none yet
        self.samples_seen = torch.zeros((), dtype=torch.int64, device=device)

    def note(self, loss: Tensor, update: int | Tensor, samples_seen: int | Tensor) -> None:
        """Note `loss` of `update` (numbers, or tensors on the device: a CUDA graph replays what it recorded, so the
        values that change from call to call must be read from tensors), in place: a replayed graph writes here."""
        first = (self.update < 0) & ~torch.isfinite(loss)
        self.loss.copy_(torch.where(first, loss.float(), self.loss))
        self.update.copy_(torch.where(first, update, self.update))
        self.samples_seen.copy_(torch.where(first, samples_seen, self.samples_seen))

    def read(self) -> tuple[float, int, int] | None:
        """(loss, update, samples seen before it) of the first non-finite loss noted, or None."""
        update = int(self.update)
        return None if update < 0 else (float(self.loss), update, int(self.samples_seen))
