"""What to tell a user whose training loss became NaN or infinite: where, the likely causes, and what is left intact."""

from pathlib import Path

import lightning.pytorch as L

from aevb.components.likelihoods import Gaussian, Likelihood


def divergence_report(
    loss: float, trainer: L.Trainer, samples_seen: int, likelihood: Likelihood, value_range: tuple[float, float] | None
) -> str:
    """Where training diverged, what usually causes it here, and which checkpoint holds the last good model."""
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
    return (
        f"the training loss became {loss} at update {trainer.global_step + 1} ({samples_seen:,} samples seen); "
        f"training stopped before that update. Likely causes: {'; '.join(causes)}. {checkpoint}"
    )
