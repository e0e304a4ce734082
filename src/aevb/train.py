"""aevb-train: compose the config, train, evaluate, and write what the run produced."""

import logging
import time
from contextlib import nullcontext
from pathlib import Path

import lightning.pytorch as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from aevb.build import build_trainer, datamodule_and_model
from aevb.callbacks.graceful_stop import GracefulStop
from aevb.callbacks.progress import ProgressLog
from aevb.callbacks.resumable_state import ResumableState
from aevb.config.hydra_glue import command_line_keys, in_multirun, installed, updated
from aevb.config.schema import build
from aevb.errors import AevbError, ConfigError, RankLost
from aevb.lightning_adapter import quiet_about_resuming
from aevb.runs.curves import EVALUATED_SPLITS
from aevb.runs.directory import Run
from aevb.runs.machine import computed_on
from aevb.runs.resume import Attempt, check_same_run, next_attempt
from aevb.stacking.sweep import seat_for
from aevb.step_size import with_selected_step_size
from aevb.tracking.loggers import build_loggers, finish, remember_ids
from aevb.training.run_checks import MONITORED, check_run_config
from aevb.training.slurm import preemption_signals

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    """Run one training job as `cfg` describes; return the metrics it wrote to metrics.json.

    With step_size_selection set, each candidate step size is probed first (aevb.step_size) and the run
    continues from the winner's state; then as `train_run`.
    """
    cfg = with_command_line_length(cfg)
    check_run_config(cfg)
    run_dir = Path(cfg.paths.output_dir)
    with Run(run_dir).held() if rank_zero_only.rank == 0 else nullcontext():  # one process per run; DDP: its rank 0
        if cfg.get("step_size_selection") and cfg.get("ckpt_path") is None:
            cfg = with_selected_step_size(cfg, run_dir, train_run)
        return train_run(cfg)


def train_run(cfg: DictConfig, log_hyperparameters: bool = True) -> dict:
    """Train one run; its directory decides how: a finished run is reported and left alone, an unfinished one
    continues from its last.ckpt (weights, optimiser, data order, random states, sample count),
    and an empty one starts. ckpt_path continues another run's checkpoint here instead.
    """
    check_run_config(cfg)
    run = Run(Path(cfg.paths.output_dir))
    check_same_run(run, cfg)
    if run.finished:
        return finished_earlier(run)
    attempt = next_attempt(run, cfg)

    L.seed_everything(cfg.seed, workers=True)
    datamodule, model = datamodule_and_model(cfg)
    model.stacked_gradients = seat_for(model, str(cfg.trainer.precision))  # None unless hydra/launcher=stacked
    loggers = build_loggers(cfg.get("logger"), run, attempt.resumed_from)
    trainer = build_trainer(cfg, run_callbacks(cfg, run), loggers or False)
    if trainer.is_global_zero:  # config.yaml and metrics.json decide what a re-run does; each is written whole
        run.begin(cfg, datamodule.split_record(), attempt.resumed_from)
        remember_ids(trainer.loggers, run)  # before any kill: a re-run logs into the same MLflow run
        if attempt.resumed_from is not None:
            log.info(attempt.describe(run))

    seconds = fit(trainer, model, datamodule, attempt)
    if model.last_evaluation.get("samples_seen") != model.samples_seen:  # the final evaluation, at the last step
        trainer.validate(model, datamodule=datamodule, verbose=False)

    metrics = final_metrics(model, trainer, run, seconds, attempt.resumed_from)
    if trainer.is_global_zero:
        run.write_metrics(metrics)
        finish(trainer, cfg, metrics, log_hyperparameters)
        run.write_end(metrics, attempt.again)
        report(metrics, run.directory)
    return metrics


def finished_earlier(run: Run) -> dict:
    """A finished run, re-run: reported and left alone."""
    run.write_status("finished earlier")
    report(run.metrics, run.directory, "This run had already finished; nothing was trained. ")
    return run.metrics


def run_callbacks(cfg: DictConfig, run: Run) -> list[L.Callback]:
    """Those every run has (exact resumes, progress lines, a save on SIGTERM), then the config's."""
    configured = [build(callback, f"callbacks.{name}") for name, callback in (cfg.get("callbacks") or {}).items() if callback]
    return [ResumableState(), ProgressLog(), GracefulStop(run.checkpoint, preemption_signals()), *configured]


def fit(trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule, attempt: Attempt) -> float:
    """Train from the attempt's checkpoint, if any; the seconds it took. A DDP process lost midway is said as such."""
    start = time.perf_counter()
    with quiet_about_resuming(attempt.resumed_from is not None):
        try:
            trainer.fit(model, datamodule=datamodule, ckpt_path=attempt.ckpt_path, weights_only=True)
        except RuntimeError as error:
            if trainer.world_size > 1 and "by peer" in str(error):  # gloo: "Connection reset (closed) by peer"
                raise RankLost(
                    f"a DDP process of this run was lost, and the others stopped ({one_line(error)[:160]}); re-run the "
                    "same command: it continues from the last checkpoint"
                ) from error
            raise
    return time.perf_counter() - start


