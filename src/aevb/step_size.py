"""The paper's step-size selection (section 5): the global step size was "chosen from {0.01, 0.02, 0.1} based on
performance on the training set in the first few iterations", for each run.

Each candidate trains as a run of its own, in <run>/step_size_probe/lr=<candidate>/, from the same initialisation on
the same minibatches with the same noise (the run's seed), for `probe_samples` training samples. The best by the
model's selection term on the whole training split wins: the lower bound (AEVB, wake-sleep), the estimated log p(x)
(MCEM). The run then continues from the winner's last checkpoint, with the winner's curves, so it is exactly the
run that the winning step size would have given from the start. The candidates train together, as the jobs of a
stacked sweep do (aevb.stacking; in a stacked sweep, with its jobs). A killed probe resumes like any run: candidates
that finished are read back, an unfinished one continues from its own last.ckpt.
"""

import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, open_dict

from aevb.build import datamodule_and_model
from aevb.config.hydra_glue import updated
from aevb.config.schema import build
from aevb.data.batches import TensorBatches, call_end_at_or_after
from aevb.errors import ConfigError, Stopped, TrainingDiverged
from aevb.runs.atomic import replace_file
from aevb.runs.directory import Run
from aevb.stacking.sweep import train_together
from aevb.training.run_checks import launches_processes
from aevb.training.sample_counts import SampleCounts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepSizeSelection:
    """candidates: the step sizes to try (optimizer.lr is replaced by the winner); probe_samples: how many training
    samples each candidate trains before they are compared (rounded up to the end of a call of training_step, and
    at most the run's trainer.max_samples)."""

    candidates: list[float]
    probe_samples: float = 2.0e5

    def __post_init__(self):
        candidates = [float(lr) for lr in self.candidates]
        if not candidates or min(candidates) <= 0 or len(set(candidates)) != len(candidates):
            raise ValueError(f"step_size_selection.candidates={self.candidates} must be distinct positive step sizes")
        if self.probe_samples < 1:
            raise ValueError(f"step_size_selection.probe_samples={self.probe_samples} must be at least 1")
        object.__setattr__(self, "candidates", candidates)


def probe_length(cfg: DictConfig, probe_samples: float) -> int:
    """The probe's length in samples: `probe_samples` rounded up to the end of a call of training_step (so the run
    that continues from the winner trains every minibatch an uninterrupted run would), capped at the run's length."""
    datamodule, model = datamodule_and_model(cfg)  # MCEM updates several times a minibatch
    counts = SampleCounts(cfg.data.batch_size, model.updates_per_batch)
    batches = TensorBatches(
        datamodule.splits["train"], cfg.data.batch_size, drop_last=True, steps_per_call=cfg.data.steps_per_call
    )
    call_sizes = batches.call_sizes()
    # calls per epoch, as Lightning counts them: overfit_batches, when set, replaces limit_train_batches
    limit = cfg.trainer.get("overfit_batches") or cfg.trainer.get("limit_train_batches")
    if limit is not None:
        call_sizes = call_sizes[: limit if isinstance(limit, int) else int(len(call_sizes) * limit)]
    length = counts.samples(call_end_at_or_after(call_sizes, counts.minibatches_to_reach(probe_samples)))
    if cfg.trainer.get("max_samples") is not None:  # the run's max_steps weight updates of M samples each
        return min(length, counts.updates_for(cfg.trainer.max_samples) * cfg.data.batch_size)
    if cfg.trainer.get("max_epochs") not in (None, -1):
        return min(length, counts.samples(cfg.trainer.max_epochs * sum(call_sizes)))
    return length


def candidate_config(cfg: DictConfig, lr: float, directory: Path, samples: int) -> DictConfig:
    """The run of one candidate: the same config with this step size, the probe's length, and no image grids."""
    changes = {"paths.output_dir": str(directory), "optimizer.lr": lr, "trainer.max_samples": samples, "ckpt_path": None}
    candidate = updated(cfg, changes)
    with open_dict(candidate):
        candidate.pop("step_size_selection")
        for name in ("image_grids", "best_checkpoint"):
            candidate.callbacks.pop(name, None)
    return candidate


