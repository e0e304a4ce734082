"""The loggers a run writes to (`logger=tensorboard`, `csv`, `mlflow`, `wandb`, or a list of them), and how each one
takes what aevb gives every logger: curves continued without repeated points on resume, image grids through the
logger's own image API, and the run's hyperparameters with its final values.

TensorBoard and CSV come with the core; MLflow and W&B are extras named as their loggers (`pip install
"aevb[mlflow]"`), imported only when chosen.
"""

import csv
import uuid
from pathlib import Path

import lightning
import lightning.pytorch as L
import torch
from hydra.utils import get_class
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from aevb.config.hydra_glue import command_line_keys
from aevb.config.schema import build
from aevb.errors import ConfigError
from aevb.runs.directory import Run
from aevb.runs.resume import flatten
from aevb.runs.tensorboard_tags import tensorboard_tag
from aevb.tracking.sectioned_tensorboard import SectionedTensorBoardLogger


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger (<run dir>/csv/metrics.csv, one row per logging step), which on a resumed run keeps the
    rows an earlier attempt logged before `purge_step` instead of deleting the file, so the curves continue."""

    def __init__(self, *args, purge_step: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._kept_rows = self._rows_before(purge_step) if purge_step is not None else []

    def _rows_before(self, purge_step: int) -> list[dict[str, str]]:
        path = Path(self.log_dir) / "metrics.csv"
        if not path.is_file():
            return []
        with path.open(newline="") as file:
            return [row for row in csv.DictReader(file) if int(float(row["step"])) < purge_step]

    @property
    def experiment(self):
        writer = super().experiment  # a new writer deletes the old metrics.csv; its kept rows are written again
        if self._kept_rows:
            writer.metrics[:0], self._kept_rows = self._kept_rows, []
        return writer


def build_loggers(cfg: DictConfig | None, run: Run, resumed_from: int | None) -> list[Logger]:
    """The loggers of cfg.logger (a mapping of name to logger config; empty or null: none), each continuing this
    run's curves where the last checkpoint left them (`resumed_from` training samples; None: a fresh start)."""
    loggers = []
    for name, config in (cfg or {}).items():
        if not config:
            continue
        try:
            loggers.append(build(config, f"logger.{name}", **continued(config._target_, run, resumed_from)))
        except ConfigError as error:
            if not any(isinstance(cause, ModuleNotFoundError) for cause in causes(error)):
                raise
            raise ConfigError(
                f'logger={name} needs a package that is not installed: pip install "aevb[{name}]" '
                "(in a checkout, uv sync installs every extra)"
            ) from error
    return loggers


def causes(error: BaseException):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def continued(target: str, run: Run, resumed_from: int | None) -> dict:
    """The options that make a logger of class `target` continue `run` rather than start it again."""
    after_checkpoint = 0 if resumed_from is None else resumed_from + 1  # what this attempt logs (again) from
    try:
        kind = get_class(target)
    except (ImportError, ValueError):  # building the logger names what is missing
        return {}
    if issubclass(kind, TensorBoardLogger):
        # events an earlier attempt logged after its last checkpoint (or, with no checkpoint, all) are hidden
        return {"purge_step": after_checkpoint} if run.tensorboard_dir.is_dir() else {}
    if issubclass(kind, ResumableCSVLogger):
        return {"purge_step": after_checkpoint}
    if issubclass(kind, MLFlowLogger):
        # the same MLflow run: points logged after the last checkpoint appear twice (MLflow cannot delete them)
        known = run.logger_ids.get("mlflow")
        return {"run_name": run.name, **({"run_id": known} if known and resumed_from is not None else {})}
    if issubclass(kind, WandbLogger):
        # one W&B run per run, wherever its directory is copied: its id, drawn by the first attempt, is kept in
        # logger_ids.json, which travels with the directory
        return {"name": run.name, "id": run.logger_ids.get("wandb") or uuid.uuid4().hex[:16], "resume": "allow"}
    return {}


def remember_ids(loggers: list[Logger], run: Run) -> None:
    """Write down the ids of the run's tracking-server runs (MLflow's run id, W&B's), for a resumed attempt to reuse."""
    ids = {}
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            ids["mlflow"] = logger.run_id
        elif isinstance(logger, WandbLogger):
            ids["wandb"] = logger.version
    if ids and ids != run.logger_ids:
        run.write_logger_ids(ids)


def log_images(loggers: list[Logger], images: dict[str, torch.Tensor], step: int) -> None:
    """Image grids (C x H x W in [0, 1]) through each logger's own image API; CSV has none (the PNGs at the end are
    in the run directory)."""
    for logger in loggers:
        for name, grid in images.items():
            key = f"images/{name}"
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(tensorboard_tag(key), grid, global_step=step)
            elif isinstance(logger, MLFlowLogger):
                pixels = (grid.permute(1, 2, 0).clamp(0, 1) * 255).to(torch.uint8).numpy()
                logger.experiment.log_image(logger.run_id, pixels, key=key.replace("/", "_"), step=step)
            elif isinstance(logger, WandbLogger):
                logger.log_image(key=key, images=[grid], step=step)


