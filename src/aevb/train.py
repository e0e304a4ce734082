"""aevb-train: compose the config, train, evaluate, and write what the run produced."""

import logging
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import lightning
import lightning.pytorch as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from aevb.build import build_trainer, datamodule_and_model
from aevb.callbacks.graceful_stop import GracefulStop
from aevb.callbacks.progress import ProgressLog
from aevb.callbacks.resumable_state import ResumableState
from aevb.checkpoints import read_checkpoint
from aevb.errors import AevbError, ConfigError, RankLost
from aevb.hydra_glue import command_line_keys, in_multirun, installed, updated
from aevb.loggers import build_loggers, log_final, remember_ids
from aevb.resume import check_checkpoint_fits, check_same_run
from aevb.run_checks import MONITORED, check_run_config
from aevb.runs.curves import EVALUATED_SPLITS
from aevb.runs.directory import Run
from aevb.schema import build
from aevb.slurm import preemption_signals
from aevb.stacking.sweep import seat_for
from aevb.step_size import with_selected_step_size

log = logging.getLogger(__name__)


def hyperparameters(cfg: DictConfig, trainer: L.Trainer) -> dict:
    """The same flat set of keys for every run, so a sweep lines up in TensorBoard's HPARAMS tab."""
    model, data = cfg.model, cfg.data
    return {
        "algorithm": get_class(model._target_).algorithm,  # as figures and tables name it: AEVB, IWAE, wake-sleep, MCEM
        "data": data._target_.rsplit(".", 1)[-1],
        "binarize": data.get("binarize", "none"),
        "train_limit": str(data.get("train_limit")),
        "latent_dim": model.latent_dim,
        "hidden_dim": model.decoder.get("hidden_dim", 0),
        "init_std": str(model.get("init_std")),  # None: PyTorch's default initialisation
        "weight_prior": model.get("weight_prior", False),
        "max_samples": str(cfg.trainer.get("max_samples")),  # the training length, in samples or
        "max_epochs": str(cfg.trainer.get("max_epochs")),  # epochs
        "encoder": model.encoder._target_.rsplit(".", 1)[-1] if "encoder" in model else "none",
        "likelihood": model.likelihood._target_.rsplit(".", 1)[-1],
        "prior": model.prior._target_.rsplit(".", 1)[-1],
        "estimator": model.get("estimator", "none"),
        "bound_samples": model.get("bound_samples", 0),
        "importance_samples": model.get("importance_samples", 0),
        "kl_weight": model.get("kl_weight", 0.0),
        "compile": model.get("compile", False),
        "optimizer": cfg.optimizer._target_.rsplit(".", 1)[-1],
        "lr": cfg.optimizer.lr,
        "scheduler": cfg.scheduler._target_.rsplit(".", 1)[-1] if cfg.get("scheduler") else "none",
        "batch_size": data.batch_size,
        "precision": str(trainer.precision),
        "world_size": trainer.world_size,
        "seed": cfg.seed,
        "tags": ",".join(map(str, cfg.get("tags") or [])),
        "torch": str(torch.__version__),  # a plain string in each hparams.yaml
        "lightning": lightning.__version__,
    }


# What the runs of a sweep are mostly compared by: TensorBoard's HPARAMS tab shows these columns first, with every
# hyperparameter the command line sets
COMPARED = ("algorithm", "data", "latent_dim", "lr")


def compared(values: dict) -> list[str]:
    """The names among `values` (as `hyperparameters` gives them) in COMPARED or set on the command line
    (model.latent_dim=5, data=mnist, seed=1)."""
    given = {key.rpartition(".")[2] for key in command_line_keys()}
    return [name for name in values if name in COMPARED or name in given]


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
    output_dir = Path(cfg.paths.output_dir)
    run = Run(output_dir)
    check_same_run(run, cfg)
    if run.finished:
        run.write_status("finished earlier")
        report(run.metrics, output_dir, "This run had already finished; nothing was trained. ")
        return run.metrics
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None:
        check_checkpoint_fits(ckpt_path, cfg)
    elif run.checkpoint.is_file():
        ckpt_path = str(run.checkpoint)
    resumed_from = read_checkpoint(ckpt_path).get("samples_seen", 0) if ckpt_path else None
    attempt_again = run.started  # else a first attempt, maybe from another run's checkpoint

    L.seed_everything(cfg.seed, workers=True)
    datamodule, model = datamodule_and_model(cfg)
    model.stacked_gradients = seat_for(model, str(cfg.trainer.precision))  # None unless hydra/launcher=stacked
    configured = [build(callback, f"callbacks.{name}") for name, callback in (cfg.get("callbacks") or {}).items() if callback]
    callbacks = [ResumableState(), ProgressLog(), GracefulStop(run.checkpoint, preemption_signals()), *configured]
    loggers = build_loggers(cfg.get("logger"), run, resumed_from)
    trainer = build_trainer(cfg, callbacks, loggers or False)

    if trainer.is_global_zero:
        output_dir.mkdir(parents=True, exist_ok=True)
        # config.yaml and metrics.json decide what a re-run does (resume, skip), so a kill never leaves them half written
        run.write_config(cfg)
        run.write_split(datamodule.split_record())
        run.write_status("running", resumed_from=resumed_from)
        remember_ids(trainer.loggers, run)  # before any kill: a re-run logs into the same MLflow run
        if resumed_from is not None:
            how = "Resuming" if attempt_again else "Starting"  # a first attempt: from a probe's winner or a ckpt_path
            log.info("%s %s from %s at %s training samples", how, output_dir, ckpt_path, f"{resumed_from:,}")

    start = time.perf_counter()
    with warnings.catch_warnings():
        if resumed_from is not None:  # its own checkpoints are there, as expected
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            # a run continued from its step-size probe's winner finds that candidate's directory in the checkpoint
            warnings.filterwarnings("ignore", message=r"The dirpath has changed from")
        try:
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        except RuntimeError as error:
            if trainer.world_size > 1 and "by peer" in str(error):  # gloo: "Connection reset (closed) by peer"
                raise RankLost(
                    f"a DDP process of this run was lost, and the others stopped ({one_line(error)[:160]}); re-run the "
                    "same command: it continues from the last checkpoint"
                ) from error
            raise
    seconds = time.perf_counter() - start
    if model.last_evaluation.get("samples_seen") != model.samples_seen:
        trainer.validate(model, datamodule=datamodule, verbose=False)

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
        "checkpoints": {path.stem: str(path) for path in sorted(run.checkpoint_dir.glob("*.ckpt"))},
    }
    if run.step_size_selection is not None:
        metrics["step_size_selection"] = run.step_size_selection
    stopped_early = [each.stopping_reason_message for each in trainer.early_stopping_callbacks if each.stopping_reason_message]
    if stopped_early:  # callbacks=early_stopping ended the run before its length
        metrics["stopped_early"] = " ".join(stopped_early)
    if trainer.is_global_zero:
        run.write_metrics(metrics)
        if log_hyperparameters:
            values, term = hyperparameters(cfg, trainer), model.selection_term
            results = {f"{term}/{split}": value for split, value in metrics[term].items()}
            log_final(trainer.loggers, values, compared(values), results, step=metrics["samples_seen"])
        else:
            for each in trainer.loggers:
                each.finalize("success")
        why = {"stopped_early": metrics["stopped_early"]} if stopped_early else {}
        run.write_status("resumed" if attempt_again else "finished", resumed_from=resumed_from, **why)
        report(metrics, output_dir)
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