def final_metrics(model: L.LightningModule, trainer: L.Trainer, run: Run, seconds: float, resumed_from: int | None) -> dict:
    """What metrics.json holds: the final evaluation's terms by split, how long and how far the run trained, and
    where its checkpoints are."""
    evaluation = dict(model.last_evaluation)
    terms: dict[str, dict] = {}
    for key, value in evaluation.items():
        if "/" in key:  # "<term>/<split>", e.g. lower_bound/test
            term, split = key.split("/")
            terms.setdefault(term, {})[split] = value
    metrics = {
        "samples_seen": evaluation["samples_seen"],
        "epochs": trainer.current_epoch,
        "wall_clock_seconds": round(seconds, 3),  # of this attempt, when the run was resumed
        "resumed_from": resumed_from,  # the samples seen at the checkpoint this attempt started from, if any
        "selection_term": model.selection_term,
        "datapoints": evaluation["datapoints"],  # how many each split's averages are over
        **terms,
        "computed_on": computed_on(model.device),
        "checkpoints": {path.stem: str(path) for path in sorted(run.checkpoint_dir.glob("*.ckpt"))},
    }
    if run.step_size_selection is not None:
        metrics["step_size_selection"] = run.step_size_selection
    stopped_early = [each.stopping_reason_message for each in trainer.early_stopping_callbacks if each.stopping_reason_message]
    if stopped_early:  # callbacks=early_stopping ended the run before its length
        metrics["stopped_early"] = " ".join(stopped_early)
    return metrics


def with_command_line_length(cfg: DictConfig) -> DictConfig:
    """A trainer.max_epochs given on the command line wins over a trainer.max_samples set in a config file (a paper
    preset): `experiment=aevb_frey_face trainer.max_epochs=2` trains two epochs. Both on the command line are refused."""
    given = command_line_keys()
    if "trainer.max_epochs" not in given or cfg.trainer.get("max_samples") is None:
        return cfg
    if "trainer.max_samples" in given:
        raise ConfigError(
            f"trainer.max_epochs={cfg.trainer.max_epochs} and trainer.max_samples={cfg.trainer.max_samples} both set the "
            "training length; give one of them"
        )
    log.info(
        "trainer.max_epochs=%s from the command line replaces trainer.max_samples=%s of the config: training by epochs",
        cfg.trainer.max_epochs,
        cfg.trainer.max_samples,
    )
    return updated(cfg, {"trainer.max_samples": None})


def tensorboard_dir(output_dir: Path) -> Path:
    """Where to point TensorBoard: the whole sweep for a job of a multirun, so its runs compare side by side."""
    if in_multirun():
        return Path(HydraConfig.get().sweep.dir)
    return output_dir


def report(metrics: dict, output_dir: Path, preamble: str = "") -> None:
    term = metrics["selection_term"]
    values = ", ".join(f"{split} {value:.2f}" for split, value in metrics[term].items())
    name = term.replace("_", " ").capitalize()
    stopped_early = f" Stopped early: {metrics['stopped_early']}" if "stopped_early" in metrics else ""
    print(
        f"\n{preamble}{name} per datapoint (nats): {values}, after {metrics['samples_seen']:,} training samples "
        f"in {metrics['wall_clock_seconds']:.0f} s.{stopped_early}\n"
        f"Outputs in {output_dir}: metrics.json, config.yaml, checkpoints/, image grids (*.png)\n"
        f"Curves: {'' if installed() else 'uv run '}tensorboard --logdir {tensorboard_dir(output_dir)}"
    )


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return str(error) if isinstance(error, AevbError) else f"{type(error).__name__}: {text[0] if text else ''}"


def optimized_value(metrics: dict, name: str = MONITORED) -> float:
    """What aevb-train returns to Hydra (a sweeper optimises it): the final evaluation's `name` (the config's
    optimized_metric), "<term>/<split>" such as lower_bound/val, or model_selection/score: the selection term on the
    validation split, or on the training split where the data has none. A search tuned on the test split would report
    a biased bound; it is there only if asked for by name."""
    if name == MONITORED:
        selection = metrics[metrics["selection_term"]]
        return selection.get("val", selection.get("train", float("nan")))
    evaluated = {f"{term}/{split}": value for term, values in metrics.items() if isinstance(values, dict) and term != "datapoints"
                 for split, value in values.items() if split in EVALUATED_SPLITS}  # fmt: skip
    if name in evaluated:
        return evaluated[name]
    raise ConfigError(f"optimized_metric={name} is not a value of this run's final evaluation; it has {MONITORED}, "
                      f"{', '.join(evaluated)}")  # fmt: skip