def log_final(loggers: list[Logger], hyperparameters: dict, compared: list[str], results: dict[str, float], step: int) -> None:
    """The run's hyperparameters and its final `results` (<term>/<split>: value), then each logger is closed.
    TensorBoard's HPARAMS tab shows the hyperparameters (the `compared` ones first) beside the last points of the
    results' curves; the other loggers get the results as hp/<term>_<split> and hp/samples_seen, logged at the last
    training step (`step`, the samples seen), never at step 0."""
    final = {**{f"hp/{name.replace('/', '_')}": value for name, value in results.items()}, "hp/samples_seen": step}
    for logger in loggers:
        if isinstance(logger, SectionedTensorBoardLogger):
            logger.log_session(hyperparameters, compared, list(results))
            # Lightning writes hparams.yaml once, when the first checkpoint is saved (before this): written again here
            save_hparams_to_yaml(Path(logger.log_dir) / logger.NAME_HPARAMS_FILE, logger.hparams)
        else:
            logger.log_hyperparams(hyperparameters)
            logger.log_metrics(final, step=step)
        logger.finalize("success")


def hyperparameters(cfg: DictConfig, precision: str, world_size: int) -> dict:
    """The run's HPARAMS columns: every setting of its model config, named by its key under model (a component by its
    class name, its settings under it: encoder is MLPEncoder, encoder.hidden_dim 500), then what it trained on, by
    which optimiser and schedule, for how long, on what; a value other than a number, a boolean or a string (null, a
    list) as its text, as each logger shows it."""
    data = cfg.data
    columns = {
        "algorithm": get_class(cfg.model._target_).algorithm,  # as figures and tables name it: AEVB, IWAE, wake-sleep, MCEM
        **model_settings(cfg.model),
        "data": class_name(data._target_),
        "binarize": data.get("binarize", "none"),
        "train_limit": data.get("train_limit"),
        "batch_size": data.batch_size,
        "optimizer": class_name(cfg.optimizer._target_),
        "lr": cfg.optimizer.lr,
        "scheduler": class_name(cfg.scheduler._target_) if cfg.get("scheduler") else "none",
        "max_samples": cfg.trainer.get("max_samples"),  # the training length, in samples or
        "max_epochs": cfg.trainer.get("max_epochs"),  # epochs
        "precision": precision,
        "world_size": world_size,
        "seed": cfg.seed,
        "tags": ",".join(map(str, cfg.get("tags") or [])),
        "torch": str(torch.__version__),  # a plain string in each hparams.yaml
        "lightning": lightning.__version__,
    }
    return {name: value if isinstance(value, bool | int | float | str) else str(value) for name, value in columns.items()}


def model_settings(model: DictConfig) -> dict:
    """{column: value} of every setting of a model config: model.latent_dim is latent_dim, model.encoder._target_ is
    encoder (its class name), model.encoder.hidden_dim is encoder.hidden_dim."""
    settings = {}
    for key, value in flatten(OmegaConf.to_container(model, resolve=True)).items():
        owner, _, name = key.rpartition(".")
        if key == "_target_" or name == "_partial_":
            continue  # the algorithm's column names the model's class
        if name == "_target_":
            settings[owner] = class_name(value)
        else:
            settings[key] = value
    return settings


def class_name(target: str) -> str:
    return target.rsplit(".", 1)[-1]


# What the runs of a sweep are mostly compared by: TensorBoard's HPARAMS tab shows these columns first, with every
# hyperparameter the command line sets
COMPARED = ("algorithm", "data", "latent_dim", "lr")


def compared(values: dict) -> list[str]:
    """The names among `values` (as `hyperparameters` gives them) in COMPARED or set on the command line
    (model.latent_dim=5, data=mnist, seed=1)."""
    given = {key.replace("/", ".") for key in command_line_keys()}  # model/prior=vamp sets model.prior
    given |= {key.removeprefix("model.") for key in given} | {key.rpartition(".")[2] for key in given}
    return [name for name in values if name in COMPARED or name in given]


def finish(trainer: L.Trainer, cfg: DictConfig, metrics: dict, hyperparameters_too: bool) -> None:
    """Each of the trainer's loggers closed, after it is given the run's hyperparameters and its final values of the
    selection term (`hyperparameters_too`; a step-size probe's candidate runs log none)."""
    if not hyperparameters_too:
        for each in trainer.loggers:
            each.finalize("success")
        return
    values, term = hyperparameters(cfg, str(trainer.precision), trainer.world_size), metrics["selection_term"]
    results = {f"{term}/{split}": value for split, value in metrics[term].items()}
    log_final(trainer.loggers, values, compared(values), results, step=metrics["samples_seen"])
