"""Read what aevb-train left on disk: a run's config, final metrics, lower-bound curves and eval.json."""

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


@dataclass(frozen=True)
class Run:
    """One run directory of aevb-train (a single run, or one job of a sweep)."""

    directory: Path

    @cached_property
    def config(self) -> DictConfig:
        return OmegaConf.load(self.directory / "config.yaml")

    @property
    def dataset(self) -> str:
        """The dataset's short name, e.g. `mnist`: the `name` of the run's datamodule class."""
        return get_class(self.config.data._target_).name

    @property
    def algorithm(self) -> str:
        """The training algorithm's name, e.g. `AEVB` or `wake-sleep`: the `algorithm` of the run's model class."""
        return get_class(self.config.model._target_).algorithm

    @property
    def latent_dim(self) -> int:
        return int(self.config.model.latent_dim)

    @property
    def train_size(self) -> int | None:
        """N_train, the number of training images: from data_split.json (written as training starts), else
        data.train_limit; None if neither says."""
        path = self.directory / "data_split.json"
        return json.loads(path.read_text())["sizes"]["train"] if path.is_file() else self.config.data.get("train_limit")

    @property
    def evaluates_whole_splits(self) -> bool:
        """Trained on the whole training split and evaluated on whole splits (as Figure 2 is; Figure 3 is not)."""
        data = self.config.data
        return data.get("train_limit") is None and data.get("eval_limit") is None

    @property
    def finished(self) -> bool:
        return (self.directory / "metrics.json").is_file()

    @cached_property
    def metrics(self) -> dict:
        return json.loads((self.directory / "metrics.json").read_text())

    @property
    def step_size_selection(self) -> dict | None:
        """step_size_selection.json: each candidate step size's probe score and the winner (aevb.step_size), if any."""
        path = self.directory / "step_size_selection.json"
        return json.loads(path.read_text()) if path.is_file() else None

    @property
    def checkpoint(self) -> Path:
        return self.directory / "checkpoints" / "last.ckpt"

    @property
    def evaluation(self) -> dict | None:
        """eval.json written by aevb-eval for this run, if any."""
        path = self.directory / "eval.json"
        return json.loads(path.read_text()) if path.is_file() else None

    @cached_property
    def _events(self) -> EventAccumulator:
        events = EventAccumulator(str(self.directory / "tensorboard"), size_guidance={"scalars": 0})
        events.Reload()
        return events

    def curve(self, tag: str) -> list[tuple[int, float]]:
        """(training samples seen, value) of a logged scalar, e.g. lower_bound/test; [] if never logged."""
        if tag not in self._events.Tags()["scalars"]:
            return []
        points = {event.step: event.value for event in self._events.Scalars(tag)}  # a re-logged step keeps its last value
        return sorted(points.items())

    def value_at(self, tag: str, samples: int) -> float | None:
        """The value logged at exactly `samples` training samples, if there was an evaluation there."""
        return dict(self.curve(tag)).get(samples)


def find_runs(*directories: Path | str) -> list[Run]:
    """Every run in the given run or sweep directories, ordered by dataset, latent size and algorithm."""
    runs = []
    for directory in map(Path, directories):
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is not a directory; pass a run or sweep directory written by aevb-train")
        is_run = (directory / "config.yaml").is_file()
        candidates = [directory] if is_run else sorted(p.parent for p in directory.glob("*/config.yaml"))
        runs += [Run(path) for path in candidates if (path / "tensorboard").is_dir()]
    return sorted(runs, key=lambda run: (run.dataset, run.latent_dim, run.algorithm, str(run.directory)))