def probe(cfg: DictConfig, run_dir: Path, train_run: Callable[..., dict]) -> dict:
    """Train every candidate for the probe's length, together (or read back those that finished); return the record."""
    selection = build(cfg.step_size_selection, "step_size_selection")
    samples = probe_length(cfg, selection.probe_samples)
    run = Run(run_dir)
    run.write_status("running", phase=f"step-size probe of {selection.candidates} over {samples:,} samples")

    def candidate(lr: float) -> Callable[[], dict | None]:
        def train_candidate() -> dict | None:
            directory = run.probe_run(lr).directory
            log.info("Step-size probe: lr=%g for %s samples in %s", lr, f"{samples:,}", directory)
            try:
                return train_run(candidate_config(cfg, lr, directory, samples), log_hyperparameters=False)
            except TrainingDiverged as error:  # a step size that diverges loses; its reason stays in its status.json
                Run(directory).write_status("failed", reason=str(error))
                log.warning("Step-size probe: lr=%g failed (%s)", lr, error)
                return None
            except Stopped as stop:  # a signal stopped every candidate, each with its state saved: the run says so too
                Run(directory).write_status("stopped", signal=stop.signal_name, reason=str(stop))
                raise

        return train_candidate

    # stacked as a sweep's jobs are (aevb.stacking): on a GPU their updates batched, on a CPU one after another
    trained = train_together({f"lr={lr:g}": candidate(lr) for lr in selection.candidates})
    metrics = dict(zip((f"{lr:g}" for lr in selection.candidates), trained, strict=True))
    scores = {lr: None if each is None else each[each["selection_term"]]["train"] for lr, each in metrics.items()}
    finite = {lr: score for lr, score in scores.items() if score is not None and math.isfinite(score)}
    if not finite:
        raise ConfigError(
            f"every candidate step size of step_size_selection.candidates={selection.candidates} failed in the probe "
            f"(see {run.probe_dir}/*/status.json): try smaller ones"
        )
    winner = max(finite, key=finite.get)
    return {
        "candidates": selection.candidates,
        "probe_samples": samples,
        "criterion": f"{metrics[winner]['selection_term']}/train",
        "scores": scores,
        "winner": float(winner),
    }


def continue_from_winner(run_dir: Path, winner: float) -> None:
    """Start the run where the winner's probe ended: its last checkpoint and its curves."""
    run = Run(run_dir)
    source = run.probe_run(winner)
    replace_file(run.checkpoint, lambda file: file.write(source.checkpoint.read_bytes()))
    if source.tensorboard_dir.is_dir():
        run.tensorboard_dir.mkdir(parents=True, exist_ok=True)
        for events in source.tensorboard_dir.glob("events.out.tfevents.*"):
            shutil.copy2(events, run.tensorboard_dir / events.name)
    if source.csv_file.is_file():
        run.csv_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.csv_file, run.csv_file)


def with_selected_step_size(cfg: DictConfig, run_dir: Path, train_run: Callable[..., dict]) -> DictConfig:
    """`cfg` with optimizer.lr set to the step size its step_size_selection picks: read from the run's record, or
    found by probing every candidate (after which the run starts from the winner's state)."""
    if launches_processes(cfg.trainer):
        raise ConfigError(
            "step_size_selection trains each candidate in this process, which multi-process DDP cannot: "
            "run the probe on one device, then train with optimizer.lr=<its winner> and step_size_selection=none"
        )
    if cfg.get("callbacks", {}).get("last_checkpoint") is None:
        raise ConfigError("step_size_selection continues the run from the winner's last.ckpt: it needs callbacks.last_checkpoint")
    run = Run(run_dir)
    record = run.step_size_selection  # every candidate's score and the winner
    if record is None:
        record = probe(cfg, run_dir, train_run)
        continue_from_winner(run_dir, record["winner"])
        run.write_step_size_selection(record)  # last: a kill before it redoes the (finished) probe
        log.info("Step-size probe: lr=%g wins (%s: %s)", record["winner"], record["criterion"], record["scores"])
    return updated(cfg, {"optimizer.lr": record["winner"]})
