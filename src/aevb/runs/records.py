"""A run exported as a compact record (docs/runs/*.json) that the figures of curves and the results report read in
its place; finding runs and records."""

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from aevb.config.hydra_glue import without_machine_keys
from aevb.runs.atomic import replace_text
from aevb.runs.curves import EVALUATED_SPLITS
from aevb.runs.directory import Run
from aevb.runs.legacy import in_todays_names, saved_config, todays_evaluation
from aevb.runs.results import RunResults


def record(run: Run) -> dict:
    """A run as plain values (config, metrics, estimate, step-size choice, curves) without where it ran: what
    `RunRecord` reads."""
    metrics, evaluation = run.metrics, run.evaluation
    curves = {tag: [[step, round(value, 4)] for step, value in points]
              for tag, points in run.curves().items() if tag.rpartition("/")[2] in EVALUATED_SPLITS}  # fmt: skip
    return {
        "name": run.name,
        "train_size": run.train_size,
        "config": without_machine_keys(OmegaConf.to_container(run.config, resolve=True)),
        "metrics": None if metrics is None else {key: value for key, value in metrics.items() if key != "checkpoints"},
        "evaluation": None if evaluation is None else {key: value for key, value in evaluation.items() if key != "checkpoint"},
        "step_size_selection": run.step_size_selection,
        "curves": curves,
    }


@dataclass(frozen=True)
class RunRecord(RunResults):
    """A run as exported by `record` to a JSON file (docs/runs/): everything the figures of curves and the
    results report need, without checkpoints or event files."""

    path: Path

    @cached_property
    def _record(self) -> dict:
        return json.loads(self.path.read_text())

    @property
    def name(self) -> str:
        return self._record["name"]

    @cached_property
    def config(self) -> DictConfig:
        return saved_config(self._record["config"])

    @property
    def train_size(self) -> int | None:
        return self._record["train_size"]

    @property
    def metrics(self) -> dict | None:
        return in_todays_names(self._record["metrics"])

    @property
    def evaluation(self) -> dict | None:
        return todays_evaluation(self._record["evaluation"])

    @property
    def step_size_selection(self) -> dict | None:
        return in_todays_names(self._record["step_size_selection"])

    @property
    def checkpoint(self) -> Path:
        return self.path.with_suffix(".ckpt")  # never exported: figures that need weights are skipped

    def curves(self) -> dict[str, list[tuple[int, float]]]:
        curves = {tag: [(int(step), value) for step, value in points] for tag, points in self._record["curves"].items()}
        return in_todays_names(curves)


def export_records(runs: list[Run], out_dir: Path) -> list[Path]:
    """Write each run's record to <out_dir>/<sweep>/<job>.json, replacing what was there."""
    return [write_record(record(run), out_dir / f"{run.name}.json") for run in runs]


def write_record(values: dict, path: Path) -> Path:
    """A run's record (`record`) written whole to `path`, as `RunRecord` reads it."""
    replace_text(path, json.dumps(values, indent=1) + "\n")
    return path


def find_records(directory: Path) -> list[RunRecord]:
    """Every exported run record under `directory`, ordered as find_runs orders runs."""
    return sort_runs([RunRecord(path) for path in sorted(Path(directory).rglob("*.json"))])


def sort_runs(runs: list) -> list:
    return sorted(runs, key=lambda run: (run.dataset, run.latent_dim, run.algorithm, run.name))


def find_runs(*directories: Path | str) -> list[Run]:
    """Every run in the given run or sweep directories, ordered by dataset, latent size and algorithm."""
    runs = []
    for directory in map(Path, directories):
        if not directory.is_dir():
            raise FileNotFoundError(
                f"{directory.resolve()} is not a directory; pass a run or sweep directory written by aevb-train"
            )
        is_run = (directory / "config.yaml").is_file()
        candidates = [directory] if is_run else sorted(p.parent for p in directory.glob("*/config.yaml"))
        runs += [Run(path) for path in candidates if (path / "tensorboard").is_dir()]
    return sort_runs(runs)
