"""The loggers a run writes to (`logger=tensorboard`, `csv`, `mlflow`, `wandb`, or a list of them), and how each one
takes what aevb gives every logger: curves continued without repeated points on resume, image grids through the
logger's own image API, and the run's hyperparameters with its final values.

TensorBoard and CSV come with the core; MLflow and W&B are extras named as their loggers (`pip install
"aevb[mlflow]"`), imported only when chosen.
"""

import csv
import hashlib
from pathlib import Path

import torch
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig

from aevb.errors import ConfigError
from aevb.runs.directory import Run
from aevb.schema import build
from aevb.sectioned_tensorboard import SectionedTensorBoardLogger
from aevb.tensorboard_tags import tensorboard_tag


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
    kind = target.rsplit(".", 1)[-1]
    if kind in ("TensorBoardLogger", "SectionedTensorBoardLogger"):
        # events an earlier attempt logged after its last checkpoint (or, with no checkpoint, all) are hidden
        return {"purge_step": after_checkpoint} if run.tensorboard_dir.is_dir() else {}
    if kind == "ResumableCSVLogger":
        return {"purge_step": after_checkpoint}
    if kind == "MLFlowLogger":
        # the same MLflow run: points logged after the last checkpoint appear twice (MLflow cannot delete them)
        known = run.logger_ids.get("mlflow")
        return {"run_name": run.name, **({"run_id": known} if known and resumed_from is not None else {})}
    if kind == "WandbLogger":
        # one W&B run per run directory, whatever the machine: its id is the directory's hash
        return {"name": run.name, "id": hashlib.sha256(str(run.directory).encode()).hexdigest()[:16], "resume": "allow"}
    return {}


def remember_ids(loggers: list[Logger], run: Run) -> None:
    """Write down the ids that only the tracking server knows (MLflow's run id), for a resumed attempt to reuse."""
    mlflow = [each.run_id for each in loggers if isinstance(each, MLFlowLogger)]
    ids = {"mlflow": mlflow[0]} if mlflow else {}
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
